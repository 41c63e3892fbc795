//! 1-D viscous Burgers samples: u_t + (u²/2)_x = ν u_xx on the periodic interval [0, 1),
//! from random initial conditions, solved pseudo-spectrally (FFT, 2/3-rule dealiasing) with
//! the fourth-order exponential time-differencing Runge–Kutta scheme ETDRK4 of Cox–Matthews
//! in the form of Kassam & Trefethen (2005): the stiff diffusion is integrated exactly, the
//! nonlinear term explicitly.

use std::f64::consts::PI;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::grf::PeriodicGrf;
use super::{sample_rng, DatagenError};
use crate::Series1dData;

/// Stream tag of the Burgers generator's per-sample random numbers.
const STREAM: u64 = 0xB0_26E5;

type C64 = Complex<f64>;

/// What `generate_burgers` draws and solves.
#[derive(Debug, Clone, PartialEq)]
pub struct BurgersSettings {
    /// Grid points Nx (≥ 8): cell centres `x_j = (j + ½)/Nx` of [0, 1).
    pub resolution: usize,
    /// Number of trajectories N (≥ 1).
    pub samples: usize,
    /// Seed; trajectory k draws from a stream derived from `(seed, k)` alone.
    pub seed: u64,
    /// Viscosity ν (> 0).
    pub nu: f64,
    /// Final time T (> 0).
    pub t_final: f64,
    /// Snapshots Nt saved per trajectory, t = 0 and t = T included (≥ 2): t_m = m·T/(Nt − 1).
    pub steps: usize,
    /// Largest internal time step; each save interval T/(Nt − 1) is split into the fewest
    /// equal steps not longer than this.
    pub max_dt: f64,
    /// Amplitude σ of the initial field u₀ ~ N(0, σ²(−Δ + τ²I)^{−γ}).
    pub sigma: f64,
    /// Inverse length scale τ of the initial field.
    pub tau: f64,
    /// Smoothness γ of the initial field.
    pub gamma: f64,
    /// Every `verify_every`-th trajectory (k = 0, v, 2v, ...) is solved again with half the
    /// time step and compared; 0 checks none.
    pub verify_every: usize,
    /// Largest allowed max-norm difference between the two runs, relative to max |u₀|.
    pub verify_tol: f64,
}

impl Default for BurgersSettings {
    /// The FNO paper's Burgers data (σ = 25, τ = 5, γ = 2, ν = 0.1) at Nx = 1024, saved at
    /// 101 times on [0, 1], internal step ≤ 5e-4 (its step-halving difference is ~1.5e-9
    /// relative, below f32 resolution), every 50th trajectory checked by step halving to
    /// 1e-7.
    fn default() -> Self {
        Self {
            resolution: 1024,
            samples: 1,
            seed: 0,
            nu: 0.1,
            t_final: 1.0,
            steps: 101,
            max_dt: 5e-4,
            sigma: 25.0,
            tau: 5.0,
            gamma: 2.0,
            verify_every: 50,
            verify_tol: 1e-7,
        }
    }
}

impl BurgersSettings {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), DatagenError> {
        let bad = |m: String| Err(DatagenError::InvalidSettings(m));
        if !(8..=1 << 20).contains(&self.resolution) {
            return bad(format!(
                "resolution must be in 8..=1048576, got {}",
                self.resolution
            ));
        }
        if self.samples == 0 {
            return bad("samples must be at least 1".into());
        }
        if self.steps < 2 {
            return bad(format!(
                "steps (snapshots, t = 0 and t = T included) must be at least 2, got {}",
                self.steps
            ));
        }
        for (name, v) in [
            ("nu", self.nu),
            ("t_final", self.t_final),
            ("max_dt", self.max_dt),
            ("sigma", self.sigma),
            ("tau", self.tau),
            ("gamma", self.gamma),
            ("verify_tol", self.verify_tol),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive and finite, got {v}"));
            }
        }
        let substeps = self.substeps();
        if substeps > 100_000_000 {
            return bad(format!(
                "max_dt {:e} needs {substeps} internal steps per save interval; raise it",
                self.max_dt
            ));
        }
        Ok(())
    }

    /// Time between saved snapshots, T/(Nt − 1).
    pub fn save_interval(&self) -> f64 {
        self.t_final / (self.steps.max(2) - 1) as f64
    }

    /// Internal steps per save interval.
    pub fn substeps(&self) -> usize {
        let m = (self.save_interval() / self.max_dt).ceil();
        if m.is_finite() && m >= 1.0 {
            m.min(1e12) as usize
        } else {
            1
        }
    }

    /// The internal time step actually used.
    pub fn dt(&self) -> f64 {
        self.save_interval() / self.substeps() as f64
    }
}

