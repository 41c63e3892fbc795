//! The supervised objective: mean relative L2 error over shuffled minibatches — of one
//! prediction, or summed over the steps of an autoregressive rollout (`series-2d`).

use crate::model::OperatorModel;
use candle_core::{DType, Tensor};
use nabla_nn::{Objective, StepContext};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

/// Per-sample relative L2 errors ‖p − y‖/‖y‖ of `[B, …]` tensors, as a `[B]` tensor.
pub fn relative_l2_per_sample(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let b = pred.dims()[0];
    let diff = (pred - target)?.reshape((b, ()))?.sqr()?.sum(1)?;
    let norm = target.reshape((b, ()))?.sqr()?.sum(1)?;
    (diff / norm)?.sqrt()
}

/// Mean relative L2 error of the model over a data set (normalised inputs `x`, raw targets
/// `y`), in chunks of `batch`, without building gradients.
pub fn mean_relative_l2(
    model: &OperatorModel,
    x: &Tensor,
    y: &Tensor,
    batch: usize,
) -> nabla_nn::Result<f64> {
    let n = x.dims()[0];
    let mut total = 0.0;
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let pred = model
            .forward_normalized(&x.narrow(0, start, len)?)
            .map_err(to_nn)?
            .detach();
        let e = relative_l2_per_sample(&pred, &y.narrow(0, start, len)?)?;
        total += e.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        start += len;
    }
    Ok(total / n.max(1) as f64)
}

/// Relative L2 errors of rollouts `[B, dims…, T]` (predicted and true frames, channels last):
/// per sample and step, ‖p_t − y_t‖/‖y_t‖ over the grid, `[B, T]`; and per sample over the
/// whole rollout, ‖p − y‖/‖y‖ over grid and steps, `[B]`.
pub fn rollout_relative_l2(
    pred: &Tensor,
    target: &Tensor,
) -> candle_core::Result<(Tensor, Tensor)> {
    let dims = pred.dims();
    let (b, t) = (dims[0], dims[dims.len() - 1]);
    let diff = (pred - target)?.reshape((b, (), t))?.sqr()?.sum(1)?;
    let norm = target.reshape((b, (), t))?.sqr()?.sum(1)?;
    let full = (diff.sum(1)? / norm.sum(1)?)?.sqrt()?;
    Ok(((diff / norm)?.sqrt()?, full))
}

/// Errors of a model's autoregressive rollouts over a data set (normalised input windows `x`
/// `[N, dims…, C]`, raw target frames `y` `[N, dims…, T]`), in chunks of `batch`, without
/// building gradients: the mean over samples of the whole rollout's relative L2 (the FNO
/// paper's "test l2 full") and of each step's, `T` values.
pub fn rollout_errors(
    model: &OperatorModel,
    x: &Tensor,
    y: &Tensor,
    batch: usize,
) -> nabla_nn::Result<(f64, Vec<f64>)> {
    let n = x.dims()[0];
    let steps = y.dims()[y.rank() - 1];
    let mut full = 0.0;
    let mut per_step = vec![0.0; steps];
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let pred = model
            .rollout_normalized(&x.narrow(0, start, len)?, steps, false)
            .map_err(to_nn)?;
        let (step, whole) = rollout_relative_l2(&pred, &y.narrow(0, start, len)?)?;
        full += whole.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        let step: Vec<f64> = step.to_dtype(DType::F64)?.sum(0)?.to_vec1()?;
        for (acc, v) in per_step.iter_mut().zip(step) {
            *acc += v;
        }
        start += len;
    }
    let n = n.max(1) as f64;
    Ok((full / n, per_step.into_iter().map(|v| v / n).collect()))
}

/// The metric names of a rollout's per-step errors in `metrics.csv`: `test_rel_l2_step_1`, ….
pub fn step_metric_name(step: usize) -> String {
    format!("test_rel_l2_step_{step}")
}

pub(crate) fn to_nn(e: crate::OperatorError) -> nabla_nn::NnError {
    match e {
        crate::OperatorError::Nn(e) => e,
        other => nabla_nn::NnError::invalid("operator", other.to_string()),
    }
}

/// The order in which epoch `epoch` visits `n` samples: a permutation seeded by (seed, epoch),
/// so a resumed run draws the same batches without saved state.
pub fn epoch_permutation(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut rng = Pcg64::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    perm.shuffle(&mut rng);
    perm
}

