//! `AlertState`: the memory alerting needs — hits per (rule, group) window, when each group last
//! alerted, alerts per rule per minute — behind a trait so a shared backend (Redis, for several
//! nodes) can replace the in-memory one. [`MemoryAlertState`] is bounded: at most `max_groups`
//! keys, the least recently used evicted first (and counted).
//!
//! The decision on one match (record the hit — one per member of a distinct count or `near` —,
//! forget the group's hits when it reached its threshold, claim the dedup slot, take from the
//! rate budget) is [`decide_with`] over these operations, written once. A shared backend may run it server-side for many matches at once
//! ([`AsyncAlertState::decide_batch`]): [`super::RedisAlertState`] decides a batch's matches in
//! one Lua script call, atomic, so two nodes seeing the same threshold crossing raise one alert,
//! not two.
//!
//! A shared backend waits on the network, so the alerter talks to state through
//! [`AsyncAlertState`], whose operations are futures. Every in-process [`AlertState`] is one too
//! (a blanket impl whose futures are ready at once), so the alerting logic is written once and an
//! in-memory pipeline never awaits anything.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, ready};
use std::hash::RandomState;

/// Outcome of [`AlertState::record_hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitVerdict {
    /// The hit was kept; this many hits of the key are now inside the window.
    Counted(u32),
    /// Older than the key's newest hit by more than the out-of-order tolerance: not counted.
    Late,
}

/// One match to decide, with everything the decision needs: [`decide_with`] runs it on any
/// [`AsyncAlertState`] operation by operation; a shared backend may run many at once
/// ([`AsyncAlertState::decide_batch`]; Redis: one script call) with the same verdicts.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// Rule id, evidence class and group values (`\x1f`-separated).
    pub key: &'a str,
    /// The rate budget's key: rule id and evidence class.
    pub rate_key: &'a str,
    /// The record's time, microseconds since the Unix epoch.
    pub at: i64,
    /// `(window, count, tolerance)` of a threshold rule (times in microseconds).
    pub threshold: Option<(i64, u32, i64)>,
    /// The members the match contributes to a distinct count or `near` (one hit each, see
    /// [`AlertState::record_hit`]); empty for a plain threshold (one anonymous hit).
    pub members: &'a [String],
    /// A `status: test` rule: counted, never alerts.
    pub test_only: bool,
    /// Dedup window in microseconds; 0 disables.
    pub dedup: i64,
    /// Alerts per rule per minute; 0 = unlimited.
    pub rate: u32,
}

/// The verdict on one [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Late,
    BelowThreshold,
    TestOnly,
    Deduplicated,
    RateLimited,
    /// An alert is due; the threshold count (1 without a threshold).
    Alert(u32),
}

/// Decides `d` with the state's single operations: record the hit (one per member), forget the group's hits when
/// it reached its threshold, claim the dedup slot, take from the rate budget (giving the claim
/// back when the budget is spent, so a rate-limited group may alert later).
pub async fn decide_with<S: AsyncAlertState + ?Sized>(state: &mut S, d: &Decision<'_>) -> Outcome {
    let mut count = 1;
    if let Some((window, threshold, tolerance)) = d.threshold {
        let verdict = if d.members.is_empty() {
            state
                .record_hit(d.key, d.at, window, threshold, tolerance, None)
                .await
        } else {
            // One record may satisfy several `near` parts: each is a member. The last verdict
            // counts; a late one stops (every later member is as late).
            let mut verdict = HitVerdict::Late;
            for m in d.members {
                verdict = state
                    .record_hit(d.key, d.at, window, threshold, tolerance, Some(m))
                    .await;
                if verdict == HitVerdict::Late {
                    break;
                }
            }
            verdict
        };
        match verdict {
            HitVerdict::Late => return Outcome::Late,
            HitVerdict::Counted(n) if n < threshold => return Outcome::BelowThreshold,
            HitVerdict::Counted(n) => {
                state.clear_hits(d.key).await;
                count = n;
            }
        }
    }
    if d.test_only {
        return Outcome::TestOnly;
    }
    if d.dedup > 0 && !state.claim_alert(d.key, d.at, d.dedup).await {
        return Outcome::Deduplicated;
    }
    if d.rate > 0 && !state.take_rate(d.rate_key, d.at, d.rate).await {
        if d.dedup > 0 {
            state.release_alert(d.key, d.at).await;
        }
        return Outcome::RateLimited;
    }
    Outcome::Alert(count)
}

/// [`decide_with`] on an in-process state, whose futures are ready at once.
pub fn decide_now<S: AlertState>(state: &mut S, d: &Decision<'_>) -> Outcome {
    use futures_util::FutureExt;
    decide_with(state, d)
        .now_or_never()
        .unwrap_or_else(|| unreachable!("an in-process state answers at once"))
}

