//! Compiles the telemetry programs (`bpf/process_monitor.bpf.c`) into
//! `$OUT_DIR/process_monitor.bpf.o`, which `src/kernel.rs` embeds (`build-support/bpf.rs` says how).

#[path = "../../build-support/bpf.rs"]
mod bpf;

fn main() -> std::process::ExitCode {
    bpf::compile("process_monitor")
}
