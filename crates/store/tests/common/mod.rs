//! Shared pieces of the store's integration tests: fully populated events, a throw-away PostgreSQL
//! database per test, metric reading, and the scenarios both backends must pass.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use ironpost_core::config::StorageConfig;
use ironpost_core::metrics::{new_registry, prometheus::Registry, render};
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, AlertEvent, AlertSource, ContainerRef, Entities,
    EventId, Evidence, LogEvent, Module, PackageRef, PacketAction, PacketEvent, Protocol, Severity,
};
use ironpost_store::{ActionQuery, AlertQuery, LogQuery, PacketQuery, Store, StoreReader};

pub(crate) const DEFAULT_PG_URL: &str =
    "postgresql://ironpost_test:ironpost_test@127.0.0.1:5432/ironpost_test";

/// The databases store microseconds; events built here are truncated to match.
pub(crate) fn now_us() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn entities() -> Entities {
    Entities {
        src_ip: Some("198.18.5.2".parse().expect("ip")),
        src_port: Some(u16::MAX),
        dst_ip: Some("2001:db8::1".parse().expect("ip")),
        dst_port: Some(22),
        protocol: Some(Protocol::Other(47)),
        user: Some("root".into()),
        hostname: Some("web-1.example".into()),
        container: Some(ContainerRef {
            id: Some("a".repeat(64)),
            name: Some("web-1".into()),
        }),
        package: Some(PackageRef {
            ecosystem: "crates.io".into(),
            name: "time".into(),
            version: "0.1.43".into(),
            advisory_id: Some("RUSTSEC-2020-0071".into()),
        }),
    }
}

/// An alert with every field set.
pub(crate) fn full_alert(at: DateTime<Utc>, severity: Severity) -> AlertEvent {
    let mut a = AlertEvent::new(
        AlertSource::LogPipeline,
        "ssh_brute_force",
        "SSH brute force from 198.18.5.2",
        severity,
    );
    a.timestamp = at;
    a.description = "12 failed logins in 60 s — ünïcödé and 'quotes'".into();
    a.entities = entities();
    a.tags = vec!["T1110".into(), "auth".into()];
    a.severity_note = Some("raised: target runs a vulnerable package".into());
    a.evidence = Evidence::Verified;
    a
}

/// An alert with only the required fields.
pub(crate) fn minimal_alert(at: DateTime<Utc>, severity: Severity) -> AlertEvent {
    let mut a = AlertEvent::new(AlertSource::External, "r1", "t", severity);
    a.timestamp = at;
    a
}

/// An action for `alert` with every field set.
pub(crate) fn full_action(alert: &AlertEvent, at: DateTime<Utc>) -> ActionEvent {
    let mut act = ActionEvent::for_alert(
        alert,
        ActionType::ContainerNetworkDisconnect,
        ActionOutcome::Failure,
    );
    act.timestamp = at;
    act.target = Entities {
        src_ip: Some("198.18.5.2".parse().expect("ip")),
        container: Some(ContainerRef {
            id: None,
            name: Some("web-1".into()),
        }),
        ..Entities::default()
    };
    act.attempt = 3;
    act.error = Some("docker: no such network".into());
    act.detail = "policy isolate-on-brute-force, networks [bridge]".into();
    act
}

pub(crate) fn manual_action(at: DateTime<Utc>) -> ActionEvent {
    let mut act = ActionEvent::manual(ActionType::IpUnblock, ActionOutcome::DryRun, Severity::Low);
    act.timestamp = at;
    act
}

pub(crate) fn full_packet(at: DateTime<Utc>) -> PacketEvent {
    let mut p = PacketEvent::new(
        "198.18.5.2".parse().expect("ip"),
        "198.18.5.1".parse().expect("ip"),
        Protocol::Tcp,
        PacketAction::Drop,
    );
    p.timestamp = at;
    p.severity = Severity::Medium;
    p.src_port = Some(40_000);
    p.dst_port = Some(22);
    p.tcp_flags = Some(0x12);
    p.length = u32::MAX;
    p.rule_id = Some("block-ssh-scanners".into());
    p
}

pub(crate) fn minimal_packet(at: DateTime<Utc>) -> PacketEvent {
    let ip: IpAddr = "::1".parse().expect("ip");
    let mut p = PacketEvent::new(ip, ip, Protocol::Other(255), PacketAction::Monitor);
    p.timestamp = at;
    p
}

