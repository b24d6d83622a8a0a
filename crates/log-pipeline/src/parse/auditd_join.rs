//! Joins auditd records into events: the records of one event share `msg=audit(TIME:SERIAL)`
//! (a syscall is `SYSCALL` + `EXECVE` + `CWD` + `PATH`… + `PROCTITLE` + `EOE`).
//!
//! An event is complete at its `EOE` record; a user-space record (`USER_*`, `ADD_*`, `CRED_*`,
//! `LOGIN`, `SERVICE_*` …: written alone) is an event by itself. An event whose `EOE` never
//! comes is flushed (and counted in [`JoinStats::forced`]) when a record arrives whose time is
//! [`JoinLimits::max_age_micros`] past the event's, when [`Joiner::flush_older_than`] is called
//! with a wall-clock bound, or when more than [`JoinLimits::max_pending`] events are open (the
//! oldest goes). Records of several events may interleave (one per CPU).
//!
//! An event keeps at most [`JoinLimits::max_records`] records (the rest counted), and its rules
//! view ([`AuditView`]) exposes, besides every field of its records, the joined fields:
//! `CommandLine` (the EXECVE arguments joined with spaces, else the PROCTITLE), `Image`
//! (`process`, from `exe`), `CurrentDirectory`, `TargetFilename`, `ParentProcessId`, `User`
//! (`user`: a user-space record's `acct`, else the enriched `UID`, else `uid`), `src_ip` (`addr`, of user-space records), `SYSCALL` (the enriched name, else the number
//! translated for x86_64 and aarch64) and `format` = `auditd`.

use std::collections::VecDeque;

use super::auditd::{AuditParseError, AuditRecord, parse_record, syscall_name};
use crate::fields::{FieldSource, FieldValue};

/// Bounds of a [`Joiner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinLimits {
    /// Events open at once.
    pub max_pending: usize,
    /// Records kept per event.
    pub max_records: usize,
    /// EXECVE arguments joined into `CommandLine` (`argc` above this is cut).
    pub max_args: usize,
    /// An open event older (in audit time) than the newest record by this much is flushed.
    pub max_age_micros: i64,
}

impl Default for JoinLimits {
    fn default() -> Self {
        JoinLimits {
            max_pending: 64,
            max_records: 64,
            max_args: 256,
            max_age_micros: 2_000_000,
        }
    }
}

/// What a [`Joiner`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinStats {
    pub events: u64,
    /// Lines that were not audit records.
    pub rejected_lines: u64,
    /// Events flushed without their `EOE` (timeout, newer records, end of input).
    pub forced: u64,
    /// Events flushed because [`JoinLimits::max_pending`] were open.
    pub pending_overflow: u64,
    /// Records dropped because their event held [`JoinLimits::max_records`].
    pub dropped_records: u64,
    /// `EOE` records of events already flushed.
    pub orphan_eoe: u64,
    /// Fields dropped (over `MAX_FIELDS`) or values cut (over `MAX_VALUE`).
    pub dropped_fields: u64,
}

/// One record of an event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    pub kind: String,
    pub fields: Vec<(String, String)>,
    /// The line (without translations), for keyword rules.
    pub text: String,
}

impl OwnedRecord {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The records of one serial, joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub serial: u64,
    pub timestamp_micros: i64,
    pub node: Option<String>,
    pub records: Vec<OwnedRecord>,
    /// The argv joined with spaces (EXECVE), else the PROCTITLE with its NULs as spaces.
    pub command_line: Option<String>,
    /// Whether the event ended with its `EOE` (or is a single user-space record).
    pub complete: bool,
}

impl AuditEvent {
    fn record(&self, kind: &str) -> Option<&OwnedRecord> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// One view per record (`EOE` excepted): rules written per record type (`type: EXECVE`,
    /// `type: PATH`) match the view of that record, with the event's other fields beside it.
    /// A rule may match several views of one event: collect matches per event, not per view.
    pub fn views(&self) -> impl Iterator<Item = AuditView<'_>> {
        (0..self.records.len())
            .filter(|&i| self.records[i].kind != "EOE")
            .map(move |i| AuditView {
                event: self,
                record: i,
            })
    }

    fn finish(&mut self, max_args: usize) {
        self.command_line = self
            .record("EXECVE")
            .and_then(|r| argv(r, max_args))
            .or_else(|| {
                self.record("PROCTITLE")
                    .and_then(|r| r.get("proctitle"))
                    .map(|p| p.trim_end_matches('\0').replace('\0', " "))
            });
    }
}

