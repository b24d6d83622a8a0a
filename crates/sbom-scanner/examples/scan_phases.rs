//! Times each phase of `ironpost-cli scan sbom` in one process: opening the database, reading the
//! lockfiles, matching, applying the policy and writing the JSON report (to a buffer). The CLI
//! does not free the report at the end; `drop` shows what that saves.
//!
//! ```text
//! cargo run --release -p ironpost-sbom-scanner --example scan_phases -- DB_DIR SCAN_DIR [ROUNDS]
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use ironpost_core::Severity;
use ironpost_sbom_scanner::{Policy, scan};
use ironpost_vulndb::Db;

// The allocator of `ironpost-cli`, so that the phases cost what they cost there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(db_dir), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: scan_phases DB_DIR SCAN_DIR [ROUNDS]".into());
    };
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dirs = [PathBuf::from(dir)];
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for _ in 0..rounds {
        let t = Instant::now();
        let db = Db::open(&db_dir)?;
        let open = ms(t);
        let t = Instant::now();
        let inv = ironpost_sbom_scanner::inventory(&dirs)?;
        let read = ms(t);
        let t = Instant::now();
        let findings = scan::find(&inv, &db);
        let find = ms(t);
        let t = Instant::now();
        let policy = Policy {
            min_severity: Severity::Info,
            ..Policy::default()
        };
        let report = scan::apply(&inv, findings, &policy, chrono::Utc::now().date_naive());
        let apply = ms(t);
        // Compact, as `ironpost-cli scan sbom --format json` writes to a file or a pipe.
        let t = Instant::now();
        let json = serde_json::to_vec(&report)?;
        let write = ms(t);
        let (packages, findings) = (inv.packages.len(), report.findings.len());
        let t = Instant::now();
        drop((report, inv, db));
        let free = ms(t);
        println!(
            "open {open:.2} ms  read {read:.2} ms ({packages} packages)  match {find:.2} ms \
             ({findings} findings)  policy {apply:.2} ms  json {write:.2} ms ({} bytes)  \
             drop {free:.2} ms",
            json.len()
        );
    }
    Ok(())
}
