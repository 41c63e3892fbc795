//! The autoregressive 2-D series task (`layout = "series-2d"`) on a problem with a known
//! answer: the heat equation u_t = νΔu on the periodic unit square, whose one-step map
//! u(t + Δt) = e^{νΔtΔ} u(t) is a Fourier multiplier an FNO represents. Trajectories of
//! random band-limited initial data are written in the 2-D series layout
//! (`nabla_data::write_series_2d`) and read back through the loader; the model reads
//! `input_frames` frames and rolls `output_frames` steps forward on its own predictions.

use nabla_data::{read_series_2d, write_series_2d, Series2dData};
use nabla_nn::RunOptions;
use nabla_operator::config::{DataConfig, Layout, ModelConfig, OperatorTrainConfig};
use nabla_operator::{train_operator, Operator, OperatorConfig, OperatorModel};
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;
use std::path::Path;

/// Grid points per axis.
const S: usize = 16;
/// Frames per trajectory in the file.
const NT: usize = 8;
/// Input frames and rollout steps of the runs.
const T_IN: usize = 3;
const T_OUT: usize = 4;
/// Highest wave number per axis of the initial data.
const K: i32 = 3;
/// ν·4π²·Δt: a mode of wave vector k decays by e^{−RATE·|k|²} per frame.
const RATE: f64 = 0.03;

/// `n` heat-equation trajectories of `NT` frames (t = Δt, 2Δt, …) on the `S × S` grid of the
/// unit torus, from zero-mean initial data with random Fourier coefficients ~ 1/(1 + |k|).
fn heat_series(n: usize, seed: u64) -> Series2dData {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    // cos/sin(2π k x_i) for k = 0..=K.
    let table = |f: fn(f64) -> f64| -> Vec<Vec<f64>> {
        (0..=K)
            .map(|k| {
                (0..S)
                    .map(|i| f(2.0 * PI * k as f64 * i as f64 / S as f64))
                    .collect()
            })
            .collect()
    };
    let (c, s) = (table(f64::cos), table(f64::sin));
    let mut tensor = Vec::with_capacity(n * NT * S * S);
    for _ in 0..n {
        // Modes (kx, ky) with kx ≥ 0 (half plane; ky < 0 only for kx > 0), not (0, 0):
        // u = Σ a cos(2π(kx x + ky y)) + b sin(2π(kx x + ky y)).
        let mut modes = Vec::new();
        for kx in 0..=K {
            for ky in -K..=K {
                if (kx == 0 && ky <= 0) || kx * kx + ky * ky > K * K + 1 {
                    continue;
                }
                let amp = 1.0 / (1.0 + ((kx * kx + ky * ky) as f64).sqrt());
                modes.push((
                    kx,
                    ky,
                    amp * rng.gen_range(-1.0..1.0),
                    amp * rng.gen_range(-1.0..1.0),
                ));
            }
        }
        for m in 1..=NT {
            for i in 0..S {
                for j in 0..S {
                    let mut v = 0.0;
                    for &(kx, ky, a, b) in &modes {
                        let decay = (-RATE * (kx * kx + ky * ky) as f64 * m as f64).exp();
                        let (ax, ay) = (kx as usize, ky.unsigned_abs() as usize);
                        let sy = if ky < 0 { -s[ay][j] } else { s[ay][j] };
                        // cos(α + β), sin(α + β) with α = 2π kx x_i, β = 2π ky y_j.
                        let cos = c[ax][i] * c[ay][j] - s[ax][i] * sy;
                        let sin = s[ax][i] * c[ay][j] + c[ax][i] * sy;
                        v += decay * (a * cos + b * sin);
                    }
                    tensor.push(v as f32);
                }
            }
        }
    }
    let coords: Vec<f32> = (0..S).map(|i| i as f32 / S as f32).collect();
    Series2dData {
        n,
        nt: NT,
        nx: S,
        ny: S,
        tensor,
        x: coords.clone(),
        y: coords,
        t: (1..=NT + 1).map(|m| m as f32 * 0.5).collect(),
        nu: Some(1e-3),
    }
}

fn fno() -> ModelConfig {
    ModelConfig::Fno {
        modes: vec![5],
        width: 16,
        layers: 2,
        projection: 32,
        padding: 0.0,
        grid_channels: true,
        precision: Default::default(),
        seed: None,
    }
}

/// The test LSM, zero-padded or periodic (the heat data lives on the unit torus), with or
/// without the input-to-output linear path.
fn lsm_with(periodic: bool, linear_skip: bool) -> ModelConfig {
    ModelConfig::Lsm {
        width: 16,
        scales: 3,
        latent_tokens: 4,
        basis: 8,
        patch: 2,
        heads: 4,
        padding: 0.0,
        projection: 32,
        periodic,
        linear_skip,
        precision: Default::default(),
        seed: None,
    }
}

