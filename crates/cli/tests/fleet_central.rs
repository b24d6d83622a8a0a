//! Fleet mode's central view with real components: a 3-node NATS JetStream cluster on loopback
//! ports, three agents with XDP on their own veth pairs and a central daemon. Every agent's
//! alerts reach the central's store once, through a NATS node loss and central outages, on the
//! file store and on PostgreSQL. Shared helpers: `common/fleet.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use common::Daemon;
use common::fleet::{NatsNode, Wire, agent, cli_ok, cluster, fleet_lines, metric, metric_with};
use common::{run, submit_alert, text, wait_for};

/// Submits `n` alerts of rule `rule` to `d` in one `alerts submit` call; returns their ids.
fn submit_many(d: &Daemon, rule: &str, n: usize) -> Vec<String> {
    use std::io::Write;
    let alerts: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "severity": "high", "source": "external", "rule_id": rule,
                "title": format!("central test {i}"),
            })
        })
        .collect();
    let mut c = d.cli();
    c.args(["alerts", "submit", "--output", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let body = serde_json::to_string(&alerts).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "submit: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// The central's stored alerts of `rule` (all nodes, or `node`'s), as JSON rows.
fn central_alerts(d: &Daemon, rule: &str, node: Option<&str>) -> Vec<serde_json::Value> {
    let mut c = d.cli();
    c.args([
        "alerts", "list", "--output", "json", "--limit", "100000", "--rule", rule,
    ]);
    if let Some(n) = node {
        c.args(["--node", n]);
    }
    let o = run(&mut c);
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Waits until the central holds exactly the alerts `ids` of `rule` (each once, from `node`).
fn central_holds(d: &Daemon, rule: &str, node: &str, ids: &[String], agents: &[&Daemon]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let rows = central_alerts(d, rule, Some(node));
        let mut got: Vec<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
        got.sort_unstable();
        let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert!(
            rows.iter().all(|r| r["node"] == node),
            "rows of another node under --node {node}"
        );
        if got == want {
            return;
        }
        assert!(
            got.len() <= want.len() && got.iter().all(|g| want.binary_search(g).is_ok()),
            "the central holds alerts it should not: {} of {} ({rule}, {node})",
            got.len(),
            want.len()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the central holds {} of {} alerts of {rule} from {node}\ncentral: {}\n{}",
            got.len(),
            want.len(),
            fleet_lines(d),
            agents
                .iter()
                .map(|a| fleet_lines(a))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Three agents and a central (its store: SQLite, or PostgreSQL at `pg`): an alert and an
/// action on agent A are listed once by the central under A's name; alerts made while a NATS
/// node dies and while the central is down all arrive, each once; an alert published again
/// after JetStream's duplicate window is still stored once.
fn central_scenario(pg: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = cluster(dir.path());
    let bucket = format!("ipt_central_{}", std::process::id());
    let wires: Vec<Wire> = (1..=4).map(Wire::new).collect();
    let urls: Vec<String> = nats.iter().map(NatsNode::url).collect();
    let rotated = |k: usize| {
        let mut u = urls.clone();
        u.rotate_left(k % 3);
        u.join(",")
    };
    // A 2 s duplicate window: retries during the NATS node's loss may be stored twice by
    // JetStream, and the central's store must still keep one row each.
    let common = [
        ("IRONPOST_FLEET_EVENTS_MAX_BYTES", "67108864"),
        ("IRONPOST_FLEET_DUPLICATE_WINDOW_SECS", "2"),
    ];
    let a = agent("ipt-a", &wires[0], &rotated(0), &bucket, &common);
    let b = agent("ipt-b", &wires[1], &rotated(1), &bucket, &common);
    let c = agent("ipt-c", &wires[2], &rotated(2), &bucket, &common);
    let mut central_env = common.to_vec();
    central_env.push(("IRONPOST_FLEET_ROLE", "central"));
    if let Some(url) = pg {
        central_env.push(("IRONPOST_LOG_PIPELINE_STORAGE_POSTGRES_URL", url));
    }
    let mut d = agent("ipt-d", &wires[3], &rotated(3), &bucket, &central_env);
    let agents = [&a, &b, &c];

    // One alert on A: the central lists it once, under A's name; an operator block on A is an
    // action the central lists too.
    let id = submit_alert(
        &a,
        &serde_json::json!({"severity": "high", "source": "external",
            "rule_id": "ipt_central_one", "title": "one alert on A"}),
    );
    central_holds(
        &d,
        "ipt_central_one",
        "ipt-a",
        std::slice::from_ref(&id),
        &agents,
    );
    assert!(central_alerts(&d, "ipt_central_one", Some("ipt-b")).is_empty());
    let rows = central_alerts(&d, "ipt_central_one", None);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["id"].as_str(), &rows[0]["node"]),
        (Some(id.as_str()), &"ipt-a".into())
    );
    cli_ok(&a, &["block", "add", "198.18.33.1", "--ttl", "1h"]);
    wait_for(60, "A's ip_block action on the central", || {
        let o = run(d
            .cli()
            .args(["actions", "list", "--output", "json", "--node", "ipt-a"]));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        v.iter()
            .any(|x| x["action_type"] == "ip_block" && x["node"] == "ipt-a")
            .then_some(())
    });

    // The agents' heartbeats are in the central's store too (`fleet status --store`).
    wait_for(
        30,
        "the three agents' heartbeats in the central's store",
        || {
            let o = run(d
                .cli()
                .args(["fleet", "status", "--store", "--output", "json"]));
            let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
            let names: Vec<&str> = v.iter().filter_map(|n| n["node"].as_str()).collect();
            (names == ["ipt-a", "ipt-b", "ipt-c"]
                && v.iter().all(|n| {
                    n["role"] == "agent" && n["modules"].as_array().is_some_and(|m| !m.is_empty())
                }))
            .then_some(())
        },
    );

    // A NATS node dies while the three agents alert: nothing lost, nothing twice.
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); 3];
    for round in 0..4 {
        if round == 1 {
            nats[1].kill();
        }
        for (k, ag) in agents.iter().enumerate() {
            sent[k].extend(submit_many(ag, "ipt_central_kill", 50));
        }
    }
    for (k, name) in ["ipt-a", "ipt-b", "ipt-c"].iter().enumerate() {
        central_holds(&d, "ipt_central_kill", name, &sent[k], &agents);
    }
    nats[1].start();

    // The central is down while the agents alert; back up, it catches up, each alert once.
    assert!(d.stop().success());
    let home = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    drop(d);
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); 3];
    for (k, ag) in agents.iter().enumerate() {
        sent[k].extend(submit_many(ag, "ipt_central_down", 100));
    }
    let d = {
        let mut env: Vec<(&str, &str)> = central_env.clone();
        let iface = wires[3].host_if.clone();
        let urls = rotated(3);
        env.extend([
            ("IRONPOST_EBPF_ENABLED", "true"),
            ("IRONPOST_EBPF_INTERFACE", iface.as_str()),
            ("IRONPOST_EBPF_XDP_MODE", "skb"),
            ("IRONPOST_EBPF_PIN_PATH", ""),
            ("IRONPOST_FLEET_ENABLED", "true"),
            ("IRONPOST_FLEET_NATS_URLS", urls.as_str()),
            ("IRONPOST_FLEET_NODE_NAME", "ipt-d"),
            ("IRONPOST_FLEET_BUCKET", bucket.as_str()),
            ("IRONPOST_FLEET_REPLICAS", "3"),
        ]);
        Daemon::start_wrapped(home, &[], &["--defaults"], &env)
    };
    for (k, name) in ["ipt-a", "ipt-b", "ipt-c"].iter().enumerate() {
        central_holds(&d, "ipt_central_down", name, &sent[k], &agents);
    }
    // The first alert is still there once, from before the restart.
    assert_eq!(central_alerts(&d, "ipt_central_one", None).len(), 1);

    // The same alert (same id) submitted twice on A, 3 s apart: JetStream's 2 s window no
    // longer dedups it, so the central receives it twice and stores it once.
    let stored = |d: &Daemon| metric_with(d, "ironpost_fleet_ingested_total{outcome=\"stored\"}");
    let before = stored(&d);
    let same = serde_json::json!({"id": "0190f0f0-0000-7000-8000-00000000c0de",
        "severity": "high", "source": "external", "rule_id": "ipt_central_dup", "title": "twice"});
    submit_alert(&a, &same);
    std::thread::sleep(std::time::Duration::from_secs(3));
    submit_alert(&a, &same);
    wait_for(60, "both copies handled by the central", || {
        (stored(&d) >= before + 2).then_some(())
    });
    let rows = central_alerts(&d, "ipt_central_dup", None);
    assert_eq!(rows.len(), 1, "{rows:?}");

    // The text table names the node of each row when several are listed.
    let o = run(d.cli().args(["alerts", "list", "--limit", "1000"]));
    let table = text(&o.stdout);
    assert!(table.lines().next().unwrap().starts_with("NODE"), "{table}");
    for n in ["ipt-a", "ipt-b", "ipt-c"] {
        assert!(table.contains(n), "{table}");
    }
    assert_eq!(metric(&d, "ironpost_fleet_ingest_invalid_total"), 0);
    assert_eq!(metric(&d, "ironpost_fleet_events_dropped_total"), 0);
    for ag in agents {
        assert_eq!(metric(ag, "ironpost_fleet_events_dropped_total"), 0);
    }
    drop((a, b, c, d));
}

#[test]
fn the_central_stores_every_agents_alerts_once_through_nats_and_central_outages() {
    central_scenario(None);
}

#[test]
fn the_central_does_the_same_on_postgresql() {
    let db = common::PgDb::create("fleet_central");
    central_scenario(Some(&db.url));
}
