//! `mpirun -np N nabla poisson ...`: a `--grid` problem split into pencils (CG, Jacobi-PCG) or
//! slabs (mg-pcg) over the ranks, or a `--matrix` read once and split into row blocks (CG,
//! Jacobi-PCG); the solution gathered onto rank 0, which writes the one HDF5 file, the one report
//! and the summary.

use super::{
    check_flags, print_summary, write_outputs, PoissonArgs, PoissonReport, Problem, SolverChoice,
    DEFAULT_GRID,
};
use crate::error::{CliError, Result};
use crate::progress::SolveProgress;
use nabla::core::comm::Communicator;
use nabla::core::GridShape;
use nabla::sparse::distributed::{
    broadcast_matrix, DistCg, DistCsr, DistGridPoisson, DistPreconditioner, Pencil, SEGMENT,
};
use nabla::sparse::{mm, GridPoisson, RhsKind, SolveOptions, SolverKind};
use std::time::Instant;

/// The solvers that run across ranks.
const DISTRIBUTED_SOLVERS: &str = "cg, jacobi-pcg, mg-pcg";

/// This rank's blocks of `--mask` (solid flags) and `--coefficient` (nodal values), if given.
type BlockInputs = (Option<Vec<bool>>, Option<Vec<f64>>);

/// This rank's block of the grid problem, reading only its block of `--mask` and
/// `--coefficient` (hyperslabs: the coefficient's nodes of its points and one layer around
/// them). A rank whose block cannot be read says why; the others stop with it.
fn local_problem(
    args: &PoissonArgs,
    shape: &GridShape,
    comm: &dyn Communicator,
    pencil: Pencil,
) -> Result<DistGridPoisson> {
    let nd = pencil.ndim;
    let [nx, _, _] = pencil.global;
    let (ys, zs) = (pencil.y.clone(), pencil.z.clone());
    let points: Vec<std::ops::Range<usize>> = [0..nx, ys.clone(), zs.clone()][..nd].to_vec();
    let nodes: Vec<std::ops::Range<usize>> =
        [0..nx + 2, ys.start..ys.end + 2, zs.start..zs.end + 2][..nd].to_vec();
    let read = || -> Result<BlockInputs> {
        let mask = match &args.mask {
            Some(path) => Some(nabla::data::read_mask_block(path, shape, &points)?),
            None => None,
        };
        let nodal = match &args.coefficient {
            Some(path) => Some(nabla::data::read_coefficient_block(path, shape, &nodes)?),
            None => None,
        };
        Ok((mask, nodal))
    };
    let read = read();
    // Which ranks failed: rank 0's error speaks for all when it failed (the same file is
    // usually wrong for everyone); otherwise each failing rank reports its own.
    let mut failed = vec![0i64; comm.size()];
    failed[comm.rank()] = i64::from(read.is_err());
    comm.allreduce_sum_i64(&mut failed);
    let (mask, nodal) = match read {
        Err(e) if comm.rank() == 0 || failed[0] == 0 => return Err(e),
        Err(e) => return Err(CliError::Shared(e.to_string())),
        Ok(_) if failed[0] > 0 => return Err(CliError::Shared("rank 0 could not read".into())),
        Ok(_) if failed.iter().any(|&f| f > 0) => {
            let ranks: Vec<String> = (0..comm.size())
                .filter(|&r| failed[r] > 0)
                .map(|r| r.to_string())
                .collect();
            return Err(CliError::Input(format!(
                "rank {} could not read its block of the input (its error follows)",
                ranks.join(", ")
            )));
        }
        Ok(v) => v,
    };
    let dims = shape.dims().to_vec();
    let ny = *dims.get(1).unwrap_or(&1);
    // Global point p as (i, j, k).
    let coords = |p: usize| (p % nx, (p / nx) % ny, p / (nx * ny));
    let nyl = ys.len();
    let solid = mask.map(|m| {
        move |p: usize| {
            let (i, j, k) = coords(p);
            m[i + nx * ((j - ys.start) + nyl * (k - zs.start))]
        }
    });
    // Node (i+1, j+1, k+1) of the block read belongs to point (i, j, k); a face takes the mean
    // of its two nodes, as `GridPoisson::with_coefficient` computes it.
    let (ex, eyl) = (nx + 2, if nd >= 2 { nyl + 2 } else { 1 });
    let strides = [1, ex, ex * eyl];
    let face = nodal.map(|a| {
        let (y0, z0) = (pencil.y.start, pencil.z.start);
        move |axis: usize, p: usize, low: bool| {
            let (i, j, k) = coords(p);
            let mut e = i + 1;
            if nd >= 2 {
                e += ex * (j + 1 - y0);
            }
            if nd == 3 {
                e += ex * eyl * (k + 1 - z0);
            }
            let other = if low {
                e - strides[axis]
            } else {
                e + strides[axis]
            };
            0.5 * (a[e] + a[other])
        }
    });
    Ok(DistGridPoisson::from_fn_on(
        shape,
        comm,
        pencil,
        face.as_ref()
            .map(|f| f as &dyn Fn(usize, usize, bool) -> f64),
        solid.as_ref().map(|f| f as &dyn Fn(usize) -> bool),
    )?)
}

