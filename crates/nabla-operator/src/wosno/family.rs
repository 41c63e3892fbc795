//! The 2-D star-domain Poisson family of METHODS §4 (WoS-NO):
//!
//! **Δu = f in Ω(c), u = g on ∂Ω(c)** — nabla-wos's sign convention: the Laplacian with a
//! **plus** sign (`nabla poisson` solves −Δu = f; the same problem there takes −f).
//!
//! - Ω(c): r(θ) = 1 + c₁ cos 4θ + c₂ cos 8θ around the origin, c ~ U[−0.2, 0.2]²;
//! - f(x) = Σᵢ₌₁,₂ βᵢ exp(−|x − μᵢ|²), μᵢ ~ N(0, I₂), βᵢ ~ N(0, 1);
//! - g(θ) = b₀ + (b₁ cos θ + b₂ sin θ + b₃ cos 2θ + b₄ sin 2θ)/4, b ~ U[−1, 1]⁵, where θ is
//!   the polar angle of the boundary point.
//!
//! That is the WoS-NO authors' 2-D family (their `Poisson2D`: the same star radius, Gaussian
//! sources and boundary series). [`Family`] describes it and the out-of-distribution family
//! of the zero-shot check: three- and six-fold stars r(θ) = 1 + c₁ cos 3θ + c₂ cos 6θ (shapes
//! the training never sees), source centres μᵢ ~ N(0, 1.5² I₂) and amplitudes βᵢ ~ N(0, 2²).

use crate::{OperatorError, Result};
use nabla_core::geometry::Star;
use nabla_wos::WosProblem;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use std::sync::Arc;

/// A distribution of instances: the shape harmonics and the spreads of the parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Family {
    /// Harmonics (k₁, k₂) of r(θ) = 1 + c₁ cos k₁θ + c₂ cos k₂θ.
    pub harmonics: [u32; 2],
    /// c ~ U[−a, a]² with this a.
    pub shape_amplitude: f64,
    /// μᵢ ~ N(0, σ² I₂) with this σ.
    pub center_std: f64,
    /// βᵢ ~ N(0, σ²) with this σ.
    pub amplitude_std: f64,
}

impl Family {
    /// The training family (METHODS §4, the WoS-NO authors'): harmonics (4, 8), c ∈
    /// [−0.2, 0.2]², μ ~ N(0, I₂), β ~ N(0, 1).
    pub const IN_DISTRIBUTION: Family = Family {
        harmonics: [4, 8],
        shape_amplitude: 0.2,
        center_std: 1.0,
        amplitude_std: 1.0,
    };

    /// The zero-shot family: harmonics (3, 6), c ∈ [−0.2, 0.2]² (the same largest radius
    /// 1.4, so the same embedding grid), μ ~ N(0, 1.5² I₂), β ~ N(0, 2²).
    pub const OUT_OF_DISTRIBUTION: Family = Family {
        harmonics: [3, 6],
        shape_amplitude: 0.2,
        center_std: 1.5,
        amplitude_std: 2.0,
    };

    /// Draws an instance: c₁, c₂, then μ₁, μ₂ (x, y each), β₁, β₂, then b₀ … b₄.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> StarPoisson {
        let a = self.shape_amplitude;
        let mut c = [0.0; 2];
        for v in &mut c {
            *v = rng.gen_range(-a..=a);
        }
        let mut normal = || -> f64 { StandardNormal.sample(rng) };
        let s = self.center_std;
        let mu = [[s * normal(), s * normal()], [s * normal(), s * normal()]];
        let beta = [self.amplitude_std * normal(), self.amplitude_std * normal()];
        let mut b = [0.0; 5];
        for v in &mut b {
            *v = rng.gen_range(-1.0..=1.0);
        }
        StarPoisson {
            harmonics: self.harmonics,
            c,
            mu,
            beta,
            b,
        }
    }

    /// Held-out instances of this family: instance `k` from its own PCG64 stream keyed by
    /// (`seed`, k, the family), apart from the training stream (which the training loop seeds
    /// with `train.seed`), so the test set does not change with the training settings.
    pub fn test_set(&self, seed: u64, count: usize) -> Vec<StarPoisson> {
        const SALT: u128 = 0x0007_e575_e70f_57a2;
        let family_salt: u128 = if *self == Self::IN_DISTRIBUTION {
            0
        } else {
            0x00d1_57ab_1e00_0000 ^ ((self.harmonics[0] as u128) << 8) ^ self.harmonics[1] as u128
        };
        (0..count)
            .map(|k| {
                let mut rng = Pcg64::new(
                    (seed as u128) ^ (SALT << 64) ^ family_salt,
                    2 * k as u128 + 1,
                );
                self.sample(&mut rng)
            })
            .collect()
    }
}

