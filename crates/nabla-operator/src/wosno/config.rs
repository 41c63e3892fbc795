//! The `task = "wosno"` run config: the star-domain Poisson family, the embedding grid, the
//! FNO, the training signal (`loss = "wos"` or `"physics"`) and the held-out test set.

use crate::{OperatorError, Result};
use nabla_nn::optim::LrSchedule;
use nabla_nn::{Activation, Precision};
use serde::{Deserialize, Serialize};

/// A whole WoS-NO / physics-informed operator config (TOML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WosNoConfig {
    /// Always `"wosno"` (how `nabla train` tells config kinds apart).
    pub task: String,
    /// `cpu` or `cuda:N` (the network; walks always run on the CPU).
    #[serde(default = "default_device")]
    pub device: String,
    /// The embedding grid.
    #[serde(default)]
    pub grid: GridConfig,
    /// The network.
    pub model: WosNoModelConfig,
    /// The training signal and optimisation.
    pub train: WosNoTrainConfig,
    /// The held-out test instances and their ground truth.
    #[serde(default)]
    pub test: TestConfig,
}

fn default_device() -> String {
    "cpu".into()
}

/// `[grid]`: the square embedding grid [−L, L]² the operator sees, node-centred (nodes at both
/// ends), the same for every instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// Nodes per axis (default 32).
    #[serde(default = "default_points")]
    pub points: usize,
    /// Half-width L of the box (default 1.45; must be ≥ 1.4, the largest radius of the
    /// family, so every instance's domain fits).
    #[serde(default = "default_half_width")]
    pub half_width: f64,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            points: default_points(),
            half_width: default_half_width(),
        }
    }
}

fn default_points() -> usize {
    32
}
fn default_half_width() -> f64 {
    1.45
}

/// Which operator a WoS-NO run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorKind {
    /// An FNO whose output is u on the embedding grid (values between nodes bilinear).
    #[default]
    Fno,
    /// A point-query operator (`wosno::gino`): FNO on the latent grid to `latent_channels`
    /// features, a C² cubic-spline decoder and an MLP evaluating u at any query point.
    Gino,
}

/// `[model]`: the FNO (`nabla_nn::Fno`, 2-D, 3 input channels: source, signed distance,
/// nearest boundary value; plus the grid coordinates) and, for `kind = "gino"`, the latent
/// feature width and decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WosNoModelConfig {
    /// `fno` (default: u on the grid) or `gino` (u at query points).
    #[serde(default)]
    pub kind: OperatorKind,
    /// gino: feature channels per latent node that the decoder interpolates (default 32).
    #[serde(default = "default_latent_channels")]
    pub latent_channels: usize,
    /// gino: hidden widths of the decoder MLP (default [64, 64]).
    #[serde(default = "default_decoder_hidden")]
    pub decoder_hidden: Vec<usize>,
    /// gino: decoder activation (default gelu; tanh, sin, gelu or silu).
    #[serde(default = "default_decoder_activation")]
    pub decoder_activation: Activation,
    /// gino: interpolation of the latent features at query points (default `cubic`, C²;
    /// `bilinear` is C⁰, a diagnostic of a physics loss through a non-smooth decoder).
    #[serde(default)]
    pub decoder_interpolation: super::spline::Interpolation,
    /// Kept modes per axis (default 8).
    #[serde(default = "default_modes")]
    pub modes: usize,
    /// Channels in the Fourier layers (default 24).
    #[serde(default = "default_width")]
    pub width: usize,
    /// Fourier layers (default 4).
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Hidden width of the projection (default 64).
    #[serde(default = "default_projection")]
    pub projection: usize,
    /// Zero padding as a fraction of each axis (default 0.125: the problem is not periodic).
    #[serde(default = "default_padding")]
    pub padding: f64,
    /// Precision (default f32).
    #[serde(default)]
    pub precision: Precision,
    /// Initialisation seed (default `train.seed`).
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_modes() -> usize {
    8
}
fn default_latent_channels() -> usize {
    32
}
fn default_decoder_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn default_decoder_activation() -> Activation {
    Activation::Gelu
}
fn default_width() -> usize {
    24
}
fn default_layers() -> usize {
    4
}
fn default_projection() -> usize {
    64
}
fn default_padding() -> f64 {
    0.125
}

/// The training signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// WoS-NO: mean squared error against fresh Walk-on-Spheres estimates at random interior
    /// points (the prediction there is the bilinear interpolation of the grid output).
    Wos,
    /// Physics-informed (also spelled `pino`). For `model.kind = "fno"`: the 5-point
    /// finite-difference residual Δₕu − f at the grid nodes inside Ω plus `boundary_weight` ×
    /// the squared misfit u − g at random boundary points (bilinear interpolation of the grid
    /// output). For `"gino"`: `interior_weight` × the mean of (Δu − f)² at the same random
    /// interior points the `wos` loss would use, Δu by Taylor-mode jets through the decoder,
    /// plus `boundary_weight` × the boundary misfit at random boundary points.
    #[serde(alias = "pino")]
    Physics,
    /// A diagnostic bound, not a method: the same regression as `wos` at the same random
    /// points, but on the smooth near-solution of `wosno::smooth` (closed-form particular
    /// solution plus a harmonic least-squares fit of the boundary data; |error| ≤ its boundary
    /// misfit, 6e-4 in the median instance) instead of walk estimates — what exact targets would
    /// give this operator and optimiser at equal steps.
    Reference,
}

