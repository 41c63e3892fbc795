//! Smoothers of the AMG levels. Each is a symmetric operator (or, for Gauss–Seidel, a
//! forward sweep followed by its transpose), so the same step serves as pre- and
//! post-smoother and the V-cycle is symmetric positive definite, as PCG needs.

use super::matrix::Csr;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Rows per block of the hybrid Gauss–Seidel sweep: a fixed size, so results do not depend on
/// the thread count.
const GS_BLOCK: usize = 4096;

/// Vector chunk of the element-wise loops.
const CHUNK: usize = 8192;

/// The relaxation used on every level but the coarsest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AmgSmoother {
    /// Damped Jacobi `x += ω D⁻¹ (b − A x)` with `ω = 4 / (3 ρ(D⁻¹A))`.
    Jacobi,
    /// Chebyshev polynomial in `D⁻¹A` of the given degree on `[ρ/30, 1.1 ρ]` (`ρ = ρ(D⁻¹A)` by
    /// Lanczos): `degree` matrix products per application.
    Chebyshev {
        /// Polynomial degree (≥ 1).
        degree: usize,
    },
    /// Symmetric Gauss–Seidel, ℓ1-hybrid: a forward then a backward sweep inside blocks of
    /// 4096 rows, blocks coupled Jacobi-style (in parallel) with the couplings between blocks
    /// added to the diagonal in absolute value, which keeps it convergent on any SPD matrix
    /// (exact Gauss–Seidel on a level of one block).
    SymmetricGaussSeidel,
    /// SPAI(0): the diagonal `m_ii = a_ii / Σ_j a_ij²` minimising `‖I − M A‖_F`, applied as
    /// `x += M (b − A x)` (AMGCL's default smoother; needs no eigenvalue estimate).
    Spai0,
}

impl AmgSmoother {
    /// The CLI name: `jacobi`, `chebyshev` (degree 2) / `chebyshevN`, `sgs`, `spai0`.
    pub fn name(&self) -> String {
        match self {
            Self::Jacobi => "jacobi".into(),
            Self::Chebyshev { degree } => format!("chebyshev{degree}"),
            Self::SymmetricGaussSeidel => "sgs".into(),
            Self::Spai0 => "spai0".into(),
        }
    }

    /// Whether the smoother needs `ρ(D⁻¹A)`.
    pub(crate) fn needs_spectral_radius(&self) -> bool {
        matches!(self, Self::Jacobi | Self::Chebyshev { .. })
    }
}

impl FromStr for AmgSmoother {
    type Err = crate::SparseError;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "jacobi" => Ok(Self::Jacobi),
            "sgs" | "symmetric-gauss-seidel" => Ok(Self::SymmetricGaussSeidel),
            "spai0" => Ok(Self::Spai0),
            "chebyshev" => Ok(Self::Chebyshev { degree: 2 }),
            _ => match s
                .strip_prefix("chebyshev")
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .map(str::parse::<usize>)
            {
                Some(Ok(degree)) if (1..=10).contains(&degree) => Ok(Self::Chebyshev { degree }),
                _ => Err(crate::SparseError::InvalidParameter(format!(
                    "unknown AMG smoother '{}' (expected jacobi, chebyshev, chebyshev1..10, sgs or spai0)",
                    nabla_core::text::one_line(s, 60)
                ))),
            },
        }
    }
}

/// Largest `λ(M A)` a diagonal smoother may keep as it is: below 2 the smoother converges in
/// the A-norm, which the symmetric V-cycle needs to stay positive definite (what PCG needs).
const SAFE_EIGENVALUE: f64 = 1.9;

/// Lanczos steps of the smoothers' own spectral estimates (10, as PETSc's Chebyshev default
/// takes): the prolongator's 3-step estimate is a lower bound that can miss `λ_max` by 15 %
/// and more on elasticity, enough to make a smoother diverge.
pub(crate) const SMOOTHER_SPECTRAL_STEPS: usize = 10;

