//! `nabla.solve` (any sparse SPD matrix from scipy, every solver of `nabla poisson`) and
//! `nabla.poisson_grid` (the grid Poisson matrix as CSR arrays).
//!
//! What is copied: `nabla::sparse::SparseMatrix` owns sprs storage with `usize` row pointers
//! and `u32` column indices, so the CSR arrays are copied once into it (row pointers widened,
//! indices narrowed, values copied as they are). `b` and `x0` are read in place when they are
//! contiguous float64; the solution is allocated by Rust and handed to numpy without a copy.

use crate::convert::json_to_py;
use crate::errors::{nabla_error, value_error};
use crate::interrupt::run_interruptible;
use crate::models::PyDcdmModel;
use nabla::core::GridShape;
use nabla::sparse::solvers::stop::with_stop_flag;
use nabla::sparse::{
    solve_with, AmgOptions, AmgReport, AmgSmoother, GridPoisson, LinearOperator, SolveOptions,
    SolveReport, Solver, SolverKind, SolverSettings, SparseError, SparseMatrix, System,
};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// Most AMG smoothing steps per level accepted (as `nabla poisson --amg-sweeps`).
const MAX_AMG_SWEEPS: usize = 100;

/// A solver name: one of nabla-sparse's, the learned DCDM, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    Sparse(SolverKind),
    Dcdm,
    Auto,
}

impl Choice {
    fn parse(s: &str) -> PyResult<Self> {
        match s {
            "dcdm" => Ok(Self::Dcdm),
            "auto" => Ok(Self::Auto),
            _ => s
                .parse()
                .map(Self::Sparse)
                .map_err(|e: SparseError| value_error(format!("{e}, dcdm or auto"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sparse(k) => k.name(),
            Self::Dcdm => "dcdm",
            Self::Auto => "auto",
        }
    }

    fn uses_omega(self) -> bool {
        matches!(self, Self::Sparse(k) if k.uses_omega())
    }

    fn is_amg(self, has_grid: bool) -> bool {
        match self {
            Self::Sparse(k) => matches!(k, SolverKind::AmgPcg | SolverKind::Amg),
            Self::Auto => !has_grid,
            Self::Dcdm => false,
        }
    }
}

/// Column indices or row pointers as numpy gives them.
enum Index<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

impl<'py> Index<'py> {
    fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, i32>>() {
            return Ok(Self::I32(a));
        }
        if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, i64>>() {
            return Ok(Self::I64(a));
        }
        Err(value_error(format!(
            "{what} must be a 1-D int32 or int64 array"
        )))
    }

    fn slice(&self, what: &str) -> PyResult<IndexSlice<'_>> {
        let bad = |_| value_error(format!("{what} must be contiguous"));
        Ok(match self {
            Self::I32(a) => IndexSlice::I32(a.as_slice().map_err(bad)?),
            Self::I64(a) => IndexSlice::I64(a.as_slice().map_err(bad)?),
        })
    }
}

#[derive(Clone, Copy)]
enum IndexSlice<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl IndexSlice<'_> {
    fn len(&self) -> usize {
        match self {
            Self::I32(s) => s.len(),
            Self::I64(s) => s.len(),
        }
    }

    /// The values as `T`, each checked to lie in `0..bound`; the error names the first that
    /// does not. (Sequential: on two cores shared with other work, rayon made it slower.)
    fn convert<T: TryFrom<i64>>(&self, bound: usize) -> Result<Vec<T>, (usize, i64)> {
        fn go<I: Copy + Into<i64>, T: TryFrom<i64>>(
            s: &[I],
            bound: usize,
        ) -> Result<Vec<T>, (usize, i64)> {
            let mut out = Vec::with_capacity(s.len());
            for (k, &v) in s.iter().enumerate() {
                let v: i64 = v.into();
                match T::try_from(v) {
                    Ok(t) if v >= 0 && (v as u64) < bound as u64 => out.push(t),
                    _ => return Err((k, v)),
                }
            }
            Ok(out)
        }
        match self {
            Self::I32(s) => go(s, bound),
            Self::I64(s) => go(s, bound),
        }
    }
}

