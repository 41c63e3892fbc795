//! `nabla wos`: point-wise Walk-on-Spheres estimates of Δu − σu = f, u = g on ∂Ω, at the points
//! of a CSV file or a grid, with standard errors; a CSV of predictions, a JSON report and a
//! colour map.

use crate::console::{note, outln};
use crate::error::{CliError, Result};
use crate::outputs::Staged;
use crate::plot;
use crate::progress::DelayedBar;
use nabla::core::atomic::write_atomic;
use nabla::core::field::{Expr, ScalarField};
use nabla::core::geometry::{parse_domain, Aabb};
use nabla::core::points::{grid_points, read_points_in, GridPoints, ProbeSample};
use nabla::core::GridShape;
use nabla::data::AttrValue;
use nabla::wos::{Unfinished, WosOptions, WosProblem, WosSolution, WosSolver};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// The equation, as stated in help, summary and report.
const EQUATION: &str = "Δu − σu = f in Ω, u = g on ∂Ω";
/// How it relates to `nabla poisson`.
const SIGN_NOTE: &str = "sign convention: Δu = f (nabla poisson solves −Δu = f, so the same \
                         problem there takes −f)";

/// Flags of `nabla wos`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Solves Δu − σu = f in Ω with u = g on ∂Ω by Walk-on-Spheres (σ ≥ 0; f = 0 and σ = 0 is \
Laplace). Sign convention: Δu = f, the opposite of `nabla poisson` (−Δu = f): u = x^2 + y^2 \
has f = 4 here and −4 there.

Domains (--domain): box:min=0,0;max=1,1 | ball:center=0,0;radius=1 | lshape | \
polygon:vertices=0,0,2,0,2,1,0,1 | star:c1=0.1;c2=-0.05 (r = 1 + c1 cos 4θ + c2 cos 8θ) | \
star:r0=1;cos=3:0.2;sin=2:0.1 | mesh:bunny.obj (3-D, closed) | union(A | B) | \
intersection(A | B) | difference(A | B); 3-D boxes and balls take 3 coordinates.

Expressions (--source, --boundary, --exact): numbers, x y z, r = |x|, theta = atan2(y, x), pi, \
e, + - * / ^, sin cos tan asin acos atan sinh cosh tanh exp ln log10 sqrt abs floor ceil sign, \
atan2(a,b) pow(a,b) min(a,b) max(a,b).

--points FILE: CSV with one point per line (x,y or x,y,z; a header line and # comments are \
skipped); every point must lie inside the domain. --grid NXxNY[xNZ]: cell centres of the \
domain's bounding box; points outside the domain are skipped (grey in --plot).

Output CSV columns: x,y[,z],u,stderr,mean_steps[,du_dx,du_dy[,du_dz]][,exact,error]. With \
--grid, an --out name ending in .h5 or .hdf5 writes HDF5 instead: the same columns as datasets \
shaped [NZ,]NY,NX over the whole grid (x fastest, NaN in cells outside Ω), x-coordinate, \
y-coordinate[, z-coordinate] of the cell centres, and an XDMF sidecar (F.xdmf beside F.h5) that \
opens the fields in ParaView as cells over the bounding box.

Exit codes: 0 done; 1 error (one line on stderr, nothing written); 2 malformed flags.")]
pub struct WosArgs {
    /// The domain Ω (syntax below).
    #[arg(long, value_name = "SPEC")]
    domain: String,

