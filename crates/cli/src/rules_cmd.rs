//! `ironpost-cli rules validate|test`: load rules the way the daemon does, list every rule that
//! cannot be supported with the reason, and try a rule on sample lines.

use std::io::Read;
use std::path::PathBuf;

use ironpost_core::error_chain;
use ironpost_log_pipeline::fields::FieldSource;
use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{RejectKind, RuleSet, load_file, validate_dir};
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use serde_json::json;

use crate::args::{Global, OutputFormat, RulesTestArgs, RulesValidateArgs};
use crate::{config_cmd, output};

/// Largest sample input read by `rules test`.
const MAX_SAMPLE_BYTES: u64 = 64 * 1024 * 1024;

/// Field names shown for a matching line.
const SHOWN_FIELDS: &[&str] = &[
    "process", "pid", "hostname", "severity", "facility", "src_ip", "user", "port", "outcome",
];

pub(crate) fn validate(g: &Global, a: &RulesValidateArgs) -> Result<Exit, ExitError> {
    let dir: PathBuf = match &a.dir {
        Some(d) => d.clone(),
        None => config_cmd::load(g)?.log_pipeline.rules_dir,
    };
    if !dir.is_dir() {
        return Err(anyhow::anyhow!("{} is not a directory", dir.display()))
            .exit_with(Exit::Config);
    }
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
    let loaded = load_file(&a.rule);
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