/// The CSR arrays as a `SparseMatrix` (one copy; see the module docs). Errors
/// read like the library's: a non-square matrix is `NotSquare`, a NaN is `NonFinite`.
fn build_matrix(
    rows: usize,
    cols: usize,
    indptr: IndexSlice,
    indices: IndexSlice,
    data: &[f64],
) -> Result<SparseMatrix, SparseError> {
    let bad = |m: String| SparseError::InvalidParameter(format!("CSR arrays: {m}"));
    if indptr.len() != rows + 1 {
        return Err(bad(format!(
            "indptr has {} entries, a matrix with {rows} rows needs {}",
            indptr.len(),
            rows + 1
        )));
    }
    if indices.len() != data.len() {
        return Err(bad(format!(
            "{} column indices but {} values",
            indices.len(),
            data.len()
        )));
    }
    if cols > u32::MAX as usize {
        return Err(bad(format!(
            "{cols} columns; nabla stores column indices as 32-bit integers (at most {})",
            u32::MAX
        )));
    }
    let ptr: Vec<usize> = indptr
        .convert::<usize>(data.len() + 1)
        .map_err(|(k, v)| bad(format!("indptr[{k}] = {v} is outside 0..={}", data.len())))?;
    if ptr[0] != 0 || ptr[rows] != data.len() || ptr.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad(format!(
            "indptr must start at 0, never decrease and end at the number of values ({})",
            data.len()
        )));
    }
    // The column indices and the values are copied side by side (two big independent copies).
    let (idx, values) = rayon::join(|| indices.convert::<u32>(cols), || data.to_vec());
    let idx =
        idx.map_err(|(k, v)| bad(format!("column index {v} (entry {k}) is outside 0..{cols}")))?;
    // sprs checks the rest of the structure (sorted, unique column indices in each row).
    let csr = sprs::CsMatI::try_new((rows, cols), ptr, idx, values)
        .map_err(|(_, _, _, e)| bad(e.to_string()))?;
    SparseMatrix::from_csr(csr)
}

