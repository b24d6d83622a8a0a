//! Benchmark helper for `bench/run.sh xdp`: loads the XDP filter with a blocklist read from a file,
//! attaches it to an interface and reports the filter's own packet and drop counters.
//!
//! ```text
//! ip netns exec NS xdp_drop_helper --iface IFACE --mode skb|native --list FILE [--duration SECS]
//! ```
//!
//! `FILE` holds one address or CIDR per line (IPv4 or IPv6; blank lines and `#` comments are
//! skipped); every entry becomes a `drop` entry. The interface is looked up in the network
//! namespace the process runs in, hence `ip netns exec`.
//!
//! Once attached it prints `ready entries=N iface=IFACE mode=MODE`. Then, with `--duration`, it
//! waits that long, prints one `stats` line and exits; without, it reads commands on stdin:
//! `stats` prints a `stats` line, `quit` or end of input prints a last one and exits. A `stats`
//! line is `stats packets=P drops=D udp_drops=U`: totals since the load, summed over CPUs, from
//! the filter's `stats` map (`XdpFilter::read_stats`). The program is detached on exit; if the
//! process is killed instead, the kernel detaches it when the link's file descriptor closes.

// The `ready` and `stats` lines on stdout are this program's interface.
#![allow(clippy::print_stdout)]

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use ironpost_core::net::Cidr;
use ironpost_ebpf_engine::{LoadOptions, RuleAction, XdpFilter, XdpMode};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Args {
    iface: String,
    mode: XdpMode,
    list: PathBuf,
    duration: Option<Duration>,
}

fn parse_args() -> anyhow::Result<Args> {
    let usage =
        "usage: xdp_drop_helper --iface IFACE --mode skb|native --list FILE [--duration SECS]";
    let (mut iface, mut mode, mut list, mut duration) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{a} needs a value\n{usage}"))
        };
        match a.as_str() {
            "--iface" => iface = Some(value()?),
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "skb" => XdpMode::Skb,
                    "native" => XdpMode::Native,
                    other => bail!("--mode must be `skb` or `native`, not `{other}`"),
                })
            }
            "--list" => list = Some(PathBuf::from(value()?)),
            "--duration" => {
                let secs: f64 = value()?.parse().context("--duration takes seconds")?;
                ensure!(secs.is_finite() && secs > 0.0, "--duration must be > 0");
                duration = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{usage}"),
        }
    }
    Ok(Args {
        iface: iface.context(usage)?,
        mode: mode.context(usage)?,
        list: list.context(usage)?,
        duration,
    })
}

fn read_list(path: &PathBuf) -> anyhow::Result<Vec<Cidr>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the blocklist {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in (1..).zip(text.lines()) {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cidr: Cidr = line
            .parse()
            .with_context(|| format!("{}:{n}", path.display()))?;
        out.push(cidr);
    }
    Ok(out)
}

fn print_stats(filter: &XdpFilter) -> anyhow::Result<()> {
    let s = filter.read_stats().context("reading the stats map")?;
    println!(
        "stats packets={} drops={} udp_drops={}",
        s.total.packets, s.total.drops, s.udp.drops
    );
    Ok(())
}

fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let list = read_list(&args.list)?;
    let entries = u32::try_from(list.len()).context("too many entries")?;
    let mut filter = XdpFilter::load(&LoadOptions {
        blocklist_max_entries: entries.max(1),
        ..LoadOptions::default()
    })
    .context("loading the XDP filter")?;
    for (id, cidr) in (1u32..).zip(&list) {
        filter
            .insert_block(*cidr, id, RuleAction::Drop)
            .with_context(|| format!("inserting {cidr}"))?;
    }
    filter
        .attach(&args.iface, args.mode)
        .with_context(|| format!("attaching to {} in {:?} mode", args.iface, args.mode))?;
    let mode = match args.mode {
        XdpMode::Native => "native",
        XdpMode::Skb => "skb",
        XdpMode::Hw => "hw",
    };
    println!("ready entries={entries} iface={} mode={mode}", args.iface);

    if let Some(d) = args.duration {
        std::thread::sleep(d);
        print_stats(&filter)?;
    } else {
        for line in std::io::stdin().lock().lines() {
            match line.context("reading stdin")?.trim() {
                "stats" => print_stats(&filter)?,
                "quit" => break,
                "" => {}
                other => eprintln!("xdp_drop_helper: unknown command `{other}` (stats, quit)"),
            }
        }
        print_stats(&filter)?;
    }
    filter.detach().context("detaching")?;
    Ok(())
}
