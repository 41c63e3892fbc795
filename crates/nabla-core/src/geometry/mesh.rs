//! Closed triangle meshes in 3-D, read from Wavefront `.obj`, with a BVH for distance queries.

use super::bvh::{closest_on_triangle, cross, dist2, dot, sub, Bvh};
use super::{Aabb, Domain};
use crate::CoreError;
use std::collections::HashMap;
use std::path::Path;

/// Whether `meta` is a regular file or (on Unix) a pipe: what can be read to its end.
fn is_file_or_pipe(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_fifo() {
            return true;
        }
    }
    meta.is_file()
}

/// The region enclosed by a closed (watertight) triangle mesh in 3-D.
///
/// Distance is exact: the nearest triangle, found with a BVH in O(log n). The inside test casts
/// three rays and takes the majority of their crossing parities, which is robust to a ray that
/// grazes an edge. Every edge must be shared by exactly two triangles (checked on load).
#[derive(Clone)]
pub struct Mesh {
    v: Vec<[f64; 3]>,
    tri: Vec<[u32; 3]>,
    bvh: Bvh,
    /// Cumulative triangle areas (for boundary sampling).
    cum_area: Vec<f64>,
    bounds: Aabb,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("vertices", &self.v.len())
            .field("triangles", &self.tri.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl Mesh {
    /// Reads a Wavefront `.obj` file: `v x y z` vertex lines and `f a b c ...` faces (1-based
    /// or negative indices, `a/t/n` forms accepted; polygons are split into fans). Everything
    /// else (normals, texture coordinates, groups, materials) is ignored.
    ///
    /// A directory or a device (such as `/dev/zero`, which would be read forever) is refused;
    /// regular files and pipes are read.
    pub fn from_obj(path: &Path) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: format!("mesh:{}", path.display()),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if !is_file_or_pipe(&meta) {
            return Err(bad(
                "not a regular file or a pipe (a mesh must be an .obj file)".into(),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse_obj(&text).map_err(|e| match e {
            CoreError::InvalidDomain { reason, .. } => CoreError::InvalidDomain {
                spec: format!("mesh:{}", path.display()),
                reason,
            },
            other => other,
        })
    }

    /// Parses `.obj` text (see [`Mesh::from_obj`]).
    pub fn parse_obj(text: &str) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: "mesh".into(),
            reason,
        };
        let mut v: Vec<[f64; 3]> = Vec::new();
        let mut tri: Vec<[u32; 3]> = Vec::new();
        for (ln, line) in text.lines().enumerate() {
            let mut it = line.split_whitespace();
            match it.next() {
                Some("v") => {
                    let c: Vec<f64> = it
                        .take(3)
                        .map(|s| s.parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad(format!("line {}: bad vertex '{line}'", ln + 1)))?;
                    if c.len() != 3 || c.iter().any(|a| !a.is_finite()) {
                        return Err(bad(format!(
                            "line {}: a vertex needs 3 finite coordinates",
                            ln + 1
                        )));
                    }
                    v.push([c[0], c[1], c[2]]);
                }
                Some("f") => {
                    let mut idx = Vec::new();
                    for tok in it {
                        let first = tok.split('/').next().unwrap_or("");
                        let i: i64 = first
                            .parse()
                            .map_err(|_| bad(format!("line {}: bad face index '{tok}'", ln + 1)))?;
                        let n = v.len() as i64;
                        let i = if i < 0 { n + i } else { i - 1 };
                        if i < 0 || i >= n {
                            return Err(bad(format!(
                                "line {}: face index {first} out of range (1..={n})",
                                ln + 1
                            )));
                        }
                        idx.push(i as u32);
                    }
                    if idx.len() < 3 {
                        return Err(bad(format!("line {}: a face needs 3 vertices", ln + 1)));
                    }
                    for k in 1..idx.len() - 1 {
                        tri.push([idx[0], idx[k], idx[k + 1]]);
                    }
                }
                _ => {}
            }
        }
        Self::new(v, tri)
    }

    /// A mesh from vertices and triangles (vertex indices, 0-based). Errors when it is empty,
    /// an index is out of range, a triangle is degenerate or the mesh is not closed.
    pub fn new(v: Vec<[f64; 3]>, tri: Vec<[u32; 3]>) -> Result<Self, CoreError> {
        let bad = |reason: String| CoreError::InvalidDomain {
            spec: "mesh".into(),
            reason,
        };
        if tri.is_empty() {
            return Err(bad("the mesh has no faces".into()));
        }
        if let Some(t) = tri
            .iter()
            .find(|t| t.iter().any(|&i| i as usize >= v.len()))
        {
            return Err(bad(format!(
                "triangle {t:?} indexes past {} vertices",
                v.len()
            )));
        }
        let mut edges: HashMap<(u32, u32), u32> = HashMap::new();
        let mut cum_area = Vec::with_capacity(tri.len());
        let mut total = 0.0;
        for (n, t) in tri.iter().enumerate() {
            let (a, b, c) = (v[t[0] as usize], v[t[1] as usize], v[t[2] as usize]);
            let area = 0.5
                * dot(
                    &cross(&sub(&b, &a), &sub(&c, &a)),
                    &cross(&sub(&b, &a), &sub(&c, &a)),
                )
                .sqrt();
            if !(area > 0.0 && area.is_finite()) {
                let why = if area.is_finite() {
                    "has zero area"
                } else {
                    "has an area that overflows (coordinates too large)"
                };
                return Err(bad(format!(
                    "triangle {} (vertices {}, {}, {}) {why}",
                    n + 1,
                    t[0] + 1,
                    t[1] + 1,
                    t[2] + 1
                )));
            }
            total += area;
            cum_area.push(total);
            for k in 0..3 {
                let (i, j) = (t[k], t[(k + 1) % 3]);
                *edges.entry((i.min(j), i.max(j))).or_insert(0) += 1;
            }
        }
        if let Some((e, n)) = edges.iter().find(|(_, &n)| n != 2) {
            return Err(bad(format!(
                "the mesh is not closed: edge {}-{} belongs to {n} triangle(s), not 2",
                e.0 + 1,
                e.1 + 1
            )));
        }
        let boxes: Vec<_> = tri
            .iter()
            .map(|t| {
                let mut lo = [f64::INFINITY; 3];
                let mut hi = [f64::NEG_INFINITY; 3];
                for &i in t {
                    for k in 0..3 {
                        lo[k] = lo[k].min(v[i as usize][k]);
                        hi[k] = hi[k].max(v[i as usize][k]);
                    }
                }
                (lo, hi)
            })
            .collect();
        let bvh = Bvh::build(&boxes);
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for b in &boxes {
            for k in 0..3 {
                lo[k] = lo[k].min(b.0[k]);
                hi[k] = hi[k].max(b.1[k]);
            }
        }
        Ok(Self {
            v,
            tri,
            bvh,
            cum_area,
            bounds: Aabb {
                min: lo.to_vec(),
                max: hi.to_vec(),
            },
        })
    }

    /// Number of triangles.
    pub fn triangles(&self) -> usize {
        self.tri.len()
    }

    fn corners(&self, i: u32) -> ([f64; 3], [f64; 3], [f64; 3]) {
        let t = self.tri[i as usize];
        (
            self.v[t[0] as usize],
            self.v[t[1] as usize],
            self.v[t[2] as usize],
        )
    }

    fn nearest(&self, x: &[f64]) -> (f64, [f64; 3]) {
        let p = [x[0], x[1], x[2]];
        let on = |i: u32| {
            let (a, b, c) = self.corners(i);
            closest_on_triangle(&p, &a, &b, &c)
        };
        let (d2, i) = self.bvh.nearest(&p, |i| dist2(&p, &on(i)));
        (d2, on(i))
    }

    /// Number of triangles the ray from `o` along `dir` crosses (Möller–Trumbore).
    fn crossings(&self, o: &[f64; 3], dir: &[f64; 3]) -> usize {
        let mut n = 0;
        self.bvh.ray(o, dir, |i| {
            let (a, b, c) = self.corners(i);
            let e1 = sub(&b, &a);
            let e2 = sub(&c, &a);
            let pv = cross(dir, &e2);
            let det = dot(&e1, &pv);
            if det.abs() < 1e-300 {
                return;
            }
            let inv = 1.0 / det;
            let tv = sub(o, &a);
            let u = dot(&tv, &pv) * inv;
            if !(0.0..=1.0).contains(&u) {
                return;
            }
            let qv = cross(&tv, &e1);
            let w = dot(dir, &qv) * inv;
            if w < 0.0 || u + w > 1.0 {
                return;
            }
            if dot(&e2, &qv) * inv > 0.0 {
                n += 1;
            }
        });
        n
    }
}

/// Three ray directions in general position (no axis alignment, irrational-looking slopes).
const RAYS: [[f64; 3]; 3] = [
    [0.577_215_664_9, 0.312_345_678_9, 0.754_877_666_2],
    [-0.412_310_562_6, 0.866_025_403_8, 0.282_842_712_5],
    [0.223_606_797_7, -0.713_221_788_4, -0.664_285_414_2],
];

impl Domain for Mesh {
    fn dim(&self) -> usize {
        3
    }

    fn signed_distance(&self, x: &[f64]) -> f64 {
        let d = self.distance_to_boundary(x);
        if self.contains(x) {
            -d
        } else {
            d
        }
    }

    fn distance_to_boundary(&self, x: &[f64]) -> f64 {
        self.nearest(x).0.sqrt()
    }

    fn contains(&self, x: &[f64]) -> bool {
        let o = [x[0], x[1], x[2]];
        let odd = RAYS
            .iter()
            .filter(|d| self.crossings(&o, d) % 2 == 1)
            .count();
        odd >= 2
    }

    fn closest_boundary_point(&self, x: &[f64], out: &mut [f64]) {
        let (_, p) = self.nearest(x);
        out[..3].copy_from_slice(&p);
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
        *self.cum_area.last().unwrap_or(&0.0)
    }

    fn boundary_point_from_unit(&self, u: &[f64], out: &mut [f64]) -> bool {
        let total = self.boundary_measure();
        let s = u[0] * total;
        let i = self
            .cum_area
            .partition_point(|&c| c <= s)
            .min(self.tri.len() - 1);
        let (a, b, c) = self.corners(i as u32);
        // Uniform on the triangle: √u₁ trick.
        let r1 = u[1].sqrt();
        let (wa, wb, wc) = (1.0 - r1, r1 * (1.0 - u[2]), r1 * u[2]);
        for k in 0..3 {
            out[k] = wa * a[k] + wb * b[k] + wc * c[k];
        }
        true
    }
}
