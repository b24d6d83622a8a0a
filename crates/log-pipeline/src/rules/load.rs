//! Reading rule files: documents are told apart (native rule, list of native rules, Sigma rule),
//! each rule is loaded or rejected on its own, and `validate_dir` sums a directory up for
//! `ironpost-cli rules validate --dir`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ironpost_core::severity::Severity;
use serde::Deserialize;
use yaml_serde::Value;

use super::compile::compile_rule;
use super::native::{RawRule, to_rule};
use super::sigma;
use super::{Origin, Rule, RuleError, RuleFormat, RuleStatus, Threshold};

/// Largest rule file read.
pub const MAX_RULE_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most files a directory load reads, and how deep it descends.
const MAX_FILES: usize = 10_000;
const MAX_DEPTH: usize = 8;

/// What loading produced: the good rules and one error per rejected rule or file.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub errors: Vec<RuleError>,
}

impl Loaded {
    fn extend(&mut self, other: Loaded) {
        self.rules.extend(other.rules);
        self.errors.extend(other.errors);
    }
}

/// Loads rules from YAML text; `path` only names the origin in errors.
pub fn load_str(text: &str, path: Option<&Path>) -> Loaded {
    let origin = Origin {
        path: path.map(Path::to_path_buf),
        line: None,
        column: None,
    };
    let mut out = Loaded::default();

    // Pass 1: every document as a generic value, to tell formats apart and name rules in errors.
    let mut docs = Vec::new();
    for de in yaml_serde::Deserializer::from_str(text) {
        match Value::deserialize(de) {
            Ok(v) => docs.push(v),
            Err(error) => {
                // A syntax error ends the stream: nothing after it can be trusted.
                out.errors.push(yaml_error(&origin, None, error));
                break;
            }
        }
    }

    // Pass 2: native documents again, typed, straight from the text so errors carry the line.
    for (de, doc) in yaml_serde::Deserializer::from_str(text).zip(&docs) {
        if doc.is_null() {
            continue;
        }
        if sigma::looks_like_sigma(doc) {
            push(&mut out, sigma::to_rule(doc, &origin));
            continue;
        }
        match doc {
            Value::Sequence(items) => match Vec::<RawRule>::deserialize(de) {
                Ok(raws) => raws
                    .into_iter()
                    .for_each(|r| push(&mut out, to_rule(r, &origin))),
                Err(error) => {
                    // The typed error stops at the first bad item; load the others from the value.
                    let bad = seq_index(&error.to_string());
                    let id = bad.and_then(|i| items.get(i)).and_then(rule_id);
                    out.errors.push(yaml_error(&origin, id, error));
                    for (i, item) in items.iter().enumerate() {
                        if Some(i) == bad {
                            continue;
                        }
                        match RawRule::deserialize(item) {
                            Ok(raw) => push(&mut out, to_rule(raw, &origin)),
                            Err(error) => {
                                let id = rule_id(item).unwrap_or_else(|| format!("#{i}"));
                                out.errors.push(yaml_error(&origin, Some(id), error));
                            }
                        }
                    }
                }
            },
            _ => match RawRule::deserialize(de) {
                Ok(raw) => push(&mut out, to_rule(raw, &origin)),
                Err(error) => out.errors.push(yaml_error(&origin, rule_id(doc), error)),
            },
        }
    }
    out
}

fn push(out: &mut Loaded, r: Result<Rule, RuleError>) {
    match r {
        Ok(rule) => out.rules.push(rule),
        Err(e) => out.errors.push(e),
    }
}

fn rule_id(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_owned)
}

/// The list index at the front of a YAML error's path (`.[2].detection: …`).
fn seq_index(message: &str) -> Option<usize> {
    let rest = message.trim_start_matches('.').strip_prefix('[')?;
    rest[..rest.find(']')?].parse().ok()
}

fn yaml_error(origin: &Origin, rule_id: Option<String>, error: yaml_serde::Error) -> RuleError {
    let origin = match error.location() {
        Some(loc) => origin.at(loc.line(), loc.column()),
        None => origin.clone(),
    };
    RuleError::Yaml {
        origin,
        rule_id,
        error,
    }
}

