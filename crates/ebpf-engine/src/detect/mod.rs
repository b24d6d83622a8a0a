//! Network detectors: pure userspace state machines fed by the kernel's data, each returning
//! `ironpost_core::AlertEvent`s.
//!
//! - [`SynFloodDetector`] (`syn_flood.rs`): per destination address, from periodic snapshots of
//!   the `dst_tcp` counters ([`crate::XdpFilter::read_dst_tcp`]), plus the SYN events to name
//!   the dominant source.
//! - [`PortScanDetector`] (`port_scan.rs`): distinct destination ports per source address, from
//!   the packet events.
//!
//! Both take the current time as an argument (`now: Instant`) instead of reading a clock, so
//! tests drive time without sleeping, and both bound their memory with an LRU of tracked
//! addresses (`lru.rs`) whose evictions they count. Their windows are sliding; the alert
//! cooldown per address equals the window.
//!
//! Architecture invariant: nothing here touches the kernel or a channel; the engine reads the
//! maps and the ring buffer and hands the data over.

mod lru;
mod port_scan;
mod syn_flood;

use std::time::{Duration, Instant};

pub use port_scan::{PORT_SCAN_RULE_ID, PortScanDetector, PortScanStats};
pub use syn_flood::{SYN_FLOOD_RULE_ID, SynFloodDetector, SynFloodStats};

pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_ACK: u8 = 0x10;

/// Whether something that happened at `at` is inside the window ending at `now`: less than
/// `window` ago. A time after `now` (callers' clocks raced) counts as inside.
fn within(at: Instant, now: Instant, window: Duration) -> bool {
    now.saturating_duration_since(at) < window
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::IpAddr;

    use ironpost_core::{PacketAction, PacketEvent, Protocol};

    use super::*;
    use crate::config::{PortScanConfig, SynFloodConfig};
    use crate::maps::DstTcpCounters;

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A TCP packet event as the kernel reports it.
    pub(crate) fn tcp_event(src: &str, dst: &str, dst_port: u16, flags: u8) -> PacketEvent {
        let mut e = PacketEvent::new(ip(src), ip(dst), Protocol::Tcp, PacketAction::Pass);
        e.src_port = Some(40_000);
        e.dst_port = Some(dst_port);
        e.tcp_flags = Some(flags);
        e.length = 74;
        e
    }

    pub(crate) fn syn_event(src: &str, dst: &str, dst_port: u16) -> PacketEvent {
        tcp_event(src, dst, dst_port, TCP_SYN)
    }

    #[test]
    fn within_is_a_half_open_window() {
        let t0 = Instant::now();
        let w = Duration::from_secs(10);
        let cases = [(0, true), (9, true), (10, false), (11, false)];
        for (age, want) in cases {
            assert_eq!(within(t0, t0 + Duration::from_secs(age), w), want, "{age}");
        }
        assert!(
            within(t0 + Duration::from_secs(5), t0, w),
            "future counts as inside"
        );
    }

    /// Five clients each open and close a connection to two services and ping the host, once a
    /// second for a minute: the SYN events and counters such traffic gives raise nothing.
    #[test]
    fn benign_handshakes_and_pings_raise_nothing() {
        let mut flood = SynFloodDetector::new(&SynFloodConfig::default());
        let mut scan = PortScanDetector::new(&PortScanConfig::default());
        let server = "192.0.2.1";
        let t0 = Instant::now();
        let mut counters = DstTcpCounters::default();
        assert!(flood.observe_snapshot(&[], t0).is_empty());
        for sec in 1..=60u64 {
            let now = t0 + Duration::from_secs(sec);
            for client in 1..=5 {
                let client = format!("198.51.100.{client}");
                for port in [22, 443] {
                    // SYN, ACK, data+ACK, FIN+ACK, ACK: one SYN-only segment in five.
                    for flags in [TCP_SYN, TCP_ACK, 0x18, 0x11, TCP_ACK] {
                        let ev = tcp_event(&client, server, port, flags);
                        flood.observe_packet(&ev, now);
                        assert!(scan.observe(&ev, now).is_none());
                        counters.tcp += 1;
                        counters.syn += u64::from(flags == TCP_SYN);
                    }
                }
                let mut ping =
                    PacketEvent::new(ip(&client), ip(server), Protocol::Icmp, PacketAction::Pass);
                ping.length = 98;
                flood.observe_packet(&ping, now);
                assert!(scan.observe(&ping, now).is_none());
            }
            assert!(
                flood
                    .observe_snapshot(&[(ip(server), counters)], now)
                    .is_empty(),
                "second {sec}"
            );
        }
        assert_eq!(counters.syn, 600);
        assert_eq!((flood.stats().alerts, scan.stats().alerts), (0, 0));
    }
}