/// What a state backend holds, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateStats {
    /// Keys (rule + group) currently remembered.
    pub groups: usize,
    /// Keys dropped to stay within the bound.
    pub evictions: u64,
    /// Operations the backend failed (a shared backend unreachable, timed out or refusing);
    /// always 0 in memory.
    pub backend_errors: u64,
    /// Matches decided (and single operations answered) by the in-process fallback instead of
    /// the shared backend: each whose call failed, and every one while the backend is known to
    /// be down; always 0 in memory.
    pub fallback_ops: u64,
}

/// Alerting memory. Times are microseconds since the Unix epoch (the record's own time when it has
/// one). Keys are opaque strings made of the rule id and the group values.
pub trait AlertState: Send {
    /// Adds a hit at `at` to `key`, forgets hits older than `window` before the key's newest hit
    /// and keeps at most `keep` (the threshold count: more are never needed). A hit more than
    /// `tolerance` older than the newest is [`HitVerdict::Late`] and not added. With a `member`
    /// (a distinct value, a `near` part), a hit of a member already held replaces it when newer
    /// (and is dropped when older), so the count is of distinct members within the window.
    fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
        member: Option<&str>,
    ) -> HitVerdict;

    /// Forgets `key`'s hits (after it fired, counting starts again, like fail2ban after a ban).
    fn clear_hits(&mut self, key: &str);

    /// Atomically claims the right to alert for `key` at `at`: `false` when `key` alerted less
    /// than `dedup_window` (either side) of `at`; otherwise records `at` as `key`'s last alert and
    /// returns `true`. Check and set are one step, so concurrent claimers (other threads, other
    /// nodes sharing the backend) get at most one `true` per window.
    fn claim_alert(&mut self, key: &str, at: i64, dedup_window: i64) -> bool;

    /// Gives back a claim made at `at` that did not become an alert (rate limited), if it is still
    /// `key`'s last alert.
    fn release_alert(&mut self, key: &str, at: i64);

    /// Takes one alert from `rule_id`'s budget for the minute containing `at`; `false` when the
    /// minute's `per_minute` alerts are spent.
    fn take_rate(&mut self, rule_id: &str, at: i64, per_minute: u32) -> bool;

    fn stats(&self) -> StateStats;
}

/// [`AlertState`] whose operations may wait (a network round trip). Same contract, method by
/// method; an implementation bounds each wait itself (Redis: a response timeout, then its
/// in-process fallback), so a caller never waits without limit.
pub trait AsyncAlertState: Send {
    fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
        member: Option<&str>,
    ) -> impl Future<Output = HitVerdict> + Send;
    fn clear_hits(&mut self, key: &str) -> impl Future<Output = ()> + Send;
    fn claim_alert(
        &mut self,
        key: &str,
        at: i64,
        dedup_window: i64,
    ) -> impl Future<Output = bool> + Send;
    fn release_alert(&mut self, key: &str, at: i64) -> impl Future<Output = ()> + Send;
    fn take_rate(
        &mut self,
        rule_id: &str,
        at: i64,
        per_minute: u32,
    ) -> impl Future<Output = bool> + Send;
    fn stats(&self) -> StateStats;

    /// Decides `d` now when that needs no wait (an in-process state; Redis while it is known to
    /// be down and its fallback answers); `None` when it must be awaited.
    fn try_decide(&mut self, d: &Decision<'_>) -> Option<Outcome> {
        let _ = d;
        None
    }

    /// Decides one match ([`decide_with`] unless the backend does it in one step).
    fn decide(&mut self, d: &Decision<'_>) -> impl Future<Output = Outcome> + Send
    where
        Self: Sized,
    {
        decide_with(self, d)
    }

    /// Decides `ds` in order, as [`AsyncAlertState::decide`] one after the other would.
    fn decide_batch(&mut self, ds: &[Decision<'_>]) -> impl Future<Output = Vec<Outcome>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut out = Vec::with_capacity(ds.len());
            for d in ds {
                out.push(decide_with(self, d).await);
            }
            out
        }
    }
}

