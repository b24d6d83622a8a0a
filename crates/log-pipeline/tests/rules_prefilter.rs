//! Property: for random messages and random rule sets, the prefiltered matcher returns exactly
//! what evaluating every rule returns. The vocabulary is small so that literals do occur, with
//! case variants, non-ASCII letters and the characters Unicode case folding maps onto ASCII
//! (U+212A KELVIN SIGN folds to `k`, U+017F LONG S to `s`).

use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::rules::{
    Cmp, Condition, Expr, Op, Origin, Rule, RuleFormat, RuleSet, RuleStatus,
};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "Failed",
    "failed",
    "FAILED",
    "password",
    "for",
    "root",
    "admin",
    "from",
    "port",
    "ssh2",
    "Invalid",
    "user",
    "session",
    "opened",
    "sudo",
    "COMMAND=/bin/bash",
    "Accepted",
    "publickey",
    "Échec",
    "échec",
    "kelvin",
    "\u{212A}elvin",
    "\u{17F}ession",
    "k",
    "s",
    "42",
    "a",
    "ab",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn message() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(word(), 0..10),
        prop::sample::select(vec![" ", "", "  ", ": "]),
    )
        .prop_map(|(words, sep)| words.join(sep))
}

fn regex_of(words: (String, String, String), shape: u8) -> String {
    let (a, b, c) = (
        regex::escape(&words.0),
        regex::escape(&words.1),
        regex::escape(&words.2),
    );
    match shape % 8 {
        0 => a,
        1 => format!("{a}.*{b}"),
        2 => format!("({a}|{b}) {c}"),
        3 => format!(r"^{a}\s*{b}"),
        4 => format!(r"\b{a}\b"),
        5 => format!(r"{a}\d*{b}?"),
        6 => format!("(?i){a}{b}"),
        _ => format!("[{}]{c}", if a.is_empty() { "x".to_owned() } else { a }),
    }
}

fn leaf() -> impl Strategy<Value = Expr> {
    let ci = any::<bool>();
    prop_oneof![
        (word(), ci).prop_map(|(w, ci)| cond("message", Op::Contains(w), ci)),
        (word(), ci).prop_map(|(w, ci)| cond("message", Op::StartsWith(w), ci)),
        (word(), ci).prop_map(|(w, ci)| cond("message", Op::EndsWith(w), ci)),
        (word(), ci).prop_map(|(w, ci)| cond("message", Op::Equals(w), ci)),
        (prop::collection::vec(word(), 1..3), ci).prop_map(|(ws, ci)| cond(
            "message",
            Op::In(ws),
            ci
        )),
        ((word(), word(), word()), any::<u8>(), ci).prop_map(|(ws, shape, ci)| cond(
            "message",
            Op::Regex(regex_of(ws, shape)),
            ci
        )),
        (word(), ci).prop_map(|(w, ci)| cond("process", Op::Equals(w), ci)),
        (prop::collection::vec(word(), 1..3), ci).prop_map(|(ws, ci)| cond(
            "process",
            Op::In(ws),
            ci
        )),
        Just(cond("process", Op::Exists(true), false)),
        Just(cond("port", Op::Compare(Cmp::Gt, 1000.0), false)),
    ]
}

fn cond(field: &str, op: Op, ci: bool) -> Expr {
    Expr::Cond(Condition {
        field: field.to_owned(),
        op,
        case_insensitive: ci,
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::All),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Any),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(expr(), 1..40).prop_map(|exprs| {
        exprs
            .into_iter()
            .enumerate()
            .map(|(i, expr)| Rule {
                id: format!("r{i}"),
                title: format!("rule {i}"),
                description: String::new(),
                severity: Default::default(),
                status: RuleStatus::Enabled,
                tags: Vec::new(),
                expr,
                threshold: None,
                format: RuleFormat::Native,
                origin: Origin::default(),
            })
            .collect()
    })
}

fn record(message: String, process: Option<String>, port: u16) -> MapFields {
    let mut fields = vec![("port".to_owned(), port.to_string())];
    if let Some(p) = process {
        fields.push(("process".to_owned(), p));
    }
    MapFields {
        message,
        timestamp_micros: None,
        fields,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn prefiltered_equals_exhaustive(
        rules in rules(),
        records in prop::collection::vec(
            (message(), prop::option::of(word()), any::<u16>()),
            1..12,
        ),
    ) {
        let set = RuleSet::compile(rules).expect("generated rules compile");
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for (msg, process, port) in records {
            let rec = record(msg, process, port);
            set.matches(&rec, &mut fast);
            set.matches_exhaustive(&rec, &mut slow);
            let fast_ids: Vec<&str> = fast.iter().map(|r| r.id.as_str()).collect();
            let slow_ids: Vec<&str> = slow.iter().map(|r| r.id.as_str()).collect();
            prop_assert_eq!(fast_ids, slow_ids, "message {:?}", rec.message);
        }
    }
}

/// The prefilter does its job: with many rules whose literals do not occur, few are evaluated.
#[test]
fn literal_rules_are_prefiltered() {
    let rules: Vec<Rule> = (0..500)
        .map(|i| Rule {
            id: format!("r{i}"),
            title: String::new(),
            description: String::new(),
            severity: Default::default(),
            status: RuleStatus::Enabled,
            tags: Vec::new(),
            expr: Expr::All(vec![
                cond("process", Op::Equals("sshd".into()), false),
                cond("message", Op::Regex(format!(r"needle{i}\b \d+")), false),
            ]),
            threshold: None,
            format: RuleFormat::Native,
            origin: Origin::default(),
        })
        .collect();
    let set = RuleSet::compile(rules).expect("compiles");
    let stats = set.prefilter_stats();
    assert_eq!((stats.prefiltered, stats.always_checked), (500, 0));
    let rec = record("found needle42 17 times".into(), Some("sshd".into()), 22);
    let mut out = Vec::new();
    set.matches(&rec, &mut out);
    let ids: Vec<&str> = out.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r42"]);
}
