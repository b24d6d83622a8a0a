//! The shipped models on the held-out lab capture (`testdata/lab-flows/lab-b.csv`, real tools through the XDP
//! SYN telemetry, never trained on), scored by tract at the thresholds in `models/metrics.json`: the scans and
//! the SYN flood cross them in most windows, benign clients never do, and the alert rates are the ones
//! `training/train.py` reported with ONNX Runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ironpost_anomaly_ids::OnnxScorer;
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (tool, model input) of every row of a lab capture.
fn lab_rows(name: &str) -> Vec<(String, [f32; 5])> {
    let path = repo_root().join("testdata/lab-flows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("run,label,t,src,conn_rate,uniq_dports,uniq_daddrs,syn_only_ratio,rst_ratio")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 9, "{l}");
            let mut x = [f32::NAN; 5];
            for (o, v) in x.iter_mut().zip(&f[4..]) {
                if !v.is_empty() {
                    *o = v.parse().expect("feature value");
                }
            }
            (f[1].to_owned(), x)
        })
        .collect()
}

fn metrics() -> Value {
    let path = repo_root().join("models/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("models/metrics.json"))
        .expect("JSON")
}

/// Alert rate per tool of `model` on lab run b at its "without flags" threshold.
fn alert_rates(model: &str) -> BTreeMap<String, f64> {
    let m = metrics();
    let t = m["models"][model]["without_flags"]["threshold_at_fpr_1pct"]
        .as_f64()
        .expect("threshold") as f32;
    let path = repo_root().join("models").join(format!("{model}.onnx"));
    let onnx = OnnxScorer::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (tool, x) in lab_rows("lab-b.csv") {
        let s = onnx.score_input(&x).expect("score");
        let c = counts.entry(tool).or_default();
        c.0 += 1;
        c.1 += u32::from(s >= t);
    }
    counts
        .into_iter()
        .map(|(k, (n, a))| (k, f64::from(a) / f64::from(n)))
        .collect()
}

fn check(model: &str, attacks: &[&str]) {
    let rates = alert_rates(model);
    let reported = &metrics()["models"][model]["without_flags"]["lab_heldout"]["per_tool"];
    for (tool, rate) in &rates {
        let want = reported[tool]["alert_rate"]
            .as_f64()
            .expect("reported rate");
        assert!(
            (rate - want).abs() < 1e-6,
            "{model} {tool}: tract {rate}, train.py {want}"
        );
        if tool.starts_with("benign_") {
            assert_eq!(*rate, 0.0, "{model} alerts on benign {tool}");
        }
    }
    for tool in attacks {
        assert!(rates[*tool] >= 0.9, "{model} {tool}: {}", rates[*tool]);
    }
}

#[test]
fn probe_model_catches_the_lab_scanners_and_not_the_benign_clients() {
    check("probe", &["nmap_sS", "nmap_sT", "masscan"]);
}

#[test]
fn dos_model_catches_the_lab_syn_flood_and_not_the_benign_clients() {
    check("dos", &["hping3_syn_flood"]);
}
