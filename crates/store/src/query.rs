//! `StoreReader`: read-only queries for the CLI, independent of a running daemon. Results are
//! newest first.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ironpost_core::config::StorageConfig;
use ironpost_core::{
    ActionEvent, AlertEvent, AlertSource, EventId, Evidence, LogEvent, PacketEvent, Severity,
    TraceId,
};
use rusqlite::Connection;

use crate::codec::{self, Dialect, Table, Value};
use crate::error::StoreError;
use crate::writer::lock;
use crate::{postgres, sqlite};

/// How a query's rows become values, for each backend. The `codec` decoders are generic over
/// the row type; `decoder!` instantiates one for both backends.
struct Decoder<T> {
    lite: fn(&sqlite::LiteRow<'_, '_>) -> Result<T, StoreError>,
    pg: fn(&postgres::PgRow<'_>) -> Result<T, StoreError>,
}

/// `decoder!(f)`: the `Decoder` that reads every row with the generic function `f`.
macro_rules! decoder {
    ($f:path) => {
        Decoder {
            lite: |r| $f(r),
            pg: |r| $f(r),
        }
    };
}

fn alert_with_node<R: codec::RowSource>(r: &R) -> Result<(String, AlertEvent), StoreError> {
    Ok((
        codec::decode_node(r, &codec::ALERTS)?,
        codec::decode_alert(r)?,
    ))
}

fn action_with_node<R: codec::RowSource>(r: &R) -> Result<(String, ActionEvent), StoreError> {
    Ok((
        codec::decode_node(r, &codec::ACTIONS)?,
        codec::decode_action(r)?,
    ))
}

/// Rows returned when a query's `limit` is 0.
pub const DEFAULT_LIMIT: usize = 100;

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only alerts at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only alerts at least this severe.
    pub min_severity: Option<Severity>,
    /// Only alerts whose source address rests on this evidence.
    pub evidence: Option<Evidence>,
    /// Only alerts of this rule or detector id.
    pub rule_id: Option<String>,
    /// Only alerts whose source address is this one.
    pub src_ip: Option<IpAddr>,
    /// Only alerts about this container (its id, a prefix of its id of 12+ characters, or its name).
    pub container: Option<String>,
    /// Only alerts of this fleet node (the `node` column).
    pub node: Option<String>,
    /// At most this many (0 = `DEFAULT_LIMIT`).
    pub limit: usize,
}

/// Which actions to list.
#[derive(Debug, Clone, Default)]
pub struct ActionQuery {
    /// Only actions at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only actions caused by this alert.
    pub alert_id: Option<EventId>,
    /// Only actions of this fleet node (the `node` column).
    pub node: Option<String>,
    /// At most this many (0 = `DEFAULT_LIMIT`).
    pub limit: usize,
}

/// Which packet events to list.
#[derive(Debug, Clone, Default)]
pub struct PacketQuery {
    pub since: Option<DateTime<Utc>>,
    /// At most this many (0 = `DEFAULT_LIMIT`).
    pub limit: usize,
}

/// Which log events to list.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub since: Option<DateTime<Utc>>,
    /// At most this many (0 = `DEFAULT_LIMIT`).
    pub limit: usize,
}

/// A SELECT over one table's columns, built for one dialect.
struct Select {
    table: &'static Table,
    dialect: Dialect,
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Select {
    fn new(table: &'static Table, dialect: Dialect, since: Option<DateTime<Utc>>) -> Self {
        let mut s = Select {
            table,
            dialect,
            conditions: Vec::new(),
            params: Vec::new(),
        };
        if let Some(since) = since {
            let p = s.param(Value::Time(Some(since)));
            s.conditions.push(format!("{} >= {p}", table.time_column));
        }
        s
    }

    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        self.dialect.placeholder(self.params.len())
    }

    /// The rows whose `column` is `value`, at most `limit`.
    fn equal(mut self, column: &str, value: Value, limit: usize) -> (String, Vec<Value>) {
        let p = self.param(value);
        self.conditions.push(format!("{column} = {p}"));
        self.finish(limit)
    }

    fn finish(mut self, limit: usize) -> (String, Vec<Value>) {
        let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
        let limit = self.param(Value::Int(Some(i64::try_from(limit).unwrap_or(i64::MAX))));
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {cols} FROM {t}{filter} ORDER BY {time} DESC, id DESC LIMIT {limit}",
            cols = self.table.columns.join(", "),
            t = self.table.name,
            time = self.table.time_column,
        );
        (sql, self.params)
    }
}

