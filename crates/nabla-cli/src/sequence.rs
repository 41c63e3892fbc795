//! `nabla sequence`: run ω tuners (Tsallis-INF, ChebCB) and baselines (fixed ω,
//! instance-optimal ω*) over a generated sequence of systems, and write the totals, the
//! per-instance ω and iteration counts, and a cumulative-iterations plot.

use crate::console::outln;
use crate::error::{CliError, Result};
use crate::outputs::Staged;
use crate::plot;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nabla::core::atomic::write_atomic;
use nabla::core::GridShape;
use nabla::sparse::tuning::{
    build_tuners, chebcb_default_arms, default_arms, run_sequence, HeatConfig, HeatSequence,
    InstanceSource, OmegaSolver, SequenceOptions, SequenceOutcome, SequenceRun, ShiftDistribution,
    ShiftScaling, ShiftedLaplacianConfig, ShiftedLaplacianSequence, TunerChoice,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `nabla sequence`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Problems: shifted-laplacian = 5-point Laplacian (diagonal 4, neighbours −1) + s·I with \
c = −0.15 + 0.6·Beta(0.5, 1.5) per instance (--shift-distribution low: Beta(2, 6)), \
s = c·λmin(L)/λmin(L 10x10) (--shift-scaling literal: s = c), b ~ N(0, I), x0 = 0; context c. \
heat = 2-D heat equation, Crank–Nicolson, Δt = 1e-2, κ(t) ∈ [0.05, 2], moving heat source, \
warm starts; context κΔt/h².

Every run solves the same instances to ‖b − Ax‖₂ ≤ tol·‖b‖₂; iterations are SOR sweeps (sor) \
or CG iterations (ssor-pcg), counted as `nabla poisson` counts them.")]
pub struct SequenceArgs {
    /// shifted-laplacian | heat | pinn-family (METALIC: interface conditions of multi-domain
    /// PINNs over a PDE family; see --family)
    #[arg(long, default_value = "shifted-laplacian", value_parser = ["shifted-laplacian", "heat", "pinn-family"])]
    pub(crate) problem: String,

    /// pinn-family: poisson | heat | burgers | advection.
    #[arg(long, default_value = "heat")]
    pub(crate) family: nabla::pinn::family::FamilyKind,

    /// pinn-family: comma-separated tuners — metalic, metalic-2stage, random,
    /// fixed:<cond>+<cond>… (e.g. fixed:solution+flux) — or all (those four, the fixed one
    /// being solution+flux).
    #[arg(long, default_value = "all")]
    pub(crate) tuners: String,

    /// pinn-family: condition sets trained per instance for the best in hindsight (the fixed
    /// tuners' sets always among them).
    #[arg(long, default_value_t = 6)]
    pub(crate) hindsight_arms: usize,

    /// pinn-family: instances the METALIC tuners choose by UCB before they exploit (pick the
    /// set of largest posterior mean, still learning from every outcome) — the authors'
    /// play/roll protocol. Default: the first half of --instances (the report's medians are
    /// over the second half); --metalic-play N with N ≥ --instances keeps UCB throughout.
    #[arg(long, value_name = "N")]
    pub(crate) metalic_play: Option<usize>,

    /// pinn-family: condition sets (comma-separated, e.g. solution+flux) the METALIC tuners
    /// train on their first warm-up instances instead of random ones [default: none].
    #[arg(long, value_name = "SETS")]
    pub(crate) metalic_initial: Option<String>,

    /// pinn-family: Adam steps per instance.
    #[arg(long, default_value_t = 500)]
    pub(crate) adam_steps: usize,

    /// pinn-family: L-BFGS iterations per instance.
    #[arg(long, default_value_t = 500)]
    pub(crate) lbfgs_iterations: usize,

    /// Grid of interior unknowns, NXxNY.
    #[arg(long, value_name = "NXxNY", default_value = "10x10")]
    grid: GridShape,

    /// Number of systems (time steps for heat; PDE instances for pinn-family)
    /// [default: 5000; 40 for pinn-family].
    #[arg(long)]
    pub(crate) instances: Option<usize>,

    /// sor | ssor-pcg
    #[arg(long, default_value = "sor", value_parser = parse_solver)]
    solver: OmegaSolver,

    /// tsallis-inf | chebcb | fixed | instance-optimal | all (every fixed ω of the grid
    /// linspace(1, 1.95, 20), both tuners and instance-optimal on the same instances).
    #[arg(long, default_value = "all", value_parser = ["tsallis-inf", "chebcb", "fixed", "instance-optimal", "all"])]
    tuner: String,

    /// ω for --tuner fixed, in (0, 2) [default: 1.0, Gauss–Seidel for sor].
    #[arg(long)]
    omega: Option<f64>,

    /// Stop each solve when ‖b − A x‖₂ ≤ tol·‖b‖₂.
    #[arg(long, default_value_t = 1e-8)]
    tol: f64,

    /// Iteration cap per solve; a capped solve costs the cap.
    #[arg(long, default_value_t = 10_000)]
    max_iters: usize,

    /// Seed of the sequence and of the tuners.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,

    /// shifted-laplacian: high (Beta(0.5, 1.5)) or low (Beta(2, 6)) variance of c
    /// [default: high].
    #[arg(long, value_parser = parse_distribution)]
    shift_distribution: Option<ShiftDistribution>,

    /// shifted-laplacian: spectral (shift relative to λmin, equal to c on 10x10) or literal
    /// [default: spectral].
    #[arg(long, value_parser = parse_scaling)]
    shift_scaling: Option<ShiftScaling>,

    /// Also solve every instance with plain CG, as the wall-time reference.
    #[arg(long)]
    compare_cg: bool,

    /// Run the tuners one after another instead of in parallel (cleaner timings).
    #[arg(long)]
    serial: bool,

    /// Write a JSON report: `runs` [{name, total_iterations, omega[], iterations[], ...}],
    /// `best_fixed_omega` (for all), ratios and timings.
    #[arg(long, value_name = "r.json")]
    pub(crate) report: Option<PathBuf>,

    /// Plot cumulative iterations vs instance for every run (PNG).
    #[arg(long, value_name = "cum.png")]
    pub(crate) plot: Option<PathBuf>,

    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}

fn parse_solver(s: &str) -> std::result::Result<OmegaSolver, String> {
    s.parse()
        .map_err(|e: nabla::sparse::SparseError| e.to_string())
}

fn parse_distribution(s: &str) -> std::result::Result<ShiftDistribution, String> {
    s.parse()
        .map_err(|e: nabla::sparse::SparseError| e.to_string())
}

fn parse_scaling(s: &str) -> std::result::Result<ShiftScaling, String> {
    s.parse()
        .map_err(|e: nabla::sparse::SparseError| e.to_string())
}

/// One run in the report.
#[derive(Serialize)]
struct RunReport<'a> {
    name: &'a str,
    total_iterations: u64,
    omega: &'a [f64],
    iterations: &'a [usize],
    unconverged: usize,
    solve_seconds: f64,
    tuner_seconds: f64,
    /// tuner_seconds / solve_seconds.
    tuner_overhead: f64,
    /// (solve + tuner seconds) per instance.
    seconds_per_instance: f64,
    /// total / best fixed ω's total (for `all`).
    vs_best_fixed: Option<f64>,
    /// total / ω = 1's total (for `all`).
    vs_omega_1: Option<f64>,
    /// total / instance-optimal's total (when it ran).
    vs_instance_optimal: Option<f64>,
}

