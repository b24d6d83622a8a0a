//! Events <-> table rows, written once for both backends: each table's column list, `encode` (an
//! event to backend-neutral values in column order) and `decode` (a row back to the event). The
//! backends only convert `Value`s to and from their driver's types.
//!
//! One deliberate normalisation: an `Entities::container` with neither id nor name carries no
//! information and reads back as `None`. Everything else round-trips exactly (timestamps at the
//! databases' microsecond precision).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ironpost_core::{
    ActionEvent, AlertEvent, ContainerRef, Entities, EventId, LogEvent, PackageRef, PacketEvent,
    Protocol,
};
use uuid::Uuid;

use crate::error::{Backend, StoreError};
use crate::record::{Kind, Record, RemoteEvent};

/// A column value in neither backend's types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Time(Option<DateTime<Utc>>),
    Uuid(Option<Uuid>),
    Ip(Option<IpAddr>),
    Json(Option<serde_json::Value>),
}

/// One of the four tables.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// The event time column (retention, `since` filters, ordering).
    pub(crate) time_column: &'static str,
    /// Every column `encode` fills and `decode` reads, in that order.
    pub(crate) columns: &'static [&'static str],
}

pub(crate) const PACKETS: Table = Table {
    name: "packet_events",
    kind: Kind::Packet,
    time_column: "timestamp",
    columns: &[
        "id",
        "timestamp",
        "trace_id",
        "severity",
        "src_ip",
        "dst_ip",
        "src_port",
        "dst_port",
        "protocol",
        "tcp_flags",
        "length",
        "action",
        "rule_id",
    ],
};

pub(crate) const LOGS: Table = Table {
    name: "log_entries",
    kind: Kind::Log,
    time_column: "timestamp",
    columns: &[
        "id",
        "timestamp",
        "trace_id",
        "severity",
        "source",
        "process",
        "pid",
        "message",
        "fields",
        // entities
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
        "user_name",
        "hostname",
        "container_id",
        "container_name",
        "package_ecosystem",
        "package_name",
        "package_version",
        "package_advisory_id",
    ],
};

pub(crate) const ALERTS: Table = Table {
    name: "alerts",
    kind: Kind::Alert,
    time_column: "created_at",
    columns: &[
        "id",
        "created_at",
        "trace_id",
        "severity",
        "source",
        "rule_name",
        "title",
        "description",
        "tags",
        "severity_note",
        "evidence",
        // entities
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
        "user_name",
        "hostname",
        "container_id",
        "container_name",
        "package_ecosystem",
        "package_name",
        "package_version",
        "package_advisory_id",
        // The fleet node the alert comes from (migration 3); last, read by `decode_node`.
        "node",
    ],
};

pub(crate) const ACTIONS: Table = Table {
    name: "actions",
    kind: Kind::Action,
    time_column: "executed_at",
    columns: &[
        "id",
        "executed_at",
        "trace_id",
        "severity",
        "alert_id",
        "action_type",
        "outcome",
        "attempt",
        "error",
        "detail",
        // target entities
        "target_src_ip",
        "target_src_port",
        "target_dst_ip",
        "target_dst_port",
        "target_protocol",
        "target_user_name",
        "target_hostname",
        "target_container_id",
        "target_container_name",
        "target_package_ecosystem",
        "target_package_name",
        "target_package_version",
        "target_package_advisory_id",
        // The fleet node the action comes from (migration 3); last, read by `decode_node`.
        "node",
    ],
};

/// Fleet nodes' last heartbeats (migration 4), one row per node.
pub(crate) const NODES: Table = Table {
    name: "fleet_nodes",
    kind: Kind::Node,
    time_column: "at",
    columns: &["node", "at", "report"],
};

pub(crate) fn table(kind: Kind) -> &'static Table {
    match kind {
        Kind::Packet => &PACKETS,
        Kind::Log => &LOGS,
        Kind::Alert => &ALERTS,
        Kind::Action => &ACTIONS,
        Kind::Node => &NODES,
    }
}

/// SQL placeholder style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?1`
    Sqlite,
    /// `$1`
    Postgres,
}

