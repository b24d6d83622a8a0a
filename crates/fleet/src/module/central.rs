//! The central role: a durable pull consumer on the events stream feeding the store
//! ([`Ingest`]), each message acknowledged once the store resolved its row.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use ironpost_core::{Health, error_chain};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Inner, OP_TIMEOUT};
use crate::events::Ingest;

/// A message the central queued for its store, acknowledged once the store resolves `status`.
struct Pending {
    status: ironpost_core::ack::StatusCell,
    acker: jetstream::message::Acker,
    at: DateTime<Utc>,
}

/// The central role: a durable pull consumer on the events stream into the store. A message is
/// acknowledged once its row is committed (or durably spooled), asked again (`nak`, after 1 s)
/// when the store lost it; invalid ones and the central's own are acknowledged and counted.
pub(super) async fn ingest_loop(
    inner: Arc<Inner>,
    js: jetstream::Context,
    ingest: Arc<dyn Ingest>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    loop {
        match consume(&inner, &js, &*ingest, &mut pending, &mut stop).await {
            Ok(()) => break,
            Err(why) => {
                warn!(error = %why, "fleet: central consumer failed; re-opening");
                inner.set_health(Health::Degraded(format!("central consumer: {why}")));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    // Stopping: what the store resolves in the next moments is acknowledged; the rest is
    // redelivered to the next run (and stored once).
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pending.is_empty() && Instant::now() < deadline {
        settle(&inner, &mut pending).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn consume(
    inner: &Inner,
    js: &jetstream::Context,
    ingest: &dyn Ingest,
    pending: &mut VecDeque<Pending>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    use jetstream::consumer::{AckPolicy, pull};
    let stream = crate::events::open_stream(js, &inner.cfg)
        .await
        .map_err(|e| error_chain(&e))?;
    let name = inner.cfg.central_consumer.clone();
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(
            "Ironpost central: every agent's alerts and actions into its store".into(),
        ),
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 20_000,
        max_deliver: 20,
        ..Default::default()
    };
    let consumer = tokio::time::timeout(OP_TIMEOUT, stream.get_or_create_consumer(&name, config))
        .await
        .map_err(|_| "no answer from JetStream in time".to_owned())?
        .map_err(|e| error_chain(&e))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .map_err(|e| error_chain(&e))?;
    info!(consumer = %name, stream = %inner.cfg.events_stream, "fleet: central consuming");
    inner.set_health(Health::Healthy);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            m = messages.next() => match m {
                Some(Ok(m)) => {
                    let (msg, acker) = m.split();
                    let m = &inner.metrics;
                    match crate::events::parse(msg.subject.as_str(), &msg.payload) {
                        Err(r) => {
                            m.ingest_invalid.with_label_values(&[r.as_str()]).inc();
                            let _ = acker.ack_with(jetstream::AckKind::Term).await;
                        }
                        Ok((node, _)) if node == inner.node => {
                            m.ingested.with_label_values(&["own"]).inc();
                            let _ = acker.ack().await;
                        }
                        Ok((node, event)) => {
                            let at = event.at();
                            let (ack, status) = ironpost_core::ack::Ack::new();
                            ingest.write(node, event, ack).await.map_err(|e| error_chain(e.as_ref()))?;
                            pending.push_back(Pending { status, acker, at });
                            m.ingest_pending.set(pending.len() as i64);
                        }
                    }
                }
                Some(Err(e)) => return Err(error_chain(&e)),
                None => return Err("the consumer's message stream ended".into()),
            },
            _ = tick.tick(), if !pending.is_empty() => {}
        }
        settle(inner, pending).await;
    }
}

/// Acknowledges the messages whose rows the store resolved, oldest first.
async fn settle(inner: &Inner, pending: &mut VecDeque<Pending>) {
    use ironpost_core::ack::Status;
    let m = &inner.metrics;
    while let Some(p) = pending.front() {
        match p.status.get() {
            Status::Pending => break,
            Status::Delivered => {
                let _ = p.acker.ack().await;
                m.ingested.with_label_values(&["stored"]).inc();
                m.ingest_lag.observe(
                    (Utc::now() - p.at)
                        .to_std()
                        .unwrap_or_default()
                        .as_secs_f64(),
                );
            }
            Status::Failed => {
                let _ = p
                    .acker
                    .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                m.ingested.with_label_values(&["failed"]).inc();
            }
        }
        pending.pop_front();
    }
    m.ingest_pending.set(pending.len() as i64);
}
