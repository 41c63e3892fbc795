//! A whole PINN run: build the problem, the network and the objective from a config, train with
//! `nabla_nn::train`, measure the error, and reload a trained run for prediction.

use crate::config::PinnConfig;
use crate::hard::HardTransform;
use crate::multidomain::{Decomposition, MultiDomainObjective, SplitNets};
use crate::objective::{evaluation_points, predict, relative_l2, PinnObjective};
use crate::problem::Problem;
use crate::{PinnError, Result};
use nabla_nn::{train, Mlp, MlpConfig, Model, Outcome, RunOptions, TrainReport};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// The task name PINN runs carry in their checkpoints and configs (`task = "pinn"`).
pub const TASK: &str = "pinn";

/// A trained (or freshly built) PINN: problem, network and output transform.
pub struct PinnModel {
    /// The problem it solves.
    pub problem: Arc<Problem>,
    /// The network N (for a multi-domain model, the first piece's; see `split`).
    pub mlp: Mlp,
    /// The hard-constraint transform u = g + Φ·N, if any.
    pub hard: Option<HardTransform>,
    /// Multi-domain models (`[domains]`): the decomposition and one network per piece;
    /// predictions route each point to its piece's network.
    pub split: Option<SplitNets>,
}

impl PinnModel {
    /// The untrained model of a config (weights from `model.seed`, default `train.seed`).
    pub fn new(config: &PinnConfig) -> Result<Self> {
        let problem = Arc::new(Problem::from_config(config)?);
        let device = nabla_core::device::open_device(&config.device)
            .map_err(|e| PinnError::config("device", e.to_string()))?;
        let m = &config.model;
        let mut widths = vec![problem.input_dim()];
        widths.extend_from_slice(&m.hidden);
        widths.push(1);
        let seed = m.seed.unwrap_or(config.train.seed);
        let build = |seed: u64| -> Result<Mlp> {
            let mut mc = MlpConfig::new(&widths)
                .activation(m.activation)
                .precision(m.precision)
                .seed(seed);
            if m.fourier_features > 0 {
                mc = mc.fourier(m.fourier_features, m.fourier_sigma);
            }
            Ok(Mlp::new(&mc, &device)?)
        };
        let mut mlp = build(seed)?;
        let resolved = nabla_core::config::to_toml(config).map_err(|e| {
            PinnError::config("(top level)", format!("cannot be written as TOML: {e}"))
        })?;
        let description = nabla_nn::run_dir::self_description(TASK, &resolved);
        let split = match &config.domains {
            Some(dc) => {
                let decomposition = Decomposition::new(dc, &problem)?;
                let mut nets = vec![mlp.clone()];
                for k in 1..decomposition.len() {
                    nets.push(build(seed.wrapping_add(k as u64 * 0x9E37_79B9))?);
                }
                Some(SplitNets::new(decomposition, nets, &description)?)
            }
            None => None,
        };
        for (key, value) in description {
            mlp.set_metadata(key, value);
        }
        let hard = HardTransform::from_config(&problem, &config.loss)?;
        Ok(PinnModel {
            problem,
            mlp,
            hard,
            split,
        })
    }

    /// The trainable parameters (all pieces' for a multi-domain model).
    pub fn parameters(&self) -> usize {
        match &self.split {
            Some(s) => s.params().num_trainable(),
            None => self.mlp.params().num_trainable(),
        }
    }

    /// The model of a config with the weights of a checkpoint written by [`train_pinn`].
    pub fn load(config: &PinnConfig, checkpoint: &Path) -> Result<Self> {
        let m = Self::new(config)?;
        let params = match &m.split {
            Some(s) => s.params(),
            None => m.mlp.params(),
        };
        params
            .load(checkpoint, m.mlp.device())
            .map_err(|e| PinnError::file(checkpoint, e))?;
        Ok(m)
    }

    /// u at flat points (`n × D`, coordinates in the order of
    /// [`Problem::coordinate_names`]).
    pub fn predict(&self, pts: &[f64]) -> Result<Vec<f64>> {
        let dim = self.problem.input_dim();
        if !pts.len().is_multiple_of(dim) {
            return Err(PinnError::config(
                "points",
                format!(
                    "{} values is not a whole number of {dim}-D points",
                    pts.len()
                ),
            ));
        }
        let Some(split) = &self.split else {
            return predict(&self.mlp, self.hard.as_ref(), dim, pts);
        };
        split.per_piece(pts, dim, 1, |k, sub| {
            predict(&split.nets[k], self.hard.as_ref(), dim, sub)
        })
    }
}

