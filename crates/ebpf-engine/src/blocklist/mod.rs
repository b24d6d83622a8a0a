//! The userspace side of the blocklist: what each kernel entry is for (reason, alert, evidence,
//! expiry), TTL escalation for repeat offenders, eviction when the kernel maps are full, and
//! persistence under `data_dir` so that blocks survive a daemon restart even without bpffs
//! pinning.
//!
//! Pure bookkeeping: the engine applies each decision to the kernel maps.
//!
//! # Capacity and eviction
//!
//! A family's run-time blocks and its config rules share `blocklist_max_entries` kernel entries.
//! When they are all taken, a block resting on verified evidence (an alert whose source
//! completed a handshake, or an operator's `block add`) still gets in by evicting one entry, in
//! this order: unverified entries (spoofable or forgeable evidence, or adopted from a pinned map
//! without a record) first, then alert-driven verified entries with the fewest offences, oldest
//! first. Blocks an operator added by hand (no alert) are never evicted, and a block on
//! unverified evidence never evicts anything: an attacker who can forge addresses can fill the
//! unverified part of the table, not push out what was proven.
//!
//! Every per-block operation is O(log n): blocks are keyed by CIDR in a hash map, with ordered
//! indexes by eviction order (per family) and by expiry, and per-family counts. The
//! repeat-offender history has its own index by last offence, so forgetting the oldest is
//! O(log n) too.
//!
//! # Persistence
//!
//! `journal.rs`: each change is one journal record, buffered by the change and written and
//! synced by [`Blocklist::sync`] (the engine calls it after the kernel map update, once for all
//! the changes of a call or a batch: one `fdatasync`); the snapshot
//! (`blocklist.json`, the format earlier versions wrote whole after every change) is rewritten
//! only when the journal has grown to twice the live state, at start when a journal was
//! replayed, and at shutdown.

mod journal;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::net::Cidr;
use ironpost_core::{EventId, Evidence, TraceId};
use serde::{Deserialize, Serialize};

use journal::{Journal, Record};

/// Kernel rule ids from here up belong to blocks added at run time; below are config rules.
pub const DYNAMIC_RULE_BASE: u32 = 1 << 16;
/// A repeat offender's TTL doubles per offence, up to this.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Offences are remembered this long after a block ends.
pub const OFFENCE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// At most this many addresses' offence histories are kept (oldest forgotten first).
const MAX_HISTORY: usize = 100_000;

/// A request to block a source address or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRequest {
    pub cidr: Cidr,
    /// None: until removed.
    pub ttl: Option<Duration>,
    pub reason: String,
    /// The alert that caused it.
    pub alert_id: Option<EventId>,
    /// That alert's trace, carried by the block's and the unblock's `ActionEvent`s.
    pub trace_id: Option<TraceId>,
    /// Lengthen the TTL for repeat offenders (alert-driven blocks); manual blocks keep theirs.
    pub escalate: bool,
    /// What the address rests on: the alert's evidence; `verified` for an operator's block.
    /// Decides the eviction order, and an unverified block never evicts nor weakens a verified
    /// one.
    pub evidence: Evidence,
}

/// One block, as shown by `ironpost-cli block list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub cidr: Cidr,
    pub rule_id: u32,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    pub added_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// 1 for a first offence; the TTL was multiplied by 2^(offence-1).
    pub offence: u32,
    /// The evidence of the request. Blocks persisted before evidence existed read back as
    /// `forgeable` (nothing says what they rested on), so they are evicted first.
    #[serde(default)]
    pub evidence: Evidence,
}

