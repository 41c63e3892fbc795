//! Operator learning: neural operators (FNO, DeepONet from `nabla-nn`) that map a PDE's input
//! function to its solution, trained supervised on PDEBench-layout HDF5 files that
//! `nabla datagen` writes.
//!
//! - [`OperatorConfig`]: the `task = "operator"` run config (data file and split, model,
//!   batch size, epochs, Adam with a schedule).
//! - [`dataset`]: loads a Darcy (`nu` → `tensor`), 1-D series (`tensor[:, i]` →
//!   `tensor[:, j]`) or 2-D series (frames `0..T_in` → the next `T_out`, e.g. Navier–Stokes
//!   vorticity) file into channels-last tensors, with the train/test split.
//! - [`OperatorModel`]: the network plus input/output normalisation (mean and standard
//!   deviation over the training set, stored in the checkpoint), evaluated at any resolution.
//! - [`train_operator`]: minibatch training through `nabla_nn::train` (checkpoints, resume,
//!   Ctrl-C, NaN guard) on the relative L2 loss, and the summary with `train_rel_l2` and
//!   `test_rel_l2`. A `series-2d` run trains autoregressive rollouts (the per-step losses
//!   summed, gradients through the rollout) and also reports `test_rel_l2_per_step`.
//! - [`inverse`]: PDE parameter estimation (reaction–diffusion, KdV) with test-time tuning
//!   on the PDE residual.
//! - [`wosno`]: WoS-NO — an FNO for the star-domain Poisson family trained on fresh
//!   Walk-on-Spheres estimates every step (no data set), or physics-informed for comparison.
//!
//! # Example
//!
//! The FNO shipped in `datasets/runs/fno_v0.1` (trained on 200 Darcy samples at 32 × 32)
//! against the finite-difference solutions of two fresh coefficient fields:
//!
//! ```
//! use nabla_data::datagen::{generate_darcy, DarcySettings};
//! use nabla_operator::Operator;
//! use ndarray::ArrayD;
//!
//! let run = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/runs/fno_v0.1");
//! let op = Operator::load(run)?;
//! assert_eq!(op.kind(), "fno");
//! assert_eq!(op.train_grid()?, vec![32, 32]);
//!
//! // Coefficients a ∈ {12, 3} on the 32 × 32 vertex grid of [0, 1]², and u solving
//! // −∇·(a∇u) = 1 with u = 0 on the boundary (5-point scheme, PCG to 1e-10).
//! let settings = DarcySettings { resolution: 32, samples: 2, seed: 2024, ..Default::default() };
//! let data = generate_darcy(&settings, &|_| {})?;
//! let a: Vec<f64> = data.coefficient.iter().map(|&v| f64::from(v)).collect();
//! let a = ArrayD::from_shape_vec(vec![2, 32, 32], a)?;
//!
//! let u = op.predict(a.view())?; // [batch, n₁, n₂]
//! assert_eq!(u.shape(), &[2, 32, 32]);
//! assert!(u.iter().all(|v| v.is_finite()));
//! // Relative L2 error per sample (the run's test error is 0.061).
//! for (k, pred) in u.outer_iter().enumerate() {
//!     let exact = &data.solution[k * 32 * 32..(k + 1) * 32 * 32];
//!     let (mut num, mut den) = (0.0, 0.0);
//!     for (p, &e) in pred.iter().zip(exact) {
//!         num += (p - f64::from(e)).powi(2);
//!         den += f64::from(e).powi(2);
//!     }
//!     assert!((num / den).sqrt() < 0.15, "sample {k}: {}", (num / den).sqrt());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod dataset;
pub mod inference;
pub mod inverse;
pub mod model;
pub mod objective;
pub mod run;
pub mod wosno;

pub use config::OperatorConfig;
pub use inference::{Operator, PredictionFile};
pub use model::OperatorModel;
pub use run::{train_operator, OperatorRun, OperatorSummary};

/// Errors of operator training: one line, naming the config key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A config value is invalid.
    #[error("config: {key}: {reason}")]
    Config {
        /// The key, e.g. `data.train`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The data file cannot be used.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// Training or a tensor operation failed.
    #[error(transparent)]
    Nn(#[from] nabla_nn::NnError),
    /// Inputs handed to a trained model are unusable (shape, non-finite values, too coarse a
    /// grid); the message says which.
    #[error("{0}")]
    Input(String),
    /// A Walk-on-Spheres estimate failed (WoS-NO targets or ground truth).
    #[error(transparent)]
    Wos(#[from] nabla_wos::WosError),
}

impl From<candle_core::Error> for OperatorError {
    fn from(e: candle_core::Error) -> Self {
        OperatorError::Nn(nabla_nn::NnError::from(e))
    }
}

impl OperatorError {
    pub(crate) fn config(key: &str, reason: impl Into<String>) -> Self {
        OperatorError::Config {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, OperatorError>;
