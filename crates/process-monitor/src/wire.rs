//! The kernel/userspace record layouts of `bpf/process_monitor.h`, their decoder (and the
//! encoder benchmarks and tests use).
//!
//! The ring buffer's bytes come from our own programs, but the decoder still treats them as
//! untrusted: a record's size must be exactly its kind's, every length field is checked against
//! its buffer, strings are decoded lossily, and argv is cut at [`MAX_ARGS`] arguments. Nothing
//! here panics on any input (fuzz target `process_events`, docs/fuzzing.md).

use std::net::{IpAddr, Ipv6Addr};

/// `KIND_*` in the C header.
pub(crate) const KIND_EXEC: u32 = 0;
pub(crate) const KIND_EXIT: u32 = 1;
pub(crate) const KIND_CONNECT: u32 = 2;
pub(crate) const KIND_FILE_OPEN: u32 = 3;
pub(crate) const KIND_COUNT: usize = 4;
/// `CNT_*`: three counters per kind in the `counters` map.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
pub(crate) const CNT_PER_KIND: usize = 3;
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
pub(crate) const CNT_SLOTS: u32 = (KIND_COUNT * CNT_PER_KIND) as u32;

pub(crate) const COMM_LEN: usize = 16;
/// Longest exec filename / opened path the kernel copies (`PATH_LEN`, with its NUL).
pub const PATH_LEN: usize = 256;
/// Bytes of an exec's argument block the kernel copies (`ARGS_LEN`).
pub const ARGS_LEN: usize = 512;
/// Arguments kept per exec; more are cut and flagged.
pub const MAX_ARGS: usize = 16;
/// Watched path prefixes the kernel can hold (`MAX_PREFIXES`).
pub const MAX_PREFIXES: usize = 8;
/// Bytes of one watched prefix, its trailing `/` included (`PREFIX_LEN`).
pub const PREFIX_LEN: usize = 128;

const FLAG_ARGS_TRUNCATED: u32 = 0x1;
const FLAG_PATH_TRUNCATED: u32 = 0x2;
const FLAG_ARGS_UNREADABLE: u32 = 0x4;

pub(crate) const HEADER_SIZE: usize = 56;
pub(crate) const EXEC_SIZE: usize = 848;
pub(crate) const EXIT_SIZE: usize = 64;
pub(crate) const CONNECT_SIZE: usize = 80;
pub(crate) const FILE_OPEN_SIZE: usize = 328;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// What every event carries about the task that caused it. Ids are as seen from the initial PID
/// namespace (a container's processes have their host pids here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// `CLOCK_BOOTTIME` nanoseconds when the kernel saw the event
    /// ([`crate::boot_ns_to_system_time`] converts).
    pub boot_ns: u64,
    /// cgroup v2 id (the inode of the task's cgroup directory): [`crate::ContainerMap`] maps it
    /// to a container.
    pub cgroup_id: u64,
    /// Thread group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The real parent's thread group id.
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// `comm`: the task's name (at most 15 bytes; after an exec, the file name's base name).
    pub comm: String,
}

/// A successful execve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExec {
    pub task: TaskInfo,
    /// When the process (not the exec) started, `CLOCK_BOOTTIME` ns.
    pub start_boot_ns: u64,
    /// The path given to execve (may be relative to the caller's working directory). When that
    /// path is `/proc/self/exe` (busybox's standalone shell re-executes itself to run an applet,
    /// `argv[0]` naming it), [`crate::EventReader`] replaces it with [`applet_image`]'s.
    pub filename: String,
    /// `filename` was longer than the kernel copies and is cut.
    pub filename_truncated: bool,
    /// The arguments, argv[0] first, at most [`MAX_ARGS`] and [`ARGS_LEN`] bytes together.
    pub argv: Vec<String>,
    /// More arguments or bytes than kept: `argv` is a prefix (its last item may be cut).
    pub argv_truncated: bool,
    /// The kernel could not read the argument block (`argv` is empty).
    pub argv_unreadable: bool,
    /// The working directory, when known; `decode` leaves it `None` and
    /// [`crate::EventReader`] fills it.
    pub cwd: Option<Cwd>,
}

