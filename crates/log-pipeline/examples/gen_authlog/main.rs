//! Deterministic generator of a realistic sshd auth.log corpus and its ground truth: the
//! corpus of the parser tests (`tests/parse/corpus.rs`) and of `bench/parse.sh`,
//! `bench/rules.sh` and `bench/log-e2e.sh`. `sim.rs` says what it simulates.
//!
//! ```text
//! cargo run --release -p ironpost-log-pipeline --example gen_authlog -- \
//!     [-n LINES] [--seed S] [--out BASE] [--formats rfc3164,rfc3164pri,rfc5424,jsonl] [--force]
//! ```
//!
//! Writes `BASE.log` (RFC 3164 as in /var/log/auth.log), `BASE.pri.log` (with `<PRI>`),
//! `BASE.rfc5424.log`, `BASE.jsonl` (the formats asked for; default rfc3164,rfc5424,jsonl) and
//! `BASE.truth.json`: counts per kind of line and per actor, the attackers' addresses, and the
//! addresses that reach 5 failed passwords within 600 s (fail2ban's sshd defaults). LINES
//! defaults to 1,000,000, S to 42, BASE to `/tmp/ironpost-bench/authlog/auth-LINES-sS`.
//! When the truth file says the outputs were made with the same lines, seed and generator
//! version and they still have the recorded sizes, nothing is regenerated (`--force` does).
//! Prints the paths and a summary.

// A command-line tool: its output is the report.
#![allow(clippy::print_stdout)]

mod sim;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use sim::{Format, GENERATOR_VERSION, generate, with_suffix};

const USAGE: &str = "usage: gen_authlog [-n LINES] [--seed S] [--out BASE] [--formats rfc3164,rfc3164pri,rfc5424,jsonl] [--force]";

struct Args {
    lines: usize,
    seed: u64,
    out: Option<PathBuf>,
    formats: Vec<Format>,
    force: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        lines: 1_000_000,
        seed: 42,
        out: None,
        formats: vec![Format::Rfc3164, Format::Rfc5424, Format::Jsonl],
        force: false,
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
            "--formats" => {
                a.formats = value()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        Format::ALL
                            .into_iter()
                            .find(|f| f.name() == s)
                            .ok_or(format!("--formats: unknown format `{s}`\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--force" => a.force = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if a.lines == 0 || a.formats.is_empty() {
        return Err(format!("nothing to write\n{USAGE}"));
    }
    Ok(a)
}

/// Whether `BASE.truth.json` describes these parameters and every asked-for file still has
/// the size it recorded.
fn cached(base: &Path, a: &Args) -> bool {
    let Ok(text) = std::fs::read(with_suffix(base, ".truth.json")) else {
        return false;
    };
    let Ok(t) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    t["generator"] == sim::GENERATOR
        && t["lines"].as_u64() == Some(a.lines as u64)
        && t["seed"].as_u64() == Some(a.seed)
        && t["generator_version"].as_u64() == Some(GENERATOR_VERSION)
        && a.formats.iter().all(|f| {
            std::fs::metadata(with_suffix(base, f.suffix()))
                .is_ok_and(|m| t["bytes"][f.name()].as_u64() == Some(m.len()))
        })
}

fn run() -> Result<(), String> {
    let a = args()?;
    let base = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/tmp/ironpost-bench/authlog/auth-{}-s{}",
            a.lines, a.seed
        ))
    });
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if !a.force && cached(&base, &a) {
        for f in &a.formats {
            println!(
                "{} {} (cached)",
                f.name(),
                with_suffix(&base, f.suffix()).display()
            );
        }
        println!(
            "truth {} (cached)",
            with_suffix(&base, ".truth.json").display()
        );
        return Ok(());
    }
    let start = Instant::now();
    let truth = generate(&base, a.lines, a.seed, &a.formats)
        .map_err(|e| format!("writing {}.*: {e}", base.display()))?
        .json;
    let secs = start.elapsed().as_secs_f64();
    for f in &a.formats {
        println!(
            "{} {} ({} bytes)",
            f.name(),
            with_suffix(&base, f.suffix()).display(),
            truth["bytes"][f.name()]
        );
    }
    println!("truth {}", with_suffix(&base, ".truth.json").display());
    println!(
        "{} lines over {:.1} h: {} failed-password lines, {} distinct addresses, {} reach 5 failures in 600 s; {:.0} lines/s",
        truth["lines"],
        truth["span_seconds"].as_u64().unwrap_or(0) as f64 / 3600.0,
        truth["failed_password_lines"],
        truth["distinct_ips"],
        truth["ips_reaching_5_failures_in_600s"],
        a.lines as f64 / secs
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_authlog: {e}");
            ExitCode::FAILURE
        }
    }
}
