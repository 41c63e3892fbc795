//! A trained neural operator as a function a simulation code calls: [`Operator::load`] a run
//! directory (or its checkpoint file alone) and [`Operator::predict`] on your own arrays, at the
//! training resolution or any other the model supports; or [`Operator::predict_file`] on an
//! HDF5 file in the training data's layout (what `nabla eval --input` does). A `series-2d`
//! model predicts autoregressive rollouts ([`Operator::rollout`]).

use crate::config::{Layout, OperatorConfig};
use crate::dataset::{channels_last_to_frames, frames_to_channels_last};
use crate::model::{Net, OperatorModel, TASK};
use crate::{OperatorError, Result};
use nabla_data::{AttrValue, DarcyData, Series1dData, Series2dData};
use nabla_nn::run_dir::{describe, RunDescription};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::path::{Path, PathBuf};

/// Samples per forward pass when predicting: bounds the memory of a call on a large batch.
const BATCH: usize = 20;

/// A trained FNO, DeepONet or LSM loaded for prediction.
///
/// ```no_run
/// use nabla_operator::Operator;
/// use ndarray::Array3;
/// let op = Operator::load("runs/fno_darcy")?;
/// // Two coefficient fields on a 64 × 64 grid (any resolution an FNO supports).
/// let a = Array3::<f64>::from_elem((2, 64, 64), 3.0);
/// let u = op.predict(a.view().into_dyn())?;
/// assert_eq!(u.shape(), &[2, 64, 64]);
/// # Ok::<(), nabla_operator::OperatorError>(())
/// ```
pub struct Operator {
    model: OperatorModel,
    config: OperatorConfig,
    source: PathBuf,
}

/// What [`Operator::predict_file`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionFile {
    /// Samples predicted.
    pub samples: usize,
    /// Grid points per axis of the inputs (and predictions).
    pub dims: Vec<usize>,
    /// The layout written (that of the training data).
    pub layout: Layout,
    /// `series-2d`: frames predicted per sample (the rollout's length; 1 otherwise).
    pub frames: usize,
    /// `series-2d` inputs that also hold the frames the rollout predicts: the mean relative
    /// L2 error of the whole rollout over the samples (`None` otherwise).
    pub rel_l2: Option<f64>,
    /// As `rel_l2`, per rollout step (step 1 first).
    pub rel_l2_per_step: Option<Vec<f64>>,
}

