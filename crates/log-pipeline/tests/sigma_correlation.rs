//! Sigma aggregations and temporal correlation: `count() by g > N`, `count(field) by g > N`
//! (distinct values), the comparison operators (`>`, `>=` honoured; `<`, `<=`, `=` rejected with
//! the reason), and `near` (both `a near b` and `a | near b and c`), each through the alerter on
//! record time, with near misses. Split from `rules_sigma.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ironpost_log_pipeline::rules::{
    Alerter, AlertingConfig, Correlate, ManualClock, Rule, RuleSet, load_str, validate_dir,
};

mod common;
use common::{matched, rec};

const SEC: i64 = 1_000_000;

/// One Sigma rule from text (sshd), with `detection` as given (4-space indented body).
fn sigma_rule(detection: &str) -> Rule {
    let yaml = format!(
        "title: Correlated\nid: corr-1\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n{detection}level: high\n"
    );
    let loaded = load_str(&yaml, Some(Path::new("corr.yml")));
    assert!(loaded.errors.is_empty(), "{detection}: {:?}", loaded.errors);
    let [rule] = <[Rule; 1]>::try_from(loaded.rules).expect("one rule");
    rule
}

/// A line to feed: message, extra fields, record second.
type Line<'a> = (&'a str, &'a [(&'a str, &'a str)], i64);