/// Lanczos steps of the SPAI(0) check, and the factor on its estimate (a lower bound): fewer
/// steps than [`SMOOTHER_SPECTRAL_STEPS`] with a larger margin, because this check runs with
/// the default smoother on every matrix whose Gershgorin bound reaches 2 (P2 triangles do),
/// where 10 steps added 25–40 % to the set-up.
const SPAI0_STEPS: usize = 5;
const SPAI0_SAFETY: f64 = 1.2;

/// Seed of the smoothers' Lanczos start vectors.
const SMOOTHER_SEED: u64 = 0x5a0;

/// SPAI(0) weights `m_ii = a_ii / Σ_j a_ij²`, damped where needed so that `λ_max(M A)` stays
/// below 2. SPAI(0) alone does not guarantee that: on a 3-D elasticity matrix (P1 tetrahedra,
/// ν = 0.3, 81 entries per row) `λ_max(M A)` is 2.01, and PCG broke down on the indefinite
/// V-cycle. The Gershgorin bound `max_i m_ii Σ_j |a_ij|` settles it for free on most matrices
/// (1.6 on the 5-point Laplacian, 1.97 on P1 tetrahedra); only from 2 on is `λ_max` estimated
/// (5 Lanczos steps, ×1.2 for safety) and `M` scaled down to bring that to
/// [`SAFE_EIGENVALUE`] if needed.
fn spai0_weights(a: &Csr, diag: &[f64]) -> Vec<f64> {
    let (ip, vx) = (&a.indptr, &a.values);
    let (mut w, bounds): (Vec<f64>, Vec<f64>) = (0..a.rows)
        .into_par_iter()
        .map(|i| {
            let row = &vx[ip[i]..ip[i + 1]];
            let s: f64 = row.iter().map(|v| v * v).sum();
            if s > 0.0 && diag[i] > 0.0 {
                let m = diag[i] / s;
                (m, m * row.iter().map(|v| v.abs()).sum::<f64>())
            } else {
                (0.0, 0.0)
            }
        })
        .unzip();
    let gershgorin = bounds.iter().copied().fold(0.0, f64::max);
    // λmax ≤ the Gershgorin bound: below 2 it proves the smoother convergent at no cost
    // (P1 tetrahedra: 1.97, with λmax 1.69).
    if gershgorin < 2.0 {
        return w;
    }
    let sqrt_w: Vec<f64> = w.par_iter().map(|v| v.sqrt()).collect();
    let lambda = super::prolong::spectral_radius(a, &sqrt_w, &sqrt_w, SPAI0_STEPS, SMOOTHER_SEED);
    let safe = (SPAI0_SAFETY * lambda).min(gershgorin);
    if safe > SAFE_EIGENVALUE {
        // The least damping that brings the safe estimate back to the limit: on matrices
        // just above it (P2 triangles: λ_max 1.66, Gershgorin 2.03) the smoother is unchanged
        // or nearly so.
        let scale = SAFE_EIGENVALUE / safe;
        w.par_iter_mut().for_each(|v| *v *= scale);
    }
    w
}

/// A smoother bound to one level's matrix.
pub(crate) struct LevelSmoother {
    kind: AmgSmoother,
    /// Jacobi: `ω/a_ii`; SPAI(0): `m_ii`; Chebyshev and Gauss–Seidel: `1/a_ii` (0 for a zero
    /// diagonal: a decoupled unknown is left alone).
    weights: Vec<f64>,
    /// Chebyshev interval `[lower, upper]`.
    interval: (f64, f64),
    r: Vec<f64>,
    d: Vec<f64>,
}

