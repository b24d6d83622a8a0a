//! [`XdpFilter`]: loads the embedded XDP object with aya, sizes and optionally pins its maps,
//! attaches and detaches it, and offers a typed API over every map (blocklist, allowlist, match
//! rules, event rate limit, stats, counters, hits, per-destination TCP counters) plus the event
//! ring buffer.
//!
//! Dropping an `XdpFilter` detaches the program and closes the maps; pinned maps stay in bpffs
//! and are reused, entries included, by the next load with the same `pin_path`. A reused map
//! keeps the size it was created with: a new `blocklist_max_entries` applies once the pins are
//! removed.
//!
//! The blocklist of each family is two maps: single addresses (/32, /128) in an exact-match hash
//! (`block_hosts_v4/v6`), shorter prefixes in an LPM trie (`blocklist_v4/v6`); the program checks
//! the hash first (see `bpf/xdp_filter.bpf.c`). [`XdpFilter::insert_block`],
//! [`XdpFilter::remove_block`] and [`XdpFilter::list_blocks`] route between them, and
//! `blocklist_max_entries` bounds the two maps of a family together.
//!
//! Architecture invariant: this `XdpFilter` is the only writer of the blocklist and allowlist
//! maps while it lives. It counts their entries (at load, then on every change) to enforce that
//! bound and to tell the program which maps are empty (`filter_config.nonempty`), so the program
//! skips their lookups. An entry written behind its back (bpftool on a pinned map) is honoured
//! only in a map the program already looks up, until the next load counts it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use aya::maps::{
    Array, HashMap as BpfHashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuHashMap,
    RingBuf,
};
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp, xdp::XdpLinkId};
use aya::{Ebpf, EbpfLoader, Pod};
use ironpost_core::net::Cidr;

use crate::config::{EbpfConfig, RuleAction, XdpMode};
use crate::error::{Error, Result};
use crate::events::EventReader;
use crate::maps::*;
use crate::rules::MatchRule;

/// The compiled `bpf/xdp_filter.bpf.c` (built by `build.rs`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_filter.bpf.o"));

/// What the loader needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Capacity of the IPv4 blocklist and of the IPv6 blocklist (each: host entries and shorter
    /// prefixes together).
    pub blocklist_max_entries: u32,
    /// Bytes of the event ring buffer (a power of two, multiple of the page size).
    pub ring_buffer_size: u32,
    /// Directory on a bpffs mount for the blocklist, allowlist and hit maps.
    pub pin_path: Option<PathBuf>,
    /// Token bucket refill per second and per CPU; 0 = never refill (only `events_burst` events
    /// per CPU, ever — useful for tests).
    pub events_per_second: u32,
    /// Token bucket capacity per CPU.
    pub events_burst: u32,
}

impl LoadOptions {
    pub fn from_config(cfg: &EbpfConfig) -> Self {
        LoadOptions {
            blocklist_max_entries: cfg.blocklist_max_entries,
            ring_buffer_size: cfg.ring_buffer_size,
            pin_path: cfg.pin_path.clone(),
            events_per_second: cfg.events_per_second,
            events_burst: cfg.events_burst,
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::from_config(&EbpfConfig::default())
    }
}

/// An XDP program return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAction {
    Aborted,
    Drop,
    Pass,
    Tx,
    Redirect,
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(v: u32) -> Self {
        match v {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            n => XdpAction::Other(n),
        }
    }
}

/// The loaded XDP filter and its maps.
pub struct XdpFilter {
    bpf: Ebpf,
    blocklist_v4: LpmTrie<MapData, [u8; 4], LpmValue>,
    blocklist_v6: LpmTrie<MapData, [u8; 16], LpmValue>,
    block_hosts_v4: BpfHashMap<MapData, HostV4, LpmValue>,
    block_hosts_v6: BpfHashMap<MapData, HostV6, LpmValue>,
    allowlist_v4: LpmTrie<MapData, [u8; 4], LpmValue>,
    allowlist_v6: LpmTrie<MapData, [u8; 16], LpmValue>,
    match_rules: Array<MapData, RawMatchRule>,
    config: Array<MapData, RawConfig>,
    stats: PerCpuArray<MapData, RawProtoStats>,
    counters: PerCpuArray<MapData, u64>,
    hits: PerCpuHashMap<MapData, u32, RawHit>,
    dst_tcp: PerCpuHashMap<MapData, DstKey, RawDstTcp>,
    events: Option<RingBuf<MapData>>,
    blocklist_max_entries: u32,
    /// Entries per source-address map, as this filter wrote them.
    sizes: ListSizes,
    /// The `nonempty` bits last written to the program's config.
    published_nonempty: u32,
    attached: Option<(String, XdpLinkId)>,
}

