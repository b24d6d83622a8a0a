//! Required literals: for a rule, a small set of strings at least one of which occurs in every
//! message the rule can match. The [`RuleSet`](super::RuleSet) prefilter looks for all of them in
//! one Aho-Corasick pass and evaluates only the rules whose set was hit.
//!
//! Sets are compared ASCII case-insensitively by the automaton, so they are stored lowercased. That
//! over-approximates for case-sensitive conditions (a candidate the full evaluation then rejects),
//! never the reverse. Regexes are analysed on their `regex_syntax` HIR: literals and small classes
//! (case-insensitive letters are two-element classes) concatenate; any run of consecutive
//! fixed-string pieces, any required sub-expression, or the union over an alternation's branches is
//! a valid set, and the most selective one is kept.
//!
//! Architecture invariant: a set is only ever derived from conditions on `message`, and every
//! returned literal is non-empty; `None` means "no literal is required" (the rule is always
//! evaluated).

use regex_syntax::hir::{Class, Hir, HirKind};

use super::expr::{Condition, Expr, Op};

/// Most literals in one any-of set.
const MAX_SET: usize = 64;
/// Largest character class expanded into literals.
const MAX_CLASS: u32 = 8;
/// Longest literal kept in an exact (fixed-string) set.
const MAX_LIT_LEN: usize = 256;

/// ASCII-lowercased literals; sorted and deduplicated.
pub(crate) type LitSet = Vec<Vec<u8>>;

/// Shortest ASCII run a literal with non-ASCII bytes is cut to ([`simplify`]).
const MIN_CUT: usize = 6;

/// The required literal set of `expr`, if it has one, [`simplify`]d.
pub(crate) fn required(expr: &Expr) -> Option<LitSet> {
    required_raw(expr).map(simplify)
}

/// A smaller set that is required whenever `set` is: each literal with non-ASCII bytes replaced
/// by its longest ASCII run when that has at least [`MIN_CUT`] bytes (any substring of a required
/// literal is required), then every literal that contains another member dropped (that member
/// occurs whenever it does). Unicode case folding gives a case-insensitive regex's literals
/// variants with `ſ` (U+017F) for `s` and `K` (U+212A) for `k`: "killed process " has eight,
/// which this turns into one "illed proce"; they were a fifth of the library's literals.
pub(crate) fn simplify(set: LitSet) -> LitSet {
    let mut cut: LitSet = set.into_iter().map(longest_ascii_run).collect();
    cut.sort_unstable_by_key(Vec::len);
    cut.dedup();
    let mut kept: LitSet = Vec::with_capacity(cut.len());
    for l in cut {
        if !kept.iter().any(|k| memchr::memmem::find(&l, k).is_some()) {
            kept.push(l);
        }
    }
    kept.sort_unstable();
    kept
}

/// `lit`'s longest run of ASCII bytes (the first of equals) if `lit` has a non-ASCII byte and the
/// run is at least [`MIN_CUT`] long; else `lit`.
fn longest_ascii_run(lit: Vec<u8>) -> Vec<u8> {
    if lit.is_ascii() {
        return lit;
    }
    let best =
        lit.split(|b| !b.is_ascii()).fold(
            &[][..],
            |best, run| if run.len() > best.len() { run } else { best },
        );
    if best.len() >= MIN_CUT {
        best.to_vec()
    } else {
        lit
    }
}

fn required_raw(expr: &Expr) -> Option<LitSet> {
    match expr {
        Expr::Cond(c) => cond_required_raw(c),
        Expr::All(xs) => xs
            .iter()
            .filter_map(required_raw)
            .fold(None, |b, s| pick(b, Some(s))),
        Expr::Any(xs) if xs.is_empty() => None,
        Expr::Any(xs) => {
            let mut acc = LitSet::new();
            for x in xs {
                acc.extend(required_raw(x)?);
                if acc.len() > MAX_SET * 4 {
                    return None;
                }
            }
            normalize(acc)
        }
        Expr::Not(_) => None,
    }
}

/// The required literal set of one condition, if it has one, [`simplify`]d.
pub(crate) fn cond_required(c: &Condition) -> Option<LitSet> {
    cond_required_raw(c).map(simplify)
}

