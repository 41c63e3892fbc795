//! Smoothed-aggregation AMG: convergence on finite-element matrices (shipped and assembled
//! here), hard coefficients, degenerate sizes, bounded iterations under refinement, `refactor`
//! equal to a fresh set-up, and the errors on bad matrices. Every residual is recomputed here
//! from the triplets, sharing no code with the solver.

use nabla_sparse::{
    mm, Amg, AmgOptions, AmgSmoother, LinearOperator, Pcg, RhsKind, SolveOptions, SolveReport,
    Solver, SparseError, SparseMatrix,
};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// ‖b − A x‖ / ‖b‖ from the stored entries, serially.
fn relres(a: &SparseMatrix, x: &[f64], b: &[f64]) -> f64 {
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let (mut rr, mut bb) = (0.0, 0.0);
    for i in 0..a.rows() {
        let mut s = 0.0;
        for k in ip[i]..ip[i + 1] {
            s += vx[k] * x[ix[k] as usize];
        }
        rr += (b[i] - s).powi(2);
        bb += b[i] * b[i];
    }
    (rr / bb).sqrt()
}

fn random_rhs(n: usize, seed: u64) -> Vec<f64> {
    RhsKind::Random.vector(n, seed)
}

/// AMG-PCG from zero to `tol`; asserts convergence on the recomputed residual.
fn amg_pcg(a: &SparseMatrix, opts: AmgOptions, tol: f64) -> SolveReport {
    let b = random_rhs(a.rows(), 11);
    let mut x = vec![0.0; a.rows()];
    let amg = Amg::new(a, opts).unwrap();
    let rep = Pcg::new(a, Box::new(amg))
        .solve(
            &b,
            &mut x,
            &SolveOptions {
                tol,
                max_iters: 500,
                record_history: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(rep.converged, "{} iterations", rep.iterations);
    let r = relres(a, &x, &b);
    assert!(r <= tol, "recomputed residual {r} > {tol}");
    assert!((r - rep.relative_residual).abs() <= 1e-6 * r + 1e-15);
    rep
}

/// The stand-alone AMG iteration from zero to 1e-8 (at most 200 cycles); asserts convergence
/// on the recomputed residual.
fn standalone(a: &SparseMatrix, amg: &mut Amg, seed: u64) -> SolveReport {
    let b = random_rhs(a.rows(), seed);
    let mut x = vec![0.0; a.rows()];
    let opts = SolveOptions {
        tol: 1e-8,
        max_iters: 200,
        record_history: true,
        ..Default::default()
    };
    let rep = amg.solve(&b, &mut x, &opts).unwrap();
    assert!(rep.converged && relres(a, &x, &b) <= 1e-8, "{rep:?}");
    rep
}

/// P1 finite elements for −div(k ∇u) = f on the unit square, (m+1)² nodes of a triangulated
/// grid with interior nodes moved by up to `jitter`·h (seeded), Dirichlet boundary removed.
/// `coef(x, y)` is evaluated at each triangle's centroid.
fn p1_square(m: usize, jitter: f64, coef: &dyn Fn(f64, f64) -> f64) -> SparseMatrix {
    let h = 1.0 / m as f64;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(42);
    let node = |i: usize, j: usize| i + (m + 1) * j;
    let mut xy = vec![[0.0; 2]; (m + 1) * (m + 1)];
    for j in 0..=m {
        for i in 0..=m {
            let interior = i > 0 && j > 0 && i < m && j < m;
            let (dx, dy) = if interior {
                (
                    rng.gen_range(-jitter..jitter) * h,
                    rng.gen_range(-jitter..jitter) * h,
                )
            } else {
                (0.0, 0.0)
            };
            xy[node(i, j)] = [i as f64 * h + dx, j as f64 * h + dy];
        }
    }
    // Unknown numbers of the interior nodes.
    let mut unknown = vec![usize::MAX; xy.len()];
    let mut n = 0;
    for j in 1..m {
        for i in 1..m {
            unknown[node(i, j)] = n;
            n += 1;
        }
    }
    let mut trip = Vec::new();
    for j in 0..m {
        for i in 0..m {
            let (a, b, c, d) = (
                node(i, j),
                node(i + 1, j),
                node(i, j + 1),
                node(i + 1, j + 1),
            );
            let tris = if (i + j) % 2 == 0 {
                [[a, b, d], [a, d, c]]
            } else {
                [[a, b, c], [b, d, c]]
            };
            for t in tris {
                let p: Vec<[f64; 2]> = t.iter().map(|&v| xy[v]).collect();
                let area2 = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1])
                    - (p[2][0] - p[0][0]) * (p[1][1] - p[0][1]);
                let cx = (p[0][0] + p[1][0] + p[2][0]) / 3.0;
                let cy = (p[0][1] + p[1][1] + p[2][1]) / 3.0;
                let k = coef(cx, cy);
                // Gradients of the barycentric functions times 2·area.
                let g: Vec<[f64; 2]> = (0..3)
                    .map(|v| {
                        let (q, r) = (p[(v + 1) % 3], p[(v + 2) % 3]);
                        [q[1] - r[1], r[0] - q[0]]
                    })
                    .collect();
                for u in 0..3 {
                    for v in 0..3 {
                        let (ru, rv) = (unknown[t[u]], unknown[t[v]]);
                        if ru != usize::MAX && rv != usize::MAX {
                            let kuv =
                                k * (g[u][0] * g[v][0] + g[u][1] * g[v][1]) / (2.0 * area2.abs());
                            trip.push((ru, rv, kuv));
                        }
                    }
                }
            }
        }
    }
    SparseMatrix::from_triplets(n, &trip).unwrap()
}

