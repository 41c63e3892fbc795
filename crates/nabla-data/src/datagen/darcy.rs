//! 2-D Darcy flow samples: −∇·(a∇u) = 1 on the unit square, u = 0 on its boundary, with the
//! piecewise-constant random coefficients of the FNO paper's data.

use std::sync::atomic::{AtomicUsize, Ordering};

use nabla_sparse::{Ic0, Pcg, SolveOptions, Solver, SparseMatrix};
use rayon::prelude::*;

use super::grf::CosineGrf;
use super::{sample_rng, DatagenError};
use crate::DarcyData;

/// Stream tag of the Darcy generator's per-sample random numbers.
const STREAM: u64 = 0xDA_4C1;

/// What `generate_darcy` draws and solves.
#[derive(Debug, Clone, PartialEq)]
pub struct DarcySettings {
    /// Grid points per axis S (≥ 3), boundary included: vertices `x_i = i/(S−1)`.
    pub resolution: usize,
    /// Number of samples N (≥ 1).
    pub samples: usize,
    /// Seed; sample k draws from a stream derived from `(seed, k)` alone.
    pub seed: u64,
    /// Relative residual ‖f − A u‖₂ / ‖f‖₂ every solve must reach (and that is re-checked).
    pub tol: f64,
    /// PCG iteration cap per sample.
    pub max_iters: usize,
    /// Inverse length scale τ of the random field ψ ~ N(0, (−Δ + τ²I)^{−α}).
    pub tau: f64,
    /// Smoothness α of the random field.
    pub alpha: f64,
    /// Coefficient where ψ ≥ 0.
    pub a_pos: f64,
    /// Coefficient where ψ < 0.
    pub a_neg: f64,
}

impl Default for DarcySettings {
    /// The FNO paper's data: S = 64 here, τ = 3, α = 2, a ∈ {12, 3}, solved to 1e-10.
    fn default() -> Self {
        Self {
            resolution: 64,
            samples: 1,
            seed: 0,
            tol: 1e-10,
            max_iters: 20_000,
            tau: 3.0,
            alpha: 2.0,
            a_pos: 12.0,
            a_neg: 3.0,
        }
    }
}

impl DarcySettings {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), DatagenError> {
        let bad = |m: String| Err(DatagenError::InvalidSettings(m));
        if self.resolution < 3 {
            return bad(format!(
                "resolution must be at least 3 (one interior point), got {}",
                self.resolution
            ));
        }
        if self.resolution > 8193 {
            return bad(format!(
                "resolution {} is above the supported 8193",
                self.resolution
            ));
        }
        if self.samples == 0 {
            return bad("samples must be at least 1".into());
        }
        if !(self.tol > 0.0 && self.tol < 1.0) {
            return bad(format!("tolerance must be in (0, 1), got {}", self.tol));
        }
        if self.max_iters == 0 {
            return bad("max_iters must be at least 1".into());
        }
        for (name, v) in [("tau", self.tau), ("alpha", self.alpha)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive and finite, got {v}"));
            }
        }
        for (name, v) in [("a_pos", self.a_pos), ("a_neg", self.a_neg)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!(
                    "coefficient {name} must be positive and finite, got {v}"
                ));
            }
        }
        Ok(())
    }
}

/// One solve: the solution on the whole grid and how it was reached.
#[derive(Debug, Clone)]
pub struct DarcySolution {
    /// u on all S×S vertices (zero on the boundary), `u[i*S + j]` = u(x_i, y_j).
    pub u: Vec<f64>,
    /// PCG iterations.
    pub iterations: usize,
    /// ‖f − A u‖₂ / ‖f‖₂ over the interior, recomputed from the stencil by
    /// [`darcy_residual`] (not the solver's own figure).
    pub relative_residual: f64,
}

