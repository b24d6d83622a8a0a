//! The PostgreSQL backend end to end against the real server started by `scripts/services.sh`
//! (`IRONPOST_TEST_PG_URL`); each test works in a database of its own.

mod common;

use common::*;
use ironpost_core::metrics::new_registry;
use ironpost_core::{Health, Module, Severity};
use ironpost_store::{AlertQuery, Backend, Store, StoreError, StoreReader};

#[tokio::test]
async fn every_kind_round_trips_exactly() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    round_trip(&pg_config(&db.url), dir.path()).await;
}

#[tokio::test]
async fn queries_filter_limit_and_order_newest_first() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    queries(&pg_config(&db.url), dir.path()).await;
}

#[tokio::test]
async fn retention_deletes_old_rows_and_keeps_new_ones() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    retention(&pg_config(&db.url), dir.path()).await;
}

#[tokio::test]
async fn rows_carry_their_fleet_node_and_a_redelivered_remote_record_is_stored_once() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    nodes(&pg_config(&db.url), dir.path()).await;
}

#[tokio::test]
async fn an_orphan_action_is_rejected_and_the_rest_of_its_batch_written() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    orphan_action_is_rejected_alone(&pg_config(&db.url), dir.path()).await;
}

#[tokio::test]
async fn concurrent_opens_migrate_once_and_reopening_migrates_nothing() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = pg_config(&db.url);
    // Two processes starting at once: the advisory lock lets one migrate, the other sees it done.
    let (r1, r2) = (new_registry(), new_registry());
    let (a, b) = tokio::join!(
        Store::open(&cfg, dir.path(), &r1),
        Store::open(&cfg, dir.path(), &r2)
    );
    let (a, b) = (a.expect("first open"), b.expect("second open"));
    assert_eq!(a.backend(), Backend::Postgres);
    assert_eq!((a.health(), b.health()), (Health::Healthy, Health::Healthy));
    drop((a, b));

    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let versions = || async {
        let rows = client
            .query(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .expect("schema_migrations");
        rows.iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    r.get::<_, chrono::DateTime<chrono::Utc>>(1),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = versions().await;
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
        versions().await,
        first,
        "reopening must not apply or re-record a migration"
    );
}

#[tokio::test]
async fn wrong_credentials_fail_open_instead_of_spooling() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // postgresql://USER[:PASSWORD]@HOST… -> postgresql://USER:wrong-password@HOST…
    let (scheme, rest) = db.url.split_once("://").expect("URL with a scheme");
    let (userinfo, host) = rest.split_once('@').expect("URL with a user");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    let url = format!("{scheme}://{user}:wrong-password@{host}");
    let err = Store::open(&pg_config(&url), dir.path(), &new_registry())
        .await
        .expect_err("bad password");
    assert!(matches!(err, StoreError::Postgres { .. }), "{err:?}");
    assert!(
        !format!("{err:?}").contains("wrong-password"),
        "errors must not echo the password"
    );
}

#[tokio::test]
async fn reader_connects_without_a_daemon() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = pg_config(&db.url);
    let mut store = Store::open(&cfg, dir.path(), &new_registry())
        .await
        .expect("open");
    store.start().await.expect("start");
    let alert = full_alert(now_us(), Severity::Critical);
    store.writer().write(alert.clone()).await.expect("write");
    store.stop().await.expect("stop");
    drop(store);
    let r = StoreReader::open(&cfg, dir.path()).await.expect("reader");
    let q = AlertQuery {
        min_severity: Some(Severity::Critical),
        ..Default::default()
    };
    assert_eq!(r.alerts(&q).await.expect("alerts"), vec![alert]);
}
