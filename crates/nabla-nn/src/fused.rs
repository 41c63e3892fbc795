//! The Taylor-mode jet of an MLP as one fused CPU operation (a candle custom op with its own
//! backward pass), used by [`crate::Mlp::jet`] on the CPU.
//!
//! Why: built from candle's generic ops, a jet is ~30 elementwise kernels per layer, each
//! single-threaded and allocating, and candle's autograd records every one of them. Here a
//! layer is three matrix products (forward, weight gradient, input gradient) over all points
//! *and* directions at once plus the activation's jet rules, and each direction of the pass is
//! one parallel region: a point's rows meet other points' only in the weight gradients, so each
//! thread takes a block of points through every layer, and the per-block gradient shares are
//! summed in block order at the end. Working buffers are recycled between steps
//! (`crate::scratch`). On x86-64 with AVX-512 the products of the hidden layers run in
//! `crate::skinny`'s packing-free kernel and the activation rules are compiled for AVX-512
//! (elsewhere: `matrixmultiply` and the baseline target). (Keeping σ', σ'', σ‴ from the
//! forward pass instead of recomputing them in the backward measured no faster.)
//!
//! Layout: for `n` points and `K` directions (the first `k` of them also second-order), every
//! layer's state is a row-major matrix of `n·B` rows, `B = 1 + K + k`, point-major: for point
//! `i`, row `i·B` is the value h, rows `i·B + 1 + j` the derivatives ∂ⱼh, rows `i·B + 1 + K + j`
//! the second derivatives ∂ⱼ²h. An affine layer maps every row through W (the bias only the
//! value rows); an activation mixes the rows of a point:
//! a = σ(z), ∂a = σ'(z)∂z, ∂²a = σ''(z)(∂z)² + σ'(z)∂²z.
//! With `sum_second` (a Laplacian is all the caller needs) one row carries Σⱼ<ₖ ∂ⱼ²h instead
//! (`B = 1 + K + 1`): Σ∂²a = σ''(z)Σⱼ(∂ⱼz)² + σ'(z)Σ∂²z is exact, and at d = 2 that is 4 rows
//! per point instead of 5 (d = 10: 12 instead of 21).
//!
//! Backward (adjoints ā, ∂̄a, ∂̄²a of one unit at one point):
//! z̄ = ā σ' + Σⱼ ∂̄ⱼa σ'' ∂ⱼz + Σⱼ<ₖ ∂̄²ⱼa (σ''' (∂ⱼz)² + σ'' ∂ⱼ²z),
//! ∂̄ⱼz = ∂̄ⱼa σ' + [j < k] 2 ∂̄²ⱼa σ'' ∂ⱼz,  ∂̄²ⱼz = ∂̄²ⱼa σ';
//! then W̄ = Z̄ᵀH, b̄ = Σ over value rows of Z̄, H̄ = Z̄W.

use crate::op_util::operand;
use crate::{scratch, Activation};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::Mutex;

/// Floating-point types the fused jet runs in.
pub(crate) trait Real:
    WithDType
    + crate::scratch::Pooled
    + Copy
    + Send
    + Sync
    + Default
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
{
    fn lit(v: f64) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn exp(self) -> Self;
    /// C ← AB + βC for an m×k A and k×n B with arbitrary row/column strides (with β = 0, C
    /// is only written).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        Self::gemm_alpha(
            m,
            k,
            n,
            Self::lit(1.0),
            a,
            rsa,
            csa,
            b,
            rsb,
            csb,
            beta,
            c,
            rsc,
            csc,
        )
    }
    /// C ← αAB + βC, as [`Real::gemm`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_alpha(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
    /// C ← AB (β = 0) by the packing-free kernel of [`crate::skinny`] where it applies (f32,
    /// AVX-512F, n a multiple of 16, B with unit column stride); `false` and nothing done
    /// otherwise.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_unpacked(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        c: *mut Self,
        rsc: isize,
    ) -> bool;
    fn storage(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
}

