//! A heat-equation time loop that tunes SSOR-PCG's ω online with one tuner across all its
//! solves, the way a simulation code would use `nabla_sparse::tuning`.
//!
//! u_t = κ(t) Δu + f on a square, Crank–Nicolson steps, κ varying in time, each step warm
//! started from the previous one. The loop calls `tuner.choose(context)` before each solve and
//! `tuner.observe(iterations)` after it; halfway through it saves the tuner's state to JSON and
//! resumes from it, as a long simulation restarted from a checkpoint would.
//!
//! Run: `cargo run --release --example heat_sor_tuning [N] [STEPS]` (grid N×N, default 64 and
//! 400). Prints the iterations of ChebCB (contextual: context κΔt/h²), Tsallis-INF, and fixed
//! ω = 1.5 over the same steps.

use nabla_sparse::tuning::{
    solve_with_omega, ChebCb, ChebCbOptions, Context, FixedOmega, HeatConfig, HeatSequence,
    InstanceSource, OmegaSolver, TsallisInf, Tuner, TunerState,
};
use nabla_sparse::SolveOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let steps: usize = args.next().map_or(Ok(400), |s| s.parse())?;
    let config = HeatConfig::new(format!("{n}x{n}").parse()?, steps, 7);
    let opts = SolveOptions {
        tol: 1e-8,
        record_history: false,
        ..Default::default()
    };

    let interval = HeatSequence::new(config.clone())?.context_interval();
    let mut cheb_opts = ChebCbOptions::new(interval);
    cheb_opts.scale = nabla_sparse::tuning::ContextScale::Log;
    let tuners: Vec<TunerState> = vec![
        TunerState::Chebcb(ChebCb::new(cheb_opts)?),
        TunerState::TsallisInf(TsallisInf::with_default_arms(7)),
        TunerState::Fixed(FixedOmega::new(1.5)?),
    ];

    for mut tuner in tuners {
        // Each tuner runs its own simulation from the same initial state.
        let mut heat = HeatSequence::new(config.clone())?;
        let mut total = 0usize;
        let mut step = 0;
        while let Some(inst) = heat.next_instance()? {
            if step == steps / 2 {
                // Checkpoint and restart: the tuner continues with what it learned.
                let saved = tuner.to_json()?;
                tuner = TunerState::from_json(&saved)?;
            }
            let omega = tuner.choose(&Context::scalar(inst.context))?;
            let mut u = inst.x0.clone();
            let report = solve_with_omega(
                OmegaSolver::SsorPcg,
                &inst.matrix,
                &inst.rhs,
                &mut u,
                omega,
                &opts,
            )?;
            if !report.converged {
                return Err(format!("step {step} did not converge").into());
            }
            tuner.observe(report.iterations as f64)?;
            total += report.iterations;
            heat.accept_solution(&u)?;
            step += 1;
        }
        let peak = heat.state().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!(
            "{:<18} {total:>8} SSOR-PCG iterations over {steps} steps (max |u| at the end {peak:.4})",
            tuner.name()
        );
    }
    Ok(())
}
