//! Fuzz target: an apk installed database (`lib/apk/db/installed`) as the SBOM scanner reads it
//! from a scanned root filesystem or image: packages or an error naming the line, never a panic,
//! a hang or an unbounded allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=os_apk_installed` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ironpost_sbom_scanner::fuzz::apk_installed(text);
    }
});
