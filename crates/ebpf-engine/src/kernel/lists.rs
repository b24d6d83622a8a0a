//! The blocklist and allowlist maps of [`XdpFilter`]: insert, remove and list entries, and keep
//! the per-map entry counts behind `blocklist_max_entries` and `filter_config.nonempty`.
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

use aya::Pod;
use aya::maps::{HashMap as BpfHashMap, LpmTrie, MapData, MapError};
use ironpost_core::net::Cidr;

use super::XdpFilter;
use crate::clock::MonoTime;
use crate::config::RuleAction;
use crate::error::{Error, Result};
use crate::maps::*;

impl XdpFilter {
    /// Blocks (or monitors) packets whose source address is in `cidr`, permanently. See
    /// [`XdpFilter::insert_block_until`].
    pub fn insert_block(&mut self, cidr: Cidr, rule_id: u32, action: RuleAction) -> Result<()> {
        self.insert_block_until(cidr, rule_id, action, None)
    }

    /// Blocks (or monitors) packets whose source address is in `cidr` until `expires` (on the
    /// coarse monotonic clock, enforced in jiffies to within two ticks after it; `None`: permanent).
    /// From that instant the program ignores the entry, daemon or
    /// no daemon; it stays in the map until removed. Replaces an existing entry for the same
    /// CIDR (keeping its hit counters). `rule_id` must not be 0. A single address goes to the
    /// host map of its family, a shorter prefix to the trie; both count against
    /// `blocklist_max_entries` for the family ([`Error::MapFull`] names `blocklist_v4` or
    /// `blocklist_v6`).
    pub fn insert_block_until(
        &mut self,
        cidr: Cidr,
        rule_id: u32,
        action: RuleAction,
        expires: Option<MonoTime>,
    ) -> Result<()> {
        if rule_id == 0 {
            return Err(Error::ReservedRuleId);
        }
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
        let existing = self.block_value(&key, list, cidr)?;
        let used: u32 = maps.iter().map(|l| self.sizes.get(*l)).sum();
        let full = (family, self.blocklist_max_entries, "blocklist_max_entries");
        if existing.is_none() && used >= self.blocklist_max_entries {
            return self.inserted(list, cidr, None, Err(no_space()), full);
        }
        let (slot, fresh) = self.slot_for(existing)?;
        let value = LpmValue {
            expires: expires.map_or(0, |t| {
                JIFFIES_BASE + self.clock.to_jiffies(t, MonoTime::now())
            }),
            rule_id,
            action: u32::from(action_code(action)),
            slot,
            _pad: 0,
        };
        let flags = if fresh { BPF_NOEXIST } else { BPF_EXIST };
        let result = match key {
            BlockKey::HostV4(k) => self.block_hosts_v4.insert(k, value, flags),
            BlockKey::HostV6(k) => self.block_hosts_v6.insert(k, value, flags),
            BlockKey::Net(LpmKey::V4(k)) => self.blocklist_v4.insert(&k, value, flags),
            BlockKey::Net(LpmKey::V6(k)) => self.blocklist_v6.insert(&k, value, flags),
        };
        self.inserted(list, cidr, fresh.then_some(slot), result, full)
    }

    /// The current value of a blocklist entry, if any.
    fn block_value(&self, key: &BlockKey, list: List, cidr: Cidr) -> Result<Option<LpmValue>> {
        let got = match key {
            BlockKey::HostV4(k) => self.block_hosts_v4.get(k, 0),
            BlockKey::HostV6(k) => self.block_hosts_v6.get(k, 0),
            BlockKey::Net(LpmKey::V4(k)) => self.blocklist_v4.get(k, 0),
            BlockKey::Net(LpmKey::V6(k)) => self.blocklist_v6.get(k, 0),
        };
        found(got).map_err(|source| Error::Insert {
            map: list.map(),
            cidr,
            source: Box::new(source),
        })
    }

