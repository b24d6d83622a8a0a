//! The userspace side of the blocklist: what each kernel entry is for (reason, alert, expiry),
//! TTL escalation for repeat offenders, and persistence under `data_dir` so that blocks survive a
//! daemon restart even without bpffs pinning.
//!
//! Pure bookkeeping: the engine applies each decision to the kernel maps.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::net::Cidr;
use ironpost_core::{EventId, TraceId};
use serde::{Deserialize, Serialize};

/// Kernel rule ids from here up belong to blocks added at run time; below are config rules.
pub const DYNAMIC_RULE_BASE: u32 = 1 << 16;
/// A repeat offender's TTL doubles per offence, up to this.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Offences are remembered this long after a block ends.
pub const OFFENCE_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// At most this many addresses' offence histories are kept (oldest forgotten first).
const MAX_HISTORY: usize = 100_000;
/// Largest persisted blocklist file read back.
const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

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

/// Why a block could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlocklistError {
    #[error(
        "blocklist is full: {used} IPv{family} entries of ebpf.blocklist_max_entries = {max}; raise it or remove blocks"
    )]
    Full { family: u8, used: usize, max: u32 },
}

/// Blocks by CIDR, with their metadata.
#[derive(Debug)]
pub struct Blocklist {
    blocks: BTreeMap<String, Block>,
    history: HashMap<Cidr, History>,
    next_rule_id: u32,
    max_entries: u32,
    path: Option<PathBuf>,
}

fn family(c: &Cidr) -> u8 {
    if c.0.addr().is_ipv4() { 4 } else { 6 }
}

impl Blocklist {
    /// An empty blocklist whose kernel maps hold at most `max_entries` per family, of which
    /// `reserved` entries per family are taken by config rules.
    pub fn new(max_entries: u32, path: Option<PathBuf>) -> Self {
        Blocklist {
            blocks: BTreeMap::new(),
            history: HashMap::new(),
            next_rule_id: DYNAMIC_RULE_BASE,
            max_entries,
            path,
        }
    }

