//! The daemon's assembly: load config, take the PID file, open the store, start the modules that
//! are enabled, wire them with bounded channels, serve HTTP and the control socket, and react to
//! signals.
//!
//! Start order: PID file → store → modules (config order) → alert/action routers → HTTP → control
//! socket. Stop order (SIGTERM/SIGINT, bounded by `general.shutdown_timeout_secs`): stop accepting
//! control requests and HTTP → stop modules in reverse order (producers flush into the channels)
//! → routers close their channels and drain what is queued into the store → stop the store (it
//! writes everything it accepted) → remove the control socket → release the PID file.
//! SIGHUP (or `ironpost-cli reload`) re-reads the config; an invalid file leaves the running config
//! untouched.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use ironpost_anomaly_ids::IdsModule;
use ironpost_container_guard::{ContainerGuard, GuardHandle};
use ironpost_core::config::{LogFormat, LogLevel};
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{ActionEvent, AlertEvent, BoxFuture, Health, LogEvent, Module, PacketEvent};
use ironpost_ebpf_engine::{Engine, EngineHandle, EngineOutputs};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use ironpost_store::Store;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{RwLock, mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{ConfigSource, IronpostConfig};
use crate::control::{self, ChannelStatus, ModuleStatus, Response, StatusReport};
use crate::cve::ContainerVulns;
use crate::exit::{Exit, ExitError, WithExit};
use crate::logging::{self, LogHandle};
use crate::pidfile::PidFile;
use crate::response::{self, RESPONSE_CHANNEL_CAPACITY, Responder};
use crate::routes::{route_actions, route_alerts, route_logs, route_packets};

/// Capacity of the channel every alert producer sends into.
pub const ALERT_CHANNEL_CAPACITY: usize = 4096;
/// Capacity of the channel every responder sends its `ActionEvent`s into.
pub const ACTION_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the channel of `PacketEvent`s from the XDP engine (when full, events are counted as
/// lost in `ironpost_ebpf_events_lost_total{reason="channel_full"}`).
pub const PACKET_CHANNEL_CAPACITY: usize = 8192;
/// Capacity of the channel of `LogEvent`s (lines that matched a rule, stored as evidence; when
/// full, counted in `ironpost_log_evidence_dropped_total`).
pub const LOG_CHANNEL_CAPACITY: usize = 8192;

/// What a component re-applies on reload: the config keys it owns (a key, or a prefix of dotted
/// keys) and how to apply the new config. Components register these when the daemon wires them;
/// every other changed key is reported as needing a restart.
struct Reloader {
    /// Short name for reports (`log_pipeline`).
    name: &'static str,
    keys: &'static [&'static str],
    /// Re-apply on every reload, changed keys or not (rule files live outside the config).
    always: bool,
    apply: ApplyFn,
}

type ApplyFn = Box<dyn Fn(&IronpostConfig) -> Result<(), String> + Send>;

impl Reloader {
    fn owns(&self, key: &str) -> bool {
        self.keys.iter().any(|k| {
            key == *k
                || key
                    .strip_prefix(k)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        })
    }
}

/// Runtime knobs given on the command line; they win over the config file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub source: ConfigSource,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<LogLevel>,
    pub pid_file: Option<PathBuf>,
}

type ModuleSlot = Arc<RwLock<Box<dyn Module>>>;

/// Counters and gauges of the daemon itself.
pub(crate) struct DaemonMetrics {
    pub(crate) uptime: prometheus::Gauge,
    pub(crate) alerts: prometheus::IntCounterVec,
    pub(crate) actions: prometheus::IntCounterVec,
    pub(crate) dropped: prometheus::IntCounterVec,
    pub(crate) channel_capacity: prometheus::IntGaugeVec,
    pub(crate) channel_queued: prometheus::IntGaugeVec,
    pub(crate) module_health: prometheus::IntGaugeVec,
    pub(crate) reloads: prometheus::IntCounterVec,
    /// Alerts received from Alertmanager's webhook (`POST /api/v1/notify`).
    pub(crate) notifier_alerts: prometheus::IntCounter,
}

