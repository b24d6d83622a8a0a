//! The web console of a fleet central (in process, as `console.rs`): its store holds alerts of
//! two agents (written as the central's ingest writes them, `Record::Remote` with the agent's
//! node) and one of its own; `/alerts` has a Node column and a `node` filter, `/alerts/{id}`
//! names the node, and the live stream carries the node and filters by it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use ironpost_config::IronpostConfig;
use ironpost_core::ack::Ack;
use ironpost_core::metrics::new_registry;
use ironpost_core::{AlertEvent, AlertSource, Module, Severity};
use ironpost_proto::{Request, Response, request};
use ironpost_store::{Record, Remote, RemoteEvent, Store};

use common::http;

fn alert(rule: &str, title: &str) -> AlertEvent {
    let mut a = AlertEvent::new(AlertSource::Ebpf, rule, title, Severity::High);
    a.entities.src_ip = Some("198.18.8.8".parse().unwrap());
    a
}

async fn get(addr: std::net::SocketAddr, path: &str) -> common::Reply {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || http(addr, "GET", &path, &[], ""))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_central_console_shows_and_filters_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = IronpostConfig::default();
    cfg.ebpf.enabled = false;
    // The central role (its fleet module needs XDP and NATS and is not started here: the console
    // only needs the role and the store).
    cfg.fleet.enabled = true;
    cfg.fleet.role = ironpost_fleet::Role::Central;
    cfg.fleet.node_name = "ipt-central".into();
    cfg.general.data_dir = dir.path().join("data");
    cfg.general.control_socket = dir.path().join("control.sock");
    cfg.general.http_listen = "127.0.0.1:0".parse().unwrap();

    // Two agents' alerts, stored as the central's ingest stores them.
    std::fs::create_dir_all(&cfg.general.data_dir).unwrap();
    let from_a = alert("ipt_fleet_rule", "Agent A's alert");
    let from_b = alert("ipt_fleet_rule", "Agent B's alert");
    {
        let mut store = Store::open(cfg.storage(), &cfg.general.data_dir, &new_registry())
            .await
            .unwrap();
        store.set_node("ipt-central");
        store.start().await.unwrap();
        let w = store.writer();
        for (node, a) in [("ipt-agent-a", &from_a), ("ipt-agent-b", &from_b)] {
            w.write(Record::Remote(Remote {
                node: node.into(),
                event: RemoteEvent::Alert(a.clone()),
                ack: Ack::none(),
            }))
            .await
            .unwrap();
        }
        store.stop().await.unwrap();
    }

    let socket = cfg.general.control_socket.clone();
    let daemon = common::InProcess::start(&cfg).await;
    let addr = daemon.addr;

    // The list: a Node column, each row's node linking to its filter, and the node filter.
    let all = get(addr, "/alerts").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(
        all.body.contains("<th scope=\"col\">Node</th>"),
        "{}",
        all.body
    );
    assert!(all.body.contains("data-node=\"1\""), "{}", all.body);
    assert!(all.body.contains("<input name=\"node\""), "{}", all.body);
    for (node, a) in [("ipt-agent-a", &from_a), ("ipt-agent-b", &from_b)] {
        let row = all
            .body
            .split("<tr data-id=")
            .find(|r| r.contains(&a.id.to_string()))
            .unwrap_or_else(|| panic!("no row for {}: {}", a.id, all.body));
        assert!(
            row.contains(&format!(
                "<td class=\"node\"><a href=\"/alerts?node={node}\">{node}</a></td>"
            )),
            "{row}"
        );
    }

    // Filtered by node: only agent A's alert, and the live stream keeps the filter.
    let only_a = get(addr, "/alerts?node=ipt-agent-a").await;
    assert_eq!(only_a.status, 200);
    assert!(
        only_a.body.contains(&from_a.id.to_string()),
        "{}",
        only_a.body
    );
    assert!(
        !only_a.body.contains(&from_b.id.to_string()),
        "{}",
        only_a.body
    );
    assert!(
        only_a.body.contains("data-live=\"/live?node=ipt-agent-a\""),
        "{}",
        only_a.body
    );
    assert!(
        only_a.body.contains("value=\"ipt-agent-a\""),
        "the form keeps the filter: {}",
        only_a.body
    );
    let none = get(addr, "/alerts?node=ipt-agent-c").await;
    assert!(
        none.body.contains("No stored alert matches."),
        "{}",
        none.body
    );

    // One alert: its node, linking to the node's alerts.
    let detail = get(addr, &format!("/alerts/{}", from_b.id)).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail
            .body
            .contains("<dt>Node</dt><dd><a href=\"/alerts?node=ipt-agent-b\">ipt-agent-b</a></dd>"),
        "{}",
        detail.body
    );

    // The live stream: the central's own alert carries its node.
    let mut line_rx = common::live_stream(addr, "node=ipt-central").await;
    let own = alert("ipt_fleet_own", "The central's own alert");
    let own_id = own.id;
    match request(
        &socket,
        &Request::SubmitAlert {
            alert: Box::new(own),
        },
    )
    .await
    .unwrap()
    {
        Response::Accepted { .. } => {}
        other => panic!("{other:?}"),
    }
    let data = loop {
        let l = line_rx.recv().await.expect("live stream open");
        if let Some(d) = l.strip_prefix("data: ") {
            break d.to_owned();
        }
    };
    assert!(data.contains(&format!(r#""id":"{own_id}""#)), "{data}");
    assert!(data.contains(r#""node":"ipt-central""#), "{data}");
    // Stored with the central's node: the list shows it too.
    let mut page = String::new();
    for _ in 0..200 {
        page = get(addr, "/alerts?node=ipt-central").await.body;
        if page.contains(&own_id.to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(page.contains(&own_id.to_string()), "{page}");
    assert!(!page.contains(&from_a.id.to_string()), "{page}");

    daemon.stop().await;
}
