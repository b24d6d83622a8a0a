//! Fleet mode: the hosts of a fleet share their block decisions through a NATS JetStream
//! key-value bucket (design: ARCHITECTURE.md, `crates/fleet`; operations: docs/fleet.md).
//!
//! - [`config`]: the `[fleet]` section ([`FleetConfig`]; authentication and TLS in
//!   `[fleet.nats]`, the `[ids.nats]` type).
//! - [`decision`]: [`Decision`], the value under a CIDR's key, and the key encoding.
//! - [`events`]: the central view: agents' alerts and actions on a JetStream stream, consumed
//!   by the central role into its store through [`Ingest`].
//! - [`module`]: [`FleetModule`], the daemon's `fleet` module, fed by [`FleetInput`] and acting on
//!   the local blocklist through [`Enforcer`].

pub mod config;
pub mod decision;
pub mod error;
pub mod events;
pub mod module;
pub mod node;

pub use config::{FleetConfig, Role};
pub use decision::Decision;
pub use error::FleetError;
pub use events::{EventKind, FleetEvent, Ingest};
pub use module::{
    BoxError, Enforcer, FleetInput, FleetModule, LocalBlock, REMOTE_REASON_PREFIX, RemoteBlock,
};
pub use node::{ModuleHealth, NodeReport, NodeStatus, read_nodes, reports_from_store};
