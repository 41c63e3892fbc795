//! A whole parameter-estimation run: windows, supervised training on relative parameter
//! error, then per-split evaluation before and after test-time tuning, beside the
//! least-squares minimiser of the same residual.

use super::config::InverseConfig;
use super::data::{least_squares, Folder, Physics, Term, WindowPick, Windows};
use super::model::{EncoderStats, ParamEncoder};
use crate::objective::epoch_permutation;
use crate::run::train_config_for;
use crate::{OperatorError, Result};
use candle_core::{DType, Tensor};
use nabla_data::inverse::Split;
use nabla_nn::optim::{Adam, AdamConfig};
use nabla_nn::{train, Model, Objective, Outcome, RunOptions, StepContext};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Errors of one split, before and after tuning.
#[derive(Clone, Debug, Serialize)]
pub struct SplitSummary {
    /// The folder's directory of the split.
    pub split_dir: String,
    /// Trajectories evaluated.
    pub trajectories: usize,
    /// Windows evaluated (`data.eval_windows` per trajectory).
    pub windows: usize,
    /// Mean over windows and parameters of |φ̂ − φ|/|φ|, the trained encoder.
    pub rel_error_before: f64,
    /// The same after test-time tuning (equal to `rel_error_before` when tuning is off).
    pub rel_error_after: f64,
    /// Per parameter, before tuning.
    pub per_parameter_before: BTreeMap<String, f64>,
    /// Per parameter, after tuning.
    pub per_parameter_after: BTreeMap<String, f64>,
    /// Mean relative residual ‖F(φ̂)‖²/‖u_t‖² before tuning.
    pub residual_before: f64,
    /// The same after tuning.
    pub residual_after: f64,
    /// Mean relative residual at the true parameters (the discretisation's floor).
    pub residual_true: f64,
    /// Relative error of the least-squares minimiser of the residual over each trajectory's
    /// windows (a classical reference, no network).
    pub least_squares_rel_error: f64,
    /// Per parameter, least squares.
    pub per_parameter_least_squares: BTreeMap<String, f64>,
}

/// What `summary.json` of an inverse run holds.
#[derive(Clone, Debug, Serialize)]
pub struct InverseSummary {
    /// `reaction-diffusion-2d` or `kdv-1d`.
    pub family: String,
    /// The estimated parameters, in output order.
    pub estimated_parameters: Vec<String>,
    /// Always `fno`.
    pub model: String,
    /// Frames per window.
    pub n_past: usize,
    /// Whether derivative channels were input.
    pub derivatives: bool,
    /// Input channels per point.
    pub channels: usize,
    /// Grid points per axis.
    pub resolution: Vec<usize>,
    /// Training windows and trajectories.
    pub train_windows: usize,
    /// Training trajectories.
    pub train_trajectories: usize,
    /// Mean relative parameter error on the validation windows after training (NaN without
    /// a validation split).
    pub validation_rel_error: f64,
    /// Splits `id` (test/), `ood` (out_of_distribution/), `extreme`
    /// (out_of_distribution_extreme/), where present.
    pub splits: BTreeMap<String, SplitSummary>,
    /// Test-time tuning settings and cost.
    pub tuning: TuningSummary,
    /// Epochs completed.
    pub epochs: f64,
    /// Optimizer steps.
    pub iterations: usize,
    /// Training wall time in seconds (excluding evaluation and tuning).
    pub seconds: f64,
    /// Trainable parameters of the encoder.
    pub parameters: usize,
    /// The last minibatch loss (mean squared relative parameter error).
    pub final_loss: f64,
    /// `completed` or `stopped`.
    pub outcome: Outcome,
    /// Peak resident memory in MiB (Linux).
    pub peak_rss_mib: Option<f64>,
}

/// Test-time tuning as run.
#[derive(Clone, Debug, Serialize)]
pub struct TuningSummary {
    /// Adam steps per trajectory.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Anchor weight α.
    pub alpha: f64,
    /// Seconds spent tuning, all splits.
    pub seconds: f64,
}

/// One evaluated window (a row of `estimates.csv`).
#[derive(Clone, Debug)]
pub struct Estimate {
    /// `id`, `ood` or `extreme`.
    pub split: String,
    /// Trajectory within the split.
    pub trajectory: usize,
    /// True parameters.
    pub truth: Vec<f64>,
    /// The trained encoder's estimate.
    pub before: Vec<f64>,
    /// After tuning.
    pub after: Vec<f64>,
    /// Least squares on the trajectory's residual.
    pub least_squares: Vec<f64>,
}

