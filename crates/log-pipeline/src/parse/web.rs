//! Web server access logs in the NCSA common and combined formats, as nginx (`log_format
//! combined`, the default) and Apache (`LogFormat … combined` / `common`) write them:
//!
//! ```text
//! 203.0.113.5 - bob [20/Nov/2026:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 512 "https://ref/" "curl/8.5.0"
//! ```
//!
//! Fields (structured params of the record, borrowed from the line): `src_ip` (the client
//! address, only when `%h` is an address — Apache with `HostnameLookups On` writes a name),
//! `http_user` (`%u`, absent for `-`), `request` (the request line as written), `method`,
//! `path` (the request target, query included), `protocol`, `status`, `bytes` (absent for `-`),
//! and for the combined format `referer` and `user_agent` (absent for `-`). The message is the
//! whole line. Anything after the user agent (nginx's `$http_x_forwarded_for`, timings) is
//! ignored.
//!
//! The client writes the request line, the referer and the user agent; nginx escapes `"` in them
//! as `\x22`, Apache as `\"`, so a quoted field ends at the first `"` not preceded by a
//! backslash. The address and the status are the server's and come first / right after the
//! request, so client text cannot move them. No regex: a hand-written scanner, one pass.

use std::borrow::Cow;

use super::Src;
use super::record::{Format, Param, Record};
use super::time::Civil;

/// Parses `src` as an access log line into `rec`; false, with `rec` unchanged, when it is not one.
pub(crate) fn parse<'a>(src: Src<'a>, rec: &mut Record<'a>) -> bool {
    let Some(text) = src.text else {
        return false;
    };
    let Some(line) = scan(text) else {
        return false;
    };
    rec.format = Format::Combined;
    rec.timestamp_micros = line.time;
    rec.issues.bad_timestamp = line.time.is_none();
    rec.message = Cow::Borrowed(text);
    let mut push = |name: &'static str, value: Option<&'a str>| {
        if let Some(v) = value {
            rec.structured.push(Param {
                prefix: Cow::Borrowed(""),
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(v),
            });
        }
    };
    push("src_ip", line.host_ip);
    push("http_user", line.user);
    push("method", line.method);
    push("path", line.path);
    push("protocol", line.protocol);
    push("status", Some(line.status));
    push("bytes", line.bytes);
    push("request", Some(line.request));
    push("referer", line.referer);
    push("user_agent", line.user_agent);
    true
}

/// The pieces of one access log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AccessLine<'a> {
    pub(crate) host_ip: Option<&'a str>,
    pub(crate) user: Option<&'a str>,
    pub(crate) time: Option<i64>,
    pub(crate) request: &'a str,
    pub(crate) method: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) protocol: Option<&'a str>,
    pub(crate) status: &'a str,
    pub(crate) bytes: Option<&'a str>,
    pub(crate) referer: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
}

fn dash(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// `%h %l %u [%t] "%r" %>s %b[ "%{Referer}i" "%{User-agent}i"]…`
pub(crate) fn scan(t: &str) -> Option<AccessLine<'_>> {
    let b = t.as_bytes();
    // %h: an address or a host name, no spaces; must start like one.
    let h_end = memchr::memchr(b' ', b)?;
    let host = &t[..h_end];
    if host.is_empty()
        || !host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".:-_".contains(&c))
    {
        return None;
    }
    // %l and %u: tokens up to ` [`; %u may hold spaces in odd setups, so look for ` [` + date.
    let rest = &t[h_end + 1..];
    let open = memchr::memmem::find(rest.as_bytes(), b" [")?;
    let idents = &rest[..open];
    let (_ident, user) = idents.split_once(' ')?;
    let after_open = &rest[open + 2..];
    let close = memchr::memchr(b']', after_open.as_bytes())?;
    let time = parse_clf_time(&after_open.as_bytes()[..close])?;
    let rest = after_open[close + 1..].strip_prefix(" \"")?;
    let (request, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(' ')?;
    let (status, rest) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
    if status.len() != 3 || !status.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix(' ')?;
    let (bytes, rest) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
    if bytes != "-" && (bytes.is_empty() || !bytes.bytes().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let (mut referer, mut user_agent) = (None, None);
    if let Some(r) = rest.strip_prefix(" \"")
        && let Some((refr, r)) = quoted(r)
        && let Some(r) = r.strip_prefix(" \"")
        && let Some((ua, _)) = quoted(r)
    {
        referer = dash(refr);
        user_agent = dash(ua);
    }
    let mut parts = request.splitn(3, ' ');
    let (method, path, protocol) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), proto)
            if !m.is_empty() && m.bytes().all(|c| c.is_ascii_uppercase()) && !p.is_empty() =>
        {
            (Some(m), Some(p), proto)
        }
        _ => (None, None, None),
    };
    Some(AccessLine {
        host_ip: super::auth_tokens::parse_ip(host).is_some().then_some(host),
        user: dash(user),
        time,
        request,
        method,
        path,
        protocol,
        status,
        bytes: dash(bytes),
        referer,
        user_agent,
    })
}

