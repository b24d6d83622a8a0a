//! The `sbom` module the daemon runs: scans `scan_dirs` at start and then every `scan_interval`,
//! matches the inventory against the vulnerability database, and sends each finding at or above
//! `min_severity` (and every finding without a severity, see `scan.rs`) as an `AlertEvent` on the
//! daemon's alert channel.
//!
//! A finding is alerted once: the keys (advisory, package, version, lockfile) of the last scan's
//! alerted findings are remembered, so a later scan alerts only what is new — a package that
//! appeared, or an advisory that a re-import of the database added. The database is reopened
//! for every scan, so `ironpost-cli db import` needs no restart. While the database is missing or
//! unreadable the module is Degraded, names the path and says how to import one.
//!
//! Metrics: `ironpost_sbom_scans_total{result}` (ok, db_error, error),
//! `ironpost_sbom_packages`, `ironpost_sbom_findings{severity}` (last scan, suppressed none,
//! every severity), `ironpost_sbom_scan_duration_seconds`, `ironpost_sbom_lockfile_errors_total`,
//! `ironpost_sbom_alerts_total`, `ironpost_sbom_skipped_entries_total{reason}` (FIFOs, links not
//! resolving inside a scan directory, files over the size limit: see `tree/`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ironpost_core::event::{AlertSource, PackageRef};
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{AlertEvent, BoxFuture, Health, Module, ModuleError, Severity};
use ironpost_vulndb::Db;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::SbomConfig;
use crate::scan::{self, Finding, Kind, severity_label};

/// Where the database lives: `vuln_db_path`, joined to `data_dir` when relative.
pub fn db_dir(cfg: &SbomConfig, data_dir: &Path) -> PathBuf {
    if cfg.vuln_db_path.is_absolute() {
        cfg.vuln_db_path.clone()
    } else {
        data_dir.join(&cfg.vuln_db_path)
    }
}

struct Metrics {
    scans: prometheus::IntCounterVec,
    packages: prometheus::IntGauge,
    findings: prometheus::IntGaugeVec,
    duration: prometheus::Histogram,
    lockfile_errors: prometheus::IntCounter,
    alerts: prometheus::IntCounter,
    skipped: prometheus::IntCounterVec,
}

impl Metrics {
    fn new(r: &prometheus::Registry) -> Metrics {
        Metrics {
            scans: metrics::int_counter_vec(
                r,
                "sbom_scans_total",
                "SBOM scans by result (ok, db_error, error).",
                &["result"],
            ),
            packages: metrics::int_gauge(r, "sbom_packages", "Packages found by the last scan."),
            findings: metrics::int_gauge_vec(
                r,
                "sbom_findings",
                "Findings of the last scan by severity (unknown: the advisory has no score).",
                &["severity"],
            ),
            duration: metrics::histogram(
                r,
                "sbom_scan_duration_seconds",
                "Time of one scan: inventory, database load and matching.",
                vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
            ),
            lockfile_errors: metrics::int_counter(
                r,
                "sbom_lockfile_errors_total",
                "Lockfiles (or scan directories) that could not be read or parsed.",
            ),
            alerts: metrics::int_counter(
                r,
                "sbom_alerts_total",
                "Findings sent as alerts (each finding once).",
            ),
            skipped: crate::tree::skip_counter(
                r,
                "sbom_skipped_entries_total",
                "Entries of the scan directories passed over by reason (not_regular: FIFO, socket \
                 or device; unresolved_link: a link not resolving inside the root; too_large).",
            ),
        }
    }
}

/// Inventories of the engine's images by image id: an image is exported and read once.
type ImageCache = Mutex<HashMap<String, Arc<crate::Inventory>>>;

/// State the scan task keeps up to date and `health` reads.
#[derive(Debug)]
struct State {
    health: Health,
    /// Keys of the findings already alerted.
    alerted: HashSet<String>,
}

/// The `sbom` module.
pub struct SbomModule {
    cfg: SbomConfig,
    db_dir: PathBuf,
    metrics: Arc<Metrics>,
    alerts: mpsc::Sender<AlertEvent>,
    state: Arc<Mutex<State>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SbomModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SbomModule")
            .field("db_dir", &self.db_dir)
            .finish_non_exhaustive()
    }
}

