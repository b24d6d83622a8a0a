//! The `log_pipeline` module: sources → parse → rules → thresholds → alerts.
//!
//! Sources (`syslog_udp`, `syslog_tcp`, `file`, `journald`) send batches on bounded channels;
//! one worker has every line parsed and matched against the [`RuleSet`] (one Aho-Corasick pass
//! picks the candidates; batches are scanned by a pool of `match_threads - 1` threads while the
//! worker finishes the batch before, `pipeline/matcher.rs`), then, in line order, feeds matches to the [`Alerter`] (windows, dedup, rate limit) and
//! sends the resulting `AlertEvent`s — and the line that raised each, as `LogEvent` evidence — to
//! the daemon.
//!
//! **Acknowledgement.** A file batch or journal batch gets an `ironpost_core::ack` token from its
//! stream's watermark (one per file, one for the journal); each alert and evidence line it raises
//! carries a clone, and the store resolves the clone once the record is committed. File offsets
//! and the journal cursor are committed only up to the last batch whose every clone was resolved
//! as delivered (checked every [`ACK_POLL`] and at stop); a record the store refused or lost holds
//! the position back for the rest of the run (`ironpost_log_source_ack_failed_total`), so a restart
//! reads it again. Alerts and evidence from files get deterministic ids (file identity, line
//! offset, line bytes, rule; from the journal: the entry, which holds its cursor, and the rule),
//! so what is read again is stored once — for rules that alert per line. Threshold and dedup
//! state is not checkpointed: after a restart a threshold counts again from the replayed lines.
//!
//! **Evidence.** Each record gets its evidence class from where it came from, never from its
//! text ([`Trust::evidence`]): a record is *authenticated* when its source vouches for the
//! writer — a journal entry whose trusted fields name the program it claims to be, a line of a
//! file in `trusted_paths`, a syslog message from a `trusted_senders` TCP peer (or UDP source
//! with `trust_udp_senders`). An authenticated record of a `verified_programs` program (the sshd
//! family) whose address the sshd/PAM extractor found is `verified`; every other log record is
//! `forgeable`, and packet records are `spoofable`. Records are counted per class
//! (`ironpost_log_records_evidence_total{class}`).
//!
//! Rules reload whole ([`PipelineHandle::reload_rules`]): a directory with any broken rule keeps
//! the running rules and reports every error; in-flight lines finish on the rules they started
//! with. Stop order: sources first, then the worker drains what they queued, then checkpoints are
//! written.

