//! Batched evaluation into candle tensors, for operator training (feature `candle`).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use nabla_core::geometry::parse_domain;
//! use nabla_wos::{tensor::solve_tensor, WosOptions, WosProblem, WosSolver};
//! use std::sync::Arc;
//! let problem = WosProblem::laplace(parse_domain("ball:center=0,0")?, Arc::new(|p: &[f64]| p[0]));
//! let solver = WosSolver::new(problem, WosOptions { walks: 16, ..Default::default() })?;
//! let pts = Tensor::new(&[[0.1f32, 0.2], [0.0, -0.5]], &Device::Cpu)?;
//! let (u, se) = solve_tensor(&solver, &pts)?;
//! assert_eq!(u.dims(), &[2]);
//! assert_eq!(se.dtype(), candle_core::DType::F32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Result, WosError, WosSolver};
use candle_core::{DType, Tensor};

fn terr(e: candle_core::Error) -> WosError {
    WosError::Tensor(e.to_string())
}

/// Estimates u at the rows of `points` (shape `(n, d)`, any float dtype, any device) and
/// returns `(values, stderrs)`, both of shape `(n,)`, with the dtype and device of `points`.
/// Walks run on the CPU (rayon); point `i` uses the streams of index `i`.
pub fn solve_tensor(solver: &WosSolver, points: &Tensor) -> Result<(Tensor, Tensor)> {
    let (n, d) = points.dims2().map_err(terr)?;
    if d != solver.dim() {
        return Err(WosError::DimensionMismatch(format!(
            "points tensor has {d} columns, the domain is {}-D",
            solver.dim()
        )));
    }
    let flat: Vec<f64> = points
        .to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .map_err(terr)?;
    let sol = solver.solve(&flat)?;
    let dev = points.device();
    let dtype = points.dtype();
    let to = |v: Vec<f64>| {
        Tensor::from_vec(v, (n,), &candle_core::Device::Cpu)
            .and_then(|t| t.to_dtype(dtype))
            .and_then(|t| t.to_device(dev))
            .map_err(terr)
    };
    Ok((to(sol.values())?, to(sol.stderrs())?))
}
