//! Plain wire types of the control protocol: what the daemon reports about blocks, XDP counters
//! and isolated containers. They are copies of the modules' own types, converted by `From` impls in
//! the module crates, so that a refactor inside a module cannot change the protocol by accident:
//! a change here is a protocol change, and `tests/compat.rs` says whether it is compatible.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ironpost_core::net::Cidr;
use ironpost_core::{EventId, Evidence, TraceId};
use serde::{Deserialize, Serialize};

/// One XDP block, as `ironpost-cli block list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub cidr: Cidr,
    /// The kernel rule id the block carries in drop counters.
    pub rule_id: u32,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    pub added_at: DateTime<Utc>,
    /// None: until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// 1 for a first offence; the TTL was multiplied by 2^(offence-1).
    pub offence: u32,
    /// What the block rests on (see `docs/threat-model.md`).
    #[serde(default)]
    pub evidence: Evidence,
}

/// A block with its hit counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    #[serde(flatten)]
    pub block: Block,
    pub hits: u64,
    pub hit_bytes: u64,
}

/// Packet, byte and drop counts of one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub drops: u64,
}

/// One of `ebpf.extra_interfaces` in [`EngineStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraInterface {
    pub interface: String,
    pub attached: bool,
    /// Why it is not attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Kernel counters and engine state, for `ironpost-cli stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    pub interface: String,
    pub attached: bool,
    /// `ebpf.extra_interfaces`, each with whether the program is attached there now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_interfaces: Vec<ExtraInterface>,
    /// Attached through a BPF link pinned on bpffs: the program keeps enforcing while the
    /// daemon is down.
    #[serde(default)]
    pub pinned: bool,
    /// Where the link and maps are pinned (`<pin_path>/<interface>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_dir: Option<String>,
    /// Why the program is not pinned although `pin_path` asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_note: Option<String>,
    /// By protocol: tcp, udp, icmp, other, total.
    pub traffic: BTreeMap<String, Counters>,
    pub malformed: u64,
    pub events_sent: u64,
    pub events_ringbuf_full: u64,
    pub events_rate_limited: u64,
    /// Packets that matched an expired blocklist entry (passed by the kernel).
    #[serde(default)]
    pub expired_passed: u64,
    pub blocks: usize,
}

/// What the container guard does to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationAction {
    Pause,
    Stop,
    NetworkDisconnect,
}

impl IsolationAction {
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationAction::Pause => "pause",
            IsolationAction::Stop => "stop",
            IsolationAction::NetworkDisconnect => "network_disconnect",
        }
    }
}

/// A network an isolated container was attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

/// One isolated container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    pub container_id: String,
    pub container_name: String,
    /// Every action taken on it since the last restore, in order.
    pub actions: Vec<IsolationAction>,
    pub since: DateTime<Utc>,
    /// The policy, or `manual`.
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// Networks it was disconnected from.
    #[serde(default)]
    pub networks: Vec<Attachment>,
}
