//! Tests of the exact / reference solutions in `nabla_pinn::reference`.

use nabla_pinn::reference::{
    burgers_cole_hopf, burgers_cole_hopf_composite, burgers_cole_hopf_gauss_hermite,
    burgers_reference_grid, burgers_reference_points, GaussHermite, TwoBody, BURGERS_NU,
};
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

const NU: f64 = BURGERS_NU;

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Gauss–Hermite rule
// ----------------------------------------------------------------------------------------------

#[test]
fn gauss_hermite_rule_is_exact_for_polynomials_and_accurate_for_smooth_functions() {
    for n in [1usize, 2, 5, 20, 64, 256, 1024] {
        let rule = GaussHermite::new(n);
        assert_eq!(rule.len(), n);
        assert!(!rule.is_empty());
        assert!(
            rule.nodes().windows(2).all(|w| w[0] < w[1]),
            "n = {n}: nodes not ascending"
        );
        for (a, b) in rule.nodes().iter().zip(rule.nodes().iter().rev()) {
            assert_eq!(*a, -*b, "n = {n}: nodes not symmetric");
        }
        // ∫ z^{2k} e^{−z²} dz = Γ(k + 1/2), exact for 2k ≤ 2n − 1.
        let mut gamma = PI.sqrt();
        for k in 0..6usize {
            if 2 * k < 2 * n {
                let q = rule.integrate(|z| z.powi(2 * k as i32));
                assert!(
                    (q - gamma).abs() < 1e-13 * gamma,
                    "n = {n}, k = {k}: {q} vs {gamma}"
                );
            }
            gamma *= k as f64 + 0.5;
        }
        // Odd moments vanish.
        assert!(rule.integrate(|z| z * z * z).abs() < 1e-13);
        if n >= 20 {
            let exact = PI.sqrt() * (-0.25f64).exp();
            assert!((rule.integrate(f64::cos) - exact).abs() < 1e-14);
        }
    }
    // The largest node of the 1024-point rule (≈ 44.0) has a weight far below f64's range:
    // the logarithm is still finite.
    let rule = GaussHermite::new(1024);
    let last = *rule.log_weights().last().unwrap();
    assert!(last.is_finite() && last < -1500.0, "ln w_max = {last}");
}

// ----------------------------------------------------------------------------------------------
// Burgers
// ----------------------------------------------------------------------------------------------

#[test]
fn burgers_initial_condition_is_exact() {
    for x in linspace(-1.0, 1.0, 41) {
        assert_eq!(burgers_cole_hopf(x, 0.0, NU), -(PI * x).sin());
    }
    // Continuity as t → 0+ (the quadrature, not the shortcut).
    for x in linspace(-1.0, 1.0, 41) {
        let u = burgers_cole_hopf(x, 1e-10, NU);
        assert!((u + (PI * x).sin()).abs() < 1e-8, "x = {x}: {u}");
    }
}

#[test]
fn burgers_invalid_arguments_give_nan() {
    assert!(burgers_cole_hopf(0.3, 0.5, 0.0).is_nan());
    assert!(burgers_cole_hopf(0.3, 0.5, -1.0).is_nan());
    assert!(burgers_cole_hopf(0.3, -0.1, NU).is_nan());
    assert!(burgers_cole_hopf(f64::NAN, 0.5, NU).is_nan());
    assert!(burgers_cole_hopf(0.3, f64::INFINITY, NU).is_nan());
}

#[test]
fn burgers_is_odd_in_x_and_zero_on_the_boundary() {
    for t in [1e-3, 0.1, 0.3, 0.5, 1.6037 / PI, 0.75, 1.0, 3.0] {
        for x in linspace(0.0, 1.0, 51) {
            let (up, um) = (burgers_cole_hopf(x, t, NU), burgers_cole_hopf(-x, t, NU));
            assert!((up + um).abs() < 1e-13, "t = {t}, x = {x}: {up} vs {um}");
        }
        for x in [-1.0, 1.0] {
            let u = burgers_cole_hopf(x, t, NU);
            assert!(u.abs() < 1e-10, "u({x}, {t}) = {u}");
        }
        assert!(burgers_cole_hopf(0.0, t, NU).abs() < 1e-13);
    }
    // Other viscosities as well.
    for nu in [0.1 / PI, 0.05, 0.001 / PI] {
        for t in [0.2, 1.0] {
            assert!(burgers_cole_hopf(1.0, t, nu).abs() < 1e-10);
            assert!(burgers_cole_hopf(-1.0, t, nu).abs() < 1e-10);
        }
    }
}

