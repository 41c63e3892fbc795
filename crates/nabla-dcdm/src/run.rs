//! A whole DCDM training run: training set, network, nabla-nn's training loop, and a check
//! solve on the training grid.

use crate::config::DcdmConfig;
use crate::config::LossKind;
use crate::data::{load_or_generate, DataStats};
use crate::model::DcdmModel;
use crate::solver::Dcdm;
use crate::stencil::{dcdm_energy_loss, dcdm_loss};
use crate::{DcdmError, Result};
use candle_core::{DType, Device, Tensor};
use nabla_nn::optim::{AdamConfig, Recipe, Stage};
use nabla_nn::{train, Model, Objective, Outcome, RunOptions, StepContext, TrainConfig};
use nabla_sparse::{Cg, GridPoisson, LinearOperator, RhsKind, SolveOptions, Solver};
use rand::Rng;
use serde::Serialize;

/// The loss of a training run: the DCDM loss on random minibatches of the training set, and the
/// same loss on held-out samples (`val_loss`) on logging steps.
pub struct DcdmObjective {
    b: Tensor,
    /// Fluid masks `[M, 1, sides…]` (1 = fluid), `None` when no sample has an obstacle.
    fluid: Option<Tensor>,
    mask_of: Vec<u32>,
    val_b: Tensor,
    val_fluid: Option<Tensor>,
    /// bᵀA⁻¹b of the training and validation samples (energy loss only).
    energy: Option<(Tensor, Tensor)>,
    batch: usize,
    /// Data-parallel training: (this rank, ranks); each minibatch is split in blocks.
    shard: Option<(usize, usize)>,
}

impl DcdmObjective {
    /// Splits `data` into training samples and the last `validation` held-out ones.
    pub fn new(
        data: &nabla_data::DcdmData,
        validation: usize,
        batch: usize,
        loss: LossKind,
        device: &Device,
    ) -> Result<Self> {
        let mut shape = vec![data.n, 1];
        shape.extend_from_slice(&data.sides);
        let all = Tensor::from_slice(&data.b, shape, device)?;
        let n_train = data.n - validation;
        let mut mshape = vec![data.mask_count(), 1];
        mshape.extend_from_slice(&data.sides);
        let any_solid = data.masks.iter().any(|&m| m != 0);
        let fluid = if any_solid {
            let f: Vec<f32> = data.masks.iter().map(|&m| f32::from(m == 0)).collect();
            Some(Tensor::from_vec(f, mshape, device)?)
        } else {
            None
        };
        let mask_of: Vec<u32> = data.mask_index.iter().map(|&i| i as u32).collect();
        let val_b = all.narrow(0, n_train, validation)?;
        let val_fluid = match &fluid {
            Some(f) => {
                let ids = Tensor::new(&mask_of[n_train..], device)?;
                Some(f.index_select(&ids, 0)?)
            }
            None => None,
        };
        let energy = match loss {
            LossKind::Residual => None,
            LossKind::Energy => {
                let e = Tensor::from_vec(b_ainv_b(data)?, data.n, device)?;
                Some((e.narrow(0, 0, n_train)?, e.narrow(0, n_train, validation)?))
            }
        };
        Ok(DcdmObjective {
            energy,
            b: all.narrow(0, 0, n_train)?,
            fluid,
            mask_of: mask_of[..n_train].to_vec(),
            val_b,
            val_fluid,
            batch,
            shard: None,
        })
    }

    /// Makes this objective one rank's share of data-parallel training: every rank draws the
    /// same minibatch, evaluates its block of it and scales its loss by its share, so the
    /// ranks' losses add up to the one-process loss.
    pub fn set_shard(&mut self, rank: usize, size: usize) {
        self.shard = (size > 1).then_some((rank, size));
    }

    fn loss_of(
        model: &DcdmModel,
        b: &Tensor,
        fluid: Option<&Tensor>,
        energy: Option<&Tensor>,
    ) -> Result<Tensor> {
        let b = b.to_dtype(model.net().dtype())?;
        let fluid = match fluid {
            Some(f) => Some(f.to_dtype(b.dtype())?),
            None => None,
        };
        let q = model.forward(&b)?;
        match energy {
            Some(e) => dcdm_energy_loss(&q, &b, fluid.as_ref(), e),
            None => dcdm_loss(&q, &b, fluid.as_ref()),
        }
    }
}

