//! Timing of multigrid-preconditioned CG (`mg-pcg`) on the benchmark grid Poisson problems:
//! 2-D 5-point 256², 512², 1024² and 3-D 7-point 64³, 128³, random right-hand side uniform in
//! [−1, 1], stopping at ‖b − A x‖₂ ≤ 1e-8·‖b‖₂.
//!
//! ```text
//! cargo run --release -p nabla-sparse --example mg_timing -- [flags]
//!   --grids 256x256,64x64x64   grids to run (default: the five benchmark grids)
//!   --sweeps N                 V(N,N) cycle (default: MultigridOptions::default())
//!   --coarse N                 coarsest-level size (default: MultigridOptions::default())
//!   --case plain|jumps|box     a ≡ 1; coefficient 1 ↔ 100 in blocks of 32; a box obstacle
//!   --operator csr|stencil     what PCG multiplies with (default csr, the assembled matrix)
//!   --repeat N                 run each case N times, keep the fastest total (default 1)
//!   --breakdown                also time one V-cycle and one operator product (best of 10)
//! ```
//!
//! Prints, per grid: levels, setup seconds (building the hierarchy), iterations, solve seconds
//! (PCG), their total, and the relative residual recomputed from the returned x.

use nabla_core::GridShape;
use nabla_sparse::{
    relative_residual, GridPoisson, LinearOperator, Multigrid, MultigridOptions, Pcg,
    Preconditioner, RhsKind, SolveOptions, Solver,
};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The problem of one case on one grid.
fn problem(shape: GridShape, case: &str) -> Result<GridPoisson, Box<dyn std::error::Error>> {
    let dims = shape.dims().to_vec();
    Ok(match case {
        "plain" => GridPoisson::new(shape),
        "jumps" => {
            let ext: Vec<usize> = dims.iter().map(|n| n + 2).collect();
            let coef: Vec<f64> = (0..ext.iter().product())
                .map(|e: usize| {
                    let mut rest = e;
                    let mut parity = 0;
                    for n in &ext {
                        parity += (rest % n) / 32;
                        rest /= n;
                    }
                    if parity % 2 == 0 {
                        1.0
                    } else {
                        100.0
                    }
                })
                .collect();
            GridPoisson::new(shape).with_coefficient(&coef)?
        }
        "box" => {
            // Solid box over the middle third of every axis.
            let mask: Vec<bool> = (0..shape.len())
                .map(|p| {
                    let mut rest = p;
                    dims.iter().all(|&n| {
                        let i = rest % n;
                        rest /= n;
                        (n / 3..2 * n / 3).contains(&i)
                    })
                })
                .collect();
            GridPoisson::new(shape).with_mask(mask)?
        }
        _ => return Err(format!("unknown case {case} (plain, jumps or box)").into()),
    })
}

/// Seconds of the fastest of `reps` runs of `f`.
fn best_of(reps: usize, f: &mut dyn FnMut()) -> f64 {
    (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = MultigridOptions::default();
    let mut grids: Vec<String> = ["256x256", "512x512", "1024x1024", "64x64x64", "128x128x128"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut repeat = 1usize;
    let mut breakdown = false;
    let mut case = "plain".to_string();
    let mut operator = "csr".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--breakdown" {
            breakdown = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sweeps" => opts.smoothing_sweeps = value.parse()?,
            "--coarse" => opts.coarse_size = value.parse()?,
            "--max-levels" => opts.max_levels = value.parse()?,
            "--grids" => grids = value.split(',').map(|s| s.to_string()).collect(),
            "--repeat" => repeat = value.parse()?,
            "--case" => case = value,
            "--operator" => operator = value,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    println!(
        "mg-pcg, V({0},{0}), coarse size {1}, case {case}, operator {operator}, {2} threads, \
         tol 1e-8, random rhs",
        opts.smoothing_sweeps,
        opts.coarse_size,
        rayon::current_num_threads()
    );
    println!(
        "{:>12} {:>10} {:>6} {:>9} {:>6} {:>9} {:>9} {:>10}",
        "grid", "unknowns", "levels", "setup_s", "iters", "solve_s", "total_s", "rel_res"
    );
    for spec in &grids {
        let problem = problem(spec.parse()?, &case)?;
        let a = problem.matrix();
        let stencil = problem.stencil();
        let op: &dyn LinearOperator = match (operator.as_str(), &stencil) {
            ("csr", _) => &a,
            ("stencil", Some(s)) => s,
            ("stencil", None) => return Err("no stencil operator for masked problems".into()),
            _ => return Err(format!("unknown operator {operator} (csr or stencil)").into()),
        };
        let b = problem.rhs(RhsKind::Random, 42);
        let mut best: Option<(f64, f64, usize, usize, f64)> = None;
        for _ in 0..repeat.max(1) {
            let mg = Multigrid::with_options(&problem, &a, opts.clone())?;
            let levels = mg.num_levels();
            let mut x = vec![0.0; b.len()];
            let mut pcg = Pcg::new(op, Box::new(mg));
            let rep = pcg.solve(
                &b,
                &mut x,
                &SolveOptions {
                    tol: 1e-8,
                    record_history: false,
                    ..Default::default()
                },
            )?;
            let rel = relative_residual(&a, &b, &x);
            let total = rep.setup_seconds + rep.solve_seconds;
            if best.is_none_or(|bst| total < bst.0 + bst.1) {
                best = Some((
                    rep.setup_seconds,
                    rep.solve_seconds,
                    rep.iterations,
                    levels,
                    rel,
                ));
            }
        }
        if let Some((setup, solve, iters, levels, rel)) = best {
            println!(
                "{:>12} {:>10} {:>6} {:>9.3} {:>6} {:>9.3} {:>9.3} {:>10.2e}",
                spec,
                b.len(),
                levels,
                setup,
                iters,
                solve,
                setup + solve,
                rel
            );
        }
        if breakdown {
            let mut mg = Multigrid::with_options(&problem, &a, opts.clone())?;
            let mut z = vec![0.0; b.len()];
            let v = best_of(10, &mut || mg.apply(&b, &mut z));
            let csr = best_of(10, &mut || {
                a.apply_dot(&b, &mut z);
            });
            let sten = match &stencil {
                Some(s) => best_of(10, &mut || {
                    s.apply_dot(&b, &mut z);
                }),
                None => f64::NAN,
            };
            println!(
                "{:>12}   one V-cycle {:.2} ms, CSR product {:.2} ms, stencil product {:.2} ms",
                "",
                v * 1e3,
                csr * 1e3,
                sten * 1e3
            );
        }
    }
    Ok(())
}
