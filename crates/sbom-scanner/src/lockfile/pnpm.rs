//! `pnpm-lock.yaml`, lockfile versions 5.x, 6 and 9.
//!
//! Package keys: v5 `/name/1.2.3_peer@1.0.0`, v6 `/name@1.2.3(peer@1.0.0)`, v9 `name@1.2.3` in
//! `packages` (metadata) with the dependency graph in `snapshots` under `name@1.2.3(peer@x)`.
//! The same version installed with different peers is one package. v5/v6 mark `dev: true` on the
//! package; v9 records dev/prod only at the importers, so the split is computed from the graph.

use std::collections::{BTreeSet, HashMap};

use yaml_serde::{Mapping, Value};

use super::{Ctx, Parsed, mark_dev_only, npm_source_from_url, split_npm_spec};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, Package, Source};

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field<'a>(m: &'a Mapping, k: &str) -> Option<&'a Value> {
    m.get(k)
}

fn str_field(m: &Mapping, k: &str) -> Option<String> {
    field(m, k).and_then(s)
}

fn map_field<'a>(m: &'a Mapping, k: &str) -> Option<&'a Mapping> {
    field(m, k).and_then(Value::as_mapping)
}

/// Strips a v6/v9 peer suffix `(peer@1)(other@2)`.
fn strip_peers(key: &str) -> &str {
    key.find('(').map_or(key, |i| &key[..i])
}

/// `(name, version)` from a package key, before the entry's own `name`/`version` fields.
fn parse_key(key: &str, v5: bool) -> Option<(String, String)> {
    let key = key.trim_start_matches('/');
    if v5 {
        let mut segs = key.splitn(3, '/');
        let first = segs.next()?;
        let (name, rest) = if first.starts_with('@') {
            let second = segs.next()?;
            (format!("{first}/{second}"), segs.next()?.to_owned())
        } else {
            let rest: Vec<&str> = segs.collect();
            (first.to_owned(), rest.join("/"))
        };
        let version = rest.split('_').next().unwrap_or_default().to_owned();
        Some((name, version))
    } else {
        let (name, version) = split_npm_spec(strip_peers(key))?;
        Some((name.to_owned(), version.to_owned()))
    }
}

/// A package key, as dependency references are looked up: without a leading `/`.
fn norm(key: &str) -> &str {
    key.trim_start_matches('/')
}

/// The keys a `name: reference` dependency may point at.
fn candidates(name: &str, reference: &str, v5: bool) -> [String; 2] {
    let sep = if v5 { '/' } else { '@' };
    [
        format!("{name}{sep}{reference}"),
        norm(reference).to_owned(),
    ]
}

fn source_of(name: &str, meta: &Mapping) -> (Source, Vec<Checksum>) {
    let Some(res) = map_field(meta, "resolution") else {
        return (Source::Registry { url: None }, Vec::new());
    };
    let sums = str_field(res, "integrity")
        .map(|i| Checksum::from_sri(&i))
        .unwrap_or_default();
    if str_field(res, "type").as_deref() == Some("git") || res.contains_key("commit") {
        let url = str_field(res, "repo").unwrap_or_default();
        return (
            Source::Git {
                url,
                rev: str_field(res, "commit"),
            },
            sums,
        );
    }
    if let Some(dir) = str_field(res, "directory") {
        return (Source::Path(dir), sums);
    }
    if let Some(tarball) = str_field(res, "tarball") {
        return (npm_source_from_url(name, &tarball), sums);
    }
    (Source::Registry { url: None }, sums)
}

