//! State the daemon's listeners share once it runs: labels and start time for `status`, the
//! metrics registry and the daemon's own counters, the module slots (for health), the bus's
//! senders, the handles the control socket drives (XDP engine, container guard), and the config
//! reload (which component re-applies which keys).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use ironpost_config::{ConfigSource, IronpostConfig};
use ironpost_container_guard::GuardHandle;
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{BoxFuture, Health, Module};
use ironpost_ebpf_engine::EngineHandle;
use ironpost_proto::{ChannelStatus, ModuleStatus, PROTOCOL_VERSION, Response, StatusReport};
use tokio::sync::RwLock;
use tracing::{error, info, warn};

use crate::bus::BusHandle;
use crate::logging::LogHandle;

/// What a component re-applies on reload: the config keys it owns (a key, or a prefix of dotted
/// keys) and how to apply the new config. Components register these when the daemon wires them;
/// every other changed key is reported as needing a restart.
pub(crate) struct Reloader {
    /// Short name for reports (`log_pipeline`).
    pub(crate) name: &'static str,
    pub(crate) keys: &'static [&'static str],
    /// Re-apply on every reload, changed keys or not (rule files live outside the config).
    pub(crate) always: bool,
    pub(crate) apply: ApplyFn,
}

pub(crate) type ApplyFn = Box<dyn Fn(&IronpostConfig) -> Result<(), ReloadError> + Send>;

/// Why a component could not apply a new config: its own typed error (printed with its chain).
pub(crate) type ReloadError = Box<dyn std::error::Error + Send + Sync>;

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

pub(crate) type ModuleSlot = Arc<RwLock<Box<dyn Module>>>;

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
    pub(crate) fn new(r: &prometheus::Registry, started_at: DateTime<Utc>) -> Self {
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
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) started: Instant,
    pub(crate) config_label: String,
    pub(crate) storage_label: String,
    pub(crate) http_addr: OnceLock<SocketAddr>,
    pub(crate) registry: prometheus::Registry,
    pub(crate) metrics: DaemonMetrics,
    pub(crate) store: ModuleSlot,
    pub(crate) modules: Vec<ModuleSlot>,
    pub(crate) bus: BusHandle,
    /// The XDP engine, when `[ebpf] enabled`.
    pub(crate) ebpf: Option<EngineHandle>,
    /// The container guard, when `[container] enabled`.
    pub(crate) guard: Option<GuardHandle>,
    /// The fleet module's input, when `[fleet] enabled`: operator unblocks go fleet-wide.
    pub(crate) fleet: Option<ironpost_fleet::FleetInput>,
    /// The web console, when `[console] enabled` (its routes are served only then).
    pub(crate) console: Option<Arc<crate::console::Console>>,
    pub(crate) reload: Mutex<ReloadState>,
}

pub(crate) struct ReloadState {
    pub(crate) source: ConfigSource,
    /// The config the daemon started with: keys that differ from it and no reloader owns need a
    /// restart.
    pub(crate) started: IronpostConfig,
    /// The config last applied.
    pub(crate) current: IronpostConfig,
    pub(crate) reloaders: Vec<Reloader>,
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
        self.bus.channels()
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
            protocol: PROTOCOL_VERSION,
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
                    message: format!(
                        "reload rejected, running config kept: {}",
                        ironpost_core::error_chain(&e)
                    ),
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
                    let e = ironpost_core::error_chain(e.as_ref());
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
pub(crate) fn log_reloader(log: LogHandle) -> Reloader {
    Reloader {
        name: "logging",
        keys: &["general.log_level"],
        always: false,
        apply: Box::new(move |cfg: &IronpostConfig| Ok(log.set_level(cfg.general.log_level)?)),
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
pub(crate) struct Unavailable(pub(crate) &'static str);

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

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::config::LogLevel;

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
