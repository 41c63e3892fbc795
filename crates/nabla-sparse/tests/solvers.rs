//! Solvers against manufactured solutions, with residuals recomputed independently.

use nabla_sparse::*;

/// ‖b − A x‖ / ‖b‖ computed from the CSR arrays directly (not through the solver code).
fn independent_relres(a: &SparseMatrix, b: &[f64], x: &[f64]) -> f64 {
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let mut rr = 0.0;
    for i in 0..a.rows() {
        let mut s = 0.0;
        for k in ip[i]..ip[i + 1] {
            s += vx[k] * x[ix[k] as usize];
        }
        rr += (b[i] - s).powi(2);
    }
    rr.sqrt() / b.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn opts(tol: f64) -> SolveOptions<'static> {
    SolveOptions {
        tol,
        max_iters: 20_000,
        record_history: true,
        ..Default::default()
    }
}

/// Discrete −Δ of u(x,y) = sin(πx) sin(2πy) on the unit square: the 5-point solution converges
/// to it at O(h²).
#[test]
fn cg_solution_converges_at_second_order() {
    let mut errs = Vec::new();
    for n in [15usize, 31, 63] {
        let h = 1.0 / (n + 1) as f64;
        let p = GridPoisson::new(format!("{n}x{n}").parse().unwrap());
        let pi = std::f64::consts::PI;
        let mut b = vec![0.0; n * n];
        let mut exact = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..n {
                let (x, y) = ((i + 1) as f64 * h, (j + 1) as f64 * h);
                exact[i + n * j] = (pi * x).sin() * (2.0 * pi * y).sin();
                b[i + n * j] = h * h * 5.0 * pi * pi * exact[i + n * j];
            }
        }
        let op = p.stencil().unwrap();
        let mut x = vec![0.0; n * n];
        let rep = Cg::new(&op).solve(&b, &mut x, &opts(1e-12)).unwrap();
        assert!(rep.converged);
        let err = x
            .iter()
            .zip(&exact)
            .map(|(a, e)| (a - e).abs())
            .fold(0.0, f64::max);
        errs.push(err);
    }
    for w in errs.windows(2) {
        let rate = (w[0] / w[1]).log2();
        assert!((rate - 2.0).abs() < 0.15, "order {rate}, errors {errs:?}");
    }
}

#[test]
fn every_solver_reaches_tolerance_2d_and_3d() {
    for grid in ["40x33", "12x10x9"] {
        let p = GridPoisson::new(grid.parse().unwrap());
        let a = p.matrix();
        let b = p.rhs(RhsKind::Random, 1);
        let n = b.len();
        let tol = 1e-9;
        let mut solvers: Vec<Box<dyn Solver + '_>> = vec![
            Box::new(Cg::new(&a)),
            Box::new(Pcg::new(&a, Box::new(Jacobi::new(&a).unwrap()))),
            Box::new(Pcg::new(&a, Box::new(Ic0::new(&a).unwrap()))),
            Box::new(Pcg::new(
                &a,
                Box::new(SsorPreconditioner::new(&a, 1.5).unwrap()),
            )),
            Box::new(Sor::new(&a, 1.8).unwrap()),
            Box::new(Ssor::new(&a, 1.7).unwrap()),
        ];
        let mut cg_iters = 0;
        for s in solvers.iter_mut() {
            let mut x = vec![0.0; n];
            let rep = s.solve(&b, &mut x, &opts(tol)).unwrap();
            let rr = independent_relres(&a, &b, &x);
            assert!(rep.converged, "{} on {grid}", rep.solver);
            assert!(rr <= tol, "{}: {rr}", rep.solver);
            assert!((rr - rep.relative_residual).abs() <= 1e-3 * rr + 1e-15);
            assert_eq!(rep.residual_history.len(), rep.iterations + 1);
            match rep.solver.as_str() {
                "cg" => cg_iters = rep.iterations,
                "ic0-pcg" | "ssor-pcg" => assert!(rep.iterations < cg_iters, "{}", rep.solver),
                _ => {}
            }
        }
    }
}

