//! One small function per module: build it from its config section, give it the bus senders it
//! produces into, subscribe what it consumes, register what it re-applies on reload, and add the
//! tasks it needs once the daemon runs. [`assemble`] calls them in dependency order (the responder
//! needs the XDP engine's handle, the CVE enrichment the container guard's).

use std::sync::Arc;

use ironpost_anomaly_ids::{FlowEvent, IdsModule};
use ironpost_config::IronpostConfig;
use ironpost_container_guard::{ContainerGuard, GuardHandle};
use ironpost_core::Module;
use ironpost_core::containers::ContainerDirectory;
use ironpost_core::metrics::prometheus;
use ironpost_ebpf_engine::{
    Engine, EngineHandle, EngineOutputs, RESPONSE_CHANNEL_CAPACITY, Responder,
};
use ironpost_fleet::{FleetInput, FleetModule};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use ironpost_log_pipeline::source::process::ProcessRecord;
use ironpost_sbom_scanner::SbomModule;
use ironpost_sbom_scanner::containers::{self, ContainerVulns};
use tokio::sync::{RwLock, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::bus::{Bus, Subscriber};
use crate::shared::{ModuleSlot, Reloader, Unavailable};

/// A task started once the daemon runs; it ends when the stop signal turns true.
pub(crate) type Task = Box<dyn FnOnce(watch::Receiver<bool>) -> JoinHandle<()> + Send>;

/// What the wiring functions build up.
pub(crate) struct Assembly<'a> {
    pub(crate) cfg: &'a IronpostConfig,
    pub(crate) registry: &'a prometheus::Registry,
    pub(crate) bus: Bus,
    /// In start order (stopped in reverse).
    pub(crate) modules: Vec<ModuleSlot>,
    pub(crate) reloaders: Vec<Reloader>,
    /// Started after the modules, awaited after the alert router drained.
    pub(crate) tasks: Vec<Task>,
    pub(crate) ebpf: Option<EngineHandle>,
    pub(crate) guard: Option<GuardHandle>,
    pub(crate) fleet: Option<FleetInput>,
    /// The store's writer (the fleet's central role ingests other nodes' events into it).
    pub(crate) store: Option<ironpost_store::StoreWriter>,
    /// The web console, when `[console] enabled`.
    pub(crate) console: Option<Arc<crate::console::Console>>,
    /// The log pipeline's input for the process monitor's records.
    pub(crate) process_records: Option<mpsc::Sender<ProcessRecord>>,
}

impl Assembly<'_> {
    fn add(&mut self, m: impl Module + 'static) {
        self.modules.push(Arc::new(RwLock::new(Box::new(m))));
    }
}

/// Wires every module the config enables.
pub(crate) fn assemble(a: &mut Assembly<'_>) {
    ebpf(a);
    log_pipeline(a);
    response(a);
    container_guard(a);
    sbom(a);
    container_vulns(a);
    ids(a);
    process_monitor(a);
    // Before the fleet: the central role's ingest hands other nodes' alerts to the console.
    console(a);
    fleet(a);
    unavailable(a);
}

fn ebpf(a: &mut Assembly<'_>) {
    if !a.cfg.ebpf.enabled {
        return;
    }
    let outputs = EngineOutputs {
        packets: a.bus.packets(),
        alerts: a.bus.alerts(),
        actions: a.bus.actions(),
    };
    let engine = Engine::new(
        a.cfg.ebpf.clone(),
        a.cfg.general.data_dir.clone(),
        a.registry,
        outputs,
    );
    a.ebpf = Some(engine.handle());
    a.add(engine);
}

