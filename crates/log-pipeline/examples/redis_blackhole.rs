//! Pipeline throughput with the alert state in memory, in Redis, and in a Redis that went silent
//! (`bench/redis-blackhole.sh`). The real `LogPipeline` module reads one file of sshd lines
//! (every line a match of a threshold rule grouped by source address) through its file source;
//! the time from the file appearing until every line is parsed gives lines/s. The Redis runs go
//! through a TCP proxy to the Redis at `--redis URL`; in the blackhole run the proxy stops
//! forwarding (connections stay open, nothing is answered) after the pipeline connected and before
//! the file appears. Prints lines/s, alerts and the fallback counters of each run.
//!
//! Usage: redis_blackhole [--lines N] [--redis redis://127.0.0.1:6379] [--timeout-ms MS]

// A command-line tool: its output is the report.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ironpost_core::Module;
use ironpost_core::metrics;
use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The rule, its id made unique per run (`{id}`): Redis keeps dedup claims for minutes of wall
/// time, so a rerun on the same keys would find every alert already raised.
const RULE: &str = "id: {id}
title: sshd failures
severity: medium
detection:
  conditions:
    - field: message
      operator: contains
      value: Failed password
  threshold:
    count: 5
    timeframe_secs: 600
    group_by: src_ip
";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let lines: usize = flag("--lines").map_or(Ok(2_000_000), |v| v.parse())?;
    let redis = flag("--redis").unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let timeout_ms: u64 = flag("--timeout-ms").map_or(Ok(1000), |v| v.parse())?;
    let upstream: SocketAddr = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .map_err(|_| "--redis must be redis://IP:PORT")?;

    let work = tempfile::tempdir()?;
    let corpus = work.path().join("corpus.log");
    write_corpus(&corpus, lines)?;
    println!(
        "{lines} lines, one threshold rule (5 per source address, 600 s), response_timeout {timeout_ms} ms"
    );
    println!(
        "{:<22} {:>12} {:>8} {:>10} {:>10}",
        "run", "lines/s", "alerts", "errors", "fallback"
    );
    let mut results = Vec::new();
    for mode in [Mode::Memory, Mode::Redis, Mode::Blackhole] {
        let r = run(mode, work.path(), &corpus, lines, upstream, timeout_ms).await?;
        println!(
            "{:<22} {:>12.0} {:>8} {:>10} {:>10}",
            mode.name(),
            r.rate,
            r.alerts,
            r.errors,
            r.fallback
        );
        results.push(r);
    }
    let ratio = results[0].rate / results[2].rate;
    println!(
        "in memory / blackholed Redis: {ratio:.2}x (target <= 2x: {})",
        if ratio <= 2.0 { "met" } else { "MISSED" }
    );
    println!(
        "in memory / Redis: {:.2}x; alerts equal: {}",
        results[0].rate / results[1].rate,
        if results[0].alerts == results[1].alerts {
            "yes"
        } else {
            "NO"
        }
    );
    if results[2].alerts == 0 || results[2].fallback == 0 {
        return Err("the blackholed run raised no alert or never used its fallback".into());
    }
    if results[1].alerts != results[0].alerts {
        return Err("Redis and the in-memory state raised different numbers of alerts".into());
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Mode {
    Memory,
    Redis,
    Blackhole,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Memory => "in memory",
            Mode::Redis => "Redis (via proxy)",
            Mode::Blackhole => "Redis blackholed",
        }
    }
}

struct Outcome {
    rate: f64,
    alerts: u64,
    errors: u64,
    fallback: u64,
}

/// sshd failures from 20,000 addresses in 198.18.0.0/15, in RFC 3164.
fn write_corpus(path: &Path, lines: usize) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..lines {
        let host = i % 20_000;
        writeln!(
            w,
            // Within one minute, so each address's failures fall in the rule's 600 s window.
            "Mar  1 00:00:{:02} bench sshd[4242]: Failed password for root from 198.18.{}.{} port 4242 ssh2",
            i % 60,
            host / 250,
            host % 250 + 1
        )?;
    }
    w.flush()
}