/// Minibatch relative-L2 training on fixed tensors. Step `s` uses batch `s mod E` of epoch
/// `⌊s / E⌋` (E batches per epoch) of a permutation seeded by (seed, epoch) — a function of
/// the step alone, so a resumed run draws the same batches without saved state.
///
/// With a rollout ([`SupervisedObjective::with_rollout`], the `series-2d` layout) the loss is
/// autoregressive: the model predicts T frames one after another from its own predictions,
/// and the loss is the sum over the T steps of the batch-mean relative L2 of each step, with
/// gradients through the whole rollout (the FNO paper's FNO-2D and the LSM paper's
/// Navier–Stokes training). The metrics are then the whole rollout's test error
/// (`test_rel_l2`) and each step's (`test_rel_l2_step_1`, …).
pub struct SupervisedObjective {
    /// Normalised training inputs `[N, dims…, C]`.
    pub train_x: Tensor,
    /// Training targets `[N, dims…, 1]`, or the rollout's frames `[N, dims…, T]`.
    pub train_y: Tensor,
    /// Normalised test inputs.
    pub test_x: Tensor,
    /// Test targets.
    pub test_y: Tensor,
    /// Samples per step.
    pub batch_size: usize,
    /// Seed of the shuffles.
    pub seed: u64,
    /// Autoregressive rollout steps T (`None`: one prediction per sample).
    pub rollout: Option<usize>,
    cached: Option<(usize, Vec<u32>)>,
    /// Data-parallel training: (rank, ranks). Each rank evaluates its block of every batch and
    /// divides by the whole batch's size, so the ranks' losses add up to the batch mean.
    shard: Option<(usize, usize)>,
}

impl SupervisedObjective {
    /// An objective over these tensors.
    pub fn new(
        train: (Tensor, Tensor),
        test: (Tensor, Tensor),
        batch_size: usize,
        seed: u64,
    ) -> Self {
        SupervisedObjective {
            train_x: train.0,
            train_y: train.1,
            test_x: test.0,
            test_y: test.1,
            batch_size,
            seed,
            rollout: None,
            cached: None,
            shard: None,
        }
    }

    /// Makes this objective rank `rank` of `size` in data-parallel training (see
    /// `nabla_nn::RunOptions::comm`). Models with batch normalization (LSM) then normalize
    /// with each rank's share of the batch, as data-parallel PyTorch does without synchronized
    /// batch norm, so their loss curve differs slightly from one rank's.
    pub fn set_shard(&mut self, rank: usize, size: usize) {
        self.shard = (size > 1).then_some((rank, size));
    }

    /// The same objective over autoregressive rollouts of `steps` steps (targets
    /// `[N, dims…, steps]`).
    pub fn with_rollout(mut self, steps: usize) -> Self {
        self.rollout = Some(steps);
        self
    }

    /// Batches per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.train_x.dims()[0].div_ceil(self.batch_size)
    }

    fn permutation(&mut self, epoch: usize) -> &[u32] {
        if self.cached.as_ref().map(|c| c.0) != Some(epoch) {
            let n = self.train_x.dims()[0];
            let perm = epoch_permutation(self.seed, epoch, n)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            self.cached = Some((epoch, perm));
        }
        self.cached.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[])
    }
}

impl Objective<OperatorModel> for SupervisedObjective {
    fn loss(
        &mut self,
        model: &OperatorModel,
        ctx: &mut StepContext<'_>,
    ) -> nabla_nn::Result<Tensor> {
        let e = self.steps_per_epoch();
        let (epoch, b) = (ctx.step / e, ctx.step % e);
        let n = self.train_x.dims()[0];
        let bs = self.batch_size;
        let batch: Vec<u32> = self.permutation(epoch)[b * bs..((b + 1) * bs).min(n)].to_vec();
        let whole = batch.len();
        let idx: Vec<u32> = match self.shard {
            None => batch,
            Some((rank, size)) => batch[nabla_core::comm::block_range(whole, rank, size)].to_vec(),
        };
        if idx.is_empty() {
            // A batch with fewer samples than ranks: this rank adds nothing.
            return Ok(Tensor::zeros(
                (),
                self.train_x.dtype(),
                self.train_x.device(),
            )?);
        }
        let idx = Tensor::from_vec(idx.clone(), idx.len(), self.train_x.device())?;
        let x = self.train_x.index_select(&idx, 0)?;
        let y = self.train_y.index_select(&idx, 0)?;
        let per_sample = if let Some(steps) = self.rollout {
            let pred = model.rollout_normalized(&x, steps, true).map_err(to_nn)?;
            let (per_step, _) = rollout_relative_l2(&pred, &y)?;
            per_step.sum(1)?
        } else {
            let pred = model.forward_train_normalized(&x).map_err(to_nn)?;
            relative_l2_per_sample(&pred, &y)?
        };
        Ok(match self.shard {
            None => per_sample.mean_all()?,
            Some(_) => (per_sample.sum_all()? / whole as f64)?,
        })
    }

    fn metrics(&mut self, model: &OperatorModel) -> nabla_nn::Result<Vec<(String, f64)>> {
        if let Some(steps) = self.rollout {
            let (full, per_step) = if self.test_x.dims()[0] > 0 {
                rollout_errors(model, &self.test_x, &self.test_y, 50)?
            } else {
                (f64::NAN, vec![f64::NAN; steps])
            };
            let mut m = vec![("test_rel_l2".to_string(), full)];
            m.extend(
                per_step
                    .into_iter()
                    .enumerate()
                    .map(|(t, e)| (step_metric_name(t + 1), e)),
            );
            return Ok(m);
        }
        let test = if self.test_x.dims()[0] > 0 {
            mean_relative_l2(model, &self.test_x, &self.test_y, 50)?
        } else {
            f64::NAN
        };
        Ok(vec![("test_rel_l2".to_string(), test)])
    }
}
