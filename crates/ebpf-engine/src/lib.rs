//! ebpf-engine: XDP packet filtering in the kernel and network detectors in userspace.
//!
//! This crate owns the `[ebpf]` config section. The kernel program, loader and detectors arrive
//! with the ebpf-engine issue; until then the daemon reports the module as unavailable when it is
//! enabled.
//!
//! Architecture invariant: depends on `ironpost-core` only.

pub mod config;

pub use config::{EbpfConfig, FilterRule, RuleAction, XdpMode};
