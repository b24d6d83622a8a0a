//! The `ids` module the daemon runs: flow events in (from the daemon's packet router and, with NATS, from the
//! durable consumer), windows built and scored every `tick_ms`, and each source at or above the threshold
//! raised once per cooldown as an `AlertEvent` (to the daemon), an Alertmanager alert and a syslog message.
//!
//! Alerts carry `Evidence::Spoofable`: the flow events are TCP SYNs without ACK (connection
//! attempts, not completed handshakes), whose source address a sender can forge.
//!
//! Tasks: without `[ids.nats] url` the scorer reads the ingress channel directly. With it, a publisher moves the
//! ingress channel to JetStream (the channel is the bounded buffer through outages) and a consumer feeds the
//! scorer from the durable consumer. Stop: publisher and consumer stop, the scorer scores what it holds once
//! more, then the sinks flush their queues.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ironpost_core::ack::{Ack, stable_id};
use ironpost_core::metrics::prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, Registry,
};
use ironpost_core::metrics::{self};
use ironpost_core::{
    AlertEvent, AlertSource, BoxFuture, EventId, Evidence, Health, Module, ModuleError, Severity,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::alertmanager::{self, AlertmanagerSink, AmAlert, HttpTarget};
use crate::config::IdsConfig;
use crate::features::{ExtractorConfig, Features, FlowEvent, WindowExtractor};
use crate::nats::{self, ConsumeMetrics, ConsumerStatus, PublishMetrics};
use crate::scorer::Scorer;
use crate::syslog::{self, SyslogSink};

const NAME: &str = "ids";
/// Rule id of the alerts this module raises.
pub const RULE_ID: &str = "anomaly_score_high";
/// Capacity of the channel from the NATS consumer to the scorer.
const SCORER_CHANNEL_CAPACITY: usize = 8192;

/// Metrics of the module (seed 004's names under the `ironpost_` prefix, plus `ids_*`).
#[derive(Debug, Clone)]
struct IdsMetrics {
    fe_events_in: IntCounter,
    fe_window_build_ms: Histogram,
    infer_latency_ms: Histogram,
    sources: IntGauge,
    alerts: IntCounter,
    dropped: IntCounterVec,
    alertmanager: IntCounterVec,
    syslog: IntCounterVec,
    published: IntCounter,
    publish_retried: IntCounter,
    received: IntCounter,
    invalid: IntCounter,
    acked: IntCounter,
    nacked: IntCounter,
    redelivered: IntCounter,
}

impl IdsMetrics {
    fn new(r: &Registry) -> Self {
        let ms_buckets = vec![
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 100.0,
        ];
        IdsMetrics {
            fe_events_in: metrics::int_counter(
                r,
                "fe_events_in",
                "Flow events taken into the feature windows.",
            ),
            fe_window_build_ms: metrics::histogram(
                r,
                "fe_window_build_ms",
                "Milliseconds to build every source's window features, per tick.",
                ms_buckets.clone(),
            ),
            infer_latency_ms: metrics::histogram(
                r,
                "infer_latency_ms",
                "Milliseconds to score one source's features.",
                ms_buckets,
            ),
            sources: metrics::int_gauge(r, "ids_sources", "Sources with attempts in the window."),
            alerts: metrics::int_counter(
                r,
                "ids_alerts_total",
                "Sources whose score reached the threshold (one per cooldown).",
            ),
            dropped: metrics::int_counter_vec(
                r,
                "ids_events_dropped_total",
                "Flow events or alerts dropped, by reason.",
                &["reason"],
            ),
            alertmanager: metrics::int_counter_vec(
                r,
                "ids_alertmanager_alerts_total",
                "Alerts posted to Alertmanager, by outcome.",
                &["outcome"],
            ),
            syslog: metrics::int_counter_vec(
                r,
                "ids_syslog_alerts_total",
                "Alerts forwarded to the syslog collector, by outcome.",
                &["outcome"],
            ),
            published: metrics::int_counter(
                r,
                "ids_nats_published_total",
                "Flow events acknowledged by JetStream.",
            ),
            publish_retried: metrics::int_counter(
                r,
                "ids_nats_publish_retries_total",
                "Publishes retried (no ack, or NATS down).",
            ),
            received: metrics::int_counter(
                r,
                "ids_nats_received_total",
                "Messages read from the durable consumer.",
            ),
            invalid: metrics::int_counter(
                r,
                "ids_nats_invalid_total",
                "Messages that were not a flow event (skipped).",
            ),
            acked: metrics::int_counter(
                r,
                "ids_nats_acked_total",
                "Messages acknowledged to JetStream: out of the window, and their alerts stored.",
            ),
            nacked: metrics::int_counter(
                r,
                "ids_nats_nacked_total",
                "Messages handed back for redelivery because an alert derived from them was lost.",
            ),
            redelivered: metrics::int_counter(
                r,
                "ids_nats_redelivered_pending_total",
                "Redeliveries of messages still held (not yet acknowledged): skipped.",
            ),
        }
    }
}

/// Where flow events enter the IDS; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct FlowInput {
    tx: mpsc::Sender<FlowEvent>,
    dropped: IntCounter,
}

