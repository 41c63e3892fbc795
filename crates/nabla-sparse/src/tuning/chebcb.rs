//! ChebCB: a contextual bandit for a scalar context on a known interval [a, b].
//!
//! Each arm's cost is modelled as a Chebyshev polynomial (degree ≤ `degree`) in the context
//! mapped to [−1, 1], fit by regularized least squares to the *log* of past iteration counts
//! (`ln(1 + iterations)`: iteration counts of near-singular instances are orders of magnitude
//! above the rest, and relative errors are what matter).
//!
//! Arms share what they learn: a pooled model, a tensor Chebyshev polynomial in (context,
//! ln(2 − ω)) fit to every observation, is the shrinkage target of each arm's own fit (more
//! strongly for higher degrees). An arm with few observations therefore predicts what its
//! neighbours in ω saw at this context, instead of extrapolating its own few points; with
//! data, its own fit takes over.
//!
//! Cost per round. Both fits are ridge least squares with sufficient statistics kept per arm
//! (its Gram matrix G_i = Σ φφᵀ and moments h_i = Σ φ y; the pooled Gram matrix is
//! Σ_i G_i ⊗ ψ_iψ_iᵀ, so it needs nothing else). `choose` is one dot product of length
//! p = degree + 1 per arm with cached coefficients; `observe` adds φφᵀ to the played arm and
//! updates that arm's fit by recursive least squares (a rank-one update of its cached
//! (G_i + Λ)⁻¹, O(p²), no square roots; exact in exact arithmetic, and reset from G_i by
//! Cholesky at every pooled refit so rounding cannot accumulate). The pooled
//! model (P = p·(ω-degree + 1) unknowns) is refit by Cholesky on a geometric schedule, every
//! [`ChebCbOptions::refit_fraction`] of the rounds so far — every round at first, O(log T)
//! times in all — so its O(P³) cost vanishes in the average (a "rarely switching" update, as
//! in rarely switching OFUL of Abbasi-Yadkori et al. 2011). With the defaults a round costs
//! a few hundred flops and no allocation: about 0.25 µs, under 1 % of even a 10×10 SOR
//! solve (`cargo run --release -p nabla-sparse --example tuner_overhead`).
//!
//! Arms. The default grid ([`super::chebcb_default_arms`]) is finer than Tsallis-INF's
//! `linspace(1, 1.95, 20)` where it matters: near the optimum SOR's iteration count scales
//! like 1/(2 − ω), so a grid must be evenly spaced in ln(2 − ω) to cost a bounded *relative*
//! excess everywhere; `linspace` steps of 0.05 halve 2 − ω between 1.90 and 1.95 (up to ~2×
//! the iterations when ω* lies in between, as on a 32×32 grid). A contextual learner can
//! afford the extra arms, because the pooled model shares what neighbouring arms saw.
//!
//! The choice follows the inverse-gap weighting of SquareCB, as in the paper: with
//! predictions ŷ_i and the best ŷ*, every other arm gets p_i = 1/(d + γ_t (ŷ_i − ŷ*)) and the
//! best arm the rest. The greediness γ_t = γ·√(d t / σ̂²) grows with the round t and with the
//! model's accuracy (σ̂² = mean squared error of past predictions of the arm played).

use super::{check_arms, check_cost, nothing_chosen, sample_index, unobserved, Context, Tuner};
use crate::error::{Result, SparseError};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use serde::{Deserialize, Serialize};

/// Largest supported polynomial degree (in the context and in ω).
pub const MAX_DEGREE: usize = 10;

/// Where along the context interval the Chebyshev fit spends its resolution: the context is
/// mapped to a position f ∈ [0, 1] and then to [−1, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContextScale {
    /// f = (c − a)/(b − a).
    #[default]
    Linear,
    /// f = √((c − a)/(b − a)): resolution concentrated near a, where costs blow up when the
    /// systems approach singularity there (the shifted Laplacian near c = a).
    Sqrt,
    /// f = ln(c/a)/ln(b/a) (needs 0 < a): for contexts spanning orders of magnitude (κΔt/h²).
    Log,
}

