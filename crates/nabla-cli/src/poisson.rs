//! `nabla poisson`: build a Poisson system (a generated grid, optionally with an obstacle mask,
//! or a MatrixMarket matrix), solve it, and write the solution, a JSON report and plots.

use crate::console::outln;
use crate::error::{CliError, Result};
use crate::outputs::Staged;
use crate::plot;
use crate::progress::SolveProgress;
use nabla::core::atomic::write_atomic;
use nabla::core::GridShape;
use nabla::data::AttrValue;
use nabla::sparse::{
    mm, solve_with, AmgHierarchy, AmgOptions, AmgReport, AmgSmoother, GridPoisson, LinearOperator,
    RhsKind, SolveOptions, SolveReport, Solver, SolverKind, SolverSettings, SparseMatrix, System,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod distributed;

/// The grid solved when neither `--grid` nor `--matrix` is given.
const DEFAULT_GRID: &str = "256x256";

/// Flags of `nabla poisson`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Grid problems: the h²-scaled 5-point (2-D) / 7-point (3-D) discretization of −Δu = f with \
u = 0 on the boundary: diagonal 4 (6), neighbours −1, unknown i + NX*j (+ NX*NY*k). \
With neither --grid nor --matrix, solves the 256x256 grid with a random right-hand side.

Exit codes: 0 converged; 1 error (nothing written); 2 malformed flags; 3 the solver stopped at \
--max-iters above --tol (outputs written, with converged = false).")]
pub struct PoissonArgs {
    /// Grid of interior unknowns: NX, NXxNY or NXxNYxNZ [default: 256x256 unless --matrix].
    #[arg(long, value_name = "NX[xNY[xNZ]]", conflicts_with = "matrix")]
    grid: Option<GridShape>,

    /// Obstacle mask for --grid: HDF5 file with dataset `mask` (u8, shape [NZ,]NY,NX, 1 = solid
    /// cell, fixed at 0 and removed from the system).
    #[arg(long, value_name = "FILE.h5", requires = "grid")]
    mask: Option<PathBuf>,

    /// Variable diffusion coefficient a for --grid (−∇·(a∇u) = f): HDF5 file with dataset
    /// `coefficient` (float, shape [NZ+2,]NY+2,NX+2 — the grid's nodes with their boundary
    /// layer, all > 0); each face takes the mean of its two nodes.
    #[arg(long, value_name = "FILE.h5", requires = "grid")]
    coefficient: Option<PathBuf>,

    /// Solve your own matrix (MatrixMarket coordinate, real/integer/pattern, general or
    /// symmetric).
    #[arg(long, value_name = "A.mtx")]
    matrix: Option<PathBuf>,

    /// Right-hand side from a MatrixMarket vector (array N×1, or one-column coordinate).
    #[arg(long, value_name = "b.mtx", conflicts_with = "rhs")]
    rhs_file: Option<PathBuf>,

    /// Generated right-hand side: random (uniform in [−1, 1], seeded), ones, or point (a unit
    /// source at the centre cell; row n/2 for --matrix) [default: random for --grid, ones for
    /// --matrix].
    #[arg(long, value_parser = parse_rhs)]
    rhs: Option<RhsKind>,

    /// Seed of the random right-hand side (PCG64) [default: 0].
    #[arg(long)]
    seed: Option<u64>,

    /// cg | jacobi-pcg | ic0-pcg | ssor-pcg | mg-pcg (grids only) | amg-pcg | amg | sor | ssor |
    /// dcdm (grids only, needs --model) | auto (mg-pcg on grids, amg-pcg on matrices; the
    /// report says which and why) [default: mg-pcg for --grid, amg-pcg for --matrix].
    #[arg(long, value_parser = parse_solver)]
    solver: Option<SolverChoice>,

    /// amg, amg-pcg: strength threshold θ ≥ 0 of the fine level (couplings with
    /// |a_ij| ≤ θ·√(a_ii·a_jj) are weak), halved on each coarser level [default: 0.08].
    #[arg(long, value_name = "THETA")]
    amg_theta: Option<f64>,

    /// amg, amg-pcg: smoother: spai0 | jacobi | chebyshev (degree 2) | chebyshevN | sgs
    /// (symmetric Gauss–Seidel) [default: spai0].
    #[arg(long, value_name = "NAME")]
    amg_smoother: Option<String>,

    /// amg, amg-pcg: smoothing steps before and after each coarse correction [default: 1].
    #[arg(long, value_name = "NU")]
    amg_sweeps: Option<usize>,

    /// amg, amg-pcg: largest level solved directly (dense Cholesky), at most 5000
    /// [default: 500].
    #[arg(long, value_name = "ROWS")]
    amg_coarse_size: Option<usize>,

    /// amg, amg-pcg: unknowns per node of a system (e.g. 2 or 3 for elasticity, interleaved);
    /// aggregation works on nodes and the near-nullspace is constant per component [default: 1].
    #[arg(long, value_name = "B")]
    amg_block_size: Option<usize>,

    /// amg, amg-pcg: near-nullspace vectors (e.g. rigid-body modes) as a MatrixMarket dense
    /// array with one column per vector and one row per unknown.
    #[arg(long, value_name = "B.mtx")]
    near_nullspace: Option<PathBuf>,

    /// The trained DCDM network for --solver dcdm: RUN_DIR/checkpoint.safetensors of a
    /// `nabla train` run with task = "dcdm" (the architecture is stored in the file).
    #[arg(long, value_name = "checkpoint.safetensors")]
    model: Option<PathBuf>,

    /// --solver dcdm: A-orthogonalize each direction against this many previous ones (16
    /// measured better than 2 at every size: 64² takes 17 iterations with 2 against CG's 165, and
    /// with 2 the count grows 1.9× at 256²; 16 keeps it nearly flat).
    /// [default: 16]
    #[arg(long)]
    directions: Option<usize>,

    /// --solver dcdm: the device the network runs on: cpu, or cuda:N (needs a build with
    /// --features candle-cuda); the rest of the iteration runs on the CPU. [default: cpu]
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,

    /// Stop when ‖b − A x‖₂ ≤ tol·‖b‖₂.
    #[arg(long, default_value_t = 1e-8)]
    tol: f64,

    /// Iteration cap (CG iterations, or SOR/SSOR sweeps).
    #[arg(long, default_value_t = 100_000)]
    max_iters: usize,

    /// Relaxation factor ω in (0, 2) for sor, ssor and ssor-pcg; the default 1.0 makes sor
    /// Gauss–Seidel and ssor symmetric Gauss–Seidel [default: 1.0].
    #[arg(long)]
    omega: Option<f64>,

    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,

    /// Write the solution as HDF5: `x` and `b` over the unknowns (f64), and for grids `u`
    /// shaped [NZ,]NY,NX over the whole grid — with an XDMF sidecar (sol.xdmf beside sol.h5)
    /// that opens it in ParaView (grids only: a --matrix system has no coordinates).
    #[arg(long, value_name = "sol.h5")]
    out: Option<PathBuf>,

    /// Write a JSON report (solver, unknowns, nonzeros, iterations, relative_residual,
    /// converged, setup_seconds, solve_seconds, residual_history, ...).
    #[arg(long, value_name = "report.json")]
    report: Option<PathBuf>,

    /// Render the solution as a PNG colour map (2-D grids; the middle z-slice of 3-D grids; a
    /// line chart for 1-D grids).
    #[arg(long, value_name = "sol.png")]
    plot: Option<PathBuf>,

    /// Render the residual history (relative residual per iteration, log scale) as a PNG.
    #[arg(long, value_name = "history.png")]
    history_plot: Option<PathBuf>,

    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn parse_rhs(s: &str) -> std::result::Result<RhsKind, String> {
    s.parse()
        .map_err(|e: nabla::sparse::SparseError| e.to_string())
}

/// A solver of `--solver`: one of nabla-sparse's, the learned DCDM, or `auto` (resolved once
/// the problem is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SolverChoice {
    Sparse(SolverKind),
    Dcdm,
    Auto,
}

impl SolverChoice {
    fn name(self) -> &'static str {
        match self {
            Self::Sparse(k) => k.name(),
            Self::Dcdm => "dcdm",
            Self::Auto => "auto",
        }
    }

    /// Whether the solver builds an AMG hierarchy; `auto` does so only on a matrix (it keeps
    /// geometric multigrid for grids).
    fn is_amg(self, is_grid: bool) -> bool {
        match self {
            Self::Sparse(k) => matches!(k, SolverKind::AmgPcg | SolverKind::Amg),
            Self::Auto => !is_grid,
            Self::Dcdm => false,
        }
    }

    fn uses_omega(self) -> bool {
        matches!(self, Self::Sparse(k) if k.uses_omega())
    }

    /// Whether the assembled matrix is needed: DCDM runs on the stencil unless there is a mask.
    fn needs_matrix_on(self, grid: &GridPoisson) -> bool {
        match self {
            Self::Sparse(k) => k.needs_matrix_on(Some(grid)),
            Self::Dcdm => grid.mask().is_some(),
            Self::Auto => SolverKind::auto(Some(grid)).0.needs_matrix_on(Some(grid)),
        }
    }
}

