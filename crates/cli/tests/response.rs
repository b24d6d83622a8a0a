//! The responder closes the loop: an alert about an attacker blocks it in XDP (real veth pair
//! between namespaces the test creates), the block and its expiry are actions linked to the alert
//! (id and trace id), allowlisted sources are never blocked, and dry run blocks nothing.
//!
//! The evidence policy: by default only verified evidence blocks; with `block_unverified` a
//! spoofable or forgeable alert blocks briefly, capped per minute, never a protected peer (a
//! real established TCP connection into the daemon's namespace, its resolver from
//! `/etc/netns/NS/resolv.conf`, an infrastructure CIDR), which a verified alert still blocks; a
//! SYN flood never blocks its source; a full blocklist makes room for verified blocks by
//! evicting unverified ones.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::{
    ATTACKER_IP, Daemon, Lab, Proc, VICTIM_IP, actions_for, alerts_of, blocks, lab_get,
    start_in_victim, submit_alert, wait_for,
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
            // A SYN scan is spoofable evidence: it blocks only with block_unverified.
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
            ("IRONPOST_RESPONSE_UNVERIFIED_BLOCK_TTL_SECS", "4"),
            // Only port scans block here (nmap's SYN rate may also raise a SYN-flood alert).
            ("IRONPOST_RESPONSE_RULE_IDS", "port_scan"),
        ],
    );
    assert!(lab.ping(), "victim answers before the scan");
    // In the background: the scan is blocked mid-way and nmap would wait for its timeouts.
    let mut nmap = lab.syn_scan();
    let alert = wait_for(15, "a port_scan alert", || {
        alerts_of(&d, "port_scan").into_iter().next()
    });
    let id = alert["id"].as_str().unwrap();
    assert_eq!(alert["evidence"], "spoofable");
    let b = wait_for(10, "the scanner to be blocked", || {
        blocks(&d).into_iter().find(|b| b["cidr"] == ATTACKER_IP)
    });
    assert_eq!(b["alert_id"], id, "block list links the alert");
    assert_eq!(b["evidence"], "spoofable");
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
    let detail = block_action["detail"].as_str().unwrap();
    assert!(
        detail.contains("evidence spoofable") && detail.contains("offence 1"),
        "{detail}"
    );

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
        "ironpost_response_decisions_total{decision=\"blocked_unverified\"} 1"
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
               "title": "brute force", "entities": {"src_ip": src}, "evidence": "verified"})
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
    assert!(a["detail"].as_str().unwrap().contains(
        "would block 198.18.7.1 for 3600s (ssh_brute_force: brute force; evidence verified)"
    ));
    assert!(blocks(&d).is_empty());
    assert!(lab.ping(), "dry run drops nothing");
}

fn alert_from(src: &str, rule: &str, evidence: &str) -> serde_json::Value {
    json!({"severity": "high", "source": "external", "rule_id": rule,
           "title": "test", "entities": {"src_ip": src}, "evidence": evidence})
}

fn decisions(d: &Daemon, lab: &Lab, want: &[(&str, u32)]) {
    let what = format!("decisions {want:?}");
    wait_for(10, &what, || {
        let (_, m) = lab_get(lab, d, "/metrics");
        want.iter()
            .all(|(k, n)| {
                m.contains(&format!(
                    "ironpost_response_decisions_total{{decision=\"{k}\"}} {n}\n"
                ))
            })
            .then_some(())
    });
}

fn block_of(d: &Daemon, cidr: &str) -> Option<serde_json::Value> {
    blocks(d).into_iter().find(|b| b["cidr"] == cidr)
}

