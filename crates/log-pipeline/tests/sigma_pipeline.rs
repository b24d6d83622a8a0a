//! A Sigma aggregation rule in the running pipeline (file source): it alerts once its count is
//! crossed within the timeframe, and groups dropped at `max_groups` are counted in
//! `log_alert_state_evictions_total`; a distinct count (`count(user) by src_ip`) on parsed lines.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use ironpost_core::{AlertEvent, Module, metrics};
use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use ironpost_log_pipeline::rules::AlertingConfig;
use tokio::sync::mpsc;

const RULE: &str = "title: SSH failures from one address
id: sigma-agg-e2e
logsource:
    product: linux
    service: sshd
detection:
    sel:
        - 'Failed password'
    timeframe: 10m
    condition: sel | count() by src_ip > 2
level: high
";

fn counter(reg: &metrics::prometheus::Registry, name: &str) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_counter().get_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_count_by_alerts_and_evictions_are_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("agg.yml"), RULE).unwrap();
    let log = dir.path().join("auth.log");
    let mut f = std::fs::File::create(&log).unwrap();
    // Three failures from .7 within a minute (count > 2: one alert), interleaved with single
    // failures from other addresses, which push groups out of a state of two.
    for (i, ip) in [
        "198.51.100.7",
        "203.0.113.1",
        "198.51.100.7",
        "203.0.113.2",
        "198.51.100.7",
        "203.0.113.3",
        "203.0.113.4",
    ]
    .iter()
    .enumerate()
    {
        writeln!(
            f,
            "Nov 20 10:00:{i:02} host1 sshd[812]: Failed password for root from {ip} port 4242 ssh2"
        )
        .unwrap();
    }
    drop(f);
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![log.clone()],
        rules_dir: rules,
        file_start_at: StartAt::Beginning,
        alerting: AlertingConfig {
            max_groups: 2,
            ..AlertingConfig::default()
        },
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, mut alerts) = mpsc::channel::<AlertEvent>(100);
    let (ltx, _logs) = mpsc::channel(100);
    let mut p = LogPipeline::new(
        cfg,
        dir.path().join("data"),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    p.start().await.unwrap();
    // 30 s: a bound on waiting, not a measurement.
    let alert = tokio::time::timeout(Duration::from_secs(30), alerts.recv())
        .await
        .expect("an alert within 30 s")
        .unwrap();
    assert_eq!(alert.rule_id, "sigma-agg-e2e");
    // Matches are counted as they happen, evictions when the worker finishes the batch: wait for
    // both.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counter(&registry, "ironpost_log_rule_matches_total") < 7.0
        || counter(&registry, "ironpost_log_alert_state_evictions_total") < 1.0
    {
        let evictions = counter(&registry, "ironpost_log_alert_state_evictions_total");
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all lines matched, or no eviction counted (evictions {evictions}), in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.stop().await.unwrap();
    // Only .7 crossed the count.
    assert!(alerts.try_recv().is_err());
}

const DISTINCT_RULE: &str = "title: Many accounts from one address
id: sigma-distinct-e2e
logsource:
    product: linux
    service: sshd
detection:
    sel:
        - 'Failed password'
    timeframe: 10m
    condition: sel | count(user) by src_ip > 2
level: high
";

/// `count(field) by` on parsed sshd lines: three accounts from one address alert, one account
/// mistyped six times from another does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_distinct_count_on_parsed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("distinct.yml"), DISTINCT_RULE).unwrap();
    let log = dir.path().join("auth.log");
    let mut f = std::fs::File::create(&log).unwrap();
    let lines: Vec<(&str, &str)> = (0..6)
        .map(|_| ("alice", "198.18.0.8"))
        .chain([
            ("root", "198.19.0.7"),
            ("admin", "198.19.0.7"),
            ("root", "198.19.0.7"),
            ("oracle", "198.19.0.7"),
        ])
        .collect();
    for (i, (user, ip)) in lines.iter().enumerate() {
        writeln!(
            f,
            "Nov 20 10:00:{i:02} host1 sshd[812]: Failed password for {user} from {ip} port 4242 ssh2"
        )
        .unwrap();
    }
    drop(f);
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![log.clone()],
        rules_dir: rules,
        file_start_at: StartAt::Beginning,
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, mut alerts) = mpsc::channel::<AlertEvent>(100);
    let (ltx, _logs) = mpsc::channel(100);
    let mut p = LogPipeline::new(
        cfg,
        dir.path().join("data"),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    p.start().await.unwrap();
    // 30 s: a bound on waiting, not a measurement.
    let alert = tokio::time::timeout(Duration::from_secs(30), alerts.recv())
        .await
        .expect("an alert within 30 s")
        .unwrap();
    assert_eq!(alert.rule_id, "sigma-distinct-e2e");
    assert_eq!(
        alert.entities.src_ip,
        Some("198.19.0.7".parse().unwrap()),
        "{alert:?}"
    );
    assert!(
        alert.description.contains("3 distinct user values"),
        "{}",
        alert.description
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counter(&registry, "ironpost_log_rule_matches_total") < 10.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all lines matched in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.stop().await.unwrap();
    // alice's six failures are one account.
    assert!(alerts.try_recv().is_err());
}