impl LevelSmoother {
    /// Builds the smoother of `a`; `rho` is `ρ(D⁻¹A)` (used by Jacobi and Chebyshev).
    pub fn new(kind: AmgSmoother, a: &Csr, diag: &[f64], rho: f64) -> Self {
        let inv = |d: f64| if d > 0.0 { 1.0 / d } else { 0.0 };
        let weights: Vec<f64> = match kind {
            AmgSmoother::Jacobi => {
                let omega = if rho > 0.0 {
                    4.0 / (3.0 * rho)
                } else {
                    2.0 / 3.0
                };
                diag.iter().map(|d| omega * inv(*d)).collect()
            }
            AmgSmoother::Spai0 => spai0_weights(a, diag),
            AmgSmoother::Chebyshev { .. } => diag.iter().map(|d| inv(*d)).collect(),
            // ℓ1 hybrid Gauss–Seidel (Baker, Falgout, Kolev & Yang 2011): each row's couplings
            // to other blocks, in absolute value, are added to its diagonal, which makes the
            // block-parallel sweep convergent for every SPD matrix (plain hybrid GS diverges on
            // P2 elements, whose off-diagonals are not dominated by the diagonal).
            AmgSmoother::SymmetricGaussSeidel => {
                let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
                (0..a.rows)
                    .into_par_iter()
                    .map(|i| {
                        let blk = i / GS_BLOCK;
                        let off: f64 = (ip[i]..ip[i + 1])
                            .filter(|&k| ix[k] as usize / GS_BLOCK != blk)
                            .map(|k| vx[k].abs())
                            .sum();
                        inv(diag[i] + off)
                    })
                    .collect()
            }
        };
        let upper = 1.1 * rho.max(f64::MIN_POSITIVE);
        let n = a.rows;
        let needs_d = matches!(
            kind,
            AmgSmoother::Chebyshev { .. } | AmgSmoother::SymmetricGaussSeidel
        );
        Self {
            kind,
            weights,
            interval: (upper / 30.0, upper),
            r: vec![0.0; n],
            d: if needs_d { vec![0.0; n] } else { Vec::new() },
        }
    }

    /// Heap bytes held: the weights and work vectors (`n` each; two for Jacobi and SPAI(0),
    /// three for Chebyshev and Gauss–Seidel).
    pub fn heap_bytes(&self) -> usize {
        (self.weights.capacity() + self.r.capacity() + self.d.capacity())
            * std::mem::size_of::<f64>()
    }

    /// One smoothing step on `A x = b`; `zero_guess` says `x` is zero on entry (its product is
    /// skipped).
    pub fn smooth(&mut self, a: &Csr, b: &[f64], x: &mut [f64], zero_guess: bool) {
        match self.kind {
            AmgSmoother::Jacobi | AmgSmoother::Spai0 => self.diagonal_step(a, b, x, zero_guess),
            AmgSmoother::Chebyshev { degree } => self.chebyshev(a, b, x, zero_guess, degree),
            AmgSmoother::SymmetricGaussSeidel => self.symmetric_gauss_seidel(a, b, x, zero_guess),
        }
    }

