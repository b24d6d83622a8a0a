//! SBOM documents from an inventory: CycloneDX JSON (1.5, 1.6) and SPDX 2.3 JSON.
//!
//! A package found in several lockfiles becomes one component (its id is its purl); it is
//! dev-only if it is dev-only everywhere. Output is sorted so that two runs over the same tree
//! differ only in timestamp and serial number/namespace.

pub(crate) mod cyclonedx;
pub(crate) mod spdx;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::package::{Checksum, Ecosystem, HashAlg, Inventory, Source};

/// What makes two documents for the same inventory differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocMeta {
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) serial: Uuid,
}

impl DocMeta {
    pub(crate) fn now() -> DocMeta {
        DocMeta {
            timestamp: Utc::now(),
            serial: Uuid::new_v4(),
        }
    }
}

pub(crate) const TOOL_NAME: &str = "ironpost-sbom-scanner";
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One package of the document, merged over the lockfiles it appears in.
#[derive(Debug)]
pub(crate) struct Component {
    pub(crate) id: String,
    pub(crate) ecosystem: Ecosystem,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) source: Source,
    pub(crate) checksums: BTreeSet<Checksum>,
    pub(crate) dev: bool,
    /// `None` where no lockfile recorded its dependencies.
    pub(crate) dependencies: Option<BTreeSet<String>>,
    pub(crate) lockfiles: BTreeSet<PathBuf>,
}

/// Components sorted by id, dependencies restricted to components of the document.
pub(crate) fn components(inv: &Inventory) -> Vec<Component> {
    let mut by_id: BTreeMap<String, Component> = BTreeMap::new();
    for p in &inv.packages {
        let c = by_id.entry(p.id()).or_insert_with(|| Component {
            id: p.id(),
            ecosystem: p.ecosystem,
            name: p.name.clone(),
            version: p.version.clone(),
            source: p.source.clone(),
            checksums: BTreeSet::new(),
            dev: true,
            dependencies: None,
            lockfiles: BTreeSet::new(),
        });
        c.checksums.extend(p.checksums.iter().cloned());
        c.dev &= p.dev;
        if let Some(deps) = &p.dependencies {
            c.dependencies
                .get_or_insert_default()
                .extend(deps.iter().cloned());
        }
        c.lockfiles.insert(p.lockfile.to_path_buf());
    }
    let ids: BTreeSet<String> = by_id.keys().cloned().collect();
    by_id
        .into_values()
        .map(|mut c| {
            if let Some(d) = &mut c.dependencies {
                d.retain(|id| ids.contains(id) && *id != c.id);
            }
            c
        })
        .collect()
}

/// The document's subject: the scanned directories.
pub(crate) fn subject_name(inv: &Inventory) -> String {
    if inv.scan_dirs.is_empty() {
        return "ironpost inventory".to_owned();
    }
    inv.scan_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn hash_name(alg: HashAlg, spdx: bool) -> &'static str {
    match (alg, spdx) {
        (HashAlg::Sha1, false) => "SHA-1",
        (HashAlg::Sha256, false) => "SHA-256",
        (HashAlg::Sha512, false) => "SHA-512",
        (HashAlg::Sha1, true) => "SHA1",
        (HashAlg::Sha256, true) => "SHA256",
        (HashAlg::Sha512, true) => "SHA512",
    }
}

/// A URL that both schemas' URL checks accept: scheme, then a host name.
pub(crate) fn plain_url(url: &str) -> Option<&str> {
    let rest = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))?;
    let host = rest.split(['/', ':']).next()?;
    let host = host.rsplit('@').next()?;
    let ok = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !url.contains(char::is_whitespace);
    ok.then_some(url)
}
