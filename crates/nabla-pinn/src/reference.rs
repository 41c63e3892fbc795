//! Exact and reference solutions that the PINN configurations are scored against.
//!
//! * **Viscous Burgers** (the classic PINN benchmark, Raissi et al. 2019):
//!   u_t + u u_x = ν u_xx on x ∈ [−1, 1], t ≥ 0, u(x, 0) = −sin(πx), u(±1, t) = 0, solved
//!   exactly by the Cole–Hopf transform and evaluated by quadrature to ~1e-14 absolute
//!   ([`burgers_cole_hopf`], [`burgers_reference_grid`], [`burgers_reference_points`]).
//! * **High-dimensional Poisson, "two-body interaction"** manufactured solution of the SDGD paper
//!   (Hu, Shukla, Karniadakis & Kawaguchi 2024) on the unit ball of R^d, with its exact gradient,
//!   Laplacian and source, each O(d) per point ([`TwoBody`]).
//!
//! All functions take plain `f64` values or flat slices; batch helpers run in parallel with
//! rayon and return their results in input order.
//!
//! # Burgers: the Cole–Hopf formula and how it is evaluated
//! With ν > 0, u = −2ν θ_x / θ turns Burgers into the heat equation θ_t = ν θ_xx, with
//! θ(y, 0) = f(y) = exp(−cos(πy)/(2πν)) (the 2-periodic extension of −sin(πx) is smooth and odd
//! about x = ±1, so the Dirichlet zeros hold automatically). Hence
//!
//! u(x, t) = −∫ sin(π(x−η)) f(x−η) G(η, t) dη / ∫ f(x−η) G(η, t) dη,  G = exp(−η²/(4νt)).
//!
//! After η = √(4νt)·z both integrals are ∫ g(z) exp(E(z)) dz with
//! E(z) = −a cos(π(x − sz)) − z², a = 1/(2πν), s = √(4νt). E is shifted by its running maximum
//! before exponentiating (streaming log-sum-exp), so a = 50 (ν = 0.01/π) or far larger never
//! overflows. The default rule ([`burgers_cole_hopf`]) is a composite 16-point Gauss–Legendre
//! rule on the window where E is within 45 of its maximum: |z|² ≤ a(1 + cos πx) + 45. The panel
//! width follows from the curvature bound |E''| ≤ 2πt + 2 (a π² s² = 2πt, whatever ν), so the
//! rule resolves the sharp peaks of f that make the shock, for any ν and t. Gauss–Hermite
//! quadrature ([`GaussHermite`], [`burgers_cole_hopf_gauss_hermite`]) is provided as an
//! independent cross-check. It converges fast for ν = 0.01/π, t ≤ 1 (max |u_n − u_2n| over
//! [−1, 1] × [0, 1], shock included: 5e-7 for n = 48, 2e-10 for n = 64, 1e-13 for n = 80, 3e-15
//! for n ≥ 96), but the order it needs grows like 1/ν and with t (the integrand's peaks sit near
//! |z| ≈ 1/√(4νt) and it oscillates ~√t times), so it is not the default; the composite rule
//! agrees with it to 3e-15 there.

use rayon::prelude::*;
use std::f64::consts::PI;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Quadrature rules
// ---------------------------------------------------------------------------------------------

/// Number of Gauss–Legendre nodes per panel of the default Burgers rule.
const GL_ORDER: usize = 16;
/// Panel width, in units of the narrowest possible peak width 1/√(2πt + 2 + (πs)²).
const PANEL_WIDTH: f64 = 4.0;
/// The quadrature window keeps every z where E(z) ≥ max E − `WINDOW` (e^−45 ≈ 3e-20).
const WINDOW: f64 = 45.0;

/// Gauss–Legendre nodes and weights on [−1, 1] by Newton's method on the Legendre recurrence;
/// the node set is exactly symmetric.
fn gauss_legendre(m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; m];
    let mut w = vec![0.0; m];
    for i in 0..m.div_ceil(2) {
        // Tricomi's initial guess, then Newton to machine precision.
        let mut z = (PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p0) = (1.0, 0.0);
            for j in 0..m {
                let p_prev = p0;
                p0 = p1;
                p1 = ((2 * j + 1) as f64 * z * p0 - j as f64 * p_prev) / (j + 1) as f64;
            }
            dp = m as f64 * (z * p1 - p0) / (z * z - 1.0);
            let dz = p1 / dp;
            z -= dz;
            if dz.abs() <= 1e-16 {
                break;
            }
        }
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        x[i] = -z;
        x[m - 1 - i] = z;
        w[i] = wi;
        w[m - 1 - i] = wi;
    }
    if m % 2 == 1 {
        x[m / 2] = 0.0;
    }
    (x, w)
}

