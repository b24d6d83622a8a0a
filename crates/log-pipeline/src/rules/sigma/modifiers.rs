//! One `field|modifier|…: value` entry of a Sigma selection as an [`Expr`]: the value modifiers
//! (`contains`, `re`, `cidr`, `base64offset`, `windash`, `fieldref` …) and Sigma's wildcards.

use yaml_serde::Value;

use super::super::canonical_field;
use super::super::expr::{Cmp, Expr, Op};
use super::super::native::{number, parse_net, scalar};
use super::detection::keyword;
use super::{Reject, SIGMA_FIELD_MAP, invalid, unsupported};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

pub(super) fn field_item(key: &str, v: &Value) -> Result<Expr, Reject> {
    let mut parts = key.split('|');
    let raw_field = parts.next().unwrap_or("");
    if raw_field.is_empty() {
        // `'|all': [k1, k2]`: every keyword must occur.
        return match (key, v) {
            ("|all", Value::Sequence(items)) if !items.is_empty() => Ok(Expr::all(
                items.iter().map(keyword).collect::<Result<_, _>>()?,
            )),
            _ => unsupported(format!("keyword selection with modifiers (`{key}`)")),
        };
    }
    let field = map_field(raw_field);
    let mut base = Base::Equals;
    let (mut all, mut re, mut cased, mut cidr, mut exists) = (false, false, false, false, false);
    let (mut windash, mut fieldref) = (false, false);
    let mut encode = None;
    let mut re_flags = String::new();
    let mut cmp = None;
    for m in parts {
        match m {
            "contains" | "startswith" | "endswith" => {
                if base != Base::Equals {
                    return invalid(format!(
                        "`{key}`: more than one of contains/startswith/endswith"
                    ));
                }
                base = match m {
                    "contains" => Base::Contains,
                    "startswith" => Base::StartsWith,
                    _ => Base::EndsWith,
                };
            }
            "all" => all = true,
            "re" => re = true,
            "i" | "m" | "s" if re => re_flags.push_str(m),
            "cased" => cased = true,
            "cidr" => cidr = true,
            "exists" => exists = true,
            "gt" => cmp = Some(Cmp::Gt),
            "gte" => cmp = Some(Cmp::Gte),
            "lt" => cmp = Some(Cmp::Lt),
            "lte" => cmp = Some(Cmp::Lte),
            "windash" => windash = true,
            "fieldref" => fieldref = true,
            "base64" | "base64offset" => {
                if encode.is_some() {
                    return invalid(format!("`{key}`: more than one base64 modifier"));
                }
                encode = Some(if m == "base64" {
                    Encode::Base64
                } else {
                    Encode::Base64Offset
                });
            }
            "wide" | "utf16" | "utf16le" | "utf16be" | "expand" | "neq" => {
                return unsupported(format!("modifier `|{m}` (in `{key}`)"));
            }
            other => return unsupported(format!("unknown modifier `|{other}` (in `{key}`)")),
        }
    }
    let kinds = [re, cidr, exists, cmp.is_some(), fieldref]
        .iter()
        .filter(|x| **x)
        .count();
    if kinds > 1 || (kinds == 1 && (base != Base::Equals || windash || encode.is_some())) {
        return invalid(format!("`{key}`: these modifiers cannot be combined"));
    }
    let values: Vec<&Value> = match v {
        Value::Sequence(items) if items.is_empty() => {
            return invalid(format!("`{key}`: empty list"));
        }
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    };
    let leaf = |op: Op, ci: bool| Expr::cond(field.clone(), op, ci);
    let mut exprs = Vec::new();
    for value in values {
        let e = if exists {
            match value {
                Value::Bool(b) => leaf(Op::Exists(*b), false),
                _ => return invalid(format!("`{key}`: `|exists` takes true or false")),
            }
        } else if value.is_null() {
            leaf(Op::Exists(false), false)
        } else if fieldref {
            let other = scalar(value).map_err(Reject::Invalid)?;
            leaf(Op::FieldRef(map_field(&other)), false)
        } else if cidr {
            let net =
                parse_net(&scalar(value).map_err(Reject::Invalid)?).map_err(Reject::Invalid)?;
            leaf(Op::Cidr(vec![net]), false)
        } else if let Some(c) = cmp {
            let n =
                number(value).ok_or_else(|| Reject::Invalid(format!("`{key}`: not a number")))?;
            leaf(Op::Compare(c, n), false)
        } else if re {
            let pattern = scalar(value).map_err(Reject::Invalid)?;
            let ci = re_flags.contains('i');
            let mut flags = String::new();
            for f in ['m', 's'] {
                if re_flags.contains(f) {
                    flags.push(f);
                }
            }
            let pattern = if flags.is_empty() {
                pattern
            } else {
                format!("(?{flags}){pattern}")
            };
            leaf(Op::Regex(pattern), ci)
        } else {
            let text = scalar(value).map_err(Reject::Invalid)?;
            let variants = if windash {
                windash_variants(&text).map_err(|r| match r {
                    Reject::Unsupported(s) => Reject::Unsupported(format!("`{key}`: {s}")),
                    other => other,
                })?
            } else {
                vec![text]
            };
            match encode {
                None => Expr::any(
                    variants
                        .iter()
                        .map(|t| leaf(glob_op(t, base), !cased))
                        .collect(),
                ),
                Some(enc) => {
                    let mut encoded = Vec::new();
                    for t in &variants {
                        if has_wildcard(t) {
                            return unsupported(format!(
                                "`{key}`: wildcards in a base64-encoded value"
                            ));
                        }
                        let raw = unescape(t);
                        match enc {
                            Encode::Base64 => encoded.push(base64(raw.as_bytes())),
                            Encode::Base64Offset => encoded.extend(base64_offsets(raw.as_bytes())),
                        }
                    }
                    // Encoded text is compared as written (base64 is case-sensitive); its
                    // alphabet holds no `*`, `?` or `\`, so `glob_op` reads it as a literal.
                    Expr::any(
                        encoded
                            .iter()
                            .map(|t| leaf(glob_op(t, base), false))
                            .collect(),
                    )
                }
            }
        };
        exprs.push(e);
    }
    Ok(if all {
        Expr::all(exprs)
    } else {
        Expr::any(exprs)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encode {
    Base64,
    Base64Offset,
}

/// The dash characters `|windash` tries for each option dash, as Sigma (pySigma) defines them:
/// hyphen-minus, slash, en dash, em dash, horizontal bar.
const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Most option dashes one `|windash` value may hold: each multiplies the variants by five.
const MAX_WINDASH_DASHES: u32 = 3;

/// Every variant of `value` with each option dash (a `-` or `/` not preceded by a word character
/// and followed by one, Sigma's `\B[-/]\b`) replaced by each of [`WINDASH`].
fn windash_variants(value: &str) -> Result<Vec<String>, Reject> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = value.chars().collect();
    let dashes: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            matches!(chars[i], '-' | '/')
                && (i == 0 || !word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|&c| word(c))
        })
        .collect();
    if dashes.len() > MAX_WINDASH_DASHES as usize {
        return unsupported(format!(
            "`|windash` on a value with more than {MAX_WINDASH_DASHES} option dashes"
        ));
    }
    let mut out = vec![chars];
    for &i in &dashes {
        out = out
            .into_iter()
            .flat_map(|v| {
                WINDASH.iter().map(move |&d| {
                    let mut v = v.clone();
                    v[i] = d;
                    v
                })
            })
            .collect();
    }
    Ok(out.into_iter().map(|v| v.into_iter().collect()).collect())
}

