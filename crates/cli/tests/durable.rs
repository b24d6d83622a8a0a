//! Durability end to end, on the real daemon: a file position is committed only once the alerts
//! of the lines before it are stored, so `kill -9` at random points of an ingest with alerts
//! firing loses no alert and stores none twice (deterministic ids); a checkpoint zeroed as by a
//! power loss is reported, counted and replayed from the start without duplicates; and with the
//! SQLite database on a full filesystem the responder still blocks (it never waits on the store).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::smallfs::SmallFs;
use common::{
    ATTACKER_IP, Daemon, GrowingLog, Lab, PER_LINE_RULE, blocks, lab_get, metric_sum, run,
    start_in_victim, submit_alert, text, wait_for, write_rule,
};

fn rules_dir(dir: &Path) -> String {
    write_rule(dir, "ssh_failed_password.yaml", PER_LINE_RULE)
}

/// Line `i` of the generated auth.log: every fourth one is a failed password (an alert).
fn line(i: usize) -> String {
    let (mm, ss) = ((i / 60) % 60, i % 60);
    let (a, b, port) = (i % 200, 1 + i % 250, 1024 + i % 60000);
    if i.is_multiple_of(4) {
        format!(
            "Nov 20 10:{mm:02}:{ss:02} web1 sshd[{i}]: Failed password for root from 198.18.{a}.{b} port {port} ssh2\n"
        )
    } else {
        format!(
            "Nov 20 10:{mm:02}:{ss:02} web1 sshd[{i}]: Connection closed by 198.18.{a}.{b} port {port} [preauth]\n"
        )
    }
}

/// The alerts of the per-line rule in the store (ids).
fn stored_alert_ids(d: &Daemon) -> Vec<String> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    all.iter()
        .filter(|a| a["rule_id"] == "ssh_failed_password")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The committed offset of the only file in the checkpoint file, if there is one.
fn committed(checkpoints: &Path) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoints).ok()?).ok()?;
    v.as_array()?.first()?[1]["committed"].as_u64()
}

/// The alerts a recount of the file expects.
fn recount(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("Failed password"))
        .count()
}

fn pipeline_env(log: &str, rules: &str, start_at: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("IRONPOST_LOG_PIPELINE_ENABLED", "true".into()),
        ("IRONPOST_LOG_PIPELINE_SOURCES", "file".into()),
        ("IRONPOST_LOG_PIPELINE_WATCH_PATHS", log.into()),
        ("IRONPOST_LOG_PIPELINE_FILE_START_AT", start_at.into()),
        ("IRONPOST_LOG_PIPELINE_RULES_DIR", rules.into()),
        (
            "IRONPOST_LOG_PIPELINE_ALERTING_DEDUP_WINDOW_SECS",
            "0".into(),
        ),
        (
            "IRONPOST_LOG_PIPELINE_ALERTING_RATE_LIMIT_PER_MIN",
            "0".into(),
        ),
        // Replaying a backlog raises alerts faster than SQLite writes them: `block` makes the
        // pipeline wait instead of dropping (a dropped record would hold the position back until
        // the next restart, which these tests do not do after the last run).
        ("IRONPOST_LOG_PIPELINE_STORAGE_WHEN_FULL", "block".into()),
    ]
}