/// `[train]`: fresh instances every step, Adam.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WosNoTrainConfig {
    /// `wos` (WoS-NO, default) or `physics`.
    #[serde(default = "default_loss")]
    pub loss: LossKind,
    /// Seed of the run (training instances, points, walks, default initialisation).
    #[serde(default)]
    pub seed: u64,
    /// Optimizer steps; each draws `batch_size` fresh instances.
    pub steps: usize,
    /// Instances per step (default 8).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// WoS: random interior points per instance (default 256).
    #[serde(default = "default_train_points")]
    pub points: usize,
    /// WoS: walks per point (default 10).
    #[serde(default = "default_walks")]
    pub walks: usize,
    /// WoS: stopping distance ε (default 1e-3).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// WoS: step cap per walk (default 25, METHODS §4; a capped walk reads g at the closest
    /// boundary point).
    #[serde(default = "default_max_steps")]
    pub max_steps: usize,
    /// WoS: weight each instance's squared errors by 1/‖u‖², with ‖u‖² the mean square of
    /// its targets less their mean squared standard error (the walk noise's share), so the
    /// loss follows the relative L2 error the held-out figure averages (default false: plain
    /// mean squared error).
    #[serde(default)]
    pub relative: bool,
    /// Physics: random boundary points per instance (default 128).
    #[serde(default = "default_boundary_points")]
    pub boundary_points: usize,
    /// Physics: weight of the boundary term (default 100: of 1, 10 and 100, the best held-out
    /// error after 600 steps of the shipped FNO config; the WoS-NO authors' GINO uses 1).
    #[serde(default = "default_boundary_weight")]
    pub boundary_weight: f64,
    /// Physics: weight of the interior residual term (default 1; the WoS-NO authors' GINO
    /// uses 0.01 with boundary weight 1).
    #[serde(default = "default_interior_weight")]
    pub interior_weight: f64,
    /// Adam learning rate (default 1e-3).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay (AdamW; default 1e-4).
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
    /// Learning-rate schedule (steps).
    #[serde(default)]
    pub schedule: LrSchedule,
    /// Steps between metric rows with the held-out error (default 100).
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Steps between checkpoints (default 500).
    #[serde(default = "default_ckpt")]
    pub checkpoint_every: usize,
    /// Show a progress bar (default true).
    #[serde(default = "yes")]
    pub progress: bool,
}

fn default_loss() -> LossKind {
    LossKind::Wos
}
fn default_batch() -> usize {
    8
}
fn default_train_points() -> usize {
    256
}
fn default_walks() -> usize {
    10
}
fn default_epsilon() -> f64 {
    1e-3
}
fn default_max_steps() -> usize {
    25
}
fn default_boundary_points() -> usize {
    128
}
fn default_boundary_weight() -> f64 {
    100.0
}
fn default_interior_weight() -> f64 {
    1.0
}
fn default_lr() -> f64 {
    1e-3
}
fn default_wd() -> f64 {
    1e-4
}
fn default_log_every() -> usize {
    100
}
fn default_ckpt() -> usize {
    500
}
fn yes() -> bool {
    true
}

/// `[test]`: held-out instances (seeded apart from training) and their WoS ground truth at the
/// embedding-grid nodes inside each domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// Held-out instances (default 100).
    #[serde(default = "default_test_instances")]
    pub instances: usize,
    /// Seed of the held-out instances and of their walks (default 2024; a separate stream
    /// from `train.seed` whatever the values).
    #[serde(default = "default_test_seed")]
    pub seed: u64,
    /// Walks per node for the ground truth (default 256; with the control variate the
    /// relative standard error is ~1e-4 at that count).
    #[serde(default = "default_test_walks")]
    pub walks: usize,
    /// Stopping distance ε of the ground truth (default 1e-3).
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Step cap of the ground truth (default 1024, Zombie's).
    #[serde(default = "default_test_max_steps")]
    pub max_steps: usize,
    /// Estimate the truth with a control variate (default true): the walks estimate only
    /// u − s, where s is the closed-form particular solution of the source plus a harmonic
    /// least-squares fit of the boundary data (`wosno::smooth`), so the standard error falls
    /// by two to three orders of magnitude at equal walks (measured 0.0196 → 5.7e-5 relative);
    /// false runs plain WoS on u.
    #[serde(default = "yes")]
    pub control_variate: bool,
    /// Zero-shot check (default 0: off): this many instances of the out-of-distribution
    /// family (`wosno::family::Family::out_of_distribution`: three- and six-fold stars, wider
    /// and stronger sources), with truth computed like the in-distribution set and cached in
    /// `RUN_DIR/truth_ood.h5`; the summary reports their error and its ratio to the
    /// in-distribution error.
    #[serde(default)]
    pub ood_instances: usize,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            instances: default_test_instances(),
            seed: default_test_seed(),
            walks: default_test_walks(),
            epsilon: default_epsilon(),
            max_steps: default_test_max_steps(),
            control_variate: true,
            ood_instances: 0,
        }
    }
}

