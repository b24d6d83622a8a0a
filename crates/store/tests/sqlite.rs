//! The embedded SQLite backend end to end: `Store` + `StoreWriter` in, `StoreReader` out, against a
//! real database file in a temporary directory.

mod common;

use std::time::Duration;

use common::*;
use ironpost_core::config::StorageConfig;
use ironpost_core::metrics::new_registry;
use ironpost_core::{Health, Module, Severity};
use ironpost_store::{AlertQuery, Backend, Store, StoreReader};

fn db_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(&StorageConfig::default().sqlite_path)
}

#[tokio::test]
async fn every_kind_round_trips_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    round_trip(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn queries_filter_limit_and_order_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    queries(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn retention_deletes_old_rows_and_keeps_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    retention(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn rows_carry_their_fleet_node_and_a_redelivered_remote_record_is_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    nodes(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn an_orphan_action_is_rejected_and_the_rest_of_its_batch_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    orphan_action_is_rejected_alone(&sqlite_config(), dir.path()).await;
}

#[tokio::test]
async fn database_is_in_wal_mode_and_reopening_migrates_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = sqlite_config();
    let migrations = || {
        let conn = rusqlite::Connection::open(db_path(dir.path())).expect("open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(mode, "wal");
        let mut stmt = conn
            .prepare("SELECT version, applied_at FROM schema_migrations")
            .expect("prepare");
        let rows: Vec<(i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows
    };

    let store = Store::open(&cfg, dir.path(), &new_registry())
        .await
        .expect("open");
    assert_eq!(store.backend(), Backend::Sqlite);
    drop(store);
    let first = migrations();
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(
        first.iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    let mut store = Store::open(&cfg, dir.path(), &new_registry())
        .await
        .expect("reopen");
    store.start().await.expect("start");
    store
        .writer()
        .write(minimal_alert(now_us(), Severity::Low))
        .await
        .expect("write");
    store.stop().await.expect("stop");
    assert_eq!(
        migrations(),
        first,
        "reopening must not apply or re-record a migration"
    );
}

#[tokio::test]
async fn an_absolute_sqlite_path_is_used_as_is() {
    let data = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let file = elsewhere.path().join("events.db");
    let cfg = StorageConfig {
        sqlite_path: file.clone(),
        ..sqlite_config()
    };
    let mut store = Store::open(&cfg, data.path(), &new_registry())
        .await
        .expect("open");
    store.start().await.expect("start");
    let alert = minimal_alert(now_us(), Severity::Medium);
    store.writer().write(alert.clone()).await.expect("write");
    store.stop().await.expect("stop");
    // Like the CLI after the daemon exited: the last connection is closed, the WAL checkpointed
    // and removed, and the reader still opens the file read-only.
    drop(store);
    assert!(file.is_file());
    assert!(!elsewhere.path().join("events.db-wal").exists());
    assert!(!db_path(data.path()).exists());
    let r = StoreReader::open(&cfg, data.path()).await.expect("reader");
    assert_eq!(
        r.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![alert]
    );
}

#[tokio::test]
async fn reader_without_a_database_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = StoreReader::open(&sqlite_config(), dir.path())
        .await
        .expect_err("no database yet");
    let want = format!(
        "no database at {}; has the daemon run with this data_dir?",
        db_path(dir.path()).display()
    );
    assert_eq!(err.to_string(), want);
    assert!(
        !db_path(dir.path()).exists(),
        "the reader must not create the database"
    );
}

#[tokio::test]
async fn a_failing_sqlite_write_makes_the_store_unhealthy_until_a_retry_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = StorageConfig {
        write_batch_size: 1,
        ..sqlite_config()
    };
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    assert_eq!(store.health(), Health::Healthy);

    // Another process hides the table the writer needs.
    let other = rusqlite::Connection::open(db_path(dir.path())).expect("open");
    other
        .busy_timeout(Duration::from_secs(30))
        .expect("busy_timeout");
    other
        .execute_batch("ALTER TABLE alerts RENAME TO alerts_hidden")
        .expect("rename");
    let alert = minimal_alert(now_us(), Severity::High);
    store.writer().write(alert.clone()).await.expect("queued");
    wait_until("the store reports the failure", || {
        !store.health().is_healthy()
    })
    .await;
    let health = store.health();
    assert!(
        matches!(&health, Health::Unhealthy(r) if r.contains("no such table")),
        "{health:?}"
    );
    assert!(metric(&registry, "ironpost_store_write_errors_total") >= 1.0);

    // The table comes back: the retried batch goes through and health recovers.
    other
        .execute_batch("ALTER TABLE alerts_hidden RENAME TO alerts")
        .expect("rename back");
    wait_until("the retried write succeeds", || {
        written(&registry, "alert") == 1.0
    })
    .await;
    assert_eq!(store.health(), Health::Healthy);
    store.stop().await.expect("stop");
    let r = StoreReader::open(&cfg, dir.path()).await.expect("reader");
    assert_eq!(
        r.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![alert]
    );
}

#[tokio::test]
async fn stop_writes_everything_accepted_even_with_a_tiny_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = StorageConfig {
        queue_capacity: 4,
        write_batch_size: 7,
        ..sqlite_config()
    };
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    let w = store.writer();
    // Producers on other tasks wait on the full queue (backpressure) instead of failing.
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    w.write(minimal_alert(now_us(), Severity::Low))
                        .await
                        .expect("write");
                }
            })
        })
        .collect();
    for p in producers {
        p.await.expect("producer");
    }
    store.stop().await.expect("stop");
    assert_eq!(written(&registry, "alert"), 200.0);
    let r = StoreReader::open(&cfg, dir.path()).await.expect("reader");
    assert_eq!(
        r.alerts(&AlertQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .len(),
        200
    );
}

