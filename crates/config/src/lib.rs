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
    pub http: HttpConfig,
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
        self.http.validate(&key(prefix, "http"), issues);
        if self.console.enabled && !self.general.http_listen.ip().is_loopback() {
            let listen = self.general.http_listen;
            let tls = self.http.tls_cert.is_some() && self.http.tls_key.is_some();
            if !tls {
                issues.push(
                    key(&key(prefix, "http"), "tls_cert"),
                    format!(
                        "general.http_listen {listen} is not a loopback address and the web console \
                         (console.enabled) is served there: set http.tls_cert and http.tls_key (TLS) \
                         and console.token_file, or bind 127.0.0.1 or ::1, or set \
                         console.enabled = false"
                    ),
                );
            }
            if self.console.token_file.is_none() {
                issues.push(
                    key(&key(prefix, "console"), "token_file"),
                    format!(
                        "general.http_listen {listen} is not a loopback address and the web console \
                         (console.enabled) is served there: mutations must need a credential, set \
                         console.token_file (and http.tls_cert and http.tls_key), or bind 127.0.0.1 \
                         or ::1, or set console.enabled = false"
                    ),
                );
            }
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

// ---- [http] (TLS on general.http_listen, crates/daemon/src/tls.rs) ----

/// `[http]`: TLS on the daemon's HTTP listener (`general.http_listen`: the console, `/health`,
/// `/metrics`, the Alertmanager webhook). With `tls_cert` and `tls_key` every connection must
/// speak TLS (1.2 or 1.3); the files are read when the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// PEM certificate chain (the server's certificate first).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A connection that has not finished its TLS handshake this long after it was accepted is
    /// closed.
    pub tls_handshake_timeout_secs: u64,
    /// TLS handshakes in progress at once; a connection beyond them is closed at once.
    pub tls_handshakes_max: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            tls_cert: None,
            tls_key: None,
            tls_handshake_timeout_secs: 10,
            tls_handshakes_max: 64,
        }
    }
}

impl HttpConfig {
    /// The certificate and key files, when TLS is configured.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((self.tls_cert.as_deref()?, self.tls_key.as_deref()?))
    }
}

impl Validate for HttpConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        for (field, path, other) in [
            ("tls_cert", &self.tls_cert, &self.tls_key),
            ("tls_key", &self.tls_key, &self.tls_cert),
        ] {
            match path {
                Some(p) if !p.is_absolute() => {
                    issues.push(key(prefix, field), "must be an absolute path");
                }
                Some(_) if other.is_none() => issues.push(
                    key(prefix, field),
                    "http.tls_cert and http.tls_key go together: set both or neither",
                ),
                _ => {}
            }
        }
        if !(1..=300).contains(&self.tls_handshake_timeout_secs) {
            issues.push(
                key(prefix, "tls_handshake_timeout_secs"),
                "must be between 1 and 300",
            );
        }
        if !(1..=4096).contains(&self.tls_handshakes_max) {
            issues.push(
                key(prefix, "tls_handshakes_max"),
                "must be between 1 and 4096",
            );
        }
    }
}

// ---- end [http] ----

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

    fn load_err(text: &str) -> String {
        config::load::<IronpostConfig>(&ConfigText::embedded("t", text), Vec::new())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_non_loopback_console_needs_tls_and_a_token() {
        let listen = "[general]\nhttp_listen = \"198.18.0.1:9470\"\n";
        let tls = "[http]\ntls_cert = \"/etc/ironpost/tls/cert.pem\"\ntls_key = \"/etc/ironpost/tls/key.pem\"\n";
        let token = "[console]\ntoken_file = \"/etc/ironpost/console.token\"\n";
        // Neither: both fields are named.
        let err = load_err(listen);
        assert!(
            err.contains("key `http.tls_cert`") && err.contains("key `console.token_file`"),
            "{err}"
        );
        // TLS without a token: the token is missing.
        let err = load_err(&format!("{listen}{tls}"));
        assert!(err.contains("key `console.token_file`"), "{err}");
        assert!(!err.contains("key `http.tls_cert`"), "{err}");
        // A token without TLS: TLS is missing.
        let err = load_err(&format!("{listen}{token}"));
        assert!(err.contains("key `http.tls_cert`"), "{err}");
        assert!(!err.contains("key `console.token_file`"), "{err}");
        // Only a certificate: the key is missing.
        let half = "[http]\ntls_cert = \"/etc/ironpost/tls/cert.pem\"\n";
        let err = load_err(&format!("{listen}{half}{token}"));
        assert!(
            err.contains("key `http.tls_cert`") && err.contains("set both"),
            "{err}"
        );
        // Both: accepted.
        let ok = format!("{listen}{tls}{token}");
        let v = config::load::<IronpostConfig>(&ConfigText::embedded("t", ok), Vec::new())
            .unwrap()
            .value;
        assert!(v.http.tls().is_some());
        // TLS on loopback needs no token.
        config::load::<IronpostConfig>(&ConfigText::embedded("t", tls), Vec::new()).unwrap();
        // Relative paths and out-of-range limits are named.
        let rel = "[http]\ntls_cert = \"cert.pem\"\ntls_key = \"/k.pem\"\ntls_handshakes_max = 0\ntls_handshake_timeout_secs = 0\n";
        let err = load_err(rel);
        for field in [
            "http.tls_cert",
            "http.tls_handshakes_max",
            "http.tls_handshake_timeout_secs",
        ] {
            assert!(err.contains(&format!("key `{field}`")), "{field}: {err}");
        }
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
