//! Outbound: the bounded buffers the daemon feeds through [`FleetInput`] and the tasks that
//! empty them. Block decisions go to the `[fleet] bucket` (`publish_loop`: a block is resolved
//! through the [`Enforcer`](super::Enforcer), what must not be shared is skipped and counted,
//! a put is retried until JetStream acknowledges it); an agent's alerts and actions go to the
//! events stream (`events_loop`, `EVENTS_WINDOW` publications in flight). A full buffer drops
//! its oldest entry and counts it; nothing here is awaited by enforcement.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use chrono::Utc;
use ironpost_core::event::EventId;
use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, ActionOutcome, ActionType, Health, error_chain};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Inner, OP_TIMEOUT, REMOTE_REASON_PREFIX, lock};
use crate::decision::{Decision, key_of};
use crate::events::EventKind;

const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Publications in flight at once on the events stream.
const EVENTS_WINDOW: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outbound {
    /// A block was made on this address: resolve and publish it.
    Block(IpAddr, Instant),
    /// An operator removed this block: publish the delete marker.
    Unblock(Cidr, Instant),
}

/// An alert or action on its way to the events stream.
#[derive(Debug, Clone)]
struct OutEvent {
    seq: u64,
    kind: EventKind,
    subject: String,
    msg_id: String,
    body: bytes::Bytes,
    queued_at: Instant,
}

/// The outbound events buffer; `next_seq` numbers what is pushed, so the publisher can remove
/// exactly what JetStream acknowledged even when the oldest were dropped meanwhile.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    q: VecDeque<OutEvent>,
    next_seq: u64,
}

/// What the daemon feeds the module with; cheap to clone, never waits.
#[derive(Clone)]
pub struct FleetInput(pub(super) Arc<Inner>);

impl std::fmt::Debug for FleetInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetInput").finish_non_exhaustive()
    }
}

impl FleetInput {
    /// An action from the bus: a successful `ip_block` is queued for publication.
    pub fn action(&self, a: &ActionEvent) -> bool {
        self.0.push_event(EventKind::Action, a.id, a);
        if a.action_type == ActionType::IpBlock
            && a.outcome == ActionOutcome::Success
            && let Some(ip) = a.target.src_ip
        {
            self.0.push(Outbound::Block(ip, Instant::now()));
        }
        true
    }

    /// An alert from the bus: queued for the events stream (agents with `publish_events`).
    pub fn alert(&self, a: &ironpost_core::AlertEvent) -> bool {
        self.0.push_event(EventKind::Alert, a.id, a);
        true
    }

    /// An operator removed the block of `cidr`: unblock it fleet-wide.
    pub fn unblocked(&self, cidr: Cidr) {
        self.0.push(Outbound::Unblock(cidr, Instant::now()));
    }
}

impl Inner {
    fn push(&self, o: Outbound) {
        {
            let mut q = lock(&self.queue);
            if q.len() >= self.cfg.buffer_capacity {
                q.pop_front();
                self.metrics.dropped.inc();
            }
            q.push_back(o);
            self.metrics.buffered.set(q.len() as i64);
        }
        self.wake.notify_one();
    }

    /// Queues an alert or action for the events stream (agents only; never waits).
    fn push_event<T: serde::Serialize>(&self, kind: EventKind, id: EventId, e: &T) {
        if self.cfg.role != crate::Role::Agent || !self.cfg.publish_events {
            return;
        }
        let body = match serde_json::to_vec(e) {
            Ok(b) if b.len() <= crate::events::MAX_EVENT_BYTES => b,
            _ => {
                self.metrics
                    .events_not_sent
                    .with_label_values(&["too_large"])
                    .inc();
                return;
            }
        };
        {
            let mut o = lock(&self.outbox);
            if o.q.len() >= self.cfg.events_buffer_capacity {
                o.q.pop_front();
                self.metrics.events_dropped.inc();
            }
            let seq = o.next_seq;
            o.next_seq += 1;
            o.q.push_back(OutEvent {
                seq,
                kind,
                subject: crate::events::subject(kind, &self.node),
                msg_id: crate::events::msg_id(kind, &self.node, id),
                body: body.into(),
                queued_at: Instant::now(),
            });
            self.metrics.events_buffered.set(o.q.len() as i64);
        }
        self.events_wake.notify_one();
    }
}

