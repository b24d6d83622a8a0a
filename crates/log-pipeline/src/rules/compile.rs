//! The compiled form of an [`Expr`] — regexes built, needles prepared, IPs parsed once — and its
//! evaluation against a [`FieldSource`]. Evaluation does not allocate: IPs and numbers that a text
//! operator needs as text are rendered into a stack buffer.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use memchr::memmem::Finder;
use regex::{Regex, RegexBuilder};

use super::expr::{Cmp, Condition, Expr, Op};
use super::literal::{LitSet, cond_required};
use super::{MAX_PATTERN_CHARS, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT, Rule, RuleError};
use crate::fields::{FieldSource, FieldValue};

/// A compiled expression.
#[derive(Debug)]
pub(crate) enum CExpr {
    All(Box<[CExpr]>),
    Any(Box<[CExpr]>),
    Not(Box<CExpr>),
    Leaf(Box<Leaf>),
}

#[derive(Debug)]
pub(crate) struct Leaf {
    field: FieldRef,
    test: Test,
    /// The condition's own required literals (conditions on `message` only), until
    /// [`CExpr::assign_gates`] turns them into automaton pattern ids.
    lits: Option<LitSet>,
    /// Pattern ids of which at least one must have been seen in the message for this leaf to
    /// hold; empty = no gate.
    gate: Box<[u32]>,
    /// The gate alone decides: an ASCII case-insensitive `contains` whose needle is the pattern.
    gate_exact: bool,
}

/// Which automaton patterns occurred in the current record's message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub(crate) stamps: &'a [u32],
    pub(crate) generation: u32,
}

impl Seen<'_> {
    fn has(&self, pattern: u32) -> bool {
        self.stamps.get(pattern as usize) == Some(&self.generation)
    }
}

#[derive(Debug)]
enum FieldRef {
    /// Read through [`FieldSource::message`], the same text the prefilter scans.
    Message,
    Named(Box<str>),
}

#[derive(Debug, Clone, Copy)]
enum TextOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug)]
enum Test {
    Text {
        op: TextOp,
        needle: Box<str>,
        /// For `equals` on an IP-typed field: the needle parsed once.
        ip: Option<IpAddr>,
        /// For `contains` (boxed: a finder is large and most leaves are not `contains`).
        finder: Option<Box<Finder<'static>>>,
    },
    /// ASCII case-insensitive; the needle is ASCII and lowercased.
    TextAsciiCi {
        op: TextOp,
        needle: Box<str>,
        /// For `contains`.
        ac: Option<AhoCorasick>,
    },
    Regex(Regex),
    In {
        values: Box<[Box<str>]>,
        ips: Box<[IpAddr]>,
        ci: bool,
    },
    Cidr(Box<[IpNet]>),
    Exists(bool),
    Compare(Cmp, f64),
    /// Equal to another field of the same record.
    FieldRef(FieldRef),
}

/// Compiles `rule`'s expression; the first problem found is returned.
pub(crate) fn compile_rule(rule: &Rule) -> Result<CExpr, RuleError> {
    compile_expr(&rule.expr, rule)
}

/// Compiles one part of `rule` (a `near` correlation's part); errors name `rule`.
pub(crate) fn compile_part(part: &Expr, rule: &Rule) -> Result<CExpr, RuleError> {
    compile_expr(part, rule)
}

fn compile_expr(e: &Expr, rule: &Rule) -> Result<CExpr, RuleError> {
    Ok(match e {
        Expr::All(xs) => CExpr::All(compile_list(xs, rule)?),
        Expr::Any(xs) => CExpr::Any(compile_list(xs, rule)?),
        Expr::Not(x) => CExpr::Not(Box::new(compile_expr(x, rule)?)),
        Expr::Cond(c) => compile_cond(c, rule)?,
    })
}

fn compile_list(xs: &[Expr], rule: &Rule) -> Result<Box<[CExpr]>, RuleError> {
    xs.iter().map(|x| compile_expr(x, rule)).collect()
}

