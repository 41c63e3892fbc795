//! The Jacobi spectral radius β = ρ(I − D⁻¹A) of a symmetric matrix with positive diagonal,
//! estimated by Lanczos, and the classical optimal relaxation factors built on it.
//!
//! For SPD `A`, `I − D⁻¹A` is similar to `I − S` with `S = D^{-1/2} A D^{-1/2}` symmetric, so
//! β = max(|1 − λ_min(S)|, |1 − λ_max(S)|). Lanczos on `S` (with full reorthogonalization, so
//! no ghost eigenvalues) finds both extreme eigenvalues in a few dozen products.
//!
//! Young's formula ω* = 2 / (1 + √(1 − β²)) = 1 + (β / (1 + √(1 − β²)))² is the optimal SOR
//! ω for consistently ordered matrices (the 5-point Laplacian in lexicographic order, and any
//! diagonal shift or Crank–Nicolson combination of it).

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};

/// Matrices up to this size get full reorthogonalization in [`jacobi_spectral_radius`].
pub const FULL_REORTH_MAX: usize = 2000;

/// Options of [`jacobi_spectral_radius`].
#[derive(Clone, Copy, Debug)]
pub struct LanczosOptions {
    /// Maximum Lanczos steps (capped at the matrix size).
    pub max_steps: usize,
    /// Stop when β changes by less than `tol·(1 − β)` between checks (every 5 steps): the
    /// accuracy ω* needs, since ω* depends on β through √(1 − β²).
    pub tol: f64,
    /// Seed of the random start vector.
    pub seed: u64,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            max_steps: 300,
            tol: 1e-4,
            seed: 0x5eed,
        }
    }
}

/// The extreme eigenvalues of `S = D^{-1/2} A D^{-1/2}` and the Jacobi spectral radius.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JacobiSpectrum {
    /// Smallest eigenvalue estimate of the diagonally scaled matrix.
    pub lambda_min: f64,
    /// Largest eigenvalue estimate of the diagonally scaled matrix.
    pub lambda_max: f64,
    /// β = ρ(I − D⁻¹A) = max(|1 − λ_min|, |1 − λ_max|).
    pub beta: f64,
    /// Lanczos steps (= matrix–vector products) used.
    pub steps: usize,
}

/// Estimates ρ(I − D⁻¹A) for a symmetric `a` with a positive diagonal, by Lanczos on
/// `D^{-1/2} A D^{-1/2}` (with full reorthogonalization up to [`FULL_REORTH_MAX`] unknowns).
///
/// Errors: [`SparseError::ZeroDiagonal`] / [`SparseError::InvalidParameter`] for a diagonal
/// entry that is not positive (the scaling needs its square root).
pub fn jacobi_spectral_radius(a: &SparseMatrix, opts: &LanczosOptions) -> Result<JacobiSpectrum> {
    let n = a.rows();
    if n == 0 {
        return Err(SparseError::InvalidParameter(
            "the spectral radius of an empty matrix is undefined".into(),
        ));
    }
    let diag = a.diag();
    let mut inv_sqrt = Vec::with_capacity(n);
    for (i, &d) in diag.iter().enumerate() {
        if d == 0.0 {
            return Err(SparseError::ZeroDiagonal {
                row: i,
                method: "the Jacobi spectral radius".into(),
            });
        }
        if d < 0.0 {
            return Err(SparseError::InvalidParameter(format!(
                "diagonal entry {} is {d}; the Jacobi spectral radius estimate needs a positive \
                 diagonal (an SPD matrix)",
                i + 1
            )));
        }
        inv_sqrt.push(1.0 / d.sqrt());
    }
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    // y = S x, serial: the matrices of a tuning sequence are small to medium, and this keeps
    // the estimate deterministic and free of thread overhead.
    let apply = |x: &[f64], y: &mut [f64]| {
        for i in 0..n {
            let mut s = 0.0;
            for k in ip[i]..ip[i + 1] {
                let j = ix[k] as usize;
                s += vx[k] * inv_sqrt[j] * x[j];
            }
            y[i] = s * inv_sqrt[i];
        }
    };

    let m_max = opts.max_steps.clamp(1, n);
    // Full reorthogonalization costs O(n·k²); above this size the plain recurrence is used.
    let full = n <= FULL_REORTH_MAX;
    let mut prev: Option<Vec<f64>> = None;
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(m_max);
    let mut alphas: Vec<f64> = Vec::with_capacity(m_max);
    let mut betas: Vec<f64> = Vec::with_capacity(m_max);
    let mut q = start_vector(n, opts.seed);
    let mut w = vec![0.0; n];
    let (mut lo, mut hi) = (f64::NAN, f64::NAN);
    let mut steps = 0;
    for k in 0..m_max {
        apply(&q, &mut w);
        steps += 1;
        let alpha = dot(&q, &w);
        alphas.push(alpha);
        if full {
            basis.push(q.clone());
        } else {
            prev = basis.pop();
            basis.push(q.clone());
        }
        if full {
            // Full reorthogonalization (twice is enough): w ⟂ all previous Lanczos vectors.
            for _ in 0..2 {
                for v in &basis {
                    let c = dot(v, &w);
                    w.iter_mut().zip(v).for_each(|(wi, vi)| *wi -= c * vi);
                }
            }
        } else {
            // Plain three-term recurrence: lost orthogonality only duplicates converged Ritz
            // values ("ghosts"), it does not move the extreme ones.
            let prev_beta = betas.last().copied().unwrap_or(0.0);
            let cur = basis.last().expect("pushed above");
            w.iter_mut().zip(cur).for_each(|(wi, vi)| *wi -= alpha * vi);
            if let (Some(prev), true) = (prev.as_ref(), k > 0) {
                w.iter_mut()
                    .zip(prev)
                    .for_each(|(wi, vi)| *wi -= prev_beta * vi);
            }
        }
        let b = dot(&w, &w).sqrt();
        let check = k + 1 == m_max || k % 5 == 4 || b <= 1e-12 * alpha.abs().max(1.0);
        if check {
            let (l, h) = tridiagonal_extremes(&alphas, &betas);
            let beta_new = (1.0 - l).abs().max((h - 1.0).abs());
            let beta_old = (1.0 - lo).abs().max((hi - 1.0).abs());
            let converged = (beta_new - beta_old).abs() <= opts.tol * (1.0 - beta_new).abs();
            lo = l;
            hi = h;
            if converged || b <= 1e-12 * alpha.abs().max(1.0) {
                break;
            }
        }
        if k + 1 == m_max {
            break;
        }
        betas.push(b);
        q.iter_mut().zip(&w).for_each(|(qi, wi)| *qi = wi / b);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(SparseError::NonFinite(
            "Lanczos produced a non-finite eigenvalue estimate".into(),
        ));
    }
    let beta = (1.0 - lo).abs().max((hi - 1.0).abs());
    Ok(JacobiSpectrum {
        lambda_min: lo,
        lambda_max: hi,
        beta,
        steps,
    })
}