impl std::fmt::Debug for XdpFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpFilter")
            .field("blocklist_max_entries", &self.blocklist_max_entries)
            .field("attached", &self.attached_to())
            .field("event_reader_taken", &self.events.is_none())
            .finish_non_exhaustive()
    }
}

/// Capacity of the hit map: one entry per rule id the blocklists, allowlists and match rules can
/// hold at once.
fn hits_capacity(blocklist_max_entries: u32) -> u32 {
    blocklist_max_entries
        .saturating_mul(2)
        .saturating_add(ALLOWLIST_MAX_ENTRIES * 2)
        .saturating_add(MAX_MATCH_RULES as u32)
}

fn take<T>(bpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = bpf.take_map(name).ok_or(Error::MapLayout {
        map: name,
        source: None,
    })?;
    T::try_from(map).map_err(|e| Error::MapLayout {
        map: name,
        source: Some(Box::new(e)),
    })
}

fn is_pin_error(e: &aya::EbpfError) -> bool {
    matches!(e, aya::EbpfError::MapError(MapError::PinError { .. }))
}

impl XdpFilter {
    /// Loads the program into the kernel (not attached yet: see [`XdpFilter::attach`]) with its
    /// maps sized from `opts`, reusing pinned maps under `opts.pin_path` when present.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(BLOCKLIST_V4, opts.blocklist_max_entries)
            .map_max_entries(BLOCKLIST_V6, opts.blocklist_max_entries)
            .map_max_entries(BLOCK_HOSTS_V4, opts.blocklist_max_entries)
            .map_max_entries(BLOCK_HOSTS_V6, opts.blocklist_max_entries)
            .map_max_entries(ALLOWLIST_V4, ALLOWLIST_MAX_ENTRIES)
            .map_max_entries(ALLOWLIST_V6, ALLOWLIST_MAX_ENTRIES)
            .map_max_entries(HITS, hits_capacity(opts.blocklist_max_entries))
            .map_max_entries(EVENTS, opts.ring_buffer_size);
        if let Some(dir) = &opts.pin_path {
            std::fs::create_dir_all(dir).map_err(|source| Error::PinDir {
                path: dir.clone(),
                source,
            })?;
            for name in PINNED_MAPS {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let mut bpf = loader.load(OBJECT).map_err(|source| match &opts.pin_path {
            Some(path) if is_pin_error(&source) => Error::Pin {
                path: path.clone(),
                source: Box::new(source),
            },
            _ => Error::Load {
                blocklist_max_entries: opts.blocklist_max_entries,
                ring_buffer_size: opts.ring_buffer_size,
                source: Box::new(source),
            },
        })?;

        // The program must be loaded before maps are taken out of `bpf`: its instructions refer
        // to the map fds, which `take_map` hands over to us.
        let program = xdp_program(&mut bpf)?;
        program.load().map_err(|source| match source {
            ProgramError::LoadError {
                ref verifier_log, ..
            } => Error::Verifier {
                program: PROGRAM,
                verifier_log: verifier_log.to_string(),
                source: Box::new(source),
            },
            source => Error::ProgramLoad {
                program: PROGRAM,
                source: Box::new(source),
            },
        })?;

        let mut filter = XdpFilter {
            blocklist_v4: take(&mut bpf, BLOCKLIST_V4)?,
            blocklist_v6: take(&mut bpf, BLOCKLIST_V6)?,
            block_hosts_v4: take(&mut bpf, BLOCK_HOSTS_V4)?,
            block_hosts_v6: take(&mut bpf, BLOCK_HOSTS_V6)?,
            allowlist_v4: take(&mut bpf, ALLOWLIST_V4)?,
            allowlist_v6: take(&mut bpf, ALLOWLIST_V6)?,
            match_rules: take(&mut bpf, MATCH_RULES)?,
            config: take(&mut bpf, CONFIG)?,
            stats: take(&mut bpf, STATS)?,
            counters: take(&mut bpf, COUNTERS)?,
            hits: take(&mut bpf, HITS)?,
            dst_tcp: take(&mut bpf, DST_TCP)?,
            events: Some(take(&mut bpf, EVENTS)?),
            bpf,
            blocklist_max_entries: opts.blocklist_max_entries,
            sizes: ListSizes::default(),
            published_nonempty: 0,
            attached: None,
        };
        // Pinned maps may come with entries: from an earlier version, host entries in a trie.
        filter.move_trie_hosts()?;
        filter.sizes = filter.count_entries()?;
        filter.write_config(|c| {
            c.match_rule_count = 0;
            c.nonempty = 0;
            set_rate(c, opts.events_per_second, opts.events_burst);
        })?;
        filter.publish_nonempty()?;
        Ok(filter)
    }

    /// Attaches the program to `iface`. `Native` maps to driver mode, `Skb` to generic mode,
    /// `Hw` to offload.
    pub fn attach(&mut self, iface: &str, mode: XdpMode) -> Result<()> {
        if let Some((current, _)) = &self.attached {
            return Err(Error::AlreadyAttached {
                iface: current.clone(),
            });
        }
        let aya_mode = match mode {
            XdpMode::Native => aya::programs::XdpMode::Driver,
            XdpMode::Skb => aya::programs::XdpMode::Skb,
            XdpMode::Hw => aya::programs::XdpMode::Hardware,
        };
        let link = xdp_program(&mut self.bpf)?
            .attach(iface, aya_mode)
            .map_err(|source| Error::Attach {
                iface: iface.to_owned(),
                mode,
                source: Box::new(source),
            })?;
        self.attached = Some((iface.to_owned(), link));
        Ok(())
    }

    /// Detaches the program; a no-op when it is not attached. Dropping the filter also detaches.
    pub fn detach(&mut self) -> Result<()> {
        let Some((iface, link)) = self.attached.take() else {
            return Ok(());
        };
        xdp_program(&mut self.bpf)?
            .detach(link)
            .map_err(|source| Error::Detach {
                iface,
                source: Box::new(source),
            })
    }

    /// The interface the program is attached to.
    pub fn attached_to(&self) -> Option<&str> {
        self.attached.as_ref().map(|(iface, _)| iface.as_str())
    }

    /// Runs the loaded program once per `repeat` on `frame` with BPF_PROG_TEST_RUN (needs
    /// CAP_BPF/root; the program need not be attached). Maps, stats and events are updated
    /// exactly as for a real packet.
    ///
    /// The kernel refuses test input shorter than an Ethernet header. A shorter `frame` is
    /// padded to 14 bytes and `xdp_md.data_end` is set to its length, so the program's linear
    /// data is exactly `frame` (the padding lands in a fragment the program does not read).
    /// Older kernels, which require `data_end` to cover the whole input, reject such frames with
    /// EINVAL (reported as [`Error::TestRun`]).
    pub fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<XdpAction> {
        self.test_run_timed(frame, repeat).map(|(action, _)| action)
    }

    /// [`XdpFilter::test_run`], also returning the kernel's mean time per run (what
    /// BPF_PROG_TEST_RUN measures: the program alone, over `repeat` runs).
    pub fn test_run_timed(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(XdpAction, std::time::Duration)> {
        const ETH_HLEN: usize = 14;
        let program = xdp_program(&mut self.bpf)?;
        let err = |source| Error::TestRun {
            len: frame.len(),
            source: Box::new(source),
        };
        let result = if frame.len() >= ETH_HLEN {
            program.test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..TestRunOptions::default()
            })
        } else {
            let mut data = frame.to_vec();
            data.resize(ETH_HLEN, 0);
            // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index,
            // egress_ifindex }: no metadata, linear data ends after `frame`.
            let md: [u32; 6] = [0, frame.len() as u32, 0, 0, 0, 0];
            let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
            program.test_run(TestRunOptions {
                data_in: Some(&data),
                ctx_in: Some(&ctx),
                repeat,
                ..TestRunOptions::default()
            })
        };
        let result = result.map_err(err)?;
        Ok((XdpAction::from(result.return_value), result.duration))
    }