fn cond_required_raw(c: &Condition) -> Option<LitSet> {
    if c.field != "message" {
        return None;
    }
    let ci = c.case_insensitive;
    match &c.op {
        Op::Equals(s) | Op::Contains(s) | Op::StartsWith(s) | Op::EndsWith(s) => {
            if ci && !s.is_ascii() {
                regex_required(&regex::escape(s), true)
            } else {
                literal_set([s.as_str()])
            }
        }
        Op::Regex(p) => regex_required(p, ci),
        Op::In(values) if ci && values.iter().any(|v| !v.is_ascii()) => None,
        Op::In(values) => literal_set(values.iter().map(String::as_str)),
        Op::Cidr(_) | Op::Exists(_) | Op::Compare(..) | Op::FieldRef(_) => None,
    }
}

fn literal_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Option<LitSet> {
    let mut set = LitSet::new();
    for s in items {
        if s.is_empty() {
            return None;
        }
        // Any prefix of a required literal is required too: long needles are cut.
        let b = &s.as_bytes()[..s.len().min(MAX_LIT_LEN)];
        set.push(b.to_ascii_lowercase());
    }
    normalize(set)
}

/// The required set of a regex compiled with the same flags (`ci` = `case_insensitive`).
pub(crate) fn regex_required(pattern: &str, ci: bool) -> Option<LitSet> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ci)
        .build()
        .parse(pattern)
        .ok()?;
    let info = analyze(&hir);
    pick(info.req, nonempty(info.exact))
}

/// What one HIR node tells about literals.
struct Info {
    /// Every string the node can match, when that is a small finite set (may contain "").
    exact: Option<LitSet>,
    /// A set one of which occurs in every match (never contains "").
    req: Option<LitSet>,
}

fn analyze(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info {
            exact: Some(vec![Vec::new()]),
            req: None,
        },
        HirKind::Literal(lit) => {
            let set = (lit.0.len() <= MAX_LIT_LEN).then(|| vec![lit.0.to_ascii_lowercase()]);
            Info {
                req: set.clone().or_else(|| literal_bytes(&lit.0[..MAX_LIT_LEN])),
                exact: set,
            }
        }
        HirKind::Class(c) => Info {
            exact: class_set(c),
            req: None,
        },
        HirKind::Repetition(r) => {
            let sub = analyze(&r.sub);
            if r.min == 0 {
                let exact = match (r.max, sub.exact) {
                    (Some(1), Some(mut s)) => {
                        s.push(Vec::new());
                        normalize(s)
                    }
                    _ => None,
                };
                Info { exact, req: None }
            } else {
                let exact = if r.min == 1 && r.max == Some(1) {
                    sub.exact.clone()
                } else {
                    None
                };
                Info {
                    exact,
                    req: pick(sub.req, nonempty(sub.exact)),
                }
            }
        }
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Concat(subs) => concat(subs),
        HirKind::Alternation(subs) => alternation(subs),
    }
}

fn literal_bytes(b: &[u8]) -> Option<LitSet> {
    (!b.is_empty()).then(|| vec![b.to_ascii_lowercase()])
}

fn concat(subs: &[Hir]) -> Info {
    let mut best = None;
    let mut run: LitSet = vec![Vec::new()];
    let mut all_exact = true;
    for sub in subs {
        let info = analyze(sub);
        best = pick(best, info.req);
        match info.exact {
            Some(e) => match cross(&run, &e) {
                Some(r) => run = r,
                None => {
                    best = pick(best, nonempty(Some(std::mem::replace(&mut run, e))));
                    all_exact = false;
                }
            },
            None => {
                best = pick(
                    best,
                    nonempty(Some(std::mem::replace(&mut run, vec![Vec::new()]))),
                );
                all_exact = false;
            }
        }
    }
    let exact = all_exact.then(|| run.clone());
    Info {
        exact,
        req: pick(best, nonempty(Some(run))),
    }
}

fn alternation(subs: &[Hir]) -> Info {
    let infos: Vec<Info> = subs.iter().map(analyze).collect();
    let mut exact = Some(LitSet::new());
    let mut req = Some(LitSet::new());
    for info in infos {
        exact = match (exact, info.exact.clone()) {
            (Some(mut acc), Some(e)) if acc.len() + e.len() <= MAX_SET => {
                acc.extend(e);
                Some(acc)
            }
            _ => None,
        };
        req = match (req, pick(info.req, nonempty(info.exact))) {
            (Some(mut acc), Some(r)) if acc.len() + r.len() <= MAX_SET => {
                acc.extend(r);
                Some(acc)
            }
            _ => None,
        };
    }
    Info {
        exact: exact.and_then(normalize),
        req: req.and_then(normalize),
    }
}

