//! `poetry.lock`: `[[package]]` entries with `[package.source]` for git, directory, file, url and
//! private-index packages, distribution hashes in `files` (or, before lock-version 2,
//! `[metadata.files]`), and `category = "dev"` where older Poetry wrote it.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Ctx, Parsed};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, Package, Source, normalize_pypi_name};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Entry>,
    #[serde(default)]
    metadata: Metadata,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    files: BTreeMap<String, Vec<FileHash>>,
}

#[derive(Deserialize)]
struct FileHash {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    category: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    files: Vec<FileHash>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
    source: Option<EntrySource>,
}

#[derive(Deserialize)]
struct EntrySource {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    reference: Option<String>,
    resolved_reference: Option<String>,
}

fn source(s: Option<&EntrySource>) -> Source {
    let Some(s) = s else {
        return Source::Registry { url: None };
    };
    let url = s.url.clone().unwrap_or_default();
    match s.kind.as_str() {
        "git" => Source::Git {
            url,
            rev: s.resolved_reference.clone().or_else(|| s.reference.clone()),
        },
        "directory" | "file" => Source::Path(url),
        "url" => Source::Url(url),
        _ => Source::Registry { url: Some(url) },
    }
}

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let lock: Lock = ctx.toml(text)?;
    let mut packages: Vec<Package> = lock
        .package
        .iter()
        .map(|e| {
            let name = normalize_pypi_name(&e.name);
            let mut p = Package::new(
                Ecosystem::PyPI,
                &name,
                &e.version,
                source(e.source.as_ref()),
            );
            let old_files = lock
                .metadata
                .files
                .get(&e.name)
                .or_else(|| lock.metadata.files.get(&name));
            p.checksums = e
                .files
                .iter()
                .chain(old_files.into_iter().flatten())
                .filter_map(|f| f.hash.as_deref().and_then(Checksum::from_prefixed_hex))
                .collect();
            p.dev = e.category.as_deref() == Some("dev");
            p.optional = e.optional;
            p
        })
        .collect();
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for p in &packages {
        by_name.entry(p.name.clone()).or_default().push(p.id());
    }
    for (p, e) in packages.iter_mut().zip(&lock.package) {
        let deps = e
            .dependencies
            .keys()
            .filter_map(
                |d| match by_name.get(&normalize_pypi_name(d)).map(Vec::as_slice) {
                    Some([only]) => Some(only.clone()),
                    _ => None,
                },
            )
            .collect();
        p.dependencies = Some(deps);
    }
    Ok(Parsed {
        packages,
        skipped: Vec::new(),
    })
}
