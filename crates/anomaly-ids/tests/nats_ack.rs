//! The IDS module on a test-owned JetStream server, with a stand-in for the store that keeps
//! each alert's id and drops its token (what the store does once the alert is committed): while
//! scans from many sources are published, the NATS server is restarted mid-stream; every scan
//! still raises its alert exactly once, every message is acknowledged, and JetStream is left
//! with nothing pending or unacknowledged.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::NatsServer;
use ironpost_anomaly_ids::nats::{self, PublishMetrics};
use ironpost_anomaly_ids::{FlowEvent, IdsConfig, IdsModule, NatsConfig};
use ironpost_core::metrics::prometheus::IntCounter;
use ironpost_core::metrics::{new_registry, render};
use ironpost_core::{AlertEvent, Health, Module};
use tokio::sync::{mpsc, watch};

const SOURCES: u8 = 16;
const PER_SOURCE: u16 = 40;

fn scan(src: u8, port: u16) -> FlowEvent {
    let ts = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    serde_json::from_value(serde_json::json!({
        "ts": ts, "saddr": format!("198.18.8.{}", src + 1), "daddr": "198.18.9.1", "dport": port,
    }))
    .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

async fn wait(what: &str, mut f: impl FnMut() -> bool) {
    // A deadline, not a performance check: a message whose ack was lost in the restart is
    // redelivered after its 30 s ack wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "gave up on {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_no_message_and_raises_each_alert_once() {
    let mut server = NatsServer::start("");
    let url = server.url("nats");
    let id = std::process::id();
    let cfg = IdsConfig {
        enabled: true,
        nats: NatsConfig {
            url: Some(url.clone()),
            ..Default::default()
        },
        subject: format!("ironpost.test.ack.{id}"),
        stream: format!("IRONPOST_TEST_ACK_{id}"),
        durable: format!("ironpost-test-ack-{id}"),
        model_path: Default::default(),
        tick: Duration::from_millis(20),
        ..Default::default()
    };
    let registry = new_registry();
    let (alerts_tx, mut alerts_rx) = mpsc::channel::<AlertEvent>(64);
    // The store: ids and their sources; dropping the alert resolves its token as stored.
    let stored: Arc<Mutex<HashMap<String, (u32, String)>>> = Arc::default();
    let store = {
        let stored = stored.clone();
        tokio::spawn(async move {
            while let Some(a) = alerts_rx.recv().await {
                let src = a.entities.src_ip.map(|s| s.to_string()).unwrap_or_default();
                stored
                    .lock()
                    .unwrap()
                    .entry(a.id.to_string())
                    .or_insert((0, src))
                    .0 += 1;
            }
        })
    };
    let mut ids = IdsModule::new(cfg.clone(), &registry, alerts_tx);
    ids.start().await.unwrap();
    wait("the consumer subscribed", || {
        ids.health() == Health::Healthy
    })
    .await;

    // A publisher of its own (another client), as the sensors are.
    let client = nats::connect_with(&url, "ironpost-test-pub", &NatsConfig::default())
        .await
        .unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let (tx, rx) = mpsc::channel(usize::from(SOURCES) * usize::from(PER_SOURCE));
    let published = IntCounter::new("published", "published").unwrap();
    let publisher = tokio::spawn(nats::publish_loop(
        client.clone(),
        cfg.stream.clone(),
        cfg.subject.clone(),
        rx,
        PublishMetrics {
            published: published.clone(),
            retried: IntCounter::new("retried", "retried").unwrap(),
        },
        stop,
    ));
    for src in 0..SOURCES {
        if src == SOURCES / 2 {
            // Mid-stream: half the scans consumed (or in flight), half still to come.
            wait("half the scans raised", || {
                stored.lock().unwrap().len() >= usize::from(SOURCES / 4)
            })
            .await;
            eprintln!(
                "restart with {} of {} delivered messages acknowledged",
                metric(&render(&registry), "ironpost_ids_nats_acked_total"),
                metric(&render(&registry), "ironpost_ids_nats_received_total"),
            );
            tokio::task::block_in_place(|| server.restart());
        }
        for port in 1..=PER_SOURCE {
            tx.send(scan(src, port)).await.unwrap();
        }
    }
    drop(tx);
    publisher.await.unwrap();
    let n = u64::from(SOURCES) * u64::from(PER_SOURCE);
    assert_eq!(published.get(), n);

    wait("every scan's alert stored", || {
        stored.lock().unwrap().len() >= usize::from(SOURCES)
    })
    .await;
    wait("every message acknowledged", || {
        metric(&render(&registry), "ironpost_ids_nats_acked_total") >= n
    })
    .await;
    let js = async_nats::jetstream::new(client.clone());
    let consumer_info;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = js
            .get_stream(&cfg.stream)
            .await
            .unwrap()
            .consumer_info(&cfg.durable)
            .await
            .unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            consumer_info = Some(info);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("consumer at the end: {consumer_info:?}");

    let _ = stop_tx.send(true);
    ids.stop().await.unwrap();
    drop(ids);
    store.await.unwrap();
    let text = render(&registry);
    let stored = stored.lock().unwrap().clone();
    eprintln!(
        "{n} messages: {} received, {} acked, {} redeliveries of held messages skipped",
        metric(&text, "ironpost_ids_nats_received_total"),
        metric(&text, "ironpost_ids_nats_acked_total"),
        metric(&text, "ironpost_ids_nats_redelivered_pending_total"),
    );
    assert_eq!(stored.len(), usize::from(SOURCES), "one alert per scan");
    assert!(stored.values().all(|(count, _)| *count == 1), "{stored:?}");
    let mut srcs: Vec<&str> = stored.values().map(|(_, s)| s.as_str()).collect();
    srcs.sort_unstable();
    srcs.dedup();
    assert_eq!(
        srcs.len(),
        usize::from(SOURCES),
        "every source alerted once"
    );
    assert_eq!(metric(&text, "ironpost_ids_nats_nacked_total"), 0);
    assert_eq!(metric(&text, "ironpost_ids_nats_invalid_total"), 0);
    assert!(metric(&text, "ironpost_fe_events_in") >= n);
    nats::delete_stream(client, &cfg.stream).await.unwrap();
}
