//! What the daemon's integration tests share: one plain HTTP exchange, certificates made at
//! test time.

// Test helpers: a failed setup step should panic at once.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ironpost_config::{ConfigSource, IronpostConfig};
use ironpost_daemon::{Listeners, serve};
use ironpost_proto::exit::Exit;
use ironpost_proto::{Request, request};

/// A live-stream client (`GET /live?QUERY`) on its own thread: the stream's lines, once its
/// response head arrived (the stream is open).
pub(crate) async fn live_stream(
    addr: SocketAddr,
    query: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::{BufRead, BufReader};
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let request =
        format!("GET /live?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { return };
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });
    loop {
        let l = line_rx.recv().await.expect("live stream answered");
        if l.to_ascii_lowercase()
            .starts_with("content-type: text/event-stream")
        {
            return line_rx;
        }
    }
}

/// A console test's configuration under `dir`: no XDP, data and control socket in `dir`, an
/// ephemeral loopback HTTP port, and `token` in a 0600 `console.token_file`.
pub(crate) fn console_config(dir: &Path, token: &str) -> IronpostConfig {
    use std::os::unix::fs::PermissionsExt;
    let token_file = dir.join("console.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cfg = IronpostConfig::default();
    cfg.ebpf.enabled = false;
    cfg.general.data_dir = dir.join("data");
    cfg.general.control_socket = dir.join("control.sock");
    cfg.general.http_listen = "127.0.0.1:0".parse().unwrap();
    cfg.console.token_file = Some(token_file);
    cfg
}

/// A daemon serving a configuration in the test's own process, answering on its control socket.
pub(crate) struct InProcess {
    /// Its HTTP listener.
    pub(crate) addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<Exit, ironpost_proto::exit::ExitError>>,
}

impl InProcess {
    /// Binds `cfg`'s listeners, starts serving, and returns once the control socket answers.
    pub(crate) async fn start(cfg: &IronpostConfig) -> InProcess {
        let listeners = Listeners::bind(&cfg.general).await.unwrap();
        let addr = listeners.http.local_addr().unwrap();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            cfg.clone(),
            ConfigSource::Defaults,
            listeners,
            async {
                let _ = stop_rx.await;
            },
        ));
        request(&cfg.general.control_socket, &Request::Status)
            .await
            .unwrap();
        InProcess { addr, stop, task }
    }

    /// Stops it; it must end cleanly.
    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        assert_eq!(self.task.await.unwrap().unwrap(), Exit::Ok);
    }
}

/// PEM files of a test CA and of a server certificate it signed.
pub(crate) struct TlsFiles {
    /// The CA certificate (what a client trusts).
    pub(crate) ca: PathBuf,
    /// The server's certificate chain and key (`[http] tls_cert`, `tls_key`).
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir`: a CA made now and a server
/// certificate for `names` (DNS names or IP addresses) signed by it.
pub(crate) fn tls_files(dir: &Path, names: &[&str]) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ironpost daemon test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer).unwrap();
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    /// The response head, lower-cased.
    pub(crate) head: String,
    pub(crate) body: String,
}

/// One HTTP/1.0 exchange (the server closes the connection after it).
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(http_request(addr, method, path, headers, body).as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    reply(&out)
}

/// An HTTP/1.0 request: a form body is sent as `application/x-www-form-urlencoded`.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    req
}

/// A whole HTTP response as received: status, lowercased head, body.
pub(crate) fn reply(out: &str) -> Reply {
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

pub(crate) fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.head
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}
