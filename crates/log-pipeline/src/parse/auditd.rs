//! auditd's log (`/var/log/audit/audit.log`): one record per line,
//! `[node=NODE ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value …`, optionally followed
//! (`log_format = ENRICHED`) by a `\x1d` (GS) separator and the translations auditd added
//! (`ARCH=x86_64 SYSCALL=execve AUID="alice" UID="root" …`).
//!
//! Values come in three shapes: `key="text"` (auditd quotes a string only when it has no space,
//! quote or control character, so no escape is ever needed), `key=text` (numbers, enums, and
//! untrusted strings that *did* have such characters, hex-encoded: `a2=6563686F2022686922`), and
//! `key=(null)`. Hex is decoded only for the fields auditd encodes ([`is_encoded`]), never for
//! numbers (`a0=7ffd…` of a SYSCALL record is a register, not text). User-space records nest a
//! second list in `msg='op=PAM:authentication acct="alice" … res=failed'`: its pairs are read
//! as fields of the record.
//!
//! Hostile input: a line longer than [`MAX_LINE`] is refused, at most [`MAX_FIELDS`] fields
//! are kept per record (the rest counted in [`AuditRecord::dropped_fields`]), a decoded value is
//! cut at [`MAX_VALUE`] bytes. The scanner walks the line once (no regex, no backtracking).
//! Records are joined into events by [`super::auditd_join`].

use std::borrow::Cow;

/// Longest line accepted (auditd's own limit is `MAX_AUDIT_MESSAGE_LENGTH`, 8970 bytes).
pub const MAX_LINE: usize = 16 * 1024;
/// Fields kept per record (translations included); the rest are counted and skipped.
pub const MAX_FIELDS: usize = 128;
/// Longest value kept, after hex decoding; longer values are cut (at a character boundary).
pub const MAX_VALUE: usize = 4096;

/// Why a line is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditParseError {
    #[error("audit record of {len} bytes (at most {max})", max = MAX_LINE)]
    TooLong { len: usize },
    #[error("audit record without `type=`")]
    NoType,
    #[error("audit record without `msg=audit(SECONDS.MILLIS:SERIAL):`")]
    NoStamp,
}

/// One parsed line. Values borrow from the line unless they were hex-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// `SYSCALL`, `EXECVE`, `PATH` …
    pub kind: &'a str,
    /// `node=` when auditd writes the node name (`name_format`).
    pub node: Option<&'a str>,
    /// The event's time, microseconds since the Unix epoch (auditd writes milliseconds).
    pub timestamp_micros: i64,
    /// The event's serial number: records of one event share it (with the time).
    pub serial: u64,
    /// Fields in line order, then the enriched translations (`UID`, `SYSCALL` …).
    pub fields: Vec<(&'a str, Cow<'a, str>)>,
    /// Fields beyond [`MAX_FIELDS`] that were skipped.
    pub dropped_fields: usize,
    /// Values cut at [`MAX_VALUE`].
    pub truncated_values: usize,
}

impl AuditRecord<'_> {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| &**v)
    }
}

/// Fields whose value auditd writes hex-encoded when it holds a space, a quote or a control
/// character (auditd's "untrusted strings"): file names, command names, arguments, keys.
pub fn is_encoded(kind: &str, name: &str) -> bool {
    if kind == "EXECVE" && is_execve_arg(name) {
        return true;
    }
    matches!(
        name,
        "name"
            | "cwd"
            | "comm"
            | "exe"
            | "proctitle"
            | "key"
            | "path"
            | "cmd"
            | "acct"
            | "data"
            | "dir"
            | "file"
            | "ocomm"
            | "watch"
            | "old-chardev"
            | "new-chardev"
            | "root_dir"
            | "sauid"
            | "vm"
    )
}

