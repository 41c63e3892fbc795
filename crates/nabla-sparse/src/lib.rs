//! Sparse linear algebra for nabla: grid Poisson assembly (2-D 5-point, 3-D 7-point,
//! variable coefficient, obstacle masks), MatrixMarket I/O, a [`LinearOperator`] abstraction
//! with matrix-free stencils, and iterative solvers behind one [`Solver`] trait: CG, PCG with
//! Jacobi / IC(0) / SSOR / geometric multigrid / smoothed-aggregation algebraic multigrid
//! ([`Amg`], for any SPD matrix) preconditioners, and SOR / SSOR / AMG iterations.
//!
//! Assemble, solve and check the residual independently:
//!
//! ```
//! use nabla_sparse::{GridPoisson, RhsKind, LinearOperator, Solver, SolveOptions, Pcg, Ic0};
//!
//! let problem = GridPoisson::new("32x32".parse().unwrap());
//! let a = problem.matrix();                      // 5-point, diagonal 4, neighbours −1
//! let b = problem.rhs(RhsKind::Random, 7);       // uniform in [−1, 1]
//! let mut x = vec![0.0; b.len()];
//! let mut solver = Pcg::new(&a, Box::new(Ic0::new(&a).unwrap()));
//! let report = solver.solve(&b, &mut x, &SolveOptions { tol: 1e-10, ..Default::default() }).unwrap();
//! assert!(report.converged);
//!
//! // ‖b − A x‖ / ‖b‖ recomputed by hand:
//! let mut ax = vec![0.0; b.len()];
//! a.apply(&x, &mut ax);
//! let r: f64 = ax.iter().zip(&b).map(|(p, q)| (q - p).powi(2)).sum::<f64>().sqrt();
//! let bn: f64 = b.iter().map(|v| v * v).sum::<f64>().sqrt();
//! assert!(r / bn <= 1e-10);
//! ```

#![warn(missing_docs)]

pub mod amg;
pub mod csr;
pub mod distributed;
pub mod error;
pub mod grid;
pub mod lanczos;
pub mod mm;
pub mod multigrid;
pub mod operator;
pub mod solve;
pub mod solvers;
pub mod tuning;
pub mod vecops;

pub use amg::{
    Amg, AmgHierarchy, AmgLevelInfo, AmgOptions, AmgOptionsReport, AmgReport, AmgSetupTimes,
    AmgSmoother, MAX_COARSE_SIZE,
};
pub use csr::SparseMatrix;
pub use error::{Result, SparseError};
pub use grid::{GridPoisson, RhsKind, StencilOperator};
pub use multigrid::{Multigrid, MultigridOptions};
pub use operator::{relative_residual, LinearOperator};
pub use solve::{solve, solve_with, SolverKind, SolverSettings, System};
pub use solvers::{
    Cg, Ic0, Jacobi, Pcg, Preconditioner, SolveOptions, SolveReport, Solver, Sor, Ssor,
    SsorPreconditioner,
};
pub use tuning::{ChebCb, Context, FixedOmega, InstanceOptimal, TsallisInf, Tuner, TunerState};