/// 5-point `−ε u_xx − u_yy` on an n×n grid.
fn anisotropic(n: usize, eps: f64) -> SparseMatrix {
    let mut t = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let p = i + n * j;
            t.push((p, p, 2.0 * eps + 2.0));
            if i > 0 {
                t.push((p, p - 1, -eps));
            }
            if i + 1 < n {
                t.push((p, p + 1, -eps));
            }
            if j > 0 {
                t.push((p, p - n, -1.0));
            }
            if j + 1 < n {
                t.push((p, p + n, -1.0));
            }
        }
    }
    SparseMatrix::from_triplets(n * n, &t).unwrap()
}

fn dataset(name: &str) -> SparseMatrix {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(name);
    mm::read_matrix(&path).unwrap()
}

#[test]
fn converges_on_the_shipped_finite_element_matrices() {
    for (name, max_iters) in [
        ("fe_p1_lshape.mtx", 30),
        ("fe_p2_square.mtx", 40),
        ("fe_p1_checker.mtx", 40),
        ("fe_p1_tet.mtx", 30),
    ] {
        let a = dataset(name);
        let rep = amg_pcg(&a, AmgOptions::default(), 1e-10);
        assert!(
            rep.iterations <= max_iters,
            "{name}: {} iterations",
            rep.iterations
        );
        let h = rep.amg.expect("hierarchy reported");
        assert!(h.levels.len() >= 2, "{name}: {h:?}");
        assert!(h.operator_complexity < 2.5, "{name}: {h:?}");
    }
}

#[test]
fn every_smoother_converges_and_the_standalone_iteration_too() {
    let a = p1_square(48, 0.25, &|_, _| 1.0);
    for smoother in [
        AmgSmoother::Spai0,
        AmgSmoother::Jacobi,
        AmgSmoother::Chebyshev { degree: 2 },
        AmgSmoother::SymmetricGaussSeidel,
    ] {
        let opts = AmgOptions {
            smoother,
            ..Default::default()
        };
        let rep = amg_pcg(&a, opts.clone(), 1e-10);
        assert!(rep.iterations <= 25, "{smoother:?}: {}", rep.iterations);
        // Stand-alone V-cycles.
        let rep = standalone(&a, &mut Amg::new(&a, opts).unwrap(), 5);
        assert_eq!(rep.solver, "amg");
    }
}

