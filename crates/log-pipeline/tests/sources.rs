//! The syslog sources against real clients: util-linux `logger` over UDP and TCP (LF and octet
//! counting), a million lines over TCP with nothing lost, limits (connections, line length), and
//! TLS (RFC 5425) with an `openssl`-made self-signed certificate.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use ironpost_core::metrics;
use ironpost_log_pipeline::source::syslog_tcp::SyslogTcp;
use ironpost_log_pipeline::source::syslog_udp::SyslogUdp;
use ironpost_log_pipeline::source::{Batch, MAX_LINE, SourceMetrics};
use tokio::sync::{mpsc, watch};

/// Receives lines until `n` arrived (or 30 s passed: a deadline, not a performance check).
async fn collect(rx: &mut mpsc::Receiver<Batch>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(b)) => out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned())),
            _ => panic!("got {} of {n} lines: {out:?}", out.len()),
        }
    }
    out
}

fn logger(args: &[&str], stdin: &str) {
    let mut c = Command::new("logger")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("logger (util-linux/bsdutils; scripts/setup.sh installs it)");
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "logger {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_over_udp_rfc5424_and_rfc3164() {
    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let src = SyslogUdp::bind("127.0.0.1:0".parse().unwrap(), Some(4 << 20)).unwrap();
    let port = src.local_addr().port().to_string();
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop));
    let msg = "Failed password for root from 198.18.5.2 port 4242 ssh2";
    logger(
        &[
            "--rfc5424",
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "sshd",
            "-p",
            "auth.warning",
            "--",
            msg,
        ],
        "",
    );
    logger(
        &[
            "--rfc3164",
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "sshd",
            "-p",
            "auth.info",
            "--",
            msg,
        ],
        "",
    );
    let got = collect(&mut rx, 2).await;
    assert!(
        got[0].starts_with("<36>1 ") && got[0].ends_with(msg),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("<38>") && got[1].contains("sshd") && got[1].ends_with(msg),
        "{got:?}"
    );
    assert_eq!(m.received.with_label_values(&["syslog_udp"]).get(), 2);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_over_tcp_lf_and_octet_counting() {
    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let src = SyslogTcp::bind("127.0.0.1:0".parse().unwrap(), 8, Duration::from_secs(30))
        .await
        .unwrap();
    let port = src.local_addr().unwrap().port().to_string();
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop));
    let lines = "Failed password for invalid user admin from 198.18.5.3 port 1 ssh2\nAccepted publickey for ops from 198.18.5.4 port 2 ssh2\n";
    logger(
        &[
            "--rfc5424=notq",
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "sshd",
            "-p",
            "auth.warning",
        ],
        lines,
    );
    logger(
        &[
            "--rfc5424=notq",
            "-T",
            "--octet-count",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "sshd",
            "-p",
            "auth.warning",
        ],
        lines,
    );
    logger(
        &[
            "--rfc3164",
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "sshd",
        ],
        lines,
    );
    let got = collect(&mut rx, 6).await;
    assert_eq!(
        got.iter()
            .filter(|l| l.ends_with("from 198.18.5.3 port 1 ssh2"))
            .count(),
        3,
        "{got:?}"
    );
    assert_eq!(
        got.iter().filter(|l| l.starts_with("<36>1 ")).count(),
        4,
        "{got:?}"
    );
    assert!(got.iter().all(|l| !l.ends_with('\n')));
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_lines_over_tcp_lose_nothing() {
    const N: usize = 1_000_000;
    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let src = SyslogTcp::bind("127.0.0.1:0".parse().unwrap(), 8, Duration::from_secs(30))
        .await
        .unwrap();
    let addr = src.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop));
    let sender = std::thread::spawn(move || {
        let mut s =
            std::io::BufWriter::with_capacity(1 << 20, std::net::TcpStream::connect(addr).unwrap());
        for i in 0..N {
            writeln!(s, "<38>Nov 23 00:28:48 host sshd[{i}]: Failed password for root from 198.18.0.1 port {i} ssh2").unwrap();
        }
        s.flush().unwrap();
    });
    let mut seen = 0usize;
    let mut last_pid = None;
    while seen < N {
        let b = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap()
            .unwrap();
        for l in b.lines() {
            // Order within the connection is kept: each pid is the previous + 1.
            let l = std::str::from_utf8(l).unwrap();
            let pid: usize = l[l.find('[').unwrap() + 1..l.find(']').unwrap()]
                .parse()
                .unwrap();
            assert_eq!(pid, last_pid.map_or(0, |p| p + 1));
            last_pid = Some(pid);
            seen += 1;
        }
    }
    sender.join().unwrap();
    assert_eq!(seen, N);
    assert_eq!(
        m.received.with_label_values(&["syslog_tcp"]).get(),
        N as u64
    );
    assert_eq!(m.errors.with_label_values(&["syslog_tcp"]).get(), 0);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_and_long_lines_are_counted() {
    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let src = SyslogTcp::bind("127.0.0.1:0".parse().unwrap(), 1, Duration::from_secs(30))
        .await
        .unwrap();
    let addr = src.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop));
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    let long = "x".repeat(MAX_LINE * 2);
    writeln!(first, "{long}\nshort").unwrap();
    let got = collect(&mut rx, 2).await;
    assert_eq!(got[0].len(), MAX_LINE);
    assert_eq!(got[1], "short");
    assert_eq!(m.truncated.with_label_values(&["syslog_tcp"]).get(), 1);
    // A second connection beyond max_connections = 1 is refused and counted.
    let _second = std::net::TcpStream::connect(addr).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while m.dropped.with_label_values(&["syslog_tcp"]).get() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "refused connection not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