/// Feeds sshd lines (message, extra fields, record second) to `rule` through the rule set and
/// an alerter without dedup; which of them alerted.
fn alerts(rule: &Rule, lines: &[Line<'_>]) -> Vec<bool> {
    let set = RuleSet::compile(vec![rule.clone()]).expect("compiles");
    let config = AlertingConfig {
        dedup_window: Duration::ZERO,
        ..AlertingConfig::default()
    };
    let mut alerter = Alerter::in_memory(config, Arc::new(ManualClock::new(0)));
    lines
        .iter()
        .map(|(msg, extra, secs)| {
            let mut r = rec("sshd", msg, extra);
            r.timestamp_micros = Some(secs * SEC);
            if matched(&set, &r).is_empty() {
                return false;
            }
            alerter.observe(rule, &r).is_some()
        })
        .collect()
}

/// A Sigma rule with an aggregation, as one rule loaded from text.
fn aggregated(condition: &str, timeframe: &str) -> Rule {
    let yaml = format!(
        "title: Many failures\nid: agg-1\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    sel:\n        - 'Failed password'\n    timeframe: {timeframe}\n    condition: '{condition}'\nlevel: high\n"
    );
    let loaded = load_str(&yaml, Some(Path::new("agg.yml")));
    assert!(loaded.errors.is_empty(), "{condition}: {:?}", loaded.errors);
    let [rule] = <[Rule; 1]>::try_from(loaded.rules).expect("one rule");
    rule
}

#[test]
fn aggregations_become_thresholds() {
    for (condition, timeframe, count, window, group_by) in [
        ("sel | count() by src_ip > 5", "10m", 6, 600, vec!["src_ip"]),
        (
            "sel | count() by SourceIp >= 5",
            "30s",
            5,
            30,
            vec!["src_ip"],
        ),
        ("sel | count() > 0", "1h", 1, 3600, vec![]),
        (
            "sel | count() by User, src_ip > 2",
            "2d",
            3,
            172_800,
            vec!["user", "src_ip"],
        ),
    ] {
        let rule = aggregated(condition, timeframe);
        let t = rule.threshold.expect(condition);
        assert_eq!(t.correlate, None, "{condition}");
        assert_eq!(t.count, count, "{condition}");
        assert_eq!(t.window, Duration::from_secs(window), "{condition}");
        assert_eq!(t.group_by, group_by, "{condition}");
    }
    for (condition, timeframe, unsupported, want) in [
        (
            "sel | count() by src_ip < 3",
            "10m",
            true,
            "`<` (only `>` and `>=`: whether a window held fewer than or exactly N matches is known only when it ends",
        ),
        ("sel | count() by src_ip <= 3", "10m", true, "`<=`"),
        ("sel | count() by src_ip = 3", "10m", true, "`=`"),
        (
            "sel | sum(port) by src_ip > 3",
            "10m",
            true,
            "`sum()` (only `count()` and `near`)",
        ),
        (
            "sel | count() by src_ip > x",
            "10m",
            false,
            "`x` is not a whole number",
        ),
        ("sel | count() src_ip > 3", "10m", false, "expected `by`"),
        (
            "sel | count() by src_ip > 3",
            "10y",
            false,
            "`timeframe: 10y`",
        ),
        (
            "sel | count() by src_ip > 3",
            "8d",
            false,
            "between 1 and 604800 seconds",
        ),
        ("(sel near sel)", "10m", true, "`near` inside parentheses"),
        (
            "sel | near sel and not sel",
            "10m",
            true,
            "`near … and not …`",
        ),
        ("sel | count(a, b) > 3", "10m", false, "one field name"),
        (
            "sel | count(user) > 10000",
            "10m",
            false,
            "at most 10000 distinct",
        ),
    ] {
        let yaml = format!(
            "title: T\nid: agg-2\nlogsource:\n    product: linux\ndetection:\n    sel:\n        - x\n    timeframe: {timeframe}\n    condition: '{condition}'\n"
        );
        let loaded = load_str(&yaml, Some(Path::new("agg.yml")));
        let [err] = loaded.errors.as_slice() else {
            panic!("{condition}: {:?}", loaded.rules)
        };
        assert_eq!(err.is_unsupported(), unsupported, "{condition}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(want),
            "{condition}: expected `{want}` in {text}"
        );
        assert!(text.starts_with("agg.yml: rule `agg-2`"), "{text}");
    }
}

#[test]
fn aggregation_alerts_once_per_window_crossing_per_group() {
    const SEC: i64 = 1_000_000;
    let rule = aggregated("sel | count() by src_ip > 2", "1m");
    let set = RuleSet::compile(vec![rule.clone()]).expect("compiles");
    let config = AlertingConfig {
        max_groups: 2,
        ..AlertingConfig::default()
    };
    let mut alerter = Alerter::in_memory(config, Arc::new(ManualClock::new(0)));
    let mut feed = |ip: &str, secs: i64| {
        let mut r = rec(
            "sshd",
            &format!("Failed password for root from {ip} port 22 ssh2"),
            &[("src_ip", ip)],
        );
        r.timestamp_micros = Some(secs * SEC);
        assert_eq!(matched(&set, &r), ["Many failures"]);
        alerter.observe(&rule, &r).is_some()
    };
    // Three within a minute (count > 2) alert once; the fourth is the same window crossing.
    assert!(!feed("198.51.100.7", 0));
    assert!(!feed("198.51.100.7", 10));
    // Another group's hits count apart.
    assert!(!feed("203.0.113.9", 15));
    assert!(feed("198.51.100.7", 20));
    assert!(!feed("198.51.100.7", 25));
    // Spread over more than a minute: no alert.
    assert!(!feed("203.0.113.9", 80));
    assert!(!feed("203.0.113.9", 150));
    // A third group evicts the least recently used one (bounded state, counted).
    assert!(!feed("192.0.2.1", 160));
    assert!(alerter.state_stats().evictions >= 1);
    assert_eq!(alerter.counters().alerts, 1);
}

const DISTINCT: &str = "    sel:\n        - 'Failed password'\n    timeframe: 10m\n    condition: sel | count(user) by src_ip > 2\n";

fn failed(user: &str) -> String {
    format!("Failed password for {user} from 198.51.100.7 port 4242 ssh2")
}

#[test]
fn distinct_count_alerts_on_many_accounts_from_one_source() {
    let rule = sigma_rule(DISTINCT);
    let t = rule.threshold.clone().expect("a threshold");
    assert_eq!(t.correlate, Some(Correlate::Distinct("user".into())));
    assert_eq!(
        (t.count, t.group_by.clone()),
        (3, vec!["src_ip".to_owned()])
    );
    let ip7: &[(&str, &str)] = &[("src_ip", "198.51.100.7"), ("user", "")];
    let at = |u: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("src_ip", "198.51.100.7"), ("user", u)]
    };
    let (root, admin, oracle, guest) = (at("root"), at("admin"), at("oracle"), at("guest"));
    let other: &[(&str, &str)] = &[("src_ip", "203.0.113.9"), ("user", "backup")];
    let (m_root, m_admin, m_oracle, m_guest) = (
        failed("root"),
        failed("admin"),
        failed("oracle"),
        failed("guest"),
    );
    // Positive: root, admin, root again, then oracle: three distinct accounts within 10 minutes
    // (count > 2) alert on the third distinct one, not on the repeat.
    assert_eq!(
        alerts(
            &rule,
            &[
                (&m_root, &root, 0),
                (&m_admin, &admin, 60),
                (&m_root, &root, 120),
                (&m_oracle, &oracle, 180),
            ]
        ),
        [false, false, false, true]
    );
    // Near miss: one account mistyped ten times is one value, never three.
    let ten: Vec<Line<'_>> = (0..10)
        .map(|i| (m_root.as_str(), &root[..], i * 5))
        .collect();
    assert!(alerts(&rule, &ten).iter().all(|a| !a));
    // Near miss: three accounts, but another address holds one of them (groups apart).
    assert_eq!(
        alerts(
            &rule,
            &[
                (&m_root, &root, 0),
                (&m_admin, &admin, 10),
                (
                    "Failed password for backup from 203.0.113.9 port 1 ssh2",
                    other,
                    20
                ),
            ]
        ),
        [false, false, false]
    );
    // Near miss: three accounts spread over more than 10 minutes (root's hit has left the
    // window when oracle comes); a fourth account inside the window with admin and oracle alerts.
    assert_eq!(
        alerts(
            &rule,
            &[
                (&m_root, &root, 0),
                (&m_admin, &admin, 400),
                (&m_oracle, &oracle, 700),
                (&m_guest, &guest, 710),
            ]
        ),
        [false, false, false, true]
    );
    // A match without the counted field is not counted.
    let no_user: &[(&str, &str)] = &[("src_ip", "198.51.100.7")];
    assert_eq!(
        alerts(
            &rule,
            &[
                (&m_root, &root, 0),
                (&m_admin, &admin, 1),
                (
                    "Failed password for x from 198.51.100.7 port 1 ssh2",
                    no_user,
                    2
                ),
                (&m_admin, ip7, 3),
            ]
        ),
        // The empty user is a value of its own: the third distinct one.
        [false, false, false, true]
    );
}