    /// The first smoothing step from a zero guess followed by the residual `r = b − A x`. For
    /// the diagonal smoothers `x = W b` and `r = b − A W b` come out of one pass.
    pub fn first_step_and_residual(&mut self, a: &Csr, b: &[f64], x: &mut [f64], r: &mut [f64]) {
        if !matches!(self.kind, AmgSmoother::Jacobi | AmgSmoother::Spai0) {
            self.smooth(a, b, x, true);
            a.residual(b, x, r);
            return;
        }
        let w = &self.weights;
        let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
        r.par_chunks_mut(CHUNK)
            .zip(x.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (rc, xc))| {
                let r0 = c * CHUNK;
                for o in 0..rc.len() {
                    let i = r0 + o;
                    let mut s = b[i];
                    for k in ip[i]..ip[i + 1] {
                        let j = ix[k] as usize;
                        s -= vx[k] * (w[j] * b[j]);
                    }
                    rc[o] = s;
                    xc[o] = w[i] * b[i];
                }
            });
    }

    /// Refreshes the weights after the level matrix changed values (same pattern).
    pub fn refresh(&mut self, a: &Csr, diag: &[f64], rho: f64) {
        *self = Self::new(self.kind, a, diag, rho);
    }

    fn diagonal_step(&mut self, a: &Csr, b: &[f64], x: &mut [f64], zero_guess: bool) {
        let w = &self.weights;
        if zero_guess {
            par_zip3(x, b, w, |xi, bi, wi| *xi = wi * bi);
            return;
        }
        a.residual(b, x, &mut self.r);
        par_zip3(x, &self.r, w, |xi, ri, wi| *xi += wi * ri);
    }

    fn chebyshev(&mut self, a: &Csr, b: &[f64], x: &mut [f64], zero_guess: bool, degree: usize) {
        let (lower, upper) = self.interval;
        let theta = 0.5 * (upper + lower);
        let delta = 0.5 * (upper - lower);
        let sigma = theta / delta;
        let mut rho = 1.0 / sigma;
        let w = &self.weights;
        if zero_guess {
            self.r.copy_from_slice(b);
            x.par_chunks_mut(CHUNK).for_each(|c| c.fill(0.0));
        } else {
            a.residual(b, x, &mut self.r);
        }
        // d = D⁻¹ r / θ; x += d; then the three-term recurrence d ← c₁ d + c₂ D⁻¹ r.
        chebyshev_update(&mut self.d, x, w, &self.r, 0.0, 1.0 / theta);
        for _ in 1..degree {
            let rho_new = 1.0 / (2.0 * sigma - rho);
            a.residual(b, x, &mut self.r);
            chebyshev_update(
                &mut self.d,
                x,
                w,
                &self.r,
                rho_new * rho,
                2.0 * rho_new / delta,
            );
            rho = rho_new;
        }
    }

    /// Forward then backward Gauss–Seidel inside each block; couplings to other blocks use the
    /// values from before the sweep (kept in `d`).
    fn symmetric_gauss_seidel(&mut self, a: &Csr, b: &[f64], x: &mut [f64], zero_guess: bool) {
        let w = &self.weights;
        let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
        for backward in [false, true] {
            let old = &mut self.d;
            let zero_outside = zero_guess && !backward;
            if !zero_outside {
                old.par_chunks_mut(CHUNK)
                    .zip(x.par_chunks(CHUNK))
                    .for_each(|(o, xc)| o.copy_from_slice(xc));
            }
            let old: &[f64] = old;
            x.par_chunks_mut(GS_BLOCK)
                .enumerate()
                .for_each(|(blk, xb)| {
                    let start = blk * GS_BLOCK;
                    let end = start + xb.len();
                    if zero_outside {
                        xb.iter_mut().for_each(|v| *v = 0.0);
                    }
                    let mut sweep = |i: usize| {
                        let mut s = b[i];
                        for k in ip[i]..ip[i + 1] {
                            let j = ix[k] as usize;
                            let xj = if j >= start && j < end {
                                xb[j - start]
                            } else if zero_outside {
                                0.0
                            } else {
                                old[j]
                            };
                            s -= vx[k] * xj;
                        }
                        xb[i - start] += w[i] * s;
                    };
                    if backward {
                        (start..end).rev().for_each(&mut sweep);
                    } else {
                        (start..end).for_each(&mut sweep);
                    }
                });
        }
    }
}

/// `d ← c₁ d + c₂ (w ⊙ r)`, `x ← x + d`, in parallel chunks.
fn chebyshev_update(d: &mut [f64], x: &mut [f64], w: &[f64], r: &[f64], c1: f64, c2: f64) {
    d.par_chunks_mut(CHUNK)
        .zip(x.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, (dc, xc))| {
            let o = c * CHUNK;
            for i in 0..dc.len() {
                dc[i] = c1 * dc[i] + c2 * w[o + i] * r[o + i];
                xc[i] += dc[i];
            }
        });
}

