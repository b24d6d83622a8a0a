//! `PipelineError`: why the pipeline, a source or the shared alert state could not do its job,
//! with the path, address or URL as data. Problems with one rule are [`RuleError`]s, collected
//! per rule (one broken rule must not hide the others) and carried here when they reject a load.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use ironpost_core::error_chain;

use crate::rules::RuleError;

/// Any error of the log pipeline other than one rule's.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("rules_dir {} is not a directory", path.display())]
    RulesDir { path: PathBuf },

    /// The rule set was rejected as a whole: the running rules stay.
    #[error("{} rule error(s) in {}: {}", errors.len(), dir.display(), Joined(errors))]
    Rules {
        dir: PathBuf,
        errors: Vec<RuleError>,
    },

    /// The file source's checkpoint file was damaged (moved aside; files read from their start).
    #[error(transparent)]
    Checkpoint(crate::source::file::CheckpointError),

    #[error("syslog_udp cannot bind {addr}")]
    UdpBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("syslog_tcp cannot bind {addr}")]
    TcpBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// A PEM file of `syslog_tls_cert` / `syslog_tls_key` could not be read or decoded.
    #[error("syslog_tcp TLS: cannot load {}", path.display())]
    TlsPem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },

    #[error("syslog_tcp TLS: no certificate found in {}", path.display())]
    NoCertificate { path: PathBuf },

    /// rustls refused the certificate and key together (mismatched key, unsupported algorithm).
    #[error("syslog_tcp TLS: {} and {} do not make a server config", cert.display(), key.display())]
    TlsConfig {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },

    /// The octet-counting framing of a TCP stream cannot be recovered: the connection is closed.
    #[error("invalid octet-counting frame: {reason}")]
    Framing { reason: &'static str },

    /// The journald cursor file exists but could not be read.
    #[error("journald cursor {} unreadable; started from the end of the journal", path.display())]
    CursorRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("journald cursor {} holds no journal cursor; started from the end of the journal", path.display())]
    NotACursor { path: PathBuf },

    /// Redis could not be used for the shared alert state (`source` says why): each node keeps
    /// its own, in memory, so thresholds count per node.
    #[error("alert state kept in memory")]
    AlertStateInMemory {
        #[source]
        source: Box<PipelineError>,
    },

    /// URLs are shown with the password replaced by `***`.
    #[error("invalid Redis URL `{url}`")]
    RedisUrl {
        url: String,
        #[source]
        source: crate::rules::RedisCause,
    },

    #[error("cannot reach Redis at `{url}`")]
    RedisConnect {
        url: String,
        #[source]
        source: crate::rules::RedisCause,
    },

    /// Connected, but the session set-up (TLS, AUTH, SELECT, PING) did not finish in time: a
    /// server that accepts and never answers.
    #[error("Redis at `{url}` did not answer within {} ms", after.as_millis())]
    RedisTimeout {
        url: String,
        after: std::time::Duration,
    },

    /// Redis answered the session set-up (AUTH, SELECT, PING) with an error reply.
    #[error("Redis at `{url}` refused the session")]
    RedisServer {
        url: String,
        #[source]
        source: crate::rules::RedisCause,
    },

    /// A PEM file named in `[log_pipeline.redis]` could not be read.
    #[error("log_pipeline.redis.{field}: cannot read {}", path.display())]
    RedisTlsFile {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PipelineError {
    /// The rule errors of a rejected rule set (empty for every other variant).
    pub fn rule_errors(&self) -> &[RuleError] {
        match self {
            PipelineError::Rules { errors, .. } => errors,
            _ => &[],
        }
    }
}

/// Each rule error with its own chain, `; `-separated: a list has no single `source`.
struct Joined<'a>(&'a [RuleError]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&error_chain(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use ironpost_core::error::repeated_cause;

    use super::*;
    use crate::rules::Origin;
    use crate::source::syslog_tcp::load_tls;

    fn regex_error() -> RuleError {
        RuleError::Regex {
            origin: Origin::file("/etc/ironpost/rules/ssh.yml").at(3, 7),
            rule_id: "ssh_brute".into(),
            pattern: "(unclosed".into(),
            // Built at run time as a rule file would give it (clippy rejects a literal bad regex).
            source: regex::Regex::new(&["(", "unclosed"].concat()).unwrap_err(),
        }
    }

    /// Errors built from real failures (a missing file, a refused regex, a closed port): no
    /// message repeats its source, so the joined chain shows each cause once.
    #[tokio::test]
    async fn every_error_prints_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let io = || std::fs::read(&missing).unwrap_err();
        let tls = load_tls(&missing, &missing).unwrap_err();
        assert!(matches!(tls, PipelineError::TlsPem { ref path, .. } if *path == missing));
        let redis = crate::rules::RedisAlertState::connect(
            &crate::rules::RedisOptions::new("redis://:pw@127.0.0.1:1/0"),
            "t:",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(redis, PipelineError::RedisConnect { .. }),
            "{redis}"
        );
        assert!(
            !error_chain(&redis).contains("pw"),
            "{}",
            error_chain(&redis)
        );
        let redis = PipelineError::AlertStateInMemory {
            source: Box::new(redis),
        };
        let text = error_chain(&redis);
        assert!(
            text.starts_with(
                "alert state kept in memory: cannot reach Redis at `redis://:***@127.0.0.1:1/0`"
            ),
            "{text}"
        );
        let errors = [
            tls,
            redis,
            PipelineError::UdpBind {
                addr: "127.0.0.1:514".parse().unwrap(),
                source: io(),
            },
            PipelineError::CursorRead {
                path: missing.clone(),
                source: io(),
            },
            PipelineError::Rules {
                dir: dir.path().to_owned(),
                errors: vec![regex_error()],
            },
        ];
        for e in &errors {
            assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        }
        let read = RuleError::Read {
            path: missing.clone(),
            source: io(),
        };
        for e in [read, regex_error()] {
            assert_eq!(repeated_cause(&e), None, "{}", error_chain(&e));
            assert!(e.source().is_some());
        }
    }

    /// A rejected rule set has no single source, so each rule error is written with its chain:
    /// the regex parser's reason is still shown.
    #[test]
    fn a_rejected_rule_set_lists_each_rule_error_with_its_cause() {
        let e = PipelineError::Rules {
            dir: "/etc/ironpost/rules".into(),
            errors: vec![regex_error()],
        };
        let text = e.to_string();
        assert!(
            text.starts_with("1 rule error(s) in /etc/ironpost/rules: /etc/ironpost/rules/ssh.yml:3:7: rule `ssh_brute`: regex `(unclosed` rejected: "),
            "{text}"
        );
        assert!(text.contains("unclosed group"), "{text}");
        assert_eq!(e.rule_errors().len(), 1);
    }
}
