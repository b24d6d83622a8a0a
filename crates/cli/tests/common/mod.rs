//! Shared helpers for the end-to-end tests: run the real binaries, start a daemon in a private
//! directory on a free port, make HTTP requests, create PostgreSQL databases.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod docker;
pub mod fleet;
pub mod gobin;
pub mod smallfs;
pub mod sshd;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a binary built next to `ironpost-cli`.
pub fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_ironpost-cli")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

pub fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ironpost-cli"));
    scrub_env(&mut c);
    c
}

/// Removes `IRONPOST_*` config overrides the caller's shell may have set.
pub fn scrub_env(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("IRONPOST_") && !k.starts_with("IRONPOST_TEST_") {
            c.env_remove(k);
        }
    }
}

/// A rule alerting on every sshd "Failed password" line (no threshold; the tests switch dedup and
/// the rate limit off), for tests that count one alert per line.
pub const PER_LINE_RULE: &str = r#"id: ssh_failed_password
title: SSH failed password
severity: medium

detection:
  conditions:
    - field: process
      operator: equals
      value: sshd
    - field: message
      operator: contains
      value: "Failed password"
"#;

/// Writes `yaml` as `dir/rules/file` and returns the rules directory, for `rules_dir`.
pub fn write_rule(dir: &Path, file: &str, yaml: &str) -> String {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join(file), yaml).unwrap();
    rules.display().to_string()
}

/// Sum of a metric's samples (every label set) in a Prometheus text body.
pub fn metric_sum(body: &str, name: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

pub fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().expect("spawn")
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds (a deadline for a process to come
/// up, not a performance assertion).
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon running in its own temporary directory.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub env: Vec<(String, String)>,
    pub http: String,
}

impl Daemon {
    /// Environment that points every path into `dir` and the HTTP listener at a free port.
    pub fn env_for(dir: &Path) -> Vec<(String, String)> {
        vec![
            (
                "IRONPOST_GENERAL_DATA_DIR".into(),
                dir.join("data").display().to_string(),
            ),
            (
                "IRONPOST_GENERAL_PID_FILE".into(),
                dir.join("run/ironpost.pid").display().to_string(),
            ),
            (
                "IRONPOST_GENERAL_CONTROL_SOCKET".into(),
                dir.join("run/control.sock").display().to_string(),
            ),
            ("IRONPOST_GENERAL_HTTP_LISTEN".into(), "127.0.0.1:0".into()),
            ("IRONPOST_GENERAL_LOG_FORMAT".into(), "json".into()),
        ]
    }

    /// Starts `ironpost-daemon` with `args` and extra environment, and waits until `status` answers.
    pub fn start(args: &[&str], extra_env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, args, extra_env)
    }

    pub fn start_in(dir: tempfile::TempDir, args: &[&str], extra_env: &[(&str, &str)]) -> Daemon {
        Self::start_wrapped(dir, &[], args, extra_env)
    }

    /// Starts the daemon under `wrapper` (e.g. `ip netns exec NS`), which must exec it.
    pub fn start_wrapped(
        dir: tempfile::TempDir,
        wrapper: &[&str],
        args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Daemon {
        let mut env = Self::env_for(dir.path());
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let daemon = bin("ironpost-daemon");
        let mut c = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&daemon);
                c
            }
            None => Command::new(&daemon),
        };
        scrub_env(&mut c);
        c.args(args).envs(env.iter().cloned()).stdin(Stdio::null());
        c.stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("daemon.log")).expect("log file"));
        let child = c.spawn().expect("spawn daemon");
        let mut d = Daemon {
            dir,
            child: Some(child),
            env,
            http: String::new(),
        };
        let http = wait_for(30, "the daemon to answer `status`", || {
            if let Some(code) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("daemon exited early with {code}: {}", d.log());
            }
            let o = run(d.cli().args(["status", "--output", "json"]));
            if !o.status.success() {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
            v["status"]["http_listen"].as_str().map(str::to_owned)
        });
        d.http = http;
        d
    }

    /// `ironpost-cli` with this daemon's environment and `--defaults`.
    pub fn cli(&self) -> Command {
        let mut c = cli();
        c.envs(self.env.iter().cloned()).arg("--defaults");
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().expect("running");
        wait_for(30, "the daemon to exit after SIGTERM", || {
            child.try_wait().ok().flatten()
        })
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.http, path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Minimal HTTP/1.0 GET: (status code, body).
pub fn http_get(hostport: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(hostport).expect("connect to the daemon's HTTP listener");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, body.to_owned())
}

