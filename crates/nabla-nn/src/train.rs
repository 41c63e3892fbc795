//! The training loop, shared by PINNs, neural operators and DCDM: a [`Model`], an
//! [`Objective`] (the loss, as a closure or a type) and an optimizer [`Recipe`].
//!
//! What it does, burn-train style, so model code never does it:
//! - seeding: one PCG64 stream (`seed`) handed to the objective each step (for resampling
//!   collocation points, SDGD dimensions, mini-batches);
//! - progress: an indicatif bar with the loss and ETA (hidden when stderr is not a terminal);
//! - metrics: every `log_every` steps a row `step,stage,optimizer,lr,loss,seconds,...` (plus
//!   the objective's own [`Objective::metrics`]) is appended to `RUN_DIR/metrics.csv`;
//! - checkpoints: `RUN_DIR/checkpoint.safetensors` holds the model weights under their own names
//!   (loadable by candle's `VarMap::load`), the optimizer state (Adam moments, L-BFGS history)
//!   under `optimizer/...`, and the step, stage, RNG state and timing as JSON metadata. It is
//!   written atomically (temporary name, then rename) every `checkpoint_every` steps, at the
//!   end, and when the stop flag is raised (Ctrl-C);
//! - resume: [`RunOptions::resume`] continues from the checkpoint bit for bit;
//! - NaN guard: a NaN/Inf loss stops the run with [`NnError::NonFiniteLoss`], leaving the last
//!   good checkpoint untouched.
//!
//! In an L-BFGS stage the objective is evaluated several times per iteration (line search) with
//! the same `ctx.step` and the same random draws (its RNG is replayed from a snapshot for each
//! evaluation), so it sees one fixed function per iteration.

use crate::optim::{Adam, Lbfgs, LbfgsMeta, LbfgsStep, LbfgsStop, Recipe, Stage};
use crate::params::{read_safetensors, write_safetensors};
use crate::{Model, NnError, Result};
use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// File name of the checkpoint inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// File name of the metrics table inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
const META_KEY: &str = "nabla.train_state";
const FORMAT: u32 = 1;

/// What the objective gets each step.
pub struct StepContext<'a> {
    /// The global step (0-based) being computed.
    pub step: usize,
    /// Index of the optimizer stage in the recipe.
    pub stage: usize,
    /// The run's random stream (seeded; saved in checkpoints).
    pub rng: &'a mut Pcg64,
}

/// A training objective: the scalar loss of a model (a rank-0 tensor built from candle ops,
/// e.g. from a [`crate::Jet`]), and optionally extra metrics logged every `log_every` steps.
///
/// Any closure `FnMut(&M, &mut StepContext) -> Result<Tensor>` is an objective.
pub trait Objective<M: ?Sized> {
    /// The loss at the model's current parameters.
    fn loss(&mut self, model: &M, ctx: &mut StepContext<'_>) -> Result<Tensor>;

    /// Extra named metrics (for example the relative L2 error against an exact solution),
    /// computed only on logging steps. Names must stay the same from call to call.
    fn metrics(&mut self, _model: &M) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }

    /// State the objective changes as it trains (resampled or adaptively refined collocation
    /// points, say), saved in checkpoints under `objective/NAME` so a resumed run continues
    /// bit for bit. Default: none.
    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }

    /// Restores what [`Objective::state`] saved (names without the `objective/` prefix); called
    /// once when a run resumes.
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

impl<M: ?Sized, F> Objective<M> for F
where
    F: FnMut(&M, &mut StepContext<'_>) -> Result<Tensor>,
{
    fn loss(&mut self, model: &M, ctx: &mut StepContext<'_>) -> Result<Tensor> {
        self(model, ctx)
    }
}

/// Settings of a training run (a serde struct for run configs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of the run's random stream.
    #[serde(default)]
    pub seed: u64,
    /// The optimizer stages.
    pub optimizer: Recipe,
    /// Steps between metric rows (default 100).
    #[serde(default = "default_log_every")]
    pub log_every: usize,
    /// Steps between checkpoints; 0 = only at the end and on stop (default 1000).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Show a progress bar (default true; hidden anyway when stderr is not a terminal).
    #[serde(default = "default_true")]
    pub progress: bool,
}

fn default_log_every() -> usize {
    100
}
fn default_checkpoint_every() -> usize {
    1000
}
fn default_true() -> bool {
    true
}

