//! DeepONet (Lu et al. 2021): G(a)(y) ≈ Σₖ bₖ(a) tₖ(y) + b₀, a branch network on the input
//! function sampled at fixed sensors and a trunk network on the query coordinates.

use crate::{Activation, Mlp, MlpConfig, Model, NnError, ParamStore, Precision, Result};
use candle_core::{Device, Tensor, Var};

/// The shape of a [`DeepONet`]; a serde struct for run configs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepONetConfig {
    /// Number of sensor values the branch network reads (e.g. S² for a field on an S×S grid).
    pub sensors: usize,
    /// Dimension of the query coordinates (trunk input).
    pub coordinates: usize,
    /// Hidden widths of the branch network.
    #[serde(default = "default_hidden")]
    pub branch_hidden: Vec<usize>,
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

    fn branch(&self) -> MlpConfig {
        MlpConfig::new(&Self::widths(self.sensors, &self.branch_hidden, self.basis))
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
        Ok(())
    }
}

/// An unstacked DeepONet with one output (see the module docs). Parameters: `branch.*`,
/// `trunk.*` (each an [`Mlp`]'s) and the scalar `bias`.
#[derive(Debug)]
pub struct DeepONet {
    config: DeepONetConfig,
    params: ParamStore,
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
        Ok(DeepONet {
            config: config.clone(),
            params,
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
        let b = self.branch.forward(a)?;
        Ok(b.matmul(&basis.t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }
}

impl Model for DeepONet {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
