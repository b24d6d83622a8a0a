//! Web server error logs, nginx's and Apache 2.4's default formats:
//!
//! ```text
//! 2026/11/20 10:00:00 [error] 1234#1234: *5 open() "/srv/www/x" failed (2: No such file or directory), client: 203.0.113.5, server: example.com, request: "GET /x HTTP/1.1", host: "example.com"
//! [Fri Nov 20 10:00:00.123456 2026] [auth_basic:error] [pid 1234:tid 5678] [client 203.0.113.5:51234] AH01617: user bob: authentication failure for "/admin": Password Mismatch
//! ```
//!
//! The record (`Format::WebError`) gets the time, the level as its syslog severity, the program
//! (`nginx`, `apache`), the message after the header (nginx: after `PID#TID: `, Apache: after the
//! bracketed fields) and, as the structured field `src_ip`, the client address:
//!
//! - Apache writes `[client IP:PORT]` among its own bracketed fields, before any request text: it
//!   is taken there.
//! - nginx writes `, client: IP, server: …` after a message that may quote the request (client
//!   text) and before the request line (client text again): the address is taken only when exactly
//!   one `, client: IP, server: ` occurs, so a request that spells one leaves it unset (as sshd
//!   lines with two readings do).
//!
//! No regex: prefix and substring matching on the known header shapes.

use std::borrow::Cow;

use super::auth_tokens::{find, parse_ip};
use super::record::{Format, Param, Record, severity_from_name};
use super::time::{Civil, month_number};
use super::{ParseContext, Src};

/// Parses `src` as an nginx or Apache error log line into `rec`; false, `rec` untouched, when it is
/// neither.
pub(crate) fn parse<'a>(src: Src<'a>, ctx: &ParseContext, rec: &mut Record<'a>) -> bool {
    let Some(t) = src.text else {
        return false;
    };
    let Some(line) = nginx(t, ctx).or_else(|| apache(t, ctx)) else {
        return false;
    };
    rec.format = Format::WebError;
    rec.timestamp_micros = line.time;
    rec.issues.bad_timestamp = line.time.is_none();
    rec.severity = line.level.and_then(severity_from_name);
    rec.app = Some(Cow::Borrowed(line.program));
    rec.pid = line.pid;
    rec.message = Cow::Borrowed(line.message);
    if let Some(ip) = line.client {
        rec.structured.push(Param {
            prefix: Cow::Borrowed(""),
            name: Cow::Borrowed("src_ip"),
            value: Cow::Borrowed(ip),
        });
    }
    true
}

#[derive(Debug, PartialEq, Eq)]
struct ErrorLine<'a> {
    program: &'static str,
    time: Option<i64>,
    level: Option<&'a str>,
    pid: Option<u32>,
    client: Option<&'a str>,
    message: &'a str,
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u32, |v, &c| {
        c.is_ascii_digit()
            .then(|| v.checked_mul(10)?.checked_add(u32::from(c - b'0')))
            .flatten()
    })
}

fn civil(year: u32, month: u8, day: u32, h: u32, m: u32, s: u32, micros: u32) -> Option<Civil> {
    Some(Civil {
        year: i64::from(year),
        month,
        day: u8::try_from(day).ok()?,
        hour: u8::try_from(h).ok()?,
        minute: u8::try_from(m).ok()?,
        second: u8::try_from(s).ok()?,
        micros,
    })
}

/// `YYYY/MM/DD HH:MM:SS [LEVEL] PID#TID: [*CID ]MESSAGE`, local time.
fn nginx<'a>(t: &'a str, ctx: &ParseContext) -> Option<ErrorLine<'a>> {
    let b = t.as_bytes();
    if b.len() < 22 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b' ' || b[20] != b'[' {
        return None;
    }
    let c = civil(
        num(&b[0..4])?,
        u8::try_from(num(&b[5..7])?).ok()?,
        num(&b[8..10])?,
        num(&b[11..13])?,
        num(&b[14..16])?,
        num(&b[17..19])?,
        0,
    )?;
    let rest = &t[21..];
    let close = rest.find("] ")?;
    let level = &rest[..close];
    if level.is_empty() || !level.bytes().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let rest = &rest[close + 2..];
    let colon = rest.find(": ")?;
    let (pid, tid) = rest[..colon].split_once('#')?;
    let pid = num(pid.as_bytes())?;
    num(tid.as_bytes())?;
    let message = &rest[colon + 2..];
    // Exactly one `, client: IP, server: ` (see the module doc).
    let mut client = None;
    let mut count = 0;
    let mut from = 0;
    while let Some(i) = find(&message[from..], ", client: ") {
        let at = from + i + ", client: ".len();
        let tail = &message[at..];
        if let Some(end) = find(tail, ", server: ")
            && parse_ip(&tail[..end]).is_some()
        {
            count += 1;
            client = Some(&tail[..end]);
        }
        from = at;
    }
    Some(ErrorLine {
        program: "nginx",
        time: c.to_micros(i64::from(ctx.utc_offset_secs())),
        level: Some(level),
        pid: Some(pid),
        client: if count == 1 { client } else { None },
        message,
    })
}

