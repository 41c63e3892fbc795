//! WoS-NO: the instance family, the input features, the WoS targets against known solutions,
//! the finite-difference physics loss, bilinear interpolation, the held-out cache, a tiny
//! training run and config errors.

use candle_core::{DType, Device, Tensor};
use nabla_core::field::Expr;
use nabla_core::geometry::{Domain, Star};
use nabla_nn::RunOptions;
use nabla_operator::wosno::config::{GridConfig, TestConfig, WosNoModelConfig, WosNoTrainConfig};
use nabla_operator::wosno::family::StarPoisson;
use nabla_operator::wosno::features::{grid_features, point_features, EmbeddingGrid, CHANNELS};
use nabla_operator::wosno::interp::BilinearStencil;
use nabla_operator::wosno::physics::{boundary_loss, five_point_laplacian, residual_loss};
use nabla_operator::wosno::run::{sample_interior, training_estimates};
use nabla_operator::wosno::truth::{held_out, TRUTH_FILE};
use nabla_operator::wosno::{train_wosno, LossKind, WosNoConfig};
use nabla_wos::WosProblem;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::sync::Arc;

fn tiny_config(loss: LossKind) -> WosNoConfig {
    WosNoConfig {
        task: "wosno".into(),
        device: "cpu".into(),
        grid: GridConfig {
            points: 16,
            half_width: 1.45,
        },
        model: WosNoModelConfig {
            kind: Default::default(),
            latent_channels: 8,
            decoder_hidden: vec![16],
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
            boundary_weight: 10.0,
            interior_weight: 1.0,
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
            ood_instances: 0,
        },
    }
}

