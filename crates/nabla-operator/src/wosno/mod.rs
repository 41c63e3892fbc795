//! WoS-NO: neural operators trained on Walk-on-Spheres estimates (METHODS §4), with no stored
//! data set and no second derivatives — and, beside it, the same operator trained
//! physics-informed, for comparison.
//!
//! The PDE family ([`family`]): **Δu = f** in a random star domain Ω, u = g on ∂Ω (nabla-wos's
//! sign convention: Laplacian with a plus sign; `nabla poisson` solves −Δu = f).
//!
//! - [`features`]: what the operator sees on a fixed embedding grid over [−L, L]²: the source
//!   f, the signed distance φ to ∂Ω (negative inside) and g at the closest boundary point.
//! - `train.loss = "wos"`: every step draws fresh instances; at random interior points of
//!   each, ≈10 walks (ε = 1e-3, at most 25 steps) give noisy, nearly unbiased estimates of u,
//!   and the loss is the mean squared error of the operator's prediction there — the bilinear
//!   interpolation ([`interp`]) of its grid output. Mean squared error (not relative L2)
//!   because its expectation over the walk noise is the squared error plus a constant, so the
//!   noisy targets give unbiased gradients.
//! - `train.loss = "physics"` ([`physics`]): the 5-point residual Δₕu − f at the grid nodes
//!   inside Ω plus a weighted boundary misfit at random points on ∂Ω.
//! - `train.loss = "reference"`: the `wos` regression on a near-exact solution instead of walk
//!   estimates — a diagnostic bound on what any target values could give, not a method.
//! - [`smooth`]: that near-exact solution s = closed-form particular solution + harmonic fit
//!   of the boundary data, also the control variate of the held-out truth.
//! - [`truth`]: held-out instances (seeded apart from training) with high-walk WoS truth at
//!   the inside grid nodes (walks on u − s, so its standard error is ~1e-4 relative), cached
//!   in `RUN_DIR/truth.h5`.
//! - [`run`]: the objective, [`train_wosno`] and the summary.
//!
//! ```
//! use nabla_operator::wosno::family::StarPoisson;
//! use rand::SeedableRng;
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
//! let inst = StarPoisson::sample(&mut rng);
//! let p = inst.boundary_point(0.3);
//! // g is read through the polar angle of the boundary point.
//! assert!((inst.boundary(&p) - inst.boundary_at_angle(0.3)).abs() < 1e-12);
//! ```

pub mod config;
pub mod family;
pub mod features;
pub mod gino;
pub mod interp;
pub mod model;
pub mod physics;
pub mod run;
pub mod smooth;
pub mod spline;
pub mod truth;

pub use config::{LossKind, OperatorKind, WosNoConfig};
pub use model::{PointValues, WosNoNet, WosNoOperator};
pub use run::{train_wosno, WosNoRun, WosNoSummary};