impl Operator {
    /// Loads the operator of a run directory or checkpoint file: rebuilt from the checkpoint's
    /// self-description, or (checkpoints written before it) from the run's `config.toml`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let description = describe(path.as_ref())?;
        let config = Self::config_of(&description)?;
        Self::from_parts(config, &description.checkpoint)
    }

    /// Like [`Operator::load`], on another device than the one it trained on (`"cpu"`,
    /// `"cuda:0"`).
    pub fn load_on(path: impl AsRef<Path>, device: &str) -> Result<Self> {
        let description = describe(path.as_ref())?;
        let mut config = Self::config_of(&description)?;
        config.device = device.to_string();
        Self::from_parts(config, &description.checkpoint)
    }

    /// The config a described run was trained with; an error when it is not an operator run.
    /// (With [`Operator::from_parts`], lets a caller check the model's size before building it.)
    pub fn config_of(description: &RunDescription) -> Result<OperatorConfig> {
        Ok(description.config(TASK)?)
    }

    /// The model of `config` with the weights, normaliser and training grid of `checkpoint`.
    pub fn from_parts(config: OperatorConfig, checkpoint: &Path) -> Result<Self> {
        let model = OperatorModel::load(&config, checkpoint)?;
        Ok(Operator {
            model,
            config,
            source: checkpoint.to_path_buf(),
        })
    }

    /// The config it was trained with.
    pub fn config(&self) -> &OperatorConfig {
        &self.config
    }

    /// The underlying model (network, normaliser, training grid).
    pub fn model(&self) -> &OperatorModel {
        &self.model
    }

    /// `"fno"`, `"deeponet"` or `"lsm"`.
    pub fn kind(&self) -> &'static str {
        self.config.model.kind()
    }

    /// The layout of the data it was trained on (Darcy: `a(x, y)` → `u(x, y)`; 1-D series:
    /// one snapshot → a later one).
    pub fn layout(&self) -> Layout {
        self.config.data.layout
    }

    /// Grid points per axis of the training data.
    pub fn train_grid(&self) -> Result<Vec<usize>> {
        self.model.train_grid()
    }

    /// The smallest grid (points per axis) the model can evaluate on: 2·modes for an FNO (its
    /// truncated spectrum must fit), 2 for a DeepONet (inputs are resampled to the training
    /// grid) and an LSM (any grid is zero-padded up to whole patches at every level).
    pub fn min_grid(&self) -> Result<Vec<usize>> {
        let d = self.train_grid()?.len();
        Ok(match &self.model.net {
            Net::Fno(f) => f.min_points(),
            Net::DeepONet(_) | Net::Lsm(_) => vec![2; d],
        })
    }

    /// Predictions for the inputs `[batch, n₁(, n₂)]` on a uniform grid over [0, 1]^d (endpoints
    /// included): `[batch, n₁(, n₂)]` in the target's units. The grid may differ from the
    /// training grid down to [`Operator::min_grid`].
    ///
    /// A `series-2d` model takes `[batch, input_frames, n₁, n₂]` (the frames that start each
    /// rollout, oldest first) and returns its rollout of the trained length,
    /// `[batch, output_frames, n₁, n₂]` ([`Operator::rollout`] for another length).
    pub fn predict(&self, input: ArrayViewD<'_, f64>) -> Result<ArrayD<f64>> {
        if let Some(steps) = self.config.data.rollout_steps() {
            return self.rollout(input, steps);
        }
        let shape = input.shape().to_vec();
        let train = self.train_grid()?;
        if shape.len() != train.len() + 1 {
            return Err(OperatorError::Input(format!(
                "input has shape {shape:?}; the model takes [batch, {}] ({}-D grids)",
                vec!["points"; train.len()].join(", "),
                train.len()
            )));
        }
        let (n, dims) = (shape[0], &shape[1..]);
        for (axis, (&have, &min)) in dims.iter().zip(self.min_grid()?.iter()).enumerate() {
            if have < min {
                return Err(OperatorError::Input(format!(
                    "input axis {} has {have} points; the model needs at least {min}",
                    axis + 1
                )));
            }
        }
        if let Some((index, v)) = input.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(OperatorError::Input(format!(
                "input has the non-finite value {v} at {:?}",
                ndarray::Dimension::slice(&index)
            )));
        }
        let values: Vec<f32> = input.iter().map(|&v| v as f32).collect();
        let out = self.model.predict(&values, n, dims, BATCH)?;
        ArrayD::from_shape_vec(IxDyn(&shape), out.into_iter().map(f64::from).collect())
            .map_err(|e| OperatorError::Input(format!("internal: prediction shape: {e}")))
    }

    /// Frames that start a rollout (`input_frames` of a `series-2d` model; 1 otherwise).
    pub fn input_frames(&self) -> usize {
        self.model.in_channels()
    }

    /// The autoregressive rollout of a `series-2d` model: from `[batch, input_frames, n₁, n₂]`
    /// (each trajectory's last `input_frames` frames, oldest first, on a uniform grid of the
    /// unit torus that may differ from the training grid down to [`Operator::min_grid`]),
    /// `steps` predicted frames `[batch, steps, n₁, n₂]`, each from the `input_frames` frames
    /// before it, the model's own predictions fed back in.
    pub fn rollout(&self, input: ArrayViewD<'_, f64>, steps: usize) -> Result<ArrayD<f64>> {
        if self.layout() != Layout::Series2d {
            return Err(OperatorError::Input(format!(
                "a rollout needs a model trained with layout = \"series-2d\"; this one was \
                 trained on \"{}\"",
                self.layout().name()
            )));
        }
        if steps == 0 {
            return Err(OperatorError::Input("a rollout needs steps ≥ 1".into()));
        }
        let shape = input.shape().to_vec();
        let c = self.input_frames();
        if shape.len() != 4 || shape[1] != c {
            return Err(OperatorError::Input(format!(
                "input has shape {shape:?}; the model takes [batch, {c} frames, points, points]"
            )));
        }
        let (n, dims) = (shape[0], &shape[2..]);
        for (axis, (&have, &min)) in dims.iter().zip(self.min_grid()?.iter()).enumerate() {
            if have < min {
                return Err(OperatorError::Input(format!(
                    "input axis {} has {have} points; the model needs at least {min}",
                    axis + 2
                )));
            }
        }
        if let Some((index, v)) = input.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(OperatorError::Input(format!(
                "input has the non-finite value {v} at {:?}",
                ndarray::Dimension::slice(&index)
            )));
        }
        let p = dims[0] * dims[1];
        let frames: Vec<f32> = input.iter().map(|&v| v as f32).collect();
        let x = frames_to_channels_last(&frames, n, c, p);
        let y = self.model.rollout(&x, n, dims, steps, BATCH)?;
        let y = channels_last_to_frames(&y, n, steps, p);
        ArrayD::from_shape_vec(
            IxDyn(&[n, steps, dims[0], dims[1]]),
            y.into_iter().map(f64::from).collect(),
        )
        .map_err(|e| OperatorError::Input(format!("internal: prediction shape: {e}")))
    }

    /// Predictions for every input of the HDF5 file `input`, written atomically to `out` in the
    /// layout of the training data: Darcy `nu` `[N, S, S]` → `tensor` `[N, 1, S, S]` with `nu`
    /// copied; 1-D series `tensor[:, input_step]` → `tensor` `[N, 2, Nx]` (input, prediction);
    /// 2-D series `tensor[:, :input_frames]` → `tensor` `[N, output_frames, Nx, Ny]`, the
    /// rollout (in the place of the input's frames `input_frames..input_frames +
    /// output_frames`, with their times in `t-coordinate`, the input's coordinates and `Nu`),
    /// with its errors against those frames when the input holds them.
    pub fn predict_file(&self, input: &Path, out: &Path) -> Result<PredictionFile> {
        let run_attr = AttrValue::from(self.source.display().to_string().as_str());
        match self.layout() {
            Layout::Darcy => {
                let (n, s, nu) = nabla_data::read_darcy_coefficients(input)?;
                check_finite(input, "nu", &nu, s * s)?;
                let a = ArrayD::from_shape_vec(
                    IxDyn(&[n, s, s]),
                    nu.iter().map(|&v| f64::from(v)).collect(),
                )
                .map_err(|e| OperatorError::Input(format!("internal: {e}")))?;
                let pred = self.predict(a.view())?;
                let coords: Vec<f32> = (0..s)
                    .map(|i| {
                        if s > 1 {
                            i as f32 / (s - 1) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let data = DarcyData {
                    n,
                    s,
                    coefficient: nu,
                    solution: pred.iter().map(|&v| v as f32).collect(),
                    x: coords.clone(),
                    y: coords,
                    beta: 1.0,
                };
                nabla_data::write_darcy(out, &data, &[("nabla_run", run_attr)])?;
                Ok(PredictionFile {
                    samples: n,
                    dims: vec![s, s],
                    layout: Layout::Darcy,
                    frames: 1,
                    rel_l2: None,
                    rel_l2_per_step: None,
                })
            }
            Layout::Series1d => {
                let d = nabla_data::read_series_1d(input, None)?;
                let i = self.config.data.input_step;
                if i >= d.nt {
                    return Err(OperatorError::Input(format!(
                        "{}: has {} time steps, the model reads step {i}",
                        input.display(),
                        d.nt
                    )));
                }
                let mut inputs = Vec::with_capacity(d.n * d.nx);
                for k in 0..d.n {
                    let base = (k * d.nt + i) * d.nx;
                    inputs.extend_from_slice(&d.tensor[base..base + d.nx]);
                }
                check_finite(input, &format!("tensor[:, {i}]"), &inputs, d.nx)?;
                let a = ArrayD::from_shape_vec(
                    IxDyn(&[d.n, d.nx]),
                    inputs.iter().map(|&v| f64::from(v)).collect(),
                )
                .map_err(|e| OperatorError::Input(format!("internal: {e}")))?;
                let pred: Vec<f32> = self.predict(a.view())?.iter().map(|&v| v as f32).collect();
                let mut tensor = Vec::with_capacity(2 * d.n * d.nx);
                for k in 0..d.n {
                    tensor.extend_from_slice(&inputs[k * d.nx..(k + 1) * d.nx]);
                    tensor.extend_from_slice(&pred[k * d.nx..(k + 1) * d.nx]);
                }
                let target = if self.config.data.target_step < 0 {
                    (d.nt as i64 + self.config.data.target_step).max(0) as usize
                } else {
                    self.config.data.target_step as usize
                };
                let t_at = |m: usize| d.t.get(m).copied().unwrap_or(m as f32);
                let data = Series1dData {
                    n: d.n,
                    nt: 2,
                    nx: d.nx,
                    tensor,
                    x: d.x.clone(),
                    t: vec![t_at(i), t_at(target)],
                    nu: d.nu,
                };
                nabla_data::write_series_1d(out, &data, &[("nabla_run", run_attr)])?;
                Ok(PredictionFile {
                    samples: d.n,
                    dims: vec![d.nx],
                    layout: Layout::Series1d,
                    frames: 1,
                    rel_l2: None,
                    rel_l2_per_step: None,
                })
            }
            Layout::Series2d => self.predict_series_2d(input, out, run_attr),
        }
    }

    fn predict_series_2d(
        &self,
        input: &Path,
        out: &Path,
        run_attr: AttrValue,
    ) -> Result<PredictionFile> {
        let d = nabla_data::read_series_2d(input, None)?;
        let (ti, to) = (self.input_frames(), self.config.data.output_frames);
        if d.nt < ti {
            return Err(OperatorError::Input(format!(
                "{}: has {} frames per trajectory, the model reads the first {ti}",
                input.display(),
                d.nt
            )));
        }
        let block = d.nx * d.ny;
        let mut frames = Vec::with_capacity(d.n * ti * block);
        for k in 0..d.n {
            let base = k * d.nt * block;
            frames.extend_from_slice(&d.tensor[base..base + ti * block]);
        }
        check_finite(input, &format!("tensor[:, :{ti}]"), &frames, ti * block)?;
        let a = ArrayD::from_shape_vec(
            IxDyn(&[d.n, ti, d.nx, d.ny]),
            frames.iter().map(|&v| f64::from(v)).collect(),
        )
        .map_err(|e| OperatorError::Input(format!("internal: {e}")))?;
        drop(frames);
        let pred: Vec<f32> = self
            .rollout(a.view(), to)?
            .iter()
            .map(|&v| v as f32)
            .collect();
        // Errors against the true frames, when the file holds the whole rollout.
        let (rel_l2, rel_l2_per_step) = if d.nt >= ti + to {
            let (mut full, mut per_step) = (0.0, vec![0.0; to]);
            for k in 0..d.n {
                let (mut num_all, mut den_all) = (0.0, 0.0);
                for (t, acc) in per_step.iter_mut().enumerate() {
                    let truth = &d.tensor[(k * d.nt + ti + t) * block..][..block];
                    let p = &pred[(k * to + t) * block..][..block];
                    let (mut num, mut den) = (0.0, 0.0);
                    for (&a, &b) in p.iter().zip(truth) {
                        num += (f64::from(a) - f64::from(b)).powi(2);
                        den += f64::from(b).powi(2);
                    }
                    *acc += (num / den).sqrt();
                    num_all += num;
                    den_all += den;
                }
                full += (num_all / den_all).sqrt();
            }
            let n = d.n.max(1) as f64;
            (
                Some(full / n),
                Some(per_step.into_iter().map(|v| v / n).collect()),
            )
        } else {
            (None, None)
        };
        // Times of the predicted frames, plus PDEBench's extra one past the last; past the
        // file's own times, continued at its last interval.
        let t_at = |m: usize| -> f32 {
            match (d.t.get(m), d.t.len()) {
                (Some(&t), _) => t,
                (None, len) if len >= 2 => {
                    let dt = d.t[len - 1] - d.t[len - 2];
                    d.t[len - 1] + (m + 1 - len) as f32 * dt
                }
                _ => m as f32,
            }
        };
        let t: Vec<f32> = (ti..=ti + to).map(t_at).collect();
        let written = Series2dData {
            n: d.n,
            nt: to,
            nx: d.nx,
            ny: d.ny,
            tensor: pred,
            x: d.x.clone(),
            y: d.y.clone(),
            t,
            nu: d.nu,
        };
        nabla_data::write_series_2d(out, &written, &[("nabla_run", run_attr)])?;
        Ok(PredictionFile {
            samples: d.n,
            dims: vec![d.nx, d.ny],
            layout: Layout::Series2d,
            frames: to,
            rel_l2,
            rel_l2_per_step,
        })
    }
}

/// Errors at the first NaN or infinite input value: the network would turn it into a whole
/// sample of NaN predictions.
fn check_finite(file: &Path, name: &str, values: &[f32], per_sample: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(OperatorError::Input(format!(
            "{}: {name} of sample {} has the non-finite value {} at index {}; predictions need \
             finite inputs",
            file.display(),
            k / per_sample.max(1),
            values[k],
            k % per_sample.max(1)
        ))),
    }
}
