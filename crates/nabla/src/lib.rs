//! # nabla
//!
//! PDE solvers, learned and classical, side by side — one dependency for a simulation code.
//! Each library crate is a module here:
//!
//! | module | what it holds |
//! |---|---|
//! | [`sparse`] | sparse matrices, MatrixMarket I/O, CG/PCG with Jacobi, IC(0), SSOR, geometric and algebraic multigrid, SOR/SSOR, ω bandits |
//! | [`wos`] | Walk-on-Spheres Monte Carlo for Δu − σu = f at arbitrary points, with standard errors |
//! | [`nn`] | networks and training on candle: MLPs with Taylor-mode jets, FNO, DeepONet, U-Net, Adam/L-BFGS, checkpoints |
//! | [`pinn`] | physics-informed neural networks from configs |
//! | [`operator`] | neural operators (FNO, DeepONet) on HDF5 data, WoS-NO, parameter estimation |
//! | [`dcdm`] | the deep conjugate direction method (a CNN proposing CG directions) |
//! | [`data`] | HDF5 data sets in PDEBench / PDEInvBench layouts, generators |
//! | [`core`] | grids, domains (CSG, meshes), expressions, devices, atomic files |
//!
//! There is one device type in every signature: [`Device`] (candle's), opened from a string by
//! [`open_device`]. Features: `cuda` (the Walk-on-Spheres CUDA kernel, loaded at run time) and
//! `candle-cuda` (candle's CUDA backend for every network; needs nvcc at build time).
//!
//! Your own matrix, solved with algebraic-multigrid-preconditioned CG and checked:
//!
//! ```
//! use nabla::sparse::{Amg, AmgOptions, LinearOperator, Pcg, SolveOptions, Solver, SparseMatrix};
//!
//! // The 1-D Laplacian tridiag(−1, 2, −1) on 200 unknowns, assembled from triplets.
//! let n = 200;
//! let mut t = Vec::new();
//! for i in 0..n {
//!     t.push((i, i, 2.0));
//!     if i + 1 < n {
//!         t.push((i, i + 1, -1.0));
//!         t.push((i + 1, i, -1.0));
//!     }
//! }
//! let a = SparseMatrix::from_triplets(n, &t)?;
//! let b = vec![1.0; n];
//! let mut x = vec![0.0; n];
//! let amg = Amg::new(&a, AmgOptions::default())?;
//! let report = Pcg::new(&a, Box::new(amg)).solve(
//!     &b,
//!     &mut x,
//!     &SolveOptions { tol: 1e-10, ..Default::default() },
//! )?;
//! assert!(report.converged);
//! let mut ax = vec![0.0; n];
//! a.apply(&x, &mut ax);
//! let r: f64 = ax.iter().zip(&b).map(|(p, q)| (q - p).powi(2)).sum::<f64>().sqrt();
//! assert!(r / (n as f64).sqrt() <= 1e-10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Walk-on-Spheres at your points with your own boundary values (a Rust closure):
//!
//! ```
//! use nabla::core::geometry::parse_domain;
//! use nabla::wos::{WosOptions, WosProblem, WosSolver};
//! use std::sync::Arc;
//!
//! // u = x·y is harmonic: Δu = 0 in the unit disk with u = x·y on the circle.
//! let g = |p: &[f64]| p[0] * p[1];
//! let problem = WosProblem::laplace(parse_domain("ball:dim=2")?, Arc::new(g));
//! let solver = WosSolver::new(problem, WosOptions { walks: 4000, seed: 1, ..Default::default() })?;
//! let sol = solver.solve(&[0.3, 0.4])?;
//! let e = &sol.estimates[0];
//! assert!((e.value - 0.12).abs() < 4.0 * e.stderr + 2e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A trained model from its run directory (here the small runs shipped in `datasets/runs`):
//! a PINN's u, ∇u and Δu at your points, an FNO's prediction on your grid.
//!
//! ```
//! use nabla::ndarray::{array, Array3};
//! use nabla::run::{load, LoadedModel};
//!
//! let runs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/runs");
//! let LoadedModel::Pinn(pinn) = load(format!("{runs}/pinn_v0.1"))? else { unreachable!() };
//! // It solved −Δu = 2π² sin(πx) sin(πy) on the unit square: u(½, ½) = 1, ∇u(½, ½) = 0.
//! let v = pinn.evaluate(array![[0.5, 0.5]].view())?;
//! assert!((v.u[0] - 1.0).abs() < 1e-2 && v.grad.iter().all(|g| g.abs() < 0.05));
//! assert!((v.laplacian[0] + 2.0 * std::f64::consts::PI.powi(2)).abs() < 1.0);
//!
//! let LoadedModel::Operator(fno) = load(format!("{runs}/fno_v0.1"))? else { unreachable!() };
//! let a = Array3::<f64>::from_elem((2, 40, 40), 12.0); // any grid of ≥ 2·modes points
//! let u = fno.predict(a.view().into_dyn())?;
//! assert_eq!(u.shape(), &[2, 40, 40]);
//! # Ok::<(), nabla::Error>(())
//! ```
//!
//! A device for the learning layer:
//!
//! ```
//! let dev: nabla::Device = nabla::open_device("cpu")?;
//! assert!(dev.is_cpu());
//! if !nabla::core::device::cuda_compiled() {
//!     assert!(nabla::open_device("cuda:0").is_err()); // a clear error, never a panic
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

