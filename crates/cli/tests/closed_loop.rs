//! The main demo's scenario end to end (`scripts/demo.sh`, which `make demo` runs): a real sshd
//! in a protected container's network namespace, hydra and nmap from an attacker namespace, the
//! daemon with XDP, the log pipeline, the responder and the container guard. Asserts on the final
//! state the script dumps as JSON: alerts, blocks linked to them, drop counters, ActionEvents and
//! the paused container.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{bin, text};
use serde_json::Value;

fn json(dir: &Path, name: &str) -> Value {
    let raw = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}: {raw}"))
}

#[test]
fn brute_force_and_port_scan_are_blocked_in_xdp_and_the_targeted_container_is_paused() {
    let out = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let bin_dir = bin("ironpost-daemon").parent().unwrap().to_owned();
    let o = Command::new("bash")
        .arg(format!("{root}/scripts/demo.sh"))
        .env("DEMO_BIN_DIR", &bin_dir)
        .env("DEMO_JSON_OUT", out.path())
        .output()
        .unwrap();
    let log = text(&o.stdout) + &text(&o.stderr);
    assert!(o.status.success(), "demo failed:\n{log}");

    let alerts = json(out.path(), "alerts.json");
    let alerts = alerts.as_array().unwrap();
    let find = |rule: &str| {
        alerts
            .iter()
            .find(|a| a["rule_id"] == rule)
            .unwrap_or_else(|| panic!("no {rule} alert:\n{log}"))
    };
    let brute = find("ssh_brute_force");
    let scan = find("port_scan");
    assert_eq!(brute["entities"]["src_ip"], "198.18.66.200");
    assert_eq!(scan["entities"]["src_ip"], "198.18.66.201");
    assert_eq!(scan["entities"]["dst_ip"], "198.18.66.10");

    let blocks = json(out.path(), "blocks.json");
    let block_of = |ip: &str| {
        blocks
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["cidr"] == ip)
            .unwrap_or_else(|| panic!("{ip} not blocked:\n{log}"))
            .clone()
    };
    assert_eq!(block_of("198.18.66.200")["alert_id"], brute["id"]);
    assert_eq!(block_of("198.18.66.201")["alert_id"], scan["id"]);
    assert!(block_of("198.18.66.201")["hits"].as_u64().unwrap() > 0);

    let drops = std::fs::read_to_string(out.path().join("drops_around_retry")).unwrap();
    let (before, after) = drops.trim().split_once(' ').unwrap();
    assert!(
        after.parse::<u64>().unwrap() > before.parse::<u64>().unwrap(),
        "the blocked attacker's retry is dropped: {drops}"
    );
    let stats = json(out.path(), "stats.json");
    assert!(stats["traffic"]["tcp"]["drops"].as_u64().unwrap() > 0);

    let actions = json(out.path(), "actions.json");
    let actions = actions.as_array().unwrap();
    let action = |kind: &str, alert: &Value| {
        actions
            .iter()
            .find(|a| a["action_type"] == kind && a["alert_id"] == alert["id"])
            .unwrap_or_else(|| panic!("no {kind} action for {}:\n{log}", alert["id"]))
            .clone()
    };
    for (kind, alert) in [
        ("ip_block", brute),
        ("ip_block", scan),
        ("container_pause", scan),
    ] {
        let a = action(kind, alert);
        assert_eq!(a["outcome"], "success", "{a}");
        assert_eq!(a["trace_id"], alert["trace_id"], "{a}");
    }
    assert!(
        !actions
            .iter()
            .any(|a| a["action_type"] == "container_pause" && a["alert_id"] == brute["id"]),
        "the brute force names no container: no container action"
    );
    let iso = json(out.path(), "isolations.json");
    assert_eq!(iso[0]["container_name"], "ironpost-demo-web");
    assert_eq!(iso[0]["actions"][0], "pause");
    assert!(log.contains("ironpost-demo-web is paused"), "{log}");
}
