//! The engine: owns the loaded XDP program, keeps it attached, applies `[[ebpf.rules]]` and the
//! allowlist, manages run-time blocks (TTL, expiry, repeat-offender escalation, persistence),
//! feeds Prometheus from the kernel counters, and turns ring-buffer events into `PacketEvent`s on
//! a bounded channel.
//!
//! Tasks: one event reader (woken by the ring buffer's fd) and one 1-second ticker (stats, expiry,
//! re-attach when the interface appears). Health: Unhealthy when the program cannot be loaded,
//! Degraded while the interface is missing or attach fails, Healthy when attached. The daemon
//! keeps running in every case.
//!
//! Enforcement across the daemon's life: with `pin_path` on a bpffs mount, the maps live in
//! `<pin_path>/<interface>/` and the program is attached through a BPF link pinned there, so it
//! keeps dropping blocked sources while the daemon is stopped (`detach_on_stop = false`),
//! killed or upgraded; block entries carry their expiry and the kernel enforces it. A starting
//! engine adopts the pinned maps (their entries keep their TTLs; entries without a record are
//! adopted into the blocklist) and swaps its program into the pinned link. Where pinning is
//! impossible (no bpffs, kernel < 5.9) it attaches unpinned and says why in `stats`
//! (`pin_note`), the `ironpost_ebpf_pinned` gauge and the log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use ironpost_core::metrics::prometheus;
use ironpost_core::net::Cidr;
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, AlertEvent, BoxFuture, Entities, Health, Module,
    ModuleError, PacketEvent, Severity,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::Result;
use crate::blocklist::{Block, Blocklist};
use crate::clock::MonoTime;
use crate::config::{EbpfConfig, RuleAction};
use crate::detect::{PortScanDetector, SynFloodDetector};
use crate::events::EventReader;
use crate::kernel::{LoadOptions, XdpFilter};
use crate::maps::{KernelCounters, TrafficStats};
use crate::rules::{self, CompiledRules};
use engine_metrics::EngineMetrics;
use tasks::{read_events, tick};

mod detectors;
mod engine_metrics;
mod extras;
mod handle;
mod tasks;

/// Events read from the ring buffer per wake-up at most (then the reader yields).
const EVENT_BATCH: usize = 1024;
/// Period of the stats / expiry / re-attach ticker.
const TICK: Duration = Duration::from_secs(1);

/// Where the engine sends what it produces. Every channel is bounded; the daemon owns the
/// receivers.
#[derive(Debug, Clone)]
pub struct EngineOutputs {
    pub packets: mpsc::Sender<PacketEvent>,
    pub alerts: mpsc::Sender<AlertEvent>,
    pub actions: mpsc::Sender<ActionEvent>,
}

/// A block with its hit counters, for `block list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    #[serde(flatten)]
    pub block: Block,
    pub hits: u64,
    pub hit_bytes: u64,
}

/// Kernel counters and engine state, for `ironpost-cli stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    pub interface: String,
    pub attached: bool,
    /// `extra_interfaces`, each with whether the program is attached there now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_interfaces: Vec<ExtraInterface>,
    /// Attached through a pinned BPF link: enforcement outlives the daemon.
    #[serde(default)]
    pub pinned: bool,
    /// `<pin_path>/<interface>` when the maps are pinned.
    #[serde(default)]
    pub pin_dir: Option<String>,
    /// Why the program is not pinned, when it should be.
    #[serde(default)]
    pub pin_note: Option<String>,
    /// By protocol: tcp, udp, icmp, other, total.
    pub traffic: BTreeMap<String, Counters>,
    pub malformed: u64,
    pub events_sent: u64,
    pub events_ringbuf_full: u64,
    pub events_rate_limited: u64,
    /// Packets that matched an expired blocklist entry and were passed.
    #[serde(default)]
    pub expired_passed: u64,
    pub blocks: usize,
}

