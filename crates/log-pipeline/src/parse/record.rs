//! The parsed record: a view of one log line that borrows from it, and the `FieldSource`
//! implementation the rule engine evaluates. Nothing here allocates unless the line needed
//! unescaping or repair (JSON escapes, RFC 5424 param escapes, invalid UTF-8, nested JSON keys
//! three levels down).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use ironpost_core::Evidence;

use super::ParseContext;
use crate::fields::{FieldSource, FieldValue};

/// At most this many structured-data params (RFC 5424) or extra keys (JSON) are kept per
/// record; the rest are skipped and `Issues::structured_truncated` is set.
pub const MAX_STRUCTURED: usize = 32;

/// Which grammar a line was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    Json,
    /// A `journalctl -o json` entry (read by the journald source).
    Journal,
    /// A web server access log line, NCSA common or combined (nginx, Apache): `parse/web.rs`.
    Combined,
    /// An nginx or Apache error log line: `parse/web_error.rs`.
    WebError,
    /// Nothing recognisable: the whole line is the message. Counted by the caller.
    Raw,
}

impl Format {
    /// Low-cardinality name, usable as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Json => "json",
            Format::Journal => "journal",
            Format::Combined => "combined",
            Format::WebError => "web_error",
            Format::Raw => "raw",
        }
    }
}

/// What was wrong with a line that was still parsed. The caller counts these; none of them
/// loses the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Issues {
    /// The line was not valid UTF-8: invalid sequences were replaced with U+FFFD (JSON lines
    /// become `Raw`, since JSON must be UTF-8).
    pub invalid_utf8: bool,
    /// The timestamp had the right shape but named no real instant (`Feb 30`, `25:00:00`):
    /// `timestamp_micros` is `None`.
    pub bad_timestamp: bool,
    /// RFC 5424 structured data was malformed: none is kept, and the message starts where the
    /// structured data did.
    pub malformed_structured_data: bool,
    /// More than [`MAX_STRUCTURED`] params or keys: the first ones are kept.
    pub structured_truncated: bool,
    /// A JSON line nested deeper than [`super::MAX_JSON_DEPTH`]: the line is `Raw`.
    pub json_too_deep: bool,
    /// A line starting with `{` that is not one valid JSON object: the line is `Raw`.
    pub invalid_json: bool,
}

/// One structured-data param or extra JSON key. Its field name is `prefix.name`, or `name`
/// when the prefix is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// The RFC 5424 SD-ID, or the dotted path of the enclosing JSON objects ("" at top level).
    pub prefix: Cow<'a, str>,
    pub name: Cow<'a, str>,
    /// Unescaped value; JSON numbers, booleans, `null` and arrays as their JSON text.
    pub value: Cow<'a, str>,
}

impl Param<'_> {
    /// Whether this param's field name is `key`, compared without building the name.
    pub fn key_is(&self, key: &str) -> bool {
        if self.prefix.is_empty() {
            return key == self.name;
        }
        let (p, n) = (self.prefix.len(), self.name.len());
        key.len() == p + 1 + n
            && key.as_bytes()[p] == b'.'
            && key.starts_with(&*self.prefix)
            && key.ends_with(&*self.name)
    }

    /// The field name (allocates when there is a prefix; for display and tests).
    pub fn key(&self) -> Cow<'_, str> {
        if self.prefix.is_empty() {
            Cow::Borrowed(&self.name)
        } else {
            Cow::Owned(format!("{}.{}", self.prefix, self.name))
        }
    }
}

/// Structured data in line order, on the heap: most lines have none, and a record is moved
/// several times between parsing and matching (params kept inline made every record 136 bytes
/// larger, and moving them was a visible share of the pipeline's time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructuredData<'a> {
    params: Vec<Param<'a>>,
}