fn secs_between(b: &serde_json::Value) -> i64 {
    let t = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(b[k].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    t("expires_at") - t("added_at")
}

#[test]
fn by_default_only_verified_evidence_blocks() {
    let lab = Lab::new("rse");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[("IRONPOST_RESPONSE_ENABLED", "true")],
    );
    let verified = submit_alert(&d, &alert_from(ATTACKER_IP, "ssh_brute_force", "verified"));
    submit_alert(&d, &alert_from("198.18.9.53", "port_scan", "spoofable"));
    submit_alert(
        &d,
        &alert_from("198.18.9.123", "ssh_brute_force", "forgeable"),
    );
    // A SYN flood's source is never blocked, whatever the alert claims.
    submit_alert(&d, &alert_from("198.18.9.66", "syn_flood", "verified"));
    decisions(
        &d,
        &lab,
        &[("blocked", 1), ("unverified", 2), ("syn_flood_source", 1)],
    );
    let b = blocks(&d);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["cidr"], ATTACKER_IP);
    assert_eq!(b[0]["evidence"], "verified");
    assert_eq!(secs_between(&b[0]), 3600);
    let a = wait_for(10, "the ip_block action", || {
        actions_for(&d, &verified).into_iter().next()
    });
    assert!(
        a["detail"].as_str().unwrap().contains("evidence verified"),
        "{a}"
    );
    assert!(!lab.ping(), "the verified source is dropped");
    // The unverified alerts are stored with their evidence.
    let spoofed = alerts_of(&d, "port_scan");
    assert_eq!(spoofed[0]["evidence"], "spoofable");
}

#[test]
fn block_unverified_gives_short_capped_blocks_that_never_escalate() {
    let lab = Lab::new("rsu");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
            ("IRONPOST_RESPONSE_UNVERIFIED_BLOCK_TTL_SECS", "120"),
            ("IRONPOST_RESPONSE_UNVERIFIED_BLOCKS_PER_MINUTE", "2"),
        ],
    );
    for (src, evidence) in [
        ("198.18.9.1", "spoofable"),
        ("198.18.9.2", "forgeable"),
        ("198.18.9.3", "spoofable"),
    ] {
        submit_alert(&d, &alert_from(src, "port_scan", evidence));
    }
    decisions(
        &d,
        &lab,
        &[("blocked_unverified", 2), ("unverified_rate_limited", 1)],
    );
    let b1 = block_of(&d, "198.18.9.1").unwrap();
    let b2 = block_of(&d, "198.18.9.2").unwrap();
    assert!(block_of(&d, "198.18.9.3").is_none(), "over the cap");
    assert_eq!(
        (b1["evidence"].as_str(), b2["evidence"].as_str()),
        (Some("spoofable"), Some("forgeable"))
    );
    assert_eq!((secs_between(&b1), b1["offence"].as_u64()), (120, Some(1)));
    // Verified evidence about the same address upgrades it to a full, escalating block; an
    // unverified alert afterwards changes nothing.
    submit_alert(&d, &alert_from("198.18.9.1", "ssh_brute_force", "verified"));
    decisions(&d, &lab, &[("blocked", 1)]);
    let up = block_of(&d, "198.18.9.1").unwrap();
    assert_eq!(up["evidence"], "verified");
    assert_eq!(secs_between(&up), 3600);
}

