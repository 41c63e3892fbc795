//! The device-resident DCDM iteration (`nabla_dcdm::device`), run on `Device::Cpu` (CI has no
//! GPU): its tensor operator against the host operators, and its solves against the host loop's
//! on plain, masked, variable-coefficient and 3-D grids.

mod common;
use candle_core::{Device, Tensor};
use common::tiny_config;
use nabla_dcdm::{train_dcdm, Dcdm, DcdmModel, GridTensorOperator, Placement};
use nabla_nn::{Precision, RunOptions, UNetConfig};
use nabla_sparse::solvers::stop::with_stop_flag;
use nabla_sparse::{GridPoisson, LinearOperator, RhsKind, SolveOptions, Solver};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// A blocky obstacle: every point whose coordinates sum into a band, plus a slab; never the
/// whole grid.
fn mask(dims: &[usize]) -> Vec<bool> {
    let n: usize = dims.iter().product();
    (0..n)
        .map(|p| {
            let i = p % dims[0];
            let j = (p / dims[0]) % dims[1];
            (dims[0] / 4..dims[0] / 2).contains(&i) && (dims[1] / 3..2 * dims[1] / 3).contains(&j)
        })
        .collect()
}

/// A smooth positive nodal coefficient varying over two orders of magnitude.
fn coefficient(dims: &[usize]) -> Vec<f64> {
    let ext: usize = dims.iter().map(|d| d + 2).product();
    (0..ext)
        .map(|e| 10f64.powf(((e as f64) * 0.37).sin() + 0.3 * ((e % 7) as f64 / 7.0)))
        .collect()
}

fn problem(sides: &str, masked: bool, variable: bool) -> GridPoisson {
    let shape: nabla_core::GridShape = sides.parse().unwrap();
    let dims = shape.dims().to_vec();
    let mut g = GridPoisson::new(shape);
    if variable {
        g = g.with_coefficient(&coefficient(&dims)).unwrap();
    }
    if masked {
        g = g.with_mask(mask(&dims)).unwrap();
    }
    g
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// max |a − b| / max |a|.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    max_abs(&d) / max_abs(a)
}

#[test]
fn tensor_operator_equals_the_host_operator() {
    let dev = Device::Cpu;
    for sides in ["17x11", "9x1", "5x4x3", "6x7x5"] {
        for masked in [false, true] {
            for variable in [false, true] {
                let g = problem(sides, masked, variable);
                let top = GridTensorOperator::new(&g, &dev).unwrap();
                let a = g.matrix();
                let n = g.unknowns();
                assert_eq!(top.unknowns(), n);
                let u = random(n, 7);
                let mut want = vec![0.0; n];
                a.apply(&u, &mut want);
                let got = top
                    .download(&top.apply(&top.upload(&u).unwrap()).unwrap())
                    .unwrap();
                let err = rel_diff(&want, &got);
                assert!(
                    err <= 1e-12,
                    "{sides} masked {masked} variable {variable}: {err:e}"
                );
                if let Some(s) = g.stencil() {
                    let mut ws = vec![0.0; n];
                    s.apply(&u, &mut ws);
                    assert!(rel_diff(&ws, &got) <= 1e-12, "{sides} stencil");
                }
                // Junk in solid cells is ignored and the product is 0 there; a batch of two
                // fields gives each its own product.
                let shape = top.shape().to_vec();
                let cells: usize = shape.iter().product();
                let junk = Tensor::from_vec(random(cells, 3), shape.as_slice(), &dev).unwrap();
                let field = match top.fluid() {
                    Some(f) => {
                        let solid = f.affine(-1.0, 1.0).unwrap();
                        (top.upload(&u).unwrap() + (junk * solid).unwrap()).unwrap()
                    }
                    None => top.upload(&u).unwrap(),
                };
                let batch = Tensor::cat(&[&field, &field.affine(2.0, 0.0).unwrap()], 0).unwrap();
                let out = top.apply(&batch).unwrap();
                let first = out.narrow(0, 0, 1).unwrap();
                let second = out.narrow(0, 1, 1).unwrap();
                assert!(rel_diff(&want, &top.download(&first).unwrap()) <= 1e-12);
                let twice: Vec<f64> = want.iter().map(|w| 2.0 * w).collect();
                assert!(rel_diff(&twice, &top.download(&second).unwrap()) <= 1e-12);
                if let Some(m) = g.mask() {
                    let full = first.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                    for (p, &solid) in m.iter().enumerate() {
                        if solid {
                            assert_eq!(full[p], 0.0, "{sides}: solid cell {p}");
                        }
                    }
                }
            }
        }
    }
    // Wrong shapes and lengths are errors, not panics.
    let g = problem("6x5", false, false);
    let top = GridTensorOperator::new(&g, &dev).unwrap();
    assert!(top.upload(&[1.0; 29]).is_err());
    let bad = Tensor::zeros((1, 1, 6, 5), candle_core::DType::F64, &dev).unwrap();
    assert!(top.apply(&bad).is_err());
    assert!(top.download(&bad).is_err());
    let f32s = Tensor::zeros((1, 1, 5, 6), candle_core::DType::F32, &dev).unwrap();
    assert!(top.apply(&f32s).is_err());
}

