//! A trained operator: network + normalisation, evaluated at any resolution.

use crate::config::{ModelConfig, OperatorConfig};
use crate::dataset::resample;
use crate::{OperatorError, Result};
use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::{DeepONet, DeepONetConfig, Fno, FnoConfig, Lsm, LsmConfig, Model, ParamStore};
use std::path::Path;

/// The network of an operator run.
pub enum Net {
    /// A Fourier neural operator on channels-last grids.
    Fno(Box<Fno>),
    /// A DeepONet whose branch reads the input on the training grid.
    DeepONet(Box<DeepONet>),
    /// A Latent Spectral Model on channels-last 2-D grids.
    Lsm(Box<Lsm>),
}

impl Net {
    fn params(&self) -> &ParamStore {
        match self {
            Net::Fno(m) => m.params(),
            Net::DeepONet(m) => m.params(),
            Net::Lsm(m) => m.params(),
        }
    }
}

/// Normalisation statistics: inputs and targets are mapped to (v − mean)/std before the
/// network, and its output is mapped back, with mean and std over all training values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalizer {
    /// Input mean.
    pub input_mean: f64,
    /// Input standard deviation.
    pub input_std: f64,
    /// Target mean.
    pub target_mean: f64,
    /// Target standard deviation.
    pub target_std: f64,
}

/// Network + normaliser + training grid. Parameters: `net.*` (trainable) and the frozen
/// buffers `normalizer` ([in mean, in std, out mean, out std]) and `train_grid` (points per
/// axis of the training data) — so a checkpoint alone says how to evaluate the model.
pub struct OperatorModel {
    /// The network.
    pub net: Net,
    params: ParamStore,
    normalizer: Var,
    train_grid: Var,
    device: Device,
}

/// The task name operator runs carry in their checkpoints and configs (`task = "operator"`).
pub const TASK: &str = "operator";

const NORMALIZER: &str = "normalizer";
const TRAIN_GRID: &str = "train_grid";