impl FlowInput {
    /// Queues an event; false (and counted in `ids_events_dropped_total{reason="buffer_full"}`) when the
    /// buffer is full.
    pub fn submit(&self, event: FlowEvent) -> bool {
        let ok = self.tx.try_send(event).is_ok();
        if !ok {
            self.dropped.inc();
        }
        ok
    }
}

/// Changes the running module's reloadable settings (`ids.threshold`).
#[derive(Debug, Clone)]
pub struct IdsHandle {
    threshold: Arc<AtomicU32>,
}

impl IdsHandle {
    /// Takes effect at the next tick. The value was validated with the config.
    pub fn set_threshold(&self, threshold: f32) {
        self.threshold.store(threshold.to_bits(), Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Status {
    model: Option<String>,
    running: bool,
}

/// The IDS runtime.
#[derive(Debug)]
pub struct IdsModule {
    cfg: IdsConfig,
    metrics: IdsMetrics,
    alerts: mpsc::Sender<AlertEvent>,
    ingress_tx: mpsc::Sender<FlowEvent>,
    ingress_rx: Option<mpsc::Receiver<FlowEvent>>,
    status: Arc<Mutex<Status>>,
    nats_status: ConsumerStatus,
    nats: Option<async_nats::Client>,
    stop_tx: watch::Sender<bool>,
    /// Transport tasks (stopped first) and the scorer (stopped after them).
    transport: Vec<JoinHandle<()>>,
    scorer: Option<JoinHandle<()>>,
    /// Alertmanager and syslog senders: they end once the scorer (their last sender) has, after
    /// sending what is queued.
    sink_tasks: Vec<JoinHandle<()>>,
    /// `threshold` as f32 bits, shared with the scorer and the handle.
    threshold: Arc<AtomicU32>,
}

impl IdsModule {
    pub fn new(cfg: IdsConfig, registry: &Registry, alerts: mpsc::Sender<AlertEvent>) -> Self {
        let (ingress_tx, ingress_rx) = mpsc::channel(cfg.publish_buffer.max(1));
        IdsModule {
            metrics: IdsMetrics::new(registry),
            alerts,
            ingress_tx,
            ingress_rx: Some(ingress_rx),
            status: Arc::default(),
            nats_status: Arc::default(),
            nats: None,
            stop_tx: watch::channel(false).0,
            transport: Vec::new(),
            scorer: None,
            sink_tasks: Vec::new(),
            threshold: Arc::new(AtomicU32::new(cfg.threshold.to_bits())),
            cfg,
        }
    }

    pub fn handle(&self) -> IdsHandle {
        IdsHandle {
            threshold: self.threshold.clone(),
        }
    }

    /// The input the daemon's packet router (and tests) submit flow events to.
    pub fn flow_input(&self) -> FlowInput {
        FlowInput {
            tx: self.ingress_tx.clone(),
            dropped: self.metrics.dropped.with_label_values(&["buffer_full"]),
        }
    }

    fn load_scorer(&self) -> Scorer {
        if self.cfg.model_path.as_os_str().is_empty() {
            info!("ids: no model_path; scoring with the seed formula");
            return Scorer::Formula;
        }
        let model = self.cfg.model_file();
        match Scorer::load(&model) {
            Ok(s) => {
                info!(model = %model.display(), "ids: model loaded");
                s
            }
            Err(e) => {
                let reason = format!("{e:#} (ids.model_path); scoring with the seed formula");
                warn!(error = %reason, "ids: model not loaded");
                if let Ok(mut s) = self.status.lock() {
                    s.model = Some(reason);
                }
                Scorer::Formula
            }
        }
    }

    async fn start_inner(&mut self) -> Result<(), crate::error::IdsError> {
        let Some(ingress_rx) = self.ingress_rx.take() else {
            return Ok(());
        };
        let scorer = self.load_scorer();
        let stop = self.stop_tx.subscribe();
        let scorer_rx = match &self.cfg.nats.url {
            None => Input::Local(ingress_rx),
            Some(url) => {
                let client = nats::connect_with(url, "ironpost-ids", &self.cfg.nats).await?;
                // Before the consumer task exists: it clears this once subscribed.
                if let Ok(mut s) = self.nats_status.lock() {
                    *s = Some("connecting to NATS".into());
                }
                let (tx, rx) = mpsc::channel(SCORER_CHANNEL_CAPACITY);
                self.transport.push(tokio::spawn(nats::publish_loop(
                    client.clone(),
                    self.cfg.stream.clone(),
                    self.cfg.subject.clone(),
                    ingress_rx,
                    PublishMetrics {
                        published: self.metrics.published.clone(),
                        retried: self.metrics.publish_retried.clone(),
                    },
                    stop.clone(),
                )));
                self.transport.push(tokio::spawn(nats::consume_loop(
                    client.clone(),
                    self.cfg.stream.clone(),
                    self.cfg.subject.clone(),
                    self.cfg.durable.clone(),
                    tx,
                    ConsumeMetrics {
                        received: self.metrics.received.clone(),
                        invalid: self.metrics.invalid.clone(),
                        acked: self.metrics.acked.clone(),
                        nacked: self.metrics.nacked.clone(),
                        redelivered: self.metrics.redelivered.clone(),
                    },
                    self.nats_status.clone(),
                    stop.clone(),
                )));
                self.nats = Some(client);
                Input::Nats(rx)
            }
        };
        let alertmanager = self.cfg.alertmanager_url.as_deref().and_then(|url| {
            let target = HttpTarget::parse(url, "/api/v2/alerts").ok()?;
            let (sink, task) = alertmanager::spawn(target, self.metrics.alertmanager.clone());
            self.sink_tasks.push(task);
            Some(sink)
        });
        let syslog = self.cfg.syslog_forward.map(|addr| {
            let (sink, task) =
                syslog::spawn(addr, self.cfg.syslog_framing, self.metrics.syslog.clone());
            self.sink_tasks.push(task);
            sink
        });
        let sinks = Sinks {
            alerts: self.alerts.clone(),
            alertmanager,
            syslog,
        };
        let runner = Runner {
            cfg: self.cfg.clone(),
            metrics: self.metrics.clone(),
            scorer,
            sinks,
            threshold: self.threshold.clone(),
            last_alert: HashMap::new(),
        };
        self.scorer = Some(tokio::spawn(runner.run(scorer_rx, stop)));
        if let Ok(mut s) = self.status.lock() {
            s.running = true;
        }
        info!(
            nats = self.cfg.nats.url.is_some(),
            threshold = self.cfg.threshold,
            "ids running"
        );
        Ok(())
    }
}

/// Flow events into the scorer: in process, or from the NATS consumer with each message's token.
enum Input {
    Local(mpsc::Receiver<FlowEvent>),
    Nats(mpsc::Receiver<(FlowEvent, Ack)>),
}

/// One flow event taken from an [`Input`].
enum Flow {
    Local(FlowEvent),
    Nats(FlowEvent, Ack),
}

impl Flow {
    fn push_into(self, extractor: &mut WindowExtractor) {
        match self {
            Flow::Local(ev) => extractor.push(ev),
            Flow::Nats(ev, ack) => extractor.push_at(ev, ack, now_secs()),
        }
    }
}

impl Input {
    async fn recv(&mut self) -> Option<Flow> {
        match self {
            Input::Local(rx) => rx.recv().await.map(Flow::Local),
            Input::Nats(rx) => rx.recv().await.map(|(ev, ack)| Flow::Nats(ev, ack)),
        }
    }

    fn try_recv(&mut self) -> Option<Flow> {
        match self {
            Input::Local(rx) => rx.try_recv().ok().map(Flow::Local),
            Input::Nats(rx) => rx.try_recv().ok().map(|(ev, ack)| Flow::Nats(ev, ack)),
        }
    }
}

/// Where an alert goes.
struct Sinks {
    alerts: mpsc::Sender<AlertEvent>,
    alertmanager: Option<AlertmanagerSink>,
    syslog: Option<SyslogSink>,
}

/// The scoring task's state.
struct Runner {
    cfg: IdsConfig,
    metrics: IdsMetrics,
    scorer: Scorer,
    sinks: Sinks,
    threshold: Arc<AtomicU32>,
    /// Last alert per source (bounded by `max_sources`; entries older than the cooldown are forgotten).
    last_alert: HashMap<IpAddr, Instant>,
}

fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

impl Runner {
    async fn run(mut self, mut rx: Input, mut stop: watch::Receiver<bool>) {
        let mut extractor = WindowExtractor::new(ExtractorConfig {
            window_seconds: self.cfg.window_secs,
            max_sources: self.cfg.max_sources,
            max_events_per_source: self.cfg.max_events_per_source,
        });
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = extractor.stats();
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => ev.push_into(&mut extractor),
                    None => break,
                },
                _ = tick.tick() => self.tick(&mut extractor, &mut seen),
                _ = stop.wait_for(|s| *s) => {
                    while let Some(ev) = rx.try_recv() {
                        ev.push_into(&mut extractor);
                    }
                    break;
                }
            }
        }
        self.tick(&mut extractor, &mut seen);
    }

