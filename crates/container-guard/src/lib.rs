//! container-guard: alert-driven isolation of Docker containers.
//!
//! - `config.rs`: the `[container]` section.
//! - `policy.rs`: isolation policies (TOML files, file:line errors, priority-then-name order,
//!   all-or-nothing loading so a broken reload keeps the policies in force).
//! - `target.rs`: which container an alert concerns — by explicit link only: the actor (named, or
//!   holding the source address on enough evidence) for every policy, the destination (address,
//!   published port) only for policies with `link = "destination"`.
//! - `docker.rs`: the Docker Engine API (bollard), every call timed.
//! - `inventory.rs`: list + events stream + TTL refresh, reconnect with backoff.
//! - `executor.rs`: actions with timeout and retries, one `ActionEvent` per attempt.
//! - `isolations.rs`: what was done to which container (networks, aliases, addresses), persisted
//!   durably so `restore` can undo it after a restart; a damaged file is reported and moved aside.
//! - `reconcile.rs`: isolations checked against Docker's state after events, on reconnection and
//!   periodically; an undone one is re-applied or reported (`on_undone`).
//! - `error.rs`: `GuardError`, the crate's one error enum.
//! - `metrics.rs`: the guard's metrics.
//! - `guard.rs`: the `container_guard` module and the `GuardHandle` the CLI talks to.
//!
//! Architecture invariant: depends on `ironpost-core` and `ironpost-proto` (the wire types it
//! converts into) only, and bollard for Docker with the `runtime` feature.

pub mod config;
#[cfg(feature = "runtime")]
mod directory;
#[cfg(feature = "runtime")]
mod docker;
#[cfg(feature = "runtime")]
mod error;
#[cfg(feature = "runtime")]
mod executor;
#[cfg(feature = "runtime")]
mod guard;
#[cfg(feature = "runtime")]
mod inventory;
#[cfg(feature = "runtime")]
mod isolations;
#[cfg(feature = "runtime")]
mod metrics;
pub mod policy;
#[cfg(feature = "runtime")]
mod reconcile;
pub mod target;
#[cfg(feature = "runtime")]
mod wire;

pub use config::{ContainerConfig, OnUndone};
#[cfg(feature = "runtime")]
pub use docker::Attachment;
#[cfg(feature = "runtime")]
pub use error::GuardError;
#[cfg(feature = "runtime")]
pub use guard::{ALERT_QUEUE_CAPACITY, ContainerGuard, GuardHandle};
#[cfg(feature = "runtime")]
pub use isolations::Isolation;
pub use policy::{
    ContainerInfo, Filters, IsolationAction, LinkMode, Policy, PolicyError, PolicySet,
};
pub use target::{Decision, Link, NoTarget, Skip, actor, decide, destination};
