//! The typed map API against the real kernel: stats and hit counters counted to the packet and
//! byte, block/allow list management (host entries and prefixes, which live in different maps),
//! the map-full error, the event token bucket and ring-buffer overflow accounting, and seed 002's
//! rules installed end to end.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use ironpost_core::{PacketAction, Protocol};
use ironpost_ebpf_engine::{
    AllowEntry, BlockEntry, EbpfConfig, Error, HitCount, KernelCounters, LoadOptions, MatchRule,
    ProtoCounters, RuleAction, TrafficStats, XdpAction, rules,
};

fn cidr(s: &str) -> ironpost_core::net::Cidr {
    s.parse().unwrap()
}

fn counters(packets: u64, bytes: usize, drops: u64) -> ProtoCounters {
    ProtoCounters {
        packets,
        bytes: bytes as u64,
        drops,
    }
}

#[test]
fn stats_and_hits_count_exactly() {
    let mut f = load();
    f.insert_block(cidr("10.0.0.1"), 7, RuleAction::Drop)
        .unwrap();
    f.insert_allow(cidr("10.5.0.0/16"), 9).unwrap();

    let tcp_pass = tcp("192.0.2.50", "192.0.2.1", 443, ACK)
        .payload(100)
        .bytes();
    let tcp_drop = tcp("10.0.0.1", "192.0.2.1", 443, ACK).bytes();
    let tcp_allow = tcp("10.5.1.1", "192.0.2.1", 443, ACK)
        .vlan(TPID_8021Q)
        .bytes();
    let udp_pass = udp("2001:db8::5", "2001:db8::1", 53).payload(20).bytes();
    let icmp4 = icmp("192.0.2.50", "192.0.2.1").bytes();
    let icmp6 = icmp("2001:db8::5", "2001:db8::1").bytes();
    let gre = Pkt::new("192.0.2.50", "192.0.2.1", L4::Proto(47)).bytes();
    let arp = arp();
    let cut = tcp_pass[..30].to_vec();
    let tiny = vec![0u8; 9];

    // (frame, repeat, expected verdict)
    let runs: [(&[u8], u32, XdpAction); 10] = [
        (&tcp_pass, 3, XdpAction::Pass),
        (&tcp_drop, 2, XdpAction::Drop),
        (&tcp_allow, 4, XdpAction::Pass),
        (&udp_pass, 1, XdpAction::Pass),
        (&icmp4, 1, XdpAction::Pass),
        (&icmp6, 5, XdpAction::Pass),
        (&gre, 1, XdpAction::Pass),
        (&arp, 1, XdpAction::Pass),
        (&cut, 1, XdpAction::Pass),
        (&tiny, 1, XdpAction::Pass),
    ];
    for (frame, repeat, want) in runs {
        assert_eq!(
            f.test_run(frame, repeat).unwrap(),
            want,
            "{} bytes",
            frame.len()
        );
    }

    let tcp = counters(
        9,
        3 * tcp_pass.len() + 2 * tcp_drop.len() + 4 * tcp_allow.len(),
        2,
    );
    let udp = counters(1, udp_pass.len(), 0);
    let icmp = counters(6, icmp4.len() + 5 * icmp6.len(), 0);
    let other = counters(4, gre.len() + arp.len() + cut.len() + tiny.len(), 0);
    let total = counters(
        tcp.packets + udp.packets + icmp.packets + other.packets,
        (tcp.bytes + udp.bytes + icmp.bytes + other.bytes) as usize,
        2,
    );
    assert_eq!(
        f.read_stats().unwrap(),
        TrafficStats {
            tcp,
            udp,
            icmp,
            other,
            total
        }
    );
    assert_eq!(
        f.read_counters().unwrap(),
        KernelCounters {
            malformed: 2,
            ..KernelCounters::default()
        }
    );
    let hit = |packets: u64, bytes: usize| HitCount {
        packets,
        bytes: bytes as u64,
    };
    assert_eq!(
        f.read_hits().unwrap(),
        BTreeMap::from([
            (7, hit(2, 2 * tcp_drop.len())),
            (9, hit(4, 4 * tcp_allow.len()))
        ])
    );
    // A removed entry's counters go with it; a new entry (which may reuse the slot) starts
    // from zero, and a replaced one keeps counting.
    assert!(f.remove_block(cidr("10.0.0.1")).unwrap());
    f.insert_block(cidr("10.0.0.1"), 8, RuleAction::Drop)
        .unwrap();
    f.insert_allow(cidr("10.5.0.0/16"), 9).unwrap();
    assert_eq!(
        f.read_hits().unwrap().keys().copied().collect::<Vec<_>>(),
        [9]
    );
    assert_eq!(f.test_run(&tcp_drop, 1).unwrap(), XdpAction::Drop);
    assert_eq!(
        f.read_hits().unwrap(),
        BTreeMap::from([
            (8, hit(1, tcp_drop.len())),
            (9, hit(4, 4 * tcp_allow.len()))
        ])
    );
}

