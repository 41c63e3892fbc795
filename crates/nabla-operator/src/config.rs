//! The `task = "operator"` run config.

use crate::{OperatorError, Result};
use nabla_nn::optim::LrSchedule;
use nabla_nn::{Activation, Precision};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A whole operator-training config (TOML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Always `"operator"` (how `nabla train` tells config kinds apart).
    pub task: String,
    /// `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The data file and split.
    pub data: DataConfig,
    /// The network.
    pub model: ModelConfig,
    /// Optimisation.
    pub train: OperatorTrainConfig,
}

fn default_device() -> String {
    "cpu".into()
}

/// Which pairs (input, target) a file provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// PDEBench 2-D Darcy: `nu` `[N, S, S]` → `tensor` `[N, 1, S, S]`.
    Darcy,
    /// PDEBench 1-D series `tensor` `[N, Nt, Nx]`: the slice at `input_step` → the slice at
    /// `target_step`.
    #[serde(rename = "series-1d")]
    Series1d,
    /// 2-D series `tensor` `[N, Nt, S, S]` (`nabla datagen navier-stokes`), learned
    /// autoregressively: frames `0..input_frames` are the input channels, the model predicts
    /// the next frame from the last `input_frames` ones (its own predictions fed back), and
    /// frames `input_frames..input_frames + output_frames` are the rollout's targets.
    #[serde(rename = "series-2d")]
    Series2d,
}

impl Layout {
    /// The name in configs: `darcy`, `series-1d` or `series-2d`.
    pub fn name(&self) -> &'static str {
        match self {
            Layout::Darcy => "darcy",
            Layout::Series1d => "series-1d",
            Layout::Series2d => "series-2d",
        }
    }
}

/// `[data]`: where the samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The HDF5 file (relative paths are relative to the working directory).
    pub file: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Training samples: the first `train` of the file.
    pub train: usize,
    /// Test samples: the `test` after them.
    pub test: usize,
    /// Keep every k-th grid point per axis (1 = full resolution).
    #[serde(default = "one")]
    pub subsample: usize,
    /// Series-1d: the input time index (default 0).
    #[serde(default)]
    pub input_step: usize,
    /// Series-1d: the target time index; negative counts from the end (default −1, the last).
    #[serde(default = "minus_one")]
    pub target_step: i64,
    /// Series-2d: frames the model reads, T_in (default 10, the FNO paper's Navier–Stokes
    /// set-up): the first `input_frames` frames of each trajectory start the rollout.
    #[serde(default = "ten")]
    pub input_frames: usize,
    /// Series-2d: frames the model predicts autoregressively after them, T_out (default 10):
    /// the rollout's length in training and in the test error.
    #[serde(default = "ten")]
    pub output_frames: usize,
}

impl DataConfig {
    /// Channels of the model's input: `input_frames` for `series-2d`, else 1.
    pub fn in_channels(&self) -> usize {
        match self.layout {
            Layout::Series2d => self.input_frames,
            Layout::Darcy | Layout::Series1d => 1,
        }
    }

    /// Steps of the autoregressive rollout the run trains and measures: `output_frames` for
    /// `series-2d`, `None` for the one-shot layouts.
    pub fn rollout_steps(&self) -> Option<usize> {
        match self.layout {
            Layout::Series2d => Some(self.output_frames),
            Layout::Darcy | Layout::Series1d => None,
        }
    }
}

fn one() -> usize {
    1
}
fn ten() -> usize {
    10
}
fn minus_one() -> i64 {
    -1
}

