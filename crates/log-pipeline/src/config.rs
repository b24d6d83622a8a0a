//! `[log_pipeline]` section (seed 003), with its `[log_pipeline.storage]` sub-table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ironpost_core::config::{Issues, StorageConfig, Validate, key, millis, secs};
use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

/// Kinds of log source named in `sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Syslog over UDP and TCP, both on `syslog_bind` (like rsyslog's imudp + imtcp on 514).
    Syslog,
    /// Syslog over UDP only, on `syslog_bind`.
    #[serde(rename = "syslog_udp")]
    SyslogUdp,
    /// Syslog over TCP only, on `syslog_bind`.
    #[serde(rename = "syslog_tcp")]
    SyslogTcp,
    /// Tail of the files in `watch_paths`.
    File,
    /// The systemd journal, followed through `journalctl` with a persisted cursor
    /// (`[log_pipeline.journald]`).
    Journald,
}

impl SourceKind {
    pub fn udp(self) -> bool {
        matches!(self, SourceKind::Syslog | SourceKind::SyslogUdp)
    }

    pub fn tcp(self) -> bool {
        matches!(self, SourceKind::Syslog | SourceKind::SyslogTcp)
    }
}

/// Where to start reading a file seen for the first time.
pub use crate::source::file::StartAt;

/// `[log_pipeline]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogPipelineConfig {
    pub enabled: bool,
    pub sources: Vec<SourceKind>,
    /// Address the syslog receiver binds.
    pub syslog_bind: SocketAddr,
    /// Files (glob patterns) to tail.
    pub watch_paths: Vec<PathBuf>,
    /// Parsed records handed to the rule engine at once.
    pub batch_size: usize,
    /// Threads in the pipeline's share of the work, the worker included: `match_threads - 1`
    /// threads parse lines and match them against the rules (each batch cut into one chunk per
    /// thread, chunks of at least 128 lines), while the worker applies thresholds and raises the
    /// alerts of the batch before, in line order. 1: the worker does everything. 0 (the default):
    /// one per CPU, at most 8.
    pub match_threads: usize,
    /// A partial batch is processed after this long.
    #[serde(rename = "flush_interval_secs", with = "secs")]
    pub flush_interval: Duration,
    /// Directory of YAML detection rules (the packages install the rule library here).
    pub rules_dir: PathBuf,
    /// Which sshd rules run: `normal` (authentication failures), `ddos` (also connections
    /// dropped before authentication: scanners, floods), `aggressive` (also negotiation
    /// failures and clients that give up mid-authentication). Chosen by the rules' tags
    /// `ironpost.sshd_mode.ddos` / `ironpost.sshd_mode.aggressive`; other rules always run.
    pub sshd_mode: crate::rules::SshdMode,
    /// `SO_RCVBUF` of the UDP socket in bytes; 0 keeps the system default.
    pub syslog_udp_rcvbuf: usize,
    /// TCP connections accepted at once; more are closed and counted as dropped.
    pub syslog_tcp_max_connections: usize,
    /// A TCP connection silent this long is closed.
    #[serde(rename = "syslog_tcp_idle_timeout_secs", with = "secs")]
    pub syslog_tcp_idle_timeout: Duration,
    /// TCP connections accepted at once from one source address; more from it are closed and
    /// counted, so one peer cannot take every slot of `syslog_tcp_max_connections`.
    pub syslog_tcp_max_connections_per_peer: usize,
    /// A TCP connection whose first complete message (frame) has not arrived this long after it
    /// was accepted (TLS handshake included) is closed and counted: a peer that trickles bytes
    /// cannot hold a slot for the idle timeout.
    #[serde(rename = "syslog_tcp_header_timeout_secs", with = "secs")]
    pub syslog_tcp_header_timeout: Duration,
    /// PEM certificate chain for syslog over TLS (RFC 5425) on the TCP listener; set together
    /// with `syslog_tls_key`. Unset: plain TCP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_tls_cert: Option<PathBuf>,
    /// PEM private key matching `syslog_tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syslog_tls_key: Option<PathBuf>,
    /// `beginning` or `end`: where to start a file on the first run (no checkpoint file yet).
    /// Once a checkpoint file exists, a new file is read from its start; after a damaged
    /// checkpoint file, every file is.
    pub file_start_at: StartAt,
    /// How often files are checked for new lines, rotation and new matches.
    #[serde(rename = "file_poll_ms", with = "millis")]
    pub file_poll: Duration,
    /// Files (glob patterns, as in `watch_paths`) whose lines the operator vouches for: only a
    /// trusted program can write them (for example `sshd -E /var/log/sshd.log`). Their lines are
    /// authenticated (see `verified_programs`). Do not list a file that a syslog daemon fills
    /// from `/dev/log` (`/var/log/auth.log`): any local user can write `logger -t sshd …` there.
    pub trusted_paths: Vec<PathBuf>,
    /// Files (glob patterns, as in `watch_paths`; each must also be watched) written by auditd
    /// (`/var/log/audit/audit.log`): their records are joined into events by serial (`SYSCALL`,
    /// `EXECVE`, `CWD`, `PATH` …), matched through one view per record (Sigma rules only with
    /// `service: auditd`; native rules like any record, `format` = `auditd`). Same acknowledged
    /// checkpoints as other files.
    pub auditd_paths: Vec<PathBuf>,
    /// Syslog senders (addresses or CIDRs) whose records are authenticated. Checked against the
    /// TCP peer; a UDP datagram's source address can be forged, so UDP senders are trusted only
    /// with `trust_udp_senders`. Every syslog record keeps its sender as the `sender_ip` field.
    pub trusted_senders: Vec<Cidr>,
    /// Also trust UDP datagrams whose source is in `trusted_senders` (off: a forged datagram
    /// can carry a trusted sender's address).
    pub trust_udp_senders: bool,
    /// Programs whose log grammar places the address of a TCP peer (one that completed the
    /// handshake). An authenticated record of one of these, whose address the sshd/PAM
    /// extractor found, is `verified`; any other record is `forgeable` (packet records:
    /// `spoofable`). Compared with the record's program name (a path is reduced to its last
    /// component).
    pub verified_programs: Vec<String>,
    /// `[log_pipeline.journald]`: the journald source.
    pub journald: crate::source::journald::JournaldConfig,
    /// `[log_pipeline.alerting]`: dedup window, per-rule rate limit, threshold state bounds.
    pub alerting: crate::rules::AlertingConfig,
    pub storage: StorageConfig,
    /// `[log_pipeline.redis]`: TLS files and timeouts for `storage.redis_url`.
    pub redis: RedisConfig,
}

