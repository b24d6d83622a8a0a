//! Configuration loading: one `ironpost.toml`, composed of sections that each module crate owns.
//!
//! Core knows no module's fields. It provides the mechanism — read the file, apply
//! `IRONPOST_{SECTION}_{FIELD}` environment overrides, deserialize with unknown keys rejected, then
//! run each section's own validation — and reports every problem with the file, line and key (or
//! the environment variable) it came from. The daemon's composed config type is loaded with
//! [`load`]; each module section implements [`Validate`].

mod env;
mod general;
mod location;
mod storage;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use env::{EnvOverride, RESERVED_ENV_VARS};
pub use general::{GeneralConfig, LogFormat, LogLevel};
pub use location::Location;
pub use storage::{StorageConfig, WhenFull};

/// Largest config file accepted: a config is human-written; anything bigger is a mistake.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Where the config text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// Text built into the binary (`--defaults`).
    Embedded(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Embedded(name) => write!(f, "<{name}>"),
        }
    }
}

/// The raw text of a config, with its origin.
#[derive(Debug, Clone)]
pub struct ConfigText {
    pub origin: Origin,
    pub text: String,
}

impl ConfigText {
    /// Reads a config file. A missing file is [`ConfigError::Missing`], which tells the user how to
    /// create one.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(ConfigText {
            origin: Origin::File(path.to_owned()),
            text,
        })
    }

    pub fn embedded(name: &'static str, text: impl Into<String>) -> Self {
        ConfigText {
            origin: Origin::Embedded(name),
            text: text.into(),
        }
    }
}

/// One validation problem, by dotted key (`ebpf.rules[0].src_ip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub message: String,
}

/// Collects validation problems; sections add to it with their own key prefix.
#[derive(Debug, Default)]
pub struct Issues {
    items: Vec<Issue>,
}

impl Issues {
    pub fn push(&mut self, key: impl Into<String>, message: impl fmt::Display) {
        self.items.push(Issue {
            key: key.into(),
            message: message.to_string(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_vec(self) -> Vec<Issue> {
        self.items
    }
}

/// Semantic checks a section runs once the types are right (ranges, paths, cross-field rules).
pub trait Validate {
    /// Adds problems under `prefix` (the section's dotted path, e.g. `log_pipeline.storage`).
    fn validate(&self, prefix: &str, issues: &mut Issues);
}

/// A problem found where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedIssue {
    pub location: Location,
    pub key: String,
    pub message: String,
}

impl fmt::Display for LocatedIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: key `{}`: {}", self.location, self.key, self.message)
    }
}

/// Why a config could not be loaded. Every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} not found; write a commented example with `ironpost-cli config init {}`, or start on the built-in defaults with `--defaults`",
        path.display(), path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is {size} bytes, more than the {MAX_CONFIG_BYTES} accepted", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{location}: TOML syntax error: {message}")]
    Syntax { location: Location, message: String },
    #[error("{0}")]
    Field(LocatedIssue),
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// A broken invariant of the program, not of the file: the built-in defaults (needed to type
    /// `IRONPOST_*` values) cannot be written as TOML.
    #[error("internal: the built-in defaults are not representable in TOML")]
    Defaults {
        #[source]
        source: toml::ser::Error,
    },
    #[error("{} invalid setting(s):\n{}", issues.len(), issues.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { issues: Vec<LocatedIssue> },
}

impl ConfigError {
    /// Every located problem this error carries (one for most variants).
    pub fn issues(&self) -> Vec<LocatedIssue> {
        match self {
            ConfigError::Field(i) => vec![i.clone()],
            ConfigError::Invalid { issues } => issues.clone(),
            _ => Vec::new(),
        }
    }
}

/// A loaded, validated config and the environment overrides that shaped it.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub value: T,
    pub origin: Origin,
    pub overrides: Vec<EnvOverride>,
}

/// Loads `T` from `source`, applying `IRONPOST_*` overrides from `env` (pass `std::env::vars()`).
///
/// Steps: syntax check; deserialize the file alone (so file errors carry file:line); apply the
/// environment; deserialize again; run [`Validate`]. Sections and their fields are discovered
/// from `T::default()`, so a new field is overridable without touching this code.
pub fn load<T>(
    source: &ConfigText,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded<T>, ConfigError>
where
    T: DeserializeOwned + Serialize + Default + Validate,
{
    let locator = location::Locator::new(source)?;

    // Pass 1: the file alone, with spans.
    let de = toml::Deserializer::parse(&source.text).map_err(|e| locator.syntax(&e))?;
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Field(locator.field(&key, inner.span(), inner.message()))
    })?;

    // Pass 2: file + environment.
    let mut table: toml::Table = toml::from_str(&source.text).map_err(|e| locator.syntax(&e))?;
    let defaults =
        toml::Table::try_from(T::default()).map_err(|source| ConfigError::Defaults { source })?;
    let overrides = env::apply(&mut table, &defaults, env)?;
    let value: T = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let message = e.into_inner().message().to_owned();
        match env::find(&overrides, &key) {
            Some(o) => ConfigError::Env {
                var: o.var.clone(),
                message: format!("key `{key}`: {message}"),
            },
            None => ConfigError::Field(locator.field(&key, None, &message)),
        }
    })?;

    let mut issues = Issues::default();
    value.validate("", &mut issues);
    if !issues.is_empty() {
        let issues = issues
            .into_vec()
            .into_iter()
            .map(|i| LocatedIssue {
                location: match env::find(&overrides, &i.key) {
                    Some(o) => Location::Env { var: o.var.clone() },
                    None => locator.key(&i.key),
                },
                key: i.key,
                message: i.message,
            })
            .collect();
        return Err(ConfigError::Invalid { issues });
    }
    Ok(Loaded {
        value,
        origin: source.origin.clone(),
        overrides,
    })
}

/// Joins a section prefix and a field name into a dotted key.
pub fn key(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// `serde(with = "ironpost_core::config::secs")`: a `Duration` written as whole seconds, as the
/// seed's `*_secs` keys are.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// `serde(with = "ironpost_core::config::millis")`: a `Duration` written as whole milliseconds
/// (the `*_ms` keys).
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***` for display.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
