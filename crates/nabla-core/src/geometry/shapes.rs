//! Axis-aligned boxes and balls in any dimension, with exact signed distances.

use super::{inverse_normal_cdf, norm, Aabb, Domain};
use crate::CoreError;

/// The open box (min₀, max₀) × … × (min_{d−1}, max_{d−1}) in d ≥ 1 dimensions. Exact distance.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxDomain {
    min: Vec<f64>,
    max: Vec<f64>,
    /// Face areas (measure of a face normal to each axis), for boundary sampling.
    face_area: Vec<f64>,
}

impl BoxDomain {
    /// The box with corners `min` and `max`; errors unless both have the same length ≥ 1, all
    /// finite, with `min[k] < max[k]`.
    pub fn new(min: Vec<f64>, max: Vec<f64>) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: format!("box min={min:?} max={max:?}"),
            reason,
        };
        if min.is_empty() || min.len() != max.len() {
            return Err(bad(format!(
                "min has {} coordinates and max {}; they must match (at least 1)",
                min.len(),
                max.len()
            )));
        }
        if min.iter().chain(&max).any(|v| !v.is_finite()) {
            return Err(bad("corners must be finite".into()));
        }
        if let Some(k) = (0..min.len()).find(|&k| min[k] >= max[k]) {
            return Err(bad(format!(
                "min[{k}] = {} is not below max[{k}] = {}",
                min[k], max[k]
            )));
        }
        if let Some(k) = (0..min.len()).find(|&k| !(max[k] - min[k]).is_finite()) {
            return Err(bad(format!(
                "the width max[{k}] − min[{k}] = {:e} − ({:e}) overflows",
                max[k], min[k]
            )));
        }
        // Face a has the area Π_{b≠a} width_b: prefix times suffix products, O(d) in any
        // dimension.
        let d = min.len();
        let width: Vec<f64> = (0..d).map(|k| max[k] - min[k]).collect();
        let mut face_area = vec![1.0; d];
        let mut prefix = 1.0;
        for a in 0..d {
            face_area[a] = prefix;
            prefix *= width[a];
        }
        let mut suffix = 1.0;
        for a in (0..d).rev() {
            face_area[a] *= suffix;
            suffix *= width[a];
        }
        Ok(Self {
            min,
            max,
            face_area,
        })
    }

    /// Lower corner.
    pub fn min(&self) -> &[f64] {
        &self.min
    }

    /// Upper corner.
    pub fn max(&self) -> &[f64] {
        &self.max
    }
}

impl Domain for BoxDomain {
    fn dim(&self) -> usize {
        self.min.len()
    }

    #[inline]
    fn signed_distance(&self, x: &[f64]) -> f64 {
        // Per axis: q = |x − c| − h (positive outside the slab).
        let mut outside2 = 0.0;
        let mut max_q = f64::NEG_INFINITY;
        for k in 0..self.min.len() {
            let q = (self.min[k] - x[k]).max(x[k] - self.max[k]);
            if q > 0.0 {
                outside2 += q * q;
            }
            max_q = max_q.max(q);
        }
        if outside2 > 0.0 {
            outside2.sqrt()
        } else {
            max_q
        }
    }

    #[inline]
    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.signed_distance(x).abs()
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        if self.signed_distance(x) > 0.0 {
            for k in 0..self.min.len() {
                out[k] = x[k].clamp(self.min[k], self.max[k]);
            }
            return;
        }
        // Inside (or on ∂Ω): move the nearest face's coordinate onto it.
        out.copy_from_slice(&x[..self.min.len()]);
        let mut best = (f64::INFINITY, 0, 0.0);
        for k in 0..self.min.len() {
            let lo = x[k] - self.min[k];
            let hi = self.max[k] - x[k];
            if lo < best.0 {
                best = (lo, k, self.min[k]);
            }
            if hi < best.0 {
                best = (hi, k, self.max[k]);
            }
        }
        out[best.1] = best.2;
    }

    fn bounds(&self) -> Aabb {
        Aabb {
            min: self.min.clone(),
            max: self.max.clone(),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn is_exact(&self) -> bool {
        true
    }

    fn boundary_measure(&self) -> f64 {
        2.0 * self.face_area.iter().sum::<f64>()
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        let d = self.min.len();
        let total: f64 = 2.0 * self.face_area.iter().sum::<f64>();
        // u[0] picks the face (by area) and, rescaled, nothing else; u[1..] place the point.
        let mut t = u[0] * total;
        let mut face = (d - 1, true);
        'pick: for a in 0..d {
            for side in [false, true] {
                if t < self.face_area[a] {
                    face = (a, side);
                    break 'pick;
                }
                t -= self.face_area[a];
            }
        }
        let mut j = 1;
        for k in 0..d {
            if k == face.0 {
                out[k] = if face.1 { self.max[k] } else { self.min[k] };
            } else {
                out[k] = self.min[k] + u[j] * (self.max[k] - self.min[k]);
                j += 1;
            }
        }
        true
    }
}

