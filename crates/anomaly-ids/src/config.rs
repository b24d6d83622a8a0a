//! `[ids]` section: where flow telemetry comes from, how it is scored, where alerts go.
//!
//! The seed's environment variables map onto the usual overrides: `NATS_URL` → `IRONPOST_IDS_NATS_URL`,
//! `THRESHOLD` → `IRONPOST_IDS_THRESHOLD`, `ALERTMANAGER` → `IRONPOST_IDS_ALERTMANAGER_URL`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ironpost_core::config::{Issues, Validate, key, millis, secs};
use serde::{Deserialize, Serialize};

use crate::features::WINDOW_SECONDS;
use crate::scorer::DEFAULT_THRESHOLD;

/// How syslog messages are framed on the TCP connection to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFraming {
    /// RFC 6587 octet counting: `LEN <PRI>1 ...` (no delimiter).
    #[default]
    OctetCounting,
    /// One message per line, terminated by LF.
    Lf,
}

/// `[ids.nats]`: the NATS server, its authentication (at most one of a `.creds` file, an NKey seed
/// file, user and password, a token) and TLS. Files are read when the IDS starts; a
/// missing or malformed one is an error naming its key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// NATS server (`nats://127.0.0.1:4222`, `tls://…` for TLS from the first byte). Unset:
    /// telemetry stays in-process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A `.creds` file (user JWT and NKey seed, as `nsc` writes it): decentralised auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds_file: Option<PathBuf>,
    /// A file holding a user NKey seed (`SU…`): the server's `authorization { users = [{ nkey:
    /// U… }] }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey_seed_file: Option<PathBuf>,
    /// User name; set together with `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// PEM CA certificate(s) that verify the server, added to the system roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for a server that verifies clients (`verify: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Refuse to talk to a server that does not offer TLS (a `tls://` URL implies it).
    pub tls_required: bool,
}

impl NatsConfig {
    /// Checks the section under `prefix` (`ids.nats`, `fleet.nats`).
    pub fn validate(&self, prefix: &str, issues: &mut Issues) {
        if let Some(url) = &self.url
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            issues.push(key(prefix, "url"), "must start with nats:// or tls://");
        }
        let methods: Vec<&str> = [
            ("creds_file", self.creds_file.is_some()),
            ("nkey_seed_file", self.nkey_seed_file.is_some()),
            ("user", self.user.is_some() || self.password.is_some()),
            ("token", self.token.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if methods.len() > 1 {
            issues.push(
                key(prefix, methods[1]),
                format!(
                    "only one NATS authentication may be set; `{}` is set too",
                    methods[0]
                ),
            );
        }
        match (&self.user, &self.password) {
            (Some(_), None) => issues.push(
                key(prefix, "password"),
                "is unset but `user` is set: set both or neither",
            ),
            (None, Some(_)) => issues.push(
                key(prefix, "user"),
                "is unset but `password` is set: set both or neither",
            ),
            _ => {}
        }
        if self.token.as_deref().is_some_and(str::is_empty) {
            issues.push(key(prefix, "token"), "must not be empty");
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => issues.push(
                key(prefix, "client_key"),
                "is unset but `client_cert` is set: set both or neither",
            ),
            (None, Some(_)) => issues.push(
                key(prefix, "client_cert"),
                "is unset but `client_key` is set: set both or neither",
            ),
            _ => {}
        }
        for (name, path) in [
            ("creds_file", &self.creds_file),
            ("nkey_seed_file", &self.nkey_seed_file),
            ("ca_file", &self.ca_file),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
        ] {
            if let Some(p) = path.as_ref().filter(|p| !p.is_absolute()) {
                issues.push(
                    key(prefix, name),
                    format!("`{}` must be an absolute path", p.display()),
                );
            }
        }
    }
}

/// `[ids]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdsConfig {
    pub enabled: bool,
    /// `[ids.nats]`: the NATS server (unset: telemetry stays in-process), how to authenticate to
    /// it and verify it.
    pub nats: NatsConfig,
    /// Subject the telemetry is published on and consumed from.
    pub subject: String,
    /// JetStream stream holding `subject` (created when missing).
    pub stream: String,
    /// Durable pull consumer the IDS reads through (created when missing).
    pub durable: String,
    /// ONNX model. Empty: the seed's formula. A file that cannot be loaded: the formula, and the module
    /// reports Degraded with the reason. A relative path is resolved against the install's share
    /// directory, `<executable's dir>/../share/ironpost` (`/usr/share/ironpost` for the package and the
    /// container image), never the working directory: see [`IdsConfig::model_file`].
    pub model_path: PathBuf,
    /// Alert when a score is at or above this (seed `THRESHOLD`). `models/metrics.json` lists each model's
    /// threshold at 1% false positives, which is the better choice for that model.
    pub threshold: f32,
    /// Sliding window per source; the models are trained for 2 s.
    pub window_secs: f64,
    /// How often windows are built and scored.
    #[serde(rename = "tick_ms", with = "millis")]
    pub tick: Duration,
    /// One alert per source at most this often (Alertmanager deduplicates too; this spares the store).
    #[serde(rename = "alert_cooldown_secs", with = "secs")]
    pub alert_cooldown: Duration,
    /// Alertmanager base URL, `http://` or `https://` (`http://127.0.0.1:9093`; `/api/v2/alerts` is used
    /// when no path is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertmanager_url: Option<String>,
    /// TCP address of a syslog collector that receives each IDS alert as an RFC 5424 message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_forward: Option<SocketAddr>,
    pub syslog_framing: SyslogFraming,
    /// Sources tracked at once (least recently seen evicted first).
    pub max_sources: usize,
    /// Connection attempts kept per source within the window.
    pub max_events_per_source: usize,
    /// Events buffered for NATS (through an outage) or for the scorer; beyond it they are dropped and counted.
    pub publish_buffer: usize,
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig {
            enabled: false,
            nats: NatsConfig::default(),
            subject: "telemetry.flow".into(),
            stream: "IRONPOST_TELEMETRY".into(),
            durable: "ironpost-ids".into(),
            model_path: PathBuf::from("models/probe.onnx"),
            threshold: DEFAULT_THRESHOLD,
            window_secs: WINDOW_SECONDS,
            tick: Duration::from_millis(200),
            alert_cooldown: Duration::from_secs(60),
            alertmanager_url: None,
            syslog_forward: None,
            syslog_framing: SyslogFraming::OctetCounting,
            max_sources: 65_536,
            max_events_per_source: 16_384,
            publish_buffer: 65_536,
        }
    }
}

