//! The FNO's per-mode complex channel mixing as one CPU op.
//!
//! For every kept Fourier mode m, `out[b, m] = y[b, m] · W_m` with complex `y` (channels `C`)
//! and complex weights `W_m = R_m + i I_m` (`C × C_out`). Built from candle ops this took a
//! permute + copy of `y` into mode-major order, a `[[R, I], [−I, R]]` weight block assembled
//! by concatenation, a batched product, and a permute + copy back — and the backward of every
//! one of those. Here each mode's four real products read `y` and write the output in place
//! through strides (no copies), modes run in parallel, and the backward forms ∂y, ∂R, ∂I
//! directly:
//!
//! ∂y_re = ∂o_re Rᵀ + ∂o_im Iᵀ,  ∂y_im = −∂o_re Iᵀ + ∂o_im Rᵀ,
//! ∂R = y_reᵀ ∂o_re + y_imᵀ ∂o_im,  ∂I = −y_imᵀ ∂o_re + y_reᵀ ∂o_im.

use crate::fused::{Real, SendPtr};
use crate::op_util::operand;
use crate::scratch::written_by;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// `y [B, 2, M, C]` (real parts at index 0 of axis 1, imaginary at 1) times the per-mode
/// complex weights `real`, `imag` (`[M, C, C_out]`): `[B, 2, M, C_out]`. Differentiable in all
/// three. On the CPU for f32/f64 one op; elsewhere candle ops.
pub fn spectral_mix(y: &Tensor, real: &Tensor, imag: &Tensor) -> candle_core::Result<Tensor> {
    let (b, two, m, c) = y.dims4()?;
    let (mw, cw, co) = real.dims3()?;
    if two != 2 || mw != m || cw != c || imag.dims() != real.dims() {
        return Err(candle_core::Error::Msg(format!(
            "spectral_mix: y {:?} does not fit weights {:?} / {:?}",
            y.dims(),
            real.dims(),
            imag.dims()
        )));
    }
    let cpu_real = matches!(y.dtype(), candle_core::DType::F32 | candle_core::DType::F64);
    if y.device().is_cpu() && cpu_real && real.dtype() == y.dtype() && imag.dtype() == y.dtype() {
        return y.contiguous()?.apply_op3(
            &real.contiguous()?,
            &imag.contiguous()?,
            SpectralMix { b, m, c, co },
        );
    }
    // [Re x | Im x] · [[R, I], [−I, R]] = [Re(x w) | Im(x w)], batched over modes.
    let top = Tensor::cat(&[real, imag], 2)?;
    let bottom = Tensor::cat(&[&imag.neg()?, real], 2)?;
    let block = Tensor::cat(&[top, bottom], 1)?;
    let ym = y
        .permute((2, 0, 1, 3))?
        .contiguous()?
        .reshape((m, b, 2 * c))?;
    ym.matmul(&block)?
        .reshape((m, b, 2, co))?
        .permute((1, 2, 0, 3))?
        .contiguous()
}

/// The mixing of `b` samples' `m` modes, `c` → `co` channels.
#[derive(Clone, Copy)]
pub(crate) struct SpectralMix {
    pub b: usize,
    pub m: usize,
    pub c: usize,
    pub co: usize,
}

/// One strided operand: base pointer, row stride, column stride.
#[derive(Clone, Copy)]
struct Mat<T>(*const T, isize, isize);

impl<T: Real> Mat<T> {
    fn t(self) -> Self {
        Mat(self.0, self.2, self.1)
    }
}

/// C ← α A B + β C for an `rows × inner` A and `inner × cols` B.
///
/// # Safety
/// The strided operands must lie inside their buffers, and C must not be read or written by
/// anyone else meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<T: Real>(
    rows: usize,
    inner: usize,
    cols: usize,
    alpha: T,
    a: Mat<T>,
    b: Mat<T>,
    beta: T,
    c: *mut T,
    rsc: usize,
) {
    T::gemm_alpha(
        rows,
        inner,
        cols,
        alpha,
        a.0,
        a.1,
        a.2,
        b.0,
        b.1,
        b.2,
        beta,
        c,
        rsc as isize,
        1,
    );
}

