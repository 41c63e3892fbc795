//! Prolongators of smoothed aggregation: the tentative prolongator `T` from the near-nullspace,
//! the filtered, diagonally scaled matrix `D_f⁻¹ A_f` with its spectral radius, and the smoothed
//! prolongator `P = (I − ω D_f⁻¹ A_f) T`, `ω = 4 / (3 ρ(D_f⁻¹ A_f))`.
//!
//! `A_f` keeps the strong couplings and adds each weak one to the diagonal of its row (so
//! `A_f` has the row sums of `A`, and a constant near-nullspace stays one); with θ = 0 every
//! coupling is strong and `A_f = A`.

use super::aggregate::NO_AGGREGATE;
use super::matrix::{for_each_row_mut, Csr};
use rayon::prelude::*;

/// Below this fraction of its original norm, a near-nullspace column restricted to an
/// aggregate counts as linearly dependent on the previous ones and is dropped (left zero).
const RANK_TOL: f64 = 1e-10;

/// The tentative prolongator and the coarse near-nullspace.
pub(crate) struct Tentative {
    /// `n × (aggregates·k)`: on aggregate `a`, columns `a·k .. a·k + k` hold an orthonormal
    /// basis of the near-nullspace restricted to the aggregate's rows.
    pub t: Csr,
    /// Coarse near-nullspace, `(aggregates·k) × k` row-major: the R factors.
    pub coarse_nullspace: Vec<f64>,
}

/// Builds `T` for the aggregates `agg` (per node, `bs` rows per node) and the near-nullspace
/// `b` (`n × k` row-major) by a modified Gram–Schmidt QR on each aggregate.
pub(crate) fn tentative(
    agg: &[u32],
    aggregates: usize,
    bs: usize,
    b: &[f64],
    k: usize,
) -> Tentative {
    if k == 1 && bs == 1 {
        return tentative_scalar(agg, aggregates, b);
    }
    let n = agg.len() * bs;
    // Rows of each aggregate, by counting sort.
    let mut ptr = vec![0usize; aggregates + 1];
    for &g in agg {
        if g != NO_AGGREGATE {
            ptr[g as usize + 1] += bs;
        }
    }
    for a in 0..aggregates {
        ptr[a + 1] += ptr[a];
    }
    let mut next = ptr.clone();
    let mut members = vec![0u32; ptr[aggregates]];
    for (node, &g) in agg.iter().enumerate() {
        if g != NO_AGGREGATE {
            for r in node * bs..node * bs + bs {
                members[next[g as usize]] = r as u32;
                next[g as usize] += 1;
            }
        }
    }
    // Q (rows × k, row-major) and R (k × k) of every aggregate.
    let factors: Vec<(Vec<f64>, Vec<f64>)> = (0..aggregates)
        .into_par_iter()
        .map(|a| {
            let rows = &members[ptr[a]..ptr[a + 1]];
            let m = rows.len();
            let mut q = vec![0.0; m * k];
            for (l, &r) in rows.iter().enumerate() {
                q[l * k..l * k + k].copy_from_slice(&b[r as usize * k..r as usize * k + k]);
            }
            let mut rf = vec![0.0; k * k];
            for c in 0..k {
                let original: f64 = (0..m).map(|l| q[l * k + c].powi(2)).sum::<f64>().sqrt();
                for p in 0..c {
                    let dot: f64 = (0..m).map(|l| q[l * k + p] * q[l * k + c]).sum();
                    rf[p * k + c] = dot;
                    for l in 0..m {
                        q[l * k + c] -= dot * q[l * k + p];
                    }
                }
                let norm: f64 = (0..m).map(|l| q[l * k + c].powi(2)).sum::<f64>().sqrt();
                if norm > RANK_TOL * original && norm > 0.0 {
                    rf[c * k + c] = norm;
                    (0..m).for_each(|l| q[l * k + c] /= norm);
                } else {
                    (0..m).for_each(|l| q[l * k + c] = 0.0);
                }
            }
            (q, rf)
        })
        .collect();
    let mut indptr = Vec::with_capacity(n + 1);
    indptr.push(0);
    for i in 0..n {
        let has = agg[i / bs] != NO_AGGREGATE;
        indptr.push(indptr[i] + if has { k } else { 0 });
    }
    let nnz = indptr[n];
    let mut indices = vec![0u32; nnz];
    let mut values = vec![0.0; nnz];
    let mut coarse_nullspace = vec![0.0; aggregates * k * k];
    for (a, (q, rf)) in factors.iter().enumerate() {
        for (l, &r) in members[ptr[a]..ptr[a + 1]].iter().enumerate() {
            let s = indptr[r as usize];
            for c in 0..k {
                indices[s + c] = (a * k + c) as u32;
                values[s + c] = q[l * k + c];
            }
        }
        coarse_nullspace[a * k * k..(a + 1) * k * k].copy_from_slice(rf);
    }
    Tentative {
        t: Csr {
            rows: n,
            cols: aggregates * k,
            indptr,
            indices,
            values,
        },
        coarse_nullspace,
    }
}