fn alerts_sql(q: &AlertQuery, d: Dialect) -> (String, Vec<Value>) {
    let mut s = Select::new(&codec::ALERTS, d, q.since);
    if let Some(min) = q.min_severity {
        // Severities are stored by name; list the names at or above `min` (uses the index).
        let names: Vec<String> = Severity::ALL
            .into_iter()
            .filter(|sev| *sev >= min)
            .map(|sev| s.param(Value::Text(Some(sev.as_str().to_owned()))))
            .collect();
        s.conditions
            .push(format!("severity IN ({})", names.join(", ")));
    }
    if let Some(e) = q.evidence {
        let p = s.param(Value::Text(Some(e.as_str().to_owned())));
        s.conditions.push(format!("evidence = {p}"));
    }
    if let Some(rule) = &q.rule_id {
        let p = s.param(Value::Text(Some(rule.clone())));
        s.conditions.push(format!("rule_name = {p}"));
    }
    if let Some(ip) = q.src_ip {
        let p = s.param(Value::Ip(Some(ip)));
        s.conditions.push(format!("src_ip = {p}"));
    }
    if let Some(c) = &q.container {
        let name = s.param(Value::Text(Some(c.clone())));
        let id = s.param(Value::Text(Some(c.clone())));
        // A short id (as `docker ps` shows it) matches the full id it starts.
        let prefix = if c.len() >= 12 && c.bytes().all(|b| b.is_ascii_hexdigit()) {
            let p = s.param(Value::Text(Some(format!("{c}%"))));
            format!(" OR container_id LIKE {p}")
        } else {
            String::new()
        };
        s.conditions.push(format!(
            "(container_name = {name} OR container_id = {id}{prefix})"
        ));
    }
    if let Some(n) = &q.node {
        let p = s.param(Value::Text(Some(n.clone())));
        s.conditions.push(format!("node = {p}"));
    }
    s.finish(q.limit)
}

fn actions_sql(q: &ActionQuery, d: Dialect) -> (String, Vec<Value>) {
    let mut s = Select::new(&codec::ACTIONS, d, q.since);
    if let Some(id) = q.alert_id {
        let p = s.param(Value::Uuid(Some(id.0)));
        s.conditions.push(format!("alert_id = {p}"));
    }
    if let Some(n) = &q.node {
        let p = s.param(Value::Text(Some(n.clone())));
        s.conditions.push(format!("node = {p}"));
    }
    s.finish(q.limit)
}

/// Read-only access to the events a store wrote.
pub struct StoreReader {
    inner: Inner,
}

enum Inner {
    Sqlite {
        conn: Arc<Mutex<Connection>>,
        path: PathBuf,
    },
    Postgres {
        client: tokio_postgres::Client,
    },
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Sqlite { path, .. } => {
                f.debug_struct("StoreReader").field("sqlite", path).finish()
            }
            Inner::Postgres { .. } => f
                .debug_struct("StoreReader")
                .field("postgres", &true)
                .finish(),
        }
    }
}

/// The SQLite file `cfg` points at: `sqlite_path` if absolute, else under `data_dir`.
pub(crate) fn sqlite_file(cfg: &StorageConfig, data_dir: &Path) -> PathBuf {
    data_dir.join(&cfg.sqlite_path)
}

impl StoreReader {
    /// SQLite: opens the existing file read-only (an error naming the path if there is none).
    /// PostgreSQL: connects. Neither creates nor migrates anything.
    pub async fn open(cfg: &StorageConfig, data_dir: &Path) -> Result<StoreReader, StoreError> {
        let inner = match &cfg.postgres_url {
            None => {
                let path = sqlite_file(cfg, data_dir);
                let p = path.clone();
                let conn = tokio::task::spawn_blocking(move || sqlite::open_ro(&p))
                    .await
                    .map_err(|source| StoreError::Task { source })??;
                Inner::Sqlite {
                    conn: Arc::new(Mutex::new(conn)),
                    path,
                }
            }
            Some(url) => {
                let config = postgres::parse_config(url)?;
                Inner::Postgres {
                    client: postgres::connect(&config, || {}).await?,
                }
            }
        };
        Ok(StoreReader { inner })
    }

    fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite { .. } => Dialect::Sqlite,
            Inner::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Alerts matching `q`, newest first.
    pub async fn alerts(&self, q: &AlertQuery) -> Result<Vec<AlertEvent>, StoreError> {
        let (sql, params) = alerts_sql(q, self.dialect());
        self.run(&codec::ALERTS, sql, params, decoder!(codec::decode_alert))
            .await
    }

