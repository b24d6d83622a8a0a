//! The container guard under the real daemon against a real dockerd (started by
//! `scripts/services.sh`; images built locally `FROM scratch` with Debian's busybox-static):
//! alerts routed through the daemon pause / stop / disconnect exactly the container they concern
//! while glob-matching siblings are untouched; the container that attacks its neighbour is
//! disconnected while the neighbour keeps serving; the container an attack is aimed at is left
//! alone unless a policy says `link = "destination"`; dry run changes nothing; `restore` undoes
//! each action (networks back with the same address and alias); a broken policy file is reported
//! with file:line and the previous policies stay in force; a dockerd restart is survived and the
//! isolation it undid is re-applied; alerts about a container with known vulnerable packages (in its
//! running root, or in its image: OS packages and Go binaries) are raised one level.
//! Reconciliation otherwise: `container_reconcile.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::docker::{
    Ctr, IMAGE, Net, PrivateDockerd, docker, docker_at, docker_ok, ensure_image, write_policy,
};
use common::{Daemon, actions_for, run, submit_alert, text, wait_for};
use serde_json::{Value, json};

/// Names unique to this test process.
fn tag(s: &str) -> String {
    format!("ipt{}-{s}", std::process::id())
}

fn policies(prefix: &str) -> String {
    format!(
        r#"
[[policy]]
name = "pause_p"
priority = 10
severity_threshold = "high"
filters.container_names = ["{prefix}-p-*"]
action = "pause"

[[policy]]
name = "stop_s"
priority = 20
severity_threshold = "high"
filters.container_names = ["{prefix}-s-*"]
filters.image_patterns = ["{IMAGE}*"]
action = "stop"
link = "destination"

[[policy]]
name = "disconnect_n"
priority = 30
severity_threshold = "medium"
filters.container_names = ["{prefix}-n-*"]
action = "network_disconnect"
"#
    )
}

fn guard_env(policy_dir: &Path, auto: bool, socket: Option<&str>) -> Vec<(String, String)> {
    let mut v = vec![
        ("IRONPOST_CONTAINER_ENABLED".into(), "true".into()),
        (
            "IRONPOST_CONTAINER_POLICY_PATH".into(),
            policy_dir.display().to_string(),
        ),
        ("IRONPOST_CONTAINER_AUTO_ISOLATE".into(), auto.to_string()),
        ("IRONPOST_CONTAINER_ACTION_TIMEOUT_SECS".into(), "4".into()),
        ("IRONPOST_CONTAINER_RETRY_MAX_ATTEMPTS".into(), "2".into()),
    ];
    if let Some(s) = socket {
        v.push(("IRONPOST_CONTAINER_DOCKER_SOCKET".into(), s.into()));
    }
    v
}

fn start(dir: tempfile::TempDir, env: &[(String, String)]) -> Daemon {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let d = Daemon::start_in(dir, &["--defaults"], &env);
    wait_for(30, "the container guard to be healthy", || {
        let (_, body) = d.get("/health");
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["modules"]["container_guard"]["status"] == "healthy").then_some(())
    });
    d
}

fn alert(severity: &str, entities: Value) -> Value {
    json!({
        "severity": severity, "source": "external", "rule_id": "test_container",
        "title": "attack on a container", "entities": entities
    })
}