/// [`tentative`] for one near-nullspace vector and block size 1: column `a` of `T` is `b`
/// on aggregate `a`, normalised (a zero restriction leaves the column zero).
fn tentative_scalar(agg: &[u32], aggregates: usize, b: &[f64]) -> Tentative {
    let n = agg.len();
    let mut norms = vec![0.0; aggregates];
    for (i, &g) in agg.iter().enumerate() {
        if g != NO_AGGREGATE {
            norms[g as usize] += b[i] * b[i];
        }
    }
    norms.iter_mut().for_each(|v| *v = v.sqrt());
    let mut indptr = Vec::with_capacity(n + 1);
    indptr.push(0);
    let mut indices = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for (&g, &bi) in agg.iter().zip(b) {
        if g != NO_AGGREGATE {
            let nrm = norms[g as usize];
            indices.push(g);
            values.push(if nrm > 0.0 { bi / nrm } else { 0.0 });
        }
        indptr.push(indices.len());
    }
    Tentative {
        t: Csr {
            rows: n,
            cols: aggregates,
            indptr,
            indices,
            values,
        },
        coarse_nullspace: norms,
    }
}

/// The pattern of `I − ω D_f⁻¹ A_f`: the diagonal first in every row, then the kept
/// off-diagonal entries of `a` in stored order.
pub(crate) fn smoother_pattern(a: &Csr, keep: &[bool]) -> Csr {
    let (ip, ix) = (&a.indptr, &a.indices);
    let counts: Vec<usize> = (0..a.rows)
        .into_par_iter()
        .map(|i| {
            1 + (ip[i]..ip[i + 1])
                .filter(|&k| keep[k] && ix[k] as usize != i)
                .count()
        })
        .collect();
    let mut indptr = Vec::with_capacity(a.rows + 1);
    indptr.push(0);
    for c in counts {
        indptr.push(indptr.last().copied().unwrap_or(0) + c);
    }
    let mut indices = vec![0u32; indptr[a.rows]];
    for_each_row_mut(&indptr, &mut indices, |i, row| {
        row[0] = i as u32;
        let mut o = 1;
        for k in ip[i]..ip[i + 1] {
            if keep[k] && ix[k] as usize != i {
                row[o] = ix[k];
                o += 1;
            }
        }
    });
    let nnz = indices.len();
    Csr {
        rows: a.rows,
        cols: a.cols,
        indptr,
        indices,
        values: vec![0.0; nnz],
    }
}

/// Fills `s` (pattern from [`smoother_pattern`]) with `D_f⁻¹ A_f`, `dfilt` from
/// [`filtered_diagonal`]. Rows with a zero diagonal (decoupled coarse unknowns) are left zero.
pub(crate) fn fill_scaled_filtered(a: &Csr, keep: &[bool], dfilt: &[f64], s: &mut Csr) {
    let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
    let Csr { indptr, values, .. } = s;
    for_each_row_mut(indptr, values, |i, row| {
        let inv = if dfilt[i] > 0.0 { 1.0 / dfilt[i] } else { 0.0 };
        row[0] = dfilt[i] * inv;
        let mut o = 1;
        for k in ip[i]..ip[i + 1] {
            if keep[k] && ix[k] as usize != i {
                row[o] = vx[k] * inv;
                o += 1;
            }
        }
    });
}

/// The diagonal of `A_f`: `a_ii` plus the weak couplings of row `i` (`a_ii` alone should
/// lumping make it non-positive).
pub(crate) fn filtered_diagonal(a: &Csr, keep: &[bool]) -> Vec<f64> {
    let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
    (0..a.rows)
        .into_par_iter()
        .map(|i| {
            let (mut diag, mut weak) = (0.0, 0.0);
            for k in ip[i]..ip[i + 1] {
                if ix[k] as usize == i {
                    diag += vx[k];
                } else if !keep[k] {
                    weak += vx[k];
                }
            }
            if diag + weak > 0.0 {
                diag + weak
            } else {
                diag
            }
        })
        .collect()
}

