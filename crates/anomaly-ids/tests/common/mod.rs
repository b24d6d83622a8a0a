//! Test-owned `nats-server` processes (Debian's 2.9): each on its own loopback port with its own
//! config and JetStream store in a temporary directory, stopped (and waited for) on drop. And
//! certificates made with rcgen: a CA, a server certificate for 127.0.0.1, a client certificate.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironpost_anomaly_ids::FlowEvent;

pub(crate) struct NatsServer {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    conf: PathBuf,
}

/// A port free right now on 127.0.0.1 (the kernel's pick; the server binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// Starts `nats-server -js` with `extra` appended to a config that sets the listen address
    /// and the store directory (`{dir}` in `extra` is replaced by the temp dir).
    pub(crate) fn start(extra: &str) -> NatsServer {
        Self::start_with(extra, |_| {})
    }

    /// Like [`NatsServer::start`], running `prepare` on the directory first (certificates).
    pub(crate) fn start_with(extra: &str, prepare: impl FnOnce(&Path)) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("ironpost-nats-test")
            .tempdir()
            .unwrap();
        let port = free_port();
        let conf = dir.path().join("nats.conf");
        let text = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n{}\n",
            dir.path().join("js").display(),
            extra.replace("{dir}", &dir.path().display().to_string())
        );
        std::fs::File::create(&conf)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        prepare(dir.path());
        let mut s = NatsServer {
            child: None,
            port,
            dir,
            conf,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("nats.log")).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server (Debian package nats-server; scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("nats-server exited {st}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "nats-server not listening:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM (JetStream flushes its store) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Stops and starts it again on the same port, config and store.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub(crate) fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// PEM files of a test PKI in `dir`: `ca.pem`, `server.pem`/`server.key` (127.0.0.1,
/// localhost), `client.pem`/`client.key`.
pub(crate) fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ironpost test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, client: bool| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], false);
    let (client, client_key) = leaf(vec!["ironpost-ids".into()], true);
    for (name, text) in [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", server),
        ("server.key", server_key),
        ("client.pem", client),
        ("client.key", client_key),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Flow event number `i`: its `ts` identifies it.
pub(crate) fn flow(i: u32) -> FlowEvent {
    serde_json::from_value(serde_json::json!({
        "ts": f64::from(i),
        "pid": 0,
        "saddr": "198.18.7.1",
        "daddr": "198.18.7.2",
        "dport": i % 65_535 + 1,
    }))
    .unwrap()
}
