//! The container guard under the daemon: alerts in, policies and targeting decide, the executor
//! acts on Docker, `ActionEvent`s out. A `GuardHandle` serves the CLI (isolate, restore, list) and
//! policy reloads.
//!
//! Alerts are handled concurrently (at most `MAX_CONCURRENT_ACTIONS` at a time) so that a slow
//! `stop` does not hold up the next pause. On stop, actions in flight finish; alerts still queued
//! are counted in `ironpost_container_guard_alerts_total{outcome="shutdown"}`.
//!
//! Three tasks run: the inventory monitor (`inventory.rs`), the alert handler, and the reconciler
//! (`reconcile.rs`), which the monitor wakes after each burst of Docker events and each
//! connection.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use ironpost_core::metrics::prometheus;
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, AlertEvent, BoxFuture, Health, Module, ModuleError,
    Severity,
};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::ContainerConfig;
use crate::docker::DockerApi;
use crate::error::GuardError;
use crate::executor::{self, Limits, Subject};
use crate::inventory::{self, InventoryState};
use crate::isolations::{Isolation, Isolations};
use crate::metrics::GuardMetrics;
use crate::policy::{ContainerInfo, IsolationAction, Policy, PolicySet};
use crate::reconcile;
use crate::target::{Decision, Link, Skip, decide};

/// Capacity of the guard's alert queue (a full queue is counted by the sender).
pub const ALERT_QUEUE_CAPACITY: usize = 1024;
/// Alerts acted on at the same time.
const MAX_CONCURRENT_ACTIONS: usize = 16;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) struct Inner {
    pub(crate) cfg: ContainerConfig,
    auto_isolate: AtomicBool,
    pub(crate) metrics: GuardMetrics,
    pub(crate) inventory: Mutex<InventoryState>,
    pub(crate) api: Mutex<Option<DockerApi>>,
    policies: RwLock<Arc<PolicySet>>,
    policy_error: Mutex<Option<String>>,
    /// The state file was damaged at start (what and where it was moved): health stays Degraded
    /// until an operator reloads, since stopped or disconnected isolations may have been lost.
    state_damage: Mutex<Option<String>>,
    pub(crate) isolations: tokio::sync::Mutex<Isolations>,
    state_path: Option<PathBuf>,
    actions: mpsc::Sender<ActionEvent>,
    alert_tx: mpsc::Sender<AlertEvent>,
    started: AtomicBool,
    /// Wakes the reconciler (`reconcile::wake`).
    pub(crate) reconcile_tx: mpsc::Sender<&'static str>,
    /// Held by a restore for its whole run and by the reconciler per container, so that what a
    /// restore undoes is never taken for an undone isolation.
    pub(crate) restore_gate: tokio::sync::Mutex<()>,
    /// Undone isolations already reported under `on_undone = "report"` (container id, action),
    /// until they are seen holding again: one report per episode, not one per pass.
    pub(crate) reported: Mutex<HashSet<(String, IsolationAction)>>,
    /// The state file was damaged at start: the next pass adopts paused containers.
    pub(crate) rebuild_pending: AtomicBool,
}

/// The `container_guard` module.
pub struct ContainerGuard {
    inner: Arc<Inner>,
    alert_rx: Option<mpsc::Receiver<AlertEvent>>,
    reconcile_rx: Option<mpsc::Receiver<&'static str>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ContainerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerGuard")
            .field("docker_socket", &self.inner.cfg.docker_socket)
            .finish_non_exhaustive()
    }
}

/// Manual control and reloads, for the daemon's control socket.
#[derive(Clone)]
pub struct GuardHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GuardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardHandle").finish_non_exhaustive()
    }
}

impl ContainerGuard {
    /// `data_dir`: where isolations are remembered (`None`: in memory only).
    pub fn new(
        cfg: ContainerConfig,
        data_dir: Option<PathBuf>,
        registry: &prometheus::Registry,
        actions: mpsc::Sender<ActionEvent>,
    ) -> Self {
        let (alert_tx, alert_rx) = mpsc::channel(ALERT_QUEUE_CAPACITY);
        let (reconcile_tx, reconcile_rx) = mpsc::channel(reconcile::WAKE_CAPACITY);
        let (stop, _) = watch::channel(false);
        ContainerGuard {
            inner: Arc::new(Inner {
                auto_isolate: AtomicBool::new(cfg.auto_isolate),
                cfg,
                metrics: GuardMetrics::new(registry),
                inventory: Mutex::new(InventoryState::default()),
                api: Mutex::new(None),
                policies: RwLock::new(Arc::new(PolicySet::default())),
                policy_error: Mutex::new(None),
                state_damage: Mutex::new(None),
                isolations: tokio::sync::Mutex::new(Isolations::in_memory()),
                state_path: data_dir.map(|d| d.join("container-guard").join("isolations.json")),
                actions,
                alert_tx,
                started: AtomicBool::new(false),
                reconcile_tx,
                restore_gate: tokio::sync::Mutex::new(()),
                reported: Mutex::new(HashSet::new()),
                rebuild_pending: AtomicBool::new(false),
            }),
            alert_rx: Some(alert_rx),
            reconcile_rx: Some(reconcile_rx),
            stop,
            tasks: Vec::new(),
        }
    }