/// One instance of the family: its parameters (c, μ, β, b) and the shape harmonics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StarPoisson {
    /// Harmonics (k₁, k₂) of the radius ((4, 8) in the training family).
    pub harmonics: [u32; 2],
    /// Shape coefficients (c₁, c₂) of r(θ) = 1 + c₁ cos k₁θ + c₂ cos k₂θ.
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
    /// Draws an instance of the training family ([`Family::IN_DISTRIBUTION`]).
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Family::IN_DISTRIBUTION.sample(rng)
    }

    /// The held-out instances of the training family ([`Family::test_set`]).
    pub fn test_set(seed: u64, count: usize) -> Vec<Self> {
        Family::IN_DISTRIBUTION.test_set(seed, count)
    }

    /// The parameters as (c₁, c₂, μ₁ₓ, μ₁ᵧ, μ₂ₓ, μ₂ᵧ, β₁, β₂, b₀ … b₄).
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = vec![self.c[0], self.c[1]];
        v.extend([self.mu[0][0], self.mu[0][1], self.mu[1][0], self.mu[1][1]]);
        v.extend(self.beta);
        v.extend(self.b);
        v
    }

    /// The inverse of [`StarPoisson::to_vec`] for the training family's harmonics; `None`
    /// for a slice of the wrong length.
    pub fn from_slice(v: &[f64]) -> Option<Self> {
        (v.len() == PARAMETERS).then(|| StarPoisson {
            harmonics: Family::IN_DISTRIBUTION.harmonics,
            c: [v[0], v[1]],
            mu: [[v[2], v[3]], [v[4], v[5]]],
            beta: [v[6], v[7]],
            b: [v[8], v[9], v[10], v[11], v[12]],
        })
    }

    /// An instance from text: the 13 numbers of [`StarPoisson::to_vec`] (c₁, c₂, μ₁ₓ, μ₁ᵧ,
    /// μ₂ₓ, μ₂ᵧ, β₁, β₂, b₀ … b₄), separated by commas or spaces, on the star with these
    /// harmonics. Errors say what is wrong (count, a non-number, a shape whose radius is not
    /// positive).
    pub fn parse(spec: &str, harmonics: [u32; 2]) -> Result<Self> {
        let bad = |reason: String| OperatorError::Input(format!("instance '{spec}': {reason}"));
        let v: Vec<f64> = spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("'{t}' is not a finite number")))
            })
            .collect::<Result<_>>()?;
        if v.len() != PARAMETERS {
            return Err(bad(format!(
                "{} numbers; expected {PARAMETERS}: c1,c2,mu1x,mu1y,mu2x,mu2y,beta1,beta2,b0,b1,b2,b3,b4",
                v.len()
            )));
        }
        if harmonics.contains(&0) {
            return Err(bad("harmonics must be ≥ 1".into()));
        }
        let mut inst = Self::from_slice(&v).expect("length checked");
        inst.harmonics = harmonics;
        if inst.c[0].abs() + inst.c[1].abs() >= 1.0 {
            return Err(bad(format!(
                "|c1| + |c2| = {} ≥ 1: the radius 1 + c1 cos k1θ + c2 cos k2θ would not stay positive",
                inst.c[0].abs() + inst.c[1].abs()
            )));
        }
        inst.domain()?;
        Ok(inst)
    }

    /// r(θ).
    pub fn radius(&self, theta: f64) -> f64 {
        let [k1, k2] = self.harmonics;
        1.0 + self.c[0] * (k1 as f64 * theta).cos() + self.c[1] * (k2 as f64 * theta).cos()
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
        let [k1, k2] = self.harmonics;
        Star::new(
            [0.0, 0.0],
            1.0,
            vec![(k1, self.c[0], 0.0), (k2, self.c[1], 0.0)],
        )
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