/// Whether a Sigma value holds an unescaped `*` or `?`.
fn has_wildcard(value: &str) -> bool {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// A Sigma value without its escapes (`\*`, `\?`, `\\`; any other backslash is literal).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n @ ('*' | '?' | '\\')) = chars.peek()
        {
            out.push(n);
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sigma's `|base64offset`: the three encodings of `value` at byte offsets 0, 1 and 2 of a base64
/// stream, each cut to the characters that do not depend on the surrounding bytes (pySigma:
/// `b64encode(i * b" " + val)[(0, 2, 3)[i] : (None, -3, -2)[(len(val) + i) % 3]]`).
fn base64_offsets(value: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(value);
            let enc = base64(&padded);
            let end = enc.len() - END_TRIM[(value.len() + i) % 3];
            enc.get(START[i]..end).unwrap_or("").to_owned()
        })
        .collect()
}

pub(super) fn map_field(name: &str) -> String {
    SIGMA_FIELD_MAP
        .iter()
        .find(|(sigma, _)| *sigma == name)
        .map_or_else(
            || canonical_field(name).to_owned(),
            |(_, ours)| (*ours).to_owned(),
        )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    Lit(String),
    Star,
    One,
}

/// A Sigma value with wildcards, as the cheapest operator that means the same.
///
/// Kept as a translation to the rule engine's own operators rather than a `globset` matcher (which
/// `core::glob` uses): the result is an ordinary [`Op`], so a value with interior wildcards becomes
/// a regex from which the rule set's Aho-Corasick prefilter takes its required literals
/// (`literal.rs`), with Sigma's own escapes (`\*`, `\?`, `\\`; any other backslash literal) and
/// the Unicode case folding of every other Sigma operator. One value's matching speed is no reason
/// either way (`bench/glob.sh`: regex 388 ns, globset 385 ns per match); the prefilter is: with 100
/// wildcard rules over 200,000 auth-log lines, the prefiltered set costs 1.1 µs per line and
/// evaluating every rule (what an opaque globset operator would force) 53 µs, 48× more.
pub(super) fn glob_op(value: &str, base: Base) -> Op {
    let mut toks = Vec::new();
    if matches!(base, Base::Contains | Base::EndsWith) {
        toks.push(Glob::Star);
    }
    let mut lit = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Glob::Lit(std::mem::take(&mut lit)));
                }
                toks.push(if c == '*' { Glob::Star } else { Glob::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Glob::Lit(lit));
    }
    if matches!(base, Base::Contains | Base::StartsWith) {
        toks.push(Glob::Star);
    }
    toks.dedup_by(|a, b| *a == Glob::Star && *b == Glob::Star);
    match toks.as_slice() {
        [] => Op::Equals(String::new()),
        [Glob::Star] => Op::Exists(true),
        [Glob::Lit(l)] => Op::Equals(l.clone()),
        [Glob::Star, Glob::Lit(l), Glob::Star] => Op::Contains(l.clone()),
        [Glob::Lit(l), Glob::Star] => Op::StartsWith(l.clone()),
        [Glob::Star, Glob::Lit(l)] => Op::EndsWith(l.clone()),
        _ => {
            let mut re = String::from(r"(?s)\A");
            for t in &toks {
                match t {
                    Glob::Lit(l) => re.push_str(&regex::escape(l)),
                    Glob::Star => re.push_str(".*"),
                    Glob::One => re.push('.'),
                }
            }
            re.push_str(r"\z");
            Op::Regex(re)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_its_offsets_match_sigma() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"/bin/bash"), "L2Jpbi9iYXNo");
        // The three forms SigmaHQ rules list for `/bin/bash` written with `|base64offset`.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn windash_expands_option_dashes_only() {
        let v = windash_variants("tool -a x-y /b").map_err(|_| ()).unwrap();
        assert_eq!(v.len(), 25);
        assert!(v.contains(&"tool /a x-y -b".to_owned()));
        assert!(v.contains(&"tool \u{2015}a x-y \u{2013}b".to_owned()));
        assert!(v.iter().all(|s| s.contains("x-y")));
        assert_eq!(windash_variants("x-y").map_err(|_| ()).unwrap(), ["x-y"]);
        assert!(windash_variants("-a -b -c -d").is_err());
    }

    #[test]
    fn globs_become_the_cheapest_operator() {
        for (value, base, want) in [
            ("sshd", Base::Equals, Op::Equals("sshd".into())),
            ("*Failed*", Base::Equals, Op::Contains("Failed".into())),
            ("Failed", Base::Contains, Op::Contains("Failed".into())),
            ("*Failed", Base::Contains, Op::Contains("Failed".into())),
            ("Acc*", Base::Equals, Op::StartsWith("Acc".into())),
            ("*.sh", Base::Equals, Op::EndsWith(".sh".into())),
            ("*", Base::Equals, Op::Exists(true)),
            (r"a\*b", Base::Equals, Op::Equals("a*b".into())),
            (r"C:\dir", Base::Equals, Op::Equals(r"C:\dir".into())),
            ("a*b", Base::Equals, Op::Regex(r"(?s)\Aa.*b\z".into())),
            ("a?c", Base::Contains, Op::Regex(r"(?s)\A.*a.c.*\z".into())),
            ("1.2.3.4", Base::Equals, Op::Equals("1.2.3.4".into())),
        ] {
            assert_eq!(glob_op(value, base), want, "{value:?} {base:?}");
        }
    }
}
