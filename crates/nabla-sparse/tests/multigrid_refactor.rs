//! Geometric multigrid reused across a sequence of systems (issue 21): `Multigrid::refactor`
//! and `Pcg::update` on new coefficient values give bit for bit what a fresh set-up gives, in
//! 2-D and 3-D, with variable coefficients, obstacles, shifted (time-step) matrices and the
//! switch between the plain Laplacian and a general stencil; a foreign matrix is a clear error
//! that leaves the hierarchy usable; `memory_bytes` matches the documented sizes.

use nabla_core::GridShape;
use nabla_sparse::{
    Amg, AmgOptions, GridPoisson, Ic0, LinearOperator, Multigrid, MultigridOptions, Pcg,
    Preconditioner, RhsKind, SolveOptions, Solver, SparseError, SparseMatrix,
};

fn shape(spec: &str) -> GridShape {
    spec.parse().expect("valid grid spec")
}

/// `‖b − A x‖₂ / ‖b‖₂` computed straight from the CSR arrays (independent of the solvers).
fn independent_residual(a: &SparseMatrix, b: &[f64], x: &[f64]) -> f64 {
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let mut rr = 0.0;
    for i in 0..a.rows() {
        let mut s = 0.0;
        for k in ip[i]..ip[i + 1] {
            s += vx[k] * x[ix[k] as usize];
        }
        rr += (b[i] - s).powi(2);
    }
    let bb: f64 = b.iter().map(|v| v * v).sum();
    (rr / bb).sqrt()
}

/// A smooth nodal coefficient (boundary layer included) with a 1:20 jump in a slab whose
/// position and contrast depend on `t`: the coefficient of a time step.
fn coefficient(s: &GridShape, t: f64) -> Vec<f64> {
    let ext: Vec<usize> = s.dims().iter().map(|n| n + 2).collect();
    let len: usize = ext.iter().product();
    (0..len)
        .map(|e| {
            let mut rest = e;
            let mut x = [0.0f64; 3];
            for (a, n) in ext.iter().enumerate() {
                x[a] = (rest % n) as f64 / (*n - 1) as f64;
                rest /= n;
            }
            let smooth = 1.0 + 0.5 * (6.0 * x[0] + 4.0 * x[1] - 3.0 * x[2] + 2.0 * t).sin();
            let slab = (x[0] - 0.3 - 0.2 * t).abs() < 0.15;
            if slab {
                smooth * (20.0 + 10.0 * t)
            } else {
                smooth
            }
        })
        .collect()
}

fn opts(tol: f64) -> SolveOptions<'static> {
    SolveOptions {
        tol,
        ..Default::default()
    }
}

fn test_vector(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|k| (((k * 37 + seed * 11) % 101) as f64 / 50.0) - 1.0)
        .collect()
}

/// One V-cycle of each preconditioner on the same vector.
fn apply_both(m1: &mut dyn Preconditioner, m2: &mut dyn Preconditioner, n: usize) {
    let r = test_vector(n, 3);
    let (mut z1, mut z2) = (vec![0.0; n], vec![0.0; n]);
    m1.apply(&r, &mut z1);
    m2.apply(&r, &mut z2);
    assert_eq!(
        z1, z2,
        "the refactored V-cycle equals a fresh one bit for bit"
    );
}

