//! The IDS's JetStream acknowledgement on the real daemon and a test-owned `nats-server -js`: a
//! message is acked only once its alert is stored, so `kill -9` at either side of the store
//! write loses nothing and stores nothing twice. (a) Killed after the alert was stored, before the
//! messages were acked (a 10 s window holds them): the redelivered scan raises the same alert id
//! and the store keeps one. (b) Killed while SQLite (on a full filesystem) could not store the
//! alert: nothing was acked, the redelivered scan raises the alert, stored once.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::smallfs::SmallFs;
use common::{Daemon, Proc, free_port, run, spawn_logged, text, wait_for};

fn metric(d: &Daemon, name: &str) -> f64 {
    let (_, body) = d.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The anomaly alerts stored for `src`.
fn alerts_for(d: &Daemon, src: &str) -> Vec<String> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "100000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    all.iter()
        .filter(|a| a["rule_id"] == "anomaly_score_high" && a["entities"]["src_ip"] == src)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

struct Setup {
    nats_url: String,
    subject: String,
    env: Vec<(String, String)>,
    _nats: Proc,
}

impl Setup {
    fn new(dir: &Path, db: &Path) -> Setup {
        let port = free_port();
        let nats = spawn_logged(
            Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir.join("js")),
            &dir.join("nats.log"),
        );
        let nats_url = format!("nats://127.0.0.1:{port}");
        wait_for(30, "nats-server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        let subject = format!("telemetry.flow.ack.{}", std::process::id());
        let env = vec![
            ("IRONPOST_IDS_ENABLED".into(), "true".into()),
            ("IRONPOST_IDS_NATS_URL".into(), nats_url.clone()),
            ("IRONPOST_IDS_SUBJECT".into(), subject.clone()),
            ("IRONPOST_IDS_STREAM".into(), "IRONPOST_TEST_ACK".into()),
            // The seed formula, and a 10 s window: a scan's messages stay held (unacknowledged)
            // for seconds after its alert is stored.
            ("IRONPOST_IDS_MODEL_PATH".into(), String::new()),
            ("IRONPOST_IDS_WINDOW_SECS".into(), "10".into()),
            (
                "IRONPOST_LOG_PIPELINE_STORAGE_SQLITE_PATH".into(),
                db.display().to_string(),
            ),
        ];
        Setup {
            nats_url,
            subject,
            env,
            _nats: nats,
        }
    }

    fn start(&self, dir: tempfile::TempDir) -> Daemon {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let d = Daemon::start_in(dir, &["--defaults"], &env);
        wait_for(30, "the ids module consuming from NATS", || {
            let (_, body) = d.get("/health");
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            (v["modules"]["ids"]["status"] == "healthy").then_some(())
        });
        d
    }

    /// A one-second scan from `src`: the number of messages JetStream acknowledged.
    fn scan(&self, d: &Daemon, src: &str) -> f64 {
        let o = run(d.cli().args([
            "simulate",
            "--mode",
            "scan",
            "--seconds",
            "1",
            "--nats-url",
            &self.nats_url,
            "--subject",
            &self.subject,
            "--src",
            src,
            "--output",
            "json",
        ]));
        assert!(o.status.success(), "simulate: {}", text(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["dropped"], 0, "{v}");
        v["published"].as_f64().unwrap()
    }
}

fn kill_9(mut d: Daemon) -> tempfile::TempDir {
    d.signal("KILL");
    d.child.take().unwrap().wait().unwrap();
    std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap())
}

#[test]
fn kill_9_before_the_ack_then_every_scan_alert_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallFs::mount(&dir.path().join("db"), "8m");
    let setup = Setup::new(dir.path(), &fs.0.join("ironpost.db"));

    // (a) Stored, not yet acknowledged.
    let d = setup.start(dir);
    let a = "198.18.11.1";
    let sent_a = setup.scan(&d, a);
    let first = wait_for(60, "the first scan's alert stored", || {
        alerts_for(&d, a).pop()
    });
    assert_eq!(
        metric(&d, "ironpost_ids_nats_acked_total"),
        0.0,
        "the window still holds the scan's messages"
    );
    let dir = kill_9(d);
    let d = setup.start(dir);
    // Redelivered after JetStream's 30 s ack wait, windowed again, acknowledged once stored.
    wait_for(180, "the redelivered scan acknowledged", || {
        (metric(&d, "ironpost_ids_nats_acked_total") >= sent_a).then_some(())
    });
    assert!(
        metric(&d, "ironpost_ids_alerts_total") >= 1.0,
        "raised again"
    );
    assert_eq!(alerts_for(&d, a), vec![first.clone()], "the same id, once");

    // (b) Not stored: SQLite cannot write.
    fs.fill();
    let b = "198.18.11.2";
    let sent_b = setup.scan(&d, b);
    wait_for(
        60,
        "the second scan's alert raised and its write failing",
        || {
            (metric(&d, "ironpost_ids_alerts_total") >= 2.0
                && metric(&d, "ironpost_store_write_errors_total") > 0.0)
                .then_some(())
        },
    );
    assert!(
        metric(&d, "ironpost_ids_nats_acked_total") < sent_a + sent_b,
        "the unstored alert's messages are not acknowledged"
    );
    let dir = kill_9(d);
    fs.empty();
    let d = setup.start(dir);
    wait_for(180, "the redelivered second scan acknowledged", || {
        (metric(&d, "ironpost_ids_nats_acked_total") >= sent_b).then_some(())
    });
    assert_eq!(alerts_for(&d, b).len(), 1, "stored once");
    assert_eq!(alerts_for(&d, a), vec![first], "the first alert still once");
    assert_eq!(metric(&d, "ironpost_ids_nats_nacked_total"), 0.0);
    drop(d);
    drop(fs);
}
