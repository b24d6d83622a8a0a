//! `syslog_tcp`: syslog over TCP with LF framing or RFC 6587 octet counting, detected per
//! connection (see `framing.rs`). The pipeline's bounded channel pushes back on senders: a
//! connection is not read while its batch waits for room.
//!
//! **Slots.** At most `max_connections` at once, and at most `max_per_peer` from one source
//! address ([`SyslogTcp::with_limits`]); a connection over either cap is closed at once and
//! counted as dropped. A connection must deliver its first complete message within
//! `header_timeout` of being accepted (TLS handshake included), then may stay silent up to
//! `idle_timeout` between reads; past either it is closed. So a slowloris peer — connecting and
//! sending nothing, or a byte at a time — holds at most `max_per_peer` slots, each for at most
//! `header_timeout`. Every such close is counted by reason in
//! `ironpost_log_syslog_tcp_closed_total{reason}` (`max_connections`, `peer_limit`,
//! `header_timeout`, `idle_timeout`) when [`TcpLimitMetrics`] are attached, and in
//! [`SyslogTcp::closed`] always.
//!
//! With TLS ([`SyslogTcp::bind_tls`], RFC 5425 style) every connection must complete a TLS
//! handshake before the same framing runs over the decrypted stream; a failed handshake is
//! counted as an error. There is no plaintext fallback.
//!
//! Not lossless across a daemon stop: data a sender wrote that was not read yet is lost with the
//! connection (plain syslog over TCP has no acknowledgements).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ironpost_core::metrics::{self, prometheus};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::framing::Framer;
use super::{Batch, SourceMetrics};
use crate::pipeline::PipelineError;

const NAME: &str = "syslog_tcp";
const READ_BUF: usize = 256 * 1024;

/// Why the listener closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// `max_connections` were open.
    MaxConnections,
    /// Its source address had `max_per_peer` connections open.
    PeerLimit,
    /// No complete message within `header_timeout` of the accept.
    HeaderTimeout,
    /// Silent for `idle_timeout` after its first message.
    IdleTimeout,
}

impl CloseReason {
    const ALL: [CloseReason; 4] = [
        CloseReason::MaxConnections,
        CloseReason::PeerLimit,
        CloseReason::HeaderTimeout,
        CloseReason::IdleTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::MaxConnections => "max_connections",
            CloseReason::PeerLimit => "peer_limit",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
        }
    }
}

/// `ironpost_log_syslog_tcp_closed_total{reason}`, registered once per pipeline.
#[derive(Debug, Clone)]
pub struct TcpLimitMetrics {
    closed: prometheus::IntCounterVec,
}

impl TcpLimitMetrics {
    pub fn new(r: &prometheus::Registry) -> Self {
        TcpLimitMetrics {
            closed: metrics::int_counter_vec(
                r,
                "log_syslog_tcp_closed_total",
                "TCP syslog connections closed by the listener: over max_connections, over max_connections_per_peer, no complete message within the header timeout, idle.",
                &["reason"],
            ),
        }
    }
}

/// Connections closed by the listener, by reason (a live view: it keeps counting).
#[derive(Debug, Clone)]
pub struct ClosedCounts(Arc<Limits>);

impl ClosedCounts {
    pub fn get(&self, reason: CloseReason) -> u64 {
        self.0.closed[reason as usize].load(Ordering::Relaxed)
    }
}

/// What the accept loop and its connections share.
#[derive(Debug, Default)]
struct Limits {
    closed: [AtomicU64; 4],
    metrics: Option<TcpLimitMetrics>,
    /// Open connections per source address; an address is removed at zero, so the map holds
    /// at most `max_connections` entries.
    peers: Mutex<HashMap<IpAddr, usize>>,
}

impl Limits {
    fn close(&self, reason: CloseReason) {
        self.closed[reason as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.closed.with_label_values(&[reason.as_str()]).inc();
        }
    }
}

/// One connection's place in the per-peer count, given back on drop.
struct PeerSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl PeerSlot {
    fn take(limits: &Arc<Limits>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut peers = limits.peers.lock().unwrap_or_else(|p| p.into_inner());
        let n = peers.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            limits: limits.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = self.limits.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = peers.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                peers.remove(&self.ip);
            }
        }
    }
}

