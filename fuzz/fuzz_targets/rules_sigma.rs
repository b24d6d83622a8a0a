//! Fuzz target: Sigma rules (detection selections, modifiers, conditions). The input is a rule
//! file, then a NUL byte, then a log line; the harness is `rules_yaml`'s (load, compile, match,
//! prefilter against exhaustive), with a corpus of Sigma rules so that mutations start from the
//! Sigma translation rather than the native format.
//!
//! Run with `make fuzz FUZZ_TARGETS=rules_sigma` (see docs/fuzzing.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "rules_common.rs"]
mod rules_common;

fuzz_target!(|data: &[u8]| rules_common::check(data));