    fn tick(&mut self, extractor: &mut WindowExtractor, seen: &mut crate::ExtractorStats) {
        let t0 = Instant::now();
        let features = extractor.tick(now_secs());
        self.metrics
            .fe_window_build_ms
            .observe(t0.elapsed().as_secs_f64() * 1e3);
        let stats = extractor.stats();
        self.metrics
            .fe_events_in
            .inc_by(stats.events_in - seen.events_in);
        let d = &self.metrics.dropped;
        d.with_label_values(&["invalid_ts"])
            .inc_by(stats.events_invalid - seen.events_invalid);
        d.with_label_values(&["source_full"])
            .inc_by(stats.events_dropped - seen.events_dropped);
        d.with_label_values(&["source_evicted"])
            .inc_by(stats.sources_evicted - seen.sources_evicted);
        *seen = stats;
        self.metrics.sources.set(extractor.tracked_sources() as i64);
        let cooldown = self.cfg.alert_cooldown;
        self.last_alert.retain(|_, t| t.elapsed() < cooldown);
        let threshold = f32::from_bits(self.threshold.load(Ordering::Relaxed));
        for f in &features {
            let t = Instant::now();
            let score = self.scorer.score(f);
            self.metrics
                .infer_latency_ms
                .observe(t.elapsed().as_secs_f64() * 1e3);
            if score >= threshold
                && !self.last_alert.contains_key(&f.src)
                && self.last_alert.len() < self.cfg.max_sources
            {
                self.last_alert.insert(f.src, Instant::now());
                self.raise(f, score, threshold, extractor.derivation(f.src));
            }
        }
    }

