//! The counter maps of [`XdpFilter`], summed over CPUs: per-protocol traffic (`stats`), the
//! program's own counters (`counters`), hits per entry (`hits`, a per-CPU array indexed by the
//! slot each entry carries), summed per rule id, and TCP segments per destination (`dst_tcp`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use aya::maps::PerCpuValues;

use super::XdpFilter;
use crate::error::{Error, Result};
use crate::maps::*;

impl XdpFilter {
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
            expired_passed,
        ] = c;
        Ok(KernelCounters {
            malformed,
            events_sent,
            events_ringbuf_full,
            events_rate_limited,
            expired_passed,
        })
    }

    /// Packets and bytes per rule id that decided a verdict (allow, drop or monitor), summed
    /// over CPUs and over the entries (blocklist, allowlist, match rules) that carry the id.
    /// Ids whose entries have not been hit are left out.
    pub fn read_hits(&self) -> Result<BTreeMap<u32, HitCount>> {
        let mut slots: Vec<(u32, u32)> = self
            .block_values()?
            .into_iter()
            .chain(self.allow_values()?)
            .map(|(_, v)| (v.rule_id, v.slot))
            .collect();
        // A match rule's slot is its index in `match_rules`.
        slots.extend((0u32..).zip(&self.match_rule_ids).map(|(i, id)| (*id, i)));
        let mut out = BTreeMap::new();
        for (id, slot) in slots {
            if slot == NO_SLOT {
                continue;
            }
            let per_cpu = self.hits.get(&slot, 0).map_err(|source| Error::Map {
                map: HITS,
                source: Box::new(source),
            })?;
            let mut total = HitCount::default();
            for v in per_cpu.iter() {
                total += *v;
            }
            if total.packets > 0 {
                let sum: &mut HitCount = out.entry(id).or_default();
                sum.packets += total.packets;
                sum.bytes += total.bytes;
            }
        }
        Ok(out)
    }

    /// Zeroes the counters of `slot` on every CPU (before a new entry takes it).
    pub(super) fn zero_hits(&mut self, slot: u32) -> Result<()> {
        let err = |source| Error::Map {
            map: HITS,
            source: Box::new(source),
        };
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| {
            err(aya::maps::MapError::SyscallError(aya::sys::SyscallError {
                call: "nr_cpus",
                io_error: e,
            }))
        })?;
        let zeros = PerCpuValues::try_from(vec![RawHit::default(); cpus]).map_err(|e| {
            err(aya::maps::MapError::SyscallError(aya::sys::SyscallError {
                call: "PerCpuValues",
                io_error: e,
            }))
        })?;
        self.hits.set(slot, zeros, 0).map_err(err)
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
}
