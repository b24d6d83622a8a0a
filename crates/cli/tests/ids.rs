//! End-to-end tests of the anomaly IDS against the real services: `ironpost-cli simulate` publishes to the
//! shared nats-server (JetStream; `scripts/services.sh start nats`), the daemon consumes, scores with
//! `models/probe.onnx` and posts to a private Prometheus Alertmanager, which routes to the daemon's notifier;
//! alerts are also forwarded to a private rsyslog, and a private Prometheus scrapes the daemon for the
//! Grafana panels' queries.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    Daemon, Proc, free_port, http_get, ready, repo_root, run, spawn_logged, text, urlencode,
    wait_for,
};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A private Alertmanager routing every alert to `webhook` at once.
fn alertmanager(dir: &Path, port: u16, webhook: &str) -> Proc {
    let cfg = dir.join("am.yml");
    std::fs::write(
        &cfg,
        format!(
            "route: {{receiver: hook, group_by: ['...'], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers: [{{name: hook, webhook_configs: [{{url: '{webhook}', send_resolved: false}}]}}]\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("am")).unwrap();
    let p = spawn_logged(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address="),
        &dir.join("am.log"),
    );
    let hp = format!("127.0.0.1:{port}");
    wait_for(30, "Alertmanager to be ready", || ready(&hp, "/-/ready"));
    p
}

/// A private rsyslogd receiving TCP syslog on `port` and writing each raw message to `out`.
fn rsyslog(dir: &Path, port: u16, out: &Path) -> Proc {
    let work = dir.join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("rsyslog.conf");
    let template =
        std::fs::read_to_string(repo_root().join("deploy/rsyslog/ironpost-collector.conf"))
            .unwrap();
    let body = template
        .replace("@DIR@/ironpost-alerts.log", &out.display().to_string())
        .replace("port=\"5514\"", &format!("port=\"{port}\""));
    std::fs::write(
        &conf,
        format!("global(workDirectory=\"{}\")\n{body}", work.display()),
    )
    .unwrap();
    let p = spawn_logged(
        Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid")),
        &dir.join("rsyslogd.log"),
    );
    wait_for(30, "rsyslogd to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    p
}

/// Alerts Alertmanager holds for `src` (JSON array).
fn am_alerts(am: &str, src: &str) -> Vec<serde_json::Value> {
    let (code, body) = http_get(am, "/api/v2/alerts");
    assert_eq!(code, 200, "{body}");
    let all: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    all.into_iter()
        .filter(|a| a["labels"]["src"] == src && a["labels"]["alertname"] == "AnomalyScoreHigh")
        .collect()
}

/// [`wait_for`], but a timeout shows the end of the daemon's log.
fn wait_daemon<T>(d: &Daemon, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() >= deadline {
            let log = d.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "timed out after {secs}s waiting for {what}; daemon log:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(d: &Daemon, name: &str) -> f64 {
    let (_, body) = d.get("/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The daemon with the IDS on NATS (a subject and stream of its own), Alertmanager and optionally syslog.
struct Stack {
    daemon: Daemon,
    am: String,
    subject: String,
    stream: String,
    _am: Proc,
}

impl Drop for Stack {
    /// Removes this test's stream from the shared nats-server.
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let stream = self.stream.clone();
        rt.block_on(async move {
            let Ok(client) =
                ironpost_anomaly_ids::nats::connect(NATS_URL, "ironpost-test-cleanup").await
            else {
                return;
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                ironpost_anomaly_ids::nats::delete_stream(client, &stream),
            )
            .await;
        });
    }
}

impl Stack {
    fn start(tag: &str, syslog: Option<u16>) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let (am_port, http_port) = (free_port(), free_port());
        let am_proc = alertmanager(
            dir.path(),
            am_port,
            &format!("http://127.0.0.1:{http_port}/api/v1/notify"),
        );
        let id = format!("{tag}{}", std::process::id());
        let subject = format!("telemetry.flow.test.{id}");
        let stream = format!("IRONPOST_TEST_{id}");
        let model = repo_root().join("models/probe.onnx").display().to_string();
        let mut env = vec![
            (
                "IRONPOST_GENERAL_HTTP_LISTEN".to_owned(),
                format!("127.0.0.1:{http_port}"),
            ),
            ("IRONPOST_IDS_ENABLED".into(), "true".into()),
            ("IRONPOST_IDS_NATS_URL".into(), NATS_URL.into()),
            ("IRONPOST_IDS_SUBJECT".into(), subject.clone()),
            ("IRONPOST_IDS_STREAM".into(), stream.clone()),
            ("IRONPOST_IDS_MODEL_PATH".into(), model),
            (
                "IRONPOST_IDS_ALERTMANAGER_URL".into(),
                format!("http://127.0.0.1:{am_port}"),
            ),
        ];
        if let Some(port) = syslog {
            env.push((
                "IRONPOST_IDS_SYSLOG_FORWARD".into(),
                format!("127.0.0.1:{port}"),
            ));
        }
        let env_ref: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let daemon = Daemon::start_in(dir, &["--defaults"], &env_ref);
        wait_daemon(
            &daemon,
            30,
            "the ids module to be healthy (consuming from NATS)",
            || {
                let (_, body) = daemon.get("/health");
                let v: serde_json::Value = serde_json::from_str(&body).ok()?;
                (v["modules"]["ids"]["status"] == "healthy").then_some(())
            },
        );
        Stack {
            daemon,
            am: format!("127.0.0.1:{am_port}"),
            subject,
            stream,
            _am: am_proc,
        }
    }

    fn simulate(&self, mode: &str, secs: &str, src: &str) -> serde_json::Value {
        let o = run(self.daemon.cli().args([
            "simulate",
            "--mode",
            mode,
            "--seconds",
            secs,
            "--nats-url",
            NATS_URL,
            "--subject",
            &self.subject,
            "--src",
            src,
            "--output",
            "json",
        ]));
        assert!(
            o.status.success(),
            "simulate {mode}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

#[test]
fn scan_alerts_via_alertmanager_to_the_notifier_store_and_syslog_and_benign_does_not() {
    let rs_dir = tempfile::tempdir().unwrap();
    let rs_port = free_port();
    let rs_out = rs_dir.path().join("alerts.log");
    let _rsyslog = rsyslog(rs_dir.path(), rs_port, &rs_out);
    let s = Stack::start("am", Some(rs_port));
    let scanner = "198.18.1.5";
    let report = s.simulate("scan", "2", scanner);
    assert_eq!(report["published"], report["sent"], "{report}");

    let alerts = wait_daemon(
        &s.daemon,
        20,
        "Alertmanager to hold an AnomalyScoreHigh alert for the scanner",
        || {
            let a = am_alerts(&s.am, scanner);
            (!a.is_empty()).then_some(a)
        },
    );
    let summary = alerts[0]["annotations"]["summary"].as_str().unwrap();
    let score: f64 = summary.strip_prefix("score=").unwrap().parse().unwrap();
    assert!(score >= 0.7, "{summary}");
    let detail = alerts[0]["annotations"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("rate=") && detail.contains(", uniq_dports="),
        "{detail}"
    );

    // Alertmanager's webhook reached the notifier, which counted and logged it.
    wait_daemon(&s.daemon, 20, "the notifier to count the alert", || {
        (metric(&s.daemon, "ironpost_notifier_alerts_total") >= 1.0).then_some(())
    });
    wait_daemon(&s.daemon, 10, "the notifier to log the alert", || {
        s.daemon
            .log()
            .contains("notifier: alert from Alertmanager")
            .then_some(())
    });
    assert!(s.daemon.log().contains(scanner));

    // The AlertEvent was stored.
    let stored = wait_daemon(&s.daemon, 20, "the alert in the store", || {
        let o = run(s.daemon.cli().args(["alerts", "list", "--output", "json"]));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        let mine: Vec<_> = v
            .into_iter()
            .filter(|a| a["rule_id"] == "anomaly_score_high")
            .collect();
        (!mine.is_empty()).then_some(mine)
    });
    assert_eq!(
        stored.len(),
        1,
        "one alert per source per cooldown: {stored:?}"
    );
    assert_eq!(stored[0]["source"], "anomaly");

    // And forwarded as RFC 5424 to rsyslog.
    let line = wait_daemon(
        &s.daemon,
        20,
        "rsyslog to write the forwarded alert",
        || {
            let t = std::fs::read_to_string(&rs_out).ok()?;
            t.lines()
                .find(|l| l.contains("AnomalyScoreHigh: 198.18.1.5"))
                .map(str::to_owned)
        },
    );
    assert!(line.starts_with("<35>1 "), "{line}");
    assert!(
        line.contains("[ironpost@32473 ") && line.contains("src=\"198.18.1.5\""),
        "{line}"
    );

    // Benign traffic from another source for as long: every event is scored, none alerts.
    let before = metric(&s.daemon, "ironpost_fe_events_in");
    let benign = "198.18.1.6";
    let report = s.simulate("benign", "4", benign);
    let sent = report["sent"].as_f64().unwrap();
    assert!(sent >= 2.0, "{report}");
    wait_daemon(
        &s.daemon,
        20,
        "the daemon to take in the benign events",
        || (metric(&s.daemon, "ironpost_fe_events_in") >= before + sent).then_some(()),
    );
    // Two more ticks and an Alertmanager round trip for a wrong alert to show up.
    std::thread::sleep(Duration::from_secs(1));
    assert!(am_alerts(&s.am, benign).is_empty());
    assert_eq!(metric(&s.daemon, "ironpost_ids_alerts_total"), 1.0);
}

#[test]
fn prometheus_answers_every_grafana_panel_query_during_a_scan() {
    let s = Stack::start("prom", None);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    // The shipped scrape config, pointed at this test's daemon.
    let shipped =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap();
    std::fs::write(&cfg, shipped.replace("127.0.0.1:9470", &s.daemon.http)).unwrap();
    let _prom = spawn_logged(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        &dir.path().join("prometheus.log"),
    );
    let prom = format!("127.0.0.1:{port}");
    wait_for(60, "Prometheus to be ready", || ready(&prom, "/-/ready"));

    // The exposition parses; promtool's only lint complaints are the seed's own metric names.
    let (_, metrics) = s.daemon.get("/metrics");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let o = promtool.wait_with_output().unwrap();
    let lint = text(&o.stdout) + &text(&o.stderr);
    assert!(matches!(o.status.code(), Some(0 | 3)), "{lint}");
    for line in lint.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            [
                "ironpost_fe_events_in ",
                "ironpost_fe_window_build_ms ",
                "ironpost_infer_latency_ms "
            ]
            .iter()
            .any(|seed| line.starts_with(seed)),
            "promtool: {line}"
        );
    }

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/dashboards/ids.json")).unwrap(),
    )
    .unwrap();
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["targets"][0]["expr"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(queries.len(), 3, "the seed's three panels");

    let query = |q: &str| -> Option<f64> {
        let (code, body) = http_get(&prom, &format!("/api/v1/query?query={}", urlencode(q)));
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = v["data"]["result"].as_array()?.first()?.clone();
        r["value"][1].as_str()?.parse().ok()
    };
    // The counters must be scraped before the scan, or their increase is invisible to rate().
    wait_daemon(
        &s.daemon,
        60,
        "Prometheus to hold a first scrape of the daemon",
        || query("ironpost_notifier_alerts_total").filter(|x| *x == 0.0),
    );
    let scanner = "198.18.2.5";
    s.simulate("scan", "3", scanner);
    wait_daemon(
        &s.daemon,
        20,
        "Alertmanager to hold the scanner's alert",
        || (!am_alerts(&s.am, scanner).is_empty()).then_some(()),
    );
    for q in &queries {
        let value = wait_daemon(
            &s.daemon,
            60,
            &format!("Prometheus to answer {q} with a positive number"),
            || query(q).filter(|x| x.is_finite() && *x > 0.0),
        );
        eprintln!("{q} = {value}");
    }
    let _ = std::io::stderr().flush();
}

#[test]
fn the_publisher_buffers_through_a_nats_outage() {
    // A private nats-server that is down when the simulator starts publishing and comes up a second later.
    let dir = tempfile::tempdir().unwrap();
    let (port, mon) = (free_port(), free_port());
    let subject = format!("telemetry.flow.outage.{}", std::process::id());
    let sim = Command::new(env!("CARGO_BIN_EXE_ironpost-cli"))
        .args([
            "--defaults",
            "--output",
            "json",
            "simulate",
            "--mode",
            "scan",
            "--seconds",
            "2",
            "--rate",
            "50",
        ])
        .args([
            "--nats-url",
            &format!("nats://127.0.0.1:{port}"),
            "--subject",
            &subject,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let _nats = spawn_logged(
        Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &mon.to_string(),
                "-js",
                "-sd",
            ])
            .arg(dir.path().join("js")),
        &dir.path().join("nats.log"),
    );
    let o = sim.wait_with_output().unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["sent"], 100, "{report}");
    assert_eq!(report["published"], 100, "{report}");
    assert_eq!(report["dropped"], 0, "{report}");
    // The stream holds every event once the server is back.
    let (code, body) = http_get(&format!("127.0.0.1:{mon}"), "/jsz?streams=true");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["messages"], 100, "{body}");
}

#[test]
fn an_xdp_observed_port_scan_reaches_the_ids_in_process() {
    // The daemon in the victim's namespace with the XDP engine and the IDS (no NATS: in-process); a real
    // SYN scan from the attacker's namespace becomes packet events, the router hands the SYNs to the IDS.
    let lab = common::Lab::new("ids");
    let model = repo_root().join("models/probe.onnx").display().to_string();
    let d = Daemon::start_wrapped(
        tempfile::tempdir().unwrap(),
        &["ip", "netns", "exec", &lab.victim],
        &["--defaults"],
        &[
            ("IRONPOST_EBPF_ENABLED", "true"),
            ("IRONPOST_EBPF_INTERFACE", &lab.victim_if),
            ("IRONPOST_EBPF_XDP_MODE", "skb"),
            ("IRONPOST_EBPF_PIN_PATH", ""),
            ("IRONPOST_IDS_ENABLED", "true"),
            ("IRONPOST_IDS_MODEL_PATH", &model),
        ],
    );
    wait_daemon(&d, 20, "the ebpf and ids modules to be healthy", || {
        let o = run(d.cli().args(["status", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let healthy = |name: &str| {
            v["status"]["modules"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| m["name"] == name && m["health"]["status"] == "healthy")
            })
        };
        (healthy("ebpf") && healthy("ids")).then_some(())
    });
    let o = lab.attacker(&[
        "nmap",
        "-sS",
        "-p",
        "1-200",
        "--max-rate",
        "400",
        "-n",
        "-Pn",
        common::VICTIM_IP,
    ]);
    assert!(o.status.success(), "nmap: {}", text(&o.stderr));
    let alert = wait_daemon(
        &d,
        20,
        "an anomaly alert for the scanner in the store",
        || {
            let o = run(d.cli().args(["alerts", "list", "--output", "json"]));
            let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
            v.into_iter().find(|a| {
                a["rule_id"] == "anomaly_score_high"
                    && a["entities"]["src_ip"] == common::ATTACKER_IP
            })
        },
    );
    assert_eq!(alert["source"], "anomaly", "{alert}");
    assert!(
        alert["description"].as_str().unwrap().contains("model "),
        "{alert}"
    );
}
