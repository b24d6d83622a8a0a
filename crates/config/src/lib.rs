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
    pub console: ConsoleConfig,
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
        self.console.validate(&key(prefix, "console"), issues);
        if self.console.enabled && !self.general.http_listen.ip().is_loopback() {
            issues.push(
                key(&key(prefix, "general"), "http_listen"),
                format!(
                    "{} is not a loopback address and the web console (console.enabled) is served \
                     there over plain HTTP (the daemon has no TLS): bind 127.0.0.1 or ::1 and put a \
                     TLS proxy in front, or set console.enabled = false",
                    self.general.http_listen
                ),
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

// ---- [console] (the web console, crates/daemon/src/console) ----

/// `[console]`: the web console served at `/` on `general.http_listen`. Pages are read-only for
/// anyone who can reach the listener; unblock, block and restore need the token in `token_file`
/// (or a session opened with it). Without `token_file` the console is read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// A file holding the operator token (32+ printable characters, mode 0600 or stricter,
    /// read at start). Absent: no mutation is possible from the console.
    pub token_file: Option<PathBuf>,
    /// How long a session opened with the token lasts.
    pub session_ttl_secs: u64,
    /// Live-stream (SSE) clients served at once; more are refused with 503.
    pub live_clients: usize,
    /// Events queued per live client; a client that falls this far behind is disconnected.
    pub live_queue: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            token_file: None,
            session_ttl_secs: 8 * 3600,
            live_clients: 16,
            live_queue: 4096,
        }
    }
}

impl Validate for ConsoleConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if let Some(p) = &self.token_file
            && !p.is_absolute()
        {
            issues.push(key(prefix, "token_file"), "must be an absolute path");
        }
        if !(60..=7 * 86_400).contains(&self.session_ttl_secs) {
            issues.push(
                key(prefix, "session_ttl_secs"),
                "must be between 60 and 604800 (one week)",
            );
        }
        if !(1..=1024).contains(&self.live_clients) {
            issues.push(key(prefix, "live_clients"), "must be between 1 and 1024");
        }
        if !(16..=65_536).contains(&self.live_queue) {
            issues.push(key(prefix, "live_queue"), "must be between 16 and 65536");
        }
    }
}

// ---- end [console] ----

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
    fn console_refuses_a_non_loopback_listener() {
        let text = "[general]\nhttp_listen = \"0.0.0.0:9470\"\n";
        let err = config::load::<IronpostConfig>(&ConfigText::embedded("t", text), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("general.http_listen"), "{err}");
        assert!(err.contains("console.enabled"), "{err}");
        let off = format!("{text}[console]\nenabled = false\n");
        config::load::<IronpostConfig>(&ConfigText::embedded("t", off), Vec::new()).unwrap();
        let v6 = "[general]\nhttp_listen = \"[::1]:9470\"\n";
        config::load::<IronpostConfig>(&ConfigText::embedded("t", v6), Vec::new()).unwrap();
        let rel = "[console]\ntoken_file = \"token\"\n";
        let err = config::load::<IronpostConfig>(&ConfigText::embedded("t", rel), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("console.token_file"), "{err}");
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
