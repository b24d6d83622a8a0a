//! The daemon's lifecycle: [`run`] loads the config, installs logging, takes the PID file, binds
//! the listeners and calls [`serve`], which assembles the modules (`wiring.rs`) on the event bus
//! (`bus.rs`) and runs until its shutdown future resolves. Tests call [`serve`] directly with
//! listeners bound to port 0 and a temporary control socket (the mini-redis pattern).
//!
//! Start order: PID file → listeners → store → modules (config order) → routers and module tasks
//! → HTTP → control socket. Stop order (shutdown, bounded by `general.shutdown_timeout_secs`):
//! stop accepting control requests and HTTP → stop modules in reverse order (producers flush into
//! the channels) → routers close their channels and drain what is queued into the store → module
//! tasks end → stop the store (it writes everything it accepted) → remove the control socket →
//! release the PID file. SIGHUP (or `ironpost-cli reload`) re-reads the config; an invalid file
//! leaves the running config untouched.

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use ironpost_config::{ConfigSource, IronpostConfig};
use ironpost_core::Module;
use ironpost_core::config::{GeneralConfig, LogFormat, LogLevel};
use ironpost_core::metrics;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::server as control;
use ironpost_store::Store;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{RwLock, watch};
use tracing::{error, info};

use crate::bus::Bus;
use crate::logging;
use crate::pidfile::PidFile;
use crate::routes::{route_actions, route_alerts, route_logs, route_packets};
use crate::shared::{DaemonMetrics, ModuleSlot, ReloadState, Shared, log_reloader};
use crate::wiring::{Assembly, assemble};

/// Runtime knobs given on the command line; they win over the config file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub source: ConfigSource,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<LogLevel>,
    pub pid_file: Option<PathBuf>,
}

/// The sockets the daemon serves on: HTTP (health, metrics, the Alertmanager webhook, the web
/// console; TLS with `[http] tls_cert`) and the control socket (mode 0600).
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub control: UnixListener,
}

impl Listeners {
    /// Binds `general.http_listen` and `general.control_socket`.
    pub async fn bind(general: &GeneralConfig) -> Result<Self, ExitError> {
        let http = TcpListener::bind(general.http_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (general.http_listen)",
                    general.http_listen
                )
            })
            .exit_with(Exit::Failure)?;
        let control = control::bind(&general.control_socket)
            .await
            .with_context(|| {
                format!(
                    "cannot bind control socket {}",
                    general.control_socket.display()
                )
            })
            .exit_with(Exit::Daemon)?;
        Ok(Listeners { http, control })
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
    logging::init(cfg.general.log_level, cfg.general.log_format);
    info!(
        config = %loaded.origin,
        overrides = ?loaded.overrides.iter().map(|o| o.var.as_str()).collect::<Vec<_>>(),
        version = env!("CARGO_PKG_VERSION"),
        "ironpost-daemon starting"
    );
    let pid = PidFile::acquire(&cfg.general.pid_file).exit_with(Exit::Daemon)?;
    if let Some(stale) = &pid.stale_pid {
        tracing::warn!(pid_file = %pid.path().display(), stale_pid = %stale, "took over a PID file left by a daemon that is not running");
    }
    let shutdown = signals()?;
    let listeners = Listeners::bind(&cfg.general).await?;
    let socket = cfg.general.control_socket.clone();
    let result = serve(cfg, opts.source, listeners, shutdown).await;
    // `serve` removes it when it stops; this also covers a start that failed after binding.
    let _ = std::fs::remove_file(&socket);
    drop(pid);
    result
}

/// Resolves on SIGTERM or SIGINT.
fn signals() -> Result<impl Future<Output = ()>, ExitError> {
    let mut term = signal(SignalKind::terminate())
        .context("SIGTERM handler")
        .exit_with(Exit::Failure)?;
    let mut int = signal(SignalKind::interrupt())
        .context("SIGINT handler")
        .exit_with(Exit::Failure)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: shutting down"),
            _ = int.recv() => info!("SIGINT: shutting down"),
        }
    })
}