/// What a run reports (`summary.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The equation.
    pub pde: String,
    /// Space dimension d.
    pub space_dim: usize,
    /// Relative L2 error ‖u − u*‖/‖u*‖ at the evaluation points (with an exact solution).
    pub rel_l2: Option<f64>,
    /// Maximum |u − u*| at the evaluation points.
    pub max_abs_error: Option<f64>,
    /// Number of evaluation points.
    pub eval_points: usize,
    /// How they were chosen: `"grid NxN"` or `"random N"`.
    pub eval_points_kind: String,
    /// Optimizer steps taken (Adam steps + L-BFGS iterations).
    pub iterations: usize,
    /// Training wall time in seconds (including any time before a resume).
    pub seconds: f64,
    /// Mean wall seconds per step.
    pub seconds_per_step: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// The last loss.
    pub final_loss: f64,
    /// `completed` or `stopped` (Ctrl-C).
    pub outcome: Outcome,
    /// Why L-BFGS stages ended early, as text.
    pub lbfgs_stops: Vec<String>,
    /// Interior collocation points at the end (grows with RAR).
    pub interior_points: usize,
    /// Peak resident memory of the process in MiB (Linux), a bound on the memory of a step.
    pub peak_rss_mib: Option<f64>,
}

/// The outcome of [`train_pinn`].
pub struct PinnRun {
    /// The trained model.
    pub model: PinnModel,
    /// The training loop's report.
    pub report: TrainReport,
    /// The summary (error, time, size).
    pub summary: Summary,
    /// The evaluation points (flat) and the model's prediction and exact values there.
    pub evaluation: Evaluation,
}

/// Predictions at the evaluation points, for plots and reports.
pub struct Evaluation {
    /// Flat points, `n × D`.
    pub points: Vec<f64>,
    /// For grids (D ≤ 2): for each node (row-major, last axis fastest) its index in `points`,
    /// `None` outside Ω.
    pub grid_index: Vec<Option<usize>>,
    /// For grids: the coordinates along each axis.
    pub axes: Vec<Vec<f64>>,
    /// The prediction u.
    pub predicted: Vec<f64>,
    /// The exact solution, if known.
    pub exact: Option<Vec<f64>>,
}

pub use nabla_core::memory::peak_rss_mib;

/// Trains the PINN of `config` (validated first) with the run options (run directory,
/// resume, stop flag); returns the model, the report and the summary. Writes
/// `checkpoint.safetensors` and `metrics.csv` into the run directory (the CLI adds the config,
/// summary and plots).
pub fn train_pinn(config: &PinnConfig, options: &RunOptions) -> Result<PinnRun> {
    let model = PinnModel::new(config)?;
    let (report, exact, interior_points) = match &model.split {
        None => {
            let mut objective = PinnObjective::new(model.problem.clone(), config, &model.mlp)?;
            if let Some(comm) = options.comm {
                objective.set_shard(comm.rank(), comm.size());
            }
            let report = train(&model.mlp, &mut objective, &config.train, options)?;
            let exact = objective.evaluation().1.map(<[f64]>::to_vec);
            (report, exact, objective.interior_len())
        }
        Some(split) => {
            let mut objective =
                MultiDomainObjective::new(model.problem.clone(), config, split, None)?;
            if let Some(comm) = options.comm {
                objective.set_shard(comm.rank(), comm.size());
            }
            let report = train(split, &mut objective, &config.train, options)?;
            let exact = objective.evaluation().1.map(<[f64]>::to_vec);
            (report, exact, objective.interior_len())
        }
    };
    let (points, grid_index, axes) = evaluation_points(&model.problem, config);
    let predicted = model.predict(&points)?;
    let (rel_l2, max_abs_error) = match &exact {
        Some(e) => (
            Some(relative_l2(&predicted, e)),
            Some(
                predicted
                    .iter()
                    .zip(e)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0, f64::max),
            ),
        ),
        None => (None, None),
    };
    let n_eval = points.len() / model.problem.input_dim();
    let summary = Summary {
        pde: model.problem.pde.name().to_string(),
        space_dim: model.problem.space_dim(),
        rel_l2,
        max_abs_error,
        eval_points: n_eval,
        eval_points_kind: if grid_index.is_empty() {
            format!("random {n_eval}")
        } else {
            format!(
                "grid {}",
                vec![config.eval.grid.to_string(); axes.len()].join("x")
            )
        },
        iterations: report.steps,
        seconds: report.seconds,
        seconds_per_step: report.seconds / report.steps.max(1) as f64,
        parameters: model.parameters(),
        final_loss: report.final_loss,
        outcome: report.outcome,
        lbfgs_stops: report
            .lbfgs_stops
            .iter()
            .map(|(s, why)| format!("stage {s}: {why:?}"))
            .collect(),
        interior_points,
        peak_rss_mib: peak_rss_mib(),
    };
    Ok(PinnRun {
        model,
        report,
        summary,
        evaluation: Evaluation {
            points,
            grid_index,
            axes,
            predicted,
            exact,
        },
    })
}
