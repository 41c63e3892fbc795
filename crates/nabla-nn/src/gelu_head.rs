//! A pointwise two-layer head `y = GELU(x W₁ + b₁) W₂ + b₂` (GELU in its tanh form, as
//! [`crate::gelu`]) over the last axis, as one fused CPU op with its own backward pass.
//!
//! Weights are `[C_in, hidden]` and `[hidden, C_out]` (`x W`, the LSM's layout). Operator heads
//! lift a few channels to a wide hidden layer (128) at every grid point and back to one or two:
//! as candle ops the hidden layer is two `[N, hidden]` graph nodes (the product and the GELU)
//! — on a batch of 20 at 64² that is 2 × 42 MB stored for the backward pass, and candle's
//! backward gives each a zero-filled gradient and an accumulation pass. Here rows go block by
//! block (the hidden block stays in cache) and nothing of the hidden width is stored; the
//! backward pass recomputes it. Parameter gradients are summed per task and the task sums
//! added in order (a given thread count always gives the same bits).
//! Off the CPU (or for other dtypes) it is [`composed`].

use crate::fused::{gemm_product, Real};
use crate::op_util::nonempty;
use crate::op_util::{operand, unsupported_dtype};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Rows per block: the hidden block (`ROWS × hidden`) stays in L2.
const ROWS: usize = 256;

/// `GELU(x W₁ + b₁) W₂ + b₂` over the last axis of `x` `[…, C_in]` with `w1` `[C_in, hidden]`,
/// `b1` `[hidden]`, `w2` `[hidden, C_out]`, `b2` `[C_out]`: `[…, C_out]`. Differentiable in all
/// five.
pub fn gelu_head(
    x: &Tensor,
    w1: &Tensor,
    b1: &Tensor,
    w2: &Tensor,
    b2: &Tensor,
) -> candle_core::Result<Tensor> {
    nonempty(
        &[1, x.dims().last().copied().unwrap_or(0)],
        "gelu_head",
        "input channels",
    )?;
    nonempty(
        &[1, w1.elem_count(), w2.elem_count()],
        "gelu_head",
        "w1, w2 sizes",
    )?;
    let cin = *x.dims().last().unwrap_or(&0);
    let (c1, hidden) = w1.dims2()?;
    let (h2, cout) = w2.dims2()?;
    if c1 != cin || h2 != hidden || b1.dims() != [hidden] || b2.dims() != [cout] {
        return Err(candle_core::Error::Msg(format!(
            "gelu_head: x [.., {cin}] needs w1 [{cin}, H], b1 [H], w2 [H, C], b2 [C]; got {:?}, \
             {:?}, {:?}, {:?}",
            w1.dims(),
            b1.dims(),
            w2.dims(),
            b2.dims()
        )));
    }
    let dtype = x.dtype();
    let same = [w1, b1, w2, b2].iter().all(|t| t.dtype() == dtype);
    if !(x.device().is_cpu() && same && matches!(dtype, DType::F32 | DType::F64)) {
        return composed(x, w1, b1, w2, b2);
    }
    let rest = Tensor::cat(&[b1, &w2.flatten_all()?, b2], 0)?;
    x.contiguous()?
        .apply_op3(&w1.contiguous()?, &rest, Head { hidden, cout })
}

/// The same head from candle ops (any device): the reference the fused op is tested against.
pub fn composed(
    x: &Tensor,
    w1: &Tensor,
    b1: &Tensor,
    w2: &Tensor,
    b2: &Tensor,
) -> candle_core::Result<Tensor> {
    let h = crate::gelu::gelu(&x.broadcast_matmul(w1)?.broadcast_add(b1)?)?;
    h.broadcast_matmul(w2)?.broadcast_add(b2)
}

struct Head {
    hidden: usize,
    cout: usize,
}

/// GELU in the features' precision (the f32 form uses the crate's rational tanh).
#[inline]
fn gelu_value<T: Real>(v: T) -> T {
    if T::DTYPE == DType::F32 {
        T::lit(crate::gelu::value_f32(v.to_f64() as f32) as f64)
    } else {
        T::lit(crate::gelu::value_f64(v.to_f64()))
    }
}

