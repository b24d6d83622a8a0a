//! `RuleError`: why a rule file or a rule was rejected, with the file, line and rule id as data.

use std::fmt;
use std::path::PathBuf;

use super::Origin;

/// A rule file or one rule in it could not be used. Loading and compiling report one error per
/// rule and keep the others.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{}: cannot read rules", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: rule file is {size} bytes, more than the {max} accepted", path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },

    /// The YAML is malformed or does not fit the format (unknown key, wrong type, missing key).
    /// `origin` has the line and column of the offending token.
    #[error("{origin}: {}{}", RuleLabel(rule_id.as_deref()), YamlMessage(error))]
    Yaml {
        origin: Origin,
        /// The rule the error is in, when it could be told (`None`: the file itself is broken).
        rule_id: Option<String>,
        error: yaml_serde::Error,
    },

    /// Well-formed YAML with a meaning we reject (bad CIDR, empty id, threshold of zero …).
    #[error("{origin}: rule `{rule_id}`: {reason}")]
    Invalid {
        origin: Origin,
        rule_id: String,
        reason: String,
    },

    #[error(
        "{origin}: rule `{rule_id}`: regex of {chars} characters is longer than the {max} accepted"
    )]
    PatternTooLong {
        origin: Origin,
        rule_id: String,
        chars: usize,
        max: usize,
    },

    /// The `regex` crate refused the pattern: a syntax error, or it exceeds the size limits.
    #[error("{origin}: rule `{rule_id}`: regex `{pattern}` rejected")]
    Regex {
        origin: Origin,
        rule_id: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },

    /// A Sigma construct this engine does not implement; the rule is not loaded.
    #[error("{origin}: rule `{rule}`: unsupported: {reason}")]
    Unsupported {
        origin: Origin,
        /// The rule's id, or its title when it has no id.
        rule: String,
        reason: String,
    },

    #[error("{origin}: rule `{rule_id}` is defined twice (first at {first})")]
    DuplicateId {
        origin: Origin,
        rule_id: String,
        first: Origin,
    },
}

impl RuleError {
    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            RuleError::Read { path, .. } | RuleError::TooLarge { path, .. } => Some(path),
            RuleError::Yaml { origin, .. }
            | RuleError::Invalid { origin, .. }
            | RuleError::PatternTooLong { origin, .. }
            | RuleError::Regex { origin, .. }
            | RuleError::Unsupported { origin, .. }
            | RuleError::DuplicateId { origin, .. } => origin.path.as_deref(),
        }
    }

    /// The rule the error is about (its id, or a Sigma rule's title when it has no id).
    pub fn rule(&self) -> Option<&str> {
        match self {
            RuleError::Read { .. } | RuleError::TooLarge { .. } => None,
            RuleError::Yaml { rule_id, .. } => rule_id.as_deref(),
            RuleError::Invalid { rule_id, .. }
            | RuleError::PatternTooLong { rule_id, .. }
            | RuleError::Regex { rule_id, .. }
            | RuleError::DuplicateId { rule_id, .. } => Some(rule_id),
            RuleError::Unsupported { rule, .. } => Some(rule),
        }
    }

    /// Whether the rule uses something this engine does not implement (as opposed to being wrong).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, RuleError::Unsupported { .. })
    }
}

struct RuleLabel<'a>(Option<&'a str>);

impl fmt::Display for RuleLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "rule `{id}`: "),
            None => Ok(()),
        }
    }
}

/// A YAML error's message without the " at line L column C" suffix, which `origin` already shows.
struct YamlMessage<'a>(&'a yaml_serde::Error);

impl fmt::Display for YamlMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let trimmed = match (self.0.location(), text.rfind(" at line ")) {
            (Some(_), Some(at)) => &text[..at],
            _ => text.as_str(),
        };
        f.write_str(trimmed)
    }
}