/// The time-loop check on one grid: a hierarchy built for the coefficient at t = 0, refactored
/// for t = 1 (directly and through `Pcg::update`), solves exactly like a fresh one, and the
/// solution meets the tolerance on an independently computed residual.
fn refactor_matches_fresh(p0: &GridPoisson, p1: &GridPoisson) {
    let (a0, a1) = (p0.matrix(), p1.matrix());
    let n = a0.rows();
    let b = p1.rhs(RhsKind::Random, 11);
    let tol = 1e-10;

    let mut mg = Multigrid::new(p0, &a0).unwrap();
    let levels = mg.level_shapes();
    let bytes = mg.memory_bytes();
    mg.refactor(&a1).unwrap();
    assert_eq!(mg.level_shapes(), levels);
    assert_eq!(mg.memory_bytes(), bytes, "refactor allocates nothing new");
    let mut fresh = Multigrid::new(p1, &a1).unwrap();
    apply_both(&mut mg, &mut fresh, n);

    let mut x_ref = vec![0.0; n];
    let r_ref = Pcg::new(&a1, Box::new(mg))
        .solve(&b, &mut x_ref, &opts(tol))
        .unwrap();
    let mut x_fresh = vec![0.0; n];
    let r_fresh = Pcg::new(&a1, Box::new(fresh))
        .solve(&b, &mut x_fresh, &opts(tol))
        .unwrap();
    assert_eq!(x_ref, x_fresh, "{}: same solution bit for bit", p1.shape());
    assert_eq!(r_ref.iterations, r_fresh.iterations);
    assert!(r_ref.converged && r_ref.iterations <= 25, "{r_ref:?}");
    let rel = independent_residual(&a1, &b, &x_ref);
    assert!(rel <= tol, "{}: residual {rel:e}", p1.shape());

    // The same through the solver a time loop keeps: one PCG, updated per step.
    let mut pcg = Pcg::new(&a0, Box::new(Multigrid::new(p0, &a0).unwrap()));
    let mut x = vec![0.0; n];
    pcg.solve(&p0.rhs(RhsKind::Random, 2), &mut x, &opts(tol))
        .unwrap();
    pcg.update(&a1).unwrap();
    let mut x = vec![0.0; n];
    let rep = pcg.solve(&b, &mut x, &opts(tol)).unwrap();
    assert_eq!(rep.solver, "mg-pcg");
    assert_eq!(
        x,
        x_fresh,
        "{}: Pcg::update equals a fresh set-up",
        p1.shape()
    );
    // And back to the first coefficient.
    pcg.update(&a0).unwrap();
    let mut x = vec![0.0; n];
    pcg.solve(&b, &mut x, &opts(tol)).unwrap();
    let mut x0 = vec![0.0; n];
    Pcg::new(&a0, Box::new(Multigrid::new(p0, &a0).unwrap()))
        .solve(&b, &mut x0, &opts(tol))
        .unwrap();
    assert_eq!(x, x0);
    assert!(independent_residual(&a0, &b, &x) <= tol);
}

#[test]
fn refactor_equals_a_fresh_hierarchy_in_2d() {
    let s = shape("97x64");
    let p0 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 0.0))
        .unwrap();
    let p1 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 1.0))
        .unwrap();
    refactor_matches_fresh(&p0, &p1);
}

#[test]
fn refactor_equals_a_fresh_hierarchy_in_3d() {
    let s = shape("33x30x17");
    let p0 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 0.0))
        .unwrap();
    let p1 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 1.0))
        .unwrap();
    refactor_matches_fresh(&p0, &p1);
}

#[test]
fn refactor_equals_a_fresh_hierarchy_with_obstacles() {
    let s = shape("40x37");
    let mask: Vec<bool> = (0..s.len())
        .map(|p| {
            let (i, j) = (p % 40, p / 40);
            (10..18).contains(&i) && (5..30).contains(&j)
        })
        .collect();
    let p0 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 0.0))
        .unwrap()
        .with_mask(mask.clone())
        .unwrap();
    let p1 = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 1.0))
        .unwrap()
        .with_mask(mask)
        .unwrap();
    refactor_matches_fresh(&p0, &p1);
}

/// `A + c·I` on the grid's pattern: an implicit time step's matrix, assembled by the user.
fn shifted(a: &SparseMatrix, c: f64) -> SparseMatrix {
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let mut t = Vec::with_capacity(a.nnz());
    for i in 0..a.rows() {
        for k in ip[i]..ip[i + 1] {
            let j = ix[k] as usize;
            t.push((i, j, if i == j { vx[k] + c } else { vx[k] }));
        }
    }
    SparseMatrix::from_triplets(a.rows(), &t).unwrap()
}

