//! Walk-on-Spheres inside a simulation's time loop, with the boundary values and the source as
//! the simulation's own Rust closures — and every estimate checked against the exact solution.
//!
//! Problem: on the L-shaped domain Ω = (−1, 1)² \ [0, 1)², at times tₖ = k·Δt (k = 0, 1, …),
//!
//! Δu = f(·, tₖ) in Ω,  u = g(·, tₖ) on ∂Ω,
//!
//! manufactured from u(x, y; t) = cos t·(x² − y²) + sin t·eˣ cos y + t·x³y, so that
//! f = Δu = 6t·xy and g = u (nabla's sign convention is Δu = f, not −Δu = f).
//!
//! Each iteration captures the current t in two fresh closures, g and f, builds a `WosProblem`
//! on the same domain (shared through its `Arc`), checks g and f for NaN/∞ on the domain's
//! fixed probe sample (computed once), and estimates u at the same query points: the cell
//! centres of a grid that lie inside Ω (`nabla::core::points::grid_points`) and a few points
//! of the simulation's own, read from a CSV table whose columns come in any order
//! (`nabla::core::points::parse_point_table`). Building a `WosSolver` only validates the
//! options, so doing it every iteration costs nothing next to the walks. Every estimate is
//! compared with the exact u.
//!
//! Run: `cargo run --release -p nabla --example wos_in_loop [ITERATIONS] [WALKS] [GRID]`
//! (default 10 iterations, 2000 walks per point, a 24×24 grid). It prints one row per
//! iteration — t, points, max |error|, max |error|/stderr (≲ 4 when the estimates are
//! unbiased), mean standard error, seconds and walk steps per second — then the worst values
//! over the whole loop and the mean time per iteration.

use nabla::core::geometry::parse_domain;
use nabla::core::points::{grid_points, parse_point_table, ProbeSample};
use nabla::core::GridShape;
use nabla::wos::{WosOptions, WosProblem, WosSolver};
use std::sync::Arc;
use std::time::Instant;

/// The simulation's own query points, as a CSV table with its columns in its own order.
const USER_POINTS: &str = "\
# points where the simulation needs u every step
y,x
-0.5,-0.5
-0.9,0.5
0.5,-0.9
-0.02,-0.02
0.98,-0.98
";

/// The manufactured solution u(x, y; t).
fn exact(p: &[f64], t: f64) -> f64 {
    let (x, y) = (p[0], p[1]);
    t.cos() * (x * x - y * y) + t.sin() * x.exp() * y.cos() + t * x.powi(3) * y
}

/// Its Laplacian f = Δu = 6t·xy (the harmonic parts drop out).
fn laplacian(p: &[f64], t: f64) -> f64 {
    6.0 * t * p[0] * p[1]
}

/// Sizes of the run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Iterations of the loop (times t = 0, Δt, 2Δt, …).
    pub iterations: usize,
    /// Time step Δt between iterations.
    pub dt: f64,
    /// Walks per point and iteration.
    pub walks: usize,
    /// The query grid is GRID×GRID cells over the domain's bounding box.
    pub grid: usize,
    /// Walks stop within this distance of the boundary (bias O(ε)).
    pub epsilon: f64,
    /// Seed of the first iteration; iteration k uses seed + k.
    pub seed: u64,
}

impl Default for Options {
    /// The real size: 10 iterations, 2000 walks at each of ~430 points.
    fn default() -> Self {
        Self {
            iterations: 10,
            dt: 0.25,
            walks: 2000,
            grid: 24,
            epsilon: 1e-3,
            seed: 1,
        }
    }
}

impl Options {
    /// A size that runs in well under a second: 3 iterations, 1000 walks at 32 points.
    pub fn small() -> Self {
        Self {
            iterations: 3,
            walks: 1000,
            grid: 6,
            ..Self::default()
        }
    }
}

/// One iteration of the loop.
#[derive(Clone, Debug)]
pub struct Iteration {
    /// The time t of this iteration.
    pub t: f64,
    /// The query points, flat (x, y) pairs.
    pub points: Vec<f64>,
    /// The estimates of u, one per point.
    pub values: Vec<f64>,
    /// Their standard errors.
    pub stderrs: Vec<f64>,
    /// The exact u at the points.
    pub exact: Vec<f64>,
    /// Largest |estimate − exact|.
    pub max_abs_error: f64,
    /// Largest |estimate − exact| / stderr.
    pub max_z: f64,
    /// Mean standard error.
    pub mean_stderr: f64,
    /// Wall-clock seconds of the whole iteration (closures, probe check, solve, comparison).
    pub seconds: f64,
    /// Walk steps per second of the solve.
    pub steps_per_second: f64,
}