#[test]
fn stencil_cg_and_matrix_cg_agree() {
    let p = GridPoisson::new("64x48".parse().unwrap());
    let a = p.matrix();
    let s = p.stencil().unwrap();
    let b = p.rhs(RhsKind::Random, 5);
    let (mut x1, mut x2) = (vec![0.0; b.len()], vec![0.0; b.len()]);
    let r1 = Cg::new(&a).solve(&b, &mut x1, &opts(1e-8)).unwrap();
    let r2 = Cg::new(&s).solve(&b, &mut x2, &opts(1e-8)).unwrap();
    assert_eq!(r1.iterations, r2.iterations);
    let d = x1
        .iter()
        .zip(&x2)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(d < 1e-10);
}

#[test]
fn gauss_seidel_matches_hand_sweep() {
    // One SOR sweep with ω = 1 on a 3x3 system equals the textbook Gauss–Seidel update.
    let a = SparseMatrix::from_triplets(
        3,
        &[
            (0, 0, 4.0),
            (0, 1, -1.0),
            (1, 0, -1.0),
            (1, 1, 4.0),
            (1, 2, -1.0),
            (2, 1, -1.0),
            (2, 2, 4.0),
        ],
    )
    .unwrap();
    let b = [1.0, 2.0, 3.0];
    let mut x = vec![0.0; 3];
    let o = SolveOptions {
        tol: 0.999,
        max_iters: 1,
        record_history: true,
        ..Default::default()
    };
    Sor::new(&a, 1.0).unwrap().solve(&b, &mut x, &o).unwrap();
    let x0 = 1.0 / 4.0;
    let x1 = (2.0 + x0) / 4.0;
    let x2 = (3.0 + x1) / 4.0;
    assert_eq!(x, vec![x0, x1, x2]);
}

#[test]
fn bad_inputs_are_errors() {
    let a = SparseMatrix::from_triplets(2, &[(0, 0, 1.0), (0, 1, 2.0), (1, 0, 2.0), (1, 1, 1.0)])
        .unwrap();
    // Indefinite: CG breaks down with pᵀAp ≤ 0 or IC(0) fails.
    let b = [1.0, -1.0];
    let mut x = vec![0.0; 2];
    let e = Cg::new(&a).solve(&b, &mut x, &opts(1e-8)).unwrap_err();
    assert!(e.to_string().contains("not positive definite"), "{e}");
    assert!(matches!(
        Ic0::new(&a),
        Err(SparseError::NotPositiveDefinite { .. })
    ));
    // Dimension mismatch and NaN in b.
    let mut x = vec![0.0; 2];
    assert!(matches!(
        Cg::new(&a).solve(&[1.0], &mut x, &opts(1e-8)),
        Err(SparseError::DimensionMismatch(_))
    ));
    assert!(matches!(
        Cg::new(&a).solve(&[1.0, f64::NAN], &mut x, &opts(1e-8)),
        Err(SparseError::NonFinite(_))
    ));
    // ω outside (0, 2), zero diagonal.
    assert!(Sor::new(&a, 2.0).is_err());
    assert!(Sor::new(&a, 0.0).is_err());
    let z = SparseMatrix::from_triplets(2, &[(0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.0)]).unwrap();
    assert!(matches!(
        Sor::new(&z, 1.0),
        Err(SparseError::ZeroDiagonal { row: 0, .. })
    ));
    assert!(matches!(
        Jacobi::new(&z),
        Err(SparseError::ZeroDiagonal { row: 0, .. })
    ));
}

#[test]
fn ssor_preconditioner_is_symmetric() {
    let p = GridPoisson::new("9x7".parse().unwrap());
    let a = p.matrix();
    let mut m = SsorPreconditioner::new(&a, 1.3).unwrap();
    let u = p.rhs(RhsKind::Random, 1);
    let v = p.rhs(RhsKind::Random, 2);
    let (mut mu, mut mv) = (vec![0.0; u.len()], vec![0.0; u.len()]);
    m.apply(&u, &mut mu);
    m.apply(&v, &mut mv);
    let a1: f64 = v.iter().zip(&mu).map(|(p, q)| p * q).sum();
    let a2: f64 = u.iter().zip(&mv).map(|(p, q)| p * q).sum();
    assert!((a1 - a2).abs() < 1e-12 * a1.abs().max(1.0));
}