#[test]
fn instance_sampling_is_seeded_reproducible_and_in_range() {
    let a = StarPoisson::test_set(7, 20);
    assert_eq!(a, StarPoisson::test_set(7, 20));
    assert_ne!(a, StarPoisson::test_set(8, 20));
    // Instance k does not depend on how many are drawn.
    assert_eq!(a[..5], StarPoisson::test_set(7, 5)[..]);
    let draw = |seed| {
        let mut rng = Pcg64::seed_from_u64(seed);
        (0..20)
            .map(|_| StarPoisson::sample(&mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    // The training stream (seed_from_u64) and the test set do not share instances.
    assert!(draw(7).iter().all(|i| !a.contains(i)));
    let many = StarPoisson::test_set(0, 2000);
    for i in &many {
        assert!(i.c.iter().all(|c| c.abs() <= 0.2));
        assert!(i.b.iter().all(|b| b.abs() <= 1.0));
        assert_eq!(StarPoisson::from_slice(&i.to_vec()), Some(*i));
    }
    // μ and β standard normal: mean ≈ 0, variance ≈ 1 over 2000 × 6 draws.
    let normals: Vec<f64> = many
        .iter()
        .flat_map(|i| {
            [
                i.mu[0][0], i.mu[0][1], i.mu[1][0], i.mu[1][1], i.beta[0], i.beta[1],
            ]
        })
        .collect();
    let m = normals.iter().sum::<f64>() / normals.len() as f64;
    let v = normals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / normals.len() as f64;
    assert!(
        m.abs() < 0.05 && (v - 1.0).abs() < 0.06,
        "mean {m}, variance {v}"
    );
}

#[test]
fn features_vanish_distance_and_match_g_on_the_boundary() {
    let inst = StarPoisson::test_set(3, 1)[0];
    let dom = inst.domain().unwrap();
    for k in 0..37 {
        let theta = -3.0 + 6.0 * k as f64 / 36.0;
        let p = inst.boundary_point(theta);
        let [f, phi, g] = point_features(&inst, &dom, &p);
        assert!(phi.abs() < 1e-9, "φ = {phi} at θ = {theta}");
        assert!((g - inst.boundary_at_angle(theta)).abs() < 1e-9);
        assert!((f - inst.source(&p)).abs() < 1e-15);
        // Just outside along the normal-ish radial direction, the nearest g is still ≈ g(θ).
        let q = [p[0] * 1.001, p[1] * 1.001];
        let [_, phi_out, g_out] = point_features(&inst, &dom, &q);
        assert!(phi_out > 0.0 && phi_out < 2e-3);
        assert!((g_out - inst.boundary_at_angle(theta)).abs() < 1e-2);
    }
    // On the grid: inside ⇔ φ < 0, the origin is inside with φ = −dist.
    let grid = EmbeddingGrid {
        n: 17,
        half_width: 1.45,
    };
    let feats = grid_features(&inst, &dom, &grid);
    assert_eq!(feats.values.len(), 17 * 17 * CHANNELS);
    for q in 0..grid.len() {
        let phi = feats.values[q * CHANNELS + 1];
        assert_eq!(feats.inside[q], phi < 0.0, "node {q}");
    }
    let centre = 8 * 17 + 8;
    assert_eq!(grid.node(8, 8), [0.0, 0.0]);
    let phi0 = feats.values[centre * CHANNELS + 1] as f64;
    assert!((phi0 + dom.distance_to_boundary(&[0.0, 0.0])).abs() < 1e-6);
}

/// Pooled statistics of estimates against an exact solution: (Σ error / √Σ se², RMS error /
/// RMS standard error). For unbiased estimates with honest standard errors the first is
/// N(0, 1) and the second ≈ 1. (Per-point z-scores are useless at 10 walks: a sample standard
/// deviation from 10 walks is sometimes tiny, and a point within ε of ∂Ω has se = 0.)
fn pooled(sol: &nabla_wos::WosSolution, pts: &[f64], exact: impl Fn(&[f64]) -> f64) -> (f64, f64) {
    let (mut sum_e, mut sum_e2, mut sum_se2) = (0.0, 0.0, 0.0);
    for (e, x) in sol.estimates.iter().zip(pts.chunks(2)) {
        let err = e.value - exact(x);
        sum_e += err;
        sum_e2 += err * err;
        sum_se2 += e.stderr * e.stderr;
    }
    (sum_e / sum_se2.sqrt(), (sum_e2 / sum_se2).sqrt())
}

#[test]
fn wos_targets_agree_with_known_solutions_within_their_standard_errors() {
    let star = Arc::new(Star::wos_no(0.15, -0.1).unwrap());
    let mut rng = Pcg64::seed_from_u64(5);
    let pts = sample_interior(&star, 1.25, 400, &mut rng);
    let train = tiny_config(LossKind::Wos).train; // 10 walks, ε = 1e-3, ≤ 25 steps
                                                  // Harmonic: f = 0, u = x² − y².
    let harmonic =
        WosProblem::laplace(star.clone(), Arc::new("x^2 - y^2".parse::<Expr>().unwrap()));
    let sol = training_estimates(harmonic, &pts, &train, 9).unwrap();
    let (z, ratio) = pooled(&sol, &pts, |x| x[0] * x[0] - x[1] * x[1]);
    assert!(
        z.abs() < 4.0 && ratio < 1.3,
        "pooled z = {z}, RMS error / RMS se = {ratio}"
    );
    // Poisson with the family's sign: Δu = f, u = x² + y² ⇒ f = 4.
    let poisson = WosProblem::laplace(star.clone(), Arc::new("x^2 + y^2".parse::<Expr>().unwrap()))
        .with_source(Arc::new("4".parse::<Expr>().unwrap()));
    let sol = training_estimates(poisson, &pts, &train, 10).unwrap();
    let (z, ratio) = pooled(&sol, &pts, |x| x[0] * x[0] + x[1] * x[1]);
    assert!(
        z.abs() < 4.0 && ratio < 1.3,
        "pooled z = {z}, RMS error / RMS se = {ratio}"
    );
    // A family instance with β = 0 and constant g = b₀: u ≡ b₀ exactly.
    let mut inst = StarPoisson::test_set(1, 1)[0];
    inst.beta = [0.0, 0.0];
    inst.b = [0.37, 0.0, 0.0, 0.0, 0.0];
    let dom = Arc::new(inst.domain().unwrap());
    let pts = sample_interior(&dom, inst.max_radius(), 50, &mut rng);
    let sol = training_estimates(inst.problem(dom), &pts, &train, 3).unwrap();
    for e in &sol.estimates {
        assert!((e.value - 0.37).abs() < 1e-12);
    }
}

#[test]
fn physics_residual_vanishes_on_exact_discrete_solutions() {
    let grid = EmbeddingGrid {
        n: 21,
        half_width: 1.45,
    };
    let (n, h) = (grid.n, grid.spacing());
    let field = |u: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
        let mut v = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let [x, y] = grid.node(i, j);
                v.push(u(x, y));
            }
        }
        v
    };
    let dev = Device::Cpu;
    let m = n - 2;
    // Quadratic with Δu = 4: the 5-point stencil is exact, residual 0 against f = 4.
    let u = field(&|x, y| x * x + y * y + 0.3 * x * y + x);
    let u = Tensor::from_vec(u, (1, n, n), &dev).unwrap();
    let f = Tensor::full(4f64, (1, m, m), &dev).unwrap();
    let mask = Tensor::ones((1, m, m), DType::F64, &dev).unwrap();
    let r = residual_loss(&u, &f, &mask, h)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(r < 1e-20, "residual² = {r}");
    // An independent check of the stencil: Δₕ x⁴ = 12x² + 2h² exactly.
    let u4 = Tensor::from_vec(field(&|x, _| x.powi(4)), (1, n, n), &dev).unwrap();
    let lap = five_point_laplacian(&u4, h)
        .unwrap()
        .to_vec3::<f64>()
        .unwrap();
    for (i, row) in lap[0].iter().enumerate() {
        let x = grid.coord(i + 1);
        for v in row {
            assert!((v - (12.0 * x * x + 2.0 * h * h)).abs() < 1e-9);
        }
    }
    // A wrong source gives the mean of (4 − 3)² = 1 over the masked nodes only.
    let f3 = Tensor::full(3f64, (1, m, m), &dev).unwrap();
    let r = residual_loss(&u, &f3, &mask, h)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((r - 1.0).abs() < 1e-9);
    // Boundary term: a bilinear function is interpolated exactly at boundary points.
    let inst = StarPoisson::test_set(4, 1)[0];
    let ub = |x: f64, y: f64| 1.0 + 2.0 * x - y + 0.5 * x * y;
    let mut st = BilinearStencil::new();
    let mut g = Vec::new();
    for k in 0..50 {
        let p = inst.boundary_point(0.1257 * k as f64);
        st.push(&grid, 0, &p);
        g.push(ub(p[0], p[1]));
    }
    let uflat = Tensor::from_vec(field(&|x, y| ub(x, y)), n * n, &dev).unwrap();
    let gt = Tensor::from_vec(g.clone(), g.len(), &dev).unwrap();
    let b = boundary_loss(&uflat, &st, &gt)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    // Weights are f32: exact up to ~1e-7 relative.
    assert!(b < 1e-12, "boundary misfit² = {b}");
    // The tensor and host paths agree, and a quadratic is interpolated to O(h²).
    let q = field(&|x, y| x * x + y);
    let host = st.apply_host(&q);
    let dev_vals = st
        .apply(&Tensor::from_vec(q.clone(), n * n, &dev).unwrap())
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for ((a, c), k) in host.iter().zip(&dev_vals).zip(0..) {
        assert!((a - c).abs() < 1e-6);
        let p = inst.boundary_point(0.1257 * k as f64);
        assert!((a - (p[0] * p[0] + p[1])).abs() <= 0.25 * h * h + 1e-6);
    }
}

