//! Tsallis-INF (Zimmert & Seldin), the non-contextual bandit of "Learning to Relax".
//!
//! K arms ω_1..ω_K. Before round t the learner holds importance-weighted cumulative loss
//! estimates K̂_i and a loss scale s; with η_t = 2/√t it plays arm i with probability
//! p_i = 4 (η_t (K̂_i/s − x))⁻², where the normalizer x < min_i K̂_i/s is found by Newton's
//! method so that Σ p_i = 1. After observing ℓ iterations it sets s = mean(ℓ so far) − 1 and
//! K̂_i += (ℓ − 1)/p_i for the arm played. Its expected total cost approaches that of the best
//! fixed arm in hindsight (regret O(√(KT)) in units of the loss scale).

use super::{check_arms, check_cost, nothing_chosen, sample_index, unobserved, Context, Tuner};
use crate::error::{Result, SparseError};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;
use serde::{Deserialize, Serialize};

/// The arm played and its probability, between `choose` and `observe`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
struct Pending {
    arm: usize,
    prob: f64,
}

/// The Tsallis-INF bandit over a grid of ω (see the module docs). Serializable: a resumed
/// tuner continues exactly as the original would have, random stream included.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TsallisInf {
    arms: Vec<f64>,
    /// Importance-weighted cumulative (loss − 1) per arm.
    k_hat: Vec<f64>,
    /// Rounds observed.
    rounds: u64,
    /// Sum of all observed losses.
    loss_sum: f64,
    rng: Pcg32,
    pending: Option<Pending>,
}

impl TsallisInf {
    /// A tuner over `arms` (each ω in (0, 2), at least one), seeded.
    pub fn new(arms: Vec<f64>, seed: u64) -> Result<Self> {
        check_arms(&arms)?;
        Ok(Self {
            k_hat: vec![0.0; arms.len()],
            arms,
            rounds: 0,
            loss_sum: 0.0,
            rng: Pcg32::seed_from_u64(seed),
            pending: None,
        })
    }

    /// A tuner over the default grid `linspace(1, 1.95, 20)`.
    pub fn with_default_arms(seed: u64) -> Self {
        Self::new(super::default_arms(), seed).expect("the default arm grid is valid")
    }

    /// The arm grid.
    pub fn arms(&self) -> &[f64] {
        &self.arms
    }

    /// Rounds observed so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// The current loss scale s = mean(observed costs) − 1 (1 before any observation or when
    /// that is not positive).
    pub fn scale(&self) -> f64 {
        if self.rounds == 0 {
            return 1.0;
        }
        let s = self.loss_sum / self.rounds as f64 - 1.0;
        if s > 1e-12 {
            s
        } else {
            1.0
        }
    }

    /// The arm probabilities for the next round (sum to 1).
    pub fn probabilities(&self) -> Vec<f64> {
        let eta = 2.0 / ((self.rounds + 1) as f64).sqrt();
        let s = self.scale();
        let losses: Vec<f64> = self.k_hat.iter().map(|k| k / s).collect();
        tsallis_probabilities(&losses, eta)
    }

    /// Checks a deserialized state for consistency.
    pub fn validate(&self) -> Result<()> {
        check_arms(&self.arms)?;
        let bad = |what: &str| {
            Err(SparseError::InvalidParameter(format!(
                "invalid tsallis-inf state: {what}"
            )))
        };
        if self.k_hat.len() != self.arms.len() {
            return bad("loss estimates and arms differ in length");
        }
        if self.k_hat.iter().any(|v| !v.is_finite()) || !self.loss_sum.is_finite() {
            return bad("non-finite loss estimate");
        }
        if let Some(p) = self.pending {
            if p.arm >= self.arms.len() || !(p.prob > 0.0 && p.prob <= 1.0) {
                return bad("pending choice out of range");
            }
        }
        Ok(())
    }
}

/// p_i = 4 (η (L_i − x))⁻² with x < min L found by Newton so that Σp = 1 (then renormalized
/// to remove the last rounding).
pub(crate) fn tsallis_probabilities(losses: &[f64], eta: f64) -> Vec<f64> {
    let lmin = losses.iter().copied().fold(f64::INFINITY, f64::min);
    // At x0 = min L − 2/η the best arm alone has p = 1, so Σp ≥ 1; Σp(x) is increasing and
    // convex on (−∞, min L), so Newton from x0 decreases monotonically to the root.
    let mut x = lmin - 2.0 / eta;
    let mut probs = vec![0.0; losses.len()];
    for _ in 0..100 {
        let mut sum = 0.0;
        let mut deriv = 0.0;
        for (p, &l) in probs.iter_mut().zip(losses) {
            let d = eta * (l - x);
            *p = 4.0 / (d * d);
            sum += *p;
            deriv += eta * *p * p.sqrt();
        }
        let step = (sum - 1.0) / deriv;
        x -= step;
        if (sum - 1.0).abs() < 1e-13 || step.abs() < 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    let total: f64 = probs.iter().sum();
    if total.is_finite() && total > 0.0 {
        probs.iter_mut().for_each(|p| *p /= total);
    } else {
        let k = probs.len() as f64;
        probs.iter_mut().for_each(|p| *p = 1.0 / k);
    }
    probs
}

impl Tuner for TsallisInf {
    fn name(&self) -> String {
        "tsallis-inf".into()
    }

    /// Samples an arm; the context is ignored.
    fn choose(&mut self, _context: &Context<'_>) -> Result<f64> {
        if self.pending.is_some() {
            return Err(unobserved("tsallis-inf"));
        }
        let probs = self.probabilities();
        let arm = sample_index(&probs, self.rng.gen::<f64>());
        self.pending = Some(Pending {
            arm,
            prob: probs[arm].max(f64::MIN_POSITIVE),
        });
        Ok(self.arms[arm])
    }

    fn observe(&mut self, cost: f64) -> Result<()> {
        check_cost(cost)?;
        let Pending { arm, prob } = self.pending.ok_or_else(|| nothing_chosen("tsallis-inf"))?;
        self.pending = None;
        self.rounds += 1;
        self.loss_sum += cost;
        self.k_hat[arm] += (cost - 1.0) / prob;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_favour_low_loss() {
        let p = tsallis_probabilities(&[0.0, 5.0, 50.0, 500.0], 0.5);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[1] && p[1] > p[2] && p[2] > p[3]);
        let uniform = tsallis_probabilities(&[3.0; 5], 1.0);
        for q in uniform {
            assert!((q - 0.2).abs() < 1e-12);
        }
    }
}
