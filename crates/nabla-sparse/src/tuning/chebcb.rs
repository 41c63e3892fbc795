//! ChebCB: a contextual bandit for a scalar context on a known interval [a, b].
//!
//! Each arm's cost is modelled as a Chebyshev polynomial (degree ≤ `degree`) in the context
//! mapped to [−1, 1], fit by regularized least squares to the *log* of past iteration counts
//! (`ln(1 + iterations)`: iteration counts of near-singular instances are orders of magnitude
//! above the rest, and relative errors are what matter).
//!
//! Arms share what they learn: a pooled model, a tensor Chebyshev polynomial in (context, ω)
//! fit to every observation, is the shrinkage target of each arm's own fit (more strongly for
//! higher degrees). An arm with few observations therefore predicts what its neighbours in ω
//! saw at this context, instead of extrapolating its own few points; with data, its own fit
//! takes over. Both fits are kept as recursive least squares (rank-one updates of the inverse
//! regularized Gram matrices), so a round costs O(d·p + P²) flops for d arms, p = degree + 1
//! and P = p·(ω-degree + 1).
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
    /// Seed of the sampling stream.
    pub seed: u64,
}

impl ChebCbOptions {
    /// Defaults for a context interval: the arms `linspace(1, 1.95, 20)`, degree 5 in the
    /// context and 6 in ω, linear context scale, ridge 1, pooled ridge 0.1, γ = 3, seed 0.
    pub fn new(interval: (f64, f64)) -> Self {
        Self {
            arms: super::default_arms(),
            degree: 5,
            omega_degree: 6,
            interval,
            scale: ContextScale::Linear,
            ridge: 1.0,
            pooled_ridge: 0.1,
            gamma: 3.0,
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
        Ok(())
    }

    /// The ω degree actually used: at most (number of distinct arms − 1).
    fn effective_omega_degree(&self) -> usize {
        let mut distinct = self.arms.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        self.omega_degree.min(distinct.len().saturating_sub(1))
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
    /// Per arm, (Σ φφᵀ + Λ)⁻¹ (row-major p×p).
    arm_inv: Vec<Vec<f64>>,
    /// Per arm, Σ φ y.
    arm_moments: Vec<Vec<f64>>,
    /// Per arm, observations.
    counts: Vec<u64>,
    /// Pooled model: (Σ ξξᵀ + Λ₂)⁻¹ with ξ = φ(c) ⊗ ψ(ω) (row-major P×P).
    pooled_inv: Vec<f64>,
    /// Pooled model coefficients (index k·(q+1) + j for context degree k, ω degree j).
    pooled_theta: Vec<f64>,
    /// ψ(ω_i) for every arm (d × (q+1)).
    omega_features: Vec<Vec<f64>>,
    /// Rounds observed.
    rounds: u64,
    /// Σ (ŷ − y)² of the arm played.
    sq_err_sum: f64,
    rng: Pcg32,
    pending: Option<Pending>,
}

/// Chebyshev polynomials T_0..T_{n−1} at u ∈ [−1, 1].
fn chebyshev(u: f64, n: usize) -> Vec<f64> {
    let mut t = vec![1.0; n];
    if n > 1 {
        t[1] = u;
    }
    for k in 2..n {
        t[k] = 2.0 * u * t[k - 1] - t[k - 2];
    }
    t
}

/// `m ← m − (m x)(m x)ᵀ / (1 + xᵀ m x)` for symmetric `m` (n×n): the inverse after adding
/// `x xᵀ` (Sherman–Morrison). Returns `m x` before the update and `1 + xᵀ m x`.
fn rank_one_downdate(m: &mut [f64], x: &[f64]) -> (Vec<f64>, f64) {
    let n = x.len();
    let v: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
        .collect();
    let denom = 1.0 + x.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] -= v[i] * v[j] / denom;
        }
    }
    (v, denom)
}

impl ChebCb {
    /// A tuner with the given options (checked).
    pub fn new(opts: ChebCbOptions) -> Result<Self> {
        opts.validate()?;
        let d = opts.arms.len();
        let p = opts.degree + 1;
        let q = opts.effective_omega_degree() + 1;
        let big = p * q;
        let ridge = |k: usize| opts.ridge * ((1 + k) * (1 + k)) as f64;
        let mut arm_inv0 = vec![0.0; p * p];
        for k in 0..p {
            arm_inv0[k * p + k] = 1.0 / ridge(k);
        }
        let mut pooled_inv = vec![0.0; big * big];
        for k in 0..p {
            for j in 0..q {
                let idx = k * q + j;
                let lam = if idx == 0 {
                    1e-6
                } else {
                    opts.pooled_ridge * (((1 + k) * (1 + j)) as f64).powi(2)
                };
                pooled_inv[idx * big + idx] = 1.0 / lam;
            }
        }
        let (wlo, whi) = opts
            .arms
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &w| {
                (l.min(w), h.max(w))
            });
        let omega_features = opts
            .arms
            .iter()
            .map(|&w| {
                let u = if whi > wlo {
                    2.0 * (w - wlo) / (whi - wlo) - 1.0
                } else {
                    0.0
                };
                chebyshev(u, q)
            })
            .collect();
        Ok(Self {
            arm_inv: vec![arm_inv0; d],
            arm_moments: vec![vec![0.0; p]; d],
            counts: vec![0; d],
            pooled_inv,
            pooled_theta: vec![0.0; big],
            omega_features,
            rounds: 0,
            sq_err_sum: 0.0,
            rng: Pcg32::seed_from_u64(opts.seed),
            pending: None,
            opts,
        })
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

