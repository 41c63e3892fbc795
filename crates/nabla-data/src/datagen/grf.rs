//! Gaussian random fields for the operator-learning data sets, as in the FNO paper's data
//! (Li et al. 2021): a cosine series on the unit square for Darcy, a Fourier series on the
//! periodic unit interval for Burgers. Both are Karhunen–Loève expansions with i.i.d.
//! standard normal coefficients, so a field's covariance is exactly the operator stated.

use rand::Rng;
use rand_distr::StandardNormal;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;
use std::f64::consts::PI;

/// ψ ~ N(0, τ^{2α−2}(−Δ + τ²I)^{−α}) on [0, 1]² with homogeneous Neumann conditions and
/// the mean mode removed, evaluated on the S×S vertex grid `x_i = i/(S−1)` (boundary
/// included):
///
/// ψ(x, y) = Σ_{k ≠ 0} ξ_k τ^{α−1} (π²|k|² + τ²)^{−α/2} c_{k₁} c_{k₂} cos(πk₁x) cos(πk₂y)
///
/// over `0 ≤ k₁, k₂ < S`, with ξ_k i.i.d. N(0,1) and c₀ = 1, c_k = √2 (the orthonormal
/// Neumann eigenfunctions). The factor τ^{α−1} is the FNO paper's scaling (only the sign of ψ
/// matters for the Darcy coefficient). The FNO code evaluates the same series with MATLAB's
/// `idct2`, i.e. at cell centres; here the points are the grid vertices the solver uses.
#[derive(Debug, Clone)]
pub struct CosineGrf {
    s: usize,
    /// `basis[i*S + k]` = c_k cos(π k x_i).
    basis: Vec<f64>,
    /// `scale[k1*S + k2]`: the standard deviation of mode (k1, k2), 0 for the mean mode.
    scale: Vec<f64>,
}

impl CosineGrf {
    /// The field on an `s × s` vertex grid (`s ≥ 2`) with inverse length scale `tau` and
    /// smoothness `alpha` (the FNO Darcy data: τ = 3, α = 2).
    pub fn new(s: usize, tau: f64, alpha: f64) -> Self {
        let h = 1.0 / (s.max(2) - 1) as f64;
        let norm = |k: usize| if k == 0 { 1.0 } else { 2f64.sqrt() };
        let mut basis = vec![0.0; s * s];
        for i in 0..s {
            for k in 0..s {
                basis[i * s + k] = norm(k) * (PI * k as f64 * i as f64 * h).cos();
            }
        }
        let amp = tau.powf(alpha - 1.0);
        let mut scale = vec![0.0; s * s];
        for k1 in 0..s {
            for k2 in 0..s {
                if k1 + k2 > 0 {
                    let lam = PI * PI * (k1 * k1 + k2 * k2) as f64 + tau * tau;
                    scale[k1 * s + k2] = amp * lam.powf(-alpha / 2.0);
                }
            }
        }
        Self { s, basis, scale }
    }

    /// Grid points per axis.
    pub fn resolution(&self) -> usize {
        self.s
    }

    /// Draws one field: `out[i*S + j]` = ψ(x_i, y_j). Consumes exactly S² normals from `rng`
    /// (mode order k1-major), so a seeded stream gives the same field on every machine.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let s = self.s;
        let xi: Vec<f64> = self
            .scale
            .iter()
            .map(|&sd| sd * rng.sample::<f64, _>(StandardNormal))
            .collect();
        // ψ = B Ξ Bᵀ, done as two dense products (S³ each): cheaper than the solve for every
        // S this is used at, and exact.
        let mut t = vec![0.0; s * s]; // t[k1*S + j] = Σ_k2 Ξ[k1,k2] B[j,k2]
        for k1 in 0..s {
            let row = &xi[k1 * s..(k1 + 1) * s];
            for j in 0..s {
                let b = &self.basis[j * s..(j + 1) * s];
                t[k1 * s + j] = row.iter().zip(b).map(|(a, c)| a * c).sum();
            }
        }
        let mut out = vec![0.0; s * s];
        for i in 0..s {
            let b = &self.basis[i * s..(i + 1) * s];
            let o = &mut out[i * s..(i + 1) * s];
            for (k1, &bk) in b.iter().enumerate() {
                if bk != 0.0 {
                    let tr = &t[k1 * s..(k1 + 1) * s];
                    o.iter_mut().zip(tr).for_each(|(v, w)| *v += bk * w);
                }
            }
        }
        out
    }
}

