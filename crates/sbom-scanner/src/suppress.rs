//! What takes a finding out of a report: the suppressions file (TOML, each entry with a reason
//! and an optional expiry) and CycloneDX VEX documents (`not_affected` statements).
//!
//! ```toml
//! [[suppress]]
//! id = "RUSTSEC-2020-0071"   # the advisory id or one of its aliases (CVE-…, GHSA-…)
//! package = "time"           # optional: only this package
//! reason = "no call to localtime_r in our code"
//! expires = "2027-01-01"     # optional: suppresses up to the day before, then is reported
//! ```
//!
//! VEX: every `vulnerabilities[]` entry whose `analysis.state` is `not_affected` suppresses the
//! finding whose advisory id or alias equals its `id`, for the packages its `affects[].ref` name
//! as purls (a purl without version names every version; without `affects`, every package). Other
//! states (`exploitable`, `in_triage`, …) suppress nothing. Both files are bounded like lockfiles.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::error::Error;
use crate::lockfile::{Ctx, read_limited};
use crate::scan::{ExpiredSuppression, Finding, SuppressedBy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressFile {
    #[serde(default)]
    suppress: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(deserialize_with = "non_empty")]
    reason: String,
    #[serde(default)]
    expires: Option<NaiveDate>,
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom(
            "reason must say why the finding is suppressed",
        ));
    }
    Ok(s)
}