/// What [`run`] measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The query points per iteration (grid cells inside Ω plus the user's table).
    pub points: usize,
    /// One entry per iteration.
    pub iterations: Vec<Iteration>,
    /// Largest |estimate − exact| over the loop.
    pub max_abs_error: f64,
    /// Largest |estimate − exact| / stderr over the loop.
    pub max_z: f64,
    /// Mean wall-clock seconds per iteration.
    pub seconds_per_iteration: f64,
}

/// Runs the loop and compares every estimate with the exact solution.
pub fn run(opts: &Options) -> Result<Report, Box<dyn std::error::Error>> {
    // Set up once: the domain, the query points, the probe sample.
    let domain = parse_domain("lshape")?;
    let grid = grid_points(&GridShape::new(&[opts.grid, opts.grid])?, domain.as_ref())?;
    let coords = ["x".to_string(), "y".to_string()];
    let user = parse_point_table(USER_POINTS, "user points", &coords)?;
    let mut points = grid.points;
    points.extend_from_slice(&user.points);
    let n = points.len() / 2;
    let probe = ProbeSample::new(domain.as_ref());

    let mut iterations = Vec::with_capacity(opts.iterations);
    for k in 0..opts.iterations {
        let start = Instant::now();
        let t = k as f64 * opts.dt;
        // The simulation's own closures, capturing this iteration's t.
        let g = move |p: &[f64]| exact(p, t);
        let f = move |p: &[f64]| laplacian(p, t);
        if let Some(bad) = probe.first_non_finite_on_boundary(g) {
            return Err(format!("g at t = {t} {bad}").into());
        }
        if let Some(bad) = probe.first_non_finite_inside(f) {
            return Err(format!("f at t = {t} {bad}").into());
        }
        let problem =
            WosProblem::laplace(Arc::clone(&domain), Arc::new(g)).with_source(Arc::new(f));
        let solver = WosSolver::new(
            problem,
            WosOptions {
                walks: opts.walks,
                epsilon: opts.epsilon,
                seed: opts.seed + k as u64,
                ..Default::default()
            },
        )?;
        let sol = solver.solve(&points)?;
        let exact_u: Vec<f64> = points.chunks(2).map(|p| exact(p, t)).collect();
        let (values, stderrs) = (sol.values(), sol.stderrs());
        let mut max_abs_error = 0.0f64;
        let mut max_z = 0.0f64;
        for ((v, s), u) in values.iter().zip(&stderrs).zip(&exact_u) {
            let e = (v - u).abs();
            max_abs_error = max_abs_error.max(e);
            max_z = max_z.max(if *s > 0.0 { e / s } else { 0.0 });
        }
        iterations.push(Iteration {
            t,
            points: points.clone(),
            mean_stderr: stderrs.iter().sum::<f64>() / n as f64,
            values,
            stderrs,
            exact: exact_u,
            max_abs_error,
            max_z,
            seconds: start.elapsed().as_secs_f64(),
            steps_per_second: sol.steps_per_second(),
        });
    }
    let worst = |f: fn(&Iteration) -> f64| iterations.iter().map(f).fold(0.0, f64::max);
    Ok(Report {
        points: n,
        max_abs_error: worst(|i| i.max_abs_error),
        max_z: worst(|i| i.max_z),
        seconds_per_iteration: iterations.iter().map(|i| i.seconds).sum::<f64>()
            / iterations.len().max(1) as f64,
        iterations,
    })
}

fn main() {
    let mut opts = Options::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |i: usize, what: &str| -> Option<usize> {
        let a = args.get(i)?;
        match a.parse::<usize>() {
            Ok(v) if v > 0 => Some(v),
            _ => {
                eprintln!("{what} must be a positive integer, got '{a}'");
                eprintln!("usage: wos_in_loop [ITERATIONS] [WALKS] [GRID]");
                std::process::exit(2);
            }
        }
    };
    if let Some(v) = parse(0, "ITERATIONS") {
        opts.iterations = v;
    }
    if let Some(v) = parse(1, "WALKS") {
        opts.walks = v;
    }
    if let Some(v) = parse(2, "GRID") {
        opts.grid = v;
    }
    let report = match run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "Δu = 6t·xy on the L-shape, u = g(t) on the boundary: {} points x {} walks, ε = {:.0e}",
        report.points, opts.walks, opts.epsilon
    );
    println!(
        "{:>6} {:>12} {:>14} {:>12} {:>10} {:>12}",
        "t", "max |error|", "max |err|/se", "mean stderr", "seconds", "steps/s"
    );
    for it in &report.iterations {
        println!(
            "{:>6.2} {:>12.3e} {:>14.2} {:>12.3e} {:>10.3} {:>12.3e}",
            it.t, it.max_abs_error, it.max_z, it.mean_stderr, it.seconds, it.steps_per_second
        );
    }
    println!(
        "over {} iterations: max |error| {:.3e}, max {:.2} standard errors, {:.3} s per iteration",
        report.iterations.len(),
        report.max_abs_error,
        report.max_z,
        report.seconds_per_iteration
    );
}
