//! The kernel/userspace contract: `#[repr(C)]` mirrors of the structs in `bpf/xdp_filter.h`
//! (same field order, explicit padding, sizes asserted at compile time), the map names and
//! indexes, which blocklist map a CIDR lives in ([`block_key`]), the per-map entry counts behind
//! `filter_config.nonempty` ([`ListSizes`]), and the typed values the loader hands out after
//! summing per-CPU entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[cfg(feature = "runtime")]
use aya::maps::lpm_trie::Key;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use ironpost_core::net::Cidr;

use crate::config::RuleAction;

/// Capacity of each allowlist map (IPv4 and IPv6).
pub const ALLOWLIST_MAX_ENTRIES: u32 = 1024;
/// Capacity of the `match_rules` array (`MAX_MATCH_RULES` in the C header).
pub const MAX_MATCH_RULES: usize = 64;
/// Capacity of the `dst_tcp` LRU map (`DST_TCP_MAX_ENTRIES` in the C header): destinations
/// with TCP counters at once.
pub const DST_TCP_MAX_ENTRIES: u32 = 16_384;

pub(crate) const PROGRAM: &str = "xdp_filter";
pub(crate) const BLOCKLIST_V4: &str = "blocklist_v4";
pub(crate) const BLOCKLIST_V6: &str = "blocklist_v6";
pub(crate) const BLOCK_HOSTS_V4: &str = "block_hosts_v4";
pub(crate) const BLOCK_HOSTS_V6: &str = "block_hosts_v6";
pub(crate) const ALLOWLIST_V4: &str = "allowlist_v4";
pub(crate) const ALLOWLIST_V6: &str = "allowlist_v6";
pub(crate) const MATCH_RULES: &str = "match_rules";
pub(crate) const CONFIG: &str = "config";
pub(crate) const STATS: &str = "stats";
pub(crate) const COUNTERS: &str = "counters";
pub(crate) const HITS: &str = "hits";
pub(crate) const EVENTS: &str = "events";
pub(crate) const DST_TCP: &str = "dst_tcp";
pub(crate) const CLOCK_PROBE: &str = "clock_probe";
pub(crate) const CLOCK_SAMPLE: &str = "clock_sample";
/// `JIFFIES_BASE` in xdp_filter.h: added to the jiffies deadline of an entry.
pub(crate) const JIFFIES_BASE: u64 = 1 << 62;
/// Name of the pinned XDP link beside the pinned maps.
pub const LINK_PIN: &str = "link";
/// Maps that outlive the daemon when pinned: blocks, allowlist and their hit counts.
pub const PINNED_MAPS: [&str; 7] = [
    BLOCKLIST_V4,
    BLOCKLIST_V6,
    BLOCK_HOSTS_V4,
    BLOCK_HOSTS_V6,
    ALLOWLIST_V4,
    ALLOWLIST_V6,
    HITS,
];

pub(crate) const ACTION_PASS: u8 = 0;
pub(crate) const ACTION_DROP: u8 = 1;
pub(crate) const ACTION_MONITOR: u8 = 2;

pub(crate) const MATCH_SRC: u8 = 0x1;
pub(crate) const MATCH_DST: u8 = 0x2;
pub(crate) const MATCH_DST_PORT: u8 = 0x4;
pub(crate) const MATCH_PROTO: u8 = 0x8;

/// `filter_config.nonempty` bits (`LIST_*` in the C header): which source-address maps hold
/// entries, so the program skips the others.
pub(crate) const LIST_ALLOW_V4: u32 = 0x01;
pub(crate) const LIST_ALLOW_V6: u32 = 0x02;
pub(crate) const LIST_BLOCK_HOST_V4: u32 = 0x04;
pub(crate) const LIST_BLOCK_HOST_V6: u32 = 0x08;
pub(crate) const LIST_BLOCK_NET_V4: u32 = 0x10;
pub(crate) const LIST_BLOCK_NET_V6: u32 = 0x20;