impl SbomModule {
    pub fn new(
        cfg: SbomConfig,
        data_dir: &Path,
        registry: &prometheus::Registry,
        alerts: mpsc::Sender<AlertEvent>,
    ) -> SbomModule {
        let (stop, _) = watch::channel(false);
        SbomModule {
            db_dir: db_dir(&cfg, data_dir),
            cfg,
            metrics: Arc::new(Metrics::new(registry)),
            alerts,
            state: Arc::new(Mutex::new(State {
                health: Health::Degraded("first scan not finished".into()),
                alerted: HashSet::new(),
            })),
            stop,
            task: None,
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one blocking scan produced.
enum Outcome {
    Ok {
        findings: Vec<Finding>,
        lockfile_errors: usize,
    },
    DbError(String),
    Error(String),
}

fn scan_once(cfg: &SbomConfig, db_dir: &Path, m: &Metrics, images: &ImageCache) -> Outcome {
    let db = match Db::open(db_dir) {
        Ok(db) => db,
        Err(e) => return Outcome::DbError(scan::error_chain(&e)),
    };
    let inv = match crate::inventory(&cfg.scan_dirs) {
        Ok(inv) => inv,
        Err(e) => return Outcome::Error(scan::error_chain(&e)),
    };
    let mut packages = inv.packages.len();
    crate::tree::count_skips(&m.skipped, &inv.skipped_entries);
    let mut lockfile_errors =
        inv.walk_errors.len() + inv.lockfiles.iter().filter(|l| l.error.is_some()).count();
    let mut findings = scan::find(&inv, &db);
    if cfg.scan_images {
        match scan_images(cfg, &db, m, images) {
            Ok((n, f, errors)) => {
                packages += n;
                findings.extend(f);
                lockfile_errors += errors;
            }
            Err(e) => {
                warn!(error = %scan::error_chain(&e), "cannot scan the Docker engine's images");
                lockfile_errors += 1;
            }
        }
    }
    m.packages.set(packages as i64);
    Outcome::Ok {
        findings,
        lockfile_errors,
    }
}

/// The engine's images matched against `db`: packages, findings (each lockfile named
/// `IMAGE:/path`, so the same file in two images alerts for each), images that failed.
fn scan_images(
    cfg: &SbomConfig,
    db: &Db,
    m: &Metrics,
    cache: &ImageCache,
) -> Result<(usize, Vec<Finding>, usize), crate::Error> {
    let engine = crate::image::Engine::connect(&cfg.docker_socket)?;
    let list = engine.images()?;
    let present: HashSet<&str> = list.iter().map(|i| i.id.as_str()).collect();
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|id, _| present.contains(id.as_str()));
    let (mut packages, mut findings, mut errors) = (0, Vec::new(), 0);
    for img in &list {
        let label = img
            .repo_tags
            .as_ref()
            .and_then(|t| t.iter().find(|t| *t != "<none>:<none>"))
            .cloned()
            .unwrap_or_else(|| img.id.clone());
        let cached = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&img.id)
            .cloned();
        let inv = match cached {
            Some(inv) => inv,
            None => {
                let (limits, keep) = crate::image::daemon_load_options();
                let loaded = engine
                    .export(&img.id, &std::env::temp_dir())
                    .and_then(|f| crate::image::load_saved(Path::new(&label), f, limits, keep));
                let loaded = match loaded {
                    Ok(l) => l,
                    Err(e) => {
                        warn!(image = %label, error = %scan::error_chain(&e), "image scan failed");
                        errors += 1;
                        continue;
                    }
                };
                let inv = Arc::new(crate::image::inventory(&loaded, Path::new(&label)));
                crate::tree::count_skips(&m.skipped, &inv.skipped_entries);
                cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(img.id.clone(), inv.clone());
                inv
            }
        };
        packages += inv.packages.len();
        errors += inv.lockfiles.iter().filter(|l| l.error.is_some()).count();
        for mut f in scan::find(&inv, db) {
            f.lockfile = PathBuf::from(format!("{label}:{}", f.lockfile.display()));
            findings.push(f);
        }
    }
    Ok((packages, findings, errors))
}

fn alert(f: &Finding) -> AlertEvent {
    let (severity, note) = match f.severity {
        Some(s) => (s, None),
        None => (
            Severity::Medium,
            Some("the advisory has no severity score; reported as medium".to_owned()),
        ),
    };
    let title = if f.summary.is_empty() {
        format!("{} {}: {}", f.package, f.version, f.advisory_id)
    } else {
        format!(
            "{} {}: {} {}",
            f.package, f.version, f.advisory_id, f.summary
        )
    };
    let mut ev = AlertEvent::new(AlertSource::Sbom, f.advisory_id.clone(), title, severity);
    ev.severity_note = note;
    ev.description = format!(
        "{} {} ({}) in {} is affected by {}{}{}",
        f.package,
        f.version,
        f.ecosystem,
        f.lockfile.display(),
        f.advisory_id,
        if f.fixed.is_empty() {
            "; no fixed version".to_owned()
        } else {
            format!("; fixed in {}", f.fixed.join(", "))
        },
        f.url
            .as_deref()
            .map(|u| format!("; {u}"))
            .unwrap_or_default()
    );
    ev.entities.package = Some(PackageRef {
        ecosystem: f.ecosystem.to_owned(),
        name: f.package.clone(),
        version: f.version.clone(),
        advisory_id: Some(f.advisory_id.clone()),
    });
    ev.tags = f.aliases.clone();
    if let (Kind::Warning, Some(i)) = (f.kind, &f.informational) {
        ev.tags.push(i.clone());
    }
    ev
}

async fn run(
    cfg: SbomConfig,
    db_dir: PathBuf,
    m: Arc<Metrics>,
    alerts: mpsc::Sender<AlertEvent>,
    state: Arc<Mutex<State>>,
    mut stop: watch::Receiver<bool>,
) {
    let images: Arc<ImageCache> = Arc::new(Mutex::new(HashMap::new()));
    let mut tick = tokio::time::interval(cfg.scan_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let started = Instant::now();
        let (c, d, mm, ic) = (cfg.clone(), db_dir.clone(), m.clone(), images.clone());
        let outcome = match tokio::task::spawn_blocking(move || scan_once(&c, &d, &mm, &ic)).await {
            Ok(o) => o,
            Err(e) => Outcome::Error(format!("scan task failed: {e}")),
        };
        m.duration.observe(started.elapsed().as_secs_f64());
        let (findings, lockfile_errors) = match outcome {
            Outcome::Ok {
                findings,
                lockfile_errors,
            } => (findings, lockfile_errors),
            Outcome::DbError(e) => {
                m.scans.with_label_values(&["db_error"]).inc();
                warn!(db = %db_dir.display(), error = %e, "sbom scan skipped: no usable vulnerability database");
                lock(&state).health = Health::Degraded(format!(
                    "vulnerability database {} unusable ({e}); import one with `ironpost-cli db import <advisory-db or OSV dir/zip>`",
                    db_dir.display()
                ));
                continue;
            }
            Outcome::Error(e) => {
                m.scans.with_label_values(&["error"]).inc();
                m.lockfile_errors.inc();
                warn!(error = %e, "sbom scan failed");
                lock(&state).health = Health::Degraded(format!("last scan failed: {e}"));
                continue;
            }
        };
        m.lockfile_errors.inc_by(lockfile_errors as u64);
        for s in Severity::ALL {
            m.findings.with_label_values(&[s.as_str()]).set(0);
        }
        m.findings.with_label_values(&["unknown"]).set(0);
        for f in &findings {
            m.findings
                .with_label_values(&[severity_label(f.severity)])
                .inc();
        }
        let due: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.at_or_above(cfg.min_severity))
            .collect();
        let new: Vec<&Finding> = {
            let st = lock(&state);
            due.iter()
                .copied()
                .filter(|f| !st.alerted.contains(&f.key()))
                .collect()
        };
        let mut sent = HashSet::new();
        for f in &new {
            if alerts.send(alert(f)).await.is_err() {
                break; // the daemon is shutting down
            }
            m.alerts.inc();
            sent.insert(f.key());
        }
        // Counted once its alerts are sent: a completed scan includes its alerting.
        m.scans.with_label_values(&["ok"]).inc();
        info!(
            findings = findings.len(),
            alerted = sent.len(),
            lockfile_errors,
            "sbom scan done"
        );
        let mut st = lock(&state);
        // Keep only keys still found, so a finding that goes away and comes back alerts again.
        let current: HashSet<String> = due.iter().map(|f| f.key()).collect();
        st.alerted.retain(|k| current.contains(k));
        st.alerted.extend(sent);
        st.health = if lockfile_errors == 0 {
            Health::Healthy
        } else {
            Health::Degraded(format!(
                "{lockfile_errors} lockfile(s) or directories could not be read in the last scan"
            ))
        };
    }
}

