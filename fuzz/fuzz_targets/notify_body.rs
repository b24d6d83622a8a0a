//! Fuzz target: the body of `POST /api/v1/notify`, Alertmanager's webhook (version 4) as the
//! daemon's notifier reads it. Anyone who can reach the HTTP listener can post one: it must parse
//! or be refused, never panic.
//!
//! Run with `make fuzz FUZZ_TARGETS=notify_body` (see docs/fuzzing.md).

#![no_main]

use ironpost_anomaly_ids::alertmanager::parse_webhook;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hook) = parse_webhook(data) {
        for a in &hook.alerts {
            let _ = (
                a.labels.get("alertname"),
                a.annotations.get("summary"),
                a.status.len(),
            );
        }
    }
});