/// The EXECVE arguments joined with spaces; a split argument (`aN_len`, `aN[0]`, `aN[1]` …)
/// reassembled.
fn argv(r: &OwnedRecord, max_args: usize) -> Option<String> {
    let argc: usize = r.get("argc")?.parse().ok()?;
    let mut out = String::new();
    for i in 0..argc.min(max_args) {
        if i > 0 {
            out.push(' ');
        }
        match r.get(&format!("a{i}")) {
            Some(a) => out.push_str(a),
            None => {
                let prefix = format!("a{i}[");
                for (k, v) in &r.fields {
                    if k.starts_with(&prefix) {
                        out.push_str(v);
                    }
                }
            }
        }
        if out.len() > super::auditd::MAX_VALUE * 4 {
            break;
        }
    }
    Some(out)
}

/// A record type written alone (user space), an event without `EOE`.
fn standalone(kind: &str) -> bool {
    [
        "USER_", "ADD_", "DEL_", "CRED_", "GRP_", "CHGRP_", "CHUSER_", "SERVICE_", "DAEMON_",
    ]
    .iter()
    .any(|p| kind.starts_with(p))
        || matches!(
            kind,
            "LOGIN" | "SYSTEM_BOOT" | "SYSTEM_SHUTDOWN" | "SYSTEM_RUNLEVEL"
        )
}

/// Joins lines into events (see the module documentation).
#[derive(Debug, Default)]
pub struct Joiner {
    limits: JoinLimits,
    pending: VecDeque<AuditEvent>,
    stats: JoinStats,
}

impl Joiner {
    pub fn new(limits: JoinLimits) -> Self {
        Joiner {
            limits,
            pending: VecDeque::new(),
            stats: JoinStats::default(),
        }
    }

    pub fn stats(&self) -> JoinStats {
        self.stats
    }

    /// Events open.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Reads one line; completed events are appended to `out`. A line that is not an audit
    /// record is counted and its error returned (nothing else changes).
    pub fn push_line(
        &mut self,
        line: &[u8],
        out: &mut Vec<AuditEvent>,
    ) -> Result<(), AuditParseError> {
        let rec = parse_record(line).inspect_err(|_| self.stats.rejected_lines += 1)?;
        self.push(&rec, line, out);
        Ok(())
    }

