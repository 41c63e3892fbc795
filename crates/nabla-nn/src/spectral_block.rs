//! The neural spectral block of a Latent Spectral Model as one fused CPU op with its own
//! backward pass.
//!
//! On channels-last features `x` `[B, H, W, C]` cut into `p × p` patches (`L = p²` positions;
//! H and W multiples of p), with `heads` heads of `dh = C / heads` channels, `T` latent tokens
//! per head and an `M`-term trigonometric basis, each patch and head computes
//! 1. *encode*: keys, values `[K | V] = X W_e + b_e` (`W_e` `[C, 2C]`, keys first); the latent
//!    tokens `Z₀` `[T, dh]` attend to the patch, `Z₁ = softmax(Z₀ Kᵀ) V + Z₀` (softmax over the
//!    L positions, no 1/√d scaling, as in the authors' code);
//! 2. *transition*: every latent value through its channel's learnable operator in the
//!    sin/cos basis, `Z₂ = Z₁ + Σ_{m<M} w_s[c, m] sin(π m Z₁ / M) + w_c[c, m] cos(π m Z₁ / M)`
//!    (basis weights `[C, 2M]`, sin weights first; [`crate::trig_basis`]);
//! 3. *decode*: queries `Q = X W_d + b_d` (`W_d` `[C, C]`) attend to the tokens,
//!    `Y = softmax(Q Z₂ᵀ) Z₂ + X` (softmax over the T tokens);
//!
//! channel `c = head · dh + j`. [`composed`] builds the same function from candle ops.
//!
//! Why fused: from candle ops a block is ~40 graph nodes — the patch permutations, the
//! per-head splits, two five-op softmaxes over score tensors twice the size of the features —
//! and candle's backward gives every node a zero-filled gradient buffer and an accumulation
//! pass. On a 64² LSM with 16 channels the blocks took 45 % of a training step. Here the work
//! goes block by block of patch rows (a few hundred pixels, cache-resident): one product for
//! the keys, values and queries, then the tiny per-patch attention in registers; nothing but
//! the output is stored. The backward pass recomputes the block's forward quantities and
//! returns all gradients from one pass; the parameter gradients are summed per task and the
//! task sums added in order (so a given thread count always gives the same bits).

use crate::fused::{gemm_product, Real};
use crate::op_util::{operand, unsupported_dtype};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Storage, Tensor, D};
use rayon::prelude::*;
use std::sync::Mutex;

/// The sizes of a neural spectral block besides the channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    /// Patch side p in grid cells.
    pub patch: usize,
    /// Attention heads (dividing the channels).
    pub heads: usize,
    /// Latent tokens T per head.
    pub tokens: usize,
    /// Trigonometric basis size M.
    pub basis: usize,
}

/// The parameters of one block (module docs for their roles).
pub struct BlockParams<'a> {
    /// Keys and values `W_e` `[C, 2C]` (keys in the first C columns).
    pub encode_weight: &'a Tensor,
    /// `b_e` `[2C]`.
    pub encode_bias: &'a Tensor,
    /// Queries `W_d` `[C, C]`.
    pub decode_weight: &'a Tensor,
    /// `b_d` `[C]`.
    pub decode_bias: &'a Tensor,
    /// Latent tokens `[heads, T, C / heads]`.
    pub latent: &'a Tensor,
    /// Basis weights `[C, 2M]`, sin then cos.
    pub basis: &'a Tensor,
}

/// Pixels per parallel task's block: whole patch rows up to about this many.
const BLOCK_PIXELS: usize = 256;

/// The neural spectral block on `x` `[B, H, W, C]` (module docs): `[B, H, W, C]`.
/// Differentiable in `x` and every parameter; fused on the CPU for f32/f64, candle ops
/// elsewhere.
///
/// With `keep_for_backward` the forward pass keeps each patch's attention weights and tokens
/// (`2·T·heads·L + 2·T·C` values per patch, about 1.5× the features at the LSM's sizes) so
/// the backward pass need not recompute them (training); without, nothing is kept and the
/// backward pass recomputes them (inference, or memory-bound training).
pub fn spectral_block(
    x: &Tensor,
    p: &BlockParams,
    s: BlockShape,
    keep_for_backward: bool,
) -> candle_core::Result<Tensor> {
    let (_, h, w, c) = x.dims4()?;
    check(h, w, c, p, s)?;
    let dtype = x.dtype();
    let same = [
        p.encode_weight,
        p.encode_bias,
        p.decode_weight,
        p.decode_bias,
        p.latent,
        p.basis,
    ]
    .iter()
    .all(|t| t.dtype() == dtype);
    if !(x.device().is_cpu() && same && matches!(dtype, DType::F32 | DType::F64)) {
        return composed(x, p, s);
    }
    let weights = Tensor::cat(&[p.encode_weight, p.decode_weight], 1)?;
    let small = Tensor::cat(
        &[
            p.encode_bias,
            p.decode_bias,
            &p.latent.flatten_all()?,
            &p.basis.flatten_all()?,
        ],
        0,
    )?;
    x.contiguous()?.apply_op3(
        &weights.contiguous()?,
        &small,
        Fused {
            shape: s,
            keep: keep_for_backward,
            kept: Mutex::new(None),
        },
    )
}

