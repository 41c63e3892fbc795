//! A DCDM model: the U-Net plus its architecture, so a checkpoint alone rebuilds it.
//!
//! Checkpoint layout (safetensors, written by nabla-nn's training loop): the network weights
//! under `net.*` and a frozen f64 buffer `dcdm.arch` =
//! `[format, dim, channels, levels, convs, recurse, coarsest, precision, train_nx, train_ny,
//! train_nz, coarse_scale, bias]` (precision 32 or 64, `train_nz = 1` in 2-D). [`DcdmModel::load`] reads that buffer,
//! builds the net and loads the weights: no config file is needed to solve with a model.

use crate::{DcdmError, Result};
use candle_core::{DType, Device, Tensor};
use nabla_nn::{Model, ParamStore, Precision, UNet, UNetConfig};
use std::path::Path;

const ARCH: &str = ARCH_KEY;
/// Checkpoint metadata key under which a DCDM model stores its architecture (what
/// [`DcdmModel::load`] rebuilds it from).
pub const ARCH_KEY: &str = "dcdm.arch";
const FORMAT: f64 = 1.0;

/// The trained (or fresh) DCDM network.
pub struct DcdmModel {
    net: UNet,
    params: ParamStore,
    train_grid: Vec<usize>,
}

impl DcdmModel {
    /// A fresh model for training on a grid with sides `train_grid` (`[NX, NY(, NZ)]`).
    pub fn new(config: &UNetConfig, train_grid: &[usize], device: &Device) -> Result<Self> {
        if train_grid.len() != config.dim {
            return Err(DcdmError::config(
                "model.dim",
                format!(
                    "is {}, the grid {:?} is {}-D",
                    config.dim,
                    train_grid,
                    train_grid.len()
                ),
            ));
        }
        let net = UNet::new(config, device).map_err(|e| match e {
            nabla_nn::NnError::Invalid { what, reason } => {
                DcdmError::config(&format!("model.{what}"), reason)
            }
            other => DcdmError::Nn(other),
        })?;
        let mut params = ParamStore::new();
        params.extend_prefixed("net", net.params())?;
        let g = |i: usize| train_grid.get(i).copied().unwrap_or(1) as f64;
        let arch = vec![
            FORMAT,
            config.dim as f64,
            config.channels as f64,
            config.levels as f64,
            config.convs as f64,
            f64::from(u8::from(config.recurse)),
            config.coarsest as f64,
            match config.precision {
                Precision::F32 => 32.0,
                Precision::F64 => 64.0,
            },
            g(0),
            g(1),
            g(2),
            config.coarse_scale,
            f64::from(u8::from(config.bias)),
        ];
        let n = arch.len();
        params.add_frozen(ARCH, &Tensor::from_vec(arch, n, device)?)?;
        Ok(DcdmModel {
            net,
            params,
            train_grid: train_grid.to_vec(),
        })
    }

