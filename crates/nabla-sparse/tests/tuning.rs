//! Tests of the ω tuners: synthetic bandit losses, the ω* formula against brute force, state
//! round trips, the sequences, and bad input.

use nabla_sparse::tuning::{
    default_arms, jacobi_spectral_radius, optimal_sor_omega, run_sequence, solve_with_omega,
    ChebCb, ChebCbOptions, Context, FixedOmega, HeatConfig, HeatSequence, InstanceOptimal,
    InstanceSource, LanczosOptions, OmegaFormula, OmegaSolver, SequenceOptions, SequenceTuner,
    ShiftDistribution, ShiftScaling, ShiftedLaplacianConfig, ShiftedLaplacianSequence, TsallisInf,
    Tuner, TunerState,
};
use nabla_sparse::{GridPoisson, SolveOptions, SparseError};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

fn opts(tol: f64) -> SolveOptions<'static> {
    SolveOptions {
        tol,
        max_iters: 10_000,
        record_history: false,
        monitor: None,
    }
}

/// Mean loss of each arm of a synthetic stochastic bandit: arm 6 of 10 is best.
fn synthetic_mean(arm: usize) -> f64 {
    50.0 + 8.0 * (arm as f64 - 6.0).abs()
}

/// Average per-round regret of Tsallis-INF against the best arm after `t` rounds, averaged
/// over a few seeds.
fn tsallis_average_regret(t: usize) -> f64 {
    let arms: Vec<f64> = (0..10).map(|i| 1.0 + 0.09 * i as f64).collect();
    let mut total = 0.0;
    let seeds = 6;
    for seed in 0..seeds {
        let mut tuner = TsallisInf::new(arms.clone(), seed).unwrap();
        let mut noise = Pcg64::seed_from_u64(1000 + seed);
        let mut regret = 0.0;
        for _ in 0..t {
            let w = tuner.choose(&Context::none()).unwrap();
            let arm = arms.iter().position(|&a| a == w).unwrap();
            let mean = synthetic_mean(arm);
            let loss = mean + noise.gen_range(-10.0..10.0);
            tuner.observe(loss).unwrap();
            regret += mean - synthetic_mean(6);
        }
        total += regret / t as f64;
    }
    total / seeds as f64
}

#[test]
fn tsallis_inf_regret_per_round_shrinks_with_t() {
    let r100 = tsallis_average_regret(100);
    let r1000 = tsallis_average_regret(1000);
    let r10000 = tsallis_average_regret(10_000);
    // Sublinear regret: the average regret per round falls with T (roughly as 1/√T).
    assert!(r1000 < 0.7 * r100, "{r100} -> {r1000}");
    assert!(r10000 < 0.6 * r1000, "{r1000} -> {r10000}");
    // And it ends close to the best arm (gap to the second best is 8).
    assert!(r10000 < 4.0, "{r10000}");
}

/// Average per-round regret of ChebCB on a contextual bandit whose best arm moves with the
/// context, against the per-context best arm.
fn chebcb_average_regret(t: usize) -> f64 {
    let arms: Vec<f64> = (0..8).map(|i| 1.1 + 0.1 * i as f64).collect();
    // The best arm index moves linearly with c ∈ [0, 1]; cost grows with the distance.
    let mean = |arm: usize, c: f64| 20.0 * (1.0 + 0.5 * (arm as f64 - 7.0 * c).powi(2));
    let mut total = 0.0;
    let seeds = 4;
    for seed in 0..seeds {
        let mut o = ChebCbOptions::new((0.0, 1.0));
        o.arms = arms.clone();
        o.degree = 3;
        o.seed = seed;
        let mut tuner = ChebCb::new(o).unwrap();
        let mut rng = Pcg64::seed_from_u64(77 + seed);
        let mut regret = 0.0;
        for _ in 0..t {
            let c: f64 = rng.gen();
            let w = tuner.choose(&Context::scalar(c)).unwrap();
            let arm = arms.iter().position(|&a| a == w).unwrap();
            let best = (0..arms.len())
                .map(|a| mean(a, c))
                .fold(f64::INFINITY, f64::min);
            let m = mean(arm, c);
            tuner
                .observe(m * (1.0 + rng.gen_range(-0.05..0.05)))
                .unwrap();
            regret += m - best;
        }
        total += regret / t as f64;
    }
    total / seeds as f64
}

