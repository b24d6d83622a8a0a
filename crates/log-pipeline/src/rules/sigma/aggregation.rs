//! Sigma v1 aggregations (`| count([field]) by f > N`, `near`) and `timeframe`, as the native
//! [`Threshold`] (with a [`Correlate`] for distinct counts and `near`).

use std::time::Duration;

use yaml_serde::Value;

use super::super::native::describe;
use super::super::{Correlate, MAX_WINDOW, Threshold};
use super::condition::{self, Cond};
use super::modifiers::map_field;
use super::{Reject, invalid, unsupported};

/// Most distinct values a `count(field)` aggregation may ask for: each group holds up to that many
/// values (and scans them per match).
pub const MAX_DISTINCT: u32 = 10_000;

/// What follows `|` in a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Aggregation {
    /// `count([field]) [by f1, f2] > N` (or `>= N`).
    Count {
        /// Matches (or distinct values) needed in the window.
        count: u32,
        group_by: Vec<String>,
        /// `count(field)`: distinct values of this field.
        distinct: Option<String>,
    },
    /// `near p1 [and p2 …]`: the parts that must match near the condition's search.
    Near(Vec<Cond>),
}

impl Aggregation {
    /// The threshold of a `count` aggregation (`near` is resolved by the caller).
    pub(super) fn threshold(
        count: u32,
        group_by: Vec<String>,
        distinct: Option<String>,
        window: Duration,
    ) -> Threshold {
        Threshold {
            count,
            window,
            group_by,
            correlate: distinct.map(Correlate::Distinct),
        }
    }
}

/// Where a top-level `near` keyword splits a condition written `a near b [and c]` (the form
/// without `|`): the text before it and after it. `None` when there is none outside parentheses.
pub(super) fn split_near(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ if depth == 0
                && (i == 0 || bytes[i - 1].is_ascii_whitespace())
                && bytes.len() > i + 4
                && bytes[i..i + 4].eq_ignore_ascii_case(b"near")
                && bytes[i + 4].is_ascii_whitespace() =>
            {
                return Some((&text[..i], &text[i + 4..]));
            }
            _ => {}
        }
    }
    None
}

/// Parses the part of a condition after `|` (Sigma v1: `count([field]) [by f, …] op N`, or
/// `near p1 [and p2 …]`).
pub(super) fn parse_aggregation(text: &str) -> Result<Aggregation, Reject> {
    let not_ours = |why: &str| unsupported(format!("aggregation `| {text}`: {why}"));
    if text.len() > 4
        && text[..4].eq_ignore_ascii_case("near")
        && text.as_bytes()[4].is_ascii_whitespace()
    {
        let parts = match condition::parse(&text[5..])? {
            Cond::And(items) => items,
            other => vec![other],
        };
        if parts.iter().any(|p| matches!(p, Cond::Not(_))) {
            return not_ours("`near … and not …` (an event's absence near another)");
        }
        return Ok(Aggregation::Near(parts));
    }
    let Some(rest) = text.strip_prefix("count(") else {
        let func = text.split('(').next().unwrap_or(text).trim();
        return not_ours(&format!("`{func}()` (only `count()` and `near`)"));
    };
    let Some((arg, rest)) = rest.split_once(')') else {
        return invalid(format!("aggregation `| {text}`: missing `)`"));
    };
    let distinct = match arg.trim() {
        "" => None,
        f if f.contains([',', ' ', '(']) => {
            return invalid(format!(
                "aggregation `| {text}`: `count()` takes one field name"
            ));
        }
        f => Some(map_field(f)),
    };
    let rest = rest.trim();
    let op_at = rest.find(['>', '<', '=']).unwrap_or(rest.len());
    let (group, cmp) = rest.split_at(op_at);
    let group_by = match group.trim() {
        "" => Vec::new(),
        g => match g.strip_prefix("by ") {
            Some(fields) => fields
                .split(',')
                .map(|f| match f.trim() {
                    "" => invalid(format!("aggregation `| {text}`: an empty field after `by`")),
                    f => Ok(map_field(f)),
                })
                .collect::<Result<_, _>>()?,
            None => return invalid(format!("aggregation `| {text}`: expected `by`")),
        },
    };
    let (op, n) = if let Some(n) = cmp.strip_prefix(">=") {
        (">=", n)
    } else if let Some(n) = cmp.strip_prefix("<=") {
        ("<=", n)
    } else if let Some(n) = cmp.strip_prefix('>') {
        (">", n)
    } else if let Some(n) = cmp.strip_prefix('<') {
        ("<", n)
    } else if let Some(n) = cmp.strip_prefix('=') {
        ("=", n)
    } else {
        return invalid(format!("aggregation `| {text}`: missing the comparison"));
    };
    let Ok(n) = n.trim().parse::<u32>() else {
        return invalid(format!(
            "aggregation `| {text}`: `{}` is not a whole number",
            n.trim()
        ));
    };
    let count = match op {
        ">" => n.checked_add(1),
        ">=" => Some(n.max(1)),
        _ => {
            // Alerts are decided match by match on sliding windows. `< N`, `<= N` and `= N`
            // hold for a window only once it has ended with that few matches, and no match
            // announces the end (an absence has no record): rejected rather than approximated.
            return not_ours(&format!(
                "`{op}` (only `>` and `>=`: whether a window held fewer than or exactly N matches \
                 is known only when it ends, and the pipeline decides at each match)"
            ));
        }
    };
    let Some(count) = count else {
        return invalid(format!("aggregation `| {text}`: the count is too large"));
    };
    if distinct.is_some() && count > MAX_DISTINCT {
        return invalid(format!(
            "aggregation `| {text}`: at most {MAX_DISTINCT} distinct values can be counted"
        ));
    }
    Ok(Aggregation::Count {
        count,
        group_by,
        distinct,
    })
}

/// A Sigma `timeframe` (`30s`, `10m`, `1h`, `2d`) as a window the native threshold accepts.
pub(super) fn window(v: &Value) -> Result<Duration, Reject> {
    let Some(text) = v.as_str() else {
        return invalid(format!("`timeframe` must be text, not {}", describe(v)));
    };
    let bad = || {
        Reject::Invalid(format!(
            "`timeframe: {text}`: expected a number and s, m, h or d"
        ))
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let n: u64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let secs = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    let w = Duration::from_secs(secs);
    if w.is_zero() || w > MAX_WINDOW {
        return invalid(format!(
            "`timeframe: {text}`: must be between 1 and {} seconds",
            MAX_WINDOW.as_secs()
        ));
    }
    Ok(w)
}