/// `stats` indexes: tcp, udp, icmp (+icmpv6), other, total.
pub(crate) const STAT_SLOTS: u32 = 5;
/// `counters` indexes: malformed, events sent, ring buffer full, rate limited, expired passed.
pub(crate) const COUNTER_SLOTS: u32 = 5;
/// `hits` slots below this belong to the match rules (slot = rule index); entries of the
/// blocklist and allowlist maps get the others (`NO_SLOT` and this split are in the C header).
pub(crate) const FIRST_ENTRY_SLOT: u32 = MAX_MATCH_RULES as u32;
/// `lpm_value.slot` of an entry whose hits are not counted (no free slot).
pub(crate) const NO_SLOT: u32 = u32::MAX;

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

#[cfg(feature = "runtime")]
pub(crate) type KeyV4 = Key<[u8; 4]>;
#[cfg(feature = "runtime")]
pub(crate) type KeyV6 = Key<[u8; 16]>;
/// Key of `block_hosts_v4`: the address, network order (a `__be32` in C).
pub(crate) type HostV4 = [u8; 4];
/// Key of `block_hosts_v6` (`struct host_v6_key`): the address, network order.
pub(crate) type HostV6 = [u8; 16];

/// `struct lpm_value`: the value of every blocklist and allowlist map.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LpmValue {
    /// Deadline: [`JIFFIES_BASE`] + jiffies (see `crate::clock::JiffyClock`); 0 = permanent. A
    /// non-zero value below the base is a `CLOCK_MONOTONIC_COARSE` deadline in nanoseconds
    /// written by an earlier version, converted at load.
    pub expires: u64,
    pub rule_id: u32,
    pub action: u32,
    /// Index of the entry's counters in `hits`.
    pub slot: u32,
    pub _pad: u32,
}

/// `struct clock_sample`: jiffies, `CLOCK_MONOTONIC_COARSE` and jiffies again, read by `clock_probe`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawClockSample {
    pub jiffies: u64,
    pub coarse_ns: u64,
    pub jiffies_after: u64,
}

/// `struct proto_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawProtoStats {
    pub packets: u64,
    pub bytes: u64,
    pub drops: u64,
}

/// `struct hit_counter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawHit {
    pub packets: u64,
    pub bytes: u64,
}

/// `struct match_rule`. Address words hold network-order bytes (`u32::from_ne_bytes`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawMatchRule {
    pub rule_id: u32,
    pub action: u8,
    pub flags: u8,
    pub ip_version: u8,
    pub proto: u8,
    pub dst_port: u16,
    /// `hits` slot of the rule (its index in `match_rules`), set by the loader.
    pub slot: u16,
    pub src_net: [u32; 4],
    pub src_mask: [u32; 4],
    pub dst_net: [u32; 4],
    pub dst_mask: [u32; 4],
}

/// `struct filter_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawConfig {
    pub event_rate_per_sec: u64,
    pub event_burst: u64,
    pub refill_cap_ns: u64,
    pub match_rule_count: u32,
    /// `LIST_*` bits.
    pub nonempty: u32,
}

/// `struct packet_event`, as read from the ring buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawEvent {
    pub ts_ns: u64,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub length: u32,
    pub rule_id: u32,
    pub proto: u8,
    pub tcp_flags: u8,
    pub action: u8,
    pub ip_version: u8,
}

/// `struct dst_key`: a destination address, network order, v4-mapped for IPv4.
pub(crate) type DstKey = [u8; 16];

/// `struct dst_tcp_counter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawDstTcp {
    pub syn: u64,
    pub tcp: u64,
}

// The same sizes as the `_Static_assert`s in bpf/xdp_filter.h.
const _: () = {
    assert!(size_of::<HostV6>() == 16);
    assert!(size_of::<LpmValue>() == 24);
    assert!(size_of::<RawProtoStats>() == 24);
    assert!(size_of::<RawHit>() == 16);
    assert!(size_of::<RawMatchRule>() == 76);
    assert!(size_of::<RawConfig>() == 32);
    assert!(size_of::<RawEvent>() == 56);
    assert!(size_of::<DstKey>() == 16);
    assert!(size_of::<RawDstTcp>() == 16);
    assert!(size_of::<RawClockSample>() == 24);
};

