//! An implicit heat-equation time loop, the way a simulation code uses `nabla`: the code
//! assembles its own matrix every step (the conductivity changes with time) and keeps ONE
//! preconditioner for the whole run, refactoring it for each new matrix instead of building
//! it again.
//!
//! Problem: u_t = ∇·(k(x, y, t) ∇u) + f on the unit square, u = 0 on the boundary, with the
//! travelling conductivity k = 1 + 0.8 sin(2πx − 3t) cos(2πy) (between 0.2 and 1.8) and f
//! manufactured so that the exact solution is u = e^(−t) sin(πx) sin(πy). Space: the
//! 5-point finite-volume (flux-form) scheme on an N × N interior grid, h = 1/(N+1), with k at
//! the cell faces. Time: implicit Euler, Δt = T/STEPS. Each step solves
//!
//!   (h²/Δt·I + K(tₙ₊₁)) uⁿ⁺¹ = h²/Δt·uⁿ + h²·f(tₙ₊₁)
//!
//! with PCG to a relative residual of 1e-10, starting from uⁿ. The error against the exact
//! solution is O(Δt + h²).
//!
//! Two runs of the loop advance side by side from the same start (each step's matrix is
//! assembled once and serves both, so both see the same machine load): one builds its
//! preconditioner once and refactors it every step (`Preconditioner::refactor`, i.e.
//! `Multigrid::refactor`, `Amg::refactor`, `Ic0::refactor`: same grid or pattern, new
//! values), the other builds a new preconditioner every step. Geometric multigrid and IC(0)
//! refactor to exactly the preconditioner a new set-up builds, so the two runs give the same
//! bits; AMG keeps its first aggregates, so its two runs agree to the solver tolerance.
//!
//! Run: `cargo run --release -p nabla --example heat_implicit [N] [STEPS] [mg|amg|ic0]`
//! (defaults 255, 500, mg). It prints, for both loops, the seconds per step (assembly,
//! preconditioner set-up, solve, total), the PCG iterations, the ratio rebuilt / reused, the
//! preconditioner's memory, and the error against the exact solution at T = 0.5.

use nabla::core::GridShape;
use nabla::sparse::csr::Csr;
use nabla::sparse::{
    relative_residual, Amg, AmgOptions, GridPoisson, Ic0, Multigrid, Pcg, Preconditioner,
    SolveOptions, Solver, SparseMatrix,
};
use std::error::Error;
use std::f64::consts::PI;
use std::process::ExitCode;
use std::time::Instant;

/// Which preconditioner the time loop keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precond {
    /// Geometric multigrid on the grid (`Multigrid`), the natural choice for a grid code.
    Multigrid,
    /// Smoothed-aggregation algebraic multigrid (`Amg`).
    Amg,
    /// Incomplete Cholesky IC(0) (`Ic0`).
    Ic0,
}

impl Precond {
    /// The name on the command line and in the printout.
    pub fn name(self) -> &'static str {
        match self {
            Precond::Multigrid => "mg",
            Precond::Amg => "amg",
            Precond::Ic0 => "ic0",
        }
    }

    /// Parses `mg`, `amg` or `ic0`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "mg" => Ok(Precond::Multigrid),
            "amg" => Ok(Precond::Amg),
            "ic0" => Ok(Precond::Ic0),
            _ => Err(format!(
                "unknown preconditioner {s:?}; choose mg, amg or ic0"
            )),
        }
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Interior grid points per axis (N); h = 1/(N+1).
    pub n: usize,
    /// Time steps; Δt = `t_end / steps`.
    pub steps: usize,
    /// Final time T.
    pub t_end: f64,
    /// Relative residual each PCG solve reaches.
    pub tol: f64,
    /// The preconditioner kept across the steps.
    pub precond: Precond,
}

impl Default for Options {
    /// The real size: 255² = 65 025 unknowns, 500 steps to T = 0.5 (Δt = 1e-3).
    fn default() -> Self {
        Self {
            n: 255,
            steps: 500,
            t_end: 0.5,
            tol: 1e-10,
            precond: Precond::Multigrid,
        }
    }
}