/// An in-process state answers at once: its futures are ready when made.
impl<T: AlertState> AsyncAlertState for T {
    fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
        member: Option<&str>,
    ) -> impl Future<Output = HitVerdict> + Send {
        ready(AlertState::record_hit(
            self, key, at, window, keep, tolerance, member,
        ))
    }
    fn clear_hits(&mut self, key: &str) -> impl Future<Output = ()> + Send {
        AlertState::clear_hits(self, key);
        ready(())
    }
    fn claim_alert(
        &mut self,
        key: &str,
        at: i64,
        dedup_window: i64,
    ) -> impl Future<Output = bool> + Send {
        ready(AlertState::claim_alert(self, key, at, dedup_window))
    }
    fn release_alert(&mut self, key: &str, at: i64) -> impl Future<Output = ()> + Send {
        AlertState::release_alert(self, key, at);
        ready(())
    }
    fn take_rate(
        &mut self,
        rule_id: &str,
        at: i64,
        per_minute: u32,
    ) -> impl Future<Output = bool> + Send {
        ready(AlertState::take_rate(self, rule_id, at, per_minute))
    }
    fn stats(&self) -> StateStats {
        AlertState::stats(self)
    }
    fn try_decide(&mut self, d: &Decision<'_>) -> Option<Outcome> {
        Some(decide_now(self, d))
    }
}

#[derive(Debug, Default)]
struct Entry {
    /// Sorted by time, oldest first; with the member of a distinct count or `near`.
    hits: VecDeque<(i64, Option<Box<str>>)>,
    newest: Option<i64>,
    last_alert: Option<i64>,
    /// Use counter for eviction.
    touched: u64,
}

/// In-process [`AlertState`], bounded to `max_groups` keys.
#[derive(Debug)]
pub struct MemoryAlertState {
    /// Keyed SipHash (std's `RandomState`): the keys carry attacker-chosen text.
    entries: hashbrown::HashMap<String, Entry, RandomState>,
    /// Rule id → (minute, alerts in it). Bounded by the number of rules.
    rates: HashMap<String, (i64, u32)>,
    max_groups: usize,
    tick: u64,
    evictions: u64,
}

impl MemoryAlertState {
    pub fn new(max_groups: usize) -> Self {
        MemoryAlertState {
            entries: hashbrown::HashMap::with_hasher(RandomState::new()),
            rates: HashMap::new(),
            max_groups: max_groups.max(1),
            tick: 0,
            evictions: 0,
        }
    }

    /// The key's entry, inserted if new: one hash of the key unless the map is full (profile of
    /// the file-mode daemon: the three lookups this took with std's map were 8 % of its time).
    fn entry(&mut self, key: &str) -> &mut Entry {
        self.tick += 1;
        let tick = self.tick;
        if self.entries.len() >= self.max_groups && !self.entries.contains_key(key) {
            self.evict();
        }
        let e = self.entries.entry_ref(key).or_default();
        e.touched = tick;
        e
    }

    /// Drops the least recently used eighth of the keys at once, so a flood of new keys costs
    /// an amortised O(log n) per insert instead of a scan each time.
    fn evict(&mut self) {
        let mut ticks: Vec<u64> = self.entries.values().map(|e| e.touched).collect();
        let drop = (ticks.len() / 8).max(1);
        let (_, cutoff, _) = ticks.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let before = self.entries.len();
        self.entries.retain(|_, e| e.touched > cutoff);
        self.evictions += (before - self.entries.len()) as u64;
    }
}

