//! Grid transfers and the Galerkin coarse operators.
//!
//! Along a coarsened axis with `n` fine points the coarse points are the fine points
//! `1, 3, 5, …` (0-based), `n_c = n / 2`: coarse `I` sits at fine `2I + 1`, and column `I` of
//! the 1-D prolongation has weights `(½, 1, ½)` at fine `2I, 2I+1, 2I+2` (a fine point beyond
//! the grid is dropped). `P` is the tensor product over the axes (an axis that is not coarsened
//! contributes the identity), restriction is `Pᵀ` and coarse operators are `Pᵀ A P`.
//!
//! In padded coordinates (ghost layer at index 0), fine interior `i` is at `i + 1` and coarse
//! interior `I` at `I + 1`, so the fine support of coarse `I` is padded `2I+1 ..= 2I+3` and the
//! coarse parents of fine `i` are padded `i/2, i/2 + 1` (even `i`) or `(i+1)/2` (odd `i`); the
//! ghosts that appear at the ends hold zeros, so no bounds checks are needed.

use super::level::{for_each_line, zero_ghost_couplings, BSrc, Geom, Op, Shared, Tri};
use rayon::prelude::*;

/// Whether each axis is coarsened from one level to the next (`false`: kept as is).
pub(crate) type Coarsening = [bool; 3];

/// Fine padded line coordinates and weights contributing to coarse interior line `jc` along
/// one axis (the rows of Pᵀ).
#[inline(always)]
fn restrict_weights(coarsen: bool, pad: usize, jc: usize) -> ([(usize, f64); 3], usize) {
    if coarsen {
        ([(2 * jc + 1, 0.5), (2 * jc + 2, 1.0), (2 * jc + 3, 0.5)], 3)
    } else {
        ([(jc + pad, 1.0), (0, 0.0), (0, 0.0)], 1)
    }
}

/// Coarse padded line coordinates and weights interpolating to fine interior line `j` (the
/// rows of P).
#[inline(always)]
fn prolong_weights(coarsen: bool, pad: usize, j: usize) -> ([(usize, f64); 2], usize) {
    if !coarsen {
        ([(j + pad, 1.0), (0, 0.0)], 1)
    } else if j % 2 == 1 {
        ([((j - 1) / 2 + 1, 1.0), (0, 0.0)], 1)
    } else {
        ([(j / 2, 0.5), (j / 2 + 1, 0.5)], 2)
    }
}

/// `b_c ← Pᵀ r_f` (full weighting, up to the factor 2^d). Ghosts of `r_f` must be zero.
pub(crate) fn restrict(gf: &Geom, gc: &Geom, cz: Coarsening, rf: &[f64], bc: &mut [f64]) {
    assert!(rf.len() == gf.padded_len() && bc.len() == gc.padded_len());
    let nc0 = gc.n[0];
    let bs = Shared::new(bc);
    for_each_line(gc.lines(), 4 * nc0, |l| {
        let (jc, kc) = gc.line_jk(l);
        let cb = gc.base(jc, kc);
        // SAFETY: writes the interior of coarse line l only; no other task touches it.
        let out = unsafe { std::slice::from_raw_parts_mut(bs.ptr().add(cb), nc0) };
        out.iter_mut().for_each(|v| *v = 0.0);
        let (wy, ny) = restrict_weights(cz[1], gf.pad[1], jc);
        let (wz, nz) = restrict_weights(cz[2], gf.pad[2], kc);
        for &(kk, wk) in &wz[..nz] {
            for &(jj, wj) in &wy[..ny] {
                let w = wj * wk;
                let fb = gf.padded_base(jj, kk);
                if cz[0] {
                    // Fine points 2I, 2I+1, 2I+2 (the last may be the ghost, which is 0).
                    let f = &rf[fb..fb + 2 * nc0 + 1];
                    let hw = 0.5 * w;
                    for (i, o) in out.iter_mut().enumerate() {
                        *o += hw * (f[2 * i] + f[2 * i + 2]) + w * f[2 * i + 1];
                    }
                } else {
                    for (o, v) in out.iter_mut().zip(&rf[fb..fb + nc0]) {
                        *o += w * v;
                    }
                }
            }
        }
    });
}

