//! Maps dotted keys and byte spans back to `file:line:column`, so that every config error points at
//! the place to fix.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::{ConfigError, ConfigText, LocatedIssue, Origin};

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A place in a config file (or in the embedded defaults).
    File {
        origin: String,
        line: usize,
        column: usize,
    },
    /// An `IRONPOST_*` environment variable.
    Env { var: String },
    /// Not written anywhere: the built-in default of a key absent from `origin`.
    Default { origin: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                origin,
                line,
                column,
            } => write!(f, "{origin}:{line}:{column}"),
            Location::Env { var } => write!(f, "environment variable {var}"),
            Location::Default { origin } => write!(f, "{origin} (built-in default)"),
        }
    }
}

/// One step of a dotted key path.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `ebpf.rules[0].src_ip` into `ebpf`, `rules`, `0`, `src_ip`.
fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty() && *p != "?") {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

pub(super) struct Locator<'a> {
    source: &'a ConfigText,
}

impl<'a> Locator<'a> {
    pub(super) fn new(source: &'a ConfigText) -> Result<Self, ConfigError> {
        let locator = Locator { source };
        DeTable::parse(&source.text).map_err(|e| locator.syntax(&e))?;
        Ok(locator)
    }

    fn origin(&self) -> String {
        self.source.origin.to_string()
    }

    fn at(&self, offset: usize) -> Location {
        let text = &self.source.text;
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location::File {
            origin: self.origin(),
            line,
            column,
        }
    }

    pub(super) fn syntax(&self, e: &toml::de::Error) -> ConfigError {
        let location = match e.span() {
            Some(span) => self.at(span.start),
            None => Location::Default {
                origin: self.origin(),
            },
        };
        ConfigError::Syntax {
            location,
            message: e.message().trim().to_owned(),
        }
    }

    pub(super) fn field(
        &self,
        key: &str,
        span: Option<Range<usize>>,
        message: &str,
    ) -> LocatedIssue {
        let location = match span {
            Some(span) => self.at(span.start),
            None => self.key(key),
        };
        LocatedIssue {
            location,
            key: key.to_owned(),
            message: message.trim().to_owned(),
        }
    }

    /// The place where `key` is written, or its closest written ancestor.
    pub(super) fn key(&self, key: &str) -> Location {
        let Ok(root) = DeTable::parse(&self.source.text) else {
            return Location::Default {
                origin: self.origin(),
            };
        };
        let mut best: Option<usize> = None;
        let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
        let mut value: Option<&DeValue<'_>> = None;
        for seg in segments(key) {
            let next = match (seg, table, value) {
                (Segment::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(name, _)| name.get_ref() == k)
                    .map(|(name, v)| {
                        best = Some(name.span().start);
                        v
                    }),
                (Segment::Index(i), _, Some(DeValue::Array(a))) => {
                    a.get(i).inspect(|v| best = Some(v.span().start))
                }
                _ => None,
            };
            let Some(next) = next else { break };
            value = Some(next.get_ref());
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        match (best, &self.source.origin) {
            (Some(offset), _) => self.at(offset),
            (None, Origin::File(_) | Origin::Embedded(_)) => Location::Default {
                origin: self.origin(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths_with_indices() {
        assert_eq!(
            segments("ebpf.rules[1].src_ip"),
            vec![
                Segment::Key("ebpf"),
                Segment::Key("rules"),
                Segment::Index(1),
                Segment::Key("src_ip")
            ]
        );
        assert_eq!(segments("general"), vec![Segment::Key("general")]);
    }

    #[test]
    fn finds_nested_keys_and_array_elements() {
        let src = ConfigText::embedded(
            "t",
            "[general]\nlog_level = \"info\"\n\n[[ebpf.rules]]\nid = \"a\"\n\n[[ebpf.rules]]\nid = \"b\"\nsrc_ip = \"x\"\n",
        );
        let l = Locator::new(&src).unwrap();
        let at = |k: &str| match l.key(k) {
            Location::File { line, .. } => line,
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(at("general.log_level"), 2);
        assert_eq!(at("ebpf.rules[1].src_ip"), 9);
        assert_eq!(at("ebpf.rules[1]"), 7);
        // A key that is not written points at its closest written ancestor.
        assert_eq!(at("general.data_dir"), 1);
        assert!(matches!(l.key("sbom.enabled"), Location::Default { .. }));
    }
}
