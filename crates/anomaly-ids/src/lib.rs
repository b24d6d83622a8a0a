//! Anomaly IDS: flow telemetry -> 2-second window features per source -> a score.
//!
//! - [`features`]: [`FlowEvent`] (the `telemetry.flow` message) and [`WindowExtractor`] (`push` events,
//!   `tick(now)` for the features of every active source, in the models' input order).
//! - [`scorer`]: [`Scorer`], an ONNX model run by tract or the seed's formula; alert at or above
//!   [`DEFAULT_THRESHOLD`].
//!
//! - [`config`]: the `[ids]` section; [`module`]: the `ids` module the daemon runs (NATS transport in [`nats`],
//!   sinks in [`alertmanager`] and [`syslog`]).
//!
//! The models come from `training/train.py` (NSL-KDD, XGBoost); `models/MODEL_CARD.md` describes them.

// Without the runtime, the model loader and its imports have no user in this build.
#![cfg_attr(not(feature = "runtime"), allow(unused_imports, dead_code))]

pub mod alertmanager;
pub mod config;
pub mod error;
pub mod features;
#[cfg(feature = "runtime")]
pub mod module;
pub mod nats;
mod packet_flow;
pub mod scorer;
pub mod syslog;

pub use config::{IdsConfig, NatsConfig, SyslogFraming};
pub use error::IdsError;
pub use features::{
    ExtractorConfig, ExtractorStats, FEATURE_NAMES, Features, FlowEvent, TcpFlags, WINDOW_SECONDS,
    WindowExtractor,
};
#[cfg(feature = "runtime")]
pub use module::{FlowInput, IdsHandle, IdsModule};
#[cfg(feature = "runtime")]
pub use scorer::OnnxScorer;
pub use scorer::{DEFAULT_THRESHOLD, Scorer, formula};
