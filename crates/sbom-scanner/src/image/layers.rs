//! The merged file tree of an image, built in memory by applying its layers in order.
//!
//! Whiteouts as the OCI image spec defines them: `DIR/.wh.NAME` deletes `DIR/NAME` (and what was
//! under it) from the layers below, `DIR/.wh..wh..opq` empties `DIR` of what the layers below put
//! there. Paths are normalised (`./`, `//`, leading `/` dropped); an entry whose path climbs out
//! of the root with `..` is dropped and counted. Only the content of the files a scanner reads
//! is kept (lockfiles, package databases, os-release, and with [`Keep::elf`] executables starting
//! with the ELF magic, for the binary parsers); everything else is a name, a kind and a size.
//! Links resolve inside the image: an absolute target starts at the image root, `..` stops at it.
//!
//! Bounds ([`Limits`]): content kept per file and in total, bytes per layer, entries in the tree,
//! layer count. A file over its budget is kept as a name only and counted ([`SkipReason`]); a
//! layer over its byte limit or a tree over its entry limit is an error.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tar::{EntryKind, TarError, TarReader};
use crate::tree::{DirEntry, Kind, OpenError, Opened, SkipCounts, SkipReason, Tree};

/// The bounds of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Content kept for one file (larger files are names only).
    pub file_bytes: u64,
    /// Content kept for all files together.
    pub total_kept_bytes: u64,
    /// File bytes one layer may declare (uncompressed).
    pub layer_bytes: u64,
    /// Entries of the merged tree.
    pub entries: usize,
    pub layers: usize,
    /// Largest executable read for its records with [`Keep::elf`] (read, parsed, dropped).
    pub binary_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            file_bytes: crate::MAX_FILE_BYTES,
            total_kept_bytes: 512 << 20,
            layer_bytes: 16 << 30,
            entries: 1_000_000,
            layers: 256,
            binary_bytes: crate::binary::MAX_BINARY_BYTES,
        }
    }
}

/// A predicate on root-relative paths.
pub type PathFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which file contents an image tree keeps, beyond what the lockfile and OS scanners read.
#[derive(Clone, Default)]
pub struct Keep {
    /// Executable regular files that start with the ELF magic (Go build info, cargo-auditable):
    /// each is read whole (up to [`Limits::binary_bytes`]) while its layer is applied, its
    /// records parsed at once ([`crate::binary::packages_from_elf`]) and only what they list is
    /// kept — never the executable's bytes, so an image of large binaries costs one binary's
    /// size of memory at a time.
    pub elf: bool,
    /// Any other root-relative path a caller wants the bytes of.
    pub paths: Option<PathFilter>,
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keep")
            .field("elf", &self.elf)
            .field("paths", &self.paths.is_some())
            .finish()
    }
}

/// Why a layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("invalid tar")]
    Tar(#[source] TarError),
    #[error("more than {limit} entries in the merged tree")]
    TooManyEntries { limit: usize },
    #[error("layer declares more than {limit} file bytes")]
    LayerTooLarge { limit: u64 },
    #[error("more than {limit} layers")]
    TooManyLayers { limit: usize },
}

#[derive(Debug, Clone)]
enum NodeKind {
    Dir,
    File {
        size: u64,
        content: Option<Arc<[u8]>>,
        /// An ELF executable's parsed records (only with [`Keep::elf`], only when it has some).
        binary: Option<Arc<BinaryRecord>>,
    },
    Symlink(String),
    Other,
}

/// What an ELF executable of the image records ([`Keep::elf`]): its packages, or why its record
/// could not be read (the error names the executable's path in the image).
pub type BinaryRecord = Result<crate::binary::BinaryPackages, crate::Error>;

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    /// The layer that put it there (whiteouts delete only what lower layers put).
    layer: usize,
}

const ELF_MAGIC: &[u8] = b"\x7fELF";
/// Symlinks followed in one lookup at most (the kernel's limit).
const MAX_HOPS: usize = 40;

/// An image's merged tree.
pub struct ImageTree {
    nodes: BTreeMap<String, Node>,
    limits: Limits,
    keep: Keep,
    layers: usize,
    kept_bytes: u64,
    /// What applying the layers dropped (paths out of the root, contents over budget).
    pub dropped: SkipCounts,
}

