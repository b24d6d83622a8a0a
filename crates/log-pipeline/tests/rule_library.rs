//! The rule library in the repository's `rules/`: every rule loads, has a sample file of
//! real-format lines, and matches exactly what its file says (`rules::check_samples`); every rule
//! says what it detects and does not, carries a MITRE ATT&CK technique, and host-change rules
//! have no address to block.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{
    RuleSet, SAMPLE_RECEIVED_MICROS, SshdMode, check_samples, load_dir,
};

fn library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn every_rule_matches_its_sample_file_exactly() {
    let report = check_samples(&library());
    let mut problems = String::new();
    for e in &report.load_errors {
        problems.push_str(&format!("load: {e}\n"));
    }
    for id in &report.missing {
        problems.push_str(&format!("{id}: no rules/tests/{id}.log\n"));
    }
    for id in &report.one_sided {
        problems.push_str(&format!("{id}: needs positive and negative lines\n"));
    }
    for p in &report.orphans {
        problems.push_str(&format!("{}: names no rule\n", p.display()));
    }
    for m in &report.malformed {
        problems.push_str(&format!("{}:{}: {}\n", m.file.display(), m.line, m.reason));
    }
    for m in &report.mismatches {
        problems.push_str(&format!(
            "{}:{}: expected {:?}, matched {:?}: {}\n",
            m.file.display(),
            m.line,
            m.expected,
            m.got,
            m.text
        ));
    }
    assert!(report.is_clean(), "\n{problems}");
    let rules = load_dir(&library()).rules.len();
    assert!(rules >= 20, "{rules} rules");
    assert_eq!(report.rules, rules);
    assert!(report.positives >= 2 * rules && report.negatives >= rules);
}

#[test]
fn every_rule_documents_its_limits_and_technique() {
    for rule in load_dir(&library()).rules {
        assert!(
            rule.description.contains("Detects") && rule.description.contains("Does not detect"),
            "{}: the description says what it detects and what it does not",
            rule.id
        );
        assert!(
            rule.tags.iter().any(|t| {
                let t = t.to_ascii_lowercase();
                t.strip_prefix("attack.t")
                    .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            }),
            "{}: no MITRE ATT&CK technique tag (attack.tNNNN)",
            rule.id
        );
    }
}

/// Host changes and local privilege failures name no remote peer: their alerts carry no source
/// address, so the responder has nothing to block (`no_source`).
#[test]
fn host_change_rules_extract_no_address() {
    let set = RuleSet::compile(load_dir(&library()).rules).unwrap();
    let ctx = ParseContext::new(SAMPLE_RECEIVED_MICROS, 0);
    let host_rules = [
        "sudo_failure",
        "su_failure",
        "new_local_user",
        "new_local_group",
        "ssh_authorized_keys_changed",
        "docker_api_exposed",
        "docker_api_exec",
        "kernel_segfault",
        "kernel_oom_kill",
    ];
    let mut seen = 0;
    for id in host_rules {
        let text = std::fs::read_to_string(library().join(format!("tests/{id}.log"))).unwrap();
        for line in text.lines().filter_map(|l| l.strip_prefix("+ ")) {
            let rec = parse(line.as_bytes(), &ctx);
            let mut m = Vec::new();
            set.matches(&rec, &mut m);
            assert!(m.iter().any(|r| r.id == id), "{id}: {line}");
            assert_eq!(rec.field("src_ip"), None, "{id}: {line}");
            seen += 1;
        }
    }
    assert!(seen >= 2 * host_rules.len());
}

#[test]
fn sshd_modes_add_rules_to_one_another() {
    let rules = load_dir(&library()).rules;
    let admitted = |mode: SshdMode| -> Vec<&str> {
        rules
            .iter()
            .filter(|r| mode.admits(r))
            .map(|r| r.id.as_str())
            .collect()
    };
    let (normal, ddos, aggressive) = (
        admitted(SshdMode::Normal),
        admitted(SshdMode::Ddos),
        admitted(SshdMode::Aggressive),
    );
    assert!(normal.contains(&"ssh_brute_force") && !normal.contains(&"ssh_preauth_flood"));
    assert!(ddos.contains(&"ssh_preauth_flood") && !ddos.contains(&"ssh_negotiation_failure"));
    assert!(aggressive.contains(&"ssh_negotiation_failure"));
    assert_eq!(aggressive.len(), rules.len());
    assert!(normal.len() < ddos.len() && ddos.len() < aggressive.len());
    assert!(normal.iter().all(|id| ddos.contains(id)));
}

/// The services' addresses come from their grammar's position, so thresholds can group by
/// `src_ip` (a rule grouping by a field a line lacks would never alert).
#[test]
fn service_failures_group_by_the_client_address() {
    let ctx = ParseContext::new(SAMPLE_RECEIVED_MICROS, 0);
    for (line, ip) in [
        (
            "Nov 20 10:11:00 mx postfix/smtpd[4200]: warning: unknown[203.0.113.70]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
            "203.0.113.70",
        ),
        (
            "Nov 20 10:12:00 mx dovecot: imap-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=203.0.113.80, lip=192.0.2.25, TLS",
            "203.0.113.80",
        ),
        (
            "Fri Nov 20 10:13:00 2026 [pid 4400] [bob] FAIL LOGIN: Client \"::ffff:203.0.113.90\"",
            "203.0.113.90",
        ),
        (
            "Nov 20 10:13:02 ftp proftpd[4402]: ftp.example.com (client.example.net[203.0.113.92]) - USER bob (Login failed): Incorrect password",
            "203.0.113.92",
        ),
        (
            "Nov 20 10:15:01 db mariadbd[4601]: 2026-11-20 10:15:01 31 [Warning] Access denied for user 'admin'@'203.0.113.111' (using password: NO)",
            "203.0.113.111",
        ),
    ] {
        let rec = parse(line.as_bytes(), &ctx);
        assert_eq!(
            rec.field("src_ip")
                .map(|v| v.to_text().into_owned())
                .as_deref(),
            Some(ip),
            "{line}"
        );
        assert_eq!(
            rec.field("outcome")
                .map(|v| v.to_text().into_owned())
                .as_deref(),
            Some("failure"),
            "{line}"
        );
    }
}

/// The library's literals are scanned by a DFA (`aho-corasick` picks one by itself only up to
/// 100 literals; the set asks for one up to 4 MiB): the NFA's overlapping scan was a fifth of the
/// daemon's CPU on auth.log.
#[test]
fn the_library_prefilter_is_a_dfa() {
    let set = ironpost_log_pipeline::rules::RuleSet::compile(load_dir(&library()).rules)
        .expect("the library compiles");
    let stats = set.prefilter_stats();
    assert!(stats.literals > 50, "{stats:?}");
    assert!(stats.dfa, "{stats:?}");
    // Within the 4 MiB the set allows a DFA.
    assert!(stats.automaton_bytes <= 4 << 20, "{stats:?}");
}
