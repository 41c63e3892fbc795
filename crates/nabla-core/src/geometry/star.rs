//! Star-shaped domains in 2-D with a radial boundary r(θ).

use super::bvh::{closest_on_segment, dist2, Bvh};
use super::{Aabb, Domain};
use crate::CoreError;
use std::f64::consts::TAU;

/// The star-shaped domain {c + ρ(cos θ, sin θ) : 0 ≤ ρ < r(θ)} with
/// r(θ) = r₀ + Σₖ (aₖ cos kθ + bₖ sin kθ), which must stay positive.
///
/// The WoS-NO family (METHODS §4) is `r₀ = 1`, a₄ = c₁, a₈ = c₂ (`star:c1=..;c2=..`).
///
/// Distance: the nearest edge of a fine polyline through the curve (found with a BVH), refined
/// by Newton's method on the curve parameter to the exact distance; if Newton leaves the
/// polyline's error band, the polyline distance minus its error bound is returned instead, so
/// the value is exact in practice and conservative always.
#[derive(Clone)]
pub struct Star {
    center: [f64; 2],
    r0: f64,
    /// (k, aₖ, bₖ).
    modes: Vec<(u32, f64, f64)>,
    /// Polyline vertices at θᵢ = 2πi/M.
    poly: Vec<[f64; 3]>,
    bvh: Bvh,
    /// Bound on the distance between the polyline and the curve.
    hausdorff: f64,
    /// Bound on the speed |γ'(θ)| (for arc-length sampling).
    max_speed: f64,
    bounds: Aabb,
}

impl std::fmt::Debug for Star {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Star")
            .field("center", &self.center)
            .field("r0", &self.r0)
            .field("modes", &self.modes)
            .finish()
    }
}

