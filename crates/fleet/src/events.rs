//! Central view: every agent publishes its alerts and actions to one JetStream stream
//! (`[fleet] events_stream`, subjects `ironpost.<kind>.<node>`; heartbeats too), and the central role consumes
//! them with a durable pull consumer into its store.
//!
//! - Message: the event's JSON (at most [`MAX_EVENT_BYTES`]), header `Nats-Msg-Id` =
//!   `<node>.<kind>.<id>`: a publication retried within the stream's duplicate window
//!   (`duplicate_window_secs`) is stored once by JetStream.
//! - The node is the subject's last token (NATS permissions can pin each agent's user to
//!   `ironpost.*.<node>`); the payload is parsed by [`parse`], bounded and never panicking.
//! - The central acknowledges a message only once its store has committed (or durably spooled)
//!   the row ([`Ingest`] hands it an acknowledgement token); a redelivery after the duplicate
//!   window meets the store's unique id and writes nothing.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use ironpost_core::ack::Ack;
use ironpost_core::{ActionEvent, AlertEvent, BoxFuture, EventId};

use crate::config::{FleetConfig, is_token};
use crate::error::{BucketSource, FleetError};
use crate::node::NodeReport;

/// A message larger than this is neither published nor accepted.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// First token of every subject of the events stream.
pub const SUBJECT_PREFIX: &str = "ironpost";

/// What a message of the events stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Alert,
    Action,
    /// A node's report ([`NodeReport`]), every `heartbeat_secs`.
    Heartbeat,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Action => "action",
            EventKind::Heartbeat => "heartbeat",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        match s {
            "alert" => Some(EventKind::Alert),
            "action" => Some(EventKind::Action),
            "heartbeat" => Some(EventKind::Heartbeat),
            _ => None,
        }
    }
}

/// An event of another node, as the central receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetEvent {
    Alert(AlertEvent),
    Action(ActionEvent),
    Heartbeat(NodeReport),
}

impl FleetEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            FleetEvent::Alert(_) => EventKind::Alert,
            FleetEvent::Action(_) => EventKind::Action,
            FleetEvent::Heartbeat(_) => EventKind::Heartbeat,
        }
    }

    /// The alert's or action's id (a heartbeat has none).
    pub fn id(&self) -> Option<EventId> {
        match self {
            FleetEvent::Alert(a) => Some(a.id),
            FleetEvent::Action(a) => Some(a.id),
            FleetEvent::Heartbeat(_) => None,
        }
    }

    /// When it happened on its node.
    pub fn at(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            FleetEvent::Alert(a) => a.timestamp,
            FleetEvent::Action(a) => a.timestamp,
            FleetEvent::Heartbeat(r) => r.at,
        }
    }
}

/// The subject `node` publishes `kind` on.
pub fn subject(kind: EventKind, node: &str) -> String {
    format!("{SUBJECT_PREFIX}.{}.{node}", kind.as_str())
}

/// The `Nats-Msg-Id` of an event: JetStream's duplicate detection key.
pub fn msg_id(kind: EventKind, node: &str, id: EventId) -> String {
    format!("{node}.{}.{id}", kind.as_str())
}

/// The `Nats-Msg-Id` of a heartbeat: its node and time.
pub fn heartbeat_msg_id(node: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{node}.heartbeat.{}", at.timestamp_micros())
}

/// Why a received message is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not `ironpost.<alert|action|heartbeat>.<node>`.
    BadSubject,
    TooLarge,
    Malformed,
}

impl Refusal {
    /// The `reason` label of `ironpost_fleet_ingest_invalid_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadSubject => "bad_subject",
            Refusal::TooLarge => "too_large",
            Refusal::Malformed => "malformed",
        }
    }
}

/// The node and event of a message received on `subject`.
pub fn parse(subject: &str, payload: &[u8]) -> Result<(String, FleetEvent), Refusal> {
    if subject.len() > SUBJECT_PREFIX.len() + 8 + crate::config::MAX_NODE_NAME {
        return Err(Refusal::BadSubject);
    }
    let mut parts = subject.split('.');
    let (Some(SUBJECT_PREFIX), Some(kind), Some(node), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadSubject);
    };
    let kind = EventKind::parse(kind).ok_or(Refusal::BadSubject)?;
    if !is_token(node) {
        return Err(Refusal::BadSubject);
    }
    if payload.len() > MAX_EVENT_BYTES {
        return Err(Refusal::TooLarge);
    }
    let event = match kind {
        EventKind::Alert => {
            FleetEvent::Alert(serde_json::from_slice(payload).map_err(|_| Refusal::Malformed)?)
        }
        EventKind::Action => {
            FleetEvent::Action(serde_json::from_slice(payload).map_err(|_| Refusal::Malformed)?)
        }
        EventKind::Heartbeat => {
            let r = NodeReport::parse(payload).ok_or(Refusal::Malformed)?;
            // A node reports for itself only.
            if r.node != node {
                return Err(Refusal::Malformed);
            }
            FleetEvent::Heartbeat(r)
        }
    };
    Ok((node.to_owned(), event))
}

