//! Sigma import for Linux log sources: a Sigma rule becomes a [`Rule`] whose expression is the
//! compiled `detection`/`condition`. What cannot be honoured exactly is an
//! [`RuleError::Unsupported`] naming the construct — never silently dropped.
//!
//! **Log sources** (`logsource`) become a condition on the record's `format` (the grammar that
//! read it) and, for some services, its `process`, so a rule only runs on records of its source:
//! `product: linux` (and its services) on everything but web server logs; `service: sshd`, `sudo`,
//! `su`, `cron`, `vsftpd` add `process` = that program (`cron`: `cron` or `crond`,
//! case-insensitive); `auth` and `syslog` add nothing; `journald` means `format: journal`;
//! `category: webserver` (alone or with `product: nginx|apache`) means web access logs
//! (`format: combined`); `service: nginx|apache` or `product: nginx|apache` access and error logs
//! (the parsers cannot tell nginx's lines from Apache's), with `service: access|error` one of them.
//! Other categories, products and services are unsupported (the table is in `docs/rules.md`).
//!
//! **Detection**: named search identifiers, each a map (`field|modifiers: value or list` — the
//! entries ANDed, a list ORed unless `|all`), a list of maps (ORed), or a keyword list (strings
//! searched in `message`, ORed; `'|all': [..]` ANDs them). Values are case-insensitive (ASCII) unless `|cased`, and `*` / `?`
//! are wildcards (`\*`, `\?`, `\\` escape them). `null` means "field absent". Modifiers:
//! `contains`, `startswith`, `endswith`, `all`, `re` (with `i`, `m`, `s`), `cased`, `cidr` (v4
//! and v6, on any field), `exists`, `gt`, `gte`, `lt`, `lte`, `base64` and `base64offset` (the
//! encoded forms, compared case-sensitively; `base64offset` is the three forms pySigma derives),
//! `windash` (every option dash — a `-` or `/` starting a word — as `-`, `/`, en dash, em dash and
//! horizontal bar; at most three per value) and `fieldref` (equal to another field of the same
//! record). Unsupported: `wide`/`utf16*`, `expand`, `neq` and any other.
//!
//! **Aggregations** (Sigma v1): `search | count() [by f1, f2] > N` (or `>= N`) with
//! `detection.timeframe` (`30s`, `10m`, `1h`, `2d`) becomes the rule's native [`Threshold`]
//! (`count` N+1, or N, per group within the window), so the alerter's sliding window, bounded LRU
//! group state (evictions counted) and once-per-crossing dedup apply as to native rules.
//! Unsupported: `count(field)` (distinct values), `<`, `<=`, `=` (they can only be decided when a
//! window ends), other functions, an aggregation without `timeframe`, `timeframe` without one,
//! `near`, correlation rules, `action:` multi-document collections, Sigma filters.
//!
//! **Fields** are mapped by [`SIGMA_FIELD_MAP`]; other names are looked up as written (JSON keys,
//! `SDID.param`, `outcome` …).
//!
//! **Metadata**: `level` → severity (`informational` → info; absent → medium); `status`
//! `deprecated` and `unsupported` → disabled, other statuses → enabled; the rule id is `id`, else
//! `name`, else the title with non-alphanumerics as `_`.

mod condition;

use std::time::Duration;

use ironpost_core::severity::Severity;
use yaml_serde::{Mapping, Value};

use super::expr::{Cmp, Expr, Op};
use super::native::{check_id, describe, number, parse_net, scalar};
use super::{
    MAX_WINDOW, Origin, Rule, RuleError, RuleFormat, RuleStatus, Threshold, canonical_field,
};
use condition::{Cond, CondError, Target};

/// `logsource.service` values accepted.
pub const SIGMA_SERVICES: &[&str] = &[
    "auth", "sshd", "syslog", "sudo", "su", "cron", "vsftpd", "journald", "nginx", "apache",
];