pub(crate) fn full_log(at: DateTime<Utc>) -> LogEvent {
    let mut l = LogEvent::new(
        "file:/var/log/auth.log",
        "Failed password for root from 198.18.5.2 port 4242 ssh2",
    );
    l.timestamp = at;
    l.severity = Severity::Low;
    l.process = Some("sshd".into());
    l.pid = Some(u32::MAX);
    l.entities = entities();
    l.fields = BTreeMap::from([
        ("outcome".into(), "failure".into()),
        ("method".into(), "password".into()),
    ]);
    l
}

pub(crate) fn minimal_log(at: DateTime<Utc>) -> LogEvent {
    let mut l = LogEvent::new("syslog_udp:127.0.0.1:514", "");
    l.timestamp = at;
    l
}

/// The value of one sample in the registry's text rendering, e.g.
/// `metric(&r, "ironpost_store_records_written_total{kind=\"alert\"}")`. 0 when absent.
pub(crate) fn metric(registry: &Registry, sample: &str) -> f64 {
    let text = render(registry);
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("numeric sample"))
}

pub(crate) fn written(registry: &Registry, kind: &str) -> f64 {
    metric(
        registry,
        &format!("ironpost_store_records_written_total{{kind=\"{kind}\"}}"),
    )
}

/// Polls `cond` until it holds. The long deadline only turns a hang into a failure; no test
/// depends on how fast anything happens.
pub(crate) async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn sqlite_config() -> StorageConfig {
    StorageConfig {
        retention_days: 0,
        write_flush: Duration::from_millis(20),
        ..StorageConfig::default()
    }
}

pub(crate) fn pg_config(url: &str) -> StorageConfig {
    StorageConfig {
        postgres_url: Some(url.to_owned()),
        ..sqlite_config()
    }
}

pub(crate) fn admin_url() -> String {
    std::env::var("IRONPOST_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `url` with its database name replaced.
fn with_dbname(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is required for this test but {url} is not reachable ({e}). \
             Start it with `scripts/services.sh start postgres`, or point IRONPOST_TEST_PG_URL at a server \
             where the role may CREATE DATABASE."
        )
    });
    tokio::spawn(conn);
    client
}

/// A database of its own for one test (`ironpost_t_<random>`), dropped when this is dropped.
pub(crate) struct TestDb {
    pub(crate) url: String,
    name: String,
    admin: String,
}