/// One of `extra_interfaces` in [`EngineStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraInterface {
    pub interface: String,
    pub attached: bool,
    /// Why it is not attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where the engine stands with pinning (`pin_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pinning {
    /// `pin_path = ""`.
    Off,
    /// Configured but impossible here; the reason.
    Unavailable(String),
    /// Maps pinned in this directory (`<pin_path>/<interface>`); the link too when attached
    /// with [`XdpFilter::attach_pinned`].
    Dir(PathBuf),
}

impl Pinning {
    fn dir(&self) -> Option<&std::path::Path> {
        match self {
            Pinning::Dir(d) => Some(d),
            _ => None,
        }
    }

    fn note(&self) -> Option<String> {
        match self {
            Pinning::Unavailable(why) => Some(why.clone()),
            _ => None,
        }
    }
}

/// Packet, byte and drop counts of one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub drops: u64,
}

struct Inner {
    cfg: EbpfConfig,
    filter: Mutex<Option<XdpFilter>>,
    blocklist: Mutex<Blocklist>,
    compiled: CompiledRules,
    health: Mutex<Health>,
    metrics: EngineMetrics,
    outputs: EngineOutputs,
    last: Mutex<(TrafficStats, KernelCounters)>,
    detectors: Mutex<Detectors>,
    pinning: Mutex<Pinning>,
    /// Why an `extra_interfaces` entry is not attached (absent: attached or never tried).
    extra_notes: Mutex<BTreeMap<String, String>>,
}

struct Detectors {
    syn_flood: SynFloodDetector,
    port_scan: PortScanDetector,
    /// Evictions already exported, per detector.
    evicted: (u64, u64),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cheap handle for the daemon's control commands (`block add|remove|list`, `stats`).
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("interface", &self.inner.cfg.interface)
            .finish_non_exhaustive()
    }
}

/// The `ebpf` module.
pub struct Engine {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("interface", &self.inner.cfg.interface)
            .finish_non_exhaustive()
    }
}

fn reserved_entries(compiled: &CompiledRules, v4: bool) -> usize {
    compiled
        .blocks
        .iter()
        .filter(|(c, _, _)| c.0.addr().is_ipv4() == v4)
        .count()
}

/// Where the kernel says whether it answers SYNs with cookies when the backlog overflows
/// (per network namespace: this is the daemon's).
const SYNCOOKIES: &str = "/proc/sys/net/ipv4/tcp_syncookies";
/// How often the SYN cookie setting is re-read.
const SYNCOOKIES_CHECK: Duration = Duration::from_secs(30);

/// `net.ipv4.tcp_syncookies` of this namespace: 0 off, 1 on overflow (the default), 2 always.
fn syncookies() -> Option<u8> {
    std::fs::read_to_string(SYNCOOKIES)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The note health and SYN flood alerts carry when SYN cookies are off.
fn syncookies_note(value: Option<u8>) -> Option<String> {
    match value {
        Some(0) => Some(
            "net.ipv4.tcp_syncookies = 0 in this network namespace: a SYN flood from spoofed \
             sources can fill the SYN backlog and lock out real clients (the responder never \
             blocks its forged sources); set it to 1"
                .to_owned(),
        ),
        _ => None,
    }
}

fn interface_exists(iface: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(iface).exists()
}

impl Engine {
    /// Builds the engine; nothing touches the kernel until `start`.
    pub fn new(
        cfg: EbpfConfig,
        data_dir: PathBuf,
        registry: &prometheus::Registry,
        outputs: EngineOutputs,
    ) -> Self {
        let (mut blocklist, report) = Blocklist::load(
            cfg.blocklist_max_entries,
            &data_dir.join("ebpf/blocklist.json"),
        );
        for w in &report.warnings {
            warn!(warning = %w, "ebpf blocklist state");
        }
        let metrics = EngineMetrics::new(registry);
        metrics.state_corrupt.inc_by(report.corrupt_records);
        metrics
            .state_files_corrupt
            .with_label_values(&["blocklist.journal"])
            .inc_by(report.corrupt_records);
        if report.snapshot_damaged {
            metrics
                .state_files_corrupt
                .with_label_values(&["blocklist.json"])
                .inc();
        }
        if report.replayed > 0 || report.corrupt_records > 0 || report.snapshot_damaged {
            // Start from a clean snapshot and an empty journal.
            if let Err(e) = blocklist.save() {
                warn!(error = %error_chain(&e), "cannot compact the blocklist journal");
            }
        }
        let compiled = rules::compile(&cfg.rules);
        let inner = Arc::new(Inner {
            compiled,
            filter: Mutex::new(None),
            blocklist: Mutex::new(blocklist),
            health: Mutex::new(Health::Degraded("not started".into())),
            metrics,
            outputs,
            last: Mutex::new((TrafficStats::default(), KernelCounters::default())),
            detectors: Mutex::new(Detectors {
                syn_flood: SynFloodDetector::new(&cfg.syn_flood),
                port_scan: PortScanDetector::new(&cfg.port_scan),
                evicted: (0, 0),
            }),
            pinning: Mutex::new(Pinning::Off),
            extra_notes: Mutex::new(BTreeMap::new()),
            cfg,
        });
        let (stop, _) = watch::channel(false);
        Engine {
            inner,
            stop,
            tasks: Vec::new(),
        }
    }

    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            inner: self.inner.clone(),
        }
    }
}

