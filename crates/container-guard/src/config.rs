//! `[container]` section (seed 003 and seed 000's guard settings).

use std::path::PathBuf;
use std::time::Duration;

use ironpost_core::config::{Issues, Validate, key, secs};
use serde::{Deserialize, Serialize};

/// `[container]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerConfig {
    pub enabled: bool,
    /// Docker endpoint: a socket path, `unix:///path` or `tcp://host:port`.
    pub docker_socket: String,
    /// Full inventory refresh, as a fallback to the Docker events stream.
    #[serde(rename = "poll_interval_secs", with = "secs")]
    pub poll_interval: Duration,
    /// Directory of TOML isolation policies.
    pub policy_path: PathBuf,
    /// false: dry run — actions are recorded, not executed.
    pub auto_isolate: bool,
    #[serde(rename = "action_timeout_secs", with = "secs")]
    pub action_timeout: Duration,
    pub retry_max_attempts: u32,
    #[serde(rename = "container_cache_ttl_secs", with = "secs")]
    pub container_cache_ttl: Duration,
    /// How often every isolation is checked against Docker's real state, besides after each
    /// burst of Docker events and each reconnection.
    #[serde(rename = "reconcile_interval_secs", with = "secs")]
    pub reconcile_interval: Duration,
    /// What to do with an isolation found undone (a manual `docker unpause`, a restart policy, a
    /// dockerd restart, a `docker network connect`).
    pub on_undone: OnUndone,
}

/// `container.on_undone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUndone {
    /// Apply the action again (and record an `ActionEvent` per attempt).
    #[default]
    Reapply,
    /// Record the undone isolation (an `ActionEvent` with outcome `dry_run`, once per episode)
    /// and leave the container as it is.
    Report,
}

impl OnUndone {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUndone::Reapply => "reapply",
            OnUndone::Report => "report",
        }
    }
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            enabled: false,
            docker_socket: "/var/run/docker.sock".into(),
            poll_interval: Duration::from_secs(10),
            policy_path: PathBuf::from("/etc/ironpost/policies"),
            auto_isolate: false,
            action_timeout: Duration::from_secs(10),
            retry_max_attempts: 3,
            container_cache_ttl: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(30),
            on_undone: OnUndone::Reapply,
        }
    }
}

fn in_secs(d: Duration, lo: u64, hi: u64) -> bool {
    (lo..=hi).contains(&d.as_secs())
}

impl Validate for ContainerConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        let s = &self.docker_socket;
        if !(s.starts_with('/')
            || s.starts_with("unix:///")
            || s.starts_with("tcp://")
            || s.starts_with("http://"))
        {
            issues.push(
                key(prefix, "docker_socket"),
                "must be an absolute socket path, unix:///path or tcp://host:port",
            );
        }
        if !in_secs(self.poll_interval, 1, 3600) {
            issues.push(
                key(prefix, "poll_interval_secs"),
                "must be between 1 and 3600",
            );
        }
        if !in_secs(self.action_timeout, 1, 300) {
            issues.push(
                key(prefix, "action_timeout_secs"),
                "must be between 1 and 300",
            );
        }
        if self.retry_max_attempts > 10 {
            issues.push(
                key(prefix, "retry_max_attempts"),
                "must be between 0 and 10",
            );
        }
        if !in_secs(self.container_cache_ttl, 1, 3600) {
            issues.push(
                key(prefix, "container_cache_ttl_secs"),
                "must be between 1 and 3600",
            );
        }
        if !in_secs(self.reconcile_interval, 1, 3600) {
            issues.push(
                key(prefix, "reconcile_interval_secs"),
                "must be between 1 and 3600",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        let cfg = ContainerConfig {
            docker_socket: "docker.sock".into(),
            retry_max_attempts: 11,
            action_timeout: Duration::from_secs(0),
            reconcile_interval: Duration::from_secs(0),
            ..Default::default()
        };
        let mut issues = Issues::default();
        cfg.validate("container", &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "container.docker_socket",
                "container.action_timeout_secs",
                "container.retry_max_attempts",
                "container.reconcile_interval_secs"
            ]
        );
    }

    #[test]
    fn on_undone_reads_both_spellings_and_refuses_others() {
        let cfg: ContainerConfig = toml::from_str("on_undone = \"report\"").unwrap();
        assert_eq!(cfg.on_undone, OnUndone::Report);
        assert_eq!(ContainerConfig::default().on_undone, OnUndone::Reapply);
        assert_eq!(
            ContainerConfig::default().reconcile_interval,
            Duration::from_secs(30)
        );
        let e = toml::from_str::<ContainerConfig>("on_undone = \"ignore\"").unwrap_err();
        assert!(e.to_string().contains("reapply"), "{e}");
    }
}