/// Coarse lines per task of [`restrict_rb_residual`].
const RESTRICT_CHUNK: usize = 8;

/// Length of the scratch [`restrict_rb_residual`] needs for a fine level `gf` with coarse
/// level `gc`.
pub(crate) fn rb_scratch_len(gf: &Geom, gc: &Geom) -> usize {
    gc.lines().div_ceil(RESTRICT_CHUNK) * (gf.n[0] + 1)
}

/// `b_c ← Pᵀ (b − A x)` for a red–black level whose last smoothing half-sweep had colour 1,
/// so the residual vanishes at colour-1 points: the residual of each fine line is computed at
/// its colour-0 points only, into a line of `scratch`, and restricted at once (never stored as
/// a whole vector). Returns `false` (doing nothing) when the level is not red–black.
#[allow(clippy::too_many_arguments)]
pub(crate) fn restrict_rb_residual(
    op: &Op,
    gf: &Geom,
    gc: &Geom,
    cz: Coarsening,
    b: BSrc,
    x: &[f64],
    bc: &mut [f64],
    scratch: &mut [f64],
) -> bool {
    if !op.is_red_black() {
        return false;
    }
    assert!(bc.len() == gc.padded_len() && scratch.len() >= rb_scratch_len(gf, gc));
    let (n0, nc0) = (gf.n[0], gc.n[0]);
    let lines = gc.lines();
    let bs = Shared::new(bc);
    let chunk = |c: usize, buf: &mut [f64]| {
        for l in c * RESTRICT_CHUNK..((c + 1) * RESTRICT_CHUNK).min(lines) {
            let (jc, kc) = gc.line_jk(l);
            // SAFETY: writes the interior of coarse line l only; no other task touches it.
            let out = unsafe { std::slice::from_raw_parts_mut(bs.ptr().add(gc.base(jc, kc)), nc0) };
            out.iter_mut().for_each(|v| *v = 0.0);
            let (wy, ny) = restrict_weights(cz[1], gf.pad[1], jc);
            let (wz, nz) = restrict_weights(cz[2], gf.pad[2], kc);
            for &(kk, wk) in &wz[..nz] {
                for &(jj, wj) in &wy[..ny] {
                    // Padded line coordinates → interior; ghost lines have zero residual.
                    let (j, k) = (jj.wrapping_sub(gf.pad[1]), kk.wrapping_sub(gf.pad[2]));
                    if j >= gf.n[1] || k >= gf.n[2] {
                        continue;
                    }
                    op.rb_residual_line(gf, b, x, j, k, buf);
                    let w = wj * wk;
                    if cz[0] {
                        let hw = 0.5 * w;
                        for (i, o) in out.iter_mut().enumerate() {
                            *o += hw * (buf[2 * i] + buf[2 * i + 2]) + w * buf[2 * i + 1];
                        }
                    } else {
                        for (o, v) in out.iter_mut().zip(&buf[..nc0]) {
                            *o += w * v;
                        }
                    }
                }
            }
        }
    };
    let width = n0 + 1;
    let chunks = lines.div_ceil(RESTRICT_CHUNK);
    let scratch = &mut scratch[..chunks * width];
    if lines * nc0 < (1 << 13) {
        for c in 0..chunks {
            chunk(c, &mut scratch[..width]);
        }
    } else {
        scratch
            .par_chunks_mut(width)
            .enumerate()
            .for_each(|(c, buf)| chunk(c, buf));
    }
    true
}