impl std::fmt::Debug for ImageTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageTree")
            .field("entries", &self.nodes.len())
            .field("layers", &self.layers)
            .field("kept_bytes", &self.kept_bytes)
            .finish_non_exhaustive()
    }
}

/// `path` as a root-relative key: components joined by `/`; `None` when `..` climbs out of the
/// root or nothing is left.
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

/// The key range of everything under `dir` (`""`: the whole tree).
fn under(dir: &str) -> (String, String) {
    if dir.is_empty() {
        (String::new(), String::from("\u{10ffff}"))
    } else {
        // '0' follows '/' in byte order: ["d/", "d0") holds exactly the paths under d.
        (format!("{dir}/"), format!("{dir}0"))
    }
}

fn parent_and_name(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// Whether a scanner of this crate reads the file at `rel`.
pub(crate) fn wanted(rel: &str) -> bool {
    crate::os::wanted(rel) || crate::Format::from_path(Path::new(rel)).is_some()
}

impl ImageTree {
    pub fn new(limits: Limits, keep: Keep) -> ImageTree {
        ImageTree {
            nodes: BTreeMap::new(),
            limits,
            keep,
            layers: 0,
            kept_bytes: 0,
            dropped: SkipCounts::default(),
        }
    }

    /// Entries in the merged tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The records of the ELF executables that carry some ([`Keep::elf`]), by path, in path
    /// order.
    pub fn binaries(&self) -> impl Iterator<Item = (&str, &BinaryRecord)> {
        self.nodes.iter().filter_map(|(k, n)| match &n.kind {
            NodeKind::File {
                binary: Some(b), ..
            } => Some((k.as_str(), &**b)),
            _ => None,
        })
    }

    /// Removes `key` and everything under it put there by layers below `layer`.
    fn remove_lower(&mut self, key: &str, layer: usize) {
        if self.nodes.get(key).is_some_and(|n| n.layer < layer) {
            self.remove_kept(key);
        }
        self.empty_dir(key, layer);
    }

    /// Removes everything under `dir` put there by layers below `layer`.
    fn empty_dir(&mut self, dir: &str, layer: usize) {
        let (lo, hi) = under(dir);
        let mut tail = self.nodes.split_off(&lo);
        let mut rest = tail.split_off(&hi);
        for (k, n) in tail {
            if n.layer >= layer {
                self.nodes.insert(k, n);
            } else if let NodeKind::File {
                content: Some(c), ..
            } = &n.kind
            {
                self.kept_bytes -= c.len() as u64;
            }
        }
        self.nodes.append(&mut rest);
    }

    fn remove_kept(&mut self, key: &str) {
        if let Some(Node {
            kind: NodeKind::File {
                content: Some(c), ..
            },
            ..
        }) = self.nodes.remove(key)
        {
            self.kept_bytes -= c.len() as u64;
        }
    }

    /// Inserts `node` at `key`, replacing what was there (a directory replaced by a non-directory
    /// loses its content; a directory over a directory keeps it).
    fn insert(&mut self, key: String, node: Node) -> Result<(), LayerError> {
        let is_dir = matches!(node.kind, NodeKind::Dir);
        match self.nodes.get_mut(&key).map(|n| (&n.kind, &mut n.layer)) {
            Some((NodeKind::Dir, l)) if is_dir => {
                *l = node.layer;
                return Ok(());
            }
            Some((NodeKind::Dir, _)) => self.empty_dir(&key, usize::MAX),
            Some(_) => self.remove_kept(&key),
            None => {}
        }
        if self.nodes.len() >= self.limits.entries {
            return Err(LayerError::TooManyEntries {
                limit: self.limits.entries,
            });
        }
        self.nodes.insert(key, node);
        Ok(())
    }

    /// Where an entry at `key` lands: its parent directories made to exist, a parent that is a
    /// symlink followed inside the image (as extraction to a disk would). `None`: the parent
    /// resolves nowhere usable.
    fn place(&mut self, key: &str, layer: usize) -> Result<Option<String>, LayerError> {
        let (parent, name) = parent_and_name(key);
        if parent.is_empty() {
            return Ok(Some(key.to_owned()));
        }
        let mut at = String::new();
        for c in parent.split('/') {
            let next = if at.is_empty() {
                c.to_owned()
            } else {
                format!("{at}/{c}")
            };
            match self.nodes.get_mut(&next) {
                Some(Node {
                    kind: NodeKind::Dir,
                    layer: l,
                }) => {
                    // A layer holding something under a directory holds the directory too:
                    // an opaque marker of the same layer higher up must not remove it.
                    *l = layer;
                    at = next;
                }
                Some(Node {
                    kind: NodeKind::Symlink(_),
                    ..
                }) => match self.resolve(&next, true) {
                    Some(r)
                        if matches!(self.nodes.get(&r).map(|n| &n.kind), Some(NodeKind::Dir)) =>
                    {
                        at = r;
                    }
                    _ => return Ok(None),
                },
                _ => {
                    self.insert(
                        next.clone(),
                        Node {
                            kind: NodeKind::Dir,
                            layer,
                        },
                    )?;
                    at = next;
                }
            }
        }
        Ok(Some(if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}/{name}")
        }))
    }

    /// Applies one layer (an uncompressed tar stream) over the tree.
    pub fn apply_layer(&mut self, r: impl Read) -> Result<(), LayerError> {
        if self.layers >= self.limits.layers {
            return Err(LayerError::TooManyLayers {
                limit: self.limits.layers,
            });
        }
        self.layers += 1;
        let layer = self.layers;
        let mut tar = TarReader::new(r);
        let mut declared: u64 = 0;
        while let Some(h) = tar.next_header().map_err(LayerError::Tar)? {
            declared = declared.saturating_add(h.size);
            if declared > self.limits.layer_bytes {
                return Err(LayerError::LayerTooLarge {
                    limit: self.limits.layer_bytes,
                });
            }
            let Some(key) = normalize(&h.path) else {
                // `/` or `.` itself is the root: nothing to record. Anything else climbed out.
                if !h.path.trim_matches(|c| c == '/' || c == '.').is_empty() {
                    self.dropped.add(SkipReason::BadPath);
                }
                continue;
            };
            let (parent, name) = parent_and_name(&key);
            if name == ".wh..wh..opq" {
                let parent = parent.to_owned();
                self.empty_dir(&parent, layer);
                continue;
            }
            if let Some(target) = name.strip_prefix(".wh.") {
                let target = if parent.is_empty() {
                    target.to_owned()
                } else {
                    format!("{parent}/{target}")
                };
                self.remove_lower(&target, layer);
                continue;
            }
            let entry_key = key.clone();
            let Some(key) = self.place(&key, layer)? else {
                self.dropped.add(SkipReason::Unresolved);
                continue;
            };
            let kind = match h.kind {
                EntryKind::Dir => NodeKind::Dir,
                EntryKind::Symlink => NodeKind::Symlink(h.link.clone()),
                EntryKind::Other => NodeKind::Other,
                EntryKind::Hardlink => {
                    // A hard link names an entry of the same archive (earlier, by path).
                    let target = normalize(&h.link)
                        .and_then(|t| self.resolve(&t, false))
                        .and_then(|t| self.nodes.get(&t));
                    match target {
                        Some(Node {
                            kind: k @ NodeKind::File { .. },
                            ..
                        }) => {
                            let k = k.clone();
                            if let NodeKind::File {
                                content: Some(c), ..
                            } = &k
                            {
                                self.kept_bytes += c.len() as u64;
                            }
                            k
                        }
                        _ => {
                            self.dropped.add(SkipReason::Unresolved);
                            continue;
                        }
                    }
                }
                EntryKind::File => {
                    // Under the path the layer names it by, or where a linked parent puts it.
                    let by_name = [&entry_key, &key]
                        .into_iter()
                        .any(|k| wanted(k) || self.keep.paths.as_ref().is_some_and(|f| f(k)));
                    let by_elf = self.keep.elf && h.mode & 0o111 != 0 && h.size >= 4;
                    let mut content = None;
                    let mut binary = None;
                    let fits = h.size <= self.limits.file_bytes
                        && self.kept_bytes + h.size <= self.limits.total_kept_bytes;
                    if by_name && !fits {
                        self.dropped.add(if h.size > self.limits.file_bytes {
                            SkipReason::TooLarge
                        } else {
                            SkipReason::NotKept
                        });
                    }
                    if by_elf && h.size > self.limits.binary_bytes {
                        // Too large to read whole: its records (if any) are not seen.
                        self.dropped.add(SkipReason::TooLarge);
                    }
                    if (by_name && fits) || (by_elf && h.size <= self.limits.binary_bytes) {
                        let data = tar.read_content().map_err(LayerError::Tar)?;
                        if by_elf && data.starts_with(ELF_MAGIC) {
                            let shown = Path::new("/").join(&key);
                            binary = match crate::binary::packages_from_elf(&shown, &data) {
                                Ok(None) => None,
                                Ok(Some(b)) => Some(Arc::new(Ok(b))),
                                Err(e) => Some(Arc::new(Err(e))),
                            };
                        }
                        if by_name && fits {
                            self.kept_bytes += data.len() as u64;
                            content = Some(Arc::from(data));
                        }
                    }
                    NodeKind::File {
                        size: h.size,
                        content,
                        binary,
                    }
                }
            };
            self.insert(key, Node { kind, layer })?;
        }
        Ok(())
    }

    /// The key `rel` resolves to, symlinks followed inside the image (the last component only
    /// with `follow_last`); `None` when a component is missing or the links loop.
    fn resolve(&self, rel: &str, follow_last: bool) -> Option<String> {
        let mut todo: Vec<String> = rel.split('/').rev().map(str::to_owned).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let key = cur.join("/");
            let last = todo.iter().all(|c| c.is_empty() || c == ".");
            match &self.nodes.get(&key)?.kind {
                NodeKind::Symlink(t) if !last || follow_last => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return None;
                    }
                    cur.pop();
                    if t.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(t.split('/').rev().map(str::to_owned));
                }
                NodeKind::Dir => {}
                _ if last => {}
                _ => return None,
            }
        }
        Some(cur.join("/"))
    }

    fn key(rel: &Path) -> String {
        rel.to_string_lossy().trim_matches('/').to_owned()
    }
}

