//! Matching an [`Inventory`] against the vulnerability database, and the policy applied to the
//! matches: `--min-severity`, the suppressions file and CycloneDX VEX.
//!
//! Severity: a finding carries the advisory's scored severity, or none when the advisory has no
//! CVSS vector or rating (many RustSec advisories). Like Trivy's `UNKNOWN`, such a finding is shown
//! as `unknown` and is never hidden by a minimum severity: a threshold cannot tell whether it is
//! above or below. Informational RustSec advisories (unmaintained, unsound, notice) are warnings at
//! severity `info`, so the default minimum (`medium`) hides them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use ironpost_core::Severity;
use ironpost_vulndb::{Db, Event, FindingKind};
use serde::{Serialize, Serializer};

use crate::package::Inventory;
use crate::suppress::{Suppressions, Vex};

/// Whether a finding is a vulnerability or an informational warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Vulnerability,
    Warning,
}

/// One advisory that applies to one package of one lockfile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub advisory_id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub kind: Kind,
    /// For warnings: `unmaintained`, `unsound`, `notice` …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
    /// `None` when the advisory carries no score: serialised as `unknown`.
    #[serde(serialize_with = "severity_or_unknown")]
    pub severity: Option<Severity>,
    /// CVSS base score, when the advisory has a vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    /// OSV ecosystem name (`crates.io`, `npm`, `PyPI`, `Go`, `Debian`, `Ubuntu`, `Alpine`; the
    /// release of an OS package is in its purl's `distro`).
    pub ecosystem: &'static str,
    pub package: String,
    pub version: String,
    pub purl: String,
    pub lockfile: PathBuf,
    /// Versions that fix it (OSV `fixed` events of the matching entry).
    pub fixed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn severity_or_unknown<S: Serializer>(s: &Option<Severity>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(severity_label(*s))
}

/// `critical` … `info`, or `unknown`.
pub fn severity_label(s: Option<Severity>) -> &'static str {
    s.map_or("unknown", Severity::as_str)
}

impl Finding {
    /// At or above `min`; a finding without severity always is (see the module doc).
    pub fn at_or_above(&self, min: Severity) -> bool {
        self.severity.is_none_or(|s| s >= min)
    }

    /// Identity of the finding across scans: advisory, package, version and lockfile.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.advisory_id,
            self.ecosystem,
            self.package,
            self.version,
            self.lockfile.display()
        )
    }
}

/// Every advisory match of every package, sorted by lockfile, package, version, advisory id (and
/// ecosystem).
pub fn find(inv: &Inventory, db: &Db) -> Vec<Finding> {
    find_with(inv, db, |_| {})
}

