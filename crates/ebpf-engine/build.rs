//! Compiles the XDP program (`bpf/xdp_filter.bpf.c`) into `$OUT_DIR/xdp_filter.bpf.o`, which
//! `src/kernel/mod.rs` embeds (`build-support/bpf.rs` says how).

#[path = "../../build-support/bpf.rs"]
mod bpf;

fn main() -> std::process::ExitCode {
    bpf::compile("xdp_filter")
}
