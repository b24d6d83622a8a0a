//! The generated sshd corpus (`examples/gen_authlog`, 20,000 lines, seed 7) in its four
//! renderings: every line parses (no Raw, no issue), the same line gives the same fields in
//! every format, every line that names an address yields it as `src_ip`, and the failure counts
//! per address agree across formats and with the generator's ground truth. The generator is
//! compiled in here from the example's source, so the test needs nothing outside the repository.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ironpost_log_pipeline::parse::{Format, Issues, Outcome, Record, parse};

use super::ctx;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/gen_authlog/sim.rs"]
mod sim;

const LINES: usize = 20_000;

fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    data.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn generated_corpus_parses_identically_in_all_formats() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("auth");
    let truth = sim::generate(&base, LINES, 7, &sim::Format::ALL)
        .unwrap()
        .json;

    let with_suffix = |s: &str| PathBuf::from(format!("{}{s}", base.display()));
    let formats = [
        (".log", Format::Rfc3164),
        (".pri.log", Format::Rfc3164),
        (".rfc5424.log", Format::Rfc5424),
        (".jsonl", Format::Json),
    ];
    let files: Vec<Vec<Vec<u8>>> = formats
        .iter()
        .map(|(s, _)| read_lines(&with_suffix(s)))
        .collect();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(with_suffix(".truth.json")).unwrap()).unwrap();
    assert_eq!(saved, truth);
    let host = truth["host"].as_str().unwrap();

    let ctx = ctx();
    let mut failures_per_format: Vec<BTreeMap<IpAddr, usize>> = vec![BTreeMap::new(); 4];
    let mut failed_password_times: BTreeMap<IpAddr, Vec<i64>> = BTreeMap::new();
    let (mut failed_password_lines, mut lines_with_ip, mut v6_lines) = (0usize, 0usize, 0usize);
    for (fi, lines) in files.iter().enumerate() {
        assert_eq!(lines.len(), LINES, "{}", formats[fi].0);
    }
    for i in 0..LINES {
        let recs: Vec<Record<'_>> = files.iter().map(|f| parse(&f[i], &ctx)).collect();
        let line = String::from_utf8_lossy(&files[0][i]);
        for (rec, (suffix, format)) in recs.iter().zip(&formats) {
            assert_eq!(rec.format, *format, "{suffix} line {i}: {line}");
            assert_eq!(rec.issues, Issues::default(), "{suffix} line {i}: {line}");
            assert_eq!(rec.app.as_deref(), Some("sshd"));
            assert_eq!(rec.hostname.as_deref(), Some(host));
        }
        // The generator names the line's address in the RFC 5424 SD and the JSON key.
        let named: Option<IpAddr> = recs[2]
            .structured
            .get("meta.source_ip")
            .map(|s| s.parse().unwrap());
        assert_eq!(
            named,
            recs[3]
                .structured
                .get("source_ip")
                .map(|s| s.parse().unwrap())
        );
        lines_with_ip += usize::from(named.is_some());
        v6_lines += usize::from(named.is_some_and(|ip| ip.is_ipv6()));
        // The three renderings that carry a severity agree on it.
        assert!(recs[1].severity.is_some(), "line {i}: {line}");
        assert_eq!(recs[1].severity, recs[2].severity, "line {i}: {line}");
        assert_eq!(recs[1].severity, recs[3].severity, "line {i}: {line}");
        assert_eq!(recs[1].facility, recs[2].facility, "line {i}: {line}");
        for (fi, rec) in recs.iter().enumerate() {
            assert_eq!(
                rec.auth().src_ip,
                named,
                "{} line {i}: {line}",
                formats[fi].0
            );
            assert_eq!(rec.message, recs[0].message);
            assert_eq!(rec.timestamp_micros, recs[0].timestamp_micros);
            assert!(rec.timestamp_micros.is_some());
            assert_eq!(rec.pid, recs[0].pid);
            assert_eq!(
                rec.auth(),
                recs[0].auth(),
                "{} line {i}: {line}",
                formats[fi].0
            );
            if rec.auth().outcome == Some(Outcome::Failure) {
                *failures_per_format[fi]
                    .entry(rec.auth().src_ip.expect("failure without address"))
                    .or_default() += 1;
            }
        }
        if recs[0].message.starts_with("Failed password for ") {
            failed_password_lines += 1;
            assert_eq!(recs[0].auth().outcome, Some(Outcome::Failure));
            assert!(recs[0].user().is_some());
            let ip = recs[0].auth().src_ip.unwrap();
            failed_password_times
                .entry(ip)
                .or_default()
                .push(recs[0].timestamp_micros.unwrap());
        }
    }
    for f in &failures_per_format[1..] {
        assert_eq!(f, &failures_per_format[0]);
    }
    assert!(
        lines_with_ip > LINES / 2,
        "{lines_with_ip} lines name an address"
    );
    assert_eq!(
        lines_with_ip as u64,
        truth["lines_naming_an_address"].as_u64().unwrap()
    );
    assert!(v6_lines > 0, "no IPv6 client in the corpus");

    // Against the generator's ground truth.
    let counts = truth["event_counts"].as_object().unwrap();
    assert!(
        counts.len() >= 25,
        "only {} kinds of line: {counts:?}",
        counts.len()
    );
    assert_eq!(
        counts.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        LINES as u64
    );
    for actor in ["bruteforce", "dictionary", "scanner", "legitimate"] {
        assert!(
            truth["lines_by_actor"][actor].as_u64().unwrap() > 0,
            "{actor}: {}",
            truth["lines_by_actor"]
        );
    }
    assert_eq!(
        failed_password_lines as u64,
        truth["failed_password_lines"].as_u64().unwrap()
    );
    let total_failures: usize = failures_per_format[0].values().sum();
    assert_eq!(
        total_failures as u64,
        truth["auth_failure_lines"].as_u64().unwrap(),
        "failures = Failed password + PAM authentication failure + not-allowed lines"
    );
    // fail2ban's default: 5 failures within 600 s.
    let reached: BTreeSet<String> = failed_password_times
        .iter()
        .filter(|(_, times)| {
            let mut window = VecDeque::new();
            times.iter().any(|&t| {
                window.push_back(t);
                while window.front().is_some_and(|&f| t - f > 600_000_000) {
                    window.pop_front();
                }
                window.len() >= 5
            })
        })
        .map(|(ip, _)| ip.to_string())
        .collect();
    let expected: BTreeSet<String> = truth["ips_reaching_5_failures_in_600s_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(reached, expected);
    // A brute-force attacker gets there; a legitimate user's odd typo never does (a busy
    // scanner can, in a longer corpus, as real low-and-slow scanners trip fail2ban).
    let listed = |key: &str| -> BTreeSet<String> {
        truth[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(!reached.is_disjoint(&listed("bruteforce_ips")));
    assert!(reached.is_disjoint(&listed("legitimate_ips")));
}

#[test]
fn generator_is_deterministic_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let read = |base: &Path| {
        sim::Format::ALL
            .iter()
            .map(|f| std::fs::read(sim::with_suffix(base, f.suffix())).unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let ta = sim::generate(&a, 3000, 11, &sim::Format::ALL).unwrap().json;
    let tb = sim::generate(&b, 3000, 11, &sim::Format::ALL).unwrap().json;
    sim::generate(&c, 3000, 12, &sim::Format::ALL).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_eq!(ta["event_counts"], tb["event_counts"]);
    assert_ne!(read(&a), read(&c));
    // No partial or temporary file is left beside the outputs.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('a'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "a.jsonl",
            "a.log",
            "a.pri.log",
            "a.rfc5424.log",
            "a.truth.json"
        ]
    );
}
