//! Training runs and trained models across every task, as `nabla train` and `nabla eval` use
//! them: read a config (TOML with `section.key=value` overrides), dispatch on its `task`, train
//! into a run directory, and load whatever a run directory or checkpoint holds.
//!
//! ```no_run
//! use nabla::run::{load, train, LoadedModel, TrainOptions};
//! use std::path::Path;
//!
//! // What `nabla train configs/pinn_poisson2d.toml --set train.seed=3 --out runs/p` does,
//! // minus plots and printing.
//! let (config, run) = train(
//!     Path::new("configs/pinn_poisson2d.toml"),
//!     &["train.seed=3".to_string()],
//!     Path::new("runs/p"),
//!     &TrainOptions::default(),
//! )?;
//! println!("{} run finished: {:?}", config.task(), run.outcome());
//! if let LoadedModel::Pinn(pinn) = load("runs/p")? {
//!     let u = pinn.u(nabla::ndarray::array![[0.5, 0.5]].view())?;
//!     println!("u(0.5, 0.5) = {}", u[0]);
//! }
//! # Ok::<(), nabla::Error>(())
//! ```

use crate::Error;
use nabla_core::config::{load_table, parse, task};
use nabla_dcdm::{DcdmConfig, DcdmModel, DcdmRun};
use nabla_nn::run_dir::{self, describe, prepare};
use nabla_nn::{Outcome, RunOptions};
use nabla_operator::inverse::data::Folder;
use nabla_operator::inverse::{InverseConfig, InverseRun};
use nabla_operator::wosno::{WosNoConfig, WosNoRun};
use nabla_operator::{Operator, OperatorConfig, OperatorRun};
use nabla_pinn::{Pinn, PinnConfig, PinnModel, PinnRun};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The tasks a config can name in its top-level `task` key.
pub const TASKS: [&str; 5] = ["pinn", "operator", "wosno", "dcdm", "inverse"];

/// A validated run config of any task.
#[derive(Clone, Debug)]
pub enum TaskConfig {
    /// `task = "pinn"` (the default): a physics-informed network.
    Pinn(Box<PinnConfig>),
    /// `task = "operator"`: an FNO, DeepONet or LSM trained on an HDF5 data set.
    Operator(Box<OperatorConfig>),
    /// `task = "wosno"`: an FNO trained on Walk-on-Spheres estimates (or physics-informed).
    WosNo(Box<WosNoConfig>),
    /// `task = "dcdm"`: the DCDM network on Ritz-vector right-hand sides.
    Dcdm(Box<DcdmConfig>),
    /// `task = "inverse"`: PDE parameter estimation with test-time tuning.
    Inverse(Box<InverseConfig>),
}

/// `config` as it is on the rank that reports, or a copy with its progress bar switched off
/// (`silence`) on the others.
fn quiet_unless<T: Clone>(
    reports: bool,
    config: &T,
    silence: impl FnOnce(&mut T),
) -> std::borrow::Cow<'_, T> {
    if reports {
        std::borrow::Cow::Borrowed(config)
    } else {
        let mut c = config.clone();
        silence(&mut c);
        std::borrow::Cow::Owned(c)
    }
}

/// How a training run is started.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue the run in the output directory from its checkpoint (same config), bit for bit.
    pub resume: bool,
    /// Raised (e.g. by Ctrl-C, see [`nabla_nn::ctrlc_stop_flag`]) to stop after the current
    /// step with a checkpoint written.
    pub stop: Option<Arc<AtomicBool>>,
    /// The file the config was read from: refused as the output's own `config.toml` unless
    /// resuming.
    pub config_source: Option<PathBuf>,
}

/// Progress a long run reports beyond the training loop's own bar (all default to nothing).
pub trait TrainObserver: Sync {
    /// A named stage starts (inverse runs: "training the encoder", "tuning", …).
    fn stage(&self, _what: &str) {}
    /// WoS-NO ground truth: `done` of `total` held-out instances estimated.
    fn ground_truth(&self, _done: usize, _total: usize) {}
}

/// The observer that reports nothing.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// A finished (or Ctrl-C-stopped) run of any task, with everything its library returns.
pub enum TrainedRun {
    /// A PINN run.
    Pinn(Box<PinnRun>),
    /// An operator run.
    Operator(Box<OperatorRun>),
    /// A WoS-NO run.
    WosNo(Box<WosNoRun>),
    /// A DCDM run.
    Dcdm(Box<DcdmRun>),
    /// An inverse run.
    Inverse(Box<InverseRun>),
}

