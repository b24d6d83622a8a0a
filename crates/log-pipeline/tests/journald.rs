//! The journald source against the real systemd-journald (started by `scripts/services.sh
//! start journald` when its socket is missing): forged `sshd` entries (`systemd-cat -t sshd`,
//! `logger --journald` claiming sshd's trusted fields) raise `forgeable` alerts; a real OpenSSH
//! sshd logging to the journal from a network namespace, failed into by `sshpass` from a second
//! namespace, raises a `verified` alert naming the client; a cursor survives a stop with no
//! entry lost or repeated; a damaged cursor is reported and counted.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ironpost_core::metrics;
use ironpost_core::{AlertEvent, Evidence, Health, LogEvent, Module};
use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use ironpost_log_pipeline::rules::AlertingConfig;
use ironpost_log_pipeline::source::journald::JournaldConfig;
use tokio::sync::mpsc;

fn ensure_journald() {
    if Path::new("/run/systemd/journal/socket").exists() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
    let st = Command::new("bash")
        .arg(script)
        .args(["start", "journald"])
        .status()
        .unwrap();
    assert!(st.success(), "scripts/services.sh start journald failed");
}

/// Writes `lines` to the journal as `systemd-cat -t ident` (stdout stream: `_COMM=cat`).
fn systemd_cat(ident: &str, lines: &[String]) {
    let mut c = Command::new("systemd-cat")
        .args(["-t", ident])
        .stdin(Stdio::piped())
        .spawn()
        .expect("systemd-cat (package systemd)");
    let mut input = c.stdin.take().unwrap();
    for l in lines {
        writeln!(input, "{l}").unwrap();
    }
    drop(input);
    assert!(c.wait().unwrap().success());
}

/// A rule raising one alert per matching line (no threshold).
fn rules_dir(dir: &Path, contains: &str) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("r.yaml"),
        format!(
            "id: journald_test\ntitle: journald test\nseverity: high\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: \"{contains}\"\n"
        ),
    )
    .unwrap();
    rules
}

struct Running {
    pipeline: LogPipeline,
    alerts: mpsc::Receiver<AlertEvent>,
    logs: mpsc::Receiver<LogEvent>,
    registry: metrics::prometheus::Registry,
}

async fn start(data: &Path, rules: &Path, identifiers: &[&str], start_at: StartAt) -> Running {
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::Journald],
        rules_dir: rules.to_path_buf(),
        file_start_at: start_at,
        batch_size: 100,
        journald: JournaldConfig {
            identifiers: identifiers.iter().map(|s| s.to_string()).collect(),
            ..JournaldConfig::default()
        },
        alerting: AlertingConfig {
            dedup_window: Duration::ZERO,
            rate_limit_per_min: 0,
            ..AlertingConfig::default()
        },
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, alerts) = mpsc::channel(10_000);
    let (ltx, logs) = mpsc::channel(10_000);
    let mut pipeline = LogPipeline::new(
        cfg,
        data.to_path_buf(),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    pipeline.start().await.unwrap();
    Running {
        pipeline,
        alerts,
        logs,
        registry,
    }
}

/// Alerts until one satisfies `want` (30 s deadline: a bound on waiting, not a measurement).
async fn alert_where(
    rx: &mut mpsc::Receiver<AlertEvent>,
    want: impl Fn(&AlertEvent) -> bool,
) -> AlertEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(a)) if want(&a) => return a,
            Ok(Some(_)) => {}
            _ => panic!("no matching alert within 30 s"),
        }
    }
}

fn metric(reg: &metrics::prometheus::Registry, name: &str, label: Option<(&str, &str)>) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            label.is_none_or(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            })
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_sshd_entries_are_forgeable() {
    ensure_journald();
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "198.19.131.");
    let mut r = start(dir.path(), &rules, &["sshd"], StartAt::End).await;
    // The child starts at the end of the journal: write until the first forged line is seen, so
    // the test does not depend on how fast journalctl starts.
    let forged = "Failed password for root from 198.19.131.7 port 4242 ssh2".to_owned();
    let first = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            systemd_cat("sshd", std::slice::from_ref(&forged));
            match tokio::time::timeout(Duration::from_millis(500), r.alerts.recv()).await {
                Ok(Some(a)) if a.entities.src_ip == Some("198.19.131.7".parse().unwrap()) => {
                    break a;
                }
                _ => assert!(tokio::time::Instant::now() < deadline, "no alert in 30 s"),
            }
        }
    };
    assert_eq!(first.evidence, Evidence::Forgeable);
    assert!(first.description.contains("evidence: forgeable"));
    // The native protocol with the trusted fields spelled out: journald drops them.
    let mut c = Command::new("logger")
        .arg("--journald")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"MESSAGE=Failed password for root from 198.19.131.8 port 4243 ssh2\nSYSLOG_IDENTIFIER=sshd\n_EXE=/usr/sbin/sshd\n_COMM=sshd\n_UID=0\n")
        .unwrap();
    assert!(c.wait().unwrap().success());
    let native = alert_where(&mut r.alerts, |a| {
        a.entities.src_ip == Some("198.19.131.8".parse().unwrap())
    })
    .await;
    assert_eq!(native.evidence, Evidence::Forgeable);
    let log = loop {
        let l = r.logs.recv().await.unwrap();
        if l.message.contains("198.19.131.8") {
            break l;
        }
    };
    assert_eq!(
        log.fields.get("evidence").map(String::as_str),
        Some("forgeable")
    );
    assert!(
        metric(
            &r.registry,
            "ironpost_log_records_evidence_total",
            Some(("class", "forgeable"))
        ) >= 2.0
    );
    r.pipeline.stop().await.unwrap();
}

