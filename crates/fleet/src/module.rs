//! The `fleet` module: publishes this node's block decisions to the `[fleet] bucket` and applies
//! every other node's to the local blocklist.
//!
//! Outbound: the daemon hands every `ip_block` action ([`FleetInput::action`]) and every
//! operator unblock ([`FleetInput::unblocked`]) to a bounded queue; the publisher task resolves
//! a block into a [`Decision`] through the [`Enforcer`] (the local blocklist knows its evidence,
//! expiry and alert), skips what it must not share (unverified evidence without
//! `share_unverified`, blocks it applied for another node), and puts it in the bucket, retrying
//! until JetStream acknowledges. Nothing here is awaited by enforcement: a full queue drops its
//! oldest entry and counts it.
//!
//! Inbound: a watcher over the bucket with its history (the last value of every key, then live
//! changes) applies decisions from other nodes that are still in force, and removes a block
//! whose key was deleted. A watcher that ends is re-opened with the history again, which is how
//! a node catches up after an outage; a revision already applied is skipped.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use ironpost_core::event::EventId;
use ironpost_core::metrics::prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, Registry,
};
use ironpost_core::net::Cidr;
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, BoxFuture, Evidence, Health, Module, ModuleError,
    error_chain, metrics,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::FleetConfig;
use crate::decision::{Decision, cidr_of, key_of};
use crate::error::{BucketSource, FleetError};
use crate::events::{EventKind, Ingest};
use crate::node::{ModuleHealth, NodeReport, NodeStatus};

/// The reason of a block applied for another node starts with this; such a block is never
/// published again (no echo).
pub const REMOTE_REASON_PREFIX: &str = "fleet:";
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the watcher re-reads the bucket's history.
const RESYNC: Duration = Duration::from_secs(30);