    fn push(&mut self, rec: &AuditRecord<'_>, line: &[u8], out: &mut Vec<AuditEvent>) {
        self.stats.dropped_fields += (rec.dropped_fields + rec.truncated_values) as u64;
        // Older events that will not see their EOE any more.
        let horizon = rec
            .timestamp_micros
            .saturating_sub(self.limits.max_age_micros);
        self.flush_where(out, |e| e.timestamp_micros < horizon);
        let at = self
            .pending
            .iter()
            .position(|e| e.serial == rec.serial && e.timestamp_micros == rec.timestamp_micros);
        let raw_end = line
            .iter()
            .position(|&c| matches!(c, 0x1d | b'\n' | b'\r'))
            .unwrap_or(line.len());
        let owned = OwnedRecord {
            kind: rec.kind.to_owned(),
            fields: rec
                .fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone().into_owned()))
                .collect(),
            text: String::from_utf8_lossy(&line[..raw_end]).into_owned(),
        };
        let i = match at {
            Some(i) => i,
            // The EOE of an event already flushed: nothing left to end.
            None if rec.kind == "EOE" => {
                self.stats.orphan_eoe += 1;
                return;
            }
            None => {
                if self.pending.len() >= self.limits.max_pending
                    && let Some(e) = self.pending.pop_front()
                {
                    self.stats.pending_overflow += 1;
                    self.emit(e, false, out);
                }
                self.pending.push_back(AuditEvent {
                    serial: rec.serial,
                    timestamp_micros: rec.timestamp_micros,
                    node: rec.node.map(str::to_owned),
                    records: Vec::new(),
                    command_line: None,
                    complete: false,
                });
                self.pending.len() - 1
            }
        };
        let done =
            rec.kind == "EOE" || (standalone(rec.kind) && self.pending[i].records.is_empty());
        if self.pending[i].records.len() < self.limits.max_records {
            self.pending[i].records.push(owned);
        } else {
            self.stats.dropped_records += 1;
        }
        if done && let Some(e) = self.pending.remove(i) {
            self.emit(e, true, out);
        }
    }

    fn emit(&mut self, mut e: AuditEvent, complete: bool, out: &mut Vec<AuditEvent>) {
        self.stats.events += 1;
        self.stats.forced += u64::from(!complete);
        e.complete = complete;
        e.finish(self.limits.max_args);
        out.push(e);
    }

    fn flush_where(&mut self, out: &mut Vec<AuditEvent>, stale: impl Fn(&AuditEvent) -> bool) {
        let mut i = 0;
        while i < self.pending.len() {
            if stale(&self.pending[i])
                && let Some(e) = self.pending.remove(i)
            {
                self.emit(e, false, out);
            } else {
                i += 1;
            }
        }
    }

    /// Flushes the events whose audit time is before `micros` (call with the wall clock minus
    /// a bound when the file is quiet).
    pub fn flush_older_than(&mut self, micros: i64, out: &mut Vec<AuditEvent>) {
        self.flush_where(out, |e| e.timestamp_micros < micros);
    }

    /// Flushes every open event (end of input).
    pub fn flush_all(&mut self, out: &mut Vec<AuditEvent>) {
        self.flush_where(out, |_| true);
    }
}

/// One record of an event as rules see it (see [`AuditEvent::views`]).
#[derive(Debug, Clone, Copy)]
pub struct AuditView<'e> {
    event: &'e AuditEvent,
    record: usize,
}

impl<'e> AuditView<'e> {
    pub fn record(&self) -> &'e OwnedRecord {
        &self.event.records[self.record]
    }

    /// `name` in this record, else the SYSCALL record, else any other record of the event.
    fn lookup(&self, name: &str) -> Option<&'e str> {
        let own = self.record();
        own.get(name)
            .or_else(|| self.event.record("SYSCALL").and_then(|r| r.get(name)))
            .or_else(|| self.event.records.iter().find_map(|r| r.get(name)))
    }

    fn path_name(&self) -> Option<&'e str> {
        let own = self.record();
        if own.kind == "PATH" {
            return own.get("name");
        }
        self.event
            .records
            .iter()
            .filter(|r| r.kind == "PATH" && r.get("nametype") != Some("PARENT"))
            .find_map(|r| r.get("name"))
    }
}

impl FieldSource for AuditView<'_> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let s = match name {
            "format" => Some("auditd"),
            "message" => Some(self.record().text.as_str()),
            "type" => Some(self.record().kind.as_str()),
            "process" | "Image" => self.lookup("exe"),
            "CommandLine" => self.event.command_line.as_deref(),
            "CurrentDirectory" => self.lookup("cwd"),
            "TargetFilename" => self.path_name(),
            "ParentProcessId" => self.lookup("ppid"),
            "src_ip" => self.lookup("addr"),
            // The account a user-space record is about (PAM's `acct`), else the process's user.
            "user" | "User" => self
                .record()
                .get("acct")
                .or_else(|| self.lookup("UID"))
                .or_else(|| self.lookup("uid")),
            "hostname" | "host" => self.event.node.as_deref(),
            "SYSCALL" => self
                .lookup("SYSCALL")
                .or_else(|| syscall_name(self.lookup("arch")?, self.lookup("syscall")?)),
            _ => self.lookup(name),
        }?;
        Some(match s.parse::<std::net::IpAddr>() {
            Ok(ip) => FieldValue::Ip(ip),
            Err(_) => FieldValue::Str(s),
        })
    }

    fn message(&self) -> &str {
        &self.record().text
    }

    fn timestamp_micros(&self) -> Option<i64> {
        Some(self.event.timestamp_micros)
    }
}

#[cfg(test)]
#[path = "auditd_join_tests.rs"]
mod tests;
