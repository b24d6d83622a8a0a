//! Shared by the kernel tests: load + attach a monitor, collect events until a predicate holds
//! (bounded by a deadline so a missing event fails the test instead of hanging it).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironpost_process_monitor::{Event, EventReader, LoadOptions, ProcessMonitor};

/// Loads and attaches the programs with `opts`.
pub fn attached(opts: LoadOptions) -> (ProcessMonitor, EventReader) {
    let mut m = ProcessMonitor::load(&opts).unwrap_or_else(|e| panic!("load: {}", chain(&e)));
    m.attach()
        .unwrap_or_else(|e| panic!("attach: {}", chain(&e)));
    let r = m.take_event_reader().expect("reader");
    (m, r)
}

pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Reads events into `seen` until `done(seen)` or 10 s passed; returns whether `done` held.
pub fn collect_until(
    r: &mut EventReader,
    seen: &mut Vec<Event>,
    mut done: impl FnMut(&[Event]) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(e) = r.next_event() {
            seen.push(e);
        }
        if done(seen) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn watched(dirs: &[&std::path::Path]) -> LoadOptions {
    LoadOptions {
        watched_paths: dirs.iter().map(PathBuf::from).collect(),
        ..LoadOptions::default()
    }
}
