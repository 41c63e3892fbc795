//! Walk-on-Spheres against analytic and manufactured solutions: every point's error must be
//! within 4 standard errors (ε is small enough that its O(ε) bias is far below that), the RMS
//! error must fall as N^(−1/2), and results must not depend on the number of threads.

use nabla_core::field::{Expr, ScalarField};
use nabla_core::geometry::{parse_domain, sample_interior, Domain, Sampling};
use nabla_wos::{Unfinished, WosError, WosOptions, WosProblem, WosSolver};
use std::sync::Arc;

fn expr(s: &str) -> Arc<Expr> {
    Arc::new(s.parse().expect("valid expression"))
}

fn opts(walks: usize, seed: u64) -> WosOptions {
    WosOptions {
        walks,
        epsilon: 1e-5,
        seed,
        ..Default::default()
    }
}

/// Points strictly inside `domain`, at least `margin` from the boundary.
fn inner_points(domain: &dyn Domain, n: usize, margin: f64, seed: u64) -> Vec<f64> {
    let d = domain.dim();
    let cand = sample_interior(domain, 20 * n, Sampling::Random { seed }).unwrap();
    cand.chunks(d)
        .filter(|p| domain.distance_to_boundary(p) > margin)
        .take(n)
        .flatten()
        .copied()
        .collect()
}

/// Solves Δu − σu = f with g = u_exact on `spec` and checks every point within 4 stderr.
fn check(spec: &str, exact: &str, source: Option<&str>, sigma: f64, walks: usize, npts: usize) {
    let domain = parse_domain(spec).unwrap();
    let pts = inner_points(domain.as_ref(), npts, 0.02, 42);
    assert_eq!(pts.len(), npts * domain.dim(), "{spec}: not enough points");
    let u = expr(exact);
    let mut problem = WosProblem::laplace(domain.clone(), u.clone())
        .with_screening(sigma)
        .unwrap();
    if let Some(f) = source {
        problem = problem.with_source(expr(f));
    }
    let sol = WosSolver::new(problem, opts(walks, 7))
        .unwrap()
        .solve(&pts)
        .unwrap();
    assert_eq!(sol.total_walks, (walks * npts) as u64);
    for (e, p) in sol.estimates.iter().zip(pts.chunks(domain.dim())) {
        let want = u.eval(p);
        let err = (e.value - want).abs();
        assert!(
            e.stderr > 0.0 && e.stderr < 0.1,
            "{spec}: stderr {}",
            e.stderr
        );
        assert!(
            err <= 4.0 * e.stderr,
            "{spec}, u = {exact}, f = {source:?}, σ = {sigma}: at {p:?} got {} want {want} \
             (error {err:.2e}, stderr {:.2e})",
            e.value,
            e.stderr
        );
        assert!(e.mean_steps >= 1.0);
        assert_eq!(e.unfinished, 0);
    }
}

#[test]
fn laplace_2d_ball_box_lshape_star() {
    check(
        "ball:center=0,0;radius=1",
        "x^2 - y^2 + x*y",
        None,
        0.0,
        1500,
        8,
    );
    check("box:min=0,0;max=1,1", "exp(x)*sin(y)", None, 0.0, 1500, 8);
    check("lshape", "exp(x)*cos(y) + x*y", None, 0.0, 1500, 8);
    check("star:c1=0.15;c2=-0.05", "x^3 - 3*x*y^2", None, 0.0, 1500, 8);
}

#[test]
fn laplace_3d_ball_and_box() {
    check(
        "ball:center=0,0,0;radius=1",
        "x^2 - z^2 + x*y*z",
        None,
        0.0,
        1000,
        6,
    );
    check(
        "box:min=0,0,0;max=1,2,1",
        "exp(x)*sin(y) + z",
        None,
        0.0,
        1000,
        6,
    );
}

