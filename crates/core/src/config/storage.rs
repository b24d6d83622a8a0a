//! `[log_pipeline.storage]`: where events are stored. Shared by the store, the daemon and the CLI,
//! so it lives in core; the seed places it under `[log_pipeline]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Issues, Validate, key};

/// `[log_pipeline.storage]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// PostgreSQL connection URL. Unset: embedded SQLite under `general.data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_url: Option<String>,
    /// Redis URL for alert dedup/rate state shared between nodes. Unset: in memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Rows older than this many days are deleted hourly. 0 keeps everything.
    pub retention_days: u32,
    /// SQLite file; relative paths are under `general.data_dir`.
    pub sqlite_path: PathBuf,
    /// Records written per transaction at most.
    pub write_batch_size: usize,
    /// A partial batch is written after this long.
    #[serde(rename = "write_flush_ms", with = "super::millis")]
    pub write_flush: Duration,
    /// Records queued for the writer (the store sink's own bounded buffer).
    pub queue_capacity: usize,
    /// What the daemon's routers do with a record when that queue is full (a stalled database:
    /// SQLite on a full disk retries forever). `drop` (default): the record is not stored and is
    /// counted in `ironpost_store_queue_dropped_total{kind}`; the responder and the container
    /// guard never wait for the store, and a file or journal position is not committed past a
    /// dropped record (it is read again after a restart). `block`: the router waits for room, so
    /// nothing is lost while the daemon runs, but a stalled database delays alerts to the
    /// responder and the guard. `spill`: never waits either; the record is appended (fsync'd) to
    /// the spill under `data_dir/spill/` and replayed into the database once the queue has
    /// drained (also after a restart); with the spill at `spool_max_bytes` it is dropped and
    /// counted in `ironpost_store_spill_dropped_total`.
    pub when_full: WhenFull,
    /// Bound of the on-disk spool used while PostgreSQL is unreachable, and of the spill of
    /// `when_full = "spill"` (each has its own).
    pub spool_max_bytes: u64,
}

/// What a producer does when a sink's bounded buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Wait for room (backpressure).
    Block,
    /// Count the record as dropped and go on.
    #[default]
    Drop,
    /// Append the record to an on-disk spill (bounded by `spool_max_bytes`), replayed later;
    /// drop and count when the spill is full too.
    Spill,
}

impl WhenFull {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenFull::Block => "block",
            WhenFull::Drop => "drop",
            WhenFull::Spill => "spill",
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            postgres_url: None,
            redis_url: None,
            retention_days: 30,
            sqlite_path: PathBuf::from("ironpost.db"),
            write_batch_size: 1000,
            write_flush: Duration::from_millis(200),
            queue_capacity: 10_000,
            when_full: WhenFull::Drop,
            spool_max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Validate for StorageConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if let Some(url) = &self.postgres_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.contains("host="))
        {
            issues.push(
                key(prefix, "postgres_url"),
                "must be a postgres:// or postgresql:// URL",
            );
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            issues.push(
                key(prefix, "redis_url"),
                "must be a redis://, rediss:// or unix:// URL",
            );
        }
        if self.retention_days > 36_500 {
            issues.push(
                key(prefix, "retention_days"),
                "must be at most 36500 (0 keeps everything)",
            );
        }
        if !(1..=100_000).contains(&self.write_batch_size) {
            issues.push(
                key(prefix, "write_batch_size"),
                "must be between 1 and 100000",
            );
        }
        if self.write_flush.is_zero() || self.write_flush > Duration::from_secs(60) {
            issues.push(key(prefix, "write_flush_ms"), "must be between 1 and 60000");
        }
        if !(1..=1_000_000).contains(&self.queue_capacity) {
            issues.push(
                key(prefix, "queue_capacity"),
                "must be between 1 and 1000000",
            );
        }
        if self.spool_max_bytes < 1024 * 1024 {
            issues.push(key(prefix, "spool_max_bytes"), "must be at least 1 MiB");
        }
    }
}
