//! Physics-informed neural networks for nabla: the PDE residual at collocation points, with
//! derivatives from Taylor-mode jets (`nabla_nn::Mlp::jet`), plus boundary and initial
//! misfits, trained by `nabla_nn::train`.
//!
//! - Equations ([`config::PdeKind`]): Poisson −Δu = f, Helmholtz Δu + k²u = f, heat
//!   u_t = αΔu + f, viscous Burgers u_t + u Σᵢ∂ᵢu = νΔu + f, in any space dimension.
//! - Geometry from `nabla-core` (box and ball in any d, polygon, star, CSG; domain spec
//!   strings), random or Halton collocation points ([`points`]), residual-based adaptive
//!   refinement and periodic resampling ([`config::SamplingConfig`]).
//! - Conditions: Dirichlet, Neumann (with `where` regions), initial value; soft (weighted) or
//!   hard (u = g + Φ·N, [`hard`]).
//! - SDGD for high dimensions: a Laplacian from k sampled dimensions, rescaled by d/k
//!   ([`config::LossConfig::sdgd_dims`]); built-in problems with exact solutions
//!   ([`config::Builtin`]; reference solutions in [`mod@reference`]).
//! - [`train_pinn`] runs a whole [`PinnConfig`] (what `nabla train` does) and [`PinnModel`]
//!   reloads a run for prediction (what `nabla eval` does).
//!
//! ```
//! use nabla_pinn::{train_pinn, PinnConfig};
//! // −u'' = π² sin(πx) on (0, 1), u(0) = u(1) = 0 imposed exactly; u = sin(πx).
//! let config: PinnConfig = serde_json::from_value(serde_json::json!({
//!     "problem": {"pde": "poisson", "domain": "box:min=0;max=1",
//!                 "source": "pi^2*sin(pi*x)", "exact": "sin(pi*x)",
//!                 "boundary": [{"kind": "dirichlet", "value": "0"}]},
//!     "model": {"hidden": [16, 16], "precision": "f64"},
//!     "sampling": {"interior": 64},
//!     "loss": {"hard_dirichlet": true},
//!     "train": {"optimizer": [{"kind": "adam", "steps": 200, "lr": 1e-2},
//!                             {"kind": "lbfgs", "iterations": 300}], "progress": false},
//! })).unwrap();
//! let run = train_pinn(&config, &Default::default()).unwrap();
//! assert!(run.summary.rel_l2.unwrap() < 1e-2);
//! let u = run.model.predict(&[0.5]).unwrap();
//! assert!((u[0] - 1.0).abs() < 1e-2);
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod family;
pub mod family_sequence;
pub mod hard;
pub mod inference;
pub mod metalic;
pub mod multidomain;
pub mod objective;
pub mod points;
pub mod problem;
pub mod reference;
pub mod run;

pub use config::PinnConfig;
pub use error::{PinnError, Result};
pub use inference::{Pinn, PinnValues};
pub use problem::Problem;
pub use run::{train_pinn, PinnModel, PinnRun, Summary};