/// Residual u_t + u u_x − ν u_xx at (x, t) by fourth-order central differences with step h,
/// and the scale |u_t| + |u u_x| + |ν u_xx| of its terms.
fn burgers_residual(x: f64, t: f64, h: f64) -> (f64, f64) {
    let u = |x: f64, t: f64| burgers_cole_hopf(x, t, NU);
    let d1 =
        |f: &dyn Fn(f64) -> f64| (f(-2.0) - 8.0 * f(-1.0) + 8.0 * f(1.0) - f(2.0)) / (12.0 * h);
    let u0 = u(x, t);
    let u_t = d1(&|k| u(x, t + k * h));
    let u_x = d1(&|k| u(x + k * h, t));
    let u_xx = (-u(x - 2.0 * h, t) + 16.0 * u(x - h, t) - 30.0 * u0 + 16.0 * u(x + h, t)
        - u(x + 2.0 * h, t))
        / (12.0 * h * h);
    let residual = u_t + u0 * u_x - NU * u_xx;
    (residual, u_t.abs() + (u0 * u_x).abs() + (NU * u_xx).abs())
}

#[test]
fn burgers_satisfies_the_pde_away_from_the_shock() {
    let mut worst = 0.0f64;
    for &t in &[0.05, 0.2, 0.4, 0.7, 1.0] {
        for &x in &[-0.9, -0.6, -0.3, 0.2, 0.45, 0.8, 0.95] {
            let (residual, scale) = burgers_residual(x, t, 1e-3);
            assert!(scale > 1e-2, "({x}, {t}): scale {scale:e}");
            worst = worst.max(residual.abs() / scale.max(0.1));
        }
    }
    // Inside the steepening front before the shock forms (|u_x| up to ~20), smaller step.
    for &(x, t) in &[(0.05, 0.2), (-0.02, 0.25), (0.1, 0.3)] {
        let (residual, scale) = burgers_residual(x, t, 1e-4);
        assert!(scale > 1.0, "({x}, {t}): scale {scale:e}");
        worst = worst.max(residual.abs() / scale);
    }
    eprintln!("worst relative PDE residual: {worst:e}");
    assert!(worst < 1e-7, "worst relative PDE residual {worst:e}");
}

/// ∂u/∂x at (x, t) by a central difference with step h.
fn u_x(x: f64, t: f64, h: f64) -> f64 {
    (burgers_cole_hopf(x + h, t, NU) - burgers_cole_hopf(x - h, t, NU)) / (2.0 * h)
}

#[test]
fn burgers_shock_slope_matches_basdevant_et_al() {
    // Basdevant et al. (1986), "Spectral and finite difference solutions of the Burgers
    // equation", ν = 0.01/π: max |∂u/∂x| = 152.00516 at x = 0, t = 1.6037/π.
    let t_star = 1.6037 / PI;
    let slope = u_x(0.0, t_star, 1e-6);
    assert!((slope + 152.00516).abs() < 2e-4, "u_x(0, t*) = {slope}");
    assert!(u_x(0.0, t_star - 0.01, 1e-6).abs() < slope.abs());
    assert!(u_x(0.0, t_star + 0.01, 1e-6).abs() < slope.abs());
    // At t = 1 the front has relaxed to |u_x(0, 1)| ≈ 83.96 (value of this implementation,
    // confirmed by the Gauss–Hermite cross-check below), still the steepest point.
    let slope1 = u_x(0.0, 1.0, 1e-6);
    assert!((slope1 + 83.9647).abs() < 1e-3, "u_x(0, 1) = {slope1}");
    for x in linspace(0.01, 1.0, 100) {
        assert!(u_x(x, 1.0, 1e-6).abs() < slope1.abs());
    }
}

