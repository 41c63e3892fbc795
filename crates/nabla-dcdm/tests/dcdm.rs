//! DCDM: the loss, the in-graph operator, the training set, the iteration on a trained tiny
//! model, and bad model files.

mod common;
use candle_core::{DType, Device, Tensor};
use common::tiny_config;
use nabla_dcdm::data::{generate, load_or_generate, DataConfig, MaskKind};
use nabla_dcdm::stencil::{apply_poisson, dcdm_loss};
use nabla_dcdm::{train_dcdm, Dcdm, DcdmError, DcdmModel};
use nabla_nn::{Model, RunOptions, UNetConfig};
use nabla_sparse::{GridPoisson, LinearOperator, RhsKind, SolveOptions, Solver};
use rand::{Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn box_mask(nx: usize, ny: usize) -> Vec<bool> {
    (0..nx * ny)
        .map(|p| {
            let (i, j) = (p % nx, p / nx);
            (3..6).contains(&i) && (2..7).contains(&j)
        })
        .collect()
}

#[test]
fn loss_is_invariant_to_scaling_q() {
    let (nx, ny) = (12, 9);
    let dev = Device::Cpu;
    let b = Tensor::from_vec(random(2 * nx * ny, 1), (2, 1, ny, nx), &dev).unwrap();
    let q = Tensor::from_vec(random(2 * nx * ny, 2), (2, 1, ny, nx), &dev).unwrap();
    let fluid: Vec<f64> = box_mask(nx, ny).iter().map(|&s| f64::from(!s)).collect();
    let fluid = Tensor::from_vec(fluid, (1, 1, ny, nx), &dev).unwrap();
    for f in [None, Some(&fluid)] {
        let base = dcdm_loss(&q, &b, f).unwrap().to_scalar::<f64>().unwrap();
        assert!(base > 0.0);
        for c in [3.7, -0.01, 1e4] {
            let l = dcdm_loss(&(&q * c).unwrap(), &b, f)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert!((l - base).abs() <= 1e-12 * base.max(1.0), "{l} vs {base}");
        }
    }
    // q = A⁻¹b (up to scale) gives zero loss: solve on the plain grid with CG.
    let g = GridPoisson::new(format!("{nx}x{ny}").parse().unwrap());
    let a = g.matrix();
    let bv = random(nx * ny, 5);
    let mut x = vec![0.0; nx * ny];
    nabla_sparse::Cg::new(&a)
        .solve(
            &bv,
            &mut x,
            &SolveOptions {
                tol: 1e-13,
                record_history: true,
                ..Default::default()
            },
        )
        .unwrap();
    let bt = Tensor::from_vec(bv, (1, 1, ny, nx), &dev).unwrap();
    let xt = Tensor::from_vec(x, (1, 1, ny, nx), &dev).unwrap();
    let l = dcdm_loss(&(xt * 5.0).unwrap(), &bt, None)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(l < 1e-20, "{l}");
}

#[test]
fn operator_in_the_graph_matches_the_assembled_matrix() {
    let dev = Device::Cpu;
    let (nx, ny) = (10, 7);
    let mask = box_mask(nx, ny);
    for masked in [false, true] {
        let mut g = GridPoisson::new(format!("{nx}x{ny}").parse().unwrap());
        if masked {
            g = g.with_mask(mask.clone()).unwrap();
        }
        let a = g.matrix();
        let u = random(a.dim(), 9);
        let mut au = vec![0.0; a.dim()];
        a.apply(&u, &mut au);
        let ug = Tensor::from_vec(g.to_grid(&u), (1, 1, ny, nx), &dev).unwrap();
        let fluid: Vec<f64> = mask.iter().map(|&s| f64::from(!s)).collect();
        let fluid = Tensor::from_vec(fluid, (1, 1, ny, nx), &dev).unwrap();
        let out = apply_poisson(&ug, masked.then_some(&fluid))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let want = g.to_grid(&au);
        for (p, (o, w)) in out.iter().zip(&want).enumerate() {
            assert!(
                (o - w).abs() < 1e-12,
                "masked {masked}, cell {p}: {o} vs {w}"
            );
        }
    }
    // 3-D: the 7-point operator.
    let g = GridPoisson::new("5x4x3".parse().unwrap());
    let a = g.matrix();
    let u = random(60, 4);
    let mut au = vec![0.0; 60];
    a.apply(&u, &mut au);
    let out = apply_poisson(&Tensor::from_vec(u, (1, 1, 3, 4, 5), &dev).unwrap(), None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for (o, w) in out.iter().zip(&au) {
        assert!((o - w).abs() < 1e-12);
    }
}

fn tiny_data(dir: &std::path::Path, masks: MaskKind, count: usize) -> DataConfig {
    DataConfig {
        file: dir.join("set.h5"),
        lanczos_steps: 40,
        samples: 24,
        low_fraction: 0.5,
        low_weight: 9.0,
        masks,
        mask_count: count,
        seed: 3,
    }
}

#[test]
fn training_set_is_normalized_masked_cached_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let grid: nabla_core::GridShape = "16x12".parse().unwrap();
    let cfg = tiny_data(dir.path(), MaskKind::Boxes, 3);
    let (data, stats) = load_or_generate(&cfg, &grid).unwrap();
    assert!(!stats.cached);
    assert_eq!(data.sides, vec![12, 16]);
    assert_eq!((data.n, data.mask_count(), data.ritz_per_mask), (24, 3, 40));
    for s in 0..data.n {
        let b = &data.b[s * 192..(s + 1) * 192];
        let m = data.mask_index[s] as usize;
        let mask = &data.masks[m * 192..(m + 1) * 192];
        let nrm: f64 = b.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        assert!((nrm - 1.0).abs() < 1e-5, "sample {s}: norm {nrm}");
        assert!(b
            .iter()
            .zip(mask)
            .all(|(v, &solid)| solid == 0 || *v == 0.0));
    }
    // Ritz values ascending, inside the spectrum (0, 8).
    let r = &data.ritz_values[..40];
    assert!(r.windows(2).all(|w| w[0] <= w[1]) && r[0] > 0.0 && r[39] < 8.0);
    // The same config reads the file back; another one is refused with the key named.
    let (again, stats) = load_or_generate(&cfg, &grid).unwrap();
    assert!(stats.cached);
    assert_eq!(again, data);
    let other = DataConfig {
        lanczos_steps: 30,
        ..cfg.clone()
    };
    let e = load_or_generate(&other, &grid).unwrap_err().to_string();
    assert!(
        e.contains("lanczos_steps") && e.contains("data.file"),
        "{e}"
    );
    // Deterministic in the seed.
    let (fresh, _) = generate(&cfg, &grid).unwrap();
    assert_eq!(fresh.b, data.b);
}

/// ‖b − A x‖ / ‖b‖ with the 5-point stencil written out here, sharing no code with the solver.
fn relres_16(x: &[f64], b: &[f64]) -> f64 {
    let n = 16isize;
    let at = |i: isize, j: isize| {
        if i < 0 || j < 0 || i >= n || j >= n {
            0.0
        } else {
            x[(i + n * j) as usize]
        }
    };
    let (mut rr, mut bb) = (0.0, 0.0);
    for j in 0..n {
        for i in 0..n {
            let ax = 4.0 * at(i, j) - at(i - 1, j) - at(i + 1, j) - at(i, j - 1) - at(i, j + 1);
            let p = (i + n * j) as usize;
            rr += (b[p] - ax).powi(2);
            bb += b[p] * b[p];
        }
    }
    (rr / bb).sqrt()
}

#[test]
fn trained_tiny_model_converges_monotonically_in_the_a_norm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run_dir = dir.path().join("run");
    let run = train_dcdm(
        &cfg,
        &RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let s = &run.summary;
    assert!(s.dcdm_converged);
    assert!(s.final_loss.is_finite() && s.steps == 150);

    // The checkpoint alone rebuilds the model.
    let model = DcdmModel::load_cpu(&run_dir.join("checkpoint.safetensors")).unwrap();
    assert_eq!(model.params().num_trainable(), s.parameters);

    let grid = GridPoisson::new("16x16".parse().unwrap());
    let a = grid.matrix();
    let b = grid.rhs(RhsKind::Random, 11);
    let mut xstar = vec![0.0; 256];
    nabla_sparse::Cg::new(&a)
        .solve(
            &b,
            &mut xstar,
            &SolveOptions {
                tol: 1e-14,
                record_history: true,
                ..Default::default()
            },
        )
        .unwrap();
    let a_norm_err = |x: &[f64]| -> f64 {
        let e: Vec<f64> = x.iter().zip(&xstar).map(|(p, q)| p - q).collect();
        let mut ae = vec![0.0; 256];
        a.apply(&e, &mut ae);
        e.iter().zip(&ae).map(|(p, q)| p * q).sum::<f64>().sqrt()
    };
    // Step by step (max_iters = k from a fresh start replays the same iterates).
    let mut errs = Vec::new();
    let opts = |k: usize| SolveOptions {
        tol: 1e-8,
        max_iters: k,
        record_history: true,
        monitor: None,
    };
    for k in 0..12 {
        let mut x = vec![0.0; 256];
        let mut solver = Dcdm::new(&model, &a, &grid, 2).unwrap();
        solver.solve(&b, &mut x, &opts(k)).unwrap();
        errs.push(a_norm_err(&x));
    }
    for w in errs.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-12), "A-norm error rose: {errs:?}");
    }
    assert!(errs[11] < 0.1 * errs[0], "{errs:?}");

    let mut x = vec![0.0; 256];
    let mut solver = Dcdm::new(&model, &a, &grid, 2).unwrap();
    let report = solver.solve(&b, &mut x, &opts(500)).unwrap();
    assert!(report.converged);
    let independent = relres_16(&x, &b);
    assert!(independent <= 1e-8, "{independent}");
    assert!((independent - report.relative_residual).abs() <= 1e-12);
    assert!(solver.network_seconds() > 0.0 && solver.network_seconds() <= report.solve_seconds);
}

