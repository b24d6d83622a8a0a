//! Errors of the anomaly IDS crate.

use std::path::PathBuf;

/// What can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    /// The file could not be read, parsed, typed or run by tract.
    #[error("anomaly model {}: {source:#}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The model's attack probability for a probe row was outside [0, 1].
    #[error("anomaly model {}: score {value} for a probe row is not a probability", path.display())]
    NotAProbability { path: PathBuf, value: f32 },
}
