//! The crate's error type: what failed (loading the object, a program, attaching, a map, the
//! watched paths), naming the program, map or path, with aya's error kept as the source.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parsing the object or creating its maps failed.
    #[cfg(feature = "runtime")]
    #[error("cannot load the process monitor's BPF object (ring_buffer_size={ring_buffer_size})")]
    Load {
        ring_buffer_size: u32,
        #[source]
        source: Box<aya::EbpfError>,
    },

    /// The kernel's BTF (`/sys/kernel/btf/vmlinux`), which BTF tracepoints and fentry need.
    #[cfg(feature = "runtime")]
    #[error(
        "cannot read the kernel's BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF=y is required)"
    )]
    Btf {
        #[source]
        source: Box<aya::BtfError>,
    },

    /// The verifier rejected a program; `verifier_log` is the kernel's log.
    #[cfg(feature = "runtime")]
    #[error("the kernel rejected BPF program `{program}`")]
    Verifier {
        program: &'static str,
        verifier_log: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot load BPF program `{program}` (attach point `{attach_to}`)")]
    ProgramLoad {
        program: &'static str,
        attach_to: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },

    #[cfg(feature = "runtime")]
    #[error("cannot attach BPF program `{program}` to `{attach_to}`")]
    Attach {
        program: &'static str,
        attach_to: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },

    #[error("the BPF object has no program `{program}` of the expected type")]
    MissingProgram { program: &'static str },

    #[cfg(feature = "runtime")]
    #[error("map `{map}` is missing or has an unexpected layout")]
    MapLayout {
        map: &'static str,
        #[source]
        source: Option<Box<aya::maps::MapError>>,
    },

    #[cfg(feature = "runtime")]
    #[error("operation on map `{map}` failed")]
    Map {
        map: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },

    /// tracefs is not mounted and mounting it failed.
    #[error("cannot mount tracefs on {} (needed by the syscall tracepoints)", path.display())]
    Tracefs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A watched path the kernel cannot match.
    #[error("watched path {}: {reason}", path.display())]
    WatchedPath { path: PathBuf, reason: &'static str },

    #[error("{count} watched paths, at most {max}")]
    TooManyWatchedPaths { count: usize, max: usize },
}
