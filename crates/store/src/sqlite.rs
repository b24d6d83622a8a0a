//! The embedded SQLite backend: opening (WAL, pragmas, migrations), batch inserts, queries and
//! retention deletes. Every function here blocks; callers run them on a blocking thread.

use std::fs::OpenOptions;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as LiteValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use uuid::Uuid;

use crate::codec::{self, ColumnError, Dialect, RowSource, Table, Value};
use crate::error::{Backend, StoreError};
use crate::record::{BatchOutcome, Record};

/// Embedded migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_alert_evidence.sql"),
    ),
    (3, include_str!("../migrations/sqlite/0003_node.sql")),
    (4, include_str!("../migrations/sqlite/0004_fleet_nodes.sql")),
];

/// How long a statement waits for another connection's lock (the CLI reading, retention).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static INSERTS: LazyLock<[String; 5]> = LazyLock::new(|| {
    [
        &codec::PACKETS,
        &codec::LOGS,
        &codec::ALERTS,
        &codec::ACTIONS,
        &codec::NODES,
    ]
    .map(|t| codec::insert_sql(t, Dialect::Sqlite))
});

/// Opens (creating if needed) the database for writing: WAL, `synchronous=NORMAL`, foreign keys
/// on, pending migrations applied.
pub(crate) fn open_rw(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
    }
    // The events are security data: create the file readable by its owner only.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::io("create database file", path, e))?;
    let mut conn = Connection::open(path).map_err(|e| StoreError::sqlite(path, "open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::sqlite(path, "set busy_timeout", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::sqlite(path, "enable WAL", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode");
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        .map_err(|e| StoreError::sqlite(path, "set pragmas", e))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing database read-only (the CLI). Never creates or migrates anything.
pub(crate) fn open_ro(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::NoDatabase {
            path: path.to_owned(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::sqlite(path, "open read-only", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::sqlite(path, "set busy_timeout", e))?;
    Ok(conn)
}

/// Applies pending migrations in one `BEGIN IMMEDIATE` transaction, so two processes opening the
/// same file do not both migrate. Returns the versions applied now.
fn migrate(conn: &mut Connection, path: &Path) -> Result<Vec<u32>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sqlite(path, "begin migration", e))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER NOT NULL PRIMARY KEY,
             applied_at INTEGER NOT NULL
         ) STRICT",
    )
    .map_err(|e| StoreError::sqlite(path, "create schema_migrations", e))?;
    let mut applied = Vec::new();
    for &(version, sql) in MIGRATIONS {
        let done: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sqlite(path, "read schema_migrations", e))?;
        if done {
            continue;
        }
        let wrap = |e: rusqlite::Error| StoreError::Migration {
            backend: Backend::Sqlite,
            version,
            source: Box::new(e),
        };
        tx.execute_batch(sql).map_err(wrap)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, Utc::now().timestamp_micros()),
        )
        .map_err(wrap)?;
        applied.push(version);
    }
    tx.commit()
        .map_err(|e| StoreError::sqlite(path, "commit migration", e))?;
    if !applied.is_empty() {
        tracing::info!(path = %path.display(), ?applied, "SQLite schema migrated");
    }
    Ok(applied)
}

fn to_lite(v: Value) -> LiteValue {
    match v {
        Value::Text(s) => s.map_or(LiteValue::Null, LiteValue::Text),
        Value::Int(i) => i.map_or(LiteValue::Null, LiteValue::Integer),
        Value::Time(t) => t.map_or(LiteValue::Null, |t| {
            LiteValue::Integer(t.timestamp_micros())
        }),
        Value::Uuid(u) => u.map_or(LiteValue::Null, |u| LiteValue::Text(u.to_string())),
        Value::Ip(ip) => ip.map_or(LiteValue::Null, |ip| LiteValue::Text(ip.to_string())),
        Value::Json(j) => j.map_or(LiteValue::Null, |j| LiteValue::Text(j.to_string())),
    }
}