/// diag(1e308, 1e308) is positive definite; pᵀAp overflows. Every Krylov solver says overflow,
/// not "not positive definite"; a genuinely indefinite matrix keeps that message.
#[test]
fn overflow_is_not_reported_as_indefiniteness() {
    let big = SparseMatrix::from_triplets(2, &[(0, 0, 1e308), (1, 1, 1e308)]).unwrap();
    let sys = System {
        matrix: Some(&big),
        operator: None,
        grid: None,
    };
    let b = [1.0, 1.0];
    let mut x = vec![0.0; 2];
    let e = Cg::new(&big).solve(&b, &mut x, &opts(1e-8)).unwrap_err();
    assert!(matches!(e, SparseError::Overflow(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("overflow: p·Ap is not finite (inf)"),
        "{msg}"
    );
    assert!(msg.contains("rescale the system"), "{msg}");
    assert!(!msg.contains("positive definite"), "{msg}");
    // Whatever each solver does with it, none calls it indefinite.
    for kind in SolverKind::ALL {
        if kind == SolverKind::MgPcg {
            continue;
        }
        let mut x = vec![0.0; 2];
        if let Err(e) = solve(kind, &sys, 1.0, &b, &mut x, &opts(1e-8)) {
            assert!(
                !matches!(e, SparseError::NotPositiveDefinite { .. }),
                "{kind:?}: {e}"
            );
        }
    }
    // Off-diagonal entries near 1e308: A p overflows in the first product.
    let big2 = SparseMatrix::from_triplets(
        2,
        &[(0, 0, 1e308), (0, 1, 1e308), (1, 0, 1e308), (1, 1, 1e308)],
    )
    .unwrap();
    let e = Cg::new(&big2)
        .solve(&[1.0, 2.0], &mut x, &opts(1e-8))
        .unwrap_err();
    assert!(matches!(e, SparseError::Overflow(_)), "{e}");

    // The genuine breakdown keeps its message.
    let indef = SparseMatrix::from_triplets(2, &[(0, 0, 1.0), (1, 1, -1.0)]).unwrap();
    let mut x = vec![0.0; 2];
    let e = Cg::new(&indef).solve(&b, &mut x, &opts(1e-8)).unwrap_err();
    assert!(matches!(e, SparseError::NotPositiveDefinite { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("not positive definite (pᵀAp = 0e0 at iteration 1)"),
        "{e}"
    );
}

/// A finite right-hand side whose norm overflows (entries above ~1e154) is refused by every
/// solver with an overflow error, instead of a "solve" that reports a NaN residual; an
/// infinite or NaN entry is refused as non-finite, naming the entry 1-based.
#[test]
fn right_hand_sides_that_overflow_or_are_not_finite_are_refused() {
    let a = SparseMatrix::from_triplets(2, &[(0, 0, 1.0), (1, 1, 1.0)]).unwrap();
    let sys = System {
        matrix: Some(&a),
        operator: None,
        grid: None,
    };
    for kind in SolverKind::ALL {
        if kind == SolverKind::MgPcg {
            continue;
        }
        let mut x = vec![0.0; 2];
        let e = solve(kind, &sys, 1.0, &[1e160, 1e160], &mut x, &opts(1e-8)).unwrap_err();
        assert!(matches!(e, SparseError::Overflow(_)), "{kind:?}: {e}");
        assert!(e.to_string().contains("largest entry 1e160"), "{e}");
        for bad in [f64::INFINITY, f64::NAN] {
            let e = solve(kind, &sys, 1.0, &[1.0, bad], &mut x, &opts(1e-8)).unwrap_err();
            assert!(matches!(e, SparseError::NonFinite(_)), "{kind:?}: {e}");
            assert!(e.to_string().contains("right-hand side entry 2 is"), "{e}");
        }
    }
    // An initial guess whose residual overflows.
    let mut x = vec![1e300, 1e300];
    let big = SparseMatrix::from_triplets(2, &[(0, 0, 1e10), (1, 1, 1e10)]).unwrap();
    let e = Cg::new(&big)
        .solve(&[1.0, 1.0], &mut x, &opts(1e-8))
        .unwrap_err();
    assert!(matches!(e, SparseError::Overflow(_)), "{e}");
    assert!(e.to_string().contains("initial residual"), "{e}");
}

/// The 5-point Laplacian on an n×n grid plus `shift(i)` on the diagonal, as triplets.
fn shifted_laplacian(n: usize, shift: impl Fn(usize) -> f64) -> SparseMatrix {
    let mut t = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let k = i + n * j;
            t.push((k, k, 4.0 + shift(k)));
            if i > 0 {
                t.push((k, k - 1, -1.0));
            }
            if i + 1 < n {
                t.push((k, k + 1, -1.0));
            }
            if j > 0 {
                t.push((k, k - n, -1.0));
            }
            if j + 1 < n {
                t.push((k, k + n, -1.0));
            }
        }
    }
    SparseMatrix::from_triplets(n * n, &t).unwrap()
}

/// A time loop's solver: IC(0) refactored and PCG pointed at each new matrix gives bit for bit
/// what a fresh set-up gives, and the solution solves the new system.
#[test]
fn ic0_refactor_and_pcg_set_operator_match_a_fresh_setup() {
    let n = 24;
    let a1 = shifted_laplacian(n, |_| 0.0);
    let a2 = shifted_laplacian(n, |k| 0.5 + (k % 7) as f64 * 0.3);
    let b: Vec<f64> = (0..n * n)
        .map(|k| ((k * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();

    let mut ic = Ic0::new(&a1).unwrap();
    ic.refactor(&a2).unwrap();
    let mut fresh = Ic0::new(&a2).unwrap();
    let (mut z1, mut z2) = (vec![0.0; n * n], vec![0.0; n * n]);
    ic.apply(&b, &mut z1);
    fresh.apply(&b, &mut z2);
    assert_eq!(z1, z2, "refactored factor equals a fresh one");

    // The loop: one PCG, updated per step (operator + refactored IC(0)).
    let mut pcg = Pcg::new(&a1, Box::new(Ic0::new(&a1).unwrap()));
    let mut x = vec![0.0; n * n];
    pcg.solve(&b, &mut x, &opts(1e-10)).unwrap();
    pcg.update(&a2).unwrap();
    let mut x = vec![0.0; n * n];
    let r = pcg.solve(&b, &mut x, &opts(1e-10)).unwrap();
    assert!(r.converged);
    let mut ax = vec![0.0; n * n];
    a2.apply(&x, &mut ax);
    let res: f64 = ax
        .iter()
        .zip(&b)
        .map(|(p, q)| (q - p).powi(2))
        .sum::<f64>()
        .sqrt();
    let bn: f64 = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(res / bn <= 1e-10, "{}", res / bn);
    let mut fresh_x = vec![0.0; n * n];
    let fresh_r = Pcg::new(&a2, Box::new(Ic0::new(&a2).unwrap()))
        .solve(&b, &mut fresh_x, &opts(1e-10))
        .unwrap();
    assert_eq!(
        x, fresh_x,
        "an updated solver solves exactly like a fresh one"
    );
    assert_eq!(r.iterations, fresh_r.iterations);

    // A preconditioner that cannot refactor says so.
    let mut jac = Pcg::new(&a1, Box::new(Jacobi::new(&a1).unwrap()));
    let e = jac.update(&a2).unwrap_err();
    assert!(e.to_string().contains("cannot be refactored"), "{e}");

    // Another pattern is refused and leaves the factor usable.
    let other =
        SparseMatrix::from_triplets(n * n, &(0..n * n).map(|k| (k, k, 2.0)).collect::<Vec<_>>())
            .unwrap();
    let mut ic = Ic0::new(&a2).unwrap();
    let e = ic.refactor(&other).unwrap_err();
    assert!(e.to_string().contains("pattern differs"), "{e}");
    let mut z3 = vec![0.0; n * n];
    ic.apply(&b, &mut z3);
    assert_eq!(z3, z2);
}
