//! The CLI side of the control socket: send one request, wait for its answer within the request's
//! time limit, and say precisely why there is none.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::control::{Envelope, Request, Response};
use crate::server::read_line;

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
        let mut line = serde_json::to_vec(&Envelope::new(req.clone())).map_err(|source| {
            ControlError::Protocol {
                socket: s(),
                source,
            }
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