/// `[model]`: an FNO, a DeepONet or a Latent Spectral Model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ModelConfig {
    /// A Fourier neural operator (`nabla_nn::Fno`); dimension from the layout.
    Fno {
        /// Kept modes per axis (one value is used for every axis).
        modes: Vec<usize>,
        /// Channels in the Fourier layers (default 32).
        #[serde(default = "default_width")]
        width: usize,
        /// Fourier layers (default 4).
        #[serde(default = "default_layers")]
        layers: usize,
        /// Hidden width of the projection (default 128).
        #[serde(default = "default_projection")]
        projection: usize,
        /// Zero padding as a fraction of each axis (non-periodic problems; default 0).
        #[serde(default)]
        padding: f64,
        /// Append grid coordinates as input channels (default true).
        #[serde(default = "yes")]
        grid_channels: bool,
        /// Precision (default f32).
        #[serde(default)]
        precision: Precision,
        /// Initialisation seed (default `train.seed`).
        #[serde(default)]
        seed: Option<u64>,
    },
    /// An unstacked DeepONet (`nabla_nn::DeepONet`): branch MLP on the input at every grid
    /// point, trunk MLP on the coordinates.
    Deeponet {
        /// Branch hidden widths (default [256, 256, 256]).
        #[serde(default = "default_hidden")]
        branch_hidden: Vec<usize>,
        /// Output channels of convolution stages before the branch MLP (3×3 conv, ReLU, 2×2
        /// average pool each; 2-D data only; default none).
        #[serde(default)]
        branch_conv: Vec<usize>,
        /// Trunk hidden widths (default [256, 256, 256]).
        #[serde(default = "default_hidden")]
        trunk_hidden: Vec<usize>,
        /// Basis size p (default 256).
        #[serde(default = "default_basis")]
        basis: usize,
        /// Activation (default gelu).
        #[serde(default = "default_activation")]
        activation: Activation,
        /// Precision (default f32).
        #[serde(default)]
        precision: Precision,
        /// Initialisation seed (default `train.seed`).
        #[serde(default)]
        seed: Option<u64>,
    },
    /// A Latent Spectral Model (`nabla_nn::Lsm`, 2-D data only): a multiscale
    /// encoder–decoder with neural spectral blocks (attention to latent tokens, a learnable
    /// operator in a sin/cos basis) on its skip connections.
    Lsm {
        /// Channels at the finest level (default 32; the paper: 64). A multiple of `heads`.
        #[serde(default = "default_width")]
        width: usize,
        /// Levels of the encoder–decoder (default 5, as the paper).
        #[serde(default = "default_scales")]
        scales: usize,
        /// Latent tokens per head (default 4, as the paper).
        #[serde(default = "default_tokens")]
        latent_tokens: usize,
        /// Trigonometric basis size (default 12, as the paper).
        #[serde(default = "default_lsm_basis")]
        basis: usize,
        /// Patch side in grid cells (default 4; the paper: 6 on Darcy 85², 4 on NS 64²).
        /// Grids are padded up to a multiple of `patch · 2^(scales−1)`.
        #[serde(default = "default_patch")]
        patch: usize,
        /// Attention heads (default 8, as the paper).
        #[serde(default = "default_heads")]
        heads: usize,
        /// Extra zero padding as a fraction of each axis (non-periodic problems; default 0).
        #[serde(default)]
        padding: f64,
        /// Hidden width of the projection (default 128).
        #[serde(default = "default_projection")]
        projection: usize,
        /// Periodic domain (default false): convolutions and upsampling wrap around the
        /// edges instead of zero padding (`nabla_nn::LsmConfig::periodic`); for data on a
        /// torus such as `nabla datagen navier-stokes`. Needs `padding = 0`.
        #[serde(default)]
        periodic: bool,
        /// A learned pointwise linear path from the input channels to the output, starting
        /// as a copy of the last input channel (default false;
        /// `nabla_nn::LsmConfig::linear_skip`): for `series-2d` rollouts, so the network
        /// learns the increment from the newest frame.
        #[serde(default)]
        linear_skip: bool,
        /// Precision (default f32).
        #[serde(default)]
        precision: Precision,
        /// Initialisation seed (default `train.seed`).
        #[serde(default)]
        seed: Option<u64>,
    },
}

impl ModelConfig {
    /// The `kind` key: `fno`, `deeponet` or `lsm`.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Fno { .. } => "fno",
            ModelConfig::Deeponet { .. } => "deeponet",
            ModelConfig::Lsm { .. } => "lsm",
        }
    }
}

fn default_width() -> usize {
    32
}
fn default_scales() -> usize {
    5
}
fn default_tokens() -> usize {
    4
}
fn default_lsm_basis() -> usize {
    12
}
fn default_patch() -> usize {
    4
}
fn default_heads() -> usize {
    8
}
fn default_layers() -> usize {
    4
}
fn default_projection() -> usize {
    128
}
fn yes() -> bool {
    true
}
fn default_hidden() -> Vec<usize> {
    vec![256, 256, 256]
}
fn default_basis() -> usize {
    256
}
fn default_activation() -> Activation {
    Activation::Gelu
}

