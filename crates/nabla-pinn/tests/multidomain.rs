//! Multi-domain PINNs (issue 26): the decomposition, interface points, the interface terms
//! against hand-computed values, and short trainings that reach the exact solution, stitched
//! and reloaded.

use nabla_nn::Model;
use nabla_pinn::multidomain::{
    Decomposition, DomainsConfig, InterfaceCondition, MultiDomainObjective,
};
use nabla_pinn::{train_pinn, Pinn, PinnConfig, PinnModel, Problem};

fn config_1d(domains: serde_json::Value, hidden: &[usize]) -> PinnConfig {
    serde_json::from_value(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0;max=1",
                    "source": "pi^2*sin(pi*x)", "exact": "sin(pi*x)",
                    "boundary": [{"kind": "dirichlet", "value": "0"}]},
        "model": {"hidden": hidden, "precision": "f64"},
        "sampling": {"interior": 128, "boundary": 16},
        "loss": {"boundary_weight": 20.0},
        "domains": domains,
        "train": {"optimizer": [{"kind": "adam", "steps": 300, "lr": 1e-2},
                                {"kind": "lbfgs", "iterations": 400}], "progress": false},
        "eval": {"grid": 201},
    }))
    .unwrap()
}

fn config_2d(domains: serde_json::Value) -> PinnConfig {
    serde_json::from_value(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0,0;max=1,1",
                    "source": "2*pi^2*sin(pi*x)*sin(pi*y)", "exact": "sin(pi*x)*sin(pi*y)",
                    "boundary": [{"kind": "dirichlet", "value": "0"}]},
        "model": {"hidden": [12, 12], "precision": "f64"},
        "sampling": {"interior": 400, "boundary": 80},
        "domains": domains,
        "train": {"optimizer": [{"kind": "adam", "steps": 5, "lr": 1e-3}], "progress": false},
    }))
    .unwrap()
}

#[test]
fn decomposition_routes_points_and_samples_interfaces_on_the_cuts() {
    let cfg = config_2d(serde_json::json!({"split": [2, 2]}));
    let problem = Problem::from_config(&cfg).unwrap();
    let d = Decomposition::new(cfg.domains.as_ref().unwrap(), &problem).unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.cuts, vec![vec![0.5], vec![0.5]]);
    // Row-major over (x bin, y bin); a point on a cut belongs to the piece below it.
    assert_eq!(d.piece(&[0.2, 0.2]), 0);
    assert_eq!(d.piece(&[0.2, 0.7]), 1);
    assert_eq!(d.piece(&[0.7, 0.2]), 2);
    assert_eq!(d.piece(&[0.7, 0.7]), 3);
    assert_eq!(d.piece(&[0.5, 0.5]), 0);
    let ifaces = d.interface_points(100, 7, &|_| true);
    // Two cuts, each split in two by the other: four interfaces.
    let pairs: Vec<(usize, usize, usize)> = ifaces.iter().map(|i| (i.axis, i.a, i.b)).collect();
    assert_eq!(pairs, vec![(0, 0, 2), (0, 1, 3), (1, 0, 1), (1, 2, 3)]);
    let total: usize = ifaces.iter().map(|i| i.points.len() / 2).sum();
    assert_eq!(total, 200);
    for i in &ifaces {
        for p in i.points.chunks(2) {
            assert_eq!(p[i.axis], 0.5);
            let mut below = p.to_vec();
            below[i.axis] -= 1e-9;
            let mut above = p.to_vec();
            above[i.axis] += 1e-9;
            assert_eq!((d.piece(&below), d.piece(&above)), (i.a, i.b));
        }
    }
    // Cuts of a non-box domain keep only the face points inside it.
    let kept = d.interface_points(100, 7, &|p: &[f64]| p[0] + p[1] < 1.0);
    for i in &kept {
        assert!(i.points.chunks(2).all(|p| p[0] + p[1] < 1.0));
    }
}

#[test]
fn domain_configs_give_one_line_errors_naming_the_key() {
    for (domains, key) in [
        (
            serde_json::json!({"split": [2, 2], "cuts": [[0.5], []]}),
            "domains",
        ),
        (serde_json::json!({}), "domains"),
        (serde_json::json!({"split": [2]}), "domains.split"),
        (serde_json::json!({"split": [1, 1]}), "domains"),
        (serde_json::json!({"cuts": [[1.5], []]}), "domains.cuts"),
        (
            serde_json::json!({"cuts": [[0.6, 0.4], []]}),
            "domains.cuts",
        ),
    ] {
        let cfg = config_2d(domains);
        let e = PinnModel::new(&cfg).err().expect("an error").to_string();
        assert!(e.contains(key) && !e.contains('\n'), "{e}");
    }
    let bad: Result<DomainsConfig, _> =
        serde_json::from_value(serde_json::json!({"split": [2, 1], "interface": ["glue"]}));
    assert!(bad.is_err());
}