fn config(
    file: &Path,
    model: ModelConfig,
    train: usize,
    test: usize,
    epochs: usize,
) -> OperatorConfig {
    OperatorConfig {
        task: "operator".into(),
        device: "cpu".into(),
        data: DataConfig {
            file: file.to_path_buf(),
            layout: Layout::Series2d,
            train,
            test,
            subsample: 1,
            input_step: 0,
            target_step: -1,
            input_frames: T_IN,
            output_frames: T_OUT,
        },
        model,
        train: OperatorTrainConfig {
            seed: 0,
            epochs,
            batch_size: 20,
            lr: 5e-3,
            weight_decay: 0.0,
            schedule: nabla_nn::optim::LrSchedule::Cosine { min_lr: 0.0 },
            log_every_epochs: 5,
            checkpoint_every_epochs: 5,
            progress: false,
        },
    }
}

/// Mean over samples of the relative L2 error of predicting each step by the frame before
/// it (persistence): the baseline a model must beat.
fn persistence_error(d: &Series2dData, samples: std::ops::Range<usize>) -> f64 {
    let block = S * S;
    let mut total = 0.0;
    for k in samples.clone() {
        let frame = |m: usize| &d.tensor[(k * NT + m) * block..(k * NT + m + 1) * block];
        let (mut num, mut den) = (0.0, 0.0);
        for t in 0..T_OUT {
            for (&p, &y) in frame(T_IN + t - 1).iter().zip(frame(T_IN + t)) {
                num += (p as f64 - y as f64).powi(2);
                den += (y as f64).powi(2);
            }
        }
        total += (num / den).sqrt();
    }
    total / samples.len() as f64
}

