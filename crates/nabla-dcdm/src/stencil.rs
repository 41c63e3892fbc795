//! The grid Poisson operator and the DCDM loss as candle graphs (differentiable).
//!
//! On a grid tensor `[B, 1, H, W]` (or `[B, 1, D, H, W]`) the h²-scaled 5-point (7-point)
//! Laplacian with zero Dirichlet values outside is `A q = 2d·q − Σ_axes (q shifted ±1)`, built
//! from `narrow` and `pad_with_zeros`. With an obstacle mask (fluid = 1, solid = 0, broadcast
//! over the batch) the operator is `fluid ⊙ A (fluid ⊙ q)`: solid cells hold 0 and drop out of
//! their neighbours' rows, exactly the rows `nabla_sparse::GridPoisson::with_mask` assembles.

use crate::Result;
use candle_core::Tensor;

/// `A q` for the grid operator on `q` (`[B, 1, sides…]`), masked by `fluid` when given
/// (`[B or 1, 1, sides…]`, 1 = fluid, 0 = solid).
pub fn apply_poisson(q: &Tensor, fluid: Option<&Tensor>) -> Result<Tensor> {
    let q = match fluid {
        Some(f) => q.broadcast_mul(f)?,
        None => q.clone(),
    };
    let rank = q.rank();
    let nd = rank - 2;
    let mut out = q.affine(2.0 * nd as f64, 0.0)?;
    for axis in 2..rank {
        let n = q.dim(axis)?;
        if n < 2 {
            continue;
        }
        let next = q.narrow(axis, 1, n - 1)?.pad_with_zeros(axis, 0, 1)?;
        let prev = q.narrow(axis, 0, n - 1)?.pad_with_zeros(axis, 1, 0)?;
        out = ((out - next)? - prev)?;
    }
    Ok(match fluid {
        Some(f) => out.broadcast_mul(f)?,
        None => out,
    })
}

/// The scale-invariant DCDM loss per sample, `‖b − A q (qᵀb)/(qᵀAq)‖²`, averaged over the
/// batch: the squared residual left after the exact line search along `q` from zero. With
/// `‖b‖ = 1` it is the squared relative residual. `q` is masked to the fluid cells first.
pub fn dcdm_loss(q: &Tensor, b: &Tensor, fluid: Option<&Tensor>) -> Result<Tensor> {
    let q = match fluid {
        Some(f) => q.broadcast_mul(f)?,
        None => q.clone(),
    };
    let aq = apply_poisson(&q, fluid)?;
    let batch = q.dim(0)?;
    let qb = (&q * b)?.reshape((batch, ()))?.sum(1)?;
    let qaq = (&q * &aq)?.reshape((batch, ()))?.sum(1)?;
    let coef = (qb / qaq)?;
    let mut shape = vec![batch];
    shape.extend(std::iter::repeat_n(1, q.rank() - 1));
    let r = (b - aq.broadcast_mul(&coef.reshape(shape)?)?)?;
    Ok(r.sqr()?.reshape((batch, ()))?.sum(1)?.mean(0)?)
}

/// The A-norm version of the loss: `1 − (qᵀb)² / (qᵀAq · bᵀA⁻¹b)` per sample, averaged, with
/// `b_ainv_b` = bᵀA⁻¹b (`[B]`, precomputed). It is the squared relative A-norm error left after
/// the exact line search along `q` from zero, in [0, 1], 0 for `q ∝ A⁻¹b`; unlike the residual
/// loss it has no plateau for `q ⟂ b` (that is its worst value). Scale-invariant in `q`.
pub fn dcdm_energy_loss(
    q: &Tensor,
    b: &Tensor,
    fluid: Option<&Tensor>,
    b_ainv_b: &Tensor,
) -> Result<Tensor> {
    let q = match fluid {
        Some(f) => q.broadcast_mul(f)?,
        None => q.clone(),
    };
    let aq = apply_poisson(&q, fluid)?;
    let batch = q.dim(0)?;
    let qb = (&q * b)?.reshape((batch, ()))?.sum(1)?;
    let qaq = (&q * &aq)?.reshape((batch, ()))?.sum(1)?;
    let captured = (qb.sqr()? / (qaq * b_ainv_b.to_dtype(q.dtype())?)?)?;
    Ok(captured.affine(-1.0, 1.0)?.mean(0)?)
}
