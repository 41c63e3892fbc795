//! The training loop: bit-for-bit resume, Ctrl-C stop flag, metrics.csv, checkpoints, NaN guard.

use candle_core::{Device, Tensor};
use nabla_nn::optim::{AdamConfig, LbfgsConfig, LrSchedule, Recipe, Stage};
use nabla_nn::train::{read_checkpoint_state, CHECKPOINT_FILE, METRICS_FILE};
use nabla_nn::{
    train, Mlp, MlpConfig, Model, NnError, Outcome, Result, RunOptions, StepContext, TrainConfig,
};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn model() -> Mlp {
    MlpConfig::new(&[1, 12, 12, 1])
        .seed(4)
        .build(&Device::Cpu)
        .unwrap()
}

fn recipe() -> Recipe {
    Recipe {
        stages: vec![
            Stage::Adam(AdamConfig::new(20, 5e-3).schedule(LrSchedule::Cosine { min_lr: 1e-4 })),
            Stage::Lbfgs(
                LbfgsConfig::new(15)
                    .history(8)
                    .tol_grad(0.0)
                    .tol_change(0.0),
            ),
        ],
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        seed: 17,
        optimizer: recipe(),
        log_every: 5,
        checkpoint_every: 10,
        progress: false,
    }
}

/// Regression on a random minibatch drawn from the run's RNG each step (fixed points in the
/// L-BFGS stage); raises `stop` after step `stop_at`, returns NaN at `nan_at`.
fn objective(
    stop: Arc<AtomicBool>,
    stop_at: Option<usize>,
    nan_at: Option<usize>,
) -> impl FnMut(&Mlp, &mut StepContext<'_>) -> Result<Tensor> {
    move |m: &Mlp, ctx: &mut StepContext<'_>| {
        let xs: Vec<f32> = if ctx.stage == 0 {
            (0..32).map(|_| ctx.rng.gen_range(-1.0..1.0)).collect()
        } else {
            (0..32).map(|i| -1.0 + i as f32 / 16.0).collect()
        };
        let x = Tensor::from_slice(&xs, (32, 1), &Device::Cpu)?;
        let y = (x.clone() * 3.0)?.sin()?;
        let loss = (m.forward(&x)? - y)?.sqr()?.mean_all()?;
        if Some(ctx.step) == stop_at {
            stop.store(true, Ordering::SeqCst);
        }
        if Some(ctx.step) == nan_at {
            return Ok((loss * f64::NAN)?);
        }
        Ok(loss)
    }
}

fn metrics_steps(dir: &std::path::Path) -> Vec<usize> {
    let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,stage,optimizer,lr,loss,seconds"
    );
    lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn metrics_losses(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().to_string())
        .collect()
}

#[test]
fn resume_continues_bit_for_bit() {
    let total = recipe().total_steps();
    // Straight run.
    let straight_dir = tempfile::tempdir().unwrap();
    let m0 = model();
    let flag = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        run_dir: Some(straight_dir.path().to_path_buf()),
        ..Default::default()
    };
    let r0 = train(&m0, &mut objective(flag, None, None), &config(), &opts).unwrap();
    assert_eq!(r0.outcome, Outcome::Completed);
    assert_eq!(r0.steps, total);
    assert_eq!(r0.losses.len(), total);
    assert!(r0.final_loss < r0.losses[0].1 * 0.1, "{:?}", r0.losses);
    let w0 = m0.params().flatten().unwrap();
    assert_eq!(
        metrics_steps(straight_dir.path()),
        (1..=total / 5).map(|k| 5 * k).collect::<Vec<_>>()
    );

    // Stopped (as by Ctrl-C) inside the Adam stage and again inside the L-BFGS stage, each
    // time resumed in a fresh process-like setting (a new model object, weights from disk).
    for stops in [vec![12usize], vec![7, 26]] {
        let dir = tempfile::tempdir().unwrap();
        let mut losses = Vec::new();
        let mut resume = false;
        let mut m = model();
        for &s in stops
            .iter()
            .map(Some)
            .chain([None])
            .collect::<Vec<_>>()
            .iter()
        {
            m = model(); // fresh weights; the checkpoint must restore them
            let flag = Arc::new(AtomicBool::new(false));
            let opts = RunOptions {
                run_dir: Some(dir.path().to_path_buf()),
                resume,
                stop: Some(flag.clone()),
                comm: None,
            };
            let r = train(&m, &mut objective(flag, s.copied(), None), &config(), &opts).unwrap();
            match s {
                Some(&s) => {
                    assert_eq!(r.outcome, Outcome::Stopped);
                    assert_eq!(r.steps, s + 1);
                    let st = read_checkpoint_state(&dir.path().join(CHECKPOINT_FILE)).unwrap();
                    assert_eq!(st.step, s + 1);
                }
                None => assert_eq!(r.outcome, Outcome::Completed),
            }
            losses.extend(r.losses);
            resume = true;
        }
        let w = m.params().flatten().unwrap();
        assert_eq!(losses.len(), r0.losses.len(), "stops {stops:?}");
        for (a, b) in losses.iter().zip(&r0.losses) {
            assert_eq!(a.0, b.0);
            assert_eq!(
                a.1.to_bits(),
                b.1.to_bits(),
                "step {}: {} vs {}",
                a.0,
                a.1,
                b.1
            );
        }
        assert!(
            w.iter().zip(&w0).all(|(a, b)| a.to_bits() == b.to_bits()),
            "weights differ"
        );
        assert_eq!(
            metrics_steps(dir.path()),
            metrics_steps(straight_dir.path())
        );
        assert_eq!(
            metrics_losses(dir.path()),
            metrics_losses(straight_dir.path())
        );
    }
}