impl ContextScale {
    /// The position f ∈ [0, 1] of `c` in [a, b].
    pub fn position(self, c: f64, a: f64, b: f64) -> f64 {
        let f = match self {
            Self::Linear => (c - a) / (b - a),
            Self::Sqrt => ((c - a) / (b - a)).max(0.0).sqrt(),
            Self::Log => (c / a).ln() / (b / a).ln(),
        };
        f.clamp(0.0, 1.0)
    }
}

/// How ω is mapped onto the Chebyshev variable of the pooled (context, ω) model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OmegaScale {
    /// u linear in ω over the arm range.
    Linear,
    /// u linear in ln(2 − ω): SOR's convergence factor near the optimum behaves like ω − 1,
    /// so iteration counts scale like 1/(2 − ω) there and the log cost is smooth in
    /// ln(2 − ω), while it has a kink and a steep wall when plotted against ω itself. This is
    /// also the variable in which [`super::gap_graded_arms`] is evenly spaced near 2.
    #[default]
    LogGap,
}

impl OmegaScale {
    fn value(self, omega: f64) -> f64 {
        match self {
            Self::Linear => omega,
            Self::LogGap => (2.0 - omega).ln(),
        }
    }
}

fn default_refit_fraction() -> f64 {
    0.25
}

/// Settings of [`ChebCb`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChebCbOptions {
    /// The ω grid (each in (0, 2)).
    pub arms: Vec<f64>,
    /// Chebyshev degree in the context of each arm's cost model (0..=10; the paper uses ≤ 5).
    pub degree: usize,
    /// Chebyshev degree in ω of the pooled model (capped at the number of arms − 1).
    pub omega_degree: usize,
    /// How ω enters the pooled model.
    #[serde(default)]
    pub omega_scale: OmegaScale,
    /// The context interval [a, b] (a < b); contexts outside it are an error.
    pub interval: (f64, f64),
    /// How the context is mapped onto the Chebyshev variable.
    pub scale: ContextScale,
    /// Shrinkage of each arm's fit towards the pooled model, in units of observations (degree
    /// k is shrunk `ridge·(1+k)²`).
    pub ridge: f64,
    /// Shrinkage of the pooled model towards zero for its non-constant terms.
    pub pooled_ridge: f64,
    /// Greediness multiplier γ of the inverse-gap weighting.
    pub gamma: f64,
    /// The pooled model is refit when the rounds since its last fit reach this fraction of
    /// all rounds so far (at least every round; 0 refits every round). A geometric schedule:
    /// O(log T / fraction) refits over T rounds, so its cost is negligible, while the
    /// played arm's own fit is updated every round.
    #[serde(default = "default_refit_fraction")]
    pub refit_fraction: f64,
    /// Seed of the sampling stream.
    pub seed: u64,
}

