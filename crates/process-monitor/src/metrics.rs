//! The module's Prometheus metrics: events per kind, drops per kind and cause (the kernel's
//! counters, turned into counter increments), undecodable records, process table size and
//! evictions, cgroup walks. No pid, path or container id is ever a label.

use ironpost_core::metrics::{self, prometheus};

use crate::wire::EventKind;
use crate::{ContainerMapStats, KernelCounters};

/// Metrics of one process monitor, registered in the daemon's registry.
#[derive(Debug)]
pub struct Metrics {
    events: prometheus::IntCounterVec,
    dropped: prometheus::IntCounterVec,
    table_entries: prometheus::IntGauge,
    table_evictions: prometheus::IntCounter,
    cgroup_walks: prometheus::IntCounter,
    last: Seen,
}

/// What was last added to the counters, so that cumulative sources become increments.
#[derive(Debug, Default)]
struct Seen {
    kernel: KernelCounters,
    bad_records: u64,
    evictions: u64,
    walks: u64,
}

impl Metrics {
    pub fn new(r: &prometheus::Registry) -> Self {
        Metrics {
            events: metrics::int_counter_vec(
                r,
                "process_monitor_events_total",
                "Events the kernel probes submitted to the ring buffer, by kind (exec, exit, connect, file_open).",
                &["kind"],
            ),
            dropped: metrics::int_counter_vec(
                r,
                "process_monitor_dropped_total",
                "Events lost, by kind and cause (rate_limited: the per-CPU token bucket; ringbuf_full: no room in the ring buffer; undecodable: a record userspace rejected, kind \"unknown\").",
                &["kind", "cause"],
            ),
            table_entries: metrics::int_gauge(
                r,
                "process_monitor_table_entries",
                "Processes in the process table.",
            ),
            table_evictions: metrics::int_counter(
                r,
                "process_monitor_table_evictions_total",
                "Processes evicted from the full process table (oldest first).",
            ),
            cgroup_walks: metrics::int_counter(
                r,
                "process_monitor_cgroup_walks_total",
                "Walks of the cgroup v2 trees to attribute a cgroup id to a container.",
            ),
            last: Seen::default(),
        }
    }

    /// Adds what changed since the last call. Every argument is cumulative.
    pub fn observe(
        &mut self,
        kernel: &KernelCounters,
        bad_records: u64,
        table_len: usize,
        table_evictions: u64,
        containers: ContainerMapStats,
    ) {
        for kind in EventKind::ALL {
            let (now, was) = (kernel.of(kind), self.last.kernel.of(kind));
            let label = kind.as_str();
            self.events
                .with_label_values(&[label])
                .inc_by(now.emitted.saturating_sub(was.emitted));
            self.dropped
                .with_label_values(&[label, "rate_limited"])
                .inc_by(now.rate_limited.saturating_sub(was.rate_limited));
            self.dropped
                .with_label_values(&[label, "ringbuf_full"])
                .inc_by(now.ringbuf_full.saturating_sub(was.ringbuf_full));
        }
        self.dropped
            .with_label_values(&["unknown", "undecodable"])
            .inc_by(bad_records.saturating_sub(self.last.bad_records));
        self.table_entries
            .set(i64::try_from(table_len).unwrap_or(i64::MAX));
        self.table_evictions
            .inc_by(table_evictions.saturating_sub(self.last.evictions));
        self.cgroup_walks
            .inc_by(containers.rescans.saturating_sub(self.last.walks));
        self.last = Seen {
            kernel: *kernel,
            bad_records,
            evictions: table_evictions,
            walks: containers.rescans,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KindCounters;

    #[test]
    fn cumulative_sources_become_increments() {
        let r = metrics::new_registry();
        let mut m = Metrics::new(&r);
        let mut k = KernelCounters::default();
        k.kinds[0] = KindCounters {
            emitted: 5,
            rate_limited: 2,
            ringbuf_full: 1,
        };
        m.observe(
            &k,
            1,
            10,
            3,
            ContainerMapStats {
                rescans: 2,
                ..Default::default()
            },
        );
        k.kinds[0].emitted = 7;
        m.observe(
            &k,
            1,
            9,
            4,
            ContainerMapStats {
                rescans: 2,
                ..Default::default()
            },
        );
        let text = metrics::render(&r);
        for line in [
            "ironpost_process_monitor_events_total{kind=\"exec\"} 7",
            "ironpost_process_monitor_dropped_total{cause=\"rate_limited\",kind=\"exec\"} 2",
            "ironpost_process_monitor_dropped_total{cause=\"ringbuf_full\",kind=\"exec\"} 1",
            "ironpost_process_monitor_dropped_total{cause=\"undecodable\",kind=\"unknown\"} 1",
            "ironpost_process_monitor_table_entries 9",
            "ironpost_process_monitor_table_evictions_total 4",
            "ironpost_process_monitor_cgroup_walks_total 2",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
