//! container-guard: alert-driven isolation of Docker containers.
//!
//! This crate owns the `[container]` config section. The Docker client, policies and executor
//! arrive with the container-guard issue; until then the daemon reports the module as unavailable
//! when it is enabled.
//!
//! Architecture invariant: depends on `ironpost-core` only.

pub mod config;

pub use config::ContainerConfig;