impl TrainedRun {
    /// Completed, or stopped early (checkpoint written; continue with
    /// [`TrainOptions::resume`]).
    pub fn outcome(&self) -> Outcome {
        match self {
            TrainedRun::Pinn(r) => r.summary.outcome,
            TrainedRun::Operator(r) => r.summary.outcome,
            TrainedRun::WosNo(r) => r.summary.outcome,
            TrainedRun::Dcdm(r) => r.summary.outcome,
            TrainedRun::Inverse(r) => r.summary.outcome,
        }
    }
}

impl TaskConfig {
    /// Reads the TOML config at `path`, applies `overrides` (`section.key=value`), and
    /// deserializes and validates it for its `task`. Errors are one line naming the file and key.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, Error> {
        let table = load_table(path, overrides)?;
        Self::from_table(table, &path.display().to_string())
    }

    /// A config from a parsed TOML table (`source_name` names it in errors).
    pub fn from_table(table: toml::Table, source_name: &str) -> Result<Self, Error> {
        let mut cfg = match task(&table).as_str() {
            "pinn" => TaskConfig::Pinn(Box::new(parse(table, source_name)?)),
            "operator" => TaskConfig::Operator(Box::new(parse(table, source_name)?)),
            "wosno" => TaskConfig::WosNo(Box::new(parse(table, source_name)?)),
            "dcdm" => TaskConfig::Dcdm(Box::new(parse(table, source_name)?)),
            "inverse" => TaskConfig::Inverse(Box::new(parse(table, source_name)?)),
            other => {
                return Err(Error::Config(nabla_core::config::ConfigError::Invalid {
                    source_name: source_name.to_string(),
                    key: "task".into(),
                    reason: format!(
                        "'{other}' is not a task nabla can train (expected \"pinn\", \"operator\", \"wosno\", \"dcdm\" or \"inverse\")"
                    ),
                }))
            }
        };
        cfg.validate(source_name)?;
        Ok(cfg)
    }

    /// The task name (`"pinn"`, …, one of [`TASKS`]).
    pub fn task(&self) -> &'static str {
        match self {
            TaskConfig::Pinn(_) => "pinn",
            TaskConfig::Operator(_) => "operator",
            TaskConfig::WosNo(_) => "wosno",
            TaskConfig::Dcdm(_) => "dcdm",
            TaskConfig::Inverse(_) => "inverse",
        }
    }

    /// Checks what serde cannot. DCDM's check also fills in derived keys (`model.dim` from the
    /// grid), so the resolved config written to the run directory is the one that trains.
    fn validate(&mut self, source_name: &str) -> Result<(), Error> {
        match self {
            TaskConfig::Pinn(_) => Ok(()),
            TaskConfig::Operator(c) => Ok(c.validate()?),
            TaskConfig::WosNo(c) => Ok(c.validate()?),
            TaskConfig::Dcdm(c) => c.validate().map_err(|e| match e {
                nabla_dcdm::DcdmError::Config { key, reason } => {
                    Error::Config(nabla_core::config::ConfigError::Invalid {
                        source_name: source_name.to_string(),
                        key,
                        reason,
                    })
                }
                other => other.into(),
            }),
            TaskConfig::Inverse(c) => Ok(c.validate()?),
        }
    }

    /// A rough upper estimate of the memory training needs, in bytes (parameters, optimizer
    /// state, activations of a step, data held in memory), for a guard before allocating.
    pub fn memory_estimate_bytes(&self) -> f64 {
        match self {
            TaskConfig::Pinn(c) => c.memory_estimate_bytes(),
            TaskConfig::Operator(c) => c.memory_estimate_bytes(),
            TaskConfig::WosNo(c) => c.memory_estimate_bytes(),
            TaskConfig::Dcdm(c) => c.memory_estimate_bytes(),
            TaskConfig::Inverse(_) => 0.0,
        }
    }

    /// What the memory estimate is for, in words (for a message).
    pub fn size_description(&self) -> String {
        match self {
            TaskConfig::Pinn(c) => format!(
                "this PINN (hidden {:?}, {} interior points, eval grid {})",
                c.model.hidden, c.sampling.interior, c.eval.grid
            ),
            TaskConfig::Operator(c) => format!(
                "this {} (batch {}{}) on {}",
                c.model.kind(),
                c.train.batch_size,
                c.data
                    .rollout_steps()
                    .map(|t| format!(", {t}-step rollouts"))
                    .unwrap_or_default(),
                c.data.file.display()
            ),
            TaskConfig::WosNo(c) => format!(
                "WoS-NO ({3}) on a {0}x{0} grid, width {1}, batch {2}",
                c.grid.points,
                c.model.width,
                c.train.batch_size,
                match c.model.kind {
                    nabla_operator::wosno::OperatorKind::Fno => "fno",
                    nabla_operator::wosno::OperatorKind::Gino => "gino",
                }
            ),
            TaskConfig::Dcdm(c) => format!(
                "DCDM on {} with {} channels, batch {}",
                c.grid, c.model.channels, c.train.batch_size
            ),
            TaskConfig::Inverse(_) => "this inverse run".into(),
        }
    }

    /// The resolved config as TOML (every default filled in): what the run directory's
    /// `config.toml` and the checkpoint's self-description hold.
    pub fn resolved_toml(&self) -> Result<String, Error> {
        let text = match self {
            TaskConfig::Pinn(c) => nabla_core::config::to_toml(c.as_ref()),
            TaskConfig::Operator(c) => nabla_core::config::to_toml(c.as_ref()),
            TaskConfig::WosNo(c) => nabla_core::config::to_toml(c.as_ref()),
            TaskConfig::Dcdm(c) => nabla_core::config::to_toml(c.as_ref()),
            TaskConfig::Inverse(c) => nabla_core::config::to_toml(c.as_ref()),
        };
        text.map_err(|e| Error::Input(format!("cannot write the resolved config: {e}")))
    }

    /// Checks what can fail before a run directory is touched: expressions, domains and
    /// network shapes (by building the model), data files and folders.
    pub fn preflight(&self) -> Result<(), Error> {
        match self {
            TaskConfig::Pinn(c) => {
                PinnModel::new(c)?;
            }
            TaskConfig::Operator(c) => {
                if !c.data.file.is_file() {
                    return Err(Error::Input(format!(
                        "data.file: {} not found (generate it with `nabla datagen`)",
                        c.data.file.display()
                    )));
                }
            }
            TaskConfig::WosNo(c) => {
                nabla_operator::wosno::run::build_model(c)?;
            }
            TaskConfig::Dcdm(_) => {}
            TaskConfig::Inverse(c) => {
                Folder::open(&c.data)?;
            }
        }
        Ok(())
    }

    /// Trains into the run directory `out`: checks the model first ([`TaskConfig::preflight`]),
    /// writes `config.toml`, then trains (checkpoints, `metrics.csv`), and writes
    /// `summary.json` (inverse runs also `estimates.csv`). Plots are the caller's.
    pub fn train(
        &self,
        out: &Path,
        options: &TrainOptions,
        observer: &dyn TrainObserver,
    ) -> Result<TrainedRun, Error> {
        self.train_on(out, options, observer, None)
    }

    /// [`train`](Self::train), data-parallel over the ranks of `comm` (`mpirun -np N nabla
    /// train`): every rank calls it; rank 0 alone writes the run directory (config, metrics,
    /// checkpoints, summary) and shows progress; each rank evaluates its share of the points
    /// and the gradients are summed over the ranks every step (see
    /// [`RunOptions::comm`](nabla_nn::RunOptions)). `task = "pinn"` (single-domain),
    /// `task = "operator"`, `task = "wosno"` (each step's instances split over the ranks, the
    /// held-out truth computed in blocks and gathered), `task = "dcdm"` (rank 0 makes the
    /// training set and sends it; minibatches split) and `task = "inverse"` (batches split,
    /// test-time tuning of each split's trajectories in blocks, estimates gathered).
    pub fn train_on(
        &self,
        out: &Path,
        options: &TrainOptions,
        observer: &dyn TrainObserver,
        comm: Option<&dyn nabla_core::comm::Communicator>,
    ) -> Result<TrainedRun, Error> {
        let writer = comm.is_none_or(|c| c.rank() == 0);
        self.preflight()?;
        let prepared = if writer {
            prepare(
                out,
                options.config_source.as_deref(),
                &self.resolved_toml()?,
                options.resume,
            )
        } else {
            Ok(())
        };
        // Every rank learns whether rank 0 could set the run up, so none waits in training.
        if let Some(c) = comm.filter(|c| c.size() > 1) {
            let mut failed = [f64::from(u8::from(prepared.is_err()))];
            c.allreduce_max_f64(&mut failed);
            if failed[0] > 0.0 && prepared.is_ok() {
                return Err(Error::Input(
                    "rank 0 could not set up the run directory (its error says why)".into(),
                ));
            }
        }
        prepared?;
        let run_options = RunOptions {
            run_dir: Some(out.to_path_buf()),
            resume: options.resume,
            stop: options.stop.clone(),
            comm,
        };
        let run = match self {
            TaskConfig::Pinn(c) => {
                let c = quiet_unless(writer, c.as_ref(), |q| q.train.progress = false);
                let run = nabla_pinn::train_pinn(&c, &run_options)?;
                if writer {
                    run_dir::write_summary(out, &run.summary)?;
                }
                TrainedRun::Pinn(Box::new(run))
            }
            TaskConfig::Operator(c) => {
                let c = quiet_unless(writer, c.as_ref(), |q| q.train.progress = false);
                let run = nabla_operator::train_operator(&c, &run_options)?;
                if writer {
                    run_dir::write_summary(out, &run.summary)?;
                }
                TrainedRun::Operator(Box::new(run))
            }
            TaskConfig::WosNo(c) => {
                let c = quiet_unless(writer, c.as_ref(), |q| q.train.progress = false);
                let run = nabla_operator::wosno::train_wosno(&c, &run_options, &|done, total| {
                    if writer {
                        observer.ground_truth(done, total)
                    }
                })?;
                if writer {
                    run_dir::write_summary(out, &run.summary)?;
                }
                TrainedRun::WosNo(Box::new(run))
            }
            TaskConfig::Dcdm(c) => {
                let c = quiet_unless(writer, c.as_ref(), |q| q.train.progress = false);
                let run = nabla_dcdm::train_dcdm(&c, &run_options)?;
                if writer {
                    run_dir::write_summary(out, &run.summary)?;
                }
                TrainedRun::Dcdm(Box::new(run))
            }
            TaskConfig::Inverse(c) => {
                let c = quiet_unless(writer, c.as_ref(), |q| q.train.progress = false);
                let run = nabla_operator::inverse::train_inverse(&c, &run_options, &|s| {
                    if writer {
                        observer.stage(s)
                    }
                })?;
                if writer {
                    run_dir::write_summary(out, &run.summary)?;
                    nabla_operator::inverse::write_estimates(
                        &out.join("estimates.csv"),
                        &run.summary.estimated_parameters,
                        &run.estimates,
                    )?;
                }
                TrainedRun::Inverse(Box::new(run))
            }
        };
        Ok(run)
    }
}

