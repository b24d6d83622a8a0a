//! The log pipeline under the real daemon: seed rule + real `logger` over UDP and TCP (LF and
//! octet counting), a plain auth.log read by the file source with one alert per offending IP, and
//! a broken rule file on reload keeping the running rules.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Command;

use common::{Daemon, GrowingLog, free_port, metric_sum, run, text, wait_for, write_rule};

const SEED_RULE: &str = r#"id: ssh_brute_force
title: SSH Brute Force Attack
description: Multiple failed SSH login attempts from same IP
severity: high

detection:
  conditions:
    - field: process
      operator: equals
      value: sshd
      modifier: case_insensitive
    - field: message
      operator: contains
      value: "Failed password"

  threshold:
    count: 5
    timeframe_secs: 60
    group_by: src_ip

tags:
  - attack.credential_access
  - T1110  # MITRE ATT&CK
"#;

fn rules_dir(dir: &std::path::Path) -> String {
    write_rule(dir, "ssh_brute_force.yaml", SEED_RULE)
}

fn alerts(d: &Daemon) -> Vec<serde_json::Value> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn logger(args: &[&str], stdin: &str) {
    let mut c = Command::new("logger")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "logger {args:?}");
}

#[test]
fn logger_over_udp_and_tcp_raises_the_seed_rule_alert() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let d = Daemon::start_in(
        dir,
        &["--defaults"],
        &[
            ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_SOURCES", "syslog"),
            ("IRONPOST_LOG_PIPELINE_SYSLOG_BIND", &bind),
            ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules),
        ],
    );
    let p = port.to_string();
    // One attacker per transport and format; five failures each.
    let line = |ip: &str| format!("Failed password for root from {ip} port 4242 ssh2\n").repeat(5);
    logger(
        &[
            "--rfc5424",
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-t",
            "sshd",
            "-p",
            "auth.warning",
        ],
        &line("198.18.5.11"),
    );
    logger(
        &[
            "--rfc3164",
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-t",
            "sshd",
            "-p",
            "auth.info",
        ],
        &line("198.18.5.12"),
    );
    logger(
        &[
            "--rfc5424=notq",
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-t",
            "sshd",
        ],
        &line("198.18.5.13"),
    );
    logger(
        &[
            "--rfc5424=notq",
            "-T",
            "--octet-count",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-t",
            "sshd",
        ],
        &line("198.18.5.14"),
    );
    logger(
        &["--rfc3164", "-T", "-n", "127.0.0.1", "-P", &p, "-t", "sshd"],
        &line("198.18.5.15"),
    );
    // Four failures: under the threshold.
    let four = "Failed password for root from 198.18.5.16 port 4242 ssh2\n".repeat(4);
    logger(
        &["--rfc3164", "-T", "-n", "127.0.0.1", "-P", &p, "-t", "sshd"],
        &four,
    );
    let got = wait_for(20, "five ssh_brute_force alerts", || {
        let a = alerts(&d);
        (a.len() >= 5).then_some(a)
    });
    let mut ips: Vec<String> = got
        .iter()
        .map(|a| a["entities"]["src_ip"].as_str().unwrap().to_owned())
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        [
            "198.18.5.11",
            "198.18.5.12",
            "198.18.5.13",
            "198.18.5.14",
            "198.18.5.15"
        ]
    );
    assert!(got.iter().all(|a| a["rule_id"] == "ssh_brute_force"
        && a["severity"] == "high"
        && a["source"] == "log_pipeline"));
    let (_, metrics) = d.get("/metrics");
    assert!(
        metrics.contains("ironpost_log_source_received_total{source=\"syslog_udp\"} 10"),
        "{metrics}"
    );
}

/// A plain auth.log as rsyslog writes it (RFC 3164, no PRI): attackers spread over minutes of
/// log time. Windows run on the lines' own timestamps.
fn auth_log() -> String {
    let mut out = String::new();
    let mut t = 0u32; // seconds after 10:00:00
    let mut line = |t: u32, ip: &str, what: &str| {
        out.push_str(&format!(
            "Nov 20 10:{:02}:{:02} web1 sshd[{}]: {what} from {ip} port {} ssh2\n",
            t / 60,
            t % 60,
            1000 + t,
            40000 + t
        ));
    };
    // 198.18.6.1: 6 failures 8 s apart (within 60 s) → alert.
    for _ in 0..6 {
        line(t, "198.18.6.1", "Failed password for root");
        t += 8;
    }
    // 198.18.6.2: 10 failures 30 s apart: never 5 within 60 s → no alert.
    for _ in 0..10 {
        line(t, "198.18.6.2", "Failed password for invalid user admin");
        t += 30;
    }
    // 198.18.6.3: 5 failures within 20 s, minutes later → alert.
    for _ in 0..5 {
        line(t, "198.18.6.3", "Failed password for ubuntu");
        t += 4;
    }
    // Successful logins never count.
    for _ in 0..8 {
        line(t, "198.18.6.4", "Accepted publickey for ops");
        t += 1;
    }
    out
}

