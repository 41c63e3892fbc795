//! The FNO's whole 2-D spectral convolution as one CPU op: truncated real DFT along W,
//! complex DFT along H, per-mode channel mixing, and the two inverse transforms.
//!
//! Why: built from separate ops (four constant products, two transposing copies, the mixing,
//! reshapes) every node of the chain costs candle's backward a zero-filled gradient buffer and
//! an add of its size, on top of its own work — measured at about a fifth of an FNO training
//! step. Here the transposes are strides of the products, the intermediates live in recycled
//! scratch buffers, and the backward runs the adjoint chain directly. The only state kept for
//! the backward is the mixing's input (the truncated spectrum, small).
//!
//! Shapes (channels last): v `[B, H, W, C]`; F₁ = real forward along W `[2m₂, W]`;
//! F₂ = complex forward along H `[4m₁, 2H]` (input rows (Re, Im) × H); G₂ = its inverse
//! `[2H, 4m₁]`; G₁ = real inverse along W `[W, 2m₂]` (see [`crate::dft`]). The spectrum
//! `[B, 4m₁, m₂·C]` is the mixing's `[B, 2, M, C]` with M = 2m₁m₂.

use crate::fused::{Real, SendPtr};
use crate::leftmul::const_left_mul;
use crate::op_util::operand;
use crate::scratch::{self, written_by};
use crate::spectral_mix::spectral_mix;
use crate::spectral_mix::SpectralMix;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// The four constant matrices [F₁, F₂, G₂, G₁] in the working dtype.
#[derive(Clone)]
enum Mats {
    F32([Vec<f32>; 4]),
    F64([Vec<f64>; 4]),
}

/// The op; `y` caches the spectrum for the backward.
struct SpectralConv2d {
    mats: Mats,
    /// B, H, W, C, C_out, m₁, m₂.
    b: usize,
    h: usize,
    w: usize,
    c: usize,
    co: usize,
    m1: usize,
    m2: usize,
    y: Mutex<Option<CpuStorage>>,
}

/// The 2-D spectral convolution of `v [B, H, W, C]` with weights `real`, `imag`
/// (`[2m₁m₂, C, C_out]`) and the DFT matrices `f1 [2m₂, W]`, `f2 [4m₁, 2H]`, `g2 [2H, 4m₁]`,
/// `g1 [W, 2m₂]`: `[B, H, W, C_out]`. Differentiable in v and the weights (the matrices are
/// constants).
///
/// Device paths (the op owns them; callers never branch): on the CPU for f32/f64 one fused op
/// (below); on other devices and dtypes the same products in the same order as candle ops
/// ([`spectral_conv2d_ops`]: no CUDA kernel is worth writing while cuBLAS batches these
/// matrix products).
pub(crate) fn spectral_conv2d(
    v: &Tensor,
    real: &Tensor,
    imag: &Tensor,
    mats: [&Tensor; 4],
) -> candle_core::Result<Tensor> {
    match fused_spectral_conv2d(v, real, imag, mats)? {
        Some(out) => Ok(out),
        None => spectral_conv2d_ops(v, real, imag, mats),
    }
}

/// [`spectral_conv2d`] op by op with candle (devices other than the CPU; the reference the
/// fused CPU op is tested against): a real DFT along W to the kept one-sided modes, a complex
/// DFT along H, the channel mixing, and the inverses.
pub(crate) fn spectral_conv2d_ops(
    v: &Tensor,
    real: &Tensor,
    imag: &Tensor,
    [f1, f2, g2, g1]: [&Tensor; 4],
) -> candle_core::Result<Tensor> {
    let (m1, m2) = (f2.dims2()?.0 / 4, f1.dims2()?.0 / 2);
    let (b, h, _, c) = v.dims4()?;
    // Along W (real → one-sided modes): [B, H, 2·m2, C].
    let z = const_left_mul(f1, v)?;
    // Along H (complex, two-sided): needs [B, 2·H, m2·C] with Re/Im outermost.
    let z = z
        .reshape((b, h, 2, m2 * c))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, 2 * h, m2 * c))?;
    let y = const_left_mul(f2, &z)?.reshape((b, 2, 2 * m1 * m2, c))?;
    let o = spectral_mix(&y, real, imag)?;
    let co = o.dims()[3];
    let z = const_left_mul(g2, &o.reshape((b, 4 * m1, m2 * co))?)?;
    let z = z
        .reshape((b, 2, h, m2 * co))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b, h, 2 * m2, co))?;
    const_left_mul(g1, &z)
}

