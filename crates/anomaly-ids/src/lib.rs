//! Anomaly IDS: flow telemetry -> 2-second window features per source -> a score.
//!
//! - [`features`]: [`FlowEvent`] (the `telemetry.flow` message) and [`WindowExtractor`] (`push` events,
//!   `tick(now)` for the features of every active source, in the models' input order).
//! - [`scorer`]: [`Scorer`], an ONNX model run by tract or the seed's formula; alert at or above
//!   [`DEFAULT_THRESHOLD`].
//!
//! The models come from `training/train.py` (NSL-KDD, XGBoost); `models/MODEL_CARD.md` describes them.
//! Transport (NATS), alerting (Alertmanager) and metrics are wired by the daemon, not here.

pub mod error;
pub mod features;
pub mod scorer;

pub use error::IdsError;
pub use features::{
    ExtractorConfig, ExtractorStats, FEATURE_NAMES, Features, FlowEvent, TcpFlags, WINDOW_SECONDS,
    WindowExtractor,
};
pub use scorer::{DEFAULT_THRESHOLD, OnnxScorer, Scorer, formula};