#[test]
fn held_out_truth_is_cached_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(LossKind::Wos);
    let a = held_out(&cfg, Some(dir.path()), &|_, _| {}).unwrap();
    assert!(!a.cached);
    assert!(dir.path().join(TRUTH_FILE).is_file());
    let b = held_out(&cfg, Some(dir.path()), &|_, _| {}).unwrap();
    assert!(b.cached);
    assert_eq!(a.truth.len(), b.truth.len());
    for (x, y) in a.truth.iter().zip(&b.truth) {
        assert!(x == y || (x.is_nan() && y.is_nan()));
    }
    // Truth only inside, with finite standard errors; relative standard errors are small.
    let p = a.grid.len();
    for k in 0..a.instances.len() {
        for q in 0..p {
            assert_eq!(a.features[k].inside[q], a.truth[k * p + q].is_finite());
        }
    }
    assert!(a.relative_stderrs().iter().all(|&r| r > 0.0 && r < 0.5));
    // Other test settings: recomputed, not reused.
    let mut other = cfg.clone();
    other.test.walks = 64;
    let c = held_out(&other, Some(dir.path()), &|_, _| {}).unwrap();
    assert!(!c.cached);
}

#[test]
fn control_variate_truth_agrees_with_plain_wos_at_a_fraction_of_its_error() {
    let mut cfg = tiny_config(LossKind::Wos);
    cfg.test.instances = 4;
    cfg.test.walks = 256;
    let with = held_out(&cfg, None, &|_, _| {}).unwrap();
    cfg.test.control_variate = false;
    let plain = held_out(&cfg, None, &|_, _| {}).unwrap();
    // Pooled over all inside nodes: the difference is the plain estimate's noise.
    let (mut z2, mut count) = (0.0, 0);
    for ((a, b), (sa, sb)) in with
        .truth
        .iter()
        .zip(&plain.truth)
        .zip(with.stderr.iter().zip(&plain.stderr))
    {
        let var = sa * sa + sb * sb;
        if a.is_finite() && var > 0.0 {
            z2 += (a - b) * (a - b) / var;
            count += 1;
        }
    }
    let rms_z = (z2 / count as f64).sqrt();
    assert!(
        count > 300 && (0.8..1.25).contains(&rms_z),
        "rms z {rms_z} over {count}"
    );
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (rw, rp) = (
        mean(with.relative_stderrs()),
        mean(plain.relative_stderrs()),
    );
    // Measured: 3.9e-5 against 1.9e-2.
    assert!(
        rw < rp / 100.0,
        "relative standard error {rw} with, {rp} without"
    );
}

