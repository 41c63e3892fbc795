//! 2-D incompressible Navier–Stokes in vorticity form on the periodic unit torus — the data
//! set of the FNO paper (Li et al. 2021, "Fourier Neural Operator for Parametric Partial
//! Differential Equations", §5.3):
//!
//! ∂w/∂t + u·∇w = ν Δw + f,   u = (∂ψ/∂y, −∂ψ/∂x),   −Δψ = w,   (x, y) ∈ [0, 1)²,
//!
//! with the forcing f(x, y) = 0.1 (sin 2π(x + y) + cos 2π(x + y)) and the initial vorticity
//! w₀ drawn from a Gaussian random field ([`TorusGrf`]).
//!
//! # Scheme
//!
//! Fourier pseudo-spectral on the M × M grid x_i = i/M, y_j = j/M (the FNO generator's grid),
//! with complex 2-D FFTs by rows and columns (`rustfft`). The state is the set of Fourier
//! modes |k_x|, |k_y| ≤ K = ⌊(M − 1)/3⌋ — the 2/3 rule: the velocity and the vorticity
//! gradient are formed from these modes only, and the product u·∇w is projected back onto
//! them, so the quadratic term is computed without aliasing (the scheme is the Galerkin
//! truncation of the equation to those modes; the initial field is projected onto them too).
//!
//! Time stepping: the low-storage three-stage Runge–Kutta / Crank–Nicolson scheme of Spalart,
//! Moser & Rogers (1991) — the advection and forcing terms explicit with the RK3 weights
//! γ = (8/15, 5/12, 3/4), ζ = (0, −17/60, −5/12), the viscous term Crank–Nicolson within each
//! stage (α = β = 4/15, 1/15, 1/6): second order overall, third order for the explicit part,
//! and stable for advection up to a Courant number √3 on the imaginary axis, where forward
//! Euler (the FNO generator's explicit part) and AB2 are not. At the default step control the
//! Taylor–Green vortex decays as exp(−2νk²t) to 6e-8 relative over 20 time units at ν = 1e-3
//! (tests); Crank–Nicolson's part of the error grows as ~T ν³|κ|⁶ dt²/63.
//!
//! Time step: each record interval Δ is split into equal steps dt = Δ/n, n the fewest steps
//! with dt ≤ min(`cfl` · h / max(|u| + |v|), `max_dt`), h = 1/M, the speed measured at the
//! start of the interval; should the Courant number max(|u| + |v|)·dt/h of a later step pass
//! 1.5 × `cfl` the interval is run again with a shorter step. `dt` = Some(d) fixes the step
//! instead (each interval split into steps ≤ d). A run whose vorticity turns non-finite is an
//! error naming the time (and, from [`generate_navier_stokes`], the sample).
//!
//! Resolution: the run is made on `sim_resolution` M (default: the output resolution N) and
//! every frame is written on the N × N grid by spectral truncation (the modes
//! |k_x|, |k_y| < N/2 of the run, evaluated at x_i = i/N). The FNO paper simulated at 256²
//! and subsampled to 64²; `sim_resolution: Some(256)` is the closest to that.
//!
//! # Frames and layout
//!
//! Frames are recorded at t_m = m·Δ for m = 1..=F (F = `frames`, Δ = `record_interval`), as
//! the FNO data's `u` (whose initial field is stored apart): with F = 20 and Δ = 1, frames
//! 0..10 are the benchmark's 10 input steps and frames 10..20 its 10 outputs. With
//! `include_initial` w₀ is frame 0 (t = 0) and there are F + 1 frames.
//!
//! [`generate_navier_stokes`] returns [`crate::Series2dData`], written by
//! [`crate::write_series_2d`]:
//! - `tensor` float32 `[N_samples, Nt, N, N]`, `tensor[n, m, i, j]` = w(x_i, y_j, t_m)
//!   (x the slower axis, as in PDEBench's 2-D files);
//! - `x-coordinate`, `y-coordinate` float32 `[N]`: i/N;
//! - `t-coordinate` float32 `[Nt + 1]`: the frame times and, PDEBench's convention, one more
//!   Δ past the last;
//! - attribute `Nu` = ν, and [`navier_stokes_attributes`]: equation, forcing, scheme, steps
//!   used, initial-field parameters, seed.
//!
//! # Reproducibility
//!
//! Sample k draws its initial field from a PCG64 stream derived from `(seed, k)` alone, and
//! the field's Fourier coefficients are drawn ring by ring (max(|k_x|, |k_y|) = 1, 2, …), so
//! the output is the same for any thread count, sample k of N equals sample k of any longer
//! run, and a finer `sim_resolution` shares the coarser run's low modes of w₀.
//!
//! ```
//! use nabla_data::datagen::{generate_navier_stokes, NavierStokesSettings};
//!
//! let set = generate_navier_stokes(
//!     &NavierStokesSettings { resolution: 16, samples: 2, frames: 3, ..Default::default() },
//!     &|_done| {},
//! )
//! .unwrap();
//! let d = &set.data;
//! assert_eq!((d.n, d.nt, d.nx, d.ny), (2, 3, 16, 16));
//! assert_eq!(d.t[0], 1.0); // frames at t = 1, 2, 3
//! ```

use std::f64::consts::PI;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::{sample_rng, DatagenError};
use crate::{AttrValue, Series2dData};

/// Stream tag of the Navier–Stokes generator's per-sample random numbers.
const STREAM: u64 = 0x4E53_2D32;

type C64 = Complex<f64>;

/// Largest grid (per axis) accepted.
const MAX_RESOLUTION: usize = 4096;

/// The automatic step is redone when a step's Courant number passes this multiple of `cfl`.
const CFL_REDO: f64 = 1.5;

/// RK3 weights of the explicit term at the current stage (Spalart, Moser & Rogers 1991).
const GAMMA: [f64; 3] = [8.0 / 15.0, 5.0 / 12.0, 3.0 / 4.0];
/// RK3 weights of the explicit term at the previous stage.
const ZETA: [f64; 3] = [0.0, -17.0 / 60.0, -5.0 / 12.0];
/// Crank–Nicolson weights of each stage (the same for the old and the new level).
const CN: [f64; 3] = [4.0 / 15.0, 1.0 / 15.0, 1.0 / 6.0];

