//! Go modules: `go.mod` (its `require` list, `// indirect` marks and `replace` directives) and,
//! where no `go.mod` is at hand, `go.sum` (`module version h1:hash` lines; modules seen only
//! through `version/go.mod` lines were needed for version selection, not built, and are left out).
//! The main module is the project itself and is not a package. `h1:` hashes cover Go's module
//! tree digest, not an artifact, so they are not reported as checksums.

use std::collections::BTreeMap;

use super::{Ctx, Parsed};
use crate::error::Error;
use crate::package::{Ecosystem, Package, Skipped, Source};

/// Removes a `//` comment, returning the code and whether the comment was `indirect`.
fn split_comment(line: &str) -> (&str, bool) {
    match line.find("//") {
        Some(i) => {
            let comment = line[i + 2..].trim();
            let indirect = comment == "indirect" || comment.starts_with("indirect;");
            (line[..i].trim(), indirect)
        }
        None => (line.trim(), false),
    }
}

/// Strips Go's quoting from a module path or version token.
fn token(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '`')
}

struct Replace {
    /// `None` replaces every version.
    old_version: Option<String>,
    new_path: String,
    new_version: Option<String>,
}

pub(super) fn parse_mod(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let mut requires: Vec<(usize, String, String, bool)> = Vec::new();
    let mut replaces: BTreeMap<String, Vec<Replace>> = BTreeMap::new();
    let mut block: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let (code, indirect) = split_comment(raw);
        if code.is_empty() {
            continue;
        }
        let (verb, args) = match &block {
            Some(_) if code == ")" => {
                block = None;
                continue;
            }
            Some(b) => (b.clone(), code),
            None => {
                let (verb, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
                let rest = rest.trim();
                if rest == "(" {
                    block = Some(verb.to_owned());
                    continue;
                }
                (verb.to_owned(), rest)
            }
        };
        match verb.as_str() {
            "require" => {
                let parts: Vec<&str> = args.split_whitespace().map(token).collect();
                let [path, version] = parts[..] else {
                    return Err(
                        ctx.invalid(Some(line_no), "require needs a module path and a version")
                    );
                };
                requires.push((line_no, path.to_owned(), version.to_owned(), indirect));
            }
            "replace" => {
                let Some((old, new)) = args.split_once("=>") else {
                    return Err(ctx.invalid(Some(line_no), "replace needs `=>`"));
                };
                let old: Vec<&str> = old.split_whitespace().map(token).collect();
                let new: Vec<&str> = new.split_whitespace().map(token).collect();
                let (Some(old_path), Some(new_path)) = (old.first(), new.first()) else {
                    return Err(ctx.invalid(Some(line_no), "replace needs module paths"));
                };
                replaces
                    .entry((*old_path).to_owned())
                    .or_default()
                    .push(Replace {
                        old_version: old.get(1).map(|v| (*v).to_owned()),
                        new_path: (*new_path).to_owned(),
                        new_version: new.get(1).map(|v| (*v).to_owned()),
                    });
            }
            _ => {}
        }
    }
    let mut parsed = Parsed::default();
    for (line_no, path, version, indirect) in requires {
        let rep = replaces.get(&path).and_then(|rs| {
            rs.iter()
                .find(|r| r.old_version.as_deref() == Some(version.as_str()))
                .or_else(|| rs.iter().find(|r| r.old_version.is_none()))
        });
        let mut p = match rep {
            // A directory replacement: the code is local, the required version means nothing.
            Some(r) if r.new_version.is_none() => {
                if !(r.new_path.starts_with('.') || r.new_path.starts_with('/')) {
                    parsed.skipped.push(Skipped {
                        line: Some(line_no),
                        text: format!("{path} {version}"),
                        reason: "replacement without a version is not a directory",
                    });
                    continue;
                }
                Package::new(
                    Ecosystem::Go,
                    &path,
                    &version,
                    Source::Path(r.new_path.clone()),
                )
            }
            Some(r) => Package::new(
                Ecosystem::Go,
                &r.new_path,
                r.new_version.as_deref().unwrap_or_default(),
                Source::Registry { url: None },
            ),
            None => Package::new(
                Ecosystem::Go,
                &path,
                &version,
                Source::Registry { url: None },
            ),
        };
        p.indirect = indirect;
        parsed.packages.push(p);
    }
    Ok(parsed)
}

pub(super) fn parse_sum(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts[..] {
            [] => {}
            [path, version, hash] if hash.starts_with("h1:") => {
                if !version.ends_with("/go.mod") {
                    parsed.packages.push(Package::new(
                        Ecosystem::Go,
                        path,
                        version,
                        Source::Registry { url: None },
                    ));
                }
            }
            _ => return Err(ctx.invalid(Some(i + 1), "expected `module version h1:hash`")),
        }
    }
    Ok(parsed)
}
