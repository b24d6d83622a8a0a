//! The native rule format: the seed's file loads verbatim, the original project's variant too,
//! lists and multi-document files, and every rejection names file, line and rule.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ironpost_core::severity::Severity;
use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::{
    Condition, Expr, Op, RuleError, RuleFormat, RuleSet, RuleStatus, Threshold, load_dir,
    load_file, load_str,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules")
        .join(rel)
}

fn cond(field: &str, op: Op, ci: bool) -> Expr {
    Expr::Cond(Condition {
        field: field.into(),
        op,
        case_insensitive: ci,
    })
}

fn errors_text(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn seed_rule_loads_verbatim() {
    let path = fixture("ssh_brute_force.yaml");
    let loaded = load_file(&path);
    assert!(loaded.errors.is_empty(), "{}", errors_text(&loaded.errors));
    let [rule] = loaded.rules.as_slice() else {
        panic!("{:?}", loaded.rules)
    };
    assert_eq!(rule.id, "ssh_brute_force");
    assert_eq!(rule.title, "SSH Brute Force Attack");
    assert_eq!(
        rule.description,
        "Multiple failed SSH login attempts from same IP"
    );
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.status, RuleStatus::Enabled);
    assert_eq!(rule.tags, ["attack.credential_access", "T1110"]);
    assert_eq!(rule.format, RuleFormat::Native);
    assert_eq!(rule.origin.path.as_deref(), Some(path.as_path()));
    assert_eq!(
        rule.expr,
        Expr::All(vec![
            cond("process", Op::Equals("sshd".into()), true),
            cond("message", Op::Contains("Failed password".into()), false),
        ])
    );
    assert_eq!(
        rule.threshold,
        Some(Threshold {
            count: 5,
            window: Duration::from_secs(60),
            group_by: vec!["src_ip".into()],
            correlate: None,
        })
    );

    let set = RuleSet::compile(loaded.rules).expect("compiles");
    let line = MapFields {
        message: "Failed password for root from 192.168.1.100 port 22 ssh2".into(),
        timestamp_micros: None,
        fields: vec![("process".into(), "SSHD".into())],
    };
    let mut out = Vec::new();
    set.matches(&line, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(set.prefilter_stats().always_checked, 0);
}

#[test]
fn original_project_variant_loads() {
    let loaded = load_file(&fixture("native/original_variant.yaml"));
    assert!(loaded.errors.is_empty(), "{}", errors_text(&loaded.errors));
    let ids: Vec<&str> = loaded.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ssh_brute_force_variant",
            "privilege_escalation_variant",
            "authentication_failure_variant"
        ]
    );
    let [brute, privesc, authfail] = loaded.rules.as_slice() else {
        unreachable!()
    };
    assert_eq!(brute.severity, Severity::High);
    assert_eq!(
        brute.expr,
        Expr::All(vec![
            cond("process", Op::Equals("sshd".into()), false),
            cond("message", Op::Contains("Failed password".into()), false),
        ])
    );
    // `field: source_ip` is the original project's name for our `src_ip`.
    assert_eq!(
        brute.threshold,
        Some(Threshold {
            count: 5,
            window: Duration::from_secs(300),
            group_by: vec!["src_ip".into()],
            correlate: None,
        })
    );
    assert_eq!(privesc.severity, Severity::Critical);
    assert_eq!(
        privesc.expr,
        cond(
            "message",
            Op::Regex(r"(sudo|su)\s+(root|admin|wheel)".into()),
            false
        )
    );
    assert_eq!(authfail.status, RuleStatus::Test);
    assert_eq!(
        authfail
            .threshold
            .as_ref()
            .map(|t| (t.window, t.group_by.clone())),
        Some((Duration::from_secs(600), vec!["hostname".to_owned()]))
    );
}

