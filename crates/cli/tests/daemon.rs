//! The real daemon, driven through the real CLI: health and metrics over HTTP (checked by
//! `promtool`), alerts submitted by a producer and read back with `alerts list` on SQLite and on
//! the real PostgreSQL, the PID file, `status` against a stopped daemon, and reload.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::{Daemon, PgDb, run, text, wait_for};

fn alert_json(i: usize, severity: &str) -> String {
    format!(
        r#"{{"severity":"{severity}","source":"external","rule_id":"test_rule_{i}","title":"test alert {i}","entities":{{"src_ip":"198.18.0.{}","dst_port":22}},"tags":["T1110"]}}"#,
        i % 250 + 1
    )
}

/// Submits `n` alerts through `ironpost-cli alerts submit` and returns their ids.
fn submit(d: &Daemon, n: usize) -> BTreeSet<String> {
    let input: String = (0..n)
        .map(|i| alert_json(i, if i % 2 == 0 { "high" } else { "low" }) + "\n")
        .collect();
    let mut c = d.cli();
    c.args(["alerts", "submit", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "submit failed: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn listed_ids(d: &Daemon, extra: &[&str]) -> Vec<serde_json::Value> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000"])
        .args(extra));
    assert!(
        o.status.success(),
        "alerts list failed: {}",
        text(&o.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
}

fn check_round_trip(d: &Daemon) {
    let ids = submit(d, 40);
    assert_eq!(ids.len(), 40);
    let got = wait_for(30, "40 alerts to be stored", || {
        let l = listed_ids(d, &[]);
        (l.len() >= 40).then_some(l)
    });
    let got_ids: BTreeSet<String> = got
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got_ids, ids);
    let first = got.iter().find(|a| a["rule_id"] == "test_rule_3").unwrap();
    assert_eq!(first["entities"]["src_ip"], "198.18.0.4");
    assert_eq!(first["entities"]["dst_port"], 22);
    assert_eq!(first["tags"], serde_json::json!(["T1110"]));
    let high = listed_ids(d, &["--severity", "HIGH"]);
    assert_eq!(high.len(), 20);
    assert!(high.iter().all(|a| a["severity"] == "high"));
    assert_eq!(listed_ids(d, &["--since", "1 hour ago"]).len(), 40);
    assert_eq!(listed_ids(d, &["--since", "2099-01-01"]).len(), 0);
}

#[test]
fn daemon_on_defaults_serves_health_metrics_and_stores_alerts_in_sqlite() {
    let mut d = Daemon::start(&["--defaults"], &[]);
    let (code, body) = d.get("/health");
    assert_eq!(code, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["modules"]["store"]["status"], "healthy");

    check_round_trip(&d);

    let (code, metrics) = d.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "ironpost_build_info",
        "ironpost_uptime_seconds",
        "ironpost_alerts_total",
        "ironpost_store_records_written_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(
        metrics.contains(r#"ironpost_alerts_total{severity="high",source="external"} 20"#),
        "{metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/setup.sh installs it)");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), metrics.as_bytes()).unwrap();
    let o = promtool.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    // The CLI's metrics command reads the same endpoint.
    let o = run(d.cli().args(["metrics"]));
    assert!(
        o.status.success() && text(&o.stdout).contains("ironpost_uptime_seconds"),
        "{}",
        text(&o.stderr)
    );

    let pid_file = d.dir.path().join("run/ironpost.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        d.pid().to_string()
    );
    let st = d.stop();
    assert!(st.success(), "exit {st}: {}", d.log());
    assert!(!pid_file.exists(), "PID file removed on shutdown");
    assert!(
        !d.dir.path().join("run/control.sock").exists(),
        "control socket removed on shutdown"
    );
    // Stored alerts outlive the daemon.
    assert_eq!(listed_ids(&d, &[]).len(), 40);
    assert!(
        d.log().contains("\"trace_id\""),
        "JSON logs carry trace ids: {}",
        d.log()
    );
}

#[test]
fn daemon_stores_alerts_in_real_postgresql() {
    let db = PgDb::create("alerts");
    let mut d = Daemon::start(
        &["--defaults"],
        &[("IRONPOST_LOG_PIPELINE_STORAGE_POSTGRES_URL", &db.url)],
    );
    let o = run(d.cli().args(["status", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["status"]["storage"]
            .as_str()
            .unwrap()
            .starts_with("postgresql"),
        "{v}"
    );
    check_round_trip(&d);
    assert_eq!(db.query("SELECT count(*) FROM alerts"), "40");
    assert!(d.stop().success(), "{}", d.log());
}

#[test]
fn second_daemon_with_same_pid_file_exits_with_a_clear_message() {
    let d = Daemon::start(&["--defaults"], &[]);
    let mut c = Command::new(common::bin("ironpost-daemon"));
    common::scrub_env(&mut c);
    let o = c
        .arg("--defaults")
        .envs(d.env.iter().cloned())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("already running") && err.contains(&d.pid().to_string()),
        "{err}"
    );
    // The first daemon is unaffected.
    assert!(run(d.cli().arg("status")).status.success());
}

#[test]
fn status_against_a_stopped_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::cli();
    c.envs(Daemon::env_for(dir.path()))
        .args(["--defaults", "status"]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(4));
    let out = text(&o.stdout);
    assert!(out.contains("not running"), "{out}");

    let mut d = Daemon::start(&["--defaults"], &[]);
    assert!(run(d.cli().arg("status")).status.success());
    assert!(d.stop().success());
    let o = run(d.cli().args(["status", "--output", "json"]));
    assert_eq!(o.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["running"], false);
}

