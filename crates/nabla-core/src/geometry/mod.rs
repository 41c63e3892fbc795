//! Domains Ω ⊂ ℝᵈ for grid-free solvers (Walk-on-Spheres, PINN collocation): signed distance,
//! inside test, closest boundary point and uniform sampling of the interior and the boundary.
//!
//! Shapes: [`BoxDomain`] and [`Ball`] (any dimension), [`Polygon`] (2-D, e.g. an L-shape),
//! [`Star`] (2-D, r(θ) = r₀ + Σ aₖ cos kθ + bₖ sin kθ), [`Mesh`] (3-D closed triangle mesh from
//! `.obj`, with a BVH) and the CSG combinations [`Csg`] (union, intersection, difference).
//! [`parse_domain`] builds any of them from a text spec (syntax in [`spec`]).
//!
//! # Conventions
//! - Points are `&[f64]` of length [`Domain::dim`]; batches are flat row-major `Vec<f64>`
//!   (point `i` is `v[i*d..(i+1)*d]`).
//! - Signed distance φ(x) is **negative inside**, positive outside, zero on ∂Ω, in the units of
//!   the coordinates. It is either exact or *conservative*: |φ(x)| ≤ dist(x, ∂Ω), so a ball of
//!   radius |φ(x)| around x never crosses the boundary ([`Domain::is_exact`] tells which).
//!
//! ```
//! use nabla_core::geometry::{parse_domain, Domain, Sampling, sample_interior};
//! let ball = parse_domain("ball:center=0,0;radius=1").unwrap();
//! assert_eq!(ball.dim(), 2);
//! assert!((ball.signed_distance(&[0.5, 0.0]) + 0.5).abs() < 1e-15);
//! let mut p = [0.0; 2];
//! ball.closest_boundary_point(&[0.5, 0.0], &mut p);
//! assert!((p[0] - 1.0).abs() < 1e-15);
//! let pts = sample_interior(ball.as_ref(), 100, Sampling::Halton { skip: 0 }).unwrap();
//! assert_eq!(pts.len(), 200);
//! ```

// Geometry loops index several coordinate arrays by the same axis k; iterator chains over
// zipped slices would obscure the formulas.
#![allow(clippy::needless_range_loop)]

mod bvh;
mod csg;
mod mesh;
mod polygon;
mod shapes;
pub mod spec;
mod star;

pub use csg::{Csg, CsgOp};
pub use mesh::Mesh;
pub use polygon::Polygon;
pub use shapes::{Ball, BoxDomain};
pub use spec::parse_domain;
pub use star::Star;

use crate::CoreError;

/// An axis-aligned bounding box `[min, max]` in d dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Aabb {
    /// Lower corner, one entry per dimension.
    pub min: Vec<f64>,
    /// Upper corner, one entry per dimension.
    pub max: Vec<f64>,
}

impl Aabb {
    /// The box's dimension.
    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// The smallest box containing both.
    pub fn union(&self, other: &Aabb) -> Aabb {
        Aabb {
            min: self
                .min
                .iter()
                .zip(&other.min)
                .map(|(a, b)| a.min(*b))
                .collect(),
            max: self
                .max
                .iter()
                .zip(&other.max)
                .map(|(a, b)| a.max(*b))
                .collect(),
        }
    }
}

/// A region Ω ⊂ ℝᵈ with a boundary ∂Ω (see the [module docs](self) for conventions).
pub trait Domain: Send + Sync + std::fmt::Debug {
    /// The dimension d of the space.
    fn dim(&self) -> usize;

    /// Signed distance φ(x) to ∂Ω: negative inside, positive outside, exact or conservative
    /// (|φ(x)| ≤ dist(x, ∂Ω)).
    fn signed_distance(&self, x: &[f64]) -> f64;

    /// Unsigned distance to ∂Ω, |φ(x)|, with the same exactness. Shapes whose sign test is
    /// expensive (polygons, meshes) override this: Walk-on-Spheres calls it at every step.
    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.signed_distance(x).abs()
    }

    /// Whether x lies in the open set Ω.
    fn contains(&self, x: &[f64]) -> bool {
        self.signed_distance(x) < 0.0
    }

    /// Writes into `out` (length d) a point of ∂Ω closest to `x` (for CSG and other
    /// conservative shapes, a boundary point at distance close to [`Domain::distance_to_boundary`];
    /// exact within the ε shell that Walk-on-Spheres queries).
    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]);

    /// A box containing Ω (used for interior sampling and grids).
    fn bounds(&self) -> Aabb;

    /// Whether [`Domain::signed_distance`] is exact (`false`: conservative).
    fn is_exact(&self) -> bool;

    /// The concrete shape, for code that specializes on it (e.g. GPU kernels for boxes and
    /// balls): `domain.as_any().downcast_ref::<Ball>()`.
    fn as_any(&self) -> &dyn std::any::Any;

    /// The measure of ∂Ω (length in 2-D, area in 3-D); for CSG an upper bound (the sum over
    /// the parts). Used to pick CSG parts in proportion when sampling the boundary.
    fn boundary_measure(&self) -> f64;

    /// Maps a point `u ∈ [0, 1)ᵈ` to a point of ∂Ω, such that `u` uniform gives points uniform
    /// with respect to surface measure (arc length in 2-D, area in 3-D) among the accepted
    /// ones. Returns `false` when this `u` is rejected (rejection sampling); `out` has length d.
    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool;
}