/// `ρ(D_f⁻¹ A_f)` by Lanczos on `D_f^{-½} A_f D_f^{-½}`, applied straight from `a` and the
/// kept flags (no filtered matrix is stored).
pub(crate) fn filtered_spectral_radius(
    a: &Csr,
    keep: &[bool],
    dfilt: &[f64],
    steps: usize,
    seed: u64,
) -> f64 {
    let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
    let (_, isq) = sqrt_scalings(dfilt);
    lanczos_max(a.rows, &isq, &isq, steps, seed, |i, v| {
        let mut acc = dfilt[i] * v[i];
        for k in ip[i]..ip[i + 1] {
            let j = ix[k] as usize;
            if keep[k] && j != i {
                acc += vx[k] * v[j];
            }
        }
        acc
    })
}

/// `P = (I − ω D_f⁻¹ A_f) T` for a tentative prolongator with at most one entry per row (one
/// near-nullspace vector, block size 1), straight from `a`: row `i` gathers
/// `(1 − ω) t_i` on its own aggregate and `−ω a_ij t_j / d_i` on the aggregate of each kept
/// neighbour `j`.
pub(crate) fn smoothed_prolongator_scalar(
    a: &Csr,
    keep: &[bool],
    dfilt: &[f64],
    omega: f64,
    t: &Csr,
) -> Csr {
    let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
    let (tp, tc, tv) = (&t.indptr, &t.indices, &t.values);
    let blocks = super::matrix::row_blocks(a.rows, 8);
    let parts: Vec<(Vec<usize>, Vec<u32>, Vec<f64>)> = blocks
        .par_iter()
        .map(|range| {
            let mut counts = Vec::with_capacity(range.len());
            let mut cols: Vec<u32> = Vec::with_capacity(range.len() * 4);
            let mut vals: Vec<f64> = Vec::with_capacity(range.len() * 4);
            for i in range.clone() {
                let start = cols.len();
                let mut add = |c: u32, v: f64| match cols[start..].iter().position(|&x| x == c) {
                    Some(o) => vals[start + o] += v,
                    None => {
                        cols.push(c);
                        vals.push(v);
                    }
                };
                if tp[i + 1] > tp[i] {
                    add(tc[tp[i]], (1.0 - omega) * tv[tp[i]]);
                }
                let f = if dfilt[i] > 0.0 {
                    -omega / dfilt[i]
                } else {
                    0.0
                };
                for k in ip[i]..ip[i + 1] {
                    let j = ix[k] as usize;
                    if j != i && keep[k] && tp[j + 1] > tp[j] {
                        add(tc[tp[j]], f * vx[k] * tv[tp[j]]);
                    }
                }
                counts.push(cols.len() - start);
            }
            (counts, cols, vals)
        })
        .collect();
    super::matrix::concat_rows(a.rows, t.cols, parts)
}

/// Turns `s = D_f⁻¹ A_f` into `I − ω s` in place (the diagonal is stored first in each row).
pub(crate) fn to_jacobi_smoother(s: &mut Csr, omega: f64) {
    let Csr { indptr, values, .. } = s;
    for_each_row_mut(indptr, values, |_, row| {
        for v in row.iter_mut() {
            *v *= -omega;
        }
        if let Some(d) = row.first_mut() {
            *d += 1.0;
        }
    });
}

/// Largest eigenvalue of a matrix similar to the symmetric `L M R`, where `L = diag(left)`,
/// `R = diag(right)`, estimated by `steps` Lanczos steps from a seeded start: the largest Ritz
/// value, a lower bound accurate to a few per cent after a handful of steps. For `ρ(D⁻¹A)`
/// pass `M = A` and `left = right = D^{-½}`; for `ρ(s)` with `s = D⁻¹ M` pass `left = D^{½}`,
/// `right = D^{-½}`.
pub(crate) fn spectral_radius(
    m: &Csr,
    left: &[f64],
    right: &[f64],
    steps: usize,
    seed: u64,
) -> f64 {
    let (ip, ix, vx) = (&m.indptr, &m.indices, &m.values);
    lanczos_max(m.rows, left, right, steps, seed, |i, v| {
        let mut acc = 0.0;
        for k in ip[i]..ip[i + 1] {
            acc += vx[k] * v[ix[k] as usize];
        }
        acc
    })
}

