//! From rule matches to `AlertEvent`s: thresholds over sliding windows per (rule, group), a dedup
//! window, and a per-rule rate limit.
//!
//! **Time.** Every decision uses the record's own time ([`FieldSource::timestamp_micros`]) when it
//! has one, else the injected [`Clock`] (arrival time). Replaying last week's `auth.log` therefore
//! gives the verdicts fail2ban would have given then, not a burst "now".
//!
//! **Thresholds.** A rule with `threshold{count, timeframe, group_by}` alerts when `count` matches
//! with the same `group_by` values lie within `timeframe` of the newest of them; the group's hits
//! are then forgotten (counting starts again, as fail2ban's does after a ban). A match whose
//! `group_by` field is missing is not counted (`missing_group_field`). A hit may arrive out of
//! order by up to `out_of_order_secs` (default 60) behind the newest hit of its group and is
//! inserted in place; an older one is `late` and dropped: reordering is bounded so the state is.
//! A threshold with a [`super::Correlate`] counts distinct values of a field (Sigma
//! `count(field)`) or `near` parts instead of matches: each hit carries its value or part index
//! as a member, and a member seen again replaces its older hit (a match without the counted
//! field counts as `missing_group_field`).
//!
//! **Dedup and rate.** After an alert, the same rule and group do not alert again within
//! `dedup_window_secs` (default 300; 0 disables; the group is empty for rules without
//! `group_by`). Each rule raises at most `rate_limit_per_min` alerts per minute of record time
//! (default 60; 0 = unlimited). Suppressed alerts are counted, never queued.
//!
//! Rules with `status: test` go through thresholds and are counted (`test_only`) but never alert.
//!
//! **Evidence.** The record's evidence class ([`FieldSource::evidence`]) is part of every key —
//! threshold windows, dedup and the per-rule rate budget — so classes never mix: ten forged
//! lines and one genuine one are two groups, not eleven hits of a verified alert; a flood of
//! forged lines can neither suppress (dedup) nor starve (rate limit) the genuine alert. The alert
//! carries the class (`AlertEvent::evidence`) and says it in its description.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::Evidence;
use ironpost_core::config::secs;
use ironpost_core::event::{AlertEvent, AlertSource};
use serde::{Deserialize, Serialize};

use super::state::{
    AlertState, AsyncAlertState, Decision, MemoryAlertState, Outcome, StateStats, decide_now,
};
use super::{Correlate, Rule, RuleStatus};
use crate::fields::{FieldSource, FieldValue};

/// Alerting knobs. The daemon decides where they sit in `ironpost.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// The same rule and group alert at most once within this window.
    #[serde(rename = "dedup_window_secs", with = "secs")]
    pub dedup_window: Duration,
    /// Alerts per rule per minute; 0 = unlimited.
    pub rate_limit_per_min: u32,
    /// Most (rule, group) keys remembered; least recently used evicted beyond.
    pub max_groups: usize,
    /// How far behind its group's newest hit a record may arrive and still count.
    #[serde(rename = "out_of_order_secs", with = "secs")]
    pub out_of_order: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            dedup_window: Duration::from_secs(300),
            rate_limit_per_min: 60,
            max_groups: 100_000,
            out_of_order: Duration::from_secs(60),
        }
    }
}