impl Options {
    /// A size for tests: 31² unknowns, 50 steps to T = 0.25 (Δt = 5e-3), a fraction of a
    /// second.
    pub fn small() -> Self {
        Self {
            n: 31,
            steps: 50,
            t_end: 0.25,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=8192).contains(&self.n) {
            return Err(format!(
                "N (interior points per axis) must be between 2 and 8192, got {}",
                self.n
            ));
        }
        if self.steps == 0 || self.steps > 10_000_000 {
            return Err(format!(
                "STEPS must be between 1 and 10000000, got {}",
                self.steps
            ));
        }
        if !(self.t_end.is_finite() && self.t_end > 0.0) {
            return Err(format!(
                "the final time must be positive, got {}",
                self.t_end
            ));
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return Err(format!("the tolerance must be in (0, 1), got {}", self.tol));
        }
        Ok(())
    }
}

/// Per-step costs and iterations of one run of the time loop.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopStats {
    /// Seconds per step assembling the matrix and right-hand side.
    pub assembly_seconds: f64,
    /// Seconds per step building or refactoring the preconditioner.
    pub setup_seconds: f64,
    /// Seconds per step in PCG.
    pub solve_seconds: f64,
    /// PCG iterations summed over the steps.
    pub iterations: usize,
    /// The most PCG iterations of one step.
    pub max_iterations: usize,
    /// The largest relative residual ‖b − A x‖/‖b‖ of a step, recomputed after the solve.
    pub max_residual: f64,
    /// Heap bytes the preconditioner holds at the end.
    pub preconditioner_bytes: usize,
}

impl LoopStats {
    /// Seconds per step, all included.
    pub fn seconds_per_step(&self) -> f64 {
        self.assembly_seconds + self.setup_seconds + self.solve_seconds
    }

    /// Seconds per step in the solver (preconditioner set-up and PCG).
    pub fn solver_seconds_per_step(&self) -> f64 {
        self.setup_seconds + self.solve_seconds
    }

    /// Mean PCG iterations per step.
    pub fn mean_iterations(&self, steps: usize) -> f64 {
        self.iterations as f64 / steps.max(1) as f64
    }
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Unknowns (N²).
    pub unknowns: usize,
    /// Time steps taken.
    pub steps: usize,
    /// Grid spacing h.
    pub h: f64,
    /// Time step Δt.
    pub dt: f64,
    /// The preconditioner.
    pub precond: Precond,
    /// max |uₕ − u| at T over the grid points (the refactored run).
    pub max_error: f64,
    /// Root-mean-square error at T over the grid points (the refactored run).
    pub rms_error: f64,
    /// max |u_reused − u_rebuilt| at T: 0 for bit-identical runs.
    pub max_difference: f64,
    /// The loop with one preconditioner refactored every step.
    pub reused: LoopStats,
    /// The loop with a new preconditioner every step.
    pub rebuilt: LoopStats,
}

impl Report {
    /// Seconds per step rebuilt / reused, all included.
    pub fn speedup(&self) -> f64 {
        self.rebuilt.seconds_per_step() / self.reused.seconds_per_step()
    }

    /// Seconds per step in the solver, rebuilt / reused.
    pub fn solver_speedup(&self) -> f64 {
        self.rebuilt.solver_seconds_per_step() / self.reused.solver_seconds_per_step()
    }
}

/// The conductivity k(x, y, t).
fn conductivity(x: f64, y: f64, t: f64) -> f64 {
    1.0 + 0.8 * (2.0 * PI * x - 3.0 * t).sin() * (2.0 * PI * y).cos()
}

/// The exact solution u(x, y, t).
pub fn exact(x: f64, y: f64, t: f64) -> f64 {
    (-t).exp() * (PI * x).sin() * (PI * y).sin()
}

/// The source f = u_t − ∇·(k∇u) = u_t − k Δu − ∇k·∇u for the exact solution.
fn source(x: f64, y: f64, t: f64) -> f64 {
    let e = (-t).exp();
    let (sx, cx, sy, cy) = (
        (PI * x).sin(),
        (PI * x).cos(),
        (PI * y).sin(),
        (PI * y).cos(),
    );
    let u = e * sx * sy;
    let (ux, uy) = (e * PI * cx * sy, e * PI * sx * cy);
    let phase = 2.0 * PI * x - 3.0 * t;
    let k = 1.0 + 0.8 * phase.sin() * (2.0 * PI * y).cos();
    let kx = 0.8 * 2.0 * PI * phase.cos() * (2.0 * PI * y).cos();
    let ky = -0.8 * 2.0 * PI * phase.sin() * (2.0 * PI * y).sin();
    -u + 2.0 * PI * PI * k * u - (kx * ux + ky * uy)
}

