//! `syslog_tcp`: syslog over TCP with LF framing or RFC 6587 octet counting, detected per
//! connection (see `framing.rs`). At most `max_connections` at once (more are closed at once and
//! counted as dropped); a connection idle for `idle_timeout` is closed. The pipeline's bounded
//! channel pushes back on senders: a connection is not read while its batch waits for room.
//!
//! With TLS ([`SyslogTcp::bind_tls`], RFC 5425 style) every connection must complete a TLS
//! handshake within `idle_timeout` before the same framing runs over the decrypted stream; a
//! failed or timed-out handshake is counted as an error. There is no plaintext fallback.
//!
//! Not lossless across a daemon stop: data a sender wrote that was not read yet is lost with the
//! connection (plain syslog over TCP has no acknowledgements).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::framing::Framer;
use super::{Batch, SourceMetrics};
use crate::pipeline::PipelineError;

const NAME: &str = "syslog_tcp";
const READ_BUF: usize = 256 * 1024;

/// A bound TCP syslog receiver.
pub struct SyslogTcp {
    listener: TcpListener,
    max_connections: usize,
    idle_timeout: Duration,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for SyslogTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogTcp")
            .field("listener", &self.listener)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Loads a PEM certificate chain and private key into a server config (ring provider, TLS 1.2
/// and 1.3, no client authentication).
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, PipelineError> {
    fn pem(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> PipelineError + '_ {
        move |source| PipelineError::TlsPem {
            path: path.to_path_buf(),
            source,
        }
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(cert))?;
    if chain.is_empty() {
        return Err(PipelineError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let config_err = |source| PipelineError::TlsConfig {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(config_err)?;
    Ok(Arc::new(config))
}

impl SyslogTcp {
    /// Binds `addr` (port 0 picks one; see [`SyslogTcp::local_addr`]).
    pub async fn bind(
        addr: SocketAddr,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> std::io::Result<Self> {
        Self::bind_tls(addr, max_connections, idle_timeout, None).await
    }

    /// Like [`SyslogTcp::bind`]; with `tls`, every connection must speak TLS (see [`load_tls`]).
    pub async fn bind_tls(
        addr: SocketAddr,
        max_connections: usize,
        idle_timeout: Duration,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(SyslogTcp {
            listener,
            max_connections: max_connections.max(1),
            idle_timeout,
            tls: tls.map(TlsAcceptor::from),
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
                    let (out, metrics, mut stop, idle) = (out.clone(), metrics.clone(), stop.clone(), self.idle_timeout);
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        metrics.connections.with_label_values(&[NAME]).inc();
                        match tls {
                            None => connection(stream, peer, out, &metrics, stop, idle).await,
                            Some(acceptor) => {
                                let handshake = tokio::select! {
                                    _ = stop.changed() => None,
                                    r = tokio::time::timeout(idle, acceptor.accept(stream)) => Some(r),
                                };
                                match handshake {
                                    None => {}
                                    Some(Ok(Ok(tls_stream))) => {
                                        connection(tls_stream, peer, out, &metrics, stop, idle).await;
                                    }
                                    Some(Err(_) | Ok(Err(_))) => {
                                        metrics.errors.with_label_values(&[NAME]).inc();
                                    }
                                }
                            }
                        }
                        metrics.connections.with_label_values(&[NAME]).dec();
                        drop(permit);
                    });
                }
            }
        }
    }
}

async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
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
        let mut batch = Batch::with_capacity(NAME, origin.clone(), n);
        batch.set_sender(peer.ip());
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