#[cfg(feature = "runtime")]
const _: () = {
    assert!(size_of::<KeyV4>() == 8);
    assert!(size_of::<KeyV6>() == 20);
};

// SAFETY: each type below is `#[repr(C)]`, `Copy`, made only of integers and integer arrays laid
// out without implicit padding (the size asserts above prove it), so every bit pattern is a valid
// value and reading or writing it as bytes is sound.
#[cfg(feature = "runtime")]
#[allow(unsafe_code)]
mod pod {
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::LpmValue {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawProtoStats {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawHit {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawMatchRule {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawConfig {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawEvent {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawDstTcp {}
    // SAFETY: see the module comment: repr(C), integers only, no padding.
    unsafe impl aya::Pod for super::RawClockSample {}
}

/// Packet, byte and drop counts for one protocol, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoCounters {
    pub packets: u64,
    pub bytes: u64,
    pub drops: u64,
}

/// The `stats` map, summed over CPUs. Counters only grow (until the program is reloaded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficStats {
    pub tcp: ProtoCounters,
    pub udp: ProtoCounters,
    /// ICMP over IPv4 and ICMPv6 over IPv6.
    pub icmp: ProtoCounters,
    /// Other IP protocols, non-IP frames (ARP …) and malformed frames.
    pub other: ProtoCounters,
    pub total: ProtoCounters,
}

/// The kernel program's own health counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Frames whose headers were truncated or inconsistent (passed untouched).
    pub malformed: u64,
    /// Events written to the ring buffer.
    pub events_sent: u64,
    /// Events lost because the ring buffer was full (userspace too slow).
    pub events_ringbuf_full: u64,
    /// Events suppressed by the per-CPU token bucket.
    pub events_rate_limited: u64,
    /// Packets whose blocklist entry had expired: the program ignored the entry (the kernel
    /// enforces TTLs; userspace only removes expired entries later).
    pub expired_passed: u64,
}

/// Packets and bytes that matched the entries of one rule id, summed over CPUs and entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HitCount {
    pub packets: u64,
    pub bytes: u64,
}

/// TCP segments sent to one destination address, summed over CPUs, counted by the kernel
/// whatever the verdict (dropped segments included). Cumulative while the destination's entry
/// lives in the `dst_tcp` LRU map; an evicted destination starts again from zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DstTcpCounters {
    /// Segments with SYN set and ACK clear (connection attempts).
    pub syn: u64,
    /// Every TCP segment whose header was parsed (SYNs included).
    pub tcp: u64,
}

/// One blocklist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    pub cidr: Cidr,
    pub rule_id: u32,
    pub action: RuleAction,
    /// When the kernel stops enforcing it (`CLOCK_MONOTONIC_COARSE`); `None`: permanent.
    pub expires: Option<crate::clock::MonoTime>,
}

/// One allowlist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowEntry {
    pub cidr: Cidr,
    pub rule_id: u32,
}

/// The maps keyed by source address (blocklist and allowlist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    AllowV4,
    AllowV6,
    HostsV4,
    HostsV6,
    NetsV4,
    NetsV6,
}

impl List {
    pub(crate) const ALL: [List; 6] = [
        List::AllowV4,
        List::AllowV6,
        List::HostsV4,
        List::HostsV6,
        List::NetsV4,
        List::NetsV6,
    ];

    #[cfg(feature = "runtime")]
    pub(crate) fn of_block(key: &BlockKey) -> List {
        match key {
            BlockKey::HostV4(_) => List::HostsV4,
            BlockKey::HostV6(_) => List::HostsV6,
            BlockKey::Net(LpmKey::V4(_)) => List::NetsV4,
            BlockKey::Net(LpmKey::V6(_)) => List::NetsV6,
        }
    }

