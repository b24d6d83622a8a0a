//! Rule-evaluation benchmark: Ironpost's `RuleSet` against `rsigma-eval` 0.23 on the same 100
//! Sigma rules (generated below, parsed by each engine from the same YAML text) and the same
//! events (lines of `examples/gen_authlog`'s auth.log split into fields here, independently of the
//! crate's parser), single-threaded, in one run. Run it through `bench/rules.sh`.
//!
//! What each side does per event:
//! - Ironpost: `RuleSet::matches(&MapFields, &mut Vec<&Rule>)` — one Aho-Corasick pass over the
//!   message picks candidate rules, which are evaluated in full; the output vector is reused.
//! - rsigma: `Engine::evaluate(&KvEvent) -> Vec<EvaluationResult>` — its own candidate index and
//!   compiled matchers; it allocates the result vector (and a result per match) by design. It runs
//!   in three configurations (default, bloom prefilter, cross-rule Aho-Corasick index) and the
//!   fastest one is the baseline of the ratio.
//!
//! Both get the same fields (`message`, `process`, `hostname`, `pid`, `src_ip`, `user`, `port`)
//! as strings; the rules use field selections only (no keyword lists, which rsigma searches in
//! every field and Ironpost in `message`), so both compute the same matches — checked on every
//! event before timing. Also printed: a fail2ban cross-check of thresholds on record time.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::{Alerter, AlertingConfig, RuleSet, SystemClock, load_str};
use regex::Regex;
use rsigma_eval::{Engine, KvEvent};

const USAGE: &str = "usage: rules_bench --log AUTH.LOG [--truth TRUTH.json] [--rules N] [--rounds N] [--max-events N]";

struct Args {
    log: PathBuf,
    truth: Option<PathBuf>,
    rounds: usize,
    max_events: usize,
    rules: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        log: PathBuf::new(),
        truth: None,
        rounds: 5,
        max_events: usize::MAX,
        rules: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--log" => a.log = value()?.into(),
            "--truth" => a.truth = Some(value()?.into()),
            "--rounds" => a.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--rules" => a.rules = value()?.parse().map_err(|e| format!("--rules: {e}"))?,
            "--max-events" => {
                a.max_events = value()?.parse().map_err(|e| format!("--max-events: {e}"))?
            }
            _ => return Err(USAGE.into()),
        }
    }
    if a.log.as_os_str().is_empty() {
        return Err(USAGE.into());
    }
    a.rounds = a.rounds.max(1);
    Ok(a)
}

/// One event, as both engines get it.
struct Event {
    ours: MapFields,
    theirs: KvEvent,
}

/// Splits RFC 3164 auth.log lines (`Nov 10 06:55:46 host sshd[123]: message`) into fields.
struct Splitter {
    head: Regex,
    ip: Regex,
    port: Regex,
    user: Regex,
}

impl Splitter {
    fn new() -> Self {
        Splitter {
            head: Regex::new(r"^(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\S+) ([^\[:\s]+)(?:\[(\d+)\])?: (.*)$").unwrap(),
            // IPv4, or IPv6 as the generator writes it (RFC 5952: hex groups, `::`).
            ip: Regex::new(r"(?:from |rhost=|by |\[)(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})").unwrap(),
            port: Regex::new(r" port (\d+)").unwrap(),
            user: Regex::new(
                r"(?:for invalid user |Invalid user |invalid user |(?:password|publickey) for |user=|for user )([^\s;]+)",
            )
            .unwrap(),
        }
    }