#[test]
fn chebcb_regret_per_round_shrinks_with_t() {
    let r100 = chebcb_average_regret(100);
    let r1000 = chebcb_average_regret(1000);
    let r5000 = chebcb_average_regret(5000);
    assert!(r1000 < 0.5 * r100, "{r100} -> {r1000}");
    assert!(r5000 < 0.8 * r1000, "{r1000} -> {r5000}");
    // Per round the best arm costs 20–22.5 and a neighbouring arm ~10 more: by 5000 rounds
    // the excess is a small fraction of that.
    assert!(r5000 < 3.0, "{r5000}");
}

#[test]
fn lanczos_matches_the_analytic_jacobi_radius() {
    // 5-point Laplacian on NX×NY: β = (cos(π/(NX+1)) + cos(π/(NY+1)))/2.
    for (nx, ny) in [(10, 10), (7, 12), (40, 40)] {
        let a = GridPoisson::new(format!("{nx}x{ny}").parse().unwrap()).matrix();
        let spec = jacobi_spectral_radius(&a, &LanczosOptions::default()).unwrap();
        let pi = std::f64::consts::PI;
        let exact = 0.5 * ((pi / (nx + 1) as f64).cos() + (pi / (ny + 1) as f64).cos());
        assert!(
            (spec.beta - exact).abs() < 1e-3 * (1.0 - exact),
            "{nx}x{ny}: {} vs {exact}",
            spec.beta
        );
    }
}

#[test]
fn omega_star_is_the_brute_force_minimum_on_small_grids() {
    for (grid, shift) in [("8x8", 0.0), ("10x10", -0.1), ("12x6", 0.2)] {
        let a0 = GridPoisson::new(grid.parse().unwrap()).matrix();
        let a = nabla_sparse::tuning::sequences::scaled_shifted(&a0, 1.0, shift).unwrap();
        let beta = jacobi_spectral_radius(&a, &LanczosOptions::default())
            .unwrap()
            .beta;
        let w_star = optimal_sor_omega(beta).unwrap();
        let b: Vec<f64> = (0..a.rows())
            .map(|i| ((i * 7919) % 13) as f64 - 6.0)
            .collect();
        let iters = |w: f64| {
            let mut x = vec![0.0; b.len()];
            solve_with_omega(OmegaSolver::Sor, &a, &b, &mut x, w, &opts(1e-10))
                .unwrap()
                .iterations
        };
        // Brute-force scan over ω ∈ [1, 1.98] in steps of 0.01.
        let scan: Vec<(f64, usize)> = (0..=98)
            .map(|k| 1.0 + 0.01 * k as f64)
            .map(|w| (w, iters(w)))
            .collect();
        let (w_best, it_best) = *scan.iter().min_by_key(|(_, it)| *it).unwrap();
        let it_star = iters(w_star);
        assert!(
            (w_star - w_best).abs() <= 0.05,
            "{grid}: ω* = {w_star}, scan minimum at {w_best}"
        );
        assert!(
            it_star as f64 <= 1.10 * it_best as f64 + 2.0,
            "{grid}: ω* takes {it_star} sweeps, the scan minimum {it_best}"
        );
    }
}