    pub(crate) fn map(self) -> &'static str {
        match self {
            List::AllowV4 => ALLOWLIST_V4,
            List::AllowV6 => ALLOWLIST_V6,
            List::HostsV4 => BLOCK_HOSTS_V4,
            List::HostsV6 => BLOCK_HOSTS_V6,
            List::NetsV4 => BLOCKLIST_V4,
            List::NetsV6 => BLOCKLIST_V6,
        }
    }

    /// Its bit in `filter_config.nonempty`.
    pub(crate) fn bit(self) -> u32 {
        match self {
            List::AllowV4 => LIST_ALLOW_V4,
            List::AllowV6 => LIST_ALLOW_V6,
            List::HostsV4 => LIST_BLOCK_HOST_V4,
            List::HostsV6 => LIST_BLOCK_HOST_V6,
            List::NetsV4 => LIST_BLOCK_NET_V4,
            List::NetsV6 => LIST_BLOCK_NET_V6,
        }
    }
}

/// Entries per [`List`]: `XdpFilter` counts them at load and keeps them up to date on every
/// insert and removal (see `src/kernel/lists.rs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListSizes([u32; List::ALL.len()]);

impl ListSizes {
    pub(crate) fn get(&self, list: List) -> u32 {
        self.0[list as usize]
    }

    pub(crate) fn set(&mut self, list: List, n: u32) {
        self.0[list as usize] = n;
    }

    pub(crate) fn add(&mut self, list: List, delta: i32) {
        let n = &mut self.0[list as usize];
        *n = n.saturating_add_signed(delta);
    }

    /// The `filter_config.nonempty` bits.
    pub(crate) fn nonempty(&self) -> u32 {
        List::ALL
            .into_iter()
            .filter(|l| self.get(*l) > 0)
            .fold(0, |bits, l| bits | l.bit())
    }
}

/// Which `hits` slots are held by blocklist and allowlist entries (slots below
/// [`FIRST_ENTRY_SLOT`] belong to the match rules). `XdpFilter` claims the slots of the entries it
/// finds at load (pinned maps) and allocates one per new entry; a removed entry frees its slot.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    used: Vec<u64>,
    capacity: u32,
    /// Where the next search for a free slot starts (keeps allocation O(1) on average).
    next: u32,
}

impl Slots {
    /// Slots [FIRST_ENTRY_SLOT, capacity) for entries.
    pub(crate) fn new(capacity: u32) -> Slots {
        Slots {
            used: vec![0; capacity.div_ceil(64) as usize],
            capacity,
            next: FIRST_ENTRY_SLOT,
        }
    }

