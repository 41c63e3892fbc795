//! Parameter estimation on folders written by nabla's own generators: the residual forms are
//! checked against the generators' solvers (the true parameters zero the residual, and its
//! least-squares minimiser recovers them), then a whole run trains, evaluates every split and
//! tunes at test time.

use nabla_data::datagen::{
    generate_kdv_set, generate_reaction_diffusion_set, Boundary, KdvSettings,
    ReactionDiffusionSettings, SplitCounts,
};
use nabla_data::inverse::Split;
use nabla_nn::RunOptions;
use nabla_operator::inverse::data::{least_squares, Folder, WindowPick};
use nabla_operator::inverse::{train_inverse, InverseConfig};
use std::path::Path;

fn counts() -> SplitCounts {
    SplitCounts {
        train: 3,
        validation: 1,
        test: 1,
        ood: 1,
        extreme: 1,
    }
}

fn rd_folder(dir: &Path, boundary: Boundary) -> std::path::PathBuf {
    let out = dir.join(format!("rd_{}", boundary.name()));
    let settings = ReactionDiffusionSettings {
        resolution: 16,
        boundary,
        t_final: 0.2,
        steps: 9,
        burn_in: 0.5,
        trajectories: 1,
        counts: counts(),
        verify_every: 100,
        ..Default::default()
    };
    generate_reaction_diffusion_set(&settings, &out, &|_| {}).unwrap();
    out
}

fn kdv_folder(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("kdv");
    let settings = KdvSettings {
        resolution: 256,
        length: 128.0,
        t_final: 10.0,
        steps: 15,
        burn_in: 1.0,
        trajectories: 2,
        counts: counts(),
        verify_every: 100,
        ..Default::default()
    };
    generate_kdv_set(&settings, &out, &|_| {}).unwrap();
    out
}

fn config(folder: &Path, extra: serde_json::Value) -> InverseConfig {
    let mut v = serde_json::json!({
        "task": "inverse",
        "data": { "folder": folder, "n_past": 5, "window_stride": 2, "eval_windows": 2 },
        "model": { "modes": 4, "width": 8, "layers": 2, "projection": 16, "features": 16, "head_hidden": 16 },
        "train": { "epochs": 3, "batch_size": 4, "lr": 1e-3, "progress": false },
        "tuning": { "steps": 10, "lr": 1e-3, "alpha": 0.0 }
    });
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// Every window of every split: the residual at the true parameters is at the level of the
/// time-difference error, and least squares over a trajectory recovers the parameters.
fn check_residual_forms(cfg: &InverseConfig, floor: f64, tol: f64) {
    let folder = Folder::open(&cfg.data).unwrap();
    let terms = folder.physics.terms();
    for split in Split::ALL {
        let w = folder
            .windows(&cfg.data, split, WindowPick::Strided(1))
            .unwrap();
        assert!(!w.is_empty(), "{split:?}");
        let m = w.param_count;
        for i in 0..w.len() {
            let truth = &w.params[i * m..(i + 1) * m];
            let r = w.residuals[i].relative(&terms, truth);
            assert!(
                r < floor,
                "{split:?} window {i}: relative residual {r:e} at the truth"
            );
        }
        for t in 0..w.trajectories {
            let idx = w.of_trajectory(t);
            let forms: Vec<_> = idx.iter().map(|&i| &w.residuals[i]).collect();
            let phi = least_squares(&terms, &forms, m).unwrap();
            let truth = &w.params[idx[0] * m..(idx[0] + 1) * m];
            for (a, b) in phi.iter().zip(truth) {
                assert!(
                    (a - b).abs() <= tol * b.abs(),
                    "{split:?} trajectory {t}: least squares {phi:?} vs truth {truth:?}"
                );
            }
        }
    }
}

#[test]
fn reaction_diffusion_residuals_vanish_at_the_true_parameters() {
    let dir = tempfile::tempdir().unwrap();
    for boundary in [Boundary::Neumann, Boundary::Periodic] {
        let folder = rd_folder(dir.path(), boundary);
        let cfg = config(&folder, serde_json::json!({}));
        // 4th-order time differences of f32 frames 0.025 apart.
        check_residual_forms(&cfg, 1e-6, 1e-3);
        // The wrong boundary treatment shows in the residual.
        let wrong = if boundary == Boundary::Neumann {
            "periodic"
        } else {
            "neumann"
        };
        let cfg = config(
            &folder,
            serde_json::json!({ "data": { "boundary": wrong } }),
        );
        let f = Folder::open(&cfg.data).unwrap();
        let w = f
            .windows(&cfg.data, Split::Train, WindowPick::Strided(1))
            .unwrap();
        let worst = (0..w.len())
            .map(|i| w.residuals[i].relative(&f.physics.terms(), &w.params[i * 3..i * 3 + 3]))
            .fold(0.0, f64::max);
        assert!(
            worst > 1e-4,
            "{boundary:?} read as {wrong}: residual {worst:e}"
        );
    }
}

#[test]
fn kdv_residuals_vanish_at_the_true_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let folder = kdv_folder(dir.path());
    // The data sets' spacing, frames 0.71 apart: the slow modes |l| ≤ 12 carry the residual.
    let cfg = config(
        &folder,
        serde_json::json!({ "data": { "residual_modes": 12 } }),
    );
    check_residual_forms(&cfg, 1e-4, 1e-2);
}

