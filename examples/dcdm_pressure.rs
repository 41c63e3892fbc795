//! A trained DCDM model as the pressure solver of a projection step — the way an
//! incompressible-flow code would call it.
//!
//! Each time step is a Chorin projection on a staggered (MAC) grid of `NX×NY` square cells of
//! side `h` (pressure at cell centres, `u` on vertical faces, `v` on horizontal faces, domain
//! `[0, 1] × [0, NY·h]`):
//!
//! 1. a provisional velocity `u*`: semi-Lagrangian advection of the previous velocity, a body
//!    force that is not divergence-free (a Gaussian jet circling the box) and a seeded random
//!    perturbation of every face;
//! 2. the pressure Poisson system `D G p = D u* / dt`, i.e. `A p = −h²·div(u*)/dt` with `A` the
//!    h²-scaled 5-point Laplacian on the cells with `p = 0` on the ring of ghost cells around the
//!    box — exactly the matrix a DCDM model of nabla is trained on (`nabla::sparse::GridPoisson`,
//!    homogeneous Dirichlet, no obstacle). Physically: the box is a window into a still reservoir
//!    at ambient pressure 0, and flow passes through its sides (every face, boundary faces
//!    included, is corrected by the pressure gradient);
//! 3. the solve, by DCDM (the model loaded once and reused every step), to a relative tolerance;
//!    plain CG and IC(0)-PCG solve the same system for comparison;
//! 4. the correction `u = u* − dt·G p`.
//!
//! Since `D G = −A/h²` exactly, the divergence left after the correction is `−dt/h²·r` with
//! `r = b − A p` the solve's residual: `‖div u‖₂ ≤ tol·‖div u*‖₂`. The first step checks the
//! decomposition itself: `u* = u_df + G φ` (a discretely divergence-free field from a stream
//! function plus the gradient of a known potential φ), whose projection must give back `u_df`.
//!
//! Run (the model: about 4 minutes of training on a laptop CPU):
//!
//! ```sh
//! nabla train configs/dcdm_poisson64.toml
//! cargo run --release -p nabla --example dcdm_pressure runs/dcdm_poisson64 [STEPS] [TOL] [NXxNY]
//! ```
//!
//! The first argument is the run directory (or its `checkpoint.safetensors`); the defaults are 5
//! steps, tol 1e-6 and the model's training grid. It prints one row per projection step: the
//! iterations of DCDM, CG and IC(0)-PCG on the same system, the relative residual of the DCDM
//! pressure recomputed here with a stencil of this file's own, the divergence of `u*` and of the
//! corrected `u` (max norm and L2 norm `(h² Σ div²)^½`), and the solve times; then how closely
//! step 1 gave back the divergence-free part.

use nabla::dcdm::{Dcdm, DcdmModel};
use nabla::nn::Model;
use nabla::sparse::{Cg, GridPoisson, Ic0, Pcg, SolveOptions, Solver};
use std::error::Error;
use std::path::PathBuf;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The DCDM run directory (`nabla train configs/dcdm_poisson64.toml --out DIR`) or a
    /// checkpoint file.
    pub model: PathBuf,
    /// The cells `[NX, NY]`; `None` = the grid the model was trained on.
    pub grid: Option<[usize; 2]>,
    /// Projection steps (the first one is the `u_df + ∇φ` check).
    pub steps: usize,
    /// Relative tolerance of every pressure solve, on `‖b − A p‖₂ / ‖b‖₂`.
    pub tol: f64,
    /// Iteration cap of each solve (CG gets 20 times as many).
    pub max_iters: usize,
    /// Time step as a fraction of `h` (the velocities are of order 1).
    pub cfl: f64,
    /// Amplitude of the random perturbation added to every face each step.
    pub noise: f64,
    /// Seed of the perturbations.
    pub seed: u64,
    /// Directions each DCDM direction is A-orthogonalized against.
    pub directions: usize,
    /// Also solve every system with CG and IC(0)-PCG.
    pub baselines: bool,
    /// The device of the network: `cpu` or `cuda:N`.
    pub device: String,
}

