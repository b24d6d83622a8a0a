//! The `fleet` module: publishes this node's block decisions to the `[fleet] bucket` and applies
//! every other node's to the local blocklist.
//!
//! Outbound: the daemon hands every `ip_block` action ([`FleetInput::action`]) and every operator
//! unblock ([`FleetInput::unblocked`]) to a bounded queue; the publisher task resolves a block into
//! a [`Decision`](crate::Decision) through the [`Enforcer`] (the local blocklist knows its
//! evidence, expiry and alert), skips what it must not share (unverified evidence without
//! `share_unverified`, blocks it applied for another node), and puts it in the bucket, retrying
//! until JetStream acknowledges. Nothing here is awaited by enforcement: a full queue drops its
//! oldest entry and counts it.
//!
//! Inbound: a watcher over the bucket with its history (the last value of every key, then live
//! changes) applies decisions from other nodes that are still in force, and removes a block
//! whose key was deleted. A watcher that ends is re-opened with the history again, which is how
//! a node catches up after an outage; a revision already applied is skipped.
//!
//! Layout: this file assembles the module (its shared state, [`FleetModule`], the connection
//! and the buckets); `outbound` holds the buffers and their publishers, `inbound` the
//! decision watcher, `heartbeat` the node reports, `central` the central's ingest consumer
//! and `metrics` the module's metrics.

mod central;
mod heartbeat;
mod inbound;
mod metrics;
mod outbound;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use ironpost_core::event::EventId;
use ironpost_core::metrics::prometheus::Registry;
use ironpost_core::net::Cidr;
use ironpost_core::{BoxFuture, Evidence, Health, Module, ModuleError, error_chain};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::FleetConfig;
use crate::error::{BucketSource, FleetError};
use crate::events::Ingest;
use crate::node::NodeStatus;
use metrics::Metrics;
use outbound::{Outbound, Outbox};

pub use outbound::FleetInput;

/// The reason of a block applied for another node starts with this; such a block is never
/// published again (no echo).
pub const REMOTE_REASON_PREFIX: &str = "fleet:";
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A decision of another node, as it is applied to the local blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBlock {
    pub cidr: Cidr,
    /// None: until removed.
    pub expires_at: Option<DateTime<Utc>>,
    pub evidence: Evidence,
    pub reason: String,
    pub alert_id: Option<EventId>,
}

/// The local blocklist (the daemon adapts the XDP engine's handle to it).
pub trait Enforcer: Send + Sync + 'static {
    /// Blocks each `cidr` until its `expires_at` (None: until removed) on its evidence, with
    /// its reason. One result per block, in order: the time it was in force (in the kernel
    /// map). A batch is made durable at once (one journal sync, after the map updates and
    /// before this resolves).
    fn block_many(
        &self,
        blocks: Vec<RemoteBlock>,
    ) -> BoxFuture<'_, Vec<Result<DateTime<Utc>, BoxError>>>;
    /// Removes the block of `cidr`; no block is not an error.
    fn unblock(&self, cidr: Cidr) -> BoxFuture<'_, Result<(), BoxError>>;
    /// The block whose network starts at `ip` (the address an `ip_block` action names).
    fn lookup(&self, ip: IpAddr) -> Option<LocalBlock>;
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
    let publisher = tokio::spawn(outbound::publish_loop(
        inner.clone(),
        store.clone(),
        stop.clone(),
    ));
    let watcher = tokio::spawn(inbound::watch_loop(inner.clone(), store, stop.clone()));
    let heartbeat = tokio::spawn(heartbeat::heartbeat_loop(
        inner.clone(),
        js.clone(),
        stop.clone(),
    ));
    let events = match (inner.cfg.role, inner.ingest.clone()) {
        (crate::Role::Agent, _) if inner.cfg.publish_events => Some(tokio::spawn(
            outbound::events_loop(inner.clone(), js.clone(), stop.clone()),
        )),
        (crate::Role::Central, Some(ingest)) => Some(tokio::spawn(central::ingest_loop(
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