    fn split(&self, line: &str, year: i32) -> Option<Event> {
        let c = self.head.captures(line)?;
        let month = match &c[1] {
            "Jan" => 1,
            "Feb" => 2,
            "Mar" => 3,
            "Apr" => 4,
            "May" => 5,
            "Jun" => 6,
            "Jul" => 7,
            "Aug" => 8,
            "Sep" => 9,
            "Oct" => 10,
            "Nov" => 11,
            "Dec" => 12,
            _ => return None,
        };
        let num = |i: usize| c[i].parse::<u32>().ok();
        let ts = NaiveDate::from_ymd_opt(year, month, num(2)?)?
            .and_hms_opt(num(3)?, num(4)?, num(5)?)?
            .and_utc()
            .timestamp_micros();
        let message = c[9].to_owned();
        let mut fields = vec![
            ("process".to_owned(), c[7].to_owned()),
            ("hostname".to_owned(), c[6].to_owned()),
        ];
        if let Some(pid) = c.get(8) {
            fields.push(("pid".into(), pid.as_str().into()));
        }
        if let Some(m) = self.ip.captures(&message) {
            fields.push(("src_ip".into(), m[1].into()));
        }
        if let Some(m) = self.port.captures(&message) {
            fields.push(("port".into(), m[1].into()));
        }
        if let Some(m) = self.user.captures(&message) {
            fields.push(("user".into(), m[1].into()));
        }
        let mut kv = fields.clone();
        kv.push(("message".into(), message.clone()));
        Some(Event {
            ours: MapFields {
                message,
                timestamp_micros: Some(ts),
                fields,
            },
            theirs: KvEvent::new(kv),
        })
    }
}

/// Message fragments: the first ones occur in sshd auth logs, the rest are what other
/// detections look for and mostly do not occur.
const FRAGMENTS: &[&str] = &[
    "Failed password",
    "Invalid user",
    "authentication failure",
    "Connection closed by",
    "maximum authentication attempts exceeded",
    "Too many authentication failures",
    "POSSIBLE BREAK-IN ATTEMPT",
    "Did not receive identification string",
    "Accepted publickey",
    "Accepted password",
    "session opened for user",
    "check pass; user unknown",
    "Received disconnect from",
    "Bad protocol version identification",
    "error in libcrypto",
    "unexpected internal error",
    "Corrupted MAC on input",
    "bad client public DH value",
    "COMMAND=/bin/bash",
    "user NOT in sudoers",
    "FAILED SU (to root)",
    "pam_unix(su:auth)",
    "crc32 compensation attack",
    "denied AXFR from",
    "attempt to execute code on stack",
    "XAUTHORITY",
    "segfault at",
    "Out of memory: Killed process",
    "new user: name=",
    "new group: name=",
    "password changed for",
    "delete user",
    "ROOT LOGIN",
    "Illegal user",
    "subsystem request for sftp",
    "Received signal 15",
    "Timeout before authentication",
    "kex_exchange_identification",
    "Unable to negotiate with",
    "Bad packet length",
    "refused connect from",
    "ANONYMOUS FTP LOGIN",
    "Permission denied (publickey)",
    "Disconnected from authenticating user root",
    "fatal: Read from socket failed",
    "Server listening on",
    "pam_unix(sudo:auth)",
    "incorrect password attempts",
    "unknown or unsupported key type",
    "invalid certificate signing key",
];

const USERS: &[&str] = &[
    "root", "admin", "oracle", "postgres", "git", "ubuntu", "test", "pi",
];

/// `n` Sigma rules over `message`, `process`, `user` and `src_ip`, cycling through ten shapes.
fn sigma_rules(n: usize) -> String {
    let frag = |i: usize| FRAGMENTS[i % FRAGMENTS.len()];
    let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut docs = Vec::new();
    for i in 0..n {
        let (a, b, c) = (frag(i * 7 + 1), frag(i * 3 + 2), frag(i * 11 + 5));
        let user = USERS[i % USERS.len()];
        let detection = match i % 10 {
            0 => format!(
                "    selection:\n        message|contains: {}\n    condition: selection",
                q(a)
            ),
            1 => format!(
                "    selection:\n        message|contains|all:\n            - {}\n            - {}\n    condition: selection",
                q(a),
                q(&b[..b.len().min(12)])
            ),
            2 => format!(
                "    selection:\n        message|startswith: {}\n    condition: selection",
                q(a)
            ),
            3 => format!(
                "    selection:\n        message|re: '{}\\s+\\S+ from \\d+\\.\\d+'\n    condition: selection",
                regex::escape(a).replace('\'', "''")
            ),
            4 => format!(
                "    selection:\n        process: sshd\n        message|contains: {}\n    filter:\n        user:\n            - root\n            - {user}\n    condition: selection and not filter",
                q(a)
            ),
            5 => format!(
                "    selection:\n        message|contains:\n            - {}\n            - {}\n            - {}\n    condition: selection",
                q(a),
                q(b),
                q(c)
            ),
            6 => format!(
                "    selection_msg:\n        message|contains: {}\n    selection_net:\n        src_ip|cidr:\n            - '10.{o}.0.0/16'\n            - '192.168.{o}.0/24'\n    condition: 1 of selection_*",
                q(a),
                o = i % 256
            ),
            7 => format!(
                "    selection:\n        message|endswith: {}\n    condition: selection",
                q(if i % 20 == 7 { "[preauth]" } else { a })
            ),
            8 => format!(
                "    selection:\n        message|re: 'for (invalid user )?({user}|admin{i}) from'\n    condition: selection"
            ),
            _ => format!(
                "    selection:\n        user:\n            - {user}\n            - svc{i}\n        message|contains: {}\n    condition: selection",
                q(a)
            ),
        };
        docs.push(format!(
            "title: Bench rule {i:03}\nid: 00000000-0000-4000-8000-{i:012}\nstatus: test\nlogsource:\n    product: linux\ndetection:\n{detection}\nlevel: medium\n"
        ));
    }
    docs.join("---\n")
}