impl OperatorModel {
    /// A fresh model for data on a grid of `dims` points per axis, with these statistics.
    pub fn new(config: &OperatorConfig, dims: &[usize], norm: Normalizer) -> Result<Self> {
        let device = nabla_core::device::open_device(&config.device)
            .map_err(|e| OperatorError::config("device", e.to_string()))?;
        let seed = config.train.seed;
        let in_channels = config.data.in_channels();
        let net = match &config.model {
            ModelConfig::Fno {
                modes,
                width,
                layers,
                projection,
                padding,
                grid_channels,
                precision,
                seed: s,
            } => {
                let modes: Vec<usize> = if modes.len() == 1 {
                    vec![modes[0]; dims.len()]
                } else if modes.len() == dims.len() {
                    modes.clone()
                } else {
                    return Err(OperatorError::config(
                        "model.modes",
                        format!(
                            "the data is {}-D; give 1 or {} values",
                            dims.len(),
                            dims.len()
                        ),
                    ));
                };
                let c = FnoConfig {
                    in_channels,
                    out_channels: 1,
                    modes,
                    width: *width,
                    layers: *layers,
                    projection: *projection,
                    grid_channels: *grid_channels,
                    padding: *padding,
                    precision: *precision,
                    seed: s.unwrap_or(seed),
                };
                let fno = Fno::new(&c, &device).map_err(|e| config_error("model", e))?;
                for (axis, (&n, &min)) in dims.iter().zip(fno.min_points().iter()).enumerate() {
                    if n < min {
                        return Err(OperatorError::config(
                            "model.modes",
                            format!("axis {axis} of the data has {n} points, fewer than 2·modes = {min}"),
                        ));
                    }
                }
                Net::Fno(Box::new(fno))
            }
            ModelConfig::Deeponet {
                branch_hidden,
                branch_conv,
                trunk_hidden,
                basis,
                activation,
                precision,
                seed: s,
            } => {
                let c = DeepONetConfig {
                    sensors: dims.iter().product(),
                    coordinates: dims.len(),
                    branch_hidden: branch_hidden.clone(),
                    branch_conv: branch_conv.clone(),
                    grid: if branch_conv.is_empty() {
                        Vec::new()
                    } else {
                        dims.to_vec()
                    },
                    trunk_hidden: trunk_hidden.clone(),
                    basis: *basis,
                    activation: *activation,
                    precision: *precision,
                    seed: s.unwrap_or(seed),
                };
                Net::DeepONet(Box::new(
                    DeepONet::new(&c, &device).map_err(|e| config_error("model", e))?,
                ))
            }
            ModelConfig::Lsm {
                width,
                scales,
                latent_tokens,
                basis,
                patch,
                heads,
                padding,
                projection,
                periodic,
                linear_skip,
                precision,
                seed: s,
            } => {
                if dims.len() != 2 {
                    return Err(OperatorError::config(
                        "model.kind",
                        format!(
                            "the LSM is 2-D; the data is {}-D (use fno or deeponet)",
                            dims.len()
                        ),
                    ));
                }
                let c = LsmConfig {
                    in_channels,
                    out_channels: 1,
                    width: *width,
                    scales: *scales,
                    latent_tokens: *latent_tokens,
                    basis: *basis,
                    patch: *patch,
                    heads: *heads,
                    padding: *padding,
                    projection: *projection,
                    periodic: *periodic,
                    linear_skip: *linear_skip,
                    precision: *precision,
                    seed: s.unwrap_or(seed),
                };
                Net::Lsm(Box::new(
                    Lsm::new(&c, &device).map_err(|e| config_error("model", e))?,
                ))
            }
        };
        let mut params = ParamStore::new();
        params.extend_prefixed("net", net.params())?;
        let dtype = Self::net_dtype(&net);
        let nv = [
            norm.input_mean,
            norm.input_std,
            norm.target_mean,
            norm.target_std,
        ];
        let normalizer = params.add_frozen(
            NORMALIZER,
            &Tensor::from_vec(nv.to_vec(), 4, &device)?.to_dtype(DType::F64)?,
        )?;
        let grid: Vec<f64> = dims.iter().map(|&d| d as f64).collect();
        let train_grid = params.add_frozen(
            TRAIN_GRID,
            &Tensor::from_vec(grid, dims.len(), &device)?.to_dtype(DType::F64)?,
        )?;
        let _ = dtype;
        let resolved = nabla_core::config::to_toml(config).map_err(|e| {
            OperatorError::config("(top level)", format!("cannot be written as TOML: {e}"))
        })?;
        for (key, value) in nabla_nn::run_dir::self_description(TASK, &resolved) {
            params.set_metadata(key, value);
        }
        Ok(OperatorModel {
            net,
            params,
            normalizer,
            train_grid,
            device,
        })
    }

    /// The model of a config with the weights, normaliser and training grid of a checkpoint.
    pub fn load(config: &OperatorConfig, checkpoint: &Path) -> Result<Self> {
        let cpu = Device::Cpu;
        let (tensors, _) = nabla_nn::params::read_safetensors(checkpoint, &cpu)?;
        let grid = tensors.get(TRAIN_GRID).ok_or_else(|| {
            OperatorError::config(
                "checkpoint",
                format!(
                    "{}: no '{TRAIN_GRID}' (not an operator run)",
                    checkpoint.display()
                ),
            )
        })?;
        let dims: Vec<usize> = grid
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?
            .into_iter()
            .map(|d| d as usize)
            .collect();
        let placeholder = Normalizer {
            input_mean: 0.0,
            input_std: 1.0,
            target_mean: 0.0,
            target_std: 1.0,
        };
        let model = Self::new(config, &dims, placeholder)?;
        model.params.load(checkpoint, &model.device)?;
        Ok(model)
    }

    fn net_dtype(net: &Net) -> DType {
        net.params()
            .trainable()
            .first()
            .map(|(_, v)| v.dtype())
            .unwrap_or(DType::F32)
    }

