//! The advisory model the database stores and matching reads: OSV's shape reduced to what a
//! scanner needs (no markdown details), with severity already scored and RustSec's
//! informational kind lifted to the advisory.
//!
//! The database stores these with postcard, which writes every field in order: no
//! `skip_serializing_if` here.

use ironpost_core::Severity;
use serde::{Deserialize, Serialize};

/// One advisory from any source, in OSV terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub summary: String,
    /// Other ids of the same issue (CVE, GHSA, …), as the source lists them.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    /// Set when the advisory was withdrawn; withdrawn advisories never match.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Option<SeverityScore>,
    /// RustSec's informational advisories (unmaintained, unsound, notice) are warnings.
    #[serde(default)]
    pub informational: Option<Informational>,
    /// Where to read the advisory.
    #[serde(default)]
    pub url: Option<String>,
    pub affected: Vec<Affected>,
}

/// Whether a match is a vulnerability or an informational warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    Vulnerability,
    Warning(Informational),
}

impl Advisory {
    pub fn kind(&self) -> FindingKind {
        match &self.informational {
            Some(i) => FindingKind::Warning(i.clone()),
            None => FindingKind::Vulnerability,
        }
    }

    /// The severity to report: informational advisories are `info`; a vulnerability without any
    /// score is `None` so the caller chooses its default instead of this crate guessing one.
    pub fn severity_level(&self) -> Option<Severity> {
        if self.informational.is_some() {
            return Some(Severity::Info);
        }
        self.severity.as_ref().map(|s| s.level)
    }
}

/// RustSec's `informational` field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Informational {
    Unmaintained,
    Unsound,
    Notice,
    Other(String),
}

impl Informational {
    pub fn parse(s: &str) -> Informational {
        match s {
            "unmaintained" => Informational::Unmaintained,
            "unsound" => Informational::Unsound,
            "notice" => Informational::Notice,
            other => Informational::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Informational::Unmaintained => "unmaintained",
            Informational::Unsound => "unsound",
            Informational::Notice => "notice",
            Informational::Other(s) => s,
        }
    }
}

impl Serialize for Informational {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Informational {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Informational::parse(&s))
    }
}

/// Where a severity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSource {
    CvssV3,
    CvssV4,
    /// A qualitative rating in `database_specific.severity` (GitHub's LOW/MODERATE/HIGH/CRITICAL).
    DatabaseSpecific,
}

/// A scored severity: the vector (or the database's word), the base score when there is one,
/// and the level it maps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityScore {
    pub source: ScoreSource,
    pub vector: String,
    #[serde(default)]
    pub score: Option<f64>,
    pub level: Severity,
}

/// One affected package of an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The OSV ecosystem name, exactly as the advisory spells it (`crates.io`, `npm`, `PyPI`, `Go`, …).
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicitly enumerated affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
}

/// An OSV range: its type and its events, in the order the source gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: RangeKind,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    #[serde(rename = "SEMVER")]
    SemVer,
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Commit ranges: they say nothing about registry versions and are ignored when matching.
    #[serde(rename = "GIT")]
    Git,
}

/// An OSV range event. Serialised exactly as OSV does: `{"introduced": "1.0.0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}