impl Inner {
    fn set_health(&self, h: Health) {
        *lock(&self.health) = h;
    }

    /// Loads the program, applies rules, allowlist and recorded blocks. Returns the event reader.
    fn load(&self) -> Result<Option<EventReader>> {
        let pinning = match (self.cfg.pin_path.as_ref(), self.cfg.pin_dir()) {
            (Some(root), Some(dir)) if crate::pins::on_bpffs(root) => Pinning::Dir(dir),
            (Some(root), Some(_)) => Pinning::Unavailable(format!(
                "ebpf.pin_path {} is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf): \
                 the program is attached unpinned and stops enforcing when the daemon stops",
                root.display()
            )),
            _ => Pinning::Off,
        };
        if let Pinning::Unavailable(why) = &pinning {
            warn!(note = %why, "XDP enforcement will not outlive the daemon");
        }
        let mut opts = LoadOptions::from_config(&self.cfg);
        opts.pin_path = pinning.dir().map(std::path::Path::to_path_buf);
        *lock(&self.pinning) = pinning;
        let mut filter = XdpFilter::load(&opts)?;
        // Config rules own ids below DYNAMIC_RULE_BASE: drop stale ones a pinned map kept.
        for e in filter.list_blocks()? {
            if e.rule_id < crate::blocklist::DYNAMIC_RULE_BASE {
                filter.remove_block(e.cidr)?;
            }
        }
        for (cidr, id, action) in &self.compiled.blocks {
            filter.insert_block(*cidr, *id, *action)?;
        }
        filter.set_match_rules(&self.compiled.match_rules)?;
        for e in filter.list_allows()? {
            filter.remove_allow(e.cidr)?;
        }
        for (i, cidr) in self.cfg.allowlist.iter().enumerate() {
            filter.insert_allow(
                *cidr,
                u32::try_from(i).unwrap_or(0).saturating_add(1) + (1 << 30),
            )?;
        }
        // Reconcile run-time blocks: recorded ones go (back) into the kernel, pinned ones without a
        // record are adopted, so `block list` shows everything that drops traffic.
        let now = Utc::now();
        let mut bl = lock(&self.blocklist);
        // Recorded blocks carry their expiry into the kernel (one that passed while the daemon
        // was down is written already expired: the program ignores it and `expire` removes it);
        // adopted ones keep the expiry their kernel entry carries.
        let in_kernel = filter.list_blocks()?;
        for b in bl.iter() {
            filter.insert_block_until(
                b.cidr,
                b.rule_id,
                RuleAction::Drop,
                b.expires_at.map(MonoTime::from_wall),
            )?;
        }
        for e in in_kernel {
            if e.rule_id >= crate::blocklist::DYNAMIC_RULE_BASE && bl.get(&e.cidr).is_none() {
                bl.adopt(e.cidr, e.rule_id, now, e.expires.map(MonoTime::to_wall));
            }
        }
        bl.sync();
        if let Some((e, n)) = bl.take_error() {
            self.metrics.state_errors.inc_by(n);
            warn!(error = %error_chain(&e), failures = n, "cannot persist the blocklist state");
        }
        self.metrics
            .block_entries
            .set(i64::try_from(bl.len()).unwrap_or(i64::MAX));
        drop(bl);
        // The first snapshot is the SYN flood detector's baseline.
        let snapshot = filter.read_dst_tcp()?;
        lock(&self.detectors)
            .syn_flood
            .observe_snapshot(&snapshot, Instant::now());
        let reader = filter.take_event_reader();
        *lock(&self.filter) = Some(filter);
        Ok(reader)
    }

