//! Fuzz target: one RustSec advisory in its native form (TOML front matter in a Markdown file,
//! converted to OSV ranges). Must give an advisory or an error, never panic; the converted
//! ranges can be evaluated.
//!
//! Run with `make fuzz FUZZ_TARGETS=vulndb_rustsec` (see docs/fuzzing.md).

#![no_main]

use ironpost_vulndb::osv::affected_includes;
use ironpost_vulndb::rustsec::parse_native;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(adv) = parse_native(text) else {
        return;
    };
    let _ = adv.kind();
    let _ = adv.severity_level();
    for a in &adv.affected {
        for v in ["0.0.0", "0.1.0", "1.2.3", "1.2.3-alpha.1"] {
            let _ = affected_includes(a, v);
        }
    }
});
