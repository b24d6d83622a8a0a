//! Table benchmark (bench/tables.sh, bench/README.md "Tables"): the CLI's hand-written table
//! (`src/table.rs`, included as is) against `comfy-table` without its `tty` feature, on the same
//! alert-like rows, plain text (comfy-table cannot colour single cells without crossterm).
//!
//! comfy-table is set up to print the same layout (no borders, two spaces between columns, the
//! last column unpadded); the example prints whether the two texts are identical, so a reader
//! sees that the comparison is like for like.
//!
//!   cargo run --release -p ironpost-cli --example table_bench -- [--rounds N]

#![allow(clippy::print_stdout, dead_code)]

#[path = "../src/table.rs"]
mod table;

use std::hint::black_box;
use std::time::Instant;

use comfy_table::{CellAlignment, ContentArrangement, Table, TableComponent, presets};

const HEADER: [&str; 6] = ["TIME", "SEVERITY", "EVIDENCE", "RULE", "SOURCE", "TITLE"];

fn rows(n: usize) -> Vec<Vec<String>> {
    let sev = ["low", "medium", "high", "critical"];
    let ev = ["verified", "spoofable", "forgeable"];
    (0..n)
        .map(|i| {
            vec![
                format!("2026-12-07T05:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                sev[i % 4].to_owned(),
                ev[i % 3].to_owned(),
                format!("sshd_bruteforce_{}", i % 17),
                format!("198.18.{}.{}", (i / 250) % 250, i % 250),
                format!("{} failed logins for user{} in 60 s", 5 + i % 40, i % 97),
            ]
        })
        .collect()
}

fn comfy(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    for c in [
        TableComponent::LeftBorder,
        TableComponent::RightBorder,
        TableComponent::TopBorder,
        TableComponent::BottomBorder,
        TableComponent::VerticalLines,
        TableComponent::HeaderLines,
        TableComponent::HorizontalLines,
        TableComponent::LeftHeaderIntersection,
        TableComponent::RightHeaderIntersection,
        TableComponent::MiddleHeaderIntersections,
        TableComponent::LeftBorderIntersections,
        TableComponent::RightBorderIntersections,
        TableComponent::MiddleIntersections,
        TableComponent::TopBorderIntersections,
        TableComponent::BottomBorderIntersections,
        TableComponent::TopLeftCorner,
        TableComponent::TopRightCorner,
        TableComponent::BottomLeftCorner,
        TableComponent::BottomRightCorner,
    ] {
        t.remove_style(c);
    }
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r.clone());
    }
    let last = header.len() - 1;
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i == last { 0 } else { 2 }));
        col.set_cell_alignment(CellAlignment::Left);
    }
    let mut s = String::new();
    for line in t.lines() {
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

fn best_ms(rounds: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(5, |v| v.parse().expect("--rounds needs a number"));
    println!(
        "tables: {} columns, best of {rounds}, plain text",
        HEADER.len()
    );
    for n in [100, 1_000, 100_000] {
        let r = rows(n);
        let ours_text = table::table_with(&HEADER, &r, false);
        let comfy_text = comfy(&HEADER, &r);
        let same = ours_text == comfy_text;
        let ours = best_ms(rounds, || table::table_with(&HEADER, &r, false).len());
        let theirs = best_ms(rounds, || comfy(&HEADER, &r).len());
        println!(
            "  {n:>7} rows  hand-written {ours:>9.2} ms  comfy-table 7 {theirs:>9.2} ms  ratio {:.1}x  identical text: {}",
            theirs / ours,
            if same { "yes" } else { "NO" }
        );
        if !same {
            let (a, b) = (ours_text.lines().next(), comfy_text.lines().next());
            println!("    first lines: {a:?} / {b:?}");
        }
    }
}
