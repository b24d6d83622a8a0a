//! `Evidence`: what an alert's source address rests on, the class the responder and the container
//! guard decide on (docs/threat-model.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an alert's source address rests on: whether someone who forges packets or log lines
/// could have made the alert name an address of their choosing (`docs/threat-model.md`).
///
/// Ordered from weakest to strongest, so the evidence of something built from several
/// observations is the `min` of theirs. The responder blocks on `Verified` evidence only unless the
/// operator opts in (`[response] block_unverified`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A log line whose writer cannot be authenticated (a plain file, syslog from an untrusted
    /// sender, a journal entry whose trusted fields do not name the service it claims to be, an
    /// alert submitted from outside). Anyone who can write a line can choose the address.
    #[default]
    Forgeable,
    /// Packets a forged source address can produce: TCP SYN without a completed handshake, UDP,
    /// ICMP. The address may belong to a bystander.
    Spoofable,
    /// The peer completed a TCP handshake with this host: a line from an authenticated writer of
    /// a TCP service (sshd's own journal entries, a trusted source), or an established flow.
    Verified,
}

impl Evidence {
    pub const ALL: [Evidence; 3] = [Evidence::Verified, Evidence::Spoofable, Evidence::Forgeable];

    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Verified => "verified",
            Evidence::Spoofable => "spoofable",
            Evidence::Forgeable => "forgeable",
        }
    }

    pub fn is_verified(self) -> bool {
        self == Evidence::Verified
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Evidence {
    type Err = crate::error::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| crate::error::ParseError::Evidence {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_orders_weakest_first_and_parses() {
        assert!(Evidence::Forgeable < Evidence::Spoofable);
        assert!(Evidence::Spoofable < Evidence::Verified);
        assert_eq!(
            Evidence::Verified.min(Evidence::Spoofable),
            Evidence::Spoofable
        );
        for e in Evidence::ALL {
            assert_eq!(e.as_str().parse::<Evidence>(), Ok(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{e}\""));
        }
        assert!("trusted".parse::<Evidence>().is_err());
    }
}