fn parse_solver(s: &str) -> std::result::Result<SolverChoice, String> {
    match s {
        "dcdm" => return Ok(SolverChoice::Dcdm),
        "auto" => return Ok(SolverChoice::Auto),
        _ => {}
    }
    s.parse()
        .map(SolverChoice::Sparse)
        .map_err(|e: nabla::sparse::SparseError| format!("{e}, dcdm or auto"))
}

/// What `--report` writes. The first fields are the contract other tools read.
#[derive(Serialize)]
struct PoissonReport<'a> {
    solver: &'a str,
    unknowns: usize,
    nonzeros: usize,
    iterations: usize,
    /// ‖b − A x‖₂ / ‖b‖₂ recomputed from the returned x.
    relative_residual: f64,
    converged: bool,
    setup_seconds: f64,
    solve_seconds: f64,
    residual_history: &'a [f64],
    /// --solver dcdm: seconds spent evaluating the network (part of `solve_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    network_seconds: Option<f64>,
    /// --solver dcdm: the model file.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    tolerance: f64,
    max_iters: usize,
    omega: Option<f64>,
    /// `grid NXxNY` or `matrix PATH`.
    problem: String,
    grid: Option<String>,
    mask: Option<String>,
    /// `--coefficient` file, if the coefficient is variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    coefficient: Option<String>,
    matrix: Option<String>,
    rhs: String,
    seed: Option<u64>,
    /// Reading or assembling the matrix and right-hand side, before `setup_seconds`.
    assembly_seconds: f64,
    seconds_per_iteration: f64,
    threads: usize,
    nabla_version: &'static str,
    /// `--solver auto`: what was asked for (`solver` holds what ran) and why it was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_solver: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    solver_reason: Option<&'static str>,
    /// Seconds spent reading `--matrix` and `--rhs-file` (part of `assembly_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    read_seconds: Option<f64>,
    /// amg, amg-pcg: `levels`, `operator_complexity`, `grid_complexity`, `amg_levels` (every
    /// level's size, finest first), `amg_options` and `amg_setup_phases`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    amg: Option<AmgReport>,
    /// Under mpirun: the number of ranks, the transport (`mpi`), the largest per-rank time in
    /// communication during the solve (waits included), and the decomposition.
    #[serde(skip_serializing_if = "Option::is_none")]
    ranks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    communication_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decomposition: Option<String>,
}

