//! Alert emitted → container paused, through the real guard against the real dockerd.
//!
//! Usage: `isolate_bench CONTAINER [N]` (bench/container.sh creates the container). For each of N
//! alerts naming the container: the time from handing the alert to the guard to the guard's
//! success `ActionEvent` (emitted after Docker confirmed the pause), then a restore (not timed).
//! Prints p50/p99/max, and the Docker pause call's own share from the guard's histogram.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ironpost_container_guard::{ContainerConfig, ContainerGuard};
use ironpost_core::{
    ActionOutcome, ActionType, AlertEvent, AlertSource, ContainerRef, Module, Severity,
};
use tokio::sync::mpsc;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Sum and count of one series of a histogram in the registry.
fn hist(r: &ironpost_core::metrics::prometheus::Registry, name: &str, label: &str) -> (f64, u64) {
    for mf in r.gather() {
        if mf.name() != name {
            continue;
        }
        for m in mf.get_metric() {
            if m.get_label().iter().any(|l| l.value() == label) {
                let h = m.get_histogram();
                return (h.get_sample_sum(), h.get_sample_count());
            }
        }
    }
    (0.0, 0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let container = args.next().expect("usage: isolate_bench CONTAINER [N]");
    let n: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(100);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bench.toml"),
        format!(
            "[[policy]]\nname = \"bench\"\nseverity_threshold = \"high\"\nfilters.container_names = [\"{container}\"]\naction = \"pause\"\n"
        ),
    )
    .unwrap();
    let cfg = ContainerConfig {
        enabled: true,
        policy_path: dir.path().to_owned(),
        auto_isolate: true,
        ..ContainerConfig::default()
    };
    let registry = ironpost_core::metrics::new_registry();
    let (tx, mut rx) = mpsc::channel(1024);
    let mut guard = ContainerGuard::new(cfg, None, &registry, tx);
    let handle = guard.handle();
    guard.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !guard.health().is_healthy() {
        assert!(
            Instant::now() < deadline,
            "guard not healthy: {}",
            guard.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let input = handle.alert_input();
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let mut alert = AlertEvent::new(AlertSource::External, "bench", "bench", Severity::High);
        alert.entities.container = Some(ContainerRef {
            id: None,
            name: Some(container.clone()),
        });
        let t0 = Instant::now();
        input.send(alert).await.unwrap();
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.action_type == ActionType::ContainerPause {
                assert_eq!(ev.outcome, ActionOutcome::Success, "{:?}", ev.error);
                break;
            }
        }
        lat.push(t0.elapsed());
        handle.restore(&container).await.unwrap();
        while rx.try_recv().is_ok() {}
    }
    guard.stop().await.unwrap();
    lat.sort();
    let total: Duration = lat.iter().sum();
    let (pause_sum, pause_n) = hist(
        &registry,
        "ironpost_container_guard_docker_call_duration_seconds",
        "pause",
    );
    println!("alert -> container paused, {n} alerts (guard in-process, real dockerd)");
    println!(
        "  p50 {}  p99 {}  max {}",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(lat[lat.len() - 1])
    );
    let mean = total.as_secs_f64() / n as f64;
    let pause_mean = pause_sum / pause_n.max(1) as f64;
    println!(
        "  mean {:.2} ms, of which the Docker pause call {:.2} ms ({:.0}%) over {pause_n} calls",
        mean * 1e3,
        pause_mean * 1e3,
        100.0 * pause_mean / mean
    );
}