/// Dependency references of a node: (name, reference).
fn dep_refs(node: &Mapping) -> Vec<(String, String)> {
    ["dependencies", "optionalDependencies"]
        .iter()
        .filter_map(|f| map_field(node, f))
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| {
            let reference = match v {
                Value::Mapping(m) => str_field(m, "version")?,
                v => s(v)?,
            };
            Some((s(k)?, reference))
        })
        .collect()
}

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let doc: Mapping = ctx.yaml(text)?;
    let version = field(&doc, "lockfileVersion")
        .and_then(s)
        .ok_or_else(|| ctx.invalid(None, "no lockfileVersion"))?;
    let major: u32 = version
        .trim_start_matches('\'')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| ctx.invalid(None, format!("unreadable lockfileVersion `{version}`")))?;
    let v5 = major < 6;
    let empty = Mapping::new();
    let packages = map_field(&doc, "packages").unwrap_or(&empty);
    let snapshots = map_field(&doc, "snapshots");

    // (key, metadata, graph node)
    let mut nodes: Vec<(String, &Mapping, &Mapping)> = Vec::new();
    match snapshots {
        Some(snaps) => {
            let mut covered = BTreeSet::new();
            for (k, v) in snaps {
                let (Some(key), Some(node)) = (s(k), v.as_mapping()) else {
                    continue;
                };
                let base = strip_peers(&key).to_owned();
                let meta = packages
                    .get(base.as_str())
                    .and_then(Value::as_mapping)
                    .unwrap_or(&empty);
                covered.insert(base);
                nodes.push((key, meta, node));
            }
            for (k, v) in packages {
                let (Some(key), Some(meta)) = (s(k), v.as_mapping()) else {
                    continue;
                };
                if !covered.contains(&key) {
                    nodes.push((key, meta, &empty));
                }
            }
        }
        None => {
            for (k, v) in packages {
                let (Some(key), Some(meta)) = (s(k), v.as_mapping()) else {
                    continue;
                };
                nodes.push((key, meta, meta));
            }
        }
    }

    let mut pkgs = Vec::with_capacity(nodes.len());
    let mut index: HashMap<String, String> = HashMap::new();
    for (key, meta, _) in &nodes {
        let Some((key_name, key_version)) = parse_key(key, v5) else {
            pkgs.push(None);
            continue;
        };
        let name = str_field(meta, "name").unwrap_or(key_name);
        let version = str_field(meta, "version").unwrap_or(key_version);
        let (source, checksums) = source_of(&name, meta);
        let mut p = Package::new(Ecosystem::Npm, &name, &version, source);
        p.checksums = checksums;
        p.dev = field(meta, "dev").and_then(Value::as_bool).unwrap_or(false);
        p.optional = field(meta, "optional")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        index.insert(norm(key).to_owned(), p.id());
        pkgs.push(Some(p));
    }
    let resolve = |name: &str, reference: &str| {
        candidates(name, reference, v5)
            .iter()
            .find_map(|c| index.get(c.as_str()).cloned())
    };
    let mut parsed = Parsed::default();
    for ((_, _, node), p) in nodes.iter().zip(pkgs) {
        let Some(mut p) = p else { continue };
        let deps = dep_refs(node)
            .iter()
            .filter_map(|(n, r)| resolve(n, r))
            .collect();
        p.dependencies = Some(deps);
        parsed.packages.push(p);
    }

    if snapshots.is_some() {
        let mut importers: Vec<&Mapping> = map_field(&doc, "importers")
            .map(|m| m.values().filter_map(Value::as_mapping).collect())
            .unwrap_or_default();
        importers.push(&doc);
        let (mut prod, mut dev) = (Vec::new(), Vec::new());
        for imp in importers {
            for f in ["dependencies", "optionalDependencies", "devDependencies"] {
                let Some(m) = map_field(imp, f) else { continue };
                let roots = if f == "devDependencies" {
                    &mut dev
                } else {
                    &mut prod
                };
                for (n, v) in m {
                    let reference = match v {
                        Value::Mapping(m) => str_field(m, "version"),
                        v => s(v),
                    };
                    if let (Some(n), Some(r)) = (s(n), reference) {
                        roots.extend(resolve(&n, &r));
                    }
                }
            }
        }
        // Dedup first so that peer variants of one package share their edges.
        parsed.packages = super::dedup(std::mem::take(&mut parsed.packages));
        mark_dev_only(&mut parsed.packages, &prod, &dev);
    }
    Ok(parsed)
}