/// `[Www Mmm DD HH:MM:SS[.uuuuuu] YYYY] [MODULE:LEVEL] [pid N[:tid M]] [client IP:PORT] MESSAGE`,
/// local time; `[client …]` is absent for messages about no request.
fn apache<'a>(t: &'a str, ctx: &ParseContext) -> Option<ErrorLine<'a>> {
    let rest = t.strip_prefix('[')?;
    let close = rest.find("] [")?;
    let stamp = &rest.as_bytes()[..close];
    // `Fri Nov 20 10:00:00.123456 2026`
    if stamp.len() < 24 || stamp[3] != b' ' || stamp[7] != b' ' || stamp[10] != b' ' {
        return None;
    }
    let month = month_number(&stamp[4..7])?;
    let day = num(stamp[8..10].trim_ascii_start())?;
    if stamp[13] != b':' || stamp[16] != b':' {
        return None;
    }
    let (h, m, s) = (
        num(&stamp[11..13])?,
        num(&stamp[14..16])?,
        num(&stamp[17..19])?,
    );
    let (micros, after) = match stamp.get(19) {
        Some(b'.') => {
            let end = stamp[20..].iter().position(|c| *c == b' ')? + 20;
            let digits = &stamp[20..end];
            let mut us = num(digits)?;
            for _ in digits.len()..6 {
                us *= 10;
            }
            (if digits.len() <= 6 { us } else { 0 }, end)
        }
        _ => (0, 19),
    };
    if stamp.get(after) != Some(&b' ') {
        return None;
    }
    let year = num(&stamp[after + 1..])?;
    let c = civil(year, month, day, h, m, s, micros)?;
    let rest = &rest[close + 3..];
    // `[MODULE:LEVEL]` (2.4) or `[LEVEL]` (2.2).
    let close = rest.find("] ")?;
    let tag = &rest[..close];
    let level = tag.rsplit_once(':').map_or(tag, |(_, l)| l);
    if level.is_empty() || !level.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut rest = &rest[close + 2..];
    let mut pid = None;
    if let Some(r) = rest.strip_prefix("[pid ") {
        let close = r.find("] ")?;
        let p = &r[..close];
        pid = num(p.split_once(':').map_or(p, |(a, _)| a).as_bytes());
        rest = &r[close + 2..];
    }
    let mut client = None;
    if let Some(r) = rest.strip_prefix("[client ") {
        let close = r.find("] ")?;
        let addr = &r[..close];
        // Apache 2.4 (`[MODULE:LEVEL]`) writes `IP:PORT` (IPv6 too, port after the last colon);
        // 2.2 (`[LEVEL]`) the address alone.
        let host = if tag.contains(':') {
            addr.rsplit_once(':').map_or(addr, |(h, _)| h)
        } else {
            addr
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        client = parse_ip(host).is_some().then_some(host);
        rest = &r[close + 2..];
    }
    Some(ErrorLine {
        program: "apache",
        time: c.to_micros(i64::from(ctx.utc_offset_secs())),
        level: Some(level),
        pid,
        client,
        message: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext::new(1_795_176_000_000_000, 0)
    }

    #[test]
    fn nginx_lines() {
        let l = nginx(r#"2026/11/20 10:00:00 [error] 1234#1234: *5 user "bob": password mismatch, client: 203.0.113.5, server: example.com, request: "GET /admin HTTP/1.1", host: "example.com""#, &ctx()).unwrap();
        assert_eq!(l.client, Some("203.0.113.5"));
        assert_eq!(l.level, Some("error"));
        assert_eq!(l.pid, Some(1234));
        assert_eq!(l.time, Some(1_795_168_800_000_000));
        assert!(l.message.starts_with("*5 user \"bob\""));
        // A request spelling a second `client:` leaves the address unset.
        let l = nginx(r#"2026/11/20 10:00:00 [error] 1#1: *5 open() "/x, client: 198.51.100.1, server: y" failed, client: 203.0.113.5, server: example.com, request: "GET /x HTTP/1.1""#, &ctx()).unwrap();
        assert_eq!(l.client, None);
        // No client at all (a startup message).
        let l = nginx(
            "2026/11/20 10:00:00 [emerg] 77#77: bind() to 0.0.0.0:80 failed (98: Address already in use)",
            &ctx(),
        )
        .unwrap();
        assert_eq!((l.client, l.level), (None, Some("emerg")));
        assert_eq!(nginx("2026/11/20 10:00:00 [error] x: y", &ctx()), None);
    }

    #[test]
    fn apache_lines() {
        let l = apache(r#"[Fri Nov 20 10:00:00.123456 2026] [auth_basic:error] [pid 1234:tid 5678] [client 203.0.113.5:51234] AH01617: user bob: authentication failure for "/admin": Password Mismatch"#, &ctx()).unwrap();
        assert_eq!(l.client, Some("203.0.113.5"));
        assert_eq!((l.level, l.pid), (Some("error"), Some(1234)));
        assert_eq!(l.time, Some(1_795_168_800_123_456));
        assert!(l.message.starts_with("AH01617: "));
        let l = apache(
            "[Fri Nov 20 10:00:00 2026] [error] [client 2001:db8::5] File does not exist: /var/www/x",
            &ctx(),
        )
        .unwrap();
        assert_eq!(l.client, Some("2001:db8::5"));
        let l = apache(
            "[Fri Nov 20 10:00:00 2026] [core:error] [pid 9] [client 2001:db8::5:40000] AH00126: Invalid URI in request",
            &ctx(),
        )
        .unwrap();
        assert_eq!(l.client, Some("2001:db8::5"));
        let l = apache(
            "[Fri Nov 20 10:00:00.000001 2026] [mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4.62 configured",
            &ctx(),
        )
        .unwrap();
        assert_eq!(l.client, None);
        assert_eq!(apache("[x] [y] z", &ctx()), None);
    }
}
