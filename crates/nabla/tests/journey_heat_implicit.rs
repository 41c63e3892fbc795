//! The heat-equation journey (`examples/heat_implicit.rs`) at a small size: the time loop
//! that keeps one preconditioner and refactors it solves exactly like the loop that builds a
//! new one every step, and both converge to the manufactured solution at the rate the scheme
//! promises, O(Δt + h²).

#[path = "../../../examples/heat_implicit.rs"]
#[allow(dead_code)]
mod journey;

use journey::{Options, Precond};

/// The error bound: implicit Euler with the flux-form 5-point scheme is monotone (its matrix
/// is an M-matrix), so the max-norm error at T is at most T·max‖τ‖∞ with the truncation
/// error τ = Δt/2·max|u_tt| + h²/24·Σ_axes max|(k u''')' + (k u')'''|. Here u_tt = u, so
/// |u_tt| ≤ 1; per axis |∂^m u| ≤ π^m, |k| ≤ 1.8, |∂^m k| ≤ 0.8·(2π)^m, which bounds the
/// bracket by π⁴(2·1.8 + 4·0.8·2 + 3·0.8·4 + 0.8·8) = 26·π⁴.
fn error_bound(opts: &Options, h: f64) -> f64 {
    let pi4 = std::f64::consts::PI.powi(4);
    let dt = opts.t_end / opts.steps as f64;
    opts.t_end * (dt / 2.0 + 2.0 * h * h / 24.0 * 26.0 * pi4)
}

/// The checks every multigrid run must pass: the two loops agree bit for bit, every solve met
/// the tolerance on a recomputed residual in few iterations, and the error is within the
/// bound.
fn check_run(opts: &Options, r: &journey::Report) {
    assert_eq!(r.unknowns, opts.n * opts.n);
    assert_eq!(r.steps, opts.steps);
    // Refactoring gives the same preconditioner bit for bit, so the same solutions.
    assert_eq!(
        r.max_difference, 0.0,
        "reused and rebuilt runs must agree exactly"
    );
    assert_eq!(r.reused.iterations, r.rebuilt.iterations);
    for s in [&r.reused, &r.rebuilt] {
        assert!(s.max_residual <= opts.tol, "{s:?}");
        let mean = s.mean_iterations(r.steps);
        assert!((1.0..=10.0).contains(&mean), "mean iterations {mean}");
        assert!(s.max_iterations <= 12, "{s:?}");
        assert!(s.preconditioner_bytes > 0);
        assert!(s.setup_seconds > 0.0 && s.solve_seconds > 0.0);
    }
    let bound = error_bound(opts, r.h);
    assert!(
        r.max_error <= bound,
        "max error {:e} above the bound {bound:e}",
        r.max_error
    );
    assert!(r.rms_error <= r.max_error);
}

#[test]
fn refactored_multigrid_loop_matches_the_rebuilt_one_and_converges() {
    // 31² unknowns: one level, solved exactly by the coarse factorization.
    let small = Options::small();
    let r = journey::run(&small).expect("the small journey runs");
    check_run(&small, &r);

    // Halving h and Δt (63² unknowns: a multigrid hierarchy of several levels): the error
    // falls like O(Δt + h²), between 2× (Δt-dominated) and 4× (h²-dominated); a broken
    // scheme or a solver that stops early would not.
    let fine = Options {
        n: 2 * small.n + 1,
        steps: 2 * small.steps,
        ..small.clone()
    };
    let rf = journey::run(&fine).expect("the refined journey runs");
    check_run(&fine, &rf);
    assert!(
        rf.reused.mean_iterations(rf.steps) >= 2.0,
        "{:?}",
        rf.reused
    );
    let ratio = r.max_error / rf.max_error;
    assert!(
        (1.8..=4.2).contains(&ratio),
        "error {:e} → {:e}: ratio {ratio}",
        r.max_error,
        rf.max_error
    );
}

/// AMG keeps its first aggregates when refactored, so the two loops differ, but only by the
/// solver tolerance; IC(0) refactors exactly like multigrid.
#[test]
fn amg_and_ic0_loops_agree_with_their_rebuilt_twins() {
    let mg = journey::run(&Options::small()).unwrap();
    for precond in [Precond::Amg, Precond::Ic0] {
        let opts = Options {
            precond,
            ..Options::small()
        };
        let r = journey::run(&opts).unwrap();
        assert!(r.reused.max_residual <= opts.tol && r.rebuilt.max_residual <= opts.tol);
        if precond == Precond::Ic0 {
            assert_eq!(r.max_difference, 0.0);
        }
        // Both solved the same systems to 1e-10: the same discretization error.
        assert!(
            r.max_difference <= 1e-8,
            "{precond:?}: {}",
            r.max_difference
        );
        assert!(
            (r.max_error - mg.max_error).abs() <= 1e-8,
            "{precond:?}: {} vs {}",
            r.max_error,
            mg.max_error
        );
    }
}

#[test]
fn bad_options_are_errors() {
    for bad in [
        Options {
            n: 1,
            ..Options::small()
        },
        Options {
            steps: 0,
            ..Options::small()
        },
        Options {
            t_end: f64::NAN,
            ..Options::small()
        },
        Options {
            tol: 2.0,
            ..Options::small()
        },
    ] {
        let e = journey::run(&bad).expect_err("invalid options");
        assert!(!e.to_string().is_empty());
    }
    assert!(Precond::parse("gmres").is_err());
    assert_eq!(Precond::parse("amg"), Ok(Precond::Amg));
}