    /// Source f of Δu − σu = f (an expression in x, y, z).
    #[arg(
        long,
        value_name = "EXPR",
        default_value = "0",
        allow_hyphen_values = true
    )]
    source: String,

    /// Boundary values g (an expression in x, y, z; read at the closest boundary point).
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    boundary: String,

    /// Screening σ ≥ 0 of Δu − σu = f (2-D and 3-D).
    #[arg(
        long,
        value_name = "S",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    sigma: f64,

    /// Query points: a CSV file with one point per line.
    #[arg(
        long,
        value_name = "pts.csv",
        conflicts_with = "grid",
        required_unless_present = "grid"
    )]
    points: Option<PathBuf>,

    /// Query points: the cell centres of an NXxNY (2-D) or NXxNYxNZ (3-D) grid over the
    /// domain's bounding box, keeping those inside the domain.
    #[arg(long, value_name = "NXxNY[xNZ]")]
    grid: Option<GridShape>,

    /// Walks per point.
    #[arg(long, value_name = "N", default_value_t = 128)]
    walks: usize,

    /// Stop walks within this distance of the boundary (coordinate units; bias O(ε)).
    #[arg(
        long,
        value_name = "E",
        default_value_t = 1e-3,
        allow_hyphen_values = true
    )]
    epsilon: f64,

    /// Step limit per walk.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_steps: usize,

    /// What a walk still running at --max-steps does: stop (read g at the closest boundary
    /// point) or discard (leave it out of the estimate).
    #[arg(long, value_name = "POLICY", default_value = "stop", value_parser = ["stop", "discard"])]
    unfinished: String,

    /// Seed: the same seed and inputs give the same numbers for any --threads.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,

    /// Also estimate ∇u (σ = 0 only; CPU only): columns du_dx, du_dy[, du_dz].
    #[arg(long)]
    gradient: bool,

    /// Control variates from a pilot of 32 extra walks per point (σ = 0 only; CPU only):
    /// lower variance at equal walks where u is smooth.
    #[arg(long)]
    control_variates: bool,

    /// A known solution: adds exact and error columns, and error statistics to the report.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    exact: Option<String>,

    /// cpu, or cuda:N for the CUDA kernel (boxes, balls, polygons, stars and their CSG
    /// combinations; not meshes, gradients or control variates; needs a build with --features
    /// cuda, an NVIDIA driver and libnvrtc).
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: String,

    /// Worker threads on the CPU [default: all cores].
    #[arg(long)]
    threads: Option<usize>,

    /// Write the predictions as CSV — or, with --grid and a .h5/.hdf5 name, as HDF5 fields
    /// on the grid with an XDMF sidecar for ParaView (below).
    #[arg(long, value_name = "pred.csv|pred.h5")]
    out: Option<PathBuf>,

    /// Write a JSON report (total_walks, total_steps, seconds, steps_per_second, ...).
    #[arg(long, value_name = "report.json")]
    report: Option<PathBuf>,

    /// Render u as a PNG colour map (--grid only; the middle z-slice in 3-D).
    #[arg(long, value_name = "u.png")]
    plot: Option<PathBuf>,

    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

/// What `--report` writes. The first four fields after the problem are the contract.
#[derive(Serialize)]
struct WosReport {
    equation: &'static str,
    sign_convention: &'static str,
    domain: String,
    source: String,
    boundary: String,
    sigma: f64,
    total_walks: u64,
    total_steps: u64,
    seconds: f64,
    steps_per_second: f64,
    points: usize,
    grid: Option<String>,
    points_file: Option<String>,
    walks_per_point: usize,
    epsilon: f64,
    max_steps: usize,
    unfinished_policy: String,
    unfinished_walks: usize,
    mean_steps_per_walk: f64,
    mean_stderr: f64,
    max_stderr: f64,
    gradient: bool,
    control_variates: bool,
    exact: Option<String>,
    max_abs_error: Option<f64>,
    rms_error: Option<f64>,
    /// Largest |error| / stderr over the points (≲ 4 when the estimator is unbiased).
    max_error_in_stderrs: Option<f64>,
    seed: u64,
    device: String,
    threads: usize,
    nabla_version: &'static str,
    /// Under mpirun: the number of ranks the points were split over (`threads` is per rank).
    #[serde(skip_serializing_if = "Option::is_none")]
    ranks: Option<usize>,
}

/// Where the points came from, and the points.
enum Points {
    /// The --points file and its points (flat, row-major).
    File(PathBuf, Vec<f64>),
    /// The --grid cell centres inside Ω, and the bounding box the grid covers.
    Grid(GridPoints, Aabb),
}

impl Points {
    /// The points, flat and row-major.
    fn coordinates(&self) -> &[f64] {
        match self {
            Points::File(_, pts) => pts,
            Points::Grid(g, _) => &g.points,
        }
    }
}