#[tokio::test]
async fn stop_gives_up_on_records_sqlite_cannot_write_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = StorageConfig {
        write_batch_size: 1,
        ..sqlite_config()
    };
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    let other = rusqlite::Connection::open(db_path(dir.path())).expect("open");
    other
        .busy_timeout(Duration::from_secs(30))
        .expect("busy_timeout");
    other
        .execute_batch("ALTER TABLE alerts RENAME TO alerts_hidden")
        .expect("rename");
    for _ in 0..3 {
        store
            .writer()
            .write(minimal_alert(now_us(), Severity::High))
            .await
            .expect("queued");
    }
    // Returns although the database never recovers, and says what was lost.
    store.stop().await.expect("stop");
    assert_eq!(metric(&registry, "ironpost_store_dropped_total"), 3.0);
    assert_eq!(written(&registry, "alert"), 0.0);
    assert!(
        matches!(store.health(), Health::Unhealthy(_)),
        "{:?}",
        store.health()
    );
}

/// `when_full = "drop"`: with the writer's queue full (here: not started, capacity 1), `submit`
/// returns at once, counts the record and fails its acknowledgement token; `block` would wait.
/// A record that is written resolves its token as delivered.
#[tokio::test]
async fn submit_drops_and_fails_the_token_when_the_queue_is_full_and_acknowledges_what_it_writes() {
    use ironpost_core::ack::{Ack, Status};
    use ironpost_core::config::WhenFull;
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = StorageConfig {
        queue_capacity: 1,
        write_batch_size: 1,
        when_full: WhenFull::Drop,
        ..sqlite_config()
    };
    let mut store = Store::open(&cfg, dir.path(), &registry)
        .await
        .expect("open");
    let w = store.writer();
    let (first_ack, first) = Ack::new();
    let mut a = minimal_alert(now_us(), Severity::Low);
    a.ack = first_ack;
    assert!(w.submit(a).await.expect("queued"));
    let (second_ack, second) = Ack::new();
    let mut b = minimal_alert(now_us(), Severity::Low);
    b.ack = second_ack;
    assert!(!w.submit(b).await.expect("dropped, not an error"));
    assert_eq!(second.get(), Status::Failed);
    assert_eq!(
        metric(
            &registry,
            "ironpost_store_queue_dropped_total{kind=\"alert\"}"
        ),
        1.0
    );
    assert_eq!(first.get(), Status::Pending, "queued, not yet written");
    store.start().await.expect("start");
    wait_until("the queued alert written", || {
        written(&registry, "alert") == 1.0
    })
    .await;
    wait_until("its token resolved", || first.get() != Status::Pending).await;
    assert_eq!(first.get(), Status::Delivered);
    store.stop().await.expect("stop");
}
