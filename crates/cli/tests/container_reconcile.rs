//! Isolations reconciled against the real dockerd (started by `scripts/services.sh`): a manual
//! `docker unpause` or `docker network connect` is undone again, counted and recorded as an
//! action; `on_undone = "report"` only reports, once per episode; a restore through the CLI is
//! not taken for an undone isolation; a removed container loses its record; a zeroed
//! `isolations.json` at start is reported (file named, counted, moved aside) and the paused
//! containers are adopted from Docker's state. The dockerd restart case is in `container.rs`
//! (`guard_reconnects_after_dockerd_restarts…`), on a private dockerd.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::docker::{Ctr, IMAGE, Net, docker, ensure_image, write_policy};
use common::{Daemon, actions_for, run, submit_alert, text, wait_for};
use serde_json::{Value, json};

fn tag(s: &str) -> String {
    format!("iprc{}-{s}", std::process::id())
}

fn policies(prefix: &str) -> String {
    format!(
        r#"
[[policy]]
name = "pause_p"
priority = 10
severity_threshold = "high"
filters.container_names = ["{prefix}-p-*"]
filters.image_patterns = ["{IMAGE}*"]
action = "pause"

[[policy]]
name = "disconnect_n"
priority = 20
severity_threshold = "high"
filters.container_names = ["{prefix}-n-*"]
action = "network_disconnect"
"#
    )
}

fn start(dir: tempfile::TempDir, policy_dir: &Path, extra: &[(&str, &str)]) -> Daemon {
    let policy_dir = policy_dir.display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("IRONPOST_CONTAINER_ENABLED", "true"),
        ("IRONPOST_CONTAINER_POLICY_PATH", &policy_dir),
        ("IRONPOST_CONTAINER_AUTO_ISOLATE", "true"),
        ("IRONPOST_CONTAINER_ACTION_TIMEOUT_SECS", "4"),
        ("IRONPOST_CONTAINER_RETRY_MAX_ATTEMPTS", "2"),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start_in(dir, &["--defaults"], &env);
    // Healthy, or degraded only because the state file was found damaged (one test does that).
    wait_for(30, "the container guard to be healthy", || {
        let g = guard_health(&d)?;
        (g["status"] == "healthy"
            || g["reason"]
                .as_str()
                .is_some_and(|r| r.contains("was damaged")))
        .then_some(())
    });
    d
}

fn guard_health(d: &Daemon) -> Option<Value> {
    let (_, body) = d.get("/health");
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(v["modules"]["container_guard"].clone())
}

fn named(name: &str) -> Value {
    json!({
        "severity": "high", "source": "external", "rule_id": "test_reconcile",
        "title": "attack from a container", "entities": {"container": {"name": name}}
    })
}

