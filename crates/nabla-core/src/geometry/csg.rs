//! Constructive solid geometry: union, intersection and difference of domains.

use super::{Aabb, Domain};
use crate::CoreError;
use std::sync::Arc;

/// A CSG operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsgOp {
    /// A ∪ B ∪ …: signed distance min(φ_A, φ_B, …).
    Union,
    /// A ∩ B ∩ …: max(φ_A, φ_B, …).
    Intersection,
    /// A \ (B ∪ C ∪ …): max(φ_A, −φ_B, −φ_C, …).
    Difference,
}

/// A CSG combination of two or more domains of the same dimension.
///
/// The min/max signed distance is exact outside a union and inside an intersection, and
/// conservative elsewhere (|φ| ≤ true distance), which is what Walk-on-Spheres needs. Operands
/// of a union should overlap, not merely touch: on a face shared by two touching boxes the
/// conservative distance is 0 although the point is interior.
#[derive(Clone, Debug)]
pub struct Csg {
    op: CsgOp,
    parts: Vec<Arc<dyn Domain>>,
}

impl Csg {
    /// Combines `parts` (at least two, all of one dimension) with `op`; for
    /// [`CsgOp::Difference`] the first part minus all the others.
    pub fn new(op: CsgOp, parts: Vec<Arc<dyn Domain>>) -> Result<Self, CoreError> {
        if parts.len() < 2 {
            return Err(CoreError::InvalidDomain {
                spec: format!("{op:?}"),
                reason: "CSG needs at least two domains".into(),
            });
        }
        let d = parts[0].dim();
        if let Some(p) = parts.iter().find(|p| p.dim() != d) {
            return Err(CoreError::InvalidDomain {
                spec: format!("{op:?}"),
                reason: format!(
                    "domains of dimension {d} and {} cannot be combined",
                    p.dim()
                ),
            });
        }
        Ok(Self { op, parts })
    }

    /// The operation.
    pub fn op(&self) -> CsgOp {
        self.op
    }

    /// The combined domains.
    pub fn parts(&self) -> &[Arc<dyn Domain>] {
        &self.parts
    }

    /// (combined signed distance, index of the part that gives it).
    fn eval(&self, x: &[f64]) -> (f64, usize) {
        let mut best = (
            if self.op == CsgOp::Union {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            },
            0,
        );
        for (i, p) in self.parts.iter().enumerate() {
            let s = p.signed_distance(x);
            let s = if self.op == CsgOp::Difference && i > 0 {
                -s
            } else {
                s
            };
            let better = match self.op {
                CsgOp::Union => s < best.0,
                _ => s > best.0,
            };
            if better {
                best = (s, i);
            }
        }
        best
    }
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        .sqrt()
}

fn dist_to(a: &[f64], b: &[f64]) -> f64 {
    dist(a, b)
}

impl Domain for Csg {
    fn dim(&self) -> usize {
        self.parts[0].dim()
    }

    fn signed_distance(&self, x: &[f64]) -> f64 {
        self.eval(x).0
    }

    fn contains(&self, x: &[f64]) -> bool {
        match self.op {
            CsgOp::Union => self.parts.iter().any(|p| p.contains(x)),
            CsgOp::Intersection => self.parts.iter().all(|p| p.contains(x)),
            CsgOp::Difference => {
                self.parts[0].contains(x)
                    && self.parts[1..]
                        .iter()
                        .all(|p| !p.contains(x) && p.signed_distance(x) > 0.0)
            }
        }
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        // The parts' closest points to x; prefer those on the combined boundary, the nearest
        // first. If none is (x deep in an overlap, where a part's boundary point lies inside
        // another part), project alternately onto the parts from the current candidate until a
        // point of the combined boundary is reached.
        let d = self.dim();
        let mut cand = vec![0.0; d];
        let mut from = x.to_vec();
        for _round in 0..32 {
            let mut best: Option<(bool, f64)> = None;
            let mut fallback = (f64::INFINITY, vec![0.0; d]);
            for p in &self.parts {
                p.closest_boundary_point(&from, &mut cand);
                let dist = dist(&cand, x);
                let on = self.signed_distance(&cand).abs() <= 1e-9 * (1.0 + dist);
                if on && best.is_none_or(|b| dist < b.1) {
                    best = Some((true, dist));
                    out[..d].copy_from_slice(&cand);
                }
                // Next round starts from the candidate that moved farthest from `from`
                // (it left the overlap the most).
                let moved = -dist_to(&cand, &from);
                if moved < fallback.0 {
                    fallback = (moved, cand.clone());
                }
            }
            if best.is_some() {
                return;
            }
            out[..d].copy_from_slice(&fallback.1);
            from = fallback.1;
        }
    }

    fn bounds(&self) -> Aabb {
        match self.op {
            CsgOp::Union => self
                .parts
                .iter()
                .skip(1)
                .fold(self.parts[0].bounds(), |a, p| a.union(&p.bounds())),
            CsgOp::Intersection => {
                let mut b = self.parts[0].bounds();
                for p in &self.parts[1..] {
                    let q = p.bounds();
                    for k in 0..b.dim() {
                        b.min[k] = b.min[k].max(q.min[k]);
                        b.max[k] = b.max[k].min(q.max[k]).max(b.min[k]);
                    }
                }
                b
            }
            CsgOp::Difference => self.parts[0].bounds(),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn is_exact(&self) -> bool {
        false
    }

    /// The sum of the parts' boundary measures (an upper bound of the combination's).
    fn boundary_measure(&self) -> f64 {
        self.parts.iter().map(|p| p.boundary_measure()).sum()
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        // Pick part i with probability ∝ its boundary measure (u[0], rescaled and reused), then
        // keep the point only if it lies on the combined boundary: uniform by surface measure.
        let total = self.boundary_measure();
        let mut t = u[0] * total;
        let mut i = self.parts.len() - 1;
        for (j, p) in self.parts.iter().enumerate() {
            let m = p.boundary_measure();
            if t < m {
                i = j;
                break;
            }
            t -= m;
        }
        let mut v = u.to_vec();
        v[0] = (t / self.parts[i].boundary_measure()).clamp(0.0, 1.0 - 1e-16);
        if !self.parts[i].boundary_point_from_unit(&v, out) {
            return false;
        }
        let x = out.to_vec();
        let tol = 1e-9 * (1.0 + x.iter().map(|a| a.abs()).fold(0.0, f64::max));
        match self.op {
            CsgOp::Union => self
                .parts
                .iter()
                .enumerate()
                .all(|(j, p)| j == i || p.signed_distance(&x) >= -tol),
            CsgOp::Intersection => self
                .parts
                .iter()
                .enumerate()
                .all(|(j, p)| j == i || p.signed_distance(&x) <= tol),
            CsgOp::Difference => {
                if i == 0 {
                    self.parts[1..]
                        .iter()
                        .all(|p| p.signed_distance(&x) >= -tol)
                } else {
                    self.parts[0].signed_distance(&x) <= tol
                        && self
                            .parts
                            .iter()
                            .enumerate()
                            .skip(1)
                            .all(|(j, p)| j == i || p.signed_distance(&x) >= -tol)
                }
            }
        }
    }
}
