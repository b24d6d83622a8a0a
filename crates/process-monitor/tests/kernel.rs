//! The probes on the running kernel: exact exec and exit events of a shell the test spawns,
//! a connect to a loopback listener, write-opens under a watched directory (and none under an
//! unwatched one), and overload counted as drops. Needs root and a kernel with BTF.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use common::{attached, collect_until};
use ironpost_process_monitor::{
    Cwd, CwdSource, Event, EventKind, FileHook, LoadOptions, ProcessTable,
};

#[test]
fn exec_and_exit_of_a_shell_child() {
    let (_m, mut r) = attached(LoadOptions::default());
    let mut table = ProcessTable::new(4096);
    table.seed_from_proc(std::path::Path::new("/proc"), None);
    // `exit 3` after `true` keeps dash from exec'ing `true` in place of the shell.
    let child = Command::new("/bin/sh")
        .args(["-c", "/bin/true a b c; exit 3"])
        .spawn()
        .unwrap();
    let sh_pid = child.id();
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(3));
    let me = std::process::id();
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        s.iter()
            .any(|e| matches!(e, Event::Exit(x) if x.task.pid == sh_pid))
    });
    for e in &seen {
        table.apply(e);
    }
    assert!(
        ok,
        "no exit event for the shell among {} events",
        seen.len()
    );
    let sh = seen
        .iter()
        .find_map(|e| match e {
            Event::Exec(x) if x.task.pid == sh_pid => Some(x),
            _ => None,
        })
        .expect("exec event of the shell");
    assert_eq!(sh.filename, "/bin/sh");
    assert_eq!(sh.argv, ["/bin/sh", "-c", "/bin/true a b c; exit 3"]);
    assert_eq!(sh.task.ppid, me);
    let t = seen
        .iter()
        .find_map(|e| match e {
            Event::Exec(x) if x.task.ppid == sh_pid => Some(x),
            _ => None,
        })
        .expect("exec event of /bin/true");
    assert_eq!(t.filename, "/bin/true");
    assert_eq!(t.argv, ["/bin/true", "a", "b", "c"]);
    assert!(!t.argv_truncated);
    assert_eq!(t.task.comm, "true");
    assert_eq!(t.task.uid, current_uid());
    assert_eq!(sh.task.cgroup_id, t.task.cgroup_id);
    // Exit statuses: wait(2) encoding.
    let exits: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Exit(x) if x.task.pid == sh_pid || x.task.pid == t.task.pid => {
                Some((x.task.pid, x.status))
            }
            _ => None,
        })
        .collect();
    assert!(exits.contains(&(sh_pid, 3 << 8)), "{exits:?}");
    assert!(exits.contains(&(t.task.pid, 0)), "{exits:?}");
    assert_eq!(std::process::ExitStatus::from_raw(3 << 8).code(), Some(3));
}

/// The parent chain the table gives for an exec while its parents live: the shell, then this
/// test process, then its parents as seeded from /proc.
#[test]
fn parent_chain_of_a_grandchild() {
    let (_m, mut r) = attached(LoadOptions::default());
    let mut table = ProcessTable::new(4096);
    table.seed_from_proc(std::path::Path::new("/proc"), None);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("go");
    // The grandchild blocks on the fifo, so the chain is complete while we look.
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut child = Command::new("/bin/sh")
        .current_dir(dir.path())
        .args([
            "-c",
            &format!("/bin/cat {} > /dev/null; exit 0", fifo.display()),
        ])
        .spawn()
        .unwrap();
    let sh_pid = child.id();
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        s.iter().any(
            |e| matches!(e, Event::Exec(x) if x.task.ppid == sh_pid && x.filename == "/bin/cat"),
        )
    });
    assert!(ok, "no exec of cat");
    for e in &seen {
        table.apply(e);
    }
    let cat_exec = seen
        .iter()
        .find_map(|e| match e {
            Event::Exec(x) if x.task.ppid == sh_pid => Some(x),
            _ => None,
        })
        .unwrap();
    let cat = cat_exec.task.pid;
    // cat blocks on the fifo, so the cwd read at receipt is the one it was started in.
    assert_eq!(
        cat_exec.cwd,
        Some(Cwd {
            path: dir
                .path()
                .canonicalize()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            source: CwdSource::ProcAtReceipt,
        })
    );
    let chain: Vec<(u32, String)> = table
        .ancestors(cat)
        .iter()
        .map(|p| (p.pid, p.exe.clone()))
        .collect();
    assert_eq!(chain[0], (sh_pid, "/bin/sh".to_owned()), "{chain:?}");
    assert_eq!(chain[1].0, std::process::id(), "{chain:?}");
    assert_eq!(
        chain[1].1,
        std::env::current_exe().unwrap().to_string_lossy(),
        "{chain:?}"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn current_uid() -> u32 {
    // The test runs as root (loading BPF needs it); /proc/self/status says so without libc.
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a Uid: line")
}

#[test]
fn connect_to_a_loopback_listener() {
    let (_m, mut r) = attached(LoadOptions::default());
    let l4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let p4 = l4.local_addr().unwrap().port();
    let l6 = TcpListener::bind("[::1]:0").unwrap();
    let p6 = l6.local_addr().unwrap().port();
    let _c4 = std::net::TcpStream::connect(("127.0.0.1", p4)).unwrap();
    let _c6 = std::net::TcpStream::connect(("::1", p6)).unwrap();
    let me = std::process::id();
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        let has = |port: u16| {
            s.iter()
                .any(|e| matches!(e, Event::Connect(c) if c.dport == port))
        };
        has(p4) && has(p6)
    });
    assert!(ok, "connect events missing: {seen:?}");
    for (port, addr) in [(p4, "127.0.0.1"), (p6, "::1")] {
        let c = seen
            .iter()
            .find_map(|e| match e {
                Event::Connect(c) if c.dport == port => Some(c),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.daddr, addr.parse::<std::net::IpAddr>().unwrap());
        assert_eq!(c.task.pid, me);
    }
}

