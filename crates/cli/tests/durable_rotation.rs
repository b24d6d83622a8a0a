//! Files that change while the daemon is down, on the real daemon: rotation by rename (the rest
//! of the old file and the whole new one are ingested), an inode reused by another file (the
//! fingerprint no longer matches: the new file is read from its start) and copytruncate (the file
//! emptied in place and refilled past the committed offset). Every alert is stored exactly once.
//! The file source's identity rules are in `crates/log-pipeline/src/source/file.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Daemon, PER_LINE_RULE, run, text, wait_for, write_rule};

fn rules_dir(dir: &Path) -> String {
    write_rule(dir, "ssh_failed_password.yaml", PER_LINE_RULE)
}

/// Line `i`: every third one is a failed password (an alert). Lines of different `i` differ, so
/// files generated from disjoint ranges differ from their first byte.
fn line(i: usize) -> String {
    let (a, b, port) = (i % 200, 1 + i % 250, 1024 + i % 60000);
    if i.is_multiple_of(3) {
        format!(
            "Nov 21 11:00:00 web1 sshd[{i}]: Failed password for root from 198.18.{a}.{b} port {port} ssh2\n"
        )
    } else {
        format!(
            "Nov 21 11:00:00 web1 sshd[{i}]: Connection closed by 198.18.{a}.{b} port {port} [preauth]\n"
        )
    }
}

fn lines(range: std::ops::Range<usize>) -> String {
    range.map(line).collect()
}

fn expected(range: std::ops::Range<usize>) -> usize {
    range.filter(|i| i.is_multiple_of(3)).count()
}

fn env(watch: &str, rules: &str) -> Vec<(&'static str, String)> {
    vec![
        ("IRONPOST_LOG_PIPELINE_ENABLED", "true".into()),
        ("IRONPOST_LOG_PIPELINE_SOURCES", "file".into()),
        ("IRONPOST_LOG_PIPELINE_WATCH_PATHS", watch.into()),
        ("IRONPOST_LOG_PIPELINE_FILE_START_AT", "beginning".into()),
        ("IRONPOST_LOG_PIPELINE_RULES_DIR", rules.into()),
        (
            "IRONPOST_LOG_PIPELINE_ALERTING_DEDUP_WINDOW_SECS",
            "0".into(),
        ),
        (
            "IRONPOST_LOG_PIPELINE_ALERTING_RATE_LIMIT_PER_MIN",
            "0".into(),
        ),
        ("IRONPOST_LOG_PIPELINE_STORAGE_WHEN_FULL", "block".into()),
    ]
}

fn start(dir: tempfile::TempDir, env: &[(&'static str, String)]) -> Daemon {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::start_in(dir, &["--defaults"], &env)
}

/// Stops the daemon cleanly and hands its directory back.
fn stop(mut d: Daemon) -> tempfile::TempDir {
    assert!(d.stop().success(), "{}", d.log());
    std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap())
}

/// Committed offsets of the checkpoint file, by inode.
fn committed_by_inode(checkpoints: &Path) -> HashMap<u64, u64> {
    let Ok(bytes) = std::fs::read(checkpoints) else {
        return HashMap::new();
    };
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_slice(&bytes) else {
        return HashMap::new();
    };
    entries
        .iter()
        .filter_map(|e| Some((e[0]["ino"].as_u64()?, e[1]["committed"].as_u64()?)))
        .collect()
}

/// Waits until every file of `paths` is committed to its end (all its alerts stored).
fn wait_committed(checkpoints: &Path, paths: &[&Path]) {
    let want: Vec<(u64, u64)> = paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).unwrap();
            (m.ino(), m.len())
        })
        .collect();
    wait_for(120, &format!("{paths:?} committed to their ends"), || {
        let got = committed_by_inode(checkpoints);
        want.iter()
            .all(|(ino, len)| got.get(ino) == Some(len))
            .then_some(())
    });
}

/// The per-line rule's alerts in the store: (count, distinct ids).
fn stored(d: &Daemon) -> (usize, usize) {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut ids: Vec<&str> = all
        .iter()
        .filter(|a| a["rule_id"] == "ssh_failed_password")
        .filter_map(|a| a["id"].as_str())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    (n, ids.len())
}