/// The value of one series (`name{labels}`), 0 when absent.
fn metric(d: &Daemon, series: &str) -> u64 {
    let (_, body) = d.get("/metrics");
    let prefix = format!("{series} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Completed reconciliation passes, whatever woke them.
fn passes(d: &Daemon) -> u64 {
    ["event", "interval", "connect"]
        .iter()
        .map(|t| {
            metric(
                d,
                &format!("ironpost_container_guard_reconciles_total{{trigger=\"{t}\"}}"),
            )
        })
        .sum()
}

/// Waits until a reconciliation pass that started after this call has finished. Passes run one
/// at a time and need a wake-up: an `exec` in `kick` (a running container) is a Docker event.
/// Twice, because the first pass seen ending may have started before the call.
fn next_pass(d: &Daemon, kick: &str) {
    for _ in 0..2 {
        let before = passes(d);
        docker(&["exec", kick, "true"]);
        wait_for(30, "a reconciliation pass", || {
            (passes(d) > before).then_some(())
        });
    }
}

fn wait_action(d: &Daemon, alert_id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(30, what, || actions_for(d, alert_id).into_iter().find(&f))
}

fn cli_ok(d: &Daemon, args: &[&str]) -> String {
    let o = run(d.cli().args(args));
    assert!(
        o.status.success(),
        "ironpost-cli {args:?} failed: {}{}\n--- daemon log ---\n{}",
        text(&o.stdout),
        text(&o.stderr),
        d.log()
    );
    text(&o.stdout)
}

fn is_reconcile(a: &Value, action_type: &str, outcome: &str) -> bool {
    a["action_type"] == action_type
        && a["outcome"] == outcome
        && a["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("reconcile: ")
}

#[test]
fn undone_isolations_are_reapplied_counted_and_recorded_and_a_restore_is_not_undone() {
    ensure_image();
    let prefix = tag("re");
    let subnet = format!("198.19.{}.0/24", std::process::id() % 100);
    let net = Net::create(&tag("renet"), &subnet);
    let ip = subnet.replace(".0/24", ".20");
    let p = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let n = Ctr::run(
        None,
        &format!("{prefix}-n-1"),
        &["--network", &net.0, "--ip", &ip],
    );
    let gone = Ctr::run(None, &format!("{prefix}-p-2"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    // A long interval: what follows is driven by Docker's events alone.
    let d = start(
        dir,
        &pol,
        &[("IRONPOST_CONTAINER_RECONCILE_INTERVAL_SECS", "3600")],
    );

    let a_p = submit_alert(&d, &named(&p.name));
    let a_n = submit_alert(&d, &named(&n.name));
    let a_gone = submit_alert(&d, &named(&gone.name));
    for a in [&a_p, &a_n, &a_gone] {
        wait_action(&d, a, "the isolation", |a| a["outcome"] == "success");
    }
    assert_eq!(p.status(), "paused");
    assert!(n.networks().is_empty());

    // Undone by hand: unpaused, reconnected.
    docker(&["unpause", &p.name]);
    docker(&["network", "connect", &net.0, &n.name]);
    let ev = wait_action(&d, &a_p, "the pause re-applied", |a| {
        is_reconcile(a, "container_pause", "success")
    });
    assert!(
        ev["detail"]
            .as_str()
            .unwrap()
            .contains("pause undone (container running, not paused); re-applied"),
        "{ev}"
    );
    p.wait_status("paused", 30);
    let ev = wait_action(&d, &a_n, "the disconnect re-applied", |a| {
        is_reconcile(a, "container_network_disconnect", "success")
    });
    assert!(
        ev["detail"].as_str().unwrap().contains(&net.0),
        "names the network it was reconnected to: {ev}"
    );
    assert!(n.networks().is_empty(), "{:?}", n.networks());
    for series in [
        "ironpost_isolation_undone_total{action=\"pause\",outcome=\"reapplied\"}",
        "ironpost_isolation_undone_total{action=\"network_disconnect\",outcome=\"reapplied\"}",
    ] {
        assert_eq!(metric(&d, series), 1, "{series}\n{}", d.log());
    }

    // A removed container loses its record.
    drop(gone);
    wait_for(30, "the removed container's record to be dropped", || {
        (metric(
            &d,
            "ironpost_container_guard_isolations_dropped_total{reason=\"container_gone\"}",
        ) == 1)
            .then_some(())
    });
    let listed: Vec<Value> =
        serde_json::from_str(&cli_ok(&d, &["isolate", "list", "--output", "json"])).unwrap();
    let mut names: Vec<&str> = listed
        .iter()
        .map(|i| i["container_name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [n.name.as_str(), p.name.as_str()]);
    // Still the network it had before the guard's first disconnect, with its address.
    let n_rec = listed
        .iter()
        .find(|i| i["container_name"] == n.name.as_str());
    assert_eq!(n_rec.unwrap()["networks"][0]["network"], net.0.as_str());

    // A restore is not an undone isolation: after the passes its events cause, both stay restored.
    cli_ok(&d, &["restore", &p.name]);
    cli_ok(&d, &["restore", &n.name]);
    next_pass(&d, &p.name);
    assert_eq!(p.status(), "running");
    assert_eq!(n.networks(), [(net.0.clone(), ip.clone())]);
    let undone: u64 = ["pause", "network_disconnect"]
        .iter()
        .map(|a| {
            metric(
                &d,
                &format!("ironpost_isolation_undone_total{{action=\"{a}\",outcome=\"reapplied\"}}"),
            )
        })
        .sum();
    assert_eq!(undone, 2, "{}", d.log());
    assert!(cli_ok(&d, &["isolate", "list"]).contains("no isolated containers"));
}

#[test]
fn on_undone_report_records_the_undone_isolation_once_and_leaves_the_container() {
    ensure_image();
    let prefix = tag("rp");
    let p = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(
        dir,
        &pol,
        &[
            ("IRONPOST_CONTAINER_ON_UNDONE", "report"),
            ("IRONPOST_CONTAINER_RECONCILE_INTERVAL_SECS", "1"),
        ],
    );
    let a = submit_alert(&d, &named(&p.name));
    wait_action(&d, &a, "the pause", |a| a["outcome"] == "success");
    docker(&["unpause", &p.name]);
    let ev = wait_action(&d, &a, "the undone pause reported", |a| {
        is_reconcile(a, "container_pause", "dry_run")
    });
    assert!(
        ev["detail"]
            .as_str()
            .unwrap()
            .contains("on_undone = report: not re-applied"),
        "{ev}"
    );
    // Several periodic passes later: still running, still one report.
    let interval = "ironpost_container_guard_reconciles_total{trigger=\"interval\"}";
    let before = metric(&d, interval);
    wait_for(30, "three periodic passes", || {
        (metric(&d, interval) >= before + 3).then_some(())
    });
    assert_eq!(p.status(), "running");
    let reports = actions_for(&d, &a)
        .into_iter()
        .filter(|a| is_reconcile(a, "container_pause", "dry_run"))
        .count();
    assert_eq!(reports, 1);
    assert_eq!(
        metric(
            &d,
            "ironpost_isolation_undone_total{action=\"pause\",outcome=\"reported\"}"
        ),
        1
    );
    // The guard still holds it: `isolate list` shows it, `restore` clears it.
    assert!(cli_ok(&d, &["isolate", "list"]).contains(&p.name));
    cli_ok(&d, &["restore", &p.name]);
    assert!(cli_ok(&d, &["isolate", "list"]).contains("no isolated containers"));
}

#[test]
fn a_zeroed_state_file_at_start_is_reported_counted_and_paused_containers_are_recovered() {
    ensure_image();
    let prefix = tag("zero");
    let p = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    docker(&["pause", &p.name]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("data/container-guard/isolations.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    // What a power loss leaves on a filesystem that wrote the size before the data.
    std::fs::write(&state, vec![0u8; 4096]).unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(dir, &pol, &[]);

    assert_eq!(
        metric(&d, "ironpost_container_guard_state_corrupt_total"),
        1
    );
    let log = d.log();
    let warning = log
        .lines()
        .find(|l| l.contains("isolation state damaged"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(
        warning.contains(&*state.display().to_string()) && warning.contains("not valid JSON"),
        "{warning}"
    );
    assert_eq!(
        std::fs::read(state.with_extension("json.corrupt")).unwrap(),
        vec![0u8; 4096],
        "the damaged file is kept aside"
    );
    // Health says so (isolations that were stops or disconnects may be lost) until a reload.
    let g = guard_health(&d).unwrap();
    assert_eq!(g["status"], "degraded", "{g}");
    let reason = g["reason"].as_str().unwrap();
    assert!(
        reason.contains(&*state.display().to_string()) && reason.contains("json.corrupt"),
        "{reason}"
    );
    // The paused container is adopted once the guard has talked to Docker.
    let rec = wait_for(30, "the paused container to be recovered", || {
        let listed: Vec<Value> =
            serde_json::from_str(&cli_ok(&d, &["isolate", "list", "--output", "json"])).ok()?;
        listed
            .into_iter()
            .find(|i| i["container_name"] == p.name.as_str())
    });
    assert_eq!(rec["cause"], "recovered");
    assert_eq!(rec["actions"], json!(["pause"]));
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(
        on_disk
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["container_name"] == p.name.as_str()),
        "{on_disk}"
    );
    // Not known to be the guard's doing: released by hand, it is reported and forgotten, not
    // paused again.
    docker(&["unpause", &p.name]);
    wait_for(30, "the recovered isolation to be released", || {
        (metric(
            &d,
            "ironpost_container_guard_isolations_dropped_total{reason=\"released\"}",
        ) >= 1)
            .then_some(())
    });
    next_pass(&d, &p.name);
    assert_eq!(p.status(), "running");
    assert!(!cli_ok(&d, &["isolate", "list"]).contains(&p.name));
    cli_ok(&d, &["reload"]);
    assert_eq!(guard_health(&d).unwrap()["status"], "healthy");
}