#[test]
fn poisson_2d_and_3d_manufactured() {
    // Δu = f: u = x² + y² has f = 4 (nabla poisson would take −4).
    check(
        "ball:center=0,0;radius=1",
        "x^2 + y^2",
        Some("4"),
        0.0,
        1500,
        8,
    );
    check(
        "star:c1=0.1;c2=-0.05",
        "sin(x)*cosh(y) + x^2",
        Some("2"),
        0.0,
        1500,
        8,
    );
    check(
        "lshape",
        "sin(pi*x)*sin(pi*y)",
        Some("-2*pi^2*sin(pi*x)*sin(pi*y)"),
        0.0,
        1500,
        8,
    );
    check(
        "box:min=0,0,0;max=1,1,1",
        "x^2 + y^2 + z^2",
        Some("6"),
        0.0,
        1000,
        6,
    );
    check(
        "ball:center=0,0,0;radius=1",
        "exp(x) + y^2*z",
        Some("exp(x) + 2*z"),
        0.0,
        1000,
        6,
    );
}

#[test]
fn csg_union_and_difference() {
    check(
        "difference(box:min=-1,-1;max=1,1 | ball:center=0,0;radius=0.5)",
        "x^2 + y^2",
        Some("4"),
        0.0,
        1500,
        8,
    );
    check(
        "union(ball:center=0,0;radius=1 | ball:center=1.2,0;radius=0.8)",
        "x*y + exp(y)*cos(x)",
        None,
        0.0,
        1500,
        8,
    );
    check(
        "intersection(box:min=-1,-1,-1;max=1,1,1 | ball:center=0,0,0;radius=1.3)",
        "x^2 - y^2",
        None,
        0.0,
        1000,
        6,
    );
}

#[test]
fn screened_poisson_2d_and_3d() {
    // Δu − σu = 0 with u = e^{2x}, σ = 4; and with a source for u = x² + y².
    check("ball:center=0,0;radius=1", "exp(2*x)", None, 4.0, 1500, 8);
    check(
        "box:min=0,0;max=1,1",
        "x^2 + y^2",
        Some("4 - 9*(x^2 + y^2)"),
        9.0,
        1500,
        8,
    );
    check(
        "ball:center=0,0,0;radius=1",
        "exp(1.5*x + 2*y)",
        None,
        6.25,
        1000,
        6,
    );
    check(
        "box:min=0,0,0;max=1,1,1",
        "x^2 + y^2 + z^2",
        Some("6 - 2*(x^2 + y^2 + z^2)"),
        2.0,
        1000,
        6,
    );
}

#[test]
fn mesh_cube_matches_box() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cube.obj");
    let obj = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n\
               f 1 3 2\nf 1 4 3\nf 5 6 7\nf 5 7 8\nf 1 2 6\nf 1 6 5\nf 2 3 7\nf 2 7 6\n\
               f 3 4 8\nf 3 8 7\nf 4 1 5\nf 4 5 8\n";
    std::fs::write(&path, obj).unwrap();
    let spec = format!("mesh:{}", path.display());
    check(&spec, "x^2 - y^2 + z", None, 0.0, 1000, 5);
    check(&spec, "x^2 + y^2 + z^2", Some("6"), 0.0, 1000, 5);
}

#[test]
fn rms_error_falls_as_inverse_sqrt_walks() {
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let pts = inner_points(domain.as_ref(), 20, 0.05, 9);
    let u = expr("x^2 - y^2 + x*y");
    let problem = WosProblem::laplace(domain, u.clone());
    let mut logs = Vec::new();
    for walks in [100usize, 400, 1600, 6400] {
        let mut mse = 0.0;
        let reps = 20;
        for r in 0..reps {
            let sol = WosSolver::new(problem.clone(), opts(walks, 100 + r))
                .unwrap()
                .solve(&pts)
                .unwrap();
            for (e, p) in sol.estimates.iter().zip(pts.chunks(2)) {
                mse += (e.value - u.eval(p)).powi(2);
            }
        }
        let rms = (mse / (reps as f64 * 20.0)).sqrt();
        logs.push(((walks as f64).ln(), rms.ln()));
    }
    let m = logs.len() as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / m;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / m;
    let slope = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
        / logs.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    assert!(
        (slope + 0.5).abs() <= 0.05,
        "slope {slope:.3}, points {logs:?}"
    );
}