/// A loaded problem: the system, where it came from, and the solver it gets (`auto`
/// resolved).
struct Problem {
    grid: Option<GridPoisson>,
    matrix: Option<SparseMatrix>,
    b: Vec<f64>,
    rhs_label: String,
    assembly_seconds: f64,
    read_seconds: Option<f64>,
    kind: SolverChoice,
    reason: Option<&'static str>,
}

/// Runs `nabla poisson`; under mpirun (any rank count) the distributed grid solvers.
pub fn run(args: &PoissonArgs, comm: &dyn nabla::core::comm::Communicator) -> Result<()> {
    if comm.transport() != "serial" {
        return distributed::run(args, comm);
    }
    let grid_shape: Option<GridShape> = match (&args.grid, &args.matrix) {
        (Some(g), _) => Some(g.clone()),
        (None, None) => Some(DEFAULT_GRID.parse()?),
        (None, Some(_)) => None,
    };
    let requested = args
        .solver
        .unwrap_or(SolverChoice::Sparse(if grid_shape.is_some() {
            SolverKind::MgPcg
        } else {
            SolverKind::AmgPcg
        }));
    check_flags(args, requested, grid_shape.as_ref())?;
    if let Some(shape) = &grid_shape {
        crate::resources::check_memory(
            &format!("--grid {shape} with {}", requested.name()),
            grid_solve_bytes(shape, requested),
        )?;
    }
    let settings = solver_settings(args)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| CliError::Usage(format!("--threads {n}: {e}")))?;
    }

    // Load the model before any work, so a bad file fails fast.
    let t_model = Instant::now();
    let model = match (requested, &args.model) {
        (SolverChoice::Dcdm, Some(path)) => {
            let device = nabla::open_device(args.device.as_deref().unwrap_or("cpu"))
                .map_err(nabla::nn::NnError::from)?;
            Some(nabla::dcdm::DcdmModel::load(path, &device)?)
        }
        _ => None,
    };
    let model_seconds = t_model.elapsed().as_secs_f64();
    let problem = load_problem(args, requested, grid_shape.as_ref())?;
    let kind = problem.kind;
    let stencil = match (&problem.grid, &problem.matrix) {
        (Some(g), None) => g.stencil(),
        _ => None,
    };
    let operator: &dyn LinearOperator = match (&stencil, &problem.matrix) {
        (Some(s), _) => s,
        (None, Some(m)) => m,
        (None, None) => return Err(CliError::Usage("no system to solve".into())),
    };
    let system = System {
        matrix: problem.matrix.as_ref(),
        operator: Some(operator),
        grid: problem.grid.as_ref(),
    };

    let progress = SolveProgress::new(args.tol, !args.quiet);
    let monitor = |it: usize, rel: f64| progress.update(it, rel);
    let opts = SolveOptions {
        tol: args.tol,
        max_iters: args.max_iters,
        record_history: true,
        monitor: Some(&monitor),
    };
    let mut x = vec![0.0; problem.b.len()];
    let mut network_seconds = None;
    let result = match (kind, &model, &problem.grid) {
        (SolverChoice::Sparse(k), _, _) => {
            solve_with(k, &system, &settings, &problem.b, &mut x, &opts).map_err(CliError::from)
        }
        (SolverChoice::Dcdm, Some(model), Some(grid)) => {
            let mut solver = nabla::dcdm::Dcdm::new(model, operator, grid, args.directions())?;
            let r = solver.solve(&problem.b, &mut x, &opts);
            network_seconds = Some(solver.network_seconds());
            r.map(|mut r| {
                r.setup_seconds = model_seconds;
                r
            })
            .map_err(CliError::from)
        }
        (SolverChoice::Dcdm | SolverChoice::Auto, _, _) => Err(CliError::Usage(
            "--solver dcdm needs --grid and --model".into(),
        )),
    };
    progress.finish();
    let report = result?;

    let threads = rayon::current_num_threads();
    let summary = PoissonReport {
        solver: kind.name(),
        unknowns: operator.dim(),
        nonzeros: operator.nonzeros(),
        iterations: report.iterations,
        relative_residual: report.relative_residual,
        converged: report.converged,
        setup_seconds: report.setup_seconds,
        solve_seconds: report.solve_seconds,
        residual_history: &report.residual_history,
        network_seconds,
        model: args.model.as_ref().map(|p| p.display().to_string()),
        tolerance: args.tol,
        max_iters: args.max_iters,
        omega: kind.uses_omega().then_some(args.omega()),
        problem: match (&problem.grid, &args.matrix) {
            (Some(g), _) => format!("grid {}", g.shape()),
            (None, Some(m)) => format!("matrix {}", m.display()),
            (None, None) => String::new(),
        },
        grid: problem.grid.as_ref().map(|g| g.shape().to_string()),
        mask: args.mask.as_ref().map(|p| p.display().to_string()),
        coefficient: args.coefficient.as_ref().map(|p| p.display().to_string()),
        matrix: args.matrix.as_ref().map(|p| p.display().to_string()),
        rhs: problem.rhs_label.clone(),
        seed: matches!(
            args.rhs_or_default(problem.grid.is_some()),
            Some(RhsKind::Random)
        )
        .then_some(args.seed()),
        assembly_seconds: problem.assembly_seconds,
        seconds_per_iteration: if report.iterations > 0 {
            report.solve_seconds / report.iterations as f64
        } else {
            0.0
        },
        threads,
        nabla_version: env!("CARGO_PKG_VERSION"),
        requested_solver: (requested == SolverChoice::Auto).then_some("auto"),
        solver_reason: problem.reason,
        read_seconds: problem.read_seconds,
        amg: report
            .amg
            .as_ref()
            .map(|h| AmgReport::new(h, &settings.amg)),
        ranks: None,
        transport: None,
        communication_seconds: None,
        decomposition: None,
    };
    write_outputs(args, &problem, &x, &report, &summary)?;
    print_summary(&summary, report.amg.as_ref())?;
    if !report.converged {
        return Err(CliError::NotConverged(format!(
            "{} did not converge: relative residual {:.3e} > tol {:.1e} after {} iterations \
             (raise --max-iters or pick a stronger solver, e.g. --solver mg-pcg)",
            kind.name(),
            report.relative_residual,
            args.tol,
            report.iterations
        )));
    }
    Ok(())
}

