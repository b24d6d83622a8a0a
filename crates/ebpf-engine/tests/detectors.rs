//! The per-destination TCP counters (`dst_tcp`) counted exactly in the kernel through
//! BPF_PROG_TEST_RUN, and the detectors fed from the real kernel: its counters and its events.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use ironpost_ebpf_engine::{
    DstTcpCounters, EventReader, PortScanConfig, PortScanDetector, RuleAction, SynFloodConfig,
    SynFloodDetector, XdpAction, XdpFilter,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn c(syn: u64, tcp: u64) -> DstTcpCounters {
    DstTcpCounters { syn, tcp }
}

#[test]
fn dst_tcp_counts_syns_and_segments_per_destination() {
    let mut f = load();
    f.insert_block("10.0.0.1".parse().unwrap(), 1, RuleAction::Drop)
        .unwrap();
    f.insert_allow("10.5.0.0/16".parse().unwrap(), 2).unwrap();
    assert_eq!(f.read_dst_tcp().unwrap(), []);

    // (packet, repeat, verdict)
    let runs: Vec<(Pkt, u32, XdpAction)> = vec![
        (
            tcp("198.51.100.7", "192.0.2.1", 80, SYN),
            7,
            XdpAction::Pass,
        ),
        (
            tcp("198.51.100.7", "192.0.2.1", 80, ACK),
            5,
            XdpAction::Pass,
        ),
        (
            tcp("198.51.100.7", "192.0.2.1", 80, SYN | ACK),
            2,
            XdpAction::Pass,
        ),
        (
            tcp("198.51.100.7", "192.0.2.1", 80, FIN | ACK),
            1,
            XdpAction::Pass,
        ),
        (
            tcp("198.51.100.8", "192.0.2.2", 443, SYN),
            3,
            XdpAction::Pass,
        ),
        (
            tcp("198.51.100.8", "192.0.2.2", 443, RST),
            4,
            XdpAction::Pass,
        ),
        // Dropped and allowlisted segments count too: the map measures what arrives.
        (tcp("10.0.0.1", "192.0.2.2", 443, SYN), 6, XdpAction::Drop),
        (tcp("10.5.1.1", "192.0.2.2", 443, SYN), 1, XdpAction::Pass),
        // VLAN-tagged and IPv6 destinations.
        (
            tcp("198.51.100.8", "192.0.2.2", 22, SYN).vlan(TPID_8021Q),
            2,
            XdpAction::Pass,
        ),
        (
            tcp("2001:db8::7", "2001:db8::1", 22, SYN),
            9,
            XdpAction::Pass,
        ),
        (
            tcp("2001:db8::7", "2001:db8::1", 22, ACK),
            1,
            XdpAction::Pass,
        ),
        // Not counted: UDP, ICMP, a fragment without TCP header, a truncated TCP header.
        (udp("198.51.100.7", "192.0.2.1", 53), 3, XdpAction::Pass),
        (icmp("198.51.100.7", "192.0.2.1"), 3, XdpAction::Pass),
        (
            tcp("198.51.100.7", "192.0.2.3", 80, SYN).fragment(),
            3,
            XdpAction::Pass,
        ),
    ];
    for (pkt, repeat, want) in &runs {
        assert_eq!(f.test_run(&pkt.bytes(), *repeat).unwrap(), *want, "{pkt:?}");
    }
    let cut = tcp("198.51.100.7", "192.0.2.4", 80, SYN).bytes();
    assert_eq!(f.test_run(&cut[..40], 1).unwrap(), XdpAction::Pass);

    assert_eq!(
        f.read_dst_tcp().unwrap(),
        [
            (ip("192.0.2.1"), c(7, 15)),
            (ip("192.0.2.2"), c(3 + 6 + 1 + 2, 3 + 4 + 6 + 1 + 2)),
            (ip("2001:db8::1"), c(9, 10)),
        ]
    );
}

/// Drains every event from the ring buffer into both detectors at `now`.
fn feed_events(
    events: &mut EventReader,
    flood: &mut SynFloodDetector,
    scan: &mut PortScanDetector,
    now: Instant,
) -> Vec<ironpost_core::AlertEvent> {
    let mut alerts = Vec::new();
    for e in events.drain(100_000) {
        let ev = e.into_packet_event(None);
        flood.observe_packet(&ev, now);
        alerts.extend(scan.observe(&ev, now));
    }
    alerts
}