impl Dialect {
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// `INSERT … ON CONFLICT (id) DO NOTHING`: replaying a batch is harmless. Both backends accept it.
/// `fleet_nodes` is an upsert instead: a newer heartbeat replaces the row, an older one (a
/// redelivery) changes nothing.
pub(crate) fn insert_sql(t: &Table, d: Dialect) -> String {
    let values: Vec<String> = (1..=t.columns.len()).map(|n| d.placeholder(n)).collect();
    if t.kind == Kind::Node {
        return format!(
            "INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT (node) DO UPDATE SET \
             at = excluded.at, report = excluded.report WHERE excluded.at > {t}.at",
            t = t.name,
            cols = t.columns.join(", "),
            vals = values.join(", ")
        );
    }
    format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
        t.name,
        t.columns.join(", "),
        values.join(", ")
    )
}

fn text(s: &str) -> Value {
    Value::Text(Some(s.to_owned()))
}

fn opt_text(s: &Option<String>) -> Value {
    Value::Text(s.clone())
}

fn int(i: impl Into<i64>) -> Value {
    Value::Int(Some(i.into()))
}

fn opt_int<T: Into<i64> + Copy>(i: Option<T>) -> Value {
    Value::Int(i.map(Into::into))
}

fn push_entities(v: &mut Vec<Value>, e: &Entities) {
    v.push(Value::Ip(e.src_ip));
    v.push(opt_int(e.src_port));
    v.push(Value::Ip(e.dst_ip));
    v.push(opt_int(e.dst_port));
    v.push(opt_int(e.protocol.map(Protocol::number)));
    v.push(opt_text(&e.user));
    v.push(opt_text(&e.hostname));
    let c = e.container.clone().unwrap_or_default();
    v.push(Value::Text(c.id));
    v.push(Value::Text(c.name));
    match &e.package {
        Some(p) => {
            v.push(text(&p.ecosystem));
            v.push(text(&p.name));
            v.push(text(&p.version));
            v.push(opt_text(&p.advisory_id));
        }
        None => v.extend(std::iter::repeat_n(Value::Text(None), 4)),
    }
}

/// The values of `r`'s row, in its table's column order. `node` is the local node's name, the
/// `node` column of local alerts and actions (a remote record carries its own).
pub(crate) fn encode(r: &Record, node: &str) -> Vec<Value> {
    let mut v = Vec::with_capacity(table(r.kind()).columns.len());
    match r {
        Record::Packet(p) => {
            v.push(Value::Uuid(Some(p.id.0)));
            v.push(Value::Time(Some(p.timestamp)));
            v.push(text(&p.trace_id.to_string()));
            v.push(text(p.severity.as_str()));
            v.push(Value::Ip(Some(p.src_ip)));
            v.push(Value::Ip(Some(p.dst_ip)));
            v.push(opt_int(p.src_port));
            v.push(opt_int(p.dst_port));
            v.push(int(p.protocol.number()));
            v.push(opt_int(p.tcp_flags));
            v.push(int(p.length));
            v.push(text(p.action.as_str()));
            v.push(opt_text(&p.rule_id));
        }
        Record::Log(l) => {
            v.push(Value::Uuid(Some(l.id.0)));
            v.push(Value::Time(Some(l.timestamp)));
            v.push(text(&l.trace_id.to_string()));
            v.push(text(l.severity.as_str()));
            v.push(text(&l.source));
            v.push(opt_text(&l.process));
            v.push(opt_int(l.pid));
            v.push(text(&l.message));
            let fields = l
                .fields
                .iter()
                .map(|(k, val)| (k.clone(), serde_json::Value::String(val.clone())));
            v.push(Value::Json(Some(serde_json::Value::Object(
                fields.collect(),
            ))));
            push_entities(&mut v, &l.entities);
        }
        Record::Alert(a) => push_alert(&mut v, a, node),
        Record::Action(a) => push_action(&mut v, a, node),
        Record::Remote(r) => match &r.event {
            RemoteEvent::Alert(a) => push_alert(&mut v, a, &r.node),
            RemoteEvent::Action(a) => push_action(&mut v, a, &r.node),
            RemoteEvent::Heartbeat(h) => {
                v.push(text(&r.node));
                v.push(Value::Time(Some(h.at)));
                v.push(Value::Json(Some(h.report.clone())));
            }
        },
    }
    v
}