#[test]
fn identical_for_any_thread_count() {
    let domain = parse_domain("star:c1=0.1;c2=0.05").unwrap();
    let pts = inner_points(domain.as_ref(), 6, 0.01, 1);
    let problem = WosProblem::laplace(domain, expr("cos(theta)"))
        .with_source(expr("exp(-(x^2 + y^2))"))
        .with_screening(1.5)
        .unwrap();
    let solver = WosSolver::new(problem, opts(300, 3)).unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| solver.solve(&pts).unwrap())
    };
    let (a, b, c) = (run(1), run(2), run(3));
    for ((x, y), z) in a.estimates.iter().zip(&b.estimates).zip(&c.estimates) {
        assert_eq!(x, y);
        assert_eq!(x, z);
    }
    assert_eq!(a.total_steps, b.total_steps);
    // A different seed gives different numbers.
    let other = WosSolver::new(solver.problem().clone(), opts(300, 4))
        .unwrap()
        .solve(&pts)
        .unwrap();
    assert_ne!(a.estimates[0].value, other.estimates[0].value);
}

#[test]
fn gradient_estimates() {
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let pts = inner_points(domain.as_ref(), 5, 0.1, 5);
    // Laplace: u = x² − y² + xy, ∇u = (2x + y, x − 2y).
    // Poisson: u = x² + 3y², Δu = 8, ∇u = (2x, 6y).
    for (u, f, grad) in [
        (
            "x^2 - y^2 + x*y",
            None,
            Box::new(|p: &[f64]| [2.0 * p[0] + p[1], p[0] - 2.0 * p[1]])
                as Box<dyn Fn(&[f64]) -> [f64; 2]>,
        ),
        (
            "x^2 + 3*y^2",
            Some("8"),
            Box::new(|p: &[f64]| [2.0 * p[0], 6.0 * p[1]]),
        ),
    ] {
        let mut problem = WosProblem::laplace(domain.clone(), expr(u));
        if let Some(f) = f {
            problem = problem.with_source(expr(f));
        }
        let o = WosOptions {
            gradient: true,
            ..opts(4000, 11)
        };
        let sol = WosSolver::new(problem, o).unwrap().solve(&pts).unwrap();
        for (e, p) in sol.estimates.iter().zip(pts.chunks(2)) {
            let g = e.gradient.as_ref().unwrap();
            let se = e.gradient_stderr.as_ref().unwrap();
            let want = grad(p);
            for k in 0..2 {
                assert!(
                    (g[k] - want[k]).abs() <= 4.0 * se[k],
                    "u = {u}: ∂{k}u at {p:?}: {} vs {} (stderr {})",
                    g[k],
                    want[k],
                    se[k]
                );
            }
        }
    }
}

#[test]
fn control_variates_cut_variance_without_bias() {
    // Near the centre of the disc the first sphere reaches close to the boundary, so the
    // first step carries most of the variance, which the value control variate removes.
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let pts = [0.1, 0.05, -0.2, 0.1, 0.0, -0.25, 0.15, 0.15, -0.05, -0.1];
    let u = expr("1 + 2*x - 3*y + 0.2*(x^2 - y^2)");
    let problem = WosProblem::laplace(domain, u.clone());
    let plain = WosSolver::new(problem.clone(), opts(2000, 1))
        .unwrap()
        .solve(&pts)
        .unwrap();
    let cv = WosSolver::new(
        problem,
        WosOptions {
            control_variates: true,
            pilot_walks: 64,
            ..opts(2000, 1)
        },
    )
    .unwrap()
    .solve(&pts)
    .unwrap();
    assert_eq!(cv.total_walks, 5 * (2000 + 64));
    for ((a, b), p) in plain.estimates.iter().zip(&cv.estimates).zip(pts.chunks(2)) {
        let want = u.eval(p);
        assert!(
            (b.value - want).abs() <= 4.0 * b.stderr,
            "cv estimate biased at {p:?}"
        );
        assert!(
            b.variance < 0.5 * a.variance,
            "variance {} with control variates vs {} without",
            b.variance,
            a.variance
        );
    }
}

#[test]
fn unfinished_walk_policies() {
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let problem = WosProblem::laplace(domain, expr("1"));
    let mk = |policy| WosOptions {
        walks: 200,
        max_steps: 2,
        unfinished: policy,
        ..opts(200, 1)
    };
    let stop = WosSolver::new(problem.clone(), mk(Unfinished::ClosestBoundary))
        .unwrap()
        .solve(&[0.3, 0.0])
        .unwrap();
    let e = &stop.estimates[0];
    assert!(e.unfinished > 100, "{e:?}");
    assert_eq!(e.walks, 200);
    assert_eq!(e.value, 1.0, "g = 1 read at the closest boundary point");
    let drop = WosSolver::new(problem, mk(Unfinished::Discard))
        .unwrap()
        .solve(&[0.3, 0.0])
        .unwrap();
    let e = &drop.estimates[0];
    assert_eq!(e.walks + e.unfinished, 200);
    assert_eq!(drop.total_walks, 200);
}

