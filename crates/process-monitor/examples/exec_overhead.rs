//! The spawner of bench/exec-overhead.sh: runs `/bin/true` COUNT times, one after the other
//! (`std::process::Command`, which uses posix_spawn), and prints the time per spawn. With
//! `probes`, the process monitor is loaded and attached first and a thread drains and decodes
//! its ring buffer meanwhile, woken by the ring buffer at each event (poll); with
//! `probes-batch` the thread drains every 100 ms instead. The counts of events read and dropped
//! are printed too.
//!
//! Usage: `exec_overhead bare|probes|probes-batch COUNT` (root for the probes).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ironpost_process_monitor::{LoadOptions, ProcessMonitor};

fn spawn_loop(count: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..count {
        let st = Command::new("/bin/true")
            .status()
            .context("spawn /bin/true")?;
        if !st.success() {
            bail!("/bin/true failed: {st}");
        }
    }
    Ok(start.elapsed())
}

/// Blocks until the ring buffer has data or `timeout_ms` passed (the kernel wakes the reader
/// at each submitted record).
#[allow(unsafe_code)]
fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd, exclusively borrowed for the call; the fd outlives it.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, count) = match args.as_slice() {
        [_, mode, count] => (mode.as_str(), count.parse::<u64>().context("COUNT")?),
        _ => bail!("usage: exec_overhead bare|probes|probes-batch COUNT"),
    };
    // Warm the page cache and the allocator before timing.
    spawn_loop(200)?;
    let (elapsed, extra) = match mode {
        "bare" => (spawn_loop(count)?, String::new()),
        "probes" | "probes-batch" => {
            let batch = mode == "probes-batch";
            let mut m = ProcessMonitor::load(&LoadOptions::default())
                .map_err(|e| anyhow::anyhow!(ironpost_core::error_chain(&e)))?;
            m.attach()
                .map_err(|e| anyhow::anyhow!(ironpost_core::error_chain(&e)))?;
            let mut reader = m.take_event_reader().context("reader")?;
            let stop = Arc::new(AtomicBool::new(false));
            let read = Arc::new(AtomicU64::new(0));
            let drain = {
                let (stop, read) = (stop.clone(), read.clone());
                std::thread::spawn(move || {
                    loop {
                        let mut n = 0;
                        while reader.next_event().is_some() {
                            n += 1;
                        }
                        read.fetch_add(n, Ordering::Relaxed);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if batch {
                            // A consumer that drains every 100 ms: no wakeup per event.
                            std::thread::sleep(Duration::from_millis(100));
                        } else if n == 0 {
                            wait_readable(reader.as_fd(), 100);
                        }
                    }
                })
            };
            let elapsed = spawn_loop(count)?;
            std::thread::sleep(Duration::from_millis(50));
            stop.store(true, Ordering::Relaxed);
            let _ = drain.join();
            let c = m
                .counters()
                .map_err(|e| anyhow::anyhow!(ironpost_core::error_chain(&e)))?;
            (
                elapsed,
                format!(
                    " events_read={} dropped={}",
                    read.load(Ordering::Relaxed),
                    c.dropped()
                ),
            )
        }
        other => bail!("unknown mode {other:?}: bare, probes or probes-batch"),
    };
    let us = elapsed.as_secs_f64() * 1e6 / count as f64;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "mode={mode} spawns={count} seconds={:.3} us_per_spawn={us:.2}{extra}",
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exec_overhead: {e:#}");
            ExitCode::FAILURE
        }
    }
}