impl TrainConfig {
    /// A config with this recipe and the defaults.
    pub fn new(optimizer: Recipe) -> Self {
        TrainConfig {
            seed: 0,
            optimizer,
            log_every: default_log_every(),
            checkpoint_every: default_checkpoint_every(),
            progress: true,
        }
    }

    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.log_every == 0 {
            return Err(NnError::invalid("log_every", "must be ≥ 1"));
        }
        self.optimizer.validate()
    }
}

/// Where and how a run happens (not part of the config: the CLI's flags).
#[derive(Clone, Default)]
pub struct RunOptions<'a> {
    /// The run directory for `metrics.csv` and `checkpoint.safetensors` (created if missing);
    /// `None` = nothing is written.
    pub run_dir: Option<PathBuf>,
    /// Continue from `RUN_DIR/checkpoint.safetensors`.
    pub resume: bool,
    /// Checked before every step; when raised (Ctrl-C, see [`ctrlc_stop_flag`]) the loop writes
    /// a checkpoint and returns with [`Outcome::Stopped`].
    pub stop: Option<Arc<AtomicBool>>,
    /// Data-parallel training over the ranks of this communicator: each rank's objective
    /// computes its share of the loss (its block of the points or samples, weighted so the shares
    /// add up to the loss of the whole set), and every step sums the losses and gradients over
    /// the ranks (one allreduce) before the optimizer step, so every rank takes the same step.
    /// Only rank 0 writes the run directory; every rank reads it to resume. `None`: one rank.
    pub comm: Option<&'a dyn nabla_core::comm::Communicator>,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("run_dir", &self.run_dir)
            .field("resume", &self.resume)
            .field("stop", &self.stop)
            .field("ranks", &self.comm.map(|c| c.size()))
            .finish()
    }
}

/// Sums the loss and the gradient over the ranks (nothing to do on one rank).
fn reduce_over_ranks(
    comm: Option<&dyn nabla_core::comm::Communicator>,
    loss: f64,
    grads: &mut [f64],
) -> f64 {
    match comm {
        Some(c) if c.size() > 1 => {
            let mut buf = Vec::with_capacity(grads.len() + 1);
            buf.extend_from_slice(grads);
            buf.push(loss);
            c.allreduce_sum_f64(&mut buf);
            grads.copy_from_slice(&buf[..grads.len()]);
            buf[grads.len()]
        }
        _ => loss,
    }
}

/// How a run ended (errors aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every stage ran to its end (an L-BFGS stage possibly converging early).
    Completed,
    /// The stop flag was raised; a checkpoint was written.
    Stopped,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Global steps completed (including those before a resume).
    pub steps: usize,
    /// The loss of each step run in this call, as `(step, loss)` (the loss at the parameters
    /// the step started from).
    pub losses: Vec<(usize, f64)>,
    /// The last loss seen.
    pub final_loss: f64,
    /// Training seconds, including those before a resume.
    pub seconds: f64,
    /// The part of `seconds` spent on metrics rows (the objective's extra metrics, e.g. a
    /// test-set error) and checkpoint writes, so throughput can be reported without them.
    pub bookkeeping_seconds: f64,
    /// Why each L-BFGS stage that ended early stopped, as `(stage, reason)`.
    pub lbfgs_stops: Vec<(usize, LbfgsStop)>,
    /// The last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
}

/// Installs a Ctrl-C handler (the `ctrlc` crate) that raises the returned flag; pass it as
/// [`RunOptions::stop`]. A second Ctrl-C exits at once with status 130. Can be installed
/// once per process (a second call is an error).
pub fn ctrlc_stop_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to exit now)...");
    })
    .map_err(|e| NnError::invalid("Ctrl-C handler", e.to_string()))?;
    Ok(flag)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TrainState {
    format: u32,
    step: usize,
    seconds: f64,
    /// Of `seconds`, metrics and checkpoints (absent in older checkpoints).
    #[serde(default)]
    bookkeeping_seconds: f64,
    last_loss: f64,
    rng: Pcg64,
    num_params: usize,
    optimizer: OptState,
    lbfgs_stops: Vec<(usize, LbfgsStop)>,
}

/// The training progress recorded in a checkpoint (what `nabla eval` or a summary needs).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// Global steps completed.
    pub step: usize,
    /// Training seconds so far.
    pub seconds: f64,
    /// The loss of the last step.
    pub last_loss: f64,
    /// Number of trainable parameters.
    pub parameters: usize,
}