/// A loaded suppressions file.
#[derive(Debug, Clone)]
pub struct Suppressions {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl Suppressions {
    /// Reads and checks a suppressions file; errors name the file and line.
    pub fn load(path: &Path) -> Result<Suppressions, Error> {
        let text = read_limited(path)?;
        Suppressions::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Suppressions, Error> {
        let file: SuppressFile = Ctx { path }.toml(text)?;
        Ok(Suppressions {
            path: path.to_owned(),
            entries: file.suppress,
        })
    }

    fn applies(e: &Entry, f: &Finding) -> bool {
        (e.id == f.advisory_id || f.aliases.contains(&e.id))
            && e.package.as_ref().is_none_or(|p| *p == f.package)
    }

    fn active(e: &Entry, today: NaiveDate) -> bool {
        e.expires.is_none_or(|x| today < x)
    }

    /// The first active entry that suppresses `f`.
    pub fn suppressing(&self, f: &Finding, today: NaiveDate) -> Option<SuppressedBy> {
        self.entries
            .iter()
            .enumerate()
            .find(|(_, e)| Self::active(e, today) && Self::applies(e, f))
            .map(|(i, e)| SuppressedBy::Suppression {
                file: self.path.clone(),
                entry: i + 1,
                reason: e.reason.clone(),
                expires: e.expires,
            })
    }

    /// Entries past their expiry: they suppress nothing and are reported.
    pub fn expired(&self, today: NaiveDate) -> Vec<ExpiredSuppression> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let expires = e.expires.filter(|_| !Self::active(e, today))?;
                Some(ExpiredSuppression {
                    file: self.path.clone(),
                    entry: i + 1,
                    id: e.id.clone(),
                    package: e.package.clone(),
                    reason: e.reason.clone(),
                    expires,
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Statement {
    id: String,
    justification: Option<String>,
    detail: Option<String>,
    /// purls; empty means every package.
    refs: Vec<String>,
}

/// `not_affected` statements of a CycloneDX VEX document.
#[derive(Debug, Clone)]
pub struct Vex {
    path: PathBuf,
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct VexDoc {
    #[serde(default)]
    vulnerabilities: Vec<VexVuln>,
}

#[derive(Deserialize)]
struct VexVuln {
    id: String,
    #[serde(default)]
    analysis: Option<VexAnalysis>,
    #[serde(default)]
    affects: Vec<VexAffects>,
}

#[derive(Deserialize)]
struct VexAnalysis {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Deserialize)]
struct VexAffects {
    #[serde(rename = "ref")]
    reference: String,
}

impl Vex {
    pub fn load(path: &Path) -> Result<Vex, Error> {
        let text = read_limited(path)?;
        Vex::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Vex, Error> {
        let ctx = Ctx { path };
        let doc: VexDoc = ctx.json(text)?;
        let statements = doc
            .vulnerabilities
            .into_iter()
            .filter_map(|v| {
                let a = v.analysis?;
                (a.state.as_deref() == Some("not_affected")).then(|| Statement {
                    id: v.id,
                    justification: a.justification,
                    detail: a.detail,
                    refs: v.affects.into_iter().map(|r| r.reference).collect(),
                })
            })
            .collect();
        Ok(Vex {
            path: path.to_owned(),
            statements,
        })
    }

    /// How many `not_affected` statements the document holds.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    pub fn suppressing(&self, f: &Finding) -> Option<SuppressedBy> {
        self.statements
            .iter()
            .find(|s| {
                (s.id == f.advisory_id || f.aliases.contains(&s.id))
                    && (s.refs.is_empty() || s.refs.iter().any(|r| purl_covers(r, &f.purl)))
            })
            .map(|s| SuppressedBy::Vex {
                file: self.path.clone(),
                justification: s.justification.clone(),
                detail: s.detail.clone(),
            })
    }
}

/// Whether the purl `r` (from a VEX document) names the package `purl`: equal, equal without
/// qualifiers, or equal in type and name when `r` has no version.
fn purl_covers(r: &str, purl: &str) -> bool {
    let strip = |s: &str| -> String {
        let s = s.split(['?', '#']).next().unwrap_or(s);
        s.replace("%40", "@").to_ascii_lowercase()
    };
    let (r, p) = (strip(r), strip(purl));
    if r == p {
        return true;
    }
    // `pkg:npm/@scope/name@1.0.0`: the version separator is the last `@` after the last `/`.
    let name_of = |s: &str| -> String {
        let slash = s.rfind('/').unwrap_or(0);
        match s[slash..].rfind('@') {
            Some(at) => s[..slash + at].to_owned(),
            None => s.to_owned(),
        }
    };
    name_of(&r) == r && name_of(&p) == r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Kind;

    fn finding(id: &str, package: &str, version: &str) -> Finding {
        Finding {
            advisory_id: id.into(),
            aliases: vec!["CVE-2021-9".into()],
            summary: String::new(),
            kind: Kind::Vulnerability,
            informational: None,
            severity: None,
            cvss_score: None,
            ecosystem: "crates.io",
            package: package.into(),
            version: version.into(),
            purl: format!("pkg:cargo/{package}@{version}"),
            lockfile: "Cargo.lock".into(),
            fixed: vec![],
            url: None,
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn suppressions_match_id_alias_package_and_expire() {
        let s = Suppressions::parse(
            Path::new("s.toml"),
            r#"
[[suppress]]
id = "RUSTSEC-1"
reason = "r1"
expires = "2027-01-01"

[[suppress]]
id = "CVE-2021-9"
package = "other"
reason = "r2"
"#,
        )
        .unwrap();
        let f = finding("RUSTSEC-1", "p", "1.0.0");
        let by = s.suppressing(&f, day("2026-12-31")).unwrap();
        assert!(matches!(by, SuppressedBy::Suppression { entry: 1, .. }));
        assert!(s.expired(day("2026-12-31")).is_empty());
        // On the expiry day the entry stops suppressing and is reported.
        assert!(s.suppressing(&f, day("2027-01-01")).is_none());
        let exp = s.expired(day("2027-01-01"));
        assert_eq!(exp.len(), 1);
        assert_eq!(exp[0].id, "RUSTSEC-1");
        // An alias matches; the package restriction holds.
        let g = finding("RUSTSEC-2", "other", "1.0.0");
        assert!(matches!(
            s.suppressing(&g, day("2030-01-01")),
            Some(SuppressedBy::Suppression { entry: 2, .. })
        ));
        let h = finding("RUSTSEC-2", "p", "1.0.0");
        assert!(s.suppressing(&h, day("2030-01-01")).is_none());
    }

    #[test]
    fn suppression_errors_name_file_and_line() {
        let cases = [
            ("[[suppress]]\nid = \"X\"\nreason = \"\"\n", 3),
            (
                "[[suppress]]\nid = \"X\"\nreason = \"r\"\nexpires = \"soon\"\n",
                4,
            ),
            ("[[suppress]]\nid = \"X\"\nreason = \"r\"\nbogus = 1\n", 4),
            ("[[suppress]]\nreason = \"r\"\n", 1),
        ];
        for (text, line) in cases {
            let e = Suppressions::parse(Path::new("s.toml"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text:?}: {e}");
            assert_eq!(e.path(), Path::new("s.toml"));
        }
    }

    #[test]
    fn vex_not_affected_suppresses_named_purls_only() {
        let doc = r#"{"bomFormat":"CycloneDX","specVersion":"1.6","vulnerabilities":[
          {"id":"RUSTSEC-1","analysis":{"state":"not_affected","justification":"code_not_reachable","detail":"d"},
           "affects":[{"ref":"pkg:cargo/p@1.0.0"}]},
          {"id":"CVE-2021-9","analysis":{"state":"not_affected"},"affects":[{"ref":"pkg:cargo/q"}]},
          {"id":"RUSTSEC-3","analysis":{"state":"exploitable"},"affects":[{"ref":"pkg:cargo/p@1.0.0"}]}
        ]}"#;
        let v = Vex::parse(Path::new("v.json"), doc).unwrap();
        assert_eq!(v.len(), 2);
        let by = v.suppressing(&finding("RUSTSEC-1", "p", "1.0.0")).unwrap();
        assert_eq!(by.text(), "VEX code_not_reachable: d");
        assert!(v.suppressing(&finding("RUSTSEC-1", "p", "1.0.1")).is_none());
        assert!(v.suppressing(&finding("RUSTSEC-7", "q", "9.9.9")).is_some());
        assert!(v.suppressing(&finding("RUSTSEC-3", "p", "1.0.0")).is_none());
        let e = Vex::parse(Path::new("v.json"), "{\n\"vulnerabilities\": 3}").unwrap_err();
        assert_eq!(e.line(), Some(2), "{e}");
    }

    #[test]
    fn purl_coverage() {
        assert!(purl_covers("pkg:npm/%40a/b@1.0.0", "pkg:npm/%40a/b@1.0.0"));
        assert!(purl_covers("pkg:npm/@a/b", "pkg:npm/%40a/b@1.0.0"));
        assert!(!purl_covers("pkg:npm/@a/b@2.0.0", "pkg:npm/%40a/b@1.0.0"));
        assert!(!purl_covers("pkg:npm/@a/bc", "pkg:npm/%40a/b@1.0.0"));
        assert!(purl_covers(
            "pkg:cargo/g@0.1.0",
            "pkg:cargo/g@0.1.0?vcs_url=x"
        ));
    }
}
