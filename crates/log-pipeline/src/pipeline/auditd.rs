//! Batches of an `auditd_paths` file: lines are joined into events by serial
//! (`parse/auditd_join.rs`, one joiner per file), and each completed event is matched through
//! its views (one per record) — a rule matching several views of one event counts once.
//!
//! An event completes at its `EOE`, or is flushed by the joiner's bounds, or at the end of a
//! batch when its audit time is [`QUIET_FLUSH_MICROS`] before the batch's receive time. Its
//! alert and evidence ids are those of the line that completed it (the last line of the batch
//! for a flush). Positions are acknowledged per batch as for other files: an event whose first
//! records were in a batch already committed when the daemon restarts is joined from its
//! remaining records only.

use ironpost_core::ack::{Ack, stable_id};
use ironpost_core::metrics::{self, prometheus};

use super::{FilePos, Worker, file_record_id, to_log_event};
use crate::parse::auditd_join::{AuditEvent, JoinLimits, JoinStats, Joiner};
use crate::source::Batch;

/// An open event whose audit time is this far before a batch's receive time is flushed at the
/// end of that batch.
pub(super) const QUIET_FLUSH_MICROS: i64 = 5_000_000;

/// Joiners kept (one per auditd file). A file beyond this many starts the set over: the open
/// (unfinished) events of the joiners dropped are counted as `joiner_evicted`.
const MAX_JOINERS: usize = 64;

pub(super) fn metric(r: &prometheus::Registry) -> prometheus::IntCounterVec {
    metrics::int_counter_vec(
        r,
        "log_auditd_dropped_total",
        "auditd input not joined as written, by reason: rejected_line (not an audit record), forced_flush (event ended without EOE), pending_overflow (too many open events), dropped_record (over the records kept per event), dropped_field (over the fields kept per record, or a value cut), joiner_evicted (open events lost when more auditd files than the joiners kept were read).",
        &["reason"],
    )
}

impl Worker {
    pub(super) async fn process_auditd(&mut self, batch: &Batch, ack: &Ack, pos: Option<&FilePos>) {
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !self.auditd.contains_key(&batch.origin) && self.auditd.len() >= MAX_JOINERS {
            let open: usize = self.auditd.values().map(Joiner::pending).sum();
            self.shared
                .metrics
                .auditd
                .with_label_values(&["joiner_evicted"])
                .inc_by(open as u64);
            self.auditd.clear();
        }
        let joiner = self
            .auditd
            .entry(batch.origin.clone())
            .or_insert_with(|| Joiner::new(JoinLimits::default()));
        let before = joiner.stats();
        // (line index that completed it, event)
        let mut done: Vec<(usize, AuditEvent)> = Vec::new();
        let mut out = Vec::new();
        let mut last = None;
        for (i, line) in batch.lines().enumerate() {
            last = Some(i);
            // A rejected line is counted by the joiner.
            let _ = joiner.push_line(line, &mut out);
            done.extend(out.drain(..).map(|e| (i, e)));
        }
        if let Some(i) = last {
            joiner.flush_older_than(batch.received_micros - QUIET_FLUSH_MICROS, &mut out);
            done.extend(out.drain(..).map(|e| (i, e)));
        }
        let after = joiner.stats();
        self.count_auditd(&before, &after);
        let metrics = &self.shared.metrics;
        if !done.is_empty() {
            metrics
                .parsed
                .with_label_values(&["auditd"])
                .inc_by(done.len() as u64);
        }
        let rejected = after.rejected_lines - before.rejected_lines;
        if rejected > 0 {
            metrics.parsed.with_label_values(&["raw"]).inc_by(rejected);
        }
        let mut matched = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut alerts = Vec::new();
        let mut evidence = Vec::new();
        let mut match_count = 0u64;
        for (i, event) in &done {
            seen.clear();
            for view in event.views() {
                matched.clear();
                rules.matches(&view, &mut matched);
                for rule in &matched {
                    if seen.contains(&rule.id) {
                        continue;
                    }
                    seen.push(rule.id.clone());
                    match_count += 1;
                    let Some(mut alert) = self.alerter.observe(rule, &view).await else {
                        continue;
                    };
                    let mut ev = to_log_event(
                        format!("{}:{}", batch.source, batch.origin),
                        &view,
                        rule.severity,
                    );
                    let line = batch.lines().nth(*i).unwrap_or_default();
                    let rule_id = alert.rule_id.as_str();
                    let serial = event.serial.to_le_bytes();
                    let id = |kind: &[u8]| match (pos, batch.offset(*i)) {
                        (Some(pos), Some(offset)) => {
                            Some(file_record_id(pos, offset, line, rule_id, kind))
                        }
                        _ => Some(ironpost_core::EventId(stable_id(&[
                            b"auditd",
                            &serial,
                            line,
                            rule_id.as_bytes(),
                            kind,
                        ]))),
                    };
                    if let (Some(a), Some(t), Some(l)) = (id(b"alert"), id(b"trace"), id(b"log")) {
                        alert.id = a;
                        alert.trace_id = ironpost_core::TraceId(t.0.as_u128());
                        ev.id = l;
                    }
                    if let Some(c) = &event.command_line {
                        ev.fields.insert("CommandLine".into(), c.clone());
                    }
                    ev.fields
                        .insert("audit_serial".into(), event.serial.to_string());
                    ev.trace_id = alert.trace_id;
                    alert.ack = ack.clone();
                    ev.ack = ack.clone();
                    evidence.push(ev);
                    alerts.push(alert);
                }
            }
        }
        metrics.matches.inc_by(match_count);
        for ev in evidence {
            // A file batch is acknowledged: its evidence waits for room like an alert.
            if let Err(e) = self.outputs.logs.send(ev).await {
                e.0.ack.fail();
                metrics.evidence_dropped.inc();
            }
        }
        for alert in alerts {
            if let Err(e) = self.outputs.alerts.send(alert).await {
                e.0.ack.fail();
            }
        }
        self.report_evictions();
    }

    fn count_auditd(&self, before: &JoinStats, after: &JoinStats) {
        let m = &self.shared.metrics.auditd;
        for (reason, n) in [
            (
                "rejected_line",
                after.rejected_lines - before.rejected_lines,
            ),
            ("forced_flush", after.forced - before.forced),
            (
                "pending_overflow",
                after.pending_overflow - before.pending_overflow,
            ),
            (
                "dropped_record",
                after.dropped_records - before.dropped_records,
            ),
            (
                "dropped_field",
                after.dropped_fields - before.dropped_fields,
            ),
        ] {
            if n > 0 {
                m.with_label_values(&[reason]).inc_by(n);
            }
        }
    }
}