impl ChebCbOptions {
    /// Defaults for a context interval: the arms [`chebcb_default_arms`]
    /// (steps of 0.05 that shrink to 15 % of 2 − ω near 2, up to 1.98; 31 arms), degree
    /// 5 in the context and 6 in ln(2 − ω), linear context scale, ridge 1, pooled ridge 0.1,
    /// γ = 3, pooled refits every quarter of the rounds so far (about 30 refits in 5000
    /// rounds; refitting every round instead changes totals by less than seed-to-seed noise), seed 0.
    ///
    /// [`chebcb_default_arms`]: super::chebcb_default_arms
    pub fn new(interval: (f64, f64)) -> Self {
        Self {
            arms: super::chebcb_default_arms(),
            degree: 5,
            omega_degree: 6,
            omega_scale: OmegaScale::LogGap,
            interval,
            scale: ContextScale::Linear,
            ridge: 1.0,
            pooled_ridge: 0.1,
            gamma: 3.0,
            refit_fraction: default_refit_fraction(),
            seed: 0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_arms(&self.arms)?;
        let (a, b) = self.interval;
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb context interval must be finite with a < b, got [{a}, {b}]"
            )));
        }
        if self.scale == ContextScale::Log && a <= 0.0 {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb log context scale needs a positive interval, got [{a}, {b}]"
            )));
        }
        if self.degree > MAX_DEGREE || self.omega_degree > MAX_DEGREE {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb degrees must be at most {MAX_DEGREE}, got {} and {}",
                self.degree, self.omega_degree
            )));
        }
        for (name, v) in [
            ("ridge", self.ridge),
            ("pooled_ridge", self.pooled_ridge),
            ("gamma", self.gamma),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(SparseError::InvalidParameter(format!(
                    "chebcb {name} must be finite and > 0, got {v}"
                )));
            }
        }
        if !(self.refit_fraction.is_finite() && (0.0..=1.0).contains(&self.refit_fraction)) {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb refit_fraction must be in [0, 1], got {}",
                self.refit_fraction
            )));
        }
        Ok(())
    }

    /// The ω degree actually used: at most (number of distinct arms − 1).
    fn effective_omega_degree(&self) -> usize {
        let mut distinct = self.arms.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        self.omega_degree.min(distinct.len().saturating_sub(1))
    }

    /// The ridge of context degree k of an arm's own fit.
    fn arm_ridge(&self, k: usize) -> f64 {
        self.ridge * ((1 + k) * (1 + k)) as f64
    }
}

/// The choice between `choose` and `observe`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Pending {
    arm: usize,
    features: Vec<f64>,
    predicted: f64,
}

/// The ChebCB contextual bandit (see the module docs). Serializable: a resumed tuner
/// continues exactly as the original would have.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChebCb {
    opts: ChebCbOptions,
    /// Per arm, the Gram matrix Σ φφᵀ of its contexts (row-major p×p; only the lower
    /// triangle is kept up to date, the only part read).
    arm_gram: Vec<Vec<f64>>,
    /// Per arm, Σ φ y.
    arm_moments: Vec<Vec<f64>>,
    /// Per arm, observations.
    counts: Vec<u64>,
    /// Per arm, (G_i + Λ)⁻¹ (row-major p×p), updated by rank-one steps between pooled refits.
    /// Empty in states saved before it existed; rebuilt from `arm_gram` then.
    #[serde(default)]
    arm_inverse: Vec<Vec<f64>>,
    /// Per arm, the fitted coefficients θ_i (p each): ŷ_i(c) = θ_i·φ(c).
    theta: Vec<Vec<f64>>,
    /// Pooled model coefficients (index k·q + j for context degree k, ω degree j).
    pooled_theta: Vec<f64>,
    /// ψ(ω_i) for every arm (d × q).
    omega_features: Vec<Vec<f64>>,
    /// Rounds observed.
    rounds: u64,
    /// The round count at which the pooled model is refit next.
    next_refit: u64,
    /// Σ (ŷ − y)² of the arm played.
    sq_err_sum: f64,
    rng: Pcg32,
    pending: Option<Pending>,
    /// Scratch for the per-arm predictions and probabilities of `choose` (not state).
    #[serde(skip)]
    scratch: Vec<f64>,
    /// A spare feature buffer, so a round allocates nothing (not state).
    #[serde(skip)]
    spare_features: Vec<f64>,
    /// `theta` transposed, coefficient-major (`[k·d + i]` = coefficient k of arm i), for
    /// `choose` (not state; kept in step with `theta`, rebuilt when its length is off).
    #[serde(skip)]
    theta_t: Vec<f64>,
}

/// Writes θ_i·φ for every arm into `out` (θ stored coefficient-major: `theta_t[k·d + i]` is
/// coefficient k of arm i, so each pass over the arms is a vectorizable axpy); returns the
/// index and value of the smallest.
fn predict_all(theta_t: &[f64], phi: &[f64], out: &mut Vec<f64>) -> (usize, f64) {
    let d = theta_t.len() / phi.len().max(1);
    out.clear();
    out.resize(d, 0.0);
    for (k, row) in theta_t.chunks_exact(d).enumerate() {
        let f = phi[k];
        for (y, t) in out.iter_mut().zip(row) {
            *y += f * t;
        }
    }
    let (mut best, mut ybest) = (0, f64::INFINITY);
    for (i, &y) in out.iter().enumerate() {
        if y < ybest {
            (best, ybest) = (i, y);
        }
    }
    (best, ybest)
}