/// `aN` or `aN[M]` (an EXECVE argument or a piece of one).
fn is_execve_arg(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('a') else {
        return false;
    };
    let (num, piece) = match rest.split_once('[') {
        Some((n, p)) => (n, Some(p)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|c| c.is_ascii_digit());
    digits(num) && piece.is_none_or(|p| p.strip_suffix(']').is_some_and(digits))
}

/// Parses one audit.log line (with or without its line ending).
pub fn parse_record(line: &[u8]) -> Result<AuditRecord<'_>, AuditParseError> {
    if line.len() > MAX_LINE {
        return Err(AuditParseError::TooLong { len: line.len() });
    }
    let end = line
        .iter()
        .rposition(|c| !matches!(c, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    // The translations follow a GS byte; the raw part has none.
    let (raw, enriched) = match line.iter().position(|&c| c == 0x1d) {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let mut s = Scanner { b: raw, pos: 0 };
    let mut node = None;
    let mut kind = None;
    // `node=` then `type=`, then `msg=audit(…):`.
    while kind.is_none() {
        s.skip_spaces();
        let key = s.key().ok_or(AuditParseError::NoType)?;
        let value = s.bare();
        match key {
            "node" if node.is_none() => node = Some(value),
            "type" if !value.is_empty() => kind = Some(value),
            _ => return Err(AuditParseError::NoType),
        }
    }
    let kind = kind.ok_or(AuditParseError::NoType)?;
    s.skip_spaces();
    let (timestamp_micros, serial) = s.stamp().ok_or(AuditParseError::NoStamp)?;
    let mut rec = AuditRecord {
        kind,
        node,
        timestamp_micros,
        serial,
        fields: Vec::new(),
        dropped_fields: 0,
        truncated_values: 0,
    };
    s.fields(&mut rec, true);
    if let Some(e) = enriched {
        Scanner { b: e, pos: 0 }.fields(&mut rec, false);
    }
    Ok(rec)
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn skip_spaces(&mut self) {
        while self.b.get(self.pos).is_some_and(|c| *c == b' ') {
            self.pos += 1;
        }
    }

    fn text(&self, start: usize, end: usize) -> Option<&'a str> {
        std::str::from_utf8(self.b.get(start..end)?).ok()
    }

    /// `NAME=` at the position: the name (letters, digits, `_`, `-`, `[`, `]`), moved past `=`.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while let Some(&c) = self.b.get(self.pos) {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'[' | b']') {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start || self.b.get(self.pos) != Some(&b'=') {
            // Not a pair: skip this token.
            self.skip_token();
            return None;
        }
        let key = self.text(start, self.pos);
        self.pos += 1;
        key
    }

    fn skip_token(&mut self) {
        while self.b.get(self.pos).is_some_and(|c| *c != b' ') {
            self.pos += 1;
        }
    }

    /// An unquoted value: up to a space or the end.
    fn bare(&mut self) -> &'a str {
        let start = self.pos;
        self.skip_token();
        self.text(start, self.pos).unwrap_or("")
    }

    /// A value delimited by `q` (the position is on the opening one); unterminated: to the end.
    fn quoted(&mut self, q: u8) -> (usize, usize) {
        let start = self.pos + 1;
        let end = self.b[start..]
            .iter()
            .position(|&c| c == q)
            .map_or(self.b.len(), |i| start + i);
        self.pos = (end + 1).min(self.b.len());
        (start, end)
    }

    /// `msg=audit(1700000000.123:4567):`
    fn stamp(&mut self) -> Option<(i64, u64)> {
        let rest = self.b.get(self.pos..)?.strip_prefix(b"msg=audit(")?;
        let close = rest.iter().position(|&c| c == b')')?;
        let inner = &rest[..close];
        let colon = inner.iter().position(|&c| c == b':')?;
        let (time, serial) = (&inner[..colon], &inner[colon + 1..]);
        let dot = time.iter().position(|&c| c == b'.')?;
        let secs = digits(&time[..dot], 12)?;
        let frac = &time[dot + 1..];
        let millis = digits(frac, 3)?;
        // Three digits are milliseconds; fewer are tenths or hundredths.
        let scale = [1_000_000, 100_000, 10_000, 1_000][frac.len()];
        let serial = digits(serial, 20)?;
        if rest.get(close + 1) != Some(&b':') {
            return None;
        }
        self.pos += "msg=audit(".len() + close + 2;
        let micros = i64::try_from(secs).ok()?.checked_mul(1_000_000)?;
        Some((micros + i64::try_from(millis).ok()? * scale, serial))
    }

    /// Reads `key=value` pairs to the end into `rec`; `nest`: a `msg='…'` value is read as
    /// pairs too (once: the inner list is not searched for another).
    fn fields(&mut self, rec: &mut AuditRecord<'a>, nest: bool) {
        loop {
            self.skip_spaces();
            if self.pos >= self.b.len() {
                return;
            }
            let Some(key) = self.key() else { continue };
            let value: Cow<'a, str> = match self.b.get(self.pos) {
                Some(b'"') => {
                    let (s, e) = self.quoted(b'"');
                    String::from_utf8_lossy(&self.b[s..e])
                }
                Some(b'\'') if nest && key == "msg" => {
                    let (s, e) = self.quoted(b'\'');
                    let mut inner = Scanner {
                        b: &self.b[s..e],
                        pos: 0,
                    };
                    inner.fields(rec, false);
                    continue;
                }
                Some(b'\'') => {
                    let (s, e) = self.quoted(b'\'');
                    String::from_utf8_lossy(&self.b[s..e])
                }
                _ => {
                    let start = self.pos;
                    self.skip_token();
                    let raw = &self.b[start..self.pos];
                    match (raw == b"(null)", is_encoded(rec.kind, key)) {
                        (true, _) => Cow::Borrowed(""),
                        (false, true) => match unhex(raw) {
                            Some(v) => Cow::Owned(v),
                            None => String::from_utf8_lossy(raw),
                        },
                        (false, false) => String::from_utf8_lossy(raw),
                    }
                }
            };
            if rec.fields.len() >= MAX_FIELDS {
                rec.dropped_fields += 1;
                continue;
            }
            let value = if value.len() > MAX_VALUE {
                rec.truncated_values += 1;
                let mut cut = MAX_VALUE;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                Cow::Owned(value[..cut].to_owned())
            } else {
                value
            };
            rec.fields.push((key, value));
        }
    }
}

