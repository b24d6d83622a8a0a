//! `storage.when_full = "spill"` against a real SQLite file and the real PostgreSQL server: with the
//! writer stalled, records that find the queue full are spilled to disk (never waiting), their
//! tokens acknowledged once fsync'd; when the writer drains they are replayed exactly once and in
//! order (an alert before the action that references it); a spill left by a stopped store is
//! replayed at the next start; a full spill drops and counts.

mod common;

use std::time::Duration;

use common::*;
use ironpost_core::ack::{Ack, Status, StatusCell};
use ironpost_core::config::{StorageConfig, WhenFull};
use ironpost_core::metrics::new_registry;
use ironpost_core::metrics::prometheus::Registry;
use ironpost_core::{Health, Module, Severity};
use ironpost_store::{ActionQuery, AlertQuery, Store, StoreReader, StoreWriter};

const N: usize = 120;

fn spill_config(base: StorageConfig) -> StorageConfig {
    StorageConfig {
        queue_capacity: 4,
        write_batch_size: 2,
        when_full: WhenFull::Spill,
        ..base
    }
}

/// Hides the `alerts` table from the writer (another connection renames it): every batch fails
/// and is retried, so the writer stalls and its queue fills.
fn stall_sqlite(dir: &std::path::Path) -> rusqlite::Connection {
    let other =
        rusqlite::Connection::open(dir.join(&StorageConfig::default().sqlite_path)).expect("open");
    other
        .busy_timeout(Duration::from_secs(30))
        .expect("busy_timeout");
    other
        .execute_batch("ALTER TABLE alerts RENAME TO alerts_hidden")
        .expect("rename");
    other
}

fn unstall_sqlite(other: &rusqlite::Connection) {
    other
        .execute_batch("ALTER TABLE alerts_hidden RENAME TO alerts")
        .expect("rename back");
}

/// Submits `N` alerts, each followed by an action referencing it; every submit returns at once
/// with `true` (queued or spilled). The alerts' token statuses.
async fn submit_all(w: &StoreWriter) -> Vec<StatusCell> {
    let mut statuses = Vec::new();
    for i in 0..N {
        let (ack, status) = Ack::new();
        let mut a = minimal_alert(now_us(), Severity::Low);
        a.title = format!("alert {i}");
        a.ack = ack;
        let action = full_action(&a, now_us());
        assert!(w.submit(a).await.expect("submit"), "alert {i} accepted");
        assert!(
            w.submit(action).await.expect("submit"),
            "action {i} accepted"
        );
        statuses.push(status);
    }
    statuses
}

fn m(r: &Registry, name: &str) -> f64 {
    metric(r, name)
}