impl Options {
    /// The defaults for the model at `model`: the training grid, 5 steps, tol 1e-6, CFL 0.5,
    /// noise 0.02, seed 0, the library's default number of directions, baselines on, CPU.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Options {
            model: model.into(),
            grid: None,
            steps: 5,
            tol: 1e-6,
            max_iters: 2000,
            cfl: 0.5,
            noise: 0.02,
            seed: 0,
            directions: nabla::dcdm::solver::DEFAULT_DIRECTIONS,
            baselines: true,
            device: "cpu".into(),
        }
    }
}

/// One projection step.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// Step number, from 1.
    pub step: usize,
    /// DCDM iterations to the tolerance.
    pub dcdm_iterations: usize,
    /// Whether DCDM reached the tolerance.
    pub dcdm_converged: bool,
    /// The relative residual DCDM reported.
    pub dcdm_reported_residual: f64,
    /// `‖b − A p‖₂ / ‖b‖₂` of the DCDM pressure, with this file's own stencil.
    pub relative_residual: f64,
    /// Iterations that fell back to the residual direction (a degenerate network output).
    pub fallback_steps: usize,
    /// Seconds of the DCDM solve (network included).
    pub dcdm_seconds: f64,
    /// The network's share of `dcdm_seconds`.
    pub network_seconds: f64,
    /// CG iterations on the same system (`None` without baselines).
    pub cg_iterations: Option<usize>,
    /// Seconds of the CG solve.
    pub cg_seconds: Option<f64>,
    /// IC(0)-PCG iterations on the same system.
    pub ic0_iterations: Option<usize>,
    /// Seconds of the IC(0)-PCG solve.
    pub ic0_seconds: Option<f64>,
    /// `‖p_dcdm − p_cg‖₂ / ‖p_cg‖₂`.
    pub pressure_vs_cg: Option<f64>,
    /// `max |div u*|` before the projection.
    pub div_before_max: f64,
    /// `(h² Σ div(u*)²)^½` before the projection.
    pub div_before_l2: f64,
    /// `max |div u|` after the projection.
    pub div_after_max: f64,
    /// `(h² Σ div(u)²)^½` after the projection.
    pub div_after_l2: f64,
}

/// Everything [`run`] measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The checkpoint loaded.
    pub model: PathBuf,
    /// The grid the model was trained on.
    pub train_grid: Vec<usize>,
    /// Trainable parameters of the model.
    pub parameters: usize,
    /// The cells `[NX, NY]` of the flow.
    pub grid: [usize; 2],
    /// Cell side.
    pub h: f64,
    /// Time step.
    pub dt: f64,
    /// The solves' relative tolerance.
    pub tol: f64,
    /// Condition number of the pressure matrix (its eigenvalues are known in closed form).
    pub condition: f64,
    /// Step 1: `‖u − u_df‖₂ / ‖G φ‖₂` over the faces, how closely the projection of
    /// `u_df + G φ` gave back the divergence-free part.
    pub recovery_error: f64,
    /// What the solve's residual allows for `recovery_error`: `√cond · ‖r‖/‖b‖` (the A-norm
    /// error of the pressure relative to the exact one).
    pub recovery_bound: f64,
    /// One entry per projection step.
    pub steps: Vec<StepReport>,
}

/// Velocity on a MAC grid: `u[i + (nx+1) j]` at `(i h, (j+½) h)`, `v[i + nx j]` at
/// `((i+½) h, j h)`.
#[derive(Clone)]
struct Mac {
    nx: usize,
    ny: usize,
    h: f64,
    u: Vec<f64>,
    v: Vec<f64>,
}

impl Mac {
    fn zeros(nx: usize, ny: usize, h: f64) -> Self {
        Mac {
            nx,
            ny,
            h,
            u: vec![0.0; (nx + 1) * ny],
            v: vec![0.0; nx * (ny + 1)],
        }
    }

    /// A discretely divergence-free field from the stream function `psi` at the nodes
    /// `(i h, j h)`: `u = ∂ψ/∂y`, `v = −∂ψ/∂x` as differences along the faces.
    fn from_stream(nx: usize, ny: usize, h: f64, psi: impl Fn(f64, f64) -> f64) -> Self {
        let mut m = Mac::zeros(nx, ny, h);
        let node = |i: usize, j: usize| psi(i as f64 * h, j as f64 * h);
        for j in 0..ny {
            for i in 0..=nx {
                m.u[i + (nx + 1) * j] = (node(i, j + 1) - node(i, j)) / h;
            }
        }
        for j in 0..=ny {
            for i in 0..nx {
                m.v[i + nx * j] = -(node(i + 1, j) - node(i, j)) / h;
            }
        }
        m
    }

