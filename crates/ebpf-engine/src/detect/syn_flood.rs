//! [`SynFloodDetector`]: SYN floods per destination address (seed 002: 100 SYNs in 10 s with a
//! SYN-only share of at least 0.8), from periodic snapshots of the kernel's `dst_tcp` counters,
//! with the dominant source named from the kernel's SYN events when there is one.
//!
//! # Counters
//!
//! `dst_tcp` holds cumulative {SYN without ACK, all TCP} counts per destination, dropped segments
//! included (a flood from blocked sources is still a flood). Each snapshot is compared with the
//! previous one:
//!
//! - a destination also in the previous snapshot contributes the difference;
//! - a destination new since the previous snapshot contributes all it holds (its entry was
//!   created since then) — except in the very first snapshot, whose counts may have accumulated
//!   for any length of time and only serve as the baseline;
//! - a counter that went down means the kernel's LRU evicted the entry and it was created
//!   again (or the program was reloaded): what it holds now is new, and it is counted as such
//!   ([`SynFloodStats::counter_resets`]). Segments between the last snapshot and the eviction
//!   are lost.
//!
//! Differences are attributed to the snapshot's time and summed over the window; a snapshot is
//! one sample, so the window moves in steps of the polling interval. Samples closer together
//! than window / 32 are merged, which bounds a destination's samples whatever the polling rate.
//! The baseline holds one entry per destination of the last snapshot, which the kernel map
//! bounds (16,384).
//!
//! # Sources
//!
//! The counters carry no source. The SYN events from the ring buffer do (sampled: the kernel
//! rate-limits them), so [`SynFloodDetector::observe_packet`] keeps, per destination and per
//! fifth of the window, a Space-Saving summary of the 4 busiest sources with their counts and
//! error bounds. A source is named in the alert when the lower bound of its count over the
//! window is at least half of the SYN events seen for the destination — never a guess, at worst
//! a miss. Dropped packets raise no event, so once a responder blocks the top talker the next
//! alert names the next dominant source, if any.
//!
//! # Evidence
//!
//! `spoofable`, always: the counted segments are SYNs without a completed handshake, which a
//! flooder sends from random forged addresses (`hping3 --flood --rand-source`), so even the
//! named dominant source may be a bystander. The responder never blocks a SYN flood's source;
//! the mitigation is at the destination: the kernel's SYN cookies
//! (`net.ipv4.tcp_syncookies`, per network namespace; the engine reports when it is 0), which
//! keep completing handshakes for real clients while the SYN backlog is full.
//!
//! # Bounds
//!
//! At most `max_tracked` destinations with window state (least recently active evicted first,
//! counted); per destination at most 33 samples and 5 × 4 source counters.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ironpost_core::{AlertEvent, AlertSource, Entities, Evidence, PacketEvent, Protocol, Severity};

use super::lru::Lru;
use super::{TCP_ACK, TCP_SYN, within};
use crate::config::SynFloodConfig;
use crate::maps::DstTcpCounters;

/// The alert's `rule_id`.
pub const SYN_FLOOD_RULE_ID: &str = "syn_flood";

/// Samples per window beyond which close samples are merged.
const MAX_SAMPLES: u32 = 32;
/// Sub-windows of the source summaries.
const SOURCE_BUCKETS: u64 = 5;
/// Sources counted per sub-window.
const TOP_SOURCES: usize = 4;

/// Counters of a [`SynFloodDetector`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SynFloodStats {
    /// Destinations with window state now.
    pub tracked: usize,
    /// Destinations forgotten because `max_tracked` were already tracked.
    pub evicted: u64,
    /// Kernel counters seen going down (entry evicted and re-created, or program reloaded).
    pub counter_resets: u64,
    pub alerts: u64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    syn: u64,
    tcp: u64,
}

/// One source in a Space-Saving summary: it was seen at least `count - error` times.
#[derive(Debug, Clone, Copy)]
struct Counted {
    src: IpAddr,
    count: u64,
    error: u64,
}

#[derive(Debug)]
struct SourceBucket {
    index: u64,
    total: u64,
    top: Vec<Counted>,
}

#[derive(Debug, Default)]
struct Dst {
    samples: VecDeque<Sample>,
    buckets: VecDeque<SourceBucket>,
    last_alert: Option<Instant>,
}

/// Detects SYN floods per destination; see the module documentation.
#[derive(Debug)]
pub struct SynFloodDetector {
    cfg: SynFloodConfig,
    /// The previous snapshot's counters: what the next one is compared with.
    baseline: HashMap<IpAddr, DstTcpCounters>,
    seen_snapshot: bool,
    dsts: Lru<IpAddr, Dst>,
    /// Origin of the source sub-window numbering.
    epoch: Option<Instant>,
    counter_resets: u64,
    alerts: u64,
}

