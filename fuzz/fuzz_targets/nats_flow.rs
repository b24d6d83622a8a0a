//! Fuzz target: `telemetry.flow` messages from NATS (anyone who can publish on the subject can
//! send them). The input is one message per line; each goes through `parse_flow` into the window
//! feature extractor, which ticks at each event's time. Must not panic; the connection rate is finite,
//! ratios lie in [0, 1], and the formula score in [0, 1].
//!
//! Run with `make fuzz FUZZ_TARGETS=nats_flow` (see docs/fuzzing.md).

#![no_main]

use ironpost_anomaly_ids::nats::parse_flow;
use ironpost_anomaly_ids::{ExtractorConfig, WindowExtractor, formula};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut ex = WindowExtractor::new(ExtractorConfig {
        max_sources: 8,
        max_events_per_source: 16,
        ..ExtractorConfig::default()
    });
    for msg in data.split(|&b| b == b'\n') {
        let Some(ev) = parse_flow(msg) else { continue };
        let now = ev.ts;
        ex.push(ev);
        assert!(ex.tracked_sources() <= 8);
        for f in ex.tick(now) {
            // A missing ratio is NaN in the model input on purpose (XGBoost's "missing").
            assert!(f.conn_rate.is_finite() && f.conn_rate >= 0.0, "{f:?}");
            for r in [f.syn_only_ratio, f.rst_ratio].into_iter().flatten() {
                assert!((0.0..=1.0).contains(&r), "{f:?}");
            }
            let s = formula(&f);
            assert!((0.0..=1.0).contains(&s), "{f:?}");
        }
    }
});
