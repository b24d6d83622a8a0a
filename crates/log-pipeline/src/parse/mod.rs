//! Log line parsers: RFC 5424, RFC 3164 (with or without `<PRI>`, host, year), JSON lines, web
//! server access and error logs (NCSA common/combined: nginx, Apache), and field extraction from
//! sshd/sudo/su/PAM, postfix, dovecot, proftpd, vsftpd and MySQL messages, behind one entry point, [`parse`], that
//! detects the format per line and never fails.
//!
//! ```
//! use ironpost_log_pipeline::parse::{Format, ParseContext, parse};
//! use ironpost_log_pipeline::FieldSource;
//!
//! let ctx = ParseContext::new(1_794_300_000_000_000, 0); // 2026-11-10T08:40:00Z, UTC
//! let rec = parse(b"Nov 10 06:55:46 sshgw sshd[24200]: Failed password for root from 203.0.113.9 port 4242 ssh2", &ctx);
//! assert_eq!(rec.format, Format::Rfc3164);
//! assert_eq!(rec.app.as_deref(), Some("sshd"));
//! assert_eq!(rec.user(), Some("root"));
//! assert_eq!(rec.field("src_ip").map(|v| v.to_text().into_owned()).as_deref(), Some("203.0.113.9"));
//! assert_eq!(rec.field("outcome").map(|v| v.to_text().into_owned()).as_deref(), Some("failure"));
//! ```
//!
//! Architecture invariants:
//! - The common path allocates nothing: a [`Record`] borrows from the line. Owned data appears
//!   only where the line needed unescaping or repair (documented on each `Record` field).
//! - No regex: the grammars are hand-written scanners and the auth extraction is prefix and
//!   substring matching, run only for the programs it knows (cheap check on the app name first).
//! - Bad input is data: every line yields a record; what was wrong is in [`Issues`], and lines
//!   with nothing recognisable are `Format::Raw` with the whole line as message.
//!
//! Detection: a line starting with `{` is JSON; with `<PRI>` followed by a version digit and a
//! space, RFC 5424 (falling back to RFC 3164 with that PRI when the header is not 5424); with
//! `<PRI>` otherwise, or with a BSD or ISO timestamp, RFC 3164; a line that is none of these but
//! has the shape `HOST IDENT USER [dd/Mon/yyyy:hh:mm:ss ±zzzz] "REQUEST" STATUS BYTES…`, an
//! access log line (`Format::Combined`); an nginx (`YYYY/MM/DD hh:mm:ss [level] PID#TID: `) or
//! Apache (`[Www Mmm dd hh:mm:ss[.us] yyyy] [module:level] …`) error log line, `Format::WebError`;
//! anything else is Raw.

pub mod auditd;
pub mod auditd_join;
mod auth;
mod auth_tokens;
pub mod journal;
mod json;
mod record;
mod rfc3164;
mod rfc5424;
mod service;
mod time;
mod web;
mod web_error;

use std::borrow::Cow;
use std::cell::Cell;

pub use journal::{JournalEntry, JournalTrust, cursor_of, parse_journal_entry};
pub use json::MAX_JSON_DEPTH;
pub use record::{
    AuthFields, Format, Issues, MAX_STRUCTURED, Outcome, Param, Record, StructuredData,
};

/// What a line alone does not say: when it was received (for records without a timestamp and
/// to infer the year of RFC 3164 timestamps) and the local UTC offset (for timestamps without
/// one). The offset is fixed: timestamps written around a DST change may be an hour off, as
/// with rsyslog.
///
/// It also remembers the last timestamp it converted (consecutive lines mostly share their
/// second, and the date arithmetic is then skipped), so a context belongs to one thread
/// (`!Sync`): give each parsing thread its own.
#[derive(Debug, Clone)]
pub struct ParseContext {
    received_micros: i64,
    utc_offset_secs: i32,
    year: i32,
    last_stamp: Cell<time::StampCache>,
}

impl ParseContext {
    /// `received_micros`: microseconds since the Unix epoch; `utc_offset_secs`: seconds east
    /// of UTC of the local time zone.
    pub fn new(received_micros: i64, utc_offset_secs: i32) -> Self {
        let local = received_micros.div_euclid(1_000_000) + i64::from(utc_offset_secs);
        let year = time::year_of_day(local.div_euclid(86_400));
        ParseContext {
            received_micros,
            utc_offset_secs,
            year: i32::try_from(year).unwrap_or(i32::MAX),
            last_stamp: Cell::default(),
        }
    }

    /// The current time and the machine's current UTC offset.
    pub fn now_local() -> Self {
        let now = chrono::Local::now();
        ParseContext::new(now.timestamp_micros(), now.offset().local_minus_utc())
    }

    /// The same offset with a new receive time (call per batch of lines).
    pub fn with_received_micros(&self, received_micros: i64) -> Self {
        ParseContext::new(received_micros, self.utc_offset_secs)
    }

    pub fn received_micros(&self) -> i64 {
        self.received_micros
    }

    pub fn utc_offset_secs(&self) -> i32 {
        self.utc_offset_secs
    }

    /// The local calendar year at the receive time.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// A timestamp at the start of `head` (up to a space or the end) converted before, and the
    /// bytes it spans; `convert` is called, and its answer remembered, when it is another one.
    pub(crate) fn stamp(
        &self,
        head: &[u8],
        convert: impl FnOnce() -> Option<(Option<i64>, usize)>,
    ) -> Option<(Option<i64>, usize)> {
        let last = self.last_stamp.get();
        if let Some(hit) = last.lookup(head) {
            return Some(hit);
        }
        let fresh = convert()?;
        if let Some(c) = time::StampCache::new(head, fresh) {
            self.last_stamp.set(c);
        }
        Some(fresh)
    }
}

