//! Fuzz target: an executable as the SBOM scanner reads it from an image or a scanned directory,
//! for Go's build info: the input as a whole file, and inside a minimal ELF whose segment maps
//! it (so header, varint strings and pointers are reached). Packages or an error naming the
//! file, never a panic, a hang or an unbounded allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=binary_go_buildinfo` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ironpost_sbom_scanner::fuzz::go_buildinfo(data);
});