/// A working directory and how it was learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cwd {
    pub path: String,
    pub source: CwdSource,
}

/// Where a [`Cwd`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CwdSource {
    /// `/proc/<pid>/cwd` read when the reader received the event, not at exec time: racy. The
    /// process may have changed directory since (then this is its new one), or exited (then
    /// there is no cwd), and if its pid was reused meanwhile this is the other process's.
    /// Rules should treat it as a hint.
    ProcAtReceipt,
}

/// A process (thread group leader) exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    pub task: TaskInfo,
    /// The wait(2) status: `code << 8` for an exit, the signal number for a kill.
    pub status: u32,
}

/// An outbound TCP connection attempt (the SYN about to be sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub task: TaskInfo,
    /// IPv4 destinations are plain `IpAddr::V4`.
    pub daddr: IpAddr,
    pub dport: u16,
}

/// A file under a watched prefix opened for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOpen {
    pub task: TaskInfo,
    /// The resolved absolute path, relative to the task's root (a container's own `/etc`
    /// shows as `/etc`).
    pub path: String,
    /// `O_*` flags of the open (`O_CREAT` and `O_TRUNC` included).
    pub open_flags: u32,
}

/// The image an exec of `/proc/self/exe` (or `/proc/<pid>/exe`) runs, named the way Sigma rules
/// expect: the directory of the real executable (`real_exe`, read from `/proc/<pid>/exe` at
/// receipt: `/bin/busybox`) joined with `argv[0]`'s base name (the applet: `sh`, `nc`), so
/// `/bin/sh`, `/bin/nc`. `None` when `filename` is not such a path, or either part is unknown.
pub fn applet_image(filename: &str, argv0: Option<&str>, real_exe: Option<&str>) -> Option<String> {
    let rest = filename.strip_prefix("/proc/")?.strip_suffix("/exe")?;
    if rest != "self" && (rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let applet = argv0?.rsplit('/').next().filter(|a| !a.is_empty())?;
    let dir = real_exe?.rsplit_once('/')?.0;
    Some(format!("{dir}/{applet}"))
}

/// One decoded ring-buffer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Exec(ProcessExec),
    Exit(ProcessExit),
    Connect(Connect),
    FileOpen(FileOpen),
}

/// The kinds of events, for metrics and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Exec,
    Exit,
    Connect,
    FileOpen,
}

impl EventKind {
    pub const ALL: [EventKind; KIND_COUNT] = [
        EventKind::Exec,
        EventKind::Exit,
        EventKind::Connect,
        EventKind::FileOpen,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Exec => "exec",
            EventKind::Exit => "exit",
            EventKind::Connect => "connect",
            EventKind::FileOpen => "file_open",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            EventKind::Exec => 0,
            EventKind::Exit => 1,
            EventKind::Connect => 2,
            EventKind::FileOpen => 3,
        }
    }
}

impl Event {
    pub fn task(&self) -> &TaskInfo {
        match self {
            Event::Exec(e) => &e.task,
            Event::Exit(e) => &e.task,
            Event::Connect(e) => &e.task,
            Event::FileOpen(e) => &e.task,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Exec(_) => EventKind::Exec,
            Event::Exit(_) => EventKind::Exit,
            Event::Connect(_) => EventKind::Connect,
            Event::FileOpen(_) => EventKind::FileOpen,
        }
    }
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {HEADER_SIZE}-byte header")]
    Short { len: usize },
    #[error("record kind {kind} is unknown")]
    UnknownKind { kind: u32 },
    #[error("{kind} record of {len} bytes, expected {expected}")]
    Size {
        kind: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("{kind} record: field `{field}` is {value}, more than its {max}-byte buffer")]
    Length {
        kind: &'static str,
        field: &'static str,
        value: u32,
        max: usize,
    },
    #[error("connect record: address family {family} is neither AF_INET nor AF_INET6")]
    Family { family: u16 },
}