/// A TLS client (trusting only `cert`) that sends `payload` and closes cleanly.
async fn send_tls(addr: std::net::SocketAddr, cert: &std::path::Path, payload: &[u8]) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::AsyncWriteExt;

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(payload).await.unwrap();
    tls.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_carries_octet_counting_and_lf_and_refuses_plaintext() {
    use ironpost_log_pipeline::source::syslog_tcp::load_tls;

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // webpki refuses a CA certificate as the server's own (`CaUsedAsEndEntity`).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl CLI");
    assert!(status.success());

    let missing = dir.path().join("missing.pem");
    let err = load_tls(&missing, &key).unwrap_err().to_string();
    assert!(err.contains("missing.pem"), "{err}");

    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let tls = load_tls(&cert, &key).unwrap();
    let src = SyslogTcp::bind_tls(
        "127.0.0.1:0".parse().unwrap(),
        8,
        Duration::from_secs(30),
        Some(tls),
    )
    .await
    .unwrap();
    let addr = src.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop));

    let (a, b) = (
        "<34>1 - host app - - - first",
        "<34>1 - host app - - - second",
    );
    let counted = format!("{} {a}{} {b}", a.len(), b.len());
    send_tls(addr, &cert, counted.as_bytes()).await;
    let mut got = collect(&mut rx, 2).await;
    send_tls(addr, &cert, b"<13>lf one\n<13>lf two\n<13>lf three\n").await;
    got.extend(collect(&mut rx, 3).await);
    assert_eq!(
        got,
        [a, b, "<13>lf one", "<13>lf two", "<13>lf three"],
        "{got:?}"
    );
    assert_eq!(m.errors.with_label_values(&["syslog_tcp"]).get(), 0);

    // Plain TCP to the TLS listener: the handshake fails, nothing is delivered, an error counts.
    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain.write_all(b"<13>plaintext line\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while m.errors.with_label_values(&["syslog_tcp"]).get() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "failed handshake not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        rx.try_recv().is_err(),
        "plaintext delivered over TLS listener"
    );
    assert_eq!(m.received.with_label_values(&["syslog_tcp"]).get(), 5);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
