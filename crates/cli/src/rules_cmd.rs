//! `ironpost-cli rules validate|test|list|coverage`: load rules the way the daemon does, list
//! every rule that cannot be supported with the reason, try a rule on sample lines, hold a rule
//! directory to its sample files, and show which rules fire on a log file (the way
//! `fail2ban-regex` and `cscli explain` let users check their setup).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use ironpost_core::error_chain;
use ironpost_log_pipeline::fields::FieldSource;
use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{
    Alerter, AlertingConfig, Correlate, ManualClock, RejectKind, RuleSet, RuleStatus, SshdMode,
    check_samples, load_dir, load_file, validate_dir,
};
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use serde_json::json;

use crate::args::{
    Global, OutputFormat, RulesCoverageArgs, RulesTestArgs, RulesValidateArgs, SshdModeArg,
};
use crate::{config_cmd, output};

/// Largest sample input read by `rules test`.
const MAX_SAMPLE_BYTES: u64 = 64 * 1024 * 1024;

/// Field names shown for a matching line.
const SHOWN_FIELDS: &[&str] = &[
    "process", "pid", "hostname", "severity", "facility", "src_ip", "user", "port", "outcome",
];

/// `--dir`, else `log_pipeline.rules_dir` of the config; it must be a directory.
fn rules_dir(g: &Global, dir: Option<&Path>) -> Result<PathBuf, ExitError> {
    let dir: PathBuf = match dir {
        Some(d) => d.to_owned(),
        None => config_cmd::load(g)?.log_pipeline.rules_dir,
    };
    if !dir.is_dir() {
        return Err(anyhow::anyhow!("{} is not a directory", dir.display()))
            .exit_with(Exit::Config);
    }
    Ok(dir)
}