/// Little helper over a record whose size was checked: every offset read is below its length.
struct Rec<'a>(&'a [u8]);

impl Rec<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = self.0.get(at..at + N) {
            out.copy_from_slice(s);
        }
        out
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_ne_bytes(self.bytes(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_ne_bytes(self.bytes(at))
    }
    fn slice(&self, at: usize, len: usize) -> &[u8] {
        self.0.get(at..at + len).unwrap_or_default()
    }
}

/// Text up to the first NUL (or the whole slice), invalid UTF-8 replaced.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn length(
    kind: &'static str,
    field: &'static str,
    value: u32,
    max: usize,
) -> Result<usize, DecodeError> {
    let v = value as usize;
    if v >= max {
        // A length must leave room for the NUL (filename, path) or fit the buffer (args, where
        // `max` is passed one past the buffer).
        return Err(DecodeError::Length {
            kind,
            field,
            value,
            max,
        });
    }
    Ok(v)
}

/// Splits a NUL-separated argument block into at most [`MAX_ARGS`] arguments; true when some
/// were cut.
fn split_args(block: &[u8]) -> (Vec<String>, bool) {
    if block.is_empty() {
        return (Vec::new(), false);
    }
    // Each argument ends in a NUL; the last one may be cut before its NUL.
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    let mut argv = Vec::new();
    for arg in block.split(|&c| c == 0) {
        if argv.len() == MAX_ARGS {
            return (argv, true);
        }
        argv.push(String::from_utf8_lossy(arg).into_owned());
    }
    (argv, false)
}

fn expect_size(kind: &'static str, len: usize, expected: usize) -> Result<(), DecodeError> {
    if len == expected {
        Ok(())
    } else {
        Err(DecodeError::Size {
            kind,
            len,
            expected,
        })
    }
}

/// Decodes one ring-buffer record.
pub fn decode(b: &[u8]) -> Result<Event, DecodeError> {
    if b.len() < HEADER_SIZE {
        return Err(DecodeError::Short { len: b.len() });
    }
    let r = Rec(b);
    let task = TaskInfo {
        boot_ns: r.u64(0),
        cgroup_id: r.u64(8),
        pid: r.u32(20),
        tid: r.u32(24),
        ppid: r.u32(28),
        uid: r.u32(32),
        gid: r.u32(36),
        comm: c_string(r.slice(40, COMM_LEN)),
    };
    match r.u32(16) {
        KIND_EXEC => {
            expect_size("exec", b.len(), EXEC_SIZE)?;
            let flags = r.u32(64);
            let filename_len = length("exec", "filename_len", r.u32(68), PATH_LEN)?;
            let args_len = length("exec", "args_len", r.u32(72), ARGS_LEN + 1)?;
            let filename_at = 80;
            let args_at = filename_at + PATH_LEN;
            let (argv, cut) = split_args(r.slice(args_at, args_len));
            Ok(Event::Exec(ProcessExec {
                task,
                start_boot_ns: r.u64(56),
                filename: c_string(r.slice(filename_at, filename_len)),
                filename_truncated: flags & FLAG_PATH_TRUNCATED != 0,
                argv,
                argv_truncated: cut || flags & FLAG_ARGS_TRUNCATED != 0,
                argv_unreadable: flags & FLAG_ARGS_UNREADABLE != 0,
                cwd: None,
            }))
        }
        KIND_EXIT => {
            expect_size("exit", b.len(), EXIT_SIZE)?;
            Ok(Event::Exit(ProcessExit {
                task,
                status: r.u32(56),
            }))
        }
        KIND_CONNECT => {
            expect_size("connect", b.len(), CONNECT_SIZE)?;
            let family = r.u16(72);
            let v6 = Ipv6Addr::from(r.bytes::<16>(56));
            let daddr = match family {
                AF_INET => IpAddr::V4(v6.to_ipv4_mapped().ok_or(DecodeError::Family { family })?),
                AF_INET6 => IpAddr::V6(v6),
                _ => return Err(DecodeError::Family { family }),
            };
            Ok(Event::Connect(Connect {
                task,
                daddr,
                dport: r.u16(74),
            }))
        }
        KIND_FILE_OPEN => {
            expect_size("file_open", b.len(), FILE_OPEN_SIZE)?;
            let path_len = length("file_open", "path_len", r.u32(64), PATH_LEN)?;
            Ok(Event::FileOpen(FileOpen {
                task,
                path: c_string(r.slice(72, path_len)),
                open_flags: r.u32(56),
            }))
        }
        kind => Err(DecodeError::UnknownKind { kind }),
    }
}

