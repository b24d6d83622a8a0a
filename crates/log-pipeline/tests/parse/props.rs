//! Property tests: any input parses without panicking into a record that only borrows from the
//! input; well-formed lines built from random fields give those fields back.
//!
//! Length bound asserted: `message.len() <= input.len() + 2 * n`, where `n` is the number of
//! U+FFFD in the message. Unescaping only shrinks text (`\n` → 1 byte, `\u00e9` → 2, a
//! surrogate pair's 12 bytes → 4, a lone surrogate's 6 → 3), and each replaced invalid UTF-8
//! sequence (at least 1 byte) becomes U+FFFD (3 bytes): at most 2 bytes of growth each. For
//! valid UTF-8 input without U+FFFD that is `message.len() <= input.len()`.

use std::borrow::Cow;

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::{Format, MAX_STRUCTURED, Record, parse};
use proptest::prelude::*;

use super::ctx;

fn within(input: &[u8], s: &str) -> bool {
    let (a, b) = (input.as_ptr() as usize, s.as_ptr() as usize);
    s.is_empty() || (b >= a && b + s.len() <= a + input.len())
}

// The point is to tell `Borrowed` from `Owned`, which a `&str` would hide.
#[allow(clippy::ptr_arg)]
fn borrowed_within(input: &[u8], c: &Cow<'_, str>) -> bool {
    match c {
        Cow::Borrowed(s) => within(input, s),
        Cow::Owned(_) => true,
    }
}

fn check_invariants(input: &[u8], rec: &Record<'_>) -> Result<(), TestCaseError> {
    let fffd = rec.message.matches('\u{FFFD}').count();
    prop_assert!(
        rec.message.len() <= input.len() + 2 * fffd,
        "message {} bytes from {} input bytes",
        rec.message.len(),
        input.len()
    );
    prop_assert!(borrowed_within(input, &rec.message));
    for c in [&rec.hostname, &rec.app].into_iter().flatten() {
        prop_assert!(borrowed_within(input, c));
    }
    if let Some(m) = rec.msgid {
        prop_assert!(within(input, m));
    }
    prop_assert!(rec.structured.len() <= MAX_STRUCTURED);
    for p in rec.structured.iter() {
        for c in [&p.prefix, &p.name, &p.value] {
            prop_assert!(borrowed_within(input, c));
        }
    }
    // Names extracted from the message are slices of it.
    for name in [rec.user(), rec.target_user()].into_iter().flatten() {
        let (m, n) = (rec.message.as_ptr() as usize, name.as_ptr() as usize);
        prop_assert!(n >= m && n + name.len() <= m + rec.message.len());
    }
    if rec.format == Format::Raw {
        // Only the vsftpd / MySQL shapes are read from a line without a program: never a name.
        prop_assert!(rec.user().is_none() && rec.target_user().is_none());
    }
    if std::str::from_utf8(input).is_ok() {
        prop_assert!(!rec.issues.invalid_utf8);
    }
    // Every field lookup answers without panicking.
    for f in [
        "message", "app", "pid", "host", "severity", "facility", "msgid", "src_ip", "user", "port",
        "outcome", "x.y",
    ] {
        let _ = rec.field(f);
    }
    Ok(())
}

/// Bytes biased towards syslog and JSON syntax so that deep paths of every parser are reached.
fn syslogish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop_oneof![
        Just(b"<34>".to_vec()),
        Just(b"<165>1 ".to_vec()),
        Just(b"2026-11-10T06:55:46.5+01:00 ".to_vec()),
        Just(b"Nov 10 06:55:46 ".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"[x@1 a=\"b\\\"c\\]\" d=\"\"]".to_vec()),
        Just(b"sshd[123]: ".to_vec()),
        Just(b"Failed password for invalid user ".to_vec()),
        Just(b" from 1.2.3.4 port 22".to_vec()),
        Just(b"pam_unix(su:auth): authentication failure; ruser=a rhost=::1 user=".to_vec()),
        Just(b"{\"message\":\"a\\u00e9\\ud800\",\"host\":{\"name\":[1,{}]},".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"}".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[ -~]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(atoms, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_bytes_parse_within_bounds(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let rec = parse(&input, &ctx());
        check_invariants(&input, &rec)?;
    }

    #[test]
    fn syslog_like_bytes_parse_within_bounds(input in syslogish()) {
        let rec = parse(&input, &ctx());
        check_invariants(&input, &rec)?;
    }

    /// RFC 3164 and RFC 5424 lines rendered from random fields give the same fields back.
    #[test]
    fn syslog_fields_round_trip(
        pri in 0u8..=191,
        secs in 1_700_000_000i64..1_796_000_000,
        host in "[a-z][a-z0-9.-]{0,20}",
        app in "[a-zA-Z][a-zA-Z0-9._/-]{0,30}",
        pid in proptest::option::of(0u32..4_000_000),
        msg in "[^\r\n\0]{0,80}",
    ) {
        let ts = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let pid_s = pid.map(|p| p.to_string());
        let (procid, tag_pid) = match &pid_s {
            Some(p) => (p.clone(), format!("[{p}]")),
            None => ("-".to_string(), String::new()),
        };
        let l5424 = format!("<{pri}>1 {} {host} {app} {procid} - - {msg}", ts.format("%Y-%m-%dT%H:%M:%SZ"));
        let l3164 = format!("<{pri}>{} {host} {app}{tag_pid}: {msg}", ts.format("%b %e %Y %H:%M:%S"));
        for line in [&l5424, &l3164] {
            let rec = parse(line.as_bytes(), &ctx());
            prop_assert_eq!(rec.timestamp_micros, Some(secs * 1_000_000), "{}", line);
            prop_assert_eq!(rec.facility, Some(pri >> 3));
            prop_assert_eq!(rec.severity, Some(pri & 7));
            prop_assert_eq!(rec.hostname.as_deref(), Some(host.as_str()));
            prop_assert_eq!(rec.app.as_deref(), Some(app.as_str()));
            prop_assert_eq!(rec.pid, pid);
            // A BOM opening an RFC 5424 MSG says "UTF-8" and is not part of the message.
            let expected = msg.strip_prefix('\u{feff}').filter(|_| line == &l5424).unwrap_or(&msg);
            prop_assert_eq!(&*rec.message, expected.trim_end_matches(['\n', '\r', '\0']));
        }
    }

    /// Objects serialized by serde_json (escapes of every kind) read back the same strings.
    #[test]
    fn json_strings_round_trip(
        msg in any::<String>(),
        host in "\\PC{0,20}",
        extra in proptest::collection::btree_map("[a-z_]{1,8}", any::<String>(), 0..6),
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("message".into(), msg.clone().into());
        obj.insert("host".into(), host.clone().into());
        for (k, v) in &extra {
            obj.entry(format!("x_{k}")).or_insert_with(|| v.clone().into());
        }
        let line = serde_json::Value::Object(obj).to_string();
        let rec = parse(line.as_bytes(), &ctx());
        prop_assert_eq!(rec.format, Format::Json, "{}", line);
        prop_assert_eq!(&*rec.message, msg.as_str());
        prop_assert_eq!(rec.hostname.as_deref(), Some(host.as_str()));
        for (k, v) in &extra {
            prop_assert_eq!(rec.structured.get(&format!("x_{k}")), Some(v.as_str()));
        }
        check_invariants(line.as_bytes(), &rec)?;
    }
}
