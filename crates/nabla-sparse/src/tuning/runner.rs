//! Runs tuners over a sequence of systems: each instance is generated once and solved by every
//! tuner from the same initial guess, so all runs see identical systems.
//!
//! Iterations are counted exactly as `nabla poisson` counts them, because the same solver
//! types do the work: SOR sweeps of [`Sor`], CG iterations of [`Pcg`] with an
//! [`SsorPreconditioner`].

use super::sequences::InstanceSource;
use super::{Context, Tuner};
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::solvers::{Cg, Pcg, SolveOptions, SolveReport, Solver, Sor, SsorPreconditioner};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The solvers whose ω is tuned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OmegaSolver {
    /// Stand-alone SOR(ω); cost = sweeps.
    Sor,
    /// CG preconditioned with SSOR(ω); cost = CG iterations.
    SsorPcg,
}

impl OmegaSolver {
    /// The CLI name (`sor`, `ssor-pcg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sor => "sor",
            Self::SsorPcg => "ssor-pcg",
        }
    }
}

impl std::str::FromStr for OmegaSolver {
    type Err = SparseError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sor" => Ok(Self::Sor),
            "ssor-pcg" => Ok(Self::SsorPcg),
            _ => Err(SparseError::InvalidParameter(format!(
                "unknown solver '{}' for omega tuning (expected sor or ssor-pcg)",
                nabla_core::text::one_line(s, 60)
            ))),
        }
    }
}

/// Solves `a x = b` from the given `x` with `kind` at relaxation `omega` — the call a
/// simulation code makes between `choose` and `observe`. Errors on ω outside (0, 2), a zero
/// diagonal, and the solvers' own errors.
pub fn solve_with_omega(
    kind: OmegaSolver,
    a: &SparseMatrix,
    b: &[f64],
    x: &mut [f64],
    omega: f64,
    opts: &SolveOptions,
) -> Result<SolveReport> {
    match kind {
        OmegaSolver::Sor => Sor::new(a, omega)?.solve(b, x, opts),
        OmegaSolver::SsorPcg => {
            Pcg::new(a, Box::new(SsorPreconditioner::new(a, omega)?)).solve(b, x, opts)
        }
    }
}

/// Settings of [`run_sequence`].
#[derive(Clone, Copy, Debug)]
pub struct SequenceOptions {
    /// The solver whose ω is tuned.
    pub solver: OmegaSolver,
    /// Relative tolerance ‖b − A x‖₂ ≤ tol·‖b‖₂.
    pub tol: f64,
    /// Iteration cap per solve; a capped solve costs `max_iters` and counts as unconverged.
    pub max_iters: usize,
    /// Run the tuners of one instance in parallel (rayon). Totals are identical either way;
    /// per-run timings are cleaner without.
    pub parallel: bool,
    /// Also solve every instance with plain CG (no ω), as the wall-time reference.
    pub cg_baseline: bool,
}

impl Default for SequenceOptions {
    fn default() -> Self {
        Self {
            solver: OmegaSolver::Sor,
            tol: 1e-8,
            max_iters: 10_000,
            parallel: true,
            cg_baseline: false,
        }
    }
}

/// A tuner that can run on any thread.
pub type SequenceTuner = Box<dyn Tuner + Send>;

/// What one tuner did over the whole sequence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SequenceRun {
    /// The tuner's name.
    pub name: String,
    /// Σ iterations.
    pub total_iterations: u64,
    /// ω used for each instance.
    pub omega: Vec<f64>,
    /// Iterations of each instance.
    pub iterations: Vec<usize>,
    /// Solves that stopped at the iteration cap.
    pub unconverged: usize,
    /// Seconds inside the solver.
    pub solve_seconds: f64,
    /// Seconds inside `choose` + `observe` (for instance-optimal: the Lanczos estimates).
    pub tuner_seconds: f64,
}

/// Everything [`run_sequence`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SequenceOutcome {
    /// One run per tuner, in the order given.
    pub runs: Vec<SequenceRun>,
    /// The context of each instance.
    pub contexts: Vec<f64>,
    /// Plain CG on the same instances (`omega` empty), when asked for.
    pub cg: Option<SequenceRun>,
}

impl SequenceOutcome {
    /// The run with this name.
    pub fn run(&self, name: &str) -> Option<&SequenceRun> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// The fixed-ω run with the fewest total iterations (name `fixed omega=...`).
    pub fn best_fixed(&self) -> Option<&SequenceRun> {
        self.runs
            .iter()
            .filter(|r| r.name.starts_with("fixed omega="))
            .min_by_key(|r| r.total_iterations)
    }
}

fn empty_run(name: String, total: usize) -> SequenceRun {
    SequenceRun {
        name,
        total_iterations: 0,
        omega: Vec::with_capacity(total),
        iterations: Vec::with_capacity(total),
        unconverged: 0,
        solve_seconds: 0.0,
        tuner_seconds: 0.0,
    }
}

fn record(run: &mut SequenceRun, omega: Option<f64>, report: &SolveReport) {
    run.omega.extend(omega);
    run.iterations.push(report.iterations);
    run.total_iterations += report.iterations as u64;
    if !report.converged {
        run.unconverged += 1;
    }
}