/// The record the kernel would write for `event` (the inverse of [`decode`], for benchmarks and
/// tests that feed the userspace path without the probes): strings longer than their buffer and
/// argument blocks longer than [`ARGS_LEN`] are cut and flagged as the kernel does; `cwd` is not
/// part of a record.
pub fn encode(event: &Event) -> Vec<u8> {
    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }
    /// `s` cut to fit `max - 1` bytes and its NUL; (bytes with the NUL, cut).
    fn c_str(s: &str, max: usize) -> (Vec<u8>, bool) {
        let cut = s.len() >= max;
        let mut v = s.as_bytes()[..s.len().min(max - 1)].to_vec();
        v.push(0);
        (v, cut)
    }
    let task = event.task();
    let (kind, size) = match event {
        Event::Exec(_) => (KIND_EXEC, EXEC_SIZE),
        Event::Exit(_) => (KIND_EXIT, EXIT_SIZE),
        Event::Connect(_) => (KIND_CONNECT, CONNECT_SIZE),
        Event::FileOpen(_) => (KIND_FILE_OPEN, FILE_OPEN_SIZE),
    };
    let mut b = vec![0u8; size];
    put(&mut b, 0, &task.boot_ns.to_ne_bytes());
    put(&mut b, 8, &task.cgroup_id.to_ne_bytes());
    put(&mut b, 16, &kind.to_ne_bytes());
    for (i, v) in [task.pid, task.tid, task.ppid, task.uid, task.gid]
        .into_iter()
        .enumerate()
    {
        put(&mut b, 20 + 4 * i, &v.to_ne_bytes());
    }
    let comm = task.comm.as_bytes();
    put(&mut b, 40, &comm[..comm.len().min(COMM_LEN - 1)]);
    match event {
        Event::Exec(e) => {
            let (filename, filename_cut) = c_str(&e.filename, PATH_LEN);
            let mut args = Vec::new();
            for a in &e.argv {
                args.extend_from_slice(a.as_bytes());
                args.push(0);
            }
            let args_cut = args.len() > ARGS_LEN;
            args.truncate(ARGS_LEN);
            let mut flags = 0;
            if args_cut || e.argv_truncated {
                flags |= FLAG_ARGS_TRUNCATED;
            }
            if filename_cut || e.filename_truncated {
                flags |= FLAG_PATH_TRUNCATED;
            }
            if e.argv_unreadable {
                flags |= FLAG_ARGS_UNREADABLE;
            }
            put(&mut b, 56, &e.start_boot_ns.to_ne_bytes());
            put(&mut b, 64, &flags.to_ne_bytes());
            // The length fields count the string without its NUL, the argument block with its
            // NULs, as the C programs write them.
            put(&mut b, 68, &((filename.len() - 1) as u32).to_ne_bytes());
            put(&mut b, 72, &(args.len() as u32).to_ne_bytes());
            put(&mut b, 80, &filename);
            put(&mut b, 80 + PATH_LEN, &args);
        }
        Event::Exit(e) => put(&mut b, 56, &e.status.to_ne_bytes()),
        Event::Connect(c) => {
            let (family, addr) = match c.daddr {
                IpAddr::V4(a) => (AF_INET, a.to_ipv6_mapped()),
                IpAddr::V6(a) => (AF_INET6, a),
            };
            put(&mut b, 56, &addr.octets());
            put(&mut b, 72, &family.to_ne_bytes());
            put(&mut b, 74, &c.dport.to_ne_bytes());
        }
        Event::FileOpen(f) => {
            let (path, _) = c_str(&f.path, PATH_LEN);
            put(&mut b, 56, &f.open_flags.to_ne_bytes());
            put(&mut b, 64, &((path.len() - 1) as u32).to_ne_bytes());
            put(&mut b, 72, &path);
        }
    }
    b
}

