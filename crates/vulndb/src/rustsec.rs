//! RustSec advisories in their native format: a markdown file opening with a ```` ```toml ````
//! block (`[advisory]`, `[versions]`, `[affected]`), converted to OSV the way RustSec's own OSV
//! export does, so that importing the advisory-db and its OSV branch yields the same advisories.
//!
//! Conversion of `[versions]`: every `patched` and `unaffected` requirement is an *unaffected*
//! interval (`>=`/`>`/`<`/`<=` bounds, at most one of each side; `=x` a point; `^x` and a bare
//! `x` the caret interval; `~x` the tilde interval; caret and tilde ends are exclusive `-0`
//! pre-releases so `^1.0` does not cover `2.0.0-alpha`). The intervals must not overlap; sorted,
//! the gaps between them become one `SEMVER` range of `introduced`/`fixed` events, where the
//! lowest version is `0.0.0-0` and "just above v" is `v` with patch+1 and pre-release `0`.
//! Advisories under `rust/` (toolchain, not crates.io packages) are not registry advisories and
//! are skipped by the importer.

use serde::Deserialize;

use crate::advisory::{Advisory, Affected, Event, Informational, Range, RangeKind};
use crate::error::EntryErrorKind;
use crate::severity::score_vector;
use crate::version::{Ident, SemVer};

#[derive(Debug, Deserialize)]
struct NativeFile {
    advisory: NativeAdvisory,
    #[serde(default)]
    versions: NativeVersions,
}

#[derive(Debug, Deserialize)]
struct NativeAdvisory {
    id: String,
    package: String,
    date: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    cvss: Option<String>,
    #[serde(default)]
    informational: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NativeVersions {
    #[serde(default)]
    patched: Vec<String>,
    #[serde(default)]
    unaffected: Vec<String>,
}

/// Reads one native advisory file's text into an OSV-equivalent advisory for `crates.io`.
pub fn parse_native(text: &str) -> Result<Advisory, EntryErrorKind> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body) = split_front_matter(text).ok_or(EntryErrorKind::NoFrontMatter)?;
    let file: NativeFile = toml::from_str(front).map_err(|source| {
        let offset = source.span().map_or(0, |s| s.start);
        // The front matter starts on line 2, after the opening fence.
        let line = 2 + front.as_bytes()[..offset.min(front.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        EntryErrorKind::Toml {
            line,
            source: Box::new(source),
        }
    })?;
    let reqs: Vec<&String> = file
        .versions
        .unaffected
        .iter()
        .chain(&file.versions.patched)
        .collect();
    let events = affected_events(&reqs)?;
    let adv = file.advisory;
    let summary = body
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or_default()
        // Kept as written after `# ` (RustSec's export keeps leading spaces too).
        .trim_end()
        .to_owned();
    Ok(Advisory {
        url: Some(format!("https://rustsec.org/advisories/{}.html", adv.id)),
        id: adv.id,
        summary,
        aliases: adv.aliases,
        // RustSec's export stamps the advisory date at noon UTC.
        published: Some(format!("{}T12:00:00Z", adv.date)),
        modified: None,
        withdrawn: adv.withdrawn.map(|d| format!("{d}T12:00:00Z")),
        severity: adv.cvss.as_deref().and_then(score_vector),
        informational: adv.informational.as_deref().map(Informational::parse),
        affected: vec![Affected {
            ecosystem: "crates.io".to_owned(),
            name: adv.package,
            ranges: vec![Range {
                kind: RangeKind::SemVer,
                events,
            }],
            versions: Vec::new(),
        }],
    })
}

fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let rest = rest.strip_prefix("```toml")?;
    let rest = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "```" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Unbounded,
    Incl(SemVer),
    Excl(SemVer),
}

impl Bound {
    fn version(&self) -> Option<&SemVer> {
        match self {
            Bound::Unbounded => None,
            Bound::Incl(v) | Bound::Excl(v) => Some(v),
        }
    }
}

/// `start ≤ end` for a start bound and an end bound (possibly of different intervals).
fn start_le_end(start: &Bound, end: &Bound) -> bool {
    match (start.version(), end.version()) {
        (None, _) | (_, None) => true,
        (Some(s), Some(e)) if s < e => true,
        (Some(s), Some(e)) => s == e && matches!((start, end), (Bound::Incl(_), Bound::Incl(_))),
    }
}

#[derive(Debug, Clone)]
struct Interval {
    start: Bound,
    end: Bound,
    text: String,
}

/// A comparator's version with missing minor/patch as 0, and whether minor/patch were given.
fn partial_version(s: &str) -> Option<(SemVer, Option<u64>, Option<u64>)> {
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (nums, pre) = match s.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    let mut it = nums.split('.');
    let num = |p: &str| {
        p.parse::<u64>()
            .ok()
            .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
    };
    let major = num(it.next()?)?;
    let minor = it
        .next()
        .map(num)
        .map_or(Ok(None), |m| m.map(Some).ok_or(()));
    let patch = it
        .next()
        .map(num)
        .map_or(Ok(None), |m| m.map(Some).ok_or(()));
    let (minor, patch) = (minor.ok()?, patch.ok()?);
    if it.next().is_some() || (pre.is_some() && patch.is_none()) {
        return None;
    }
    let full = format!(
        "{major}.{}.{}{}",
        minor.unwrap_or(0),
        patch.unwrap_or(0),
        pre.map(|p| format!("-{p}")).unwrap_or_default()
    );
    Some((SemVer::parse(&full)?, minor, patch))
}

