//! CVE-aware severity: the lockfiles inside each running container (its root filesystem as the host
//! sees it, `/proc/<pid>/root`, found through a [`ContainerDirectory`] — the container guard's
//! Docker inventory, which the daemon hands in) are matched
//! against the SBOM scanner's vulnerability database; an alert that concerns a container with
//! known vulnerable packages is raised one severity level, with `severity_note` saying why and the
//! tag `vulnerable_container` (`sbom.raise_container_alerts`, on by default when both the
//! container guard and the SBOM scanner are enabled).
//!
//! Each container is scanned once (by id) when it is first seen running; new containers are found
//! every `RESCAN`. The gauge `ironpost_sbom_vulnerable_containers` counts those with findings.
//! A root is walked through [`HostTree`] (links resolve inside the container's root, FIFOs and
//! devices are never opened; `ironpost_sbom_container_skipped_entries_total{reason}`), with its
//! OS package databases read as well as its lockfiles. With [`ContainerVulns::with_images`] the
//! container's *image* is matched too: exported from the Docker engine once per image id and
//! kept, so containers of one image share one image scan.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ironpost_core::containers::ContainerDirectory;
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{AlertEvent, AlertSource};
use ironpost_vulndb::Db;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::scan;
use crate::tree::HostTree;

/// How often running containers are listed to find new ones.
const RESCAN: Duration = Duration::from_secs(30);
/// Top-level directories of a container's root that are never walked.
const SKIP: &[&str] = &["proc", "sys", "dev", "run"];
/// Advisory ids quoted in the note at most.
const QUOTED: usize = 3;

/// Known vulnerable packages of one container.
#[derive(Debug, Clone, Default)]
struct Vulns {
    name: String,
    findings: usize,
    ids: Vec<String>,
}

/// Container id → what its lockfiles hold.
pub struct ContainerVulns {
    directory: Arc<dyn ContainerDirectory>,
    /// The Docker engine's socket: each container's image is scanned too (once per image id).
    docker_socket: Option<PathBuf>,
    images: Mutex<HashMap<String, Arc<crate::Inventory>>>,
    by_id: Mutex<HashMap<String, Vulns>>,
    vulnerable: prometheus::IntGauge,
    skipped: prometheus::IntCounterVec,
}

impl std::fmt::Debug for ContainerVulns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerVulns")
            .field("containers", &self.map().len())
            .finish_non_exhaustive()
    }
}

impl ContainerVulns {
    pub fn new(directory: Arc<dyn ContainerDirectory>, r: &prometheus::Registry) -> Self {
        ContainerVulns {
            directory,
            docker_socket: None,
            images: Mutex::new(HashMap::new()),
            by_id: Mutex::new(HashMap::new()),
            vulnerable: metrics::int_gauge(
                r,
                "sbom_vulnerable_containers",
                "Running containers whose lockfiles hold packages with known vulnerabilities.",
            ),
            skipped: crate::tree::skip_counter(
                r,
                "sbom_container_skipped_entries_total",
                "Entries of running containers' roots passed over by reason (not_regular, \
                 unresolved_link, too_large).",
            ),
        }
    }

    /// Matches each container's image too, exported from the engine at `socket` (each image id
    /// inventoried once and kept while a container of it runs).
    pub fn with_images(mut self, socket: PathBuf) -> Self {
        self.docker_socket = Some(socket);
        self
    }

