//! The one lifecycle every module follows: `start`, `stop`, `health`.
//!
//! The daemon owns a `Vec<Box<dyn Module>>`, starts them in order, reports their health on
//! `/health` from live state, and stops them in reverse order on shutdown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// A boxed future, so that `Module` stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Health of a module, computed from its live state (connections, tasks, error counters), never
/// from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Health {
    Healthy,
    /// Working, but with reduced function (a dependency is unreachable, events are being spooled).
    Degraded(String),
    /// Not doing its job.
    Unhealthy(String),
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }

    /// `healthy`, `degraded` or `unhealthy`.
    pub fn status(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded(_) => "degraded",
            Health::Unhealthy(_) => "unhealthy",
        }
    }

    /// The worse of two states (for an overall status).
    pub fn worst(self, other: Health) -> Health {
        fn rank(h: &Health) -> u8 {
            match h {
                Health::Healthy => 0,
                Health::Degraded(_) => 1,
                Health::Unhealthy(_) => 2,
            }
        }
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Degraded(r) => write!(f, "degraded: {r}"),
            Health::Unhealthy(r) => write!(f, "unhealthy: {r}"),
        }
    }
}

/// A module failed to start or stop. Each module keeps its own error enum and hands it over here
/// as the source.
#[derive(Debug, thiserror::Error)]
#[error("module `{module}` failed to {phase}")]
pub struct ModuleError {
    pub module: &'static str,
    pub phase: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl ModuleError {
    pub fn start(
        module: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ModuleError {
            module,
            phase: "start",
            source: Box::new(source),
        }
    }

    pub fn stop(
        module: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ModuleError {
            module,
            phase: "stop",
            source: Box::new(source),
        }
    }
}

/// The lifecycle of a module run by the daemon.
///
/// `start` spawns the module's tasks and returns once it is running. `stop` drains what is in
/// flight (events already accepted are processed or persisted) and returns when its tasks have
/// ended. `health` is cheap and never blocks: it reads state the tasks keep up to date.
pub trait Module: Send + Sync + 'static {
    /// Stable, low-cardinality name (`store`, `ebpf`, `log_pipeline` …), used in `/health` and metrics.
    fn name(&self) -> &'static str;
    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>>;
    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>>;
    fn health(&self) -> Health;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_picks_the_most_severe_state() {
        let d = Health::Degraded("db down".into());
        let u = Health::Unhealthy("dead".into());
        assert_eq!(Health::Healthy.worst(d.clone()), d);
        assert_eq!(d.clone().worst(Health::Healthy), d);
        assert_eq!(d.worst(u.clone()), u);
    }

    #[test]
    fn health_serialises_with_status_and_reason() {
        let j = serde_json::to_string(&Health::Degraded("spooling".into())).unwrap();
        assert_eq!(j, r#"{"status":"degraded","reason":"spooling"}"#);
        let j = serde_json::to_string(&Health::Healthy).unwrap();
        assert_eq!(j, r#"{"status":"healthy"}"#);
    }
}