fn median(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn run() -> Result<ExitCode, String> {
    let args = args()?;
    let text =
        std::fs::read_to_string(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let truth: Option<serde_json::Value> = match &args.truth {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            )
            .map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        None => None,
    };
    let year = truth
        .as_ref()
        .and_then(|t| t["first_timestamp"].as_str())
        .and_then(|s| s.get(..4))
        .and_then(|y| y.parse().ok())
        .unwrap_or(2026);

    let splitter = Splitter::new();
    let events: Vec<Event> = text
        .lines()
        .filter_map(|l| splitter.split(l, year))
        .take(args.max_events)
        .collect();
    if events.is_empty() {
        return Err(format!("{}: no auth.log lines", args.log.display()));
    }

    let yaml = sigma_rules(args.rules);
    let loaded = load_str(&yaml, None);
    if !loaded.errors.is_empty() {
        return Err(format!(
            "ironpost rejected {} bench rules, first: {}",
            loaded.errors.len(),
            loaded.errors[0]
        ));
    }
    let set = RuleSet::compile(loaded.rules).map_err(|e| format!("{e:?}"))?;
    let collection = rsigma_parser::parse_sigma_yaml(&yaml).map_err(|e| format!("rsigma: {e}"))?;
    if !collection.errors.is_empty() || collection.rules.len() != set.len() {
        return Err(format!(
            "rsigma parsed {} rules, errors {:?}",
            collection.rules.len(),
            collection.errors
        ));
    }
    let mut engines = Vec::new();
    for (name, bloom, ac) in [
        ("default", false, false),
        ("bloom prefilter", true, false),
        ("cross-rule AC index", false, true),
    ] {
        let mut e = Engine::new();
        e.set_bloom_prefilter(bloom);
        e.set_cross_rule_ac(ac);
        e.add_collection(&collection)
            .map_err(|e| format!("rsigma: {e}"))?;
        engines.push((name, e));
    }

    // Same answers, event by event, before any timing.
    let mut ours_out = Vec::new();
    let (mut total, mut disagree) = (0usize, 0usize);
    for ev in &events {
        set.matches(&ev.ours, &mut ours_out);
        let ours: BTreeSet<&str> = ours_out.iter().map(|r| r.title.as_str()).collect();
        total += ours.len();
        for (_, engine) in &engines {
            let theirs = engine.evaluate(&ev.theirs);
            let theirs: BTreeSet<&str> = theirs
                .iter()
                .map(|r| r.header.rule_title.as_str())
                .collect();
            if ours.len() != theirs.len() || ours.iter().zip(&theirs).any(|(a, b)| a != b) {
                if disagree < 3 {
                    eprintln!(
                        "disagreement on {:?}: ironpost {ours:?}, rsigma {theirs:?}",
                        ev.ours.message
                    );
                }
                disagree += 1;
            }
        }
    }

    // Rounds alternate between the engines so that load from other processes hits all alike.
    let n = events.len() as f64;
    let rate = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        black_box(f());
        n / start.elapsed().as_secs_f64()
    };
    let mut ours_rates = Vec::new();
    let mut their_rates = vec![Vec::new(); engines.len()];
    for _ in 0..args.rounds {
        ours_rates.push(rate(&|| {
            let mut out = Vec::new();
            let mut hits = 0;
            for ev in &events {
                set.matches(black_box(&ev.ours), &mut out);
                hits += out.len();
            }
            hits
        }));
        for ((_, engine), rates) in engines.iter().zip(&mut their_rates) {
            rates.push(rate(&|| {
                events
                    .iter()
                    .map(|ev| engine.evaluate(black_box(&ev.theirs)).len())
                    .sum()
            }));
        }
    }
    let ours = median(ours_rates);
    let theirs: Vec<(&str, (f64, f64, f64))> = engines
        .iter()
        .zip(their_rates)
        .map(|((name, _), rates)| (*name, median(rates)))
        .collect();
    let best = theirs.iter().map(|(_, r)| r.0).fold(0.0, f64::max);

    let stats = set.prefilter_stats();
    println!(
        "rules_bench: {} Sigma rules, {} events from {}, {} rounds, 1 thread",
        set.len(),
        events.len(),
        args.log.display(),
        args.rounds
    );
    println!(
        "  prefilter: {} rules behind {} literals, {} evaluated on every event",
        stats.prefiltered, stats.literals, stats.always_checked
    );
    println!(
        "  agreement: {total} matches; {disagree} event/config disagreements across {} rsigma configs",
        engines.len()
    );
    let line = |name: &str, r: (f64, f64, f64)| {
        println!(
            "  {name:<58} {:>9.0} events/s (median; min {:.0}, max {:.0})",
            r.0, r.1, r.2
        );
    };
    line("ironpost RuleSet::matches", ours);
    for (name, r) in &theirs {
        line(&format!("rsigma-eval 0.23 Engine::evaluate ({name})"), *r);
    }
    let ratio = ours.0 / best;
    println!(
        "  ratio ironpost / fastest rsigma: {ratio:.2}x (target >= 2x: {})",
        if ratio >= 2.0 { "met" } else { "MISSED" }
    );

    if let Some(t) = &truth {
        fail2ban_check(&events, t)?;
    }
    Ok(if disagree == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("rules_bench: the engines disagree; the figures do not compare like with like");
        ExitCode::FAILURE
    })
}