/// What [`generate_navier_stokes`] draws and solves. The defaults are the FNO paper's ν = 1e-3
/// set at 64², 20 frames one time unit apart.
#[derive(Debug, Clone, PartialEq)]
pub struct NavierStokesSettings {
    /// Output grid points per axis N (even, 8..=4096): x_i = i/N.
    pub resolution: usize,
    /// Grid of the run M (even, ≥ N); `None` runs on the output grid.
    pub sim_resolution: Option<usize>,
    /// Number of trajectories (≥ 1).
    pub samples: usize,
    /// Seed; trajectory k draws from a stream derived from `(seed, k)` alone.
    pub seed: u64,
    /// Viscosity ν (> 0 for the generator; [`solve_navier_stokes`] accepts 0).
    pub viscosity: f64,
    /// Time Δ between recorded frames (> 0).
    pub record_interval: f64,
    /// Frames F recorded after t = 0, at t = Δ, 2Δ, …, FΔ (≥ 1).
    pub frames: usize,
    /// Also record w₀ as frame 0 (t = 0).
    pub include_initial: bool,
    /// A fixed largest time step instead of the CFL-controlled one.
    pub dt: Option<f64>,
    /// Courant number of the automatic step: dt ≤ cfl · h / max(|u| + |v|), in (0, 1].
    pub cfl: f64,
    /// Largest automatic step (bounds the step of slow flows, for accuracy).
    pub max_dt: f64,
    /// Forcing amplitude a of f = a (sin 2π(x + y) + cos 2π(x + y)); 0.1 in the FNO data.
    pub forcing: f64,
    /// Factor c of the initial field's covariance c (−Δ + τ²I)^{−α} (see [`TorusGrf`]).
    pub ic_scale: f64,
    /// Inverse length scale τ of the initial field.
    pub ic_tau: f64,
    /// Smoothness α of the initial field (> 1).
    pub ic_alpha: f64,
}

/// c = 2 · 7³: the covariance factor the FNO generator realises (see [`TorusGrf`]).
pub const FNO_IC_SCALE: f64 = 686.0;

impl Default for NavierStokesSettings {
    fn default() -> Self {
        Self {
            resolution: 64,
            sim_resolution: None,
            samples: 1,
            seed: 0,
            viscosity: 1e-3,
            record_interval: 1.0,
            frames: 20,
            include_initial: false,
            dt: None,
            cfl: 0.5,
            max_dt: 0.05,
            forcing: 0.1,
            ic_scale: FNO_IC_SCALE,
            ic_tau: 7.0,
            ic_alpha: 2.5,
        }
    }
}

impl NavierStokesSettings {
    /// Checks every field for the generator (ν > 0); the error names the bad one.
    pub fn validate(&self) -> Result<(), DatagenError> {
        self.check(false)
    }

    fn check(&self, inviscid_ok: bool) -> Result<(), DatagenError> {
        let bad = |m: String| Err(DatagenError::InvalidSettings(m));
        let grid_ok = |n: usize| n.is_multiple_of(2) && (8..=MAX_RESOLUTION).contains(&n);
        if !grid_ok(self.resolution) {
            return bad(format!(
                "resolution must be even and in 8..={MAX_RESOLUTION}, got {}",
                self.resolution
            ));
        }
        if let Some(m) = self.sim_resolution {
            if !grid_ok(m) || m < self.resolution {
                return bad(format!(
                    "sim_resolution must be even, in 8..={MAX_RESOLUTION} and at least the \
                     resolution {}, got {m}",
                    self.resolution
                ));
            }
        }
        if self.samples == 0 {
            return bad("samples must be at least 1".into());
        }
        if self.frames == 0 {
            return bad("frames must be at least 1".into());
        }
        let nu = self.viscosity;
        if !(nu.is_finite() && (nu > 0.0 || (inviscid_ok && nu == 0.0))) {
            return bad(format!("viscosity must be positive and finite, got {nu}"));
        }
        for (name, v) in [
            ("record_interval", self.record_interval),
            ("max_dt", self.max_dt),
            ("ic_tau", self.ic_tau),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive and finite, got {v}"));
            }
        }
        if !(self.cfl.is_finite() && self.cfl > 0.0 && self.cfl <= 1.0) {
            return bad(format!("cfl must be in (0, 1], got {}", self.cfl));
        }
        if let Some(dt) = self.dt {
            if !(dt.is_finite() && dt > 0.0) {
                return bad(format!("dt must be positive and finite, got {dt}"));
            }
            let steps = (self.record_interval / dt).ceil();
            if steps > 1e8 {
                return bad(format!(
                    "dt {dt:e} needs {steps:e} steps per record interval; raise it"
                ));
            }
        }
        if !self.forcing.is_finite() {
            return bad(format!("forcing must be finite, got {}", self.forcing));
        }
        if !(self.ic_scale.is_finite() && self.ic_scale >= 0.0) {
            return bad(format!(
                "ic_scale must be non-negative and finite, got {}",
                self.ic_scale
            ));
        }
        if !(self.ic_alpha.is_finite() && self.ic_alpha > 1.0) {
            return bad(format!(
                "ic_alpha must be finite and above 1, got {}",
                self.ic_alpha
            ));
        }
        let last = self.frames as f64 * self.record_interval;
        if !last.is_finite() {
            return bad(format!(
                "frames x record_interval = {last} is not a finite time"
            ));
        }
        Ok(())
    }

    /// The grid M of the run: `sim_resolution`, or the output `resolution`.
    pub fn sim_grid(&self) -> usize {
        self.sim_resolution.unwrap_or(self.resolution)
    }

    /// Frames per trajectory Nt: `frames`, plus one with `include_initial`.
    pub fn frame_count(&self) -> usize {
        self.frames + usize::from(self.include_initial)
    }

    /// The frame times t_m (length [`Self::frame_count`]).
    pub fn frame_times(&self) -> Vec<f64> {
        let first = usize::from(!self.include_initial);
        (first..=self.frames)
            .map(|m| m as f64 * self.record_interval)
            .collect()
    }
}