impl AlertState for MemoryAlertState {
    fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
        member: Option<&str>,
    ) -> HitVerdict {
        let e = self.entry(key);
        if let Some(newest) = e.newest
            && at < newest.saturating_sub(tolerance)
        {
            return HitVerdict::Late;
        }
        // A member already held: keep its newest hit only. At most `keep` hits are held, so the
        // scan is bounded by the threshold's count.
        let held = member.and_then(|m| e.hits.iter().position(|(_, x)| x.as_deref() == Some(m)));
        let insert = match held {
            Some(i) if e.hits[i].0 >= at => false,
            Some(i) => {
                e.hits.remove(i);
                true
            }
            None => true,
        };
        if insert {
            let pos = e
                .hits
                .iter()
                .rposition(|&(t, _)| t <= at)
                .map_or(0, |p| p + 1);
            e.hits.insert(pos, (at, member.map(Box::from)));
        }
        let newest = e.newest.map_or(at, |n| n.max(at));
        e.newest = Some(newest);
        let from = newest.saturating_sub(window);
        while e.hits.front().is_some_and(|&(t, _)| t < from) {
            e.hits.pop_front();
        }
        while e.hits.len() > keep.max(1) as usize {
            e.hits.pop_front();
        }
        HitVerdict::Counted(u32::try_from(e.hits.len()).unwrap_or(u32::MAX))
    }

    fn clear_hits(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.hits.clear();
        }
    }

    fn claim_alert(&mut self, key: &str, at: i64, dedup_window: i64) -> bool {
        let e = self.entry(key);
        if let Some(last) = e.last_alert
            && at.abs_diff(last) < dedup_window.unsigned_abs()
        {
            return false;
        }
        e.last_alert = Some(e.last_alert.map_or(at, |l| l.max(at)));
        true
    }

    fn release_alert(&mut self, key: &str, at: i64) {
        if let Some(e) = self.entries.get_mut(key)
            && e.last_alert == Some(at)
        {
            e.last_alert = None;
        }
    }

    fn take_rate(&mut self, rule_id: &str, at: i64, per_minute: u32) -> bool {
        let minute = at.div_euclid(60_000_000);
        let slot = match self.rates.get_mut(rule_id) {
            Some(s) => s,
            None => self.rates.entry(rule_id.to_owned()).or_insert((minute, 0)),
        };
        // A record from an earlier minute (out of order) is charged to the current one.
        if minute > slot.0 {
            *slot = (minute, 0);
        }
        if slot.1 >= per_minute {
            return false;
        }
        slot.1 += 1;
        true
    }

    fn stats(&self) -> StateStats {
        StateStats {
            groups: self.entries.len(),
            evictions: self.evictions,
            backend_errors: 0,
            fallback_ops: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AlertState, HitVerdict, MemoryAlertState};

    const S: i64 = 1_000_000;

    #[test]
    fn window_counts_and_late_hits() {
        let mut st = MemoryAlertState::new(16);
        let rec =
            |st: &mut MemoryAlertState, t: i64| st.record_hit("k", t * S, 60 * S, 5, 10 * S, None);
        assert_eq!(rec(&mut st, 100), HitVerdict::Counted(1));
        assert_eq!(rec(&mut st, 130), HitVerdict::Counted(2));
        // 5 s out of order: within tolerance, inserted in place.
        assert_eq!(rec(&mut st, 125), HitVerdict::Counted(3));
        // 30 s older than the newest: beyond the 10 s tolerance.
        assert_eq!(rec(&mut st, 100), HitVerdict::Late);
        // 170: the hit at 100 falls out of [110, 170].
        assert_eq!(rec(&mut st, 170), HitVerdict::Counted(3));
        st.clear_hits("k");
        assert_eq!(rec(&mut st, 171), HitVerdict::Counted(1));
    }

    #[test]
    fn members_count_once_at_their_newest_hit() {
        let mut st = MemoryAlertState::new(16);
        let rec = |st: &mut MemoryAlertState, t: i64, m: &str| {
            st.record_hit("k", t * S, 60 * S, 3, 10 * S, Some(m))
        };
        assert_eq!(rec(&mut st, 100, "alice"), HitVerdict::Counted(1));
        assert_eq!(rec(&mut st, 110, "alice"), HitVerdict::Counted(1));
        assert_eq!(rec(&mut st, 120, "bob"), HitVerdict::Counted(2));
        // Out of order (within the tolerance) and not newer than alice's hit: nothing changes.
        assert_eq!(rec(&mut st, 110, "alice"), HitVerdict::Counted(2));
        assert_eq!(rec(&mut st, 112, "alice"), HitVerdict::Counted(2));
        // 175: alice (newest 110) has left [115, 175]; bob and carol are inside.
        assert_eq!(rec(&mut st, 175, "carol"), HitVerdict::Counted(2));
        assert_eq!(rec(&mut st, 176, "dave"), HitVerdict::Counted(3));
        // `keep` bounds what is held: a fourth member drops the oldest.
        assert_eq!(rec(&mut st, 177, "erin"), HitVerdict::Counted(3));
    }

    #[test]
    fn bounded_with_evictions() {
        let mut st = MemoryAlertState::new(8);
        for i in 0..100 {
            st.record_hit(&format!("k{i}"), i, 10, 3, 0, None);
        }
        let stats = st.stats();
        assert!(stats.groups <= 8, "{stats:?}");
        assert_eq!(stats.evictions, 100 - stats.groups as u64);
        // The most recent key survived.
        assert_eq!(
            st.record_hit("k99", 100, 10, 3, 0, None),
            HitVerdict::Counted(2)
        );
    }

    #[test]
    fn rate_per_minute() {
        let mut st = MemoryAlertState::new(8);
        let minute = 60 * S;
        assert!(st.take_rate("r", 0, 2));
        assert!(st.take_rate("r", 10 * S, 2));
        assert!(!st.take_rate("r", 20 * S, 2));
        assert!(st.take_rate("other", 20 * S, 2));
        assert!(st.take_rate("r", minute, 2));
        // Out of order into the past minute: charged to the current one.
        assert!(st.take_rate("r", 59 * S, 2));
        assert!(!st.take_rate("r", minute + S, 2));
    }
}
