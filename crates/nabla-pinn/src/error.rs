//! The error type of `nabla-pinn`.

use std::path::PathBuf;

/// Errors raised by `nabla-pinn`.
#[derive(Debug, thiserror::Error)]
pub enum PinnError {
    /// A config key is missing, out of range or inconsistent with the others.
    #[error("config: {key}: {reason}")]
    Config {
        /// The key, as `section.key` (e.g. `problem.k`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A geometry or expression error from `nabla-core`, with the key it came from.
    #[error("config: {key}: {source}")]
    Core {
        /// The config key holding the domain spec or expression.
        key: String,
        /// The underlying error.
        source: nabla_core::CoreError,
    },
    /// An error of the learning layer (tensors, optimizers, checkpoints, NaN loss).
    #[error(transparent)]
    Nn(#[from] nabla_nn::NnError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Points handed to a trained model are unusable (shape, non-finite values); the message
    /// says which.
    #[error("{0}")]
    Input(String),
    /// A points file could not be read or parsed.
    #[error(transparent)]
    Points(#[from] nabla_core::points::PointsError),
    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    File {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl PinnError {
    /// Shorthand for [`PinnError::Config`].
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        PinnError::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`PinnError::File`].
    pub fn file(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        PinnError::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<PinnError> for nabla_nn::NnError {
    fn from(e: PinnError) -> Self {
        match e {
            PinnError::Nn(e) => e,
            PinnError::Candle(e) => nabla_nn::NnError::Candle(e),
            other => nabla_nn::NnError::invalid("PINN objective", other.to_string()),
        }
    }
}

/// Result type of `nabla-pinn`.
pub type Result<T, E = PinnError> = std::result::Result<T, E>;