impl SpectralMix {
    /// The real and imaginary `[B, C]` slices of mode `mode` inside a `[B, 2, M, C]` buffer.
    fn parts<T>(&self, base: *const T, mode: usize, width: usize) -> (Mat<T>, Mat<T>) {
        let rs = (2 * self.m * width) as isize;
        // SAFETY (for callers): offsets stay inside a [B, 2, M, width] buffer.
        unsafe {
            (
                Mat(base.add(mode * width), rs, 1),
                Mat(base.add((self.m + mode) * width), rs, 1),
            )
        }
    }

    fn forward<T: Real>(&self, y: &[T], wr: &[T], wi: &[T]) -> Vec<T> {
        let Self { b, m, co, .. } = *self;
        // SAFETY: the β = 0 products write every element of every mode's rows.
        unsafe { written_by(b * 2 * m * co, |out| self.forward_into(y, wr, wi, out)) }
    }

    /// The forward product into `out` (`[B, 2, M, C_out]`, written, never read).
    ///
    /// # Safety
    /// `out` must be valid for writes of B·2·M·C_out elements.
    pub(crate) unsafe fn forward_into<T: Real>(&self, y: &[T], wr: &[T], wi: &[T], out: *mut T) {
        let Self { b, m, c, co } = *self;
        let (one, zero) = (T::lit(1.0), T::lit(0.0));
        let optr = SendPtr(out);
        (0..m).into_par_iter().for_each(|k| {
            let o = &optr;
            let (yr, yi) = self.parts(y.as_ptr(), k, c);
            let r = Mat(wr[k * c * co..].as_ptr(), co as isize, 1);
            let i = Mat(wi[k * c * co..].as_ptr(), co as isize, 1);
            let (or, oi) = self.parts(o.0 as *const T, k, co);
            let (or, oi) = (or.0 as *mut T, oi.0 as *mut T);
            let rs = 2 * m * co;
            // SAFETY: mode k's output rows are written by this task only; all operands lie
            // inside y, the weights and out for the shapes checked in cpu_fwd.
            unsafe {
                gemm(b, c, co, one, yr, r, zero, or, rs);
                gemm(b, c, co, T::lit(-1.0), yi, i, one, or, rs);
                gemm(b, c, co, one, yr, i, zero, oi, rs);
                gemm(b, c, co, one, yi, r, one, oi, rs);
            }
        });
    }

    /// (∂y, ∂R, ∂I) for the output gradient `g`.
    fn backward<T: Real>(&self, y: &[T], wr: &[T], wi: &[T], g: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
        let Self { b, m, c, co } = *self;
        let mut dr: Vec<T> = Vec::new();
        let mut di: Vec<T> = Vec::new();
        // SAFETY: each mode's first (β = 0) products write all of its rows of ∂y and all of
        // its C × C_out blocks of ∂R and ∂I; the modes tile the buffers.
        let dy = unsafe {
            written_by(b * 2 * m * c, |dyp| {
                dr = written_by(m * c * co, |drp| {
                    di = written_by(m * c * co, |dip| {
                        self.backward_into(y, wr, wi, g, [dyp, drp, dip])
                    })
                })
            })
        };
        (dy, dr, di)
    }

