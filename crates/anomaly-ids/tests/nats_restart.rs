//! At-least-once delivery across a NATS restart on the consumer side: a test-owned JetStream
//! server (store in a temp dir) holds N flow messages; while the IDS's durable consumer is
//! reading them, the server is stopped and started again on the same port and store. The
//! consumer reconnects and, eventually, every one of the N arrives; duplicates are counted.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NatsServer, flow};
use ironpost_anomaly_ids::nats::{self, ConsumeMetrics, PublishMetrics};
use ironpost_anomaly_ids::{FlowEvent, NatsConfig};
use ironpost_core::ack::Ack;
use ironpost_core::metrics::prometheus::IntCounter;
use tokio::sync::{mpsc, watch};

const N: u32 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_mid_stream_loses_no_message() {
    let mut server = NatsServer::start("");
    let url = server.url("nats");
    let client = nats::connect_with(&url, "ironpost-test", &NatsConfig::default())
        .await
        .unwrap();
    let (stream, subject, durable) = (
        "IRONPOST_TEST_RESTART".to_owned(),
        "ironpost.test.restart".to_owned(),
        "ironpost-test-restart".to_owned(),
    );
    let (stop_tx, stop) = watch::channel(false);
    // A small hand-off buffer: the consumer is mid-stream (messages delivered, not yet acked)
    // whenever the test stops reading.
    let (out_tx, mut out) = mpsc::channel(16);
    let status = Arc::new(Mutex::new(Some("starting".to_owned())));
    let received = IntCounter::new("received", "received").unwrap();
    let consumer = tokio::spawn(nats::consume_loop(
        client.clone(),
        stream.clone(),
        subject.clone(),
        durable,
        out_tx,
        ConsumeMetrics {
            received: received.clone(),
            invalid: IntCounter::new("invalid", "invalid").unwrap(),
            acked: IntCounter::new("acked", "acked").unwrap(),
            nacked: IntCounter::new("nacked", "nacked").unwrap(),
            redelivered: IntCounter::new("redelivered", "redelivered").unwrap(),
        },
        status.clone(),
        stop.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status.lock().unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every message acknowledged by JetStream before the restart.
    let (tx, rx) = mpsc::channel(N as usize);
    let published = IntCounter::new("published", "published").unwrap();
    let publisher = tokio::spawn(nats::publish_loop(
        client.clone(),
        stream.clone(),
        subject,
        rx,
        PublishMetrics {
            published: published.clone(),
            retried: IntCounter::new("retried", "retried").unwrap(),
        },
        stop.clone(),
    ));
    for i in 0..N {
        tx.send(flow(i)).await.unwrap();
    }
    drop(tx);
    publisher.await.unwrap();
    assert_eq!(published.get(), u64::from(N));

    let mut seen = HashSet::new();
    let mut total = 0u64;
    while seen.len() < (N / 4) as usize {
        let ev = next(&mut out).await;
        total += 1;
        seen.insert(ev.ts as u32);
    }
    // Mid-stream: the server still holds messages it has not delivered (the consumer waits on
    // the full hand-off buffer), so what follows must come from the restarted server.
    let js = async_nats::jetstream::new(client.clone());
    let info = js
        .get_stream(&stream)
        .await
        .unwrap()
        .consumer_info("ironpost-test-restart")
        .await
        .unwrap();
    assert!(info.num_pending > 0, "{info:?}");
    eprintln!(
        "at the restart: {} undelivered, {} delivered and not acknowledged",
        info.num_pending, info.num_ack_pending
    );
    server.restart();
    while seen.len() < N as usize {
        let ev = next(&mut out).await;
        total += 1;
        seen.insert(ev.ts as u32);
    }
    let duplicates = total - seen.len() as u64;
    eprintln!(
        "{N} messages, {total} deliveries after a restart at {}: {duplicates} duplicates",
        N / 4
    );
    assert!(seen.iter().all(|&i| i < N));
    assert!(received.get() >= u64::from(N));
    stop_tx.send(true).unwrap();
    consumer.await.unwrap();
    nats::delete_stream(client, &stream).await.unwrap();
}

/// The next flow (a deadline, not a performance check: JetStream redelivers what was delivered
/// but not acknowledged after its 30 s ack wait).
async fn next(out: &mut mpsc::Receiver<(FlowEvent, Ack)>) -> FlowEvent {
    tokio::time::timeout(Duration::from_secs(120), out.recv())
        .await
        .expect("the consumer resumed after the restart")
        .unwrap()
        // The token dropped here: the consumer acknowledges the message.
        .0
}
