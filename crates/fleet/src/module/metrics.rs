//! The fleet module's Prometheus metrics: decisions published and received, the outbound
//! buffers, the events stream and the central's ingest.

use ironpost_core::metrics;
use ironpost_core::metrics::prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, Registry,
};

#[derive(Debug, Clone)]
pub(super) struct Metrics {
    pub(super) published: IntCounterVec,
    pub(super) publish_retries: IntCounter,
    pub(super) not_shared: IntCounterVec,
    pub(super) buffered: IntGauge,
    pub(super) dropped: IntCounter,
    pub(super) received: IntCounterVec,
    pub(super) invalid: IntCounterVec,
    pub(super) publish_lag: Histogram,
    pub(super) consume_lag: Histogram,
    pub(super) apply_duration: Histogram,
    pub(super) apply_batch: Histogram,
    pub(super) connected: IntGauge,
    pub(super) heartbeats: IntCounterVec,
    pub(super) resyncs: IntCounter,
    pub(super) events_published: IntCounterVec,
    pub(super) events_buffered: IntGauge,
    pub(super) events_dropped: IntCounter,
    pub(super) events_not_sent: IntCounterVec,
    pub(super) events_retries: IntCounter,
    pub(super) events_publish_lag: Histogram,
    pub(super) ingested: IntCounterVec,
    pub(super) ingest_invalid: IntCounterVec,
    pub(super) ingest_pending: IntGauge,
    pub(super) ingest_lag: Histogram,
}

impl Metrics {
    pub(super) fn new(r: &Registry) -> Self {
        // Finer between 10 and 100 ms, where the fleet's target (50 ms) is.
        let lag = vec![
            0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25,
            0.5, 1.0, 5.0, 30.0,
        ];
        let m = Metrics {
            published: metrics::int_counter_vec(
                r,
                "fleet_published_total",
                "Decisions this node published to the fleet, by kind (block, unblock).",
                &["kind"],
            ),
            publish_retries: metrics::int_counter(
                r,
                "fleet_publish_retries_total",
                "Publish attempts that failed or were not acknowledged in time (each is retried).",
            ),
            not_shared: metrics::int_counter_vec(
                r,
                "fleet_not_shared_total",
                "Local blocks not published, by reason (unverified, remote, gone).",
                &["reason"],
            ),
            buffered: metrics::int_gauge(
                r,
                "fleet_outbound_buffered",
                "Outbound decisions waiting for NATS.",
            ),
            dropped: metrics::int_counter(
                r,
                "fleet_outbound_dropped_total",
                "Outbound decisions dropped because the buffer was full (the oldest goes).",
            ),
            received: metrics::int_counter_vec(
                r,
                "fleet_received_total",
                "Decisions received from the bucket, by outcome (applied, unblocked, own, expired, unverified, duplicate, failed).",
                &["outcome"],
            ),
            invalid: metrics::int_counter_vec(
                r,
                "fleet_decisions_invalid_total",
                "Bucket entries refused, by reason (too_large, malformed, key_mismatch, bad_key).",
                &["reason"],
            ),
            publish_lag: metrics::histogram(
                r,
                "fleet_publish_lag_seconds",
                "From a local decision to JetStream's acknowledgement of its publication.",
                lag.clone(),
            ),
            consume_lag: metrics::histogram(
                r,
                "fleet_consume_lag_seconds",
                "From a decision on its origin node to its block in force in this node's XDP map (clocks of both hosts).",
                lag.clone(),
            ),
            apply_duration: metrics::histogram(
                r,
                "fleet_apply_seconds",
                "Time to apply a received decision to the local blocklist: its batch's XDP map updates and the one journal sync after them.",
                lag.clone(),
            ),
            apply_batch: metrics::histogram(
                r,
                "fleet_apply_batch_size",
                "Received decisions applied together (one journal sync per batch).",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
            ),
            heartbeats: metrics::int_counter_vec(
                r,
                "fleet_heartbeats_total",
                "Heartbeats put in the nodes bucket (published, failed) and, by agents, on the events stream (streamed, stream_failed).",
                &["outcome"],
            ),
            resyncs: metrics::int_counter(
                r,
                "fleet_resyncs_total",
                "Times the watcher re-read the bucket's history (every 30 s, or after an error).",
            ),
            connected: metrics::int_gauge(
                r,
                "fleet_connected",
                "1 while the NATS connection is up and the bucket open.",
            ),
            events_published: metrics::int_counter_vec(
                r,
                "fleet_events_published_total",
                "Alerts and actions this agent published to the events stream (acknowledged by JetStream), by kind.",
                &["kind"],
            ),
            events_buffered: metrics::int_gauge(
                r,
                "fleet_events_buffered",
                "Alerts and actions waiting to be published to the events stream.",
            ),
            events_dropped: metrics::int_counter(
                r,
                "fleet_events_dropped_total",
                "Alerts and actions dropped because the outbound buffer was full (the oldest goes).",
            ),
            events_not_sent: metrics::int_counter_vec(
                r,
                "fleet_events_not_sent_total",
                "Alerts and actions never published, by reason (too_large).",
                &["reason"],
            ),
            events_retries: metrics::int_counter(
                r,
                "fleet_events_publish_retries_total",
                "Times publishing to the events stream failed or was not acknowledged in time (retried).",
            ),
            events_publish_lag: metrics::histogram(
                r,
                "fleet_events_publish_lag_seconds",
                "From an alert or action queued for the fleet to JetStream's acknowledgement.",
                lag.clone(),
            ),
            ingested: metrics::int_counter_vec(
                r,
                "fleet_ingested_total",
                "Events stream messages the central handled, by outcome (stored, failed, own).",
                &["outcome"],
            ),
            ingest_invalid: metrics::int_counter_vec(
                r,
                "fleet_ingest_invalid_total",
                "Events stream messages refused by the central, by reason (bad_subject, too_large, malformed).",
                &["reason"],
            ),
            ingest_pending: metrics::int_gauge(
                r,
                "fleet_ingest_pending",
                "Messages the central received and queued for its store, not yet acknowledged.",
            ),
            ingest_lag: metrics::histogram(
                r,
                "fleet_ingest_lag_seconds",
                "From an event on its agent to its row committed in the central's store (clocks of both hosts).",
                lag.clone(),
            ),
        };
        // Every label value known in advance starts at 0, so each series exists (for
        // dashboards and `rate()`) before its first event; the central's on agents too.
        let init = |v: &IntCounterVec, labels: &[&str]| {
            for l in labels {
                v.with_label_values(&[*l]);
            }
        };
        init(&m.published, &["block", "unblock"]);
        init(&m.not_shared, &["unverified", "remote", "gone"]);
        init(
            &m.received,
            &[
                "applied",
                "unblocked",
                "own",
                "expired",
                "unverified",
                "duplicate",
                "failed",
            ],
        );
        init(
            &m.invalid,
            &["too_large", "malformed", "key_mismatch", "bad_key"],
        );
        init(
            &m.heartbeats,
            &["published", "failed", "streamed", "stream_failed"],
        );
        init(&m.events_published, &["alert", "action"]);
        init(&m.events_not_sent, &["too_large"]);
        init(&m.ingested, &["stored", "failed", "own"]);
        init(
            &m.ingest_invalid,
            &["bad_subject", "too_large", "malformed"],
        );
        m
    }
}
