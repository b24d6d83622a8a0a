//! One `journalctl -o json` entry as a record, and whether the journal vouches for its writer.
//!
//! The entry is read by the JSON-lines scanner (`json.rs`: depth limit, borrowed strings, the
//! journal's keys already mapped: `MESSAGE`, `SYSLOG_IDENTIFIER` → app, `_PID`,
//! `__REALTIME_TIMESTAMP`, `PRIORITY`, `SYSLOG_FACILITY`, `_HOSTNAME`); every other field, the
//! trusted `_COMM`, `_EXE`, `_SYSTEMD_UNIT` and `_UID` among them, is a structured field rules can
//! use. What the scanner leaves to this file:
//!
//! - `MESSAGE` as an array of numbers: journald's encoding of a message that is not UTF-8. The
//!   bytes are decoded lossily (`Issues::invalid_utf8`). A field the writer sent several times is
//!   an array of values: the message is the first; for the identifier it makes the entry
//!   unauthenticated (ambiguous).
//! - A message longer than [`MAX_LINE`](crate::source::MAX_LINE) is cut there (on a character
//!   boundary) and reported in [`JournalEntry::truncated`].
//!
//! **Authentication.** Fields whose names start with `_` are added by journald from the kernel's
//! account of the sending process and cannot be set by the writer; `SYSLOG_IDENTIFIER` is
//! whatever the writer says (`logger -t sshd`, `systemd-cat -t sshd`). An entry is authenticated
//! when all of these hold ([`JournalTrust::authenticated`]):
//! - `_EXE` is one of the trusted executables (root-owned paths a user cannot replace) and its
//!   file name is the identifier the entry claims;
//! - `_COMM` is that name too (the kernel keeps 15 bytes of it);
//! - `_UID` is a trusted user (default root: a user's own copy of `/usr/sbin/sshd` with an
//!   `LD_PRELOAD` library could otherwise log any text under the genuine executable);
//! - `_SYSTEMD_UNIT` is a trusted unit, when units are configured (without systemd as PID 1
//!   there are none; a unit alone proves little, as sessions may run inside `ssh.service`).
//!
//! A field journald could not fill (the writer exited before journald read `/proc`) fails the
//! check: the entry is then `forgeable`, never wrongly `verified`.

use std::borrow::Cow;

use super::record::Format;
use super::{ParseContext, Record, parse};
use crate::source::MAX_LINE;

/// Who may write authenticated journal entries (`[log_pipeline.journald]` trust keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalTrust {
    /// Absolute paths of trusted executables (`_EXE`).
    pub exes: Vec<String>,
    /// Trusted user ids (`_UID`).
    pub uids: Vec<u32>,
    /// Trusted systemd units (`_SYSTEMD_UNIT`); empty: not checked.
    pub units: Vec<String>,
}

impl JournalTrust {
    /// Whether the journal's trusted fields say `rec`'s writer is the program it claims to be.
    pub fn authenticated(&self, rec: &Record<'_>) -> bool {
        let Some(ident) = rec.app.as_deref().filter(|a| !a.is_empty()) else {
            return false;
        };
        let field = |k: &str| rec.structured.get(k).filter(|v| !v.starts_with('['));
        let Some(exe) = field("_EXE") else {
            return false;
        };
        let exe_name = exe.rsplit_once('/').map_or(exe, |(_, n)| n);
        // The kernel's comm is at most 15 bytes (TASK_COMM_LEN 16 with its NUL).
        let comm_of_ident = ident.get(..ident.len().min(15)).unwrap_or(ident);
        // journald writes `_UID` in canonical decimal; "00" or "+0" did not come from it.
        let uid_ok = field("_UID")
            .and_then(|u| u.parse::<u32>().ok().filter(|n| n.to_string() == u))
            .is_some_and(|u| self.uids.contains(&u));
        let unit_ok = self.units.is_empty()
            || field("_SYSTEMD_UNIT").is_some_and(|u| self.units.iter().any(|t| t == u));
        self.exes.iter().any(|e| e == exe)
            && exe_name == ident
            && field("_COMM") == Some(comm_of_ident)
            && uid_ok
            && unit_ok
    }
}

/// A parsed journal entry.
#[derive(Debug, Clone)]
pub struct JournalEntry<'a> {
    /// `Format::Journal`, or `Format::Raw` with the whole line as message when the entry is not
    /// one JSON object (counted by the caller as a malformed entry).
    pub record: Record<'a>,
    /// The writer is who it claims to be (see the module doc).
    pub authenticated: bool,
    /// The message was longer than 64 KiB and was cut.
    pub truncated: bool,
}

