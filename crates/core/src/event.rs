//! The four events that travel between modules — `PacketEvent`, `LogEvent`, `AlertEvent`,
//! `ActionEvent` — and the typed entities they carry, so that no consumer parses strings to find an
//! IP address, a port, a container or a package.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ack::Ack;
use crate::error::ParseError;
pub use crate::evidence::Evidence;
use crate::severity::Severity;

/// Unique id of one event (UUID v7: time-ordered, so database indexes stay append-mostly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(EventId)
    }
}

/// Correlates everything caused by one observation: the log line, the alert it raised, the block and
/// the container action taken because of it. 128 random bits, shown as 32 lowercase hex digits (the
/// W3C trace-context form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub u128);

impl TraceId {
    pub fn new() -> Self {
        TraceId(Uuid::new_v4().as_u128())
    }
}

impl Default for TraceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for TraceId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 {
            return Err(ParseError::TraceId {
                input: s.to_owned(),
            });
        }
        u128::from_str_radix(s, 16)
            .map(TraceId)
            .map_err(|_| ParseError::TraceId {
                input: s.to_owned(),
            })
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TraceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Transport protocol of a packet or flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Any other IP protocol, by IANA number.
    Other(u8),
}

impl Protocol {
    /// IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::Icmpv6 => 58,
            Protocol::Other(n) => n,
        }
    }

    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            1 => Protocol::Icmp,
            58 => Protocol::Icmpv6,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Icmpv6 => f.write_str("icmpv6"),
            Protocol::Other(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for Protocol {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        for p in [
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Icmp,
            Protocol::Icmpv6,
        ] {
            if t.eq_ignore_ascii_case(&p.to_string()) {
                return Ok(p);
            }
        }
        t.parse::<u8>()
            .map(Protocol::from_number)
            .map_err(|_| ParseError::Protocol {
                input: s.to_owned(),
            })
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Protocol {
    /// Accepts a name (`"tcp"`) or an IANA number (`6`), as in seed 002's `protocol = 6`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Protocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tcp, udp, icmp, icmpv6 or an IP protocol number 0-255")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Protocol, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::from_number)
                    .map_err(|_| E::custom(format!("protocol number {v} is not in 0-255")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Protocol, E> {
                u8::try_from(v)
                    .map(Protocol::from_number)
                    .map_err(|_| E::custom(format!("protocol number {v} is not in 0-255")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A container an event is about. Either field may be unknown to the producer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A software package an event is about (SBOM findings).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    /// OSV ecosystem name: `crates.io`, `npm`, `PyPI`, `Go`.
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    /// The advisory that makes this package interesting (RUSTSEC-…, GHSA-…, CVE-…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_id: Option<String>,
}

/// What an event is about, typed. Every field is optional; producers fill what they know.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Account name (login attempts, sudo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Host that produced the observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRef>,
}

impl Entities {
    pub fn is_empty(&self) -> bool {
        *self == Entities::default()
    }
}

/// Accessors every event shares.
pub trait Event {
    /// Low-cardinality kind name: `packet`, `log`, `alert`, `action`.
    const KIND: &'static str;
    fn id(&self) -> EventId;
    fn timestamp(&self) -> DateTime<Utc>;
    fn trace_id(&self) -> TraceId;
    fn severity(&self) -> Severity;
}

macro_rules! impl_event {
    ($ty:ty, $kind:literal) => {
        impl Event for $ty {
            const KIND: &'static str = $kind;
            fn id(&self) -> EventId {
                self.id
            }
            fn timestamp(&self) -> DateTime<Utc> {
                self.timestamp
            }
            fn trace_id(&self) -> TraceId {
                self.trace_id
            }
            fn severity(&self) -> Severity {
                self.severity
            }
        }
    };
}

/// What the XDP program did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketAction {
    Pass,
    Drop,
    /// Passed, but reported because a `monitor` rule matched or it looked suspicious.
    Monitor,
}

impl PacketAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PacketAction::Pass => "pass",
            PacketAction::Drop => "drop",
            PacketAction::Monitor => "monitor",
        }
    }
}

impl FromStr for PacketAction {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pass" => Ok(PacketAction::Pass),
            "drop" => Ok(PacketAction::Drop),
            "monitor" => Ok(PacketAction::Monitor),
            other => Err(ParseError::name("packet action", other)),
        }
    }
}

/// A packet the kernel program reported (suspicious, new flow, or matching a monitor rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketEvent {
    pub id: EventId,
    pub timestamp: DateTime<Utc>,
    pub trace_id: TraceId,
    pub severity: Severity,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    pub protocol: Protocol,
    /// TCP flags byte (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10), when TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<u8>,
    /// Bytes on the wire.
    pub length: u32,
    pub action: PacketAction,
    /// The filter rule that matched, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}
impl_event!(PacketEvent, "packet");