mod alerter;
mod auditd;
mod error;
mod matcher;
mod module;
mod process;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use ironpost_core::ack::{Ack, Watermark, stable_id};
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{
    AlertEvent, BoxFuture, Entities, Health, LogEvent, Module, ModuleError, PacketEvent, Severity,
    error_chain,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::LogPipelineConfig;
use crate::fields::{FieldSource, FieldValue};
use crate::parse::ParseContext;
use crate::rules::{
    Alerter, Observed, RedisAlertState, RuleSet, RuleStatus, Staged, SystemClock, load_dir,
};
use crate::source::ebpf::PacketRecord;
use crate::source::file::{CheckpointLoad, Checkpoints, FileKey, FilePos, FileSource};
use crate::source::journald::{
    CursorFile, CursorLoad, JournaldMetrics, JournaldSource, SourceStatus,
};
use crate::source::process::ProcessRecord;
use crate::source::syslog_tcp::{SyslogTcp, load_tls};
use crate::source::syslog_udp::SyslogUdp;
use crate::source::{Batch, SourceMetrics};
use crate::trust::Trust;
use alerter::{AnyAlerter, Raised, Reader};

pub use error::PipelineError;

/// Batches queued between the sources and the worker (each holds up to a few thousand lines).
pub const BATCH_CHANNEL_CAPACITY: usize = 32;
/// Packet events queued for the worker.
pub const PACKET_CHANNEL_CAPACITY: usize = 4096;
/// Kernel process records queued for the worker (`process_input`).
pub const PROCESS_CHANNEL_CAPACITY: usize = 4096;
/// How often the worker moves the acknowledgement watermarks forward when no batch arrives.
pub const ACK_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Where the pipeline sends what it produces.
#[derive(Debug, Clone)]
pub struct PipelineOutputs {
    pub alerts: mpsc::Sender<AlertEvent>,
    /// The line that raised each alert, kept as its evidence (`log_entries`, same trace id).
    /// Full: waited for when the line comes from an acknowledged source (file, journal),
    /// otherwise counted, not waited for.
    pub logs: mpsc::Sender<LogEvent>,
}

struct PipelineMetrics {
    parsed: prometheus::IntCounterVec,
    evidence: prometheus::IntCounterVec,
    journal_malformed: prometheus::IntCounter,
    matches: prometheus::IntCounter,
    evidence_dropped: prometheus::IntCounter,
    rules: prometheus::IntGauge,
    rule_reloads: prometheus::IntCounterVec,
    alert_evictions: prometheus::IntCounter,
    alert_state: crate::rules::AlertStateMetrics,
    syslog_tcp: crate::source::syslog_tcp::TcpLimitMetrics,
    /// `log_auditd_dropped_total{reason}`: see `pipeline/auditd.rs`.
    auditd: prometheus::IntCounterVec,
}

impl PipelineMetrics {
    fn new(r: &prometheus::Registry) -> Self {
        PipelineMetrics {
            parsed: metrics::int_counter_vec(
                r,
                "log_parsed_total",
                "Lines parsed, by detected format (raw: not recognised, kept as a raw message).",
                &["format"],
            ),
            evidence: metrics::int_counter_vec(
                r,
                "log_records_evidence_total",
                "Records by evidence class: what their address rests on (verified, spoofable, forgeable).",
                &["class"],
            ),
            journal_malformed: metrics::int_counter(
                r,
                "log_journald_malformed_total",
                "Journal entries that were not one JSON object (kept as raw records).",
            ),
            matches: metrics::int_counter(
                r,
                "log_rule_matches_total",
                "Rule matches (before thresholds).",
            ),
            evidence_dropped: metrics::int_counter(
                r,
                "log_evidence_dropped_total",
                "Matching lines not stored as evidence because the store's queue was full.",
            ),
            rules: metrics::int_gauge(r, "log_rules_loaded", "Rules in the running rule set."),
            rule_reloads: metrics::int_counter_vec(
                r,
                "log_rule_reloads_total",
                "Rule reloads by result.",
                &["result"],
            ),
            alert_evictions: metrics::int_counter(
                r,
                "log_alert_state_evictions_total",
                "Threshold groups (rule and group key) dropped from the in-process alert state at `max_groups`, least recently used first.",
            ),
            alert_state: crate::rules::AlertStateMetrics::new(r),
            syslog_tcp: crate::source::syslog_tcp::TcpLimitMetrics::new(r),
            auditd: auditd::metric(r),
        }
    }
}

struct Shared {
    cfg: LogPipelineConfig,
    trust: Trust,
    rules: RwLock<Arc<RuleSet>>,
    health: Mutex<Health>,
    /// Why the journald source is not reading, if it is not.
    journald_status: SourceStatus,
    metrics: PipelineMetrics,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn set_health(&self, h: Health) {
        *lock(&self.health) = h;
    }

    /// Loads `rules_dir`; all or nothing.
    fn load_rules(&self) -> Result<Arc<RuleSet>, PipelineError> {
        let dir = &self.cfg.rules_dir;
        if !dir.is_dir() {
            return Err(PipelineError::RulesDir { path: dir.clone() });
        }
        let rejected = |errors| PipelineError::Rules {
            dir: dir.clone(),
            errors,
        };
        let loaded = load_dir(dir);
        if !loaded.errors.is_empty() {
            return Err(rejected(loaded.errors));
        }
        // Rules of another sshd mode are compiled (so their errors show) but not evaluated.
        let mode = self.cfg.sshd_mode;
        let rules = loaded.rules.into_iter().map(|mut r| {
            if !mode.admits(&r) {
                r.status = RuleStatus::Disabled;
            }
            r
        });
        RuleSet::compile(rules).map(Arc::new).map_err(rejected)
    }
}

/// Control of a running pipeline (reload).
#[derive(Clone)]
pub struct PipelineHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PipelineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineHandle").finish_non_exhaustive()
    }
}