fn start(dir: tempfile::TempDir, env: &[(&'static str, String)]) -> Daemon {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::start_in(dir, &["--defaults"], &env)
}

/// A small xorshift generator: the kill points vary from run to run; the seed is printed so a
/// failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn kill_9_at_random_points_then_every_alert_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let checkpoints = dir.path().join("data/log_pipeline/checkpoints.json");
    let seed = std::env::var("IRONPOST_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill points from IRONPOST_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    // The log grows (100 lines every 10 ms) until the last kill, so every kill lands mid-ingest
    // with alerts in flight.
    let writer = GrowingLog::start(&log, 100, line);
    let env = pipeline_env(&log.display().to_string(), &rules, "beginning");
    let mut dir = dir;
    for round in 0..3 {
        let mut d = start(dir, &env);
        let wait = 200 + rng.next(1500);
        eprintln!("round {round}: kill -9 after {wait} ms");
        std::thread::sleep(std::time::Duration::from_millis(wait));
        d.signal("KILL");
        d.child.take().unwrap().wait().unwrap();
        dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    }
    writer.stop();
    let len = std::fs::metadata(&log).unwrap().len();
    let expected = recount(&log);
    assert!(expected > 0);

    let d = start(dir, &env);
    // The whole file committed: every alert of every line acknowledged as stored.
    wait_for(300, "the checkpoint to reach the end of the file", || {
        (committed(&checkpoints)? == len).then_some(())
    });
    let mut ids = stored_alert_ids(&d);
    assert_eq!(ids.len(), expected, "one alert per failed-password line");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no alert id twice");
    let (_, m) = d.get("/metrics");
    assert_eq!(metric_sum(&m, "ironpost_log_source_ack_failed_total"), 0);
}

#[test]
fn a_zeroed_checkpoint_is_reported_counted_and_replayed_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let log = dir.path().join("auth.log");
    let total = 2000;
    std::fs::write(&log, (0..total).map(line).collect::<String>()).unwrap();
    let len = std::fs::metadata(&log).unwrap().len();
    let expected = recount(&log);
    let checkpoints = dir.path().join("data/log_pipeline/checkpoints.json");
    let log_s = log.display().to_string();
    let mut d = start(dir, &pipeline_env(&log_s, &rules, "beginning"));
    wait_for(120, "the whole file committed", || {
        (committed(&checkpoints)? == len).then_some(())
    });
    assert_eq!(stored_alert_ids(&d).len(), expected);
    assert!(d.stop().success());

    // A power loss after a rename whose data never reached the disk leaves an empty file.
    std::fs::write(&checkpoints, "").unwrap();
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    // `start_at = end` would skip the file: a damaged checkpoint restarts from the start instead.
    let d = start(dir, &pipeline_env(&log_s, &rules, "end"));
    let m = wait_for(120, "the full replay", || {
        let (_, m) = d.get("/metrics");
        (metric_sum(&m, "ironpost_log_parsed_total") >= total as u64).then_some(m)
    });
    assert_eq!(metric_sum(&m, "ironpost_log_checkpoint_corrupt_total"), 1);
    assert_eq!(metric_sum(&m, "ironpost_log_parsed_total"), total as u64);
    let log_text = d.log();
    assert!(
        log_text.contains("file checkpoints damaged")
            && log_text.contains(&checkpoints.display().to_string()),
        "{log_text}"
    );
    let aside = checkpoints.with_file_name("checkpoints.json.corrupt");
    assert_eq!(std::fs::read(&aside).unwrap(), b"");
    wait_for(120, "the whole file committed again", || {
        (committed(&checkpoints)? == len).then_some(())
    });
    // Replayed, not stored twice.
    let mut ids = stored_alert_ids(&d);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected);
    assert_eq!(stored_alert_ids(&d).len(), expected);
}

#[test]
fn with_sqlite_on_a_full_filesystem_the_responder_still_blocks() {
    let lab = Lab::new("dfull");
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallFs::mount(&dir.path().join("db"), "4m");
    let db = fs.0.join("ironpost.db").display().to_string();
    let d = start_in_victim(
        &lab,
        dir,
        &[
            ("IRONPOST_RESPONSE_ENABLED", "true"),
            ("IRONPOST_LOG_PIPELINE_STORAGE_SQLITE_PATH", &db),
            ("IRONPOST_LOG_PIPELINE_STORAGE_QUEUE_CAPACITY", "16"),
            ("IRONPOST_LOG_PIPELINE_STORAGE_WRITE_BATCH_SIZE", "8"),
        ],
    );
    fs.fill();
    // Alerts (not blocking: forgeable) that SQLite cannot write: the writer retries, the queue
    // fills, further records are dropped and counted.
    let padding = "x".repeat(8 * 1024);
    let mut c = d.cli();
    c.args(["alerts", "submit", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..400 {
            let a = serde_json::json!({
                "severity": "low", "source": "external", "rule_id": "filler",
                "title": format!("filler {i}"), "description": padding,
                "entities": {"src_ip": format!("198.18.9.{}", 1 + i % 200)},
                "evidence": "forgeable",
            });
            writeln!(stdin, "{a}").unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    wait_for(60, "SQLite write failures and dropped records", || {
        let (_, m) = lab_get(&lab, &d, "/metrics");
        (metric_sum(&m, "ironpost_store_write_errors_total") > 0
            && metric_sum(&m, "ironpost_store_queue_dropped_total") > 0)
            .then_some(())
    });
    // The store is stalled; a verified alert still blocks the attacker.
    let alert = serde_json::json!({
        "severity": "high", "source": "external", "rule_id": "ssh_brute_force",
        "title": "SSH brute force", "entities": {"src_ip": ATTACKER_IP},
        "evidence": "verified",
    });
    submit_alert(&d, &alert);
    wait_for(30, "the attacker blocked", || {
        blocks(&d)
            .iter()
            .any(|b| b["cidr"] == ATTACKER_IP)
            .then_some(())
    });
    assert!(!lab.ping(), "the attacker's packets are dropped");
    let (_, m) = lab_get(&lab, &d, "/metrics");
    assert!(
        metric_sum(&m, "ironpost_store_write_errors_total") > 0,
        "{m}"
    );
    drop(d);
    drop(fs);
}
