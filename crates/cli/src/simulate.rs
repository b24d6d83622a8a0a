//! `ironpost-cli simulate`: the seed's traffic simulator. Publishes connection attempts
//! (`{"ts","pid","saddr","daddr","dport"}`) to NATS JetStream on `[ids] subject`: `scan` probes a new
//! port of one host on every attempt, `benign` revisits two web ports slowly.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ironpost_anomaly_ids::FlowEvent;
use ironpost_anomaly_ids::nats::{self, PublishMetrics};
use ironpost_core::event::Protocol;
use ironpost_core::metrics::prometheus::IntCounter;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::args::{Global, OutputFormat, SimMode, SimulateArgs};
use crate::{config_cmd, output};

/// How long published events may take to be acknowledged after the last one was sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize)]
struct Report {
    mode: &'static str,
    subject: String,
    src: IpAddr,
    sent: u64,
    published: u64,
    dropped: u64,
    retried: u64,
    seconds: f64,
}

fn counter(name: &str) -> IntCounter {
    IntCounter::new(name, name).unwrap_or_else(|_| unreachable!("static metric name"))
}

/// The `i`-th attempt of a mode (dport and daddr).
fn attempt(mode: SimMode, i: u64, dst: IpAddr) -> (IpAddr, u16) {
    match mode {
        SimMode::Scan => (dst, (i % 65_535) as u16 + 1),
        SimMode::Benign => (dst, if i.is_multiple_of(2) { 443 } else { 80 }),
    }
}

pub(crate) async fn simulate(g: &Global, a: &SimulateArgs) -> Result<Exit, ExitError> {
    let cfg = config_cmd::load(g)?.ids;
    let url = a
        .nats_url
        .clone()
        .or(cfg.nats.url.clone())
        .ok_or_else(|| anyhow::anyhow!("no NATS server: pass --nats-url or set [ids.nats] url"))
        .exit_with(Exit::Usage)?;
    let subject = a.subject.clone().unwrap_or(cfg.subject.clone());
    let (mode_name, default_rate, default_src) = match a.mode {
        SimMode::Scan => ("scan", 100.0, "198.18.0.5"),
        SimMode::Benign => ("benign", 0.5, "198.18.0.6"),
    };
    let rate = a.rate.unwrap_or(default_rate);
    if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) {
        return Err(anyhow::anyhow!("--rate must be in (0, 100000]")).exit_with(Exit::Usage);
    }
    let src: IpAddr = a
        .src
        .unwrap_or_else(|| default_src.parse().unwrap_or_else(|_| unreachable!()));
    let dst: IpAddr = a
        .dst
        .unwrap_or_else(|| "198.18.0.9".parse().unwrap_or_else(|_| unreachable!()));
    let total = (f64::from(a.seconds) * rate).ceil() as u64;

    let client = nats::connect_with(&url, "ironpost-simulator", &cfg.nats)
        .await
        .exit_with(Exit::Failure)?;
    let metrics = PublishMetrics {
        published: counter("published"),
        retried: counter("retried"),
    };
    let capacity = usize::try_from(total)
        .unwrap_or(usize::MAX)
        .clamp(1, 1_000_000);
    let (tx, rx) = mpsc::channel(capacity);
    let (stop_tx, stop_rx) = watch::channel(false);
    let publisher = tokio::spawn(nats::publish_loop(
        client.clone(),
        cfg.stream.clone(),
        subject.clone(),
        rx,
        metrics.clone(),
        stop_rx,
    ));

    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut sent = 0u64;
    let mut dropped = 0u64;
    for i in 0..total {
        tokio::time::sleep_until((started + period.mul_f64(i as f64)).into()).await;
        let (daddr, dport) = attempt(a.mode, i, dst);
        let ev = FlowEvent {
            ts: chrono::Utc::now().timestamp_micros() as f64 / 1e6,
            pid: 0,
            saddr: src,
            daddr,
            dport,
            proto: Some(Protocol::Tcp),
            flags: None,
        };
        if tx.try_send(ev).is_ok() {
            sent += 1;
        } else {
            dropped += 1;
        }
    }
    drop(tx);
    let mut publisher = publisher;
    if tokio::time::timeout(FLUSH_TIMEOUT, &mut publisher)
        .await
        .is_err()
    {
        let _ = stop_tx.send(true);
        let _ = publisher.await;
    }
    let _ = client.flush().await;
    let report = Report {
        mode: mode_name,
        subject,
        src,
        sent,
        published: metrics.published.get(),
        dropped: dropped + sent.saturating_sub(metrics.published.get()),
        retried: metrics.retried.get(),
        seconds: started.elapsed().as_secs_f64(),
    };
    match g.output {
        OutputFormat::Json => output::json(&report)?,
        OutputFormat::Text => output::text(&format!(
            "simulate {}: {} attempts from {} on {} in {:.1}s: {} published, {} dropped, {} retries",
            report.mode,
            report.sent,
            report.src,
            report.subject,
            report.seconds,
            report.published,
            report.dropped,
            report.retried
        ))?,
    }
    Ok(if report.dropped == 0 {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_probes_a_new_port_each_time_and_benign_two() {
        let dst: IpAddr = "198.18.0.9".parse().unwrap();
        let scan: std::collections::HashSet<u16> =
            (0..100).map(|i| attempt(SimMode::Scan, i, dst).1).collect();
        assert_eq!(scan.len(), 100);
        let benign: std::collections::HashSet<u16> = (0..100)
            .map(|i| attempt(SimMode::Benign, i, dst).1)
            .collect();
        assert_eq!(benign, [80, 443].into_iter().collect());
    }
}