/// Nodes and log-weights of the Gauss–Legendre rule of the default Burgers quadrature,
/// computed once.
fn gl_rule() -> &'static (Vec<f64>, Vec<f64>) {
    static RULE: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    RULE.get_or_init(|| {
        let (x, w) = gauss_legendre(GL_ORDER);
        (x, w.iter().map(|w| w.ln()).collect())
    })
}

/// Orthonormal Hermite polynomials (weight e^{−z²}) at z, with overflow-safe rescaling:
/// returns (p_n, p_n', Σ_{k<n} p_k², log_scale), where the first two are divided by
/// e^{log_scale} and the sum by e^{2·log_scale}.
fn hermite_orthonormal(n: usize, z: f64) -> (f64, f64, f64, f64) {
    const BIG: f64 = 1e150;
    let mut p_prev = 0.0;
    let mut p = PI.powf(-0.25);
    let (mut sum, mut log_scale) = (0.0, 0.0);
    for k in 0..n {
        sum += p * p;
        let next =
            z * (2.0 / (k + 1) as f64).sqrt() * p - (k as f64 / (k + 1) as f64).sqrt() * p_prev;
        p_prev = p;
        p = next;
        if p.abs() > BIG {
            p /= BIG;
            p_prev /= BIG;
            sum /= BIG * BIG;
            log_scale += BIG.ln();
        }
    }
    (p, (2.0 * n as f64).sqrt() * p_prev, sum, log_scale)
}

/// An n-point Gauss–Hermite rule: ∫ g(z) e^{−z²} dz ≈ Σ_i w_i g(z_i), exact for polynomials of
/// degree ≤ 2n − 1.
///
/// Nodes are the eigenvalues of the Jacobi matrix (zero diagonal, off-diagonal √(k/2)), by
/// implicit QL (Golub–Welsch), polished by Newton steps on the orthonormal Hermite recurrence;
/// weights are the Christoffel numbers 1/Σ_{k<n} p_k(z_i)², kept as natural logarithms because
/// the outer weights underflow f64 (ln w ≈ −z² at the largest node z ≈ √(2n)). Building a rule
/// costs O(n²): about 0.1 s for n = 1024.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussHermite {
    nodes: Vec<f64>,
    log_weights: Vec<f64>,
}

impl GaussHermite {
    /// Builds the n-point rule (nodes ascending).
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn new(n: usize) -> Self {
        assert!(
            n > 0,
            "GaussHermite::new: the number of nodes must be at least 1"
        );
        let off: Vec<f64> = (1..n).map(|k| (k as f64 / 2.0).sqrt()).collect();
        // The Jacobi matrix is symmetric with a nonzero off-diagonal: QL always converges.
        let mut nodes = nabla_sparse::lanczos::tridiagonal_eigenvalues(&vec![0.0; n], &off)
            .expect("implicit QL converges on the Hermite Jacobi matrix");
        let mut log_weights = vec![0.0; n];
        for (i, z) in nodes.iter_mut().enumerate() {
            for _ in 0..3 {
                let (p, dp, _, _) = hermite_orthonormal(n, *z);
                let dz = p / dp;
                if dz.is_finite() {
                    *z -= dz;
                }
            }
            let (_, _, sum, log_scale) = hermite_orthonormal(n, *z);
            log_weights[i] = -(sum.ln() + 2.0 * log_scale);
        }
        // Restore exact symmetry z_{n−1−i} = −z_i.
        for i in 0..n / 2 {
            let z = 0.5 * (nodes[n - 1 - i] - nodes[i]);
            let lw = 0.5 * (log_weights[i] + log_weights[n - 1 - i]);
            nodes[i] = -z;
            nodes[n - 1 - i] = z;
            log_weights[i] = lw;
            log_weights[n - 1 - i] = lw;
        }
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        Self { nodes, log_weights }
    }

