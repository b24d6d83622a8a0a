//! Thresholds, dedup, rate limit and bounded state, on the records' own time and on an injected
//! clock — no sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ironpost_core::event::AlertSource;
use ironpost_core::severity::Severity;
use ironpost_log_pipeline::rules::{
    AlertCounters, Alerter, AlertingConfig, ManualClock, Rule, RuleSet, SystemClock, load_file,
    load_str,
};
use ironpost_log_pipeline::{MapFields, ParseContext, parse};

/// 2020-03-01T00:00:00Z: far in the past, so "now" never leaks into a verdict.
const T0: i64 = 1_583_020_800_000_000;
const SEC: i64 = 1_000_000;

fn seed_rule() -> Rule {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/ssh_brute_force.yaml");
    let mut loaded = load_file(&path);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.rules.remove(0)
}

fn rule(yaml: &str) -> Rule {
    let mut loaded = load_str(yaml, None);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.rules.remove(0)
}

/// An sshd failure from `ip` at `secs` after T0 (`None`: no timestamp in the record).
fn failure(ip: &str, secs: Option<i64>) -> MapFields {
    MapFields {
        message: format!("Failed password for root from {ip} port 4242 ssh2"),
        timestamp_micros: secs.map(|s| T0 + s * SEC),
        fields: vec![
            ("process".into(), "sshd".into()),
            ("src_ip".into(), ip.into()),
            ("user".into(), "root".into()),
            ("port".into(), "4242".into()),
            ("hostname".into(), "web-1".into()),
        ],
    }
}

fn alerter(config: AlertingConfig) -> Alerter {
    Alerter::in_memory(config, Arc::new(SystemClock))
}

/// Feeds failures `(ip, secs)`; returns the indices of the records that raised an alert.
fn feed(a: &mut Alerter, rule: &Rule, hits: &[(&str, i64)]) -> Vec<usize> {
    hits.iter()
        .enumerate()
        .filter_map(|(i, (ip, t))| a.observe(rule, &failure(ip, Some(*t))).map(|_| i))
        .collect()
}

#[test]
fn seed_threshold_fires_on_the_fifth_failure_within_a_minute() {
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig::default());
    for t in 0..4 {
        assert!(
            a.observe(&rule, &failure("198.51.100.7", Some(t * 10)))
                .is_none()
        );
    }
    let alert = a
        .observe(&rule, &failure("198.51.100.7", Some(40)))
        .expect("fifth failure alerts");
    assert_eq!(alert.rule_id, "ssh_brute_force");
    assert_eq!(alert.title, "SSH Brute Force Attack");
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(alert.source, AlertSource::LogPipeline);
    assert_eq!(alert.tags, ["attack.credential_access", "T1110"]);
    // The alert is dated by the record, not by when it was processed.
    assert_eq!(
        alert.timestamp,
        Utc.timestamp_opt(T0 / SEC + 40, 0).single().expect("valid")
    );
    assert_eq!(
        alert.entities.src_ip,
        Some("198.51.100.7".parse().expect("ip"))
    );
    assert_eq!(alert.entities.user.as_deref(), Some("root"));
    assert_eq!(alert.entities.src_port, Some(4242));
    assert_eq!(alert.entities.hostname.as_deref(), Some("web-1"));
    assert!(
        alert
            .description
            .starts_with("Multiple failed SSH login attempts from same IP"),
        "{}",
        alert.description
    );
    assert!(
        alert
            .description
            .contains("5 matches within 60 s for src_ip=198.51.100.7"),
        "{}",
        alert.description
    );
    assert_eq!(
        a.counters(),
        AlertCounters {
            matches: 5,
            alerts: 1,
            below_threshold: 4,
            ..Default::default()
        }
    );
}

