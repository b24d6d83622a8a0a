//! Ironpost's response cannot be aimed at bystanders (docs/threat-model.md), shown with the real
//! tools an attacker uses, against the daemon with XDP and the responder on, in namespaces the
//! tests create:
//! - nmap `-D` decoys and hping3 `--spoof` scans raise `spoofable` port-scan alerts and block
//!   nobody under the default policy;
//! - with `block_unverified` on, an established SSH session from X survives spoofed scans that
//!   claim to come from X (X is a protected peer), while a spoofed non-peer is blocked briefly;
//! - an `hping3 --flood --rand-source` SYN flood raises a `syn_flood` alert, blocks no source, and
//!   a legitimate client still completes handshakes (SYN cookies at the destination);
//! - `logger -t sshd` lines in the real journal are `forgeable` and block nobody; hydra against a
//!   real sshd that logs to the journal is `verified` and blocked.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::JournalSshd;
use common::{
    ATTACKER_IP, Daemon, Lab, Proc, VICTIM_IP, alerts_of, blocks, lab_get, repo_root, run,
    start_in_victim, text, wait_for,
};

/// journald's syslog socket (what `/dev/log` points to on a systemd host).
const DEV_LOG: &str = "/run/systemd/journal/dev-log";

/// Adds `ip/24` to the attacker namespace's veth (a second host behind the same link).
fn add_attacker_address(lab: &Lab, ip: &str) {
    let o = Command::new("ip")
        .args(["-n", &lab.attacker, "-o", "link", "show"])
        .output()
        .unwrap();
    let links = text(&o.stdout);
    let dev = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap())
        .find(|n| *n != "lo")
        .unwrap_or_else(|| panic!("no veth in {}: {links}", lab.attacker));
    let o = Command::new("ip")
        .args([
            "-n",
            &lab.attacker,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            dev,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "addr add {ip}: {}", text(&o.stderr));
}

