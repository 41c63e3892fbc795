//! f32 products with a narrow right-hand side (n a multiple of 16, up to a few hundred), the
//! shape of every hidden layer of a PINN: C (m×n) = A (m×k) · B (k×n), with A read in place.
//!
//! Why not `matrixmultiply` alone: it packs A into panels before every product, and with
//! k = n = 64 that copy is a pass over A for only 64 multiply-adds per element — 15 % of a PINN
//! training step, measured (perf), on top of its kernel. Here each block of [`MR`] rows of C
//! stays in AVX-512 registers (MR × up to 4 vectors of 16) while the k loop broadcasts A's
//! entries straight from memory (any strides: rows of A, or columns of a transposed one) and
//! loads B's rows (contiguous, the small B stays in L1). No packing, no scratch.
//!
//! Two versions, picked at run time: AVX-512F (n a multiple of 16) and, where AVX-512 is
//! missing or turned off ([`DISABLE_ENV`]), AVX2 + FMA (n a multiple of 8; 3 rows × 4 vectors of
//! 8 per register block). Callers fall back to `matrixmultiply` otherwise (and for f64, other
//! widths, β ≠ 0 or α ≠ 1). Routing an FNO's pointwise layers and their weight gradients
//! (115 520 rows × 32 · 32 × 32 at Darcy 64²) here took a training step from 290 to 250 ms with
//! AVX-512 and to 257–276 ms with the AVX2 version (`cargo run --release -p nabla-nn --example
//! fno_step`, without and with `NABLA_NO_AVX512=1`).
//!
//! Measured against the `gemm` crate (candle's kernels, runtime-dispatched) and matrixmultiply
//! on the PINN shapes, single-threaded (`speed` below; one run each, idle 2-core Xeon): layer
//! product 4000×64·64×64 this kernel 168.7 GFLOPS, matrixmultiply 120.6, gemm 97.8; weight
//! gradient 147.1, 110.4, 75.7. On the path without AVX-512 (`NABLA_NO_AVX512=1`, matrixmultiply
//! built with `MMTEST_FEATURE=sse2,avx,avx2,fma`): the AVX2 version 117.9 and 98.4,
//! matrixmultiply 89.4 and 81.5, gemm 104.0 and 80.5.

/// Rows of C per register block: 6 rows × 4 vectors = 24 accumulators of the 32 zmm registers.
const MR: usize = 6;

/// Widest panel of columns per pass, in 16-lane vectors.
const NV: usize = 4;

/// Chunk of the inner dimension per pass over C (see `panel`).
const KC: usize = 64;

/// Environment variable that turns the AVX-512 code paths off (any value): the fused jet then
/// runs on `matrixmultiply` and the baseline target, as on a CPU without AVX-512 — for
/// comparing the two, and so the tests can cover that path on any machine.
pub const DISABLE_ENV: &str = "NABLA_NO_AVX512";

