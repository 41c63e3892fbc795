//! The `LinearOperator` abstraction: anything that applies a square matrix to a vector.
//!
//! Assembled CSR matrices, matrix-free grid stencils and (later) learned solvers all implement
//! it, so every Krylov solver works with all of them.

use crate::vecops;

/// A square linear operator `y = A x` on `f64` vectors of length `dim()`.
pub trait LinearOperator: Sync {
    /// Number of rows (= columns).
    fn dim(&self) -> usize;

    /// Computes `y ← A x`. Both slices have length `dim()`.
    fn apply(&self, x: &[f64], y: &mut [f64]);

    /// Computes `y ← A x` and returns `xᵀ y`. Operators override this to fuse the dot product
    /// into the product's single pass over memory (CG's `pᵀAp`).
    fn apply_dot(&self, x: &[f64], y: &mut [f64]) -> f64 {
        self.apply(x, y);
        vecops::dot(x, y)
    }

    /// The main diagonal, if the operator can provide it (Jacobi needs it).
    fn diagonal(&self) -> Option<Vec<f64>> {
        None
    }

    /// Number of stored (or stencil) nonzeros, for reports.
    fn nonzeros(&self) -> usize;

    /// Whether the operator is known to be symmetric. Defaults to `true`; assembled matrices
    /// check their entries.
    fn is_symmetric(&self) -> bool {
        true
    }
}

/// Writes `r ← b − A x` and returns `‖r‖₂`: the residual recomputed from scratch, never taken
/// from a recurrence.
pub fn residual(a: &dyn LinearOperator, b: &[f64], x: &[f64], r: &mut [f64]) -> f64 {
    a.apply(x, r);
    vecops::residual_from_product(b, r).sqrt()
}

/// The relative residual `‖b − A x‖₂ / ‖b‖₂` (or `‖b − A x‖₂` when `b = 0`).
pub fn relative_residual(a: &dyn LinearOperator, b: &[f64], x: &[f64]) -> f64 {
    let mut r = vec![0.0; b.len()];
    let rn = residual(a, b, x, &mut r);
    let bn = vecops::norm2(b);
    if bn > 0.0 {
        rn / bn
    } else {
        rn
    }
}