    pub fn handle(&self) -> GuardHandle {
        GuardHandle {
            inner: self.inner.clone(),
        }
    }
}

impl Module for ContainerGuard {
    fn name(&self) -> &'static str {
        "container_guard"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let inner = self.inner.clone();
            let set = PolicySet::load_dir(&inner.cfg.policy_path).map_err(|errors| {
                let e = GuardError::Policies {
                    dir: inner.cfg.policy_path.clone(),
                    errors,
                };
                ModuleError::start("container_guard", e)
            })?;
            inner.metrics.policies.set(set.policies().len() as i64);
            *inner.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
            if let Some(path) = &inner.state_path {
                let (reg, corrupt) =
                    Isolations::open(path).map_err(|e| ModuleError::start("container_guard", e))?;
                if let Some(c) = corrupt {
                    inner.metrics.state_corrupt.inc();
                    *lock(&inner.state_damage) = Some(format!(
                        "{} was damaged ({}){}; paused containers are adopted, stopped or disconnected isolations may be lost: check `ironpost-cli containers`, then `ironpost-cli reload`",
                        path.display(),
                        ironpost_core::error_chain(&c.error),
                        c.kept_as
                            .as_deref()
                            .map(|p| format!(", kept as {}", p.display()))
                            .unwrap_or_default()
                    ));
                    inner.rebuild_pending.store(true, Ordering::SeqCst);
                    warn!(file = %path.display(), error = %ironpost_core::error_chain(&c.error),
                        kept_as = %c.kept_as.as_deref().map_or_else(|| "(not moved)".into(), |p| p.display().to_string()),
                        "isolation state damaged; starting from Docker's state: paused containers will be adopted, stopped or disconnected isolations are lost");
                }
                inner.metrics.isolated.set(reg.len() as i64);
                *inner.isolations.lock().await = reg;
            }
            let (Some(rx), Some(wake)) = (self.alert_rx.take(), self.reconcile_rx.take()) else {
                return Err(ModuleError::start(
                    "container_guard",
                    std::io::Error::other("already started once; build a new guard"),
                ));
            };
            self.tasks.push(tokio::spawn(inventory::monitor(
                inner.clone(),
                self.stop.subscribe(),
            )));
            let r = inner.clone();
            self.tasks.push(tokio::spawn(reconcile::schedule(
                wake,
                inner.cfg.reconcile_interval,
                self.stop.subscribe(),
                move |trigger| {
                    let r = r.clone();
                    async move { r.reconcile(trigger).await }
                },
            )));
            self.tasks.push(tokio::spawn(handle_alerts(
                inner.clone(),
                rx,
                self.stop.subscribe(),
            )));
            inner.started.store(true, Ordering::SeqCst);
            info!(
                policies = inner.metrics.policies.get(),
                auto_isolate = inner.auto_isolate.load(Ordering::Relaxed),
                endpoint = %inner.cfg.docker_socket,
                "container guard started"
            );
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop.send(true);
            for t in self.tasks.drain(..) {
                let _ = t.await;
            }
            self.inner.started.store(false, Ordering::SeqCst);
            Ok(())
        })
    }

    fn health(&self) -> Health {
        if !self.inner.started.load(Ordering::SeqCst) {
            return Health::Degraded("not running".into());
        }
        let inv = lock(&self.inner.inventory);
        if let Some(why) = &inv.down {
            return Health::Degraded(format!(
                "Docker unreachable at {}: {why}",
                self.inner.cfg.docker_socket
            ));
        }
        if !inv.ever_connected {
            return Health::Degraded("connecting to Docker".into());
        }
        drop(inv);
        if let Some(e) = lock(&self.inner.policy_error).as_ref() {
            return Health::Degraded(format!(
                "policy reload failed, previous policies still enforced: {e}"
            ));
        }
        if let Some(d) = lock(&self.inner.state_damage).as_ref() {
            return Health::Degraded(d.clone());
        }
        Health::Healthy
    }
}