    /// Loads a model from a checkpoint written by a DCDM training run (or
    /// [`ParamStore::save`] of a [`DcdmModel`]). Errors: missing or unreadable file, a file that
    /// is not a DCDM model, weights that do not fit the stored architecture.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bad = |reason: String| DcdmError::Model {
            path: path.to_path_buf(),
            reason,
        };
        if !path.exists() {
            return Err(bad(
                "file not found (train one with `nabla train configs/dcdm_poisson64.toml`)".into(),
            ));
        }
        let (tensors, _) =
            nabla_nn::params::read_safetensors(path, device).map_err(|e| match e {
                nabla_nn::NnError::Checkpoint { reason, .. } => bad(reason),
                other => bad(other.to_string()),
            })?;
        let arch = tensors
            .get(ARCH)
            .ok_or_else(|| bad(format!("no '{ARCH}' tensor: not a DCDM model")))?;
        let a: Vec<f64> = arch.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
        if a.len() != 13 || a[0] != FORMAT {
            return Err(bad(format!(
                "'{ARCH}' has {} entries (format {}); expected 13 (format {FORMAT})",
                a.len(),
                a.first().copied().unwrap_or(f64::NAN)
            )));
        }
        let as_usize = |i: usize, what: &str| -> Result<usize> {
            let v = a[i];
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1e6 {
                Ok(v as usize)
            } else {
                Err(bad(format!("'{ARCH}': {what} = {v} is not a count")))
            }
        };
        let config = UNetConfig {
            dim: as_usize(1, "dim")?,
            channels: as_usize(2, "channels")?,
            levels: as_usize(3, "levels")?,
            convs: as_usize(4, "convs")?,
            recurse: a[5] != 0.0,
            coarsest: as_usize(6, "coarsest")?,
            coarse_scale: a[11],
            bias: a[12] != 0.0,
            precision: if a[7] == 64.0 {
                Precision::F64
            } else {
                Precision::F32
            },
            seed: 0,
        };
        let dim = config.dim;
        let grid: Vec<usize> = (0..dim)
            .map(|i| as_usize(8 + i, "training grid"))
            .collect::<Result<_>>()?;
        let model = Self::new(&config, &grid, device).map_err(|e| bad(e.to_string()))?;
        model
            .params
            .load_from(&tensors)
            .map_err(|e| bad(format!("weights do not fit the stored architecture: {e}")))?;
        Ok(model)
    }

    /// [`DcdmModel::load`] onto the CPU (what `nabla poisson --solver dcdm` uses).
    pub fn load_cpu(path: &Path) -> Result<Self> {
        Self::load(path, &Device::Cpu)
    }

    /// Loads the model of a DCDM training run: `path` is either the run directory (what
    /// `nabla train configs/dcdm_poisson64.toml --out DIR` or [`crate::train_dcdm`] wrote; its
    /// `checkpoint.safetensors` is read) or a checkpoint file itself.
    ///
    /// Errors ([`DcdmError::Model`], naming `path`): nothing at `path`, a directory with no
    /// checkpoint (not a training run, or one stopped before its first checkpoint), and every
    /// error of [`DcdmModel::load`] (e.g. the checkpoint of another kind of model).
    pub fn load_run(path: &Path, device: &Device) -> Result<Self> {
        let bad = |reason: String| DcdmError::Model {
            path: path.to_path_buf(),
            reason,
        };
        if !path.exists() {
            return Err(bad("no such run directory or checkpoint (train one with \
                 `nabla train configs/dcdm_poisson64.toml`)"
                .into()));
        }
        if path.is_dir() {
            let file = path.join(nabla_nn::train::CHECKPOINT_FILE);
            if !file.is_file() {
                return Err(bad(format!(
                    "is a directory without {}: not a DCDM training run (train one with \
                     `nabla train configs/dcdm_poisson64.toml --out {}`)",
                    nabla_nn::train::CHECKPOINT_FILE,
                    path.display()
                )));
            }
            return Self::load(&file, device);
        }
        Self::load(path, device)
    }

    /// Sets a string saved with the weights (see [`ParamStore::set_metadata`]): training runs
    /// store their self-description (task and resolved config) this way.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.params.set_metadata(key, value);
    }

    /// The network.
    pub fn net(&self) -> &UNet {
        &self.net
    }

    /// The network's configuration.
    pub fn config(&self) -> &UNetConfig {
        self.net.config()
    }

    /// Spatial dimension (2 or 3).
    pub fn dim(&self) -> usize {
        self.net.config().dim
    }

    /// The grid (`[NX, NY(, NZ)]`) the model was trained on.
    pub fn train_grid(&self) -> &[usize] {
        &self.train_grid
    }

    /// `q = net(b)` for a batch of grid tensors `[B, 1, sides…]` (C order). Differentiable.
    pub fn forward(&self, b: &Tensor) -> Result<Tensor> {
        Ok(self.net.forward(&b.to_dtype(self.net.dtype())?)?)
    }

    /// Applies the network to one field on a grid with sides `dims` (`[NX, NY(, NZ)]`, x
    /// fastest), as f64 in and out (f32 inside for an f32 model).
    pub fn apply_grid(&self, field: &[f64], dims: &[usize]) -> Result<Vec<f64>> {
        if dims.len() != self.dim() {
            return Err(DcdmError::Mismatch(format!(
                "the model is {}-D, the grid is {}-D",
                self.dim(),
                dims.len()
            )));
        }
        let mut shape = vec![1usize, 1];
        shape.extend(dims.iter().rev());
        let dtype = self.net.dtype();
        let x = match dtype {
            DType::F64 => Tensor::from_slice(field, shape, self.net.device())?,
            _ => {
                let v: Vec<f32> = field.iter().map(|&x| x as f32).collect();
                Tensor::from_vec(v, shape, self.net.device())?
            }
        };
        let y = self.net.forward(&x)?.flatten_all()?;
        Ok(match dtype {
            DType::F64 => y.to_vec1::<f64>()?,
            _ => y
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from)
                .collect(),
        })
    }
}

impl Model for DcdmModel {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
