//! `package-lock.json` / `npm-shrinkwrap.json`, lockfile versions 1, 2 and 3.
//!
//! v2 and v3 have a `packages` map keyed by install path (`node_modules/a/node_modules/b`); the
//! root `""` is the project itself and is left out. v1 has only the nested `dependencies` tree with
//! `requires`. An alias installs the real package under another directory name: v2 writes the real
//! name in `name`, v1 writes the version as `npm:real@1.2.3`. Dependencies resolve the way Node
//! does: the nearest `node_modules` up the tree.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Ctx, Parsed, npm_source_from_url, split_npm_spec};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, Package, Skipped, Source};

#[derive(Deserialize)]
struct Lock {
    packages: Option<BTreeMap<String, Node>>,
    dependencies: Option<BTreeMap<String, V1Dep>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    dev_optional: bool,
    #[serde(default)]
    in_bundle: bool,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct V1Dep {
    version: String,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    bundled: bool,
    #[serde(default)]
    requires: BTreeMap<String, String>,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Dep>,
}

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let lock: Lock = ctx.json(text)?;
    match (lock.packages, lock.dependencies) {
        (Some(nodes), _) => Ok(parse_v2(&nodes)),
        (None, Some(deps)) => {
            let mut parsed = Parsed::default();
            walk_v1(&deps, &mut Vec::new(), &mut parsed);
            Ok(parsed)
        }
        (None, None) => Ok(Parsed::default()),
    }
}

/// `(real name, version)`, resolving `npm:real@version` aliases.
fn unalias<'a>(name: &'a str, version: &'a str) -> (&'a str, &'a str) {
    version
        .strip_prefix("npm:")
        .and_then(split_npm_spec)
        .unwrap_or((name, version))
}

/// The name under the last `node_modules/` of an install path.
fn name_of_key(key: &str) -> &str {
    key.rfind("node_modules/")
        .map_or(key, |i| &key[i + "node_modules/".len()..])
}

fn parse_v2(nodes: &BTreeMap<String, Node>) -> Parsed {
    let mut parsed = Parsed::default();
    // Install path -> package (None for links, the root and unusable entries).
    let mut pkgs: BTreeMap<&str, Package> = BTreeMap::new();
    for (key, node) in nodes {
        if key.is_empty() || node.link {
            continue;
        }
        let workspace = !key.contains("node_modules/");
        // A workspace without a `name` is known by its directory.
        let dir_name = if workspace {
            key.rsplit('/').next().unwrap_or(key)
        } else {
            name_of_key(key)
        };
        let name = node.name.as_deref().unwrap_or(dir_name);
        let Some(version) = node.version.as_deref() else {
            parsed.skipped.push(Skipped {
                line: None,
                text: key.clone(),
                reason: "package entry has no version",
            });
            continue;
        };
        let (name, version) = unalias(name, version);
        if name.is_empty() {
            continue;
        }
        let source = if workspace {
            Source::Workspace(key.clone())
        } else {
            match node.resolved.as_deref() {
                Some(url) => npm_source_from_url(name, url),
                None => Source::Registry { url: None },
            }
        };
        let mut p = Package::new(Ecosystem::Npm, name, version, source);
        p.checksums = node
            .integrity
            .as_deref()
            .map(Checksum::from_sri)
            .unwrap_or_default();
        p.dev = node.dev || node.dev_optional;
        p.optional = node.optional || node.dev_optional;
        p.bundled = node.in_bundle;
        pkgs.insert(key.as_str(), p);
    }
    let ids: BTreeMap<&str, String> = pkgs.iter().map(|(k, p)| (*k, p.id())).collect();
    // A link's id is its target's.
    let id_at = |key: &str| -> Option<String> {
        match nodes.get(key) {
            Some(n) if n.link => ids.get(n.resolved.as_deref()?).cloned(),
            Some(_) => ids.get(key).cloned(),
            None => None,
        }
    };
    for (key, p) in &mut pkgs {
        let node = &nodes[*key];
        let names = node
            .dependencies
            .keys()
            .chain(node.optional_dependencies.keys())
            .chain(node.peer_dependencies.keys());
        let mut deps = Vec::new();
        for dep in names {
            let mut base: &str = key;
            loop {
                let cand = if base.is_empty() {
                    format!("node_modules/{dep}")
                } else {
                    format!("{base}/node_modules/{dep}")
                };
                if nodes.contains_key(&cand) {
                    deps.extend(id_at(&cand));
                    break;
                }
                if base.is_empty() {
                    break;
                }
                base = base
                    .rfind("node_modules/")
                    .map_or("", |i| base[..i].trim_end_matches('/'));
            }
        }
        p.dependencies = Some(deps);
    }
    parsed.packages = pkgs.into_values().collect();
    parsed
}

fn v1_package(name: &str, dep: &V1Dep) -> Package {
    let (name, version) = unalias(name, &dep.version);
    let from_version = |v: &str| {
        if v.starts_with("git") || v.starts_with("github:") || v.starts_with("file:") {
            Some(npm_source_from_url(name, v))
        } else if v.starts_with("http://") || v.starts_with("https://") {
            Some(Source::Url(v.to_owned()))
        } else {
            None
        }
    };
    let (source, version) = match from_version(version) {
        Some(s @ Source::Git { .. }) => {
            let rev = match &s {
                Source::Git { rev, .. } => rev.clone().unwrap_or_default(),
                _ => String::new(),
            };
            (s, rev)
        }
        Some(s) => (s, String::new()),
        None => (
            dep.resolved
                .as_deref()
                .map_or(Source::Registry { url: None }, |u| {
                    npm_source_from_url(name, u)
                }),
            version.to_owned(),
        ),
    };
    let source = match source {
        Source::Git { url, rev } if url.starts_with("github:") => Source::Git {
            url: format!("https://github.com/{}", &url["github:".len()..]),
            rev,
        },
        s => s,
    };
    let mut p = Package::new(Ecosystem::Npm, name, &version, source);
    p.checksums = dep
        .integrity
        .as_deref()
        .map(Checksum::from_sri)
        .unwrap_or_default();
    p.dev = dep.dev;
    p.optional = dep.optional;
    p.bundled = dep.bundled;
    p
}

/// Walks a v1 `dependencies` tree; `scopes` holds the enclosing `dependencies` maps, outermost first.
fn walk_v1<'a>(
    deps: &'a BTreeMap<String, V1Dep>,
    scopes: &mut Vec<&'a BTreeMap<String, V1Dep>>,
    parsed: &mut Parsed,
) {
    scopes.push(deps);
    for (name, dep) in deps {
        let mut p = v1_package(name, dep);
        let mut ids = Vec::new();
        for req in dep.requires.keys() {
            let found = dep
                .dependencies
                .get(req)
                .or_else(|| scopes.iter().rev().find_map(|s| s.get(req)));
            if let Some(d) = found {
                ids.push(v1_package(req, d).id());
            }
        }
        p.dependencies = Some(ids);
        parsed.packages.push(p);
        if !dep.dependencies.is_empty() {
            walk_v1(&dep.dependencies, scopes, parsed);
        }
    }
    scopes.pop();
}
