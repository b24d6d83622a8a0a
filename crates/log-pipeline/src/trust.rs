//! What decides a record's evidence class (docs/threat-model.md): whether its source vouches for
//! the writer (`trusted_paths`, `trusted_senders`, the journal's trusted fields) and whether the
//! record is a `verified_programs` line whose address the auth extractor found. Never the text.

use std::net::IpAddr;
use std::path::PathBuf;

use ironpost_core::Evidence;
use ironpost_core::net::Cidr;

use crate::config::LogPipelineConfig;
use crate::parse::{JournalTrust, Record};
use crate::source::file::glob_match;

/// Whether `path` matches one of `globs` (as `watch_paths`: `*` and `?` in the file name only).
pub(crate) fn path_matches(globs: &[PathBuf], path: &str) -> bool {
    let p = std::path::Path::new(path);
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    globs.iter().any(|pat| {
        pat.parent() == Some(dir)
            && pat
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|g| glob_match(g, name))
    })
}

/// What decides a record's evidence class (see the module doc).
#[derive(Debug, Clone)]
pub struct Trust {
    /// `trusted_paths` globs.
    pub paths: Vec<PathBuf>,
    pub senders: Vec<Cidr>,
    pub udp_senders: bool,
    pub verified_programs: Vec<String>,
    pub journal: JournalTrust,
}

impl Trust {
    pub fn from_config(cfg: &LogPipelineConfig) -> Self {
        Trust {
            paths: cfg.trusted_paths.clone(),
            senders: cfg.trusted_senders.clone(),
            udp_senders: cfg.trust_udp_senders,
            verified_programs: cfg.verified_programs.clone(),
            journal: cfg.journald.trust(),
        }
    }

    /// Whether the file at `path` is in `trusted_paths` (same globbing as `watch_paths`: `*`
    /// and `?` in the file name only).
    pub fn file_trusted(&self, path: &str) -> bool {
        path_matches(&self.paths, path)
    }

    /// Whether a syslog message from `sender` over `source` (`syslog_tcp`, `syslog_udp`) is
    /// authenticated.
    pub fn sender_trusted(&self, source: &str, sender: Option<IpAddr>) -> bool {
        let transport_ok = match source {
            "syslog_tcp" => true,
            "syslog_udp" => self.udp_senders,
            _ => false,
        };
        transport_ok && sender.is_some_and(|ip| self.senders.iter().any(|c| c.contains(&ip)))
    }

    /// The class of `rec`, given whether its source authenticated the writer: `verified` only for
    /// an authenticated record of a `verified_programs` program whose address the auth extractor
    /// found in the position the program's grammar gives it.
    pub fn evidence(&self, authenticated: bool, rec: &Record<'_>) -> Evidence {
        if !authenticated {
            return Evidence::Forgeable;
        }
        let Some(app) = rec.app.as_deref() else {
            return Evidence::Forgeable;
        };
        let program = app.rsplit_once('/').map_or(app, |(_, p)| p);
        if self.verified_programs.iter().any(|p| p == program) && rec.auth().src_ip.is_some() {
            Evidence::Verified
        } else {
            Evidence::Forgeable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseContext, parse};

    fn trust() -> Trust {
        Trust::from_config(&LogPipelineConfig {
            trusted_paths: vec![PathBuf::from("/var/log/ironpost-sshd/*.log")],
            trusted_senders: vec!["198.18.40.0/24".parse().unwrap()],
            ..LogPipelineConfig::default()
        })
    }

    const SSHD: &[u8] =
        b"<38>1 2026-11-10T06:55:46Z gw sshd 1 - - Failed password for root from 198.18.9.9 port 22 ssh2";

    #[test]
    fn sources_vouch_text_does_not() {
        let t = trust();
        assert!(t.file_trusted("/var/log/ironpost-sshd/a.log"));
        assert!(!t.file_trusted("/var/log/ironpost-sshd/sub/a.log"));
        assert!(!t.file_trusted("/var/log/auth.log"));
        let inside = Some("198.18.40.7".parse().unwrap());
        let outside = Some("198.18.41.7".parse().unwrap());
        assert!(t.sender_trusted("syslog_tcp", inside));
        assert!(!t.sender_trusted("syslog_tcp", outside));
        assert!(!t.sender_trusted("syslog_tcp", None));
        // A UDP source address can be forged: trusted only when the operator says so.
        assert!(!t.sender_trusted("syslog_udp", inside));
        let udp = Trust {
            udp_senders: true,
            ..trust()
        };
        assert!(udp.sender_trusted("syslog_udp", inside));
        assert!(!t.sender_trusted("file", inside));
    }

    #[test]
    fn verified_needs_authentication_program_and_extracted_address() {
        let t = trust();
        let ctx = ParseContext::new(0, 0);
        let rec = parse(SSHD, &ctx);
        assert_eq!(t.evidence(true, &rec), Evidence::Verified);
        assert_eq!(t.evidence(false, &rec), Evidence::Forgeable);
        // Same text under another program name: no grammar vouches for the address.
        let other = parse(
            b"<38>1 2026-11-10T06:55:46Z gw app 1 - - Failed password for root from 198.18.9.9 port 22 ssh2",
            &ctx,
        );
        assert_eq!(t.evidence(true, &other), Evidence::Forgeable);
        // sshd, authenticated, but no address in sshd's grammar (a JSON key does not count).
        let json = parse(
            br#"{"app":"sshd","message":"hello","src_ip":"198.18.9.9"}"#,
            &ctx,
        );
        assert_eq!(t.evidence(true, &json), Evidence::Forgeable);
        let restricted = Trust {
            verified_programs: vec!["sshd-session".into()],
            ..trust()
        };
        assert_eq!(restricted.evidence(true, &rec), Evidence::Forgeable);
    }
}
