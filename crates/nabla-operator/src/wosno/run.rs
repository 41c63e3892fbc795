//! A whole WoS-NO (or physics-informed) run: held-out truth, the training objective that draws
//! fresh instances every step, training through `nabla_nn::train`, and the summary.

use super::config::{LossKind, OperatorKind, WosNoConfig, WosNoTrainConfig};
use super::family::Family;
use super::family::StarPoisson;
use super::features::{grid_features, EmbeddingGrid, GridFeatures, CHANNELS};
use super::gino::PointOperator;
use super::interp::BilinearStencil;
pub use super::model::{build_model, predict, WosNoNet, WosNoOperator};
use super::model::{input_tensor, model_kind};
use super::physics::{boundary_loss, residual_loss};
use super::smooth::{FitOptions, SmoothSolution};
use super::spline::SplineStencil;
use super::truth::{held_out_of, HeldOut, TRUTH_FILE, TRUTH_OOD_FILE};
use crate::objective::to_nn;
use crate::Result;
use candle_core::{DType, Tensor};
use nabla_core::comm::block_range;
use nabla_core::geometry::{Domain, Star};
use nabla_nn::optim::{AdamConfig, Recipe, Stage};
use nabla_nn::{
    train, Model, Objective, Outcome, RunOptions, StepContext, TrainConfig, TrainReport,
};
use nabla_wos::{PointEstimate, WosOptions, WosProblem, WosSolution, WosSolver};
use rand::Rng;
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::Serialize;
use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Instant;

/// What `summary.json` of a WoS-NO / physics-informed run holds.
#[derive(Clone, Debug, Serialize)]
pub struct WosNoSummary {
    /// `fno` (u on the grid) or `gino` (point-query operator).
    pub model_kind: OperatorKind,
    /// `wos`, `physics` or `reference`.
    pub loss: LossKind,
    /// Mean over the held-out instances of ‖u_pred − u_WoS‖₂ / ‖u_WoS‖₂ over the embedding-grid
    /// nodes inside Ω (the headline figure).
    pub test_rel_l2: f64,
    /// Standard deviation of that error over the instances.
    pub test_rel_l2_std: f64,
    /// The same error of the untrained network.
    pub initial_test_rel_l2: f64,
    /// Zero-shot: instances of the out-of-distribution family (0: not evaluated).
    pub ood_instances: usize,
    /// Zero-shot: the held-out error on the out-of-distribution family (same definition;
    /// `null` when not evaluated).
    pub ood_test_rel_l2: Option<f64>,
    /// Its standard deviation over instances.
    pub ood_test_rel_l2_std: Option<f64>,
    /// `ood_test_rel_l2 / test_rel_l2`.
    pub ood_ratio: Option<f64>,
    /// Zero-shot: mean relative standard error of that set's truth (as `truth_rel_stderr`).
    pub ood_truth_rel_stderr: Option<f64>,
    /// Physics: weights of the interior residual and boundary terms.
    pub interior_weight: f64,
    /// See `interior_weight`.
    pub boundary_weight: f64,
    /// Mean over the held-out instances of the ground truth's relative standard error
    /// √(Σ se²)/√(Σ u²) over the inside nodes.
    pub truth_rel_stderr: f64,
    /// The largest of those.
    pub truth_rel_stderr_max: f64,
    /// Walks per node of the ground truth.
    pub truth_walks: usize,
    /// Nodes (inside Ω) with ground truth, over all held-out instances.
    pub truth_nodes: usize,
    /// Seconds to compute the ground truth (0 when read from `truth.h5`).
    pub truth_seconds: f64,
    /// Whether the truth was read from `truth.h5`.
    pub truth_cached: bool,
    /// Held-out instances.
    pub test_instances: usize,
    /// Embedding-grid nodes per axis.
    pub grid_points: usize,
    /// Optimizer steps completed.
    pub steps: usize,
    /// Instances per step.
    pub batch_size: usize,
    /// Training wall time in seconds (including time before a resume; excludes the truth and
    /// the final evaluation).
    pub seconds: f64,
    /// `seconds / steps`.
    pub seconds_per_step: f64,
    /// Of that, seconds per step spent building the targets (instances, features, walks or
    /// boundary samples), over the steps run in this process.
    pub target_seconds_per_step: f64,
    /// WoS: walks per training point (0 for physics).
    pub train_walks_per_point: usize,
    /// WoS / reference: points per instance per step (0 for physics).
    pub train_points: usize,
    /// WoS: mean steps per training walk.
    pub mean_walk_steps: f64,
    /// WoS: fraction of training walks stopped by the step cap.
    pub capped_walk_fraction: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// The last step's loss.
    pub final_loss: f64,
    /// `completed` or `stopped` (Ctrl-C).
    pub outcome: Outcome,
    /// Peak resident memory of the process in MiB (Linux).
    pub peak_rss_mib: Option<f64>,
}

