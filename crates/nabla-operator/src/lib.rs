//! Operator learning: neural operators (FNO, DeepONet from `nabla-nn`) that map a PDE's input
//! function to its solution, trained supervised on PDEBench-layout HDF5 files that
//! `nabla datagen` writes.
//!
//! - [`OperatorConfig`]: the `task = "operator"` run config (data file and split, model,
//!   batch size, epochs, Adam with a schedule).
//! - [`dataset`]: loads a Darcy (`nu` → `tensor`) or 1-D series (`tensor[:, i]` →
//!   `tensor[:, j]`) file into channels-last tensors, with the train/test split.
//! - [`OperatorModel`]: the network plus input/output normalisation (mean and standard
//!   deviation over the training set, stored in the checkpoint), evaluated at any resolution.
//! - [`train_operator`]: minibatch training through `nabla_nn::train` (checkpoints, resume,
//!   Ctrl-C, NaN guard) on the relative L2 loss, and the summary with `train_rel_l2` and
//!   `test_rel_l2`.
//! - [`inverse`]: PDE parameter estimation (reaction–diffusion, KdV) with test-time tuning
//!   on the PDE residual.
//! - [`wosno`]: WoS-NO — an FNO for the star-domain Poisson family trained on fresh
//!   Walk-on-Spheres estimates every step (no data set), or physics-informed for comparison.

#![warn(missing_docs)]

pub mod config;
pub mod dataset;
pub mod inverse;
pub mod model;
pub mod objective;
pub mod run;
pub mod wosno;

pub use config::OperatorConfig;
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