/// Up to `max` ASCII digits as a number.
fn digits(b: &[u8], max: usize) -> Option<u64> {
    if b.is_empty() || b.len() > max || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |v, &c| {
        v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

/// Hex text (even length, `0-9A-Fa-f`) decoded, at most [`MAX_VALUE`] bytes of it, as text
/// (invalid UTF-8 replaced); `None` when `b` is not hex.
pub fn unhex(b: &[u8]) -> Option<String> {
    if b.is_empty() || !b.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity((b.len() / 2).min(MAX_VALUE + 4));
    for pair in b.chunks_exact(2) {
        let byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        // A few bytes past the bound, so that the cut (at a character boundary) can tell.
        if out.len() <= MAX_VALUE + 3 {
            out.push(byte);
        }
    }
    Some(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The name of an x86_64 (`arch=c000003e`) or aarch64 (`arch=c00000b7`) system call number,
/// for the calls SigmaHQ's auditd rules name (a log without `log_format = ENRICHED` has only
/// the number).
pub fn syscall_name(arch: &str, nr: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = match arch {
        "c000003e" => &[
            ("0", "read"),
            ("1", "write"),
            ("2", "open"),
            ("42", "connect"),
            ("43", "accept"),
            ("49", "bind"),
            ("56", "clone"),
            ("57", "fork"),
            ("59", "execve"),
            ("62", "kill"),
            ("82", "rename"),
            ("87", "unlink"),
            ("90", "chmod"),
            ("92", "chown"),
            ("99", "sysinfo"),
            ("101", "ptrace"),
            ("105", "setuid"),
            ("133", "mknod"),
            ("165", "mount"),
            ("175", "init_module"),
            ("257", "openat"),
            ("259", "mknodat"),
            ("263", "unlinkat"),
            ("268", "fchmodat"),
            ("313", "finit_module"),
            ("319", "memfd_create"),
            ("322", "execveat"),
        ],
        "c00000b7" => &[
            ("33", "mknodat"),
            ("56", "openat"),
            ("105", "init_module"),
            ("179", "sysinfo"),
            ("221", "execve"),
            ("273", "finit_module"),
            ("279", "memfd_create"),
            ("281", "execveat"),
        ],
        _ => return None,
    };
    table.iter().find(|(n, _)| *n == nr).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_record() {
        let line = br#"type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="sh" exe="/usr/bin/dash" subj=unconfined key=(null)"#;
        let r = parse_record(line).expect("parses");
        assert_eq!(r.kind, "SYSCALL");
        assert_eq!(r.serial, 4567);
        assert_eq!(r.timestamp_micros, 1_700_000_000_123_000);
        assert_eq!(r.get("syscall"), Some("59"));
        assert_eq!(r.get("a0"), Some("55d0"), "registers are not decoded");
        assert_eq!(r.get("exe"), Some("/usr/bin/dash"));
        assert_eq!(r.get("key"), Some(""));
    }

    #[test]
    fn hex_arguments_and_split_arguments() {
        let line = b"type=EXECVE msg=audit(1700000000.123:4567): argc=3 a0=\"sh\" a1=\"-c\" a2=6563686F2022686922 a3_len=8 a3[0]=41 a3[1]=\"bb\"";
        let r = parse_record(line).expect("parses");
        assert_eq!(r.get("a2"), Some("echo \"hi\""));
        assert_eq!(r.get("a3[0]"), Some("A"));
        assert_eq!(r.get("a3_len"), Some("8"));
        // Outside EXECVE, `a2` is a register.
        let s = parse_record(b"type=SYSCALL msg=audit(1.5:1): a2=4142").expect("parses");
        assert_eq!(s.get("a2"), Some("4142"));
        assert_eq!(s.timestamp_micros, 1_500_000);
    }

    #[test]
    fn enriched_and_nested_user_message() {
        let line = b"node=web1 type=USER_AUTH msg=audit(1700000000.500:88): pid=900 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'\x1dUID=\"root\" AUID=\"unset\"";
        let r = parse_record(line).expect("parses");
        assert_eq!(r.node, Some("web1"));
        assert_eq!(r.get("acct"), Some("alice"));
        assert_eq!(r.get("res"), Some("failed"));
        assert_eq!(r.get("addr"), Some("203.0.113.9"));
        assert_eq!(r.get("UID"), Some("root"));
    }

    #[test]
    fn errors_and_bounds() {
        assert_eq!(parse_record(b"hello world"), Err(AuditParseError::NoType));
        assert_eq!(
            parse_record(b"type=SYSCALL msg=audit(x): a=b"),
            Err(AuditParseError::NoStamp)
        );
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(
            parse_record(&long),
            Err(AuditParseError::TooLong { len: MAX_LINE + 1 })
        );
        let mut many = b"type=EXECVE msg=audit(1.000:1):".to_vec();
        for i in 0..200 {
            many.extend_from_slice(format!(" a{i}=\"x\"").as_bytes());
        }
        let r = parse_record(&many).expect("parses");
        assert_eq!(
            (r.fields.len(), r.dropped_fields),
            (MAX_FIELDS, 200 - MAX_FIELDS)
        );
        let big = format!(
            "type=EXECVE msg=audit(1.000:1): a0={}",
            "41".repeat(MAX_VALUE + 100)
        );
        let r = parse_record(big.as_bytes()).expect("parses");
        assert_eq!(r.get("a0").map(str::len), Some(MAX_VALUE));
        assert_eq!(r.truncated_values, 1);
    }

    #[test]
    fn syscall_names() {
        assert_eq!(syscall_name("c000003e", "59"), Some("execve"));
        assert_eq!(syscall_name("c00000b7", "221"), Some("execve"));
        assert_eq!(syscall_name("40000003", "11"), None);
    }
}
