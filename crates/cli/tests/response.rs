//! The responder closes the loop: an alert about an attacker blocks it in XDP (real veth pair
//! between namespaces the test creates), the block and its expiry are actions linked to the alert
//! (id and trace id), allowlisted sources are never blocked, and dry run blocks nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::{
    ATTACKER_IP, Daemon, Lab, VICTIM_IP, actions_for, alerts_of, blocks, lab_get, start_in_victim,
    submit_alert, wait_for,
};
use serde_json::json;

fn metric(d: &Daemon, lab: &Lab, line: &str) -> bool {
    lab_get(lab, d, "/metrics").1.contains(line)
}

#[test]
fn port_scan_blocks_the_scanner_until_the_ttl_and_both_actions_link_the_alert() {
    let lab = Lab::new("rsp");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_BLOCK_TTL_SECS", "4"),
            // Only port scans block here (nmap's SYN rate may also raise a SYN-flood alert).
            ("IRONPOST_RESPONSE_RULE_IDS", "port_scan"),
        ],
    );
    assert!(lab.ping(), "victim answers before the scan");
    // In the background: the scan is blocked mid-way and nmap would wait for its timeouts.
    let mut nmap = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.attacker])
        .args(["nmap", "-sS", "-p", "1-1000", "--max-rate", "2000"])
        .args([
            "--max-retries",
            "0",
            "--host-timeout",
            "30s",
            "-n",
            "-Pn",
            VICTIM_IP,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let alert = wait_for(15, "a port_scan alert", || {
        alerts_of(&d, "port_scan").into_iter().next()
    });
    let id = alert["id"].as_str().unwrap();
    let b = wait_for(10, "the scanner to be blocked", || {
        blocks(&d).into_iter().find(|b| b["cidr"] == ATTACKER_IP)
    });
    assert_eq!(b["alert_id"], id, "block list links the alert");
    assert!(!lab.ping(), "the scanner's next packet is dropped");
    let _ = nmap.kill();
    let _ = nmap.wait();
    let block_action = wait_for(10, "the ip_block action", || {
        actions_for(&d, id)
            .into_iter()
            .find(|a| a["action_type"] == "ip_block")
    });
    assert_eq!(block_action["outcome"], "success");
    assert_eq!(block_action["trace_id"], alert["trace_id"]);

    // The TTL expires: the unblock is an action linked to the same alert, traffic flows again.
    let unblock = wait_for(20, "the ip_unblock action after the TTL", || {
        actions_for(&d, id)
            .into_iter()
            .find(|a| a["action_type"] == "ip_unblock")
    });
    assert_eq!(unblock["trace_id"], alert["trace_id"]);
    wait_for(10, "the victim to answer again", || {
        lab.ping().then_some(())
    });
    assert!(metric(
        &d,
        &lab,
        "ironpost_response_decisions_total{decision=\"blocked\"} 1"
    ));
}

#[test]
fn allowlisted_sources_are_never_blocked_and_dry_run_blocks_nothing() {
    let lab = Lab::new("rsa");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_ALLOWLIST", "[\"198.18.7.0/30\"]"),
        ],
    );
    let alert = |src: &str| {
        json!({"severity": "critical", "source": "external", "rule_id": "ssh_brute_force",
               "title": "brute force", "entities": {"src_ip": src}})
    };
    // Configured CIDR, the host's own address, loopback.
    for src in [ATTACKER_IP, VICTIM_IP, "127.0.0.1"] {
        submit_alert(&d, &alert(src));
    }
    wait_for(10, "three allowlisted decisions", || {
        metric(
            &d,
            &lab,
            "ironpost_response_decisions_total{decision=\"allowlisted\"} 3",
        )
        .then_some(())
    });
    assert!(blocks(&d).is_empty());
    assert!(lab.ping());
    drop(d);

    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_DRY_RUN", "true"),
        ],
    );
    let id = submit_alert(&d, &alert(ATTACKER_IP));
    let a = wait_for(10, "the dry-run ip_block action", || {
        actions_for(&d, &id).into_iter().next()
    });
    assert_eq!(a["action_type"], "ip_block");
    assert_eq!(a["outcome"], "dry_run");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("would block 198.18.7.1")
    );
    assert!(blocks(&d).is_empty());
    assert!(lab.ping(), "dry run drops nothing");
}