#[test]
fn fno_learns_the_heat_step_rolls_out_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heat.h5");
    let data = heat_series(200, 3);
    write_series_2d(&file, &data, &[]).unwrap();
    let cfg = config(&file, fno(), 160, 40, 20);
    let run_dir = dir.path().join("run");
    let options = RunOptions {
        run_dir: Some(run_dir.clone()),
        ..Default::default()
    };
    let run = train_operator(&cfg, &options).unwrap();
    let s = &run.summary;
    let baseline = persistence_error(&data, 160..200);
    let per_step = s.test_rel_l2_per_step.clone().unwrap();
    eprintln!(
        "series-2d FNO: test rollout {:.4}, train {:.4}, per step {per_step:?}, persistence {baseline:.4}, {:.1} s",
        s.test_rel_l2, s.train_rel_l2, s.seconds
    );
    assert_eq!(s.iterations, 20 * 8);
    assert_eq!(per_step.len(), T_OUT);
    // Measured: 0.0081 (train 0.0078) against 0.102 for persistence; per step 0.0081, 0.0063,
    // 0.0068, 0.0108.
    assert!(
        s.test_rel_l2 < 0.02,
        "test rollout rel L2 {}",
        s.test_rel_l2
    );
    assert!(
        s.test_rel_l2 < 0.2 * baseline,
        "{} vs persistence {baseline}",
        s.test_rel_l2
    );
    assert!(
        s.train_rel_l2 < 0.02,
        "train rollout rel L2 {}",
        s.train_rel_l2
    );
    // Errors compound along the rollout, modestly; the whole rollout's error lies within the
    // range of its steps'.
    assert!(
        per_step.iter().all(|e| e.is_finite() && *e < 0.03),
        "{per_step:?}"
    );
    assert!(
        per_step[T_OUT - 1] < 3.0 * per_step[0] + 0.005,
        "{per_step:?}"
    );
    let (lo, hi) = per_step
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &e| (lo.min(e), hi.max(e)));
    assert!(
        s.test_rel_l2 >= 0.5 * lo && s.test_rel_l2 <= hi * 1.01,
        "{s:?}"
    );
    // summary.json and metrics.csv carry the per-step errors.
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(
        json["test_rel_l2_per_step"].as_array().unwrap().len(),
        T_OUT
    );
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let header = metrics.lines().next().unwrap();
    for t in 1..=T_OUT {
        assert!(
            header.contains(&format!("test_rel_l2_step_{t}")),
            "{header}"
        );
    }
    assert!(header.contains("test_rel_l2,"), "{header}");

    // Reloaded from the checkpoint alone (normaliser included), the rollout is the same.
    assert_eq!(run.test.input_channels, T_IN);
    assert_eq!(run.test.target_channels, T_OUT);
    let loaded = OperatorModel::load(&cfg, &run_dir.join("checkpoint.safetensors")).unwrap();
    let p = loaded
        .rollout(&run.test.input, run.test.n, &run.test.dims, T_OUT, 7)
        .unwrap();
    assert_eq!(p.len(), run.test_prediction.len());
    for (a, b) in p.iter().zip(&run.test_prediction) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // The self-described run directory: [batch, T_in, S, S] → [batch, T_out, S, S].
    let op = Operator::load(&run_dir).unwrap();
    assert_eq!(
        (op.kind(), op.layout(), op.input_frames()),
        ("fno", Layout::Series2d, T_IN)
    );
    let block = S * S;
    let frames: Vec<f64> = (160..200)
        .flat_map(|k| data.tensor[k * NT * block..(k * NT + T_IN) * block].iter())
        .map(|&v| v as f64)
        .collect();
    let input = ArrayD::from_shape_vec(IxDyn(&[40, T_IN, S, S]), frames).unwrap();
    let out = op.predict(input.view()).unwrap();
    assert_eq!(out.shape(), &[40, T_OUT, S, S]);
    for k in [0, 17, 39] {
        for t in 0..T_OUT {
            let want = nabla_operator::dataset::channel(&run.test_prediction, block, T_OUT, k, t);
            for (q, w) in want.iter().enumerate() {
                let got = out[[k, t, q / S, q % S]];
                assert!(
                    (got as f32 - w).abs() < 1e-5,
                    "sample {k} step {t}: {got} vs {w}"
                );
            }
        }
    }
    // A longer rollout continues the same trajectory.
    let long = op.rollout(input.view(), T_OUT + 2).unwrap();
    assert_eq!(long.shape(), &[40, T_OUT + 2, S, S]);
    assert!((long[[3, 1, 5, 7]] - out[[3, 1, 5, 7]]).abs() < 1e-6);

    // The file path: the test trajectories' rollouts written in the 2-D series layout, with
    // the errors against their true frames — those of the run.
    let test_file = dir.path().join("test.h5");
    let mut test_data = data.clone();
    test_data.n = 40;
    test_data.tensor = data.tensor[160 * NT * block..].to_vec();
    write_series_2d(&test_file, &test_data, &[]).unwrap();
    let pred_file = dir.path().join("pred.h5");
    let written = op.predict_file(&test_file, &pred_file).unwrap();
    assert_eq!(
        (written.samples, written.frames, written.dims.clone()),
        (40, T_OUT, vec![S, S])
    );
    let full = written.rel_l2.unwrap();
    assert!(
        (full - s.test_rel_l2).abs() < 1e-4,
        "{full} vs {}",
        s.test_rel_l2
    );
    for (a, b) in written.rel_l2_per_step.unwrap().iter().zip(&per_step) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let back = read_series_2d(&pred_file, None).unwrap();
    assert_eq!((back.n, back.nt, back.nx, back.ny), (40, T_OUT, S, S));
    assert_eq!(back.t, vec![2.0, 2.5, 3.0, 3.5, 4.0]);
    assert_eq!(back.nu, Some(1e-3));
    assert!(
        (f64::from(back.tensor[(3 * T_OUT + 1) * block + 5 * S + 7]) - out[[3, 1, 5, 7]]).abs()
            < 1e-6
    );
    assert!(dir.path().join("pred.xdmf").is_file());
    // Frames only up to the input: the rollout is written, with no errors to report.
    let short_file = dir.path().join("short.h5");
    let mut short = test_data.clone();
    short.nt = T_IN;
    short.tensor = (0..40)
        .flat_map(|k| test_data.tensor[k * NT * block..(k * NT + T_IN) * block].to_vec())
        .collect();
    short.t.truncate(T_IN + 1);
    write_series_2d(&short_file, &short, &[]).unwrap();
    let w = op
        .predict_file(&short_file, &dir.path().join("pred_short.h5"))
        .unwrap();
    assert_eq!((w.frames, w.rel_l2), (T_OUT, None));
    let back = read_series_2d(&dir.path().join("pred_short.h5"), None).unwrap();
    assert_eq!(back.t, vec![2.0, 2.5, 3.0, 3.5, 4.0]);
}

#[test]
fn resumed_rollout_training_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heat.h5");
    write_series_2d(&file, &heat_series(50, 4), &[]).unwrap();
    let run = |epochs: usize, run_dir: &Path, resume: bool| {
        let mut cfg = config(&file, fno(), 40, 10, epochs);
        // A constant rate: a cosine schedule spans the run's own length, so a 2-epoch run
        // resumed to 4 follows another schedule than a 4-epoch run.
        cfg.train.schedule = nabla_nn::optim::LrSchedule::Constant;
        cfg.train.log_every_epochs = 1;
        cfg.train.checkpoint_every_epochs = 1;
        train_operator(
            &cfg,
            &RunOptions {
                run_dir: Some(run_dir.to_path_buf()),
                resume,
                ..Default::default()
            },
        )
        .unwrap()
        .summary
    };
    let straight = run(4, &dir.path().join("a"), false);
    let b = dir.path().join("b");
    run(2, &b, false);
    let resumed = run(4, &b, true);
    assert_eq!(straight.test_rel_l2, resumed.test_rel_l2);
    assert_eq!(straight.test_rel_l2_per_step, resumed.test_rel_l2_per_step);
}