#[test]
fn write_opens_under_watched_dirs_only() {
    let watched = tempfile::tempdir().unwrap();
    let unwatched = tempfile::tempdir().unwrap();
    let (m, mut r) = attached(common::watched(&[watched.path()]));
    let before = m.counters().unwrap().of(EventKind::FileOpen);
    let w = watched.path().canonicalize().unwrap();
    // Unwatched first: if it raised an event, it would be read before the watched ones.
    std::fs::write(unwatched.path().join("u.txt"), b"x").unwrap();
    // A read-only open of a watched file raises nothing.
    std::fs::write(w.join("w.txt"), b"x").unwrap();
    let _ = std::fs::read(w.join("w.txt")).unwrap();
    // A name relative to the working directory, then an absolute one, from a shell.
    let script = format!("echo y >> rel.txt; echo z > {}/abs.txt", w.display());
    let st = Command::new("/bin/sh")
        .current_dir(&w)
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(st.success());
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        s.iter()
            .any(|e| matches!(e, Event::FileOpen(f) if f.path.ends_with("/abs.txt")))
    });
    assert!(ok, "no event for abs.txt: {seen:?}");
    let opens: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::FileOpen(f) => Some(f),
            _ => None,
        })
        .collect();
    let paths: Vec<&str> = opens.iter().map(|f| f.path.as_str()).collect();
    let at = |name: &str| w.join(name).to_string_lossy().into_owned();
    // Resolved paths (fentry) see the relative open; the syscall fallback sees names only.
    let expected = match m.file_hook() {
        FileHook::Fentry => vec![at("w.txt"), at("rel.txt"), at("abs.txt")],
        FileHook::SyscallTracepoints => vec![at("w.txt"), at("abs.txt")],
    };
    assert_eq!(paths, expected, "file hook {:?}", m.file_hook());
    assert_eq!(opens[0].task.pid, std::process::id());
    assert_ne!(opens[0].open_flags & libc_o_creat(), 0);
    assert_eq!(opens.last().unwrap().task.comm, "sh");
    let after = m.counters().unwrap().of(EventKind::FileOpen);
    assert_eq!(after.emitted - before.emitted, expected.len() as u64);
}

fn libc_o_creat() -> u32 {
    0o100
}

#[test]
fn overload_is_counted_not_hung() {
    // Burst 1, no refill: the first exec per CPU passes, the rest are rate limited.
    let opts = LoadOptions {
        events_per_second: 0,
        events_burst: 1,
        ..LoadOptions::default()
    };
    let (m, mut r) = attached(opts);
    let st = Command::new("/bin/sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let c = m.counters().unwrap();
    let exec = c.of(EventKind::Exec);
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(exec.emitted <= cpus, "{exec:?}");
    assert!(exec.rate_limited >= 1000 - cpus, "{exec:?}");
    let mut n = 0;
    while let Some(e) = r.next_event() {
        n += usize::from(e.kind() == EventKind::Exec);
    }
    assert_eq!(n as u64, exec.emitted);
    assert_eq!(r.bad_records(), 0);
}

#[test]
fn tiny_ring_buffer_overflow_is_counted() {
    // 4 KiB holds four exec records; nobody reads while 200 execs run.
    let opts = LoadOptions {
        ring_buffer_size: 4096,
        ..LoadOptions::default()
    };
    let (m, mut r) = attached(opts);
    let st = Command::new("/bin/sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let exec = m.counters().unwrap().of(EventKind::Exec);
    assert!(exec.ringbuf_full >= 190, "{exec:?}");
    let mut n = 0u64;
    while let Some(e) = r.next_event() {
        n += u64::from(e.kind() == EventKind::Exec);
    }
    assert_eq!(n, exec.emitted);
    assert!(n <= 4, "{n}");
}

#[test]
fn detached_probes_report_nothing_until_attached_again() {
    let (mut m, mut r) = attached(LoadOptions::default());
    m.detach();
    assert!(!m.is_attached());
    let unseen = Command::new("/bin/true").spawn().unwrap();
    let unseen_pid = unseen.id();
    assert!(unseen.wait_with_output().unwrap().status.success());
    m.attach().unwrap();
    assert!(m.is_attached());
    let seen_child = Command::new("/bin/true").spawn().unwrap();
    let seen_pid = seen_child.id();
    assert!(seen_child.wait_with_output().unwrap().status.success());
    let mut seen = Vec::new();
    let ok = collect_until(&mut r, &mut seen, |s| {
        s.iter()
            .any(|e| matches!(e, Event::Exec(x) if x.task.pid == seen_pid))
    });
    assert!(ok, "no exec event after attaching again");
    assert!(
        !seen.iter().any(|e| e.task().pid == unseen_pid),
        "an event of the process spawned while detached"
    );
}