/// The open ball |x − c| < R in d ≥ 1 dimensions. Exact distance.
#[derive(Clone, Debug, PartialEq)]
pub struct Ball {
    center: Vec<f64>,
    radius: f64,
}

impl Ball {
    /// The ball with this centre and radius; errors unless the centre is non-empty and finite
    /// and the radius finite and positive.
    pub fn new(center: Vec<f64>, radius: f64) -> Result<Self, CoreError> {
        if center.is_empty() || center.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::InvalidDomain {
                spec: format!("ball center={center:?}"),
                reason: "the centre needs at least one finite coordinate".into(),
            });
        }
        if !(radius.is_finite() && radius > 0.0) {
            return Err(CoreError::InvalidDomain {
                spec: format!("ball radius={radius}"),
                reason: "the radius must be positive and finite".into(),
            });
        }
        Ok(Self { center, radius })
    }

    /// Centre c.
    pub fn center(&self) -> &[f64] {
        &self.center
    }

    /// Radius R.
    pub fn radius(&self) -> f64 {
        self.radius
    }
}

impl Domain for Ball {
    fn dim(&self) -> usize {
        self.center.len()
    }

    #[inline]
    fn signed_distance(&self, x: &[f64]) -> f64 {
        let mut r2 = 0.0;
        for k in 0..self.center.len() {
            let t = x[k] - self.center[k];
            r2 += t * t;
        }
        r2.sqrt() - self.radius
    }

    #[inline]
    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.signed_distance(x).abs()
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        let d = self.center.len();
        for k in 0..d {
            out[k] = x[k] - self.center[k];
        }
        let r = norm(&out[..d]);
        if r == 0.0 {
            out.iter_mut().for_each(|v| *v = 0.0);
            out[0] = 1.0;
        } else {
            out.iter_mut().for_each(|v| *v /= r);
        }
        for k in 0..d {
            out[k] = self.center[k] + self.radius * out[k];
        }
    }

    fn bounds(&self) -> Aabb {
        Aabb {
            min: self.center.iter().map(|c| c - self.radius).collect(),
            max: self.center.iter().map(|c| c + self.radius).collect(),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn is_exact(&self) -> bool {
        true
    }

    fn boundary_measure(&self) -> f64 {
        // |S^{d−1}| R^{d−1} = 2 π^{d/2} / Γ(d/2) · R^{d−1}, by the recurrence in d.
        let d = self.center.len();
        let mut area = if d.is_multiple_of(2) {
            2.0 * std::f64::consts::PI
        } else {
            2.0
        };
        let mut k = if d.is_multiple_of(2) { 2 } else { 1 };
        while k < d {
            area *= 2.0 * std::f64::consts::PI / k as f64;
            k += 2;
        }
        area * self.radius.powi(d as i32 - 1)
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        let d = self.center.len();
        match d {
            1 => out[0] = if u[0] < 0.5 { -1.0 } else { 1.0 },
            2 => {
                let t = 2.0 * std::f64::consts::PI * u[0];
                out[0] = t.cos();
                out[1] = t.sin();
            }
            3 => {
                let z = 2.0 * u[0] - 1.0;
                let s = (1.0 - z * z).max(0.0).sqrt();
                let t = 2.0 * std::f64::consts::PI * u[1];
                out[0] = s * t.cos();
                out[1] = s * t.sin();
                out[2] = z;
            }
            _ => {
                for k in 0..d {
                    out[k] = inverse_normal_cdf(u[k]);
                }
                let r = norm(&out[..d]);
                if r == 0.0 {
                    return false;
                }
                out.iter_mut().for_each(|v| *v /= r);
            }
        }
        for k in 0..d {
            out[k] = self.center[k] + self.radius * out[k];
        }
        true
    }
}