    fn raise(&self, f: &Features, score: f32, threshold: f32, (ack, first): (Ack, Option<f64>)) {
        self.metrics.alerts.inc();
        let mut alert = AlertEvent::new(
            AlertSource::Anomaly,
            RULE_ID,
            format!("AnomalyScoreHigh: {} score={score:.2}", f.src),
            Severity::High,
        )
        // Scored from SYNs without ACK: a forged source address produces the same features.
        .with_evidence(Evidence::Spoofable);
        alert.description = format!(
            "rate={}, uniq_dports={}, uniq_daddrs={} (threshold {}, {})",
            f.conn_rate,
            f.uniq_dports,
            f.uniq_daddrs,
            threshold,
            match &self.scorer {
                Scorer::Onnx(m) => format!("model {}", m.path().display()),
                Scorer::Formula => "seed formula".into(),
            }
        );
        alert.entities.src_ip = Some(f.src);
        alert.tags = vec!["ids".into(), "AnomalyScoreHigh".into()];
        if let Some(am) = &self.sinks.alertmanager {
            am.send(AmAlert::anomaly(f.src, score, f.conn_rate, f.uniq_dports));
        }
        // Named by the source and its window's first attempt: the same window redelivered after a
        // restart raises the same id, which the store keeps once.
        if let Some(first) = first {
            alert.id = EventId(stable_id(&[
                b"ids",
                RULE_ID.as_bytes(),
                f.src.to_string().as_bytes(),
                &first.to_bits().to_le_bytes(),
            ]));
        }
        if let Some(s) = &self.sinks.syslog {
            s.send(alert.clone());
        }
        // Only the stored copy holds the messages' token: they are acknowledged once it is stored.
        alert.ack = ack;
        if let Err(e) = self.sinks.alerts.try_send(alert) {
            let (mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a)) = e;
            a.ack.fail();
            self.metrics
                .dropped
                .with_label_values(&["alert_channel_full"])
                .inc();
        }
    }
}