impl Module for SbomModule {
    fn name(&self) -> &'static str {
        "sbom"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            self.task = Some(tokio::spawn(run(
                self.cfg.clone(),
                self.db_dir.clone(),
                self.metrics.clone(),
                self.alerts.clone(),
                self.state.clone(),
                self.stop.subscribe(),
            )));
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let _ = self.stop.send(true);
            if let Some(t) = self.task.take() {
                let _ = t.await;
            }
            Ok(())
        })
    }

    fn health(&self) -> Health {
        lock(&self.state).health.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_db_path_is_under_data_dir() {
        let mut cfg = SbomConfig::default();
        assert_eq!(
            db_dir(&cfg, Path::new("/d")),
            PathBuf::from("/var/lib/ironpost/vuln-db")
        );
        cfg.vuln_db_path = "vuln-db".into();
        assert_eq!(db_dir(&cfg, Path::new("/d")), PathBuf::from("/d/vuln-db"));
    }

    fn osv(dir: &Path, id: &str) {
        let rec = format!(
            r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","summary":"test {id}","aliases":["CVE-{id}"],
            "affected":[{{"package":{{"ecosystem":"crates.io","name":"demo"}},
            "ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"2.0.0"}}]}}]}}]}}"#
        );
        std::fs::write(dir.join(format!("{id}.json")), rec).unwrap();
    }

    fn scans_ok(r: &prometheus::Registry) -> u64 {
        let text = metrics::render(r);
        text.lines()
            .find_map(|l| l.strip_prefix("ironpost_sbom_scans_total{result=\"ok\"} "))
            .map_or(0, |v| v.parse().unwrap())
    }

    async fn wait_scans(r: &prometheus::Registry, n: u64) {
        while scans_ok(r) < n {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_finding_alerts_once_and_a_new_advisory_alerts_after_reimport() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, db, proj) = (
            tmp.path().join("src"),
            tmp.path().join("db"),
            tmp.path().join("p"),
        );
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(
            proj.join("Cargo.lock"),
            "version = 3\n\n[[package]]\nname = \"demo\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        )
        .unwrap();
        osv(&src, "TEST-0001");
        Db::import(&db, &src).unwrap();
        let cfg = SbomConfig {
            enabled: true,
            scan_dirs: vec![proj.clone()],
            vuln_db_path: db.clone(),
            min_severity: Severity::High,
            ..SbomConfig::default()
        };
        let registry = metrics::new_registry();
        let (tx, mut rx) = mpsc::channel(8);
        let mut m = SbomModule::new(cfg, tmp.path(), &registry, tx);
        m.start().await.unwrap();

        // First scan at start; no severity score, so it passes min_severity = high.
        let a = rx.recv().await.unwrap();
        assert_eq!(a.rule_id, "TEST-0001");
        assert_eq!(a.source, AlertSource::Sbom);
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.tags, ["CVE-TEST-0001"]);
        let p = a.entities.package.unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("demo", "1.0.0"));
        assert_eq!(p.advisory_id.as_deref(), Some("TEST-0001"));

        // Two more scans (60 s apart): nothing new, nothing re-alerted.
        wait_scans(&registry, 3).await;
        assert!(rx.try_recv().is_err(), "a finding was alerted twice");
        assert_eq!(m.health(), Health::Healthy);

        // A re-import brings a second advisory for the same package: it alerts, the first not.
        osv(&src, "TEST-0002");
        Db::import(&db, &src).unwrap();
        // The scan running during the import may have read the old database: wait for two more.
        let n = scans_ok(&registry);
        wait_scans(&registry, n + 2).await;
        let b = rx.try_recv().unwrap();
        assert_eq!(b.rule_id, "TEST-0002");
        assert!(rx.try_recv().is_err());
        m.stop().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn missing_db_degrades_with_the_import_hint() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = SbomConfig {
            enabled: true,
            scan_dirs: vec![tmp.path().to_owned()],
            vuln_db_path: tmp.path().join("nodb"),
            ..SbomConfig::default()
        };
        let (tx, _rx) = mpsc::channel(8);
        let mut m = SbomModule::new(cfg, tmp.path(), &metrics::new_registry(), tx);
        m.start().await.unwrap();
        let h = loop {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let h = m.health();
            if !matches!(&h, Health::Degraded(r) if r.starts_with("first scan")) {
                break h;
            }
        };
        m.stop().await.unwrap();
        let Health::Degraded(reason) = h else {
            panic!("{h:?}")
        };
        assert!(reason.contains("nodb"), "{reason}");
        assert!(reason.contains("ironpost-cli db import"), "{reason}");
    }
}
