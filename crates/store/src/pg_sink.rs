//! Writes batches to PostgreSQL, and keeps them in the on-disk spool while it cannot.
//!
//! States: *live* (a session is open and the spool is empty: batches go to the database) and
//! *spooling* (no session, or spooled records not yet replayed: batches are appended to the spool,
//! so their order is kept). While spooling, `maintain` reconnects with exponential backoff
//! (100 ms … 5 s); once connected it applies pending migrations, replays the spool oldest segment
//! first, one transaction per segment, deleting each segment once written, and goes live.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Config;

use crate::error::{StoreError, chain};
use crate::metrics::StoreMetrics;
use crate::postgres::{Failure, Session, classify};
use crate::record::Record;
use crate::spool::{SegmentRecords, Spool};
use crate::writer::{BACKOFF_MIN, Shared, account, lock, next_backoff};

/// A batch (or a spool segment) that takes longer than this is abandoned as if the server were
/// gone: it is spooled and the connection re-established.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// The operation named in the errors of a spool replay.
const REPLAY: &str = "replay the spool";

#[derive(Debug)]
pub(crate) struct PgSink {
    config: Config,
    session: Option<Session>,
    spool: Arc<Mutex<Spool>>,
    /// Cached `spool.is_empty()`, updated after every spool operation.
    spool_empty: bool,
    retry_at: Instant,
    backoff: Duration,
    shared: Arc<Shared>,
    metrics: StoreMetrics,
}