fn push_alert(v: &mut Vec<Value>, a: &AlertEvent, node: &str) {
    v.push(Value::Uuid(Some(a.id.0)));
    v.push(Value::Time(Some(a.timestamp)));
    v.push(text(&a.trace_id.to_string()));
    v.push(text(a.severity.as_str()));
    v.push(text(a.source.as_str()));
    v.push(text(&a.rule_id));
    v.push(text(&a.title));
    v.push(text(&a.description));
    let tags = a
        .tags
        .iter()
        .cloned()
        .map(serde_json::Value::String)
        .collect();
    v.push(Value::Json(Some(serde_json::Value::Array(tags))));
    v.push(opt_text(&a.severity_note));
    v.push(text(a.evidence.as_str()));
    push_entities(v, &a.entities);
    v.push(text(node));
}

fn push_action(v: &mut Vec<Value>, a: &ActionEvent, node: &str) {
    v.push(Value::Uuid(Some(a.id.0)));
    v.push(Value::Time(Some(a.timestamp)));
    v.push(text(&a.trace_id.to_string()));
    v.push(text(a.severity.as_str()));
    v.push(Value::Uuid(a.alert_id.map(|id| id.0)));
    v.push(text(a.action_type.as_str()));
    v.push(text(a.outcome.as_str()));
    v.push(int(a.attempt));
    v.push(opt_text(&a.error));
    v.push(text(&a.detail));
    push_entities(v, &a.target);
    v.push(text(node));
}

/// Why one column could not be read.
#[derive(Debug)]
pub(crate) enum ColumnError {
    /// The driver failed (wrong SQL type, connection lost while streaming …).
    Driver(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The value is there but malformed for its type (SQLite keeps UUIDs, IPs and JSON as text).
    Invalid(String),
}

/// Typed access to one result row; implemented by each backend.
pub(crate) trait RowSource {
    const BACKEND: Backend;
    fn text(&self, i: usize) -> Result<Option<String>, ColumnError>;
    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError>;
    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, ColumnError>;
    fn uuid(&self, i: usize) -> Result<Option<Uuid>, ColumnError>;
    fn ip(&self, i: usize) -> Result<Option<IpAddr>, ColumnError>;
    fn json(&self, i: usize) -> Result<Option<serde_json::Value>, ColumnError>;
}

/// Reads a row's columns in order, turning failures into errors that name the table and column.
struct Cursor<'r, R> {
    row: &'r R,
    table: &'static Table,
    next: usize,
}

impl<'r, R: RowSource> Cursor<'r, R> {
    fn new(row: &'r R, table: &'static Table) -> Self {
        Cursor {
            row,
            table,
            next: 0,
        }
    }

