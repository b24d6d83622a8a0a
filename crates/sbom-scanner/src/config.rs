//! `[sbom]` section (seed 003).

use std::path::PathBuf;
use std::time::Duration;

use ironpost_core::Severity;
use ironpost_core::config::{Issues, Validate, key, secs};
use serde::{Deserialize, Serialize};

/// SBOM document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    #[default]
    Cyclonedx,
    Spdx,
}

/// `[sbom]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SbomConfig {
    pub enabled: bool,
    /// Directories searched for lockfiles.
    pub scan_dirs: Vec<PathBuf>,
    /// Local vulnerability database (imported with `ironpost-cli db import`); a relative path is
    /// taken under `general.data_dir`.
    pub vuln_db_path: PathBuf,
    /// Findings below this severity do not become alerts.
    pub min_severity: Severity,
    pub output_format: SbomFormat,
    /// Period of the daemon's scan of `scan_dirs`.
    #[serde(rename = "scan_interval_secs", with = "secs")]
    pub scan_interval: Duration,
    /// With the container guard on: alerts about a container whose lockfiles hold known
    /// vulnerable packages are raised one severity level (noted in the alert).
    pub raise_container_alerts: bool,
    /// Also scan every image of the local Docker engine (exported through its API, each image id
    /// inventoried once and kept) on every scan; findings become alerts like the directories'.
    pub scan_images: bool,
    /// The Docker engine's socket, for `scan_images` and for matching running containers by
    /// their image.
    pub docker_socket: PathBuf,
}

impl Default for SbomConfig {
    fn default() -> Self {
        SbomConfig {
            enabled: false,
            scan_dirs: vec![PathBuf::from(".")],
            vuln_db_path: PathBuf::from("/var/lib/ironpost/vuln-db"),
            min_severity: Severity::Medium,
            output_format: SbomFormat::Cyclonedx,
            scan_interval: Duration::from_secs(24 * 3600),
            raise_container_alerts: true,
            scan_images: false,
            docker_socket: PathBuf::from("/var/run/docker.sock"),
        }
    }
}

impl Validate for SbomConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if self.enabled && self.scan_dirs.is_empty() {
            issues.push(
                key(prefix, "scan_dirs"),
                "is empty: an enabled scanner needs at least one directory",
            );
        }
        if self.scan_interval < Duration::from_secs(60) {
            issues.push(key(prefix, "scan_interval_secs"), "must be at least 60");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_and_format_are_typed() {
        let cfg: SbomConfig =
            toml::from_str("min_severity = \"HIGH\"\noutput_format = \"spdx\"").unwrap();
        assert_eq!(cfg.min_severity, Severity::High);
        assert_eq!(cfg.output_format, SbomFormat::Spdx);
        assert!(toml::from_str::<SbomConfig>("output_format = \"swid\"").is_err());
        assert!(toml::from_str::<SbomConfig>("min_severity = \"urgent\"").is_err());
    }
}
