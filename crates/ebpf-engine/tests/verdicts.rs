//! Every verdict path of the XDP program, IPv4 and IPv6, through BPF_PROG_TEST_RUN on crafted
//! frames: one filter with a fixed set of blocklist, allowlist and match-rule entries, and a
//! table of packets with the verdict and the event (if any) each must produce.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ironpost_core::{PacketAction, Protocol};
use ironpost_ebpf_engine::{EventReader, KernelEvent, MatchRule, RuleAction, XdpAction, XdpFilter};

use RuleAction::{Drop as D, Monitor as M};
use XdpAction::{Drop, Pass};

const BLOCKS: &[(&str, u32, RuleAction)] = &[
    ("10.0.0.1", 1, D),
    ("10.1.0.0/24", 2, D),
    ("10.2.0.0/16", 3, D),
    ("10.3.0.0/24", 4, M),
    ("2001:db8::1", 5, D),
    ("2001:db8:1::/64", 6, D),
    ("2001:db8:2::/48", 7, D),
    ("2001:db8:3::/64", 8, M),
    // Host entries (/32, /128: the host maps) inside the prefixes above (the tries). The host
    // entry is the longer prefix, so it decides; the allowlist still beats it.
    ("10.1.0.200", 9, M),
    ("10.3.0.200", 10, D),
    ("10.2.3.7", 11, D),
    ("2001:db8:1::200", 12, M),
    ("2001:db8:3::200", 13, D),
    ("2001:db8:2:3::7", 14, D),
];
const ALLOWS: &[(&str, u32)] = &[("10.2.3.0/24", 100), ("2001:db8:2:3::/64", 101)];

fn match_rules() -> Vec<MatchRule> {
    let rule =
        |rule_id, action, src: Option<&str>, dst: Option<&str>, dst_port, protocol| MatchRule {
            rule_id,
            action,
            src: src.map(|s| s.parse().unwrap()),
            dst: dst.map(|s| s.parse().unwrap()),
            dst_port,
            protocol,
        };
    vec![
        // seed 002's monitor_ssh: dst_port = 22, protocol = 6
        rule(20, M, None, None, Some(22), Some(Protocol::Tcp)),
        rule(21, D, None, Some("192.0.2.99"), None, Some(Protocol::Udp)),
        rule(22, D, Some("10.9.0.0/16"), None, Some(23), None),
        rule(
            23,
            D,
            None,
            Some("2001:db8:ff::/64"),
            None,
            Some(Protocol::Icmpv6),
        ),
    ]
}

struct World {
    filter: XdpFilter,
    events: EventReader,
}

fn world() -> World {
    let mut filter = load();
    for (cidr, id, action) in BLOCKS {
        filter
            .insert_block(cidr.parse().unwrap(), *id, *action)
            .unwrap();
    }
    for (cidr, id) in ALLOWS {
        filter.insert_allow(cidr.parse().unwrap(), *id).unwrap();
    }
    filter.set_match_rules(&match_rules()).unwrap();
    let events = filter.take_event_reader().unwrap();
    World { filter, events }
}

impl World {
    fn run(&mut self, frame: &[u8]) -> (XdpAction, Vec<KernelEvent>) {
        let verdict = self
            .filter
            .test_run(frame, 1)
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        (verdict, self.events.drain(16))
    }
}

/// The event a packet must raise: its action and rule id, or none.
type Expected = Option<(PacketAction, Option<u32>)>;

/// No event expected.
const NONE: Expected = None;
/// A monitor event for rule `id`.
fn mon(id: u32) -> Expected {
    Some((PacketAction::Monitor, Some(id)))
}
/// A suspicious-packet (SYN) event, no rule.
const SYN_EVENT: Expected = Some((PacketAction::Pass, None));

