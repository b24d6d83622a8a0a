//! `[fleet]` section: which NATS cluster the hosts of a fleet share, who this node is, and what it
//! shares. Authentication and TLS are `[fleet.nats]`, the same type as `[ids.nats]`.

use ironpost_anomaly_ids::NatsConfig;
use ironpost_core::config::{Issues, Validate, key};
use serde::{Deserialize, Serialize};

/// What a node does in the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Publishes its own block decisions and applies everyone else's.
    #[default]
    Agent,
    /// An agent that also consumes every agent's alerts and actions into its own store (and
    /// publishes none of its own: they are in that store already).
    Central,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Central => "central",
        }
    }
}

/// Longest a node name may be: it is a NATS subject token and a label in `fleet status`.
pub const MAX_NODE_NAME: usize = 64;

/// `[fleet]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    pub enabled: bool,
    /// The NATS servers of the cluster (`nats://host:4222`, `tls://…`); the client fails over
    /// between them.
    pub nats_urls: Vec<String>,
    /// This node's name in the fleet; empty: the host name.
    pub node_name: String,
    pub role: Role,
    /// Also share blocks resting on spoofable or forgeable evidence (off: only verified ones,
    /// which include operators' blocks).
    pub share_unverified: bool,
    /// The JetStream key-value bucket holding the decisions.
    pub bucket: String,
    /// Replicas of the bucket's stream (3 on a 3-node cluster; at most the cluster size).
    pub replicas: usize,
    /// Ceiling on how long a decision stays in the bucket (a permanent block leaves the bucket,
    /// not the nodes that applied it, after this long). Decisions carry their own expiry.
    pub max_age_secs: u64,
    /// Outbound decisions held while NATS is unreachable; past it the oldest is dropped and
    /// counted (`ironpost_fleet_outbound_dropped_total`).
    pub buffer_capacity: usize,
    /// The JetStream key-value bucket of heartbeats (`ironpost-cli fleet status`).
    pub nodes_bucket: String,
    /// How often this node puts its heartbeat (version, module health, block count).
    pub heartbeat_secs: u64,
    /// An agent publishes its alerts and actions to `events_stream` for the central role.
    pub publish_events: bool,
    /// The JetStream stream of every agent's alerts and actions (subjects
    /// `ironpost.<alert|action|heartbeat>.<node>`).
    pub events_stream: String,
    /// Ceiling on the stream's size in bytes (the oldest messages go first past it).
    pub events_max_bytes: u64,
    /// JetStream's duplicate window on the events stream: a publication retried within it is
    /// stored once (the central's store catches what comes later).
    pub duplicate_window_secs: u64,
    /// Outbound alerts and actions held while NATS is unreachable; past it the oldest is dropped
    /// and counted (`ironpost_fleet_events_dropped_total`).
    pub events_buffer_capacity: usize,
    /// The central role's durable consumer on `events_stream`.
    pub central_consumer: String,
    /// Authentication and TLS (the `[ids.nats]` keys; `url` is not used here: `nats_urls` is).
    pub nats: NatsConfig,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            enabled: false,
            nats_urls: Vec::new(),
            node_name: String::new(),
            role: Role::Agent,
            share_unverified: false,
            bucket: "ironpost_blocks".into(),
            replicas: 1,
            max_age_secs: 7 * 24 * 3600,
            buffer_capacity: 10_000,
            nodes_bucket: "ironpost_nodes".into(),
            heartbeat_secs: 10,
            publish_events: true,
            events_stream: "ironpost_events".into(),
            events_max_bytes: 1 << 30,
            duplicate_window_secs: 120,
            events_buffer_capacity: 100_000,
            central_consumer: "ironpost_central".into(),
            nats: NatsConfig::default(),
        }
    }
}

/// A NATS subject token or KV bucket name: letters, digits, `-` and `_`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NODE_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FleetConfig {
    /// `node_name`, or the host name when it is empty.
    pub fn node(&self) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_NODE_NAME)
            .collect();
        if host.is_empty() {
            "localhost".into()
        } else {
            host
        }
    }
}