fn exclusive_pre0(major: u64, minor: u64, patch: u64) -> Bound {
    let mut v = SemVer::new(major, minor, patch);
    v.pre = vec![Ident::Num(0)];
    Bound::Excl(v)
}

fn parse_requirement(req: &str) -> Result<Interval, EntryErrorKind> {
    let err = |reason| EntryErrorKind::Requirement {
        req: req.to_owned(),
        reason,
    };
    let comparators: Vec<&str> = req.split(',').map(str::trim).collect();
    if comparators.len() > 2 {
        return Err(err("more than two comparators"));
    }
    let (mut start, mut end) = (Bound::Unbounded, Bound::Unbounded);
    for c in &comparators {
        let (op, rest) = [">=", "<=", ">", "<", "=", "^", "~"]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("", c));
        let (v, minor, patch) = partial_version(rest.trim()).ok_or_else(|| err("not a version"))?;
        let set = |slot: &mut Bound, b: Bound| {
            if *slot != Bound::Unbounded {
                return Err(err("two bounds on the same side"));
            }
            *slot = b;
            Ok(())
        };
        match op {
            ">" => set(&mut start, Bound::Excl(v))?,
            ">=" => set(&mut start, Bound::Incl(v))?,
            "<" => set(&mut end, Bound::Excl(v))?,
            "<=" => set(&mut end, Bound::Incl(v))?,
            _ if comparators.len() != 1 => {
                return Err(err("`=`, `^`, `~` and bare versions must stand alone"));
            }
            "=" => {
                start = Bound::Incl(v.clone());
                end = Bound::Incl(v);
            }
            "~" => {
                end = match minor {
                    None => exclusive_pre0(v.major + 1, 0, 0),
                    Some(m) => exclusive_pre0(v.major, m + 1, 0),
                };
                start = Bound::Incl(v);
            }
            _ => {
                // `^x` and a bare `x` (Cargo's default operator is caret).
                end = match (v.major, minor, patch) {
                    (0, Some(0), Some(p)) => exclusive_pre0(0, 0, p + 1),
                    (0, Some(m), _) => exclusive_pre0(0, m + 1, 0),
                    (0, None, _) => exclusive_pre0(1, 0, 0),
                    (major, _, _) => exclusive_pre0(major + 1, 0, 0),
                };
                start = Bound::Incl(v);
            }
        }
    }
    if !start_le_end(&start, &end) {
        return Err(err("lower bound above upper bound"));
    }
    Ok(Interval {
        start,
        end,
        text: req.to_owned(),
    })
}

/// The lowest version above `v` in SemVer precedence: `1.2.3` → `1.2.4-0`; a pre-release gains a
/// trailing `.0` identifier (`1.0.0-rc.1` → `1.0.0-rc.1.0`).
fn increment(v: &SemVer) -> SemVer {
    let mut v = v.clone();
    if v.is_prerelease() {
        v.pre.push(Ident::Num(0));
    } else {
        v.patch += 1;
        v.pre = vec![Ident::Num(0)];
    }
    v
}