impl PoissonArgs {
    /// `--omega` or its default 1.0.
    fn omega(&self) -> f64 {
        self.omega.unwrap_or(1.0)
    }

    /// `--directions` or its default 16.
    fn directions(&self) -> usize {
        self.directions
            .unwrap_or(nabla::dcdm::solver::DEFAULT_DIRECTIONS)
    }

    /// `--seed` or its default 0.
    fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }

    /// The generated right-hand side in effect, `None` when it comes from `--rhs-file`.
    fn rhs_or_default(&self, is_grid: bool) -> Option<RhsKind> {
        if self.rhs_file.is_some() {
            return None;
        }
        Some(self.rhs.unwrap_or(if is_grid {
            RhsKind::Random
        } else {
            RhsKind::Ones
        }))
    }
}

/// The AMG options (and ω) from the flags; the near-nullspace file is read here.
fn solver_settings(args: &PoissonArgs) -> Result<SolverSettings> {
    let mut amg = AmgOptions::default();
    if let Some(t) = args.amg_theta {
        amg.strength_threshold = t;
    }
    if let Some(name) = &args.amg_smoother {
        amg.smoother = name
            .parse::<AmgSmoother>()
            .map_err(|e| CliError::Usage(format!("--amg-smoother: {e}")))?;
    }
    if let Some(v) = args.amg_sweeps {
        amg.sweeps = v;
    }
    if let Some(v) = args.amg_coarse_size {
        amg.coarse_size = v;
    }
    if let Some(v) = args.amg_block_size {
        amg.block_size = v;
    }
    if let Some(path) = &args.near_nullspace {
        amg.near_nullspace = Some(mm::read_dense_columns(path)?);
    }
    Ok(SolverSettings {
        omega: args.omega(),
        amg,
    })
}

