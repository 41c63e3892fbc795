//! The 2-D star-domain Poisson family of METHODS §4 (WoS-NO):
//!
//! **Δu = f in Ω(c), u = g on ∂Ω(c)** — nabla-wos's sign convention: the Laplacian with a
//! **plus** sign (`nabla poisson` solves −Δu = f; the same problem there takes −f).
//!
//! - Ω(c): r(θ) = 1 + c₁ cos 4θ + c₂ cos 8θ around the origin, c ~ U[−0.2, 0.2]²;
//! - f(x) = Σᵢ₌₁,₂ βᵢ exp(−|x − μᵢ|²), μᵢ ~ N(0, I₂), βᵢ ~ N(0, 1);
//! - g(θ) = b₀ + (b₁ cos θ + b₂ sin θ + b₃ cos 2θ + b₄ sin 2θ)/4, b ~ U[−1, 1]⁵, where θ is
//!   the polar angle of the boundary point.

use crate::{OperatorError, Result};
use nabla_core::geometry::Star;
use nabla_wos::WosProblem;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use std::sync::Arc;

/// One instance of the family: its parameters (c, μ, β, b).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StarPoisson {
    /// Shape coefficients (c₁, c₂) of r(θ) = 1 + c₁ cos 4θ + c₂ cos 8θ.
    pub c: [f64; 2],
    /// Centres μ₁, μ₂ of the source's Gaussians.
    pub mu: [[f64; 2]; 2],
    /// Amplitudes β₁, β₂ of the source's Gaussians.
    pub beta: [f64; 2],
    /// Boundary coefficients b₀ … b₄.
    pub b: [f64; 5],
}

/// Number of parameters of an instance in [`StarPoisson::to_vec`] order.
pub const PARAMETERS: usize = 13;

impl StarPoisson {
    /// Draws an instance: c₁, c₂, then μ₁, μ₂ (x, y each), β₁, β₂, then b₀ … b₄, from `rng`.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut c = [0.0; 2];
        for v in &mut c {
            *v = rng.gen_range(-0.2..=0.2);
        }
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        let mu = [[normal(), normal()], [normal(), normal()]];
        let beta = [normal(), normal()];
        let mut b = [0.0; 5];
        for v in &mut b {
            *v = rng.gen_range(-1.0..=1.0);
        }
        StarPoisson { c, mu, beta, b }
    }

    /// The held-out instances: instance `k` comes from its own PCG64 stream keyed by
    /// (`seed`, k), apart from the training stream (which the training loop seeds with
    /// `train.seed`), so the test set does not change with the training settings.
    pub fn test_set(seed: u64, count: usize) -> Vec<Self> {
        const SALT: u128 = 0x0007_e575_e70f_57a2;
        (0..count)
            .map(|k| {
                let mut rng = Pcg64::new((seed as u128) ^ (SALT << 64), 2 * k as u128 + 1);
                Self::sample(&mut rng)
            })
            .collect()
    }

    /// The parameters as (c₁, c₂, μ₁ₓ, μ₁ᵧ, μ₂ₓ, μ₂ᵧ, β₁, β₂, b₀ … b₄).
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = vec![self.c[0], self.c[1]];
        v.extend([self.mu[0][0], self.mu[0][1], self.mu[1][0], self.mu[1][1]]);
        v.extend(self.beta);
        v.extend(self.b);
        v
    }

    /// The inverse of [`StarPoisson::to_vec`]; `None` for a slice of the wrong length.
    pub fn from_slice(v: &[f64]) -> Option<Self> {
        (v.len() == PARAMETERS).then(|| StarPoisson {
            c: [v[0], v[1]],
            mu: [[v[2], v[3]], [v[4], v[5]]],
            beta: [v[6], v[7]],
            b: [v[8], v[9], v[10], v[11], v[12]],
        })
    }

    /// r(θ).
    pub fn radius(&self, theta: f64) -> f64 {
        1.0 + self.c[0] * (4.0 * theta).cos() + self.c[1] * (8.0 * theta).cos()
    }

    /// The largest radius, bounded by 1 + |c₁| + |c₂|.
    pub fn max_radius(&self) -> f64 {
        1.0 + self.c[0].abs() + self.c[1].abs()
    }

    /// The boundary point at polar angle θ.
    pub fn boundary_point(&self, theta: f64) -> [f64; 2] {
        let r = self.radius(theta);
        [r * theta.cos(), r * theta.sin()]
    }

    /// The source f(x) of Δu = f.
    pub fn source(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..2 {
            let dx = x[0] - self.mu[i][0];
            let dy = x[1] - self.mu[i][1];
            s += self.beta[i] * (-(dx * dx + dy * dy)).exp();
        }
        s
    }

    /// g(θ).
    pub fn boundary_at_angle(&self, theta: f64) -> f64 {
        let b = &self.b;
        b[0] + 0.25
            * (b[1] * theta.cos()
                + b[2] * theta.sin()
                + b[3] * (2.0 * theta).cos()
                + b[4] * (2.0 * theta).sin())
    }

    /// g at a point, through its polar angle (exact on ∂Ω; WoS reads it at the closest
    /// boundary point).
    pub fn boundary(&self, x: &[f64]) -> f64 {
        self.boundary_at_angle(x[1].atan2(x[0]))
    }

    /// The domain Ω(c).
    pub fn domain(&self) -> Result<Star> {
        Star::wos_no(self.c[0], self.c[1])
            .map_err(|e| OperatorError::config("instance", e.to_string()))
    }

    /// The Walk-on-Spheres problem Δu = f in Ω, u = g on ∂Ω on `domain` (which must be
    /// [`StarPoisson::domain`]).
    pub fn problem(&self, domain: Arc<Star>) -> WosProblem {
        let (s, g) = (*self, *self);
        WosProblem::laplace(domain, Arc::new(move |x: &[f64]| g.boundary(x)))
            .with_source(Arc::new(move |x: &[f64]| s.source(x)))
    }
}