/// The outcome of [`train_wosno`].
pub struct WosNoRun {
    /// The trained operator.
    pub model: WosNoNet,
    /// The training loop's report.
    pub report: TrainReport,
    /// The summary.
    pub summary: WosNoSummary,
    /// The held-out set with its truth.
    pub held_out: HeldOut,
    /// The model's predictions on it, `[T, n, n]`.
    pub prediction: Vec<f32>,
    /// The zero-shot set with its truth, when `test.ood_instances` > 0.
    pub held_out_ood: Option<HeldOut>,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// Uniform points inside `domain` by rejection from the square of half-width `r`.
pub fn sample_interior(domain: &Star, r: f64, count: usize, rng: &mut Pcg64) -> Vec<f64> {
    let mut pts = Vec::with_capacity(2 * count);
    while pts.len() < 2 * count {
        let x = [rng.gen_range(-r..r), rng.gen_range(-r..r)];
        if domain.contains(&x) {
            pts.extend(x);
        }
    }
    pts
}

/// The WoS training targets at `points` (flat x, y) of one problem: `train.walks` walks per
/// point, ε = `train.epsilon`, at most `train.max_steps` steps (a capped walk reads g at the
/// closest boundary point), walk streams from `seed`; parallel over points.
pub fn training_estimates(
    problem: WosProblem,
    points: &[f64],
    train: &WosNoTrainConfig,
    seed: u64,
) -> Result<WosSolution> {
    let opts = WosOptions {
        walks: train.walks,
        epsilon: train.epsilon,
        max_steps: train.max_steps,
        seed,
        ..Default::default()
    };
    Ok(WosSolver::new(problem, opts)?.solve(points)?)
}

/// The `loss = "reference"` targets: the smooth near-solution s of [`SmoothSolution`] at
/// `points`, as a noise-free [`WosSolution`] (zero standard errors, no walks).
fn reference_targets(instance: &StarPoisson, points: &[f64]) -> Result<WosSolution> {
    let s = SmoothSolution::fit(instance, &FitOptions::default())?;
    let estimates = points
        .chunks(2)
        .map(|x| PointEstimate {
            value: s.value(x),
            variance: 0.0,
            stderr: 0.0,
            mean_steps: 0.0,
            walks: 0,
            unfinished: 0,
            gradient: None,
            gradient_stderr: None,
        })
        .collect();
    Ok(WosSolution {
        estimates,
        total_walks: 0,
        total_steps: 0,
        seconds: 0.0,
    })
}

/// 1/‖u‖² of one instance from its WoS targets: E[ŷ²] = u² + se², so the mean of ŷ² − se²
/// estimates the mean of u² without the walk noise; floored at 1e-2 of the mean ŷ² (and an
/// absolute 1e-6) so a nearly-zero solution cannot dominate a step.
fn relative_weight(sol: &WosSolution) -> f64 {
    let n = sol.estimates.len().max(1) as f64;
    let y2 = sol.estimates.iter().map(|e| e.value * e.value).sum::<f64>() / n;
    let se2 = sol
        .estimates
        .iter()
        .map(|e| e.stderr * e.stderr)
        .sum::<f64>()
        / n;
    1.0 / (y2 - se2).max(1e-2 * y2).max(1e-6)
}

/// The stream of instance `k` of a step: per-instance work is parallel and still a function
/// of the step's seed alone.
fn instance_rng(step_seed: u64, k: usize) -> Pcg64 {
    Pcg64::new(step_seed as u128, 2 * k as u128 + 1)
}

/// One instance's interior training points with their targets.
struct InteriorSamples {
    points: Vec<f64>,
    targets: Vec<f64>,
    weight: f64,
}

/// The decoder's stencil of every instance's interior points, instance by instance.
fn spline_stencil(op: &PointOperator, samples: &[InteriorSamples]) -> SplineStencil {
    let grid = &op.grid();
    let mut st = op.stencil();
    for (k, smp) in samples.iter().enumerate() {
        for p in smp.points.chunks(2) {
            st.push(grid, k, &[p[0], p[1]]);
        }
    }
    st
}

/// Training-walk statistics of one step.
#[derive(Clone, Copy, Debug, Default)]
struct WalkTotals {
    walks: u64,
    steps: u64,
    capped: u64,
}

/// The training objective: every step draws `batch_size` fresh instances from the run's
/// stream and returns the WoS regression loss or the physics-informed loss of the FNO's grid
/// output; the logged metric `test_rel_l2` is the held-out error.
pub struct WosNoObjective<'a> {
    config: &'a WosNoConfig,
    grid: EmbeddingGrid,
    held_out: &'a HeldOut,
    /// Seconds spent building targets in this process.
    pub target_seconds: f64,
    /// Steps run in this process.
    pub steps_run: usize,
    totals: WalkTotals,
    /// Data-parallel training: (this rank, ranks); each step's instances are split in blocks.
    shard: Option<(usize, usize)>,
}