/// Every concatenation of a string of `a` with one of `b`, if the result stays small.
fn cross(a: &LitSet, b: &LitSet) -> Option<LitSet> {
    if a.len() * b.len() > MAX_SET {
        return None;
    }
    let mut out = LitSet::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if x.len() + y.len() > MAX_LIT_LEN {
                return None;
            }
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    normalize(out)
}

fn class_set(c: &Class) -> Option<LitSet> {
    let mut out = LitSet::new();
    match c {
        Class::Unicode(u) => {
            let size: u32 = u
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            if size > MAX_CLASS {
                return None;
            }
            for r in u.ranges() {
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    out.push(ch.encode_utf8(&mut buf).as_bytes().to_ascii_lowercase());
                }
            }
        }
        Class::Bytes(b) => {
            let size: u32 = b
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            if size > MAX_CLASS {
                return None;
            }
            for r in b.ranges() {
                for byte in r.start()..=r.end() {
                    out.push(vec![byte.to_ascii_lowercase()]);
                }
            }
        }
    }
    normalize(out)
}

/// Sorted, deduplicated, and within [`MAX_SET`]; `None` when empty or too large.
fn normalize(mut set: LitSet) -> Option<LitSet> {
    set.sort_unstable();
    set.dedup();
    (!set.is_empty() && set.len() <= MAX_SET).then_some(set)
}

/// `set` if it is usable as a requirement: no empty string in it.
fn nonempty(set: Option<LitSet>) -> Option<LitSet> {
    set.filter(|s| !s.is_empty() && s.iter().all(|l| !l.is_empty()))
}

/// The more selective of two sets: the longer shortest literal, then the fewer literals.
fn pick(a: Option<LitSet>, b: Option<LitSet>) -> Option<LitSet> {
    fn score(s: &LitSet) -> (usize, std::cmp::Reverse<usize>) {
        let min = s.iter().map(Vec::len).min().unwrap_or(0);
        (min, std::cmp::Reverse(s.len()))
    }
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_cuts_folding_variants_and_drops_implied_literals() {
        let set = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<LitSet>();
        // The eight Unicode case folding variants of "killed process " (`K` for `k`, `ſ` for `s`)
        // become the one ASCII run they all contain.
        let got = simplify(regex_required("(?i)killed process ", true).expect("a set"));
        assert_eq!(got, set(&["illed proce"]));
        // A literal containing another member is implied by it; a literal whose ASCII runs are
        // all short is kept whole.
        let got = simplify(set(&[
            "failed password ",
            "failed ",
            "invo\u{212A}e",
            "abc",
        ]));
        assert_eq!(got, set(&["abc", "failed ", "invo\u{212A}e"]));
    }

    fn lits(pattern: &str, ci: bool) -> Vec<String> {
        regex_required(pattern, ci)
            .unwrap_or_default()
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn regex_literals() {
        for (pattern, ci, want) in [
            ("Failed password for", false, vec!["failed password for"]),
            (r"Failed \w+ for", false, vec!["failed "]),
            (
                "Failed (password|publickey) for",
                false,
                vec!["failed password for", "failed publickey for"],
            ),
            // Unicode folding: `s` also matches U+017F LONG S.
            (
                "(?i)invalid user",
                false,
                vec!["invalid user", "invalid u\u{17F}er"],
            ),
            (
                "invalid user",
                true,
                vec!["invalid user", "invalid u\u{17F}er"],
            ),
            ("(?i)failed", false, vec!["failed"]),
            (r"^\d+ tries$", false, vec![" tries"]),
            (
                r"(sudo|su)\s+(root|admin|wheel)",
                false,
                vec!["admin", "root", "wheel"],
            ),
            (r"colou?r", false, vec!["color", "colour"]),
            (r"a.*b", false, vec!["a"]),
            (r"\w+", false, vec![]),
            (r"x?", false, vec![]),
            (r"(a|\w+)", false, vec![]),
        ] {
            assert_eq!(lits(pattern, ci), want, "{pattern:?} ci={ci}");
        }
    }

    #[test]
    fn unicode_case_folding_keeps_extra_forms() {
        // (?i)k also matches U+212A KELVIN SIGN: the set must keep it.
        let set = lits("(?i)k", false);
        assert!(set.contains(&"k".to_owned()), "{set:?}");
        assert!(set.contains(&"\u{212A}".to_owned()), "{set:?}");
    }
}
