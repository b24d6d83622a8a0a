//! ebpf-engine: XDP packet filtering in the kernel and network detectors in userspace.
//!
//! This crate owns the `[ebpf]` config section and the kernel side of the filter:
//!
//! - `bpf/xdp_filter.bpf.c` (+ `bpf/xdp_filter.h`, the structs shared with `src/maps.rs`): the
//!   XDP program in C, compiled by `build.rs` with `clang -O2 -g -target bpf` and embedded in
//!   the binary. Its module comment is the reference for the verdict order.
//! - [`XdpFilter`] (`src/kernel/`): loads it with aya, sizes and optionally pins its maps,
//!   attaches/detaches it, and is the typed API over the maps (`mod.rs`: load, attach, test run,
//!   config; `lists.rs`: blocklist and allowlist; `stats.rs`: the counter maps).
//! - [`EventReader`] (`src/events.rs`): the ring buffer of suspicious packets, as
//!   [`KernelEvent`]s and then `ironpost_core::PacketEvent`s.
//! - [`rules::compile`] (`src/rules.rs`): `[[ebpf.rules]]` into blocklist entries and match rules.
//!
//! # Maps
//!
//! | map | type | key → value |
//! |---|---|---|
//! | `block_hosts_v4`, `block_hosts_v6` | hash, `BPF_F_NO_PREALLOC`, `blocklist_max_entries` each | source address (/32, /128) → {expiry, rule id, drop \| monitor, hit slot} |
//! | `blocklist_v4`, `blocklist_v6` | LPM trie, `BPF_F_NO_PREALLOC`, `blocklist_max_entries` each | source CIDR shorter than /32 (/128) → {expiry, rule id, drop \| monitor, hit slot} |
//! | `allowlist_v4`, `allowlist_v6` | LPM trie, 1024 each | source CIDR → {rule id, hit slot} |
//! | `match_rules` | array of 64 | rules on dst CIDR / dst port / protocol (+ optional src CIDR) |
//! | `config` | array of 1 | match rule count, event rate and burst, `nonempty` (bitmask of the source-address maps that hold entries) |
//! | `stats` | per-CPU array of 5 | tcp, udp, icmp (+icmpv6), other, total → {packets, bytes, drops} |
//! | `counters` | per-CPU array of 5 | malformed, events sent, ring buffer full, rate limited, expired entries passed |
//! | `hits` | per-CPU array | slot → {packets, bytes} |
//! | `rate_state` | per-CPU array of 1 | token bucket state |
//! | `events` | ring buffer, `ring_buffer_size` bytes | `struct packet_event` |
//! | `dst_tcp` | per-CPU LRU hash, 16,384 | destination address → {SYNs without ACK, TCP segments} (SYN flood detector) |
//!
//! A family's blocklist is two maps: single addresses in the exact-match hash, which the program
//! checks first (a host entry is the longest prefix there is), shorter prefixes in the LPM trie.
//! A hash lookup costs the same at any size, while a trie lookup grows with its entries, and
//! most run-time blocks are single addresses. [`XdpFilter`] routes each entry to its map and
//! bounds the two maps of a family by `blocklist_max_entries` together. It also keeps the
//! `nonempty` bits (one per allowlist, host map and trie) in step with the entries, and the
//! program skips the lookup of a map whose bit is clear.
//!
//! Each entry carries its expiry (`expires`: jiffies as `bpf_jiffies64()` reads them, plus
//! 2^62; 0 = permanent; see [`clock`]): the program ignores an expired entry, so a TTL ends on
//! time even while no daemon runs. Userspace only garbage-collects expired entries.
//!
//! `hits` is a per-CPU array of 2 × `blocklist_max_entries` + 2 × 1024 + 64 slots. Slots
//! 0..64 are the match rules (by index); every blocklist and allowlist entry carries the slot
//! [`XdpFilter`] allocated for it. Counting a hit is then an inlined array access on the drop
//! path; a hash keyed by rule id (the earlier design) cost a hash lookup per counted packet,
//! which made the drop path about twice as slow as the pass path (bench/README.md). Hits are
//! summed per rule id when read.
//!
//! # Rules on destination, port and protocol
//!
//! The blocklist maps are keyed on the source address only, which is what the blocklist API and
//! `src_ip`-only rules need. Rules that also constrain `dst_ip`, `dst_port` or `protocol` (seed
//! 002's `monitor_ssh`: `dst_port = 22, protocol = 6`) go to `match_rules`, at most 64, checked
//! linearly in config order after the allowlist and blocklist lookups. Verdict: allowlist
//! match → pass; else the blocklist's `drop` entry (host map, else trie), else the first `drop`
//! match rule → drop; else the first `monitor` match (blocklist entry first) → pass + event;
//! else a TCP SYN without ACK → pass + event.
//! Drops raise no event (a blocked flood must not spend the event budget): they show in the
//! per-protocol drop counters and the hit counters.
//!
//! # Event rate limit
//!
//! A token bucket per CPU (`rate_state`): `events_per_second` tokens per second up to
//! `events_burst`, one per event. Suppressed events and events lost to a full ring buffer are
//! counted separately ([`KernelCounters`]).
//!
//! Architecture invariant: depends on `ironpost-core` and `ironpost-proto` (the wire types it
//! converts into) only, plus aya for the kernel with the `runtime` feature.

// Without the runtime, parts of the kernel contract (`maps.rs`) have no user in this build.
#![cfg_attr(not(feature = "runtime"), allow(dead_code, unused_imports))]

pub mod blocklist;
pub mod clock;
pub mod config;
pub mod detect;
#[cfg(feature = "runtime")]
mod engine;
mod error;
#[cfg(feature = "runtime")]
mod events;
#[cfg(feature = "runtime")]
mod kernel;
mod maps;
pub mod pins;
#[cfg(feature = "runtime")]
pub mod response;
mod response_config;
pub mod rules;
#[cfg(feature = "runtime")]
mod wire;

pub use blocklist::{Block, BlockRequest};
pub use config::{EbpfConfig, FilterRule, RuleAction, XdpMode};
pub use config::{PortScanConfig, SynFloodConfig};
pub use detect::{PortScanDetector, PortScanStats, SynFloodDetector, SynFloodStats};
#[cfg(feature = "runtime")]
pub use engine::{
    BlockView, Counters, Engine, EngineHandle, EngineOutputs, EngineStats, ExtraInterface,
};
pub use error::{Error, Result};
#[cfg(feature = "runtime")]
pub use events::{EventReader, KernelEvent};
#[cfg(feature = "runtime")]
pub use kernel::{LoadOptions, PinnedAttach, XdpAction, XdpFilter, ifindex};
pub use maps::{
    ALLOWLIST_MAX_ENTRIES, AllowEntry, BlockEntry, HitCount, KernelCounters, MAX_MATCH_RULES,
    ProtoCounters, TrafficStats,
};
pub use maps::{DST_TCP_MAX_ENTRIES, DstTcpCounters, LINK_PIN, PINNED_MAPS};
pub use pins::{on_bpffs, remove_pins};
#[cfg(feature = "runtime")]
pub use response::{RESPONSE_CHANNEL_CAPACITY, Responder};
pub use response_config::ResponseConfig;
pub use rules::{CompiledRules, MatchRule};
