//! PDE parameter estimation from observed solution fields (PDEInvBench's two-stage recipe):
//! an FNO encoder maps a window of `n_past` frames — plus, optionally, finite-difference
//! derivative channels — to the PDE's parameters, trained on relative parameter error; then,
//! for each test trajectory, a few Adam steps on the encoder's weights minimise the PDE
//! residual of its estimate, anchored to the trained weights:
//! ‖F(u; φ̂)‖²/‖u_t‖² + α‖θ − θ_frozen‖²/‖θ_frozen‖².
//!
//! - [`InverseConfig`]: the `task = "inverse"` config (`configs/inverse_rd.toml`,
//!   `configs/inverse_kdv.toml`).
//! - [`data`]: windows of a `nabla datagen reaction-diffusion|kdv` folder (or any folder in
//!   PDEInvBench's layout), derivative channels, and each window's residual as a quadratic
//!   form in the parameters.
//! - [`ParamEncoder`]: FNO → spatial mean → MLP → exp(mean + std·z) of ln φ.
//! - [`train_inverse`]: training, then per split (ID = `test/`, OOD, extreme) the relative
//!   parameter error before and after tuning, beside the residual's least-squares minimiser.

pub mod config;
pub mod data;
pub mod model;
pub mod run;

pub use config::InverseConfig;
pub use model::ParamEncoder;
pub use run::{train_inverse, write_estimates, Estimate, InverseRun, InverseSummary, SplitSummary};
