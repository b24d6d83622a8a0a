//! The build step shared by the crates with BPF programs in C (`ebpf-engine`, `process-monitor`):
//! clang compiles `bpf/NAME.bpf.c` into `$OUT_DIR/NAME.bpf.o`, which the crate embeds with
//! `aya::include_bytes_aligned!`. Only with the crate's `runtime` feature: without it nothing
//! embeds the object, and the crate builds without clang. Each crate's `build.rs` includes this
//! file (`#[path]`).
//!
//! `-g` is not optional: it makes clang emit BTF, which the `.maps` definitions and CO-RE
//! relocations need.

use std::env;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const INSTALL_HINT: &str = "install the Debian packages `clang llvm libbpf-dev` \
     (scripts/setup.sh does), or point $CLANG at a clang that can target bpf";

/// This directory's `bpf/`, seen from a crate under `crates/`.
const SHARED_INCLUDE: &str = "../../build-support/bpf";

/// Compiles `bpf/NAME.bpf.c` (with `bpf/NAME.h`) of the crate being built into
/// `$OUT_DIR/NAME.bpf.o`, when the crate's `runtime` feature is on.
pub(crate) fn compile(name: &str) -> ExitCode {
    let sources = [format!("bpf/{name}.bpf.c"), format!("bpf/{name}.h")];
    for src in &sources {
        println!("cargo:rerun-if-changed={src}");
    }
    // Headers shared by the programs (build scripts run in the crate's directory).
    println!("cargo:rerun-if-changed={SHARED_INCLUDE}/token_bucket.h");
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
    let out = out_dir.join(format!("{name}.bpf.o"));

    let result = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf", "-c"])
        .arg("-I/usr/include/bpf")
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .arg(format!("-I{SHARED_INCLUDE}"))
        .arg(&sources[0])
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
                sources[0]
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
