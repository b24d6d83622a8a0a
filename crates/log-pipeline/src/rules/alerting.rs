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
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::Evidence;
use ironpost_core::config::secs;
use ironpost_core::event::{AlertEvent, AlertSource};
use serde::{Deserialize, Serialize};

use super::state::{AlertState, HitVerdict, MemoryAlertState, StateStats};
use super::{Rule, RuleStatus};
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
/// giving each a shared [`AlertState`].
#[derive(Debug)]
pub struct Alerter<S: AlertState = MemoryAlertState> {
    config: AlertingConfig,
    state: S,
    clock: Arc<dyn Clock>,
    counters: AlertCounters,
    /// Reused key buffer: looking up an existing group does not allocate.
    key: String,
    group: String,
}

impl Alerter<MemoryAlertState> {
    /// An alerter with in-process state bounded by `config.max_groups`.
    pub fn in_memory(config: AlertingConfig, clock: Arc<dyn Clock>) -> Self {
        let state = MemoryAlertState::new(config.max_groups);
        Alerter::new(config, state, clock)
    }
}

impl<S: AlertState> Alerter<S> {
    pub fn new(config: AlertingConfig, state: S, clock: Arc<dyn Clock>) -> Self {
        Alerter {
            config,
            state,
            clock,
            counters: AlertCounters::default(),
            key: String::new(),
            group: String::new(),
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

    /// Records that `rec` matched `rule`; returns the alert when one is due.
    pub fn observe<R: FieldSource + ?Sized>(&mut self, rule: &Rule, rec: &R) -> Option<AlertEvent> {
        self.counters.matches += 1;
        let at = rec
            .timestamp_micros()
            .unwrap_or_else(|| self.clock.now_micros());
        let group_by = rule.threshold.as_ref().map_or(&[][..], |t| &t.group_by[..]);
        if !self.make_key(rule, group_by, rec) {
            self.counters.missing_group_field += 1;
            return None;
        }
        let mut count = 1;
        if let Some(t) = &rule.threshold {
            let verdict = self.state.record_hit(
                &self.key,
                at,
                micros(t.window),
                t.count,
                micros(self.config.out_of_order),
            );
            match verdict {
                HitVerdict::Late => {
                    self.counters.late += 1;
                    return None;
                }
                HitVerdict::Counted(n) if n < t.count => {
                    self.counters.below_threshold += 1;
                    return None;
                }
                HitVerdict::Counted(n) => {
                    self.state.clear_hits(&self.key);
                    count = n;
                }
            }
        }
        if rule.status == RuleStatus::Test {
            self.counters.test_only += 1;
            return None;
        }
        // Claim first (atomic in the shared backend: one alert across nodes), give the claim
        // back when the rate limit then refuses, so a rate-limited group may alert later.
        let dedup = micros(self.config.dedup_window);
        if dedup > 0 && !self.state.claim_alert(&self.key, at, dedup) {
            self.counters.deduplicated += 1;
            return None;
        }
        let rate = self.config.rate_limit_per_min;
        let evidence = rec.evidence();
        if rate > 0
            && !self
                .state
                .take_rate(&rate_key(&rule.id, evidence), at, rate)
        {
            if dedup > 0 {
                self.state.release_alert(&self.key, at);
            }
            self.counters.rate_limited += 1;
            return None;
        }
        self.counters.alerts += 1;
        Some(self.alert(rule, rec, at, count))
    }

    /// Builds `rule id \x1f evidence \x1f group values` into `self.key` and the human
    /// `field=value` list into `self.group`; false when a `group_by` field is missing.
    fn make_key<R: FieldSource + ?Sized>(
        &mut self,
        rule: &Rule,
        group_by: &[String],
        rec: &R,
    ) -> bool {
        use std::fmt::Write as _;
        self.key.clear();
        self.group.clear();
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
            let text = value.to_text();
            self.key.push('\x1f');
            self.key.push_str(&text);
            if !self.group.is_empty() {
                self.group.push_str(", ");
            }
            let _ = write!(self.group, "{field}={text}");
        }
        true
    }

    fn alert<R: FieldSource + ?Sized>(
        &self,
        rule: &Rule,
        rec: &R,
        at: i64,
        count: u32,
    ) -> AlertEvent {
        let mut a = AlertEvent::new(
            AlertSource::LogPipeline,
            &rule.id,
            &rule.title,
            rule.severity,
        );
        a.timestamp = DateTime::<Utc>::from_timestamp_micros(at).unwrap_or_else(Utc::now);
        let mut d = rule.description.trim().to_owned();
        if !d.is_empty() {
            d.push_str(" — ");
        }
        match &rule.threshold {
            Some(t) => {
                d.push_str(&format!("{count} matches within {} s", t.window.as_secs()));
                if !self.group.is_empty() {
                    d.push_str(&format!(" for {}", self.group));
                }
            }
            None => d.push_str("1 match"),
        }
        let msg = rec.message();
        let cut = msg.char_indices().nth(240).map_or(msg.len(), |(i, _)| i);
        d.push_str(&format!("; last: {}", &msg[..cut]));
        let evidence = rec.evidence();
        d.push_str(&format!(
            "; evidence: {evidence} ({})",
            evidence_reason(evidence)
        ));
        a.description = d;
        a.evidence = evidence;
        a.tags = rule.tags.clone();
        let text = |name: &str| rec.field(name).map(|v| v.to_text().into_owned());
        a.entities.src_ip = match rec.field("src_ip") {
            Some(FieldValue::Ip(ip)) => Some(ip),
            Some(FieldValue::Str(s)) => s.trim().parse::<IpAddr>().ok(),
            _ => None,
        };
        a.entities.src_port = match rec.field("port") {
            Some(FieldValue::Num(n)) if (0.0..=65535.0).contains(&n) && n.fract() == 0.0 => {
                Some(n as u16)
            }
            Some(FieldValue::Str(s)) => s.trim().parse().ok(),
            _ => None,
        };
        a.entities.user = text("user");
        a.entities.hostname = text("hostname");
        a
    }
}

/// The rate budget's key: per rule and evidence class, so forged lines cannot spend the budget
/// of genuine ones.
fn rate_key(rule_id: &str, evidence: Evidence) -> String {
    format!("{rule_id}\x1f{evidence}")
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
