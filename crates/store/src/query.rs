//! `StoreReader`: read-only queries for the CLI, independent of a running daemon. Results are
//! newest first.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use ironpost_core::config::StorageConfig;
use ironpost_core::{ActionEvent, AlertEvent, EventId, Evidence, LogEvent, PacketEvent, Severity};
use rusqlite::Connection;

use crate::codec::{self, Dialect, Table, Value};
use crate::error::StoreError;
use crate::writer::lock;
use crate::{postgres, sqlite};

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
        self.run(
            &codec::ALERTS,
            sql,
            params,
            |r| codec::decode_alert(r),
            |r| codec::decode_alert(r),
        )
        .await
    }

    /// Actions matching `q`, newest first.
    pub async fn actions(&self, q: &ActionQuery) -> Result<Vec<ActionEvent>, StoreError> {
        let (sql, params) = actions_sql(q, self.dialect());
        self.run(
            &codec::ACTIONS,
            sql,
            params,
            |r| codec::decode_action(r),
            |r| codec::decode_action(r),
        )
        .await
    }

    /// Alerts matching `q`, newest first, each with the fleet node it comes from (the empty name
    /// for rows written before nodes were recorded).
    pub async fn alerts_with_node(
        &self,
        q: &AlertQuery,
    ) -> Result<Vec<(String, AlertEvent)>, StoreError> {
        let (sql, params) = alerts_sql(q, self.dialect());
        self.run(
            &codec::ALERTS,
            sql,
            params,
            |r| {
                Ok((
                    codec::decode_node(r, &codec::ALERTS)?,
                    codec::decode_alert(r)?,
                ))
            },
            |r| {
                Ok((
                    codec::decode_node(r, &codec::ALERTS)?,
                    codec::decode_alert(r)?,
                ))
            },
        )
        .await
    }

    /// Actions matching `q`, newest first, each with the fleet node it comes from.
    pub async fn actions_with_node(
        &self,
        q: &ActionQuery,
    ) -> Result<Vec<(String, ActionEvent)>, StoreError> {
        let (sql, params) = actions_sql(q, self.dialect());
        self.run(
            &codec::ACTIONS,
            sql,
            params,
            |r| {
                Ok((
                    codec::decode_node(r, &codec::ACTIONS)?,
                    codec::decode_action(r)?,
                ))
            },
            |r| {
                Ok((
                    codec::decode_node(r, &codec::ACTIONS)?,
                    codec::decode_action(r)?,
                ))
            },
        )
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
            |r| codec::decode_heartbeat(r),
            |r| codec::decode_heartbeat(r),
        )
        .await
    }

    /// Packet events matching `q`, newest first.
    pub async fn packets(&self, q: &PacketQuery) -> Result<Vec<PacketEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::PACKETS, self.dialect(), q.since).finish(q.limit);
        self.run(
            &codec::PACKETS,
            sql,
            params,
            |r| codec::decode_packet(r),
            |r| codec::decode_packet(r),
        )
        .await
    }

    /// Log events matching `q`, newest first.
    pub async fn logs(&self, q: &LogQuery) -> Result<Vec<LogEvent>, StoreError> {
        let (sql, params) = Select::new(&codec::LOGS, self.dialect(), q.since).finish(q.limit);
        self.run(
            &codec::LOGS,
            sql,
            params,
            |r| codec::decode_log(r),
            |r| codec::decode_log(r),
        )
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        table: &'static Table,
        sql: String,
        params: Vec<Value>,
        lite: fn(&sqlite::LiteRow<'_, '_>) -> Result<T, StoreError>,
        pg: fn(&postgres::PgRow<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match &self.inner {
            Inner::Sqlite { conn, path } => {
                let (conn, path) = (conn.clone(), path.clone());
                tokio::task::spawn_blocking(move || {
                    sqlite::query(&lock(&conn), &path, table, &sql, params, lite)
                })
                .await
                .map_err(|source| StoreError::Task { source })?
            }
            Inner::Postgres { client } => postgres::query(client, table, &sql, params, pg).await,
        }
    }
}

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