/// Runs `nabla wos`.
pub fn run(args: &WosArgs, comm: &dyn nabla::core::comm::Communicator) -> Result<()> {
    check_flags(args)?;
    let domain = parse_domain(&args.domain)?;
    let d = domain.dim();
    if let Some(grid) = &args.grid {
        // Per point: its coordinates, the estimate (value, standard error, steps, gradient),
        // the grid map, and the CSV line written for it.
        let per_point = 8.0 * d as f64 * if args.gradient { 2.0 } else { 1.0 } + 160.0;
        crate::resources::check_memory(
            &format!("--grid {grid} ({} query points)", grid.len()),
            grid.len() as f64 * per_point,
        )?;
    }
    let parse = |flag: &str, text: &str| -> Result<Expr> {
        let e: Expr = text
            .parse()
            .map_err(|e| CliError::Usage(format!("{flag}: {e}")))?;
        if e.min_dim() > d {
            return Err(CliError::Usage(format!(
                "{flag} '{text}' uses {} but the domain is {d}-D",
                if e.min_dim() == 3 { "z" } else { "y or theta" }
            )));
        }
        Ok(e)
    };
    let source = parse("--source", &args.source)?;
    let boundary = parse("--boundary", &args.boundary)?;
    let exact = args
        .exact
        .as_deref()
        .map(|t| parse("--exact", t))
        .transpose()?;
    let device = parse_device(&args.device)?;
    // A field that is not finite somewhere makes walks return NaN or ±inf estimates, not an
    // error: probe every expression first.
    let probe = ProbeSample::new(domain.as_ref());
    let mut checks: Vec<(&str, &str, &Expr, &[f64])> = vec![
        ("--source", &args.source, &source, &probe.interior),
        ("--boundary", &args.boundary, &boundary, &probe.boundary),
    ];
    if let (Some(e), Some(text)) = (&exact, &args.exact) {
        checks.push(("--exact", text, e, &probe.interior));
        checks.push(("--exact", text, e, &probe.boundary));
    }
    for (flag, text, expr, points) in checks {
        if let Some(bad) = nabla::core::points::first_non_finite(points, d, |p| expr.eval(p)) {
            return Err(CliError::Usage(format!(
                "{flag} '{text}' {bad}; it must be finite on the domain"
            )));
        }
    }

    let origin = match (&args.points, &args.grid) {
        (Some(path), _) => {
            let table = read_points_in(path, domain.as_ref())
                .map_err(|e| CliError::Input(e.to_string()))?;
            Points::File(path.clone(), table.points)
        }
        (None, Some(grid)) => Points::Grid(grid_points(grid, domain.as_ref())?, domain.bounds()),
        (None, None) => return Err(CliError::Usage("give --points or --grid".into())),
    };
    let pts = origin.coordinates();
    let n = pts.len() / d;
    if n == 0 {
        return Err(CliError::Usage(
            "no query point lies inside the domain (refine --grid)".into(),
        ));
    }

    let mut problem = WosProblem::laplace(domain, Arc::new(boundary)).with_screening(args.sigma)?;
    if source.as_constant() != Some(0.0) {
        problem = problem.with_source(Arc::new(source));
    }
    let opts = WosOptions {
        walks: args.walks,
        epsilon: args.epsilon,
        max_steps: args.max_steps,
        seed: args.seed,
        unfinished: if args.unfinished == "discard" {
            Unfinished::Discard
        } else {
            Unfinished::ClosestBoundary
        },
        gradient: args.gradient,
        control_variates: args.control_variates,
        ..Default::default()
    };
    let solver = WosSolver::new(problem, opts)?;
    if let Some(nt) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(nt)
            .build_global()
            .map_err(|e| CliError::Usage(format!("--threads {nt}: {e}")))?;
    }

    let distributed = comm.transport() != "serial";
    let sol =
        match device {
            // Under mpirun: points split over the ranks, gathered on rank 0, which writes.
            None if distributed => {
                let progress = DelayedBar::new(
                n.div_ceil(comm.size()) as u64,
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} points of rank 0 (ETA {eta})",
                !args.quiet && comm.rank() == 0,
            );
                let r = solver.solve_distributed(comm, pts, 0, &|done| {
                    progress.update(|b| b.set_position(done as u64))
                });
                progress.finish();
                match r? {
                    Some(sol) => sol,
                    None => return Ok(()),
                }
            }
            Some(_) if distributed => return Err(CliError::Usage(
                "--device cuda under mpirun is not supported yet; run the GPU job as one process"
                    .into(),
            )),
            None => {
                let progress = DelayedBar::new(
                    n as u64,
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} points (ETA {eta})",
                    !args.quiet,
                );
                let r = solver.solve_with_progress(pts, &|done| {
                    progress.update(|b| b.set_position(done as u64))
                });
                progress.finish();
                r?
            }
            Some(ordinal) => solve_gpu(&solver, pts, ordinal)?,
        };

    let exact_vals: Option<Vec<f64>> = exact
        .as_ref()
        .map(|e| pts.chunks(d).map(|p| e.eval(p)).collect());
    let mut report = make_report(args, &sol, &origin, exact_vals.as_deref(), n);
    report.ranks = distributed.then_some(comm.size());
    write_outputs(args, pts, d, &sol, exact_vals.as_deref(), &origin, &report)?;
    print_summary(&report)?;
    if report.unfinished_walks > 0 {
        note!(
            "warning: {} walks reached --max-steps {} ({}); raise --max-steps or --epsilon",
            report.unfinished_walks,
            args.max_steps,
            if args.unfinished == "discard" {
                "discarded"
            } else {
                "stopped at the closest boundary point"
            }
        );
    }
    Ok(())
}

