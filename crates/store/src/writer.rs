//! The batched writer task: reads the bounded queue, cuts batches (`write_batch_size` records or
//! whatever arrived within `write_flush`), hands each to the backend's sink in arrival order, and on
//! stop drains the queue before it returns. Also the state the writer shares with `health()`.
//!
//! Architecture invariant: one writer task per store, so batches reach the database (or the spool)
//! in the order the records were queued, and an alert is written before the actions that follow it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{StoreError, chain};
use crate::metrics::StoreMetrics;
use crate::pg_sink::PgSink;
use crate::record::{BatchOutcome, Record};
use crate::spill::{self, Spill};
use crate::sqlite;

/// Retries after a failure wait this long at first, doubling up to `BACKOFF_MAX`.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Once stopping, a SQLite batch that keeps failing is given up after this many more attempts
/// (one attempt per batch once a batch was given up), so that `stop` returns.
const STOP_ATTEMPTS: u32 = 3;

/// Live state the writer keeps up to date and `health()` reads.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// A PostgreSQL session is open (always false with SQLite).
    pub(crate) pg_up: AtomicBool,
    /// Incremented per PostgreSQL session, so that only the current connection's end clears `pg_up`.
    pub(crate) pg_generation: AtomicU64,
    /// Signalled when the current PostgreSQL connection ends.
    pub(crate) pg_lost: tokio::sync::Notify,
    /// Why the last SQLite write failed, until one succeeds.
    pub(crate) sqlite_failure: Mutex<Option<String>>,
    /// `stop` was called: retry loops give up instead of waiting forever.
    pub(crate) stopping: AtomicBool,
    /// This node's name, the `node` column of local alerts and actions (`Store::set_node`).
    pub(crate) node: std::sync::OnceLock<String>,
}

