//! The daemon's routers: one task per bounded channel (alerts, actions, packets, logs) that counts,
//! logs and hands each event to the store. On stop each closes its channel and drains what is
//! queued, so nothing a module sent is left behind.

use std::sync::Arc;

use ironpost_anomaly_ids::{FlowEvent, FlowInput};
use ironpost_core::event::Protocol;
use ironpost_core::{ActionEvent, AlertEvent, LogEvent, PacketEvent};
use ironpost_store::{Record, StoreWriter};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::app::Shared;
use crate::control;

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

/// Hands a record to the store; counts it when the store has already stopped.
async fn persist(app: &Shared, store: &StoreWriter, record: Record, kind: &'static str) {
    if store.write(record).await.is_err() {
        app.metrics.dropped.with_label_values(&[kind]).inc();
        error!(kind, "store stopped before an event could be written");
    }
}

/// Alerts go to the store and to each consumer in `fanout` (the responder, the container guard),
/// without waiting: a full consumer queue is counted in
/// `ironpost_events_dropped_total{kind="alert_to_<consumer>"}`.
pub(crate) async fn route_alerts(
    rx: mpsc::Receiver<AlertEvent>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
    fanout: Vec<(&'static str, mpsc::Sender<AlertEvent>)>,
) {
    let fanout = Arc::new(fanout);
    drain_channel(rx, stop, |mut alert: AlertEvent| {
        let (store, app, fanout) = (store.clone(), app.clone(), fanout.clone());
        async move {
            if let Some(cve) = &app.cve {
                cve.raise(&mut alert);
            }
            app.metrics.alerts.with_label_values(&[alert.severity.as_str(), alert.source.as_str()]).inc();
            info!(
                trace_id = %alert.trace_id, alert_id = %alert.id, rule_id = %alert.rule_id,
                severity = %alert.severity, source = alert.source.as_str(), title = %alert.title, "alert"
            );
            // Queued for the store before any consumer sees it: the actions it causes reference
            // it (a foreign key) and must reach the store after it.
            let copy = (!fanout.is_empty()).then(|| alert.clone());
            persist(&app, &store, Record::Alert(alert), "alert").await;
            if let Some(alert) = copy {
                for (kind, tx) in fanout.iter() {
                    if tx.try_send(alert.clone()).is_err() {
                        app.metrics.dropped.with_label_values(&[kind]).inc();
                    }
                }
            }
        }
    })
    .await;
}

pub(crate) async fn route_actions(
    rx: mpsc::Receiver<ActionEvent>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    drain_channel(rx, stop, |action: ActionEvent| {
        let (store, app) = (store.clone(), app.clone());
        async move {
            app.metrics
                .actions
                .with_label_values(&[action.action_type.as_str(), action.outcome.as_str()])
                .inc();
            info!(
                trace_id = %action.trace_id, action_type = action.action_type.as_str(),
                outcome = action.outcome.as_str(), detail = %action.detail, "action"
            );
            persist(&app, &store, Record::Action(action), "action").await;
        }
    })
    .await;
}

/// A TCP SYN without ACK as the IDS's flow telemetry (the first packet of a connection attempt; its
/// outcome is unknown here, so `flags` stays unset).
fn syn_flow(p: &PacketEvent) -> Option<FlowEvent> {
    let flags = p.tcp_flags?;
    (p.protocol == Protocol::Tcp && flags & 0x02 != 0 && flags & 0x10 == 0).then(|| FlowEvent {
        ts: p.timestamp.timestamp_micros() as f64 / 1e6,
        pid: 0,
        saddr: p.src_ip,
        daddr: p.dst_ip,
        dport: p.dst_port.unwrap_or(0),
        proto: Some(Protocol::Tcp),
        flags: None,
    })
}

/// Packets go to the store and, when the log pipeline runs, to its rules too (without waiting:
/// a full pipeline queue is counted in `ironpost_events_dropped_total{kind="packet_to_pipeline"}`);
/// TCP SYNs go to the IDS (`kind="packet_to_ids"` when its buffer is full).
pub(crate) async fn route_packets(
    rx: mpsc::Receiver<PacketEvent>,
    store: StoreWriter,
    app: Arc<Shared>,
    stop: watch::Receiver<bool>,
    pipeline: Option<mpsc::Sender<PacketEvent>>,
    ids: Option<FlowInput>,
) {
    drain_channel(rx, stop, |packet: PacketEvent| {
        let (store, app, pipeline) = (store.clone(), app.clone(), pipeline.clone());
        if let Some(ids) = &ids
            && let Some(flow) = syn_flow(&packet)
            && !ids.submit(flow)
        {
            app.metrics
                .dropped
                .with_label_values(&["packet_to_ids"])
                .inc();
        }
        async move {
            if let Some(p) = pipeline
                && p.try_send(packet.clone()).is_err()
            {
                app.metrics
                    .dropped
                    .with_label_values(&["packet_to_pipeline"])
                    .inc();
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::event::PacketAction;

    #[test]
    fn only_tcp_syn_without_ack_is_flow_telemetry() {
        let pkt = |proto, flags| {
            let mut p = PacketEvent::new(
                "198.18.0.5".parse().unwrap(),
                "198.18.0.9".parse().unwrap(),
                proto,
                PacketAction::Pass,
            );
            p.tcp_flags = flags;
            p.dst_port = Some(22);
            p
        };
        let f = syn_flow(&pkt(Protocol::Tcp, Some(0x02))).expect("SYN");
        assert_eq!((f.dport, f.flags), (22, None));
        assert_eq!(f.saddr, "198.18.0.5".parse::<std::net::IpAddr>().unwrap());
        assert!(
            syn_flow(&pkt(Protocol::Tcp, Some(0x12))).is_none(),
            "SYN-ACK"
        );
        assert!(syn_flow(&pkt(Protocol::Tcp, Some(0x10))).is_none(), "ACK");
        assert!(syn_flow(&pkt(Protocol::Tcp, None)).is_none());
        assert!(syn_flow(&pkt(Protocol::Udp, Some(0x02))).is_none());
    }
}