    /// `div[i + nx j] = (u(i+1,j) − u(i,j) + v(i,j+1) − v(i,j)) / h`.
    fn divergence(&self) -> Vec<f64> {
        let (nx, ny, h) = (self.nx, self.ny, self.h);
        let mut d = vec![0.0; nx * ny];
        for j in 0..ny {
            for i in 0..nx {
                let du = self.u[i + 1 + (nx + 1) * j] - self.u[i + (nx + 1) * j];
                let dv = self.v[i + nx * (j + 1)] - self.v[i + nx * j];
                d[i + nx * j] = (du + dv) / h;
            }
        }
        d
    }

    /// `self += c · G p`, the cell-centred `p` taken as 0 on the ghost cells around the box,
    /// on every face (boundary faces included).
    fn add_gradient(&mut self, c: f64, p: &[f64]) {
        let (nx, ny, h) = (self.nx, self.ny, self.h);
        let at = |i: isize, j: isize| -> f64 {
            if i < 0 || j < 0 || i >= nx as isize || j >= ny as isize {
                0.0
            } else {
                p[i as usize + nx * j as usize]
            }
        };
        for j in 0..ny as isize {
            for i in 0..=nx as isize {
                self.u[i as usize + (nx + 1) * j as usize] += c * (at(i, j) - at(i - 1, j)) / h;
            }
        }
        for j in 0..=ny as isize {
            for i in 0..nx as isize {
                self.v[i as usize + nx * j as usize] += c * (at(i, j) - at(i, j - 1)) / h;
            }
        }
    }

    /// Bilinear interpolation of a staggered component with `sx × sy` samples, at fractional
    /// sample indices (clamped: constant extrapolation outside the box).
    fn bilinear(f: &[f64], sx: usize, sy: usize, fi: f64, fj: f64) -> f64 {
        let fi = fi.clamp(0.0, (sx - 1) as f64);
        let fj = fj.clamp(0.0, (sy - 1) as f64);
        let (i0, j0) = ((fi as usize).min(sx - 2), (fj as usize).min(sy - 2));
        let (a, b) = (fi - i0 as f64, fj - j0 as f64);
        let at = |i: usize, j: usize| f[i + sx * j];
        (1.0 - a) * (1.0 - b) * at(i0, j0)
            + a * (1.0 - b) * at(i0 + 1, j0)
            + (1.0 - a) * b * at(i0, j0 + 1)
            + a * b * at(i0 + 1, j0 + 1)
    }

    /// The velocity at `(x, y)`.
    fn velocity(&self, x: f64, y: f64) -> (f64, f64) {
        let (nx, ny, h) = (self.nx, self.ny, self.h);
        (
            Self::bilinear(&self.u, nx + 1, ny, x / h, y / h - 0.5),
            Self::bilinear(&self.v, nx, ny + 1, x / h - 0.5, y / h),
        )
    }

    /// Semi-Lagrangian advection by `dt` (first order: one backward Euler trace per face).
    fn advect(&self, dt: f64) -> Mac {
        let (nx, ny, h) = (self.nx, self.ny, self.h);
        let mut out = Mac::zeros(nx, ny, h);
        for j in 0..ny {
            for i in 0..=nx {
                let (x, y) = (i as f64 * h, (j as f64 + 0.5) * h);
                let (a, b) = self.velocity(x, y);
                let (xd, yd) = (x - dt * a, y - dt * b);
                out.u[i + (nx + 1) * j] = self.velocity(xd, yd).0;
            }
        }
        for j in 0..=ny {
            for i in 0..nx {
                let (x, y) = ((i as f64 + 0.5) * h, j as f64 * h);
                let (a, b) = self.velocity(x, y);
                let (xd, yd) = (x - dt * a, y - dt * b);
                out.v[i + nx * j] = self.velocity(xd, yd).1;
            }
        }
        out
    }
}