/// Loads one rule file.
pub fn load_file(path: &Path) -> Loaded {
    let mut out = Loaded::default();
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(source) => {
            out.errors.push(RuleError::Read {
                path: path.to_owned(),
                source,
            });
            return out;
        }
    };
    if size > MAX_RULE_FILE_BYTES {
        out.errors.push(RuleError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_RULE_FILE_BYTES,
        });
        return out;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, Some(path)),
        Err(source) => {
            out.errors.push(RuleError::Read {
                path: path.to_owned(),
                source,
            });
            out
        }
    }
}

/// Loads every `*.yml` / `*.yaml` under `dir` (recursively, in path order; hidden entries and
/// symlinked directories skipped).
pub fn load_dir(dir: &Path) -> Loaded {
    let mut files = Vec::new();
    let mut out = Loaded::default();
    collect(dir, 0, &mut files, &mut out.errors);
    files.sort();
    for f in files {
        out.extend(load_file(&f));
    }
    out
}

fn collect(dir: &Path, depth: usize, files: &mut Vec<PathBuf>, errors: &mut Vec<RuleError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(RuleError::Read {
                path: dir.to_owned(),
                source,
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if hidden || files.len() >= MAX_FILES {
            continue;
        }
        if kind.is_dir() {
            if depth < MAX_DEPTH {
                collect(&path, depth + 1, files, errors);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) && (kind.is_file() || path.is_file())
        {
            files.push(path);
        }
    }
}

/// A loaded rule, as `rules validate` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSummary {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: RuleStatus,
    pub format: RuleFormat,
    pub file: Option<PathBuf>,
    /// Leaf conditions in the rule's expression.
    pub conditions: usize,
    pub threshold: Option<Threshold>,
}

/// Whether a rejected rule is wrong or merely beyond this engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// Uses a construct the engine does not implement (Sigma aggregations, modifiers …).
    Unsupported,
    /// Malformed: bad YAML, unknown key, bad regex, duplicate id …
    Invalid,
}

/// A rule (or file) `validate_dir` could not load.
#[derive(Debug)]
pub struct Rejected {
    pub file: Option<PathBuf>,
    /// The rule's id (or a Sigma rule's title), when known.
    pub rule: Option<String>,
    pub kind: RejectKind,
    /// The full error; its `Display` names file, line and rule.
    pub error: RuleError,
}

/// What `ironpost-cli rules validate --dir` shows.
#[derive(Debug, Default)]
pub struct Report {
    pub loaded: Vec<RuleSummary>,
    pub unsupported: Vec<Rejected>,
}

impl Report {
    /// No rule was rejected.
    pub fn is_clean(&self) -> bool {
        self.unsupported.is_empty()
    }
}

/// Loads and compiles every rule under `dir` on its own: what would load, and why the rest would
/// not (unsupported constructs and errors alike, one entry per rule).
pub fn validate_dir(dir: &Path) -> Report {
    validate(load_dir(dir))
}

fn validate(loaded: Loaded) -> Report {
    let mut report = Report::default();
    let mut reject = |error: RuleError| {
        report.unsupported.push(Rejected {
            file: error.path().map(Path::to_path_buf),
            rule: error.rule().map(str::to_owned),
            kind: if error.is_unsupported() {
                RejectKind::Unsupported
            } else {
                RejectKind::Invalid
            },
            error,
        });
    };
    loaded.errors.into_iter().for_each(&mut reject);
    let mut seen: HashMap<String, Origin> = HashMap::new();
    let mut good = Vec::new();
    for rule in loaded.rules {
        if let Some(first) = seen.get(&rule.id) {
            reject(RuleError::DuplicateId {
                origin: rule.origin.clone(),
                rule_id: rule.id.clone(),
                first: first.clone(),
            });
            continue;
        }
        seen.insert(rule.id.clone(), rule.origin.clone());
        match compile_rule(&rule) {
            Ok(_) => good.push(rule),
            Err(e) => reject(e),
        }
    }
    report.loaded = good
        .into_iter()
        .map(|r| RuleSummary {
            conditions: r.expr.conditions().len(),
            id: r.id,
            title: r.title,
            severity: r.severity,
            status: r.status,
            format: r.format,
            file: r.origin.path,
            threshold: r.threshold,
        })
        .collect();
    report
}