/// Reads the config at `config_path` with `overrides` and trains it into `out`
/// ([`TaskConfig::load`] then [`TaskConfig::train`], reporting nothing beyond the training
/// bar). A new run directory that fails before its first checkpoint is removed.
pub fn train(
    config_path: &Path,
    overrides: &[String],
    out: &Path,
    options: &TrainOptions,
) -> Result<(TaskConfig, TrainedRun), Error> {
    let config = TaskConfig::load(config_path, overrides)?;
    let options = TrainOptions {
        config_source: options
            .config_source
            .clone()
            .or_else(|| Some(config_path.to_path_buf())),
        ..options.clone()
    };
    let is_new = !options.resume && !out.exists();
    match config.train(out, &options, &Quiet) {
        Ok(run) => Ok((config, run)),
        Err(e) if is_new => Err(match run_dir::discard_failed_run(out) {
            Some(note) => Error::Input(format!("{e} ({note})")),
            None => e,
        }),
        Err(e) => Err(e),
    }
}

/// A trained model of any task, loaded from its run directory or checkpoint.
pub enum LoadedModel {
    /// A PINN: u, ∇u, Δu at points.
    Pinn(Box<Pinn>),
    /// An FNO, DeepONet or LSM: predictions on grids.
    Operator(Box<Operator>),
    /// A DCDM network: search directions for CG (use it through `nabla::dcdm`'s solver).
    Dcdm(Box<DcdmModel>),
}