/// The matrix pattern of the 5-point scheme (built once) and the face conductivities of the
/// current step: `kx[i + (N+1) j]` on the face between x-points i−1 and i (0-based interior
/// indices; i = 0 and i = N are the boundary faces), `ky[i + N j]` likewise in y.
struct Assembler {
    n: usize,
    h: f64,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    kx: Vec<f64>,
    ky: Vec<f64>,
}

impl Assembler {
    fn new(n: usize) -> Result<Self, Box<dyn Error>> {
        let unknowns = n * n;
        if unknowns >= u32::MAX as usize {
            return Err(format!("{n}² unknowns do not fit 32-bit column indices").into());
        }
        let mut indptr = Vec::with_capacity(unknowns + 1);
        let mut indices = Vec::with_capacity(5 * unknowns);
        indptr.push(0);
        for j in 0..n {
            for i in 0..n {
                let p = i + n * j;
                // Columns ascending: south, west, centre, east, north.
                if j > 0 {
                    indices.push((p - n) as u32);
                }
                if i > 0 {
                    indices.push((p - 1) as u32);
                }
                indices.push(p as u32);
                if i + 1 < n {
                    indices.push((p + 1) as u32);
                }
                if j + 1 < n {
                    indices.push((p + n) as u32);
                }
                indptr.push(indices.len());
            }
        }
        Ok(Self {
            n,
            h: 1.0 / (n + 1) as f64,
            indptr,
            indices,
            kx: vec![0.0; (n + 1) * n],
            ky: vec![0.0; n * (n + 1)],
        })
    }

    /// `h²/Δt·I + K(t)`, h²-scaled: each face couples its two points with −k_face (both rows
    /// read the same face value, so the matrix is symmetric bit for bit).
    fn matrix(&mut self, t: f64, dt: f64) -> Result<SparseMatrix, Box<dyn Error>> {
        let (n, h) = (self.n, self.h);
        // Face midpoints from integers, so each face has one value.
        for j in 0..n {
            let y = (j + 1) as f64 * h;
            for i in 0..=n {
                self.kx[i + (n + 1) * j] = conductivity((2 * i + 1) as f64 * 0.5 * h, y, t);
            }
        }
        for j in 0..=n {
            let y = (2 * j + 1) as f64 * 0.5 * h;
            for i in 0..n {
                self.ky[i + n * j] = conductivity((i + 1) as f64 * h, y, t);
            }
        }
        let shift = h * h / dt;
        let mut values = Vec::with_capacity(self.indices.len());
        for j in 0..n {
            for i in 0..n {
                let (w, e) = (self.kx[i + (n + 1) * j], self.kx[i + 1 + (n + 1) * j]);
                let (s, no) = (self.ky[i + n * j], self.ky[i + n * (j + 1)]);
                if j > 0 {
                    values.push(-s);
                }
                if i > 0 {
                    values.push(-w);
                }
                values.push(shift + w + e + s + no);
                if i + 1 < n {
                    values.push(-e);
                }
                if j + 1 < n {
                    values.push(-no);
                }
            }
        }
        let csr = Csr::try_new(
            (n * n, n * n),
            self.indptr.clone(),
            self.indices.clone(),
            values,
        )
        .map_err(|(_, _, _, e)| format!("the 5-point pattern is malformed: {e}"))?;
        Ok(SparseMatrix::from_csr(csr)?)
    }

    /// `h²/Δt·uⁿ + h²·f(t)` into `b`.
    fn rhs(&self, u: &[f64], t: f64, dt: f64, b: &mut [f64]) {
        let (n, h) = (self.n, self.h);
        for j in 0..n {
            for i in 0..n {
                let p = i + n * j;
                let (x, y) = ((i + 1) as f64 * h, (j + 1) as f64 * h);
                b[p] = h * h / dt * u[p] + h * h * source(x, y, t);
            }
        }
    }

    /// The exact solution at time t on the grid.
    fn exact(&self, t: f64) -> Vec<f64> {
        let (n, h) = (self.n, self.h);
        (0..n * n)
            .map(|p| exact((p % n + 1) as f64 * h, (p / n + 1) as f64 * h, t))
            .collect()
    }
}

/// A new preconditioner of the chosen kind for `a`.
fn build(
    kind: Precond,
    grid: &GridPoisson,
    a: &SparseMatrix,
) -> Result<Box<dyn Preconditioner>, Box<dyn Error>> {
    Ok(match kind {
        Precond::Multigrid => Box::new(Multigrid::new(grid, a)?),
        Precond::Amg => Box::new(Amg::new(a, AmgOptions::default())?),
        Precond::Ic0 => Box::new(Ic0::new(a)?),
    })
}

