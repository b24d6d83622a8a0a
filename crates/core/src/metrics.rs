//! Prometheus metrics: one registry per daemon, every name prefixed `ironpost_`, rendered in the
//! Prometheus text format 0.0.4 that `promtool check metrics` and Prometheus itself read.
//!
//! Label values are always low-cardinality (protocol, severity, module, table) — never an IP
//! address or a container id.

pub use prometheus;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The prefix every Ironpost metric carries.
pub const PREFIX: &str = "ironpost";

/// A fresh registry that prefixes every metric with `ironpost_`.
pub fn new_registry() -> Registry {
    Registry::new_custom(Some(PREFIX.to_owned()), None)
        .expect("static prefix is a valid metric name")
}

/// The registry's metrics in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    // Encoding into a Vec cannot fail on I/O; a failure here means an invalid metric family,
    // which registration already rejects.
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buf) {
        return format!("# encoding error: {e}\n");
    }
    String::from_utf8(buf).unwrap_or_default()
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // Names are static in the code; a duplicate is a programming error caught by tests.
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered twice or with an invalid name");
    c
}

pub fn int_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(
        registry,
        IntCounter::new(name, help).expect("valid metric name"),
    )
}

pub fn int_counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric name"),
    )
}

pub fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::new(name, help).expect("valid metric name"),
    )
}

pub fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric name"),
    )
}

pub fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Gauge {
    register(
        registry,
        prometheus::Gauge::new(name, help).expect("valid metric name"),
    )
}

pub fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    register(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
            .expect("valid metric name"),
    )
}

pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    register(
        registry,
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
            .expect("valid metric name"),
    )
}

/// Latency buckets in seconds from 50 µs to 10 s.
pub fn latency_buckets() -> Vec<f64> {
    vec![
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
        1.0, 2.5, 5.0, 10.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_names_carry_the_prefix() {
        let r = new_registry();
        let c = int_counter_vec(&r, "alerts_total", "Alerts raised.", &["severity"]);
        c.with_label_values(&["high"]).inc_by(3);
        let text = render(&r);
        assert!(
            text.contains("# TYPE ironpost_alerts_total counter"),
            "{text}"
        );
        assert!(
            text.contains("ironpost_alerts_total{severity=\"high\"} 3"),
            "{text}"
        );
    }
}