/// What the [`crate::EventReader`] does with each record it takes from the ring buffer:
/// [`decode`], then for an exec, the busybox applet name ([`applet_image`], reading
/// `/proc/<pid>/exe`) and the working directory (`/proc/<pid>/cwd`, [`CwdSource::ProcAtReceipt`]).
pub fn receive(b: &[u8]) -> Result<Event, DecodeError> {
    let mut event = decode(b)?;
    if let Event::Exec(e) = &mut event {
        if e.filename.starts_with("/proc/") {
            let real = std::fs::read_link(format!("/proc/{}/exe", e.task.pid))
                .ok()
                .map(|p| p.to_string_lossy().into_owned());
            if let Some(image) = applet_image(
                &e.filename,
                e.argv.first().map(String::as_str),
                real.as_deref(),
            ) {
                e.filename = image;
            }
        }
        e.cwd = std::fs::read_link(format!("/proc/{}/cwd", e.task.pid))
            .ok()
            .map(|p| Cwd {
                path: p.to_string_lossy().into_owned(),
                source: CwdSource::ProcAtReceipt,
            });
    }
    Ok(event)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn busybox_reexecs_are_named_after_their_applet() {
        let img = |f, a, r| applet_image(f, a, r);
        assert_eq!(
            img("/proc/self/exe", Some("sh"), Some("/bin/busybox")).as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(
            img(
                "/proc/42/exe",
                Some("/usr/bin/nc"),
                Some("/usr/bin/busybox")
            )
            .as_deref(),
            Some("/usr/bin/nc")
        );
        assert_eq!(img("/bin/sh", Some("sh"), Some("/bin/busybox")), None);
        assert_eq!(img("/proc/self/exe", None, Some("/bin/busybox")), None);
        assert_eq!(img("/proc/self/exe", Some("sh"), None), None);
        assert_eq!(img("/proc/x/exe", Some("sh"), Some("/bin/busybox")), None);
        assert_eq!(
            img("/proc/self/exe", Some("dir/"), Some("/bin/busybox")),
            None
        );
    }

    /// A record as the kernel writes it.
    pub(crate) fn record(kind: u32, size: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[0..8].copy_from_slice(&7_000u64.to_ne_bytes());
        b[8..16].copy_from_slice(&4242u64.to_ne_bytes());
        b[16..20].copy_from_slice(&kind.to_ne_bytes());
        for (i, v) in [100u32, 101, 1, 1000, 1001].into_iter().enumerate() {
            let at = 20 + 4 * i;
            b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b[40..44].copy_from_slice(b"sh\0x");
        fill(&mut b);
        b
    }

    pub(crate) fn exec_record(filename: &str, args: &[u8], flags: u32) -> Vec<u8> {
        record(KIND_EXEC, EXEC_SIZE, |b| {
            b[56..64].copy_from_slice(&5u64.to_ne_bytes());
            b[64..68].copy_from_slice(&flags.to_ne_bytes());
            b[68..72].copy_from_slice(&(filename.len() as u32).to_ne_bytes());
            b[72..76].copy_from_slice(&(args.len() as u32).to_ne_bytes());
            b[80..80 + filename.len()].copy_from_slice(filename.as_bytes());
            b[336..336 + args.len()].copy_from_slice(args);
        })
    }

    fn task(pid: u32) -> TaskInfo {
        TaskInfo {
            boot_ns: 123_456_789,
            cgroup_id: 77,
            pid,
            tid: pid + 1,
            ppid: 1,
            uid: 33,
            gid: 33,
            comm: "nginx".into(),
        }
    }

    #[test]
    fn encode_is_the_inverse_of_decode() {
        let events = [
            Event::Exec(ProcessExec {
                task: task(10),
                start_boot_ns: 99,
                filename: "/bin/sh".into(),
                filename_truncated: false,
                argv: vec!["sh".into(), "-c".into(), "id; uname -a".into()],
                argv_truncated: false,
                argv_unreadable: false,
                cwd: None,
            }),
            Event::Exit(ProcessExit {
                task: task(11),
                status: 256,
            }),
            Event::Connect(Connect {
                task: task(12),
                daddr: "198.18.0.9".parse().unwrap(),
                dport: 4444,
            }),
            Event::Connect(Connect {
                task: task(13),
                daddr: "2001:db8::9".parse().unwrap(),
                dport: 443,
            }),
            Event::FileOpen(FileOpen {
                task: task(14),
                path: "/etc/cron.d/job".into(),
                open_flags: 0o101,
            }),
        ];
        for e in events {
            assert_eq!(decode(&encode(&e)).unwrap(), e);
        }
    }

    #[test]
    fn encode_cuts_and_flags_as_the_kernel_does() {
        let long = "x".repeat(300);
        let e = Event::Exec(ProcessExec {
            task: task(10),
            start_boot_ns: 1,
            filename: format!("/{long}"),
            filename_truncated: false,
            argv: (0..40).map(|i| format!("{i}{long}")).collect(),
            argv_truncated: false,
            argv_unreadable: false,
            cwd: None,
        });
        let Ok(Event::Exec(d)) = decode(&encode(&e)) else {
            panic!()
        };
        assert!(d.filename_truncated && d.argv_truncated);
        assert_eq!(d.filename.len(), PATH_LEN - 1);
        assert_eq!(
            d.argv.len(),
            2,
            "512 bytes hold one 302-byte argument and a cut one"
        );
        assert_eq!(d.task.comm, "nginx");
    }

    #[test]
    fn exec_records_decode() {
        let b = exec_record("/bin/true", b"true\0a\0b c\0", 0);
        let Ok(Event::Exec(e)) = decode(&b) else {
            panic!("{:?}", decode(&b))
        };
        assert_eq!(e.filename, "/bin/true");
        assert_eq!(e.argv, ["true", "a", "b c"]);
        assert!(!e.argv_truncated && !e.filename_truncated && !e.argv_unreadable);
        assert_eq!(
            (e.task.pid, e.task.tid, e.task.ppid, e.task.uid, e.task.gid),
            (100, 101, 1, 1000, 1001)
        );
        assert_eq!((e.task.comm.as_str(), e.task.cgroup_id), ("sh", 4242));
        assert_eq!((e.task.boot_ns, e.start_boot_ns), (7_000, 5));
    }

    #[test]
    fn argv_bounds() {
        // (args block, kernel flags) -> (argv, truncated)
        let cases: &[(&[u8], u32, &[&str], bool)] = &[
            (b"", 0, &[], false),
            (b"\0", 0, &[""], false),
            (b"a\0\0b\0", 0, &["a", "", "b"], false),
            (b"a\0b", FLAG_ARGS_TRUNCATED, &["a", "b"], true),
            (b"0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00a\x00b\x00c\x00d\x00e\x00f\0", 0,
             &["0","1","2","3","4","5","6","7","8","9","a","b","c","d","e","f"], false),
            (b"0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00a\x00b\x00c\x00d\x00e\x00f\x00g\0", 0,
             &["0","1","2","3","4","5","6","7","8","9","a","b","c","d","e","f"], true),
            (b"\xff\0", 0, &["\u{fffd}"], false),
        ];
        for (block, flags, argv, cut) in cases {
            let Ok(Event::Exec(e)) = decode(&exec_record("x", block, *flags)) else {
                panic!("{block:?}")
            };
            assert_eq!(&e.argv, argv, "{block:?}");
            assert_eq!(e.argv_truncated, *cut, "{block:?}");
        }
    }

    #[test]
    fn lengths_and_sizes_are_checked() {
        let mut b = exec_record("x", b"x\0", 0);
        b[68..72].copy_from_slice(&(PATH_LEN as u32).to_ne_bytes());
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Length {
                field: "filename_len",
                ..
            })
        ));
        let mut b = exec_record("x", b"x\0", 0);
        b[72..76].copy_from_slice(&(ARGS_LEN as u32 + 1).to_ne_bytes());
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Length {
                field: "args_len",
                ..
            })
        ));
        let b = exec_record("x", &[b'a'; ARGS_LEN], FLAG_ARGS_TRUNCATED);
        assert!(
            matches!(decode(&b), Ok(Event::Exec(e)) if e.argv_truncated && e.argv[0].len() == ARGS_LEN)
        );
        let b = exec_record("x", b"", 0);
        assert_eq!(
            decode(&b[..EXEC_SIZE - 1]),
            Err(DecodeError::Size {
                kind: "exec",
                len: EXEC_SIZE - 1,
                expected: EXEC_SIZE
            })
        );
        assert_eq!(decode(&b[..10]), Err(DecodeError::Short { len: 10 }));
        assert_eq!(
            decode(&record(9, 64, |_| {})),
            Err(DecodeError::UnknownKind { kind: 9 })
        );
        let b = record(KIND_FILE_OPEN, FILE_OPEN_SIZE, |b| {
            b[64..68].copy_from_slice(&300u32.to_ne_bytes())
        });
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Length {
                field: "path_len",
                ..
            })
        ));
    }

    #[test]
    fn connect_exit_and_open_records_decode() {
        let b = record(KIND_CONNECT, CONNECT_SIZE, |b| {
            b[56..72].copy_from_slice(
                &std::net::Ipv4Addr::new(198, 18, 0, 1)
                    .to_ipv6_mapped()
                    .octets(),
            );
            b[72..74].copy_from_slice(&AF_INET.to_ne_bytes());
            b[74..76].copy_from_slice(&8080u16.to_ne_bytes());
        });
        assert!(
            matches!(decode(&b), Ok(Event::Connect(c)) if c.daddr == "198.18.0.1".parse::<IpAddr>().unwrap() && c.dport == 8080)
        );
        let b = record(KIND_CONNECT, CONNECT_SIZE, |b| {
            b[56..72].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
            b[72..74].copy_from_slice(&AF_INET6.to_ne_bytes());
        });
        assert!(
            matches!(decode(&b), Ok(Event::Connect(c)) if c.daddr == IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        // AF_INET with an address that is not v4-mapped, and an unknown family.
        let b = record(KIND_CONNECT, CONNECT_SIZE, |b| {
            b[72..74].copy_from_slice(&AF_INET.to_ne_bytes())
        });
        assert_eq!(decode(&b), Err(DecodeError::Family { family: AF_INET }));
        let b = record(KIND_CONNECT, CONNECT_SIZE, |b| {
            b[72..74].copy_from_slice(&1u16.to_ne_bytes())
        });
        assert_eq!(decode(&b), Err(DecodeError::Family { family: 1 }));

        let b = record(KIND_EXIT, EXIT_SIZE, |b| {
            b[56..60].copy_from_slice(&(3u32 << 8).to_ne_bytes())
        });
        assert!(matches!(decode(&b), Ok(Event::Exit(e)) if e.status == 768 && e.task.pid == 100));

        let b = record(KIND_FILE_OPEN, FILE_OPEN_SIZE, |b| {
            b[56..60].copy_from_slice(&0o1101u32.to_ne_bytes());
            b[64..68].copy_from_slice(&10u32.to_ne_bytes());
            b[72..82].copy_from_slice(b"/etc/x\0yzw");
        });
        assert!(
            matches!(decode(&b), Ok(Event::FileOpen(f)) if f.path == "/etc/x" && f.open_flags == 0o1101)
        );
    }
}