    /// Actions matching `q`, newest first.
    pub async fn actions(&self, q: &ActionQuery) -> Result<Vec<ActionEvent>, StoreError> {
        let (sql, params) = actions_sql(q, self.dialect());
        self.run(&codec::ACTIONS, sql, params, decoder!(codec::decode_action))
            .await
    }

    /// Alerts matching `q`, newest first, each with the fleet node it comes from (the empty name
    /// for rows written before nodes were recorded).
    pub async fn alerts_with_node(
        &self,
        q: &AlertQuery,
    ) -> Result<Vec<(String, AlertEvent)>, StoreError> {
        let (sql, params) = alerts_sql(q, self.dialect());
        self.run(&codec::ALERTS, sql, params, decoder!(alert_with_node))
            .await
    }

    /// Actions matching `q`, newest first, each with the fleet node it comes from.
    pub async fn actions_with_node(
        &self,
        q: &ActionQuery,
    ) -> Result<Vec<(String, ActionEvent)>, StoreError> {
        let (sql, params) = actions_sql(q, self.dialect());
        self.run(&codec::ACTIONS, sql, params, decoder!(action_with_node))
            .await
    }

    /// Fleet nodes' last heartbeats (the central role's `fleet_nodes`), by node name: node,
    /// time of the heartbeat, the report as the node sent it. At most 10,000.
    pub async fn nodes(
        &self,
    ) -> Result<Vec<(String, DateTime<Utc>, serde_json::Value)>, StoreError> {
        let sql = "SELECT node, at, report FROM fleet_nodes ORDER BY node LIMIT 10000".to_owned();
        self.run(
            &codec::NODES,
            sql,
            Vec::new(),
            decoder!(codec::decode_heartbeat),
        )
        .await
    }

    /// Packet events matching `q`, newest first.
    pub async fn packets(&self, q: &PacketQuery) -> Result<Vec<PacketEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::PACKETS, self.dialect(), q.since).finish(q.limit);
        self.run(&codec::PACKETS, sql, params, decoder!(codec::decode_packet))
            .await
    }

    /// Log events matching `q`, newest first.
    pub async fn logs(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::LOGS, self.dialect(), q.since).finish(q.limit);
        self.run(&codec::LOGS, sql, params, decoder!(codec::decode_log))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        table: &'static Table,
        sql: String,
        params: Vec<Value>,
        decode: Decoder<T>,
    ) -> Result<Vec<T>, StoreError> {
        match &self.inner {
            Inner::Sqlite { conn, path } => {
                let (conn, path) = (conn.clone(), path.clone());
                tokio::task::spawn_blocking(move || {
                    sqlite::query(&lock(&conn), &path, table, &sql, params, decode.lite)
                })
                .await
                .map_err(|source| StoreError::Task { source })?
            }
            Inner::Postgres { client } => {
                postgres::query(client, table, &sql, params, decode.pg).await
            }
        }
    }
}

// ---- console queries: read-only aggregates and lookups for the web console ----

/// What the console's overview shows about stored alerts since a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertOverview {
    /// Alerts since the time asked for.
    pub total: u64,
    /// Per severity, most severe first (severities without alerts are absent).
    pub by_severity: Vec<(Severity, u64)>,
    /// The source addresses with the most alerts, most first.
    pub top_sources: Vec<(IpAddr, u64)>,
    /// Alerts per time bucket, oldest first: (bucket start, count); empty buckets are absent.
    pub buckets: Vec<(DateTime<Utc>, u64)>,
}

/// One rule or detector id as the stored alerts know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleActivity {
    pub rule_id: String,
    pub alerts: u64,
    pub last_fired: DateTime<Utc>,
}

/// Reads column `i` of an aggregate row, naming the alerts table and `column` on failure.
fn cell<R: codec::RowSource, T>(
    row: &R,
    i: usize,
    column: &'static str,
    get: impl FnOnce(&R, usize) -> Result<Option<T>, codec::ColumnError>,
) -> Result<T, StoreError> {
    let invalid = |value: String| StoreError::InvalidValue {
        backend: R::BACKEND,
        table: codec::ALERTS.name,
        column,
        value,
    };
    match get(row, i) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(invalid("NULL".into())),
        Err(codec::ColumnError::Invalid(v)) => Err(invalid(v)),
        Err(codec::ColumnError::Driver(source)) => Err(StoreError::Read {
            backend: R::BACKEND,
            table: codec::ALERTS.name,
            column,
            source,
        }),
    }
}