#[test]
fn burgers_quadratures_agree_including_the_shock() {
    let gh128 = GaussHermite::new(128);
    let gh256 = GaussHermite::new(256);
    let gh512 = GaussHermite::new(512);
    // u(0.5, 1): two orders of each rule and the two rules against each other.
    let a = burgers_cole_hopf(0.5, 1.0, NU);
    let b = burgers_cole_hopf_composite(0.5, 1.0, NU, 2);
    let g1 = burgers_cole_hopf_gauss_hermite(0.5, 1.0, NU, &gh128);
    let g2 = burgers_cole_hopf_gauss_hermite(0.5, 1.0, NU, &gh256);
    assert!((a - b).abs() < 1e-13, "{a} vs {b}");
    assert!((g1 - g2).abs() < 1e-8, "{g1} vs {g2}");
    assert!((a - g2).abs() < 1e-13, "{a} vs {g2}");
    assert!((a + 0.376_181_395_748_12).abs() < 1e-12, "u(0.5, 1) = {a}");
    // Over [−1, 1] × [0, 1] with the shock region sampled densely.
    let mut xs = linspace(-1.0, 1.0, 81);
    xs.extend(linspace(-0.02, 0.02, 41));
    let ts = linspace(0.0, 1.0, 21);
    let (mut d_comp, mut d_gh, mut d_cross, mut d_gh128) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for &t in &ts {
        for &x in &xs {
            let c1 = burgers_cole_hopf(x, t, NU);
            let c2 = burgers_cole_hopf_composite(x, t, NU, 2);
            let h1 = burgers_cole_hopf_gauss_hermite(x, t, NU, &gh256);
            let h2 = burgers_cole_hopf_gauss_hermite(x, t, NU, &gh512);
            let h0 = burgers_cole_hopf_gauss_hermite(x, t, NU, &gh128);
            d_comp = d_comp.max((c1 - c2).abs());
            d_gh = d_gh.max((h1 - h2).abs());
            d_cross = d_cross.max((c1 - h2).abs());
            d_gh128 = d_gh128.max((h0 - h2).abs());
        }
    }
    eprintln!(
        "max differences: composite n vs 2n {d_comp:e}, GH 256 vs 512 {d_gh:e}, \
         composite vs GH 512 {d_cross:e}, GH 128 vs 512 {d_gh128:e}"
    );
    assert!(d_comp < 1e-13, "composite n vs 2n: {d_comp:e}");
    assert!(d_gh < 1e-12, "Gauss–Hermite 256 vs 512: {d_gh:e}");
    assert!(d_cross < 1e-12, "composite vs Gauss–Hermite: {d_cross:e}");
    assert!(d_gh128 < 1e-7, "Gauss–Hermite 128 vs 512: {d_gh128:e}");
}

#[test]
fn burgers_other_viscosities_converge() {
    // The composite rule adapts to ν and t: refining it changes nothing.
    for nu in [0.1 / PI, 0.05, 0.003 / PI, 0.001 / PI] {
        for t in [1e-3, 0.1, 0.5, 1.0, 4.0] {
            for x in [-0.7, -0.01, 0.0005, 0.02, 0.3, 0.99] {
                let a = burgers_cole_hopf(x, t, nu);
                let b = burgers_cole_hopf_composite(x, t, nu, 3);
                assert!(
                    a.is_finite() && (a - b).abs() < 1e-12,
                    "ν {nu}, ({x}, {t}): {a} vs {b}"
                );
                assert!(a.abs() <= 1.0 + 1e-12);
            }
        }
    }
}

/// Explicit finite-difference solve of Burgers (conservative central differences, SSP-RK3) on
/// `n` intervals of [−1, 1] up to time `t_end`; returns the nodal values.
fn burgers_finite_differences(n: usize, t_end: f64, nu: f64) -> Vec<f64> {
    let dx = 2.0 / n as f64;
    let steps = (t_end / (0.2 * dx * dx / nu).min(0.4 * dx)).ceil() as usize;
    let dt = t_end / steps as f64;
    let rhs = |u: &[f64], out: &mut [f64]| {
        out[0] = 0.0;
        out[n] = 0.0;
        for i in 1..n {
            let flux = (u[i + 1] * u[i + 1] - u[i - 1] * u[i - 1]) / (4.0 * dx);
            out[i] = -flux + nu * (u[i + 1] - 2.0 * u[i] + u[i - 1]) / (dx * dx);
        }
    };
    let mut u: Vec<f64> = (0..=n)
        .map(|i| -(PI * (-1.0 + i as f64 * dx)).sin())
        .collect();
    u[0] = 0.0;
    u[n] = 0.0;
    let (mut k, mut u1, mut u2) = (vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]);
    for _ in 0..steps {
        rhs(&u, &mut k);
        for i in 0..=n {
            u1[i] = u[i] + dt * k[i];
        }
        rhs(&u1, &mut k);
        for i in 0..=n {
            u2[i] = 0.75 * u[i] + 0.25 * (u1[i] + dt * k[i]);
        }
        rhs(&u2, &mut k);
        for i in 0..=n {
            u[i] = u[i] / 3.0 + 2.0 / 3.0 * (u2[i] + dt * k[i]);
        }
    }
    u
}

