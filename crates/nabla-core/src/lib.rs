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

#![warn(missing_docs)]

pub mod atomic;
pub mod comm;
pub mod config;
pub mod device;
pub mod field;
pub mod geometry;
pub mod grid;
pub mod memory;
pub mod points;
pub mod text;

pub use grid::GridShape;

/// How much of a user's spec or expression an error message quotes.
const SPEC_CHARS: usize = 200;
/// How much of a reason an error message shows (reasons quote user input too).
const REASON_CHARS: usize = 600;

/// Errors raised by `nabla-core`. Each message is one line: user input quoted in it has its
/// control characters escaped and is cut at a few hundred characters.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A grid specification such as `"64x64"` could not be parsed or is out of range.
    #[error("invalid grid '{}': {}", text::one_line(.spec, SPEC_CHARS), text::one_line(.reason, REASON_CHARS))]
    InvalidGrid {
        /// The text the user gave.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A domain spec or shape is invalid (bad syntax, unknown key, empty or degenerate shape,
    /// unreadable or open mesh).
    #[error("invalid domain '{}': {}", text::one_line(.spec, SPEC_CHARS), text::one_line(.reason, REASON_CHARS))]
    InvalidDomain {
        /// The spec (or shape description) the user gave.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scalar-field expression could not be parsed.
    #[error("invalid expression '{}': {}", text::one_line(.expr, SPEC_CHARS), text::one_line(.reason, REASON_CHARS))]
    InvalidExpression {
        /// The expression text.
        expr: String,
        /// What is wrong with it, with the position.
        reason: String,
    },
}
