//! The native YAML format: the seed's (`operator` + `modifier: case_insensitive`,
//! `threshold{count, timeframe_secs, group_by}`) and the original project's variant (`modifier`
//! naming the operator, `threshold{field, count, timeframe}`). The structs reject unknown keys, so
//! a typo is an error at its line; the meaning is checked afterwards (see the module docs of
//! [`crate::rules`] for the format).

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use ironpost_core::severity::Severity;
use serde::Deserialize;
use serde::de::{self, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use yaml_serde::Value;

use super::expr::{Cmp, Expr, Op};
use super::{
    MAX_WINDOW, Origin, Rule, RuleError, RuleFormat, RuleStatus, Threshold, canonical_field,
};

/// Longest rule id accepted.
pub(crate) const MAX_ID_CHARS: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    #[serde(default)]
    status: Option<RawStatus>,
    detection: RawDetection,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawStatus {
    Enabled,
    Disabled,
    Test,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetection {
    /// How `conditions` combine: `all` (default, the seed's AND) or `any`.
    #[serde(default)]
    condition: Option<Combine>,
    conditions: Vec<RawCond>,
    #[serde(default)]
    threshold: Option<RawThreshold>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Combine {
    All,
    Any,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCond {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    operator: Option<RawOp>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    modifier: Option<OneOrMany<RawModifier>>,
    #[serde(default)]
    all: Option<Vec<RawCond>>,
    #[serde(default)]
    any: Option<Vec<RawCond>>,
    #[serde(default)]
    not: Option<Box<RawCond>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawOp {
    #[serde(alias = "exact")]
    Equals,
    Contains,
    #[serde(alias = "starts_with")]
    StartsWith,
    #[serde(alias = "ends_with")]
    EndsWith,
    Regex,
    In,
    Cidr,
    Exists,
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl RawOp {
    fn name(self) -> &'static str {
        match self {
            RawOp::Equals => "equals",
            RawOp::Contains => "contains",
            RawOp::StartsWith => "startswith",
            RawOp::EndsWith => "endswith",
            RawOp::Regex => "regex",
            RawOp::In => "in",
            RawOp::Cidr => "cidr",
            RawOp::Exists => "exists",
            RawOp::Gt => "gt",
            RawOp::Gte => "gte",
            RawOp::Lt => "lt",
            RawOp::Lte => "lte",
            RawOp::Eq => "eq",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawModifier {
    CaseInsensitive,
    Regex,
    // The original project's variant: the modifier names the operator.
    Exact,
    Contains,
    #[serde(alias = "starts_with")]
    Startswith,
    #[serde(alias = "ends_with")]
    Endswith,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    count: u32,
    #[serde(default)]
    timeframe_secs: Option<u64>,
    /// The variant's name; seconds, or text like `90s`, `5m`, `2h`, `1d`.
    #[serde(default)]
    timeframe: Option<Timeframe>,
    #[serde(default)]
    group_by: Option<OneOrMany<String>>,
    /// The variant's name for `group_by`.
    #[serde(default)]
    field: Option<String>,
}

/// One value or a list of them.
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub(crate) Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(|t| OneOrMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeframe(Duration);

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timeframe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds, or a duration like 90s, 5m, 2h, 1d")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timeframe, E> {
                Ok(Timeframe(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timeframe, E> {
                u64::try_from(v)
                    .map(|s| Timeframe(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a timeframe cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timeframe, E> {
                parse_duration(v).map(Timeframe).ok_or_else(|| {
                    E::custom(format!("`{v}` is not a duration like 90s, 5m, 2h, 1d"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `90`, `90s`, `5m`, `2h`, `1d` (Sigma's `timeframe` syntax, plus bare seconds).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().ok()?;
    let unit = match &t[split..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit).map(Duration::from_secs)
}

/// Checks a raw rule's meaning and builds the [`Rule`].
pub(crate) fn to_rule(raw: RawRule, origin: &Origin) -> Result<Rule, RuleError> {
    let invalid = |reason: String| RuleError::Invalid {
        origin: origin.clone(),
        rule_id: raw.id.clone(),
        reason,
    };
    check_id(&raw.id).map_err(&invalid)?;
    if raw.title.trim().is_empty() {
        return Err(invalid("`title` is empty".into()));
    }
    let det = &raw.detection;
    if det.conditions.is_empty() {
        return Err(invalid("`detection.conditions` is empty".into()));
    }
    let leaves = det
        .conditions
        .iter()
        .enumerate()
        .map(|(i, c)| condition(c).map_err(|e| format!("detection.conditions[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&invalid)?;
    let expr = match det.condition.unwrap_or(Combine::All) {
        Combine::All => Expr::all(leaves),
        Combine::Any => Expr::any(leaves),
    };
    let threshold = det
        .threshold
        .as_ref()
        .map(threshold)
        .transpose()
        .map_err(|e| invalid(format!("detection.threshold: {e}")))?;
    Ok(Rule {
        id: raw.id.clone(),
        title: raw.title.clone(),
        description: raw.description.clone(),
        severity: raw.severity,
        status: match raw.status {
            None | Some(RawStatus::Enabled) => RuleStatus::Enabled,
            Some(RawStatus::Disabled) => RuleStatus::Disabled,
            Some(RawStatus::Test) => RuleStatus::Test,
        },
        tags: raw.tags.clone(),
        expr,
        threshold,
        format: RuleFormat::Native,
        origin: origin.clone(),
    })
}

pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("`id` is empty".into());
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(format!("`id` is longer than {MAX_ID_CHARS} characters"));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("`id` contains whitespace or control characters".into());
    }
    Ok(())
}

fn condition(c: &RawCond) -> Result<Expr, String> {
    let groups = [c.all.is_some(), c.any.is_some(), c.not.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if groups > 1
        || (groups == 1
            && (c.field.is_some()
                || c.operator.is_some()
                || c.value.is_some()
                || c.modifier.is_some()))
    {
        return Err("a condition is either a `field` test or one of `all`, `any`, `not`".into());
    }
    if let Some(xs) = c.all.as_ref().or(c.any.as_ref()) {
        if xs.is_empty() {
            return Err("an `all`/`any` group is empty".into());
        }
        let items = xs
            .iter()
            .enumerate()
            .map(|(i, x)| condition(x).map_err(|e| format!("[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if c.all.is_some() {
            Expr::all(items)
        } else {
            Expr::any(items)
        });
    }
    if let Some(x) = &c.not {
        return Ok(Expr::Not(Box::new(
            condition(x).map_err(|e| format!("not: {e}"))?,
        )));
    }
    let field = c.field.as_deref().ok_or("missing `field`")?;
    if field.is_empty() {
        return Err("`field` is empty".into());
    }
    let field = canonical_field(field).to_owned();

    let mut ci = false;
    let mut regex_modifier = false;
    let mut op_modifier: Option<RawOp> = None;
    for m in c.modifier.iter().flat_map(|m| m.0.iter()) {
        let named = match m {
            RawModifier::CaseInsensitive => {
                ci = true;
                continue;
            }
            RawModifier::Regex => {
                regex_modifier = true;
                continue;
            }
            RawModifier::Exact => RawOp::Equals,
            RawModifier::Contains => RawOp::Contains,
            RawModifier::Startswith => RawOp::StartsWith,
            RawModifier::Endswith => RawOp::EndsWith,
        };
        if op_modifier.is_some_and(|o| o != named) {
            return Err("more than one matching modifier".into());
        }
        op_modifier = Some(named);
    }
    let mut op = match (c.operator, op_modifier) {
        (Some(o), Some(m)) if o != m => {
            return Err(format!(
                "operator `{}` conflicts with modifier `{}`",
                o.name(),
                m.name()
            ));
        }
        (o, m) => o.or(m).unwrap_or(RawOp::Equals),
    };
    if regex_modifier {
        match op {
            RawOp::Equals | RawOp::Regex => op = RawOp::Regex,
            other => {
                return Err(format!(
                    "modifier `regex` conflicts with operator `{}`",
                    other.name()
                ));
            }
        }
    }
    if ci
        && matches!(
            op,
            RawOp::Cidr
                | RawOp::Exists
                | RawOp::Gt
                | RawOp::Gte
                | RawOp::Lt
                | RawOp::Lte
                | RawOp::Eq
        )
    {
        return Err(format!(
            "modifier `case_insensitive` does not apply to operator `{}`",
            op.name()
        ));
    }
    let leaf = |op: Op| Expr::cond(field.clone(), op, ci);
    let value = c.value.as_ref().filter(|v| !v.is_null());
    let need = |what: &str| format!("operator `{}` needs {what} `value`", op.name());
    Ok(match op {
        RawOp::Exists => match value {
            None => leaf(Op::Exists(true)),
            Some(Value::Bool(b)) => leaf(Op::Exists(*b)),
            Some(_) => return Err("operator `exists` takes no value, or `true`/`false`".into()),
        },
        RawOp::Equals => match value.ok_or_else(|| need("a"))? {
            Value::Sequence(items) => leaf(Op::In(scalars(items)?)),
            v => leaf(Op::Equals(scalar(v)?)),
        },
        RawOp::In => {
            let v = value.ok_or_else(|| need("a list"))?;
            leaf(Op::In(scalar_or_list(v)?))
        }
        RawOp::Contains | RawOp::StartsWith | RawOp::EndsWith | RawOp::Regex => {
            let texts = scalar_or_list(value.ok_or_else(|| need("a"))?)?;
            if texts.is_empty() {
                return Err(need("a non-empty"));
            }
            let make = |t: String| match op {
                RawOp::Contains => Op::Contains(t),
                RawOp::StartsWith => Op::StartsWith(t),
                RawOp::EndsWith => Op::EndsWith(t),
                _ => Op::Regex(t),
            };
            Expr::any(texts.into_iter().map(|t| leaf(make(t))).collect())
        }
        RawOp::Cidr => {
            let texts = scalar_or_list(value.ok_or_else(|| need("a CIDR or list"))?)?;
            if texts.is_empty() {
                return Err(need("a non-empty"));
            }
            let nets = texts
                .iter()
                .map(|t| parse_net(t))
                .collect::<Result<Vec<_>, _>>()?;
            leaf(Op::Cidr(nets))
        }
        RawOp::Gt | RawOp::Gte | RawOp::Lt | RawOp::Lte | RawOp::Eq => {
            let v = value.ok_or_else(|| need("a numeric"))?;
            let n = number(v).ok_or_else(|| {
                format!(
                    "operator `{}` needs a number, got {}",
                    op.name(),
                    describe(v)
                )
            })?;
            let cmp = match op {
                RawOp::Gt => Cmp::Gt,
                RawOp::Gte => Cmp::Gte,
                RawOp::Lt => Cmp::Lt,
                RawOp::Lte => Cmp::Lte,
                _ => Cmp::Eq,
            };
            leaf(Op::Compare(cmp, n))
        }
    })
}

/// A CIDR, or a bare address as a host network.
pub(crate) fn parse_net(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{t}` is not a CIDR (like 10.0.0.0/8) or an IP address"))
}

/// A scalar as text: strings as they are, numbers and booleans as YAML writes them.
pub(crate) fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, number or boolean, got {}",
            describe(other)
        )),
    }
}

fn scalars(items: &[Value]) -> Result<Vec<String>, String> {
    items.iter().map(scalar).collect()
}

fn scalar_or_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Sequence(items) => scalars(items),
        other => Ok(vec![scalar(other)?]),
    }
}

pub(crate) fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn threshold(t: &RawThreshold) -> Result<Threshold, String> {
    if t.count == 0 {
        return Err("`count` must be at least 1".into());
    }
    let window = match (t.timeframe_secs, t.timeframe) {
        (Some(s), None) => Duration::from_secs(s),
        (None, Some(tf)) => tf.0,
        (Some(_), Some(_)) => return Err("give `timeframe_secs` or `timeframe`, not both".into()),
        (None, None) => return Err("missing `timeframe_secs` (or `timeframe`)".into()),
    };
    if window.is_zero() || window > MAX_WINDOW {
        return Err(format!(
            "the timeframe must be between 1 and {} seconds",
            MAX_WINDOW.as_secs()
        ));
    }
    let group_by = match (&t.group_by, &t.field) {
        (Some(g), None) => g.0.clone(),
        (None, Some(f)) => vec![f.clone()],
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err("give `group_by` or `field`, not both".into()),
    };
    if group_by.iter().any(String::is_empty) {
        return Err("an empty field name in `group_by`".into());
    }
    Ok(Threshold {
        count: t.count,
        window,
        group_by: group_by
            .iter()
            .map(|f| canonical_field(f).to_owned())
            .collect(),
        correlate: None,
    })
}