async fn run(
    mode: Mode,
    work: &Path,
    corpus: &Path,
    lines: usize,
    upstream: SocketAddr,
    timeout_ms: u64,
) -> Result<Outcome, Error> {
    let dir = work.join(mode.name().replace([' ', '(', ')'], "_"));
    let (rules, logs, data) = (dir.join("rules"), dir.join("logs"), dir.join("data"));
    for d in [&rules, &logs, &data] {
        std::fs::create_dir_all(d)?;
    }
    let id = format!(
        "bench_ssh_failures_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    std::fs::write(rules.join("ssh.yaml"), RULE.replace("{id}", &id))?;
    let blackhole = Arc::new(AtomicBool::new(false));
    let mut cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![logs.join("*.log")],
        file_start_at: StartAt::Beginning,
        file_poll: Duration::from_millis(20),
        rules_dir: rules,
        batch_size: 1000,
        flush_interval: Duration::from_secs(1),
        ..LogPipelineConfig::default()
    };
    // Record times are in the corpus's past: dedup and rate limits apply as for a replay.
    cfg.alerting.rate_limit_per_min = 0;
    if !matches!(mode, Mode::Memory) {
        let proxy = proxy(upstream, blackhole.clone()).await?;
        cfg.storage.redis_url = Some(format!("redis://{proxy}"));
        cfg.redis.response_timeout = Duration::from_millis(timeout_ms);
    }
    let registry = metrics::new_registry();
    let (alerts_tx, mut alerts_rx) = mpsc::channel(1 << 16);
    let (logs_tx, mut logs_rx) = mpsc::channel(1 << 16);
    let counter = tokio::spawn(async move {
        let mut n = 0u64;
        while alerts_rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    tokio::spawn(async move { while logs_rx.recv().await.is_some() {} });
    let mut p = LogPipeline::new(
        cfg,
        data,
        &registry,
        PipelineOutputs {
            alerts: alerts_tx,
            logs: logs_tx,
        },
    );
    p.start().await?;
    if let ironpost_core::Health::Degraded(why) | ironpost_core::Health::Unhealthy(why) = p.health()
    {
        return Err(format!("{}: pipeline not healthy: {why}", mode.name()).into());
    }
    if matches!(mode, Mode::Blackhole) {
        blackhole.store(true, Ordering::SeqCst);
    }
    // The file appears whole (rename), after the pipeline started: its source reads it from the
    // beginning.
    let t0 = Instant::now();
    std::fs::copy(corpus, dir.join("staged"))?;
    std::fs::rename(dir.join("staged"), logs.join("auth.log"))?;
    loop {
        let text = metrics::render(&registry);
        let parsed = sum(&text, "ironpost_log_parsed_total{");
        if parsed >= lines as u64 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            return Err(format!("{}: not every line parsed within 600 s", mode.name()).into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = t0.elapsed();
    let text = metrics::render(&registry);
    p.stop().await?;
    drop(p);
    Ok(Outcome {
        rate: lines as f64 / elapsed.as_secs_f64(),
        alerts: counter.await?,
        errors: sum(&text, "ironpost_log_alert_state_errors_total"),
        fallback: sum(&text, "ironpost_log_alert_state_fallback_total"),
    })
}

/// The sum of every sample whose line starts with `prefix`.
fn sum(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A TCP proxy to `upstream` that forwards until `blackhole` is set, then holds every byte.
async fn proxy(upstream: SocketAddr, blackhole: Arc<AtomicBool>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(pump(client, upstream, blackhole.clone()));
        }
    });
    Ok(addr)
}

async fn pump(mut client: TcpStream, upstream: SocketAddr, blackhole: Arc<AtomicBool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        if blackhole.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        tokio::select! {
            r = cr.read(&mut a) => match r {
                Ok(n) if n > 0 && !blackhole.load(Ordering::SeqCst) => {
                    if sw.write_all(&a[..n]).await.is_err() { return }
                }
                Ok(0) | Err(_) => return,
                Ok(_) => std::future::pending::<()>().await,
            },
            r = sr.read(&mut b) => match r {
                Ok(n) if n > 0 && !blackhole.load(Ordering::SeqCst) => {
                    if cw.write_all(&b[..n]).await.is_err() { return }
                }
                Ok(0) | Err(_) => return,
                Ok(_) => std::future::pending::<()>().await,
            },
        }
    }
}
