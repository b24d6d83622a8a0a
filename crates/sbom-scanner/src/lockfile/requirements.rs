//! pip `requirements.txt`: only exact pins (`name==1.2.3`, `name[extra]===1.2.3`) are packages.
//! A range, a direct URL, an editable install or an include names no single version, so such lines
//! are reported as skipped rather than guessed. `--hash=sha256:...` options become checksums;
//! comments, `\` continuations and environment markers (`; python_version < "3.9"`) are understood.

use super::{Ctx, Parsed};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, Package, Skipped, Source, normalize_pypi_name};

/// Logical lines: continuations joined, comments removed, with the line each starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        match line.trim_end().strip_suffix('\\') {
            Some(part) => {
                acc.push_str(part);
                acc.push(' ');
                current = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                out.push((start, acc));
            }
        }
    }
    out.extend(current);
    out
}

/// pip treats `#` as a comment at the start of a line or after whitespace.
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    let b = line.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'#' && b[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

pub(super) fn parse(_ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let mut parsed = Parsed::default();
    for (line_no, line) in logical_lines(text) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let skip = |reason| Skipped {
            line: Some(line_no),
            text: trimmed.to_owned(),
            reason,
        };
        if trimmed.starts_with('-') {
            let opt = trimmed.split([' ', '=']).next().unwrap_or_default();
            match opt {
                "-e" | "--editable" => parsed
                    .skipped
                    .push(skip("editable install names no version")),
                "-r" | "--requirement" | "-c" | "--constraint" => parsed.skipped.push(skip(
                    "included file is not followed; it is scanned if discovered",
                )),
                _ => {}
            }
            continue;
        }
        match parse_requirement(trimmed) {
            Ok(p) => parsed.packages.push(p),
            Err(reason) => parsed.skipped.push(skip(reason)),
        }
    }
    Ok(parsed)
}

fn parse_requirement(line: &str) -> Result<Package, &'static str> {
    let mut checksums = Vec::new();
    let mut rest = Vec::new();
    let mut tokens = line.split_whitespace();
    while let Some(t) = tokens.next() {
        if let Some(h) = t.strip_prefix("--hash=") {
            checksums.extend(Checksum::from_prefixed_hex(h));
        } else if t == "--hash" {
            checksums.extend(tokens.next().and_then(Checksum::from_prefixed_hex));
        } else if t.starts_with("--") {
            // Per-requirement options such as --global-option; they name no package.
        } else {
            rest.push(t);
        }
    }
    let req = rest.join(" ");
    let req = req.split_once(';').map_or(req.as_str(), |(r, _)| r).trim();
    let name_end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..name_end];
    if name.is_empty() || req.contains("://") {
        return Err("not a `name==version` requirement (URL or path)");
    }
    let mut spec = req[name_end..].trim_start();
    if let Some(after) = spec.strip_prefix('[') {
        spec = after
            .split_once(']')
            .map(|(_, s)| s.trim_start())
            .ok_or("unclosed extras")?;
    }
    if spec.starts_with('@') {
        return Err("direct reference names no version");
    }
    let version = spec
        .strip_prefix("===")
        .or_else(|| spec.strip_prefix("=="))
        .map(str::trim)
        .ok_or("not pinned to one version")?;
    if version.is_empty() || version.contains([',', '*', ' ', '<', '>', '!', '~', '=']) {
        return Err("not pinned to one version");
    }
    let mut p = Package::new(
        Ecosystem::PyPI,
        &normalize_pypi_name(name),
        version,
        Source::Registry { url: None },
    );
    p.checksums = checksums;
    Ok(p)
}
