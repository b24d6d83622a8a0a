//! `[general]`: logging, data directory, PID file, and where the daemon listens.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Issues, Validate, key};

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    #[default]
    Json,
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
}

/// `[general]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneralConfig {
    /// trace, debug, info, warn, error. Reloadable with SIGHUP.
    pub log_level: LogLevel,
    /// json or pretty.
    pub log_format: LogFormat,
    /// Where Ironpost keeps its state (SQLite database, spool, checkpoints).
    pub data_dir: PathBuf,
    /// PID file; a second daemon with the same file refuses to start.
    pub pid_file: PathBuf,
    /// Unix socket for control commands (status, reload …), created with mode 0600.
    pub control_socket: PathBuf,
    /// HTTP listener for `/health` and `/metrics` (read-only; loopback by default).
    pub http_listen: SocketAddr,
    /// How long shutdown may take to drain in-flight events before giving up.
    #[serde(rename = "shutdown_timeout_secs", with = "super::secs")]
    pub shutdown_timeout: Duration,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
            data_dir: PathBuf::from("/var/lib/ironpost"),
            pid_file: PathBuf::from("/run/ironpost/ironpost.pid"),
            control_socket: PathBuf::from("/run/ironpost/control.sock"),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 9470)),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl Validate for GeneralConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        for (field, path) in [
            ("data_dir", &self.data_dir),
            ("pid_file", &self.pid_file),
            ("control_socket", &self.control_socket),
        ] {
            if path.as_os_str().is_empty() {
                issues.push(key(prefix, field), "must not be empty");
            }
        }
        // sun_path is 108 bytes on Linux, including the terminating NUL.
        if self.control_socket.as_os_str().len() > 107 {
            issues.push(
                key(prefix, "control_socket"),
                "path is longer than the 107 bytes a Unix socket allows",
            );
        }
        if self.shutdown_timeout.is_zero() || self.shutdown_timeout > Duration::from_secs(600) {
            issues.push(
                key(prefix, "shutdown_timeout_secs"),
                "must be between 1 and 600",
            );
        }
    }
}