/// Nonzeros of the serial matrix of a masked grid: one per fluid cell and two per pair of
/// neighbouring fluid cells.
fn masked_nonzeros(shape: &GridShape, mask: &[bool]) -> usize {
    let dims = shape.dims();
    let mut count = mask.iter().filter(|s| !**s).count();
    let mut stride = 1;
    for &n in dims {
        for p in 0..mask.len() {
            if (p / stride) % n + 1 < n && !mask[p] && !mask[p + stride] {
                count += 2;
            }
        }
        stride *= n;
    }
    count
}

/// Runs `nabla poisson` on every rank of `comm`.
pub fn run(args: &PoissonArgs, comm: &dyn Communicator) -> Result<()> {
    if args.matrix.is_some() {
        return run_matrix(args, comm);
    }
    let shape: GridShape = match &args.grid {
        Some(g) => g.clone(),
        None => DEFAULT_GRID.parse()?,
    };
    // As on one process, multigrid by default (plain, masked and variable-coefficient grids).
    let requested = args
        .solver
        .unwrap_or(SolverChoice::Sparse(SolverKind::MgPcg));
    let preconditioner = match requested {
        SolverChoice::Sparse(SolverKind::Cg) => DistPreconditioner::None,
        SolverChoice::Sparse(SolverKind::JacobiPcg) => DistPreconditioner::Jacobi,
        SolverChoice::Sparse(SolverKind::MgPcg) => DistPreconditioner::Multigrid,
        other => {
            return Err(CliError::Usage(format!(
                "--solver {} does not run across MPI ranks yet; distributed solvers: \
                 {DISTRIBUTED_SOLVERS} (or run without mpirun for every solver)",
                other.name()
            )))
        }
    };
    check_flags(args, requested, Some(&shape))?;
    set_threads(args)?;
    let root = comm.rank() == 0;

    let t0 = Instant::now();
    // Multigrid transfers reach diagonal neighbours: it runs on slabs (one split axis).
    let pencil = if preconditioner == DistPreconditioner::Multigrid {
        Pencil::slab(&shape, comm.rank(), comm.size())?
    } else {
        Pencil::new(&shape, comm.rank(), comm.size())?
    };
    let problem = local_problem(args, &shape, comm, pencil)?;
    // The root writes the whole solution: it alone holds the whole mask (for the output grid).
    let global = if root {
        let mut g = GridPoisson::new(shape.clone());
        if let Some(path) = &args.mask {
            g = g.with_mask(nabla::data::read_mask(path, &shape)?)?;
        }
        Some(g)
    } else {
        None
    };
    let rhs_kind = args.rhs_or_default(true);
    let (b, rhs_label, read_seconds) = match (&args.rhs_file, rhs_kind) {
        (Some(path), _) => {
            let t = Instant::now();
            let full = mm::read_vector(path)?;
            if full.len() != problem.unknowns() {
                return Err(nabla::sparse::SparseError::DimensionMismatch(format!(
                    "{} has {} entries, the system has {} unknowns",
                    path.display(),
                    full.len(),
                    problem.unknowns()
                ))
                .into());
            }
            (
                problem.scatter_unknowns(&full),
                format!("file {}", path.display()),
                Some(t.elapsed().as_secs_f64()),
            )
        }
        (None, Some(k)) => (
            problem.rhs(comm, k, args.seed()),
            k.name().to_string(),
            None,
        ),
        (None, None) => (
            problem.rhs(comm, RhsKind::Random, args.seed()),
            "random".into(),
            None,
        ),
    };
    let assembly_seconds = t0.elapsed().as_secs_f64();

    let progress = SolveProgress::new(args.tol, root && !args.quiet);
    let monitor = |it: usize, rel: f64| progress.update(it, rel);
    let opts = solve_options(args, &monitor);
    let mut x = vec![0.0; b.len()];
    let t_setup = Instant::now();
    let mut solver = DistCg::new(&problem, preconditioner, comm)?;
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    let hierarchy = solver.multigrid().map(|mg| {
        format!(
            "; multigrid ({}): {} distributed levels, then {} gathered",
            if mg.is_galerkin() {
                "Galerkin 9-/27-point levels"
            } else {
                "lumped Galerkin 5-/7-point levels"
            },
            mg.distributed_levels(),
            mg.coarse_shape()
        )
    });
    let result = solver.solve(comm, &b, &mut x, &opts);
    progress.finish();
    let dist = result?;
    let mut report = dist.report;
    report.setup_seconds = setup_seconds;

    let gathered_x = problem.gather(comm, &x, 0)?;
    let gathered_b = problem.gather(comm, &b, 0)?;
    let (Some((x_all, _)), Some((b_all, _)), Some(global)) = (gathered_x, gathered_b, global)
    else {
        // Other ranks: done once the root has everything.
        return outcome(requested, &report, args.tol);
    };
    let nonzeros = match global.mask() {
        None => problem.nonzeros_unmasked(),
        // Couplings between fluid cells, counted once on the root from the mask.
        Some(mask) => masked_nonzeros(&shape, mask),
    };
    let decomposition = format!(
        "{}x{} {} (ranks along y x z; x-lines whole){}",
        problem.pencil().ranks[0],
        problem.pencil().ranks[1],
        if problem.pencil().is_slab() {
            "slabs"
        } else {
            "pencils"
        },
        hierarchy.unwrap_or_default()
    );
    let problem_desc = Problem {
        grid: Some(global),
        matrix: None,
        b: b_all,
        rhs_label,
        assembly_seconds,
        read_seconds,
        kind: requested,
        reason: None,
    };
    let meta = Distributed {
        ranks: dist.ranks,
        communication_seconds: dist.communication_seconds_max,
        transport: comm.transport(),
        decomposition,
        unknowns: problem.unknowns(),
        nonzeros,
        seeded: matches!(rhs_kind, Some(RhsKind::Random) | None),
    };
    finish(args, requested, &problem_desc, &x_all, &report, meta)
}