/// The outcome of [`train_inverse`].
pub struct InverseRun {
    /// The summary.
    pub summary: InverseSummary,
    /// Every evaluated window.
    pub estimates: Vec<Estimate>,
}

/// Mean and standard deviation per channel of channels-last windows.
fn channel_stats(w: &Windows) -> (Vec<f64>, Vec<f64>) {
    let c = w.channels;
    let mut sum = vec![0.0; c];
    let mut sq = vec![0.0; c];
    for (i, v) in w.inputs.iter().enumerate() {
        let v = *v as f64;
        sum[i % c] += v;
        sq[i % c] += v * v;
    }
    let n = (w.inputs.len() / c.max(1)).max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / n - m * m).max(0.0).sqrt().max(1e-12))
        .collect();
    (mean, std)
}

fn log_stats(w: &Windows) -> (Vec<f64>, Vec<f64>) {
    let m = w.param_count;
    let n = w.len().max(1) as f64;
    let mut mean = vec![0.0; m];
    let mut sq = vec![0.0; m];
    for row in w.params.chunks(m) {
        for j in 0..m {
            let l = row[j].ln();
            mean[j] += l / n;
            sq[j] += l * l / n;
        }
    }
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, mu)| (q - mu * mu).max(0.0).sqrt().max(1e-3))
        .collect();
    (mean, std)
}

/// The windows `idx` as raw inputs, and the true parameters as a `[B, m]` f64 tensor.
fn gather(w: &Windows, idx: &[usize]) -> Vec<f32> {
    let len = w.window_len();
    let mut raw = Vec::with_capacity(idx.len() * len);
    for &i in idx {
        raw.extend_from_slice(&w.inputs[i * len..(i + 1) * len]);
    }
    raw
}

/// Estimates for windows `idx` (no gradient), `[idx.len()][m]`.
fn estimate(model: &ParamEncoder, w: &Windows, idx: &[usize]) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(16) {
        let x = model.input(&gather(w, chunk), chunk.len(), &w.dims)?;
        let phi = model.forward(&x)?.detach().to_vec2::<f64>()?;
        out.extend(phi);
    }
    Ok(out)
}

fn mean_relative_error(w: &Windows, est: &[Vec<f64>], idx: &[usize]) -> (f64, Vec<f64>) {
    let m = w.param_count;
    let mut per = vec![0.0; m];
    for (k, &i) in idx.iter().enumerate() {
        for j in 0..m {
            let t = w.params[i * m + j];
            per[j] += (est[k][j] - t).abs() / t.abs() / idx.len().max(1) as f64;
        }
    }
    (per.iter().sum::<f64>() / m as f64, per)
}

/// Supervised minibatches of windows; loss = mean over the batch and parameters of
/// ((φ̂ − φ)/φ)². The batch of step s is a function of s alone (seeded permutations).
struct EstimationObjective {
    train: Windows,
    validation: Windows,
    batch_size: usize,
    seed: u64,
    cached: Option<(usize, Vec<usize>)>,
    /// Data-parallel training: (this rank, ranks); each batch is split in blocks.
    shard: Option<(usize, usize)>,
}

impl EstimationObjective {
    fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.batch_size)
    }
}

impl Objective<ParamEncoder> for EstimationObjective {
    fn loss(
        &mut self,
        model: &ParamEncoder,
        ctx: &mut StepContext<'_>,
    ) -> nabla_nn::Result<Tensor> {
        let e = self.steps_per_epoch();
        let (epoch, b) = (ctx.step / e, ctx.step % e);
        if self.cached.as_ref().map(|c| c.0) != Some(epoch) {
            self.cached = Some((epoch, epoch_permutation(self.seed, epoch, self.train.len())));
        }
        let perm: &[usize] = self.cached.as_ref().map_or(&[], |c| &c.1);
        let n = self.train.len();
        let batch = &perm[b * self.batch_size..((b + 1) * self.batch_size).min(n)];
        let whole = batch.len();
        let idx = match self.shard {
            None => batch,
            Some((rank, size)) => &batch[nabla_core::comm::block_range(whole, rank, size)],
        };
        let m = self.train.param_count;
        if idx.is_empty() {
            // A batch with fewer windows than ranks: this rank adds nothing.
            return Ok(Tensor::zeros((), DType::F32, model.device())?.to_dtype(
                model
                    .params()
                    .trainable()
                    .first()
                    .map_or(DType::F32, |(_, v)| v.dtype()),
            )?);
        }
        let x = model
            .input(&gather(&self.train, idx), idx.len(), &self.train.dims)
            .map_err(to_nn)?;
        let truth: Vec<f64> = idx
            .iter()
            .flat_map(|&i| self.train.params[i * m..(i + 1) * m].iter().copied())
            .collect();
        let truth = Tensor::from_vec(truth, (idx.len(), m), model.device())?;
        let phi = model.forward(&x).map_err(to_nn)?;
        let e2 = ((phi - &truth)? / &truth)?.sqr()?;
        Ok(match self.shard {
            None => e2.mean_all()?,
            // This rank's sum over the whole batch's count: the ranks' losses add up.
            Some(_) => (e2.sum_all()? / (whole * m) as f64)?,
        })
    }

