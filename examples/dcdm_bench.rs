//! DCDM against CG, IC(0)-PCG and multigrid-PCG on grid Poisson systems: iterations and wall
//! time at tol 1e-6 (relative to ‖b‖), random right-hand sides, every residual recomputed.
//!
//! ```sh
//! cargo run --release -p nabla-dcdm --example dcdm_bench -- MODEL.safetensors [--sizes 64,128,256]
//!     [--mask none|circle|boxes] [--rhs random|point|ones] [--seeds 2] [--tol 1e-6] [--directions 16]
//! ```
//!
//! `--mask circle` puts a disc obstacle (radius N/5, centre (0.55N, 0.45N)) in every grid: a
//! shape no training set of nabla contains. Times are best of the seeds' solves, each on the
//! whole iteration (DCDM: network included, its share reported separately).

use nabla_dcdm::{Dcdm, DcdmModel};
use nabla_sparse::{
    solve, GridPoisson, LinearOperator, RhsKind, SolveOptions, Solver, SolverKind, System,
};
use std::time::Instant;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn circle(n: usize) -> Vec<bool> {
    let (cx, cy, r) = (0.55 * n as f64, 0.45 * n as f64, n as f64 / 5.0);
    (0..n * n)
        .map(|p| {
            let (i, j) = ((p % n) as f64 + 0.5, (p / n) as f64 + 0.5);
            (i - cx).powi(2) + (j - cy).powi(2) <= r * r
        })
        .collect()
}

fn boxes(n: usize) -> Vec<bool> {
    // Two boxes, an L-shaped pair, away from the training set's seeds.
    (0..n * n)
        .map(|p| {
            let (i, j) = (p % n, p / n);
            let a = i >= n / 5 && i < n / 2 && j >= n / 4 && j < n / 4 + n / 8;
            let b = i >= n / 2 && i < n / 2 + n / 10 && j >= n / 4 && j < 3 * n / 4;
            a || b
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(model_path) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: dcdm_bench MODEL.safetensors [--sizes 64,128,256] [--mask none|circle|boxes] [--rhs random|point|ones] [--seeds 2] [--tol 1e-6] [--directions 16]");
        std::process::exit(2);
    };
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or("64,128,256")
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let mask_kind = arg(&args, "--mask").unwrap_or("none");
    let rhs: RhsKind = arg(&args, "--rhs")
        .unwrap_or("random")
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
    let seeds: u64 = arg(&args, "--seeds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let tol: f64 = arg(&args, "--tol")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1e-6);
    let directions: usize = arg(&args, "--directions")
        .and_then(|s| s.parse().ok())
        .unwrap_or(nabla_dcdm::solver::DEFAULT_DIRECTIONS);
    let model = match DcdmModel::load_cpu(std::path::Path::new(model_path)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "DCDM model {model_path} (trained on {:?}, {:?}); mask {mask_kind}, rhs {}, tol {tol:e}, {} seed(s), {} threads",
        model.train_grid(),
        model.config(),
        rhs.name(),
        seeds,
        rayon::current_num_threads()
    );
    println!(
        "| grid | method | iterations | rel. residual | solve s | ms/iteration | network s | iterations vs CG | time vs CG |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let opts = SolveOptions {
        tol,
        max_iters: 100_000,
        record_history: false,
        monitor: None,
    };
    let mut dcdm_iters = Vec::new();
    for &n in &sizes {
        let mut g = GridPoisson::new(format!("{n}x{n}").parse().expect("grid"));
        match mask_kind {
            "circle" => g = g.with_mask(circle(n)).expect("mask"),
            "boxes" => g = g.with_mask(boxes(n)).expect("mask"),
            _ => {}
        }
        let a = g.matrix();
        let stencil = g.stencil();
        let op: &dyn LinearOperator = match &stencil {
            Some(s) => s,
            None => &a,
        };
        let system = System {
            matrix: Some(&a),
            operator: Some(op),
            grid: Some(&g),
        };
        // (iterations, residual, best seconds, network seconds) per method, averaged iterations.
        let mut rows: Vec<(String, f64, f64, f64, f64)> = Vec::new();
        for kind in [SolverKind::Cg, SolverKind::Ic0Pcg, SolverKind::MgPcg] {
            let (mut its, mut res, mut best) = (0.0, 0.0f64, f64::INFINITY);
            for seed in 0..seeds {
                let b = g.rhs(rhs, seed);
                let mut x = vec![0.0; b.len()];
                let t0 = Instant::now();
                let r = solve(kind, &system, 1.0, &b, &mut x, &opts).expect("solve");
                best = best.min(t0.elapsed().as_secs_f64());
                its += r.iterations as f64 / seeds as f64;
                res = res.max(r.relative_residual);
            }
            rows.push((kind.name().into(), its, res, best, 0.0));
        }
        let (mut its, mut res, mut best, mut net) = (0.0, 0.0f64, f64::INFINITY, 0.0);
        for seed in 0..seeds {
            let b = g.rhs(rhs, seed);
            let mut x = vec![0.0; b.len()];
            let mut solver = Dcdm::new(&model, op, &g, directions).expect("model fits the grid");
            let t0 = Instant::now();
            let r = solver.solve(&b, &mut x, &opts).expect("dcdm solve");
            let t = t0.elapsed().as_secs_f64();
            if t < best {
                best = t;
                net = solver.network_seconds();
            }
            its += r.iterations as f64 / seeds as f64;
            res = res.max(nabla_sparse::relative_residual(&a, &b, &x));
        }
        dcdm_iters.push(its);
        rows.push(("dcdm".into(), its, res, best, net));
        let (cg_its, cg_t) = (rows[0].1, rows[0].3);
        for (name, its, res, t, net) in &rows {
            println!(
                "| {n}x{n} | {name} | {its:.1} | {res:.2e} | {t:.4} | {:.3} | {} | {:.3} | {:.2} |",
                1e3 * t / its.max(1.0),
                if name == "dcdm" {
                    format!("{net:.4}")
                } else {
                    "—".into()
                },
                its / cg_its,
                t / cg_t
            );
        }
    }
    if dcdm_iters.len() > 1 {
        println!(
            "DCDM iterations, largest / smallest grid: {:.2}",
            dcdm_iters[dcdm_iters.len() - 1] / dcdm_iters[0]
        );
    }
}