/// Reads the training progress stored in a checkpoint written by [`train`].
pub fn read_checkpoint_state(path: &Path) -> Result<CheckpointInfo> {
    let (_, meta) = read_safetensors(path, &Device::Cpu)?;
    let ck = |reason: String| NnError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let json = meta
        .get(META_KEY)
        .ok_or_else(|| ck("no training state (not written by nabla's trainer)".into()))?;
    let st: TrainState =
        serde_json::from_str(json).map_err(|e| ck(format!("bad training state: {e}")))?;
    Ok(CheckpointInfo {
        step: st.step,
        seconds: st.seconds,
        last_loss: st.last_loss,
        parameters: st.num_params,
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum OptState {
    None,
    Adam { stage: usize, steps_taken: usize },
    Lbfgs { stage: usize, meta: LbfgsMeta },
}

enum Opt {
    None,
    Adam {
        stage: usize,
        opt: Adam,
    },
    Lbfgs {
        stage: usize,
        opt: Lbfgs,
        x: Vec<f64>,
    },
}

fn scalar(loss: &Tensor) -> Result<f64> {
    if loss.rank() != 0 {
        return Err(NnError::invalid(
            "loss",
            format!(
                "the objective returned shape {:?}; reduce it to a scalar (e.g. mean_all)",
                loss.dims()
            ),
        ));
    }
    Ok(loss.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

fn f64_tensor(v: &[f64]) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, v.len(), &Device::Cpu)?)
}

struct Run<'a, M: Model + ?Sized> {
    model: &'a M,
    config: &'a TrainConfig,
    run_dir: Option<PathBuf>,
    /// Whether this process writes the run directory (rank 0 of a data-parallel run).
    writes: bool,
    rng: Pcg64,
    step: usize,
    seconds_before: f64,
    started: Instant,
    bookkeeping_seconds: f64,
    last_loss: f64,
    opt: Opt,
    lbfgs_stops: Vec<(usize, LbfgsStop)>,
    checkpoint: Option<PathBuf>,
    metrics_header: Option<Vec<String>>,
}

impl<M: Model + ?Sized> Run<'_, M> {
    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.run_dir.as_ref().map(|d| d.join(CHECKPOINT_FILE))
    }

    fn save_checkpoint(&mut self, objective_state: Vec<(String, Tensor)>) -> Result<()> {
        let Some(path) = self.checkpoint_path() else {
            return Ok(());
        };
        if !self.writes {
            self.checkpoint = Some(path);
            return Ok(());
        }
        let params = self.model.params();
        let mut tensors = params.tensors();
        for (n, t) in objective_state {
            tensors.push((format!("objective/{n}"), t));
        }
        let optimizer = match &self.opt {
            Opt::None => OptState::None,
            Opt::Adam { stage, opt } => {
                for (n, t) in opt.state_tensors() {
                    tensors.push((format!("optimizer/{n}"), t));
                }
                OptState::Adam {
                    stage: *stage,
                    steps_taken: opt.steps_taken(),
                }
            }
            Opt::Lbfgs { stage, opt, x } => {
                let (meta, vecs) = opt.snapshot();
                for (n, v) in vecs {
                    tensors.push((format!("optimizer/lbfgs.{n}"), f64_tensor(&v)?));
                }
                tensors.push(("optimizer/lbfgs.x".to_string(), f64_tensor(x)?));
                OptState::Lbfgs {
                    stage: *stage,
                    meta,
                }
            }
        };
        let state = TrainState {
            format: FORMAT,
            step: self.step,
            seconds: self.seconds(),
            bookkeeping_seconds: self.bookkeeping_seconds,
            last_loss: self.last_loss,
            rng: self.rng.clone(),
            num_params: params.num_trainable(),
            optimizer,
            lbfgs_stops: self.lbfgs_stops.clone(),
        };
        let json = serde_json::to_string(&state)
            .map_err(|e| NnError::invalid("checkpoint state", e.to_string()))?;
        let mut meta: HashMap<String, String> = params.metadata().iter().cloned().collect();
        meta.insert(META_KEY.to_string(), json);
        write_safetensors(&path, &tensors, Some(meta))?;
        self.checkpoint = Some(path);
        Ok(())
    }

    /// Restores the run from a checkpoint; returns the objective's saved state.
    fn load_checkpoint(&mut self, path: &Path) -> Result<HashMap<String, Tensor>> {
        let ck = |reason: String| NnError::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(ck(
                "not found: there is nothing to resume (start without --resume)".into(),
            ));
        }
        let params = self.model.params();
        let device = params
            .trainable()
            .first()
            .map(|(_, v)| v.device().clone())
            .unwrap_or(Device::Cpu);
        let (tensors, meta) = read_safetensors(path, &device)?;
        let json = meta
            .get(META_KEY)
            .ok_or_else(|| ck("no training state (not written by nabla's trainer)".into()))?;
        let state: TrainState =
            serde_json::from_str(json).map_err(|e| ck(format!("bad training state: {e}")))?;
        if state.format != FORMAT {
            return Err(ck(format!("unknown format version {}", state.format)));
        }
        if state.num_params != params.num_trainable() {
            return Err(ck(format!(
                "it has {} parameters, the model has {}: the network changed",
                state.num_params,
                params.num_trainable()
            )));
        }
        params
            .load_from(&tensors)
            .map_err(|e| ck(format!("weights do not fit the model: {e}")))?;
        let stages = &self.config.optimizer.stages;
        let stage_cfg = |i: usize| {
            stages.get(i).cloned().ok_or_else(|| {
                ck(format!(
                    "it was written in optimizer stage {i}, the recipe has {} stages",
                    stages.len()
                ))
            })
        };
        let optim: HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("optimizer/")
                    .map(|n| (n.to_string(), v.clone()))
            })
            .collect();
        self.opt = match state.optimizer {
            OptState::None => Opt::None,
            OptState::Adam { stage, steps_taken } => match stage_cfg(stage)? {
                Stage::Adam(c) => {
                    let mut opt = Adam::new(params.vars(), c)?;
                    opt.load_state(&optim, steps_taken)?;
                    Opt::Adam { stage, opt }
                }
                Stage::Lbfgs(_) => {
                    return Err(ck(format!("stage {stage} was adam, the recipe says lbfgs")))
                }
            },
            OptState::Lbfgs { stage, meta } => match stage_cfg(stage)? {
                Stage::Lbfgs(c) => {
                    let mut vecs = HashMap::new();
                    for (k, t) in &optim {
                        if let Some(n) = k.strip_prefix("lbfgs.") {
                            vecs.insert(n.to_string(), t.to_dtype(DType::F64)?.to_vec1::<f64>()?);
                        }
                    }
                    let x = vecs
                        .remove("x")
                        .ok_or_else(|| ck("L-BFGS point is missing".into()))?;
                    let opt = Lbfgs::restore(c, &meta, &vecs)?;
                    Opt::Lbfgs { stage, opt, x }
                }
                Stage::Adam(_) => {
                    return Err(ck(format!("stage {stage} was lbfgs, the recipe says adam")))
                }
            },
        };
        self.step = state.step;
        self.seconds_before = state.seconds;
        self.bookkeeping_seconds = state.bookkeeping_seconds;
        self.last_loss = state.last_loss;
        self.rng = state.rng;
        self.lbfgs_stops = state.lbfgs_stops;
        self.checkpoint = Some(path.to_path_buf());
        Ok(tensors
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("objective/")
                    .map(|n| (n.to_string(), v.clone()))
            })
            .collect())
    }

    /// Truncates metrics.csv to the rows up to the resumed step (rows after it will be
    /// recomputed identically), or starts it fresh.
    fn init_metrics(&mut self, resume: bool) -> Result<()> {
        let Some(dir) = &self.run_dir else {
            return Ok(());
        };
        if !self.writes {
            return Ok(());
        }
        let path = dir.join(METRICS_FILE);
        let mut keep = String::new();
        if resume {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let mut lines = text.lines();
                if let Some(h) = lines.next() {
                    self.metrics_header = Some(h.split(',').map(str::to_string).collect());
                    keep.push_str(h);
                    keep.push('\n');
                    for l in lines {
                        let step: Option<usize> = l.split(',').next().and_then(|s| s.parse().ok());
                        if step.is_some_and(|s| s <= self.step) {
                            keep.push_str(l);
                            keep.push('\n');
                        }
                    }
                }
            }
        }
        nabla_core::atomic::write_atomic(&path, |w| w.write_all(keep.as_bytes()))
            .map_err(|e| NnError::io(&path, e))
    }

    fn log_metrics<O: Objective<M> + ?Sized>(
        &mut self,
        objective: &mut O,
        stage: usize,
        lr: f64,
        loss: f64,
    ) -> Result<()> {
        let Some(dir) = &self.run_dir else {
            return Ok(());
        };
        if !self.writes {
            return Ok(());
        }
        let extra = objective.metrics(self.model)?;
        let path = dir.join(METRICS_FILE);
        let mut line = String::new();
        if self.metrics_header.is_none() {
            let mut h: Vec<String> = ["step", "stage", "optimizer", "lr", "loss", "seconds"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            h.extend(extra.iter().map(|(n, _)| n.clone()));
            line.push_str(&h.join(","));
            line.push('\n');
            self.metrics_header = Some(h);
        }
        let name = self.config.optimizer.stages[stage].name();
        line.push_str(&format!(
            "{},{},{},{:e},{:e},{:.3}",
            self.step,
            stage,
            name,
            lr,
            loss,
            self.seconds()
        ));
        for (_, v) in &extra {
            line.push_str(&format!(",{v:e}"));
        }
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| NnError::io(&path, e))?;
        f.write_all(line.as_bytes())
            .map_err(|e| NnError::io(&path, e))
    }

    fn non_finite(&self, step: usize, loss: f64) -> NnError {
        NnError::NonFiniteLoss {
            step,
            loss,
            checkpoint: self.checkpoint.clone(),
        }
    }
}