impl<'a> WosNoObjective<'a> {
    /// The objective of `config` with this held-out set.
    pub fn new(config: &'a WosNoConfig, held_out: &'a HeldOut) -> Self {
        WosNoObjective {
            config,
            grid: held_out.grid,
            held_out,
            target_seconds: 0.0,
            steps_run: 0,
            totals: WalkTotals::default(),
            shard: None,
        }
    }

    /// Makes this objective one rank's share of data-parallel training: of each step's batch
    /// of instances (drawn alike on every rank) it evaluates its block, and scales its loss so
    /// the ranks' losses add up to the one-process loss.
    pub fn set_shard(&mut self, rank: usize, size: usize) {
        self.shard = (size > 1).then_some((rank, size));
    }

    /// Per instance of the step: its random interior points (flat x, y; the same points for
    /// every loss, from the instance's stream), the targets there (walk estimates, or the
    /// near-exact solution for `reference`; empty for `physics`) and the relative weight.
    fn interior_samples(
        &self,
        instances: &[StarPoisson],
        domains: &[Arc<Star>],
        step_seed: u64,
        first: usize,
    ) -> Result<(Vec<InteriorSamples>, WalkTotals)> {
        let t = &self.config.train;
        let per: Vec<(InteriorSamples, WalkTotals)> = instances
            .par_iter()
            .zip(domains.par_iter())
            .enumerate()
            .map(|(k, (inst, dom))| -> Result<_> {
                let mut rng = instance_rng(step_seed, first + k);
                let points = sample_interior(dom, inst.max_radius(), t.points, &mut rng);
                let sol = match t.loss {
                    LossKind::Physics => {
                        return Ok((
                            InteriorSamples {
                                points,
                                targets: vec![],
                                weight: 1.0,
                            },
                            WalkTotals::default(),
                        ))
                    }
                    LossKind::Reference => reference_targets(inst, &points)?,
                    LossKind::Wos => {
                        training_estimates(inst.problem(dom.clone()), &points, t, rng.gen())?
                    }
                };
                let totals = WalkTotals {
                    walks: sol.total_walks,
                    steps: sol.total_steps,
                    capped: sol.estimates.iter().map(|e| e.unfinished as u64).sum(),
                };
                let weight = if t.relative {
                    relative_weight(&sol)
                } else {
                    1.0
                };
                Ok((
                    InteriorSamples {
                        points,
                        targets: sol.values(),
                        weight,
                    },
                    totals,
                ))
            })
            .collect::<Result<_>>()?;
        let mut totals = WalkTotals::default();
        let mut samples = Vec::with_capacity(per.len());
        for (smp, w) in per {
            totals.walks += w.walks;
            totals.steps += w.steps;
            totals.capped += w.capped;
            samples.push(smp);
        }
        Ok((samples, totals))
    }