/// Parses one `journalctl -o json` line. Never fails: see [`JournalEntry::record`].
pub fn parse_journal_entry<'a>(
    line: &'a [u8],
    ctx: &ParseContext,
    trust: &JournalTrust,
) -> JournalEntry<'a> {
    let mut record = parse(line, ctx);
    if record.format != Format::Json {
        return JournalEntry {
            record,
            authenticated: false,
            truncated: false,
        };
    }
    record.format = Format::Journal;
    // The scanner keeps an array `MESSAGE` as its JSON text. `"MESSAGE":[` can only be the key
    // (a quote inside a JSON string is escaped), so a message that was a string is never
    // decoded as bytes.
    if record.message.starts_with('[')
        && memchr::memmem::find(line, b"\"MESSAGE\":[").is_some()
        && let Some((text, invalid)) = array_message(&record.message)
    {
        record.message = Cow::Owned(text);
        record.issues.invalid_utf8 |= invalid;
    }
    let mut truncated = false;
    if record.message.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !record.message.is_char_boundary(cut) {
            cut -= 1;
        }
        record.message = Cow::Owned(record.message[..cut].to_owned());
        truncated = true;
    }
    let authenticated = trust.authenticated(&record);
    JournalEntry {
        record,
        authenticated,
        truncated,
    }
}

/// `MESSAGE` given as a JSON array: bytes (`[104,105]`), or several values (`["a","b"]`, of
/// which the first is taken, itself text or bytes). `None` for anything else.
fn array_message(raw: &str) -> Option<(String, bool)> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let serde_json::Value::Array(items) = v else {
        return None;
    };
    let bytes = |items: &[serde_json::Value]| -> Option<Vec<u8>> {
        items
            .iter()
            .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect()
    };
    if let Some(b) = bytes(&items) {
        return Some(match String::from_utf8(b) {
            Ok(s) => (s, false),
            Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
        });
    }
    match items.first()? {
        serde_json::Value::String(s) => Some((s.clone(), false)),
        serde_json::Value::Array(inner) => {
            let b = bytes(inner)?;
            Some(match String::from_utf8(b) {
                Ok(s) => (s, false),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
            })
        }
        _ => None,
    }
}

/// The `__CURSOR` of an entry, found without parsing the whole line. Safe on hostile input: in
/// JSON text a `"` inside a string value is escaped, so `"__CURSOR":"` occurs only as the key
/// (journald field names are upper-case letters, digits and `_`). A cursor is accepted only in
/// the characters journald writes (`s=…;i=…;b=…;m=…;t=…;x=…`), at most 512 bytes.
pub fn cursor_of(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"__CURSOR\":\"";
    let at = memchr::memmem::find(line, KEY)? + KEY.len();
    let rest = &line[at..];
    let end = memchr::memchr(b'"', rest)?;
    let c = std::str::from_utf8(&rest[..end]).ok()?;
    valid_cursor(c).then_some(c)
}

