//! A syslog-over-TCP load generator for the end-to-end benchmark (`bench/log-e2e.sh`): sends
//! every line of a file, LF-framed, as fast as the connection takes it, `--repeat` times, over
//! `--connections` connections (lines split round-robin by chunk), and prints what it sent.
//!
//! Usage: tcp_flood ADDR FILE [--repeat N] [--connections C]

// A command-line tool: its output is the report.
#![allow(clippy::print_stdout)]

use std::io::{BufWriter, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(file)) = (args.get(1), args.get(2)) else {
        return Err("usage: tcp_flood ADDR FILE [--repeat N] [--connections C]".into());
    };
    let flag = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let repeat = flag("--repeat", 1);
    let connections = flag("--connections", 1).max(1);
    let data = std::fs::read(file)?;
    let lines = data.iter().filter(|b| **b == b'\n').count();
    // Split the file at line boundaries into one chunk per connection.
    let mut chunks = Vec::new();
    let mut start = 0;
    for c in 1..=connections {
        let mut end = data.len() * c / connections;
        while end < data.len() && end > 0 && data[end - 1] != b'\n' {
            end += 1;
        }
        chunks.push(data[start..end.max(start)].to_vec());
        start = end.max(start);
    }
    let t = Instant::now();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let addr = addr.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut w = BufWriter::with_capacity(1 << 20, TcpStream::connect(addr)?);
                for _ in 0..repeat {
                    w.write_all(&chunk)?;
                }
                w.flush()
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "sender thread panicked")??;
    }
    let secs = t.elapsed().as_secs_f64();
    let sent = lines * repeat;
    println!(
        "sent {sent} lines in {secs:.3} s over {connections} connection(s) ({:.0} lines/s)",
        sent as f64 / secs
    );
    Ok(())
}
