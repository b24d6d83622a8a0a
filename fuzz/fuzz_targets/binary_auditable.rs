//! Fuzz target: `cargo auditable`'s `.dep-v0` section (zlib-compressed JSON) and its JSON, also
//! inside a minimal ELF: crates or an error, never a panic, a hang or an unbounded allocation
//! (the inflater stops at 8 MiB).
//!
//! Run with `make fuzz FUZZ_TARGETS=binary_auditable` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ironpost_sbom_scanner::fuzz::auditable(data);
});