/// Whether `c` looks like a journal cursor: 1-512 bytes of `[A-Za-z0-9=;_-]`.
pub fn valid_cursor(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 512
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b';' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{FieldSource, FieldValue};

    fn trust() -> JournalTrust {
        JournalTrust {
            exes: vec!["/usr/sbin/sshd".into()],
            uids: vec![0],
            units: vec![],
        }
    }

    fn entry(fields: &str) -> String {
        format!(
            r#"{{"__CURSOR":"s=1;i=2;b=3;m=4;t=5;x=6","__REALTIME_TIMESTAMP":"1796603662760057",{fields}}}"#
        )
    }

    const GENUINE: &str = r#""SYSLOG_IDENTIFIER":"sshd","_COMM":"sshd","_EXE":"/usr/sbin/sshd","_UID":"0","_PID":"812","PRIORITY":"6","SYSLOG_FACILITY":"10","_HOSTNAME":"gw","MESSAGE":"Failed password for root from 198.18.5.2 port 4242 ssh2""#;

    #[test]
    fn genuine_sshd_entry_is_authenticated_and_mapped() {
        let line = entry(GENUINE);
        let ctx = ParseContext::new(0, 0);
        let e = parse_journal_entry(line.as_bytes(), &ctx, &trust());
        assert!(e.authenticated);
        let r = &e.record;
        assert_eq!(r.format, Format::Journal);
        assert_eq!(r.app.as_deref(), Some("sshd"));
        assert_eq!(r.pid, Some(812));
        assert_eq!(r.hostname.as_deref(), Some("gw"));
        assert_eq!(r.timestamp_micros, Some(1_796_603_662_760_057));
        assert_eq!(r.severity_name(), Some("info"));
        assert_eq!(r.facility_name(), Some("authpriv"));
        assert_eq!(
            r.field("src_ip"),
            Some(FieldValue::Ip("198.18.5.2".parse().unwrap()))
        );
        assert_eq!(r.field("_COMM"), Some(FieldValue::Str("sshd")));
        assert_eq!(r.field("_EXE"), Some(FieldValue::Str("/usr/sbin/sshd")));
        assert_eq!(cursor_of(line.as_bytes()), Some("s=1;i=2;b=3;m=4;t=5;x=6"));
    }

    #[test]
    fn forged_entries_are_not_authenticated() {
        let ctx = ParseContext::new(0, 0);
        let cases = [
            // systemd-cat -t sshd / logger -t sshd: the kernel says cat / logger.
            GENUINE.replace(
                r#""_COMM":"sshd","_EXE":"/usr/sbin/sshd""#,
                r#""_COMM":"cat","_EXE":"/usr/bin/cat""#,
            ),
            // A user's copy named sshd.
            GENUINE.replace("/usr/sbin/sshd", "/home/eve/sshd"),
            // The genuine executable run by a user (LD_PRELOAD could log anything).
            GENUINE.replace(r#""_UID":"0""#, r#""_UID":"1000""#),
            // Not journald's spelling of a uid (found by the log_journal fuzz target).
            GENUINE.replace(r#""_UID":"0""#, r#""_UID":"00""#),
            GENUINE.replace(r#""_UID":"0""#, r#""_UID":"+0""#),
            // The identifier does not name the executable.
            GENUINE.replace(
                r#""SYSLOG_IDENTIFIER":"sshd""#,
                r#""SYSLOG_IDENTIFIER":"sshd-session""#,
            ),
            // comm renamed (prctl) to hide: does not match.
            GENUINE.replace(r#""_COMM":"sshd""#, r#""_COMM":"bash""#),
            // Trusted fields missing (writer exited before journald read /proc).
            GENUINE.replace(r#""_EXE":"/usr/sbin/sshd","#, ""),
            // Identifier sent twice: ambiguous.
            GENUINE.replace(
                r#""SYSLOG_IDENTIFIER":"sshd""#,
                r#""SYSLOG_IDENTIFIER":["sshd","sshd"]"#,
            ),
            // _EXE twice (cannot happen from journald; still refused).
            GENUINE.replace(
                r#""_EXE":"/usr/sbin/sshd""#,
                r#""_EXE":["/usr/sbin/sshd","/usr/sbin/sshd"]"#,
            ),
        ];
        for (i, c) in cases.iter().enumerate() {
            let line = entry(c);
            let e = parse_journal_entry(line.as_bytes(), &ctx, &trust());
            assert!(!e.authenticated, "case {i}: {c}");
        }
        let mut with_unit = trust();
        with_unit.units = vec!["ssh.service".into()];
        let line = entry(GENUINE);
        assert!(!parse_journal_entry(line.as_bytes(), &ctx, &with_unit).authenticated);
        let line = entry(&format!(r#"{GENUINE},"_SYSTEMD_UNIT":"ssh.service""#));
        assert!(parse_journal_entry(line.as_bytes(), &ctx, &with_unit).authenticated);
    }

    #[test]
    fn message_as_bytes_multi_value_and_oversize() {
        let ctx = ParseContext::new(0, 0);
        let line = entry(r#""SYSLOG_IDENTIFIER":"weird","MESSAGE":[98,97,100,32,255,254,32,98]"#);
        let e = parse_journal_entry(line.as_bytes(), &ctx, &trust());
        assert_eq!(e.record.message, "bad \u{fffd}\u{fffd} b");
        assert!(e.record.issues.invalid_utf8);
        let line = entry(r#""MESSAGE":["first","second"]"#);
        assert_eq!(
            parse_journal_entry(line.as_bytes(), &ctx, &trust())
                .record
                .message,
            "first"
        );
        let line = entry(r#""MESSAGE":[[104,105],"x"]"#);
        assert_eq!(
            parse_journal_entry(line.as_bytes(), &ctx, &trust())
                .record
                .message,
            "hi"
        );
        let big = "é".repeat(MAX_LINE);
        let line = entry(&format!(r#""MESSAGE":"{big}""#));
        let e = parse_journal_entry(line.as_bytes(), &ctx, &trust());
        assert!(e.truncated);
        assert_eq!(e.record.message.len(), MAX_LINE);
        // Not JSON: a raw record, never authenticated.
        let e = parse_journal_entry(b"{\"MESSAGE\":", &ctx, &trust());
        assert_eq!(e.record.format, Format::Raw);
        assert!(!e.authenticated);
    }

    #[test]
    fn cursor_is_found_only_as_the_key() {
        assert_eq!(cursor_of(br#"{"MESSAGE":"\"__CURSOR\":\"evil\""}"#), None);
        assert_eq!(cursor_of(br#"{"__CURSOR":"s=a b"}"#), None);
        assert_eq!(
            cursor_of(br#"{"MESSAGE":"\"__CURSOR\":\"evil\"","__CURSOR":"s=ok;i=1"}"#),
            Some("s=ok;i=1")
        );
        assert!(!valid_cursor(""));
        assert!(!valid_cursor(&"a".repeat(513)));
    }
}
