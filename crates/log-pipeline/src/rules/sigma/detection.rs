//! A Sigma rule's `detection`: search identifiers (maps, lists of maps, keyword lists) resolved
//! through the parsed `condition`, and the aggregation after `|` handed to `aggregation.rs`.

use yaml_serde::{Mapping, Value};

use super::super::expr::Expr;
use super::super::native::{describe, scalar};
use super::super::{Correlate, Near, Threshold};
use super::aggregation::{Aggregation, parse_aggregation, split_near, window};
use super::condition::{self, Cond, Target};
use super::modifiers::{Base, field_item, glob_op};
use super::{Reject, invalid, unsupported};

pub(super) fn detection(d: &Mapping) -> Result<(Expr, Option<Threshold>), Reject> {
    let mut searches: Vec<(String, Expr)> = Vec::new();
    let mut condition = None;
    let mut timeframe = None;
    for (k, v) in d {
        let Some(name) = k.as_str() else {
            return invalid(format!("a detection key is {}, not text", describe(k)));
        };
        match name {
            "condition" => condition = Some(v),
            "timeframe" => timeframe = Some(v),
            _ => {
                let e = search(v).map_err(|r| prefix(r, name))?;
                searches.push((name.to_owned(), e));
            }
        }
    }
    let conds = match condition {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Sequence(items)) if !items.is_empty() => items
            .iter()
            .map(|c| {
                c.as_str()
                    .ok_or(Reject::Invalid("`condition` items must be text".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return invalid(format!("`condition` must be text, not {}", describe(other)));
        }
        None => return invalid("missing `detection.condition`"),
    };
    let mut exprs = Vec::new();
    let mut aggregation = None;
    for c in &conds {
        let (search_part, agg) = match c.split_once('|') {
            Some((l, r)) => (l, Some(r.trim().to_owned())),
            // `a near b [and c]` is `a | near b [and c]`.
            None => match split_near(c) {
                Some((l, r)) => (l, Some(format!("near {}", r.trim()))),
                None => (*c, None),
            },
        };
        exprs.push(resolve(&condition::parse(search_part)?, &searches)?);
        if let Some(agg) = agg {
            if conds.len() > 1 {
                return unsupported("an aggregation in one of several conditions");
            }
            aggregation = Some(parse_aggregation(&agg)?);
        }
    }
    let Some(aggregation) = aggregation else {
        if timeframe.is_some() {
            return unsupported("`timeframe` without an aggregation");
        }
        // Several conditions (Sigma 1.0) mean any of them.
        return Ok((Expr::any(exprs), None));
    };
    let Some(tf) = timeframe else {
        return unsupported(match aggregation {
            Aggregation::Near(_) => "`near` without `timeframe` (an unbounded window)",
            Aggregation::Count { .. } => "an aggregation without `timeframe` (an unbounded window)",
        });
    };
    let window = window(tf)?;
    match aggregation {
        Aggregation::Count {
            count,
            group_by,
            distinct,
        } => Ok((
            Expr::any(exprs),
            Some(Aggregation::threshold(count, group_by, distinct, window)),
        )),
        Aggregation::Near(conds) => {
            // One condition here (checked above): its search is the first part.
            let mut parts = exprs;
            for c in &conds {
                parts.push(resolve(c, &searches)?);
            }
            let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
            let near = Near::new(parts.clone());
            Ok((
                Expr::any(parts),
                Some(Threshold {
                    count,
                    window,
                    group_by: Vec::new(),
                    correlate: Some(Correlate::Near(near)),
                }),
            ))
        }
    }
}

fn prefix(r: Reject, name: &str) -> Reject {
    match r {
        Reject::Unsupported(s) => Reject::Unsupported(format!("detection.{name}: {s}")),
        Reject::Invalid(s) => Reject::Invalid(format!("detection.{name}: {s}")),
    }
}

fn resolve(c: &Cond, searches: &[(String, Expr)]) -> Result<Expr, Reject> {
    let quantified = |t: &Target| -> Result<Vec<Expr>, Reject> {
        let picked: Vec<Expr> = searches
            .iter()
            .filter(|(name, _)| match t {
                Target::Them => !name.starts_with('_'),
                Target::Pattern(p) => condition::pattern_matches(p, name),
            })
            .map(|(_, e)| e.clone())
            .collect();
        if picked.is_empty() {
            let what = match t {
                Target::Them => "them".to_owned(),
                Target::Pattern(p) => format!("`{p}`"),
            };
            return invalid(format!(
                "the condition's {what} matches no search identifier"
            ));
        }
        Ok(picked)
    };
    Ok(match c {
        Cond::And(xs) => Expr::All(
            xs.iter()
                .map(|x| resolve(x, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(xs) => Expr::Any(
            xs.iter()
                .map(|x| resolve(x, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(x) => Expr::Not(Box::new(resolve(x, searches)?)),
        Cond::Ident(name) => match searches.iter().find(|(n, _)| n == name) {
            Some((_, e)) => e.clone(),
            None => {
                return invalid(format!(
                    "the condition names `{name}`, which is not defined"
                ));
            }
        },
        Cond::OneOf(t) => Expr::any(quantified(t)?),
        Cond::AllOf(t) => Expr::all(quantified(t)?),
    })
}

/// One search identifier's value.
fn search(v: &Value) -> Result<Expr, Reject> {
    match v {
        Value::Mapping(m) => selection(m),
        Value::Sequence(items) if items.is_empty() => invalid("empty list"),
        Value::Sequence(items) if items.iter().all(Value::is_mapping) => Ok(Expr::any(
            items
                .iter()
                .filter_map(Value::as_mapping)
                .map(selection)
                .collect::<Result<_, _>>()?,
        )),
        Value::Sequence(items) => Ok(Expr::any(
            items.iter().map(keyword).collect::<Result<_, _>>()?,
        )),
        Value::String(_) | Value::Number(_) => keyword(v),
        other => invalid(format!("a search identifier cannot be {}", describe(other))),
    }
}

/// A keyword: searched anywhere in `message`.
pub(super) fn keyword(v: &Value) -> Result<Expr, Reject> {
    let text = match v {
        Value::String(_) | Value::Number(_) => scalar(v).map_err(Reject::Invalid)?,
        other => return invalid(format!("a keyword list mixes in {}", describe(other))),
    };
    Ok(Expr::cond("message", glob_op(&text, Base::Contains), true))
}

fn selection(m: &Mapping) -> Result<Expr, Reject> {
    if m.is_empty() {
        return invalid("empty selection");
    }
    let mut items = Vec::new();
    for (k, v) in m {
        let Some(key) = k.as_str() else {
            return invalid(format!("a field name is {}, not text", describe(k)));
        };
        items.push(field_item(key, v)?);
    }
    Ok(Expr::all(items))
}