struct Setup {
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
    checkpoints: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

/// A daemon that ingested `first` lines of `auth.log` to the end, stopped cleanly.
fn ingested_then_stopped(watch_glob: bool, first: std::ops::Range<usize>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("auth.log");
    std::fs::write(&log, lines(first.clone())).unwrap();
    let checkpoints = dir.path().join("data/log_pipeline/checkpoints.json");
    let watch = if watch_glob {
        logs.join("auth.log*")
    } else {
        log.clone()
    };
    let env = env(&watch.display().to_string(), &rules);
    let d = start(dir, &env);
    wait_committed(&checkpoints, &[&log]);
    assert_eq!(stored(&d), (expected(first.clone()), expected(first)));
    Setup {
        dir: stop(d),
        log,
        checkpoints,
        env,
    }
}

#[test]
fn a_rotation_while_down_ingests_the_rest_of_the_old_file_and_all_of_the_new_one() {
    let s = ingested_then_stopped(true, 0..900);
    // While the daemon is down: the old file grows, is renamed away, and a new one is created.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&s.log)
        .unwrap();
    std::io::Write::write_all(&mut f, lines(900..1500).as_bytes()).unwrap();
    drop(f);
    let rotated = s.log.with_file_name("auth.log.1");
    std::fs::rename(&s.log, &rotated).unwrap();
    std::fs::write(&s.log, lines(1500..2200)).unwrap();

    let d = start(s.dir, &s.env);
    wait_committed(&s.checkpoints, &[&rotated, &s.log]);
    let want = expected(0..2200);
    assert_eq!(
        stored(&d),
        (want, want),
        "the old file's rest and the new file, each alert once"
    );
}

#[test]
fn an_inode_reused_while_down_is_read_from_its_start() {
    let s = ingested_then_stopped(false, 0..900);
    let old = std::fs::metadata(&s.log).unwrap();
    let old_len = old.len();
    std::fs::remove_file(&s.log).unwrap();
    // Files are created until one gets the freed inode (ext4 and xfs hand it out again at once);
    // the new content is longer than the committed offset, so only the fingerprint tells.
    let dir = s.log.parent().unwrap();
    let mut reused = None;
    for n in 0..2000 {
        let p = dir.join(format!("candidate{n}"));
        std::fs::write(&p, "").unwrap();
        if std::fs::metadata(&p).unwrap().ino() == old.ino() {
            reused = Some(p);
            break;
        }
    }
    let reused = reused.expect("the filesystem of the temporary directory reused the inode");
    std::fs::write(&reused, lines(5000..6200)).unwrap();
    std::fs::rename(&reused, &s.log).unwrap();
    let new = std::fs::metadata(&s.log).unwrap();
    assert_eq!((new.dev(), new.ino()), (old.dev(), old.ino()));
    assert!(new.len() > old_len);

    let d = start(s.dir, &s.env);
    wait_committed(&s.checkpoints, &[&s.log]);
    let want = expected(0..900) + expected(5000..6200);
    assert_eq!(
        stored(&d),
        (want, want),
        "every alert of the new file, from its first line"
    );
}

#[test]
fn a_copytruncate_while_down_reads_the_refilled_file_from_its_start() {
    let s = ingested_then_stopped(false, 0..900);
    let old = std::fs::metadata(&s.log).unwrap();
    // copytruncate: the content is copied away, the file emptied in place (same inode) and
    // written again, past the old committed offset, before the daemon is back.
    std::fs::copy(&s.log, s.log.with_file_name("auth.log.1")).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&s.log)
        .unwrap();
    f.set_len(0).unwrap();
    drop(f);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&s.log)
        .unwrap();
    std::io::Write::write_all(&mut f, lines(3000..4300).as_bytes()).unwrap();
    drop(f);
    let new = std::fs::metadata(&s.log).unwrap();
    assert_eq!(new.ino(), old.ino());
    assert!(new.len() > old.len());

    let d = start(s.dir, &s.env);
    wait_committed(&s.checkpoints, &[&s.log]);
    let want = expected(0..900) + expected(3000..4300);
    assert_eq!(
        stored(&d),
        (want, want),
        "every alert of the refilled file, from its first line"
    );
}