#[test]
fn hard_coefficients_anisotropy_and_jumps() {
    // ε = 1e-3: x-couplings are weak at θ = 0.08, aggregation follows y.
    let rep = amg_pcg(&anisotropic(64, 1e-3), AmgOptions::default(), 1e-10);
    assert!(rep.iterations <= 25, "anisotropic: {}", rep.iterations);
    // Checkerboard coefficient 1 : 1e6 on 8×8 blocks.
    let jump = |x: f64, y: f64| {
        if ((x * 8.0) as usize + (y * 8.0) as usize).is_multiple_of(2) {
            1.0
        } else {
            1e6
        }
    };
    let rep = amg_pcg(&p1_square(96, 0.2, &jump), AmgOptions::default(), 1e-10);
    assert!(rep.iterations <= 40, "1e6 jump: {}", rep.iterations);
}

#[test]
fn iterations_stay_bounded_under_refinement() {
    // ~4k and ~64k unknowns of the same jittered P1 problem.
    let coarse = amg_pcg(
        &p1_square(65, 0.25, &|_, _| 1.0),
        AmgOptions::default(),
        1e-8,
    );
    let fine = amg_pcg(
        &p1_square(257, 0.25, &|_, _| 1.0),
        AmgOptions::default(),
        1e-8,
    );
    let growth = fine.iterations as f64 / coarse.iterations as f64;
    assert!(
        growth <= 1.5,
        "{} → {} iterations ({growth:.2}x)",
        coarse.iterations,
        fine.iterations
    );
}

#[test]
fn degenerate_sizes_and_disconnected_components() {
    // 1×1.
    let one = SparseMatrix::from_triplets(1, &[(0, 0, 3.0)]).unwrap();
    let mut amg = Amg::new(&one, AmgOptions::default()).unwrap();
    let mut x = vec![0.0];
    let rep = amg.solve(&[6.0], &mut x, &SolveOptions::default()).unwrap();
    assert!(rep.converged && (x[0] - 2.0).abs() < 1e-15 && rep.iterations == 1);
    // Smaller than the coarsest size: one level, the V-cycle is the exact solve.
    let small = anisotropic(10, 1.0);
    let amg = Amg::new(&small, AmgOptions::default()).unwrap();
    assert_eq!(amg.hierarchy().levels.len(), 1);
    let rep = amg_pcg(&small, AmgOptions::default(), 1e-12);
    assert!(rep.iterations <= 2, "{}", rep.iterations);
    // Two disconnected components of different sizes (block diagonal).
    let (p, q) = (anisotropic(40, 1.0), p1_square(30, 0.2, &|_, _| 1.0));
    let mut t: Vec<(usize, usize, f64)> = Vec::new();
    for (off, m) in [(0, &p), (p.rows(), &q)] {
        let (ip, ix, vx) = (m.indptr(), m.indices(), m.values());
        for i in 0..m.rows() {
            for k in ip[i]..ip[i + 1] {
                t.push((off + i, off + ix[k] as usize, vx[k]));
            }
        }
    }
    let both = SparseMatrix::from_triplets(p.rows() + q.rows(), &t).unwrap();
    let rep = amg_pcg(&both, AmgOptions::default(), 1e-10);
    assert!(rep.iterations <= 25, "{}", rep.iterations);
    // A diagonal matrix: every node isolated, no coarse level, still exact.
    let diag: Vec<(usize, usize, f64)> = (0..2000).map(|i| (i, i, 1.0 + i as f64)).collect();
    let d = SparseMatrix::from_triplets(2000, &diag).unwrap();
    let rep = amg_pcg(&d, AmgOptions::default(), 1e-10);
    assert!(rep.iterations <= 20, "{}", rep.iterations);
}