impl DaemonMetrics {
    fn new(r: &prometheus::Registry, started_at: DateTime<Utc>) -> Self {
        let build = metrics::int_gauge_vec(
            r,
            "build_info",
            "Build information; always 1.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let start = metrics::gauge(r, "start_time_seconds", "Unix time the daemon started.");
        start.set(started_at.timestamp_micros() as f64 / 1e6);
        DaemonMetrics {
            uptime: metrics::gauge(r, "uptime_seconds", "Seconds since the daemon started."),
            alerts: metrics::int_counter_vec(
                r,
                "alerts_total",
                "Alerts received by the daemon.",
                &["severity", "source"],
            ),
            actions: metrics::int_counter_vec(
                r,
                "actions_total",
                "Response actions recorded.",
                &["action_type", "outcome"],
            ),
            dropped: metrics::int_counter_vec(
                r,
                "events_dropped_total",
                "Events that could not be handed to the store (it had stopped).",
                &["kind"],
            ),
            channel_capacity: metrics::int_gauge_vec(
                r,
                "channel_capacity",
                "Capacity of each bounded channel.",
                &["channel"],
            ),
            channel_queued: metrics::int_gauge_vec(
                r,
                "channel_queued",
                "Messages waiting in each bounded channel.",
                &["channel"],
            ),
            module_health: metrics::int_gauge_vec(
                r,
                "module_health",
                "Module health: 0 healthy, 1 degraded, 2 unhealthy.",
                &["module"],
            ),
            reloads: metrics::int_counter_vec(
                r,
                "config_reloads_total",
                "Config reloads by result.",
                &["result"],
            ),
            notifier_alerts: metrics::int_counter(
                r,
                "notifier_alerts_total",
                "Alerts received on the Alertmanager webhook (POST /api/v1/notify).",
            ),
        }
    }
}

/// State shared by the HTTP listener, the control socket and the signal loop.
pub(crate) struct Shared {
    started_at: DateTime<Utc>,
    started: Instant,
    config_label: String,
    storage_label: String,
    http_addr: OnceLock<SocketAddr>,
    registry: prometheus::Registry,
    pub(crate) metrics: DaemonMetrics,
    store: ModuleSlot,
    modules: Vec<ModuleSlot>,
    pub(crate) alert_tx: mpsc::Sender<AlertEvent>,
    action_tx: mpsc::Sender<ActionEvent>,
    packet_tx: mpsc::Sender<PacketEvent>,
    log_tx: mpsc::Sender<LogEvent>,
    /// The XDP engine, when `[ebpf] enabled`.
    pub(crate) ebpf: Option<EngineHandle>,
    /// The container guard, when `[container] enabled`.
    pub(crate) guard: Option<GuardHandle>,
    /// Vulnerable packages per container, when both the guard and the SBOM scanner run.
    pub(crate) cve: Option<Arc<ContainerVulns>>,
    reload: Mutex<ReloadState>,
}

struct ReloadState {
    source: ConfigSource,
    /// The config the daemon started with: keys that differ from it and no reloader owns need a
    /// restart.
    started: IronpostConfig,
    /// The config last applied.
    current: IronpostConfig,
    reloaders: Vec<Reloader>,
}

fn slot_health(name: &str, slot: &ModuleSlot) -> ModuleStatus {
    let health = match slot.try_read() {
        Ok(m) => m.health(),
        Err(_) => Health::Degraded("starting or stopping".into()),
    };
    ModuleStatus {
        name: name.to_owned(),
        health,
    }
}

impl Shared {
    pub(crate) fn module_health(&self) -> Vec<ModuleStatus> {
        let mut out = vec![slot_health("store", &self.store)];
        for m in &self.modules {
            let name = m.try_read().map(|m| m.name()).unwrap_or("module");
            out.push(slot_health(name, m));
        }
        out
    }

