//! The OSV schema (<https://ossf.github.io/osv-schema/>): reading records into [`Advisory`] and
//! deciding whether a version is affected, following the schema's "Evaluation" section.
//!
//! Reading tolerates unknown fields and `null` where a list is expected. Evaluation: a version is
//! affected by an `affected` entry when it is listed in `versions`, or when a `SEMVER` or
//! `ECOSYSTEM` range includes it. A range is evaluated by sorting its events by version
//! (`introduced: "0"` first; ties keep the order the record lists them, so an
//! `introduced: X, fixed: X` pair affects nothing) and walking them: `introduced` ≤ v sets
//! affected, `fixed` ≤ v clears it, `last_affected` < v clears it. `limit` events bound the range
//! from above (`*` = no bound). `GIT` ranges say nothing about registry versions and are ignored.
//! A range whose event versions do not parse in its scheme is skipped (import reports it).

use serde::Deserialize;

use crate::advisory::{Advisory, Affected, Event, Informational, Range, RangeKind, SeverityScore};
use crate::severity::{score_database_rating, score_vector};
use crate::version::{Ecosystem, Scheme, Version};

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    severity: Option<Vec<SeverityEntry>>,
    #[serde(default)]
    affected: Option<Vec<RecordAffected>>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct SeverityEntry {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Debug, Deserialize)]
struct Reference {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    url: String,
}

#[derive(Debug, Deserialize)]
struct RecordAffected {
    #[serde(default)]
    package: Option<Package>,
    #[serde(default)]
    severity: Option<Vec<SeverityEntry>>,
    #[serde(default)]
    ranges: Option<Vec<RecordRange>>,
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RecordRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<RecordEvent>,
}

#[derive(Debug, Deserialize)]
struct RecordEvent {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// Something in a record that was dropped while reading it; the rest of the record is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordIssue {
    /// A range of a type other than SEMVER, ECOSYSTEM and GIT.
    UnknownRangeType { package: String, kind: String },
    /// An event with none, or more than one, of introduced / fixed / last_affected / limit.
    MalformedEvent { package: String },
    /// An event version that does not parse in the range's version scheme.
    UnparsableVersion { package: String, version: String },
}

impl std::fmt::Display for RecordIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordIssue::UnknownRangeType { package, kind } => {
                write!(f, "{package}: range type `{kind}` ignored")
            }
            RecordIssue::MalformedEvent { package } => {
                write!(
                    f,
                    "{package}: event without exactly one version field ignored"
                )
            }
            RecordIssue::UnparsableVersion { package, version } => write!(
                f,
                "{package}: version `{version}` does not parse; its range is skipped when matching"
            ),
        }
    }
}

/// Reads one OSV JSON record.
pub fn parse_record(bytes: &[u8]) -> Result<(Advisory, Vec<RecordIssue>), serde_json::Error> {
    let rec: Record = serde_json::from_slice(bytes)?;
    let mut issues = Vec::new();
    let mut informational = None;
    let mut severity = pick_severity(rec.severity.as_deref().unwrap_or_default());
    let mut affected = Vec::new();
    for a in rec.affected.unwrap_or_default() {
        let Some(pkg) = a.package else { continue };
        if informational.is_none() {
            informational = a
                .database_specific
                .as_ref()
                .and_then(|d| d.get("informational"))
                .and_then(|v| v.as_str())
                .map(Informational::parse);
        }
        if severity.is_none() {
            severity = pick_severity(a.severity.as_deref().unwrap_or_default());
        }
        let mut ranges = Vec::new();
        for r in a.ranges.unwrap_or_default() {
            let kind = match r.kind.as_str() {
                "SEMVER" => RangeKind::SemVer,
                "ECOSYSTEM" => RangeKind::Ecosystem,
                "GIT" => RangeKind::Git,
                other => {
                    issues.push(RecordIssue::UnknownRangeType {
                        package: pkg.name.clone(),
                        kind: other.to_owned(),
                    });
                    continue;
                }
            };
            let mut events = Vec::with_capacity(r.events.len());
            for e in r.events {
                let ev = match (e.introduced, e.fixed, e.last_affected, e.limit) {
                    (Some(v), None, None, None) => Event::Introduced(v),
                    (None, Some(v), None, None) => Event::Fixed(v),
                    (None, None, Some(v), None) => Event::LastAffected(v),
                    (None, None, None, Some(v)) => Event::Limit(v),
                    _ => {
                        issues.push(RecordIssue::MalformedEvent {
                            package: pkg.name.clone(),
                        });
                        continue;
                    }
                };
                events.push(ev);
            }
            let range = Range { kind, events };
            if let Some(scheme) = range_scheme(&range.kind, Ecosystem::from_osv(&pkg.ecosystem)) {
                for ev in &range.events {
                    if event_key(scheme, ev).is_none() {
                        issues.push(RecordIssue::UnparsableVersion {
                            package: pkg.name.clone(),
                            version: ev.version().to_owned(),
                        });
                    }
                }
            }
            ranges.push(range);
        }
        affected.push(Affected {
            ecosystem: pkg.ecosystem,
            name: pkg.name,
            ranges,
            versions: a.versions.unwrap_or_default(),
        });
    }
    if severity.is_none() {
        severity = rec
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(|v| v.as_str())
            .and_then(score_database_rating);
    }
    let refs = rec.references.unwrap_or_default();
    let url = refs
        .iter()
        .find(|r| r.kind.as_deref() == Some("ADVISORY"))
        .or_else(|| refs.first())
        .map(|r| r.url.clone());
    Ok((
        Advisory {
            id: rec.id,
            summary: rec.summary.unwrap_or_default(),
            aliases: rec.aliases.unwrap_or_default(),
            published: rec.published,
            modified: rec.modified,
            withdrawn: rec.withdrawn,
            severity,
            informational,
            url,
            affected,
        },
        issues,
    ))
}