    /// Blocks (or monitors) packets whose source address is in `cidr`. Replaces an existing
    /// entry for the same CIDR. `rule_id` must not be 0. A single address goes to the host map
    /// of its family, a shorter prefix to the trie; both count against `blocklist_max_entries`
    /// for the family ([`Error::MapFull`] names `blocklist_v4` or `blocklist_v6`).
    pub fn insert_block(&mut self, cidr: Cidr, rule_id: u32, action: RuleAction) -> Result<()> {
        if rule_id == 0 {
            return Err(Error::ReservedRuleId);
        }
        let value = LpmValue {
            rule_id,
            action: u32::from(action_code(action)),
        };
        let key = block_key(cidr);
        let list = List::of_block(&key);
        // The family's two maps share its capacity; errors name the family's trie.
        let (family, maps) = match key {
            BlockKey::HostV4(_) | BlockKey::Net(LpmKey::V4(_)) => {
                (BLOCKLIST_V4, [List::HostsV4, List::NetsV4])
            }
            BlockKey::HostV6(_) | BlockKey::Net(LpmKey::V6(_)) => {
                (BLOCKLIST_V6, [List::HostsV6, List::NetsV6])
            }
        };
        let used: u32 = maps.iter().map(|l| self.sizes.get(*l)).sum();
        let room = used < self.blocklist_max_entries;
        let result = match key {
            BlockKey::HostV4(k) => upsert(room, |f| self.block_hosts_v4.insert(k, value, f)),
            BlockKey::HostV6(k) => upsert(room, |f| self.block_hosts_v6.insert(k, value, f)),
            BlockKey::Net(LpmKey::V4(k)) => {
                upsert(room, |f| self.blocklist_v4.insert(&k, value, f))
            }
            BlockKey::Net(LpmKey::V6(k)) => {
                upsert(room, |f| self.blocklist_v6.insert(&k, value, f))
            }
        };
        let full = (family, self.blocklist_max_entries, "blocklist_max_entries");
        self.inserted(list, cidr, result, full)
    }