    /// The backward products into `[∂y, ∂R, ∂I]` (written, never read).
    ///
    /// # Safety
    /// The pointers must be valid for writes of B·2·M·C, M·C·C_out and M·C·C_out elements.
    pub(crate) unsafe fn backward_into<T: Real>(
        &self,
        y: &[T],
        wr: &[T],
        wi: &[T],
        g: &[T],
        out: [*mut T; 3],
    ) {
        let Self { b, m, c, co } = *self;
        let [dyp, drp, dip] = out.map(SendPtr);
        let (one, neg, zero) = (T::lit(1.0), T::lit(-1.0), T::lit(0.0));
        (0..m).into_par_iter().for_each(|k| {
            let (dyp, drp, dip) = (&dyp, &drp, &dip);
            let (yr, yi) = self.parts(y.as_ptr(), k, c);
            let (gr, gi) = self.parts(g.as_ptr(), k, co);
            let r = Mat(wr[k * c * co..].as_ptr(), co as isize, 1);
            let i = Mat(wi[k * c * co..].as_ptr(), co as isize, 1);
            let (dyr, dyi) = self.parts(dyp.0 as *const T, k, c);
            let (dyr, dyi) = (dyr.0 as *mut T, dyi.0 as *mut T);
            let rs = 2 * m * c;
            // SAFETY: mode k's rows of ∂y and its C×C_out blocks of ∂R, ∂I are written by
            // this task only; operands lie inside their buffers for the checked shapes.
            unsafe {
                let drk = drp.0.add(k * c * co);
                let dik = dip.0.add(k * c * co);
                gemm(b, co, c, one, gr, r.t(), zero, dyr, rs);
                gemm(b, co, c, one, gi, i.t(), one, dyr, rs);
                gemm(b, co, c, neg, gr, i.t(), zero, dyi, rs);
                gemm(b, co, c, one, gi, r.t(), one, dyi, rs);
                gemm(c, b, co, one, yr.t(), gr, zero, drk, co);
                gemm(c, b, co, one, yi.t(), gi, one, drk, co);
                gemm(c, b, co, neg, yi.t(), gr, zero, dik, co);
                gemm(c, b, co, one, yr.t(), gi, one, dik, co);
            }
        });
    }
}

impl CustomOp3 for SpectralMix {
    fn name(&self) -> &'static str {
        "nabla-spectral-mix"
    }

    fn cpu_fwd(
        &self,
        sy: &CpuStorage,
        ly: &Layout,
        sr: &CpuStorage,
        lr: &Layout,
        si: &CpuStorage,
        li: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let shape = Shape::from((self.b, 2, self.m, self.co));
        let out = match sy {
            CpuStorage::F32(_) => f32::storage(self.forward::<f32>(
                operand(sy, ly, "spectral_mix", "y")?,
                operand(sr, lr, "spectral_mix", "real weights")?,
                operand(si, li, "spectral_mix", "imaginary weights")?,
            )),
            CpuStorage::F64(_) => f64::storage(self.forward::<f64>(
                operand(sy, ly, "spectral_mix", "y")?,
                operand(sr, lr, "spectral_mix", "real weights")?,
                operand(si, li, "spectral_mix", "imaginary weights")?,
            )),
            _ => return Err(candle_core::Error::Msg("spectral_mix: f32 or f64".into())),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        y: &Tensor,
        real: &Tensor,
        imag: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (sy, ly) = y.storage_and_layout();
        let (sr, lr) = real.storage_and_layout();
        let (si, li) = imag.storage_and_layout();
        let (sg, lg) = grad.storage_and_layout();
        let (Storage::Cpu(sy), Storage::Cpu(sr), Storage::Cpu(si), Storage::Cpu(sg)) =
            (&*sy, &*sr, &*si, &*sg)
        else {
            return Err(candle_core::Error::Msg(
                "spectral_mix: backward on the CPU only".into(),
            ));
        };
        fn go<T: Real>(
            op: &SpectralMix,
            s: [(&CpuStorage, &Layout); 4],
            y: &Tensor,
        ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
            let [ys, r, i, g] = s.map(|(st, l)| operand::<T>(st, l, "spectral_mix", "operand"));
            let (dy, dr, di) = op.backward(ys?, r?, i?, g?);
            let (dev, wshape) = (y.device(), (op.m, op.c, op.co));
            Ok((
                Tensor::from_vec(dy, y.shape(), dev)?,
                Tensor::from_vec(dr, wshape, dev)?,
                Tensor::from_vec(di, wshape, dev)?,
            ))
        }
        let parts = [(sy, ly), (sr, lr), (si, li), (sg, lg)];
        let (dy, dr, di) = match sy {
            CpuStorage::F32(_) => go::<f32>(self, parts, y)?,
            CpuStorage::F64(_) => go::<f64>(self, parts, y)?,
            _ => return Err(candle_core::Error::Msg("spectral_mix: f32 or f64".into())),
        };
        Ok((Some(dy), Some(dr), Some(di)))
    }
}
