//! The DCDM iteration with every field on the network's device.
//!
//! [`Dcdm`](crate::Dcdm)'s host loop copies the residual to the network's device and the
//! direction back every iteration: two full-field transfers per iteration on a GPU. Here the
//! whole iteration runs on candle tensors on the model's device instead:
//!
//! - [`GridTensorOperator`] is the grid matrix of a [`GridPoisson`] (variable coefficient,
//!   obstacle mask, boundary faces) as tensors: `A q = diag ⊙ q − Σ_axes (c⁺ ⊙ shift₊ q +
//!   c⁻ ⊙ shift₋ q)`, the same rows [`GridPoisson::matrix`] assembles.
//! - The residual, the iterate, the right-hand side, the network's direction, its product with
//!   A and the last `k` directions with their products (the A-orthogonalization set) are all
//!   full-grid f64 tensors on the device. b and x are uploaded once at the start and x is
//!   downloaded once at the end.
//! - Per ordinary iteration exactly two small reads come back to the host (the only device
//!   syncs): `[qᵀAq, qᵀr]` in one two-element tensor, which decides the fallback and gives α,
//!   and then `‖r‖`, which decides the stop and feeds the monitor and history. A fallback step
//!   (the network's direction is degenerate) re-orthogonalizes the residual and reads
//!   `[qᵀAq, qᵀr]` once more, so it has three. The Gram–Schmidt coefficients stay on the
//!   device as 0-d tensors, and the network input is divided by the device's own `‖r‖`.
//!
//! Only candle_core ops are used, so the same code runs on the CPU and on CUDA (feature
//! `candle-cuda`). It is verified on the CPU device only: CI has no GPU. On an asynchronous
//! device (CUDA) [`Dcdm::network_seconds`](crate::Dcdm::network_seconds) times the host side of
//! the network call (the kernel launches), not the kernels themselves: waiting for them would
//! be a third sync per iteration.
//!
//! [`Dcdm`](crate::Dcdm) takes this loop by itself when the network is not on the CPU
//! ([`Placement::Auto`](crate::Placement::Auto)); [`Placement::Device`](crate::Placement::Device)
//! forces it, on the CPU too:
//!
//! ```
//! use candle_core::Device;
//! use nabla_dcdm::{Dcdm, DcdmModel, Placement};
//! use nabla_nn::UNetConfig;
//! use nabla_sparse::{GridPoisson, RhsKind, SolveOptions, Solver};
//!
//! let grid = GridPoisson::new("16x16".parse().unwrap());
//! let a = grid.matrix();
//! let model = DcdmModel::new(&UNetConfig { channels: 4, ..Default::default() }, &[16, 16], &Device::Cpu).unwrap();
//! let b = grid.rhs(RhsKind::Random, 1);
//! let mut x = vec![0.0; b.len()];
//! let mut solver = Dcdm::new(&model, &a, &grid, 16).unwrap().with_placement(Placement::Device);
//! let opts = SolveOptions { tol: 1e-8, max_iters: 2000, ..Default::default() };
//! let report = solver.solve(&b, &mut x, &opts).unwrap();
//! // The residual is the host matrix's on the downloaded x.
//! assert!(solver.ran_on_device() && report.converged && report.relative_residual <= 1e-8);
//! ```

use crate::model::DcdmModel;
use crate::{DcdmError, Result};
use candle_core::{DType, Device, Tensor};
use nabla_sparse::solvers::SolveOptions;
use nabla_sparse::{vecops, GridPoisson, SparseError};
use std::collections::VecDeque;
use std::time::Instant;

/// The operator of a [`GridPoisson`] applied to full-grid f64 tensors on one device.
///
/// A field is a tensor `[B, 1, sides…]` with the sides reversed (`[B, 1, NY, NX]` in 2-D,
/// `[B, 1, NZ, NY, NX]` in 3-D), so its C order is the grid's point order (x fastest), as
/// [`DcdmModel::apply_grid`] lays fields out. Solid cells of a masked grid are not unknowns:
/// the operator ignores whatever a field holds there and returns 0 there, so the product over
/// the fluid cells is exactly the masked matrix's.
pub struct GridTensorOperator {
    /// `[1, 1, sides…]`.
    shape: Vec<usize>,
    device: Device,
    coefficients: Coefficients,
    /// 1 on fluid cells, 0 on solid ones (`[1, 1, sides…]`, f64); `None` without a mask.
    fluid: Option<Tensor>,
    /// For each unknown its grid point; `None` when every point is an unknown.
    unknown_points: Option<Vec<usize>>,
}