/// Whether the AVX-512 paths run here: AVX-512F present and [`DISABLE_ENV`] unset (decided once
/// per process).
#[inline]
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f") && std::env::var_os(DISABLE_ENV).is_none()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether the AVX2 + FMA version runs here (decided once per process). It is used only when
/// [`available`] is false.
#[inline]
pub(crate) fn available_avx2() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether [`gemm`] takes products with `n` columns on this machine (n > 1; n = 1 has its own
/// conditions).
pub(crate) fn takes(n: usize) -> bool {
    n > 0
        && if available() {
            n.is_multiple_of(16)
        } else {
            available_avx2() && n.is_multiple_of(8)
        }
}

/// C ← A·B (β = 0: C is only written) for an m×k A with row/column strides `rsa`, `csa`, a
/// k×n B with row stride `rsb` and unit column stride, and C m×n with row stride `rsc` and
/// unit column stride. n = 1 (a network's output layer) is taken too when A's rows and B are
/// contiguous: one dot product per row (AVX-512 only). Returns `false` (having done nothing)
/// when the shape is not one this kernel takes (see [`takes`]) or neither AVX-512F nor
/// AVX2 + FMA is present; the caller then uses the general product.
///
/// # Safety
/// The pointers must be valid for the elements the shapes and strides address.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    c: *mut f32,
    rsc: isize,
) -> bool {
    if !available() {
        #[cfg(target_arch = "x86_64")]
        if available_avx2() && n > 0 && n.is_multiple_of(8) {
            // SAFETY: AVX2 and FMA were detected; the caller vouches for the pointers.
            unsafe { avx2::gemm(m, k, n, a, rsa, csa, b, rsb, c, rsc) };
            return true;
        }
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if n == 1 && csa == 1 && rsb == 1 {
        // SAFETY: AVX-512F was detected above; the caller vouches for the pointers.
        unsafe { avx512::gemv(m, k, a, rsa, b, c, rsc) };
        return true;
    }
    if n == 0 || !n.is_multiple_of(16) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX-512F was detected above; the caller vouches for the pointers.
        unsafe { avx512::gemm(m, k, n, a, rsa, csa, b, rsb, c, rsc) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k, a, rsa, csa, b, rsb, c, rsc);
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{KC, MR, NV};
    use std::arch::x86_64::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut j0 = 0;
        while j0 < n {
            let nv = ((n - j0) / 16).min(NV);
            // SAFETY (all calls): columns j0..j0+16·nv of B and C exist; rows as the caller's.
            unsafe {
                match nv {
                    4 => panel::<4>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    3 => panel::<3>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    2 => panel::<2>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    _ => panel::<1>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                }
            }
            j0 += 16 * nv;
        }
    }

    /// C[i] = A[i, ·] · b for contiguous rows of A and a contiguous b (n = 1).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemv(
        m: usize,
        k: usize,
        a: *const f32,
        rsa: isize,
        b: *const f32,
        c: *mut f32,
        rsc: isize,
    ) {
        let full = k / 16;
        let tail: __mmask16 = ((1u32 << (k % 16)) - 1) as __mmask16;
        for i in 0..m as isize {
            // SAFETY: row i of A has k contiguous elements, b has k, C[i] exists.
            unsafe {
                let row = a.offset(i * rsa);
                let mut acc = _mm512_setzero_ps();
                for p in 0..full {
                    let x = _mm512_loadu_ps(row.add(16 * p));
                    acc = _mm512_fmadd_ps(x, _mm512_loadu_ps(b.add(16 * p)), acc);
                }
                if tail != 0 {
                    let x = _mm512_maskz_loadu_ps(tail, row.add(16 * full));
                    let y = _mm512_maskz_loadu_ps(tail, b.add(16 * full));
                    acc = _mm512_fmadd_ps(x, y, acc);
                }
                *c.offset(i * rsc) = _mm512_reduce_add_ps(acc);
            }
        }
    }

    /// One panel of `16·V` columns, all rows, in chunks of [`KC`] along k (the first chunk
    /// writes C, the others add to it): with a long k (a weight gradient sums over all
    /// points) every row block would otherwise stream the whole of B again from L2 or memory.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn panel<const V: usize>(
        m: usize,
        k: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut p0 = 0;
        loop {
            let kc = KC.min(k - p0);
            let add = p0 > 0;
            // SAFETY: columns p0..p0+kc of A and rows p0..p0+kc of B exist.
            let (a, b) = unsafe { (a.offset(p0 as isize * csa), b.offset(p0 as isize * rsb)) };
            let full = m / MR;
            for blk in 0..full {
                let i0 = (blk * MR) as isize;
                // SAFETY: rows i0..i0+MR of A and C exist.
                unsafe {
                    block::<MR, V>(
                        kc,
                        a.offset(i0 * rsa),
                        rsa,
                        csa,
                        b,
                        rsb,
                        c.offset(i0 * rsc),
                        rsc,
                        add,
                    )
                };
            }
            let i0 = (full * MR) as isize;
            let (a, c) = unsafe { (a.offset(i0 * rsa), c.offset(i0 * rsc)) };
            // SAFETY: the remaining m − full·MR rows exist.
            unsafe {
                match m - full * MR {
                    5 => block::<5, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    4 => block::<4, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    3 => block::<3, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    2 => block::<2, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    1 => block::<1, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    _ => {}
                }
            }
            p0 += kc;
            if p0 >= k {
                break;
            }
        }
    }

    /// C[0..R, 0..16V] (+)= Σₚ A[0..R, p] ⊗ B[p, 0..16V], accumulated in registers (added to
    /// C's contents if `add`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const R: usize, const V: usize>(
        k: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
        add: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..k {
            let mut bv = [_mm512_setzero_ps(); V];
            for (v, x) in bv.iter_mut().enumerate() {
                // SAFETY: row p of B has 16V columns from bp.
                *x = unsafe { _mm512_loadu_ps(bp.add(16 * v)) };
            }
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: A[i, p] exists for i < R.
                let ai = _mm512_set1_ps(unsafe { *ap.offset(i as isize * rsa) });
                for (acc_v, &b_v) in row.iter_mut().zip(&bv) {
                    *acc_v = _mm512_fmadd_ps(ai, b_v, *acc_v);
                }
            }
            // SAFETY: advancing to column p + 1 of A and row p + 1 of B (not read past k).
            unsafe {
                ap = ap.offset(csa);
                bp = bp.offset(rsb);
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C[i, 16v..16v+16] exists for i < R, v < V.
                unsafe {
                    let cp = c.offset(i as isize * rsc).add(16 * v);
                    let x = if add {
                        _mm512_add_ps(x, _mm512_loadu_ps(cp))
                    } else {
                        x
                    };
                    _mm512_storeu_ps(cp, x);
                }
            }
        }
    }
}