/// A rough upper estimate of the peak memory of a grid solve, in bytes: a dozen work vectors
/// (including the outputs), the assembled CSR matrix (12 bytes per nonzero, 8 per row) as often
/// as the solver keeps a matrix-sized object (matrix, IC(0) factor, AMG hierarchy), and the
/// multigrid levels (a third more vectors).
fn grid_solve_bytes(shape: &GridShape, kind: SolverChoice) -> f64 {
    let n = shape.len() as f64;
    let matrix = n * (12.0 * (2 * shape.ndim() + 1) as f64 + 8.0);
    let vectors = 12.0 * 8.0 * n;
    let matrices = match kind {
        SolverChoice::Sparse(k) => match k {
            SolverKind::Cg | SolverKind::JacobiPcg => 0.0,
            SolverKind::MgPcg => 0.5,
            SolverKind::Ic0Pcg => 2.0,
            SolverKind::AmgPcg | SolverKind::Amg => 3.5,
            _ => 1.0,
        },
        SolverChoice::Auto => 0.5,
        // The network's feature maps: tens of channels per cell.
        SolverChoice::Dcdm => 1.0 + 256.0 * n / matrix,
    };
    vectors
        * if kind == SolverChoice::Sparse(SolverKind::MgPcg) {
            1.34
        } else {
            1.0
        }
        + matrices * matrix
}

/// Most AMG smoothing steps per level `--amg-sweeps` accepts: every cycle costs about
/// 2·sweeps matrix products per level, so a huge count is a run that never ends.
const MAX_AMG_SWEEPS: usize = 100;