/// `b` (or `x0`) checked as the solvers check it, before any set-up runs.
fn check_vector(v: &[f64], n: usize, what: &str) -> Result<(), SparseError> {
    if v.len() != n {
        return Err(SparseError::DimensionMismatch(format!(
            "{what} has {} entries, the matrix has {n} rows",
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(SparseError::NonFinite(format!(
            "{what} entry {} is {}",
            i + 1,
            v[i]
        )));
    }
    Ok(())
}

/// The report: the fields of `nabla poisson --report` that a matrix from Python has, with the
/// same names, plus `conversion_seconds` and `seconds`.
#[derive(Serialize)]
struct Report {
    solver: &'static str,
    unknowns: usize,
    nonzeros: usize,
    iterations: usize,
    relative_residual: f64,
    converged: bool,
    setup_seconds: f64,
    solve_seconds: f64,
    residual_history: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    tolerance: f64,
    max_iters: usize,
    omega: Option<f64>,
    problem: String,
    grid: Option<String>,
    /// Copying the CSR arrays into nabla's matrix (the Python-side overhead).
    conversion_seconds: f64,
    /// Everything inside the call: conversion, set-up and solve.
    seconds: f64,
    seconds_per_iteration: f64,
    threads: usize,
    nabla_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_solver: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    solver_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    amg: Option<AmgReport>,
}

/// The DCDM network of `model=`: a loaded `nabla.load(...)` object or a path.
enum ModelArg {
    Loaded(Arc<nabla::dcdm::DcdmModel>),
    Path(PathBuf),
}

impl ModelArg {
    fn label(&self) -> String {
        match self {
            Self::Loaded(_) => "loaded model".into(),
            Self::Path(p) => p.display().to_string(),
        }
    }
}

/// Everything of one solve except the arrays, validated.
struct Plan {
    requested: Choice,
    kind: Choice,
    reason: Option<&'static str>,
    grid: Option<GridShape>,
    model: Option<ModelArg>,
    directions: usize,
    settings: SolverSettings,
    omega_given: bool,
    tol: f64,
    max_iters: usize,
    record_history: bool,
}

fn grid_shape(obj: &Bound<'_, PyAny>) -> PyResult<GridShape> {
    let text = if let Ok(s) = obj.extract::<String>() {
        s
    } else if let Ok(dims) = obj.extract::<Vec<usize>>() {
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    } else {
        return Err(value_error(
            "grid shape must be a tuple of ints (nx, ny[, nz]) or a string 'NXxNY[xNZ]'",
        ));
    };
    text.parse::<GridShape>().map_err(nabla_error)
}

#[allow(clippy::too_many_arguments)]
fn plan(
    solver: &str,
    tol: f64,
    max_iters: usize,
    omega: Option<f64>,
    grid: Option<&Bound<'_, PyAny>>,
    model: Option<&Bound<'_, PyAny>>,
    directions: Option<usize>,
    amg_theta: Option<f64>,
    amg_smoother: Option<&str>,
    amg_sweeps: Option<usize>,
    amg_coarse_size: Option<usize>,
    amg_block_size: Option<usize>,
    near_nullspace: Option<PyReadonlyArray2<'_, f64>>,
    record_history: bool,
) -> PyResult<Plan> {
    let requested = Choice::parse(solver)?;
    if !(tol.is_finite() && tol > 0.0 && tol < 1.0) {
        return Err(value_error(format!(
            "tol must be in (0, 1), got {}",
            nabla::core::text::short_number(tol)
        )));
    }
    if max_iters == 0 {
        return Err(value_error("max_iters must be at least 1"));
    }
    let grid = grid.map(grid_shape).transpose()?;
    let omega_value = omega.unwrap_or(1.0);
    if requested.uses_omega()
        && !(omega_value.is_finite() && omega_value > 0.0 && omega_value < 2.0)
    {
        return Err(value_error(format!(
            "omega must be in (0, 2) for {}, got {}",
            requested.name(),
            nabla::core::text::short_number(omega_value)
        )));
    }
    if omega.is_some() && !requested.uses_omega() {
        return Err(value_error(format!(
            "omega is the relaxation factor of sor, ssor and ssor-pcg; {} does not use it",
            requested.name()
        )));
    }
    match (requested, &model, &grid) {
        (Choice::Dcdm, None, _) => {
            return Err(value_error(
                "solver='dcdm' needs model= (a DCDM run directory, its checkpoint, or \
                 nabla.load(...) of one; train one with `nabla train configs/dcdm_poisson64.toml`)",
            ))
        }
        (Choice::Dcdm, _, None) => {
            return Err(value_error(
                "solver='dcdm' needs grid=(nx, ny): the network works on the grid behind the \
                 matrix (unknown i + nx*j)",
            ))
        }
        (Choice::Sparse(_) | Choice::Auto, Some(_), _) => {
            return Err(value_error("model is only used by solver='dcdm'"))
        }
        _ => {}
    }
    if directions.is_some() && requested != Choice::Dcdm {
        return Err(value_error(format!(
            "directions is used by solver='dcdm', not {}",
            requested.name()
        )));
    }
    let directions = directions.unwrap_or(nabla::dcdm::solver::DEFAULT_DIRECTIONS);
    if requested == Choice::Dcdm && directions == 0 {
        return Err(value_error("directions must be at least 1"));
    }
    match requested {
        Choice::Sparse(SolverKind::MgPcg) if grid.is_none() => {
            return Err(nabla_error(SparseError::NotAGrid(
                "a matrix from Python has no grid hierarchy unless grid=(nx, ny[, nz]) says which \
                 grid it is the stencil of; otherwise use solver='amg-pcg' (algebraic multigrid)"
                    .into(),
            )))
        }
        Choice::Sparse(SolverKind::MgPcg) | Choice::Dcdm | Choice::Auto => {}
        Choice::Sparse(k) if grid.is_some() => {
            return Err(value_error(format!(
                "grid is used by solver='mg-pcg', 'dcdm' and 'auto' (which then runs mg-pcg); {} \
                 does not use it",
                k.name()
            )))
        }
        Choice::Sparse(_) => {}
    }
    let amg_flags = [
        ("amg_theta", amg_theta.is_some()),
        ("amg_smoother", amg_smoother.is_some()),
        ("amg_sweeps", amg_sweeps.is_some()),
        ("amg_coarse_size", amg_coarse_size.is_some()),
        ("amg_block_size", amg_block_size.is_some()),
        ("near_nullspace", near_nullspace.is_some()),
    ];
    if let Some((flag, _)) = amg_flags.iter().find(|(_, given)| *given) {
        if !requested.is_amg(grid.is_some()) {
            return Err(value_error(format!(
                "{flag} sets up algebraic multigrid; it needs solver='amg-pcg' or 'amg' (or \
                 'auto' without grid=), not {}{}",
                requested.name(),
                if grid.is_some() { " with grid=" } else { "" }
            )));
        }
    }
    let mut amg = AmgOptions::default();
    if let Some(t) = amg_theta {
        if !(t.is_finite() && t >= 0.0) {
            return Err(value_error(format!(
                "amg_theta must be finite and >= 0, got {}",
                nabla::core::text::short_number(t)
            )));
        }
        amg.strength_threshold = t;
    }
    if let Some(name) = amg_smoother {
        amg.smoother = name
            .parse::<AmgSmoother>()
            .map_err(|e| value_error(format!("amg_smoother: {e}")))?;
    }
    if let Some(v) = amg_sweeps.filter(|&v| v > MAX_AMG_SWEEPS) {
        return Err(value_error(format!(
            "amg_sweeps {v}: at most {MAX_AMG_SWEEPS} smoothing steps per level (1–3 is usual; \
             more only costs time)"
        )));
    }
    for (flag, v) in [
        ("amg_sweeps", amg_sweeps),
        ("amg_coarse_size", amg_coarse_size),
        ("amg_block_size", amg_block_size),
    ] {
        if v == Some(0) {
            return Err(value_error(format!("{flag} must be at least 1")));
        }
    }
    if let Some(v) = amg_sweeps {
        amg.sweeps = v;
    }
    if let Some(v) = amg_coarse_size {
        amg.coarse_size = v;
    }
    if let Some(v) = amg_block_size {
        amg.block_size = v;
    }
    if let Some(b) = near_nullspace {
        let a = b.as_array();
        amg.near_nullspace = Some(
            (0..a.ncols())
                .map(|j| a.column(j).iter().copied().collect())
                .collect(),
        );
    }
    let model = match model {
        None => None,
        Some(obj) => Some(if let Ok(m) = obj.cast::<PyDcdmModel>() {
            ModelArg::Loaded(m.get().inner.clone())
        } else if let Ok(p) = obj.extract::<PathBuf>() {
            ModelArg::Path(p)
        } else {
            return Err(value_error(
                "model must be a path or a DCDM model from nabla.load(...)",
            ));
        }),
    };
    let (kind, reason) = match requested {
        Choice::Auto => {
            let g = grid.as_ref().map(|s| GridPoisson::new(s.clone()));
            let (k, why) = SolverKind::auto(g.as_ref());
            (Choice::Sparse(k), Some(why))
        }
        k => (k, None),
    };
    Ok(Plan {
        requested,
        kind,
        reason,
        grid,
        model,
        directions,
        settings: SolverSettings {
            omega: omega_value,
            amg,
        },
        omega_given: omega.is_some(),
        tol,
        max_iters,
        record_history,
    })
}

/// What the worker returns: the solution and the report, or the library's error message.
type Outcome = Result<(Vec<f64>, Report), String>;

/// A library error as its one-line message (what reaches Python as `NablaError`).
fn msg(e: impl Into<nabla::Error>) -> String {
    e.into().to_string()
}

/// The solve itself (on the worker thread, without the GIL).
fn run_solve(
    plan: &Plan,
    shape: (usize, usize),
    arrays: (IndexSlice, IndexSlice, &[f64]),
    b: &[f64],
    x0: Option<&[f64]>,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let t0 = Instant::now();
    let a = build_matrix(shape.0, shape.1, arrays.0, arrays.1, arrays.2).map_err(msg)?;
    let conversion_seconds = t0.elapsed().as_secs_f64();
    let n = a.rows();
    check_vector(b, n, "right-hand side").map_err(msg)?;
    let mut x = match x0 {
        Some(v) => {
            check_vector(v, n, "initial guess").map_err(msg)?;
            v.to_vec()
        }
        None => vec![0.0; n],
    };
    let grid = plan.grid.as_ref().map(|s| GridPoisson::new(s.clone()));
    if let Some(g) = &grid {
        if g.unknowns() != n {
            return Err(SparseError::DimensionMismatch(format!(
                "grid {} has {} unknowns, the matrix has {n} rows",
                g.shape(),
                g.unknowns()
            ))
            .to_string());
        }
    }
    let opts = SolveOptions {
        tol: plan.tol,
        max_iters: plan.max_iters,
        record_history: plan.record_history,
        monitor: None,
    };
    let mut network_seconds = None;
    let report: SolveReport = match (plan.kind, &grid) {
        (Choice::Sparse(k), _) => {
            let system = System {
                matrix: Some(&a),
                operator: None,
                grid: if k == SolverKind::MgPcg {
                    grid.as_ref()
                } else {
                    None
                },
            };
            with_stop_flag(stop, || {
                solve_with(k, &system, &plan.settings, b, &mut x, &opts)
            })
            .map_err(msg)?
        }
        (Choice::Dcdm, Some(g)) => {
            let t_model = Instant::now();
            let loaded;
            let model: &nabla::dcdm::DcdmModel = match &plan.model {
                Some(ModelArg::Loaded(m)) => m,
                Some(ModelArg::Path(p)) => {
                    loaded =
                        nabla::dcdm::DcdmModel::load_run(p, &nabla::Device::Cpu).map_err(msg)?;
                    &loaded
                }
                None => return Err("solver='dcdm' needs model=".into()),
            };
            let model_seconds = t_model.elapsed().as_secs_f64();
            a.check_symmetric("dcdm").map_err(msg)?;
            let mut solver = nabla::dcdm::Dcdm::new(model, &a, g, plan.directions).map_err(msg)?;
            let r = with_stop_flag(stop, || solver.solve(b, &mut x, &opts));
            network_seconds = Some(solver.network_seconds());
            let mut r = r.map_err(msg)?;
            r.setup_seconds = model_seconds;
            r
        }
        _ => return Err("solver='dcdm' needs grid= and model=".into()),
    };
    let settings = &plan.settings;
    let amg = report.amg.as_ref();
    let summary = Report {
        solver: plan.kind.name(),
        unknowns: n,
        nonzeros: a.nonzeros(),
        iterations: report.iterations,
        relative_residual: report.relative_residual,
        converged: report.converged,
        setup_seconds: report.setup_seconds,
        solve_seconds: report.solve_seconds,
        residual_history: report.residual_history.clone(),
        network_seconds,
        model: plan.model.as_ref().map(ModelArg::label),
        tolerance: plan.tol,
        max_iters: plan.max_iters,
        omega: (plan.kind.uses_omega() || plan.omega_given).then_some(settings.omega),
        problem: format!("matrix {n}x{n}"),
        grid: plan.grid.as_ref().map(|s| s.to_string()),
        conversion_seconds,
        seconds: t0.elapsed().as_secs_f64(),
        seconds_per_iteration: if report.iterations > 0 {
            report.solve_seconds / report.iterations as f64
        } else {
            0.0
        },
        threads: rayon::current_num_threads(),
        nabla_version: env!("CARGO_PKG_VERSION"),
        requested_solver: (plan.requested == Choice::Auto).then_some("auto"),
        solver_reason: plan.reason,
        amg: amg.map(|h| AmgReport::new(h, &settings.amg)),
    };
    Ok((x, summary))
}

/// A pool of `threads` workers, or `None` for rayon's global pool (all cores).
pub fn thread_pool(threads: Option<usize>) -> PyResult<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(value_error("threads must be at least 1")),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(Some)
            .map_err(|e| value_error(format!("threads={n}: {e}"))),
    }
}

/// Runs `f` in `pool` (or on the calling thread with the global pool).
pub fn in_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// The native half of `nabla.solve`: CSR arrays (canonical: sorted, no duplicates; the Python
/// wrapper converts CSC/COO and fixes the format) and a right-hand side.
#[pyfunction]
#[pyo3(signature = (
    shape, indptr, indices, data, b, *, solver="auto", tol=1e-8, max_iters=100_000, x0=None,
    omega=None, grid=None, model=None, directions=None, amg_theta=None, amg_smoother=None,
    amg_sweeps=None, amg_coarse_size=None, amg_block_size=None, near_nullspace=None,
    record_history=true, threads=None
))]
#[allow(clippy::too_many_arguments)]
pub fn solve_csr<'py>(
    py: Python<'py>,
    shape: (usize, usize),
    indptr: &Bound<'py, PyAny>,
    indices: &Bound<'py, PyAny>,
    data: PyReadonlyArray1<'py, f64>,
    b: PyReadonlyArray1<'py, f64>,
    solver: &str,
    tol: f64,
    max_iters: usize,
    x0: Option<PyReadonlyArray1<'py, f64>>,
    omega: Option<f64>,
    grid: Option<&Bound<'py, PyAny>>,
    model: Option<&Bound<'py, PyAny>>,
    directions: Option<usize>,
    amg_theta: Option<f64>,
    amg_smoother: Option<&str>,
    amg_sweeps: Option<usize>,
    amg_coarse_size: Option<usize>,
    amg_block_size: Option<usize>,
    near_nullspace: Option<PyReadonlyArray2<'py, f64>>,
    record_history: bool,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyAny>)> {
    let plan = plan(
        solver,
        tol,
        max_iters,
        omega,
        grid,
        model,
        directions,
        amg_theta,
        amg_smoother,
        amg_sweeps,
        amg_coarse_size,
        amg_block_size,
        near_nullspace,
        record_history,
    )?;
    let indptr = Index::extract(indptr, "indptr")?;
    let indices = Index::extract(indices, "indices")?;
    let arrays = (
        indptr.slice("indptr")?,
        indices.slice("indices")?,
        data.as_slice()
            .map_err(|_| value_error("data must be contiguous"))?,
    );
    let b = b
        .as_slice()
        .map_err(|_| value_error("b must be contiguous"))?;
    let x0 = x0
        .as_ref()
        .map(|v| {
            v.as_slice()
                .map_err(|_| value_error("x0 must be contiguous"))
        })
        .transpose()?;
    let pool = thread_pool(threads)?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = stop.clone();
    let plan_ref = &plan;
    let finished = run_interruptible(py, &stop, move || {
        in_pool(pool.as_ref(), move || {
            run_solve(plan_ref, shape, arrays, b, x0, worker_stop)
        })
    })?;
    let (x, report) = match (finished.value, finished.interrupt) {
        (Ok((_, r)), Some(_)) => {
            return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(format!(
                "{} stopped by Ctrl-C after {} iterations (relative residual {:.3e})",
                r.solver, r.iterations, r.relative_residual
            )))
        }
        (Err(_), Some(interrupt)) => return Err(interrupt),
        (Err(e), None) => return Err(nabla_error(e)),
        (Ok(v), None) => v,
    };
    let json = serde_json::to_value(&report)
        .map_err(|e| nabla_error(format!("cannot encode the report: {e}")))?;
    Ok((x.into_pyarray(py), json_to_py(py, &json)?))
}

