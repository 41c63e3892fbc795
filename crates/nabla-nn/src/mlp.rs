//! Multilayer perceptrons with an optional Fourier-feature input layer.

use crate::{Activation, NnError, ParamStore, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

/// Floating-point precision of a network's parameters and activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (the default for networks).
    #[default]
    F32,
    /// 64-bit floats (derivative checks, ill-conditioned problems).
    F64,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }

    /// Bytes per value: 4 or 8.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

/// Weight initialization of the linear layers (biases start at zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Glorot/Xavier uniform: U(−a, a), a = √(6 / (fan_in + fan_out)).
    #[default]
    GlorotUniform,
    /// Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out)).
    GlorotNormal,
}

/// A Fourier-feature input layer γ(x) = [sin(2πBx), cos(2πBx)] with a fixed random matrix
/// B ∈ R^{m×d}, entries N(0, σ²) (Tancik et al. 2020). It lets an MLP fit high frequencies.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FourierConfig {
    /// Number of frequencies m; the layer outputs 2m features.
    pub features: usize,
    /// Standard deviation σ of the entries of B.
    pub sigma: f64,
}

/// The shape and settings of an [`Mlp`]; a serde struct for run configs.
///
/// `widths` lists every layer width from the input dimension to the output dimension, e.g.
/// `[2, 64, 64, 64, 1]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Layer widths, input first, output last (at least two entries, all ≥ 1).
    pub widths: Vec<usize>,
    /// Activation between hidden layers (none after the output layer).
    #[serde(default)]
    pub activation: Activation,
    /// Weight initialization.
    #[serde(default)]
    pub init: Init,
    /// Optional Fourier-feature input layer.
    #[serde(default)]
    pub fourier: Option<FourierConfig>,
    /// Parameter precision.
    #[serde(default)]
    pub precision: Precision,
    /// Seed of the initialization: the same seed gives the same weights.
    #[serde(default)]
    pub seed: u64,
}

impl MlpConfig {
    /// A tanh MLP with these widths, Glorot-uniform init, f32, seed 0.
    pub fn new(widths: &[usize]) -> Self {
        MlpConfig {
            widths: widths.to_vec(),
            activation: Activation::Tanh,
            init: Init::GlorotUniform,
            fourier: None,
            precision: Precision::F32,
            seed: 0,
        }
    }

    /// Sets the activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Sets the precision.
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds a Fourier-feature input layer with `features` frequencies of scale `sigma`.
    pub fn fourier(mut self, features: usize, sigma: f64) -> Self {
        self.fourier = Some(FourierConfig { features, sigma });
        self
    }

    /// Builds the network on `device` (same as [`Mlp::new`]).
    pub fn build(&self, device: &Device) -> Result<Mlp> {
        Mlp::new(self, device)
    }

    /// Checks the settings; every error names the key.
    pub fn validate(&self) -> Result<()> {
        if self.widths.len() < 2 {
            return Err(NnError::invalid(
                "widths",
                "need at least an input and an output width, e.g. [2, 64, 1]",
            ));
        }
        if let Some(i) = self.widths.iter().position(|&w| w == 0) {
            return Err(NnError::invalid(
                "widths",
                format!("entry {i} is 0; every width must be at least 1"),
            ));
        }
        if let Some(f) = &self.fourier {
            if f.features == 0 {
                return Err(NnError::invalid("fourier.features", "must be at least 1"));
            }
            if !(f.sigma.is_finite() && f.sigma > 0.0) {
                return Err(NnError::invalid(
                    "fourier.sigma",
                    format!("{} is not a positive number", f.sigma),
                ));
            }
        }
        Ok(())
    }
}

/// One affine layer z = x Wᵀ + b (W is `[out, in]`, as in candle-nn's `Linear`).
#[derive(Clone, Debug)]
pub struct Dense {
    /// Weight, shape `[out, in]`.
    pub weight: Var,
    /// Bias, shape `[out]`.
    pub bias: Var,
}

impl Dense {
    /// Applies the layer to `x` of shape `[n, in]` with candle ops (so that candle's own
    /// double backward works through it; [`crate::linear::linear`] is the fused, first-order
    /// alternative).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }

    /// Applies only the linear part (no bias) to `dx` of shape `[b, k, in]` → `[b, k, out]`:
    /// how a derivative direction passes through the layer.
    pub(crate) fn forward_linear3(&self, dx: &Tensor) -> Result<Tensor> {
        let (b, k, w) = dx.dims3()?;
        let out = self.weight.dims()[0];
        Ok(dx
            .reshape((b * k, w))?
            .matmul(&self.weight.t()?)?
            .reshape((b, k, out))?)
    }
}

/// A fully connected network: optional Fourier features, then affine layers with the
/// activation between them (none after the last).
///
/// Parameters are named `layers.{i}.weight` / `layers.{i}.bias` (candle-nn's convention) and
/// the frozen Fourier matrix `fourier.b`.
#[derive(Clone, Debug)]
pub struct Mlp {
    config: MlpConfig,
    device: Device,
    params: ParamStore,
    pub(crate) fourier_b: Option<Var>,
    pub(crate) layers: Vec<Dense>,
}

impl Mlp {
    /// Builds the network with seeded initial weights on `device`.
    pub fn new(config: &MlpConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let dtype = config.precision.dtype();
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let mut params = ParamStore::new();
        let d = config.widths[0];
        let fourier_b = match &config.fourier {
            Some(f) => {
                let vals: Vec<f64> = (0..f.features * d)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        z * f.sigma * 2.0 * std::f64::consts::PI
                    })
                    .collect();
                let t = Tensor::from_vec(vals, (f.features, d), device)?.to_dtype(dtype)?;
                Some(params.add_frozen("fourier.b", &t)?)
            }
            None => None,
        };
        let mut widths = config.widths.clone();
        if let Some(f) = &config.fourier {
            widths[0] = 2 * f.features;
        }
        let mut layers = Vec::with_capacity(widths.len() - 1);
        for (i, w) in widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (w[0], w[1]);
            let vals: Vec<f64> = match config.init {
                Init::GlorotUniform => {
                    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                    (0..fan_in * fan_out)
                        .map(|_| rng.gen_range(-a..a))
                        .collect()
                }
                Init::GlorotNormal => {
                    let s = (2.0 / (fan_in + fan_out) as f64).sqrt();
                    (0..fan_in * fan_out)
                        .map(|_| {
                            let z: f64 = StandardNormal.sample(&mut rng);
                            z * s
                        })
                        .collect()
                }
            };
            let wt = Tensor::from_vec(vals, (fan_out, fan_in), device)?.to_dtype(dtype)?;
            let bt = Tensor::zeros(fan_out, dtype, device)?;
            let weight = params.add(format!("layers.{i}.weight"), &wt)?;
            let bias = params.add(format!("layers.{i}.bias"), &bt)?;
            layers.push(Dense { weight, bias });
        }
        Ok(Mlp {
            config: config.clone(),
            device: device.clone(),
            params,
            fourier_b,
            layers,
        })
    }

    /// Sets a string saved with the weights (see [`ParamStore::set_metadata`]), e.g. the
    /// self-description of a PINN that lets its checkpoint alone rebuild it.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.params.set_metadata(key, value);
    }

    /// The settings it was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// Input dimension d.
    pub fn in_dim(&self) -> usize {
        self.config.widths[0]
    }

    /// Output dimension.
    pub fn out_dim(&self) -> usize {
        *self.config.widths.last().unwrap_or(&1)
    }

    /// Parameter dtype.
    pub fn dtype(&self) -> DType {
        self.config.precision.dtype()
    }

    /// The candle device it lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The affine layers, input first.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    /// Evaluates u(x) for a batch `x` of shape `[n, d]` (converted to the model dtype);
    /// returns `[n, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let x = x.to_dtype(self.dtype())?;
        let mut h = match &self.fourier_b {
            Some(b) => {
                let z = x.matmul(&b.t()?)?;
                Tensor::cat(&[z.sin()?, z.cos()?], 1)?
            }
            None => x,
        };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = self.config.activation.forward(&h)?;
            }
        }
        Ok(h)
    }

    pub(crate) fn check_input(&self, x: &Tensor) -> Result<()> {
        match x.dims() {
            [_, d] if *d == self.in_dim() => Ok(()),
            dims => Err(NnError::invalid(
                "input points",
                format!("shape {dims:?}, expected [n, {}]", self.in_dim()),
            )),
        }
    }
}

impl crate::Model for Mlp {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