/// A run-time block of the local blocklist, as the fleet needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBlock {
    pub cidr: Cidr,
    pub reason: String,
    pub alert_id: Option<EventId>,
    pub evidence: Evidence,
    pub expires_at: Option<DateTime<Utc>>,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The local blocklist (the daemon adapts the XDP engine's handle to it).
pub trait Enforcer: Send + Sync + 'static {
    /// Blocks `cidr` until `expires_at` (None: until removed) on `evidence`, with `reason`.
    fn block(
        &self,
        cidr: Cidr,
        expires_at: Option<DateTime<Utc>>,
        evidence: Evidence,
        reason: String,
        alert_id: Option<EventId>,
    ) -> BoxFuture<'_, Result<(), BoxError>>;
    /// Removes the block of `cidr`; no block is not an error.
    fn unblock(&self, cidr: Cidr) -> BoxFuture<'_, Result<(), BoxError>>;
    /// The block whose network starts at `ip` (the address an `ip_block` action names).
    fn lookup(&self, ip: IpAddr) -> Option<LocalBlock>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outbound {
    /// A block was made on this address: resolve and publish it.
    Block(IpAddr, Instant),
    /// An operator removed this block: publish the delete marker.
    Unblock(Cidr, Instant),
}

#[derive(Debug, Clone)]
struct Metrics {
    published: IntCounterVec,
    publish_retries: IntCounter,
    not_shared: IntCounterVec,
    buffered: IntGauge,
    dropped: IntCounter,
    received: IntCounterVec,
    invalid: IntCounterVec,
    publish_lag: Histogram,
    consume_lag: Histogram,
    apply_duration: Histogram,
    connected: IntGauge,
    heartbeats: IntCounterVec,
    resyncs: IntCounter,
    events_published: IntCounterVec,
    events_buffered: IntGauge,
    events_dropped: IntCounter,
    events_not_sent: IntCounterVec,
    events_retries: IntCounter,
    events_publish_lag: Histogram,
    ingested: IntCounterVec,
    ingest_invalid: IntCounterVec,
    ingest_pending: IntGauge,
    ingest_lag: Histogram,
}

impl Metrics {
    fn new(r: &Registry) -> Self {
        let lag = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
        ];
        Metrics {
            published: metrics::int_counter_vec(
                r,
                "fleet_published_total",
                "Decisions this node published to the fleet, by kind (block, unblock).",
                &["kind"],
            ),
            publish_retries: metrics::int_counter(
                r,
                "fleet_publish_retries_total",
                "Publish attempts that failed or were not acknowledged in time (each is retried).",
            ),
            not_shared: metrics::int_counter_vec(
                r,
                "fleet_not_shared_total",
                "Local blocks not published, by reason (unverified, remote, gone).",
                &["reason"],
            ),
            buffered: metrics::int_gauge(
                r,
                "fleet_outbound_buffered",
                "Outbound decisions waiting for NATS.",
            ),
            dropped: metrics::int_counter(
                r,
                "fleet_outbound_dropped_total",
                "Outbound decisions dropped because the buffer was full (the oldest goes).",
            ),
            received: metrics::int_counter_vec(
                r,
                "fleet_received_total",
                "Decisions received from the bucket, by outcome (applied, unblocked, own, expired, unverified, duplicate, failed).",
                &["outcome"],
            ),
            invalid: metrics::int_counter_vec(
                r,
                "fleet_decisions_invalid_total",
                "Bucket entries refused, by reason (too_large, malformed, key_mismatch, bad_key).",
                &["reason"],
            ),
            publish_lag: metrics::histogram(
                r,
                "fleet_publish_lag_seconds",
                "From a local decision to JetStream's acknowledgement of its publication.",
                lag.clone(),
            ),
            consume_lag: metrics::histogram(
                r,
                "fleet_consume_lag_seconds",
                "From a decision on its origin node to its application here (clocks of both hosts).",
                lag.clone(),
            ),
            apply_duration: metrics::histogram(
                r,
                "fleet_apply_seconds",
                "Time to apply a received decision to the local blocklist (XDP map update and the blocklist's journal).",
                lag.clone(),
            ),
            heartbeats: metrics::int_counter_vec(
                r,
                "fleet_heartbeats_total",
                "Heartbeats put in the nodes bucket (published, failed) and, by agents, on the events stream (streamed, stream_failed).",
                &["outcome"],
            ),
            resyncs: metrics::int_counter(
                r,
                "fleet_resyncs_total",
                "Times the watcher re-read the bucket's history (every 30 s, or after an error).",
            ),
            connected: metrics::int_gauge(
                r,
                "fleet_connected",
                "1 while the NATS connection is up and the bucket open.",
            ),
            events_published: metrics::int_counter_vec(
                r,
                "fleet_events_published_total",
                "Alerts and actions this agent published to the events stream (acknowledged by JetStream), by kind.",
                &["kind"],
            ),
            events_buffered: metrics::int_gauge(
                r,
                "fleet_events_buffered",
                "Alerts and actions waiting to be published to the events stream.",
            ),
            events_dropped: metrics::int_counter(
                r,
                "fleet_events_dropped_total",
                "Alerts and actions dropped because the outbound buffer was full (the oldest goes).",
            ),
            events_not_sent: metrics::int_counter_vec(
                r,
                "fleet_events_not_sent_total",
                "Alerts and actions never published, by reason (too_large).",
                &["reason"],
            ),
            events_retries: metrics::int_counter(
                r,
                "fleet_events_publish_retries_total",
                "Times publishing to the events stream failed or was not acknowledged in time (retried).",
            ),
            events_publish_lag: metrics::histogram(
                r,
                "fleet_events_publish_lag_seconds",
                "From an alert or action queued for the fleet to JetStream's acknowledgement.",
                lag.clone(),
            ),
            ingested: metrics::int_counter_vec(
                r,
                "fleet_ingested_total",
                "Events stream messages the central handled, by outcome (stored, failed, own).",
                &["outcome"],
            ),
            ingest_invalid: metrics::int_counter_vec(
                r,
                "fleet_ingest_invalid_total",
                "Events stream messages refused by the central, by reason (bad_subject, too_large, malformed).",
                &["reason"],
            ),
            ingest_pending: metrics::int_gauge(
                r,
                "fleet_ingest_pending",
                "Messages the central received and queued for its store, not yet acknowledged.",
            ),
            ingest_lag: metrics::histogram(
                r,
                "fleet_ingest_lag_seconds",
                "From an event on its agent to its row committed in the central's store (clocks of both hosts).",
                lag.clone(),
            ),
        }
    }
}

/// An alert or action on its way to the events stream.
#[derive(Debug, Clone)]
struct OutEvent {
    seq: u64,
    kind: EventKind,
    subject: String,
    msg_id: String,
    body: bytes::Bytes,
    queued_at: Instant,
}

/// The outbound events buffer; `next_seq` numbers what is pushed, so the publisher can remove
/// exactly what JetStream acknowledged even when the oldest were dropped meanwhile.
#[derive(Debug, Default)]
struct Outbox {
    q: VecDeque<OutEvent>,
    next_seq: u64,
}

struct Inner {
    cfg: FleetConfig,
    node: String,
    queue: Mutex<VecDeque<Outbound>>,
    wake: Notify,
    outbox: Mutex<Outbox>,
    events_wake: Notify,
    ingest: Option<Arc<dyn Ingest>>,
    metrics: Metrics,
    enforcer: Arc<dyn Enforcer>,
    status: Arc<dyn NodeStatus>,
    health: Mutex<Health>,
}

