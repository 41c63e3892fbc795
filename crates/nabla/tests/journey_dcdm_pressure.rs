//! The `dcdm_pressure` journey at a small size: a tiny DCDM model trained through the library
//! into a temporary run directory, then used as the pressure solver of a few projection steps
//! by `examples/dcdm_pressure.rs` itself.

#[path = "../../../examples/dcdm_pressure.rs"]
#[allow(dead_code)]
mod journey;

use nabla::dcdm::{
    train_dcdm, DataConfig, DcdmConfig, DcdmTrainConfig, EvalConfig, LossKind, MaskKind,
};
use nabla::nn::{RunOptions, UNetConfig};
use std::path::Path;

/// A 16×16 model in a few seconds: 150 Adam steps on 96 Ritz-vector samples.
fn tiny_config(dir: &Path) -> DcdmConfig {
    DcdmConfig {
        task: "dcdm".into(),
        device: "cpu".into(),
        grid: "16x16".into(),
        data: DataConfig {
            file: dir.join("set.h5"),
            lanczos_steps: 60,
            samples: 96,
            low_fraction: 0.5,
            low_weight: 1.0,
            masks: MaskKind::None,
            mask_count: 1,
            seed: 0,
        },
        model: UNetConfig {
            channels: 8,
            levels: 2,
            convs: 0,
            ..Default::default()
        },
        train: DcdmTrainConfig {
            seed: 0,
            steps: 150,
            batch_size: 8,
            lr: 1e-3,
            schedule: Default::default(),
            loss: LossKind::Energy,
            validation: 8,
            log_every: 50,
            checkpoint_every: 0,
            progress: false,
        },
        eval: EvalConfig::default(),
    }
}

fn check(report: &journey::Report, tol: f64) {
    assert_eq!(report.steps.len(), 3);
    for s in &report.steps {
        assert!(s.dcdm_converged, "step {}: {s:?}", s.step);
        // The residual recomputed with the example's own stencil agrees with the solver's.
        assert!(s.relative_residual <= tol, "step {}: {s:?}", s.step);
        assert!(
            (s.relative_residual - s.dcdm_reported_residual).abs() <= 1e-6 * tol,
            "step {}: {s:?}",
            s.step
        );
        // A real divergence to remove, and D G = −A/h² exactly: what is left is −dt/h²·r, so
        // its L2 norm is at most tol times the one before (rounding aside).
        assert!(s.div_before_l2 > 1e-2 && s.div_before_max > 1e-2, "{s:?}");
        assert!(
            s.div_after_l2 <= tol * s.div_before_l2 * (1.0 + 1e-6) + 1e-12,
            "step {}: {s:?}",
            s.step
        );
        assert!(
            s.div_after_max <= s.div_after_l2 / report.h * (1.0 + 1e-9),
            "{s:?}"
        );
        assert!(s.div_after_max < 1e-3 * s.div_before_max, "{s:?}");
        // The baselines solve the same system: the pressures agree to the tolerance's order.
        let (cg, ic0) = (s.cg_iterations.unwrap(), s.ic0_iterations.unwrap());
        assert!(cg > 0 && ic0 > 0 && ic0 <= cg, "{s:?}");
        assert!(s.pressure_vs_cg.unwrap() <= 1e3 * tol, "{s:?}");
        assert!(s.dcdm_iterations >= 1 && s.dcdm_iterations < 200, "{s:?}");
    }
    // Step 1 projects u_df + Gφ: it must give back u_df, within what the residual allows.
    assert!(report.recovery_error.is_finite() && report.recovery_bound.is_finite());
    assert!(
        report.recovery_error <= report.recovery_bound * (1.0 + 1e-6) + 1e-12,
        "{} > {}",
        report.recovery_error,
        report.recovery_bound
    );
    assert!(report.recovery_error <= 1e-3, "{}", report.recovery_error);
}

#[test]
fn a_trained_dcdm_model_projects_velocity_fields_to_divergence_free() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let run = train_dcdm(
        &tiny_config(dir.path()),
        &RunOptions {
            run_dir: Some(run_dir.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(run.summary.dcdm_converged);

    // On the training grid, from the run directory.
    let tol = 1e-6;
    let mut opts = journey::Options::new(&run_dir);
    opts.steps = 3;
    opts.tol = tol;
    let report = journey::run(&opts).unwrap();
    assert_eq!(report.grid, [16, 16]);
    assert_eq!(report.train_grid, vec![16, 16]);
    assert_eq!(report.parameters, run.summary.parameters);
    check(&report, tol);
    // The learned directions beat plain CG on the system the model was trained for.
    let dcdm: usize = report.steps.iter().map(|s| s.dcdm_iterations).sum();
    let cg: usize = report.steps.iter().map(|s| s.cg_iterations.unwrap()).sum();
    assert!(dcdm < cg, "DCDM {dcdm} iterations against CG {cg}");

    // Same seed, same numbers.
    let again = journey::run(&opts).unwrap();
    for (a, b) in report.steps.iter().zip(&again.steps) {
        assert_eq!(a.dcdm_iterations, b.dcdm_iterations);
        assert_eq!(a.div_after_l2.to_bits(), b.div_after_l2.to_bits());
    }

    // From the checkpoint file, on a grid it was not trained on, to a tighter tolerance.
    let mut other = journey::Options::new(run_dir.join("checkpoint.safetensors"));
    other.steps = 3;
    other.tol = 1e-8;
    other.grid = Some([24, 20]);
    let report = journey::run(&other).unwrap();
    assert_eq!(report.grid, [24, 20]);
    check(&report, 1e-8);
}

#[test]
fn a_missing_or_foreign_run_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let e = journey::run(&journey::Options::new(&missing))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no-such-run") && e.contains("nabla train"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");

    // A directory, but not a training run.
    let e = journey::run(&journey::Options::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checkpoint.safetensors") && e.contains("not a DCDM"),
        "{e}"
    );

    // A file that is not a checkpoint.
    let junk = dir.path().join("checkpoint.safetensors");
    std::fs::write(&junk, b"not safetensors").unwrap();
    let e = journey::run(&journey::Options::new(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint.safetensors"), "{e}");

    // Bad options are refused before any work.
    let mut opts = journey::Options::new(dir.path());
    opts.tol = 2.0;
    let e = journey::run(&opts).unwrap_err().to_string();
    assert!(e.contains("tol"), "{e}");
}
