//! The daemon's routers: one task per bounded channel (alerts, actions, packets, logs) that counts,
//! logs and hands each event to the store. On stop each closes its channel and drains what is
//! queued, so nothing a module sent is left behind.

use std::sync::Arc;

use ironpost_core::{ActionEvent, AlertEvent, LogEvent, PacketEvent};
use ironpost_store::{Record, StoreWriter};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::bus::{Enricher, Subscriber};
use crate::shared::Shared;
use ironpost_proto::server as control;

/// Receives from `rx` until the channel closes or `stop` turns true; then closes the channel and
/// handles what is still queued, so nothing accepted is left behind.
async fn drain_channel<T, F: std::future::Future<Output = ()>>(
    mut rx: mpsc::Receiver<T>,
    mut stop: watch::Receiver<bool>,
    handle: impl Fn(T) -> F,
) {
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => handle(m).await,
                None => return,
            },
            _ = control::stopped(&mut stop) => break,
        }
    }
    rx.close();
    while let Some(m) = rx.recv().await {
        handle(m).await;
    }
}

/// Hands a record to the store's queue per `storage.when_full` (`drop`: never waits; a full queue
/// is counted by the store); counts it when the store has already stopped.
async fn persist(app: &Shared, store: &StoreWriter, record: Record, kind: &'static str) {
    if store.submit(record).await.is_err() {
        app.metrics.dropped.with_label_values(&[kind]).inc();
        error!(kind, "store stopped before an event could be written");
    }
}

/// Alerts are amended by the bus's enrichers, then go to the store and to each subscriber (the
/// responder, the container guard) without waiting: a full subscriber queue is counted in
/// `ironpost_events_dropped_total{kind="<subscriber>"}`, a full store queue (a stalled database,
/// `when_full = "drop"`) in `ironpost_store_queue_dropped_total{kind="alert"}` (with `"spill"` the
/// alert is spilled to disk instead, without waiting either). Subscribers get a
/// copy without the acknowledgement token: only the store acknowledges.
pub(crate) async fn route_alerts(
    rx: mpsc::Receiver<AlertEvent>,
    subscribers: Vec<Subscriber<AlertEvent>>,
    enrichers: Vec<Enricher>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let subscribers = Arc::new(subscribers);
    let enrichers = Arc::new(enrichers);
    drain_channel(rx, stop, |mut alert: AlertEvent| {
        let (store, app) = (store.clone(), app.clone());
        let (subscribers, enrichers) = (subscribers.clone(), enrichers.clone());
        async move {
            for enrich in enrichers.iter() {
                enrich(&mut alert);
            }
            app.metrics.alerts.with_label_values(&[alert.severity.as_str(), alert.source.as_str()]).inc();
            info!(
                trace_id = %alert.trace_id, alert_id = %alert.id, rule_id = %alert.rule_id,
                severity = %alert.severity, source = alert.source.as_str(), title = %alert.title, "alert"
            );
            // Queued for the store before any subscriber sees it: the actions it causes reference
            // it (a foreign key) and must reach the store after it.
            let copy = (!subscribers.is_empty()).then(|| {
                let mut copy = alert.clone();
                drop(copy.ack.take());
                copy
            });
            persist(&app, &store, Record::Alert(alert), "alert").await;
            if let Some(alert) = copy {
                deliver(&app, &subscribers, &alert);
            }
        }
    })
    .await;
}

/// Hands `event` to each subscriber; counts those that could not take it.
fn deliver<T>(app: &Shared, subscribers: &[Subscriber<T>], event: &T) {
    for s in subscribers {
        if !s.deliver(event) {
            app.metrics.dropped.with_label_values(&[s.name]).inc();
        }
    }
}

pub(crate) async fn route_actions(
    rx: mpsc::Receiver<ActionEvent>,
    subscribers: Vec<Subscriber<ActionEvent>>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let subscribers = Arc::new(subscribers);
    drain_channel(rx, stop, |action: ActionEvent| {
        let (store, app, subscribers) = (store.clone(), app.clone(), subscribers.clone());
        async move {
            app.metrics
                .actions
                .with_label_values(&[action.action_type.as_str(), action.outcome.as_str()])
                .inc();
            info!(
                trace_id = %action.trace_id, action_type = action.action_type.as_str(),
                outcome = action.outcome.as_str(), detail = %action.detail, "action"
            );
            let record = Record::Action(action.clone());
            persist(&app, &store, record, "action").await;
            deliver(&app, &subscribers, &action);
        }
    })
    .await;
}

/// Packets go to the store and to each subscriber (the log pipeline's packet rules, the IDS's
/// flow telemetry) without waiting: `ironpost_events_dropped_total{kind="packet_to_pipeline"}`,
/// `{kind="packet_to_ids"}` count what a full subscriber could not take.
pub(crate) async fn route_packets(
    rx: mpsc::Receiver<PacketEvent>,
    subscribers: Vec<Subscriber<PacketEvent>>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let subscribers = Arc::new(subscribers);
    drain_channel(rx, stop, |packet: PacketEvent| {
        let (store, app, subscribers) = (store.clone(), app.clone(), subscribers.clone());
        async move {
            deliver(&app, &subscribers, &packet);
            persist(&app, &store, Record::Packet(packet), "packet").await
        }
    })
    .await;
}

pub(crate) async fn route_logs(
    rx: mpsc::Receiver<LogEvent>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    drain_channel(rx, stop, |log: LogEvent| {
        let (store, app) = (store.clone(), app.clone());
        async move { persist(&app, &store, Record::Log(log), "log").await }
    })
    .await;
}