/// Takes alerts until `stop`; each is handled in its own task.
async fn handle_alerts(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<AlertEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_ACTIONS));
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            a = rx.recv() => {
                let Some(alert) = a else { break };
                let received = Instant::now();
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let inner = inner.clone();
                running.spawn(async move {
                    inner.on_alert(alert, received).await;
                    drop(permit);
                });
                while running.try_join_next().is_some() {}
            }
            _ = stop.changed() => break,
        }
    }
    rx.close();
    let mut left = 0;
    while rx.recv().await.is_some() {
        left += 1;
    }
    inner
        .metrics
        .alerts
        .with_label_values(&["shutdown"])
        .inc_by(left);
    while running.join_next().await.is_some() {}
}

impl Inner {
    pub(crate) fn current_api(&self) -> Result<DockerApi, GuardError> {
        lock(&self.api)
            .clone()
            .ok_or_else(|| GuardError::Unavailable {
                endpoint: self.cfg.docker_socket.clone(),
                reason: lock(&self.inventory)
                    .down
                    .clone()
                    .unwrap_or_else(|| "not connected yet".into()),
            })
    }

    pub(crate) async fn emit(&self, events: &[ActionEvent]) {
        for ev in events {
            self.metrics
                .actions
                .with_label_values(&[ev.action_type.as_str(), ev.outcome.as_str()])
                .inc();
            if self.actions.send(ev.clone()).await.is_err() {
                warn!(trace_id = %ev.trace_id, "action channel closed; action event not stored");
            }
        }
    }

    fn count(&self, outcome: &str) {
        self.metrics.alerts.with_label_values(&[outcome]).inc();
    }

    /// What to do with `alert` (the policy, the container and its link), refreshing a stale
    /// inventory first.
    async fn decide(&self, alert: &AlertEvent) -> Result<(Policy, ContainerInfo, Link), Skip> {
        let stale = lock(&self.inventory)
            .refreshed_at
            .is_none_or(|t| t.elapsed() > self.cfg.container_cache_ttl);
        if stale && let Ok(api) = self.current_api() {
            let _ = self.refresh(&api, "alert").await;
        }
        let policies = self
            .policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let inv = lock(&self.inventory);
        match decide(&policies, alert, &inv.containers, &inv.host_ips) {
            Decision::Act {
                policy,
                container,
                link,
            } => Ok((policy.clone(), container.clone(), link)),
            Decision::Skip(why) => Err(why),
        }
    }

    async fn on_alert(&self, alert: AlertEvent, received: Instant) {
        let (policy, container, link) = match self.decide(&alert).await {
            Ok(t) => t,
            Err(why) => {
                match &why {
                    Skip::Ambiguous(names) => {
                        warn!(trace_id = %alert.trace_id, candidates = ?names, "alert fits several containers; no action");
                    }
                    Skip::WeakEvidence(name) => {
                        info!(trace_id = %alert.trace_id, container = %name, evidence = %alert.evidence,
                            "alert's source is a container's address, on evidence weaker than the policy accepts; no action");
                    }
                    Skip::SelfDirected(name) => {
                        warn!(trace_id = %alert.trace_id, container = %name,
                            "alert's source and destination are the same container: forged source; no action");
                    }
                    Skip::DestinationOnly(_) | Skip::Unrelated | Skip::NoPolicy(_) => {}
                }
                return self.count(why.outcome());
            }
        };
        self.metrics.links.with_label_values(&[link.label()]).inc();
        let action = policy.action;
        let subject = Subject {
            id: container.id.clone(),
            name: container.name.clone(),
        };
        let mut template =
            ActionEvent::for_alert(&alert, action.action_type(), ActionOutcome::Failure);
        template.target = subject.entities();
        // The evidence is what the source address rests on: recorded so that whoever reads the
        // action can weigh a source-address link (`target.rs`).
        template.detail = format!(
            "policy {}; container {} linked by {} ({} of the alert); alert evidence {}",
            policy.name,
            container.name,
            link.as_str(),
            link.mode().as_str(),
            alert.evidence
        );
        if !self.auto_isolate.load(Ordering::Relaxed) {
            template.outcome = ActionOutcome::DryRun;
            template.detail = format!(
                "dry run (auto_isolate = false): would {} container {}; {}",
                action.as_str(),
                container.name,
                template.detail
            );
            self.emit(&[template]).await;
            return self.count("dry_run");
        }
        let alert_id = alert.id.to_string();
        match self
            .isolate(&subject, action, &template, &policy.name, Some(alert_id))
            .await
        {
            Ok(_) => {
                self.metrics
                    .action_latency
                    .with_label_values(&[action.action_type().as_str()])
                    .observe(received.elapsed().as_secs_f64());
                self.count("isolated");
            }
            Err(_) => self.count("failed"),
        }
    }