impl TestDb {
    pub(crate) async fn create() -> TestDb {
        let admin = admin_url();
        let name = format!("ironpost_t_{}", uuid::Uuid::new_v4().simple());
        let client = admin_client(&admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        TestDb {
            url: with_dbname(&admin, &name),
            name,
            admin,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside async context: use a small runtime on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = admin_client(&admin).await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Every kind, fully populated and minimal, written through `Store` and read back through
/// `StoreReader` unchanged.
pub(crate) async fn round_trip(cfg: &StorageConfig, dir: &Path) {
    let registry = new_registry();
    let mut store = Store::open(cfg, dir, &registry).await.expect("open store");
    store.start().await.expect("start");
    let t = now_us() - chrono::Duration::hours(1);
    let sec = chrono::Duration::seconds;
    let alert = full_alert(t, Severity::High);
    let alert2 = minimal_alert(t + sec(1), Severity::Info);
    let action = full_action(&alert, t + sec(2));
    let manual = manual_action(t + sec(3));
    let packets = [full_packet(t), minimal_packet(t + sec(1))];
    let logs = [full_log(t), minimal_log(t + sec(1))];
    let w = store.writer();
    w.write(alert.clone()).await.expect("write");
    w.write(alert2.clone()).await.expect("write");
    w.write(action.clone()).await.expect("write");
    w.write(manual.clone()).await.expect("write");
    for p in &packets {
        w.write(p.clone()).await.expect("write");
    }
    for l in &logs {
        w.write(l.clone()).await.expect("write");
    }
    store.stop().await.expect("stop drains the queue");
    assert!(
        w.write(minimal_alert(t, Severity::Low)).await.is_err(),
        "writes after stop fail"
    );
    for kind in ["alert", "action", "packet", "log"] {
        assert_eq!(written(&registry, kind), 2.0, "{kind}");
    }

    let reader = StoreReader::open(cfg, dir).await.expect("open reader");
    assert_eq!(
        reader.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![alert2, alert]
    );
    assert_eq!(
        reader
            .actions(&ActionQuery::default())
            .await
            .expect("actions"),
        vec![manual, action]
    );
    let [p1, p2] = packets;
    assert_eq!(
        reader
            .packets(&PacketQuery::default())
            .await
            .expect("packets"),
        vec![p2, p1]
    );
    let [l1, l2] = logs;
    assert_eq!(
        reader.logs(&LogQuery::default()).await.expect("logs"),
        vec![l2, l1]
    );
}

/// `since`, `min_severity`, `limit`, `alert_id` and newest-first order.
pub(crate) async fn queries(cfg: &StorageConfig, dir: &Path) {
    let registry = new_registry();
    let mut store = Store::open(cfg, dir, &registry).await.expect("open store");
    store.start().await.expect("start");
    let t0 = now_us() - chrono::Duration::days(1);
    let at = |i: i64| t0 + chrono::Duration::minutes(i);
    let mut alerts: Vec<AlertEvent> = (0..10)
        .map(|i| minimal_alert(at(i), Severity::ALL[i as usize % Severity::ALL.len()]))
        .collect();
    // Two alerts with a source, a container and a class of evidence, for the filters.
    alerts[2] = full_alert(at(2), Severity::Low);
    alerts[6] = full_alert(at(6), Severity::Medium);
    alerts[6].evidence = Evidence::Spoofable;
    alerts[6].rule_id = "port_scan".into();
    let for3 = [
        full_action(&alerts[3], at(20)),
        full_action(&alerts[3], at(21)),
    ];
    let for5 = full_action(&alerts[5], at(22));
    let manual = manual_action(at(23));
    let w = store.writer();
    for a in &alerts {
        w.write(a.clone()).await.expect("write");
    }
    for act in for3.iter().chain([&for5, &manual]) {
        w.write(act.clone()).await.expect("write");
    }
    store.stop().await.expect("stop");

    let r = StoreReader::open(cfg, dir).await.expect("open reader");
    let newest_first: Vec<AlertEvent> = alerts.iter().rev().cloned().collect();
    let got = |q: AlertQuery| {
        let r = &r;
        async move { r.alerts(&q).await.expect("alerts") }
    };
    assert_eq!(got(AlertQuery::default()).await, newest_first);
    assert_eq!(
        got(AlertQuery {
            limit: 3,
            ..Default::default()
        })
        .await,
        newest_first[..3]
    );
    assert_eq!(
        got(AlertQuery {
            since: Some(at(5)),
            ..Default::default()
        })
        .await,
        newest_first[..5]
    );
    let severe: Vec<AlertEvent> = newest_first
        .iter()
        .filter(|a| a.severity >= Severity::High)
        .cloned()
        .collect();
    assert_eq!(severe.len(), 4);
    assert_eq!(
        got(AlertQuery {
            min_severity: Some(Severity::High),
            ..Default::default()
        })
        .await,
        severe
    );
    let only = |i: usize| vec![alerts[i].clone()];
    let q = |f: fn(&mut AlertQuery)| {
        let mut q = AlertQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(
        got(q(|q| q.evidence = Some(Evidence::Verified))).await,
        only(2)
    );
    assert_eq!(
        got(q(|q| q.evidence = Some(Evidence::Spoofable))).await,
        only(6)
    );
    assert_eq!(
        got(q(|q| q.evidence = Some(Evidence::Forgeable)))
            .await
            .len(),
        8
    );
    assert_eq!(
        got(q(|q| q.rule_id = Some("port_scan".into()))).await,
        only(6)
    );
    let both = vec![alerts[6].clone(), alerts[2].clone()];
    let src = entities().src_ip;
    assert_eq!(
        got(AlertQuery {
            src_ip: src,
            ..AlertQuery::default()
        })
        .await,
        both
    );
    assert_eq!(got(q(|q| q.container = Some("web-1".into()))).await, both);
    let id = entities()
        .container
        .and_then(|c| c.id)
        .expect("container id");
    assert_eq!(
        got(AlertQuery {
            container: Some(id[..12].to_owned()),
            ..AlertQuery::default()
        })
        .await,
        both
    );
    assert!(
        got(q(|q| q.container = Some("web".into())))
            .await
            .is_empty()
    );
    let q = AlertQuery {
        since: Some(at(4)),
        min_severity: Some(Severity::Medium),
        limit: 2,
        ..AlertQuery::default()
    };
    let expect: Vec<AlertEvent> = newest_first
        .iter()
        .filter(|a| a.timestamp >= at(4) && a.severity >= Severity::Medium)
        .take(2)
        .cloned()
        .collect();
    assert_eq!(expect.len(), 2);
    assert_eq!(got(q).await, expect);

    let acts = |q: ActionQuery| {
        let r = &r;
        async move { r.actions(&q).await.expect("actions") }
    };
    let [a0, a1] = for3;
    assert_eq!(
        acts(ActionQuery {
            alert_id: Some(alerts[3].id),
            ..Default::default()
        })
        .await,
        vec![a1.clone(), a0.clone()]
    );
    assert_eq!(
        acts(ActionQuery {
            alert_id: Some(alerts[5].id),
            ..Default::default()
        })
        .await,
        vec![for5.clone()]
    );
    assert!(
        acts(ActionQuery {
            alert_id: Some(EventId::new()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        acts(ActionQuery::default()).await,
        vec![manual.clone(), for5.clone(), a1.clone(), a0]
    );
    assert_eq!(
        acts(ActionQuery {
            since: Some(at(21)),
            limit: 2,
            ..Default::default()
        })
        .await,
        vec![manual, for5]
    );
}

/// Rows older than `retention_days` go, newer ones stay, for all four tables.
pub(crate) async fn retention(cfg: &StorageConfig, dir: &Path) {
    let old = now_us() - chrono::Duration::days(45);
    let new = now_us() - chrono::Duration::days(5);
    let old_alert = full_alert(old, Severity::High);
    let new_alert = full_alert(new, Severity::High);
    let keep = (
        new_alert.clone(),
        full_action(&new_alert, new),
        full_packet(new),
        full_log(new),
    );
    {
        let registry = new_registry();
        let cfg = StorageConfig {
            retention_days: 0,
            ..cfg.clone()
        };
        let mut store = Store::open(&cfg, dir, &registry).await.expect("open store");
        store.start().await.expect("start");
        let w = store.writer();
        w.write(old_alert.clone()).await.expect("write");
        w.write(full_action(&old_alert, old)).await.expect("write");
        w.write(full_packet(old)).await.expect("write");
        w.write(full_log(old)).await.expect("write");
        w.write(keep.0.clone()).await.expect("write");
        w.write(keep.1.clone()).await.expect("write");
        w.write(keep.2.clone()).await.expect("write");
        w.write(keep.3.clone()).await.expect("write");
        store.stop().await.expect("stop");
        assert_eq!(
            written(&registry, "alert") + written(&registry, "action"),
            4.0
        );
    }

    let registry = new_registry();
    let cfg = StorageConfig {
        retention_days: 30,
        ..cfg.clone()
    };
    let mut store = Store::open(&cfg, dir, &registry)
        .await
        .expect("reopen store");
    store.start().await.expect("start runs retention");
    let deleted = |kind: &str| {
        metric(
            &registry,
            &format!("ironpost_store_retention_deleted_total{{kind=\"{kind}\"}}"),
        )
    };
    let kinds = ["packet", "log", "alert", "action"];
    wait_until("retention deleted the old rows", || {
        kinds.iter().map(|k| deleted(k)).sum::<f64>() >= 4.0
    })
    .await;
    store.stop().await.expect("stop");
    for kind in kinds {
        assert_eq!(deleted(kind), 1.0, "{kind}");
    }

    let r = StoreReader::open(&cfg, dir).await.expect("open reader");
    assert_eq!(
        r.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![keep.0]
    );
    assert_eq!(
        r.actions(&ActionQuery::default()).await.expect("actions"),
        vec![keep.1]
    );
    assert_eq!(
        r.packets(&PacketQuery::default()).await.expect("packets"),
        vec![keep.2]
    );
    assert_eq!(
        r.logs(&LogQuery::default()).await.expect("logs"),
        vec![keep.3]
    );
}

/// One batch holding an action whose alert does not exist: the database refuses that record only.
pub(crate) async fn orphan_action_is_rejected_alone(cfg: &StorageConfig, dir: &Path) {
    let registry = new_registry();
    let mut store = Store::open(cfg, dir, &registry).await.expect("open store");
    let t = now_us();
    let alert = full_alert(t, Severity::Critical);
    let ghost = minimal_alert(t, Severity::Low);
    let orphan = full_action(&ghost, t);
    let action = full_action(&alert, t);
    let (packet, log) = (full_packet(t), full_log(t));
    // Queued before the writer starts, so the writer takes them as one batch.
    let w = store.writer();
    w.write(alert.clone()).await.expect("write");
    w.write(orphan).await.expect("write");
    w.write(action.clone()).await.expect("write");
    w.write(packet.clone()).await.expect("write");
    w.write(log.clone()).await.expect("write");
    store.start().await.expect("start");
    store.stop().await.expect("stop");
    assert_eq!(
        metric(&registry, "ironpost_store_batch_duration_seconds_count"),
        1.0,
        "one batch"
    );
    assert_eq!(metric(&registry, "ironpost_store_rejected_total"), 1.0);
    for kind in ["alert", "action", "packet", "log"] {
        assert_eq!(written(&registry, kind), 1.0, "{kind}");
    }

    let r = StoreReader::open(cfg, dir).await.expect("open reader");
    assert_eq!(
        r.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![alert]
    );
    assert_eq!(
        r.actions(&ActionQuery::default()).await.expect("actions"),
        vec![action]
    );
    assert_eq!(
        r.packets(&PacketQuery::default()).await.expect("packets"),
        vec![packet]
    );
    assert_eq!(r.logs(&LogQuery::default()).await.expect("logs"), vec![log]);
}

/// Fleet nodes: local rows carry the store's node name, remote ones (`Record::Remote`) their
/// own; the same remote record written twice (a redelivered message) is stored once and both
/// acknowledgement tokens resolve as delivered; `node` filters both tables; the node-less
/// queries are unchanged.
pub(crate) async fn nodes(cfg: &StorageConfig, dir: &Path) {
    use ironpost_core::ack::{Ack, Status};
    use ironpost_store::{Record, Remote, RemoteEvent};
    let registry = new_registry();
    let mut store = Store::open(cfg, dir, &registry).await.expect("open store");
    store.set_node("central");
    store.start().await.expect("start");
    let t = now_us() - chrono::Duration::hours(1);
    let sec = chrono::Duration::seconds;
    let local = full_alert(t, Severity::High);
    let remote = minimal_alert(t + sec(1), Severity::Low);
    let remote_action = full_action(&remote, t + sec(2));
    let w = store.writer();
    w.write(local.clone()).await.expect("write");
    let mut statuses = Vec::new();
    let mut remote_record = |event: RemoteEvent| {
        let (ack, status) = Ack::new();
        statuses.push(status);
        Record::Remote(Remote {
            node: "edge-a".into(),
            event,
            ack,
        })
    };
    let beat = |at: DateTime<Utc>, blocks: u32| {
        RemoteEvent::Heartbeat(ironpost_store::Heartbeat {
            at,
            report: serde_json::json!({"node": "edge-a", "blocks": blocks}),
        })
    };
    let twice = [
        remote_record(RemoteEvent::Alert(remote.clone())),
        remote_record(RemoteEvent::Action(remote_action.clone())),
        remote_record(RemoteEvent::Alert(remote.clone())),
        // A newer heartbeat replaces the row; an older one (redelivered late) changes nothing.
        remote_record(beat(t, 1)),
        remote_record(beat(t + sec(10), 2)),
        remote_record(beat(t + sec(5), 3)),
    ];
    for r in twice {
        w.write(r).await.expect("write");
    }
    store.stop().await.expect("stop");
    for s in &statuses {
        assert_eq!(s.get(), Status::Delivered);
    }

    let reader = StoreReader::open(cfg, dir).await.expect("open reader");
    let all = reader
        .alerts_with_node(&AlertQuery::default())
        .await
        .expect("alerts");
    assert_eq!(
        all,
        vec![
            ("edge-a".to_owned(), remote.clone()),
            ("central".to_owned(), local.clone())
        ]
    );
    assert_eq!(
        reader.alert_with_node(remote.id).await.expect("alert"),
        Some(("edge-a".to_owned(), remote.clone()))
    );
    assert_eq!(
        reader.alert_with_node(local.id).await.expect("alert"),
        Some(("central".to_owned(), local.clone()))
    );
    assert_eq!(
        reader
            .alert_with_node(ironpost_core::EventId::new())
            .await
            .expect("alert"),
        None
    );
    let only = |n: &str| AlertQuery {
        node: Some(n.into()),
        ..AlertQuery::default()
    };
    assert_eq!(
        reader.alerts(&only("edge-a")).await.expect("alerts"),
        vec![remote.clone()]
    );
    assert_eq!(
        reader.alerts(&only("central")).await.expect("alerts"),
        vec![local.clone()]
    );
    assert!(
        reader
            .alerts(&only("nobody"))
            .await
            .expect("alerts")
            .is_empty()
    );
    assert_eq!(
        reader.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![remote, local]
    );
    let acts = reader
        .actions_with_node(&ActionQuery {
            node: Some("edge-a".into()),
            ..ActionQuery::default()
        })
        .await
        .expect("actions");
    assert_eq!(acts, vec![("edge-a".to_owned(), remote_action)]);
    assert_eq!(
        reader.nodes().await.expect("nodes"),
        vec![(
            "edge-a".to_owned(),
            t + sec(10),
            serde_json::json!({"node": "edge-a", "blocks": 2})
        )]
    );
    assert!(
        reader
            .actions(&ActionQuery {
                node: Some("central".into()),
                ..ActionQuery::default()
            })
            .await
            .expect("actions")
            .is_empty()
    );
}
