//! RFC 3164 (BSD) syslog as found on the wire and on disk: `[<PRI>]TIMESTAMP [HOSTNAME ]TAG[[PID]]: MSG`.
//!
//! - PRI is optional (files such as /var/log/auth.log have none).
//! - TIMESTAMP is `Mmm dd hh:mm:ss` (year inferred from the receive time), `Mmm dd yyyy
//!   hh:mm:ss`, either with a fraction, or the RFC 3339 form rsyslog writes to files
//!   (`2026-11-23T00:28:48.123456+00:00`). Without PRI a timestamp is required (else the line is
//!   Raw); with PRI a missing one is allowed and the rest is parsed as TAG and MSG, as RFC 3164
//!   §4.3.3 has relays do.
//! - HOSTNAME is absent when the token after the timestamp is already a tag (`su:`,
//!   `sshd[12]:`), as in `<34>Oct 11 22:14:15 su: 'su root' failed`.
//! - TAG is up to 64 printable characters other than `[`, `]` and `:` (dots, dashes and slashes
//!   included: `postfix/smtpd`, `org.gnome.Shell.desktop`), then an optional `[PID]` and `:`.
//!   A line without that shape keeps everything after the host as the message.

use std::borrow::Cow;

use super::record::{Format, Record};
use super::time::{parse_bsd, parse_iso};
use super::{ParseContext, Src, parse_u32, set_pri, token};

const MAX_TAG: usize = 64;

/// Parses `line` from `after` (the end of the PRI, or 0) into `rec`, a fresh record; returns
/// false, with `rec` untouched, when the line has neither a PRI nor a timestamp.
pub(crate) fn parse<'a>(
    src: Src<'a>,
    pri: Option<u8>,
    after: usize,
    ctx: &ParseContext,
    rec: &mut Record<'a>,
) -> bool {
    let line = src.bytes;
    let head = &line[after..];
    let stamp = ctx.stamp(head, || match head.first() {
        Some(c) if c.is_ascii_alphabetic() => parse_bsd(head).map(|(t, n)| (t.to_micros(ctx), n)),
        Some(c) if c.is_ascii_digit() => {
            parse_iso(head).map(|(t, n)| (t.to_micros(i64::from(ctx.utc_offset_secs())), n))
        }
        _ => None,
    });
    let mut pos = after;
    let mut host = None;
    match stamp {
        Some((micros, n)) if matches!(head.get(n), None | Some(b' ')) => {
            rec.timestamp_micros = micros;
            rec.issues.bad_timestamp = micros.is_none();
            pos = (after + n + 1).min(line.len());
            let (tok, end) = token(line, pos);
            if let Some(h) = hostname(src, tok, pos, end) {
                host = Some(Cow::Borrowed(h));
                pos = (end + 1).min(line.len());
            }
        }
        _ if pri.is_none() => return false,
        _ => {}
    }
    rec.format = Format::Rfc3164;
    if let Some(p) = pri {
        set_pri(rec, p);
    }
    if let Some((app, pid, msg_start)) = tag(src, pos) {
        rec.app = Some(Cow::Borrowed(app));
        rec.pid = pid;
        pos = msg_start;
    }
    rec.hostname = host;
    let (message, invalid) = src.lossy(pos, line.len());
    rec.message = message;
    rec.issues.invalid_utf8 = invalid;
    true
}

/// The token after the timestamp, if it is a host name rather than already the tag.
fn hostname<'a>(src: Src<'a>, tok: &[u8], start: usize, end: usize) -> Option<&'a str> {
    if tok.is_empty()
        || tok.ends_with(b":")
        || memchr::memchr(b'[', tok).is_some()
        || !tok.iter().all(|c| (33..=126).contains(c))
    {
        return None;
    }
    src.str(start, end)
}

fn is_tag_char(c: u8) -> bool {
    (33..=126).contains(&c) && !matches!(c, b'[' | b']' | b':')
}

/// `TAG[PID]: ` or `TAG: ` at `line[pos..]`: the tag, the PID when it is a number, and where
/// the message starts (after the colon and one space).
fn tag(src: Src<'_>, pos: usize) -> Option<(&str, Option<u32>, usize)> {
    let line = src.bytes;
    let rest = line.get(pos..)?;
    let n = rest
        .iter()
        .take(MAX_TAG + 1)
        .position(|&c| !is_tag_char(c))?;
    if n == 0 {
        return None;
    }
    let (pid, colon) = match rest[n] {
        b':' => (None, n),
        b'[' => {
            let close = n + 1 + memchr::memchr(b']', &rest[n + 1..(n + 24).min(rest.len())])?;
            if rest.get(close + 1) != Some(&b':') {
                return None;
            }
            (parse_u32(&rest[n + 1..close]), close + 1)
        }
        _ => return None,
    };
    let app = src.str(pos, pos + n)?;
    let mut msg = pos + colon + 1;
    if line.get(msg) == Some(&b' ') {
        msg += 1;
    }
    Some((app, pid, msg))
}