impl IdsConfig {
    /// The model file the daemon loads: `model_path` resolved against the share directory of the
    /// running executable (see [`resolve_model_path`]). Empty stays empty (the seed formula).
    pub fn model_file(&self) -> PathBuf {
        // current_exe reads /proc/self/exe, so a symlink to the binary resolves to the install.
        match std::env::current_exe() {
            Ok(exe) => resolve_model_path(&self.model_path, &exe),
            // Without /proc the path stays as written; loading it names the path that failed.
            Err(_) => self.model_path.clone(),
        }
    }
}

/// Resolves `path` for the executable at `exe`: absolute and empty paths unchanged, a relative one
/// under `<dir of exe>/../share/ironpost`. The packages and the image install the binaries in
/// `/usr/bin` and the models in `/usr/share/ironpost/models`, so the default `models/probe.onnx`
/// names the shipped model whatever directory the daemon is started from. (A build tree has no
/// `share/`: a checkout sets an absolute `ids.model_path`.)
pub fn resolve_model_path(path: &Path, exe: &Path) -> PathBuf {
    if path.as_os_str().is_empty() || path.is_absolute() {
        return path.to_path_buf();
    }
    let bin_dir = exe.parent().unwrap_or(Path::new("/"));
    // `bin/..` is written out rather than canonicalized: the directory need not exist for the
    // error message to name where the model was expected.
    let prefix = bin_dir.parent().unwrap_or(Path::new("/"));
    prefix.join("share/ironpost").join(path)
}

/// NATS subject tokens: no spaces, no wildcards, no empty tokens.
fn valid_subject(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|t| {
            !t.is_empty() && !t.contains(['*', '>']) && !t.chars().any(char::is_whitespace)
        })
}

/// Stream and consumer names: no spaces, dots, wildcards or path separators (NATS's rule).
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
}