    /// Removes the entry for exactly `cidr` (not a longest-prefix match). `Ok(false)` when there
    /// was none.
    pub fn remove_block(&mut self, cidr: Cidr) -> Result<bool> {
        let key = block_key(cidr);
        let list = List::of_block(&key);
        let result = match key {
            BlockKey::HostV4(k) => self.block_hosts_v4.remove(&k),
            BlockKey::HostV6(k) => self.block_hosts_v6.remove(&k),
            BlockKey::Net(LpmKey::V4(k)) => self.blocklist_v4.remove(&k),
            BlockKey::Net(LpmKey::V6(k)) => self.blocklist_v6.remove(&k),
        };
        self.removed(list, cidr, result)
    }

    /// Every blocklist entry, IPv4 first.
    pub fn list_blocks(&self) -> Result<Vec<BlockEntry>> {
        let hosts_v4 = hash_list(&self.block_hosts_v4, BLOCK_HOSTS_V4, cidr_from_host_v4)?;
        let nets_v4 = lpm_list(&self.blocklist_v4, BLOCKLIST_V4, cidr_from_v4)?;
        let hosts_v6 = hash_list(&self.block_hosts_v6, BLOCK_HOSTS_V6, cidr_from_host_v6)?;
        let nets_v6 = lpm_list(&self.blocklist_v6, BLOCKLIST_V6, cidr_from_v6)?;
        Ok([hosts_v4, nets_v4, hosts_v6, nets_v6]
            .into_iter()
            .flatten()
            .filter_map(|(cidr, v)| {
                action_from_code(v.action).map(|action| BlockEntry {
                    cidr,
                    rule_id: v.rule_id,
                    action,
                })
            })
            .collect())
    }