/// Draws `settings.samples` coefficients and solves each Darcy problem (module docs), in
/// parallel over samples; `progress(done)` is called after each finished sample (from any
/// worker thread, `done` counting up to N).
///
/// Each coefficient is a(x) = `a_pos` where ψ(x) ≥ 0 and `a_neg` elsewhere, ψ a
/// [`CosineGrf`] on the S×S vertex grid; u solves the 5-point scheme of
/// −∇·(a∇u) = 1, u = 0 on ∂[0, 1]², with arithmetic-mean face coefficients
/// (a_{i+½,j} = (a_{i,j} + a_{i+1,j})/2), by IC(0)-preconditioned CG to `settings.tol`.
/// Every solution's residual is recomputed independently from the stencil and the call fails
/// if any is above `tol`. Results depend only on the settings, not on the thread count.
///
/// Returns the PDEBench layout: coefficient (`nu`), solution (`tensor`), coordinates
/// `x_i = y_i = i/(S−1)`, β = 1.
pub fn generate_darcy(
    settings: &DarcySettings,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<DarcyData, DatagenError> {
    settings.validate()?;
    let s = settings.resolution;
    let grf = CosineGrf::new(s, settings.tau, settings.alpha);
    let done = AtomicUsize::new(0);
    let per_sample: Vec<(Vec<f32>, Vec<f32>)> = (0..settings.samples)
        .into_par_iter()
        .map(|k| {
            let mut rng = sample_rng(settings.seed, k, STREAM);
            let psi = grf.sample(&mut rng);
            let a: Vec<f64> = psi
                .iter()
                .map(|&v| {
                    if v >= 0.0 {
                        settings.a_pos
                    } else {
                        settings.a_neg
                    }
                })
                .collect();
            let sol =
                solve_darcy(&a, s, settings.tol, settings.max_iters).map_err(|e| e.at_sample(k))?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok((
                a.iter().map(|&v| v as f32).collect(),
                sol.u.iter().map(|&v| v as f32).collect(),
            ))
        })
        .collect::<Result<_, DatagenError>>()?;
    let mut coefficient = Vec::with_capacity(settings.samples * s * s);
    let mut solution = Vec::with_capacity(settings.samples * s * s);
    for (a, u) in per_sample {
        coefficient.extend(a);
        solution.extend(u);
    }
    let coord: Vec<f32> = (0..s).map(|i| (i as f64 / (s - 1) as f64) as f32).collect();
    Ok(DarcyData {
        n: settings.samples,
        s,
        coefficient,
        solution,
        x: coord.clone(),
        y: coord,
        beta: 1.0,
    })
}

/// Solves −∇·(a∇u) = 1 on [0, 1]², u = 0 on the boundary, for one nodal coefficient
/// `a[i*S + j]` = a(x_i, y_j) on the S×S vertex grid (h = 1/(S−1)): the 5-point scheme with
/// arithmetic-mean face coefficients over the (S−2)² interior unknowns, an SPD system solved
/// by IC(0)-PCG to relative residual `tol`, then verified with [`darcy_residual`].
///
/// Errors on bad input (S < 3, wrong length, a coefficient that is not positive and finite),
/// when PCG stops above `tol` within `max_iters`, or when the recomputed residual is above
/// `tol`.
pub fn solve_darcy(
    a: &[f64],
    s: usize,
    tol: f64,
    max_iters: usize,
) -> Result<DarcySolution, DatagenError> {
    let bad = |m: String| Err(DatagenError::InvalidSettings(m));
    if s < 3 {
        return bad(format!("resolution must be at least 3, got {s}"));
    }
    if a.len() != s * s {
        return bad(format!(
            "coefficient has {} values, expected S² = {}",
            a.len(),
            s * s
        ));
    }
    if let Some(p) = a.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return bad(format!(
            "coefficient at (i={}, j={}) is {}; it must be positive and finite",
            p / s,
            p % s,
            a[p]
        ));
    }
    let m = s - 2;
    let unknowns = m * m;
    let idx = |i: usize, j: usize| (i - 1) * m + (j - 1);
    // Rows scaled by h²: entries O(a), right-hand side h²; the relative residual is the same
    // as for the unscaled equations.
    let h = 1.0 / (s - 1) as f64;
    let mut triplets = Vec::with_capacity(5 * unknowns);
    for i in 1..=m {
        for j in 1..=m {
            let p = idx(i, j);
            let here = a[i * s + j];
            let mut diag = 0.0;
            for (ni, nj) in [(i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)] {
                let face = 0.5 * (here + a[ni * s + nj]);
                diag += face;
                if (1..=m).contains(&ni) && (1..=m).contains(&nj) {
                    triplets.push((p, idx(ni, nj), -face));
                }
            }
            triplets.push((p, p, diag));
        }
    }
    let solve_err = |e: nabla_sparse::SparseError| DatagenError::Solve(e.to_string());
    let matrix = SparseMatrix::from_triplets(unknowns, &triplets).map_err(solve_err)?;
    let b = vec![h * h; unknowns];
    let mut x = vec![0.0; unknowns];
    let ic0 = Ic0::new(&matrix).map_err(solve_err)?;
    let mut pcg = Pcg::new(&matrix, Box::new(ic0));
    let report = pcg
        .solve(
            &b,
            &mut x,
            &SolveOptions {
                tol,
                max_iters,
                record_history: false,
                monitor: None,
            },
        )
        .map_err(solve_err)?;
    if !report.converged {
        return Err(DatagenError::Solve(format!(
            "IC(0)-PCG stopped at relative residual {:.3e} after {} iterations (target {tol:.0e})",
            report.relative_residual, report.iterations
        )));
    }
    let mut u = vec![0.0; s * s];
    for i in 1..=m {
        for j in 1..=m {
            u[i * s + j] = x[idx(i, j)];
        }
    }
    let relative_residual = darcy_residual(a, s, &u);
    if relative_residual.is_nan() || relative_residual > tol {
        return Err(DatagenError::Verification(format!(
            "recomputed relative residual {relative_residual:.3e} is above the tolerance {tol:.0e}"
        )));
    }
    Ok(DarcySolution {
        u,
        iterations: report.iterations,
        relative_residual,
    })
}

