//! The `[response]` section: which alerts block their source address in XDP, for how long, and on
//! what evidence (the policy is described in `response/mod.rs`). Always compiled, without the
//! engine's runtime: the CLI validates this section offline.

use std::time::Duration;

use ironpost_core::AlertEvent;
use ironpost_core::Severity;
use ironpost_core::config::{Issues, Validate, key, secs};
use ironpost_core::glob::glob_match;
use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

/// `[response]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Block the source address of qualifying alerts in XDP (needs `[ebpf] enabled`).
    pub enabled: bool,
    /// Record `ip_block` actions with outcome `dry_run` instead of blocking.
    pub dry_run: bool,
    /// Alerts below this severity never block.
    pub min_severity: Severity,
    /// Rule ids (`*`/`?` globs) whose alerts block. With `tags`: an alert qualifies when its rule
    /// id or one of its tags is listed; both empty: every alert at or above `min_severity`.
    pub rule_ids: Vec<String>,
    /// Alert tags (e.g. `attack.t1110`) whose alerts block.
    pub tags: Vec<String>,
    /// Block duration for a first offence on verified evidence; repeat offenders get twice the
    /// previous one (7 days at most) when `escalate` is on.
    #[serde(rename = "block_ttl_secs", with = "secs")]
    pub block_ttl: Duration,
    pub escalate: bool,
    /// Never blocked, in addition to loopback, this host's addresses and its default gateways.
    pub allowlist: Vec<Cidr>,
    /// Also block on `spoofable` and `forgeable` evidence (which a forged packet or log line can
    /// produce, naming any bystander): short TTL, no escalation, capped per minute, never a
    /// protected peer. Off: such alerts are stored and shown, nothing is blocked.
    pub block_unverified: bool,
    /// Block duration on unverified evidence (1 s to 1 day).
    #[serde(rename = "unverified_block_ttl_secs", with = "secs")]
    pub unverified_block_ttl: Duration,
    /// New blocks on unverified evidence allowed per sliding minute; beyond it the alert is not
    /// acted on (`unverified_rate_limited`). 0: none.
    pub unverified_blocks_per_minute: u32,
    /// How long an address this host had an established TCP connection with stays protected
    /// from blocks on unverified evidence after the connection is gone.
    #[serde(rename = "protected_peer_ttl_secs", with = "secs")]
    pub protected_peer_ttl: Duration,
    /// Networks this host depends on (management, monitoring, upstream routers): never blocked
    /// on unverified evidence.
    pub infrastructure: Vec<Cidr>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            enabled: false,
            dry_run: false,
            min_severity: Severity::Medium,
            rule_ids: Vec::new(),
            tags: Vec::new(),
            block_ttl: Duration::from_secs(3600),
            escalate: true,
            allowlist: Vec::new(),
            block_unverified: false,
            unverified_block_ttl: Duration::from_secs(300),
            unverified_blocks_per_minute: 10,
            protected_peer_ttl: Duration::from_secs(3600),
            infrastructure: Vec::new(),
        }
    }
}

impl Validate for ResponseConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        let ttl = self.block_ttl.as_secs();
        if !(1..=7 * 24 * 3600).contains(&ttl) {
            issues.push(
                key(prefix, "block_ttl_secs"),
                "must be between 1 and 604800 (7 days)",
            );
        }
        if !(1..=24 * 3600).contains(&self.unverified_block_ttl.as_secs()) {
            issues.push(
                key(prefix, "unverified_block_ttl_secs"),
                "must be between 1 and 86400 (1 day)",
            );
        }
        if self.unverified_blocks_per_minute > 10_000 {
            issues.push(
                key(prefix, "unverified_blocks_per_minute"),
                "must be at most 10000",
            );
        }
        if self.protected_peer_ttl.as_secs() > 7 * 24 * 3600 {
            issues.push(
                key(prefix, "protected_peer_ttl_secs"),
                "must be at most 604800 (7 days)",
            );
        }
        for (field, list) in [("rule_ids", &self.rule_ids), ("tags", &self.tags)] {
            for g in list {
                if g.is_empty() || g.len() > 256 {
                    issues.push(
                        key(prefix, field),
                        format!("entry `{g}` must be 1 to 256 characters"),
                    );
                }
            }
        }
    }
}

impl ResponseConfig {
    /// Whether `alert` is one this responder acts on (its source is checked separately).
    pub fn selects(&self, alert: &AlertEvent) -> bool {
        if alert.severity < self.min_severity {
            return false;
        }
        if self.rule_ids.is_empty() && self.tags.is_empty() {
            return true;
        }
        self.rule_ids.iter().any(|g| glob_match(g, &alert.rule_id))
            || alert
                .tags
                .iter()
                .any(|t| self.tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
    }
}