fn compile_cond(c: &Condition, rule: &Rule) -> Result<CExpr, RuleError> {
    let field = match c.field.as_str() {
        "message" => FieldRef::Message,
        other => FieldRef::Named(other.into()),
    };
    let ci = c.case_insensitive;
    let test = match &c.op {
        Op::Equals(v) => text_test(TextOp::Equals, v, ci, rule)?,
        Op::Contains(v) => text_test(TextOp::Contains, v, ci, rule)?,
        Op::StartsWith(v) => text_test(TextOp::StartsWith, v, ci, rule)?,
        Op::EndsWith(v) => text_test(TextOp::EndsWith, v, ci, rule)?,
        Op::Regex(p) => Test::Regex(build_regex(p, ci, true, rule)?),
        Op::In(values) if ci && values.iter().any(|v| !v.is_ascii()) => {
            // Unicode case folding needs the regex path, one value at a time.
            let leaves = values
                .iter()
                .map(|v| {
                    let op = Op::Equals(v.clone());
                    let cond = Condition {
                        field: c.field.clone(),
                        op,
                        case_insensitive: true,
                    };
                    compile_cond(&cond, rule)
                })
                .collect::<Result<Box<[_]>, _>>()?;
            return Ok(CExpr::Any(leaves));
        }
        Op::In(values) => Test::In {
            values: values
                .iter()
                .map(|v| {
                    if ci {
                        v.to_ascii_lowercase().into_boxed_str()
                    } else {
                        v.as_str().into()
                    }
                })
                .collect(),
            ips: values
                .iter()
                .filter_map(|v| v.parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical())
                .collect(),
            ci,
        },
        Op::Cidr(nets) => Test::Cidr(nets.iter().map(|n| n.trunc()).collect()),
        Op::Exists(want) => Test::Exists(*want),
        Op::Compare(cmp, k) => Test::Compare(*cmp, *k),
        Op::FieldRef(other) => Test::FieldRef(match other.as_str() {
            "message" => FieldRef::Message,
            name => FieldRef::Named(name.into()),
        }),
    };
    let lits = cond_required(c);
    let gate_exact = match (&test, &lits) {
        (
            Test::TextAsciiCi {
                op: TextOp::Contains,
                needle,
                ..
            },
            Some(set),
        ) => set.len() == 1 && set[0] == needle.as_bytes(),
        _ => false,
    };
    Ok(CExpr::Leaf(Box::new(Leaf {
        field,
        test,
        lits,
        gate: Box::new([]),
        gate_exact,
    })))
}

fn text_test(op: TextOp, needle: &str, ci: bool, rule: &Rule) -> Result<Test, RuleError> {
    if ci && !needle.is_ascii() {
        // Unicode simple case folding (`É` = `é`) through the regex crate.
        let body = regex::escape(needle);
        let pattern = match op {
            TextOp::Equals => format!(r"\A(?:{body})\z"),
            TextOp::Contains => body,
            TextOp::StartsWith => format!(r"\A(?:{body})"),
            TextOp::EndsWith => format!(r"(?:{body})\z"),
        };
        return Ok(Test::Regex(build_regex(&pattern, true, false, rule)?));
    }
    if ci {
        let needle = needle.to_ascii_lowercase();
        let ac = match op {
            TextOp::Contains => Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build([needle.as_str()])
                    .map_err(|e| invalid(rule, format!("cannot build matcher: {e}")))?,
            ),
            _ => None,
        };
        return Ok(Test::TextAsciiCi {
            op,
            needle: needle.into_boxed_str(),
            ac,
        });
    }
    Ok(Test::Text {
        op,
        needle: needle.into(),
        ip: match op {
            TextOp::Equals => needle.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()),
            _ => None,
        },
        finder: match op {
            TextOp::Contains => Some(Box::new(Finder::new(needle.as_bytes()).into_owned())),
            _ => None,
        },
    })
}

/// Builds a rule regex with the size limits; `user_pattern` applies the length limit too (it is
/// skipped for patterns this module derives from literals).
pub(crate) fn build_regex(
    pattern: &str,
    ci: bool,
    user_pattern: bool,
    rule: &Rule,
) -> Result<Regex, RuleError> {
    if user_pattern {
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(RuleError::PatternTooLong {
                origin: rule.origin.clone(),
                rule_id: rule.id.clone(),
                chars,
                max: MAX_PATTERN_CHARS,
            });
        }
    }
    RegexBuilder::new(pattern)
        .case_insensitive(ci)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|source| RuleError::Regex {
            origin: rule.origin.clone(),
            rule_id: rule.id.clone(),
            pattern: pattern.to_owned(),
            source,
        })
}

fn invalid(rule: &Rule, reason: String) -> RuleError {
    RuleError::Invalid {
        origin: rule.origin.clone(),
        rule_id: rule.id.clone(),
        reason,
    }
}

impl CExpr {
    /// Evaluates against `rec`. With `seen` (the prefilter's findings for this record's message),
    /// gated leaves whose literals did not occur are false without looking at the text.
    pub(crate) fn eval<R: FieldSource + ?Sized>(&self, rec: &R, seen: Option<Seen<'_>>) -> bool {
        match self {
            CExpr::All(xs) => xs.iter().all(|x| x.eval(rec, seen)),
            CExpr::Any(xs) => xs.iter().any(|x| x.eval(rec, seen)),
            CExpr::Not(x) => !x.eval(rec, seen),
            CExpr::Leaf(leaf) => leaf.eval(rec, seen),
        }
    }

