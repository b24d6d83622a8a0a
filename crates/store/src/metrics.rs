//! The store's Prometheus metrics (names without the registry's `ironpost_` prefix). Labels are
//! only the event kind (`packet`, `log`, `alert`, `action`).

use ironpost_core::metrics::{self as m, prometheus};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, Registry};

use crate::record::{Kind, KindCounts};

#[derive(Debug, Clone)]
pub(crate) struct StoreMetrics {
    /// Records committed to the database (an already-stored id is accepted and ignored).
    pub(crate) written: IntCounterVec,
    /// Failed write attempts (a batch that will be retried or spooled, a spool append that failed).
    pub(crate) write_errors: IntCounter,
    /// Records the database refused for a data reason (constraint, invalid value); they are dropped.
    pub(crate) rejected: IntCounter,
    pub(crate) batch_duration: Histogram,
    pub(crate) queue_depth: IntGauge,
    /// Records not queued because the queue was full (`when_full = "drop"`), by kind.
    pub(crate) queue_dropped: IntCounterVec,
    pub(crate) spool_bytes: IntGauge,
    pub(crate) spool_records: IntGauge,
    pub(crate) spool_dropped: IntCounter,
    /// `when_full = "spill"`: records appended to the spill, replayed from it, dropped (channel or
    /// spill full, an append that failed, an unreadable line); the spill's size.
    pub(crate) spilled: IntCounter,
    pub(crate) spill_replayed: IntCounter,
    pub(crate) spill_dropped: IntCounter,
    pub(crate) spill_bytes: IntGauge,
    pub(crate) spill_records: IntGauge,
    /// Records accepted but given up unwritten: SQLite still failing when the store stopped.
    pub(crate) dropped: IntCounter,
    pub(crate) retention_deleted: IntCounterVec,
}

impl StoreMetrics {
    pub(crate) fn register(r: &Registry) -> Self {
        let s = StoreMetrics {
            written: m::int_counter_vec(
                r,
                "store_records_written_total",
                "Records committed to the database, by kind.",
                &["kind"],
            ),
            write_errors: m::int_counter(
                r,
                "store_write_errors_total",
                "Failed batch writes or spool appends (retried, spooled or dropped).",
            ),
            rejected: m::int_counter(
                r,
                "store_rejected_total",
                "Records the database refused for a data reason (constraint violation, invalid value).",
            ),
            batch_duration: m::histogram(
                r,
                "store_batch_duration_seconds",
                "Time to write one batch in one transaction.",
                m::latency_buckets(),
            ),
            queue_depth: m::int_gauge(r, "store_queue_depth", "Records queued for the writer."),
            queue_dropped: m::int_counter_vec(
                r,
                "store_queue_dropped_total",
                "Records not stored because the writer's queue was full (when_full = \"drop\"), by kind.",
                &["kind"],
            ),
            spool_bytes: m::int_gauge(
                r,
                "store_spool_bytes",
                "Bytes in the PostgreSQL outage spool.",
            ),
            spool_records: m::int_gauge(
                r,
                "store_spool_records",
                "Records in the PostgreSQL outage spool.",
            ),
            spool_dropped: m::int_counter(
                r,
                "store_spool_dropped_total",
                "Records lost because the spool was full, unwritable or corrupt.",
            ),
            spilled: m::int_counter(
                r,
                "store_spilled_total",
                "Records spilled to disk because the writer's queue was full (when_full = \"spill\").",
            ),
            spill_replayed: m::int_counter(
                r,
                "store_spill_replayed_total",
                "Spilled records replayed into the database.",
            ),
            spill_dropped: m::int_counter(
                r,
                "store_spill_dropped_total",
                "Records lost because the queue and the spill were full, or the spill unwritable or corrupt.",
            ),
            spill_bytes: m::int_gauge(r, "store_spill_bytes", "Bytes in the queue-overflow spill."),
            spill_records: m::int_gauge(
                r,
                "store_spill_records",
                "Records in the queue-overflow spill.",
            ),
            dropped: m::int_counter(
                r,
                "store_dropped_total",
                "Records given up unwritten because the database still failed when the store stopped.",
            ),
            retention_deleted: m::int_counter_vec(
                r,
                "store_retention_deleted_total",
                "Rows deleted by retention, by kind.",
                &["kind"],
            ),
        };
        // Every kind shows up from the start, at 0.
        for k in Kind::ALL {
            s.written.with_label_values(&[k.label()]);
            s.retention_deleted.with_label_values(&[k.label()]);
            s.queue_dropped.with_label_values(&[k.label()]);
        }
        s
    }

    pub(crate) fn add_written(&self, counts: &KindCounts) {
        for (kind, n) in counts.iter() {
            if n > 0 {
                self.written.with_label_values(&[kind.label()]).inc_by(n);
            }
        }
    }

    pub(crate) fn set_spool(&self, bytes: u64, records: u64) {
        self.spool_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.spool_records
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_spill(&self, bytes: u64, records: u64) {
        self.spill_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.spill_records
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }
}