impl PacketEvent {
    pub fn new(src_ip: IpAddr, dst_ip: IpAddr, protocol: Protocol, action: PacketAction) -> Self {
        PacketEvent {
            id: EventId::new(),
            timestamp: Utc::now(),
            trace_id: TraceId::new(),
            severity: Severity::Info,
            src_ip,
            dst_ip,
            src_port: None,
            dst_port: None,
            protocol,
            tcp_flags: None,
            length: 0,
            action,
            rule_id: None,
        }
    }
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    pub id: EventId,
    /// When the event happened (from the record when it has a timestamp, else when received).
    pub timestamp: DateTime<Utc>,
    pub trace_id: TraceId,
    pub severity: Severity,
    /// The component that received it, e.g. `file:/var/log/auth.log` or `syslog_udp:127.0.0.1:514`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub message: String,
    /// Typed entities extracted from the record (src_ip, user, port, hostname …).
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    /// Other extracted fields (structured data, JSON keys, outcome …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// The acknowledgement token of the source batch (never serialized; see [`crate::ack`]).
    #[serde(skip)]
    pub ack: Ack,
}
impl_event!(LogEvent, "log");

impl LogEvent {
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        LogEvent {
            id: EventId::new(),
            timestamp: Utc::now(),
            trace_id: TraceId::new(),
            severity: Severity::Info,
            source: source.into(),
            process: None,
            pid: None,
            message: message.into(),
            entities: Entities::default(),
            fields: BTreeMap::new(),
            ack: Ack::none(),
        }
    }
}

/// Which part of Ironpost (or which outside producer) raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    Ebpf,
    LogPipeline,
    ContainerGuard,
    Sbom,
    Anomaly,
    /// Submitted from outside through the control socket (`ironpost-cli alerts submit`).
    External,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Ebpf => "ebpf",
            AlertSource::LogPipeline => "log_pipeline",
            AlertSource::ContainerGuard => "container_guard",
            AlertSource::Sbom => "sbom",
            AlertSource::Anomaly => "anomaly",
            AlertSource::External => "external",
        }
    }
}

impl FromStr for AlertSource {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AlertSource::Ebpf,
            AlertSource::LogPipeline,
            AlertSource::ContainerGuard,
            AlertSource::Sbom,
            AlertSource::Anomaly,
            AlertSource::External,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| ParseError::name("alert source", s))
    }
}

/// A detection: a rule, detector or model decided something deserves attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEvent {
    #[serde(default)]
    pub id: EventId,
    #[serde(default = "Utc::now")]
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub trace_id: TraceId,
    pub severity: Severity,
    pub source: AlertSource,
    /// Stable id of the rule/detector (`ssh_brute_force`, `port_scan`, `RUSTSEC-2023-0001`).
    pub rule_id: String,
    /// Human title (the seed schema's `title`).
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Entities::is_empty")]
    pub entities: Entities,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Why the severity differs from the rule's own, when something raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_note: Option<String>,
    /// What `entities.src_ip` rests on. Producers set it; an alert that does not say (one
    /// submitted from outside) is `forgeable`.
    #[serde(default)]
    pub evidence: Evidence,
    /// The acknowledgement token of the source batch the alert came from (never serialized;
    /// the store resolves it once the alert is committed, see [`crate::ack`]).
    #[serde(skip)]
    pub ack: Ack,
}
impl_event!(AlertEvent, "alert");

impl AlertEvent {
    pub fn new(
        source: AlertSource,
        rule_id: impl Into<String>,
        title: impl Into<String>,
        severity: Severity,
    ) -> Self {
        AlertEvent {
            id: EventId::new(),
            timestamp: Utc::now(),
            trace_id: TraceId::new(),
            severity,
            source,
            rule_id: rule_id.into(),
            title: title.into(),
            description: String::new(),
            entities: Entities::default(),
            tags: Vec::new(),
            severity_note: None,
            evidence: Evidence::Forgeable,
            ack: Ack::none(),
        }
    }

    /// The same alert with `evidence` set.
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = evidence;
        self
    }
}

/// What a responder did. Low cardinality on purpose: these names are metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    ContainerPause,
    ContainerStop,
    ContainerNetworkDisconnect,
    ContainerUnpause,
    ContainerNetworkReconnect,
    /// Restore of a container the guard stopped.
    ContainerStart,
    IpBlock,
    IpUnblock,
}

impl ActionType {
    pub const ALL: [ActionType; 8] = [
        ActionType::ContainerPause,
        ActionType::ContainerStop,
        ActionType::ContainerNetworkDisconnect,
        ActionType::ContainerUnpause,
        ActionType::ContainerNetworkReconnect,
        ActionType::ContainerStart,
        ActionType::IpBlock,
        ActionType::IpUnblock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::ContainerPause => "container_pause",
            ActionType::ContainerStop => "container_stop",
            ActionType::ContainerNetworkDisconnect => "container_network_disconnect",
            ActionType::ContainerUnpause => "container_unpause",
            ActionType::ContainerNetworkReconnect => "container_network_reconnect",
            ActionType::ContainerStart => "container_start",
            ActionType::IpBlock => "ip_block",
            ActionType::IpUnblock => "ip_unblock",
        }
    }
}

impl FromStr for ActionType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ParseError::name("action type", s))
    }
}

