//! PINN problems, constraints, sampling and training, against exact solutions and finite
//! differences.

use nabla_nn::{train, Model, Objective, RunOptions, StepContext};
use nabla_pinn::objective::PinnObjective;
use nabla_pinn::{train_pinn, PinnConfig, PinnModel};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn config(v: serde_json::Value) -> PinnConfig {
    serde_json::from_value(v).expect("config")
}

fn poisson1d(steps: serde_json::Value) -> PinnConfig {
    config(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0;max=1",
            "source": "pi^2*sin(pi*x)", "exact": "sin(pi*x)",
            "boundary": [{"kind": "dirichlet", "value": "0"}]},
        "model": {"hidden": [16, 16], "precision": "f64"},
        "sampling": {"interior": 64, "boundary": 2},
        "loss": {"hard_dirichlet": true},
        "train": {"optimizer": steps, "log_every": 50, "progress": false},
        "eval": {"grid": 201},
    }))
}

#[test]
fn poisson_1d_converges_to_the_exact_solution() {
    let cfg = poisson1d(serde_json::json!([
        {"kind": "adam", "steps": 300, "lr": 1e-2},
        {"kind": "lbfgs", "iterations": 400}
    ]));
    let run = train_pinn(&cfg, &RunOptions::default()).unwrap();
    let e = run.summary.rel_l2.unwrap();
    assert!(e < 1e-3, "relative L2 {e:e}");
    assert_eq!(run.summary.eval_points, 201);
}

#[test]
fn soft_dirichlet_and_neumann_conditions_are_learned() {
    // −u'' = π² sin(πx/2)/4 … on [0,1]: u = sin(πx/2), u(0) = 0, u'(1) = 0 (Neumann).
    let cfg = config(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0;max=1",
            "source": "pi^2/4*sin(pi*x/2)", "exact": "sin(pi*x/2)",
            "boundary": [{"kind": "dirichlet", "value": "0", "where": "0.5 - x"},
                         {"kind": "neumann", "value": "0"}]},
        "model": {"hidden": [16, 16], "precision": "f64"},
        "sampling": {"interior": 64, "boundary": 20},
        "train": {"optimizer": [{"kind": "adam", "steps": 300, "lr": 1e-2},
                                {"kind": "lbfgs", "iterations": 500}],
                  "progress": false},
    }));
    let run = train_pinn(&cfg, &RunOptions::default()).unwrap();
    let e = run.summary.rel_l2.unwrap();
    assert!(e < 5e-3, "relative L2 {e:e}");
}

#[test]
fn hard_constraints_hold_exactly_and_their_derivatives_match_finite_differences() {
    for (domain, hard_init) in [
        ("box:min=0,-1;max=2,1", true),
        ("ball:center=0.5,0;radius=1.5", false),
        ("star:c1=0.1;c2=-0.05", true),
    ] {
        let cfg = config(serde_json::json!({
            "problem": {"pde": "heat", "alpha": 0.5, "domain": domain, "time": [0.0, 2.0],
                "initial": "x*y + 1 - (x*x + y*y)*0",
                "boundary": [{"kind": "dirichlet", "value": "x*y + 1"}]},
            "loss": {"hard_dirichlet": true, "hard_initial": hard_init},
            "train": {"optimizer": [{"kind": "adam", "steps": 1}], "progress": false},
        }));
        let m = PinnModel::new(&cfg).unwrap();
        let p = &m.problem;
        let hard = m.hard.as_ref().unwrap();
        // On the boundary (any t) u = g, whatever the network says.
        let b = nabla_pinn::points::boundary_points(p, 50, Default::default(), 3).unwrap();
        let u = m.predict(&b).unwrap();
        for (q, v) in b.chunks(3).zip(&u) {
            let g = q[0] * q[1] + 1.0;
            assert!((v - g).abs() < 1e-6, "{domain}: u = {v}, g = {g} at {q:?}");
        }
        if hard_init {
            let i = nabla_pinn::points::initial_points(p, 50, Default::default(), 4).unwrap();
            for (q, v) in i.chunks(3).zip(m.predict(&i).unwrap()) {
                assert!((v - (q[0] * q[1] + 1.0)).abs() < 1e-6);
            }
        }
        // Φ and g derivatives against central differences of Φ·N + g with N ≡ 1.
        let pts = nabla_pinn::points::interior_points(p, 20, Default::default(), 5).unwrap();
        let t = hard.terms(&pts, true);
        let h = 1e-5;
        for (k, q) in pts.chunks(3).enumerate() {
            for i in 0..3 {
                let f = |s: f64| {
                    let mut r = q.to_vec();
                    r[i] += s;
                    hard.apply(&r, 1.0)
                };
                let d1 = (f(h) - f(-h)) / (2.0 * h);
                let d2 = (f(h) - 2.0 * f(0.0) + f(-h)) / (h * h);
                let a1 = t.dphi[3 * k + i] + t.dg[3 * k + i];
                let a2 = t.d2phi[3 * k + i] + t.d2g[3 * k + i];
                assert!(
                    (d1 - a1).abs() < 1e-4 * (1.0 + a1.abs()),
                    "{domain} d1[{i}] {d1} vs {a1}"
                );
                assert!(
                    (d2 - a2).abs() < 2e-2 * (1.0 + a2.abs()),
                    "{domain} d2[{i}] {d2} vs {a2}"
                );
            }
        }
    }
}

