//! Iterative solvers behind one trait ([`Solver`]) with one report type ([`SolveReport`]).
//!
//! Every solver stops when the residual satisfies ‖b − A x‖₂ ≤ tol·‖b‖₂ (relative to ‖b‖,
//! whatever the initial guess), and the reported `relative_residual` is recomputed from the
//! final x with the operator, never taken from a recurrence.

pub mod cg;
pub mod ic0;
pub mod jacobi;
pub mod sor;
pub mod stop;

pub use cg::{Cg, Pcg};
pub use ic0::Ic0;
pub use jacobi::Jacobi;
pub use sor::{Sor, Ssor, SsorPreconditioner};

use crate::error::Result;
use serde::{Deserialize, Serialize};

/// Controls shared by all solvers. To stop a solve from outside (Ctrl-C, a deadline), run it
/// inside [`stop::with_stop_flag`].
pub struct SolveOptions<'a> {
    /// Relative tolerance on ‖b − A x‖₂ / ‖b‖₂.
    pub tol: f64,
    /// Iteration cap; reaching it returns a report with `converged = false`.
    pub max_iters: usize,
    /// Keep the relative residual of every iteration in the report (default off: a time loop
    /// of many solves should not grow a vector per solve; the CLI turns it on for its report).
    pub record_history: bool,
    /// Called after each iteration with `(iteration, relative residual)`; used for progress.
    pub monitor: Option<&'a (dyn Fn(usize, f64) + Sync)>,
}

impl Default for SolveOptions<'_> {
    fn default() -> Self {
        Self {
            tol: 1e-8,
            max_iters: 10_000,
            record_history: false,
            monitor: None,
        }
    }
}

impl SolveOptions<'_> {
    /// Checks `tol` and `max_iters`.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol.is_finite() && self.tol > 0.0 && self.tol < 1.0) {
            return Err(crate::SparseError::InvalidParameter(format!(
                "tolerance must be in (0, 1), got {}",
                self.tol
            )));
        }
        Ok(())
    }
}

/// What a solve did. Times are wall-clock seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SolveReport {
    /// Solver name as on the CLI (`cg`, `ic0-pcg`, `sor`, ...).
    pub solver: String,
    /// Iterations performed (matrix products for CG; sweeps for SOR/SSOR).
    pub iterations: usize,
    /// ‖b − A x‖₂ / ‖b‖₂ recomputed from the returned x.
    pub relative_residual: f64,
    /// Whether `relative_residual ≤ tol`.
    pub converged: bool,
    /// Seconds spent building the solver (preconditioner factorization, hierarchy).
    pub setup_seconds: f64,
    /// Seconds spent iterating.
    pub solve_seconds: f64,
    /// Relative residual after each iteration (index 0 = initial guess).
    pub residual_history: Vec<f64>,
    /// The AMG hierarchy, for `amg` and `amg-pcg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amg: Option<crate::amg::AmgHierarchy>,
}

/// A solver for `A x = b` bound to its operator (and any set-up it needed). Reusable: solving
/// again with another right-hand side keeps the set-up and the workspace.
pub trait Solver {
    /// The name used on the CLI and in reports.
    fn name(&self) -> String;

    /// Seconds spent in construction (factorizations, hierarchies).
    fn setup_seconds(&self) -> f64 {
        0.0
    }

    /// Solves `A x = b` starting from the given `x`, overwriting it with the solution.
    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport>;
}

/// A preconditioner `z = M⁻¹ r` for PCG. Must be symmetric positive definite.
pub trait Preconditioner: Send {
    /// The name used in solver names (`jacobi`, `ic0`, `ssor`, `mg`).
    fn name(&self) -> String;

    /// Computes `z ← M⁻¹ r`.
    fn apply(&mut self, r: &[f64], z: &mut [f64]);

    /// Seconds spent building it.
    fn setup_seconds(&self) -> f64 {
        0.0
    }

    /// The multigrid hierarchy behind it, for AMG preconditioners.
    fn hierarchy(&self) -> Option<crate::amg::AmgHierarchy> {
        None
    }

    /// Rebuilds it for new values of a matrix with the same pattern (IC(0), AMG, geometric
    /// multigrid on the same grid), reusing what depends only on the pattern. Preconditioners
    /// that cannot (the default: Jacobi, SSOR) say so; build a new one then.
    fn refactor(&mut self, a: &crate::csr::SparseMatrix) -> Result<()> {
        let _ = a;
        Err(crate::SparseError::InvalidParameter(format!(
            "the {} preconditioner cannot be refactored; build a new one for the new matrix",
            self.name()
        )))
    }
}

/// A borrowed preconditioner is one too, so a hierarchy can outlive the solver that uses it
/// (a time loop keeps its `Amg` and refactors it between steps).
impl<P: Preconditioner + ?Sized> Preconditioner for &mut P {
    fn name(&self) -> String {
        (**self).name()
    }

    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        (**self).apply(r, z)
    }

    fn setup_seconds(&self) -> f64 {
        (**self).setup_seconds()
    }

    fn hierarchy(&self) -> Option<crate::amg::AmgHierarchy> {
        (**self).hierarchy()
    }

    fn refactor(&mut self, a: &crate::csr::SparseMatrix) -> Result<()> {
        (**self).refactor(a)
    }
}

/// Checks that `b` and `x` match the operator size, are finite, and that ‖b‖² does not
/// overflow (every solver's stopping test divides by ‖b‖).
pub(crate) fn check_inputs(n: usize, b: &[f64], x: &[f64]) -> Result<()> {
    if b.len() != n {
        return Err(crate::SparseError::DimensionMismatch(format!(
            "right-hand side has {} entries, the matrix has {n} rows",
            b.len()
        )));
    }
    if x.len() != n {
        return Err(crate::SparseError::DimensionMismatch(format!(
            "initial guess has {} entries, the matrix has {n} rows",
            x.len()
        )));
    }
    if let Some(i) = crate::vecops::first_non_finite(b) {
        return Err(crate::SparseError::NonFinite(format!(
            "right-hand side entry {} is {}",
            i + 1,
            b[i]
        )));
    }
    if let Some(i) = crate::vecops::first_non_finite(x) {
        return Err(crate::SparseError::NonFinite(format!(
            "initial guess entry {} is {}",
            i + 1,
            x[i]
        )));
    }
    if !crate::vecops::dot(b, b).is_finite() {
        let largest = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        return Err(crate::SparseError::Overflow(format!(
            "‖b‖² of the right-hand side is not finite (largest entry {largest:e}; \
             entries above about 1e154 overflow when squared); rescale the system"
        )));
    }
    Ok(())
}

/// The overflow error of a Krylov solver whose intermediate `what` (e.g. `p·Ap`) came out
/// non-finite at iteration `iteration` although the matrix and vectors are finite.
pub(crate) fn overflow(what: &str, value: f64, iteration: usize) -> crate::SparseError {
    crate::SparseError::Overflow(format!(
        "{what} is not finite ({value}) at iteration {iteration}: the iteration left the \
         floating-point range (entries near 1e308 or near 1e-308 whose inverses overflow, a \
         badly scaled or singular matrix); rescale the system or check it for empty rows"
    ))
}
