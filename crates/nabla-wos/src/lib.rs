//! Walk-on-Spheres (WoS): grid-free Monte Carlo estimates of the solution of
//!
//! **Δu − σu = f in Ω,  u = g on ∂Ω**  (σ ≥ 0)
//!
//! at any set of points, each with a standard error. Laplace (f = 0, σ = 0), Poisson (σ = 0)
//! and screened Poisson (σ > 0) in 2-D and 3-D (Laplace and Poisson in any d ≥ 2), on every
//! [`nabla_core::geometry::Domain`]: boxes, balls, polygons, star shapes, CSG, triangle meshes.
//!
//! **Sign convention.** The Laplacian has a plus sign: Δu = f. The grid solvers of
//! `nabla-sparse` / `nabla poisson` solve −Δu = f, so the same problem there takes −f.
//!
//! # The estimator (METHODS §4)
//! From x₀, each walk repeatedly jumps to a uniform point on the largest empty sphere, of
//! radius R = dist(xₖ, ∂Ω) (exact or conservative distance). Within ε of ∂Ω it stops and reads
//! g at the closest boundary point. At each step the source contributes −(R²/2d)·f(y) with one
//! y drawn from the ball's Green's-function density (so −∫_B G f is estimated without bias).
//! With σ > 0 the walk's weight is multiplied by the per-step survival probability
//! (1/I₀(√σR) in 2-D, √σR/sinh(√σR) in 3-D) and the source sample by G^σ/G⁰; Russian
//! roulette ends low-weight walks without bias. Walks still running after `max_steps` follow
//! the [`Unfinished`] policy. Each walk draws from its own counter-based stream
//! ([`walk_stream`]), and statistics are merged in a fixed order, so results are bit-identical
//! for any number of threads. The error falls as N^(−1/2) in the number of walks N.
//!
//! Optional: gradients ∇u from the first sphere (σ = 0), control variates from a pilot run,
//! batched evaluation into candle tensors (feature `candle`, on by default: [`tensor`]), and the
//! same estimator as a CUDA kernel for analytic domains (feature `cuda`: module `cuda`).
//!
//! Query points from a CSV file or from the cells of a grid inside the domain, and a probe that
//! checks boundary values and sources for NaN/∞ before a long run, are in
//! [`nabla_core::points`] ([`read_points_in`](nabla_core::points::read_points_in),
//! [`grid_points`](nabla_core::points::grid_points),
//! [`ProbeSample`](nabla_core::points::ProbeSample)).
//!
//! ```
//! use nabla_core::field::Expr;
//! use nabla_core::geometry::parse_domain;
//! use nabla_wos::{WosOptions, WosProblem, WosSolver};
//! use std::sync::Arc;
//! // Δu = 4 in the unit square with u = x² + y² on the boundary: u(x, y) = x² + y².
//! let problem = WosProblem::laplace(
//!     parse_domain("box:min=0,0;max=1,1")?,
//!     Arc::new("x^2 + y^2".parse::<Expr>()?),
//! )
//! .with_source(Arc::new("4".parse::<Expr>()?));
//! let solver = WosSolver::new(problem, WosOptions { walks: 2000, seed: 7, ..Default::default() })?;
//! let sol = solver.solve(&[0.5, 0.5, 0.25, 0.75])?;
//! for (e, exact) in sol.estimates.iter().zip([0.5, 0.625]) {
//!     assert!((e.value - exact).abs() < 4.0 * e.stderr + 3e-3);
//! }
//! println!("{} steps/s", sol.steps_per_second());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
// The estimators index point coordinates of several buffers by the same axis k.
#![allow(clippy::needless_range_loop)]

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod distributed;
mod estimator;
pub mod gpu_source;
mod special;
#[cfg(feature = "candle")]
pub mod tensor;

pub use estimator::{
    walk_stream, PointEstimate, Unfinished, WosOptions, WosProblem, WosSolution, WosSolver,
    WALKS_PER_BLOCK,
};

/// Errors raised by `nabla-wos`. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum WosError {
    /// An option is out of range (walks, epsilon, max_steps, sigma, ...).
    #[error("invalid WoS option: {0}")]
    InvalidOptions(String),
    /// Points whose coordinate count does not match the domain's dimension.
    #[error("dimension mismatch: {0}")]
    DimensionMismatch(String),
    /// A query point is not inside the domain (or not finite).
    #[error("point {index} {point:?} is not inside the domain")]
    PointOutside {
        /// Its index in the input.
        index: usize,
        /// Its coordinates.
        point: Vec<f64>,
    },
    /// The estimate is not finite: the boundary data or source gave NaN or ±∞ on the walks
    /// from this point.
    #[error(
        "the estimate at point {index} {point:?} is not finite: the boundary or source \
         expression is not finite somewhere on its walks (check divisions, ln, sqrt)"
    )]
    NonFinite {
        /// Its index in the input.
        index: usize,
        /// Its coordinates.
        point: Vec<f64>,
    },
    /// A combination the estimator does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A domain or expression error from `nabla-core`.
    #[error(transparent)]
    Core(#[from] nabla_core::CoreError),
    /// No usable GPU, driver or NVRTC, or a CUDA call failed.
    #[error("CUDA: {0}")]
    Cuda(String),
    /// A candle tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(String),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, WosError>;