    /// The inventory of the image `container` runs, from the cache or the engine.
    fn image_inventory(&self, container: &str) -> Option<Arc<crate::Inventory>> {
        let engine = crate::image::Engine::connect(self.docker_socket.as_deref()?)
            .inspect_err(|e| warn!(error = %scan::error_chain(e), "Docker engine unreachable"))
            .ok()?;
        let id = engine.container_image(container).ok()?;
        let cached = self
            .images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        if let Some(inv) = cached {
            return Some(inv);
        }
        let (limits, keep) = crate::image::daemon_load_options();
        let loaded = engine
            .export(&id, &std::env::temp_dir())
            .and_then(|f| crate::image::load_saved(Path::new(&id), f, limits, keep));
        let loaded = loaded
            .inspect_err(|e| warn!(image = %id, error = %scan::error_chain(e), "image scan failed"))
            .ok()?;
        let inv = Arc::new(crate::image::inventory(&loaded, Path::new(&id)));
        crate::tree::count_skips(&self.skipped, &inv.skipped_entries);
        self.images
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, inv.clone());
        Some(inv)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vulns>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Raises `alert` one level when it concerns a container with known vulnerable packages
    /// (acting or attacked: raising a severity isolates nothing by itself).
    pub fn raise(&self, alert: &mut AlertEvent) {
        if alert.source == AlertSource::Sbom {
            return;
        }
        let Some(c) = self.directory.container_of(alert) else {
            return;
        };
        let Some(v) = self.map().get(&c.id).cloned().filter(|v| v.findings > 0) else {
            return;
        };
        let old = alert.severity;
        alert.severity = old.raised(1);
        alert.severity_note = Some(format!(
            "raised from {old}: container {} has {} known vulnerable package finding(s) ({})",
            v.name,
            v.findings,
            v.ids.join(", ")
        ));
        alert.tags.push("vulnerable_container".into());
    }
}

fn scan_container(
    index: &ContainerVulns,
    id: &str,
    root: &Path,
    db_dir: &Path,
) -> Result<(usize, Vec<String>), String> {
    let db = Db::open(db_dir).map_err(|e| scan::error_chain(&e))?;
    // Opened once; every path inside resolves within this root (tree.rs).
    let tree = HostTree::open(root).map_err(|e| format!("cannot open {}: {e}", root.display()))?;
    let inv = crate::inventory_tree(&tree, root, SKIP);
    crate::tree::count_skips(&index.skipped, &inv.skipped_entries);
    let mut findings: Vec<_> = scan::find(&inv, &db);
    if let Some(image) = index.image_inventory(id) {
        findings.extend(scan::find(&image, &db));
    }
    // The same package found in the image and in the running root counts once.
    let mut seen = HashSet::new();
    findings.retain(|f| {
        f.kind == scan::Kind::Vulnerability
            && seen.insert((f.advisory_id.clone(), f.package.clone(), f.version.clone()))
    });
    let mut ids: Vec<String> = findings.iter().map(|f| f.advisory_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids.truncate(QUOTED);
    Ok((findings.len(), ids))
}

/// Scans containers as they appear, until `stop`.
pub async fn run(index: Arc<ContainerVulns>, db_dir: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        // Until Docker answers, look again every second; then every RESCAN.
        let mut wait = Duration::from_secs(1);
        if let Ok(roots) = index.directory.running_roots().await {
            wait = RESCAN;
            let present: HashSet<String> = roots.iter().map(|(c, _)| c.id.clone()).collect();
            index.map().retain(|id, _| present.contains(id));
            if roots.is_empty() {
                // No container runs any image any more: nothing kept.
                index
                    .images
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
            }
            for (c, root) in roots {
                if index.map().contains_key(&c.id) {
                    continue;
                }
                let (d, ix, id) = (db_dir.clone(), index.clone(), c.id.clone());
                let r =
                    tokio::task::spawn_blocking(move || scan_container(&ix, &id, &root, &d)).await;
                match r {
                    Ok(Ok((findings, ids))) => {
                        if findings > 0 {
                            info!(container = %c.name, findings, advisories = ?ids, "container holds vulnerable packages");
                        }
                        let v = Vulns {
                            name: c.name.clone(),
                            findings,
                            ids,
                        };
                        index.map().insert(c.id.clone(), v);
                    }
                    // The database may not be imported yet: try again on the next round.
                    Ok(Err(e)) => warn!(container = %c.name, error = %e, "container scan failed"),
                    Err(e) => warn!(container = %c.name, error = %e, "container scan task failed"),
                }
            }
            let n = index.map().values().filter(|v| v.findings > 0).count();
            index.vulnerable.set(n as i64);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone). The borrow `wait_for` returns is
/// dropped here, so the caller's future stays `Send`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.is_ok();
}