impl Objective<DcdmModel> for DcdmObjective {
    fn loss(&mut self, model: &DcdmModel, ctx: &mut StepContext<'_>) -> nabla_nn::Result<Tensor> {
        let n = self.mask_of.len();
        let picks: Vec<u32> = (0..self.batch)
            .map(|_| ctx.rng.gen_range(0..n) as u32)
            .collect();
        let whole = picks.len();
        let picks: Vec<u32> = match self.shard {
            None => picks,
            Some((rank, size)) => picks[nabla_core::comm::block_range(whole, rank, size)].to_vec(),
        };
        let dev = self.b.device().clone();
        if picks.is_empty() {
            // A minibatch with fewer samples than ranks: this rank adds nothing.
            return Ok(Tensor::zeros((), self.b.dtype(), &dev)?);
        }
        let share = picks.len() as f64 / whole as f64;
        let ids = Tensor::new(picks.as_slice(), &dev)?;
        let b = self.b.index_select(&ids, 0)?;
        let fluid = match &self.fluid {
            Some(f) => {
                let m: Vec<u32> = picks.iter().map(|&i| self.mask_of[i as usize]).collect();
                Some(f.index_select(&Tensor::new(m.as_slice(), &dev)?, 0)?)
            }
            None => None,
        };
        let energy = match &self.energy {
            Some((e, _)) => Some(e.index_select(&ids, 0)?),
            None => None,
        };
        let loss = Self::loss_of(model, &b, fluid.as_ref(), energy.as_ref()).map_err(into_nn)?;
        Ok(if self.shard.is_some() {
            loss.affine(share, 0.0)?
        } else {
            loss
        })
    }

    fn metrics(&mut self, model: &DcdmModel) -> nabla_nn::Result<Vec<(String, f64)>> {
        let n = self.val_b.dim(0)?;
        if n == 0 {
            return Ok(vec![("val_loss".into(), f64::NAN)]);
        }
        let mut total = 0.0;
        let chunk = 16;
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let b = self.val_b.narrow(0, start, len)?;
            let f = match &self.val_fluid {
                Some(f) => Some(f.narrow(0, start, len)?),
                None => None,
            };
            let e = match &self.energy {
                Some((_, e)) => Some(e.narrow(0, start, len)?),
                None => None,
            };
            let l = Self::loss_of(model, &b, f.as_ref(), e.as_ref())
                .map_err(into_nn)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            total += l * len as f64;
            start += len;
        }
        Ok(vec![("val_loss".into(), total / n as f64)])
    }
}

/// bᵀA⁻¹b of every sample (on its mask's matrix), from mg-pcg solves to 1e-10.
fn b_ainv_b(data: &nabla_data::DcdmData) -> Result<Vec<f32>> {
    let cells = data.cells();
    let mut dims: Vec<usize> = data.sides.clone();
    dims.reverse();
    let shape = nabla_core::GridShape::new(&dims)
        .map_err(|e| DcdmError::config("data.file", e.to_string()))?;
    let mut out = Vec::with_capacity(data.n);
    let mut problems: Vec<Option<(GridPoisson, nabla_sparse::SparseMatrix)>> =
        (0..data.mask_count()).map(|_| None).collect();
    for s in 0..data.n {
        let m = data.mask_index[s] as usize;
        if problems[m].is_none() {
            let mask: Vec<bool> = data.masks[m * cells..(m + 1) * cells]
                .iter()
                .map(|&v| v != 0)
                .collect();
            let mut g = GridPoisson::new(shape.clone());
            if mask.iter().any(|&v| v) {
                g = g.with_mask(mask)?;
            }
            let a = g.matrix();
            problems[m] = Some((g, a));
        }
        let Some((g, a)) = problems[m].as_ref() else {
            continue;
        };
        let field: Vec<f64> = data.b[s * cells..(s + 1) * cells]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let b: Vec<f64> = match g.unknown_points() {
            Some(points) => points.iter().map(|&p| field[p]).collect(),
            None => field,
        };
        let mut x = vec![0.0; b.len()];
        let system = nabla_sparse::System {
            matrix: Some(a),
            operator: Some(a),
            grid: Some(g),
        };
        let opts = SolveOptions {
            tol: 1e-10,
            max_iters: 1000,
            record_history: false,
            monitor: None,
        };
        nabla_sparse::solve(
            nabla_sparse::SolverKind::MgPcg,
            &system,
            1.0,
            &b,
            &mut x,
            &opts,
        )?;
        out.push(b.iter().zip(&x).map(|(p, q)| p * q).sum::<f64>() as f32);
    }
    Ok(out)
}

