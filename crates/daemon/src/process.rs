//! The `process_monitor` module: assembles `ironpost-process-monitor` (kernel probes, process
//! table, cgroup → container map, metrics) with the container guard's inventory (a container's
//! name and image) and hands each exec, watched file open and outbound connect to the log
//! pipeline as a Sigma-named [`ProcessRecord`] (`category: process_creation`, `file_event`,
//! `network_connection`), whose rules raise the alerts.
//!
//! Start: load the probes, attach, seed the process table from `/proc` (after attaching, so a
//! process started in between is seen by one or the other). A load or attach failure is not
//! fatal: the module is Unhealthy and says why. Stop: the reader ends, the probes are detached.
//!
//! A record is handed over with `try_send`: a full pipeline queue drops it and counts it
//! (`ironpost_process_monitor_records_dropped_total`), the probes never wait on the rules.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ironpost_container_guard::GuardHandle;
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{BoxFuture, Health, Module, ModuleError, error_chain};
use ironpost_log_pipeline::source::process::{ContainerNames, ProcessRecord, RecordBuilder};
use ironpost_process_monitor::{
    ContainerMap, Event, EventReader, LoadOptions, Metrics, ProcessMonitor, ProcessMonitorConfig,
    ProcessTable, cgroup2_mounts,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Events read per wake-up before the task yields.
const EVENT_BATCH: usize = 1024;
/// How often the kernel counters become metrics.
const METRICS_TICK: Duration = Duration::from_secs(1);
/// Least time between two lookups of an unknown container in the guard's inventory.
const INVENTORY_RETRY: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct ProcessModule {
    cfg: ProcessMonitorConfig,
    guard: Option<GuardHandle>,
    records: Option<mpsc::Sender<ProcessRecord>>,
    metrics: Option<Metrics>,
    dropped: prometheus::IntCounter,
    health: Arc<Mutex<Health>>,
    monitor: Option<Arc<Mutex<ProcessMonitor>>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<Metrics>>,
}

impl ProcessModule {
    /// `records`: the log pipeline's process input (None: no rule sees the events, only the
    /// metrics and the table run). `guard`: names and images of containers.
    pub(crate) fn new(
        cfg: ProcessMonitorConfig,
        registry: &prometheus::Registry,
        guard: Option<GuardHandle>,
        records: Option<mpsc::Sender<ProcessRecord>>,
    ) -> Self {
        ProcessModule {
            cfg,
            guard,
            records,
            metrics: Some(Metrics::new(registry)),
            dropped: metrics::int_counter(
                registry,
                "process_monitor_records_dropped_total",
                "Process events not handed to the rule engine because the log pipeline's queue was full.",
            ),
            health: Arc::new(Mutex::new(Health::Degraded("not started".into()))),
            monitor: None,
            stop: watch::channel(false).0,
            task: None,
        }
    }

    fn set_health(&self, h: Health) {
        *lock(&self.health) = h;
    }
}

/// Wraps the reader so tokio can poll its fd.
struct Fd(EventReader);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Module for ProcessModule {
    fn name(&self) -> &'static str {
        "process_monitor"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let mut monitor = match ProcessMonitor::load(&LoadOptions::from_config(&self.cfg))
                .and_then(|mut m| m.attach().map(|()| m))
            {
                Ok(m) => m,
                Err(e) => {
                    // Not fatal: the rest of the daemon runs and /health says why.
                    let msg = error_chain(&e);
                    warn!(error = %msg, "cannot start the process monitor's probes");
                    self.set_health(Health::Unhealthy(format!(
                        "cannot load or attach the process probes: {msg}"
                    )));
                    return Ok(());
                }
            };
            let Some(reader) = monitor.take_event_reader() else {
                self.set_health(Health::Unhealthy("the event ring buffer is taken".into()));
                return Ok(());
            };
            info!(file_hook = ?monitor.file_hook(), watched = ?self.cfg.watched_paths, "process probes attached");
            let mut table = ProcessTable::new(self.cfg.table_capacity);
            let roots = cgroup2_mounts();
            let seeded =
                table.seed_from_proc(Path::new("/proc"), roots.first().map(|p| p.as_path()));
            info!(
                seeded = seeded.seeded,
                skipped = seeded.skipped,
                "process table seeded from /proc"
            );
            if self.records.is_none() {
                warn!(
                    "process_monitor runs without the log pipeline (log_pipeline.enabled = false): no rule sees its events"
                );
            }
            #[allow(deprecated)]
            // see ebpf-engine's reader: the fd lives inside the value AsyncFd owns
            let fd = match AsyncFd::new(Fd(reader)) {
                Ok(fd) => fd,
                Err(e) => {
                    self.set_health(Health::Unhealthy(format!(
                        "cannot poll the event ring buffer: {e}"
                    )));
                    return Ok(());
                }
            };
            let monitor = Arc::new(Mutex::new(monitor));
            self.monitor = Some(monitor.clone());
            let reader = Reader {
                monitor,
                builder: RecordBuilder::new(
                    table,
                    ContainerMap::with_roots(roots, ironpost_process_monitor::DEFAULT_MIN_RESCAN),
                    Names::new(self.guard.clone()),
                    Path::new("/etc/passwd"),
                ),
                records: self.records.clone(),
                dropped: self.dropped.clone(),
                health: self.health.clone(),
                metrics: self
                    .metrics
                    .take()
                    .unwrap_or_else(|| Metrics::new(&prometheus::Registry::new())),
            };
            let _ = self.stop.send(false);
            self.task = Some(tokio::spawn(reader.run(fd, self.stop.subscribe())));
            self.set_health(Health::Healthy);
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop.send(true);
            if let Some(t) = self.task.take()
                && let Ok(m) = t.await
            {
                self.metrics = Some(m);
            }
            if let Some(m) = self.monitor.take() {
                lock(&m).detach();
                info!("process probes detached");
            }
            self.set_health(Health::Degraded("stopped".into()));
            Ok(())
        })
    }

    fn health(&self) -> Health {
        lock(&self.health).clone()
    }
}

