//! PEP 440 versions as PyPI orders them: `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`.
//!
//! Parsing accepts the spellings PEP 440 normalises (case, a leading `v`, `alpha`/`beta`/`c`/
//! `pre`/`preview`, `-`/`_`/`.` separators, implicit numbers, `1.0-1` as a post-release). The
//! order is the one of `packaging.version`: epoch, release with trailing zeros ignored, then
//! pre-release (a dev-only release sorts before every pre-release of it), post, dev, and local
//! segments where numbers sort after strings.

use std::cmp::Ordering;

/// A bound that sorts below or above every concrete value, as `packaging` uses for absent parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Slot<T> {
    NegInf,
    Val(T),
    PosInf,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LocalSeg {
    Str(Box<str>),
    Num(u64),
}

impl Ord for LocalSeg {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LocalSeg::Num(a), LocalSeg::Num(b)) => a.cmp(b),
            (LocalSeg::Num(_), LocalSeg::Str(_)) => Ordering::Greater,
            (LocalSeg::Str(_), LocalSeg::Num(_)) => Ordering::Less,
            (LocalSeg::Str(a), LocalSeg::Str(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for LocalSeg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A parsed PEP 440 version, stored as its comparison key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pep440 {
    epoch: u64,
    /// Release numbers with trailing zeros removed (`1.0` == `1.0.0`).
    release: Vec<u64>,
    /// (kind 0=a 1=b 2=rc, number); NegInf for dev-only releases, PosInf for none.
    pre: Slot<(u8, u64)>,
    post: Slot<u64>,
    dev: Slot<u64>,
    local: Slot<Vec<LocalSeg>>,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_sep(&mut self) -> bool {
        matches!(self.peek(), Some(b'-' | b'_' | b'.')) && {
            self.i += 1;
            true
        }
    }
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    /// Eats the longest of `words` found at the cursor.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.i..];
        let (idx, w) = words
            .iter()
            .enumerate()
            .filter(|(_, w)| rest.starts_with(w.as_bytes()))
            .max_by_key(|(_, w)| w.len())?;
        self.i += w.len();
        Some(idx)
    }
    /// Tries `f` and rewinds when it fails.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let save = self.i;
        let r = f(self);
        if r.is_none() {
            self.i = save;
        }
        r
    }
}

impl Pep440 {
    pub fn parse(input: &str) -> Option<Pep440> {
        let lower = input.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            i: 0,
        };
        c.eat(b'v');
        let first = c.number()?;
        let (epoch, mut release) = if c.eat(b'!') {
            (first, vec![c.number()?])
        } else {
            (0, vec![first])
        };
        while c.peek() == Some(b'.') {
            match c.attempt(|c| {
                c.eat(b'.');
                c.number()
            }) {
                Some(n) => release.push(n),
                None => break,
            }
        }
        let pre = c.attempt(|c| {
            c.eat_sep();
            let kind = match c.word(&["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"])? {
                0 | 1 => 0,
                2 | 3 => 1,
                _ => 2,
            };
            let n = c.attempt(|c| {
                c.eat_sep();
                c.number()
            });
            Some((kind, n.unwrap_or(0)))
        });
        let post = c
            .attempt(|c| {
                c.eat(b'-');
                c.number()
            })
            .or_else(|| {
                c.attempt(|c| {
                    c.eat_sep();
                    c.word(&["post", "rev", "r"])?;
                    let n = c.attempt(|c| {
                        c.eat_sep();
                        c.number()
                    });
                    Some(n.unwrap_or(0))
                })
            });
        let dev = c.attempt(|c| {
            c.eat_sep();
            c.word(&["dev"])?;
            let n = c.attempt(|c| {
                c.eat_sep();
                c.number()
            });
            Some(n.unwrap_or(0))
        });
        let local = if c.eat(b'+') {
            let rest = std::str::from_utf8(&c.s[c.i..]).ok()?;
            c.i = c.s.len();
            let mut segs = Vec::new();
            for seg in rest.split(['-', '_', '.']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return None;
                }
                segs.push(match seg.parse::<u64>() {
                    Ok(n) if seg.bytes().all(|b| b.is_ascii_digit()) => LocalSeg::Num(n),
                    _ => LocalSeg::Str(seg.into()),
                });
            }
            Slot::Val(segs)
        } else {
            Slot::NegInf
        };
        if c.i != c.s.len() {
            return None;
        }
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        if release == [0] {
            release.clear();
        }
        let pre = match (pre, post, dev) {
            (Some(p), _, _) => Slot::Val(p),
            (None, None, Some(_)) => Slot::NegInf,
            (None, _, _) => Slot::PosInf,
        };
        Some(Pep440 {
            epoch,
            release,
            pre,
            post: post.map_or(Slot::NegInf, Slot::Val),
            dev: dev.map_or(Slot::PosInf, Slot::Val),
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Pep440 {
        Pep440::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn pep440_spec_ordering_example() {
        // The ordering example of PEP 440 ("Summary of permitted suffixes and relative ordering").
        let chain = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1!0.1",
        ];
        for w in chain.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn normalised_spellings_are_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0", "v1.0"),
            ("1.0ALPHA1", "1.0a1"),
            ("1.0-beta.2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0.preview3", "1.0rc3"),
            ("1.0a", "1.0a0"),
            ("1.0-1", "1.0.post1"),
            ("1.0.rev2", "1.0.post2"),
            ("1.0r", "1.0.post0"),
            ("1.0-dev", "1.0.dev0"),
            ("0!1.0", "1.0"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            (" 2.0 ", "2.0"),
            ("0", "0.0.0"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
    }

    #[test]
    fn table() {
        use Ordering::*;
        for (a, b, want) in [
            ("2.0", "10.0", Less),
            ("1.0.post1", "1.0.1", Less),
            ("1.0a1", "1.0.dev1", Greater),
            ("1!1.0", "2.0", Greater),
            ("1.0+local", "1.0", Greater),
            ("1.0+1", "1.0+a", Greater),
            ("1.0+a.1", "1.0+a", Greater),
            ("0.9", "1.0a1", Less),
            ("1.0rc1", "1.0c2", Less),
        ] {
            assert_eq!(v(a).cmp(&v(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "abc",
            "1.0x",
            "1..0",
            "1.0+",
            "1.0+a..b",
            "1.0-",
            "!1.0",
            "1.0.post-x",
        ] {
            assert!(Pep440::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }
}
