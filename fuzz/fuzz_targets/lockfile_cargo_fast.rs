//! Fuzz target: the streaming `Cargo.lock` reader (the fast path for lockfiles as Cargo writes
//! them). Whenever it accepts a text, it must read exactly what the TOML parser reads; anything
//! else it must leave to the TOML parser. This is the property test
//! `fast_path_agrees_with_the_toml_parser`, on arbitrary input instead of mutated fixtures.
//!
//! Run with `make fuzz FUZZ_TARGETS=lockfile_cargo_fast` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(
            ironpost_sbom_scanner::fuzz::cargo_fast_path_agrees(text),
            "the fast path and the TOML parser read different lockfiles"
        );
    }
});