/// The native half of `nabla.poisson_grid`: the grid Poisson matrix (h²-scaled 5-/7-point,
/// optional nodal coefficient and mask) as CSR arrays `(indptr int64, indices int32, data,
/// n)`, and the right-hand side when `rhs` names one.
#[pyfunction]
#[pyo3(signature = (shape, *, coefficient=None, mask=None, rhs=None, seed=0))]
#[allow(clippy::type_complexity)]
pub fn poisson_grid_csr<'py>(
    py: Python<'py>,
    shape: &Bound<'py, PyAny>,
    coefficient: Option<numpy::PyReadonlyArrayDyn<'py, f64>>,
    mask: Option<numpy::PyReadonlyArrayDyn<'py, bool>>,
    rhs: Option<&str>,
    seed: u64,
) -> PyResult<(
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f64>>,
    usize,
    Option<Bound<'py, PyArray1<f64>>>,
)> {
    let shape = grid_shape(shape)?;
    let rhs = rhs
        .map(|r| r.parse::<nabla::sparse::RhsKind>())
        .transpose()
        .map_err(|e| value_error(e.to_string()))?;
    let mut problem = GridPoisson::new(shape.clone());
    if let Some(c) = &coefficient {
        let ext: Vec<usize> = shape.dims().iter().rev().map(|n| n + 2).collect();
        if c.ndim() != 1 && c.shape() != ext.as_slice() {
            return Err(value_error(format!(
                "coefficient has shape {:?}; the grid {shape} with its boundary layer is {ext:?} \
                 ([nz+2,] ny+2, nx+2; x fastest) or flat",
                c.shape()
            )));
        }
        let values: Vec<f64> = c.as_array().iter().copied().collect();
        problem = problem.with_coefficient(&values).map_err(nabla_error)?;
    }
    if let Some(m) = &mask {
        let dims: Vec<usize> = shape.dims().iter().rev().copied().collect();
        if m.ndim() != 1 && m.shape() != dims.as_slice() {
            return Err(value_error(format!(
                "mask has shape {:?}; the grid {shape} is {dims:?} ([nz,] ny, nx; x fastest) or flat",
                m.shape()
            )));
        }
        let values: Vec<bool> = m.as_array().iter().copied().collect();
        problem = problem.with_mask(values).map_err(nabla_error)?;
    }
    let (a, b) = py.detach(|| {
        let a = problem.matrix();
        let b = rhs.map(|k| problem.rhs(k, seed));
        (a, b)
    });
    if a.rows() > i32::MAX as usize {
        return Err(value_error(format!(
            "grid {shape} has {} unknowns; scipy's int32 column indices end at {}",
            a.rows(),
            i32::MAX
        )));
    }
    let indptr: Vec<i64> = a.indptr().iter().map(|&p| p as i64).collect();
    let indices: Vec<i32> = a.indices().iter().map(|&j| j as i32).collect();
    let data = a.values().to_vec();
    Ok((
        indptr.into_pyarray(py),
        indices.into_pyarray(py),
        data.into_pyarray(py),
        a.rows(),
        b.map(|b| b.into_pyarray(py)),
    ))
}