#[test]
fn bad_series_configs_are_one_line_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heat.h5");
    write_series_2d(&file, &heat_series(6, 5), &[]).unwrap();
    let fails = |edit: &dyn Fn(&mut OperatorConfig)| -> String {
        let mut cfg = config(&file, fno(), 4, 2, 1);
        edit(&mut cfg);
        let e = train_operator(&cfg, &RunOptions::default())
            .err()
            .expect("a config error")
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    };
    let e = fails(&|c| c.data.input_frames = 5);
    assert!(
        e.contains("data.input_frames/output_frames")
            && e.contains("5 + 4 = 9")
            && e.contains("8 frames"),
        "{e}"
    );
    let e = fails(&|c| c.data.input_frames = 0);
    assert!(e.contains("data.input_frames") && e.contains("≥ 1"), "{e}");
    let e = fails(&|c| c.data.output_frames = 0);
    assert!(e.contains("data.output_frames") && e.contains("≥ 1"), "{e}");
    let e = fails(&|c| {
        c.model = ModelConfig::Deeponet {
            branch_hidden: vec![16],
            branch_conv: vec![],
            trunk_hidden: vec![16],
            basis: 8,
            activation: nabla_nn::Activation::Gelu,
            precision: Default::default(),
            seed: None,
        }
    });
    assert!(e.contains("model.kind") && e.contains("series-2d"), "{e}");
    let e = fails(&|c| c.data.train = 10);
    assert!(e.contains("data.train/test"), "{e}");
    // A Darcy model has no rollout.
    let op_err = {
        let darcy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/runs/fno_v0.1");
        let op = Operator::load(darcy).unwrap();
        let x = ArrayD::<f64>::zeros(IxDyn(&[1, 1, 32, 32]));
        op.rollout(x.view(), 2).err().unwrap().to_string()
    };
    assert!(op_err.contains("series-2d"), "{op_err}");
}

#[test]
fn lsm_trains_on_series_2d_with_a_decreasing_loss() {
    // Zero-padded (the paper's), periodic (convolutions and upsampling wrap around), and
    // periodic with the linear input-to-output path (its weights saved and reloaded).
    for (periodic, linear_skip) in [(false, false), (true, false), (true, true)] {
        lsm_trains_and_reloads(periodic, linear_skip);
    }
}

fn lsm_trains_and_reloads(periodic: bool, linear_skip: bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("heat.h5");
    write_series_2d(&file, &heat_series(50, 6), &[]).unwrap();
    let mut cfg = config(&file, lsm_with(periodic, linear_skip), 40, 10, 4);
    cfg.train.batch_size = 10;
    cfg.train.lr = 3e-3;
    cfg.train.log_every_epochs = 1;
    let run_dir = dir.path().join("run");
    let run = train_operator(
        &cfg,
        &RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let s = &run.summary;
    assert_eq!((s.model.as_str(), s.iterations), ("lsm", 16));
    assert!(s.final_loss.is_finite());
    // The loss column (the minibatch loss: per-step errors summed over the 4 steps) and the
    // test error fall from the first logged epoch to the last (measured: loss 3.07 → 1.75,
    // test rollout 0.81 → 0.41).
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let (loss, test) = (col("loss"), col("test_rel_l2"));
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    eprintln!(
        "series-2d LSM (periodic {periodic}, linear skip {linear_skip}): loss {} → {}, test \
         rollout {} → {}, per step {:?}",
        first[loss], last[loss], first[test], last[test], s.test_rel_l2_per_step
    );
    assert!(
        first[loss].is_finite() && last[loss] < first[loss],
        "{metrics}"
    );
    assert!(last[test] < first[test], "{metrics}");
    assert_eq!(s.test_rel_l2_per_step.as_ref().unwrap().len(), T_OUT);
    // Reloaded (batch-norm running statistics and the padding mode included), the rollout is
    // the same.
    let op = Operator::load(&run_dir).unwrap();
    let loaded = op.model();
    let p = loaded
        .rollout(&run.test.input, run.test.n, &run.test.dims, T_OUT, 4)
        .unwrap();
    for (a, b) in p.iter().zip(&run.test_prediction) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