fn default_test_instances() -> usize {
    100
}
fn default_test_seed() -> u64 {
    2024
}
fn default_test_walks() -> usize {
    256
}
fn default_test_max_steps() -> usize {
    1024
}

/// The largest radius of the star family: 1 + 0.2 + 0.2.
pub const FAMILY_MAX_RADIUS: f64 = 1.4;

impl WosNoConfig {
    /// A rough upper estimate of training memory in bytes: every layer's feature maps for a
    /// batch (kept for the backward pass, with the padded grid and the spectral products) and
    /// the spectral weights with Adam state.
    pub fn memory_estimate_bytes(&self) -> f64 {
        let m = &self.model;
        let cells = (self.grid.points as f64).powi(2);
        let (w, bytes) = (m.width as f64, m.precision.bytes() as f64);
        let features = 4.0 * cells * w * (m.layers as f64 + 2.0) * self.train.batch_size as f64;
        let weights = m.layers as f64 * 2.0 * w * w * 2.0 * (m.modes as f64).powi(2);
        3.0 * features * bytes + 4.0 * weights * bytes
    }

    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> Result<()> {
        fn cfg(key: &str, reason: impl Into<String>) -> OperatorError {
            OperatorError::config(key, reason)
        }
        if self.task != "wosno" {
            return Err(cfg(
                "task",
                format!("expected \"wosno\", got \"{}\"", self.task),
            ));
        }
        let g = &self.grid;
        if g.points < 4 {
            return Err(cfg("grid.points", "must be ≥ 4"));
        }
        if !(g.half_width.is_finite() && g.half_width >= FAMILY_MAX_RADIUS) {
            return Err(cfg(
                "grid.half_width",
                format!("must be ≥ {FAMILY_MAX_RADIUS} (the family's largest radius)"),
            ));
        }
        let m = &self.model;
        for (key, v) in [
            ("model.modes", m.modes),
            ("model.width", m.width),
            ("model.layers", m.layers),
            ("model.projection", m.projection),
        ] {
            if v == 0 {
                return Err(cfg(key, "must be ≥ 1"));
            }
        }
        if 2 * m.modes > g.points {
            return Err(cfg(
                "model.modes",
                format!(
                    "2·modes = {} exceeds grid.points = {}",
                    2 * m.modes,
                    g.points
                ),
            ));
        }
        if !(0.0..=1.0).contains(&m.padding) {
            return Err(cfg("model.padding", "must be in [0, 1]"));
        }
        let t = &self.train;
        for (key, v) in [
            ("train.steps", t.steps),
            ("train.batch_size", t.batch_size),
            ("train.points", t.points),
            ("train.walks", t.walks),
            ("train.max_steps", t.max_steps),
            ("train.boundary_points", t.boundary_points),
            ("train.log_every", t.log_every),
        ] {
            if v == 0 {
                return Err(cfg(key, "must be ≥ 1"));
            }
        }
        for (key, v) in [
            ("train.epsilon", t.epsilon),
            ("train.lr", t.lr),
            ("test.epsilon", self.test.epsilon),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(cfg(key, "must be a positive number"));
            }
        }
        if !(t.boundary_weight.is_finite() && t.boundary_weight >= 0.0) {
            return Err(cfg("train.boundary_weight", "must be ≥ 0"));
        }
        if !(t.interior_weight.is_finite() && t.interior_weight >= 0.0) {
            return Err(cfg("train.interior_weight", "must be ≥ 0"));
        }
        if m.kind == OperatorKind::Gino {
            if m.latent_channels == 0 {
                return Err(cfg("model.latent_channels", "must be ≥ 1"));
            }
            if m.decoder_hidden.contains(&0) {
                return Err(cfg("model.decoder_hidden", "widths must be ≥ 1"));
            }
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return Err(cfg("train.weight_decay", "must be ≥ 0"));
        }
        let s = &self.test;
        for (key, v) in [
            ("test.instances", s.instances),
            ("test.walks", s.walks),
            ("test.max_steps", s.max_steps),
        ] {
            if v == 0 {
                return Err(cfg(key, "must be ≥ 1"));
            }
        }
        Ok(())
    }
}