impl SynFloodDetector {
    pub fn new(cfg: &SynFloodConfig) -> Self {
        SynFloodDetector {
            cfg: cfg.clone(),
            baseline: HashMap::new(),
            seen_snapshot: false,
            dsts: Lru::new(cfg.max_tracked),
            epoch: None,
            counter_resets: 0,
            alerts: 0,
        }
    }

    /// Takes a snapshot of the kernel's per-destination counters
    /// ([`crate::XdpFilter::read_dst_tcp`]) read at `now`, and returns an alert for each
    /// destination that received at least `threshold` SYNs within the window with a SYN-only
    /// share of at least `ratio` — at most one per destination per window (the cooldown).
    /// Nothing when the detector is disabled.
    pub fn observe_snapshot(
        &mut self,
        snapshot: &[(IpAddr, DstTcpCounters)],
        now: Instant,
    ) -> Vec<AlertEvent> {
        if !self.cfg.enabled {
            return Vec::new();
        }
        let first = !self.seen_snapshot;
        self.seen_snapshot = true;
        let window = self.cfg.window;
        let mut next = HashMap::with_capacity(snapshot.len());
        let mut with_syns = Vec::new();
        for &(addr, cur) in snapshot {
            if next.insert(addr, cur).is_some() {
                continue; // the same address twice: the first one counts
            }
            let delta = match self.baseline.get(&addr) {
                None if first => continue,
                None => cur,
                Some(prev) if cur.syn < prev.syn || cur.tcp < prev.tcp => {
                    self.counter_resets += 1;
                    cur
                }
                Some(prev) => DstTcpCounters {
                    syn: cur.syn - prev.syn,
                    tcp: cur.tcp - prev.tcp,
                },
            };
            if delta.tcp == 0 && delta.syn == 0 {
                continue;
            }
            self.dsts
                .touch_or_insert_with(addr, Dst::default)
                .add_sample(now, delta, window);
            if delta.syn > 0 {
                with_syns.push(addr);
            }
        }
        self.baseline = next;

        let bucket = self.bucket_index(now);
        let mut alerts = Vec::new();
        for addr in with_syns {
            // Inserting later destinations of this snapshot may have evicted this one.
            let Some(dst) = self.dsts.peek_mut(&addr) else {
                continue;
            };
            let (syn, tcp) = dst.window_sums(now, window);
            // syn / tcp < ratio, without dividing by zero.
            if syn < self.cfg.threshold || (syn as f64) < self.cfg.ratio * tcp as f64 {
                continue;
            }
            if dst.last_alert.is_some_and(|t| within(t, now, window)) {
                continue;
            }
            dst.last_alert = Some(now);
            let top = dst.dominant_source(bucket);
            alerts.push(self.alert(addr, syn, tcp, top));
        }
        self.alerts += alerts.len() as u64;
        self.expire(now);
        alerts
    }

    /// Counts a packet event from the kernel towards the sources of its destination: only TCP
    /// SYNs without ACK count. Used to name the dominant source in alerts; no alert comes from
    /// events alone.
    pub fn observe_packet(&mut self, ev: &PacketEvent, now: Instant) {
        let is_syn = ev.protocol == Protocol::Tcp
            && ev
                .tcp_flags
                .is_some_and(|f| f & (TCP_SYN | TCP_ACK) == TCP_SYN);
        if !self.cfg.enabled || !is_syn {
            return;
        }
        let bucket = self.bucket_index(now);
        self.dsts
            .touch_or_insert_with(ev.dst_ip, Dst::default)
            .count_source(ev.src_ip, bucket);
    }

    /// Forgets destinations that can no longer raise an alert by themselves (nothing within the
    /// window, cooldown over). [`SynFloodDetector::observe_snapshot`] calls it.
    pub fn expire(&mut self, now: Instant) {
        let window = self.cfg.window;
        let bucket = self.bucket_index(now);
        self.dsts.retain(|_, d| {
            d.samples.iter().any(|s| within(s.at, now, window))
                || d.buckets.iter().any(|b| b.index + SOURCE_BUCKETS > bucket)
                || d.last_alert.is_some_and(|t| within(t, now, window))
        });
    }

    pub fn stats(&self) -> SynFloodStats {
        SynFloodStats {
            tracked: self.dsts.len(),
            evicted: self.dsts.evicted(),
            counter_resets: self.counter_resets,
            alerts: self.alerts,
        }
    }

    /// The source sub-window `now` falls in, counted from the first call.
    fn bucket_index(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        let len = (self.cfg.window / SOURCE_BUCKETS as u32).max(Duration::from_millis(1));
        u64::try_from(now.saturating_duration_since(epoch).as_nanos() / len.as_nanos())
            .unwrap_or(u64::MAX)
    }