/// ‖f − A_h u‖₂ / ‖f‖₂ over the interior vertices for f = 1: the discrete Darcy operator
/// (A_h u)_{ij} = h⁻² Σ_faces a_face (u_{ij} − u_nb), a_face the arithmetic mean of the two
/// vertex coefficients, applied straight from the grid arrays (no matrix), with `u` given on
/// all S×S vertices (its boundary values are used as they are). `a` and `u` are `[i*S + j]`.
/// Returns infinity when the lengths do not match S².
pub fn darcy_residual(a: &[f64], s: usize, u: &[f64]) -> f64 {
    if s < 3 || a.len() != s * s || u.len() != s * s {
        return f64::INFINITY;
    }
    let inv_h2 = ((s - 1) * (s - 1)) as f64;
    let mut r2 = 0.0;
    for i in 1..s - 1 {
        for j in 1..s - 1 {
            let p = i * s + j;
            let flux = |q: usize| 0.5 * (a[p] + a[q]) * (u[p] - u[q]);
            let au = inv_h2 * (flux(p - s) + flux(p + s) + flux(p - 1) + flux(p + 1));
            r2 += (1.0 - au) * (1.0 - au);
        }
    }
    let f2 = ((s - 2) * (s - 2)) as f64;
    (r2 / f2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// −Δu = 1 on the unit square: u(½, ½) = 0.0736713532814... (series solution).
    const CENTER_EXACT: f64 = 0.073_671_353_281_4;

    #[test]
    fn constant_coefficient_converges_to_the_continuous_centre_value() {
        let mut errors = Vec::new();
        for s in [17, 33, 65] {
            let a = vec![1.0; s * s];
            let sol = solve_darcy(&a, s, 1e-10, 10_000).unwrap();
            assert!(sol.relative_residual <= 1e-10);
            let c = (s - 1) / 2;
            errors.push((sol.u[c * s + c] - CENTER_EXACT).abs());
            // a = 4 gives u/4.
            let sol4 = solve_darcy(&vec![4.0; s * s], s, 1e-10, 10_000).unwrap();
            assert!((4.0 * sol4.u[c * s + c] - sol.u[c * s + c]).abs() < 1e-9);
        }
        assert!(errors[2] < 2e-5, "{errors:?}");
        // Second order: each halving of h cuts the error by about 4.
        for w in errors.windows(2) {
            let ratio = w[0] / w[1];
            assert!((3.5..4.5).contains(&ratio), "{errors:?}");
        }
    }

    #[test]
    fn symmetric_coefficient_gives_symmetric_solution_and_small_residual() {
        let s = 24;
        // Symmetric under i <-> j, with the 12/3 contrast of the data.
        let a: Vec<f64> = (0..s * s)
            .map(|p| {
                let (i, j) = (p / s, p % s);
                if (i * j + i + j) % 5 < 2 {
                    12.0
                } else {
                    3.0
                }
            })
            .collect();
        let sol = solve_darcy(&a, s, 1e-10, 10_000).unwrap();
        let umax = sol.u.iter().cloned().fold(0.0, f64::max);
        for i in 0..s {
            for j in 0..s {
                assert!(
                    (sol.u[i * s + j] - sol.u[j * s + i]).abs() <= 1e-8 * umax,
                    "({i},{j})"
                );
            }
            assert_eq!(sol.u[i], 0.0);
            assert_eq!(sol.u[i * s + s - 1], 0.0);
        }
        assert!(darcy_residual(&a, s, &sol.u) <= 1e-10);
        // The check is real: perturbing u breaks it.
        let mut bad = sol.u.clone();
        bad[5 * s + 7] *= 1.0 + 1e-6;
        assert!(darcy_residual(&a, s, &bad) > 1e-9);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        assert!(solve_darcy(&[1.0; 4], 2, 1e-10, 10).is_err());
        assert!(solve_darcy(&[1.0; 8], 3, 1e-10, 10).is_err());
        let mut a = vec![1.0; 9];
        a[4] = -1.0;
        let e = solve_darcy(&a, 3, 1e-10, 10).unwrap_err().to_string();
        assert!(e.contains("(i=1, j=1) is -1"), "{e}");
        let e = solve_darcy(&vec![1.0; 400], 20, 1e-10, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stopped at relative residual"), "{e}");
        let e = generate_darcy(
            &DarcySettings {
                samples: 0,
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "samples must be at least 1");
    }

    #[test]
    fn samples_are_verified_reproducible_and_independent_of_threads() {
        let settings = DarcySettings {
            resolution: 20,
            samples: 6,
            seed: 11,
            ..Default::default()
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let calls = AtomicUsize::new(0);
            let data = pool
                .install(|| {
                    generate_darcy(&settings, &|_| {
                        calls.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .unwrap();
            assert_eq!(calls.load(Ordering::Relaxed), 6);
            data
        };
        let one = run(1);
        let three = run(3);
        assert_eq!(one, three);
        let (s, field) = (20, 400);
        assert_eq!((one.n, one.s, one.beta), (6, s, 1.0));
        assert_eq!(one.x[0], 0.0);
        assert_eq!(one.x[s - 1], 1.0);
        assert_eq!(one.coefficient.len(), 6 * field);
        for k in 0..6 {
            let a: Vec<f64> = one.coefficient[k * field..(k + 1) * field]
                .iter()
                .map(|&v| v as f64)
                .collect();
            assert!(a.iter().all(|&v| v == 3.0 || v == 12.0));
            let highs = a.iter().filter(|&&v| v == 12.0).count();
            assert!(highs > 0 && highs < field, "sample {k}: {highs}");
            // The stored f32 solution satisfies the scheme to f32 precision.
            let u: Vec<f64> = one.solution[k * field..(k + 1) * field]
                .iter()
                .map(|&v| v as f64)
                .collect();
            assert!(darcy_residual(&a, s, &u) < 1e-4);
            let exact = solve_darcy(&a, s, 1e-10, 10_000).unwrap();
            assert!(exact.relative_residual <= 1e-10);
            assert!(u.iter().all(|&v| v >= 0.0));
        }
        // Sample k's draw depends only on (seed, k): a longer run repeats the shorter one.
        let longer = generate_darcy(
            &DarcySettings {
                samples: 8,
                ..settings.clone()
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(longer.coefficient[..6 * field], one.coefficient[..]);
        let other_seed = generate_darcy(
            &DarcySettings {
                seed: 12,
                ..settings.clone()
            },
            &|_| {},
        )
        .unwrap();
        assert_ne!(other_seed.coefficient, one.coefficient);
    }
}