/// `cpu` → None, `cuda:N` → Some(N).
fn parse_device(s: &str) -> Result<Option<usize>> {
    if s == "cpu" {
        return Ok(None);
    }
    let ordinal = s
        .strip_prefix("cuda:")
        .or_else(|| (s == "cuda").then_some("0"))
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| CliError::Usage(format!("--device must be cpu or cuda:N, got '{s}'")))?;
    Ok(Some(ordinal))
}

#[cfg(feature = "cuda")]
fn solve_gpu(solver: &WosSolver, pts: &[f64], ordinal: usize) -> Result<WosSolution> {
    Ok(nabla::wos::cuda::solve_cuda(solver, pts, ordinal)?)
}

#[cfg(not(feature = "cuda"))]
fn solve_gpu(_: &WosSolver, _: &[f64], ordinal: usize) -> Result<WosSolution> {
    Err(CliError::Usage(format!(
        "--device cuda:{ordinal}: this nabla was built without CUDA support; rebuild with \
         `cargo build --release -p nabla-cli --features cuda` or use --device cpu"
    )))
}

/// Most walks per point `--walks` accepts: the standard error falls like 1/√walks, so 1e9
/// walks already resolve 3e-5 of the spread, and more is days of work per point.
const MAX_WALKS: usize = 1_000_000_000;

fn check_flags(args: &WosArgs) -> Result<()> {
    if args.walks == 0 {
        return Err(CliError::Usage("--walks must be at least 1".into()));
    }
    if args.walks > MAX_WALKS {
        return Err(CliError::Usage(format!(
            "--walks {}: at most {MAX_WALKS} walks per point (the standard error falls like \
             1/√walks; more is days of work per point)",
            args.walks
        )));
    }
    if !(args.epsilon.is_finite() && args.epsilon > 0.0) {
        return Err(CliError::Usage(format!(
            "--epsilon must be positive, got {}",
            args.epsilon
        )));
    }
    if args.max_steps == 0 {
        return Err(CliError::Usage("--max-steps must be at least 1".into()));
    }
    if !(args.sigma.is_finite() && args.sigma >= 0.0) {
        return Err(CliError::Usage(format!(
            "--sigma must be ≥ 0, got {}",
            args.sigma
        )));
    }
    crate::resources::check_threads(args.threads)?;
    if args.plot.is_some() && args.grid.is_none() {
        return Err(CliError::Usage(
            "--plot draws a grid; use --grid NXxNY (or plot the --out CSV yourself)".into(),
        ));
    }
    let sidecar = match &args.out {
        Some(path) if is_hdf5(path) => {
            if args.grid.is_none() {
                return Err(CliError::Usage(format!(
                    "--out {}: HDF5 output holds fields on a grid; use --grid NXxNY (or a .csv \
                     name for --points)",
                    path.display()
                )));
            }
            Some(nabla::data::xdmf::sidecar_path(path))
        }
        _ => None,
    };
    crate::outputs::check_outputs(
        &[&args.out, &sidecar, &args.report, &args.plot],
        &[&args.points],
    )?;
    Ok(())
}

