//! Rank-count independence and agreement with the serial problem, on threads (`LocalComm`).

use super::*;
use crate::{relative_residual, GridPoisson, LinearOperator, RhsKind, SolveOptions, Solver};
use nabla_core::comm::{Communicator, LocalComm, SerialComm};
use nabla_core::GridShape;

fn masked(shape: &GridShape) -> GridPoisson {
    // A disc of solid cells and a solid column: fluid cells with solid neighbours on all sides.
    let d = shape.dims();
    let strides = shape.strides();
    let mask: Vec<bool> = (0..shape.len())
        .map(|p| {
            let c: Vec<f64> = (0..d.len())
                .map(|a| ((p / strides[a]) % d[a]) as f64 / d[a] as f64 - 0.4)
                .collect();
            c.iter().map(|v| v * v).sum::<f64>() < 0.05 || (p % d[0] == 3)
        })
        .collect();
    GridPoisson::new(shape.clone()).with_mask(mask).unwrap()
}

fn variable(shape: &GridShape) -> GridPoisson {
    let ext: usize = shape.dims().iter().map(|n| n + 2).product();
    let nodal: Vec<f64> = (0..ext)
        .map(|i| {
            if (i / 7) % 3 == 0 {
                1000.0
            } else {
                1.0 + 0.5 * ((i as f64) * 0.37).sin()
            }
        })
        .collect();
    GridPoisson::new(shape.clone())
        .with_coefficient(&nodal)
        .unwrap()
}

/// Solves on `ranks` threads; returns (iterations, x over the unknowns, b over the unknowns).
fn solve_on(
    grid: &GridPoisson,
    ranks: usize,
    pre: DistPreconditioner,
    rhs: RhsKind,
) -> (usize, Vec<f64>, Vec<f64>) {
    let out = LocalComm::run(ranks, |comm| {
        let problem = DistGridPoisson::from_grid(grid, comm).unwrap();
        let b = problem.rhs(comm, rhs, 5);
        let mut x = vec![0.0; b.len()];
        let opts = SolveOptions {
            tol: 1e-10,
            max_iters: 5000,
            ..Default::default()
        };
        let report = DistCg::new(&problem, pre, comm)
            .unwrap()
            .solve(comm, &b, &mut x, &opts)
            .unwrap();
        assert!(report.report.converged);
        assert_eq!(report.ranks, ranks);
        let xs = problem.gather(comm, &x, 0).unwrap();
        let bs = problem.gather(comm, &b, 0).unwrap();
        (report.report.iterations, xs, bs)
    });
    let iters: Vec<usize> = out.iter().map(|o| o.0).collect();
    assert!(
        iters.iter().all(|&i| i == iters[0]),
        "ranks disagree: {iters:?}"
    );
    let (it, xs, bs) = out.into_iter().next().unwrap();
    (it, xs.unwrap().0, bs.unwrap().0)
}

#[test]
fn iterates_are_bit_identical_for_any_rank_count() {
    let cases: Vec<(&str, GridPoisson)> = vec![
        ("plain 2-D", GridPoisson::new("37x29".parse().unwrap())),
        ("masked 2-D", masked(&"33x31".parse().unwrap())),
        ("variable 2-D", variable(&"30x26".parse().unwrap())),
        ("plain 3-D", GridPoisson::new("11x9x8".parse().unwrap())),
        ("masked 3-D", masked(&"12x10x9".parse().unwrap())),
        ("variable 3-D", variable(&"9x8x7".parse().unwrap())),
    ];
    for (name, grid) in &cases {
        for pre in [DistPreconditioner::None, DistPreconditioner::Jacobi] {
            let (it1, x1, b1) = solve_on(grid, 1, pre, RhsKind::Random);
            // The right-hand side is the serial one, entry for entry.
            assert_eq!(b1, grid.rhs(RhsKind::Random, 5), "{name}");
            let a = grid.matrix();
            let rel = relative_residual(&a, &b1, &x1);
            assert!(rel <= 1.01e-10, "{name} {pre:?}: residual {rel:e}");
            for ranks in [2, 3, 4] {
                let (it, x, b) = solve_on(grid, ranks, pre, RhsKind::Random);
                assert_eq!(it, it1, "{name} {pre:?} on {ranks} ranks");
                assert_eq!(b, b1);
                assert!(
                    x.iter().zip(&x1).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{name} {pre:?}: solution bits differ on {ranks} ranks"
                );
            }
        }
    }
}

