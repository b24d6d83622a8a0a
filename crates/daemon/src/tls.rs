//! TLS on the HTTP listener (`[http] tls_cert`, `tls_key`): [`load`] reads the PEM files into a
//! rustls server config (ring, TLS 1.2 and 1.3, no client certificates), and [`TlsListener`] is
//! what `axum::serve` accepts from. A task of its own accepts TCP connections and runs each
//! handshake in a task of its own, so a slow or silent client holds one handshake slot, never the
//! accept loop: at most `http.tls_handshakes_max` handshakes run at once (a connection beyond them
//! is closed at once), each has `http.tls_handshake_timeout_secs` to finish, and only finished
//! handshakes reach axum. Connections closed before serving are counted in
//! `ironpost_http_tls_handshakes_refused_total{reason}` (`busy`, `timeout`, `error`: not TLS, or a
//! failed handshake).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ironpost_core::metrics::{self, prometheus};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// Why the TLS files cannot be used; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("{field} {path}: not a readable PEM file")]
    Pem {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("http.tls_cert {path}: no certificate in the file")]
    NoCertificate { path: PathBuf },
    #[error("http.tls_cert {cert} and http.tls_key {key} cannot be used together")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// Loads the PEM certificate chain `cert` and its private key `key`.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = |field: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Pem {
            field,
            path,
            source,
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem("http.tls_cert", cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("http.tls_cert", cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(pem("http.tls_key", key))?;
    let config_err = |source| TlsError::Config {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(config_err)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(config_err)?;
    // axum is served over HTTP/1.1 only (the `http1` feature).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Handshakes finished but not yet taken by axum.
const READY_QUEUE: usize = 16;

/// The limits of the handshake stage.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) timeout: Duration,
    pub(crate) max: usize,
}

/// Connections whose handshake finished, for `axum::serve`.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` until `stop` turns true.
    pub(crate) fn spawn(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
        limits: Limits,
        registry: &prometheus::Registry,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let refused = metrics::int_counter_vec(
            registry,
            "http_tls_handshakes_refused_total",
            "Connections to the TLS listener closed before a request was read: busy \
             (http.tls_handshakes_max handshakes in progress), timeout (no handshake within \
             http.tls_handshake_timeout_secs), error (not TLS, or a failed handshake).",
            &["reason"],
        );
        for reason in ["busy", "timeout", "error"] {
            refused.with_label_values(&[reason]);
        }
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(
            tcp,
            TlsAcceptor::from(config),
            limits,
            refused,
            tx,
            stop,
        ));
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    limits: Limits,
    refused: prometheus::IntCounterVec,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max.max(1)));
    loop {
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    warn!(error = %e, "http listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = ironpost_proto::server::stopped(&mut stop) => return,
            _ = ready.closed() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.with_label_values(&["busy"]).inc();
            debug!(%peer, "http listener: too many TLS handshakes in progress, closed");
            drop(stream);
            continue;
        };
        let (acceptor, refused, ready) = (acceptor.clone(), refused.clone(), ready.clone());
        tokio::spawn(async move {
            // Counted before the connection is closed (the peer may look at the counter as soon
            // as it sees the close): the handshake future, which owns the connection, is dropped
            // only after the match, and a failed one hands the connection back.
            let mut shake = std::pin::pin!(acceptor.accept(stream).into_fallible());
            let result = tokio::time::timeout(limits.timeout, &mut shake).await;
            drop(slot);
            match result {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err((e, tcp))) => {
                    refused.with_label_values(&["error"]).inc();
                    debug!(%peer, error = %e, "http listener: TLS handshake failed");
                    drop(tcp);
                }
                Err(_) => {
                    refused.with_label_values(&["timeout"]).inc();
                    debug!(%peer, "http listener: TLS handshake timed out");
                }
            }
        });
    }
}