/// Flag checks that need no file: ranges and combinations, then output paths.
fn check_flags(args: &PoissonArgs, kind: SolverChoice, grid: Option<&GridShape>) -> Result<()> {
    if !(args.tol.is_finite() && args.tol > 0.0 && args.tol < 1.0) {
        return Err(CliError::Usage(format!(
            "--tol must be in (0, 1), got {}",
            nabla::core::text::short_number(args.tol)
        )));
    }
    if args.max_iters == 0 {
        return Err(CliError::Usage("--max-iters must be at least 1".into()));
    }
    if args.coefficient.is_some() && kind == SolverChoice::Dcdm {
        return Err(CliError::Usage(
            "--solver dcdm's network was trained on the constant-coefficient Laplacian; solve a \
             --coefficient problem with mg-pcg (the default) or another sparse solver"
                .into(),
        ));
    }
    let omega = args.omega();
    if kind.uses_omega() && !(omega.is_finite() && omega > 0.0 && omega < 2.0) {
        return Err(CliError::Usage(format!(
            "--omega must be in (0, 2) for {}, got {}",
            kind.name(),
            nabla::core::text::short_number(omega)
        )));
    }
    crate::resources::check_threads(args.threads)?;
    match (kind, &args.model) {
        (SolverChoice::Dcdm, None) => {
            return Err(CliError::Usage(
                "--solver dcdm needs --model RUN_DIR/checkpoint.safetensors (train one with \
                 `nabla train configs/dcdm_poisson64.toml`)"
                    .into(),
            ))
        }
        (SolverChoice::Dcdm, Some(_)) if grid.is_none() => {
            return Err(CliError::Usage(
                "--solver dcdm solves grid problems (--grid); a --matrix has no grid for the \
                 network"
                    .into(),
            ))
        }
        (SolverChoice::Sparse(_), Some(_)) => {
            return Err(CliError::Usage(
                "--model is only used by --solver dcdm".into(),
            ))
        }
        _ => {}
    }
    if args.mask.is_some() && grid.is_none() {
        return Err(CliError::Usage(
            "--mask removes cells of a --grid; a --matrix has no cells (remove those rows and \
             columns from the matrix yourself)"
                .into(),
        ));
    }
    if args.omega.is_some() && !kind.uses_omega() {
        return Err(CliError::Usage(format!(
            "--omega is the relaxation factor of sor, ssor and ssor-pcg; {} does not use it",
            kind.name()
        )));
    }
    if let Some(device) = &args.device {
        if kind != SolverChoice::Dcdm {
            return Err(CliError::Usage(format!(
                "--device is used by --solver dcdm (its network), not {}",
                kind.name()
            )));
        }
        device
            .parse::<nabla::DeviceKind>()
            .map_err(|e| CliError::Usage(format!("--device: {e}")))?;
    }
    if args.directions.is_some() && kind != SolverChoice::Dcdm {
        return Err(CliError::Usage(format!(
            "--directions is used by --solver dcdm, not {}",
            kind.name()
        )));
    }
    if args.seed.is_some() && !matches!(args.rhs_or_default(grid.is_some()), Some(RhsKind::Random))
    {
        return Err(CliError::Usage(
            "--seed seeds the random right-hand side (--rhs random); the right-hand side here \
             is not random"
                .into(),
        ));
    }
    let amg_flags = [
        ("--amg-theta", args.amg_theta.is_some()),
        ("--amg-smoother", args.amg_smoother.is_some()),
        ("--amg-sweeps", args.amg_sweeps.is_some()),
        ("--amg-coarse-size", args.amg_coarse_size.is_some()),
        ("--amg-block-size", args.amg_block_size.is_some()),
        ("--near-nullspace", args.near_nullspace.is_some()),
    ];
    if let Some((flag, _)) = amg_flags.iter().find(|(_, given)| *given) {
        if !kind.is_amg(grid.is_some()) {
            return Err(CliError::Usage(format!(
                "{flag} sets up algebraic multigrid; it needs --solver amg-pcg or amg (or auto on \
                 a --matrix), not {}{}",
                kind.name(),
                if grid.is_some() { " on a grid" } else { "" }
            )));
        }
    }
    if let Some(t) = args.amg_theta {
        if !(t.is_finite() && t >= 0.0) {
            return Err(CliError::Usage(format!(
                "--amg-theta must be finite and >= 0, got {}",
                nabla::core::text::short_number(t)
            )));
        }
    }
    if let Some(v) = args.amg_sweeps.filter(|&v| v > MAX_AMG_SWEEPS) {
        return Err(CliError::Usage(format!(
            "--amg-sweeps {v}: at most {MAX_AMG_SWEEPS} smoothing steps per level (1–3 is usual; \
             more only costs time)"
        )));
    }
    for (flag, v) in [
        ("--amg-sweeps", args.amg_sweeps),
        ("--amg-coarse-size", args.amg_coarse_size),
        ("--amg-block-size", args.amg_block_size),
    ] {
        if v == Some(0) {
            return Err(CliError::Usage(format!("{flag} must be at least 1")));
        }
    }
    if kind == SolverChoice::Dcdm && args.directions() == 0 {
        return Err(CliError::Usage("--directions must be at least 1".into()));
    }
    if kind == SolverChoice::Sparse(SolverKind::MgPcg) && grid.is_none() {
        return Err(nabla::sparse::SparseError::NotAGrid(
            "a MatrixMarket matrix has no grid hierarchy; use --solver amg-pcg (algebraic multigrid)".into(),
        )
        .into());
    }
    if args.plot.is_some() && grid.is_none() {
        return Err(CliError::Usage(
            "--plot draws grid solutions; a --matrix problem has no grid (use --out and plot x \
             yourself)"
                .into(),
        ));
    }
    let sidecar = sidecar_of(args, grid.is_some());
    crate::outputs::check_outputs(
        &[
            &args.out,
            &sidecar,
            &args.report,
            &args.plot,
            &args.history_plot,
        ],
        &[
            &args.matrix,
            &args.rhs_file,
            &args.mask,
            &args.coefficient,
            &args.near_nullspace,
            &args.model,
        ],
    )?;
    Ok(())
}