    fn bit(slot: u32) -> (usize, u64) {
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    /// Marks `slot` as held; false when it is out of range or already held (the caller gives
    /// that entry a fresh slot).
    pub(crate) fn claim(&mut self, slot: u32) -> bool {
        if !(FIRST_ENTRY_SLOT..self.capacity).contains(&slot) {
            return false;
        }
        let (w, b) = Self::bit(slot);
        if self.used[w] & b != 0 {
            return false;
        }
        self.used[w] |= b;
        true
    }

    /// A free slot, now held; `None` when every slot is held.
    pub(crate) fn alloc(&mut self) -> Option<u32> {
        let span = self.capacity.checked_sub(FIRST_ENTRY_SLOT)?;
        for i in 0..span {
            let slot = FIRST_ENTRY_SLOT + (self.next - FIRST_ENTRY_SLOT + i) % span;
            if self.claim(slot) {
                self.next = if slot + 1 >= self.capacity {
                    FIRST_ENTRY_SLOT
                } else {
                    slot + 1
                };
                return Some(slot);
            }
        }
        None
    }

    pub(crate) fn free(&mut self, slot: u32) {
        if (FIRST_ENTRY_SLOT..self.capacity).contains(&slot) {
            let (w, b) = Self::bit(slot);
            self.used[w] &= !b;
        }
    }
}

pub(crate) fn action_code(action: RuleAction) -> u8 {
    match action {
        RuleAction::Drop => ACTION_DROP,
        RuleAction::Monitor => ACTION_MONITOR,
    }
}

pub(crate) fn action_from_code(code: u32) -> Option<RuleAction> {
    match u8::try_from(code).ok()? {
        ACTION_DROP => Some(RuleAction::Drop),
        ACTION_MONITOR => Some(RuleAction::Monitor),
        _ => None,
    }
}

#[cfg(feature = "runtime")]
/// An LPM key for a CIDR, in the map of its family.
pub(crate) enum LpmKey {
    V4(KeyV4),
    V6(KeyV6),
}

#[cfg(feature = "runtime")]
/// Where a blocklist CIDR lives: a single address (/32, /128) in the host hash of its family,
/// any shorter prefix in the trie (see `bpf/xdp_filter.bpf.c`).
pub(crate) enum BlockKey {
    HostV4(HostV4),
    HostV6(HostV6),
    Net(LpmKey),
}

#[cfg(feature = "runtime")]
pub(crate) fn block_key(cidr: Cidr) -> BlockKey {
    match cidr.0 {
        IpNet::V4(n) if n.prefix_len() == n.max_prefix_len() => BlockKey::HostV4(n.addr().octets()),
        IpNet::V6(n) if n.prefix_len() == n.max_prefix_len() => BlockKey::HostV6(n.addr().octets()),
        _ => BlockKey::Net(lpm_key(cidr)),
    }
}

pub(crate) fn cidr_from_host_v4(key: &HostV4) -> Cidr {
    Cidr(IpNet::V4(Ipv4Net::from(Ipv4Addr::from(*key))))
}

pub(crate) fn cidr_from_host_v6(key: &HostV6) -> Cidr {
    Cidr(IpNet::V6(Ipv6Net::from(Ipv6Addr::from(*key))))
}

#[cfg(feature = "runtime")]
pub(crate) fn lpm_key(cidr: Cidr) -> LpmKey {
    match cidr.0 {
        IpNet::V4(n) => LpmKey::V4(Key::new(u32::from(n.prefix_len()), n.network().octets())),
        IpNet::V6(n) => LpmKey::V6(Key::new(u32::from(n.prefix_len()), n.network().octets())),
    }
}

#[cfg(feature = "runtime")]
pub(crate) fn cidr_from_v4(key: &KeyV4) -> Option<Cidr> {
    let len = u8::try_from(key.prefix_len()).ok()?;
    Ipv4Net::new(Ipv4Addr::from(key.data()), len)
        .ok()
        .map(|n| Cidr(IpNet::V4(n)))
}

#[cfg(feature = "runtime")]
pub(crate) fn cidr_from_v6(key: &KeyV6) -> Option<Cidr> {
    let len = u8::try_from(key.prefix_len()).ok()?;
    Ipv6Net::new(Ipv6Addr::from(key.data()), len)
        .ok()
        .map(|n| Cidr(IpNet::V6(n)))
}

/// A 16-byte event address back to an `IpAddr`: IPv4 events carry v4-mapped addresses.
pub(crate) fn event_addr(bytes: [u8; 16], ip_version: u8) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match (ip_version, v6.to_ipv4_mapped()) {
        (4, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    }
}

impl std::ops::AddAssign<RawProtoStats> for ProtoCounters {
    fn add_assign(&mut self, s: RawProtoStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.drops += s.drops;
    }
}

impl std::ops::AddAssign<RawDstTcp> for DstTcpCounters {
    fn add_assign(&mut self, c: RawDstTcp) {
        self.syn += c.syn;
        self.tcp += c.tcp;
    }
}

/// A `dst_tcp` key back to an `IpAddr`. The key has no family: a v4-mapped address is taken as
/// IPv4 (an IPv6 packet to `::ffff:a.b.c.d` is not routable and shares the IPv4 entry anyway).
pub(crate) fn dst_key_addr(key: DstKey) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl std::ops::AddAssign<RawHit> for HitCount {
    fn add_assign(&mut self, h: RawHit) {
        self.packets += h.packets;
        self.bytes += h.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn lpm_keys_round_trip() {
        for s in [
            "10.0.0.1",
            "10.1.0.0/16",
            "0.0.0.0/0",
            "2001:db8::/32",
            "::1",
        ] {
            let back = match lpm_key(cidr(s)) {
                LpmKey::V4(k) => cidr_from_v4(&k),
                LpmKey::V6(k) => cidr_from_v6(&k),
            };
            assert_eq!(back, Some(cidr(s)), "{s}");
        }
    }

    #[test]
    fn single_addresses_go_to_the_host_maps_and_round_trip() {
        for s in ["10.0.0.1", "10.0.0.1/32", "2001:db8::7", "::/128"] {
            let back = match block_key(cidr(s)) {
                BlockKey::HostV4(k) => cidr_from_host_v4(&k),
                BlockKey::HostV6(k) => cidr_from_host_v6(&k),
                BlockKey::Net(_) => panic!("{s} went to a trie"),
            };
            assert_eq!(back, cidr(s), "{s}");
        }
        for s in ["10.0.0.0/31", "0.0.0.0/0", "2001:db8::/127", "::/0"] {
            assert!(matches!(block_key(cidr(s)), BlockKey::Net(_)), "{s}");
        }
    }

    #[test]
    fn a_list_is_nonempty_from_its_first_entry_to_its_last_removal() {
        let mut s = ListSizes::default();
        assert_eq!(s.nonempty(), 0);
        s.add(List::HostsV4, 1);
        s.add(List::AllowV6, 2);
        assert_eq!(s.nonempty(), LIST_BLOCK_HOST_V4 | LIST_ALLOW_V6);
        s.add(List::AllowV6, -1);
        assert_eq!(s.nonempty(), LIST_BLOCK_HOST_V4 | LIST_ALLOW_V6);
        s.add(List::AllowV6, -1);
        s.set(List::NetsV6, 7);
        assert_eq!(s.nonempty(), LIST_BLOCK_HOST_V4 | LIST_BLOCK_NET_V6);
        // Every list has its own bit, and together they are the C header's LIST_ALL (0x3f).
        let all = List::ALL.iter().fold(0, |bits, l| bits | l.bit());
        assert_eq!(all, 0x3f);
        assert_eq!(
            List::ALL.iter().map(|l| l.bit().count_ones()).sum::<u32>(),
            6
        );
    }

    #[test]
    fn event_addresses_unmap_only_for_ipv4_events() {
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets();
        assert_eq!(
            event_addr(mapped, 4),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            event_addr(mapped, 6),
            "::ffff:192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn dst_keys_unmap_ipv4() {
        let cases = [
            (
                Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().octets(),
                "192.0.2.7",
            ),
            (
                "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
                "2001:db8::1",
            ),
            ([0; 16], "::"),
        ];
        for (key, want) in cases {
            assert_eq!(dst_key_addr(key), want.parse::<IpAddr>().unwrap(), "{want}");
        }
    }

    #[test]
    fn slots_are_unique_reusable_and_bounded() {
        let cap = FIRST_ENTRY_SLOT + 3;
        let mut s = Slots::new(cap);
        assert!(!s.claim(0), "match rule slots are not for entries");
        assert!(!s.claim(cap), "past the array");
        assert!(s.claim(FIRST_ENTRY_SLOT + 1));
        assert!(!s.claim(FIRST_ENTRY_SLOT + 1), "held twice");
        let a = s.alloc().unwrap();
        let b = s.alloc().unwrap();
        assert_eq!(
            [a, b],
            [FIRST_ENTRY_SLOT, FIRST_ENTRY_SLOT + 2],
            "the held slot is skipped"
        );
        assert_eq!(s.alloc(), None, "all three held");
        s.free(a);
        assert_eq!(s.alloc(), Some(a), "a freed slot comes back");
        assert_eq!(Slots::new(FIRST_ENTRY_SLOT).alloc(), None);
    }

    #[test]
    fn action_codes_round_trip() {
        for a in [RuleAction::Drop, RuleAction::Monitor] {
            assert_eq!(action_from_code(u32::from(action_code(a))), Some(a));
        }
        assert_eq!(action_from_code(u32::from(ACTION_PASS)), None);
        assert_eq!(action_from_code(7), None);
    }
}
