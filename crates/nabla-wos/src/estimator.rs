//! The Walk-on-Spheres estimators and the parallel solver over points and walks.

use crate::special::{screened_ratio, survival};
use crate::{Result, WosError};
use nabla_core::field::ScalarField;
use nabla_core::geometry::{Domain, SplitMix64};
use rayon::prelude::*;
use std::f64::consts::TAU;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Walks per block: the unit of parallel work within one point, and of the fixed-order
/// reduction that makes results independent of the thread count.
pub const WALKS_PER_BLOCK: usize = 64;

/// A Dirichlet problem for Walk-on-Spheres:
///
/// **Δu − σu = f in Ω, u = g on ∂Ω** (σ ≥ 0; σ = 0 and f = 0 is Laplace's equation).
///
/// Sign convention: the Laplacian enters with a **plus** sign, Δu = f. The grid solvers of
/// `nabla-sparse` (`nabla poisson`) solve −Δu = f; the same problem there needs the source
/// with the opposite sign. Example: u = x² + y² has Δu = 4, so here f = 4 (and −4 for
/// `nabla poisson`).
#[derive(Clone)]
pub struct WosProblem {
    domain: Arc<dyn Domain>,
    boundary: Arc<dyn ScalarField>,
    source: Option<Arc<dyn ScalarField>>,
    sigma: f64,
}

impl std::fmt::Debug for WosProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WosProblem")
            .field("domain", &self.domain)
            .field("has_source", &self.source.is_some())
            .field("sigma", &self.sigma)
            .finish()
    }
}

impl WosProblem {
    /// Laplace's equation Δu = 0 on `domain` with boundary values `boundary` (g).
    pub fn laplace(domain: Arc<dyn Domain>, boundary: Arc<dyn ScalarField>) -> Self {
        Self {
            domain,
            boundary,
            source: None,
            sigma: 0.0,
        }
    }

    /// Adds the source f of Δu − σu = f (note the sign: Δu = f, not −Δu = f).
    pub fn with_source(mut self, source: Arc<dyn ScalarField>) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the screening coefficient σ ≥ 0 of Δu − σu = f (units: 1/length²).
    pub fn with_screening(mut self, sigma: f64) -> Result<Self> {
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(WosError::InvalidOptions(format!(
                "sigma must be finite and ≥ 0, got {sigma}"
            )));
        }
        self.sigma = sigma;
        Ok(self)
    }

    /// The domain Ω.
    pub fn domain(&self) -> &Arc<dyn Domain> {
        &self.domain
    }

    /// The boundary data g.
    pub fn boundary(&self) -> &Arc<dyn ScalarField> {
        &self.boundary
    }

    /// The source f, if any.
    pub fn source(&self) -> Option<&Arc<dyn ScalarField>> {
        self.source.as_ref()
    }

    /// The screening coefficient σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

/// What happens to a walk still running after [`WosOptions::max_steps`] steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unfinished {
    /// Stop it where it is and read g at the closest boundary point (biased by at most the
    /// variation of u over the remaining distance; the default, as in Zombie).
    #[default]
    ClosestBoundary,
    /// Drop the walk: it counts in [`PointEstimate::unfinished`] but not in the estimate.
    Discard,
}

/// Settings of the estimator. [`Default`] follows Zombie's defaults: 128 walks, ε = 1e-3,
/// at most 1024 steps.
#[derive(Clone, Debug, PartialEq)]
pub struct WosOptions {
    /// Walks per point (≥ 1).
    pub walks: usize,
    /// Stopping distance ε > 0 to the boundary, in coordinate units. The bias is O(ε).
    pub epsilon: f64,
    /// Step limit per walk (≥ 1); see [`Unfinished`] for what happens then.
    pub max_steps: usize,
    /// Seed: walk `j` of point `i` uses the stream [`walk_stream`]`(seed, i, j)`, so results
    /// are identical for any number of threads.
    pub seed: u64,
    /// Russian roulette on the screening weight: a walk whose weight w falls below this
    /// threshold survives with probability w/threshold and then continues with weight equal
    /// to the threshold (unbiased). 0 disables it. Only matters for σ > 0.
    pub roulette_threshold: f64,
    /// Policy for walks that reach `max_steps`.
    pub unfinished: Unfinished,
    /// Also estimate ∇u (σ = 0 only) from the first sphere of each walk.
    pub gradient: bool,
    /// Control variates (σ = 0 only): a pilot of [`WosOptions::pilot_walks`] extra walks per
    /// point estimates u and ∇u; the main walks then subtract ∇u·(x₁ − x₀) from the value and
    /// u·n from the gradient sample. Both have mean zero, so the estimate stays unbiased and
    /// its variance drops where u is close to linear over the first sphere.
    pub control_variates: bool,
    /// Pilot walks per point for the control variates (counted in the totals).
    pub pilot_walks: usize,
}