    /// Reads the persisted state, if any. A damaged file is reported and the blocklist starts empty
    /// (the kernel's pinned maps, if any, still hold the entries; the engine adopts them).
    pub fn load(max_entries: u32, path: &Path) -> (Self, Option<String>) {
        let mut b = Blocklist::new(max_entries, Some(path.to_owned()));
        let text = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (b, None),
            Err(e) => return (b, Some(format!("cannot read {}: {e}", path.display()))),
            Ok(m) if m.len() > MAX_STATE_BYTES => {
                return (
                    b,
                    Some(format!(
                        "{} is larger than {MAX_STATE_BYTES} bytes; ignored",
                        path.display()
                    )),
                );
            }
            Ok(_) => match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return (b, Some(format!("cannot read {}: {e}", path.display()))),
            },
        };
        match serde_json::from_str::<State>(&text) {
            Ok(state) => {
                for blk in state.blocks {
                    b.next_rule_id = b.next_rule_id.max(blk.rule_id.saturating_add(1));
                    b.blocks.insert(blk.cidr.to_string(), blk);
                }
                b.history = state.history.into_iter().collect();
                (b, None)
            }
            Err(e) => (
                b,
                Some(format!(
                    "{} is damaged ({e}); starting with an empty blocklist",
                    path.display()
                )),
            ),
        }
    }

    /// Writes the state atomically (temporary file + rename).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let state = State {
            blocks: self.blocks.values().cloned().collect(),
            history: self.history.iter().map(|(c, h)| (*c, *h)).collect(),
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&state).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, path)
    }

    pub fn get(&self, cidr: &Cidr) -> Option<&Block> {
        self.blocks.get(&cidr.to_string())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Block> {
        self.blocks.values()
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Records a block (or renews an existing one) and returns it. `reserved` is the number of
    /// kernel entries of the request's family already used by config rules.
    pub fn add(
        &mut self,
        req: &BlockRequest,
        reserved: usize,
        now: DateTime<Utc>,
    ) -> Result<Block, BlocklistError> {
        let key = req.cidr.to_string();
        let fam = family(&req.cidr);
        if !self.blocks.contains_key(&key) {
            let used = reserved
                + self
                    .blocks
                    .values()
                    .filter(|b| family(&b.cidr) == fam)
                    .count();
            if used >= self.max_entries as usize {
                return Err(BlocklistError::Full {
                    family: fam,
                    used,
                    max: self.max_entries,
                });
            }
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
        let rule_id = match self.blocks.get(&key) {
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
        };
        if req.escalate {
            self.remember(req.cidr, offence, now);
        }
        self.blocks.insert(key, block.clone());
        Ok(block)
    }

    fn remember(&mut self, cidr: Cidr, offences: u32, now: DateTime<Utc>) {
        if self.history.len() >= MAX_HISTORY
            && !self.history.contains_key(&cidr)
            && let Some(oldest) = self
                .history
                .iter()
                .min_by_key(|(_, h)| h.last)
                .map(|(c, _)| *c)
        {
            self.history.remove(&oldest);
        }
        self.history.insert(
            cidr,
            History {
                offences,
                last: now,
            },
        );
    }

    /// Adopts an entry found in a pinned kernel map with no recorded metadata.
    pub fn adopt(&mut self, cidr: Cidr, rule_id: u32, now: DateTime<Utc>) -> Block {
        let block = Block {
            cidr,
            rule_id,
            reason: "restored from a pinned kernel map (no recorded reason)".into(),
            alert_id: None,
            trace_id: None,
            added_at: now,
            expires_at: None,
            offence: 1,
        };
        self.next_rule_id = self.next_rule_id.max(rule_id.saturating_add(1));
        self.blocks.insert(cidr.to_string(), block.clone());
        block
    }

    pub fn remove(&mut self, cidr: &Cidr) -> Option<Block> {
        self.blocks.remove(&cidr.to_string())
    }

    /// Blocks whose expiry is at or before `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> Vec<Cidr> {
        self.blocks
            .values()
            .filter(|b| b.expires_at.is_some_and(|e| e <= now))
            .map(|b| b.cidr)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cidr: &str, ttl: Option<u64>, escalate: bool) -> BlockRequest {
        BlockRequest {
            cidr: cidr.parse().unwrap(),
            ttl: ttl.map(Duration::from_secs),
            reason: "test".into(),
            alert_id: None,
            trace_id: None,
            escalate,
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn ttl_escalates_for_repeat_offenders_only() {
        let mut b = Blocklist::new(100, None);
        let first = b.add(&req("198.18.0.1", Some(60), true), 0, t(0)).unwrap();
        assert_eq!(first.expires_at, Some(t(60)));
        assert_eq!(first.offence, 1);
        b.remove(&first.cidr);
        let second = b
            .add(&req("198.18.0.1", Some(60), true), 0, t(100))
            .unwrap();
        assert_eq!((second.offence, second.expires_at), (2, Some(t(220))));
        b.remove(&second.cidr);
        let third = b
            .add(&req("198.18.0.1", Some(60), true), 0, t(300))
            .unwrap();
        assert_eq!((third.offence, third.expires_at), (3, Some(t(540))));
        // Forgotten after OFFENCE_MEMORY.
        b.remove(&third.cidr);
        let later = b
            .add(
                &req("198.18.0.1", Some(60), true),
                0,
                t(300 + 24 * 3600 + 1),
            )
            .unwrap();
        assert_eq!(later.offence, 1);
        // Manual blocks never escalate.
        let manual = b.add(&req("198.18.0.9", Some(60), false), 0, t(0)).unwrap();
        b.remove(&manual.cidr);
        assert_eq!(
            b.add(&req("198.18.0.9", Some(60), false), 0, t(10))
                .unwrap()
                .offence,
            1
        );
    }

    #[test]
    fn escalation_is_capped() {
        assert_eq!(
            escalated_ttl(Duration::from_secs(3600), 1),
            Duration::from_secs(3600)
        );
        assert_eq!(
            escalated_ttl(Duration::from_secs(3600), 4),
            Duration::from_secs(8 * 3600)
        );
        assert_eq!(escalated_ttl(Duration::from_secs(3600), 40), MAX_TTL);
        assert_eq!(
            escalated_ttl(Duration::from_secs(30 * 24 * 3600), 2),
            Duration::from_secs(30 * 24 * 3600)
        );
    }

    #[test]
    fn capacity_counts_config_entries_per_family() {
        let mut b = Blocklist::new(3, None);
        b.add(&req("198.18.0.1", None, false), 1, t(0)).unwrap();
        b.add(&req("198.18.0.2", None, false), 1, t(0)).unwrap();
        let err = b.add(&req("198.18.0.3", None, false), 1, t(0)).unwrap_err();
        assert!(
            err.to_string().contains("blocklist_max_entries = 3"),
            "{err}"
        );
        // Renewing an existing entry needs no room; the other family has its own map.
        b.add(&req("198.18.0.2", Some(5), false), 1, t(0)).unwrap();
        b.add(&req("2001:db8::1", None, false), 1, t(0)).unwrap();
    }

    #[test]
    fn expiry_and_rule_ids() {
        let mut b = Blocklist::new(100, None);
        let a = b.add(&req("198.18.0.1", Some(10), false), 0, t(0)).unwrap();
        let c = b.add(&req("198.18.1.0/24", None, false), 0, t(0)).unwrap();
        assert!(a.rule_id >= DYNAMIC_RULE_BASE && c.rule_id > a.rule_id);
        let renewed = b
            .add(&req("198.18.0.1", Some(100), false), 0, t(5))
            .unwrap();
        assert_eq!(
            renewed.rule_id, a.rule_id,
            "a renewed block keeps its rule id"
        );
        assert!(b.expired(t(50)).is_empty());
        assert_eq!(b.expired(t(105)), vec![a.cidr]);
    }

    #[test]
    fn state_survives_a_restart_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ebpf/blocklist.json");
        let mut b = Blocklist::new(100, Some(path.clone()));
        let blk = b
            .add(&req("2001:db8::/64", Some(60), true), 0, t(0))
            .unwrap();
        b.save().unwrap();
        let (back, warn) = Blocklist::load(100, &path);
        assert!(warn.is_none());
        assert_eq!(back.get(&blk.cidr), Some(&blk));
        let mut again = back;
        again.remove(&blk.cidr);
        assert_eq!(
            again
                .add(&req("2001:db8::/64", Some(60), true), 0, t(10))
                .unwrap()
                .offence,
            2
        );

        std::fs::write(&path, b"{not json").unwrap();
        let (empty, warn) = Blocklist::load(100, &path);
        assert!(empty.is_empty());
        assert!(warn.unwrap().contains("damaged"));
    }
}