/// How sample points are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// Independent uniform points from a SplitMix64 stream with this seed.
    Random {
        /// Seed of the stream; the same seed gives the same points.
        seed: u64,
    },
    /// The Halton low-discrepancy sequence (bases 2, 3, 5, …), starting after `skip` terms.
    /// Deterministic; lower integration error than random points for smooth integrands.
    Halton {
        /// Number of leading terms to skip (0 starts at index 1; index 0 is the origin).
        skip: u64,
    },
}

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit counter passed through a bijective mixer.
/// Statistically strong for Monte Carlo, and counter-based: [`SplitMix64::mix`] of any key is
/// a random-looking word, which is how solvers derive one independent stream per (point, walk).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The increment (golden ratio · 2⁶⁴).
    pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The SplitMix64 output function: a bijective avalanche mixer of 64-bit words.
    #[inline]
    pub fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        Self::mix(self.state)
    }

    /// A uniform double in [0, 1) (53 random bits).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform double in (0, 1] (never 0: safe for `ln`).
    #[inline]
    pub fn next_f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

const PRIMES: [u64; 32] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131,
];

/// The radical inverse of `i` in base `b`: term `i` of the 1-D van der Corput sequence.
fn radical_inverse(mut i: u64, b: u64) -> f64 {
    let inv = 1.0 / b as f64;
    let mut f = inv;
    let mut r = 0.0;
    while i > 0 {
        r += f * (i % b) as f64;
        i /= b;
        f *= inv;
    }
    r
}

/// A source of points in [0, 1)ᵏ, random or Halton.
struct UnitSource {
    rng: Option<SplitMix64>,
    index: u64,
    k: usize,
}

impl UnitSource {
    fn new(sampling: Sampling, k: usize) -> Result<Self, CoreError> {
        Ok(match sampling {
            Sampling::Random { seed } => Self {
                rng: Some(SplitMix64::new(SplitMix64::mix(seed ^ 0x5EED))),
                index: 0,
                k,
            },
            Sampling::Halton { skip } => {
                if k > PRIMES.len() {
                    return Err(CoreError::InvalidDomain {
                        spec: format!("{k}-D Halton sampling"),
                        reason: format!(
                            "Halton sampling supports up to {} dimensions",
                            PRIMES.len()
                        ),
                    });
                }
                Self {
                    rng: None,
                    index: skip,
                    k,
                }
            }
        })
    }

    fn next(&mut self, u: &mut [f64]) {
        match &mut self.rng {
            Some(r) => u.iter_mut().for_each(|v| *v = r.next_f64()),
            None => {
                self.index += 1;
                for (j, v) in u.iter_mut().enumerate().take(self.k) {
                    *v = radical_inverse(self.index, PRIMES[j]);
                }
            }
        }
    }
}

/// Attempts allowed per requested point before rejection sampling gives up.
const MAX_ATTEMPTS_PER_POINT: usize = 10_000;

/// Draws `n` points uniformly in Ω (rejection sampling in [`Domain::bounds`]); returns them flat,
/// row-major (`n·d` values).
///
/// Errors when the domain fills too little of its bounding box for rejection to find points.
pub fn sample_interior(
    domain: &dyn Domain,
    n: usize,
    sampling: Sampling,
) -> Result<Vec<f64>, CoreError> {
    if let (Some(ball), Sampling::Random { .. }) =
        (domain.as_any().downcast_ref::<Ball>(), sampling)
    {
        // Rejection from the bounding cube fails past a few dimensions (the ball fills
        // π^{d/2}/(2^d Γ(d/2+1)) of it: 2.5e-8 at d = 20), so balls in d > 3 are sampled
        // directly: a uniform direction times a radius R·U^{1/d}.
        if ball.dim() > 3 {
            return Ok(sample_ball_interior(ball, n, sampling));
        }
    }
    let b = domain.bounds();
    sample_by_rejection(
        domain,
        n,
        sampling,
        "interior sampling found too few points inside (is the domain empty?)",
        |u, x| {
            for k in 0..x.len() {
                x[k] = b.min[k] + u[k] * (b.max[k] - b.min[k]);
            }
            domain.contains(x)
        },
    )
}