/// A Navier–Stokes data set and how it was stepped.
#[derive(Debug, Clone, PartialEq)]
pub struct NavierStokesSet {
    /// The vorticity frames in the 2-D series layout (`nu` = Some(ν)).
    pub data: Series2dData,
    /// Shortest time step taken (over all samples and intervals).
    pub dt_min: f64,
    /// Longest time step taken.
    pub dt_max: f64,
    /// Time steps taken, summed over the samples.
    pub steps: u64,
}

/// One run of [`solve_navier_stokes`].
#[derive(Debug, Clone, PartialEq)]
pub struct NavierStokesRun {
    /// The frames on the N × N output grid, `[Nt, N, N]`: `frames[(m*N + i)*N + j]` =
    /// w(x_i, y_j, t_m).
    pub frames: Vec<f64>,
    /// The frame times t_m.
    pub times: Vec<f64>,
    /// Shortest time step taken.
    pub dt_min: f64,
    /// Longest time step taken.
    pub dt_max: f64,
    /// Time steps taken.
    pub steps: u64,
}

/// Draws `settings.samples` initial vorticities ([`TorusGrf`]) and solves the vorticity
/// equation for each (module docs), in parallel over samples; `progress(done)` is called
/// after each finished sample. Results depend only on the settings, not on the thread count.
///
/// A sample whose vorticity turns non-finite fails the whole set with an error naming it.
pub fn generate_navier_stokes(
    settings: &NavierStokesSettings,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<NavierStokesSet, DatagenError> {
    settings.validate()?;
    let runner = Runner::new(settings)?;
    let m = settings.sim_grid();
    let grf = TorusGrf::new(
        (m - 1) / 3,
        settings.ic_scale,
        settings.ic_tau,
        settings.ic_alpha,
    );
    let n = settings.resolution;
    let per_sample = settings.frame_count() * n * n;
    let total = per_sample.checked_mul(settings.samples).ok_or_else(|| {
        DatagenError::InvalidSettings(format!(
            "{} samples of {per_sample} values overflow",
            settings.samples
        ))
    })?;
    // Each sample writes its own rows of the tensor: no second copy of the set.
    let mut tensor = vec![0f32; total];
    let done = AtomicUsize::new(0);
    let runs: Vec<Stats> = tensor
        .par_chunks_mut(per_sample)
        .enumerate()
        .map(|(k, rows)| {
            let mut rng = sample_rng(settings.seed, k, STREAM);
            let modes = grf.sample_modes(&mut rng);
            let w0 = runner.sim.state_from_modes(&modes);
            let (frames, stats) = runner.evolve(w0).map_err(|e| e.at_sample(k))?;
            for (r, &v) in rows.iter_mut().zip(&frames) {
                *r = v as f32;
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok(stats)
        })
        .collect::<Result<_, DatagenError>>()?;
    let mut stats = Stats::default();
    for s in &runs {
        stats.merge(s);
    }
    let mut t: Vec<f32> = settings.frame_times().iter().map(|&v| v as f32).collect();
    t.push(((settings.frames + 1) as f64 * settings.record_interval) as f32);
    let coord: Vec<f32> = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
    Ok(NavierStokesSet {
        data: Series2dData {
            n: settings.samples,
            nt: settings.frame_count(),
            nx: n,
            ny: n,
            tensor,
            x: coord.clone(),
            y: coord,
            t,
            nu: Some(settings.viscosity),
        },
        dt_min: stats.dt_min,
        dt_max: stats.dt_max,
        steps: stats.steps,
    })
}

/// Solves the vorticity equation from the grid values `w0` on the M × M grid of the run
/// (M = `settings.sim_grid()`, `w0[i*M + j]` = w₀(i/M, j/M)), projected onto the kept modes,
/// with `settings`' viscosity (0 allowed: the Euler equations), forcing, frames and step
/// control (`samples` and `seed` are not used). The frames come on the output grid N.
pub fn solve_navier_stokes(
    w0: &[f64],
    settings: &NavierStokesSettings,
) -> Result<NavierStokesRun, DatagenError> {
    settings.check(true)?;
    let m = settings.sim_grid();
    if w0.len() != m * m {
        return Err(DatagenError::InvalidSettings(format!(
            "w0 has {} values, expected M² = {} for the {m}x{m} grid of the run",
            w0.len(),
            m * m
        )));
    }
    if let Some(p) = w0.iter().position(|v| !v.is_finite()) {
        return Err(DatagenError::InvalidSettings(format!(
            "w0 value {p} is {}",
            w0[p]
        )));
    }
    let runner = Runner::new(settings)?;
    let state = runner.sim.project(w0);
    let (frames, stats) = runner.evolve(state)?;
    Ok(NavierStokesRun {
        frames,
        times: settings.frame_times(),
        dt_min: stats.dt_min,
        dt_max: stats.dt_max,
        steps: stats.steps,
    })
}

/// The file attributes of a generated set (beside `Nu`, which [`crate::write_series_2d`]
/// writes from the data): generator, equation, forcing, scheme, the steps taken, grid and
/// time conventions, the initial field's parameters, seed.
pub fn navier_stokes_attributes(
    settings: &NavierStokesSettings,
    set: &NavierStokesSet,
) -> Vec<(&'static str, AttrValue)> {
    let s = settings;
    let step_rule = match s.dt {
        Some(dt) => format!("fixed: each record interval split into equal steps <= {dt:e}"),
        None => format!(
            "automatic: each record interval split into equal steps <= min(cfl h / max(|u|+|v|), \
             max_dt), cfl = {}, max_dt = {}, h = 1/sim_resolution",
            s.cfl, s.max_dt
        ),
    };
    vec![
        ("generator", "nabla datagen navier-stokes".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        (
            "equation",
            "w_t + u . grad w = nu lap w + f on the periodic unit torus [0,1)^2, \
             u = (psi_y, -psi_x), -lap psi = w (vorticity form)"
                .into(),
        ),
        ("viscosity", s.viscosity.into()),
        (
            "forcing",
            format!("f(x,y) = {} (sin(2 pi (x+y)) + cos(2 pi (x+y)))", s.forcing).into(),
        ),
        ("forcing_amplitude", s.forcing.into()),
        (
            "scheme",
            "Fourier pseudo-spectral, 2/3-rule dealiasing (modes |kx|,|ky| <= (M-1)/3 kept), \
             low-storage RK3 (Spalart-Moser-Rogers) for advection and forcing with \
             Crank-Nicolson for viscosity in each stage"
                .into(),
        ),
        ("time_step_rule", step_rule.into()),
        ("dt", set.dt_max.into()),
        ("dt_min", set.dt_min.into()),
        (
            "time_steps",
            AttrValue::I64(set.steps.min(i64::MAX as u64) as i64),
        ),
        ("resolution", s.resolution.into()),
        ("sim_resolution", s.sim_grid().into()),
        (
            "grid",
            "x_i = i/N, y_j = j/N; frames spectrally truncated from the sim_resolution run".into(),
        ),
        ("record_interval", s.record_interval.into()),
        ("frames", s.frame_count().into()),
        ("include_initial", s.include_initial.into()),
        (
            "t_coordinate_convention",
            "Nt+1 entries: the frame times t_m, then one record interval past the last \
             (PDEBench's convention)"
                .into(),
        ),
        ("axis_order", "tensor[n,m,i,j] = w(x_i, y_j, t_m)".into()),
        (
            "initial_condition",
            "w0 ~ N(0, c (-lap + tau^2)^(-alpha)) on the torus, mean zero, Fourier modes \
             |kx|,|ky| <= (M-1)/3; c = 2 * 7^3 is the FNO generator's (its sigma = 7^(3/2) \
             on the real part of a complex series)"
                .into(),
        ),
        ("ic_scale", s.ic_scale.into()),
        ("ic_tau", s.ic_tau.into()),
        ("ic_alpha", s.ic_alpha.into()),
        ("samples", s.samples.into()),
        ("seed", AttrValue::I64(s.seed as i64)),
    ]
}

/// Kinetic energy and enstrophy of the grid vorticity `w` (`w[i*n + j]` at (i/n, j/n)):
/// E = ½ ⟨|u|²⟩ = ½ Σ_{k≠0} |ŵ_k|² / |2πk|² and Z = ½ ⟨w²⟩ = ½ Σ_k |ŵ_k|², ⟨·⟩ the mean over
/// the torus and ŵ_k the Fourier coefficients. Both are conserved by the inviscid, unforced
/// equation (and by its 2/3-rule Galerkin truncation).
pub fn vorticity_invariants(w: &[f64], n: usize) -> (f64, f64) {
    assert_eq!(w.len(), n * n, "w must hold n² values");
    let fft = Fft2::new(n);
    let mut phys: Vec<C64> = w.iter().map(|&v| C64::new(v, 0.0)).collect();
    let mut spec = vec![C64::new(0.0, 0.0); n * n];
    let mut scratch = vec![C64::new(0.0, 0.0); fft.scratch_len];
    fft.forward(&mut phys, &mut spec, &mut scratch, &[0..n, 0..0]);
    let scale = 1.0 / (n * n) as f64;
    let (mut e, mut z) = (0.0, 0.0);
    for r in 0..n {
        for c in 0..n {
            let a = (spec[r * n + c] * scale).norm_sqr();
            let k2 = 4.0 * PI * PI * (signed(r, n).pow(2) + signed(c, n).pow(2)) as f64;
            z += a;
            if k2 > 0.0 {
                e += a / k2;
            }
        }
    }
    (0.5 * e, 0.5 * z)
}

/// Signed wavenumber of FFT index `j` of length `n`.
fn signed(j: usize, n: usize) -> i64 {
    if 2 * j <= n {
        j as i64
    } else {
        j as i64 - n as i64
    }
}

// ---------------------------------------------------------------------------------------------
// The initial field
// ---------------------------------------------------------------------------------------------

/// w ~ N(0, c (−Δ + τ²I)^{−α}) on the periodic unit torus, mean zero, restricted to the
/// Fourier modes max(|k₁|, |k₂|) ≤ K:
///
/// w(x) = Σ_{k ∈ H} √(2c) λ_k^{−α/2} (A_k cos 2πk·x + B_k sin 2πk·x),  λ_k = 4π²|k|² + τ²,
///
/// H the half plane (k₁ > 0, or k₁ = 0 < k₂) and A_k, B_k i.i.d. N(0, 1) — the Karhunen–Loève
/// expansion of the stated covariance (eigenfunctions e^{2πik·x}, eigenvalues c λ_k^{−α}).
///
/// The FNO paper writes the Navier–Stokes initial field as N(0, 7^{3/2}(−Δ + 49I)^{−2.5});
/// its generator (`GaussianRF(2, s, alpha=2.5, tau=7)`) multiplies i.i.d. complex normals by
/// √2 σ λ_k^{−α/2}, σ = τ^{α−1} = 7^{3/2}, and keeps the real part of the inverse FFT, which
/// is the covariance 2σ²(−Δ + 49I)^{−2.5}: c = 2·7³ = 686 ([`FNO_IC_SCALE`]) reproduces the
/// published data's statistics, and is the generator's default.
///
/// Modes are drawn ring by ring (max(|k₁|, |k₂|) = 1, 2, …, K; in each ring k₁ from −r to r,
/// then k₂ from −r to r, half plane only; A then B), so a larger K extends a field drawn with
/// a smaller one from the same stream.
#[derive(Debug, Clone, PartialEq)]
pub struct TorusGrf {
    kmax: usize,
    scale: f64,
    tau: f64,
    alpha: f64,
}

impl TorusGrf {
    /// The field with modes up to `kmax` per axis, covariance factor `scale` = c, inverse
    /// length `tau` and smoothness `alpha`.
    pub fn new(kmax: usize, scale: f64, tau: f64, alpha: f64) -> Self {
        Self {
            kmax,
            scale,
            tau,
            alpha,
        }
    }

    /// Draws one field as its Fourier coefficients on the half plane H: `(k₁, k₂, ŵ_k)` with
    /// w(x) = Σ_{k∈H} 2 Re(ŵ_k e^{2πik·x}) (so ŵ_{−k} = conj ŵ_k). Consumes two normals per
    /// mode, in ring order (type docs).
    pub fn sample_modes<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<(i64, i64, C64)> {
        let kmax = self.kmax as i64;
        let mut out = Vec::with_capacity((2 * self.kmax + 1).pow(2) / 2);
        for r in 1..=kmax {
            for k1 in -r..=r {
                for k2 in -r..=r {
                    let in_ring = k1.abs().max(k2.abs()) == r;
                    let in_half = k1 > 0 || (k1 == 0 && k2 > 0);
                    if !(in_ring && in_half) {
                        continue;
                    }
                    let lam = 4.0 * PI * PI * (k1 * k1 + k2 * k2) as f64 + self.tau * self.tau;
                    let sd = (0.5 * self.scale).sqrt() * lam.powf(-self.alpha / 2.0);
                    let a: f64 = rng.sample(StandardNormal);
                    let b: f64 = rng.sample(StandardNormal);
                    // √(2c) λ^{−α/2} (A cos θ + B sin θ) = 2 Re(√(c/2) λ^{−α/2} (A − iB) e^{iθ}).
                    out.push((k1, k2, C64::new(sd * a, -sd * b)));
                }
            }
        }
        out
    }

    /// Draws one field on the n × n grid (`n` > 2·kmax): `w[i*n + j]` = w(i/n, j/n).
    pub fn sample<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<f64> {
        assert!(n > 2 * self.kmax, "the grid must resolve the field's modes");
        let modes = self.sample_modes(rng);
        let mut spec = vec![C64::new(0.0, 0.0); n * n];
        let wrap = |k: i64| k.rem_euclid(n as i64) as usize;
        for &(k1, k2, c) in &modes {
            // Spectral layout of `Fft2`: row = k₂ (y), column = k₁ (x).
            spec[wrap(k2) * n + wrap(k1)] = c;
            spec[wrap(-k2) * n + wrap(-k1)] = c.conj();
        }
        let fft = Fft2::new(n);
        let mut phys = vec![C64::new(0.0, 0.0); n * n];
        let mut scratch = vec![C64::new(0.0, 0.0); fft.scratch_len];
        fft.inverse(&mut spec, &mut phys, &mut scratch, &[0..n, 0..0]);
        phys.iter().map(|z| z.re).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// 2-D FFT by rows and columns
// ---------------------------------------------------------------------------------------------

/// Complex 2-D DFTs on an n × n grid: physical arrays `[i][j]` (x index, y index), spectral
/// arrays `[k₂][k₁]` (y wavenumber row, x wavenumber column), both row-major. Unnormalised
/// (forward e^{−i}, inverse e^{+i}).
struct Fft2 {
    n: usize,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
    scratch_len: usize,
}

impl Fft2 {
    fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let scratch_len = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len())
            .max(1);
        Self {
            n,
            fwd,
            inv,
            scratch_len,
        }
    }

    /// `phys` (destroyed) → `spec`; only the spectral rows in `rows` are computed, the other
    /// rows of `spec` hold intermediate values.
    fn forward(
        &self,
        phys: &mut [C64],
        spec: &mut [C64],
        scratch: &mut [C64],
        rows: &[Range<usize>; 2],
    ) {
        let n = self.n;
        self.fwd.process_with_scratch(phys, scratch);
        transpose(phys, spec, n);
        for r in rows.iter().filter(|r| !r.is_empty()) {
            self.fwd
                .process_with_scratch(&mut spec[r.start * n..r.end * n], scratch);
        }
    }

    /// `spec` (destroyed; its rows outside `rows` must be zero) → `phys`.
    fn inverse(
        &self,
        spec: &mut [C64],
        phys: &mut [C64],
        scratch: &mut [C64],
        rows: &[Range<usize>; 2],
    ) {
        let n = self.n;
        for r in rows.iter().filter(|r| !r.is_empty()) {
            self.inv
                .process_with_scratch(&mut spec[r.start * n..r.end * n], scratch);
        }
        transpose(spec, phys, n);
        self.inv.process_with_scratch(phys, scratch);
    }
}

/// `dst[c*n + r] = src[r*n + c]`, in tiles.
fn transpose(src: &[C64], dst: &mut [C64], n: usize) {
    const TILE: usize = 8;
    for r0 in (0..n).step_by(TILE) {
        for c0 in (0..n).step_by(TILE) {
            for r in r0..(r0 + TILE).min(n) {
                for c in c0..(c0 + TILE).min(n) {
                    dst[c * n + r] = src[r * n + c];
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The solver
// ---------------------------------------------------------------------------------------------

/// The semi-discrete vorticity equation on an n × n grid of the unit torus: the Fourier modes
/// |k_x|, |k_y| ≤ K = ⌊(n − 1)/3⌋, advection computed pseudo-spectrally without aliasing
/// (module docs). Grid values are `w[i*n + j]` = w(i/n, j/n).
pub struct VorticitySolver {
    n: usize,
    kmax: usize,
    nu: f64,
    fft: Fft2,
    /// Spectral-array index of kept mode q (compact order: k₂ row, then k₁, each 0..=K then
    /// −K..−1).
    idx: Vec<usize>,
    /// κ_x + iκ_y = 2π(k₁ + ik₂) of mode q.
    kvec: Vec<C64>,
    /// |2πk|² of mode q.
    lap: Vec<f64>,
    /// 1/|2πk|² (0 for k = 0).
    inv_lap: Vec<f64>,
    /// f̂ of mode q.
    forcing: Vec<C64>,
    /// The spectral rows holding kept modes.
    rows: [Range<usize>; 2],
}

/// Buffers of one solve.
struct Work {
    a: Vec<C64>,
    b: Vec<C64>,
    pa: Vec<C64>,
    pb: Vec<C64>,
    scratch: Vec<C64>,
    rhs: Vec<C64>,
    prev: Vec<C64>,
}

impl VorticitySolver {
    /// The solver on an `n × n` grid (even, ≥ 8) with viscosity `viscosity` (≥ 0) and the FNO
    /// forcing f = `forcing` · (sin 2π(x + y) + cos 2π(x + y)).
    pub fn new(n: usize, viscosity: f64, forcing: f64) -> Result<Self, DatagenError> {
        if !n.is_multiple_of(2) || !(8..=MAX_RESOLUTION).contains(&n) {
            return Err(DatagenError::InvalidSettings(format!(
                "grid must be even and in 8..={MAX_RESOLUTION}, got {n}"
            )));
        }
        if !(viscosity.is_finite() && viscosity >= 0.0 && forcing.is_finite()) {
            return Err(DatagenError::InvalidSettings(format!(
                "viscosity must be non-negative and forcing finite, got {viscosity} and {forcing}"
            )));
        }
        let kmax = (n - 1) / 3;
        let side = 2 * kmax + 1;
        let order: Vec<i64> = (0..=kmax as i64).chain(-(kmax as i64)..0).collect();
        let wrap = |k: i64| k.rem_euclid(n as i64) as usize;
        let mut s = Self {
            n,
            kmax,
            nu: viscosity,
            fft: Fft2::new(n),
            idx: Vec::with_capacity(side * side),
            kvec: Vec::with_capacity(side * side),
            lap: Vec::with_capacity(side * side),
            inv_lap: Vec::with_capacity(side * side),
            forcing: Vec::with_capacity(side * side),
            rows: [0..kmax + 1, n - kmax..n],
        };
        for &k2 in &order {
            for &k1 in &order {
                let (kx, ky) = (2.0 * PI * k1 as f64, 2.0 * PI * k2 as f64);
                let lap = kx * kx + ky * ky;
                s.idx.push(wrap(k2) * n + wrap(k1));
                s.kvec.push(C64::new(kx, ky));
                s.lap.push(lap);
                s.inv_lap.push(if lap > 0.0 { 1.0 / lap } else { 0.0 });
                // a (cos θ + sin θ) = 2 Re(a (1 − i)/2 e^{iθ}), θ = 2π(x + y).
                let f = match (k1, k2) {
                    (1, 1) => C64::new(0.5 * forcing, -0.5 * forcing),
                    (-1, -1) => C64::new(0.5 * forcing, 0.5 * forcing),
                    _ => C64::new(0.0, 0.0),
                };
                s.forcing.push(f);
            }
        }
        Ok(s)
    }

    /// Grid points per axis.
    pub fn resolution(&self) -> usize {
        self.n
    }

    /// The highest kept wavenumber per axis, K = ⌊(n − 1)/3⌋.
    pub fn max_wavenumber(&self) -> usize {
        self.kmax
    }

    fn work(&self) -> Work {
        let z = C64::new(0.0, 0.0);
        let nn = self.n * self.n;
        let nk = self.idx.len();
        Work {
            a: vec![z; nn],
            b: vec![z; nn],
            pa: vec![z; nn],
            pb: vec![z; nn],
            scratch: vec![z; self.fft.scratch_len],
            rhs: vec![z; nk],
            prev: vec![z; nk],
        }
    }

    /// Kept-mode coefficients of grid values `w`.
    fn project(&self, w: &[f64]) -> Vec<C64> {
        let mut work = self.work();
        for (z, &v) in work.pa.iter_mut().zip(w) {
            *z = C64::new(v, 0.0);
        }
        self.fft
            .forward(&mut work.pa, &mut work.a, &mut work.scratch, &self.rows);
        let scale = 1.0 / (self.n * self.n) as f64;
        self.idx.iter().map(|&p| work.a[p] * scale).collect()
    }

    /// The state of the half-plane coefficients `modes` ([`TorusGrf::sample_modes`]); modes
    /// outside the kept set are dropped.
    fn state_from_modes(&self, modes: &[(i64, i64, C64)]) -> Vec<C64> {
        let k = self.kmax as i64;
        let side = 2 * k + 1;
        let pos = |s: i64| if s >= 0 { s } else { side + s };
        let mut w = vec![C64::new(0.0, 0.0); self.idx.len()];
        for &(k1, k2, c) in modes {
            if k1.abs() <= k && k2.abs() <= k {
                w[(pos(k2) * side + pos(k1)) as usize] = c;
                w[(pos(-k2) * side + pos(-k1)) as usize] = c.conj();
            }
        }
        w
    }

    /// Grid values of the state `w` into `out` (n² values).
    fn to_grid(&self, w: &[C64], work: &mut Work, out: &mut Vec<f64>) {
        work.a.fill(C64::new(0.0, 0.0));
        for (&p, &c) in self.idx.iter().zip(w) {
            work.a[p] = c;
        }
        self.fft
            .inverse(&mut work.a, &mut work.pa, &mut work.scratch, &self.rows);
        out.clear();
        out.extend(work.pa.iter().map(|z| z.re));
    }

    /// Fills `work.pa` with u + iv on the grid; returns max(|u| + |v|).
    fn velocity_into(&self, w: &[C64], work: &mut Work) -> f64 {
        work.a.fill(C64::new(0.0, 0.0));
        for (((&p, &wk), &kk), &il) in self.idx.iter().zip(w).zip(&self.kvec).zip(&self.inv_lap) {
            // û + iv̂ = iκ_y ψ̂ + i(−iκ_x ψ̂) = ψ̂ (κ_x + iκ_y).
            work.a[p] = wk * kk * il;
        }
        self.fft
            .inverse(&mut work.a, &mut work.pa, &mut work.scratch, &self.rows);
        work.pa
            .iter()
            .fold(0.0f64, |m, z| m.max(z.re.abs() + z.im.abs()))
    }

    /// `out` ← the explicit part −P(u·∇w) + f̂ at state `w`; returns max(|u| + |v|).
    fn explicit(&self, w: &[C64], out: &mut [C64], work: &mut Work) -> f64 {
        let zero = C64::new(0.0, 0.0);
        work.a.fill(zero);
        work.b.fill(zero);
        for (((&p, &wq), &kk), &il) in self.idx.iter().zip(w).zip(&self.kvec).zip(&self.inv_lap) {
            let wk = wq * kk;
            work.a[p] = wk * il;
            // ŵ_x + iŵ_y = iκ_x ŵ − κ_y ŵ = i ŵ (κ_x + iκ_y).
            work.b[p] = C64::new(-wk.im, wk.re);
        }
        self.fft
            .inverse(&mut work.a, &mut work.pa, &mut work.scratch, &self.rows);
        self.fft
            .inverse(&mut work.b, &mut work.pb, &mut work.scratch, &self.rows);
        let mut umax = 0.0f64;
        for (v, g) in work.pa.iter_mut().zip(&work.pb) {
            umax = umax.max(v.re.abs() + v.im.abs());
            *v = C64::new(v.re * g.re + v.im * g.im, 0.0);
        }
        self.fft
            .forward(&mut work.pa, &mut work.a, &mut work.scratch, &self.rows);
        let scale = -1.0 / (self.n * self.n) as f64;
        for ((o, &p), &f) in out.iter_mut().zip(&self.idx).zip(&self.forcing) {
            *o = work.a[p] * scale + f;
        }
        umax
    }

    /// ∂w/∂t of the semi-discrete equation at the grid values `w` (projected onto the kept
    /// modes first): −P(u·∇w) + νΔw + f, as grid values.
    pub fn tendency(&self, w: &[f64]) -> Vec<f64> {
        assert_eq!(w.len(), self.n * self.n, "w must hold n² values");
        let state = self.project(w);
        let mut work = self.work();
        let mut rhs = vec![C64::new(0.0, 0.0); state.len()];
        self.explicit(&state, &mut rhs, &mut work);
        for ((r, &w), &l) in rhs.iter_mut().zip(&state).zip(&self.lap) {
            *r -= w * (self.nu * l);
        }
        let mut out = Vec::new();
        self.to_grid(&rhs, &mut work, &mut out);
        out
    }

    /// The velocity (u, v) = (∂ψ/∂y, −∂ψ/∂x), −Δψ = w, of the grid values `w` (projected onto
    /// the kept modes), as grid values.
    pub fn velocity(&self, w: &[f64]) -> (Vec<f64>, Vec<f64>) {
        assert_eq!(w.len(), self.n * self.n, "w must hold n² values");
        let state = self.project(w);
        let mut work = self.work();
        self.velocity_into(&state, &mut work);
        (
            work.pa.iter().map(|z| z.re).collect(),
            work.pa.iter().map(|z| z.im).collect(),
        )
    }

    /// One RK3/CN step of length `dt` with stage factors `coef`; returns max(|u| + |v|) at
    /// the start of the step.
    fn step(&self, w: &mut [C64], coef: &StepFactors, work: &mut Work) -> f64 {
        let mut umax = 0.0;
        for s in 0..3 {
            let mut rhs = std::mem::take(&mut work.rhs);
            let u = self.explicit(w, &mut rhs, work);
            if s == 0 {
                umax = u;
            }
            let (keep, gain) = (&coef.keep[s], &coef.gain[s]);
            for q in 0..w.len() {
                w[q] = w[q] * keep[q] + (rhs[q] * GAMMA[s] + work.prev[q] * ZETA[s]) * gain[q];
            }
            work.rhs = std::mem::replace(&mut work.prev, rhs);
        }
        umax
    }
}

/// Per-mode factors of the three stages for one dt: w ← keep·w + gain·(γN + ζN_prev), keep =
/// (1 − c dt ν|κ|²)/(1 + c dt ν|κ|²), gain = dt/(1 + c dt ν|κ|²).
struct StepFactors {
    keep: [Vec<f64>; 3],
    gain: [Vec<f64>; 3],
}

impl StepFactors {
    fn new(solver: &VorticitySolver, dt: f64) -> Self {
        let make = |s: usize, num: bool| -> Vec<f64> {
            solver
                .lap
                .iter()
                .map(|&l| {
                    let a = CN[s] * dt * solver.nu * l;
                    if num {
                        (1.0 - a) / (1.0 + a)
                    } else {
                        dt / (1.0 + a)
                    }
                })
                .collect()
        };
        Self {
            keep: [make(0, true), make(1, true), make(2, true)],
            gain: [make(0, false), make(1, false), make(2, false)],
        }
    }
}

/// Step statistics of runs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    dt_min: f64,
    dt_max: f64,
    steps: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            dt_min: f64::INFINITY,
            dt_max: 0.0,
            steps: 0,
        }
    }
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.dt_min = self.dt_min.min(o.dt_min);
        self.dt_max = self.dt_max.max(o.dt_max);
        self.steps += o.steps;
    }
}

/// A run's solver on the simulation grid and the truncation to the output grid.
struct Runner {
    sim: VorticitySolver,
    /// The output grid's FFT and (kept mode q of the run, spectral index on the output grid),
    /// when the output grid is coarser.
    out: Option<(Fft2, Vec<(usize, usize)>)>,
    settings: NavierStokesSettings,
}

impl Runner {
    fn new(settings: &NavierStokesSettings) -> Result<Self, DatagenError> {
        let m = settings.sim_grid();
        let n = settings.resolution;
        let sim = VorticitySolver::new(m, settings.viscosity, settings.forcing)?;
        let out = (m != n).then(|| {
            let half = (n / 2) as i64;
            let wrap = |k: i64| k.rem_euclid(n as i64) as usize;
            let map = (0..sim.idx.len())
                .filter_map(|q| {
                    let k1 = (sim.kvec[q].re / (2.0 * PI)).round() as i64;
                    let k2 = (sim.kvec[q].im / (2.0 * PI)).round() as i64;
                    (k1.abs() < half && k2.abs() < half).then(|| (q, wrap(k2) * n + wrap(k1)))
                })
                .collect();
            (Fft2::new(n), map)
        });
        Ok(Self {
            sim,
            out,
            settings: settings.clone(),
        })
    }

    /// Appends the frame of state `w` on the output grid to `frames`; errors on a non-finite
    /// value.
    fn record(
        &self,
        w: &[C64],
        work: &mut Work,
        frames: &mut Vec<f64>,
        t: f64,
        dt: f64,
    ) -> Result<(), DatagenError> {
        let mut grid = Vec::new();
        match &self.out {
            None => self.sim.to_grid(w, work, &mut grid),
            Some((fft, map)) => {
                let n = fft.n;
                let z = C64::new(0.0, 0.0);
                let mut spec = vec![z; n * n];
                let mut phys = vec![z; n * n];
                let mut scratch = vec![z; fft.scratch_len];
                for &(q, p) in map {
                    spec[p] = w[q];
                }
                fft.inverse(&mut spec, &mut phys, &mut scratch, &[0..n, 0..0]);
                grid.extend(phys.iter().map(|z| z.re));
            }
        }
        if let Some(p) = grid.iter().position(|v| !v.is_finite()) {
            let hint = match self.settings.dt {
                Some(_) => "lower --dt",
                None => "lower --cfl or --max-dt",
            };
            let n = self.settings.resolution;
            return Err(DatagenError::Solve(format!(
                "the vorticity is {} at t = {t} (grid point i = {}, j = {}): the run blew up \
                 with time step {dt:.3e} ({hint}, or raise the viscosity or the resolution)",
                grid[p],
                p / n,
                p % n
            )));
        }
        frames.extend_from_slice(&grid);
        Ok(())
    }

    /// Runs from state `w` and returns the frames on the output grid.
    fn evolve(&self, mut w: Vec<C64>) -> Result<(Vec<f64>, Stats), DatagenError> {
        let s = &self.settings;
        let n = s.resolution;
        let h = 1.0 / s.sim_grid() as f64;
        let interval = s.record_interval;
        let mut work = self.sim.work();
        let mut frames = Vec::with_capacity(s.frame_count() * n * n);
        let mut stats = Stats::default();
        if s.include_initial {
            self.record(&w, &mut work, &mut frames, 0.0, 0.0)?;
        }
        let mut saved = w.clone();
        let mut coef: Option<(usize, StepFactors)> = None;
        for m in 1..=s.frames {
            saved.copy_from_slice(&w);
            let mut speed = self.sim.velocity_into(&w, &mut work);
            let mut tries = 0;
            let (substeps, dt) = loop {
                let substeps = match s.dt {
                    Some(d) => (interval / d).ceil().max(1.0) as usize,
                    None => {
                        let target = if speed > 0.0 {
                            (s.cfl * h / speed).min(s.max_dt)
                        } else {
                            s.max_dt
                        };
                        (interval / target).ceil().clamp(1.0, 1e9) as usize
                    }
                };
                let dt = interval / substeps as f64;
                if coef.as_ref().map(|c| c.0) != Some(substeps) {
                    coef = Some((substeps, StepFactors::new(&self.sim, dt)));
                }
                let factors = &coef.as_ref().expect("set above").1;
                work.prev.fill(C64::new(0.0, 0.0));
                let mut faster = None;
                for _ in 0..substeps {
                    let u = self.sim.step(&mut w, factors, &mut work);
                    if s.dt.is_none() && u * dt / h > CFL_REDO * s.cfl {
                        faster = Some(u);
                        break;
                    }
                }
                match faster {
                    None => break (substeps, dt),
                    Some(u) => {
                        tries += 1;
                        if tries > 30 {
                            return Err(DatagenError::Solve(format!(
                                "the flow keeps accelerating within the record interval ending \
                                 at t = {} (speed {u:.3e}): the run is blowing up",
                                m as f64 * interval
                            )));
                        }
                        w.copy_from_slice(&saved);
                        speed = 1.25 * u.max(speed);
                    }
                }
            };
            stats.steps += substeps as u64;
            stats.dt_min = stats.dt_min.min(dt);
            stats.dt_max = stats.dt_max.max(dt);
            self.record(&w, &mut work, &mut frames, m as f64 * interval, dt)?;
        }
        Ok((frames, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fft2_round_trip_and_mode_layout() {
        let n = 12;
        let fft = Fft2::new(n);
        let w: Vec<f64> = (0..n * n)
            .map(|p| {
                let (x, y) = ((p / n) as f64 / n as f64, (p % n) as f64 / n as f64);
                (2.0 * PI * (x + 2.0 * y)).cos()
            })
            .collect();
        let mut phys: Vec<C64> = w.iter().map(|&v| C64::new(v, 0.0)).collect();
        let mut spec = vec![C64::new(0.0, 0.0); n * n];
        let mut scratch = vec![C64::new(0.0, 0.0); fft.scratch_len];
        fft.forward(&mut phys, &mut spec, &mut scratch, &[0..n, 0..0]);
        // cos 2π(x + 2y): coefficient ½ at (k₁, k₂) = (1, 2) and (−1, −2); row k₂, column k₁.
        let scale = 1.0 / (n * n) as f64;
        assert!((spec[2 * n + 1] * scale - C64::new(0.5, 0.0)).norm() < 1e-14);
        assert!((spec[(n - 2) * n + n - 1] * scale - C64::new(0.5, 0.0)).norm() < 1e-14);
        let total: f64 = spec.iter().map(|z| (z * scale).norm_sqr()).sum();
        assert!((total - 0.5).abs() < 1e-14);
        let mut back = vec![C64::new(0.0, 0.0); n * n];
        fft.inverse(&mut spec, &mut back, &mut scratch, &[0..n, 0..0]);
        for (b, v) in back.iter().zip(&w) {
            assert!((b.re * scale - v).abs() < 1e-13 && b.im.abs() < 1e-13);
        }
    }

    #[test]
    fn forcing_and_modes_match_their_grid_values() {
        let n = 16;
        let solver = VorticitySolver::new(n, 0.0, 0.1).unwrap();
        // With w = 0 the tendency is the forcing itself.
        let f = solver.tendency(&vec![0.0; n * n]);
        for (p, &v) in f.iter().enumerate() {
            let s = 2.0 * PI * ((p / n) as f64 + (p % n) as f64) / n as f64;
            assert!((v - 0.1 * (s.sin() + s.cos())).abs() < 1e-15, "{p}");
        }
        // A drawn field's grid values equal its state's.
        let grf = TorusGrf::new(solver.max_wavenumber(), FNO_IC_SCALE, 7.0, 2.5);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let grid = grf.sample(n, &mut rng);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let state = solver.state_from_modes(&grf.sample_modes(&mut rng));
        let mut work = solver.work();
        let mut back = Vec::new();
        solver.to_grid(&state, &mut work, &mut back);
        for (a, b) in grid.iter().zip(&back) {
            assert!((a - b).abs() < 1e-14);
        }
        let projected = solver.project(&grid);
        for (a, b) in projected.iter().zip(&state) {
            assert!((a - b).norm() < 1e-14);
        }
    }
}