/// The same kernel for CPUs with AVX2 + FMA but no AVX-512: vectors of 8, 16 registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::KC;
    use std::arch::x86_64::*;

    /// Rows per register block: 3 rows × 4 vectors = 12 accumulators, plus 3 broadcasts of A
    /// and one row vector of B: the 16 ymm registers.
    const MR: usize = 3;

    /// Widest panel of columns per pass, in 8-lane vectors.
    const NV: usize = 4;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut j0 = 0;
        while j0 < n {
            let nv = ((n - j0) / 8).min(NV);
            // SAFETY (all calls): columns j0..j0+8·nv of B and C exist; rows as the caller's.
            unsafe {
                match nv {
                    4 => panel::<4>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    3 => panel::<3>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    2 => panel::<2>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                    _ => panel::<1>(m, k, a, rsa, csa, b.add(j0), rsb, c.add(j0), rsc),
                }
            }
            j0 += 8 * nv;
        }
    }

    /// One panel of `8·V` columns, all rows, in chunks of [`KC`] along k (as the AVX-512
    /// version's `panel`).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel<const V: usize>(
        m: usize,
        k: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut p0 = 0;
        loop {
            let kc = KC.min(k - p0);
            let add = p0 > 0;
            // SAFETY: columns p0..p0+kc of A and rows p0..p0+kc of B exist.
            let (a, b) = unsafe { (a.offset(p0 as isize * csa), b.offset(p0 as isize * rsb)) };
            let full = m / MR;
            for blk in 0..full {
                let i0 = (blk * MR) as isize;
                // SAFETY: rows i0..i0+MR of A and C exist.
                unsafe {
                    block::<MR, V>(
                        kc,
                        a.offset(i0 * rsa),
                        rsa,
                        csa,
                        b,
                        rsb,
                        c.offset(i0 * rsc),
                        rsc,
                        add,
                    )
                };
            }
            let i0 = (full * MR) as isize;
            // SAFETY: the remaining m − full·MR rows exist.
            unsafe {
                let (a, c) = (a.offset(i0 * rsa), c.offset(i0 * rsc));
                match m - full * MR {
                    2 => block::<2, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    1 => block::<1, V>(kc, a, rsa, csa, b, rsb, c, rsc, add),
                    _ => {}
                }
            }
            p0 += kc;
            if p0 >= k {
                break;
            }
        }
    }

    /// C[0..R, 0..8V] (+)= Σₚ A[0..R, p] ⊗ B[p, 0..8V] in registers: A's R entries broadcast
    /// first, then B's row one vector at a time (keeps the block within 16 registers).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize, const V: usize>(
        k: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
        add: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..k {
            let mut av = [_mm256_setzero_ps(); R];
            for (i, x) in av.iter_mut().enumerate() {
                // SAFETY: A[i, p] exists for i < R.
                *x = _mm256_set1_ps(unsafe { *ap.offset(i as isize * rsa) });
            }
            for v in 0..V {
                // SAFETY: row p of B has 8V columns from bp.
                let bv = unsafe { _mm256_loadu_ps(bp.add(8 * v)) };
                for (row, &ai) in acc.iter_mut().zip(&av) {
                    row[v] = _mm256_fmadd_ps(ai, bv, row[v]);
                }
            }
            // SAFETY: advancing to column p + 1 of A and row p + 1 of B (not read past k).
            unsafe {
                ap = ap.offset(csa);
                bp = bp.offset(rsb);
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C[i, 8v..8v+8] exists for i < R, v < V.
                unsafe {
                    let cp = c.offset(i as isize * rsc).add(8 * v);
                    let x = if add {
                        _mm256_add_ps(x, _mm256_loadu_ps(cp))
                    } else {
                        x
                    };
                    _mm256_storeu_ps(cp, x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        rsa: usize,
        csa: usize,
        b: &[f32],
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| f64::from(a[i * rsa + p * csa]) * f64::from(b[p * n + j]))
                    .sum();
            }
        }
        c
    }

    /// `len` deterministic values in [−1, 1) (a cheap hash of the index).
    fn values(len: usize, mul: usize, modulus: usize) -> Vec<f32> {
        let half = (modulus / 2) as f32;
        (0..len)
            .map(|i| ((i * mul % modulus) as f32 - half) / half)
            .collect()
    }

    /// Every entry of `c` within f32 rounding (growing like √k) of the f64 reference.
    fn assert_close(c: &[f32], want: &[f64], k: usize, what: &str) {
        for (x, y) in c.iter().zip(want) {
            assert!(
                (f64::from(*x) - y).abs() <= 1e-5 * (1.0 + y.abs()) * (k as f64).sqrt(),
                "{what}: {x} vs {y}"
            );
        }
    }

    #[test]
    fn matches_the_definition_for_strided_a_and_ragged_shapes() {
        if !available() {
            eprintln!("no AVX-512F here: the kernel is not used, nothing to test");
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 16),
            (7, 3, 64),
            (13, 64, 64),
            (64, 500, 80),
            (5, 9, 208),
        ] {
            let a = values(m * k, 37, 101);
            let b = values(k * n, 53, 97);
            for transposed in [false, true] {
                // A row-major (rsa = k, csa = 1) or stored transposed (rsa = 1, csa = m).
                let (buf, rsa, csa) = if transposed {
                    let mut t = vec![0.0f32; m * k];
                    for i in 0..m {
                        for p in 0..k {
                            t[p * m + i] = a[i * k + p];
                        }
                    }
                    (t, 1, m)
                } else {
                    (a.clone(), k, 1)
                };
                let want = reference(m, k, n, &buf, rsa, csa, &b);
                let mut c = vec![f32::NAN; m * n];
                // SAFETY: buffers sized for the shapes and strides.
                let ran = unsafe {
                    gemm(
                        m,
                        k,
                        n,
                        buf.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        b.as_ptr(),
                        n as isize,
                        c.as_mut_ptr(),
                        n as isize,
                    )
                };
                assert!(ran);
                assert_close(&c, &want, k, &format!("{m}x{k}x{n}"));
            }
        }
    }

    /// The AVX2 version directly (whatever the dispatcher picks here), on widths that are
    /// multiples of 8 but not all of 16, row-major and transposed A, k across the KC chunks.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_version_matches_the_definition() {
        if !available_avx2() {
            eprintln!("no AVX2 + FMA here: nothing to test");
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 8),
            (7, 3, 24),
            (13, 64, 32),
            (64, 500, 40),
            (5, 9, 104),
        ] {
            let a = values(m * k, 37, 101);
            let b = values(k * n, 53, 97);
            for transposed in [false, true] {
                let (buf, rsa, csa) = if transposed {
                    let mut t = vec![0.0f32; m * k];
                    for i in 0..m {
                        for p in 0..k {
                            t[p * m + i] = a[i * k + p];
                        }
                    }
                    (t, 1, m)
                } else {
                    (a.clone(), k, 1)
                };
                let want = reference(m, k, n, &buf, rsa, csa, &b);
                let mut c = vec![f32::NAN; m * n];
                // SAFETY: AVX2 + FMA present; buffers sized for the shapes and strides.
                unsafe {
                    avx2::gemm(
                        m,
                        k,
                        n,
                        buf.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        b.as_ptr(),
                        n as isize,
                        c.as_mut_ptr(),
                        n as isize,
                    )
                };
                assert_close(&c, &want, k, &format!("avx2 {m}x{k}x{n} t={transposed}"));
            }
        }
    }

    #[test]
    fn one_column_products_are_row_dot_products() {
        if !available() {
            return;
        }
        for k in [1, 15, 16, 64, 70] {
            let m = 9;
            let a = values(m * k, 37, 101);
            let b = values(k, 53, 97);
            let want = reference(m, k, 1, &a, k, 1, &b);
            let mut c = vec![f32::NAN; m];
            // SAFETY: buffers sized for the shapes.
            let ran = unsafe {
                gemm(
                    m,
                    k,
                    1,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    1,
                    c.as_mut_ptr(),
                    1,
                )
            };
            assert!(ran);
            assert_close(&c, &want, k, &format!("k = {k}"));
        }
    }

    #[test]
    fn declines_widths_that_are_not_multiples_of_16() {
        let a = [1.0f32; 4];
        let b = [1.0f32; 20];
        let mut c = [0.0f32; 20];
        // SAFETY: 1×4 · 4×5 into 1×5, all in bounds.
        let ran = unsafe { gemm(1, 4, 5, a.as_ptr(), 4, 1, b.as_ptr(), 5, c.as_mut_ptr(), 5) };
        assert!(!ran);
        assert!(c.iter().all(|&x| x == 0.0));
    }
}

