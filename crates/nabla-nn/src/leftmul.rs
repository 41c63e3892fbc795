//! A constant matrix applied to every trailing matrix of a batch, y_b = M x_b, as one CPU op.
//!
//! The FNO's truncated DFTs are such products (M a fixed cos/sin matrix, x a batch of B·H
//! slices). Through candle's `matmul` a broadcast M runs one small GEMM per slice, and the
//! backward also forms M's gradient — a full broadcast-shaped zero-fill, a GEMM per slice and
//! an add — although M is a constant. Here the forward runs the slices' GEMMs in parallel and
//! the backward computes only ∂x = Mᵀ ∂y (itself this op, so it differentiates again).

use crate::fused::Real;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// The constant M (or Mᵀ) in the dtype of x.
#[derive(Clone)]
enum Matrix {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// y_b = op(M) x_b for `x [B.., Q, R]`, M `[P, Q]` (or `[Q, P]` read transposed).
#[derive(Clone)]
struct ConstLeftMul {
    m: Matrix,
    /// Rows and columns of M as stored.
    rows: usize,
    cols: usize,
    /// Apply Mᵀ instead of M.
    transposed: bool,
}

impl ConstLeftMul {
    /// (P, Q) of the applied matrix op(M).
    fn applied(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    fn run<T: Real>(&self, m: &[T], x: &[T], batch: usize, r: usize) -> Vec<T> {
        let (p, q) = self.applied();
        // Row/column strides of op(M) in the stored row-major M.
        let (rsa, csa) = if self.transposed {
            (1, self.cols)
        } else {
            (self.cols, 1)
        };
        let len = batch * p * r;
        // SAFETY: slice b's product (β = 0) writes its p × r block at offset b·p·r; the blocks
        // tile all `len` elements.
        unsafe {
            crate::scratch::written_by(len, |y: *mut T| {
                let y = crate::fused::SendPtr(y);
                x.par_chunks(q * r).enumerate().for_each(|(bi, xb)| {
                    let y = &y;
                    T::gemm(
                        p,
                        q,
                        r,
                        m.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        xb.as_ptr(),
                        r as isize,
                        1,
                        T::lit(0.0),
                        y.0.add(bi * p * r),
                        r as isize,
                        1,
                    )
                });
            })
        }
    }
}

impl CustomOp1 for ConstLeftMul {
    fn name(&self) -> &'static str {
        "nabla-const-left-mul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = l.shape().dims();
        let rank = dims.len();
        let (p, q) = self.applied();
        if rank < 2 || dims[rank - 2] != q {
            return Err(candle_core::Error::Msg(format!(
                "left_mul: a [{p}, {q}] matrix cannot multiply x {dims:?}"
            )));
        }
        let r = dims[rank - 1];
        let batch = l.shape().elem_count() / (q * r).max(1);
        let (a, b) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("left_mul: x is not contiguous".into()))?;
        let out = match (s, &self.m) {
            (CpuStorage::F32(x), Matrix::F32(m)) => {
                CpuStorage::F32(self.run(m, &x[a..b], batch, r))
            }
            (CpuStorage::F64(x), Matrix::F64(m)) => {
                CpuStorage::F64(self.run(m, &x[a..b], batch, r))
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "left_mul: x and the matrix must both be f32 or both f64".into(),
                ))
            }
        };
        let mut out_dims = dims.to_vec();
        out_dims[rank - 2] = p;
        Ok((out, Shape::from(out_dims)))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let mut t = self.clone();
        t.transposed = !t.transposed;
        Ok(Some(grad.contiguous()?.apply_op1(t)?))
    }
}

/// `mat [P, Q]` (a constant: no gradient flows to it) times every trailing `[Q, R]` matrix of
/// `x [B.., Q, R]`, giving `[B.., P, R]`; differentiable in x. On the CPU for f32/f64 one op
/// (above); elsewhere candle's broadcast `matmul`.
pub fn const_left_mul(mat: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
    let (rows, cols) = mat.dims2()?;
    if x.device().is_cpu() && mat.dtype() == x.dtype() {
        let m = match x.dtype() {
            DType::F32 => Some(Matrix::F32(mat.flatten_all()?.to_vec1()?)),
            DType::F64 => Some(Matrix::F64(mat.flatten_all()?.to_vec1()?)),
            _ => None,
        };
        if let Some(m) = m {
            return x.contiguous()?.apply_op1(ConstLeftMul {
                m,
                rows,
                cols,
                transposed: false,
            });
        }
    }
    let mut shape = x.dims().to_vec();
    let r = shape.len();
    shape[r - 2] = rows;
    shape[r - 1] = cols;
    mat.detach().broadcast_as(shape)?.matmul(x)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn matches_candle_matmul_and_its_gradient() {
        let d = Device::Cpu;
        let m = Tensor::randn(0f64, 1.0, (5, 7), &d).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (3, 4, 7, 6), &d).unwrap()).unwrap();
        let c = Tensor::randn(0f64, 1.0, (3, 4, 5, 6), &d).unwrap();
        let ours = super::const_left_mul(&m, x.as_tensor()).unwrap();
        let theirs = m
            .broadcast_as((3, 4, 5, 7))
            .unwrap()
            .matmul(x.as_tensor())
            .unwrap();
        let diff = |a: &Tensor, b: &Tensor| -> f64 {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        assert!(diff(&ours, &theirs) < 1e-12);
        let g1 = (ours * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &c)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-12);
        // f32 too.
        let m32 = m.to_dtype(candle_core::DType::F32).unwrap();
        let x32 = x.as_tensor().to_dtype(candle_core::DType::F32).unwrap();
        let y32 = super::const_left_mul(&m32, &x32).unwrap();
        let y64 = y32.to_dtype(candle_core::DType::F64).unwrap();
        let theirs = m
            .broadcast_as((3, 4, 5, 7))
            .unwrap()
            .matmul(x.as_tensor())
            .unwrap();
        assert!(diff(&y64, &theirs) < 1e-4);
    }
}
