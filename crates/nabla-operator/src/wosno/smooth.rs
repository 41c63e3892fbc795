//! A smooth, nearly exact approximation s of an instance's solution, used as a control variate
//! for the held-out truth: u = s + w with w harmonic and w = g − s on ∂Ω, so Walk-on-Spheres
//! only has to estimate the small remainder w, and the truth keeps WoS's unbiasedness (up to
//! the O(ε) shell bias) while its standard error falls with ‖g − s‖ on ∂Ω.
//!
//! s = p + h, where
//! - p is the closed-form particular solution of the Gaussian source, **Δp = f**:
//!   p(x) = Σᵢ βᵢ Ein(|x − μᵢ|²)/4 with Ein(t) = ∫₀ᵗ (1 − e⁻ˢ)/s ds, since the radial
//!   v(ρ) = Ein(ρ²)/4 has ρv′ = (1 − e^{−ρ²})/2 and so Δv = e^{−ρ²};
//! - h is harmonic: a least-squares fit of g − p on ∂Ω by the method of fundamental solutions,
//!   h(x) = a₀ + Σⱼ aⱼ ln|x − sⱼ|, with the source points sⱼ on the boundary curve pushed out
//!   by a fixed fraction (with 128 of them, max |g − s| on ∂Ω is 6e-4 for the median
//!   held-out instance and 9.8e-3 for the worst of 100).

use super::family::StarPoisson;
use crate::{OperatorError, Result};
use nalgebra::{DMatrix, DVector};
use std::f64::consts::TAU;

/// Euler–Mascheroni constant γ.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Ein(t) = ∫₀ᵗ (1 − e⁻ˢ)/s ds = E₁(t) + ln t + γ for t ≥ 0 (entire; relative error ~1e-15).
pub fn ein(t: f64) -> f64 {
    if t <= 4.0 {
        // Σₖ (−1)^{k+1} tᵏ/(k·k!): terms stay below 3 for t ≤ 4, so little is cancelled.
        let mut term = 1.0; // t^k / k!
        let mut sum = 0.0;
        for k in 1..80 {
            term *= t / k as f64;
            let add = term / k as f64;
            sum += if k % 2 == 1 { add } else { -add };
            if add < 1e-17 * sum.abs() {
                break;
            }
        }
        sum
    } else {
        expint_e1(t) + t.ln() + EULER_GAMMA
    }
}

/// E₁(t) for t > 1 by its continued fraction (modified Lentz).
fn expint_e1(t: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = t + 1.0;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..200 {
        let a = -((i * i) as f64);
        b += 2.0;
        d = 1.0 / (a * d + b);
        c = b + a / c;
        let delta = c * d;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h * (-t).exp()
}

impl StarPoisson {
    /// The closed-form particular solution p of **Δp = f** (nabla-wos's sign):
    /// Σᵢ βᵢ Ein(|x − μᵢ|²)/4.
    pub fn particular_solution(&self, x: &[f64]) -> f64 {
        (0..2)
            .map(|i| {
                let dx = x[0] - self.mu[i][0];
                let dy = x[1] - self.mu[i][1];
                0.25 * self.beta[i] * ein(dx * dx + dy * dy)
            })
            .sum()
    }
}

/// Settings of the harmonic fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// Source points sⱼ of the fundamental solutions.
    pub sources: usize,
    /// Sources sit at (1 + offset)·r(θⱼ) along the polar rays.
    pub offset: f64,
    /// Collocation points on ∂Ω (uniform in θ).
    pub collocation: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            sources: 128,
            offset: 0.1,
            collocation: 1024,
        }
    }
}

/// s = p + h for one instance (see the module docs).
#[derive(Clone, Debug)]
pub struct SmoothSolution {
    instance: StarPoisson,
    sources: Vec<[f64; 2]>,
    /// a₀ then a₁ … a_m.
    coefficients: Vec<f64>,
}

impl SmoothSolution {
    /// Fits h to g − p on ∂Ω of `instance` (least squares through an SVD that drops singular
    /// values below 1e-13 of the largest: the fundamental-solution basis is nearly dependent).
    pub fn fit(instance: &StarPoisson, options: &FitOptions) -> Result<Self> {
        if options.sources == 0
            || options.collocation <= options.sources
            || !(options.offset.is_finite() && options.offset > 0.0)
        {
            return Err(OperatorError::config(
                "smooth fit",
                "needs sources ≥ 1, collocation > sources and offset > 0",
            ));
        }
        let sources: Vec<[f64; 2]> = (0..options.sources)
            .map(|j| {
                let theta = TAU * j as f64 / options.sources as f64;
                let r = (1.0 + options.offset) * instance.radius(theta);
                [r * theta.cos(), r * theta.sin()]
            })
            .collect();
        let (m, cols) = (options.collocation, options.sources + 1);
        let mut a = DMatrix::<f64>::zeros(m, cols);
        let mut rhs = DVector::<f64>::zeros(m);
        for i in 0..m {
            let theta = TAU * (i as f64 + 0.5) / m as f64;
            let y = instance.boundary_point(theta);
            a[(i, 0)] = 1.0;
            for (j, s) in sources.iter().enumerate() {
                a[(i, j + 1)] = log_distance(&y, s);
            }
            rhs[i] = instance.boundary_at_angle(theta) - instance.particular_solution(&y);
        }
        let svd = a.svd(true, true);
        let cutoff = 1e-13 * svd.singular_values.max();
        let coefficients = svd
            .solve(&rhs, cutoff)
            .map_err(|e| OperatorError::config("smooth fit", e.to_string()))?;
        Ok(SmoothSolution {
            instance: *instance,
            sources,
            coefficients: coefficients.iter().copied().collect(),
        })
    }

