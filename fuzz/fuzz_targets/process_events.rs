//! Fuzz target: the process monitor's ring-buffer records (written by our BPF programs, but
//! their sizes and lengths are still checked as untrusted). The input is split into records at
//! each 0xff 0xfe pair; each goes through `decode`: no panic; a decoded exec keeps at most
//! `MAX_ARGS` arguments of at most `ARGS_LEN` bytes together and a filename under `PATH_LEN`
//! bytes; decoded events drive a small process table (capacity 8), which stays within its
//! capacity and whose parent chains stay within `MAX_ANCESTRY_DEPTH`.
//!
//! Run with `make fuzz FUZZ_TARGETS=process_events` (see docs/fuzzing.md).

#![no_main]

use ironpost_process_monitor::{
    ARGS_LEN, Event, MAX_ANCESTRY_DEPTH, MAX_ARGS, PATH_LEN, ProcessTable, decode,
};
use libfuzzer_sys::fuzz_target;

const TABLE: usize = 8;

fn records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] == 0xff && data[i + 1] == 0xfe {
            out.push(&data[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push(&data[start..]);
    out
}

fuzz_target!(|data: &[u8]| {
    let mut table = ProcessTable::new(TABLE);
    for rec in records(data) {
        let Ok(event) = decode(rec) else { continue };
        if let Event::Exec(e) = &event {
            assert!(e.argv.len() <= MAX_ARGS);
            // Lossy decoding may turn one invalid byte into three: bound by the source bytes.
            let raw: usize = e.argv.iter().map(|a| a.len()).sum();
            assert!(raw <= 3 * ARGS_LEN);
            assert!(e.filename.len() < 3 * PATH_LEN);
        }
        table.apply(&event);
        assert!(table.len() <= TABLE);
        let chain = table.ancestors(event.task().pid);
        assert!(chain.len() <= MAX_ANCESTRY_DEPTH);
    }
});
