//! Benchmark: lines per second of `ironpost_log_pipeline::parse` against the `syslog_loose`
//! crate (0.23) on the same RFC 5424 and RFC 3164 lines, and against `serde_json::Value` on the
//! JSON lines (the measurement behind the hand-written JSON scanner), and against the `regex`
//! crate's usual combined-format pattern on generated web access log lines. One thread, lines held in
//! memory, best of `--rounds` passes. Prints one row per format and the ≥ 2× target.
//!
//! Run through `bench/parse.sh`, which generates the reference corpus first:
//!
//! ```text
//! cargo run --release -p ironpost-log-pipeline --example parse_bench -- --base /tmp/ironpost-bench/authlog/auth-1000000-s42 [--rounds 3]
//! ```
//!
//! `--base` is the generator's output path without suffix (`gen_authlog --out`); the files
//! `BASE.rfc5424.log`, `BASE.pri.log`, `BASE.log` and `BASE.jsonl` must exist.
//!
//! What is timed per line. Ours: format detection, parsing into a borrowed `Record`, and the
//! auth extraction (sshd lines get user, address, port and outcome), from `&[u8]` including
//! UTF-8 validation. `syslog_loose`: `parse_message_with_year_tz` with the variant given (its
//! fastest mode; `Either` is printed too), from an already validated `&str`, with a constant
//! year function. `serde_json`: `from_str::<Value>`, which only parses (no field mapping).

// The figures on stdout are this program's output.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::FixedOffset;
use ironpost_log_pipeline::parse::{Format, ParseContext, parse};
use syslog_loose::Variant;

struct Args {
    base: PathBuf,
    rounds: usize,
}

fn args() -> Result<Args, String> {
    let mut base = None;
    let mut rounds = 3;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--base" => base = it.next().map(PathBuf::from),
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .ok_or("--rounds needs a positive number")?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        base: base.ok_or("--base BASE is required (gen_authlog's --out)")?,
        rounds,
    })
}

/// Best lines/s of each contender over `rounds` passes over `lines`. Rounds are interleaved
/// (one pass of each, then again) so that other work on the machine weighs on all alike.
fn race<T>(rounds: usize, lines: &[T], contenders: &mut [&mut dyn FnMut(&T) -> usize]) -> Vec<f64> {
    let mut best = vec![0f64; contenders.len()];
    for _ in 0..rounds {
        for (f, best) in contenders.iter_mut().zip(&mut best) {
            let start = Instant::now();
            let mut acc = 0usize;
            for l in lines {
                acc = acc.wrapping_add(f(l));
            }
            black_box(acc);
            *best = best.max(lines.len() as f64 / start.elapsed().as_secs_f64());
        }
    }
    best
}

fn mlps(rate: f64) -> String {
    format!("{:.2} M", rate / 1e6)
}