impl Shared {
    pub(crate) fn node(&self) -> &str {
        self.node.get().map_or("", String::as_str)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a connection or spool that is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn next_backoff(d: Duration) -> Duration {
    (d * 2).min(BACKOFF_MAX)
}

/// Records the outcome of a committed batch.
pub(crate) fn account(metrics: &StoreMetrics, out: &BatchOutcome, started: Instant) {
    metrics
        .batch_duration
        .observe(started.elapsed().as_secs_f64());
    metrics.add_written(&out.written);
    if out.rejected > 0 {
        metrics.rejected.inc_by(out.rejected);
    }
}

/// Where batches go.
#[derive(Debug)]
pub(crate) enum Sink {
    Sqlite(SqliteSink),
    Postgres(Box<PgSink>),
}

impl Sink {
    /// False when the batch was given up (SQLite still failing while the store stops); a batch
    /// PostgreSQL did not take is in its spool, which counts as written here.
    async fn write(&mut self, batch: Vec<Record>) -> bool {
        self.write_from(batch, From::Queue).await
    }

    async fn write_from(&mut self, batch: Vec<Record>, from: From) -> bool {
        match self {
            Sink::Sqlite(s) => s.write(batch, from).await,
            Sink::Postgres(p) => {
                p.write(batch).await;
                true
            }
        }
    }

    /// When the sink wants `maintain` to run (reconnect, replay the spool).
    fn next_wake(&self) -> Option<Instant> {
        match self {
            Sink::Sqlite(_) => None,
            Sink::Postgres(p) => p.next_wake(),
        }
    }

    async fn maintain(&mut self) {
        if let Sink::Postgres(p) = self {
            p.maintain().await;
        }
    }

    async fn shutdown(&mut self) {
        if let Sink::Postgres(p) = self {
            p.shutdown().await;
        }
    }
}

/// Where a batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    Queue,
    Spill,
}

/// Writes batches to the SQLite file on a blocking thread. SQLite never spools: when a write fails
/// the store turns Unhealthy and the batch is retried with backoff, holding up the queue
/// (producers wait) until the file is writable again.
#[derive(Debug)]
pub(crate) struct SqliteSink {
    pub(crate) conn: Arc<Mutex<Connection>>,
    pub(crate) path: PathBuf,
    pub(crate) shared: Arc<Shared>,
    pub(crate) metrics: StoreMetrics,
    /// A batch was already given up while stopping: the database is not coming back in time.
    pub(crate) gave_up: bool,
}

impl SqliteSink {
    /// True once written; false when given up while stopping (a batch from the queue is then
    /// lost and counted; one from the spill stays there).
    async fn write(&mut self, batch: Vec<Record>, from: From) -> bool {
        let batch = Arc::new(batch);
        let mut delay = BACKOFF_MIN;
        let mut attempts_while_stopping = 0;
        loop {
            let started = Instant::now();
            let (conn, b, path) = (self.conn.clone(), batch.clone(), self.path.clone());
            let shared = self.shared.clone();
            let result = tokio::task::spawn_blocking(move || {
                sqlite::write_batch(&mut lock(&conn), &b, shared.node())
                    .map_err(|e| StoreError::sqlite(&path, "write batch", e))
            })
            .await
            .unwrap_or_else(|source| Err(StoreError::Task { source }));
            let err = match result {
                Ok(out) => {
                    account(&self.metrics, &out, started);
                    *lock(&self.shared.sqlite_failure) = None;
                    return true;
                }
                Err(e) => e,
            };
            let reason = chain(&err);
            self.metrics.write_errors.inc();
            tracing::error!(error = %reason, records = batch.len(), retry_in = ?delay, "SQLite write failed");
            *lock(&self.shared.sqlite_failure) = Some(reason);
            if self.shared.stopping.load(Ordering::Relaxed) {
                attempts_while_stopping += 1;
                if self.gave_up || attempts_while_stopping >= STOP_ATTEMPTS {
                    self.gave_up = true;
                    if from == From::Spill {
                        tracing::warn!(
                            records = batch.len(),
                            "store stopping: spilled records left in the spill for the next start"
                        );
                        return false;
                    }
                    self.metrics.dropped.inc_by(batch.len() as u64);
                    batch.iter().for_each(Record::fail_ack);
                    tracing::error!(
                        records = batch.len(),
                        "store stopping: giving up on a batch SQLite refuses to write; records lost"
                    );
                    return false;
                }
            }
            tokio::time::sleep(delay).await;
            delay = next_backoff(delay);
        }
    }
}

/// Settings of the writer loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) size: usize,
    pub(crate) flush: Duration,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The writer task. Returns once `stop` fired (or the `Store` was dropped) and every record
/// accepted into the queue was handed to the sink.
pub(crate) async fn run(
    mut rx: mpsc::Receiver<Record>,
    mut sink: Sink,
    batching: Batching,
    mut stop: oneshot::Receiver<()>,
    metrics: StoreMetrics,
    shared: Arc<Shared>,
    spill: Option<Arc<Spill>>,
) {
    let size = batching.size.max(1);
    let mut pending: Vec<Record> = Vec::with_capacity(size);
    let mut deadline: Option<Instant> = None;
    let mut stopping = false;
    let mut spill_check = Instant::now();
    loop {
        let wake = sink.next_wake();
        // The spill is replayed once the queue has drained (never while stopping: it stays on
        // disk for the next start).
        let replay = spill
            .as_ref()
            .filter(|s| {
                !stopping
                    && !shared.stopping.load(Ordering::SeqCst)
                    && pending.is_empty()
                    && rx.is_empty()
                    && s.outstanding() > 0
            })
            .map(|_| spill_check);
        tokio::select! {
            _ = &mut stop, if !stopping => {
                // No new records from here on; those already queued are still received.
                stopping = true;
                rx.close();
            }
            msg = rx.recv() => {
                let Some(r) = msg else { break };
                if pending.is_empty() {
                    deadline = Some(Instant::now() + batching.flush);
                }
                pending.push(r);
                while pending.len() < size {
                    match rx.try_recv() {
                        Ok(r) => pending.push(r),
                        Err(_) => break,
                    }
                }
                metrics.queue_depth.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
                if pending.len() >= size || deadline.is_some_and(|d| Instant::now() >= d) {
                    deadline = None;
                    sink.write(std::mem::take(&mut pending)).await;
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                deadline = None;
                sink.write(std::mem::take(&mut pending)).await;
            }
            () = sleep_until(wake), if wake.is_some() => sink.maintain().await,
            () = sleep_until(replay), if replay.is_some() => {
                let replayed = match &spill {
                    Some(s) => replay_segment(s, &mut sink, size).await,
                    None => false,
                };
                // Straight on to the next segment; when there was none (records still on their
                // way to the file), look again after `write_flush`.
                spill_check = Instant::now() + if replayed { Duration::ZERO } else { batching.flush };
            }
            // Nothing to do but loop: `next_wake` now asks for a reconnect.
            () = shared.pg_lost.notified() => {}
        }
    }
    if !pending.is_empty() {
        sink.write(pending).await;
    }
    metrics.queue_depth.set(0);
    sink.shutdown().await;
}

/// Writes the oldest spill segment in batches of `size` and deletes it once all are written.
/// False when there was nothing to read or a batch was given up.
async fn replay_segment(spill: &Arc<Spill>, sink: &mut Sink, size: usize) -> bool {
    let Some(records) = spill::read_oldest(spill).await else {
        return false;
    };
    let n = records.len() as u64;
    let mut it = records.into_iter();
    loop {
        let chunk: Vec<Record> = it.by_ref().take(size).collect();
        if chunk.is_empty() {
            break;
        }
        if !sink.write_from(chunk, From::Spill).await {
            return false;
        }
    }
    spill::remove_oldest(spill, n).await;
    true
}
