//! Sigma's `condition` expression: `and`, `or`, `not`, parentheses, identifiers, and
//! `1 of` / `any of` / `all of` over an identifier pattern (`selection*`) or `them`.
//! Precedence, tightest first: `not`, `and`, `or`. Keywords are case-insensitive.
//! A top-level `near` and the aggregation after `|` are split off before parsing
//! (`sigma.rs`), so a `|` reaching here is one too many.

/// A parsed condition, before identifiers are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Ident(String),
    OneOf(Target),
    AllOf(Target),
}

/// What a quantifier ranges over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every search identifier not starting with `_`.
    Them,
    /// Identifiers matching a pattern where `*` is any run of characters.
    Pattern(String),
}

/// Why a condition was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CondError {
    Unsupported(String),
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, CondError> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, toks: &mut Vec<Tok>| {
        if !word.is_empty() {
            toks.push(Tok::Word(std::mem::take(word)));
        }
    };
    for ch in text.chars() {
        match ch {
            '(' | ')' => {
                flush(&mut word, &mut toks);
                toks.push(if ch == '(' { Tok::Open } else { Tok::Close });
            }
            '|' => {
                let rest = text.split_once('|').map_or("", |(_, r)| r.trim());
                return Err(CondError::Unsupported(format!(
                    "aggregation `| {rest}` in the condition (use the native format's `threshold`)"
                )));
            }
            c if c.is_whitespace() => flush(&mut word, &mut toks),
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '*') => word.push(c),
            c => {
                return Err(CondError::Invalid(format!(
                    "unexpected character `{c}` in the condition"
                )));
            }
        }
    }
    flush(&mut word, &mut toks);
    Ok(toks)
}

/// Parses one condition string.
pub(crate) fn parse(text: &str) -> Result<Cond, CondError> {
    let toks = tokenize(text)?;
    if toks
        .iter()
        .any(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("near")))
    {
        return Err(CondError::Unsupported(
            "`near` inside parentheses (only `a near b [and c]` or `a | near b [and c]` as the whole condition)".into(),
        ));
    }
    if toks.is_empty() {
        return Err(CondError::Invalid("the condition is empty".into()));
    }
    let mut p = Parser { toks, pos: 0 };
    let cond = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(cond),
        Some(t) => Err(CondError::Invalid(format!(
            "unexpected {} in the condition",
            describe(t)
        ))),
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::Word(w) => format!("`{w}`"),
    }
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Cond, CondError> {
        let mut items = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, CondError> {
        let mut items = vec![self.not()?];
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, CondError> {
        if is_kw(self.peek(), "not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, CondError> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            None => Err(CondError::Invalid("the condition ends too early".into())),
            Some(Tok::Open) => {
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(CondError::Invalid("a `(` is not closed".into()));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Close) => Err(CondError::Invalid("unexpected `)`".into())),
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if is_kw(self.peek(), "of") {
                    self.pos += 1;
                    let target = match self.peek().cloned() {
                        Some(Tok::Word(t)) if t.eq_ignore_ascii_case("them") => Target::Them,
                        Some(Tok::Word(t)) => Target::Pattern(t),
                        _ => {
                            return Err(CondError::Invalid(format!(
                                "`{w} of` needs an identifier pattern or `them`"
                            )));
                        }
                    };
                    self.pos += 1;
                    return match lower.as_str() {
                        "1" | "any" => Ok(Cond::OneOf(target)),
                        "all" => Ok(Cond::AllOf(target)),
                        _ => Err(CondError::Unsupported(format!(
                            "`{w} of` (only `1 of` and `all of` are supported)"
                        ))),
                    };
                }
                match lower.as_str() {
                    "and" | "or" | "not" | "of" | "them" => Err(CondError::Invalid(format!(
                        "unexpected `{w}` in the condition"
                    ))),
                    _ if w.contains('*') => Err(CondError::Invalid(format!(
                        "a pattern `{w}` needs `1 of` or `all of` in front"
                    ))),
                    _ => Ok(Cond::Ident(w)),
                }
            }
        }
    }
}

/// `*` matches any run of characters (including none); everything else literally (the tokenizer
/// admits no other wildcard in a word). Rule loading only: a handful of names per rule.
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    ironpost_core::glob::glob_match(pattern, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Cond {
        Cond::Ident(s.into())
    }

    #[test]
    fn precedence_and_grouping() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Cond::Or(vec![
                id("a"),
                Cond::And(vec![id("b"), Cond::Not(Box::new(id("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![id("a"), id("b")]), id("c")])
        );
        assert_eq!(
            parse("1 of sel* and not all of them").unwrap(),
            Cond::And(vec![
                Cond::OneOf(Target::Pattern("sel*".into())),
                Cond::Not(Box::new(Cond::AllOf(Target::Them)))
            ])
        );
        assert_eq!(
            parse("selection AND NOT filter").unwrap(),
            parse("selection and not filter").unwrap()
        );
    }

    #[test]
    fn rejects() {
        for (text, unsupported) in [
            ("selection | count() by src_ip > 5", true),
            ("a near b", true),
            ("2 of sel*", true),
            ("", false),
            ("(a", false),
            ("a b", false),
            ("a and", false),
            ("sel*", false),
            ("a = b", false),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(
                matches!(err, CondError::Unsupported(_)),
                unsupported,
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn patterns() {
        for (p, name, want) in [
            ("sel*", "selection", true),
            ("sel*", "filter", false),
            ("*_main", "sel_main", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("exact", "exact", true),
            ("*", "anything", true),
        ] {
            assert_eq!(pattern_matches(p, name), want, "{p} ~ {name}");
        }
    }
}