/// Lanczos on `L M R` where `row(i, v)` is `(M v)_i`.
fn lanczos_max(
    n: usize,
    left: &[f64],
    right: &[f64],
    steps: usize,
    seed: u64,
    row: impl Fn(usize, &[f64]) -> f64 + Sync,
) -> f64 {
    let steps = steps.min(n).max(1);
    let mut q = crate::tuning::spectral::start_vector(n, seed);
    let mut q_prev = vec![0.0; n];
    // `right ⊙ q`, the vector the matrix multiplies.
    let mut qr: Vec<f64> = q.par_iter().zip(right).map(|(a, b)| a * b).collect();
    let mut w = vec![0.0; n];
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    let mut beta_prev = 0.0;
    for step in 0..steps {
        // w = L M (R q) − β q_prev and α = qᵀw, in one pass.
        let alpha: f64 = w
            .par_chunks_mut(LANCZOS_CHUNK)
            .enumerate()
            .map(|(c, wc)| {
                let r0 = c * LANCZOS_CHUNK;
                let mut dot = 0.0;
                for (o, wi) in wc.iter_mut().enumerate() {
                    let i = r0 + o;
                    *wi = row(i, &qr) * left[i] - beta_prev * q_prev[i];
                    dot += q[i] * *wi;
                }
                dot
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        // w −= α q and β = ‖w‖.
        let beta2: f64 = w
            .par_chunks_mut(LANCZOS_CHUNK)
            .zip(q.par_chunks(LANCZOS_CHUNK))
            .map(|(wc, qc)| {
                let mut s2 = 0.0;
                for (wi, qi) in wc.iter_mut().zip(qc) {
                    *wi -= alpha * qi;
                    s2 += *wi * *wi;
                }
                s2
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        let beta = beta2.sqrt();
        alphas.push(alpha);
        // `beta` may be NaN: stop then too.
        let invariant = beta.partial_cmp(&(1e-12 * alpha.abs().max(1e-300)))
            != Some(std::cmp::Ordering::Greater);
        if step + 1 == steps || invariant {
            break;
        }
        betas.push(beta);
        std::mem::swap(&mut q_prev, &mut q);
        q.par_chunks_mut(LANCZOS_CHUNK)
            .zip(qr.par_chunks_mut(LANCZOS_CHUNK))
            .enumerate()
            .for_each(|(c, (qc, rc))| {
                let r0 = c * LANCZOS_CHUNK;
                for o in 0..qc.len() {
                    qc[o] = w[r0 + o] / beta;
                    rc[o] = qc[o] * right[r0 + o];
                }
            });
        beta_prev = beta;
    }
    let ritz =
        crate::lanczos::tridiagonal_eigenvalues(&alphas, &betas).unwrap_or_else(|_| alphas.clone());
    ritz.iter().copied().fold(0.0, f64::max)
}

/// Rows per task of the Lanczos kernels (sums are taken in chunk order: deterministic).
const LANCZOS_CHUNK: usize = 4096;

/// `(√d, 1/√d)` element-wise, 0 where `d ≤ 0`.
pub(crate) fn sqrt_scalings(d: &[f64]) -> (Vec<f64>, Vec<f64>) {
    d.par_iter()
        .map(|v| {
            if *v > 0.0 {
                let s = v.sqrt();
                (s, 1.0 / s)
            } else {
                (0.0, 0.0)
            }
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tentative_columns_are_orthonormal_and_reproduce_the_nullspace() {
        // Six nodes, two aggregates, block size 1, nullspace [1, x].
        let agg = vec![0, 0, 0, 1, 1, NO_AGGREGATE];
        let b: Vec<f64> = (0..6).flat_map(|i| [1.0, i as f64]).collect();
        let t = tentative(&agg, 2, 1, &b, 2);
        assert_eq!(t.t.cols, 4);
        assert_eq!(t.t.indptr, vec![0, 2, 4, 6, 8, 10, 10]);
        // T · B_c = B on aggregated rows.
        for i in 0..5 {
            for c in 0..2 {
                let mut s = 0.0;
                for k in t.t.indptr[i]..t.t.indptr[i + 1] {
                    let col = t.t.indices[k] as usize;
                    s += t.t.values[k] * t.coarse_nullspace[col * 2 + c];
                }
                assert!((s - b[i * 2 + c]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn spectral_radius_of_the_1d_laplacian() {
        // tridiag(−1, 2, −1) scaled by D⁻¹ = 1/2: eigenvalues 1 − cos(kπ/(n+1)), max → 2.
        let n = 200;
        let mut s = Csr {
            rows: n,
            cols: n,
            indptr: vec![0],
            ..Default::default()
        };
        for i in 0..n {
            for (j, v) in [(i.wrapping_sub(1), -0.5), (i, 1.0), (i + 1, -0.5)] {
                if j < n {
                    s.indices.push(j as u32);
                    s.values.push(v);
                }
            }
            s.indptr.push(s.indices.len());
        }
        let exact = 1.0 - (n as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos();
        let (sq, isq) = sqrt_scalings(&vec![2.0; n]);
        let est = spectral_radius(&s, &sq, &isq, 20, 3);
        assert!(
            est <= exact + 1e-12 && est > 0.97 * exact,
            "{est} vs {exact}"
        );
    }
}
