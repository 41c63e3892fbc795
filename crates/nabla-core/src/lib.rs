//! Shared foundations of nabla: structured grid shapes, atomic file output and the core error
//! type.
//!
//! ```
//! use nabla_core::GridShape;
//! let g: GridShape = "64x32".parse().unwrap();
//! assert_eq!(g.dims(), &[64, 32]);
//! assert_eq!(g.len(), 64 * 32);
//! assert_eq!(g.index(&[3, 2]), 3 + 64 * 2); // x fastest
//! ```

pub mod atomic;
pub mod device;
pub mod field;
pub mod geometry;
pub mod grid;
pub mod memory;

pub use grid::GridShape;

/// Errors raised by `nabla-core`.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A grid specification such as `"64x64"` could not be parsed or is out of range.
    #[error("invalid grid '{spec}': {reason}")]
    InvalidGrid {
        /// The text the user gave.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A domain spec or shape is invalid (bad syntax, unknown key, empty or degenerate shape,
    /// unreadable or open mesh).
    #[error("invalid domain '{spec}': {reason}")]
    InvalidDomain {
        /// The spec (or shape description) the user gave.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scalar-field expression could not be parsed.
    #[error("invalid expression '{expr}': {reason}")]
    InvalidExpression {
        /// The expression text.
        expr: String,
        /// What is wrong with it, with the position.
        reason: String,
    },
}
