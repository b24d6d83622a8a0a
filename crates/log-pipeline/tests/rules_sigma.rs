//! Sigma import: the fixture rules (SigmaHQ style, Linux auth/sshd/sudo/su/cron/syslog) load and
//! match the lines they are about; conditions, modifiers and field mapping behave as documented;
//! every unsupported construct is reported per rule with its reason.

use std::path::{Path, PathBuf};

use ironpost_core::severity::Severity;
use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::{
    RejectKind, RuleError, RuleFormat, RuleSet, RuleStatus, load_dir, load_str, validate_dir,
};

mod common;
use common::{matched, rec};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules")
        .join(rel)
}

#[test]
fn fixture_rules_all_load() {
    let report = validate_dir(&fixture("sigma"));
    let reasons: Vec<String> = report
        .unsupported
        .iter()
        .map(|r| r.error.to_string())
        .collect();
    assert!(report.is_clean(), "{reasons:#?}");
    assert_eq!(report.loaded.len(), 12);
    assert!(report.loaded.iter().all(|s| s.format == RuleFormat::Sigma));
    let cve = report
        .loaded
        .iter()
        .find(|s| s.id == "4c9d903d-4939-4094-ade0-3cb748f4d7da")
        .expect("CVE-2018-15473 rule");
    assert_eq!(cve.title, "SSHD Error Message CVE-2018-15473");
    assert_eq!(cve.severity, Severity::Medium);
    assert_eq!(cve.status, RuleStatus::Enabled);
    assert!(
        cve.file
            .as_ref()
            .is_some_and(|f| f.ends_with("lnx_sshd_ssh_cve_2018_15473.yml"))
    );
}

#[test]
fn fixture_rules_match_their_lines() {
    let loaded = load_dir(&fixture("sigma"));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let set = RuleSet::compile(loaded.rules).expect("compiles");
    for (r, want) in [
        (
            rec(
                "sshd",
                "Failed password for root from 203.0.113.7 port 4242 ssh2",
                &[],
            ),
            vec!["SSH Password Guessing Keywords"],
        ),
        // Same text from another program: the sshd service condition keeps it out.
        (
            rec(
                "cron",
                "Failed password for root from 203.0.113.7 port 4242 ssh2",
                &[],
            ),
            vec![],
        ),
        (
            rec(
                "sshd",
                "Failed publickey for invalid user x from 203.0.113.7",
                &[],
            ),
            vec![],
        ),
        (
            rec(
                "sshd",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=203.0.113.7",
                &[],
            ),
            vec!["SSH Password Guessing Keywords"],
        ),
        (
            rec("sshd", "fatal: error in libcrypto", &[]),
            vec![
                "SSHD Error Message CVE-2018-15473",
                "Suspicious OpenSSH Daemon Error",
            ],
        ),
        (
            rec(
                "sshd",
                "Accepted password for root from 203.0.113.7 port 51000 ssh2",
                &[("user", "root"), ("src_ip", "203.0.113.7")],
            ),
            vec!["Root Login With Password From Outside Management Networks"],
        ),
        (
            rec(
                "sshd",
                "Accepted password for root from 10.0.0.7 port 51000 ssh2",
                &[("user", "root"), ("src_ip", "10.0.0.7")],
            ),
            vec![],
        ),
        (
            rec(
                "sudo",
                "mallory : TTY=pts/1 ; PWD=/tmp ; USER=#-1 ; COMMAND=/usr/bin/sudo -u#-1 id",
                &[],
            ),
            vec!["Sudo Privilege Escalation CVE-2019-14287"],
        ),
        (
            rec(
                "sudo",
                "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
                &[],
            ),
            vec!["Sudo Spawns A Root Shell"],
        ),
        (
            rec(
                "sudo",
                "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
                &[],
            ),
            vec![],
        ),
        (
            rec(
                "sudo",
                "bob : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls",
                &[],
            ),
            vec!["Sudo Authentication Failure Or User Not In Sudoers"],
        ),
        (
            rec(
                "su",
                "pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root",
                &[],
            ),
            vec!["Failed Su To Root"],
        ),
        (
            rec("CRON", "(root) CMD (/TMP/.x/run.sh >/dev/null 2>&1)", &[]),
            vec!["Cron Runs A Command From A Temporary Directory"],
        ),
        (
            rec("CRON", "(root) CMD (/usr/local/bin/backup)", &[]),
            vec![],
        ),
        (
            rec(
                "named",
                "client 198.51.100.4#53: zone transfer 'example.com/AXFR/IN' denied AXFR from 198.51.100.4",
                &[],
            ),
            vec!["Suspicious Named Error"],
        ),
        (
            rec(
                "pkexec",
                "pkexec: The value for environment variable XAUTHORITY contains suspicious content [USER=root] [TTY=/dev/pts/0]",
                &[],
            ),
            vec!["PwnKit Local Privilege Escalation"],
        ),
        (
            rec(
                "pkexec",
                "pkexec: The value for environment variable XAUTHORITY contains suspicious content",
                &[],
            ),
            vec![],
        ),
        (
            rec(
                "kernel",
                "grsec: attempt to execute code on stack by /tmp/x[x:4242] uid/euid:33/33",
                &[],
            ),
            vec!["Buffer Overflow Attempts"],
        ),
    ] {
        assert_eq!(
            matched(&set, &r),
            want,
            "{:?} from {:?}",
            r.message,
            r.fields[0].1
        );
    }
}

