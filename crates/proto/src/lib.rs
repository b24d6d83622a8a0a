//! The contract between `ironpost-cli` (and, later, other clients) and `ironpost-daemon`: the
//! control requests and answers ([`control`]), their plain wire types ([`wire`]), the client
//! ([`client`]), the server side of the socket ([`server`]) and the process exit codes both
//! binaries use ([`exit`]).
//!
//! This crate depends on `ironpost-core` only, so a client links none of the module runtimes.

pub mod client;
pub mod control;
pub mod exit;
pub mod server;
pub mod wire;

pub use client::{ControlError, request};
pub use control::{
    ChannelStatus, Envelope, ModuleStatus, PROTOCOL_VERSION, Request, Response, StatusReport,
};
pub use exit::{Exit, ExitError, WithExit};
