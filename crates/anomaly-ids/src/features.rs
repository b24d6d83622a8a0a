//! Flow telemetry in, per-source window features out.
//!
//! [`WindowExtractor`] keeps the connection attempts of the last [`WINDOW_SECONDS`] per source address and, on
//! each [`WindowExtractor::tick`], emits one [`Features`] per source that has attempts in the window. State is
//! bounded: at most `max_sources` sources (the least recently seen is evicted) and `max_events_per_source`
//! attempts per source (the oldest is dropped); both are counted in [`ExtractorStats`].
//!
//! The features and their order are the models' input (`training/features.py`, `models/MODEL_CARD.md`).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use ironpost_core::ack::Ack;
use ironpost_core::event::Protocol;
use serde::{Deserialize, Serialize};

/// Length of the sliding window, as in NSL-KDD's time-based traffic features.
pub const WINDOW_SECONDS: f64 = 2.0;

/// The models' input features, in input order.
pub const FEATURE_NAMES: [&str; 5] = [
    "conn_rate",
    "uniq_dports",
    "uniq_daddrs",
    "syn_only_ratio",
    "rst_ratio",
];

/// One connection attempt as published on `telemetry.flow`: `{"ts","pid","saddr","daddr","dport"}` plus the
/// optional `proto` and `flags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowEvent {
    /// Seconds since the Unix epoch.
    pub ts: f64,
    #[serde(default)]
    pub pid: u32,
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    pub dport: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<Protocol>,
    /// How the attempt went, when the producer knows it: the TCP flags seen on the connection so far.
    /// Leave it out when the producer sees only the first SYN (an event per SYN packet would make every
    /// attempt look unanswered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<TcpFlags>,
}

/// TCP flags seen over one connection attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpFlags {
    #[serde(default)]
    pub syn: bool,
    #[serde(default)]
    pub ack: bool,
    #[serde(default)]
    pub rst: bool,
}

/// The outcome of an attempt as far as the window features care (NSL-KDD's S0 / REJ / the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Unknown,
    /// A SYN that was neither answered nor refused (NSL-KDD `serror`).
    SynOnly,
    /// Reset before completing (NSL-KDD `rerror`, the REJ flag).
    Refused,
    Completed,
}

impl Outcome {
    fn of(flags: Option<TcpFlags>) -> Self {
        match flags {
            None => Outcome::Unknown,
            Some(f) if f.ack => Outcome::Completed,
            Some(f) if f.rst => Outcome::Refused,
            Some(f) if f.syn => Outcome::SynOnly,
            Some(_) => Outcome::Unknown,
        }
    }
}

/// Features of one source over the window, in the models' terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    pub src: IpAddr,
    /// Connection attempts per second.
    pub conn_rate: f32,
    /// Distinct destination ports.
    pub uniq_dports: u32,
    /// Distinct destination addresses.
    pub uniq_daddrs: u32,
    /// Share of attempts with a known outcome that were SYN-only; `None` when no attempt had flags.
    pub syn_only_ratio: Option<f32>,
    /// Share of attempts with a known outcome that were refused by a RST; `None` when no attempt had flags.
    pub rst_ratio: Option<f32>,
}

impl Features {
    /// The model input in [`FEATURE_NAMES`] order; a missing ratio is NaN (the models' missing value).
    pub fn to_model_input(&self) -> [f32; 5] {
        [
            self.conn_rate,
            self.uniq_dports as f32,
            self.uniq_daddrs as f32,
            self.syn_only_ratio.unwrap_or(f32::NAN),
            self.rst_ratio.unwrap_or(f32::NAN),
        ]
    }
}

/// Bounds of the extractor's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtractorConfig {
    /// The models are trained for [`WINDOW_SECONDS`]; another length changes what `conn_rate` means to them.
    pub window_seconds: f64,
    pub max_sources: usize,
    pub max_events_per_source: usize,
}