impl Tree for ImageTree {
    fn display(&self, rel: &Path) -> PathBuf {
        Path::new("/").join(rel)
    }

    fn read_dir(&self, rel: &Path) -> std::io::Result<Vec<DirEntry>> {
        let not_dir = || std::io::Error::from(std::io::ErrorKind::NotADirectory);
        let key = Self::key(rel);
        let dir = if key.is_empty() {
            String::new()
        } else {
            let k = self.resolve(&key, true).ok_or_else(not_dir)?;
            match self.nodes.get(&k).map(|n| &n.kind) {
                Some(NodeKind::Dir) => k,
                _ => return Err(not_dir()),
            }
        };
        let (lo, hi) = under(&dir);
        Ok(self
            .nodes
            .range(lo.clone()..hi)
            .filter_map(|(k, n)| {
                let name = &k[lo.len()..];
                (!name.contains('/')).then(|| DirEntry {
                    name: name.to_owned(),
                    kind: match n.kind {
                        NodeKind::Dir => Kind::Dir,
                        NodeKind::File { .. } => Kind::File,
                        NodeKind::Symlink(_) => Kind::Symlink,
                        NodeKind::Other => Kind::Other,
                    },
                })
            })
            .collect())
    }

    fn open(&self, rel: &Path, limit: u64) -> Result<Opened, OpenError> {
        let key = Self::key(rel);
        let Some(k) = self.resolve(&key, true) else {
            return Err(match self.resolve(&key, false) {
                Some(_) => OpenError::Skipped(SkipReason::Unresolved),
                None => OpenError::Missing,
            });
        };
        match self.nodes.get(&k).map(|n| &n.kind) {
            Some(NodeKind::File {
                content: Some(c), ..
            }) if c.len() as u64 > limit => Err(OpenError::TooLarge(c.len() as u64)),
            Some(NodeKind::File {
                content: Some(c), ..
            }) => Ok(Opened::Bytes(c.clone())),
            Some(NodeKind::File { size, .. }) if *size > limit => Err(OpenError::TooLarge(*size)),
            Some(NodeKind::File { .. }) => Err(OpenError::Skipped(SkipReason::NotKept)),
            Some(NodeKind::Other) => Err(OpenError::Skipped(SkipReason::NotRegular)),
            Some(NodeKind::Symlink(_)) => Err(OpenError::Skipped(SkipReason::Unresolved)),
            Some(NodeKind::Dir) | None => Err(OpenError::Missing),
        }
    }