/// What `--report` writes.
#[derive(Serialize)]
struct SequenceReport<'a> {
    problem: &'a str,
    grid: String,
    instances: usize,
    solver: &'a str,
    tuner: &'a str,
    tolerance: f64,
    max_iters: usize,
    seed: u64,
    context: &'a str,
    context_interval: (f64, f64),
    /// The ω grid of Tsallis-INF and of the fixed-ω runs of `all`.
    arms: Vec<f64>,
    /// ChebCB's ω grid (finer near 2), when it ran.
    chebcb_arms: Option<Vec<f64>>,
    shift_distribution: Option<&'a str>,
    shift_scaling: Option<&'a str>,
    best_fixed_omega: Option<f64>,
    runs: Vec<RunReport<'a>>,
    cg_baseline: Option<RunReport<'a>>,
    contexts: &'a [f64],
    wall_seconds: f64,
    nabla_version: &'static str,
}

/// Runs `nabla sequence`.
pub fn run(args: &SequenceArgs) -> Result<()> {
    if args.problem == "pinn-family" {
        return crate::pinn_family::run(args);
    }
    let instances = args.instances.unwrap_or(5000);
    let choice = check_flags(args, instances)?;
    // Per instance in flight (one per thread unless --serial): the matrix (12 bytes per
    // nonzero), a dozen vectors; plus the source's base operator.
    let n = args.grid.len() as f64;
    let system = n * (12.0 * (2 * args.grid.ndim() + 1) as f64 + 8.0 + 12.0 * 8.0);
    let in_flight = if args.serial {
        1.0
    } else {
        rayon::current_num_threads() as f64
    };
    crate::resources::check_memory(
        &format!(
            "--grid {} ({} unknowns per system)",
            args.grid,
            args.grid.len()
        ),
        system * (in_flight + 1.0),
    )?;
    // Per instance and tuner: iterations, ω, context and timings in the report (≈ 1 KiB).
    crate::resources::check_memory(
        &format!("--instances {}", instances),
        instances as f64 * 1024.0,
    )?;
    let mut source: Box<dyn InstanceSource> = match args.problem.as_str() {
        "heat" => Box::new(HeatSequence::new(HeatConfig::new(
            args.grid.clone(),
            instances,
            args.seed,
        ))?),
        _ => Box::new(ShiftedLaplacianSequence::new(ShiftedLaplacianConfig {
            shape: args.grid.clone(),
            instances,
            distribution: shift_distribution(args),
            scaling: shift_scaling(args),
            seed: args.seed,
        })?),
    };
    let interval = source.context_interval();
    let tuners = build_tuners(
        choice,
        args.solver,
        interval,
        source.context_scale(),
        args.seed,
    )?;
    let opts = SequenceOptions {
        solver: args.solver,
        tol: args.tol,
        max_iters: args.max_iters,
        parallel: !args.serial,
        cg_baseline: args.compare_cg,
    };

    let bar = progress_bar(instances as u64, !args.quiet);
    let progress = |done: usize| bar.set_position(done as u64);
    let t0 = Instant::now();
    let result = run_sequence(source.as_mut(), tuners, &opts, &progress);
    bar.finish_and_clear();
    let outcome = result?;
    let wall_seconds = t0.elapsed().as_secs_f64();

    let best = (choice == TunerChoice::All)
        .then(|| outcome.best_fixed())
        .flatten();
    let omega_1 = outcome.run("fixed omega=1.00");
    let optimal = outcome.run("instance-optimal");
    let bases = Bases {
        best,
        omega_1: omega_1.filter(|_| best.is_some()),
        optimal,
    };
    let is_shift = args.problem == "shifted-laplacian";
    let report = SequenceReport {
        problem: &args.problem,
        grid: args.grid.to_string(),
        instances,
        solver: args.solver.name(),
        tuner: &args.tuner,
        tolerance: args.tol,
        max_iters: args.max_iters,
        seed: args.seed,
        context: source.context_name(),
        context_interval: interval,
        arms: default_arms(),
        chebcb_arms: matches!(choice, TunerChoice::ChebCb | TunerChoice::All)
            .then(chebcb_default_arms),
        shift_distribution: is_shift.then(|| shift_distribution(args).name()),
        shift_scaling: is_shift.then(|| shift_scaling(args).name()),
        best_fixed_omega: best.and_then(|b| b.omega.first().copied()),
        runs: outcome.runs.iter().map(|r| run_report(r, &bases)).collect(),
        cg_baseline: outcome
            .cg
            .as_ref()
            .map(|r| run_report(r, &Bases::default())),
        contexts: &outcome.contexts,
        wall_seconds,
        nabla_version: env!("CARGO_PKG_VERSION"),
    };
    write_outputs(args, &outcome, &report)?;
    print_summary(&report)?;
    Ok(())
}