/// GELU's derivative, as [`gelu_value`].
#[inline]
fn gelu_slope<T: Real>(v: T) -> T {
    if T::DTYPE == DType::F32 {
        T::lit(crate::gelu::slope_f32(v.to_f64() as f32) as f64)
    } else {
        T::lit(crate::gelu::slope_f64(v.to_f64()))
    }
}

/// Parameter views of one call.
struct Params<'a, T> {
    w1: &'a [T],
    b1: &'a [T],
    w2: &'a [T],
    b2: &'a [T],
    cin: usize,
    hidden: usize,
    cout: usize,
}

impl<'a, T: Real> Params<'a, T> {
    fn new(w1: &'a [T], rest: &'a [T], cin: usize, hidden: usize, cout: usize) -> Self {
        Params {
            w1,
            b1: &rest[..hidden],
            w2: &rest[hidden..hidden + hidden * cout],
            b2: &rest[hidden + hidden * cout..],
            cin,
            hidden,
            cout,
        }
    }

    /// `pre = x W₁ + b₁` for the rows of `x`.
    fn hidden_pre(&self, x: &[T], pre: &mut Vec<T>) {
        let n = x.len() / self.cin;
        pre.resize(n * self.hidden, T::default());
        // SAFETY: x n×cin, w1 cin×hidden, pre n×hidden, row-major.
        unsafe {
            gemm_product(
                n,
                self.cin,
                self.hidden,
                x.as_ptr(),
                self.cin as isize,
                1,
                self.w1.as_ptr(),
                self.hidden as isize,
                1,
                pre.as_mut_ptr(),
                self.hidden as isize,
            );
        }
        for row in pre.chunks_exact_mut(self.hidden) {
            row.iter_mut().zip(self.b1).for_each(|(v, &b)| *v += b);
        }
    }
}

fn forward<T: Real>(x: &[T], p: &Params<T>) -> Vec<T> {
    let n = x.len() / p.cin;
    let mut y = vec![T::default(); n * p.cout];
    y.par_chunks_mut(ROWS * p.cout)
        .zip(x.par_chunks(ROWS * p.cin))
        .for_each_init(Vec::new, |pre: &mut Vec<T>, (yb, xb)| {
            p.hidden_pre(xb, pre);
            pre.iter_mut().for_each(|v| *v = gelu_value(*v));
            let rows = xb.len() / p.cin;
            // SAFETY: pre rows×hidden, w2 hidden×cout, yb rows×cout, row-major.
            unsafe {
                gemm_product(
                    rows,
                    p.hidden,
                    p.cout,
                    pre.as_ptr(),
                    p.hidden as isize,
                    1,
                    p.w2.as_ptr(),
                    p.cout as isize,
                    1,
                    yb.as_mut_ptr(),
                    p.cout as isize,
                );
            }
            for row in yb.chunks_exact_mut(p.cout) {
                row.iter_mut().zip(p.b2).for_each(|(v, &b)| *v += b);
            }
        });
    y
}