    /// The harmonic part h(x).
    pub fn harmonic(&self, x: &[f64]) -> f64 {
        let y = [x[0], x[1]];
        self.coefficients[0]
            + self
                .sources
                .iter()
                .zip(&self.coefficients[1..])
                .map(|(s, a)| a * log_distance(&y, s))
                .sum::<f64>()
    }

    /// s(x) = p(x) + h(x).
    pub fn value(&self, x: &[f64]) -> f64 {
        self.instance.particular_solution(x) + self.harmonic(x)
    }

    /// The boundary data left for the walks, w = g − s, at a boundary point y (g read through
    /// y's polar angle, as the truth's walks do).
    pub fn remainder(&self, y: &[f64]) -> f64 {
        self.instance.boundary(y) - self.value(y)
    }

    /// max |g − s| over `samples` boundary points at angles apart from the collocation ones
    /// (by the maximum principle, a bound on |u − s| in Ω).
    pub fn boundary_misfit(&self, samples: usize) -> f64 {
        (0..samples)
            .map(|i| {
                let theta = TAU * (i as f64 + 0.37) / samples as f64;
                self.remainder(&self.instance.boundary_point(theta)).abs()
            })
            .fold(0.0, f64::max)
    }
}

fn log_distance(y: &[f64; 2], s: &[f64; 2]) -> f64 {
    0.5 * ((y[0] - s[0]).powi(2) + (y[1] - s[1]).powi(2)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ein_matches_known_values_and_both_branches_agree() {
        // Ein(1) = E₁(1) + γ, E₁(1) = 0.219383934395520…
        assert!((ein(1.0) - (0.219_383_934_395_520_3 + EULER_GAMMA)).abs() < 1e-14);
        // E₁(5) = 1.148295591275325e-3.
        assert!((expint_e1(5.0) - 1.148_295_591_275_325e-3).abs() < 1e-16);
        let series_side = ein(4.0);
        let fraction_side = expint_e1(4.0) + 4f64.ln() + EULER_GAMMA;
        assert!((series_side - fraction_side).abs() < 1e-13);
        // Ein(t) = t − t²/4 + t³/18 − … near 0.
        let t: f64 = 1e-4;
        let d = (ein(t) - (t - t * t / 4.0 + t.powi(3) / 18.0)).abs();
        assert!(d < 2e-18, "{d}"); // the next term, t⁴/96, is 1.04e-18
    }

    #[test]
    fn particular_solution_has_the_source_as_laplacian() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let inst = StarPoisson::sample(&mut rng);
        let h = 1e-3;
        for x in [[0.1, -0.2], [0.7, 0.4], [-1.1, 0.3], [2.5, -1.9]] {
            let p = |dx: f64, dy: f64| inst.particular_solution(&[x[0] + dx, x[1] + dy]);
            let lap =
                (p(h, 0.0) + p(-h, 0.0) + p(0.0, h) + p(0.0, -h) - 4.0 * p(0.0, 0.0)) / (h * h);
            assert!(
                (lap - inst.source(&x)).abs() < 1e-5,
                "{lap} vs {}",
                inst.source(&x)
            );
        }
    }

    #[test]
    fn harmonic_fit_matches_the_boundary_data() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for _ in 0..4 {
            let inst = StarPoisson::sample(&mut rng);
            let s = SmoothSolution::fit(&inst, &FitOptions::default()).unwrap();
            assert!(
                s.boundary_misfit(4000) < 0.02,
                "{}",
                s.boundary_misfit(4000)
            );
            // h is harmonic: its 5-point Laplacian is ~0 inside.
            let h = 1e-3;
            let x = [0.2, 0.1];
            let v = |dx: f64, dy: f64| s.harmonic(&[x[0] + dx, x[1] + dy]);
            let lap =
                (v(h, 0.0) + v(-h, 0.0) + v(0.0, h) + v(0.0, -h) - 4.0 * v(0.0, 0.0)) / (h * h);
            assert!(lap.abs() < 1e-3, "{lap}");
        }
    }
}