/// The runs ratios are taken against.
#[derive(Default)]
struct Bases<'a> {
    best: Option<&'a SequenceRun>,
    omega_1: Option<&'a SequenceRun>,
    optimal: Option<&'a SequenceRun>,
}

fn run_report<'a>(r: &'a SequenceRun, bases: &Bases) -> RunReport<'a> {
    let ratio = |base: Option<&SequenceRun>| {
        base.filter(|b| b.total_iterations > 0)
            .map(|b| r.total_iterations as f64 / b.total_iterations as f64)
    };
    RunReport {
        name: &r.name,
        total_iterations: r.total_iterations,
        omega: &r.omega,
        iterations: &r.iterations,
        unconverged: r.unconverged,
        solve_seconds: r.solve_seconds,
        tuner_seconds: r.tuner_seconds,
        tuner_overhead: if r.solve_seconds > 0.0 {
            r.tuner_seconds / r.solve_seconds
        } else {
            0.0
        },
        seconds_per_instance: (r.solve_seconds + r.tuner_seconds)
            / r.iterations.len().max(1) as f64,
        vs_best_fixed: ratio(bases.best),
        vs_omega_1: ratio(bases.omega_1),
        vs_instance_optimal: ratio(bases.optimal),
    }
}

/// Range and combination checks, before any work.
/// `--shift-distribution` or its default (high variance).
fn shift_distribution(args: &SequenceArgs) -> ShiftDistribution {
    args.shift_distribution
        .unwrap_or(ShiftDistribution::HighVariance)
}