/// fail2ban's sshd defaults (maxretry 5, findtime 600 s) as a native rule on record time: the IPs
/// that alert must be the generator's ground truth.
fn fail2ban_check(events: &[Event], truth: &serde_json::Value) -> Result<(), String> {
    let rule = "id: sshd_maxretry\ntitle: sshd failures\nseverity: high\ndetection:\n  conditions:\n    - {field: process, value: sshd}\n    - {field: message, operator: contains, value: Failed password}\n  threshold: {count: 5, timeframe_secs: 600, group_by: src_ip}\n";
    let set = RuleSet::compile(load_str(rule, None).rules).map_err(|e| format!("{e:?}"))?;
    let config = AlertingConfig {
        rate_limit_per_min: 0,
        ..Default::default()
    };
    let mut alerter = Alerter::in_memory(config, Arc::new(SystemClock));
    let mut out = Vec::new();
    let mut alerted = BTreeSet::new();
    let start = Instant::now();
    for ev in events {
        set.matches(&ev.ours, &mut out);
        for rule in &out {
            if let Some(a) = alerter.observe(rule, &ev.ours) {
                alerted.insert(
                    a.entities
                        .src_ip
                        .map(|ip| ip.to_string())
                        .unwrap_or_default(),
                );
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let want: BTreeSet<String> = truth["ips_reaching_5_failures_in_600s_list"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  fail2ban check (5 failures in 600 s per IP, record time): {} IPs alerted, truth {}, identical: {} ({:.0} events/s with alerting)",
        alerted.len(),
        want.len(),
        if alerted == want { "yes" } else { "NO" },
        events.len() as f64 / secs
    );
    if alerted != want {
        return Err(format!("alerted {alerted:?}, truth {want:?}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rules_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