/// The OSV events of the versions not covered by any of `reqs`.
fn affected_events(reqs: &[&String]) -> Result<Vec<Event>, EntryErrorKind> {
    let lowest = || Event::Introduced("0.0.0-0".to_owned());
    let mut intervals = reqs
        .iter()
        .map(|r| parse_requirement(r))
        .collect::<Result<Vec<_>, _>>()?;
    if intervals.is_empty() {
        return Ok(vec![lowest()]);
    }
    for (i, a) in intervals.iter().enumerate() {
        for b in &intervals[i + 1..] {
            if start_le_end(&a.start, &b.end) && start_le_end(&b.start, &a.end) {
                return Err(EntryErrorKind::Overlap {
                    a: a.text.clone(),
                    b: b.text.clone(),
                });
            }
        }
    }
    // Disjoint, so ordering by start orders them completely.
    intervals.sort_by(|a, b| match (a.start.version(), b.start.version()) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Less,
        (_, None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    });
    let mut events = Vec::new();
    let first = &intervals[0];
    match &first.start {
        Bound::Unbounded => {}
        Bound::Incl(v) => events.extend([lowest(), Event::Fixed(v.to_string())]),
        Bound::Excl(v) => events.extend([lowest(), Event::Fixed(increment(v).to_string())]),
    }
    for pair in intervals.windows(2) {
        let introduced = match &pair[0].end {
            Bound::Excl(v) => v.clone(),
            Bound::Incl(v) => increment(v),
            // Only the last interval can be unbounded above once they are disjoint and sorted.
            Bound::Unbounded => continue,
        };
        let fixed = match &pair[1].start {
            Bound::Incl(v) => v.clone(),
            Bound::Excl(v) => increment(v),
            Bound::Unbounded => continue,
        };
        events.push(Event::Introduced(introduced.to_string()));
        events.push(Event::Fixed(fixed.to_string()));
    }
    match &intervals[intervals.len() - 1].end {
        Bound::Unbounded => {}
        Bound::Excl(v) => events.push(Event::Introduced(v.to_string())),
        Bound::Incl(v) => events.push(Event::Introduced(increment(v).to_string())),
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(reqs: &[&str]) -> Vec<String> {
        let owned: Vec<String> = reqs.iter().map(|s| s.to_string()).collect();
        let refs: Vec<&String> = owned.iter().collect();
        affected_events(&refs)
            .unwrap()
            .iter()
            .map(|e| match e {
                Event::Introduced(v) => format!("i:{v}"),
                Event::Fixed(v) => format!("f:{v}"),
                Event::LastAffected(v) => format!("l:{v}"),
                Event::Limit(v) => format!("x:{v}"),
            })
            .collect()
    }

    #[test]
    fn conversion_table() {
        for (reqs, want) in [
            (&[][..], &["i:0.0.0-0"][..]),
            (&[">= 1.2.3"], &["i:0.0.0-0", "f:1.2.3"]),
            (
                &["< 0.3", "^0.7.1", ">= 0.8.1"],
                &["i:0.3.0", "f:0.7.1", "i:0.8.0-0", "f:0.8.1"],
            ),
            (&["> 0"], &["i:0.0.0-0", "f:0.0.1-0"]),
            (
                &["=0.2.0", ">= 0.2.2"],
                &["i:0.0.0-0", "f:0.2.0", "i:0.2.1-0", "f:0.2.2"],
            ),
            (
                &["0.54.2", ">= 0.55.1"],
                &["i:0.0.0-0", "f:0.54.2", "i:0.55.0-0", "f:0.55.1"],
            ),
            (
                &["^1.7.5", ">= 2.6.0"],
                &["i:0.0.0-0", "f:1.7.5", "i:2.0.0-0", "f:2.6.0"],
            ),
            (&["^0.0.3"], &["i:0.0.0-0", "f:0.0.3", "i:0.0.4-0"]),
            (&["~1.2.3"], &["i:0.0.0-0", "f:1.2.3", "i:1.3.0-0"]),
            (&["<= 1.0.0"], &["i:1.0.1-0"]),
            (
                &[">= 0.11.6, < 0.12.0", ">= 0.12.1"],
                &["i:0.0.0-0", "f:0.11.6", "i:0.12.0", "f:0.12.1"],
            ),
            (
                &["< 3.0.0-0.gat.0", ">= 3.1.0"],
                &["i:3.0.0-0.gat.0", "f:3.1.0"],
            ),
            (&["<= 1.0.0-rc.1"], &["i:1.0.0-rc.1.0"]),
        ] {
            assert_eq!(events(reqs), want, "{reqs:?}");
        }
    }

    #[test]
    fn bad_requirements() {
        for bad in [
            &["*"][..],
            &["1.*"],
            &[">= 1, >= 2"],
            &["^1, < 3"],
            &["< 1.0.0, > 2.0.0"],
            &["x"],
        ] {
            let owned: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            let refs: Vec<&String> = owned.iter().collect();
            assert!(affected_events(&refs).is_err(), "{bad:?}");
        }
        let owned = [">= 1.0.0".to_string(), "^1.2.0".to_string()];
        let refs: Vec<&String> = owned.iter().collect();
        assert!(matches!(
            affected_events(&refs),
            Err(EntryErrorKind::Overlap { .. })
        ));
    }

    #[test]
    fn parses_front_matter_and_title() {
        let text = "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"demo\"\ndate = \"2099-01-02\"\naliases = [\"CVE-2099-1\"]\ncvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"\ninformational = \"unsound\"\n\n[versions]\npatched = [\">= 1.0.0\"]\n```\n\n# Demo is broken\n\nBody.\n";
        let adv = parse_native(text).unwrap();
        assert_eq!(adv.id, "RUSTSEC-2099-0001");
        assert_eq!(adv.summary, "Demo is broken");
        assert_eq!(adv.aliases, ["CVE-2099-1"]);
        assert_eq!(adv.severity.as_ref().and_then(|s| s.score), Some(9.8));
        assert_eq!(adv.informational, Some(Informational::Unsound));
        assert_eq!(adv.published.as_deref(), Some("2099-01-02T12:00:00Z"));
        assert_eq!(adv.affected[0].name, "demo");
    }

    #[test]
    fn toml_errors_carry_the_file_line() {
        let text = "```toml\n[advisory]\nid = \"X\"\npackage = oops\n```\n";
        let err = parse_native(text).unwrap_err();
        assert_eq!(err.line(), Some(4), "{err}");
        assert!(matches!(
            parse_native("# no front matter\n"),
            Err(EntryErrorKind::NoFrontMatter)
        ));
        assert!(
            parse_native("```toml\n[advisory]\n").is_err(),
            "unterminated block"
        );
    }
}
