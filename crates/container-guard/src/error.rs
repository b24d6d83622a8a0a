//! The crate's one error type (STYLE rule 8): Docker calls, the isolation state file, manual
//! requests and policy reloads. Each variant carries what it concerns (endpoint, call, container,
//! path) as data and keeps its cause as `source()`, never in its own message.
//!
//! `PolicyError` (`policy.rs`) stays a type of its own because it is data, not a failure of the
//! guard: one per bad policy file, collected into [`GuardError::Policies`].

use std::path::PathBuf;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use ironpost_core::fs::DurableWriteError;

use crate::isolations::MAX_STATE_BYTES;
use crate::policy::PolicyError;

/// Why the guard could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Not connected; `reason` is the chain of the last connection failure, as the monitor saw it.
    #[error("Docker is unreachable at {endpoint}: {reason}")]
    Unavailable { endpoint: String, reason: String },
    #[error("cannot connect to Docker at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: BollardError,
    },
    #[error("Docker call `{call}` on {target} failed")]
    DockerCall {
        call: &'static str,
        target: String,
        #[source]
        source: BollardError,
    },
    #[error("Docker call `{call}` on {target} did not answer within {}s", timeout.as_secs_f64())]
    DockerTimeout {
        call: &'static str,
        target: String,
        timeout: Duration,
    },
    #[error(
        "container `{container}` has nothing to restore: the guard has not isolated it and it is not paused"
    )]
    NothingToRestore { container: String },
    #[error("cannot read isolation state {}", path.display())]
    StateRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("isolation state {} is larger than {MAX_STATE_BYTES} bytes", path.display())]
    StateTooLarge { path: PathBuf },
    #[error("isolation state {} is not valid JSON", path.display())]
    StateParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The source names the step (write, fsync, rename, fsync directory) and the file it failed on.
    #[error("isolation state not saved")]
    StateWrite(#[source] DurableWriteError),
    /// Every attempt failed; `source` is the last Docker error (each attempt's error is in its
    /// `ActionEvent`), boxed to keep `Result<_, GuardError>` small. `None` only if no Docker call
    /// was made.
    #[error("{action} on container `{container}` failed after {attempts} attempt(s)")]
    Failed {
        action: &'static str,
        container: String,
        attempts: usize,
        #[source]
        source: Option<Box<GuardError>>,
    },
    /// Policy files were rejected as a whole (the policies in force stay); one error per file.
    #[error("{} policy error(s) in {}: {}", errors.len(), dir.display(), Joined(errors))]
    Policies {
        dir: PathBuf,
        errors: Vec<PolicyError>,
    },
    /// The text is not an isolation action.
    #[error("unknown action `{input}` (pause, stop, network_disconnect)")]
    UnknownAction { input: String },
}

impl GuardError {
    /// The HTTP status Docker answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GuardError::DockerCall {
                source: BollardError::DockerResponseServerError { status_code, .. },
                ..
            } => Some(*status_code),
            _ => None,
        }
    }

    /// Docker says the container does not exist (404 on a container call).
    pub(crate) fn is_no_such_container(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Each policy error with its chain, `; `-separated: a list has no single `source`.
struct Joined<'a>(&'a [PolicyError]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&ironpost_core::error_chain(e))?;
        }
        Ok(())
    }
}
