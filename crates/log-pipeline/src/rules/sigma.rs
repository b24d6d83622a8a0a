//! Sigma import for Linux log sources: a Sigma rule becomes a [`Rule`] whose expression is the
//! compiled `detection`/`condition`. What cannot be honoured exactly is an
//! [`RuleError::Unsupported`] naming the construct — never silently dropped.
//!
//! **Log sources** (`logsource`) become a condition on the record's `format` (the grammar that
//! read it) and, for some services, its `process`, so a rule only runs on records of its source:
//! `product: linux` (and its services) on everything but web server logs and auditd events;
//! `service: auditd` means `format: auditd` (one view per record of a joined event, see
//! `parse/auditd_join.rs`: `type`, `SYSCALL`, `a0` … read as written); `service: sshd`, `sudo`,
//! `su`, `cron`, `vsftpd` add `process` = that program (`cron`: `cron` or `crond`,
//! case-insensitive); `auth` and `syslog` add nothing; `journald` means `format: journal`;
//! `category: webserver` (alone or with `product: nginx|apache`) means web access logs
//! (`format: combined`); `service: nginx|apache` or `product: nginx|apache` access and error logs
//! (the parsers cannot tell nginx's lines from Apache's), with `service: access|error` one of them.
//! `category: process_creation`, `file_event` or `network_connection` (with `product: linux` or
//! none, no service) means `format` = that category: the process monitor's kernel records
//! (`source/process.rs`, Sigma's field names), which no other log source's rule sees.
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
//! **Aggregations** (Sigma v1, `sigma/aggregation.rs`): `search | count() [by f1, f2] > N` (or
//! `>= N`) with `detection.timeframe` (`30s`, `10m`, `1h`, `2d`) becomes the rule's native
//! [`super::Threshold`] (`count` N+1, or N, per group within the window), so the alerter's sliding
//! window, bounded LRU group state (evictions counted) and once-per-crossing dedup apply as to
//! native rules. `count(field) [by …] > N` counts distinct values of `field`
//! ([`super::Correlate::Distinct`], at most [`MAX_DISTINCT`]); `a near b [and c]` and
//! `a | near b [and c]` alert when every part matched within the timeframe, in any order
//! ([`super::Correlate::Near`]). Unsupported: `<`, `<=`, `=` (decided only when a window ends,
//! which no match announces), `near … and not …`, `near` inside parentheses, other functions, an
//! aggregation without `timeframe`, `timeframe` without one, an aggregation in one of several
//! conditions, correlation rules, `action:` multi-document collections, Sigma filters.
//!
//! **Fields** are mapped by [`SIGMA_FIELD_MAP`]; other names are looked up as written (JSON keys,
//! `SDID.param`, `outcome` …).
//!
//! **Metadata**: `level` → severity (`informational` → info; absent → medium); `status`
//! `deprecated` and `unsupported` → disabled, other statuses → enabled; the rule id is `id`, else
//! `name`, else the title with non-alphanumerics as `_`.

mod aggregation;
mod condition;
mod detection;
mod modifiers;

pub use aggregation::MAX_DISTINCT;

use ironpost_core::severity::Severity;
use yaml_serde::{Mapping, Value};

use super::expr::{Expr, Op};
use super::native::{check_id, describe};
use super::{Origin, Rule, RuleError, RuleFormat, RuleStatus};
use condition::CondError;
use detection::detection;

/// `logsource.service` values accepted.
pub const SIGMA_SERVICES: &[&str] = &[
    "auth", "sshd", "syslog", "sudo", "su", "cron", "vsftpd", "journald", "auditd", "nginx",
    "apache",
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

/// Record formats that are not syslog-like text: web server logs, auditd events (which only
/// `service: auditd` rules see) and the process monitor's kernel records (which only rules of
/// their category see, `source/process.rs`).
const NOT_SYSLOG: [&str; 6] = [
    "combined",
    "web_error",
    "auditd",
    "process_creation",
    "file_event",
    "network_connection",
];

/// `logsource.category` values read from the process monitor's kernel records
/// (`source/process.rs`): each means `format` = the category.
const SIGMA_PROCESS_CATEGORIES: &[&str] = &["process_creation", "file_event", "network_connection"];

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
            (c, None | Some("linux"), None) if SIGMA_PROCESS_CATEGORIES.contains(&c) => {
                Ok(Some(formats(&[c])))
            }
            ("webserver", _, _) => unsupported(format!(
                "logsource category `webserver` with {}",
                if service.is_some() {
                    "a service"
                } else {
                    "a product other than nginx or apache"
                }
            )),
            (c, _, _) if SIGMA_PROCESS_CATEGORIES.contains(&c) => unsupported(format!(
                "logsource category `{c}` with {}: the process monitor's records are Linux's, without a service",
                if service.is_some() {
                    "a service"
                } else {
                    "a product other than linux"
                }
            )),
            _ => unsupported(format!(
                "logsource category `{c}`: only Linux log files, syslog, journald, web server logs and the process monitor's process_creation, file_event and network_connection are read"
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
            Some("linux") => Ok(Some(Expr::Not(Box::new(formats(&NOT_SYSLOG))))),
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
    let not_web = Expr::Not(Box::new(formats(&NOT_SYSLOG)));
    Ok(Some(match service.as_str() {
        "sshd" => Expr::all(vec![not_web, process(&["sshd"])]),
        "sudo" => Expr::all(vec![not_web, process(&["sudo"])]),
        "su" => Expr::all(vec![not_web, process(&["su"])]),
        "cron" => Expr::all(vec![not_web, process(&["cron", "crond"])]),
        "vsftpd" => Expr::all(vec![not_web, process(&["vsftpd"])]),
        "journald" => formats(&["journal"]),
        "auditd" => formats(&["auditd"]),
        _ => not_web,
    }))
}
