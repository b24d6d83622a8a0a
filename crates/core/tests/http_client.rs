//! `ironpost_core::http` against real sockets on loopback: https to a rustls server whose
//! self-signed certificate is generated here (rcgen), plain http POST, and the hostile answers a
//! peer can give: an oversized body (declared or streamed), no answer at all, nothing listening.

// Test helpers: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ironpost_core::http::{ClientOptions, HttpClient, HttpError, HttpUrl};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A self-signed certificate for 127.0.0.1 and a TLS acceptor serving it.
fn tls_server() -> (CertificateDer<'static>, tokio_rustls::TlsAcceptor) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    (cert, tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Reads one request (head and a `Content-Length` body) and returns it as text.
async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text.into_owned();
            }
        }
        assert!(n > 0, "the client closed before a whole request");
    }
}

async fn answer<S: AsyncWrite + Unpin>(s: &mut S, status: &str, body: &str) {
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
}

fn client(roots: Vec<CertificateDer<'static>>, timeout: Duration, max_body: usize) -> HttpClient {
    HttpClient::new(ClientOptions {
        timeout,
        max_body,
        extra_roots: roots,
    })
    .unwrap()
}

#[tokio::test]
async fn https_get_to_a_server_whose_root_is_added() {
    let (cert, acceptor) = tls_server();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let req = read_request(&mut tls).await;
        answer(&mut tls, "200 OK", "ironpost_up 1\n").await;
        req
    });
    let c = client(vec![cert], Duration::from_secs(10), 1024);
    let url = HttpUrl::parse(&format!("https://{addr}"), "/metrics").unwrap();
    assert!(url.is_https());
    let resp = c.get(&url).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"ironpost_up 1\n");
    let req = server.await.unwrap();
    assert!(req.starts_with("GET /metrics HTTP/1.1\r\n"), "{req}");
    assert!(
        req.to_ascii_lowercase()
            .contains(&format!("host: {addr}\r\n")),
        "{req}"
    );
}

#[tokio::test]
async fn https_to_an_untrusted_certificate_is_a_connect_error() {
    let (_cert, acceptor) = tls_server();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // The client aborts the handshake: the server sees an error.
        acceptor.accept(tcp).await.is_err()
    });
    let c = client(Vec::new(), Duration::from_secs(10), 1024);
    let url = HttpUrl::parse(&format!("https://{addr}/metrics"), "/").unwrap();
    let e = c
        .get(&url)
        .await
        .expect_err("a self-signed certificate nobody trusts");
    assert!(e.is_connect(), "{e:?}");
    assert!(server.await.unwrap());
}

#[tokio::test]
async fn plain_http_post_sends_json_and_reads_the_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let req = read_request(&mut s).await;
        answer(&mut s, "202 Accepted", "").await;
        req
    });
    let c = client(Vec::new(), Duration::from_secs(10), 1024);
    let url = HttpUrl::parse(&format!("http://{addr}"), "/api/v2/alerts").unwrap();
    let resp = c.post_json(&url, b"[1]".to_vec()).await.unwrap();
    assert_eq!(resp.status, 202);
    let req = server.await.unwrap();
    let lower = req.to_ascii_lowercase();
    assert!(req.starts_with("POST /api/v2/alerts HTTP/1.1\r\n"), "{req}");
    assert!(
        lower.contains("content-type: application/json\r\n"),
        "{req}"
    );
    assert!(lower.contains("content-length: 3\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\n[1]"), "{req}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_request(&mut s).await;
        answer(&mut s, "200 OK", &"x".repeat(2000)).await;
    });
    let c = client(Vec::new(), Duration::from_secs(10), 1000);
    let url = HttpUrl::parse(&format!("http://{addr}/metrics"), "/").unwrap();
    let e = c
        .get(&url)
        .await
        .expect_err("2000 bytes over a 1000-byte limit");
    assert!(
        matches!(e, HttpError::TooLarge { limit: 1000, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_endless_chunked_body_stops_at_the_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        // Chunks until the client hangs up: without a limit the client would buffer forever.
        let chunk = format!("400\r\n{}\r\n", "y".repeat(0x400));
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    let c = client(Vec::new(), Duration::from_secs(30), 64 * 1024);
    let url = HttpUrl::parse(&format!("http://{addr}/metrics"), "/").unwrap();
    let e = c.get(&url).await.expect_err("an endless body");
    assert!(
        matches!(e, HttpError::TooLarge { limit: 65536, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_peer_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_request(&mut s).await;
        // Headers only, then silence: the body never completes.
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
        let _ = hold_rx.await;
    });
    let c = client(Vec::new(), Duration::from_millis(300), 1024);
    let url = HttpUrl::parse(&format!("http://{addr}/metrics"), "/").unwrap();
    let e = c.get(&url).await.expect_err("a body that never completes");
    assert!(matches!(e, HttpError::Timeout { .. }), "{e:?}");
    drop(hold_tx);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = client(Vec::new(), Duration::from_secs(10), 1024);
    let url = HttpUrl::parse(&format!("http://{addr}/"), "/metrics").unwrap();
    let e = c.get(&url).await.expect_err("nothing listens");
    assert!(e.is_connect(), "{e:?}");
}
