//! `--device` of the commands that run a network outside training (`nabla eval`, `nabla poisson
//! --solver dcdm`): `cpu` runs, a malformed device or one the solver does not use is a usage
//! error, and CUDA in a build without `candle-cuda` is one clear line, never a crash.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn repo_file(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
        .display()
        .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn eval_runs_a_pinn_on_the_device_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let pts = dir.path().join("pts.csv");
    fs::write(&pts, "x,y\n0.5,0.5\n0.25,0.75\n").unwrap();
    let pred = dir.path().join("pred.csv");
    let run = repo_file("datasets/runs/pinn_v0.1");
    let args = |device: &'static str| {
        vec![
            "eval".to_string(),
            run.clone(),
            "--points".into(),
            pts.display().to_string(),
            "--out".into(),
            pred.display().to_string(),
            "--device".into(),
            device.into(),
        ]
    };
    let run_with = |device: &'static str| {
        let a = args(device);
        nabla(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let out = run_with("cpu");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&pred).unwrap().lines().count(), 3);

    // Malformed: clap's usage error (exit 2), before anything is read.
    let out = run_with("gpu0");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid device 'gpu0'"),
        "{}",
        stderr(&out)
    );

    // CUDA without candle-cuda (or without a GPU): one line, exit 1.
    if !cfg!(feature = "candle-cuda") {
        fs::remove_file(&pred).unwrap();
        let out = run_with("cuda:0");
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("built without"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!pred.exists());
    }
}

#[test]
fn poisson_dcdm_takes_a_device_and_other_solvers_refuse_it() {
    let model = repo_file("datasets/runs/dcdm32/checkpoint.safetensors");
    let out = nabla(&[
        "poisson", "--grid", "32x32", "--solver", "dcdm", "--model", &model, "--device", "cpu",
        "--tol", "1e-6", "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = nabla(&[
        "poisson", "--grid", "32x32", "--solver", "cg", "--device", "cpu",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--device is used by --solver dcdm"),
        "{}",
        stderr(&out)
    );

    let out = nabla(&[
        "poisson", "--grid", "32x32", "--solver", "dcdm", "--model", &model, "--device", "tpu:0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--device: invalid device"),
        "{}",
        stderr(&out)
    );

    if !cfg!(feature = "candle-cuda") {
        let out = nabla(&[
            "poisson", "--grid", "32x32", "--solver", "dcdm", "--model", &model, "--device",
            "cuda:0",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("built without"), "{}", stderr(&out));
    }
}
