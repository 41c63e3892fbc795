//! The error type of `nabla-sparse`.

/// Everything that can go wrong in assembly, I/O and solves. Each variant's message is one
/// line that names the problem, fit to print as a CLI error.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    /// A MatrixMarket file is malformed; `line` is 1-based (0 when the file ended early).
    #[error("{path}: line {line}: {message}")]
    MatrixMarket {
        /// File name as given.
        path: String,
        /// 1-based line number of the offending line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The matrix is not square.
    #[error("matrix is not square ({rows} x {cols}); a linear solve needs a square matrix")]
    NotSquare {
        /// Row count.
        rows: usize,
        /// Column count.
        cols: usize,
    },
    /// Two sizes that must agree do not.
    #[error("dimension mismatch: {0}")]
    DimensionMismatch(String),
    /// A NaN or infinity where finite numbers are required.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// The solver needs a symmetric matrix and the matrix is not.
    #[error("matrix is not symmetric: A[{row},{col}] = {upper:e} but A[{col},{row}] = {lower:e}; {solver} needs a symmetric positive definite matrix")]
    NotSymmetric {
        /// Row of the first asymmetric pair found.
        row: usize,
        /// Column of the first asymmetric pair found.
        col: usize,
        /// Value at (row, col).
        upper: f64,
        /// Value at (col, row).
        lower: f64,
        /// The solver that asked.
        solver: String,
    },
    /// A zero (or missing) diagonal entry where the method divides by it.
    #[error("zero diagonal entry at row {row}; {method} divides by the diagonal")]
    ZeroDiagonal {
        /// 0-based row index.
        row: usize,
        /// The method that needs a nonzero diagonal.
        method: String,
    },
    /// CG/PCG met pᵀAp ≤ 0 (or IC(0) a non-positive pivot).
    #[error("matrix is not positive definite ({detail})")]
    NotPositiveDefinite {
        /// Where it was detected.
        detail: String,
    },
    /// Geometric multigrid was asked for on a matrix with no grid behind it.
    #[error("multigrid needs a grid problem (--grid); {0}")]
    NotAGrid(String),
    /// A parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File name.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of `nabla-sparse`.
pub type Result<T> = std::result::Result<T, SparseError>;