/// A constant-coefficient problem's hierarchy stores the plain Laplacian without arrays; it
/// takes a shifted user matrix (then stores its stencil), a scaled one and the plain
/// Laplacian again, each time exactly like a fresh set-up with the same problem. The
/// matrix-free hierarchy refactors too.
#[test]
fn refactor_switches_between_the_plain_laplacian_and_a_stencil() {
    for spec in ["64x50", "20x17x15"] {
        let p = GridPoisson::new(shape(spec));
        let plain = p.matrix();
        let n = plain.rows();
        let options = MultigridOptions {
            smoothing_sweeps: 1,
            coarse_size: 200,
            ..Default::default()
        };
        let mut mg = Multigrid::with_options(&p, &plain, options.clone()).unwrap();
        let plain_bytes = mg.memory_bytes();
        let mut matrix_free = Multigrid::matrix_free(&p, options.clone()).unwrap();
        for (step, a) in [
            shifted(&plain, 0.37),
            shifted(&plain, 2.5),
            plain.clone(),
            shifted(&plain, 1e-3),
        ]
        .iter()
        .enumerate()
        {
            mg.refactor(a).unwrap();
            matrix_free.refactor(a).unwrap();
            let mut fresh = Multigrid::with_options(&p, a, options.clone()).unwrap();
            apply_both(&mut mg, &mut fresh, n);
            apply_both(&mut matrix_free, &mut fresh, n);
            assert_eq!(mg.options(), &options);
            if step == 2 {
                assert_eq!(mg.memory_bytes(), plain_bytes, "the plain Laplacian again");
            } else {
                assert!(mg.memory_bytes() > plain_bytes, "a stored stencil");
            }
            let b = p.rhs(RhsKind::Random, step as u64);
            let mut x = vec![0.0; n];
            let rep = Pcg::new(a, Box::new(&mut mg))
                .solve(&b, &mut x, &opts(1e-9))
                .unwrap();
            assert!(rep.converged && rep.iterations <= 20, "{spec}: {rep:?}");
            assert!(independent_residual(a, &b, &x) <= 1e-9);
        }
    }
}

/// Every kind of foreign matrix is an error naming the problem, never a panic, and leaves
/// the hierarchy exactly as it was.
#[test]
fn foreign_matrices_are_errors_that_leave_the_hierarchy_usable() {
    let s = shape("16x16");
    let p = GridPoisson::new(s.clone())
        .with_coefficient(&coefficient(&s, 0.5))
        .unwrap();
    let a = p.matrix();
    let n = a.rows();
    let mut mg = Multigrid::new(&p, &a).unwrap();
    let r = test_vector(n, 1);
    let mut z0 = vec![0.0; n];
    mg.apply(&r, &mut z0);

    let diag_only =
        |n: usize| -> Vec<(usize, usize, f64)> { (0..n).map(|i| (i, i, 4.0)).collect() };
    let mut cases: Vec<(&str, SparseMatrix)> = vec![
        ("another grid's", GridPoisson::new(shape("8x32")).matrix()),
        ("a smaller", GridPoisson::new(shape("15x15")).matrix()),
        ("a larger", GridPoisson::new(shape("17x16")).matrix()),
    ];
    let mut t = diag_only(n);
    t.push((0, 17, -1.0));
    t.push((17, 0, -1.0));
    cases.push((
        "a non-neighbour",
        SparseMatrix::from_triplets(n, &t).unwrap(),
    ));
    let mut t = diag_only(n);
    t.push((15, 16, -1.0)); // across the end of a grid line
    t.push((16, 15, -1.0));
    cases.push(("a wrapped", SparseMatrix::from_triplets(n, &t).unwrap()));
    let mut t = diag_only(n);
    t.push((0, 1, -1.0));
    t.push((1, 0, -2.0));
    cases.push(("an asymmetric", SparseMatrix::from_triplets(n, &t).unwrap()));
    let mut t = diag_only(n);
    t.push((0, 1, -1.0));
    cases.push(("a one-sided", SparseMatrix::from_triplets(n, &t).unwrap()));
    let mut t = diag_only(n);
    t[5].2 = -1.0;
    cases.push((
        "a negative-diagonal",
        SparseMatrix::from_triplets(n, &t).unwrap(),
    ));
    let mut t = diag_only(n);
    t.remove(9);
    cases.push((
        "a missing-diagonal",
        SparseMatrix::from_triplets(n, &t).unwrap(),
    ));

    for (what, bad) in &cases {
        let err = mg.refactor(bad).expect_err(what);
        let msg = err.to_string();
        match err {
            SparseError::NotAGrid(_) => assert!(msg.contains("multigrid"), "{what}: {msg}"),
            SparseError::NotSymmetric { .. } => {
                assert!(msg.contains("multigrid"), "{what}: {msg}")
            }
            SparseError::NotPositiveDefinite { .. } => {
                assert!(msg.contains("diagonal"), "{what}: {msg}")
            }
            other => panic!("{what}: unexpected error {other:?}"),
        }
        assert_eq!(
            Multigrid::new(&p, bad).unwrap_err().to_string(),
            msg,
            "{what}: new and refactor report the same"
        );
        let mut z = vec![0.0; n];
        mg.apply(&r, &mut z);
        assert_eq!(z, z0, "{what}: the hierarchy is unchanged");
    }

    // Through PCG: a wrong size is a dimension error, a foreign pattern the multigrid one;
    // the solver still solves the old system afterwards.
    let mut pcg = Pcg::new(&a, Box::new(Multigrid::new(&p, &a).unwrap()));
    assert!(matches!(
        pcg.update(&cases[1].1),
        Err(SparseError::DimensionMismatch(_))
    ));
    assert!(matches!(
        pcg.update(&cases[3].1),
        Err(SparseError::NotAGrid(_))
    ));
    let b = p.rhs(RhsKind::Random, 4);
    let mut x = vec![0.0; n];
    let rep = pcg.solve(&b, &mut x, &opts(1e-10)).unwrap();
    assert!(rep.converged);
    assert!(independent_residual(&a, &b, &x) <= 1e-10);
}

