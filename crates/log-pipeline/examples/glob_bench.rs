//! Glob benchmark (bench/glob.sh, bench/README.md "Globs"): what `globset` costs against what it
//! replaced or sits beside, on the same inputs.
//!
//! 1. Names (`ironpost_core::glob`): the former hand-written single-backtrack matcher,
//!    `glob_match` (globset, per-thread cache of compiled patterns), compiling at every call, and
//!    a `Glob` compiled once, over container-like names.
//! 2. Sigma wildcard values on the rule hot path: the regex the Sigma compiler builds from a value
//!    with interior wildcards (case-insensitive, as `compile.rs` builds it) against a compiled
//!    case-insensitive `Glob` of the same value, over auth-log-like messages.
//! 3. What the translation buys: a rule set of `--rules` Sigma rules whose values have interior
//!    wildcards, matched with the Aho-Corasick literal prefilter (`RuleSet::matches`: only rules
//!    whose required literals occur are evaluated) against evaluating every rule on every line
//!    (`RuleSet::matches_exhaustive`), which is what an opaque globset operator would force — it
//!    exposes no literals to the prefilter.
//!
//!   cargo run --release -p ironpost-log-pipeline --example glob_bench -- [--names N] [--lines N] [--rules N] [--rounds N]

use std::hint::black_box;
use std::time::Instant;

use ironpost_core::glob::{Glob, glob_match};
use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::{RuleSet, load_str};

/// The matcher `ironpost_core::glob` had before globset, kept here as the baseline.
fn hand_glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} needs a number"))
        })
        .unwrap_or(default)
}

/// Best of `rounds` runs of `f`, in nanoseconds per item, and the number of matches (the same for
/// every contender, or the comparison is void).
fn best(rounds: usize, items: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut hits = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        hits = black_box(f());
        best = best.min(t.elapsed().as_nanos() as f64 / items as f64);
    }
    (best, hits)
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let names_n = arg(&args, "--names", 100_000);
    let lines_n = arg(&args, "--lines", 1_000_000);
    let rounds = arg(&args, "--rounds", 3);
    let rules_n = arg(&args, "--rules", 100);

    // 1. Names.
    let patterns = ["web-*", "nginx:*", "*-worker-?", "api-*-blue", "exact-name"];
    let names: Vec<String> = (0..names_n)
        .map(|i| match i % 5 {
            0 => format!("web-{i}"),
            1 => format!("nginx:1.{}", i % 30),
            2 => format!("batch-worker-{}", i % 10),
            3 => format!("api-{}-blue", i % 7),
            _ => format!("db-replica-{i}"),
        })
        .collect();
    let items = names.len() * patterns.len();
    println!(
        "names: {} names x {} patterns, best of {rounds}",
        names.len(),
        patterns.len()
    );
    let (hand, h1) = best(rounds, items, || {
        names
            .iter()
            .map(|n| patterns.iter().filter(|p| hand_glob(p, n)).count())
            .sum()
    });
    let (cached, h2) = best(rounds, items, || {
        names
            .iter()
            .map(|n| patterns.iter().filter(|p| glob_match(p, n)).count())
            .sum()
    });
    // Compiling at every call (what `glob_match` would cost without its cache): fewer names.
    let few = &names[..names.len().min(2_000)];
    let (each, _) = best(rounds, few.len() * patterns.len(), || {
        few.iter()
            .map(|n| patterns.iter().filter(|p| Glob::new(p).is_match(n)).count())
            .sum()
    });
    let compiled: Vec<Glob> = patterns.iter().map(|p| Glob::new(p)).collect();
    let (once, h3) = best(rounds, items, || {
        names
            .iter()
            .map(|n| compiled.iter().filter(|g| g.is_match(n)).count())
            .sum()
    });
    assert!(h1 == h2 && h2 == h3, "matches differ: {h1} {h2} {h3}");
    println!("  hand-written matcher        {hand:>9.1} ns/match  ({h1} matches)");
    println!("  glob_match (cached)         {cached:>9.1} ns/match");
    println!("  compile + match every call  {each:>9.1} ns/match");
    println!("  Glob compiled once          {once:>9.1} ns/match");

    // 2. Sigma values with interior wildcards on the hot path.
    let values = [
        "*sshd*Accepted*for root*",
        "*Failed password for * from 198.18.*",
        "*session opened for user ?oot*",
    ];
    let lines: Vec<String> = (0..lines_n)
        .map(|i| match i % 4 {
            0 => format!(
                "Nov 23 12:00:{:02} host sshd[{}]: Failed password for invalid user admin from 198.18.{}.{} port {} ssh2",
                i % 60, 1000 + i % 5000, i % 250, i % 200, 30000 + i % 30000
            ),
            1 => format!(
                "Nov 23 12:00:{:02} host sshd[{}]: Accepted publickey for deploy from 10.0.{}.{} port 22 ssh2",
                i % 60, 1000 + i % 5000, i % 250, i % 200
            ),
            2 => format!(
                "Nov 23 12:00:{:02} host CRON[{}]: pam_unix(cron:session): session opened for user root by (uid=0)",
                i % 60, 1000 + i % 5000
            ),
            _ => format!(
                "Nov 23 12:00:{:02} host kernel: [UFW BLOCK] IN=eth0 SRC=203.0.113.{} DST=10.0.0.1 PROTO=TCP DPT={}",
                i % 60, i % 250, i % 65535
            ),
        })
        .collect();
    let items = lines.len() * values.len();
    println!(
        "sigma values: {} lines x {} values, best of {rounds}",
        lines.len(),
        values.len()
    );
    // The regex the Sigma compiler builds for these values (sigma.rs `glob_op`).
    let regexes: Vec<regex::Regex> = values
        .iter()
        .map(|v| {
            let mut re = String::from(r"(?s)\A");
            for c in v.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push_str(r"\z");
            regex::RegexBuilder::new(&re)
                .case_insensitive(true)
                .build()
                .unwrap_or_else(|e| panic!("{re}: {e}"))
        })
        .collect();
    let globs: Vec<Glob> = values
        .iter()
        .map(|v| Glob::new_ascii_case_insensitive(v))
        .collect();
    let (re_ns, r1) = best(rounds, items, || {
        lines
            .iter()
            .map(|l| regexes.iter().filter(|r| r.is_match(l)).count())
            .sum()
    });
    let (gs_ns, r2) = best(rounds, items, || {
        lines
            .iter()
            .map(|l| globs.iter().filter(|g| g.is_match(l)).count())
            .sum()
    });
    assert_eq!(r1, r2, "matches differ");
    println!("  regex (Sigma compiler)      {re_ns:>9.1} ns/match  ({r1} matches)");
    println!("  globset Glob                {gs_ns:>9.1} ns/match");

    // 3. The prefilter the translation keeps.
    prefilter(&lines, rules_n, rounds);
}

