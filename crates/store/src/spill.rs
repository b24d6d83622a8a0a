//! `storage.when_full = "spill"`: records that find the writer's queue full go to an on-disk
//! spill (the spool format of [`crate::spool`]: fsync'd JSON-lines segments under
//! `data_dir/spill/`, bounded by `spool_max_bytes`) and are replayed into the store once the
//! queue has drained.
//!
//! - A producer never waits: [`SpillSender::offer`] is a `try_send` into a bounded channel
//!   ([`CHANNEL_CAPACITY`]) read by the appender task, which appends batches to the spill and
//!   fsyncs them on a blocking thread. A record is acknowledged (its token dropped) once appended;
//!   one that finds the channel full, or the spill at `spool_max_bytes`, or whose append fails, is
//!   dropped: counted in `ironpost_store_spill_dropped_total` and its token failed.
//! - Order: while the spill holds anything (on disk or on its way there), every new record is
//!   spilled too, behind it, so records reach the database in the order they were submitted (an
//!   alert before the actions that reference it). The writer replays the oldest segment, in
//!   batches of `write_batch_size`, whenever its queue is empty, and deletes it once written.
//! - A segment written but not yet deleted when the daemon dies is replayed again at the next
//!   start: writes are `INSERT … ON CONFLICT (id) DO NOTHING`, so nothing is stored twice. The
//!   spill left by a previous run is replayed before anything new is written.
//!
//! Architecture invariant: producers only touch the channel and an atomic counter; file I/O runs on
//! blocking threads of the appender and the writer.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, chain};
use crate::metrics::StoreMetrics;
use crate::record::Record;
use crate::spool::{SEGMENT_BYTES, Spool};
use crate::writer::lock;

/// Records on their way from producers to the spill file, at most.
pub(crate) const CHANNEL_CAPACITY: usize = 4096;

/// State shared by producers, the appender and the writer.
#[derive(Debug)]
pub(crate) struct Spill {
    spool: Mutex<Spool>,
    /// Records in the channel or on disk, not yet replayed: while above 0, new records are spilled.
    outstanding: AtomicU64,
    metrics: StoreMetrics,
}

impl Spill {
    /// Opens `dir` and takes stock of a spill left by a previous run.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        metrics: StoreMetrics,
    ) -> Result<Spill, StoreError> {
        let spool = Spool::open(dir, max_bytes, SEGMENT_BYTES)?;
        metrics.set_spill(spool.bytes(), spool.records());
        Ok(Spill {
            outstanding: AtomicU64::new(spool.records()),
            spool: Mutex::new(spool),
            metrics,
        })
    }

    pub(crate) fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::SeqCst)
    }

    fn settle(&self, n: u64) {
        let _ = self
            .outstanding
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(n))
            });
    }

    fn publish(&self, s: &Spool) {
        self.metrics.set_spill(s.bytes(), s.records());
    }
}

/// The producers' side: cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct SpillSender {
    tx: mpsc::Sender<Record>,
    spill: Arc<Spill>,
}

/// What [`SpillSender::spill_now`] did with a record.
pub(crate) enum Offer {
    /// On its way to the spill.
    Spilled,
    /// Dropped (counted, token failed).
    Dropped,
    /// The store stopped (token failed).
    Stopped,
}

impl SpillSender {
    /// The spill holds records (on disk or on their way): a new record goes behind them, to keep
    /// the order.
    pub(crate) fn holds_records(&self) -> bool {
        self.spill.outstanding() > 0
    }

    /// Spills `r` (the queue is full).
    pub(crate) fn spill_now(&self, r: Record) -> Offer {
        self.spill.outstanding.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(r) {
            Ok(()) => Offer::Spilled,
            Err(e) => {
                self.spill.settle(1);
                let (r, out) = match e {
                    mpsc::error::TrySendError::Full(r) => {
                        self.spill.metrics.spill_dropped.inc();
                        (r, Offer::Dropped)
                    }
                    mpsc::error::TrySendError::Closed(r) => (r, Offer::Stopped),
                };
                r.fail_ack();
                out
            }
        }
    }
}

