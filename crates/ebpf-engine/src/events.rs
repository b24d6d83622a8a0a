//! Reading the `events` ring buffer: raw `struct packet_event` records become typed
//! [`KernelEvent`]s (kernel boot-clock timestamps turned into wall-clock time), and those become
//! `ironpost_core::PacketEvent`s once the caller has named the rule.
//!
//! The reader is a separate value ([`crate::XdpFilter::take_event_reader`]) so that a reader task
//! can own it while the filter keeps serving map updates; it implements `AsFd` for `epoll`/tokio
//! `AsyncFd` readiness.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use aya::maps::{MapData, RingBuf};
use chrono::{DateTime, TimeDelta, Utc};
use ironpost_core::{PacketAction, PacketEvent, Protocol, Severity};

use crate::maps::{ACTION_MONITOR, RawEvent, event_addr};

/// One packet the kernel reported: a TCP SYN without ACK (`action == Pass`, no rule) or a
/// packet matching a `monitor` rule (`action == Monitor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelEvent {
    pub timestamp: DateTime<Utc>,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    /// Set for TCP and UDP.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Protocol,
    /// Set for TCP.
    pub tcp_flags: Option<u8>,
    /// Bytes of the frame.
    pub length: u32,
    pub action: PacketAction,
    /// The kernel rule id of the matching entry, if any.
    pub rule_id: Option<u32>,
}

impl KernelEvent {
    pub(crate) fn from_raw(raw: &RawEvent, now: ClockPair) -> Self {
        let protocol = Protocol::from_number(raw.proto);
        let has_ports = matches!(protocol, Protocol::Tcp | Protocol::Udp);
        KernelEvent {
            timestamp: now.wall_time_of(raw.ts_ns),
            src_ip: event_addr(raw.src_addr, raw.ip_version),
            dst_ip: event_addr(raw.dst_addr, raw.ip_version),
            src_port: has_ports.then_some(raw.src_port),
            dst_port: has_ports.then_some(raw.dst_port),
            protocol,
            tcp_flags: (protocol == Protocol::Tcp).then_some(raw.tcp_flags),
            length: raw.length,
            action: if raw.action == ACTION_MONITOR {
                PacketAction::Monitor
            } else {
                PacketAction::Pass
            },
            rule_id: (raw.rule_id != 0).then_some(raw.rule_id),
        }
    }

    /// The event for the rest of Ironpost. `rule_name` is the rule's configured id (the caller
    /// maps [`KernelEvent::rule_id`] to it, e.g. with [`crate::CompiledRules::names`]).
    pub fn into_packet_event(self, rule_name: Option<String>) -> PacketEvent {
        let mut e = PacketEvent::new(self.src_ip, self.dst_ip, self.protocol, self.action);
        e.timestamp = self.timestamp;
        e.severity = match self.action {
            PacketAction::Monitor => Severity::Low,
            PacketAction::Pass | PacketAction::Drop => Severity::Info,
        };
        e.src_port = self.src_port;
        e.dst_port = self.dst_port;
        e.tcp_flags = self.tcp_flags;
        e.length = self.length;
        e.rule_id = rule_name;
        e
    }
}

impl RawEvent {
    /// Decodes one ring-buffer record; `None` when its size is not `struct packet_event`'s.
    pub(crate) fn from_bytes(b: &[u8]) -> Option<RawEvent> {
        if b.len() != size_of::<RawEvent>() {
            return None;
        }
        let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        let mut src_addr = [0u8; 16];
        src_addr.copy_from_slice(&b[8..24]);
        let mut dst_addr = [0u8; 16];
        dst_addr.copy_from_slice(&b[24..40]);
        Some(RawEvent {
            ts_ns: u64::from_ne_bytes(ts),
            src_addr,
            dst_addr,
            src_port: u16_at(40),
            dst_port: u16_at(42),
            length: u32_at(44),
            rule_id: u32_at(48),
            proto: b[52],
            tcp_flags: b[53],
            action: b[54],
            ip_version: b[55],
        })
    }
}

/// The boot clock (what `bpf_ktime_get_boot_ns` reads) and the wall clock, read together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClockPair {
    boot_ns: u64,
    wall: DateTime<Utc>,
}

impl ClockPair {
    pub(crate) fn now() -> Self {
        ClockPair {
            boot_ns: boottime_ns(),
            wall: Utc::now(),
        }
    }