#[test]
fn config_errors_name_the_key() {
    let base = |problem: serde_json::Value| {
        let cfg = config(serde_json::json!({
            "problem": problem,
            "train": {"optimizer": [{"kind": "adam", "steps": 1}], "progress": false},
        }));
        PinnModel::new(&cfg).err().expect("an error").to_string()
    };
    let bc = serde_json::json!([{"kind": "dirichlet"}]);
    let e = base(
        serde_json::json!({"pde": "helmholtz", "domain": "box:min=0,0;max=1,1", "boundary": bc}),
    );
    assert!(e.contains("problem.k"), "{e}");
    let e = base(
        serde_json::json!({"pde": "poisson", "domain": "box:min=0,0;max=1,1",
        "source": "sin(pi*z)", "boundary": bc}),
    );
    assert!(e.contains("problem.source") && e.contains("'z'"), "{e}");
    let e = base(
        serde_json::json!({"pde": "heat", "alpha": 1.0, "domain": "box:min=0;max=1",
        "initial": "0", "boundary": bc}),
    );
    assert!(e.contains("problem.time"), "{e}");
    let e = base(
        serde_json::json!({"pde": "poisson", "domain": "box:min=0,0;max=1,1;radius=2", "boundary": bc}),
    );
    assert!(e.contains("problem.domain"), "{e}");
    let e = base(
        serde_json::json!({"pde": "poisson", "domain": "box:min=0,0;max=1,1",
        "boundary": [{"kind": "dirichlet", "value": "x +"}]}),
    );
    assert!(e.contains("problem.boundary[0].value"), "{e}");
    let bad: Result<PinnConfig, _> = serde_json::from_value(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0;max=1", "sorce": "1"},
        "train": {"optimizer": []}}));
    assert!(bad.unwrap_err().to_string().contains("sorce"));
}

/// Wraps the PINN objective and raises the stop flag after `stop_at` steps.
struct StopAfter {
    inner: PinnObjective,
    stop_at: usize,
    flag: Arc<AtomicBool>,
}

impl Objective<nabla_nn::Mlp> for StopAfter {
    fn loss(
        &mut self,
        m: &nabla_nn::Mlp,
        ctx: &mut StepContext<'_>,
    ) -> nabla_nn::Result<candle_core::Tensor> {
        if ctx.step + 1 >= self.stop_at {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.loss(m, ctx)
    }
    fn metrics(&mut self, m: &nabla_nn::Mlp) -> nabla_nn::Result<Vec<(String, f64)>> {
        self.inner.metrics(m)
    }
    fn state(&self) -> nabla_nn::Result<Vec<(String, candle_core::Tensor)>> {
        self.inner.state()
    }
    fn load_state(
        &mut self,
        s: &std::collections::HashMap<String, candle_core::Tensor>,
    ) -> nabla_nn::Result<()> {
        self.inner.load_state(s)
    }
}

#[test]
fn resume_with_resampling_and_rar_is_bit_for_bit() {
    let mut cfg = poisson1d(serde_json::json!([{"kind": "adam", "steps": 40, "lr": 1e-2}]));
    cfg.sampling.resample_every = 7;
    cfg.sampling.rar = Some(nabla_pinn::config::RarConfig {
        every: 10,
        candidates: 200,
        add: 5,
        max_points: 1000,
    });
    let dir = tempfile::tempdir().unwrap();
    let run = |dir: &std::path::Path, stop_at: usize, resume: bool| {
        let m = PinnModel::new(&cfg).unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let mut obj = StopAfter {
            inner: PinnObjective::new(m.problem.clone(), &cfg, &m.mlp).unwrap(),
            stop_at,
            flag: flag.clone(),
        };
        let opts = RunOptions {
            run_dir: Some(dir.to_path_buf()),
            resume,
            stop: Some(flag),
            comm: None,
        };
        let report = train(&m.mlp, &mut obj, &cfg.train, &opts).unwrap();
        (
            report,
            obj.inner.interior_len(),
            m.mlp.params().flatten().unwrap(),
        )
    };
    let (full, n_full, w_full) = run(&dir.path().join("a"), usize::MAX, false);
    assert_eq!(full.steps, 40);
    assert_eq!(n_full, 64 + 3 * 5, "RAR added 5 points at steps 10, 20, 30");
    let (first, _, _) = run(&dir.path().join("b"), 23, false);
    assert_eq!(first.outcome, nabla_nn::Outcome::Stopped);
    let (second, n_b, w_b) = run(&dir.path().join("b"), usize::MAX, true);
    assert_eq!(second.steps, 40);
    assert_eq!(n_b, n_full);
    assert_eq!(w_b, w_full, "resumed weights differ");
    assert_eq!(second.final_loss.to_bits(), full.final_loss.to_bits());
}

#[test]
fn sdgd_two_body_problem_trains_in_high_dimension() {
    let cfg = config(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "ball:dim=50", "builtin": "two-body"},
        "model": {"hidden": [32, 32]},
        "sampling": {"interior": 50, "resample_every": 1},
        "loss": {"hard_dirichlet": true, "sdgd_dims": 5},
        "train": {"optimizer": [{"kind": "adam", "steps": 300, "lr": 1e-3}], "progress": false},
        "eval": {"test_points": 2000},
    }));
    let untrained = {
        let m = PinnModel::new(&cfg).unwrap();
        let obj = PinnObjective::new(m.problem.clone(), &cfg, &m.mlp).unwrap();
        obj.rel_l2(&m.mlp).unwrap().unwrap()
    };
    let run = train_pinn(&cfg, &RunOptions::default()).unwrap();
    let e = run.summary.rel_l2.unwrap();
    assert!(
        e < 0.5 * untrained,
        "trained {e:e} vs untrained {untrained:e}"
    );
    assert!(e < 0.15, "{e}");
}