/// The text up to the closing `"` (one not escaped by a backslash) and what follows it.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut from = 0;
    loop {
        let i = from + memchr::memchr(b'"', &b[from..])?;
        let mut slashes = 0;
        while i > slashes && b[i - 1 - slashes] == b'\\' {
            slashes += 1;
        }
        if slashes % 2 == 0 {
            return Some((&s[..i], &s[i + 1..]));
        }
        from = i + 1;
    }
}

/// `20/Nov/2026:10:00:00 +0000` → microseconds; `Some(None)` when well-shaped but not a real
/// instant, `None` when not this shape at all.
fn parse_clf_time(b: &[u8]) -> Option<Option<i64>> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |v, &c| {
            c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
        })
    };
    let day = num(0..2)?;
    let month = super::time::month_number(&b[3..6])?;
    let year = num(7..11)?;
    let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(22..24)?, num(24..26)?);
    let civil = Civil {
        year: i64::from(year),
        month,
        day: u8::try_from(day).ok()?,
        hour: u8::try_from(hour).ok()?,
        minute: u8::try_from(minute).ok()?,
        second: u8::try_from(second).ok()?,
        micros: 0,
    };
    Some(civil.to_micros(sign * (i64::from(oh) * 3600 + i64::from(om) * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_line() {
        let l = scan(r#"203.0.113.5 - bob [20/Nov/2026:10:00:00 +0100] "GET /a?b=c HTTP/1.1" 404 153 "-" "Mozilla/5.0 (X11) \"quoted\"""#).unwrap();
        assert_eq!(l.host_ip, Some("203.0.113.5"));
        assert_eq!(l.user, Some("bob"));
        assert_eq!(l.time, Some(1_795_165_200_000_000));
        assert_eq!(
            (l.method, l.path, l.protocol),
            (Some("GET"), Some("/a?b=c"), Some("HTTP/1.1"))
        );
        assert_eq!((l.status, l.bytes), ("404", Some("153")));
        assert_eq!(l.referer, None);
        assert_eq!(l.user_agent, Some(r#"Mozilla/5.0 (X11) \"quoted\""#));
    }

    #[test]
    fn common_format_junk_requests_and_host_names() {
        let l =
            scan(r#"2001:db8::5 - - [20/Nov/2026:10:00:00 +0000] "-" 400 - "#.trim_end()).unwrap();
        assert_eq!(l.host_ip, Some("2001:db8::5"));
        assert_eq!((l.method, l.path, l.bytes), (None, None, None));
        let l = scan(r#"client.example.net - - [20/Nov/2026:10:00:00 +0000] "\x16\x03\x01\x02" 400 157 "-" "-""#).unwrap();
        assert_eq!(l.host_ip, None);
        assert_eq!(l.method, None);
        assert_eq!(l.request, r"\x16\x03\x01\x02");
        // A bad date is still a line, without a time.
        let l =
            scan(r#"203.0.113.5 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.0" 200 1"#).unwrap();
        assert_eq!(l.time, None);
    }

    #[test]
    fn not_access_lines() {
        for t in [
            "Nov 20 10:00:00 gw sshd[1]: Failed password",
            "203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 2000 1",
            "203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] GET / 200 1",
            "203.0.113.5 - - [20/Nov/2026 10:00:00] \"GET /\" 200 1",
            "{\"a\":1}",
            "",
        ] {
            assert_eq!(scan(t), None, "{t}");
        }
    }
}