impl PipelineHandle {
    /// Re-reads the rules; on any error the running rules stay. Returns the number of rules.
    pub fn reload_rules(&self) -> Result<usize, PipelineError> {
        match self.shared.load_rules() {
            Ok(set) => {
                let n = set.len();
                *self.shared.rules.write().unwrap_or_else(|p| p.into_inner()) = set;
                self.shared
                    .metrics
                    .rules
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
                self.shared
                    .metrics
                    .rule_reloads
                    .with_label_values(&["ok"])
                    .inc();
                info!(rules = n, "log rules reloaded");
                Ok(n)
            }
            Err(e) => {
                self.shared
                    .metrics
                    .rule_reloads
                    .with_label_values(&["error"])
                    .inc();
                warn!(error = %error_chain(&e), "log rules not reloaded; the running rules stay");
                Err(e)
            }
        }
    }
}

/// The module.
pub struct LogPipeline {
    shared: Arc<Shared>,
    data_dir: PathBuf,
    source_metrics: SourceMetrics,
    journald_metrics: JournaldMetrics,
    journal_cursor: Option<CursorFile>,
    outputs: PipelineOutputs,
    stop_sources: watch::Sender<bool>,
    sources: Vec<JoinHandle<()>>,
    worker: Option<JoinHandle<Worker>>,
    checkpoints: Option<Checkpoints>,
    packets_tx: mpsc::Sender<PacketEvent>,
    packets_rx: Option<mpsc::Receiver<PacketEvent>>,
    process_tx: mpsc::Sender<ProcessRecord>,
    process_rx: Option<mpsc::Receiver<ProcessRecord>>,
}

impl std::fmt::Debug for LogPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPipeline").finish_non_exhaustive()
    }
}

impl LogPipeline {
    pub fn new(
        cfg: LogPipelineConfig,
        data_dir: PathBuf,
        registry: &prometheus::Registry,
        outputs: PipelineOutputs,
    ) -> Self {
        let (stop_sources, _) = watch::channel(false);
        let (packets_tx, packets_rx) = mpsc::channel(PACKET_CHANNEL_CAPACITY);
        let (process_tx, process_rx) = mpsc::channel(PROCESS_CHANNEL_CAPACITY);
        LogPipeline {
            shared: Arc::new(Shared {
                trust: Trust::from_config(&cfg),
                cfg,
                rules: RwLock::new(Arc::new(
                    RuleSet::compile(Vec::new()).unwrap_or_else(|_| unreachable_empty()),
                )),
                health: Mutex::new(Health::Degraded("not started".into())),
                journald_status: Arc::new(Mutex::new(None)),
                metrics: PipelineMetrics::new(registry),
            }),
            data_dir,
            source_metrics: SourceMetrics::new(registry),
            journald_metrics: JournaldMetrics::new(registry),
            journal_cursor: None,
            outputs,
            stop_sources,
            sources: Vec::new(),
            worker: None,
            checkpoints: None,
            packets_tx,
            packets_rx: Some(packets_rx),
            process_tx,
            process_rx: Some(process_rx),
        }
    }

    /// Where the daemon sends the process monitor's events as [`ProcessRecord`]s, so Sigma's
    /// `process_creation`, `file_event` and `network_connection` rules match them (see
    /// `source/process.rs`). Bounded: when full, the sender counts what it drops.
    pub fn process_input(&self) -> mpsc::Sender<ProcessRecord> {
        self.process_tx.clone()
    }