    /// Attaches to `interface` and to the `extra_interfaces` that exist and are not attached.
    fn ensure_attached(&self) {
        self.ensure_primary_attached();
        self.ensure_extras_attached();
    }

    /// Attaches to `interface` when not attached and it exists; updates health.
    fn ensure_primary_attached(&self) {
        let mut guard = lock(&self.filter);
        let Some(filter) = guard.as_mut() else { return };
        if filter.attached_to().is_some() {
            return;
        }
        let iface = &self.cfg.interface;
        if !interface_exists(iface) {
            drop(guard);
            self.set_health(Health::Degraded(format!(
                "interface {iface} not found; waiting for it"
            )));
            return;
        }
        let pin_dir = lock(&self.pinning).dir().map(std::path::Path::to_path_buf);
        let attached = match pin_dir {
            Some(dir) => {
                match filter.attach_pinned(iface, self.cfg.xdp_mode, &dir.join(crate::LINK_PIN)) {
                    Ok(how) => {
                        info!(interface = %iface, pin = %dir.display(), how = ?how, "XDP program attached through a pinned link");
                        Ok(())
                    }
                    Err(e) => {
                        let why = format!(
                            "cannot pin the XDP link under {} ({}): attached unpinned, so \
                             enforcement stops with the daemon",
                            dir.display(),
                            error_chain(&e)
                        );
                        warn!(note = %why, "XDP link not pinned");
                        let r = filter.attach(iface, self.cfg.xdp_mode);
                        if r.is_ok() {
                            *lock(&self.pinning) = Pinning::Unavailable(why);
                        }
                        r
                    }
                }
            }
            None => filter.attach(iface, self.cfg.xdp_mode),
        };
        let pinned = filter.pinned_link();
        match attached {
            Ok(()) => {
                drop(guard);
                info!(interface = %iface, mode = ?self.cfg.xdp_mode, pinned, "XDP program attached");
                self.metrics.attached.set(1);
                self.metrics.pinned.set(i64::from(pinned));
                self.set_attached_health();
            }
            Err(e) => {
                drop(guard);
                self.set_health(Health::Degraded(format!(
                    "cannot attach to {iface}: {}",
                    error_chain(&e)
                )));
            }
        }
    }

    /// Healthy, or Degraded with the SYN cookie note: attached, but a spoofed SYN flood would
    /// lock out real clients, which the operator must hear about.
    fn set_attached_health(&self) {
        match syncookies_note(syncookies()) {
            Some(note) => {
                warn!(%note, "SYN flood mitigation is off");
                self.set_health(Health::Degraded(format!(
                    "attached to {}; {note}",
                    self.cfg.interface
                )));
            }
            None => self.set_health(Health::Healthy),
        }
    }

    /// Re-reads the SYN cookie setting while attached; health changes only when the note
    /// appears or goes (so another Degraded reason is not overwritten).
    fn check_syncookies(&self) {
        let off = syncookies() == Some(0);
        let noted =
            matches!(&*lock(&self.health), Health::Degraded(m) if m.contains("tcp_syncookies"));
        let attached = lock(&self.filter)
            .as_ref()
            .is_some_and(|f| f.attached_to().is_some());
        if attached && off != noted {
            self.set_attached_health();
        }
    }

