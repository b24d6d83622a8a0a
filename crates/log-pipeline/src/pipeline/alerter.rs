//! The worker's alerter: state in memory, or shared through Redis (`storage.redis_url`) so that
//! several pipelines raise one alert, not one each.
//!
//! Through Redis, the matches of a batch are not awaited one by one: each is *staged*
//! ([`Alerter::observe_or_stage`]) and the worker decides them together
//! ([`AnyAlerter::decide_staged`]: one script call per [`MAX_STAGED`] matches, in record order,
//! with the verdicts one call per match would give). While Redis is known to be down, its
//! in-process fallback decides each match at once, as the in-memory state does.

use ironpost_core::AlertEvent;

use crate::fields::FieldSource;
use crate::rules::{
    Alerter, MAX_DECISIONS_PER_CALL, MemoryAlertState, Observed, RedisAlertState, Rule, Staged,
};

/// Most matches staged before the worker decides them (one Redis script call).
pub(super) const MAX_STAGED: usize = MAX_DECISIONS_PER_CALL;

// One per pipeline, never in a collection: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum AnyAlerter {
    Memory(Alerter<MemoryAlertState>),
    Redis(Alerter<RedisAlertState>),
}

impl AnyAlerter {
    /// In memory the verdict is immediate; through Redis it is awaited (bounded by
    /// `[log_pipeline.redis] response_timeout_ms`), never blocking the worker's thread. The
    /// future does not borrow `rec` (a record is not `Sync`).
    pub(super) fn observe<'a, R: FieldSource + ?Sized>(
        &'a mut self,
        rule: &'a Rule,
        rec: &R,
    ) -> impl Future<Output = Option<AlertEvent>> + Send + use<'a, R> {
        match self {
            AnyAlerter::Memory(a) => {
                futures_util::future::Either::Left(std::future::ready(a.observe(rule, rec)))
            }
            AnyAlerter::Redis(a) => futures_util::future::Either::Right(a.observe_async(rule, rec)),
        }
    }

    /// Decides at once (in memory; Redis down) or stages the match for
    /// [`AnyAlerter::decide_staged`].
    pub(super) fn observe_or_stage<'r, R: FieldSource + ?Sized>(
        &mut self,
        rule: &'r Rule,
        rec: &R,
    ) -> Observed<'r> {
        match self {
            AnyAlerter::Memory(a) => Observed::Decided(a.observe(rule, rec)),
            AnyAlerter::Redis(a) => a.observe_or_stage(rule, rec),
        }
    }

    /// The verdicts on `staged`, in order: the threshold count when an alert is due.
    pub(super) async fn decide_staged(&mut self, staged: &[Staged<'_>]) -> Vec<Option<u32>> {
        match self {
            AnyAlerter::Memory(a) => a.decide_staged(staged).await,
            AnyAlerter::Redis(a) => a.decide_staged(staged).await,
        }
    }

    /// The alert of a staged match found due, from its record parsed again.
    pub(super) fn staged_alert<R: FieldSource + ?Sized>(
        &mut self,
        s: &Staged<'_>,
        rec: &R,
        count: u32,
    ) -> AlertEvent {
        match self {
            AnyAlerter::Memory(a) => a.staged_alert(s, rec, count),
            AnyAlerter::Redis(a) => a.staged_alert(s, rec, count),
        }
    }

    /// Groups evicted from the in-process state so far.
    pub(super) fn evictions(&self) -> u64 {
        match self {
            AnyAlerter::Memory(a) => a.state_stats().evictions,
            AnyAlerter::Redis(a) => a.state_stats().evictions,
        }
    }
}