/// Grids, domains (boxes, balls, CSG, triangle meshes), expressions, devices, atomic files
/// (`nabla-core`).
pub use nabla_core as core;
/// HDF5 data sets in the PDEBench / PDEInvBench layouts and their generators (`nabla-data`).
pub use nabla_data as data;
/// The deep conjugate direction method (`nabla-dcdm`).
pub use nabla_dcdm as dcdm;
/// Networks, Taylor-mode jets, optimizers and the training loop on candle (`nabla-nn`).
pub use nabla_nn as nn;
/// Neural operators, WoS-NO and PDE parameter estimation (`nabla-operator`).
pub use nabla_operator as operator;
/// Physics-informed neural networks (`nabla-pinn`).
pub use nabla_pinn as pinn;
/// Sparse matrices, MatrixMarket I/O, Krylov solvers and multigrid (`nabla-sparse`).
pub use nabla_sparse as sparse;
/// Walk-on-Spheres Monte Carlo (`nabla-wos`).
pub use nabla_wos as wos;

/// candle itself, for tensors passed to and from the networks.
pub use candle_core as candle;
/// ndarray, the array type of the inference entry points ([`pinn::Pinn`], [`operator::Operator`]).
pub use ndarray;

pub mod run;
pub mod world;

/// MPI through rsmpi (feature `mpi`): `MpiComm`, `MpiSession`.
#[cfg(feature = "mpi")]
pub use nabla_mpi as mpi;

/// Any error of a nabla library, one line each (the CLI prints exactly this).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A run config could not be read (file, TOML, override or key).
    #[error(transparent)]
    Config(#[from] nabla_core::config::ConfigError),
    /// Grids, domains, expressions.
    #[error(transparent)]
    Core(#[from] nabla_core::CoreError),
    /// Sparse matrices and solvers.
    #[error(transparent)]
    Sparse(#[from] nabla_sparse::SparseError),
    /// HDF5 data.
    #[error(transparent)]
    Data(#[from] nabla_data::DataError),
    /// Walk-on-Spheres.
    #[error(transparent)]
    Wos(#[from] nabla_wos::WosError),
    /// Networks, training loop, checkpoints and run directories.
    #[error(transparent)]
    Nn(#[from] nabla_nn::NnError),
    /// PINNs.
    #[error(transparent)]
    Pinn(#[from] nabla_pinn::PinnError),
    /// Neural operators, WoS-NO, inverse problems.
    #[error(transparent)]
    Operator(Box<nabla_operator::OperatorError>),
    /// DCDM.
    #[error(transparent)]
    Dcdm(Box<nabla_dcdm::DcdmError>),
    /// Anything else a caller handed in that cannot be used; the message says what.
    #[error("{0}")]
    Input(String),
}

impl From<nabla_operator::OperatorError> for Error {
    fn from(e: nabla_operator::OperatorError) -> Self {
        Error::Operator(Box::new(e))
    }
}

impl From<nabla_dcdm::DcdmError> for Error {
    fn from(e: nabla_dcdm::DcdmError) -> Self {
        Error::Dcdm(Box::new(e))
    }
}

/// Result alias of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The compute device of every nabla signature (candle's), and how to name and open one.
pub use nabla_core::device::{open_device, Device, DeviceError, DeviceKind};
