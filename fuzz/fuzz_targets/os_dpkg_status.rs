//! Fuzz target: a dpkg status database (`var/lib/dpkg/status`, or one distroless `status.d/`
//! file when the first byte is odd) as the SBOM scanner reads it from a scanned root filesystem
//! or image: packages or an error naming the line, never a panic, a hang or an unbounded
//! allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=os_dpkg_status` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = ironpost_sbom_scanner::fuzz::dpkg_status(text, first & 1 == 1);
    }
});