async fn stored(cfg: &StorageConfig, dir: &std::path::Path) -> (usize, usize) {
    let r = StoreReader::open(cfg, dir).await.expect("reader");
    let alerts = r
        .alerts(&AlertQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .expect("alerts");
    let actions = r
        .actions(&ActionQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .expect("actions");
    (alerts.len(), actions.len())
}

#[tokio::test]
async fn with_sqlite_stalled_records_spill_and_are_replayed_once_in_order_when_it_drains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = spill_config(sqlite_config());
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    let other = stall_sqlite(dir.path());
    let w = store.writer();
    let statuses = submit_all(&w).await;

    // Everything beyond the queue (4) and the stalled batch (at most 2) is spilled.
    wait_until("the spill holds the overflow", || {
        m(&registry, "ironpost_store_spilled_total") >= (2 * N - 6) as f64
            && m(&registry, "ironpost_store_spill_records")
                == m(&registry, "ironpost_store_spilled_total")
    })
    .await;
    let spilled = m(&registry, "ironpost_store_spilled_total");
    assert_eq!(m(&registry, "ironpost_store_spill_dropped_total"), 0.0);
    assert_eq!(
        m(
            &registry,
            "ironpost_store_queue_dropped_total{kind=\"alert\"}"
        ),
        0.0
    );
    assert_eq!(written(&registry, "alert"), 0.0, "the writer is stalled");
    // A spilled record is acknowledged once fsync'd, before the database has it.
    wait_until("the spilled alerts acknowledged", || {
        statuses.last().map(StatusCell::get) == Some(Status::Delivered)
    })
    .await;
    assert!(
        std::fs::read_dir(dir.path().join("spill"))
            .expect("spill directory")
            .count()
            > 0
    );
    assert!(
        matches!(store.health(), Health::Unhealthy(_)),
        "{:?}",
        store.health()
    );

    unstall_sqlite(&other);
    wait_until("the spill replayed", || {
        m(&registry, "ironpost_store_spill_records") == 0.0
            && written(&registry, "action") == N as f64
    })
    .await;
    assert_eq!(m(&registry, "ironpost_store_spill_replayed_total"), spilled);
    assert_eq!(written(&registry, "alert"), N as f64);
    assert_eq!(
        m(&registry, "ironpost_store_rejected_total"),
        0.0,
        "no action reached the database before its alert"
    );
    assert!(statuses.iter().all(|s| s.get() == Status::Delivered));
    assert_eq!(store.health(), Health::Healthy);
    store.stop().await.expect("stop");
    assert_eq!(stored(&cfg, dir.path()).await, (N, N), "each record once");
}

#[tokio::test]
async fn a_spill_left_by_a_stopped_store_is_replayed_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = spill_config(sqlite_config());
    let registry = new_registry();
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    let other = stall_sqlite(dir.path());
    submit_all(&store.writer()).await;
    // Stops with SQLite still failing: the queued records are given up (counted), the spilled
    // ones stay on disk.
    store.stop().await.expect("stop");
    let spilled = m(&registry, "ironpost_store_spilled_total");
    let given_up = m(&registry, "ironpost_store_dropped_total");
    assert!(spilled > 0.0);
    assert_eq!(spilled + given_up, (2 * N) as f64, "spilled or counted");
    unstall_sqlite(&other);
    drop(other);

    let registry = new_registry();
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("reopen");
    assert_eq!(m(&registry, "ironpost_store_spill_records"), spilled);
    store.start().await.expect("start");
    wait_until("the spill replayed", || {
        m(&registry, "ironpost_store_spill_records") == 0.0
    })
    .await;
    assert_eq!(m(&registry, "ironpost_store_spill_replayed_total"), spilled);
    store.stop().await.expect("stop");
    // Each spilled record once: an action whose alert was among the records given up is refused
    // by the foreign key (counted).
    let (alerts, actions) = stored(&cfg, dir.path()).await;
    assert_eq!(
        (alerts + actions) as f64 + m(&registry, "ironpost_store_rejected_total"),
        spilled
    );
}

#[tokio::test]
async fn with_the_spill_full_too_records_are_dropped_counted_and_their_tokens_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    // A spill of 4 KiB (configuration allows 1 MiB at least; the store takes what it is given).
    let cfg = StorageConfig {
        spool_max_bytes: 4096,
        ..spill_config(sqlite_config())
    };
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    let other = stall_sqlite(dir.path());
    let statuses = submit_all(&store.writer()).await;
    wait_until("the spill full and records dropped", || {
        m(&registry, "ironpost_store_spill_dropped_total") > 0.0
    })
    .await;
    assert!(m(&registry, "ironpost_store_spill_bytes") <= 4096.0);
    wait_until("every token resolved", || {
        statuses.iter().skip(10).all(|s| s.get() != Status::Pending)
    })
    .await;
    assert!(
        statuses.iter().any(|s| s.get() == Status::Failed),
        "a dropped alert's token fails"
    );
    unstall_sqlite(&other);
    wait_until("the spill replayed", || {
        m(&registry, "ironpost_store_spill_records") == 0.0
    })
    .await;
    store.stop().await.expect("stop");
}

#[tokio::test]
async fn with_postgres_stalled_by_a_table_lock_records_spill_and_are_replayed_once() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = spill_config(pg_config(&db.url));
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    // Another session holds the alerts table: the writer's insert waits on the lock.
    let (mut client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let statuses = submit_all(&store.writer()).await;
    wait_until("the overflow spilled", || {
        m(&registry, "ironpost_store_spilled_total") >= (2 * N - 6) as f64
            && statuses.last().map(StatusCell::get) == Some(Status::Delivered)
    })
    .await;
    let spilled = m(&registry, "ironpost_store_spilled_total");
    assert_eq!(written(&registry, "alert"), 0.0, "the writer is stalled");
    tx.rollback().await.expect("unlock");
    wait_until("the spill replayed", || {
        m(&registry, "ironpost_store_spill_records") == 0.0
            && written(&registry, "action") == N as f64
    })
    .await;
    assert_eq!(m(&registry, "ironpost_store_spill_replayed_total"), spilled);
    assert_eq!(m(&registry, "ironpost_store_rejected_total"), 0.0);
    store.stop().await.expect("stop");
    assert_eq!(stored(&cfg, dir.path()).await, (N, N), "each record once");
}
