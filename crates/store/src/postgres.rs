//! The PostgreSQL backend: connecting, migrations under an advisory lock, batch inserts with a
//! row-by-row fallback, queries and retention deletes, and the classification of failures that
//! decides between "refuse this record" and "spool, the server is away".

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Statement};
use uuid::Uuid;

use crate::codec::{self, ColumnError, Dialect, RowSource, Table, Value};
use crate::error::{Backend, StoreError, chain};
use crate::record::{BatchOutcome, Record};

/// Embedded migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_alert_evidence.sql"),
    ),
    (3, include_str!("../migrations/postgres/0003_node.sql")),
    (
        4,
        include_str!("../migrations/postgres/0004_fleet_nodes.sql"),
    ),
];

/// Advisory lock key held while migrating, so two processes do not migrate at once ("ironpost").
const MIGRATION_LOCK: i64 = 0x6972_6f6e_706f_7374;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses `postgres_url`, adding a connect timeout and TCP keepalives unless the URL sets them, so
/// a vanished server is noticed instead of waited on forever.
pub(crate) fn parse_config(url: &str) -> Result<Config, StoreError> {
    let mut c: Config = url
        .parse()
        .map_err(|source| StoreError::PostgresUrl { source })?;
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(CONNECT_TIMEOUT);
    }
    if c.get_application_name().is_none() {
        c.application_name("ironpost");
    }
    c.keepalives(true).keepalives_idle(Duration::from_secs(30));
    Ok(c)
}

/// Connects and drives the connection on its own task; `on_end` runs when the connection closes.
pub(crate) async fn connect(
    config: &Config,
    on_end: impl FnOnce() + Send + 'static,
) -> Result<Client, StoreError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::postgres("connect", e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended");
        }
        on_end();
    });
    Ok(client)
}

/// How the writer should react to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The record itself is refused (SQLSTATE class 22 data exception, 23 integrity violation).
    Data,
    /// The server cannot be reached or is going away (no SQLSTATE, class 08, 53, 57, 58).
    Unreachable,
    /// Anything else (authentication, missing database, permissions, schema).
    Other,
}

pub(crate) fn classify_pg(e: &tokio_postgres::Error) -> Failure {
    match e.code() {
        None => Failure::Unreachable,
        Some(code) => match code.code().get(..2) {
            Some("22" | "23") => Failure::Data,
            Some("08" | "53" | "57" | "58") => Failure::Unreachable,
            _ => Failure::Other,
        },
    }
}

/// Classifies a store error by the PostgreSQL error in its source chain, if any.
pub(crate) fn classify(e: &StoreError) -> Failure {
    match e {
        StoreError::InvalidValue { .. } => return Failure::Data,
        StoreError::Task { .. } => return Failure::Unreachable,
        _ => {}
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(pg) = err.downcast_ref::<tokio_postgres::Error>() {
            return classify_pg(pg);
        }
        cur = err.source();
    }
    Failure::Other
}

/// Applies pending migrations in one transaction holding `pg_advisory_xact_lock`.
pub(crate) async fn migrate(client: &Client) -> Result<Vec<u32>, StoreError> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| StoreError::postgres("begin migration", e))?;
    let result = migrate_in_tx(client).await;
    match &result {
        Ok(applied) => {
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| StoreError::postgres("commit migration", e))?;
            if !applied.is_empty() {
                tracing::info!(?applied, "PostgreSQL schema migrated");
            }
        }
        Err(_) => {
            let _ = client.batch_execute("ROLLBACK").await;
        }
    }
    result
}

async fn migrate_in_tx(client: &Client) -> Result<Vec<u32>, StoreError> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| StoreError::postgres("take migration lock", e))?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|e| StoreError::postgres("create schema_migrations", e))?;
    let done: Vec<i64> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(|e| StoreError::postgres("read schema_migrations", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut applied = Vec::new();
    for &(version, sql) in MIGRATIONS {
        if done.contains(&i64::from(version)) {
            continue;
        }
        let wrap = |e| StoreError::Migration {
            backend: Backend::Postgres,
            version,
            source: Box::new(e),
        };
        client.batch_execute(sql).await.map_err(wrap)?;
        client
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                &[&i64::from(version)],
            )
            .await
            .map_err(wrap)?;
        applied.push(version);
    }
    Ok(applied)
}

/// A connection with the schema migrated and the inserts prepared.
#[derive(Debug)]
pub(crate) struct Session {
    client: Client,
    /// By `Kind::index`.
    inserts: Vec<Statement>,
}