/// How the rows are stored: the plain a ≡ 1 operator needs no tensors at all.
enum Coefficients {
    /// a ≡ 1, no mask: diagonal 2·d and unit couplings; the zero padding of the shifts is the
    /// Dirichlet boundary.
    Constant(f64),
    /// Per point: the diagonal and, per axis (grid order, x first), the coupling to the `+`
    /// and `−` neighbour. The mask is folded in: a solid point has an all-zero row and every
    /// coupling to a solid neighbour is 0, so no mask multiplication is needed per product.
    Fields {
        diag: Tensor,
        plus: Vec<Tensor>,
        minus: Vec<Tensor>,
    },
}

impl GridTensorOperator {
    /// The operator of `grid` on `device`, built once (a few full-grid tensors for a masked or
    /// variable-coefficient grid, none for the plain one).
    pub fn new(grid: &GridPoisson, device: &Device) -> Result<Self> {
        let dims = grid.shape().dims().to_vec();
        let nd = dims.len();
        let mut shape = vec![1usize, 1];
        shape.extend(dims.iter().rev());
        let mask = grid.mask();
        let fluid_at = |p: usize| mask.is_none_or(|m| !m[p]);
        let coefficients = if grid.is_constant_coefficient() && mask.is_none() {
            Coefficients::Constant(2.0 * nd as f64)
        } else {
            let n = grid.shape().len();
            let strides = grid.shape().strides();
            let mut diag = vec![0.0; n];
            let mut plus = vec![vec![0.0; n]; nd];
            let mut minus = vec![vec![0.0; n]; nd];
            for p in (0..n).filter(|&p| fluid_at(p)) {
                // The diagonal sums every face of the cell, boundary faces and faces to solid
                // neighbours included, in the order `GridPoisson::matrix` sums them.
                let mut d = 0.0;
                for a in (0..nd).rev() {
                    d += grid.face_coefficient(a, p, true);
                }
                for a in 0..nd {
                    d += grid.face_coefficient(a, p, false);
                }
                diag[p] = d;
                for a in 0..nd {
                    let i = (p / strides[a]) % dims[a];
                    if i + 1 < dims[a] && fluid_at(p + strides[a]) {
                        plus[a][p] = grid.face_coefficient(a, p, false);
                    }
                    if i > 0 && fluid_at(p - strides[a]) {
                        minus[a][p] = grid.face_coefficient(a, p, true);
                    }
                }
            }
            let field = |v: Vec<f64>| Tensor::from_vec(v, shape.as_slice(), device);
            Coefficients::Fields {
                diag: field(diag)?,
                plus: plus
                    .into_iter()
                    .map(field)
                    .collect::<candle_core::Result<_>>()?,
                minus: minus
                    .into_iter()
                    .map(field)
                    .collect::<candle_core::Result<_>>()?,
            }
        };
        let fluid = match mask {
            None => None,
            Some(m) => Some(Tensor::from_vec(
                m.iter().map(|&solid| f64::from(u8::from(!solid))).collect(),
                shape.as_slice(),
                device,
            )?),
        };
        Ok(Self {
            shape,
            device: device.clone(),
            coefficients,
            fluid,
            unknown_points: grid.unknown_points().map(<[usize]>::to_vec),
        })
    }

    /// The shape of one field, `[1, 1, sides…]` (sides reversed).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The device the operator lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// 1 on fluid cells and 0 on solid ones (`[1, 1, sides…]`, f64), or `None` for a grid
    /// without a mask.
    pub fn fluid(&self) -> Option<&Tensor> {
        self.fluid.as_ref()
    }

    /// Number of unknowns (fluid cells).
    pub fn unknowns(&self) -> usize {
        self.unknown_points
            .as_ref()
            .map_or_else(|| self.shape.iter().product(), Vec::len)
    }

