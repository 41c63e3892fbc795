//! The deep conjugate direction method (DCDM, Kaneda et al., ICML 2023) for grid Poisson
//! systems: a U-Net (`nabla_nn::UNet`) trained so that `q = net(b)` approximates `A⁻¹b` up to
//! scale chooses the search directions of a conjugate-direction iteration that keeps the true
//! residual, and converges to any tolerance.
//!
//! - [`data`]: the training set — Ritz vectors of the (masked) grid matrix from Lanczos with
//!   full reorthogonalization, combined with Gaussian weights, the low end weighted ×9,
//!   normalized; cached in HDF5 (`nabla_data::dcdm`).
//! - [`stencil`]: the 5-/7-point operator (with obstacle mask) and the scale-invariant loss
//!   `‖b − A q (qᵀb)/(qᵀAq)‖²` as candle graphs, so the loss is differentiable.
//! - [`model`]: the network plus its architecture, loadable from a checkpoint alone.
//! - [`solver`]: the DCDM iteration as a `nabla_sparse::Solver`, its vector work on the host
//!   or (by [`Placement`]) on the network's device.
//! - [`device`]: the grid operator as candle tensors and the device-resident iteration (every
//!   field stays on the network's device; two scalar reads per iteration).
//! - [`run`]: a training run from a [`DcdmConfig`] through nabla-nn's training loop.
//!
//! Solving with a (here untrained) model: the iteration converges whatever the network does,
//! because each step is an exact A-norm line search and the residual is recomputed.
//!
//! ```
//! use candle_core::Device;
//! use nabla_dcdm::{Dcdm, DcdmModel};
//! use nabla_nn::UNetConfig;
//! use nabla_sparse::{GridPoisson, RhsKind, SolveOptions, Solver};
//!
//! let grid = GridPoisson::new("16x16".parse().unwrap());
//! let a = grid.matrix();
//! let model = DcdmModel::new(&UNetConfig { channels: 4, ..Default::default() }, &[16, 16], &Device::Cpu).unwrap();
//! let b = grid.rhs(RhsKind::Random, 1);
//! let mut x = vec![0.0; b.len()];
//! let mut solver = Dcdm::new(&model, &a, &grid, 2).unwrap();
//! let opts = SolveOptions { tol: 1e-6, max_iters: 2000, ..Default::default() };
//! let report = solver.solve(&b, &mut x, &opts).unwrap();
//! assert!(report.converged && report.relative_residual <= 1e-6);
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod model;
pub mod run;
pub mod solver;
pub mod stencil;

pub use config::{DcdmConfig, DcdmTrainConfig, EvalConfig, LossKind};
pub use data::{DataConfig, MaskKind};
pub use device::GridTensorOperator;
pub use error::{DcdmError, Result};
pub use model::DcdmModel;
pub use run::{train_dcdm, DcdmRun, DcdmSummary};
pub use solver::{Dcdm, Placement};
