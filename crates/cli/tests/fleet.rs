//! Fleet mode with real components: a 3-node NATS JetStream cluster on loopback ports (its own
//! store directories) and three real daemons, each with XDP on its own veth pair whose far end
//! is an attacker namespace holding the same attacker address. An operator block on agent A
//! reaches B's and C's kernels (their drop counters rise); an unblock propagates; a node that
//! was down catches up from the bucket and skips what expired meanwhile; a NATS node killed
//! while decisions are being made loses none; wrong credentials (a token, an NKey, a creds
//! file, a missing client certificate) stop the daemon with an error naming the key, and TLS
//! with a client certificate and an NKey joins. The central view is in `fleet_central.rs`;
//! the shared helpers in `common/fleet.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::fleet::{
    ATTACKER, NatsNode, Wire, agent, agent_env, agent_in, block_of, cli_ok, cluster, fleet_lines,
    metric, metric_with, stats,
};
use common::{
    Daemon, Proc, blocks, free_port, http_get, ready, repo_root, run, spawn_logged, text,
    urlencode, wait_for,
};

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
    let panels = dashboard["panels"].as_array().unwrap();
    // One panel per metric the fleet module exports (lint: a new metric gets a panel).
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let exported = a.get("/metrics").1;
    for name in exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("ironpost_fleet_"))
    {
        assert!(
            exprs.iter().any(|e| e.contains(name)),
            "no panel of fleet.json shows {name}"
        );
    }
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let q = format!("/api/v1/query?query={}", urlencode(expr));
            wait_for(
                30,
                &format!("data for the panel `{}`: {expr}", panel["title"]),
                || {
                    let (code, body) = http_get(&prom, &q);
                    assert_eq!(code, 200, "{expr}: {body}");
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    (!v["data"]["result"].as_array()?.is_empty()).then_some(())
                },
            );
        }
    }
    drop((a, b, c));
}

/// A decision received from another node is in the receiver's kernel map, and its journal is
/// synced, by the time it counts as applied; after a SIGKILL it comes back from the journal
/// alone (NATS unreachable), and with the journal lost (a crash between the map update and the
/// sync) from the bucket's history.
#[test]
fn a_received_decision_survives_a_sigkill_through_the_journal_or_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let nats = cluster(dir.path());
    let urls = nats.iter().map(NatsNode::url).collect::<Vec<_>>().join(",");
    let bucket = format!("ipt_fleet_kill_{}", std::process::id());
    let wires: Vec<Wire> = (1..=2).map(Wire::new).collect();
    let a = agent("ipt-a", &wires[0], &urls, &bucket, &[]);
    let mut b = agent("ipt-b", &wires[1], &urls, &bucket, &[]);
    cli_ok(
        &a,
        &[
            "block",
            "add",
            ATTACKER,
            "--ttl",
            "1h",
            "--reason",
            "kill test",
        ],
    );
    let decided = wait_for(20, "A's block on B", || block_of(&b, ATTACKER));
    assert_eq!(decided["reason"], "fleet:ipt-a: kill test", "{decided}");
    wait_for(20, "B to count the decision applied", || {
        (metric_with(&b, "ironpost_fleet_received_total{outcome=\"applied\"}") == 1).then_some(())
    });
    // Counted applied: in the kernel map (the next packet is dropped) and in the journal.
    wires[1].send();
    assert!(stats(&b)["traffic"]["icmp"]["drops"].as_u64().unwrap() >= 1);
    let state = b.dir.path().join("data/ebpf");
    let journal = state.join("blocklist.journal");
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains(ATTACKER),
        "the received decision is journaled before it counts as applied"
    );

    // SIGKILL, then a start with NATS unreachable: the journal alone restores it.
    let kill = |d: &mut common::Daemon| {
        d.signal("KILL");
        let _ = d.child.take().unwrap().wait();
        std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap())
    };
    let kept = kill(&mut b);
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let b2 = Daemon::start_wrapped(
        kept,
        &[],
        &["--defaults"],
        &agent_env("ipt-b", &wires[1], &dead, &bucket),
    );
    wait_for(30, "B's XDP program attached again", || {
        (stats(&b2)["attached"] == true).then_some(())
    });
    let back = block_of(&b2, ATTACKER).expect("the block restored from the journal");
    assert_eq!(back["reason"], decided["reason"], "{back}");
    assert_eq!(back["expires_at"], decided["expires_at"], "{back}");
    assert_eq!(
        metric(&b2, "ironpost_fleet_connected"),
        0,
        "NATS is unreachable"
    );
    let before = stats(&b2)["traffic"]["icmp"]["drops"].as_u64().unwrap();
    wires[1].send();
    assert!(stats(&b2)["traffic"]["icmp"]["drops"].as_u64().unwrap() > before);

    // SIGKILL again and the journal and snapshot lost: the bucket's history brings it back,
    // with the origin's expiry.
    let mut b2 = b2;
    let kept = kill(&mut b2);
    let state = kept.path().join("data/ebpf");
    for f in ["blocklist.journal", "blocklist.json"] {
        let _ = std::fs::remove_file(state.join(f));
    }
    let b3 = agent_in(kept, "ipt-b", &wires[1], &urls, &bucket, &[]);
    let again = wait_for(20, "the block from the bucket's history", || {
        block_of(&b3, ATTACKER)
    });
    assert_eq!(again["reason"], decided["reason"], "{again}");
    // The origin's expiry, applied again as a TTL from now: equal to within the application.
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap()
    };
    let drift = (at(&again) - at(&decided)).num_milliseconds().abs();
    assert!(drift < 1_000, "{again} vs {decided}");
    let before = stats(&b3)["traffic"]["icmp"]["drops"].as_u64().unwrap();
    wires[1].send();
    assert!(stats(&b3)["traffic"]["icmp"]["drops"].as_u64().unwrap() > before);
    drop((a, b, b3));
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
    let url = format!("nats://127.0.0.1:{port}");
    let err = refused(
        &wire,
        &[
            ("IRONPOST_FLEET_NATS_URLS", url.as_str()),
            ("IRONPOST_FLEET_NODE_NAME", "ipt-wrong"),
            ("IRONPOST_FLEET_NATS_TOKEN", "ipt-wrong-token"),
        ],
    );
    assert!(
        err.contains("fleet.nats.token: cannot join the fleet's NATS cluster")
            && err.contains("refused the connection"),
        "{err}"
    );
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

/// A daemon with XDP on `wire` and fleet mode that must not start: its stderr (`extra` is added
/// to its environment, a key given again there replacing the default).
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