/// Part 3: `n` Sigma rules, each a value with interior wildcards around a literal of its own
/// (`*sshd*Failed password*from 198.18.<k>.*` …), so most lines contain no rule's literals.
#[allow(clippy::print_stdout)]
fn prefilter(lines: &[String], n: usize, rounds: usize) {
    let mut yaml = String::new();
    for k in 0..n {
        let value = match k % 4 {
            0 => format!("*Failed password*from 198.18.{}.*", k % 250),
            1 => format!("*Accepted publickey for user{k} from *"),
            2 => format!("*session opened for user svc{k}*"),
            _ => format!("*UFW BLOCK*SRC=203.0.113.{} *", k % 250),
        };
        yaml.push_str(&format!(
            "title: wildcard {k}\nid: 00000000-0000-4000-8000-{k:012}\nlogsource: {{product: linux}}\n\
             level: low\ndetection:\n  sel:\n    message: '{value}'\n  condition: sel\n---\n"
        ));
    }
    let loaded = load_str(&yaml, None);
    assert!(
        loaded.errors.is_empty(),
        "rules rejected: {:?}",
        loaded.errors
    );
    let set = RuleSet::compile(loaded.rules).unwrap_or_else(|e| panic!("{e:?}"));
    let stats = set.prefilter_stats();
    let records: Vec<MapFields> = lines
        .iter()
        .map(|l| MapFields {
            message: l.clone(),
            timestamp_micros: None,
            fields: Vec::new(),
        })
        .collect();
    println!(
        "prefilter: {} Sigma wildcard rules ({} behind {} literals, {} always evaluated), {} lines, best of {rounds}",
        stats.rules,
        stats.prefiltered,
        stats.literals,
        stats.always_checked,
        records.len()
    );
    let mut out = Vec::new();
    let (with, m1) = best(rounds, records.len(), || {
        records
            .iter()
            .map(|r| {
                set.matches(r, &mut out);
                out.len()
            })
            .sum()
    });
    let (without, m2) = best(rounds, records.len(), || {
        records
            .iter()
            .map(|r| {
                set.matches_exhaustive(r, &mut out);
                out.len()
            })
            .sum()
    });
    assert_eq!(m1, m2, "the prefilter changed the matches");
    println!("  with the literal prefilter  {with:>9.1} ns/line  ({m1} matches)");
    println!("  every rule on every line    {without:>9.1} ns/line");
    println!("  ratio: {:.1}x", without / with);
}