fn check(h: usize, w: usize, c: usize, p: &BlockParams, s: BlockShape) -> candle_core::Result<()> {
    let bad = |m: String| Err(candle_core::Error::Msg(format!("spectral_block: {m}")));
    if w == 0 || c == 0 {
        return bad(format!("features {h}×{w}×{c} have an empty axis"));
    }
    if s.patch == 0 || s.heads == 0 || s.tokens == 0 || s.basis == 0 {
        return bad(format!("{s:?}: every size must be ≥ 1"));
    }
    if !h.is_multiple_of(s.patch) || !w.is_multiple_of(s.patch) {
        return bad(format!(
            "grid {h}×{w} is not whole {0}×{0} patches",
            s.patch
        ));
    }
    if !c.is_multiple_of(s.heads) {
        return bad(format!("{c} channels do not split into {} heads", s.heads));
    }
    let expect: [(&Tensor, Vec<usize>, &str); 6] = [
        (p.encode_weight, vec![c, 2 * c], "encode weight"),
        (p.encode_bias, vec![2 * c], "encode bias"),
        (p.decode_weight, vec![c, c], "decode weight"),
        (p.decode_bias, vec![c], "decode bias"),
        (
            p.latent,
            vec![s.heads, s.tokens, c / s.heads],
            "latent tokens",
        ),
        (p.basis, vec![c, 2 * s.basis], "basis weights"),
    ];
    for (t, dims, what) in expect {
        if t.dims() != dims.as_slice() {
            return bad(format!("{what} {:?}, expected {dims:?}", t.dims()));
        }
    }
    Ok(())
}

/// Softmax over the last axis, from differentiable candle ops (max-shifted).
fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&sum)
}

fn dense(x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let (rows, l, c) = x.dims3()?;
    x.reshape((rows * l, c))?
        .matmul(weight)?
        .broadcast_add(bias)?
        .reshape((rows, l, weight.dim(1)?))
}