fn run() -> Result<bool, String> {
    let args = args()?;
    let read = |suffix: &str| -> Result<String, String> {
        let path = format!("{}{suffix}", args.base.display());
        std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
    };
    // Lines in the corpus are dated November 2026: receive them a little later, in UTC.
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let utc = FixedOffset::east_opt(0).ok_or("offset")?;
    let year = |_: syslog_loose::IncompleteDate| 2026;

    println!(
        "parse_bench: corpus {}, best of {} rounds, 1 thread, M = million lines/s",
        args.base.display(),
        args.rounds
    );
    println!(
        "{:<15} {:>8} {:>10} {:>10} {:>13} {:>7} {:>7} {:>13}",
        "format", "lines", "ours", "ours+auth", "syslog_loose", "ratio", "ratio+a", "s_l Either"
    );
    let mut met = true;
    for (name, suffix, variant) in [
        ("rfc5424", ".rfc5424.log", Variant::RFC5424),
        ("rfc3164 (PRI)", ".pri.log", Variant::RFC3164),
        ("rfc3164 (file)", ".log", Variant::RFC3164),
    ] {
        let text = read(suffix)?;
        let lines: Vec<&str> = text.lines().collect();
        // Check before timing that both sides read the lines as what they are.
        let raw = lines
            .iter()
            .filter(|l| parse(l.as_bytes(), &ctx).format == Format::Raw)
            .count();
        let with_ip = lines
            .iter()
            .filter(|l| parse(l.as_bytes(), &ctx).auth().src_ip.is_some())
            .count();
        let theirs_ok = lines
            .iter()
            .filter(|l| {
                syslog_loose::parse_message_with_year_tz(l, year, Some(utc), variant)
                    .appname
                    .is_some()
            })
            .count();
        if raw != 0 || theirs_ok != lines.len() || with_ip == 0 {
            return Err(format!(
                "{name}: ours left {raw} lines raw, syslog_loose found the app in {theirs_ok} of {}",
                lines.len()
            ));
        }
        let rates = race(
            args.rounds,
            &lines,
            &mut [
                &mut |l: &&str| {
                    let r = parse(l.as_bytes(), &ctx);
                    r.message.len() + usize::from(r.timestamp_micros.is_some())
                },
                &mut |l: &&str| {
                    let r = parse(l.as_bytes(), &ctx);
                    r.message.len() + usize::from(r.auth().src_ip.is_some())
                },
                &mut |l: &&str| {
                    let m = syslog_loose::parse_message_with_year_tz(l, year, Some(utc), variant);
                    m.msg.len() + usize::from(m.timestamp.is_some())
                },
                &mut |l: &&str| {
                    let m = syslog_loose::parse_message_with_year_tz(
                        l,
                        year,
                        Some(utc),
                        Variant::Either,
                    );
                    m.msg.len() + usize::from(m.timestamp.is_some())
                },
            ],
        );
        let [ours, ours_auth, theirs, either] = rates[..] else {
            return Err("race".into());
        };
        met &= ours / theirs >= 2.0;
        println!(
            "{name:<15} {:>8} {:>10} {:>10} {:>13} {:>6.2}x {:>6.2}x {:>13}",
            lines.len(),
            mlps(ours),
            mlps(ours_auth),
            mlps(theirs),
            ours / theirs,
            ours_auth / theirs,
            mlps(either)
        );
    }

    let text = read(".jsonl")?;
    let lines: Vec<&str> = text.lines().collect();
    let rates = race(
        args.rounds,
        &lines,
        &mut [
            &mut |l: &&str| {
                let r = parse(l.as_bytes(), &ctx);
                r.message.len() + usize::from(r.timestamp_micros.is_some())
            },
            &mut |l: &&str| {
                let r = parse(l.as_bytes(), &ctx);
                r.message.len() + usize::from(r.auth().src_ip.is_some())
            },
            &mut |l: &&str| {
                serde_json::from_str::<serde_json::Value>(l)
                    .map_or(0, |v| v.as_object().map_or(0, |o| o.len()))
            },
        ],
    );
    let [ours, ours_auth, serde] = rates[..] else {
        return Err("race".into());
    };
    println!(
        "{:<15} {:>8} {:>10} {:>10} {:>13} {:>6.2}x {:>6.2}x   (third column: serde_json::Value)",
        "jsonl",
        lines.len(),
        mlps(ours),
        mlps(ours_auth),
        mlps(serde),
        ours / serde,
        ours_auth / serde,
    );
    // Web access logs (combined format), generated here with as many lines as the file corpus:
    // ours against the `regex` crate with the usual combined-format pattern (the shape
    // grok-based parsers and fail2ban filters use), capturing the same fields.
    let n = text.lines().count().max(1);
    let access = access_lines(n);
    let lines: Vec<&str> = access.iter().map(String::as_str).collect();
    let not_web = lines
        .iter()
        .filter(|l| {
            let r = parse(l.as_bytes(), &ctx);
            r.format != Format::Combined || r.structured.get("status").is_none()
        })
        .count();
    let re = regex::Regex::new(
        r#"^(\S+) \S+ (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?"#,
    )
    .map_err(|e| e.to_string())?;
    let theirs_ok = lines.iter().filter(|l| re.is_match(l)).count();
    if not_web != 0 || theirs_ok != lines.len() {
        return Err(format!(
            "combined: ours did not read {not_web} lines as access log lines, the regex matched {theirs_ok} of {}",
            lines.len()
        ));
    }
    let rates = race(
        args.rounds,
        &lines,
        &mut [
            &mut |l: &&str| {
                let r = parse(l.as_bytes(), &ctx);
                r.message.len() + r.structured.len()
            },
            &mut |l: &&str| {
                re.captures(l)
                    .map_or(0, |c| c.iter().flatten().map(|m| m.len()).sum())
            },
        ],
    );
    let [ours, theirs] = rates[..] else {
        return Err("race".into());
    };
    println!(
        "{:<15} {:>8} {:>10} {:>10} {:>13} {:>6.2}x {:>7}   (third column: regex crate, combined pattern)",
        "combined",
        lines.len(),
        mlps(ours),
        "-",
        mlps(theirs),
        ours / theirs,
        "-",
    );
    println!(
        "target: ours >= 2x syslog_loose (parse, same fields) on every syslog row: {}",
        if met { "MET" } else { "MISSED" }
    );
    Ok(met)
}

/// `n` access log lines in nginx's combined format: clients, paths, statuses and user agents
/// cycling through small tables (a crawler, browsers, a scanner), one second apart.
fn access_lines(n: usize) -> Vec<String> {
    const PATHS: [&str; 6] = [
        "/",
        "/index.html",
        "/wp-login.php",
        "/static/app.js?v=3",
        "/api/v1/items?page=2",
        "/.env",
    ];
    const AGENTS: [&str; 3] = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
    ];
    const STATUS: [(u16, u32); 4] = [(200, 5120), (404, 153), (302, 0), (403, 146)];
    (0..n)
        .map(|i| {
            let (status, bytes) = STATUS[i % STATUS.len()];
            format!(
                "203.0.{}.{} - - [20/Nov/2026:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {status} {bytes} \"-\" \"{}\"",
                (i / 256) % 256,
                i % 256,
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                if i % 7 == 0 { "POST" } else { "GET" },
                PATHS[i % PATHS.len()],
                AGENTS[i % AGENTS.len()],
            )
        })
        .collect()
}

fn main() -> ExitCode {
    match run() {
        // A missed target is a figure, not a failure (bench/README.md).
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parse_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