/// `[log_pipeline.redis]`: how the shared alert state reaches the Redis of
/// `[log_pipeline.storage] redis_url` (`redis://`, `rediss://` for TLS, `unix://`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// PEM CA certificate(s) that verify a `rediss://` server. Unset: the system roots
    /// (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for a server that requires TLS client authentication; set
    /// together with `client_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Each connection attempt (TCP, TLS, AUTH, SELECT).
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// Each alert-state operation. Past it the match is decided in process (fail open) and
    /// Redis is treated as down until a probe answers: the pipeline never waits longer.
    #[serde(rename = "response_timeout_ms", with = "millis")]
    pub response_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            ca_file: None,
            client_cert: None,
            client_key: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(1),
        }
    }
}

impl LogPipelineConfig {
    /// How to reach Redis, when `storage.redis_url` is set.
    pub fn redis_options(&self) -> Option<crate::rules::RedisOptions> {
        let url = self.storage.redis_url.as_deref()?;
        let mut o = crate::rules::RedisOptions::new(url);
        o.ca_file.clone_from(&self.redis.ca_file);
        o.client_cert.clone_from(&self.redis.client_cert);
        o.client_key.clone_from(&self.redis.client_key);
        o.connect_timeout = self.redis.connect_timeout;
        o.response_timeout = self.redis.response_timeout;
        Some(o)
    }
}