#[test]
fn unsupported_rules_are_reported_with_reasons() {
    let report = validate_dir(&fixture("sigma_unsupported"));
    assert!(report.loaded.is_empty(), "{:?}", report.loaded);
    let mut got: Vec<(String, RejectKind, String)> = report
        .unsupported
        .iter()
        .map(|r| {
            let file = r
                .file
                .as_ref()
                .and_then(|f| f.file_name())
                .map(|f| f.to_string_lossy().into_owned());
            (file.unwrap_or_default(), r.kind, r.error.to_string())
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want = [
        ("lnx_absence.yml", "aggregation `| count() < 2`: `<`"),
        ("lnx_base64offset.yml", "modifier `|utf16le`"),
        ("lnx_clamav_service.yml", "logsource service `clamav`"),
        ("lnx_correlation.yml", "Sigma correlation rules"),
        ("lnx_near_not.yml", "`near … and not …`"),
        ("win_whoami.yml", "logsource category `process_creation`"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((file, kind, text), (want_file, want_reason)) in got.iter().zip(want) {
        assert_eq!(file, want_file);
        assert_eq!(*kind, RejectKind::Unsupported, "{text}");
        assert!(text.contains(want_reason), "{file}: {text}");
        assert!(text.contains("unsupported:"), "{text}");
    }
    // Rules are named by id.
    assert!(
        report
            .unsupported
            .iter()
            .any(|r| r.rule.as_deref() == Some("e28a5a99-da44-436d-b7a0-2afc20a5f413"))
    );
}

/// A Sigma rule with the given `logsource` body and `detection` body (YAML, 4-space indented).
fn sigma(detection: &str) -> String {
    format!(
        "title: T\nid: t-1\nlogsource:\n    product: linux\n    service: auth\ndetection:\n{detection}\nlevel: high\n"
    )
}

fn compile_sigma(detection: &str) -> RuleSet {
    let loaded = load_str(&sigma(detection), Some(Path::new("t.yml")));
    assert!(loaded.errors.is_empty(), "{detection}\n{:?}", loaded.errors);
    RuleSet::compile(loaded.rules).expect("compiles")
}

#[test]
fn conditions_and_modifiers() {
    let base = rec(
        "sshd",
        "Failed password for Admin from 203.0.113.7 port 4242 ssh2",
        &[
            ("user", "Admin"),
            ("src_ip", "203.0.113.7"),
            ("port", "4242"),
        ],
    );
    for (detection, want) in [
        (
            "    sel:\n        - 'failed password'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|contains: 'FAILED'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|contains|cased: 'FAILED'\n    condition: sel",
            false,
        ),
        ("    sel:\n        User: admin\n    condition: sel", true),
        (
            "    sel:\n        User|cased: admin\n    condition: sel",
            false,
        ),
        (
            "    sel:\n        UserName: 'Adm*'\n    condition: sel",
            true,
        ),
        ("    sel:\n        User: 'A?min'\n    condition: sel", true),
        ("    sel:\n        User: 'A?in'\n    condition: sel", false),
        (
            "    sel:\n        Message|startswith: 'Failed'\n        Message|endswith: 'ssh2'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|contains|all:\n            - Failed\n            - nope\n    condition: sel",
            false,
        ),
        (
            "    sel:\n        Message|contains|all:\n            - Failed\n            - port\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|contains:\n            - nope\n            - port\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|re: 'for [A-Z]dmin'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        Message|re: 'for admin'\n    condition: sel",
            false,
        ),
        (
            "    sel:\n        Message|re|i: 'for admin'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        SourceIp|cidr: '203.0.113.0/24'\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        SourcePort|gt: 1024\n    condition: sel",
            true,
        ),
        (
            "    sel:\n        SourcePort|lte: 1024\n    condition: sel",
            false,
        ),
        (
            "    sel:\n        pid|exists: true\n    condition: sel",
            false,
        ),
        ("    sel:\n        pid: null\n    condition: sel", true),
        ("    sel:\n        user: null\n    condition: sel", false),
        (
            "    sel:\n        - User: root\n        - User: admin\n    condition: sel",
            true,
        ),
        (
            "    a:\n        - Failed\n    b:\n        - Accepted\n    condition: a and not b",
            true,
        ),
        (
            "    a:\n        - Failed\n    b:\n        - Accepted\n    condition: not a or b",
            false,
        ),
        (
            "    a:\n        - Failed\n    b:\n        - Accepted\n    c:\n        - ssh2\n    condition: (a or b) and c",
            true,
        ),
        (
            "    sel_1:\n        - nope\n    sel_2:\n        - Failed\n    condition: 1 of sel_*",
            true,
        ),
        (
            "    sel_1:\n        - nope\n    sel_2:\n        - Failed\n    condition: all of sel_*",
            false,
        ),
        (
            "    s1:\n        - Failed\n    s2:\n        - ssh2\n    condition: all of them",
            true,
        ),
        // `them` leaves out identifiers starting with `_`.
        (
            "    s1:\n        - Failed\n    _helper:\n        - nope\n    condition: all of them",
            true,
        ),
        (
            "    s1:\n        - nope\n    s2:\n        - Failed\n    condition: 1 of them",
            true,
        ),
        (
            "    a:\n        - nope\n    b:\n        - Failed\n    condition:\n        - a\n        - b",
            true,
        ),
        (
            "    kw:\n        - '*password*Admin*'\n    condition: kw",
            true,
        ),
        ("    kw:\n        - 'password\\*'\n    condition: kw", false),
    ] {
        let set = compile_sigma(detection);
        assert_eq!(!matched(&set, &base).is_empty(), want, "{detection}");
    }
}

/// `base64`, `base64offset`, `windash`, `fieldref` and `cidr` on sample records, alone and with
/// `contains` / `startswith` / `endswith` / `all`.
#[test]
fn encoding_dash_fieldref_and_cidr_modifiers() {
    // "curl -s http://x | /bin/bash" with its payload base64-encoded at three alignments.
    let b64_at = |prefix: &str| {
        rec(
            "bash",
            &format!("echo {prefix}L2Jpbi9iYXNo | base64 -d"),
            &[],
        )
    };
    let encoded = b64_at("");
    // " /bin/bash" and "  /bin/bash" encode to these (the first characters depend on the prefix).
    let offset1 = rec("bash", "echo IC9iaW4vYmFzaA== | base64 -d", &[]);
    let offset2 = rec("bash", "echo ICAvYmluL2Jhc2g= | base64 -d", &[]);
    let dashes = |m: &str| rec("cmd", m, &[]);
    let login = |user: &str, target: &str, ip: &str| {
        rec(
            "sshd",
            "Accepted publickey",
            &[
                ("user", user),
                ("target_user", target),
                ("src_ip", ip),
                ("sender_ip", "10.0.0.9"),
            ],
        )
    };
    let sel = |body: &str| format!("    sel:\n        {body}\n    condition: sel");
    let cases: Vec<(String, MapFields, bool)> = vec![
        (
            sel("Message|base64|contains: '/bin/bash'"),
            encoded.clone(),
            true,
        ),
        (
            sel("Message|base64|contains: '/bin/sh'"),
            encoded.clone(),
            false,
        ),
        // base64 output is compared case-sensitively.
        (
            sel("Message|base64|contains: '/BIN/BASH'"),
            encoded.clone(),
            false,
        ),
        (
            sel("Message|base64|startswith: '/bin/bash'"),
            encoded.clone(),
            false,
        ),
        (
            sel("Message|base64offset|contains: '/bin/bash'"),
            encoded.clone(),
            true,
        ),
        (
            sel("Message|base64offset|contains: '/bin/bash'"),
            offset1.clone(),
            true,
        ),
        (
            sel("Message|base64offset|contains: '/bin/bash'"),
            offset2.clone(),
            true,
        ),
        (
            sel("Message|base64|contains: '/bin/bash'"),
            offset1.clone(),
            false,
        ),
        (
            sel(
                "Message|base64offset|contains|all:\n            - '/bin/bash'\n            - 'nope'",
            ),
            offset2.clone(),
            false,
        ),
        (
            sel("Message|base64offset|contains:\n            - 'nope'\n            - '/bin/bash'"),
            offset2.clone(),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps /enc abc"),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps \u{2013}enc abc"),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps \u{2014}enc abc"),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps \u{2015}enc abc"),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps -enc abc"),
            true,
        ),
        (
            sel("Message|windash|contains: ' -enc '"),
            dashes("ps +enc abc"),
            false,
        ),
        // Without `|windash` only the dash written matches.
        (
            sel("Message|contains: ' -enc '"),
            dashes("ps /enc abc"),
            false,
        ),
        // A dash inside a word is not an option dash.
        (
            sel("Message|windash|contains: 'x-y'"),
            dashes("a x/y"),
            false,
        ),
        (
            sel("Message|windash|startswith: '/c '"),
            dashes("-c whoami"),
            true,
        ),
        (
            sel("Message|windash|endswith: ' -f'"),
            dashes("rm \u{2015}f"),
            true,
        ),
        (
            sel("Message|windash|contains|all:\n            - ' -a '\n            - ' -b '"),
            dashes("t /a /b "),
            true,
        ),
        (
            sel("Message|windash|contains|all:\n            - ' -a '\n            - ' -c '"),
            dashes("t /a /b "),
            false,
        ),
        (
            sel("User|fieldref: target_user"),
            login("root", "root", "10.0.0.9"),
            true,
        ),
        (
            sel("User|fieldref: target_user"),
            login("root", "admin", "10.0.0.9"),
            false,
        ),
        (
            sel("User|fieldref: missing_field"),
            login("root", "root", "10.0.0.9"),
            false,
        ),
        (
            sel("SourceIp|fieldref: sender_ip"),
            login("a", "b", "10.0.0.9"),
            true,
        ),
        (
            sel("SourceIp|fieldref: sender_ip"),
            login("a", "b", "10.0.0.8"),
            false,
        ),
        (
            sel("User|fieldref:\n            - nope\n            - target_user"),
            login("root", "root", "1.2.3.4"),
            true,
        ),
        (
            sel("SourceIp|cidr: '10.0.0.0/8'"),
            login("a", "b", "10.1.2.3"),
            true,
        ),
        (
            sel("SourceIp|cidr:\n            - '192.168.0.0/16'\n            - '2001:db8::/32'"),
            login("a", "b", "2001:db8::1"),
            true,
        ),
        (
            sel("SourceIp|cidr: '2001:db8::/32'"),
            login("a", "b", "2001:db9::1"),
            false,
        ),
        (
            sel("SourceIp|cidr|all:\n            - '10.0.0.0/8'\n            - '10.1.0.0/16'"),
            login("a", "b", "10.1.2.3"),
            true,
        ),
        (
            sel("SourceIp|cidr|all:\n            - '10.0.0.0/8'\n            - '10.2.0.0/16'"),
            login("a", "b", "10.1.2.3"),
            false,
        ),
        // Any field, here one that is not an IP-typed field of the parsers.
        (
            sel("sender_ip|cidr: '10.0.0.0/24'"),
            login("a", "b", "1.1.1.1"),
            true,
        ),
        (
            sel("User|cidr: '10.0.0.0/24'"),
            login("a", "b", "1.1.1.1"),
            false,
        ),
    ];
    for (detection, record, want) in cases {
        let set = compile_sigma(&detection);
        assert_eq!(
            !matched(&set, &record).is_empty(),
            want,
            "{detection}\n{:?}",
            record.message
        );
    }
}

#[test]
fn metadata_maps_onto_rules() {
    let yaml = "\
title: Something Odd
status: deprecated
level: informational
tags: [attack.t1110]
logsource: {product: linux}
detection:
    kw: [odd]
    condition: kw
";
    let loaded = load_str(yaml, None);
    let [rule] = loaded.rules.as_slice() else {
        panic!("{:?}", loaded.errors)
    };
    assert_eq!(rule.id, "something_odd");
    assert_eq!(rule.severity, Severity::Info);
    assert_eq!(rule.status, RuleStatus::Disabled);
    assert_eq!(rule.tags, ["attack.t1110"]);
    assert_eq!(rule.format, RuleFormat::Sigma);
}

#[test]
fn unsupported_and_invalid_constructs() {
    let cases: [(&str, bool, &str); 14] = [
        (
            "logsource: {product: windows}\ndetection: {s: [x], condition: s}",
            true,
            "logsource product `windows`",
        ),
        (
            "logsource: {category: proxy}\ndetection: {s: [x], condition: s}",
            true,
            "category",
        ),
        (
            "logsource: {product: linux, service: clamav}\ndetection: {s: [x], condition: s}",
            true,
            "service `clamav`",
        ),
        (
            "logsource: {product: linux, custom: x}\ndetection: {s: [x], condition: s}",
            true,
            "logsource key `custom`",
        ),
        (
            "logsource: {}\ndetection: {s: [x], condition: s}",
            true,
            "neither",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: {Message|wide|base64: x}, condition: s}",
            true,
            "modifier `|wide`",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: {Message|frobnicate: x}, condition: s}",
            true,
            "unknown modifier `|frobnicate`",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: [x], condition: 's | count() > 5'}",
            true,
            "aggregation",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: [x], timeframe: 5m, condition: s}",
            true,
            "timeframe",
        ),
        (
            "action: global\nlogsource: {product: linux}\ndetection: {s: [x], condition: s}",
            true,
            "action",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: [x], condition: t}",
            false,
            "`t`, which is not defined",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: [x]}",
            false,
            "missing `detection.condition`",
        ),
        (
            "logsource: {product: linux}\ndetection: {s: [x], condition: 1 of x*}",
            false,
            "matches no search identifier",
        ),
        (
            "logsource: {product: linux}\nauthor_note: hi\ndetection: {s: [x], condition: s}",
            false,
            "unknown key `author_note`",
        ),
    ];
    for (body, unsupported, want) in cases {
        let yaml = format!("title: Case\nid: case-1\n{body}\n");
        let loaded = load_str(&yaml, Some(Path::new("case.yml")));
        let [err] = loaded.errors.as_slice() else {
            panic!("{body}: {:?} {:?}", loaded.errors, loaded.rules)
        };
        assert_eq!(err.is_unsupported(), unsupported, "{body}: {err}");
        let text = err.to_string();
        assert!(text.contains(want), "{body}: expected `{want}` in {text}");
        assert!(text.starts_with("case.yml: rule `case-1`"), "{text}");
        assert!(matches!(
            err,
            RuleError::Unsupported { .. } | RuleError::Invalid { .. }
        ));
    }
}
