//! NATS JetStream transport of flow telemetry: a publisher that buffers (bounded) through outages and a durable
//! pull consumer that feeds the scorer.
//!
//! The stream (`[ids] stream`, subject `[ids] subject`) is created when missing, by whichever side comes first.
//! Delivery is at least once: a publish whose ack does not arrive is retried, and the consumer acks each message
//! after handing it on, so a duplicate can reach the extractor after a reconnect (it counts one extra attempt).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use ironpost_core::metrics::prometheus::IntCounter;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use ironpost_core::error_chain;

use crate::error::IdsError;
use crate::features::FlowEvent;

/// A telemetry message larger than this is refused (counted as invalid): a flow event is about 100 bytes.
pub const MAX_FLOW_BYTES: usize = 4096;
/// Events published before their acks are awaited together.
const PUBLISH_BATCH: usize = 256;
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Stream bounds: telemetry is only useful for seconds; keep an hour, at most 256 MiB.
const STREAM_MAX_AGE: Duration = Duration::from_secs(3600);
const STREAM_MAX_BYTES: i64 = 256 * 1024 * 1024;

/// Connects without failing when the server is down: the client keeps retrying in the background.
pub async fn connect(
    url: &str,
    name: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await
}

/// The telemetry stream, created when missing.
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
) -> Result<stream::Stream, IdsError> {
    js.get_or_create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        max_age: STREAM_MAX_AGE,
        max_bytes: STREAM_MAX_BYTES,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .map_err(|source| IdsError::Stream {
        stream: name.to_owned(),
        subject: subject.to_owned(),
        source,
    })
}

/// Deletes a stream (tests and tools clean up after themselves); a missing stream is not an error.
pub async fn delete_stream(client: async_nats::Client, name: &str) -> Result<(), IdsError> {
    match jetstream::new(client).delete_stream(name).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(IdsError::DeleteStream {
            stream: name.to_owned(),
            source,
        }),
    }
}