impl Session {
    pub(crate) async fn open(
        config: &Config,
        on_end: impl FnOnce() + Send + 'static,
    ) -> Result<Session, StoreError> {
        let client = connect(config, on_end).await?;
        migrate(&client).await?;
        let mut inserts = Vec::with_capacity(5);
        for t in [
            &codec::PACKETS,
            &codec::LOGS,
            &codec::ALERTS,
            &codec::ACTIONS,
            &codec::NODES,
        ] {
            let stmt = client
                .prepare(&codec::insert_sql(t, Dialect::Postgres))
                .await
                .map_err(|e| StoreError::postgres("prepare insert", e))?;
            inserts.push(stmt);
        }
        Ok(Session { client, inserts })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn insert(&self, r: &Record, node: &str) -> Result<(), StoreError> {
        let t = codec::table(r.kind());
        let stmt = &self.inserts[r.kind().index()];
        let params = to_params(t, codec::encode(r, node), stmt.params())?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        self.client
            .execute(stmt, &refs)
            .await
            .map_err(|e| StoreError::postgres("insert", e))?;
        Ok(())
    }

    /// Writes `batch` in one transaction, in order. If the server refuses a record for a data reason
    /// the batch is retried row by row and only the refused records are left out (and logged).
    /// On any other failure returns the error and the index from which records may be unwritten.
    /// `node` is the local node's name (the `node` column of local alerts and actions).
    pub(crate) async fn write(
        &self,
        batch: &[Record],
        node: &str,
    ) -> Result<BatchOutcome, (StoreError, usize)> {
        let attempt = async {
            self.client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| StoreError::postgres("begin", e))?;
            for r in batch {
                self.insert(r, node).await?;
            }
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| StoreError::postgres("commit", e))
        };
        match attempt.await {
            Ok(()) => {
                let mut out = BatchOutcome::default();
                batch.iter().for_each(|r| out.written.add(r.kind()));
                Ok(out)
            }
            Err(e) if classify(&e) == Failure::Data => {
                self.client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| (StoreError::postgres("rollback", e), 0))?;
                self.write_row_by_row(batch, node).await
            }
            Err(e) => {
                if !self.client.is_closed() {
                    let _ = self.client.batch_execute("ROLLBACK").await;
                }
                Err((e, 0))
            }
        }
    }

    async fn write_row_by_row(
        &self,
        batch: &[Record],
        node: &str,
    ) -> Result<BatchOutcome, (StoreError, usize)> {
        let mut out = BatchOutcome::default();
        for (i, r) in batch.iter().enumerate() {
            match self.insert(r, node).await {
                Ok(()) => out.written.add(r.kind()),
                Err(e) if classify(&e) == Failure::Data => {
                    tracing::warn!(kind = r.kind().label(), id = %r.id(), error = %chain(&e), "PostgreSQL refused a record");
                    r.fail_ack();
                    out.rejected += 1;
                }
                Err(e) => return Err((e, i)),
            }
        }
        Ok(out)
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// Converts values to the exact Rust types the statement's parameters expect.
fn to_params(
    t: &'static Table,
    values: Vec<Value>,
    types: &[Type],
) -> Result<Vec<Param>, StoreError> {
    values
        .into_iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, ty))| {
            let out_of_range = |n: i64| StoreError::InvalidValue {
                backend: Backend::Postgres,
                table: t.name,
                column: t.columns.get(i).copied().unwrap_or("?"),
                value: n.to_string(),
            };
            Ok(match v {
                Value::Text(s) => Box::new(s) as Param,
                Value::Int(n) if *ty == Type::INT2 => Box::new(
                    n.map(|n| i16::try_from(n).map_err(|_| out_of_range(n)))
                        .transpose()?,
                ),
                Value::Int(n) if *ty == Type::INT4 => Box::new(
                    n.map(|n| i32::try_from(n).map_err(|_| out_of_range(n)))
                        .transpose()?,
                ),
                Value::Int(n) => Box::new(n),
                Value::Time(v) => Box::new(v),
                Value::Uuid(v) => Box::new(v),
                Value::Ip(v) => Box::new(v),
                Value::Json(v) => Box::new(v),
            })
        })
        .collect()
}

/// Runs a SELECT whose columns are `decode`'s table columns.
pub(crate) async fn query<T>(
    client: &Client,
    table: &'static Table,
    sql: &str,
    params: Vec<Value>,
    decode: impl Fn(&PgRow<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let stmt = client
        .prepare(sql)
        .await
        .map_err(|e| StoreError::postgres("prepare query", e))?;
    let params = to_params(table, params, stmt.params())?;
    let refs: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    let rows = client
        .query(&stmt, &refs)
        .await
        .map_err(|e| StoreError::postgres("query", e))?;
    rows.iter().map(|r| decode(&PgRow(r))).collect()
}

/// Deletes the rows of `table` older than `cutoff`; returns how many.
pub(crate) async fn delete_older(
    client: &Client,
    table: &Table,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM {} WHERE {} < $1",
        table.name, table.time_column
    );
    client
        .execute(&sql, &[&cutoff])
        .await
        .map_err(|e| StoreError::postgres("retention delete", e))
}

/// One PostgreSQL result row, read through the shared decoder.
pub(crate) struct PgRow<'a>(&'a tokio_postgres::Row);

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
) -> Result<T, ColumnError> {
    row.try_get(i).map_err(|e| ColumnError::Driver(Box::new(e)))
}

impl RowSource for PgRow<'_> {
    const BACKEND: Backend = Backend::Postgres;

    fn text(&self, i: usize) -> Result<Option<String>, ColumnError> {
        get(self.0, i)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError> {
        let ty = self.0.columns().get(i).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT2) => get::<Option<i16>>(self.0, i).map(|v| v.map(i64::from)),
            Some(Type::INT4) => get::<Option<i32>>(self.0, i).map(|v| v.map(i64::from)),
            _ => get(self.0, i),
        }
    }

    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, ColumnError> {
        get(self.0, i)
    }

    fn uuid(&self, i: usize) -> Result<Option<Uuid>, ColumnError> {
        get(self.0, i)
    }

    fn ip(&self, i: usize) -> Result<Option<IpAddr>, ColumnError> {
        get(self.0, i)
    }

    fn json(&self, i: usize) -> Result<Option<serde_json::Value>, ColumnError> {
        get(self.0, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_do_not_echo_the_password() {
        let err = parse_config("postgresql://u:s3cret@host:notaport/db").expect_err("bad port");
        assert!(!chain(&err).contains("s3cret"), "{}", chain(&err));
        let ok = parse_config("postgresql://u:p@127.0.0.1:5432/db").expect("valid");
        assert_eq!(ok.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
    }

    #[test]
    fn out_of_range_integers_are_refused_as_data() {
        let vals = vec![Value::Int(Some(70_000))];
        let err = to_params(&codec::PACKETS, vals, &[Type::INT2]).expect_err("out of range");
        assert_eq!(classify(&err), Failure::Data);
    }
}
