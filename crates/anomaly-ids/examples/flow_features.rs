//! Captured XDP telemetry -> the IDS's feature rows, labelled by time slice (`training/lab_capture.sh`).
//!
//! ```text
//! flow_features --events EVENTS.jsonl --slices SLICES.tsv --run NAME [--tick-ms 200] > rows.csv
//! ```
//!
//! `EVENTS.jsonl`: one `ironpost_core::PacketEvent` per line (`xdp_flow_capture`'s output); each goes
//! through `FlowEvent::from_syn`, as in the daemon's packet router, so only TCP SYNs without ACK count.
//! `SLICES.tsv`: `label<TAB>start<TAB>end` per line (Unix seconds): the time one tool ran.
//! The events are replayed in timestamp order into the same `WindowExtractor` the daemon uses, ticked
//! every `--tick-ms` (the daemon's `ids.tick_ms`, default 200) of event time. A row at tick `t` gets the
//! label of the slice with `start <= t < end + window` (slices must be at least a window apart, so no
//! window mixes two tools); rows outside every slice are dropped and counted.
//!
//! Output CSV: `run,label,t,src,conn_rate,uniq_dports,uniq_daddrs,syn_only_ratio,rst_ratio`
//! (`t` = seconds since the slice start; a missing ratio is empty). Counts go to stderr.

// The CSV on stdout is this program's interface.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use ironpost_anomaly_ids::{FlowEvent, WINDOW_SECONDS, WindowExtractor};
use ironpost_core::PacketEvent;

/// Longest accepted input line; a `PacketEvent` line is a few hundred bytes.
const MAX_LINE: u64 = 64 * 1024;

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Slice {
    label: String,
    start: f64,
    end: f64,
}

/// Lines of `path`, each at most [`MAX_LINE`] bytes, with their 1-based numbers.
fn lines(path: &PathBuf) -> Res<Vec<(usize, String)>> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = BufReader::new(f);
    let mut out = Vec::new();
    for n in 1.. {
        let mut buf = Vec::new();
        let got = (&mut r).take(MAX_LINE + 1).read_until(b'\n', &mut buf)?;
        if got == 0 {
            break;
        }
        if got as u64 > MAX_LINE {
            return Err(
                format!("{}:{n}: line longer than {MAX_LINE} bytes", path.display()).into(),
            );
        }
        let line =
            String::from_utf8(buf).map_err(|_| format!("{}:{n}: not UTF-8", path.display()))?;
        out.push((n, line.trim_end().to_owned()));
    }
    Ok(out)
}

fn read_slices(path: &PathBuf) -> Res<Vec<Slice>> {
    let mut out = Vec::new();
    for (n, line) in lines(path)? {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize, what: &str| -> Res<f64> {
            let v: f64 = f
                .get(i)
                .ok_or_else(|| format!("{}:{n}: no {what} field", path.display()))?
                .parse()
                .map_err(|e| format!("{}:{n}: {what}: {e}", path.display()))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("{}:{n}: {what} is not finite", path.display()).into())
            }
        };
        let (start, end) = (num(1, "start")?, num(2, "end")?);
        let label = f[0];
        if f.len() != 3
            || label.is_empty()
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || end < start
        {
            return Err(format!("{}:{n}: want `label<TAB>start<TAB>end` with a [A-Za-z0-9_-] label and end >= start", path.display()).into());
        }
        out.push(Slice {
            label: label.to_owned(),
            start,
            end,
        });
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    for w in out.windows(2) {
        if w[1].start < w[0].end + WINDOW_SECONDS {
            return Err(format!(
                "slices {} and {} are less than {WINDOW_SECONDS} s apart",
                w[0].label, w[1].label
            )
            .into());
        }
    }
    Ok(out)
}

fn run() -> Res<()> {
    let usage = "usage: flow_features --events FILE --slices FILE --run NAME [--tick-ms N]";
    let (mut events, mut slices, mut run_name, mut tick_ms) = (None, None, None, 200u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{usage}"))?;
        match a.as_str() {
            "--events" => events = Some(PathBuf::from(v)),
            "--slices" => slices = Some(PathBuf::from(v)),
            "--run" => run_name = Some(v),
            "--tick-ms" => tick_ms = v.parse().map_err(|e| format!("--tick-ms: {e}"))?,
            other => return Err(format!("unknown argument `{other}`\n{usage}").into()),
        }
    }
    let (events, slices, run_name) = (
        events.ok_or(usage)?,
        slices.ok_or(usage)?,
        run_name.ok_or(usage)?,
    );
    if !(10..=10_000).contains(&tick_ms) {
        return Err("--tick-ms must be between 10 and 10000".into());
    }
    let slices = read_slices(&slices)?;
    let (mut n_lines, mut flows) = (0u64, Vec::new());
    for (n, line) in lines(&events)? {
        if line.is_empty() {
            continue;
        }
        n_lines += 1;
        let p: PacketEvent = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{n}: not a PacketEvent: {e}", events.display()))?;
        flows.extend(FlowEvent::from_syn(&p));
    }
    flows.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    eprintln!(
        "flow_features: {n_lines} packet events, {} flow events (TCP SYN without ACK)",
        flows.len()
    );
    let (Some(first), Some(last)) = (flows.first().map(|f| f.ts), flows.last().map(|f| f.ts))
    else {
        return Ok(());
    };
    let step = f64::from(tick_ms) / 1000.0;
    let mut x = WindowExtractor::default();
    let mut next = 0usize;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut dropped = 0u64;
    println!("run,label,t,src,conn_rate,uniq_dports,uniq_daddrs,syn_only_ratio,rst_ratio");
    let mut k = (first / step).floor() as i64 + 1;
    loop {
        let t = k as f64 * step;
        if t > last + WINDOW_SECONDS + step {
            break;
        }
        while next < flows.len() && flows[next].ts <= t {
            x.push(flows[next].clone());
            next += 1;
        }
        let rows = x.tick(t);
        let slice = slices
            .iter()
            .find(|s| s.start <= t && t < s.end + WINDOW_SECONDS);
        for f in rows {
            let Some(s) = slice else {
                dropped += 1;
                continue;
            };
            let opt = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
            println!(
                "{run_name},{},{:.3},{},{},{},{},{},{}",
                s.label,
                t - s.start,
                f.src,
                f.conn_rate,
                f.uniq_dports,
                f.uniq_daddrs,
                opt(f.syn_only_ratio),
                opt(f.rst_ratio)
            );
            *counts.entry(s.label.clone()).or_default() += 1;
        }
        k += 1;
    }
    let st = x.stats();
    eprintln!(
        "flow_features: rows per label {counts:?}; {dropped} rows outside every slice dropped; extractor: {} events dropped, {} sources evicted",
        st.events_dropped, st.sources_evicted
    );
    Ok(())
}
