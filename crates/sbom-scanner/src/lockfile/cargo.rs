//! `Cargo.lock`, versions 1 to 4.
//!
//! v1 keeps the root package in `[root]` and checksums in `[metadata]` as
//! `"checksum NAME VERSION (SOURCE)" = "HEX"`; later versions put `checksum` on the package.
//! Dependencies are `"name"`, `"name version"` or `"name version (source)"`, as precise as needed
//! to be unambiguous. Packages without `source` are workspace members or path dependencies.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Ctx, Parsed};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, HashAlg, Package, Source};

#[derive(Deserialize)]
struct Lock {
    version: Option<i64>,
    root: Option<Entry>,
    #[serde(default)]
    package: Vec<Entry>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let lock: Lock = ctx.toml(text)?;
    if let Some(v) = lock.version
        && !(1..=4).contains(&v)
    {
        return Err(ctx.invalid(None, format!("unsupported Cargo.lock version {v}")));
    }
    let entries: Vec<Entry> = lock.root.into_iter().chain(lock.package).collect();

    let mut packages: Vec<Package> = entries
        .iter()
        .map(|e| {
            let mut p = Package::new(
                Ecosystem::CratesIo,
                &e.name,
                &e.version,
                source(e.source.as_deref()),
            );
            let meta_key = format!(
                "checksum {} {} ({})",
                e.name,
                e.version,
                e.source.as_deref().unwrap_or_default()
            );
            let sum = e
                .checksum
                .as_deref()
                .or_else(|| lock.metadata.get(&meta_key).and_then(|v| v.as_str()));
            p.checksums
                .extend(sum.and_then(|s| Checksum::from_hex(HashAlg::Sha256, s)));
            p
        })
        .collect();

    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_name.entry(e.name.as_str()).or_default().push(i);
    }
    let ids: Vec<String> = packages.iter().map(Package::id).collect();
    for (i, e) in entries.iter().enumerate() {
        let deps = e
            .dependencies
            .iter()
            .filter_map(|d| resolve(d, &entries, &by_name).map(|j| ids[j].clone()))
            .collect();
        packages[i].dependencies = Some(deps);
    }
    Ok(Parsed {
        packages,
        skipped: Vec::new(),
    })
}

/// Index of the entry a dependency string names, if exactly one matches.
fn resolve(dep: &str, entries: &[Entry], by_name: &HashMap<&str, Vec<usize>>) -> Option<usize> {
    let mut parts = dep.splitn(3, ' ');
    let name = parts.next()?;
    let version = parts.next();
    let source = parts
        .next()
        .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
    let key = |i: usize| (&entries[i].version, &entries[i].source);
    let mut hits = by_name.get(name)?.iter().copied().filter(|&i| {
        version.is_none_or(|v| entries[i].version == v)
            && source.is_none_or(|s| entries[i].source.as_deref() == Some(s))
    });
    let first = hits.next()?;
    // A package listed twice is still one package.
    hits.all(|i| key(i) == key(first)).then_some(first)
}

fn source(s: Option<&str>) -> Source {
    let Some(s) = s else { return Source::Local };
    if CRATES_IO.contains(&s) {
        return Source::Registry { url: None };
    }
    if let Some(url) = s
        .strip_prefix("registry+")
        .or_else(|| s.strip_prefix("sparse+"))
    {
        return Source::Registry {
            url: Some(url.to_owned()),
        };
    }
    if let Some(rest) = s.strip_prefix("git+") {
        let (url, rev) = match rest.split_once('#') {
            Some((u, rev)) => (u, Some(rev.to_owned())),
            None => (rest, None),
        };
        let url = url.split_once('?').map_or(url, |(u, _)| u);
        return Source::Git {
            url: url.to_owned(),
            rev,
        };
    }
    if let Some(p) = s.strip_prefix("path+") {
        return Source::Path(p.to_owned());
    }
    Source::Url(s.to_owned())
}