pub(crate) fn validate(g: &Global, a: &RulesValidateArgs) -> Result<Exit, ExitError> {
    let dir = rules_dir(g, a.dir.as_deref())?;
    let report = validate_dir(&dir);
    let kind = |k: RejectKind| match k {
        RejectKind::Unsupported => "unsupported",
        RejectKind::Invalid => "invalid",
    };
    match g.output {
        OutputFormat::Json => output::json(&json!({
            "dir": dir,
            "loaded": report.loaded.iter().map(|r| json!({
                "id": r.id, "title": r.title, "severity": r.severity, "format": r.format.as_str(),
                "file": r.file, "conditions": r.conditions, "threshold": r.threshold.is_some(),
            })).collect::<Vec<_>>(),
            "rejected": report.unsupported.iter().map(|r| json!({
                "file": r.file, "rule": r.rule, "kind": kind(r.kind), "reason": error_chain(&r.error),
            })).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => {
            let mut s = format!(
                "{}: {} rule(s) loaded, {} rejected\n",
                dir.display(),
                report.loaded.len(),
                report.unsupported.len()
            );
            for r in &report.unsupported {
                s.push_str(&format!(
                    "  {} {}: {}\n",
                    kind(r.kind),
                    r.rule.as_deref().unwrap_or("(file)"),
                    error_chain(&r.error)
                ));
            }
            output::text(&s)?;
        }
    }
    Ok(if report.is_clean() {
        Exit::Ok
    } else {
        Exit::Config
    })
}

pub(crate) fn test(g: &Global, a: &RulesTestArgs) -> Result<Exit, ExitError> {
    let rule = match (&a.rule, &a.dir) {
        (Some(r), _) => r,
        (None, Some(dir)) => return test_dir(g, dir),
        (None, None) => {
            return Err(anyhow::anyhow!("give --rule FILE or --dir DIR")).exit_with(Exit::Usage);
        }
    };
    let loaded = load_file(rule);
    if !loaded.errors.is_empty() {
        let list: Vec<String> = loaded.errors.iter().map(|e| error_chain(e)).collect();
        return Err(anyhow::anyhow!("{}", list.join("\n"))).exit_with(Exit::Config);
    }
    let set = RuleSet::compile(loaded.rules).map_err(|errs| {
        anyhow::anyhow!(
            "{}",
            errs.iter()
                .map(|e| error_chain(e))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let set = set.exit_with(Exit::Config)?;
    let mut input = String::new();
    match (&a.file, a.stdin) {
        (Some(f), _) => {
            std::fs::File::open(f).and_then(|f| f.take(MAX_SAMPLE_BYTES).read_to_string(&mut input))
        }
        (None, _) => std::io::stdin()
            .take(MAX_SAMPLE_BYTES)
            .read_to_string(&mut input),
    }
    .exit_with(Exit::Failure)?;
    let ctx = ParseContext::now_local();
    let mut results = Vec::new();
    let mut matched_lines = 0;
    let mut matched = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let rec = parse(line.as_bytes(), &ctx);
        matched.clear();
        set.matches(&rec, &mut matched);
        if matched.is_empty() {
            continue;
        }
        matched_lines += 1;
        let fields: serde_json::Map<String, serde_json::Value> = SHOWN_FIELDS
            .iter()
            .filter_map(|f| rec.field(f).map(|v| ((*f).to_owned(), json!(v.to_text()))))
            .collect();
        results.push(json!({
            "line": n + 1,
            "rules": matched.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            "format": format!("{:?}", rec.format).to_lowercase(),
            "message": rec.message(),
            "fields": fields,
        }));
    }
    match g.output {
        OutputFormat::Json => {
            output::json(&json!({ "lines": input.lines().count(), "matched": results }))?
        }
        OutputFormat::Text => {
            let mut s = String::new();
            for r in &results {
                s.push_str(&format!(
                    "line {}: {} ({})\n",
                    r["line"],
                    r["rules"],
                    r["format"].as_str().unwrap_or("")
                ));
                if let Some(f) = r["fields"].as_object() {
                    for (k, v) in f {
                        s.push_str(&format!("    {k} = {}\n", v.as_str().unwrap_or("")));
                    }
                }
            }
            s.push_str(&format!(
                "{matched_lines} of {} line(s) matched\n",
                input.lines().count()
            ));
            output::text(&s)?;
        }
    }
    // Scripts can tell "matched" from "did not match".
    Ok(if matched_lines > 0 {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// `rules test --dir`: every rule against its sample file, exactly (`rules::check_samples`).
fn test_dir(g: &Global, dir: &Path) -> Result<Exit, ExitError> {
    let dir = rules_dir(g, Some(dir))?;
    let r = check_samples(&dir);
    let mut problems: Vec<String> = Vec::new();
    problems.extend(r.load_errors.iter().map(|e| error_chain(e)));
    problems.extend(
        r.missing
            .iter()
            .map(|id| format!("rule `{id}` has no sample file tests/{id}.log")),
    );
    problems.extend(
        r.one_sided
            .iter()
            .map(|id| format!("rule `{id}`: its sample file needs `+` and `-` lines")),
    );
    problems.extend(
        r.orphans
            .iter()
            .map(|p| format!("{}: names no rule of the directory", p.display())),
    );
    problems.extend(
        r.unreadable
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display())),
    );
    problems.extend(
        r.malformed
            .iter()
            .map(|m| format!("{}:{}: {}", m.file.display(), m.line, m.reason)),
    );
    problems.extend(r.mismatches.iter().map(|m| {
        format!(
            "{}:{}: expected [{}], matched [{}]: {}",
            m.file.display(),
            m.line,
            m.expected.join(", "),
            m.got.join(", "),
            m.text
        )
    }));
    match g.output {
        OutputFormat::Json => output::json(&json!({
            "dir": dir,
            "rules": r.rules,
            "positives": r.positives,
            "negatives": r.negatives,
            "ok": r.is_clean(),
            "problems": problems,
            "mismatches": r.mismatches.iter().map(|m| json!({
                "file": m.file, "line": m.line, "text": m.text,
                "expected": m.expected, "matched": m.got,
            })).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => {
            let mut s = String::new();
            for p in &problems {
                s.push_str(p);
                s.push('\n');
            }
            s.push_str(&format!(
                "{}: {} rule(s), {} matching and {} near-miss sample line(s): {}\n",
                dir.display(),
                r.rules,
                r.positives,
                r.negatives,
                if r.is_clean() {
                    "all as expected".to_owned()
                } else {
                    format!("{} problem(s)", problems.len())
                }
            ));
            output::text(&s)?;
        }
    }
    Ok(if r.is_clean() {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

/// `rules list`.
pub(crate) fn list(g: &Global, a: &RulesValidateArgs) -> Result<Exit, ExitError> {
    let dir = rules_dir(g, a.dir.as_deref())?;
    let loaded = load_dir(&dir);
    for e in &loaded.errors {
        eprintln!("warning: {}", error_chain(e));
    }
    let file = |r: &ironpost_log_pipeline::Rule| {
        r.origin
            .path
            .as_deref()
            .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
            .unwrap_or_default()
    };
    match g.output {
        OutputFormat::Json => output::json(
            &loaded
                .rules
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id, "title": r.title, "severity": r.severity,
                        "status": r.status.as_str(), "sshd_mode": SshdMode::of(r).as_str(),
                        "tags": r.tags, "file": r.origin.path, "format": r.format.as_str(),
                        "threshold": r.threshold.as_ref().map(|t| json!({
                            "count": t.count, "timeframe_secs": t.window.as_secs(), "group_by": t.group_by,
                            "distinct": match &t.correlate {
                                Some(Correlate::Distinct(f)) => Some(f.as_str()),
                                _ => None,
                            },
                            "near_parts": match &t.correlate {
                                Some(Correlate::Near(n)) => Some(n.parts().len()),
                                _ => None,
                            },
                        })),
                    })
                })
                .collect::<Vec<_>>(),
        )?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = loaded
                .rules
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.severity.to_string(),
                        SshdMode::of(r).as_str().to_owned(),
                        r.tags.join(","),
                        file(r),
                        r.title.clone(),
                    ]
                })
                .collect();
            let mut s = output::table(&["ID", "SEVERITY", "MODE", "TAGS", "FILE", "TITLE"], &rows);
            s.push_str(&format!("{} rule(s) in {}\n", rows.len(), dir.display()));
            output::text(&s)?;
        }
    }
    Ok(if loaded.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Config
    })
}

/// `rules coverage`: every line of a log file through the rules of a directory, as the daemon
/// would (same parser, thresholds, dedup and rate limits on the lines' own time).
pub(crate) fn coverage(g: &Global, a: &RulesCoverageArgs) -> Result<Exit, ExitError> {
    let dir = rules_dir(g, a.dir.as_deref())?;
    let loaded = load_dir(&dir);
    if !loaded.errors.is_empty() {
        let list: Vec<String> = loaded.errors.iter().map(|e| error_chain(e)).collect();
        return Err(anyhow::anyhow!("{}", list.join("\n"))).exit_with(Exit::Config);
    }
    let mode = a.sshd_mode.map(|m| match m {
        SshdModeArg::Normal => SshdMode::Normal,
        SshdModeArg::Ddos => SshdMode::Ddos,
        SshdModeArg::Aggressive => SshdMode::Aggressive,
    });
    let rules = loaded.rules.into_iter().map(|mut r| {
        if mode.is_some_and(|m| !m.admits(&r)) {
            r.status = RuleStatus::Disabled;
        }
        r
    });
    let set = RuleSet::compile(rules).map_err(|errs| {
        anyhow::anyhow!(
            "{}",
            errs.iter()
                .map(|e| error_chain(e))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let set = set.exit_with(Exit::Config)?;
    let mut input = String::new();
    std::fs::File::open(&a.file)
        .and_then(|f| f.take(MAX_SAMPLE_BYTES).read_to_string(&mut input))
        .with_context(|| format!("cannot read {}", a.file.display()))
        .exit_with(Exit::Failure)?;
    let ctx = ParseContext::now_local();
    let clock = Arc::new(ManualClock::new(ctx.received_micros()));
    let mut alerter = Alerter::in_memory(AlertingConfig::default(), clock);
    // rule id -> (matching lines, alerts, first matching line)
    let mut per_rule: BTreeMap<&str, (u64, u64, usize)> = BTreeMap::new();
    let mut formats: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut lines, mut unmatched) = (0u64, 0u64);
    let mut matched = Vec::new();
    for (n, line) in input.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        lines += 1;
        let rec = parse(line.as_bytes(), &ctx);
        *formats.entry(rec.format.as_str()).or_default() += 1;
        set.matches(&rec, &mut matched);
        if matched.is_empty() {
            unmatched += 1;
        }
        for rule in &matched {
            let e = per_rule.entry(rule.id.as_str()).or_insert((0, 0, n + 1));
            e.0 += 1;
            if alerter.observe(rule, &rec).is_some() {
                e.1 += 1;
            }
        }
    }
    let silent: Vec<&str> = set
        .rules()
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !per_rule.contains_key(id))
        .collect();
    match g.output {
        OutputFormat::Json => output::json(&json!({
            "file": a.file,
            "dir": dir,
            "sshd_mode": mode.map(SshdMode::as_str),
            "lines": lines,
            "unmatched_lines": unmatched,
            "formats": formats,
            "rules": per_rule.iter().map(|(id, (m, al, first))| json!({
                "id": id, "matched_lines": m, "alerts": al, "first_line": first,
            })).collect::<Vec<_>>(),
            "silent_rules": silent,
        }))?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = per_rule
                .iter()
                .map(|(id, (m, al, first))| {
                    vec![
                        (*id).to_owned(),
                        m.to_string(),
                        al.to_string(),
                        first.to_string(),
                    ]
                })
                .collect();
            let mut s = output::table(&["RULE", "LINES", "ALERTS", "FIRST LINE"], &rows);
            let fmt: Vec<String> = formats.iter().map(|(f, c)| format!("{f} {c}")).collect();
            s.push_str(&format!(
                "{lines} line(s) ({}); {} matched at least one rule, {unmatched} matched none\n",
                fmt.join(", "),
                lines - unmatched
            ));
            s.push_str(&format!(
                "{} of {} rule(s) fired on nothing\n",
                silent.len(),
                set.len()
            ));
            output::text(&s)?;
        }
    }
    Ok(Exit::Ok)
}