/// What the distributed runs add to a report.
struct Distributed {
    ranks: usize,
    communication_seconds: f64,
    transport: &'static str,
    decomposition: String,
    unknowns: usize,
    nonzeros: usize,
    /// Whether the right-hand side is the seeded random one.
    seeded: bool,
}

/// Rank 0's part: report, outputs, summary and the exit status.
fn finish(
    args: &PoissonArgs,
    requested: SolverChoice,
    problem: &Problem,
    x_all: &[f64],
    report: &nabla::sparse::SolveReport,
    meta: Distributed,
) -> Result<()> {
    let summary = PoissonReport {
        solver: requested.name(),
        unknowns: meta.unknowns,
        nonzeros: meta.nonzeros,
        iterations: report.iterations,
        relative_residual: report.relative_residual,
        converged: report.converged,
        setup_seconds: report.setup_seconds,
        solve_seconds: report.solve_seconds,
        residual_history: &report.residual_history,
        network_seconds: None,
        model: None,
        tolerance: args.tol,
        max_iters: args.max_iters,
        omega: None,
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
        seed: meta.seeded.then_some(args.seed()),
        assembly_seconds: problem.assembly_seconds,
        seconds_per_iteration: if report.iterations > 0 {
            report.solve_seconds / report.iterations as f64
        } else {
            0.0
        },
        threads: rayon::current_num_threads(),
        nabla_version: env!("CARGO_PKG_VERSION"),
        requested_solver: None,
        solver_reason: None,
        read_seconds: problem.read_seconds,
        amg: None,
        ranks: Some(meta.ranks),
        transport: Some(meta.transport),
        communication_seconds: Some(meta.communication_seconds),
        decomposition: Some(meta.decomposition),
    };
    write_outputs(args, problem, x_all, report, &summary)?;
    print_summary(&summary, None)?;
    outcome(requested, report, args.tol)
}