/// Whether `--out` names an HDF5 file (`.h5` / `.hdf5`) rather than a CSV.
fn is_hdf5(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("h5") || e.eq_ignore_ascii_case("hdf5"))
}

fn make_report(
    args: &WosArgs,
    sol: &WosSolution,
    origin: &Points,
    exact: Option<&[f64]>,
    n: usize,
) -> WosReport {
    let est = &sol.estimates;
    let errors: Option<Vec<(f64, f64)>> = exact.map(|ex| {
        est.iter()
            .zip(ex)
            .map(|(e, x)| ((e.value - x).abs(), e.stderr))
            .collect()
    });
    let steps_per_walk = if sol.total_walks > 0 {
        sol.total_steps as f64 / sol.total_walks as f64
    } else {
        0.0
    };
    WosReport {
        equation: EQUATION,
        sign_convention: SIGN_NOTE,
        domain: args.domain.clone(),
        source: args.source.clone(),
        boundary: args.boundary.clone(),
        sigma: args.sigma,
        total_walks: sol.total_walks,
        total_steps: sol.total_steps,
        seconds: sol.seconds,
        steps_per_second: sol.steps_per_second(),
        points: n,
        grid: match origin {
            Points::Grid(g, _) => Some(g.grid.to_string()),
            Points::File(..) => None,
        },
        points_file: match origin {
            Points::File(p, _) => Some(p.display().to_string()),
            Points::Grid(..) => None,
        },
        walks_per_point: args.walks,
        epsilon: args.epsilon,
        max_steps: args.max_steps,
        unfinished_policy: args.unfinished.clone(),
        unfinished_walks: est.iter().map(|e| e.unfinished).sum(),
        mean_steps_per_walk: steps_per_walk,
        mean_stderr: est.iter().map(|e| e.stderr).sum::<f64>() / n as f64,
        max_stderr: est.iter().map(|e| e.stderr).fold(0.0, f64::max),
        gradient: args.gradient,
        control_variates: args.control_variates,
        exact: args.exact.clone(),
        max_abs_error: errors
            .as_ref()
            .map(|v| v.iter().map(|e| e.0).fold(0.0, f64::max)),
        rms_error: errors
            .as_ref()
            .map(|v| (v.iter().map(|e| e.0 * e.0).sum::<f64>() / n as f64).sqrt()),
        max_error_in_stderrs: errors.as_ref().map(|v| {
            v.iter()
                .map(|(e, s)| {
                    if *s > 0.0 {
                        e / s
                    } else if *e > 0.0 {
                        f64::INFINITY
                    } else {
                        0.0
                    }
                })
                .fold(0.0, f64::max)
        }),
        seed: args.seed,
        device: args.device.clone(),
        threads: rayon::current_num_threads(),
        nabla_version: env!("CARGO_PKG_VERSION"),
        ranks: None,
    }
}

