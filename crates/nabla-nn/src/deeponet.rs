//! DeepONet (Lu et al. 2021): G(a)(y) ≈ Σₖ bₖ(a) tₖ(y) + b₀, a branch network on the input
//! function sampled at fixed sensors and a trunk network on the query coordinates.
//!
//! The branch is an MLP on the raw sensor values, or — with `branch_conv` — a convolutional
//! encoder first (for inputs on a 2-D grid, the branch DeepONet comparisons use for Darcy
//! flow, Lu et al. 2022): per stage a 3×3 convolution (zero padding), ReLU and a 2×2 average
//! pool, then the MLP (with the configured activation) on the flattened features.

use crate::{Activation, Mlp, MlpConfig, Model, NnError, ParamStore, Precision, Result};
use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The shape of a [`DeepONet`]; a serde struct for run configs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepONetConfig {
    /// Number of sensor values the branch network reads (e.g. S² for a field on an S×S grid).
    pub sensors: usize,
    /// Dimension of the query coordinates (trunk input).
    pub coordinates: usize,
    /// Hidden widths of the branch network (its MLP part).
    #[serde(default = "default_hidden")]
    pub branch_hidden: Vec<usize>,
    /// Output channels of the branch's convolution stages (3×3 convolution, ReLU, 2×2 average
    /// pool each; empty: no convolutions, the MLP reads the sensors). Needs `grid`.
    #[serde(default)]
    pub branch_conv: Vec<usize>,
    /// The sensors' grid `[H, W]` (row-major), for `branch_conv`.
    #[serde(default)]
    pub grid: Vec<usize>,
    /// Hidden widths of the trunk network.
    #[serde(default = "default_hidden")]
    pub trunk_hidden: Vec<usize>,
    /// Number of basis functions p (output width of both networks).
    #[serde(default = "default_basis")]
    pub basis: usize,
    /// Activation of both networks (also applied to the trunk's output, as DeepXDE does).
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Parameter precision.
    #[serde(default)]
    pub precision: Precision,
    /// Seed of the initialization.
    #[serde(default)]
    pub seed: u64,
}

fn default_hidden() -> Vec<usize> {
    vec![128, 128, 128]
}
fn default_basis() -> usize {
    128
}
fn default_activation() -> Activation {
    Activation::Gelu
}

impl DeepONetConfig {
    /// A DeepONet with the default widths (3×128 hidden, p = 128, GELU).
    pub fn new(sensors: usize, coordinates: usize) -> Self {
        DeepONetConfig {
            sensors,
            coordinates,
            branch_hidden: default_hidden(),
            branch_conv: Vec::new(),
            grid: Vec::new(),
            trunk_hidden: default_hidden(),
            basis: default_basis(),
            activation: default_activation(),
            precision: Precision::F32,
            seed: 0,
        }
    }

