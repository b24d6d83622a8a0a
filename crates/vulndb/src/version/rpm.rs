//! RPM package versions (`[epoch:]version[-release]`), ordered as rpm's `rpmvercmp` and
//! `rpmverCmp` order them: epochs numerically (missing is 0), then version, then release, each
//! compared segment by segment. A string splits into runs of ASCII digits and runs of ASCII
//! letters; every other character only separates runs, except `~` (sorts before everything,
//! the end of the string included: `1.0~rc1 < 1.0`) and `^` (sorts after the end of the string
//! but before any further run: `1.0 < 1.0^git1 < 1.0.1`). Digit runs compare as numbers
//! (leading zeros ignored) and sort after letter runs; letter runs compare byte by byte.
//!
//! A missing release sorts before any present one, even an empty one or `~` (rpm 4.18's
//! `rpm.vercmp`: `1.0 < 1.0-~ < 1.0- < 1.0-1`); tests check this order against rpm itself
//! (crates/vulndb/tests/rpm_order.rs).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// One segment of a version or release, in the order rpm sorts kinds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Tilde,
    Caret,
    Alpha(String),
    /// Digits without leading zeros (`""` is zero).
    Num(String),
}

/// What a position holds: a segment or the end of the string.
fn rank(s: Option<&Seg>) -> u8 {
    match s {
        Some(Seg::Tilde) => 0,
        None => 1,
        Some(Seg::Caret) => 2,
        Some(Seg::Alpha(_)) => 3,
        Some(Seg::Num(_)) => 4,
    }
}

fn segments(s: &str) -> Vec<Seg> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'~' {
            out.push(Seg::Tilde);
            i += 1;
        } else if c == b'^' {
            out.push(Seg::Caret);
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = s[start..i].trim_start_matches('0');
            out.push(Seg::Num(digits.to_owned()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Seg::Alpha(s[start..i].to_owned()));
        } else {
            i += 1;
        }
    }
    out
}

/// `rpmvercmp` on segment lists.
fn cmp_segments(a: &[Seg], b: &[Seg]) -> Ordering {
    let mut i = 0;
    loop {
        let (x, y) = (a.get(i), b.get(i));
        if x.is_none() && y.is_none() {
            return Ordering::Equal;
        }
        let ord = rank(x).cmp(&rank(y)).then_with(|| match (x, y) {
            (Some(Seg::Num(p)), Some(Seg::Num(q))) => p.len().cmp(&q.len()).then_with(|| p.cmp(q)),
            (Some(Seg::Alpha(p)), Some(Seg::Alpha(q))) => p.as_bytes().cmp(q.as_bytes()),
            _ => Ordering::Equal,
        });
        if ord != Ordering::Equal {
            return ord;
        }
        i += 1;
    }
}

/// A parsed RPM version. Equality is the ordering's (`1.0` equals `1_0`, `01.0` and `0:1.0`).
#[derive(Debug, Clone)]
pub struct Rpm {
    /// Digits without leading zeros.
    epoch: String,
    version: Vec<Seg>,
    /// `None` without a `-`.
    release: Option<Vec<Seg>>,
}

impl Rpm {
    /// Parses `[epoch:]version[-release]` as rpm does: an epoch is the leading digits before a
    /// `:` (empty means 0), the release follows the last `-`. Refused: an empty string, one with
    /// whitespace or control characters, an empty version.
    pub fn parse(s: &str) -> Option<Rpm> {
        if s.is_empty()
            || s.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return None;
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match s[digits..].strip_prefix(':') {
            Some(rest) => (s[..digits].trim_start_matches('0'), rest),
            None => ("", s),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        if version.is_empty() {
            return None;
        }
        Some(Rpm {
            epoch: epoch.to_owned(),
            version: segments(version),
            release: release.map(segments),
        })
    }
}

impl Ord for Rpm {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .len()
            .cmp(&other.epoch.len())
            .then_with(|| self.epoch.cmp(&other.epoch))
            .then_with(|| cmp_segments(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => cmp_segments(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for Rpm {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rpm {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rpm {}

/// Equal versions have equal segment lists (separators are dropped, zeros stripped), so hashing
/// those agrees with `Eq`.
impl Hash for Rpm {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        self.version.hash(state);
        self.release.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Rpm::parse(a)
            .expect("parses")
            .cmp(&Rpm::parse(b).expect("parses"))
    }

    #[test]
    fn rpmvercmp_cases() {
        use Ordering::*;
        // From rpm's own test suite (tests/rpmvercmp.at).
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1a", Less),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("5.5p1", "5.5p1", Equal),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0^20160101^git1", "1.0^20160101", Greater),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            // Epochs and releases.
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1", "1.0", Greater),
            // A missing release before any present one, `~` and empty included (rpm 4.18:
            // `rpm.vercmp('0:7', '7-~')` is -1; found by tests/rpm_order.rs).
            ("0:7", "7-~", Less),
            ("7", "7-", Less),
            ("7-~", "7-", Less),
            ("3.0.7-24.el9", "3.0.7-25.el9", Less),
            ("1:3.0.7-24.el9", "3.0.7-27.el9", Greater),
            ("2.34-60.el9", "2.34-60.el9_2.7", Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn parse_refuses() {
        for s in ["", " 1", "1 .0", "1:", "-1", "1:-1", "1\n"] {
            assert!(Rpm::parse(s).is_none(), "{s:?}");
        }
        assert!(
            Rpm::parse("a:1").is_some(),
            "a non-numeric prefix is part of the version"
        );
    }
}