macro_rules! real_impl {
    ($t:ty, $gemm:path, $unpacked:path, $variant:ident, $tanh:path) => {
        impl Real for $t {
            #[inline(always)]
            fn lit(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            unsafe fn gemm_alpha(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
            unsafe fn gemm_unpacked(
                m: usize,
                k: usize,
                n: usize,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                c: *mut Self,
                rsc: isize,
            ) -> bool {
                $unpacked(m, k, n, a, rsa, csa, b, rsb, c, rsc)
            }
            fn storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
real_impl!(
    f32,
    matrixmultiply::sgemm,
    crate::skinny::gemm,
    F32,
    fast_tanh_f32
);
real_impl!(f64, matrixmultiply::dgemm, no_unpacked_f64, F64, f64::tanh);

/// f64 has no packing-free kernel ([`Real::gemm_unpacked`]).
#[allow(clippy::too_many_arguments)]
unsafe fn no_unpacked_f64(
    _: usize,
    _: usize,
    _: usize,
    _: *const f64,
    _: isize,
    _: isize,
    _: *const f64,
    _: isize,
    _: *mut f64,
    _: isize,
) -> bool {
    false
}

/// C = A·B (β = 0, C only written) for an m×k A (strides `rsa`, `csa`), a k×n B (strides
/// `rsb`, `csb`) and C m×n with row stride `rsc`: the packing-free kernel where it applies
/// (a B with non-unit column stride, such as a transposed weight matrix, is copied to row-major
/// first when small), else `T::gemm`.
///
/// # Safety
/// The pointers must be valid for the elements the shapes and strides address.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_product<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    c: *mut T,
    rsc: isize,
) {
    // SAFETY (all blocks): the caller vouches for the shapes and strides; `rowmajor` is k×n.
    unsafe {
        // With one column, B's column stride never matters.
        if csb == 1 || n == 1 {
            if T::gemm_unpacked(m, k, n, a, rsa, csa, b, rsb, c, rsc) {
                return;
            }
        } else if crate::skinny::takes(n) && k * n <= 1 << 16 && T::DTYPE == DType::F32 {
            let mut rowmajor = Vec::with_capacity(k * n);
            for p in 0..k as isize {
                for j in 0..n as isize {
                    rowmajor.push(*b.offset(p * rsb + j * csb));
                }
            }
            if T::gemm_unpacked(m, k, n, a, rsa, csa, rowmajor.as_ptr(), n as isize, c, rsc) {
                return;
            }
        }
        T::gemm(m, k, n, a, rsa, csa, b, rsb, csb, T::lit(0.0), c, rsc, 1);
    }
}

/// tanh in f32 by a [13/6] rational approximation on [−7.905, 7.905] (the coefficients of
/// Eigen's `ptanh_float`), within a few ulp of `f32::tanh` and several times faster: libm's
/// tanh dominated the fused jet's time.
#[inline(always)]
pub(crate) fn fast_tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_5e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let p = x
        * (A[0] + x2 * (A[1] + x2 * (A[2] + x2 * (A[3] + x2 * (A[4] + x2 * (A[5] + x2 * A[6]))))));
    let q = B[0] + x2 * (B[1] + x2 * (B[2] + x2 * B[3]));
    p / q
}

/// C = A·B (β = 0) with C's rows split across rayon tasks, into raw (possibly uninitialised)
/// storage of `c_len` elements: every element of C's m rows × n columns is written and
/// nothing is read. A is m×k with row stride `rsa` and column stride `csa`, B k×n (strides
/// `rsb`, `csb`), C m×n row-major with row stride `rsc`. One thread pool (rayon) for all
/// parallel work: matrixmultiply's own pool fought rayon's for the two cores.
///
/// # Safety
/// `c` must be valid for writes of `c_len` elements, with `(m − 1)·rsc + n ≤ c_len`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn par_gemm_into<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    rsa: usize,
    csa: usize,
    b: &[T],
    rsb: usize,
    csb: usize,
    c: *mut T,
    c_len: usize,
    rsc: usize,
) {
    let tasks = rayon::current_num_threads().max(1);
    let rows = m.div_ceil(tasks).max(64);
    let c_ptr = SendPtr(c);
    (0..m.div_ceil(rows)).into_par_iter().for_each(|t| {
        let r0 = t * rows;
        let mm = rows.min(m - r0);
        let cp = &c_ptr;
        debug_assert!((r0 + mm - 1) * rsc + n <= c_len);
        // SAFETY: tasks write disjoint row ranges of C; A, B and C bounds follow from the
        // shapes and strides the callers pass (checked in debug builds).
        unsafe {
            gemm_product(
                mm,
                k,
                n,
                a.as_ptr().add(r0 * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                cp.0.add(r0 * rsc),
                rsc as isize,
            );
        }
    });
}

/// C = Aᵀ·B summed over a long inner dimension, split across rayon tasks whose partial products
/// are added in order: A is k×m with row stride `rsa` (contiguous columns), B k×n row-major with
/// row stride `rsb`; C m×n row-major.
pub(crate) fn par_gemm_tn<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    rsa: usize,
    b: &[T],
    rsb: usize,
) -> Vec<T> {
    let tasks = rayon::current_num_threads().max(1);
    let per = k.div_ceil(tasks).max(256);
    (0..k.div_ceil(per))
        .into_par_iter()
        .map(|t| {
            let k0 = t * per;
            let kk = per.min(k - k0);
            let mut c = vec![T::default(); m * n];
            // SAFETY: the slice offsets stay inside A and B for the shapes passed.
            unsafe {
                gemm_product(
                    m,
                    kk,
                    n,
                    a.as_ptr().add(k0 * rsa),
                    1,
                    rsa as isize,
                    b.as_ptr().add(k0 * rsb),
                    rsb as isize,
                    1,
                    c.as_mut_ptr(),
                    n as isize,
                );
            }
            c
        })
        .collect::<Vec<_>>()
        .into_iter()
        // Summed left to right, not by rayon's reduction tree (whose shape follows work
        // stealing), so a given thread count always gives the same bits.
        .reduce(|mut x, y| {
            x.iter_mut().zip(&y).for_each(|(p, q)| *p += *q);
            x
        })
        .unwrap_or_else(|| vec![T::default(); m * n])
}

/// `out[c] = Σᵢ a[i·stride + offset + c]` over every block of `stride` elements (one row of
/// `out.len()` per block), rows in order so the inner loop is contiguous and vectorizes.
fn sum_rows<T: Real>(a: &[T], stride: usize, offset: usize, out: &mut [T]) {
    out.fill(T::default());
    let w = out.len();
    for blk in a.chunks_exact(stride) {
        for (o, &v) in out.iter_mut().zip(&blk[offset..offset + w]) {
            *o += v;
        }
    }
}

/// Points per task and number of tasks for a pass over `n` points: one block per thread
/// (at least 16 points each).
fn point_blocks(n: usize) -> (usize, usize) {
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(16);
    (per, n.div_ceil(per))
}

/// Rows `p0..p0 + np` (each `row` elements) of the buffer at `p`, mutably.
///
/// # Safety
/// The buffer must hold at least `(p0 + np)·row` elements, and nothing else may reference
/// these rows while the slice lives (tasks take disjoint point ranges).
unsafe fn rows_of<'a, T>(p: &SendPtr<T>, p0: usize, np: usize, row: usize) -> &'a mut [T] {
    // SAFETY: as the caller guarantees.
    unsafe { std::slice::from_raw_parts_mut(p.0.add(p0 * row), np * row) }
}

pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// SAFETY: used only to hand disjoint row ranges of one buffer to rayon tasks.
unsafe impl<T> Sync for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}

/// Whether the fused jet handles this activation.
pub(crate) fn supports(a: Activation) -> bool {
    matches!(a, Activation::Tanh | Activation::Sin)
}

/// The network shape and the jet directions.
#[derive(Clone, Debug)]
pub(crate) struct FusedJet {
    /// Layer widths, input first, output (1) last.
    pub widths: Vec<usize>,
    pub activation: Activation,
    /// Input dimension of each direction (second-order ones first).
    pub dirs: Vec<usize>,
    /// How many of `dirs` are second-order.
    pub k: usize,
    /// For each requested first derivative, its index in `dirs`.
    pub first_pos: Vec<usize>,
    /// Carry one row Σⱼ<ₖ ∂ⱼ²h instead of the k pure second derivatives (enough for a
    /// Laplacian: the activation rule needs only Σⱼ(∂ⱼz)², so the sum propagates exactly).
    pub sum_second: bool,
}

impl FusedJet {
    /// Second-order rows per point: k, or one (their sum) with `sum_second`.
    fn second_rows(&self) -> usize {
        if self.sum_second {
            usize::from(self.k > 0)
        } else {
            self.k
        }
    }

    fn rows_per_point(&self) -> usize {
        1 + self.dirs.len() + self.second_rows()
    }

    /// Columns of the packed output: u, the requested first derivatives, the second ones (or
    /// their sum).
    pub fn out_cols(&self) -> usize {
        1 + self.first_pos.len() + self.second_rows()
    }

    /// Offsets of W and b of each layer in the flat parameter vector.
    fn offsets(&self) -> Vec<(usize, usize)> {
        let mut off = 0;
        let mut out = Vec::new();
        for l in 0..self.widths.len() - 1 {
            let (i, o) = (self.widths[l], self.widths[l + 1]);
            out.push((off, off + o * i));
            off += o * i + o;
        }
        out
    }

    /// The packed jet `[n, out_cols]` of points `x` (`[n, d]`) for parameters `theta`.
    pub fn apply(&self, x: &Tensor, theta: &Tensor) -> candle_core::Result<Tensor> {
        let op = FusedJetOp {
            net: self.clone(),
            cache: Mutex::new(None),
        };
        x.contiguous()?.apply_op2(&theta.contiguous()?, op)
    }

    fn forward<T: Real>(&self, x: &[T], theta: &[T], n: usize) -> (Vec<T>, Cache<T>) {
        let b = self.rows_per_point();
        let kk = self.dirs.len();
        let layers = self.widths.len() - 1;
        let offs = self.offsets();
        let d = self.widths[0];
        let w0 = self.widths[1];
        let (wo, bo) = offs[0];
        // Direction j's rows of layer 0 are column dirs[j] of W₀, the same for every point.
        let dir_rows: Vec<T> = self
            .dirs
            .iter()
            .flat_map(|&dim| (0..w0).map(move |o| theta[wo + o * d + dim]))
            .collect();
        let bias0 = &theta[bo..bo + w0];
        // z[l]: pre-activations of layer l (width widths[l + 1]; the last is the output);
        // h[l − 1]: the activations that enter layer l ≥ 1. Every element is written below.
        let mut zs: Vec<Vec<T>> = (0..layers)
            .map(|l| scratch::take(n * b * self.widths[l + 1]))
            .collect();
        let mut hs: Vec<Vec<T>> = (1..layers)
            .map(|l| scratch::take(n * b * self.widths[l]))
            .collect();
        let cols = self.out_cols();
        let f = self.first_pos.len();
        let mut out = vec![T::default(); n * cols];
        let z_ptrs: Vec<SendPtr<T>> = zs.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect();
        let h_ptrs: Vec<SendPtr<T>> = hs.iter_mut().map(|v| SendPtr(v.as_mut_ptr())).collect();
        let out_ptr = SendPtr(out.as_mut_ptr());
        // The whole pass is one parallel region: a point's rows never meet another point's
        // until the weight gradients, so each task takes a block of points through every
        // layer (one thread wake-up per pass instead of one per layer and step).
        let (per, tasks) = point_blocks(n);
        (0..tasks).into_par_iter().for_each(|t| {
            let p0 = t * per;
            let np = per.min(n - p0);
            // SAFETY (every `rows_of`): tasks take disjoint point ranges p0..p0+np of buffers
            // that hold n points of b rows each; each range is borrowed once per task.
            let z0 = unsafe { rows_of(&z_ptrs[0], p0, np, b * w0) };
            // SAFETY: x holds n rows of d, z0 np·b rows of w0, W₀ w0×d row-major.
            unsafe {
                gemm_product(
                    np,
                    d,
                    w0,
                    x[p0 * d..].as_ptr(),
                    d as isize,
                    1,
                    theta[wo..].as_ptr(),
                    1,
                    d as isize,
                    z0.as_mut_ptr(),
                    (b * w0) as isize,
                );
            }
            for blk in z0.chunks_mut(b * w0) {
                let (value, rest) = blk.split_at_mut(w0);
                for (v, &bb) in value.iter_mut().zip(bias0) {
                    *v += bb;
                }
                let (dirs, second) = rest.split_at_mut(dir_rows.len());
                dirs.copy_from_slice(&dir_rows);
                second.fill(T::default());
            }
            let mut zprev: &[T] = z0;
            for l in 1..layers {
                let wi = self.widths[l];
                let wn = self.widths[l + 1];
                let (wofs, bofs) = offs[l];
                let h = unsafe { rows_of(&h_ptrs[l - 1], p0, np, b * wi) };
                self.act_forward_points(h, zprev, b, wi, kk);
                let zn = unsafe { rows_of(&z_ptrs[l], p0, np, b * wn) };
                // SAFETY: h is np·b × wi, zn np·b × wn, W (at wofs) wn×wi row-major.
                unsafe {
                    gemm_product(
                        np * b,
                        wi,
                        wn,
                        h.as_ptr(),
                        wi as isize,
                        1,
                        theta[wofs..].as_ptr(),
                        1,
                        wi as isize,
                        zn.as_mut_ptr(),
                        wn as isize,
                    );
                }
                let bias = &theta[bofs..bofs + wn];
                for blk in zn.chunks_mut(b * wn) {
                    for (v, &bb) in blk[..wn].iter_mut().zip(bias) {
                        *v += bb;
                    }
                }
                zprev = zn;
            }
            // zprev is now this block's output rows [np·B, 1]; pack them.
            let o = unsafe { rows_of(&out_ptr, p0, np, cols) };
            for (o, zb) in o.chunks_mut(cols).zip(zprev.chunks(b)) {
                o[0] = zb[0];
                for (c, &p) in self.first_pos.iter().enumerate() {
                    o[1 + c] = zb[1 + p];
                }
                for s in 0..self.second_rows() {
                    o[1 + f + s] = zb[1 + kk + s];
                }
            }
        });
        if let Some(output) = zs.pop() {
            scratch::give(output);
        }
        (out, Cache { hs, zs })
    }

    /// [`Self::act_forward`] for every point of a block (`b` rows of `w` per point), compiled
    /// for AVX-512 where the CPU has it: the per-unit loops are elementwise over the units, and
    /// the default x86-64 target vectorizes them only 4 wide (SSE2).
    fn act_forward_points<T: Real>(&self, h: &mut [T], z: &[T], b: usize, w: usize, kk: usize) {
        #[cfg(target_arch = "x86_64")]
        if crate::skinny::available() {
            // SAFETY: the CPU has AVX-512F (`available` checked it).
            unsafe { self.act_forward_points_avx512(h, z, b, w, kk) };
            return;
        }
        self.act_forward_points_generic(h, z, b, w, kk);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn act_forward_points_avx512<T: Real>(
        &self,
        h: &mut [T],
        z: &[T],
        b: usize,
        w: usize,
        kk: usize,
    ) {
        self.act_forward_points_generic(h, z, b, w, kk);
    }

    #[inline(always)]
    fn act_forward_points_generic<T: Real>(
        &self,
        h: &mut [T],
        z: &[T],
        b: usize,
        w: usize,
        kk: usize,
    ) {
        let mut buf = vec![T::default(); 4 * w];
        for (hb, zb) in h.chunks_mut(b * w).zip(z.chunks(b * w)) {
            self.act_forward(hb, zb, w, kk, &mut buf);
        }
    }

    /// [`Self::act_backward`] for every point of a block, compiled for AVX-512 where the CPU
    /// has it (as [`Self::act_forward_points`]).
    fn act_backward_points<T: Real>(
        &self,
        zbar: &mut [T],
        hbar: &[T],
        z: &[T],
        b: usize,
        w: usize,
        kk: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::skinny::available() {
            // SAFETY: the CPU has AVX-512F (`available` checked it).
            unsafe { self.act_backward_points_avx512(zbar, hbar, z, b, w, kk) };
            return;
        }
        self.act_backward_points_generic(zbar, hbar, z, b, w, kk);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn act_backward_points_avx512<T: Real>(
        &self,
        zbar: &mut [T],
        hbar: &[T],
        z: &[T],
        b: usize,
        w: usize,
        kk: usize,
    ) {
        self.act_backward_points_generic(zbar, hbar, z, b, w, kk);
    }

    #[inline(always)]
    fn act_backward_points_generic<T: Real>(
        &self,
        zbar: &mut [T],
        hbar: &[T],
        z: &[T],
        b: usize,
        w: usize,
        kk: usize,
    ) {
        let mut buf = vec![T::default(); 4 * w];
        for ((zbk, hb), zk) in zbar
            .chunks_mut(b * w)
            .zip(hbar.chunks(b * w))
            .zip(z.chunks(b * w))
        {
            self.act_backward(zbk, hb, zk, w, kk, &mut buf);
        }
    }

    /// σ of one point's value row into `a` (`w`), and σ', σ'' (and σ‴ if `third`) into `s`
    /// (`3w`).
    #[inline(always)]
    fn act_row<T: Real>(&self, z: &[T], a: &mut [T], s: &mut [T], w: usize, third: bool) {
        let (s1, rest) = s.split_at_mut(w);
        let (s2, s3) = rest.split_at_mut(w);
        let (z, a, s3) = (&z[..w], &mut a[..w], &mut s3[..w]);
        // One loop per activation and per output (no match or branch per element, iterators
        // instead of indices so no bounds checks), so each vectorizes.
        match self.activation {
            Activation::Sin => {
                for (((&zc, ac), d1), d2) in z
                    .iter()
                    .zip(a.iter_mut())
                    .zip(s1.iter_mut())
                    .zip(s2.iter_mut())
                {
                    let (sn, cs) = (zc.sin(), zc.cos());
                    *ac = sn;
                    *d1 = cs;
                    *d2 = T::lit(0.0) - sn;
                }
                if third {
                    for (d3, &d1) in s3.iter_mut().zip(s1.iter()) {
                        *d3 = T::lit(0.0) - d1;
                    }
                }
            }
            _ => {
                for (ac, &zc) in a.iter_mut().zip(z) {
                    *ac = zc.tanh();
                }
                for ((d1, d2), &t) in s1.iter_mut().zip(s2.iter_mut()).zip(a.iter()) {
                    let e = T::lit(1.0) - t * t;
                    *d1 = e;
                    *d2 = T::lit(-2.0) * t * e;
                }
                if third {
                    for ((d3, &e), &t) in s3.iter_mut().zip(s1.iter()).zip(a.iter()) {
                        *d3 = T::lit(-2.0) * e * e + T::lit(4.0) * t * t * e;
                    }
                }
            }
        }
    }

    /// One point's block through the activation (units innermost, so the loops vectorize);
    /// `buf` is scratch of `4w`.
    #[inline(always)]
    fn act_forward<T: Real>(&self, h: &mut [T], z: &[T], w: usize, kk: usize, buf: &mut [T]) {
        let (h0, hr) = h.split_at_mut(w);
        self.act_row(&z[..w], h0, buf, w, false);
        let (s, acc) = buf.split_at_mut(3 * w);
        let (s1, rest) = s.split_at(w);
        let s2 = &rest[..w];
        for j in 0..kk {
            let dz = &z[(1 + j) * w..(2 + j) * w];
            let hj = &mut hr[j * w..(j + 1) * w];
            for c in 0..w {
                hj[c] = s1[c] * dz[c];
            }
        }
        if self.sum_second {
            if self.k == 0 {
                return;
            }
            let acc = &mut acc[..w];
            self.sum_sq_dirs(z, w, acc);
            let d2z = &z[(1 + kk) * w..(2 + kk) * w];
            let hs = &mut hr[kk * w..(kk + 1) * w];
            for c in 0..w {
                hs[c] = s2[c] * acc[c] + s1[c] * d2z[c];
            }
            return;
        }
        for j in 0..self.k {
            let dz = &z[(1 + j) * w..(2 + j) * w];
            let d2z = &z[(1 + kk + j) * w..(2 + kk + j) * w];
            let hj = &mut hr[(kk + j) * w..(kk + j + 1) * w];
            for c in 0..w {
                hj[c] = s2[c] * dz[c] * dz[c] + s1[c] * d2z[c];
            }
        }
    }

    /// One point's block of adjoints back through the activation; `buf` is scratch of `4w`.
    #[inline(always)]
    fn act_backward<T: Real>(
        &self,
        zbar: &mut [T],
        hbar: &[T],
        z: &[T],
        w: usize,
        kk: usize,
        buf: &mut [T],
    ) {
        // Every slice is cut to exactly w first, so the indexed loops carry no bounds checks
        // and vectorize.
        let two = T::lit(2.0);
        let (z0b, zr) = zbar.split_at_mut(w);
        // z0b receives σ here (unused) and is overwritten just below.
        let (buf, acc) = buf.split_at_mut(3 * w);
        self.act_row(&z[..w], z0b, buf, w, true);
        let (s1, rest) = buf.split_at(w);
        let (s2, s3) = rest.split_at(w);
        let (s2, s3, h0) = (&s2[..w], &s3[..w], &hbar[..w]);
        for c in 0..w {
            z0b[c] = h0[c] * s1[c];
        }
        let (zdirs, zsecond) = zr.split_at_mut(kk * w);
        for j in 0..kk {
            let hb = &hbar[(1 + j) * w..(2 + j) * w];
            let dz = &z[(1 + j) * w..(2 + j) * w];
            let dzb = &mut zdirs[j * w..(j + 1) * w];
            for c in 0..w {
                z0b[c] += hb[c] * s2[c] * dz[c];
                dzb[c] = hb[c] * s1[c];
            }
        }
        if self.sum_second {
            if self.k == 0 {
                return;
            }
            let acc = &mut acc[..w];
            self.sum_sq_dirs(z, w, acc);
            let hs = &hbar[(1 + kk) * w..(2 + kk) * w];
            let d2z = &z[(1 + kk) * w..(2 + kk) * w];
            let zs = &mut zsecond[..w];
            // Two loops with one output each: with both in one, LLVM did not vectorize.
            for c in 0..w {
                z0b[c] += hs[c] * (s3[c] * acc[c] + s2[c] * d2z[c]);
            }
            for c in 0..w {
                zs[c] = hs[c] * s1[c];
            }
            for j in 0..self.k {
                let dz = &z[(1 + j) * w..(2 + j) * w];
                let dzb = &mut zdirs[j * w..(j + 1) * w];
                for c in 0..w {
                    dzb[c] += two * hs[c] * s2[c] * dz[c];
                }
            }
            return;
        }
        for j in 0..self.k {
            let h2 = &hbar[(1 + kk + j) * w..(2 + kk + j) * w];
            let dz = &z[(1 + j) * w..(2 + j) * w];
            let d2z = &z[(1 + kk + j) * w..(2 + kk + j) * w];
            let dzb = &mut zdirs[j * w..(j + 1) * w];
            let d2zb = &mut zsecond[j * w..(j + 1) * w];
            for c in 0..w {
                z0b[c] += h2[c] * (s3[c] * dz[c] * dz[c] + s2[c] * d2z[c]);
                dzb[c] += two * h2[c] * s2[c] * dz[c];
                d2zb[c] = h2[c] * s1[c];
            }
        }
    }

    /// Σⱼ<ₖ (∂ⱼz)² of one point's block into `acc` (`w`).
    #[inline(always)]
    fn sum_sq_dirs<T: Real>(&self, z: &[T], w: usize, acc: &mut [T]) {
        let acc = &mut acc[..w];
        acc.fill(T::default());
        for j in 0..self.k {
            let dz = &z[(1 + j) * w..(2 + j) * w];
            for c in 0..w {
                acc[c] += dz[c] * dz[c];
            }
        }
    }

    fn backward<T: Real>(
        &self,
        x: &[T],
        theta: &[T],
        n: usize,
        cache: &Cache<T>,
        gout: &[T],
    ) -> Vec<T> {
        let b = self.rows_per_point();
        let kk = self.dirs.len();
        let layers = self.widths.len() - 1;
        let offs = self.offsets();
        let cols = self.out_cols();
        let f = self.first_pos.len();
        let d = self.widths[0];
        let w0 = self.widths[1];
        // One parallel region for the whole pass (as in the forward pass): each task takes its
        // block of points back through every layer and returns its share of the parameter
        // gradient; the shares are summed in task order, so the result does not depend on
        // which thread ran which task.
        let (per, tasks) = point_blocks(n);
        let shares: Vec<Vec<T>> = (0..tasks)
            .into_par_iter()
            .map(|t| {
                let p0 = t * per;
                let np = per.min(n - p0);
                let mut g = vec![T::default(); theta.len()];
                // Adjoint of this block's output rows.
                let wl = self.widths[layers];
                let mut zbar = vec![T::default(); np * b * wl];
                for (zb, gr) in zbar
                    .chunks_mut(b * wl)
                    .zip(gout[p0 * cols..(p0 + np) * cols].chunks(cols))
                {
                    zb[0] = gr[0];
                    for (c, &p) in self.first_pos.iter().enumerate() {
                        zb[1 + p] += gr[1 + c];
                    }
                    for s in 0..self.second_rows() {
                        zb[1 + kk + s] = gr[1 + f + s];
                    }
                }
                for l in (1..layers).rev() {
                    let wi = self.widths[l];
                    let wo = self.widths[l + 1];
                    let (wofs, bofs) = offs[l];
                    let rows = np * b;
                    let h = &cache.hs[l - 1][p0 * b * wi..(p0 + np) * b * wi];
                    let zprev = &cache.zs[l - 1][p0 * b * wi..(p0 + np) * b * wi];
                    let w = &theta[wofs..wofs + wo * wi];
                    // Every element of hbar and zb is written (β = 0 product; the
                    // activation's adjoint writes every row).
                    let mut hbar = scratch::take(rows * wi);
                    // SAFETY: zbar is rows×wo, h and hbar rows×wi, W and W̄ wo×wi.
                    unsafe {
                        gemm_product(
                            wo,
                            rows,
                            wi,
                            zbar.as_ptr(),
                            1,
                            wo as isize,
                            h.as_ptr(),
                            wi as isize,
                            1,
                            g[wofs..].as_mut_ptr(),
                            wi as isize,
                        );
                        gemm_product(
                            rows,
                            wo,
                            wi,
                            zbar.as_ptr(),
                            wo as isize,
                            1,
                            w.as_ptr(),
                            wi as isize,
                            1,
                            hbar.as_mut_ptr(),
                            wi as isize,
                        );
                    }
                    sum_rows(&zbar, b * wo, 0, &mut g[bofs..bofs + wo]);
                    let mut zb = scratch::take(rows * wi);
                    self.act_backward_points(&mut zb, &hbar, zprev, b, wi, kk);
                    scratch::give(hbar);
                    scratch::give(std::mem::replace(&mut zbar, zb));
                }
                // Layer 0: W̄₀ = Σᵢ z̄ᵢ xᵢᵀ + Σⱼ (Σᵢ ∂̄ⱼzᵢ) e_{dirⱼ}ᵀ; b̄₀ = Σᵢ z̄ᵢ.
                let (wofs, bofs) = offs[0];
                // SAFETY: zbar's value rows are np × w0 (row stride b·w0), x's block np × d,
                // W̄₀ w0×d.
                unsafe {
                    gemm_product(
                        w0,
                        np,
                        d,
                        zbar.as_ptr(),
                        1,
                        (b * w0) as isize,
                        x[p0 * d..].as_ptr(),
                        d as isize,
                        1,
                        g[wofs..].as_mut_ptr(),
                        d as isize,
                    );
                }
                sum_rows(&zbar, b * w0, 0, &mut g[bofs..bofs + w0]);
                let mut s = vec![T::default(); w0];
                for (j, &dim) in self.dirs.iter().enumerate() {
                    sum_rows(&zbar, b * w0, (1 + j) * w0, &mut s);
                    for (o, &v) in s.iter().enumerate() {
                        g[wofs + o * d + dim] += v;
                    }
                }
                scratch::give(zbar);
                g
            })
            .collect();
        let mut shares = shares.into_iter();
        let mut gtheta = shares
            .next()
            .unwrap_or_else(|| vec![T::default(); theta.len()]);
        for s in shares {
            gtheta.iter_mut().zip(&s).for_each(|(a, b)| *a += *b);
        }
        gtheta
    }
}

struct Cache<T: Real> {
    /// Inputs of layers 1.. (activations), `[n·B, wₗ]`.
    hs: Vec<Vec<T>>,
    /// Pre-activations of the hidden layers, `[n·B, wₗ₊₁]`.
    zs: Vec<Vec<T>>,
}

impl<T: Real> Drop for Cache<T> {
    fn drop(&mut self) {
        for v in self.hs.drain(..).chain(self.zs.drain(..)) {
            scratch::give(v);
        }
    }
}

enum AnyCache {
    F32(Cache<f32>),
    F64(Cache<f64>),
}

struct FusedJetOp {
    net: FusedJet,
    cache: Mutex<Option<AnyCache>>,
}

impl FusedJetOp {
    fn run<T: Real>(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(Vec<T>, Cache<T>, usize)> {
        let x = operand::<T>(s1, l1, "fused jet", "x")?;
        let theta = operand::<T>(s2, l2, "fused jet", "parameters")?;
        let n = l1.shape().dims()[0];
        let (out, cache) = self.net.forward(x, theta, n);
        Ok((out, cache, n))
    }
}

impl candle_core::CustomOp2 for FusedJetOp {
    fn name(&self) -> &'static str {
        "nabla-fused-jet"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let cols = self.net.out_cols();
        let mut slot = self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::Msg("fused jet: poisoned cache".into()))?;
        match s1.dtype() {
            DType::F32 => {
                let (out, cache, n) = self.run::<f32>(s1, l1, s2, l2)?;
                *slot = Some(AnyCache::F32(cache));
                Ok((f32::storage(out), Shape::from((n, cols))))
            }
            DType::F64 => {
                let (out, cache, n) = self.run::<f64>(s1, l1, s2, l2)?;
                *slot = Some(AnyCache::F64(cache));
                Ok((f64::storage(out), Shape::from((n, cols))))
            }
            other => Err(candle_core::Error::Msg(format!(
                "fused jet: unsupported dtype {other:?}"
            ))),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        theta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = x.dims()[0];
        let slot = self
            .cache
            .lock()
            .map_err(|_| candle_core::Error::Msg("fused jet: poisoned cache".into()))?;
        fn go<T: Real>(
            net: &FusedJet,
            x: &Tensor,
            theta: &Tensor,
            grad: &Tensor,
            n: usize,
            cache: Option<&Cache<T>>,
        ) -> candle_core::Result<Tensor> {
            let xv: Vec<T> = x.flatten_all()?.to_vec1()?;
            let tv: Vec<T> = theta.flatten_all()?.to_vec1()?;
            let gv: Vec<T> = grad.contiguous()?.flatten_all()?.to_vec1()?;
            let fresh;
            let cache = match cache {
                Some(c) => c,
                None => {
                    fresh = net.forward(&xv, &tv, n).1;
                    &fresh
                }
            };
            let g = net.backward(&xv, &tv, n, cache, &gv);
            Tensor::from_vec(g, theta.dims(), theta.device())
        }
        let g = match (x.dtype(), slot.as_ref()) {
            (DType::F32, Some(AnyCache::F32(c))) => {
                go::<f32>(&self.net, x, theta, grad, n, Some(c))?
            }
            (DType::F32, _) => go::<f32>(&self.net, x, theta, grad, n, None)?,
            (DType::F64, Some(AnyCache::F64(c))) => {
                go::<f64>(&self.net, x, theta, grad, n, Some(c))?
            }
            (DType::F64, _) => go::<f64>(&self.net, x, theta, grad, n, None)?,
            (other, _) => {
                return Err(candle_core::Error::Msg(format!(
                    "fused jet: unsupported dtype {other:?}"
                )))
            }
        };
        Ok((None, Some(g)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_tanh_is_accurate() {
        let mut worst = 0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let e = (super::fast_tanh_f32(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(e);
        }
        assert!(worst < 5e-7, "{worst:e}");
        assert_eq!(super::fast_tanh_f32(50.0), 1.0);
        assert_eq!(super::fast_tanh_f32(-50.0), -1.0);
    }
}