/// `--shift-scaling` or its default (spectral).
fn shift_scaling(args: &SequenceArgs) -> ShiftScaling {
    args.shift_scaling.unwrap_or(ShiftScaling::Spectral)
}

fn check_flags(args: &SequenceArgs, instances: usize) -> Result<TunerChoice> {
    if args.problem != "shifted-laplacian"
        && (args.shift_distribution.is_some() || args.shift_scaling.is_some())
    {
        return Err(CliError::Usage(format!(
            "--shift-distribution and --shift-scaling describe --problem shifted-laplacian, not \
             {}",
            args.problem
        )));
    }
    if !(args.tol.is_finite() && args.tol > 0.0 && args.tol < 1.0) {
        return Err(CliError::Usage(format!(
            "--tol must be in (0, 1), got {}",
            args.tol
        )));
    }
    if instances == 0 {
        return Err(CliError::Usage("--instances must be at least 1".into()));
    }
    if args.max_iters == 0 {
        return Err(CliError::Usage("--max-iters must be at least 1".into()));
    }
    if args.grid.ndim() != 2 {
        return Err(CliError::Usage(format!(
            "--grid must be 2-D (NXxNY), got {}",
            args.grid
        )));
    }
    if args.omega.is_some() && args.tuner != "fixed" {
        return Err(CliError::Usage(format!(
            "--omega is only used with --tuner fixed (--tuner {} picks ω itself)",
            args.tuner
        )));
    }
    let choice = match args.tuner.as_str() {
        "tsallis-inf" => TunerChoice::TsallisInf,
        "chebcb" => TunerChoice::ChebCb,
        "instance-optimal" => TunerChoice::InstanceOptimal,
        "all" => TunerChoice::All,
        _ => {
            let w = args.omega.unwrap_or(1.0);
            if !(w.is_finite() && w > 0.0 && w < 2.0) {
                return Err(CliError::Usage(format!(
                    "--omega must be in (0, 2) for {}, got {w}",
                    args.solver.name()
                )));
            }
            TunerChoice::Fixed(w)
        }
    };
    crate::outputs::check_outputs(&[&args.report, &args.plot], &[])?;
    Ok(choice)
}

fn progress_bar(len: u64, enabled: bool) -> ProgressBar {
    let target = if enabled {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} instances (ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn write_outputs(
    args: &SequenceArgs,
    outcome: &SequenceOutcome,
    report: &SequenceReport,
) -> Result<()> {
    let mut staged = Staged::new();
    if let Some(path) = &args.report {
        staged.write(path, |tmp| {
            write_atomic(tmp, |w| {
                serde_json::to_writer_pretty(&mut *w, report).map_err(std::io::Error::other)?;
                std::io::Write::write_all(w, b"\n")
            })
            .map_err(|e| format!("{}: {e}", path.display()))
        })?;
    }
    if let Some(path) = &args.plot {
        let series: Vec<(String, Vec<(f64, f64)>)> = outcome
            .runs
            .iter()
            .chain(outcome.cg.as_ref())
            .map(|r| {
                let mut acc = 0.0;
                let pts = r
                    .iterations
                    .iter()
                    .enumerate()
                    .map(|(i, &it)| {
                        acc += it as f64;
                        ((i + 1) as f64, acc)
                    })
                    .collect();
                (r.name.clone(), pts)
            })
            .collect();
        let title = format!(
            "{} {} {}: cumulative iterations",
            args.problem,
            args.grid,
            args.solver.name()
        );
        staged.write(path, |tmp| {
            plot::line_chart(
                tmp,
                &title,
                "instance",
                "cumulative iterations",
                &series,
                false,
            )
        })?;
    }
    staged.commit()
}

fn print_summary(report: &SequenceReport) -> Result<()> {
    outln!(
        "{} {} {} ({} instances, tol {:.0e})",
        report.problem,
        report.grid,
        report.solver,
        report.instances,
        report.tolerance
    );
    let fmt_ratio = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    outln!(
        "  {:<18} {:>14} {:>13} {:>10} {:>12} {:>12}",
        "run",
        "iterations",
        "vs best fixed",
        "vs ω=1",
        "vs optimal",
        "overhead"
    );
    for r in report.runs.iter().chain(report.cg_baseline.as_ref()) {
        outln!(
            "  {:<18} {:>14} {:>13} {:>10} {:>12} {:>11.3}%",
            r.name,
            r.total_iterations,
            fmt_ratio(r.vs_best_fixed),
            fmt_ratio(r.vs_omega_1),
            fmt_ratio(r.vs_instance_optimal),
            100.0 * r.tuner_overhead
        );
    }
    if let Some(w) = report.best_fixed_omega {
        outln!("  best fixed omega in hindsight: {w:.2}");
    }
    Ok(())
}