impl Validate for FleetConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if self.enabled && self.nats_urls.is_empty() {
            issues.push(
                key(prefix, "nats_urls"),
                "is empty but fleet.enabled = true: list the cluster's servers",
            );
        }
        for url in &self.nats_urls {
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                issues.push(
                    key(prefix, "nats_urls"),
                    format!("`{url}` must start with nats:// or tls://"),
                );
            }
        }
        if !self.node_name.is_empty() && !is_token(&self.node_name) {
            issues.push(
                key(prefix, "node_name"),
                format!("must be 1-{MAX_NODE_NAME} letters, digits, `-` or `_`"),
            );
        }
        if !is_token(&self.bucket) {
            issues.push(
                key(prefix, "bucket"),
                format!("must be 1-{MAX_NODE_NAME} letters, digits, `-` or `_`"),
            );
        }
        if !is_token(&self.nodes_bucket) {
            issues.push(
                key(prefix, "nodes_bucket"),
                format!("must be 1-{MAX_NODE_NAME} letters, digits, `-` or `_`"),
            );
        }
        for (name, value) in [
            ("events_stream", &self.events_stream),
            ("central_consumer", &self.central_consumer),
        ] {
            if !is_token(value) {
                issues.push(
                    key(prefix, name),
                    format!("must be 1-{MAX_NODE_NAME} letters, digits, `-` or `_`"),
                );
            }
        }
        if self.events_max_bytes < 1 << 20 {
            issues.push(
                key(prefix, "events_max_bytes"),
                "must be at least 1048576 (1 MiB)",
            );
        }
        if self.duplicate_window_secs == 0 || self.duplicate_window_secs > self.max_age_secs {
            issues.push(
                key(prefix, "duplicate_window_secs"),
                "must be between 1 and max_age_secs",
            );
        }
        if self.events_buffer_capacity == 0 {
            issues.push(key(prefix, "events_buffer_capacity"), "must be at least 1");
        }
        if !(1..=3600).contains(&self.heartbeat_secs) {
            issues.push(key(prefix, "heartbeat_secs"), "must be between 1 and 3600");
        }
        if !(1..=5).contains(&self.replicas) {
            issues.push(key(prefix, "replicas"), "must be between 1 and 5");
        }
        if self.max_age_secs == 0 {
            issues.push(key(prefix, "max_age_secs"), "must be at least 1");
        }
        if self.buffer_capacity == 0 {
            issues.push(key(prefix, "buffer_capacity"), "must be at least 1");
        }
        let nats = key(prefix, "nats");
        if self.nats.url.is_some() {
            issues.push(
                key(&nats, "url"),
                "is not used by the fleet: list the servers in fleet.nats_urls",
            );
        }
        self.nats.validate(&nats, issues);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cfg: FleetConfig) -> Vec<String> {
        let mut issues = Issues::default();
        cfg.validate("fleet", &mut issues);
        issues
            .into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.key, i.message))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_errors_name_their_keys() {
        assert_eq!(check(FleetConfig::default()), Vec::<String>::new());
        let bad = FleetConfig {
            enabled: true,
            node_name: "a b".into(),
            replicas: 0,
            nats: NatsConfig {
                url: Some("nats://x:1".into()),
                creds_file: Some("rel.creds".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            check(bad),
            [
                "fleet.nats_urls: is empty but fleet.enabled = true: list the cluster's servers",
                "fleet.node_name: must be 1-64 letters, digits, `-` or `_`",
                "fleet.replicas: must be between 1 and 5",
                "fleet.nats.url: is not used by the fleet: list the servers in fleet.nats_urls",
                "fleet.nats.creds_file: `rel.creds` must be an absolute path",
            ]
        );
        let urls = FleetConfig {
            nats_urls: vec!["nats://127.0.0.1:4222".into(), "http://x".into()],
            ..Default::default()
        };
        assert_eq!(
            check(urls),
            ["fleet.nats_urls: `http://x` must start with nats:// or tls://"]
        );
    }

    #[test]
    fn node_defaults_to_a_token_made_of_the_host_name() {
        let n = FleetConfig::default().node();
        assert!(is_token(&n), "{n}");
        let named = FleetConfig {
            node_name: "edge-1".into(),
            ..Default::default()
        };
        assert_eq!(named.node(), "edge-1");
    }
}