#[test]
fn stale_pid_file_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::write(dir.path().join("run/ironpost.pid"), "4194303\n").unwrap();
    let mut d = Daemon::start_in(dir, &["--defaults"], &[]);
    assert!(d.log().contains("took over a PID file"), "{}", d.log());
    assert!(d.stop().success());
}

#[test]
fn reload_applies_log_level_and_rejects_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ironpost.toml");
    std::fs::write(&cfg, "[general]\nlog_level = \"info\"\n").unwrap();
    let cfg_s = cfg.display().to_string();
    let mut d = Daemon::start_in(dir, &["--config", &cfg_s], &[]);
    let cli = |d: &Daemon| {
        let mut c = common::cli();
        c.envs(d.env.iter().cloned()).args(["--config", &cfg_s]);
        c
    };

    std::fs::write(
        &cfg,
        "[general]\nlog_level = \"debug\"\n\n[ebpf]\ninterface = \"veth9\"\n",
    )
    .unwrap();
    let o = run(cli(&d).args(["reload", "--output", "json"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["applied"], serde_json::json!(["general.log_level"]));
    assert_eq!(v["restart_required"], serde_json::json!(["ebpf.interface"]));

    std::fs::write(&cfg, "[general]\nlog_level = \"loud\"\n").unwrap();
    let o = run(cli(&d).arg("reload"));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("running config kept"),
        "{}",
        text(&o.stderr)
    );

    // SIGHUP takes the same path; the daemon keeps running after a rejected reload.
    d.signal("HUP");
    wait_for(10, "the rejected SIGHUP reload to be logged", || {
        d.log().contains("reload rejected").then_some(())
    });
    assert!(run(cli(&d).arg("status")).status.success());
    assert!(d.stop().success(), "{}", d.log());
}

#[test]
fn an_enabled_module_that_cannot_work_is_reported_degraded() {
    // The sbom module without a vulnerability database (tests/sbom.rs checks the reason).
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-db");
    let d = Daemon::start(
        &["--defaults"],
        &[
            ("IRONPOST_SBOM_ENABLED", "true"),
            ("IRONPOST_SBOM_SCAN_DIRS", dir.path().to_str().unwrap()),
            ("IRONPOST_SBOM_VULN_DB_PATH", missing.to_str().unwrap()),
        ],
    );
    let (code, body) = d.get("/health");
    assert_eq!(code, 200, "degraded is still serving");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["modules"]["sbom"]["status"], "degraded");
}

#[test]
fn sigterm_drains_every_accepted_alert_into_the_store() {
    let mut d = Daemon::start(&["--defaults"], &[]);
    let ids = submit(&d, 500);
    // Stop right away: accepted alerts may still be queued in the channel or the writer.
    assert!(d.stop().success(), "{}", d.log());
    let stored: BTreeSet<String> = listed_ids(&d, &[])
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, ids);
}

#[test]
fn alerts_list_without_a_database_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::cli();
    c.envs(Daemon::env_for(dir.path()))
        .args(["--defaults", "alerts", "list"]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("no database"),
        "{}",
        text(&o.stderr)
    );
}

/// `alerts list` as a person sees it in a terminal (a pty from `script`): coloured verdict words;
/// with `NO_COLOR` set, or through a pipe, plain text.
#[test]
fn alerts_list_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let d = Daemon::start(&["--defaults"], &[]);
    submit(&d, 1);
    wait_for(10, "the alert in the store", || {
        (!listed_ids(&d, &[]).is_empty()).then_some(())
    });
    let in_pty = |no_color: Option<&str>| {
        let cmd = format!(
            "{} --defaults alerts list",
            env!("CARGO_BIN_EXE_ironpost-cli")
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .envs(d.env.iter().cloned())
            .env("TERM", "xterm")
            .stdin(Stdio::null());
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let o = c.output().expect("script (package bsdutils)");
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let coloured = in_pty(None);
    assert!(
        coloured.contains("\x1b[31mhigh\x1b[0m") && coloured.contains("\x1b[1mSEVERITY\x1b[0m"),
        "{coloured:?}"
    );
    let plain = in_pty(Some("1"));
    assert!(
        plain.contains("high") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let piped = run(d.cli().args(["alerts", "list"]));
    assert!(!text(&piped.stdout).contains('\x1b'));
}