/// Chebyshev polynomials T_0..T_{n−1} at u ∈ [−1, 1], written into `out`.
fn chebyshev_into(u: f64, out: &mut [f64]) {
    let n = out.len();
    if n > 0 {
        out[0] = 1.0;
    }
    if n > 1 {
        out[1] = u;
    }
    for k in 2..n {
        out[k] = 2.0 * u * out[k - 1] - out[k - 2];
    }
}

/// Chebyshev polynomials T_0..T_{n−1} at u ∈ [−1, 1].
fn chebyshev(u: f64, n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n];
    chebyshev_into(u, &mut t);
    t
}

/// Overwrites the lower triangle of `m` (n×n, row-major) with its Cholesky factor L
/// (m = L Lᵀ). Returns false when `m` is not numerically positive definite.
fn cholesky_factor(m: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        let d = d.sqrt();
        m[j * n + j] = d;
        for i in j + 1..n {
            let mut s = m[i * n + j];
            for k in 0..j {
                s -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = s / d;
        }
    }
    true
}

/// Solves L Lᵀ x = b in place for the factor `l` of [`cholesky_factor`].
fn cholesky_substitute(l: &[f64], b: &mut [f64]) {
    let n = b.len();
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves `m x = b` in place (x overwrites b) for a symmetric positive definite `m` (n×n,
/// row-major; only its lower triangle is read, and overwritten by the Cholesky factor).
/// Returns false when `m` is not numerically positive definite.
fn cholesky_solve(m: &mut [f64], b: &mut [f64]) -> bool {
    if !cholesky_factor(m, b.len()) {
        return false;
    }
    cholesky_substitute(m, b);
    true
}

impl ChebCb {
    /// A tuner with the given options (checked).
    pub fn new(opts: ChebCbOptions) -> Result<Self> {
        opts.validate()?;
        let d = opts.arms.len();
        let p = opts.degree + 1;
        let q = opts.effective_omega_degree() + 1;
        let big = p * q;
        let (vlo, vhi) = opts
            .arms
            .iter()
            .map(|&w| opts.omega_scale.value(w))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        let omega_features = opts
            .arms
            .iter()
            .map(|&w| {
                let v = opts.omega_scale.value(w);
                let u = if vhi > vlo {
                    (2.0 * (v - vlo) / (vhi - vlo) - 1.0).clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                chebyshev(u, q)
            })
            .collect();
        let mut tuner = Self {
            arm_gram: vec![vec![0.0; p * p]; d],
            arm_moments: vec![vec![0.0; p]; d],
            counts: vec![0; d],
            theta: vec![vec![0.0; p]; d],
            pooled_theta: vec![0.0; big],
            omega_features,
            rounds: 0,
            next_refit: 1,
            sq_err_sum: 0.0,
            arm_inverse: Vec::new(),
            rng: Pcg32::seed_from_u64(opts.seed),
            pending: None,
            scratch: Vec::new(),
            spare_features: Vec::new(),
            theta_t: Vec::new(),
            opts,
        };
        tuner.rebuild_arm_caches();
        Ok(tuner)
    }

    /// The options.
    pub fn options(&self) -> &ChebCbOptions {
        &self.opts
    }

    /// Rounds observed so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Observations of each arm so far.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Predicted iteration counts of every arm at `context` (the model's own view).
    pub fn predict_iterations(&self, context: f64) -> Result<Vec<f64>> {
        let phi = self.features(context)?;
        Ok(self
            .predict_log(&phi)
            .into_iter()
            .map(|y| y.exp() - 1.0)
            .collect())
    }

    /// Checks a deserialized state for consistency (states saved before the per-arm caches
    /// existed are valid: the caches are rebuilt on first use).
    pub fn validate(&self) -> Result<()> {
        self.opts.validate()?;
        let d = self.opts.arms.len();
        let p = self.opts.degree + 1;
        let q = self.opts.effective_omega_degree() + 1;
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        let all =
            |v: &[Vec<f64>], n: usize| v.len() == d && v.iter().all(|m| m.len() == n && finite(m));
        let ok = all(&self.arm_gram, p * p)
            && all(&self.arm_moments, p)
            && all(&self.theta, p)
            && all(&self.omega_features, q)
            && self.counts.len() == d
            && self.pooled_theta.len() == p * q
            && finite(&self.pooled_theta)
            && self.sq_err_sum.is_finite()
            && (self.arm_inverse.is_empty() || all(&self.arm_inverse, p * p))
            && self
                .pending
                .as_ref()
                .is_none_or(|x| x.arm < d && x.features.len() == p);
        if ok {
            Ok(())
        } else {
            Err(SparseError::InvalidParameter(
                "invalid chebcb state: inconsistent sizes or non-finite values".into(),
            ))
        }
    }

    /// Chebyshev features T_0..T_degree of the context mapped to [−1, 1].
    fn features(&self, context: f64) -> Result<Vec<f64>> {
        let mut phi = vec![0.0; self.opts.degree + 1];
        self.features_into(context, &mut phi)?;
        Ok(phi)
    }

    /// [`Self::features`] written into `out` (length degree + 1).
    fn features_into(&self, context: f64, out: &mut [f64]) -> Result<()> {
        let (a, b) = self.opts.interval;
        let slack = 1e-12 * (b - a);
        if !context.is_finite() || context < a - slack || context > b + slack {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb: context {context} is outside the declared interval [{a}, {b}]"
            )));
        }
        let u = (2.0 * self.opts.scale.position(context, a, b) - 1.0).clamp(-1.0, 1.0);
        chebyshev_into(u, out);
        Ok(())
    }

    /// Predicted log cost of every arm for context features `phi`: one dot product per arm.
    fn predict_log(&self, phi: &[f64]) -> Vec<f64> {
        self.theta
            .iter()
            .map(|t| t.iter().zip(phi).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// Recomputes every arm's exact fit θ_i = (G_i + Λ)⁻¹ (h_i + Λ θ_prior), θ_prior the
    /// pooled model at ω_i, and its cached (G_i + Λ)⁻¹, by Cholesky: after each pooled refit,
    /// and when a saved state lacks the cache.
    fn rebuild_arm_caches(&mut self) {
        const N: usize = MAX_DEGREE + 1;
        let p = self.opts.degree + 1;
        let d = self.opts.arms.len();
        let q = self.pooled_theta.len() / p;
        self.arm_inverse.resize(d, Vec::new());
        for i in 0..d {
            let psi = &self.omega_features[i];
            let prior: Vec<f64> = (0..p)
                .map(|k| {
                    let t: f64 = (0..q).map(|j| self.pooled_theta[k * q + j] * psi[j]).sum();
                    self.opts.arm_ridge(k) * t
                })
                .collect();
            let mut m = [0.0; N * N];
            m[..p * p].copy_from_slice(&self.arm_gram[i]);
            for k in 0..p {
                m[k * p + k] += self.opts.arm_ridge(k);
            }
            // G_i + Λ is positive definite (Λ > 0); keep the old caches should rounding
            // ever say otherwise.
            if !cholesky_factor(&mut m[..p * p], p) {
                continue;
            }
            let mut inverse = vec![0.0; p * p];
            let mut column = [0.0; N];
            for c in 0..p {
                column[..p].iter_mut().enumerate().for_each(|(r, v)| {
                    *v = if r == c { 1.0 } else { 0.0 };
                });
                cholesky_substitute(&m[..p * p], &mut column[..p]);
                for r in 0..p {
                    inverse[r * p + c] = column[r];
                }
            }
            let mut rhs = [0.0; N];
            for k in 0..p {
                rhs[k] = self.arm_moments[i][k] + prior[k];
            }
            cholesky_substitute(&m[..p * p], &mut rhs[..p]);
            self.theta[i].copy_from_slice(&rhs[..p]);
            self.arm_inverse[i] = inverse;
        }
        self.flatten_theta();
    }

    /// Copies `theta` into `theta_t`.
    fn flatten_theta(&mut self) {
        let d = self.theta.len();
        let p = self.opts.degree + 1;
        self.theta_t.resize(d * p, 0.0);
        for (i, t) in self.theta.iter().enumerate() {
            for (k, v) in t.iter().enumerate() {
                self.theta_t[k * d + i] = *v;
            }
        }
    }

    /// Rebuilds what a deserialized state does not carry: the per-arm inverses (states saved
    /// before they existed) and the flat coefficients.
    fn ensure_caches(&mut self) {
        if self.arm_inverse.len() != self.opts.arms.len() {
            self.rebuild_arm_caches();
        } else if self.theta_t.len() != self.opts.arms.len() * (self.opts.degree + 1) {
            self.flatten_theta();
        }
    }

    /// Adds the observation (φ, y) to arm `i`'s fit by recursive least squares: with
    /// P = (G_i + Λ)⁻¹ and u = Pφ, P ← P − uuᵀ/(1 + φᵀu) and θ_i ← θ_i + u (y − φᵀθ_i)/(1 + φᵀu),
    /// which is the ridge solution with (φ, y) included.
    fn update_arm(&mut self, i: usize, phi: &[f64], y: f64) {
        const N: usize = MAX_DEGREE + 1;
        let p = phi.len();
        let inverse = &mut self.arm_inverse[i];
        let mut u = [0.0; N];
        for (r, ur) in u.iter_mut().enumerate().take(p) {
            *ur = inverse[r * p..(r + 1) * p]
                .iter()
                .zip(phi)
                .map(|(a, b)| a * b)
                .sum();
        }
        let denom = 1.0 + phi.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>();
        let d = self.theta.len();
        let theta = &mut self.theta[i];
        let residual = y - theta.iter().zip(phi).map(|(a, b)| a * b).sum::<f64>();
        let scale = 1.0 / denom;
        for r in 0..p {
            let ur = u[r] * scale;
            theta[r] += ur * residual;
            self.theta_t[r * d + i] = theta[r];
            for c in 0..p {
                inverse[r * p + c] -= ur * u[c];
            }
        }
    }

    /// Refits the pooled model on every observation so far, then every arm's own fit.
    fn refit_pooled(&mut self) {
        let p = self.opts.degree + 1;
        let q = self.pooled_theta.len() / p;
        let big = p * q;
        // Σ ξξᵀ = Σ_i G_i ⊗ ψ_iψ_iᵀ, rebuilt from the per-arm Gram matrices: O(d p² q²) per
        // refit, which the geometric schedule makes negligible, and nothing per round.
        let mut m = vec![0.0; big * big];
        for (gram, psi) in self.arm_gram.iter().zip(&self.omega_features) {
            // Only the lower triangle (row ≥ column), which is all the Cholesky solve reads.
            for k in 0..p {
                for l in 0..=k {
                    let g = gram[k * p + l];
                    if g == 0.0 {
                        continue;
                    }
                    for j in 0..q {
                        let row = (k * q + j) * big + l * q;
                        let gj = g * psi[j];
                        let width = if l == k { j + 1 } else { q };
                        for (entry, s) in m[row..row + width].iter_mut().zip(psi) {
                            *entry += gj * s;
                        }
                    }
                }
            }
        }
        let mut rhs = vec![0.0; big];
        for k in 0..p {
            for j in 0..q {
                let idx = k * q + j;
                m[idx * big + idx] += if idx == 0 {
                    1e-6
                } else {
                    self.opts.pooled_ridge * (((1 + k) * (1 + j)) as f64).powi(2)
                };
                rhs[idx] = (0..self.arm_moments.len())
                    .map(|i| self.arm_moments[i][k] * self.omega_features[i][j])
                    .sum();
            }
        }
        if cholesky_solve(&mut m, &mut rhs) {
            self.pooled_theta = rhs;
        }
        self.rebuild_arm_caches();
    }
}

impl Tuner for ChebCb {
    fn name(&self) -> String {
        "chebcb".into()
    }

    /// Needs `context.value` inside the declared interval.
    fn choose(&mut self, context: &Context<'_>) -> Result<f64> {
        if self.pending.is_some() {
            return Err(unobserved("chebcb"));
        }
        let c = context.value.ok_or_else(|| {
            SparseError::InvalidParameter(
                "chebcb is contextual: give a context value (Context::scalar)".into(),
            )
        })?;
        self.ensure_caches();
        let mut phi = std::mem::take(&mut self.spare_features);
        phi.resize(self.opts.degree + 1, 0.0);
        self.features_into(c, &mut phi)?;
        // The probabilities overwrite the predictions (one buffer, kept between rounds).
        let mut probs = std::mem::take(&mut self.scratch);
        let (best, ybest) = predict_all(&self.theta_t, &phi, &mut probs);
        let d = probs.len();
        let t = self.rounds as f64;
        let mse = if self.rounds > 0 {
            (self.sq_err_sum / t).max(1e-4)
        } else {
            1.0
        };
        let gamma = self.opts.gamma * (d as f64 * t / mse).sqrt();
        probs
            .iter_mut()
            .for_each(|y| *y = 1.0 / (d as f64 + gamma * (*y - ybest)));
        probs[best] = 0.0;
        let others: f64 = probs.iter().sum();
        probs[best] = (1.0 - others).max(0.0);
        let arm = sample_index(&probs, self.rng.gen::<f64>());
        self.scratch = probs;
        self.pending = Some(Pending {
            arm,
            predicted: self.theta[arm].iter().zip(&phi).map(|(a, b)| a * b).sum(),
            features: phi,
        });
        Ok(self.opts.arms[arm])
    }

    fn observe(&mut self, cost: f64) -> Result<()> {
        check_cost(cost)?;
        let x = self
            .pending
            .take()
            .ok_or_else(|| nothing_chosen("chebcb"))?;
        self.ensure_caches();
        let y = cost.ln_1p();
        let phi = &x.features;
        let p = phi.len();
        // The lower triangle only: all that the Cholesky factorizations read.
        let gram = &mut self.arm_gram[x.arm][..p * p];
        for (k, row) in gram.chunks_exact_mut(p).enumerate() {
            for (g, f) in row[..=k].iter_mut().zip(phi) {
                *g += phi[k] * f;
            }
        }
        for (h, f) in self.arm_moments[x.arm].iter_mut().zip(phi) {
            *h += f * y;
        }
        self.counts[x.arm] += 1;
        self.rounds += 1;
        self.sq_err_sum += (x.predicted - y).powi(2);
        if self.rounds >= self.next_refit {
            self.refit_pooled();
            let gap = (self.opts.refit_fraction * self.rounds as f64).floor() as u64;
            self.next_refit = self.rounds + gap.max(1);
        } else {
            self.update_arm(x.arm, phi, y);
        }
        self.spare_features = x.features;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solve_matches_a_direct_solution() {
        // [[4, 2], [2, 3]] x = [2, 1] has x = [0.5, 0].
        let mut m = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_solve(&mut m, &mut b));
        assert!((b[0] - 0.5).abs() < 1e-14 && b[1].abs() < 1e-14, "{b:?}");
        assert!(!cholesky_solve(&mut [1.0, 2.0, 2.0, 1.0], &mut [0.0, 0.0]));
    }

    #[test]
    fn periodic_pooled_refits_match_refitting_every_round_at_refit_times() {
        // The pooled model built from per-arm statistics equals the one refit every round.
        let mut rng = Pcg32::seed_from_u64(11);
        let obs: Vec<(f64, f64)> = (0..300)
            .map(|_| (rng.gen::<f64>(), rng.gen_range(5.0..500.0)))
            .collect();
        let mut lazy_opts = ChebCbOptions::new((0.0, 1.0));
        lazy_opts.refit_fraction = 0.25;
        let mut eager_opts = lazy_opts.clone();
        eager_opts.refit_fraction = 0.0;
        let (mut lazy, mut eager) = (
            ChebCb::new(lazy_opts).unwrap(),
            ChebCb::new(eager_opts).unwrap(),
        );
        for &(c, cost) in &obs {
            // Same arm for both (the eager one's choice), so both see identical data.
            let w = eager.choose(&Context::scalar(c)).unwrap();
            eager.observe(cost * w).unwrap();
            let _ = lazy.choose(&Context::scalar(c)).unwrap();
            let arm = lazy.opts.arms.iter().position(|&a| a == w).unwrap();
            lazy.pending.as_mut().unwrap().arm = arm;
            lazy.observe(cost * w).unwrap();
            if lazy.next_refit == lazy.rounds + ((lazy.rounds as f64 * 0.25) as u64).max(1) {
                // Just refit: identical coefficients up to rounding.
                for (a, b) in lazy.pooled_theta.iter().zip(&eager.pooled_theta) {
                    assert!((a - b).abs() <= 1e-8 * (1.0 + b.abs()), "{a} vs {b}");
                }
            }
        }
        assert!(lazy.next_refit > 300 && lazy.rounds == 300);
    }

    #[test]
    fn recursive_arm_updates_equal_direct_ridge_fits() {
        let mut opts = ChebCbOptions::new((-0.15, 0.45));
        opts.refit_fraction = 1.0;
        let mut t = ChebCb::new(opts).unwrap();
        let mut rng = Pcg32::seed_from_u64(5);
        for _ in 0..3000 {
            let c = rng.gen_range(-0.15..0.45);
            let w = t.choose(&Context::scalar(c)).unwrap();
            t.observe((30.0 / (2.0 - w) * (1.0 + c)).round()).unwrap();
        }
        // 3000 rounds since the refit at 2048: every played arm was updated recursively.
        let mut direct = t.clone();
        direct.rebuild_arm_caches();
        for (a, b) in t.theta.iter().flatten().zip(direct.theta.iter().flatten()) {
            assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for (a, b) in t
            .arm_inverse
            .iter()
            .flatten()
            .zip(direct.arm_inverse.iter().flatten())
        {
            assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn states_saved_without_the_inverse_cache_resume_identically() {
        let mut t = ChebCb::new(ChebCbOptions::new((0.0, 1.0))).unwrap();
        for r in 0..40 {
            let c = (r as f64 * 0.37) % 1.0;
            let w = t.choose(&Context::scalar(c)).unwrap();
            t.observe(10.0 + 20.0 * (w - 1.5).abs() + c).unwrap();
        }
        let mut old: serde_json::Value = serde_json::to_value(&t).unwrap();
        old.as_object_mut().unwrap().remove("arm_inverse");
        let mut resumed: ChebCb = serde_json::from_value(old).unwrap();
        resumed.validate().unwrap();
        for c in [0.1, 0.5, 0.9] {
            assert_eq!(
                t.choose(&Context::scalar(c)).unwrap(),
                resumed.choose(&Context::scalar(c)).unwrap()
            );
            t.observe(12.0).unwrap();
            resumed.observe(12.0).unwrap();
        }
    }

    #[test]
    fn learns_a_context_dependent_best_arm() {
        // Arm 0 is best for contexts below 0.5, arm 1 above.
        let mut opts = ChebCbOptions::new((0.0, 1.0));
        opts.arms = vec![1.2, 1.8];
        opts.degree = 3;
        let mut t = ChebCb::new(opts).unwrap();
        let mut rng = Pcg32::seed_from_u64(3);
        for _ in 0..2000 {
            let c: f64 = rng.gen();
            let w = t.choose(&Context::scalar(c)).unwrap();
            let cost = if (w < 1.5) == (c < 0.5) { 10.0 } else { 40.0 };
            t.observe(cost).unwrap();
        }
        let low = t.predict_iterations(0.1).unwrap();
        let high = t.predict_iterations(0.9).unwrap();
        assert!(low[0] < low[1], "{low:?}");
        assert!(high[1] < high[0], "{high:?}");
    }
}
