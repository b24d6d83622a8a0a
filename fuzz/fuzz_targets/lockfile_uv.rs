//! Fuzz target: `uv.lock` as the SBOM scanner parses it (size and package limits, de-duplication
//! included). Lockfiles come from scanned directories and container images: arbitrary text must
//! give packages or an error, never a panic, a hang or an unbounded allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=lockfile_uv` (see docs/fuzzing.md).

#![no_main]

use ironpost_sbom_scanner::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ironpost_sbom_scanner::fuzz::lockfile(Format::UvLock, text);
    }
});
