//! The C source of the Walk-on-Spheres CUDA kernel for one problem, its launch parameters and
//! the merge of its per-block statistics: everything of the GPU path that needs no GPU library.
//! It is built without the `cuda` feature so the test suite can check the generated code on any
//! machine (`tests/kernel_on_host.rs` compiles the very same source as host C++ and compares it
//! with the CPU estimator, walk for walk).
//!
//! The kernel (`kernels/wos.cu`) calls two functions the host generates for the domain:
//! `domain_distance(dom, x)` (the unsigned distance to ∂Ω) and `domain_closest(dom, x, out)`
//! (a closest boundary point), written as a C transcription of the CPU shape's own
//! [`Domain::distance_to_boundary`] and [`Domain::closest_boundary_point`], with the same order
//! of floating-point operations. The shape's numbers (corners, centres, vertices, Fourier modes)
//! go into the `dom` buffer, not into the source, so a family of shapes with the same structure
//! (e.g. WoS-NO's stars, polygons with the same vertex count) compiles once per process.
//!
//! Domains on the GPU: boxes and balls (2-D, 3-D), polygons and star domains (2-D), and CSG
//! unions, intersections and differences of those (nested freely). Triangle meshes are a
//! one-line [`WosError::Unsupported`] naming them (their CPU distance walks a BVH, which the
//! kernel does not have). Polygon and star distances scan every edge of their polyline per step
//! (the CPU uses a BVH); with thousands of edges that is slower per step than a box, never wrong.
//! Where the CPU's C transcription uses infinities it uses ±1e300 here (every distance of a
//! shape with finite coordinates is smaller).

use crate::{PointEstimate, Result, WosError, WosSolution, WosSolver, WALKS_PER_BLOCK};
use nabla_core::geometry::{Ball, BoxDomain, Csg, CsgOp, Domain, Mesh, Polygon, Star};
use std::fmt::Write;

/// The kernel source (`kernels/wos.cu`), embedded at build time.
pub const KERNEL_SOURCE: &str = include_str!("../../../kernels/wos.cu");

/// The kernel for one problem: the complete C source (the problem's `#define`s, the generated
/// domain functions, then `kernels/wos.cu`) and the domain's parameter buffer (`dom`).
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSource {
    /// C source for NVRTC (or, with `__device__` and friends defined away, a host C++ compiler).
    pub source: String,
    /// The domain's numbers, read by the generated functions at fixed offsets.
    pub domain: Vec<f64>,
}

/// The scalar arguments of one launch of `wos_kernel`, in its argument order, and the number
/// of threads (one per point and block of [`WALKS_PER_BLOCK`] walks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelLaunch {
    /// Query points.
    pub n_points: u32,
    /// Walks per point.
    pub walks: u32,
    /// Walks per thread ([`WALKS_PER_BLOCK`]).
    pub chunk: u32,
    /// Threads per point.
    pub nchunks: u32,
    /// Random seed.
    pub seed: u64,
    /// The ε shell.
    pub epsilon: f64,
    /// Step cap per walk.
    pub max_steps: u32,
    /// 1 when unfinished walks are discarded, 0 when they are projected.
    pub discard_unfinished: i32,
    /// √σ of the screened equation (0 for Laplace/Poisson).
    pub sqrt_sigma: f64,
    /// Russian-roulette weight threshold.
    pub roulette: f64,
    /// Threads of the launch: `n_points · nchunks`.
    pub threads: usize,
}

