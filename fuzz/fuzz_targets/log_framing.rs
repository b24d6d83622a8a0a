//! Fuzz target: the syslog stream framer (LF and RFC 6587 octet counting). The first byte picks a
//! chunk size; the rest is fed once whole and once in chunks of that size, as TCP may deliver it.
//! Must not panic; both feeds must yield the same messages, the same error (if any) and the same
//! truncation count; no message is longer than `MAX_LINE`.
//!
//! Run with `make fuzz FUZZ_TARGETS=log_framing` (see docs/fuzzing.md).

#![no_main]

use std::sync::Arc;

use ironpost_log_pipeline::source::framing::Framer;
use ironpost_log_pipeline::source::{Batch, MAX_LINE};
use libfuzzer_sys::fuzz_target;

/// The messages, the error text if the stream was ended by one, and the truncation count.
fn frame(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>, u64) {
    let mut framer = Framer::default();
    let mut out = Batch::new("fuzz", Arc::from("fuzz"));
    let mut error = None;
    for p in pieces {
        if let Err(e) = framer.feed(p, &mut out) {
            error = Some(e.to_string());
            break;
        }
    }
    if error.is_none() {
        framer.finish(&mut out);
    }
    let lines: Vec<Vec<u8>> = out.lines().map(<[u8]>::to_vec).collect();
    (lines, error, framer.truncated)
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, data)) = data.split_first() else {
        return;
    };
    let whole = frame(&[data]);
    for line in &whole.0 {
        assert!(line.len() <= MAX_LINE);
    }
    let chunk = usize::from(k % 64) + 1;
    let pieces: Vec<&[u8]> = data.chunks(chunk).collect();
    let split = frame(&pieces);
    assert_eq!(whole, split, "chunk size {chunk}");
});
