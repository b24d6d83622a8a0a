//! The mixed corpus with ground truth of issue 16 (`mix.rs` says what it holds), written to disk
//! and, with `--check`, run through the real log pipeline with the default rule library.
//!
//! ```text
//! cargo run --release -p ironpost-log-pipeline --example gen_mixed -- \
//!     [--lines N] [--seed S] [--out BASE] [--check] [--rules DIR]
//! ```
//!
//! Writes `BASE.log` (the interleaved lines) and `BASE.truth.json` (attackers with their kind and
//! the rule that must find them, benign addresses and users, near-miss episodes). N defaults to
//! 1,000,000, S to 7, BASE to `/tmp/ironpost-bench/mixed/mixed-N-sS`, DIR to the repository's
//! `rules/`. `--check` exits 1 when an attacker is missed or a benign source alerted.
//! `tests/mixed_corpus.rs` runs the same check on 60,000 lines in every `cargo test`.

// A command-line tool: its output is the report.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod check;
mod mix;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: gen_mixed [--lines N] [--seed S] [--out BASE] [--check] [--rules DIR]";

struct Args {
    lines: usize,
    seed: u64,
    out: Option<PathBuf>,
    check: bool,
    rules: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        lines: 1_000_000,
        seed: 7,
        out: None,
        check: false,
        rules: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "-n" | "--lines" => {
                a.lines = value()?
                    .parse()
                    .map_err(|e| format!("{flag}: {e}\n{USAGE}"))?;
            }
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => a.out = Some(value()?.into()),
            "--rules" => a.rules = value()?.into(),
            "--check" => a.check = true,
            _ => return Err(USAGE.to_owned()),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let base = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/tmp/ironpost-bench/mixed/mixed-{}-s{}",
            a.lines, a.seed
        ))
    });
    let started = Instant::now();
    let (lines, truth) = mix::generate(a.lines, a.seed);
    let log = base.with_extension("log");
    let truth_path = base.with_extension("truth.json");
    if let Some(dir) = log.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    if let Err(e) =
        std::fs::write(&log, text).and_then(|()| std::fs::write(&truth_path, truth.to_json()))
    {
        eprintln!("cannot write {}: {e}", log.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} lines to {} and the truth to {} in {:.1} s",
        lines.len(),
        log.display(),
        truth_path.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "attackers per kind: {:?}; benign sources {}, benign sudo users {}; near misses {:?}",
        check::kinds(&truth),
        truth.benign_sources.len(),
        truth.benign_users.len(),
        truth.near_misses
    );
    if !a.check {
        return ExitCode::SUCCESS;
    }
    let data = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tempdir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let outcome = match check::run_pipeline(
        &log,
        lines.len(),
        &a.rules,
        data.path(),
        Duration::from_secs(600),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "pipeline: {} lines parsed in {secs:.1} s ({:.0} lines/s), {} alerts from {} sources",
        outcome.parsed,
        outcome.parsed as f64 / secs,
        outcome.alerts,
        outcome.by_source.len()
    );
    let problems = check::problems(&truth, &outcome);
    if problems.is_empty() {
        println!(
            "check: all {} attackers found, no benign source alerted",
            truth.attackers.len()
        );
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("check: {p}");
        }
        ExitCode::FAILURE
    }
}