/// URL of the test PostgreSQL server's `ironpost_test` database (scripts/services.sh creates it).
pub fn pg_base_url() -> String {
    std::env::var("IRONPOST_TEST_PG_URL").unwrap_or_else(|_| {
        "postgresql://ironpost_test:ironpost_test@127.0.0.1:5432/ironpost_test".into()
    })
}

fn psql(db_url: &str, sql: &str) -> Output {
    let o = Command::new("psql")
        .args([db_url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("psql");
    assert!(
        o.status.success(),
        "psql {sql:?} failed (is PostgreSQL running? `scripts/services.sh start postgres`): {}",
        text(&o.stderr)
    );
    o
}

/// A fresh database on the test server, dropped at the end.
pub struct PgDb {
    pub url: String,
    name: String,
}

impl PgDb {
    pub fn create(tag: &str) -> PgDb {
        let name = format!(
            "ironpost_e2e_{tag}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        psql(&pg_base_url(), &format!("CREATE DATABASE {name}"));
        let base = pg_base_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').expect("db in URL")]);
        PgDb { url, name }
    }

    pub fn query(&self, sql: &str) -> String {
        text(&psql(&self.url, sql).stdout).trim().to_owned()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &pg_base_url(),
                "-qtAc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Two network namespaces joined by a veth pair: an attacker (198.18.7.1) and a victim
/// (198.18.7.2). Names are unique per test process; everything is deleted on drop.
pub struct Lab {
    pub attacker: String,
    pub victim: String,
    /// The victim's side of the veth pair (where XDP attaches).
    pub victim_if: String,
}

pub const ATTACKER_IP: &str = "198.18.7.1";
pub const VICTIM_IP: &str = "198.18.7.2";

fn sh(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let id = std::process::id() % 100_000;
        let lab = Lab {
            attacker: format!("ipt-{tag}-{id}-a"),
            victim: format!("ipt-{tag}-{id}-v"),
            victim_if: format!("ipv{id}"),
        };
        let attacker_if = format!("ipa{id}");
        sh(&["ip", "netns", "add", &lab.attacker]);
        sh(&["ip", "netns", "add", &lab.victim]);
        sh(&[
            "ip",
            "link",
            "add",
            &attacker_if,
            "type",
            "veth",
            "peer",
            "name",
            &lab.victim_if,
        ]);
        sh(&["ip", "link", "set", &attacker_if, "netns", &lab.attacker]);
        sh(&["ip", "link", "set", &lab.victim_if, "netns", &lab.victim]);
        sh(&[
            "ip",
            "-n",
            &lab.attacker,
            "addr",
            "add",
            &format!("{ATTACKER_IP}/24"),
            "dev",
            &attacker_if,
        ]);
        sh(&[
            "ip",
            "-n",
            &lab.victim,
            "addr",
            "add",
            &format!("{VICTIM_IP}/24"),
            "dev",
            &lab.victim_if,
        ]);
        for (ns, dev) in [(&lab.attacker, &attacker_if), (&lab.victim, &lab.victim_if)] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    /// Runs a command in the attacker's namespace.
    pub fn attacker(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.attacker])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
    }

    /// A command to run in the victim's namespace.
    pub fn victim(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.victim]).args(args);
        c
    }

    /// One ICMP echo from the attacker to the victim; true when answered.
    pub fn ping(&self) -> bool {
        self.attacker(&["ping", "-c", "1", "-W", "1", "-n", "-q", VICTIM_IP])
            .status
            .success()
    }

    /// A SYN scan of the victim's ports 1-1000 from the attacker, in the background (a block
    /// stops it mid-way, and nmap would then wait for its timeouts): kill and wait the child.
    pub fn syn_scan(&self) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.attacker])
            .args(["nmap", "-sS", "-p", "1-1000", "--max-rate", "2000"])
            .args([
                "--max-retries",
                "0",
                "--host-timeout",
                "30s",
                "-n",
                "-Pn",
                VICTIM_IP,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nmap runs (scripts/setup.sh installs it)")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.attacker, &self.victim] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

pub fn ebpf_env(lab: &Lab) -> Vec<(&'static str, String)> {
    vec![
        ("IRONPOST_EBPF_ENABLED", "true".into()),
        ("IRONPOST_EBPF_INTERFACE", lab.victim_if.clone()),
        ("IRONPOST_EBPF_XDP_MODE", "skb".into()),
        // Unpinned unless a test asks for pins (on a bpffs it mounts): a test must not leave a
        // program or maps behind on a host whose /sys/fs/bpf is mounted.
        ("IRONPOST_EBPF_PIN_PATH", String::new()),
    ]
}

/// Starts the daemon inside the lab's victim namespace with XDP on its veth; waits until attached.
pub fn start_in_victim(lab: &Lab, dir: tempfile::TempDir, extra: &[(&str, &str)]) -> Daemon {
    let env = ebpf_env(lab);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    let d = Daemon::start_wrapped(
        dir,
        &["ip", "netns", "exec", &lab.victim],
        &["--defaults"],
        &all,
    );
    wait_for(20, "the ebpf module to attach", || {
        let o = run(d.cli().args(["status", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let m = v["status"]["modules"]
            .as_array()?
            .iter()
            .find(|m| m["name"] == "ebpf")?
            .clone();
        (m["health"]["status"] == "healthy").then_some(())
    });
    d
}

pub fn stats(d: &Daemon) -> serde_json::Value {
    let o = run(d.cli().args(["stats", "--output", "json"]));
    assert!(o.status.success(), "stats: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

pub fn blocks(d: &Daemon) -> Vec<serde_json::Value> {
    let o = run(d.cli().args(["block", "list", "--output", "json"]));
    assert!(o.status.success(), "block list: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Alerts of `rule` in the store.
pub fn alerts_of(d: &Daemon, rule: &str) -> Vec<serde_json::Value> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    all.into_iter().filter(|a| a["rule_id"] == rule).collect()
}

/// GET on the daemon's HTTP listener, which lives in the victim namespace.
pub fn lab_get(lab: &Lab, d: &Daemon, path: &str) -> (u16, String) {
    let o = lab
        .victim(&[
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            &format!("http://{}{path}", d.http),
        ])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for both TCP and UDP on 127.0.0.1 (the daemon binds both on it).
pub fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e} (scripts/setup.sh installs it)")),
    )
}

pub fn ready(hostport: &str, path: &str) -> Option<()> {
    std::net::TcpStream::connect(hostport).ok()?;
    (http_get(hostport, path).0 == 200).then_some(())
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Submits one alert (JSON) through `ironpost-cli alerts submit`; returns its id.
pub fn submit_alert(d: &Daemon, alert: &serde_json::Value) -> String {
    let mut c = d.cli();
    c.args(["alerts", "submit", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{alert}").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accepted"][0].as_str().unwrap().to_owned()
}

/// Stored actions caused by `alert_id`.
pub fn actions_for(d: &Daemon, alert_id: &str) -> Vec<serde_json::Value> {
    let o = run(d
        .cli()
        .args(["actions", "list", "--output", "json", "--alert", alert_id]));
    assert!(o.status.success(), "actions list: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A log file that keeps growing (`per_tick` lines from `line(n)` every 10 ms) on its own
/// thread until [`GrowingLog::stop`], so a kill lands mid-ingest whatever the machine's speed.
pub struct GrowingLog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writer: std::thread::JoinHandle<usize>,
}

impl GrowingLog {
    pub fn start(path: &Path, per_tick: usize, line: fn(usize) -> String) -> GrowingLog {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, path) = (stop.clone(), path.to_owned());
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) {
                let chunk: String = (n..n + per_tick).map(line).collect();
                f.write_all(chunk.as_bytes()).unwrap();
                n += per_tick;
                std::thread::sleep(Duration::from_millis(10));
            }
            n
        });
        GrowingLog { stop, writer }
    }

    /// Stops the writer; the number of lines written.
    pub fn stop(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.writer.join().unwrap()
    }
}