    /// `A q` for f64 fields `q` of shape `[B, 1, sides…]`. Errors: another shape or dtype.
    pub fn apply(&self, q: &Tensor) -> Result<Tensor> {
        let dims = q.dims();
        if dims.len() != self.shape.len() || dims[1..] != self.shape[1..] {
            return Err(DcdmError::Mismatch(format!(
                "the grid operator takes [B, {:?}…], got {dims:?}",
                &self.shape[1..]
            )));
        }
        if q.dtype() != DType::F64 {
            return Err(DcdmError::Mismatch(format!(
                "the grid operator takes f64 fields, got {:?}",
                q.dtype()
            )));
        }
        let rank = dims.len();
        let nd = rank - 2;
        let shifted = |axis: usize, up: bool| -> candle_core::Result<Option<Tensor>> {
            let n = dims[axis];
            if n < 2 {
                return Ok(None);
            }
            Ok(Some(if up {
                q.narrow(axis, 1, n - 1)?.pad_with_zeros(axis, 0, 1)?
            } else {
                q.narrow(axis, 0, n - 1)?.pad_with_zeros(axis, 1, 0)?
            }))
        };
        let out = match &self.coefficients {
            Coefficients::Constant(d) => {
                let mut out = q.affine(*d, 0.0)?;
                for axis in 2..rank {
                    for up in [true, false] {
                        if let Some(s) = shifted(axis, up)? {
                            out = (out - s)?;
                        }
                    }
                }
                out
            }
            Coefficients::Fields { diag, plus, minus } => {
                let mut out = q.broadcast_mul(diag)?;
                for a in 0..nd {
                    // Grid axis a (x = 0) is tensor axis rank − 1 − a (sides are reversed).
                    let axis = rank - 1 - a;
                    if let Some(s) = shifted(axis, true)? {
                        out = (out - s.broadcast_mul(&plus[a])?)?;
                    }
                    if let Some(s) = shifted(axis, false)? {
                        out = (out - s.broadcast_mul(&minus[a])?)?;
                    }
                }
                out
            }
        };
        Ok(out)
    }

    /// A vector over the unknowns as a field `[1, 1, sides…]` on the device (solid cells 0).
    /// Errors: a vector of another length.
    pub fn upload(&self, v: &[f64]) -> Result<Tensor> {
        if v.len() != self.unknowns() {
            return Err(DcdmError::Mismatch(format!(
                "a vector of {} entries, the grid has {} unknowns",
                v.len(),
                self.unknowns()
            )));
        }
        let full = match &self.unknown_points {
            None => v.to_vec(),
            Some(points) => {
                let mut g = vec![0.0; self.shape.iter().product()];
                for (&p, &x) in points.iter().zip(v) {
                    g[p] = x;
                }
                g
            }
        };
        Ok(Tensor::from_vec(full, self.shape.as_slice(), &self.device)?)
    }

    /// The unknowns of a field `[1, 1, sides…]` (f64), as a host vector.
    pub fn download(&self, field: &Tensor) -> Result<Vec<f64>> {
        if field.dims() != self.shape.as_slice() {
            return Err(DcdmError::Mismatch(format!(
                "a field of shape {:?}, the grid's is {:?}",
                field.dims(),
                self.shape
            )));
        }
        let full = field
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        Ok(match &self.unknown_points {
            None => full,
            Some(points) => points.iter().map(|&p| full[p]).collect(),
        })
    }
}

/// What [`iterate`] hands back besides the solution written into `x`.
pub(crate) struct DeviceOutcome {
    pub iterations: usize,
    pub history: Vec<f64>,
    pub network_seconds: f64,
    pub fallback_steps: usize,
}

/// A candle error inside the iteration, as the solver's error type.
fn dev_err(e: impl std::fmt::Display) -> SparseError {
    SparseError::InvalidParameter(format!("DCDM device iteration: {e}"))
}

/// `Σ a ⊙ b` as a 0-d tensor (no sync).
fn dot(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    (a * b)?.sum_all()
}

/// Reads two 0-d tensors in one transfer: the one sync of the direction choice.
fn read2(a: &Tensor, b: &Tensor) -> candle_core::Result<(f64, f64)> {
    let v = Tensor::stack(&[a, b], 0)?.to_vec1::<f64>()?;
    Ok((v[0], v[1]))
}

/// One set of (p, Ap, pᵀAp as a 0-d tensor) kept for the A-orthogonalization.
type Past = VecDeque<(Tensor, Tensor, Tensor)>;

