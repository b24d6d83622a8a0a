//! `IRONPOST_{SECTION}_{FIELD}` environment overrides.
//!
//! Sections are discovered from the config type's defaults (every table, nested ones included:
//! `log_pipeline.storage` is `LOG_PIPELINE_STORAGE`), so no list of variables is kept by hand. The
//! longest matching section that has the key wins (else the longest). A value takes the type of the key it replaces (from the file,
//! else from the default): strings are taken verbatim; integers, floats and booleans are parsed;
//! arrays accept TOML (`["a","b"]`) or a comma-separated list. A key with no default (an optional
//! setting) takes the value as TOML when it parses as such, else as a string; quote it
//! (`'"123"'`) to force a string.

use toml::{Table, Value};

use super::ConfigError;

/// Prefix of every override variable.
pub(crate) const PREFIX: &str = "IRONPOST_";

/// `IRONPOST_*` variables that are not config overrides: the config path, and test settings.
pub const RESERVED_ENV_VARS: &[&str] = &["IRONPOST_CONFIG", "IRONPOST_TEST_*"];

/// One applied override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    pub var: String,
    /// Dotted key it set, e.g. `log_pipeline.storage.postgres_url`.
    pub key: String,
}

fn is_reserved(var: &str) -> bool {
    RESERVED_ENV_VARS.iter().any(|r| match r.strip_suffix('*') {
        Some(prefix) => var.starts_with(prefix),
        None => var == *r,
    })
}

/// Dotted paths of every table in `defaults`, longest first.
fn sections(defaults: &Table) -> Vec<String> {
    fn walk(t: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            if let Value::Table(sub) = v {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(sub, &path, out);
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(defaults, "", &mut out);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

fn lookup<'a>(t: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = t;
    for p in parents {
        cur = cur.get(*p)?.as_table()?;
    }
    cur.get(*last)
}

fn parse_value(var: &str, raw: &str, hint: Option<&Value>) -> Result<Value, ConfigError> {
    let bad = |what: &str| ConfigError::Env {
        var: var.to_owned(),
        message: format!("`{raw}` is not {what}"),
    };
    let as_toml = |raw: &str| -> Option<Value> {
        toml::from_str::<Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    Ok(match hint {
        Some(Value::String(_)) => Value::String(raw.to_owned()),
        Some(Value::Integer(_)) => {
            Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
        }
        Some(Value::Float(_)) => Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?),
        Some(Value::Boolean(_)) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Boolean(true),
            "false" | "0" | "no" | "off" => Value::Boolean(false),
            _ => return Err(bad("a boolean (true/false)")),
        },
        Some(Value::Array(items)) => {
            if raw.trim_start().starts_with('[') {
                as_toml(raw)
                    .filter(Value::is_array)
                    .ok_or_else(|| bad("a TOML array"))?
            } else {
                let elem = items.first();
                let parts: Vec<&str> = raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    out.push(match elem {
                        None | Some(Value::String(_)) => Value::String(p.to_owned()),
                        other => parse_value(var, p, other)?,
                    });
                }
                Value::Array(out)
            }
        }
        Some(Value::Table(_)) => as_toml(raw)
            .filter(Value::is_table)
            .ok_or_else(|| bad("a TOML inline table"))?,
        Some(Value::Datetime(_)) | None => {
            as_toml(raw).unwrap_or_else(|| Value::String(raw.to_owned()))
        }
    })
}

/// Applies every `IRONPOST_*` variable in `env` to `table`.
pub(super) fn apply(
    table: &mut Table,
    defaults: &Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<EnvOverride>, ConfigError> {
    let sections = sections(defaults);
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && !is_reserved(k))
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let rest = &var[PREFIX.len()..];
        // Every section the variable can name, longest first. `IRONPOST_A_B_C` reads as `a.b` +
        // `c` or as `a` + `b_c`: the first reading whose key exists (in the file or the defaults)
        // wins, else the longest.
        let candidates: Vec<(&str, String)> = sections
            .iter()
            .filter_map(|s| {
                let upper = s.replace('.', "_").to_ascii_uppercase();
                rest.strip_prefix(&upper)
                    .and_then(|r| r.strip_prefix('_'))
                    .filter(|field| !field.is_empty())
                    .map(|field| (s.as_str(), field.to_ascii_lowercase()))
            })
            .collect();
        let exists = |(section, field): &(&str, String)| {
            let mut path: Vec<&str> = section.split('.').collect();
            path.push(field);
            lookup(table, &path).is_some() || lookup(defaults, &path).is_some()
        };
        let found = candidates
            .iter()
            .find(|c| exists(c))
            .or(candidates.first())
            .cloned();
        let Some((section, field)) = found else {
            return Err(ConfigError::Env {
                var,
                message: format!(
                    "names no config section; expected IRONPOST_{{SECTION}}_{{FIELD}} with SECTION one of {}",
                    sections
                        .iter()
                        .map(|s| s.replace('.', "_").to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let mut path: Vec<&str> = section.split('.').collect();
        path.push(&field);
        let hint = lookup(table, &path)
            .or_else(|| lookup(defaults, &path))
            .cloned();
        let value = parse_value(&var, &raw, hint.as_ref())?;
        let mut cur: &mut Table = table;
        for p in &path[..path.len() - 1] {
            let entry = cur
                .entry((*p).to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            cur = match entry {
                Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        message: format!("`{p}` is not a table in the config file"),
                    });
                }
            };
        }
        cur.insert(field.clone(), value);
        applied.push(EnvOverride {
            var,
            key: format!("{section}.{field}"),
        });
    }
    Ok(applied)
}

/// The override that set `key` or one of its ancestors, if any.
pub(super) fn find<'a>(overrides: &'a [EnvOverride], key: &str) -> Option<&'a EnvOverride> {
    overrides.iter().find(|o| {
        key == o.key
            || key
                .strip_prefix(o.key.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}
