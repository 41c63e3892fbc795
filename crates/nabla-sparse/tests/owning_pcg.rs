//! A PCG that owns its matrix across a time loop: each step's matrix re-assembled in place
//! (`values_mut`) and handed over with `replace_matrix` gives bit for bit the solution of a
//! fresh IC(0)-PCG on the same matrix; a foreign size leaves the solver untouched.

use nabla_sparse::{Ic0, LinearOperator, Pcg, SolveOptions, Solver, SparseMatrix};

/// The 5-point operator −∇·(k∇u) + u on an m × m grid with conductivity k(x, y; t) at faces.
fn assemble_into(a: &mut SparseMatrix, m: usize, t: f64) {
    let k = |x: f64, y: f64| 1.0 + 0.5 * (6.0 * x + t).sin() * (4.0 * y).cos();
    let h = 1.0 / (m + 1) as f64;
    let (ip, ix) = (a.indptr().to_vec(), a.indices().to_vec());
    let v = a.values_mut();
    for row in 0..m * m {
        let (i, j) = (row % m, row / m);
        let (x, y) = ((i + 1) as f64 * h, (j + 1) as f64 * h);
        let faces = [
            k(x - h / 2.0, y),
            k(x + h / 2.0, y),
            k(x, y - h / 2.0),
            k(x, y + h / 2.0),
        ];
        for p in ip[row]..ip[row + 1] {
            let col = ix[p] as usize;
            v[p] = if col == row {
                1.0 + faces.iter().sum::<f64>()
            } else if col + 1 == row {
                -faces[0]
            } else if col == row + 1 {
                -faces[1]
            } else if col + m == row {
                -faces[2]
            } else {
                -faces[3]
            };
        }
    }
}

fn pattern(m: usize) -> SparseMatrix {
    let mut t = Vec::new();
    for row in 0..m * m {
        let (i, j) = (row % m, row / m);
        t.push((row, row, 1.0));
        if i > 0 {
            t.push((row, row - 1, 0.0));
        }
        if i + 1 < m {
            t.push((row, row + 1, 0.0));
        }
        if j > 0 {
            t.push((row, row - m, 0.0));
        }
        if j + 1 < m {
            t.push((row, row + m, 0.0));
        }
    }
    SparseMatrix::from_triplets(m * m, &t).unwrap()
}

#[test]
fn an_owning_pcg_reused_over_steps_matches_fresh_solves_bit_for_bit() {
    let m = 24;
    let n = m * m;
    let opts = SolveOptions {
        tol: 1e-10,
        ..Default::default()
    };
    let mut a = pattern(m);
    assemble_into(&mut a, m, 0.0);
    let ic0 = Ic0::new(&a).unwrap();
    let mut pcg = Pcg::owning(a, Box::new(ic0));
    let mut spare = pattern(m);
    let b: Vec<f64> = (0..n).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
    for step in 1..=6 {
        let t = 0.3 * step as f64;
        assemble_into(&mut spare, m, t);
        let reference = spare.clone();
        spare = pcg.replace_matrix(spare).unwrap().expect("owned");
        let mut x = vec![0.0; n];
        let rep = pcg.solve(&b, &mut x, &opts).unwrap();
        assert!(rep.converged);
        let mut fresh = Pcg::new(&reference, Box::new(Ic0::new(&reference).unwrap()));
        let mut y = vec![0.0; n];
        fresh.solve(&b, &mut y, &opts).unwrap();
        assert_eq!(x, y, "step {step}");
        // The residual, recomputed with the step's own matrix.
        let mut ax = vec![0.0; n];
        reference.apply(&x, &mut ax);
        let r: f64 = ax
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f64>()
            .sqrt();
        let bn: f64 = b.iter().map(|q| q * q).sum::<f64>().sqrt();
        assert!(r / bn <= 1e-10, "step {step}: {}", r / bn);
    }
    // A matrix of another size is refused and the solver keeps working.
    let e = pcg.replace_matrix(pattern(m - 1)).unwrap_err().to_string();
    assert!(e.contains("rows"), "{e}");
    let mut x = vec![0.0; n];
    assert!(pcg.solve(&b, &mut x, &opts).unwrap().converged);
}