/// Opens a session at start-up. An unreachable server is not an error (the store starts spooling);
/// any other failure (authentication, missing database, a failed migration) is.
pub(crate) async fn initial_session(
    config: &Config,
    shared: &Arc<Shared>,
) -> Result<Option<Session>, StoreError> {
    match open_session(config, shared).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if classify(&e) == Failure::Unreachable => {
            tracing::warn!(error = %chain(&e), "PostgreSQL unreachable at start; spooling until it answers");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn open_session(config: &Config, shared: &Arc<Shared>) -> Result<Session, StoreError> {
    let generation = shared.pg_generation.fetch_add(1, Ordering::SeqCst) + 1;
    let on_end = {
        let shared = shared.clone();
        move || {
            if shared.pg_generation.load(Ordering::SeqCst) == generation {
                shared.pg_up.store(false, Ordering::SeqCst);
                // Let an idle writer notice, so that it reconnects without waiting for a record.
                shared.pg_lost.notify_one();
            }
        }
    };
    let session = Session::open(config, on_end).await?;
    shared.pg_up.store(true, Ordering::SeqCst);
    Ok(session)
}

impl PgSink {
    pub(crate) fn new(
        config: Config,
        session: Option<Session>,
        spool: Spool,
        shared: Arc<Shared>,
        metrics: StoreMetrics,
    ) -> PgSink {
        metrics.set_spool(spool.bytes(), spool.records());
        PgSink {
            config,
            session,
            spool_empty: spool.is_empty(),
            spool: Arc::new(Mutex::new(spool)),
            // A spool left by a previous run is replayed as soon as the writer starts.
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            shared,
            metrics,
        }
    }

    fn live(&self) -> bool {
        self.spool_empty && self.session.as_ref().is_some_and(|s| !s.is_closed())
    }

    pub(crate) fn next_wake(&self) -> Option<Instant> {
        (!self.live()).then_some(self.retry_at)
    }

    pub(crate) async fn write(&mut self, mut batch: Vec<Record>) {
        let session = match &self.session {
            Some(s) if self.live() => s,
            _ => return self.append(batch).await,
        };
        let started = Instant::now();
        let failure =
            match tokio::time::timeout(WRITE_TIMEOUT, session.write(&batch, self.shared.node()))
                .await
            {
                Ok(Ok(out)) => return account(&self.metrics, &out, started),
                Ok(Err((e, from))) => (e, from),
                Err(_) => (
                    StoreError::Timeout {
                        op: "write a batch",
                        after: WRITE_TIMEOUT,
                    },
                    0,
                ),
            };
        // Records before `from` are committed; the rest go to the spool, in order.
        self.lost_connection(&failure.0);
        self.append(batch.split_off(failure.1)).await;
    }

    fn lost_connection(&mut self, reason: &StoreError) {
        self.metrics.write_errors.inc();
        tracing::error!(
            error = %chain(reason),
            "PostgreSQL write failed; spooling until it answers again"
        );
        self.session = None;
        self.shared.pg_up.store(false, Ordering::SeqCst);
        self.backoff = BACKOFF_MIN;
        self.retry_at = Instant::now() + self.backoff;
    }

    /// Appends to the spool on a blocking thread and publishes the spool gauges.
    async fn append(&mut self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let n = records.len() as u64;
        let spool = self.spool.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut s = lock(&spool);
            let appended = s.append(&records);
            // The spool keeps a prefix; the records after it are lost (their batches unacknowledged).
            let kept = usize::try_from(appended.spooled).unwrap_or(usize::MAX);
            records.iter().skip(kept).for_each(Record::fail_ack);
            (appended, s.bytes(), s.records(), s.is_empty())
        })
        .await;
        let (appended, bytes, count, empty) = match result {
            Ok(r) => r,
            Err(source) => {
                let e = StoreError::Task { source };
                tracing::error!(error = %chain(&e), records = n, "spool append failed; records lost");
                self.metrics.write_errors.inc();
                self.metrics.spool_dropped.inc_by(n);
                return;
            }
        };
        self.metrics.set_spool(bytes, count);
        self.spool_empty = empty;
        if let Some(e) = &appended.error {
            self.metrics.write_errors.inc();
            tracing::error!(error = %chain(e), "spool append failed");
        }
        if appended.dropped > 0 {
            self.metrics.spool_dropped.inc_by(appended.dropped);
            tracing::error!(
                dropped = appended.dropped,
                spool_bytes = bytes,
                "PostgreSQL unreachable and the spool is full or unwritable: records dropped"
            );
        }
    }

    /// Reconnects if needed, then replays the spool. On failure schedules the next attempt.
    pub(crate) async fn maintain(&mut self) {
        if self.session.as_ref().is_none_or(Session::is_closed) {
            self.session = None;
            match open_session(&self.config, &self.shared).await {
                Ok(s) => {
                    tracing::info!("PostgreSQL reachable again");
                    self.session = Some(s);
                }
                Err(e) => {
                    self.shared.pg_up.store(false, Ordering::SeqCst);
                    tracing::debug!(error = %chain(&e), retry_in = ?self.backoff, "PostgreSQL still unreachable");
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = next_backoff(self.backoff);
                    return;
                }
            }
        }
        match self.replay().await {
            Ok(()) => self.backoff = BACKOFF_MIN,
            Err(reason) => {
                // Keep the backoff growing: a server that accepts connections but fails every
                // replay must not be hammered.
                self.metrics.write_errors.inc();
                tracing::error!(error = %chain(&reason), retry_in = ?self.backoff, "spool replay failed");
                self.session = None;
                self.shared.pg_up.store(false, Ordering::SeqCst);
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = next_backoff(self.backoff);
            }
        }
    }

    /// Writes every spool segment, oldest first, each in one transaction, deleting it once written.
    async fn replay(&mut self) -> Result<(), StoreError> {
        loop {
            let spool = self.spool.clone();
            let seg = tokio::task::spawn_blocking(move || lock(&spool).read_oldest())
                .await
                .unwrap_or_else(|source| Err(StoreError::Task { source }))?;
            let Some(SegmentRecords {
                records,
                corrupt,
                path,
            }) = seg
            else {
                self.spool_empty = true;
                return Ok(());
            };
            if corrupt > 0 {
                self.metrics.spool_dropped.inc_by(corrupt);
            }
            if !records.is_empty() {
                let Some(session) = &self.session else {
                    return Err(StoreError::NoSession { op: REPLAY });
                };
                let started = Instant::now();
                match tokio::time::timeout(
                    WRITE_TIMEOUT,
                    session.write(&records, self.shared.node()),
                )
                .await
                {
                    Ok(Ok(out)) => account(&self.metrics, &out, started),
                    Ok(Err((e, _))) => return Err(e),
                    Err(_) => {
                        return Err(StoreError::Timeout {
                            op: REPLAY,
                            after: WRITE_TIMEOUT,
                        });
                    }
                }
            }
            let spool = self.spool.clone();
            let (removed, bytes, count, empty) = tokio::task::spawn_blocking(move || {
                let mut s = lock(&spool);
                let r = s.remove_oldest();
                (r, s.bytes(), s.records(), s.is_empty())
            })
            .await
            .map_err(|source| StoreError::Task { source })?;
            self.metrics.set_spool(bytes, count);
            self.spool_empty = empty;
            // A segment that cannot be deleted would be replayed again: harmless (idempotent
            // inserts), but stop here rather than loop on it.
            removed?;
            tracing::info!(segment = %path.display(), records = records.len(), left = count, "replayed spool segment");
        }
    }

    /// At stop: one last attempt to empty the spool; what cannot be written stays on disk and is
    /// replayed at the next start.
    pub(crate) async fn shutdown(&mut self) {
        if !self.live() {
            self.maintain().await;
        }
        if !self.spool_empty {
            let s = lock(&self.spool);
            tracing::warn!(
                records = s.records(),
                dir = %s.dir().display(),
                "PostgreSQL unreachable at stop: records stay spooled and are replayed at the next start"
            );
        }
    }
}
