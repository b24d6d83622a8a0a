//! `yarn.lock`: the classic v1 format (its own indented syntax) and berry (yarn 2+, YAML with a
//! `__metadata` entry).
//!
//! An entry's key lists the descriptors (`name@range`, comma separated) it satisfies. Berry's
//! `resolution` says where the package came from: `npm:`, `workspace:` (the `.` workspace is the
//! project itself and is left out), `patch:` (the patched package), git and `link:`/`portal:`/`file:`.
//! Berry's `checksum` hashes yarn's own zip cache entry, not the published artifact, so it is not
//! reported. yarn.lock records no dev/prod split.

use std::collections::HashMap;

use super::{Ctx, Parsed, npm_source_from_url, split_npm_spec};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, HashAlg, Package, Source};

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let berry = text.lines().any(|l| l.starts_with("__metadata:"));
    if berry {
        parse_berry(ctx, text)
    } else {
        parse_classic(ctx, text)
    }
}

/// One lockfile entry, format-independent.
#[derive(Default)]
struct Entry {
    descriptors: Vec<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    deps: Vec<(String, String)>,
}

/// Removes one level of double quotes, with `\"` escapes.
fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_owned(),
    }
}

/// Splits `key value` where the key may be quoted.
fn split_kv(s: &str) -> (String, String) {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('"')
        && let Some(end) = rest.find('"')
    {
        return (rest[..end].to_owned(), unquote(&rest[end + 1..]));
    }
    match s.split_once(' ') {
        Some((k, v)) => (k.to_owned(), unquote(v)),
        None => (s.to_owned(), String::new()),
    }
}

fn parse_classic(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut block: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        match indent {
            0 => {
                let Some(header) = line.strip_suffix(':') else {
                    return Err(ctx.invalid(Some(line_no), "entry header must end with `:`"));
                };
                entries.push(Entry {
                    descriptors: header
                        .split(',')
                        .map(unquote)
                        .filter(|d| !d.is_empty())
                        .collect(),
                    ..Entry::default()
                });
                block = None;
            }
            2 => {
                let Some(entry) = entries.last_mut() else {
                    return Err(ctx.invalid(Some(line_no), "field outside any entry"));
                };
                let field = line.trim();
                if let Some(name) = field.strip_suffix(':') {
                    block = Some(name.to_owned());
                    continue;
                }
                block = None;
                let (k, v) = split_kv(field);
                match k.as_str() {
                    "version" => entry.version = Some(v),
                    "resolved" => entry.resolved = Some(v),
                    "integrity" => entry.integrity = Some(v),
                    _ => {}
                }
            }
            _ => {
                let (Some(entry), Some(b)) = (entries.last_mut(), block.as_deref()) else {
                    return Err(ctx.invalid(Some(line_no), "indented line outside any block"));
                };
                if b == "dependencies" || b == "optionalDependencies" {
                    entry.deps.push(split_kv(line));
                }
            }
        }
    }
    Ok(build(entries, classic_package, &|name, range| {
        vec![format!("{name}@{range}")]
    }))
}

/// The real package name a descriptor refers to (`alias@npm:real@range` -> `real`).
fn descriptor_name(desc: &str) -> Option<&str> {
    let (name, range) = split_npm_spec(desc)?;
    Some(
        range
            .strip_prefix("npm:")
            .and_then(split_npm_spec)
            .map_or(name, |(real, _)| real),
    )
}

fn classic_package(e: &Entry) -> Option<Package> {
    let name = descriptor_name(e.descriptors.first()?)?;
    let version = e.version.as_deref()?;
    let mut checksums = Vec::new();
    let source = match e.resolved.as_deref() {
        Some(url) => {
            let (base, frag) = url.split_once('#').unwrap_or((url, ""));
            if url.starts_with("git") {
                npm_source_from_url(name, url)
            } else {
                checksums.extend(Checksum::from_hex(HashAlg::Sha1, frag));
                npm_source_from_url(name, base)
            }
        }
        None => {
            // `name@file:./dir`, `name@link:./dir`: local, with nothing to download.
            let range = split_npm_spec(e.descriptors.first()?).map_or("", |(_, r)| r);
            match range
                .strip_prefix("file:")
                .or_else(|| range.strip_prefix("link:"))
            {
                Some(dir) => Source::Path(dir.to_owned()),
                None => Source::Registry { url: None },
            }
        }
    };
    let mut p = Package::new(Ecosystem::Npm, name, version, source);
    checksums.extend(
        e.integrity
            .as_deref()
            .map(Checksum::from_sri)
            .unwrap_or_default(),
    );
    p.checksums = checksums;
    Some(p)
}

