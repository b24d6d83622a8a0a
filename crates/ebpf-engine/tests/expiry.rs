//! Expiry enforced by the kernel, through BPF_PROG_TEST_RUN: an entry whose deadline (given on
//! `CLOCK_MONOTONIC_COARSE`, compared by the program in jiffies) has passed is ignored and counted, one whose deadline is ahead drops, a
//! permanent one drops; an expired host entry falls back to a live shorter prefix; a deadline
//! reached while the program runs stops the drops without anything removing the entry.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ironpost_ebpf_engine::clock::MonoTime;
use ironpost_ebpf_engine::{RuleAction, XdpAction};

fn cidr(s: &str) -> ironpost_core::net::Cidr {
    s.parse().unwrap()
}

#[test]
fn past_deadlines_pass_future_and_permanent_ones_drop() {
    let mut f = load();
    let now = MonoTime::now();
    let past = MonoTime(now.0 - 1);
    let future = now.after(Duration::from_secs(3600));
    let cases = [
        ("198.18.1.1", Some(past), XdpAction::Pass),
        ("198.18.1.2", Some(future), XdpAction::Drop),
        ("198.18.1.3", None, XdpAction::Drop),
        ("2001:db8::1", Some(past), XdpAction::Pass),
        ("2001:db8::2", Some(future), XdpAction::Drop),
        ("2001:db8::3", None, XdpAction::Drop),
    ];
    for (i, (src, expires, _)) in (1u32..).zip(cases) {
        f.insert_block_until(cidr(src), i, RuleAction::Drop, expires)
            .unwrap();
    }
    // Prefixes (tries) expire the same way.
    f.insert_block_until(cidr("198.18.2.0/24"), 20, RuleAction::Drop, Some(past))
        .unwrap();
    f.insert_block_until(cidr("2001:db8:1::/48"), 21, RuleAction::Drop, Some(future))
        .unwrap();
    for (src, _, want) in cases {
        let dst = if src.contains(':') {
            "2001:db8::ff"
        } else {
            "198.18.0.2"
        };
        let frame = tcp(src, dst, 80, ACK).bytes();
        assert_eq!(f.test_run(&frame, 1).unwrap(), want, "{src}");
    }
    let net_past = udp("198.18.2.7", "198.18.0.2", 53).bytes();
    let net_future = udp("2001:db8:1::7", "2001:db8::ff", 53).bytes();
    assert_eq!(f.test_run(&net_past, 1).unwrap(), XdpAction::Pass);
    assert_eq!(f.test_run(&net_future, 1).unwrap(), XdpAction::Drop);

    // Three expired entries were met (two hosts, one prefix), each passed and counted.
    assert_eq!(f.read_counters().unwrap().expired_passed, 3);
    let hits = f.read_hits().unwrap();
    assert!(
        !hits.contains_key(&1),
        "an expired entry counts no hit: {hits:?}"
    );
    assert_eq!(hits[&2].packets, 1);
    // The expiry reads back as the instant the program stops dropping: one to two ticks (at
    // most 20 ms at HZ=100) after the deadline.
    let listed = f.list_blocks().unwrap();
    let e = listed
        .iter()
        .find(|b| b.cidr == cidr("198.18.1.2"))
        .unwrap();
    let back = e.expires.unwrap();
    assert!(
        back > future && back.0 - future.0 <= 20_000_000,
        "{future:?} read back as {back:?}"
    );
    let e = listed
        .iter()
        .find(|b| b.cidr == cidr("198.18.1.3"))
        .unwrap();
    assert_eq!(e.expires, None);
}

#[test]
fn an_expired_host_entry_falls_back_to_a_live_prefix() {
    let mut f = load();
    let past = MonoTime(MonoTime::now().0 - 1);
    f.insert_block_until(cidr("198.18.3.9"), 1, RuleAction::Drop, Some(past))
        .unwrap();
    f.insert_block(cidr("198.18.3.0/24"), 2, RuleAction::Drop)
        .unwrap();
    let frame = tcp("198.18.3.9", "198.18.0.2", 22, SYN).bytes();
    assert_eq!(f.test_run(&frame, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.read_hits().unwrap()[&2].packets, 1);
    // Renewing the host entry makes it the deciding one again.
    f.insert_block_until(
        cidr("198.18.3.9"),
        1,
        RuleAction::Drop,
        Some(MonoTime::now().after(Duration::from_secs(60))),
    )
    .unwrap();
    assert_eq!(f.test_run(&frame, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.read_hits().unwrap()[&1].packets, 1);
}

#[test]
fn a_deadline_reached_stops_the_drops_with_the_entry_still_there() {
    let mut f = load();
    let ttl = Duration::from_millis(1500);
    let deadline = MonoTime::now().after(ttl);
    let start = Instant::now();
    f.insert_block_until(cidr("198.18.4.4"), 1, RuleAction::Drop, Some(deadline))
        .unwrap();
    let frame = icmp("198.18.4.4", "198.18.0.2").bytes();
    // Dropped while the deadline is ahead (this check runs well within the TTL, which is what
    // the elapsed-time guard establishes; it asserts no duration).
    let verdict = f.test_run(&frame, 1).unwrap();
    if start.elapsed() < ttl {
        assert_eq!(verdict, XdpAction::Drop);
    }
    // Passed once it is behind, though nobody removed the entry.
    let deadline_at = Instant::now() + Duration::from_secs(20);
    loop {
        if f.test_run(&frame, 1).unwrap() == XdpAction::Pass {
            break;
        }
        assert!(
            Instant::now() < deadline_at,
            "still dropped 20 s after a 1.5 s TTL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(MonoTime::now() >= deadline, "passed before its deadline");
    assert_eq!(
        f.list_blocks().unwrap().len(),
        1,
        "the entry is still in the map"
    );
}