    /// Random boundary points of each instance (θ uniform) with g there: (instance, point)
    /// pairs and the values. `apart` draws them from a stream apart from the interior
    /// points' (the point-query physics loss uses both sets); the grid physics loss draws no
    /// interior points and keeps the instance's own stream.
    fn boundary_samples(
        &self,
        instances: &[StarPoisson],
        step_seed: u64,
        apart: bool,
        first: usize,
    ) -> (Vec<(usize, [f64; 2])>, Vec<f64>) {
        let mut points = Vec::new();
        let mut values = Vec::new();
        for (k, inst) in instances.iter().enumerate() {
            // Streams keyed by the instance's index in the whole batch; `k` indexes this
            // rank's tensors.
            let global = first + k;
            let mut rng = if apart {
                Pcg64::new(step_seed as u128, 2 * global as u128 + 2)
            } else {
                instance_rng(step_seed, global)
            };
            for _ in 0..self.config.train.boundary_points {
                let theta = rng.gen_range(0.0..TAU);
                points.push((k, inst.boundary_point(theta)));
                values.push(inst.boundary_at_angle(theta));
            }
        }
        (points, values)
    }

    fn loss_inner(&mut self, model: &WosNoNet, ctx: &mut StepContext<'_>) -> Result<Tensor> {
        let t0 = Instant::now();
        let t = &self.config.train;
        let whole = t.batch_size;
        let n = self.grid.n;
        // Every rank draws the whole batch (same stream), then keeps its block.
        let all: Vec<StarPoisson> = (0..whole).map(|_| StarPoisson::sample(ctx.rng)).collect();
        let step_seed: u64 = ctx.rng.gen();
        let mine = self
            .shard
            .map_or(0..whole, |(rank, size)| block_range(whole, rank, size));
        let first = mine.start;
        let b = mine.len();
        let (dtype, device) = model_kind(model);
        if b == 0 {
            // A batch with fewer instances than ranks: this rank adds nothing.
            self.mark_targets_built(t0);
            return Ok(Tensor::zeros((), dtype, &device)?);
        }
        // This rank's share of a mean over the whole batch (every instance has as many points).
        let share = b as f64 / whole as f64;
        let instances = all[mine.clone()].to_vec();
        let domains: Vec<Arc<Star>> = instances
            .par_iter()
            .map(|i| i.domain().map(Arc::new))
            .collect::<Result<_>>()?;
        let features: Vec<GridFeatures> = instances
            .par_iter()
            .zip(domains.par_iter())
            .map(|(i, d)| grid_features(i, d, &self.grid))
            .collect();
        let host = |v: &[f64]| BilinearStencil::targets(v, dtype, &device);
        let refs: Vec<&GridFeatures> = features.iter().collect();
        let x = input_tensor(&refs, n, model)?;
        let (iw, bw) = (t.interior_weight, t.boundary_weight);
        let loss = match (t.loss, &model.operator) {
            (LossKind::Wos | LossKind::Reference, _) => {
                let (samples, totals) =
                    self.interior_samples(&instances, &domains, step_seed, first)?;
                self.totals.walks += totals.walks;
                self.totals.steps += totals.steps;
                self.totals.capped += totals.capped;
                let values: Vec<f64> = samples.iter().flat_map(|s| s.targets.clone()).collect();
                let weights: Vec<f64> = samples
                    .iter()
                    .flat_map(|s| std::iter::repeat_n(s.weight, s.targets.len()))
                    .collect();
                let y = host(&values)?;
                let w = if t.relative {
                    Some(host(&weights)?)
                } else {
                    None
                };
                self.mark_targets_built(t0);
                let pred = match &model.operator {
                    WosNoOperator::Grid(fno) => {
                        let mut st = BilinearStencil::new();
                        for (k, smp) in samples.iter().enumerate() {
                            for p in smp.points.chunks(2) {
                                st.push(&self.grid, k, &[p[0], p[1]]);
                            }
                        }
                        st.apply(&fno.forward(&x)?.flatten_all()?)?
                    }
                    WosNoOperator::Points(op) => {
                        let st = spline_stencil(op, &samples);
                        op.values(&op.latent(&x)?, &st)?
                    }
                };
                let e2 = (pred - y)?.sqr()?;
                let mean = match w {
                    Some(w) => (e2 * w)?.mean_all()?,
                    None => e2.mean_all()?,
                };
                scaled(mean, share)?
            }
            (LossKind::Physics, WosNoOperator::Grid(fno)) => {
                let (bpoints, bvalues) = self.boundary_samples(&instances, step_seed, false, first);
                let mut stencil = BilinearStencil::new();
                for (k, p) in &bpoints {
                    stencil.push(&self.grid, *k, p);
                }
                let g = host(&bvalues)?;
                let m = n - 2;
                let mut f = Vec::with_capacity(b * m * m);
                let mut mask = Vec::with_capacity(b * m * m);
                for feat in &features {
                    for i in 1..n - 1 {
                        for j in 1..n - 1 {
                            let q = i * n + j;
                            f.push(feat.values[q * CHANNELS]);
                            mask.push(if feat.inside[q] { 1f32 } else { 0.0 });
                        }
                    }
                }
                let f = Tensor::from_vec(f, (b, m, m), &device)?.to_dtype(dtype)?;
                let mask = Tensor::from_vec(mask, (b, m, m), &device)?.to_dtype(dtype)?;
                self.mark_targets_built(t0);
                let u = fno.forward(&x)?;
                let u_flat = u.flatten_all()?;
                // The residual is a mean over the whole batch's inside nodes: this rank's sum
                // over that count (the others' instances' masks are counted, not built).
                let inside_all = if self.shard.is_some() {
                    let others: usize = all
                        .par_iter()
                        .enumerate()
                        .filter(|(k, _)| !mine.contains(k))
                        .map(|(_, i)| -> Result<usize> {
                            let d = i.domain()?;
                            Ok(inside_count(&grid_features(i, &d, &self.grid), n))
                        })
                        .sum::<Result<usize>>()?;
                    let own: usize = features.iter().map(|f| inside_count(f, n)).sum();
                    Some((own + others) as f64)
                } else {
                    None
                };
                let r = residual_loss(&u.reshape((b, n, n))?, &f, &mask, self.grid.spacing())?;
                let r = match inside_all {
                    Some(count) => {
                        let own = mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                        scaled(r, (own + 1e-12) / count.max(1e-12))?
                    }
                    None => r,
                };
                let bl = scaled(boundary_loss(&u_flat, &stencil, &g)?, share)?;
                ((r * iw)? + (bl * bw)?)?
            }
            (LossKind::Physics, WosNoOperator::Points(op)) => {
                let (samples, _) = self.interior_samples(&instances, &domains, step_seed, first)?;
                let interior = spline_stencil(op, &samples);
                let f: Vec<f64> = samples
                    .iter()
                    .zip(&instances)
                    .flat_map(|(s, inst)| s.points.chunks(2).map(|p| inst.source(p)))
                    .collect();
                let f = host(&f)?;
                let (bpoints, bvalues) = self.boundary_samples(&instances, step_seed, true, first);
                let mut boundary = op.stencil();
                for (k, p) in &bpoints {
                    boundary.push(&self.grid, *k, p);
                }
                let g = host(&bvalues)?;
                self.mark_targets_built(t0);
                let latent = op.latent(&x)?;
                let jet = op.jet(&latent, &interior)?;
                let r = scaled((jet.laplacian - f)?.sqr()?.mean_all()?, share)?;
                let bl = scaled(
                    (op.values(&latent, &boundary)? - g)?.sqr()?.mean_all()?,
                    share,
                )?;
                ((r * iw)? + (bl * bw)?)?
            }
        };
        Ok(loss)
    }