/// A record the database refuses for what it contains (a constraint, a type), as opposed to the
/// database being unable to write at all (I/O, disk full, locked).
fn is_data_error(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            matches!(
                f.code,
                ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig
            )
        }
        rusqlite::Error::ToSqlConversionFailure(_) => true,
        _ => false,
    }
}

fn insert(conn: &Connection, r: &Record, node: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(&INSERTS[r.kind().index()])?;
    stmt.execute(rusqlite::params_from_iter(
        codec::encode(r, node).into_iter().map(to_lite),
    ))?;
    Ok(())
}

/// Writes `batch` in one transaction, in order. If the database refuses a record for a data reason
/// the batch is retried row by row and only the refused records are left out (and logged).
/// An `Err` means nothing could be written; the whole batch may be retried. `node` is the local
/// node's name (the `node` column of local alerts and actions).
pub(crate) fn write_batch(
    conn: &mut Connection,
    batch: &[Record],
    node: &str,
) -> rusqlite::Result<BatchOutcome> {
    let tx = conn.transaction()?;
    let failed = batch.iter().try_for_each(|r| insert(&tx, r, node));
    match failed {
        Ok(()) => {
            tx.commit()?;
            let mut out = BatchOutcome::default();
            batch.iter().for_each(|r| out.written.add(r.kind()));
            Ok(out)
        }
        Err(e) if is_data_error(&e) => {
            drop(tx);
            let mut out = BatchOutcome::default();
            for r in batch {
                match insert(conn, r, node) {
                    Ok(()) => out.written.add(r.kind()),
                    Err(e) if is_data_error(&e) => {
                        tracing::warn!(kind = r.kind().label(), id = %r.id(), error = %e, "SQLite refused a record");
                        r.fail_ack();
                        out.rejected += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        }
        Err(e) => Err(e),
    }
}

/// Runs a SELECT whose columns are `decode`'s table columns.
pub(crate) fn query<T>(
    conn: &Connection,
    path: &Path,
    table: &'static Table,
    sql: &str,
    params: Vec<Value>,
    decode: impl Fn(&LiteRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let fail = |e| StoreError::sqlite(path, table_query_op(table), e);
    let mut stmt = conn.prepare(sql).map_err(fail)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.into_iter().map(to_lite)))
        .map_err(fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        out.push(decode(&LiteRow(row))?);
    }
    Ok(out)
}

fn table_query_op(t: &Table) -> &'static str {
    match t.kind {
        crate::record::Kind::Packet => "query packet_events",
        crate::record::Kind::Log => "query log_entries",
        crate::record::Kind::Alert => "query alerts",
        crate::record::Kind::Action => "query actions",
        crate::record::Kind::Node => "query fleet_nodes",
    }
}

/// Deletes up to `chunk` rows of `table` older than `cutoff`; returns how many. Small chunks keep
/// the write lock short so the writer is not stalled by a large purge.
pub(crate) fn delete_older(
    conn: &Connection,
    table: &Table,
    cutoff: DateTime<Utc>,
    chunk: usize,
) -> rusqlite::Result<usize> {
    let sql = format!(
        "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE {c} < ?1 LIMIT ?2)",
        t = table.name,
        c = table.time_column
    );
    conn.prepare_cached(&sql)?.execute((
        cutoff.timestamp_micros(),
        i64::try_from(chunk).unwrap_or(i64::MAX),
    ))
}

/// One SQLite result row, read through the shared decoder.
pub(crate) struct LiteRow<'a, 'stmt>(&'a rusqlite::Row<'stmt>);

fn driver(e: rusqlite::Error) -> ColumnError {
    ColumnError::Driver(Box::new(e))
}

impl LiteRow<'_, '_> {
    fn parsed<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ColumnError> {
        match self.0.get::<_, Option<String>>(i).map_err(driver)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).ok_or(ColumnError::Invalid(s)),
        }
    }
}

impl RowSource for LiteRow<'_, '_> {
    const BACKEND: Backend = Backend::Sqlite;

