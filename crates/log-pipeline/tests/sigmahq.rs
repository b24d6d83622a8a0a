//! Sigma against SigmaHQ's own rules (`testdata/sigmahq/`): which `rules/linux` and `rules/web`
//! rules load and why the others do not, and the `logsource` mapping that keeps a rule to the
//! records of its source. Split from `rules_sigma.rs` (the language itself).

use std::path::{Path, PathBuf};

use ironpost_log_pipeline::rules::{RuleError, RuleSet, load_dir, load_str, validate_dir};
use ironpost_log_pipeline::{ParseContext, parse};

mod common;
use common::{matched, rec};

/// The vendored SigmaHQ rules (`testdata/sigmahq/`, see its PROVENANCE).
fn sigmahq(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sigmahq")
        .join(rel)
}

/// A rejection's reason without the rule's particulars: `logsource category process_creation`,
/// `modifier |wide`, `aggregation: counting distinct values (count(field))` …
fn reason_class(error: &RuleError) -> String {
    let (kind, reason) = match error {
        RuleError::Unsupported { reason, .. } => ("unsupported", reason.clone()),
        RuleError::Invalid { reason, .. } => ("invalid", reason.clone()),
        other => ("invalid", other.to_string()),
    };
    // `detection.selection: modifier …` → `modifier …`
    let reason = match reason.strip_prefix("detection.") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, r)| r).to_owned(),
        None => reason,
    };
    let ticked = |prefix: &str| {
        reason
            .strip_prefix(prefix)
            .map(|rest| rest.split('`').next().unwrap_or("").to_owned())
    };
    let class = if let Some(v) = ticked("logsource category `") {
        format!("logsource category {v}")
    } else if let Some(v) = ticked("logsource product `") {
        format!("logsource product {v}")
    } else if let Some(v) = ticked("logsource service `") {
        format!("logsource service {v}")
    } else if let Some(v) = ticked("modifier `") {
        format!("modifier {v}")
    } else if let Some(v) = ticked("unknown modifier `") {
        format!("unknown modifier {v}")
    } else if reason.starts_with("aggregation `") {
        let why = reason.split_once("`: ").map_or("", |(_, w)| w);
        format!("aggregation: {}", why.replace('`', ""))
    } else {
        reason.replace('`', "")
    };
    format!("{kind}: {class}")
}

/// Every SigmaHQ `rules/linux` and `rules/web` rule vendored is either loaded or rejected for a
/// known reason. `testdata/sigmahq/expected_load.txt` holds the committed figures: the loaded
/// count may only grow, and no rejection reason may gain rules or appear anew. Run with
/// `--no-capture` to see the report; update the file when support improves.
#[test]
fn sigmahq_linux_and_web_load_report() {
    let report = validate_dir(&sigmahq("rules"));
    let mut per_reason: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &report.unsupported {
        *per_reason.entry(reason_class(&r.error)).or_default() += 1;
    }
    let rejected = report.unsupported.len();
    let mut text = format!("loaded {}\nrejected {rejected}\n", report.loaded.len());
    for (reason, n) in &per_reason {
        text.push_str(&format!("{n} {reason}\n"));
    }
    println!("{text}");
    let expected = std::fs::read_to_string(sigmahq("expected_load.txt")).expect("expected file");
    let mut want_loaded = None;
    let mut want: std::collections::BTreeMap<String, usize> = Default::default();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let (n, rest) = line.split_once(' ').expect("`N reason` lines");
        match (n, rest) {
            ("loaded", n) => want_loaded = Some(n.parse::<usize>().expect("number")),
            ("rejected", _) => {}
            (n, reason) => {
                want.insert(reason.to_owned(), n.parse().expect("number"));
            }
        }
    }
    let want_loaded = want_loaded.expect("a `loaded N` line");
    // The rules on disk: each file is one rule.
    let files = walk(&sigmahq("rules"));
    assert_eq!(report.loaded.len() + rejected, files, "{text}");
    assert!(
        report.loaded.len() >= want_loaded,
        "fewer SigmaHQ rules load than committed ({want_loaded}):\n{text}"
    );
    for (reason, n) in &per_reason {
        let allowed = want.get(reason).copied().unwrap_or(0);
        assert!(
            *n <= allowed,
            "`{reason}` rejects {n} rules, committed {allowed}:\n{text}"
        );
    }
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("vendored SigmaHQ rules")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "yml"))
            }
        })
        .sum()
}

