//! container-guard: alert-driven isolation of Docker containers.
//!
//! This crate owns the `[container]` config section and the isolation policies (`policy.rs`: TOML
//! files, validated with file:line errors, deterministic order) and the targeting rule (`target.rs`:
//! which container an alert concerns, by explicit link only). The Docker client and
//! executor arrive with the rest of the container-guard issue; until then the daemon reports the
//! module as unavailable when it is enabled.
//!
//! Architecture invariant: depends on `ironpost-core` only.

pub mod config;
pub mod policy;
pub mod target;

pub use config::ContainerConfig;
pub use policy::{ContainerInfo, Filters, IsolationAction, Policy, PolicyError, PolicySet};
pub use target::{Link, NoTarget, target};