/// Trains `model` on `objective` with the recipe of `config`; see the module docs.
///
/// Returns when every stage has run, or when the stop flag is raised (after writing a
/// checkpoint). Errors: invalid settings (before any work), a NaN/Inf loss
/// ([`NnError::NonFiniteLoss`]; the last good checkpoint is kept), I/O and tensor errors.
pub fn train<M, O>(
    model: &M,
    objective: &mut O,
    config: &TrainConfig,
    options: &RunOptions,
) -> Result<TrainReport>
where
    M: Model + ?Sized,
    O: Objective<M> + ?Sized,
{
    config.validate()?;
    if let Some(dir) = &options.run_dir {
        std::fs::create_dir_all(dir).map_err(|e| NnError::io(dir, e))?;
    }
    if options.resume && options.run_dir.is_none() {
        return Err(NnError::invalid("resume", "needs a run directory"));
    }
    let mut run = Run {
        model,
        config,
        run_dir: options.run_dir.clone(),
        writes: options.comm.is_none_or(|c| c.rank() == 0),
        rng: Pcg64::seed_from_u64(config.seed),
        step: 0,
        seconds_before: 0.0,
        started: Instant::now(),
        bookkeeping_seconds: 0.0,
        last_loss: f64::NAN,
        opt: Opt::None,
        lbfgs_stops: Vec::new(),
        checkpoint: None,
        metrics_header: None,
    };
    if options.resume {
        if let Some(path) = run.checkpoint_path() {
            let state = run.load_checkpoint(&path)?;
            objective.load_state(&state)?;
        }
    }
    run.init_metrics(options.resume)?;
    let recipe = &config.optimizer;
    let total = recipe.total_steps();
    let params = model.params().clone();
    let bar = if config.progress {
        let b = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} loss {msg} ETA {eta}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_position(run.step as u64);
    let mut losses = Vec::new();
    let mut outcome = Outcome::Completed;
    let stop_raised = || {
        options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    };

    while let Some((si, off)) = recipe.locate(run.step) {
        // Across ranks the stop is agreed on (Ctrl-C reaches ranks at different moments), so
        // every rank leaves after the same step with the same checkpoint.
        let stop_now = match options.comm.filter(|c| c.size() > 1) {
            Some(c) => {
                let mut flag = [f64::from(u8::from(stop_raised()))];
                c.allreduce_max_f64(&mut flag);
                flag[0] > 0.0
            }
            None => stop_raised(),
        };
        if stop_now {
            outcome = Outcome::Stopped;
            break;
        }
        let stage = &recipe.stages[si];
        // (Re)build the optimizer at a stage boundary.
        let current = match &run.opt {
            Opt::Adam { stage, .. } | Opt::Lbfgs { stage, .. } => Some(*stage),
            Opt::None => None,
        };
        if current != Some(si) {
            run.opt = match stage {
                Stage::Adam(c) => Opt::Adam {
                    stage: si,
                    opt: Adam::new(params.vars(), c.clone())?,
                },
                Stage::Lbfgs(c) => Opt::Lbfgs {
                    stage: si,
                    opt: Lbfgs::new(c.clone()),
                    x: params.flatten()?,
                },
            };
        }
        let step = run.step;
        let (loss, lr) = match &mut run.opt {
            Opt::Adam { opt, .. } => {
                let c = opt.config();
                let lr = c.schedule.lr(c.lr, off, c.steps);
                let mut ctx = StepContext {
                    step,
                    stage: si,
                    rng: &mut run.rng,
                };
                let loss_t = objective.loss(model, &mut ctx)?;
                let mut loss = scalar(&loss_t)?;
                let mut grads = loss_t.backward()?;
                if options.comm.is_some_and(|c| c.size() > 1) {
                    let mut flat = params.flatten_grads(&grads)?;
                    loss = reduce_over_ranks(options.comm, loss, &mut flat);
                    params.set_grads_flat(&mut grads, &flat)?;
                }
                if !loss.is_finite() {
                    bar.abandon();
                    return Err(run.non_finite(step, loss));
                }
                opt.step(&grads, lr)?;
                (loss, lr)
            }
            Opt::Lbfgs { opt, x, .. } => {
                let snapshot = run.rng.clone();
                let mut advanced: Option<Pcg64> = None;
                let iters_before = opt.iterations();
                let first_eval = opt.value().is_none();
                let mut first_loss: Option<f64> = None;
                let result = {
                    let mut f = |th: &[f64], g: &mut [f64]| -> Result<f64> {
                        params.set_flat(th)?;
                        let mut r = snapshot.clone();
                        let mut ctx = StepContext {
                            step,
                            stage: si,
                            rng: &mut r,
                        };
                        let loss_t = objective.loss(model, &mut ctx)?;
                        let local = scalar(&loss_t)?;
                        if local.is_finite() {
                            let grads = loss_t.backward()?;
                            g.copy_from_slice(&params.flatten_grads(&grads)?);
                        } else {
                            g.iter_mut().for_each(|v| *v = 0.0);
                        }
                        // Every rank sees the same total, so the line search decides alike.
                        let loss = reduce_over_ranks(options.comm, local, g);
                        if advanced.is_none() {
                            advanced = Some(r);
                            first_loss = Some(loss);
                        }
                        if !loss.is_finite() {
                            g.iter_mut().for_each(|v| *v = 0.0);
                        }
                        Ok(loss)
                    };
                    opt.step(x, &mut f)
                };
                if let Some(r) = advanced {
                    run.rng = r;
                }
                let status = match result {
                    Ok(s) => s,
                    Err(e) => {
                        bar.abandon();
                        return match first_loss {
                            Some(l) if first_eval && !l.is_finite() => Err(run.non_finite(step, l)),
                            _ => Err(e),
                        };
                    }
                };
                params.set_flat(x)?;
                let loss = opt.value().unwrap_or(f64::NAN);
                match status {
                    LbfgsStep::Continue if opt.iterations() == iters_before => {
                        // Memory reset after a failed line search: retry this step.
                        continue;
                    }
                    LbfgsStep::Continue => {}
                    LbfgsStep::Done(why) => {
                        let lr = opt.config().lr;
                        run.lbfgs_stops.push((si, why));
                        // Skip the rest of the stage.
                        let next = recipe.stage_start(si + 1);
                        run.last_loss = loss;
                        losses.push((step, loss));
                        run.step = next;
                        run.opt = Opt::None;
                        bar.set_position(run.step as u64);
                        run.log_metrics(objective, si, lr, loss)?;
                        continue;
                    }
                }
                (loss, opt.config().lr)
            }
            Opt::None => unreachable!("optimizer built above"),
        };
        run.step += 1;
        run.last_loss = loss;
        losses.push((step, loss));
        bar.set_position(run.step as u64);
        bar.set_message(format!("{loss:.3e}"));
        let t0 = Instant::now();
        if run.step.is_multiple_of(config.log_every) || run.step == total {
            run.log_metrics(objective, si, lr, loss)?;
        }
        if config.checkpoint_every > 0 && run.step.is_multiple_of(config.checkpoint_every) {
            run.save_checkpoint(objective.state()?)?;
        }
        run.bookkeeping_seconds += t0.elapsed().as_secs_f64();
    }
    run.save_checkpoint(objective.state()?)?;
    bar.finish_and_clear();
    Ok(TrainReport {
        outcome,
        steps: run.step,
        final_loss: run.last_loss,
        seconds: run.seconds(),
        bookkeeping_seconds: run.bookkeeping_seconds,
        lbfgs_stops: run.lbfgs_stops.clone(),
        checkpoint: run.checkpoint.clone(),
        losses,
    })
}
