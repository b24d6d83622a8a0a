//! Storage for Ironpost events: embedded SQLite by default (a WAL file under `data_dir`, nothing to
//! install), PostgreSQL when `postgres_url` is set, with an on-disk spool that keeps records while
//! PostgreSQL is unreachable. Both use the seed 000 tables (`packet_events`, `log_entries`, `alerts`,
//! `actions`), created by embedded migrations.
//!
//! - [`Store`] is the daemon's module: [`Store::writer`] hands out [`StoreWriter`]s that queue records
//!   for one batched writer task; `stop` drains the queue.
//! - [`StoreReader`] is for the CLI: read-only queries, no daemon needed.
//!
//! Architecture invariant: producers never touch the database. They queue records (bounded queue:
//! a full queue makes them wait), and one writer task per store writes batches in queue order, so
//! database latency, an outage or a slow disk never runs on a producer's task.

mod codec;
mod error;
mod metrics;
mod pg_sink;
mod postgres;
mod query;
mod record;
mod retention;
mod spill;
mod spool;
mod sqlite;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ironpost_core::config::{StorageConfig, WhenFull};
use ironpost_core::metrics::prometheus::Registry;
use ironpost_core::{BoxFuture, Health, Module, ModuleError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use error::{Backend, StoreError};
pub use query::{ActionQuery, AlertQuery, DEFAULT_LIMIT, LogQuery, PacketQuery, StoreReader};
pub use query::{AlertOverview, RuleActivity};
pub use record::{Heartbeat, Record, Remote, RemoteEvent};

use crate::metrics::StoreMetrics;
use crate::pg_sink::PgSink;
use crate::spill::{Appender, Offer, Spill, SpillSender};
use crate::spool::{SEGMENT_BYTES, Spool};
use crate::writer::{Batching, Shared, Sink, SqliteSink, lock};

const MODULE: &str = "store";

/// The store module. See the crate documentation.
pub struct Store {
    backend: Backend,
    tx: mpsc::Sender<Record>,
    /// The queue's receiving end and the sink, until `start` hands them to the writer task.
    idle: Option<(mpsc::Receiver<Record>, Sink)>,
    /// `when_full = "spill"`: the spill, its producers' side, and its appender until `start`.
    spill: Option<Arc<Spill>>,
    spill_tx: Option<SpillSender>,
    spill_idle: Option<Appender>,
    spill_stop: Option<oneshot::Sender<()>>,
    spill_task: Option<JoinHandle<()>>,
    batching: Batching,
    when_full: WhenFull,
    retention_days: u32,
    retention_target: retention::Target,
    stop_tx: Option<oneshot::Sender<()>>,
    writer_task: Option<JoinHandle<()>>,
    retention_task: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    metrics: StoreMetrics,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("started", &self.writer_task.is_some())
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| StoreError::Task { source })?
}

