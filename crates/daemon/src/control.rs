//! The control protocol over the daemon's Unix socket (mode 0600): one JSON request per line, one
//! JSON response per line. The CLI uses [`request`]; the daemon runs [`serve`].
//!
//! Only this socket accepts commands that change state; the HTTP listener is read-only.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ironpost_container_guard::{Isolation, IsolationAction};
use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, AlertEvent, EventId, Health};
use ironpost_ebpf_engine::{Block, BlockView, EngineStats};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Largest request or response line accepted.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// How long the CLI waits for an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// A command sent to the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Status,
    /// Re-read the config file and apply what can change at run time.
    Reload,
    /// Feed an alert into the daemon's alert channel, as if a module had raised it.
    SubmitAlert {
        alert: Box<AlertEvent>,
    },
    /// Block a source address or network in XDP.
    BlockAdd {
        cidr: Cidr,
        /// None: until removed.
        #[serde(default)]
        ttl_secs: Option<u64>,
        #[serde(default)]
        reason: String,
    },
    BlockRemove {
        cidr: Cidr,
    },
    BlockList,
    /// XDP traffic counters.
    Stats,
    /// Containers the guard has isolated and not yet restored.
    IsolateList,
    /// Isolate a container now (whatever `auto_isolate` says).
    Isolate {
        container: String,
        action: IsolationAction,
    },
    /// Undo what the guard did to a container.
    Restore {
        container: String,
    },
}

/// How long the CLI waits for a container action: Docker calls with retries may take minutes.
pub const CONTAINER_ACTION_TIMEOUT: Duration = Duration::from_secs(300);

impl Request {
    /// How long the CLI waits for the answer to this request.
    pub fn client_timeout(&self) -> Duration {
        match self {
            Request::Isolate { .. } | Request::Restore { .. } => CONTAINER_ACTION_TIMEOUT,
            _ => CLIENT_TIMEOUT,
        }
    }
}

/// Status of one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    pub name: String,
    pub health: Health,
}

/// Fill level of one bounded channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub name: String,
    pub capacity: usize,
    pub queued: usize,
}

/// Live state of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub uptime_secs: u64,
    pub config: String,
    /// The address the HTTP listener actually bound.
    pub http_listen: String,
    pub storage: String,
    pub modules: Vec<ModuleStatus>,
    pub channels: Vec<ChannelStatus>,
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    Reloaded {
        /// Keys whose new value took effect.
        applied: Vec<String>,
        /// Keys that changed but need a restart.
        restart_required: Vec<String>,
        /// Components that could not apply the new config (they keep the running one), e.g. a
        /// broken rule file.
        #[serde(default)]
        errors: Vec<String>,
    },
    Accepted {
        id: EventId,
    },
    Blocked {
        block: Block,
    },
    Unblocked {
        block: Option<Block>,
    },
    Blocks {
        blocks: Vec<BlockView>,
    },
    Stats {
        stats: EngineStats,
    },
    Isolations {
        isolations: Vec<Isolation>,
    },
    /// The action events of a manual container action (one per attempt).
    Actions {
        actions: Vec<ActionEvent>,
    },
    Error {
        message: String,
    },
}

/// Why the CLI could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("ironpost-daemon is not running (no daemon answers on {})", socket.display())]
    NotRunning {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("permission denied on control socket {} (it is mode 0600: run as the daemon's user)", socket.display())]
    PermissionDenied {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: I/O error", socket.display())]
    Io {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: no answer within {secs}s", socket.display())]
    Timeout { socket: PathBuf, secs: u64 },
    #[error("control socket {}: invalid answer", socket.display())]
    Protocol {
        socket: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Sends one request and waits for the answer.
pub async fn request(socket: &Path, req: &Request) -> Result<Response, ControlError> {
    let s = || socket.to_owned();
    let exchange = async {
        let mut stream =
            UnixStream::connect(socket)
                .await
                .map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                        ControlError::NotRunning {
                            socket: s(),
                            source,
                        }
                    }
                    io::ErrorKind::PermissionDenied => ControlError::PermissionDenied {
                        socket: s(),
                        source,
                    },
                    _ => ControlError::Io {
                        socket: s(),
                        source,
                    },
                })?;
        let mut line = serde_json::to_vec(req).map_err(|source| ControlError::Protocol {
            socket: s(),
            source,
        })?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .await
            .map_err(|source| ControlError::Io {
                socket: s(),
                source,
            })?;
        let mut reader = BufReader::new(stream);
        let answer = read_line(&mut reader)
            .await
            .map_err(|source| ControlError::Io {
                socket: s(),
                source,
            })?;
        serde_json::from_slice(&answer).map_err(|source| ControlError::Protocol {
            socket: s(),
            source,
        })
    };
    let limit = req.client_timeout();
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| ControlError::Timeout {
            socket: s(),
            secs: limit.as_secs(),
        })?
}

/// Reads one newline-terminated line of at most [`MAX_MESSAGE_BYTES`].
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
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
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
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
        let response = match serde_json::from_slice::<Request>(&line) {
            Ok(req) => handler.handle(req).await,
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
    async fn absent_daemon_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let err = request(&dir.path().join("none.sock"), &Request::Status)
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::NotRunning { .. }), "{err}");
        assert!(err.to_string().contains("not running"), "{err}");
    }
}