#[test]
fn every_verdict_path() {
    let cases: Vec<(&str, Pkt, XdpAction, Expected)> = vec![
        // IPv4: blocklist (host map and trie) and allowlist
        (
            "v4 no match",
            tcp("192.0.2.50", "192.0.2.1", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v4 /32 blocked",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v4 /32 neighbour",
            tcp("10.0.0.2", "192.0.2.1", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v4 /24 inside",
            tcp("10.1.0.77", "192.0.2.1", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v4 /24 outside",
            tcp("10.1.1.77", "192.0.2.1", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v4 udp blocked",
            udp("10.1.0.9", "192.0.2.1", 53),
            Drop,
            NONE,
        ),
        ("v4 icmp blocked", icmp("10.0.0.1", "192.0.2.1"), Drop, NONE),
        (
            "v4 other proto blocked",
            Pkt::new("10.0.0.1", "192.0.2.1", L4::Proto(47)),
            Drop,
            NONE,
        ),
        (
            "v4 allowlist beats /16",
            tcp("10.2.3.4", "192.0.2.1", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v4 allowlisted SYN: no event",
            tcp("10.2.3.4", "192.0.2.1", 80, SYN),
            Pass,
            NONE,
        ),
        (
            "v4 /16 outside allow",
            tcp("10.2.4.4", "192.0.2.1", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v4 monitor entry",
            tcp("10.3.0.5", "192.0.2.1", 80, ACK),
            Pass,
            mon(4),
        ),
        (
            "v4 monitor host inside a drop /24",
            tcp("10.1.0.200", "192.0.2.1", 80, ACK),
            Pass,
            mon(9),
        ),
        (
            "v4 drop host inside a monitor /24",
            tcp("10.3.0.200", "192.0.2.1", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v4 monitor /24 next to the drop host",
            tcp("10.3.0.201", "192.0.2.1", 80, ACK),
            Pass,
            mon(4),
        ),
        (
            "v4 allowlist beats a drop host",
            tcp("10.2.3.7", "192.0.2.1", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v4 monitor + SYN: one event",
            tcp("10.3.0.5", "192.0.2.1", 80, SYN),
            Pass,
            mon(4),
        ),
        (
            "v4 monitor udp",
            udp("10.3.0.5", "192.0.2.1", 53),
            Pass,
            mon(4),
        ),
        // IPv4: TCP flags
        (
            "v4 SYN",
            tcp("192.0.2.50", "192.0.2.1", 80, SYN),
            Pass,
            SYN_EVENT,
        ),
        (
            "v4 SYN+ACK",
            tcp("192.0.2.50", "192.0.2.1", 80, SYN | ACK),
            Pass,
            NONE,
        ),
        (
            "v4 RST",
            tcp("192.0.2.50", "192.0.2.1", 80, RST),
            Pass,
            NONE,
        ),
        (
            "v4 FIN+ACK",
            tcp("192.0.2.50", "192.0.2.1", 80, FIN | ACK),
            Pass,
            NONE,
        ),
        (
            "v4 blocked SYN: no event",
            tcp("10.0.0.1", "192.0.2.1", 80, SYN),
            Drop,
            NONE,
        ),
        // IPv4: match rules on dst / port / protocol
        (
            "seed monitor_ssh",
            tcp("192.0.2.50", "192.0.2.1", 22, ACK),
            Pass,
            mon(20),
        ),
        (
            "ssh rule is tcp only",
            udp("192.0.2.50", "192.0.2.1", 22),
            Pass,
            NONE,
        ),
        (
            "blocklist drop beats monitor rule",
            tcp("10.0.0.1", "192.0.2.1", 22, ACK),
            Drop,
            NONE,
        ),
        (
            "dst + udp rule",
            udp("192.0.2.50", "192.0.2.99", 53),
            Drop,
            NONE,
        ),
        (
            "dst + udp rule, tcp",
            tcp("192.0.2.50", "192.0.2.99", 53, ACK),
            Pass,
            NONE,
        ),
        (
            "src + port rule",
            tcp("10.9.1.1", "192.0.2.1", 23, ACK),
            Drop,
            NONE,
        ),
        (
            "src + port rule, udp",
            udp("10.9.1.1", "192.0.2.1", 23),
            Drop,
            NONE,
        ),
        (
            "src + port rule, other port",
            tcp("10.9.1.1", "192.0.2.1", 24, ACK),
            Pass,
            NONE,
        ),
        (
            "src + port rule, other src",
            tcp("10.8.1.1", "192.0.2.1", 23, ACK),
            Pass,
            NONE,
        ),
        (
            "monitor entry then drop rule",
            tcp("10.3.0.5", "192.0.2.99", 23, ACK),
            Pass,
            mon(4),
        ),
        (
            "monitor entry, drop rule wins",
            udp("10.3.0.5", "192.0.2.99", 53),
            Drop,
            NONE,
        ),
        // IPv4 options and VLAN tags
        (
            "v4 options, blocked",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).ip_options(3),
            Drop,
            NONE,
        ),
        (
            "v4 max options, ssh",
            tcp("192.0.2.50", "192.0.2.1", 22, ACK).ip_options(10),
            Pass,
            mon(20),
        ),
        (
            "802.1Q, blocked",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).vlan(TPID_8021Q),
            Drop,
            NONE,
        ),
        (
            "802.1ad+Q, blocked",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK)
                .vlan(TPID_8021AD)
                .vlan(TPID_8021Q),
            Drop,
            NONE,
        ),
        (
            "802.1ad+Q, SYN",
            tcp("192.0.2.50", "192.0.2.1", 80, SYN)
                .vlan(TPID_8021AD)
                .vlan(TPID_8021Q),
            Pass,
            SYN_EVENT,
        ),
        (
            "802.1Q, v4 monitor rule",
            tcp("192.0.2.50", "192.0.2.1", 22, ACK).vlan(TPID_8021Q),
            Pass,
            mon(20),
        ),
        (
            "3 tags: not parsed",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK)
                .vlan(TPID_8021AD)
                .vlan(TPID_8021Q)
                .vlan(TPID_8021Q),
            Pass,
            NONE,
        ),
        // IPv4 fragments: addresses match, ports do not exist
        (
            "v4 non-first fragment, blocked",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).fragment(),
            Drop,
            NONE,
        ),
        (
            "v4 non-first fragment: no port, no ssh rule, no SYN",
            tcp("192.0.2.50", "192.0.2.1", 22, SYN).fragment(),
            Pass,
            NONE,
        ),
        // IPv6
        (
            "v6 no match",
            tcp("2001:db8:ffff::1", "2001:db8::80", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v6 /128 blocked",
            tcp("2001:db8::1", "2001:db8::80", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v6 /128 neighbour",
            tcp("2001:db8::2", "2001:db8::80", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v6 /64 inside",
            udp("2001:db8:1::abcd", "2001:db8::80", 53),
            Drop,
            NONE,
        ),
        (
            "v6 /64 outside",
            udp("2001:db8:1:1::1", "2001:db8::80", 53),
            Pass,
            NONE,
        ),
        (
            "v6 icmpv6 blocked",
            icmp("2001:db8::1", "2001:db8::80"),
            Drop,
            NONE,
        ),
        (
            "v6 allowlist beats /48",
            tcp("2001:db8:2:3::9", "2001:db8::80", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v6 /48 outside allow",
            tcp("2001:db8:2:4::9", "2001:db8::80", 80, ACK),
            Drop,
            NONE,
        ),
        (
            "v6 monitor entry",
            icmp("2001:db8:3::7", "2001:db8::80"),
            Pass,
            mon(8),
        ),
        (
            "v6 monitor host inside a drop /64",
            udp("2001:db8:1::200", "2001:db8::80", 53),
            Pass,
            mon(12),
        ),
        (
            "v6 drop host inside a monitor /64",
            udp("2001:db8:3::200", "2001:db8::80", 53),
            Drop,
            NONE,
        ),
        (
            "v6 allowlist beats a drop host",
            tcp("2001:db8:2:3::7", "2001:db8::80", 80, ACK),
            Pass,
            NONE,
        ),
        (
            "v6 SYN",
            tcp("2001:db8:ffff::1", "2001:db8::80", 443, SYN),
            Pass,
            SYN_EVENT,
        ),
        (
            "v6 SYN+ACK",
            tcp("2001:db8:ffff::1", "2001:db8::80", 443, SYN | ACK),
            Pass,
            NONE,
        ),
        (
            "v6 monitor_ssh (any family)",
            tcp("2001:db8:ffff::1", "2001:db8::80", 22, ACK),
            Pass,
            mon(20),
        ),
        (
            "v6 dst + icmpv6 rule",
            icmp("2001:db8:ffff::1", "2001:db8:ff::1"),
            Drop,
            NONE,
        ),
        (
            "v6 dst + icmpv6 rule, udp",
            udp("2001:db8:ffff::1", "2001:db8:ff::1", 53),
            Pass,
            NONE,
        ),
        (
            "v6 802.1Q, blocked",
            tcp("2001:db8::1", "2001:db8::80", 80, ACK).vlan(TPID_8021Q),
            Drop,
            NONE,
        ),
        (
            "v6 802.1ad+Q, blocked",
            udp("2001:db8:1::5", "2001:db8::80", 53)
                .vlan(TPID_8021AD)
                .vlan(TPID_8021Q),
            Drop,
            NONE,
        ),
        (
            "v6 extension header: other",
            Pkt::new("2001:db8::1", "2001:db8::80", L4::Proto(0)),
            Drop,
            NONE,
        ),
        (
            "v4-mapped v6 source is not v4",
            tcp("::ffff:10.0.0.1", "2001:db8::80", 80, ACK),
            Pass,
            NONE,
        ),
    ];
    let mut w = world();
    let mut failures = Vec::new();
    for (name, pkt, want, want_event) in &cases {
        let (got, events) = w.run(&pkt.bytes());
        let got_event: Vec<_> = events.iter().map(|e| (e.action, e.rule_id)).collect();
        let want_events: Vec<_> = want_event.iter().copied().collect();
        if got != *want || got_event != want_events {
            failures.push(format!(
                "{name}: got {got:?} {got_event:?}, want {want:?} {want_events:?}"
            ));
        }
    }
    let (arp_verdict, arp_events) = w.run(&arp());
    if arp_verdict != Pass || !arp_events.is_empty() {
        failures.push(format!("arp: got {arp_verdict:?} {arp_events:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn events_carry_the_packet() {
    let mut w = world();
    let frame = tcp("192.0.2.50", "192.0.2.1", 8080, SYN)
        .ip_options(2)
        .vlan(TPID_8021Q)
        .payload(10)
        .bytes();
    let (verdict, events) = w.run(&frame);
    assert_eq!((verdict, events.len()), (Pass, 1));
    let e = &events[0];
    assert_eq!(e.src_ip, "192.0.2.50".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(e.dst_ip, "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!((e.src_port, e.dst_port), (Some(40000), Some(8080)));
    assert_eq!((e.protocol, e.tcp_flags), (Protocol::Tcp, Some(SYN)));
    assert_eq!((e.action, e.rule_id), (PacketAction::Pass, None));
    assert_eq!(e.length as usize, frame.len());
    let age = chrono::Utc::now() - e.timestamp;
    assert!(
        age > -chrono::TimeDelta::seconds(1) && age < chrono::TimeDelta::minutes(10),
        "{age}"
    );

    let (verdict, events) = w.run(&tcp("2001:db8:3::7", "2001:db8::80", 22, SYN | ACK).bytes());
    assert_eq!((verdict, events.len()), (Pass, 1));
    let e = &events[0];
    assert_eq!(
        e.src_ip,
        "2001:db8:3::7".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        e.dst_ip,
        "2001:db8::80".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        (e.action, e.rule_id, e.tcp_flags),
        (PacketAction::Monitor, Some(8), Some(SYN | ACK))
    );
    let p = e.clone().into_packet_event(Some("watch_v6".into()));
    assert_eq!(
        (p.dst_port, p.rule_id.as_deref()),
        (Some(22), Some("watch_v6"))
    );
}

/// Every prefix of each frame shorter than its headers is malformed and passed untouched, even
/// from a blocklisted source; the complete frame is dropped.
#[test]
fn truncated_frames_pass_at_every_length() {
    let frames = [
        ("v4 tcp", tcp("10.0.0.1", "192.0.2.1", 80, ACK)),
        (
            "v4 tcp + options",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).ip_options(4),
        ),
        ("v4 udp", udp("10.0.0.1", "192.0.2.1", 53)),
        ("v4 icmp", icmp("10.0.0.1", "192.0.2.1")),
        (
            "v4 tcp 802.1ad+Q",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK)
                .vlan(TPID_8021AD)
                .vlan(TPID_8021Q),
        ),
        ("v6 tcp", tcp("2001:db8::1", "2001:db8::80", 80, ACK)),
        (
            "v6 udp 802.1Q",
            udp("2001:db8::1", "2001:db8::80", 53).vlan(TPID_8021Q),
        ),
        ("v6 icmpv6", icmp("2001:db8::1", "2001:db8::80")),
    ];
    let mut w = world();
    let mut malformed = 0;
    for (name, pkt) in frames {
        let full = pkt.bytes();
        for len in 0..full.len() {
            let (verdict, events) = w.run(&full[..len]);
            assert_eq!(
                (verdict, events.len()),
                (Pass, 0),
                "{name} cut at {len} of {}",
                full.len()
            );
            // A cut exactly after the Ethernet header or a VLAN tag leaves an ethertype with no
            // bytes after it: still malformed. Everything shorter than the headers is.
            malformed += 1;
        }
        assert_eq!(w.run(&full).0, Drop, "{name} complete");
    }
    assert_eq!(w.filter.read_counters().unwrap().malformed, malformed);
}

#[test]
fn bogus_ipv4_header_lengths_pass() {
    let mut w = world();
    let cases = [
        ("ihl 0", tcp("10.0.0.1", "192.0.2.1", 80, ACK).ihl(0)),
        ("ihl 4", tcp("10.0.0.1", "192.0.2.1", 80, ACK).ihl(4)),
        (
            "ihl 15 past the end",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).ihl(15),
        ),
        (
            "ihl 6 shifts tcp past the end",
            tcp("10.0.0.1", "192.0.2.1", 80, ACK).ihl(6),
        ),
    ];
    for (name, pkt) in &cases {
        assert_eq!(w.run(&pkt.bytes()), (Pass, vec![]), "{name}");
    }
    assert_eq!(
        w.filter.read_counters().unwrap().malformed,
        cases.len() as u64
    );
}

/// Deterministic garbage (xorshift) of many lengths: the program must return PASS or DROP and
/// never fail; random bytes almost never form a frame from a blocklisted source.
#[test]
fn garbage_never_crashes() {
    let mut w = world();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    for len in (0..300).chain([1500, 3000]) {
        let mut frame: Vec<u8> = (0..len).map(|_| next()).collect();
        // Half of them claim to be IPv4 / IPv6 so the IP parsers see garbage too.
        if len >= 14 && len % 2 == 0 {
            let et: u16 = if len % 4 == 0 { 0x0800 } else { 0x86dd };
            frame[12..14].copy_from_slice(&et.to_be_bytes());
        }
        let verdict = w
            .filter
            .test_run(&frame, 1)
            .unwrap_or_else(|e| panic!("len {len}: {}", chain(&e)));
        assert!(matches!(verdict, Pass | Drop), "len {len}: {verdict:?}");
    }
    let stats = w.filter.read_stats().unwrap();
    assert_eq!(stats.total.packets, 302);
}
