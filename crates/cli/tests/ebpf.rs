//! The XDP engine under the real daemon, on a veth pair between two network namespaces the test
//! creates: real ICMP/UDP/TCP is counted, a block stops the attacker from the next packet, removal
//! and TTL expiry restore it, blocks survive a restart (pinned maps; the journal after a SIGKILL),
//! packet events reach the store, and a
//! missing interface degrades the module without stopping the daemon.

#![allow(clippy::unwrap_used)]

mod common;

use common::{
    ATTACKER_IP, Daemon, Lab, VICTIM_IP, alerts_of, blocks, lab_get, run, start_in_victim, stats,
    text, wait_for,
};

#[test]
fn xdp_counts_real_traffic_and_blocks_from_the_next_packet() {
    let lab = Lab::new("blk");
    let mut d = start_in_victim(&lab, tempfile::tempdir().unwrap(), &[]);

    assert!(lab.ping(), "victim answers before any block");
    // UDP and TCP from the attacker (nobody listens: the packets still cross the XDP hook).
    lab.attacker(&["sh", "-c", &format!("echo hi | nc -u -w1 {VICTIM_IP} 9999")]);
    lab.attacker(&["nc", "-z", "-w", "1", VICTIM_IP, "22"]);
    let s = wait_for(10, "ICMP, UDP and TCP to be counted", || {
        let s = stats(&d);
        let t = &s["traffic"];
        (t["icmp"]["packets"].as_u64()? >= 1
            && t["udp"]["packets"].as_u64()? >= 1
            && t["tcp"]["packets"].as_u64()? >= 1)
            .then_some(s)
    });
    assert_eq!(s["attached"], true);
    assert_eq!(s["traffic"]["total"]["drops"], 0);

    // The TCP SYN became a packet event in the store.
    wait_for(10, "the SYN's packet event to be stored", || {
        let o = run(d.cli().args(["packets", "list", "--output", "json"]));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        v.iter()
            .any(|p| p["src_ip"] == ATTACKER_IP && p["dst_port"] == 22 && p["protocol"] == "tcp")
            .then_some(())
    });

    let o = run(d
        .cli()
        .args(["block", "add", ATTACKER_IP, "--reason", "test block"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!lab.ping(), "the next packet after the block is dropped");
    let s = stats(&d);
    assert!(s["traffic"]["icmp"]["drops"].as_u64().unwrap() >= 1, "{s}");
    let b = blocks(&d);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["cidr"], ATTACKER_IP);
    assert_eq!(b[0]["reason"], "test block");
    assert!(b[0]["hits"].as_u64().unwrap() >= 1, "{b:?}");

    let o = run(d.cli().args(["block", "remove", ATTACKER_IP]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(lab.ping(), "removal restores traffic");
    assert!(blocks(&d).is_empty());

    // A network block with a TTL: dropped until it expires, then restored by the sweeper.
    let o = run(d
        .cli()
        .args(["block", "add", "198.18.7.0/24", "--ttl", "2s"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!lab.ping());
    wait_for(15, "the 2 s block to expire", || {
        blocks(&d).is_empty().then_some(())
    });
    assert!(lab.ping(), "traffic flows again after expiry");

    // Block and unblock are recorded as actions (written by the store's batched writer).
    let kinds = wait_for(10, "two blocks and two unblocks in the store", || {
        let o = run(d.cli().args(["actions", "list", "--output", "json"]));
        let actions: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        let kinds: Vec<String> = actions
            .iter()
            .filter_map(|a| a["action_type"].as_str().map(str::to_owned))
            .collect();
        (kinds.len() >= 4).then_some(kinds)
    });
    assert_eq!(
        kinds.iter().filter(|k| *k == "ip_block").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "ip_unblock").count(),
        2,
        "{kinds:?}"
    );

    let (_, metrics) = lab_get(&lab, &d, "/metrics");
    assert!(
        metrics.contains("ironpost_ebpf_packets_blocked_total{proto=\"icmp\"}"),
        "{metrics}"
    );
    assert!(d.stop().success(), "{}", d.log());
}

/// GET on the daemon's HTTP listener, which lives in the victim's namespace.
#[test]
fn blocks_survive_a_daemon_restart_in_pinned_maps() {
    let lab = Lab::new("pin");
    let bpffs = tempfile::tempdir().unwrap();
    let mnt = bpffs.path().display().to_string();
    let o = std::process::Command::new("mount")
        .args(["-t", "bpf", "bpf", &mnt])
        .output()
        .unwrap();
    assert!(o.status.success(), "mount bpffs: {}", text(&o.stderr));
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).output();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let pin = format!("{mnt}/ironpost");

    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_owned();
    let mut d = start_in_victim(&lab, dir, &[("IRONPOST_EBPF_PIN_PATH", &pin)]);
    assert!(
        run(d.cli().args([
            "block",
            "add",
            ATTACKER_IP,
            "--ttl",
            "1h",
            "--reason",
            "persist"
        ]))
        .status
        .success()
    );
    assert!(!lab.ping());
    assert!(d.stop().success(), "{}", d.log());
    // A single address lives in the host map `block_hosts_v4` (the trie `blocklist_v4` holds only
    // shorter prefixes); the entry must outlive the daemon there.
    let hosts = format!("{pin}/{}/block_hosts_v4", lab.victim_if);
    assert!(
        std::path::Path::new(&hosts).exists(),
        "the host blocklist map is pinned"
    );
    let key = ATTACKER_IP
        .parse::<std::net::Ipv4Addr>()
        .unwrap()
        .octets()
        .map(|b| b.to_string());
    let o = std::process::Command::new("bpftool")
        .args(["map", "lookup", "pinned", &hosts, "key"])
        .args(&key)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{ATTACKER_IP} is in the pinned block_hosts_v4: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    // Keep the data dir: move the TempDir out of the stopped daemon and start again on it.
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    assert_eq!(dir.path(), keep);
    let d2 = start_in_victim(&lab, dir, &[("IRONPOST_EBPF_PIN_PATH", &pin)]);
    let b = blocks(&d2);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["reason"], "persist");
    assert!(b[0]["expires_at"].is_string(), "the TTL survives too");
    assert!(!lab.ping(), "still dropped after the restart");
}

/// Without pinned maps the kernel entries die with the daemon; the journal beside the snapshot
/// brings the block back after a SIGKILL (no shutdown, so no snapshot was written).
#[test]
fn blocks_survive_a_sigkill_through_the_journal() {
    let lab = Lab::new("jrn");
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_owned();
    let mut d = start_in_victim(&lab, dir, &[]);
    assert!(
        run(d.cli().args([
            "block",
            "add",
            ATTACKER_IP,
            "--ttl",
            "1h",
            "--reason",
            "journal"
        ]))
        .status
        .success()
    );
    assert!(!lab.ping());
    let journal = keep.join("data/ebpf/blocklist.journal");
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap()
            .contains(ATTACKER_IP),
        "the block is journaled at once"
    );
    assert!(
        !keep.join("data/ebpf/blocklist.json").exists(),
        "no snapshot rewritten per block"
    );
    d.signal("KILL");
    let mut child = d.child.take().unwrap();
    let _ = child.wait();
    // A torn record at the tail, as a crash mid-write leaves it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"op\":\"block\",\"blo").unwrap();
    drop(f);
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let d2 = start_in_victim(&lab, dir, &[]);
    let b = blocks(&d2);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["reason"], "journal");
    assert_eq!(b[0]["evidence"], "verified", "an operator's block");
    assert!(b[0]["expires_at"].is_string());
    assert!(!lab.ping(), "dropped again after the restart");
    let (_, m) = lab_get(&lab, &d2, "/metrics");
    assert!(
        m.contains("ironpost_ebpf_blocklist_journal_corrupt_total 1"),
        "the torn record is counted"
    );
}