/// `[train]`: minibatch Adam over epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorTrainConfig {
    /// Seed of the run (shuffling, default initialisation).
    #[serde(default)]
    pub seed: u64,
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step (default 20).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Adam learning rate (default 1e-3).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay (AdamW; default 1e-4 as in the FNO paper's runs).
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
    /// Learning-rate schedule; `every` of a `step` schedule counts **epochs** here.
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Epochs between metric rows with the test error (default 1).
    #[serde(default = "one")]
    pub log_every_epochs: usize,
    /// Epochs between checkpoints (default 5).
    #[serde(default = "default_ckpt")]
    pub checkpoint_every_epochs: usize,
    /// Show a progress bar (default true).
    #[serde(default = "yes")]
    pub progress: bool,
}

fn default_batch() -> usize {
    20
}
fn default_lr() -> f64 {
    1e-3
}
fn default_wd() -> f64 {
    1e-4
}
fn default_ckpt() -> usize {
    5
}

impl ModelConfig {
    /// A rough upper estimate of the activation memory one evaluation keeps for its gradient,
    /// per grid point of the data, in bytes. Calibrated on measured peaks at 64² (FNO-2D width
    /// 20: ~9 MB per sample and evaluation; LSM five scales: ~33·width·4 bytes per point, 17 MB
    /// per sample and evaluation at width 32, since its convolutions, spectral blocks and
    /// projection head keep no intermediate tensors of their own) with a margin.
    pub fn activation_bytes_per_point(&self) -> f64 {
        match self {
            ModelConfig::Fno {
                width,
                layers,
                projection,
                padding,
                precision,
                ..
            } => {
                let pad = (1.0 + padding).powi(2);
                (10.0 * *layers as f64 * *width as f64 * pad + 3.0 * *projection as f64)
                    * precision.bytes() as f64
            }
            ModelConfig::Deeponet {
                trunk_hidden,
                basis,
                precision,
                ..
            } => {
                let trunk: usize = trunk_hidden.iter().sum();
                3.0 * (trunk + basis) as f64 * precision.bytes() as f64
            }
            ModelConfig::Lsm {
                width,
                padding,
                precision,
                ..
            } => {
                let pad = (1.0 + padding).powi(2);
                40.0 * *width as f64 * pad * precision.bytes() as f64
            }
        }
    }

    /// An upper estimate of the memory of the network's parameters with gradients and Adam
    /// state (4 copies), in bytes; FNO spectral weights are counted as for 2-D data (the
    /// larger case), complex, per layer `width² · 2·modes · modes`.
    pub fn parameter_memory_bytes(&self) -> f64 {
        let mlp = |widths: &[f64]| -> f64 { widths.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum() };
        let (params, bytes) = match self {
            ModelConfig::Fno {
                modes,
                width,
                layers,
                projection,
                precision,
                ..
            } => {
                let m = modes.iter().copied().max().unwrap_or(0) as f64;
                let w = *width as f64;
                let spectral = 2.0 * w * w * (2.0 * m) * m;
                let params = *layers as f64 * (spectral + w * w + w)
                    + mlp(&[4.0, w])
                    + mlp(&[w, *projection as f64, 1.0]);
                (params, precision.bytes() as f64)
            }
            ModelConfig::Deeponet {
                branch_hidden,
                branch_conv,
                trunk_hidden,
                basis,
                precision,
                ..
            } => {
                let p = *basis as f64;
                let widths = |hidden: &[usize]| -> Vec<f64> {
                    let mut v = vec![1.0];
                    v.extend(hidden.iter().map(|&h| h as f64));
                    v.push(p);
                    v
                };
                let conv: f64 = branch_conv.iter().map(|&c| 9.0 * (c as f64).powi(2)).sum();
                (
                    mlp(&widths(branch_hidden)) + mlp(&widths(trunk_hidden)) + conv,
                    precision.bytes() as f64,
                )
            }
            ModelConfig::Lsm {
                width,
                scales,
                basis,
                projection,
                precision,
                ..
            } => {
                // Level k has c_k = w·2^min(k, S−2) channels: two 3×3 convolutions in the
                // encoder, two in the decoder (2c_k → c_k → c_k/2), a spectral block (3c_k²
                // for keys, values and queries, 2M·c_k basis weights).
                let w = *width as f64;
                let s = *scales;
                let c = |k: usize| w * 2f64.powi(k.min(s.saturating_sub(2)) as i32);
                let mut params = mlp(&[3.0, w]) + mlp(&[w, w]) + mlp(&[w, *projection as f64, 1.0]);
                for k in 0..s {
                    let ck = c(k);
                    let cin = if k == 0 { w } else { c(k - 1) };
                    params += 9.0 * (cin * ck + ck * ck);
                    params += 3.0 * ck * ck + 2.0 * *basis as f64 * ck;
                    if k + 1 < s {
                        params += 9.0 * (2.0 * ck * ck + ck * ck);
                    }
                }
                (params, precision.bytes() as f64)
            }
        };
        4.0 * params * bytes
    }
}