#[test]
fn burgers_matches_an_independent_finite_difference_solve() {
    let n = 2000;
    let t_end = 0.25;
    let fd = burgers_finite_differences(n, t_end, NU);
    let xs: Vec<f64> = (0..=n).map(|i| -1.0 + 2.0 * i as f64 / n as f64).collect();
    let exact = burgers_reference_grid(&xs, &[t_end], NU);
    let err = fd
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("max |FD − Cole–Hopf| at t = 0.25: {err:e}");
    assert!(err < 1e-3, "max |FD − Cole–Hopf| at t = 0.25: {err:e}");
}

#[test]
fn burgers_batch_helpers_match_pointwise_calls() {
    let xs = linspace(-1.0, 1.0, 37);
    let ts = linspace(0.0, 1.0, 11);
    let grid = burgers_reference_grid(&xs, &ts, NU);
    assert_eq!(grid.len(), xs.len() * ts.len());
    for (it, &t) in ts.iter().enumerate() {
        for (ix, &x) in xs.iter().enumerate() {
            assert_eq!(grid[it * xs.len() + ix], burgers_cole_hopf(x, t, NU));
        }
    }
    assert!(burgers_reference_grid(&[], &ts, NU).is_empty());
    assert!(burgers_reference_grid(&xs, &[], NU).is_empty());
    let px = [0.1, -0.5, 0.9];
    let pt = [0.0, 0.3, 1.0];
    let pts = burgers_reference_points(&px, &pt, NU);
    for i in 0..3 {
        assert_eq!(pts[i], burgers_cole_hopf(px[i], pt[i], NU));
    }
}

// ----------------------------------------------------------------------------------------------
// Two-body Poisson solution
// ----------------------------------------------------------------------------------------------

fn random_point_in_ball(rng: &mut rand_pcg::Pcg64, d: usize, radius: f64) -> Vec<f64> {
    let mut x: Vec<f64> = (0..d)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let r = radius * rng.gen::<f64>().powf(1.0 / d as f64);
    x.iter_mut().for_each(|v| *v *= r / norm);
    x
}

fn random_unit_vector(rng: &mut rand_pcg::Pcg64, d: usize) -> Vec<f64> {
    let mut x = random_point_in_ball(rng, d, 1.0);
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    x.iter_mut().for_each(|v| *v /= norm);
    x
}