/// Uniform points in a ball: Gaussian directions (inverse-CDF of the unit draws) scaled to
/// radius R·U^{1/d}.
fn sample_ball_interior(ball: &Ball, n: usize, sampling: Sampling) -> Vec<f64> {
    let d = ball.dim();
    let mut src = match UnitSource::new(sampling, d + 1) {
        Ok(s) => s,
        Err(_) => unreachable!("random sources accept any dimension"),
    };
    let mut u = vec![0.0; d + 1];
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let (dir, rad) = loop {
            src.next(&mut u);
            let mut dir: Vec<f64> = u[..d]
                .iter()
                .map(|&p| inverse_normal_cdf(p.clamp(1e-300, 1.0 - 1e-16)))
                .collect();
            let len = norm(&dir);
            if len > 1e-300 && len.is_finite() {
                dir.iter_mut().for_each(|v| *v /= len);
                break (dir, u[d]);
            }
        };
        let r = ball.radius() * rad.powf(1.0 / d as f64);
        out.extend(dir.iter().zip(ball.center()).map(|(v, c)| c + r * v));
    }
    out
}

/// Draws `n` points uniformly on ∂Ω (by surface measure; see
/// [`Domain::boundary_point_from_unit`]); returns them flat, row-major.
pub fn sample_boundary(
    domain: &dyn Domain,
    n: usize,
    sampling: Sampling,
) -> Result<Vec<f64>, CoreError> {
    sample_by_rejection(
        domain,
        n,
        sampling,
        "boundary sampling rejected too many points (is the boundary empty?)",
        |u, x| domain.boundary_point_from_unit(u, x),
    )
}

/// The loop both samplers share: draws unit-cube points from `sampling`, maps each through
/// `accept(u, x)` (which writes the candidate into `x` and says whether to keep it) until `n`
/// are kept, and gives up with `failure` after [`MAX_ATTEMPTS_PER_POINT`] tries per point.
fn sample_by_rejection(
    domain: &dyn Domain,
    n: usize,
    sampling: Sampling,
    failure: &str,
    mut accept: impl FnMut(&[f64], &mut [f64]) -> bool,
) -> Result<Vec<f64>, CoreError> {
    let d = domain.dim();
    let mut src = UnitSource::new(sampling, d)?;
    let mut u = vec![0.0; d];
    let mut x = vec![0.0; d];
    let mut out = Vec::with_capacity(n * d);
    let budget = n.saturating_mul(MAX_ATTEMPTS_PER_POINT).max(100_000);
    let mut attempts = 0usize;
    while out.len() < n * d {
        attempts += 1;
        if attempts > budget {
            return Err(CoreError::InvalidDomain {
                spec: format!("{domain:?}"),
                reason: failure.into(),
            });
        }
        src.next(&mut u);
        if accept(&u, &mut x) {
            out.extend_from_slice(&x);
        }
    }
    Ok(out)
}

/// Euclidean norm.
#[inline]
pub(crate) fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// The inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9), for mapping uniform numbers to Gaussian ones.
pub(crate) fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let plow = 0.02425;
    if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_dimensional_ball_is_sampled_directly_and_uniformly() {
        let ball = parse_domain("ball:dim=200;radius=2").unwrap();
        let n = 4000;
        let pts = sample_interior(ball.as_ref(), n, Sampling::Random { seed: 3 }).unwrap();
        assert_eq!(pts.len(), n * 200);
        // Uniform in the ball: P(|x| ≤ ρR) = ρ^d, so the mean of (|x|/R)^d is 1/2.
        let mut mean = 0.0;
        for p in pts.chunks(200) {
            let r = norm(p) / 2.0;
            assert!(r < 1.0);
            mean += r.powi(200) / n as f64;
        }
        assert!((mean - 0.5).abs() < 0.03, "{mean}");
        // Directions are isotropic: each coordinate has mean ≈ 0.
        let m0: f64 = pts.chunks(200).map(|p| p[7]).sum::<f64>() / n as f64;
        assert!(m0.abs() < 0.01, "{m0}");
    }

    #[test]
    fn halton_and_normal_cdf() {
        assert_eq!(radical_inverse(1, 2), 0.5);
        assert_eq!(radical_inverse(3, 2), 0.75);
        assert!((radical_inverse(1, 3) - 1.0 / 3.0).abs() < 1e-15);
        assert!(inverse_normal_cdf(0.5).abs() < 1e-9);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.001) + 3.090_232_306).abs() < 1e-8);
    }

    #[test]
    fn splitmix_is_uniform_enough() {
        let mut r = SplitMix64::new(1);
        let n = 100_000;
        let m: f64 = (0..n).map(|_| r.next_f64()).sum::<f64>() / n as f64;
        assert!((m - 0.5).abs() < 4.0 * (1.0 / 12.0f64 / n as f64).sqrt());
    }
}
