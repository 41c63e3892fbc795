//! A bounding-volume hierarchy over primitives in 3-D (2-D primitives use z = 0): median split
//! on the longest axis of the centroids, leaves of up to [`LEAF`] primitives. Queries: nearest
//! primitive to a point (branch and bound on box distance) and the primitives whose boxes a
//! ray crosses.

/// Largest leaf.
const LEAF: usize = 4;

#[derive(Clone, Debug)]
struct Node {
    min: [f64; 3],
    max: [f64; 3],
    /// Leaf: first index into `order`; inner: index of the left child (right = left + 1).
    first: u32,
    /// Leaf: number of primitives (> 0); inner: 0.
    count: u32,
}

/// The hierarchy: nodes (root first) and the primitive order the leaves index into.
#[derive(Clone, Debug)]
pub(crate) struct Bvh {
    nodes: Vec<Node>,
    order: Vec<u32>,
}

type Bounds = ([f64; 3], [f64; 3]);

fn enclose(boxes: &[Bounds], ids: &[u32]) -> Bounds {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for &i in ids {
        let (a, b) = &boxes[i as usize];
        for k in 0..3 {
            lo[k] = lo[k].min(a[k]);
            hi[k] = hi[k].max(b[k]);
        }
    }
    (lo, hi)
}

/// Squared distance from `p` to the box (0 inside).
#[inline]
fn box_dist2(n: &Node, p: &[f64; 3]) -> f64 {
    let mut s = 0.0;
    for k in 0..3 {
        let t = (n.min[k] - p[k]).max(p[k] - n.max[k]).max(0.0);
        s += t * t;
    }
    s
}

impl Bvh {
    /// Builds the hierarchy over primitives with these bounding boxes.
    pub(crate) fn build(boxes: &[Bounds]) -> Self {
        let mut order: Vec<u32> = (0..boxes.len() as u32).collect();
        let mut nodes = Vec::with_capacity(2 * boxes.len() / LEAF + 1);
        let (lo, hi) = enclose(boxes, &order);
        nodes.push(Node {
            min: lo,
            max: hi,
            first: 0,
            count: boxes.len() as u32,
        });
        // Split nodes breadth-first with an explicit stack of (node, start, end).
        let mut stack = vec![(0usize, 0usize, boxes.len())];
        while let Some((ni, start, end)) = stack.pop() {
            if end - start <= LEAF {
                continue;
            }
            let ids = &mut order[start..end];
            let centroid =
                |i: u32, k: usize| 0.5 * (boxes[i as usize].0[k] + boxes[i as usize].1[k]);
            let mut clo = [f64::INFINITY; 3];
            let mut chi = [f64::NEG_INFINITY; 3];
            for &i in ids.iter() {
                for k in 0..3 {
                    clo[k] = clo[k].min(centroid(i, k));
                    chi[k] = chi[k].max(centroid(i, k));
                }
            }
            let axis = (0..3)
                .max_by(|&a, &b| (chi[a] - clo[a]).total_cmp(&(chi[b] - clo[b])))
                .unwrap_or(0);
            let mid = ids.len() / 2;
            ids.select_nth_unstable_by(mid, |&a, &b| {
                centroid(a, axis).total_cmp(&centroid(b, axis))
            });
            let left = nodes.len();
            for (s, e) in [(start, start + mid), (start + mid, end)] {
                let (lo, hi) = enclose(boxes, &order[s..e]);
                nodes.push(Node {
                    min: lo,
                    max: hi,
                    first: s as u32,
                    count: (e - s) as u32,
                });
                stack.push((nodes.len() - 1, s, e));
            }
            nodes[ni].first = left as u32;
            nodes[ni].count = 0;
        }
        Self { nodes, order }
    }

    /// The primitive nearest to `p`: `dist2(i, p)` is the squared distance from `p` to
    /// primitive `i`. Returns (squared distance, primitive index).
    pub(crate) fn nearest(&self, p: &[f64; 3], dist2: impl Fn(u32) -> f64) -> (f64, u32) {
        let mut best = (f64::INFINITY, 0u32);
        if self.nodes.is_empty() || self.order.is_empty() {
            return best;
        }
        let mut stack: [u32; 64] = [0; 64];
        let mut sp = 1usize;
        while sp > 0 {
            sp -= 1;
            let n = &self.nodes[stack[sp] as usize];
            if box_dist2(n, p) >= best.0 {
                continue;
            }
            if n.count > 0 {
                for &i in &self.order[n.first as usize..(n.first + n.count) as usize] {
                    let d2 = dist2(i);
                    if d2 < best.0 {
                        best = (d2, i);
                    }
                }
            } else {
                let (l, r) = (n.first, n.first + 1);
                let dl = box_dist2(&self.nodes[l as usize], p);
                let dr = box_dist2(&self.nodes[r as usize], p);
                // Push the farther child first so the nearer one is searched first.
                let (far, near) = if dl <= dr { (r, l) } else { (l, r) };
                if sp + 2 <= stack.len() {
                    stack[sp] = far;
                    stack[sp + 1] = near;
                    sp += 2;
                }
            }
        }
        best
    }

