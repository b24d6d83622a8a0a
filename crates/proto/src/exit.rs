//! Process exit codes of `ironpost-daemon` and `ironpost-cli`, defined once (documented in
//! `docs/cli.md`): part of the contract, since scripts act on them.
//!
//! [`ExitError`] carries an `anyhow::Error`: it exists only for the two binaries' `main`, which
//! print the whole cause chain once ([`report`]).

use std::process::ExitCode;

/// Every exit code either binary uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A runtime failure not covered below (I/O, a failed drain, an error answer from the daemon).
    Failure = 1,
    /// Bad command-line usage (clap's own code).
    Usage = 2,
    /// The config file is missing, unreadable or invalid.
    Config = 3,
    /// The daemon is not running (CLI), or another daemon already is (daemon).
    Daemon = 4,
    /// The event store (SQLite file or PostgreSQL) cannot be opened or queried.
    Storage = 5,
    /// CLI `scan sbom`: findings at or above the minimum severity remain after suppressions.
    Findings = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// An error that carries the exit code it should end the process with.
#[derive(Debug, thiserror::Error)]
#[error("{source:#}")]
pub struct ExitError {
    pub exit: Exit,
    #[source]
    pub source: anyhow::Error,
}

/// Attaches an exit code to an error.
pub trait WithExit<T> {
    fn exit_with(self, exit: Exit) -> Result<T, ExitError>;
}

impl<T, E: Into<anyhow::Error>> WithExit<T> for Result<T, E> {
    fn exit_with(self, exit: Exit) -> Result<T, ExitError> {
        self.map_err(|e| ExitError {
            exit,
            source: e.into(),
        })
    }
}

/// Prints the error chain once and returns its exit code (ripgrep's `main` pattern).
pub fn report(result: Result<Exit, ExitError>, program: &str) -> ExitCode {
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("{program}: error: {:#}", e.source);
            e.exit.into()
        }
    }
}