    /// Always passes packets whose source address is in `cidr`, whatever the blocklist and the
    /// rules say. `rule_id` (non-zero) names the entry in the hit counters.
    pub fn insert_allow(&mut self, cidr: Cidr, rule_id: u32) -> Result<()> {
        if rule_id == 0 {
            return Err(Error::ReservedRuleId);
        }
        let value = LpmValue {
            rule_id,
            action: u32::from(ACTION_PASS),
        };
        // One map per family: the kernel enforces the capacity (ENOSPC).
        let (list, result) = match lpm_key(cidr) {
            LpmKey::V4(k) => (
                List::AllowV4,
                upsert(true, |f| self.allowlist_v4.insert(&k, value, f)),
            ),
            LpmKey::V6(k) => (
                List::AllowV6,
                upsert(true, |f| self.allowlist_v6.insert(&k, value, f)),
            ),
        };
        let full = (list.map(), ALLOWLIST_MAX_ENTRIES, "allowlist");
        self.inserted(list, cidr, result, full)
    }

    /// Removes the allowlist entry for exactly `cidr`; `Ok(false)` when there was none.
    pub fn remove_allow(&mut self, cidr: Cidr) -> Result<bool> {
        let (list, result) = match lpm_key(cidr) {
            LpmKey::V4(k) => (List::AllowV4, self.allowlist_v4.remove(&k)),
            LpmKey::V6(k) => (List::AllowV6, self.allowlist_v6.remove(&k)),
        };
        self.removed(list, cidr, result)
    }

    /// Every allowlist entry, IPv4 first.
    pub fn list_allows(&self) -> Result<Vec<AllowEntry>> {
        Ok(lpm_list(&self.allowlist_v4, ALLOWLIST_V4, cidr_from_v4)?
            .into_iter()
            .chain(lpm_list(&self.allowlist_v6, ALLOWLIST_V6, cidr_from_v6)?)
            .map(|(cidr, v)| AllowEntry {
                cidr,
                rule_id: v.rule_id,
            })
            .collect())
    }

    /// Replaces the match rules (checked in this order after the LPM lookups).
    pub fn set_match_rules(&mut self, rules: &[MatchRule]) -> Result<()> {
        if rules.len() > MAX_MATCH_RULES {
            return Err(Error::TooManyMatchRules {
                count: rules.len(),
                max: MAX_MATCH_RULES,
            });
        }
        if rules.iter().any(|r| r.rule_id == 0) {
            return Err(Error::ReservedRuleId);
        }
        // Shrink the live count first so the kernel never reads a half-written rule, write the
        // entries, then publish the new count.
        self.write_config(|c| c.match_rule_count = 0)?;
        for (i, r) in (0u32..).zip(rules) {
            self.match_rules
                .set(i, r.to_raw(), 0)
                .map_err(|source| Error::Map {
                    map: MATCH_RULES,
                    source: Box::new(source),
                })?;
        }
        self.write_config(|c| c.match_rule_count = rules.len() as u32)
    }

    /// Changes the event token bucket (per CPU). `per_second == 0` never refills.
    pub fn set_event_rate(&mut self, per_second: u32, burst: u32) -> Result<()> {
        self.write_config(|c| set_rate(c, per_second, burst))
    }

    /// Per-protocol packet, byte and drop counts, summed over CPUs.
    pub fn read_stats(&self) -> Result<TrafficStats> {
        let mut slots = [ProtoCounters::default(); STAT_SLOTS as usize];
        for (i, slot) in (0u32..).zip(slots.iter_mut()) {
            for v in self
                .stats
                .get(&i, 0)
                .map_err(|source| Error::Map {
                    map: STATS,
                    source: Box::new(source),
                })?
                .iter()
            {
                *slot += *v;
            }
        }
        let [tcp, udp, icmp, other, total] = slots;
        Ok(TrafficStats {
            tcp,
            udp,
            icmp,
            other,
            total,
        })
    }

    /// The program's malformed-frame and event-delivery counters, summed over CPUs.
    pub fn read_counters(&self) -> Result<KernelCounters> {
        let mut c = [0u64; COUNTER_SLOTS as usize];
        for (i, slot) in (0u32..).zip(c.iter_mut()) {
            *slot = self
                .counters
                .get(&i, 0)
                .map_err(|source| Error::Map {
                    map: COUNTERS,
                    source: Box::new(source),
                })?
                .iter()
                .sum();
        }
        let [
            malformed,
            events_sent,
            events_ringbuf_full,
            events_rate_limited,
        ] = c;
        Ok(KernelCounters {
            malformed,
            events_sent,
            events_ringbuf_full,
            events_rate_limited,
        })
    }