#[test]
fn list_file_with_groups() {
    let loaded = load_file(&fixture("native/list.yaml"));
    assert!(loaded.errors.is_empty(), "{}", errors_text(&loaded.errors));
    assert_eq!(loaded.rules.len(), 3);
    let set = RuleSet::compile(loaded.rules).expect("compiles");
    let ids = |msg: &str, fields: &[(&str, &str)]| {
        let rec = MapFields {
            message: msg.into(),
            timestamp_micros: None,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        };
        let mut out = Vec::new();
        set.matches(&rec, &mut out);
        out.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(
            "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/bash",
            &[("process", "sudo")]
        ),
        ["sudo_to_root_shell"]
    );
    assert_eq!(
        ids(
            "Accepted password for bob from 203.0.113.9 port 5022 ssh2",
            &[("src_ip", "203.0.113.9")]
        ),
        ["auth_from_outside"]
    );
    assert!(ids("Accepted password for bob", &[("src_ip", "10.1.2.3")]).is_empty());
    assert_eq!(
        ids("INVALID USER x from 1.2.3.4", &[]),
        ["invalid_or_unknown_user"]
    );
    assert_eq!(
        ids("Connection closed", &[("outcome", "invalid_user")]),
        ["invalid_or_unknown_user"]
    );
}

const BAD_KEY: &str = "\
id: bad_rule
title: Bad rule
severity: low
detection:
  conditions:
    - field: message
      operator: contains
      value: x
      modifer: case_insensitive
";

#[test]
fn unknown_key_names_file_line_and_rule() {
    let loaded = load_str(BAD_KEY, Some(Path::new("/etc/ironpost/rules/bad.yaml")));
    assert!(loaded.rules.is_empty());
    let [err] = loaded.errors.as_slice() else {
        panic!("{}", errors_text(&loaded.errors))
    };
    let RuleError::Yaml {
        origin, rule_id, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(origin.line, Some(9));
    assert_eq!(rule_id.as_deref(), Some("bad_rule"));
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/ironpost/rules/bad.yaml:9:"),
        "{text}"
    );
    assert!(text.contains("rule `bad_rule`"), "{text}");
    assert!(text.contains("unknown field `modifer`"), "{text}");
    assert!(
        !text.contains(" at line "),
        "location printed twice: {text}"
    );

    for (yaml, line, key) in [
        (
            "id: r\ntitle: t\nseverity: low\nfoo: 1\ndetection:\n  conditions: []\n",
            4,
            "foo",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditionz: []\n",
            5,
            "conditionz",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold:\n    count: 5\n    window: 60\n",
            8,
            "window",
        ),
    ] {
        let loaded = load_str(yaml, Some(Path::new("r.yaml")));
        let text = errors_text(&loaded.errors);
        assert!(
            text.starts_with(&format!("r.yaml:{line}:")),
            "{key}: {text}"
        );
        assert!(text.contains(&format!("unknown field `{key}`")), "{text}");
        assert!(text.contains("rule `r`"), "{text}");
    }
}

#[test]
fn errors_in_lists_and_documents_keep_the_other_rules() {
    let list = "\
- id: good_1
  title: t
  severity: low
  detection: {conditions: [{field: message, value: a}]}
- id: broken
  title: t
  severity: low
  detection: {conditions: [{field: message, value: a, oops: 1}]}
- id: good_2
  title: t
  severity: low
  detection: {conditions: [{field: message, value: b}]}
";
    let loaded = load_str(list, Some(Path::new("list.yaml")));
    let ids: Vec<&str> = loaded.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["good_1", "good_2"]);
    let text = errors_text(&loaded.errors);
    assert!(text.starts_with("list.yaml:8:"), "{text}");
    assert!(text.contains("rule `broken`"), "{text}");

    // Lines count from the top of the file across `---` documents.
    let docs = "\
id: first
title: t
severity: low
detection: {conditions: [{field: message, value: a}]}
---
id: second
title: t
severity: bogus
detection: {conditions: [{field: message, value: a}]}
";
    let loaded = load_str(docs, Some(Path::new("docs.yaml")));
    assert_eq!(loaded.rules.len(), 1);
    let text = errors_text(&loaded.errors);
    assert!(text.starts_with("docs.yaml:8:"), "{text}");
    assert!(
        text.contains("rule `second`") && text.contains("unknown severity `bogus`"),
        "{text}"
    );

    // Broken YAML: the error has the line, no rule.
    let loaded = load_str("id: x\ntitle: [unclosed\n", Some(Path::new("b.yaml")));
    let text = errors_text(&loaded.errors);
    assert!(text.starts_with("b.yaml:"), "{text}");
    assert!(loaded.rules.is_empty());
}