#[cfg(test)]
/// Throughput of the kernel against the `gemm` crate and matrixmultiply on the PINN shapes,
/// single-threaded (not a test: run with
/// `cargo test --release -p nabla-nn --lib skinny::speed -- --ignored --nocapture`, and with
/// `NABLA_NO_AVX512=1` for the path of CPUs without AVX-512).
mod speed {
    use super::*;

    /// C ← A·B by the `gemm` crate, single-threaded (the callers split rows over rayon).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_crate(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        // SAFETY: the caller's pointers and strides address m×k, k×n and m×n matrices.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c,
                1,
                rsc,
                false,
                a,
                csa,
                rsa,
                b,
                1,
                rsb,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }

    #[test]
    #[ignore]
    fn gflops() {
        let rows = 4000;
        let h: Vec<f32> = (0..rows * 64).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..64 * 64).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; rows * 64];
        let mut g = vec![0.0f32; 64 * 64];
        let reps = 200;
        let flops = 2.0 * rows as f64 * 64.0 * 64.0 * reps as f64;
        let rate = |label: &str, product: &mut dyn FnMut()| {
            product(); // warm-up: first touch of the output pages
            let t = std::time::Instant::now();
            for _ in 0..reps {
                product();
            }
            let s = t.elapsed().as_secs_f64();
            eprintln!("{label}: {:.1} GFLOPS", flops / s * 1e-9);
        };
        let (hp, wp, cp, gp) = (h.as_ptr(), w.as_ptr(), c.as_mut_ptr(), g.as_mut_ptr());
        // SAFETY (all four): h and c are rows×64, w and g 64×64, as the shapes passed.
        if available() {
            rate(
                "layer product   rows×64 · 64×64 (this kernel)",
                &mut || unsafe {
                    gemm(rows, 64, 64, hp, 64, 1, wp, 64, cp, 64);
                },
            );
            rate(
                "weight gradient 64×rows · rows×64 (this kernel)",
                &mut || unsafe {
                    gemm(64, rows, 64, hp, 1, 64, cp, 64, gp, 64);
                },
            );
        }
        #[cfg(target_arch = "x86_64")]
        if available_avx2() {
            rate(
                "layer product   rows×64 · 64×64 (AVX2 version)",
                &mut || unsafe {
                    avx2::gemm(rows, 64, 64, hp, 64, 1, wp, 64, cp, 64);
                },
            );
            rate(
                "weight gradient 64×rows · rows×64 (AVX2 version)",
                &mut || unsafe {
                    avx2::gemm(64, rows, 64, hp, 1, 64, cp, 64, gp, 64);
                },
            );
        }
        rate("layer product   (gemm crate)", &mut || unsafe {
            gemm_crate(rows, 64, 64, hp, 64, 1, wp, 64, cp, 64);
        });
        rate("weight gradient (gemm crate)", &mut || unsafe {
            gemm_crate(64, rows, 64, hp, 1, 64, cp, 64, gp, 64);
        });
        rate("layer product   (matrixmultiply)", &mut || unsafe {
            matrixmultiply::sgemm(rows, 64, 64, 1.0, hp, 64, 1, wp, 64, 1, 0.0, cp, 64, 1);
        });
        rate("weight gradient (matrixmultiply)", &mut || unsafe {
            matrixmultiply::sgemm(64, rows, 64, 1.0, hp, 1, 64, cp, 64, 1, 0.0, gp, 64, 1);
        });
    }
}