/// The fused CPU op of [`spectral_conv2d`]: `None` off the CPU or for other dtypes.
pub(crate) fn fused_spectral_conv2d(
    v: &Tensor,
    real: &Tensor,
    imag: &Tensor,
    [f1, f2, g2, g1]: [&Tensor; 4],
) -> candle_core::Result<Option<Tensor>> {
    let dt = v.dtype();
    if !v.device().is_cpu() || !matches!(dt, DType::F32 | DType::F64) {
        return Ok(None);
    }
    if [real, imag, f1, f2, g2, g1].iter().any(|t| t.dtype() != dt) {
        return Ok(None);
    }
    let (b, h, w, c) = v.dims4()?;
    let (m, cw, co) = real.dims3()?;
    let (two_m2, wf) = f1.dims2()?;
    let (four_m1, two_h) = f2.dims2()?;
    let (m1, m2) = (four_m1 / 4, two_m2 / 2);
    let fits = cw == c
        && imag.dims() == real.dims()
        && wf == w
        && two_h == 2 * h
        && four_m1 % 4 == 0
        && two_m2 % 2 == 0
        && m == 2 * m1 * m2
        && g2.dims() == [2 * h, four_m1]
        && g1.dims() == [w, two_m2];
    if !fits {
        return Err(candle_core::Error::Msg(format!(
            "spectral_conv2d: v {:?}, weights {:?}, DFT matrices {:?} {:?} {:?} {:?} do not fit",
            v.dims(),
            real.dims(),
            f1.dims(),
            f2.dims(),
            g2.dims(),
            g1.dims()
        )));
    }
    let mats = match dt {
        DType::F32 => Mats::F32(
            [f1, f2, g2, g1]
                .map(|t| t.flatten_all()?.to_vec1())
                .all_ok()?,
        ),
        _ => Mats::F64(
            [f1, f2, g2, g1]
                .map(|t| t.flatten_all()?.to_vec1())
                .all_ok()?,
        ),
    };
    let op = SpectralConv2d {
        mats,
        b,
        h,
        w,
        c,
        co,
        m1,
        m2,
        y: Mutex::new(None),
    };
    Ok(Some(v.contiguous()?.apply_op3(
        &real.contiguous()?,
        &imag.contiguous()?,
        op,
    )?))
}

/// `[Result<X>; 4]` → `Result<[X; 4]>`.
trait TryMap<X> {
    fn all_ok(self) -> candle_core::Result<[X; 4]>;
}

impl<X> TryMap<X> for [candle_core::Result<X>; 4] {
    fn all_ok(self) -> candle_core::Result<[X; 4]> {
        let [a, b, c, d] = self;
        Ok([a?, b?, c?, d?])
    }
}

/// C ← op(A)·B + βC through raw strides (row, column) for each operand.
///
/// # Safety
/// Every strided operand must lie inside its buffer; C must not be touched by anyone else.
#[allow(clippy::too_many_arguments)]
unsafe fn mm<T: Real>(
    rows: usize,
    inner: usize,
    cols: usize,
    a: *const T,
    (rsa, csa): (usize, usize),
    b: *const T,
    rsb: usize,
    beta: T,
    c: *mut T,
    rsc: usize,
) {
    T::gemm(
        rows,
        inner,
        cols,
        a,
        rsa as isize,
        csa as isize,
        b,
        rsb as isize,
        1,
        beta,
        c,
        rsc as isize,
        1,
    );
}

