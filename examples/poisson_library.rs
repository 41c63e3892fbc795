//! Solving a 3-D Poisson problem from Rust, the way a simulation code would.
//!
//! −Δu = f on the unit cube with u = 0 on the boundary, f chosen so that
//! u(x,y,z) = sin(πx) sin(πy) sin(πz); the 7-point scheme is second-order accurate, so the
//! printed maximum error shrinks 4× when the grid is refined 2×.
//!
//! Run: `cargo run --release --example poisson_library [N]` (N interior points per axis, default 48).

use nabla_sparse::{Cg, GridPoisson, Ic0, LinearOperator, Pcg, SolveOptions, Solver};
use std::f64::consts::PI;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(48), |s| s.parse())?;
    let h = 1.0 / (n + 1) as f64;
    let problem = GridPoisson::new(format!("{n}x{n}x{n}").parse()?);

    // The matrix is h²-scaled (diagonal 6), so the right-hand side is h²·f.
    let mut b = vec![0.0; problem.unknowns()];
    let mut exact = vec![0.0; problem.unknowns()];
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let (x, y, z) = ((i + 1) as f64 * h, (j + 1) as f64 * h, (k + 1) as f64 * h);
                let u = (PI * x).sin() * (PI * y).sin() * (PI * z).sin();
                let p = problem.shape().index(&[i, j, k]);
                exact[p] = u;
                b[p] = h * h * 3.0 * PI * PI * u;
            }
        }
    }

    let opts = SolveOptions {
        tol: 1e-10,
        ..Default::default()
    };

    // Matrix-free CG: no matrix is stored at all.
    let stencil = problem.stencil().ok_or("unmasked grids have a stencil")?;
    let mut x_cg = vec![0.0; b.len()];
    let cg = Cg::new(&stencil).solve(&b, &mut x_cg, &opts)?;

    // Assembled matrix with an IC(0) preconditioner.
    let a = problem.matrix();
    let mut pcg = Pcg::new(&a, Box::new(Ic0::new(&a)?));
    let mut x = vec![0.0; b.len()];
    let report = pcg.solve(&b, &mut x, &opts)?;

    // Independent check of the residual and of the discretization error.
    let mut ax = vec![0.0; b.len()];
    a.apply(&x, &mut ax);
    let r = ax
        .iter()
        .zip(&b)
        .map(|(p, q)| (q - p).powi(2))
        .sum::<f64>()
        .sqrt();
    let bn = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    let max_err = x
        .iter()
        .zip(&exact)
        .map(|(u, e)| (u - e).abs())
        .fold(0.0, f64::max);

    println!("grid {n}^3, {} unknowns", b.len());
    println!(
        "cg      : {:4} iterations, {:.3} s",
        cg.iterations, cg.solve_seconds
    );
    println!(
        "ic0-pcg : {:4} iterations, {:.3} s setup, {:.3} s solve",
        report.iterations, report.setup_seconds, report.solve_seconds
    );
    println!("relative residual (recomputed) {:.2e}", r / bn);
    println!("max |u - u_exact| = {max_err:.3e}  (O(h^2), h = {h:.4})");
    Ok(())
}