impl Inner {
    fn push(&self, o: Outbound) {
        {
            let mut q = lock(&self.queue);
            if q.len() >= self.cfg.buffer_capacity {
                q.pop_front();
                self.metrics.dropped.inc();
            }
            q.push_back(o);
            self.metrics.buffered.set(q.len() as i64);
        }
        self.wake.notify_one();
    }

    /// Queues an alert or action for the events stream (agents only; never waits).
    fn push_event<T: serde::Serialize>(&self, kind: EventKind, id: EventId, e: &T) {
        if self.cfg.role != crate::Role::Agent || !self.cfg.publish_events {
            return;
        }
        let body = match serde_json::to_vec(e) {
            Ok(b) if b.len() <= crate::events::MAX_EVENT_BYTES => b,
            _ => {
                self.metrics
                    .events_not_sent
                    .with_label_values(&["too_large"])
                    .inc();
                return;
            }
        };
        {
            let mut o = lock(&self.outbox);
            if o.q.len() >= self.cfg.events_buffer_capacity {
                o.q.pop_front();
                self.metrics.events_dropped.inc();
            }
            let seq = o.next_seq;
            o.next_seq += 1;
            o.q.push_back(OutEvent {
                seq,
                kind,
                subject: crate::events::subject(kind, &self.node),
                msg_id: crate::events::msg_id(kind, &self.node, id),
                body: body.into(),
                queued_at: Instant::now(),
            });
            self.metrics.events_buffered.set(o.q.len() as i64);
        }
        self.events_wake.notify_one();
    }

    fn set_health(&self, h: Health) {
        self.metrics
            .connected
            .set(i64::from(matches!(h, Health::Healthy)));
        *lock(&self.health) = h;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the daemon feeds the module with; cheap to clone, never waits.
#[derive(Clone)]
pub struct FleetInput(Arc<Inner>);

impl std::fmt::Debug for FleetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetInput").finish_non_exhaustive()
    }
}

impl FleetInput {
    /// An action from the bus: a successful `ip_block` is queued for publication.
    pub fn action(&self, a: &ActionEvent) -> bool {
        self.0.push_event(EventKind::Action, a.id, a);
        if a.action_type == ActionType::IpBlock
            && a.outcome == ActionOutcome::Success
            && let Some(ip) = a.target.src_ip
        {
            self.0.push(Outbound::Block(ip, Instant::now()));
        }
        true
    }

    /// An alert from the bus: queued for the events stream (agents with `publish_events`).
    pub fn alert(&self, a: &ironpost_core::AlertEvent) -> bool {
        self.0.push_event(EventKind::Alert, a.id, a);
        true
    }

    /// An operator removed the block of `cidr`: unblock it fleet-wide.
    pub fn unblocked(&self, cidr: Cidr) {
        self.0.push(Outbound::Unblock(cidr, Instant::now()));
    }
}

/// The fleet module.
pub struct FleetModule {
    inner: Arc<Inner>,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FleetModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetModule")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

impl FleetModule {
    pub fn new(
        cfg: FleetConfig,
        registry: &Registry,
        enforcer: Arc<dyn Enforcer>,
        status: Arc<dyn NodeStatus>,
    ) -> Self {
        let node = cfg.node();
        FleetModule {
            inner: Arc::new(Inner {
                node,
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                outbox: Mutex::new(Outbox::default()),
                events_wake: Notify::new(),
                ingest: None,
                metrics: Metrics::new(registry),
                enforcer,
                status,
                health: Mutex::new(Health::Degraded("not started".into())),
                cfg,
            }),
            stop: None,
            task: None,
        }
    }

    /// The central role's store: where the events stream's messages go. Call before `start`.
    pub fn with_ingest(mut self, ingest: Arc<dyn Ingest>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.ingest = Some(ingest);
        }
        self
    }

    pub fn input(&self) -> FleetInput {
        FleetInput(self.inner.clone())
    }

    /// The name this node publishes under.
    pub fn node(&self) -> &str {
        &self.inner.node
    }
}

/// The key of `[fleet.nats]` a refused connection is about: the authentication in use.
pub(crate) fn auth_key(cfg: &FleetConfig) -> String {
    let n = &cfg.nats;
    let field = if n.creds_file.is_some() {
        "creds_file"
    } else if n.nkey_seed_file.is_some() {
        "nkey_seed_file"
    } else if n.user.is_some() {
        "user"
    } else if n.token.is_some() {
        "token"
    } else if n.ca_file.is_some() || n.client_cert.is_some() || n.tls_required {
        "ca_file"
    } else {
        return "fleet.nats_urls".into();
    };
    format!("fleet.nats.{field}")
}