/// Parses one line (with or without its line ending) in whichever format it is in.
///
/// Never fails: a line in no known format is `Format::Raw` with the whole line (minus its line
/// ending) as the message. Invalid UTF-8 is replaced with U+FFFD and flagged in
/// [`Issues::invalid_utf8`]. The caller bounds the line length (the pipeline truncates at 64 KiB).
pub fn parse<'a>(line: &'a [u8], ctx: &ParseContext) -> Record<'a> {
    // Built here and filled in place: a record is a few hundred bytes, and moving it between
    // functions (an `Option<Record>` per format parser) was a measurable part of the per-line
    // cost.
    let mut rec = Record::new(Format::Raw, Cow::Borrowed(""), ctx);
    fill(line, ctx, &mut rec);
    rec
}

fn fill<'a>(line: &'a [u8], ctx: &ParseContext, rec: &mut Record<'a>) {
    let line = trim_line_end(line);
    let start = line
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(line.len());
    let body = &line[start..];
    let src = Src::new(body);
    let parsed = match body.first() {
        Some(b'{') => json::parse(src, ctx, rec),
        Some(b'<') => match parse_pri(body) {
            Some((pri, after)) => {
                rfc5424::parse(src, pri, after, ctx, rec)
                    || rfc3164::parse(src, Some(pri), after, ctx, rec)
            }
            None => false,
        },
        Some(_) => {
            rfc3164::parse(src, None, 0, ctx, rec)
                || web::parse(src, rec)
                || web_error::parse(src, ctx, rec)
        }
        None => false,
    };
    if parsed {
        return;
    }
    // A failed JSON parse may have filled some fields: start again.
    *rec = Record::new(Format::Raw, Cow::Borrowed(""), ctx);
    let (message, invalid) = Src::new(line).lossy(0, line.len());
    rec.message = message;
    rec.issues.invalid_utf8 = invalid;
    if body.first() == Some(&b'{') {
        // Tell the caller why a JSON-looking line is Raw.
        rec.issues.invalid_json = true;
        rec.issues.json_too_deep = json::too_deep(body);
    }
}

/// The line being parsed: its bytes and, when it is valid UTF-8 (nearly always), its text.
/// The whole line is validated once; fields are then sliced out of the text at ASCII
/// delimiters without validating each piece again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Src<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) text: Option<&'a str>,
}

impl<'a> Src<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Src {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    /// `bytes[start..end]` as text, or `None` when it is not valid UTF-8.
    pub(crate) fn str(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(t) => t.get(start..end),
            None => std::str::from_utf8(self.bytes.get(start..end)?).ok(),
        }
    }

    /// `bytes[start..end]` as text, invalid sequences replaced by U+FFFD; the flag says whether
    /// any were.
    pub(crate) fn lossy(&self, start: usize, end: usize) -> (Cow<'a, str>, bool) {
        match self.str(start, end) {
            Some(s) => (Cow::Borrowed(s), false),
            None => (
                String::from_utf8_lossy(self.bytes.get(start..end).unwrap_or_default()),
                true,
            ),
        }
    }
}

/// Strips trailing `\n`, `\r` and `\0` (some UDP senders terminate datagrams with NUL).
fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|c| !matches!(c, b'\n' | b'\r' | b'\0'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

/// `<PRI>` at the start of `b`: the value (0-191, at most three digits, no leading zero except
/// `<0>`) and the position after `>`.
pub(crate) fn parse_pri(b: &[u8]) -> Option<(u8, usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let mut v = 0u32;
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' if i <= 3 => v = v * 10 + u32::from(c - b'0'),
            b'>' if i > 1 => break,
            _ => return None,
        }
        i += 1;
    }
    if b.get(i) != Some(&b'>') || v > 191 || (i > 2 && b[1] == b'0') {
        return None;
    }
    Some((u8::try_from(v).ok()?, i + 1))
}

/// Sets facility and severity from a PRI value.
pub(crate) fn set_pri(rec: &mut Record<'_>, pri: u8) {
    rec.facility = Some(pri >> 3);
    rec.severity = Some(pri & 7);
}

/// Bytes at `b[pos..]` up to the next space (or the end); the position of that space.
pub(crate) fn token(b: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = b.get(pos..).unwrap_or_default();
    // Header tokens are short: a plain loop beats memchr's set-up.
    let n = rest.iter().position(|&c| c == b' ').unwrap_or(rest.len());
    (&rest[..n], pos + n)
}

/// Digits only, fitting a `u32` (a PID).
pub(crate) fn parse_u32(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |v, &c| {
        v.checked_mul(10)?.checked_add(u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pri_bounds() {
        assert_eq!(parse_pri(b"<0>x"), Some((0, 3)));
        assert_eq!(parse_pri(b"<191>x"), Some((191, 5)));
        assert_eq!(parse_pri(b"<192>x"), None);
        assert_eq!(parse_pri(b"<01>x"), None);
        assert_eq!(parse_pri(b"<1234>x"), None);
        assert_eq!(parse_pri(b"<>x"), None);
        assert_eq!(parse_pri(b"<34"), None);
    }

    #[test]
    fn context_year_follows_the_local_offset() {
        // 2026-12-31T23:30:00Z is already 2027 at UTC+1.
        let t = 1_798_759_800_000_000;
        assert_eq!(ParseContext::new(t, 0).year(), 2026);
        assert_eq!(ParseContext::new(t, 3600).year(), 2027);
    }
}
