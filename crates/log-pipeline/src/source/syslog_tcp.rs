//! `syslog_tcp`: syslog over TCP with LF framing or RFC 6587 octet counting, detected per
//! connection (see `framing.rs`). At most `max_connections` at once (more are closed at once and
//! counted as dropped); a connection idle for `idle_timeout` is closed. The pipeline's bounded
//! channel pushes back on senders: a connection is not read while its batch waits for room.
//!
//! Not lossless across a daemon stop: data a sender wrote that was not read yet is lost with the
//! connection (plain syslog over TCP has no acknowledgements).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

use super::framing::Framer;
use super::{Batch, SourceMetrics};

const NAME: &str = "syslog_tcp";
const READ_BUF: usize = 256 * 1024;

/// A bound TCP syslog receiver.
#[derive(Debug)]
pub struct SyslogTcp {
    listener: TcpListener,
    max_connections: usize,
    idle_timeout: Duration,
}

impl SyslogTcp {
    /// Binds `addr` (port 0 picks one; see [`SyslogTcp::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(SyslogTcp {
            listener,
            max_connections: max_connections.max(1),
            idle_timeout,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `stop` turns true; each connection runs until it closes, idles out, sends a
    /// malformed frame, or `stop` turns true.
    pub async fn run(
        self,
        out: mpsc::Sender<Batch>,
        metrics: SourceMetrics,
        mut stop: watch::Receiver<bool>,
    ) {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(_) => {
                            metrics.errors.with_label_values(&[NAME]).inc();
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        metrics.dropped.with_label_values(&[NAME]).inc();
                        drop(stream);
                        continue;
                    };
                    let (out, metrics, stop, idle) = (out.clone(), metrics.clone(), stop.clone(), self.idle_timeout);
                    tokio::spawn(async move {
                        metrics.connections.with_label_values(&[NAME]).inc();
                        connection(stream, peer, out, &metrics, stop, idle).await;
                        metrics.connections.with_label_values(&[NAME]).dec();
                        drop(permit);
                    });
                }
            }
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    out: mpsc::Sender<Batch>,
    metrics: &SourceMetrics,
    mut stop: watch::Receiver<bool>,
    idle: Duration,
) {
    let origin: Arc<str> = Arc::from(format!("tcp:{peer}"));
    let mut framer = Framer::default();
    let mut buf = vec![0u8; READ_BUF];
    let mut reported_truncated = 0;
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return,
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Err(_) => return,
                Ok(Err(_)) => {
                    metrics.errors.with_label_values(&[NAME]).inc();
                    return;
                }
                Ok(Ok(n)) => n,
            },
        };
        let mut batch = Batch::new(NAME, origin.clone());
        let result = if n == 0 {
            framer.finish(&mut batch);
            Ok(())
        } else {
            framer.feed(&buf[..n], &mut batch)
        };
        if framer.truncated > reported_truncated {
            metrics
                .truncated
                .with_label_values(&[NAME])
                .inc_by(framer.truncated - reported_truncated);
            reported_truncated = framer.truncated;
        }
        if !batch.is_empty() {
            metrics.count(&batch);
            if out.send(batch).await.is_err() {
                return;
            }
        }
        if result.is_err() {
            metrics.errors.with_label_values(&[NAME]).inc();
            return;
        }
        if n == 0 {
            return;
        }
    }
}