    fn metrics(&mut self, model: &ParamEncoder) -> nabla_nn::Result<Vec<(String, f64)>> {
        let v = if self.validation.is_empty() {
            f64::NAN
        } else {
            let idx: Vec<usize> = (0..self.validation.len()).collect();
            let est = estimate(model, &self.validation, &idx).map_err(to_nn)?;
            mean_relative_error(&self.validation, &est, &idx).0
        };
        Ok(vec![("validation_rel_error".into(), v)])
    }
}

fn to_nn(e: OperatorError) -> nabla_nn::NnError {
    crate::objective::to_nn(e)
}

/// What the tuning loss of one trajectory's windows needs besides the weights, built once
/// per trajectory: the normalised input and the residual forms divided by their scales.
struct TuningBatch {
    x: Tensor,
    gram: Tensor,
}

impl TuningBatch {
    fn new(model: &ParamEncoder, w: &Windows, idx: &[usize], n: usize) -> Result<Self> {
        let x = model.input(&gather(w, idx), idx.len(), &w.dims)?;
        let gram: Vec<f64> = idx
            .iter()
            .flat_map(|&i| {
                let r = &w.residuals[i];
                r.gram.iter().map(move |g| g / r.scale.max(1e-300))
            })
            .collect();
        let gram = Tensor::from_vec(gram, (idx.len(), n, n), model.device())?;
        Ok(TuningBatch { x, gram })
    }
}

/// The tuning loss at the model's current weights:
/// mean ‖F(φ̂)‖²/scale + α‖θ − θ₀‖²/‖θ₀‖².
fn tuning_loss(
    model: &ParamEncoder,
    batch: &TuningBatch,
    terms: &[Term],
    frozen: &[Tensor],
    frozen_norm: f64,
    alpha: f64,
) -> Result<Tensor> {
    let dev = model.device().clone();
    let phi = model.forward(&batch.x)?;
    let b = phi.dims()[0];
    let mut cols = vec![Tensor::ones((b, 1), DType::F64, &dev)?];
    for t in terms {
        let p = phi.narrow(1, t.param, 1)?;
        cols.push((p.powf(t.power as f64)? * t.sign)?);
    }
    let c = Tensor::cat(&cols, 1)?;
    let quad = c
        .unsqueeze(1)?
        .matmul(&batch.gram)?
        .matmul(&c.unsqueeze(2)?)?
        .mean_all()?;
    if alpha == 0.0 {
        return Ok(quad);
    }
    let mut anchor = Tensor::zeros((), DType::F64, &dev)?;
    for ((_, var), t0) in model.params().trainable().iter().zip(frozen) {
        let d = (var.as_tensor() - t0)?
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?;
        anchor = (anchor + d)?;
    }
    Ok((quad + (anchor * (alpha / frozen_norm))?)?)
}

