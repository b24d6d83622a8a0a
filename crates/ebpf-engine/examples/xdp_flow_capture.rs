//! Lab helper for `training/lab_capture.sh`: loads the XDP filter with the daemon's default load
//! options (no blocklist, the default event rate limit), attaches it to an interface and writes
//! every packet event the kernel reports (TCP SYNs without ACK: the IDS's flow telemetry) as one
//! `ironpost_core::PacketEvent` JSON line, the same value the daemon's packet router hands to the
//! IDS (`FlowEvent::from_syn`).
//!
//! ```text
//! ip netns exec NS xdp_flow_capture --iface IFACE --mode skb|native --out FILE
//! ```
//!
//! Once attached it prints `ready iface=IFACE`; it captures until `quit` or end of input on stdin,
//! then prints `done events=N bad_records=B` and detaches.

// The `ready` and `done` lines on stdout are this program's interface.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use ironpost_ebpf_engine::{LoadOptions, XdpFilter, XdpMode};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> anyhow::Result<(String, XdpMode, PathBuf)> {
    let usage = "usage: xdp_flow_capture --iface IFACE --mode skb|native --out FILE";
    let (mut iface, mut mode, mut out) = (None, None, None);
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
            "--out" => out = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument `{other}`\n{usage}"),
        }
    }
    Ok((
        iface.context(usage)?,
        mode.context(usage)?,
        out.context(usage)?,
    ))
}

fn run() -> anyhow::Result<()> {
    let (iface, mode, out) = parse_args()?;
    let mut filter = XdpFilter::load(&LoadOptions::default()).context("loading the XDP filter")?;
    let mut reader = filter
        .take_event_reader()
        .context("the filter has no event reader")?;
    filter
        .attach(&iface, mode)
        .with_context(|| format!("attaching to {iface}"))?;
    let file =
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_in = stop.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) if l.trim() == "quit" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        stop_in.store(true, Ordering::Relaxed);
    });
    println!("ready iface={iface}");
    std::io::stdout().flush().context("stdout")?;
    let mut n = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let batch = reader.drain(4096);
        for e in &batch {
            let p = e.clone().into_packet_event(None);
            serde_json::to_writer(&mut w, &p).context("writing an event")?;
            w.write_all(b"\n").context("writing an event")?;
        }
        n += batch.len() as u64;
        if stopping && batch.is_empty() {
            break;
        }
        if batch.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    filter.detach().context("detaching")?;
    println!("done events={n} bad_records={}", reader.bad_records());
    Ok(())
}