    /// Runs `action` with retries, emits every attempt's event and remembers a success.
    pub(crate) async fn isolate(
        &self,
        subject: &Subject,
        action: IsolationAction,
        template: &ActionEvent,
        cause: &str,
        alert_id: Option<String>,
    ) -> Result<Vec<ActionEvent>, GuardError> {
        let timeout = self.cfg.action_timeout;
        let (done, events) = executor::with_retries(self.limits(), template, || async {
            let api = self.current_api()?;
            executor::isolate_once(&api, action, &subject.id, timeout).await
        })
        .await;
        self.emit(&events).await;
        let networks = match done {
            Ok(networks) => networks,
            Err(last) => {
                return Err(GuardError::Failed {
                    action: action.action_type().as_str(),
                    container: subject.name.clone(),
                    attempts: events.len(),
                    source: Some(Box::new(last)),
                });
            }
        };
        info!(
            trace_id = %template.trace_id, container = %subject.name, action = action.as_str(),
            attempts = events.len(), "container isolated"
        );
        let mut reg = self.isolations.lock().await;
        reg.record(Isolation {
            container_id: subject.id.clone(),
            container_name: subject.name.clone(),
            actions: vec![action],
            since: chrono::Utc::now(),
            cause: cause.to_owned(),
            alert_id,
            networks,
        })?;
        self.metrics.isolated.set(reg.len() as i64);
        Ok(events)
    }

    fn limits(&self) -> Limits {
        Limits {
            retries: self.cfg.retry_max_attempts,
        }
    }
}

impl GuardHandle {
    /// Where the daemon sends the alerts the guard should consider.
    pub fn alert_input(&self) -> mpsc::Sender<AlertEvent> {
        self.inner.alert_tx.clone()
    }

    /// Re-reads `policy_path`; a broken file keeps the policies in force (and is reported).
    pub fn reload_policies(&self) -> Result<usize, GuardError> {
        let inner = &self.inner;
        match PolicySet::load_dir(&inner.cfg.policy_path) {
            Ok(set) => {
                let n = set.policies().len();
                inner.metrics.policies.set(n as i64);
                *inner.policies.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
                *lock(&inner.policy_error) = None;
                // The operator has looked: a damaged state file no longer degrades health.
                *lock(&inner.state_damage) = None;
                inner
                    .metrics
                    .policy_reloads
                    .with_label_values(&["ok"])
                    .inc();
                info!(policies = n, "isolation policies reloaded");
                Ok(n)
            }
            Err(errors) => {
                let e = GuardError::Policies {
                    dir: inner.cfg.policy_path.clone(),
                    errors,
                };
                let msg = executor::error_chain(&e);
                inner
                    .metrics
                    .policy_reloads
                    .with_label_values(&["error"])
                    .inc();
                warn!(error = %msg, "policy reload rejected; previous policies still enforced");
                *lock(&inner.policy_error) = Some(msg);
                Err(e)
            }
        }
    }

    /// Switches between acting and dry run (`container.auto_isolate`).
    pub fn set_auto_isolate(&self, on: bool) {
        self.inner.auto_isolate.store(on, Ordering::Relaxed);
    }

    /// The containers the guard has isolated and not yet restored.
    pub async fn isolations(&self) -> Vec<Isolation> {
        self.inner.isolations.lock().await.list()
    }

