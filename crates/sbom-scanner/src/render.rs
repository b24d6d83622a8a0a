//! Findings as a text table and as SARIF 2.1.0 (JSON output is the [`ScanReport`] itself).
//!
//! SARIF: one run; `tool.driver.rules` holds one rule per advisory (id, summary, help URI,
//! aliases as tags, `security-severity` from the CVSS score); each finding is a result on its
//! rule with the lockfile as its location. Suppressed findings are results too, carrying a SARIF
//! `suppressions` entry (kind `external`) with the reason or VEX justification, so code-scanning
//! tools show them as dismissed rather than losing them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::scan::{Finding, Kind, ScanReport, severity_label};

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Cells padded to their column's width (in characters) and two blanks apart; the last column is
/// not padded and each line loses its trailing whitespace. Written straight into one buffer: a
/// report can hold thousands of rows.
fn columns<const N: usize>(header: &[&str; N], rows: &[[Cow<'_, str>; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line_len: usize = widths.iter().sum::<usize>() + 2 * N + 1;
    let mut out = String::with_capacity(line_len * (rows.len() + 1));
    let mut line = |cells: [&str; N]| {
        let start = out.len();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < N {
                let pad = widths[i] - c.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    };
    line(*header);
    for r in rows {
        line(std::array::from_fn(|i| &*r[i]));
    }
    out
}

fn row<'a>(f: &'a Finding, last: Cow<'a, str>) -> [Cow<'a, str>; 7] {
    let kind = match (&f.kind, &f.informational) {
        (Kind::Warning, Some(i)) => Cow::Owned(format!("warning ({i})")),
        (Kind::Warning, None) => Cow::Borrowed("warning"),
        (Kind::Vulnerability, _) => Cow::Borrowed("vulnerability"),
    };
    [
        Cow::Borrowed(severity_label(f.severity)),
        Cow::Borrowed(&f.advisory_id),
        kind,
        Cow::Owned(format!("{} {}", f.package, f.version)),
        match f.fixed.as_slice() {
            [] => Cow::Borrowed("-"),
            [one] => Cow::Borrowed(one),
            more => Cow::Owned(more.join(", ")),
        },
        f.lockfile.to_string_lossy(),
        last,
    ]
}

/// The report as text: findings, then suppressed findings, expired suppressions, lockfile errors
/// and a summary line.
pub fn table(r: &ScanReport) -> String {
    let mut out = String::new();
    let header = [
        "SEVERITY", "ID", "KIND", "PACKAGE", "FIXED IN", "LOCKFILE", "SUMMARY",
    ];
    if !r.findings.is_empty() {
        let rows: Vec<[Cow<'_, str>; 7]> = r
            .findings
            .iter()
            .map(|f| row(f, Cow::Borrowed(&f.summary)))
            .collect();
        out.push_str(&columns(&header, &rows));
    }
    if !r.suppressed.is_empty() {
        let _ = writeln!(out, "\nSuppressed ({}):", r.suppressed.len());
        let mut h = header;
        h[6] = "WHY";
        let rows: Vec<[Cow<'_, str>; 7]> = r
            .suppressed
            .iter()
            .map(|s| row(&s.finding, Cow::Owned(s.suppressed.text())))
            .collect();
        out.push_str(&columns(&h, &rows));
    }
    for e in &r.expired_suppressions {
        let _ = writeln!(
            out,
            "\nwarning: {} entry {} ({}{}) expired on {}: it no longer suppresses anything",
            e.file.display(),
            e.entry,
            e.id,
            e.package
                .as_deref()
                .map(|p| format!(", package {p}"))
                .unwrap_or_default(),
            e.expires
        );
    }
    for l in r.lockfiles.iter().filter(|l| l.error.is_some()) {
        let _ = writeln!(out, "\nerror: {}", l.error.as_deref().unwrap_or_default());
    }
    if !r.skipped_entries.is_empty() {
        let skipped: Vec<String> = r
            .skipped_entries
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(out, "\nskipped entries: {}", skipped.join(", "));
    }
    let counts: Vec<String> = r
        .by_severity
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let _ = writeln!(
        out,
        "\n{} finding(s) at or above {} in {} package(s) from {} lockfile(s){}; {} suppressed, {} below {}",
        r.findings.len(),
        r.min_severity,
        r.packages,
        r.lockfiles.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        },
        r.suppressed.len(),
        r.below_min_severity,
        r.min_severity
    );
    let leading = out.len() - out.trim_start().len();
    out.drain(..leading);
    out
}

/// SARIF `level` for a finding.
fn level(f: &Finding) -> &'static str {
    use ironpost_core::Severity::*;
    match f.severity {
        Some(Critical | High) => "error",
        Some(Medium) | None => "warning",
        Some(Low | Info) => "note",
    }
}

/// A lockfile path as a SARIF artifact URI: relative paths stay relative (with `/`), absolute
/// ones become `file://` URIs; bytes outside the URI unreserved set are percent-encoded.
fn artifact_uri(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::new();
    if p.is_absolute() {
        out.push_str("file://");
    }
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn rule(f: &Finding) -> Value {
    let mut props = serde_json::Map::new();
    let mut tags = vec![Value::from("security")];
    tags.extend(f.aliases.iter().map(|a| Value::from(a.as_str())));
    props.insert("tags".into(), Value::Array(tags));
    if let Some(score) = f.cvss_score {
        // GitHub code scanning reads this to rank results.
        props.insert("security-severity".into(), format!("{score:.1}").into());
    }
    props.insert("severity".into(), severity_label(f.severity).into());
    let text = if f.summary.is_empty() {
        f.advisory_id.clone()
    } else {
        f.summary.clone()
    };
    let mut r = json!({
        "id": f.advisory_id,
        "shortDescription": { "text": text },
        "fullDescription": { "text": format!("{}: {}", f.advisory_id, text) },
        "defaultConfiguration": { "level": level(f) },
        "properties": props,
    });
    if let Some(url) = &f.url {
        r["helpUri"] = url.as_str().into();
        r["help"] = json!({ "text": format!("See {url}") });
    }
    r
}

fn result(f: &Finding, rule_index: usize, suppression: Option<String>) -> Value {
    let fixed = if f.fixed.is_empty() {
        "no fixed version".to_owned()
    } else {
        format!("fixed in {}", f.fixed.join(", "))
    };
    let mut r = json!({
        "ruleId": f.advisory_id,
        "ruleIndex": rule_index,
        "level": level(f),
        "message": { "text": format!(
            "{} {} ({}) is affected by {}: {} ({fixed})",
            f.package, f.version, f.ecosystem, f.advisory_id, f.summary
        ) },
        "locations": [{
            "physicalLocation": { "artifactLocation": { "uri": artifact_uri(&f.lockfile) } },
            "logicalLocations": [{ "name": f.purl, "kind": "package" }],
        }],
        "partialFingerprints": { "ironpost/finding/v1": f.key() },
        "properties": {
            "package": f.package,
            "version": f.version,
            "ecosystem": f.ecosystem,
            "purl": f.purl,
            "severity": severity_label(f.severity),
            "kind": f.kind,
            "fixed": f.fixed,
        },
    });
    if let Some(j) = suppression {
        r["suppressions"] = json!([{ "kind": "external", "justification": j }]);
    }
    r
}

/// The report as a SARIF 2.1.0 log.
pub fn sarif(r: &ScanReport) -> Value {
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    let all = r
        .findings
        .iter()
        .chain(r.suppressed.iter().map(|s| &s.finding));
    for f in all {
        if !rule_index.contains_key(f.advisory_id.as_str()) {
            rule_index.insert(&f.advisory_id, rules.len());
            rules.push(rule(f));
        }
    }
    let mut results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| result(f, rule_index[f.advisory_id.as_str()], None))
        .collect();
    results.extend(r.suppressed.iter().map(|s| {
        result(
            &s.finding,
            rule_index[s.finding.advisory_id.as_str()],
            Some(s.suppressed.text()),
        )
    }));
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "ironpost-sbom-scanner",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_by_characters_and_trim_line_ends() {
        let rows = [
            [
                Cow::Borrowed("é"),
                Cow::Borrowed("x"),
                Cow::Borrowed("last  "),
            ],
            [Cow::Borrowed("abc"), Cow::Borrowed(""), Cow::Borrowed("")],
        ];
        assert_eq!(
            columns(&["A", "BB", "C"], &rows),
            "A    BB  C\né    x   last\nabc\n"
        );
    }

    #[test]
    fn artifact_uris() {
        assert_eq!(artifact_uri(Path::new("a/Cargo.lock")), "a/Cargo.lock");
        assert_eq!(
            artifact_uri(Path::new("/t/my dir/Cargo.lock")),
            "file:///t/my%20dir/Cargo.lock"
        );
    }
}