fn count<R: codec::RowSource>(row: &R, i: usize) -> Result<u64, StoreError> {
    let n = cell(row, i, "count", R::int)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn severity_count<R: codec::RowSource>(row: &R) -> Result<(Severity, u64), StoreError> {
    let name = cell(row, 0, "severity", R::text)?;
    let sev = name.parse().map_err(|_| StoreError::InvalidValue {
        backend: R::BACKEND,
        table: codec::ALERTS.name,
        column: "severity",
        value: name.clone(),
    })?;
    Ok((sev, count(row, 1)?))
}

fn source_count<R: codec::RowSource>(row: &R) -> Result<(IpAddr, u64), StoreError> {
    Ok((cell(row, 0, "src_ip", R::ip)?, count(row, 1)?))
}

fn bucket_count<R: codec::RowSource>(row: &R) -> Result<(DateTime<Utc>, u64), StoreError> {
    Ok((cell(row, 0, "created_at", R::time)?, count(row, 1)?))
}

fn rule_activity<R: codec::RowSource>(row: &R) -> Result<RuleActivity, StoreError> {
    Ok(RuleActivity {
        rule_id: cell(row, 0, "rule_name", R::text)?,
        alerts: count(row, 1)?,
        last_fired: cell(row, 2, "created_at", R::time)?,
    })
}

fn limit_value(limit: usize) -> Value {
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
    Value::Int(Some(i64::try_from(limit).unwrap_or(i64::MAX)))
}

impl StoreReader {
    /// The alert with this id, if stored.
    pub async fn alert(&self, id: EventId) -> Result<Option<AlertEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::ALERTS, self.dialect(), None).equal(
            "id",
            Value::Uuid(Some(id.0)),
            1,
        );
        let mut v = self
            .run(&codec::ALERTS, sql, params, decoder!(codec::decode_alert))
            .await?;
        Ok(v.pop())
    }

    /// The alert with this id and the fleet node it comes from (the empty name for rows written
    /// before nodes were recorded), if stored.
    pub async fn alert_with_node(
        &self,
        id: EventId,
    ) -> Result<Option<(String, AlertEvent)>, StoreError> {
        let (sql, params) = Select::new(&codec::ALERTS, self.dialect(), None).equal(
            "id",
            Value::Uuid(Some(id.0)),
            1,
        );
        let mut v = self
            .run(&codec::ALERTS, sql, params, decoder!(alert_with_node))
            .await?;
        Ok(v.pop())
    }

    /// Alerts raised by one producer (`sbom`, `ebpf` …), newest first.
    pub async fn alerts_from(
        &self,
        source: AlertSource,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::ALERTS, self.dialect(), None).equal(
            "source",
            Value::Text(Some(source.as_str().to_owned())),
            limit,
        );
        self.run(&codec::ALERTS, sql, params, decoder!(codec::decode_alert))
            .await
    }

    /// The stored log lines and packets of one trace (what an alert rests on), oldest first.
    pub async fn trace_evidence(
        &self,
        trace: TraceId,
        limit: usize,
    ) -> Result<(Vec<LogEvent>, Vec<PacketEvent>), StoreError> {
        let (sql, params) = Select::new(&codec::LOGS, self.dialect(), None).equal(
            "trace_id",
            Value::Text(Some(trace.to_string())),
            limit,
        );
        let mut logs = self
            .run(&codec::LOGS, sql, params, decoder!(codec::decode_log))
            .await?;
        let (sql, params) = Select::new(&codec::PACKETS, self.dialect(), None).equal(
            "trace_id",
            Value::Text(Some(trace.to_string())),
            limit,
        );
        let mut packets = self
            .run(&codec::PACKETS, sql, params, decoder!(codec::decode_packet))
            .await?;
        logs.reverse();
        packets.reverse();
        Ok((logs, packets))
    }

    /// Alerts since `since`: totals per severity, the `top` busiest source addresses, and counts
    /// per `bucket` of time. Three aggregate queries over the `created_at` index.
    pub async fn alert_overview(
        &self,
        since: DateTime<Utc>,
        bucket: std::time::Duration,
        top: usize,
    ) -> Result<AlertOverview, StoreError> {
        let d = self.dialect();
        let t = Value::Time(Some(since));
        let sql = format!(
            "SELECT severity, COUNT(*) FROM alerts WHERE created_at >= {} GROUP BY severity",
            d.placeholder(1)
        );
        let mut by_severity = self
            .run(
                &codec::ALERTS,
                sql,
                vec![t.clone()],
                decoder!(severity_count),
            )
            .await?;
        by_severity.sort_by_key(|s| std::cmp::Reverse(s.0));
        let sql = format!(
            "SELECT src_ip, COUNT(*) FROM alerts WHERE created_at >= {} AND src_ip IS NOT NULL \
             GROUP BY src_ip ORDER BY COUNT(*) DESC, src_ip LIMIT {}",
            d.placeholder(1),
            d.placeholder(2)
        );
        let top_sources = self
            .run(
                &codec::ALERTS,
                sql,
                vec![t.clone(), limit_value(top)],
                decoder!(source_count),
            )
            .await?;
        let (sql, width) = match d {
            // Microseconds since the epoch.
            Dialect::Sqlite => (
                "SELECT (created_at / ?2) * ?2, COUNT(*) FROM alerts WHERE created_at >= ?1 \
                 GROUP BY 1 ORDER BY 1"
                    .to_owned(),
                i64::try_from(bucket.as_micros()).unwrap_or(i64::MAX).max(1),
            ),
            Dialect::Postgres => (
                "SELECT to_timestamp((floor(extract(epoch FROM created_at) / $2::bigint) \
                 * $2::bigint)::float8), COUNT(*) FROM alerts WHERE created_at >= $1 \
                 GROUP BY 1 ORDER BY 1"
                    .to_owned(),
                i64::try_from(bucket.as_secs()).unwrap_or(i64::MAX).max(1),
            ),
        };
        let buckets = self
            .run(
                &codec::ALERTS,
                sql,
                vec![t, Value::Int(Some(width))],
                decoder!(bucket_count),
            )
            .await?;
        Ok(AlertOverview {
            total: by_severity.iter().map(|(_, n)| n).sum(),
            by_severity,
            top_sources,
            buckets,
        })
    }

    /// Every rule or detector id with stored alerts: how many, and when it last fired (most
    /// recent first).
    pub async fn rule_activity(&self, limit: usize) -> Result<Vec<RuleActivity>, StoreError> {
        let sql = format!(
            "SELECT rule_name, COUNT(*), MAX(created_at) FROM alerts GROUP BY rule_name \
             ORDER BY MAX(created_at) DESC, rule_name LIMIT {}",
            self.dialect().placeholder(1)
        );
        self.run(
            &codec::ALERTS,
            sql,
            vec![limit_value(limit)],
            decoder!(rule_activity),
        )
        .await
    }
}

