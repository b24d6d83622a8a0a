//! The Redis alert state when Redis misbehaves, and over TLS. A test-owned TCP proxy in front of
//! the real Redis (`IRONPOST_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) is switched to a
//! blackhole — connections stay open, nothing is forwarded or answered — mid-run: alerts keep
//! firing from the in-process fallback, the fallback is counted, and after the blackhole ends
//! Redis is used again. A test-owned `redis-server --tls-port` with rcgen certificates checks
//! `rediss://` with a CA file and client certificates. Throughput under a blackhole is measured by
//! `bench/redis-blackhole.sh`, not asserted here.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironpost_core::metrics;
use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::pipeline::PipelineError;
use ironpost_log_pipeline::rules::{
    AlertStateMetrics, Alerter, AlertingConfig, AsyncAlertState, RedisAlertState, RedisOptions,
    Rule, SystemClock, load_file,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// 2020-03-01T00:00:00Z.
const T0: i64 = 1_583_020_800_000_000;
const SEC: i64 = 1_000_000;

fn upstream() -> SocketAddr {
    let url = std::env::var("IRONPOST_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let hostport = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    hostport
        .parse()
        .expect("IRONPOST_TEST_REDIS_URL as redis://IP:PORT")
}

fn prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("ironpost-test:{test}:{}.{nanos}:", std::process::id())
}

fn seed_rule() -> Rule {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/ssh_brute_force.yaml");
    let mut loaded = load_file(&path);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.rules.remove(0)
}

/// Five failures from `ip` within a minute: the seed rule's threshold.
fn burst(ip: &str, from_secs: i64) -> Vec<MapFields> {
    (0..5)
        .map(|i| MapFields {
            message: format!("Failed password for root from {ip} port 4242 ssh2"),
            timestamp_micros: Some(T0 + (from_secs + i * 3) * SEC),
            fields: vec![
                ("process".into(), "sshd".into()),
                ("src_ip".into(), ip.into()),
                ("user".into(), "root".into()),
            ],
        })
        .collect()
}

async fn alerts(a: &mut Alerter<RedisAlertState>, rule: &Rule, recs: &[MapFields]) -> usize {
    let mut n = 0;
    for r in recs {
        n += usize::from(a.observe_async(rule, r).await.is_some());
    }
    n
}

/// A TCP proxy to Redis that can turn into a blackhole: while `blackhole` is set, bytes are
/// neither forwarded nor answered and new connections are accepted and left silent. `heal`
/// closes every connection opened so far (as a partition that ends with resets) and forwards
/// again.
struct Proxy {
    addr: SocketAddr,
    blackhole: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let blackhole = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (bh, cs) = (blackhole.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let bh = bh.clone();
                let task = tokio::spawn(async move { pump(client, upstream, bh).await });
                cs.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            blackhole,
            conns,
            accept,
        }
    }

    fn blackhole(&self) {
        self.blackhole.store(true, Ordering::SeqCst);
    }

    fn heal(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
        self.blackhole.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.heal();
    }
}

/// Forwards both ways in small steps, checking the blackhole flag before each: once it is set,
/// whatever arrives stays unread.
async fn pump(mut client: TcpStream, upstream: SocketAddr, blackhole: Arc<AtomicBool>) {
    if blackhole.load(Ordering::SeqCst) {
        // Accepted, never answered.
        std::future::pending::<()>().await;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    use tokio::io::AsyncReadExt;
    loop {
        tokio::select! {
            r = cr.read(&mut a) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if blackhole.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    if sw.write_all(&a[..n]).await.is_err() { return }
                }
            },
            r = sr.read(&mut b) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if blackhole.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    if cw.write_all(&b[..n]).await.is_err() { return }
                }
            },
        }
    }
}