#[test]
fn auth_log_file_gives_one_alert_per_offending_ip() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let log = dir.path().join("auth.log");
    std::fs::write(&log, auth_log()).unwrap();
    let log_s = log.display().to_string();
    let d = Daemon::start_in(
        dir,
        &["--defaults"],
        &[
            ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_SOURCES", "file"),
            ("IRONPOST_LOG_PIPELINE_WATCH_PATHS", &log_s),
            ("IRONPOST_LOG_PIPELINE_FILE_START_AT", "beginning"),
            ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules),
        ],
    );
    let got = wait_for(20, "two ssh_brute_force alerts", || {
        let a = alerts(&d);
        (a.len() >= 2).then_some(a)
    });
    // Every line has been read once the lines counter says so; then no third alert may exist.
    wait_for(20, "all 29 lines to be read", || {
        let (_, m) = d.get("/metrics");
        m.contains("ironpost_log_source_received_total{source=\"file\"} 29")
            .then_some(())
    });
    let got = if got.len() == 2 { alerts(&d) } else { got };
    let mut ips: Vec<String> = got
        .iter()
        .map(|a| a["entities"]["src_ip"].as_str().unwrap().to_owned())
        .collect();
    ips.sort();
    assert_eq!(ips, ["198.18.6.1", "198.18.6.3"]);
    // The alert carries the log time of the line that crossed the threshold.
    let a1 = got
        .iter()
        .find(|a| a["entities"]["src_ip"] == "198.18.6.1")
        .unwrap();
    assert!(
        a1["timestamp"].as_str().unwrap().contains("-11-20T"),
        "{a1}"
    );
}

#[test]
fn reload_with_a_broken_rule_keeps_the_running_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let rules_path = std::path::PathBuf::from(&rules);
    let d = Daemon::start_in(
        dir,
        &["--defaults"],
        &[
            ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_SOURCES", "syslog_udp"),
            ("IRONPOST_LOG_PIPELINE_SYSLOG_BIND", &bind),
            ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules),
        ],
    );
    std::fs::write(
        rules_path.join("broken.yaml"),
        "id: broken\ntitle: [unclosed\n",
    )
    .unwrap();
    let o = run(d.cli().args(["reload", "--output", "json"]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert!(errors[0].as_str().unwrap().contains("broken.yaml"), "{v}");
    // The seed rule still works.
    let five = "Failed password for root from 198.18.5.20 port 1 ssh2\n".repeat(5);
    logger(
        &[
            "--rfc3164",
            "-d",
            "-n",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-t",
            "sshd",
        ],
        &five,
    );
    wait_for(
        20,
        "the seed rule's alert after the rejected reload",
        || (!alerts(&d).is_empty()).then_some(()),
    );
}

#[test]
fn two_pipelines_sharing_redis_raise_one_alert() {
    let redis = std::env::var("IRONPOST_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // An attacker address unique to this run: Redis remembers alerts for the dedup window.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let ip = format!("198.18.{}.{}", 100 + nanos % 100, 1 + (nanos / 100) % 250);
    let mut daemons = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules_dir(dir.path());
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        daemons.push(Daemon::start_in(
            dir,
            &["--defaults"],
            &[
                ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
                ("IRONPOST_LOG_PIPELINE_SOURCES", "syslog_udp"),
                ("IRONPOST_LOG_PIPELINE_SYSLOG_BIND", &bind),
                ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules),
                ("IRONPOST_LOG_PIPELINE_STORAGE_REDIS_URL", &redis),
            ],
        ));
        ports.push(port);
    }
    for d in &daemons {
        let (_, h) = d.get("/health");
        assert!(
            !h.contains("kept in memory"),
            "Redis unreachable ({redis}; scripts/services.sh start redis): {h}"
        );
    }
    // Both pipelines see the same five failures (as two nodes behind one load balancer would).
    let five = format!("Failed password for root from {ip} port 1 ssh2\n").repeat(5);
    for p in &ports {
        logger(
            &[
                "--rfc3164",
                "-d",
                "-n",
                "127.0.0.1",
                "-P",
                &p.to_string(),
                "-t",
                "sshd",
            ],
            &five,
        );
    }
    // Every line is processed by both; then a clean stop drains every alert into the stores.
    for d in &daemons {
        wait_for(20, "both pipelines to parse their five lines", || {
            let (_, m) = d.get("/metrics");
            m.contains("ironpost_log_parsed_total{format=\"rfc3164\"} 5")
                .then_some(())
        });
    }
    for d in &mut daemons {
        assert!(d.stop().success(), "{}", d.log());
    }
    let total: usize = daemons
        .iter()
        .map(|d| {
            alerts(d)
                .iter()
                .filter(|a| a["entities"]["src_ip"] == ip.as_str())
                .count()
        })
        .sum();
    assert_eq!(total, 1, "one alert across both pipelines");
}

