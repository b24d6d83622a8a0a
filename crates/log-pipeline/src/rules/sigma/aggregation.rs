//! Sigma v1 aggregations (`| count() by f > N`) and `timeframe`, as the native [`Threshold`].

use std::time::Duration;

use yaml_serde::Value;

use super::super::native::describe;
use super::super::{MAX_WINDOW, Threshold};
use super::modifiers::map_field;
use super::{Reject, invalid, unsupported};

/// `count() [by f1, f2] > N` (or `>= N`), the one aggregation the native threshold expresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Aggregation {
    /// Matches needed in the window.
    count: u32,
    group_by: Vec<String>,
}

impl Aggregation {
    pub(super) fn threshold(self, window: Duration) -> Threshold {
        Threshold {
            count: self.count,
            window,
            group_by: self.group_by,
        }
    }
}

/// Parses the part of a condition after `|` (Sigma v1: `count([field]) [by f, …] op N`).
pub(super) fn parse_aggregation(text: &str) -> Result<Aggregation, Reject> {
    let not_ours = |why: &str| unsupported(format!("aggregation `| {text}`: {why}"));
    let Some(rest) = text.strip_prefix("count(") else {
        let func = text.split('(').next().unwrap_or(text).trim();
        return not_ours(&format!("`{func}()` (only `count()`)"));
    };
    let Some((arg, rest)) = rest.split_once(')') else {
        return invalid(format!("aggregation `| {text}`: missing `)`"));
    };
    if !arg.trim().is_empty() {
        return not_ours("counting distinct values (`count(field)`)");
    }
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
            return not_ours(&format!(
                "`{op}` (only `>` and `>=`: an alert cannot wait for a window to end)"
            ));
        }
    };
    let Some(count) = count else {
        return invalid(format!("aggregation `| {text}`: the count is too large"));
    };
    Ok(Aggregation { count, group_by })
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