    fn widths(input: usize, hidden: &[usize], out: usize) -> Vec<usize> {
        std::iter::once(input)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(out))
            .collect()
    }

    /// Grid side lengths after the convolution stages (each pool halves them, flooring).
    fn pooled_grid(&self) -> (usize, usize) {
        let k = self.branch_conv.len() as u32;
        match self.grid.as_slice() {
            [h, w] => (h >> k, w >> k),
            _ => (0, 0),
        }
    }

    /// Inputs of the branch MLP: the sensors, or the flattened convolution features.
    fn branch_mlp_inputs(&self) -> usize {
        match self.branch_conv.last() {
            None => self.sensors,
            Some(&c) => {
                let (h, w) = self.pooled_grid();
                c * h * w
            }
        }
    }

    fn branch(&self) -> MlpConfig {
        MlpConfig::new(&Self::widths(
            self.branch_mlp_inputs(),
            &self.branch_hidden,
            self.basis,
        ))
        .activation(self.activation)
        .precision(self.precision)
        .seed(self.seed)
    }

    fn trunk(&self) -> MlpConfig {
        MlpConfig::new(&Self::widths(
            self.coordinates,
            &self.trunk_hidden,
            self.basis,
        ))
        .activation(self.activation)
        .precision(self.precision)
        .seed(self.seed.wrapping_add(1))
    }

    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("sensors", self.sensors),
            ("coordinates", self.coordinates),
            ("basis", self.basis),
        ] {
            if v == 0 {
                return Err(NnError::invalid(key, "must be ≥ 1"));
            }
        }
        if self.branch_hidden.contains(&0) || self.trunk_hidden.contains(&0) {
            return Err(NnError::invalid(
                "branch_hidden/trunk_hidden",
                "widths must be ≥ 1",
            ));
        }
        if !self.branch_conv.is_empty() {
            if self.branch_conv.contains(&0) {
                return Err(NnError::invalid("branch_conv", "channels must be ≥ 1"));
            }
            let [h, w] = self.grid[..] else {
                return Err(NnError::invalid(
                    "branch_conv",
                    "needs a 2-D sensor grid [H, W]",
                ));
            };
            if h * w != self.sensors {
                return Err(NnError::invalid(
                    "grid",
                    format!("{h}×{w} is not the {} sensors", self.sensors),
                ));
            }
            if self.pooled_grid().0 == 0 || self.pooled_grid().1 == 0 {
                return Err(NnError::invalid(
                    "branch_conv",
                    format!(
                        "{} pooling stages shrink the {h}×{w} grid to nothing",
                        self.branch_conv.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An unstacked DeepONet with one output (see the module docs). Parameters: `branch.*`,
/// `trunk.*` (each an [`Mlp`]'s), the scalar `bias`, and with `branch_conv` the stages'
/// `branch_conv.{i}.weight` `[C_out, C_in, 3, 3]` and `branch_conv.{i}.bias`.
#[derive(Debug)]
pub struct DeepONet {
    config: DeepONetConfig,
    params: ParamStore,
    convs: Vec<(Var, Var)>,
    branch: Mlp,
    trunk: Mlp,
    bias: Var,
}

impl DeepONet {
    /// Builds the model with seeded Glorot-uniform weights.
    pub fn new(config: &DeepONetConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let branch = Mlp::new(&config.branch(), device)?;
        let trunk = Mlp::new(&config.trunk(), device)?;
        let mut params = ParamStore::new();
        params.extend_prefixed("branch", branch.params())?;
        params.extend_prefixed("trunk", trunk.params())?;
        let bias = params.add("bias", &Tensor::zeros(1, config.precision.dtype(), device)?)?;
        let dtype = config.precision.dtype();
        let mut rng = Pcg64::seed_from_u64(config.seed.wrapping_add(2));
        let mut convs = Vec::with_capacity(config.branch_conv.len());
        let mut cin = 1;
        for (i, &cout) in config.branch_conv.iter().enumerate() {
            // Glorot uniform over the 3×3 receptive fields.
            let bound = (6.0 / (9 * (cin + cout)) as f64).sqrt();
            let w: Vec<f64> = (0..cout * cin * 9)
                .map(|_| rng.gen_range(-bound..bound))
                .collect();
            let w = Tensor::from_vec(w, (cout, cin, 3, 3), device)?.to_dtype(dtype)?;
            let wv = params.add(format!("branch_conv.{i}.weight"), &w)?;
            let bv = params.add(
                format!("branch_conv.{i}.bias"),
                &Tensor::zeros(cout, dtype, device)?,
            )?;
            convs.push((wv, bv));
            cin = cout;
        }
        Ok(DeepONet {
            config: config.clone(),
            params,
            convs,
            branch,
            trunk,
            bias,
        })
    }

    /// The settings it was built from.
    pub fn config(&self) -> &DeepONetConfig {
        &self.config
    }

    /// The trunk basis t(y) at query points `[P, coordinates]`: `[P, basis]`.
    pub fn basis(&self, points: &Tensor) -> Result<Tensor> {
        self.config.activation.forward(&self.trunk.forward(points)?)
    }

    /// G(a)(y) for inputs `a [B, sensors]` at query points `[P, coordinates]`: `[B, P]`.
    pub fn forward(&self, a: &Tensor, points: &Tensor) -> Result<Tensor> {
        let t = self.basis(points)?;
        self.forward_with_basis(a, &t)
    }

    /// As [`DeepONet::forward`] with the trunk basis already evaluated (it does not depend on
    /// the input, so a training loop on a fixed grid evaluates it once per step).
    pub fn forward_with_basis(&self, a: &Tensor, basis: &Tensor) -> Result<Tensor> {
        if a.dims().len() != 2 || a.dims()[1] != self.config.sensors {
            return Err(NnError::invalid(
                "DeepONet input",
                format!(
                    "expected [batch, {}] sensor values, got {:?}",
                    self.config.sensors,
                    a.dims()
                ),
            ));
        }
        let b = self.branch.forward(&self.encode(a)?)?;
        Ok(b.matmul(&basis.t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }
}

impl DeepONet {
    /// The branch MLP's input: the sensors as they are, or through the convolution stages.
    fn encode(&self, a: &Tensor) -> Result<Tensor> {
        let (&[h, w], false) = (&self.config.grid[..], self.convs.is_empty()) else {
            return Ok(a.clone());
        };
        let batch = a.dims()[0];
        let mut x = a.reshape((batch, 1, h, w))?;
        for (wt, bias) in &self.convs {
            let c = wt.as_tensor().dims()[0];
            x = x
                .conv2d(wt.as_tensor(), 1, 1, 1, 1)?
                .broadcast_add(&bias.as_tensor().reshape((1, c, 1, 1))?)?;
            x = x.relu()?.avg_pool2d(2)?;
        }
        Ok(x.flatten_from(1)?)
    }
}

impl Model for DeepONet {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
