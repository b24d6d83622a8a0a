//! Issue 16's corpus test: a mixed sshd / sudo / postfix / dovecot / nginx log with ground truth
//! (`examples/gen_mixed/mix.rs`), run through the real pipeline with the default rule library
//! (`rules/`, loaded as the daemon loads it): every attacker is found by its rule, no benign source
//! is alerted. 60,000 lines here (a debug build under nextest); `gen_mixed --check` runs the same
//! check on 1,000,000 lines in a release build (docs/rules.md).

#![allow(clippy::unwrap_used)]

#[path = "../examples/gen_mixed/check.rs"]
mod check;
#[path = "../examples/gen_mixed/mix.rs"]
#[allow(dead_code)]
mod mix;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{RuleSet, load_dir};

const LINES: usize = 60_000;
const SEED: u64 = 7;

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn the_generator_is_deterministic_and_exact() {
    let (a, ta) = mix::generate(LINES, SEED);
    let (b, tb) = mix::generate(LINES, SEED);
    assert_eq!(a.len(), LINES);
    assert!(a == b, "same seed, same lines");
    assert_eq!(ta.to_json(), tb.to_json());
    let (c, _) = mix::generate(LINES, SEED + 1);
    assert!(a != c, "another seed, other lines");
    // Every kind of attacker, every kind of near miss, addresses in 198.18.0.0/15 only.
    assert_eq!(check::kinds(&ta).len(), mix::Kind::ALL.len());
    assert!(
        ta.near_misses.iter().all(|(_, n)| *n > 0),
        "{:?}",
        ta.near_misses
    );
    for a in ta
        .attackers
        .iter()
        .filter(|a| a.kind != mix::Kind::SudoAbuse)
    {
        assert!(a.source.starts_with("198.19."), "{}", a.source);
    }
    assert!(ta.benign_sources.iter().all(|s| s.starts_with("198.18.")));
}

/// The near misses are real: benign sources' lines do match the rules that would alert on more
/// of them (a threshold, not a blind rule, keeps them quiet).
#[test]
fn benign_near_misses_match_rules_below_their_thresholds() {
    let (lines, truth) = mix::generate(LINES, SEED);
    let set = RuleSet::compile(load_dir(&library()).rules).unwrap();
    let ctx = ParseContext::new(1_796_000_000_000_000, 0);
    let benign: BTreeSet<&str> = truth.benign_sources.iter().map(String::as_str).collect();
    let mut matched: BTreeMap<String, usize> = BTreeMap::new();
    let mut hits = Vec::new();
    for line in &lines {
        let rec = parse(line.as_bytes(), &ctx);
        let Some(ip) = rec.field("src_ip").map(|v| v.to_text().into_owned()) else {
            continue;
        };
        if !benign.contains(ip.as_str()) {
            continue;
        }
        set.matches(&rec, &mut hits);
        for r in &hits {
            *matched.entry(r.id.clone()).or_default() += 1;
        }
    }
    for rule in [
        "ssh_brute_force",
        "ssh_brute_force_slow",
        "web_login_bruteforce",
        "web_4xx_burst",
        "postfix_sasl_failure",
        "dovecot_auth_failure",
    ] {
        assert!(
            matched.get(rule).is_some_and(|n| *n >= 10),
            "{rule}: benign lines matched {matched:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attacker_found_and_no_benign_source_alerted() {
    let (lines, truth) = mix::generate(LINES, SEED);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mixed.log");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let data = dir.path().join("data");
    // 120 s: a bound on waiting, not a measurement.
    let outcome = check::run_pipeline(
        &log,
        lines.len(),
        &library(),
        &data,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    let problems = check::problems(&truth, &outcome);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(outcome.parsed, LINES as u64);
    assert_eq!(outcome.by_source.len(), truth.attackers.len());
    assert!(outcome.alerts >= truth.attackers.len());
}

/// Every alert of a run through the real pipeline with `match_threads` threads: (id, rule, source
/// address, user, evidence class, description), in the order the pipeline sent them.
async fn alerts_with_threads(
    log: &Path,
    lines: usize,
    data: &Path,
    match_threads: usize,
) -> Vec<(
    String,
    String,
    Option<std::net::IpAddr>,
    Option<String>,
    String,
    String,
)> {
    // A bound on waiting, not a measurement.
    let (alerts, parsed) = check::alerts_of(
        log,
        lines,
        &library(),
        data,
        Duration::from_secs(120),
        match_threads,
    )
    .await
    .unwrap();
    assert_eq!(parsed, lines as u64);
    alerts
        .into_iter()
        .map(|a| {
            (
                format!("{:?}", a.id),
                a.rule_id,
                a.entities.src_ip,
                a.entities.user,
                a.evidence.as_str().to_owned(),
                a.description,
            )
        })
        .collect()
}

/// Parsing and matching fanned out over threads (`match_threads`, `pipeline/matcher.rs`) raise
/// the same alerts, with the same ids, in the same order, as one thread: thresholds and dedup
/// still see the lines in file order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_threads_raise_what_one_thread_raises_in_the_same_order() {
    let (lines, _) = mix::generate(LINES, SEED);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mixed.log");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let one = alerts_with_threads(&log, lines.len(), &dir.path().join("one"), 1).await;
    let three = alerts_with_threads(&log, lines.len(), &dir.path().join("three"), 3).await;
    assert!(one.len() >= 20, "the corpus raises alerts: {}", one.len());
    assert_eq!(one.len(), three.len());
    for (k, (a, b)) in one.iter().zip(&three).enumerate() {
        assert_eq!(a, b, "alert {k} differs");
    }
}
