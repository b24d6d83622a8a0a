//! Fuzz target: native YAML rule files. The input is a rule file, then a NUL byte, then a log
//! line. The file is loaded (each rule accepted or rejected on its own), the accepted rules are
//! compiled, and the line is matched: loading and matching must not panic, and the prefiltered
//! match must equal the exhaustive one (the prefilter may only skip rules that cannot match).
//!
//! `rules_sigma` is the same harness with a Sigma seed corpus.
//!
//! Run with `make fuzz FUZZ_TARGETS=rules_yaml` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "rules_common.rs"]
mod rules_common;

fuzz_target!(|data: &[u8]| rules_common::check(data));
