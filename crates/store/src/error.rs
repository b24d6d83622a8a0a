//! The store's one error type. Variants carry the context an operator needs (database path,
//! backend, table, column, spool file) as data and keep the underlying error as `source`.

use std::fmt;
use std::path::PathBuf;

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

    #[error("a background task of the store ended abnormally")]
    Task {
        #[source]
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    pub(crate) fn sqlite(
        path: &std::path::Path,
        op: &'static str,
        source: rusqlite::Error,
    ) -> Self {
        StoreError::Sqlite {
            path: path.to_owned(),
            op,
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
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