/// Where the central role writes what it receives (the daemon: its store's writer).
pub trait Ingest: Send + Sync + 'static {
    /// Queues `event` of `node` for durable storage, waiting for room; `ack` resolves once the
    /// row is committed or durably spooled (failed: lost). An error: the store is stopped.
    fn write(
        &self,
        node: String,
        event: FleetEvent,
        ack: Ack,
    ) -> BoxFuture<'_, Result<(), crate::BoxError>>;
}

/// The events stream, created when missing: `ironpost.{alert,action,heartbeat}.*`,
/// `replicas` copies, bounded by `events_max_bytes` and `max_age_secs` (the oldest goes first).
pub(crate) async fn open_stream(
    js: &jetstream::Context,
    cfg: &FleetConfig,
) -> Result<stream::Stream, FleetError> {
    let config = stream::Config {
        name: cfg.events_stream.clone(),
        description: Some("Ironpost fleet: every agent's alerts and actions".into()),
        subjects: [EventKind::Alert, EventKind::Action, EventKind::Heartbeat]
            .iter()
            .map(|k| format!("{SUBJECT_PREFIX}.{}.*", k.as_str()))
            .collect(),
        max_age: Duration::from_secs(cfg.max_age_secs),
        max_bytes: i64::try_from(cfg.events_max_bytes).unwrap_or(i64::MAX),
        max_message_size: i32::try_from(MAX_EVENT_BYTES).unwrap_or(i32::MAX),
        storage: stream::StorageType::File,
        num_replicas: cfg.replicas,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(cfg.duplicate_window_secs),
        ..Default::default()
    };
    let err = |source| FleetError::Bucket {
        bucket: cfg.events_stream.clone(),
        source,
    };
    match tokio::time::timeout(crate::module::OP_TIMEOUT, js.get_or_create_stream(config)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(err(BucketSource::Stream(e))),
        Err(_) => Err(err(BucketSource::TimedOut)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{ActionOutcome, ActionType, AlertSource, Severity};

    #[test]
    fn events_round_trip_through_their_subjects() {
        let a = AlertEvent::new(AlertSource::Ebpf, "port_scan", "Port scan", Severity::High);
        let act = ActionEvent::for_alert(&a, ActionType::IpBlock, ActionOutcome::Success);
        let s = subject(EventKind::Alert, "edge-1");
        assert_eq!(s, "ironpost.alert.edge-1");
        let (node, got) = parse(&s, &serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(
            (node.as_str(), got),
            ("edge-1", FleetEvent::Alert(a.clone()))
        );
        let s = subject(EventKind::Action, "edge-1");
        let (_, got) = parse(&s, &serde_json::to_vec(&act).unwrap()).unwrap();
        assert_eq!(got, FleetEvent::Action(act));
        assert_eq!(
            msg_id(EventKind::Alert, "edge-1", a.id),
            format!("edge-1.alert.{}", a.id)
        );
    }

    #[test]
    fn subjects_and_payloads_are_checked() {
        let a = AlertEvent::new(AlertSource::Ebpf, "port_scan", "Port scan", Severity::High);
        let body = serde_json::to_vec(&a).unwrap();
        for bad in [
            "ironpost.alert",
            "ironpost.alert.a.b",
            "other.alert.a",
            "ironpost.health.a",
            "ironpost.alert.a b",
            "ironpost.alert.",
        ] {
            assert_eq!(parse(bad, &body), Err(Refusal::BadSubject), "{bad}");
        }
        let long = format!("ironpost.alert.{}", "n".repeat(65));
        assert_eq!(parse(&long, &body), Err(Refusal::BadSubject));
        assert_eq!(
            parse("ironpost.action.a", &body),
            Err(Refusal::Malformed),
            "an alert is not an action"
        );
        assert_eq!(
            parse("ironpost.alert.a", &vec![b' '; MAX_EVENT_BYTES + 1]),
            Err(Refusal::TooLarge)
        );
        let report = NodeReport {
            node: "edge-1".into(),
            role: crate::Role::Agent,
            version: "0.1.0".into(),
            at: chrono::Utc::now(),
            blocks: 1,
            modules: Vec::new(),
        };
        let body = serde_json::to_vec(&report).unwrap();
        assert_eq!(
            parse("ironpost.heartbeat.edge-1", &body),
            Ok(("edge-1".into(), FleetEvent::Heartbeat(report)))
        );
        assert_eq!(
            parse("ironpost.heartbeat.edge-2", &body),
            Err(Refusal::Malformed),
            "a node reports for itself only"
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(subject in ".{0,100}", payload in proptest::collection::vec(proptest::num::u8::ANY, 0..800)) {
            let _ = parse(&subject, &payload);
        }
    }
}
