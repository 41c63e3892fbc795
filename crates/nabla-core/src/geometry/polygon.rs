//! Simple polygons in 2-D (e.g. the L-shape), with exact distances.

use super::bvh::{closest_on_segment, dist2, Bvh};
use super::{Aabb, Domain};
use crate::CoreError;

/// Polygons with more edges than this get a BVH for distance queries.
const BVH_EDGES: usize = 32;

/// A simple (non-self-intersecting) polygon in 2-D, given by its vertices in order (either
/// orientation; the last vertex connects back to the first). Exact distance: the minimum over
/// edges; the sign from the even–odd crossing rule.
#[derive(Clone)]
pub struct Polygon {
    v: Vec<[f64; 3]>,
    /// Cumulative edge lengths (for boundary sampling by arc length); `cum[i]` = length of
    /// edges 0..=i.
    cum: Vec<f64>,
    bvh: Option<Bvh>,
    bounds: Aabb,
}

impl std::fmt::Debug for Polygon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Polygon")
            .field("vertices", &self.v.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl Polygon {
    /// The polygon through `vertices` (x, y pairs). Errors for fewer than 3 vertices, non-finite
    /// coordinates, zero area, repeated consecutive vertices or crossing edges.
    pub fn new(vertices: &[[f64; 2]]) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: format!("polygon with {} vertices", vertices.len()),
            reason,
        };
        let n = vertices.len();
        if n < 3 {
            return Err(bad("a polygon needs at least 3 vertices".into()));
        }
        if vertices.iter().flatten().any(|c| !c.is_finite()) {
            return Err(bad("vertex coordinates must be finite".into()));
        }
        let v: Vec<[f64; 3]> = vertices.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let edge = |i: usize| (v[i], v[(i + 1) % n]);
        let mut area2 = 0.0;
        let mut cum = Vec::with_capacity(n);
        let mut total = 0.0;
        for i in 0..n {
            let (a, b) = edge(i);
            area2 += a[0] * b[1] - b[0] * a[1];
            let len = dist2(&a, &b).sqrt();
            if len == 0.0 {
                return Err(bad(format!("vertices {i} and {} coincide", (i + 1) % n)));
            }
            total += len;
            cum.push(total);
        }
        if area2.abs() <= 1e-14 * total * total {
            return Err(bad("the polygon has zero area".into()));
        }
        // Crossing edges (non-adjacent pairs): O(n²), fine for hand-written polygons.
        if n <= 4096 {
            for i in 0..n {
                for j in i + 2..n {
                    if i == 0 && j == n - 1 {
                        continue;
                    }
                    let (a, b) = edge(i);
                    let (c, d) = edge(j);
                    if segments_intersect(&a, &b, &c, &d) {
                        return Err(bad(format!("edges {i} and {j} cross")));
                    }
                }
            }
        }
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for p in &v {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let bvh = (n > BVH_EDGES).then(|| {
            let boxes: Vec<_> = (0..n)
                .map(|i| {
                    let (a, b) = edge(i);
                    (
                        [a[0].min(b[0]), a[1].min(b[1]), 0.0],
                        [a[0].max(b[0]), a[1].max(b[1]), 0.0],
                    )
                })
                .collect();
            Bvh::build(&boxes)
        });
        Ok(Self {
            v,
            cum,
            bvh,
            bounds: Aabb {
                min: lo.to_vec(),
                max: hi.to_vec(),
            },
        })
    }

    /// The vertices, in order.
    pub fn vertices(&self) -> Vec<[f64; 2]> {
        self.v.iter().map(|p| [p[0], p[1]]).collect()
    }

    /// (squared distance, closest point) over all edges.
    fn nearest(&self, x: &[f64]) -> (f64, [f64; 3]) {
        let p = [x[0], x[1], 0.0];
        let n = self.v.len();
        let on = |i: u32| {
            let i = i as usize;
            closest_on_segment(&p, &self.v[i], &self.v[(i + 1) % n])
        };
        let (d2, i) = match &self.bvh {
            Some(b) => b.nearest(&p, |i| dist2(&p, &on(i))),
            None => (0..n as u32)
                .map(|i| (dist2(&p, &on(i)), i))
                .fold((f64::INFINITY, 0), |a, b| if b.0 < a.0 { b } else { a }),
        };
        (d2, on(i))
    }

    fn inside(&self, x: &[f64]) -> bool {
        let n = self.v.len();
        let mut c = false;
        let (px, py) = (x[0], x[1]);
        let mut j = n - 1;
        for i in 0..n {
            let (a, b) = (&self.v[i], &self.v[j]);
            if (a[1] > py) != (b[1] > py) && px < (b[0] - a[0]) * (py - a[1]) / (b[1] - a[1]) + a[0]
            {
                c = !c;
            }
            j = i;
        }
        c
    }
}

fn orient(a: &[f64; 3], b: &[f64; 3], c: &[f64; 3]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn segments_intersect(a: &[f64; 3], b: &[f64; 3], c: &[f64; 3], d: &[f64; 3]) -> bool {
    let (o1, o2) = (orient(a, b, c), orient(a, b, d));
    let (o3, o4) = (orient(c, d, a), orient(c, d, b));
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    // Touching: a vertex of one segment on the other.
    let on = |p: &[f64; 3], q: &[f64; 3], r: &[f64; 3], o: f64| {
        o == 0.0
            && r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    };
    on(a, b, c, o1) || on(a, b, d, o2) || on(c, d, a, o3) || on(c, d, b, o4)
}

impl Domain for Polygon {
    fn dim(&self) -> usize {
        2
    }

    fn signed_distance(&self, x: &[f64]) -> f64 {
        let d = self.distance_to_boundary(x);
        if self.inside(x) {
            -d
        } else {
            d
        }
    }

    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.nearest(x).0.sqrt()
    }

    fn contains(&self, x: &[f64]) -> bool {
        self.inside(x) && self.nearest(x).0 > 0.0
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        let (_, p) = self.nearest(x);
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
        *self.cum.last().unwrap_or(&0.0)
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        let total = *self.cum.last().unwrap_or(&0.0);
        let s = u[0] * total;
        let i = self
            .cum
            .partition_point(|&c| c <= s)
            .min(self.cum.len() - 1);
        let start = if i == 0 { 0.0 } else { self.cum[i - 1] };
        let len = self.cum[i] - start;
        let t = ((s - start) / len).clamp(0.0, 1.0);
        let (a, b) = (self.v[i], self.v[(i + 1) % self.v.len()]);
        out[0] = a[0] + t * (b[0] - a[0]);
        out[1] = a[1] + t * (b[1] - a[1]);
        true
    }
}
