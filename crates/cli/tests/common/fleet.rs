//! Shared helpers of the fleet tests (`fleet.rs`, `fleet_central.rs`): a 3-node NATS JetStream
//! cluster on loopback ports, veth pairs whose far end is an attacker namespace, daemons with
//! XDP and fleet mode on them, and readers of their CLI and metrics.

use std::process::Command;

use super::{
    Daemon, Proc, blocks, free_port, http_get, metric_sum, run, spawn_logged, text, wait_for,
};

pub const ATTACKER: &str = "198.18.30.1";

/// One nats-server of the test's cluster.
pub struct NatsNode {
    port: u16,
    monitor: u16,
    proc: Option<Proc>,
    args: Vec<String>,
    log: std::path::PathBuf,
}

impl NatsNode {
    pub fn start(&mut self) {
        let mut c = Command::new("nats-server");
        c.args(&self.args);
        self.proc = Some(spawn_logged(&mut c, &self.log));
    }

    pub fn kill(&mut self) {
        self.proc = None;
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A 3-node JetStream cluster (RECIPES: routes between loopback ports), ready once every node
/// knows the meta leader.
pub fn cluster(dir: &std::path::Path) -> Vec<NatsNode> {
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
pub struct Wire {
    pub ns: String,
    pub host_if: String,
    pub host_ip: String,
}

impl Wire {
    pub fn new(n: u8) -> Wire {
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
    pub fn send(&self) {
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

pub fn agent(name: &str, wire: &Wire, urls: &str, bucket: &str, extra: &[(&str, &str)]) -> Daemon {
    agent_in(
        tempfile::tempdir().unwrap(),
        name,
        wire,
        urls,
        bucket,
        extra,
    )
}

/// The environment of an agent on `wire`.
pub fn agent_env<'a>(
    name: &'a str,
    wire: &'a Wire,
    urls: &'a str,
    bucket: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
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
    ]
}

/// [`agent`] in `dir` (a restart keeps its data directory).
pub fn agent_in(
    dir: tempfile::TempDir,
    name: &str,
    wire: &Wire,
    urls: &str,
    bucket: &str,
    extra: &[(&str, &str)],
) -> Daemon {
    let mut env = agent_env(name, wire, urls, bucket);
    env.extend_from_slice(extra);
    let d = Daemon::start_wrapped(dir, &[], &["--defaults"], &env);
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

pub fn stats(d: &Daemon) -> serde_json::Value {
    let o = run(d.cli().args(["stats", "--output", "json"]));
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

pub fn block_of(d: &Daemon, cidr: &str) -> Option<serde_json::Value> {
    blocks(d).into_iter().find(|b| b["cidr"] == cidr)
}

pub fn cli_ok(d: &Daemon, args: &[&str]) {
    let o = run(d.cli().args(args));
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
}

/// The fleet's metrics and log lines of a daemon (for failure messages).
pub fn fleet_lines(d: &Daemon) -> String {
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

pub fn metric(d: &Daemon, name: &str) -> u64 {
    metric_sum(&d.get("/metrics").1, name)
}

pub fn metric_with(d: &Daemon, series: &str) -> u64 {
    let body = d.get("/metrics").1;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
