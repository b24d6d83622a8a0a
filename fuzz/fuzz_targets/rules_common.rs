//! The harness `rules_yaml` and `rules_sigma` share: load, compile, match one line both ways.

use ironpost_log_pipeline::parse::{ParseContext, parse};
use ironpost_log_pipeline::rules::{RuleSet, load_str};

pub fn check(data: &[u8]) {
    let (rules, line) = match memchr_nul(data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (
            data,
            &b"Nov 10 06:55:46 h sshd[1]: Failed password for root from 198.18.7.9 port 22 ssh2"[..],
        ),
    };
    let Ok(text) = std::str::from_utf8(rules) else {
        return;
    };
    let loaded = load_str(text, None);
    let (set, _errors) = RuleSet::compile_partial(loaded.rules);
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let rec = parse(line, &ctx);
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    set.matches(&rec, &mut fast);
    set.matches_exhaustive(&rec, &mut slow);
    let ids =
        |v: &[&ironpost_log_pipeline::Rule]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&fast),
        ids(&slow),
        "prefilter disagrees with exhaustive matching"
    );
}

fn memchr_nul(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == 0)
}
