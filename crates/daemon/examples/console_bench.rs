//! Helper of `bench/console.sh` (the web console's benchmark):
//!
//! - `fill DATA_DIR N`: writes N alerts into the SQLite store under DATA_DIR (the daemon's
//!   default `sqlite_path`), spread over the last 24 hours, 5 severities, 40 rules, 2,000 source
//!   addresses in 198.18.0.0/15 — what the overview aggregates.
//! - `flood SOCKET RATE SECS`: submits RATE alerts per second for SECS seconds over the daemon's
//!   control socket (8 connections' worth of concurrent requests); prints how many were accepted.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use ironpost_core::config::StorageConfig;
use ironpost_core::{AlertEvent, AlertSource, Module, Severity};
use ironpost_proto::{Request, Response, request};
use ironpost_store::Store;

fn alert(i: u64) -> AlertEvent {
    let sev = Severity::ALL[(i % 5) as usize];
    let mut a = AlertEvent::new(
        AlertSource::External,
        format!("bench_rule_{}", i % 40),
        format!("Benchmark alert {i}"),
        sev,
    );
    let host = i % 2000;
    a.entities.src_ip = Some(
        format!("198.18.{}.{}", host / 250, host % 250 + 1)
            .parse()
            .unwrap(),
    );
    a
}

async fn fill(dir: PathBuf, n: u64) {
    let cfg = StorageConfig::default();
    let registry = ironpost_core::metrics::new_registry();
    let mut store = Store::open(&cfg, &dir, &registry)
        .await
        .expect("open store");
    let w = store.writer();
    store.start().await.expect("start store");
    let now = Utc::now();
    // Over 23 hours: every alert is still inside the overview's 24-hour window when measured.
    let step = 82_800_000_000 / n.max(1) as i64;
    for i in 0..n {
        let mut a = alert(i);
        a.timestamp = now - TimeDelta::microseconds(step * i as i64);
        w.write(a).await.expect("write");
    }
    store.stop().await.expect("stop store");
    println!("stored {n} alerts in {}", dir.display());
}

async fn flood(socket: PathBuf, rate: u64, secs: u64) {
    let accepted = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let total = rate * secs;
    // Each tick hands out the alerts due by then to a bounded set of concurrent requests.
    let (tx, rx) = async_channel(1024);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (rx, socket, accepted) = (rx.clone(), socket.clone(), accepted.clone());
        workers.push(tokio::spawn(async move {
            while let Ok(i) = rx.recv().await {
                let req = Request::SubmitAlert {
                    alert: Box::new(alert(i)),
                };
                if let Ok(Response::Accepted { .. }) = request(&socket, &req).await {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    drop(rx);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut i = 0;
    while i < total {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while i < due.min(total) {
            if tx.send(i).await.is_err() {
                break;
            }
            i += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {} accepted {} in {secs:.1} s ({:.0}/s)",
        sent.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed),
        accepted.load(Ordering::Relaxed) as f64 / secs
    );
}

/// A multi-consumer queue from tokio's mpsc (one receiver behind a mutex).
fn async_channel(cap: usize) -> (tokio::sync::mpsc::Sender<u64>, SharedRx) {
    let (tx, rx) = tokio::sync::mpsc::channel(cap);
    (tx, SharedRx(Arc::new(tokio::sync::Mutex::new(rx))))
}

#[derive(Clone)]
struct SharedRx(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>>);

impl SharedRx {
    async fn recv(&self) -> Result<u64, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("fill") if args.len() == 4 => {
            fill(PathBuf::from(&args[2]), args[3].parse().expect("N")).await;
        }
        Some("flood") if args.len() == 5 => {
            flood(
                PathBuf::from(&args[2]),
                args[3].parse().expect("RATE"),
                args[4].parse().expect("SECS"),
            )
            .await;
        }
        _ => {
            eprintln!("usage: console_bench fill DATA_DIR N | flood SOCKET RATE SECS");
            std::process::exit(2);
        }
    }
}