/// Two namespaces joined by a veth, an sshd in the first whose `/dev/log` (a private mount
/// namespace) is journald's; removed on drop.
struct SshLab {
    dir: tempfile::TempDir,
    server: String,
    client: String,
    sshd: std::process::Child,
}

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-c", cmd]).status().unwrap();
    assert!(st.success(), "{cmd}");
}

impl SshLab {
    fn start(tag: &str, net: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (server, client) = (format!("{tag}a"), format!("{tag}b"));
        let _ = Command::new("ip").args(["netns", "del", &server]).status();
        let _ = Command::new("ip").args(["netns", "del", &client]).status();
        sh(&format!(
            "ip netns add {server} && ip netns add {client} && \
             ip link add {server}0 type veth peer name {client}0 && \
             ip link set {server}0 netns {server} && ip link set {client}0 netns {client} && \
             ip -n {server} addr add {net}.1/24 dev {server}0 && ip -n {client} addr add {net}.2/24 dev {client}0 && \
             ip -n {server} link set lo up && ip -n {server} link set {server}0 up && \
             ip -n {client} link set lo up && ip -n {client} link set {client}0 up"
        ));
        let d = dir.path().display().to_string();
        sh(&format!("ssh-keygen -q -t ed25519 -N '' -f {d}/hostkey"));
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "ListenAddress {net}.1:22\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\nAllowUsers nobody-ironpost-test\nLogLevel INFO\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        // A private /dev holding the devices sshd opens and `log` → journald's syslog socket.
        std::fs::write(
            dir.path().join("run.sh"),
            format!(
                "set -e\nmkdir -p {d}/dev\nmount -t tmpfs tmpfs {d}/dev\n\
                 for x in null zero random urandom tty full; do touch {d}/dev/$x; mount --bind /dev/$x {d}/dev/$x; done\n\
                 ln -s /run/systemd/journal/dev-log {d}/dev/log\nmount --bind {d}/dev /dev\n\
                 exec /usr/sbin/sshd -D -f {d}/sshd_config\n"
            ),
        )
        .unwrap();
        let sshd = Command::new("ip")
            .args([
                "netns",
                "exec",
                &server,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
            ])
            .arg(dir.path().join("run.sh"))
            .spawn()
            .expect("sshd (package openssh-server)");
        let lab = SshLab {
            dir,
            server,
            client,
            sshd,
        };
        // Listening: the client namespace reaches port 22 (bounded wait).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !Command::new("ip")
            .args(["netns", "exec", &lab.client, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{net}.1/22"))
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(std::time::Instant::now() < deadline, "sshd not listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        lab
    }

    /// A failed password login (two wrong passwords) from the client namespace.
    fn fail_login(&self, net: &str) {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client,
                "timeout",
                "20",
                "sshpass",
                "-p",
                "wrong",
                "ssh",
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=2",
                "-o",
                "ConnectTimeout=5",
            ])
            .arg(format!("ghost@{net}.1"))
            .arg("true")
            .output()
            .expect("sshpass and ssh (packages sshpass, openssh-client)");
        // sshpass exits 5 on a refused password.
        assert_eq!(out.status.code(), Some(5), "{out:?}");
    }
}

impl Drop for SshLab {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("sshd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.sshd.wait();
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sshd_failure_is_verified_and_names_the_client() {
    ensure_journald();
    let net = "198.19.134";
    let lab = SshLab::start("ipj13v", net);
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "Failed password");
    // From the beginning of sshd's entries: nothing written before the child started is missed.
    let mut r = start(dir.path(), &rules, &["sshd"], StartAt::Beginning).await;
    lab.fail_login(net);
    let client: IpAddr = format!("{net}.2").parse().unwrap();
    let a = alert_where(&mut r.alerts, |a| a.entities.src_ip == Some(client)).await;
    assert_eq!(a.evidence, Evidence::Verified, "{}", a.description);
    assert_eq!(a.entities.user.as_deref(), Some("ghost"));
    assert!(a.description.contains("evidence: verified"));
    // The same text forged with systemd-cat from the "same" client stays forgeable.
    systemd_cat(
        "sshd",
        &[format!(
            "Failed password for invalid user ghost from {client} port 1 ssh2"
        )],
    );
    let f = alert_where(&mut r.alerts, |a| {
        a.entities.src_ip == Some(client) && a.entities.src_port == Some(1)
    })
    .await;
    assert_eq!(f.evidence, Evidence::Forgeable);
    r.pipeline.stop().await.unwrap();
    drop(lab);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_resumes_without_loss_or_repeat() {
    ensure_journald();
    let ident = format!("ironpost-cursor-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "cursor-test ");
    let line = |i: usize| format!("cursor-test {i:04}");
    let mut r = start(dir.path(), &rules, &[&ident], StartAt::Beginning).await;
    systemd_cat(&ident, &(0..50).map(line).collect::<Vec<_>>());
    let mut seen = Vec::new();
    while seen.len() < 50 {
        let l = tokio::time::timeout(Duration::from_secs(30), r.logs.recv())
            .await
            .expect("first run: 50 entries within 30 s")
            .unwrap();
        seen.push(l.message);
    }
    // Taking the alerts is what the store does: their acknowledgement lets the cursor advance
    // (one alert per entry; an alert still queued would hold the cursor back).
    for _ in 0..50 {
        tokio::time::timeout(Duration::from_secs(30), r.alerts.recv())
            .await
            .expect("first run: 50 alerts within 30 s")
            .unwrap();
    }
    r.pipeline.stop().await.unwrap();
    assert!(matches!(r.pipeline.health(), Health::Degraded(_)));
    let cursor = std::fs::read_to_string(dir.path().join("log_pipeline/journald.cursor")).unwrap();
    assert!(cursor.starts_with("s="), "{cursor}");
    // Written while the pipeline is down.
    systemd_cat(&ident, &(50..80).map(line).collect::<Vec<_>>());
    let mut r = start(dir.path(), &rules, &[&ident], StartAt::Beginning).await;
    systemd_cat(&ident, &(80..100).map(line).collect::<Vec<_>>());
    while seen.len() < 100 {
        let l = tokio::time::timeout(Duration::from_secs(30), r.logs.recv())
            .await
            .expect("second run: the 50 later entries within 30 s")
            .unwrap();
        seen.push(l.message);
    }
    // Nothing more arrives: a repeat would show up here (bounded wait for anything extra).
    let extra = tokio::time::timeout(Duration::from_secs(2), r.logs.recv()).await;
    assert!(extra.is_err(), "an entry was repeated: {extra:?}");
    assert_eq!(seen, (0..100).map(line).collect::<Vec<_>>());
    r.pipeline.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_cursor_is_reported_and_reading_starts_at_the_end() {
    ensure_journald();
    let ident = format!("ironpost-badcursor-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "badcursor-test ");
    // An entry before the start: with a damaged cursor it must not be read (start at the end).
    systemd_cat(&ident, &["badcursor-test old".to_owned()]);
    std::fs::create_dir_all(dir.path().join("log_pipeline")).unwrap();
    std::fs::write(
        dir.path().join("log_pipeline/journald.cursor"),
        b"\x00garbage\n",
    )
    .unwrap();
    let mut r = start(dir.path(), &rules, &[&ident], StartAt::Beginning).await;
    assert_eq!(
        metric(
            &r.registry,
            "ironpost_log_journald_cursor_invalid_total",
            None
        ),
        1.0
    );
    match r.pipeline.health() {
        Health::Degraded(why) => assert!(why.contains("journald cursor"), "{why}"),
        h => panic!("expected Degraded, got {h:?}"),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let got = loop {
        systemd_cat(&ident, &["badcursor-test new".to_owned()]);
        if let Ok(Some(l)) = tokio::time::timeout(Duration::from_millis(500), r.logs.recv()).await {
            break l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing read in 30 s"
        );
    };
    assert_eq!(got.message, "badcursor-test new");
    r.pipeline.stop().await.unwrap();
}

/// `journalctl` processes whose command line holds `needle` (ours: the test's own identifier).
fn journalctl_with(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| {
            let s = String::from_utf8_lossy(c);
            s.contains("journalctl") && s.contains(needle)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_is_restarted_with_backoff_and_killed_on_stop() {
    ensure_journald();
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path(), "never");
    // A journalctl that exits at once: restarted, counted, the module Degraded meanwhile.
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::Journald],
        rules_dir: rules.clone(),
        journald: JournaldConfig {
            journalctl: PathBuf::from("/bin/false"),
            ..JournaldConfig::default()
        },
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, _arx) = mpsc::channel(16);
    let (ltx, _lrx) = mpsc::channel(16);
    let mut p = LogPipeline::new(
        cfg,
        dir.path().to_path_buf(),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    p.start().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metric(&registry, "ironpost_log_journald_restarts_total", None) < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no restarts in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match p.health() {
        Health::Degraded(why) => assert!(why.contains("journalctl exited"), "{why}"),
        h => panic!("expected Degraded, got {h:?}"),
    }
    p.stop().await.unwrap();

    // The real one: running while the pipeline runs, gone after stop.
    let ident = format!("ironpost-kill-{}", std::process::id());
    let mut r = start(dir.path(), &rules, &[&ident], StartAt::End).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while journalctl_with(&ident) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "journalctl not started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(r.pipeline.health(), Health::Healthy);
    r.pipeline.stop().await.unwrap();
    assert_eq!(
        journalctl_with(&ident),
        0,
        "journalctl left running after stop"
    );
}
