//! Runs a generated corpus through the real log pipeline — `LogPipeline` with the `file` source,
//! the rules loaded from a directory as the daemon loads them (`load_dir`, sshd mode, compile),
//! parse, rule set, alerter with its default dedup and rate limit — and compares the alerts with
//! the ground truth. Shared by `tests/mixed_corpus.rs` (a small corpus, debug build) and the
//! `gen_mixed --check` example (1,000,000 lines, release build).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use ironpost_core::{AlertEvent, Module, metrics};
use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use tokio::sync::mpsc;

use super::mix::{Kind, Truth};

/// What the pipeline alerted: per source (address, or user for alerts without one), the rules.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) alerts: usize,
    pub(crate) by_source: BTreeMap<String, BTreeSet<String>>,
    /// Lines the pipeline parsed.
    pub(crate) parsed: u64,
}

fn counter(reg: &metrics::prometheus::Registry, name: &str) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_counter().get_value())
        .sum()
}

/// Feeds `log` (of `lines` lines) through a pipeline with the rules of `rules_dir`; `wait` bounds
/// how long the whole file may take (a bound on waiting, not a measurement).
pub(crate) async fn run_pipeline(
    log: &Path,
    lines: usize,
    rules_dir: &Path,
    data_dir: &Path,
    wait: Duration,
) -> Result<Outcome, String> {
    let (alerts, parsed) = alerts_of(log, lines, rules_dir, data_dir, wait, 0).await?;
    let mut outcome = Outcome {
        alerts: alerts.len(),
        parsed,
        ..Outcome::default()
    };
    for a in alerts {
        let source = match (a.entities.src_ip, &a.entities.user) {
            (Some(ip), _) => ip.to_string(),
            (None, Some(user)) => user.clone(),
            (None, None) => "<none>".to_owned(),
        };
        outcome
            .by_source
            .entry(source)
            .or_default()
            .insert(a.rule_id);
    }
    Ok(outcome)
}

/// Every alert of `log` (of `lines` lines) through a pipeline with the rules of `rules_dir` and
/// `match_threads` (0: the default), in the order the pipeline sent them, and the lines parsed.
pub(crate) async fn alerts_of(
    log: &Path,
    lines: usize,
    rules_dir: &Path,
    data_dir: &Path,
    wait: Duration,
    match_threads: usize,
) -> Result<(Vec<AlertEvent>, u64), String> {
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![log.to_path_buf()],
        rules_dir: rules_dir.to_path_buf(),
        file_start_at: StartAt::Beginning,
        match_threads,
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, mut arx) = mpsc::channel::<AlertEvent>(1024);
    let (ltx, mut lrx) = mpsc::channel(1024);
    let mut p = LogPipeline::new(
        cfg,
        data_dir.to_path_buf(),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    // Evidence lines are waited for by file batches: drain them.
    let logs = tokio::spawn(async move { while lrx.recv().await.is_some() {} });
    let collect = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(a) = arx.recv().await {
            out.push(a);
        }
        out
    });
    p.start()
        .await
        .map_err(|e| format!("pipeline start: {e}"))?;
    let deadline = tokio::time::Instant::now() + wait;
    let want = lines as f64;
    let mut parsed = 0.0;
    while parsed < want {
        if tokio::time::Instant::now() >= deadline {
            let _ = p.stop().await;
            return Err(format!(
                "only {parsed} of {lines} lines parsed within {} s",
                wait.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        parsed = counter(&registry, "ironpost_log_parsed_total");
    }
    p.stop().await.map_err(|e| format!("pipeline stop: {e}"))?;
    drop(p);
    let alerts = collect.await.map_err(|e| format!("collector: {e}"))?;
    let _ = logs.await;
    Ok((alerts, parsed as u64))
}

/// Every way the outcome departs from the truth: an attacker its rule did not alert on, a
/// benign source or user alerted, an alert naming a source the corpus does not have.
pub(crate) fn problems(truth: &Truth, outcome: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    for a in &truth.attackers {
        let rules = outcome.by_source.get(&a.source);
        if !rules.is_some_and(|r| r.contains(a.kind.rule())) {
            out.push(format!(
                "attacker {} ({:?}) not found by {}: alerted {:?}",
                a.source,
                a.kind,
                a.kind.rule(),
                rules
            ));
        }
    }
    let attackers: BTreeSet<&str> = truth.attackers.iter().map(|a| a.source.as_str()).collect();
    for (source, rules) in &outcome.by_source {
        let benign = truth.benign_sources.contains(source) || truth.benign_users.contains(source);
        if benign {
            out.push(format!("benign source {source} alerted by {rules:?}"));
        } else if !attackers.contains(source.as_str()) {
            out.push(format!("alert for unknown source {source} by {rules:?}"));
        }
    }
    out
}

/// Attackers per kind, for reports.
pub(crate) fn kinds(truth: &Truth) -> BTreeMap<Kind, usize> {
    let mut m = BTreeMap::new();
    for a in &truth.attackers {
        *m.entry(a.kind).or_default() += 1;
    }
    m
}
