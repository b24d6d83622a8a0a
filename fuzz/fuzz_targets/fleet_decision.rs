//! Fuzz target: a fleet decision read from the JetStream bucket (any node, or anyone allowed to
//! write the bucket, chooses the key and the value). The first line is the key, the rest the
//! value. Must not panic; an accepted decision names the CIDR of its key, has an origin within
//! bounds and a reason of at most `MAX_REASON_CHARS`, and serializes back to a value accepted
//! the same way.
//!
//! Run with `make fuzz FUZZ_TARGETS=fleet_decision` (see docs/fuzzing.md).

#![no_main]

use ironpost_fleet::decision::{Decision, MAX_REASON_CHARS, cidr_of, key_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (key, value) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };
    if let Some(c) = cidr_of(key) {
        assert_eq!(cidr_of(&key_of(c)), Some(c));
    }
    if let Ok(d) = Decision::parse(key, value) {
        assert_eq!(key_of(d.cidr), key);
        assert!(!d.origin.is_empty() && d.origin.len() <= 64);
        assert!(d.reason.chars().count() <= MAX_REASON_CHARS);
        assert_eq!(Decision::parse(key, &d.to_json()), Ok(d));
    }
});
