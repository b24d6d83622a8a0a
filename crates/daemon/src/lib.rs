//! ironpost-daemon as a library: [`run`] (what the binary calls) and [`serve`] (what tests call
//! with their own listeners). It only assembles: the config is `ironpost-config`, the control
//! protocol and exit codes are `ironpost-proto`, and each module crate owns its logic; this crate
//! wires them on one event bus (`bus.rs`, `wiring.rs`) and serves HTTP and the control socket.

mod app;
mod bus;
mod console;
mod fleet;
mod handler;
mod http;
mod logging;
pub mod pidfile;
mod process;
mod routes;
mod shared;
mod tls;
mod wiring;

pub use app::{Listeners, RunOptions, run, serve};
pub use bus::{
    ACTION_CHANNEL_CAPACITY, ALERT_CHANNEL_CAPACITY, LOG_CHANNEL_CAPACITY, PACKET_CHANNEL_CAPACITY,
};
