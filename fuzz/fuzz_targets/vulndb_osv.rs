//! Fuzz target: one OSV JSON record (a file of an OSV directory or zip import). Must give an
//! advisory or an error, never panic; every affected range of an accepted record can be
//! evaluated against versions of each scheme.
//!
//! Run with `make fuzz FUZZ_TARGETS=vulndb_osv` (see docs/fuzzing.md).

#![no_main]

use ironpost_vulndb::osv::{affected_includes, parse_record};
use libfuzzer_sys::fuzz_target;

const VERSIONS: [&str; 6] = [
    "0.0.0",
    "1.2.3",
    "1.2.3-alpha.1",
    "v0.4.0",
    "1.0.post1",
    "2!1.0rc1",
];

fuzz_target!(|data: &[u8]| {
    let Ok((adv, _issues)) = parse_record(data) else {
        return;
    };
    let _ = adv.kind();
    let _ = adv.severity_level();
    for a in &adv.affected {
        for v in VERSIONS {
            let _ = affected_includes(a, v);
        }
        for r in &a.ranges {
            for e in &r.events {
                let _ = affected_includes(a, e.version());
            }
        }
    }
});