#[test]
fn serialized_tuners_resume_identically() {
    let mut rng = Pcg64::seed_from_u64(5);
    let costs: Vec<(f64, f64)> = (0..300)
        .map(|_| (rng.gen_range(-0.15..0.45), rng.gen_range(10.0..200.0)))
        .collect();
    let tuners: Vec<TunerState> = vec![
        TunerState::TsallisInf(TsallisInf::with_default_arms(3)),
        TunerState::Chebcb(ChebCb::new(ChebCbOptions::new((-0.15, 0.45))).unwrap()),
        TunerState::Fixed(FixedOmega::new(1.5).unwrap()),
    ];
    for mut original in tuners {
        for &(c, cost) in &costs[..150] {
            original.choose(&Context::scalar(c)).unwrap();
            original.observe(cost).unwrap();
        }
        let saved = original.to_json().unwrap();
        let mut resumed = TunerState::from_json(&saved).unwrap();
        for &(c, cost) in &costs[150..] {
            let a = original.choose(&Context::scalar(c)).unwrap();
            let b = resumed.choose(&Context::scalar(c)).unwrap();
            assert_eq!(a.to_bits(), b.to_bits(), "{}", original.name());
            original.observe(cost).unwrap();
            resumed.observe(cost).unwrap();
        }
        assert_eq!(original.to_json().unwrap(), resumed.to_json().unwrap());
    }
    // A pending choice survives the round trip too.
    let mut t = TsallisInf::with_default_arms(9);
    t.choose(&Context::none()).unwrap();
    let mut back: TsallisInf = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    back.observe(12.0).unwrap();
}