// ---- end console queries ----

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_query_filters_by_time_and_severity_names() {
        let since = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        let q = AlertQuery {
            since: Some(since),
            min_severity: Some(Severity::High),
            ..AlertQuery::default()
        };
        let (sql, params) = alerts_sql(&q, Dialect::Postgres);
        assert!(
            sql.ends_with(
                "FROM alerts WHERE created_at >= $1 AND severity IN ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            "{sql}"
        );
        assert_eq!(params[1], Value::Text(Some("high".into())));
        assert_eq!(params[2], Value::Text(Some("critical".into())));
        assert_eq!(params[3], Value::Int(Some(DEFAULT_LIMIT as i64)));
    }

    #[test]
    fn alert_query_filters_by_evidence_rule_source_and_container() {
        let q = AlertQuery {
            evidence: Some(Evidence::Verified),
            rule_id: Some("ssh_brute_force".into()),
            src_ip: Some("198.18.5.2".parse().unwrap()),
            container: Some("0123456789ab".into()),
            ..AlertQuery::default()
        };
        let (sql, params) = alerts_sql(&q, Dialect::Postgres);
        assert!(
            sql.contains(
                "WHERE evidence = $1 AND rule_name = $2 AND src_ip = $3 AND \
                 (container_name = $4 OR container_id = $5 OR container_id LIKE $6)"
            ),
            "{sql}"
        );
        assert_eq!(params[0], Value::Text(Some("verified".into())));
        assert_eq!(params[2], Value::Ip(Some("198.18.5.2".parse().unwrap())));
        assert_eq!(params[5], Value::Text(Some("0123456789ab%".into())));
        let by_name = AlertQuery {
            container: Some("web-1".into()),
            ..AlertQuery::default()
        };
        let (sql, _) = alerts_sql(&by_name, Dialect::Sqlite);
        assert!(!sql.contains("LIKE"), "a name is never a prefix: {sql}");
    }

    #[test]
    fn action_query_without_filters_only_limits() {
        let (sql, params) = actions_sql(
            &ActionQuery {
                limit: 7,
                ..Default::default()
            },
            Dialect::Sqlite,
        );
        assert!(
            sql.ends_with("FROM actions ORDER BY executed_at DESC, id DESC LIMIT ?1"),
            "{sql}"
        );
        assert_eq!(params, vec![Value::Int(Some(7))]);
    }
}
