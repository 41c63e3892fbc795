//! METALIC families and sequences (issue 26): the finite-difference reference, the families'
//! exact solutions against their PDEs, the advection PDE, deterministic instance training and a
//! tiny sequence's report.

use nabla_pinn::family::{reward, train_instance, FamilyBudget, FamilyKind};
use nabla_pinn::family_sequence::{run_family_sequence, FamilySequenceOptions, FamilyTuner};
use nabla_pinn::metalic::mask_of;
use nabla_pinn::multidomain::InterfaceCondition;
use nabla_pinn::reference::poisson_fd_reference;
use nabla_pinn::{train_pinn, PinnConfig, Problem};
use rand::SeedableRng;
use std::f64::consts::PI;

#[test]
fn finite_difference_reference_is_second_order_accurate() {
    let f = |p: &[f64]| 2.0 * PI * PI * (PI * p[0]).sin() * (PI * p[1]).sin();
    let mut errs = Vec::new();
    for n in [33, 65] {
        let r = poisson_fd_reference(n, &f).unwrap();
        let mut worst = 0.0f64;
        for k in 0..50 {
            let (x, y) = ((k as f64 * 0.137) % 1.0, (k as f64 * 0.291) % 1.0);
            let h = 1.0 / (n - 1) as f64;
            // Compare at nodes (bilinear interpolation adds its own O(h²)).
            let (xi, yj) = ((x / h).round() * h, (y / h).round() * h);
            worst = worst.max((r.value(xi, yj) - (PI * xi).sin() * (PI * yj).sin()).abs());
        }
        errs.push(worst);
    }
    assert!(errs[1] < 3e-4, "{errs:?}");
    let order = (errs[0] / errs[1]).log2();
    assert!((1.8..2.2).contains(&order), "order {order} from {errs:?}");
}

/// Each family's exact solution satisfies its PDE (central differences of the problem's own
/// `exact` field) and its initial value; sampled parameters lie in the declared ranges.
#[test]
fn family_instances_are_consistent_problems() {
    let budget = FamilyBudget::default();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
    for kind in [FamilyKind::Heat, FamilyKind::Advection] {
        for _ in 0..3 {
            let params = kind.sample(&mut rng);
            for (v, (lo, hi)) in params.iter().zip(kind.ranges()) {
                assert!(*v >= lo && *v <= hi);
            }
            let cfg = kind.config(&params, &budget).unwrap();
            assert!(cfg.domains.is_some());
            let p = Problem::from_config(&cfg).unwrap();
            let u = p.exact.as_ref().unwrap();
            let u0 = p.initial.as_ref().unwrap();
            let h = 1e-4;
            for &(x, t) in &[(0.3, 0.2), (0.9, 0.7)] {
                let ut = (u.eval(&[x, t + h]) - u.eval(&[x, t - h])) / (2.0 * h);
                let ux = (u.eval(&[x + h, t]) - u.eval(&[x - h, t])) / (2.0 * h);
                let uxx =
                    (u.eval(&[x + h, t]) - 2.0 * u.eval(&[x, t]) + u.eval(&[x - h, t])) / (h * h);
                let r = match kind {
                    FamilyKind::Heat => ut - uxx,
                    _ => ut + params[0] * ux,
                };
                assert!(
                    r.abs() < 1e-4 * (1.0 + ut.abs() + uxx.abs()),
                    "{kind:?} {params:?}: {r}"
                );
                assert!((u0.eval(&[x]) - u.eval(&[x, 0.0])).abs() < 1e-12);
            }
        }
    }
    for kind in [FamilyKind::Burgers, FamilyKind::Poisson] {
        let params = kind.sample(&mut rng);
        assert!(kind.config(&params, &budget).is_ok());
    }
    assert!(FamilyKind::Heat.config(&[1.0], &budget).is_err());
}