/// Heap bytes of a preconditioner of the chosen kind, built for `a` (for the printout).
fn memory_bytes(
    kind: Precond,
    grid: &GridPoisson,
    a: &SparseMatrix,
) -> Result<usize, Box<dyn Error>> {
    Ok(match kind {
        Precond::Multigrid => Multigrid::new(grid, a)?.memory_bytes(),
        Precond::Amg => Amg::new(a, AmgOptions::default())?.memory_bytes(),
        Precond::Ic0 => Ic0::new(a)?.memory_bytes(),
    })
}

/// One of the two runs of the time loop: its solution, its statistics, and the
/// preconditioner it keeps (refactored every step) or `None` (a new one every step).
struct Run {
    u: Vec<f64>,
    b: Vec<f64>,
    kept: Option<Box<dyn Preconditioner>>,
    stats: LoopStats,
}

impl Run {
    fn new(u0: Vec<f64>, kept: Option<Box<dyn Preconditioner>>) -> Self {
        let b = vec![0.0; u0.len()];
        Self {
            u: u0,
            b,
            kept,
            stats: LoopStats::default(),
        }
    }

    /// Advances uⁿ to uⁿ⁺¹ = u(t) with this step's matrix `a`.
    fn step(
        &mut self,
        ctx: &Context,
        a: &SparseMatrix,
        t: f64,
        step: usize,
    ) -> Result<(), Box<dyn Error>> {
        let t0 = Instant::now();
        ctx.asm.rhs(&self.u, t, ctx.dt, &mut self.b);
        let t1 = Instant::now();
        let mut fresh;
        let m: &mut dyn Preconditioner = match self.kept.as_mut() {
            // The time loop's preconditioner, refactored for the new values.
            Some(m) => {
                m.refactor(a)?;
                m.as_mut()
            }
            // Or a new one for every step.
            None => {
                fresh = build(ctx.precond, &ctx.grid, a)?;
                fresh.as_mut()
            }
        };
        let t2 = Instant::now();
        // The step's matrix is shared by both runs here, so each wraps its preconditioner in
        // a PCG borrowing it (`&mut P` is a preconditioner too; a PCG is only four work
        // vectors). A code with one run would rather keep a `Pcg::owning` solver and hand it
        // each step's matrix with `replace_matrix`, re-assembling the returned one in place
        // (`SparseMatrix::values_mut`). Warm start from uⁿ.
        let rep = Pcg::new(a, Box::new(m)).solve(&self.b, &mut self.u, &ctx.solve)?;
        let t3 = Instant::now();
        if !rep.converged {
            return Err(format!(
                "step {step}: PCG stopped at relative residual {:e} after {} iterations",
                rep.relative_residual, rep.iterations
            )
            .into());
        }
        let s = &mut self.stats;
        s.assembly_seconds += (t1 - t0).as_secs_f64();
        s.setup_seconds += (t2 - t1).as_secs_f64();
        s.solve_seconds += (t3 - t2).as_secs_f64();
        s.iterations += rep.iterations;
        s.max_iterations = s.max_iterations.max(rep.iterations);
        s.max_residual = s.max_residual.max(relative_residual(a, &self.b, &self.u));
        Ok(())
    }

    /// The per-step averages after `steps` steps.
    fn finish(mut self, steps: usize, bytes: usize) -> (Vec<f64>, LoopStats) {
        let per_step = 1.0 / steps as f64;
        let s = &mut self.stats;
        s.assembly_seconds *= per_step;
        s.setup_seconds *= per_step;
        s.solve_seconds *= per_step;
        s.preconditioner_bytes = bytes;
        (self.u, self.stats)
    }
}

/// What every step of both runs shares.
struct Context {
    asm: Assembler,
    grid: GridPoisson,
    precond: Precond,
    dt: f64,
    solve: SolveOptions<'static>,
}