/// `ironpost_response_decisions_total{decision=…}` as the daemon reports it (0 when absent).
fn decision(lab: &Lab, d: &Daemon, which: &str) -> u64 {
    let (_, m) = lab_get(lab, d, "/metrics");
    let prefix = format!("ironpost_response_decisions_total{{decision=\"{which}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

/// The attacker namespace runs `args`; its exit status must be success.
fn attack(lab: &Lab, args: &[&str]) {
    let o = lab.attacker(args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// hping3 with a forged source from the attacker namespace. No reply comes back to a forged
/// address, so hping3 reports 100 % loss and exits 1: only its own failures (2+) count.
fn spoof(lab: &Lab, args: &[&str]) {
    let o = lab.attacker(&[&["hping3", "-q", "-S"], args].concat());
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "hping3 {args:?}: {:?} {}{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    let out = text(&o.stdout) + &text(&o.stderr);
    assert!(out.contains(" packets transmitted"), "{out}");
}

/// A port-scan alert per source in `srcs`, each `spoofable`.
fn spoofable_scans_of(d: &Daemon, srcs: &[&str]) -> Vec<serde_json::Value> {
    wait_for(20, &format!("port_scan alerts from {srcs:?}"), || {
        let alerts = alerts_of(d, "port_scan");
        let found: Vec<serde_json::Value> = srcs
            .iter()
            .filter_map(|s| {
                alerts
                    .iter()
                    .find(|a| a["entities"]["src_ip"] == *s)
                    .cloned()
            })
            .collect();
        (found.len() == srcs.len()).then_some(found)
    })
}

#[test]
fn decoy_and_spoofed_scans_alert_as_spoofable_and_block_no_bystander() {
    let lab = Lab::new("evd");
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[("IRONPOST_RESPONSE_ENABLED", "true")],
    );
    // Two decoys (bystanders that send nothing) and the scanner itself (ME).
    attack(
        &lab,
        &[
            "nmap",
            "-sS",
            "-D",
            "198.18.7.53,198.18.7.123,ME",
            "-p",
            "1-300",
            "--max-rate",
            "1500",
            "--max-retries",
            "0",
            "--host-timeout",
            "20s",
            "-n",
            "-Pn",
            VICTIM_IP,
        ],
    );
    // hping3 forging one bystander's address over 300 ports.
    spoof(
        &lab,
        &[
            "--spoof",
            "198.18.7.77",
            "-p",
            "++1",
            "-c",
            "300",
            "-i",
            "u2000",
            VICTIM_IP,
        ],
    );
    let scans = spoofable_scans_of(
        &d,
        &["198.18.7.53", "198.18.7.123", ATTACKER_IP, "198.18.7.77"],
    );
    for a in &scans {
        assert_eq!(a["evidence"], "spoofable", "{a}");
    }
    assert!(decision(&lab, &d, "unverified") >= 4, "{}", d.log());
    assert_eq!(decision(&lab, &d, "blocked"), 0);
    assert!(blocks(&d).is_empty(), "{:?}", blocks(&d));
    assert!(lab.ping(), "nobody is dropped");
    // The CLI shows and filters the evidence.
    let o = run(d.cli().args([
        "alerts",
        "list",
        "--evidence",
        "spoofable",
        "--rule",
        "port_scan",
    ]));
    let table = text(&o.stdout);
    assert!(
        o.status.success() && table.contains("198.18.7.53"),
        "{table}"
    );
    assert!(
        table.lines().skip(1).all(|l| l.contains("spoofable")),
        "{table}"
    );
    let o = run(d.cli().args([
        "alerts",
        "list",
        "--evidence",
        "verified",
        "--output",
        "json",
    ]));
    assert_eq!(text(&o.stdout).trim(), "[]");
}

#[test]
fn an_established_session_survives_spoofed_scans_claiming_its_address() {
    let lab = Lab::new("evs");
    const ADMIN: &str = "198.18.7.3";
    const NOBODY: &str = "198.18.7.99";
    add_attacker_address(&lab, ADMIN);
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            // The operator opted in to blocks on unverified evidence: peers still survive.
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
        ],
    );
    // The admin's SSH session from ADMIN into the protected host, appending what it is sent to
    // a file.
    let sshd = JournalSshd::start(&lab);
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    let mut client = sshd.session(&lab, ADMIN, &format!("cat >> {}", received.display()));
    let stdin = client.0.stdin.as_mut().unwrap();
    writeln!(stdin, "before").unwrap();
    stdin.flush().unwrap();
    wait_for(20, "the admin's SSH session", || {
        let got = std::fs::read_to_string(&received).unwrap_or_default();
        got.contains("before").then_some(())
    });
    let ss = lab
        .victim(&["ss", "-Htn", "state", "established"])
        .output()
        .unwrap();
    assert!(text(&ss.stdout).contains(ADMIN), "{}", text(&ss.stdout));

    // Spoofed SYN scans claiming the admin's address, and one claiming a non-peer.
    for src in [ADMIN, NOBODY] {
        spoof(
            &lab,
            &[
                "--spoof", src, "-p", "++1000", "-c", "200", "-i", "u2000", VICTIM_IP,
            ],
        );
    }
    spoofable_scans_of(&d, &[ADMIN, NOBODY]);
    wait_for(10, "the non-peer's short block", || {
        blocks(&d).into_iter().find(|b| b["cidr"] == NOBODY)
    });
    assert!(decision(&lab, &d, "protected_peer") >= 1, "{}", d.log());
    assert!(
        blocks(&d).iter().all(|b| b["cidr"] != ADMIN),
        "the admin was blocked: {:?}",
        blocks(&d)
    );
    // The session still carries data after the scans.
    let stdin = client.0.stdin.as_mut().unwrap();
    writeln!(stdin, "after the scans").unwrap();
    stdin.flush().unwrap();
    wait_for(10, "the admin's data after the scans", || {
        let got = std::fs::read_to_string(&received).unwrap();
        got.contains("after the scans").then_some(())
    });
}

/// Opens TCP connections from `src` to `VICTIM_IP:port` every 100 ms until `until`; returns
/// (completed handshakes, attempts).
fn connect_loop(lab: &Lab, src: &str, port: &str, until: Instant) -> (u32, u32) {
    let (mut ok, mut tries) = (0, 0);
    while Instant::now() < until {
        tries += 1;
        // -z: handshake only; -w 3: the client's own SYN retransmission gets a chance.
        if lab
            .attacker(&["nc", "-z", "-w", "3", "-s", src, VICTIM_IP, port])
            .status
            .success()
        {
            ok += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (ok, tries)
}

#[test]
fn a_random_source_syn_flood_blocks_nobody_and_a_real_client_is_served() {
    let lab = Lab::new("evf");
    const CLIENT: &str = "198.18.7.4";
    add_attacker_address(&lab, CLIENT);
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            // Even with unverified blocks allowed, a flood's sources are never blocked.
            ("IRONPOST_RESPONSE_BLOCK_UNVERIFIED", "true"),
        ],
    );
    // A host has a default route: without one, the kernel cannot answer the random sources and
    // drops their SYNs before they reach the listener's queue.
    let o = lab
        .victim(&["ip", "route", "add", "default", "via", ATTACKER_IP])
        .output()
        .unwrap();
    assert!(o.status.success(), "default route: {}", text(&o.stderr));
    let syncookies = lab
        .victim(&["sysctl", "-n", "net.ipv4.tcp_syncookies"])
        .output()
        .unwrap();
    assert_ne!(text(&syncookies.stdout).trim(), "0", "SYN cookies are off");
    // A server with a small backlog (nc listens with backlog 1): the flood fills it at once.
    let _server = Proc(
        lab.victim(&["nc", "-l", "-k", VICTIM_IP, "7778"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(10, "the server", || {
        lab.attacker(&["nc", "-z", "-w", "1", VICTIM_IP, "7778"])
            .status
            .success()
            .then_some(())
    });
    let mut flood = Proc(
        Command::new("ip")
            .args(["netns", "exec", &lab.attacker])
            .args([
                "timeout",
                "4",
                "hping3",
                "-q",
                "-S",
                "--flood",
                "--rand-source",
            ])
            .args(["-p", "7778", VICTIM_IP])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (ok, tries) = connect_loop(
        &lab,
        CLIENT,
        "7778",
        Instant::now() + Duration::from_secs(3),
    );
    let _ = flood.0.wait();
    // The flood did overflow the listener's SYN queue: the kernel answered with SYN cookies.
    let cookies = lab
        .victim(&["nstat", "-az", "TcpExtSyncookiesSent"])
        .output()
        .unwrap();
    let sent: u64 = text(&cookies.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("TcpExtSyncookiesSent"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("nstat: {}", text(&cookies.stdout)));
    println!("legitimate handshakes during the flood: {ok}/{tries}; SYN cookies sent: {sent}");
    assert!(sent > 0, "the flood never filled the SYN queue");
    assert!(tries > 0);
    assert!(
        ok * 2 >= tries,
        "only {ok} of {tries} handshakes completed during the flood"
    );
    let alert = wait_for(20, "a syn_flood alert", || {
        alerts_of(&d, "syn_flood").into_iter().next()
    });
    assert_eq!(alert["evidence"], "spoofable", "{alert}");
    assert!(blocks(&d).is_empty(), "{:?}", blocks(&d));
    assert_eq!(decision(&lab, &d, "blocked"), 0);
    assert_eq!(decision(&lab, &d, "blocked_unverified"), 0);
}

#[test]
fn forged_sshd_lines_in_the_journal_block_nobody_but_a_real_brute_force_is_blocked() {
    let lab = Lab::new("evj");
    let sshd = JournalSshd::start(&lab);
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_SOURCES", "[\"journald\"]"),
            ("IRONPOST_LOG_PIPELINE_FLUSH_INTERVAL_SECS", "1"),
            (
                "IRONPOST_LOG_PIPELINE_RULES_DIR",
                repo_root().join("rules").to_str().unwrap(),
            ),
        ],
    );
    // The source follows the journal once a marker written now reaches it.
    wait_for(20, "the journald source", || {
        let o = Command::new("logger")
            .args(["-u", DEV_LOG, "-t", "ironpost-test", "marker"])
            .output()
            .unwrap();
        assert!(o.status.success());
        std::thread::sleep(Duration::from_millis(200));
        lab_get(&lab, &d, "/metrics")
            .1
            .contains("ironpost_log_source_received_total{source=\"journald\"}")
            .then_some(())
    });
    // Any local user can do this: lines that claim to be sshd's, naming a bystander and the
    // attacker.
    for ip in ["198.18.7.50", ATTACKER_IP] {
        for i in 0..8 {
            let line = format!("Failed password for root from {ip} port {} ssh2", 40000 + i);
            let o = Command::new("logger")
                .args(["-u", DEV_LOG, "-t", "sshd", &line])
                .output()
                .unwrap();
            assert!(o.status.success());
        }
    }
    let forged = wait_for(20, "ssh_brute_force alerts on the forged lines", || {
        let a = alerts_of(&d, "ssh_brute_force");
        (a.len() >= 2).then_some(a)
    });
    for a in &forged {
        assert_eq!(a["evidence"], "forgeable", "{a}");
    }
    assert!(blocks(&d).is_empty(), "{:?}", blocks(&d));
    assert!(lab.ping());

    // hydra against the real sshd, which logs to the journal itself.
    sshd.hydra(&lab, 12);
    let verified = wait_for(30, "a verified ssh_brute_force alert", || {
        alerts_of(&d, "ssh_brute_force")
            .into_iter()
            .find(|a| a["evidence"] == "verified")
    });
    assert_eq!(verified["entities"]["src_ip"], ATTACKER_IP);
    let b = wait_for(10, "the brute forcer's block", || {
        blocks(&d).into_iter().find(|b| b["cidr"] == ATTACKER_IP)
    });
    // hydra tries a user that does not exist, so the library's ssh_invalid_user (5 `Invalid
    // user` lines, one per connection) may alert, and block, before the fifth `Failed password`:
    // the block rests on a verified alert of either sshd rule about the attacker.
    let linked: Vec<serde_json::Value> = ["ssh_brute_force", "ssh_invalid_user"]
        .iter()
        .flat_map(|r| alerts_of(&d, r))
        .filter(|a| a["id"] == b["alert_id"])
        .collect();
    assert_eq!(linked.len(), 1, "block {b} not linked to an sshd alert");
    assert_eq!(linked[0]["evidence"], "verified", "{}", linked[0]);
    assert_eq!(linked[0]["entities"]["src_ip"], ATTACKER_IP);
    assert_eq!(b["evidence"], "verified");
    assert!(!lab.ping(), "the brute forcer is dropped");
    assert!(
        blocks(&d).iter().all(|b| b["cidr"] != "198.18.7.50"),
        "a bystander named by forged lines was blocked"
    );
}