impl Module for FleetModule {
    fn name(&self) -> &'static str {
        "fleet"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let cfg = &self.inner.cfg;
            let urls: Vec<&str> = cfg.nats_urls.iter().map(String::as_str).collect();
            let client = ironpost_anomaly_ids::nats::connect_servers(
                &urls,
                &format!("ironpost-fleet-{}", self.inner.node),
                &cfg.nats,
                "fleet.nats",
            )
            .await
            .map_err(|source| {
                let key = match &source {
                    ironpost_anomaly_ids::IdsError::NatsFile { field, .. }
                    | ironpost_anomaly_ids::IdsError::NatsFileContent { field, .. } => {
                        format!("fleet.nats.{field}")
                    }
                    _ => auth_key(cfg),
                };
                ModuleError::start("fleet", FleetError::Connect { key, source })
            })?;
            info!(node = %self.inner.node, role = cfg.role.as_str(), servers = urls.len(), "fleet: connected");
            let (tx, rx) = watch::channel(false);
            self.stop = Some(tx);
            self.task = Some(tokio::spawn(run(self.inner.clone(), client, rx)));
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(true);
            }
            if let Some(t) = self.task.take() {
                let _ = t.await;
            }
            let left = lock(&self.inner.queue).len();
            if left > 0 {
                warn!(
                    left,
                    "fleet: stopping with decisions not yet published (they stay local)"
                );
            }
            Ok(())
        })
    }

    fn health(&self) -> Health {
        lock(&self.inner.health).clone()
    }
}

/// Opens the bucket (retrying while the cluster is unreachable), then publishes and watches
/// until `stop`.
async fn run(inner: Arc<Inner>, client: async_nats::Client, mut stop: watch::Receiver<bool>) {
    let js = jetstream::new(client);
    let store = loop {
        match open_bucket(&js, &inner.cfg).await {
            Ok(s) => break s,
            Err(e) => {
                let why = error_chain(&e);
                warn!(error = %why, "fleet: bucket unavailable; retrying");
                inner.set_health(Health::Degraded(why));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    };
    inner.set_health(Health::Healthy);
    let publisher = tokio::spawn(publish_loop(inner.clone(), store.clone(), stop.clone()));
    let watcher = tokio::spawn(watch_loop(inner.clone(), store, stop.clone()));
    let heartbeat = tokio::spawn(heartbeat_loop(inner.clone(), js.clone(), stop.clone()));
    let events = match (inner.cfg.role, inner.ingest.clone()) {
        (crate::Role::Agent, _) if inner.cfg.publish_events => Some(tokio::spawn(events_loop(
            inner.clone(),
            js.clone(),
            stop.clone(),
        ))),
        (crate::Role::Central, Some(ingest)) => Some(tokio::spawn(ingest_loop(
            inner.clone(),
            js,
            ingest,
            stop.clone(),
        ))),
        _ => None,
    };
    let _ = publisher.await;
    let _ = watcher.await;
    let _ = heartbeat.await;
    if let Some(e) = events {
        let _ = e.await;
    }
}

/// The decisions' bucket.
async fn open_bucket(js: &jetstream::Context, cfg: &FleetConfig) -> Result<kv::Store, FleetError> {
    open_kv(
        js,
        &cfg.bucket,
        "Ironpost fleet block decisions, keyed by CIDR",
        crate::decision::MAX_DECISION_BYTES,
        cfg,
    )
    .await
}

/// A bucket, its stream created when missing. The stream is made here as async-nats's
/// `create_key_value` would make it (`KV_<bucket>`, `$KV.<bucket>.>`, one value per key, rollups,
/// direct gets): that call first reads the account info, which it cannot parse from
/// nats-server 2.9.
pub(crate) async fn open_kv(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    max_value: usize,
    cfg: &FleetConfig,
) -> Result<kv::Store, FleetError> {
    use jetstream::stream;
    let err = |source| FleetError::Bucket {
        bucket: bucket.to_owned(),
        source,
    };
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(cfg.max_age_secs),
        max_message_size: i32::try_from(max_value).unwrap_or(i32::MAX),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: cfg.replicas,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    match tokio::time::timeout(OP_TIMEOUT, js.get_or_create_stream(config)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(err(BucketSource::Stream(e))),
        Err(_) => return Err(err(BucketSource::TimedOut)),
    }
    match tokio::time::timeout(OP_TIMEOUT, js.get_key_value(bucket.to_owned())).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(e)) => Err(err(BucketSource::Open(e))),
        Err(_) => Err(err(BucketSource::TimedOut)),
    }
}

