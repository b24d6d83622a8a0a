//! The crate's error type: what failed (load, attach, a map operation), on which interface, map
//! or CIDR, with the underlying aya or I/O error kept as the source.

use std::path::PathBuf;

#[cfg(feature = "runtime")]
use aya::maps::MapError;
#[cfg(feature = "runtime")]
use aya::programs::ProgramError;
use ironpost_core::net::Cidr;

#[cfg(feature = "runtime")]
use crate::config::XdpMode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parsing the object or creating its maps failed (before any program reached the verifier).
    #[cfg(feature = "runtime")]
    #[error(
        "cannot load the XDP object (maps: blocklist_max_entries={blocklist_max_entries}, ring_buffer_size={ring_buffer_size})"
    )]
    Load {
        blocklist_max_entries: u32,
        ring_buffer_size: u32,
        #[source]
        source: Box<aya::EbpfError>,
    },

    /// The kernel verifier rejected the program. `verifier_log` is the kernel's full log; the
    /// source's message repeats it, so printing the error chain shows it once.
    #[cfg(feature = "runtime")]
    #[error("the kernel rejected XDP program `{program}`")]
    Verifier {
        program: &'static str,
        verifier_log: String,
        #[source]
        source: Box<ProgramError>,
    },

    /// Loading the program failed for another reason than the verifier (missing privileges …).
    #[cfg(feature = "runtime")]
    #[error("cannot load XDP program `{program}` into the kernel")]
    ProgramLoad {
        program: &'static str,
        #[source]
        source: Box<ProgramError>,
    },

    /// The pin directory could not be created.
    #[error("cannot create the map pin directory {}", path.display())]
    PinDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A pinned map could not be opened or pinned (is `pin_path` on a bpffs mount?).
    #[cfg(feature = "runtime")]
    #[error("cannot pin or reuse the maps under {} (it must be on a bpffs mount, e.g. /sys/fs/bpf)", path.display())]
    Pin {
        path: PathBuf,
        #[source]
        source: Box<aya::EbpfError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot attach XDP program to interface `{iface}` in {mode:?} mode")]
    Attach {
        iface: String,
        mode: XdpMode,
        #[source]
        source: Box<ProgramError>,
    },

    /// The pinned XDP link (`<pin dir>/link`) could not be created, adopted or removed.
    #[cfg(feature = "runtime")]
    #[error("cannot {op} the pinned XDP link {} of `{iface}`", path.display())]
    LinkPin {
        op: &'static str,
        iface: String,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Removing a pin file (`ebpf detach`, `detach_on_stop`) failed.
    #[error("cannot remove the pin {}", path.display())]
    Unpin {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the XDP program is already attached to `{iface}`")]
    AlreadyAttached { iface: String },

    #[cfg(feature = "runtime")]
    #[error("cannot detach the XDP program from `{iface}`")]
    Detach {
        iface: String,
        #[source]
        source: Box<ProgramError>,
    },

    /// The object lacks a map or program the loader expects, or it has another type or layout.
    #[cfg(feature = "runtime")]
    #[error("map `{map}` is missing from the XDP object or has an unexpected type or layout")]
    MapLayout {
        map: &'static str,
        #[source]
        source: Option<Box<MapError>>,
    },

    #[error("the XDP object has no XDP program `{program}`")]
    MissingProgram { program: &'static str },

    /// A blocklist or allowlist map is full; `setting` names the configuration key that sizes it.
    /// A family's blocklist is full when its host map and its trie together hold
    /// `blocklist_max_entries` entries, whichever of the two the new entry belongs in; `map` then
    /// names the family's trie (`blocklist_v4` or `blocklist_v6`) even for a host entry.
    #[cfg(feature = "runtime")]
    #[error(
        "map `{map}` is full ({max_entries} entries) while inserting {cidr}: raise ebpf.{setting} or remove entries"
    )]
    MapFull {
        map: &'static str,
        cidr: Cidr,
        max_entries: u32,
        setting: &'static str,
        #[source]
        source: Box<MapError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot insert {cidr} into map `{map}`")]
    Insert {
        map: &'static str,
        cidr: Cidr,
        #[source]
        source: Box<MapError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot remove {cidr} from map `{map}`")]
    Remove {
        map: &'static str,
        cidr: Cidr,
        #[source]
        source: Box<MapError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot read or write map `{map}`")]
    Map {
        map: &'static str,
        #[source]
        source: Box<MapError>,
    },

    /// Rule id 0 means "no rule" in the kernel's events and verdicts.
    #[error("rule id 0 is reserved (means \"no rule\"); use ids from 1")]
    ReservedRuleId,

    #[error("{count} match rules given, the kernel program holds at most {max}")]
    TooManyMatchRules { count: usize, max: usize },

    /// The kernel's jiffies advanced fewer than 7 ticks in `waited_ms`, so the
    /// tick length that converts TTLs into the program's deadlines is unknown.
    #[error(
        "cannot measure the kernel tick: jiffies advanced fewer than 7 ticks in {waited_ms} ms"
    )]
    ClockCalibration { waited_ms: u64 },

    /// Every one of `tries` clock samples in a row had its jiffies change between its reads
    /// (a machine whose vCPU is descheduled for whole ticks at a time).
    #[error("cannot sample the kernel clocks: {tries} samples in a row were torn by a tick")]
    ClockTorn { tries: usize },

    #[cfg(feature = "runtime")]
    #[error("BPF_PROG_TEST_RUN failed on a {len}-byte frame")]
    TestRun {
        len: usize,
        #[source]
        source: Box<ProgramError>,
    },

    /// A block could not be recorded: the blocklist is at `blocklist_max_entries`.
    #[error(
        "blocklist is full: {used} IPv{family} entries of ebpf.blocklist_max_entries = {max}{}; raise it or remove blocks",
        if *.unverified { ", and a block on unverified evidence never evicts one" } else { ", none of them evictable" }
    )]
    BlocklistFull {
        family: u8,
        used: usize,
        max: u32,
        /// The request rested on unverified evidence (which never evicts).
        unverified: bool,
    },

    /// The blocklist's journal or snapshot under `data_dir/ebpf/` could not be written or read.
    #[error("cannot {op} {}", path.display())]
    BlocklistState {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The engine has no loaded program (it failed to load, or is stopped).
    #[error("the XDP filter is not loaded: {reason}")]
    NotLoaded { reason: String },
}