#[test]
fn block_size_and_user_near_nullspace() {
    // A P1 Laplacian with two coupled unknowns per node (a vector problem, block size 2).
    let s = p1_square(40, 0.25, &|_, _| 1.0);
    let (ip, ix, vx) = (s.indptr(), s.indices(), s.values());
    let mut t = Vec::new();
    for i in 0..s.rows() {
        for k in ip[i]..ip[i + 1] {
            let j = ix[k] as usize;
            // L ⊗ [[1, 0.3], [0.3, 2]]: SPD, components coupled.
            t.push((2 * i, 2 * j, vx[k]));
            t.push((2 * i + 1, 2 * j + 1, 2.0 * vx[k]));
            t.push((2 * i, 2 * j + 1, 0.3 * vx[k]));
            t.push((2 * i + 1, 2 * j, 0.3 * vx[k]));
        }
    }
    let a = SparseMatrix::from_triplets(2 * s.rows(), &t).unwrap();
    let by_block = amg_pcg(
        &a,
        AmgOptions {
            block_size: 2,
            ..Default::default()
        },
        1e-10,
    );
    assert!(by_block.iterations <= 30, "{}", by_block.iterations);
    // The same near-nullspace given explicitly gives the same iterations.
    let n = a.rows();
    let ns = vec![
        (0..n).map(|i| f64::from(u8::from(i % 2 == 0))).collect(),
        (0..n).map(|i| f64::from(u8::from(i % 2 == 1))).collect(),
    ];
    let explicit = amg_pcg(
        &a,
        AmgOptions {
            block_size: 2,
            near_nullspace: Some(ns),
            ..Default::default()
        },
        1e-10,
    );
    assert_eq!(explicit.iterations, by_block.iterations);
    assert_eq!(explicit.residual_history, by_block.residual_history);
    // Wrong lengths are errors.
    let bad = AmgOptions {
        near_nullspace: Some(vec![vec![1.0; n - 1]]),
        ..Default::default()
    };
    assert!(matches!(
        Amg::new(&a, bad),
        Err(SparseError::DimensionMismatch(_))
    ));
    let bad = AmgOptions {
        block_size: 3,
        ..Default::default()
    };
    assert!(matches!(
        Amg::new(&anisotropic(5, 1.0), bad),
        Err(SparseError::InvalidParameter(_))
    ));
}

