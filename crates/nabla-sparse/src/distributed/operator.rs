//! What the distributed Krylov solvers need from an operator, so one CG serves grids and
//! matrices alike.

use nabla_core::comm::Communicator;

/// A symmetric operator whose rows are split over ranks. Local vectors are cut into segments of
/// [`segment_len`](DistOperator::segment_len) entries that never straddle ranks (the last one
/// of the whole vector may be shorter), and dot products are sums of per-segment partial sums:
/// that is what makes the solvers' reductions independent of the rank count.
pub trait DistOperator: Sync {
    /// Buffers a product needs (halos, ghost values), kept by the solver between products.
    type Workspace: Default + Send;

    /// Entries of this rank's part of a vector.
    fn local_len(&self) -> usize;

    /// Entries per reproducible partial sum.
    fn segment_len(&self) -> usize;

    /// `y ← A x` on this rank's part (collective: exchanges what neighbours need).
    fn apply(&self, comm: &dyn Communicator, x: &[f64], y: &mut [f64], ws: &mut Self::Workspace);

    /// `y ← A x` and the global `xᵀy` (exact, rank-count independent).
    fn apply_dot(
        &self,
        comm: &dyn Communicator,
        x: &[f64],
        y: &mut [f64],
        ws: &mut Self::Workspace,
    ) -> f64;

    /// This rank's part of the diagonal (must be positive for Jacobi; 1 where rows are fixed).
    fn diagonal(&self) -> &[f64];

    /// Sets the entries that are not unknowns (solid cells of a masked grid) to zero.
    fn clear_fixed(&self, v: &mut [f64]) {
        let _ = v;
    }
}