    /// Notices an interface that went away (its attachment goes with it).
    fn check_interface(&self) {
        let gone = {
            let guard = lock(&self.filter);
            guard.as_ref().is_some_and(|f| f.attached_to().is_some())
                && !interface_exists(&self.cfg.interface)
        };
        if gone {
            // The kernel released the link with the interface; a pin left behind is replaced
            // at the next attach.
            if let Some(f) = lock(&self.filter).as_mut() {
                let _ = f.release();
            }
            self.metrics.attached.set(0);
            self.metrics.pinned.set(0);
        }
        self.drop_vanished_extras();
    }

    fn poll_stats(&self) {
        let read = {
            let guard = lock(&self.filter);
            match guard.as_ref() {
                Some(f) => f
                    .read_stats()
                    .and_then(|s| f.read_counters().map(|c| (s, c))),
                None => return,
            }
        };
        let (stats, counters) = match read {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %error_chain(&e), "cannot read the XDP counters");
                return;
            }
        };
        let mut last = lock(&self.last);
        let delta = |now: u64, before: u64| if now >= before { now - before } else { now };
        for (proto, now, before) in [
            ("tcp", stats.tcp, last.0.tcp),
            ("udp", stats.udp, last.0.udp),
            ("icmp", stats.icmp, last.0.icmp),
            ("other", stats.other, last.0.other),
        ] {
            let p = delta(now.packets, before.packets);
            self.metrics.packets.with_label_values(&[proto]).inc_by(p);
            self.metrics
                .bytes
                .with_label_values(&[proto])
                .inc_by(delta(now.bytes, before.bytes));
            self.metrics
                .blocked
                .with_label_values(&[proto])
                .inc_by(delta(now.drops, before.drops));
            self.metrics
                .pps
                .with_label_values(&[proto])
                .set(i64::try_from(p).unwrap_or(i64::MAX));
        }
        self.metrics
            .malformed
            .inc_by(delta(counters.malformed, last.1.malformed));
        self.metrics
            .expired_passed
            .inc_by(delta(counters.expired_passed, last.1.expired_passed));
        self.metrics
            .events_lost
            .with_label_values(&["ringbuf_full"])
            .inc_by(delta(
                counters.events_ringbuf_full,
                last.1.events_ringbuf_full,
            ));
        self.metrics
            .events_lost
            .with_label_values(&["rate_limited"])
            .inc_by(delta(
                counters.events_rate_limited,
                last.1.events_rate_limited,
            ));
        *last = (stats, counters);
    }

    async fn expire(&self) {
        let now = Utc::now();
        let expired: Vec<Block> = {
            let mut bl = lock(&self.blocklist);
            let cidrs = bl.expired(now);
            cidrs.iter().filter_map(|c| bl.remove(c)).collect()
        };
        if expired.is_empty() {
            return;
        }
        if let Some(f) = lock(&self.filter).as_mut() {
            for b in &expired {
                if let Err(e) = f.remove_block(b.cidr) {
                    warn!(cidr = %b.cidr, error = %error_chain(&e), "cannot remove an expired block");
                }
            }
        }
        self.persist();
        for b in expired {
            self.metrics.blocks_expired.inc();
            info!(cidr = %b.cidr, reason = %b.reason, "block expired");
            let ev = unblock_action(&b, "TTL expired");
            let _ = self.outputs.actions.send(ev).await;
        }
    }

    /// Makes the changes made so far durable (the blocklist's buffered journal records: one
    /// write, one `fdatasync`), updates the gauge, compacts the journal when due and reports
    /// persistence errors. Called after the kernel map update of a change (or of a batch), and
    /// before the change is announced or its caller answered.
    fn persist(&self) {
        let mut bl = lock(&self.blocklist);
        bl.sync();
        self.metrics
            .block_entries
            .set(i64::try_from(bl.len()).unwrap_or(i64::MAX));
        bl.compact_if_due();
        if let Some((e, n)) = bl.take_error() {
            self.metrics.state_errors.inc_by(n);
            warn!(error = %error_chain(&e), failures = n, "cannot persist the blocklist state");
        }
    }

    /// Writes the snapshot (at shutdown).
    fn save(&self) {
        let mut bl = lock(&self.blocklist);
        if let Err(e) = bl.save() {
            self.metrics.state_errors.inc();
            warn!(error = %error_chain(&e), "cannot save the blocklist state");
        }
    }

    /// Counts evictions and sends their `ip_unblock` actions.
    async fn announce_evictions(&self, evicted: &[Block], by: &crate::BlockRequest) {
        for b in evicted {
            self.metrics
                .blocks_evicted
                .with_label_values(&[b.evidence.as_str()])
                .inc();
            info!(cidr = %b.cidr, evidence = %b.evidence, offence = b.offence, for_cidr = %by.cidr, "block evicted");
            let why = format!(
                "evicted: blocklist full (ebpf.blocklist_max_entries = {}), room made for {} on {} evidence; this block rested on {} evidence, offence {}",
                self.cfg.blocklist_max_entries, by.cidr, by.evidence, b.evidence, b.offence
            );
            let _ = self.outputs.actions.send(unblock_action(b, &why)).await;
        }
    }
}