#[test]
fn block_and_allow_entries_are_listed_replaced_and_removed() {
    let mut f = load();
    let blocks = [
        ("10.0.0.1", 1, RuleAction::Drop),
        ("10.1.0.0/24", 2, RuleAction::Monitor),
        ("2001:db8::/64", 3, RuleAction::Drop),
        ("2001:db8:1::7", 4, RuleAction::Monitor),
    ];
    for (c, id, action) in blocks {
        f.insert_block(cidr(c), id, action).unwrap();
    }
    f.insert_allow(cidr("10.1.0.128/25"), 50).unwrap();
    f.insert_allow(cidr("2001:db8::8"), 51).unwrap();
    let listed: BTreeSet<_> = f
        .list_blocks()
        .unwrap()
        .into_iter()
        .map(|b| (b.cidr.to_string(), b.rule_id, b.action == RuleAction::Drop))
        .collect();
    let want: BTreeSet<_> = blocks
        .iter()
        .map(|(c, id, a)| (c.to_string(), *id, *a == RuleAction::Drop))
        .collect();
    assert_eq!(listed, want);
    let allows = f.list_allows().unwrap();
    assert_eq!(allows.len(), 2);
    assert!(allows.contains(&AllowEntry {
        cidr: cidr("2001:db8::8"),
        rule_id: 51
    }));

    let from_v6 = tcp("2001:db8::9", "2001:db8:ff::1", 80, ACK).bytes();
    assert_eq!(f.test_run(&from_v6, 1).unwrap(), XdpAction::Drop);
    // Replacing an entry changes its action in place.
    f.insert_block(cidr("2001:db8::/64"), 30, RuleAction::Monitor)
        .unwrap();
    assert!(f.list_blocks().unwrap().contains(&BlockEntry {
        cidr: cidr("2001:db8::/64"),
        rule_id: 30,
        action: RuleAction::Monitor,
        expires: None,
    }));
    assert_eq!(f.test_run(&from_v6, 1).unwrap(), XdpAction::Pass);

    let from_v4 = udp("10.0.0.1", "192.0.2.1", 53).bytes();
    assert_eq!(f.test_run(&from_v4, 1).unwrap(), XdpAction::Drop);
    assert!(f.remove_block(cidr("10.0.0.1")).unwrap());
    assert!(!f.remove_block(cidr("10.0.0.1")).unwrap());
    // Removal is exact, not longest-prefix: a covering /24 is not an entry.
    assert!(!f.remove_block(cidr("10.0.0.0/24")).unwrap());
    assert_eq!(f.test_run(&from_v4, 1).unwrap(), XdpAction::Pass);
    assert_eq!(f.list_blocks().unwrap().len(), 3);

    assert!(f.remove_allow(cidr("2001:db8::8")).unwrap());
    assert!(!f.remove_allow(cidr("2001:db8::8")).unwrap());
    assert_eq!(f.list_allows().unwrap().len(), 1);

    assert!(matches!(
        f.insert_block(cidr("10.9.9.9"), 0, RuleAction::Drop),
        Err(Error::ReservedRuleId)
    ));
    assert!(matches!(
        f.insert_allow(cidr("10.9.9.9"), 0),
        Err(Error::ReservedRuleId)
    ));
    let too_many: Vec<MatchRule> = (1..=65)
        .map(|id| MatchRule {
            rule_id: id,
            action: RuleAction::Drop,
            src: None,
            dst: None,
            dst_port: Some(1),
            protocol: None,
        })
        .collect();
    assert!(matches!(
        f.set_match_rules(&too_many),
        Err(Error::TooManyMatchRules { count: 65, max: 64 })
    ));
    f.set_match_rules(&too_many[..64]).unwrap();
}