    fn column(&self, i: usize) -> &'static str {
        self.table.columns.get(i).copied().unwrap_or("?")
    }

    fn invalid(&self, i: usize, value: impl ToString) -> StoreError {
        StoreError::InvalidValue {
            backend: R::BACKEND,
            table: self.table.name,
            column: self.column(i),
            value: value.to_string(),
        }
    }

    fn get<T>(
        &mut self,
        f: impl FnOnce(&R, usize) -> Result<Option<T>, ColumnError>,
    ) -> Result<(usize, Option<T>), StoreError> {
        let i = self.next;
        self.next += 1;
        match f(self.row, i) {
            Ok(v) => Ok((i, v)),
            Err(ColumnError::Invalid(value)) => Err(self.invalid(i, value)),
            Err(ColumnError::Driver(source)) => Err(StoreError::Read {
                backend: R::BACKEND,
                table: self.table.name,
                column: self.column(i),
                source,
            }),
        }
    }

    fn required<T>(&self, (i, v): (usize, Option<T>)) -> Result<T, StoreError> {
        v.ok_or_else(|| self.invalid(i, "NULL"))
    }

    fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        self.get(R::text).map(|(_, v)| v)
    }

    fn text(&mut self) -> Result<String, StoreError> {
        let got = self.get(R::text)?;
        self.required(got)
    }

    /// A text column holding something `FromStr` (severity, trace id, enum names).
    fn parse<T: FromStr>(&mut self) -> Result<T, StoreError> {
        let (i, v) = self.get(R::text)?;
        let s = self.required((i, v))?;
        s.parse().map_err(|_| self.invalid(i, s))
    }

    fn opt_int<T: TryFrom<i64>>(&mut self) -> Result<Option<T>, StoreError> {
        let (i, v) = self.get(R::int)?;
        v.map(|n| T::try_from(n).map_err(|_| self.invalid(i, n)))
            .transpose()
    }

    fn int<T: TryFrom<i64>>(&mut self) -> Result<T, StoreError> {
        let i = self.next;
        let v = self.opt_int()?;
        v.ok_or_else(|| self.invalid(i, "NULL"))
    }

    fn time(&mut self) -> Result<DateTime<Utc>, StoreError> {
        let got = self.get(R::time)?;
        self.required(got)
    }

    fn opt_uuid(&mut self) -> Result<Option<Uuid>, StoreError> {
        self.get(R::uuid).map(|(_, v)| v)
    }

    fn id(&mut self) -> Result<EventId, StoreError> {
        let got = self.get(R::uuid)?;
        self.required(got).map(EventId)
    }

    fn opt_ip(&mut self) -> Result<Option<IpAddr>, StoreError> {
        self.get(R::ip).map(|(_, v)| v)
    }

    fn ip(&mut self) -> Result<IpAddr, StoreError> {
        let got = self.get(R::ip)?;
        self.required(got)
    }

    fn opt_json(&mut self) -> Result<(usize, Option<serde_json::Value>), StoreError> {
        self.get(R::json)
    }

    fn string_map(&mut self) -> Result<BTreeMap<String, String>, StoreError> {
        let (i, v) = self.opt_json()?;
        match v {
            None => Ok(BTreeMap::new()),
            Some(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => Ok((k, s)),
                    other => Err(self.invalid(i, other)),
                })
                .collect(),
            Some(other) => Err(self.invalid(i, other)),
        }
    }

    fn string_list(&mut self) -> Result<Vec<String>, StoreError> {
        let (i, v) = self.opt_json()?;
        match v {
            None => Ok(Vec::new()),
            Some(serde_json::Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(self.invalid(i, other)),
                })
                .collect(),
            Some(other) => Err(self.invalid(i, other)),
        }
    }

    fn entities(&mut self) -> Result<Entities, StoreError> {
        let src_ip = self.opt_ip()?;
        let src_port = self.opt_int()?;
        let dst_ip = self.opt_ip()?;
        let dst_port = self.opt_int()?;
        let protocol = self.opt_int::<u8>()?.map(Protocol::from_number);
        let user = self.opt_text()?;
        let hostname = self.opt_text()?;
        let container_id = self.opt_text()?;
        let container_name = self.opt_text()?;
        let container =
            (container_id.is_some() || container_name.is_some()).then_some(ContainerRef {
                id: container_id,
                name: container_name,
            });
        let ecosystem = self.opt_text()?;
        let name = self.opt_text()?;
        let version = self.opt_text()?;
        let advisory_id = self.opt_text()?;
        let package = ecosystem.map(|ecosystem| PackageRef {
            ecosystem,
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
            advisory_id,
        });
        Ok(Entities {
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            protocol,
            user,
            hostname,
            container,
            package,
        })
    }
}

pub(crate) fn decode_packet<R: RowSource>(row: &R) -> Result<PacketEvent, StoreError> {
    let mut c = Cursor::new(row, &PACKETS);
    Ok(PacketEvent {
        id: c.id()?,
        timestamp: c.time()?,
        trace_id: c.parse()?,
        severity: c.parse()?,
        src_ip: c.ip()?,
        dst_ip: c.ip()?,
        src_port: c.opt_int()?,
        dst_port: c.opt_int()?,
        protocol: Protocol::from_number(c.int()?),
        tcp_flags: c.opt_int()?,
        length: c.int()?,
        action: c.parse()?,
        rule_id: c.opt_text()?,
    })
}

pub(crate) fn decode_log<R: RowSource>(row: &R) -> Result<LogEvent, StoreError> {
    let mut c = Cursor::new(row, &LOGS);
    let id = c.id()?;
    let timestamp = c.time()?;
    let trace_id = c.parse()?;
    // The seed allows a NULL severity; rows we write always have one.
    let (i, sev) = c.get(R::text)?;
    let severity = match sev {
        None => Default::default(),
        Some(s) => s.parse().map_err(|_| c.invalid(i, s))?,
    };
    Ok(LogEvent {
        id,
        timestamp,
        trace_id,
        severity,
        source: c.text()?,
        process: c.opt_text()?,
        pid: c.opt_int()?,
        message: c.text()?,
        fields: c.string_map()?,
        entities: c.entities()?,
        ack: Default::default(),
    })
}