/// Young's optimal SOR relaxation ω* = 2 / (1 + √(1 − β²)) for Jacobi spectral radius
/// β ∈ [0, 1). Errors on β outside [0, 1) (SOR's theory needs a convergent Jacobi iteration).
pub fn optimal_sor_omega(beta: f64) -> Result<f64> {
    check_beta(beta)?;
    Ok(2.0 / (1.0 + (1.0 - beta * beta).sqrt()))
}

/// The classical SSOR relaxation for β ∈ [0, 1): ω = 2 / (1 + √(2(1 − β))), the value that
/// minimizes the condition number bound of the SSOR-preconditioned matrix for consistently
/// ordered matrices (Axelsson's bound with the spectral-radius parameter equal to ¼). Used as
/// the instance-optimal baseline for SSOR-PCG.
pub fn optimal_ssor_omega(beta: f64) -> Result<f64> {
    check_beta(beta)?;
    Ok(2.0 / (1.0 + (2.0 * (1.0 - beta)).sqrt()))
}

fn check_beta(beta: f64) -> Result<()> {
    if beta.is_finite() && (0.0..1.0).contains(&beta) {
        Ok(())
    } else {
        Err(SparseError::InvalidParameter(format!(
            "Jacobi spectral radius must be in [0, 1) for an optimal omega, got {beta} (the \
             matrix is not SPD or not diagonally dominant enough for Jacobi to converge)"
        )))
    }
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// A normalized random start vector with entries in [−1, 1] (seeded).
pub(crate) fn start_vector(n: usize, seed: u64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut v: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..=1.0)).collect();
    let nrm = dot(&v, &v).sqrt();
    if nrm > 0.0 {
        v.iter_mut().for_each(|x| *x /= nrm);
    } else {
        v[0] = 1.0;
    }
    v
}

/// Smallest and largest eigenvalues of the symmetric tridiagonal matrix with diagonal `a`
/// and off-diagonal `b` (len a − 1), by Sturm-sequence bisection to machine precision.
pub(crate) fn tridiagonal_extremes(a: &[f64], b: &[f64]) -> (f64, f64) {
    let m = a.len();
    // Gershgorin bounds.
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..m {
        let r = if i > 0 { b[i - 1].abs() } else { 0.0 } + b.get(i).map_or(0.0, |v| v.abs());
        lo = lo.min(a[i] - r);
        hi = hi.max(a[i] + r);
    }
    // Number of eigenvalues < x.
    let count_below = |x: f64| -> usize {
        let mut count = 0;
        let mut d = 1.0;
        for i in 0..m {
            let off = if i > 0 { b[i - 1] * b[i - 1] } else { 0.0 };
            d = a[i] - x - if i > 0 { off / d } else { 0.0 };
            if d == 0.0 {
                d = -f64::EPSILON * (a[i].abs() + x.abs()).max(f64::MIN_POSITIVE);
            }
            if d < 0.0 {
                count += 1;
            }
        }
        count
    };
    let bisect = |k: usize| -> f64 {
        // The k-th smallest eigenvalue (0-based).
        let (mut l, mut h) = (lo, hi);
        for _ in 0..200 {
            let mid = 0.5 * (l + h);
            if mid <= l || mid >= h {
                break;
            }
            if count_below(mid) > k {
                h = mid;
            } else {
                l = mid;
            }
        }
        0.5 * (l + h)
    };
    (bisect(0), bisect(m - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tridiagonal_extremes_of_laplacian_1d() {
        // tridiag(−1, 2, −1) of size m: eigenvalues 2 − 2cos(kπ/(m+1)).
        let m = 9;
        let a = vec![2.0; m];
        let b = vec![-1.0; m - 1];
        let (lo, hi) = tridiagonal_extremes(&a, &b);
        let h = std::f64::consts::PI / (m + 1) as f64;
        assert!((lo - (2.0 - 2.0 * h.cos())).abs() < 1e-12);
        assert!((hi - (2.0 + 2.0 * h.cos())).abs() < 1e-12);
    }

    #[test]
    fn omega_formulas() {
        assert_eq!(optimal_sor_omega(0.0).unwrap(), 1.0);
        let b: f64 = 0.99;
        let w = optimal_sor_omega(b).unwrap();
        let alt = 1.0 + (b / (1.0 + (1.0 - b * b).sqrt())).powi(2);
        assert!((w - alt).abs() < 1e-14);
        assert!(optimal_sor_omega(1.0).is_err());
        assert!(optimal_ssor_omega(f64::NAN).is_err());
    }
}
