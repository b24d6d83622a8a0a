//! Table-driven operator tests: one native-format condition (a YAML flow mapping) against one
//! record, through the prefiltered and the exhaustive matcher alike.

use std::net::IpAddr;

use ironpost_log_pipeline::fields::{FieldSource, FieldValue, MapFields};
use ironpost_log_pipeline::rules::{RuleError, RuleSet, load_str};

const LINE: &str = "Failed password for root from 203.0.113.7 port 4242 ssh2";

fn sshd() -> MapFields {
    rec(
        LINE,
        &[
            ("process", "sshd"),
            ("src_ip", "203.0.113.7"),
            ("user", "root"),
            ("port", "4242"),
            ("hostname", "web-1"),
        ],
    )
}

fn rec(message: &str, fields: &[(&str, &str)]) -> MapFields {
    MapFields {
        message: message.to_owned(),
        timestamp_micros: None,
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn rule_yaml(cond: &str) -> String {
    format!("id: t\ntitle: t\nseverity: low\ndetection:\n  conditions:\n    - {cond}\n")
}

/// Compiles a one-condition rule; panics with the errors when it does not load.
fn compile(cond: &str) -> RuleSet {
    let loaded = load_str(&rule_yaml(cond), None);
    assert!(loaded.errors.is_empty(), "{cond}: {:?}", loaded.errors);
    RuleSet::compile(loaded.rules).unwrap_or_else(|e| panic!("{cond}: {e:?}"))
}

/// Whether the one-condition rule matches `r`; both matchers must agree.
fn check(cond: &str, r: &impl FieldSource) -> bool {
    let set = compile(cond);
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    set.matches(r, &mut fast);
    set.matches_exhaustive(r, &mut slow);
    assert_eq!(fast.len(), slow.len(), "prefilter disagrees on {cond}");
    !fast.is_empty()
}

/// The error text of a condition that must not load or compile.
fn error(cond: &str) -> String {
    let loaded = load_str(&rule_yaml(cond), None);
    let errors: Vec<RuleError> = if loaded.errors.is_empty() {
        RuleSet::compile(loaded.rules)
            .err()
            .unwrap_or_else(|| panic!("{cond} compiled"))
    } else {
        loaded.errors
    };
    // As the operator reads it: each error with its causes (the regex parser's reason is the
    // source of `RuleError::Regex`, not part of its message).
    errors
        .iter()
        .map(|e| ironpost_core::error_chain(e))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn operators_on_an_sshd_line() {
    let r = sshd();
    for (cond, want) in [
        // equals (the default operator) and aliases
        ("{field: process, value: sshd}", true),
        ("{field: process, value: SSHD}", false),
        (
            "{field: process, value: SSHD, modifier: case_insensitive}",
            true,
        ),
        ("{field: process, operator: equals, value: ssh}", false),
        ("{field: process, operator: exact, value: sshd}", true),
        ("{field: program, value: sshd}", true),
        ("{field: app_name, value: sshd}", true),
        ("{field: src_ip, value: 203.0.113.7}", true),
        ("{field: source_ip, value: 203.0.113.7}", true),
        ("{field: src_ip, value: 203.0.113.70}", false),
        ("{field: src_ip, value: '203.0.113.07'}", false),
        ("{field: port, value: 4242}", true),
        ("{field: missing, value: x}", false),
        ("{field: message, value: 'Failed password'}", false),
        // contains
        (
            "{field: message, operator: contains, value: Failed password}",
            true,
        ),
        (
            "{field: message, operator: contains, value: failed password}",
            false,
        ),
        (
            "{field: message, operator: contains, value: FAILED PASSWORD, modifier: case_insensitive}",
            true,
        ),
        ("{field: msg, operator: contains, value: 'port 4242'}", true),
        (
            "{field: message, operator: contains, value: [nope, 'port 4242']}",
            true,
        ),
        (
            "{field: message, operator: contains, value: [nope, never]}",
            false,
        ),
        ("{field: message, modifier: contains, value: root}", true),
        ("{field: src_ip, operator: contains, value: '.113.'}", true),
        ("{field: message, operator: contains, value: ''}", true),
        // startswith / endswith
        (
            "{field: message, operator: startswith, value: Failed}",
            true,
        ),
        (
            "{field: message, operator: startswith, value: password}",
            false,
        ),
        (
            "{field: message, operator: starts_with, value: fAILED, modifier: case_insensitive}",
            true,
        ),
        ("{field: message, operator: endswith, value: ssh2}", true),
        ("{field: message, operator: endswith, value: SSH2}", false),
        (
            "{field: message, operator: endswith, value: SSH2, modifier: case_insensitive}",
            true,
        ),
        ("{field: message, modifier: endswith, value: ssh1}", false),
        (
            "{field: src_ip, operator: startswith, value: '203.0.'}",
            true,
        ),
        // regex (unanchored, `modifier: regex` = operator regex)
        (
            "{field: message, operator: regex, value: 'for (root|admin) from'}",
            true,
        ),
        ("{field: message, modifier: regex, value: '^Failed'}", true),
        ("{field: message, operator: regex, value: '^failed'}", false),
        (
            "{field: message, operator: regex, value: '^failed', modifier: case_insensitive}",
            true,
        ),
        (
            "{field: message, modifier: [regex, case_insensitive], value: 'PORT \\d+'}",
            true,
        ),
        (
            "{field: message, operator: regex, value: 'port \\d{5}'}",
            false,
        ),
        ("{field: user, operator: regex, value: '^r..t$'}", true),
        (
            "{field: src_ip, operator: regex, value: '^203\\.0\\.113\\.\\d+$'}",
            true,
        ),
        (
            "{field: message, operator: regex, value: ['^x', 'ssh2$']}",
            true,
        ),
        // in
        ("{field: user, operator: in, value: [admin, root]}", true),
        ("{field: user, operator: in, value: [ROOT]}", false),
        (
            "{field: user, operator: in, value: [ROOT], modifier: case_insensitive}",
            true,
        ),
        ("{field: user, operator: in, value: root}", true),
        ("{field: user, value: [admin, root]}", true),
        (
            "{field: src_ip, operator: in, value: [198.51.100.1, 203.0.113.7]}",
            true,
        ),
        (
            "{field: src_ip, operator: in, value: [198.51.100.1]}",
            false,
        ),
        // cidr
        (
            "{field: src_ip, operator: cidr, value: 203.0.113.0/24}",
            true,
        ),
        (
            "{field: src_ip, operator: cidr, value: 203.0.113.8/29}",
            false,
        ),
        (
            "{field: src_ip, operator: cidr, value: [10.0.0.0/8, 192.168.0.0/16]}",
            false,
        ),
        (
            "{field: src_ip, operator: cidr, value: [10.0.0.0/8, 203.0.0.0/8]}",
            true,
        ),
        ("{field: src_ip, operator: cidr, value: 203.0.113.7}", true),
        (
            "{field: src_ip, operator: cidr, value: '2001:db8::/32'}",
            false,
        ),
        ("{field: user, operator: cidr, value: 0.0.0.0/0}", false),
        ("{field: missing, operator: cidr, value: 0.0.0.0/0}", false),
        // exists
        ("{field: user, operator: exists}", true),
        ("{field: pid, operator: exists}", false),
        ("{field: pid, operator: exists, value: false}", true),
        ("{field: user, operator: exists, value: false}", false),
        ("{field: message, operator: exists}", true),
        // numeric comparisons (text that parses as a number counts)
        ("{field: port, operator: gt, value: 1024}", true),
        ("{field: port, operator: lt, value: 1024}", false),
        ("{field: port, operator: gte, value: 4242}", true),
        ("{field: port, operator: lte, value: '4241'}", false),
        ("{field: port, operator: eq, value: 4242.0}", true),
        ("{field: port, operator: eq, value: 4243}", false),
        ("{field: user, operator: gt, value: 1}", false),
        ("{field: src_ip, operator: gt, value: 1}", false),
        ("{field: missing, operator: lt, value: 1}", false),
        // nesting
        ("{not: {field: user, value: root}}", false),
        ("{not: {field: pid, value: '1'}}", true),
        (
            "{any: [{field: user, value: admin}, {field: user, value: root}]}",
            true,
        ),
        (
            "{all: [{field: user, value: root}, {field: process, value: cron}]}",
            false,
        ),
        (
            "{all: [{field: user, value: root}, {not: {any: [{field: process, value: cron}]}}]}",
            true,
        ),
    ] {
        assert_eq!(check(cond, &r), want, "{cond}");
    }
}

#[test]
fn ipv6_and_mapped_addresses() {
    let v6 = rec("Accepted publickey", &[("src_ip", "2001:db8::5")]);
    let mapped = rec("Accepted publickey", &[("src_ip", "::ffff:203.0.113.7")]);
    for (cond, r, want) in [
        (
            "{field: src_ip, operator: cidr, value: '2001:db8::/32'}",
            &v6,
            true,
        ),
        (
            "{field: src_ip, operator: cidr, value: '2001:db9::/32'}",
            &v6,
            false,
        ),
        ("{field: src_ip, value: '2001:0db8:0:0::5'}", &v6, true),
        (
            "{field: src_ip, operator: cidr, value: 203.0.113.0/24}",
            &mapped,
            true,
        ),
        ("{field: src_ip, value: 203.0.113.7}", &mapped, true),
    ] {
        assert_eq!(check(cond, r), want, "{cond} on {:?}", r.fields);
    }
}

#[test]
fn unicode_case_folding() {
    let r = rec("Échec de connexion pour ÅSA", &[]);
    for (cond, want) in [
        (
            "{field: message, operator: contains, value: échec, modifier: case_insensitive}",
            true,
        ),
        ("{field: message, operator: contains, value: échec}", false),
        (
            "{field: message, value: 'ÉCHEC DE CONNEXION POUR åsa', modifier: case_insensitive}",
            true,
        ),
        (
            "{field: message, operator: startswith, value: éCHEC, modifier: case_insensitive}",
            true,
        ),
        (
            "{field: message, operator: endswith, value: åsa, modifier: case_insensitive}",
            true,
        ),
        (
            "{field: message, operator: in, value: [x, 'échec de connexion pour åsa'], modifier: case_insensitive}",
            true,
        ),
        (
            "{field: message, operator: regex, value: 'échec', modifier: case_insensitive}",
            true,
        ),
    ] {
        assert_eq!(check(cond, &r), want, "{cond}");
    }
}

/// A record whose fields are typed the way the parser types them (`port` a number).
struct Typed;

impl FieldSource for Typed {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match name {
            "message" => Some(FieldValue::Str(LINE)),
            "port" => Some(FieldValue::Num(4242.0)),
            "ratio" => Some(FieldValue::Num(0.25)),
            "src_ip" => Some(FieldValue::Ip(IpAddr::from([203, 0, 113, 7]))),
            _ => None,
        }
    }
    fn message(&self) -> &str {
        LINE
    }
    fn timestamp_micros(&self) -> Option<i64> {
        None
    }
}

#[test]
fn typed_numbers_and_ips() {
    for (cond, want) in [
        ("{field: port, value: 4242}", true),
        ("{field: port, value: '4242'}", true),
        ("{field: port, operator: gt, value: 22}", true),
        ("{field: port, operator: eq, value: 4242}", true),
        ("{field: port, operator: regex, value: '^42'}", true),
        ("{field: port, operator: cidr, value: 0.0.0.0/0}", false),
        ("{field: ratio, operator: lt, value: 0.5}", true),
        ("{field: ratio, value: '0.25'}", true),
        (
            "{field: src_ip, operator: cidr, value: 203.0.113.0/24}",
            true,
        ),
        ("{field: src_ip, operator: endswith, value: '.7'}", true),
        ("{field: src_ip, value: 203.0.113.7}", true),
    ] {
        assert_eq!(check(cond, &Typed), want, "{cond}");
    }
}

#[test]
fn rejected_conditions_say_why() {
    let long = format!(
        "{{field: message, operator: regex, value: '{}'}}",
        "a".repeat(1001)
    );
    for (cond, want) in [
        ("{field: message, operator: contains}", "needs a `value`"),
        (
            "{field: message, operator: contains, value: []}",
            "non-empty",
        ),
        (
            "{field: src_ip, operator: cidr, value: 10.0.0.0/33}",
            "is not a CIDR",
        ),
        ("{field: port, operator: gt, value: abc}", "needs a number"),
        (
            "{field: port, operator: gt, value: [1, 2]}",
            "needs a number",
        ),
        (
            "{field: message, operator: contains, value: x, modifier: regex}",
            "conflicts",
        ),
        (
            "{field: message, operator: contains, value: x, modifier: startswith}",
            "conflicts",
        ),
        (
            "{field: src_ip, operator: cidr, value: 10.0.0.0/8, modifier: case_insensitive}",
            "does not apply",
        ),
        (
            "{field: user, operator: exists, value: yes please}",
            "takes no value",
        ),
        (
            "{field: message, operator: like, value: x}",
            "unknown variant `like`",
        ),
        (
            "{field: message, value: x, modifer: case_insensitive}",
            "unknown field `modifer`",
        ),
        (
            "{field: message, value: x, modifier: nocase}",
            "unknown variant `nocase`",
        ),
        (
            "{field: message, value: x, any: [{field: a, value: b}]}",
            "either a `field` test",
        ),
        ("{any: []}", "empty"),
        ("{operator: contains, value: x}", "missing `field`"),
        ("{field: message, value: {a: b}}", "expected a string"),
        (
            "{field: message, operator: regex, value: '(unclosed'}",
            "regex `(unclosed` rejected",
        ),
        // Linear-time engine: no backreferences or look-around.
        (
            "{field: message, operator: regex, value: '(a)\\1'}",
            "rejected",
        ),
        // Small pattern, huge program: over the size limit.
        (
            "{field: message, operator: regex, value: '\\w{1000}'}",
            "exceeds size limit",
        ),
        (
            long.as_str(),
            "regex of 1001 characters is longer than the 1000 accepted",
        ),
    ] {
        let text = error(cond);
        assert!(text.contains(want), "{cond}: expected `{want}` in:\n{text}");
        assert!(
            text.contains("rule `t`"),
            "{cond}: the rule is not named in:\n{text}"
        );
    }
}