/// Runs every tuner over every instance of `source`. Instances are generated once; each tuner
/// chooses ω (seeing the context value and the matrix), solves from the instance's x0, and
/// observes its iteration count. Time-stepping sources advance with the first tuner's
/// solution (every run solves to the same tolerance). `progress` is called with the number of
/// instances done.
pub fn run_sequence(
    source: &mut dyn InstanceSource,
    tuners: Vec<SequenceTuner>,
    opts: &SequenceOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SequenceOutcome> {
    if tuners.is_empty() {
        return Err(SparseError::InvalidParameter(
            "no tuner to run over the sequence".into(),
        ));
    }
    let solve_opts = SolveOptions {
        tol: opts.tol,
        max_iters: opts.max_iters,
        record_history: false,
        monitor: None,
    };
    solve_opts.validate()?;
    let total = source.instances();
    let mut states: Vec<(SequenceTuner, SequenceRun, Vec<f64>)> = tuners
        .into_iter()
        .map(|t| {
            let run = empty_run(t.name(), total);
            (t, run, Vec::new())
        })
        .collect();
    let mut cg = opts.cg_baseline.then(|| empty_run("cg".into(), total));
    let mut contexts = Vec::with_capacity(total);
    let mut done = 0;
    let mut xcg = Vec::new();
    while let Some(inst) = source.next_instance()? {
        contexts.push(inst.context);
        if let Some(run) = cg.as_mut() {
            xcg.clear();
            xcg.extend_from_slice(&inst.x0);
            let t0 = Instant::now();
            let report = Cg::new(&inst.matrix).solve(&inst.rhs, &mut xcg, &solve_opts)?;
            run.solve_seconds += t0.elapsed().as_secs_f64();
            record(run, None, &report);
        }
        let step = |(tuner, run, x): &mut (SequenceTuner, SequenceRun, Vec<f64>)| -> Result<()> {
            let ctx = Context::scalar(inst.context).with_matrix(&inst.matrix);
            let t0 = Instant::now();
            let omega = tuner.choose(&ctx)?;
            let t1 = Instant::now();
            x.clear();
            x.extend_from_slice(&inst.x0);
            let report =
                solve_with_omega(opts.solver, &inst.matrix, &inst.rhs, x, omega, &solve_opts)?;
            let t2 = Instant::now();
            tuner.observe(report.iterations as f64)?;
            run.tuner_seconds += (t1 - t0).as_secs_f64() + t2.elapsed().as_secs_f64();
            run.solve_seconds += (t2 - t1).as_secs_f64();
            record(run, Some(omega), &report);
            Ok(())
        };
        if opts.parallel && states.len() > 1 {
            states.par_iter_mut().try_for_each(step)?;
        } else {
            states.iter_mut().try_for_each(step)?;
        }
        source.accept_solution(&states[0].2)?;
        done += 1;
        progress(done);
    }
    Ok(SequenceOutcome {
        runs: states.into_iter().map(|(_, run, _)| run).collect(),
        contexts,
        cg,
    })
}

/// Which tuners a sequence run compares (`nabla sequence --tuner`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TunerChoice {
    /// [`TsallisInf`](super::TsallisInf) over the default arms.
    TsallisInf,
    /// [`ChebCb`](super::ChebCb) over its default arms
    /// ([`chebcb_default_arms`](super::chebcb_default_arms)), degree 5, on the source's
    /// context interval.
    ChebCb,
    /// [`FixedOmega`](super::FixedOmega) at this ω.
    Fixed(f64),
    /// [`InstanceOptimal`](super::InstanceOptimal) with the formula that fits the solver.
    InstanceOptimal,
    /// Every fixed ω of the default arm grid, then Tsallis-INF, ChebCB and instance-optimal.
    All,
}

/// Builds the tuners of `choice` for `solver` on a source whose contexts lie in `interval`
/// (ChebCB models them on `scale`), seeded from `seed` (Tsallis-INF gets `seed`, ChebCB
/// `seed + 1`).
pub fn build_tuners(
    choice: TunerChoice,
    solver: OmegaSolver,
    interval: (f64, f64),
    scale: super::ContextScale,
    seed: u64,
) -> Result<Vec<SequenceTuner>> {
    use super::{ChebCb, ChebCbOptions, FixedOmega, InstanceOptimal, OmegaFormula, TsallisInf};
    let tsallis =
        || -> Result<SequenceTuner> { Ok(Box::new(TsallisInf::new(super::default_arms(), seed)?)) };
    let chebcb = || -> Result<SequenceTuner> {
        let mut o = ChebCbOptions::new(interval);
        o.seed = seed.wrapping_add(1);
        o.scale = scale;
        Ok(Box::new(ChebCb::new(o)?))
    };
    let optimal = || -> SequenceTuner {
        Box::new(InstanceOptimal::new(match solver {
            OmegaSolver::Sor => OmegaFormula::Sor,
            OmegaSolver::SsorPcg => OmegaFormula::Ssor,
        }))
    };
    Ok(match choice {
        TunerChoice::TsallisInf => vec![tsallis()?],
        TunerChoice::ChebCb => vec![chebcb()?],
        TunerChoice::Fixed(w) => vec![Box::new(FixedOmega::new(w)?)],
        TunerChoice::InstanceOptimal => vec![optimal()],
        TunerChoice::All => {
            let mut v: Vec<SequenceTuner> = Vec::new();
            for w in super::default_arms() {
                v.push(Box::new(FixedOmega::new(w)?));
            }
            v.push(tsallis()?);
            v.push(chebcb()?);
            v.push(optimal());
            v
        }
    })
}