    /// The slot of an entry being written: the existing entry's, or a fresh one with its
    /// counters zeroed (`true`). Without a free slot the entry's hits are not counted.
    fn slot_for(&mut self, existing: Option<LpmValue>) -> Result<(u32, bool)> {
        if let Some(v) = existing {
            return Ok((v.slot, false));
        }
        let Some(slot) = self.slots.alloc() else {
            return Ok((NO_SLOT, true));
        };
        self.zero_hits(slot)?;
        Ok((slot, true))
    }

    /// Removes the entry for exactly `cidr` (not a longest-prefix match). `Ok(false)` when there
    /// was none. Its hit counters go with it.
    pub fn remove_block(&mut self, cidr: Cidr) -> Result<bool> {
        let key = block_key(cidr);
        let list = List::of_block(&key);
        let Some(old) = self.block_value(&key, list, cidr)? else {
            return Ok(false);
        };
        let result = match key {
            BlockKey::HostV4(k) => self.block_hosts_v4.remove(&k),
            BlockKey::HostV6(k) => self.block_hosts_v6.remove(&k),
            BlockKey::Net(LpmKey::V4(k)) => self.blocklist_v4.remove(&k),
            BlockKey::Net(LpmKey::V6(k)) => self.blocklist_v6.remove(&k),
        };
        self.removed(list, cidr, old.slot, result)
    }

    /// Every blocklist entry, IPv4 first.
    pub fn list_blocks(&self) -> Result<Vec<BlockEntry>> {
        Ok(self
            .block_values()?
            .into_iter()
            .filter_map(|(cidr, v)| {
                action_from_code(v.action).map(|action| BlockEntry {
                    cidr,
                    rule_id: v.rule_id,
                    action,
                    expires: self.deadline(v.expires),
                })
            })
            .collect())
    }

    /// The monotonic instant of an entry's `expires` (None: permanent).
    fn deadline(&self, expires: u64) -> Option<MonoTime> {
        match expires {
            0 => None,
            e if e >= JIFFIES_BASE => Some(self.clock.to_mono(e - JIFFIES_BASE)),
            // Nanoseconds from an earlier version, not yet converted (see convert_ns_deadlines).
            e => Some(MonoTime(e)),
        }
    }

    /// Converts the deadlines an earlier version wrote in `CLOCK_MONOTONIC_COARSE` nanoseconds
    /// (non-zero values below `JIFFIES_BASE`) into the program's jiffies encoding, in place.
    /// Runs at load, on pinned maps. While it runs the earlier program may still be attached (its
    /// pinned link is swapped at attach): it reads a converted value as a deadline centuries
    /// ahead, so it keeps dropping; this program reads an unconverted one as expired, which is why
    /// the conversion happens before it is attached.
    pub(super) fn convert_ns_deadlines(&mut self) -> Result<usize> {
        let mut converted = 0;
        for (cidr, mut value) in self.block_values()? {
            if value.expires == 0 || value.expires >= JIFFIES_BASE {
                continue;
            }
            value.expires = JIFFIES_BASE
                + self
                    .clock
                    .to_jiffies(MonoTime(value.expires), MonoTime::now());
            let key = block_key(cidr);
            let list = List::of_block(&key);
            let result = match key {
                BlockKey::HostV4(k) => self.block_hosts_v4.insert(k, value, BPF_EXIST),
                BlockKey::HostV6(k) => self.block_hosts_v6.insert(k, value, BPF_EXIST),
                BlockKey::Net(LpmKey::V4(k)) => self.blocklist_v4.insert(&k, value, BPF_EXIST),
                BlockKey::Net(LpmKey::V6(k)) => self.blocklist_v6.insert(&k, value, BPF_EXIST),
            };
            result.map_err(|source| Error::Insert {
                map: list.map(),
                cidr,
                source: Box::new(source),
            })?;
            converted += 1;
        }
        Ok(converted)
    }

