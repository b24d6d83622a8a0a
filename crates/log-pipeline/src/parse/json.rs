//! JSON lines: one object per line, read by a hand-written validating scanner that borrows
//! every string without escapes (serde_json's `Value` would allocate a map and a `String` per
//! key and value: `bench/parse.sh` measures both).
//!
//! Well-known keys become record fields (first occurrence wins):
//!
//! | record field | top-level keys | nested (ECS) |
//! |---|---|---|
//! | timestamp | `timestamp`, `@timestamp`, `time`, `ts` (RFC 3339 or epoch s/ms/µs/ns), `__REALTIME_TIMESTAMP` (µs) | |
//! | hostname | `host`, `hostname`, `_HOSTNAME` | `host.name` |
//! | message | `message`, `msg`, `MESSAGE` | |
//! | severity | `level`, `severity`, `PRIORITY` (names, syslog 0-7, pino 10-60) | `log.level` |
//! | app | `process`, `app`, `program`, `SYSLOG_IDENTIFIER` | `process.name` |
//! | pid | `pid`, `_PID` (number or digit string) | `process.pid` |
//! | facility | `facility`, `SYSLOG_FACILITY` (name or number) | |
//!
//! (the uppercase keys are `journalctl -o json`'s). Every other scalar lands in `structured`
//! under its dotted path (`{"a":{"b":1}}` → `a.b`), arrays as their JSON text, at most
//! `MAX_STRUCTURED` of them. A value of the wrong type for its field (a numeric `host`) is kept
//! in `structured` instead. Objects nested deeper than [`MAX_JSON_DEPTH`], a top level that is
//! not an object, invalid UTF-8 or any syntax error make the line `Raw`.

use std::borrow::Cow;

use super::record::{Format, Param, Record, facility_from_name, severity_from_name};
use super::time::{epoch_to_micros, parse_iso};
use super::{ParseContext, Src, parse_u32};

/// Deepest nesting of objects and arrays accepted, the top-level object counting as 1.
pub const MAX_JSON_DEPTH: usize = 32;

#[derive(Debug)]
enum Error {
    Syntax,
    TooDeep,
}

/// A scalar or array value, borrowed where possible.
enum Value<'a> {
    Str(Cow<'a, str>),
    /// A number, `true`, `false`, `null` or an array, as its JSON text.
    Text(&'a str),
}

impl<'a> Value<'a> {
    fn text(self) -> Cow<'a, str> {
        match self {
            Value::Str(s) => s,
            Value::Text(t) => Cow::Borrowed(t),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            Value::Text(t) => t,
        }
    }
}

/// Parses one JSON object into `rec`, a fresh record; returns false when the line is not one
/// (`rec` is then left for the caller to reset and make Raw).
pub(crate) fn parse<'a>(src: Src<'a>, ctx: &ParseContext, rec: &mut Record<'a>) -> bool {
    let Some(text) = src.text else {
        return false;
    };
    rec.format = Format::Json;
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        pos: 0,
        rec,
        local_offset: i64::from(ctx.utc_offset_secs()),
    };
    if s.object(None, 1).is_err() {
        return false;
    }
    s.ws();
    s.pos == s.b.len()
}

/// Whether a line that failed to parse failed because it nests too deep (for `Issues`); only
/// called on the rare failing path, so it re-scans.
pub(crate) fn too_deep(line: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    let ctx = ParseContext::new(0, 0);
    let mut rec = Record::new(Format::Json, Cow::Borrowed(""), &ctx);
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        pos: 0,
        rec: &mut rec,
        local_offset: 0,
    };
    matches!(s.object(None, 1), Err(Error::TooDeep))
}

struct Scanner<'a, 'r> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    rec: &'r mut Record<'a>,
    local_offset: i64,
}