impl Default for ExtractorConfig {
    fn default() -> Self {
        ExtractorConfig {
            window_seconds: WINDOW_SECONDS,
            max_sources: 65_536,
            max_events_per_source: 16_384,
        }
    }
}

/// Counters of what the extractor did with its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractorStats {
    /// Events accepted by [`WindowExtractor::push`].
    pub events_in: u64,
    /// Events refused because their timestamp was not a finite number.
    pub events_invalid: u64,
    /// Events dropped because their source already held `max_events_per_source`.
    pub events_dropped: u64,
    /// Sources evicted (with their events) to stay within `max_sources`.
    pub sources_evicted: u64,
}

#[derive(Debug, Clone)]
struct Attempt {
    ts: f64,
    daddr: IpAddr,
    dport: u16,
    outcome: Outcome,
    /// The acknowledgement token of the message it came in (empty in process): held while the
    /// attempt is in the window, so the message is acknowledged only once nothing more can be
    /// derived from it.
    ack: Ack,
}

#[derive(Debug, Default)]
struct SourceWindow {
    attempts: VecDeque<Attempt>,
    /// Arrival sequence of the latest event: the key in `WindowExtractor::lru`.
    last_seq: u64,
    /// Newest `ts` seen from this source.
    newest: f64,
    /// How far (seconds) the newest event arrived behind its own `ts` ([`WindowExtractor::push_at`]):
    /// the source's window is evaluated that much in the past, so messages redelivered after a
    /// restart are scored as the window they were sent in.
    lag: f64,
}

/// 2-second sliding window per source address. Time is the events' own `ts`; the caller passes `now`.
#[derive(Debug)]
pub struct WindowExtractor {
    config: ExtractorConfig,
    sources: HashMap<IpAddr, SourceWindow>,
    /// (last arrival sequence, source): the first entry is the least recently seen source.
    lru: BTreeSet<(u64, IpAddr)>,
    seq: u64,
    stats: ExtractorStats,
}

impl Default for WindowExtractor {
    fn default() -> Self {
        WindowExtractor::new(ExtractorConfig::default())
    }
}

impl WindowExtractor {
    /// `max_sources` and `max_events_per_source` below 1 are taken as 1; a `window_seconds` that is not a
    /// positive finite number is taken as [`WINDOW_SECONDS`].
    pub fn new(config: ExtractorConfig) -> Self {
        let window_seconds = if config.window_seconds.is_finite() && config.window_seconds > 0.0 {
            config.window_seconds
        } else {
            WINDOW_SECONDS
        };
        let config = ExtractorConfig {
            window_seconds,
            max_sources: config.max_sources.max(1),
            max_events_per_source: config.max_events_per_source.max(1),
        };
        WindowExtractor {
            config,
            sources: HashMap::new(),
            lru: BTreeSet::new(),
            seq: 0,
            stats: ExtractorStats::default(),
        }
    }

    pub fn stats(&self) -> ExtractorStats {
        self.stats
    }

    /// Sources currently holding attempts.
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Records one attempt. Events may arrive out of order; those already outside the window at the next
    /// [`tick`](Self::tick) are discarded there.
    pub fn push(&mut self, event: FlowEvent) {
        self.push_acked(event, Ack::none(), None);
    }

    /// Records one attempt that arrived at `arrival` (seconds since the epoch) with its message's
    /// token. An event newer than the source's newest sets the source's lag (`arrival - ts`,
    /// at least 0): a burst redelivered late is windowed in its own time, not discarded as old.
    pub fn push_at(&mut self, event: FlowEvent, ack: Ack, arrival: f64) {
        self.push_acked(event, ack, Some(arrival));
    }