/// Source of "now" for records without a timestamp.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        Utc::now().timestamp_micros()
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_micros: i64) -> Self {
        ManualClock(AtomicI64::new(start_micros))
    }

    pub fn set(&self, micros: i64) {
        self.0.store(micros, Ordering::Relaxed);
    }

    pub fn advance(&self, by: Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(us, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What happened to matches, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounters {
    /// Matches observed.
    pub matches: u64,
    pub alerts: u64,
    /// Counted towards a threshold that was not reached yet.
    pub below_threshold: u64,
    /// Too far out of order to count.
    pub late: u64,
    pub deduplicated: u64,
    pub rate_limited: u64,
    /// Matches of `status: test` rules that would have alerted.
    pub test_only: u64,
    /// Threshold matches without their `group_by` field.
    pub missing_group_field: u64,
}

/// Turns matches into alerts. One per pipeline worker (it is `&mut`); share state across nodes by
/// giving each a shared [`AlertState`] ([`AsyncAlertState`] for one that waits on the network).
#[derive(Debug)]
pub struct Alerter<S = MemoryAlertState> {
    config: AlertingConfig,
    state: S,
    clock: Arc<dyn Clock>,
    counters: AlertCounters,
    /// Reused key buffers: looking up an existing group does not allocate.
    key: String,
    rate: String,
    /// Where each `group_by` value is in `key`, for the alert's `field=value` text (made only
    /// when an alert is due: [`Alerter::group_text`]).
    spans: Vec<(usize, usize)>,
    /// Reused: the members a match contributes to a distinct count or `near`.
    members: Vec<String>,
}

impl Alerter<MemoryAlertState> {
    /// An alerter with in-process state bounded by `config.max_groups`.
    pub fn in_memory(config: AlertingConfig, clock: Arc<dyn Clock>) -> Self {
        let state = MemoryAlertState::new(config.max_groups);
        Alerter::new(config, state, clock)
    }
}

impl<S: AsyncAlertState> Alerter<S> {
    pub fn new(config: AlertingConfig, state: S, clock: Arc<dyn Clock>) -> Self {
        Alerter {
            config,
            state,
            clock,
            counters: AlertCounters::default(),
            key: String::new(),
            rate: String::new(),
            spans: Vec::new(),
            members: Vec::new(),
        }
    }

    pub fn counters(&self) -> AlertCounters {
        self.counters
    }

    pub fn state_stats(&self) -> StateStats {
        self.state.stats()
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    /// [`Alerter::observe`] for a state that may wait. What the alert needs from `rec` is read
    /// before the returned future is made, so the future borrows the alerter and the rule only
    /// (a record is not `Sync`).
    pub fn observe_async<'a, R: FieldSource + ?Sized>(
        &'a mut self,
        rule: &'a Rule,
        rec: &R,
    ) -> impl Future<Output = Option<AlertEvent>> + Send + use<'a, S, R> {
        let begun = self
            .begin(rule, rec)
            .map(|at| (at, rec.evidence(), Draft::of(rec, at)));
        async move {
            let (at, evidence, draft) = begun?;
            let rate_key = rate_key(&rule.id, evidence);
            let d = decision(&self.config, &self.key, &rate_key, &self.members, rule, at);
            let outcome = self.state.decide(&d).await;
            let count = self.counters.count(outcome)?;
            Some(build_alert(rule, &self.group_text(rule), &draft, count))
        }
    }

    /// Decides the match of `rule` by `rec` at once when the state can without waiting (as
    /// [`Alerter::observe`]), else stages it ([`Alerter::stage`]).
    pub fn observe_or_stage<'r, R: FieldSource + ?Sized>(
        &mut self,
        rule: &'r Rule,
        rec: &R,
    ) -> Observed<'r> {
        let Some(at) = self.begin(rule, rec) else {
            return Observed::Decided(None);
        };
        let Alerter {
            config,
            state,
            counters,
            key,
            rate,
            spans,
            members,
            ..
        } = self;
        rate.clear();
        push_rate_key(rate, &rule.id, rec.evidence());
        let d = decision(config, key, rate, members, rule, at);
        match state.try_decide(&d) {
            Some(o) => {
                Observed::Decided(counters.count(o).map(|c| {
                    build_alert(rule, &group_text(rule, key, spans), &Draft::of(rec, at), c)
                }))
            }
            None => Observed::Staged(Staged {
                rule,
                key: key.clone(),
                rate_key: rate.clone(),
                members: members.clone(),
                at,
            }),
        }
    }

    /// A match of `rule` by `rec` to decide later with others ([`Alerter::decide_staged`]): one
    /// round trip for many matches of a shared state. `None` when a `group_by` field is missing
    /// (counted).
    pub fn stage<'r, R: FieldSource + ?Sized>(
        &mut self,
        rule: &'r Rule,
        rec: &R,
    ) -> Option<Staged<'r>> {
        let at = self.begin(rule, rec)?;
        Some(Staged {
            rule,
            key: self.key.clone(),
            rate_key: rate_key(&rule.id, rec.evidence()),
            members: self.members.clone(),
            at,
        })
    }

    /// Decides `staged` in order, as many [`Alerter::observe_async`] calls would: for each, the
    /// threshold count when an alert is due (build it with [`Alerter::staged_alert`]).
    pub async fn decide_staged(&mut self, staged: &[Staged<'_>]) -> Vec<Option<u32>> {
        let ds: Vec<Decision<'_>> = staged
            .iter()
            .map(|s| decision(&self.config, &s.key, &s.rate_key, &s.members, s.rule, s.at))
            .collect();
        let outcomes = self.state.decide_batch(&ds).await;
        outcomes
            .into_iter()
            .map(|o| self.counters.count(o))
            .collect()
    }

    /// The alert of a staged match `s` that [`Alerter::decide_staged`] found due, from the same
    /// record `rec` (parsed again: the batch kept no records).
    pub fn staged_alert<R: FieldSource + ?Sized>(
        &mut self,
        s: &Staged<'_>,
        rec: &R,
        count: u32,
    ) -> AlertEvent {
        let group_by = s
            .rule
            .threshold
            .as_ref()
            .map_or(&[][..], |t| &t.group_by[..]);
        self.make_key(s.rule, group_by, rec);
        build_alert(
            s.rule,
            &self.group_text(s.rule),
            &Draft::of(rec, s.at),
            count,
        )
    }

    /// Counts the match and builds its key and members; the time it counts at, or None when a
    /// `group_by` field or the distinct-count field is missing.
    fn begin<R: FieldSource + ?Sized>(&mut self, rule: &Rule, rec: &R) -> Option<i64> {
        self.counters.matches += 1;
        let at = rec
            .timestamp_micros()
            .unwrap_or_else(|| self.clock.now_micros());
        let group_by = rule.threshold.as_ref().map_or(&[][..], |t| &t.group_by[..]);
        if !self.make_key(rule, group_by, rec) {
            self.counters.missing_group_field += 1;
            return None;
        }
        self.members.clear();
        if let Some(c) = rule.threshold.as_ref().and_then(|t| t.correlate.as_ref())
            && !c.members(rule, rec, &mut self.members)
        {
            self.counters.missing_group_field += 1;
            return None;
        }
        Some(at)
    }

    /// Builds `rule id \x1f evidence \x1f group values` into `self.key`, noting where each value
    /// is; false when a `group_by` field is missing. Values are written straight into the key
    /// (an address as text, without an intermediate string): most matches raise no alert, and
    /// looking their group up must not allocate.
    fn make_key<R: FieldSource + ?Sized>(
        &mut self,
        rule: &Rule,
        group_by: &[String],
        rec: &R,
    ) -> bool {
        use std::fmt::Write as _;
        self.key.clear();
        self.spans.clear();
        self.key.push_str(&rule.id);
        self.key.push('\x1f');
        self.key.push_str(rec.evidence().as_str());
        for field in group_by {
            let value = if field == "message" {
                Some(FieldValue::Str(rec.message()))
            } else {
                rec.field(field)
            };
            let Some(value) = value else { return false };
            self.key.push('\x1f');
            let start = self.key.len();
            // The same text as `FieldValue::to_text`.
            let _ = match value {
                FieldValue::Str(s) => {
                    self.key.push_str(s);
                    Ok(())
                }
                FieldValue::Ip(ip) => write!(self.key, "{ip}"),
                FieldValue::Num(n) => write!(self.key, "{n}"),
            };
            self.spans.push((start, self.key.len()));
        }
        if group_by.is_empty()
            && let Some(actor) = rec.actor()
        {
            self.key.push_str("\x1factor=");
            self.key.push_str(actor);
        }
        true
    }

    /// The human `field=value, …` list of the group [`Alerter::make_key`] last built for `rule`.
    fn group_text(&self, rule: &Rule) -> String {
        group_text(rule, &self.key, &self.spans)
    }
}

