//! The worker's alerter — state in memory, or shared through Redis (`storage.redis_url`) so that
//! several pipelines raise one alert, not one each.
//!
//! Through Redis, the matches of a batch are not awaited one by one: each is *staged*
//! ([`Alerter::observe_or_stage`]) and the worker decides them together
//! ([`AnyAlerter::decide_staged`]: one script call per [`MAX_STAGED`] matches, in record order,
//! with the verdicts one call per match would give). While Redis is known to be down, its
//! in-process fallback decides each match at once, as the in-memory state does. The batch keeps
//! no records: a staged match that alerts is parsed again from its line ([`Reader`], the same
//! parse every time) and its alert and evidence kept in line order with their ids ([`Raised`]).

use ironpost_core::ack::{Ack, stable_id};
use ironpost_core::{AlertEvent, LogEvent};

use super::{file_record_id, to_log_event};
use crate::fields::FieldSource;
use crate::parse::{Format, ParseContext, Record, parse, parse_journal_entry};
use crate::rules::{
    Alerter, MAX_DECISIONS_PER_CALL, MemoryAlertState, Observed, RedisAlertState, Rule, Staged,
};
use crate::source::Batch;
use crate::source::file::FilePos;
use crate::trust::Trust;

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

/// Parses the lines of one batch, each the same way every time it is read.
pub(super) struct Reader<'a> {
    pub(super) batch: &'a Batch,
    pub(super) ctx: ParseContext,
    pub(super) trust: &'a Trust,
    pub(super) journal: bool,
    pub(super) file_trusted: bool,
}

impl<'a> Reader<'a> {
    /// Line `i` as a record with its evidence class; whether it was a malformed journal entry and
    /// whether its message was cut.
    pub(super) fn record<'l>(&self, i: usize, line: &'l [u8]) -> (Record<'l>, bool, bool) {
        let (mut rec, authenticated, malformed, truncated) = if self.journal {
            let e = parse_journal_entry(line, &self.ctx, &self.trust.journal);
            let malformed = e.record.format == Format::Raw;
            (e.record, e.authenticated, malformed, e.truncated)
        } else {
            let mut rec = parse(line, &self.ctx);
            rec.sender_ip = self.batch.sender(i);
            let authenticated =
                self.file_trusted || self.trust.sender_trusted(self.batch.source, rec.sender_ip);
            (rec, authenticated, false, false)
        };
        rec.evidence = self.trust.evidence(authenticated, &rec);
        (rec, malformed, truncated)
    }
}

/// The alerts a batch raised and the lines that raised them, with their ids and ack tokens.
pub(super) struct Raised<'a> {
    pub(super) batch: &'a Batch,
    pub(super) ack: &'a Ack,
    pub(super) pos: Option<&'a FilePos>,
    pub(super) journal: bool,
    pub(super) alerts: Vec<AlertEvent>,
    pub(super) evidence: Vec<LogEvent>,
}

impl Raised<'_> {
    /// Keeps `alert`, raised by `rule` on line `i`, and the line as its evidence (same trace id).
    pub(super) fn raise(
        &mut self,
        i: usize,
        line: &[u8],
        rec: &Record<'_>,
        rule: &Rule,
        mut alert: AlertEvent,
    ) {
        let batch = self.batch;
        let mut ev = to_log_event(
            format!("{}:{}", batch.source, batch.origin),
            rec,
            rule.severity,
        );
        let rule_id = alert.rule_id.as_str();
        let id = |kind: &[u8]| match (self.pos, batch.offset(i)) {
            (Some(pos), Some(offset)) => Some(file_record_id(pos, offset, line, rule_id, kind)),
            // A journal entry's JSON holds its unique `__CURSOR`.
            _ if self.journal => Some(ironpost_core::EventId(stable_id(&[
                b"journald",
                line,
                rule_id.as_bytes(),
                kind,
            ]))),
            _ => None,
        };
        if let (Some(a), Some(t), Some(l)) = (id(b"alert"), id(b"trace"), id(b"log")) {
            alert.id = a;
            alert.trace_id = ironpost_core::TraceId(t.0.as_u128());
            ev.id = l;
        }
        ev.trace_id = alert.trace_id;
        alert.ack = self.ack.clone();
        ev.ack = self.ack.clone();
        self.evidence.push(ev);
        self.alerts.push(alert);
    }
}