    fn push_acked(&mut self, event: FlowEvent, ack: Ack, arrival: Option<f64>) {
        if !event.ts.is_finite() {
            self.stats.events_invalid += 1;
            return;
        }
        self.stats.events_in += 1;
        self.seq += 1;
        let seq = self.seq;
        if !self.sources.contains_key(&event.saddr) && self.sources.len() >= self.config.max_sources
        {
            self.evict_least_recent();
        }
        let window = self.sources.entry(event.saddr).or_default();
        if window.last_seq != 0 {
            self.lru.remove(&(window.last_seq, event.saddr));
        }
        window.last_seq = seq;
        if window.attempts.is_empty() || event.ts >= window.newest {
            window.newest = event.ts;
            window.lag = arrival
                .map(|t| t - event.ts)
                .filter(|l| l.is_finite() && *l > 0.0)
                .unwrap_or(0.0);
        }
        self.lru.insert((seq, event.saddr));
        if window.attempts.len() >= self.config.max_events_per_source {
            window.attempts.pop_front();
            self.stats.events_dropped += 1;
        }
        window.attempts.push_back(Attempt {
            ts: event.ts,
            daddr: event.daddr,
            dport: event.dport,
            outcome: Outcome::of(event.flags),
            ack,
        });
    }

    /// What an alert on `src` derives from: one token for every message in its window (see
    /// [`Ack::join`]) and the earliest `ts` in the window, which with the source names the alert
    /// (a redelivered window gives the same name, so the store keeps one copy).
    pub fn derivation(&self, src: IpAddr) -> (Ack, Option<f64>) {
        let Some(w) = self.sources.get(&src) else {
            return (Ack::none(), None);
        };
        let first = w.attempts.iter().map(|a| a.ts).reduce(f64::min);
        (Ack::join(w.attempts.iter().map(|a| a.ack.clone())), first)
    }

    fn evict_least_recent(&mut self) {
        if let Some((_, src)) = self.lru.pop_first() {
            self.sources.remove(&src);
            self.stats.sources_evicted += 1;
        }
    }

    /// Features of every source with attempts in `(now - window, now]`, sorted by source address. Attempts
    /// at or before `now - window` are forgotten; attempts after `now` are kept for later ticks.
    pub fn tick(&mut self, now: f64) -> Vec<Features> {
        let mut out = Vec::new();
        let mut emptied = Vec::new();
        for (src, window) in &mut self.sources {
            let now = now - window.lag;
            let start = now - self.config.window_seconds;
            window.attempts.retain(|a| a.ts > start);
            if window.attempts.is_empty() {
                emptied.push((window.last_seq, *src));
                continue;
            }
            if let Some(f) = features_of(
                *src,
                window.attempts.iter().filter(|a| a.ts <= now),
                self.config,
            ) {
                out.push(f);
            }
        }
        for key in emptied {
            self.lru.remove(&key);
            self.sources.remove(&key.1);
        }
        out.sort_by_key(|f| f.src);
        out
    }
}

fn features_of<'a>(
    src: IpAddr,
    attempts: impl Iterator<Item = &'a Attempt>,
    config: ExtractorConfig,
) -> Option<Features> {
    let mut n = 0u32;
    let mut dports = HashSet::new();
    let mut daddrs = HashSet::new();
    let (mut known, mut syn_only, mut refused) = (0u32, 0u32, 0u32);
    for a in attempts {
        n += 1;
        dports.insert(a.dport);
        daddrs.insert(a.daddr);
        match a.outcome {
            Outcome::Unknown => continue,
            Outcome::SynOnly => syn_only += 1,
            Outcome::Refused => refused += 1,
            Outcome::Completed => {}
        }
        known += 1;
    }
    if n == 0 {
        return None;
    }
    let ratio = |k: u32| (known > 0).then(|| k as f32 / known as f32);
    Some(Features {
        src,
        conn_rate: (f64::from(n) / config.window_seconds) as f32,
        uniq_dports: dports.len() as u32,
        uniq_daddrs: daddrs.len() as u32,
        syn_only_ratio: ratio(syn_only),
        rst_ratio: ratio(refused),
    })
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