/// The XDMF sidecar written beside `--out` for grid problems (none for a `--matrix` system:
/// it has no grid or coordinates to place its values at).
fn sidecar_of(args: &PoissonArgs, has_grid: bool) -> Option<PathBuf> {
    args.out
        .as_ref()
        .filter(|_| has_grid)
        .map(|p| nabla::data::xdmf::sidecar_path(p))
}

/// Reads or generates the system. Grid matrices are assembled here only when the solver
/// needs them (see [`SolverKind::needs_matrix_on`]).
fn load_problem(
    args: &PoissonArgs,
    kind: SolverChoice,
    shape: Option<&GridShape>,
) -> Result<Problem> {
    let t0 = Instant::now();
    let mut read_seconds = None;
    let (grid, matrix) = match shape {
        Some(shape) => {
            let mut g = GridPoisson::new(shape.clone());
            if let Some(path) = &args.mask {
                let mask = nabla::data::read_mask(path, shape)?;
                g = g.with_mask(mask)?;
            }
            if let Some(path) = &args.coefficient {
                g = g.with_coefficient(&nabla::data::read_coefficient(path, shape)?)?;
            }
            let m = kind.needs_matrix_on(&g).then(|| g.matrix());
            (Some(g), m)
        }
        None => {
            let path = args
                .matrix
                .as_ref()
                .ok_or_else(|| CliError::Usage("give --grid or --matrix".into()))?;
            let t_read = Instant::now();
            let m = mm::read_matrix(path)?;
            read_seconds = Some(t_read.elapsed().as_secs_f64());
            (None, Some(m))
        }
    };
    let (kind, reason) = match kind {
        SolverChoice::Auto => {
            let (k, why) = SolverKind::auto(grid.as_ref());
            (SolverChoice::Sparse(k), Some(why))
        }
        k => (k, None),
    };
    let n = match (&grid, &matrix) {
        (_, Some(m)) => m.rows(),
        (Some(g), None) => g.unknowns(),
        (None, None) => 0,
    };
    let (b, rhs_label) = match (&args.rhs_file, args.rhs_or_default(grid.is_some())) {
        (Some(path), _) => {
            let t_read = Instant::now();
            let b = mm::read_vector(path)?;
            read_seconds = Some(read_seconds.unwrap_or(0.0) + t_read.elapsed().as_secs_f64());
            if b.len() != n {
                return Err(nabla::sparse::SparseError::DimensionMismatch(format!(
                    "{} has {} entries, the system has {n} unknowns",
                    path.display(),
                    b.len()
                ))
                .into());
            }
            (b, format!("file {}", path.display()))
        }
        (None, Some(k)) => {
            let b = match &grid {
                Some(g) => g.rhs(k, args.seed()),
                None => k.vector(n, args.seed()),
            };
            (b, k.name().to_string())
        }
        (None, None) => unreachable!("rhs_or_default is Some without --rhs-file"),
    };
    Ok(Problem {
        grid,
        matrix,
        b,
        rhs_label,
        assembly_seconds: t0.elapsed().as_secs_f64(),
        read_seconds,
        kind,
        reason,
    })
}