/// With the same weights in every piece all continuity terms vanish and `residual` is twice
/// the mean squared residual; with different weights, `solution` equals the mean squared
/// difference of the two networks at the interface points, recomputed from predictions.
#[test]
fn interface_terms_match_hand_computed_values() {
    let cfg = config_2d(serde_json::json!({"split": [2, 1], "interface_points": 64}));
    let model = PinnModel::new(&cfg).unwrap();
    let split = model.split.as_ref().unwrap();
    let obj = MultiDomainObjective::new(model.problem.clone(), &cfg, split, None).unwrap();
    let all = InterfaceCondition::ALL;
    // Different weights: solution term by hand.
    let iface = &obj.interfaces()[0];
    assert_eq!((iface.a, iface.b, iface.axis), (0, 1, 0));
    let ua = nabla_pinn::objective::predict(&split.nets[0], None, 2, &iface.points).unwrap();
    let ub = nabla_pinn::objective::predict(&split.nets[1], None, 2, &iface.points).unwrap();
    let want: f64 = ua
        .iter()
        .zip(&ub)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / ua.len() as f64;
    let terms = obj.interface_terms(split, &all).unwrap();
    let get = |t: &[(InterfaceCondition, f64)], c| t.iter().find(|(k, _)| *k == c).unwrap().1;
    assert!((get(&terms, InterfaceCondition::Solution) - want).abs() < 1e-12 * (1.0 + want));
    assert!((get(&terms, InterfaceCondition::Average) - 0.5 * want).abs() < 1e-12 * (1.0 + want));
    assert!(want > 1e-6);
    for (_, v) in &terms {
        assert!(v.is_finite() && *v >= 0.0);
    }
    // Same weights in both pieces: every continuity term is zero.
    let flat = split.nets[0].params().flatten().unwrap();
    split.nets[1].params().set_flat(&flat).unwrap();
    let terms = obj.interface_terms(split, &all).unwrap();
    for c in [
        InterfaceCondition::Solution,
        InterfaceCondition::Average,
        InterfaceCondition::ResidualContinuity,
        InterfaceCondition::Flux,
        InterfaceCondition::NormalSecond,
        InterfaceCondition::Tangent,
        InterfaceCondition::TangentSecond,
    ] {
        assert!(get(&terms, c).abs() < 1e-20, "{c:?}: {}", get(&terms, c));
    }
    assert!(get(&terms, InterfaceCondition::Residual) > 0.0);
}

/// −u'' = π² sin(πx) on (0, 1) in two and three pieces: the stitched network reaches the
/// exact solution, and a reloaded run predicts the same values (nabla eval's path).
#[test]
fn split_pinns_reach_the_exact_solution_and_reload() {
    for (domains, pieces) in [
        (
            serde_json::json!({"split": [2], "interface": ["solution", "flux"]}),
            2,
        ),
        (
            serde_json::json!({"cuts": [[0.3, 0.7]], "interface": ["solution", "flux", "residual_continuity"]}),
            3,
        ),
    ] {
        let cfg = config_1d(domains, &[12, 12]);
        let dir = tempfile::tempdir().unwrap();
        let opts = nabla_nn::RunOptions {
            run_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let run = train_pinn(&cfg, &opts).unwrap();
        let e = run.summary.rel_l2.unwrap();
        assert!(e < 1e-2, "{pieces} pieces: {e}");
        assert_eq!(run.model.split.as_ref().unwrap().nets.len(), pieces);
        assert_eq!(run.summary.parameters, pieces * (12 * 2 + 13 * 12 + 13));
        // The checkpoint alone rebuilds all pieces.
        let pinn = Pinn::load(dir.path().join("checkpoint.safetensors")).unwrap();
        let pts =
            ndarray::Array2::from_shape_vec((5, 1), vec![0.05, 0.3, 0.5, 0.71, 0.95]).unwrap();
        let u = pinn.u(pts.view()).unwrap();
        let again = run.model.predict(pts.as_slice().unwrap()).unwrap();
        for (a, b) in u.iter().zip(&again) {
            assert!((a - b).abs() < 1e-12);
        }
        for (x, v) in pts.iter().zip(u.iter()) {
            assert!(
                (v - (std::f64::consts::PI * x).sin()).abs() < 2e-2,
                "u({x}) = {v}"
            );
        }
        // Derivatives come from each point's own piece.
        let vals = pinn.evaluate(pts.view()).unwrap();
        for (k, x) in pts.iter().enumerate() {
            let pi = std::f64::consts::PI;
            assert!(
                (vals.grad[[k, 0]] - pi * (pi * x).cos()).abs() < 0.1,
                "u'({x})"
            );
            assert!(
                (vals.laplacian[k] + pi * pi * (pi * x).sin()).abs() < 0.5,
                "u''({x})"
            );
        }
    }
}