#[test]
fn the_distributed_operator_is_the_serial_one() {
    for grid in [
        GridPoisson::new("21x17".parse().unwrap()),
        masked(&"21x17".parse().unwrap()),
        variable(&"13x11x6".parse().unwrap()),
        GridPoisson::new("19".parse().unwrap()),
    ] {
        let n = grid.unknowns();
        let v: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let mut serial = vec![0.0; n];
        grid.matrix().apply(&v, &mut serial);
        let ranks = if grid.shape().ndim() == 1 { 1 } else { 3 };
        let got = LocalComm::run(ranks, |comm| {
            let problem = DistGridPoisson::from_grid(&grid, comm).unwrap();
            let local = problem.scatter_unknowns(&v);
            let mut y = vec![0.0; local.len()];
            let mut halo = Halo::default();
            let vay = problem.apply_dot(comm, &local, &mut y, &mut halo);
            (problem.gather(comm, &y, 0).unwrap(), vay)
        });
        let y = got[0].0.as_ref().unwrap().0.clone();
        for (a, b) in y.iter().zip(&serial) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let vay: f64 = v.iter().zip(&serial).map(|(a, b)| a * b).sum();
        assert!(got
            .iter()
            .all(|g| (g.1 - vay).abs() <= 1e-10 * vay.abs().max(1.0)));
    }
}

#[test]
fn point_and_ones_right_hand_sides_match_the_serial_ones() {
    let grid = masked(&"24x20".parse().unwrap());
    for kind in [RhsKind::Point, RhsKind::Ones] {
        let (_, _, b) = solve_on(&grid, 3, DistPreconditioner::None, kind);
        assert_eq!(b, grid.rhs(kind, 5), "{kind:?}");
    }
}

#[test]
fn bad_splits_and_sizes_are_errors() {
    let comm = SerialComm;
    let grid = GridPoisson::new("8x8".parse().unwrap());
    let p = DistGridPoisson::from_grid(&grid, &comm).unwrap();
    let mut x = vec![0.0; 3];
    let err = DistCg::new(&p, DistPreconditioner::None, &comm)
        .unwrap()
        .solve(&comm, &[0.0; 64], &mut x, &SolveOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("owns 64 points"), "{err}");
    let errs = LocalComm::run(3, |c| {
        DistGridPoisson::from_grid(&GridPoisson::new("8x2".parse().unwrap()), c)
            .unwrap_err()
            .to_string()
    });
    assert!(
        errs[0].contains("cannot be split over 3 ranks"),
        "{}",
        errs[0]
    );
    let nan = LocalComm::run(2, |c| {
        let p = DistGridPoisson::from_grid(&grid, c).unwrap();
        let mut b = p.rhs(c, RhsKind::Ones, 0);
        if c.rank() == 1 {
            b[5] = f64::NAN;
        }
        let mut x = vec![0.0; b.len()];
        DistCg::new(&p, DistPreconditioner::None, c)
            .unwrap()
            .solve(c, &b, &mut x, &SolveOptions::default())
            .unwrap_err()
            .to_string()
    });
    assert!(nan.iter().all(|e| e.contains("not finite")), "{nan:?}");
}

/// mg-pcg on `grid` across 1–4 ranks (slabs), tol 1e-10: asserts the same iterations and
/// solution bits on every rank count and the residual recomputed with the serial matrix;
/// returns the iteration count and whether the Galerkin (stencil) hierarchy ran.
fn multigrid_on_one_to_four_ranks(grid: &GridPoisson, what: &str) -> (usize, bool) {
    let mut first: Option<(usize, Vec<f64>)> = None;
    let mut galerkin = false;
    for ranks in [1, 2, 3, 4] {
        let out = LocalComm::run(ranks, |comm| {
            let pencil = Pencil::slab(grid.shape(), comm.rank(), comm.size()).unwrap();
            let problem = DistGridPoisson::from_grid_on(grid, comm, pencil).unwrap();
            let b = problem.rhs(comm, RhsKind::Random, 2);
            let mut x = vec![0.0; b.len()];
            let mut cg = DistCg::new(&problem, DistPreconditioner::Multigrid, comm).unwrap();
            let is_galerkin = cg.multigrid().unwrap().is_galerkin();
            let opts = SolveOptions {
                tol: 1e-10,
                ..Default::default()
            };
            let report = cg.solve(comm, &b, &mut x, &opts).unwrap();
            assert!(report.report.converged);
            (
                report.report.iterations,
                problem.gather(comm, &x, 0).unwrap(),
                is_galerkin,
            )
        });
        let (iters, gathered, is_galerkin) = &out[0];
        galerkin = *is_galerkin;
        let x = gathered.as_ref().unwrap().0.clone();
        match &first {
            None => {
                let b = grid.rhs(RhsKind::Random, 2);
                let rel = relative_residual(&grid.matrix(), &b, &x);
                assert!(rel <= 1.01e-10, "{what}: residual {rel:e}");
                first = Some((*iters, x));
            }
            Some((it1, x1)) => {
                assert_eq!(iters, it1, "{what} on {ranks} ranks");
                assert!(
                    x.iter().zip(x1).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{what}: solution bits differ on {ranks} ranks"
                );
            }
        }
    }
    (first.expect("one run").0, galerkin)
}

