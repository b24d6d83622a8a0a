//! [`ContainerMap`]: which Docker container a cgroup id belongs to.
//!
//! A task's cgroup id (`bpf_get_current_cgroup_id`) is the inode number of its cgroup v2
//! directory. Docker puts a container's processes in `docker-<64 hex>.scope` (systemd cgroup
//! driver, e.g. `/sys/fs/cgroup/system.slice/docker-<id>.scope`) or in `docker/<64 hex>`
//! (cgroupfs driver, e.g. `/sys/fs/cgroup/docker/<id>`; on a hybrid v1/v2 host the unified
//! hierarchy is mounted elsewhere, e.g. `/sys/fs/cgroup/unified`, and found through
//! `/proc/self/mountinfo`). The map walks those trees (bounded depth and directory count),
//! caches inode → container id, and walks again when asked about an unknown id, at most once per
//! `min_rescan` so that a stream of host cgroups cannot turn every event into a walk. Names and
//! images come from the container guard's inventory, keyed by this id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Directories below a cgroup2 root that a walk visits at most.
pub const MAX_WALK_DIRS: usize = 20_000;
/// How deep below a root a walk descends.
pub const MAX_WALK_DEPTH: usize = 8;
/// Cached cgroup ids (containers and not) before the cache is cleared.
pub const MAX_CACHED_IDS: usize = 65_536;
/// Default minimum interval between two walks.
pub const DEFAULT_MIN_RESCAN: Duration = Duration::from_millis(200);

/// The mount points of cgroup2 file systems, from `/proc/self/mountinfo`.
pub fn cgroup2_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| parse_cgroup2_mounts(&s))
        .unwrap_or_default()
}

/// `mountinfo` lines: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE ...`.
pub(crate) fn parse_cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup2" {
                return None;
            }
            let mount = left.split(' ').nth(4)?;
            // mountinfo escapes space, tab, newline and backslash as octal.
            Some(PathBuf::from(
                mount
                    .replace("\\040", " ")
                    .replace("\\011", "\t")
                    .replace("\\012", "\n")
                    .replace("\\134", "\\"),
            ))
        })
        .collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The container id a cgroup directory stands for: `docker-<id>.scope`, or `<id>` directly
/// under a directory named `docker`.
pub(crate) fn container_id_of_dir(name: &str, parent: Option<&str>) -> Option<String> {
    if let Some(id) = name
        .strip_prefix("docker-")
        .and_then(|r| r.strip_suffix(".scope"))
        && is_hex64(id)
    {
        return Some(id.to_owned());
    }
    (parent == Some("docker") && is_hex64(name)).then(|| name.to_owned())
}

/// What a walk found.
#[derive(Debug, Default)]
struct Walk {
    /// inode → container id, for every directory visited (None: not a container).
    ids: HashMap<u64, Option<String>>,
    truncated: bool,
}

fn walk(roots: &[PathBuf]) -> Walk {
    use std::os::unix::fs::MetadataExt;

    let mut w = Walk::default();
    // (dir, depth, container of the dir, when known from an ancestor: a container's nested
    // cgroups belong to it too)
    let mut stack: Vec<(PathBuf, usize, Option<String>)> =
        roots.iter().map(|r| (r.clone(), 0, None)).collect();
    let mut visited = 0usize;
    while let Some((dir, depth, container)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        visited += 1;
        if visited > MAX_WALK_DIRS {
            w.truncated = true;
            break;
        }
        w.ids.insert(meta.ino(), container.clone());
        if depth >= MAX_WALK_DEPTH {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let parent_name = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name();
            let own = name
                .to_str()
                .and_then(|n| container_id_of_dir(n, parent_name.as_deref()));
            stack.push((e.path(), depth + 1, own.or_else(|| container.clone())));
        }
    }
    w
}

/// Counts of what the map did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerMapStats {
    /// Walks of the cgroup trees.
    pub rescans: u64,
    /// Walks cut at [`MAX_WALK_DIRS`].
    pub truncated_walks: u64,
    /// Times the cache was cleared at [`MAX_CACHED_IDS`].
    pub cache_clears: u64,
}

/// Cgroup id → Docker container id.
#[derive(Debug)]
pub struct ContainerMap {
    roots: Vec<PathBuf>,
    known: HashMap<u64, Option<String>>,
    last_walk: Option<Instant>,
    min_rescan: Duration,
    stats: ContainerMapStats,
}

impl ContainerMap {
    /// A map over this host's cgroup2 mounts.
    pub fn new() -> Self {
        Self::with_roots(cgroup2_mounts(), DEFAULT_MIN_RESCAN)
    }