    fn alert(
        &self,
        dst: IpAddr,
        syn: u64,
        tcp: u64,
        top: Option<(IpAddr, u64, u64)>,
    ) -> AlertEvent {
        let mut a = AlertEvent::new(
            AlertSource::Ebpf,
            SYN_FLOOD_RULE_ID,
            format!("SYN flood against {dst}"),
            Severity::High,
        )
        .with_evidence(Evidence::Spoofable);
        let percent = |x: f64| (x * 100.0).round();
        let share = if tcp == 0 {
            1.0
        } else {
            syn as f64 / tcp as f64
        };
        let sources = match top {
            Some((src, count, total)) => {
                format!("{src} sent at least {count} of the {total} SYN events sampled for it.")
            }
            None => "No single source sent half of the SYN events sampled for it.".to_owned(),
        };
        a.description = format!(
            "{dst} received {syn} TCP SYNs without ACK within {} s, {}% of its {tcp} TCP \
             segments (thresholds: {} SYNs, {}%). {sources}",
            self.cfg.window.as_secs(),
            percent(share),
            self.cfg.threshold,
            percent(self.cfg.ratio),
        );
        a.entities = Entities {
            src_ip: top.map(|(src, _, _)| src),
            dst_ip: Some(dst),
            protocol: Some(Protocol::Tcp),
            ..Entities::default()
        };
        a.tags = vec!["attack.impact".into(), "T1498".into()];
        a
    }
}

impl Dst {
    fn add_sample(&mut self, now: Instant, delta: DstTcpCounters, window: Duration) {
        while self
            .samples
            .front()
            .is_some_and(|s| !within(s.at, now, window))
        {
            self.samples.pop_front();
        }
        let merge_within = window / MAX_SAMPLES;
        let full = self.samples.len() > MAX_SAMPLES as usize;
        match self.samples.back_mut() {
            Some(last) if full || within(last.at, now, merge_within) => {
                // Keeping the older time makes the merged SYNs leave the window early: an
                // under-count, never an over-count.
                last.syn += delta.syn;
                last.tcp += delta.tcp;
            }
            _ => self.samples.push_back(Sample {
                at: now,
                syn: delta.syn,
                tcp: delta.tcp,
            }),
        }
    }

    fn window_sums(&self, now: Instant, window: Duration) -> (u64, u64) {
        self.samples
            .iter()
            .filter(|s| within(s.at, now, window))
            .fold((0, 0), |(syn, tcp), s| (syn + s.syn, tcp + s.tcp))
    }

    /// Space-Saving update of the sub-window `bucket` (events out of order join the newest).
    fn count_source(&mut self, src: IpAddr, bucket: u64) {
        let index = self.buckets.back().map_or(bucket, |b| b.index.max(bucket));
        while self
            .buckets
            .front()
            .is_some_and(|b| b.index + SOURCE_BUCKETS <= index)
        {
            self.buckets.pop_front();
        }
        if self.buckets.back().is_none_or(|b| b.index != index) {
            self.buckets.push_back(SourceBucket {
                index,
                total: 0,
                top: Vec::with_capacity(TOP_SOURCES),
            });
        }
        let Some(b) = self.buckets.back_mut() else {
            return;
        };
        b.total += 1;
        if let Some(c) = b.top.iter_mut().find(|c| c.src == src) {
            c.count += 1;
        } else if b.top.len() < TOP_SOURCES {
            b.top.push(Counted {
                src,
                count: 1,
                error: 0,
            });
        } else if let Some(min) = b.top.iter_mut().min_by_key(|c| c.count) {
            // The newcomer may have been seen up to `min.count` times before, uncounted.
            *min = Counted {
                src,
                count: min.count + 1,
                error: min.count,
            };
        }
    }

    /// The source whose guaranteed count over the window's sub-windows is at least half of all
    /// SYN events seen: (source, that count, all events). Ties go to the lower address.
    fn dominant_source(&self, bucket: u64) -> Option<(IpAddr, u64, u64)> {
        let live = || {
            self.buckets
                .iter()
                .filter(move |b| b.index + SOURCE_BUCKETS > bucket)
        };
        let total: u64 = live().map(|b| b.total).sum();
        let mut lower: Vec<(IpAddr, u64)> = Vec::new();
        for c in live().flat_map(|b| &b.top) {
            let guaranteed = c.count - c.error;
            match lower.iter_mut().find(|(src, _)| *src == c.src) {
                Some((_, n)) => *n += guaranteed,
                None => lower.push((c.src, guaranteed)),
            }
        }
        let (src, count) = lower
            .into_iter()
            .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))?;
        (total > 0 && count.saturating_mul(2) >= total).then_some((src, count, total))
    }
}

#[cfg(test)]
mod tests;