/// Turns entries into packages and resolves their dependencies through the descriptor index;
/// `candidates` lists the descriptor keys a `name: range` dependency may be written as.
fn build(
    entries: Vec<Entry>,
    to_package: impl Fn(&Entry) -> Option<Package>,
    candidates: &dyn Fn(&str, &str) -> Vec<String>,
) -> Parsed {
    let pkgs: Vec<Option<Package>> = entries.iter().map(to_package).collect();
    let mut index: HashMap<&str, String> = HashMap::new();
    for (e, p) in entries.iter().zip(&pkgs) {
        if let Some(p) = p {
            let id = p.id();
            for d in &e.descriptors {
                index.insert(d.as_str(), id.clone());
            }
        }
    }
    let mut parsed = Parsed::default();
    for (e, p) in entries.iter().zip(pkgs) {
        let Some(mut p) = p else { continue };
        let deps = e
            .deps
            .iter()
            .filter_map(|(name, range)| {
                candidates(name, range)
                    .iter()
                    .find_map(|c| index.get(c.as_str()).cloned())
            })
            .collect();
        p.dependencies = Some(deps);
        parsed.packages.push(p);
    }
    parsed
}

fn scalar(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_berry(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let doc: yaml_serde::Mapping = ctx.yaml(text)?;
    let mut entries = Vec::new();
    for (k, v) in &doc {
        let Some(key) = scalar(k) else { continue };
        if key == "__metadata" {
            continue;
        }
        let Some(map) = v.as_mapping() else {
            return Err(ctx.invalid(None, format!("entry `{key}` is not a mapping")));
        };
        let get = |f: &str| map.get(f).and_then(scalar);
        let mut deps = Vec::new();
        for field in ["dependencies", "optionalDependencies"] {
            if let Some(m) = map.get(field).and_then(|d| d.as_mapping()) {
                deps.extend(m.iter().filter_map(|(n, r)| Some((scalar(n)?, scalar(r)?))));
            }
        }
        entries.push(Entry {
            descriptors: key.split(',').map(|d| d.trim().to_owned()).collect(),
            version: get("version"),
            resolved: get("resolution"),
            integrity: None,
            deps,
        });
    }
    Ok(build(entries, berry_package, &|name, range| {
        vec![format!("{name}@{range}"), format!("{name}@npm:{range}")]
    }))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Source of a berry resolution `name@reference`; `None` for the project's root workspace.
fn berry_source(name: &str, reference: &str) -> Option<Source> {
    let (protocol, rest) = reference.split_once(':').unwrap_or(("", reference));
    // `::locator=...` binds a relative path to the workspace it is relative to.
    let rest = rest.split_once("::").map_or(rest, |(r, _)| r);
    Some(match protocol {
        "npm" => Source::Registry { url: None },
        "workspace" if rest == "." => return None,
        "workspace" => Source::Workspace(rest.to_owned()),
        "patch" => {
            let inner = percent_decode(rest.split_once('#').map_or(rest, |(i, _)| i));
            let (_, inner_ref) = split_npm_spec(&inner)?;
            return berry_source(name, inner_ref);
        }
        "link" | "portal" | "file" => Source::Path(rest.to_owned()),
        _ if reference.contains(".git#") || protocol.starts_with("git") || protocol == "github" => {
            let (url, frag) = reference.split_once('#').unwrap_or((reference, ""));
            let rev = frag
                .split('&')
                .find_map(|p| p.strip_prefix("commit="))
                .or((!frag.contains('=') && !frag.is_empty()).then_some(frag));
            let url = match url.strip_prefix("github:") {
                Some(r) => format!("https://github.com/{r}"),
                None => url.trim_start_matches("git+").to_owned(),
            };
            Source::Git {
                url,
                rev: rev.map(str::to_owned),
            }
        }
        "http" | "https" => npm_source_from_url(name, reference),
        _ => Source::Path(reference.to_owned()),
    })
}

fn berry_package(e: &Entry) -> Option<Package> {
    let resolution = e.resolved.as_deref()?;
    let (name, reference) = split_npm_spec(resolution)?;
    let source = berry_source(name, reference)?;
    let version = e.version.as_deref()?;
    Some(Package::new(Ecosystem::Npm, name, version, source))
}