/// A bound TCP syslog receiver.
pub struct SyslogTcp {
    listener: TcpListener,
    max_connections: usize,
    max_per_peer: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
    tls: Option<TlsAcceptor>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for SyslogTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogTcp")
            .field("listener", &self.listener)
            .field("max_connections", &self.max_connections)
            .field("max_per_peer", &self.max_per_peer)
            .field("header_timeout", &self.header_timeout)
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
            max_per_peer: max_connections.max(1),
            header_timeout: idle_timeout,
            idle_timeout,
            tls: tls.map(TlsAcceptor::from),
            limits: Arc::default(),
        })
    }

    /// Caps connections per source address at `max_per_peer` and gives each connection
    /// `header_timeout` (at most the idle timeout) to deliver its first message. Without this
    /// call a peer may take every slot and the header timeout is the idle timeout.
    pub fn with_limits(
        mut self,
        max_per_peer: usize,
        header_timeout: Duration,
        metrics: Option<TcpLimitMetrics>,
    ) -> Self {
        self.max_per_peer = max_per_peer.clamp(1, self.max_connections);
        self.header_timeout = header_timeout.min(self.idle_timeout);
        self.limits = Arc::new(Limits {
            metrics,
            ..Limits::default()
        });
        if let Some(m) = &self.limits.metrics {
            // Every reason is exported from the start, at 0.
            for r in CloseReason::ALL {
                m.closed.with_label_values(&[r.as_str()]);
            }
        }
        self
    }

    /// Connections closed by the listener so far, by reason.
    pub fn closed(&self) -> ClosedCounts {
        ClosedCounts(self.limits.clone())
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `stop` turns true; each connection runs until it closes, times out (header
    /// or idle), sends a malformed frame, or `stop` turns true.
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
                    let accepted_at = Instant::now();
                    // The per-peer cap first: a peer at its cap must not take a global slot.
                    let ip = peer.ip().to_canonical();
                    let Some(peer_slot) = PeerSlot::take(&self.limits, ip, self.max_per_peer) else {
                        self.limits.close(CloseReason::PeerLimit);
                        metrics.dropped.with_label_values(&[NAME]).inc();
                        drop(stream);
                        continue;
                    };
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        self.limits.close(CloseReason::MaxConnections);
                        metrics.dropped.with_label_values(&[NAME]).inc();
                        drop(stream);
                        continue;
                    };
                    let conn = Conn {
                        peer,
                        out: out.clone(),
                        metrics: metrics.clone(),
                        stop: stop.clone(),
                        header_deadline: accepted_at + self.header_timeout,
                        idle: self.idle_timeout,
                        limits: self.limits.clone(),
                    };
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        conn.metrics.connections.with_label_values(&[NAME]).inc();
                        let gauge = conn.metrics.connections.clone();
                        match tls {
                            None => conn.run(stream).await,
                            Some(acceptor) => {
                                let mut stop = conn.stop.clone();
                                // The handshake counts against the header deadline.
                                let handshake = tokio::select! {
                                    _ = stop.changed() => None,
                                    r = tokio::time::timeout_at(conn.header_deadline, acceptor.accept(stream)) => Some(r),
                                };
                                match handshake {
                                    None => {}
                                    Some(Ok(Ok(tls_stream))) => conn.run(tls_stream).await,
                                    Some(Err(_)) => conn.limits.close(CloseReason::HeaderTimeout),
                                    Some(Ok(Err(_))) => {
                                        conn.metrics.errors.with_label_values(&[NAME]).inc();
                                    }
                                }
                            }
                        }
                        gauge.with_label_values(&[NAME]).dec();
                        drop((permit, peer_slot));
                    });
                }
            }
        }
    }
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    out: mpsc::Sender<Batch>,
    metrics: SourceMetrics,
    stop: watch::Receiver<bool>,
    /// The first complete message must have arrived by then.
    header_deadline: Instant,
    idle: Duration,
    limits: Arc<Limits>,
}

impl Conn {
    async fn run<S: AsyncRead + Unpin>(mut self, mut stream: S) {
        let metrics = &self.metrics;
        let origin: Arc<str> = Arc::from(format!("tcp:{}", self.peer));
        let mut framer = Framer::default();
        let mut buf = vec![0u8; READ_BUF];
        let mut reported_truncated = 0;
        let mut framed = false;
        loop {
            // Until a message is complete, reads share the header deadline, so trickled bytes
            // do not extend it; afterwards each read may take up to the idle timeout.
            let (deadline, reason) = if framed {
                (Instant::now() + self.idle, CloseReason::IdleTimeout)
            } else {
                (self.header_deadline, CloseReason::HeaderTimeout)
            };
            let n = tokio::select! {
                _ = self.stop.changed() => return,
                r = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match r {
                    Err(_) => {
                        self.limits.close(reason);
                        return;
                    }
                    Ok(Err(_)) => {
                        metrics.errors.with_label_values(&[NAME]).inc();
                        return;
                    }
                    Ok(Ok(n)) => n,
                },
            };
            let mut batch = Batch::with_capacity(NAME, origin.clone(), n);
            batch.set_sender(self.peer.ip());
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
                framed = true;
                metrics.count(&batch);
                if self.out.send(batch).await.is_err() {
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
}

#[cfg(test)]
mod tests;