    /// Calls `visit(i)` for every primitive whose leaf box the ray `o + t·dir` (t ≥ 0) crosses.
    pub(crate) fn ray(&self, o: &[f64; 3], dir: &[f64; 3], mut visit: impl FnMut(u32)) {
        if self.nodes.is_empty() || self.order.is_empty() {
            return;
        }
        let inv = [1.0 / dir[0], 1.0 / dir[1], 1.0 / dir[2]];
        let hits = |n: &Node| {
            let mut t0 = 0.0f64;
            let mut t1 = f64::INFINITY;
            for k in 0..3 {
                let a = (n.min[k] - o[k]) * inv[k];
                let b = (n.max[k] - o[k]) * inv[k];
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                t0 = t0.max(a);
                t1 = t1.min(b);
            }
            t0 <= t1
        };
        let mut stack = vec![0u32];
        while let Some(ni) = stack.pop() {
            let n = &self.nodes[ni as usize];
            if !hits(n) {
                continue;
            }
            if n.count > 0 {
                for &i in &self.order[n.first as usize..(n.first + n.count) as usize] {
                    visit(i);
                }
            } else {
                stack.push(n.first);
                stack.push(n.first + 1);
            }
        }
    }
}

/// Closest point to `p` on segment `a`–`b` (3-D).
#[inline]
pub(crate) fn closest_on_segment(p: &[f64; 3], a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    let ab = sub(b, a);
    let l2 = dot(&ab, &ab);
    let t = if l2 > 0.0 {
        (dot(&sub(p, a), &ab) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    [a[0] + t * ab[0], a[1] + t * ab[1], a[2] + t * ab[2]]
}

/// Closest point to `p` on triangle `a b c` (Ericson, Real-Time Collision Detection §5.1.5).
pub(crate) fn closest_on_triangle(
    p: &[f64; 3],
    a: &[f64; 3],
    b: &[f64; 3],
    c: &[f64; 3],
) -> [f64; 3] {
    let ab = sub(b, a);
    let ac = sub(c, a);
    let ap = sub(p, a);
    let d1 = dot(&ab, &ap);
    let d2 = dot(&ac, &ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return *a;
    }
    let bp = sub(p, b);
    let d3 = dot(&ab, &bp);
    let d4 = dot(&ac, &bp);
    if d3 >= 0.0 && d4 <= d3 {
        return *b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return add_scaled(a, &ab, v);
    }
    let cp = sub(p, c);
    let d5 = dot(&ab, &cp);
    let d6 = dot(&ac, &cp);
    if d6 >= 0.0 && d5 <= d6 {
        return *c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return add_scaled(a, &ac, w);
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        return add_scaled(b, &sub(c, b), w);
    }
    let denom = 1.0 / (va + vb + vc);
    let v = vb * denom;
    let w = vc * denom;
    [
        a[0] + ab[0] * v + ac[0] * w,
        a[1] + ab[1] * v + ac[1] * w,
        a[2] + ab[2] * v + ac[2] * w,
    ]
}

#[inline]
pub(crate) fn sub(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
pub(crate) fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub(crate) fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
fn add_scaled(a: &[f64; 3], v: &[f64; 3], t: f64) -> [f64; 3] {
    [a[0] + t * v[0], a[1] + t * v[1], a[2] + t * v[2]]
}

#[inline]
pub(crate) fn dist2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let d = sub(a, b);
    dot(&d, &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_matches_brute_force() {
        // Segments on a circle of 1000 pieces.
        let n = 1000;
        let pts: Vec<[f64; 3]> = (0..n)
            .map(|i| {
                let t = i as f64 / n as f64 * std::f64::consts::TAU;
                [t.cos(), (2.0 * t).sin() * 0.5 + t.sin(), 0.0]
            })
            .collect();
        let seg = |i: u32| (pts[i as usize], pts[(i as usize + 1) % n]);
        let boxes: Vec<Bounds> = (0..n as u32)
            .map(|i| {
                let (a, b) = seg(i);
                (
                    [a[0].min(b[0]), a[1].min(b[1]), 0.0],
                    [a[0].max(b[0]), a[1].max(b[1]), 0.0],
                )
            })
            .collect();
        let bvh = Bvh::build(&boxes);
        for q in 0..50 {
            let p = [
                (q as f64 * 0.37).sin() * 1.3,
                (q as f64 * 0.91).cos() * 1.2,
                0.0,
            ];
            let d2 = |i: u32| {
                let (a, b) = seg(i);
                dist2(&p, &closest_on_segment(&p, &a, &b))
            };
            let brute = (0..n as u32).map(d2).fold(f64::INFINITY, f64::min);
            let (fast, _) = bvh.nearest(&p, d2);
            assert_eq!(brute, fast);
        }
    }

    #[test]
    fn triangle_closest_points() {
        let (a, b, c) = ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]);
        let q = closest_on_triangle(&[0.2, 0.2, 1.0], &a, &b, &c);
        assert!(dist2(&q, &[0.2, 0.2, 0.0]) < 1e-30);
        assert_eq!(closest_on_triangle(&[-1.0, -1.0, 0.0], &a, &b, &c), a);
        assert_eq!(
            closest_on_triangle(&[1.0, 1.0, 0.0], &a, &b, &c),
            [0.5, 0.5, 0.0]
        );
    }
}