    /// Every blocklist entry with its raw value, IPv4 first.
    pub(super) fn block_values(&self) -> Result<Vec<(Cidr, LpmValue)>> {
        let hosts_v4 = hash_list(&self.block_hosts_v4, BLOCK_HOSTS_V4, cidr_from_host_v4)?;
        let nets_v4 = lpm_list(&self.blocklist_v4, BLOCKLIST_V4, cidr_from_v4)?;
        let hosts_v6 = hash_list(&self.block_hosts_v6, BLOCK_HOSTS_V6, cidr_from_host_v6)?;
        let nets_v6 = lpm_list(&self.blocklist_v6, BLOCKLIST_V6, cidr_from_v6)?;
        Ok([hosts_v4, nets_v4, hosts_v6, nets_v6]
            .into_iter()
            .flatten()
            .collect())
    }

    /// Every allowlist entry with its raw value, IPv4 first.
    pub(super) fn allow_values(&self) -> Result<Vec<(Cidr, LpmValue)>> {
        Ok(lpm_list(&self.allowlist_v4, ALLOWLIST_V4, cidr_from_v4)?
            .into_iter()
            .chain(lpm_list(&self.allowlist_v6, ALLOWLIST_V6, cidr_from_v6)?)
            .collect())
    }

    /// Always passes packets whose source address is in `cidr`, whatever the blocklist and the
    /// rules say. `rule_id` (non-zero) names the entry in the hit counters.
    pub fn insert_allow(&mut self, cidr: Cidr, rule_id: u32) -> Result<()> {
        if rule_id == 0 {
            return Err(Error::ReservedRuleId);
        }
        let (list, existing) = match lpm_key(cidr) {
            LpmKey::V4(k) => (List::AllowV4, found(self.allowlist_v4.get(&k, 0))),
            LpmKey::V6(k) => (List::AllowV6, found(self.allowlist_v6.get(&k, 0))),
        };
        let existing = existing.map_err(|source| Error::Insert {
            map: list.map(),
            cidr,
            source: Box::new(source),
        })?;
        let (slot, fresh) = self.slot_for(existing)?;
        let value = LpmValue {
            expires: 0,
            rule_id,
            action: u32::from(ACTION_PASS),
            slot,
            _pad: 0,
        };
        let flags = if fresh { BPF_NOEXIST } else { BPF_EXIST };
        // One map per family: the kernel enforces the capacity (ENOSPC).
        let result = match lpm_key(cidr) {
            LpmKey::V4(k) => self.allowlist_v4.insert(&k, value, flags),
            LpmKey::V6(k) => self.allowlist_v6.insert(&k, value, flags),
        };
        let full = (list.map(), ALLOWLIST_MAX_ENTRIES, "allowlist");
        self.inserted(list, cidr, fresh.then_some(slot), result, full)
    }

    /// Removes the allowlist entry for exactly `cidr`; `Ok(false)` when there was none.
    pub fn remove_allow(&mut self, cidr: Cidr) -> Result<bool> {
        let key = lpm_key(cidr);
        let (list, old) = match &key {
            LpmKey::V4(k) => (List::AllowV4, found(self.allowlist_v4.get(k, 0))),
            LpmKey::V6(k) => (List::AllowV6, found(self.allowlist_v6.get(k, 0))),
        };
        let old = old.map_err(|source| Error::Remove {
            map: list.map(),
            cidr,
            source: Box::new(source),
        })?;
        let Some(old) = old else { return Ok(false) };
        let result = match key {
            LpmKey::V4(k) => self.allowlist_v4.remove(&k),
            LpmKey::V6(k) => self.allowlist_v6.remove(&k),
        };
        self.removed(list, cidr, old.slot, result)
    }

    /// Every allowlist entry, IPv4 first.
    pub fn list_allows(&self) -> Result<Vec<AllowEntry>> {
        Ok(self
            .allow_values()?
            .into_iter()
            .map(|(cidr, v)| AllowEntry {
                cidr,
                rule_id: v.rule_id,
            })
            .collect())
    }