/// A-orthogonalizes `q` against `past` by modified Gram–Schmidt in the A-inner product, with
/// the coefficients kept on the device; returns `(q, A q, qᵀAq)` with one operator product.
fn orthogonalize(
    op: &GridTensorOperator,
    mut q: Tensor,
    past: &Past,
) -> Result<(Tensor, Tensor, Tensor)> {
    let mut aq = op.apply(&q)?;
    for (p, ap, pap) in past {
        let c = dot(&q, ap)?.broadcast_div(pap)?;
        q = (q - p.broadcast_mul(&c)?)?;
        aq = (aq - ap.broadcast_mul(&c)?)?;
    }
    let qaq = dot(&q, &aq)?;
    Ok((q, aq, qaq))
}

/// The DCDM iteration of [`crate::Dcdm`] on `op`'s device (the model's): the same steps,
/// decisions and errors as the host loop, with b and x uploaded once and x downloaded once.
/// On an error `x` is left as given.
pub(crate) fn iterate(
    model: &DcdmModel,
    op: &GridTensorOperator,
    directions: usize,
    b: &[f64],
    x: &mut [f64],
    opts: &SolveOptions,
) -> std::result::Result<DeviceOutcome, SparseError> {
    let bn = vecops::norm2(b);
    let scale = if bn > 0.0 { bn } else { 1.0 };
    let mut out = DeviceOutcome {
        iterations: 0,
        history: Vec::new(),
        network_seconds: 0.0,
        fallback_steps: 0,
    };
    let bt = op.upload(b).map_err(dev_err)?;
    let mut xt = op.upload(x).map_err(dev_err)?;
    let residual = |xt: &Tensor| -> Result<(Tensor, Tensor)> {
        let r = (&bt - op.apply(xt)?)?;
        let rn = r.sqr()?.sum_all()?.sqrt()?;
        Ok((r, rn))
    };
    let (mut r, mut rn_t) = residual(&xt).map_err(dev_err)?;
    let mut rn = rn_t.to_scalar::<f64>().map_err(dev_err)?;
    if opts.record_history {
        out.history.push(rn / scale);
    }
    let mut past = Past::new();
    while rn > opts.tol * scale
        && out.iterations < opts.max_iters
        && !nabla_sparse::solvers::stop::stop_requested()
    {
        let it = out.iterations;
        let t0 = Instant::now();
        // Divided by the device's ‖r‖ (a 0-d tensor), so nothing goes up to the device.
        let input = r.broadcast_div(&rn_t).map_err(dev_err)?;
        let q = model
            .forward(&input)
            .and_then(|q| Ok(q.to_dtype(DType::F64)?.reshape(op.shape())?))
            .map_err(|e| SparseError::InvalidParameter(format!("DCDM network: {e}")))?;
        out.network_seconds += t0.elapsed().as_secs_f64();
        let q = match op.fluid() {
            Some(f) => q.broadcast_mul(f).map_err(dev_err)?,
            None => q,
        };
        let (mut q, mut aq, mut qaq_t) = orthogonalize(op, q, &past).map_err(dev_err)?;
        let (mut qaq, mut qr) = read2(&qaq_t, &dot(&q, &r).map_err(dev_err)?).map_err(dev_err)?;
        if !(qaq.is_finite() && qaq > 0.0 && qr.abs() > 0.0) {
            out.fallback_steps += 1;
            (q, aq, qaq_t) = orthogonalize(op, r.clone(), &past).map_err(dev_err)?;
            (qaq, qr) = read2(&qaq_t, &dot(&q, &r).map_err(dev_err)?).map_err(dev_err)?;
            if !(qaq.is_finite() && qaq > 0.0) {
                return Err(SparseError::NotPositiveDefinite {
                    detail: format!(
                        "DCDM iteration {it}: the residual direction has rᵀAr = {qaq:e}"
                    ),
                });
            }
        }
        let alpha = qr / qaq;
        xt = (&xt + q.affine(alpha, 0.0).map_err(dev_err)?).map_err(dev_err)?;
        (r, rn_t) = residual(&xt).map_err(dev_err)?;
        rn = rn_t.to_scalar::<f64>().map_err(dev_err)?;
        if !rn.is_finite() {
            return Err(SparseError::NonFinite(format!(
                "DCDM iteration {it}: the residual is {rn}"
            )));
        }
        if past.len() == directions {
            past.pop_front();
        }
        past.push_back((q, aq, qaq_t));
        out.iterations += 1;
        if opts.record_history {
            out.history.push(rn / scale);
        }
        if let Some(m) = opts.monitor {
            m(out.iterations, rn / scale);
        }
    }
    let xs = op.download(&xt).map_err(dev_err)?;
    x.copy_from_slice(&xs);
    Ok(out)
}