#[test]
fn nan_loss_stops_with_an_error_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let m = model();
    let opts = RunOptions {
        run_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let flag = Arc::new(AtomicBool::new(false));
    // Reference: the weights after 10 steps.
    let reference = model();
    let mut cfg10 = config();
    cfg10.optimizer = Recipe {
        stages: vec![Stage::Adam(
            AdamConfig::new(20, 5e-3).schedule(LrSchedule::Cosine { min_lr: 1e-4 }),
        )],
    };
    let mut obj = objective(flag.clone(), Some(9), None);
    let stop_opts = RunOptions {
        stop: Some(flag.clone()),
        ..Default::default()
    };
    train(&reference, &mut obj, &cfg10, &stop_opts).unwrap();
    let w10 = reference.params().flatten().unwrap();

    let err = train(&m, &mut objective(flag, None, Some(13)), &config(), &opts).unwrap_err();
    match &err {
        NnError::NonFiniteLoss {
            step,
            loss,
            checkpoint,
        } => {
            assert_eq!(*step, 13);
            assert!(loss.is_nan());
            assert_eq!(
                checkpoint.as_deref(),
                Some(dir.path().join(CHECKPOINT_FILE).as_path())
            );
        }
        e => panic!("unexpected error {e}"),
    }
    assert!(err.to_string().contains("last good checkpoint"), "{err}");
    let path = dir.path().join(CHECKPOINT_FILE);
    assert_eq!(read_checkpoint_state(&path).unwrap().step, 10);
    let check = model();
    check.params().load(&path, &Device::Cpu).unwrap();
    assert_eq!(check.params().flatten().unwrap(), w10);
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // A NaN at the first evaluation of an L-BFGS stage is caught the same way.
    let m = model();
    let flag = Arc::new(AtomicBool::new(false));
    let err = train(&m, &mut objective(flag, None, Some(20)), &config(), &opts).unwrap_err();
    assert!(
        matches!(err, NnError::NonFiniteLoss { step: 20, .. }),
        "{err}"
    );
    assert_eq!(read_checkpoint_state(&path).unwrap().step, 20);
}

#[test]
fn resume_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        run_dir: Some(dir.path().to_path_buf()),
        resume: true,
        stop: None,
        comm: None,
    };
    let e = train(
        &model(),
        &mut objective(flag.clone(), None, None),
        &config(),
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("nothing to resume"), "{e}");
    // Write a checkpoint with one network, resume with another.
    let fresh = RunOptions {
        resume: false,
        ..opts.clone()
    };
    train(
        &model(),
        &mut objective(flag.clone(), None, None),
        &config(),
        &fresh,
    )
    .unwrap();
    let other = MlpConfig::new(&[1, 8, 1]).build(&Device::Cpu).unwrap();
    let e = train(&other, &mut objective(flag, None, None), &config(), &opts).unwrap_err();
    assert!(e.to_string().contains("the network changed"), "{e}");
    // A non-scalar loss is an error naming the fix.
    let mut bad = |m: &Mlp, _: &mut StepContext<'_>| -> Result<Tensor> {
        let x = Tensor::zeros((4, 1), candle_core::DType::F32, &Device::Cpu)?;
        m.forward(&x)
    };
    let e = train(&model(), &mut bad, &config(), &RunOptions::default()).unwrap_err();
    assert!(e.to_string().contains("mean_all"), "{e}");
}

#[test]
fn train_config_from_serde_names_bad_keys() {
    let json = r#"{
        "seed": 3,
        "log_every": 10,
        "optimizer": [
            {"kind": "adam", "steps": 100, "lr": 0.001,
             "schedule": {"kind": "exponential", "gamma": 0.9, "every": 50}},
            {"kind": "lbfgs", "iterations": 500, "history": 20}
        ]
    }"#;
    let c: TrainConfig = serde_json::from_str(json).unwrap();
    c.validate().unwrap();
    assert_eq!(c.optimizer.total_steps(), 600);
    assert_eq!(c.checkpoint_every, 1000);
    let bad = json.replace("\"history\"", "\"histroy\"");
    let e = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
    assert!(e.to_string().contains("histroy"), "{e}");
    let bad = json.replace("0.9", "1.5");
    let c: TrainConfig = serde_json::from_str(&bad).unwrap();
    let e = c.validate().unwrap_err();
    assert!(e.to_string().contains("optimizer[0].schedule.gamma"), "{e}");
    let bad = json.replace("\"lbfgs\"", "\"sgd\"");
    assert!(serde_json::from_str::<TrainConfig>(&bad).is_err());
}