    /// Replaces each leaf's literal set by automaton pattern ids from `intern`.
    pub(crate) fn assign_gates(&mut self, intern: &mut impl FnMut(Vec<u8>) -> u32) {
        match self {
            CExpr::All(xs) | CExpr::Any(xs) => xs.iter_mut().for_each(|x| x.assign_gates(intern)),
            CExpr::Not(x) => x.assign_gates(intern),
            CExpr::Leaf(leaf) => {
                if let Some(set) = leaf.lits.take() {
                    leaf.gate = set.into_iter().map(&mut *intern).collect();
                }
            }
        }
    }
}

impl Leaf {
    fn eval<R: FieldSource + ?Sized>(&self, rec: &R, seen: Option<Seen<'_>>) -> bool {
        if let Some(seen) = seen
            && !self.gate.is_empty()
        {
            // Every match of this leaf contains one of the gate's literals (ASCII
            // case-insensitively), so none seen means false; for `gate_exact` seen means true.
            if !self.gate.iter().any(|&p| seen.has(p)) {
                return false;
            }
            if self.gate_exact {
                return true;
            }
        }
        let value = match &self.field {
            FieldRef::Message => FieldValue::Str(rec.message()),
            FieldRef::Named(name) => match rec.field(name) {
                Some(v) => v,
                None => return matches!(self.test, Test::Exists(false)),
            },
        };
        match &self.test {
            Test::Exists(want) => *want,
            Test::Text {
                op,
                needle,
                ip,
                finder,
            } => match (value, ip) {
                (FieldValue::Ip(got), Some(want)) => got.to_canonical() == *want,
                (FieldValue::Ip(_), None) if matches!(op, TextOp::Equals) => false,
                _ => with_text(&value, |s| match op {
                    TextOp::Equals => s == &**needle,
                    TextOp::Contains => finder
                        .as_ref()
                        .is_some_and(|f| f.find(s.as_bytes()).is_some()),
                    TextOp::StartsWith => s.starts_with(&**needle),
                    TextOp::EndsWith => s.ends_with(&**needle),
                }),
            },
            Test::TextAsciiCi { op, needle, ac } => with_text(&value, |s| {
                let (h, n) = (s.as_bytes(), needle.as_bytes());
                match op {
                    TextOp::Equals => h.eq_ignore_ascii_case(n),
                    TextOp::Contains => ac.as_ref().is_some_and(|ac| ac.is_match(h)),
                    TextOp::StartsWith => {
                        h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n)
                    }
                    TextOp::EndsWith => {
                        h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                    }
                }
            }),
            Test::Regex(re) => with_text(&value, |s| re.is_match(s)),
            Test::In { values, ips, ci } => match value {
                FieldValue::Ip(ip) => ips.contains(&ip.to_canonical()),
                _ => with_text(&value, |s| {
                    values.iter().any(|v| {
                        if *ci {
                            v.eq_ignore_ascii_case(s)
                        } else {
                            **v == *s
                        }
                    })
                }),
            },
            Test::Cidr(nets) => {
                let ip = match value {
                    FieldValue::Ip(ip) => ip,
                    FieldValue::Str(s) => match s.trim().parse::<IpAddr>() {
                        Ok(ip) => ip,
                        Err(_) => return false,
                    },
                    FieldValue::Num(_) => return false,
                };
                let ip = ip.to_canonical();
                nets.iter().any(|n| n.contains(&ip))
            }
            Test::Compare(cmp, k) => {
                let n = match value {
                    FieldValue::Num(n) => n,
                    FieldValue::Str(s) => match s.trim().parse::<f64>() {
                        Ok(n) => n,
                        Err(_) => return false,
                    },
                    FieldValue::Ip(_) => return false,
                };
                cmp.holds(n, *k)
            }
            Test::FieldRef(other) => {
                let theirs = match other {
                    FieldRef::Message => FieldValue::Str(rec.message()),
                    FieldRef::Named(name) => match rec.field(name) {
                        Some(v) => v,
                        None => return false,
                    },
                };
                match (value, theirs) {
                    (FieldValue::Ip(a), FieldValue::Ip(b)) => a.to_canonical() == b.to_canonical(),
                    (a, b) => with_text(&a, |x| with_text(&b, |y| x == y)),
                }
            }
        }
    }
}

/// Calls `f` with the value as text. IPs and numbers are rendered into a stack buffer (the same
/// text as [`FieldValue::to_text`]); only a number longer than the buffer allocates.
fn with_text<T>(v: &FieldValue<'_>, f: impl FnOnce(&str) -> T) -> T {
    let mut buf = StackText::default();
    let rendered = match v {
        FieldValue::Str(s) => return f(s),
        FieldValue::Ip(ip) => write!(buf, "{ip}"),
        FieldValue::Num(n) => write!(buf, "{n}"),
    };
    match (rendered, std::str::from_utf8(&buf.bytes[..buf.len])) {
        (Ok(()), Ok(s)) => f(s),
        _ => f(&v.to_text()),
    }
}

const STACK_TEXT: usize = 64;

struct StackText {
    bytes: [u8; STACK_TEXT],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            bytes: [0; STACK_TEXT],
            len: 0,
        }
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
