//! The error type of `nabla-sparse`.

/// Everything that can go wrong in assembly, I/O and solves. Each variant's message is one
/// line that names the problem, fit to print as a CLI error.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    /// A MatrixMarket file is malformed; `line` is 1-based, 0 when the problem is not on one
    /// line (the file ended early, duplicates summed to an overflow), and then the message
    /// names no line.
    #[error("{path}: {}{message}", line_prefix(*.line))]
    MatrixMarket {
        /// File name as given.
        path: String,
        /// 1-based line number of the offending line; 0 for none.
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
    /// The solver needs a symmetric matrix and the matrix is not. The message numbers rows
    /// and columns from 1, as a MatrixMarket file does.
    #[error("matrix is not symmetric: entry ({}, {}) = {upper:e} but entry ({}, {}) = {lower:e}; {solver} needs a symmetric positive definite matrix", .row + 1, .col + 1, .col + 1, .row + 1)]
    NotSymmetric {
        /// 0-based row of the first asymmetric pair found.
        row: usize,
        /// 0-based column of the first asymmetric pair found.
        col: usize,
        /// Value at (row, col).
        upper: f64,
        /// Value at (col, row).
        lower: f64,
        /// The solver that asked.
        solver: String,
    },
    /// A zero (or missing) diagonal entry where the method divides by it. The message numbers
    /// rows from 1, as a MatrixMarket file does.
    #[error("zero diagonal entry at row {}; {method} divides by the diagonal", .row + 1)]
    ZeroDiagonal {
        /// 0-based row index.
        row: usize,
        /// The method that needs a nonzero diagonal.
        method: String,
    },
    /// An intermediate of a solve overflowed the f64 range (pᵀAp, a residual norm, ‖b‖²):
    /// the system's scale is the problem, not its definiteness.
    #[error("overflow: {0}")]
    Overflow(String),
    /// PCG met rᵀM⁻¹r ≤ 0 with finite values: the preconditioner is not positive definite
    /// for this matrix (or lost it to rounding on a badly scaled system).
    #[error("preconditioner breakdown: {0}")]
    PreconditionerBreakdown(String),
    /// CG/PCG met pᵀAp ≤ 0 (or IC(0) a non-positive pivot), with finite values.
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

/// `line N: ` for a MatrixMarket error on line N; nothing for line 0 (no particular line).
fn line_prefix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}

/// Result alias of `nabla-sparse`.
pub type Result<T> = std::result::Result<T, SparseError>;