impl OperatorConfig {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.task != "operator" {
            return Err(OperatorError::config(
                "task",
                format!("expected \"operator\", got \"{}\"", self.task),
            ));
        }
        let d = &self.data;
        if d.train == 0 {
            return Err(OperatorError::config("data.train", "must be ≥ 1"));
        }
        if d.test == 0 {
            return Err(OperatorError::config(
                "data.test",
                "must be ≥ 1 (the test error is what the run reports)",
            ));
        }
        if d.subsample == 0 {
            return Err(OperatorError::config("data.subsample", "must be ≥ 1"));
        }
        if d.layout == Layout::Series2d {
            for (key, v) in [
                ("data.input_frames", d.input_frames),
                ("data.output_frames", d.output_frames),
            ] {
                if v == 0 {
                    return Err(OperatorError::config(
                        key,
                        "must be ≥ 1 (layout = \"series-2d\" rolls frames forward)",
                    ));
                }
            }
            if let ModelConfig::Deeponet { .. } = self.model {
                return Err(OperatorError::config(
                    "model.kind",
                    "deeponet does not take layout = \"series-2d\" (use fno or lsm)",
                ));
            }
        }
        let t = &self.train;
        for (key, v) in [
            ("train.epochs", t.epochs),
            ("train.batch_size", t.batch_size),
            ("train.log_every_epochs", t.log_every_epochs),
        ] {
            if v == 0 {
                return Err(OperatorError::config(key, "must be ≥ 1"));
            }
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(OperatorError::config(
                "train.lr",
                "must be a positive number",
            ));
        }
        if let ModelConfig::Fno { modes, .. } = &self.model {
            if modes.is_empty() || modes.contains(&0) {
                return Err(OperatorError::config(
                    "model.modes",
                    "give one or more modes ≥ 1",
                ));
            }
        }
        Ok(())
    }

    /// A rough upper estimate of the memory training needs, in bytes: parameters with
    /// gradients and Adam state, the activations one optimizer step keeps for its gradient
    /// (`batch_size` samples × the rollout's model evaluations, see
    /// [`ModelConfig::activation_bytes_per_point`]) and the samples held in memory (twice: as
    /// read and as tensors). Grid sizes come from the shape of the data file's `tensor` (read
    /// without its values); when the file cannot be read, only the parameters are counted.
    pub fn memory_estimate_bytes(&self) -> f64 {
        let params = self.model.parameter_memory_bytes();
        let Ok(shape) = nabla_data::dataset_shape(&self.data.file, "tensor") else {
            return params;
        };
        if shape.len() < 3 {
            return params;
        }
        let sub = self.data.subsample.max(1);
        let points: f64 = shape[2..].iter().map(|&n| n.div_ceil(sub) as f64).product();
        let samples = (self.data.train + self.data.test).min(shape[0]) as f64;
        let frames_held = match self.data.layout {
            // Input coefficient and solution.
            Layout::Darcy => 2.0,
            // Input and target snapshots.
            Layout::Series1d => 2.0,
            Layout::Series2d => (self.data.input_frames + self.data.output_frames) as f64,
        };
        let data = 2.0 * samples * frames_held * points * 4.0;
        let evaluations = self.data.rollout_steps().unwrap_or(1) as f64;
        let activations = self.train.batch_size as f64
            * evaluations
            * points
            * self.model.activation_bytes_per_point();
        params + data + activations
    }

    /// Optimizer steps per epoch (batches, the last possibly short).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.train.div_ceil(self.train.batch_size)
    }
}