/// Removes a file tree when dropped (`/etc/netns/NS`, which `ip netns del` leaves behind).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn protected_peers_survive_unverified_alerts_but_not_verified_ones() {
    let lab = Lab::new("rsp2");
    // `ip netns exec NS` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf: the
    // daemon, started that way, sees this resolver.
    let netns_etc = std::path::Path::new("/etc/netns").join(&lab.victim);
    std::fs::create_dir_all(&netns_etc).unwrap();
    let _cleanup = RemoveDir(netns_etc.clone());
    std::fs::write(netns_etc.join("resolv.conf"), "nameserver 198.18.9.53\n").unwrap();
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
            ("IRONPOST_RESPONSE_INFRASTRUCTURE", "[\"198.18.10.0/24\"]"),
        ],
    );
    // A real TCP connection from the attacker's namespace into the daemon's.
    let _server = Proc(
        lab.victim(&["nc", "-l", "-k", VICTIM_IP, "7777"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut client = wait_for(10, "an established connection", || {
        let mut c = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.attacker, "nc", VICTIM_IP, "7777"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let ss = lab
            .victim(&["ss", "-Htn", "state", "established"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&ss.stdout).contains(ATTACKER_IP) {
            Some(c)
        } else {
            let _ = c.kill();
            let _ = c.wait();
            None
        }
    });
    for (src, rule) in [
        (ATTACKER_IP, "port_scan"),
        ("198.18.9.53", "port_scan"),
        ("198.18.10.7", "ssh_brute_force"),
    ] {
        submit_alert(&d, &alert_from(src, rule, "spoofable"));
    }
    decisions(&d, &lab, &[("protected_peer", 3)]);
    assert!(blocks(&d).is_empty());
    assert!(lab.ping(), "the peer still reaches the host");

    // The connection ends; the peer stays protected for protected_peer_ttl_secs.
    let _ = client.kill();
    let _ = client.wait();
    submit_alert(&d, &alert_from(ATTACKER_IP, "port_scan", "forgeable"));
    decisions(&d, &lab, &[("protected_peer", 4)]);
    assert!(blocks(&d).is_empty());

    // A bystander that is no peer is blocked (block_unverified is on)…
    submit_alert(&d, &alert_from("198.18.9.99", "port_scan", "spoofable"));
    decisions(&d, &lab, &[("blocked_unverified", 1)]);
    // …and verified evidence blocks even a protected peer.
    submit_alert(&d, &alert_from(ATTACKER_IP, "ssh_brute_force", "verified"));
    decisions(&d, &lab, &[("blocked", 1)]);
    let b = block_of(&d, ATTACKER_IP).unwrap();
    assert_eq!(b["evidence"], "verified");
    assert!(!lab.ping());
}

#[test]
fn a_full_blocklist_evicts_unverified_blocks_for_verified_ones() {
    let lab = Lab::new("rsf");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_EBPF_BLOCKLIST_MAX_ENTRIES", "3"),
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
        ],
    );
    let mut first = None;
    for src in ["198.18.9.1", "198.18.9.2", "198.18.9.3"] {
        let id = submit_alert(&d, &alert_from(src, "port_scan", "spoofable"));
        first.get_or_insert(id);
        // One at a time, so the first is the oldest.
        wait_for(10, "the block", || block_of(&d, src));
    }
    // Full: one more unverified block is refused, never evicting.
    submit_alert(&d, &alert_from("198.18.9.4", "port_scan", "spoofable"));
    decisions(&d, &lab, &[("blocked_unverified", 3), ("failed", 1)]);
    // A verified block evicts the oldest unverified one, in the kernel too.
    submit_alert(&d, &alert_from(ATTACKER_IP, "ssh_brute_force", "verified"));
    decisions(&d, &lab, &[("blocked", 1)]);
    let cidrs: Vec<String> = blocks(&d)
        .iter()
        .map(|b| b["cidr"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cidrs.len(), 3, "{cidrs:?}");
    assert!(!cidrs.contains(&"198.18.9.1".to_owned()), "{cidrs:?}");
    assert!(cidrs.contains(&ATTACKER_IP.to_owned()));
    assert!(!lab.ping(), "the verified block is in the kernel");
    let unblock = wait_for(10, "the eviction's ip_unblock action", || {
        actions_for(&d, first.as_deref().unwrap())
            .into_iter()
            .find(|a| a["action_type"] == "ip_unblock")
    });
    let detail = unblock["detail"].as_str().unwrap();
    assert!(
        detail.contains("evicted: blocklist full") && detail.contains("spoofable evidence"),
        "{detail}"
    );
    assert!(metric(
        &d,
        &lab,
        "ironpost_ebpf_blocks_evicted_total{evidence=\"spoofable\"} 1"
    ));
}