/// The kernel source for this solver's problem. Errors (one line each) for what the kernel
/// cannot run: dimensions other than 2 and 3, gradients or control variates, boundary data or
/// sources given as Rust closures rather than expressions, and domains without a GPU
/// transcription (triangle meshes).
pub fn kernel_source(solver: &WosSolver) -> Result<KernelSource> {
    let p = solver.problem();
    let d = solver.dim();
    if d != 2 && d != 3 {
        return Err(WosError::Unsupported(format!(
            "the CUDA kernel handles 2-D and 3-D domains, not {d}-D"
        )));
    }
    let opts = solver.options();
    if opts.gradient || opts.control_variates {
        return Err(WosError::Unsupported(
            "gradients and control variates run on the CPU only".into(),
        ));
    }
    let g = p.boundary().to_c_source().ok_or_else(|| {
        WosError::Unsupported(
            "the boundary data is Rust code, not an expression; the GPU needs an expression".into(),
        )
    })?;
    let f = match p.source() {
        Some(f) => Some(f.to_c_source().ok_or_else(|| {
            WosError::Unsupported(
                "the source is Rust code, not an expression; the GPU needs an expression".into(),
            )
        })?),
        None => None,
    };
    let (functions, domain) = domain_source(p.domain().as_ref())?;
    let source = format!(
        "#define WOS_DIM {d}\n#define WOS_HAS_SOURCE {}\n\
         #define WOS_G(x, y, z, r, theta) ({g})\n#define WOS_F(x, y, z, r, theta) ({})\n\
         {functions}\n{KERNEL_SOURCE}",
        u8::from(f.is_some()),
        f.as_deref().unwrap_or("0.0"),
    );
    Ok(KernelSource { source, domain })
}

/// The generated `domain_distance` / `domain_closest` functions (and one `sd_N`, `ud_N`, `cp_N`
/// triple per shape of the CSG tree) with the parameter buffer they read. Errors for shapes
/// the kernel has no transcription of.
pub fn domain_source(domain: &dyn Domain) -> Result<(String, Vec<f64>)> {
    let mut e = Emitter {
        code: String::new(),
        params: Vec::new(),
        next: 0,
        dim: domain.dim(),
    };
    let root = e.node(domain)?;
    let mut code = String::from(NEAREST_EDGE);
    code.push_str(&e.code);
    e.code = code;
    let _ = write!(
        e.code,
        "__device__ double domain_distance(const double* dom, const double* x) {{ return ud_{root}(dom, x); }}\n\
         __device__ void domain_closest(const double* dom, const double* x, double* out) {{ cp_{root}(dom, x, out); }}\n"
    );
    Ok((e.code, e.params))
}

/// The nearest point of a closed polyline (`count` vertices at `v`, x/y pairs): squared
/// distance returned, the point in `q`, its edge in `edge` — `closest_on_segment` and `dist2` of
/// the CPU shapes, edge by edge (polygons and stars both use it).
const NEAREST_EDGE: &str = r#"
__device__ double nabla_nearest_edge(const double* v, int count, const double* x, double* q, int* edge) {
    double bd2 = 1e300;
    for (int i = 0; i < count; ++i) {
        int j = (i + 1) % count;
        double ax = v[2 * i], ay = v[2 * i + 1];
        double abx = v[2 * j] - ax, aby = v[2 * j + 1] - ay;
        double l2 = abx * abx + aby * aby;
        double t = 0.0;
        if (l2 > 0.0) t = fmin(fmax(((x[0] - ax) * abx + (x[1] - ay) * aby) / l2, 0.0), 1.0);
        double qx = ax + t * abx, qy = ay + t * aby;
        double d2 = (x[0] - qx) * (x[0] - qx) + (x[1] - qy) * (x[1] - qy);
        if (d2 < bd2) { bd2 = d2; q[0] = qx; q[1] = qy; *edge = i; }
    }
    return bd2;
}
"#;

/// Writes C functions for a tree of shapes, children before parents (C needs declarations
/// before use), each shape's numbers appended to `params`.
struct Emitter {
    code: String,
    params: Vec<f64>,
    next: usize,
    dim: usize,
}