use ironpost_core::error_chain;

fn target(cidr: Cidr) -> Entities {
    Entities {
        src_ip: Some(cidr.0.addr()),
        ..Entities::default()
    }
}

fn unblock_action(b: &Block, why: &str) -> ActionEvent {
    let mut ev = ActionEvent::manual(
        ActionType::IpUnblock,
        ActionOutcome::Success,
        Severity::Info,
    );
    ev.alert_id = b.alert_id;
    if let Some(t) = b.trace_id {
        ev.trace_id = t;
    }
    ev.target = target(b.cidr);
    ev.detail = format!("{}: {why}", b.cidr);
    ev
}

impl Module for Engine {
    fn name(&self) -> &'static str {
        "ebpf"
    }

    fn start(&mut self) -> BoxFuture<'_, std::result::Result<(), ModuleError>> {
        Box::pin(async move {
            let inner = self.inner.clone();
            match inner.load() {
                Ok(reader) => {
                    inner.ensure_attached();
                    if let Some(reader) = reader {
                        self.tasks.push(tokio::spawn(read_events(
                            inner.clone(),
                            reader,
                            self.stop.subscribe(),
                        )));
                    }
                    self.tasks
                        .push(tokio::spawn(tick(inner.clone(), self.stop.subscribe())));
                }
                Err(e) => {
                    // Not fatal: the rest of the daemon keeps running and /health says why.
                    let msg = error_chain(&e);
                    warn!(error = %msg, "cannot load the XDP program");
                    inner.set_health(Health::Unhealthy(format!(
                        "cannot load the XDP program: {msg}"
                    )));
                }
            }
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, std::result::Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop.send(true);
            for t in self.tasks.drain(..) {
                let _ = t.await;
            }
            self.inner.persist();
            self.inner.save();
            // A pinned program stays attached and enforcing unless `detach_on_stop`; then its
            // pins go too. An unpinned one is detached (nothing else would manage it).
            let pin_dir = lock(&self.inner.pinning)
                .dir()
                .map(std::path::Path::to_path_buf);
            if let Some(mut f) = lock(&self.inner.filter).take() {
                let kept = f.pinned_link() && !self.inner.cfg.detach_on_stop;
                let r = if kept { f.release() } else { f.detach() };
                if let Err(e) = r {
                    warn!(error = %error_chain(&e), "cannot detach the XDP program");
                }
                if kept {
                    info!(interface = %self.inner.cfg.interface, "XDP program left attached through its pinned link (detach_on_stop = false)");
                }
            }
            if self.inner.cfg.detach_on_stop
                && let Some(dir) = pin_dir
            {
                match crate::pins::remove_pins(&dir) {
                    Ok(removed) => {
                        info!(pins = removed.len(), dir = %dir.display(), "XDP pins removed")
                    }
                    Err(e) => warn!(error = %error_chain(&e), "cannot remove the XDP pins"),
                }
            }
            self.inner.metrics.attached.set(0);
            self.inner.metrics.pinned.set(0);
            self.inner.set_health(Health::Degraded("stopped".into()));
            Ok(())
        })
    }

    fn health(&self) -> Health {
        lock(&self.inner.health).clone()
    }
}

impl Inner {
    fn health_reason(&self) -> String {
        lock(&self.health).to_string()
    }
}