/// `--matrix` under mpirun: rank 0 reads the file once and broadcasts it, every rank keeps its
/// block of rows (whole segments of 256), CG or Jacobi-PCG runs across ranks.
fn run_matrix(args: &PoissonArgs, comm: &dyn Communicator) -> Result<()> {
    let path = args
        .matrix
        .as_ref()
        .expect("run_matrix is called with --matrix");
    let requested = args
        .solver
        .unwrap_or(SolverChoice::Sparse(SolverKind::JacobiPcg));
    let preconditioner = match requested {
        SolverChoice::Sparse(SolverKind::Cg) => DistPreconditioner::None,
        SolverChoice::Sparse(SolverKind::JacobiPcg) => DistPreconditioner::Jacobi,
        other => {
            return Err(CliError::Usage(format!(
                "--solver {} does not run across MPI ranks on a --matrix yet; distributed \
                 solvers for matrices: cg, jacobi-pcg (algebraic multigrid across ranks would \
                 come from hypre; see docs/scaling.md), or run without mpirun for every solver",
                other.name()
            )))
        }
    };
    check_flags(args, requested, None)?;
    set_threads(args)?;
    let t0 = Instant::now();
    let whole = broadcast_matrix(comm, 0, || mm::read_matrix(path).map_err(|e| e.to_string()))
        .map_err(CliError::Shared)?;
    let read_seconds = t0.elapsed().as_secs_f64();
    whole.check_symmetric(requested.name())?;
    let n = whole.rows();
    let (b_all, rhs_label) = match (&args.rhs_file, args.rhs_or_default(false)) {
        (Some(p), _) => {
            let b = mm::read_vector(p)?;
            if b.len() != n {
                return Err(nabla::sparse::SparseError::DimensionMismatch(format!(
                    "{} has {} entries, the system has {n} unknowns",
                    p.display(),
                    b.len()
                ))
                .into());
            }
            (b, format!("file {}", p.display()))
        }
        (None, Some(k)) => (k.vector(n, args.seed()), k.name().to_string()),
        (None, None) => (RhsKind::Ones.vector(n, 0), "ones".to_string()),
    };
    let dist_matrix = DistCsr::from_global(&whole, comm)?;
    let nonzeros = whole.nnz();
    drop(whole);
    let rows = dist_matrix.rows();
    let b = b_all[rows.clone()].to_vec();
    let assembly_seconds = t0.elapsed().as_secs_f64();

    let progress = SolveProgress::new(args.tol, comm.rank() == 0 && !args.quiet);
    let monitor = |it: usize, rel: f64| progress.update(it, rel);
    let opts = solve_options(args, &monitor);
    let mut x = vec![0.0; rows.len()];
    let mut solver = DistCg::for_matrix(&dist_matrix, preconditioner)?;
    let result = solver.solve(comm, &b, &mut x, &opts);
    progress.finish();
    let dist = result?;
    let report = dist.report;
    let Some(x_all) = comm.gather_f64(&x, 0) else {
        return outcome(requested, &report, args.tol);
    };
    let problem = Problem {
        grid: None,
        matrix: None,
        b: b_all,
        rhs_label,
        assembly_seconds,
        read_seconds: Some(read_seconds),
        kind: requested,
        reason: None,
    };
    let meta = Distributed {
        ranks: dist.ranks,
        communication_seconds: dist.communication_seconds_max,
        transport: comm.transport(),
        decomposition: format!(
            "rows in blocks of {SEGMENT}: rank 0 rows {}..{}, {} ghost values read per product",
            rows.start,
            rows.end,
            dist_matrix.ghost_count()
        ),
        unknowns: n,
        nonzeros,
        seeded: matches!(args.rhs_or_default(false), Some(RhsKind::Random)),
    };
    finish(args, requested, &problem, &x_all, &report, meta)
}

/// `--threads` for this rank's pool.
fn set_threads(args: &PoissonArgs) -> Result<()> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| CliError::Usage(format!("--threads {n}: {e}")))?;
    }
    Ok(())
}

/// The solve options of `--tol` and `--max-iters`, with the history on and a progress monitor.
fn solve_options<'m>(
    args: &PoissonArgs,
    monitor: &'m (dyn Fn(usize, f64) + Sync),
) -> SolveOptions<'m> {
    SolveOptions {
        tol: args.tol,
        max_iters: args.max_iters,
        record_history: true,
        monitor: Some(monitor),
    }
}

/// Every rank's exit: success, or the not-converged error (exit code 3) when the solve stopped
/// above the tolerance.
fn outcome(kind: SolverChoice, report: &nabla::sparse::SolveReport, tol: f64) -> Result<()> {
    if report.converged {
        return Ok(());
    }
    Err(CliError::NotConverged(format!(
        "{} did not converge: relative residual {:.3e} > tol {:.1e} after {} iterations \
         (raise --max-iters)",
        kind.name(),
        report.relative_residual,
        tol,
        report.iterations
    )))
}
