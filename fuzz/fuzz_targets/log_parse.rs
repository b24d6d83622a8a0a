//! Fuzz target: `ironpost_log_pipeline::parse` on arbitrary bytes must not panic, must borrow
//! only from its input, and must keep the message within the documented bound.
//!
//! Run with `make fuzz FUZZ_TARGETS=log_parse` (see docs/fuzzing.md).

#![no_main]

use std::borrow::Cow;

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::parse::{MAX_STRUCTURED, ParseContext, parse};
use libfuzzer_sys::fuzz_target;

fn within(input: &[u8], s: &str) -> bool {
    let (a, b) = (input.as_ptr() as usize, s.as_ptr() as usize);
    s.is_empty() || (b >= a && b + s.len() <= a + input.len())
}

// The point is to tell `Borrowed` from `Owned`, which a `&str` would hide.
#[allow(clippy::ptr_arg)]
fn borrowed_within(input: &[u8], c: &Cow<'_, str>) -> bool {
    matches!(c, Cow::Owned(_)) || within(input, c)
}

fuzz_target!(|data: &[u8]| {
    // 2026-12-01T00:00:00Z at UTC+1: exercises year inference and the local offset.
    let ctx = ParseContext::new(1_796_083_200_000_000, 3600);
    let rec = parse(data, &ctx);
    // Unescaping only shrinks; each U+FFFD replaces at least one invalid byte (+2 at most).
    let fffd = rec.message.matches('\u{FFFD}').count();
    assert!(rec.message.len() <= data.len() + 2 * fffd);
    assert!(borrowed_within(data, &rec.message));
    for c in [&rec.hostname, &rec.app].into_iter().flatten() {
        assert!(borrowed_within(data, c));
    }
    assert!(rec.msgid.is_none_or(|m| within(data, m)));
    assert!(rec.structured.len() <= MAX_STRUCTURED);
    for p in rec.structured.iter() {
        assert!(borrowed_within(data, &p.prefix));
        assert!(borrowed_within(data, &p.name));
        assert!(borrowed_within(data, &p.value));
    }
    for name in [rec.user(), rec.target_user()].into_iter().flatten() {
        let (m, n) = (rec.message.as_ptr() as usize, name.as_ptr() as usize);
        assert!(n >= m && n + name.len() <= m + rec.message.len());
    }
    for f in [
        "message", "app", "pid", "host", "severity", "facility", "msgid", "src_ip", "user", "port",
        "outcome",
    ] {
        let _ = rec.field(f);
    }
});
