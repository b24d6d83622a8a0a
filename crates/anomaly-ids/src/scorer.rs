//! Scores window features: an ONNX tree-ensemble model run by tract (pure Rust), or the seed's formula when
//! no model is configured.
//!
//! The models are binary `TreeEnsembleClassifier`s exported by `training/train.py`; the score is the
//! attack-class column of their `probabilities` output (their `label` output is not used: tract's is wrong
//! for binary models).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "runtime")]
use tract_onnx::prelude::*;

use crate::error::IdsError;
use crate::features::{FEATURE_NAMES, Features};

/// Alert when a score is at or above this (the seed's `THRESHOLD`).
pub const DEFAULT_THRESHOLD: f32 = 0.7;

/// The models' probability output.
#[cfg(feature = "runtime")]
const PROBABILITIES: &str = "probabilities";

#[cfg(feature = "runtime")]
type Plan = Arc<TypedRunnableModel>;

/// Turns [`Features`] into a score in `[0, 1]`.
#[derive(Debug)]
pub enum Scorer {
    /// A model loaded from an ONNX file.
    #[cfg(feature = "runtime")]
    Onnx(OnnxScorer),
    /// The seed's formula: `min(1.0, 0.5*conn_rate + 0.05*uniq_dports)`.
    Formula,
}

impl Scorer {
    /// Loads an ONNX model (see [`OnnxScorer::load`]).
    #[cfg(feature = "runtime")]
    pub fn load(path: impl AsRef<Path>) -> Result<Self, IdsError> {
        OnnxScorer::load(path).map(Scorer::Onnx)
    }

    /// P(attack) from the model, or the formula's score.
    pub fn score(&self, features: &Features) -> f32 {
        match self {
            #[cfg(feature = "runtime")]
            Scorer::Onnx(m) => m.score(features),
            Scorer::Formula => formula(features),
        }
    }

    /// Scores of several sources, in order.
    pub fn score_all(&self, features: &[Features]) -> Vec<f32> {
        features.iter().map(|f| self.score(f)).collect()
    }
}

/// The seed's score without a model: `min(1.0, 0.5*conn_rate + 0.05*uniq_dports)`.
pub fn formula(features: &Features) -> f32 {
    (0.5 * features.conn_rate + 0.05 * features.uniq_dports as f32).min(1.0)
}

#[cfg(feature = "runtime")]
/// A binary classifier over [`FEATURE_NAMES`], compiled once by tract.
#[derive(Debug)]
pub struct OnnxScorer {
    path: PathBuf,
    plan: Plan,
    /// Runs that failed after a successful load; those scores fell back to the formula.
    run_errors: AtomicU64,
}

#[cfg(feature = "runtime")]
impl OnnxScorer {
    /// Loads, type-checks and optimises the model for one row of [`FEATURE_NAMES`] and checks that it answers
    /// a probe row with two probabilities.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, IdsError> {
        let path = path.as_ref().to_path_buf();
        let plan = build_plan(&path).map_err(|e| IdsError::Model {
            path: path.clone(),
            source: e.into(),
        })?;
        let scorer = OnnxScorer {
            path,
            plan,
            run_errors: AtomicU64::new(0),
        };
        let probe = scorer
            .run(&[0.0; FEATURE_NAMES.len()])
            .map_err(|e| IdsError::Model {
                path: scorer.path.clone(),
                source: e.into(),
            })?;
        if !(0.0..=1.0).contains(&probe) {
            return Err(IdsError::NotAProbability {
                path: scorer.path,
                value: probe,
            });
        }
        Ok(scorer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Model runs that failed after loading (each scored by the formula instead).
    pub fn run_errors(&self) -> u64 {
        self.run_errors.load(Ordering::Relaxed)
    }

    /// P(attack). A run cannot fail on a shape the load already checked; if it does anyway, the failure is
    /// counted in [`run_errors`](Self::run_errors) and the formula scores this row, so a source is never
    /// silently unscored.
    pub fn score(&self, features: &Features) -> f32 {
        match self.run(&features.to_model_input()) {
            Ok(p) => p,
            Err(_) => {
                self.run_errors.fetch_add(1, Ordering::Relaxed);
                formula(features)
            }
        }
    }

    /// P(attack) for one raw model input row (NaN = missing).
    pub fn score_input(&self, input: &[f32; FEATURE_NAMES.len()]) -> Result<f32, IdsError> {
        self.run(input).map_err(|e| IdsError::Model {
            path: self.path.clone(),
            source: e.into(),
        })
    }

    fn run(&self, input: &[f32; FEATURE_NAMES.len()]) -> TractResult<f32> {
        let tensor = Tensor::from_shape(&[1, FEATURE_NAMES.len()], input)?;
        let outputs = self.plan.run(tvec!(tensor.into()))?;
        let probs = outputs[0].try_as_plain_ram()?;
        let probs = probs.as_slice::<f32>()?;
        match probs {
            [_, attack] => Ok(*attack),
            other => Err(TractError::msg(format!(
                "expected 2 probabilities, got {}",
                other.len()
            ))),
        }
    }
}

#[cfg(feature = "runtime")]
fn build_plan(path: &Path) -> TractResult<Plan> {
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    let Some(probs) = model.find_outlet_label(PROBABILITIES) else {
        return Err(TractError::msg(format!(
            "the model has no `{PROBABILITIES}` output"
        )));
    };
    model.select_output_outlets(&[probs])?;
    let model = model.with_input_fact(0, f32::fact([1, FEATURE_NAMES.len()]).into())?;
    model.into_optimized()?.into_runnable()
}

#[cfg(all(test, feature = "runtime"))]
mod tests {
    use super::*;

    fn features(conn_rate: f32, uniq_dports: u32) -> Features {
        Features {
            src: "10.0.0.5".parse().expect("addr"),
            conn_rate,
            uniq_dports,
            uniq_daddrs: 1,
            syn_only_ratio: None,
            rst_ratio: None,
        }
    }

    #[test]
    fn formula_table() {
        // (conn_rate, uniq_dports, score)
        let cases = [
            (0.0, 0, 0.0),
            (0.5, 1, 0.3),
            (1.0, 4, 0.7),
            (1.2, 2, 0.7),
            (12.5, 8, 1.0),
            (0.0, 20, 1.0),
            (0.0, 10, 0.5),
        ];
        for (rate, ports, want) in cases {
            let got = Scorer::Formula.score(&features(rate, ports));
            assert!((got - want).abs() < 1e-6, "{rate} {ports}: {got} != {want}");
        }
    }

    #[test]
    fn threshold_is_the_seeds() {
        assert_eq!(DEFAULT_THRESHOLD, 0.7);
        assert!(Scorer::Formula.score(&features(12.5, 8)) >= DEFAULT_THRESHOLD);
        assert!(Scorer::Formula.score(&features(0.5, 1)) < DEFAULT_THRESHOLD);
    }

    #[test]
    fn missing_model_file_is_an_error_naming_it() {
        let err = Scorer::load("/nonexistent/model.onnx").expect_err("no such file");
        assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    }

    #[test]
    fn garbage_model_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ironpost-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("garbage.onnx");
        std::fs::write(&path, b"not an onnx model").expect("write");
        let res = Scorer::load(&path);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(matches!(res, Err(IdsError::Model { .. })), "{res:?}");
    }
}