/// Prefers CVSS v4 over v3 when a record has both (the newer assessment); other types are ignored.
fn pick_severity(entries: &[SeverityEntry]) -> Option<SeverityScore> {
    let by_type = |t: &str| {
        entries
            .iter()
            .filter(|e| e.kind == t)
            .find_map(|e| score_vector(&e.score))
    };
    by_type("CVSS_V4").or_else(|| by_type("CVSS_V3"))
}

/// The version order a range uses, or `None` when it cannot be evaluated (GIT ranges, or
/// ECOSYSTEM ranges of an ecosystem we cannot order).
pub(crate) fn range_scheme(kind: &RangeKind, eco: Option<Ecosystem>) -> Option<Scheme> {
    match kind {
        RangeKind::SemVer => Some(Scheme::SemVer),
        RangeKind::Ecosystem => eco.map(Scheme::for_ecosystem),
        RangeKind::Git => None,
    }
}

/// An event's position: `introduced: "0"` (and an unbounded `limit: "*"`) are outside the order.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Zero,
    At(Version),
    Unbounded,
}

fn event_key(scheme: Scheme, ev: &Event) -> Option<Key> {
    match ev {
        Event::Introduced(v) if v == "0" => Some(Key::Zero),
        Event::Limit(v) if v == "*" => Some(Key::Unbounded),
        _ => scheme.parse(ev.version()).map(Key::At),
    }
}

/// `key ≤ v` (`Some(true)`), with `None` only for versions of another scheme.
fn key_le(key: &Key, v: &Version) -> bool {
    match key {
        Key::Zero => true,
        Key::Unbounded => false,
        Key::At(k) => k <= v,
    }
}

fn key_lt(key: &Key, v: &Version) -> bool {
    match key {
        Key::Zero => true,
        Key::Unbounded => false,
        Key::At(k) => k < v,
    }
}

fn key_rank(k: &Key) -> u8 {
    match k {
        Key::Zero => 0,
        Key::At(_) => 1,
        Key::Unbounded => 2,
    }
}

/// Evaluates one range for a version already parsed in `scheme`. `None` when an event does not
/// parse (the range cannot be evaluated).
pub(crate) fn range_includes(range: &Range, scheme: Scheme, v: &Version) -> Option<bool> {
    let mut events = Vec::with_capacity(range.events.len());
    let mut limits = Vec::new();
    for ev in &range.events {
        let key = event_key(scheme, ev)?;
        match ev {
            Event::Limit(_) => limits.push(key),
            _ => events.push((key, ev)),
        }
    }
    if !limits.is_empty() && !limits.iter().any(|l| !key_le(l, v)) {
        return Some(false);
    }
    // Stable sort: equal versions keep the record's order.
    events.sort_by(|(a, _), (b, _)| match (a, b) {
        (Key::At(x), Key::At(y)) => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
        _ => key_rank(a).cmp(&key_rank(b)),
    });
    let mut affected = false;
    for (key, ev) in events {
        match ev {
            Event::Introduced(_) if key_le(&key, v) => affected = true,
            Event::Fixed(_) if key_le(&key, v) => affected = false,
            Event::LastAffected(_) if key_lt(&key, v) => affected = false,
            _ => {}
        }
    }
    Some(affected)
}

