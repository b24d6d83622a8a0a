//! The `log_pipeline` module: sources → parse → rules → thresholds → alerts.
//!
//! Sources (`syslog_udp`, `syslog_tcp`, `file`) send batches on bounded channels; one worker
//! parses every line, asks the [`RuleSet`] for the rules it matches (one Aho-Corasick pass picks
//! the candidates), feeds matches to the [`Alerter`] (windows, dedup, rate limit) and sends the
//! resulting `AlertEvent`s — and the line that raised each, as `LogEvent` evidence — to the daemon. File
//! positions are acknowledged only after their batch is processed.
//!
//! Rules reload whole ([`PipelineHandle::reload_rules`]): a directory with any broken rule keeps
//! the running rules and reports every error; in-flight lines finish on the rules they started
//! with. Stop order: sources first, then the worker drains what they queued, then checkpoints are
//! written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{
    AlertEvent, BoxFuture, Entities, Health, LogEvent, Module, ModuleError, PacketEvent, Severity,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::LogPipelineConfig;
use crate::fields::{FieldSource, FieldValue};
use crate::parse::{Format, ParseContext, parse};
use crate::rules::{
    Alerter, MemoryAlertState, RedisAlertState, Rule, RuleSet, SystemClock, load_dir,
};
use crate::source::ebpf::PacketRecord;
use crate::source::file::{Checkpoints, FilePos, FileSource};
use crate::source::syslog_tcp::{SyslogTcp, load_tls};
use crate::source::syslog_udp::SyslogUdp;
use crate::source::{Batch, SourceMetrics};

/// Batches queued between the sources and the worker (each holds up to a few thousand lines).
pub const BATCH_CHANNEL_CAPACITY: usize = 32;
/// Packet events queued for the worker.
pub const PACKET_CHANNEL_CAPACITY: usize = 4096;

/// Where the pipeline sends what it produces.
#[derive(Debug, Clone)]
pub struct PipelineOutputs {
    pub alerts: mpsc::Sender<AlertEvent>,
    /// The line that raised each alert, kept as its evidence (`log_entries`, same trace id).
    /// Full: counted, not waited for.
    pub logs: mpsc::Sender<LogEvent>,
}

struct PipelineMetrics {
    parsed: prometheus::IntCounterVec,
    matches: prometheus::IntCounter,
    evidence_dropped: prometheus::IntCounter,
    rules: prometheus::IntGauge,
    rule_reloads: prometheus::IntCounterVec,
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
        }
    }
}