/// u ~ N(0, σ²(−Δ + τ²I)^{−γ}) on the periodic interval [0,1) with the mean mode removed,
/// evaluated at the cell centres `x_j = (j + ½)/N` (PDEBench's 1-D grid):
///
/// u(x) = Σ_{k=1}^{N/2−1} √2 σ ((2πk)² + τ²)^{−γ/2} (ξ_k cos 2πkx + η_k sin 2πkx)
///
/// with ξ_k, η_k i.i.d. N(0,1). The FNO Burgers data uses σ = 25, τ = 5, γ = 2 (covariance
/// 625(−Δ + 25I)^{−2}). The Nyquist mode is left out so that the field is exactly real and
/// odd/even symmetric in its sampled Fourier representation.
pub struct PeriodicGrf {
    n: usize,
    /// Standard deviation of each of the cos and sin coefficients of mode k (index k).
    scale: Vec<f64>,
    ifft: std::sync::Arc<dyn rustfft::Fft<f64>>,
}

impl PeriodicGrf {
    /// The field on `n ≥ 2` cell centres with amplitude `sigma`, inverse length `tau` and
    /// smoothness `gamma`.
    pub fn new(n: usize, sigma: f64, tau: f64, gamma: f64) -> Self {
        let kmax = (n / 2).saturating_sub(1);
        let scale = (0..=kmax)
            .map(|k| {
                if k == 0 {
                    0.0
                } else {
                    let kk = 2.0 * PI * k as f64;
                    2f64.sqrt() * sigma * (kk * kk + tau * tau).powf(-gamma / 2.0)
                }
            })
            .collect();
        let ifft = FftPlanner::new().plan_fft_inverse(n.max(1));
        Self { n, scale, ifft }
    }

    /// Draws one field `u[j]` = u(x_j). Consumes 2·(N/2 − 1) normals from `rng` (ξ_k then η_k
    /// for k = 1, 2, ...).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let n = self.n;
        let mut c = vec![Complex::new(0.0, 0.0); n];
        for (k, &sd) in self.scale.iter().enumerate().skip(1) {
            let a = sd * rng.sample::<f64, _>(StandardNormal);
            let b = sd * rng.sample::<f64, _>(StandardNormal);
            // a cos θ + b sin θ = Re[(a − ib) e^{iθ}], θ = 2πk(j + ½)/N: the half-cell shift
            // is the phase e^{iπk/N}.
            let shift = Complex::from_polar(1.0, PI * k as f64 / n as f64);
            c[k] = Complex::new(a, -b) * shift;
        }
        self.ifft.process(&mut c);
        c.iter().map(|z| z.re).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn cosine_grf_matches_direct_series_and_covariance_scale() {
        let s = 9;
        let grf = CosineGrf::new(s, 3.0, 2.0);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let psi = grf.sample(&mut rng);
        // Same normals, summed term by term.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let xi: Vec<f64> = (0..s * s)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let h = 1.0 / (s - 1) as f64;
        let c = |k: usize| if k == 0 { 1.0 } else { 2f64.sqrt() };
        for (i, j) in [(0, 0), (3, 5), (8, 2)] {
            let mut v = 0.0;
            for k1 in 0..s {
                for k2 in 0..s {
                    if k1 + k2 == 0 {
                        continue;
                    }
                    let lam = PI * PI * (k1 * k1 + k2 * k2) as f64 + 9.0;
                    v += xi[k1 * s + k2] * 3.0 / lam
                        * c(k1)
                        * c(k2)
                        * (PI * k1 as f64 * i as f64 * h).cos()
                        * (PI * k2 as f64 * j as f64 * h).cos();
                }
            }
            assert!((psi[i * s + j] - v).abs() < 1e-12, "{i},{j}");
        }
        // No mean mode: the trapezoid rule on the vertex grid integrates every other cosine
        // mode to exactly zero, so the field's trapezoid mean vanishes.
        let w = |i: usize| if i == 0 || i == s - 1 { 0.5 } else { 1.0 };
        let mean: f64 = (0..s)
            .flat_map(|i| (0..s).map(move |j| (i, j)))
            .map(|(i, j)| w(i) * w(j) * psi[i * s + j])
            .sum();
        assert!(mean.abs() < 1e-12, "{mean}");
        assert!(psi.iter().any(|v| v.abs() > 1e-3));
    }

    #[test]
    fn periodic_grf_matches_direct_series() {
        let n = 16;
        let grf = PeriodicGrf::new(n, 25.0, 5.0, 2.0);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let u = grf.sample(&mut rng);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        let mut coef = Vec::new();
        for k in 1..n / 2 {
            let a: f64 = rng.sample(StandardNormal);
            let b: f64 = rng.sample(StandardNormal);
            coef.push((k, a, b));
        }
        for (j, &uj) in u.iter().enumerate() {
            let x = (j as f64 + 0.5) / n as f64;
            let v: f64 = coef
                .iter()
                .map(|&(k, a, b)| {
                    let kk = 2.0 * PI * k as f64;
                    let sd = 2f64.sqrt() * 25.0 / (kk * kk + 25.0);
                    sd * (a * (kk * x).cos() + b * (kk * x).sin())
                })
                .sum();
            assert!((uj - v).abs() < 1e-12, "j = {j}: {uj} vs {v}");
        }
        let mean: f64 = u.iter().sum::<f64>() / n as f64;
        assert!(mean.abs() < 1e-12);
    }
}