    fn channels(&self) -> Vec<ChannelStatus> {
        let status = |name: &str, cap: usize, free: usize| ChannelStatus {
            name: name.into(),
            capacity: cap,
            queued: cap - free.min(cap),
        };
        vec![
            status("alerts", ALERT_CHANNEL_CAPACITY, self.alert_tx.capacity()),
            status(
                "actions",
                ACTION_CHANNEL_CAPACITY,
                self.action_tx.capacity(),
            ),
            status(
                "packets",
                PACKET_CHANNEL_CAPACITY,
                self.packet_tx.capacity(),
            ),
            status("logs", LOG_CHANNEL_CAPACITY, self.log_tx.capacity()),
        ]
    }

    pub(crate) fn render_metrics(&self) -> String {
        self.metrics
            .uptime
            .set(self.started.elapsed().as_secs_f64());
        for c in self.channels() {
            self.metrics
                .channel_capacity
                .with_label_values(&[&c.name])
                .set(c.capacity as i64);
            self.metrics
                .channel_queued
                .with_label_values(&[&c.name])
                .set(c.queued as i64);
        }
        for m in self.module_health() {
            let v = match m.health {
                Health::Healthy => 0,
                Health::Degraded(_) => 1,
                Health::Unhealthy(_) => 2,
            };
            self.metrics
                .module_health
                .with_label_values(&[&m.name])
                .set(v);
        }
        metrics::render(&self.registry)
    }

    pub(crate) fn status(&self) -> StatusReport {
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started_at: self.started_at,
            uptime_secs: self.started.elapsed().as_secs(),
            config: self.config_label.clone(),
            http_listen: self
                .http_addr
                .get()
                .map(ToString::to_string)
                .unwrap_or_default(),
            storage: self.storage_label.clone(),
            modules: self.module_health(),
            channels: self.channels(),
        }
    }

    /// Re-reads the config; applies reloadable keys, reports the others.
    pub(crate) fn reload(&self) -> Response {
        let mut state = match self.reload.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let new = match state.source.load() {
            Ok(l) => l.value,
            Err(e) => {
                self.metrics.reloads.with_label_values(&["error"]).inc();
                error!(error = %e, "reload rejected; keeping the running config");
                return Response::Error {
                    message: format!("reload rejected, running config kept: {e}"),
                };
            }
        };
        let changed = changed_keys(&state.current, &new);
        let mut applied = Vec::new();
        let mut errors = Vec::new();
        for r in &state.reloaders {
            let mine: Vec<&String> = changed.iter().filter(|k| r.owns(k)).collect();
            if mine.is_empty() && !r.always {
                continue;
            }
            match (r.apply)(&new) {
                Ok(()) => applied.extend(mine.into_iter().cloned()),
                Err(e) => {
                    warn!(component = r.name, keys = ?mine, error = %e, "reload not applied");
                    errors.push(format!("{}: {e}", r.name));
                }
            }
        }
        let restart_required: Vec<String> = changed_keys(&state.started, &new)
            .into_iter()
            .filter(|k| !applied.contains(k) && !state.reloaders.iter().any(|r| r.owns(k)))
            .collect();
        state.current = new;
        self.metrics.reloads.with_label_values(&["ok"]).inc();
        info!(?applied, ?restart_required, ?errors, "config reloaded");
        Response::Reloaded {
            applied,
            restart_required,
            errors,
        }
    }
}

/// The log level is the daemon's own reloadable setting.
fn log_reloader(log: LogHandle) -> Reloader {
    Reloader {
        name: "logging",
        keys: &["general.log_level"],
        always: false,
        apply: Box::new(move |cfg: &IronpostConfig| log.set_level(cfg.general.log_level)),
    }
}