#[test]
fn window_is_on_record_time() {
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig::default());
    // Six failures 20 s apart: never five inside 60 s.
    let hits: Vec<(&str, i64)> = (0..6).map(|i| ("198.51.100.7", i * 20)).collect();
    assert!(feed(&mut a, &rule, &hits).is_empty());
    // Five inside exactly 60 s (inclusive window) fire.
    let hits: Vec<(&str, i64)> = (0..5).map(|i| ("198.51.100.8", 1000 + i * 15)).collect();
    assert_eq!(feed(&mut a, &rule, &hits), [4]);
}

#[test]
fn groups_are_independent() {
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig::default());
    let mut hits = Vec::new();
    for t in 0..4 {
        hits.push(("198.51.100.1", t));
        hits.push(("198.51.100.2", t));
    }
    hits.push(("198.51.100.2", 5));
    assert_eq!(feed(&mut a, &rule, &hits), [8]);
}

#[test]
fn out_of_order_within_tolerance_counts_and_beyond_is_late() {
    let rule = seed_rule();
    let config = AlertingConfig {
        out_of_order: Duration::from_secs(30),
        ..Default::default()
    };
    let mut a = alerter(config.clone());
    let hits = [
        ("198.51.100.7", 100),
        ("198.51.100.7", 120),
        ("198.51.100.7", 105),
        ("198.51.100.7", 130),
        ("198.51.100.7", 110),
    ];
    assert_eq!(feed(&mut a, &rule, &hits), [4]);

    let mut a = alerter(config);
    let hits = [
        ("198.51.100.7", 200),
        ("198.51.100.7", 160),
        ("198.51.100.7", 201),
    ];
    assert!(feed(&mut a, &rule, &hits).is_empty());
    assert_eq!(a.counters().late, 1);
    assert_eq!(a.counters().below_threshold, 2);
}

#[test]
fn dedup_window_suppresses_repeats_of_the_same_group() {
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig {
        dedup_window: Duration::from_secs(300),
        ..Default::default()
    });
    let burst = |start: i64| {
        (0..5)
            .map(move |i| ("198.51.100.7", start + i))
            .collect::<Vec<_>>()
    };
    assert_eq!(feed(&mut a, &rule, &burst(0)), [4]);
    // Threshold reached again 100 s later: same group inside the dedup window.
    assert!(feed(&mut a, &rule, &burst(100)).is_empty());
    assert_eq!(a.counters().deduplicated, 1);
    // Another group is not affected.
    assert_eq!(
        feed(
            &mut a,
            &rule,
            &[
                ("198.51.100.9", 101),
                ("198.51.100.9", 102),
                ("198.51.100.9", 103),
                ("198.51.100.9", 104),
                ("198.51.100.9", 105)
            ]
        ),
        [4]
    );
    // Past the window: alerts again.
    assert_eq!(feed(&mut a, &rule, &burst(400)), [4]);
    assert_eq!(a.counters().alerts, 3);
}

const EVERY_FAILURE: &str = "\
id: every_failure
title: Every failure
severity: low
detection:
  conditions:
    - {field: message, operator: contains, value: Failed password}
";

#[test]
fn rate_limit_per_rule_per_minute() {
    let rule = rule(EVERY_FAILURE);
    let mut a = alerter(AlertingConfig {
        dedup_window: Duration::ZERO,
        rate_limit_per_min: 3,
        ..Default::default()
    });
    let hits: Vec<(&str, i64)> = (0..5).map(|i| ("198.51.100.7", i)).collect();
    assert_eq!(feed(&mut a, &rule, &hits), [0, 1, 2]);
    assert_eq!(a.counters().rate_limited, 2);
    // Next minute of record time: budget renewed.
    assert_eq!(feed(&mut a, &rule, &[("198.51.100.7", 61)]), [0]);
}

#[test]
fn rule_without_group_by_dedups_as_one_group() {
    let rule = rule(EVERY_FAILURE);
    let mut a = alerter(AlertingConfig::default());
    let hits = [
        ("198.51.100.1", 0),
        ("198.51.100.2", 1),
        ("198.51.100.3", 299),
        ("198.51.100.4", 300),
    ];
    assert_eq!(feed(&mut a, &rule, &hits), [0, 3]);
}