/// Serves `cfg` on `listeners` until `shutdown` resolves, then stops in order and drains. SIGHUP
/// reloads from `source`. The control socket's file is removed on return.
pub async fn serve(
    cfg: IronpostConfig,
    source: ConfigSource,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, ExitError> {
    std::fs::create_dir_all(&cfg.general.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.general.data_dir.display()))
        .exit_with(Exit::Failure)?;
    // TLS files are read before anything starts: a bad file names itself and stops the daemon.
    let tls = match cfg.http.tls() {
        None => None,
        Some((cert, key)) => {
            let config = crate::tls::load(cert, key).exit_with(Exit::Config)?;
            let limits = crate::tls::Limits {
                timeout: std::time::Duration::from_secs(cfg.http.tls_handshake_timeout_secs),
                max: cfg.http.tls_handshakes_max,
            };
            Some((config, limits))
        }
    };
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
    // The `node` column of this daemon's own alerts and actions (fleet mode's node name).
    store.set_node(cfg.fleet.node());
    store
        .start()
        .await
        .context("cannot start the event store")
        .exit_with(Exit::Storage)?;
    let store: ModuleSlot = Arc::new(RwLock::new(Box::new(store)));

    let mut asm = Assembly {
        cfg: &cfg,
        registry: &registry,
        bus: Bus::new(),
        modules: Vec::new(),
        reloaders: vec![log_reloader(logging::handle())],
        tasks: Vec::new(),
        ebpf: None,
        guard: None,
        fleet: None,
        store: Some(writer.clone()),
        console: None,
        process_records: None,
    };
    assemble(&mut asm);
    let Assembly {
        bus,
        modules,
        reloaders,
        tasks,
        ebpf,
        guard,
        fleet,
        console,
        ..
    } = asm;
    info!(subscribers = ?bus.subscribers(), "event bus assembled");
    for m in &modules {
        let mut m = m.write().await;
        let name = m.name();
        m.start()
            .await
            .with_context(|| format!("cannot start module {name}"))
            .exit_with(Exit::Failure)?;
    }

    let (bus, routes) = bus.split();
    let shared = Arc::new(Shared {
        started_at,
        started: Instant::now(),
        config_label: source_label(&source),
        storage_label,
        http_addr: OnceLock::new(),
        registry,
        metrics: daemon_metrics,
        store: store.clone(),
        modules: modules.clone(),
        bus,
        ebpf,
        guard,
        fleet,
        console,
        reload: Mutex::new(ReloadState {
            source,
            started: cfg.clone(),
            current: cfg.clone(),
            reloaders,
        }),
    });
    if let Ok(addr) = listeners.http.local_addr() {
        let _ = shared.http_addr.set(addr);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let alert_router = tokio::spawn(route_alerts(
        routes.alerts,
        routes.alert_subscribers,
        routes.enrichers,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
    ));
    let module_tasks: Vec<_> = tasks.into_iter().map(|t| t(stop_rx.clone())).collect();
    let log_router = tokio::spawn(route_logs(
        routes.logs,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
    ));
    let packet_router = tokio::spawn(route_packets(
        routes.packets,
        routes.packet_subscribers,
        writer.clone(),
        shared.clone(),
        stop_rx.clone(),
    ));
    let action_router = tokio::spawn(route_actions(
        routes.actions,
        routes.action_subscribers,
        writer,
        shared.clone(),
        stop_rx.clone(),
    ));

    // Live-stream (SSE) responses never end by themselves: they are closed at shutdown so the
    // graceful shutdown does not wait for the browsers.
    let http = match tls {
        None => spawn_http(listeners.http, shared.clone(), stop_rx.clone()),
        Some((config, limits)) => {
            let listener = crate::tls::TlsListener::spawn(
                listeners.http,
                config,
                limits,
                &shared.registry,
                stop_rx.clone(),
            )
            .context("cannot serve TLS on general.http_listen")
            .exit_with(Exit::Failure)?;
            spawn_http(listener, shared.clone(), stop_rx.clone())
        }
    };
    let control_task = tokio::spawn(control::serve(
        listeners.control,
        shared.clone(),
        stop_rx.clone(),
    ));
    info!(
        http = %shared.http_addr.get().map(ToString::to_string).unwrap_or_default(),
        control_socket = %cfg.general.control_socket.display(),
        storage = %shared.storage_label,
        "ironpost-daemon running"
    );

    let mut hup = signal(SignalKind::hangup())
        .context("SIGHUP handler")
        .exit_with(Exit::Failure)?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
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
        for t in module_tasks {
            let _ = t.await;
        }
        let _ = action_router.await;
        let _ = packet_router.await;
        let _ = log_router.await;
        store.write().await.stop().await
    };
    let result = tokio::time::timeout(cfg.general.shutdown_timeout, drain).await;
    let _ = std::fs::remove_file(&cfg.general.control_socket);
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

/// Serves the HTTP routes on `listener` until `stop` turns true (then closes the live streams).
fn spawn_http<L>(
    listener: L,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let console = shared.console.clone();
    tokio::spawn(
        axum::serve(listener, crate::http::router(shared))
            .with_graceful_shutdown(async move {
                control::stopped(&mut stop).await;
                if let Some(c) = console {
                    c.close_live();
                }
            })
            .into_future(),
    )
}

/// Where the config came from, for `status`.
fn source_label(source: &ConfigSource) -> String {
    match source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Defaults => "<built-in defaults>".to_owned(),
    }
}