/// Runs both time loops and measures them against each other and the exact solution. The
/// two runs advance in lockstep, each step's matrix assembled once for both, so that both
/// see the same machine load.
pub fn run(opts: &Options) -> Result<Report, Box<dyn Error>> {
    opts.validate()?;
    let n = opts.n;
    let dt = opts.t_end / opts.steps as f64;
    let mut ctx = Context {
        asm: Assembler::new(n)?,
        // The grid behind the matrix, for geometric multigrid (the matrix is our own).
        grid: GridPoisson::new(GridShape::new(&[n, n])?),
        precond: opts.precond,
        dt,
        solve: SolveOptions {
            tol: opts.tol,
            ..Default::default()
        },
    };
    let u0 = ctx.asm.exact(0.0);
    // The preconditioner the time loop keeps, built once (for the first step's matrix).
    let first = ctx.asm.matrix(dt, dt)?;
    let mut reused = Run::new(u0.clone(), Some(build(opts.precond, &ctx.grid, &first)?));
    let mut rebuilt = Run::new(u0, None);
    for step in 1..=opts.steps {
        let t = step as f64 * dt;
        let t0 = Instant::now();
        let a = ctx.asm.matrix(t, dt)?;
        let assembly = t0.elapsed().as_secs_f64();
        reused.stats.assembly_seconds += assembly;
        rebuilt.stats.assembly_seconds += assembly;
        reused.step(&ctx, &a, t, step)?;
        rebuilt.step(&ctx, &a, t, step)?;
    }
    let last = ctx.asm.matrix(opts.t_end, dt)?;
    let bytes = memory_bytes(opts.precond, &ctx.grid, &last)?;
    let (u_reused, reused) = reused.finish(opts.steps, bytes);
    let (u_rebuilt, rebuilt) = rebuilt.finish(opts.steps, bytes);
    let exact = ctx.asm.exact(opts.t_end);
    let err = u_reused.iter().zip(&exact).map(|(p, q)| (p - q).abs());
    let max_error = err.clone().fold(0.0, f64::max);
    let rms_error = (err.map(|e| e * e).sum::<f64>() / exact.len() as f64).sqrt();
    let max_difference = u_reused
        .iter()
        .zip(&u_rebuilt)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    Ok(Report {
        unknowns: n * n,
        steps: opts.steps,
        h: ctx.asm.h,
        dt,
        precond: opts.precond,
        max_error,
        rms_error,
        max_difference,
        reused,
        rebuilt,
    })
}

/// Reads `[N] [STEPS] [mg|amg|ic0]`.
fn parse_args() -> Result<Options, Box<dyn Error>> {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    if let Some(s) = args.next() {
        opts.n = s
            .parse()
            .map_err(|_| format!("N must be a whole number of grid points, got {s:?}"))?;
    }
    if let Some(s) = args.next() {
        opts.steps = s
            .parse()
            .map_err(|_| format!("STEPS must be a whole number, got {s:?}"))?;
    }
    if let Some(s) = args.next() {
        opts.precond = Precond::parse(&s)?;
    }
    if let Some(extra) = args.next() {
        return Err(format!(
            "unexpected argument {extra:?}; usage: heat_implicit [N] [STEPS] [mg|amg|ic0]"
        )
        .into());
    }
    opts.validate()?;
    Ok(opts)
}

fn print_report(r: &Report) {
    println!(
        "implicit Euler heat equation, {} unknowns (h = 1/{}), {} steps of Δt = {:.3e}, {}-pcg",
        r.unknowns,
        (1.0 / r.h).round(),
        r.steps,
        r.dt,
        r.precond.name()
    );
    println!(
        "{:<28} {:>11} {:>11} {:>11} {:>11} {:>10} {:>9} {:>10}",
        "preconditioner per step",
        "assembly s",
        "set-up s",
        "solve s",
        "total s",
        "mean its",
        "max its",
        "memory MB"
    );
    for (name, s) in [
        ("one, refactored", &r.reused),
        ("new every step", &r.rebuilt),
    ] {
        println!(
            "{name:<28} {:>11.3e} {:>11.3e} {:>11.3e} {:>11.3e} {:>10.2} {:>9} {:>10.2}",
            s.assembly_seconds,
            s.setup_seconds,
            s.solve_seconds,
            s.seconds_per_step(),
            s.mean_iterations(r.steps),
            s.max_iterations,
            s.preconditioner_bytes as f64 / 1e6
        );
    }
    println!(
        "rebuilt / reused: {:.2}x per step, {:.2}x in the solver (set-up + PCG), {:.2}x in set-up",
        r.speedup(),
        r.solver_speedup(),
        r.rebuilt.setup_seconds / r.reused.setup_seconds
    );
    println!(
        "error at T against the exact solution: max {:.3e}, rms {:.3e}; max |u_reused − u_rebuilt| = {:.1e}; worst residual {:.1e}",
        r.max_error,
        r.rms_error,
        r.max_difference,
        r.reused.max_residual.max(r.rebuilt.max_residual)
    );
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|opts| run(&opts));
    match result {
        Ok(report) => {
            print_report(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("heat_implicit: error: {e}");
            ExitCode::FAILURE
        }
    }
}
