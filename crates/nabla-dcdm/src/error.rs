//! The error type of `nabla-dcdm`.

use std::path::PathBuf;

/// Everything that can go wrong in DCDM data generation, training and solves. Each message is
/// one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum DcdmError {
    /// A network, training-loop or checkpoint error.
    #[error(transparent)]
    Nn(#[from] nabla_nn::NnError),
    /// Assembly, Lanczos or a solver failed.
    #[error(transparent)]
    Sparse(#[from] nabla_sparse::SparseError),
    /// Reading or writing the HDF5 training set failed.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// A config key is missing, out of range or inconsistent.
    #[error("{key}: {reason}")]
    Config {
        /// The config key (e.g. `data.lanczos_steps`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A model file cannot be used.
    #[error("model {}: {reason}", path.display())]
    Model {
        /// The file given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A model does not fit the problem (dimension, grid).
    #[error("{0}")]
    Mismatch(String),
}

impl DcdmError {
    /// Shorthand for [`DcdmError::Config`].
    pub fn config(key: &str, reason: impl Into<String>) -> Self {
        DcdmError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl From<candle_core::Error> for DcdmError {
    fn from(e: candle_core::Error) -> Self {
        DcdmError::Nn(nabla_nn::NnError::Candle(e))
    }
}

/// Result alias of `nabla-dcdm`.
pub type Result<T> = std::result::Result<T, DcdmError>;
