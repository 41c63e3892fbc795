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
    /// The one-cycle policy (Smith & Topin 2019; PyTorch's `OneCycleLR` with cosine
    /// annealing): from `lr / div_factor` up to `lr` over the first `pct_start` of the stage,
    /// then down to `lr / (div_factor · final_div_factor)` at its last step, both along half
    /// cosines. The warm-up keeps the first steps of a freshly initialised network with batch
    /// norm from jumping; the long tail anneals like `cosine`.
    OneCycle {
        /// Fraction of the stage spent rising, in (0, 1) (default 0.3).
        #[serde(default = "default_pct_start")]
        pct_start: f64,
        /// `lr` over the starting rate (default 25).
        #[serde(default = "default_div_factor")]
        div_factor: f64,
        /// Starting rate over the final rate (default 1e4).
        #[serde(default = "default_final_div_factor")]
        final_div_factor: f64,
    },
}

fn default_pct_start() -> f64 {
    0.3
}

fn default_div_factor() -> f64 {
    25.0
}

fn default_final_div_factor() -> f64 {
    1e4
}

/// `end + (start − end)(1 + cos(π frac)) / 2`: a half cosine from `start` (frac 0) to `end`
/// (frac 1).
fn half_cosine(start: f64, end: f64, frac: f64) -> f64 {
    end + (start - end) * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
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
                half_cosine(lr, min_lr, frac)
            }
            LrSchedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = lr / div_factor;
                let last = initial / final_div_factor;
                // PyTorch's phase ends: the peak at step pct_start·T − 1, the floor at T − 1.
                let peak = pct_start * total as f64 - 1.0;
                let end = total as f64 - 1.0;
                let t = t as f64;
                if t <= peak {
                    half_cosine(initial, lr, if peak > 0.0 { t / peak } else { 1.0 })
                } else if end > peak {
                    // Past the last step the rate stays at its floor.
                    half_cosine(lr, last, ((t - peak) / (end - peak)).min(1.0))
                } else {
                    last
                }
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
            LrSchedule::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                if !(pct_start > 0.0 && pct_start < 1.0) {
                    return Err(NnError::invalid(
                        format!("{prefix}.pct_start"),
                        format!("{pct_start} is not in (0, 1)"),
                    ));
                }
                for (key, v) in [
                    ("div_factor", div_factor),
                    ("final_div_factor", final_div_factor),
                ] {
                    if !(v >= 1.0 && v.is_finite()) {
                        return Err(NnError::invalid(
                            format!("{prefix}.{key}"),
                            format!("{v} is not a finite number ≥ 1"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}