    /// Packets and bytes per rule id that decided a verdict (allow, drop or monitor), summed
    /// over CPUs.
    pub fn read_hits(&self) -> Result<BTreeMap<u32, HitCount>> {
        let mut out = BTreeMap::new();
        for entry in self.hits.iter() {
            let (id, per_cpu) = entry.map_err(|source| Error::Map {
                map: HITS,
                source: Box::new(source),
            })?;
            let mut total = HitCount::default();
            for v in per_cpu.iter() {
                total += *v;
            }
            out.insert(id, total);
        }
        Ok(out)
    }

    /// TCP segments per destination address, summed over CPUs, sorted by address: every TCP
    /// segment whose header the program parsed, whatever its verdict (see
    /// `bpf/xdp_filter.bpf.c`). Counters are cumulative while a destination stays in the LRU
    /// map ([`DST_TCP_MAX_ENTRIES`]); an evicted destination comes back from zero, which
    /// [`crate::SynFloodDetector`] treats as a reset.
    pub fn read_dst_tcp(&self) -> Result<Vec<(IpAddr, DstTcpCounters)>> {
        // The kernel may evict entries during the walk. A key that vanished makes the next
        // `get_next_key` start over from the first key: the map merges the repeats, and the walk
        // is capped so that it ends under any churn (a capped walk misses some destinations
        // for one snapshot).
        let max_steps = 4 * DST_TCP_MAX_ENTRIES as usize;
        let mut by_key: HashMap<DstKey, DstTcpCounters> = HashMap::new();
        for entry in self.dst_tcp.iter().take(max_steps) {
            let (key, per_cpu) = entry.map_err(|source| Error::Map {
                map: DST_TCP,
                source: Box::new(source),
            })?;
            let mut total = DstTcpCounters::default();
            for v in per_cpu.iter() {
                total += *v;
            }
            by_key.insert(key, total);
        }
        let mut out: Vec<(IpAddr, DstTcpCounters)> = by_key
            .into_iter()
            .map(|(k, v)| (dst_key_addr(k), v))
            .collect();
        out.sort_unstable_by_key(|(addr, _)| *addr);
        Ok(out)
    }