/// Sigma field names (as SigmaHQ's Linux and generic rules write them) → Ironpost field names.
pub const SIGMA_FIELD_MAP: &[(&str, &str)] = &[
    ("Message", "message"),
    ("message", "message"),
    ("msg", "message"),
    ("User", "user"),
    ("user", "user"),
    ("UserName", "user"),
    ("TargetUserName", "user"),
    ("SourceIp", "src_ip"),
    ("SourceAddress", "src_ip"),
    ("IpAddress", "src_ip"),
    ("src_ip", "src_ip"),
    ("source_ip", "src_ip"),
    ("SourcePort", "port"),
    ("src_port", "port"),
    ("port", "port"),
    ("Image", "process"),
    ("ProcessName", "process"),
    ("process", "process"),
    ("program", "process"),
    ("Hostname", "hostname"),
    ("ComputerName", "hostname"),
    ("host", "hostname"),
    ("hostname", "hostname"),
    ("ProcessId", "pid"),
    ("pid", "pid"),
    // Web server access logs (W3C names, as SigmaHQ's `category: webserver` rules write them).
    // Our `path` is the request target with its query, so `cs-uri-stem` and `cs-uri-query` both
    // read it.
    ("c-ip", "src_ip"),
    ("cs-method", "method"),
    ("cs-uri-query", "path"),
    ("cs-uri-stem", "path"),
    ("cs-uri", "path"),
    ("cs-version", "protocol"),
    ("sc-status", "status"),
    ("cs-user-agent", "user_agent"),
    ("cs-referer", "referer"),
    ("cs-username", "http_user"),
];

const METADATA_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "tags",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "related",
    "taxonomy",
    "scope",
    // SigmaHQ's pointer to an attack simulation (Atomic Red Team test) for the rule.
    "simulation",
];

/// Whether a YAML document is a Sigma rule rather than a native one.
pub(crate) fn looks_like_sigma(doc: &Value) -> bool {
    let Value::Mapping(m) = doc else {
        return false;
    };
    ["logsource", "correlation", "action", "filter"]
        .iter()
        .any(|k| m.contains_key(*k))
        // A native rule's detection may carry `condition: any` too, but always with `conditions`.
        || m.get("detection")
            .and_then(Value::as_mapping)
            .is_some_and(|d| d.contains_key("condition") && !d.contains_key("conditions"))
}

enum Reject {
    Unsupported(String),
    Invalid(String),
}

impl From<CondError> for Reject {
    fn from(e: CondError) -> Self {
        match e {
            CondError::Unsupported(r) => Reject::Unsupported(r),
            CondError::Invalid(r) => Reject::Invalid(r),
        }
    }
}

fn unsupported<T>(reason: impl Into<String>) -> Result<T, Reject> {
    Err(Reject::Unsupported(reason.into()))
}

fn invalid<T>(reason: impl Into<String>) -> Result<T, Reject> {
    Err(Reject::Invalid(reason.into()))
}

