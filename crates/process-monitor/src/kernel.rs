//! [`ProcessMonitor`]: loads the embedded telemetry object with aya (CO-RE relocations against
//! the running kernel's BTF), attaches and detaches its four programs, writes the `config` and
//! `prefixes` maps, sums the per-CPU counters, and hands out the ring buffer as an
//! [`EventReader`].

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use aya::maps::{Array, Map, MapData, MapError, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, FEntry, ProgramError, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use crate::config::prefixes;
use crate::counters::{KernelCounters, KindCounters};
use crate::error::{Error, Result};
use crate::wire::{self, CNT_PER_KIND, CNT_SLOTS, Event, PREFIX_LEN};

/// The compiled `bpf/process_monitor.bpf.c` (built by `build.rs`).
static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/process_monitor.bpf.o"));

const CONFIG: &str = "config";
const PREFIXES: &str = "prefixes";
const COUNTERS: &str = "counters";
const EVENTS: &str = "events";

/// How file opens are seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileHook {
    /// fentry on `security_file_open`: the resolved path of every open.
    Fentry,
    /// The kernel refused fentry: tracepoints on the open syscalls, which see only absolute
    /// names as the caller passed them (docs/process-monitor.md lists the gaps).
    SyscallTracepoints,
}

/// A program's attachment; dropping it detaches the program.
#[allow(dead_code)] // held for its Drop
enum AttachedLink {
    BtfTracePoint(aya::programs::tp_btf::BtfTracePointLink),
    FEntry(aya::programs::fentry::FEntryLink),
    TracePoint(aya::programs::trace_point::TracePointLink),
}

/// The BTF tracepoints: (program, tracepoint).
const BTF_TRACEPOINTS: [(&str, &str); 3] = [
    ("process_exec", "sched_process_exec"),
    ("process_exit", "sched_process_exit"),
    ("tcp_connect", "inet_sock_set_state"),
];
const FENTRY: (&str, &str) = ("file_open", "security_file_open");
/// The fallback file hooks: (program, syscalls tracepoint).
const SYSCALL_TRACEPOINTS: [(&str, &str); 4] = [
    ("sys_openat", "sys_enter_openat"),
    ("sys_open", "sys_enter_open"),
    ("sys_creat", "sys_enter_creat"),
    ("sys_openat2", "sys_enter_openat2"),
];

/// What the loader needs: ring size, rate limit and watched paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Bytes of the event ring buffer (a power of two, multiple of the page size).
    pub ring_buffer_size: u32,
    /// Token bucket refill per second, per CPU and per kind; 0 = never refill (only
    /// `events_burst` events per CPU and kind, ever — for tests).
    pub events_per_second: u32,
    /// Token bucket capacity per CPU and kind.
    pub events_burst: u32,
    /// Directories under which a write-open raises a file event (at most [`MAX_PREFIXES`],
    /// absolute, at most [`PREFIX_LEN`] - 2 bytes). Empty: no file events at all.
    pub watched_paths: Vec<PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            ring_buffer_size: 1 << 20,
            events_per_second: 5_000,
            events_burst: 10_000,
            watched_paths: Vec::new(),
        }
    }
}

impl LoadOptions {
    /// The options of a `[process_monitor]` section.
    pub fn from_config(c: &crate::ProcessMonitorConfig) -> Self {
        LoadOptions {
            ring_buffer_size: c.ring_buffer_size,
            events_per_second: c.events_per_second,
            events_burst: c.events_burst,
            watched_paths: c.watched_paths.clone(),
        }
    }
}

/// `struct monitor_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct RawConfig {
    event_rate_per_sec: u64,
    event_burst: u64,
    refill_cap_ns: u64,
    prefix_count: u32,
    _pad: u32,
}

/// `struct path_prefix`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct RawPrefix {
    len: u32,
    _pad: u32,
    path: [u8; PREFIX_LEN],
}

