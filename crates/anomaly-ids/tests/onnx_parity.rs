//! The committed models scored by tract must match ONNX Runtime's scores, which
//! `training/export_fixture.py` wrote to `tests/fixtures/scores.json`; the formula fallback must match the seed's.

use std::path::PathBuf;

use ironpost_anomaly_ids::{
    FEATURE_NAMES, Features, FlowEvent, OnnxScorer, Scorer, TcpFlags, WindowExtractor,
};
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scores.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture JSON")
}

fn rows(fixture: &Value) -> Vec<[f32; 5]> {
    let names: Vec<&str> = fixture["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    assert_eq!(names, FEATURE_NAMES, "fixture feature order");
    fixture["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let r = r.as_array().expect("row");
            let mut out = [0f32; 5];
            for (o, v) in out.iter_mut().zip(r) {
                // null = missing = NaN; values were written as exact f32s.
                *o = v.as_f64().map_or(f32::NAN, |x| x as f32);
            }
            out
        })
        .collect()
}

fn model(name: &str) -> OnnxScorer {
    let path = repo_root().join("models").join(format!("{name}.onnx"));
    OnnxScorer::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn check_model(name: &str) {
    let fx = fixture();
    let rows = rows(&fx);
    let want: Vec<f32> = fx["scores"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no scores for {name}"))
        .iter()
        .map(|v| v.as_f64().expect("score") as f32)
        .collect();
    assert_eq!(rows.len(), want.len());
    assert!(rows.len() >= 50, "fixture has {} rows", rows.len());
    let scorer = model(name);
    let mut worst = 0f32;
    for (i, (row, want)) in rows.iter().zip(&want).enumerate() {
        let got = scorer
            .score_input(row)
            .unwrap_or_else(|e| panic!("row {i}: {e}"));
        let diff = (got - want).abs();
        worst = worst.max(diff);
        assert!(
            diff <= TOLERANCE,
            "{name} row {i} {row:?}: tract {got}, onnxruntime {want}"
        );
    }
    eprintln!(
        "{name}: {} rows, max |tract - onnxruntime| = {worst:e}",
        rows.len()
    );
}

#[test]
fn probe_model_matches_onnxruntime() {
    check_model("probe");
}

#[test]
fn dos_model_matches_onnxruntime() {
    check_model("dos");
}

fn features_of(row: &[f32; 5]) -> Features {
    let opt = |v: f32| (!v.is_nan()).then_some(v);
    Features {
        src: "198.18.0.1".parse().expect("addr"),
        conn_rate: row[0],
        uniq_dports: row[1] as u32,
        uniq_daddrs: row[2] as u32,
        syn_only_ratio: opt(row[3]),
        rst_ratio: opt(row[4]),
    }
}

#[test]
fn features_reach_the_model_in_fixture_order() {
    // Integer-valued rows survive the Features round trip; their scores must still match.
    let fx = fixture();
    let scorer = Scorer::Onnx(model("probe"));
    let want = fx["scores"]["probe"].as_array().expect("scores");
    let mut checked = 0;
    for (row, want) in rows(&fx).iter().zip(want) {
        if row[1].fract() != 0.0 || row[2].fract() != 0.0 || row[1] > 1e6 || row[2] > 1e6 {
            continue;
        }
        let got = scorer.score(&features_of(row));
        assert!(
            (got - want.as_f64().expect("score") as f32).abs() <= TOLERANCE,
            "{row:?}"
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} rows checked");
}

#[test]
fn formula_fallback_is_the_seed_formula() {
    for row in rows(&fixture()) {
        let f = features_of(&row);
        let seed = (0.5 * f64::from(f.conn_rate) + 0.05 * f64::from(f.uniq_dports)).min(1.0);
        let got = Scorer::Formula.score(&f);
        assert!(
            (f64::from(got) - seed).abs() < 1e-6,
            "{row:?}: {got} != {seed}"
        );
    }
}

fn threshold(name: &str, regime: &str) -> f32 {
    let path = repo_root().join("models/metrics.json");
    let text = std::fs::read_to_string(&path).expect("models/metrics.json");
    let v: Value = serde_json::from_str(&text).expect("metrics JSON");
    v["models"][name][regime]["threshold_at_fpr_1pct"]
        .as_f64()
        .expect("threshold") as f32
}

fn event(ts: f64, dst: &str, dport: u16, flags: Option<TcpFlags>) -> FlowEvent {
    FlowEvent {
        ts,
        pid: 0,
        saddr: "198.18.5.2".parse().expect("addr"),
        daddr: dst.parse().expect("addr"),
        dport,
        proto: None,
        flags,
    }
}

#[test]
fn port_scan_through_the_extractor_crosses_the_probe_threshold() {
    let scorer = Scorer::Onnx(model("probe"));
    let t = threshold("probe", "without_flags");

    // The seed simulator's scan: one source, many ports on one host, no flags.
    let mut x = WindowExtractor::default();
    for i in 0..40u16 {
        x.push(event(
            100.0 + f64::from(i) * 0.04,
            "198.18.5.1",
            1000 + i,
            None,
        ));
    }
    let scan = x.tick(101.6);
    assert_eq!(scan.len(), 1);
    assert!(
        scorer.score(&scan[0]) >= t,
        "scan {:?} scored below {t}",
        scan[0]
    );

    // A client opening two HTTPS connections that completed.
    let done = Some(TcpFlags {
        syn: true,
        ack: true,
        rst: false,
    });
    let mut x = WindowExtractor::default();
    x.push(event(100.0, "198.18.5.1", 443, done));
    x.push(event(100.5, "198.18.5.1", 443, done));
    let benign = x.tick(101.0);
    assert!(
        scorer.score(&benign[0]) < t,
        "benign {:?} scored at or above {t}",
        benign[0]
    );
}