/// Evaluates one split: estimates before tuning, per-trajectory tuning, least squares.
fn evaluate_split(
    config: &InverseConfig,
    model: &ParamEncoder,
    w: &Windows,
    physics: &Physics,
    label: &str,
    tuning_seconds: &mut f64,
    comm: Option<&dyn nabla_core::comm::Communicator>,
) -> Result<(SplitSummary, Vec<Estimate>)> {
    let comm = comm.filter(|c| c.size() > 1);
    let names = physics.parameters();
    let terms = physics.terms();
    let m = w.param_count;
    let all: Vec<usize> = (0..w.len()).collect();
    let before = estimate(model, w, &all)?;
    let frozen: Vec<Tensor> = model
        .params()
        .trainable()
        .iter()
        .map(|(_, v)| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?;
    let frozen_norm = frozen
        .iter()
        .map(|t| -> Result<f64> {
            Ok(t.sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?)
        })
        .sum::<Result<f64>>()?
        .max(1e-300);
    let mut after = before.clone();
    let mut ls = vec![vec![f64::NAN; m]; w.len()];
    let t0 = Instant::now();
    // Under several ranks each tunes its block of trajectories; the estimates are gathered.
    let mine = comm.map_or(0..w.trajectories, |c| {
        nabla_core::comm::block_range(w.trajectories, c.rank(), c.size())
    });
    for traj in mine.clone() {
        let idx = w.of_trajectory(traj);
        if idx.is_empty() {
            continue;
        }
        let forms: Vec<_> = idx.iter().map(|&i| &w.residuals[i]).collect();
        if let Some(phi) = least_squares(&terms, &forms, m) {
            for &i in &idx {
                ls[i] = phi.clone();
            }
        }
        if config.tuning.steps == 0 {
            continue;
        }
        let vars = model.params().vars();
        let mut adam = Adam::new(
            vars.clone(),
            AdamConfig::new(config.tuning.steps, config.tuning.lr),
        )?;
        let batch = TuningBatch::new(model, w, &idx, terms.len() + 1)?;
        for _ in 0..config.tuning.steps {
            let loss = tuning_loss(
                model,
                &batch,
                &terms,
                &frozen,
                frozen_norm,
                config.tuning.alpha,
            )?;
            let grads = loss.backward()?;
            adam.step(&grads, config.tuning.lr)?;
        }
        for (k, phi) in estimate(model, w, &idx)?.into_iter().enumerate() {
            after[idx[k]] = phi;
        }
        for (v, t) in vars.iter().zip(&frozen) {
            v.set(t)?;
        }
    }
    if let Some(c) = comm {
        let rows = |trajs: std::ops::Range<usize>| -> Vec<usize> {
            trajs.flat_map(|t| w.of_trajectory(t)).collect()
        };
        let mut packed = Vec::new();
        for i in rows(mine) {
            packed.extend(&after[i]);
            packed.extend(&ls[i]);
        }
        let all_rows = c.allgather_f64(&packed);
        let mut at = 0;
        for r in 0..c.size() {
            for i in rows(nabla_core::comm::block_range(w.trajectories, r, c.size())) {
                after[i] = all_rows[at..at + m].to_vec();
                ls[i] = all_rows[at + m..at + 2 * m].to_vec();
                at += 2 * m;
            }
        }
    }
    *tuning_seconds += t0.elapsed().as_secs_f64();
    let (rb, pb) = mean_relative_error(w, &before, &all);
    let (ra, pa) = mean_relative_error(w, &after, &all);
    let (rl, pl) = mean_relative_error(w, &ls, &all);
    let residual = |est: &[Vec<f64>]| {
        all.iter()
            .map(|&i| w.residuals[i].relative(&terms, &est[i]))
            .sum::<f64>()
            / all.len().max(1) as f64
    };
    let truth: Vec<Vec<f64>> = (0..w.len())
        .map(|i| w.params[i * m..(i + 1) * m].to_vec())
        .collect();
    let per = |v: &[f64]| -> BTreeMap<String, f64> {
        names
            .iter()
            .zip(v)
            .map(|(n, e)| (n.to_string(), *e))
            .collect()
    };
    let summary = SplitSummary {
        split_dir: String::new(),
        trajectories: w.trajectories,
        windows: w.len(),
        rel_error_before: rb,
        rel_error_after: ra,
        per_parameter_before: per(&pb),
        per_parameter_after: per(&pa),
        residual_before: residual(&before),
        residual_after: residual(&after),
        residual_true: residual(&truth),
        least_squares_rel_error: rl,
        per_parameter_least_squares: per(&pl),
    };
    let estimates = (0..w.len())
        .map(|i| Estimate {
            split: label.to_string(),
            trajectory: w.trajectory[i],
            truth: truth[i].clone(),
            before: before[i].clone(),
            after: after[i].clone(),
            least_squares: ls[i].clone(),
        })
        .collect();
    Ok((summary, estimates))
}

/// Trains the encoder of `config` (checkpoints, metrics with `validation_rel_error`, resume,
/// Ctrl-C through `options`), then evaluates the test, OOD and extreme splits before and
/// after test-time tuning. `progress(stage)` reports what is being done.
pub fn train_inverse(
    config: &InverseConfig,
    options: &RunOptions,
    progress: &dyn Fn(&str),
) -> Result<InverseRun> {
    config.validate()?;
    let folder = Folder::open(&config.data)?;
    progress("reading training windows");
    let train_w = folder.windows(
        &config.data,
        Split::Train,
        WindowPick::Strided(config.data.window_stride),
    )?;
    if train_w.is_empty() {
        return Err(OperatorError::config(
            "data.folder",
            format!(
                "{}: no training windows (train/ is missing or its trajectories have fewer than n_past = {} frames)",
                config.data.folder.display(),
                config.data.n_past
            ),
        ));
    }
    let spread = WindowPick::Spread(config.data.eval_windows);
    let validation = folder.windows(&config.data, Split::Validation, spread)?;
    let (channel_mean, channel_std) = channel_stats(&train_w);
    let (log_mean, log_std) = log_stats(&train_w);
    let stats = EncoderStats {
        channel_mean,
        channel_std,
        log_mean,
        log_std,
    };
    let model = ParamEncoder::new(
        config,
        train_w.dims.len(),
        train_w.channels,
        train_w.param_count,
        &stats,
    )?;
    let mut objective = EstimationObjective {
        train: train_w,
        validation,
        batch_size: config.train.batch_size,
        seed: config.train.seed,
        cached: None,
        shard: options
            .comm
            .filter(|c| c.size() > 1)
            .map(|c| (c.rank(), c.size())),
    };
    let spe = objective.steps_per_epoch();
    let tc = train_config_for(&config.train, spe);
    progress("training");
    let report = train(&model, &mut objective, &tc, options)?;
    let validation_rel_error = objective.metrics(&model)?[0].1;
    let mut splits = BTreeMap::new();
    let mut estimates = Vec::new();
    let mut tuning_seconds = 0.0;
    for (label, split) in [
        ("id", Split::Test),
        ("ood", Split::OutOfDistribution),
        ("extreme", Split::OutOfDistributionExtreme),
    ] {
        let w = folder.windows(&config.data, split, spread)?;
        if w.is_empty() {
            continue;
        }
        progress(&format!("evaluating and tuning on {}", split.dir_name()));
        let (mut s, e) = evaluate_split(
            config,
            &model,
            &w,
            &folder.physics,
            label,
            &mut tuning_seconds,
            options.comm,
        )?;
        s.split_dir = split.dir_name().to_string();
        splits.insert(label.to_string(), s);
        estimates.extend(e);
    }
    let train_w = &objective.train;
    let summary = InverseSummary {
        family: match folder.physics {
            Physics::ReactionDiffusion { .. } => "reaction-diffusion-2d".into(),
            Physics::Kdv { .. } => "kdv-1d".into(),
        },
        estimated_parameters: folder
            .physics
            .parameters()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        model: "fno".into(),
        n_past: config.data.n_past,
        derivatives: config.data.derivatives,
        channels: train_w.channels,
        resolution: train_w.dims.clone(),
        train_windows: train_w.len(),
        train_trajectories: train_w.trajectories,
        validation_rel_error,
        splits,
        tuning: TuningSummary {
            steps: config.tuning.steps,
            lr: config.tuning.lr,
            alpha: config.tuning.alpha,
            seconds: tuning_seconds,
        },
        epochs: report.steps as f64 / spe as f64,
        iterations: report.steps,
        seconds: report.seconds,
        parameters: model.params().num_trainable(),
        final_loss: report.final_loss,
        outcome: report.outcome,
        peak_rss_mib: nabla_core::memory::peak_rss_mib(),
    };
    Ok(InverseRun { summary, estimates })
}

/// Writes `estimates.csv` atomically: split, trajectory, then per parameter (`names`) the truth,
/// the estimate before and after tuning, and the least-squares estimate.
pub fn write_estimates(path: &std::path::Path, names: &[String], rows: &[Estimate]) -> Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("split,trajectory");
    for n in names {
        for kind in ["true", "before", "after", "least_squares"] {
            let _ = write!(text, ",{n}_{kind}");
        }
    }
    text.push('\n');
    for r in rows {
        let _ = write!(text, "{},{}", r.split, r.trajectory);
        for j in 0..names.len() {
            let _ = write!(
                text,
                ",{},{},{},{}",
                r.truth[j], r.before[j], r.after[j], r.least_squares[j]
            );
        }
        text.push('\n');
    }
    nabla_core::atomic::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| nabla_nn::NnError::io(path, e).into())
}