    /// Checks a deserialized state for consistency.
    pub fn validate(&self) -> Result<()> {
        self.opts.validate()?;
        let d = self.opts.arms.len();
        let p = self.opts.degree + 1;
        let q = self.opts.effective_omega_degree() + 1;
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        let ok = self.arm_inv.len() == d
            && self.arm_moments.len() == d
            && self.counts.len() == d
            && self.omega_features.len() == d
            && self.arm_inv.iter().all(|g| g.len() == p * p && finite(g))
            && self.arm_moments.iter().all(|m| m.len() == p && finite(m))
            && self
                .omega_features
                .iter()
                .all(|m| m.len() == q && finite(m))
            && self.pooled_inv.len() == (p * q) * (p * q)
            && self.pooled_theta.len() == p * q
            && finite(&self.pooled_inv)
            && finite(&self.pooled_theta)
            && self.sq_err_sum.is_finite()
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
        let (a, b) = self.opts.interval;
        let slack = 1e-12 * (b - a);
        if !context.is_finite() || context < a - slack || context > b + slack {
            return Err(SparseError::InvalidParameter(format!(
                "chebcb: context {context} is outside the declared interval [{a}, {b}]"
            )));
        }
        let u = (2.0 * self.opts.scale.position(context, a, b) - 1.0).clamp(-1.0, 1.0);
        Ok(chebyshev(u, self.opts.degree + 1))
    }

    /// Predicted log cost of every arm for context features `phi`.
    fn predict_log(&self, phi: &[f64]) -> Vec<f64> {
        let p = phi.len();
        let q = self.pooled_theta.len() / p;
        let mut out = Vec::with_capacity(self.opts.arms.len());
        let mut rhs = vec![0.0; p];
        for i in 0..self.opts.arms.len() {
            // θ_i = (G_i + Λ)⁻¹ (h_i + Λ θ_prior), θ_prior the pooled model at ω_i.
            let psi = &self.omega_features[i];
            for (k, (r, h)) in rhs.iter_mut().zip(&self.arm_moments[i]).enumerate() {
                let prior: f64 = (0..q).map(|j| self.pooled_theta[k * q + j] * psi[j]).sum();
                let lam = self.opts.ridge * ((1 + k) * (1 + k)) as f64;
                *r = h + lam * prior;
            }
            let inv = &self.arm_inv[i];
            let mut y = 0.0;
            for k in 0..p {
                let theta_k: f64 = (0..p).map(|l| inv[k * p + l] * rhs[l]).sum();
                y += theta_k * phi[k];
            }
            out.push(y);
        }
        out
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
        let phi = self.features(c)?;
        let yhat = self.predict_log(&phi);
        let d = yhat.len();
        let (best, ybest) =
            yhat.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |acc, (i, y)| {
                        if y < acc.1 {
                            (i, y)
                        } else {
                            acc
                        }
                    },
                );
        let t = self.rounds as f64;
        let mse = if self.rounds > 0 {
            (self.sq_err_sum / t).max(1e-4)
        } else {
            1.0
        };
        let gamma = self.opts.gamma * (d as f64 * t / mse).sqrt();
        let mut probs: Vec<f64> = yhat
            .iter()
            .map(|&y| 1.0 / (d as f64 + gamma * (y - ybest)))
            .collect();
        let others: f64 = probs
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != best)
            .map(|(_, p)| p)
            .sum();
        probs[best] = (1.0 - others).max(0.0);
        let arm = sample_index(&probs, self.rng.gen::<f64>());
        self.pending = Some(Pending {
            arm,
            predicted: yhat[arm],
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
        let y = cost.ln_1p();
        let phi = &x.features;
        // The arm's own fit.
        rank_one_downdate(&mut self.arm_inv[x.arm], phi);
        self.arm_moments[x.arm]
            .iter_mut()
            .zip(phi)
            .for_each(|(h, f)| *h += f * y);
        // The pooled fit, by recursive least squares on ξ = φ ⊗ ψ(ω).
        let psi = &self.omega_features[x.arm];
        let xi: Vec<f64> = phi
            .iter()
            .flat_map(|f| psi.iter().map(move |s| f * s))
            .collect();
        let pred: f64 = xi.iter().zip(&self.pooled_theta).map(|(a, b)| a * b).sum();
        let (v, denom) = rank_one_downdate(&mut self.pooled_inv, &xi);
        let gain = (y - pred) / denom;
        self.pooled_theta
            .iter_mut()
            .zip(&v)
            .for_each(|(t, vi)| *t += gain * vi);
        self.counts[x.arm] += 1;
        self.rounds += 1;
        self.sq_err_sum += (x.predicted - y).powi(2);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sherman_morrison_matches_direct_inverse() {
        // (diag(2, 4) + x xᵀ)⁻¹ with x = (1, 1): [[5, -1], [-1, 3]] / 14.
        let mut m = vec![0.5, 0.0, 0.0, 0.25];
        rank_one_downdate(&mut m, &[1.0, 1.0]);
        let want = [5.0 / 14.0, -1.0 / 14.0, -1.0 / 14.0, 3.0 / 14.0];
        for (a, b) in m.iter().zip(want) {
            assert!((a - b).abs() < 1e-14);
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
