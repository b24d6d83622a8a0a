//! Fuzz target: one rpm header blob as `rpmdb.sqlite` stores it (index count, data length, index
//! entries, data), read as a package of a Rocky Linux root: a package or a skipped row, never a
//! panic, a hang or an unbounded allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=os_rpm_header` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ironpost_sbom_scanner::fuzz::rpm_header(data);
});