/// Loads what a run directory or checkpoint file holds, rebuilt from the checkpoint's
/// self-description (or, for checkpoints written before it, the run's `config.toml`).
/// WoS-NO and inverse runs are evaluated by their own tasks and are refused here.
pub fn load(path: impl AsRef<Path>) -> Result<LoadedModel, Error> {
    let path = path.as_ref();
    let checkpoint = run_dir::checkpoint_path(path)?;
    let description = match describe(path) {
        Ok(d) => d,
        // A DCDM checkpoint of the previous release away from its run directory still knows
        // its network: its `dcdm.arch` tensor describes it.
        Err(e) => {
            return DcdmModel::load_cpu(&checkpoint)
                .map(|m| LoadedModel::Dcdm(Box::new(m)))
                .map_err(|_| e.into())
        }
    };
    match description.task.as_str() {
        "pinn" => {
            let config = Pinn::config_of(&description)?;
            Ok(LoadedModel::Pinn(Box::new(Pinn::from_parts(
                config,
                &description.checkpoint,
            )?)))
        }
        "operator" => {
            let config = Operator::config_of(&description)?;
            Ok(LoadedModel::Operator(Box::new(Operator::from_parts(
                config,
                &description.checkpoint,
            )?)))
        }
        "dcdm" => Ok(LoadedModel::Dcdm(Box::new(DcdmModel::load_cpu(
            &description.checkpoint,
        )?))),
        other => Err(Error::Input(format!(
            "{}: a {other} run; `load` reads PINN, operator and DCDM runs",
            path.display()
        ))),
    }
}