    fn kind(&self, rel: &Path) -> Option<Kind> {
        let k = self.resolve(&Self::key(rel), true)?;
        Some(match self.nodes.get(&k)?.kind {
            NodeKind::Dir => Kind::Dir,
            NodeKind::File { .. } => Kind::File,
            NodeKind::Symlink(_) => Kind::Symlink,
            NodeKind::Other => Kind::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tar::tests::entry;
    use super::*;

    fn layer(entries: &[(&str, u8, &str, &str)]) -> Vec<u8> {
        let mut t = Vec::new();
        for (name, ty, data, link) in entries {
            entry(&mut t, name, *ty, data.as_bytes(), link);
        }
        t.extend_from_slice(&[0u8; 1024]);
        t
    }

    fn read(t: &ImageTree, p: &str) -> Result<String, String> {
        match t.open(Path::new(p), 1 << 20) {
            Ok(o) => Ok(String::from_utf8(o.read_all(1 << 20).unwrap()).unwrap()),
            Err(OpenError::Skipped(r)) => Err(r.as_str().into()),
            Err(OpenError::Missing) => Err("missing".into()),
            Err(e) => Err(format!("{e:?}")),
        }
    }

    #[test]
    fn whiteouts_opaque_dirs_and_links() {
        let mut t = ImageTree::new(Limits::default(), Keep::default());
        t.apply_layer(
            &layer(&[
                ("./app/", b'5', "", ""),
                ("./app/Cargo.lock", b'0', "lower", ""),
                ("app/sub/yarn.lock", b'0', "y", ""),
                ("etc/os-release", b'0', "ID=debian\n", ""),
                ("opq/a/go.mod", b'0', "a", ""),
                ("opq/b/go.mod", b'0', "b", ""),
                ("usr/bin/tool", b'0', "not kept", ""),
                ("lib", b'2', "", "usr/lib"),
                ("usr/lib/", b'5', "", ""),
                ("../../escape/Cargo.lock", b'0', "x", ""),
            ])[..],
        )
        .unwrap();
        assert_eq!(read(&t, "app/Cargo.lock").unwrap(), "lower");
        assert_eq!(read(&t, "usr/bin/tool").unwrap_err(), "not_kept");
        assert_eq!(t.dropped.get(SkipReason::BadPath), 1);
        t.apply_layer(
            &layer(&[
                ("app/.wh.Cargo.lock", b'0', "", ""),
                ("app/.wh.sub", b'0', "", ""),
                ("opq/b/go.mod", b'0', "upper", ""),
                ("opq/.wh..wh..opq", b'0', "", ""),
                // Through the `lib` link into usr/lib.
                ("lib/apk/db/installed", b'0', "P:x\nV:1\n\n", ""),
                ("abs", b'2', "", "/etc/os-release"),
                ("rel", b'2', "", "../../../../etc/os-release"),
                ("hard", b'1', "", "etc/os-release"),
                ("loop", b'2', "", "loop"),
                ("fifo/Cargo.lock", b'6', "", ""),
            ])[..],
        )
        .unwrap();
        assert_eq!(read(&t, "app/Cargo.lock").unwrap_err(), "missing");
        assert_eq!(read(&t, "app/sub/yarn.lock").unwrap_err(), "missing");
        assert_eq!(t.kind(Path::new("app")), Some(Kind::Dir));
        // The opaque marker empties what lower layers put, not the same layer's entries.
        assert_eq!(read(&t, "opq/a/go.mod").unwrap_err(), "missing");
        assert_eq!(read(&t, "opq/b/go.mod").unwrap(), "upper");
        assert_eq!(
            read(&t, "usr/lib/apk/db/installed").unwrap(),
            "P:x\nV:1\n\n"
        );
        assert_eq!(read(&t, "lib/apk/db/installed").unwrap(), "P:x\nV:1\n\n");
        assert_eq!(read(&t, "abs").unwrap(), "ID=debian\n");
        assert_eq!(read(&t, "rel").unwrap(), "ID=debian\n");
        assert_eq!(read(&t, "hard").unwrap(), "ID=debian\n");
        assert_eq!(read(&t, "loop").unwrap_err(), "unresolved_link");
        assert_eq!(read(&t, "fifo/Cargo.lock").unwrap_err(), "not_regular");
        let mut names: Vec<_> = t
            .read_dir(Path::new(""))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "abs", "app", "etc", "fifo", "hard", "lib", "loop", "opq", "rel", "usr"
            ]
        );
    }

    #[test]
    fn limits_hold() {
        let limits = Limits {
            file_bytes: 4,
            total_kept_bytes: 6,
            layer_bytes: 100,
            entries: 6,
            layers: 2,
            binary_bytes: 0,
        };
        let mut t = ImageTree::new(limits, Keep::default());
        t.apply_layer(
            &layer(&[
                ("a/Cargo.lock", b'0', "12345", ""),
                ("b/Cargo.lock", b'0', "1234", ""),
                ("c/Cargo.lock", b'0', "123", ""),
            ])[..],
        )
        .unwrap();
        assert_eq!(read(&t, "a/Cargo.lock").unwrap_err(), "not_kept");
        assert_eq!(read(&t, "b/Cargo.lock").unwrap(), "1234");
        assert_eq!(read(&t, "c/Cargo.lock").unwrap_err(), "not_kept");
        assert_eq!(t.dropped.get(SkipReason::TooLarge), 1);
        assert_eq!(t.dropped.get(SkipReason::NotKept), 1);
        // 5 entries in that one: the sixth is over a limit of 5.
        let limits = Limits {
            entries: 5,
            ..limits
        };
        let mut t = ImageTree::new(limits, Keep::default());
        let e = t
            .apply_layer(&layer(&[("a", b'0', "", ""), ("b/c/d/e/f", b'0', "", "")])[..])
            .unwrap_err();
        assert!(
            matches!(e, LayerError::TooManyEntries { limit: 5 }),
            "{e:?}"
        );
        let mut t = ImageTree::new(limits, Keep::default());
        let big = "x".repeat(101);
        let e = t
            .apply_layer(&layer(&[("big", b'0', &big, "")])[..])
            .unwrap_err();
        assert!(matches!(e, LayerError::LayerTooLarge { .. }), "{e:?}");
        t.apply_layer(&layer(&[])[..]).unwrap();
        assert!(matches!(
            t.apply_layer(&layer(&[])[..]),
            Err(LayerError::TooManyLayers { limit: 2 })
        ));
    }

    #[test]
    fn executables_are_read_for_their_records_but_never_kept() {
        let keep = Keep {
            elf: true,
            paths: None,
        };
        let limits = Limits {
            binary_bytes: 16,
            ..Limits::default()
        };
        let mut t = ImageTree::new(limits, keep);
        t.apply_layer(
            &layer(&[
                // ELF magic without a parseable ELF behind it: no records, nothing kept.
                ("bin/app", b'0', "\x7fELF rest", ""),
                ("bin/script", b'0', "#!/bin/sh", ""),
                ("bin/huge", b'0', "\x7fELF and more than sixteen bytes", ""),
            ])[..],
        )
        .unwrap();
        assert_eq!(t.binaries().count(), 0);
        assert_eq!(read(&t, "bin/app").unwrap_err(), "not_kept");
        assert_eq!(read(&t, "bin/script").unwrap_err(), "not_kept");
        // Over `binary_bytes`: not read, and counted.
        assert_eq!(t.dropped.get(SkipReason::TooLarge), 1);
        assert_eq!(t.kept_bytes, 0);
    }
}