impl Store {
    /// Opens the backend chosen by `cfg`: SQLite at `data_dir.join(cfg.sqlite_path)` (an absolute
    /// `sqlite_path` is used as is), or PostgreSQL when `cfg.postgres_url` is set; applies pending
    /// migrations and registers the store's metrics in `registry` (once per registry).
    ///
    /// PostgreSQL being unreachable is not an error: the store starts Degraded, spools to
    /// `data_dir/spool/`, and migrates and replays when the server answers. Authentication
    /// failures, a missing database or a failed migration are errors.
    pub async fn open(
        cfg: &StorageConfig,
        data_dir: &Path,
        registry: &Registry,
    ) -> Result<Store, StoreError> {
        let shared = Arc::new(Shared::default());
        let capacity = cfg.queue_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let batching = Batching {
            size: cfg.write_batch_size.max(1),
            flush: cfg.write_flush,
        };
        let (backend, sink, retention_target, metrics) = match &cfg.postgres_url {
            None => {
                let path = query::sqlite_file(cfg, data_dir);
                let p = path.clone();
                let conn = Arc::new(Mutex::new(blocking(move || sqlite::open_rw(&p)).await?));
                let metrics = StoreMetrics::register(registry);
                let target = retention::Target::Sqlite {
                    conn: conn.clone(),
                    path: path.clone(),
                };
                let sink = SqliteSink {
                    conn,
                    path,
                    shared: shared.clone(),
                    metrics: metrics.clone(),
                    gave_up: false,
                };
                (Backend::Sqlite, Sink::Sqlite(sink), target, metrics)
            }
            Some(url) => {
                let config = postgres::parse_config(url)?;
                let dir = data_dir.join("spool");
                let max = cfg.spool_max_bytes;
                let spool = blocking(move || Spool::open(&dir, max, SEGMENT_BYTES)).await?;
                let session = pg_sink::initial_session(&config, &shared).await?;
                let metrics = StoreMetrics::register(registry);
                let target = retention::Target::Postgres {
                    config: Box::new(config.clone()),
                };
                let sink = PgSink::new(config, session, spool, shared.clone(), metrics.clone());
                (
                    Backend::Postgres,
                    Sink::Postgres(Box::new(sink)),
                    target,
                    metrics,
                )
            }
        };
        let (spill, spill_tx, spill_idle) = if cfg.when_full == WhenFull::Spill {
            let dir = data_dir.join("spill");
            let (max, m) = (cfg.spool_max_bytes, metrics.clone());
            let spill = Arc::new(blocking(move || Spill::open(&dir, max, m)).await?);
            let (tx, appender) = spill::channel(spill.clone(), batching.size);
            (Some(spill), Some(tx), Some(appender))
        } else {
            (None, None, None)
        };
        Ok(Store {
            backend,
            tx,
            idle: Some((rx, sink)),
            spill,
            spill_tx,
            spill_idle,
            spill_stop: None,
            spill_task: None,
            batching,
            when_full: cfg.when_full,
            retention_days: cfg.retention_days,
            retention_target,
            stop_tx: None,
            writer_task: None,
            retention_task: None,
            shared,
            metrics,
        })
    }

    /// A handle that queues records for the writer. Cheap to clone; hand one to each producer.
    pub fn writer(&self) -> StoreWriter {
        StoreWriter {
            tx: self.tx.clone(),
            queue_depth: self.metrics.queue_depth.clone(),
            queue_dropped: self.metrics.queue_dropped.clone(),
            when_full: self.when_full,
            spill: self.spill_tx.clone(),
        }
    }

    /// Names this node in the `node` column of the alerts and actions it writes itself (the
    /// fleet's node name; other nodes' records, [`Remote`], carry their own). Set before `start`;
    /// later calls are ignored. Unset: the empty name.
    pub fn set_node(&self, node: impl Into<String>) {
        let _ = self.shared.node.set(node.into());
    }

    /// Which database this store writes to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn spawn_writer(&mut self) -> Result<(), StoreError> {
        let (rx, sink) = self.idle.take().ok_or(StoreError::AlreadyStarted)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        self.stop_tx = Some(stop_tx);
        if let Some(appender) = self.spill_idle.take() {
            let (stop_tx, stop_rx) = oneshot::channel();
            self.spill_stop = Some(stop_tx);
            self.spill_task = Some(tokio::spawn(appender.run(stop_rx)));
        }
        self.writer_task = Some(tokio::spawn(writer::run(
            rx,
            sink,
            self.batching,
            stop_rx,
            self.metrics.clone(),
            self.shared.clone(),
            self.spill.clone(),
        )));
        Ok(())
    }

    async fn shut_down(&mut self) -> Result<(), StoreError> {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(task) = self.retention_task.take() {
            task.abort();
            // Aborted (or already finished): either way it is gone.
            let _ = task.await;
        }
        if self.writer_task.is_none() && self.idle.is_some() {
            // Never started: start the writer now so that records already queued are written.
            self.spawn_writer()?;
        }
        // The spill first: what is on its way there is appended (and stays for the next start).
        if let Some(stop) = self.spill_stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.spill_task.take() {
            task.await.map_err(|source| StoreError::Task { source })?;
        }
        if let Some(stop) = self.stop_tx.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.writer_task.take() {
            task.await.map_err(|source| StoreError::Task { source })?;
        }
        Ok(())
    }
}

