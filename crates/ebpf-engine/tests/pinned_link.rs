//! Enforcement that outlives its loader: the program attached through a BPF link pinned on a
//! bpffs mounted for the test keeps dropping real packets after the loader is gone, a TTL
//! written into a pinned entry ends on time with no loader at all, a new loader adopts the
//! pinned maps (entries keep their expiry) and swaps its own program into the pinned link, and
//! `detach` (then `remove_pins`) leaves nothing behind. Real traffic is `ping` over `lo` in a
//! private network namespace (per test thread): the host's interfaces are never touched.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ironpost_ebpf_engine::clock::MonoTime;
use ironpost_ebpf_engine::{LoadOptions, PinnedAttach, RuleAction, XdpMode};

/// One ICMP echo from `src` (an address of `lo`) to itself; true when answered.
fn ping(addr: &str) -> bool {
    Command::new("ping")
        .args(["-c", "1", "-W", "1", "-n", "-q", "-I", addr, addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run ping (iputils-ping)")
        .success()
}

fn lo_up() {
    let o = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .output()
        .expect("run ip (iproute2)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn pinned(dir: PathBuf) -> LoadOptions {
    LoadOptions {
        pin_path: Some(dir),
        ..LoadOptions::default()
    }
}

fn cidr(s: &str) -> ironpost_core::net::Cidr {
    s.parse().unwrap()
}

#[test]
fn a_pinned_link_keeps_dropping_after_its_loader_and_is_adopted() {
    private_netns();
    lo_up();
    let fs = BpfFs::mount();
    let dir = fs.path().join("ironpost").join("lo");
    let link = dir.join(ironpost_ebpf_engine::LINK_PIN);
    const BLOCKED: &str = "127.0.0.1";
    const SHORT: &str = "127.0.0.2";
    assert!(ping(BLOCKED) && ping(SHORT), "lo answers before any block");

    let ttl = Duration::from_secs(3);
    let deadline = MonoTime::now().after(ttl);
    let written = Instant::now();
    {
        let mut a = load_with(pinned(dir.clone()));
        a.insert_block(cidr(BLOCKED), 1_000_001, RuleAction::Drop)
            .unwrap();
        a.insert_block_until(cidr(SHORT), 1_000_002, RuleAction::Drop, Some(deadline))
            .unwrap();
        let how = a
            .attach_pinned("lo", XdpMode::Skb, &link)
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        assert_eq!(how, PinnedAttach::Created);
        assert!(a.pinned_link());
        assert!(!ping(BLOCKED), "dropped while the loader lives");
        // Dropping the loader (as a SIGKILL would) closes its fds; the pin holds the link.
    }
    assert!(link.exists(), "the link is pinned");
    assert!(!ping(BLOCKED), "still dropped with no loader");
    if written.elapsed() < ttl {
        assert!(!ping(SHORT), "the short block drops until its deadline");
    }
    // The short TTL ends on time, enforced by the kernel alone.
    let give_up = Instant::now() + Duration::from_secs(20);
    while !ping(SHORT) {
        assert!(
            Instant::now() < give_up,
            "still dropped long after its 3 s TTL"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(MonoTime::now() >= deadline, "answered before the deadline");
    assert!(!ping(BLOCKED), "the permanent block still drops");

    // A new loader adopts the maps (expiry included) and the link.
    let mut b = load_with(pinned(dir.clone()));
    let mut blocks = b.list_blocks().unwrap();
    blocks.sort_by_key(|e| e.rule_id);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!((blocks[0].cidr, blocks[0].expires), (cidr(BLOCKED), None));
    // The expiry as the program enforces it, converted back through this loader's own reading
    // of the kernel clocks: the deadline to within two ticks (20 ms at HZ=100).
    let adopted = blocks[1].expires.expect("the short block keeps its expiry");
    assert_eq!(blocks[1].cidr, cidr(SHORT));
    assert!(
        adopted.0.abs_diff(deadline.0) <= 20_000_000,
        "{deadline:?} adopted as {adopted:?}"
    );
    let how = b
        .attach_pinned("lo", XdpMode::Skb, &link)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(how, PinnedAttach::Adopted);
    // The link now runs b's program: only b's (unpinned) stats map sees the packets.
    let before = b.read_stats().unwrap().total.drops;
    assert!(!ping(BLOCKED));
    assert!(
        b.read_stats().unwrap().total.drops > before,
        "b's program drops the echo"
    );
    assert!(b.read_hits().unwrap()[&1_000_001].packets >= 1);
    // b's map changes reach the running program.
    assert!(b.remove_block(cidr(BLOCKED)).unwrap());
    assert!(ping(BLOCKED), "unblocked by the adopting loader");

    // Detaching unpins the link: the program stops, even with a block in place.
    b.insert_block(cidr(BLOCKED), 1_000_003, RuleAction::Drop)
        .unwrap();
    assert!(!ping(BLOCKED));
    b.detach().unwrap();
    assert!(!link.exists(), "detach removes the link pin");
    assert!(ping(BLOCKED), "no program after detach");
    drop(b);
    let removed = ironpost_ebpf_engine::remove_pins(&dir).unwrap();
    assert!(
        removed.iter().any(|p| p.ends_with("block_hosts_v4")),
        "{removed:?}"
    );
    assert!(!dir.exists(), "nothing left under {}", dir.display());
}

#[test]
fn a_pin_that_is_not_a_usable_link_is_replaced() {
    private_netns();
    lo_up();
    let fs = BpfFs::mount();
    let dir = fs.path().join("ironpost").join("lo");
    let link = dir.join(ironpost_ebpf_engine::LINK_PIN);
    let mut a = load_with(pinned(dir.clone()));
    // A map pinned where the link belongs (a stray object at that path).
    std::fs::rename(dir.join("hits"), &link).unwrap();
    let how = a
        .attach_pinned("lo", XdpMode::Skb, &link)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(how, PinnedAttach::Created);
    a.insert_block(cidr("127.0.0.1"), 1_000_001, RuleAction::Drop)
        .unwrap();
    assert!(!ping("127.0.0.1"), "the fresh link runs the program");
    a.detach().unwrap();
    assert!(ping("127.0.0.1"));
    drop(a);
    ironpost_ebpf_engine::remove_pins(&dir).unwrap();
}