    /// Number of nodes n.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false (a rule has at least one node).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes z_i, ascending and symmetric about 0.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }

    /// The natural logarithms of the weights, ln w_i (the weights themselves underflow for
    /// large n; Σ w_i = √π).
    pub fn log_weights(&self) -> &[f64] {
        &self.log_weights
    }

    /// ∫ g(z) e^{−z²} dz ≈ Σ_i w_i g(z_i).
    pub fn integrate(&self, g: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.log_weights)
            .map(|(&z, &lw)| lw.exp() * g(z))
            .sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Burgers
// ---------------------------------------------------------------------------------------------

/// The viscosity of the classic Burgers PINN benchmark, ν = 0.01/π.
pub const BURGERS_NU: f64 = 0.01 / PI;

/// Streaming log-sum-exp accumulator for −Σ w sin(·) e^E / Σ w e^E.
struct RatioAccumulator {
    max: f64,
    num: f64,
    den: f64,
}

impl RatioAccumulator {
    fn new() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            num: 0.0,
            den: 0.0,
        }
    }

    /// Adds weight e^{log_w} with numerator factor `g`.
    #[inline]
    fn add(&mut self, log_w: f64, g: f64) {
        if log_w > self.max {
            let r = (self.max - log_w).exp();
            self.num *= r;
            self.den *= r;
            self.max = log_w;
        }
        let w = (log_w - self.max).exp();
        self.num += w * g;
        self.den += w;
    }

    fn ratio(&self) -> f64 {
        self.num / self.den
    }
}

/// NaN for invalid arguments, −sin(πx) at t = 0, None when quadrature is needed.
fn burgers_trivial(x: f64, t: f64, nu: f64) -> Option<f64> {
    if !(nu > 0.0 && nu.is_finite() && t >= 0.0 && t.is_finite() && x.is_finite()) {
        return Some(f64::NAN);
    }
    if t == 0.0 {
        return Some(-(PI * x).sin());
    }
    None
}

/// Exact solution of viscous Burgers u_t + u u_x = ν u_xx, u(x, 0) = −sin(πx), u(±1, t) = 0,
/// at (x, t), by the Cole–Hopf formula (see the module documentation).
///
/// Accurate to ~1e-14 absolute on [−1, 1] × [0, 1] for ν = 0.01/π ([`BURGERS_NU`]), shock
/// included (refining the rule changes the values by < 1e-13), and to the same order for other
/// ν > 0 and t > 0 (the rule adapts to both). Returns −sin(πx) exactly at t = 0. For x outside
/// [−1, 1] it returns the 2-periodic odd extension. Returns NaN if ν ≤ 0, t < 0 or an argument
/// is not finite. Cost: 150–300 sin/cos/exp per point for ν = 0.01/π, t ≤ 1 (~4 µs), growing
/// like √(t/ν) for large t or small ν.
pub fn burgers_cole_hopf(x: f64, t: f64, nu: f64) -> f64 {
    burgers_cole_hopf_composite(x, t, nu, 1)
}

/// [`burgers_cole_hopf`] with the composite Gauss–Legendre rule refined `refinement` times
/// (panels `refinement` times narrower; 0 is treated as 1). For convergence checks.
pub fn burgers_cole_hopf_composite(x: f64, t: f64, nu: f64, refinement: usize) -> f64 {
    if let Some(u) = burgers_trivial(x, t, nu) {
        return u;
    }
    let a = 1.0 / (2.0 * PI * nu);
    let s = (4.0 * nu * t).sqrt();
    // E(z) ≤ a − z² and max E ≥ E(0) = −a cos(πx), so |z| > z_max has E < max E − WINDOW.
    let z_max = (a * (1.0 + (PI * x).cos()) + WINDOW).max(WINDOW).sqrt();
    let peak_width = 1.0 / (2.0 * PI * t + 2.0 + (PI * s).powi(2)).sqrt();
    let h0 = PANEL_WIDTH * peak_width / refinement.max(1) as f64;
    let panels = (2.0 * z_max / h0).ceil().max(1.0) as usize;
    let h = 2.0 * z_max / panels as f64;
    let (gx, glw) = gl_rule();
    let mut acc = RatioAccumulator::new();
    for p in 0..panels {
        // Exactly symmetric panel centres, so u(−x, t) = −u(x, t) up to summation order.
        let centre = (p as f64 + 0.5 - 0.5 * panels as f64) * h;
        for (&xi, &lw) in gx.iter().zip(glw) {
            let z = centre + 0.5 * h * xi;
            let (sin, cos) = (PI * (x - s * z)).sin_cos();
            acc.add(lw - a * cos - z * z, sin);
        }
    }
    -acc.ratio()
}

