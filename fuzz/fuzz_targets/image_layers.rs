//! Fuzz target: image layers (tar streams, split at `\0LAYER\0` markers) applied in order into
//! the SBOM scanner's in-memory image tree (whiteouts, opaque directories, links, hard links,
//! GNU long names, PAX headers) and the tree then walked as a scan walks it: an error or an
//! inventory, never a panic, a hang or an unbounded allocation.
//!
//! Run with `make fuzz FUZZ_TARGETS=image_layers` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ironpost_sbom_scanner::image::fuzz_layers(data);
});