    /// Where the daemon sends the XDP engine's `PacketEvent`s, so rules can match packets like
    /// log lines (see `source/ebpf.rs`). Bounded: when full, the sender counts what it drops.
    pub fn packet_input(&self) -> mpsc::Sender<PacketEvent> {
        self.packets_tx.clone()
    }

    pub fn handle(&self) -> PipelineHandle {
        PipelineHandle {
            shared: self.shared.clone(),
        }
    }
}

/// An empty rule set always compiles; this keeps `new` infallible without a panic path.
fn unreachable_empty() -> RuleSet {
    RuleSet::compile_partial(Vec::new()).0
}

/// One parsed line as an owned `LogEvent` (evidence for a rule match).
fn to_log_event(source: String, rec: &(impl FieldSource + ?Sized), severity: Severity) -> LogEvent {
    let text = |name: &str| rec.field(name).map(|v| v.to_text().into_owned());
    let mut ev = LogEvent::new(source, rec.message());
    if let Some(ts) = rec
        .timestamp_micros()
        .and_then(chrono::DateTime::from_timestamp_micros)
    {
        ev.timestamp = ts;
    }
    ev.severity = severity;
    ev.process = text("process");
    ev.pid = text("pid").and_then(|p| p.parse().ok());
    ev.entities = Entities {
        src_ip: match rec.field("src_ip") {
            Some(FieldValue::Ip(ip)) => Some(ip),
            Some(other) => other.to_text().parse().ok(),
            None => None,
        },
        src_port: text("port").and_then(|p| p.parse().ok()),
        user: text("user"),
        hostname: text("hostname"),
        ..Entities::default()
    };
    if let Some(o) = text("outcome") {
        ev.fields.insert("outcome".into(), o);
    }
    if let Some(s) = text("sender_ip") {
        ev.fields.insert("sender_ip".into(), s);
    }
    ev.fields
        .insert("evidence".into(), rec.evidence().as_str().into());
    ev
}

struct Worker {
    shared: Arc<Shared>,
    outputs: PipelineOutputs,
    alerter: AnyAlerter,
    /// [`AnyAlerter::evictions`] already added to the metric.
    evictions_seen: u64,
    ctx: ParseContext,
    checkpoints: Option<Checkpoints>,
    journal_cursor: Option<CursorFile>,
    source_metrics: Option<SourceMetrics>,
    /// Batches of each file not yet acknowledged, in read order.
    file_marks: std::collections::HashMap<FileKey, Watermark<FilePos>>,
    journal_marks: Watermark<String>,
    /// The auditd joiner of each `auditd_paths` file being read, by path.
    auditd: std::collections::HashMap<Arc<str>, crate::parse::auditd_join::Joiner>,
    /// Parse + match threads (`match_threads`).
    matchers: matcher::MatchPool,
    /// Batches handed to the pool and not finished yet, oldest first.
    in_flight: std::collections::VecDeque<matcher::InFlight>,
}

/// The deterministic id of what rule `rule` raised on line `i` of a file batch: the file's
/// identity, where the line starts, the line itself, the rule.
fn file_record_id(
    pos: &FilePos,
    offset: u64,
    line: &[u8],
    rule: &str,
    kind: &[u8],
) -> ironpost_core::EventId {
    ironpost_core::EventId(stable_id(&[
        b"file",
        &pos.key.dev.to_le_bytes(),
        &pos.key.ino.to_le_bytes(),
        &offset.to_le_bytes(),
        line,
        rule.as_bytes(),
        kind,
    ]))
}

