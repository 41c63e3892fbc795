//! Learning-rate schedules.

use crate::{NnError, Result};

/// How the learning rate of a first-order stage changes with the step `t` (counted from the
/// start of the stage, 0-based) for a stage of `T` steps with base rate `lr`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// `lr`.
    #[default]
    Constant,
    /// `lr · gamma^⌊t / every⌋` (staircase decay).
    Step {
        /// Steps between decays.
        every: usize,
        /// Factor per decay, in (0, 1].
        gamma: f64,
    },
    /// `lr · gamma^(t / every)` (smooth exponential decay).
    Exponential {
        /// Factor per `every` steps, in (0, 1].
        gamma: f64,
        /// Steps over which the rate falls by `gamma` (default 1).
        #[serde(default = "one")]
        every: usize,
    },
    /// `min_lr + (lr − min_lr)(1 + cos(π t / T)) / 2` (cosine annealing over the stage).
    Cosine {
        /// The rate reached at the end of the stage (default 0).
        #[serde(default)]
        min_lr: f64,
    },
}

fn one() -> usize {
    1
}

impl LrSchedule {
    /// The rate at step `t` of a stage of `total` steps with base rate `lr`.
    pub fn lr(&self, lr: f64, t: usize, total: usize) -> f64 {
        match *self {
            LrSchedule::Constant => lr,
            LrSchedule::Step { every, gamma } => lr * gamma.powi((t / every.max(1)) as i32),
            LrSchedule::Exponential { gamma, every } => {
                lr * gamma.powf(t as f64 / every.max(1) as f64)
            }
            LrSchedule::Cosine { min_lr } => {
                let frac = if total == 0 {
                    0.0
                } else {
                    t as f64 / total as f64
                };
                min_lr + (lr - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
            }
        }
    }

    /// Checks the settings; errors name the key under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad_gamma = |g: f64| !(g > 0.0 && g <= 1.0);
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } | LrSchedule::Exponential { gamma, every } => {
                if every == 0 {
                    return Err(NnError::invalid(format!("{prefix}.every"), "must be ≥ 1"));
                }
                if bad_gamma(gamma) {
                    return Err(NnError::invalid(
                        format!("{prefix}.gamma"),
                        format!("{gamma} is not in (0, 1]"),
                    ));
                }
                Ok(())
            }
            LrSchedule::Cosine { min_lr } => {
                if !(min_lr >= 0.0 && min_lr.is_finite()) {
                    return Err(NnError::invalid(
                        format!("{prefix}.min_lr"),
                        format!("{min_lr} is not a non-negative number"),
                    ));
                }
                Ok(())
            }
        }
    }
}