/// `x_f ← x_f + P x_c` (bilinear / trilinear interpolation; ghosts of `x_c` are zero).
pub(crate) fn prolong_add(gc: &Geom, gf: &Geom, cz: Coarsening, xc: &[f64], xf: &mut [f64]) {
    assert!(xf.len() == gf.padded_len() && xc.len() == gc.padded_len());
    let n0 = gf.n[0];
    let xs = Shared::new(xf);
    for_each_line(gf.lines(), n0, |l| {
        let (j, k) = gf.line_jk(l);
        let fb = gf.base(j, k);
        // SAFETY: writes the interior of fine line l only; no other task touches it.
        let out = unsafe { std::slice::from_raw_parts_mut(xs.ptr().add(fb), n0) };
        let (wy, ny) = prolong_weights(cz[1], gc.pad[1], j);
        let (wz, nz) = prolong_weights(cz[2], gc.pad[2], k);
        for &(kk, wk) in &wz[..nz] {
            for &(jj, wj) in &wy[..ny] {
                let w = wj * wk;
                // Coarse interior point I of this line is at cb + I; cb − 1 is the ghost.
                let cb = gc.padded_base(jj, kk);
                if cz[0] {
                    let c = &xc[cb - 1..cb + n0 / 2 + 1];
                    // Fine 2t: ½(c_{t−1} + c_t); fine 2t+1: c_t (c shifted by one here).
                    let hw = 0.5 * w;
                    let mut pairs = out.chunks_exact_mut(2);
                    for (t, pr) in pairs.by_ref().enumerate() {
                        pr[0] += hw * (c[t] + c[t + 1]);
                        pr[1] += w * c[t + 1];
                    }
                    if let [last] = pairs.into_remainder() {
                        let t = n0 / 2;
                        *last += hw * (c[t] + c[t + 1]);
                    }
                } else {
                    for (o, v) in out.iter_mut().zip(&xc[cb..cb + n0]) {
                        *o += w * v;
                    }
                }
            }
        }
    });
}

/// 1-D support of column `ic` of P: `(fine index, weight)` within `0..n`.
fn support_1d(coarsen: bool, ic: usize, n: usize) -> impl Iterator<Item = (usize, f64)> {
    let all: [(usize, f64); 3] = if coarsen {
        [(2 * ic, 0.5), (2 * ic + 1, 1.0), (2 * ic + 2, 0.5)]
    } else {
        [(ic, 1.0), (usize::MAX, 0.0), (usize::MAX, 0.0)]
    };
    all.into_iter().filter(move |&(i, w)| i < n && w != 0.0)
}

/// 1-D parents of fine index `i`: `(coarse index, weight)` within `0..nc`.
fn parents_1d(coarsen: bool, i: usize, nc: usize) -> impl Iterator<Item = (usize, f64)> {
    let all: [(usize, f64); 2] = if !coarsen {
        [(i, 1.0), (usize::MAX, 0.0)]
    } else if i % 2 == 1 {
        [((i - 1) / 2, 1.0), (usize::MAX, 0.0)]
    } else {
        [(i.wrapping_div(2).wrapping_sub(1), 0.5), (i / 2, 0.5)]
    };
    all.into_iter().filter(move |&(c, w)| c < nc && w != 0.0)
}

/// The 1-D Galerkin product `Pᵀ T P` of a tridiagonal matrix (or `T` itself when the axis is
/// not coarsened).
fn galerkin_1d(t: &Tri, coarsen: bool) -> Tri {
    if !coarsen {
        return t.clone();
    }
    let n = t.len();
    let nc = n / 2;
    (0..nc)
        .map(|ic| {
            let mut row = [0.0; 3];
            for (i, wi) in support_1d(true, ic, n) {
                for (d, &v) in t[i].iter().enumerate() {
                    let j = (i + d).wrapping_sub(1);
                    if v == 0.0 || j >= n {
                        continue;
                    }
                    for (jc, wj) in parents_1d(true, j, nc) {
                        row[jc + 1 - ic] += wi * v * wj;
                    }
                }
            }
            row
        })
        .collect()
}

/// The factors of the constant Laplacian `diag·I + off·(neighbours)` as a Kronecker sum:
/// `K_a = tridiag(off, diag/d, off)`, `M_a = I`.
pub(crate) fn tensor_of_const(g: &Geom, diag: f64, off: f64) -> Op {
    let mut k: [Tri; 3] = [
        vec![[0.0, 0.0, 0.0]],
        vec![[0.0, 0.0, 0.0]],
        vec![[0.0, 0.0, 0.0]],
    ];
    let mut m: [Tri; 3] = [
        vec![[0.0, 1.0, 0.0]],
        vec![[0.0, 1.0, 0.0]],
        vec![[0.0, 1.0, 0.0]],
    ];
    for a in 0..g.nd {
        let n = g.n[a];
        k[a] = (0..n)
            .map(|i| {
                [
                    if i > 0 { off } else { 0.0 },
                    diag / g.nd as f64,
                    if i + 1 < n { off } else { 0.0 },
                ]
            })
            .collect();
        m[a] = vec![[0.0, 1.0, 0.0]; n];
    }
    Op::tensor(k, m)
}