/// Container names and images from the guard's inventory, cached by id.
struct Names {
    guard: Option<GuardHandle>,
    known: HashMap<String, (String, String)>,
    last_miss: Option<Instant>,
}

impl Names {
    fn new(guard: Option<GuardHandle>) -> Self {
        Names {
            guard,
            known: HashMap::new(),
            last_miss: None,
        }
    }

    /// (name, image) of the container `id`, asking the guard again on a miss at most every
    /// [`INVENTORY_RETRY`].
    fn of(&mut self, id: &str) -> Option<&(String, String)> {
        if !self.known.contains_key(id) {
            let guard = self.guard.as_ref()?;
            if self
                .last_miss
                .is_some_and(|t| t.elapsed() < INVENTORY_RETRY)
            {
                return None;
            }
            self.last_miss = Some(Instant::now());
            // The inventory is the whole truth: forget removed containers.
            self.known = guard
                .containers()
                .into_iter()
                .map(|c| (c.id, (c.name, c.image)))
                .collect();
        }
        self.known.get(id)
    }
}

impl ContainerNames for Names {
    fn name_and_image(&mut self, id: &str) -> Option<(String, String)> {
        self.of(id).cloned()
    }
}

/// The reader task's state.
struct Reader {
    monitor: Arc<Mutex<ProcessMonitor>>,
    builder: RecordBuilder<Names>,
    records: Option<mpsc::Sender<ProcessRecord>>,
    dropped: prometheus::IntCounter,
    health: Arc<Mutex<Health>>,
    metrics: Metrics,
}

impl Reader {
    async fn run(mut self, mut fd: AsyncFd<Fd>, mut stop: watch::Receiver<bool>) -> Metrics {
        let mut tick = tokio::time::interval(METRICS_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => self.observe(fd.get_ref().0.bad_records()),
                ready = fd.readable_mut() => {
                    let Ok(mut guard) = ready else {
                        *lock(&self.health) = Health::Unhealthy(
                            "cannot poll the event ring buffer: the reader stopped".into(),
                        );
                        break;
                    };
                    let mut n = 0;
                    while n < EVENT_BATCH {
                        let Some(ev) = guard.get_inner_mut().0.next_event() else { break };
                        self.on_event(&ev);
                        n += 1;
                    }
                    if n < EVENT_BATCH {
                        guard.clear_ready();
                    }
                }
            }
        }
        self.observe(fd.get_ref().0.bad_records());
        self.metrics
    }

    fn observe(&mut self, bad_records: u64) {
        let counters = match lock(&self.monitor).counters() {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %error_chain(&e), "cannot read the process probes' counters");
                return;
            }
        };
        self.metrics.observe(
            &counters,
            bad_records,
            self.builder.table().len(),
            self.builder.table().evictions(),
            self.builder.containers().stats(),
        );
    }

    fn on_event(&mut self, ev: &Event) {
        if self.records.is_none() {
            self.builder.apply(ev);
            return;
        }
        let Some(r) = self.builder.record(ev) else {
            return;
        };
        if let Some(tx) = &self.records
            && tx.try_send(r).is_err()
        {
            self.dropped.inc();
        }
    }
}
