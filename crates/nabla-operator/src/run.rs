//! A whole supervised operator run: load data, normalise, train, measure.

use crate::config::{OperatorConfig, OperatorTrainConfig};
use crate::dataset::{self, mean_std, Samples};
use crate::model::{Normalizer, OperatorModel};
use crate::objective::{mean_relative_l2, rollout_errors, SupervisedObjective};
use crate::Result;
use candle_core::Tensor;
use nabla_nn::optim::{AdamConfig, LrSchedule, Recipe, Stage};
use nabla_nn::{train, Model, Outcome, RunOptions, TrainConfig, TrainReport};
use serde::Serialize;

/// What `summary.json` of an operator run holds.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorSummary {
    /// `fno`, `deeponet` or `lsm`.
    pub model: String,
    /// Mean relative L2 error over the test samples (the headline figure); for `series-2d`,
    /// of the whole autoregressive rollout (all `output_frames` frames at once, the FNO
    /// paper's "test l2 full").
    pub test_rel_l2: f64,
    /// `series-2d` only: the mean relative L2 error of each rollout step over the test
    /// samples (`output_frames` values, step 1 first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_rel_l2_per_step: Option<Vec<f64>>,
    /// Mean relative L2 error over the training samples (`series-2d`: of the whole rollout).
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
    /// Training throughput: samples per second through forward + backward + update (a
    /// `series-2d` sample is a whole rollout of `output_frames` model evaluations).
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
    /// The model's predictions on them, `[n, dims…, test.target_channels]` (`series-2d`: the
    /// rollout's frames, channels last).
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
    let shape = |c: usize| {
        let mut shape = vec![s.n];
        shape.extend_from_slice(&s.dims);
        shape.push(c);
        shape
    };
    let dev = model.device();
    let x = Tensor::from_slice(&s.input, shape(s.input_channels), dev)?
        .to_dtype(model.dtype())?
        .affine(1.0 / norm.input_std, -norm.input_mean / norm.input_std)?;
    let y =
        Tensor::from_slice(&s.target, shape(s.target_channels), dev)?.to_dtype(model.dtype())?;
    Ok((x, y))
}

/// The normaliser of a training set: mean and standard deviation of all input values and of
/// all target values — or, for an autoregressive series, one mean and standard deviation of
/// every frame (input and rollout frames alike) for both, since predictions are fed back as
/// inputs.
pub fn normalizer_for(train: &Samples, rollout: bool) -> Normalizer {
    if rollout {
        let (m, s) = crate::dataset::mean_std_of(&[&train.input, &train.target]);
        return Normalizer {
            input_mean: m,
            input_std: s,
            target_mean: m,
            target_std: s,
        };
    }
    let (im, is) = mean_std(&train.input);
    let (tm, ts) = mean_std(&train.target);
    Normalizer {
        input_mean: im,
        input_std: is,
        target_mean: tm,
        target_std: ts,
    }
}

/// Trains the operator of `config` with the run options (run directory, resume, stop flag).
/// Writes `checkpoint.safetensors` and `metrics.csv` (with `test_rel_l2` every
/// `log_every_epochs`; `series-2d` runs also `test_rel_l2_step_1`, … per rollout step) into
/// the run directory; the CLI adds the config, summary and plots.
pub fn train_operator(config: &OperatorConfig, options: &RunOptions) -> Result<OperatorRun> {
    config.validate()?;
    let data = dataset::load(&config.data)?;
    let train_set = data.slice(0..config.data.train);
    let test_set = data.slice(config.data.train..config.data.train + config.data.test);
    let rollout = config.data.rollout_steps();
    let norm = normalizer_for(&train_set, rollout.is_some());
    let model = OperatorModel::new(config, &data.dims, norm)?;
    let train_t = tensors(&model, &train_set, &norm)?;
    let test_t = tensors(&model, &test_set, &norm)?;
    let mut objective = SupervisedObjective::new(
        train_t.clone(),
        test_t.clone(),
        config.train.batch_size,
        config.train.seed,
    );
    if let Some(steps) = rollout {
        objective = objective.with_rollout(steps);
    }
    if let Some(comm) = options.comm {
        objective.set_shard(comm.rank(), comm.size());
    }
    let tc = train_config(config);
    let report = train(&model, &mut objective, &tc, options)?;
    let eval_batch = 50;
    let (train_rel_l2, test_rel_l2, test_rel_l2_per_step, test_prediction) = match rollout {
        Some(steps) => {
            let (train_full, _) = rollout_errors(&model, &train_t.0, &train_t.1, eval_batch)?;
            let (test_full, per_step) = rollout_errors(&model, &test_t.0, &test_t.1, eval_batch)?;
            let pred = model.rollout(
                &test_set.input,
                test_set.n,
                &test_set.dims,
                steps,
                eval_batch,
            )?;
            (train_full, test_full, Some(per_step), pred)
        }
        None => {
            let train_rel_l2 = mean_relative_l2(&model, &train_t.0, &train_t.1, eval_batch)?;
            let test_rel_l2 = if test_set.n > 0 {
                mean_relative_l2(&model, &test_t.0, &test_t.1, eval_batch)?
            } else {
                f64::NAN
            };
            let pred = model.predict(&test_set.input, test_set.n, &test_set.dims, eval_batch)?;
            (train_rel_l2, test_rel_l2, None, pred)
        }
    };
    let spe = config.steps_per_epoch();
    let epochs = report.steps as f64 / spe as f64;
    let train_seconds = report.seconds - report.bookkeeping_seconds;
    let summary = OperatorSummary {
        model: config.model.kind().into(),
        test_rel_l2,
        test_rel_l2_per_step,
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
