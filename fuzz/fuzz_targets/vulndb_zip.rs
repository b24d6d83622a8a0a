//! Fuzz target: an OSV zip import (an osv.dev `all.zip`), read in memory with the default import
//! limits. A hostile archive (lying sizes, bad compression, huge entry counts) must give entry
//! errors or an import error, never a panic or an allocation beyond the limits.
//!
//! Run with `make fuzz FUZZ_TARGETS=vulndb_zip` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ironpost_vulndb::fuzz::import_zip(data);
});