impl Worker {
    /// Moves every watermark forward: commits file offsets and the journal cursor whose batches
    /// were fully stored.
    fn advance(&mut self) {
        let (mut newly_stuck, mut acked) = (0, 0);
        if let Some(c) = &self.checkpoints {
            for marks in self.file_marks.values_mut() {
                let stuck = marks.is_stuck();
                if let Some(pos) = marks.advance() {
                    acked += c.commit(&pos);
                }
                newly_stuck += usize::from(marks.is_stuck() && !stuck);
            }
            self.file_marks.retain(|_, m| !m.is_empty());
        }
        if acked > 0
            && let Some(m) = &self.source_metrics
        {
            m.acked_bytes.with_label_values(&["file"]).inc_by(acked);
        }
        for _ in 0..newly_stuck {
            self.shared_ack_failed("file");
        }
        if let Some(f) = &self.journal_cursor {
            let stuck = self.journal_marks.is_stuck();
            if let Some(cursor) = self.journal_marks.advance() {
                f.commit(&cursor);
                if f.save_due().is_err() {
                    self.source_errors(crate::source::journald::NAME);
                }
            }
            if self.journal_marks.is_stuck() && !stuck {
                self.shared_ack_failed(crate::source::journald::NAME);
            }
        }
    }

    fn shared_ack_failed(&self, source: &'static str) {
        if let Some(m) = &self.source_metrics {
            m.ack_failed.with_label_values(&[source]).inc();
        }
        warn!(
            source,
            "a batch's alerts or evidence were not stored: its position is not committed and it is read again after a restart"
        );
    }

    /// Takes a batch in: an auditd file's is processed at once; any other is handed to the
    /// match pool and queued, and the oldest queued batches are finished while more than
    /// [`matcher::MAX_IN_FLIGHT`] are (so the pool scans the next batch while this thread raises
    /// the alerts of the previous one).
    async fn submit(&mut self, batch: Batch, ack: Ack, pos: Option<FilePos>) {
        if batch.source == "file"
            && crate::trust::path_matches(&self.shared.cfg.auditd_paths, &batch.origin)
        {
            return self.process_auditd(&batch, &ack, pos.as_ref()).await;
        }
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let batch = Arc::new(batch);
        let ctx = self.ctx.clone().with_received_micros(batch.received_micros);
        let journal = batch.source == crate::source::journald::NAME;
        // A file's trust is the same for all its lines: decided once per batch.
        let file_trusted = batch.source == "file" && self.shared.trust.file_trusted(&batch.origin);
        let scans =
            self.matchers
                .dispatch(&self.shared, &rules, &batch, &ctx, journal, file_trusted);
        self.in_flight.push_back(matcher::InFlight {
            batch,
            ack,
            pos,
            rules,
            ctx,
            journal,
            file_trusted,
            scans,
        });
        while self.in_flight.len() > matcher::MAX_IN_FLIGHT {
            self.finish_oldest().await;
        }
    }

    /// Finishes the oldest batch in flight, if any.
    async fn finish_oldest(&mut self) {
        if let Some(f) = self.in_flight.pop_front() {
            self.finish(f).await;
        }
    }

