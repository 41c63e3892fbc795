//! The `task = "inverse"` run config: a PDEInvBench folder, the observation window, the
//! encoder, supervised training and test-time tuning.

use crate::config::OperatorTrainConfig;
use crate::{OperatorError, Result};
use nabla_nn::Precision;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A whole parameter-estimation config (TOML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverseConfig {
    /// Always `"inverse"`.
    pub task: String,
    /// `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The data-set folder and the observation windows.
    pub data: InverseDataConfig,
    /// The encoder.
    pub model: EncoderConfig,
    /// Supervised training (epochs over the training windows, Adam, schedule).
    pub train: OperatorTrainConfig,
    /// Test-time tuning with the PDE residual.
    #[serde(default)]
    pub tuning: TuningConfig,
}

fn default_device() -> String {
    "cpu".into()
}

/// How the boundary of reaction–diffusion data is treated in derivatives and residuals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoundaryChoice {
    /// The file's `boundary` attribute (`neumann` or `periodic`); Neumann (PDEBench) when absent.
    Auto,
    /// Zero flux: mirrored ghost cells.
    Neumann,
    /// Periodic.
    Periodic,
}

/// `[data]`: where the trajectories come from and what the encoder sees of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverseDataConfig {
    /// A PDEInvBench-layout folder (`train/`, `validation/`, `test/`,
    /// `out_of_distribution/`, `out_of_distribution_extreme/`), as `nabla datagen
    /// reaction-diffusion|kdv` writes it.
    pub folder: PathBuf,
    /// Consecutive frames per window (≥ 3: the time derivative at the window's centre frame
    /// is a central difference, of 4th order from 5 frames on).
    #[serde(default = "default_n_past")]
    pub n_past: usize,
    /// Append finite-difference derivative channels at the centre frame (reaction–diffusion:
    /// u_t, v_t, Δu, Δv; KdV: u_t, u_x, u_xxx, u·u_x).
    #[serde(default = "yes")]
    pub derivatives: bool,
    /// Frames between the starts of consecutive training windows of a trajectory.
    #[serde(default = "default_stride")]
    pub window_stride: usize,
    /// Windows per validation/test trajectory, evenly spread over it.
    #[serde(default = "default_eval_windows")]
    pub eval_windows: usize,
    /// Keep every k-th grid point per axis (1 = full resolution).
    #[serde(default = "one")]
    pub subsample: usize,
    /// Reaction–diffusion boundary (default `auto`: the file's attribute).
    #[serde(default = "default_boundary")]
    pub boundary: BoundaryChoice,
    /// KdV: Fourier modes |l| ≤ this kept in the residual (the frames are 0.72 apart, so
    /// the time derivative is only accurate for slow, low modes; 0 keeps all).
    #[serde(default = "default_residual_modes")]
    pub residual_modes: usize,
}

fn default_n_past() -> usize {
    5
}
fn yes() -> bool {
    true
}
fn default_stride() -> usize {
    10
}
fn default_eval_windows() -> usize {
    4
}
fn one() -> usize {
    1
}
fn default_boundary() -> BoundaryChoice {
    BoundaryChoice::Auto
}
fn default_residual_modes() -> usize {
    12
}

/// `[model]`: an FNO encoder. The FNO maps the window (channels-last) to `features`
/// channels per grid point; their spatial mean goes through an MLP head to one output per
/// parameter z, and φ̂ = exp(c + s·z) with c, s the mean and standard deviation of ln φ over
/// the training set (positive parameters of different scales, errors relative).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// Always `"fno"`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Kept Fourier modes per axis.
    #[serde(default = "default_modes")]
    pub modes: usize,
    /// Channels in the Fourier layers.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Fourier layers.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Hidden width of the FNO's pointwise projection.
    #[serde(default = "default_projection")]
    pub projection: usize,
    /// Channels per point that are pooled (spatial mean) into the head.
    #[serde(default = "default_features")]
    pub features: usize,
    /// Hidden width of the head MLP.
    #[serde(default = "default_head")]
    pub head_hidden: usize,
    /// Precision of the parameters.
    #[serde(default)]
    pub precision: Precision,
    /// Initialisation seed (default `train.seed`).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_kind() -> String {
    "fno".into()
}
fn default_modes() -> usize {
    12
}
fn default_width() -> usize {
    32
}
fn default_layers() -> usize {
    4
}
fn default_projection() -> usize {
    64
}
fn default_features() -> usize {
    64
}
fn default_head() -> usize {
    64
}

/// `[tuning]`: for each evaluated trajectory, Adam on the encoder's weights θ (from the
/// trained θ_frozen) for `steps` steps on
/// ‖F(u; φ̂)‖²/‖u_t‖² + α‖θ − θ_frozen‖²/‖θ_frozen‖², F the PDE residual at the windows'
/// centre frames (PDEInvBench's test-time tuning; the paper uses 50 steps, Adam 1e-5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningConfig {
    /// Adam steps per trajectory (0 = no tuning).
    #[serde(default = "default_tuning_steps")]
    pub steps: usize,
    /// Adam learning rate.
    #[serde(default = "default_tuning_lr")]
    pub lr: f64,
    /// Weight α of the anchor to the trained weights.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_tuning_steps() -> usize {
    50
}
fn default_tuning_lr() -> f64 {
    1e-4
}
fn default_alpha() -> f64 {
    1.0
}

impl Default for TuningConfig {
    fn default() -> Self {
        TuningConfig {
            steps: default_tuning_steps(),
            lr: default_tuning_lr(),
            alpha: default_alpha(),
        }
    }
}

impl InverseConfig {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.task != "inverse" {
            return Err(OperatorError::config(
                "task",
                format!("expected \"inverse\", got \"{}\"", self.task),
            ));
        }
        let d = &self.data;
        if d.n_past < 3 {
            return Err(OperatorError::config(
                "data.n_past",
                format!(
                    "must be ≥ 3 (the time derivative is a central difference), got {}",
                    d.n_past
                ),
            ));
        }
        for (key, v) in [
            ("data.window_stride", d.window_stride),
            ("data.eval_windows", d.eval_windows),
            ("data.subsample", d.subsample),
            ("model.modes", self.model.modes),
            ("model.width", self.model.width),
            ("model.layers", self.model.layers),
            ("model.projection", self.model.projection),
            ("model.features", self.model.features),
            ("model.head_hidden", self.model.head_hidden),
            ("train.epochs", self.train.epochs),
            ("train.batch_size", self.train.batch_size),
            ("train.log_every_epochs", self.train.log_every_epochs),
        ] {
            if v == 0 {
                return Err(OperatorError::config(key, "must be ≥ 1"));
            }
        }
        if self.model.kind != "fno" {
            return Err(OperatorError::config(
                "model.kind",
                format!("expected \"fno\", got \"{}\"", self.model.kind),
            ));
        }
        for (key, v) in [("train.lr", self.train.lr), ("tuning.lr", self.tuning.lr)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(OperatorError::config(key, "must be a positive number"));
            }
        }
        if !(self.tuning.alpha >= 0.0 && self.tuning.alpha.is_finite()) {
            return Err(OperatorError::config(
                "tuning.alpha",
                "must be a finite number ≥ 0",
            ));
        }
        Ok(())
    }
}