#[test]
fn a_full_blocklist_names_the_setting() {
    let mut f = load_with(LoadOptions {
        blocklist_max_entries: 4,
        ..LoadOptions::default()
    });
    for i in 1..=4 {
        f.insert_block(cidr(&format!("10.0.0.{i}")), i, RuleAction::Drop)
            .unwrap();
        f.insert_block(cidr(&format!("2001:db8::{i}")), 10 + i, RuleAction::Drop)
            .unwrap();
    }
    let err = f
        .insert_block(cidr("10.0.0.5"), 5, RuleAction::Drop)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::MapFull {
                map: "blocklist_v4",
                max_entries: 4,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("blocklist_max_entries") && msg.contains("10.0.0.5"),
        "{msg}"
    );
    let err = f
        .insert_block(cidr("2001:db8::/32"), 15, RuleAction::Drop)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MapFull {
                map: "blocklist_v6",
                ..
            }
        ),
        "{err:?}"
    );

    assert!(f.remove_block(cidr("10.0.0.2")).unwrap());
    f.insert_block(cidr("10.0.0.5"), 5, RuleAction::Drop)
        .unwrap();
    assert_eq!(f.list_blocks().unwrap().len(), 8);
}

/// A /32 (/128) lives in the host map, its covering prefix in the trie: both are listed, each
/// decides for the addresses it is the longest prefix of, and each is removed on its own.
#[test]
fn host_entries_and_covering_prefixes_are_separate_entries() {
    let mut f = load();
    let entries = [
        ("10.0.0.1", 1),
        ("10.0.0.0/24", 2),
        ("2001:db8::1", 3),
        ("2001:db8::/64", 4),
    ];
    for (c, id) in entries {
        f.insert_block(cidr(c), id, RuleAction::Drop).unwrap();
    }
    let listed: BTreeSet<_> = f
        .list_blocks()
        .unwrap()
        .into_iter()
        .map(|b| (b.cidr.to_string(), b.rule_id))
        .collect();
    let want: BTreeSet<_> = entries.iter().map(|(c, id)| (c.to_string(), *id)).collect();
    assert_eq!(listed, want);

    let host4 = udp("10.0.0.1", "192.0.2.1", 53).bytes();
    let net4 = udp("10.0.0.2", "192.0.2.1", 53).bytes();
    let host6 = udp("2001:db8::1", "2001:db8:ff::1", 53).bytes();
    let net6 = udp("2001:db8::2", "2001:db8:ff::1", 53).bytes();
    for frame in [&host4, &net4, &host6, &net6] {
        assert_eq!(f.test_run(frame, 1).unwrap(), XdpAction::Drop);
    }
    // Each drop was counted for the entry that decided it.
    let hits: Vec<(u32, u64)> = f
        .read_hits()
        .unwrap()
        .into_iter()
        .map(|(id, h)| (id, h.packets))
        .collect();
    assert_eq!(hits, [(1, 1), (2, 1), (3, 1), (4, 1)]);

    // Without the host entry the covering prefix still drops the address.
    assert!(f.remove_block(cidr("10.0.0.1")).unwrap());
    assert!(f.remove_block(cidr("2001:db8::1")).unwrap());
    assert_eq!(f.test_run(&host4, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.test_run(&host6, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.read_hits().unwrap()[&2].packets, 2);
    assert_eq!(f.read_hits().unwrap()[&4].packets, 2);
    // Removal is exact: the prefixes are still there, the hosts are not.
    assert!(!f.remove_block(cidr("10.0.0.1")).unwrap());
    assert_eq!(f.list_blocks().unwrap().len(), 2);

    // Without the prefix the host entry still drops its address, and only it.
    f.insert_block(cidr("10.0.0.1"), 5, RuleAction::Drop)
        .unwrap();
    assert!(f.remove_block(cidr("10.0.0.0/24")).unwrap());
    assert!(!f.remove_block(cidr("10.0.0.0/24")).unwrap());
    assert_eq!(f.test_run(&host4, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.test_run(&net4, 1).unwrap(), XdpAction::Pass);
    assert_eq!(f.read_hits().unwrap()[&5].packets, 1);

    assert!(f.remove_block(cidr("10.0.0.1")).unwrap());
    assert!(f.remove_block(cidr("2001:db8::/64")).unwrap());
    assert!(f.list_blocks().unwrap().is_empty());
    for frame in [&host4, &net4, &host6, &net6] {
        assert_eq!(f.test_run(frame, 1).unwrap(), XdpAction::Pass);
    }
}

/// The program skips the lists userspace reports empty: every list must be looked up again
/// from its first entry, and the allowlist must keep winning over a host entry.
#[test]
fn lists_take_effect_when_they_stop_being_empty() {
    let mut f = load();
    let from4 = tcp("10.0.0.1", "192.0.2.1", 80, ACK).bytes();
    let from6 = tcp("2001:db8::5", "2001:db8:ff::1", 80, ACK).bytes();
    let run = |f: &mut ironpost_ebpf_engine::XdpFilter| {
        (
            f.test_run(&from4, 1).unwrap(),
            f.test_run(&from6, 1).unwrap(),
        )
    };
    use XdpAction::{Drop, Pass};
    assert_eq!(run(&mut f), (Pass, Pass));

    f.insert_block(cidr("10.0.0.1"), 1, RuleAction::Drop)
        .unwrap();
    f.insert_allow(cidr("2001:db8::/32"), 2).unwrap();
    assert_eq!(run(&mut f), (Drop, Pass));

    // The allowlist wins over a host entry, in either order of insertion.
    f.insert_allow(cidr("10.0.0.0/8"), 3).unwrap();
    f.insert_block(cidr("2001:db8::5"), 4, RuleAction::Drop)
        .unwrap();
    assert_eq!(run(&mut f), (Pass, Pass));
    assert_eq!(f.read_hits().unwrap()[&3].packets, 1);
    assert_eq!(f.read_hits().unwrap()[&2].packets, 2);

    // The allowlists empty again: the host entries decide.
    assert!(f.remove_allow(cidr("10.0.0.0/8")).unwrap());
    assert!(f.remove_allow(cidr("2001:db8::/32")).unwrap());
    assert_eq!(run(&mut f), (Drop, Drop));

    // Host maps empty, tries filled: the tries decide.
    assert!(f.remove_block(cidr("10.0.0.1")).unwrap());
    assert!(f.remove_block(cidr("2001:db8::5")).unwrap());
    assert_eq!(run(&mut f), (Pass, Pass));
    f.insert_block(cidr("10.0.0.0/30"), 5, RuleAction::Drop)
        .unwrap();
    f.insert_block(cidr("2001:db8::/125"), 6, RuleAction::Drop)
        .unwrap();
    assert_eq!(run(&mut f), (Drop, Drop));
    assert!(f.remove_block(cidr("10.0.0.0/30")).unwrap());
    assert!(f.remove_block(cidr("2001:db8::/125")).unwrap());
    assert_eq!(run(&mut f), (Pass, Pass));
}

/// `blocklist_max_entries` bounds each family's host entries and prefixes together; replacing
/// an entry of a full blocklist is not an insert.
#[test]
fn a_full_blocklist_counts_host_entries_and_prefixes_together() {
    let mut f = load_with(LoadOptions {
        blocklist_max_entries: 4,
        ..LoadOptions::default()
    });
    for (c, id) in [
        ("10.0.0.1", 1),
        ("10.0.0.2", 2),
        ("10.1.0.0/16", 3),
        ("10.2.0.0/16", 4),
    ] {
        f.insert_block(cidr(c), id, RuleAction::Drop).unwrap();
    }
    for c in ["10.0.0.3", "10.3.0.0/16"] {
        let err = f.insert_block(cidr(c), 5, RuleAction::Drop).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::MapFull {
                    map: "blocklist_v4",
                    max_entries: 4,
                    setting: "blocklist_max_entries",
                    ..
                }
            ),
            "{c}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("blocklist_max_entries") && msg.contains(c),
            "{msg}"
        );
    }

    // Full, but an existing entry can change.
    f.insert_block(cidr("10.0.0.1"), 11, RuleAction::Monitor)
        .unwrap();
    f.insert_block(cidr("10.1.0.0/16"), 13, RuleAction::Monitor)
        .unwrap();
    let blocks = f.list_blocks().unwrap();
    assert_eq!(blocks.len(), 4);
    for (c, id) in [("10.0.0.1", 11), ("10.1.0.0/16", 13)] {
        assert!(
            blocks.contains(&BlockEntry {
                cidr: cidr(c),
                rule_id: id,
                action: RuleAction::Monitor,
                expires: None,
            }),
            "{c}: {blocks:?}"
        );
    }
    assert_eq!(
        f.test_run(&tcp("10.0.0.1", "192.0.2.1", 80, ACK).bytes(), 1)
            .unwrap(),
        XdpAction::Pass
    );

    // IPv6 has its own four.
    for (c, id) in [
        ("2001:db8::1", 21),
        ("2001:db8::2", 22),
        ("2001:db8:1::/48", 23),
        ("2001:db8:2::/48", 24),
    ] {
        f.insert_block(cidr(c), id, RuleAction::Drop).unwrap();
    }
    assert!(matches!(
        f.insert_block(cidr("2001:db8::3"), 25, RuleAction::Drop),
        Err(Error::MapFull {
            map: "blocklist_v6",
            max_entries: 4,
            ..
        })
    ));

    // Removing a host entry makes room for a prefix.
    assert!(f.remove_block(cidr("10.0.0.2")).unwrap());
    f.insert_block(cidr("10.3.0.0/16"), 5, RuleAction::Drop)
        .unwrap();
    assert_eq!(f.list_blocks().unwrap().len(), 8);
}

/// Pins the calling test thread to one CPU, so every BPF_PROG_TEST_RUN iteration of the thread
/// uses the same per-CPU token bucket.
#[allow(unsafe_code)]
fn pin_to_one_cpu() {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_setaffinity(0, ...) only reads
    // it and changes the calling thread's affinity.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn the_token_bucket_caps_events_and_counts_the_rest() {
    pin_to_one_cpu();
    let mut f = load_with(LoadOptions {
        events_per_second: 0, // no refill: exactly `burst` events, whatever the timing
        events_burst: 10,
        ..LoadOptions::default()
    });
    let mut reader = f.take_event_reader().unwrap();
    assert!(f.take_event_reader().is_none());
    let syn = tcp("198.51.100.7", "192.0.2.1", 80, SYN).bytes();
    assert_eq!(f.test_run(&syn, 100).unwrap(), XdpAction::Pass);
    let events = reader.drain(1000);
    assert_eq!(events.len(), 10);
    assert!(
        events
            .iter()
            .all(|e| e.tcp_flags == Some(SYN) && e.rule_id.is_none())
    );
    let c = f.read_counters().unwrap();
    assert_eq!(
        (c.events_sent, c.events_rate_limited, c.events_ringbuf_full),
        (10, 90, 0)
    );
    assert_eq!(f.read_stats().unwrap().tcp.packets, 100);

    // A bigger bucket does not refill an empty one: only the rate does, and it is still 0.
    f.set_event_rate(0, 20).unwrap();
    f.test_run(&syn, 5).unwrap();
    assert_eq!(reader.drain(1000).len(), 0);
    assert_eq!(f.read_counters().unwrap().events_rate_limited, 95);
    assert_eq!(reader.bad_records(), 0);
}

#[test]
fn a_full_ring_buffer_loses_events_and_counts_them() {
    let mut f = load_with(LoadOptions {
        ring_buffer_size: 4096,
        events_per_second: 1_000_000,
        events_burst: 1_000_000,
        ..LoadOptions::default()
    });
    let mut reader = f.take_event_reader().unwrap();
    let syn = tcp("2001:db8::7", "2001:db8::1", 22, SYN).bytes();
    f.test_run(&syn, 200).unwrap();
    let c = f.read_counters().unwrap();
    assert_eq!(c.events_sent + c.events_ringbuf_full, 200, "{c:?}");
    assert!(c.events_ringbuf_full > 0 && c.events_sent > 0, "{c:?}");
    assert_eq!(reader.drain(1000).len() as u64, c.events_sent);
    // Drained: room again.
    f.test_run(&syn, 1).unwrap();
    assert_eq!(reader.drain(10).len(), 1);
}

const SEED_002: &str = r#"
enabled = true
interface = "eth0"
xdp_mode = "native"
ring_buffer_size = 262144
blocklist_max_entries = 10000
allowlist = ["10.0.0.0/30"]

[[rules]]
id = "block_scanner"
description = "Block port scanner"
src_ip = "10.0.0.1"
action = "drop"

[[rules]]
id = "monitor_ssh"
description = "Monitor SSH traffic"
dst_port = 22
protocol = 6  # TCP
action = "monitor"

[[rules]]
id = "block_scanner_v6"
src_ip = "2001:db8:bad::/48"
action = "drop"
"#;

#[test]
fn seed_002_rules_run_in_the_kernel() {
    let cfg: EbpfConfig = toml::from_str(SEED_002).unwrap();
    let compiled = rules::compile(&cfg.rules);
    let mut f = load_with(LoadOptions::from_config(&cfg));
    for (c, id, action) in &compiled.blocks {
        f.insert_block(*c, *id, *action).unwrap();
    }
    f.set_match_rules(&compiled.match_rules).unwrap();
    let mut reader = f.take_event_reader().unwrap();

    let cases = [
        (tcp("10.0.0.1", "192.0.2.1", 80, ACK), XdpAction::Drop),
        (udp("2001:db8:bad:1::1", "2001:db8::1", 53), XdpAction::Drop),
        (tcp("192.0.2.50", "192.0.2.1", 22, ACK), XdpAction::Pass),
    ];
    for (pkt, want) in &cases {
        assert_eq!(f.test_run(&pkt.bytes(), 1).unwrap(), *want, "{pkt:?}");
    }
    let events: Vec<_> = reader
        .drain(10)
        .into_iter()
        .map(|e| {
            let name = e.rule_id.and_then(|id| compiled.names.get(&id).cloned());
            e.into_packet_event(name)
        })
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].rule_id.as_deref(), Some("monitor_ssh"));
    assert_eq!(events[0].action, PacketAction::Monitor);
    assert_eq!(
        (events[0].protocol, events[0].dst_port),
        (Protocol::Tcp, Some(22))
    );

    // The allowlist from the config beats block_scanner.
    f.insert_allow(cfg.allowlist[0], compiled.next_rule_id)
        .unwrap();
    assert_eq!(
        f.test_run(&tcp("10.0.0.1", "192.0.2.1", 80, ACK).bytes(), 1)
            .unwrap(),
        XdpAction::Pass
    );
}
