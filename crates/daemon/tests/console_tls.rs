//! The HTTP listener over TLS (`[http] tls_cert`, `tls_key`), served in process as `console.rs`
//! does, with a CA and a server certificate made here: https with the CA trusted serves the
//! console, `/health` and `/metrics`; plain http to the same port gets no answer; a mutation
//! without the token is refused, one with it from an `http://` origin too; the session cookie is
//! `Secure`; idle connections that never start a handshake hold at most `tls_handshakes_max`
//! slots (one more is closed at once) and are closed after `tls_handshake_timeout_secs`; each is
//! counted. Missing or bad PEM files stop the daemon with an error naming the file.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ironpost_config::{ConfigSource, IronpostConfig};
use ironpost_daemon::{Listeners, serve};
use ironpost_proto::exit::Exit;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{Reply, header};

const TOKEN: &str = "cnsl-tls-token-0123456789abcdefghijklmnop";

/// A TLS client that trusts only the test CA.
fn connector(ca: &std::path::Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// One HTTP/1.0 exchange over TLS (the server closes the connection after it).
async fn https(
    tls: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let mut s = tls.connect(name, tcp).await.expect("TLS handshake");
    s.write_all(common::http_request(addr, method, path, headers, body).as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    // The server closes without close_notify at times; what arrived before counts.
    let _ = s.read_to_end(&mut out).await;
    common::reply(&String::from_utf8_lossy(&out))
}

/// Reads from a connection until the server closes it; returns what arrived.
fn read_until_closed(mut s: TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line_start}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let files = common::tls_files(dir.path(), &["127.0.0.1"]);
    let mut cfg = common::console_config(dir.path(), TOKEN);
    cfg.http.tls_cert = Some(files.cert.clone());
    cfg.http.tls_key = Some(files.key.clone());
    cfg.http.tls_handshakes_max = 2;
    cfg.http.tls_handshake_timeout_secs = 10;
    let daemon = common::InProcess::start(&cfg).await;
    let addr = daemon.addr;
    let tls = connector(&files.ca);

    // https with the CA trusted: the console and the probes.
    let page = https(&tls, addr, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        header(&page, "content-security-policy").is_some_and(|c| c.contains("default-src 'none'"))
    );
    assert!(page.body.contains("<h1"), "{}", page.body);
    assert_eq!(
        https(&tls, addr, "GET", "/health", &[], "").await.status,
        200
    );

    // Plain http to the TLS port: no HTTP answer, the connection is closed.
    let plain = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        read_until_closed(s)
    })
    .await
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&plain).contains("HTTP/1."),
        "plain http got an HTTP answer: {plain:?}"
    );

    // A mutation without the token over TLS: refused. With it, from the https origin: it runs (no
    // XDP engine here, so it fails, audited); from an http origin: another site, refused.
    let form = "cidr=198.18.9.9";
    let r = https(&tls, addr, "POST", "/blocks/unblock", &[], form).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let bearer = format!("Bearer {TOKEN}");
    let https_origin = format!("https://{addr}");
    let http_origin = format!("http://{addr}");
    let r = https(
        &tls,
        addr,
        "POST",
        "/blocks/unblock",
        &[("Authorization", &bearer), ("Origin", &https_origin)],
        form,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = https(
        &tls,
        addr,
        "POST",
        "/blocks/unblock",
        &[("Authorization", &bearer), ("Origin", &http_origin)],
        form,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The session cookie is Secure.
    let login = https(
        &tls,
        addr,
        "POST",
        "/login",
        &[("Origin", &https_origin)],
        &format!("token={TOKEN}"),
    )
    .await;
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = header(&login, "set-cookie").unwrap();
    assert!(
        cookie.contains("; secure") && cookie.contains("httponly"),
        "{cookie}"
    );

    // Connections that never start a handshake: two hold both slots, a third is closed at once.
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let third = tokio::task::spawn_blocking(move || {
        // Sent nothing; closed by the server without a byte.
        read_until_closed(TcpStream::connect(addr).unwrap())
    })
    .await
    .unwrap();
    assert!(third.is_empty(), "{third:?}");
    // The idle ones are closed when their handshake time is up; then https works again.
    for s in idle {
        let got = tokio::task::spawn_blocking(move || read_until_closed(s))
            .await
            .unwrap();
        assert!(got.is_empty(), "{got:?}");
    }
    let metrics = https(&tls, addr, "GET", "/metrics", &[], "").await;
    assert_eq!(metrics.status, 200);
    let refused = |r: &str| {
        metric(
            &metrics.body,
            &format!("ironpost_http_tls_handshakes_refused_total{{reason=\"{r}\"}} "),
        )
    };
    assert_eq!(refused("busy"), 1, "{}", metrics.body);
    assert_eq!(refused("timeout"), 2, "{}", metrics.body);
    assert_eq!(
        refused("error"),
        1,
        "the plain http request: {}",
        metrics.body
    );

    daemon.stop().await;
}

/// Starts the daemon with `cert` and `key`; returns its error.
async fn refused_start(
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> String {
    let mut cfg = IronpostConfig::default();
    cfg.ebpf.enabled = false;
    cfg.general.data_dir = dir.join("data");
    cfg.general.control_socket = dir.join("control.sock");
    cfg.general.http_listen = "127.0.0.1:0".parse().unwrap();
    cfg.http.tls_cert = Some(cert.to_path_buf());
    cfg.http.tls_key = Some(key.to_path_buf());
    let listeners = Listeners::bind(&cfg.general).await.unwrap();
    let err = serve(cfg, ConfigSource::Defaults, listeners, async {})
        .await
        .expect_err("the daemon must not start");
    assert_eq!(err.exit, Exit::Config);
    format!("{:#}", err.source)
}

#[tokio::test]
async fn missing_or_bad_pem_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let files = common::tls_files(dir.path(), &["127.0.0.1"]);
    let missing = dir.path().join("absent.pem");
    let err = refused_start(dir.path(), &missing, &files.key).await;
    assert!(
        err.contains("http.tls_cert") && err.contains(&missing.display().to_string()),
        "{err}"
    );
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let err = refused_start(dir.path(), &junk, &files.key).await;
    assert!(
        err.contains("no certificate") && err.contains(&junk.display().to_string()),
        "{err}"
    );
    // A certificate where the key should be.
    let err = refused_start(dir.path(), &files.cert, &files.cert).await;
    assert!(
        err.contains("http.tls_key") && err.contains(&files.cert.display().to_string()),
        "{err}"
    );
    // A key that is not the certificate's.
    let other = tempfile::tempdir().unwrap();
    let stranger = common::tls_files(other.path(), &["127.0.0.1"]);
    let err = refused_start(dir.path(), &files.cert, &stranger.key).await;
    assert!(
        err.contains("cannot be used together")
            && err.contains(&stranger.key.display().to_string()),
        "{err}"
    );
}