/// What a queued item becomes: a put, a delete, or nothing to share.
enum Op {
    Put(String, Decision),
    Delete(String),
    Skip(&'static str),
}

fn resolve(inner: &Inner, o: Outbound) -> Op {
    match o {
        Outbound::Unblock(cidr, _) => Op::Delete(key_of(cidr)),
        Outbound::Block(ip, _) => {
            let Some(b) = inner.enforcer.lookup(ip) else {
                return Op::Skip("gone");
            };
            if b.reason.starts_with(REMOTE_REASON_PREFIX) {
                return Op::Skip("remote");
            }
            if !b.evidence.is_verified() && !inner.cfg.share_unverified {
                return Op::Skip("unverified");
            }
            let d = Decision {
                cidr: b.cidr,
                origin: inner.node.clone(),
                alert_id: b.alert_id,
                evidence: b.evidence,
                reason: b.reason,
                decided_at: Utc::now(),
                expires_at: b.expires_at,
            };
            Op::Put(key_of(b.cidr), d)
        }
    }
}

pub(super) async fn publish_loop(
    inner: Arc<Inner>,
    store: kv::Store,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let next = lock(&inner.queue).front().copied();
        let Some(item) = next else {
            tokio::select! {
                _ = inner.wake.notified() => continue,
                _ = stop.changed() => return,
            }
        };
        let queued_at = match item {
            Outbound::Block(_, t) | Outbound::Unblock(_, t) => t,
        };
        let op = resolve(&inner, item);
        let done = match &op {
            Op::Skip(reason) => {
                inner.metrics.not_shared.with_label_values(&[reason]).inc();
                true
            }
            Op::Put(key, d) => {
                let put = store.put(key.as_str(), d.to_json().into());
                match tokio::time::timeout(OP_TIMEOUT, put).await {
                    Ok(Ok(_)) => {
                        inner.metrics.published.with_label_values(&["block"]).inc();
                        info!(cidr = %d.cidr, "fleet: block published");
                        true
                    }
                    Ok(Err(e)) => {
                        warn!(error = %error_chain(&e), "fleet: publish failed; retrying");
                        false
                    }
                    Err(_) => false,
                }
            }
            Op::Delete(key) => {
                match tokio::time::timeout(OP_TIMEOUT, store.delete(key.as_str())).await {
                    Ok(Ok(())) => {
                        inner
                            .metrics
                            .published
                            .with_label_values(&["unblock"])
                            .inc();
                        true
                    }
                    Ok(Err(e)) => {
                        warn!(error = %error_chain(&e), "fleet: unblock publish failed; retrying");
                        false
                    }
                    Err(_) => false,
                }
            }
        };
        if done {
            if !matches!(op, Op::Skip(_)) {
                inner
                    .metrics
                    .publish_lag
                    .observe(queued_at.elapsed().as_secs_f64());
            }
            let mut q = lock(&inner.queue);
            // The front is still `item` unless the buffer overflowed meanwhile.
            if q.front() == Some(&item) {
                q.pop_front();
            }
            inner.metrics.buffered.set(q.len() as i64);
        } else {
            inner.metrics.publish_retries.inc();
            inner.set_health(Health::Degraded(format!(
                "NATS not acknowledging; {} decisions buffered",
                lock(&inner.queue).len()
            )));
            tokio::select! {
                _ = tokio::time::sleep(RETRY_BACKOFF) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Publishes the outbound events in order, `EVENTS_WINDOW` at a time, each with its message id;
/// an event leaves the buffer only once JetStream acknowledged it (or it was dropped as the
/// oldest of a full buffer). A failed window is published again: JetStream's duplicate window
/// stores what it already had once.
pub(super) async fn events_loop(
    inner: Arc<Inner>,
    js: jetstream::Context,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match crate::events::open_stream(&js, &inner.cfg).await {
            Ok(_) => break,
            Err(e) => warn!(error = %error_chain(&e), "fleet: events stream unavailable; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
    loop {
        let batch: Vec<OutEvent> = lock(&inner.outbox)
            .q
            .iter()
            .take(EVENTS_WINDOW)
            .cloned()
            .collect();
        if batch.is_empty() {
            tokio::select! {
                _ = inner.events_wake.notified() => continue,
                _ = stop.changed() => return,
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        let mut failed = false;
        for e in &batch {
            let p = jetstream::message::PublishMessage::build()
                .payload(e.body.clone())
                .message_id(e.msg_id.as_str());
            match tokio::time::timeout(OP_TIMEOUT, js.send_publish(e.subject.clone(), p)).await {
                Ok(Ok(f)) => acks.push(f),
                Ok(Err(err)) => {
                    warn!(error = %error_chain(&err), "fleet: event publish failed; retrying");
                    failed = true;
                    break;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let mut upto = None;
        for (e, f) in batch.iter().zip(acks) {
            match tokio::time::timeout(OP_TIMEOUT, f.into_future()).await {
                Ok(Ok(_)) => {
                    upto = Some(e.seq);
                    inner
                        .metrics
                        .events_published
                        .with_label_values(&[e.kind.as_str()])
                        .inc();
                    inner
                        .metrics
                        .events_publish_lag
                        .observe(e.queued_at.elapsed().as_secs_f64());
                }
                _ => {
                    failed = true;
                    break;
                }
            }
        }
        {
            let mut o = lock(&inner.outbox);
            if let Some(upto) = upto {
                while o.q.front().is_some_and(|e| e.seq <= upto) {
                    o.q.pop_front();
                }
            }
            inner.metrics.events_buffered.set(o.q.len() as i64);
        }
        if failed {
            inner.metrics.events_retries.inc();
            tokio::select! {
                _ = tokio::time::sleep(RETRY_BACKOFF) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BoxError, Enforcer, FleetModule, LocalBlock, RemoteBlock};
    use super::*;
    use crate::config::FleetConfig;
    use crate::node::{ModuleHealth, NodeStatus};
    use chrono::DateTime;
    use ironpost_core::BoxFuture;
    use ironpost_core::metrics::prometheus::Registry;
    use ironpost_core::{AlertEvent, AlertSource, Severity};

    struct NoEnforcer;
    impl Enforcer for NoEnforcer {
        fn block_many(
            &self,
            blocks: Vec<RemoteBlock>,
        ) -> BoxFuture<'_, Vec<Result<DateTime<Utc>, BoxError>>> {
            Box::pin(async move { blocks.iter().map(|_| Ok(Utc::now())).collect() })
        }
        fn unblock(&self, _: Cidr) -> BoxFuture<'_, Result<(), BoxError>> {
            Box::pin(async { Ok(()) })
        }
        fn lookup(&self, _: IpAddr) -> Option<LocalBlock> {
            None
        }
    }
    struct NoStatus;
    impl NodeStatus for NoStatus {
        fn report(&self) -> BoxFuture<'_, (Vec<ModuleHealth>, usize)> {
            Box::pin(async { (Vec::new(), 0) })
        }
    }

    fn module(cfg: FleetConfig) -> (FleetModule, Registry) {
        let r = ironpost_core::metrics::new_registry();
        let m = FleetModule::new(cfg, &r, Arc::new(NoEnforcer), Arc::new(NoStatus));
        (m, r)
    }

    fn alert(title: &str) -> AlertEvent {
        AlertEvent::new(AlertSource::External, "r", title, Severity::High)
    }

    #[test]
    fn the_outbound_events_buffer_keeps_the_newest_and_counts_what_it_drops() {
        let (m, _r) = module(FleetConfig {
            node_name: "edge-1".into(),
            events_buffer_capacity: 3,
            ..Default::default()
        });
        let input = m.input();
        let alerts: Vec<AlertEvent> = (0..5).map(|i| alert(&format!("a{i}"))).collect();
        for a in &alerts {
            assert!(input.alert(a));
        }
        let o = lock(&m.inner.outbox);
        let ids: Vec<String> = o.q.iter().map(|e| e.msg_id.clone()).collect();
        let want: Vec<String> = alerts[2..]
            .iter()
            .map(|a| crate::events::msg_id(EventKind::Alert, "edge-1", a.id))
            .collect();
        assert_eq!(ids, want);
        assert_eq!(o.q.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(o.q.iter().all(|e| e.subject == "ironpost.alert.edge-1"));
        assert_eq!(m.inner.metrics.events_dropped.get(), 2);
        assert_eq!(m.inner.metrics.events_buffered.get(), 3);
    }

    #[test]
    fn a_central_and_an_agent_without_publish_events_queue_nothing_and_oversized_events_are_counted()
     {
        for cfg in [
            FleetConfig {
                role: crate::Role::Central,
                ..Default::default()
            },
            FleetConfig {
                publish_events: false,
                ..Default::default()
            },
        ] {
            let (m, _r) = module(cfg);
            m.input().alert(&alert("a"));
            assert!(lock(&m.inner.outbox).q.is_empty());
        }
        let (m, _r) = module(FleetConfig::default());
        let mut big = alert("big");
        big.description = "x".repeat(crate::events::MAX_EVENT_BYTES);
        m.input().alert(&big);
        assert!(lock(&m.inner.outbox).q.is_empty());
        assert_eq!(
            m.inner
                .metrics
                .events_not_sent
                .with_label_values(&["too_large"])
                .get(),
            1
        );
    }
}