/// `dst_s = op(M) · src_s` for every slice s of `src` (`inner × cols` each, row-major), into
/// consecutive `rows × cols` slices of `dst` (written, never read), slices in parallel; op(M)
/// is `rows × inner`, read from `m` through the (row, column) strides `ms`.
///
/// # Safety
/// `dst` must be valid for writes of (src.len() / (inner·cols))·rows·cols elements, and `ms`
/// must keep op(M) inside `m`.
unsafe fn each_slice<T: Real>(
    dst: *mut T,
    src: &[T],
    (rows, inner, cols): (usize, usize, usize),
    m: &[T],
    ms: (usize, usize),
) {
    let dst = SendPtr(dst);
    src.par_chunks(inner * cols).enumerate().for_each(|(s, x)| {
        let dst = &dst;
        // SAFETY: slice s of dst is this task's alone; the caller vouches for the bounds.
        unsafe {
            mm(
                rows,
                inner,
                cols,
                m.as_ptr(),
                ms,
                x.as_ptr(),
                cols,
                T::lit(0.0),
                dst.0.add(s * rows * cols),
                cols,
            )
        }
    });
}

/// Along H, the two parts (Re, Im) gathered: for every sample, `dst = Σ_p op(M_p) · src(p)`
/// (`rows × q`, written, never read), where src(p) is rows h (stride 2q) at column offset p·q
/// of the sample's `[H, 2q]` block of `src`, and op(M_p) (`rows × H`) starts at `offs[p]` in
/// `m` with strides `ms`. Samples in parallel.
///
/// # Safety
/// `dst` must be valid for writes of (src.len() / (2Hq))·rows·q elements, and `offs`/`ms` must
/// keep op(M_p) inside `m`.
unsafe fn gather_parts<T: Real>(
    dst: *mut T,
    src: &[T],
    (rows, h, q): (usize, usize, usize),
    m: &[T],
    offs: [usize; 2],
    ms: (usize, usize),
) {
    let dst = SendPtr(dst);
    src.par_chunks(h * 2 * q).enumerate().for_each(|(s, x)| {
        let dst = &dst;
        for (p, &off) in offs.iter().enumerate() {
            // SAFETY: sample s's block of dst is this task's alone (p = 0 writes it, p = 1
            // adds to it); the caller vouches for the bounds.
            unsafe {
                mm(
                    rows,
                    h,
                    q,
                    m.as_ptr().add(off),
                    ms,
                    x.as_ptr().add(p * q),
                    2 * q,
                    T::lit(p as f64),
                    dst.0.add(s * rows * q),
                    q,
                )
            }
        }
    });
}

/// The adjoint layout of [`gather_parts`]: for every sample and part p, rows h (stride 2q) at
/// column offset p·q of the sample's `[H, 2q]` block of `dst` = op(M_p) (`H × inner`, at
/// `offs[p]` in `m`, strides `ms`) · the sample's `inner × q` block of `src`. Every element of
/// `dst` is written, none read. Samples in parallel.
///
/// # Safety
/// `dst` must be valid for writes of (src.len() / (inner·q))·2Hq elements, and `offs`/`ms`
/// must keep op(M_p) inside `m`.
unsafe fn scatter_parts<T: Real>(
    dst: *mut T,
    src: &[T],
    (h, inner, q): (usize, usize, usize),
    m: &[T],
    offs: [usize; 2],
    ms: (usize, usize),
) {
    let dst = SendPtr(dst);
    src.par_chunks(inner * q).enumerate().for_each(|(s, x)| {
        let dst = &dst;
        for (p, &off) in offs.iter().enumerate() {
            // SAFETY: sample s's block of dst is this task's alone; the caller vouches for
            // the bounds.
            unsafe {
                mm(
                    h,
                    inner,
                    q,
                    m.as_ptr().add(off),
                    ms,
                    x.as_ptr(),
                    q,
                    T::lit(0.0),
                    dst.0.add(s * h * 2 * q + p * q),
                    2 * q,
                )
            }
        }
    });
}

impl SpectralConv2d {
    fn mix(&self) -> SpectralMix {
        SpectralMix {
            b: self.b,
            m: 2 * self.m1 * self.m2,
            c: self.c,
            co: self.co,
        }
    }