/// `rule`'s `group_by` fields with their values, the `spans` of `key`: `field=value, …`.
fn group_text(rule: &Rule, key: &str, spans: &[(usize, usize)]) -> String {
    let group_by = rule.threshold.as_ref().map_or(&[][..], |t| &t.group_by[..]);
    let mut group = String::new();
    for (field, &(start, end)) in group_by.iter().zip(spans) {
        if !group.is_empty() {
            group.push_str(", ");
        }
        group.push_str(field);
        group.push('=');
        group.push_str(key.get(start..end).unwrap_or_default());
    }
    group
}

impl<S: AlertState> Alerter<S> {
    /// Records that `rec` matched `rule`; returns the alert when one is due.
    pub fn observe<R: FieldSource + ?Sized>(&mut self, rule: &Rule, rec: &R) -> Option<AlertEvent> {
        let at = self.begin(rule, rec)?;
        let Alerter {
            config,
            state,
            counters,
            key,
            rate,
            members,
            ..
        } = self;
        rate.clear();
        push_rate_key(rate, &rule.id, rec.evidence());
        let d = decision(config, key, rate, members, rule, at);
        let count = counters.count(decide_now(state, &d))?;
        Some(build_alert(
            rule,
            &self.group_text(rule),
            &Draft::of(rec, at),
            count,
        ))
    }
}

/// What [`Alerter::observe_or_stage`] did with a match.
// Returned and matched at once, never stored: boxing the alert would cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Observed<'r> {
    /// Decided at once: the alert when one is due.
    Decided(Option<AlertEvent>),
    /// Waits for [`Alerter::decide_staged`].
    Staged(Staged<'r>),
}

/// A match waiting for its verdict ([`Alerter::stage`]).
#[derive(Debug, Clone)]
pub struct Staged<'r> {
    pub rule: &'r Rule,
    key: String,
    rate_key: String,
    /// Distinct values or `near` part indexes (empty for a plain threshold: no allocation).
    members: Vec<String>,
    at: i64,
}

