//! Fleet mode with real components: a 3-node NATS JetStream cluster on loopback ports (its own
//! store directories) and three real daemons, each with XDP on its own veth pair whose far end
//! is an attacker namespace holding the same attacker address. An operator block on agent A
//! reaches B's and C's kernels (their drop counters rise); an unblock propagates; a node that
//! was down catches up from the bucket and skips what expired meanwhile; a NATS node killed
//! while decisions are being made loses none; wrong credentials stop the daemon with an error
//! naming the key.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{
    Daemon, Proc, free_port, http_get, metric_sum, ready, repo_root, run, spawn_logged,
    submit_alert, text, urlencode, wait_for,
};

const ATTACKER: &str = "198.18.30.1";

/// One nats-server of the test's cluster.
struct NatsNode {
    port: u16,
    monitor: u16,
    proc: Option<Proc>,
    args: Vec<String>,
    log: std::path::PathBuf,
}

impl NatsNode {
    fn start(&mut self) {
        let mut c = Command::new("nats-server");
        c.args(&self.args);
        self.proc = Some(spawn_logged(&mut c, &self.log));
    }

    fn kill(&mut self) {
        self.proc = None;
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A 3-node JetStream cluster (RECIPES: routes between loopback ports), ready once every node
/// knows the meta leader.
fn cluster(dir: &std::path::Path) -> Vec<NatsNode> {
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let routes = ports
        .iter()
        .map(|(_, c, _)| format!("nats://127.0.0.1:{c}"))
        .collect::<Vec<_>>()
        .join(",");
    let name = format!("ipt-fleet-{}", std::process::id());
    let mut nodes: Vec<NatsNode> = ports
        .iter()
        .enumerate()
        .map(|(i, (p, c, m))| {
            let sd = dir.join(format!("js{i}"));
            std::fs::create_dir_all(&sd).unwrap();
            NatsNode {
                port: *p,
                monitor: *m,
                proc: None,
                args: [
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &p.to_string(),
                    "-js",
                    "-sd",
                    sd.to_str().unwrap(),
                    "-n",
                    &format!("n{i}"),
                    "--cluster_name",
                    &name,
                    "--cluster",
                    &format!("nats://127.0.0.1:{c}"),
                    "--routes",
                    &routes,
                    "-m",
                    &m.to_string(),
                ]
                .map(str::to_owned)
                .to_vec(),
                log: dir.join(format!("nats{i}.log")),
            }
        })
        .collect();
    for n in &mut nodes {
        n.start();
    }
    for n in &nodes {
        wait_for(30, "a JetStream meta leader on every node", || {
            let addr = format!("127.0.0.1:{}", n.monitor);
            std::net::TcpStream::connect(&addr).ok()?;
            let (code, body) = http_get(&addr, "/jsz");
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            (code == 200 && !v["meta_cluster"]["leader"].as_str()?.is_empty()).then_some(())
        });
    }
    nodes
}

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
}

/// A veth pair: the daemon's end in this namespace (XDP attaches there, address
/// 198.18.4N.2/32), the attacker's end in a namespace of its own with [`ATTACKER`].
struct Wire {
    ns: String,
    host_if: String,
    host_ip: String,
}

impl Wire {
    fn new(n: u8) -> Wire {
        let id = std::process::id() % 100_000;
        let w = Wire {
            ns: format!("ipt-fleet-{id}-{n}"),
            host_if: format!("ipf{id}h{n}"),
            host_ip: format!("198.18.4{n}.2"),
        };
        let peer = format!("ipf{id}a{n}");
        sh(&["ip", "netns", "add", &w.ns]);
        sh(&[
            "ip", "link", "add", &w.host_if, "type", "veth", "peer", "name", &peer,
        ]);
        sh(&["ip", "link", "set", &peer, "netns", &w.ns]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{}/32", w.host_ip),
            "dev",
            &w.host_if,
        ]);
        sh(&["ip", "link", "set", &w.host_if, "up"]);
        let ns = |args: &[&str]| {
            let mut all = vec!["ip", "-n", &w.ns];
            all.extend_from_slice(args);
            sh(&all);
        };
        ns(&["link", "set", "lo", "up"]);
        ns(&["addr", "add", &format!("{ATTACKER}/24"), "dev", &peer]);
        ns(&["link", "set", &peer, "up"]);
        ns(&["route", "add", &format!("{}/32", w.host_ip), "dev", &peer]);
        w
    }

