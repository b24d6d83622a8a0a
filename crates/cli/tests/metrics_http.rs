//! `ironpost-cli metrics --url` through the shared HTTP client, against servers started here on
//! loopback: https with a self-signed certificate trusted through `SSL_CERT_FILE` (rcgen makes it
//! at test time), the same server untrusted, and nothing listening. Exit codes as documented:
//! 0 ok, 4 when the daemon's listener cannot be reached.

// Test helpers: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread::JoinHandle;

const BODY: &str = "# TYPE ironpost_up gauge\nironpost_up 1\n";

fn cli(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ironpost-cli"));
    for (k, _) in std::env::vars() {
        if k.starts_with("IRONPOST_") || k.starts_with("SSL_CERT_") {
            c.env_remove(k);
        }
    }
    // A control socket nobody serves: the URL comes from --url only.
    c.env("IRONPOST_GENERAL_CONTROL_SOCKET", dir.join("control.sock"))
        .env("NO_COLOR", "1")
        .arg("--defaults");
    c
}

/// A TLS server on 127.0.0.1 for one connection, answering any request with [`BODY`]; returns its
/// port, the certificate's PEM and the thread (which reports whether the handshake succeeded).
fn tls_server() -> (u16, String, JoinHandle<bool>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem = ck.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(cfg)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        assert!(req.starts_with(b"GET /metrics HTTP/1.1\r\n"));
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        tls.write_all(resp.as_bytes()).unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        true
    });
    (port, pem, server)
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run ironpost-cli")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn metrics_over_https_with_the_root_from_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let (port, pem, server) = tls_server();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let o = run(cli(dir.path()).env("SSL_CERT_FILE", &ca).args([
        "metrics",
        "--url",
        &format!("https://127.0.0.1:{port}/"),
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), BODY);
    assert!(server.join().unwrap(), "the handshake succeeded");
}

#[test]
fn metrics_over_https_to_an_untrusted_certificate_fails_with_the_daemon_code() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _pem, server) = tls_server();
    // An empty bundle: the system roots are replaced, and none of them signed this certificate.
    let ca = dir.path().join("empty.pem");
    std::fs::write(&ca, "").unwrap();
    let o = run(cli(dir.path()).env("SSL_CERT_FILE", &ca).args([
        "metrics",
        "--url",
        &format!("https://127.0.0.1:{port}"),
    ]));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(o.stdout.is_empty());
    assert!(!server.join().unwrap(), "the client refused the handshake");
}

#[test]
fn metrics_with_nothing_listening_exits_with_the_daemon_code() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(cli(dir.path()).args(["metrics", "--url", &format!("http://127.0.0.1:{port}")]));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn metrics_with_a_url_that_is_not_http_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(cli(dir.path()).args(["metrics", "--url", "ftp://127.0.0.1:21"]));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("only http:// and https://"), "{err}");
}
