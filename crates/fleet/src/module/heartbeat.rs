//! The heartbeat: this node's report (its modules' health, its block count) put in the nodes
//! bucket every `heartbeat_secs` and, by agents, on the events stream for the central.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use ironpost_core::error_chain;
use tokio::sync::watch;
use tracing::warn;

use super::{Inner, OP_TIMEOUT, lock};
use crate::events::EventKind;
use crate::node::{ModuleHealth, NodeReport};

/// Puts this node's report every `heartbeat_secs`; a missed one is not retried (the next one
/// replaces it).
pub(super) async fn heartbeat_loop(
    inner: Arc<Inner>,
    js: jetstream::Context,
    mut stop: watch::Receiver<bool>,
) {
    let mut store = None;
    let mut tick = tokio::time::interval(Duration::from_secs(inner.cfg.heartbeat_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if store.is_none() {
            match crate::node::open_nodes(&js, &inner.cfg).await {
                Ok(s) => store = Some(s),
                Err(e) => {
                    warn!(error = %error_chain(&e), "fleet: heartbeat bucket unavailable");
                    inner
                        .metrics
                        .heartbeats
                        .with_label_values(&["failed"])
                        .inc();
                    continue;
                }
            }
        }
        let Some(s) = &store else { continue };
        let (mut modules, blocks) = inner.status.report().await;
        modules.push(ModuleHealth {
            name: "fleet".into(),
            health: lock(&inner.health).clone(),
        });
        let report = NodeReport {
            node: inner.node.clone(),
            role: inner.cfg.role,
            version: env!("CARGO_PKG_VERSION").into(),
            at: Utc::now(),
            blocks,
            modules,
        };
        let body: bytes::Bytes = serde_json::to_vec(&report).unwrap_or_default().into();
        let outcome = match tokio::time::timeout(
            OP_TIMEOUT,
            s.put(inner.node.as_str(), body.clone()),
        )
        .await
        {
            Ok(Ok(_)) => "published",
            _ => "failed",
        };
        inner.metrics.heartbeats.with_label_values(&[outcome]).inc();
        // Agents also put it on the events stream for the central's store; a missed one is not
        // retried either (the next one replaces it there too).
        if inner.cfg.role == crate::Role::Agent && inner.cfg.publish_events {
            let p = jetstream::message::PublishMessage::build()
                .payload(body)
                .message_id(crate::events::heartbeat_msg_id(&inner.node, report.at));
            let subject = crate::events::subject(EventKind::Heartbeat, &inner.node);
            let sent = async { js.send_publish(subject, p).await.ok()?.await.ok() };
            let outcome = match tokio::time::timeout(OP_TIMEOUT, sent).await {
                Ok(Some(_)) => "streamed",
                _ => "stream_failed",
            };
            inner.metrics.heartbeats.with_label_values(&[outcome]).inc();
        }
    }
}