    /// Claims the slots of the entries found at load (pinned maps); an entry whose slot is out
    /// of range or shared gets a fresh one.
    pub(super) fn claim_slots(&mut self) -> Result<()> {
        let mut entries = self.block_values()?;
        entries.extend(self.allow_values()?);
        for (cidr, mut v) in entries {
            if v.slot == NO_SLOT || self.slots.claim(v.slot) {
                continue;
            }
            let Some(slot) = self.slots.alloc() else {
                continue;
            };
            self.zero_hits(slot)?;
            v.slot = slot;
            let (list, result) = match (block_key(cidr), v.action == u32::from(ACTION_PASS)) {
                (_, true) => match lpm_key(cidr) {
                    LpmKey::V4(k) => (List::AllowV4, self.allowlist_v4.insert(&k, v, BPF_EXIST)),
                    LpmKey::V6(k) => (List::AllowV6, self.allowlist_v6.insert(&k, v, BPF_EXIST)),
                },
                (BlockKey::HostV4(k), false) => {
                    (List::HostsV4, self.block_hosts_v4.insert(k, v, BPF_EXIST))
                }
                (BlockKey::HostV6(k), false) => {
                    (List::HostsV6, self.block_hosts_v6.insert(k, v, BPF_EXIST))
                }
                (BlockKey::Net(LpmKey::V4(k)), false) => {
                    (List::NetsV4, self.blocklist_v4.insert(&k, v, BPF_EXIST))
                }
                (BlockKey::Net(LpmKey::V6(k)), false) => {
                    (List::NetsV6, self.blocklist_v6.insert(&k, v, BPF_EXIST))
                }
            };
            result.map_err(|source| Error::Insert {
                map: list.map(),
                cidr,
                source: Box::new(source),
            })?;
        }
        Ok(())
    }

    /// Accounts for an insert into `list`: `fresh_slot` is the slot allocated for a new entry
    /// (`None` when the entry existed); `full` is the map, capacity and setting an
    /// [`Error::MapFull`] names.
    fn inserted(
        &mut self,
        list: List,
        cidr: Cidr,
        fresh_slot: Option<u32>,
        result: Result<(), MapError>,
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
            Ok(()) if fresh_slot.is_some() => self.resize(list, 1),
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some(slot) = fresh_slot {
                    self.slots.free(slot);
                }
                if is_full(&e) {
                    Err(full(e))
                } else {
                    Err(Error::Insert {
                        map: list.map(),
                        cidr,
                        source: Box::new(e),
                    })
                }
            }
        }
    }

    /// Accounts for a removal from `list` of the entry that held `slot` (`result` of the
    /// delete): `Ok(false)` when there was no such entry.
    fn removed(
        &mut self,
        list: List,
        cidr: Cidr,
        slot: u32,
        result: Result<(), MapError>,
    ) -> Result<bool> {
        match result {
            Ok(()) => {
                self.slots.free(slot);
                self.resize(list, -1).map(|()| true)
            }
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
    pub(super) fn publish_nonempty(&mut self) -> Result<()> {
        let bits = self.sizes.nonempty();
        if bits == self.published_nonempty {
            return Ok(());
        }
        self.write_config(|c| c.nonempty = bits)?;
        self.published_nonempty = bits;
        Ok(())
    }

    /// Counts the entries of every source-address map.
    pub(super) fn count_entries(&self) -> Result<ListSizes> {
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
    pub(super) fn move_trie_hosts(&mut self) -> Result<()> {
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

/// `Some(value)`, `None` when the key is absent.
fn found<V>(got: Result<V, MapError>) -> Result<Option<V>, MapError> {
    match got {
        Ok(v) => Ok(Some(v)),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `flags` of BPF_MAP_UPDATE_ELEM.
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;

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