#[test]
fn two_body_seeds_and_coefficients() {
    let a = TwoBody::new(50, 7);
    let b = TwoBody::new(50, 7);
    let c = TwoBody::new(50, 8);
    assert_eq!(a, b);
    assert_eq!(a.dim(), 50);
    assert_eq!(a.coefficients().len(), 49);
    assert_ne!(a.coefficients(), c.coefficients());
    // A larger dimension with the same seed extends the same stream.
    assert_eq!(&TwoBody::new(80, 7).coefficients()[..49], a.coefficients());
    // c_i ~ N(0, 1).
    let big = TwoBody::new(20_001, 3);
    let n = big.coefficients().len() as f64;
    let mean = big.coefficients().iter().sum::<f64>() / n;
    let var = big
        .coefficients()
        .iter()
        .map(|c| (c - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "mean {mean}, var {var}"
    );
}

#[test]
fn two_body_value_matches_the_formula_and_vanishes_on_the_sphere() {
    // d = 3 written out by hand.
    let u = TwoBody::new(3, 11);
    let c = u.coefficients();
    let x = [0.3, -0.4, 0.5];
    let term = |a: f64, b: f64| (a + b.cos() + b * a.cos()).sin();
    let expected = (1.0 - 0.5) * (c[0] * term(x[0], x[1]) + c[1] * term(x[1], x[2]));
    assert!((u.value(&x) - expected).abs() < 1e-15);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    for d in [2usize, 5, 100, 1000] {
        let u = TwoBody::new(d, 42);
        for _ in 0..10 {
            let x = random_unit_vector(&mut rng, d);
            assert!(u.value(&x).abs() < 1e-12, "d = {d}: u = {}", u.value(&x));
        }
        // Non-trivial inside.
        let x = random_point_in_ball(&mut rng, d, 0.5);
        assert!(u.value(&x).abs() > 1e-6);
    }
}

/// Checks the gradient in every listed direction and the Laplacian (sum over all dims) against
/// central finite differences.
fn check_derivatives(u: &TwoBody, x: &[f64], dims_for_gradient: &[usize]) {
    let d = u.dim();
    let mut grad = vec![0.0; d];
    u.gradient(x, &mut grad);
    let gscale = grad.iter().map(|g| g.abs()).fold(0.0, f64::max);
    let mut y = x.to_vec();
    let h1 = 1e-5;
    for &i in dims_for_gradient {
        y[i] = x[i] + h1;
        let up = u.value(&y);
        y[i] = x[i] - h1;
        let um = u.value(&y);
        y[i] = x[i];
        let fd = (up - um) / (2.0 * h1);
        assert!(
            (fd - grad[i]).abs() < 1e-7 * gscale.max(1.0),
            "d = {d}, ∂{i}: {fd} vs {}",
            grad[i]
        );
    }
    let h2 = 1e-3;
    let u0 = u.value(x);
    let mut lap_fd = 0.0;
    for i in 0..d {
        y[i] = x[i] + h2;
        let up = u.value(&y);
        y[i] = x[i] - h2;
        let um = u.value(&y);
        y[i] = x[i];
        lap_fd += (up - 2.0 * u0 + um) / (h2 * h2);
    }
    let lap = u.laplacian(x);
    assert!(
        (lap - lap_fd).abs() < 1e-5 * lap.abs().max(1.0),
        "d = {d}: Δu {lap} vs FD {lap_fd}"
    );
    assert_eq!(u.source(x), -lap);
}

#[test]
fn two_body_derivatives_match_finite_differences() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    let u5 = TwoBody::new(5, 1);
    let all: Vec<usize> = (0..5).collect();
    for _ in 0..20 {
        let x = random_point_in_ball(&mut rng, 5, 1.0);
        check_derivatives(&u5, &x, &all);
    }
    // Also outside the ball (the formula is global).
    check_derivatives(&u5, &[1.5, -2.0, 0.3, 0.9, -1.1], &all);
    let u2 = TwoBody::new(2, 9);
    check_derivatives(&u2, &[0.2, -0.7], &[0, 1]);
    let u200 = TwoBody::new(200, 2);
    for _ in 0..4 {
        let x = random_point_in_ball(&mut rng, 200, 1.0);
        check_derivatives(&u200, &x, &[0, 1, 57, 198, 199]);
    }
}

#[test]
fn two_body_batch_helpers_match_pointwise_calls() {
    let d = 1000;
    let u = TwoBody::new(d, 123);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    let points: Vec<f64> = (0..64)
        .flat_map(|_| random_point_in_ball(&mut rng, d, 1.0))
        .collect();
    let values = u.values(&points);
    let sources = u.sources(&points);
    assert_eq!(values.len(), 64);
    assert_eq!(sources.len(), 64);
    for (k, x) in points.chunks(d).enumerate() {
        assert_eq!(values[k], u.value(x));
        assert_eq!(sources[k], u.source(x));
        assert_eq!(sources[k], -u.laplacian(x));
    }
    assert!(u.values(&[]).is_empty());
}

#[test]
#[should_panic(expected = "not a multiple of d")]
fn two_body_batch_rejects_ragged_points() {
    TwoBody::new(3, 0).values(&[0.0; 7]);
}

#[test]
#[should_panic(expected = "at least 2")]
fn two_body_rejects_dimension_one() {
    TwoBody::new(1, 0);
}