/// What a queued item becomes: a put, a delete, or nothing to share.
enum Op {
    Put(String, Decision),
    Delete(String),
    Skip(&'static str),
}

fn resolve(inner: &Inner, o: Outbound) -> Op {
    match o {
        Outbound::Unblock(cidr, _) => Op::Delete(key_of(cidr)),
        Outbound::Block(ip, _) => {
            let Some(b) = inner.enforcer.lookup(ip) else {
                return Op::Skip("gone");
            };
            if b.reason.starts_with(REMOTE_REASON_PREFIX) {
                return Op::Skip("remote");
            }
            if !b.evidence.is_verified() && !inner.cfg.share_unverified {
                return Op::Skip("unverified");
            }
            let d = Decision {
                cidr: b.cidr,
                origin: inner.node.clone(),
                alert_id: b.alert_id,
                evidence: b.evidence,
                reason: b.reason,
                decided_at: Utc::now(),
                expires_at: b.expires_at,
            };
            Op::Put(key_of(b.cidr), d)
        }
    }
}

async fn publish_loop(inner: Arc<Inner>, store: kv::Store, mut stop: watch::Receiver<bool>) {
    loop {
        let next = lock(&inner.queue).front().copied();
        let Some(item) = next else {
            tokio::select! {
                _ = inner.wake.notified() => continue,
                _ = stop.changed() => return,
            }
        };
        let queued_at = match item {
            Outbound::Block(_, t) | Outbound::Unblock(_, t) => t,
        };
        let op = resolve(&inner, item);
        let done = match &op {
            Op::Skip(reason) => {
                inner.metrics.not_shared.with_label_values(&[reason]).inc();
                true
            }
            Op::Put(key, d) => {
                let put = store.put(key.as_str(), d.to_json().into());
                match tokio::time::timeout(OP_TIMEOUT, put).await {
                    Ok(Ok(_)) => {
                        inner.metrics.published.with_label_values(&["block"]).inc();
                        info!(cidr = %d.cidr, "fleet: block published");
                        true
                    }
                    Ok(Err(e)) => {
                        warn!(error = %error_chain(&e), "fleet: publish failed; retrying");
                        false
                    }
                    Err(_) => false,
                }
            }
            Op::Delete(key) => {
                match tokio::time::timeout(OP_TIMEOUT, store.delete(key.as_str())).await {
                    Ok(Ok(())) => {
                        inner
                            .metrics
                            .published
                            .with_label_values(&["unblock"])
                            .inc();
                        true
                    }
                    Ok(Err(e)) => {
                        warn!(error = %error_chain(&e), "fleet: unblock publish failed; retrying");
                        false
                    }
                    Err(_) => false,
                }
            }
        };
        if done {
            if !matches!(op, Op::Skip(_)) {
                inner
                    .metrics
                    .publish_lag
                    .observe(queued_at.elapsed().as_secs_f64());
            }
            let mut q = lock(&inner.queue);
            // The front is still `item` unless the buffer overflowed meanwhile.
            if q.front() == Some(&item) {
                q.pop_front();
            }
            inner.metrics.buffered.set(q.len() as i64);
        } else {
            inner.metrics.publish_retries.inc();
            inner.set_health(Health::Degraded(format!(
                "NATS not acknowledging; {} decisions buffered",
                lock(&inner.queue).len()
            )));
            tokio::select! {
                _ = tokio::time::sleep(RETRY_BACKOFF) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Puts this node's report every `heartbeat_secs`; a missed one is not retried (the next one
/// replaces it).
async fn heartbeat_loop(
    inner: Arc<Inner>,
    js: jetstream::Context,
    mut stop: watch::Receiver<bool>,
) {
    let mut store = None;
    let mut tick = tokio::time::interval(Duration::from_secs(inner.cfg.heartbeat_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if store.is_none() {
            match crate::node::open_nodes(&js, &inner.cfg).await {
                Ok(s) => store = Some(s),
                Err(e) => {
                    warn!(error = %error_chain(&e), "fleet: heartbeat bucket unavailable");
                    inner
                        .metrics
                        .heartbeats
                        .with_label_values(&["failed"])
                        .inc();
                    continue;
                }
            }
        }
        let Some(s) = &store else { continue };
        let (mut modules, blocks) = inner.status.report().await;
        modules.push(ModuleHealth {
            name: "fleet".into(),
            health: lock(&inner.health).clone(),
        });
        let report = NodeReport {
            node: inner.node.clone(),
            role: inner.cfg.role,
            version: env!("CARGO_PKG_VERSION").into(),
            at: Utc::now(),
            blocks,
            modules,
        };
        let body: bytes::Bytes = serde_json::to_vec(&report).unwrap_or_default().into();
        let outcome = match tokio::time::timeout(
            OP_TIMEOUT,
            s.put(inner.node.as_str(), body.clone()),
        )
        .await
        {
            Ok(Ok(_)) => "published",
            _ => "failed",
        };
        inner.metrics.heartbeats.with_label_values(&[outcome]).inc();
        // Agents also put it on the events stream for the central's store; a missed one is not
        // retried either (the next one replaces it there too).
        if inner.cfg.role == crate::Role::Agent && inner.cfg.publish_events {
            let p = jetstream::message::PublishMessage::build()
                .payload(body)
                .message_id(crate::events::heartbeat_msg_id(&inner.node, report.at));
            let subject = crate::events::subject(EventKind::Heartbeat, &inner.node);
            let sent = async { js.send_publish(subject, p).await.ok()?.await.ok() };
            let outcome = match tokio::time::timeout(OP_TIMEOUT, sent).await {
                Ok(Some(_)) => "streamed",
                _ => "stream_failed",
            };
            inner.metrics.heartbeats.with_label_values(&[outcome]).inc();
        }
    }
}

async fn watch_loop(inner: Arc<Inner>, store: kv::Store, mut stop: watch::Receiver<bool>) {
    // Revision last applied per key: a re-opened watcher replays the history, which is skipped.
    let mut seen: HashMap<String, u64> = HashMap::new();
    loop {
        match store.watch_with_history(">").await {
            Ok(mut w) => {
                inner.set_health(Health::Healthy);
                // A watcher whose server died may go quiet instead of failing: re-read the
                // history every RESYNC (revisions already applied are skipped).
                let resync = tokio::time::sleep(RESYNC);
                tokio::pin!(resync);
                loop {
                    tokio::select! {
                        _ = &mut resync => {
                            inner.metrics.resyncs.inc();
                            break;
                        }
                        e = w.next() => match e {
                            Some(Ok(entry)) => apply(&inner, &mut seen, entry).await,
                            Some(Err(e)) => {
                                warn!(error = %error_chain(&e), "fleet: watcher failed; re-opening");
                                inner.metrics.resyncs.inc();
                                break;
                            }
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(e) => {
                let why = error_chain(&e);
                warn!(error = %why, "fleet: cannot watch the bucket; retrying");
                inner.set_health(Health::Degraded(why));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn apply(inner: &Inner, seen: &mut HashMap<String, u64>, entry: kv::Entry) {
    let m = &inner.metrics;
    let outcome = |o: &str| m.received.with_label_values(&[o]).inc();
    if seen.get(&entry.key) == Some(&entry.revision) {
        return outcome("duplicate");
    }
    seen.insert(entry.key.clone(), entry.revision);
    match entry.operation {
        kv::Operation::Delete | kv::Operation::Purge => {
            let Some(cidr) = cidr_of(&entry.key) else {
                return m.invalid.with_label_values(&["bad_key"]).inc();
            };
            match inner.enforcer.unblock(cidr).await {
                Ok(()) => outcome("unblocked"),
                Err(e) => {
                    warn!(cidr = %cidr, error = %error_chain(e.as_ref()), "fleet: remote unblock failed");
                    outcome("failed")
                }
            }
        }
        kv::Operation::Put => {
            let d = match Decision::parse(&entry.key, &entry.value) {
                Ok(d) => d,
                Err(r) => return m.invalid.with_label_values(&[r.as_str()]).inc(),
            };
            let now = Utc::now();
            if d.origin == inner.node {
                return outcome("own");
            }
            if !d.evidence.is_verified() && !inner.cfg.share_unverified {
                return outcome("unverified");
            }
            if !d.live_at(now) {
                return outcome("expired");
            }
            let reason = format!("{REMOTE_REASON_PREFIX}{}: {}", d.origin, d.reason);
            let started = Instant::now();
            let applied = inner
                .enforcer
                .block(d.cidr, d.expires_at, d.evidence, reason, d.alert_id)
                .await;
            m.apply_duration.observe(started.elapsed().as_secs_f64());
            match applied {
                Ok(()) => {
                    // Origin's decision -> in force here (after the kernel map update).
                    if entry.seen_current {
                        m.consume_lag.observe(
                            (Utc::now() - d.decided_at)
                                .to_std()
                                .unwrap_or_default()
                                .as_secs_f64(),
                        );
                    }
                    info!(cidr = %d.cidr, origin = %d.origin, expires_at = ?d.expires_at, "fleet: remote block applied");
                    outcome("applied")
                }
                Err(e) => {
                    warn!(cidr = %d.cidr, error = %error_chain(e.as_ref()), "fleet: remote block failed");
                    outcome("failed")
                }
            }
        }
    }
}

/// Publications in flight at once on the events stream.
const EVENTS_WINDOW: usize = 1024;

/// Publishes the outbound events in order, `EVENTS_WINDOW` at a time, each with its message id;
/// an event leaves the buffer only once JetStream acknowledged it (or it was dropped as the
/// oldest of a full buffer). A failed window is published again: JetStream's duplicate window
/// stores what it already had once.
async fn events_loop(inner: Arc<Inner>, js: jetstream::Context, mut stop: watch::Receiver<bool>) {
    loop {
        match crate::events::open_stream(&js, &inner.cfg).await {
            Ok(_) => break,
            Err(e) => warn!(error = %error_chain(&e), "fleet: events stream unavailable; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
    loop {
        let batch: Vec<OutEvent> = lock(&inner.outbox)
            .q
            .iter()
            .take(EVENTS_WINDOW)
            .cloned()
            .collect();
        if batch.is_empty() {
            tokio::select! {
                _ = inner.events_wake.notified() => continue,
                _ = stop.changed() => return,
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut failed = false;
        for e in &batch {
            let p = jetstream::message::PublishMessage::build()
                .payload(e.body.clone())
                .message_id(e.msg_id.as_str());
            match tokio::time::timeout(OP_TIMEOUT, js.send_publish(e.subject.clone(), p)).await {
                Ok(Ok(f)) => acks.push(f),
                Ok(Err(err)) => {
                    warn!(error = %error_chain(&err), "fleet: event publish failed; retrying");
                    failed = true;
                    break;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let mut upto = None;
        for (e, f) in batch.iter().zip(acks) {
            match tokio::time::timeout(OP_TIMEOUT, f.into_future()).await {
                Ok(Ok(_)) => {
                    upto = Some(e.seq);
                    inner
                        .metrics
                        .events_published
                        .with_label_values(&[e.kind.as_str()])
                        .inc();
                    inner
                        .metrics
                        .events_publish_lag
                        .observe(e.queued_at.elapsed().as_secs_f64());
                }
                _ => {
                    failed = true;
                    break;
                }
            }
        }
        {
            let mut o = lock(&inner.outbox);
            if let Some(upto) = upto {
                while o.q.front().is_some_and(|e| e.seq <= upto) {
                    o.q.pop_front();
                }
            }
            inner.metrics.events_buffered.set(o.q.len() as i64);
        }
        if failed {
            inner.metrics.events_retries.inc();
            tokio::select! {
                _ = tokio::time::sleep(RETRY_BACKOFF) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// A message the central queued for its store, acknowledged once the store resolves `status`.
struct Pending {
    status: ironpost_core::ack::StatusCell,
    acker: jetstream::message::Acker,
    at: DateTime<Utc>,
}

/// The central role: a durable pull consumer on the events stream into the store. A message is
/// acknowledged once its row is committed (or durably spooled), asked again (`nak`, after 1 s)
/// when the store lost it; invalid ones and the central's own are acknowledged and counted.
async fn ingest_loop(
    inner: Arc<Inner>,
    js: jetstream::Context,
    ingest: Arc<dyn Ingest>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    loop {
        match consume(&inner, &js, &*ingest, &mut pending, &mut stop).await {
            Ok(()) => break,
            Err(why) => {
                warn!(error = %why, "fleet: central consumer failed; re-opening");
                inner.set_health(Health::Degraded(format!("central consumer: {why}")));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    // Stopping: what the store resolves in the next moments is acknowledged; the rest is
    // redelivered to the next run (and stored once).
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pending.is_empty() && Instant::now() < deadline {
        settle(&inner, &mut pending).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn consume(
    inner: &Inner,
    js: &jetstream::Context,
    ingest: &dyn Ingest,
    pending: &mut VecDeque<Pending>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    use jetstream::consumer::{AckPolicy, pull};
    let stream = crate::events::open_stream(js, &inner.cfg)
        .await
        .map_err(|e| error_chain(&e))?;
    let name = inner.cfg.central_consumer.clone();
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(
            "Ironpost central: every agent's alerts and actions into its store".into(),
        ),
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 20_000,
        max_deliver: 20,
        ..Default::default()
    };
    let consumer = tokio::time::timeout(OP_TIMEOUT, stream.get_or_create_consumer(&name, config))
        .await
        .map_err(|_| "no answer from JetStream in time".to_owned())?
        .map_err(|e| error_chain(&e))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .map_err(|e| error_chain(&e))?;
    info!(consumer = %name, stream = %inner.cfg.events_stream, "fleet: central consuming");
    inner.set_health(Health::Healthy);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            m = messages.next() => match m {
                Some(Ok(m)) => {
                    let (msg, acker) = m.split();
                    let m = &inner.metrics;
                    match crate::events::parse(msg.subject.as_str(), &msg.payload) {
                        Err(r) => {
                            m.ingest_invalid.with_label_values(&[r.as_str()]).inc();
                            let _ = acker.ack_with(jetstream::AckKind::Term).await;
                        }
                        Ok((node, _)) if node == inner.node => {
                            m.ingested.with_label_values(&["own"]).inc();
                            let _ = acker.ack().await;
                        }
                        Ok((node, event)) => {
                            let at = event.at();
                            let (ack, status) = ironpost_core::ack::Ack::new();
                            ingest.write(node, event, ack).await.map_err(|e| error_chain(e.as_ref()))?;
                            pending.push_back(Pending { status, acker, at });
                            m.ingest_pending.set(pending.len() as i64);
                        }
                    }
                }
                Some(Err(e)) => return Err(error_chain(&e)),
                None => return Err("the consumer's message stream ended".into()),
            },
            _ = tick.tick(), if !pending.is_empty() => {}
        }
        settle(inner, pending).await;
    }
}

/// Acknowledges the messages whose rows the store resolved, oldest first.
async fn settle(inner: &Inner, pending: &mut VecDeque<Pending>) {
    use ironpost_core::ack::Status;
    let m = &inner.metrics;
    while let Some(p) = pending.front() {
        match p.status.get() {
            Status::Pending => break,
            Status::Delivered => {
                let _ = p.acker.ack().await;
                m.ingested.with_label_values(&["stored"]).inc();
                m.ingest_lag.observe(
                    (Utc::now() - p.at)
                        .to_std()
                        .unwrap_or_default()
                        .as_secs_f64(),
                );
            }
            Status::Failed => {
                let _ = p
                    .acker
                    .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                m.ingested.with_label_values(&["failed"]).inc();
            }
        }
        pending.pop_front();
    }
    m.ingest_pending.set(pending.len() as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{AlertEvent, AlertSource, Severity};

    struct NoEnforcer;
    impl Enforcer for NoEnforcer {
        fn block(
            &self,
            _: Cidr,
            _: Option<DateTime<Utc>>,
            _: Evidence,
            _: String,
            _: Option<EventId>,
        ) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn unblock(&self, _: Cidr) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn lookup(&self, _: IpAddr) -> Option<LocalBlock> {
            None
        }
    }
    struct NoStatus;
    impl NodeStatus for NoStatus {
        fn report(&self) -> BoxFuture<'_, (Vec<ModuleHealth>, usize)> {
            Box::pin(async { (Vec::new(), 0) })
        }
    }

    fn module(cfg: FleetConfig) -> (FleetModule, Registry) {
        let r = ironpost_core::metrics::new_registry();
        let m = FleetModule::new(cfg, &r, Arc::new(NoEnforcer), Arc::new(NoStatus));
        (m, r)
    }

    fn alert(title: &str) -> AlertEvent {
        AlertEvent::new(AlertSource::External, "r", title, Severity::High)
    }

    #[test]
    fn the_outbound_events_buffer_keeps_the_newest_and_counts_what_it_drops() {
        let (m, _r) = module(FleetConfig {
            node_name: "edge-1".into(),
            events_buffer_capacity: 3,
            ..Default::default()
        });
        let input = m.input();
        let alerts: Vec<AlertEvent> = (0..5).map(|i| alert(&format!("a{i}"))).collect();
        for a in &alerts {
            assert!(input.alert(a));
        }
        let o = lock(&m.inner.outbox);
        let ids: Vec<String> = o.q.iter().map(|e| e.msg_id.clone()).collect();
        let want: Vec<String> = alerts[2..]
            .iter()
            .map(|a| crate::events::msg_id(EventKind::Alert, "edge-1", a.id))
            .collect();
        assert_eq!(ids, want);
        assert_eq!(o.q.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(o.q.iter().all(|e| e.subject == "ironpost.alert.edge-1"));
        assert_eq!(m.inner.metrics.events_dropped.get(), 2);
        assert_eq!(m.inner.metrics.events_buffered.get(), 3);
    }

    #[test]
    fn a_central_and_an_agent_without_publish_events_queue_nothing_and_oversized_events_are_counted()
     {
        for cfg in [
            FleetConfig {
                role: crate::Role::Central,
                ..Default::default()
            },
            FleetConfig {
                publish_events: false,
                ..Default::default()
            },
        ] {
            let (m, _r) = module(cfg);
            m.input().alert(&alert("a"));
            assert!(lock(&m.inner.outbox).q.is_empty());
        }
        let (m, _r) = module(FleetConfig::default());
        let mut big = alert("big");
        big.description = "x".repeat(crate::events::MAX_EVENT_BYTES);
        m.input().alert(&big);
        assert!(lock(&m.inner.outbox).q.is_empty());
        assert_eq!(
            m.inner
                .metrics
                .events_not_sent
                .with_label_values(&["too_large"])
                .get(),
            1
        );
    }
}