fn is_not_found(e: &jetstream::context::DeleteStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::DeleteStreamErrorKind::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Counters of a publisher.
#[derive(Debug, Clone)]
pub struct PublishMetrics {
    /// Events the server acknowledged.
    pub published: IntCounter,
    /// Publish attempts that failed or were not acknowledged in time (each is retried).
    pub retried: IntCounter,
}

/// Publishes what arrives on `rx` until it closes (then flushes what is queued) or `stop` turns true. Each
/// event is retried until JetStream acknowledges it; while NATS is down events wait in `rx`, whose capacity
/// is the bounded buffer (senders count what does not fit).
pub async fn publish_loop(
    client: async_nats::Client,
    stream_name: String,
    subject: String,
    mut rx: mpsc::Receiver<FlowEvent>,
    metrics: PublishMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let js = jetstream::new(client);
    let mut stream_ready = false;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut pending: Vec<Vec<u8>> = batch
            .drain(..)
            .filter_map(|e| serde_json::to_vec(&e).ok())
            .collect();
        while !pending.is_empty() {
            if !stream_ready {
                match ensure_stream(&js, &stream_name, &subject).await {
                    Ok(_) => stream_ready = true,
                    Err(e) => {
                        warn!(error = %error_chain(&e), "telemetry publisher waiting for JetStream");
                        metrics.retried.inc();
                        if sleep_or_stop(&mut stop).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let mut acks = Vec::with_capacity(pending.len());
            for p in &pending {
                acks.push(js.publish(subject.clone(), p.clone().into()).await);
            }
            let mut failed = Vec::new();
            for (p, ack) in pending.drain(..).zip(acks) {
                let ok = match ack {
                    Ok(fut) => matches!(tokio::time::timeout(ACK_TIMEOUT, fut).await, Ok(Ok(_))),
                    Err(_) => false,
                };
                if ok {
                    metrics.published.inc();
                } else {
                    metrics.retried.inc();
                    failed.push(p);
                }
            }
            if !failed.is_empty() {
                // The stream may have been deleted, or the server restarted without it.
                stream_ready = false;
                pending = failed;
                if sleep_or_stop(&mut stop).await {
                    return;
                }
            }
        }
    }
}

/// True when `stop` turned true during the backoff.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(RETRY_BACKOFF) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    stopped || *stop.borrow()
}

/// Counters of the consumer.
#[derive(Debug, Clone)]
pub struct ConsumeMetrics {
    pub received: IntCounter,
    /// Messages that were not a flow event (or over [`MAX_FLOW_BYTES`]); acked and skipped.
    pub invalid: IntCounter,
}

/// Where the consumer reports why it is not consuming (None while it is).
pub type ConsumerStatus = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// Reads the durable pull consumer into `out` until `stop`; re-creates stream, consumer and subscription
/// after any error.
#[allow(clippy::too_many_arguments)]
pub async fn consume_loop(
    client: async_nats::Client,
    stream_name: String,
    subject: String,
    durable: String,
    out: mpsc::Sender<FlowEvent>,
    metrics: ConsumeMetrics,
    status: ConsumerStatus,
    mut stop: watch::Receiver<bool>,
) {
    let set = |reason: Option<String>| {
        if let Ok(mut s) = status.lock() {
            *s = reason;
        }
    };
    let js = jetstream::new(client);
    loop {
        let messages = async {
            let stream = ensure_stream(&js, &stream_name, &subject).await?;
            let consumer = stream
                .get_or_create_consumer(
                    &durable,
                    consumer::pull::Config {
                        durable_name: Some(durable.clone()),
                        deliver_policy: consumer::DeliverPolicy::New,
                        ack_policy: consumer::AckPolicy::Explicit,
                        max_ack_pending: 20_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|source| IdsError::Consumer {
                    durable: durable.clone(),
                    source,
                })?;
            consumer
                .messages()
                .await
                .map_err(|source| IdsError::Subscribe {
                    durable: durable.clone(),
                    source,
                })
        };
        let mut messages = tokio::select! {
            m = messages => m,
            _ = stop.wait_for(|s| *s) => return,
        };
        match &mut messages {
            Ok(_) => {
                info!(stream = %stream_name, durable = %durable, "consuming flow telemetry from NATS");
                set(None);
            }
            Err(e) => {
                let reason = error_chain(e);
                warn!(error = %reason, "cannot consume flow telemetry; retrying");
                set(Some(reason));
            }
        }
        if let Ok(messages) = &mut messages {
            loop {
                let next = tokio::select! {
                    n = messages.next() => n,
                    _ = stop.wait_for(|s| *s) => return,
                };
                let msg = match next {
                    Some(Ok(m)) => m,
                    Some(Err(source)) => {
                        let reason = error_chain(&IdsError::Messages {
                            durable: durable.clone(),
                            source,
                        });
                        warn!(error = %reason, "telemetry subscription failed; re-subscribing");
                        set(Some(reason));
                        break;
                    }
                    None => break,
                };
                metrics.received.inc();
                match parse_flow(&msg.payload) {
                    Some(ev) => {
                        if out.send(ev).await.is_err() {
                            return;
                        }
                    }
                    None => metrics.invalid.inc(),
                }
                if let Err(e) = msg.ack().await {
                    warn!(error = %e, "cannot ack a telemetry message");
                }
            }
        }
        if sleep_or_stop(&mut stop).await {
            return;
        }
    }
}

/// A flow event from a message payload, or None when it is too large or not one.
pub fn parse_flow(payload: &[u8]) -> Option<FlowEvent> {
    if payload.len() > MAX_FLOW_BYTES {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flow_cases() {
        let ok = br#"{"ts": 1700000000.5, "pid": 0, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 80}"#;
        let ev = parse_flow(ok).expect("seed message");
        assert_eq!(ev.dport, 80);
        assert!(
            parse_flow(br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":80}"#).is_some()
        );
        for bad in [
            &b"not json"[..],
            br#"{"ts":1,"saddr":"nope","daddr":"10.0.0.9","dport":80}"#,
            br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":70000}"#,
            br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
        ] {
            assert!(parse_flow(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        let mut big = br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":80,"x":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_FLOW_BYTES));
        big.extend_from_slice(b"\"}");
        assert!(parse_flow(&big).is_none());
    }
}