impl AlertCounters {
    /// Counts `o`; the threshold count when it is an alert.
    fn count(&mut self, o: Outcome) -> Option<u32> {
        let counter = match o {
            Outcome::Alert(n) => {
                self.alerts += 1;
                return Some(n);
            }
            Outcome::Late => &mut self.late,
            Outcome::BelowThreshold => &mut self.below_threshold,
            Outcome::TestOnly => &mut self.test_only,
            Outcome::Deduplicated => &mut self.deduplicated,
            Outcome::RateLimited => &mut self.rate_limited,
        };
        *counter += 1;
        None
    }
}

/// What deciding a match of `rule` keyed `key` at `at` (contributing `members`) needs.
fn decision<'a>(
    config: &AlertingConfig,
    key: &'a str,
    rate_key: &'a str,
    members: &'a [String],
    rule: &Rule,
    at: i64,
) -> Decision<'a> {
    Decision {
        key,
        rate_key,
        at,
        members,
        threshold: rule
            .threshold
            .as_ref()
            .map(|t| (micros(t.window), t.count, micros(config.out_of_order))),
        test_only: rule.status == RuleStatus::Test,
        dedup: micros(config.dedup_window),
        rate: config.rate_limit_per_min,
    }
}

/// What an alert takes from the record that raised it, owned (read before any wait).
#[derive(Debug)]
struct Draft {
    at: i64,
    /// The message, cut to 240 characters.
    last: String,
    evidence: Evidence,
    src_ip: Option<IpAddr>,
    src_port: Option<u16>,
    user: Option<String>,
    hostname: Option<String>,
}

impl Draft {
    fn of<R: FieldSource + ?Sized>(rec: &R, at: i64) -> Draft {
        let msg = rec.message();
        let cut = msg.char_indices().nth(240).map_or(msg.len(), |(i, _)| i);
        let text = |name: &str| rec.field(name).map(|v| v.to_text().into_owned());
        Draft {
            at,
            last: msg[..cut].to_owned(),
            evidence: rec.evidence(),
            src_ip: match rec.field("src_ip") {
                Some(FieldValue::Ip(ip)) => Some(ip),
                Some(FieldValue::Str(s)) => s.trim().parse::<IpAddr>().ok(),
                _ => None,
            },
            src_port: match rec.field("port") {
                Some(FieldValue::Num(n)) if (0.0..=65535.0).contains(&n) && n.fract() == 0.0 => {
                    Some(n as u16)
                }
                Some(FieldValue::Str(s)) => s.trim().parse().ok(),
                _ => None,
            },
            user: text("user"),
            hostname: text("hostname"),
        }
    }
}

fn build_alert(rule: &Rule, group: &str, d: &Draft, count: u32) -> AlertEvent {
    let mut a = AlertEvent::new(
        AlertSource::LogPipeline,
        &rule.id,
        &rule.title,
        rule.severity,
    );
    a.timestamp = DateTime::<Utc>::from_timestamp_micros(d.at).unwrap_or_else(Utc::now);
    let mut desc = rule.description.trim().to_owned();
    if !desc.is_empty() {
        desc.push_str(" — ");
    }
    match &rule.threshold {
        Some(t) => {
            let what = match &t.correlate {
                None => format!("{count} matches"),
                Some(Correlate::Distinct(field)) => format!("{count} distinct {field} values"),
                Some(Correlate::Near(_)) => format!("all {count} `near` parts matched"),
            };
            desc.push_str(&format!("{what} within {} s", t.window.as_secs()));
            if !group.is_empty() {
                desc.push_str(&format!(" for {group}"));
            }
        }
        None => desc.push_str("1 match"),
    }
    desc.push_str(&format!("; last: {}", d.last));
    desc.push_str(&format!(
        "; evidence: {} ({})",
        d.evidence,
        evidence_reason(d.evidence)
    ));
    a.description = desc;
    a.evidence = d.evidence;
    a.tags = rule.tags.clone();
    a.entities.src_ip = d.src_ip;
    a.entities.src_port = d.src_port;
    a.entities.user = d.user.clone();
    a.entities.hostname = d.hostname.clone();
    a
}

/// The rate budget's key: per rule and evidence class, so forged lines cannot spend the budget
/// of genuine ones.
fn rate_key(rule_id: &str, evidence: Evidence) -> String {
    let mut k = String::new();
    push_rate_key(&mut k, rule_id, evidence);
    k
}

fn push_rate_key(to: &mut String, rule_id: &str, evidence: Evidence) {
    to.push_str(rule_id);
    to.push('\x1f');
    to.push_str(evidence.as_str());
}

/// What each class means, for the alert's description.
fn evidence_reason(e: Evidence) -> &'static str {
    match e {
        Evidence::Verified => {
            "an authenticated writer's line, the address where the service's grammar places the TCP peer"
        }
        Evidence::Spoofable => "a packet's source address, which a forged packet can carry",
        Evidence::Forgeable => {
            "the line's writer is not authenticated: whoever wrote it chose the address"
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