impl Module for IdsModule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            self.start_inner()
                .await
                .map_err(|e| ModuleError::start(NAME, e))
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop_tx.send(true);
            for t in self.transport.drain(..) {
                let _ = t.await;
            }
            if let Some(t) = self.scorer.take() {
                let _ = t.await;
            }
            // Bounded by the daemon's shutdown timeout; each POST has its own 5 s timeout.
            for t in self.sink_tasks.drain(..) {
                let _ = t.await;
            }
            if let Some(c) = self.nats.take() {
                let _ = c.flush().await;
            }
            if let Ok(mut s) = self.status.lock() {
                s.running = false;
            }
            Ok(())
        })
    }

    fn health(&self) -> Health {
        let (running, model) = match self.status.lock() {
            Ok(s) => (s.running, s.model.clone()),
            Err(_) => (false, None),
        };
        if !running {
            return Health::Unhealthy("not running".into());
        }
        let mut reasons: Vec<String> = model.into_iter().collect();
        if let Some(c) = &self.nats
            && c.connection_state() != async_nats::connection::State::Connected
        {
            reasons.push("NATS unreachable; telemetry is buffered".into());
        } else if let Ok(s) = self.nats_status.lock()
            && let Some(r) = s.as_ref()
        {
            reasons.push(r.clone());
        }
        if reasons.is_empty() {
            Health::Healthy
        } else {
            Health::Degraded(reasons.join("; "))
        }
    }
}

#[cfg(test)]
#[path = "module_tests.rs"]
mod tests;