/// `(dx, dw1, drest)` with `drest` = `[db1, dw2 (flat), db2]`.
fn backward<T: Real>(x: &[T], gy: &[T], p: &Params<T>) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n = x.len() / p.cin;
    let blocks = n.div_ceil(ROWS).max(1);
    let tasks = rayon::current_num_threads().clamp(1, blocks);
    let rows_per_task = blocks.div_ceil(tasks) * ROWS;
    let (h, cin, cout) = (p.hidden, p.cin, p.cout);
    let rest_len = h + h * cout + cout;
    let mut dx = vec![T::default(); x.len()];
    let partial: Vec<(Vec<T>, Vec<T>)> = dx
        .par_chunks_mut(rows_per_task * cin)
        .enumerate()
        .map(|(task, dxt)| {
            let mut dw1 = vec![T::default(); cin * h];
            let mut drest = vec![T::default(); rest_len];
            let (mut pre, mut act) = (Vec::new(), Vec::new());
            let row0 = task * rows_per_task;
            for (i, dxb) in dxt.chunks_mut(ROWS * cin).enumerate() {
                let r0 = row0 + i * ROWS;
                let rows = dxb.len() / cin;
                let xb = &x[r0 * cin..(r0 + rows) * cin];
                let gb = &gy[r0 * cout..(r0 + rows) * cout];
                p.hidden_pre(xb, &mut pre);
                act.clear();
                act.extend(pre.iter().map(|&v| gelu_value(v)));
                let (db1, rest) = drest.split_at_mut(h);
                let (dw2, db2) = rest.split_at_mut(h * cout);
                for row in gb.chunks_exact(cout) {
                    db2.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
                // SAFETY (all products): row-major operands with the shapes named; transposed
                // operands are read with swapped strides.
                unsafe {
                    // dW₂ += actᵀ gy  (h×rows · rows×cout).
                    T::gemm(
                        h,
                        rows,
                        cout,
                        act.as_ptr(),
                        1,
                        h as isize,
                        gb.as_ptr(),
                        cout as isize,
                        1,
                        T::lit(1.0),
                        dw2.as_mut_ptr(),
                        cout as isize,
                        1,
                    );
                    // d(act) = gy W₂ᵀ  (rows×cout · cout×h), into `act`.
                    T::gemm(
                        rows,
                        cout,
                        h,
                        gb.as_ptr(),
                        cout as isize,
                        1,
                        p.w2.as_ptr(),
                        1,
                        cout as isize,
                        T::lit(0.0),
                        act.as_mut_ptr(),
                        h as isize,
                        1,
                    );
                }
                // d(pre) = d(act) · GELU'(pre), into `pre`.
                pre.iter_mut()
                    .zip(&act)
                    .for_each(|(v, &d)| *v = d * gelu_slope(*v));
                for row in pre.chunks_exact(h) {
                    db1.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
                unsafe {
                    // dW₁ += xᵀ d(pre)  (cin×rows · rows×h).
                    T::gemm(
                        cin,
                        rows,
                        h,
                        xb.as_ptr(),
                        1,
                        cin as isize,
                        pre.as_ptr(),
                        h as isize,
                        1,
                        T::lit(1.0),
                        dw1.as_mut_ptr(),
                        h as isize,
                        1,
                    );
                    // dx = d(pre) W₁ᵀ  (rows×h · h×cin).
                    T::gemm(
                        rows,
                        h,
                        cin,
                        pre.as_ptr(),
                        h as isize,
                        1,
                        p.w1.as_ptr(),
                        1,
                        h as isize,
                        T::lit(0.0),
                        dxb.as_mut_ptr(),
                        cin as isize,
                        1,
                    );
                }
            }
            (dw1, drest)
        })
        .collect();
    let mut dw1 = vec![T::default(); cin * h];
    let mut drest = vec![T::default(); rest_len];
    for (a, b) in partial {
        dw1.iter_mut().zip(&a).for_each(|(o, &v)| *o += v);
        drest.iter_mut().zip(&b).for_each(|(o, &v)| *o += v);
    }
    (dx, dw1, drest)
}

impl CustomOp3 for Head {
    fn name(&self) -> &'static str {
        "nabla-gelu-head"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sr: &CpuStorage,
        lr: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let cin = *lx.shape().dims().last().unwrap_or(&0);
        macro_rules! run {
            ($t:ty) => {{
                let x = operand::<$t>(sx, lx, "gelu_head", "x")?;
                let w = operand::<$t>(sw, lw, "gelu_head", "w1")?;
                let r = operand::<$t>(sr, lr, "gelu_head", "parameters")?;
                <$t>::storage(forward(x, &Params::new(w, r, cin, self.hidden, self.cout)))
            }};
        }
        let out = match sx {
            CpuStorage::F32(_) => run!(f32),
            CpuStorage::F64(_) => run!(f64),
            _ => return Err(candle_core::Error::Msg("gelu_head: f32 or f64".into())),
        };
        let mut dims = lx.shape().dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.cout;
        }
        Ok((out, Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w1: &Tensor,
        rest: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let cin = *x.dims().last().unwrap_or(&0);
        let (sg, lg) = grad.storage_and_layout();
        let (sx, lx) = x.storage_and_layout();
        let (sw, lw) = w1.storage_and_layout();
        let (sr, lr) = rest.storage_and_layout();
        let (Storage::Cpu(sg), Storage::Cpu(sx), Storage::Cpu(sw), Storage::Cpu(sr)) =
            (&*sg, &*sx, &*sw, &*sr)
        else {
            return Err(candle_core::Error::Msg(
                "gelu_head: backward on the CPU only".into(),
            ));
        };
        let dev = x.device();
        macro_rules! run {
            ($t:ty) => {{
                let g = operand::<$t>(sg, lg, "gelu_head", "grad")?;
                let xv = operand::<$t>(sx, lx, "gelu_head", "x")?;
                let w = operand::<$t>(sw, lw, "gelu_head", "w1")?;
                let r = operand::<$t>(sr, lr, "gelu_head", "parameters")?;
                let p = Params::new(w, r, cin, self.hidden, self.cout);
                let (dx, dw, dr) = backward(xv, g, &p);
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dw, w1.shape(), dev)?,
                    Tensor::from_vec(dr, rest.shape(), dev)?,
                )
            }};
        }
        let (dx, dw, dr) = match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            other => return Err(unsupported_dtype("gelu_head", other)),
        };
        Ok((Some(dx), Some(dw), Some(dr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op_util::max_diff;
    use candle_core::{Device, Var};

    /// Values and all five gradients equal the candle composition, over several blocks with
    /// a partial last one, and for one output channel (the LSM's) and several.
    #[test]
    fn fused_matches_the_composition() {
        let d = Device::Cpu;
        for (dims, cin, hidden, cout) in [
            (vec![3, 7, 40, 5], 5, 12, 1),
            (vec![300, 3], 3, 8, 2),
            (vec![1, 2], 2, 4, 3),
        ] {
            let var = |shape: &[usize]| {
                Var::from_tensor(&Tensor::randn(0f64, 0.8, shape, &d).unwrap()).unwrap()
            };
            let x = var(&dims);
            let (w1, b1, w2, b2) = (
                var(&[cin, hidden]),
                var(&[hidden]),
                var(&[hidden, cout]),
                var(&[cout]),
            );
            let mut out = dims.clone();
            *out.last_mut().unwrap() = cout;
            let probe = Tensor::randn(0f64, 1.0, out.as_slice(), &d).unwrap();
            let args = [&x, &w1, &b1, &w2, &b2].map(|v| v.as_tensor().clone());
            let fused = gelu_head(&args[0], &args[1], &args[2], &args[3], &args[4]).unwrap();
            let reference = composed(&args[0], &args[1], &args[2], &args[3], &args[4]).unwrap();
            assert!(max_diff(&fused, &reference) < 1e-12);
            let g1 = (&fused * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (&reference * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (i, v) in [&x, &w1, &b1, &w2, &b2].into_iter().enumerate() {
                let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(max_diff(a, r) < 1e-10, "gradient {i} for {dims:?}");
            }
        }
    }

    /// In f32 the head agrees with f64 to single precision.
    #[test]
    fn f32_agrees_with_f64() {
        let d = Device::Cpu;
        let t = |shape: &[usize]| Tensor::randn(0f64, 0.5, shape, &d).unwrap();
        let args = [
            t(&[500, 16]),
            t(&[16, 128]),
            t(&[128]),
            t(&[128, 1]),
            t(&[1]),
        ];
        let f32s: Vec<Tensor> = args
            .iter()
            .map(|a| a.to_dtype(DType::F32).unwrap())
            .collect();
        let y64 = gelu_head(&args[0], &args[1], &args[2], &args[3], &args[4]).unwrap();
        let y32 = gelu_head(&f32s[0], &f32s[1], &f32s[2], &f32s[3], &f32s[4]).unwrap();
        let scale = y64
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(max_diff(&y32.to_dtype(DType::F64).unwrap(), &y64) < 1e-5 * scale);
    }

    #[test]
    fn mismatched_weights_are_an_error() {
        let d = Device::Cpu;
        let z = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &d).unwrap();
        let e = gelu_head(&z(&[4, 3]), &z(&[2, 8]), &z(&[8]), &z(&[8, 1]), &z(&[1]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs w1 [3, H]"), "{e}");
    }
}
