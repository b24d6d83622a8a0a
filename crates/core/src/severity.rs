//! Alert severity: `info < low < medium < high < critical`, parsed case-insensitively.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How bad an event is. The order is meaningful: `Severity::High > Severity::Medium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every level, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in config files, the database and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// One level up, saturating at `critical` (used to raise alerts about vulnerable containers).
    pub fn raised(self, levels: u8) -> Severity {
        let idx = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(idx + usize::from(levels)).min(Self::ALL.len() - 1)]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = crate::error::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| crate::error::ParseError::Severity {
                input: s.to_owned(),
            })
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Severity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of info, low, medium, high, critical")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Severity, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_info_to_critical() {
        for pair in Severity::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn parses_case_insensitively() {
        for (text, want) in [
            ("info", Severity::Info),
            ("LOW", Severity::Low),
            ("Medium", Severity::Medium),
            (" high ", Severity::High),
            ("CRITICAL", Severity::Critical),
        ] {
            assert_eq!(text.parse::<Severity>(), Ok(want), "{text:?}");
        }
        let err = "severe".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("severe"), "{err}");
    }

    #[test]
    fn serde_round_trip_is_lowercase() {
        let json = serde_json::to_string(&Severity::High).unwrap();
        assert_eq!(json, "\"high\"");
        let back: Severity = serde_json::from_str("\"HiGh\"").unwrap();
        assert_eq!(back, Severity::High);
    }

    #[test]
    fn raise_saturates() {
        assert_eq!(Severity::Low.raised(1), Severity::Medium);
        assert_eq!(Severity::High.raised(3), Severity::Critical);
        assert_eq!(Severity::Critical.raised(1), Severity::Critical);
    }
}
