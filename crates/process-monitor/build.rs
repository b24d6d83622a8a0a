//! Compiles the telemetry programs (`bpf/process_monitor.bpf.c`) with clang into
//! `$OUT_DIR/process_monitor.bpf.o`, which `src/kernel.rs` embeds with
//! `aya::include_bytes_aligned!`. Only with the `runtime` feature: without it nothing embeds the
//! object, and the crate builds without clang.
//!
//! `-g` is not optional: it makes clang emit BTF, which the `.maps` definitions and the CO-RE
//! relocations of the kernel structs need.

use std::env;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const SOURCES: [&str; 2] = ["bpf/process_monitor.bpf.c", "bpf/process_monitor.h"];
const INSTALL_HINT: &str = "install the Debian packages `clang llvm libbpf-dev` \
     (scripts/setup.sh does), or point $CLANG at a clang that can target bpf";

fn main() -> ExitCode {
    for src in SOURCES {
        println!("cargo:rerun-if-changed={src}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");

    // Without the `runtime` feature nothing embeds the object: the crate builds without clang.
    if env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return ExitCode::SUCCESS;
    }
    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        println!("cargo:warning=OUT_DIR is not set; build.rs must run under cargo");
        return ExitCode::FAILURE;
    };
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    // Debian keeps <asm/types.h> in a multiarch directory that clang does not search for -target bpf.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_owned());
    let out = out_dir.join("process_monitor.bpf.o");

    let result = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf", "-c"])
        .arg("-I/usr/include/bpf")
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .arg(SOURCES[0])
        .arg("-o")
        .arg(&out)
        .output();
    match result {
        Err(e) => {
            println!("cargo:warning=cannot run `{clang}` ({e}): {INSTALL_HINT}");
            eprintln!("error: cannot run `{clang}` ({e}): {INSTALL_HINT}");
            ExitCode::FAILURE
        }
        Ok(o) if !o.status.success() => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            eprintln!(
                "error: `{clang}` failed to compile {}:\n{stderr}",
                SOURCES[0]
            );
            if stderr.contains("file not found") {
                eprintln!("hint: {INSTALL_HINT}");
            }
            ExitCode::FAILURE
        }
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stderr).lines() {
                println!("cargo:warning={line}");
            }
            ExitCode::SUCCESS
        }
    }
}
