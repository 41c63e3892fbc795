//! The CLI's error type: every library error, turned into one line and an exit code.

use std::path::PathBuf;

/// Anything that ends a `nabla` command with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Assembly, MatrixMarket input or a solver failed.
    #[error(transparent)]
    Sparse(#[from] nabla::sparse::SparseError),
    /// Reading or writing HDF5 failed.
    #[error(transparent)]
    Data(#[from] nabla::data::DataError),
    /// A grid spec is invalid.
    #[error(transparent)]
    Core(#[from] nabla::core::CoreError),
    /// A Walk-on-Spheres solve failed (options, points outside the domain, CUDA, ...).
    #[error(transparent)]
    Wos(#[from] nabla::wos::WosError),
    /// A PINN config, training run or evaluation failed.
    #[error(transparent)]
    Pinn(#[from] nabla::pinn::PinnError),
    /// An operator-training error (config, data file, model).
    #[error(transparent)]
    Operator(Box<nabla::operator::OperatorError>),
    /// A DCDM model, training set or solve failed.
    #[error(transparent)]
    Dcdm(Box<nabla::dcdm::DcdmError>),
    /// A facade-level error (configs of any task, loading any run).
    #[error(transparent)]
    Lib(Box<nabla::Error>),
    /// A run config could not be read (file, TOML, `--set`, key).
    #[error(transparent)]
    Config(#[from] nabla::core::config::ConfigError),
    /// A training-loop error (checkpoint, NaN loss, I/O of a run).
    #[error(transparent)]
    Nn(#[from] nabla::nn::NnError),
    /// An input file (e.g. a points CSV) is unreadable or malformed; the message names the
    /// file and line.
    #[error("{0}")]
    Input(String),
    /// A plot could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// An output file cannot be written.
    #[error("{}: {source}", path.display())]
    Output {
        /// The file the user asked for.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Flags that do not fit together or are out of range.
    #[error("{0}")]
    Usage(String),
    /// Under mpirun: an error rank 0 met and sent to every rank (a matrix file it could not
    /// read); rank 0 reports it, the others exit with it silently.
    #[error("{0}")]
    Shared(String),
    /// The solver stopped at `--max-iters` above the tolerance; outputs were still written.
    #[error("{0}")]
    NotConverged(String),
    /// Writing the summary to stdout failed (closed pipe, full disk).
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// Training stopped at the user's request (Ctrl-C) after saving its checkpoint.
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    /// 3 for a solve that ran but did not reach the tolerance, 130 (128 + SIGINT) for a run
    /// stopped by Ctrl-C, 1 for everything else (clap
    /// itself exits with 2 on malformed flags).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotConverged(_) => 3,
            Self::Interrupted(_) => 130,
            _ => 1,
        }
    }

    /// True for a write to a stdout whose reader has gone (`nabla ... | head`): the command
    /// then ends quietly with exit 0, as `head` users expect.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Result alias of the CLI.
pub type Result<T> = std::result::Result<T, CliError>;

impl From<nabla::operator::OperatorError> for CliError {
    fn from(e: nabla::operator::OperatorError) -> Self {
        CliError::Operator(Box::new(e))
    }
}

impl From<nabla::dcdm::DcdmError> for CliError {
    fn from(e: nabla::dcdm::DcdmError) -> Self {
        CliError::Dcdm(Box::new(e))
    }
}

impl From<nabla::Error> for CliError {
    fn from(e: nabla::Error) -> Self {
        CliError::Lib(Box::new(e))
    }
}
