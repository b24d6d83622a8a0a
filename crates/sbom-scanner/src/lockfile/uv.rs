//! `uv.lock`: `[[package]]` entries with a `source` table (registry, git, path, directory,
//! editable, virtual, url), `sdist`/`wheels` hashes, and dependencies by name (plus version and
//! source where a name is ambiguous). Dev-only packages are those reachable only through the
//! local projects' `dev-dependencies`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Ctx, Parsed, mark_dev_only};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, Package, Source, normalize_pypi_name};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, String>,
    sdist: Option<Artifact>,
    #[serde(default)]
    wheels: Vec<Artifact>,
    #[serde(default)]
    dependencies: Vec<Dep>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dep>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<Dep>>,
}

#[derive(Deserialize)]
struct Artifact {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct Dep {
    name: String,
    version: Option<String>,
}

const PYPI: [&str; 2] = ["https://pypi.org/simple", "https://pypi.org/simple/"];

fn source(s: &BTreeMap<String, String>) -> Source {
    let (kind, value) = s
        .iter()
        .next()
        .map_or(("", ""), |(k, v)| (k.as_str(), v.as_str()));
    match kind {
        "registry" if PYPI.contains(&value) => Source::Registry { url: None },
        "registry" => Source::Registry {
            url: Some(value.to_owned()),
        },
        "git" => {
            let (url, rev) = match value.split_once('#') {
                Some((u, r)) => (u, Some(r.to_owned())),
                None => (value, None),
            };
            Source::Git {
                url: url.split_once('?').map_or(url, |(u, _)| u).to_owned(),
                rev,
            }
        }
        "url" => Source::Url(value.to_owned()),
        "" => Source::Registry { url: None },
        _ => Source::Path(value.to_owned()),
    }
}

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let lock: Lock = ctx.toml(text)?;
    let mut packages: Vec<Package> = lock
        .package
        .iter()
        .map(|e| {
            let src = source(&e.source);
            let mut p = Package::new(
                Ecosystem::PyPI,
                &normalize_pypi_name(&e.name),
                e.version.as_deref().unwrap_or_default(),
                src,
            );
            p.checksums = e
                .sdist
                .iter()
                .chain(&e.wheels)
                .filter_map(|a| a.hash.as_deref().and_then(Checksum::from_prefixed_hex))
                .collect();
            p
        })
        .collect();
    let ids: Vec<(String, String, String)> = packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), p.id()))
        .collect();
    let resolve = |d: &Dep| {
        let name = normalize_pypi_name(&d.name);
        let mut hits = ids
            .iter()
            .filter(|(n, v, _)| *n == name && d.version.as_ref().is_none_or(|dv| dv == v));
        let first = hits.next()?;
        hits.next().is_none().then(|| first.2.clone())
    };
    let mut dev = Vec::new();
    for (p, e) in packages.iter_mut().zip(&lock.package) {
        let deps = e
            .dependencies
            .iter()
            .chain(e.optional_dependencies.values().flatten())
            .filter_map(resolve)
            .collect();
        p.dependencies = Some(deps);
        if matches!(p.source, Source::Path(_)) {
            let dev_deps: Vec<String> = e
                .dev_dependencies
                .values()
                .flatten()
                .filter_map(resolve)
                .collect();
            dev.extend(dev_deps.iter().cloned());
            p.dependencies.get_or_insert_default().extend(dev_deps);
        }
    }
    // Edges from local projects to their dev dependencies must not make those prod: walk from the
    // local projects' own prod edges.
    let prod_roots: Vec<String> = packages
        .iter()
        .zip(&lock.package)
        .filter(|(p, _)| matches!(p.source, Source::Path(_)))
        .flat_map(|(_, e)| {
            e.dependencies
                .iter()
                .chain(e.optional_dependencies.values().flatten())
        })
        .filter_map(resolve)
        .collect();
    mark_dev_only(&mut packages, &prod_roots, &dev);
    Ok(Parsed {
        packages,
        skipped: Vec::new(),
    })
}