    /// Forgets the hit counts of `rule_id` (after its entries are gone for good).
    pub fn clear_hits(&mut self, rule_id: u32) -> Result<()> {
        match self.hits.remove(&rule_id) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(())
            }
            Err(source) => Err(Error::Map {
                map: HITS,
                source: Box::new(source),
            }),
        }
    }

    /// Hands the event ring buffer to a reader; `None` after the first call.
    pub fn take_event_reader(&mut self) -> Option<EventReader> {
        self.events.take().map(EventReader::new)
    }

    fn write_config(&mut self, f: impl FnOnce(&mut RawConfig)) -> Result<()> {
        let err = |source| Error::Map {
            map: CONFIG,
            source: Box::new(source),
        };
        let mut c = self.config.get(&0, 0).map_err(err)?;
        f(&mut c);
        self.config.set(0, c, 0).map_err(err)
    }

    /// Accounts for an insert into `list` (`result` of [`upsert`]); `full` is the map, capacity
    /// and setting an [`Error::MapFull`] names.
    fn inserted(
        &mut self,
        list: List,
        cidr: Cidr,
        result: Result<Upsert, MapError>,
        (map, max_entries, setting): (&'static str, u32, &'static str),
    ) -> Result<()> {
        let full = |source| Error::MapFull {
            map,
            cidr,
            max_entries,
            setting,
            source: Box::new(source),
        };
        match result {
            Ok(Upsert::Added) => self.resize(list, 1),
            Ok(Upsert::Replaced) => Ok(()),
            Ok(Upsert::NoRoom) => Err(full(no_space())),
            Err(e) if is_full(&e) => Err(full(e)),
            Err(source) => Err(Error::Insert {
                map: list.map(),
                cidr,
                source: Box::new(source),
            }),
        }
    }

    /// Accounts for a removal from `list` (`result` of the delete): `Ok(false)` when there was
    /// no such entry.
    fn removed(&mut self, list: List, cidr: Cidr, result: Result<(), MapError>) -> Result<bool> {
        match result {
            Ok(()) => self.resize(list, -1).map(|()| true),
            Err(MapError::KeyNotFound) => Ok(false),
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(false),
            Err(source) => Err(Error::Remove {
                map: list.map(),
                cidr,
                source: Box::new(source),
            }),
        }
    }

    /// Changes the entry count of `list` by `delta`; see [`XdpFilter::publish_nonempty`].
    fn resize(&mut self, list: List, delta: i32) -> Result<()> {
        self.sizes.add(list, delta);
        self.publish_nonempty()
    }

    /// Tells the program which maps hold entries, when that changed since it was last told (a
    /// failed write is retried by the next change).
    fn publish_nonempty(&mut self) -> Result<()> {
        let bits = self.sizes.nonempty();
        if bits == self.published_nonempty {
            return Ok(());
        }
        self.write_config(|c| c.nonempty = bits)?;
        self.published_nonempty = bits;
        Ok(())
    }

    /// Counts the entries of every source-address map.
    fn count_entries(&self) -> Result<ListSizes> {
        let mut sizes = ListSizes::default();
        for list in List::ALL {
            let keys = match list {
                List::AllowV4 => count_keys(self.allowlist_v4.keys()),
                List::AllowV6 => count_keys(self.allowlist_v6.keys()),
                List::HostsV4 => count_keys(self.block_hosts_v4.keys()),
                List::HostsV6 => count_keys(self.block_hosts_v6.keys()),
                List::NetsV4 => count_keys(self.blocklist_v4.keys()),
                List::NetsV6 => count_keys(self.blocklist_v6.keys()),
            };
            let n = keys.map_err(|source| Error::Map {
                map: list.map(),
                source: Box::new(source),
            })?;
            sizes.set(list, n);
        }
        Ok(sizes)
    }

    /// Moves /32 and /128 entries out of the blocklist tries into the host maps, where the
    /// program and [`XdpFilter::remove_block`] look for them now. Only maps pinned by a version
    /// without host maps hold such entries; runs before the entries are counted.
    fn move_trie_hosts(&mut self) -> Result<()> {
        let v4 = lpm_list(&self.blocklist_v4, BLOCKLIST_V4, cidr_from_v4)?;
        let v6 = lpm_list(&self.blocklist_v6, BLOCKLIST_V6, cidr_from_v6)?;
        for (cidr, value) in v4.into_iter().chain(v6) {
            let (host_map, inserted) = match block_key(cidr) {
                BlockKey::HostV4(k) => (
                    BLOCK_HOSTS_V4,
                    self.block_hosts_v4.insert(k, value, BPF_NOEXIST),
                ),
                BlockKey::HostV6(k) => (
                    BLOCK_HOSTS_V6,
                    self.block_hosts_v6.insert(k, value, BPF_NOEXIST),
                ),
                BlockKey::Net(_) => continue,
            };
            match inserted {
                Ok(()) => {}
                // Already in the host map: written later, by this version; that one stays.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(source) => {
                    return Err(Error::Insert {
                        map: host_map,
                        cidr,
                        source: Box::new(source),
                    });
                }
            }
            let (trie, removed) = match lpm_key(cidr) {
                LpmKey::V4(k) => (BLOCKLIST_V4, self.blocklist_v4.remove(&k)),
                LpmKey::V6(k) => (BLOCKLIST_V6, self.blocklist_v6.remove(&k)),
            };
            removed.map_err(|source| Error::Remove {
                map: trie,
                cidr,
                source: Box::new(source),
            })?;
        }
        Ok(())
    }
}

fn xdp_program(bpf: &mut Ebpf) -> Result<&mut Xdp> {
    bpf.program_mut(PROGRAM)
        .and_then(|p| <&mut Xdp>::try_from(p).ok())
        .ok_or(Error::MissingProgram { program: PROGRAM })
}

