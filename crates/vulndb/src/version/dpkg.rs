//! Debian package versions (`[epoch:]upstream[-revision]`), ordered as Debian Policy 5.6.12
//! describes and `dpkg --compare-versions` implements: epochs numerically, then upstream and
//! revision each by alternating runs of non-digits (compared character by character, `~` before
//! the end of the string, the end before letters, letters before every other character) and digit
//! runs (compared as numbers).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// A parsed Debian version. Equality is the ordering's (`1.0` equals `1.00` and `0:1.0-0`).
#[derive(Debug, Clone)]
pub struct Dpkg {
    epoch: u32,
    upstream: String,
    revision: String,
}

impl Dpkg {
    /// Parses a version as dpkg does, refusing what dpkg refuses as an error (empty, embedded
    /// whitespace, a non-numeric or too large epoch, nothing after the epoch, an empty revision).
    /// Characters outside Policy's alphabet, which dpkg only warns about, are accepted.
    pub fn parse(s: &str) -> Option<Dpkg> {
        let s = s.trim();
        if s.is_empty() || s.bytes().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let epoch: u32 = e.parse().ok()?;
                if epoch > i32::MAX as u32 {
                    return None;
                }
                (epoch, rest)
            }
            None => (0, s),
        };
        if rest.is_empty() {
            return None;
        }
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return None,
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return None;
        }
        Some(Dpkg {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }
}

/// Weight of a non-digit position; `0` is the end of the string (and digits, which end a run).
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// Compares an upstream version or a revision.
fn part_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // The non-digit run, position by position.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // The digit run, as a number: leading zeros dropped, then length, then digits.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let (si, sj) = (i, j);
        while digit(a, i) {
            i += 1;
        }
        while digit(b, j) {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let by_number = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if by_number != Ordering::Equal {
            return by_number;
        }
    }
    Ordering::Equal
}

impl Ord for Dpkg {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| part_cmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| part_cmp(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

impl PartialOrd for Dpkg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Dpkg {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Dpkg {}

impl Hash for Dpkg {
    /// Only the epoch: versions equal by the ordering can be spelt differently.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let pa = Dpkg::parse(a).expect("valid version a");
        let pb = Dpkg::parse(b).expect("valid version b");
        pa.cmp(&pb)
    }

    /// Debian Policy 5.6.12's own examples, and dpkg's test suite's classics.
    #[test]
    fn policy_examples() {
        for (a, b, want) in [
            // "~~ sorts before ~~a, which sorts before ~, before the empty part, before a".
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0~rc1", "1.0", Less),
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
            ("1.0-1", "1.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("1.0+dfsg", "1.0", Greater),
            ("1.0+b1", "1.0.1", Less),
            ("2.36.1-8+deb12u1", "2.36.1-8", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1.2-3-4", "1.2-3-5", Less),
            ("a", "b", Less),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn refuses_what_dpkg_refuses() {
        for bad in [
            "",
            " ",
            "1 0",
            "a:1",
            ":1",
            "1:",
            "1.0-",
            "-1",
            "99999999999:1",
        ] {
            assert!(Dpkg::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(Dpkg::parse("3:1.0").expect("epoch").epoch(), 3);
    }
}