/// Converts one Sigma document.
pub(crate) fn to_rule(doc: &Value, origin: &Origin) -> Result<Rule, RuleError> {
    let label = doc
        .get("id")
        .or_else(|| doc.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("<untitled>")
        .to_owned();
    convert(doc, origin).map_err(|r| match r {
        Reject::Unsupported(reason) => RuleError::Unsupported {
            origin: origin.clone(),
            rule: label,
            reason,
        },
        Reject::Invalid(reason) => RuleError::Invalid {
            origin: origin.clone(),
            rule_id: label,
            reason,
        },
    })
}

fn convert(doc: &Value, origin: &Origin) -> Result<Rule, Reject> {
    let Value::Mapping(m) = doc else {
        return invalid("a Sigma rule is a mapping");
    };
    for (k, _) in m {
        let key = k.as_str().unwrap_or("");
        match key {
            "correlation" => return unsupported("Sigma correlation rules"),
            "action" => return unsupported("multi-document rule collections (`action:`)"),
            "filter" => return unsupported("Sigma filter rules"),
            _ if METADATA_KEYS.contains(&key) => {}
            _ => return invalid(format!("unknown key `{}`", yaml_key(k))),
        }
    }
    let title = text_field(m, "title")?.ok_or(Reject::Invalid("missing `title`".into()))?;
    let id = match text_field(m, "id")?.or(text_field(m, "name")?) {
        Some(id) => id,
        None => title
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect(),
    };
    check_id(&id).map_err(Reject::Invalid)?;
    let severity = match text_field(m, "level")?.as_deref() {
        None | Some("medium") => Severity::Medium,
        Some("informational") => Severity::Info,
        Some("low") => Severity::Low,
        Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some(other) => return invalid(format!("unknown level `{other}`")),
    };
    let status = match text_field(m, "status")?.as_deref() {
        None | Some("stable" | "test" | "experimental") => RuleStatus::Enabled,
        Some("deprecated" | "unsupported") => RuleStatus::Disabled,
        Some(other) => return invalid(format!("unknown status `{other}`")),
    };
    let tags = match m.get("tags") {
        None => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or(Reject::Invalid("`tags` must be strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return invalid(format!("`tags` must be a list, not {}", describe(other))),
    };
    let service_cond = logsource(m.get("logsource"))?;
    let (detection, threshold) = match m.get("detection") {
        Some(Value::Mapping(d)) => detection(d)?,
        Some(other) => {
            return invalid(format!(
                "`detection` must be a mapping, not {}",
                describe(other)
            ));
        }
        None => return invalid("missing `detection`"),
    };
    let expr = match service_cond {
        Some(s) => Expr::All(vec![s, detection]),
        None => detection,
    };
    Ok(Rule {
        id,
        description: text_field(m, "description")?.unwrap_or_default(),
        title,
        severity,
        status,
        tags,
        expr,
        threshold,
        format: RuleFormat::Sigma,
        origin: origin.clone(),
    })
}

fn yaml_key(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => describe(other).to_owned(),
    }
}

fn text_field(m: &Mapping, key: &str) -> Result<Option<String>, Reject> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => invalid(format!("`{key}` must be text, not {}", describe(other))),
    }
}

/// Record formats (the `format` field) of web servers' logs: access logs, error logs.
const WEB_FORMATS: [&str; 2] = ["combined", "web_error"];