    /// (output, spectrum) for input `v` and weights `wr`, `wi`.
    fn forward<T: Real>(
        &self,
        v: &[T],
        wr: &[T],
        wi: &[T],
        mats: &[Vec<T>; 4],
    ) -> (Vec<T>, Vec<T>) {
        let (b, h, w, c, co, m1, m2) = (self.b, self.h, self.w, self.c, self.co, self.m1, self.m2);
        let [f1, f2, g2, g1] = mats;
        // 1. Along W: z1[b, h] = F₁ v[b, h]  ([2m₂, W]·[W, C]).
        let mut z1 = scratch::take::<T>(b * h * 2 * m2 * c);
        // SAFETY: z1 holds the B·H slices of 2m₂ × C.
        unsafe { each_slice(z1.as_mut_ptr(), v, (2 * m2, w, c), f1, (w, 1)) };
        // 2. Along H: y[b] = Σ_p F₂[:, pH..(p+1)H] · (rows h of part p of z1[b]).
        // SAFETY: the p = 0 products write every sample's 4m₁ × m₂C block of y.
        let y = unsafe {
            written_by(b * 4 * m1 * m2 * c, |yp: *mut T| {
                gather_parts(yp, &z1, (4 * m1, h, m2 * c), f2, [0, h], (2 * h, 1))
            })
        };
        scratch::give(z1);
        // 3. Mix the modes' channels: o [B, 2, M, C_out] = [B, 4m₁, m₂·C_out].
        let mut o = scratch::take::<T>(b * 4 * m1 * m2 * co);
        // SAFETY: o holds B·2·M·C_out elements.
        unsafe { self.mix().forward_into(&y, wr, wi, o.as_mut_ptr()) };
        // 4. Inverse along H, written transposed: z2[b, h, p·m₂C_out..] = G₂[pH.., :] · o[b].
        let mut z2 = scratch::take::<T>(b * h * 2 * m2 * co);
        // SAFETY: z2 holds B samples' H × 2m₂C_out blocks; G₂'s parts are its row blocks.
        unsafe {
            scatter_parts(
                z2.as_mut_ptr(),
                &o,
                (h, 4 * m1, m2 * co),
                g2,
                [0, h * 4 * m1],
                (4 * m1, 1),
            )
        };
        scratch::give(o);
        // 5. Inverse along W: out[b, h] = G₁ z2[b, h]  ([W, 2m₂]·[2m₂, C_out]).
        // SAFETY: the B·H slices' products tile all of out.
        let out = unsafe {
            written_by(b * h * w * co, |o: *mut T| {
                each_slice(o, &z2, (w, 2 * m2, co), g1, (2 * m2, 1))
            })
        };
        scratch::give(z2);
        (out, y)
    }

    /// (∂v, ∂R, ∂I) for the output gradient `g`, the cached spectrum `y` and the weights.
    fn backward<T: Real>(
        &self,
        g: &[T],
        y: &[T],
        wr: &[T],
        wi: &[T],
        mats: &[Vec<T>; 4],
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (b, h, w, c, co, m1, m2) = (self.b, self.h, self.w, self.c, self.co, self.m1, self.m2);
        let [f1, f2, g2, g1] = mats;
        // 5'. ∂z2[b, h] = G₁ᵀ g[b, h]  ([2m₂, W]·[W, C_out]).
        let mut dz2 = scratch::take::<T>(b * h * 2 * m2 * co);
        // SAFETY: dz2 holds the B·H slices of 2m₂ × C_out; G₁ᵀ is read through strides.
        unsafe { each_slice(dz2.as_mut_ptr(), g, (2 * m2, w, co), g1, (1, 2 * m2)) };
        // 4'. ∂o[b] = Σ_p G₂[pH.., :]ᵀ · (rows h of part p of ∂z2[b]).
        let mut dout = scratch::take::<T>(b * 4 * m1 * m2 * co);
        // SAFETY: dout holds B samples' 4m₁ × m₂C_out blocks; G₂ᵀ's parts through strides.
        unsafe {
            gather_parts(
                dout.as_mut_ptr(),
                &dz2,
                (4 * m1, h, m2 * co),
                g2,
                [0, h * 4 * m1],
                (1, 4 * m1),
            )
        };
        scratch::give(dz2);
        // 3'. The mixing's adjoints.
        let mix = self.mix();
        let mut dy = scratch::take::<T>(b * 4 * m1 * m2 * c);
        let (wlen, mut di) = (mix.m * c * co, Vec::new());
        // SAFETY: each buffer has the length backward_into writes in full.
        let dr = unsafe {
            written_by(wlen, |drp: *mut T| {
                di = written_by(wlen, |dip: *mut T| {
                    mix.backward_into(y, wr, wi, &dout, [dy.as_mut_ptr(), drp, dip])
                })
            })
        };
        scratch::give(dout);
        // 2'. ∂z1[b] (rows h of part p) = F₂[:, pH..(p+1)H]ᵀ · ∂y[b].
        let mut dz1 = scratch::take::<T>(b * h * 2 * m2 * c);
        // SAFETY: dz1 holds B samples' H × 2m₂C blocks; F₂ᵀ's parts through strides.
        unsafe {
            scatter_parts(
                dz1.as_mut_ptr(),
                &dy,
                (h, 4 * m1, m2 * c),
                f2,
                [0, h],
                (1, 2 * h),
            )
        };
        scratch::give(dy);
        // 1'. ∂v[b, h] = F₁ᵀ ∂z1[b, h]  ([W, 2m₂]·[2m₂, C]).
        // SAFETY: the B·H slices' products tile all of ∂v; F₁ᵀ is read through strides.
        let dv = unsafe {
            written_by(b * h * w * c, |d: *mut T| {
                each_slice(d, &dz1, (w, 2 * m2, c), f1, (1, w))
            })
        };
        scratch::give(dz1);
        (dv, dr, di)
    }
}