impl Validate for IdsConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        self.nats.validate(&key(prefix, "nats"), issues);
        if !valid_subject(&self.subject) {
            issues.push(
                key(prefix, "subject"),
                "must be a NATS subject without wildcards (e.g. telemetry.flow)",
            );
        }
        for (field, v) in [("stream", &self.stream), ("durable", &self.durable)] {
            if !valid_name(v) {
                issues.push(
                    key(prefix, field),
                    "must be 1-64 characters without spaces, dots, wildcards or slashes",
                );
            }
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0 && self.threshold <= 1.0) {
            issues.push(key(prefix, "threshold"), "must be in (0, 1]");
        }
        if !(self.window_secs.is_finite() && (0.1..=60.0).contains(&self.window_secs)) {
            issues.push(key(prefix, "window_secs"), "must be between 0.1 and 60");
        }
        if !(10..=10_000).contains(&self.tick.as_millis()) {
            issues.push(key(prefix, "tick_ms"), "must be between 10 and 10000");
        }
        if self.alert_cooldown.as_secs() > 86_400 {
            issues.push(key(prefix, "alert_cooldown_secs"), "must be at most 86400");
        }
        if let Some(url) = &self.alertmanager_url
            && let Err(e) = crate::alertmanager::HttpTarget::parse(url, "/api/v2/alerts")
        {
            issues.push(key(prefix, "alertmanager_url"), e);
        }
        for (field, v, hi) in [
            ("max_sources", self.max_sources, 10_000_000),
            (
                "max_events_per_source",
                self.max_events_per_source,
                1_000_000,
            ),
            ("publish_buffer", self.publish_buffer, 10_000_000),
        ] {
            if !(1..=hi).contains(&v) {
                issues.push(key(prefix, field), format!("must be between 1 and {hi}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut issues = Issues::default();
        IdsConfig::default().validate("ids", &mut issues);
        assert!(issues.is_empty(), "{:?}", issues.into_vec());
    }

    #[test]
    fn relative_model_paths_resolve_under_the_installs_share_dir() {
        let exe = Path::new("/usr/bin/ironpost-daemon");
        assert_eq!(
            resolve_model_path(Path::new("models/probe.onnx"), exe),
            Path::new("/usr/share/ironpost/models/probe.onnx")
        );
        // Another prefix (e.g. /opt or /usr/local) keeps its own share directory.
        assert_eq!(
            resolve_model_path(
                Path::new("models/dos.onnx"),
                Path::new("/opt/ironpost/bin/ironpost-daemon")
            ),
            Path::new("/opt/ironpost/share/ironpost/models/dos.onnx")
        );
        // Absolute paths and the empty path (seed formula) are kept as written.
        assert_eq!(
            resolve_model_path(Path::new("/srv/m.onnx"), exe),
            Path::new("/srv/m.onnx")
        );
        assert_eq!(resolve_model_path(Path::new(""), exe), Path::new(""));
        // The default is relative, so it never depends on the working directory.
        assert!(IdsConfig::default().model_path.is_relative());
        let resolved = IdsConfig::default().model_file();
        assert!(resolved.is_absolute(), "{}", resolved.display());
        assert!(resolved.ends_with("share/ironpost/models/probe.onnx"));
    }

    #[test]
    fn nats_auth_and_tls_errors_name_their_keys() {
        let check = |nats: NatsConfig| {
            let cfg = IdsConfig {
                nats,
                ..Default::default()
            };
            let mut issues = Issues::default();
            cfg.validate("ids", &mut issues);
            issues
                .into_vec()
                .into_iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(check(NatsConfig::default()), Vec::<String>::new());
        assert_eq!(
            check(NatsConfig {
                creds_file: Some("/etc/ironpost/ids.creds".into()),
                token: Some("t".into()),
                ..Default::default()
            }),
            ["ids.nats.token: only one NATS authentication may be set; `creds_file` is set too"]
        );
        assert_eq!(
            check(NatsConfig {
                user: Some("ids".into()),
                client_cert: Some("certs/c.pem".into()),
                ..Default::default()
            }),
            [
                "ids.nats.password: is unset but `user` is set: set both or neither",
                "ids.nats.client_key: is unset but `client_cert` is set: set both or neither",
                "ids.nats.client_cert: `certs/c.pem` must be an absolute path",
            ]
        );
        assert_eq!(
            check(NatsConfig {
                token: Some(String::new()),
                ..Default::default()
            }),
            ["ids.nats.token: must not be empty"]
        );
        let parsed: IdsConfig = toml_like(
            r#"{"nats": {"url": "tls://127.0.0.1:4222", "nkey_seed_file": "/etc/ironpost/ids.nk", "ca_file": "/etc/ironpost/ca.pem", "tls_required": true}}"#,
        );
        assert_eq!(
            parsed.nats.nkey_seed_file.as_deref(),
            Some(Path::new("/etc/ironpost/ids.nk"))
        );
        assert!(parsed.nats.tls_required);
    }

    /// The section from JSON (the crate has no TOML parser; serde's rules are the same).
    fn toml_like(json: &str) -> IdsConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bad_values_name_their_keys() {
        let cfg = IdsConfig {
            nats: NatsConfig {
                url: Some("http://x".into()),
                ..Default::default()
            },
            subject: "telemetry.*".into(),
            stream: "a.b".into(),
            threshold: 1.5,
            tick: Duration::from_millis(1),
            alertmanager_url: Some("ftp://x".into()),
            publish_buffer: 0,
            ..Default::default()
        };
        let mut issues = Issues::default();
        cfg.validate("ids", &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "ids.nats.url",
                "ids.subject",
                "ids.stream",
                "ids.threshold",
                "ids.tick_ms",
                "ids.alertmanager_url",
                "ids.publish_buffer"
            ]
        );
    }
}
