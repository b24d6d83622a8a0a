//! [`ProcessTable`]: what is known about each live process (exe, argv, uid, parent, cgroup,
//! start time), kept from exec and exit events so that rules can walk a process's parent chain
//! ([`ProcessTable::ancestors`]). Bounded: at capacity the oldest entry is evicted and counted.
//! [`ProcessTable::seed_from_proc`] fills it from `/proc` at start, so processes started before
//! the probes have entries and parents.
//!
//! Entries are keyed by host pid. An exec replaces its pid's entry; an exit removes it. An event
//! from a pid without an entry (a child that forked and did not exec) adds one inherited from
//! its parent's, as fork does.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use crate::wire::{Event, MAX_ARGS, TaskInfo};

/// Default capacity of the table.
pub const DEFAULT_TABLE_CAPACITY: usize = 32_768;
/// How far [`ProcessTable::ancestors`] walks up.
pub const MAX_ANCESTRY_DEPTH: usize = 16;
/// Bytes read from a `/proc/<pid>/{stat,status,cmdline,cgroup}` file.
const PROC_READ_MAX: u64 = 4096;

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The executable: the exec's filename, or `/proc/<pid>/exe` for seeded entries.
    pub exe: String,
    pub argv: Vec<String>,
    pub comm: String,
    /// cgroup v2 id (inode of the cgroup directory); 0 when unknown.
    pub cgroup_id: u64,
    /// Process start, `CLOCK_BOOTTIME` ns (seeded entries: `/proc/<pid>/stat` start time, at
    /// clock-tick resolution).
    pub start_boot_ns: u64,
}

/// What [`ProcessTable::seed_from_proc`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedStats {
    /// Processes added.
    pub seeded: usize,
    /// `/proc/<pid>` directories that vanished or could not be read meanwhile.
    pub skipped: usize,
}

/// The bounded pid → process map.
#[derive(Debug)]
pub struct ProcessTable {
    capacity: usize,
    entries: HashMap<u32, (ProcessInfo, u64)>,
    /// Insertion sequence → pid, oldest first.
    order: BTreeMap<u64, u32>,
    next_seq: u64,
    evictions: u64,
}

impl ProcessTable {
    /// A table of at most `capacity` processes (at least 1).
    pub fn new(capacity: usize) -> Self {
        ProcessTable {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            evictions: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries evicted because the table was full, since it was created.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.entries.get(&pid).map(|(p, _)| p)
    }

    /// Adds or replaces `info.pid`'s entry (it becomes the newest).
    pub fn insert(&mut self, info: ProcessInfo) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some((_, old)) = self.entries.remove(&info.pid) {
            self.order.remove(&old);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, pid)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&pid);
            self.evictions += 1;
        }
        self.order.insert(seq, info.pid);
        self.entries.insert(info.pid, (info, seq));
    }

    pub fn remove(&mut self, pid: u32) -> Option<ProcessInfo> {
        let (info, seq) = self.entries.remove(&pid)?;
        self.order.remove(&seq);
        Some(info)
    }

    /// The parent chain of `pid`, nearest first, at most [`MAX_ANCESTRY_DEPTH`] entries; stops
    /// at the first parent without an entry, at pid 0 and at a loop.
    pub fn ancestors(&self, pid: u32) -> Vec<&ProcessInfo> {
        let mut out: Vec<&ProcessInfo> = Vec::new();
        let mut cur = self.get(pid).map(|p| p.ppid);
        while let Some(ppid) = cur {
            if ppid == 0 || ppid == pid || out.len() == MAX_ANCESTRY_DEPTH {
                break;
            }
            let Some(p) = self.get(ppid) else { break };
            if out.iter().any(|q| q.pid == p.pid) {
                break;
            }
            out.push(p);
            cur = Some(p.ppid);
        }
        out
    }

    /// Updates the table from one event: an exec (re)places the entry, an exit removes it, any
    /// other event from an unknown pid adds an entry inherited from its parent.
    ///
    /// An exec of `/proc/self/exe` that the reader could not name (the process was gone when it
    /// read `/proc/<pid>/exe`) is named with [`crate::applet_image`] from the image the process
    /// ran before (its own entry, else its parent's: a fork runs its parent's image), so its
    /// `exe` is `/bin/nc` rather than `/proc/self/exe`.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Exec(e) => self.insert(ProcessInfo {
                pid: e.task.pid,
                ppid: e.task.ppid,
                uid: e.task.uid,
                gid: e.task.gid,
                exe: crate::wire::applet_image(
                    &e.filename,
                    e.argv.first().map(String::as_str),
                    self.get(e.task.pid)
                        .or_else(|| self.get(e.task.ppid))
                        .map(|p| p.exe.as_str()),
                )
                .unwrap_or_else(|| e.filename.clone()),
                argv: e.argv.clone(),
                comm: e.task.comm.clone(),
                cgroup_id: e.task.cgroup_id,
                start_boot_ns: e.start_boot_ns,
            }),
            Event::Exit(e) => {
                self.remove(e.task.pid);
            }
            Event::Connect(_) | Event::FileOpen(_) => self.note(event.task()),
        }
    }

    /// Adds an entry for a task first seen in a non-exec event: a forked child runs its
    /// parent's image.
    fn note(&mut self, t: &TaskInfo) {
        if self.entries.contains_key(&t.pid) {
            return;
        }
        let (exe, argv) = match self.get(t.ppid) {
            Some(parent) => (parent.exe.clone(), parent.argv.clone()),
            None => (String::new(), Vec::new()),
        };
        self.insert(ProcessInfo {
            pid: t.pid,
            ppid: t.ppid,
            uid: t.uid,
            gid: t.gid,
            exe,
            argv,
            comm: t.comm.clone(),
            cgroup_id: t.cgroup_id,
            start_boot_ns: 0,
        });
    }

    /// Adds every process under `proc_root` (normally `/proc`) that has no entry yet. The cgroup
    /// id of a seeded process is the inode of its cgroup v2 directory under `cgroup2_root` (the
    /// unified hierarchy's mount point, [`crate::cgroup2_mounts`]); 0 when it is not given or
    /// not found. Reads at most 4 KiB of each file; a process that exits meanwhile is skipped.
    pub fn seed_from_proc(&mut self, proc_root: &Path, cgroup2_root: Option<&Path>) -> SeedStats {
        let mut stats = SeedStats::default();
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return stats;
        };
        let ticks = clock_ticks_per_sec();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if self.entries.contains_key(&pid) {
                continue;
            }
            match read_proc_entry(&entry.path(), pid, ticks, cgroup2_root) {
                Some(info) => {
                    self.insert(info);
                    stats.seeded += 1;
                }
                None => stats.skipped += 1,
            }
        }
        stats
    }
}

fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(PROC_READ_MAX)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// `/proc/<pid>/stat`: (comm, ppid, start time in clock ticks). The comm is between the first
/// `(` and the last `)`, and may itself contain both, spaces included.
pub(crate) fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After ") ": state(3) ppid(4) ... starttime(22): fields 3.. are at index 0..
    let rest: Vec<&str> = stat
        .get(close + 1..)?
        .split_ascii_whitespace()
        .take(20)
        .collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some((comm, ppid, start))
}

/// `Uid:`/`Gid:` lines of `/proc/<pid>/status`: the real ids.
fn parse_ids(status: &str) -> (u32, u32) {
    let id = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    };
    (id("Uid:"), id("Gid:"))
}

/// The cgroup v2 path in `/proc/<pid>/cgroup` (the `0::` line).
pub(crate) fn parse_cgroup_v2(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

fn read_proc_entry(
    dir: &Path,
    pid: u32,
    ticks: u64,
    cgroup2_root: Option<&Path>,
) -> Option<ProcessInfo> {
    use std::os::unix::fs::MetadataExt;

    let stat = read_bounded(&dir.join("stat"))?;
    let (comm, ppid, start_ticks) = parse_stat(&String::from_utf8_lossy(&stat))?;
    let status = read_bounded(&dir.join("status")).unwrap_or_default();
    let (uid, gid) = parse_ids(&String::from_utf8_lossy(&status));
    // Kernel threads have no exe and an empty cmdline.
    let exe = std::fs::read_link(dir.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmdline = read_bounded(&dir.join("cmdline")).unwrap_or_default();
    let block = cmdline.strip_suffix(&[0]).unwrap_or(&cmdline);
    let argv = if block.is_empty() {
        Vec::new()
    } else {
        block
            .split(|&c| c == 0)
            .take(MAX_ARGS)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    };
    let cgroup_id = cgroup2_root
        .and_then(|root| {
            let cg = read_bounded(&dir.join("cgroup"))?;
            let cg = String::from_utf8_lossy(&cg);
            let rel = parse_cgroup_v2(&cg)?.trim_start_matches('/');
            std::fs::metadata(root.join(rel)).ok().map(|m| m.ino())
        })
        .unwrap_or(0);
    Some(ProcessInfo {
        pid,
        ppid,
        uid,
        gid,
        exe,
        argv,
        comm,
        cgroup_id,
        start_boot_ns: start_ticks.saturating_mul(1_000_000_000 / ticks.max(1)),
    })
}

#[allow(unsafe_code)]
fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library; no pointers are involved.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, ppid: u32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            uid: 0,
            gid: 0,
            exe: format!("/bin/p{pid}"),
            argv: vec![format!("p{pid}")],
            comm: format!("p{pid}"),
            cgroup_id: 0,
            start_boot_ns: 0,
        }
    }

    fn chain(t: &ProcessTable, pid: u32) -> Vec<u32> {
        t.ancestors(pid).iter().map(|p| p.pid).collect()
    }

    #[test]
    fn evicts_the_oldest_and_counts() {
        let mut t = ProcessTable::new(2);
        t.insert(info(1, 0));
        t.insert(info(2, 1));
        t.insert(info(1, 0)); // refreshed: now the newest
        t.insert(info(3, 2));
        assert_eq!((t.len(), t.evictions()), (2, 1));
        assert!(t.get(2).is_none() && t.get(1).is_some() && t.get(3).is_some());
    }

    #[test]
    fn ancestors_are_bounded_and_loop_free() {
        let mut t = ProcessTable::new(100);
        for pid in 1..=40 {
            t.insert(info(pid, pid - 1));
        }
        assert_eq!(chain(&t, 3), [2, 1]);
        assert_eq!(chain(&t, 40).len(), MAX_ANCESTRY_DEPTH);
        assert_eq!(chain(&t, 99), Vec::<u32>::new());
        t.insert(info(50, 51));
        t.insert(info(51, 50));
        assert_eq!(chain(&t, 50), [51]);
        t.insert(info(60, 60));
        assert_eq!(chain(&t, 60), Vec::<u32>::new());
    }

    #[test]
    fn events_keep_the_table_current() {
        use crate::wire::{Connect, ProcessExit};
        let task = |pid, ppid| TaskInfo {
            boot_ns: 1,
            cgroup_id: 9,
            pid,
            tid: pid,
            ppid,
            uid: 33,
            gid: 33,
            comm: "x".into(),
        };
        let exec = |pid, ppid, exe: &str| {
            Event::Exec(crate::wire::ProcessExec {
                task: task(pid, ppid),
                start_boot_ns: 5,
                filename: exe.into(),
                filename_truncated: false,
                argv: vec![exe.into(), "-c".into()],
                argv_truncated: false,
                argv_unreadable: false,
                cwd: None,
            })
        };
        let mut t = ProcessTable::new(16);
        t.apply(&exec(10, 1, "/usr/sbin/nginx"));
        // A forked worker that never execs connects out: it inherits nginx's image.
        t.apply(&Event::Connect(Connect {
            task: task(11, 10),
            daddr: "198.18.0.1".parse().unwrap(),
            dport: 4444,
        }));
        assert_eq!(t.get(11).map(|p| p.exe.as_str()), Some("/usr/sbin/nginx"));
        // The worker execs a shell: the entry is replaced, the chain reaches nginx.
        t.apply(&exec(11, 10, "/bin/sh"));
        assert_eq!(
            t.get(11).map(|p| (p.exe.as_str(), p.cgroup_id, p.uid)),
            Some(("/bin/sh", 9, 33))
        );
        assert_eq!(chain(&t, 11), [10]);
        t.apply(&Event::Exit(ProcessExit {
            task: task(11, 10),
            status: 0,
        }));
        assert!(t.get(11).is_none());
        assert_eq!(t.len(), 1);
        // busybox's shell re-executes itself for an applet: named after it, in the directory of
        // the image it ran before (the parent's, for a fresh fork).
        t.apply(&exec(12, 10, "/bin/sh"));
        let mut reexec = exec(13, 12, "/proc/self/exe");
        if let Event::Exec(e) = &mut reexec {
            e.argv = vec!["nc".into(), "198.18.0.1".into()];
        }
        t.apply(&reexec);
        assert_eq!(t.get(13).map(|p| p.exe.as_str()), Some("/bin/nc"));
    }

    #[test]
    fn stat_lines_parse_with_hostile_comms() {
        let line = "42 (a) b) (c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        assert_eq!(parse_stat(line), Some(("a) b) (c".to_owned(), 7, 12345)));
        assert_eq!(parse_stat("42 (x S 7"), None);
        assert_eq!(parse_stat("42 (x) S"), None);
        assert_eq!(parse_stat(""), None);
        assert_eq!(
            parse_ids("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n"),
            (1000, 5)
        );
        assert_eq!(
            parse_cgroup_v2("1:cpu:/\n0::/docker/abc\n"),
            Some("/docker/abc")
        );
    }

    #[test]
    fn seeds_this_process_with_its_parent() {
        let mut t = ProcessTable::new(DEFAULT_TABLE_CAPACITY);
        let stats = t.seed_from_proc(Path::new("/proc"), None);
        assert!(stats.seeded > 1, "{stats:?}");
        let me = t.get(std::process::id()).expect("this process is seeded");
        assert_eq!(me.exe, std::env::current_exe().unwrap().to_string_lossy());
        assert!(
            t.get(me.ppid).is_some(),
            "the parent of this process is seeded too"
        );
    }
}