#[test]
fn bad_inputs_are_clear_errors() {
    let msg = |e: SparseError| e.to_string();
    // ω outside (0, 2).
    for w in [0.0, 2.0, -1.0, f64::NAN] {
        let e = msg(FixedOmega::new(w).unwrap_err());
        assert!(e.contains("omega must be in (0, 2)"), "{e}");
        assert!(TsallisInf::new(vec![1.0, w], 0).is_err());
    }
    let a = GridPoisson::new("4x4".parse().unwrap()).matrix();
    let mut x = vec![0.0; 16];
    let e = solve_with_omega(OmegaSolver::Sor, &a, &[1.0; 16], &mut x, 2.5, &opts(1e-8));
    assert!(msg(e.unwrap_err()).contains("(0, 2)"));
    // Empty arm grid.
    let e = msg(TsallisInf::new(vec![], 0).unwrap_err());
    assert!(e.contains("empty"), "{e}");
    let mut o = ChebCbOptions::new((0.0, 1.0));
    o.arms.clear();
    assert!(msg(ChebCb::new(o).unwrap_err()).contains("empty"));
    // Context outside the declared interval, or missing.
    let mut cb = ChebCb::new(ChebCbOptions::new((-0.15, 0.45))).unwrap();
    let e = msg(cb.choose(&Context::scalar(0.5)).unwrap_err());
    assert!(
        e.contains("outside the declared interval [-0.15, 0.45]"),
        "{e}"
    );
    assert!(msg(cb.choose(&Context::none()).unwrap_err()).contains("context"));
    assert!(cb.choose(&Context::scalar(f64::NAN)).is_err());
    // Non-finite or negative observations.
    cb.choose(&Context::scalar(0.0)).unwrap();
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let e = msg(cb.observe(bad).unwrap_err());
        assert!(e.contains("finite and non-negative"), "{e}");
    }
    cb.observe(10.0).unwrap();
    // Protocol: observe without choose, choose twice.
    let mut t = TsallisInf::with_default_arms(0);
    assert!(msg(t.observe(3.0).unwrap_err()).contains("no pending choice"));
    t.choose(&Context::none()).unwrap();
    assert!(msg(t.choose(&Context::none()).unwrap_err()).contains("before the previous"));
    // Instance-optimal without a matrix.
    let mut io = InstanceOptimal::new(OmegaFormula::Sor);
    assert!(msg(io.choose(&Context::none()).unwrap_err()).contains("matrix"));
    // Bad interval, tampered state.
    assert!(ChebCb::new(ChebCbOptions::new((1.0, 1.0))).is_err());
    assert!(TunerState::from_json(r#"{"kind":"fixed","omega":3.0,"pending":false}"#).is_err());
    assert!(TunerState::from_json("{").is_err());
}

#[test]
fn shifted_laplacian_sequence_is_reproducible_and_spd() {
    let cfg = |seed| ShiftedLaplacianConfig {
        shape: "32x32".parse().unwrap(),
        instances: 3,
        distribution: ShiftDistribution::HighVariance,
        scaling: ShiftScaling::Spectral,
        seed,
    };
    let mut s1 = ShiftedLaplacianSequence::new(cfg(4)).unwrap();
    let mut s2 = ShiftedLaplacianSequence::new(cfg(4)).unwrap();
    let mut count = 0;
    while let Some(i1) = s1.next_instance().unwrap() {
        let i2 = s2.next_instance().unwrap().unwrap();
        assert_eq!(i1.context, i2.context);
        assert_eq!(i1.rhs, i2.rhs);
        assert!((-0.15..=0.45).contains(&i1.context));
        // SPD even at the singular end: the spectral scaling keeps λmin > 0.
        let spec = jacobi_spectral_radius(&i1.matrix, &LanczosOptions::default()).unwrap();
        assert!(spec.lambda_min > 0.0 && spec.beta < 1.0);
        count += 1;
    }
    assert_eq!(count, 3);
    // On 10×10 the scaling is the identity: c is the literal diagonal shift.
    let s = ShiftedLaplacianSequence::new(ShiftedLaplacianConfig {
        shape: "10x10".parse().unwrap(),
        ..cfg(0)
    })
    .unwrap();
    assert!((s.shift_factor() - 1.0).abs() < 1e-15);
}

#[test]
fn heat_sequence_steps_and_warm_starts() {
    let mut cfg = HeatConfig::new("16x16".parse().unwrap(), 5, 1);
    cfg.dt = 1e-3;
    let mut seq = HeatSequence::new(cfg).unwrap();
    let (lo, hi) = seq.context_interval();
    let mut prev_x: Option<Vec<f64>> = None;
    while let Some(inst) = seq.next_instance().unwrap() {
        assert!(inst.context >= lo && inst.context <= hi);
        if let Some(p) = &prev_x {
            assert_eq!(&inst.x0, p, "warm start from the previous solution");
        }
        // Asking for the next step before handing back the solution is an error.
        assert!(seq.next_instance().is_err());
        let mut x = inst.x0.clone();
        let rep = solve_with_omega(
            OmegaSolver::SsorPcg,
            &inst.matrix,
            &inst.rhs,
            &mut x,
            1.5,
            &opts(1e-10),
        )
        .unwrap();
        assert!(rep.converged);
        seq.accept_solution(&x).unwrap();
        prev_x = Some(x);
    }
    assert!(seq.accept_solution(&[0.0; 3]).is_err());
}

#[test]
fn runner_counts_like_the_solvers_and_all_runs_see_the_same_instances() {
    let make = || {
        ShiftedLaplacianSequence::new(ShiftedLaplacianConfig {
            shape: "10x10".parse().unwrap(),
            instances: 40,
            distribution: ShiftDistribution::HighVariance,
            scaling: ShiftScaling::Spectral,
            seed: 2,
        })
        .unwrap()
    };
    let tuners: Vec<SequenceTuner> = vec![
        Box::new(FixedOmega::new(1.0).unwrap()),
        Box::new(FixedOmega::new(1.7).unwrap()),
        Box::new(TsallisInf::with_default_arms(0)),
        Box::new(InstanceOptimal::new(OmegaFormula::Sor)),
    ];
    let mut seq = make();
    let out = run_sequence(&mut seq, tuners, &SequenceOptions::default(), &|_| {}).unwrap();
    assert_eq!(out.runs.len(), 4);
    assert_eq!(out.contexts.len(), 40);
    // Re-solve every instance by hand with nabla's Sor: identical sweep counts.
    let mut again = make();
    let mut t = 0;
    while let Some(inst) = again.next_instance().unwrap() {
        assert_eq!(inst.context, out.contexts[t]);
        for run in &out.runs {
            let mut x = inst.x0.clone();
            let mut sor = nabla_sparse::Sor::new(&inst.matrix, run.omega[t]).unwrap();
            let rep = nabla_sparse::Solver::solve(&mut sor, &inst.rhs, &mut x, &opts(1e-8));
            assert_eq!(rep.unwrap().iterations, run.iterations[t], "{}", run.name);
        }
        t += 1;
    }
    for run in &out.runs {
        assert_eq!(
            run.total_iterations,
            run.iterations.iter().map(|&i| i as u64).sum::<u64>()
        );
    }
    // Instance-optimal beats Gauss–Seidel by a wide margin on this sequence.
    let gs = out.run("fixed omega=1.00").unwrap().total_iterations;
    let opt = out.run("instance-optimal").unwrap().total_iterations;
    assert!(opt * 4 < gs, "{opt} vs {gs}");
    assert_eq!(out.best_fixed().unwrap().name, "fixed omega=1.70");
}

#[test]
fn default_arm_grid_is_linspace_1_195_20() {
    let arms = default_arms();
    assert_eq!(arms.len(), 20);
    assert_eq!(arms[0], 1.0);
    assert!((arms[19] - 1.95).abs() < 1e-15);
    assert!((arms[1] - 1.05).abs() < 1e-15);
}

#[test]
fn chebcb_default_arms_are_graded_in_the_gap_to_two() {
    let arms = nabla_sparse::tuning::chebcb_default_arms();
    assert_eq!(arms[0], 1.0);
    assert_eq!(arms.len(), 31);
    assert!(*arms.last().unwrap() <= 1.98);
    for w in arms.windows(2) {
        let step = w[1] - w[0];
        // 0.05 far from 2, at most 15 % of 2 − ω near 2 (up to the 4-decimal rounding).
        assert!(step > 0.0 && step <= 0.05 + 1e-12, "{w:?}");
        assert!(step <= 0.15 * (2.0 - w[0]) + 1e-4, "{w:?}");
    }
    // Where ω* of a 32×32 shifted Laplacian lies, linspace has no point; this grid has five.
    assert_eq!(arms.iter().filter(|&&w| w > 1.9 && w < 1.95).count(), 5);
    // ChebCB uses them by default; Tsallis-INF keeps linspace(1, 1.95, 20).
    assert_eq!(ChebCbOptions::new((0.0, 1.0)).arms, arms);
    assert_eq!(TsallisInf::with_default_arms(0).arms(), &default_arms()[..]);
}

#[test]
fn tsallis_inf_paper_estimator_is_still_available_and_both_learn() {
    use nabla_sparse::tuning::TsallisLoss;
    // Heavy-tailed instance costs (the shifted Laplacian's shape): arm 3 of 8 is best.
    let arms: Vec<f64> = (0..8).map(|i| 1.0 + 0.1 * i as f64).collect();
    for loss in [TsallisLoss::Paper, TsallisLoss::ReducedVariance] {
        let mut t = TsallisInf::new(arms.clone(), 4).unwrap().with_loss(loss);
        assert_eq!(t.loss(), loss);
        let mut rng = Pcg64::seed_from_u64(8);
        let mut plays = [0usize; 8];
        for _ in 0..4000 {
            let w = t.choose(&Context::none()).unwrap();
            let arm = arms.iter().position(|&a| a == w).unwrap();
            let difficulty = 1.0 / (0.02 + rng.gen::<f64>()); // 1 .. 50
            t.observe(difficulty * (10.0 + 6.0 * (arm as f64 - 3.0).abs()))
                .unwrap();
            plays[arm] += 1;
        }
        assert!(plays[3] > 2000, "{loss:?}: {plays:?}");
        let saved = serde_json::to_string(&t).unwrap();
        let back: TsallisInf = serde_json::from_str(&saved).unwrap();
        assert_eq!(back.loss(), loss);
    }
}