#[test]
fn distinct_count_with_gte_and_without_group() {
    let rule = sigma_rule(
        "    sel:\n        - 'Failed password'\n    timeframe: 1m\n    condition: sel | count(src_ip) >= 2\n",
    );
    let t = rule.threshold.clone().expect("a threshold");
    assert_eq!((t.count, t.group_by.is_empty()), (2, true));
    let a: &[(&str, &str)] = &[("src_ip", "198.51.100.7")];
    let b: &[(&str, &str)] = &[("src_ip", "198.51.100.8")];
    let msg = "Failed password for root from 198.51.100.x port 1 ssh2";
    assert_eq!(
        alerts(&rule, &[(msg, a, 0), (msg, a, 5), (msg, b, 10)]),
        [false, false, true]
    );
    // Two addresses 61 s apart: not within one minute.
    assert_eq!(alerts(&rule, &[(msg, a, 0), (msg, b, 61)]), [false, false]);
}

const NEAR: &str = "    failed:\n        - 'Failed password'\n    accepted:\n        - 'Accepted password'\n    timeframe: 1m\n";

#[test]
fn near_alerts_when_every_part_matches_within_the_timeframe() {
    let none: &[(&str, &str)] = &[];
    let f = "Failed password for root from 198.51.100.7 port 1 ssh2";
    let ok = "Accepted password for root from 198.51.100.7 port 2 ssh2";
    let other = "Connection closed by 198.51.100.7 port 3";
    for condition in [
        "failed near accepted",
        "failed | near accepted",
        "failed NEAR accepted",
    ] {
        let rule = sigma_rule(&format!("{NEAR}    condition: '{condition}'\n"));
        let t = rule.threshold.clone().expect("a threshold");
        assert!(matches!(t.correlate, Some(Correlate::Near(ref n)) if n.parts().len() == 2));
        assert_eq!(
            (t.count, t.window),
            (2, Duration::from_secs(60)),
            "{condition}"
        );
        // Positive: a failure then a success 30 s later.
        assert_eq!(
            alerts(&rule, &[(f, none, 0), (ok, none, 30)]),
            [false, true],
            "{condition}"
        );
        // Positive, the other order: near is symmetric.
        assert_eq!(
            alerts(&rule, &[(ok, none, 0), (f, none, 30)]),
            [false, true],
            "{condition}"
        );
        // Near miss: failures only, however many.
        let fails: Vec<Line<'_>> = (0..20).map(|i| (f, none, i)).collect();
        assert!(alerts(&rule, &fails).iter().all(|a| !a), "{condition}");
        // Near miss: the success 90 s after the failure; unrelated lines do not count.
        assert_eq!(
            alerts(&rule, &[(f, none, 0), (other, none, 30), (ok, none, 90)]),
            [false, false, false],
            "{condition}"
        );
    }
}

#[test]
fn near_with_several_parts_needs_all_of_them() {
    let rule = sigma_rule(&format!(
        "{NEAR}    closed:\n        - 'Connection closed'\n    condition: failed | near accepted and closed\n"
    ));
    assert_eq!(rule.threshold.as_ref().map(|t| t.count), Some(3));
    let none: &[(&str, &str)] = &[];
    let f = "Failed password for root from 198.51.100.7 port 1 ssh2";
    let ok = "Accepted password for root from 198.51.100.7 port 2 ssh2";
    let closed = "Connection closed by 198.51.100.7 port 3";
    assert_eq!(
        alerts(&rule, &[(f, none, 0), (ok, none, 10), (closed, none, 20)]),
        [false, false, true]
    );
    // Two of the three within the window, the third too late: no alert.
    assert_eq!(
        alerts(&rule, &[(f, none, 0), (ok, none, 10), (closed, none, 80)]),
        [false, false, false]
    );
}

/// The vendored fixtures that used to be rejected load now: SigmaHQ's distinct-count rule and a
/// `near` rule. (The SigmaHQ one reads `pam_*` fields no parser produces: it loads, it does not
/// fire on real lines; docs/rules.md says so.)
#[test]
fn correlation_fixtures_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/sigma_correlation");
    let report = validate_dir(&dir);
    assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
    let mut kinds: Vec<(String, Option<Correlate>)> = report
        .loaded
        .iter()
        .map(|r| {
            let t = r.threshold.clone().expect("a threshold");
            let c = match t.correlate {
                Some(Correlate::Near(_)) => None,
                other => other,
            };
            (r.id.clone(), c)
        })
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("33333333-4444-4555-8666-777777777777".to_owned(), None),
            (
                "fc947f8e-ea81-4b14-9a7b-13f888f94e18".to_owned(),
                Some(Correlate::Distinct("pam_user".into()))
            ),
        ]
    );
}
