//! The parameter encoder: FNO → spatial mean → MLP head → φ̂ = exp(c + s·z).

use super::config::InverseConfig;
use crate::{OperatorError, Result};
use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::{Activation, Fno, FnoConfig, Mlp, MlpConfig, Model, ParamStore};

/// Per-channel input statistics and per-parameter log statistics, fixed at the start of
/// training and stored in the checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderStats {
    /// Mean of each input channel over the training windows.
    pub channel_mean: Vec<f64>,
    /// Standard deviation of each input channel (≥ 1e-12).
    pub channel_std: Vec<f64>,
    /// Mean of ln φ_i over the training windows.
    pub log_mean: Vec<f64>,
    /// Standard deviation of ln φ_i (≥ 1e-3).
    pub log_std: Vec<f64>,
}

/// The encoder with its statistics (frozen buffers `channel_stats` [2, C] and `log_stats`
/// [2, m], next to the trainable `fno.*` and `head.*`).
pub struct ParamEncoder {
    fno: Fno,
    head: Mlp,
    params: ParamStore,
    channel_stats: Var,
    log_stats: Var,
    device: Device,
}

impl ParamEncoder {
    /// A fresh encoder for windows of `channels` channels on a `dim`-D grid, estimating
    /// `param_count` parameters.
    pub fn new(
        config: &InverseConfig,
        dim: usize,
        channels: usize,
        param_count: usize,
        stats: &EncoderStats,
    ) -> Result<Self> {
        let device = nabla_core::device::open_device(&config.device)
            .map_err(|e| OperatorError::config("device", e.to_string()))?;
        let m = &config.model;
        let seed = m.seed.unwrap_or(config.train.seed);
        let fno = Fno::new(
            &FnoConfig {
                in_channels: channels,
                out_channels: m.features,
                modes: vec![m.modes; dim],
                width: m.width,
                layers: m.layers,
                projection: m.projection,
                grid_channels: true,
                padding: 0.0,
                precision: m.precision,
                seed,
            },
            &device,
        )
        .map_err(|e| OperatorError::config("model", e.to_string()))?;
        let head = MlpConfig::new(&[m.features, m.head_hidden, param_count])
            .activation(Activation::Gelu)
            .precision(m.precision)
            .seed(seed.wrapping_add(1))
            .build(&device)
            .map_err(|e| OperatorError::config("model", e.to_string()))?;
        let mut params = ParamStore::new();
        params.extend_prefixed("fno", fno.params())?;
        params.extend_prefixed("head", head.params())?;
        let row = |a: &[f64], b: &[f64]| -> Result<Tensor> {
            let v: Vec<f64> = a.iter().chain(b).copied().collect();
            Ok(Tensor::from_vec(v, (2, a.len()), &device)?)
        };
        let channel_stats = params.add_frozen(
            "channel_stats",
            &row(&stats.channel_mean, &stats.channel_std)?,
        )?;
        let log_stats = params.add_frozen("log_stats", &row(&stats.log_mean, &stats.log_std)?)?;
        Ok(ParamEncoder {
            fno,
            head,
            params,
            channel_stats,
            log_stats,
            device,
        })
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype of the weights.
    pub fn dtype(&self) -> DType {
        self.params
            .trainable()
            .first()
            .map(|(_, v)| v.dtype())
            .unwrap_or(DType::F32)
    }

    /// The statistics stored in the model.
    pub fn stats(&self) -> Result<EncoderStats> {
        let c = self.channel_stats.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let l = self.log_stats.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        Ok(EncoderStats {
            channel_mean: c[0].clone(),
            channel_std: c[1].clone(),
            log_mean: l[0].clone(),
            log_std: l[1].clone(),
        })
    }

    /// Normalised model input for raw windows `[B, dims…, C]` (flat f32).
    pub fn input(&self, raw: &[f32], batch: usize, dims: &[usize]) -> Result<Tensor> {
        let stats = self.stats()?;
        let c = stats.channel_mean.len();
        let mut shape = vec![batch];
        shape.extend_from_slice(dims);
        shape.push(c);
        let x = Tensor::from_slice(raw, shape, &self.device)?.to_dtype(DType::F64)?;
        let mean = Tensor::from_vec(stats.channel_mean, c, &self.device)?;
        let std = Tensor::from_vec(stats.channel_std, c, &self.device)?;
        Ok(x.broadcast_sub(&mean)?
            .broadcast_div(&std)?
            .to_dtype(self.dtype())?)
    }

    /// Estimated parameters `[B, m]` (f64) for normalised inputs. Differentiable.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let features = self.fno.forward(x)?;
        let dims = features.dims().to_vec();
        let b = dims[0];
        let f = dims[dims.len() - 1];
        let pooled = features.reshape((b, (), f))?.mean(1)?;
        let z = self.head.forward(&pooled)?.to_dtype(DType::F64)?;
        let l = self.log_stats.as_tensor().to_dtype(DType::F64)?;
        let (mean, std) = (l.get(0)?, l.get(1)?);
        Ok(z.broadcast_mul(&std)?.broadcast_add(&mean)?.exp()?)
    }
}

impl Model for ParamEncoder {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