/// `memory_bytes` agrees with the sizes the documentation states: IC(0) exactly; multigrid
/// about (4 + d)·n values on the fine level plus (3^d + 4)·n/(2^d − 1) on the Galerkin levels
/// (padding and the small coarse factor on top); AMG at least its operators.
#[test]
fn memory_bytes_match_the_documented_sizes() {
    // IC(0): indptr (n+1 usize), the lower triangle with diagonal (u32 index + f64 value per
    // entry), the inverse diagonal.
    let p = GridPoisson::new(shape("50x40"));
    let a = p.matrix();
    let (n, nnz) = (a.rows(), a.nnz());
    let lower = (nnz + n) / 2;
    let ic = Ic0::new(&a).unwrap();
    assert_eq!(ic.memory_bytes(), 8 * (n + 1) + 12 * lower + 8 * n);

    for (spec, d) in [("256x256", 2), ("48x48x48", 3)] {
        let s = shape(spec);
        let p = GridPoisson::new(s.clone())
            .with_coefficient(&coefficient(&s, 0.0))
            .unwrap();
        let a = p.matrix();
        let n = a.rows() as f64;
        let mg = Multigrid::new(&p, &a).unwrap();
        let values = mg.memory_bytes() as f64 / 8.0;
        let stencil = 3f64.powi(d);
        let estimate = (4.0 + d as f64) * n + (stencil + 4.0) * n / (2f64.powi(d) - 1.0);
        let ratio = values / estimate;
        assert!(
            (0.95..1.35).contains(&ratio),
            "{spec}: {values} values vs {estimate}: {ratio}"
        );

        // The plain Laplacian: no stencil arrays, 1-D coarse factors.
        let plain = GridPoisson::new(s.clone());
        let mg = Multigrid::new(&plain, &plain.matrix()).unwrap();
        let values = mg.memory_bytes() as f64 / 8.0;
        let estimate = 2.0 * n + 3.0 * n / (2f64.powi(d) - 1.0);
        let ratio = values / estimate;
        assert!(
            (0.95..1.35).contains(&ratio),
            "{spec} plain: {values} vs {estimate}: {ratio}"
        );
    }

    // AMG: at least every level's CSR matrix (usize row pointers, u32 indices, f64 values).
    let a = GridPoisson::new(shape("120x100")).matrix();
    let amg = Amg::new(&a, AmgOptions::default()).unwrap();
    let h = amg.hierarchy();
    let csr: usize = h
        .levels
        .iter()
        .map(|l| 8 * (l.rows + 1) + 12 * l.nonzeros)
        .sum();
    let bytes = amg.memory_bytes();
    assert!(bytes > csr && bytes < 6 * csr, "{bytes} vs operators {csr}");
    assert!(a.dim() > 0);
}