#[test]
fn state_is_bounded_and_evictions_counted() {
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig {
        max_groups: 64,
        ..Default::default()
    });
    for i in 0..1000 {
        let ip = format!("198.51.{}.{}", i / 256, i % 256);
        assert!(a.observe(&rule, &failure(&ip, Some(i))).is_none());
    }
    let stats = a.state_stats();
    assert!(stats.groups <= 64, "{stats:?}");
    assert_eq!(stats.evictions, 1000 - stats.groups as u64);
    // A recently seen group keeps its count through evictions.
    let hits: Vec<(&str, i64)> = (0..4).map(|i| ("198.51.3.231", 1000 + i)).collect();
    assert_eq!(feed(&mut a, &rule, &hits), [3]);
}

#[test]
fn arrival_time_from_the_clock_without_timestamps() {
    let rule = seed_rule();
    let clock = Arc::new(ManualClock::new(T0));
    let mut a = Alerter::in_memory(AlertingConfig::default(), clock.clone());
    for _ in 0..4 {
        assert!(a.observe(&rule, &failure("198.51.100.7", None)).is_none());
        clock.advance(Duration::from_secs(20));
    }
    // Hits at 0, 20, 40, 60, 80 s of arrival time: never five within 60 s.
    assert!(a.observe(&rule, &failure("198.51.100.7", None)).is_none());
    clock.advance(Duration::from_secs(5));
    assert!(a.observe(&rule, &failure("198.51.100.7", None)).is_none());
    clock.advance(Duration::from_secs(1));
    // 40, 60, 80, 85, 86: five within 60 s.
    let alert = a
        .observe(&rule, &failure("198.51.100.7", None))
        .expect("5 within 60 s");
    assert_eq!(alert.timestamp.timestamp_micros(), T0 + 86 * SEC);
}

#[test]
fn test_status_rules_never_alert_and_missing_groups_are_counted() {
    let test_rule = rule(
        "id: trial\ntitle: Trial\nseverity: low\nstatus: test\ndetection:\n  conditions: [{field: message, operator: contains, value: Failed}]\n",
    );
    let mut a = alerter(AlertingConfig::default());
    assert!(
        a.observe(&test_rule, &failure("198.51.100.7", Some(0)))
            .is_none()
    );
    assert_eq!(a.counters().test_only, 1);

    let by_user = rule(
        "id: by_host\ntitle: By host\nseverity: low\ndetection:\n  conditions: [{field: message, operator: contains, value: Failed}]\n  threshold: {count: 1, timeframe_secs: 60, group_by: [hostname, pid]}\n",
    );
    assert!(
        a.observe(&by_user, &failure("198.51.100.7", Some(0)))
            .is_none()
    );
    assert_eq!(a.counters().missing_group_field, 1);
}

/// fail2ban's defaults (maxretry 5, findtime 600 s) replayed on last year's log: the verdicts
/// depend only on the lines' timestamps.
#[test]
fn replay_gives_fail2ban_verdicts() {
    let rule = rule(
        "id: f2b\ntitle: sshd maxretry\nseverity: high\ndetection:\n  conditions: [{field: message, operator: contains, value: Failed password}]\n  threshold: {count: 5, timeframe: 10m, group_by: src_ip}\n",
    );
    let mut a = alerter(AlertingConfig::default());
    let mut hits = Vec::new();
    // A: 5 failures within 9 minutes -> banned. B: 5 failures over 11 minutes -> not.
    for i in 0..5 {
        hits.push(("203.0.113.1", i * 135));
        hits.push(("203.0.113.2", i * 165));
    }
    hits.sort_by_key(|h| h.1);
    let fired: Vec<&str> = feed(&mut a, &rule, &hits)
        .into_iter()
        .map(|i| hits[i].0)
        .collect();
    assert_eq!(fired, ["203.0.113.1"]);
}