/// How an action attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Success,
    Failure,
    /// Not executed: the module is in dry-run mode; the event says what would have happened.
    DryRun,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Success => "success",
            ActionOutcome::Failure => "failure",
            ActionOutcome::DryRun => "dry_run",
        }
    }
}

impl FromStr for ActionOutcome {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(ActionOutcome::Success),
            "failure" => Ok(ActionOutcome::Failure),
            "dry_run" => Ok(ActionOutcome::DryRun),
            other => Err(ParseError::name("action outcome", other)),
        }
    }
}

/// One attempt at a response (block an IP, pause a container …), linked to the alert that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionEvent {
    pub id: EventId,
    pub timestamp: DateTime<Utc>,
    pub trace_id: TraceId,
    pub severity: Severity,
    /// The alert that caused it; `None` for manual actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<EventId>,
    pub action_type: ActionType,
    /// What was acted on: a container and/or an IP address.
    pub target: Entities,
    pub outcome: ActionOutcome,
    /// 1 for the first attempt.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Human detail (policy name, TTL, networks …); logs and CLI only, never a metric label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}
impl_event!(ActionEvent, "action");

impl ActionEvent {
    /// An action caused by `alert`: same trace id and severity, linked by id.
    pub fn for_alert(alert: &AlertEvent, action_type: ActionType, outcome: ActionOutcome) -> Self {
        ActionEvent {
            id: EventId::new(),
            timestamp: Utc::now(),
            trace_id: alert.trace_id,
            severity: alert.severity,
            alert_id: Some(alert.id),
            action_type,
            target: Entities::default(),
            outcome,
            attempt: 1,
            error: None,
            detail: String::new(),
        }
    }

    /// A manual action (from the CLI): a fresh trace, no alert.
    pub fn manual(action_type: ActionType, outcome: ActionOutcome, severity: Severity) -> Self {
        ActionEvent {
            id: EventId::new(),
            timestamp: Utc::now(),
            trace_id: TraceId::new(),
            severity,
            alert_id: None,
            action_type,
            target: Entities::default(),
            outcome,
            attempt: 1,
            error: None,
            detail: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips_as_32_hex() {
        let t = TraceId::new();
        let s = t.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<TraceId>(), Ok(t));
        assert!("xyz".parse::<TraceId>().is_err());
        assert!("0".repeat(31).parse::<TraceId>().is_err());
    }

    #[test]
    fn protocol_accepts_names_and_numbers() {
        assert_eq!("TCP".parse::<Protocol>(), Ok(Protocol::Tcp));
        assert_eq!("17".parse::<Protocol>(), Ok(Protocol::Udp));
        assert_eq!("47".parse::<Protocol>(), Ok(Protocol::Other(47)));
        assert!("300".parse::<Protocol>().is_err());
        let p: Protocol = serde_json::from_str("6").unwrap();
        assert_eq!(p, Protocol::Tcp);
        let p: Protocol = serde_json::from_str("\"icmpv6\"").unwrap();
        assert_eq!(p, Protocol::Icmpv6);
        assert!(serde_json::from_str::<Protocol>("256").is_err());
    }

    #[test]
    fn alert_json_round_trip_keeps_entities_typed() {
        let mut a = AlertEvent::new(
            AlertSource::LogPipeline,
            "ssh_brute_force",
            "SSH brute force",
            Severity::High,
        );
        a.entities.src_ip = Some("198.18.5.2".parse().unwrap());
        a.entities.dst_port = Some(22);
        a.entities.container = Some(ContainerRef {
            id: None,
            name: Some("web-1".into()),
        });
        a.tags = vec!["T1110".into()];
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"src_ip\":\"198.18.5.2\""), "{json}");
        let back: AlertEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn minimal_alert_json_gets_ids_and_time() {
        let a: AlertEvent = serde_json::from_str(
            r#"{"severity":"HIGH","source":"external","rule_id":"r1","title":"t"}"#,
        )
        .unwrap();
        assert_eq!(a.severity, Severity::High);
        assert!(a.entities.is_empty());
        assert_eq!(
            a.evidence,
            Evidence::Forgeable,
            "unsaid evidence is the weakest"
        );
        assert!(
            serde_json::from_str::<AlertEvent>(
                r#"{"severity":"high","source":"external","rule_id":"r1","title":"t","bogus":1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn action_for_alert_inherits_trace_and_links() {
        let a = AlertEvent::new(
            AlertSource::Ebpf,
            "port_scan",
            "Port scan",
            Severity::Medium,
        );
        let act = ActionEvent::for_alert(&a, ActionType::IpBlock, ActionOutcome::Success);
        assert_eq!(act.trace_id, a.trace_id);
        assert_eq!(act.alert_id, Some(a.id));
        assert_eq!(act.severity, Severity::Medium);
        for t in ActionType::ALL {
            assert_eq!(t.as_str().parse::<ActionType>(), Ok(t));
        }
        let e = "reboot".parse::<ActionType>().unwrap_err();
        assert_eq!(e.to_string(), "unknown action type `reboot`");
        assert_eq!(
            e,
            ParseError::Name {
                kind: "action type",
                input: "reboot".into()
            }
        );
    }
}
