//! Fuzz target: auditd's log. The input's lines go through the record parser and the joiner
//! (small bounds, so they are reached): no panic; a record keeps at most `MAX_FIELDS` fields of
//! at most `MAX_VALUE` bytes; the joiner never holds more than its bound of open events nor an
//! event more than its bound of records; every event is emitted once (counted = emitted), and
//! every field of every view reads.
//!
//! Run with `make fuzz FUZZ_TARGETS=log_auditd` (see docs/fuzzing.md).

#![no_main]

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::auditd::{MAX_FIELDS, MAX_VALUE, parse_record};
use ironpost_log_pipeline::parse::auditd_join::{JoinLimits, Joiner};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 14] = [
    "type",
    "SYSCALL",
    "CommandLine",
    "Image",
    "CurrentDirectory",
    "TargetFilename",
    "ParentProcessId",
    "User",
    "a0",
    "a1",
    "name",
    "exe",
    "key",
    "message",
];

fuzz_target!(|data: &[u8]| {
    let limits = JoinLimits {
        max_pending: 4,
        max_records: 8,
        max_args: 16,
        max_age_micros: 2_000_000,
    };
    let mut j = Joiner::new(limits);
    let mut out = Vec::new();
    for line in data.split(|&c| c == b'\n') {
        if let Ok(r) = parse_record(line) {
            assert!(r.fields.len() <= MAX_FIELDS);
            assert!(r.fields.iter().all(|(_, v)| v.len() <= MAX_VALUE));
        }
        let _ = j.push_line(line, &mut out);
        assert!(j.pending() <= limits.max_pending);
    }
    j.flush_all(&mut out);
    assert_eq!(j.pending(), 0);
    assert_eq!(out.len() as u64, j.stats().events);
    for e in &out {
        assert!(e.records.len() <= limits.max_records);
        for v in e.views() {
            for n in NAMES {
                if let Some(f) = v.field(n) {
                    let _ = f.to_text();
                }
            }
        }
    }
});