/// [`find`], calling `progress` with the number of packages matched so far (every 256).
pub fn find_with(inv: &Inventory, db: &Db, mut progress: impl FnMut(usize)) -> Vec<Finding> {
    let mut out = Vec::new();
    // Packages come sorted by ecosystem: look each one up once.
    // OS packages match in their release's ecosystem (`Debian:12`) on their source package.
    let mut current: Option<(&str, ironpost_vulndb::EcosystemAdvisories<'_>)> = None;
    for (i, pkg) in inv.packages.iter().enumerate() {
        if i % 256 == 0 {
            progress(i);
        }
        let eco = pkg.ecosystem;
        let Some(osv_eco) = pkg.osv_ecosystem() else {
            continue;
        };
        let in_eco = match current {
            Some((e, a)) if e == osv_eco => a,
            _ => current.insert((osv_eco, db.ecosystem(osv_eco))).1,
        };
        let (name, version) = pkg.match_key();
        for m in in_eco.matches(name, version, pkg.is_registry()) {
            let adv = m.advisory;
            let (kind, informational) = match m.kind() {
                FindingKind::Vulnerability => (Kind::Vulnerability, None),
                FindingKind::Warning(i) => (Kind::Warning, Some(i.as_str().to_owned())),
            };
            let mut fixed: Vec<String> = m
                .affected
                .ranges
                .iter()
                .flat_map(|r| &r.events)
                .filter_map(|e| match e {
                    Event::Fixed(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            fixed.dedup();
            out.push(Finding {
                advisory_id: adv.id.clone(),
                aliases: adv.aliases.clone(),
                summary: adv.summary.clone(),
                kind,
                informational,
                severity: adv.severity_level(),
                cvss_score: adv.severity.as_ref().and_then(|s| s.score),
                ecosystem: eco.osv_name(),
                package: pkg.name.clone(),
                version: pkg.version.clone(),
                purl: pkg.purl(),
                lockfile: pkg.lockfile.to_path_buf(),
                fixed,
                url: adv.url.clone(),
            });
        }
    }
    // Nearly sorted already (packages come sorted); the ecosystem makes the key total, so an
    // in-place unstable sort gives the one order.
    out.sort_unstable_by(|a, b| {
        (
            &a.lockfile,
            &a.package,
            &a.version,
            &a.advisory_id,
            a.ecosystem,
        )
            .cmp(&(
                &b.lockfile,
                &b.package,
                &b.version,
                &b.advisory_id,
                b.ecosystem,
            ))
    });
    out
}

/// What decides which findings are reported.
#[derive(Debug, Default)]
pub struct Policy {
    pub min_severity: Severity,
    pub suppressions: Option<Suppressions>,
    pub vex: Option<Vex>,
}

/// Why a finding is not reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum SuppressedBy {
    /// An active entry of the suppressions file.
    Suppression {
        file: PathBuf,
        /// Position of the `[[suppress]]` entry, from 1.
        entry: usize,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires: Option<NaiveDate>,
    },
    /// A CycloneDX VEX statement `not_affected`.
    Vex {
        file: PathBuf,
        justification: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

impl SuppressedBy {
    /// One line for tables and SARIF: the reason or the justification.
    pub fn text(&self) -> String {
        match self {
            SuppressedBy::Suppression { reason, .. } => reason.clone(),
            SuppressedBy::Vex {
                justification,
                detail,
                ..
            } => {
                let j = justification.as_deref().unwrap_or("not_affected");
                match detail {
                    Some(d) => format!("VEX {j}: {d}"),
                    None => format!("VEX {j}"),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    pub suppressed: SuppressedBy,
}

/// A suppressions-file entry past its expiry date: it no longer suppresses anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpiredSuppression {
    pub file: PathBuf,
    pub entry: usize,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub reason: String,
    pub expires: NaiveDate,
}

/// One lockfile of the scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockfileSummary {
    pub path: PathBuf,
    pub packages: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a scan after the policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    pub min_severity: Severity,
    pub packages: usize,
    pub lockfiles: Vec<LockfileSummary>,
    /// Reported findings, at or above `min_severity` and not suppressed.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub expired_suppressions: Vec<ExpiredSuppression>,
    /// Findings hidden by `min_severity` (counted, not listed).
    pub below_min_severity: usize,
    /// Reported findings per severity (`unknown` included).
    pub by_severity: BTreeMap<&'static str, usize>,
    /// Entries the walk passed over for safety or size, per reason (`not_regular`,
    /// `unresolved_link`, `too_large`, `not_kept`).
    pub skipped_entries: BTreeMap<&'static str, u64>,
}

/// Applies `policy` to `findings`. `today` decides which suppressions have expired.
pub fn apply(
    inv: &Inventory,
    findings: Vec<Finding>,
    policy: &Policy,
    today: NaiveDate,
) -> ScanReport {
    let mut report = ScanReport {
        min_severity: policy.min_severity,
        packages: inv.packages.len(),
        lockfiles: inv
            .lockfiles
            .iter()
            .map(|l| LockfileSummary {
                path: l.path.clone(),
                packages: l.packages,
                error: l.error.as_ref().map(|e| error_chain(e)),
            })
            .collect(),
        findings: Vec::with_capacity(findings.len()),
        suppressed: Vec::new(),
        expired_suppressions: policy
            .suppressions
            .as_ref()
            .map(|s| s.expired(today))
            .unwrap_or_default(),
        below_min_severity: 0,
        by_severity: BTreeMap::new(),
        skipped_entries: inv.skipped_entries.to_map(),
    };
    for f in findings {
        let by = policy
            .suppressions
            .as_ref()
            .and_then(|s| s.suppressing(&f, today))
            .or_else(|| policy.vex.as_ref().and_then(|v| v.suppressing(&f)));
        if let Some(by) = by {
            report.suppressed.push(Suppressed {
                finding: f,
                suppressed: by,
            });
        } else if !f.at_or_above(policy.min_severity) {
            report.below_min_severity += 1;
        } else {
            *report
                .by_severity
                .entry(severity_label(f.severity))
                .or_default() += 1;
            report.findings.push(f);
        }
    }
    report
}

/// An error and its sources, joined with `: `.
pub use ironpost_core::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(sev: Option<Severity>) -> Finding {
        Finding {
            advisory_id: "RUSTSEC-2020-0001".into(),
            aliases: vec!["CVE-2020-1".into()],
            summary: "s".into(),
            kind: Kind::Vulnerability,
            informational: None,
            severity: sev,
            cvss_score: None,
            ecosystem: "crates.io",
            package: "p".into(),
            version: "1.0.0".into(),
            purl: "pkg:cargo/p@1.0.0".into(),
            lockfile: "Cargo.lock".into(),
            fixed: vec![],
            url: None,
        }
    }

    #[test]
    fn min_severity_keeps_unknown_and_drops_lower() {
        let cases = [
            (None, Severity::Critical, true),
            (Some(Severity::Low), Severity::Medium, false),
            (Some(Severity::Medium), Severity::Medium, true),
            (Some(Severity::Critical), Severity::High, true),
            (Some(Severity::Info), Severity::Info, true),
        ];
        for (sev, min, want) in cases {
            assert_eq!(finding(sev).at_or_above(min), want, "{sev:?} vs {min}");
        }
    }

    #[test]
    fn unknown_severity_serialises_as_unknown() {
        let v = serde_json::to_value(finding(None)).unwrap();
        assert_eq!(v["severity"], "unknown");
        let v = serde_json::to_value(finding(Some(Severity::High))).unwrap();
        assert_eq!(v["severity"], "high");
    }
}
