//! Enforcement that survives the daemon, under the real daemon on a veth pair between two network
//! namespaces the test creates, with the XDP link and maps pinned on a bpffs the test mounts:
//! after `kill -9` the blocked source's packets are still dropped, a TTL that ends while the
//! daemon is dead stops dropping on time (the kernel enforces it), the next daemon adopts the
//! program and the entries with their TTLs; a zeroed `blocklist.json` (a power loss) is
//! reported with a warning and a metric, moved aside, and rebuilt from the pinned maps.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ATTACKER_IP, Lab, blocks, lab_get, run, start_in_victim, stats, text};

/// A second attacker address, for a block with a short TTL beside the long one.
const SHORT_IP: &str = "198.18.7.3";

/// A bpffs mounted on a temporary directory for the test, unmounted on drop (which also
/// removes whatever is pinned there).
struct BpfFs {
    dir: tempfile::TempDir,
}

impl BpfFs {
    fn mount() -> BpfFs {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "mount bpffs: {}", text(&o.stderr));
        BpfFs { dir }
    }

    fn pin_path(&self) -> String {
        format!("{}/ironpost", self.dir.path().display())
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// One ICMP echo from `src` (an address of the attacker) to the victim.
fn ping_from(lab: &Lab, src: &str) -> bool {
    lab.attacker(&[
        "ping",
        "-c",
        "1",
        "-W",
        "1",
        "-n",
        "-q",
        "-I",
        src,
        common::VICTIM_IP,
    ])
    .status
    .success()
}

fn block(d: &common::Daemon, ip: &str, ttl: &str) {
    let o = run(d
        .cli()
        .args(["block", "add", ip, "--ttl", ttl, "--reason", "pinned test"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn kill_9_leaves_the_blocks_enforced_and_ttls_ending_on_time() {
    let lab = Lab::new("k9");
    let attacker_if = format!("ipa{}", std::process::id() % 100_000);
    let o = lab.attacker(&[
        "ip",
        "addr",
        "add",
        &format!("{SHORT_IP}/24"),
        "dev",
        &attacker_if,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fs = BpfFs::mount();
    let pin = fs.pin_path();
    let env = [("IRONPOST_EBPF_PIN_PATH", pin.as_str())];

    let dir = tempfile::tempdir().unwrap();
    let mut d = start_in_victim(&lab, dir, &env);
    let s = stats(&d);
    assert_eq!(s["pinned"], true, "{s}");
    assert!(ping_from(&lab, ATTACKER_IP) && ping_from(&lab, SHORT_IP));

    block(&d, ATTACKER_IP, "1h");
    let ttl = Duration::from_secs(6);
    block(&d, SHORT_IP, "6s");
    let blocked_at = Instant::now();
    assert!(!ping_from(&lab, ATTACKER_IP));

    d.signal("KILL");
    let mut child = d.child.take().unwrap();
    let _ = child.wait();
    assert!(
        std::path::Path::new(&format!("{pin}/{}/link", lab.victim_if)).exists(),
        "the link is pinned"
    );
    assert!(
        !ping_from(&lab, ATTACKER_IP),
        "dropped while the daemon is dead"
    );
    if blocked_at.elapsed() + Duration::from_secs(1) < ttl {
        assert!(
            !ping_from(&lab, SHORT_IP),
            "the 6 s block drops until it ends"
        );
    }
    // The short block ends while no daemon runs: the kernel enforces its expiry.
    let give_up = Instant::now() + Duration::from_secs(30);
    while !ping_from(&lab, SHORT_IP) {
        assert!(
            Instant::now() < give_up,
            "the 6 s block still drops 30 s later"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(blocked_at.elapsed() >= ttl, "answered before the TTL ended");
    assert!(!ping_from(&lab, ATTACKER_IP), "the 1 h block still drops");

    // The next daemon adopts the program and the maps; the long block keeps its TTL.
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let d2 = start_in_victim(&lab, dir, &env);
    assert_eq!(stats(&d2)["pinned"], true);
    assert!(d2.log().contains("Adopted"), "{}", d2.log());
    let b = common::wait_for(10, "the expired block to be collected", || {
        let b = blocks(&d2);
        (b.len() == 1).then_some(b)
    });
    assert_eq!(b[0]["cidr"], ATTACKER_IP);
    assert!(b[0]["expires_at"].is_string(), "{b:?}");
    assert!(
        !ping_from(&lab, ATTACKER_IP),
        "still dropped under the new daemon"
    );
    assert!(ping_from(&lab, SHORT_IP));
}

#[test]
fn a_zeroed_blocklist_snapshot_is_reported_and_rebuilt_from_the_pinned_maps() {
    let lab = Lab::new("zero");
    let fs = BpfFs::mount();
    let pin = fs.pin_path();
    let env = [("IRONPOST_EBPF_PIN_PATH", pin.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_owned();
    let mut d = start_in_victim(&lab, dir, &env);
    block(&d, ATTACKER_IP, "1h");
    assert!(d.stop().success(), "{}", d.log());
    let snapshot = keep.join("data/ebpf/blocklist.json");
    let written = std::fs::read_to_string(&snapshot).unwrap();
    assert!(
        written.contains(ATTACKER_IP),
        "the stop wrote the snapshot: {written}"
    );
    // A power loss after the rename but before the data reached the disk: zeroes.
    std::fs::write(&snapshot, vec![0u8; written.len()]).unwrap();
    assert!(
        !ping_from(&lab, ATTACKER_IP),
        "the pinned program enforces while stopped"
    );

    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    let d2 = start_in_victim(&lab, dir, &env);
    let log = d2.log();
    assert!(
        log.contains("blocklist.json is damaged") && log.contains("WARN"),
        "a warning names the file: {log}"
    );
    let (_, m) = lab_get(&lab, &d2, "/metrics");
    assert!(
        m.contains("ironpost_ebpf_state_corrupt_total{file=\"blocklist.json\"} 1"),
        "{m}"
    );
    let aside = std::fs::read_dir(keep.join("data/ebpf"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("blocklist.json.corrupt-")
        });
    assert!(aside, "the damaged file is kept aside");
    // Rebuilt from the pinned map: the block and its TTL are back.
    let b = blocks(&d2);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0]["cidr"], ATTACKER_IP);
    assert!(
        b[0]["expires_at"].is_string(),
        "the TTL came back from the kernel entry"
    );
    assert!(!ping_from(&lab, ATTACKER_IP));
}
