//! A whole supervised operator run: load data, normalise, train, measure.

use crate::config::{OperatorConfig, OperatorTrainConfig};
use crate::dataset::{self, mean_std, Samples};
use crate::model::{Normalizer, OperatorModel};
use crate::objective::{mean_relative_l2, SupervisedObjective};
use crate::Result;
use candle_core::Tensor;
use nabla_nn::optim::{AdamConfig, LrSchedule, Recipe, Stage};
use nabla_nn::{train, Model, Outcome, RunOptions, TrainConfig, TrainReport};
use serde::Serialize;

/// What `summary.json` of an operator run holds.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorSummary {
    /// `fno` or `deeponet`.
    pub model: String,
    /// Mean relative L2 error over the test samples (the headline figure).
    pub test_rel_l2: f64,
    /// Mean relative L2 error over the training samples.
    pub train_rel_l2: f64,
    /// Training samples.
    pub train_samples: usize,
    /// Test samples.
    pub test_samples: usize,
    /// Grid points per axis the model was trained on.
    pub resolution: Vec<usize>,
    /// Epochs completed.
    pub epochs: f64,
    /// Optimizer steps (minibatches).
    pub iterations: usize,
    /// Training wall time in seconds (including time before a resume; excludes the periodic
    /// test-set evaluation and checkpoint writes, reported in `bookkeeping_seconds`).
    pub seconds: f64,
    /// Seconds spent on the periodic test-set evaluation and checkpoint writes.
    pub bookkeeping_seconds: f64,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Training throughput: samples per second through forward + backward + update.
    pub samples_per_second: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// The last minibatch loss.
    pub final_loss: f64,
    /// `completed` or `stopped` (Ctrl-C).
    pub outcome: Outcome,
    /// Peak resident memory of the process in MiB (Linux).
    pub peak_rss_mib: Option<f64>,
}

/// The outcome of [`train_operator`].
pub struct OperatorRun {
    /// The trained model.
    pub model: OperatorModel,
    /// The training loop's report.
    pub report: TrainReport,
    /// The summary.
    pub summary: OperatorSummary,
    /// The test samples (raw), for plots.
    pub test: Samples,
    /// The model's predictions on them.
    pub test_prediction: Vec<f32>,
}

/// The optimisation settings of a config as a `nabla_nn::TrainConfig` (epochs → steps).
pub fn train_config(config: &OperatorConfig) -> TrainConfig {
    train_config_for(&config.train, config.steps_per_epoch())
}

/// The optimisation settings of a `[train]` section as a `nabla_nn::TrainConfig`, with `spe`
/// optimizer steps per epoch (epoch counts and step schedules become step counts).
pub fn train_config_for(t: &OperatorTrainConfig, spe: usize) -> TrainConfig {
    let schedule = match t.schedule.clone() {
        LrSchedule::Step { every, gamma } => LrSchedule::Step {
            every: every * spe,
            gamma,
        },
        LrSchedule::Exponential { gamma, every } => LrSchedule::Exponential {
            gamma,
            every: every * spe,
        },
        other => other,
    };
    let mut adam = AdamConfig::new(t.epochs * spe, t.lr).schedule(schedule);
    adam.weight_decay = t.weight_decay;
    let mut c = TrainConfig::new(Recipe {
        stages: vec![Stage::Adam(adam)],
    });
    c.seed = t.seed;
    c.log_every = t.log_every_epochs * spe;
    c.checkpoint_every = t.checkpoint_every_epochs * spe;
    c.progress = t.progress;
    c
}

fn tensors(model: &OperatorModel, s: &Samples, norm: &Normalizer) -> Result<(Tensor, Tensor)> {
    let mut shape = vec![s.n];
    shape.extend_from_slice(&s.dims);
    shape.push(1);
    let dev = model.device();
    let x = Tensor::from_slice(&s.input, shape.clone(), dev)?
        .to_dtype(model.dtype())?
        .affine(1.0 / norm.input_std, -norm.input_mean / norm.input_std)?;
    let y = Tensor::from_slice(&s.target, shape, dev)?.to_dtype(model.dtype())?;
    Ok((x, y))
}

/// Trains the operator of `config` with the run options (run directory, resume, stop flag).
/// Writes `checkpoint.safetensors` and `metrics.csv` (with `test_rel_l2` every
/// `log_every_epochs`) into the run directory; the CLI adds the config, summary and plots.
pub fn train_operator(config: &OperatorConfig, options: &RunOptions) -> Result<OperatorRun> {
    config.validate()?;
    let data = dataset::load(&config.data)?;
    let train_set = data.slice(0..config.data.train);
    let test_set = data.slice(config.data.train..config.data.train + config.data.test);
    let (im, is) = mean_std(&train_set.input);
    let (tm, ts) = mean_std(&train_set.target);
    let norm = Normalizer {
        input_mean: im,
        input_std: is,
        target_mean: tm,
        target_std: ts,
    };
    let model = OperatorModel::new(config, &data.dims, norm)?;
    let train_t = tensors(&model, &train_set, &norm)?;
    let test_t = tensors(&model, &test_set, &norm)?;
    let mut objective = SupervisedObjective::new(
        train_t.clone(),
        test_t.clone(),
        config.train.batch_size,
        config.train.seed,
    );
    let tc = train_config(config);
    let report = train(&model, &mut objective, &tc, options)?;
    let eval_batch = 50;
    let train_rel_l2 = mean_relative_l2(&model, &train_t.0, &train_t.1, eval_batch)?;
    let test_rel_l2 = if test_set.n > 0 {
        mean_relative_l2(&model, &test_t.0, &test_t.1, eval_batch)?
    } else {
        f64::NAN
    };
    let test_prediction = model.predict(&test_set.input, test_set.n, &test_set.dims, eval_batch)?;
    let spe = config.steps_per_epoch();
    let epochs = report.steps as f64 / spe as f64;
    let train_seconds = report.seconds - report.bookkeeping_seconds;
    let summary = OperatorSummary {
        model: config.model.kind().into(),
        test_rel_l2,
        train_rel_l2,
        train_samples: train_set.n,
        test_samples: test_set.n,
        resolution: data.dims.clone(),
        epochs,
        iterations: report.steps,
        seconds: train_seconds,
        bookkeeping_seconds: report.bookkeeping_seconds,
        seconds_per_epoch: train_seconds / epochs.max(1e-12),
        samples_per_second: epochs * train_set.n as f64 / train_seconds.max(1e-12),
        parameters: model.params().num_trainable(),
        final_loss: report.final_loss,
        outcome: report.outcome,
        peak_rss_mib: nabla_core::memory::peak_rss_mib(),
    };
    Ok(OperatorRun {
        model,
        report,
        summary,
        test: test_set,
        test_prediction,
    })
}