impl Emitter {
    fn node(&mut self, domain: &dyn Domain) -> Result<usize> {
        if domain.dim() != self.dim {
            return Err(WosError::Unsupported(format!(
                "a {}-D part inside a {}-D domain",
                domain.dim(),
                self.dim
            )));
        }
        let any = domain.as_any();
        if let Some(b) = any.downcast_ref::<BoxDomain>() {
            let o = self.push(b.min().iter().chain(b.max()).copied());
            Ok(self.box_node(o))
        } else if let Some(b) = any.downcast_ref::<Ball>() {
            let o = self.push(b.center().iter().copied().chain([b.radius()]));
            Ok(self.ball_node(o))
        } else if let Some(p) = any.downcast_ref::<Polygon>() {
            let v = p.vertices();
            let o = self.push(v.iter().flatten().copied());
            Ok(self.polygon_node(o, v.len()))
        } else if let Some(s) = any.downcast_ref::<Star>() {
            Ok(self.star_node(s))
        } else if let Some(c) = any.downcast_ref::<Csg>() {
            let parts = c
                .parts()
                .iter()
                .map(|p| self.node(p.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            Ok(self.csg_node(c.op(), &parts))
        } else if any.downcast_ref::<Mesh>().is_some() {
            Err(WosError::Unsupported(
                "triangle-mesh domains run on the CPU only (their distance needs a BVH the CUDA \
                 kernel does not have); drop --device"
                    .into(),
            ))
        } else {
            Err(WosError::Unsupported(format!(
                "the CUDA kernel has no transcription of this domain ({domain:?}); run it on the CPU"
            )))
        }
    }

    fn push(&mut self, values: impl IntoIterator<Item = f64>) -> usize {
        let o = self.params.len();
        self.params.extend(values);
        o
    }

    fn id(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    /// `BoxDomain::signed_distance` / `closest_boundary_point`.
    fn box_node(&mut self, o: usize) -> usize {
        let n = self.id();
        let d = self.dim;
        let _ = write!(
            self.code,
            r#"
__device__ double sd_{n}(const double* dom, const double* x) {{
    const double* lo = dom + {o}; const double* hi = dom + {o} + {d};
    double out2 = 0.0, maxq = -1e300;
    for (int k = 0; k < {d}; ++k) {{
        double q = fmax(lo[k] - x[k], x[k] - hi[k]);
        if (q > 0.0) out2 += q * q;
        maxq = fmax(maxq, q);
    }}
    return out2 > 0.0 ? sqrt(out2) : maxq;
}}
__device__ double ud_{n}(const double* dom, const double* x) {{ return fabs(sd_{n}(dom, x)); }}
__device__ void cp_{n}(const double* dom, const double* x, double* out) {{
    const double* lo = dom + {o}; const double* hi = dom + {o} + {d};
    if (sd_{n}(dom, x) > 0.0) {{
        for (int k = 0; k < {d}; ++k) out[k] = fmin(fmax(x[k], lo[k]), hi[k]);
        return;
    }}
    for (int k = 0; k < {d}; ++k) out[k] = x[k];
    double best = 1e300; int bk = 0; double bv = 0.0;
    for (int k = 0; k < {d}; ++k) {{
        double l = x[k] - lo[k], h = hi[k] - x[k];
        if (l < best) {{ best = l; bk = k; bv = lo[k]; }}
        if (h < best) {{ best = h; bk = k; bv = hi[k]; }}
    }}
    out[bk] = bv;
}}
"#
        );
        n
    }

    /// `Ball::signed_distance` / `closest_boundary_point`.
    fn ball_node(&mut self, o: usize) -> usize {
        let n = self.id();
        let d = self.dim;
        let _ = write!(
            self.code,
            r#"
__device__ double sd_{n}(const double* dom, const double* x) {{
    const double* c = dom + {o};
    double r2 = 0.0;
    for (int k = 0; k < {d}; ++k) {{ double t = x[k] - c[k]; r2 += t * t; }}
    return sqrt(r2) - c[{d}];
}}
__device__ double ud_{n}(const double* dom, const double* x) {{ return fabs(sd_{n}(dom, x)); }}
__device__ void cp_{n}(const double* dom, const double* x, double* out) {{
    const double* c = dom + {o};
    double r2 = 0.0;
    for (int k = 0; k < {d}; ++k) {{ out[k] = x[k] - c[k]; r2 += out[k] * out[k]; }}
    double r = sqrt(r2);
    for (int k = 0; k < {d}; ++k) {{
        double u = r == 0.0 ? (k == 0 ? 1.0 : 0.0) : out[k] / r;
        out[k] = c[k] + c[{d}] * u;
    }}
}}
"#
        );
        n
    }

    /// `Polygon`: the nearest of all edges (a scan; the CPU's BVH finds the same minimum) and
    /// the even–odd crossing rule for the sign.
    fn polygon_node(&mut self, o: usize, count: usize) -> usize {
        let n = self.id();
        let _ = write!(
            self.code,
            r#"
__device__ double near_{n}(const double* dom, const double* x, double* best) {{
    int edge = 0;
    return nabla_nearest_edge(dom + {o}, {count}, x, best, &edge);
}}
__device__ bool in_{n}(const double* dom, const double* x) {{
    const double* v = dom + {o};
    bool c = false;
    int j = {count} - 1;
    for (int i = 0; i < {count}; ++i) {{
        double ax = v[2 * i], ay = v[2 * i + 1], bx = v[2 * j], by = v[2 * j + 1];
        if (((ay > x[1]) != (by > x[1])) && x[0] < (bx - ax) * (x[1] - ay) / (by - ay) + ax) c = !c;
        j = i;
    }}
    return c;
}}
__device__ double ud_{n}(const double* dom, const double* x) {{ double q[2]; return sqrt(near_{n}(dom, x, q)); }}
__device__ double sd_{n}(const double* dom, const double* x) {{
    double d = ud_{n}(dom, x);
    return in_{n}(dom, x) ? -d : d;
}}
__device__ void cp_{n}(const double* dom, const double* x, double* out) {{ near_{n}(dom, x, out); }}
"#
        );
        n
    }

    /// `Star`: the nearest polyline edge, then Newton on the curve parameter, accepted inside
    /// the polyline's error band (exactly `Star::nearest`).
    fn star_node(&mut self, s: &Star) -> usize {
        let poly = s.polyline();
        let m = poly.len();
        let c = s.center();
        let o = self.push([c[0], c[1], s.base_radius(), s.polyline_error()]);
        let op = self.push(poly.iter().flatten().copied());
        let modes = s.modes();
        let om = self.push(modes.iter().flat_map(|&(k, a, b)| [f64::from(k), a, b]));
        let k = modes.len();
        let n = self.id();
        let _ = write!(
            self.code,
            r#"
__device__ void radius_{n}(const double* dom, double t, double* r, double* dr, double* d2r) {{
    const double* md = dom + {om};
    double rr = dom[{o} + 2], d1 = 0.0, d2 = 0.0;
    for (int i = 0; i < {k}; ++i) {{
        double kk = md[3 * i], a = md[3 * i + 1], b = md[3 * i + 2];
        double s = sin(kk * t), c = cos(kk * t);
        rr += a * c + b * s;
        d1 += kk * (b * c - a * s);
        d2 -= kk * kk * (a * c + b * s);
    }}
    *r = rr; *dr = d1; *d2r = d2;
}}
__device__ void point_{n}(const double* dom, double t, double* out) {{
    double r, dr, d2r;
    radius_{n}(dom, t, &r, &dr, &d2r);
    double s = sin(t), c = cos(t);
    out[0] = dom[{o}] + r * c; out[1] = dom[{o} + 1] + r * s;
}}
/* (distance, θ of the closest curve point) */
__device__ double near_{n}(const double* dom, const double* x, double* theta) {{
    const double* v = dom + {op};
    const double tau = 6.283185307179586476925286766559;
    double bq[2] = {{0.0, 0.0}}; int bi = 0;
    double dpoly = sqrt(nabla_nearest_edge(v, {m}, x, bq, &bi));
    double bqx = bq[0], bqy = bq[1];
    int bj = (bi + 1) % {m};
    double sx = v[2 * bj] - v[2 * bi], sy = v[2 * bj + 1] - v[2 * bi + 1];
    double seg = sqrt(sx * sx + sy * sy);
    double fx = bqx - v[2 * bi], fy = bqy - v[2 * bi + 1];
    double frac = seg > 0.0 ? sqrt(fx * fx + fy * fy) / seg : 0.0;
    double t = tau * ((double)bi + frac) / {m}.0;
    const double cap = tau / {m}.0;
    for (int it = 0; it < 8; ++it) {{
        double r, dr, d2r;
        radius_{n}(dom, t, &r, &dr, &d2r);
        double s = sin(t), c = cos(t);
        double g0 = dom[{o}] + r * c - x[0], g1 = dom[{o} + 1] + r * s - x[1];
        double p0 = dr * c - r * s, p1 = dr * s + r * c;
        double q0 = d2r * c - 2.0 * dr * s - r * c, q1 = d2r * s + 2.0 * dr * c - r * s;
        double h = g0 * p0 + g1 * p1;
        double hp = p0 * p0 + p1 * p1 + g0 * q0 + g1 * q1;
        if (hp <= 0.0) break;
        double step = fmin(fmax(h / hp, -cap), cap);
        t -= step;
        if (fabs(step) < 1e-15) break;
    }}
    double pt[2];
    point_{n}(dom, t, pt);
    double dn = sqrt((x[0] - pt[0]) * (x[0] - pt[0]) + (x[1] - pt[1]) * (x[1] - pt[1]));
    double band = dom[{o} + 3];
    *theta = t;
    if (fabs(dn - dpoly) <= band) return fmin(dn, dpoly + band);
    return fmax(dpoly - band, 0.0);
}}
__device__ double ud_{n}(const double* dom, const double* x) {{ double t; return near_{n}(dom, x, &t); }}
__device__ double sd_{n}(const double* dom, const double* x) {{
    double t;
    double d = near_{n}(dom, x, &t);
    double dx = x[0] - dom[{o}], dy = x[1] - dom[{o} + 1];
    double r, dr, d2r;
    radius_{n}(dom, atan2(dy, dx), &r, &dr, &d2r);
    return sqrt(dx * dx + dy * dy) < r ? -d : d;
}}
__device__ void cp_{n}(const double* dom, const double* x, double* out) {{
    double t;
    near_{n}(dom, x, &t);
    point_{n}(dom, t, out);
}}
"#
        );
        n
    }

    /// `Csg`: min/max of the parts' signed distances, and the closest point by alternating
    /// projection (exactly `Csg::closest_boundary_point`).
    fn csg_node(&mut self, op: CsgOp, parts: &[usize]) -> usize {
        let n = self.id();
        let d = self.dim;
        let mut sd = String::new();
        for (i, p) in parts.iter().enumerate() {
            let negate = op == CsgOp::Difference && i > 0;
            let better = if op == CsgOp::Union {
                "s < best"
            } else {
                "s > best"
            };
            let _ = writeln!(
                sd,
                "    {{ double s = {}sd_{p}(dom, x); if ({better}) best = s; }}",
                if negate { "-" } else { "" }
            );
        }
        let init = if op == CsgOp::Union {
            "1e300"
        } else {
            "-1e300"
        };
        let mut cp = String::new();
        for p in parts {
            let _ = writeln!(
                cp,
                "        cp_{p}(dom, from, cand);\n        consider_{n}(dom, x, from, cand, out, &found, &bestd, fb, &fbm);"
            );
        }
        let _ = write!(
            self.code,
            r#"
__device__ double sd_{n}(const double* dom, const double* x) {{
    double best = {init};
{sd}    return best;
}}
__device__ double ud_{n}(const double* dom, const double* x) {{ return fabs(sd_{n}(dom, x)); }}
__device__ void consider_{n}(const double* dom, const double* x, const double* from,
                             const double* cand, double* out, bool* found, double* bestd,
                             double* fb, double* fbm) {{
    double dist = 0.0, mv = 0.0;
    for (int k = 0; k < {d}; ++k) {{ dist += (cand[k] - x[k]) * (cand[k] - x[k]); mv += (cand[k] - from[k]) * (cand[k] - from[k]); }}
    dist = sqrt(dist);
    bool on = fabs(sd_{n}(dom, cand)) <= 1e-9 * (1.0 + dist);
    if (on && (!*found || dist < *bestd)) {{
        *found = true; *bestd = dist;
        for (int k = 0; k < {d}; ++k) out[k] = cand[k];
    }}
    double moved = -sqrt(mv);
    if (moved < *fbm) {{ *fbm = moved; for (int k = 0; k < {d}; ++k) fb[k] = cand[k]; }}
}}
__device__ void cp_{n}(const double* dom, const double* x, double* out) {{
    double from[{d}], cand[{d}], fb[{d}];
    for (int k = 0; k < {d}; ++k) from[k] = x[k];
    for (int round = 0; round < 32; ++round) {{
        bool found = false; double bestd = 0.0, fbm = 1e300;
        for (int k = 0; k < {d}; ++k) fb[k] = 0.0;
{cp}        if (found) return;
        for (int k = 0; k < {d}; ++k) {{ out[k] = fb[k]; from[k] = fb[k]; }}
    }}
}}
"#
        );
        n
    }
}

/// The launch parameters for `n_points` points of this solver. Errors when the counts do not
/// fit the kernel's 32-bit arguments.
pub fn launch_parameters(solver: &WosSolver, n_points: usize) -> Result<KernelLaunch> {
    let opts = solver.options();
    let nchunks = opts.walks.div_ceil(WALKS_PER_BLOCK);
    let threads = n_points
        .checked_mul(nchunks)
        .filter(|&t| t <= u32::MAX as usize / 2)
        .ok_or_else(|| WosError::InvalidOptions("too many points × walks for one launch".into()))?;
    let walks = u32::try_from(opts.walks)
        .map_err(|_| WosError::InvalidOptions("walks must fit in 32 bits on the GPU".into()))?;
    Ok(KernelLaunch {
        n_points: n_points as u32,
        walks,
        chunk: WALKS_PER_BLOCK as u32,
        nchunks: nchunks as u32,
        seed: opts.seed,
        epsilon: opts.epsilon,
        max_steps: u32::try_from(opts.max_steps).unwrap_or(u32::MAX),
        discard_unfinished: i32::from(opts.unfinished == crate::Unfinished::Discard),
        sqrt_sigma: solver.problem().sigma().sqrt(),
        roulette: opts.roulette_threshold,
        threads,
    })
}

/// Merges the kernel's per-thread statistics (`6 · threads` numbers: count, mean, M2, steps,
/// walks run, unfinished) into per-point estimates, blocks in order, exactly as the CPU
/// estimator merges its blocks. `points` (flat, `d` per point) names a point whose estimate is
/// not finite in the error.
pub fn merge_blocks(
    out: &[f64],
    points: &[f64],
    d: usize,
    nchunks: usize,
    seconds: f64,
) -> Result<WosSolution> {
    let n_points = points.len() / d;
    let mut estimates = Vec::with_capacity(n_points);
    let (mut total_walks, mut total_steps) = (0u64, 0u64);
    for p in 0..n_points {
        let (mut n, mut mean, mut m2, mut steps, mut run, mut unf) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for c in 0..nchunks {
            let o = &out[6 * (p * nchunks + c)..6 * (p * nchunks + c + 1)];
            let (bn, bmean, bm2) = (o[0], o[1], o[2]);
            if bn > 0.0 {
                if n == 0.0 {
                    (n, mean, m2) = (bn, bmean, bm2);
                } else {
                    let tot = n + bn;
                    let dlt = bmean - mean;
                    mean += dlt * bn / tot;
                    m2 += bm2 + dlt * dlt * n * bn / tot;
                    n = tot;
                }
            }
            steps += o[3];
            run += o[4];
            unf += o[5];
        }
        if !mean.is_finite() {
            return Err(WosError::NonFinite {
                index: p,
                point: points[p * d..(p + 1) * d].to_vec(),
            });
        }
        let var = if n > 1.0 { m2 / (n - 1.0) } else { 0.0 };
        total_walks += run as u64;
        total_steps += steps as u64;
        estimates.push(PointEstimate {
            value: mean,
            variance: var,
            stderr: if n > 0.0 { (var / n).sqrt() } else { f64::NAN },
            mean_steps: if run > 0.0 { steps / run } else { 0.0 },
            walks: n as usize,
            unfinished: unf as usize,
            gradient: None,
            gradient_stderr: None,
        });
    }
    Ok(WosSolution {
        estimates,
        total_walks,
        total_steps,
        seconds,
    })
}