    fn mark_targets_built(&mut self, t0: Instant) {
        self.target_seconds += t0.elapsed().as_secs_f64();
        self.steps_run += 1;
    }

    /// Mean relative L2 error of `model` on the held-out set, with its standard deviation.
    pub fn held_out_error(&self, model: &WosNoNet) -> Result<(f64, f64)> {
        let pred = predict(model, &self.held_out.features, self.grid.n)?;
        Ok(mean_std(&self.held_out.relative_l2(&pred)))
    }
}

impl Objective<WosNoNet> for WosNoObjective<'_> {
    fn loss(&mut self, model: &WosNoNet, ctx: &mut StepContext<'_>) -> nabla_nn::Result<Tensor> {
        self.loss_inner(model, ctx).map_err(to_nn)
    }

    fn metrics(&mut self, model: &WosNoNet) -> nabla_nn::Result<Vec<(String, f64)>> {
        let (e, _) = self.held_out_error(model).map_err(to_nn)?;
        Ok(vec![("test_rel_l2".to_string(), e)])
    }
}

/// `t · factor`, leaving `t` as it is for a factor of 1 (one process: the same bits as before).
fn scaled(t: Tensor, factor: f64) -> candle_core::Result<Tensor> {
    if factor == 1.0 {
        Ok(t)
    } else {
        t.affine(factor, 0.0)
    }
}

