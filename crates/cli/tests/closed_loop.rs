//! The main demo's scenario end to end (`scripts/demo.sh`, which `make demo` runs): a real sshd
//! in a protected container's network namespace, hydra and nmap from an attacker namespace, the
//! daemon with XDP, the log pipeline, the responder and the container guard. Asserts on the final
//! state the script dumps as JSON: alerts, blocks linked to them, drop counters, ActionEvents and
//! the paused container.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    Proc, bin, free_port, http_get, ready, repo_root, spawn_logged, text, urlencode, wait_for,
};
use serde_json::Value;

fn json(dir: &Path, name: &str) -> Value {
    let raw = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}: {raw}"))
}

#[test]
fn brute_force_and_port_scan_are_blocked_in_xdp_and_the_targeted_container_is_paused() {
    let out = tempfile::tempdir().unwrap();
    let bin_dir = bin("ironpost-daemon").parent().unwrap().to_owned();
    // A private Prometheus with the shipped scrape config, pointed at the demo's daemon.
    let daemon_http = format!("127.0.0.1:{}", free_port());
    let (prom, _prom) = prometheus(out.path(), &daemon_http);
    let o = Command::new("bash")
        .arg(repo_root().join("scripts/demo.sh"))
        .env("DEMO_BIN_DIR", &bin_dir)
        .env("DEMO_JSON_OUT", out.path())
        .env("DEMO_HTTP_LISTEN", &daemon_http)
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
    assert_eq!(
        find("ssh_brute_force")["entities"]["src_ip"],
        "198.18.66.200"
    );
    let first_scan = find("port_scan");
    assert_eq!(first_scan["entities"]["src_ip"], "198.18.66.201");
    assert_eq!(first_scan["entities"]["dst_ip"], "198.18.66.10");

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
    // A block links the alert that set or last renewed it (hydra may cross the threshold twice).
    let linked = |ip: &str, rule: &str| {
        let id = block_of(ip)["alert_id"].clone();
        alerts
            .iter()
            .find(|a| a["id"] == id && a["rule_id"] == rule)
            .unwrap_or_else(|| panic!("{ip}'s block links {id}, not a {rule} alert:\n{log}"))
    };
    let brute = linked("198.18.66.200", "ssh_brute_force");
    let scan = linked("198.18.66.201", "port_scan");
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

    // Every panel of the three dashboards has data for the scenario (evaluated at its end).
    let end = std::fs::read_to_string(out.path().join("end_time")).unwrap();
    for name in ["overview.json", "log-pipeline.json", "security.json"] {
        let path = repo_root().join("deploy/grafana/dashboards").join(name);
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            let expr = panel["targets"][0]["expr"].as_str().unwrap();
            let q = format!(
                "/api/v1/query?query={}&time={}",
                urlencode(expr),
                end.trim()
            );
            let (code, body) = http_get(&prom, &q);
            assert_eq!(code, 200, "{name}: {expr}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let result = v["data"]["result"].as_array().unwrap();
            assert!(
                !result.is_empty(),
                "{name}: panel `{}` has no data: {expr}",
                panel["title"]
            );
        }
    }
}

/// Starts Prometheus on a free port scraping `target` every second; returns its address.
fn prometheus(dir: &Path, target: &str) -> (String, Proc) {
    let shipped =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, shipped.replace("127.0.0.1:9470", target)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let p = spawn_logged(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address={addr}")),
        &dir.join("prometheus.log"),
    );
    wait_for(60, "Prometheus to be ready", || ready(&addr, "/-/ready"));
    (addr, p)
}
