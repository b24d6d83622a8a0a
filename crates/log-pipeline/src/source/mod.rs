//! Sources: components that receive raw log lines and hand them on in batches.
//!
//! Every source reports the same metrics (`ironpost_log_source_*{source}`: received lines,
//! bytes, errors, dropped, truncated), bounds each line to [`MAX_LINE`] bytes (longer lines are
//! truncated and counted, never fatal), and sends [`Batch`]es on a bounded channel, so a slow
//! pipeline pushes back on TCP senders and file readers; UDP cannot be pushed back, so the
//! kernel's receive-queue drops are read and exported instead.

pub mod ebpf;
pub mod file;
pub mod framing;
pub mod journald;
pub mod process;
pub mod syslog_tcp;
pub mod syslog_udp;

use std::net::IpAddr;
use std::sync::Arc;

use ironpost_core::metrics::{self, prometheus};

/// Longest line or message kept; the rest is cut off and counted.
pub const MAX_LINE: usize = 64 * 1024;

/// Lines received together from one origin, in one buffer.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Component kind: `file`, `syslog_udp`, `syslog_tcp`, `journald`.
    pub source: &'static str,
    /// Where from: a path or a peer address.
    pub origin: Arc<str>,
    /// When the batch was received (microseconds since the Unix epoch).
    pub received_micros: i64,
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// The byte offset in the origin of each line (file source only; empty otherwise): with the
    /// file's identity it names a line across restarts (deterministic alert ids).
    offsets: Vec<u64>,
    /// The network sender of the lines (syslog): empty when there is none (files, journal),
    /// one address for the whole batch (a TCP connection), or one per line (UDP datagrams).
    senders: Vec<IpAddr>,
}

impl Batch {
    pub fn new(source: &'static str, origin: Arc<str>) -> Self {
        Batch {
            source,
            origin,
            received_micros: now_micros(),
            buf: Vec::new(),
            ends: Vec::new(),
            offsets: Vec::new(),
            senders: Vec::new(),
        }
    }

    /// Every line of this batch came from `ip` (a TCP peer). IPv4-mapped IPv6 is kept as IPv4.
    pub fn set_sender(&mut self, ip: IpAddr) {
        self.senders.clear();
        self.senders.push(ip.to_canonical());
    }

    /// Appends one line (already bounded) sent by `ip` (a UDP datagram's source).
    pub fn push_from(&mut self, line: &[u8], ip: IpAddr) {
        // Lines pushed before without a sender would shift the per-line list: keep it aligned.
        if self.senders.len() != self.ends.len() {
            let fill = self.senders.first().copied();
            self.senders.resize(self.ends.len(), fill.unwrap_or(ip));
        }
        self.push(line);
        self.senders.push(ip.to_canonical());
    }

    /// The network sender of line `i`, if the source knows one.
    pub fn sender(&self, i: usize) -> Option<IpAddr> {
        match self.senders.as_slice() {
            [one] => Some(*one),
            many => many.get(i).copied(),
        }
    }

    /// A batch whose buffer already holds `bytes` bytes (about `bytes / 64` lines), so filling it
    /// from one read does not reallocate.
    pub fn with_capacity(source: &'static str, origin: Arc<str>, bytes: usize) -> Self {
        let mut b = Batch::new(source, origin);
        b.buf.reserve_exact(bytes);
        b.ends.reserve(bytes / 64 + 1);
        b
    }

    /// Appends one line (already bounded by the caller).
    pub fn push(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        self.ends.push(self.buf.len());
    }

    /// Appends one line (already bounded) that starts at byte `offset` of its file.
    pub fn push_at(&mut self, line: &[u8], offset: u64) {
        self.push(line);
        self.offsets.push(offset);
    }

    /// Where line `i` starts in its file, when the source knows.
    pub fn offset(&self, i: usize) -> Option<u64> {
        self.offsets.get(i).copied()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Line `i`, if the batch has that many.
    pub fn line(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.buf.get(start..end)
    }

    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.buf[start..end];
            start = end;
            line
        })
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The metrics every source reports, labelled by component kind.
#[derive(Clone)]
pub struct SourceMetrics {
    pub received: prometheus::IntCounterVec,
    pub bytes: prometheus::IntCounterVec,
    pub errors: prometheus::IntCounterVec,
    pub dropped: prometheus::IntCounterVec,
    pub truncated: prometheus::IntCounterVec,
    pub connections: prometheus::IntGaugeVec,
    /// Lines read again after a restart (past the last committed checkpoint): possible duplicates.
    pub replayed: prometheus::IntCounterVec,
    /// Batches whose records were not all stored: the source's position stays before them.
    pub ack_failed: prometheus::IntCounterVec,
    /// Bytes of files whose lines' results are all stored (the committed offsets' progress).
    pub acked_bytes: prometheus::IntCounterVec,
    /// Checkpoint files found damaged (moved aside; the files are read again from their start).
    pub checkpoint_corrupt: prometheus::IntCounter,
}

impl std::fmt::Debug for SourceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMetrics").finish_non_exhaustive()
    }
}

impl SourceMetrics {
    pub fn new(r: &prometheus::Registry) -> Self {
        let l = &["source"];
        SourceMetrics {
            received: metrics::int_counter_vec(
                r,
                "log_source_received_total",
                "Lines or messages received.",
                l,
            ),
            bytes: metrics::int_counter_vec(r, "log_source_bytes_total", "Bytes received.", l),
            errors: metrics::int_counter_vec(
                r,
                "log_source_errors_total",
                "Receive errors and malformed frames.",
                l,
            ),
            dropped: metrics::int_counter_vec(
                r,
                "log_source_dropped_total",
                "Messages lost before reaching the pipeline (kernel receive queue overflow, refused connections).",
                l,
            ),
            truncated: metrics::int_counter_vec(
                r,
                "log_source_truncated_total",
                "Lines longer than 64 KiB, cut to 64 KiB.",
                l,
            ),
            connections: metrics::int_gauge_vec(
                r,
                "log_source_connections",
                "Open connections.",
                l,
            ),
            replayed: metrics::int_counter_vec(
                r,
                "log_source_replayed_total",
                "Lines read again after a restart because they were read but not yet acknowledged (possible duplicates).",
                l,
            ),
            ack_failed: metrics::int_counter_vec(
                r,
                "log_source_ack_failed_total",
                "Batches not acknowledged because something derived from them was not stored; the position stays before them until a restart replays them.",
                l,
            ),
            acked_bytes: metrics::int_counter_vec(
                r,
                "log_source_acked_bytes_total",
                "Bytes by which committed file offsets advanced: lines whose alerts and evidence are all stored.",
                l,
            ),
            checkpoint_corrupt: metrics::int_counter(
                r,
                "log_checkpoint_corrupt_total",
                "File-source checkpoint files found damaged at start (moved aside; files read again from their start).",
            ),
        }
    }

    /// Counts a batch about to be sent.
    pub fn count(&self, b: &Batch) {
        self.received
            .with_label_values(&[b.source])
            .inc_by(b.len() as u64);
        self.bytes
            .with_label_values(&[b.source])
            .inc_by(b.bytes() as u64);
    }
}