    /// Wall-clock time of a boot-clock reading taken before (or, by a hair, after) `self`.
    fn wall_time_of(self, ts_ns: u64) -> DateTime<Utc> {
        let age = i64::try_from(self.boot_ns.abs_diff(ts_ns)).unwrap_or(i64::MAX);
        let delta = TimeDelta::nanoseconds(age);
        if ts_ns <= self.boot_ns {
            self.wall - delta
        } else {
            self.wall + delta
        }
    }
}

#[allow(unsafe_code)]
fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the duration of the call, and
    // CLOCK_BOOTTIME is a clock id every supported Linux kernel (≥ 2.6.39) knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        // Cannot happen with a valid pointer and clock id; fall back to "now" for the event.
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// Consumer side of the `events` ring buffer.
pub struct EventReader {
    ring: RingBuf<MapData>,
    bad_records: u64,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("bad_records", &self.bad_records)
            .finish_non_exhaustive()
    }
}

impl EventReader {
    pub(crate) fn new(ring: RingBuf<MapData>) -> Self {
        EventReader {
            ring,
            bad_records: 0,
        }
    }

    /// The next event, or `None` when the ring buffer is empty (wait for `AsFd` readability).
    pub fn next_event(&mut self) -> Option<KernelEvent> {
        loop {
            let raw = {
                let item = self.ring.next()?;
                RawEvent::from_bytes(&item)
            };
            match raw {
                Some(raw) => return Some(KernelEvent::from_raw(&raw, ClockPair::now())),
                None => self.bad_records += 1,
            }
        }
    }

    /// Up to `max` events currently in the ring buffer.
    pub fn drain(&mut self, max: usize) -> Vec<KernelEvent> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.next_event() {
                Some(e) => out.push(e),
                None => break,
            }
        }
        out
    }

    /// Records skipped because their size was not `struct packet_event`'s (a kernel object
    /// from another build); stays 0 unless the program and loader disagree.
    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }
}

impl AsFd for EventReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_bytes(e: &RawEvent) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(e.ts_ns.to_ne_bytes());
        b.extend(e.src_addr);
        b.extend(e.dst_addr);
        b.extend(e.src_port.to_ne_bytes());
        b.extend(e.dst_port.to_ne_bytes());
        b.extend(e.length.to_ne_bytes());
        b.extend(e.rule_id.to_ne_bytes());
        b.extend([e.proto, e.tcp_flags, e.action, e.ip_version]);
        b
    }

    #[test]
    fn decodes_records_and_rejects_wrong_sizes() {
        let raw = RawEvent {
            ts_ns: 5_000,
            src_addr: std::net::Ipv4Addr::new(198, 51, 100, 1)
                .to_ipv6_mapped()
                .octets(),
            dst_addr: std::net::Ipv4Addr::new(192, 0, 2, 1)
                .to_ipv6_mapped()
                .octets(),
            src_port: 40000,
            dst_port: 22,
            length: 74,
            rule_id: 3,
            proto: 6,
            tcp_flags: 0x02,
            action: ACTION_MONITOR,
            ip_version: 4,
        };
        let b = raw_bytes(&raw);
        let back = RawEvent::from_bytes(&b).unwrap();
        let now = ClockPair {
            boot_ns: 1_000_005_000,
            wall: DateTime::from_timestamp(1_700_000_001, 0).unwrap(),
        };
        let e = KernelEvent::from_raw(&back, now);
        assert_eq!(
            e.timestamp,
            DateTime::from_timestamp(1_700_000_000, 0).unwrap()
        );
        assert_eq!(e.src_ip, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (e.src_port, e.dst_port, e.tcp_flags),
            (Some(40000), Some(22), Some(2))
        );
        assert_eq!(
            (e.action, e.rule_id, e.length),
            (PacketAction::Monitor, Some(3), 74)
        );
        let p = e.into_packet_event(Some("monitor_ssh".into()));
        assert_eq!(p.rule_id.as_deref(), Some("monitor_ssh"));
        assert_eq!(p.severity, Severity::Low);
        assert!(RawEvent::from_bytes(&b[..55]).is_none());
    }

    #[test]
    fn icmp_events_have_no_ports_or_flags() {
        let raw = RawEvent {
            proto: 58,
            ip_version: 6,
            src_addr: "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            ..RawEvent::default()
        };
        let e = KernelEvent::from_raw(&raw, ClockPair::now());
        assert_eq!((e.src_port, e.tcp_flags, e.rule_id), (None, None, None));
        assert_eq!(e.protocol, Protocol::Icmpv6);
        assert_eq!(e.action, PacketAction::Pass);
        assert_eq!(e.src_ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn boot_clock_advances() {
        let a = boottime_ns();
        let b = boottime_ns();
        assert!(a > 0 && b >= a);
    }
}
