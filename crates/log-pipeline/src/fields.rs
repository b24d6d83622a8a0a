//! The contract between parsing and rules: a parsed record exposes its fields by name, typed, and
//! the rule engine asks for them. Neither side allocates to look a field up.
//!
//! Field names rules may use (seed 003 and Sigma mappings resolve to these):
//!
//! | name | meaning |
//! |---|---|
//! | `message` | the free-text message (MSG / `message` / `msg`) |
//! | `process` (aliases `program`, `app`, `app_name`) | RFC 3164 TAG without `[pid]`, RFC 5424 APP-NAME, JSON `process`/`app` |
//! | `pid` | process id, when present |
//! | `hostname` (alias `host`) | the record's host |
//! | `severity` | syslog severity keyword (`emerg` … `debug`), or a JSON level mapped onto those |
//! | `facility` | syslog facility keyword (`kern`, `user`, `auth`, `authpriv` …) |
//! | `msgid` | RFC 5424 MSGID |
//! | `src_ip`, `user`, `port`, `outcome` | extracted from sshd/sudo/su/pam lines (`outcome`: `failure`, `success`, `invalid_user`, `max_attempts`, `disconnect`, `pubkey_probe` — a refused key of an existing user, not a failure) |
//! | `source` | the component that received it (`file:/var/log/auth.log`, `syslog_udp` …) |
//! | `evidence` | what the record's address rests on: `verified`, `spoofable` or `forgeable` (decided by the source, never by the text) |
//! | `format` | the grammar the line was read with: `rfc5424`, `rfc3164`, `json`, `journal`, `combined` (web access log), `web_error`, `auditd` (a joined auditd event, `parse/auditd_join.rs`), `raw` (Sigma log sources use it) |
//! | `sender_ip` | the syslog sender's address (UDP datagram source or TCP peer) |
//! | anything else | RFC 5424 structured data as `SDID.param`, JSON keys as dotted paths |

use std::net::IpAddr;

use ironpost_core::Evidence;

/// A field's value, borrowed from the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Str(&'a str),
    Ip(IpAddr),
    Num(f64),
}

impl FieldValue<'_> {
    /// The value as text (IPs and numbers rendered) for string operators.
    pub fn to_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            FieldValue::Str(s) => std::borrow::Cow::Borrowed(s),
            FieldValue::Ip(ip) => std::borrow::Cow::Owned(ip.to_string()),
            FieldValue::Num(n) => std::borrow::Cow::Owned(n.to_string()),
        }
    }
}

/// Anything rules can be evaluated against.
pub trait FieldSource {
    /// The value of field `name`, if the record has it.
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;

    /// The message, which most rules and every literal prefilter look at.
    fn message(&self) -> &str;

    /// When the record says it happened (microseconds since the Unix epoch), if it says so.
    fn timestamp_micros(&self) -> Option<i64>;

    /// What the record's source address rests on. Decided by where the record came from (see
    /// `pipeline.rs`), never by its text; the weakest class unless a source says otherwise.
    fn evidence(&self) -> Evidence {
        Evidence::Forgeable
    }

    /// Who acted, when the source knows it first-hand (the process monitor: a container id, or
    /// `host`). A rule without `group_by` dedups per actor, so one container's
    /// alert never suppresses another's.
    fn actor(&self) -> Option<&str> {
        None
    }
}

/// A simple owned record for tests and tools (`rules test`): fields in a list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapFields {
    pub message: String,
    pub timestamp_micros: Option<i64>,
    pub fields: Vec<(String, String)>,
}

impl FieldSource for MapFields {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        if name == "message" {
            return Some(FieldValue::Str(&self.message));
        }
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v.parse::<IpAddr>() {
                Ok(ip) => FieldValue::Ip(ip),
                Err(_) => FieldValue::Str(v.as_str()),
            })
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn timestamp_micros(&self) -> Option<i64> {
        self.timestamp_micros
    }
}