    /// The dtype of the network.
    pub fn dtype(&self) -> DType {
        Self::net_dtype(&self.net)
    }

    /// The device of the network.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The normalisation statistics.
    pub fn normalizer(&self) -> Result<Normalizer> {
        let v = self.normalizer.to_vec1::<f64>()?;
        Ok(Normalizer {
            input_mean: v[0],
            input_std: v[1],
            target_mean: v[2],
            target_std: v[3],
        })
    }

    /// Points per axis of the training data.
    pub fn train_grid(&self) -> Result<Vec<usize>> {
        Ok(self
            .train_grid
            .to_vec1::<f64>()?
            .into_iter()
            .map(|d| d as usize)
            .collect())
    }

    /// The decoded prediction for a batch of *normalised* inputs `[B, dims…, 1]` on a grid
    /// of `dims` points per axis: `[B, dims…, 1]` in the target's units. Differentiable.
    /// Inference mode: an LSM's batch norm uses its running statistics.
    pub fn forward_normalized(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_mode(x, false)
    }

    /// As [`OperatorModel::forward_normalized`] on a training batch: an LSM's batch norm uses
    /// the batch's statistics and updates its running ones; other networks are unchanged.
    pub fn forward_train_normalized(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_mode(x, true)
    }

    fn forward_mode(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let norm = self.normalizer()?;
        let y = match &self.net {
            Net::Fno(m) => m.forward(x)?,
            Net::Lsm(m) if training => m.forward_train(x)?,
            Net::Lsm(m) => m.forward(x)?,
            Net::DeepONet(m) => {
                let dims = x.dims().to_vec();
                let b = dims[0];
                let spatial = &dims[1..dims.len() - 1];
                let train = self.train_grid()?;
                let p: usize = spatial.iter().product();
                let flat = if spatial == train.as_slice() {
                    x.reshape((b, p))?
                } else {
                    let host: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                    let r = resample(&host, b, spatial, &train);
                    let q: usize = train.iter().product();
                    Tensor::from_vec(r, (b, q), &self.device)?.to_dtype(x.dtype())?
                };
                let pts = grid_points(spatial, &self.device)?.to_dtype(x.dtype())?;
                m.forward(&flat, &pts)?.reshape(dims)?
            }
        };
        Ok(y.affine(norm.target_std, norm.target_mean)?)
    }

    /// Input channels per grid point: 1, or the frames a `series-2d` model reads.
    pub fn in_channels(&self) -> usize {
        match &self.net {
            Net::Fno(m) => m.config().in_channels,
            Net::Lsm(m) => m.config().in_channels,
            Net::DeepONet(_) => 1,
        }
    }

    /// Predictions for raw inputs `[n, dims…, C]` (flat, C order, channels last; C =
    /// [`OperatorModel::in_channels`], 1 but for `series-2d` models) on a grid of `dims` points
    /// per axis, in chunks of `batch`: one step, `[n, dims…]`.
    pub fn predict(
        &self,
        input: &[f32],
        n: usize,
        dims: &[usize],
        batch: usize,
    ) -> Result<Vec<f32>> {
        self.predict_steps(input, n, dims, None, batch)
    }

    /// The autoregressive rollout of a `series-2d` model from raw inputs `[n, dims…, C]`
    /// (channels last, C = [`OperatorModel::in_channels`] frames, oldest first), in chunks of
    /// `batch`: `steps` predicted frames `[n, dims…, steps]`, each from the C frames before
    /// it, the model's own predictions fed back in. Inference mode, no gradients kept.
    pub fn rollout(
        &self,
        input: &[f32],
        n: usize,
        dims: &[usize],
        steps: usize,
        batch: usize,
    ) -> Result<Vec<f32>> {
        self.predict_steps(input, n, dims, Some(steps), batch)
    }

