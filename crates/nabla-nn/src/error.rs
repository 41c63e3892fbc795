//! The error type of `nabla-nn`.

use std::path::PathBuf;

/// Errors raised by `nabla-nn`.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A tensor operation failed inside candle (shape mismatch, device error, ...).
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// A compute device could not be opened.
    #[error(transparent)]
    Device(#[from] nabla_core::device::DeviceError),
    /// A model, jet, optimizer or training setting is out of range or inconsistent.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The setting (config key or argument) at fault.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file of a run (checkpoint, metrics) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A run's config could not be read (file, TOML, override or key).
    #[error(transparent)]
    Config(#[from] nabla_core::config::ConfigError),
    /// A checkpoint file exists but cannot be used to resume this run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The loss became NaN or infinite; training stopped. The last good checkpoint (if any) was
    /// kept unchanged.
    #[error(
        "loss is {loss} at step {step}: training stopped{}",
        match checkpoint {
            Some(p) => format!("; last good checkpoint kept at {}", p.display()),
            None => String::from(" (no checkpoint was written yet)"),
        }
    )]
    NonFiniteLoss {
        /// The global step at which the loss was not finite.
        step: usize,
        /// The offending value.
        loss: f64,
        /// The last good checkpoint, left untouched.
        checkpoint: Option<PathBuf>,
    },
}

impl NnError {
    /// Shorthand for [`NnError::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        NnError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`NnError::Io`]: `path` could not be read or written.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result type of `nabla-nn`.
pub type Result<T, E = NnError> = std::result::Result<T, E>;