/// [`burgers_cole_hopf`] evaluated with a Gauss–Hermite rule in z = η/√(4νt) instead of the
/// default composite rule: an independent cross-check. For ν = 0.01/π and t ≤ 1 a 96-point or
/// larger rule is accurate to ~3e-15 (64 points: 2e-10); smaller ν or larger t need more nodes
/// (the integrand's peaks lie near |z| ≈ 1/√(4νt), beyond the largest node ≈ √(2n) for small n).
/// Same conventions (t = 0 exact, NaN for invalid arguments) as [`burgers_cole_hopf`].
pub fn burgers_cole_hopf_gauss_hermite(x: f64, t: f64, nu: f64, rule: &GaussHermite) -> f64 {
    if let Some(u) = burgers_trivial(x, t, nu) {
        return u;
    }
    let a = 1.0 / (2.0 * PI * nu);
    let s = (4.0 * nu * t).sqrt();
    let mut acc = RatioAccumulator::new();
    for (&z, &lw) in rule.nodes.iter().zip(&rule.log_weights) {
        let (sin, cos) = (PI * (x - s * z)).sin_cos();
        acc.add(lw - a * cos, sin);
    }
    -acc.ratio()
}

/// [`burgers_cole_hopf`] on the tensor grid `ts` × `xs`, row-major over (t, x): entry
/// `it * xs.len() + ix` is u(`xs[ix]`, `ts[it]`). Computed in parallel.
pub fn burgers_reference_grid(xs: &[f64], ts: &[f64], nu: f64) -> Vec<f64> {
    let nx = xs.len();
    if nx == 0 {
        return Vec::new();
    }
    (0..nx * ts.len())
        .into_par_iter()
        .map(|k| burgers_cole_hopf(xs[k % nx], ts[k / nx], nu))
        .collect()
}

/// [`burgers_cole_hopf`] at the scattered points (`xs[i]`, `ts[i]`), in parallel.
///
/// # Panics
/// If `xs` and `ts` have different lengths.
pub fn burgers_reference_points(xs: &[f64], ts: &[f64], nu: f64) -> Vec<f64> {
    assert_eq!(
        xs.len(),
        ts.len(),
        "burgers_reference_points: xs and ts must have the same length"
    );
    xs.par_iter()
        .zip(ts.par_iter())
        .map(|(&x, &t)| burgers_cole_hopf(x, t, nu))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// High-dimensional Poisson: the SDGD "two-body interaction" solution
// ---------------------------------------------------------------------------------------------

/// The "two-body interaction" manufactured solution of the SDGD paper (Hu et al. 2024) on the
/// unit ball B^d:
///
/// u(x) = (1 − ‖x‖²) · Σ_{i=1}^{d−1} c_i sin(x_i + cos(x_{i+1}) + x_{i+1} cos(x_i)),
///
/// with c_i ~ N(0, 1) i.i.d. (here 0-based: `c[i]` couples `x[i]` and `x[i+1]`). The PDE is
/// −Δu = f in B^d ([`TwoBody::source`]) with u = 0 on the unit sphere. Every method is O(d)
/// per point and allocation-free; points are plain slices of length d, batches flat row-major
/// n × d.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoBody {
    c: Vec<f64>,
}

/// Per-term quantities of θ_i = x_i + cos(x_{i+1}) + x_{i+1} cos(x_i).
struct Term {
    sin: f64,
    cos: f64,
    /// ∂θ/∂x_i = 1 − x_{i+1} sin x_i
    da: f64,
    /// ∂θ/∂x_{i+1} = cos x_i − sin x_{i+1}
    db: f64,
    /// ∂²θ/∂x_i² + ∂²θ/∂x_{i+1}² = −x_{i+1} cos x_i − cos x_{i+1}
    lap: f64,
}

