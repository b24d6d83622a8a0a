//! Fuzz target: kernel process records as sample lines (`@process_creation {json}` …, the form
//! `rules test --dir` reads from a rule directory's `tests/`), each through the library's process
//! rules. Input: lines of text, at most 64 read.
//!
//! Asserts: a line over 16 KiB is refused; a record's message is built from its fields only
//! (bounded by the line); the prefiltered match equals the exhaustive one.
//!
//! Run with `make fuzz FUZZ_TARGETS=process_sample` (see docs/fuzzing.md).

#![no_main]

use std::sync::OnceLock;

use ironpost_log_pipeline::FieldSource;
use ironpost_log_pipeline::rules::{RuleSet, load_str};
use ironpost_log_pipeline::source::process::ProcessRecord;
use libfuzzer_sys::fuzz_target;

const RULES: [&str; 6] = [
    include_str!("../../rules/proc_reverse_shell.yaml"),
    include_str!("../../rules/proc_web_server_shell.yaml"),
    include_str!("../../rules/proc_download_pipe_shell.yaml"),
    include_str!("../../rules/crontab_edited.yaml"),
    include_str!("../../rules/cron_file_written.yaml"),
    include_str!("../../rules/net_mining_pool_port.yaml"),
];

const FIELDS: [&str; 22] = [
    "message", "format", "process", "Image", "CommandLine", "ParentImage",
    "ParentCommandLine", "user", "User", "uid", "CurrentDirectory", "pid", "ProcessId",
    "ParentProcessId", "TargetFilename", "DestinationIp", "DestinationPort", "Initiated",
    "Protocol", "container_id", "container_name", "container_image",
];

fn rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let rules = RULES
            .iter()
            .flat_map(|t| load_str(t, None).rules)
            .collect::<Vec<_>>();
        assert_eq!(rules.len(), RULES.len(), "the library's process rules load");
        RuleSet::compile(rules).expect("the library's process rules compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(64) {
        let Some(parsed) = ProcessRecord::from_sample(line) else {
            continue;
        };
        let Ok(rec) = parsed else {
            continue;
        };
        assert!(line.len() <= 16 * 1024 + 64, "an over-long line was accepted");
        assert!(
            rec.message().len() <= 2 * line.len() + 128,
            "message longer than its fields allow"
        );
        for f in FIELDS {
            let _ = rec.field(f);
        }
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        rules().matches(&rec, &mut fast);
        rules().matches_exhaustive(&rec, &mut slow);
        let ids = |v: &[&ironpost_log_pipeline::Rule]| {
            v.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&fast), ids(&slow), "prefilter disagrees with exhaustive matching");
    }
});