fn wait_action(d: &Daemon, alert_id: &str, outcome: &str) -> Value {
    wait_for(
        30,
        &format!("a {outcome} action for alert {alert_id}"),
        || {
            actions_for(d, alert_id)
                .into_iter()
                .find(|a| a["outcome"] == outcome)
        },
    )
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

#[test]
fn alerts_isolate_exactly_the_targeted_container_and_restore_undoes_it() {
    ensure_image();
    let prefix = tag("t");
    // A private subnet per test process (198.18.0.0/15 is ours).
    let subnet = format!("198.19.{}.0/24", 100 + std::process::id() % 100);
    let net = Net::create(&tag("net"), &subnet);
    let fixed_ip = subnet.replace(".0/24", ".10");
    let p1 = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let p2 = Ctr::run(None, &format!("{prefix}-p-2"), &[]);
    let s1 = Ctr::run(None, &format!("{prefix}-s-1"), &["-p", "127.0.0.1::80"]);
    let s2 = Ctr::run(None, &format!("{prefix}-s-2"), &["-p", "127.0.0.1::80"]);
    let n1 = Ctr::run(
        None,
        &format!("{prefix}-n-1"),
        &[
            "--network",
            &net.0,
            "--ip",
            &fixed_ip,
            "--network-alias",
            "web",
        ],
    );
    let n2 = Ctr::run(None, &format!("{prefix}-n-2"), &["--network", &net.0]);
    let s1_port = s1.inspect(r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#);

    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(dir, &guard_env(&pol, true, None));

    // Named in the alert → pause; the sibling that matches the same glob keeps running.
    let a1 = submit_alert(&d, &alert("high", json!({"container": {"name": p1.name}})));
    // Destination = a host port s-1 publishes, under a policy with `link = "destination"` → stop.
    let a2 = submit_alert(
        &d,
        &alert(
            "critical",
            json!({"src_ip": "198.18.9.9", "dst_ip": "127.0.0.1", "dst_port": s1_port.parse::<u16>().unwrap()}),
        ),
    );
    // Source = n-1's address on its network (n-1 scans out, SYNs only) → disconnect.
    let mut scan = alert(
        "medium",
        json!({"src_ip": fixed_ip, "dst_ip": "198.18.9.9", "dst_port": 80}),
    );
    scan["evidence"] = json!("spoofable");
    let a3 = submit_alert(&d, &scan);
    // Concerns no container → nothing.
    let a4 = submit_alert(&d, &alert("critical", json!({"dst_ip": "198.18.250.250"})));

    let ev = wait_action(&d, &a1, "success");
    assert_eq!(ev["action_type"], "container_pause");
    assert_eq!(ev["target"]["container"]["name"], p1.name.as_str());
    let ev = wait_action(&d, &a2, "success");
    assert_eq!(ev["action_type"], "container_stop");
    assert!(
        ev["detail"]
            .as_str()
            .unwrap()
            .contains("linked by published port"),
        "{ev}"
    );
    let ev = wait_action(&d, &a3, "success");
    assert_eq!(ev["action_type"], "container_network_disconnect");
    let detail = ev["detail"].as_str().unwrap();
    assert!(
        detail.contains(&net.0)
            && detail.contains("linked by source address")
            && detail.contains("evidence spoofable"),
        "{ev}"
    );

    assert_eq!(p1.status(), "paused");
    assert_eq!(s1.status(), "exited");
    assert!(n1.networks().is_empty(), "{:?}", n1.networks());
    assert_eq!(p2.status(), "running");
    assert_eq!(s2.status(), "running");
    assert_eq!(n2.networks().len(), 1);
    assert!(actions_for(&d, &a4).is_empty());

    // The alert's trace id is carried by its action.
    let alerts: Vec<Value> =
        serde_json::from_str(&cli_ok(&d, &["alerts", "list", "--output", "json"])).unwrap();
    let a1_trace = alerts.iter().find(|a| a["id"] == a1.as_str()).unwrap()["trace_id"].clone();
    assert_eq!(actions_for(&d, &a1)[0]["trace_id"], a1_trace);

    let listed: Vec<Value> =
        serde_json::from_str(&cli_ok(&d, &["isolate", "list", "--output", "json"])).unwrap();
    let mut names: Vec<&str> = listed
        .iter()
        .map(|i| i["container_name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [&n1.name, &p1.name, &s1.name].map(String::as_str));
    let n1_rec = listed
        .iter()
        .find(|i| i["container_name"] == n1.name.as_str())
        .unwrap();
    assert_eq!(n1_rec["networks"][0]["network"], net.0.as_str());
    assert_eq!(n1_rec["networks"][0]["ipv4"], fixed_ip.as_str());

    // Restore: unpause, start, reconnect with the same address and alias.
    cli_ok(&d, &["restore", &p1.name]);
    cli_ok(&d, &["restore", &s1.name]);
    let out = cli_ok(&d, &["restore", &n1.name]);
    assert!(out.contains("container_network_reconnect"), "{out}");
    assert_eq!(p1.status(), "running");
    assert_eq!(s1.status(), "running");
    assert_eq!(n1.networks(), [(net.0.clone(), fixed_ip.clone())]);
    let aliases = n1.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").Aliases}}}}",
        net.0
    ));
    assert!(aliases.contains("web"), "aliases after restore: {aliases}");
    assert!(cli_ok(&d, &["isolate", "list"]).contains("no isolated containers"));

    // Manual isolation, idempotent, then restore.
    let out = cli_ok(&d, &["isolate", &p2.name, "--action", "pause"]);
    assert!(out.contains("container_pause attempt 1: success"), "{out}");
    let out = cli_ok(&d, &["isolate", &p2.name, "--action", "pause"]);
    assert!(out.contains("already paused"), "{out}");
    assert_eq!(p2.status(), "paused");
    cli_ok(&d, &["restore", &p2.name]);
    assert_eq!(p2.status(), "running");
    let o = run(d.cli().args(["restore", &p2.name]));
    assert_eq!(o.status.code(), Some(1), "nothing to restore is a failure");
    assert!(
        text(&o.stderr).contains("nothing to restore"),
        "{}",
        text(&o.stderr)
    );

    let (_, metrics) = d.get("/metrics");
    for line in [
        "ironpost_container_guard_alerts_total{outcome=\"isolated\"} 3",
        "ironpost_container_guard_alerts_total{outcome=\"no_target\"} 1",
        "ironpost_container_guard_alert_links_total{link=\"named\"} 1",
        "ironpost_container_guard_alert_links_total{link=\"published_port\"} 1",
        "ironpost_container_guard_alert_links_total{link=\"source_address\"} 1",
        "ironpost_container_guard_isolated_containers 0",
        "ironpost_container_guard_docker_connected 1",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
    assert!(metrics.contains(
        "ironpost_container_guard_action_duration_seconds_count{action_type=\"container_pause\"} 1"
    ));
}

/// Starts busybox httpd in `c`, serving a page that names it.
fn serve(c: &Ctr) {
    docker(&[
        "exec",
        &c.name,
        "sh",
        "-c",
        &format!(
            "mkdir -p /www && echo 'hello from {}' > /www/index.html && httpd -p 80 -h /www",
            c.name
        ),
    ]);
}

/// The body `from` gets for `GET /` on `ip:80`, or `None` when it cannot connect. busybox `nc`,
/// not `wget`: the static busybox's `wget -O -` crashes in a `FROM scratch` image.
fn fetch(from: &Ctr, ip: &str) -> Option<String> {
    let get = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 80");
    let o = docker_at(None, &["exec", &from.name, "sh", "-c", &get]);
    let out = text(&o.stdout);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.trim().to_owned());
    if o.status.success() { body } else { None }
}

/// Alerts the guard has handled with `outcome`.
fn guard_outcome(d: &Daemon, outcome: &str) -> u64 {
    let (_, metrics) = d.get("/metrics");
    let series = format!("ironpost_container_guard_alerts_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().unwrap())
}

fn wait_outcome(d: &Daemon, outcome: &str, n: u64) {
    wait_for(30, &format!("{n} alert(s) with outcome {outcome}"), || {
        (guard_outcome(d, outcome) >= n).then_some(())
    });
}

/// One policy: every container of the test (attacker and neighbour alike, so that only the link
/// can choose), disconnected; `extra` adds keys.
fn disconnect_all(prefix: &str, extra: &str) -> String {
    format!(
        "[[policy]]\nname = \"disconnect_all\"\nseverity_threshold = \"medium\"\nfilters.container_names = [\"{prefix}-*\"]\naction = \"network_disconnect\"\n{extra}"
    )
}

#[test]
fn the_container_that_attacks_its_neighbour_is_disconnected_and_the_neighbour_keeps_serving() {
    ensure_image();
    let prefix = tag("act");
    let subnet = format!("198.18.{}.0/24", 150 + std::process::id() % 50);
    let net = Net::create(&tag("actnet"), &subnet);
    let ip = |n: u8| subnet.replace(".0/24", &format!(".{n}"));
    let (a_ip, b_ip) = (ip(20), ip(21));
    let on_net = |name: &str, addr: &str| {
        Ctr::run(
            None,
            &format!("{prefix}-{name}"),
            &["--network", &net.0, "--ip", addr],
        )
    };
    let a = on_net("attacker", &a_ip);
    let b = on_net("neighbour", &b_ip);
    let client = on_net("client", &ip(22));
    serve(&b);
    let page = format!("hello from {}", b.name);
    wait_for(20, "the neighbour's httpd to answer", || {
        (fetch(&client, &b_ip)? == page).then_some(())
    });
    assert_eq!(fetch(&a, &b_ip).as_deref(), Some(page.as_str()));

    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &disconnect_all(&prefix, ""));
    let d = start(dir, &guard_env(&pol, true, None));

    let attack = |src: &str, dst: &str, port: u16, evidence: &str| {
        let mut v = alert(
            "high",
            json!({"src_ip": src, "dst_ip": dst, "dst_port": port, "protocol": "tcp"}),
        );
        v["evidence"] = json!(evidence);
        v
    };
    // A log line naming the neighbour's address as a brute-forcer, from a writer nobody
    // authenticated: anyone could have written it, so it moves nothing.
    let forged = submit_alert(&d, &attack(&b_ip, &ip(99), 22, "forgeable"));
    // "The neighbour scans itself" through a sensor: a forged source whatever the evidence.
    let itself = submit_alert(&d, &attack(&b_ip, &b_ip, 80, "verified"));
    wait_outcome(&d, "weak_evidence", 1);
    wait_outcome(&d, "self_directed", 1);
    // The attacker's SYN scan of its neighbour (spoofable: no handshake completes).
    let scan = submit_alert(&d, &attack(&a_ip, &b_ip, 80, "spoofable"));

    let ev = wait_action(&d, &scan, "success");
    assert_eq!(ev["action_type"], "container_network_disconnect");
    assert_eq!(ev["target"]["container"]["name"], a.name.as_str(), "{ev}");
    let detail = ev["detail"].as_str().unwrap();
    assert!(
        detail.contains("linked by source address (actor of the alert)")
            && detail.contains("evidence spoofable")
            && detail.contains(&net.0),
        "{detail}"
    );
    assert!(a.networks().is_empty(), "{:?}", a.networks());
    assert_eq!(b.networks(), [(net.0.clone(), b_ip.clone())]);
    assert_eq!(b.status(), "running");
    // The neighbour still serves; the attacker reaches nothing.
    assert_eq!(fetch(&client, &b_ip).as_deref(), Some(page.as_str()));
    assert_eq!(fetch(&a, &b_ip), None);
    assert!(actions_for(&d, &forged).is_empty());
    assert!(actions_for(&d, &itself).is_empty());

    let listed: Vec<Value> =
        serde_json::from_str(&cli_ok(&d, &["isolate", "list", "--output", "json"])).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["container_name"], a.name.as_str());
    let (_, metrics) = d.get("/metrics");
    for line in [
        "ironpost_container_guard_alerts_total{outcome=\"isolated\"} 1",
        "ironpost_container_guard_alert_links_total{link=\"source_address\"} 1",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }

    // Restored, the attacker is back on its network with its address.
    cli_ok(&d, &["restore", &a.name]);
    assert_eq!(a.networks(), [(net.0.clone(), a_ip.clone())]);
    assert_eq!(fetch(&a, &b_ip).as_deref(), Some(page.as_str()));
}

#[test]
fn the_container_an_attack_is_aimed_at_is_isolated_only_under_a_destination_policy() {
    ensure_image();
    let prefix = tag("dst");
    let subnet = format!("198.18.{}.0/24", 200 + std::process::id() % 50);
    let net = Net::create(&tag("dstnet"), &subnet);
    let b_ip = subnet.replace(".0/24", ".30");
    let b = Ctr::run(
        None,
        &format!("{prefix}-web"),
        &["--network", &net.0, "--ip", &b_ip, "-p", "127.0.0.1::80"],
    );
    let client = Ctr::run(None, &format!("{prefix}-client"), &["--network", &net.0]);
    serve(&b);
    let page = format!("hello from {}", b.name);
    wait_for(20, "the web container's httpd to answer", || {
        (fetch(&client, &b_ip)? == page).then_some(())
    });
    let published: u16 = b
        .inspect(r#"{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}"#)
        .parse()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &disconnect_all(&prefix, ""));
    let d = start(dir, &guard_env(&pol, true, None));

    // An inbound scan from outside, at its address and at the host port it publishes, with the
    // strongest evidence: under the default policy the victim is left alone.
    let inbound = |dst: &str, port: u16| {
        let mut v = alert(
            "critical",
            json!({"src_ip": "198.18.9.9", "dst_ip": dst, "dst_port": port}),
        );
        v["evidence"] = json!("verified");
        v
    };
    let at_address = submit_alert(&d, &inbound(&b_ip, 80));
    let at_port = submit_alert(&d, &inbound("127.0.0.1", published));
    wait_outcome(&d, "destination_only", 2);
    assert!(actions_for(&d, &at_address).is_empty());
    assert!(actions_for(&d, &at_port).is_empty());
    assert_eq!(b.networks(), [(net.0.clone(), b_ip.clone())]);
    assert_eq!(fetch(&client, &b_ip).as_deref(), Some(page.as_str()));

    // The operator opts in: the same alert now isolates the container it was aimed at.
    write_policy(
        &pol,
        "isolate.toml",
        &disconnect_all(&prefix, "link = \"destination\"\n"),
    );
    cli_ok(&d, &["reload"]);
    let again = submit_alert(&d, &inbound(&b_ip, 80));
    let ev = wait_action(&d, &again, "success");
    assert_eq!(ev["action_type"], "container_network_disconnect");
    assert_eq!(ev["target"]["container"]["name"], b.name.as_str(), "{ev}");
    assert!(
        ev["detail"]
            .as_str()
            .unwrap()
            .contains("linked by destination address (destination of the alert)"),
        "{ev}"
    );
    assert!(b.networks().is_empty(), "{:?}", b.networks());
    assert_eq!(fetch(&client, &b_ip), None);
    let (_, metrics) = d.get("/metrics");
    assert!(
        metrics
            .contains("ironpost_container_guard_alert_links_total{link=\"destination_address\"} 1"),
        "{metrics}"
    );
}

#[test]
fn dry_run_records_the_would_be_action_and_changes_nothing() {
    ensure_image();
    let prefix = tag("dry");
    let c = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(dir, &guard_env(&pol, false, None));
    let id = submit_alert(
        &d,
        &alert("critical", json!({"container": {"name": c.name}})),
    );
    let ev = wait_action(&d, &id, "dry_run");
    assert_eq!(ev["action_type"], "container_pause");
    let detail = ev["detail"].as_str().unwrap();
    assert!(
        detail.contains("would pause") && detail.contains("pause_p"),
        "{detail}"
    );
    assert_eq!(c.status(), "running");
    assert!(cli_ok(&d, &["isolate", "list"]).contains("no isolated containers"));
}

#[test]
fn broken_policy_reload_names_file_and_line_and_keeps_the_previous_policies() {
    ensure_image();
    let prefix = tag("rl");
    let c = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(dir, &guard_env(&pol, true, None));

    write_policy(
        &pol,
        "broken.toml",
        "[[policy]]\nname = \"b\"\nseverity_threshold = \"hihg\"\naction = \"pause\"\nfilters.container_names = [\"x\"]\n",
    );
    let o = run(d.cli().args(["reload"]));
    let out = text(&o.stdout) + &text(&o.stderr);
    assert!(
        !o.status.success(),
        "a broken policy must fail the reload: {out}"
    );
    assert!(
        out.contains("broken.toml:3"),
        "error names file:line: {out}"
    );
    let (_, health) = d.get("/health");
    assert!(
        health.contains("previous policies still enforced"),
        "{health}"
    );

    let id = submit_alert(&d, &alert("high", json!({"container": {"name": c.name}})));
    wait_action(&d, &id, "success");
    assert_eq!(c.status(), "paused");

    // Fixed file: the reload succeeds and the module is healthy again.
    std::fs::remove_file(pol.join("broken.toml")).unwrap();
    cli_ok(&d, &["reload"]);
    let (_, health) = d.get("/health");
    let v: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(v["modules"]["container_guard"]["status"], "healthy");
}

#[test]
fn guard_reconnects_after_dockerd_restarts_and_acts_on_the_next_alert() {
    let mut dockerd = PrivateDockerd::start("cg");
    let host = dockerd.host();
    common::docker::ensure_image_at(Some(&host));
    let prefix = tag("rs");
    let c = Ctr::run(
        Some(&host),
        &format!("{prefix}-p-1"),
        &["--restart", "always"],
    );
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("policies");
    write_policy(&pol, "isolate.toml", &policies(&prefix));
    let d = start(dir, &guard_env(&pol, true, Some(&host)));
    let first = submit_alert(&d, &alert("high", json!({"container": {"name": c.name}})));
    wait_action(&d, &first, "success");
    c.wait_status("paused", 30);

    // dockerd stops (taking the paused container down with it) and comes back, restarting the
    // container (`--restart always`) unpaused: the guard reconnects and pauses it again.
    dockerd.down();
    wait_for(30, "the guard to report Docker unreachable", || {
        let (_, body) = d.get("/health");
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["modules"]["container_guard"]["status"] == "degraded").then_some(())
    });
    dockerd.up();
    wait_for(30, "the guard to reconnect", || {
        let (_, body) = d.get("/health");
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["modules"]["container_guard"]["status"] == "healthy").then_some(())
    });
    let reapplied = wait_for(60, "the undone pause to be re-applied", || {
        actions_for(&d, &first).into_iter().find(|a| {
            a["outcome"] == "success"
                && a["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("reconcile: pause undone (container running, not paused)")
        })
    });
    assert_eq!(reapplied["action_type"], "container_pause", "{reapplied}");
    c.wait_status("paused", 30);
    let id = submit_alert(&d, &alert("high", json!({"container": {"name": c.name}})));
    wait_action(&d, &id, "success");
    assert_eq!(
        docker_ok(
            Some(&host),
            &["inspect", "-f", "{{.State.Status}}", &c.name]
        ),
        "paused",
        "dockerd log:\n{}",
        dockerd.log()
    );
    let (_, metrics) = d.get("/metrics");
    assert!(
        metrics.contains("ironpost_container_guard_docker_reconnects_total 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("ironpost_isolation_undone_total{action=\"pause\",outcome=\"reapplied\"} 1"),
        "{metrics}"
    );
}

#[test]
fn alerts_about_a_container_with_vulnerable_packages_are_raised_one_level() {
    ensure_image();
    let prefix = tag("cve");
    let c = Ctr::run(None, &format!("{prefix}-p-1"), &[]);
    let clean = Ctr::run(None, &format!("{prefix}-p-2"), &[]);
    // A lockfile inside the container with arc-swap 1.0.0 (RUSTSEC-2020-0091, high).
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("Cargo.lock");
    std::fs::write(
        &lock,
        "version = 3\n\n[[package]]\nname = \"arc-swap\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
    )
    .unwrap();
    docker(&["exec", &c.name, "mkdir", "-p", "/app"]);
    docker(&[
        "cp",
        &lock.display().to_string(),
        &format!("{}:/app/Cargo.lock", c.name),
    ]);

    let advisories = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/rustsec/native");
    let (a, b) = alert_about_each(dir.path(), &prefix, Path::new(advisories), &c, &clean);
    let note = a["severity_note"].as_str().unwrap();
    assert!(note.contains("RUSTSEC-2020-0091"), "{note}");
    assert!(
        a["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "vulnerable_container")
    );
    assert_eq!(
        b["severity"], "medium",
        "a container without findings keeps the severity: {b}"
    );
}

/// Imports `advisories` into a database in `dir`, starts the daemon with the container scan and
/// the guard (policies for `prefix`), waits until exactly one container is found vulnerable, then
/// submits a medium alert about `vulnerable` and one about `clean`: the first comes back raised
/// to high ("raised from medium"), and both stored alerts are returned in that order.
fn alert_about_each(
    dir: &Path,
    prefix: &str,
    advisories: &Path,
    vulnerable: &Ctr,
    clean: &Ctr,
) -> (Value, Value) {
    let db = dir.join("vuln-db");
    let o = run(common::cli()
        .args(["--defaults", "db", "import"])
        .arg(advisories)
        .arg("--db")
        .arg(&db));
    assert!(o.status.success(), "db import: {}", text(&o.stderr));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let pol = dir.join("policies");
    write_policy(&pol, "isolate.toml", &policies(prefix));
    let mut env = guard_env(&pol, false, None);
    env.extend([
        ("IRONPOST_SBOM_ENABLED".to_owned(), "true".to_owned()),
        (
            "IRONPOST_SBOM_VULN_DB_PATH".to_owned(),
            db.display().to_string(),
        ),
        (
            "IRONPOST_SBOM_SCAN_DIRS".to_owned(),
            empty.display().to_string(),
        ),
    ]);
    let d = start(tempfile::tempdir().unwrap(), &env);
    wait_for(60, "the container scan to find the vulnerable one", || {
        d.get("/metrics")
            .1
            .contains("ironpost_sbom_vulnerable_containers 1")
            .then_some(())
    });
    let raised = submit_alert(
        &d,
        &alert("medium", json!({"container": {"name": vulnerable.name}})),
    );
    let same = submit_alert(
        &d,
        &alert("medium", json!({"container": {"name": clean.name}})),
    );
    let alerts: Vec<Value> = wait_for(20, "both alerts stored", || {
        let v: Vec<Value> =
            serde_json::from_str(&cli_ok(&d, &["alerts", "list", "--output", "json"])).ok()?;
        let n = v
            .iter()
            .filter(|a| a["id"] == raised.as_str() || a["id"] == same.as_str())
            .count();
        (n == 2).then_some(v)
    });
    let get = |id: &str| alerts.iter().find(|a| a["id"] == id).unwrap().clone();
    let a = get(&raised);
    assert_eq!(a["severity"], "high", "{a}");
    let note = a["severity_note"].as_str().unwrap();
    assert!(note.contains("raised from medium"), "{note}");
    (a, get(&same))
}

/// A container is matched by its *image*, not only by the files under its running root: an image
/// built here holds this machine's real dpkg status and os-release and, in its upper layer, a Go
/// program built here (executables are read only from images). Hand-written advisories for the
/// installed coreutils (Debian) and for the Go standard library built into the program: an alert
/// about a container of that image is raised one level and its note names both; an alert about a
/// container of the base image keeps its severity.
#[test]
fn a_container_is_matched_by_its_image_os_packages_and_binaries() {
    ensure_image();
    let prefix = tag("cveimg");
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/var/lib/dpkg/status", ctx.join("status")).unwrap();
    std::fs::copy("/etc/os-release", ctx.join("os-release")).unwrap();
    common::gobin::build(&ctx.join("app"));
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {IMAGE}\nCOPY status /var/lib/dpkg/status\nCOPY os-release /etc/os-release\n\
             COPY app /usr/local/bin/app\n"
        ),
    )
    .unwrap();
    let image = format!("{prefix}-img");
    docker(&["build", "-q", "-t", &image, &ctx.display().to_string()]);
    struct Rmi(String);
    impl Drop for Rmi {
        fn drop(&mut self) {
            let _ = docker_at(None, &["rmi", "-f", &self.0]);
        }
    }
    let _rmi = Rmi(image.clone());
    let c = Ctr::run_image(None, &format!("{prefix}-p-1"), &image, &[]);
    let clean = Ctr::run(None, &format!("{prefix}-p-2"), &[]);

    // coreutils' source package and version, as the OSV Debian records name them.
    let o = run(std::process::Command::new("dpkg-query").args([
        "-W",
        "-f=${source:Package} ${source:Version}",
        "coreutils",
    ]));
    let q = text(&o.stdout);
    let (src, src_version) = q.trim().split_once(' ').unwrap();
    let osv = dir.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    let deb = json!({
        "schema_version": "1.6.0", "id": "TEST-CTR-DEB", "modified": "2026-12-01T00:00:00Z",
        "summary": format!("{src} before {src_version}+ironpost1"),
        "affected": [{"package": {"ecosystem": "Debian:12", "name": src},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                {"fixed": format!("{src_version}+ironpost1")}]}]}]
    });
    std::fs::write(osv.join("TEST-CTR-DEB.json"), deb.to_string()).unwrap();
    std::fs::write(
        osv.join("TEST-CTR-GO.json"),
        common::gobin::stdlib_advisory("TEST-CTR-GO").to_string(),
    )
    .unwrap();
    let (a, b) = alert_about_each(dir.path(), &prefix, &osv, &c, &clean);
    let note = a["severity_note"].as_str().unwrap();
    assert!(
        note.contains("TEST-CTR-DEB") && note.contains("TEST-CTR-GO"),
        "{note}"
    );
    assert_eq!(b["severity"], "medium", "the base image has neither: {b}");
}
