//! process-monitor: kernel telemetry of what runs on the host and in its containers.
//!
//! - `bpf/process_monitor.bpf.c` (+ `bpf/process_monitor.h`, the record layouts `src/wire.rs`
//!   decodes): four programs in C, compiled by `build.rs` with `clang -O2 -g -target bpf` and
//!   embedded: `sched_process_exec`, `sched_process_exit`, `inet_sock_set_state` (BTF
//!   tracepoints) and `security_file_open` (fentry). Its module comment says what each reports.
//! - [`ProcessMonitor`] (`src/kernel.rs`, `runtime` feature): loads them with aya, attaches and
//!   detaches, writes the rate limit and the watched path prefixes, reads the counters; the ring
//!   buffer is handed out as an [`EventReader`].
//! - [`decode`] (`src/wire.rs`): one ring-buffer record into an [`Event`]
//!   ([`ProcessExec`], [`ProcessExit`], [`Connect`], [`FileOpen`]), bounds-checked.
//! - [`ProcessTable`] (`src/table.rs`): pid → exe, argv, uid, parent, cgroup, start; the
//!   parent chain for rules; seeded from `/proc`.
//! - [`ContainerMap`] (`src/cgroup.rs`): cgroup id → Docker container id.
//! - [`ProcessMonitorConfig`] (`src/config.rs`): the `[process_monitor]` section, validated
//!   without the `runtime` feature.
//! - [`Metrics`] (`src/metrics.rs`): events per kind, drops per kind and cause, table size and
//!   evictions.
//!
//! # Maps
//!
//! | map | type | key → value |
//! |---|---|---|
//! | `config` | array of 1 | token bucket rate, burst, refill cap; number of live prefixes |
//! | `prefixes` | array of 8 | watched path prefix (≤ 128 bytes, ends in `/`) |
//! | `counters` | per-CPU array of 12 | kind × {emitted, rate limited, ring buffer full} |
//! | `rate_state` | per-CPU array of 4 | token bucket state per kind |
//! | `path_scratch` | per-CPU array of 1 | 256-byte buffer for the path of an open |
//! | `events` | ring buffer, `ring_buffer_size` bytes | the four record kinds |
//!
//! The daemon (`crates/daemon/src/process.rs`) loads and attaches a [`ProcessMonitor`], seeds a
//! [`ProcessTable`] from `/proc`, then for each event from the [`EventReader`]: applies it to
//! the table, asks the table for the parent chain and the [`ContainerMap`] for the container,
//! and periodically feeds [`ProcessMonitor::counters`] to [`Metrics::observe`].
//!
//! Architecture invariant: depends on `ironpost-core` only (plus aya for the kernel with the
//! `runtime` feature); it knows nothing of Sigma, the daemon or Docker's API.

mod cgroup;
mod config;
mod counters;
mod error;
#[cfg(feature = "runtime")]
mod kernel;
mod metrics;
mod table;
#[cfg(feature = "runtime")]
mod tracefs;
mod wire;

pub use cgroup::{
    ContainerMap, ContainerMapStats, DEFAULT_MIN_RESCAN, MAX_CACHED_IDS, MAX_WALK_DEPTH,
    MAX_WALK_DIRS, cgroup2_mounts,
};
pub use config::{
    MAX_RING_BUFFER_SIZE, MAX_TABLE_CAPACITY, MIN_RING_BUFFER_SIZE, ProcessMonitorConfig,
};
pub use counters::{KernelCounters, KindCounters, boot_ns_to_system_time, boottime_ns};
pub use error::{Error, Result};
#[cfg(feature = "runtime")]
pub use kernel::{EventReader, FileHook, LoadOptions, ProcessMonitor};
pub use metrics::Metrics;
pub use table::{DEFAULT_TABLE_CAPACITY, MAX_ANCESTRY_DEPTH, ProcessInfo, ProcessTable, SeedStats};
pub use wire::{
    ARGS_LEN, Connect, Cwd, CwdSource, DecodeError, Event, EventKind, FileOpen, MAX_ARGS,
    MAX_PREFIXES, PATH_LEN, PREFIX_LEN, ProcessExec, ProcessExit, TaskInfo, applet_image, decode,
    encode, receive,
};