    /// Raises a batch's alerts from its scanned chunks: thresholds and alerts in line order,
    /// each matching line parsed again (`pipeline/matcher.rs`).
    async fn finish(&mut self, f: matcher::InFlight) {
        let matcher::InFlight {
            batch,
            ack,
            pos,
            rules,
            ctx,
            journal,
            file_trusted,
            scans,
        } = f;
        let done = matcher::collect(scans).await;
        let shared = self.shared.clone();
        let batch = &batch;
        let (ack, pos) = (&ack, pos.as_ref());
        let read = Reader {
            batch,
            ctx,
            trust: &shared.trust,
            journal,
            file_trusted,
        };
        let mut out = Raised {
            batch,
            ack,
            pos,
            journal,
            alerts: Vec::new(),
            evidence: Vec::new(),
        };
        // A chunk no pool thread scanned (no pool; a thread gone) is scanned here.
        let chunks: Vec<matcher::Chunk> = done
            .into_iter()
            .map(|(range, c)| c.unwrap_or_else(|| matcher::scan(&read, &rules, range)))
            .collect();
        let tally = matcher::total(&chunks);
        // Matches waiting for the shared state's verdict: (line index, line, match).
        let mut staged = Vec::new();
        for hits in chunks.iter().map(|c| c.hits.as_slice()) {
            for same_line in hits.chunk_by(|a, b| a.0 == b.0) {
                let i = same_line[0].0 as usize;
                let Some(line) = batch.line(i) else { continue };
                {
                    let (rec, _, _) = read.record(i, line);
                    for &(_, r) in same_line {
                        let Some(rule) = rules.rules().get(r as usize) else {
                            continue;
                        };
                        match self.alerter.observe_or_stage(rule, &rec) {
                            Observed::Decided(Some(alert)) => out.raise(i, line, &rec, rule, alert),
                            Observed::Decided(None) => {}
                            Observed::Staged(s) => staged.push((i, line, s)),
                        }
                    }
                }
                if staged.len() >= alerter::MAX_STAGED {
                    let verdicts = self.decide_staged(&staged).await;
                    self.raise_staged(&read, &mut staged, verdicts, &mut out);
                }
            }
        }
        let verdicts = self.decide_staged(&staged).await;
        self.raise_staged(&read, &mut staged, verdicts, &mut out);
        let Raised {
            alerts, evidence, ..
        } = out;
        let metrics = &shared.metrics;
        for (n, class) in tally
            .classes
            .into_iter()
            .zip(["verified", "spoofable", "forgeable"])
        {
            if n > 0 {
                metrics.evidence.with_label_values(&[class]).inc_by(n);
            }
        }
        if tally.malformed > 0 {
            metrics.journal_malformed.inc_by(tally.malformed);
        }
        if tally.truncated > 0 {
            // The message, not the line, was cut: counted with the source's other truncations.
            self.source_truncated(batch.source, tally.truncated);
        }
        for (n, format) in tally.formats.into_iter().zip(matcher::FORMAT_NAMES) {
            if n > 0 {
                metrics.parsed.with_label_values(&[format]).inc_by(n);
            }
        }
        metrics.matches.inc_by(tally.matches);
        for ev in evidence {
            // Evidence of an acknowledged batch (file, journal) is part of what must be stored
            // before its position is committed: it waits for room like an alert. Other evidence
            // is not waited for (counted when the queue is full).
            let sent = if ev.ack.is_none() {
                self.outputs.logs.try_send(ev).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => {
                        ev
                    }
                })
            } else {
                self.outputs.logs.send(ev).await.map_err(|e| e.0)
            };
            if let Err(ev) = sent {
                ev.ack.fail();
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

    /// The verdicts on the staged matches (one round trip to the shared state), in order.
    async fn decide_staged(&mut self, staged: &[(usize, &[u8], Staged<'_>)]) -> Vec<Option<u32>> {
        if staged.is_empty() {
            return Vec::new();
        }
        let matches: Vec<Staged<'_>> = staged.iter().map(|(_, _, s)| s.clone()).collect();
        self.alerter.decide_staged(&matches).await
    }

    /// Raises the alerts `verdicts` found due among `staged` (emptied), each from its line parsed
    /// again.
    fn raise_staged(
        &mut self,
        read: &Reader<'_>,
        staged: &mut Vec<(usize, &[u8], Staged<'_>)>,
        verdicts: Vec<Option<u32>>,
        out: &mut Raised<'_>,
    ) {
        for ((i, line, s), count) in staged.drain(..).zip(verdicts) {
            if let Some(count) = count {
                let (rec, _, _) = read.record(i, line);
                let alert = self.alerter.staged_alert(&s, &rec, count);
                out.raise(i, line, &rec, s.rule, alert);
            }
        }
    }

    fn source_truncated(&self, source: &'static str, n: u64) {
        if let Some(m) = &self.source_metrics {
            m.truncated.with_label_values(&[source]).inc_by(n);
        }
    }

    fn source_errors(&self, source: &'static str) {
        if let Some(m) = &self.source_metrics {
            m.errors.with_label_values(&[source]).inc();
        }
    }

    /// One packet event through the rules.
    async fn process_packet(&mut self, ev: PacketEvent) {
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let rec = PacketRecord::new(ev);
        self.shared
            .metrics
            .parsed
            .with_label_values(&["ebpf"])
            .inc();
        self.shared
            .metrics
            .evidence
            .with_label_values(&[rec.evidence().as_str()])
            .inc();
        let mut matched = Vec::new();
        rules.matches(&rec, &mut matched);
        self.shared.metrics.matches.inc_by(matched.len() as u64);
        for rule in &matched {
            if let Some(alert) = self.alerter.observe(rule, &rec).await {
                let mut ev = to_log_event("ebpf".into(), &rec, rule.severity);
                ev.trace_id = alert.trace_id;
                if self.outputs.logs.try_send(ev).is_err() {
                    self.shared.metrics.evidence_dropped.inc();
                }
                let _ = self.outputs.alerts.send(alert).await;
            }
        }
        self.report_evictions();
    }

    fn report_evictions(&mut self) {
        let now = self.alerter.evictions();
        if now > self.evictions_seen {
            self.shared
                .metrics
                .alert_evictions
                .inc_by(now - self.evictions_seen);
            self.evictions_seen = now;
        }
    }

    /// Returns itself once its log sources ended, so that `stop` can still collect what the store
    /// acknowledges while it drains.
    async fn run(
        mut self,
        mut lines: mpsc::Receiver<Batch>,
        mut files: mpsc::Receiver<(Batch, FilePos)>,
        mut journal: mpsc::Receiver<(Batch, Option<String>)>,
        mut packets: mpsc::Receiver<PacketEvent>,
        mut processes: mpsc::Receiver<ProcessRecord>,
    ) -> Self {
        let mut tick = tokio::time::interval(ACK_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut lines_open, mut files_open, mut packets_open) = (true, true, true);
        let mut journal_open = true;
        let mut processes_open = true;
        // Packets keep coming while the daemon runs; the worker ends with its log sources.
        while lines_open || files_open || journal_open {
            tokio::select! {
                p = packets.recv(), if packets_open => match p {
                    Some(p) => self.process_packet(p).await,
                    None => packets_open = false,
                },
                r = processes.recv(), if processes_open => match r {
                    Some(r) => self.process_process(r).await,
                    None => processes_open = false,
                },
                b = lines.recv(), if lines_open => match b {
                    Some(b) => self.submit(b, Ack::none(), None).await,
                    None => lines_open = false,
                },
                f = files.recv(), if files_open => match f {
                    Some((b, pos)) => {
                        let ack = self.file_marks.entry(pos.key).or_default().track(pos.clone());
                        self.submit(b, ack, Some(pos)).await;
                    }
                    None => files_open = false,
                },
                j = journal.recv(), if journal_open => match j {
                    Some((b, cursor)) => {
                        let ack = match cursor {
                            Some(c) => self.journal_marks.track(c),
                            None => Ack::none(),
                        };
                        self.submit(b, ack, None).await;
                    }
                    None => journal_open = false,
                },
                // Nothing queued by a log source: finish what the pool has scanned.
                () = std::future::ready(()),
                    if !self.in_flight.is_empty()
                        && lines.is_empty()
                        && files.is_empty()
                        && journal.is_empty() =>
                {
                    self.finish_oldest().await;
                }
                _ = tick.tick() => {}
            }
            self.advance();
        }
        while !self.in_flight.is_empty() {
            self.finish_oldest().await;
        }
        self.advance();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_their_senders() {
        let mut b = Batch::new("syslog_udp", Arc::from("udp"));
        b.push_from(b"a", "198.18.40.1".parse().unwrap());
        b.push_from(b"b", "::ffff:198.18.40.2".parse().unwrap());
        assert_eq!(b.sender(0), Some("198.18.40.1".parse().unwrap()));
        assert_eq!(b.sender(1), Some("198.18.40.2".parse().unwrap()));
        let mut t = Batch::new("syslog_tcp", Arc::from("tcp"));
        t.set_sender("198.18.40.3".parse().unwrap());
        t.push(b"x");
        t.push(b"y");
        assert_eq!(t.sender(1), Some("198.18.40.3".parse().unwrap()));
        assert_eq!(Batch::new("file", Arc::from("f")).sender(0), None);
    }
}