fn log_pipeline(a: &mut Assembly<'_>) {
    if !a.cfg.log_pipeline.enabled {
        return;
    }
    let outputs = PipelineOutputs {
        alerts: a.bus.alerts(),
        logs: a.bus.logs(),
    };
    let pipeline = LogPipeline::new(
        a.cfg.log_pipeline.clone(),
        a.cfg.general.data_dir.clone(),
        a.registry,
        outputs,
    );
    a.bus.subscribe_packets(Subscriber::queue(
        "packet_to_pipeline",
        pipeline.packet_input(),
    ));
    a.process_records = Some(pipeline.process_input());
    let handle = pipeline.handle();
    a.reloaders.push(Reloader {
        name: "log_pipeline",
        keys: &[],
        // Rule files live outside the config: re-read on every reload.
        always: true,
        apply: Box::new(move |_cfg: &IronpostConfig| {
            handle.reload_rules().map(|_| ()).map_err(Into::into)
        }),
    });
    a.add(pipeline);
}

fn response(a: &mut Assembly<'_>) {
    if !a.cfg.response.enabled {
        return;
    }
    let (tx, rx) = mpsc::channel(RESPONSE_CHANNEL_CAPACITY);
    a.bus
        .subscribe_alerts(Subscriber::queue("alert_to_responder", tx));
    let responder = Arc::new(Responder::new(
        a.cfg.response.clone(),
        a.cfg.ebpf.allowlist.clone(),
        a.ebpf.clone(),
        a.bus.actions(),
        a.registry,
    ));
    a.tasks.push(Box::new(move |stop| {
        tokio::spawn(ironpost_ebpf_engine::response::run(responder, rx, stop))
    }));
}

fn container_guard(a: &mut Assembly<'_>) {
    if !a.cfg.container.enabled {
        return;
    }
    let guard = ContainerGuard::new(
        a.cfg.container.clone(),
        Some(a.cfg.general.data_dir.clone()),
        a.registry,
        a.bus.actions(),
    );
    let handle = guard.handle();
    a.bus.subscribe_alerts(Subscriber::queue(
        "alert_to_container_guard",
        handle.alert_input(),
    ));
    a.guard = Some(handle.clone());
    a.reloaders.push(Reloader {
        name: "container_guard",
        keys: &["container.auto_isolate"],
        // Policy files live outside the config: re-read on every reload.
        always: true,
        apply: Box::new(move |cfg: &IronpostConfig| {
            handle.set_auto_isolate(cfg.container.auto_isolate);
            handle.reload_policies().map(|_| ()).map_err(Into::into)
        }),
    });
    a.add(guard);
}

fn sbom(a: &mut Assembly<'_>) {
    if !a.cfg.sbom.enabled {
        return;
    }
    let scanner = SbomModule::new(
        a.cfg.sbom.clone(),
        &a.cfg.general.data_dir,
        a.registry,
        a.bus.alerts(),
    );
    a.add(scanner);
}

/// CVE-aware severity: needs both the SBOM scanner's database and the guard's inventory.
fn container_vulns(a: &mut Assembly<'_>) {
    let Some(guard) = a.guard.clone() else {
        return;
    };
    if !(a.cfg.sbom.enabled && a.cfg.sbom.raise_container_alerts) {
        return;
    }
    let directory: Arc<dyn ContainerDirectory> = Arc::new(guard);
    let vulns = Arc::new(
        ContainerVulns::new(directory, a.registry).with_images(a.cfg.sbom.docker_socket.clone()),
    );
    let enrich = vulns.clone();
    a.bus
        .enrich_alerts(Box::new(move |alert| enrich.raise(alert)));
    let db = ironpost_sbom_scanner::db_dir(&a.cfg.sbom, &a.cfg.general.data_dir);
    a.tasks.push(Box::new(move |stop| {
        tokio::spawn(containers::run(vulns, db, stop))
    }));
}

fn ids(a: &mut Assembly<'_>) {
    if !a.cfg.ids.enabled {
        return;
    }
    let ids = IdsModule::new(a.cfg.ids.clone(), a.registry, a.bus.alerts());
    let input = ids.flow_input();
    // TCP SYNs seen by the XDP engine are the IDS's connection attempts.
    a.bus
        .subscribe_packets(Subscriber::new("packet_to_ids", move |p| {
            FlowEvent::from_syn(p).is_none_or(|f| input.submit(f))
        }));
    let handle = ids.handle();
    a.reloaders.push(Reloader {
        name: "ids",
        keys: &["ids.threshold"],
        always: false,
        apply: Box::new(move |cfg: &IronpostConfig| {
            handle.set_threshold(cfg.ids.threshold);
            Ok(())
        }),
    });
    a.add(ids);
}