/// Checks `logsource` and returns the condition that keeps the rule to records of that source
/// (the mapping table is in `docs/rules.md`).
fn logsource(ls: Option<&Value>) -> Result<Option<Expr>, Reject> {
    let m = match ls {
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            return invalid(format!(
                "`logsource` must be a mapping, not {}",
                describe(other)
            ));
        }
        None => return invalid("missing `logsource`"),
    };
    let mut product = None;
    let mut service = None;
    let mut category = None;
    for (k, v) in m {
        let key = k.as_str().unwrap_or("");
        let text = v.as_str().map(str::to_ascii_lowercase);
        match key {
            "product" => product = text,
            "service" => service = text,
            "category" => category = text,
            "definition" => {}
            _ => return unsupported(format!("logsource key `{}`", yaml_key(k))),
        }
    }
    let formats = |names: &[&str]| {
        let values = names.iter().map(|s| (*s).to_owned()).collect();
        Expr::cond("format", Op::In(values), false)
    };
    let process = |names: &[&str]| {
        let values = names.iter().map(|s| (*s).to_owned()).collect();
        Expr::cond("process", Op::In(values), true)
    };
    let web_product = matches!(product.as_deref(), Some("nginx" | "apache"));
    if let Some(c) = &category {
        return match (c.as_str(), product.as_deref(), service.as_deref()) {
            ("webserver", None | Some("nginx" | "apache"), None) => {
                Ok(Some(formats(&["combined"])))
            }
            ("webserver", _, _) => unsupported(format!(
                "logsource category `webserver` with {}",
                if service.is_some() {
                    "a service"
                } else {
                    "a product other than nginx or apache"
                }
            )),
            _ => unsupported(format!(
                "logsource category `{c}`: only Linux log files, syslog, journald and web server logs are read"
            )),
        };
    }
    if let Some(p) = &product
        && p != "linux"
        && !web_product
    {
        return unsupported(format!(
            "logsource product `{p}` (only `linux`, `nginx`, `apache`)"
        ));
    }
    let Some(service) = service else {
        return match product.as_deref() {
            Some("linux") => Ok(Some(Expr::Not(Box::new(formats(&WEB_FORMATS))))),
            Some(_) => Ok(Some(formats(&WEB_FORMATS))),
            None => unsupported("logsource names neither a product nor a service"),
        };
    };
    if matches!(service.as_str(), "nginx" | "apache") || web_product {
        return match (service.as_str(), product.as_deref()) {
            ("nginx" | "apache", p) if p.is_none_or(|p| p == service) => {
                Ok(Some(formats(&WEB_FORMATS)))
            }
            ("access", Some(_)) => Ok(Some(formats(&["combined"]))),
            ("error", Some(_)) => Ok(Some(formats(&["web_error"]))),
            _ => unsupported(format!(
                "logsource service `{service}` with product `{}`",
                product.as_deref().unwrap_or("linux")
            )),
        };
    }
    if !SIGMA_SERVICES.contains(&service.as_str()) {
        return unsupported(format!(
            "logsource service `{service}` (supported: {})",
            SIGMA_SERVICES.join(", ")
        ));
    }
    let not_web = Expr::Not(Box::new(formats(&WEB_FORMATS)));
    Ok(Some(match service.as_str() {
        "sshd" => Expr::all(vec![not_web, process(&["sshd"])]),
        "sudo" => Expr::all(vec![not_web, process(&["sudo"])]),
        "su" => Expr::all(vec![not_web, process(&["su"])]),
        "cron" => Expr::all(vec![not_web, process(&["cron", "crond"])]),
        "vsftpd" => Expr::all(vec![not_web, process(&["vsftpd"])]),
        "journald" => formats(&["journal"]),
        _ => not_web,
    }))
}

fn detection(d: &Mapping) -> Result<(Expr, Option<Threshold>), Reject> {
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
            Some((l, r)) => (l, Some(r.trim())),
            None => (*c, None),
        };
        exprs.push(resolve(&condition::parse(search_part)?, &searches)?);
        if let Some(agg) = agg {
            if conds.len() > 1 {
                return unsupported("an aggregation in one of several conditions");
            }
            aggregation = Some(parse_aggregation(agg)?);
        }
    }
    let threshold = match (aggregation, timeframe) {
        (Some(agg), Some(tf)) => Some(agg.threshold(window(tf)?)),
        (Some(_), None) => {
            return unsupported("an aggregation without `timeframe` (an unbounded window)");
        }
        (None, Some(_)) => return unsupported("`timeframe` without an aggregation"),
        (None, None) => None,
    };
    // Several conditions (Sigma 1.0) mean any of them.
    Ok((Expr::any(exprs), threshold))
}

/// `count() [by f1, f2] > N` (or `>= N`), the one aggregation the native threshold expresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Aggregation {
    /// Matches needed in the window.
    count: u32,
    group_by: Vec<String>,
}

impl Aggregation {
    fn threshold(self, window: Duration) -> Threshold {
        Threshold {
            count: self.count,
            window,
            group_by: self.group_by,
        }
    }
}

/// Parses the part of a condition after `|` (Sigma v1: `count([field]) [by f, …] op N`).
fn parse_aggregation(text: &str) -> Result<Aggregation, Reject> {
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
fn window(v: &Value) -> Result<Duration, Reject> {
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
fn keyword(v: &Value) -> Result<Expr, Reject> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

fn field_item(key: &str, v: &Value) -> Result<Expr, Reject> {
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

fn map_field(name: &str) -> String {
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
fn glob_op(value: &str, base: Base) -> Op {
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
