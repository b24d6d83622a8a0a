//! sbom-scanner: lockfile inventory and SBOM generation.
//!
//! Entry points: [`parse_lockfile`] reads one lockfile (format from its file name, see
//! [`Format`]); [`inventory`] walks scan directories (`discover.rs`) and parses every lockfile
//! found, collecting per-file errors; [`cyclonedx`] and [`spdx`] render an inventory as SBOM JSON.
//! The `[sbom]` config section lives in `config.rs`.
//!
//! Vulnerability scanning: [`scan::find`] matches an inventory against an
//! [`ironpost_vulndb::Db`]; [`scan::apply`] applies the policy (minimum severity, the
//! suppressions file and CycloneDX VEX of `suppress.rs`) into a [`ScanReport`]; `render.rs` prints
//! it as a table or SARIF 2.1.0. `module.rs` is the daemon's `sbom` module (periodic scans →
//! `AlertEvent`s).
//!
//! Architecture invariant: depends on `ironpost-core` and `ironpost-vulndb` (the database this
//! crate matches against) only. Parsers never panic on hostile input:
//! a file over [`MAX_FILE_BYTES`] or with more than [`MAX_PACKAGES`] packages is an error naming
//! the file.

pub mod binary;
pub mod config;
pub mod containers;
mod discover;
mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod image;
mod lockfile;
mod module;
pub mod os;
mod package;
mod render;
mod sbom;
pub mod scan;
mod suppress;
pub mod tree;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use config::{SbomConfig, SbomFormat};
pub use error::{Error, MAX_FILE_BYTES, MAX_PACKAGES};
pub use lockfile::Format;
pub use module::{SbomModule, db_dir};
pub use package::{
    Checksum, Ecosystem, HashAlg, Inventory, LockfileReport, OsPackage, Package, Skipped, Source,
};
pub use render::{sarif, table};
pub use sbom::cyclonedx::CycloneDxVersion;
pub use scan::{Finding, Policy, ScanReport};
pub use suppress::{Suppressions, Vex};

/// Parses one lockfile: its packages de-duplicated and sorted, each naming `path` as its lockfile.
/// Lines deliberately skipped (unpinned requirements) are dropped here; [`inventory`] reports them.
pub fn parse_lockfile(path: &Path) -> Result<Vec<Package>, Error> {
    lockfile::parse_file(path).map(|p| p.packages)
}

/// Inventories every lockfile under `scan_dirs`. A scan directory that cannot be read is an error;
/// a lockfile that cannot be parsed is reported in [`Inventory::lockfiles`] and the scan goes on.
/// Each directory is opened as a [`tree::HostTree`]: links resolve inside it, FIFOs and devices
/// are never opened (counted in [`Inventory::skipped_entries`]).
pub fn inventory(scan_dirs: &[PathBuf]) -> Result<Inventory, Error> {
    let mut inv = Inventory {
        scan_dirs: scan_dirs.to_vec(),
        ..Inventory::default()
    };
    let mut seen = HashSet::new();
    for dir in scan_dirs {
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(io)?;
        if meta.is_dir() {
            let tree = tree::HostTree::open(dir).map_err(io)?;
            add_tree(&mut inv, &tree, &[], &mut seen);
        } else if let (Some(_), Some(name)) = (Format::from_path(dir), dir.file_name()) {
            // One lockfile named on its own: its directory is the root it is read in.
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            let tree = tree::HostTree::open(parent.unwrap_or(Path::new("."))).map_err(io)?;
            read_lockfile(&mut inv, &tree, Path::new(name), &mut seen);
        }
    }
    sort_packages(&mut inv);
    Ok(inv)
}

/// Inventories a whole tree (a container's root, an image): its OS package databases and every
/// lockfile, leaving out the top-level directories named in `skip_top` (e.g. `proc`).
/// `label` names the tree in [`Inventory::scan_dirs`].
pub fn inventory_tree(tree: &dyn tree::Tree, label: &Path, skip_top: &[&str]) -> Inventory {
    let mut inv = Inventory {
        scan_dirs: vec![label.to_owned()],
        ..Inventory::default()
    };
    add_tree(&mut inv, tree, skip_top, &mut HashSet::new());
    sort_packages(&mut inv);
    inv
}

