//! Ironpost's shared vocabulary: the events that travel between modules, severity, the one lifecycle
//! trait every module implements, the metrics registry, and the configuration loader that the daemon
//! uses to compose every module's own section into one `ironpost.toml`.
//!
//! Architecture invariant: this crate knows no module. It defines what modules exchange and how a
//! config section is loaded and validated; the sections themselves live in the module crates.

pub mod ack;
pub mod config;
pub mod containers;
pub mod error;
pub mod event;
pub mod evidence;
pub mod fs;
pub mod glob;
#[cfg(feature = "http-client")]
pub mod http;
pub mod metrics;
pub mod module;
pub mod net;
pub mod severity;

pub use event::{
    ActionEvent, ActionOutcome, ActionType, AlertEvent, AlertSource, ContainerRef, Entities, Event,
    EventId, Evidence, LogEvent, PackageRef, PacketAction, PacketEvent, Protocol, TraceId,
};
pub use module::{BoxFuture, Health, Module, ModuleError};
pub use severity::Severity;

/// Kept at the root: the daemon and every module log with it.
pub use error::error_chain;