    /// One ICMP echo *reply* from the attacker to the daemon's end: it crosses the XDP hook and
    /// the kernel answers nothing.
    fn send(&self) {
        let o = Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "hping3", "-q", "-1", "-C", "0", "-c", "1",
            ])
            .arg(&self.host_ip)
            .output()
            .unwrap_or_else(|e| panic!("hping3: {e} (scripts/setup.sh installs it)"));
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "hping3: {}",
            text(&o.stderr)
        );
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn agent(name: &str, wire: &Wire, urls: &str, bucket: &str, extra: &[(&str, &str)]) -> Daemon {
    let mut env = vec![
        ("IRONPOST_EBPF_ENABLED", "true"),
        ("IRONPOST_EBPF_INTERFACE", wire.host_if.as_str()),
        ("IRONPOST_EBPF_XDP_MODE", "skb"),
        ("IRONPOST_EBPF_PIN_PATH", ""),
        ("IRONPOST_FLEET_ENABLED", "true"),
        ("IRONPOST_FLEET_NATS_URLS", urls),
        ("IRONPOST_FLEET_NODE_NAME", name),
        ("IRONPOST_FLEET_BUCKET", bucket),
        ("IRONPOST_FLEET_REPLICAS", "3"),
        ("IRONPOST_FLEET_NODES_BUCKET", "ipt_fleet_nodes"),
        ("IRONPOST_FLEET_HEARTBEAT_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start_wrapped(tempfile::tempdir().unwrap(), &[], &["--defaults"], &env);
    let ready = || {
        let o = run(d.cli().args(["status", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let healthy = v["status"]["modules"].as_array().is_some_and(|ms| {
            ms.iter()
                .any(|x| x["name"] == "fleet" && x["health"]["status"] == "healthy")
        });
        (healthy && stats(&d)["attached"] == true).then_some(())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ready().is_none() {
        let o = run(d.cli().args(["status", "--output", "json"]));
        assert!(
            std::time::Instant::now() < deadline,
            "agent {name}: XDP not attached or fleet not healthy: {}\n{}",
            text(&o.stdout),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d
}

fn stats(d: &Daemon) -> serde_json::Value {
    let o = run(d.cli().args(["stats", "--output", "json"]));
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

fn blocks(d: &Daemon) -> Vec<serde_json::Value> {
    let o = run(d.cli().args(["block", "list", "--output", "json"]));
    assert!(o.status.success(), "block list: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn block_of(d: &Daemon, cidr: &str) -> Option<serde_json::Value> {
    blocks(d).into_iter().find(|b| b["cidr"] == cidr)
}

fn cli_ok(d: &Daemon, args: &[&str]) {
    let o = run(d.cli().args(args));
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
}

/// The fleet's metrics and log lines of a daemon (for failure messages).
fn fleet_lines(d: &Daemon) -> String {
    let metrics = d.get("/metrics").1;
    let log = d.log();
    metrics
        .lines()
        .filter(|l| l.starts_with("ironpost_fleet_") && !l.contains("_bucket{"))
        .map(str::to_owned)
        .chain(
            log.lines()
                .filter(|l| l.contains("fleet"))
                .map(str::to_owned),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

fn metric(d: &Daemon, name: &str) -> u64 {
    metric_sum(&d.get("/metrics").1, name)
}

fn metric_with(d: &Daemon, series: &str) -> u64 {
    let body = d.get("/metrics").1;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn decisions_reach_every_agent_catch_up_after_an_outage_and_survive_a_nats_node_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = cluster(dir.path());
    let urls = nats.iter().map(NatsNode::url).collect::<Vec<_>>().join(",");
    let bucket = format!("ipt_fleet_{}", std::process::id());
    // The cluster is the test's own: fixed bucket names cannot meet another test's.
    let wires: Vec<Wire> = (1..=3).map(Wire::new).collect();
    // Each agent prefers another server of the cluster, so a node's loss is felt by one of them.
    let rotated = |k: usize| {
        let mut u: Vec<String> = nats.iter().map(NatsNode::url).collect();
        u.rotate_left(k);
        u.join(",")
    };
    let a = agent("ipt-a", &wires[0], &rotated(0), &bucket, &[]);
    let b = agent("ipt-b", &wires[1], &rotated(1), &bucket, &[]);
    let mut c = agent("ipt-c", &wires[2], &rotated(2), &bucket, &[]);
    assert!(!urls.is_empty());
    // Prometheus scrapes A and B with the shipped config, for the Fleet dashboard's check.
    let (prom, _prom) = prometheus(dir.path(), &[&a.http, &b.http]);

    // Before any decision the attacker's packets pass everywhere.
    wires[1].send();
    assert_eq!(stats(&b)["traffic"]["icmp"]["drops"], 0);

    // An operator's block on A (verified) reaches B and C with its origin and no expiry.
    cli_ok(&a, &["block", "add", ATTACKER, "--reason", "fleet test"]);
    for (d, w) in [(&b, &wires[1]), (&c, &wires[2])] {
        let blk = wait_for(20, "A's block on the other agents", || {
            block_of(d, ATTACKER)
        });
        assert_eq!(blk["reason"], "fleet:ipt-a: fleet test", "{blk}");
        assert_eq!(blk["evidence"], "verified", "{blk}");
        assert!(blk.get("expires_at").is_none(), "{blk}");
        // The kernel drops the attacker's next packet.
        w.send();
        let s = stats(d);
        assert!(s["traffic"]["icmp"]["drops"].as_u64().unwrap() >= 1, "{s}");
    }
    assert_eq!(block_of(&a, ATTACKER).unwrap()["reason"], "fleet test");

    // `fleet status` (from any node's config) lists the three with their blocks and health.
    let nodes = wait_for(20, "three heartbeats, each node with one block", || {
        let o = run(a.cli().args(["fleet", "status", "--output", "json"]));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        (v.len() == 3 && v.iter().all(|n| n["blocks"] == 1)).then_some(v)
    });
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["node"].as_str()).collect();
    assert_eq!(names, ["ipt-a", "ipt-b", "ipt-c"]);
    for n in &nodes {
        assert_eq!(n["role"], "agent", "{n}");
        assert_eq!(n["version"], env!("CARGO_PKG_VERSION"), "{n}");
        let health = |m: &str| {
            n["modules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == m)
                .map(|x| x["health"]["status"].clone())
        };
        assert_eq!(health("ebpf"), Some("healthy".into()), "{n}");
        assert_eq!(health("fleet"), Some("healthy".into()), "{n}");
    }

    // The unblock propagates; nobody re-published what it received (no echo).
    cli_ok(&a, &["block", "remove", ATTACKER]);
    for d in [&b, &c] {
        wait_for(20, "the unblock on the other agents", || {
            block_of(d, ATTACKER).is_none().then_some(())
        });
    }
    let before = stats(&b)["traffic"]["icmp"]["drops"].as_u64().unwrap();
    wires[1].send();
    assert_eq!(
        stats(&b)["traffic"]["icmp"]["drops"].as_u64().unwrap(),
        before
    );
    assert_eq!(
        metric(&a, "ironpost_fleet_published_total"),
        2,
        "{}",
        a.get("/metrics").1
    );
    for d in [&b, &c] {
        assert_eq!(metric(d, "ironpost_fleet_published_total"), 0);
        assert!(metric_with(d, "ironpost_fleet_not_shared_total{reason=\"remote\"}") >= 1);
    }

    // C goes down; A decides twice, one decision expiring while C is away; C comes back.
    assert!(c.stop().success());
    drop(c);
    cli_ok(&a, &["block", "add", "198.18.31.5", "--ttl", "2s"]);
    cli_ok(&a, &["block", "add", "198.18.31.6", "--ttl", "1h"]);
    wait_for(20, "the 2 s block to expire on A", || {
        block_of(&a, "198.18.31.5").is_none().then_some(())
    });
    let c = agent("ipt-c", &wires[2], &rotated(2), &bucket, &[]);
    let six = wait_for(20, "C to catch up", || block_of(&c, "198.18.31.6"));
    assert!(six["expires_at"].is_string(), "{six}");
    assert!(block_of(&c, "198.18.31.5").is_none());
    assert!(metric_with(&c, "ironpost_fleet_received_total{outcome=\"expired\"}") >= 1);

    // A NATS node dies while A makes 20 decisions: every one reaches B and C.
    for i in 0..20 {
        if i == 5 {
            nats[1].kill();
        }
        cli_ok(
            &a,
            &[
                "block",
                "add",
                &format!("198.18.32.{}", i + 1),
                "--ttl",
                "1h",
            ],
        );
    }
    let count = |d: &Daemon| {
        blocks(d)
            .iter()
            .filter(|x| {
                x["cidr"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("198.18.32."))
            })
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(&b) != 20 || count(&c) != 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "after a NATS node's loss: A {}, B {}, C {} of 20\nA: {}\nB: {}\nC: {}",
            count(&a),
            count(&b),
            count(&c),
            fleet_lines(&a),
            fleet_lines(&b),
            fleet_lines(&c),
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    nats[1].start();

    // Every panel of the Fleet dashboard has data for this scenario.
    let path = repo_root().join("deploy/grafana/dashboards/fleet.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let q = format!("/api/v1/query?query={}", urlencode(expr));
        wait_for(
            30,
            &format!("data for the panel `{}`", panel["title"]),
            || {
                let (code, body) = http_get(&prom, &q);
                assert_eq!(code, 200, "{expr}: {body}");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                (!v["data"]["result"].as_array()?.is_empty()).then_some(())
            },
        );
    }
    drop((a, b, c));
}

/// Starts Prometheus on a free port with the shipped config (1 s scrape) aimed at `targets`.
fn prometheus(dir: &std::path::Path, targets: &[&str]) -> (String, Proc) {
    let shipped =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap();
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, shipped.replace("'127.0.0.1:9470'", &list)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let p = spawn_logged(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address={addr}")),
        &dir.join("prometheus.log"),
    );
    wait_for(60, "Prometheus to be ready", || ready(&addr, "/-/ready"));
    (addr, p)
}

#[test]
fn wrong_credentials_stop_the_daemon_with_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _nats = spawn_logged(
        Command::new("nats-server").args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-js",
            "-sd",
            dir.path().join("js").to_str().unwrap(),
            "--auth",
            "ipt-right-token",
        ]),
        &dir.path().join("nats.log"),
    );
    wait_for(20, "nats-server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let wire = Wire::new(9);
    let home = tempfile::tempdir().unwrap();
    let mut env = Daemon::env_for(home.path());
    env.extend(
        [
            ("IRONPOST_EBPF_ENABLED", "true"),
            ("IRONPOST_EBPF_INTERFACE", wire.host_if.as_str()),
            ("IRONPOST_EBPF_XDP_MODE", "skb"),
            ("IRONPOST_EBPF_PIN_PATH", ""),
            ("IRONPOST_FLEET_ENABLED", "true"),
            (
                "IRONPOST_FLEET_NATS_URLS",
                &format!("nats://127.0.0.1:{port}"),
            ),
            ("IRONPOST_FLEET_NODE_NAME", "ipt-wrong"),
            ("IRONPOST_FLEET_NATS_TOKEN", "ipt-wrong-token"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut cmd = Command::new(common::bin("ironpost-daemon"));
    common::scrub_env(&mut cmd);
    let o = cmd
        .arg("--defaults")
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("fleet.nats.token: cannot join the fleet's NATS cluster")
            && err.contains("refused the connection"),
        "{err}"
    );
}

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

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ironpost fleet test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, client: bool| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf(vec!["127.0.0.1".into()], false);
    let (client, client_key) = leaf(vec!["ipt-fleet-agent".into()], true);
    for (name, body) in [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", server),
        ("server.key", server_key),
        ("client.pem", client),
        ("client.key", client_key),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

/// A daemon that must not start: its stderr.
fn refused(wire: &Wire, extra: &[(&str, &str)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut env = Daemon::env_for(home.path());
    env.extend(
        [
            ("IRONPOST_EBPF_ENABLED", "true"),
            ("IRONPOST_EBPF_INTERFACE", wire.host_if.as_str()),
            ("IRONPOST_EBPF_XDP_MODE", "skb"),
            ("IRONPOST_EBPF_PIN_PATH", ""),
            ("IRONPOST_FLEET_ENABLED", "true"),
            ("IRONPOST_FLEET_NODE_NAME", "ipt-refused"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut cmd = Command::new(common::bin("ironpost-daemon"));
    common::scrub_env(&mut cmd);
    let o = cmd
        .arg("--defaults")
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    err
}

#[test]
fn tls_with_a_client_certificate_and_an_nkey_joins_and_wrong_nkey_or_creds_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    std::fs::create_dir(&pki_dir).unwrap();
    pki(&pki_dir);
    let user = nkeys::KeyPair::new_user();
    let port = free_port();
    let conf = dir.path().join("nats.conf");
    let p = |f: &str| pki_dir.join(f).display().to_string();
    std::fs::write(
        &conf,
        format!(
            r#"
listen: "127.0.0.1:{port}"
jetstream {{ store_dir: "{js}" }}
tls {{
  cert_file: "{cert}"
  key_file: "{key}"
  ca_file: "{ca}"
  verify: true
  timeout: 5
}}
authorization {{ users = [ {{ nkey: "{public}" }} ] }}
"#,
            js = dir.path().join("js").display(),
            cert = p("server.pem"),
            key = p("server.key"),
            ca = p("ca.pem"),
            public = user.public_key(),
        ),
    )
    .unwrap();
    let _nats = spawn_logged(
        Command::new("nats-server").arg("-c").arg(&conf),
        &dir.path().join("nats.log"),
    );
    wait_for(20, "nats-server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let seed = dir.path().join("agent.nk");
    std::fs::write(&seed, user.seed().unwrap()).unwrap();
    let url = format!("tls://127.0.0.1:{port}");
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    let tls = [
        ("IRONPOST_FLEET_NATS_URLS", url.as_str()),
        ("IRONPOST_FLEET_NATS_CA_FILE", ca.as_str()),
        ("IRONPOST_FLEET_NATS_CLIENT_CERT", cert.as_str()),
        ("IRONPOST_FLEET_NATS_CLIENT_KEY", key.as_str()),
    ];

    // TLS with a client certificate and the right NKey: the agent joins (fleet healthy) and an
    // operator block goes through the bucket.
    let wire = Wire::new(7);
    let seed_s = seed.display().to_string();
    let mut env = tls.to_vec();
    env.push(("IRONPOST_FLEET_NATS_NKEY_SEED_FILE", seed_s.as_str()));
    // One server: one copy of each bucket and stream.
    env.push(("IRONPOST_FLEET_REPLICAS", "1"));
    let a = agent("ipt-tls", &wire, &url, "ipt_fleet_tls", &env);
    cli_ok(&a, &["block", "add", "198.18.34.1", "--ttl", "1h"]);
    wait_for(20, "the block published over TLS", || {
        (metric(&a, "ironpost_fleet_published_total") == 1).then_some(())
    });
    drop(a);

    // Another user's seed: refused, the error names the key.
    let wrong = dir.path().join("wrong.nk");
    std::fs::write(&wrong, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let wrong_s = wrong.display().to_string();
    let mut env = tls.to_vec();
    env.push(("IRONPOST_FLEET_NATS_NKEY_SEED_FILE", wrong_s.as_str()));
    let err = refused(&wire, &env);
    assert!(
        err.contains("fleet.nats.nkey_seed_file: cannot join the fleet's NATS cluster")
            && err.contains("refused the connection"),
        "{err}"
    );

    // A creds file the server does not know (a user JWT it cannot verify): refused by name.
    let creds = dir.path().join("wrong.creds");
    let other = nkeys::KeyPair::new_user();
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n\
             ------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{}\n\
             ------END USER NKEY SEED------\n",
            other.seed().unwrap()
        ),
    )
    .unwrap();
    let creds_s = creds.display().to_string();
    let mut env = tls.to_vec();
    env.push(("IRONPOST_FLEET_NATS_CREDS_FILE", creds_s.as_str()));
    let err = refused(&wire, &env);
    assert!(
        err.contains("fleet.nats.creds_file: cannot join the fleet's NATS cluster")
            && err.contains("refused the connection"),
        "{err}"
    );

    // The right NKey without a client certificate: the TLS handshake fails, by name too.
    let env = [
        ("IRONPOST_FLEET_NATS_URLS", url.as_str()),
        ("IRONPOST_FLEET_NATS_CA_FILE", ca.as_str()),
        ("IRONPOST_FLEET_NATS_NKEY_SEED_FILE", seed_s.as_str()),
    ];
    let err = refused(&wire, &env);
    assert!(
        err.contains("fleet.nats.nkey_seed_file: cannot join the fleet's NATS cluster"),
        "{err}"
    );
}