fn set_rate(c: &mut RawConfig, per_second: u32, burst: u32) {
    c.event_rate_per_sec = u64::from(per_second);
    c.event_burst = u64::from(burst);
    // After this long an empty bucket is full again; capping elapsed time there keeps
    // elapsed * rate within u64 in the kernel.
    c.refill_cap_ns = if per_second == 0 {
        0
    } else {
        (u64::from(burst) * NANOS_PER_SEC).div_ceil(u64::from(per_second))
    };
}

/// `flags` of BPF_MAP_UPDATE_ELEM.
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upsert {
    /// A new entry.
    Added,
    /// The entry existed and has the new value.
    Replaced,
    /// The key is new and `room` was false: nothing written.
    NoRoom,
}

/// Writes an entry through `update(flags)` (a map's `insert`): a new key only when `room`, an
/// existing key always. Telling the two apart keeps the entry counts exact.
fn upsert(
    room: bool,
    mut update: impl FnMut(u64) -> Result<(), MapError>,
) -> Result<Upsert, MapError> {
    if room {
        match update(BPF_NOEXIST) {
            Ok(()) => return Ok(Upsert::Added),
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    match update(BPF_EXIST) {
        Ok(()) => Ok(Upsert::Replaced),
        Err(e) if !room && errno(&e) == Some(libc::ENOENT) => Ok(Upsert::NoRoom),
        Err(e) => Err(e),
    }
}

fn errno(e: &MapError) -> Option<i32> {
    match e {
        MapError::SyscallError(e) => e.io_error.raw_os_error(),
        _ => None,
    }
}

/// A map refusing a new entry: ENOSPC from a trie, E2BIG from a hash.
fn is_full(e: &MapError) -> bool {
    matches!(errno(e), Some(libc::ENOSPC | libc::E2BIG))
}

/// The error a full map returns, for a family's blocklist found full here: its limit spans two
/// maps, so this filter enforces it before either map would refuse.
fn no_space() -> MapError {
    MapError::SyscallError(aya::sys::SyscallError {
        call: "bpf_map_update_elem",
        io_error: std::io::Error::from_raw_os_error(libc::ENOSPC),
    })
}

fn count_keys<K>(keys: impl Iterator<Item = Result<K, MapError>>) -> Result<u32, MapError> {
    let mut n = 0u32;
    for key in keys {
        key?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

fn hash_list<K: Pod>(
    map: &BpfHashMap<MapData, K, LpmValue>,
    name: &'static str,
    to_cidr: fn(&K) -> Cidr,
) -> Result<Vec<(Cidr, LpmValue)>> {
    map.iter()
        .map(|entry| {
            entry
                .map(|(key, value)| (to_cidr(&key), value))
                .map_err(|source| Error::Map {
                    map: name,
                    source: Box::new(source),
                })
        })
        .collect()
}

fn lpm_list<K: Pod>(
    map: &LpmTrie<MapData, K, LpmValue>,
    name: &'static str,
    to_cidr: fn(&aya::maps::lpm_trie::Key<K>) -> Option<Cidr>,
) -> Result<Vec<(Cidr, LpmValue)>> {
    let mut out = Vec::new();
    for entry in map.iter() {
        let (key, value) = entry.map_err(|source| Error::Map {
            map: name,
            source: Box::new(source),
        })?;
        if let Some(cidr) = to_cidr(&key) {
            out.push((cidr, value));
        }
    }
    Ok(out)
}

/// A later engine moves the filter and the reader into tasks.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<XdpFilter>();
    assert_send::<EventReader>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_cap_is_the_time_to_fill_the_bucket() {
        let mut c = RawConfig::default();
        set_rate(&mut c, 1_000, 2_000);
        assert_eq!(c.refill_cap_ns, 2 * NANOS_PER_SEC);
        set_rate(&mut c, 3, 1);
        assert_eq!(c.refill_cap_ns, 333_333_334);
        set_rate(&mut c, 0, 5);
        assert_eq!((c.refill_cap_ns, c.event_burst), (0, 5));
    }

    #[test]
    fn hit_map_holds_every_entry() {
        assert_eq!(hits_capacity(10), 20 + 2048 + 64);
        assert_eq!(hits_capacity(u32::MAX), u32::MAX);
    }
}