impl Default for WosOptions {
    fn default() -> Self {
        Self {
            walks: 128,
            epsilon: 1e-3,
            max_steps: 1024,
            seed: 0,
            roulette_threshold: 0.1,
            unfinished: Unfinished::ClosestBoundary,
            gradient: false,
            control_variates: false,
            pilot_walks: 32,
        }
    }
}

/// The estimate at one point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointEstimate {
    /// The estimate of u(x): the mean over the walks.
    pub value: f64,
    /// The sample variance of one walk's value (unbiased, n − 1 denominator).
    pub variance: f64,
    /// Standard error of `value`: √(variance / walks).
    pub stderr: f64,
    /// Mean number of steps (spheres) per walk, pilot walks excluded.
    pub mean_steps: f64,
    /// Walks that entered the estimate.
    pub walks: usize,
    /// Walks that reached `max_steps` (discarded or stopped, per [`Unfinished`]).
    pub unfinished: usize,
    /// ∇u(x) when [`WosOptions::gradient`] is set.
    pub gradient: Option<Vec<f64>>,
    /// Standard error of each gradient component.
    pub gradient_stderr: Option<Vec<f64>>,
}

/// The estimates at a batch of points with the work done.
#[derive(Clone, Debug)]
pub struct WosSolution {
    /// One estimate per input point, in input order.
    pub estimates: Vec<PointEstimate>,
    /// Walks run, pilot walks included.
    pub total_walks: u64,
    /// Steps (distance queries followed by a jump or a stop) over all walks.
    pub total_steps: u64,
    /// Wall-clock seconds of the solve.
    pub seconds: f64,
}

impl WosSolution {
    /// `total_steps / seconds`.
    pub fn steps_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.total_steps as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The values, in input order.
    pub fn values(&self) -> Vec<f64> {
        self.estimates.iter().map(|e| e.value).collect()
    }

    /// The standard errors, in input order.
    pub fn stderrs(&self) -> Vec<f64> {
        self.estimates.iter().map(|e| e.stderr).collect()
    }
}

/// The random stream of walk `walk` at point `point`: SplitMix64 keyed by a hash of
/// (seed, point, walk). The CUDA kernel derives its streams the same way.
#[inline]
pub fn walk_stream(seed: u64, point: u64, walk: u64) -> SplitMix64 {
    let k =
        SplitMix64::mix(seed.wrapping_add(SplitMix64::GAMMA.wrapping_mul(point.wrapping_add(1))));
    SplitMix64::new(SplitMix64::mix(
        k ^ walk.wrapping_mul(0xD1B5_4A32_D192_ED03),
    ))
}

/// Walk indices of pilot walks start here (a separate range of streams).
const PILOT_BASE: u64 = 1 << 62;

/// One walk's outcome.
struct Walk {
    /// The walk's estimate of u(x₀) (None: discarded).
    value: Option<f64>,
    /// The value minus the first step's source sample: the estimate of u at x₁.
    after_first: f64,
    steps: usize,
    unfinished: bool,
    /// First direction n₀ and radius R₀ (for gradients and control variates).
    first_dir: [f64; 8],
    first_radius: f64,
    /// The gradient's source sample R₀(1 − (r/R₀)ᵈ) f(y) n (σ = 0).
    grad_source: [f64; 8],
}

/// Maximum dimension of gradient estimates (the walks themselves work in any dimension).
const MAX_GRAD_DIM: usize = 8;

/// Running mean/variance (Welford) of a block, combined in a fixed order (Chan et al.).
#[derive(Clone, Debug, Default)]
struct Stats {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Stats {
    fn push(&mut self, v: f64) {
        self.n += 1.0;
        let d = v - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (v - self.mean);
    }

    fn merge(&mut self, o: &Stats) {
        if o.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = o.clone();
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }

    fn variance(&self) -> f64 {
        if self.n > 1.0 {
            self.m2 / (self.n - 1.0)
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Block {
    value: Stats,
    grad: Vec<Stats>,
    steps: u64,
    walks_run: u64,
    unfinished: usize,
}

impl Block {
    fn merge(&mut self, o: &Block) {
        self.value.merge(&o.value);
        if self.grad.len() < o.grad.len() {
            self.grad.resize(o.grad.len(), Stats::default());
        }
        for (a, b) in self.grad.iter_mut().zip(&o.grad) {
            a.merge(b);
        }
        self.steps += o.steps;
        self.walks_run += o.walks_run;
        self.unfinished += o.unfinished;
    }
}

/// Control-variate constants from the pilot: (u, ∇u).
#[derive(Clone, Debug)]
struct Control {
    value: f64,
    grad: Vec<f64>,
}

/// The Walk-on-Spheres solver: a problem and its options, validated once.
///
/// ```
/// use nabla_core::geometry::parse_domain;
/// use nabla_wos::{WosOptions, WosProblem, WosSolver};
/// use std::sync::Arc;
/// // Δu = 0 in the unit disc with u = x on the circle: u(x, y) = x.
/// let problem = WosProblem::laplace(
///     parse_domain("ball:center=0,0;radius=1").unwrap(),
///     Arc::new(|p: &[f64]| p[0]),
/// );
/// let opts = WosOptions { walks: 4000, seed: 1, ..Default::default() };
/// let solver = WosSolver::new(problem, opts).unwrap();
/// let sol = solver.solve(&[0.3, 0.2]).unwrap();
/// let e = &sol.estimates[0];
/// assert!((e.value - 0.3).abs() < 4.0 * e.stderr + 2e-3);
/// ```
#[derive(Clone, Debug)]
pub struct WosSolver {
    problem: WosProblem,
    opts: WosOptions,
    dim: usize,
    a: f64,
}

impl WosSolver {
    /// Validates the options against the problem: walks ≥ 1, ε > 0 finite, max_steps ≥ 1,
    /// dimension ≥ 2, σ > 0 only in 2-D and 3-D, gradients and control variates only for
    /// σ = 0 and d ≤ 8.
    pub fn new(problem: WosProblem, opts: WosOptions) -> Result<Self> {
        let dim = problem.domain.dim();
        if opts.walks == 0 {
            return Err(WosError::InvalidOptions("walks must be at least 1".into()));
        }
        if !(opts.epsilon.is_finite() && opts.epsilon > 0.0) {
            return Err(WosError::InvalidOptions(format!(
                "epsilon must be positive and finite, got {}",
                opts.epsilon
            )));
        }
        if opts.max_steps == 0 {
            return Err(WosError::InvalidOptions(
                "max_steps must be at least 1".into(),
            ));
        }
        if !(opts.roulette_threshold.is_finite() && (0.0..1.0).contains(&opts.roulette_threshold)) {
            return Err(WosError::InvalidOptions(format!(
                "roulette_threshold must be in [0, 1), got {}",
                opts.roulette_threshold
            )));
        }
        if dim < 2 {
            return Err(WosError::Unsupported(format!(
                "Walk-on-Spheres needs a domain of dimension ≥ 2, got {dim}"
            )));
        }
        if problem.sigma > 0.0 && !(dim == 2 || dim == 3) {
            return Err(WosError::Unsupported(format!(
                "screening (sigma > 0) is implemented in 2-D and 3-D, not {dim}-D"
            )));
        }
        if (opts.gradient || opts.control_variates) && problem.sigma > 0.0 {
            return Err(WosError::Unsupported(
                "gradient estimates and control variates need sigma = 0".into(),
            ));
        }
        if (opts.gradient || opts.control_variates) && dim > MAX_GRAD_DIM {
            return Err(WosError::Unsupported(format!(
                "gradient estimates and control variates are implemented up to {MAX_GRAD_DIM}-D"
            )));
        }
        if opts.control_variates && opts.pilot_walks == 0 {
            return Err(WosError::InvalidOptions(
                "control variates need pilot_walks ≥ 1".into(),
            ));
        }
        let a = problem.sigma.sqrt();
        Ok(Self {
            problem,
            opts,
            dim,
            a,
        })
    }

    /// The problem.
    pub fn problem(&self) -> &WosProblem {
        &self.problem
    }

    /// The options.
    pub fn options(&self) -> &WosOptions {
        &self.opts
    }

    /// The dimension of the points.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Estimates u at every point of `points` (flat, row-major, `n·d` values), in parallel over
    /// points and blocks of walks on the current rayon pool.
    pub fn solve(&self, points: &[f64]) -> Result<WosSolution> {
        self.solve_with_progress(points, &|_| {})
    }

    /// [`WosSolver::solve`], calling `progress(done)` (number of finished points) from worker
    /// threads as points finish.
    pub fn solve_with_progress(
        &self,
        points: &[f64],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<WosSolution> {
        let d = self.dim;
        if !points.len().is_multiple_of(d) {
            return Err(WosError::DimensionMismatch(format!(
                "{} coordinates are not a whole number of {d}-D points",
                points.len()
            )));
        }
        for (i, x) in points.chunks(d).enumerate() {
            if x.iter().any(|v| !v.is_finite()) || !self.problem.domain.contains(x) {
                return Err(WosError::PointOutside {
                    index: i,
                    point: x.to_vec(),
                });
            }
        }
        self.solve_indexed(points, 0, progress)
    }

    /// Estimates at `points` whose streams are those of point indices `first_index..`: a slice
    /// of a larger point set gives exactly the numbers the whole set gives there (what a rank
    /// of a distributed run computes). The points must already be checked to lie inside.
    pub(crate) fn solve_indexed(
        &self,
        points: &[f64],
        first_index: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<WosSolution> {
        let d = self.dim;
        let t0 = Instant::now();
        let done = AtomicUsize::new(0);
        let results: Vec<(PointEstimate, Block)> = points
            .par_chunks(d)
            .enumerate()
            .map(|(i, x)| {
                let r = self.estimate_with_totals(x, (first_index + i) as u64);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                r
            })
            .collect();
        let seconds = t0.elapsed().as_secs_f64();
        let mut estimates = Vec::with_capacity(results.len());
        let (mut walks, mut steps) = (0u64, 0u64);
        for (i, (e, b)) in results.into_iter().enumerate() {
            if !e.value.is_finite() {
                return Err(WosError::NonFinite {
                    index: first_index + i,
                    point: points[i * d..(i + 1) * d].to_vec(),
                });
            }
            walks += b.walks_run;
            steps += b.steps;
            estimates.push(e);
        }
        Ok(WosSolution {
            estimates,
            total_walks: walks,
            total_steps: steps,
            seconds,
        })
    }

    /// The estimate at one point `x` (inside Ω), using the streams of point index `index`.
    pub fn estimate(&self, x: &[f64], index: u64) -> Result<PointEstimate> {
        if x.len() != self.dim {
            return Err(WosError::DimensionMismatch(format!(
                "point has {} coordinates, the domain is {}-D",
                x.len(),
                self.dim
            )));
        }
        if !self.problem.domain.contains(x) {
            return Err(WosError::PointOutside {
                index: index as usize,
                point: x.to_vec(),
            });
        }
        Ok(self.estimate_with_totals(x, index).0)
    }

    fn estimate_with_totals(&self, x: &[f64], index: u64) -> (PointEstimate, Block) {
        let opts = &self.opts;
        let mut pilot_block = Block::default();
        let control = if opts.control_variates {
            let b = self.run_blocks(x, index, PILOT_BASE, opts.pilot_walks, None, true);
            let c = Control {
                value: b.value.mean,
                grad: b.grad.iter().map(|s| s.mean).collect(),
            };
            pilot_block = b;
            Some(c)
        } else {
            None
        };
        let want_grad = opts.gradient || opts.control_variates;
        let main = self.run_blocks(x, index, 0, opts.walks, control.as_ref(), want_grad);
        let n = main.value.n;
        let est = PointEstimate {
            value: main.value.mean,
            variance: main.value.variance(),
            stderr: if n > 0.0 {
                (main.value.variance() / n).sqrt()
            } else {
                f64::NAN
            },
            mean_steps: if main.walks_run > 0 {
                main.steps as f64 / main.walks_run as f64
            } else {
                0.0
            },
            walks: n as usize,
            unfinished: main.unfinished,
            gradient: opts
                .gradient
                .then(|| main.grad.iter().map(|s| s.mean).collect()),
            gradient_stderr: opts.gradient.then(|| {
                main.grad
                    .iter()
                    .map(|s| (s.variance() / s.n.max(1.0)).sqrt())
                    .collect()
            }),
        };
        let mut totals = main;
        totals.walks_run += pilot_block.walks_run;
        totals.steps += pilot_block.steps;
        (est, totals)
    }

    /// Runs `walks` walks with indices `base..base+walks` in blocks (in parallel), reduced in
    /// block order.
    fn run_blocks(
        &self,
        x: &[f64],
        index: u64,
        base: u64,
        walks: usize,
        control: Option<&Control>,
        want_grad: bool,
    ) -> Block {
        let nblocks = walks.div_ceil(WALKS_PER_BLOCK);
        // Blocks are merged in index order (deterministic for any thread count), a bounded
        // batch at a time so that memory does not grow with the number of walks.
        const BLOCKS_PER_BATCH: usize = 4096;
        let mut total = Block::default();
        let mut first = 0;
        while first < nblocks {
            let last = first.saturating_add(BLOCKS_PER_BATCH).min(nblocks);
            for b in &self.run_block_range(x, index, base, walks, first..last, control, want_grad) {
                total.merge(b);
            }
            first = last;
        }
        total
    }

    /// Runs blocks `range` of [`Self::run_blocks`] in parallel, in index order.
    #[allow(clippy::too_many_arguments)]
    fn run_block_range(
        &self,
        x: &[f64],
        index: u64,
        base: u64,
        walks: usize,
        range: std::ops::Range<usize>,
        control: Option<&Control>,
        want_grad: bool,
    ) -> Vec<Block> {
        range
            .into_par_iter()
            .map(|b| {
                let lo = b * WALKS_PER_BLOCK;
                let hi = (b + 1).saturating_mul(WALKS_PER_BLOCK).min(walks);
                let mut blk = Block {
                    grad: if want_grad {
                        vec![Stats::default(); self.dim]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                };
                let mut pos = vec![0.0; self.dim];
                let mut tmp = vec![0.0; self.dim];
                for j in lo..hi {
                    let mut rng = walk_stream(self.opts.seed, index, base + j as u64);
                    let w = self.walk(x, &mut rng, &mut pos, &mut tmp, want_grad);
                    blk.steps += w.steps as u64;
                    blk.walks_run += 1;
                    if w.unfinished {
                        blk.unfinished += 1;
                    }
                    let Some(v) = w.value else { continue };
                    let d = self.dim as f64;
                    let mut value = v;
                    if let Some(c) = control {
                        // u − ∇u·(x₁ − x₀), x₁ − x₀ = R₀ n₀ (zero mean).
                        let dot: f64 = (0..self.dim).map(|k| c.grad[k] * w.first_dir[k]).sum();
                        value -= w.first_radius * dot;
                    }
                    blk.value.push(value);
                    if want_grad {
                        let cu = control.map_or(0.0, |c| c.value);
                        for k in 0..self.dim {
                            let g = if w.first_radius > 0.0 {
                                d / w.first_radius * (w.after_first - cu) * w.first_dir[k]
                                    - w.grad_source[k]
                            } else {
                                0.0
                            };
                            blk.grad[k].push(g);
                        }
                    }
                }
                blk
            })
            .collect()
    }

    /// A uniform direction on the unit sphere Sᵈ⁻¹.
    #[inline]
    fn direction(&self, rng: &mut SplitMix64, out: &mut [f64]) {
        match self.dim {
            2 => {
                let (s, c) = (TAU * rng.next_f64()).sin_cos();
                out[0] = c;
                out[1] = s;
            }
            3 => {
                let z = 2.0 * rng.next_f64() - 1.0;
                let r = (1.0 - z * z).max(0.0).sqrt();
                let (s, c) = (TAU * rng.next_f64()).sin_cos();
                out[0] = r * c;
                out[1] = r * s;
                out[2] = z;
            }
            _ => loop {
                // Box–Muller Gaussians, normalized.
                let mut k = 0;
                while k < self.dim {
                    let r = (-2.0 * rng.next_f64_open0().ln()).sqrt();
                    let (s, c) = (TAU * rng.next_f64()).sin_cos();
                    out[k] = r * c;
                    if k + 1 < self.dim {
                        out[k + 1] = r * s;
                    }
                    k += 2;
                }
                let n = out.iter().map(|v| v * v).sum::<f64>().sqrt();
                if n > 0.0 {
                    out.iter_mut().for_each(|v| *v /= n);
                    return;
                }
            },
        }
    }

    /// A radius fraction ρ = r/R with density ∝ the Green's function of the ball times the
    /// shell area: ρ ln(1/ρ) in 2-D, ρ(1 − ρ^{d−2}) in d ≥ 3.
    #[inline]
    fn green_radius(&self, rng: &mut SplitMix64) -> f64 {
        match self.dim {
            // ρ = e^{−t}, t ~ Gamma(2, 2): ρ = √(u₁u₂).
            2 => (rng.next_f64_open0() * rng.next_f64_open0()).sqrt(),
            // Beta(2, 2): the median of three uniforms.
            3 => {
                let (a, b, c) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
                a.max(b).min(a.min(b).max(c))
            }
            d => loop {
                let rho = rng.next_f64_open0().sqrt();
                if rng.next_f64() < 1.0 - rho.powi(d as i32 - 2) {
                    return rho;
                }
            },
        }
    }

    /// One walk from `x0`.
    fn walk(
        &self,
        x0: &[f64],
        rng: &mut SplitMix64,
        x: &mut [f64],
        tmp: &mut [f64],
        want_grad: bool,
    ) -> Walk {
        let d = self.dim;
        let domain = &*self.problem.domain;
        let eps = self.opts.epsilon;
        let sigma = self.problem.sigma;
        let source = self.problem.source.as_deref();
        x.copy_from_slice(x0);
        let mut out = Walk {
            value: None,
            after_first: 0.0,
            steps: 0,
            unfinished: false,
            first_dir: [0.0; 8],
            first_radius: 0.0,
            grad_source: [0.0; 8],
        };
        let mut weight = 1.0;
        let mut acc = 0.0;
        let mut first_source = 0.0;
        let green_mass = 1.0 / (2.0 * d as f64); // ∫_B G⁰ = R²/(2d)
        let mut step = 0;
        loop {
            let r = domain.distance_to_boundary(x);
            if r < eps || step >= self.opts.max_steps {
                if r >= eps {
                    out.unfinished = true;
                    if self.opts.unfinished == Unfinished::Discard {
                        out.steps = step;
                        return out;
                    }
                }
                domain.closest_boundary_point(x, tmp);
                acc += weight * self.problem.boundary.eval(tmp);
                break;
            }
            step += 1;
            if let Some(f) = source {
                // One sample y ~ G(x, ·)/∫G in the ball: −∫_B G f ≈ −(R²/2d)·f(y).
                let rho = self.green_radius(rng);
                self.direction(rng, tmp);
                for k in 0..d {
                    tmp[k] = x[k] + r * rho * tmp[k];
                }
                let mut c = green_mass * r * r * f.eval(tmp);
                if sigma > 0.0 {
                    c *= screened_ratio(d, self.a, r, rho);
                }
                acc -= weight * c;
                if step == 1 {
                    first_source = -c;
                }
                if want_grad && step == 1 {
                    // ∇ₓ∫G f with y = x + s n, s ~ U(0, R): R(1 − (s/R)ᵈ) f(y) n.
                    let s = rng.next_f64();
                    self.direction(rng, tmp);
                    let mut y = [0.0; MAX_GRAD_DIM];
                    for k in 0..d {
                        y[k] = x[k] + r * s * tmp[k];
                    }
                    let fy = f.eval(&y[..d]);
                    let w = r * (1.0 - s.powi(d as i32)) * fy;
                    for k in 0..d {
                        out.grad_source[k] = w * tmp[k];
                    }
                }
            }
            self.direction(rng, tmp);
            if step == 1 && want_grad {
                out.first_dir[..d].copy_from_slice(&tmp[..d]);
                out.first_radius = r;
            }
            for k in 0..d {
                x[k] += r * tmp[k];
            }
            if sigma > 0.0 {
                weight *= survival(d, self.a, r);
                let thr = self.opts.roulette_threshold;
                if weight < thr {
                    let p = weight / thr;
                    if rng.next_f64() >= p {
                        // Absorbed: the rest of the walk contributes zero.
                        out.steps = step;
                        out.value = Some(acc);
                        out.after_first = acc - first_source;
                        return out;
                    }
                    weight = thr;
                }
            }
        }
        out.steps = step;
        out.value = Some(acc);
        out.after_first = acc - first_source;
        out
    }
}