/// Kernel process telemetry (`process.rs`): its records go to the log pipeline's rules, the
/// guard's inventory names their containers.
fn process_monitor(a: &mut Assembly<'_>) {
    if !a.cfg.process_monitor.enabled {
        return;
    }
    let module = crate::process::ProcessModule::new(
        a.cfg.process_monitor.clone(),
        a.registry,
        a.guard.clone(),
        a.process_records.clone(),
    );
    a.add(module);
}

/// Fleet mode: this node's `ip_block` actions are published, other nodes' decisions applied to
/// the XDP engine (config validation requires it).
fn fleet(a: &mut Assembly<'_>) {
    if !a.cfg.fleet.enabled {
        return;
    }
    let Some(ebpf) = a.ebpf.clone() else {
        return;
    };
    let status = crate::fleet::DaemonStatus {
        modules: a.modules.clone(),
        engine: ebpf.clone(),
    };
    let module = FleetModule::new(
        a.cfg.fleet.clone(),
        a.registry,
        Arc::new(crate::fleet::EngineEnforcer(ebpf)),
        Arc::new(status),
    );
    // Central role: other nodes' alerts and actions into this daemon's store.
    let module = match (a.cfg.fleet.role, a.store.clone()) {
        (ironpost_fleet::Role::Central, Some(w)) => {
            module.with_ingest(Arc::new(crate::fleet::StoreIngest {
                store: w,
                console: a.console.clone(),
            }))
        }
        _ => module,
    };
    let input = module.input();
    let actions = input.clone();
    a.bus
        .subscribe_actions(Subscriber::new("action_to_fleet", move |e| {
            actions.action(e)
        }));
    // Agents publish their alerts for the central (after the store has them queued).
    let alerts = input.clone();
    a.bus
        .subscribe_alerts(Subscriber::new("alert_to_fleet", move |e| alerts.alert(e)));
    a.fleet = Some(input);
    a.add(module);
}

/// The web console: sees every alert (its live stream, never waited for), audits its mutations
/// on the actions channel, samples the XDP engine's counters for the overview's rates.
fn console(a: &mut Assembly<'_>) {
    if !a.cfg.console.enabled {
        return;
    }
    let console = crate::console::Console::new(
        a.cfg.console.clone(),
        crate::console::Site {
            tls: a.cfg.http.tls().is_some(),
            node: a.cfg.fleet.node(),
            central: a.cfg.fleet.enabled && a.cfg.fleet.role == ironpost_fleet::Role::Central,
        },
        a.cfg.storage().clone(),
        a.cfg.general.data_dir.clone(),
        a.registry,
        a.bus.actions(),
    );
    let live = console.clone();
    a.bus
        .subscribe_alerts(Subscriber::new("alert_to_console", move |alert| {
            live.publish(alert);
            true
        }));
    if let Some(engine) = a.ebpf.clone() {
        let sampler = console.clone();
        a.tasks.push(Box::new(move |stop| {
            tokio::spawn(crate::console::sample_traffic(sampler, engine, stop))
        }));
    }
    a.console = Some(console.clone());
    a.add(crate::console::ConsoleModule(console));
}

/// A module switched on in the config whose implementation is not part of this build is listed
/// as degraded instead of being silently ignored.
fn unavailable(a: &mut Assembly<'_>) {
    const BUILT: [&str; 7] = [
        "ebpf",
        "log_pipeline",
        "container_guard",
        "sbom",
        "ids",
        "fleet",
        "process_monitor",
    ];
    for name in a.cfg.enabled_modules() {
        if !BUILT.contains(&name) {
            warn!(
                module = name,
                "module enabled in the config but not part of this build; reported as degraded"
            );
            a.add(Unavailable(name));
        }
    }
}