impl<'a> Scanner<'a, '_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), Error> {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Error::Syntax)
        }
    }

    /// An object at `pos` whose keys are fields under `prefix` (`None` at top level).
    fn object(&mut self, prefix: Option<&Cow<'a, str>>, depth: usize) -> Result<(), Error> {
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string(true)?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match self.b.get(self.pos) {
                Some(b'{') => {
                    if depth >= MAX_JSON_DEPTH {
                        return Err(Error::TooDeep);
                    }
                    let path = match prefix {
                        None => key,
                        Some(p) => Cow::Owned(format!("{p}.{key}")),
                    };
                    self.object(Some(&path), depth + 1)?;
                }
                _ => {
                    let value = self.value(depth)?;
                    self.field(prefix, key, value);
                }
            }
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Error::Syntax),
            }
        }
    }

    /// A value other than an object (which `object` handles to track the path).
    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        let start = self.pos;
        match self.b.get(self.pos) {
            Some(b'"') => return Ok(Value::Str(self.string(true)?)),
            Some(b'[') => {
                if depth >= MAX_JSON_DEPTH {
                    return Err(Error::TooDeep);
                }
                self.skip_array(depth + 1)?;
            }
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b't') => self.literal(b"true")?,
            Some(b'f') => self.literal(b"false")?,
            Some(b'n') => self.literal(b"null")?,
            _ => return Err(Error::Syntax),
        }
        Ok(Value::Text(&self.text[start..self.pos]))
    }

    /// Any value, validated and not kept (inside arrays).
    fn skip_value(&mut self, depth: usize) -> Result<(), Error> {
        match self.b.get(self.pos) {
            Some(b'{') => {
                if depth >= MAX_JSON_DEPTH {
                    return Err(Error::TooDeep);
                }
                self.skip_object(depth + 1)
            }
            Some(b'"') => self.string(false).map(drop),
            _ => self.value(depth).map(drop),
        }
    }

    fn skip_object(&mut self, depth: usize) -> Result<(), Error> {
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.string(false)?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            self.skip_value(depth)?;
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Error::Syntax),
            }
        }
    }

    fn skip_array(&mut self, depth: usize) -> Result<(), Error> {
        self.eat(b'[')?;
        self.ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.skip_value(depth)?;
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Error::Syntax),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Error::Syntax)
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), Error> {
        if self.b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Error::Syntax),
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits1()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            self.digits1()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.b.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    fn digits1(&mut self) -> Result<(), Error> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(Error::Syntax)
        } else {
            Ok(())
        }
    }

    /// A string at `pos` (which holds `"`): borrowed when it has no escapes, else unescaped
    /// into an owned string (when `build`; otherwise only validated).
    #[inline(always)]
    fn string(&mut self, build: bool) -> Result<Cow<'a, str>, Error> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut seg = start;
        loop {
            let rest = &self.b[self.pos..];
            let n = memchr::memchr2(b'"', b'\\', rest).ok_or(Error::Syntax)?;
            if rest[..n].iter().any(|&c| c < 0x20) {
                return Err(Error::Syntax);
            }
            self.pos += n;
            if self.b[self.pos] == b'"' {
                let end = self.pos;
                self.pos += 1;
                return Ok(match owned {
                    None if build => Cow::Borrowed(&self.text[start..end]),
                    None => Cow::Borrowed(""),
                    Some(mut o) => {
                        o.push_str(&self.text[seg..end]);
                        Cow::Owned(o)
                    }
                });
            }
            let before = &self.text[seg..self.pos];
            self.pos += 1;
            let c = self.escape()?;
            if build {
                let out = owned.get_or_insert_with(|| String::with_capacity(64));
                out.push_str(before);
                out.push(c);
            }
            seg = self.pos;
        }
    }

    /// The escape after a backslash; lone surrogates become U+FFFD (as lenient decoders do)
    /// rather than making the whole line Raw.
    fn escape(&mut self) -> Result<char, Error> {
        let c = *self.b.get(self.pos).ok_or(Error::Syntax)?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi) && self.b[self.pos..].starts_with(b"\\u") {
                    let save = self.pos;
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    self.pos = save;
                }
                char::from_u32(hi).unwrap_or('\u{FFFD}')
            }
            _ => return Err(Error::Syntax),
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self.b.get(self.pos..self.pos + 4).ok_or(Error::Syntax)?;
        let mut v = 0;
        for &c in h {
            v = v * 16 + char::from(c).to_digit(16).ok_or(Error::Syntax)?;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Stores one scalar (or array) under its path: into a record field when the path is a
    /// well-known one and the value fits, else into `structured`.
    fn field(&mut self, prefix: Option<&Cow<'a, str>>, key: Cow<'a, str>, value: Value<'a>) {
        let value = match prefix {
            None => self.top_level(&key, value),
            Some(p) => self.nested(p, &key, value),
        };
        let Some(value) = value else { return };
        let param = Param {
            prefix: prefix.cloned().unwrap_or(Cow::Borrowed("")),
            name: key,
            value: value.text(),
        };
        if !self.rec.structured.push(param) {
            self.rec.issues.structured_truncated = true;
        }
    }

    /// Takes a top-level value into a record field; gives it back when it is not one.
    fn top_level(&mut self, key: &str, value: Value<'a>) -> Option<Value<'a>> {
        match key {
            "timestamp" | "@timestamp" | "time" | "ts" | "__REALTIME_TIMESTAMP" => {
                if self.rec.timestamp_micros.is_some() {
                    return Some(value);
                }
                let t = value.as_str();
                let micros = match parse_iso(t.as_bytes()) {
                    Some((iso, n)) if n == t.len() => iso.to_micros(self.local_offset),
                    _ if key == "__REALTIME_TIMESTAMP" => t.parse::<i64>().ok(),
                    _ => epoch_to_micros(t),
                };
                self.rec.timestamp_micros = micros;
                if micros.is_some() {
                    return None;
                }
                self.rec.issues.bad_timestamp = true;
                Some(value)
            }
            "message" | "msg" | "MESSAGE" if self.rec.message.is_empty() => {
                self.rec.message = value.text();
                None
            }
            "host" | "hostname" | "_HOSTNAME" => take_str(&mut self.rec.hostname, value),
            "process" | "app" | "program" | "SYSLOG_IDENTIFIER" => {
                take_str(&mut self.rec.app, value)
            }
            "pid" | "_PID" => self.take_pid(value),
            "level" | "severity" | "PRIORITY" => self.take_severity(value),
            "facility" | "SYSLOG_FACILITY" if self.rec.facility.is_none() => {
                let f = match &value {
                    Value::Str(s) => facility_from_name(s).or_else(|| small_number(s, 23)),
                    Value::Text(t) => small_number(t, 23),
                };
                self.rec.facility = f;
                if f.is_some() { None } else { Some(value) }
            }
            _ => Some(value),
        }
    }

    /// Elastic Common Schema paths one level down.
    fn nested(&mut self, prefix: &str, key: &str, value: Value<'a>) -> Option<Value<'a>> {
        match (prefix, key) {
            ("host", "name") => take_str(&mut self.rec.hostname, value),
            ("process", "name") => take_str(&mut self.rec.app, value),
            ("process", "pid") => self.take_pid(value),
            ("log", "level") => self.take_severity(value),
            _ => Some(value),
        }
    }

    fn take_pid(&mut self, value: Value<'a>) -> Option<Value<'a>> {
        if self.rec.pid.is_some() {
            return Some(value);
        }
        self.rec.pid = parse_u32(value.as_str().as_bytes());
        if self.rec.pid.is_some() {
            None
        } else {
            Some(value)
        }
    }

    fn take_severity(&mut self, value: Value<'a>) -> Option<Value<'a>> {
        if self.rec.severity.is_some() {
            return Some(value);
        }
        let sev = match &value {
            Value::Str(s) => severity_from_name(s).or_else(|| small_number(s, 7)),
            Value::Text(t) => small_number(t, 7).or_else(|| pino_level(t)),
        };
        self.rec.severity = sev;
        if sev.is_some() { None } else { Some(value) }
    }
}

/// A string value into an empty text field; anything else is given back.
fn take_str<'a>(slot: &mut Option<Cow<'a, str>>, value: Value<'a>) -> Option<Value<'a>> {
    match value {
        Value::Str(s) if slot.is_none() => {
            *slot = Some(s);
            None
        }
        other => Some(other),
    }
}

fn small_number(s: &str, max: u8) -> Option<u8> {
    s.parse::<u8>().ok().filter(|&v| v <= max)
}

/// pino/bunyan numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
fn pino_level(s: &str) -> Option<u8> {
    Some(match s {
        "10" | "20" => 7,
        "30" => 6,
        "40" => 4,
        "50" => 3,
        "60" => 2,
        _ => return None,
    })
}
