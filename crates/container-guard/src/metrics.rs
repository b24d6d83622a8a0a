//! The guard's metrics. No container id or name is ever a label.

use ironpost_core::metrics::{self, prometheus};

/// The guard's metrics (no container id or name is ever a label).
#[derive(Debug)]
pub(crate) struct GuardMetrics {
    pub(crate) alerts: prometheus::IntCounterVec,
    pub(crate) links: prometheus::IntCounterVec,
    pub(crate) actions: prometheus::IntCounterVec,
    pub(crate) action_latency: prometheus::HistogramVec,
    pub(crate) docker_calls: prometheus::HistogramVec,
    pub(crate) containers: prometheus::IntGauge,
    pub(crate) isolated: prometheus::IntGauge,
    pub(crate) connected: prometheus::IntGauge,
    pub(crate) reconnects: prometheus::IntCounter,
    pub(crate) events: prometheus::IntCounter,
    pub(crate) refreshes: prometheus::IntCounterVec,
    pub(crate) policies: prometheus::IntGauge,
    pub(crate) policy_reloads: prometheus::IntCounterVec,
    pub(crate) undone: prometheus::IntCounterVec,
    pub(crate) reconciles: prometheus::IntCounterVec,
    pub(crate) dropped: prometheus::IntCounterVec,
    pub(crate) state_corrupt: prometheus::IntCounter,
    pub(crate) recovered: prometheus::IntCounter,
}

impl GuardMetrics {
    pub(crate) fn new(r: &prometheus::Registry) -> Self {
        let p = |n: &str| format!("container_guard_{n}");
        GuardMetrics {
            alerts: metrics::int_counter_vec(
                r,
                &p("alerts_total"),
                "Alerts the guard handled, by outcome (isolated, dry_run, failed, no_target, ambiguous, no_policy, weak_evidence, self_directed, destination_only, shutdown).",
                &["outcome"],
            ),
            links: metrics::int_counter_vec(
                r,
                &p("alert_links_total"),
                "Alerts a policy acted on (isolated, dry run or failed), by how the container was linked (named, source_address, destination_address, published_port).",
                &["link"],
            ),
            actions: metrics::int_counter_vec(
                r,
                &p("actions_total"),
                "Action attempts on containers.",
                &["action_type", "outcome"],
            ),
            action_latency: metrics::histogram_vec(
                r,
                &p("action_duration_seconds"),
                "From the alert reaching the guard to the container action confirmed by Docker.",
                &["action_type"],
                metrics::latency_buckets(),
            ),
            docker_calls: metrics::histogram_vec(
                r,
                &p("docker_call_duration_seconds"),
                "Duration of each Docker API call.",
                &["call"],
                metrics::latency_buckets(),
            ),
            containers: metrics::int_gauge(r, &p("containers"), "Containers in the inventory."),
            isolated: metrics::int_gauge(
                r,
                &p("isolated_containers"),
                "Containers isolated by the guard and not yet restored.",
            ),
            connected: metrics::int_gauge(
                r,
                &p("docker_connected"),
                "1 while the guard is connected to Docker.",
            ),
            reconnects: metrics::int_counter(
                r,
                &p("docker_reconnects_total"),
                "Reconnections to Docker after it went away.",
            ),
            events: metrics::int_counter(
                r,
                &p("docker_events_total"),
                "Docker container and network events received.",
            ),
            refreshes: metrics::int_counter_vec(
                r,
                &p("inventory_refreshes_total"),
                "Full inventory refreshes by trigger (connect, event, ttl, alert).",
                &["trigger"],
            ),
            policies: metrics::int_gauge(r, &p("policies"), "Isolation policies in force."),
            policy_reloads: metrics::int_counter_vec(
                r,
                &p("policy_reloads_total"),
                "Policy reloads by result.",
                &["result"],
            ),
            undone: metrics::int_counter_vec(
                r,
                "isolation_undone_total",
                "Isolations found undone in Docker (unpaused, restarted, reconnected) by the guard's reconciliation, by action and outcome (reapplied, failed, reported).",
                &["action", "outcome"],
            ),
            reconciles: metrics::int_counter_vec(
                r,
                &p("reconciles_total"),
                "Completed reconciliation passes of the isolations against Docker's state, by trigger (event, interval, connect).",
                &["trigger"],
            ),
            dropped: metrics::int_counter_vec(
                r,
                &p("isolations_dropped_total"),
                "Isolation records forgotten without a restore, by reason (container_gone, released).",
                &["reason"],
            ),
            state_corrupt: metrics::int_counter(
                r,
                &p("state_corrupt_total"),
                "Damaged isolations.json files found at start (moved aside; the guard rebuilt what Docker's state allows).",
            ),
            recovered: metrics::int_counter(
                r,
                &p("isolations_recovered_total"),
                "Paused containers adopted as isolations after a damaged state file.",
            ),
        }
    }
}