/// Dotted keys whose values differ between two configs.
fn changed_keys(old: &IronpostConfig, new: &IronpostConfig) -> Vec<String> {
    fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    if let (Ok(x), Ok(y)) = (toml::Value::try_from(old), toml::Value::try_from(new)) {
        flatten("", &x, &mut a);
        flatten("", &y, &mut b);
    }
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// A module switched on in the config whose implementation is not part of this build. It is
/// listed as degraded instead of being silently ignored.
struct Unavailable(&'static str);

impl Module for Unavailable {
    fn name(&self) -> &'static str {
        self.0
    }
    fn start(&mut self) -> BoxFuture<'_, Result<(), ironpost_core::ModuleError>> {
        Box::pin(async { Ok(()) })
    }
    fn stop(&mut self) -> BoxFuture<'_, Result<(), ironpost_core::ModuleError>> {
        Box::pin(async { Ok(()) })
    }
    fn health(&self) -> Health {
        Health::Degraded(
            "enabled in the config, but this module is not part of this build yet".into(),
        )
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the exit code.
pub async fn run(opts: RunOptions) -> Result<Exit, ExitError> {
    let loaded = opts.source.load().exit_with(Exit::Config)?;
    let mut cfg = loaded.value;
    if let Some(f) = opts.log_format {
        cfg.general.log_format = f;
    }
    if let Some(l) = opts.log_level {
        cfg.general.log_level = l;
    }
    if let Some(p) = &opts.pid_file {
        cfg.general.pid_file = p.clone();
    }
    let log = logging::init(cfg.general.log_level, cfg.general.log_format);
    let config_label = loaded.origin.to_string();
    info!(
        config = %config_label,
        overrides = ?loaded.overrides.iter().map(|o| o.var.as_str()).collect::<Vec<_>>(),
        version = env!("CARGO_PKG_VERSION"),
        "ironpost-daemon starting"
    );

    let pid = PidFile::acquire(&cfg.general.pid_file).exit_with(Exit::Daemon)?;
    if let Some(stale) = &pid.stale_pid {
        warn!(pid_file = %pid.path().display(), stale_pid = %stale, "took over a PID file left by a daemon that is not running");
    }
    std::fs::create_dir_all(&cfg.general.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.general.data_dir.display()))
        .exit_with(Exit::Failure)?;

    let started_at = Utc::now();
    let registry = metrics::new_registry();
    let daemon_metrics = DaemonMetrics::new(&registry, started_at);

    let storage = cfg.storage().clone();
    let storage_label = match &storage.postgres_url {
        Some(url) => format!("postgresql ({})", ironpost_core::config::redact_url(url)),
        None => format!(
            "sqlite ({})",
            cfg.general.data_dir.join(&storage.sqlite_path).display()
        ),
    };
    let mut store = Store::open(&storage, &cfg.general.data_dir, &registry)
        .await
        .context("cannot open the event store")
        .exit_with(Exit::Storage)?;
    let writer = store.writer();
    store
        .start()
        .await
        .context("cannot start the event store")
        .exit_with(Exit::Storage)?;
    let store: ModuleSlot = Arc::new(RwLock::new(Box::new(store)));

    let (alert_tx, alert_rx) = mpsc::channel(ALERT_CHANNEL_CAPACITY);
    let (action_tx, action_rx) = mpsc::channel(ACTION_CHANNEL_CAPACITY);
    let (packet_tx, packet_rx) = mpsc::channel(PACKET_CHANNEL_CAPACITY);
    let (log_tx, log_rx) = mpsc::channel(LOG_CHANNEL_CAPACITY);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut reloaders = vec![log_reloader(log)];

    let mut modules: Vec<ModuleSlot> = Vec::new();
    let mut ebpf = None;
    if cfg.ebpf.enabled {
        let engine = Engine::new(
            cfg.ebpf.clone(),
            cfg.general.data_dir.clone(),
            &registry,
            EngineOutputs {
                packets: packet_tx.clone(),
                alerts: alert_tx.clone(),
                actions: action_tx.clone(),
            },
        );
        ebpf = Some(engine.handle());
        modules.push(Arc::new(RwLock::new(Box::new(engine))));
    }
    let mut pipeline_packets = None;
    if cfg.log_pipeline.enabled {
        let pipeline = LogPipeline::new(
            cfg.log_pipeline.clone(),
            cfg.general.data_dir.clone(),
            &registry,
            PipelineOutputs {
                alerts: alert_tx.clone(),
                logs: log_tx.clone(),
            },
        );
        pipeline_packets = Some(pipeline.packet_input());
        let handle = pipeline.handle();
        reloaders.push(Reloader {
            name: "log_pipeline",
            keys: &[],
            always: true,
            apply: Box::new(move |_cfg: &IronpostConfig| handle.reload_rules().map(|_| ())),
        });
        modules.push(Arc::new(RwLock::new(Box::new(pipeline))));
    }
    let mut fanout: Vec<(&'static str, mpsc::Sender<AlertEvent>)> = Vec::new();
    let mut responder = None;
    if cfg.response.enabled {
        let (tx, rx) = mpsc::channel(RESPONSE_CHANNEL_CAPACITY);
        fanout.push(("alert_to_responder", tx));
        let r = Arc::new(Responder {
            cfg: cfg.response.clone(),
            ebpf_allowlist: cfg.ebpf.allowlist.clone(),
            ebpf: ebpf.clone(),
            actions: action_tx.clone(),
            decisions: Responder::metrics(&registry),
        });
        responder = Some((r, rx));
    }
    let mut guard = None;
    if cfg.container.enabled {
        let g = ContainerGuard::new(
            cfg.container.clone(),
            Some(cfg.general.data_dir.clone()),
            &registry,
            action_tx.clone(),
        );
        let handle = g.handle();
        fanout.push(("alert_to_container_guard", handle.alert_input()));
        guard = Some(handle.clone());
        reloaders.push(Reloader {
            name: "container_guard",
            keys: &["container.auto_isolate"],
            always: true,
            apply: Box::new(move |cfg: &IronpostConfig| {
                handle.set_auto_isolate(cfg.container.auto_isolate);
                handle.reload_policies().map(|_| ())
            }),
        });
        modules.push(Arc::new(RwLock::new(Box::new(g))));
    }
    if cfg.sbom.enabled {
        let scanner = ironpost_sbom_scanner::SbomModule::new(
            cfg.sbom.clone(),
            &cfg.general.data_dir,
            &registry,
            alert_tx.clone(),
        );
        modules.push(Arc::new(RwLock::new(Box::new(scanner))));
    }
    let cve = match (&guard, cfg.sbom.enabled && cfg.sbom.raise_container_alerts) {
        (Some(g), true) => Some(Arc::new(ContainerVulns::new(g.clone(), &registry))),
        _ => None,
    };

    let mut ids_input = None;
    if cfg.ids.enabled {
        let ids = IdsModule::new(cfg.ids.clone(), &registry, alert_tx.clone());
        ids_input = Some(ids.flow_input());
        let handle = ids.handle();
        reloaders.push(Reloader {
            name: "ids",
            keys: &["ids.threshold"],
            always: false,
            apply: Box::new(move |cfg: &IronpostConfig| {
                handle.set_threshold(cfg.ids.threshold);
                Ok(())
            }),
        });
        modules.push(Arc::new(RwLock::new(Box::new(ids))));
    }
    for name in cfg
        .enabled_modules()
        .into_iter()
        .filter(|m| !["ebpf", "log_pipeline", "container_guard", "sbom", "ids"].contains(m))
    {
        warn!(
            module = name,
            "module enabled in the config but not part of this build; reported as degraded"
        );
        modules.push(Arc::new(RwLock::new(Box::new(Unavailable(name)))));
    }
    for m in &modules {
        let mut m = m.write().await;
        let name = m.name();
        m.start()
            .await
            .with_context(|| format!("cannot start module {name}"))
            .exit_with(Exit::Failure)?;
    }

    let http_listener = tokio::net::TcpListener::bind(cfg.general.http_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (general.http_listen)",
                cfg.general.http_listen
            )
        })
        .exit_with(Exit::Failure)?;
    let control_listener = control::bind(&cfg.general.control_socket)
        .await
        .with_context(|| {
            format!(
                "cannot bind control socket {}",
                cfg.general.control_socket.display()
            )
        })
        .exit_with(Exit::Daemon)?;

    let shared = Arc::new(Shared {
        started_at,
        started: Instant::now(),
        config_label,
        storage_label,
        http_addr: OnceLock::new(),
        registry,
        metrics: daemon_metrics,
        store: store.clone(),
        modules: modules.clone(),
        alert_tx,
        action_tx,
        packet_tx,
        log_tx,
        ebpf,
        guard,
        cve: cve.clone(),
        reload: Mutex::new(ReloadState {
            source: opts.source.clone(),
            started: cfg.clone(),
            current: cfg.clone(),
            reloaders,
        }),
    });
    if let Ok(addr) = http_listener.local_addr() {
        let _ = shared.http_addr.set(addr);
    }

    let alert_router = tokio::spawn(route_alerts(
        alert_rx,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
        fanout,
    ));
    let cve_task = cve.map(|c| {
        let db = ironpost_sbom_scanner::db_dir(&cfg.sbom, &cfg.general.data_dir);
        tokio::spawn(crate::cve::run(c, db, stop_rx.clone()))
    });
    let responder_task =
        responder.map(|(r, rx)| tokio::spawn(response::run(r, rx, stop_rx.clone())));
    let log_router = tokio::spawn(route_logs(
        log_rx,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
    ));
    let packet_router = tokio::spawn(route_packets(
        packet_rx,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
        pipeline_packets,
        ids_input,
    ));
    let action_router = tokio::spawn(route_actions(
        action_rx,
        writer,
        shared.clone(),
        stop_rx.clone(),
    ));

    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(
        axum::serve(http_listener, crate::http::router(shared.clone()))
            .with_graceful_shutdown(async move {
                control::stopped(&mut http_stop).await;
            })
            .into_future(),
    );
    let control_task = tokio::spawn(control::serve(
        control_listener,
        shared.clone(),
        stop_rx.clone(),
    ));
    info!(
        http = %shared.http_addr.get().map(ToString::to_string).unwrap_or_default(),
        control_socket = %cfg.general.control_socket.display(),
        storage = %shared.storage_label,
        "ironpost-daemon running"
    );

    let mut term = signal(SignalKind::terminate())
        .context("SIGTERM handler")
        .exit_with(Exit::Failure)?;
    let mut int = signal(SignalKind::interrupt())
        .context("SIGINT handler")
        .exit_with(Exit::Failure)?;
    let mut hup = signal(SignalKind::hangup())
        .context("SIGHUP handler")
        .exit_with(Exit::Failure)?;
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => { shared.reload(); }
        }
    }

    let drain = async {
        let _ = stop_tx.send(true);
        let _ = control_task.await;
        let _ = http.await;
        for m in modules.iter().rev() {
            let mut m = m.write().await;
            if let Err(e) = m.stop().await {
                error!(error = %e, "module stop failed");
            }
        }
        let _ = alert_router.await;
        if let Some(t) = responder_task {
            let _ = t.await;
        }
        if let Some(t) = cve_task {
            let _ = t.await;
        }
        let _ = action_router.await;
        let _ = packet_router.await;
        let _ = log_router.await;
        store.write().await.stop().await
    };
    let result = tokio::time::timeout(cfg.general.shutdown_timeout, drain).await;
    let _ = std::fs::remove_file(&cfg.general.control_socket);
    drop(pid);
    match result {
        Ok(Ok(())) => {
            info!("ironpost-daemon stopped");
            Ok(Exit::Ok)
        }
        Ok(Err(e)) => Err(e).context("store did not stop cleanly").exit_with(Exit::Failure),
        Err(_) => Err(anyhow::anyhow!(
            "shutdown did not finish within {}s (general.shutdown_timeout_secs); events still queued may be lost",
            cfg.general.shutdown_timeout.as_secs()
        ))
        .exit_with(Exit::Failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_lists_leaf_differences() {
        let a = IronpostConfig::default();
        let mut b = a.clone();
        b.general.log_level = LogLevel::Debug;
        b.ebpf.interface = "veth0".into();
        assert_eq!(
            changed_keys(&a, &b),
            ["ebpf.interface", "general.log_level"]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }
}