fn into_nn(e: DcdmError) -> nabla_nn::NnError {
    match e {
        DcdmError::Nn(e) => e,
        other => nabla_nn::NnError::invalid("dcdm objective", other.to_string()),
    }
}

/// What `summary.json` of a DCDM run holds.
#[derive(Clone, Debug, Serialize)]
pub struct DcdmSummary {
    /// The training grid.
    pub grid: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Adam steps completed.
    pub steps: usize,
    /// Training seconds (including before a resume).
    pub seconds: f64,
    /// The last minibatch loss (mean squared relative residual after one DCDM step).
    pub final_loss: f64,
    /// `completed` or `stopped`.
    pub outcome: Outcome,
    /// How the training set was made.
    pub data: DataStats,
    /// Relative tolerance of the check solves.
    pub eval_tol: f64,
    /// DCDM iterations on each check right-hand side (random, seeds 0, 1, …) on the training
    /// grid (with the first mask of the set).
    pub dcdm_iterations: Vec<usize>,
    /// CG iterations on the same systems.
    pub cg_iterations: Vec<usize>,
    /// Whether every DCDM check solve converged.
    pub dcdm_converged: bool,
    /// Network seconds per DCDM iteration on the training grid.
    pub network_seconds_per_iteration: f64,
}

/// The outcome of [`train_dcdm`].
pub struct DcdmRun {
    /// The trained model.
    pub model: DcdmModel,
    /// The summary.
    pub summary: DcdmSummary,
}

/// The optimization settings of a config as a `nabla_nn::TrainConfig`.
pub fn train_config(config: &DcdmConfig) -> TrainConfig {
    let t = &config.train;
    let adam = AdamConfig::new(t.steps, t.lr).schedule(t.schedule.clone());
    let mut c = TrainConfig::new(Recipe {
        stages: vec![Stage::Adam(adam)],
    });
    c.seed = t.seed;
    c.log_every = t.log_every;
    c.checkpoint_every = t.checkpoint_every;
    c.progress = t.progress;
    c
}

/// Trains the DCDM network of `config` (the config is validated first). Writes the training
/// set to `data.file` when it is not cached there, and `checkpoint.safetensors` and
/// `metrics.csv` into the run directory of `options`.
/// The training set under several ranks: rank 0 reads or generates (and caches) it, every other
/// rank receives it (so the set and its file are made once, with no race on the file).
fn shared_data(
    comm: &dyn nabla_core::comm::Communicator,
    config: &crate::data::DataConfig,
    grid: &nabla_core::GridShape,
) -> Result<(nabla_data::DcdmData, DataStats)> {
    let root = comm.rank() == 0;
    let loaded = if root {
        Some(load_or_generate(config, grid))
    } else {
        None
    };
    let mut failed = [f64::from(u8::from(matches!(loaded, Some(Err(_)))))];
    comm.allreduce_max_f64(&mut failed);
    let mine = match loaded {
        Some(Err(e)) => return Err(e),
        _ if failed[0] > 0.0 => {
            return Err(DcdmError::config(
                "data.file",
                "rank 0 could not read or generate the training set (its error says why)",
            ))
        }
        Some(Ok((data, stats))) => Some((data, stats)),
        None => None,
    };
    // Every integer here is far below 2^53, so f64 carries it exactly; f32 samples too.
    let packed: Vec<f64> = match &mine {
        Some((d, _)) => {
            let mut v = vec![
                d.sides.len() as f64,
                d.n as f64,
                d.ritz_per_mask as f64,
                d.b.len() as f64,
                d.masks.len() as f64,
                d.mask_index.len() as f64,
                d.ritz_values.len() as f64,
            ];
            v.extend(d.sides.iter().map(|&s| s as f64));
            v.extend(d.b.iter().map(|&x| f64::from(x)));
            v.extend(d.masks.iter().map(|&m| f64::from(m)));
            v.extend(d.mask_index.iter().map(|&i| i as f64));
            v.extend(&d.ritz_values);
            v
        }
        None => Vec::new(),
    };
    let all = comm.allgather_f64(&packed);
    if let Some(m) = mine {
        return Ok(m);
    }
    let count = |i: usize| all[i] as usize;
    let (dims, n, per_mask) = (count(0), count(1), count(2));
    let (nb, nm, ni, nr) = (count(3), count(4), count(5), count(6));
    let mut at = 7;
    let mut take = |len: usize| {
        let part = &all[at..at + len];
        at += len;
        part
    };
    let sides = take(dims).iter().map(|&v| v as usize).collect();
    let b = take(nb).iter().map(|&v| v as f32).collect();
    let masks = take(nm).iter().map(|&v| v as u8).collect();
    let mask_index = take(ni).iter().map(|&v| v as i64).collect();
    let ritz_values = take(nr).to_vec();
    let data = nabla_data::DcdmData {
        sides,
        n,
        b,
        masks,
        mask_index,
        ritz_values,
        ritz_per_mask: per_mask,
    };
    let stats = DataStats {
        masks: data.mask_count(),
        lanczos_steps: per_mask,
        ritz_range: (
            data.ritz_values.first().copied().unwrap_or(f64::NAN),
            data.ritz_values
                .get(per_mask.saturating_sub(1))
                .copied()
                .unwrap_or(f64::NAN),
        ),
        lanczos_seconds: 0.0,
        sample_seconds: 0.0,
        cached: true,
    };
    Ok((data, stats))
}

