//! Fuzz target: one `journalctl -o json` line. Must not panic; a journal record's message is at
//! most 64 KiB; an entry is authenticated only with a single-valued identifier equal to the
//! file name of a trusted `_EXE`; the cursor scan only returns cursor-shaped text.
//!
//! Run with `make fuzz FUZZ_TARGETS=log_journal` (see docs/fuzzing.md).

#![no_main]

use ironpost_log_pipeline::parse::{
    Format, JournalTrust, ParseContext, cursor_of, journal::valid_cursor, parse_journal_entry,
};
use ironpost_log_pipeline::source::MAX_LINE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let trust = JournalTrust {
        exes: vec!["/usr/sbin/sshd".into()],
        uids: vec![0],
        units: vec![],
    };
    let e = parse_journal_entry(data, &ctx, &trust);
    if e.record.format == Format::Journal {
        assert!(e.record.message.len() <= MAX_LINE);
    }
    if e.authenticated {
        assert_eq!(e.record.app.as_deref(), Some("sshd"));
        assert_eq!(e.record.structured.get("_EXE"), Some("/usr/sbin/sshd"));
        assert_eq!(e.record.structured.get("_UID"), Some("0"));
    }
    let _ = e.record.auth();
    if let Some(c) = cursor_of(data) {
        assert!(valid_cursor(c));
    }
});
