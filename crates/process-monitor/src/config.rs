//! `[process_monitor]`: whether the kernel telemetry runs, which directories' write-opens are
//! reported, the kernel's rate limit and ring buffer, and the process table's size. Validated
//! without the `runtime` feature (the config crate and the CLI link this), each problem naming
//! its key.

use std::path::PathBuf;

use ironpost_core::config::{Issues, Validate, key};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::DEFAULT_TABLE_CAPACITY;
use crate::wire::{MAX_PREFIXES, PREFIX_LEN};

/// Smallest and largest ring buffer accepted (the kernel wants a power of two, a multiple of the
/// page size).
pub const MIN_RING_BUFFER_SIZE: u32 = 4096;
pub const MAX_RING_BUFFER_SIZE: u32 = 1 << 28;
/// Largest process table accepted.
pub const MAX_TABLE_CAPACITY: usize = 1 << 20;

/// The `[process_monitor]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessMonitorConfig {
    pub enabled: bool,
    /// Directories under which an open for writing (or creating) raises a file event: at most
    /// [`MAX_PREFIXES`], absolute, without `.`/`..`, at most 126 bytes. Empty: no file events.
    pub watched_paths: Vec<PathBuf>,
    /// Token bucket refill per second, per CPU and per event kind; beyond it events are dropped
    /// in the kernel and counted (`ironpost_process_monitor_dropped_total{cause="rate_limited"}`).
    pub events_per_second: u32,
    /// Token bucket capacity per CPU and event kind.
    pub events_burst: u32,
    /// Bytes of the event ring buffer: a power of two, 4 KiB to 256 MiB.
    pub ring_buffer_size: u32,
    /// Processes kept in the process table (the oldest evicted and counted).
    pub table_capacity: usize,
}

impl Default for ProcessMonitorConfig {
    fn default() -> Self {
        ProcessMonitorConfig {
            enabled: false,
            watched_paths: ["/etc/", "/root/.ssh/", "/var/spool/cron/"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            events_per_second: 5_000,
            events_burst: 10_000,
            ring_buffer_size: 1 << 20,
            table_capacity: DEFAULT_TABLE_CAPACITY,
        }
    }
}

impl Validate for ProcessMonitorConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if let Err(e) = prefixes(&self.watched_paths) {
            issues.push(key(prefix, "watched_paths"), e);
        }
        if self.events_per_second == 0 {
            issues.push(
                key(prefix, "events_per_second"),
                "must be at least 1 (0 would stop every event once the burst is spent)",
            );
        }
        if self.events_burst == 0 {
            issues.push(key(prefix, "events_burst"), "must be at least 1");
        }
        if !self.ring_buffer_size.is_power_of_two()
            || !(MIN_RING_BUFFER_SIZE..=MAX_RING_BUFFER_SIZE).contains(&self.ring_buffer_size)
        {
            issues.push(
                key(prefix, "ring_buffer_size"),
                format!(
                    "must be a power of two between {MIN_RING_BUFFER_SIZE} and {MAX_RING_BUFFER_SIZE}"
                ),
            );
        }
        if !(1..=MAX_TABLE_CAPACITY).contains(&self.table_capacity) {
            issues.push(
                key(prefix, "table_capacity"),
                format!("must be between 1 and {MAX_TABLE_CAPACITY}"),
            );
        }
    }
}

/// The watched paths as the kernel matches them: absolute, without `.`/`..` components,
/// ending in `/`.
pub(crate) fn prefixes(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt;

    if paths.len() > MAX_PREFIXES {
        return Err(Error::TooManyWatchedPaths {
            count: paths.len(),
            max: MAX_PREFIXES,
        });
    }
    paths
        .iter()
        .map(|p| {
            let bad = |reason| Error::WatchedPath {
                path: p.clone(),
                reason,
            };
            if !p.is_absolute() {
                return Err(bad("not absolute"));
            }
            if p.components().any(|c| {
                matches!(
                    c,
                    std::path::Component::ParentDir | std::path::Component::CurDir
                )
            }) {
                return Err(bad(
                    "has `.` or `..` components (the kernel matches resolved paths)",
                ));
            }
            let mut b = p.as_os_str().as_bytes().to_vec();
            while b.len() > 1 && b.ends_with(b"/") {
                b.pop();
            }
            if b != b"/" {
                b.push(b'/');
            }
            if b.len() > PREFIX_LEN {
                return Err(bad("longer than the kernel's 128-byte prefix"));
            }
            Ok(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_paths_become_slash_terminated_prefixes() {
        let ok = |p: &str| {
            prefixes(&[PathBuf::from(p)]).map(|v| String::from_utf8(v[0].clone()).unwrap())
        };
        assert_eq!(ok("/etc").unwrap(), "/etc/");
        assert_eq!(ok("/etc///").unwrap(), "/etc/");
        assert_eq!(ok("/").unwrap(), "/");
        assert!(matches!(
            ok("etc"),
            Err(Error::WatchedPath {
                reason: "not absolute",
                ..
            })
        ));
        assert!(matches!(ok("/etc/../root"), Err(Error::WatchedPath { .. })));
        assert!(ok(&format!("/{}", "a".repeat(126))).is_ok());
        assert!(ok(&format!("/{}", "a".repeat(127))).is_err());
        let nine: Vec<PathBuf> = (0..9).map(|i| PathBuf::from(format!("/d{i}"))).collect();
        assert!(matches!(
            prefixes(&nine),
            Err(Error::TooManyWatchedPaths { count: 9, max: 8 })
        ));
    }

    #[test]
    fn defaults_are_valid_and_problems_name_their_key() {
        let mut issues = Issues::default();
        ProcessMonitorConfig::default().validate("process_monitor", &mut issues);
        assert!(issues.is_empty(), "{:?}", issues.into_vec());
        let bad = ProcessMonitorConfig {
            watched_paths: vec![PathBuf::from("etc")],
            events_per_second: 0,
            events_burst: 0,
            ring_buffer_size: 5000,
            table_capacity: 0,
            ..Default::default()
        };
        let mut issues = Issues::default();
        bad.validate("process_monitor", &mut issues);
        let text: Vec<String> = issues
            .into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.key, i.message))
            .collect();
        for k in [
            "process_monitor.watched_paths: watched path etc: not absolute",
            "process_monitor.events_per_second",
            "process_monitor.events_burst",
            "process_monitor.ring_buffer_size",
            "process_monitor.table_capacity",
        ] {
            assert!(text.iter().any(|t| t.starts_with(k)), "{k} in {text:?}");
        }
    }
}