/// The Galerkin operator `A_c = Pᵀ A P` of a level operator.
///
/// For the constant Laplacian and its Galerkin operators (Kronecker sums of 1-D tridiagonal
/// factors) this is exact and costs only 1-D products: `Pᵀ (K ⊗ M) P = (PᵀKP) ⊗ (PᵀMP)`. For
/// variable stencils it is computed row by row ([`galerkin_full`]).
pub(crate) fn galerkin(fine: &Op, gf: &Geom, cz: Coarsening, gc: &Geom) -> Op {
    match fine {
        Op::Const { diag, off } => galerkin(&tensor_of_const(gf, *diag, *off), gf, cz, gc),
        Op::Tensor { k, m, .. } => {
            let mut kc = k.clone();
            let mut mc = m.clone();
            for a in 0..gf.nd {
                kc[a] = galerkin_1d(&k[a], cz[a]);
                mc[a] = galerkin_1d(&m[a], cz[a]);
            }
            Op::tensor(kc, mc)
        }
        Op::Faces { .. } | Op::Full { .. } => galerkin_full(fine, gf, cz, gc),
    }
}

/// `Pᵀ A P` like [`galerkin`], written into `out` in place when `out` already holds a stored
/// 3^d stencil of level `gc` (a refactor: the same arithmetic, so the same bits as a fresh
/// [`galerkin`]); otherwise `out` is replaced by a fresh [`galerkin`].
pub(crate) fn galerkin_into(fine: &Op, gf: &Geom, cz: Coarsening, gc: &Geom, out: &mut Op) {
    if let (Op::Faces { .. } | Op::Full { .. }, Op::Full { s, coef, inv_diag }) = (fine, &mut *out)
    {
        let len = gc.padded_len();
        if *s == gc.stencil_len() && coef.len() == len * *s && inv_diag.len() == len {
            galerkin_full_write(fine, gf, cz, gc, coef, inv_diag);
            return;
        }
    }
    *out = galerkin(fine, gf, cz, gc);
}

/// Galerkin weights of one fine row: for a fine point at local position `li` (per axis: fine
/// index − first fine index of the coarse column's support) and a fine stencil offset `s`, the
/// list of `(coarse offset J − I, P[i,I]·P[i+s,J])`, both in the 27 layout.
struct GalerkinTable {
    start: Vec<usize>,
    entries: Vec<(u8, f64)>,
}

impl GalerkinTable {
    /// `kinds[a]`: 0 = axis absent, 1 = kept (identity transfer), 2 = coarsened.
    fn new(kinds: [u8; 3]) -> Self {
        // 1-D lists: axis(kind)[li][s+1] = [(dJ, weight)].
        let axis = |kind: u8| -> Vec<Vec<Vec<(usize, f64)>>> {
            match kind {
                0 => vec![vec![vec![], vec![(1, 1.0)], vec![]]],
                1 => vec![vec![vec![(0, 1.0)], vec![(1, 1.0)], vec![(2, 1.0)]]],
                _ => {
                    // Fine 2I+li has weight wi in column I; the parents of fine 2I+lj, as
                    // dJ + 1: lj = −1 → 0; 0 → 0, 1 (½ each); 1 → 1; 2 → 1, 2 (½ each); 3 → 2.
                    let parents = |lj: usize| -> Vec<(usize, f64)> {
                        match lj {
                            0 => vec![(0, 1.0)],
                            1 => vec![(0, 0.5), (1, 0.5)],
                            2 => vec![(1, 1.0)],
                            3 => vec![(1, 0.5), (2, 0.5)],
                            _ => vec![(2, 1.0)],
                        }
                    };
                    (0..3)
                        .map(|li| {
                            let wi = if li == 1 { 1.0 } else { 0.5 };
                            (0..3)
                                .map(|s| {
                                    parents(li + s)
                                        .into_iter()
                                        .map(|(d, w)| (d, w * wi))
                                        .collect()
                                })
                                .collect()
                        })
                        .collect()
                }
            }
        };
        let (tx, ty, tz) = (axis(kinds[0]), axis(kinds[1]), axis(kinds[2]));
        let mut start = Vec::with_capacity(27 * 27 + 1);
        let mut entries = Vec::new();
        for l in 0..27 {
            let li = [l % 3, (l / 3) % 3, l / 9];
            for t in 0..27 {
                start.push(entries.len());
                let sv = [t % 3, (t / 3) % 3, t / 9];
                if li[0] >= tx.len() || li[1] >= ty.len() || li[2] >= tz.len() {
                    continue;
                }
                for &(dz, wz) in &tz[li[2]][sv[2]] {
                    for &(dy, wy) in &ty[li[1]][sv[1]] {
                        for &(dx, wx) in &tx[li[0]][sv[0]] {
                            entries.push(((dx + 3 * dy + 9 * dz) as u8, wx * wy * wz));
                        }
                    }
                }
            }
        }
        start.push(entries.len());
        Self { start, entries }
    }
}