/// mg-pcg across ranks on plain grids: rank-count independent, a small iteration count.
#[test]
fn multigrid_pcg_is_rank_count_independent() {
    for shape in ["300x260", "40x36x34", "150x100"] {
        let grid = GridPoisson::new(shape.parse().unwrap());
        let (iters, galerkin) = multigrid_on_one_to_four_ranks(&grid, shape);
        assert!(iters <= 12 && !galerkin, "{shape}: {iters} iterations");
    }
}

/// mg-pcg across ranks on masked, variable-coefficient (1:1000 jumps) and masked +
/// variable grids, 2-D and 3-D, odd and even extents: rank-count independent (as above), with
/// the serial multigrid's iteration count (± 2).
#[test]
fn galerkin_multigrid_pcg_is_rank_count_independent() {
    let both = |shape: &GridShape| {
        let g = variable(shape);
        let m = masked(shape);
        g.with_mask(m.mask().unwrap().to_vec()).unwrap()
    };
    type Make = fn(&GridShape) -> GridPoisson;
    let cases: [(&str, Make, &str); 6] = [
        ("masked", masked, "300x260"),
        ("variable", variable, "301x200"),
        ("masked+variable", both, "200x150"),
        ("masked", masked, "40x36x34"),
        ("variable", variable, "33x40x36"),
        ("masked+variable", both, "36x30x40"),
    ];
    for (what, make, shape) in cases {
        let grid = make(&shape.parse().unwrap());
        let a = grid.matrix();
        let b = grid.rhs(RhsKind::Random, 2);
        let serial_iters = {
            let mg = crate::Multigrid::new(&grid, &a).unwrap();
            let mut x = vec![0.0; b.len()];
            let opts = SolveOptions {
                tol: 1e-10,
                ..Default::default()
            };
            crate::Pcg::new(&a, Box::new(mg))
                .solve(&b, &mut x, &opts)
                .unwrap()
                .iterations
        };
        let label = format!("{what} {shape}");
        let (iters, galerkin) = multigrid_on_one_to_four_ranks(&grid, &label);
        assert!(galerkin, "{label}");
        assert!(
            iters <= serial_iters + 2,
            "{label}: {iters} iterations, serial multigrid {serial_iters}"
        );
    }
}

/// The Galerkin hierarchy keeps levels distributed and gathers the small ones: a grid large
/// enough for two distributed levels, and one so small that its fine level is the coarsest.
#[test]
fn galerkin_multigrid_levels_and_tiny_grids() {
    let grid = variable(&"520x520".parse().unwrap());
    let levels = LocalComm::run(2, |comm| {
        let pencil = Pencil::slab(grid.shape(), comm.rank(), comm.size()).unwrap();
        let problem = DistGridPoisson::from_grid_on(&grid, comm, pencil).unwrap();
        let mg = DistMultigrid::new(&problem, comm).unwrap();
        (
            mg.levels(),
            mg.distributed_levels(),
            mg.coarse_shape().to_string(),
        )
    });
    assert_eq!(levels[0], levels[1]);
    let (all, distributed, coarse) = &levels[0];
    assert_eq!(*distributed, 2, "{levels:?}");
    assert_eq!(coarse, "130x130");
    assert!(*all >= 5, "{levels:?}");
    // 20x20: the fine level is solved directly (gathered), so one PCG iteration suffices.
    let tiny = masked(&"20x20".parse().unwrap());
    let iters = LocalComm::run(3, |comm| {
        let pencil = Pencil::slab(tiny.shape(), comm.rank(), comm.size()).unwrap();
        let problem = DistGridPoisson::from_grid_on(&tiny, comm, pencil).unwrap();
        let b = problem.rhs(comm, RhsKind::Random, 1);
        let mut x = vec![0.0; b.len()];
        let mut cg = DistCg::new(&problem, DistPreconditioner::Multigrid, comm).unwrap();
        let opts = SolveOptions {
            tol: 1e-10,
            ..Default::default()
        };
        cg.solve(comm, &b, &mut x, &opts).unwrap().report.iterations
    });
    assert!(iters.iter().all(|&i| i <= 2), "{iters:?}");
}