impl CustomOp3 for SpectralConv2d {
    fn name(&self) -> &'static str {
        "nabla-spectral-conv2d"
    }

    fn cpu_fwd(
        &self,
        sv: &CpuStorage,
        lv: &Layout,
        sr: &CpuStorage,
        lr: &Layout,
        si: &CpuStorage,
        li: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (out, y) = match &self.mats {
            Mats::F32(m) => {
                let (o, y) = self.forward::<f32>(
                    operand(sv, lv, "spectral_conv", "input")?,
                    operand(sr, lr, "spectral_conv", "real weights")?,
                    operand(si, li, "spectral_conv", "imaginary weights")?,
                    m,
                );
                (f32::storage(o), f32::storage(y))
            }
            Mats::F64(m) => {
                let (o, y) = self.forward::<f64>(
                    operand(sv, lv, "spectral_conv", "input")?,
                    operand(sr, lr, "spectral_conv", "real weights")?,
                    operand(si, li, "spectral_conv", "imaginary weights")?,
                    m,
                );
                (f64::storage(o), f64::storage(y))
            }
        };
        *self
            .y
            .lock()
            .map_err(|_| candle_core::Error::Msg("spectral_conv2d: poisoned cache".into()))? =
            Some(y);
        Ok((out, Shape::from((self.b, self.h, self.w, self.co))))
    }

    fn bwd(
        &self,
        v: &Tensor,
        real: &Tensor,
        imag: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let cache = self
            .y
            .lock()
            .map_err(|_| candle_core::Error::Msg("spectral_conv2d: poisoned cache".into()))?;
        let y = cache
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("spectral_conv2d: no forward pass".into()))?;
        let (sr, lr) = real.storage_and_layout();
        let (si, li) = imag.storage_and_layout();
        let (sg, lg) = grad.storage_and_layout();
        let (Storage::Cpu(sr), Storage::Cpu(si), Storage::Cpu(sg)) = (&*sr, &*si, &*sg) else {
            return Err(candle_core::Error::Msg(
                "spectral_conv2d: backward on the CPU only".into(),
            ));
        };
        let ylay = Layout::contiguous(self.b * 4 * self.m1 * self.m2 * self.c);
        let wshape = (2 * self.m1 * self.m2, self.c, self.co);
        let dev = v.device();
        macro_rules! go {
            ($t:ty, $m:expr) => {{
                let (dv, dr, di) = self.backward::<$t>(
                    operand(sg, lg, "spectral_conv", "gradient")?,
                    operand(y, &ylay, "spectral_conv", "kept spectrum")?,
                    operand(sr, lr, "spectral_conv", "real weights")?,
                    operand(si, li, "spectral_conv", "imaginary weights")?,
                    $m,
                );
                (
                    Tensor::from_vec(dv, v.shape(), dev)?,
                    Tensor::from_vec(dr, wshape, dev)?,
                    Tensor::from_vec(di, wshape, dev)?,
                )
            }};
        }
        let (dv, dr, di) = match &self.mats {
            Mats::F32(m) => go!(f32, m),
            Mats::F64(m) => go!(f64, m),
        };
        Ok((Some(dv), Some(dr), Some(di)))
    }
}
