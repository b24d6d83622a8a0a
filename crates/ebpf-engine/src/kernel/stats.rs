//! The counter maps of [`XdpFilter`], summed over CPUs: per-protocol traffic (`stats`), the
//! program's own counters (`counters`), hits per rule id (`hits`) and TCP segments per
//! destination (`dst_tcp`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use aya::maps::MapError;

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
}
