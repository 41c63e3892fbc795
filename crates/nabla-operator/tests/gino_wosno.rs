//! The point-query (GINO-style) WoS-NO operator of issue 24: the out-of-distribution family,
//! the physics loss through the decoder, and tiny training runs with every loss.

use nabla_core::geometry::Domain;
use nabla_nn::RunOptions;
use nabla_operator::wosno::config::{
    GridConfig, OperatorKind, TestConfig, WosNoModelConfig, WosNoTrainConfig,
};
use nabla_operator::wosno::family::{Family, StarPoisson};
use nabla_operator::wosno::smooth::{FitOptions, SmoothSolution};
use nabla_operator::wosno::truth::{TRUTH_FILE, TRUTH_OOD_FILE};
use nabla_operator::wosno::{train_wosno, LossKind, WosNoConfig};
use std::f64::consts::TAU;

fn tiny_gino(loss: LossKind) -> WosNoConfig {
    WosNoConfig {
        task: "wosno".into(),
        device: "cpu".into(),
        grid: GridConfig {
            points: 16,
            half_width: 1.45,
        },
        model: WosNoModelConfig {
            kind: OperatorKind::Gino,
            latent_channels: 8,
            decoder_hidden: vec![16, 16],
            decoder_activation: nabla_nn::Activation::Gelu,
            decoder_interpolation: Default::default(),
            modes: 4,
            width: 12,
            layers: 2,
            projection: 16,
            padding: 0.125,
            precision: Default::default(),
            seed: None,
        },
        train: WosNoTrainConfig {
            loss,
            seed: 3,
            steps: 60,
            batch_size: 4,
            points: 64,
            walks: 10,
            epsilon: 1e-3,
            max_steps: 25,
            relative: false,
            boundary_points: 64,
            boundary_weight: 1.0,
            interior_weight: 0.01,
            lr: 5e-3,
            weight_decay: 0.0,
            schedule: Default::default(),
            log_every: 20,
            checkpoint_every: 0,
            progress: false,
        },
        test: TestConfig {
            instances: 6,
            seed: 11,
            walks: 128,
            epsilon: 1e-3,
            max_steps: 1024,
            control_variate: true,
            ood_instances: 4,
        },
    }
}

#[test]
fn out_of_distribution_family_is_seeded_and_differs_from_training() {
    let a = Family::OUT_OF_DISTRIBUTION.test_set(7, 50);
    assert_eq!(a, Family::OUT_OF_DISTRIBUTION.test_set(7, 50));
    // The in-distribution set is the one held-out truth files were written for.
    assert_eq!(
        StarPoisson::test_set(7, 5),
        Family::IN_DISTRIBUTION.test_set(7, 5)
    );
    let ind = StarPoisson::test_set(7, 50);
    for (o, i) in a.iter().zip(&ind) {
        assert_eq!(o.harmonics, [3, 6]);
        assert_eq!(i.harmonics, [4, 8]);
        assert!(o.c.iter().all(|c| c.abs() <= 0.2));
        assert!(o.max_radius() <= 1.4);
        assert_ne!(o.c, i.c);
    }
    // Sources spread wider and stronger: sample standard deviations near 1.5 and 2.
    let std = |v: Vec<f64>| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    let mu = std(a.iter().flat_map(|i| [i.mu[0][0], i.mu[1][1]]).collect());
    let beta = std(a.iter().flat_map(|i| i.beta).collect());
    assert!((1.2..1.8).contains(&mu), "{mu}");
    assert!((1.6..2.4).contains(&beta), "{beta}");
    // The domain is the three-/six-fold star r(θ) = 1 + c₁ cos 3θ + c₂ cos 6θ.
    let inst = a[0];
    let dom = inst.domain().unwrap();
    for k in 0..12 {
        let theta = k as f64 * TAU / 12.0;
        let r = 1.0 + inst.c[0] * (3.0 * theta).cos() + inst.c[1] * (6.0 * theta).cos();
        assert!((inst.radius(theta) - r).abs() < 1e-14);
        let p = inst.boundary_point(theta);
        assert!(dom.signed_distance(&p).abs() < 1e-9);
        let inside = [0.98 * p[0], 0.98 * p[1]];
        assert!(dom.contains(&inside));
    }
    // The truth's control variate fits the new shapes too: boundary misfit of the smooth
    // near-solution small against g.
    for inst in a.iter().take(5) {
        let s = SmoothSolution::fit(inst, &FitOptions::default()).unwrap();
        let worst = (0..64)
            .map(|k| {
                let t = k as f64 * TAU / 64.0 + 0.01;
                (s.value(&inst.boundary_point(t)) - inst.boundary_at_angle(t)).abs()
            })
            .fold(0.0, f64::max);
        assert!(worst < 2e-2, "boundary misfit {worst}");
    }
}

