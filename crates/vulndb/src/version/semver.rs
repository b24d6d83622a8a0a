//! SemVer 2.0 versions as Cargo, npm and Go order them: `major.minor.patch`, an optional
//! pre-release that sorts before the release, and build metadata that takes no part in ordering.
//!
//! Precedence follows semver.org §11: numeric identifiers compare numerically and sort before
//! alphanumeric ones, which compare in ASCII order, and a shorter pre-release list sorts first when
//! all its identifiers are equal. OSV's `SEMVER` range type uses exactly this order.

use std::cmp::Ordering;
use std::fmt;

/// One dot-separated pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ident {
    Num(u64),
    Alpha(Box<str>),
}

impl Ord for Ident {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Ident::Num(a), Ident::Num(b)) => a.cmp(b),
            (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
            (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
            (Ident::Alpha(a), Ident::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ident::Num(n) => write!(f, "{n}"),
            Ident::Alpha(s) => f.write_str(s),
        }
    }
}

/// A parsed SemVer version. Build metadata is dropped at parse time: it never affects precedence,
/// so two versions that differ only in it are equal here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SemVer {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
    pub(crate) pre: Vec<Ident>,
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A pre-release sorts before its release.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

impl SemVer {
    pub(crate) fn new(major: u64, minor: u64, patch: u64) -> Self {
        SemVer {
            major,
            minor,
            patch,
            pre: Vec::new(),
        }
    }

    /// Strict SemVer 2.0: three numeric parts without leading zeros, optional `-pre` and `+build`.
    pub fn parse(s: &str) -> Option<SemVer> {
        plain_triple(s).or_else(|| SemVer::parse_general(s))
    }

    /// [`SemVer::parse`] for any version: build metadata, pre-release identifiers.
    fn parse_general(s: &str) -> Option<SemVer> {
        let (core, build) = match s.split_once('+') {
            Some((c, b)) => (c, Some(b)),
            None => (s, None),
        };
        if let Some(b) = build
            && !b.split('.').all(valid_build_ident)
        {
            return None;
        }
        let (nums, pre) = match core.split_once('-') {
            Some((n, p)) => (n, Some(p)),
            None => (core, None),
        };
        let mut parts = nums.split('.');
        let major = parse_num(parts.next()?)?;
        let minor = parse_num(parts.next()?)?;
        let patch = parse_num(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => p
                .split('.')
                .map(parse_pre_ident)
                .collect::<Option<Vec<_>>>()?,
        };
        Some(SemVer {
            major,
            minor,
            patch,
            pre,
        })
    }

    /// npm and Go spell versions with an optional leading `v` (Go always, npm loosely) or `=`.
    pub fn parse_prefixed(s: &str) -> Option<SemVer> {
        let t = s.trim();
        let t = t.strip_prefix('=').unwrap_or(t);
        let t = t
            .strip_prefix('v')
            .or_else(|| t.strip_prefix('V'))
            .unwrap_or(t);
        SemVer::parse(t)
    }

    pub(crate) fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// `MAJOR.MINOR.PATCH` alone, the form of most versions, in one pass; `None` for anything else
/// (which [`SemVer::parse_general`] then reads, rejecting what this rejects).
fn plain_triple(s: &str) -> Option<SemVer> {
    let mut nums = [0u64; 3];
    let (mut part, mut digits) = (0usize, 0usize);
    for &b in s.as_bytes() {
        match b {
            b'0'..=b'9' => {
                // A leading zero (`01`) is not SemVer.
                if digits == 1 && nums[part] == 0 {
                    return None;
                }
                nums[part] = nums[part]
                    .checked_mul(10)?
                    .checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            b'.' if digits > 0 && part < 2 => {
                part += 1;
                digits = 0;
            }
            _ => return None,
        }
    }
    (part == 2 && digits > 0).then_some(SemVer {
        major: nums[0],
        minor: nums[1],
        patch: nums[2],
        pre: Vec::new(),
    })
}

fn parse_num(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_pre_ident(s: &str) -> Option<Ident> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // semver.org forbids leading zeros in numeric identifiers.
        return parse_num(s).map(Ident::Num);
    }
    Some(Ident::Alpha(s.into()))
}

fn valid_build_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass reader of `MAJOR.MINOR.PATCH` agrees with the general parser.
        #[test]
        fn plain_triples_parse_as_the_general_parser_does(s in "[0-9.]{0,12}|[0-9]{1,21}\\.[0-9]{1,3}\\.[0-9]{1,21}") {
            prop_assert_eq!(SemVer::parse(&s), SemVer::parse_general(&s));
        }
    }

    #[test]
    fn plain_triples() {
        for (s, want) in [
            ("1.2.3", Some((1, 2, 3))),
            ("0.0.0", Some((0, 0, 0))),
            ("10.20.30", Some((10, 20, 30))),
            ("01.2.3", None),
            ("1.2", None),
            ("1.2.3.4", None),
            ("1..3", None),
            ("1.2.", None),
            ("18446744073709551616.0.0", None),
        ] {
            let got = plain_triple(s).map(|v| (v.major, v.minor, v.patch));
            assert_eq!(got, want, "{s}");
            assert_eq!(SemVer::parse(s), SemVer::parse_general(s), "{s}");
        }
    }

    fn v(s: &str) -> SemVer {
        SemVer::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn semver_org_precedence_example() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn table() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.2.3", "1.2.3+build.7", Equal),
            ("1.2.3-rc.1+x", "1.2.3-rc.1", Equal),
            ("0.0.0-0", "0.0.0", Less),
            ("0.3.0-0", "0.2.99", Greater),
            ("1.0.0-1", "1.0.0-a", Less),
            ("1.0.0-Z", "1.0.0-a", Less),
            ("1.0.0-alpha-1", "1.0.0-alpha", Greater),
            ("10.0.0", "9.99.99", Greater),
            ("1.0.0-rc1", "1.0.0-rc.1", Greater),
            ("3.0.0-0.gat.0", "3.0.0-0", Greater),
        ] {
            assert_eq!(v(a).cmp(&v(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3-a..b",
            "a.b.c",
            "1.2.3-é",
            " 1.2.3",
            "v1.2.3",
        ] {
            assert!(SemVer::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn prefixed_forms() {
        assert_eq!(SemVer::parse_prefixed("v1.2.3"), Some(v("1.2.3")));
        assert_eq!(SemVer::parse_prefixed("=1.2.3"), Some(v("1.2.3")));
        assert_eq!(
            SemVer::parse_prefixed("v2.0.0+incompatible"),
            Some(v("2.0.0"))
        );
    }

    #[test]
    fn display_round_trips_without_build() {
        for s in ["1.2.3", "0.0.0-0", "1.0.0-alpha.1.x-y", "3.0.0-0.gat.0"] {
            assert_eq!(v(s).to_string(), s);
        }
        assert_eq!(v("1.2.3+meta").to_string(), "1.2.3");
    }
}