/// Whether `version` of the package named by `affected` is affected. The caller has already
/// checked the ecosystem and name.
pub fn affected_includes(affected: &Affected, version: &str) -> bool {
    let eco = Ecosystem::from_osv(&affected.ecosystem);
    let eco_scheme = eco.map(Scheme::for_ecosystem);
    let eco_parsed = eco_scheme.and_then(|s| s.parse(version));
    if affected.versions.iter().any(|listed| {
        listed == version || eco_scheme.is_some_and(|s| eq_parsed(s, listed, &eco_parsed))
    }) {
        return true;
    }
    let mut semver_parsed: Option<Option<Version>> = None;
    affected.ranges.iter().any(|range| {
        let Some(scheme) = range_scheme(&range.kind, eco) else {
            return false;
        };
        let parsed = if Some(scheme) == eco_scheme {
            eco_parsed.as_ref()
        } else {
            semver_parsed
                .get_or_insert_with(|| scheme.parse(version))
                .as_ref()
        };
        parsed.is_some_and(|v| range_includes(range, scheme, v) == Some(true))
    })
}

fn eq_parsed(scheme: Scheme, listed: &str, parsed: &Option<Version>) -> bool {
    match parsed {
        Some(v) => scheme.parse(listed).as_ref() == Some(v),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn affected_of(events: Vec<Event>) -> Affected {
        Affected {
            ecosystem: "crates.io".into(),
            name: "p".into(),
            ranges: vec![Range {
                kind: RangeKind::SemVer,
                events,
            }],
            versions: Vec::new(),
        }
    }

    proptest! {
        /// Against a model: disjoint [introduced, fixed) or [introduced, last_affected]
        /// intervals over 0.0.x, listed in any order, affect exactly their members.
        #[test]
        fn ranges_match_an_interval_model(
            cuts in proptest::collection::btree_set(0u64..40, 0..8),
            closers in proptest::collection::vec(any::<bool>(), 8),
            shuffle in proptest::collection::vec(any::<u32>(), 8),
        ) {
            let cuts: Vec<u64> = cuts.into_iter().collect();
            let mut events = Vec::new();
            let mut model: Vec<(u64, Option<u64>, bool)> = Vec::new();
            for (i, pair) in cuts.chunks(2).enumerate() {
                let start = pair[0];
                let end = pair.get(1).copied();
                let last_affected = closers[i];
                events.push(Event::Introduced(format!("0.0.{start}")));
                if let Some(e) = end {
                    events.push(if last_affected {
                        Event::LastAffected(format!("0.0.{e}"))
                    } else {
                        Event::Fixed(format!("0.0.{e}"))
                    });
                }
                model.push((start, end, last_affected));
            }
            // Any listing order: evaluation sorts.
            let mut keyed: Vec<(u32, Event)> = shuffle.iter().copied().zip(events).collect();
            keyed.sort_by_key(|(k, _)| *k);
            let aff = affected_of(keyed.into_iter().map(|(_, e)| e).collect());
            for v in 0u64..45 {
                let want = model.iter().any(|&(s, e, la)| {
                    v >= s && match e { None => true, Some(e) if la => v <= e, Some(e) => v < e }
                });
                prop_assert_eq!(affected_includes(&aff, &format!("0.0.{v}")), want, "0.0.{}", v);
            }
        }

        #[test]
        fn record_parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse_record(s.as_bytes());
        }

        #[test]
        fn native_parser_never_panics(body in "\\PC{0,200}") {
            let _ = crate::rustsec::parse_native(&format!("```toml\n{body}\n```\n# t\n"));
            let _ = crate::rustsec::parse_native(&body);
        }
    }

    #[test]
    fn introduced_and_fixed_at_the_same_version_affect_nothing() {
        let aff = affected_of(vec![
            Event::Introduced("1.0.0".into()),
            Event::Fixed("1.0.0".into()),
        ]);
        for v in ["0.9.0", "1.0.0", "2.0.0"] {
            assert!(!affected_includes(&aff, v), "{v}");
        }
    }

    #[test]
    fn unparsable_event_versions_are_reported_and_skip_the_range() {
        let json = br#"{"id":"X","affected":[{"package":{"ecosystem":"crates.io","name":"p"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.x"}]},
                      {"type":"WEIRD","events":[]}],
            "versions":["0.5.0"]}]}"#;
        let (adv, issues) = parse_record(json).unwrap();
        assert_eq!(issues.len(), 2, "{issues:?}");
        let aff = &adv.affected[0];
        assert!(!affected_includes(aff, "0.1.0"));
        assert!(
            affected_includes(aff, "0.5.0"),
            "the versions list still applies"
        );
    }
}