impl Star {
    /// A star domain around `center` with base radius `r0` and Fourier `modes` (k, aₖ, bₖ).
    /// Errors when r(θ) is not positive everywhere or a value is not finite.
    pub fn new(center: [f64; 2], r0: f64, modes: Vec<(u32, f64, f64)>) -> Result<Self, CoreError> {
        let label = format!("star r0={r0} modes={modes:?}");
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: label.clone(),
            reason,
        };
        if center.iter().any(|c| !c.is_finite())
            || !r0.is_finite()
            || modes.iter().any(|m| !m.1.is_finite() || !m.2.is_finite())
        {
            return Err(bad("values must be finite".into()));
        }
        let kmax = modes.iter().map(|m| m.0).max().unwrap_or(0) as usize;
        let m = (256 * kmax.max(4)).clamp(1024, 1 << 16);
        let mut s = Self {
            center,
            r0,
            modes,
            poly: Vec::new(),
            bvh: Bvh::build(&[]),
            hausdorff: 0.0,
            max_speed: 0.0,
            bounds: Aabb {
                min: vec![0.0; 2],
                max: vec![0.0; 2],
            },
        };
        let mut rmin = f64::INFINITY;
        let mut rmax: f64 = 0.0;
        for i in 0..m * 4 {
            let t = TAU * i as f64 / (m * 4) as f64;
            let (r, dr) = s.radius(t);
            rmin = rmin.min(r);
            rmax = rmax.max(r);
            s.max_speed = s.max_speed.max((r * r + dr * dr).sqrt());
        }
        if rmin <= 1e-9 * r0.abs().max(1e-300) || rmin <= 0.0 {
            return Err(bad(format!(
                "r(θ) must stay positive; its minimum is {rmin:.4}"
            )));
        }
        s.max_speed *= 1.01;
        s.poly = (0..m).map(|i| s.point(TAU * i as f64 / m as f64)).collect();
        let mut h: f64 = 0.0;
        for i in 0..m {
            let (a, b) = (s.poly[i], s.poly[(i + 1) % m]);
            for f in [0.25, 0.5, 0.75] {
                let p = s.point(TAU * (i as f64 + f) / m as f64);
                h = h.max(dist2(&p, &closest_on_segment(&p, &a, &b)).sqrt());
            }
        }
        s.hausdorff = 2.0 * h + 1e-12 * rmax;
        let boxes: Vec<_> = (0..m)
            .map(|i| {
                let (a, b) = (s.poly[i], s.poly[(i + 1) % m]);
                (
                    [a[0].min(b[0]), a[1].min(b[1]), 0.0],
                    [a[0].max(b[0]), a[1].max(b[1]), 0.0],
                )
            })
            .collect();
        s.bvh = Bvh::build(&boxes);
        let pad = s.hausdorff;
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in &s.poly {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k] - pad);
                hi[k] = hi[k].max(p[k] + pad);
            }
        }
        s.bounds = Aabb {
            min: lo.to_vec(),
            max: hi.to_vec(),
        };
        Ok(s)
    }

    /// The centre c.
    pub fn center(&self) -> [f64; 2] {
        self.center
    }

    /// The base radius r₀.
    pub fn base_radius(&self) -> f64 {
        self.r0
    }

    /// The Fourier modes (k, aₖ, bₖ) of r(θ).
    pub fn modes(&self) -> &[(u32, f64, f64)] {
        &self.modes
    }

    /// The vertices of the polyline through the curve that distance queries start from
    /// (θᵢ = 2πi/M, closed).
    pub fn polyline(&self) -> Vec<[f64; 2]> {
        self.poly.iter().map(|p| [p[0], p[1]]).collect()
    }

    /// The bound on the distance between that polyline and the curve (the error band inside
    /// which a Newton-refined distance is accepted).
    pub fn polyline_error(&self) -> f64 {
        self.hausdorff
    }

    /// The WoS-NO family: r(θ) = 1 + c₁ cos 4θ + c₂ cos 8θ around the origin.
    pub fn wos_no(c1: f64, c2: f64) -> Result<Self, CoreError> {
        Self::new([0.0, 0.0], 1.0, vec![(4, c1, 0.0), (8, c2, 0.0)])
    }

    /// (r(θ), r'(θ)).
    #[inline]
    pub fn radius(&self, theta: f64) -> (f64, f64) {
        let mut r = self.r0;
        let mut dr = 0.0;
        for &(k, a, b) in &self.modes {
            let (s, c) = (k as f64 * theta).sin_cos();
            r += a * c + b * s;
            dr += k as f64 * (b * c - a * s);
        }
        (r, dr)
    }

    /// (r''(θ)).
    fn radius2(&self, theta: f64) -> f64 {
        let mut d2 = 0.0;
        for &(k, a, b) in &self.modes {
            let (s, c) = (k as f64 * theta).sin_cos();
            let k2 = (k as f64).powi(2);
            d2 -= k2 * (a * c + b * s);
        }
        d2
    }

    fn point(&self, t: f64) -> [f64; 3] {
        let (r, _) = self.radius(t);
        let (s, c) = t.sin_cos();
        [self.center[0] + r * c, self.center[1] + r * s, 0.0]
    }

    /// (exact distance, θ of the closest curve point).
    fn nearest(&self, x: &[f64]) -> (f64, f64) {
        let p = [x[0], x[1], 0.0];
        let m = self.poly.len();
        let on = |i: u32| {
            let i = i as usize;
            closest_on_segment(&p, &self.poly[i], &self.poly[(i + 1) % m])
        };
        let (d2, i) = self.bvh.nearest(&p, |i| dist2(&p, &on(i)));
        let dpoly = d2.sqrt();
        // Initial θ: the segment's start plus the fraction along it.
        let q = on(i);
        let a = self.poly[i as usize];
        let b = self.poly[(i as usize + 1) % m];
        let seg = dist2(&a, &b).sqrt();
        let frac = if seg > 0.0 {
            dist2(&a, &q).sqrt() / seg
        } else {
            0.0
        };
        let mut t = TAU * (i as f64 + frac) / m as f64;
        // Newton on h(θ) = (γ(θ) − x)·γ'(θ).
        for _ in 0..8 {
            let (r, dr) = self.radius(t);
            let d2r = self.radius2(t);
            let (s, c) = t.sin_cos();
            let g = [self.center[0] + r * c - x[0], self.center[1] + r * s - x[1]];
            let g1 = [dr * c - r * s, dr * s + r * c];
            let g2 = [
                d2r * c - 2.0 * dr * s - r * c,
                d2r * s + 2.0 * dr * c - r * s,
            ];
            let h = g[0] * g1[0] + g[1] * g1[1];
            let hp = g1[0] * g1[0] + g1[1] * g1[1] + g[0] * g2[0] + g[1] * g2[1];
            if hp <= 0.0 {
                break;
            }
            let step = (h / hp).clamp(-TAU / m as f64, TAU / m as f64);
            t -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        let pt = self.point(t);
        let dn = dist2(&p, &pt).sqrt();
        if (dn - dpoly).abs() <= self.hausdorff {
            (dn.min(dpoly + self.hausdorff), t)
        } else {
            ((dpoly - self.hausdorff).max(0.0), t)
        }
    }
}

impl Domain for Star {
    fn dim(&self) -> usize {
        2
    }

    fn signed_distance(&self, x: &[f64]) -> f64 {
        let d = self.nearest(x).0;
        if self.contains(x) {
            -d
        } else {
            d
        }
    }

    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.nearest(x).0
    }

    fn contains(&self, x: &[f64]) -> bool {
        let (dx, dy) = (x[0] - self.center[0], x[1] - self.center[1]);
        (dx * dx + dy * dy).sqrt() < self.radius(dy.atan2(dx)).0
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        let (_, t) = self.nearest(x);
        let p = self.point(t);
        out[0] = p[0];
        out[1] = p[1];
    }

    fn bounds(&self) -> Aabb {
        self.bounds.clone()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn is_exact(&self) -> bool {
        true
    }

    fn boundary_measure(&self) -> f64 {
        let m = self.poly.len();
        (0..m)
            .map(|i| dist2(&self.poly[i], &self.poly[(i + 1) % m]).sqrt())
            .sum()
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        let t = TAU * u[0];
        let (r, dr) = self.radius(t);
        if u[1] * self.max_speed > (r * r + dr * dr).sqrt() {
            return false;
        }
        let p = self.point(t);
        out[0] = p[0];
        out[1] = p[1];
        true
    }
}