    fn text(&self, i: usize) -> Result<Option<String>, ColumnError> {
        self.0.get(i).map_err(driver)
    }

    fn int(&self, i: usize) -> Result<Option<i64>, ColumnError> {
        self.0.get(i).map_err(driver)
    }

    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, ColumnError> {
        match self.0.get::<_, Option<i64>>(i).map_err(driver)? {
            None => Ok(None),
            Some(us) => DateTime::from_timestamp_micros(us)
                .map(Some)
                .ok_or_else(|| ColumnError::Invalid(us.to_string())),
        }
    }

    fn uuid(&self, i: usize) -> Result<Option<Uuid>, ColumnError> {
        self.parsed(i, |s| Uuid::parse_str(s).ok())
    }

    fn ip(&self, i: usize) -> Result<Option<IpAddr>, ColumnError> {
        self.parsed(i, |s| s.parse().ok())
    }

    fn json(&self, i: usize) -> Result<Option<serde_json::Value>, ColumnError> {
        self.parsed(i, |s| serde_json::from_str(s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{
        ActionEvent, ActionOutcome, ActionType, AlertEvent, AlertSource, Severity,
    };

    fn applied_versions(conn: &Connection) -> Vec<u32> {
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn a_version_1_database_gains_evidence_and_old_alerts_count_as_forgeable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ironpost.db");
        {
            // The schema as a daemon before migration 2 left it, with one alert.
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(MIGRATIONS[0].1).expect("migration 1");
            conn.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY,
                     applied_at INTEGER NOT NULL) STRICT;
                 INSERT INTO schema_migrations VALUES (1, 0);
                 INSERT INTO alerts (id, title, severity, rule_name, created_at, trace_id, source,
                     description, tags)
                 VALUES ('0190f0f0-0000-7000-8000-000000000001', 't', 'high', 'r', 0,
                     '00000000000000000000000000000001', 'external', '', '[]');",
            )
            .expect("old alert");
        }
        let conn = open_rw(&path).expect("open upgrades");
        assert_eq!(applied_versions(&conn), vec![1, 2, 3, 4]);
        let (evidence, node): (String, String) = conn
            .query_row("SELECT evidence, node FROM alerts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("evidence");
        assert_eq!(evidence, "forgeable");
        assert_eq!(node, "", "rows from before nodes name none");
    }

    #[test]
    fn reopening_applies_no_migration_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/ironpost.db");
        let mut conn = open_rw(&path).expect("first open");
        assert_eq!(applied_versions(&conn), vec![1, 2, 3, 4]);
        assert!(migrate(&mut conn, &path).expect("migrate again").is_empty());
        drop(conn);
        let conn = open_rw(&path).expect("second open");
        assert_eq!(applied_versions(&conn), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_refused_record_does_not_block_the_rest_of_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_rw(&dir.path().join("db")).expect("open");
        let alert = AlertEvent::new(AlertSource::Ebpf, "port_scan", "Port scan", Severity::High);
        let ok = ActionEvent::for_alert(&alert, ActionType::IpBlock, ActionOutcome::Success);
        let ghost = AlertEvent::new(AlertSource::Ebpf, "x", "never stored", Severity::Low);
        let orphan = ActionEvent::for_alert(&ghost, ActionType::IpBlock, ActionOutcome::Success);
        let batch = vec![Record::from(alert), orphan.into(), ok.into()];
        let out = write_batch(&mut conn, &batch, "").expect("write");
        assert_eq!(out.rejected, 1);
        assert_eq!(out.written.total(), 2);
        // Replaying the same batch is harmless.
        let again = write_batch(&mut conn, &batch, "").expect("replay");
        assert_eq!(again.written.total(), 2);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM actions", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.db");
        let err = open_ro(&path).expect_err("must fail");
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("has the daemon run"),
            "{msg}"
        );
        assert!(!path.exists(), "a read-only open must not create the file");
    }
}
