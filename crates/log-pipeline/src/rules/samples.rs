//! Sample files: each rule of a rule directory comes with `tests/<rule id>.log`, real-format lines
//! that must or must not match, and [`check_samples`] holds every rule to its file, exactly.
//! `cargo test` (`tests/rule_library.rs`) and `ironpost-cli rules test --dir` both run it.
//!
//! # Format
//!
//! One expectation per line, then one space, then the log line exactly as the service writes it:
//!
//! ```text
//! # comment (and blank lines) are skipped
//! + LINE          matches this rule, and no other rule of the directory
//! +{a,b} LINE     matches this rule and exactly the rules a and b besides
//! - LINE          matches no rule of the directory (a near miss)
//! -{a} LINE       does not match this rule; matches exactly rule a
//! ```
//!
//! A line `@process_creation {…}`, `@file_event {…}` or `@network_connection {…}` is a kernel
//! process record instead (`source/process.rs`): a JSON object of its Sigma fields (`Image`,
//! `CommandLine`, `ParentImage`, `TargetFilename`, `DestinationIp`, `DestinationPort` …).
//!
//! "Exactly" is the point: a sample file checks its own rule and, at once, that no other rule of
//! the library fires on it unexpectedly. Lines are parsed by [`crate::parse::parse`] with a fixed
//! receive time (2026-11-20T12:00:00Z, UTC), so every format the pipeline reads can appear.
//! Every rule is checked, whatever its `status` and sshd mode.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Rule, RuleError, RuleSet, RuleStatus, load_dir};
use crate::parse::{ParseContext, parse};
use crate::source::process::ProcessRecord;

/// The sample directory, under the rule directory.
pub const SAMPLES_DIR: &str = "tests";
/// The extension of a sample file.
pub const SAMPLE_EXT: &str = "log";
/// The receive time sample lines are parsed with (2026-11-20T12:00:00Z).
pub const SAMPLE_RECEIVED_MICROS: i64 = 1_795_176_000_000_000;
/// Largest sample file read.
const MAX_SAMPLE_BYTES: u64 = 4 * 1024 * 1024;

/// A sample line whose matches were not the expected ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub text: String,
    /// Rule ids expected to match, sorted.
    pub expected: Vec<String>,
    /// Rule ids that matched, sorted.
    pub got: Vec<String>,
}

/// A sample file line that is not `+ …`, `+{…} …`, `- …`, `-{…} …`, a comment or blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// What [`check_samples`] found.
#[derive(Debug, Default)]
pub struct SampleReport {
    /// Rules checked (those with a sample file).
    pub rules: usize,
    /// Sample lines that must match their rule.
    pub positives: usize,
    /// Sample lines that must not match their rule.
    pub negatives: usize,
    /// Rules whose files failed to load or compile: nothing of them was checked.
    pub load_errors: Vec<RuleError>,
    /// Rule ids without a sample file.
    pub missing: Vec<String>,
    /// Rule ids whose sample file has no positive or no negative line.
    pub one_sided: Vec<String>,
    /// Sample files that name no rule of the directory.
    pub orphans: Vec<PathBuf>,
    /// Sample files that could not be read.
    pub unreadable: Vec<(PathBuf, String)>,
    pub malformed: Vec<Malformed>,
    pub mismatches: Vec<Mismatch>,
}

impl SampleReport {
    /// Every rule has a two-sided sample file and every line matched as expected.
    pub fn is_clean(&self) -> bool {
        self.load_errors.is_empty()
            && self.missing.is_empty()
            && self.one_sided.is_empty()
            && self.orphans.is_empty()
            && self.unreadable.is_empty()
            && self.malformed.is_empty()
            && self.mismatches.is_empty()
    }
}

/// One parsed expectation line.
#[derive(Debug, PartialEq, Eq)]
struct Expectation<'a> {
    positive: bool,
    /// Other rules expected to match.
    others: Vec<&'a str>,
    line: &'a str,
}

fn expectation(text: &str) -> Result<Option<Expectation<'_>>, String> {
    let t = text.trim_end_matches('\r');
    if t.trim().is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let (positive, rest) = match t.as_bytes()[0] {
        b'+' => (true, &t[1..]),
        b'-' => (false, &t[1..]),
        _ => return Err("a sample line starts with `+`, `-` or `#`".into()),
    };
    let (others, rest) = match rest.strip_prefix('{') {
        Some(r) => {
            let Some((list, after)) = r.split_once('}') else {
                return Err("`{` without `}`".into());
            };
            let ids: Vec<&str> = list.split(',').map(str::trim).collect();
            if ids.iter().any(|i| i.is_empty()) {
                return Err("an empty rule id in `{…}`".into());
            }
            (ids, after)
        }
        None => (Vec::new(), rest),
    };
    let Some(line) = rest.strip_prefix(' ') else {
        return Err("the expectation is followed by one space and the log line".into());
    };
    if line.is_empty() {
        return Err("no log line after the expectation".into());
    }
    Ok(Some(Expectation {
        positive,
        others,
        line,
    }))
}