#[test]
fn refactor_equals_a_fresh_setup() {
    // θ = 0: every coupling strong, so new values keep the strength graph and the aggregates.
    let opts = AmgOptions {
        strength_threshold: 0.0,
        ..Default::default()
    };
    let a1 = p1_square(60, 0.25, &|_, _| 1.0);
    let a2 = p1_square(60, 0.25, &|x, y| 1.0 + 5.0 * x * y);
    let mut reused = Amg::new(&a1, opts.clone()).unwrap();
    reused.refactor(&a2).unwrap();
    let mut fresh = Amg::new(&a2, opts.clone()).unwrap();
    assert_eq!(reused.hierarchy().levels, fresh.hierarchy().levels);
    // refactor skips strength, aggregation and the tentative prolongator.
    let kept = reused.hierarchy().setup_phases;
    assert_eq!(kept.strength + kept.aggregation + kept.tentative, 0.0);
    let r = random_rhs(a2.rows(), 9);
    let (mut z1, mut z2) = (vec![0.0; r.len()], vec![0.0; r.len()]);
    reused.vcycle(&r, &mut z1);
    fresh.vcycle(&r, &mut z2);
    assert_eq!(z1, z2, "one V-cycle differs");
    let solve = |amg: Amg| {
        let mut x = vec![0.0; r.len()];
        Pcg::new(&a2, Box::new(amg))
            .solve(
                &r,
                &mut x,
                &SolveOptions {
                    tol: 1e-10,
                    record_history: true,
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let (s1, s2) = (solve(reused), solve(fresh));
    assert_eq!(s1.residual_history, s2.residual_history);
    assert!(s1.converged);
    // A different pattern is refused and leaves the hierarchy usable.
    let mut amg = Amg::new(&a1, opts).unwrap();
    let other = p1_square(61, 0.25, &|_, _| 1.0);
    assert!(matches!(
        amg.refactor(&other),
        Err(SparseError::DimensionMismatch(_))
    ));
    let b = random_rhs(a1.rows(), 2);
    let mut x = vec![0.0; b.len()];
    assert!(
        Pcg::new(&a1, Box::new(amg))
            .solve(&b, &mut x, &SolveOptions::default())
            .unwrap()
            .converged
    );
}

#[test]
fn bad_matrices_are_one_line_errors() {
    let nonsym =
        SparseMatrix::from_triplets(2, &[(0, 0, 2.0), (0, 1, -1.0), (1, 0, -0.5), (1, 1, 2.0)])
            .unwrap();
    let zero = SparseMatrix::from_triplets(2, &[(0, 0, 2.0), (1, 0, 0.0), (1, 1, 0.0)]).unwrap();
    let negative = SparseMatrix::from_triplets(2, &[(0, 0, 2.0), (1, 1, -1.0)]).unwrap();
    for (a, what) in [
        (&nonsym, "symmetric"),
        (&zero, "zero diagonal"),
        (&negative, "negative"),
    ] {
        let e = Amg::new(a, AmgOptions::default())
            .err()
            .expect(what)
            .to_string();
        assert!(e.contains(what) && !e.contains('\n'), "{what}: {e}");
    }
    let bad = AmgOptions {
        strength_threshold: f64::NAN,
        ..Default::default()
    };
    assert!(Amg::new(&anisotropic(4, 1.0), bad).is_err());
    // The operator trait still sees the user's matrix (products, not a copy, drive PCG).
    assert_eq!(anisotropic(4, 1.0).dim(), 16);
}

#[test]
fn a_coarse_size_above_the_direct_limit_still_solves_the_coarsest_level_exactly() {
    // ~10k unknowns: the first coarse level has ~1.7k rows, above the 1500 rows up to which an
    // uncoarsenable level is factored, but within the requested coarse size. It must be
    // factored (as the option promises), not smoothed: then the two-level stand-alone
    // iteration converges like a two-grid method.
    let a = p1_square(100, 0.2, &|_, _| 1.0);
    let opts = AmgOptions {
        coarse_size: 5000,
        ..AmgOptions::default()
    };
    let mut amg = Amg::new(&a, opts.clone()).unwrap();
    let levels = amg.hierarchy().levels;
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert!(levels[1].rows > 1500, "{levels:?}");
    standalone(&a, &mut amg, 7);
    let deep = amg_pcg(&a, AmgOptions::default(), 1e-8);
    let two_level = amg_pcg(&a, opts, 1e-8);
    assert!(
        two_level.iterations <= deep.iterations,
        "two-level {} vs {} levels {}",
        two_level.iterations,
        deep.amg.as_ref().map_or(0, |h| h.levels.len()),
        deep.iterations
    );
    // Above the dense limit: a one-line error naming it.
    let err = Amg::new(
        &a,
        AmgOptions {
            coarse_size: nabla_sparse::MAX_COARSE_SIZE + 1,
            ..AmgOptions::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("coarse size 5001") && !err.contains('\n'),
        "{err}"
    );
}

#[test]
fn elasticity_with_block_size_and_rigid_body_modes() {
    // 3-D linear elasticity assembled by scikit-fem (datasets/fe_elasticity_tet.mtx, 1764
    // unknowns interleaved x, y, z per node, ν = 0.3), and its six rigid-body modes. Its rows
    // are dense enough (up to 81 entries) that SPAI(0) sits at λmax(M A) ≈ 1.96 here and above 2
    // on finer meshes of the same bar, where PCG broke down on the undamped smoother.
    let a = dataset("fe_elasticity_tet.mtx");
    let modes = mm::read_dense_columns(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/fe_elasticity_tet_rbm.mtx"),
    )
    .unwrap();
    assert_eq!(modes.len(), 6);
    let by_block = |smoother| AmgOptions {
        block_size: 3,
        smoother,
        ..Default::default()
    };
    let mut counts = Vec::new();
    for smoother in [
        AmgSmoother::Spai0,
        AmgSmoother::Jacobi,
        AmgSmoother::Chebyshev { degree: 2 },
        AmgSmoother::SymmetricGaussSeidel,
    ] {
        counts.push(amg_pcg(&a, by_block(smoother), 1e-8).iterations);
    }
    let scalar = amg_pcg(&a, AmgOptions::default(), 1e-8).iterations;
    let rigid = amg_pcg(
        &a,
        AmgOptions {
            near_nullspace: Some(modes),
            ..by_block(AmgSmoother::Spai0)
        },
        1e-8,
    )
    .iterations;
    // The vector near-nullspace pays: rigid-body modes beat the constants per component,
    // which beat treating the unknowns as scalars.
    assert!(
        rigid < counts[0] && counts[0] < scalar,
        "rigid {rigid}, block {counts:?}, scalar {scalar}"
    );
    assert!(counts.iter().all(|&c| c <= 80), "{counts:?}");
}