/// Draws `settings.samples` initial conditions u₀ ([`PeriodicGrf`]) and solves Burgers'
/// equation for each, in parallel over trajectories; `progress(done)` is called after each
/// finished trajectory.
///
/// Trajectory k is saved at `settings.steps` times t_m = m·T/(Nt − 1) (m = 0 is u₀). Checks:
/// every snapshot is finite, resolved (after t = 0, at most 1e-3 of the norm of u in the top
/// third of the kept Fourier modes — ν too small for Nx fails here), and obeys the maximum
/// principle (max |u(t)| ≤ max |u₀| to 1e-3 relative); every `verify_every`-th trajectory
/// agrees with a half-step run to `verify_tol`. Results depend only on the settings, not on the thread count.
///
/// Returns the PDEBench 1-D layout: `tensor` [N, Nt, Nx], x = cell centres, t with Nt + 1
/// entries (PDEBench's convention, the last one past T), `nu` = ν.
pub fn generate_burgers(
    settings: &BurgersSettings,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Series1dData, DatagenError> {
    settings.validate()?;
    let nx = settings.resolution;
    let nt = settings.steps;
    let grf = PeriodicGrf::new(nx, settings.sigma, settings.tau, settings.gamma);
    let solver = Etdrk4::new(nx, settings.nu, settings.dt());
    let half = if settings.verify_every > 0 {
        Some(Etdrk4::new(nx, settings.nu, settings.dt() / 2.0))
    } else {
        None
    };
    let substeps = settings.substeps();
    let done = AtomicUsize::new(0);
    let per_sample: Vec<Vec<f32>> = (0..settings.samples)
        .into_par_iter()
        .map(|k| {
            let mut rng = sample_rng(settings.seed, k, STREAM);
            let u0 = grf.sample(&mut rng);
            let (run, tail) = solver.evolve(&u0, nt, substeps);
            check_trajectory(&run, nx, tail).map_err(|e| e.at_sample(k))?;
            if let Some(half) = &half {
                if k % settings.verify_every == 0 {
                    let (fine, _) = half.evolve(&u0, nt, 2 * substeps);
                    check_step_halving(&run, &fine, nx, settings.verify_tol)
                        .map_err(|e| e.at_sample(k))?;
                }
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok(run.iter().map(|&v| v as f32).collect())
        })
        .collect::<Result<_, DatagenError>>()?;
    let dt_save = settings.save_interval();
    Ok(Series1dData {
        n: settings.samples,
        nt,
        nx,
        tensor: per_sample.concat(),
        x: (0..nx)
            .map(|j| ((j as f64 + 0.5) / nx as f64) as f32)
            .collect(),
        t: (0..=nt).map(|m| (m as f64 * dt_save) as f32).collect(),
        nu: settings.nu,
    })
}

/// Solves u_t + (u²/2)_x = ν u_xx on the periodic [0, 1) from the grid values `u0` (any
/// equispaced grid of [0, 1), at least 8 points) and returns `steps` snapshots
/// `out[m*Nx + j]` at t_m = m·t_final/(steps − 1), m = 0 being `u0` itself. The internal step
/// is the largest that divides each save interval and is ≤ `max_dt`.
pub fn solve_burgers(
    u0: &[f64],
    nu: f64,
    t_final: f64,
    steps: usize,
    max_dt: f64,
) -> Result<Vec<f64>, DatagenError> {
    let settings = BurgersSettings {
        resolution: u0.len(),
        nu,
        t_final,
        steps,
        max_dt,
        ..Default::default()
    };
    settings.validate()?;
    if let Some(j) = u0.iter().position(|v| !v.is_finite()) {
        return Err(DatagenError::InvalidSettings(format!(
            "initial value {j} is {}",
            u0[j]
        )));
    }
    let solver = Etdrk4::new(u0.len(), nu, settings.dt());
    let (run, tail) = solver.evolve(u0, steps, settings.substeps());
    check_trajectory(&run, u0.len(), tail)?;
    Ok(run)
}

/// Largest spectral tail fraction allowed after t = 0 (see [`Etdrk4::tail_fraction`]).
const MAX_TAIL: f64 = 1e-3;

/// Finite everywhere, resolved (`tail` ≤ [`MAX_TAIL`]) and within the maximum principle of
/// viscous Burgers.
fn check_trajectory(run: &[f64], nx: usize, tail: f64) -> Result<(), DatagenError> {
    if let Some(p) = run.iter().position(|v| !v.is_finite()) {
        return Err(DatagenError::Verification(format!(
            "u is {} at snapshot {}, point {} (the time step is too long for this ν and Nx)",
            run[p],
            p / nx,
            p % nx
        )));
    }
    if tail > MAX_TAIL {
        return Err(DatagenError::Verification(format!(
            "{:.1}% of the norm of u lies in the top third of the resolved modes: the grid does \
             not resolve this ν (raise the resolution or ν)",
            100.0 * tail
        )));
    }
    let max_abs = |s: &[f64]| s.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let m0 = max_abs(&run[..nx]);
    for (m, snap) in run.chunks(nx).enumerate().skip(1) {
        let mm = max_abs(snap);
        if mm > m0 * (1.0 + 1e-3) + 1e-12 {
            return Err(DatagenError::Verification(format!(
                "max |u| grew from {m0:.6} to {mm:.6} by snapshot {m}, against the maximum \
                 principle: the grid does not resolve this ν (raise the resolution or ν)"
            )));
        }
    }
    Ok(())
}

fn check_step_halving(run: &[f64], fine: &[f64], nx: usize, tol: f64) -> Result<(), DatagenError> {
    let scale = run[..nx]
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-300);
    let diff = run
        .iter()
        .zip(fine)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    if diff > tol * scale {
        return Err(DatagenError::Verification(format!(
            "the half-step run differs by {:.3e} (relative to max |u0|), above {tol:.0e}: \
             lower max_dt",
            diff / scale
        )));
    }
    Ok(())
}

/// ETDRK4 for v̂' = L v̂ + N(v̂) with L = −ν(2πk)² diagonal in Fourier space and
/// N(v̂) = −½ i(2πk) · P(FFT(u²)), P the 2/3-rule projection (modes |k| ≤ Nx/3 kept).
struct Etdrk4 {
    n: usize,
    e: Vec<f64>,
    e2: Vec<f64>,
    q: Vec<f64>,
    f1: Vec<f64>,
    f2: Vec<f64>,
    f3: Vec<f64>,
    /// −½ iκ on kept modes, 0 on dealiased ones (and on the Nyquist mode).
    g: Vec<C64>,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
}

/// Points on the contour for the φ-function coefficients (Kassam & Trefethen use 32 on the
/// upper half circle; the real part gives the full-circle mean for real L).
const CONTOUR: usize = 32;

impl Etdrk4 {
    fn new(n: usize, nu: f64, dt: f64) -> Self {
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let kmax = n / 3;
        let mut s = Self {
            n,
            e: vec![0.0; n],
            e2: vec![0.0; n],
            q: vec![0.0; n],
            f1: vec![0.0; n],
            f2: vec![0.0; n],
            f3: vec![0.0; n],
            g: vec![C64::new(0.0, 0.0); n],
            fwd,
            inv,
        };
        for k in 0..n {
            let ks = if k <= n / 2 {
                k as f64
            } else {
                k as f64 - n as f64
            };
            let kappa = 2.0 * PI * ks;
            let hl = -nu * kappa * kappa * dt;
            s.e[k] = hl.exp();
            s.e2[k] = (hl / 2.0).exp();
            let (mut q, mut f1, mut f2, mut f3) = (0.0, 0.0, 0.0, 0.0);
            for m in 0..CONTOUR {
                let theta = PI * (m as f64 + 0.5) / CONTOUR as f64;
                let r = C64::new(hl, 0.0) + C64::from_polar(1.0, theta);
                let er = r.exp();
                let r3 = r * r * r;
                q += (((r / 2.0).exp() - 1.0) / r).re;
                f1 += ((-4.0 - r + er * (4.0 - 3.0 * r + r * r)) / r3).re;
                f2 += ((2.0 + r + er * (r - 2.0)) / r3).re;
                f3 += ((-4.0 - 3.0 * r - r * r + er * (4.0 - r)) / r3).re;
            }
            let w = dt / CONTOUR as f64;
            s.q[k] = q * w;
            s.f1[k] = f1 * w;
            s.f2[k] = f2 * w;
            s.f3[k] = f3 * w;
            let is_nyquist = 2 * k == n;
            if (ks.abs() as usize) <= kmax && !is_nyquist {
                s.g[k] = C64::new(0.0, -0.5 * kappa);
            }
        }
        s
    }

    /// out ← N(v): −½ iκ P FFT(u²), u = IFFT(v)/n taken real.
    fn nonlinear(&self, v: &[C64], out: &mut [C64], scratch: &mut [C64]) {
        out.copy_from_slice(v);
        self.inv.process_with_scratch(out, scratch);
        let inv_n2 = 1.0 / (self.n as f64 * self.n as f64);
        for z in out.iter_mut() {
            *z = C64::new(z.re * z.re * inv_n2, 0.0);
        }
        self.fwd.process_with_scratch(out, scratch);
        for (z, g) in out.iter_mut().zip(&self.g) {
            *z *= g;
        }
    }

    /// ‖v restricted to (2/3)K < |k| ≤ K‖ / ‖v‖, K = Nx/3 the highest kept mode: near zero
    /// for a resolved solution, large once a front is too sharp for the grid.
    fn tail_fraction(&self, v: &[C64]) -> f64 {
        let kmax = self.n / 3;
        let (mut tail, mut total) = (0.0, 0.0);
        for (k, z) in v.iter().enumerate() {
            let ks = k.min(self.n - k);
            let e = z.norm_sqr();
            total += e;
            if 3 * ks > 2 * kmax && ks <= kmax {
                tail += e;
            }
        }
        if total > 0.0 {
            (tail / total).sqrt()
        } else {
            0.0
        }
    }

    /// `steps` snapshots, `substeps` ETDRK4 steps apart, from grid values `u0`, and the
    /// largest [`Self::tail_fraction`] over the snapshots after t = 0.
    fn evolve(&self, u0: &[f64], steps: usize, substeps: usize) -> (Vec<f64>, f64) {
        let n = self.n;
        let zero = C64::new(0.0, 0.0);
        let scratch_len = self
            .fwd
            .get_inplace_scratch_len()
            .max(self.inv.get_inplace_scratch_len());
        let mut scratch = vec![zero; scratch_len];
        let mut v: Vec<C64> = u0.iter().map(|&x| C64::new(x, 0.0)).collect();
        self.fwd.process_with_scratch(&mut v, &mut scratch);
        let [mut nv, mut a, mut na, mut b, mut nb, mut c, mut nc, mut phys] =
            std::array::from_fn(|_| vec![zero; n]);
        let mut out = Vec::with_capacity(steps * n);
        let mut tail = 0.0f64;
        out.extend_from_slice(u0);
        for _ in 1..steps {
            for _ in 0..substeps {
                self.nonlinear(&v, &mut nv, &mut scratch);
                for k in 0..n {
                    a[k] = v[k] * self.e2[k] + nv[k] * self.q[k];
                }
                self.nonlinear(&a, &mut na, &mut scratch);
                for k in 0..n {
                    b[k] = v[k] * self.e2[k] + na[k] * self.q[k];
                }
                self.nonlinear(&b, &mut nb, &mut scratch);
                for k in 0..n {
                    c[k] = a[k] * self.e2[k] + (nb[k] * 2.0 - nv[k]) * self.q[k];
                }
                self.nonlinear(&c, &mut nc, &mut scratch);
                for k in 0..n {
                    v[k] = v[k] * self.e[k]
                        + nv[k] * self.f1[k]
                        + (na[k] + nb[k]) * (2.0 * self.f2[k])
                        + nc[k] * self.f3[k];
                }
            }
            tail = tail.max(self.tail_fraction(&v));
            phys.copy_from_slice(&v);
            self.inv.process_with_scratch(&mut phys, &mut scratch);
            let inv_n = 1.0 / n as f64;
            out.extend(phys.iter().map(|z| z.re * inv_n));
        }
        (out, tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Cole–Hopf solution from φ = c + e^{−ν(2π)²t} cos 2πx: u = −2ν φ_x / φ.
    fn cole_hopf(x: f64, t: f64, nu: f64, c: f64) -> f64 {
        let d = (-nu * 4.0 * PI * PI * t).exp();
        4.0 * PI * nu * d * (2.0 * PI * x).sin() / (c + d * (2.0 * PI * x).cos())
    }

    fn max_error(nx: usize, nu: f64, c: f64, t_final: f64, steps: usize, dt: f64) -> f64 {
        let x: Vec<f64> = (0..nx).map(|j| (j as f64 + 0.5) / nx as f64).collect();
        let u0: Vec<f64> = x.iter().map(|&x| cole_hopf(x, 0.0, nu, c)).collect();
        let run = solve_burgers(&u0, nu, t_final, steps, dt).unwrap();
        let mut err = 0.0f64;
        for m in 0..steps {
            let t = m as f64 * t_final / (steps - 1) as f64;
            for (j, &xj) in x.iter().enumerate() {
                err = err.max((run[m * nx + j] - cole_hopf(xj, t, nu, c)).abs());
            }
        }
        err
    }

    #[test]
    fn matches_the_exact_cole_hopf_solution() {
        // Smooth case: spectral accuracy in space, ETDRK4 in time.
        let err = max_error(64, 0.1, 2.0, 0.5, 6, 1e-3);
        assert!(err < 1e-10, "{err:e}");
    }

    #[test]
    fn time_stepping_is_fourth_order() {
        // A steep front (c close to 1, small ν) and long steps, so the time error dominates.
        let errs: Vec<f64> = [0.02, 0.01, 0.005]
            .iter()
            .map(|&dt| max_error(256, 0.01, 1.1, 0.2, 3, dt))
            .collect();
        for w in errs.windows(2) {
            let order = (w[0] / w[1]).log2();
            assert!((3.5..5.0).contains(&order), "errors {errs:?}");
        }
        assert!(errs[2] < 1e-5, "{errs:?}");
    }

    #[test]
    fn generated_trajectories_are_checked_and_thread_independent() {
        let settings = BurgersSettings {
            resolution: 64,
            samples: 5,
            seed: 3,
            steps: 11,
            t_final: 0.5,
            max_dt: 1e-3,
            verify_every: 2,
            ..Default::default()
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| generate_burgers(&settings, &|_| {}))
                .unwrap()
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!((one.n, one.nt, one.nx, one.nu), (5, 11, 64, 0.1));
        assert_eq!(one.t.len(), 12);
        assert!((one.t[10] - 0.5).abs() < 1e-7 && (one.t[11] - 0.55).abs() < 1e-7);
        assert!((one.x[0] - 0.5 / 64.0).abs() < 1e-9);
        for k in 0..5 {
            let traj = &one.tensor[k * 11 * 64..(k + 1) * 11 * 64];
            // Mean conserved, energy decays.
            let mean0: f32 = traj[..64].iter().sum::<f32>() / 64.0;
            let mean_end: f32 = traj[10 * 64..].iter().sum::<f32>() / 64.0;
            assert!(mean0.abs() < 1e-5 && mean_end.abs() < 1e-5);
            let energy = |m: usize| {
                traj[m * 64..(m + 1) * 64]
                    .iter()
                    .map(|v| v * v)
                    .sum::<f32>()
            };
            for m in 1..11 {
                assert!(energy(m) < energy(m - 1), "sample {k}, snapshot {m}");
            }
        }
        let more = generate_burgers(
            &BurgersSettings {
                samples: 7,
                ..settings.clone()
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(more.tensor[..one.tensor.len()], one.tensor[..]);
    }

    #[test]
    fn settings_and_blow_ups_are_errors() {
        let e = generate_burgers(
            &BurgersSettings {
                steps: 1,
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap_err();
        assert!(e.is_settings() && e.to_string().contains("steps"), "{e}");
        let e = solve_burgers(&[0.0; 4], 0.1, 1.0, 3, 1e-3).unwrap_err();
        assert!(e.to_string().contains("resolution"), "{e}");
        // ν far too small for 32 points: the front is not resolved.
        let u0: Vec<f64> = (0..32)
            .map(|j| (2.0 * PI * (j as f64 + 0.5) / 32.0).sin())
            .collect();
        let e = solve_burgers(&u0, 1e-4, 1.0, 3, 1e-3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("verification failed"), "{e}");
    }
}