/// SplitMix64: a seeded stream of uniform numbers in [−1, 1] (std only).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// `‖b − A p‖₂ / ‖b‖₂` with the h²-scaled 5-point Laplacian and `p = 0` outside, written out
/// here (no code shared with the solvers).
fn relative_residual(nx: usize, ny: usize, p: &[f64], b: &[f64]) -> f64 {
    let at = |i: isize, j: isize| -> f64 {
        if i < 0 || j < 0 || i >= nx as isize || j >= ny as isize {
            0.0
        } else {
            p[i as usize + nx * j as usize]
        }
    };
    let (mut rr, mut bb) = (0.0, 0.0);
    for j in 0..ny as isize {
        for i in 0..nx as isize {
            let ap = 4.0 * at(i, j) - at(i - 1, j) - at(i + 1, j) - at(i, j - 1) - at(i, j + 1);
            let k = i as usize + nx * j as usize;
            rr += (b[k] - ap).powi(2);
            bb += b[k] * b[k];
        }
    }
    if bb > 0.0 {
        (rr / bb).sqrt()
    } else {
        rr.sqrt()
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Loads the model in `opts.model` and runs `opts.steps` projection steps with it (see the
/// file's documentation). Errors: bad options, a missing run directory or one that is not a
/// DCDM run, a 3-D model, a solver failure.
pub fn run(opts: &Options) -> Result<Report, Box<dyn Error>> {
    if opts.steps == 0 {
        return Err("steps must be ≥ 1".into());
    }
    if !(opts.tol.is_finite() && opts.tol > 0.0 && opts.tol < 1.0) {
        return Err(format!("tol must be in (0, 1), got {}", opts.tol).into());
    }
    if !(opts.cfl.is_finite() && opts.cfl > 0.0) {
        return Err(format!("cfl must be finite and > 0, got {}", opts.cfl).into());
    }
    if !(opts.noise.is_finite() && opts.noise >= 0.0) {
        return Err(format!("noise must be finite and ≥ 0, got {}", opts.noise).into());
    }
    let device = nabla::open_device(&opts.device)?;
    let model = DcdmModel::load_run(&opts.model, &device)?;
    if model.dim() != 2 {
        return Err(format!(
            "model {}: trained on the {}-D grid {:?}; this flow is 2-D",
            opts.model.display(),
            model.dim(),
            model.train_grid()
        )
        .into());
    }
    let [nx, ny] = match opts.grid {
        Some(g) => g,
        None => [model.train_grid()[0], model.train_grid()[1]],
    };
    if nx < 2 || ny < 2 || nx * ny > 1 << 24 {
        return Err(format!("grid {nx}x{ny}: each side must be ≥ 2, at most 2^24 cells").into());
    }
    let checkpoint = if opts.model.is_dir() {
        opts.model.join(nabla::nn::train::CHECKPOINT_FILE)
    } else {
        opts.model.clone()
    };

    // The pressure system: the matrix DCDM models are trained on, assembled once.
    let grid = GridPoisson::new(nabla::core::grid::GridShape::new(&[nx, ny])?);
    let a = grid.matrix();
    let mut dcdm = Dcdm::new(&model, &a, &grid, opts.directions)?;
    let mut cg = Cg::new(&a);
    let mut ic0 = Pcg::new(&a, Box::new(Ic0::new(&a)?));
    let solve_opts = SolveOptions {
        tol: opts.tol,
        max_iters: opts.max_iters,
        ..Default::default()
    };
    let cg_opts = SolveOptions {
        max_iters: 20 * opts.max_iters,
        ..solve_opts
    };
    let lambda = |k: usize, n: usize| {
        4.0 * (std::f64::consts::PI * k as f64 / (2.0 * (n + 1) as f64))
            .sin()
            .powi(2)
    };
    let condition = (lambda(nx, nx) + lambda(ny, ny)) / (lambda(1, nx) + lambda(1, ny));

    let h = 1.0 / nx as f64;
    let (lx, ly) = (1.0, ny as f64 * h);
    let dt = opts.cfl * h;
    let pi = std::f64::consts::PI;
    // Two counter-rotating vortices plus a smaller one, velocities of order 1.
    let psi = |x: f64, y: f64| {
        let (sx, sy) = ((pi * x / lx).sin(), (pi * y / ly).sin());
        0.25 * sx * sx * sy * sy
            + 0.08 * (2.0 * pi * x / lx).sin() * (3.0 * pi * y / ly).sin()
            + 0.04 * (4.0 * pi * x / lx).cos() * (pi * y / ly).sin()
    };
    let u_df = Mac::from_stream(nx, ny, h, psi);
    // The known potential φ at the cell centres: a smooth bump plus cell-scale noise.
    let mut noise = Noise(opts.seed);
    let phi: Vec<f64> = (0..nx * ny)
        .map(|k| {
            let (x, y) = (((k % nx) as f64 + 0.5) * h, ((k / nx) as f64 + 0.5) * h);
            let bump = (-((x - 0.4 * lx).powi(2) + (y - 0.6 * ly).powi(2)) / 0.02).exp();
            0.02 * bump + 0.2 * opts.noise * h * noise.next()
        })
        .collect();

    let mut u = u_df.clone();
    let mut steps = Vec::with_capacity(opts.steps);
    let (mut recovery_error, mut recovery_bound) = (f64::NAN, f64::NAN);
    for step in 1..=opts.steps {
        let t = (step - 1) as f64 * dt;
        // 1. The provisional velocity.
        let mut star = if step == 1 {
            let mut s = u_df.clone();
            s.add_gradient(1.0, &phi);
            s
        } else {
            let mut s = u.advect(dt);
            // A Gaussian jet circling the box, pushing along its path.
            let w = 2.0 * pi;
            let (cx, cy) = (
                lx * (0.5 + 0.25 * (w * t).cos()),
                ly * (0.5 + 0.25 * (w * t).sin()),
            );
            let (fx, fy) = (-(w * t).sin(), (w * t).cos());
            let force =
                |x: f64, y: f64| 20.0 * (-((x - cx).powi(2) + (y - cy).powi(2)) / 0.01).exp();
            for j in 0..ny {
                for i in 0..=nx {
                    let f = force(i as f64 * h, (j as f64 + 0.5) * h);
                    s.u[i + (nx + 1) * j] += dt * f * fx + opts.noise * noise.next();
                }
            }
            for j in 0..=ny {
                for i in 0..nx {
                    let f = force((i as f64 + 0.5) * h, j as f64 * h);
                    s.v[i + nx * j] += dt * f * fy + opts.noise * noise.next();
                }
            }
            s
        };
        let div = star.divergence();
        // 2. A p = −h² div(u*) / dt.
        let b: Vec<f64> = div.iter().map(|d| -h * h * d / dt).collect();
        // 3. The solves.
        let mut p = vec![0.0; nx * ny];
        let rep = dcdm.solve(&b, &mut p, &solve_opts)?;
        let (mut cg_iterations, mut cg_seconds, mut ic0_iterations, mut ic0_seconds) =
            (None, None, None, None);
        let mut pressure_vs_cg = None;
        if opts.baselines {
            let mut q = vec![0.0; nx * ny];
            let r = cg.solve(&b, &mut q, &cg_opts)?;
            cg_iterations = Some(r.iterations);
            cg_seconds = Some(r.solve_seconds);
            let diff: Vec<f64> = p.iter().zip(&q).map(|(x, y)| x - y).collect();
            pressure_vs_cg = Some(norm(&diff) / norm(&q).max(f64::MIN_POSITIVE));
            let mut q = vec![0.0; nx * ny];
            let r = ic0.solve(&b, &mut q, &cg_opts)?;
            ic0_iterations = Some(r.iterations);
            ic0_seconds = Some(r.solve_seconds);
        }
        // 4. The correction.
        star.add_gradient(-dt, &p);
        let after = star.divergence();
        if step == 1 {
            let mut gphi = Mac::zeros(nx, ny, h);
            gphi.add_gradient(1.0, &phi);
            let diff: Vec<f64> = star
                .u
                .iter()
                .zip(&u_df.u)
                .chain(star.v.iter().zip(&u_df.v))
                .map(|(x, y)| x - y)
                .collect();
            let g: Vec<f64> = gphi.u.iter().chain(&gphi.v).copied().collect();
            recovery_error = norm(&diff) / norm(&g).max(f64::MIN_POSITIVE);
        }
        let relres = relative_residual(nx, ny, &p, &b);
        if step == 1 {
            recovery_bound = condition.sqrt() * relres;
        }
        steps.push(StepReport {
            step,
            dcdm_iterations: rep.iterations,
            dcdm_converged: rep.converged,
            dcdm_reported_residual: rep.relative_residual,
            relative_residual: relres,
            fallback_steps: dcdm.fallback_steps(),
            dcdm_seconds: rep.solve_seconds,
            network_seconds: dcdm.network_seconds(),
            cg_iterations,
            cg_seconds,
            ic0_iterations,
            ic0_seconds,
            pressure_vs_cg,
            div_before_max: max_abs(&div),
            div_before_l2: h * norm(&div),
            div_after_max: max_abs(&after),
            div_after_l2: h * norm(&after),
        });
        u = star;
    }
    Ok(Report {
        model: checkpoint,
        train_grid: model.train_grid().to_vec(),
        parameters: model.params().num_trainable(),
        grid: [nx, ny],
        h,
        dt,
        tol: opts.tol,
        condition,
        recovery_error,
        recovery_bound,
        steps,
    })
}

const USAGE: &str = "usage: dcdm_pressure RUN_DIR|CHECKPOINT [STEPS] [TOL] [NXxNY]\n  \
    e.g. nabla train configs/dcdm_poisson64.toml, then\n  \
    cargo run --release -p nabla --example dcdm_pressure runs/dcdm_poisson64 5 1e-6";

/// Options from the positional arguments, or a one-line message.
fn parse_args(args: &[String]) -> Result<Options, String> {
    let Some(model) = args.first().filter(|a| !a.starts_with('-')) else {
        return Err("missing the DCDM run directory".into());
    };
    if args.len() > 4 {
        return Err(format!("{} arguments, at most 4 are taken", args.len()));
    }
    let mut opts = Options::new(model);
    if let Some(s) = args.get(1) {
        opts.steps = s
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format!("STEPS: '{s}' is not a count ≥ 1"))?;
    }
    if let Some(s) = args.get(2) {
        opts.tol = s
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite() && *t > 0.0 && *t < 1.0)
            .ok_or_else(|| format!("TOL: '{s}' is not a number in (0, 1)"))?;
    }
    if let Some(s) = args.get(3) {
        let shape: nabla::core::grid::GridShape = s.parse().map_err(|e| format!("NXxNY: {e}"))?;
        match shape.dims() {
            &[x, y] => opts.grid = Some([x, y]),
            _ => return Err(format!("NXxNY: '{s}' is not a 2-D grid")),
        }
    }
    Ok(opts)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let report = match run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let [nx, ny] = report.grid;
    println!(
        "model {} (trained on {:?}, {} parameters); flow on {nx}x{ny} cells, h = {:.3e}, \
         dt = {:.3e}, tol = {:.0e}, cond(A) = {:.0}",
        report.model.display(),
        report.train_grid,
        report.parameters,
        report.h,
        report.dt,
        report.tol,
        report.condition
    );
    println!(
        "{:>4} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8} {:>8} {:>8}",
        "step",
        "DCDM",
        "CG",
        "IC0",
        "relres",
        "max|div*|",
        "max|div|",
        "L2 div*",
        "L2 div",
        "p vs CG",
        "DCDM s",
        "CG s",
        "IC0 s"
    );
    for s in &report.steps {
        println!(
            "{:>4} {:>5} {:>5} {:>5} {:>10.2e} {:>10.2e} {:>10.2e} {:>10.2e} {:>10.2e} {:>9} \
             {:>8.4} {:>8} {:>8}{}",
            s.step,
            s.dcdm_iterations,
            opt(s.cg_iterations),
            opt(s.ic0_iterations),
            s.relative_residual,
            s.div_before_max,
            s.div_after_max,
            s.div_before_l2,
            s.div_after_l2,
            opt(s.pressure_vs_cg.map(|x| format!("{x:.1e}"))),
            s.dcdm_seconds,
            opt(s.cg_seconds.map(|x| format!("{x:.4}"))),
            opt(s.ic0_seconds.map(|x| format!("{x:.4}"))),
            if s.dcdm_converged {
                String::new()
            } else {
                "  (DCDM did not converge)".into()
            }
        );
    }
    let net: f64 = report.steps.iter().map(|s| s.network_seconds).sum();
    let all: f64 = report.steps.iter().map(|s| s.dcdm_seconds).sum();
    println!(
        "step 1 (u* = u_df + ∇φ) gave back u_df to {:.2e} relative (the residual allows {:.2e}); \
         the network took {:.0}% of the DCDM time",
        report.recovery_error,
        report.recovery_bound,
        if all > 0.0 { 100.0 * net / all } else { 0.0 }
    );
}
