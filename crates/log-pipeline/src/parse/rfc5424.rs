//! RFC 5424 syslog: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
//!
//! Lenient where senders commonly are (field lengths are not enforced, a timestamp without
//! offset is local time, an impossible timestamp is dropped with `Issues::bad_timestamp`), strict
//! where the grammar decides what the fields are (six space-separated header tokens of printable
//! ASCII). Malformed structured data keeps the header: the message then starts where the
//! structured data did.

use std::borrow::Cow;

use super::record::{Format, Param, Record};
use super::time::parse_iso;
use super::{ParseContext, Src, parse_u32, set_pri, token};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses `line` (which starts with a PRI ending at `after`) into `rec`, a fresh record;
/// returns false, with `rec` untouched, when the header is not RFC 5424, so that the caller can
/// try RFC 3164.
pub(crate) fn parse<'a>(
    src: Src<'a>,
    pri: u8,
    after: usize,
    ctx: &ParseContext,
    rec: &mut Record<'a>,
) -> bool {
    let line = src.bytes;
    // VERSION: one or two digits, the first not 0, then a space.
    let (version, mut pos) = token(line, after);
    if version.is_empty()
        || version.len() > 2
        || version[0] == b'0'
        || !version.iter().all(u8::is_ascii_digit)
        || pos >= line.len()
    {
        return false;
    }
    let mut header: [&'a str; 5] = [""; 5];
    for slot in &mut header {
        let (tok, end) = token(line, pos + 1);
        let Some(tok) = printable(src, tok, pos + 1, end) else {
            return false;
        };
        *slot = tok;
        pos = end;
    }
    let [ts, hostname, app, procid, msgid] = header;
    rec.format = Format::Rfc5424;
    set_pri(rec, pri);
    if ts != "-" {
        let stamp = ctx.stamp(ts.as_bytes(), || {
            parse_iso(ts.as_bytes())
                .map(|(iso, n)| (iso.to_micros(i64::from(ctx.utc_offset_secs())), n))
        });
        match stamp {
            Some((micros, n)) if n == ts.len() => {
                rec.timestamp_micros = micros;
                rec.issues.bad_timestamp = micros.is_none();
            }
            _ => rec.issues.bad_timestamp = true,
        }
    }
    rec.hostname = nil(hostname).map(Cow::Borrowed);
    rec.app = nil(app).map(Cow::Borrowed);
    rec.pid = parse_u32(procid.as_bytes());
    rec.msgid = nil(msgid);

    // Structured data starts after one more space. A line that ends with the header has none
    // (RFC 5424 wants at least `-`; accepted anyway).
    if pos >= line.len() {
        return true;
    }
    pos += 1;
    let msg_start = match structured_data(src, pos, rec) {
        Some(end) if end == line.len() => end,
        Some(end) if line[end] == b' ' => end + 1,
        _ => {
            rec.structured.clear();
            rec.issues.structured_truncated = false;
            rec.issues.malformed_structured_data = true;
            pos
        }
    };
    let mut msg_start = msg_start;
    if line[msg_start..].starts_with(BOM) {
        msg_start += BOM.len();
    }
    let (message, invalid) = src.lossy(msg_start, line.len());
    rec.message = message;
    rec.issues.invalid_utf8 |= invalid;
    true
}

/// A header token: printable ASCII (RFC 5424 PRINTUSASCII), not empty.
fn printable<'a>(src: Src<'a>, tok: &[u8], start: usize, end: usize) -> Option<&'a str> {
    if tok.is_empty() || !tok.iter().all(|c| (33..=126).contains(c)) {
        return None;
    }
    src.str(start, end)
}

fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

/// STRUCTURED-DATA at `line[pos..]`: `-` or one or more `[SD-ID *(SP NAME="VALUE")]`. Fills
/// `rec.structured` and returns the position after it, or `None` when it is malformed.
fn structured_data<'a>(src: Src<'a>, mut pos: usize, rec: &mut Record<'a>) -> Option<usize> {
    let line = src.bytes;
    match line.get(pos) {
        Some(b'-') => return Some(pos + 1),
        Some(b'[') => {}
        _ => return None,
    }
    while line.get(pos) == Some(&b'[') {
        let (id, after_id) = sd_name(src, pos + 1)?;
        pos = after_id;
        loop {
            match line.get(pos) {
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(b' ') => {
                    let (name, after_name) = sd_name(src, pos + 1)?;
                    if line.get(after_name) != Some(&b'=')
                        || line.get(after_name + 1) != Some(&b'"')
                    {
                        return None;
                    }
                    let (value, after_value, invalid) = param_value(src, after_name + 2)?;
                    rec.issues.invalid_utf8 |= invalid;
                    let param = Param {
                        prefix: Cow::Borrowed(id),
                        name: Cow::Borrowed(name),
                        value,
                    };
                    if !rec.structured.push(param) {
                        rec.issues.structured_truncated = true;
                    }
                    pos = after_value;
                }
                _ => return None,
            }
        }
    }
    Some(pos)
}

/// SD-NAME at `line[pos..]`: 1-32 printable ASCII characters except `=`, space, `]` and `"`.
/// Longer names are accepted (senders exceed the limit); empty ones are not.
fn sd_name(src: Src<'_>, pos: usize) -> Option<(&str, usize)> {
    let rest = src.bytes.get(pos..)?;
    let n = rest
        .iter()
        .position(|&c| !(33..=126).contains(&c) || matches!(c, b'=' | b']' | b'"'))
        .unwrap_or(rest.len());
    if n == 0 {
        return None;
    }
    Some((src.str(pos, pos + n)?, pos + n))
}

/// PARAM-VALUE after its opening quote: the unescaped value (`\"`, `\\` and `\]` stand for the
/// second character; any other backslash is kept, as RFC 5424 §6.3.3 says), the position after
/// the closing quote, and whether invalid UTF-8 had to be replaced.
fn param_value(src: Src<'_>, start: usize) -> Option<(Cow<'_, str>, usize, bool)> {
    let bytes = src.bytes.get(start..)?;
    let mut i = 0;
    let mut escaped = false;
    loop {
        let j = memchr::memchr2(b'"', b'\\', &bytes[i..])?;
        i += j;
        if bytes[i] == b'"' {
            break;
        }
        escaped = true;
        i += 2;
        if i > bytes.len() {
            return None;
        }
    }
    let raw = &bytes[..i];
    let end = start + i + 1;
    if !escaped {
        let (v, invalid) = src.lossy(start, start + i);
        return Some((v, end, invalid));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut k = 0;
    while k < raw.len() {
        if raw[k] == b'\\' && matches!(raw.get(k + 1), Some(b'"' | b'\\' | b']')) {
            out.push(raw[k + 1]);
            k += 2;
        } else {
            out.push(raw[k]);
            k += 1;
        }
    }
    let (v, invalid) = match String::from_utf8(out) {
        Ok(s) => (s, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    };
    Some((Cow::Owned(v), end, invalid))
}