/// The same block from candle ops (any device): the reference the fused op is tested against.
pub fn composed(x: &Tensor, p: &BlockParams, s: BlockShape) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    check(h, w, c, p, s)?;
    let (heads, t, ps) = (s.heads, s.tokens, s.patch);
    let dh = c / heads;
    let (nh, nw) = (h / ps, w / ps);
    let np = b * nh * nw;
    let l = ps * ps;
    // Patchify: [B, nh, p, nw, p, C] → [B·nh·nw, p·p, C].
    let tokens = x
        .reshape((b, nh, ps, nw, ps, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((np, l, c))?;
    let kv = dense(&tokens, p.encode_weight, p.encode_bias)?;
    let split = |z: Tensor| -> candle_core::Result<Tensor> {
        z.reshape((np, l, heads, dh))?.transpose(1, 2)?.contiguous()
    };
    let k = split(kv.narrow(2, 0, c)?)?;
    let v = split(kv.narrow(2, c, c)?)?;
    let latent = p
        .latent
        .unsqueeze(0)?
        .broadcast_as((np, heads, t, dh))?
        .contiguous()?;
    let scores = latent.matmul(&k.transpose(2, 3)?.contiguous()?)?;
    let z = (softmax_last(&scores)?.matmul(&v)? + &latent)?;
    let z = crate::trig_basis::composed(
        &z.transpose(1, 2)?.contiguous()?.reshape((np * t, c))?,
        p.basis,
    )?
    .reshape((np, t, heads, dh))?
    .transpose(1, 2)?
    .contiguous()?;
    let q = split(dense(&tokens, p.decode_weight, p.decode_bias)?)?;
    let scores = q.matmul(&z.transpose(2, 3)?.contiguous()?)?;
    let y = softmax_last(&scores)?.matmul(&z)?;
    let y = (y.transpose(1, 2)?.contiguous()?.reshape((np, l, c))? + &tokens)?;
    y.reshape((b, nh, nw, ps, ps, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, h, w, c))
}

/// Sizes of one call.
#[derive(Clone, Copy)]
struct Geometry {
    w: usize,
    c: usize,
    p: usize,
    heads: usize,
    t: usize,
    m: usize,
    dh: usize,
    l: usize,
    /// Grid rows per block (whole patch rows).
    rows: usize,
}

impl Geometry {
    fn new(dims: &[usize], s: BlockShape) -> Self {
        let (w, c) = (dims[2], dims[3]);
        let patch_rows = (BLOCK_PIXELS / (s.patch * w).max(1)).max(1);
        Geometry {
            w,
            c,
            p: s.patch,
            heads: s.heads,
            t: s.tokens,
            m: s.basis,
            dh: c / s.heads,
            l: s.patch * s.patch,
            rows: patch_rows * s.patch,
        }
    }

    fn block_len(&self) -> usize {
        self.rows * self.w * self.c
    }

    /// Offsets of the packed small parameters: biases (keys, values, queries), latent tokens,
    /// basis weights.
    fn latent_at(&self) -> usize {
        3 * self.c
    }

    fn basis_at(&self) -> usize {
        3 * self.c + self.heads * self.t * self.dh
    }

    fn small_len(&self) -> usize {
        self.basis_at() + self.c * 2 * self.m
    }

    /// Values kept per patch for the backward pass: `a`, `z1`, `z2`, `a2` of [`PatchWork`].
    fn record_len(&self) -> usize {
        2 * self.t * self.heads * self.l + 2 * self.t * self.c
    }

    /// Patches in a full block.
    fn patches_per_block(&self) -> usize {
        (self.rows / self.p) * (self.w / self.p)
    }
}

/// One patch's working arrays, channel-flat: channel `c = head·dh + j` is contiguous across
/// heads, so every loop over channels runs the full width C (vectorizes) and per-head
/// quantities are segment sums over runs of dh channels.
struct PatchWork<T> {
    /// Block-local pixel rows of the patch, position-major.
    pix: Vec<usize>,
    /// Latent tokens `[T][C]` (from the `[heads, T, dh]` parameter layout).
    z0: Vec<T>,
    /// Encoder attention `[T][heads][L]`.
    a: Vec<T>,
    /// Tokens after attention and after the transition `[T][C]`.
    z1: Vec<T>,
    z2: Vec<T>,
    /// Decoder attention `[L][heads][T]`.
    a2: Vec<T>,
    /// Gradients of z2 and z1 `[T][C]`, of the latent tokens `[T][C]` (f64, summed over the
    /// task's patches), scratch `[C]` and score gradients `[heads][max(L, T)]`.
    dz2: Vec<T>,
    dz1: Vec<T>,
    dz0: Vec<f64>,
    prod: Vec<T>,
    ds: Vec<T>,
}

impl<T: Real + PartialOrd> PatchWork<T> {
    fn new(g: &Geometry, small: &[T]) -> Self {
        let (c, t, dh) = (g.c, g.t, g.dh);
        let mut z0 = vec![T::default(); t * c];
        for h in 0..g.heads {
            for ti in 0..t {
                for j in 0..dh {
                    z0[ti * c + h * dh + j] = small[g.latent_at() + (h * t + ti) * dh + j];
                }
            }
        }
        PatchWork {
            pix: Vec::with_capacity(g.l),
            z0,
            a: vec![T::default(); t * g.heads * g.l],
            z1: vec![T::default(); t * c],
            z2: vec![T::default(); t * c],
            a2: vec![T::default(); g.l * g.heads * t],
            dz2: vec![T::default(); t * c],
            dz1: vec![T::default(); t * c],
            dz0: vec![0.0; t * c],
            prod: vec![T::default(); c],
            ds: vec![T::default(); g.heads * g.l.max(t)],
        }
    }
}

impl<T: Copy> PatchWork<T> {
    /// Copies the patch's forward quantities into `rec` (`record_len` values).
    fn save(&self, rec: &mut [T]) {
        let mut at = 0;
        for part in [&self.a, &self.z1, &self.z2, &self.a2] {
            rec[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
    }

    /// Restores the patch's forward quantities from `rec`.
    fn load(&mut self, rec: &[T]) {
        let mut at = 0;
        for part in [&mut self.a, &mut self.z1, &mut self.z2, &mut self.a2] {
            let n = part.len();
            part.copy_from_slice(&rec[at..at + n]);
            at += n;
        }
    }
}

/// The channels per head: the compile-time `DH` where the block was instantiated for it (the
/// per-head loops then unroll; the LSM's heads have 2 to 32 channels), else the run-time one.
#[inline(always)]
fn head_width<const DH: usize>(g: &Geometry) -> usize {
    if DH == 0 {
        g.dh
    } else {
        DH
    }
}

/// Calls `$f::<T, DH>` with DH = the geometry's head width where it is one of the
/// instantiated sizes, else DH = 0 (run-time width).
macro_rules! by_head_width {
    ($g:expr, $f:ident :: <$t:ty>, $($arg:expr),*) => {
        match $g.dh {
            2 => $f::<$t, 2>($($arg),*),
            4 => $f::<$t, 4>($($arg),*),
            8 => $f::<$t, 8>($($arg),*),
            16 => $f::<$t, 16>($($arg),*),
            32 => $f::<$t, 32>($($arg),*),
            _ => $f::<$t, 0>($($arg),*),
        }
    };
}

/// `out[h·stride] = Σ_{j<dh} a[h·dh + j]·b[h·dh + j]` for every head h.
#[inline(always)]
fn head_dots<T: Real>(a: &[T], b: &[T], dh: usize, prod: &mut [T], out: &mut [T], stride: usize) {
    prod.iter_mut()
        .zip(a.iter().zip(b))
        .for_each(|(p, (&x, &y))| *p = x * y);
    for (h, run) in prod.chunks_exact(dh).enumerate() {
        let mut s = T::default();
        for &v in run {
            s += v;
        }
        out[h * stride] = s;
    }
}

/// `y[h·dh + j] += w[h·stride]·x[h·dh + j]` for every head h.
#[inline(always)]
fn head_axpy<T: Real>(w: &[T], stride: usize, x: &[T], y: &mut [T], dh: usize) {
    for (h, (yr, xr)) in y.chunks_exact_mut(dh).zip(x.chunks_exact(dh)).enumerate() {
        let wh = w[h * stride];
        yr.iter_mut().zip(xr).for_each(|(o, &v)| *o += wh * v);
    }
}

/// `v ← softmax(v)` (max-shifted), in the features' precision.
fn softmax_in_place<T: Real + PartialOrd>(v: &mut [T]) {
    let mut max = v[0];
    for &x in &v[1..] {
        if x > max {
            max = x;
        }
    }
    let mut sum = T::default();
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let inv = T::lit(1.0 / sum.to_f64());
    v.iter_mut().for_each(|x| *x *= inv);
}

/// `proj = X [W_e | W_d] + [b_e | b_d]` for the `n` pixels of a block.
fn project<T: Real>(g: &Geometry, x: &[T], weights: &[T], small: &[T], proj: &mut Vec<T>) {
    let (n, c3) = (x.len() / g.c, 3 * g.c);
    proj.resize(n * c3, T::default());
    // SAFETY: x is n×C, weights C×3C, proj n×3C, all row-major.
    unsafe {
        gemm_product(
            n,
            g.c,
            c3,
            x.as_ptr(),
            g.c as isize,
            1,
            weights.as_ptr(),
            c3 as isize,
            1,
            proj.as_mut_ptr(),
            c3 as isize,
        );
    }
    for row in proj.chunks_exact_mut(c3) {
        row.iter_mut().zip(&small[..c3]).for_each(|(v, &b)| *v += b);
    }
}

/// Fills `pw.pix` with the block-local pixel rows of patch `pj` in patch row `pr`.
fn patch_pixels<T>(g: &Geometry, pr: usize, pj: usize, pw: &mut PatchWork<T>) {
    pw.pix.clear();
    for di in 0..g.p {
        for dj in 0..g.p {
            pw.pix.push((pr * g.p + di) * g.w + pj * g.p + dj);
        }
    }
}

/// Encode, transition and decoder attention of one patch: fills `a`, `z1`, `z2`, `a2`.
#[inline(always)]
fn patch_forward<T: Real + PartialOrd, const DH: usize>(
    g: &Geometry,
    proj: &[T],
    small: &[T],
    pw: &mut PatchWork<T>,
) {
    let (c, c3, dh, l, t, heads) = (g.c, 3 * g.c, head_width::<DH>(g), g.l, g.t, g.heads);
    let PatchWork {
        pix,
        z0,
        a,
        z1,
        z2,
        a2,
        prod,
        ..
    } = pw;
    // Encoder scores a[t][h][l] = z0[t]·K[l] per head, softmax over l.
    for (li, &px) in pix.iter().enumerate() {
        let k = &proj[px * c3..][..c];
        for ti in 0..t {
            let out = &mut a[ti * heads * l + li..];
            head_dots(&z0[ti * c..(ti + 1) * c], k, dh, prod, out, l);
        }
    }
    a.chunks_exact_mut(l).for_each(softmax_in_place);
    // z1[t] = z0[t] + Σ_l a[t][h(c)][l] V[l].
    z1.copy_from_slice(z0);
    for (li, &px) in pix.iter().enumerate() {
        let v = &proj[px * c3 + c..][..c];
        for ti in 0..t {
            head_axpy(
                &a[ti * heads * l + li..],
                l,
                v,
                &mut z1[ti * c..(ti + 1) * c],
                dh,
            );
        }
    }
    // Transition.
    let basis = &small[g.basis_at()..];
    for ti in 0..t {
        for ch in 0..c {
            let wc = &basis[ch * 2 * g.m..(ch + 1) * 2 * g.m];
            let z = z1[ti * c + ch].to_f64();
            let mut acc = z;
            crate::trig_basis::harmonics(z, g.m, |k, s, co| {
                acc += wc[k].to_f64() * s + wc[g.m + k].to_f64() * co;
            });
            z2[ti * c + ch] = T::lit(acc);
        }
    }
    // Decoder scores a2[l][h][t] = Q[l]·z2[t] per head, softmax over t.
    for (li, &px) in pix.iter().enumerate() {
        let q = &proj[px * c3 + 2 * c..][..c];
        for ti in 0..t {
            let out = &mut a2[li * heads * t + ti..];
            head_dots(q, &z2[ti * c..(ti + 1) * c], dh, prod, out, t);
        }
    }
    a2.chunks_exact_mut(t).for_each(softmax_in_place);
}

/// `y = block(x)` for one block of whole patch rows.
#[allow(clippy::too_many_arguments)]
fn forward_block<T: Real + PartialOrd, const DH: usize>(
    g: &Geometry,
    x: &[T],
    weights: &[T],
    small: &[T],
    y: &mut [T],
    proj: &mut Vec<T>,
    pw: &mut PatchWork<T>,
    mut keep: Option<&mut [T]>,
) {
    project(g, x, weights, small, proj);
    y.copy_from_slice(x);
    let (c, dh, t, heads) = (g.c, head_width::<DH>(g), g.t, g.heads);
    for pr in 0..x.len() / (g.p * g.w * c) {
        for pj in 0..g.w / g.p {
            patch_pixels(g, pr, pj, pw);
            patch_forward::<T, DH>(g, proj, small, pw);
            if let Some(records) = keep.as_deref_mut() {
                let k = pr * (g.w / g.p) + pj;
                pw.save(&mut records[k * g.record_len()..(k + 1) * g.record_len()]);
            }
            for (li, &px) in pw.pix.iter().enumerate() {
                let out = &mut y[px * c..(px + 1) * c];
                for ti in 0..t {
                    let w = &pw.a2[li * heads * t + ti..];
                    head_axpy(w, t, &pw.z2[ti * c..(ti + 1) * c], out, dh);
                }
            }
        }
    }
}

/// One block's backward: `dx` (written), parameter gradients added to `dweights` `[C, 3C]`,
/// the biases' and basis weights' to `dsmall` (the latent tokens' to `pw.dz0`).
#[allow(clippy::too_many_arguments)]
fn backward_block<T: Real + PartialOrd, const DH: usize>(
    g: &Geometry,
    x: &[T],
    gy: &[T],
    weights: &[T],
    small: &[T],
    dx: &mut [T],
    dweights: &mut [T],
    dsmall: &mut [f64],
    proj: &mut Vec<T>,
    dproj: &mut Vec<T>,
    pw: &mut PatchWork<T>,
    kept: Option<&[T]>,
) {
    project(g, x, weights, small, proj);
    let (c, c3, dh, l, t, m, heads) = (g.c, 3 * g.c, head_width::<DH>(g), g.l, g.t, g.m, g.heads);
    let n = x.len() / c;
    dproj.clear();
    dproj.resize(n * c3, T::default());
    let basis = &small[g.basis_at()..];
    let step = std::f64::consts::PI / m as f64;
    for pr in 0..n / (g.p * g.w) {
        for pj in 0..g.w / g.p {
            patch_pixels(g, pr, pj, pw);
            match kept {
                Some(records) => {
                    let k = pr * (g.w / g.p) + pj;
                    pw.load(&records[k * g.record_len()..(k + 1) * g.record_len()]);
                }
                None => patch_forward::<T, DH>(g, proj, small, pw),
            }
            let PatchWork {
                pix,
                z0,
                a,
                z1,
                z2,
                a2,
                dz2,
                dz1,
                dz0,
                prod,
                ds: scores,
            } = &mut *pw;
            // Decode backward: da2[l][h][t] = gy[l]·z2[t] per head; dz2 += a2 gy;
            // ds2 = a2 (da2 − Σ_t a2 da2); dQ[l] = Σ_t ds2 z2[t]; dz2[t] += ds2 Q[l].
            dz2.iter_mut().for_each(|v| *v = T::default());
            for (li, &px) in pix.iter().enumerate() {
                let gyl = &gy[px * c..(px + 1) * c];
                let a2l = &a2[li * heads * t..(li + 1) * heads * t];
                let ds2 = &mut scores[..heads * t];
                for ti in 0..t {
                    head_dots(gyl, &z2[ti * c..(ti + 1) * c], dh, prod, &mut ds2[ti..], t);
                    head_axpy(&a2l[ti..], t, gyl, &mut dz2[ti * c..(ti + 1) * c], dh);
                }
                for (row, arow) in ds2.chunks_exact_mut(t).zip(a2l.chunks_exact(t)) {
                    let mut dot = T::default();
                    for (&d, &p) in row.iter().zip(arow) {
                        dot += d * p;
                    }
                    row.iter_mut()
                        .zip(arow)
                        .for_each(|(d, &p)| *d = p * (*d - dot));
                }
                let q = &proj[px * c3 + 2 * c..][..c];
                let dq = &mut dproj[px * c3 + 2 * c..][..c];
                for ti in 0..t {
                    head_axpy(&ds2[ti..], t, &z2[ti * c..(ti + 1) * c], dq, dh);
                    head_axpy(&ds2[ti..], t, q, &mut dz2[ti * c..(ti + 1) * c], dh);
                }
            }
            // Transition backward.
            for ti in 0..t {
                for ch in 0..c {
                    let wc = &basis[ch * 2 * m..(ch + 1) * 2 * m];
                    let db = &mut dsmall[g.basis_at() + ch * 2 * m..][..2 * m];
                    let (z, gz) = (z1[ti * c + ch].to_f64(), dz2[ti * c + ch].to_f64());
                    let mut slope = 1.0;
                    crate::trig_basis::harmonics(z, m, |k, s, co| {
                        let f = step * k as f64;
                        slope += f * (wc[k].to_f64() * co - wc[m + k].to_f64() * s);
                        db[k] += gz * s;
                        db[m + k] += gz * co;
                    });
                    dz1[ti * c + ch] = T::lit(gz * slope);
                }
            }
            // Encode backward: da[t][h][l] = dz1[t]·V[l] per head; dV[l] += a dz1[t];
            // ds = a (da − Σ_l a da); dz0[t] = dz1[t] + Σ_l ds K[l]; dK[l] += ds z0[t].
            dz0.iter_mut()
                .zip(dz1.iter())
                .for_each(|(o, &d)| *o += d.to_f64());
            for ti in 0..t {
                let dz1t = &dz1[ti * c..(ti + 1) * c];
                let at = &a[ti * heads * l..(ti + 1) * heads * l];
                let ds = &mut scores[..heads * l];
                for (li, &px) in pix.iter().enumerate() {
                    let v = &proj[px * c3 + c..][..c];
                    head_dots(dz1t, v, dh, prod, &mut ds[li..], l);
                    let dv = &mut dproj[px * c3 + c..][..c];
                    head_axpy(&at[li..], l, dz1t, dv, dh);
                }
                for (row, arow) in ds.chunks_exact_mut(l).zip(at.chunks_exact(l)) {
                    let mut dot = T::default();
                    for (&d, &p) in row.iter().zip(arow) {
                        dot += d * p;
                    }
                    row.iter_mut()
                        .zip(arow)
                        .for_each(|(d, &p)| *d = p * (*d - dot));
                }
                let z0t = &z0[ti * c..(ti + 1) * c];
                let dz0t = &mut prod[..];
                dz0t.iter_mut().for_each(|v| *v = T::default());
                for (li, &px) in pix.iter().enumerate() {
                    let k = &proj[px * c3..][..c];
                    head_axpy(&ds[li..], l, k, dz0t, dh);
                    let dk = &mut dproj[px * c3..][..c];
                    head_axpy(&ds[li..], l, z0t, dk, dh);
                }
                dz0[ti * c..(ti + 1) * c]
                    .iter_mut()
                    .zip(dz0t.iter())
                    .for_each(|(o, &d)| *o += d.to_f64());
            }
        }
    }
    // Biases: column sums of dproj.
    for row in dproj.chunks_exact(c3) {
        dsmall[..c3]
            .iter_mut()
            .zip(row)
            .for_each(|(o, &v)| *o += v.to_f64());
    }
    // SAFETY: xᵀ is C×n (row stride 1, column stride C), dproj n×3C, dweights C×3C; then
    // dx (n×C) = gy + dproj (n×3C) · weightsᵀ (3C×C: row stride 1, column stride 3C).
    unsafe {
        T::gemm(
            c,
            n,
            c3,
            x.as_ptr(),
            1,
            c as isize,
            dproj.as_ptr(),
            c3 as isize,
            1,
            T::lit(1.0),
            dweights.as_mut_ptr(),
            c3 as isize,
            1,
        );
        dx.copy_from_slice(gy);
        T::gemm(
            n,
            c3,
            c,
            dproj.as_ptr(),
            c3 as isize,
            1,
            weights.as_ptr(),
            1,
            c3 as isize,
            T::lit(1.0),
            dx.as_mut_ptr(),
            c as isize,
            1,
        );
    }
}

struct Fused {
    shape: BlockShape,
    /// Whether the forward pass keeps its per-patch quantities for the backward pass.
    keep: bool,
    /// What it kept (taken by the first backward pass; a second one recomputes).
    kept: Mutex<Option<CpuStorage>>,
}

/// `y`, and with `keep` the per-patch records (`record_len` values per patch, patch order).
fn forward<T: Real + PartialOrd>(
    g: &Geometry,
    x: &[T],
    weights: &[T],
    small: &[T],
    keep: bool,
) -> (Vec<T>, Option<Vec<T>>) {
    let mut y = vec![T::default(); x.len()];
    let init = || (Vec::new(), PatchWork::new(g, small));
    if keep {
        let patches = x.len() / (g.l * g.c);
        let per_block = g.patches_per_block() * g.record_len();
        let mut records = vec![T::default(); patches * g.record_len()];
        y.par_chunks_mut(g.block_len())
            .zip(x.par_chunks(g.block_len()))
            .zip(records.par_chunks_mut(per_block))
            .for_each_init(init, |(proj, pw), ((yb, xb), rb)| {
                by_head_width!(
                    g,
                    forward_block::<T>,
                    g,
                    xb,
                    weights,
                    small,
                    yb,
                    proj,
                    pw,
                    Some(rb)
                )
            });
        (y, Some(records))
    } else {
        y.par_chunks_mut(g.block_len())
            .zip(x.par_chunks(g.block_len()))
            .for_each_init(init, |(proj, pw), (yb, xb)| {
                by_head_width!(
                    g,
                    forward_block::<T>,
                    g,
                    xb,
                    weights,
                    small,
                    yb,
                    proj,
                    pw,
                    None
                )
            });
        (y, None)
    }
}

/// `(dx, dweights, dsmall)`: blocks split into one contiguous range per thread.
fn backward<T: Real + PartialOrd>(
    g: &Geometry,
    x: &[T],
    gy: &[T],
    weights: &[T],
    small: &[T],
    kept: Option<&[T]>,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let per_block = g.patches_per_block() * g.record_len();
    let blocks = x.len().div_ceil(g.block_len()).max(1);
    let tasks = rayon::current_num_threads().clamp(1, blocks);
    let per_task = blocks.div_ceil(tasks) * g.block_len();
    let mut dx = vec![T::default(); x.len()];
    let partial: Vec<(Vec<T>, Vec<f64>)> = dx
        .par_chunks_mut(per_task)
        .enumerate()
        .map(|(task, dxt)| {
            let start = task * per_task;
            let mut dweights = vec![T::default(); 3 * g.c * g.c];
            let mut dsmall = vec![0f64; g.small_len()];
            let (mut proj, mut dproj) = (Vec::new(), Vec::new());
            let mut pw = PatchWork::new(g, small);
            for (i, dxb) in dxt.chunks_mut(g.block_len()).enumerate() {
                let at = start + i * g.block_len();
                let end = at + dxb.len();
                let block = at / g.block_len();
                let records = kept.map(|r| {
                    let patches = dxb.len() / (g.l * g.c);
                    &r[block * per_block..block * per_block + patches * g.record_len()]
                });
                by_head_width!(
                    g,
                    backward_block::<T>,
                    g,
                    &x[at..end],
                    &gy[at..end],
                    weights,
                    small,
                    dxb,
                    &mut dweights,
                    &mut dsmall,
                    &mut proj,
                    &mut dproj,
                    &mut pw,
                    records
                );
            }
            // The latent tokens' gradient back to the [heads, T, dh] layout.
            for h in 0..g.heads {
                for ti in 0..g.t {
                    for j in 0..g.dh {
                        dsmall[g.latent_at() + (h * g.t + ti) * g.dh + j] +=
                            pw.dz0[ti * g.c + h * g.dh + j];
                    }
                }
            }
            (dweights, dsmall)
        })
        .collect();
    let mut dweights = vec![T::default(); 3 * g.c * g.c];
    let mut dsmall = vec![0f64; g.small_len()];
    for (dw, ds) in partial {
        dweights.iter_mut().zip(&dw).for_each(|(a, &b)| *a += b);
        dsmall.iter_mut().zip(&ds).for_each(|(a, &b)| *a += b);
    }
    (dx, dweights, dsmall.into_iter().map(T::lit).collect())
}

impl CustomOp3 for Fused {
    fn name(&self) -> &'static str {
        "nabla-spectral-block"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        ss: &CpuStorage,
        ls: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = Geometry::new(lx.shape().dims(), self.shape);
        macro_rules! run {
            ($t:ty) => {{
                let x = operand::<$t>(sx, lx, "spectral_block", "x")?;
                let w = operand::<$t>(sw, lw, "spectral_block", "weights")?;
                let s = operand::<$t>(ss, ls, "spectral_block", "parameters")?;
                let (y, records) = forward(&g, x, w, s, self.keep);
                if let Some(records) = records {
                    if let Ok(mut kept) = self.kept.lock() {
                        *kept = Some(<$t>::storage(records));
                    }
                }
                <$t>::storage(y)
            }};
        }
        let out = match sx {
            CpuStorage::F32(_) => run!(f32),
            CpuStorage::F64(_) => run!(f64),
            _ => return Err(candle_core::Error::Msg("spectral_block: f32 or f64".into())),
        };
        Ok((out, lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weights: &Tensor,
        small: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let g = Geometry::new(x.dims(), self.shape);
        let (sg, lg) = grad.storage_and_layout();
        let (sx, lx) = x.storage_and_layout();
        let (sw, lw) = weights.storage_and_layout();
        let (ss, ls) = small.storage_and_layout();
        let (Storage::Cpu(sg), Storage::Cpu(sx), Storage::Cpu(sw), Storage::Cpu(ss)) =
            (&*sg, &*sx, &*sw, &*ss)
        else {
            return Err(candle_core::Error::Msg(
                "spectral_block: backward on the CPU only".into(),
            ));
        };
        let dev = x.device();
        let kept = self.kept.lock().ok().and_then(|mut k| k.take());
        macro_rules! run {
            ($t:ty) => {{
                let gv = operand::<$t>(sg, lg, "spectral_block", "grad")?;
                let xv = operand::<$t>(sx, lx, "spectral_block", "x")?;
                let wv = operand::<$t>(sw, lw, "spectral_block", "weights")?;
                let sv = operand::<$t>(ss, ls, "spectral_block", "parameters")?;
                let records = kept.as_ref().and_then(|k| <$t>::slice(k));
                let (dx, dw, ds) = backward(&g, xv, gv, wv, sv, records);
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dw, weights.shape(), dev)?,
                    Tensor::from_vec(ds, small.shape(), dev)?,
                )
            }};
        }
        let (dx, dw, ds) = match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            other => return Err(unsupported_dtype("spectral_block", other)),
        };
        Ok((Some(dx), Some(dw), Some(ds)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op_util::max_diff;
    use candle_core::{Device, Var};

    struct Case {
        vars: Vec<Var>,
    }

    impl Case {
        fn new(c: usize, s: BlockShape, dtype: DType) -> Self {
            let d = Device::Cpu;
            let dh = c / s.heads;
            let shapes: [Vec<usize>; 6] = [
                vec![c, 2 * c],
                vec![2 * c],
                vec![c, c],
                vec![c],
                vec![s.heads, s.tokens, dh],
                vec![c, 2 * s.basis],
            ];
            let vars = shapes
                .iter()
                .map(|sh| {
                    let t = (Tensor::randn(0f64, 0.7, sh.as_slice(), &d).unwrap())
                        .to_dtype(dtype)
                        .unwrap();
                    Var::from_tensor(&t).unwrap()
                })
                .collect();
            Case { vars }
        }

        fn params(&self) -> BlockParams<'_> {
            BlockParams {
                encode_weight: self.vars[0].as_tensor(),
                encode_bias: self.vars[1].as_tensor(),
                decode_weight: self.vars[2].as_tensor(),
                decode_bias: self.vars[3].as_tensor(),
                latent: self.vars[4].as_tensor(),
                basis: self.vars[5].as_tensor(),
            }
        }
    }

    /// The fused block equals the candle-op composition in value and in the gradients of
    /// the input and all six parameters, on shapes with one patch, several blocks per image,
    /// patch rows that do not fill a block, several images, and head widths instantiated at
    /// compile time and not.
    #[test]
    fn fused_matches_the_composition_values_and_gradients() {
        let d = Device::Cpu;
        let shape = |patch, heads, tokens, basis| BlockShape {
            patch,
            heads,
            tokens,
            basis,
        };
        // (B, H, W, C, shape): head widths 2, 4 and 8 (compile-time instantiations) and 3
        // (run-time).
        let cases = [
            (1, 2, 2, 4, shape(2, 2, 3, 4)),
            (2, 8, 12, 6, shape(4, 3, 4, 5)),
            (3, 6, 90, 2, shape(3, 1, 2, 3)),
            (2, 4, 8, 12, shape(2, 4, 2, 3)),
            (1, 4, 4, 8, shape(2, 2, 3, 2)),
            (1, 2, 4, 16, shape(2, 2, 2, 2)),
        ];
        // Both backward paths: from the kept attention and recomputing it.
        for ((b, h, w, c, s), keep) in cases.into_iter().flat_map(|k| [(k, true), (k, false)]) {
            let case = Case::new(c, s, DType::F64);
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, h, w, c), &d).unwrap()).unwrap();
            let probe = Tensor::randn(0f64, 1.0, (b, h, w, c), &d).unwrap();
            let fused = spectral_block(x.as_tensor(), &case.params(), s, keep).unwrap();
            let reference = composed(x.as_tensor(), &case.params(), s).unwrap();
            assert!(max_diff(&fused, &reference) < 1e-12, "values {s:?}");
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
            for (i, v) in std::iter::once(&x).chain(&case.vars).enumerate() {
                let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                let scale = 1.0
                    + r.abs()
                        .unwrap()
                        .max_all()
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap();
                assert!(
                    max_diff(a, r) < 1e-10 * scale,
                    "gradient {i} {s:?} keep {keep}"
                );
            }
        }
    }

    /// f32 agrees with f64 to single precision (kept attention on the f32 side).
    #[test]
    fn f32_agrees_with_f64() {
        let d = Device::Cpu;
        let s = BlockShape {
            patch: 4,
            heads: 8,
            tokens: 4,
            basis: 12,
        };
        let case = Case::new(16, s, DType::F64);
        let x = Tensor::randn(0f64, 1.0, (2, 8, 16, 16), &d).unwrap();
        let y64 = spectral_block(&x, &case.params(), s, false).unwrap();
        let single = Case {
            vars: case
                .vars
                .iter()
                .map(|v| Var::from_tensor(&v.as_tensor().to_dtype(DType::F32).unwrap()).unwrap())
                .collect(),
        };
        let y32 =
            spectral_block(&x.to_dtype(DType::F32).unwrap(), &single.params(), s, true).unwrap();
        let scale = y64
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        // Scores of these random weights reach O(10), where f32's exp and sums lose a few ulp
        // more than the rest (measured 3e-6 to 1e-5 of the scale).
        let rel = max_diff(&y32.to_dtype(DType::F64).unwrap(), &y64) / scale;
        assert!(rel < 5e-5, "{rel:e}");
    }

    #[test]
    fn a_grid_that_is_not_whole_patches_is_an_error() {
        let d = Device::Cpu;
        let s = BlockShape {
            patch: 4,
            heads: 2,
            tokens: 2,
            basis: 3,
        };
        let case = Case::new(4, s, DType::F32);
        let x = Tensor::zeros((1, 6, 8, 4), DType::F32, &d).unwrap();
        let e = spectral_block(&x, &case.params(), s, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not whole 4×4 patches"), "{e}");
    }
}