/// The appender's receiving end until the store starts it.
#[derive(Debug)]
pub(crate) struct Appender {
    rx: mpsc::Receiver<Record>,
    spill: Arc<Spill>,
    batch: usize,
}

pub(crate) fn channel(spill: Arc<Spill>, batch: usize) -> (SpillSender, Appender) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    (
        SpillSender {
            tx,
            spill: spill.clone(),
        },
        Appender {
            rx,
            spill,
            batch: batch.max(1),
        },
    )
}

impl Appender {
    /// Appends what arrives until `stop`; then appends what is already in the channel and returns
    /// (later offers fail as stopped).
    pub(crate) async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut buf = Vec::with_capacity(self.batch);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut buf, self.batch) => if n == 0 { return },
                _ = &mut stop => {
                    self.rx.close();
                    while self.rx.recv_many(&mut buf, self.batch).await > 0 {
                        self.append(std::mem::take(&mut buf)).await;
                    }
                    return;
                }
            }
            self.append(std::mem::take(&mut buf)).await;
        }
    }

    async fn append(&self, records: Vec<Record>) {
        let n = records.len() as u64;
        let spill = self.spill.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut s = lock(&spill.spool);
            let appended = s.append(&records);
            spill.publish(&s);
            drop(s);
            // The spill keeps a prefix (fsync'd): those records are acknowledged as they drop here;
            // the rest are lost.
            let kept = usize::try_from(appended.spooled).unwrap_or(usize::MAX);
            records.iter().skip(kept).for_each(Record::fail_ack);
            appended
        })
        .await;
        let m = &self.spill.metrics;
        match done {
            Ok(a) => {
                m.spilled.inc_by(a.spooled);
                if let Some(e) = &a.error {
                    m.write_errors.inc();
                    tracing::error!(error = %chain(e), "spill append failed");
                }
                if a.dropped > 0 {
                    m.spill_dropped.inc_by(a.dropped);
                    self.spill.settle(a.dropped);
                    tracing::error!(
                        dropped = a.dropped,
                        "store queue full and the spill full or unwritable: records dropped"
                    );
                }
            }
            Err(source) => {
                let e = StoreError::Task { source };
                tracing::error!(error = %chain(&e), records = n, "spill append failed; records lost");
                m.spill_dropped.inc_by(n);
                self.spill.settle(n);
            }
        }
    }
}

/// The oldest spilled segment, read for the writer to replay.
pub(crate) async fn read_oldest(spill: &Arc<Spill>) -> Option<Vec<Record>> {
    let s = spill.clone();
    let read = tokio::task::spawn_blocking(move || lock(&s.spool).read_oldest()).await;
    match read {
        Ok(Ok(Some(seg))) => {
            if seg.corrupt > 0 {
                spill.metrics.spill_dropped.inc_by(seg.corrupt);
            }
            Some(seg.records)
        }
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            spill.metrics.write_errors.inc();
            tracing::error!(error = %chain(&e), "cannot read the spill");
            None
        }
        Err(source) => {
            tracing::error!(error = %chain(&StoreError::Task { source }), "cannot read the spill");
            None
        }
    }
}

/// Deletes the oldest segment once its `n` records were written.
pub(crate) async fn remove_oldest(spill: &Arc<Spill>, n: u64) {
    let s = spill.clone();
    let removed = tokio::task::spawn_blocking(move || {
        let mut g = lock(&s.spool);
        let before = g.records();
        let r = g.remove_oldest().map(|()| before - g.records());
        s.publish(&g);
        r
    })
    .await
    .unwrap_or_else(|source| Err(StoreError::Task { source }));
    match removed {
        // `lines` counts the segment's unreadable lines too (counted as dropped when read).
        Ok(lines) => {
            spill.metrics.spill_replayed.inc_by(n);
            spill.settle(lines);
        }
        // Left in place: replayed again later (idempotent), so nothing is settled.
        Err(e) => {
            spill.metrics.write_errors.inc();
            tracing::error!(error = %chain(&e), "cannot delete a replayed spill segment");
        }
    }
}
