//! What the shipped probe model and the formula make of the simulator's traffic (`ironpost-cli simulate`):
//! a scan must reach the default threshold within its first half second, benign traffic must stay below it.

#![allow(clippy::unwrap_used)]

use ironpost_anomaly_ids::{DEFAULT_THRESHOLD, Features, Scorer};

fn features(conn_rate: f32, uniq_dports: u32) -> Features {
    Features {
        src: "198.18.0.5".parse().unwrap(),
        conn_rate,
        uniq_dports,
        uniq_daddrs: 1,
        syn_only_ratio: None,
        rst_ratio: None,
    }
}

fn model() -> Scorer {
    Scorer::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/probe.onnx"
    ))
    .unwrap()
}

#[test]
fn scan_scores_at_or_above_the_threshold() {
    // 100 attempts/s, a new port each: after 0.2 s, 0.5 s, 1 s, 2 s of it.
    for (n, scorer) in [
        (20u32, model()),
        (50, model()),
        (100, model()),
        (200, model()),
    ]
    .into_iter()
    .chain([(20, Scorer::Formula), (200, Scorer::Formula)])
    {
        let s = scorer.score(&features(n as f32 / 2.0, n));
        println!("scan {n} attempts: {s}");
        assert!(
            s >= DEFAULT_THRESHOLD,
            "{n} attempts scored {s} ({scorer:?})"
        );
    }
}

#[test]
fn benign_scores_below_the_threshold() {
    // 0.5 attempts/s (the simulator's default) and 1/s over ports 443 and 80.
    for (n, ports) in [(1u32, 1u32), (2, 2)] {
        for scorer in [model(), Scorer::Formula] {
            let s = scorer.score(&features(n as f32 / 2.0, ports));
            println!("benign {n} attempts / {ports} ports: {s}");
            assert!(s < DEFAULT_THRESHOLD, "{n}/{ports} scored {s} ({scorer:?})");
        }
    }
}