#[inline]
fn term(xa: f64, xb: f64, (sa, ca): (f64, f64), (sb, cb): (f64, f64)) -> Term {
    let (sin, cos) = (xa + cb + xb * ca).sin_cos();
    Term {
        sin,
        cos,
        da: 1.0 - xb * sa,
        db: ca - sb,
        lap: -xb * ca - cb,
    }
}

impl TwoBody {
    /// The solution in dimension d with c_i (i = 1..d−1) drawn in order from
    /// `rand_distr::StandardNormal` with `rand_pcg::Pcg64::seed_from_u64(seed)`.
    ///
    /// # Panics
    /// If `d < 2`.
    pub fn new(d: usize, seed: u64) -> Self {
        use rand::{Rng, SeedableRng};
        assert!(
            d >= 2,
            "TwoBody::new: the dimension must be at least 2, got {d}"
        );
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let c = (0..d - 1)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        Self { c }
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.c.len() + 1
    }

    /// The coefficients c_1..c_{d−1} (length d − 1).
    pub fn coefficients(&self) -> &[f64] {
        &self.c
    }

    fn check(&self, x: &[f64], what: &str) {
        assert_eq!(
            x.len(),
            self.dim(),
            "TwoBody::{what}: the point must have length d"
        );
    }

    /// Calls `f(i, term_i)` for every i with the trig values of x_i, x_{i+1} shared.
    #[inline]
    fn for_each_term(&self, x: &[f64], mut f: impl FnMut(usize, &Term)) {
        let mut trig_a = x[0].sin_cos();
        for i in 0..self.c.len() {
            let trig_b = x[i + 1].sin_cos();
            f(i, &term(x[i], x[i + 1], trig_a, trig_b));
            trig_a = trig_b;
        }
    }

    /// u(x).
    ///
    /// # Panics
    /// If `x.len() != d`.
    pub fn value(&self, x: &[f64]) -> f64 {
        self.check(x, "value");
        let phi = 1.0 - x.iter().map(|v| v * v).sum::<f64>();
        let mut cos_a = x[0].cos();
        let mut sum = 0.0;
        for (i, &ci) in self.c.iter().enumerate() {
            let cos_b = x[i + 1].cos();
            sum += ci * (x[i] + cos_b + x[i + 1] * cos_a).sin();
            cos_a = cos_b;
        }
        phi * sum
    }

    /// ∇u(x) into `out` (length d): ∇u = −2x·S + (1 − ‖x‖²)∇S, S the sum of the terms.
    ///
    /// # Panics
    /// If `x.len() != d` or `out.len() != d`.
    pub fn gradient(&self, x: &[f64], out: &mut [f64]) {
        self.check(x, "gradient");
        self.check(out, "gradient (out)");
        let phi = 1.0 - x.iter().map(|v| v * v).sum::<f64>();
        out.fill(0.0);
        let mut sum = 0.0;
        self.for_each_term(x, |i, tm| {
            let ci = self.c[i];
            sum += ci * tm.sin;
            out[i] += ci * tm.cos * tm.da;
            out[i + 1] += ci * tm.cos * tm.db;
        });
        for (g, &xi) in out.iter_mut().zip(x) {
            *g = phi * *g - 2.0 * xi * sum;
        }
    }

    /// Δu(x) = −2d·S − 4 x·∇S + (1 − ‖x‖²) ΔS, with each term's second derivatives analytic.
    ///
    /// # Panics
    /// If `x.len() != d`.
    pub fn laplacian(&self, x: &[f64]) -> f64 {
        self.check(x, "laplacian");
        let phi = 1.0 - x.iter().map(|v| v * v).sum::<f64>();
        let (mut sum, mut x_dot_grad, mut lap) = (0.0, 0.0, 0.0);
        self.for_each_term(x, |i, tm| {
            let ci = self.c[i];
            sum += ci * tm.sin;
            x_dot_grad += ci * tm.cos * (tm.da * x[i] + tm.db * x[i + 1]);
            lap += ci * (tm.cos * tm.lap - tm.sin * (tm.da * tm.da + tm.db * tm.db));
        });
        -2.0 * self.dim() as f64 * sum - 4.0 * x_dot_grad + phi * lap
    }

    /// The source f(x) = −Δu(x) of the PDE −Δu = f.
    ///
    /// # Panics
    /// If `x.len() != d`.
    pub fn source(&self, x: &[f64]) -> f64 {
        -self.laplacian(x)
    }