/// One solve with each placement from x = 0.
struct Pair {
    host_iters: usize,
    device_iters: usize,
    host_fallbacks: usize,
    device_fallbacks: usize,
    /// max |x_host − x_device| / max |x_host|.
    solution_diff: f64,
    device_relres: f64,
}

fn host_and_device(model: &DcdmModel, g: &GridPoisson, directions: usize, tol: f64) -> Pair {
    let a = g.matrix();
    let b = g.rhs(RhsKind::Random, 11);
    let opts = SolveOptions {
        tol,
        max_iters: 2000,
        record_history: true,
        monitor: None,
    };
    let mut xh = vec![0.0; b.len()];
    let mut host = Dcdm::new(model, &a, g, directions)
        .unwrap()
        .with_placement(Placement::Host);
    let rh = host.solve(&b, &mut xh, &opts).unwrap();
    assert!(!host.ran_on_device());
    let mut xd = vec![0.0; b.len()];
    let mut device = Dcdm::new(model, &a, g, directions)
        .unwrap()
        .with_placement(Placement::Device);
    let monitored = AtomicUsize::new(0);
    let monitor = |_: usize, _: f64| {
        monitored.fetch_add(1, Ordering::Relaxed);
    };
    let rd = device
        .solve(
            &b,
            &mut xd,
            &SolveOptions {
                monitor: Some(&monitor),
                ..opts
            },
        )
        .unwrap();
    assert!(device.ran_on_device());
    assert!(rh.converged && rd.converged, "{g:?}");
    assert!(rd.relative_residual <= tol);
    // The report's residual is the host operator's on the downloaded x.
    assert_eq!(
        rd.relative_residual,
        nabla_sparse::relative_residual(&a, &b, &xd)
    );
    // History and monitor: one entry per iteration (plus the start), the last one the device's
    // own ‖r‖/‖b‖, which agrees with the host's recomputation to rounding.
    assert_eq!(rd.residual_history.len(), rd.iterations + 1);
    assert_eq!(monitored.load(Ordering::Relaxed), rd.iterations);
    let last = rd.residual_history[rd.iterations];
    assert!((last - rd.relative_residual).abs() <= 1e-6 * rd.relative_residual);
    assert!(device.network_seconds() > 0.0 && device.network_seconds() <= rd.solve_seconds);
    Pair {
        host_iters: rh.iterations,
        device_iters: rd.iterations,
        host_fallbacks: host.fallback_steps(),
        device_fallbacks: device.fallback_steps(),
        solution_diff: rel_diff(&xh, &xd),
        device_relres: rd.relative_residual,
    }
}

fn check_pair(what: &str, p: &Pair) {
    eprintln!(
        "{what}: iterations host {} device {}, fallbacks host {} device {}, solution diff {:.2e}, \
         device relres {:.2e}",
        p.host_iters,
        p.device_iters,
        p.host_fallbacks,
        p.device_fallbacks,
        p.solution_diff,
        p.device_relres
    );
    assert!(
        p.host_iters.abs_diff(p.device_iters) <= 1,
        "{what}: {} vs {} iterations",
        p.host_iters,
        p.device_iters
    );
    assert!(p.solution_diff <= 1e-8, "{what}: {:e}", p.solution_diff);
    assert!(p.host_fallbacks.abs_diff(p.device_fallbacks) <= 1, "{what}");
}

#[test]
fn device_iteration_matches_the_host_loop_with_a_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    train_dcdm(
        &tiny_config(dir.path()),
        &RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let model = DcdmModel::load_cpu(&run_dir.join("checkpoint.safetensors")).unwrap();
    let tol = 1e-10;
    let plain = host_and_device(&model, &problem("16x16", false, false), 16, tol);
    check_pair("trained 16x16 plain", &plain);
    check_pair(
        "trained 16x16 masked",
        &host_and_device(&model, &problem("16x16", true, false), 16, tol),
    );
    check_pair(
        "trained 16x16 variable",
        &host_and_device(&model, &problem("16x16", false, true), 16, tol),
    );
    check_pair(
        "trained 32x32 masked+variable, 2 directions",
        &host_and_device(&model, &problem("32x32", true, true), 2, 1e-8),
    );
}

