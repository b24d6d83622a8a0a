//! sbom-scanner: lockfile inventory, SBOM generation and offline OSV vulnerability matching.
//!
//! This crate owns the `[sbom]` config section. Parsers, the vulnerability database and the
//! scanner arrive with the sbom-scanner issue; until then the daemon reports the module as
//! unavailable when it is enabled.
//!
//! Architecture invariant: depends on `ironpost-core` only.

pub mod config;

pub use config::{SbomConfig, SbomFormat};