/// Checks every rule under `dir` against its sample file `dir/tests/<id>.log` (see the module
/// documentation).
pub fn check_samples(dir: &Path) -> SampleReport {
    let mut report = SampleReport::default();
    let loaded = load_dir(dir);
    report.load_errors = loaded.errors;
    let rules: Vec<Rule> = loaded
        .rules
        .into_iter()
        .map(|mut r| {
            r.status = RuleStatus::Enabled;
            r
        })
        .collect();
    let (set, errors) = RuleSet::compile_partial(rules);
    report.load_errors.extend(errors);

    let samples = dir.join(SAMPLES_DIR);
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(&samples) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some(SAMPLE_EXT)
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
            {
                files.insert(stem.to_owned(), p);
            }
        }
    }
    let ids: BTreeSet<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    report.orphans = files
        .iter()
        .filter(|(stem, _)| !ids.contains(stem.as_str()))
        .map(|(_, p)| p.clone())
        .collect();

    let ctx = ParseContext::new(SAMPLE_RECEIVED_MICROS, 0);
    let mut matched = Vec::new();
    for rule in set.rules() {
        let Some(path) = files.get(&rule.id) else {
            report.missing.push(rule.id.clone());
            continue;
        };
        let text = match read_bounded(path) {
            Ok(t) => t,
            Err(e) => {
                report.unreadable.push((path.clone(), e));
                continue;
            }
        };
        report.rules += 1;
        let (mut pos, mut neg) = (0, 0);
        for (i, raw) in text.lines().enumerate() {
            let exp = match expectation(raw) {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(reason) => {
                    report.malformed.push(Malformed {
                        file: path.clone(),
                        line: i + 1,
                        reason,
                    });
                    continue;
                }
            };
            if let Some(bad) = exp.others.iter().find(|o| !ids.contains(**o)) {
                report.malformed.push(Malformed {
                    file: path.clone(),
                    line: i + 1,
                    reason: format!("`{bad}` is not a rule of the directory"),
                });
                continue;
            }
            let mut expected: BTreeSet<&str> = exp.others.iter().copied().collect();
            if exp.positive {
                pos += 1;
                expected.insert(&rule.id);
            } else {
                neg += 1;
                expected.remove(rule.id.as_str());
            }
            // `@process_creation {json}` …: a kernel process record, not a log line.
            match ProcessRecord::from_sample(exp.line) {
                Some(Ok(rec)) => set.matches(&rec, &mut matched),
                Some(Err(reason)) => {
                    report.malformed.push(Malformed {
                        file: path.clone(),
                        line: i + 1,
                        reason,
                    });
                    continue;
                }
                None => set.matches(&parse(exp.line.as_bytes(), &ctx), &mut matched),
            }
            let got: BTreeSet<&str> = matched.iter().map(|r| r.id.as_str()).collect();
            if got != expected {
                report.mismatches.push(Mismatch {
                    file: path.clone(),
                    line: i + 1,
                    text: exp.line.to_owned(),
                    expected: expected.iter().map(|s| (*s).to_owned()).collect(),
                    got: got.iter().map(|s| (*s).to_owned()).collect(),
                });
            }
        }
        report.positives += pos;
        report.negatives += neg;
        if pos == 0 || neg == 0 {
            report.one_sided.push(rule.id.clone());
        }
    }
    report
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_SAMPLE_BYTES {
        return Err(format!("{size} bytes, more than {MAX_SAMPLE_BYTES}"));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectation_lines() {
        let e = expectation("+ Nov 20 a b").unwrap().unwrap();
        assert!(e.positive && e.others.is_empty() && e.line == "Nov 20 a b");
        let e = expectation("-{a, b} x").unwrap().unwrap();
        assert!(!e.positive && e.others == ["a", "b"] && e.line == "x");
        assert_eq!(expectation("# c").unwrap(), None);
        assert_eq!(expectation("   ").unwrap(), None);
        for bad in ["x", "+x", "+", "+ ", "+{a x", "+{} x", "+{a,} x"] {
            assert!(expectation(bad).is_err(), "{bad}");
        }
    }

    const RULE_A: &str = "id: a\ntitle: A\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: alpha\n";
    const RULE_B: &str = "id: b\ntitle: B\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: beta\n";

    fn dir(samples: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yaml"), RULE_A).unwrap();
        std::fs::write(d.path().join("b.yaml"), RULE_B).unwrap();
        std::fs::create_dir(d.path().join(SAMPLES_DIR)).unwrap();
        for (name, text) in samples {
            std::fs::write(d.path().join(SAMPLES_DIR).join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn exact_matches_pass_and_every_kind_of_miss_is_reported() {
        let d = dir(&[
            ("a.log", "+ alpha\n+{b} alpha beta\n- gamma\n-{b} beta\n"),
            ("b.log", "+ beta\n- alp ha\n"),
        ]);
        let r = check_samples(d.path());
        assert!(r.is_clean(), "{r:?}");
        assert_eq!((r.rules, r.positives, r.negatives), (2, 3, 3));

        // A positive that also matches an undeclared rule, a negative that matches its rule, a
        // rule without samples, an orphan file, a malformed line, an unknown id.
        let d = dir(&[
            ("a.log", "+ alpha beta\n- alpha\n+{zz} alpha\nnonsense\n"),
            ("c.log", "+ x\n"),
        ]);
        let r = check_samples(d.path());
        assert!(!r.is_clean());
        assert_eq!(r.missing, ["b"]);
        assert_eq!(r.orphans.len(), 1);
        assert_eq!(r.malformed.len(), 2, "{:?}", r.malformed);
        let lines: Vec<_> = r
            .mismatches
            .iter()
            .map(|m| (m.line, m.got.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (1, vec!["a".to_owned(), "b".to_owned()]),
                (2, vec!["a".to_owned()])
            ]
        );
    }
}