pub(crate) fn decode_alert<R: RowSource>(row: &R) -> Result<AlertEvent, StoreError> {
    let mut c = Cursor::new(row, &ALERTS);
    Ok(AlertEvent {
        id: c.id()?,
        timestamp: c.time()?,
        trace_id: c.parse()?,
        severity: c.parse()?,
        source: c.parse()?,
        rule_id: c.text()?,
        title: c.text()?,
        description: c.text()?,
        tags: c.string_list()?,
        severity_note: c.opt_text()?,
        evidence: c.parse()?,
        entities: c.entities()?,
        ack: Default::default(),
    })
}

/// A `fleet_nodes` row: node, time of its last heartbeat, the report.
pub(crate) fn decode_heartbeat<R: RowSource>(
    row: &R,
) -> Result<(String, DateTime<Utc>, serde_json::Value), StoreError> {
    let mut c = Cursor::new(row, &NODES);
    let node = c.text()?;
    let at = c.time()?;
    let (i, report) = c.opt_json()?;
    let report = c.required((i, report))?;
    Ok((node, at, report))
}

/// The `node` column of an alerts or actions row (the last column of both).
pub(crate) fn decode_node<R: RowSource>(
    row: &R,
    table: &'static Table,
) -> Result<String, StoreError> {
    let mut c = Cursor::new(row, table);
    c.next = table.columns.len() - 1;
    c.text()
}

pub(crate) fn decode_action<R: RowSource>(row: &R) -> Result<ActionEvent, StoreError> {
    let mut c = Cursor::new(row, &ACTIONS);
    Ok(ActionEvent {
        id: c.id()?,
        timestamp: c.time()?,
        trace_id: c.parse()?,
        severity: c.parse()?,
        alert_id: c.opt_uuid()?.map(EventId),
        action_type: c.parse()?,
        outcome: c.parse()?,
        attempt: c.int()?,
        error: c.opt_text()?,
        detail: c.text()?,
        target: c.entities()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{ActionOutcome, ActionType, AlertSource, PacketAction, Severity};

    fn records() -> Vec<Record> {
        let a = AlertEvent::new(
            AlertSource::Sbom,
            "RUSTSEC-2023-0001",
            "vulnerable crate",
            Severity::High,
        );
        let act = ActionEvent::for_alert(&a, ActionType::IpBlock, ActionOutcome::Success);
        let ip = IpAddr::from([198, 18, 0, 1]);
        vec![
            PacketEvent::new(ip, ip, Protocol::Tcp, PacketAction::Drop).into(),
            LogEvent::new("file:/var/log/auth.log", "Failed password").into(),
            Record::Remote(crate::record::Remote {
                node: "edge-2".into(),
                event: RemoteEvent::Action(act.clone()),
                ack: Default::default(),
            }),
            a.into(),
            act.into(),
        ]
    }

    #[test]
    fn encode_fills_every_column_of_its_table() {
        for r in records() {
            let t = table(r.kind());
            let v = encode(&r, "edge-1");
            assert_eq!(v.len(), t.columns.len(), "{}", t.name);
            if matches!(r.kind(), Kind::Alert | Kind::Action) {
                let node = if matches!(r, Record::Remote(_)) {
                    "edge-2"
                } else {
                    "edge-1"
                };
                assert_eq!(v.last(), Some(&text(node)), "{}", t.name);
            }
        }
    }

    #[test]
    fn insert_sql_is_idempotent_and_numbered_per_dialect() {
        let pg = insert_sql(&PACKETS, Dialect::Postgres);
        assert!(
            pg.starts_with("INSERT INTO packet_events (id, timestamp,"),
            "{pg}"
        );
        assert!(
            pg.ends_with("$12, $13) ON CONFLICT (id) DO NOTHING"),
            "{pg}"
        );
        let lite = insert_sql(&PACKETS, Dialect::Sqlite);
        assert!(lite.contains("VALUES (?1, ?2,"), "{lite}");
    }

    #[test]
    fn retention_deletes_actions_before_alerts() {
        let pos = |k| Kind::ALL.iter().position(|x| *x == k);
        assert!(pos(Kind::Action) < pos(Kind::Alert));
    }
}
