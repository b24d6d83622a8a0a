//! `Record`: one event of any of the four kinds, as the writer queues, batches and spools it.

use ironpost_core::ack::Ack;
use ironpost_core::{ActionEvent, AlertEvent, EventId, LogEvent, PacketEvent};
use serde::{Deserialize, Serialize};

/// One event to store. Serialised as one JSON line in the spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "event", rename_all = "snake_case")]
pub enum Record {
    Packet(PacketEvent),
    Log(LogEvent),
    Alert(AlertEvent),
    Action(ActionEvent),
    /// An alert or action of another node of the fleet (the central role's ingest): stored with
    /// that node's name in the `node` column instead of the local one.
    Remote(Remote),
}

/// Another node's alert or action, and the acknowledgement token of the message it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    /// The node it comes from (the `node` column).
    pub node: String,
    pub event: RemoteEvent,
    /// Resolved once the row is committed (or spooled); failed when the store loses it. The
    /// central acknowledges the NATS message only then.
    #[serde(skip)]
    pub ack: Ack,
}

/// What a remote record holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "event", rename_all = "snake_case")]
pub enum RemoteEvent {
    Alert(AlertEvent),
    Action(ActionEvent),
    /// A node's heartbeat: the `fleet_nodes` row of its node, replaced by a newer one only.
    Heartbeat(Heartbeat),
}

/// A node's last report (the fleet's `NodeReport`, kept as JSON: the store does not know it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub at: chrono::DateTime<chrono::Utc>,
    pub report: serde_json::Value,
}

/// The four tables, one per event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Packet,
    Log,
    Alert,
    Action,
    /// Fleet nodes' last heartbeats (the central role).
    Node,
}

impl Kind {
    /// Retention order: actions reference alerts, so they go first.
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Action,
        Kind::Alert,
        Kind::Packet,
        Kind::Log,
        Kind::Node,
    ];

    /// Low-cardinality metric label value, the same as `Event::KIND`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Packet => "packet",
            Kind::Log => "log",
            Kind::Alert => "alert",
            Kind::Action => "action",
            Kind::Node => "node",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Kind::Packet => 0,
            Kind::Log => 1,
            Kind::Alert => 2,
            Kind::Action => 3,
            Kind::Node => 4,
        }
    }
}

impl Record {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Record::Packet(_) => Kind::Packet,
            Record::Log(_) => Kind::Log,
            Record::Alert(_) => Kind::Alert,
            Record::Action(_) => Kind::Action,
            Record::Remote(r) => match r.event {
                RemoteEvent::Alert(_) => Kind::Alert,
                RemoteEvent::Action(_) => Kind::Action,
                RemoteEvent::Heartbeat(_) => Kind::Node,
            },
        }
    }

    /// The record is lost (refused, or given up): its source batch must not be acknowledged.
    pub(crate) fn fail_ack(&self) {
        match self {
            Record::Log(e) => e.ack.fail(),
            Record::Alert(e) => e.ack.fail(),
            Record::Remote(r) => {
                r.ack.fail();
                if let RemoteEvent::Alert(a) = &r.event {
                    a.ack.fail();
                }
            }
            Record::Packet(_) | Record::Action(_) => {}
        }
    }

    pub(crate) fn id(&self) -> EventId {
        match self {
            Record::Packet(e) => e.id,
            Record::Log(e) => e.id,
            Record::Alert(e) => e.id,
            Record::Action(e) => e.id,
            Record::Remote(r) => match &r.event {
                RemoteEvent::Alert(e) => e.id,
                RemoteEvent::Action(e) => e.id,
                RemoteEvent::Heartbeat(_) => EventId(uuid::Uuid::nil()),
            },
        }
    }
}

impl From<Remote> for Record {
    fn from(r: Remote) -> Self {
        Record::Remote(r)
    }
}

impl From<PacketEvent> for Record {
    fn from(e: PacketEvent) -> Self {
        Record::Packet(e)
    }
}

impl From<LogEvent> for Record {
    fn from(e: LogEvent) -> Self {
        Record::Log(e)
    }
}

impl From<AlertEvent> for Record {
    fn from(e: AlertEvent) -> Self {
        Record::Alert(e)
    }
}

impl From<ActionEvent> for Record {
    fn from(e: ActionEvent) -> Self {
        Record::Action(e)
    }
}

/// Records written, per kind, in `Kind::index` order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KindCounts(pub(crate) [u64; 5]);

impl KindCounts {
    pub(crate) fn add(&mut self, kind: Kind) {
        self.0[kind.index()] += 1;
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        [
            Kind::Packet,
            Kind::Log,
            Kind::Alert,
            Kind::Action,
            Kind::Node,
        ]
        .into_iter()
        .map(|k| (k, self.0[k.index()]))
    }
}

/// What became of one batch: records committed, records the database refused (already logged).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchOutcome {
    pub(crate) written: KindCounts,
    pub(crate) rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{AlertSource, Severity};

    #[test]
    fn spool_line_round_trips() {
        let a = AlertEvent::new(AlertSource::Ebpf, "port_scan", "Port scan", Severity::High);
        let r = Record::from(a);
        let line = serde_json::to_string(&r).expect("serialise");
        assert!(line.starts_with(r#"{"kind":"alert","event":{"#), "{line}");
        let back: Record = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, r);
        assert_eq!(back.kind(), Kind::Alert);
    }
}