impl RedisConfig {
    fn validate(&self, prefix: &str, url: Option<&str>, issues: &mut Issues) {
        let tls = url.is_some_and(|u| u.starts_with("rediss://"));
        for (name, path) in [
            ("ca_file", &self.ca_file),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
        ] {
            let Some(p) = path else { continue };
            if !p.is_absolute() {
                issues.push(
                    key(prefix, name),
                    format!("`{}` must be an absolute path", p.display()),
                );
            } else if !tls {
                issues.push(
                    key(prefix, name),
                    "is set but `storage.redis_url` is not a rediss:// (TLS) URL",
                );
            }
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
        for (name, d) in [
            ("connect_timeout_ms", self.connect_timeout),
            ("response_timeout_ms", self.response_timeout),
        ] {
            if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
                issues.push(key(prefix, name), "must be between 10 and 60000");
            }
        }
    }
}

/// The sshd family: `sshd`, and OpenSSH 9.8+'s `sshd-session` and `sshd-auth`.
pub fn default_verified_programs() -> Vec<String> {
    ["sshd", "sshd-session", "sshd-auth"]
        .map(String::from)
        .to_vec()
}

impl Default for LogPipelineConfig {
    fn default() -> Self {
        LogPipelineConfig {
            enabled: false,
            sources: vec![SourceKind::Syslog, SourceKind::File],
            syslog_bind: SocketAddr::from(([127, 0, 0, 1], 514)),
            watch_paths: vec![PathBuf::from("/var/log/auth.log")],
            batch_size: 1000,
            match_threads: 0,
            flush_interval: Duration::from_secs(5),
            rules_dir: PathBuf::from("/etc/ironpost/rules"),
            sshd_mode: crate::rules::SshdMode::Normal,
            syslog_udp_rcvbuf: 8 * 1024 * 1024,
            syslog_tcp_max_connections: 256,
            syslog_tcp_idle_timeout: Duration::from_secs(300),
            syslog_tcp_max_connections_per_peer: 16,
            syslog_tcp_header_timeout: Duration::from_secs(10),
            syslog_tls_cert: None,
            syslog_tls_key: None,
            file_start_at: StartAt::End,
            file_poll: Duration::from_millis(250),
            trusted_paths: Vec::new(),
            auditd_paths: Vec::new(),
            trusted_senders: Vec::new(),
            trust_udp_senders: false,
            verified_programs: default_verified_programs(),
            journald: crate::source::journald::JournaldConfig::default(),
            alerting: crate::rules::AlertingConfig::default(),
            storage: StorageConfig::default(),
            redis: RedisConfig::default(),
        }
    }
}

