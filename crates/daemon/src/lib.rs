//! ironpost-daemon as a library: the composed config, the control protocol (shared with the CLI),
//! exit codes, and [`run`]. The binary in `main.rs` only parses arguments and calls [`run`].

pub mod config;
pub mod control;
pub mod exit;
pub mod pidfile;

mod app;
mod cve;
mod handler;
mod http;
mod logging;
pub mod response;
mod routes;

pub use app::{
    ACTION_CHANNEL_CAPACITY, ALERT_CHANNEL_CAPACITY, LOG_CHANNEL_CAPACITY, PACKET_CHANNEL_CAPACITY,
    RunOptions, run,
};
