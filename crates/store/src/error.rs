//! The store's one error type. Variants carry the context an operator needs (database path,
//! backend, table, column, spool file) as data and keep the underlying error as `source`.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which database a store or reader talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Any error the store reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed (data directory, database file, spool segment).
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no database at {path}; has the daemon run with this data_dir?")]
    NoDatabase { path: PathBuf },

    #[error("SQLite database {path}: {op} failed")]
    Sqlite {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    /// `postgres_url` could not be parsed. The URL itself is not repeated: it may hold a password.
    #[error("invalid postgres_url")]
    PostgresUrl {
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("PostgreSQL: {op} failed")]
    Postgres {
        op: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("{backend}: migration {version} failed")]
    Migration {
        backend: Backend,
        version: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The database returned a value the driver could not read into the expected type.
    #[error("{backend}: cannot read column {table}.{column}")]
    Read {
        backend: Backend,
        table: &'static str,
        column: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// A stored value is not one the event types accept (an unknown severity, a malformed id …).
    #[error("{backend}: invalid value `{value}` in column {table}.{column}")]
    InvalidValue {
        backend: Backend,
        table: &'static str,
        column: &'static str,
        value: String,
    },

    #[error("the store is stopped")]
    Stopped,

    #[error("the store is already started")]
    AlreadyStarted,

    /// PostgreSQL did not finish `op` in time; the session is dropped and re-established.
    #[error("PostgreSQL: {op} did not finish within {}s", after.as_secs())]
    Timeout {
        op: &'static str,
        after: std::time::Duration,
    },

    /// The PostgreSQL session closed while spooled records were waiting to be replayed.
    #[error("PostgreSQL: no open session to {op}")]
    NoSession { op: &'static str },

    #[error("a background task of the store ended abnormally")]
    Task {
        #[source]
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    pub(crate) fn sqlite(path: &Path, op: &'static str, source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            path: path.to_owned(),
            op,
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn postgres(op: &'static str, source: tokio_postgres::Error) -> Self {
        StoreError::Postgres { op, source }
    }
}

/// Error chain on one line (`a: b: c`), for logs and health reasons.
pub(crate) use ironpost_core::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::error::{error_chain, repeated_cause};

    /// Every variant that has a source, built with a real one: none repeats its cause.
    #[test]
    fn every_variant_prints_its_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let sqlite = || rusqlite::Error::InvalidColumnName("severity".into());
        let url = "postgres://u:p@198.18.0.1:5432/db?sslmode=nonsense"
            .parse::<tokio_postgres::Config>()
            .expect_err("an invalid sslmode is rejected");
        let errors = [
            StoreError::io("create", Path::new("/var/lib/ironpost"), io()),
            StoreError::sqlite(Path::new("/var/lib/ironpost/events.db"), "open", sqlite()),
            StoreError::PostgresUrl { source: url },
            StoreError::Migration {
                backend: Backend::Sqlite,
                version: 2,
                source: Box::new(sqlite()),
            },
            StoreError::Read {
                backend: Backend::Sqlite,
                table: "alerts",
                column: "severity",
                source: Box::new(sqlite()),
            },
        ];
        for e in &errors {
            assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        }
        assert_eq!(
            error_chain(&errors[0]),
            "cannot create /var/lib/ironpost: permission denied"
        );
    }
}
