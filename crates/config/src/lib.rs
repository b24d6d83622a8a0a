//! The composed `ironpost.toml`: `[general]` and `[log_pipeline.storage]` from core, one section per
//! module crate. Core's loader does the work (file:line errors, env overrides, validation); this
//! crate only lists the sections.
//!
//! It links the module crates without their `runtime` feature (no aya, bollard or tract), so the
//! CLI can validate and show a config offline; the daemon enables the runtimes.

use std::path::{Path, PathBuf};

use ironpost_anomaly_ids::IdsConfig;
use ironpost_container_guard::ContainerConfig;
use ironpost_core::config::{
    self, ConfigError, ConfigText, GeneralConfig, Issues, Loaded, StorageConfig, Validate, key,
};
use ironpost_ebpf_engine::EbpfConfig;
use ironpost_fleet::FleetConfig;
use ironpost_log_pipeline::LogPipelineConfig;
use ironpost_process_monitor::ProcessMonitorConfig;
use ironpost_sbom_scanner::SbomConfig;
use serde::{Deserialize, Serialize};

use ironpost_ebpf_engine::ResponseConfig;

/// Default location of the config file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ironpost/ironpost.toml";

/// Environment variable naming the config file (flag `--config` wins).
pub const CONFIG_ENV: &str = "IRONPOST_CONFIG";

/// The commented example written by `ironpost-cli config init`. It sets every key to its default.
pub const EXAMPLE: &str = include_str!("../../../ironpost.example.toml");

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IronpostConfig {
    pub general: GeneralConfig,
    pub ebpf: EbpfConfig,
    pub log_pipeline: LogPipelineConfig,
    pub container: ContainerConfig,
    pub sbom: SbomConfig,
    pub response: ResponseConfig,
    pub ids: IdsConfig,
    pub fleet: FleetConfig,
    pub process_monitor: ProcessMonitorConfig,
}

impl Validate for IronpostConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        self.general.validate(&key(prefix, "general"), issues);
        self.ebpf.validate(&key(prefix, "ebpf"), issues);
        self.log_pipeline
            .validate(&key(prefix, "log_pipeline"), issues);
        self.container.validate(&key(prefix, "container"), issues);
        self.sbom.validate(&key(prefix, "sbom"), issues);
        self.response.validate(&key(prefix, "response"), issues);
        if self.response.enabled && !self.response.dry_run && !self.ebpf.enabled {
            issues.push(
                key(&key(prefix, "response"), "enabled"),
                "blocking needs the XDP engine: set ebpf.enabled = true, or response.dry_run = true",
            );
        }
        self.ids.validate(&key(prefix, "ids"), issues);
        self.fleet.validate(&key(prefix, "fleet"), issues);
        if self.fleet.enabled && !self.ebpf.enabled {
            issues.push(
                key(&key(prefix, "fleet"), "enabled"),
                "fleet decisions are applied to the XDP blocklist: set ebpf.enabled = true",
            );
        }
        self.process_monitor
            .validate(&key(prefix, "process_monitor"), issues);
    }
}

impl IronpostConfig {
    pub fn storage(&self) -> &StorageConfig {
        &self.log_pipeline.storage
    }

    /// A copy with passwords in URLs masked (for `config show`).
    pub fn redacted(&self) -> IronpostConfig {
        let mut c = self.clone();
        for url in [
            &mut c.log_pipeline.storage.postgres_url,
            &mut c.log_pipeline.storage.redis_url,
            &mut c.ids.nats.url,
        ]
        .into_iter()
        .flatten()
        {
            *url = config::redact_url(url);
        }
        for secret in [
            &mut c.ids.nats.password,
            &mut c.ids.nats.token,
            &mut c.fleet.nats.password,
            &mut c.fleet.nats.token,
        ]
        .into_iter()
        .flatten()
        {
            *secret = "***".into();
        }
        c
    }

    /// The config as TOML, with passwords in URLs masked.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(&self.redacted())
            .unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// Module sections switched on in the config, by module name.
    pub fn enabled_modules(&self) -> Vec<&'static str> {
        [
            ("ebpf", self.ebpf.enabled),
            ("log_pipeline", self.log_pipeline.enabled),
            ("container_guard", self.container.enabled),
            ("sbom", self.sbom.enabled),
            ("ids", self.ids.enabled),
            ("fleet", self.fleet.enabled),
            ("process_monitor", self.process_monitor.enabled),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

/// Where to read the config from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// The built-in defaults (plus environment overrides): a first run with nothing to write.
    Defaults,
}

impl ConfigSource {
    /// `--defaults`, else `--config`, else `$IRONPOST_CONFIG`, else the default path.
    pub fn resolve(defaults: bool, path: Option<&Path>) -> Self {
        if defaults {
            return ConfigSource::Defaults;
        }
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        ConfigSource::File(path)
    }

    /// Loads and validates, with the process environment's `IRONPOST_*` overrides.
    pub fn load(&self) -> Result<Loaded<IronpostConfig>, ConfigError> {
        self.load_with_env(std::env::vars())
    }

    pub fn load_with_env(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded<IronpostConfig>, ConfigError> {
        let text = match self {
            ConfigSource::File(path) => ConfigText::read(path)?,
            ConfigSource::Defaults => ConfigText::embedded("built-in defaults", ""),
        };
        config::load(&text, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_sets_every_default() {
        let loaded =
            config::load::<IronpostConfig>(&ConfigText::embedded("example", EXAMPLE), Vec::new())
                .unwrap();
        assert_eq!(
            loaded.value,
            IronpostConfig::default(),
            "ironpost.example.toml drifted from the defaults"
        );
    }

    #[test]
    fn redacted_toml_hides_passwords_and_reloads() {
        let mut c = IronpostConfig::default();
        c.log_pipeline.storage.postgres_url = Some("postgresql://u:hunter2@127.0.0.1/db".into());
        c.ids.nats.user = Some("ids".into());
        c.ids.nats.password = Some("hunter3".into());
        let mut t = IronpostConfig::default();
        t.ids.nats.token = Some("hunter4".into());
        assert!(!t.to_redacted_toml().contains("hunter4"));
        let text = c.to_redacted_toml();
        assert!(
            !text.contains("hunter2") && text.contains("u:***@"),
            "{text}"
        );
        assert!(!text.contains("hunter3"), "{text}");
        let back = config::load::<IronpostConfig>(&ConfigText::embedded("shown", text), Vec::new())
            .unwrap();
        assert_eq!(back.value.general, c.general);
    }
}