#[test]
fn tiny_training_runs_reduce_the_held_out_error() {
    for (loss, relative) in [
        (LossKind::Wos, false),
        (LossKind::Wos, true),
        (LossKind::Physics, false),
        (LossKind::Reference, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = tiny_config(loss);
        cfg.train.relative = relative;
        let opts = RunOptions {
            run_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let run = train_wosno(&cfg, &opts, &|_, _| {}).unwrap();
        let s = &run.summary;
        assert_eq!(s.steps, 60);
        assert!(
            s.test_rel_l2 < 0.7 * s.initial_test_rel_l2,
            "{loss:?}: {} → {}",
            s.initial_test_rel_l2,
            s.test_rel_l2
        );
        assert!(dir.path().join("metrics.csv").is_file());
        assert!(dir.path().join("checkpoint.safetensors").is_file());
        if loss == LossKind::Wos {
            assert!(s.mean_walk_steps > 1.0 && s.mean_walk_steps <= 25.0);
        }
    }
}

#[test]
fn config_errors_name_the_key() {
    let check = |f: &dyn Fn(&mut WosNoConfig), key: &str| {
        let mut c = tiny_config(LossKind::Wos);
        f(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    };
    check(&|c| c.task = "operator".into(), "task");
    check(&|c| c.grid.half_width = 1.2, "grid.half_width");
    check(&|c| c.model.modes = 9, "model.modes");
    check(&|c| c.train.walks = 0, "train.walks");
    check(&|c| c.train.epsilon = f64::NAN, "train.epsilon");
    check(&|c| c.train.boundary_weight = -1.0, "train.boundary_weight");
    check(&|c| c.test.instances = 0, "test.instances");
    assert!(tiny_config(LossKind::Physics).validate().is_ok());
}

/// Data-parallel WoS-NO (`mpirun -np N nabla train` with `task = "wosno"`), on ranks as
/// threads: every rank draws the same instances and evaluates its block, so the loss curve of
/// 2 and 3 ranks follows one process's to 1e-5 for the WoS, physics (grid operator) and
/// point-operator losses, and the held-out truth computed in blocks equals one process's bits.
#[test]
fn data_parallel_training_follows_the_one_process_curve() {
    use nabla_core::comm::{Communicator, LocalComm};
    use nabla_operator::wosno::config::OperatorKind;
    for (loss, kind) in [
        (LossKind::Wos, OperatorKind::default()),
        (LossKind::Physics, OperatorKind::default()),
        (LossKind::Physics, OperatorKind::Gino),
    ] {
        let mut cfg = tiny_config(loss);
        cfg.model.kind = kind;
        cfg.train.steps = 12;
        cfg.train.log_every = 1;
        cfg.train.batch_size = 5;
        cfg.test.instances = 5;
        let curve = |comm: Option<&dyn Communicator>| {
            let opts = RunOptions {
                comm,
                ..Default::default()
            };
            let run = train_wosno(&cfg, &opts, &|_, _| {}).unwrap();
            let losses: Vec<f64> = run.report.losses.iter().map(|(_, l)| *l).collect();
            (losses, run.held_out.truth.clone(), run.summary.test_rel_l2)
        };
        let (serial, truth, err) = curve(None);
        assert_eq!(serial.len(), 12);
        for ranks in [2, 3] {
            let runs = LocalComm::run(ranks, |c| curve(Some(c)));
            for (r, (losses, t, e)) in runs.iter().enumerate() {
                for (a, b) in losses.iter().zip(&serial) {
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs(),
                        "{loss:?} {kind:?}, {ranks} ranks (rank {r}): {a} vs {b}"
                    );
                }
                assert!(
                    t.iter()
                        .zip(&truth)
                        .all(|(p, q)| p.to_bits() == q.to_bits()),
                    "held-out truth differs on {ranks} ranks"
                );
                assert!((e - err).abs() <= 1e-4 * err, "{e} vs {err}");
            }
        }
    }
}