#[test]
fn missing_interface_degrades_the_module_not_the_daemon() {
    let d = Daemon::start(
        &["--defaults"],
        &[
            ("IRONPOST_EBPF_ENABLED", "true"),
            ("IRONPOST_EBPF_INTERFACE", "ipnoexist0"),
        ],
    );
    let h = wait_for(10, "ebpf to report the missing interface", || {
        let (code, body) = d.get("/health");
        let h: serde_json::Value = serde_json::from_str(&body).ok()?;
        (code == 200 && h["modules"]["ebpf"]["status"] == "degraded").then_some(h)
    });
    assert!(
        h["modules"]["ebpf"]["reason"]
            .as_str()
            .unwrap()
            .contains("ipnoexist0"),
        "{h}"
    );
    assert_eq!(h["modules"]["store"]["status"], "healthy");
    // Blocks can still be recorded: they take effect once the program is attached.
    let o = run(d.cli().args(["block", "add", "198.18.9.9"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn block_commands_without_ebpf_say_so() {
    let d = Daemon::start(&["--defaults"], &[]);
    let o = run(d.cli().args(["block", "list"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("ebpf module is not enabled"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn nmap_port_scan_raises_a_port_scan_alert() {
    let lab = Lab::new("scan");
    let d = start_in_victim(&lab, tempfile::tempdir().unwrap(), &[]);
    let o = lab.attacker(&[
        "nmap",
        "-sS",
        "-p",
        "1-1000",
        "--max-rate",
        "2000",
        "-n",
        "-Pn",
        VICTIM_IP,
    ]);
    assert!(o.status.success(), "nmap: {}", text(&o.stderr));
    let alerts = wait_for(15, "a port_scan alert", || {
        let a = alerts_of(&d, "port_scan");
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(
        alerts.len(),
        1,
        "one alert per source within the cooldown: {alerts:?}"
    );
    assert_eq!(alerts[0]["entities"]["src_ip"], ATTACKER_IP);
    assert_eq!(alerts[0]["entities"]["dst_ip"], VICTIM_IP);
    assert_eq!(alerts[0]["source"], "ebpf");
}

#[test]
fn hping3_syn_flood_raises_a_syn_flood_alert_naming_the_attacker() {
    let lab = Lab::new("syn");
    let d = start_in_victim(&lab, tempfile::tempdir().unwrap(), &[]);
    // hping3 runs until `timeout` stops it (exit 124): the flood itself is what matters.
    lab.attacker(&[
        "timeout", "2", "hping3", "-S", "--flood", "-p", "22", VICTIM_IP,
    ]);
    let alerts = wait_for(15, "a syn_flood alert", || {
        let a = alerts_of(&d, "syn_flood");
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(alerts[0]["entities"]["dst_ip"], VICTIM_IP);
    assert_eq!(
        alerts[0]["entities"]["src_ip"], ATTACKER_IP,
        "{:?}",
        alerts[0]
    );
    assert_eq!(alerts[0]["severity"], "high");
    // SYNs prove no handshake: the named source may be forged.
    assert_eq!(alerts[0]["evidence"], "spoofable");
    assert!(
        alerts[0]["description"]
            .as_str()
            .unwrap()
            .contains("net.ipv4.tcp_syncookies = 1"),
        "the alert names the mitigation: {}",
        alerts[0]["description"]
    );
}

#[test]
fn ordinary_traffic_raises_no_alert() {
    let lab = Lab::new("calm");
    let d = start_in_victim(&lab, tempfile::tempdir().unwrap(), &[]);
    // A listener so the TCP connections complete (SYN, SYN-ACK, ACK, data, FIN).
    let mut server = lab
        .victim(&[
            "sh",
            "-c",
            "while true; do echo hello | nc -l -p 8080 -q 1; done",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..3 {
        assert!(lab.ping());
    }
    // The listener restarts between connections; a connect that lands in that gap is refused,
    // so try until five complete (bounded), then stop the listener.
    let mut connected = 0;
    for _ in 0..50 {
        let o = lab.attacker(&["nc", "-w", "2", VICTIM_IP, "8080"]);
        connected += usize::from(text(&o.stdout).contains("hello"));
        if connected == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = lab.victim(&["pkill", "-f", "nc -l -p 8080"]).output();
    assert_eq!(connected, 5, "five TCP connections completed");
    let s = stats(&d);
    assert!(
        s["traffic"]["tcp"]["packets"].as_u64().unwrap() >= 15,
        "{s}"
    );
    // Give the detectors several of their 1 s ticks to see the traffic.
    std::thread::sleep(std::time::Duration::from_secs(3));
    for rule in ["port_scan", "syn_flood"] {
        assert!(
            alerts_of(&d, rule).is_empty(),
            "{rule} raised on ordinary traffic"
        );
    }
}

#[test]
fn packet_events_feed_the_log_rules() {
    let lab = Lab::new("pkt");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("ssh_syn.yaml"),
        "id: ssh_syn_from_lab\ntitle: SYN to SSH\nseverity: low\ndetection:\n  conditions:\n    - field: process\n      operator: equals\n      value: ebpf\n    - field: dst_port\n      operator: equals\n      value: \"22\"\n",
    )
    .unwrap();
    let rules_s = rules.display().to_string();
    let d = start_in_victim(
        &lab,
        dir,
        &[
            ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_SOURCES", "syslog_udp"),
            ("IRONPOST_LOG_PIPELINE_SYSLOG_BIND", "127.0.0.1:0"),
            ("IRONPOST_LOG_PIPELINE_RULES_DIR", &rules_s),
        ],
    );
    lab.attacker(&["nc", "-z", "-w", "1", VICTIM_IP, "22"]);
    let a = wait_for(15, "the packet rule's alert", || {
        let a = alerts_of(&d, "ssh_syn_from_lab");
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(a[0]["entities"]["src_ip"], ATTACKER_IP);
    assert_eq!(a[0]["source"], "log_pipeline");
}

/// A third namespace joined to the victim's by a veth pair made after the daemon started: the
/// victim's end is one of `ebpf.extra_interfaces` (as a container's host-side veth would be).
struct Neighbour {
    ns: String,
    /// The victim's end, the extra interface.
    victim_end: String,
}

const NEIGHBOUR_IP: &str = "198.18.8.1";
const VICTIM_SIDE_IP: &str = "198.18.8.2";

impl Neighbour {
    fn name(lab: &Lab) -> (String, String) {
        let id = std::process::id() % 100_000;
        (format!("{}-n", lab.attacker), format!("ipn{id}"))
    }

    fn create(lab: &Lab) -> Neighbour {
        let (ns, victim_end) = Self::name(lab);
        let other = format!("ipm{}", std::process::id() % 100_000);
        let n = Neighbour { ns, victim_end };
        let _ = std::process::Command::new("ip")
            .args(["netns", "add", &n.ns])
            .output();
        for args in [
            vec![
                "ip",
                "-n",
                &lab.victim,
                "link",
                "add",
                &n.victim_end,
                "type",
                "veth",
                "peer",
                "name",
                &other,
            ],
            vec![
                "ip",
                "-n",
                &lab.victim,
                "link",
                "set",
                &other,
                "netns",
                &n.ns,
            ],
            vec![
                "ip",
                "-n",
                &lab.victim,
                "addr",
                "add",
                &format!("{VICTIM_SIDE_IP}/24"),
                "dev",
                &n.victim_end,
            ],
            vec![
                "ip",
                "-n",
                &n.ns,
                "addr",
                "add",
                &format!("{NEIGHBOUR_IP}/24"),
                "dev",
                &other,
            ],
            vec!["ip", "-n", &lab.victim, "link", "set", &n.victim_end, "up"],
            vec!["ip", "-n", &n.ns, "link", "set", &other, "up"],
            vec!["ip", "-n", &n.ns, "link", "set", "lo", "up"],
        ] {
            let o = std::process::Command::new(args[0])
                .args(&args[1..])
                .output()
                .unwrap();
            assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        }
        n
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn ping(&self) -> bool {
        self.run(&["ping", "-c", "1", "-W", "1", "-n", "-q", VICTIM_SIDE_IP])
            .status
            .success()
    }

    /// Deletes the veth pair (both ends go).
    fn unplug(&self, lab: &Lab) {
        let o = std::process::Command::new("ip")
            .args(["-n", &lab.victim, "link", "del", &self.victim_end])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

/// `extra_interfaces` entry `name` of `stats`: (attached, note).
fn extra(d: &Daemon, name: &str) -> Option<(bool, String)> {
    let s = stats(d);
    let e = s["extra_interfaces"]
        .as_array()?
        .iter()
        .find(|e| e["interface"] == name)?
        .clone();
    Some((
        e["attached"].as_bool()?,
        e["note"].as_str().unwrap_or_default().to_owned(),
    ))
}

#[test]
fn extra_interfaces_are_watched_and_enforced_when_they_appear_and_again_after_they_return() {
    let lab = Lab::new("xtra");
    let (_, victim_end) = Neighbour::name(&lab);
    let d = start_in_victim(
        &lab,
        tempfile::tempdir().unwrap(),
        &[("IRONPOST_EBPF_EXTRA_INTERFACES", victim_end.as_str())],
    );
    // Not there yet: waited for, the module stays healthy on its main interface.
    assert_eq!(
        extra(&d, &victim_end),
        Some((false, "not found; waiting for it".to_owned()))
    );
    let n = Neighbour::create(&lab);
    wait_for(10, "the program to attach to the new interface", || {
        (extra(&d, &victim_end)?.0).then_some(())
    });
    let o = run(d.cli().args(["stats"]));
    assert!(
        text(&o.stdout).contains(&format!(
            "extra interface {victim_end} (XDP attached, not pinned)"
        )),
        "{}",
        text(&o.stdout)
    );

    // The same detectors see a scan arriving there, and name its source.
    let o = n.run(&[
        "nmap",
        "-sS",
        "-p",
        "1-200",
        "--max-rate",
        "2000",
        "-n",
        "-Pn",
        VICTIM_SIDE_IP,
    ]);
    assert!(o.status.success(), "nmap: {}", text(&o.stderr));
    let alerts = wait_for(15, "a port_scan alert from the neighbour", || {
        let a: Vec<_> = alerts_of(&d, "port_scan")
            .into_iter()
            .filter(|a| a["entities"]["src_ip"] == NEIGHBOUR_IP)
            .collect();
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(alerts[0]["entities"]["dst_ip"], VICTIM_SIDE_IP);
    assert!(
        alerts_of(&d, "port_scan")
            .iter()
            .all(|a| a["entities"]["src_ip"] == NEIGHBOUR_IP),
        "nothing came from the main interface"
    );

    // And the same blocklist drops there.
    assert!(n.ping(), "the neighbour is answered before a block");
    let o = run(d
        .cli()
        .args(["block", "add", NEIGHBOUR_IP, "--reason", "test block"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!n.ping(), "the block drops on the extra interface");
    let b = blocks(&d);
    assert!(b[0]["hits"].as_u64().unwrap() >= 1, "{b:?}");
    let o = run(d.cli().args(["block", "remove", NEIGHBOUR_IP]));
    assert!(o.status.success(), "{}", text(&o.stderr));

    // Unplugged: the attachment went with the interface; plugged again (another ifindex under
    // the same name): attached again.
    n.unplug(&lab);
    wait_for(10, "the vanished interface to show as not attached", || {
        (!extra(&d, &victim_end)?.0).then_some(())
    });
    drop(n);
    let n = Neighbour::create(&lab);
    wait_for(10, "the program to attach to the interface again", || {
        (extra(&d, &victim_end)?.0).then_some(())
    });
    assert!(n.ping(), "the neighbour is answered again");
    let o = run(d.cli().args(["block", "add", NEIGHBOUR_IP]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!n.ping(), "the re-attached program enforces the blocklist");
    assert_eq!(stats(&d)["attached"], true);
}