impl Validate for LogPipelineConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if self.enabled && self.sources.is_empty() {
            issues.push(
                key(prefix, "sources"),
                "is empty: an enabled pipeline needs at least one source",
            );
        }
        if self.enabled && self.sources.contains(&SourceKind::File) && self.watch_paths.is_empty() {
            issues.push(
                key(prefix, "watch_paths"),
                "is empty but the `file` source is enabled",
            );
        }
        if !(1..=100_000).contains(&self.batch_size) {
            issues.push(key(prefix, "batch_size"), "must be between 1 and 100000");
        }
        if self.match_threads > 64 {
            issues.push(
                key(prefix, "match_threads"),
                "must be at most 64 (0: one per CPU)",
            );
        }
        if self.flush_interval.is_zero() || self.flush_interval > Duration::from_secs(3600) {
            issues.push(
                key(prefix, "flush_interval_secs"),
                "must be between 1 and 3600",
            );
        }
        if !(1..=100_000).contains(&self.syslog_tcp_max_connections) {
            issues.push(
                key(prefix, "syslog_tcp_max_connections"),
                "must be between 1 and 100000",
            );
        }
        if self.syslog_tcp_idle_timeout.is_zero() {
            issues.push(
                key(prefix, "syslog_tcp_idle_timeout_secs"),
                "must be at least 1",
            );
        }
        match (&self.syslog_tls_cert, &self.syslog_tls_key) {
            (Some(_), None) => issues.push(
                key(prefix, "syslog_tls_key"),
                "is unset but `syslog_tls_cert` is set: set both or neither",
            ),
            (None, Some(_)) => issues.push(
                key(prefix, "syslog_tls_cert"),
                "is unset but `syslog_tls_key` is set: set both or neither",
            ),
            _ => {}
        }
        for (name, path) in [
            ("syslog_tls_cert", &self.syslog_tls_cert),
            ("syslog_tls_key", &self.syslog_tls_key),
        ] {
            if let Some(p) = path.as_ref().filter(|p| !p.is_absolute()) {
                issues.push(
                    key(prefix, name),
                    format!("`{}` must be an absolute path", p.display()),
                );
            }
        }
        if self.file_poll < Duration::from_millis(10) || self.file_poll > Duration::from_secs(60) {
            issues.push(key(prefix, "file_poll_ms"), "must be between 10 and 60000");
        }
        for (name, list) in [
            ("watch_paths", &self.watch_paths),
            ("trusted_paths", &self.trusted_paths),
            ("auditd_paths", &self.auditd_paths),
        ] {
            for (i, p) in list.iter().enumerate() {
                let dir_has_glob = p
                    .parent()
                    .is_some_and(|d| d.to_string_lossy().contains(['*', '?']));
                if dir_has_glob || !p.is_absolute() {
                    issues.push(
                        format!("{}[{i}]", key(prefix, name)),
                        format!("`{}` must be an absolute path; `*` and `?` are allowed in the file name only", p.display()),
                    );
                }
            }
        }
        if self.trust_udp_senders && self.trusted_senders.is_empty() {
            issues.push(
                key(prefix, "trust_udp_senders"),
                "is set but `trusted_senders` is empty: list the senders to trust",
            );
        }
        for (i, p) in self.verified_programs.iter().enumerate() {
            if p.is_empty() || p.contains(['/', ' ']) || p.len() > 64 {
                issues.push(
                    format!("{}[{i}]", key(prefix, "verified_programs")),
                    format!("`{p}` must be a program name (1-64 characters, no `/` or space)"),
                );
            }
        }
        self.journald.validate(
            &key(prefix, "journald"),
            self.enabled && self.sources.contains(&SourceKind::Journald),
            issues,
        );
        self.storage.validate(&key(prefix, "storage"), issues);
        self.redis.validate(
            &key(prefix, "redis"),
            self.storage.redis_url.as_deref(),
            issues,
        );
        if !(1..=100_000).contains(&self.syslog_tcp_max_connections_per_peer) {
            issues.push(
                key(prefix, "syslog_tcp_max_connections_per_peer"),
                "must be between 1 and 100000",
            );
        }
        if self.syslog_tcp_header_timeout.is_zero()
            || self.syslog_tcp_header_timeout > self.syslog_tcp_idle_timeout
        {
            issues.push(
                key(prefix, "syslog_tcp_header_timeout_secs"),
                "must be at least 1 and at most `syslog_tcp_idle_timeout_secs`",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_section_loads_and_validates() {
        let cfg: LogPipelineConfig = toml::from_str(
            r#"
enabled = true
sources = ["syslog", "file"]
syslog_bind = "0.0.0.0:514"
watch_paths = ["/var/log/syslog", "/var/log/auth.log"]
batch_size = 1000
flush_interval_secs = 5

[storage]
postgres_url = "postgresql://localhost:5432/ironpost"
redis_url = "redis://localhost:6379"
retention_days = 30
"#,
        )
        .unwrap();
        assert_eq!(cfg.flush_interval, Duration::from_secs(5));
        assert_eq!(cfg.storage.retention_days, 30);
        let mut issues = Issues::default();
        cfg.validate("log_pipeline", &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn enabled_file_source_needs_paths() {
        let cfg = LogPipelineConfig {
            enabled: true,
            watch_paths: vec![],
            batch_size: 0,
            ..Default::default()
        };
        let mut issues = Issues::default();
        cfg.validate("log_pipeline", &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            ["log_pipeline.watch_paths", "log_pipeline.batch_size"]
        );
    }

    #[test]
    fn tls_cert_and_key_go_together_and_are_absolute() {
        let only_cert = LogPipelineConfig {
            syslog_tls_cert: Some(PathBuf::from("/etc/ironpost/syslog.crt")),
            ..Default::default()
        };
        let mut issues = Issues::default();
        only_cert.validate("log_pipeline", &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["log_pipeline.syslog_tls_key"]);

        let relative = LogPipelineConfig {
            syslog_tls_cert: Some(PathBuf::from("/etc/ironpost/syslog.crt")),
            syslog_tls_key: Some(PathBuf::from("syslog.key")),
            ..Default::default()
        };
        let mut issues = Issues::default();
        relative.validate("log_pipeline", &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["log_pipeline.syslog_tls_key"]);

        let both: LogPipelineConfig = toml::from_str(
            "syslog_tls_cert = \"/etc/ironpost/syslog.crt\"\nsyslog_tls_key = \"/etc/ironpost/syslog.key\"\n",
        )
        .unwrap();
        let mut issues = Issues::default();
        both.validate("log_pipeline", &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn redis_and_tcp_slot_settings_name_their_keys() {
        let check = |toml_text: &str| -> Vec<String> {
            let cfg: LogPipelineConfig = toml::from_str(toml_text).unwrap();
            let mut issues = Issues::default();
            cfg.validate("log_pipeline", &mut issues);
            issues
                .into_vec()
                .into_iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect()
        };
        let ok = "[storage]\nredis_url = \"rediss://cache:6380\"\n[redis]\nca_file = \"/etc/ironpost/ca.pem\"\nresponse_timeout_ms = 250\n";
        assert_eq!(check(ok), Vec::<String>::new());
        let cfg: LogPipelineConfig = toml::from_str(ok).unwrap();
        let o = cfg.redis_options().unwrap();
        assert_eq!(o.response_timeout, Duration::from_millis(250));
        assert_eq!(
            o.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ironpost/ca.pem"))
        );
        assert!(LogPipelineConfig::default().redis_options().is_none());
        assert_eq!(
            check(
                "[storage]\nredis_url = \"redis://cache\"\n[redis]\nca_file = \"/etc/ironpost/ca.pem\"\nclient_key = \"k.pem\"\nconnect_timeout_ms = 0\n"
            ),
            [
                "log_pipeline.redis.ca_file: is set but `storage.redis_url` is not a rediss:// (TLS) URL",
                "log_pipeline.redis.client_key: `k.pem` must be an absolute path",
                "log_pipeline.redis.client_cert: is unset but `client_key` is set: set both or neither",
                "log_pipeline.redis.connect_timeout_ms: must be between 10 and 60000",
            ]
        );
        assert_eq!(
            check(
                "syslog_tcp_max_connections_per_peer = 0\nsyslog_tcp_idle_timeout_secs = 5\nsyslog_tcp_header_timeout_secs = 10\n"
            ),
            [
                "log_pipeline.syslog_tcp_max_connections_per_peer: must be between 1 and 100000",
                "log_pipeline.syslog_tcp_header_timeout_secs: must be at least 1 and at most `syslog_tcp_idle_timeout_secs`",
            ]
        );
    }
}
