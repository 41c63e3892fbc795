//! A pointwise (per row) affine map y = x Wᵀ + b as one fused CPU op.
//!
//! FNO layers apply small affine maps (32 → 32 channels) to every grid point of a batch —
//! 10⁵ rows. candle's backward for `matmul + broadcast_add` reduces the bias gradient with a
//! strided sum that alone cost ten times the forward product, and forms Wᵀ's gradient as one
//! long-K product on one thread. Here the forward is one parallel GEMM with the bias added
//! in place, and the backward one GEMM for ∂x, a K-split parallel GEMM for ∂W and a parallel
//! column sum for ∂b (`crate::fused::par_gemm{,_tn}`).

use crate::fused::{par_gemm_into, par_gemm_tn, Real};
use crate::op_util::{contiguous, operand, unsupported_dtype};
use crate::scratch;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

struct Linear;

fn forward<T: Real>(x: &[T], w: &[T], b: &[T], n: usize, cin: usize, cout: usize) -> Vec<T> {
    // Wᵀ (cin × cout) read from W (cout × cin, row-major): row stride 1, column stride cin.
    // SAFETY: the β = 0 product writes all n × cout elements.
    let mut y = unsafe {
        scratch::written_by(n * cout, |c| {
            par_gemm_into(n, cin, cout, x, cin, 1, w, 1, cin, c, n * cout, cout)
        })
    };
    y.par_chunks_mut(cout * 256).for_each(|rows| {
        for row in rows.chunks_mut(cout) {
            row.iter_mut().zip(b).for_each(|(v, &bi)| *v += bi);
        }
    });
    y
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "nabla-linear"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = lx.shape().dims();
        let cin = *dims.last().unwrap_or(&0);
        let n = lx.shape().elem_count() / cin.max(1);
        let (cout, cin_w) = lw.shape().dims2()?;
        if cin != cin_w || lb.shape().elem_count() != cout {
            return Err(candle_core::Error::Msg(format!(
                "linear: x {:?}, W {:?}, b {:?} do not fit",
                lx.shape(),
                lw.shape(),
                lb.shape()
            )));
        }
        let out = match (sx, sw, sb) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => {
                CpuStorage::F32(forward(
                    contiguous(x, lx, "linear", "x")?,
                    contiguous(w, lw, "linear", "W")?,
                    contiguous(b, lb, "linear", "b")?,
                    n,
                    cin,
                    cout,
                ))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => {
                CpuStorage::F64(forward(
                    contiguous(x, lx, "linear", "x")?,
                    contiguous(w, lw, "linear", "W")?,
                    contiguous(b, lb, "linear", "b")?,
                    n,
                    cin,
                    cout,
                ))
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "linear: f32 or f64, one dtype".into(),
                ))
            }
        };
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = cout;
        }
        Ok((out, Shape::from(out_dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let cin = *x.dims().last().unwrap_or(&0);
        let n = x.elem_count() / cin.max(1);
        let cout = w.dims()[0];
        // Read the operands in place (no copies of the activations).
        let (sg, lg) = g.storage_and_layout();
        let (sx, lx) = x.storage_and_layout();
        let (sw, lw) = w.storage_and_layout();
        let (Storage::Cpu(sg), Storage::Cpu(sx), Storage::Cpu(sw)) = (&*sg, &*sx, &*sw) else {
            return Err(candle_core::Error::Msg(
                "linear: backward on the CPU only".into(),
            ));
        };
        macro_rules! run {
            ($t:ty) => {{
                let gv: &[$t] = operand::<$t>(sg, lg, "linear", "grad")?;
                let xv: &[$t] = operand::<$t>(sx, lx, "linear", "x")?;
                let wv: &[$t] = operand::<$t>(sw, lw, "linear", "W")?;
                // ∂x = g W  (n × cout · cout × cin).
                // SAFETY: the β = 0 product writes all n × cin elements.
                let dx = unsafe {
                    scratch::written_by(n * cin, |c| {
                        par_gemm_into(n, cout, cin, gv, cout, 1, wv, cin, 1, c, n * cin, cin)
                    })
                };
                // ∂W = gᵀ x  (cout × n · n × cin), split over n.
                let dw = par_gemm_tn(cout, n, cin, gv, cout, xv, cin);
                // ∂b = column sums of g.
                let db = gv
                    .par_chunks(cout * 1024)
                    .map(|rows| {
                        let mut s = vec![<$t>::default(); cout];
                        for row in rows.chunks(cout) {
                            s.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
                        }
                        s
                    })
                    .reduce(
                        || vec![<$t>::default(); cout],
                        |mut a, b| {
                            a.iter_mut().zip(&b).for_each(|(p, &q)| *p += q);
                            a
                        },
                    );
                let dev = x.device();
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dw, (cout, cin), dev)?,
                    Tensor::from_vec(db, cout, dev)?,
                )
            }};
        }
        let (dx, dw, db) = match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            other => return Err(unsupported_dtype("linear", other)),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// y = x Wᵀ + b over the last axis: `x [..., in]`, `W [out, in]`, `b [out]` give `[..., out]`,
/// differentiable in all three. Fused on the CPU for f32/f64; elsewhere candle's `matmul` +
/// `broadcast_add`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, Linear)
    } else {
        x.broadcast_matmul(&w.t()?)?.broadcast_add(b)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};

    #[test]
    fn matches_candle_values_and_gradients() {
        let d = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (700, 5), &d).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f64, 1.0, (3, 5), &d).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f64, 1.0, 3, &d).unwrap()).unwrap();
        let c = Tensor::randn(0f64, 1.0, (700, 3), &d).unwrap();
        let ours = super::linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let theirs = x
            .as_tensor()
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        let max = |t: Tensor| -> f64 {
            t.abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        assert!(max((&ours - &theirs).unwrap()) < 1e-12);
        let g1 = (ours * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &c)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            let d = (g1.get(v).unwrap() - g2.get(v).unwrap()).unwrap();
            assert!(max(d) < 1e-10);
        }
    }
}
