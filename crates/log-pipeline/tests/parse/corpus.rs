//! The generated sshd corpus (`shared/tools/gen-authlog.py -n 20000 --seed 7`) in its four
//! renderings: every line parses (no Raw, no issue), the same line gives the same fields in
//! every format, every line that names an address yields it as `src_ip`, and the failure counts
//! per address agree across formats and with the generator's ground truth.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ironpost_log_pipeline::parse::{Format, Issues, Outcome, Record, parse};

use super::ctx;

const LINES: usize = 20_000;

fn generator() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/gen-authlog.py");
    assert!(
        p.exists(),
        "{} is missing: the corpus test needs the shared tools next to the repository",
        p.display()
    );
    p
}

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
    let out = Command::new("python3")
        .arg(generator())
        .args(["-n", &LINES.to_string(), "--seed", "7", "--formats"])
        .arg("rfc3164,rfc3164pri,rfc5424,jsonl")
        .arg("--out")
        .arg(&base)
        .output()
        .expect("python3 must be installed to run the generator");
    assert!(
        out.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(with_suffix(".truth.json")).unwrap()).unwrap();

    let ctx = ctx();
    let mut failures_per_format: Vec<BTreeMap<IpAddr, usize>> = vec![BTreeMap::new(); 4];
    let mut failed_password_times: BTreeMap<IpAddr, Vec<i64>> = BTreeMap::new();
    let (mut failed_password_lines, mut lines_with_ip) = (0usize, 0usize);
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
            assert_eq!(rec.hostname.as_deref(), Some("sshgw"));
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

    // Against the generator's ground truth.
    let counts = &truth["event_counts"];
    assert_eq!(
        failed_password_lines as u64,
        truth["failed_password_lines"].as_u64().unwrap()
    );
    let total_failures: usize = failures_per_format[0].values().sum();
    assert_eq!(
        total_failures as u64,
        truth["failed_password_lines"].as_u64().unwrap()
            + counts["pam_auth_failure"].as_u64().unwrap()
            + counts["no_more_auth_methods"].as_u64().unwrap(),
        "failures = Failed password lines + PAM authentication failure lines + JSch's \
         `Received disconnect … 3: … Auth fail` (counted by fail2ban's normal mode too)"
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
}