/// One auth.log line with a unique pid.
fn closed_line(i: usize) -> String {
    format!(
        "Nov 20 10:{:02}:{:02} web1 sshd[{i}]: Connection closed by 198.18.{}.{} port {} [preauth]\n",
        (i / 60) % 60,
        i % 60,
        i % 200,
        1 + i % 250,
        1024 + i % 60000
    )
}

#[test]
fn kill_9_mid_file_then_restart_processes_every_line_and_counts_replays() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let log = dir.path().join("big.log");
    std::fs::write(&log, "").unwrap();
    // The log keeps growing (2,000 lines every 10 ms) until the daemon has been killed, so the
    // kill always lands mid-file, whatever the machine's speed.
    let writer = GrowingLog::start(&log, 2000, closed_line);
    let log_s = log.display().to_string();
    let checkpoints = dir.path().join("data/log_pipeline/checkpoints.json");
    let env: Vec<(&str, &str)> = vec![
        ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
        ("IRONPOST_LOG_PIPELINE_SOURCES", "file"),
        ("IRONPOST_LOG_PIPELINE_WATCH_PATHS", &log_s),
        ("IRONPOST_LOG_PIPELINE_FILE_START_AT", "beginning"),
        ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules),
    ];
    let mut d = Daemon::start_in(dir, &["--defaults"], &env);
    // Kill -9 once a checkpoint has been written.
    let committed_before_kill = wait_for(60, "a first checkpoint", || {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&checkpoints).ok()?).ok()?;
        let c = v.as_array()?.first()?[1]["committed"].as_u64()?;
        (c > 0).then_some(c)
    });
    d.signal("KILL");
    let mut child = d.child.take().unwrap();
    child.wait().unwrap();
    let total = writer.stop();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoints).unwrap()).unwrap();
    let entry = &v.as_array().unwrap()[0][1];
    let (committed, read) = (
        entry["committed"].as_u64().unwrap(),
        entry["read"].as_u64().unwrap(),
    );
    assert!(committed >= committed_before_kill && read >= committed);
    let data = std::fs::read(&log).unwrap();
    let lines_before = |offset: u64| {
        data[..offset as usize]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    };
    let (committed_lines, read_lines) = (lines_before(committed), lines_before(read));
    assert!(
        committed_lines < total,
        "killed before the end of the file ({committed_lines} of {total})"
    );

    // Restart on the same data dir (the PID file of the killed daemon is stale and taken over).
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let d2 = Daemon::start_in(dir, &["--defaults"], &env);
    let expected = (total - committed_lines) as u64;
    let body = wait_for(120, "the rest of the file after the restart", || {
        let (_, m) = d2.get("/metrics");
        (metric_sum(&m, "ironpost_log_parsed_total") >= expected).then_some(m)
    });
    // Every line after the committed checkpoint, exactly once: nothing lost, nothing skipped.
    assert_eq!(metric_sum(&body, "ironpost_log_parsed_total"), expected);
    // Lines read before the kill but not committed come again, and are counted as replayed.
    assert_eq!(
        metric_sum(&body, "ironpost_log_source_replayed_total"),
        (read_lines - committed_lines) as u64
    );
}
