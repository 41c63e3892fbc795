//! Distributed grid Poisson solves over any [`Communicator`](nabla_core::comm::Communicator):
//! a pencil decomposition ([`Pencil`]), each rank's block of the operator with halo exchange
//! ([`DistGridPoisson`]) and CG / Jacobi-PCG across ranks ([`DistCg`]).
//!
//! The same code runs on one rank ([`SerialComm`](nabla_core::comm::SerialComm)), on threads
//! ([`LocalComm`](nabla_core::comm::LocalComm), used by the tests) and under `mpirun`
//! (`nabla_mpi::MpiComm`). Dot products sum per-line partial sums exactly, so iterates,
//! iteration counts and solutions are bit-identical for every rank count.
//!
//! ```
//! use nabla_core::comm::{Communicator, LocalComm};
//! use nabla_sparse::distributed::{DistCg, DistGridPoisson, DistPreconditioner};
//! use nabla_sparse::{GridPoisson, RhsKind, SolveOptions};
//!
//! let shape: nabla_core::GridShape = "40x30".parse().unwrap();
//! let runs = LocalComm::run(3, |comm| {
//!     let problem = DistGridPoisson::from_grid(&GridPoisson::new(shape.clone()), comm).unwrap();
//!     let b = problem.rhs(comm, RhsKind::Random, 1);
//!     let mut x = vec![0.0; b.len()];
//!     let mut cg = DistCg::new(&problem, DistPreconditioner::None, comm).unwrap();
//!     let report = cg.solve(comm, &b, &mut x, &SolveOptions::default()).unwrap();
//!     let gathered = problem.gather(comm, &x, 0).unwrap();
//!     (report.report.iterations, gathered)
//! });
//! let (iterations, Some((x, _grid))) = &runs[0] else { panic!() };
//! assert!(runs.iter().all(|r| r.0 == *iterations)); // every rank took the same steps
//!
//! // Recompute the residual with the serial operator.
//! let serial = GridPoisson::new(shape);
//! let b = serial.rhs(RhsKind::Random, 1);
//! let rel = nabla_sparse::relative_residual(&serial.matrix(), &b, x);
//! assert!(rel <= 1e-8, "{rel}");
//! ```

mod cg;
mod grid;
mod lines;
mod matrix;
mod multigrid;
mod operator;
mod pencil;
mod stencil_mg;

pub use cg::{DistCg, DistPreconditioner, DistSolveReport};
pub use grid::{DistGridPoisson, Halo};
pub use lines::{line_dot, line_dot_scaled, totals, LineSums};
pub use matrix::{broadcast_matrix, row_block, DistCsr, GhostBuffers, SEGMENT};
pub use multigrid::{DistMultigrid, COARSE_DIRECT, GATHER_SIZE};
pub use operator::DistOperator;
pub use pencil::Pencil;

#[cfg(test)]
mod tests;