#[test]
fn point_operator_trains_with_every_loss_and_reports_the_zero_shot_error() {
    let dir = tempfile::tempdir().unwrap();
    for loss in [LossKind::Wos, LossKind::Physics, LossKind::Reference] {
        let run_dir = dir.path().join(format!("{loss:?}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        // The truths of the first run are reused by the later ones.
        for f in [TRUTH_FILE, TRUTH_OOD_FILE] {
            let first = dir.path().join("Wos").join(f);
            if first.is_file() && loss != LossKind::Wos {
                std::fs::copy(&first, run_dir.join(f)).unwrap();
            }
        }
        let cfg = tiny_gino(loss);
        let opts = RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        };
        let run = train_wosno(&cfg, &opts, &|_, _| {}).unwrap();
        let s = &run.summary;
        assert_eq!(s.steps, 60);
        assert_eq!(s.model_kind, OperatorKind::Gino);
        assert!(
            s.test_rel_l2 < 0.7 * s.initial_test_rel_l2,
            "{loss:?}: {} → {}",
            s.initial_test_rel_l2,
            s.test_rel_l2
        );
        assert_eq!(s.truth_cached, loss != LossKind::Wos);
        let ood = s.ood_test_rel_l2.expect("zero-shot error");
        assert!(ood.is_finite() && ood > 0.0);
        assert!((s.ood_ratio.unwrap() - ood / s.test_rel_l2).abs() < 1e-12);
        let h = run.held_out_ood.as_ref().unwrap();
        assert_eq!(h.instances.len(), 4);
        assert!(h.instances.iter().all(|i| i.harmonics == [3, 6]));
        assert!(run_dir.join(TRUTH_OOD_FILE).is_file());
        // Predictions at the held-out nodes are finite everywhere.
        assert!(run.prediction.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn gino_config_errors_name_the_key() {
    let check = |f: &dyn Fn(&mut WosNoConfig), key: &str| {
        let mut c = tiny_gino(LossKind::Physics);
        f(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    };
    check(&|c| c.model.latent_channels = 0, "model.latent_channels");
    check(
        &|c| c.model.decoder_hidden = vec![8, 0],
        "model.decoder_hidden",
    );
    check(
        &|c| c.train.interior_weight = f64::NAN,
        "train.interior_weight",
    );
    assert!(tiny_gino(LossKind::Wos).validate().is_ok());
    // `pino` is accepted as the name of the physics loss.
    let toml = r#"
        task = "wosno"
        [model]
        kind = "gino"
        [train]
        loss = "pino"
        steps = 10
    "#;
    let c: WosNoConfig = toml::from_str(toml).unwrap();
    assert_eq!(c.train.loss, LossKind::Physics);
    assert_eq!(c.model.kind, OperatorKind::Gino);
    let bad = toml.replace("kind = \"gino\"", "kind = \"gno\"");
    assert!(toml::from_str::<WosNoConfig>(&bad).is_err());
}

/// A trained run loads back from its checkpoint alone (the config travels in its metadata)
/// and `evaluate` at the held-out grid nodes reproduces the run's own predictions — for the
/// point-query operator (with ∇u and Δu) and for the grid FNO (bilinear, values only).
#[test]
fn trained_runs_load_from_the_checkpoint_and_evaluate_at_any_points() {
    use nabla_operator::wosno::{OperatorKind, WosNoNet};
    let dir = tempfile::tempdir().unwrap();
    for kind in [OperatorKind::Gino, OperatorKind::Fno] {
        let run_dir = dir.path().join(format!("{kind:?}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut cfg = tiny_gino(LossKind::Wos);
        cfg.model.kind = kind;
        cfg.train.steps = 10;
        cfg.test.instances = 2;
        cfg.test.ood_instances = 0;
        cfg.test.walks = 16;
        let opts = RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        };
        let run = train_wosno(&cfg, &opts, &|_, _| {}).unwrap();
        // Only the checkpoint, moved away from its run directory.
        let lone = dir.path().join(format!("{kind:?}.safetensors"));
        std::fs::copy(run_dir.join("checkpoint.safetensors"), &lone).unwrap();
        let (config, net) = WosNoNet::load(&lone, None).unwrap();
        assert_eq!(config, cfg);
        let grid = WosNoNet::grid(&config);
        let inst = run.held_out.instances[1];
        let nodes: Vec<[f64; 2]> = (0..grid.n * grid.n)
            .map(|q| grid.node(q / grid.n, q % grid.n))
            .collect();
        let v = net.evaluate(&config, &inst, &nodes).unwrap();
        let p = grid.len();
        for (q, u) in v.u.iter().enumerate() {
            let want = run.prediction[p + q] as f64;
            assert!(
                (u - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{kind:?} node {q}: {u} vs {want}"
            );
        }
        assert_eq!(v.gradient.is_some(), kind == OperatorKind::Gino);
        assert_eq!(v.laplacian.is_some(), kind == OperatorKind::Gino);
        // Points outside the box are refused, not extrapolated.
        assert!(net.evaluate(&config, &inst, &[[2.0, 0.0]]).is_err());
    }
}

#[test]
fn instances_parse_from_text_with_one_line_errors() {
    let v = "0.1, -0.05 0.3,0.2,-0.5,0.1,1.0,-0.5,0.2,0.5,-0.3,0.1,0.4";
    let inst = StarPoisson::parse(v, [3, 6]).unwrap();
    assert_eq!(inst.harmonics, [3, 6]);
    assert_eq!(inst.c, [0.1, -0.05]);
    assert_eq!(inst.b, [0.2, 0.5, -0.3, 0.1, 0.4]);
    for (bad, needle) in [
        ("1,2,3", "3 numbers"),
        (
            "0.1,-0.05,0.3,0.2,-0.5,0.1,1.0,-0.5,0.2,0.5,-0.3,0.1,nan",
            "not a finite number",
        ),
        (
            "0.6,0.5,0.3,0.2,-0.5,0.1,1.0,-0.5,0.2,0.5,-0.3,0.1,0.4",
            "would not stay positive",
        ),
    ] {
        let e = StarPoisson::parse(bad, [4, 8]).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
        assert!(!e.contains('\n'));
    }
}
