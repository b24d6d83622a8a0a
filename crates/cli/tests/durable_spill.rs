//! `storage.when_full = "spill"` on the real daemon: with SQLite on a full filesystem the writer
//! stalls, the alerts its queue cannot take are spilled (under `data_dir/spill/`, another
//! filesystem), the responder still blocks a verified attacker (it never waits on the store), and
//! once the disk has room again every alert is stored exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::smallfs::SmallFs;
use common::{
    ATTACKER_IP, Lab, blocks, lab_get, metric_sum, run, start_in_victim, submit_alert, text,
    wait_for,
};

const N: usize = 300;

#[test]
fn with_sqlite_stalled_the_overflow_spills_the_responder_blocks_and_all_is_stored_once() {
    let lab = Lab::new("dspill");
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallFs::mount(&dir.path().join("db"), "4m");
    let db = fs.0.join("ironpost.db").display().to_string();
    let d = start_in_victim(
        &lab,
        dir,
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_STORAGE_SQLITE_PATH", &db),
            ("IRONPOST_LOG_PIPELINE_STORAGE_QUEUE_CAPACITY", "16"),
            ("IRONPOST_LOG_PIPELINE_STORAGE_WRITE_BATCH_SIZE", "8"),
            ("IRONPOST_LOG_PIPELINE_STORAGE_WHEN_FULL", "spill"),
        ],
    );
    fs.fill();
    let padding = "x".repeat(2 * 1024);
    let mut c = d.cli();
    c.args(["alerts", "submit", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..N {
            let a = serde_json::json!({
                "severity": "low", "source": "external", "rule_id": "filler",
                "title": format!("filler {i}"), "description": padding,
                "entities": {"src_ip": format!("198.18.9.{}", 1 + i % 200)},
                "evidence": "forgeable",
            });
            writeln!(stdin, "{a}").unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    let m = wait_for(60, "SQLite failing and the overflow spilled", || {
        let (_, m) = lab_get(&lab, &d, "/metrics");
        (metric_sum(&m, "ironpost_store_write_errors_total") > 0
            && metric_sum(&m, "ironpost_store_spilled_total") > 0)
            .then_some(m)
    });
    assert_eq!(
        metric_sum(&m, "ironpost_store_queue_dropped_total"),
        0,
        "{m}"
    );
    assert_eq!(
        metric_sum(&m, "ironpost_store_spill_dropped_total"),
        0,
        "{m}"
    );

    // The store is stalled; a verified alert still blocks the attacker.
    let alert = serde_json::json!({
        "severity": "high", "source": "external", "rule_id": "ssh_brute_force",
        "title": "SSH brute force", "entities": {"src_ip": ATTACKER_IP},
        "evidence": "verified",
    });
    submit_alert(&d, &alert);
    wait_for(30, "the attacker blocked", || {
        blocks(&d)
            .iter()
            .any(|b| b["cidr"] == ATTACKER_IP)
            .then_some(())
    });
    assert!(!lab.ping(), "the attacker's packets are dropped");

    // Room again: the queue drains, then the spill is replayed.
    fs.empty();
    let m = wait_for(120, "the spill replayed", || {
        let (_, m) = lab_get(&lab, &d, "/metrics");
        (metric_sum(&m, "ironpost_store_spill_records") == 0
            && metric_sum(&m, "ironpost_store_spill_replayed_total") > 0)
            .then_some(m)
    });
    assert_eq!(
        metric_sum(&m, "ironpost_store_spill_replayed_total"),
        metric_sum(&m, "ironpost_store_spilled_total")
    );
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "100000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut titles: Vec<&str> = all
        .iter()
        .filter(|a| a["rule_id"] == "filler")
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert_eq!(titles.len(), N, "every alert stored");
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), N, "each once");
    drop(d);
    drop(fs);
}
