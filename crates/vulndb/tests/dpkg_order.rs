//! Our Debian version ordering against the real `dpkg --compare-versions` of this machine (a
//! Debian host: the project's test machines are; install `dpkg` elsewhere), on generated versions
//! with epochs, `~`, `+`, `.`, letters, leading zeros and revisions.

use std::cmp::Ordering;
use std::process::Command;

use ironpost_vulndb::version::{Ecosystem, compare};
use proptest::prelude::*;

/// dpkg's verdict: `lt` and `eq` asked separately (each exit status is the answer).
fn dpkg_cmp(a: &str, b: &str) -> Ordering {
    let ask = |op: &str| {
        let out = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .output()
            .expect("dpkg runs (these tests need a Debian host or the dpkg package)");
        assert!(
            out.stderr.is_empty(),
            "dpkg complained about {a:?} / {b:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        match out.status.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!("dpkg --compare-versions {a} {op} {b}: exit {other:?}"),
        }
    };
    if ask("lt") {
        Ordering::Less
    } else if ask("eq") {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

/// Upstream versions start with a digit (dpkg only warns otherwise, and the test refuses warnings).
fn upstream() -> impl Strategy<Value = String> {
    ("[0-9]", "[0-9a-cA.+~]{0,7}").prop_map(|(d, rest)| format!("{d}{rest}"))
}

fn version() -> impl Strategy<Value = String> {
    (
        proptest::option::weighted(0.2, 0u32..3),
        upstream(),
        proptest::option::weighted(0.6, "[0-9a-c.+~]{1,5}"),
        proptest::option::weighted(0.15, "[0-9][0-9a-b.~]{0,3}"),
    )
        .prop_map(|(epoch, up, rev, mid)| {
            let mut s = String::new();
            if let Some(e) = epoch {
                s.push_str(&format!("{e}:"));
            }
            s.push_str(&up);
            if let Some(rev) = rev {
                // A hyphen inside the upstream part is allowed when a revision follows.
                if let Some(mid) = mid {
                    s.push('-');
                    s.push_str(&mid);
                }
                s.push('-');
                s.push_str(&rev);
            }
            s
        })
}

/// A second version near the first: often equal spellings (`0:`, leading zeros, `-0`) or one
/// edit away, so that the equal and almost-equal cases are exercised, not only random pairs.
fn near(a: String) -> impl Strategy<Value = (String, String)> {
    let zero_epoch = if a.contains(':') {
        a.clone()
    } else {
        format!("0:{a}")
    };
    let zero_revision = if a.contains('-') {
        a.clone()
    } else {
        format!("{a}-0")
    };
    let variants = prop_oneof![
        version(),
        Just(zero_epoch),
        Just(a.replacen('.', ".0", 1)),
        Just(format!("{a}~")),
        Just(format!("{a}+b1")),
        Just(zero_revision),
        Just(a.clone()),
    ];
    (Just(a), variants)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn matches_dpkg_compare_versions((a, b) in version().prop_flat_map(near)) {
        let ours = compare(Ecosystem::Debian, &a, &b);
        prop_assert_eq!(ours, Some(dpkg_cmp(&a, &b)), "{} vs {}", a, b);
    }
}

/// The cases of Debian Policy 5.6.12 and dpkg's own documentation, through dpkg as well.
#[test]
fn policy_examples_agree_with_dpkg() {
    for (a, b) in [
        ("1.0~~", "1.0~~a"),
        ("1.0~~a", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0", "1.0a"),
        ("1:1.0", "2.0"),
        ("1.0", "1.0-0"),
        ("1.001", "1.1"),
        ("2.36.1-8+deb12u1", "2.36.1-8"),
        ("3.0.11-1~deb12u2", "3.0.11-1"),
        ("1.2-3-4", "1.2-3-5"),
        ("7.88.1-10+deb12u8", "7.88.1-10+deb12u12"),
    ] {
        assert_eq!(
            compare(Ecosystem::Debian, a, b),
            Some(dpkg_cmp(a, b)),
            "{a} vs {b}"
        );
    }
}