fn opts(url: &str) -> RedisOptions {
    let mut o = RedisOptions::new(url);
    // Short, so the test does not wait long on the one timed-out operation per outage.
    o.response_timeout = Duration::from_millis(300);
    o.connect_timeout = Duration::from_millis(500);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_redis_falls_back_alerts_still_fire_and_redis_returns() {
    let proxy = Proxy::start(upstream()).await;
    let registry = metrics::new_registry();
    let m = AlertStateMetrics::new(&registry);
    let state = RedisAlertState::connect(&opts(&format!("redis://{}", proxy.addr)), &prefix("bh"))
        .await
        .unwrap()
        .with_metrics(m);
    let rule = seed_rule();
    let mut a = Alerter::new(AlertingConfig::default(), state, Arc::new(SystemClock));

    // Through Redis.
    assert_eq!(alerts(&mut a, &rule, &burst("198.18.9.1", 0)).await, 1);
    assert_eq!(a.state_stats().backend_errors, 0);
    assert_eq!(a.state_stats().fallback_ops, 0);

    // Blackholed mid-run: the first operation times out, the rest go straight to the fallback,
    // and the threshold is still reached.
    proxy.blackhole();
    assert_eq!(alerts(&mut a, &rule, &burst("198.18.9.2", 100)).await, 1);
    let stats = a.state_stats();
    assert!(a.state().is_down(), "{stats:?}");
    assert_eq!(stats.backend_errors, 1, "one timeout per outage: {stats:?}");
    assert!(stats.fallback_ops >= 5, "{stats:?}");
    let text = metrics::render(&registry);
    assert!(
        text.contains("ironpost_log_alert_state_errors_total 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ironpost_log_alert_state_fallback_total {}",
            stats.fallback_ops
        )),
        "{text}"
    );
    // Dedup still holds in the fallback: the same group does not alert twice.
    assert_eq!(alerts(&mut a, &rule, &burst("198.18.9.2", 130)).await, 0);

    // The blackhole ends: the probe finds Redis again and operations go back to it.
    proxy.heal();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while a.state().is_down() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = a.state_stats();
    assert_eq!(alerts(&mut a, &rule, &burst("198.18.9.3", 200)).await, 1);
    let after = a.state_stats();
    assert_eq!(after.fallback_ops, before.fallback_ops, "{after:?}");
    assert_eq!(after.backend_errors, before.backend_errors, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_and_never_answers_fails_construction_in_bounded_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut keep = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            keep.push(s);
        }
    });
    let err = RedisAlertState::connect(&opts(&format!("redis://{addr}")), "x:")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::RedisTimeout { .. } | PipelineError::RedisConnect { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    held.abort();
}

/// A test-owned `redis-server` with TLS only, requiring client certificates.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_pki(dir: &Path) {
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
    let (client, client_key) = leaf(vec!["ironpost".into()], true);
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

fn tls_redis() -> TlsRedis {
    let dir = tempfile::Builder::new()
        .prefix("ironpost-redis-tls")
        .tempdir()
        .unwrap();
    write_pki(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = |f: &str| dir.path().join(f);
    let log = std::fs::File::create(p("redis.log")).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .args(["--tls-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(p("server.pem"))
        .arg("--tls-key-file")
        .arg(p("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(p("ca.pem"))
        .args(["--tls-auth-clients", "yes"])
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server; scripts/setup.sh installs it)");
    let mut s = TlsRedis { child, port, dir };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = s.child.try_wait().unwrap() {
            panic!(
                "redis-server exited {st}: {}",
                std::fs::read_to_string(s.dir.path().join("redis.log")).unwrap_or_default()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server not listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_ca_file_and_client_certificate() {
    let server = tls_redis();
    let pki = |f: &str| -> PathBuf { server.dir.path().join(f) };
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let mut o = RedisOptions::new(&url);
    o.ca_file = Some(pki("ca.pem"));
    o.client_cert = Some(pki("client.pem"));
    o.client_key = Some(pki("client.key"));
    let mut st = RedisAlertState::connect(&o, &prefix("tls")).await.unwrap();
    let rule = seed_rule();
    let mut a = Alerter::new(AlertingConfig::default(), st, Arc::new(SystemClock));
    assert_eq!(alerts(&mut a, &rule, &burst("198.18.9.4", 0)).await, 1);
    assert_eq!(a.state_stats().backend_errors, 0);
    st = RedisAlertState::connect(&o, &prefix("tls2")).await.unwrap();
    assert!(st.claim_alert("k", T0, 300 * SEC).await);
    assert!(!st.claim_alert("k", T0 + SEC, 300 * SEC).await);

    // The system roots do not know the test CA: refused.
    let mut untrusted = o.clone();
    untrusted.ca_file = None;
    untrusted.client_cert = None;
    untrusted.client_key = None;
    let err = RedisAlertState::connect(&untrusted, "x:")
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::RedisConnect { .. }), "{err:?}");
    // Trusted, but without the client certificate the server requires: refused.
    let mut anonymous = o.clone();
    anonymous.client_cert = None;
    anonymous.client_key = None;
    assert!(RedisAlertState::connect(&anonymous, "x:").await.is_err());
    // Plain text to the TLS port: no answer the client understands, in bounded time.
    let plain = RedisOptions {
        url: format!("redis://127.0.0.1:{}", server.port),
        ..opts("redis://unused")
    };
    assert!(RedisAlertState::connect(&plain, "x:").await.is_err());
}
