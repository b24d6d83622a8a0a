//! Times loading an imported database and matching N generated crates.io packages against it.
//!
//! ```text
//! cargo run --release -p ironpost-vulndb --example match_bench -- [DB_DIR] [SOURCE] [N]
//! ```
//! DB_DIR defaults to a fresh temporary directory; SOURCE (imported first when given, default
//! `testdata/rustsec/native`, relative to the repository root) and N (default 10,000). The packages mix the names of every
//! advisory's crate (at versions around their ranges) with names no advisory mentions, the
//! way a large Cargo.lock does.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use ironpost_vulndb::Db;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let given = args.next().map(std::path::PathBuf::from);
    let db_dir = given.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vulndb-bench-{}", std::process::id()))
    });
    let source = args
        .next()
        .unwrap_or_else(|| "testdata/rustsec/native".to_owned());
    let n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);

    let t = Instant::now();
    let report = Db::import(&db_dir, &source)?;
    println!(
        "import {source}: {} advisories, {} errors in {:.1} ms",
        report.imported,
        report.errors.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    // Warm the page cache once, then time a fresh open.
    drop(Db::open(&db_dir)?);
    let t = Instant::now();
    let db = Db::open(&db_dir)?;
    let load = t.elapsed();

    let names: Vec<String> = db
        .advisories()
        .iter()
        .flat_map(|a| a.affected.iter().map(|f| f.name.clone()))
        .collect();
    let mut packages: Vec<(String, String)> = Vec::with_capacity(n);
    for i in 0..n {
        // One package in four is a crate some advisory names; the rest are unknown to the DB.
        let name = if i % 4 == 0 && !names.is_empty() {
            names[(i / 4) % names.len()].clone()
        } else {
            format!("generated-crate-{i}")
        };
        let version = format!("{}.{}.{}", i % 3, (i / 3) % 40, i % 17);
        packages.push((name, version));
    }

    let t = Instant::now();
    let mut vulns = 0usize;
    let mut warnings = 0usize;
    for (name, version) in &packages {
        for m in db.matches("crates.io", name, version, true) {
            match m.kind() {
                ironpost_vulndb::FindingKind::Vulnerability => vulns += 1,
                ironpost_vulndb::FindingKind::Warning(_) => warnings += 1,
            }
        }
    }
    let matching = t.elapsed();
    println!(
        "open: {:.2} ms ({} advisories); match {n} packages: {:.2} ms ({vulns} vulnerabilities, {warnings} warnings); total {:.2} ms",
        load.as_secs_f64() * 1e3,
        db.advisories().len(),
        matching.as_secs_f64() * 1e3,
        (load + matching).as_secs_f64() * 1e3,
    );
    if given.is_none() {
        std::fs::remove_dir_all(&db_dir)?;
    }
    Ok(())
}
