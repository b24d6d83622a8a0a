//! Alpine package versions, ordered as apk-tools 2 (the `apk` of Alpine 3.x) orders them.
//!
//! The format (apk-tools' own summary, after Gentoo): `number{.number}...{letter}{_suffix{number}}...{-rN}`.
//! A version is read as a sequence of tokens — the first number, `.`-separated numbers, one
//! lower-case letter, `_alpha`/`_beta`/`_pre`/`_rc` (below the release) or
//! `_cvs`/`_svn`/`_git`/`_hg`/`_p` (above it) with an optional number, and the `-rN` package
//! release — compared pairwise while the token kinds agree. A `.`-component with leading zeros
//! weighs minus its count of zeros (so `1.01` < `1.1`, the behaviour apk-tools 2 has). When one
//! version runs out of tokens or the kinds differ, the version continuing with a pre-release
//! suffix is lower; otherwise the one whose next token comes later in the format is lower (so
//! `1.0` > `1`, `1.0_p1` > `1.0`, `1.0-r1` > `1.0`, `1a` < `1.0`).
//!
//! One deliberate difference: apk-tools 2 reads a number after the zeros of `.0` even when none
//! follows, which puts `1.0_alpha` above `1.0`; here `1.0_alpha` < `1.0` as the format intends.

use std::cmp::Ordering;

/// Token kinds in the order of the format: a later kind at a point where the versions differ in
/// kind makes that version the lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    /// A number after a `.`, whose leading zeros are weighed.
    DotNumber,
    Number,
    Letter,
    Suffix,
    SuffixNumber,
    Revision,
    End,
}

/// One token: its kind and its weight.
type Token = (Kind, i64);

const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// A parsed apk version: its tokens, the last one [`Kind::End`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Apk {
    tokens: Vec<Token>,
}

/// The kind of the token starting at `s[*pos..]` after a token of kind `prev`, consuming a
/// separator (`.`, `_`, `-r`); `None` if the format does not allow it there.
fn next_kind(prev: Kind, s: &[u8], pos: &mut usize) -> Option<Kind> {
    let Some(&c) = s.get(*pos) else {
        return Some(Kind::End);
    };
    let kind = if matches!(prev, Kind::Number | Kind::DotNumber) && c.is_ascii_lowercase() {
        Kind::Letter
    } else if prev == Kind::Letter && c.is_ascii_digit() {
        Kind::Number
    } else if prev == Kind::Suffix && c.is_ascii_digit() {
        Kind::SuffixNumber
    } else {
        *pos += 1;
        match c {
            b'.' => Kind::DotNumber,
            b'_' => Kind::Suffix,
            b'-' if s.get(*pos) == Some(&b'r') => {
                *pos += 1;
                Kind::Revision
            }
            _ => return None,
        }
    };
    // Tokens come in the format's order; a number may follow a number or a letter (`1.2a3`) and a
    // suffix may follow a suffix number (`_rc1_p2`).
    let back_allowed = matches!(
        (prev, kind),
        (Kind::Number, Kind::DotNumber)
            | (Kind::SuffixNumber, Kind::Suffix)
            | (Kind::Letter, Kind::Number)
    );
    (kind >= prev || back_allowed).then_some(kind)
}

/// Reads digits as a saturating number.
fn digits(s: &[u8], pos: &mut usize) -> i64 {
    let mut v: i64 = 0;
    while let Some(d) = s.get(*pos).filter(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        *pos += 1;
    }
    v
}

