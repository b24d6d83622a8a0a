//! The rule library's matching cost per record: lines of an auth.log (`examples/gen_authlog`)
//! parsed by the crate's parser, then matched by a `RuleSet` compiled from a rules directory
//! (default: the repository's `rules/`), single-threaded, best of N interleaved rounds, timed in
//! the thread's CPU time (so a busy machine's other work does not count). Prints the rate of
//! parsing alone and of parsing plus matching, and the prefilter's figures; the difference is what
//! the rules cost. No threshold state: `bench/log-e2e.sh` measures the whole daemon.
//!
//!   library_bench --log AUTH.LOG [--rules DIR] [--rounds N]

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{RuleSet, load_dir};

const USAGE: &str = "usage: library_bench --log AUTH.LOG [--rules DIR] [--rounds N]";

fn run() -> Result<(), String> {
    let mut log = None;
    let mut rules = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules"));
    let mut rounds = 5usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--log" => log = Some(PathBuf::from(value()?)),
            "--rules" => rules = value()?.into(),
            "--rounds" => rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            _ => return Err(USAGE.into()),
        }
    }
    let log = log.ok_or(USAGE)?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let loaded = load_dir(&rules);
    if !loaded.errors.is_empty() {
        return Err(format!("{}: {:?}", rules.display(), loaded.errors));
    }
    let set = RuleSet::compile(loaded.rules).map_err(|e| format!("{e:?}"))?;
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let (mut parse_best, mut match_best) = (0f64, 0f64);
    let mut matched = 0usize;
    let mut out = Vec::new();
    for _ in 0..rounds {
        let start = cpu_ns();
        let mut acc = 0usize;
        for l in &lines {
            acc = acc.wrapping_add(parse(l.as_bytes(), &ctx).message().len());
        }
        black_box(acc);
        parse_best = parse_best.max(lines.len() as f64 / secs_since(start));
        let start = cpu_ns();
        matched = 0;
        for l in &lines {
            let rec = parse(l.as_bytes(), &ctx);
            set.matches(&rec, &mut out);
            matched += out.len();
        }
        match_best = match_best.max(lines.len() as f64 / secs_since(start));
    }
    let per = |rate: f64| 1e9 / rate;
    println!("{:?}", set.prefilter_stats());
    println!(
        "{} lines, {} rules, {matched} matches; best of {rounds}: parse {:.0} lines/s, parse+match {:.0} lines/s; matching {:.0} ns/line",
        lines.len(),
        set.len(),
        parse_best,
        match_best,
        per(match_best) - per(parse_best)
    );
    Ok(())
}

/// This thread's time on a CPU in nanoseconds (`/proc/thread-self/schedstat`'s first field):
/// on a busy machine, other processes' time slices do not count, so rates are per CPU-second.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn secs_since(start_ns: u64) -> f64 {
    (cpu_ns().saturating_sub(start_ns) as f64 / 1e9).max(1e-9)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("library_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