    fn check_batch(&self, points: &[f64], what: &str) {
        assert!(
            points.len().is_multiple_of(self.dim()),
            "TwoBody::{what}: points.len() = {} is not a multiple of d = {}",
            points.len(),
            self.dim()
        );
    }

    /// u at each point of `points` (flat row-major n × d), in parallel.
    ///
    /// # Panics
    /// If `points.len()` is not a multiple of d.
    pub fn values(&self, points: &[f64]) -> Vec<f64> {
        self.check_batch(points, "values");
        points
            .par_chunks(self.dim())
            .map(|x| self.value(x))
            .collect()
    }

    /// f = −Δu at each point of `points` (flat row-major n × d), in parallel.
    ///
    /// # Panics
    /// If `points.len()` is not a multiple of d.
    pub fn sources(&self, points: &[f64]) -> Vec<f64> {
        self.check_batch(points, "sources");
        points
            .par_chunks(self.dim())
            .map(|x| self.source(x))
            .collect()
    }
}

/// A solution on the node grid of [0, 1]² (`n` nodes per axis, h = 1/(n − 1), node (i, j) at
/// (i h, j h), x fastest), read anywhere by bilinear interpolation.
#[derive(Clone, Debug)]
pub struct GridReference {
    n: usize,
    values: Vec<f64>,
}

impl GridReference {
    /// Bilinear value at (x, y) (clamped to the unit square).
    pub fn value(&self, x: f64, y: f64) -> f64 {
        let m = (self.n - 1) as f64;
        let cell = |v: f64| -> (usize, f64) {
            let s = (v.clamp(0.0, 1.0)) * m;
            let i = (s.floor() as usize).min(self.n - 2);
            (i, s - i as f64)
        };
        let (i, tx) = cell(x);
        let (j, ty) = cell(y);
        let at = |i: usize, j: usize| self.values[i + self.n * j];
        (1.0 - tx) * (1.0 - ty) * at(i, j)
            + tx * (1.0 - ty) * at(i + 1, j)
            + (1.0 - tx) * ty * at(i, j + 1)
            + tx * ty * at(i + 1, j + 1)
    }
}

/// The reference solution of −Δu = f on [0, 1]², u = 0 on the boundary: the 5-point
/// finite-difference system on `n` × `n` nodes solved by multigrid-preconditioned CG to a
/// relative residual of 1e-10 (second-order accurate: the discretisation error, ~h²/12 ·
/// max|∂⁴u|, is what limits it).
pub fn poisson_fd_reference(
    n: usize,
    source: &dyn nabla_core::field::ScalarField,
) -> crate::Result<GridReference> {
    use nabla_sparse::solvers::SolveOptions;
    use nabla_sparse::{solve, GridPoisson, SolverKind, System};
    let err =
        |e: nabla_sparse::SparseError| crate::PinnError::Input(format!("reference solve: {e}"));
    if n < 4 {
        return Err(crate::PinnError::Input(
            "reference grid needs ≥ 4 nodes".into(),
        ));
    }
    let m = n - 2;
    let h = 1.0 / (n - 1) as f64;
    let shape: nabla_core::GridShape = format!("{m}x{m}")
        .parse()
        .map_err(|e| crate::PinnError::Input(format!("reference grid: {e}")))?;
    let grid = GridPoisson::new(shape);
    let a = grid.matrix();
    let mut b = vec![0.0; m * m];
    for j in 0..m {
        for i in 0..m {
            b[i + m * j] = h * h * source.eval(&[(i + 1) as f64 * h, (j + 1) as f64 * h]);
        }
    }
    let mut x = vec![0.0; m * m];
    let system = System {
        matrix: Some(&a),
        operator: None,
        grid: Some(&grid),
    };
    let opts = SolveOptions {
        tol: 1e-10,
        record_history: false,
        ..Default::default()
    };
    solve(SolverKind::MgPcg, &system, 1.0, &b, &mut x, &opts).map_err(err)?;
    let mut values = vec![0.0; n * n];
    for j in 0..m {
        for i in 0..m {
            values[(i + 1) + n * (j + 1)] = x[i + m * j];
        }
    }
    Ok(GridReference { n, values })
}