impl Apk {
    /// Parses a version; `None` unless it follows the format throughout.
    pub fn parse(s: &str) -> Option<Apk> {
        let s = s.trim().as_bytes();
        if s.is_empty() || s.len() > 256 {
            return None;
        }
        let mut tokens = Vec::new();
        let mut kind = Kind::Number;
        let mut pos = 0;
        loop {
            if pos >= s.len() {
                // A trailing separator (`1.`) is a token of weight 0 with nothing after it.
                tokens.push((kind, 0));
                tokens.push((Kind::End, 0));
                break;
            }
            let mut forced = None;
            let weight = match kind {
                Kind::DotNumber if s[pos] == b'0' => {
                    let start = pos;
                    while s.get(pos) == Some(&b'0') {
                        pos += 1;
                    }
                    // apk-tools 2 reads on as a number even when none follows, which makes
                    // `1.0_alpha` sort above `1.0`; a number is read only when digits follow.
                    if s.get(pos).is_some_and(u8::is_ascii_digit) {
                        forced = Some(Kind::Number);
                    }
                    -((pos - start) as i64)
                }
                Kind::DotNumber | Kind::Number | Kind::SuffixNumber | Kind::Revision => {
                    digits(s, &mut pos)
                }
                Kind::Letter => {
                    pos += 1;
                    i64::from(s[pos - 1])
                }
                Kind::Suffix => {
                    let rest = &s[pos..];
                    if let Some(i) = PRE.iter().position(|p| rest.starts_with(p.as_bytes())) {
                        pos += PRE[i].len();
                        i as i64 - PRE.len() as i64
                    } else if let Some(i) = POST.iter().position(|p| rest.starts_with(p.as_bytes()))
                    {
                        pos += POST[i].len();
                        i as i64
                    } else {
                        return None;
                    }
                }
                Kind::End => return None,
            };
            tokens.push((kind, weight));
            if pos >= s.len() {
                tokens.push((Kind::End, 0));
                break;
            }
            kind = match forced {
                Some(k) => k,
                None => next_kind(kind, s, &mut pos)?,
            };
        }
        Some(Apk { tokens })
    }
}

impl Ord for Apk {
    fn cmp(&self, other: &Self) -> Ordering {
        for (i, (&(ka, va), &(kb, vb))) in self.tokens.iter().zip(&other.tokens).enumerate() {
            debug_assert_eq!(ka, kb, "kinds agree up to here");
            if va != vb {
                return va.cmp(&vb);
            }
            let (na, nb) = (self.tokens.get(i + 1), other.tokens.get(i + 1));
            let (Some(&(na, wa)), Some(&(nb, wb))) = (na, nb) else {
                return Ordering::Equal;
            };
            if na == nb {
                if na == Kind::End {
                    return Ordering::Equal;
                }
                continue;
            }
            // The kinds part: a pre-release suffix is lower than anything, else the later kind
            // (the shorter version at its end) is lower.
            if na == Kind::Suffix && wa < 0 {
                return Ordering::Less;
            }
            if nb == Kind::Suffix && wb < 0 {
                return Ordering::Greater;
            }
            return nb.cmp(&na);
        }
        Ordering::Equal
    }
}

impl PartialOrd for Apk {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let pa = Apk::parse(a).expect("valid version a");
        let pb = Apk::parse(b).expect("valid version b");
        pa.cmp(&pb)
    }

    /// The ordering apk's documentation (apk-package(5), `pkgver`) and Alpine's packaging
    /// guidelines describe.
    #[test]
    fn documented_order() {
        let ascending = [
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_alpha2",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0-r2",
            "1.0-r10",
            "1.0_cvs",
            "1.0_svn",
            "1.0_git20240101",
            "1.0_hg",
            "1.0_p1",
            "1.0_p2",
            "1.0.1",
            "1.0.1a",
            "1.0.1b",
            "1.0.2",
            "1.1",
            "1.2",
            "1.10",
            "2",
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        for (a, b, want) in [
            ("3.1.4-r5", "3.1.4-r5", Equal),
            ("3.0.12-r0", "3.0.12", Greater),
            ("1.01", "1.1", Less),
            ("1.0", "1", Greater),
            ("1a", "1.0", Less),
            ("2.4.58-r1", "2.4.59-r0", Less),
            ("1.36.1-r15", "1.36.1-r2", Greater),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn refuses_what_the_format_does_not_allow() {
        for bad in [
            "", "_1", "1.0-1", "1.0_foo", "1.0-r1.2", "1.0_p1a", "1.0 1", "1.0A",
        ] {
            assert!(Apk::parse(bad).is_none(), "{bad:?}");
        }
    }
}