fn write_outputs(
    args: &WosArgs,
    pts: &[f64],
    d: usize,
    sol: &WosSolution,
    exact: Option<&[f64]>,
    origin: &Points,
    report: &WosReport,
) -> Result<()> {
    let mut staged = Staged::new();
    let io_err = |path: &PathBuf| {
        let path = path.clone();
        move |e: std::io::Error| format!("{}: {e}", path.display())
    };
    if let (Some(path), Points::Grid(g, bounds)) = (&args.out, origin) {
        if is_hdf5(path) {
            write_grid_fields(&mut staged, path, args, g, bounds, sol, exact, report)?;
        }
    }
    if let Some(path) = args.out.as_ref().filter(|p| !is_hdf5(p)) {
        staged.write(path, |tmp| {
            write_atomic(tmp, |w| {
                let names = ["x", "y", "z"];
                let mut header: Vec<String> =
                    names[..d.min(3)].iter().map(|s| s.to_string()).collect();
                header.extend(["u", "stderr", "mean_steps"].map(String::from));
                if args.gradient {
                    header.extend(names[..d.min(3)].iter().map(|s| format!("du_d{s}")));
                }
                if exact.is_some() {
                    header.extend(["exact", "error"].map(String::from));
                }
                writeln!(w, "{}", header.join(","))?;
                for (i, e) in sol.estimates.iter().enumerate() {
                    let mut row: Vec<String> = pts[i * d..(i + 1) * d]
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    row.push(e.value.to_string());
                    row.push(e.stderr.to_string());
                    row.push(e.mean_steps.to_string());
                    if let Some(g) = &e.gradient {
                        row.extend(g.iter().map(|v| v.to_string()));
                    }
                    if let Some(ex) = exact {
                        row.push(ex[i].to_string());
                        row.push((e.value - ex[i]).to_string());
                    }
                    writeln!(w, "{}", row.join(","))?;
                }
                Ok(())
            })
            .map_err(io_err(path))
        })?;
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| CliError::Usage(format!("cannot encode the report: {e}")))?;
        staged.write(path, |tmp| {
            write_atomic(tmp, |w| w.write_all(&json)).map_err(io_err(path))
        })?;
    }
    if let (Some(path), Points::Grid(g, _)) = (&args.plot, origin) {
        let dims = g.grid.dims();
        let field = g.to_grid(&sol.values(), f64::NAN);
        let title = format!("u (WoS, {} walks/point): {}", args.walks, args.domain);
        staged.write(path, |tmp| match *dims {
            [nx, ny] => plot::heatmap(tmp, &field, nx, ny, &title),
            [nx, ny, nz] => {
                let k = nz / 2;
                plot::heatmap(
                    tmp,
                    &field[nx * ny * k..nx * ny * (k + 1)],
                    nx,
                    ny,
                    &format!("{title}, slice k = {k}"),
                )
            }
            _ => Ok(()),
        })?;
    }
    staged.commit()
}