#[test]
fn multigrid_refuses_what_it_does_not_handle() {
    let errs = LocalComm::run(4, |c| {
        let g = GridPoisson::new("40x40x40".parse().unwrap());
        let pencil = Pencil::with_process_grid(g.shape(), c.rank(), 4, [2, 2]).unwrap();
        let p = DistGridPoisson::from_grid_on(&g, c, pencil).unwrap();
        DistCg::new(&p, DistPreconditioner::Multigrid, c)
            .err()
            .map(|e| e.to_string())
    });
    assert!(errs[0].as_ref().unwrap().contains("slab"), "{errs:?}");
}

/// A grid matrix with its unknowns shuffled: every rank then reads values from every other.
fn shuffled(grid: &GridPoisson) -> crate::SparseMatrix {
    let a = grid.matrix();
    let n = a.rows();
    let perm: Vec<usize> = (0..n).map(|i| (i * 7919 + 13) % n).collect();
    assert!(!n.is_multiple_of(7919));
    let mut t = Vec::new();
    for r in 0..n {
        for k in a.indptr()[r]..a.indptr()[r + 1] {
            t.push((perm[r], perm[a.indices()[k] as usize], a.values()[k]));
        }
    }
    crate::SparseMatrix::from_triplets(n, &t).unwrap()
}

#[test]
fn matrix_cg_is_rank_count_independent_and_solves_the_system() {
    let grids = [
        masked(&"40x37".parse().unwrap()),
        variable(&"13x12x11".parse().unwrap()),
    ];
    for grid in &grids {
        let a = shuffled(grid);
        let n = a.rows();
        let b: Vec<f64> = RhsKind::Random.vector(n, 4);
        for pre in [DistPreconditioner::None, DistPreconditioner::Jacobi] {
            let mut first: Option<(usize, Vec<f64>)> = None;
            for ranks in [1, 2, 3, 4] {
                let out = LocalComm::run(ranks, |comm| {
                    let whole = broadcast_matrix(comm, 0, || Ok(a.clone())).unwrap();
                    let dist = DistCsr::from_global(&whole, comm).unwrap();
                    let rows = dist.rows();
                    let mut x = vec![0.0; rows.len()];
                    let opts = SolveOptions {
                        tol: 1e-10,
                        max_iters: 20_000,
                        ..Default::default()
                    };
                    let report = DistCg::for_matrix(&dist, pre)
                        .unwrap()
                        .solve(comm, &b[rows], &mut x, &opts)
                        .unwrap();
                    assert!(report.report.converged);
                    (report.report.iterations, comm.gather_f64(&x, 0))
                });
                let (it, x) = (out[0].0, out[0].1.clone().unwrap());
                match &first {
                    None => {
                        let rel = relative_residual(&a, &b, &x);
                        assert!(rel <= 1.01e-10, "residual {rel:e}");
                        first = Some((it, x));
                    }
                    Some((it1, x1)) => {
                        assert_eq!(it, *it1, "{pre:?} on {ranks} ranks");
                        assert!(x.iter().zip(x1).all(|(p, q)| p.to_bits() == q.to_bits()));
                    }
                }
            }
        }
    }
}

#[test]
fn matrix_errors_reach_every_rank() {
    let errs = LocalComm::run(3, |c| {
        broadcast_matrix(c, 0, || Err("A.mtx: line 3: bad entry".to_string())).unwrap_err()
    });
    assert!(errs.iter().all(|e| e == "A.mtx: line 3: bad entry"));
    let small = GridPoisson::new("10x10".parse().unwrap()).matrix();
    let errs = LocalComm::run(2, |c| {
        DistCsr::from_global(&small, c).err().map(|e| e.to_string())
    });
    assert!(
        errs[0].as_ref().unwrap().contains("too small for 2 ranks"),
        "{errs:?}"
    );
}