#[test]
fn device_iteration_matches_the_host_loop_with_random_models_f64_and_3d() {
    let dev = Device::Cpu;
    let f64_2d = DcdmModel::new(
        &UNetConfig {
            channels: 4,
            precision: Precision::F64,
            ..Default::default()
        },
        &[32, 32],
        &dev,
    )
    .unwrap();
    check_pair(
        "random f64 32x32 masked",
        &host_and_device(&f64_2d, &problem("32x32", true, false), 16, 1e-10),
    );
    let f32_3d = DcdmModel::new(
        &UNetConfig {
            dim: 3,
            channels: 2,
            levels: 2,
            ..Default::default()
        },
        &[8, 8, 8],
        &dev,
    )
    .unwrap();
    check_pair(
        "random f32 8x8x8 masked+variable",
        &host_and_device(&f32_3d, &problem("8x8x8", true, true), 16, 1e-10),
    );
}

#[test]
fn placement_auto_stop_flag_and_a_foreign_operator() {
    let dev = Device::Cpu;
    let model = DcdmModel::new(
        &UNetConfig {
            channels: 4,
            ..Default::default()
        },
        &[16, 16],
        &dev,
    )
    .unwrap();
    let g = problem("16x16", false, false);
    let a = g.matrix();
    let b = g.rhs(RhsKind::Random, 2);
    // Auto on the CPU keeps the host loop.
    let mut x = vec![0.0; 256];
    let mut auto = Dcdm::new(&model, &a, &g, 4).unwrap();
    assert!(
        auto.solve(&b, &mut x, &SolveOptions::default())
            .unwrap()
            .converged
    );
    assert!(!auto.ran_on_device());

    // A raised stop flag ends the device loop after the iteration in progress; x holds that
    // iterate (downloaded), as in the host loop.
    let stop = Arc::new(AtomicBool::new(false));
    let raise = |it: usize, _: f64| {
        if it == 3 {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let opts = SolveOptions {
        monitor: Some(&raise),
        ..Default::default()
    };
    let mut xs = vec![0.0; 256];
    let mut dev_solver = Dcdm::new(&model, &a, &g, 4)
        .unwrap()
        .with_placement(Placement::Device);
    let r = with_stop_flag(stop.clone(), || dev_solver.solve(&b, &mut xs, &opts)).unwrap();
    assert_eq!(r.iterations, 3);
    assert!(!r.converged && r.relative_residual < 1.0);
    let mut x3 = vec![0.0; 256];
    let r3 = Dcdm::new(&model, &a, &g, 4)
        .unwrap()
        .with_placement(Placement::Host)
        .solve(
            &b,
            &mut x3,
            &SolveOptions {
                max_iters: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(rel_diff(&x3, &xs) <= 1e-8, "{:e}", rel_diff(&x3, &xs));
    assert!((r3.relative_residual - r.relative_residual).abs() <= 1e-8);

    // A zero right-hand side from x = 0: nothing to do, and x stays 0.
    let mut z = vec![0.0; 256];
    let rz = dev_solver.solve(&[0.0; 256], &mut z, &opts).unwrap();
    assert_eq!((rz.iterations, rz.converged), (0, true));
    assert!(z.iter().all(|&v| v == 0.0));

    // An operator of the right size that is not the grid's: the device placement refuses it
    // with a one-line error, Auto would fall back to the host loop.
    let other = problem("16x16", false, true).matrix();
    let mut foreign = Dcdm::new(&model, &other, &g, 4)
        .unwrap()
        .with_placement(Placement::Device);
    let mut y = vec![0.0; 256];
    let e = foreign
        .solve(&b, &mut y, &SolveOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("grid's own operator"), "{e}");
    assert_eq!(e.lines().count(), 1);
    assert!(y.iter().all(|&v| v == 0.0));
}

#[test]
fn a_zero_network_falls_back_to_the_residual_every_step_like_cg() {
    // All weights 0: the network returns q = 0, so qᵀAq = 0 and every step takes the residual
    // direction, A-orthogonalized against the previous ones: conjugate gradients.
    let model = DcdmModel::new(
        &UNetConfig {
            channels: 4,
            ..Default::default()
        },
        &[16, 16],
        &Device::Cpu,
    )
    .unwrap();
    let params = nabla_nn::Model::params(&model);
    params.set_flat(&vec![0.0; params.num_trainable()]).unwrap();
    let g = problem("16x16", true, false);
    let p = host_and_device(&model, &g, 16, 1e-10);
    check_pair("zero net 16x16 masked", &p);
    assert_eq!(p.device_fallbacks, p.device_iters);
    assert_eq!(p.host_fallbacks, p.host_iters);
    let a = g.matrix();
    let b = g.rhs(RhsKind::Random, 11);
    let mut x = vec![0.0; b.len()];
    let cg = nabla_sparse::Cg::new(&a)
        .solve(
            &b,
            &mut x,
            &SolveOptions {
                tol: 1e-10,
                ..Default::default()
            },
        )
        .unwrap();
    eprintln!("CG: {} iterations", cg.iterations);
    assert!(
        p.device_iters.abs_diff(cg.iterations) <= 2,
        "{} vs CG's {}",
        p.device_iters,
        cg.iterations
    );
}