    fn predict_steps(
        &self,
        input: &[f32],
        n: usize,
        dims: &[usize],
        steps: Option<usize>,
        batch: usize,
    ) -> Result<Vec<f32>> {
        let p: usize = dims.iter().product();
        let c = self.in_channels();
        if input.len() != n * p * c {
            return Err(OperatorError::config(
                "input",
                format!(
                    "{} values for {n} samples of {dims:?} points with {c} channels",
                    input.len()
                ),
            ));
        }
        if dims.len() != self.train_grid()?.len() {
            return Err(OperatorError::config(
                "input",
                format!(
                    "the model is {}-D, the input {}-D",
                    self.train_grid()?.len(),
                    dims.len()
                ),
            ));
        }
        let norm = self.normalizer()?;
        let mut out = Vec::with_capacity(n * p * steps.unwrap_or(1));
        let batch = batch.max(1);
        let mut start = 0;
        while start < n {
            let end = (start + batch).min(n);
            let mut shape = vec![end - start];
            shape.extend_from_slice(dims);
            shape.push(c);
            let x = Tensor::from_slice(&input[start * p * c..end * p * c], shape, &self.device)?
                .to_dtype(self.dtype())?
                .affine(1.0 / norm.input_std, -norm.input_mean / norm.input_std)?;
            let y = match steps {
                None => self.forward_normalized(&x)?,
                Some(steps) => self.rollout_normalized(&x, steps, false)?,
            };
            out.extend(y.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
            start = end;
        }
        Ok(out)
    }

    /// The autoregressive rollout of a batch of *normalised* windows `[B, dims…, C]` (C frames,
    /// oldest first): `steps` decoded frames `[B, dims…, steps]` in the target's units. Step
    /// t predicts a frame from the window, which then drops its oldest frame and appends the
    /// prediction (re-normalised with the input statistics). `training`: keep the graph
    /// through the whole rollout (gradients flow through the fed-back predictions, as in the
    /// FNO and LSM papers' Navier–Stokes training) and run an LSM's batch norm in training
    /// mode; otherwise every step is detached and batch norm uses its running statistics.
    pub fn rollout_normalized(&self, x: &Tensor, steps: usize, training: bool) -> Result<Tensor> {
        let norm = self.normalizer()?;
        let last = x.rank() - 1;
        let c = x.dims()[last];
        let mut window = x.clone();
        let mut frames = Vec::with_capacity(steps);
        for _ in 0..steps {
            let mut y = self.forward_mode(&window, training)?;
            if !training {
                y = y.detach();
            }
            let next = y.affine(1.0 / norm.input_std, -norm.input_mean / norm.input_std)?;
            window = if c > 1 {
                Tensor::cat(&[&window.narrow(last, 1, c - 1)?, &next], last)?
            } else {
                next
            };
            frames.push(y);
        }
        Ok(Tensor::cat(&frames, last)?)
    }
}

impl Model for OperatorModel {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

/// Grid coordinates in [0, 1] (endpoints included), `[P, d]` with the last axis fastest.
pub fn grid_points(dims: &[usize], device: &Device) -> Result<Tensor> {
    let coord = |i: usize, n: usize| {
        if n > 1 {
            i as f64 / (n - 1) as f64
        } else {
            0.0
        }
    };
    let t = match *dims {
        [n] => Tensor::from_vec(
            (0..n).map(|i| coord(i, n)).collect::<Vec<_>>(),
            (n, 1),
            device,
        )?,
        [h, w] => {
            let mut v = Vec::with_capacity(h * w * 2);
            for i in 0..h {
                for j in 0..w {
                    v.push(coord(i, h));
                    v.push(coord(j, w));
                }
            }
            Tensor::from_vec(v, (h * w, 2), device)?
        }
        _ => {
            return Err(OperatorError::config(
                "data",
                format!("1-D or 2-D grids only, got {dims:?}"),
            ))
        }
    };
    Ok(t)
}

fn config_error(key: &str, e: nabla_nn::NnError) -> OperatorError {
    match e {
        nabla_nn::NnError::Invalid { what, reason } => {
            OperatorError::config(&format!("{key}.{what}"), reason)
        }
        other => OperatorError::Nn(other),
    }
}