#[test]
fn closures_work_as_fields() {
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let g = Arc::new(|p: &[f64]| p[0] * p[1]);
    let sol = WosSolver::new(WosProblem::laplace(domain, g), opts(2000, 2))
        .unwrap()
        .solve(&[0.3, 0.4])
        .unwrap();
    let e = &sol.estimates[0];
    assert!((e.value - 0.12).abs() <= 4.0 * e.stderr);
}

#[test]
fn bad_inputs_are_errors() {
    let domain = parse_domain("box:min=0,0;max=1,1").unwrap();
    let problem = WosProblem::laplace(domain.clone(), expr("x"));
    let bad = |o: WosOptions| WosSolver::new(problem.clone(), o).unwrap_err().to_string();
    assert!(bad(opts(0, 1)).contains("walks"));
    assert!(bad(WosOptions {
        epsilon: 0.0,
        ..opts(1, 1)
    })
    .contains("epsilon"));
    assert!(bad(WosOptions {
        epsilon: f64::NAN,
        ..opts(1, 1)
    })
    .contains("epsilon"));
    assert!(bad(WosOptions {
        max_steps: 0,
        ..opts(1, 1)
    })
    .contains("max_steps"));
    assert!(WosProblem::laplace(domain.clone(), expr("x"))
        .with_screening(-1.0)
        .unwrap_err()
        .to_string()
        .contains("sigma"));
    let screened = problem.clone().with_screening(1.0).unwrap();
    let e = WosSolver::new(
        screened,
        WosOptions {
            gradient: true,
            ..opts(1, 1)
        },
    )
    .unwrap_err();
    assert!(matches!(e, WosError::Unsupported(_)));

    let solver = WosSolver::new(problem, opts(10, 1)).unwrap();
    let e = solver.solve(&[0.5, 0.5, 2.0, 0.5]).unwrap_err();
    assert!(matches!(e, WosError::PointOutside { index: 1, .. }), "{e}");
    assert!(solver
        .solve(&[0.5, 0.5, 0.5])
        .unwrap_err()
        .to_string()
        .contains("dimension"));
    assert!(solver.solve(&[f64::NAN, 0.5]).is_err());

    let nan = WosSolver::new(
        WosProblem::laplace(domain, expr("ln(x - 0.5)")),
        opts(10, 1),
    )
    .unwrap();
    let e = nan.solve(&[0.3, 0.5]).unwrap_err().to_string();
    assert!(e.contains("not finite") && !e.contains('\n'), "{e}");

    let line = parse_domain("box:min=0;max=1").unwrap();
    let e = WosSolver::new(WosProblem::laplace(line, expr("x")), opts(1, 1)).unwrap_err();
    assert!(e.to_string().contains("dimension"));
}

#[cfg(feature = "candle")]
#[test]
fn tensor_batches_match_solve() {
    use candle_core::{Device, Tensor};
    let domain = parse_domain("ball:center=0,0;radius=1").unwrap();
    let solver = WosSolver::new(WosProblem::laplace(domain, expr("x + y")), opts(64, 3)).unwrap();
    let pts = [0.1, 0.2, -0.3, 0.4, 0.0, 0.0];
    let t = Tensor::from_slice(&pts, (3, 2), &Device::Cpu).unwrap();
    let (u, se) = nabla_wos::tensor::solve_tensor(&solver, &t).unwrap();
    let sol = solver.solve(&pts).unwrap();
    assert_eq!(u.to_vec1::<f64>().unwrap(), sol.values());
    assert_eq!(se.to_vec1::<f64>().unwrap(), sol.stderrs());
    let wrong = Tensor::zeros((2, 3), candle_core::DType::F64, &Device::Cpu).unwrap();
    assert!(nabla_wos::tensor::solve_tensor(&solver, &wrong).is_err());
}