#[test]
fn meaning_errors_name_the_rule() {
    for (yaml, want) in [
        (
            "id: ''\ntitle: t\nseverity: low\ndetection: {conditions: [{field: a, value: b}]}",
            "`id` is empty",
        ),
        (
            "id: a b\ntitle: t\nseverity: low\ndetection: {conditions: [{field: a, value: b}]}",
            "whitespace",
        ),
        (
            "id: r\ntitle: ' '\nseverity: low\ndetection: {conditions: [{field: a, value: b}]}",
            "`title` is empty",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection: {conditions: []}",
            "`detection.conditions` is empty",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 0, timeframe_secs: 60}",
            "at least 1",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 5}",
            "missing `timeframe_secs`",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 5, timeframe_secs: 60, timeframe: 60}",
            "not both",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 5, timeframe: 2y}",
            "not a duration",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 5, timeframe_secs: 0}",
            "between 1 and",
        ),
        (
            "id: r\ntitle: t\nseverity: low\ndetection:\n  conditions: [{field: a, value: b}]\n  threshold: {count: 5, timeframe_secs: 9, field: a, group_by: b}",
            "not both",
        ),
        (
            "id: r\ntitle: t\nseverity: low\nstatus: paused\ndetection: {conditions: [{field: a, value: b}]}",
            "unknown variant `paused`",
        ),
    ] {
        let loaded = load_str(yaml, Some(Path::new("m.yaml")));
        let text = errors_text(&loaded.errors);
        assert!(text.contains(want), "expected `{want}` in: {text}");
        assert!(text.starts_with("m.yaml"), "{text}");
        assert!(loaded.rules.is_empty(), "{yaml}");
    }
}

#[test]
fn set_level_checks() {
    let yaml = "\
id: dup
title: t
severity: low
detection: {conditions: [{field: message, value: a}]}
---
id: dup
title: t
severity: low
detection: {conditions: [{field: message, value: b}]}
---
id: off
title: t
severity: low
status: disabled
detection: {conditions: [{field: message, value: a}]}
";
    let loaded = load_str(yaml, Some(Path::new("s.yaml")));
    assert!(loaded.errors.is_empty());
    let errors = RuleSet::compile(loaded.rules.clone()).unwrap_err();
    assert!(matches!(&errors[..], [RuleError::DuplicateId { rule_id, .. }] if rule_id == "dup"));
    let (set, errors) = RuleSet::compile_partial(loaded.rules);
    assert_eq!(errors.len(), 1);
    // The disabled rule is validated but not evaluated.
    assert_eq!(set.len(), 1);
    assert!(set.get("off").is_none());
}

#[test]
fn regex_limits_name_rule_and_file() {
    let yaml = "\
id: ok
title: t
severity: low
detection: {conditions: [{field: message, operator: regex, value: 'Failed \\w+'}]}
---
id: huge_regex
title: t
severity: low
detection: {conditions: [{field: message, operator: regex, value: '(\\w+\\s+){200}x'}]}
";
    let loaded = load_str(yaml, Some(Path::new("/rules/re.yaml")));
    assert!(loaded.errors.is_empty());
    let errors = RuleSet::compile(loaded.rules).unwrap_err();
    let [
        RuleError::Regex {
            rule_id,
            origin,
            source,
            ..
        },
    ] = errors.as_slice()
    else {
        panic!("{}", errors_text(&errors))
    };
    assert_eq!(rule_id, "huge_regex");
    assert_eq!(origin.path.as_deref(), Some(Path::new("/rules/re.yaml")));
    assert!(
        matches!(source, regex::Error::CompiledTooBig(_)),
        "{source:?}"
    );
    let text = errors[0].to_string();
    assert!(
        text.contains("/rules/re.yaml") && text.contains("huge_regex"),
        "{text}"
    );
}

#[test]
fn directory_load_reads_every_yaml_file() {
    let loaded = load_dir(&fixture("native"));
    assert!(loaded.errors.is_empty(), "{}", errors_text(&loaded.errors));
    assert_eq!(loaded.rules.len(), 6);
    let missing = load_dir(Path::new("/nonexistent/ironpost-rules"));
    assert!(matches!(&missing.errors[..], [RuleError::Read { .. }]));
}