impl<'a> StructuredData<'a> {
    pub fn iter(&self) -> std::slice::Iter<'_, Param<'a>> {
        self.params.iter()
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The value of the first param whose field name is `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key_is(key))
            .map(|p| &*p.value)
    }

    /// Adds a param unless [`MAX_STRUCTURED`] are already kept; returns whether it was kept.
    pub(crate) fn push(&mut self, param: Param<'a>) -> bool {
        if self.params.len() >= MAX_STRUCTURED {
            return false;
        }
        self.params.push(param);
        true
    }

    pub(crate) fn clear(&mut self) {
        self.params.clear();
    }
}

/// What an authentication line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A credential was refused (`Failed password`, PAM `authentication failure`, sudo's
    /// `incorrect password attempts`, `FAILED SU`).
    Failure,
    /// A login or privilege change was granted (`Accepted publickey`, a sudo command, `(to root)`).
    Success,
    /// sshd's `Invalid user NAME from IP`: the account does not exist.
    InvalidUser,
    /// The client went away (`Connection closed by`, `Disconnected from`, `Received disconnect`).
    Disconnect,
    /// sshd gave up on a connection after MaxAuthTries failures.
    MaxAttempts,
    /// sshd refused one public key of an existing user (`Failed publickey for alice`). Not a
    /// failure: clients offer their keys one after another and each refusal is logged, so
    /// fail2ban's sshd filter does not count it either (a refused key for an *invalid* user is
    /// a `failure`).
    PubkeyProbe,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Failure => "failure",
            Outcome::Success => "success",
            Outcome::InvalidUser => "invalid_user",
            Outcome::Disconnect => "disconnect",
            Outcome::MaxAttempts => "max_attempts",
            Outcome::PubkeyProbe => "pubkey_probe",
        }
    }
}

/// A byte range of the record's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// Fields extracted from sshd, sudo, su and PAM messages. User names are kept as ranges of the
/// message (read them with [`Record::user`] and [`Record::target_user`]), so they borrow even
/// when the message itself had to be unescaped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthFields {
    /// The remote address (IPv4-mapped IPv6 addresses are given as IPv4).
    pub src_ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub outcome: Option<Outcome>,
    /// Who acted: the login name tried over ssh, sudo's invoking user, su's caller, PAM's
    /// `ruser` when set, else PAM's `user`.
    pub(crate) user: Option<Span>,
    /// The account switched to: sudo's `USER=`, su's `(to root)`, PAM's `user` when `ruser` is set.
    pub(crate) target_user: Option<Span>,
}

impl AuthFields {
    pub fn is_empty(&self) -> bool {
        *self == AuthFields::default()
    }
}

/// One parsed line. Borrowed from the line except where noted on the field.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub format: Format,
    /// When the record says it happened (microseconds since the Unix epoch).
    pub timestamp_micros: Option<i64>,
    /// When the line was received ([`ParseContext::received_micros`]).
    pub received_micros: i64,
    /// Syslog facility number (0-23).
    pub facility: Option<u8>,
    /// Syslog severity number (0 emerg … 7 debug); JSON levels are mapped onto it.
    pub severity: Option<u8>,
    /// Owned only for JSON strings with escapes.
    pub hostname: Option<Cow<'a, str>>,
    /// RFC 3164 TAG without `[pid]`, RFC 5424 APP-NAME, JSON `process`/`app`/`program`.
    /// Owned only for JSON strings with escapes.
    pub app: Option<Cow<'a, str>>,
    pub pid: Option<u32>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// Owned when unescaped (JSON) or repaired (invalid UTF-8).
    pub message: Cow<'a, str>,
    pub structured: StructuredData<'a>,
    /// Extracted on first use: [`Record::auth`].
    auth: OnceCell<AuthFields>,
    pub issues: Issues,
    /// The component that received the line (`file:/var/log/auth.log`): not in the line, so
    /// `parse` leaves it `None` for the caller to set. Answers the `source` field.
    pub source: Option<&'a str>,
    /// The syslog sender's address (not in the line: set by the caller). Answers `sender_ip`.
    pub sender_ip: Option<IpAddr>,
    /// What the address rests on. `parse` says `Forgeable` (text alone proves nothing); the
    /// pipeline raises it from what the source vouches for. Answers the `evidence` field.
    pub evidence: Evidence,
}

/// Field by field, the auth fields included (extracted for the comparison if need be): whether
/// `auth()` was already called does not make two records differ.
impl PartialEq for Record<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format
            && self.timestamp_micros == other.timestamp_micros
            && self.received_micros == other.received_micros
            && self.facility == other.facility
            && self.severity == other.severity
            && self.hostname == other.hostname
            && self.app == other.app
            && self.pid == other.pid
            && self.msgid == other.msgid
            && self.message == other.message
            && self.structured == other.structured
            && self.issues == other.issues
            && self.source == other.source
            && self.sender_ip == other.sender_ip
            && self.evidence == other.evidence
            && self.auth() == other.auth()
    }
}

const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

impl<'a> Record<'a> {
    /// A record of `format` with only the message set.
    pub(crate) fn new(format: Format, message: Cow<'a, str>, ctx: &ParseContext) -> Self {
        Record {
            format,
            timestamp_micros: None,
            received_micros: ctx.received_micros(),
            facility: None,
            severity: None,
            hostname: None,
            app: None,
            pid: None,
            msgid: None,
            message,
            structured: StructuredData::default(),
            auth: OnceCell::new(),
            issues: Issues::default(),
            source: None,
            sender_ip: None,
            evidence: Evidence::Forgeable,
        }
    }

    /// The record's time if it has one, else when it was received.
    pub fn time_micros(&self) -> i64 {
        self.timestamp_micros.unwrap_or(self.received_micros)
    }

    /// Severity keyword (`emerg` … `debug`).
    pub fn severity_name(&self) -> Option<&'static str> {
        SEVERITY_NAMES.get(usize::from(self.severity?)).copied()
    }

    /// Facility keyword (`kern`, `auth`, `authpriv`, `local0` …).
    pub fn facility_name(&self) -> Option<&'static str> {
        FACILITY_NAMES.get(usize::from(self.facility?)).copied()
    }

    /// Address, port, users and outcome of an sshd/sudo/su/PAM line; empty for other lines.
    ///
    /// Extracted on the first call and kept: parsing a line does not pay for it, a rule that
    /// asks for `src_ip` does, once. (This makes `Record` `!Sync`; records are processed by the
    /// thread that parsed them.)
    pub fn auth(&self) -> &AuthFields {
        // Raw lines have no program: only the shapes recognised by their fixed text (vsftpd.log,
        // MySQL's error log) yield an address and an outcome, never a user.
        self.auth.get_or_init(|| match self.format {
            Format::Raw => super::auth::extract_raw(&self.message),
            _ => super::auth::extract(self.app.as_deref(), &self.message),
        })
    }

    /// The user extracted from an auth line (see [`AuthFields`]).
    pub fn user(&self) -> Option<&str> {
        self.span(self.auth().user?)
    }

    /// The target account extracted from an auth line (see [`AuthFields`]).
    pub fn target_user(&self) -> Option<&str> {
        self.span(self.auth().target_user?)
    }

    fn span(&self, s: Span) -> Option<&str> {
        // `get`, not indexing: `message` is a public field and may have been replaced.
        self.message.get(s.start as usize..s.end as usize)
    }
}

/// Severity keyword → number, accepting the spellings JSON loggers use.
pub(crate) fn severity_from_name(name: &str) -> Option<u8> {
    let b = name.as_bytes();
    if b.len() > 13 {
        return None;
    }
    let mut buf = [0u8; 13];
    for (d, s) in buf.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &buf[..b.len()] {
        b"emerg" | b"emergency" | b"panic" => 0,
        b"alert" => 1,
        b"crit" | b"critical" | b"fatal" => 2,
        b"err" | b"error" => 3,
        b"warn" | b"warning" => 4,
        b"notice" => 5,
        b"info" | b"information" | b"informational" => 6,
        b"debug" | b"trace" | b"verbose" => 7,
        _ => return None,
    })
}

/// Facility keyword → number.
pub(crate) fn facility_from_name(name: &str) -> Option<u8> {
    FACILITY_NAMES
        .iter()
        .position(|f| f.eq_ignore_ascii_case(name))
        .and_then(|i| u8::try_from(i).ok())
}

impl FieldSource for Record<'_> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let builtin = match name {
            "message" => Some(FieldValue::Str(&self.message)),
            "process" | "program" | "app" | "app_name" => self.app.as_deref().map(FieldValue::Str),
            "pid" => self.pid.map(|p| FieldValue::Num(f64::from(p))),
            "hostname" | "host" => self.hostname.as_deref().map(FieldValue::Str),
            "severity" => self.severity_name().map(FieldValue::Str),
            "facility" => self.facility_name().map(FieldValue::Str),
            "msgid" => self.msgid.map(FieldValue::Str),
            "src_ip" => self.auth().src_ip.map(FieldValue::Ip),
            "user" => self.user().map(FieldValue::Str),
            "target_user" => self.target_user().map(FieldValue::Str),
            "port" => self.auth().port.map(|p| FieldValue::Num(f64::from(p))),
            "outcome" => self.auth().outcome.map(|o| FieldValue::Str(o.as_str())),
            "source" => self.source.map(FieldValue::Str),
            "sender_ip" => self.sender_ip.map(FieldValue::Ip),
            "evidence" => Some(FieldValue::Str(self.evidence.as_str())),
            "format" => Some(FieldValue::Str(self.format.as_str())),
            _ => None,
        };
        // A name the record has no built-in value for may still be a structured key (a JSON
        // line's own `user` key, say). Values that are addresses are typed, as in `MapFields`.
        builtin.or_else(|| {
            let v = self.structured.get(name)?;
            Some(match v.parse::<IpAddr>() {
                Ok(ip) => FieldValue::Ip(ip),
                Err(_) => FieldValue::Str(v),
            })
        })
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn timestamp_micros(&self) -> Option<i64> {
        self.timestamp_micros
    }

    fn evidence(&self) -> Evidence {
        self.evidence
    }
}
