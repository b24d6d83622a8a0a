//! PostgreSQL outages: records are spooled on disk while the server is away and written when it
//! answers again; the spool is bounded; a spool left by a previous run is replayed at start.
//!
//! The acceptance test runs a private PostgreSQL cluster (initdb + pg_ctl as user `postgres`, on a
//! free port) so that stopping it does not disturb the shared server other tests use.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use ironpost_core::config::StorageConfig;
use ironpost_core::metrics::new_registry;
use ironpost_core::{EventId, Health, Module, Severity};
use ironpost_store::{AlertQuery, Store, StoreReader};

fn pg_bin() -> PathBuf {
    let dir = std::env::var("IRONPOST_TEST_PG_BIN")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned());
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("pg_ctl").is_file(),
        "PostgreSQL server binaries not found in {} (install postgresql-15 with scripts/setup.sh, \
         or set IRONPOST_TEST_PG_BIN)",
        dir.display()
    );
    dir
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs a command as user `postgres`, failing the test with its output if it fails.
fn as_postgres(args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .current_dir("/tmp")
        .output()
        .expect("runuser (this test runs as root to start a private PostgreSQL cluster)");
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private PostgreSQL cluster, stopped and removed on drop (also when the test fails).
struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl PgCluster {
    async fn start() -> PgCluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("ironpost-pg-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(chown.success(), "chown postgres {}", dir.path().display());
        let cluster = PgCluster {
            dir,
            port: free_port(),
            bin,
        };
        let initdb = cluster.bin.join("initdb");
        let data = cluster.data();
        blocking(move || {
            as_postgres(&[
                path(&initdb),
                "-D",
                path(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ])
        })
        .await;
        cluster.server_start().await;
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn server_start(&self) {
        let (pg_ctl, data, log) = (
            self.bin.join("pg_ctl"),
            self.data(),
            self.dir.path().join("server.log"),
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        blocking(move || {
            as_postgres(&[
                path(&pg_ctl),
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-o",
                &opts,
                "-w",
                "start",
            ])
        })
        .await;
    }

    async fn server_stop(&self) {
        let (pg_ctl, data) = (self.bin.join("pg_ctl"), self.data());
        blocking(move || {
            as_postgres(&[path(&pg_ctl), "-D", path(&data), "-m", "fast", "-w", "stop"])
        })
        .await;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Best effort: the server may already be stopped. The TempDir removes the files after this.
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .current_dir("/tmp")
            .output();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.expect("blocking step");
}

fn spool_records(registry: &ironpost_core::metrics::prometheus::Registry) -> f64 {
    metric(registry, "ironpost_store_spool_records")
}

fn spool_files(data_dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(data_dir.join("spool")) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A URL where nothing answers.
fn dead_url() -> String {
    format!(
        "postgresql://ironpost_test:ironpost_test@127.0.0.1:{}/ironpost_test",
        free_port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_during_a_stream_of_alert_writes_loses_no_alert() {
    let cluster = PgCluster::start().await;
    let data = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = StorageConfig {
        write_batch_size: 50,
        queue_capacity: 200,
        write_flush: Duration::from_millis(10),
        ..pg_config(&cluster.url())
    };
    let mut store = Store::open(&cfg, data.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    assert_eq!(store.health(), Health::Healthy);
    let w = store.writer();
    let mut ids = BTreeSet::new();
    let mut send = |n: usize| {
        let batch: Vec<_> = (0..n)
            .map(|_| minimal_alert(now_us(), Severity::High))
            .collect();
        ids.extend(batch.iter().map(|a| a.id));
        let w = w.clone();
        async move {
            for a in batch {
                w.write(a).await.expect("write");
            }
        }
    };

    // The stream starts while PostgreSQL is up; it is stopped while records are still in flight.
    send(700).await;
    cluster.server_stop().await;
    send(700).await;
    wait_until("records are spooled and health is degraded", || {
        spool_records(&registry) > 0.0 && matches!(store.health(), Health::Degraded(_))
    })
    .await;
    let health = store.health();
    assert!(
        matches!(&health, Health::Degraded(r) if r.starts_with("postgres unreachable: ") && r.ends_with(" records spooled")),
        "{health:?}"
    );
    assert!(!spool_files(data.path()).is_empty());

    // The stream goes on while PostgreSQL comes back; the store reconnects and replays by itself.
    cluster.server_start().await;
    send(600).await;
    wait_until("the spool is replayed and the store healthy again", || {
        spool_records(&registry) == 0.0 && store.health() == Health::Healthy
    })
    .await;
    store.stop().await.expect("stop");
    assert_eq!(ids.len(), 2000);

    assert_eq!(spool_records(&registry), 0.0, "spool replayed");
    assert!(
        spool_files(data.path()).is_empty(),
        "{:?}",
        spool_files(data.path())
    );
    assert_eq!(metric(&registry, "ironpost_store_spool_dropped_total"), 0.0);
    assert_eq!(metric(&registry, "ironpost_store_rejected_total"), 0.0);
    let reader = StoreReader::open(&cfg, data.path()).await.expect("reader");
    let stored: BTreeSet<EventId> = reader
        .alerts(&AlertQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(stored.len(), 2000);
    assert!(
        stored == ids,
        "{} alerts missing",
        ids.difference(&stored).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_store_notices_postgres_leaving_and_returning() {
    let cluster = PgCluster::start().await;
    let data = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let cfg = pg_config(&cluster.url());
    let mut store = Store::open(&cfg, data.path(), &registry)
        .await
        .expect("open");
    store.start().await.expect("start");
    assert_eq!(store.health(), Health::Healthy);

    // No record is written meanwhile: health follows the connection, not the last write.
    cluster.server_stop().await;
    wait_until("health is degraded", || !store.health().is_healthy()).await;
    assert_eq!(
        store.health(),
        Health::Degraded("postgres unreachable: 0 records spooled".into())
    );
    cluster.server_start().await;
    wait_until("the store reconnects by itself", || {
        store.health().is_healthy()
    })
    .await;

    let alert = full_alert(now_us(), Severity::High);
    store.writer().write(alert.clone()).await.expect("write");
    wait_until("the alert is written while the store runs", || {
        written(&registry, "alert") == 1.0
    })
    .await;
    store.stop().await.expect("stop");
    let reader = StoreReader::open(&cfg, data.path()).await.expect("reader");
    assert_eq!(
        reader.alerts(&AlertQuery::default()).await.expect("alerts"),
        vec![alert]
    );
}

#[tokio::test]
async fn a_full_spool_drops_and_counts_records_beyond_its_bound() {
    let data = tempfile::tempdir().expect("tempdir");
    let registry = new_registry();
    let max = 64 * 1024;
    let cfg = StorageConfig {
        spool_max_bytes: max,
        write_batch_size: 50,
        ..pg_config(&dead_url())
    };
    let mut store = Store::open(&cfg, data.path(), &registry)
        .await
        .expect("unreachable PostgreSQL is not an error");
    assert_eq!(
        store.health(),
        Health::Degraded("postgres unreachable: 0 records spooled".into())
    );
    store.start().await.expect("start");
    let w = store.writer();
    for _ in 0..1000 {
        w.write(full_alert(now_us(), Severity::High))
            .await
            .expect("write");
    }
    store.stop().await.expect("stop");

    let spooled = spool_records(&registry);
    let dropped = metric(&registry, "ironpost_store_spool_dropped_total");
    assert!(
        spooled > 0.0 && dropped > 0.0,
        "spooled {spooled}, dropped {dropped}"
    );
    assert_eq!(spooled + dropped, 1000.0);
    let bytes = metric(&registry, "ironpost_store_spool_bytes");
    assert!(bytes <= max as f64, "{bytes} > {max}");
    let on_disk: u64 = spool_files(data.path())
        .iter()
        .map(|p| std::fs::metadata(p).expect("stat").len())
        .sum();
    assert_eq!(on_disk as f64, bytes);
}

#[tokio::test]
async fn a_spool_left_by_a_previous_run_is_replayed_at_start() {
    let db = TestDb::create().await;
    let data = tempfile::tempdir().expect("tempdir");
    let alerts: Vec<_> = (0..50)
        .map(|i| full_alert(now_us() - chrono::Duration::seconds(i), Severity::Low))
        .collect();
    {
        let registry = new_registry();
        let mut store = Store::open(&pg_config(&dead_url()), data.path(), &registry)
            .await
            .expect("open");
        store.start().await.expect("start");
        for a in &alerts {
            store.writer().write(a.clone()).await.expect("write");
        }
        store.stop().await.expect("stop");
        assert_eq!(spool_records(&registry), 50.0);
    }
    assert!(!spool_files(data.path()).is_empty());

    let registry = new_registry();
    let cfg = pg_config(&db.url);
    let mut store = Store::open(&cfg, data.path(), &registry)
        .await
        .expect("open");
    assert_eq!(
        spool_records(&registry),
        50.0,
        "the old spool is taken into account at open"
    );
    store.start().await.expect("start");
    store.stop().await.expect("stop");
    assert_eq!(spool_records(&registry), 0.0);
    assert!(spool_files(data.path()).is_empty());
    assert_eq!(written(&registry, "alert"), 50.0);
    let reader = StoreReader::open(&cfg, data.path()).await.expect("reader");
    // Written newest first above, so the stored order is the written order.
    assert_eq!(
        reader.alerts(&AlertQuery::default()).await.expect("alerts"),
        alerts
    );
}
