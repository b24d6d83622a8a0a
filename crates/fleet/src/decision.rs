//! A shared block decision: the value stored under a CIDR's key in the `ironpost_blocks` bucket,
//! and the key encoding. Values come from other hosts: parsing is bounded and never panics.

use chrono::{DateTime, Utc};
use ironpost_core::Evidence;
use ironpost_core::event::EventId;
use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

/// A value larger than this is refused (a decision is about 300 bytes).
pub const MAX_DECISION_BYTES: usize = 4096;
/// Longest reason kept from a remote decision.
pub const MAX_REASON_CHARS: usize = 256;

/// One node's decision to block `cidr`. An unblock is the key's delete marker, not a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub cidr: Cidr,
    /// The node that decided (never re-published by the others).
    pub origin: String,
    /// The alert that caused it; none for an operator's block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<EventId>,
    pub evidence: Evidence,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
    /// None: until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a received value is not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    Malformed,
    /// The key does not name the CIDR the value holds.
    KeyMismatch,
}

impl Refusal {
    /// The `reason` label of `ironpost_fleet_decisions_invalid_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Malformed => "malformed",
            Refusal::KeyMismatch => "key_mismatch",
        }
    }
}

impl Decision {
    /// Parses a value received under `key`.
    pub fn parse(key: &str, value: &[u8]) -> Result<Decision, Refusal> {
        if value.len() > MAX_DECISION_BYTES {
            return Err(Refusal::TooLarge);
        }
        let mut d: Decision = serde_json::from_slice(value).map_err(|_| Refusal::Malformed)?;
        if key_of(d.cidr) != key {
            return Err(Refusal::KeyMismatch);
        }
        if d.origin.is_empty() || d.origin.len() > crate::config::MAX_NODE_NAME {
            return Err(Refusal::Malformed);
        }
        if d.reason.chars().count() > MAX_REASON_CHARS {
            d.reason = d.reason.chars().take(MAX_REASON_CHARS).collect();
        }
        Ok(d)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Still in force at `now` (a permanent block always is).
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// The bucket key of a CIDR: its text with `:` (not allowed in keys) as `-`, which no CIDR holds.
pub fn key_of(cidr: Cidr) -> String {
    let text = cidr.0.to_string();
    text.replace(':', "-")
}

/// The CIDR a key names (`None`: not a key this crate writes).
pub fn cidr_of(key: &str) -> Option<Cidr> {
    if key.len() > 64 {
        return None;
    }
    key.replace('-', ":").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(cidr: &str) -> Decision {
        Decision {
            cidr: cidr.parse().unwrap(),
            origin: "node-a".into(),
            alert_id: None,
            evidence: Evidence::Verified,
            reason: "manual".into(),
            decided_at: Utc::now(),
            expires_at: None,
        }
    }

    #[test]
    fn keys_round_trip_for_both_families() {
        for c in [
            "198.18.7.1",
            "198.18.0.0/15",
            "2001:db8::1",
            "2001:db8::/32",
        ] {
            let cidr: Cidr = c.parse().unwrap();
            let k = key_of(cidr);
            assert!(!k.contains(':'), "{k}");
            assert_eq!(cidr_of(&k), Some(cidr), "{k}");
        }
        assert_eq!(cidr_of("not-a-cidr"), None);
    }

    #[test]
    fn parse_checks_size_shape_and_key() {
        let d = decision("198.18.7.1");
        let key = key_of(d.cidr);
        assert_eq!(Decision::parse(&key, &d.to_json()), Ok(d.clone()));
        assert_eq!(
            Decision::parse("198.18.7.2/32", &d.to_json()),
            Err(Refusal::KeyMismatch)
        );
        assert_eq!(Decision::parse(&key, b"{"), Err(Refusal::Malformed));
        assert_eq!(
            Decision::parse(&key, &vec![b' '; MAX_DECISION_BYTES + 1]),
            Err(Refusal::TooLarge)
        );
        let mut long = d.clone();
        long.reason = "x".repeat(1000);
        assert_eq!(
            Decision::parse(&key, &long.to_json()).map(|d| d.reason.len()),
            Ok(MAX_REASON_CHARS)
        );
        let mut anonymous = d;
        anonymous.origin.clear();
        assert_eq!(
            Decision::parse(&key, &anonymous.to_json()),
            Err(Refusal::Malformed)
        );
    }

    #[test]
    fn expiry_is_exclusive() {
        let now = Utc::now();
        let mut d = decision("198.18.7.1");
        assert!(d.live_at(now));
        d.expires_at = Some(now);
        assert!(!d.live_at(now));
        d.expires_at = Some(now + chrono::Duration::seconds(1));
        assert!(d.live_at(now));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(key in ".{0,80}", value in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = Decision::parse(&key, &value);
            let _ = cidr_of(&key);
        }
    }
}