struct Rig {
    filter: XdpFilter,
    events: EventReader,
    flood: SynFloodDetector,
    scan: PortScanDetector,
    t0: Instant,
}

impl Rig {
    fn new() -> Rig {
        let mut filter = load();
        let events = filter.take_event_reader().unwrap();
        let mut flood = SynFloodDetector::new(&SynFloodConfig::default());
        let t0 = Instant::now();
        // The baseline, taken right after loading, as the engine does.
        assert!(
            flood
                .observe_snapshot(&filter.read_dst_tcp().unwrap(), t0)
                .is_empty()
        );
        Rig {
            filter,
            events,
            flood,
            scan: PortScanDetector::new(&PortScanConfig::default()),
            t0,
        }
    }

    /// Runs `frames` (frame, repeat) at second `secs`, then feeds the events and a snapshot.
    fn second(&mut self, secs: u64, frames: &[(Vec<u8>, u32)]) -> Vec<ironpost_core::AlertEvent> {
        for (frame, repeat) in frames {
            self.filter.test_run(frame, *repeat).unwrap();
        }
        let now = self.t0 + Duration::from_secs(secs);
        let mut alerts = feed_events(&mut self.events, &mut self.flood, &mut self.scan, now);
        let snapshot = self.filter.read_dst_tcp().unwrap();
        alerts.extend(self.flood.observe_snapshot(&snapshot, now));
        alerts
    }
}

#[test]
fn a_syn_flood_and_a_port_scan_through_the_kernel() {
    let mut rig = Rig::new();
    // One source floods port 80 of 192.0.2.1, a few others connect normally.
    let flood = tcp("198.51.100.66", "192.0.2.1", 80, SYN).bytes();
    let mut frames = vec![(flood, 100)];
    for i in 1..=5 {
        let client = format!("203.0.113.{i}");
        frames.push((tcp(&client, "192.0.2.1", 80, SYN).bytes(), 1));
        frames.push((tcp(&client, "192.0.2.1", 80, ACK).bytes(), 2));
    }
    let alerts = rig.second(1, &frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.rule_id, "syn_flood");
    assert_eq!(a.evidence, ironpost_core::Evidence::Spoofable);
    assert_eq!(a.entities.dst_ip, Some(ip("192.0.2.1")));
    assert_eq!(a.entities.src_ip, Some(ip("198.51.100.66")));
    assert!(a.description.contains("105 TCP SYNs"), "{}", a.description);

    // A scanner probes 25 ports of 192.0.2.2, one per frame.
    let frames: Vec<(Vec<u8>, u32)> = (1..=25)
        .map(|port| (tcp("198.51.100.99", "192.0.2.2", port, SYN).bytes(), 1))
        .collect();
    let alerts = rig.second(2, &frames);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].rule_id, "port_scan");
    assert_eq!(alerts[0].evidence, ironpost_core::Evidence::Spoofable);
    assert_eq!(alerts[0].entities.src_ip, Some(ip("198.51.100.99")));
    assert_eq!(alerts[0].entities.dst_ip, Some(ip("192.0.2.2")));
}

#[test]
fn handshakes_and_pings_through_the_kernel_raise_nothing() {
    let mut rig = Rig::new();
    for sec in 1..=30 {
        let mut frames = Vec::new();
        for i in 1..=5 {
            let client = format!("203.0.113.{i}");
            for port in [22, 443] {
                for flags in [SYN, ACK, ACK, FIN | ACK, ACK] {
                    frames.push((tcp(&client, "192.0.2.1", port, flags).bytes(), 1));
                }
            }
            frames.push((icmp(&client, "192.0.2.1").bytes(), 1));
            frames.push((icmp("2001:db8::5", "2001:db8::1").bytes(), 1));
        }
        assert_eq!(rig.second(sec, &frames), [], "second {sec}");
    }
    let counters = rig.filter.read_dst_tcp().unwrap();
    assert_eq!(counters, [(ip("192.0.2.1"), c(300, 1500))]);
}