/// `f(x_i, y_i, z_i)` over three vectors in parallel chunks.
fn par_zip3(x: &mut [f64], y: &[f64], z: &[f64], f: impl Fn(&mut f64, &f64, &f64) + Sync) {
    x.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(z.par_chunks(CHUNK)))
        .for_each(|(xc, (yc, zc))| {
            for i in 0..xc.len() {
                f(&mut xc[i], &yc[i], &zc[i]);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `k × k` blocks `1.02 I + c (1 1ᵀ − I)` (SPD) chained by weak couplings: rows with many
    /// entries of one sign, where undamped SPAI(0) has `λmax(M A)` near
    /// `(1 + (k−1)c) / (1 + (k−1)c²)` ≈ 2.5 for k = 20, c = 0.3.
    fn dense_blocks(blocks: usize, k: usize, c: f64) -> Csr {
        let n = blocks * k;
        Csr::from_rows(
            n,
            (0..n).map(|i| {
                let blk = i / k;
                let mut row: Vec<(u32, f64)> = (blk * k..(blk + 1) * k)
                    .map(|j| (j as u32, if j == i { 1.02 } else { c }))
                    .collect();
                if blk > 0 {
                    row.push(((i - k) as u32, -0.01));
                }
                if blk + 1 < blocks {
                    row.push(((i + k) as u32, -0.01));
                }
                row
            }),
        )
    }

    /// `λmax(W A)` for a diagonal `W`, by 300 power steps on `W^½ A W^½` (tight here).
    fn lambda_max(a: &Csr, w: &[f64]) -> f64 {
        let n = a.rows;
        let s: Vec<f64> = w.iter().map(|v| v.sqrt()).collect();
        let mut v: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 * 0.1).collect();
        let (mut y, mut t) = (vec![0.0; n], vec![0.0; n]);
        let mut lambda = 0.0;
        for _ in 0..300 {
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            for i in 0..n {
                t[i] = s[i] * v[i];
            }
            a.spmv(&t, &mut y);
            for i in 0..n {
                y[i] *= s[i];
            }
            lambda = v.iter().zip(&y).map(|(p, q)| p * q).sum();
            std::mem::swap(&mut v, &mut y);
        }
        lambda
    }

    #[test]
    fn spai0_is_damped_below_two_where_it_would_diverge() {
        let a = dense_blocks(50, 20, 0.3);
        let diag = a.diagonal();
        let plain: Vec<f64> = (0..a.rows)
            .map(|i| {
                let row = &a.values[a.indptr[i]..a.indptr[i + 1]];
                diag[i] / row.iter().map(|v| v * v).sum::<f64>()
            })
            .collect();
        let undamped = lambda_max(&a, &plain);
        assert!(
            undamped > 2.3,
            "the matrix should defeat SPAI(0): {undamped}"
        );
        let damped = lambda_max(&a, &spai0_weights(&a, &diag));
        assert!(damped > 1.5 && damped < 2.0, "damped λmax {damped}");
        // The 5-point Laplacian needs no damping: its Gershgorin bound, 1.6, proves it safe.
        let m = 20usize;
        let lap = Csr::from_rows(
            m * m,
            (0..m * m).map(|i| {
                let (x, y) = ((i % m) as i64, (i / m) as i64);
                let mut row = vec![(i as u32, 4.0)];
                for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                    let (nx, ny) = (x + dx, y + dy);
                    if (0..m as i64).contains(&nx) && (0..m as i64).contains(&ny) {
                        row.push(((ny * m as i64 + nx) as u32, -1.0));
                    }
                }
                row
            }),
        );
        let w = spai0_weights(&lap, &lap.diagonal());
        assert_eq!(
            w[m + 1],
            4.0 / 20.0,
            "interior weight a_ii / Σ a_ij² = 4/20"
        );
    }
}