const _: () = {
    assert!(size_of::<RawConfig>() == 32);
    assert!(size_of::<RawPrefix>() == 136);
};

#[allow(unsafe_code)]
mod pod {
    // SAFETY: both are #[repr(C)] structs of integers and byte arrays without implicit padding
    // (sizes asserted above against the C header), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::RawConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RawPrefix {}
}

fn set_rate(c: &mut RawConfig, per_second: u32, burst: u32) {
    c.event_rate_per_sec = u64::from(per_second);
    c.event_burst = u64::from(burst);
    // After this long an empty bucket is full again; capping elapsed time there keeps
    // elapsed * rate within u64 in the kernel.
    c.refill_cap_ns = if per_second == 0 {
        0
    } else {
        (u64::from(burst) * 1_000_000_000).div_ceil(u64::from(per_second))
    };
}

/// The loaded programs and their maps.
pub struct ProcessMonitor {
    bpf: Ebpf,
    config: Array<MapData, RawConfig>,
    prefixes: Array<MapData, RawPrefix>,
    counters: PerCpuArray<MapData, u64>,
    events: Option<RingBuf<MapData>>,
    /// The programs' links while attached (all four or none).
    links: Vec<AttachedLink>,
    file_hook: FileHook,
    watched: Vec<PathBuf>,
}

impl std::fmt::Debug for ProcessMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessMonitor")
            .field("attached", &self.is_attached())
            .field("watched", &self.watched)
            .field("event_reader_taken", &self.events.is_none())
            .finish_non_exhaustive()
    }
}

fn take<T>(bpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = bpf.take_map(name).ok_or(Error::MapLayout {
        map: name,
        source: None,
    })?;
    T::try_from(map).map_err(|e| Error::MapLayout {
        map: name,
        source: Some(Box::new(e)),
    })
}

fn load_error(program: &'static str, attach_to: &'static str, source: ProgramError) -> Error {
    match source {
        ProgramError::LoadError {
            ref verifier_log, ..
        } => Error::Verifier {
            program,
            verifier_log: verifier_log.to_string(),
            source: Box::new(source),
        },
        source => Error::ProgramLoad {
            program,
            attach_to,
            source: Box::new(source),
        },
    }
}