    /// A map over the given cgroup2 roots.
    pub fn with_roots(roots: Vec<PathBuf>, min_rescan: Duration) -> Self {
        ContainerMap {
            roots,
            known: HashMap::new(),
            last_walk: None,
            min_rescan,
            stats: ContainerMapStats::default(),
        }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn stats(&self) -> ContainerMapStats {
        self.stats
    }

    /// The full id of the container whose cgroup (or a cgroup nested in it) has id
    /// `cgroup_id`; `None` for host processes and for ids not found.
    pub fn container_of(&mut self, cgroup_id: u64) -> Option<String> {
        if let Some(known) = self.known.get(&cgroup_id) {
            return known.clone();
        }
        if self
            .last_walk
            .is_some_and(|t| t.elapsed() < self.min_rescan)
        {
            return None;
        }
        self.rescan();
        match self.known.get(&cgroup_id) {
            Some(known) => known.clone(),
            None => {
                // Not a cgroup directory now: remembered as not a container.
                self.remember(cgroup_id, None);
                None
            }
        }
    }

    /// Walks the cgroup trees again now.
    pub fn rescan(&mut self) {
        let w = walk(&self.roots);
        self.last_walk = Some(Instant::now());
        self.stats.rescans += 1;
        if w.truncated {
            self.stats.truncated_walks += 1;
            tracing::warn!(
                max_dirs = MAX_WALK_DIRS,
                "the cgroup tree has more directories than a walk visits; containers beyond are not attributed"
            );
        }
        if self.known.len() + w.ids.len() > MAX_CACHED_IDS {
            self.known.clear();
            self.stats.cache_clears += 1;
        }
        self.known.extend(w.ids);
    }

    fn remember(&mut self, id: u64, container: Option<String>) {
        if self.known.len() >= MAX_CACHED_IDS {
            self.known.clear();
            self.stats.cache_clears += 1;
        }
        self.known.insert(id, container);
    }
}

impl Default for ContainerMap {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn container_directories() {
        let scope = format!("docker-{ID}.scope");
        let cases: &[(&str, Option<&str>, bool)] = &[
            (&scope, Some("system.slice"), true),
            (ID, Some("docker"), true),
            (ID, Some("system.slice"), false),
            ("docker-0123.scope", None, false),
            (&ID.to_uppercase(), Some("docker"), false),
            ("docker", None, false),
        ];
        for (name, parent, is) in cases {
            assert_eq!(
                container_id_of_dir(name, *parent).is_some(),
                *is,
                "{name} {parent:?}"
            );
        }
    }

    #[test]
    fn mountinfo_cgroup2_lines() {
        let mi = "30 23 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw\n\
                  31 23 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
                  40 23 0:28 / /tmp/a\\040b rw - cgroup2 none rw\n\
                  garbage\n";
        assert_eq!(
            parse_cgroup2_mounts(mi),
            [
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/tmp/a b")
            ]
        );
    }

    #[test]
    fn maps_inodes_of_both_layouts_and_nested_cgroups() {
        let root = tempfile::tempdir().unwrap();
        let other = format!("{}{}", &ID[..63], "0");
        let scope = root
            .path()
            .join("system.slice")
            .join(format!("docker-{ID}.scope"));
        let nested = scope.join("init");
        let cgroupfs = root.path().join("docker").join(&other);
        let host = root.path().join("system.slice").join("cron.service");
        for d in [&nested, &cgroupfs, &host] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let mut m = ContainerMap::with_roots(vec![root.path().to_owned()], Duration::ZERO);
        assert_eq!(m.container_of(ino(&scope)).as_deref(), Some(ID));
        assert_eq!(m.container_of(ino(&nested)).as_deref(), Some(ID));
        assert_eq!(
            m.container_of(ino(&cgroupfs)).as_deref(),
            Some(other.as_str())
        );
        assert_eq!(m.container_of(ino(&host)), None);
        assert_eq!(m.stats().rescans, 1);
        // A container created later is found by the walk its first miss triggers.
        let late = root.path().join(format!("docker-{}.scope", "f".repeat(64)));
        std::fs::create_dir(&late).unwrap();
        assert_eq!(m.container_of(ino(&late)), Some("f".repeat(64)));
        assert_eq!(m.stats().rescans, 2);
        // Known answers need no walk.
        assert_eq!(m.container_of(ino(&host)), None);
        assert_eq!(m.stats().rescans, 2);
    }

    #[test]
    fn misses_within_the_interval_do_not_walk() {
        let root = tempfile::tempdir().unwrap();
        let mut m =
            ContainerMap::with_roots(vec![root.path().to_owned()], Duration::from_secs(3600));
        assert_eq!(m.container_of(1), None);
        assert_eq!(m.container_of(2), None);
        assert_eq!(m.stats().rescans, 1);
    }
}