/// `Pᵀ A P` as a stored 3^d stencil, row by row: coarse row `I` sums, over the ≤ 3^d fine
/// points `i` of column `I` of P and the entries `A[i, i+s]`, the tabulated products of the
/// interpolation weights — no general sparse product.
fn galerkin_full(fine: &Op, gf: &Geom, cz: Coarsening, gc: &Geom) -> Op {
    let s = gc.stencil_len();
    let len = gc.padded_len();
    let mut coef = vec![0.0; len * s];
    let mut inv_diag = vec![0.0; len];
    galerkin_full_write(fine, gf, cz, gc, &mut coef, &mut inv_diag);
    Op::Full { s, coef, inv_diag }
}

/// The body of [`galerkin_full`]: writes the stencil and inverse diagonal of every interior
/// coarse point (ghost entries are left as they are: zero).
fn galerkin_full_write(
    fine: &Op,
    gf: &Geom,
    cz: Coarsening,
    gc: &Geom,
    coef: &mut [f64],
    inv_diag: &mut [f64],
) {
    let s = gc.stencil_len();
    let base27 = gc.base27();
    let mut kinds = [0u8; 3];
    for a in 0..gc.nd {
        kinds[a] = if cz[a] { 2 } else { 1 };
    }
    let table = GalerkinTable::new(kinds);
    let nli = kinds.map(|k| if k == 2 { 3 } else { 1 });
    assert!(coef.len() == gc.padded_len() * s && inv_diag.len() == gc.padded_len());
    let cs = Shared::new(coef);
    let ds = Shared::new(inv_diag);
    let nc = gc.n;
    for_each_line(gc.lines(), nc[0] * 32, |l| {
        let (jc, kc) = gc.line_jk(l);
        for ic in 0..nc[0] {
            let ci = [ic, jc, kc];
            let first = [0, 1, 2].map(|a| if cz[a] { 2 * ci[a] } else { ci[a] });
            let mut acc = [0.0f64; 27];
            for lz in 0..nli[2] {
                for ly in 0..nli[1] {
                    for lx in 0..nli[0] {
                        let fi = [first[0] + lx, first[1] + ly, first[2] + lz];
                        if (0..3).any(|a| fi[a] >= gf.n[a]) {
                            continue;
                        }
                        let row = fine.row27(gf, fi);
                        let lbase = (lx + 3 * ly + 9 * lz) * 27;
                        for (t, &v) in row.iter().enumerate() {
                            if v == 0.0 {
                                continue;
                            }
                            let k = lbase + t;
                            for &(u, w) in &table.entries[table.start[k]..table.start[k + 1]] {
                                acc[u as usize] += w * v;
                            }
                        }
                    }
                }
            }
            // Drop couplings to coarse points outside the grid (the ghost layer).
            zero_ghost_couplings(gc, ci, &mut acc);
            let p = gc.index(ci);
            // SAFETY: each coarse point is written by exactly one task (its line).
            unsafe {
                for t in 0..s {
                    *cs.ptr().add(p * s + t) = acc[base27 + t];
                }
                let d = acc[13];
                *ds.ptr().add(p) = if d > 0.0 { 1.0 / d } else { 0.0 };
            }
        }
    });
}