fn add_tree(
    inv: &mut Inventory,
    tree: &dyn tree::Tree,
    skip_top: &[&str],
    seen: &mut HashSet<(u64, u64)>,
) {
    // A root filesystem: its OS package databases first.
    for (path, parsed) in os::inventory_root(tree, &mut inv.skipped_entries) {
        add_report(inv, path, parsed);
    }
    let (files, errors) =
        discover::discover(tree, Path::new(""), skip_top, &mut inv.skipped_entries);
    inv.walk_errors.extend(errors);
    for rel in files {
        read_lockfile(inv, tree, &rel, seen);
    }
}

/// Opens and parses one lockfile of `tree` (once per host file, however many paths reach it).
fn read_lockfile(
    inv: &mut Inventory,
    tree: &dyn tree::Tree,
    rel: &Path,
    seen: &mut HashSet<(u64, u64)>,
) {
    let Some(format) = Format::from_path(rel) else {
        return;
    };
    let path = tree.display(rel);
    let parsed = match tree.open(rel, MAX_FILE_BYTES) {
        Ok(opened) => {
            if let Some(id) = opened.id()
                && !seen.insert(id)
            {
                return;
            }
            lockfile::parse_opened(format, &path, opened)
        }
        Err(tree::OpenError::Missing) => return,
        Err(tree::OpenError::Skipped(r)) => {
            inv.skipped_entries.add(r);
            return;
        }
        Err(tree::OpenError::TooLarge(size)) => {
            inv.skipped_entries.add(tree::SkipReason::TooLarge);
            Err(Error::TooLarge {
                path: path.clone(),
                size,
                limit: MAX_FILE_BYTES,
            })
        }
        Err(tree::OpenError::Io(source)) => Err(Error::Io {
            path: path.clone(),
            source,
        }),
    };
    add_report(inv, path, parsed);
}

fn sort_packages(inv: &mut Inventory) {
    // No two packages share this whole key (each file is de-duplicated), so the order is total.
    // Each file's packages come sorted by the rest of the key: one file needs no sort.
    let files_with_packages = inv.lockfiles.iter().filter(|l| l.packages > 0).count();
    if files_with_packages <= 1 {
        return;
    }
    inv.packages.sort_unstable_by(|a, b| {
        (a.ecosystem, &a.name, &a.version, &a.source, &a.lockfile).cmp(&(
            b.ecosystem,
            &b.name,
            &b.version,
            &b.source,
            &b.lockfile,
        ))
    });
}

/// Adds what one lockfile (or package database) gave to the inventory, within the package limit.
fn add_report(inv: &mut Inventory, path: PathBuf, parsed: Result<lockfile::Parsed, Error>) {
    let report = match parsed {
        Ok(parsed) if inv.packages.len() + parsed.packages.len() > MAX_PACKAGES => LockfileReport {
            error: Some(lockfile::too_many(&path)),
            path,
            packages: 0,
            skipped: parsed.skipped,
        },
        Ok(parsed) => {
            let report = LockfileReport {
                path,
                packages: parsed.packages.len(),
                skipped: parsed.skipped,
                error: None,
            };
            if inv.packages.is_empty() {
                inv.packages = parsed.packages;
            } else {
                inv.packages.extend(parsed.packages);
            }
            report
        }
        Err(e) => LockfileReport {
            path,
            packages: 0,
            skipped: Vec::new(),
            error: Some(e),
        },
    };
    inv.lockfiles.push(report);
}

/// The inventory as a CycloneDX JSON document.
pub fn cyclonedx(inv: &Inventory, version: CycloneDxVersion) -> serde_json::Value {
    sbom::cyclonedx::render(inv, version, sbom::DocMeta::now())
}

/// The inventory as an SPDX 2.3 JSON document.
pub fn spdx(inv: &Inventory) -> serde_json::Value {
    sbom::spdx::render(inv, sbom::DocMeta::now())
}
