#![allow(clippy::print_stdout)]
use ironpost_log_pipeline::parse::{ParseContext, parse, zz_extract};
use std::collections::BTreeMap;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&a[1]).unwrap();
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let msgs: Vec<String> = text
        .lines()
        .map(|l| parse(l.as_bytes(), &ctx).message.into_owned())
        .collect();
    let mut kinds: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for m in &msgs {
        let k: String = m.split(' ').take(2).collect::<Vec<_>>().join(" ");
        kinds.entry(k).or_default().push(m);
    }
    for (k, v) in &kinds {
        if v.len() < 2000 {
            continue;
        }
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let mut n = 0;
            for m in v {
                n += zz_extract(Some("sshd"), m) as usize;
            }
            std::hint::black_box(n);
            best = best.min(t.elapsed().as_nanos() as f64 / v.len() as f64);
        }
        println!("{:40} {:6} {:6.1} ns", k, v.len(), best);
    }
    let t = Instant::now();
    let mut n = 0;
    for m in &msgs {
        n += zz_extract(Some("sshd"), m) as usize;
    }
    std::hint::black_box(n);
    println!(
        "all {:.1} ns",
        t.elapsed().as_nanos() as f64 / msgs.len() as f64
    );
}