impl Block {
    /// Where the block stands in the eviction order; `None`: never evicted (an operator's).
    fn class(&self) -> Option<u8> {
        match (self.evidence.is_verified(), self.alert_id.is_some()) {
            (false, _) => Some(0),
            (true, true) => Some(1),
            (true, false) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct History {
    offences: u32,
    last: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    blocks: Vec<Block>,
    #[serde(default)]
    history: Vec<(Cidr, History)>,
}

/// A CIDR with a total order, for the ordered indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(Cidr);

impl Key {
    fn parts(&self) -> (bool, u128, u8) {
        let net = self.0.0;
        let bits = match net.addr() {
            std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        (net.addr().is_ipv6(), bits, net.prefix_len())
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Eviction order: class (unverified first), offences (fewest first), age (oldest first).
type EvictKey = (u8, u32, DateTime<Utc>, u64, Key);

#[derive(Debug)]
struct Entry {
    block: Block,
    /// Insertion sequence number: a tie-break that makes every index key unique.
    seq: u64,
}

/// The result of [`Blocklist::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The block as it now stands.
    pub block: Block,
    /// Blocks removed to make room, to be removed from the kernel maps and announced.
    pub evicted: Vec<Block>,
    /// False when the request left an existing block as it was (an unverified request for an
    /// address already blocked on verified evidence).
    pub changed: bool,
}

/// What [`Blocklist::load`] reports: problems with the persisted state, none fatal.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub warnings: Vec<String>,
    /// Damaged journal records skipped.
    pub corrupt_records: u64,
    /// Journal records applied on top of the snapshot.
    pub replayed: usize,
    /// The snapshot (`blocklist.json`) was damaged and moved aside (`blocklist.json.corrupt-…`).
    pub snapshot_damaged: bool,
}

/// Blocks by CIDR, with their metadata.
#[derive(Debug)]
pub struct Blocklist {
    blocks: HashMap<Cidr, Entry>,
    /// Per family (0: IPv4, 1: IPv6), the evictable blocks in eviction order.
    evictable: [BTreeSet<EvictKey>; 2],
    /// Per family, the number of blocks.
    counts: [usize; 2],
    by_expiry: BTreeSet<(DateTime<Utc>, Key)>,
    history: HashMap<Cidr, History>,
    history_by_age: BTreeSet<(DateTime<Utc>, Key)>,
    next_rule_id: u32,
    next_seq: u64,
    max_entries: u32,
    journal: Option<Journal>,
    /// The last persistence error since [`Blocklist::take_error`], and how many there were.
    error: Option<crate::Error>,
    errors: u64,
}

fn family(c: &Cidr) -> usize {
    usize::from(c.0.addr().is_ipv6())
}

impl Blocklist {
    /// An empty blocklist whose kernel maps hold at most `max_entries` per family. With a
    /// `path` (the snapshot, `…/blocklist.json`), every change is journaled beside it.
    pub fn new(max_entries: u32, path: Option<PathBuf>) -> Self {
        Blocklist {
            blocks: HashMap::new(),
            evictable: [BTreeSet::new(), BTreeSet::new()],
            counts: [0, 0],
            by_expiry: BTreeSet::new(),
            history: HashMap::new(),
            history_by_age: BTreeSet::new(),
            next_rule_id: DYNAMIC_RULE_BASE,
            next_seq: 0,
            max_entries,
            journal: path.as_deref().map(Journal::new),
            error: None,
            errors: 0,
        }
    }

    /// Reads the snapshot and replays the journal, if any. Damage is reported, never fatal: a
    /// damaged snapshot leaves what the journal holds; a damaged journal record is skipped (the
    /// kernel's pinned maps, if any, still hold the entries; the engine adopts them).
    pub fn load(max_entries: u32, path: &Path) -> (Self, LoadReport) {
        let mut b = Blocklist::new(max_entries, Some(path.to_owned()));
        let back = b.journal.as_ref().map(Journal::read).unwrap_or_default();
        if let Some(state) = back.state {
            for blk in state.blocks {
                b.insert(blk);
            }
            for (cidr, h) in state.history {
                b.set_history(cidr, h);
            }
        }
        let replayed = back.records.len();
        for r in back.records {
            match r {
                Record::Block { block, remembered } => {
                    if remembered {
                        b.set_history(
                            block.cidr,
                            History {
                                offences: block.offence,
                                last: block.added_at,
                            },
                        );
                    }
                    b.insert(block);
                }
                Record::Unblock { cidr } => {
                    b.unindex(&cidr);
                }
            }
        }
        (
            b,
            LoadReport {
                warnings: back.warnings,
                corrupt_records: back.corrupt,
                replayed,
                snapshot_damaged: back.snapshot_damaged,
            },
        )
    }

    /// Writes the snapshot and empties the journal.
    pub fn save(&mut self) -> crate::Result<()> {
        let state = State {
            blocks: self.blocks.values().map(|e| e.block.clone()).collect(),
            history: self.history.iter().map(|(c, h)| (*c, *h)).collect(),
        };
        match &mut self.journal {
            Some(j) => j.compact(&state),
            None => Ok(()),
        }
    }

    /// Compacts the journal when it has grown enough; errors are kept for [`Self::take_error`].
    pub fn compact_if_due(&mut self) {
        if self.journal.as_ref().is_some_and(|j| j.due(self.len()))
            && let Err(e) = self.save()
        {
            self.fail(e);
        }
    }

    /// Snapshots written so far (compactions).
    pub fn snapshots_written(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.compactions)
    }

    /// Journal records appended since the last snapshot.
    pub fn journal_records(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.records)
    }

    /// The last persistence error since the previous call, with the number of errors.
    pub fn take_error(&mut self) -> Option<(crate::Error, u64)> {
        let e = self.error.take()?;
        Some((e, std::mem::take(&mut self.errors)))
    }

    fn fail(&mut self, e: crate::Error) {
        self.error = Some(e);
        self.errors += 1;
    }

    /// Writes the journal records of the changes made since the last sync, with one
    /// `fdatasync`. Errors are kept for [`Self::take_error`] (the records stay buffered and
    /// the next sync retries them).
    pub fn sync(&mut self) {
        if let Some(j) = &mut self.journal
            && j.dirty()
            && let Err(e) = j.sync()
        {
            self.fail(e);
        }
    }

    /// Buffers a change's journal record (written by [`Self::sync`]).
    fn log(&mut self, r: &Record) {
        if let Some(j) = &mut self.journal
            && let Err(e) = j.append(r)
        {
            self.fail(e);
        }
    }

    pub fn get(&self, cidr: &Cidr) -> Option<&Block> {
        self.blocks.get(cidr).map(|e| &e.block)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Block> {
        self.blocks.values().map(|e| &e.block)
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Puts `block` in the map and the indexes, replacing any block of the same CIDR. No journal.
    fn insert(&mut self, block: Block) {
        self.unindex(&block.cidr);
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = Key(block.cidr);
        let fam = family(&block.cidr);
        if let Some(class) = block.class() {
            self.evictable[fam].insert((class, block.offence, block.added_at, seq, key));
        }
        if let Some(t) = block.expires_at {
            self.by_expiry.insert((t, key));
        }
        self.counts[fam] += 1;
        self.next_rule_id = self.next_rule_id.max(block.rule_id.saturating_add(1));
        self.blocks.insert(block.cidr, Entry { block, seq });
    }

    /// Takes `cidr`'s block out of the map and the indexes. No journal.
    fn unindex(&mut self, cidr: &Cidr) -> Option<Block> {
        let Entry { block, seq } = self.blocks.remove(cidr)?;
        let key = Key(block.cidr);
        let fam = family(cidr);
        if let Some(class) = block.class() {
            self.evictable[fam].remove(&(class, block.offence, block.added_at, seq, key));
        }
        if let Some(t) = block.expires_at {
            self.by_expiry.remove(&(t, key));
        }
        self.counts[fam] -= 1;
        Some(block)
    }

    /// Records a block (or renews an existing one), evicting per policy when the family is full.
    /// `reserved` is the number of kernel entries of the request's family used by config rules.
    pub fn add(
        &mut self,
        req: &BlockRequest,
        reserved: usize,
        now: DateTime<Utc>,
    ) -> Result<Added, crate::Error> {
        let fam = family(&req.cidr);
        let unverified = !req.evidence.is_verified();
        if let Some(existing) = self.get(&req.cidr)
            && unverified
            && existing.evidence.is_verified()
        {
            // A forged address must not shorten nor downgrade what verified evidence decided.
            return Ok(Added {
                block: existing.clone(),
                evicted: Vec::new(),
                changed: false,
            });
        }
        let mut evicted = Vec::new();
        if !self.blocks.contains_key(&req.cidr) {
            while reserved + self.counts[fam] >= self.max_entries as usize {
                let victim = if unverified {
                    None
                } else {
                    self.evictable[fam].first().map(|k| k.4.0)
                };
                let Some(victim) = victim else {
                    // Nothing taken so far stays taken: put back what was evicted for it.
                    for b in evicted {
                        self.insert(b);
                    }
                    return Err(crate::Error::BlocklistFull {
                        family: if fam == 0 { 4 } else { 6 },
                        used: reserved + self.counts[fam],
                        max: self.max_entries,
                        unverified,
                    });
                };
                if let Some(b) = self.unindex(&victim) {
                    evicted.push(b);
                }
            }
        }
        for b in &evicted {
            self.log(&Record::Unblock { cidr: b.cidr });
        }
        let offence = if req.escalate {
            let prev = self
                .history
                .get(&req.cidr)
                .filter(|h| {
                    now.signed_duration_since(h.last)
                        .to_std()
                        .is_ok_and(|d| d <= OFFENCE_MEMORY)
                })
                .map_or(0, |h| h.offences);
            prev + 1
        } else {
            1
        };
        let ttl = req.ttl.map(|t| escalated_ttl(t, offence));
        let rule_id = match self.get(&req.cidr) {
            Some(b) => b.rule_id,
            None => {
                let id = self.next_rule_id;
                self.next_rule_id = self
                    .next_rule_id
                    .checked_add(1)
                    .unwrap_or(DYNAMIC_RULE_BASE);
                id
            }
        };
        let block = Block {
            cidr: req.cidr,
            rule_id,
            reason: req.reason.clone(),
            alert_id: req.alert_id,
            trace_id: req.trace_id,
            added_at: now,
            expires_at: ttl
                .and_then(|t| chrono::Duration::from_std(t).ok())
                .map(|t| now + t),
            offence,
            evidence: req.evidence,
        };
        if req.escalate {
            self.set_history(
                req.cidr,
                History {
                    offences: offence,
                    last: now,
                },
            );
        }
        self.insert(block.clone());
        self.log(&Record::Block {
            block: block.clone(),
            remembered: req.escalate,
        });
        Ok(Added {
            block,
            evicted,
            changed: true,
        })
    }

    /// Puts back a block exactly as it was (undoing a renewal the kernel refused).
    pub fn restore(&mut self, block: Block) {
        self.insert(block.clone());
        self.log(&Record::Block {
            block,
            remembered: false,
        });
    }

    fn set_history(&mut self, cidr: Cidr, h: History) {
        if let Some(old) = self.history.remove(&cidr) {
            self.history_by_age.remove(&(old.last, Key(cidr)));
        } else if self.history.len() >= MAX_HISTORY
            && let Some((_, oldest)) = self.history_by_age.pop_first()
        {
            self.history.remove(&oldest.0);
        }
        self.history_by_age.insert((h.last, Key(cidr)));
        self.history.insert(cidr, h);
    }

    /// Adopts an entry found in a pinned kernel map with no recorded metadata. Nothing says what
    /// it rested on, so it is `forgeable` (first to be evicted). It keeps the expiry the kernel
    /// entry carries (`expires_at`; `None`: permanent).
    pub fn adopt(
        &mut self,
        cidr: Cidr,
        rule_id: u32,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Block {
        let block = Block {
            cidr,
            rule_id,
            reason: "restored from a pinned kernel map (no recorded reason)".into(),
            alert_id: None,
            trace_id: None,
            added_at: now,
            expires_at,
            offence: 1,
            evidence: Evidence::Forgeable,
        };
        self.insert(block.clone());
        self.log(&Record::Block {
            block: block.clone(),
            remembered: false,
        });
        block
    }

    pub fn remove(&mut self, cidr: &Cidr) -> Option<Block> {
        let b = self.unindex(cidr)?;
        self.log(&Record::Unblock { cidr: *cidr });
        Some(b)
    }

    /// Blocks whose expiry is at or before `now`, soonest first.
    pub fn expired(&self, now: DateTime<Utc>) -> Vec<Cidr> {
        self.by_expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| k.0)
            .collect()
    }
}

/// `base × 2^(offence-1)`, at most [`MAX_TTL`] (and never shorter than `base`).
pub fn escalated_ttl(base: Duration, offence: u32) -> Duration {
    let factor = 1u32
        .checked_shl(offence.saturating_sub(1).min(31))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor)
        .unwrap_or(MAX_TTL)
        .min(MAX_TTL.max(base))
}
