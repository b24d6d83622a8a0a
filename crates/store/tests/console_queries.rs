//! The web console's read-only queries (`StoreReader::alert`, `alerts_from`, `trace_evidence`,
//! `alert_overview`, `rule_activity`) on both backends: SQLite and the real PostgreSQL of
//! `scripts/services.sh` (a database of its own).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ironpost_core::config::StorageConfig;
use ironpost_core::metrics::new_registry;
use ironpost_core::{AlertEvent, AlertSource, EventId, Module, Severity};
use ironpost_store::{Store, StoreReader};

async fn console_queries(cfg: &StorageConfig, dir: &Path) {
    let mut store = Store::open(cfg, dir, &new_registry())
        .await
        .expect("open store");
    store.start().await.expect("start");
    let now = now_us();
    // Hour buckets: two alerts 3 h ago (same hour), three 1 h ago, one 30 h ago (outside).
    let hour = |h: i64| {
        let t = (now - chrono::Duration::hours(h)).timestamp();
        chrono::DateTime::from_timestamp(t - t.rem_euclid(3600) + 60, 0).expect("time")
    };
    let mk = |at, sev, rule: &str, src: Option<&str>| {
        let mut a = minimal_alert(at, sev);
        a.rule_id = rule.into();
        a.entities.src_ip = src.map(|s| s.parse().expect("ip"));
        a
    };
    let mut alerts = vec![
        mk(
            hour(3),
            Severity::High,
            "ssh_brute_force",
            Some("198.18.1.1"),
        ),
        mk(hour(3), Severity::Low, "port_scan", Some("198.18.1.2")),
        mk(
            hour(1),
            Severity::High,
            "ssh_brute_force",
            Some("198.18.1.1"),
        ),
        mk(hour(1), Severity::Critical, "syn_flood", None),
        mk(
            hour(1),
            Severity::High,
            "ssh_brute_force",
            Some("198.18.1.1"),
        ),
        mk(
            now - chrono::Duration::hours(30),
            Severity::High,
            "old_rule",
            Some("198.18.1.9"),
        ),
    ];
    let mut sbom = minimal_alert(hour(2), Severity::Medium);
    sbom.source = AlertSource::Sbom;
    sbom.rule_id = "RUSTSEC-2023-0001".into();
    alerts.push(sbom.clone());
    // Evidence of the first alert's trace: a log line and a packet.
    let mut log = full_log(hour(3));
    log.trace_id = alerts[0].trace_id;
    let mut packet = full_packet(hour(3));
    packet.trace_id = alerts[0].trace_id;
    let w = store.writer();
    for a in &alerts {
        w.write(a.clone()).await.expect("write");
    }
    w.write(log.clone()).await.expect("write");
    w.write(packet.clone()).await.expect("write");
    store.stop().await.expect("stop");

    let r = StoreReader::open(cfg, dir).await.expect("reader");
    assert_eq!(
        r.alert(alerts[2].id).await.expect("alert"),
        Some(alerts[2].clone())
    );
    assert_eq!(r.alert(EventId::new()).await.expect("alert"), None);
    let found: Vec<AlertEvent> = r.alerts_from(AlertSource::Sbom, 0).await.expect("sbom");
    assert_eq!(found, vec![sbom]);
    let (logs, packets) = r
        .trace_evidence(alerts[0].trace_id, 10)
        .await
        .expect("evidence");
    assert_eq!((logs, packets), (vec![log], vec![packet]));

    let ov = r
        .alert_overview(
            now - chrono::Duration::hours(24),
            Duration::from_secs(3600),
            10,
        )
        .await
        .expect("overview");
    assert_eq!(ov.total, 6, "{ov:?}");
    assert_eq!(
        ov.by_severity,
        vec![
            (Severity::Critical, 1),
            (Severity::High, 3),
            (Severity::Medium, 1),
            (Severity::Low, 1)
        ]
    );
    assert_eq!(
        ov.top_sources,
        vec![
            ("198.18.1.1".parse().expect("ip"), 3),
            ("198.18.1.2".parse().expect("ip"), 1)
        ]
    );
    let start = |t: chrono::DateTime<chrono::Utc>| t - chrono::Duration::seconds(60);
    assert_eq!(
        ov.buckets,
        vec![
            (start(hour(3)), 2),
            (start(hour(2)), 1),
            (start(hour(1)), 3)
        ]
    );

    let rules = r.rule_activity(0).await.expect("rules");
    let names: Vec<(&str, u64)> = rules
        .iter()
        .map(|x| (x.rule_id.as_str(), x.alerts))
        .collect();
    assert_eq!(names[0], ("ssh_brute_force", 3), "{names:?}");
    assert!(
        names.contains(&("old_rule", 1)) && names.len() == 5,
        "{names:?}"
    );
    assert_eq!(rules[0].last_fired, hour(1));
}

#[tokio::test]
async fn console_queries_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    console_queries(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn console_queries_on_postgres() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    console_queries(&pg_config(&db.url), dir.path()).await;
}