impl ProcessMonitor {
    /// Loads the programs into the kernel (not attached: see [`ProcessMonitor::attach`]) and
    /// writes the rate limit and watched paths. Needs root (CAP_BPF + CAP_PERFMON) and a kernel
    /// with BTF.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        let prefixes = prefixes(&opts.watched_paths)?;
        let btf = Btf::from_sys_fs().map_err(|e| Error::Btf {
            source: Box::new(e),
        })?;
        let mut bpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries(EVENTS, opts.ring_buffer_size)
            .load(OBJECT)
            .map_err(|source| Error::Load {
                ring_buffer_size: opts.ring_buffer_size,
                source: Box::new(source),
            })?;
        for (program, attach_to) in BTF_TRACEPOINTS {
            <&mut BtfTracePoint>::try_from(
                bpf.program_mut(program)
                    .ok_or(Error::MissingProgram { program })?,
            )
            .map_err(|_| Error::MissingProgram { program })?
            .load(attach_to, &btf)
            .map_err(|e| load_error(program, attach_to, e))?;
        }
        let file_hook = match <&mut FEntry>::try_from(
            bpf.program_mut(FENTRY.0)
                .ok_or(Error::MissingProgram { program: FENTRY.0 })?,
        )
        .map_err(|_| Error::MissingProgram { program: FENTRY.0 })?
        .load(FENTRY.1, &btf)
        {
            Ok(()) => FileHook::Fentry,
            Err(e) => {
                tracing::info!(
                    error = %ironpost_core::error_chain(&e),
                    "the kernel refuses fentry programs; watching file opens through the open \
                     syscalls' tracepoints (absolute names only)"
                );
                for (program, _) in SYSCALL_TRACEPOINTS {
                    <&mut TracePoint>::try_from(
                        bpf.program_mut(program)
                            .ok_or(Error::MissingProgram { program })?,
                    )
                    .map_err(|_| Error::MissingProgram { program })?
                    .load()
                    .map_err(|e| load_error(program, "syscalls", e))?;
                }
                FileHook::SyscallTracepoints
            }
        };
        let mut m = ProcessMonitor {
            config: take(&mut bpf, CONFIG)?,
            prefixes: take(&mut bpf, PREFIXES)?,
            counters: take(&mut bpf, COUNTERS)?,
            events: Some(take(&mut bpf, EVENTS)?),
            bpf,
            links: Vec::new(),
            watched: Vec::new(),
            file_hook,
        };
        m.write_config(|c| set_rate(c, opts.events_per_second, opts.events_burst))?;
        m.write_prefixes(&opts.watched_paths, &prefixes)?;
        Ok(m)
    }

    /// Attaches the programs; events flow from now on. Dropping the monitor detaches them.
    /// With [`FileHook::SyscallTracepoints`], tracefs is mounted on `/sys/kernel/tracing` first
    /// when no tracefs is mounted (aya finds tracepoints' ids there).
    pub fn attach(&mut self) -> Result<()> {
        if !self.links.is_empty() {
            return Ok(());
        }
        let result = self.attach_all();
        if result.is_err() {
            // Leave nothing half attached.
            self.links.clear();
        }
        result
    }

    fn attach_all(&mut self) -> Result<()> {
        let attach_err = |program, attach_to| {
            move |e: ProgramError| Error::Attach {
                program,
                attach_to,
                source: Box::new(e),
            }
        };
        for (program, attach_to) in BTF_TRACEPOINTS {
            let tp = <&mut BtfTracePoint>::try_from(
                self.bpf
                    .program_mut(program)
                    .ok_or(Error::MissingProgram { program })?,
            )
            .map_err(|_| Error::MissingProgram { program })?;
            let link = tp
                .attach()
                .and_then(|id| tp.take_link(id))
                .map_err(attach_err(program, attach_to))?;
            self.links.push(AttachedLink::BtfTracePoint(link));
        }
        match self.file_hook {
            FileHook::Fentry => {
                let (program, attach_to) = FENTRY;
                let f = <&mut FEntry>::try_from(
                    self.bpf
                        .program_mut(program)
                        .ok_or(Error::MissingProgram { program })?,
                )
                .map_err(|_| Error::MissingProgram { program })?;
                let link = f
                    .attach()
                    .and_then(|id| f.take_link(id))
                    .map_err(attach_err(program, attach_to))?;
                self.links.push(AttachedLink::FEntry(link));
            }
            FileHook::SyscallTracepoints => {
                crate::tracefs::ensure_mounted()?;
                for (program, attach_to) in SYSCALL_TRACEPOINTS {
                    let tp = <&mut TracePoint>::try_from(
                        self.bpf
                            .program_mut(program)
                            .ok_or(Error::MissingProgram { program })?,
                    )
                    .map_err(|_| Error::MissingProgram { program })?;
                    let link = tp
                        .attach("syscalls", attach_to)
                        .and_then(|id| tp.take_link(id))
                        .map_err(attach_err(program, attach_to))?;
                    self.links.push(AttachedLink::TracePoint(link));
                }
            }
        }
        Ok(())
    }

    /// How file opens are seen on this kernel.
    pub fn file_hook(&self) -> FileHook {
        self.file_hook
    }

    /// Detaches every program (the maps, counters and the ring buffer stay).
    pub fn detach(&mut self) {
        // Dropping a link detaches its program.
        self.links.clear();
    }

    pub fn is_attached(&self) -> bool {
        !self.links.is_empty()
    }

    /// Hands the event ring buffer to a reader; `None` after the first call.
    pub fn take_event_reader(&mut self) -> Option<EventReader> {
        self.events.take().map(|ring| EventReader {
            ring,
            bad_records: 0,
        })
    }

    /// The counters summed over CPUs.
    pub fn counters(&self) -> Result<KernelCounters> {
        let mut out = KernelCounters::default();
        for slot in 0..CNT_SLOTS {
            let per_cpu = self.counters.get(&slot, 0).map_err(|e| Error::Map {
                map: COUNTERS,
                source: Box::new(e),
            })?;
            let total: u64 = per_cpu.iter().copied().fold(0u64, u64::wrapping_add);
            let k: &mut KindCounters = &mut out.kinds[slot as usize / CNT_PER_KIND];
            match slot as usize % CNT_PER_KIND {
                0 => k.emitted = total,
                1 => k.rate_limited = total,
                _ => k.ringbuf_full = total,
            }
        }
        Ok(out)
    }

    /// Changes the token buckets (per CPU and kind). `per_second == 0` never refills.
    pub fn set_event_rate(&mut self, per_second: u32, burst: u32) -> Result<()> {
        self.write_config(|c| set_rate(c, per_second, burst))
    }

    /// Replaces the watched paths.
    pub fn set_watched_paths(&mut self, paths: &[PathBuf]) -> Result<()> {
        let p = prefixes(paths)?;
        self.write_prefixes(paths, &p)
    }

    pub fn watched_paths(&self) -> &[PathBuf] {
        &self.watched
    }

    fn write_prefixes(&mut self, paths: &[PathBuf], prefixes: &[Vec<u8>]) -> Result<()> {
        // Shrink the live count first so the kernel never matches a half-written prefix.
        self.write_config(|c| c.prefix_count = 0)?;
        for (i, p) in (0u32..).zip(prefixes) {
            let mut raw = RawPrefix {
                len: p.len() as u32,
                _pad: 0,
                path: [0; PREFIX_LEN],
            };
            raw.path[..p.len()].copy_from_slice(p);
            self.prefixes.set(i, raw, 0).map_err(|e| Error::Map {
                map: PREFIXES,
                source: Box::new(e),
            })?;
        }
        self.write_config(|c| c.prefix_count = prefixes.len() as u32)?;
        self.watched = paths.to_vec();
        Ok(())
    }

    fn write_config(&mut self, f: impl FnOnce(&mut RawConfig)) -> Result<()> {
        let err = |e| Error::Map {
            map: CONFIG,
            source: Box::new(e),
        };
        let mut c = self.config.get(&0, 0).map_err(err)?;
        f(&mut c);
        self.config.set(0, c, 0).map_err(err)
    }
}

/// Consumer side of the `events` ring buffer.
pub struct EventReader {
    ring: RingBuf<MapData>,
    bad_records: u64,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("bad_records", &self.bad_records)
            .finish_non_exhaustive()
    }
}

impl EventReader {
    /// The next event, or `None` when the ring buffer is empty (wait for `AsFd` readability).
    /// Undecodable records are skipped and counted ([`EventReader::bad_records`]). An exec's
    /// working directory is read from `/proc` now ([`wire::CwdSource::ProcAtReceipt`]: racy), and an
    /// exec of `/proc/self/exe` is named after its applet ([`wire::applet_image`], reading
    /// `/proc/<pid>/exe` now: racy likewise): [`wire::receive`].
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let received = {
                let item = self.ring.next()?;
                wire::receive(&item)
            };
            match received {
                Ok(e) => return Some(e),
                Err(e) => {
                    self.bad_records += 1;
                    tracing::debug!(error = %e, "undecodable process monitor record");
                }
            }
        }
    }

    /// Records skipped because they did not decode; stays 0 unless the program and the
    /// decoder disagree.
    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }
}

impl AsFd for EventReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

/// A daemon moves the monitor and the reader into tasks.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<ProcessMonitor>();
    assert_send::<EventReader>();
};
