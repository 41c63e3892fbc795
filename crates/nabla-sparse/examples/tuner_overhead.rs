//! Per-round cost of the ω tuners (`choose` + `observe`) against the cost of the solve they
//! tune, measured in the same process.
//!
//! ```text
//! cargo run --release -p nabla-sparse --example tuner_overhead -- [--grid 10x10] [--rounds N]
//! ```
//!
//! The baseline is SOR at the instance-optimal ω (from the Jacobi spectral radius, the ω a
//! well-tuned run approaches) on the first instances of the high-variance shifted-Laplacian
//! sequence of `--grid` (tol 1e-8), the sequence `nabla sequence` tunes. The tuners replay those
//! instances' contexts, with iteration counts drawn from a smooth synthetic cost model, so the
//! timing covers the tuner alone. Prints ns per round, the mean solve time, and their ratio
//! (the "overhead" `nabla sequence` reports, without its timer calls).

use nabla_sparse::tuning::{
    solve_with_omega, ChebCb, ChebCbOptions, Context, InstanceOptimal, InstanceSource,
    OmegaFormula, OmegaSolver, ShiftDistribution, ShiftScaling, ShiftedLaplacianConfig,
    ShiftedLaplacianSequence, TsallisInf, Tuner,
};
use nabla_sparse::SolveOptions;
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

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut grid = "10x10".to_string();
    let mut rounds = 200_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--grid" => grid = value,
            "--rounds" => rounds = value.parse().map_err(|e| format!("--rounds: {e}"))?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let distribution = ShiftDistribution::HighVariance;
    let mut source = ShiftedLaplacianSequence::new(ShiftedLaplacianConfig {
        shape: grid.parse()?,
        instances: 2000,
        distribution,
        scaling: ShiftScaling::Spectral,
        seed: 0,
    })?;
    let opts = SolveOptions {
        tol: 1e-8,
        record_history: false,
        ..Default::default()
    };
    let oracle = InstanceOptimal::new(OmegaFormula::Sor);
    let (mut solve_seconds, mut solves, mut contexts) = (0.0, 0usize, Vec::new());
    while let Some(inst) = source.next_instance()? {
        let (omega, _) = oracle.omega_for(&inst.matrix)?;
        let mut x = inst.x0.clone();
        let t0 = Instant::now();
        solve_with_omega(
            OmegaSolver::Sor,
            &inst.matrix,
            &inst.rhs,
            &mut x,
            omega,
            &opts,
        )?;
        solve_seconds += t0.elapsed().as_secs_f64();
        solves += 1;
        contexts.push(inst.context);
    }
    let solve_ns = 1e9 * solve_seconds / solves as f64;
    // A smooth stand-in for SOR's iteration count: minimal near ω*(c), growing like 1/(2 − ω).
    let cost = |c: f64, w: f64| {
        let wstar = 1.5 + 0.3 * (0.45 - c) / 0.6;
        (20.0 + 400.0 * (w - wstar).powi(2) + 2.0 / (2.0 - w)).round()
    };
    let interval = distribution.interval();
    let tuners: Vec<Box<dyn Tuner>> = vec![
        Box::new(TsallisInf::with_default_arms(0)),
        Box::new(ChebCb::new(ChebCbOptions::new(interval))?),
    ];
    println!("grid {grid}: SOR solve at instance-optimal ω {solve_ns:.0} ns mean over {solves} instances");
    println!("{:<12} {:>10} {:>12}", "tuner", "ns/round", "of a solve");
    for mut tuner in tuners {
        let t0 = Instant::now();
        for r in 0..rounds {
            let c = contexts[r % contexts.len()];
            let w = tuner.choose(&Context::scalar(c))?;
            tuner.observe(cost(c, w))?;
        }
        let ns = 1e9 * t0.elapsed().as_secs_f64() / rounds as f64;
        println!(
            "{:<12} {:>10.1} {:>11.3}%",
            tuner.name(),
            ns,
            100.0 * ns / solve_ns
        );
    }
    Ok(())
}
