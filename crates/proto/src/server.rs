//! The daemon side of the control socket: bind it with mode 0600, accept connections, read
//! bounded request lines, check the protocol version, and hand each request to a [`Handler`].

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::control::{Envelope, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Request, Response};

/// Reads one newline-terminated line of at most [`MAX_MESSAGE_BYTES`].
pub(crate) async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut limited = tokio::io::AsyncReadExt::take(r, MAX_MESSAGE_BYTES as u64 + 1);
    limited.read_until(b'\n', &mut buf).await?;
    if buf.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message larger than 1 MiB",
        ));
    }
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(buf)
}

/// What the daemon does with a request.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> ironpost_core::BoxFuture<'_, Response>;
}

/// Binds the control socket with mode 0600: bound under a temporary name, restricted, then renamed
/// into place, so it is never reachable with looser permissions. A leftover socket from a dead
/// daemon is replaced; a live one is an error.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("a daemon already answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(listener)
}

/// Resolves once `stop` turns true (or its sender is gone). The borrow `wait_for` returns is
/// dropped here, so callers' futures stay `Send`.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.is_ok();
}

/// Accepts connections until `shutdown` turns true. Each connection may send several requests.
pub async fn serve(
    listener: UnixListener,
    handler: Arc<dyn Handler>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let handler = handler.clone();
                    tokio::spawn(async move { connection(stream, handler).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn connection(stream: UnixStream, handler: Arc<dyn Handler>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let line = match read_line(&mut reader).await {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                let _ = reply(
                    &mut write,
                    &Response::Error {
                        message: e.to_string(),
                    },
                )
                .await;
                return;
            }
        };
        let response = match serde_json::from_slice::<Envelope>(&line) {
            Ok(env) if env.protocol > PROTOCOL_VERSION => Response::Error {
                message: format!(
                    "the client speaks control protocol {}, this daemon speaks {PROTOCOL_VERSION}: upgrade the daemon",
                    env.protocol
                ),
            },
            Ok(env) => handler.handle(env.request).await,
            Err(e) => Response::Error {
                message: format!("invalid request: {e}"),
            },
        };
        if reply(&mut write, &response).await.is_err() {
            return;
        }
    }
}

async fn reply(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> io::Result<()> {
    let mut out = serde_json::to_vec(r).map_err(io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ControlError, request};
    use ironpost_core::AlertEvent;

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, req: Request) -> ironpost_core::BoxFuture<'_, Response> {
            Box::pin(async move {
                match req {
                    Request::SubmitAlert { alert } => Response::Accepted { id: alert.id },
                    _ => Response::Error {
                        message: "only alerts".into(),
                    },
                }
            })
        }
    }

    #[tokio::test]
    async fn socket_is_0600_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let listener = bind(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, Arc::new(Echo), rx));
        let alert = AlertEvent::new(
            ironpost_core::AlertSource::External,
            "r",
            "t",
            ironpost_core::Severity::Low,
        );
        match request(
            &path,
            &Request::SubmitAlert {
                alert: Box::new(alert.clone()),
            },
        )
        .await
        .unwrap()
        {
            Response::Accepted { id } => assert_eq!(id, alert.id),
            other => panic!("{other:?}"),
        }
        // A live socket cannot be bound twice.
        assert_eq!(
            bind(&path).await.unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        tx.send(true).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_newer_protocol_is_refused_by_name_and_an_older_line_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let listener = bind(&path).await.unwrap();
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, Arc::new(Echo), rx));
        let stream = UnixStream::connect(&path).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let newer = format!(
            "{{\"protocol\":{},\"cmd\":\"status\"}}\n",
            PROTOCOL_VERSION + 1
        );
        write.write_all(newer.as_bytes()).await.unwrap();
        let answer: Response =
            serde_json::from_slice(&read_line(&mut reader).await.unwrap()).unwrap();
        match answer {
            Response::Error { message } => {
                assert!(
                    message.contains(&format!("protocol {}", PROTOCOL_VERSION + 1))
                        && message.contains(&format!("speaks {PROTOCOL_VERSION}")),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        // A line without a version (a client from before the field) reaches the handler.
        let alert = AlertEvent::new(
            ironpost_core::AlertSource::External,
            "r",
            "t",
            ironpost_core::Severity::Low,
        );
        let line = serde_json::json!({"cmd": "submit_alert", "alert": alert});
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        let answer: Response =
            serde_json::from_slice(&read_line(&mut reader).await.unwrap()).unwrap();
        assert!(
            matches!(answer, Response::Accepted { id } if id == alert.id),
            "{answer:?}"
        );
        tx.send(true).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn absent_daemon_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(&dir.path().join("none.sock"), &Request::Status)
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        assert!(err.to_string().contains("not running"), "{err}");
    }
}