impl Module for Store {
    fn name(&self) -> &'static str {
        MODULE
    }

    /// Spawns the writer task and, with `retention_days > 0`, the retention task.
    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            self.spawn_writer()
                .map_err(|e| ModuleError::start(MODULE, e))?;
            if self.retention_days > 0 {
                let task = retention::run(
                    self.retention_target.clone(),
                    self.retention_days,
                    self.metrics.clone(),
                );
                self.retention_task = Some(tokio::spawn(task));
            }
            Ok(())
        })
    }

    /// Closes the queue (writers get `StoreError::Stopped` from then on), writes every record
    /// already accepted, tries once more to empty the PostgreSQL spool, and returns.
    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            self.shut_down()
                .await
                .map_err(|e| ModuleError::stop(MODULE, e))
        })
    }

    fn health(&self) -> Health {
        let spilled = self.spill.as_ref().map_or(0, |s| s.outstanding());
        match self.backend_health() {
            Health::Healthy if spilled > 0 => Health::Degraded(format!(
                "writer queue overflowed: {spilled} records spilled to disk, replaying"
            )),
            h => h,
        }
    }
}

impl Store {
    fn backend_health(&self) -> Health {
        match self.backend {
            Backend::Sqlite => match lock(&self.shared.sqlite_failure).as_ref() {
                Some(reason) => Health::Unhealthy(format!("SQLite writes failing: {reason}")),
                None => Health::Healthy,
            },
            Backend::Postgres => {
                let spooled = self.metrics.spool_records.get();
                if !self.shared.pg_up.load(Ordering::SeqCst) {
                    Health::Degraded(format!("postgres unreachable: {spooled} records spooled"))
                } else if spooled > 0 {
                    Health::Degraded(format!(
                        "postgres reachable, replaying spool: {spooled} records left"
                    ))
                } else {
                    Health::Healthy
                }
            }
        }
    }
}

/// Queues records for the store's writer. Clone freely.
#[derive(Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Record>,
    queue_depth: ironpost_core::metrics::prometheus::IntGauge,
    queue_dropped: ironpost_core::metrics::prometheus::IntCounterVec,
    when_full: WhenFull,
    spill: Option<SpillSender>,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl StoreWriter {
    /// Queues a record for the batched writer. When the queue (`queue_capacity`) is full this waits
    /// for room: backpressure. Fails only once the store was stopped.
    pub async fn write(&self, r: impl Into<Record>) -> Result<(), StoreError> {
        self.tx.send(r.into()).await.map_err(|e| {
            e.0.fail_ack();
            StoreError::Stopped
        })?;
        let depth = self.tx.max_capacity() - self.tx.capacity();
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Queues a record the way `storage.when_full` says: `block` waits like [`StoreWriter::write`];
    /// `drop` never waits — with the queue full the record is counted in
    /// `ironpost_store_queue_dropped_total{kind}`, its acknowledgement token is failed (its source
    /// position is not committed) and `Ok(false)` is returned. `spill` never waits either: with
    /// the queue full (or records already spilled, to keep the order) the record goes to the
    /// on-disk spill and is replayed later; `Ok(false)` only when the spill is full too (counted
    /// in `ironpost_store_spill_dropped_total`, token failed). Fails only once the store stopped.
    pub async fn submit(&self, r: impl Into<Record>) -> Result<bool, StoreError> {
        let r = r.into();
        let spilled = |o: Offer| match o {
            Offer::Spilled => Ok(true),
            Offer::Dropped => Ok(false),
            Offer::Stopped => Err(StoreError::Stopped),
        };
        match (self.when_full, &self.spill) {
            (WhenFull::Block, _) => self.write(r).await.map(|()| true),
            (WhenFull::Spill, Some(spill)) => {
                if spill.holds_records() {
                    return spilled(spill.spill_now(r));
                }
                match self.tx.try_send(r) {
                    Ok(()) => Ok(true),
                    Err(mpsc::error::TrySendError::Full(r)) => spilled(spill.spill_now(r)),
                    Err(mpsc::error::TrySendError::Closed(r)) => {
                        r.fail_ack();
                        Err(StoreError::Stopped)
                    }
                }
            }
            (WhenFull::Drop | WhenFull::Spill, _) => match self.tx.try_send(r) {
                Ok(()) => Ok(true),
                Err(mpsc::error::TrySendError::Full(r)) => {
                    r.fail_ack();
                    self.queue_dropped
                        .with_label_values(&[r.kind().label()])
                        .inc();
                    Ok(false)
                }
                Err(mpsc::error::TrySendError::Closed(r)) => {
                    r.fail_ack();
                    Err(StoreError::Stopped)
                }
            },
        }
    }
}