#[test]
fn bad_model_files_and_mismatches_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = DcdmModel::load_cpu(&dir.path().join("none.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("file not found"), "{missing}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a safetensors file at all").unwrap();
    let e = DcdmModel::load_cpu(&junk).err().unwrap().to_string();
    assert!(e.contains("not a readable safetensors"), "{e}");
    // A safetensors file without the architecture.
    let other = dir.path().join("other.safetensors");
    let mut ps = nabla_nn::ParamStore::new();
    ps.add("w", &Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    ps.save(&other).unwrap();
    let e = DcdmModel::load_cpu(&other).err().unwrap().to_string();
    assert!(e.contains("not a DCDM model"), "{e}");
    for msg in [&missing, &e] {
        assert_eq!(msg.lines().count(), 1);
    }
    // A 2-D model on a 3-D grid.
    let model = DcdmModel::new(
        &UNetConfig {
            channels: 2,
            ..Default::default()
        },
        &[8, 8],
        &Device::Cpu,
    )
    .unwrap();
    let g3 = GridPoisson::new("4x4x4".parse().unwrap());
    let a3 = g3.matrix();
    let err = Dcdm::new(&model, &a3, &g3, 2).err().unwrap();
    assert!(matches!(err, DcdmError::Mismatch(_)));
    assert!(err.to_string().contains("2-D"), "{err}");
}

/// Data-parallel DCDM training (`mpirun -np N nabla train` with `task = "dcdm"`), on ranks as
/// threads: rank 0 makes the training set and sends it, every rank evaluates its block of each
/// minibatch, and the loss curve of 2 and 3 ranks follows one process's to 1e-5.
#[test]
fn data_parallel_training_follows_the_one_process_curve() {
    use nabla_core::comm::{Communicator, LocalComm};
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.train.steps = 12;
    cfg.train.log_every = 1;
    cfg.train.batch_size = 5;
    // The loss column of the run's metrics.csv (rank 0 writes it) and the final loss.
    let curve = |comm: Option<&dyn Communicator>, tag: &str| -> (Vec<f64>, f64) {
        let run_dir = dir.path().join(tag);
        let opts = nabla_nn::RunOptions {
            comm,
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        };
        let run = nabla_dcdm::train_dcdm(&cfg, &opts).unwrap();
        if comm.is_some_and(|c| c.size() > 1) {
            // Every rank has finished writing before rank 0's file is read.
            comm.unwrap().barrier();
        }
        let losses = std::fs::read_to_string(run_dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
            .collect();
        (losses, run.summary.final_loss)
    };
    let (serial, last) = curve(None, "serial");
    assert_eq!(serial.len(), 12);
    // The set is cached now; remove it so rank 0 generates (and sends) it again.
    std::fs::remove_file(dir.path().join("set.h5")).unwrap();
    for ranks in [2, 3] {
        let tag = format!("ranks{ranks}");
        let runs = LocalComm::run(ranks, |c| curve(Some(c), &tag));
        for (r, (losses, final_loss)) in runs.iter().enumerate() {
            for (a, b) in losses.iter().zip(&serial) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs(),
                    "{ranks} ranks (rank {r}): {a} vs {b}"
                );
            }
            assert!((final_loss - last).abs() <= 1e-5 * last.abs());
        }
    }
}