/// Trains the DCDM network of `config`. Under several ranks (`options.comm`) rank 0 makes the
/// training set and sends it to the others, and each rank evaluates its block of every
/// minibatch.
pub fn train_dcdm(config: &DcdmConfig, options: &RunOptions) -> Result<DcdmRun> {
    let mut config = config.clone();
    config.validate()?;
    let grid = config.grid_shape()?;
    let device = nabla_core::device::open_device(&config.device)
        .map_err(|e| DcdmError::config("device", e.to_string()))?;
    let (data, stats) = match options.comm.filter(|c| c.size() > 1) {
        Some(comm) => shared_data(comm, &config.data, &grid)?,
        None => load_or_generate(&config.data, &grid)?,
    };
    if data.sides != grid.c_order_dims() {
        return Err(DcdmError::config(
            "data.file",
            format!(
                "holds samples on {:?}, the config's grid is {}",
                data.sides, grid
            ),
        ));
    }
    let mut model = DcdmModel::new(&config.model, grid.dims(), &device)?;
    let resolved = nabla_core::config::to_toml(&config)
        .map_err(|e| DcdmError::config("(top level)", format!("cannot be written as TOML: {e}")))?;
    for (key, value) in nabla_nn::run_dir::self_description("dcdm", &resolved) {
        model.set_metadata(key, value);
    }
    let mut objective = DcdmObjective::new(
        &data,
        config.train.validation,
        config.train.batch_size,
        config.train.loss,
        &device,
    )?;
    if let Some(comm) = options.comm {
        objective.set_shard(comm.rank(), comm.size());
    }
    let tc = train_config(&config);
    let report = train(&model, &mut objective, &tc, options)?;

    // Check solves on the training grid with the first mask of the set.
    let cells = grid.len();
    let first_mask: Vec<bool> = data.masks[..cells].iter().map(|&m| m != 0).collect();
    let mut problem = GridPoisson::new(grid.clone());
    if first_mask.iter().any(|&s| s) {
        problem = problem.with_mask(first_mask)?;
    }
    let a = problem.matrix();
    let opts = SolveOptions {
        tol: config.eval.tol,
        max_iters: config.eval.max_iters,
        record_history: false,
        monitor: None,
    };
    let mut dcdm_iterations = Vec::new();
    let mut cg_iterations = Vec::new();
    let mut converged = true;
    let (mut net_s, mut net_it) = (0.0, 0usize);
    for seed in 0..config.eval.rhs as u64 {
        let b = problem.rhs(RhsKind::Random, seed);
        let mut x = vec![0.0; b.len()];
        let mut solver = Dcdm::new(&model, &a, &problem, 2)?;
        let r = solver.solve(&b, &mut x, &opts)?;
        converged &= r.converged;
        dcdm_iterations.push(r.iterations);
        net_s += solver.network_seconds();
        net_it += r.iterations;
        let mut x = vec![0.0; b.len()];
        let cg_opts = SolveOptions {
            max_iters: 100 * a.dim(),
            ..opts
        };
        cg_iterations.push(Cg::new(&a).solve(&b, &mut x, &cg_opts)?.iterations);
    }
    let summary = DcdmSummary {
        grid: grid.to_string(),
        parameters: model.params().num_trainable(),
        steps: report.steps,
        seconds: report.seconds,
        final_loss: report.final_loss,
        outcome: report.outcome,
        data: stats,
        eval_tol: config.eval.tol,
        dcdm_iterations,
        cg_iterations,
        dcdm_converged: converged,
        network_seconds_per_iteration: if net_it > 0 {
            net_s / net_it as f64
        } else {
            0.0
        },
    };
    Ok(DcdmRun { model, summary })
}
