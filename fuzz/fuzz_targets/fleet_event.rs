//! Fuzz target: an alert or action the fleet's central reads from the events stream (any agent,
//! or anyone allowed to publish on `ironpost.>`, chooses the subject and the body). The first
//! line is the subject, the rest the body. Must not panic; an accepted event names a node of at
//! most 64 token characters, is of the kind its subject says, and its JSON is accepted again the
//! same way.
//!
//! Run with `make fuzz FUZZ_TARGETS=fleet_event` (see docs/fuzzing.md).

#![no_main]

use ironpost_fleet::events::{FleetEvent, MAX_EVENT_BYTES, parse, subject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (subj, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(subj) = std::str::from_utf8(subj) else {
        return;
    };
    if let Ok((node, event)) = parse(subj, body) {
        assert!(!node.is_empty() && node.len() <= 64);
        assert!(body.len() <= MAX_EVENT_BYTES);
        assert_eq!(subject(event.kind(), &node), subj);
        let json = match &event {
            FleetEvent::Alert(a) => serde_json::to_vec(a),
            FleetEvent::Action(a) => serde_json::to_vec(a),
            FleetEvent::Heartbeat(r) => serde_json::to_vec(r),
        }
        .unwrap();
        if json.len() <= MAX_EVENT_BYTES {
            let (n2, e2) = parse(subj, &json).unwrap();
            assert_eq!((n2, e2.id(), e2.kind()), (node, event.id(), event.kind()));
        }
    }
});
