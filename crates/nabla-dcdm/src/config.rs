//! The `task = "dcdm"` run config.

use crate::data::DataConfig;
use crate::{DcdmError, Result};
use nabla_core::GridShape;
use nabla_nn::optim::LrSchedule;
use nabla_nn::UNetConfig;
use serde::{Deserialize, Serialize};

/// A whole DCDM training config (TOML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcdmConfig {
    /// Always `"dcdm"`.
    pub task: String,
    /// `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The training grid, `NXxNY` (or `NXxNYxNZ`).
    pub grid: String,
    /// The training set.
    pub data: DataConfig,
    /// The network (`nabla_nn::UNetConfig`; `dim` follows the grid when left out).
    #[serde(default)]
    pub model: UNetConfig,
    /// Optimization.
    pub train: DcdmTrainConfig,
    /// The check run after training (DCDM and CG on random right-hand sides).
    #[serde(default)]
    pub eval: EvalConfig,
}

fn default_device() -> String {
    "cpu".into()
}

/// `[train]`: Adam on minibatches of the training set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcdmTrainConfig {
    /// Seed of the minibatch draws.
    #[serde(default)]
    pub seed: u64,
    /// Adam steps.
    pub steps: usize,
    /// Samples per step.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Learning rate (the paper: 1e-4).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Learning-rate schedule over the steps.
    #[serde(default)]
    pub schedule: LrSchedule,
    /// `residual` (the paper's ‖b − A q (qᵀb)/(qᵀAq)‖²) or `energy` (the A-norm version,
    /// 1 − (qᵀb)²/(qᵀAq · bᵀA⁻¹b), with bᵀA⁻¹b of every sample from an mg-pcg solve).
    #[serde(default)]
    pub loss: LossKind,
    /// Samples held out of training for the `val_loss` metric.
    #[serde(default = "default_validation")]
    pub validation: usize,
    /// Steps between metric rows.
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Steps between checkpoints.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Progress bar.
    #[serde(default = "yes")]
    pub progress: bool,
}

/// The training loss of a DCDM run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// ‖b − A q (qᵀb)/(qᵀAq)‖² (the paper's).
    #[default]
    Residual,
    /// 1 − (qᵀb)²/(qᵀAq · bᵀA⁻¹b): the relative A-norm error after one step, squared.
    Energy,
}

fn default_batch() -> usize {
    8
}
fn default_lr() -> f64 {
    1e-3
}
fn default_validation() -> usize {
    32
}
fn default_log_every() -> usize {
    50
}
fn default_checkpoint_every() -> usize {
    200
}
fn yes() -> bool {
    true
}

/// `[eval]`: the solves run on the training grid after training, reported in summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Relative tolerance.
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// Number of random right-hand sides (uniform in [−1, 1], seeds 0, 1, …).
    #[serde(default = "one")]
    pub rhs: usize,
    /// Iteration cap of the DCDM solves.
    #[serde(default = "default_max_iters")]
    pub max_iters: usize,
}

fn default_tol() -> f64 {
    1e-6
}
fn one() -> usize {
    1
}
fn default_max_iters() -> usize {
    1000
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            tol: default_tol(),
            rhs: 1,
            max_iters: default_max_iters(),
        }
    }
}

impl DcdmConfig {
    /// The training grid.
    pub fn grid_shape(&self) -> Result<GridShape> {
        let g: GridShape = self
            .grid
            .parse()
            .map_err(|e: nabla_core::CoreError| DcdmError::config("grid", e.to_string()))?;
        if !(2..=3).contains(&g.ndim()) {
            return Err(DcdmError::config("grid", "must be 2-D or 3-D"));
        }
        Ok(g)
    }

    /// A rough upper estimate of training memory in bytes: the U-Net's feature maps (every
    /// conv of every level kept for the backward pass, the pyramid at most doubling the finest
    /// level) for a batch, its weights with Adam state, and the training set (right-hand sides
    /// and masks on the grid).
    pub fn memory_estimate_bytes(&self) -> f64 {
        let cells = self
            .grid
            .parse::<nabla_core::grid::GridShape>()
            .map_or(0.0, |g| g.len() as f64);
        let m = &self.model;
        let (c, bytes) = (m.channels as f64, m.precision.bytes() as f64);
        let features =
            2.0 * cells * c * (2.0 * m.convs as f64 + 2.0) * self.train.batch_size as f64;
        let weights = m.levels as f64 * m.convs as f64 * 2.0 * 9.0 * c * c;
        let data = self.data.samples as f64 * cells * 16.0;
        3.0 * features * bytes + 4.0 * weights * bytes + data
    }

    /// Checks every section; errors name the key. Sets `model.dim` from the grid.
    pub fn validate(&mut self) -> Result<()> {
        if self.task != "dcdm" {
            return Err(DcdmError::config("task", "must be \"dcdm\""));
        }
        let g = self.grid_shape()?;
        self.model.dim = g.ndim();
        self.data.validate()?;
        self.model.validate().map_err(|e| match e {
            nabla_nn::NnError::Invalid { what, reason } => {
                DcdmError::config(&format!("model.{what}"), reason)
            }
            other => DcdmError::Nn(other),
        })?;
        let t = &self.train;
        if t.steps == 0 {
            return Err(DcdmError::config("train.steps", "must be ≥ 1"));
        }
        if t.batch_size == 0 {
            return Err(DcdmError::config("train.batch_size", "must be ≥ 1"));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(DcdmError::config("train.lr", "must be finite and > 0"));
        }
        if t.log_every == 0 {
            return Err(DcdmError::config("train.log_every", "must be ≥ 1"));
        }
        if t.validation >= self.data.samples {
            return Err(DcdmError::config(
                "train.validation",
                format!(
                    "holds out {} of data.samples = {}; leave some to train on",
                    t.validation, self.data.samples
                ),
            ));
        }
        let e = &self.eval;
        if !(e.tol.is_finite() && e.tol > 0.0 && e.tol < 1.0) {
            return Err(DcdmError::config("eval.tol", "must be in (0, 1)"));
        }
        if e.max_iters == 0 {
            return Err(DcdmError::config("eval.max_iters", "must be ≥ 1"));
        }
        Ok(())
    }
}