    /// The inventory as last refreshed.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        lock(&self.inner.inventory).containers.clone()
    }

    /// This host's addresses, as last read (for targeting).
    pub fn host_ips(&self) -> Vec<std::net::IpAddr> {
        lock(&self.inner.inventory).host_ips.clone()
    }

    /// Running containers with their root filesystem as the host sees it
    /// (`/proc/<init pid>/root`), for scanning what is inside them.
    pub async fn running_roots(&self) -> Result<Vec<(ContainerInfo, PathBuf)>, GuardError> {
        let api = self.inner.current_api()?;
        let mut out = Vec::new();
        for c in self.containers() {
            if c.state != "running" {
                continue;
            }
            // A container that went away since the last refresh is skipped.
            if let Ok(Some(pid)) = api.inspect(&c.id).await.map(|i| i.pid) {
                out.push((c, PathBuf::from(format!("/proc/{pid}/root"))));
            }
        }
        Ok(out)
    }

    /// Isolates `container` (id or name) now, whatever `auto_isolate` says: an operator asked.
    pub async fn isolate(
        &self,
        container: &str,
        action: IsolationAction,
    ) -> Result<Vec<ActionEvent>, GuardError> {
        let inner = &self.inner;
        let found = inner.current_api()?.inspect(container).await?;
        let subject = Subject {
            id: found.id,
            name: found.name,
        };
        let mut template =
            ActionEvent::manual(action.action_type(), ActionOutcome::Failure, Severity::Info);
        template.target = subject.entities();
        template.detail = format!("manual; container {}", subject.name);
        inner
            .isolate(&subject, action, &template, "manual", None)
            .await
    }

    /// Undoes what the guard did to `container`: re-attaches the networks it was disconnected
    /// from (same aliases and addresses where Docker allows), starts it if it was stopped,
    /// unpauses it. A paused container the guard has no record of is unpaused too.
    pub async fn restore(&self, container: &str) -> Result<Vec<ActionEvent>, GuardError> {
        let inner = &self.inner;
        let _gate = inner.restore_gate.lock().await;
        let found = inner.current_api()?.inspect(container).await?;
        let subject = Subject {
            id: found.id.clone(),
            name: found.name.clone(),
        };
        let record = inner.isolations.lock().await.get(&found.id).cloned();
        if record.is_none() && !found.paused {
            return Err(GuardError::NothingToRestore {
                container: container.to_owned(),
            });
        }
        let template = |t: ActionType, detail: String| {
            let mut ev = ActionEvent::manual(t, ActionOutcome::Failure, Severity::Info);
            ev.target = subject.entities();
            ev.detail = detail;
            ev
        };
        let limits = inner.limits();
        let mut all = Vec::new();
        // The last Docker error of a step that failed, for `GuardError::Failed`.
        let mut last_error = None;
        let mut left = record.clone();
        if let Some(rec) = &record {
            let mut remaining = Vec::new();
            for a in &rec.networks {
                let t = template(
                    ActionType::ContainerNetworkReconnect,
                    format!("restore; network {}", a.network),
                );
                let (ok, evs) = executor::with_retries(limits, &t, || async {
                    executor::reconnect_once(&inner.current_api()?, &subject.id, a).await
                })
                .await;
                all.extend(evs);
                if let Err(e) = ok {
                    last_error = Some(e);
                    remaining.push(a.clone());
                }
            }
            if let Some(l) = &mut left {
                l.networks = remaining;
                l.actions
                    .retain(|a| *a != IsolationAction::NetworkDisconnect);
                if !l.networks.is_empty() {
                    l.actions.push(IsolationAction::NetworkDisconnect);
                }
            }
            if rec.actions.contains(&IsolationAction::Stop) && !found.running {
                let t = template(ActionType::ContainerStart, "restore; start".into());
                let (ok, evs) = executor::with_retries(limits, &t, || async {
                    executor::start_once(&inner.current_api()?, &subject.id).await
                })
                .await;
                all.extend(evs);
                match ok {
                    Ok(()) => {
                        if let Some(l) = &mut left {
                            l.actions.retain(|a| *a != IsolationAction::Stop);
                        }
                    }
                    Err(e) => last_error = Some(e),
                }
            } else if let Some(l) = &mut left {
                l.actions.retain(|a| *a != IsolationAction::Stop);
            }
        }
        let paused = found.paused
            || record
                .as_ref()
                .is_some_and(|r| r.actions.contains(&IsolationAction::Pause));
        if paused {
            let t = template(ActionType::ContainerUnpause, "restore; unpause".into());
            let (ok, evs) = executor::with_retries(limits, &t, || async {
                executor::unpause_once(&inner.current_api()?, &subject.id).await
            })
            .await;
            all.extend(evs);
            match ok {
                Ok(()) => {
                    if let Some(l) = &mut left {
                        l.actions.retain(|a| *a != IsolationAction::Pause);
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        inner.emit(&all).await;
        let left = left.filter(|l| !l.actions.is_empty());
        let complete = left.is_none();
        // A restored action starts a fresh episode should it be isolated and undone again.
        lock(&inner.reported).retain(|(id, a)| {
            *id != subject.id || left.as_ref().is_some_and(|l| l.actions.contains(a))
        });
        {
            let mut reg = inner.isolations.lock().await;
            reg.set(&subject.id, left)?;
            inner.metrics.isolated.set(reg.len() as i64);
        }
        if !complete {
            return Err(GuardError::Failed {
                action: "restore",
                container: subject.name,
                attempts: all.len(),
                source: last_error.map(Box::new),
            });
        }
        info!(container = %subject.name, "container restored");
        Ok(all)
    }
}