#[test]
fn a_run_trains_evaluates_every_split_and_tuning_lowers_the_residual() {
    let dir = tempfile::tempdir().unwrap();
    let folder = rd_folder(dir.path(), Boundary::Neumann);
    let cfg = config(&folder, serde_json::json!({}));
    let run_dir = dir.path().join("run");
    let options = RunOptions {
        run_dir: Some(run_dir.clone()),
        ..Default::default()
    };
    let run = train_inverse(&cfg, &options, &|_| {}).unwrap();
    let s = &run.summary;
    assert_eq!(s.estimated_parameters, ["Du", "Dv", "k"]);
    assert_eq!(s.channels, 2 * 5 + 4);
    assert_eq!(s.train_trajectories, 3);
    // 9 frames, windows of 5 every 2 frames: starts 0, 2, 4.
    assert_eq!(s.train_windows, 9);
    assert!(run_dir.join("checkpoint.safetensors").exists());
    assert!(run_dir.join("metrics.csv").exists());
    for label in ["id", "ood", "extreme"] {
        let split = &s.splits[label];
        assert_eq!((split.trajectories, split.windows), (1, 2));
        assert!(split.rel_error_before.is_finite() && split.rel_error_after.is_finite());
        assert!(split.least_squares_rel_error < 1e-3, "{label}: {split:?}");
        // α = 0: the tuning minimises the residual alone.
        assert!(
            split.residual_after < split.residual_before,
            "{label}: residual {} → {}",
            split.residual_before,
            split.residual_after
        );
        assert!(split.residual_true < 1e-6);
    }
    assert_eq!(run.estimates.len(), 6);
    // Tuning off: after equals before.
    let cfg = config(
        &folder,
        serde_json::json!({ "tuning": { "steps": 0 }, "train": { "epochs": 1 } }),
    );
    let run = train_inverse(&cfg, &RunOptions::default(), &|_| {}).unwrap();
    for split in run.summary.splits.values() {
        assert_eq!(split.rel_error_before, split.rel_error_after);
    }
}

#[test]
fn bad_settings_and_folders_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let folder = rd_folder(dir.path(), Boundary::Periodic);
    let cfg = config(&folder, serde_json::json!({ "data": { "n_past": 2 } }));
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("data.n_past"), "{e}");
    let cfg = config(&folder, serde_json::json!({ "tuning": { "lr": -1.0 } }));
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("tuning.lr"));
    let cfg = config(&dir.path().join("nowhere"), serde_json::json!({}));
    let e = train_inverse(&cfg, &RunOptions::default(), &|_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
    // Windows longer than the trajectories: no training data, said so.
    let cfg = config(&folder, serde_json::json!({ "data": { "n_past": 12 } }));
    let e = train_inverse(&cfg, &RunOptions::default(), &|_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no training windows"), "{e}");
    let bad: Result<InverseConfig, _> = serde_json::from_value(serde_json::json!({
        "task": "inverse", "data": { "folder": "x", "n_pasts": 3 }, "model": {}, "train": { "epochs": 1 }
    }));
    assert!(bad.unwrap_err().to_string().contains("n_pasts"));
}

/// Data-parallel inverse runs (`mpirun -np N nabla train` with `task = "inverse"`), on ranks as
/// threads: each rank takes its block of every batch and tunes its block of each split's
/// trajectories; the loss curve and every gathered estimate follow one process's.
#[test]
fn data_parallel_runs_follow_the_one_process_run() {
    use nabla_core::comm::{Communicator, LocalComm};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rd3");
    let settings = ReactionDiffusionSettings {
        resolution: 16,
        boundary: Boundary::Neumann,
        t_final: 0.2,
        steps: 9,
        burn_in: 0.5,
        trajectories: 1,
        counts: SplitCounts {
            train: 3,
            validation: 1,
            test: 3,
            ood: 1,
            extreme: 1,
        },
        verify_every: 100,
        ..Default::default()
    };
    generate_reaction_diffusion_set(&settings, &out, &|_| {}).unwrap();
    let cfg = config(&out, serde_json::json!({ "train": { "batch_size": 5 } }));
    let run = |comm: Option<&dyn Communicator>, tag: &str| {
        let run_dir = dir.path().join(tag);
        let options = RunOptions {
            run_dir: Some(run_dir.clone()),
            comm,
            ..Default::default()
        };
        let r = train_inverse(&cfg, &options, &|_| {}).unwrap();
        if let Some(c) = comm {
            c.barrier();
        }
        let losses: Vec<f64> = std::fs::read_to_string(run_dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
            .collect();
        let estimates: Vec<f64> = r
            .estimates
            .iter()
            .flat_map(|e| e.after.iter().chain(&e.least_squares).copied())
            .collect();
        (losses, estimates)
    };
    let (serial, est) = run(None, "serial");
    assert!(!serial.is_empty() && est.len() >= 2 * 3 * 5);
    for ranks in [2, 3] {
        let tag = format!("ranks{ranks}");
        let runs = LocalComm::run(ranks, |c| run(Some(c), &tag));
        for (r, (losses, e)) in runs.iter().enumerate() {
            for (a, b) in losses.iter().zip(&serial) {
                assert!((a - b).abs() <= 1e-5 * b.abs(), "{ranks} ranks: {a} vs {b}");
            }
            for (a, b) in e.iter().zip(&est) {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1e-3),
                    "{ranks} ranks (rank {r}): estimate {a} vs {b}"
                );
            }
        }
    }
}
