//! Retention: with `retention_days > 0`, rows older than that are deleted from all four tables
//! (actions before the alerts they reference) when the store starts and then every hour.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio_postgres::Config;

use crate::codec;
use crate::error::{StoreError, chain};
use crate::metrics::StoreMetrics;
use crate::record::{Kind, KindCounts};
use crate::writer::lock;
use crate::{postgres, sqlite};

const PERIOD: Duration = Duration::from_secs(3600);

/// SQLite deletes in chunks of this many rows, so the writer is never locked out for long.
const SQLITE_CHUNK: usize = 5000;

/// The database retention works on.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The writer's connection (SQLite has one writer at a time anyway).
    Sqlite {
        conn: Arc<Mutex<Connection>>,
        path: PathBuf,
    },
    /// A connection of its own per run.
    Postgres { config: Box<Config> },
}

/// The retention task: runs `purge` now and then every hour, until aborted.
pub(crate) async fn run(target: Target, days: u32, metrics: StoreMetrics) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
        match purge(&target, cutoff, &metrics).await {
            Ok(deleted) if deleted.total() > 0 => {
                tracing::info!(deleted = deleted.total(), %cutoff, "retention deleted old rows");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %chain(&e), "retention failed; retrying in an hour"),
        }
    }
}

/// Deletes every row older than `cutoff`, counting per kind in the metric.
pub(crate) async fn purge(
    target: &Target,
    cutoff: DateTime<Utc>,
    metrics: &StoreMetrics,
) -> Result<KindCounts, StoreError> {
    let mut deleted = KindCounts::default();
    match target {
        Target::Sqlite { conn, path } => {
            for kind in Kind::ALL {
                loop {
                    let (conn, path) = (conn.clone(), path.clone());
                    let n = tokio::task::spawn_blocking(move || {
                        sqlite::delete_older(&lock(&conn), codec::table(kind), cutoff, SQLITE_CHUNK)
                            .map_err(|e| StoreError::sqlite(&path, "retention delete", e))
                    })
                    .await
                    .map_err(|source| StoreError::Task { source })??;
                    count(metrics, &mut deleted, kind, n as u64);
                    if n < SQLITE_CHUNK {
                        break;
                    }
                }
            }
        }
        Target::Postgres { config } => {
            let client = postgres::connect(config, || {}).await?;
            for kind in Kind::ALL {
                let n = postgres::delete_older(&client, codec::table(kind), cutoff).await?;
                count(metrics, &mut deleted, kind, n);
            }
        }
    }
    Ok(deleted)
}

fn count(metrics: &StoreMetrics, deleted: &mut KindCounts, kind: Kind, n: u64) {
    deleted.0[kind.index()] += n;
    metrics
        .retention_deleted
        .with_label_values(&[kind.label()])
        .inc_by(n);
}