/// Stages `--out F.h5` for a grid run: every output column as an f64 dataset over the whole
/// grid (`[NZ,] NY, NX`, NaN outside Ω), the cell-centre coordinates, the run's settings as
/// attributes, and the XDMF sidecar `F.xdmf` (cells over the bounding box) naming `F.h5`.
#[allow(clippy::too_many_arguments)]
fn write_grid_fields(
    staged: &mut Staged,
    path: &std::path::Path,
    args: &WosArgs,
    g: &GridPoints,
    bounds: &Aabb,
    sol: &WosSolution,
    exact: Option<&[f64]>,
    report: &WosReport,
) -> Result<()> {
    let nd = g.grid.ndim();
    let axes = ["x", "y", "z"];
    let mut columns: Vec<(String, Vec<f64>)> = vec![
        ("u".into(), sol.values()),
        (
            "stderr".into(),
            sol.estimates.iter().map(|e| e.stderr).collect(),
        ),
        (
            "mean_steps".into(),
            sol.estimates.iter().map(|e| e.mean_steps).collect(),
        ),
    ];
    if args.gradient {
        for (a, name) in axes.iter().enumerate().take(nd) {
            let v = sol
                .estimates
                .iter()
                .map(|e| e.gradient.as_ref().map_or(f64::NAN, |d| d[a]))
                .collect();
            columns.push((format!("du_d{name}"), v));
        }
    }
    if let Some(ex) = exact {
        let err = sol
            .estimates
            .iter()
            .zip(ex)
            .map(|(e, x)| e.value - x)
            .collect();
        columns.push(("exact".into(), ex.to_vec()));
        columns.push(("error".into(), err));
    }
    let fields: Vec<(String, Vec<f64>)> = columns
        .into_iter()
        .map(|(name, v)| (name, g.to_grid(&v, f64::NAN)))
        .collect();
    let dims = g.grid.dims();
    let spacing: Vec<f64> = (0..nd)
        .map(|a| (bounds.max[a] - bounds.min[a]) / dims[a] as f64)
        .collect();
    let centres: Vec<(String, Vec<f64>)> = (0..nd)
        .map(|a| {
            let c = (0..dims[a])
                .map(|i| {
                    // Exactly where grid_points puts them (the CSV's coordinates).
                    bounds.min[a]
                        + (i as f64 + 0.5) * (bounds.max[a] - bounds.min[a]) / dims[a] as f64
                })
                .collect();
            (format!("{}-coordinate", axes[a]), c)
        })
        .collect();
    let shape = g.grid.c_order_dims();
    let coord_shapes: Vec<[usize; 1]> = dims.iter().map(|&n| [n]).collect();
    let mut datasets: Vec<(&str, &[usize], &[f64])> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), shape.as_slice(), v.as_slice()))
        .collect();
    for ((n, v), s) in centres.iter().zip(&coord_shapes) {
        datasets.push((n.as_str(), s.as_slice(), v.as_slice()));
    }
    let attrs: Vec<(&str, AttrValue)> = vec![
        ("equation", EQUATION.into()),
        ("domain", args.domain.clone().into()),
        ("source", args.source.clone().into()),
        ("boundary", args.boundary.clone().into()),
        ("sigma", args.sigma.into()),
        ("grid", g.grid.to_string().into()),
        ("walks_per_point", args.walks.into()),
        ("epsilon", args.epsilon.into()),
        ("seed", AttrValue::I64(args.seed as i64)),
        ("total_walks", AttrValue::I64(report.total_walks as i64)),
        (
            "axis_order",
            "fields [NZ,] NY, NX (x fastest) over the cells of the domain's bounding box; NaN where the cell centre is outside the domain".into(),
        ),
    ];
    staged.write(path, |tmp| {
        nabla::data::write_f64_datasets(tmp, &datasets, &attrs)
    })?;
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    let sidecar = nabla::data::xdmf::grid_fields_sidecar(
        &g.grid,
        &bounds.min,
        &spacing,
        nabla::data::xdmf::Center::Cell,
        &names,
        &format!(
            "nabla wos estimates on the {} cells over the bounding box of {}",
            g.grid, args.domain
        ),
    );
    // Names the final HDF5 file (the pair is staged under temporary names).
    let xml = nabla::data::xdmf::sidecar_xml(path, &sidecar)?;
    let xml_path = nabla::data::xdmf::sidecar_path(path);
    staged.write(&xml_path, |tmp| {
        write_atomic(tmp, |w| w.write_all(xml.as_bytes()))
            .map_err(|e| format!("{}: {e}", xml_path.display()))
    })
}

fn print_summary(r: &WosReport) -> Result<()> {
    outln!("equation           {EQUATION} ({SIGN_NOTE})");
    outln!("domain             {}", r.domain);
    outln!(
        "problem            f = {}, g = {}, sigma = {}",
        r.source,
        r.boundary,
        r.sigma
    );
    outln!(
        "points             {} x {} walks (epsilon {:.0e}, max {} steps, seed {})",
        r.points,
        r.walks_per_point,
        r.epsilon,
        r.max_steps,
        r.seed
    );
    outln!(
        "work               {} walks, {} steps ({:.1} per walk), {} unfinished",
        r.total_walks,
        r.total_steps,
        r.mean_steps_per_walk,
        r.unfinished_walks
    );
    outln!(
        "standard error     mean {:.3e}, max {:.3e}",
        r.mean_stderr,
        r.max_stderr
    );
    if let (Some(m), Some(rms), Some(z)) = (r.max_abs_error, r.rms_error, r.max_error_in_stderrs) {
        outln!("error vs exact     max {m:.3e}, rms {rms:.3e}, max {z:.2} standard errors");
    }
    outln!(
        "time               {:.3} s, {:.3e} steps/s ({}, {} threads)",
        r.seconds,
        r.steps_per_second,
        r.device,
        r.threads
    );
    Ok(())
}