/// A Sigma rule only runs on records of its log source: the `logsource` mapping on records that
/// say which grammar read them (`format`).
#[test]
fn logsource_keeps_rules_to_their_records() {
    let with_format =
        |format: &str, process: &str| rec(process, "GET /etc/passwd x", &[("format", format)]);
    let access = with_format("combined", "");
    let web_error = with_format("web_error", "");
    let syslog = with_format("rfc3164", "sshd");
    let journal = with_format("journal", "sshd");
    let vsftpd = with_format("rfc3164", "vsftpd");
    for (logsource, hits) in [
        ("{category: webserver}", [true, false, false, false, false]),
        (
            "{category: webserver, product: nginx}",
            [true, false, false, false, false],
        ),
        (
            "{category: webserver, product: apache}",
            [true, false, false, false, false],
        ),
        ("{service: nginx}", [true, true, false, false, false]),
        ("{service: apache}", [true, true, false, false, false]),
        (
            "{product: nginx, service: nginx}",
            [true, true, false, false, false],
        ),
        ("{product: nginx}", [true, true, false, false, false]),
        (
            "{product: apache, service: access}",
            [true, false, false, false, false],
        ),
        (
            "{product: nginx, service: error}",
            [false, true, false, false, false],
        ),
        ("{product: linux}", [false, false, true, true, true]),
        (
            "{product: linux, service: syslog}",
            [false, false, true, true, true],
        ),
        (
            "{product: linux, service: sshd}",
            [false, false, true, true, false],
        ),
        (
            "{product: linux, service: vsftpd}",
            [false, false, false, false, true],
        ),
        (
            "{product: linux, service: journald}",
            [false, false, false, true, false],
        ),
    ] {
        let yaml = format!(
            "title: T\nid: ls-1\nlogsource: {logsource}\ndetection:\n    kw:\n        - '/etc/passwd'\n    condition: kw\n"
        );
        let loaded = load_str(&yaml, Some(Path::new("ls.yml")));
        assert!(loaded.errors.is_empty(), "{logsource}: {:?}", loaded.errors);
        let set = RuleSet::compile(loaded.rules).expect("compiles");
        let got =
            [&access, &web_error, &syslog, &journal, &vsftpd].map(|r| !matched(&set, r).is_empty());
        assert_eq!(got, hits, "{logsource}");
    }
    for (logsource, want) in [
        ("{category: proxy}", "logsource category `proxy`"),
        (
            "{category: webserver, product: iis}",
            "a product other than nginx or apache",
        ),
        (
            "{product: linux, service: clamav}",
            "logsource service `clamav`",
        ),
        (
            "{product: nginx, service: sshd}",
            "service `sshd` with product `nginx`",
        ),
        (
            "{product: apache, service: nginx}",
            "service `nginx` with product `apache`",
        ),
        ("{product: windows}", "logsource product `windows`"),
    ] {
        let yaml = format!(
            "title: T\nid: ls-2\nlogsource: {logsource}\ndetection:\n    kw:\n        - x\n    condition: kw\n"
        );
        let loaded = load_str(&yaml, Some(Path::new("ls.yml")));
        let [err] = loaded.errors.as_slice() else {
            panic!("{logsource}: {:?}", loaded.rules)
        };
        assert!(err.is_unsupported(), "{logsource}: {err}");
        assert!(err.to_string().contains(want), "{logsource}: {err}");
    }
}

/// End to end with the parsers: SigmaHQ's own web and sshd rules fire on lines of their source
/// and not on the same text arriving through another.
#[test]
fn sigmahq_rules_match_parsed_lines_of_their_source_only() {
    let loaded = load_dir(&sigmahq("rules"));
    let set = RuleSet::compile(loaded.rules).expect("the loaded SigmaHQ rules compile");
    let ctx = ParseContext::new(1_795_000_000_000_000, 0);
    let titles = |line: &str| {
        let rec = parse(line.as_bytes(), &ctx);
        let mut out = Vec::new();
        set.matches(&rec, &mut out);
        let mut t: Vec<String> = out.iter().map(|r| r.title.clone()).collect();
        t.sort();
        t
    };
    let jndi = "JNDIExploit Pattern";
    let access = r#"203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] "GET /Basic/Command/Base64/aWQ= HTTP/1.1" 404 153 "-" "curl/8.5.0""#;
    assert!(
        titles(access).contains(&jndi.to_owned()),
        "{:?}",
        titles(access)
    );
    let syslog = "Nov 20 10:00:00 web1 myapp[42]: fetching /Basic/Command/Base64/aWQ=";
    assert!(
        !titles(syslog).contains(&jndi.to_owned()),
        "{:?}",
        titles(syslog)
    );
    let sshd_rule = "Suspicious OpenSSH Daemon Error";
    let sshd = "Nov 20 10:00:00 host1 sshd[812]: error: unexpected internal error";
    assert!(
        titles(sshd).contains(&sshd_rule.to_owned()),
        "{:?}",
        titles(sshd)
    );
    let other = "Nov 20 10:00:00 host1 myapp[9]: error: unexpected internal error";
    assert!(
        !titles(other).contains(&sshd_rule.to_owned()),
        "{:?}",
        titles(other)
    );
}