#[test]
fn config_section_rejects_unknown_keys() {
    let cfg: AlertingConfig = toml::from_str(
        "dedup_window_secs = 60\nrate_limit_per_min = 10\nmax_groups = 5\nout_of_order_secs = 5\n",
    )
    .expect("parses");
    assert_eq!(cfg.dedup_window, Duration::from_secs(60));
    assert_eq!(cfg.out_of_order, Duration::from_secs(5));
    assert!(toml::from_str::<AlertingConfig>("dedup_windows_secs = 60").is_err());
}

/// The seed's own example line, parsed by the crate's parser: the rule matches, the parser's
/// typed `src_ip`/`port` group and fill the alert, and the line's time dates it.
#[test]
fn seed_rule_on_parsed_syslog_lines() {
    let set = RuleSet::compile(vec![seed_rule()]).expect("compiles");
    let ctx = ParseContext::new(T0, 0);
    let mut a = alerter(AlertingConfig::default());
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    let ips = [100, 101, 100, 100, 101, 100, 101, 100];
    for (i, ip) in ips.iter().enumerate() {
        let ip = format!("192.168.1.{ip}");
        let line = format!(
            "<34>1 2024-02-09T10:30:{i:02}Z host sshd - - - Failed password for root from {ip} port 22 ssh2"
        );
        let rec = parse(line.as_bytes(), &ctx);
        set.matches(&rec, &mut out);
        assert_eq!(out.len(), 1, "{line}");
        alerts.extend(out.iter().filter_map(|rule| a.observe(rule, &rec)));
    }
    // .100 reaches five failures on its fifth line (the 8th overall); .101 has three.
    let [alert] = alerts.as_slice() else {
        panic!("{alerts:#?}")
    };
    assert_eq!(
        alert.entities.src_ip,
        Some("192.168.1.100".parse().expect("ip"))
    );
    assert_eq!(alert.entities.src_port, Some(22));
    assert_eq!(alert.entities.hostname.as_deref(), Some("host"));
    assert_eq!(alert.timestamp.to_rfc3339(), "2024-02-09T10:30:07+00:00");
}

/// Forged and genuine lines never add up: the evidence class is part of the threshold, dedup
/// and rate keys, and the alert carries the class of the records that raised it.
#[test]
fn evidence_classes_never_mix() {
    use ironpost_core::Evidence;
    let rule = seed_rule();
    let mut a = alerter(AlertingConfig {
        rate_limit_per_min: 1,
        ..AlertingConfig::default()
    });
    let ctx = ParseContext::new(T0, 0);
    let line = |i: i64| {
        format!(
            "<38>1 2020-03-01T00:00:{i:02}Z gw sshd 1 - - Failed password for root from 198.51.100.9 port 4242 ssh2"
        )
    };
    let mut observe = |i: i64, e: Evidence| {
        let l = line(i);
        let mut rec = parse(l.as_bytes(), &ctx);
        rec.evidence = e;
        a.observe(&rule, &rec)
    };
    // Four forged and one genuine within the window: five matches, but no class has five.
    for i in 0..4 {
        assert!(observe(i, Evidence::Forgeable).is_none());
    }
    assert!(observe(4, Evidence::Verified).is_none());
    // The fifth forged line: a forgeable alert, saying so.
    let forged = observe(5, Evidence::Forgeable).expect("five forged lines");
    assert_eq!(forged.evidence, Evidence::Forgeable);
    assert!(
        forged.description.contains("evidence: forgeable"),
        "{}",
        forged.description
    );
    // More forged lines have spent the forgeable budget (1 per minute) and are deduplicated;
    // neither touches the verified group, which alerts on its own fifth line.
    for i in 6..9 {
        assert!(observe(i, Evidence::Forgeable).is_none());
    }
    for i in 9..12 {
        assert!(observe(i, Evidence::Verified).is_none());
    }
    let genuine = observe(12, Evidence::Verified).expect("five genuine lines");
    assert_eq!(genuine.evidence, Evidence::Verified);
    assert!(
        genuine.description.contains("evidence: verified"),
        "{}",
        genuine.description
    );
    assert_eq!(
        genuine.entities.src_ip,
        Some("198.51.100.9".parse().unwrap())
    );
}
