//! Read-only file trees the scanners walk: a host directory opened safely ([`HostTree`], also a
//! running container's `/proc/<pid>/root`) and an image's merged layers ([`crate::image`]).
//!
//! Every scanner reads through [`Tree`]: paths are relative to the tree's root, symlinks resolve
//! inside that root and never out of it, only regular files are read, and every read is bounded.
//! What a walk passes over for safety (a FIFO named like a lockfile, a link that does not resolve
//! inside the root, a file over the size limit) is counted per [`SkipReason`] in
//! [`SkipCounts`], reported in the scan output and as a metric by the daemon.
//!
//! Architecture invariant: nothing here opens a path outside the root it was given. The host
//! tree resolves with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`; on kernels without
//! `openat2` (before 5.6) it walks component by component with `O_NOFOLLOW` and does not follow
//! symlinks at all.

mod host;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use host::HostTree;

/// What a directory entry is (symlinks not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// A FIFO, socket or device: never read.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: Kind,
}

/// Why an entry a scanner wanted was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A FIFO, socket or device file.
    NotRegular,
    /// A symlink whose target does not resolve to a file inside the root (dangling, a loop, or
    /// only reachable through the host or a magic link); also a link left unfollowed where the
    /// kernel lacks `openat2`.
    Unresolved,
    /// Larger than the size limit of the read.
    TooLarge,
    /// The tree did not keep the file's content (an image entry no scanner asked for, or over an
    /// image's content budget).
    NotKept,
    /// An image layer entry whose path climbs out of the root with `..`.
    BadPath,
}

impl SkipReason {
    pub const ALL: [SkipReason; 5] = [
        SkipReason::NotRegular,
        SkipReason::Unresolved,
        SkipReason::TooLarge,
        SkipReason::NotKept,
        SkipReason::BadPath,
    ];

    /// The metric label and report key.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotRegular => "not_regular",
            SkipReason::Unresolved => "unresolved_link",
            SkipReason::TooLarge => "too_large",
            SkipReason::NotKept => "not_kept",
            SkipReason::BadPath => "bad_path",
        }
    }
}

/// Entries skipped during a scan, per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCounts(pub BTreeMap<SkipReason, u64>);

impl SkipCounts {
    pub fn add(&mut self, reason: SkipReason) {
        *self.0.entry(reason).or_default() += 1;
    }

    pub fn merge(&mut self, other: &SkipCounts) {
        for (r, n) in &other.0 {
            *self.0.entry(*r).or_default() += n;
        }
    }

    pub fn get(&self, reason: SkipReason) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `reason → count` with the report keys, for JSON output.
    pub fn to_map(&self) -> BTreeMap<&'static str, u64> {
        self.0.iter().map(|(r, n)| (r.as_str(), *n)).collect()
    }
}

/// A counter of skipped entries labelled `reason`, every reason present from the start.
pub(crate) fn skip_counter(
    r: &ironpost_core::metrics::prometheus::Registry,
    name: &str,
    help: &str,
) -> ironpost_core::metrics::prometheus::IntCounterVec {
    let c = ironpost_core::metrics::int_counter_vec(r, name, help, &["reason"]);
    for reason in SkipReason::ALL {
        c.with_label_values(&[reason.as_str()]);
    }
    c
}

/// Adds one scan's skips to a [`skip_counter`].
pub(crate) fn count_skips(
    c: &ironpost_core::metrics::prometheus::IntCounterVec,
    skips: &SkipCounts,
) {
    for (r, n) in &skips.0 {
        c.with_label_values(&[r.as_str()]).inc_by(*n);
    }
}

/// Why [`Tree::open`] gave no file.
#[derive(Debug)]
pub enum OpenError {
    /// Nothing at that path.
    Missing,
    /// Passed over deliberately (counted by the caller).
    Skipped(SkipReason),
    /// A regular file over the limit of the read: its size.
    TooLarge(u64),
    Io(std::io::Error),
}

/// A file opened for reading, at most `limit` bytes long.
#[derive(Debug)]
pub enum Opened {
    /// A host file; `id` is its (device, inode) so a file reached twice is read once.
    File {
        file: std::fs::File,
        size: u64,
        id: (u64, u64),
    },
    /// Content an image tree kept in memory.
    Bytes(Arc<[u8]>),
}

impl Opened {
    pub fn size(&self) -> u64 {
        match self {
            Opened::File { size, .. } => *size,
            Opened::Bytes(b) => b.len() as u64,
        }
    }

    /// Identity for de-duplication, where the tree has one.
    pub fn id(&self) -> Option<(u64, u64)> {
        match self {
            Opened::File { id, .. } => Some(*id),
            Opened::Bytes(_) => None,
        }
    }

    /// The whole content (the caller's limit was checked at open; a file that grew since is cut
    /// one byte past it so the caller sees it is too large).
    pub fn read_all(self, limit: u64) -> std::io::Result<Vec<u8>> {
        match self {
            Opened::File { file, size, .. } => {
                let mut out = Vec::with_capacity(size.min(limit) as usize);
                file.take(limit + 1).read_to_end(&mut out)?;
                Ok(out)
            }
            Opened::Bytes(b) => Ok(b.to_vec()),
        }
    }
}

/// A read-only file tree. Paths are relative to its root (`""` is the root); `/`-separated,
/// without `..`.
pub trait Tree: Send + Sync {
    /// How a path of this tree is shown in reports (the host path, or `/path` inside an image).
    fn display(&self, rel: &Path) -> PathBuf;

    /// The entries of a directory (symlinks not followed), in no particular order. A path that
    /// is not a directory is an error.
    fn read_dir(&self, rel: &Path) -> std::io::Result<Vec<DirEntry>>;

    /// Opens a regular file, symlinks resolved inside the root, at most `limit` bytes.
    fn open(&self, rel: &Path, limit: u64) -> Result<Opened, OpenError>;

    /// What is at `rel` with symlinks resolved inside the root; `None` when nothing resolves.
    fn kind(&self, rel: &Path) -> Option<Kind>;
}

/// Reads `rel` of `tree` as UTF-8 text within [`crate::MAX_FILE_BYTES`]. `None` when there is
/// nothing there or the entry is skipped (counted in `skips`); a file over the limit is counted
/// and is also an error naming it.
pub(crate) fn read_text(
    tree: &dyn Tree,
    rel: &Path,
    skips: &mut SkipCounts,
) -> Option<Result<String, crate::Error>> {
    let path = || tree.display(rel);
    match tree.open(rel, crate::MAX_FILE_BYTES) {
        Ok(o) => Some(crate::lockfile::read_opened(&path(), o)),
        Err(OpenError::Missing) => None,
        Err(OpenError::Skipped(r)) => {
            skips.add(r);
            None
        }
        Err(OpenError::TooLarge(size)) => {
            skips.add(SkipReason::TooLarge);
            Some(Err(crate::Error::TooLarge {
                path: path(),
                size,
                limit: crate::MAX_FILE_BYTES,
            }))
        }
        Err(OpenError::Io(source)) => Some(Err(crate::Error::Io {
            path: path(),
            source,
        })),
    }
}