struct Shared {
    cfg: LogPipelineConfig,
    rules: RwLock<Arc<RuleSet>>,
    health: Mutex<Health>,
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
    fn load_rules(&self) -> Result<Arc<RuleSet>, String> {
        let dir = &self.cfg.rules_dir;
        if !dir.is_dir() {
            return Err(format!("rules_dir {} is not a directory", dir.display()));
        }
        let loaded = load_dir(dir);
        if !loaded.errors.is_empty() {
            let list: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
            return Err(format!("{} rule error(s): {}", list.len(), list.join("; ")));
        }
        RuleSet::compile(loaded.rules)
            .map(Arc::new)
            .map_err(|errs| {
                let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
                format!("{} rule error(s): {}", list.len(), list.join("; "))
            })
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
    pub fn reload_rules(&self) -> Result<usize, String> {
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
                warn!(error = %e, "log rules not reloaded; the running rules stay");
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
    outputs: PipelineOutputs,
    stop_sources: watch::Sender<bool>,
    sources: Vec<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
    packets_tx: mpsc::Sender<PacketEvent>,
    packets_rx: Option<mpsc::Receiver<PacketEvent>>,
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
        LogPipeline {
            shared: Arc::new(Shared {
                cfg,
                rules: RwLock::new(Arc::new(
                    RuleSet::compile(Vec::new()).unwrap_or_else(|_| unreachable_empty()),
                )),
                health: Mutex::new(Health::Degraded("not started".into())),
                metrics: PipelineMetrics::new(registry),
            }),
            data_dir,
            source_metrics: SourceMetrics::new(registry),
            outputs,
            stop_sources,
            sources: Vec::new(),
            worker: None,
            packets_tx,
            packets_rx: Some(packets_rx),
        }
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
    ev
}

/// Threshold and dedup state: in memory, or shared through Redis (`storage.redis_url`) so that
/// several pipelines raise one alert, not one each.
// One per pipeline, never in a collection: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum AnyAlerter {
    Memory(Alerter<MemoryAlertState>),
    Redis(Alerter<RedisAlertState>),
}

impl AnyAlerter {
    fn observe(&mut self, rule: &Rule, rec: &(impl FieldSource + ?Sized)) -> Option<AlertEvent> {
        match self {
            AnyAlerter::Memory(a) => a.observe(rule, rec),
            AnyAlerter::Redis(a) => a.observe(rule, rec),
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    outputs: PipelineOutputs,
    alerter: AnyAlerter,
    ctx: ParseContext,
    checkpoints: Option<Checkpoints>,
}

impl Worker {
    async fn process(&mut self, batch: &Batch) {
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ctx = self.ctx.clone().with_received_micros(batch.received_micros);
        let metrics = &self.shared.metrics;
        let mut matched = Vec::new();
        let mut alerts = Vec::new();
        let mut evidence = Vec::new();
        let mut counts = [0u64; 4];
        let mut match_count = 0u64;
        for line in batch.lines() {
            let rec = parse(line, &ctx);
            counts[match rec.format {
                Format::Rfc5424 => 0,
                Format::Rfc3164 => 1,
                Format::Json => 2,
                Format::Raw => 3,
            }] += 1;
            matched.clear();
            rules.matches(&rec, &mut matched);
            match_count += matched.len() as u64;
            for rule in &matched {
                if let Some(alert) = self.alerter.observe(rule, &rec) {
                    // The line that raised the alert is kept as its evidence (same trace id).
                    let mut ev = to_log_event(
                        format!("{}:{}", batch.source, batch.origin),
                        &rec,
                        rule.severity,
                    );
                    ev.trace_id = alert.trace_id;
                    evidence.push(ev);
                    alerts.push(alert);
                }
            }
        }
        for (i, format) in ["rfc5424", "rfc3164", "json", "raw"]
            .into_iter()
            .enumerate()
        {
            if counts[i] > 0 {
                metrics
                    .parsed
                    .with_label_values(&[format])
                    .inc_by(counts[i]);
            }
        }
        metrics.matches.inc_by(match_count);
        for ev in evidence {
            if self.outputs.logs.try_send(ev).is_err() {
                metrics.evidence_dropped.inc();
            }
        }
        for alert in alerts {
            let _ = self.outputs.alerts.send(alert).await;
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
        let mut matched = Vec::new();
        rules.matches(&rec, &mut matched);
        self.shared.metrics.matches.inc_by(matched.len() as u64);
        for rule in &matched {
            if let Some(alert) = self.alerter.observe(rule, &rec) {
                let mut ev = to_log_event("ebpf".into(), &rec, rule.severity);
                ev.trace_id = alert.trace_id;
                if self.outputs.logs.try_send(ev).is_err() {
                    self.shared.metrics.evidence_dropped.inc();
                }
                let _ = self.outputs.alerts.send(alert).await;
            }
        }
    }

    async fn run(
        mut self,
        mut lines: mpsc::Receiver<Batch>,
        mut files: mpsc::Receiver<(Batch, FilePos)>,
        mut packets: mpsc::Receiver<PacketEvent>,
    ) {
        let (mut lines_open, mut files_open, mut packets_open) = (true, true, true);
        // Packets keep coming while the daemon runs; the worker ends with its log sources.
        while lines_open || files_open {
            tokio::select! {
                p = packets.recv(), if packets_open => match p {
                    Some(p) => self.process_packet(p).await,
                    None => packets_open = false,
                },
                b = lines.recv(), if lines_open => match b {
                    Some(b) => self.process(&b).await,
                    None => lines_open = false,
                },
                f = files.recv(), if files_open => match f {
                    Some((b, pos)) => {
                        self.process(&b).await;
                        if let Some(c) = &self.checkpoints {
                            c.commit(&pos);
                        }
                    }
                    None => files_open = false,
                },
            }
        }
    }
}

impl Module for LogPipeline {
    fn name(&self) -> &'static str {
        "log_pipeline"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let cfg = self.shared.cfg.clone();
            let mut problems = Vec::new();
            match self.shared.load_rules() {
                Ok(set) => {
                    self.shared
                        .metrics
                        .rules
                        .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
                    info!(rules = set.len(), dir = %cfg.rules_dir.display(), "log rules loaded");
                    *self.shared.rules.write().unwrap_or_else(|p| p.into_inner()) = set;
                }
                Err(e) => {
                    warn!(error = %e, "no log rules loaded");
                    problems.push(e);
                }
            }
            let (line_tx, line_rx) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
            let (file_tx, file_rx) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
            let m = &self.source_metrics;
            if cfg.sources.iter().any(|s| s.udp()) {
                let rcvbuf = (cfg.syslog_udp_rcvbuf > 0).then_some(cfg.syslog_udp_rcvbuf);
                match SyslogUdp::bind(cfg.syslog_bind, rcvbuf) {
                    Ok(s) => {
                        info!(addr = %s.local_addr(), "syslog_udp listening");
                        self.sources.push(tokio::spawn(s.run(
                            line_tx.clone(),
                            m.clone(),
                            self.stop_sources.subscribe(),
                        )));
                    }
                    Err(e) => {
                        problems.push(format!("syslog_udp cannot bind {}: {e}", cfg.syslog_bind))
                    }
                }
            }
            // With TLS configured but unloadable, the TCP listener stays down: no plaintext fallback.
            let tls = match (&cfg.syslog_tls_cert, &cfg.syslog_tls_key) {
                (Some(cert), Some(key)) => match load_tls(cert, key) {
                    Ok(c) => Ok(Some(c)),
                    Err(e) => Err(format!("syslog_tcp TLS: {e}")),
                },
                _ => Ok(None),
            };
            if cfg.sources.iter().any(|s| s.tcp()) {
                let bound = match tls {
                    Ok(tls) => SyslogTcp::bind_tls(
                        cfg.syslog_bind,
                        cfg.syslog_tcp_max_connections,
                        cfg.syslog_tcp_idle_timeout,
                        tls,
                    )
                    .await
                    .map_err(|e| format!("syslog_tcp cannot bind {}: {e}", cfg.syslog_bind)),
                    Err(e) => Err(e),
                };
                match bound {
                    Ok(s) => {
                        if let Ok(a) = s.local_addr() {
                            let tls = cfg.syslog_tls_cert.is_some();
                            info!(addr = %a, tls, "syslog_tcp listening");
                        }
                        self.sources.push(tokio::spawn(s.run(
                            line_tx.clone(),
                            m.clone(),
                            self.stop_sources.subscribe(),
                        )));
                    }
                    Err(e) => problems.push(e),
                }
            }
            let mut checkpoints = None;
            if cfg.sources.contains(&crate::config::SourceKind::File) {
                let c = Checkpoints::load(self.data_dir.join("log_pipeline/checkpoints.json"));
                let src = FileSource::new(
                    cfg.watch_paths.clone(),
                    cfg.file_start_at,
                    cfg.file_poll,
                    c.clone(),
                );
                self.sources.push(tokio::spawn(src.run(
                    file_tx.clone(),
                    m.clone(),
                    self.stop_sources.subscribe(),
                )));
                checkpoints = Some(c);
            }
            drop((line_tx, file_tx));
            let alerter = match &cfg.storage.redis_url {
                Some(url) => match RedisAlertState::connect(url, RedisAlertState::DEFAULT_PREFIX) {
                    Ok(state) => {
                        info!("alert state shared through Redis");
                        AnyAlerter::Redis(Alerter::new(
                            cfg.alerting.clone(),
                            state,
                            Arc::new(SystemClock),
                        ))
                    }
                    Err(e) => {
                        problems.push(format!("alert state kept in memory: {e}"));
                        AnyAlerter::Memory(Alerter::in_memory(
                            cfg.alerting.clone(),
                            Arc::new(SystemClock),
                        ))
                    }
                },
                None => AnyAlerter::Memory(Alerter::in_memory(
                    cfg.alerting.clone(),
                    Arc::new(SystemClock),
                )),
            };
            let worker = Worker {
                shared: self.shared.clone(),
                outputs: self.outputs.clone(),
                alerter,
                ctx: ParseContext::now_local(),
                checkpoints,
            };
            let packets = self.packets_rx.take().unwrap_or_else(|| mpsc::channel(1).1);
            self.worker = Some(tokio::spawn(worker.run(line_rx, file_rx, packets)));
            self.shared.set_health(if problems.is_empty() {
                Health::Healthy
            } else {
                Health::Degraded(problems.join("; "))
            });
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop_sources.send(true);
            for s in self.sources.drain(..) {
                let _ = s.await;
            }
            // The sources dropped their senders: the worker drains what is queued, then ends.
            if let Some(w) = self.worker.take() {
                let _ = w.await;
            }
            self.shared.set_health(Health::Degraded("stopped".into()));
            Ok(())
        })
    }

    fn health(&self) -> Health {
        lock(&self.shared.health).clone()
    }
}
