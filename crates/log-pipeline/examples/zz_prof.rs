#![allow(clippy::print_stdout)]
use ironpost_log_pipeline::parse::{ParseContext, Record, parse};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&a[1]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    println!("size Record = {}", std::mem::size_of::<Record<'_>>());
    for _ in 0..5 {
        let t = Instant::now();
        let mut acc = 0usize;
        for l in &lines {
            let r = parse(l.as_bytes(), &ctx);
            acc += r.message.len() + r.auth().port.unwrap_or(0) as usize;
        }
        std::hint::black_box(acc);
        let d = t.elapsed();
        println!(
            "{:.1} ns/line {:.2} M/s",
            d.as_nanos() as f64 / lines.len() as f64,
            lines.len() as f64 / d.as_secs_f64() / 1e6
        );
    }
}
