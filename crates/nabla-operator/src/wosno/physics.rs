//! The physics-informed loss on the embedding grid, without second derivatives of the network:
//! the 5-point finite-difference Laplacian of the grid output, Δₕu = (u_E + u_W + u_N + u_S −
//! 4u)/h², against the source at the nodes inside Ω (residual Δₕu − f of Δu = f, nabla-wos's
//! sign), plus the boundary misfit u − g at points on the true boundary ∂Ω, where u is the
//! bilinear interpolation of the grid output. Stencils of nodes next to ∂Ω reach nodes outside
//! Ω; the output there is a free extension tied down by the boundary term — a second-order
//! immersed discretisation (5-point stencils are exact on quadratics, bilinear interpolation on
//! bilinear functions), not a staircase boundary.

use super::interp::BilinearStencil;
use candle_core::Tensor;

/// Δₕu at the interior nodes: `u` is `[B, n, n]`, the result `[B, n−2, n−2]` (node (i, j) of
/// the result is node (i+1, j+1) of the grid).
pub fn five_point_laplacian(u: &Tensor, h: f64) -> candle_core::Result<Tensor> {
    let n = u.dims()[1];
    let m = n - 2;
    let at = |di: usize, dj: usize| u.narrow(1, di, m)?.narrow(2, dj, m);
    let c = at(1, 1)?;
    let sum = (((at(2, 1)? + at(0, 1)?)? + at(1, 2)?)? + at(1, 0)?)?;
    (sum - (c * 4.0)?)? * (1.0 / (h * h))
}

/// Mean of (Δₕu − f)² over the interior nodes where `mask` is 1: `u` `[B, n, n]`; `f` and
/// `mask` (0/1) `[B, n−2, n−2]` in `u`'s dtype.
pub fn residual_loss(u: &Tensor, f: &Tensor, mask: &Tensor, h: f64) -> candle_core::Result<Tensor> {
    let r = (five_point_laplacian(u, h)? - f)?;
    let count = mask.sum_all()?.affine(1.0, 1e-12)?;
    (r.sqr()? * mask)?.sum_all()?.div(&count)
}

/// Mean of (u(x_b) − g_b)² over boundary points (`stencil`, values `g` `[M]`); `u` flat
/// `[B·n·n]`.
pub fn boundary_loss(
    u_flat: &Tensor,
    stencil: &BilinearStencil,
    g: &Tensor,
) -> candle_core::Result<Tensor> {
    (stencil.apply(u_flat)? - g)?.sqr()?.mean_all()
}
