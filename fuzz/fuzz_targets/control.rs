//! Fuzz target: one control-protocol line, decoded as the daemon decodes a request (`Envelope`)
//! and as the CLI decodes an answer (`Response`). Must not panic; a decoded message encodes
//! again, and that encoding decodes to the same message (what one side writes, the other reads).
//!
//! Run with `make fuzz FUZZ_TARGETS=control` (see docs/fuzzing.md).

#![no_main]

use ironpost_proto::{Envelope, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        let line = serde_json::to_vec(&env).expect("a decoded request encodes");
        let again: Envelope = serde_json::from_slice(&line).expect("an encoded request decodes");
        assert_eq!(
            serde_json::to_vec(&again).unwrap(),
            line,
            "a request changed through a round trip"
        );
    }
    if let Ok(resp) = serde_json::from_slice::<Response>(data) {
        let line = serde_json::to_vec(&resp).expect("a decoded answer encodes");
        let again: Response = serde_json::from_slice(&line).expect("an encoded answer decodes");
        assert_eq!(
            serde_json::to_vec(&again).unwrap(),
            line,
            "an answer changed through a round trip"
        );
    }
});