/// Inside nodes of an instance's grid that the residual loss counts (the interior n−2 square).
fn inside_count(f: &GridFeatures, n: usize) -> usize {
    (1..n - 1)
        .flat_map(|i| (1..n - 1).map(move |j| i * n + j))
        .filter(|&q| f.inside[q])
        .count()
}

/// The optimisation settings of a config as a `nabla_nn::TrainConfig`.
pub fn train_config(config: &WosNoConfig) -> TrainConfig {
    let t = &config.train;
    let mut adam = AdamConfig::new(t.steps, t.lr).schedule(t.schedule.clone());
    adam.weight_decay = t.weight_decay;
    let mut c = TrainConfig::new(Recipe {
        stages: vec![Stage::Adam(adam)],
    });
    c.seed = t.seed;
    c.log_every = t.log_every;
    c.checkpoint_every = t.checkpoint_every;
    c.progress = t.progress;
    c
}

/// Trains the operator of `config`: builds (or reads from `RUN_DIR/truth.h5`) the held-out
/// truth, reporting `truth_progress(done, total)`, then trains with fresh instances every step
/// through `nabla_nn::train` (checkpoints, `metrics.csv` with `test_rel_l2`, resume, Ctrl-C,
/// NaN guard), and evaluates.
pub fn train_wosno(
    config: &WosNoConfig,
    options: &RunOptions,
    truth_progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<WosNoRun> {
    config.validate()?;
    let model = build_model(config)?;
    // Under several ranks the held-out truth is computed in blocks of instances and gathered.
    let held = held_out_of(
        config,
        &Family::IN_DISTRIBUTION,
        config.test.instances,
        TRUTH_FILE,
        options.run_dir.as_deref(),
        truth_progress,
        options.comm,
    )?;
    let ood = if config.test.ood_instances > 0 {
        Some(held_out_of(
            config,
            &Family::OUT_OF_DISTRIBUTION,
            config.test.ood_instances,
            TRUTH_OOD_FILE,
            options.run_dir.as_deref(),
            truth_progress,
            options.comm,
        )?)
    } else {
        None
    };
    let mut objective = WosNoObjective::new(config, &held);
    if let Some(comm) = options.comm {
        objective.set_shard(comm.rank(), comm.size());
    }
    let (initial, _) = objective.held_out_error(&model)?;
    let report = train(&model, &mut objective, &train_config(config), options)?;
    if let Some(comm) = options.comm.filter(|c| c.size() > 1) {
        // Walk statistics of the whole run, not of this rank's instances.
        let t = &mut objective.totals;
        let mut sums = [t.walks as i64, t.steps as i64, t.capped as i64];
        comm.allreduce_sum_i64(&mut sums);
        (t.walks, t.steps, t.capped) = (sums[0] as u64, sums[1] as u64, sums[2] as u64);
    }
    let prediction = predict(&model, &held.features, held.grid.n)?;
    let errors = held.relative_l2(&prediction);
    let (test_rel_l2, test_rel_l2_std) = mean_std(&errors);
    let ood_errors = match &ood {
        Some(h) => Some(mean_std(&h.relative_l2(&predict(
            &model,
            &h.features,
            h.grid.n,
        )?))),
        None => None,
    };
    let rse = held.relative_stderrs();
    let steps = report.steps;
    let is_wos = config.train.loss == LossKind::Wos;
    let tot = objective.totals;
    let summary = WosNoSummary {
        model_kind: config.model.kind,
        loss: config.train.loss,
        test_rel_l2,
        test_rel_l2_std,
        initial_test_rel_l2: initial,
        ood_instances: config.test.ood_instances,
        ood_test_rel_l2: ood_errors.map(|e| e.0),
        ood_test_rel_l2_std: ood_errors.map(|e| e.1),
        ood_ratio: ood_errors.map(|e| e.0 / test_rel_l2),
        ood_truth_rel_stderr: ood.as_ref().map(|h| mean_std(&h.relative_stderrs()).0),
        interior_weight: config.train.interior_weight,
        boundary_weight: config.train.boundary_weight,
        truth_rel_stderr: mean_std(&rse).0,
        truth_rel_stderr_max: rse.iter().cloned().fold(0.0, f64::max),
        truth_walks: config.test.walks,
        truth_nodes: held.truth.iter().filter(|v| v.is_finite()).count(),
        truth_seconds: held.seconds,
        truth_cached: held.cached,
        test_instances: held.instances.len(),
        grid_points: held.grid.n,
        steps,
        batch_size: config.train.batch_size,
        seconds: report.seconds,
        seconds_per_step: report.seconds / steps.max(1) as f64,
        target_seconds_per_step: objective.target_seconds / objective.steps_run.max(1) as f64,
        train_walks_per_point: if is_wos { config.train.walks } else { 0 },
        train_points: if config.train.loss == LossKind::Physics {
            0
        } else {
            config.train.points
        },
        mean_walk_steps: tot.steps as f64 / tot.walks.max(1) as f64,
        capped_walk_fraction: tot.capped as f64 / tot.walks.max(1) as f64,
        parameters: model.params().num_trainable(),
        final_loss: report.final_loss,
        outcome: report.outcome,
        peak_rss_mib: nabla_core::memory::peak_rss_mib(),
    };
    Ok(WosNoRun {
        model,
        report,
        summary,
        held_out: held,
        prediction,
        held_out_ood: ood,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solution(values: &[f64], stderr: f64) -> WosSolution {
        WosSolution {
            estimates: values
                .iter()
                .map(|&value| PointEstimate {
                    value,
                    variance: 0.0,
                    stderr,
                    mean_steps: 0.0,
                    walks: 10,
                    unfinished: 0,
                    gradient: None,
                    gradient_stderr: None,
                })
                .collect(),
            total_walks: 0,
            total_steps: 0,
            seconds: 0.0,
        }
    }

    #[test]
    fn relative_weight_removes_the_walk_noise_from_the_norm() {
        // mean ŷ² = (1 + 1 + 4)/3 = 2, mean se² = 0.25 → 1/1.75.
        let w = relative_weight(&solution(&[1.0, -1.0, 2.0], 0.5));
        assert!((w - 1.0 / 1.75).abs() < 1e-12);
        // Noise larger than the signal: floored at 1e-2 of mean ŷ².
        let w = relative_weight(&solution(&[0.1, -0.1], 1.0));
        assert!((w - 1.0 / (1e-2 * 0.01)).abs() < 1e-6);
        // All zero: the absolute floor.
        assert_eq!(relative_weight(&solution(&[0.0], 0.0)), 1e6);
    }
}
