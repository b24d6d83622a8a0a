//! Our RPM version ordering against rpm itself: `rpm.vercmp` of the real `rpm` of this machine
//! (Debian's `rpm` package, installed by scripts/setup.sh), on generated versions with epochs,
//! releases, `~`, `^`, letters, leading zeros and separators. One rpm process answers a whole
//! batch: its embedded Lua prints one verdict per pair.

use std::cmp::Ordering;
use std::process::Command;

use ironpost_vulndb::version::{Ecosystem, compare};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// rpm's verdicts (`rpm.vercmp(a, b)`: -1, 0 or 1) on every pair, in one process running a Lua
/// script from a file (a long `--eval` argument would exceed the kernel's argument limit).
fn rpm_cmp(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut lua = String::new();
    for (a, b) in pairs {
        // The generated alphabet has no quote, backslash or `%`.
        lua.push_str(&format!(
            "print(rpm.vercmp(\"{a}\", \"{b}\")) print(\"\\n\")\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("pairs.lua");
    std::fs::write(&script, lua).expect("write script");
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: dofile(\"{}\")}}", script.display()))
        .output()
        .expect("rpm runs (these tests need the rpm package: scripts/setup.sh installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "rpm --eval: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let verdicts: Vec<Ordering> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.trim() {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm printed {other:?}"),
        })
        .collect();
    assert_eq!(verdicts.len(), pairs.len(), "one verdict per pair");
    verdicts
}

/// A version or release part: digits, letters, separators, `~` and `^`.
fn part() -> impl Strategy<Value = String> {
    "[0-9][0-9a-cA.+_~^]{0,7}"
}

/// `[epoch:]version[-release]`.
fn version() -> impl Strategy<Value = String> {
    (
        proptest::option::weighted(0.2, 0u32..3),
        part(),
        proptest::option::weighted(0.8, "[0-9a-c.~^_]{1,6}"),
    )
        .prop_map(|(epoch, v, r)| {
            let mut s = String::new();
            if let Some(e) = epoch {
                s.push_str(&format!("{e}:"));
            }
            s.push_str(&v);
            if let Some(r) = r {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

/// A second version near the first: equal spellings (`0:`, leading zeros, other separators) or
/// one edit away, so that equal and almost-equal cases are exercised, not only random pairs.
fn near(a: String) -> impl Strategy<Value = (String, String)> {
    let zero_epoch = if a.contains(':') {
        a.clone()
    } else {
        format!("0:{a}")
    };
    let variants = prop_oneof![
        version(),
        Just(zero_epoch),
        Just(a.replacen('.', ".0", 1)),
        Just(a.replacen('.', "_", 1)),
        Just(format!("{a}~")),
        Just(format!("{a}^")),
        Just(format!("{a}^git1")),
        Just(format!("{a}a")),
        Just(format!("{a}.1")),
        Just(match a.split_once('-') {
            Some((v, r)) => format!("{v}~rc1-{r}"),
            None => format!("{a}-1"),
        }),
        Just(a.clone()),
    ];
    (Just(a), variants)
}

#[test]
fn matches_rpm_vercmp() {
    let mut runner = TestRunner::new(Config::default());
    let strategy = version().prop_flat_map(near);
    let pairs: Vec<(String, String)> = (0..3000)
        .map(|_| strategy.new_tree(&mut runner).expect("generates").current())
        .collect();
    let verdicts = rpm_cmp(&pairs);
    let mut equal = 0;
    for ((a, b), want) in pairs.iter().zip(verdicts) {
        assert_eq!(
            compare(Ecosystem::RockyLinux, a, b),
            Some(want),
            "{a} vs {b}"
        );
        equal += usize::from(want == Ordering::Equal);
    }
    // The near-pairs must have exercised equality, not only strict order.
    assert!(equal > 100, "only {equal} equal pairs of 3000");
}

/// rpm's own test cases (tests/rpmvercmp.at) and distribution-shaped versions, through rpm too.
#[test]
fn known_cases_agree_with_rpm() {
    let cases: Vec<(String, String)> = [
        ("1.0", "1.0"),
        ("2.0.1", "2.0.1a"),
        ("5.5p10", "5.5p1"),
        ("10xyz", "10.1xyz"),
        ("xyz.4", "8"),
        ("1.0aa", "1.0a"),
        ("10.0001", "10.1"),
        ("2.0", "2_0"),
        ("a+", "a_"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1~git123", "1.0~rc1"),
        ("1.0^", "1.0"),
        ("1.0^git1", "1.01"),
        ("1.0^20160101", "1.0.1"),
        ("1.0^git1~pre", "1.0^git1"),
        ("1:1.0-1", "2.0-1"),
        ("3.0.7-24.el9", "3.0.7-25.el9"),
        ("1:3.0.7-24.el9", "3.0.7-27.el9"),
        ("2.34-60.el9", "2.34-60.el9_2.7"),
        ("1.0-1", "1.0"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for ((a, b), want) in cases.iter().zip(rpm_cmp(&cases)) {
        assert_eq!(
            compare(Ecosystem::AlmaLinux, a, b),
            Some(want),
            "{a} vs {b}"
        );
    }
}
