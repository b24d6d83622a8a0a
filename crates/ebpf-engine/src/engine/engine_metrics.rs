//! The XDP engine's Prometheus metrics (`ironpost_ebpf_*`): traffic counters polled from the
//! kernel maps, blocklist bookkeeping, ring-buffer events and detector state.

use ironpost_core::metrics::{self, prometheus};

pub(super) struct EngineMetrics {
    pub(super) packets: prometheus::IntCounterVec,
    pub(super) bytes: prometheus::IntCounterVec,
    pub(super) blocked: prometheus::IntCounterVec,
    pub(super) pps: prometheus::IntGaugeVec,
    pub(super) events: prometheus::IntCounter,
    pub(super) events_lost: prometheus::IntCounterVec,
    pub(super) malformed: prometheus::IntCounter,
    pub(super) block_entries: prometheus::IntGauge,
    pub(super) blocks_added: prometheus::IntCounter,
    pub(super) blocks_expired: prometheus::IntCounter,
    pub(super) blocks_evicted: prometheus::IntCounterVec,
    pub(super) state_corrupt: prometheus::IntCounter,
    pub(super) state_files_corrupt: prometheus::IntCounterVec,
    pub(super) state_errors: prometheus::IntCounter,
    pub(super) attached: prometheus::IntGauge,
    pub(super) extra_attached: prometheus::IntGauge,
    pub(super) pinned: prometheus::IntGauge,
    pub(super) expired_passed: prometheus::IntCounter,
    pub(super) tracked: prometheus::IntGaugeVec,
    pub(super) evicted: prometheus::IntCounterVec,
}

impl EngineMetrics {
    pub(super) fn new(r: &prometheus::Registry) -> Self {
        EngineMetrics {
            packets: metrics::int_counter_vec(
                r,
                "ebpf_packets_total",
                "Packets seen by the XDP program.",
                &["proto"],
            ),
            bytes: metrics::int_counter_vec(
                r,
                "ebpf_bytes_total",
                "Bytes seen by the XDP program.",
                &["proto"],
            ),
            blocked: metrics::int_counter_vec(
                r,
                "ebpf_packets_blocked_total",
                "Packets dropped by the XDP program.",
                &["proto"],
            ),
            pps: metrics::int_gauge_vec(
                r,
                "ebpf_pps",
                "Packets per second over the last second.",
                &["proto"],
            ),
            events: metrics::int_counter(
                r,
                "ebpf_events_total",
                "Packet events read from the kernel.",
            ),
            events_lost: metrics::int_counter_vec(
                r,
                "ebpf_events_lost_total",
                "Packet events lost: ring buffer full, suppressed by the rate limit, or channel full.",
                &["reason"],
            ),
            malformed: metrics::int_counter(
                r,
                "ebpf_malformed_total",
                "Malformed frames passed untouched.",
            ),
            block_entries: metrics::int_gauge(
                r,
                "ebpf_blocklist_entries",
                "Run-time blocks in the kernel.",
            ),
            blocks_added: metrics::int_counter(
                r,
                "ebpf_blocks_added_total",
                "Blocks added or renewed.",
            ),
            blocks_expired: metrics::int_counter(
                r,
                "ebpf_blocks_expired_total",
                "Blocks removed at expiry.",
            ),
            blocks_evicted: metrics::int_counter_vec(
                r,
                "ebpf_blocks_evicted_total",
                "Blocks evicted to make room for a block on verified evidence, by the evicted block's evidence.",
                &["evidence"],
            ),
            state_corrupt: metrics::int_counter(
                r,
                "ebpf_blocklist_journal_corrupt_total",
                "Damaged blocklist journal records skipped at start.",
            ),
            state_files_corrupt: metrics::int_counter_vec(
                r,
                "ebpf_state_corrupt_total",
                "Damaged engine state found at start, by file: a damaged snapshot \
                 (blocklist.json, moved aside) or journal records (blocklist.journal, skipped).",
                &["file"],
            ),
            state_errors: metrics::int_counter(
                r,
                "ebpf_blocklist_persist_errors_total",
                "Failed writes of the blocklist journal or snapshot.",
            ),
            attached: metrics::int_gauge(r, "ebpf_attached", "1 when the XDP program is attached."),
            extra_attached: metrics::int_gauge(
                r,
                "ebpf_extra_interfaces_attached",
                "Interfaces of ebpf.extra_interfaces the XDP program is attached to now.",
            ),
            pinned: metrics::int_gauge(
                r,
                "ebpf_pinned",
                "1 when the XDP program is attached through a pinned link (it keeps enforcing while the daemon is down).",
            ),
            expired_passed: metrics::int_counter(
                r,
                "ebpf_expired_passed_total",
                "Packets whose blocklist entry had expired in the kernel (passed; the entry awaits removal).",
            ),
            tracked: metrics::int_gauge_vec(
                r,
                "ebpf_detector_tracked",
                "Addresses a detector currently tracks (bounded by max_tracked).",
                &["detector"],
            ),
            evicted: metrics::int_counter_vec(
                r,
                "ebpf_detector_evicted_total",
                "Tracked addresses evicted because max_tracked was reached.",
                &["detector"],
            ),
        }
    }
}