#[test]
fn advection_pinn_learns_a_travelling_wave() {
    let cfg: PinnConfig = serde_json::from_value(serde_json::json!({
        "problem": {"pde": "advection", "domain": "box:min=0;max=6.283185307179586",
                    "time": [0.0, 1.0], "velocity": 1.0, "initial": "sin(x)",
                    "exact": "sin(x - t)",
                    "boundary": [{"kind": "dirichlet", "value": "sin(x - t)"}]},
        "model": {"hidden": [20, 20], "precision": "f64"},
        "sampling": {"interior": 400, "boundary": 100, "initial": 100},
        "loss": {"boundary_weight": 10.0, "initial_weight": 10.0},
        "train": {"optimizer": [{"kind": "adam", "steps": 300, "lr": 1e-2},
                                {"kind": "lbfgs", "iterations": 500}], "progress": false},
        "eval": {"grid": 41},
    }))
    .unwrap();
    let run = train_pinn(&cfg, &Default::default()).unwrap();
    let e = run.summary.rel_l2.unwrap();
    assert!(e < 2e-2, "{e}");
    // velocity is required for advection and refused elsewhere.
    let mut bad = cfg.clone();
    bad.problem.velocity = None;
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("problem.velocity"));
}

fn tiny_budget() -> FamilyBudget {
    FamilyBudget {
        hidden: vec![8, 8],
        interior: 200,
        boundary: 60,
        initial: 60,
        interface_points: 32,
        adam_steps: 40,
        adam_lr: 1e-3,
        lbfgs_iterations: 30,
        seed: 1,
    }
}

/// The same instance, arms and budget give the same error (what the sequence's cache relies
/// on); the L-BFGS phase's arm is the one `next` returns.
#[test]
fn instance_training_is_deterministic() {
    let params = [1.0, -0.5, 0.3, 0.8];
    let arm = mask_of(&[InterfaceCondition::Solution, InterfaceCondition::Flux]);
    let b = tiny_budget();
    let mut seen = None;
    let a = train_instance(FamilyKind::Heat, &params, &b, arm, &mut |e0| {
        seen = Some(e0);
        Ok(arm)
    })
    .unwrap();
    let again = train_instance(FamilyKind::Heat, &params, &b, arm, &mut |_| Ok(arm)).unwrap();
    assert_eq!(seen, Some(a.error_adam));
    assert!(
        (a.error - again.error).abs() <= 1e-9 * a.error,
        "{} vs {}",
        a.error,
        again.error
    );
    assert!(a.error.is_finite() && a.error > 0.0);
    assert!((reward(a.error) + a.error.log10()).abs() < 1e-12);
    assert_eq!(reward(f64::NAN), -2.0);
}

#[test]
fn a_tiny_sequence_reports_every_tuner_against_hindsight() {
    let tuners: Vec<FamilyTuner> = ["metalic", "metalic-2stage", "random", "fixed:solution+flux"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert!("fixed:glue".parse::<FamilyTuner>().is_err());
    assert!("bandit".parse::<FamilyTuner>().is_err());
    let opts = FamilySequenceOptions {
        family: FamilyKind::Heat,
        instances: 3,
        tuners: tuners.clone(),
        hindsight_arms: 2,
        budget: tiny_budget(),
        seed: 5,
        metalic_play: Some(2),
        metalic_initial: vec![],
    };
    let mut calls = 0;
    let r = run_family_sequence(&opts, &mut |_, _| calls += 1).unwrap();
    assert_eq!(calls, 3);
    assert_eq!(r.instances.len(), 3);
    assert_eq!(r.tuners.len(), 4);
    assert_eq!(r.tuners[3].name, "fixed:solution+flux");
    for inst in &r.instances {
        assert_eq!(inst.picks.len(), 4);
        for p in &inst.picks {
            assert!(
                inst.best_error <= p.error,
                "{} > {}",
                inst.best_error,
                p.error
            );
        }
        assert_eq!(inst.picks[3].arm, "solution+flux");
        assert!(inst.trained >= 2 && inst.trained <= 6);
    }
    for t in &r.tuners {
        assert!(t.cumulative_regret.windows(2).all(|w| w[1] >= w[0] - 1e-12));
        assert!(t.vs_hindsight >= 1.0 - 1e-12);
    }
    assert!(r.trainings <= 3 * 6);
}
