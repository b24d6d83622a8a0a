//! Findings as a text table and as SARIF 2.1.0 (JSON output is the [`ScanReport`] itself).
//!
//! SARIF: one run; `tool.driver.rules` holds one rule per advisory (id, summary, help URI,
//! aliases as tags, `security-severity` from the CVSS score); each finding is a result on its
//! rule with the lockfile as its location. Suppressed findings are results too, carrying a SARIF
//! `suppressions` entry (kind `external`) with the reason or VEX justification, so code-scanning
//! tools show them as dismissed rather than losing them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::scan::{Finding, Kind, ScanReport, severity_label};

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 == widths.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn row(f: &Finding, last: String) -> Vec<String> {
    let kind = match (&f.kind, &f.informational) {
        (Kind::Warning, Some(i)) => format!("warning ({i})"),
        (Kind::Warning, None) => "warning".into(),
        (Kind::Vulnerability, _) => "vulnerability".into(),
    };
    vec![
        severity_label(f.severity).to_owned(),
        f.advisory_id.clone(),
        kind,
        format!("{} {}", f.package, f.version),
        if f.fixed.is_empty() {
            "-".into()
        } else {
            f.fixed.join(", ")
        },
        f.lockfile.display().to_string(),
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
        let rows: Vec<Vec<String>> = r
            .findings
            .iter()
            .map(|f| row(f, f.summary.clone()))
            .collect();
        out.push_str(&columns(&header, &rows));
    }
    if !r.suppressed.is_empty() {
        let _ = writeln!(out, "\nSuppressed ({}):", r.suppressed.len());
        let mut h = header;
        h[6] = "WHY";
        let rows: Vec<Vec<String>> = r
            .suppressed
            .iter()
            .map(|s| row(&s.finding, s.suppressed.text()))
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
    out.trim_start().to_owned()
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
    fn artifact_uris() {
        assert_eq!(artifact_uri(Path::new("a/Cargo.lock")), "a/Cargo.lock");
        assert_eq!(
            artifact_uri(Path::new("/t/my dir/Cargo.lock")),
            "file:///t/my%20dir/Cargo.lock"
        );
    }
}