/// Writes `--out`, `--report`, `--plot` and `--history-plot` together: all of them, or (when
/// one fails) none.
fn write_outputs(
    args: &PoissonArgs,
    problem: &Problem,
    x: &[f64],
    report: &SolveReport,
    summary: &PoissonReport,
) -> Result<()> {
    let u = problem.grid.as_ref().map(|g| g.to_grid(x));
    let mut staged = Staged::new();
    if let Some(path) = &args.out {
        let attrs: Vec<(&str, AttrValue)> = vec![
            ("solver", summary.solver.into()),
            ("problem", summary.problem.clone().into()),
            ("rhs", summary.rhs.clone().into()),
            ("tolerance", args.tol.into()),
            ("relative_residual", report.relative_residual.into()),
            ("iterations", report.iterations.into()),
            ("converged", report.converged.into()),
            ("unknowns", summary.unknowns.into()),
            ("nonzeros", summary.nonzeros.into()),
        ];
        staged.write(path, |tmp| {
            nabla::data::write_solution(
                tmp,
                x,
                &problem.b,
                problem.grid.as_ref().map(|g| g.shape()),
                u.as_deref(),
                &attrs,
            )
        })?;
        if let (Some(g), Some(sidecar)) = (&problem.grid, sidecar_of(args, true)) {
            // Staged with the HDF5 file, naming its final name (not the temporary one).
            let xml = nabla::data::xdmf::sidecar_xml(
                path,
                &nabla::data::xdmf::solution_sidecar(g.shape(), x.len()),
            )?;
            staged.write(&sidecar, |tmp| {
                write_atomic(tmp, |w| std::io::Write::write_all(w, xml.as_bytes()))
                    .map_err(|e| format!("{}: {e}", sidecar.display()))
            })?;
        }
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(summary)
            .map_err(|e| CliError::Usage(format!("cannot encode the report: {e}")))?;
        staged.write(path, |tmp| {
            write_atomic(tmp, |w| std::io::Write::write_all(w, &json))
                .map_err(|e| format!("{}: {e}", path.display()))
        })?;
    }
    if let (Some(path), Some(g), Some(u)) = (&args.plot, &problem.grid, &u) {
        staged.write(path, |tmp| plot_solution(tmp, g, u, summary))?;
    }
    if let Some(path) = &args.history_plot {
        let pts: Vec<(f64, f64)> = report
            .residual_history
            .iter()
            .enumerate()
            .map(|(i, r)| (i as f64, *r))
            .collect();
        staged.write(path, |tmp| {
            plot::line_chart(
                tmp,
                &format!("{} on {}", summary.solver, summary.problem),
                "iteration",
                "‖b − Ax‖ / ‖b‖",
                &[(summary.solver.to_string(), pts)],
                true,
            )
        })?;
    }
    staged.commit()
}

/// Draws the solution: a colour map in 2-D, the middle z-slice in 3-D, a line in 1-D.
fn plot_solution(path: &Path, g: &GridPoisson, u: &[f64], summary: &PoissonReport) -> Result<()> {
    let dims = g.shape().dims();
    let title = format!(
        "u: {} on {}, {} iterations",
        summary.solver, summary.problem, summary.iterations
    );
    match *dims {
        [nx] => {
            let pts: Vec<(f64, f64)> = u.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
            plot::line_chart(
                path,
                &title,
                &format!("i (of {nx})"),
                "u",
                &[("u".into(), pts)],
                false,
            )?;
        }
        [nx, ny] => plot::heatmap(path, u, nx, ny, &title)?,
        [nx, ny, nz] => {
            let k = nz / 2;
            let slice = &u[nx * ny * k..nx * ny * (k + 1)];
            plot::heatmap(path, slice, nx, ny, &format!("{title}, slice k = {k}"))?;
        }
        _ => {}
    }
    Ok(())
}

/// The human-readable summary on stdout.
fn print_summary(s: &PoissonReport, amg: Option<&AmgHierarchy>) -> Result<()> {
    outln!(
        "problem            {} ({} unknowns, {} nonzeros)",
        s.problem,
        s.unknowns,
        s.nonzeros
    );
    outln!("right-hand side    {}", s.rhs);
    match s.omega {
        Some(w) => outln!("solver             {} (omega = {w})", s.solver),
        None => outln!("solver             {}", s.solver),
    }
    if let Some(why) = s.solver_reason {
        outln!("                   (auto: {why})");
    }
    if let Some(h) = amg {
        outln!(
            "hierarchy          {} levels, operator complexity {:.3}, grid complexity {:.3}",
            h.levels.len(),
            h.operator_complexity,
            h.grid_complexity
        );
        for (l, info) in h.levels.iter().enumerate() {
            outln!(
                "  level {l:<2}         {:>10} rows {:>12} nonzeros",
                info.rows,
                info.nonzeros
            );
        }
    }
    outln!(
        "converged          {} in {} iterations (tol {:.1e})",
        if s.converged { "yes" } else { "NO" },
        s.iterations,
        s.tolerance
    );
    outln!(
        "relative residual  {:.3e} (recomputed from x)",
        s.relative_residual
    );
    if let Some(r) = s.read_seconds {
        outln!("read               {r:.3} s (MatrixMarket input)");
    }
    outln!(
        "time               assembly {:.3} s, setup {:.3} s, solve {:.3} s ({:.3} ms/iteration, {} threads{})",
        s.assembly_seconds,
        s.setup_seconds,
        s.solve_seconds,
        s.seconds_per_iteration * 1e3,
        s.threads,
        if s.ranks.is_some() { " per rank" } else { "" }
    );
    if let (Some(ranks), Some(comm)) = (s.ranks, s.communication_seconds) {
        outln!(
            "ranks              {ranks} ({}, {}); communication {comm:.3} s (slowest rank)",
            s.transport.unwrap_or("mpi"),
            s.decomposition.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
