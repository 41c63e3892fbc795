//! Trained models loaded from their run directory or checkpoint alone: checkpoints of the
//! previous release (shipped in datasets/runs, described by their config.toml) and of this one
//! (self-describing), PINN derivatives against finite differences and the exact solution,
//! operator predictions against the data's solutions, and the errors of wrong paths.

// Index loops read best here: one index runs over several arrays at once.
#![allow(clippy::needless_range_loop)]

use nabla::ndarray::{array, Array2, ArrayD, IxDyn};
use nabla::nn::run_dir::{describe, DescriptionSource};
use nabla::operator::Operator;
use nabla::pinn::Pinn;
use nabla::run::{load, train, LoadedModel, TaskConfig, TrainOptions};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// u = sin(πx) sin(πy) and its derivatives.
fn exact(p: &[f64]) -> (f64, [f64; 2], f64) {
    let (sx, sy, cx, cy) = (
        (PI * p[0]).sin(),
        (PI * p[1]).sin(),
        (PI * p[0]).cos(),
        (PI * p[1]).cos(),
    );
    (
        sx * sy,
        [PI * cx * sy, PI * sx * cy],
        -2.0 * PI * PI * sx * sy,
    )
}

/// Central differences of `pinn.u`: gradient (step h) and Laplacian (step 4h, wider since the
/// network runs in f32).
fn finite_differences(pinn: &Pinn, p: [f64; 2], h: f64) -> ([f64; 2], f64) {
    let u = |q: [f64; 2]| pinn.u(array![[q[0], q[1]]].view()).unwrap()[0];
    let g = [
        (u([p[0] + h, p[1]]) - u([p[0] - h, p[1]])) / (2.0 * h),
        (u([p[0], p[1] + h]) - u([p[0], p[1] - h])) / (2.0 * h),
    ];
    let k = 4.0 * h;
    let lap =
        (u([p[0] + k, p[1]]) + u([p[0] - k, p[1]]) + u([p[0], p[1] + k]) + u([p[0], p[1] - k])
            - 4.0 * u(p))
            / (k * k);
    (g, lap)
}

#[test]
fn a_previous_release_pinn_run_loads_from_its_config_and_matches_the_exact_solution() {
    let run = repo("datasets/runs/pinn_v0.1");
    let d = describe(&run).unwrap();
    assert_eq!(d.task, "pinn");
    assert!(matches!(d.source, DescriptionSource::ConfigFile(_)));
    let pinn = Pinn::load(&run).unwrap();
    assert_eq!(pinn.coordinate_names(), ["x", "y"]);
    let pts: Vec<[f64; 2]> = vec![[0.5, 0.5], [0.25, 0.75], [0.1, 0.3], [0.8, 0.6]];
    let flat: Vec<f64> = pts.iter().flatten().copied().collect();
    let view = Array2::from_shape_vec((pts.len(), 2), flat).unwrap();
    let v = pinn.evaluate(view.view()).unwrap();
    for (k, p) in pts.iter().enumerate() {
        let (u, g, lap) = exact(p);
        // The shipped run reached a relative L2 error of 1.5e-3 (summary.json).
        assert!((v.u[k] - u).abs() < 1e-2, "u at {p:?}: {} vs {u}", v.u[k]);
        for i in 0..2 {
            assert!((v.grad[[k, i]] - g[i]).abs() < 0.1, "∂{i}u at {p:?}");
        }
        assert!(
            (v.laplacian[k] - lap).abs() < 0.1 * 2.0 * PI * PI,
            "Δu at {p:?}"
        );
        // The jets are the network's own derivatives: they match its finite differences far
        // more closely than the network matches the exact solution.
        let (fg, flap) = finite_differences(&pinn, *p, 1e-2);
        for i in 0..2 {
            assert!(
                (v.grad[[k, i]] - fg[i]).abs() < 2e-3,
                "∂{i}u vs FD at {p:?}"
            );
        }
        assert!(
            (v.laplacian[k] - flap).abs() < 0.05,
            "Δu vs FD at {p:?}: {} {flap}",
            v.laplacian[k]
        );
    }
}

#[test]
fn previous_release_operator_runs_predict_the_darcy_solutions() {
    let data = nabla::data::read_darcy(&repo("datasets/darcy32_eval.h5"), None).unwrap();
    let (n, s) = (data.n, data.s);
    let a = ArrayD::from_shape_vec(
        IxDyn(&[n, s, s]),
        data.coefficient.iter().map(|&v| v as f64).collect(),
    )
    .unwrap();
    // summary.json: test relative L2 0.061 (FNO) and 0.27 (DeepONet) on held-out samples.
    for (run, bound) in [
        ("datasets/runs/fno_v0.1", 0.15),
        ("datasets/runs/deeponet_v0.1", 0.45),
    ] {
        let op = Operator::load(repo(run)).unwrap();
        assert_eq!(op.train_grid().unwrap(), vec![32, 32]);
        let u = op.predict(a.view()).unwrap();
        assert_eq!(u.shape(), &[n, s, s]);
        for k in 0..n {
            let (mut num, mut den) = (0.0, 0.0);
            for j in 0..s * s {
                let t = data.solution[k * s * s + j] as f64;
                num += (u.as_slice().unwrap()[k * s * s + j] - t).powi(2);
                den += t * t;
            }
            let rel = (num / den).sqrt();
            assert!(rel < bound, "{run} sample {k}: relative L2 {rel}");
        }
    }
    // The FNO at another resolution: every other node of the 32² input.
    let op = Operator::load(repo("datasets/runs/fno_v0.1")).unwrap();
    let coarse = a
        .slice(nabla::ndarray::s![.., ..;2, ..;2])
        .to_owned()
        .into_dyn();
    assert_eq!(op.predict(coarse.view()).unwrap().shape(), &[n, 16, 16]);
    let e = op
        .predict(a.slice(nabla::ndarray::s![.., ..;4, ..;4]).into_dyn())
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs at least 12"), "{e}");
}

fn tiny_pinn_config(dir: &Path) -> PathBuf {
    let path = dir.join("pinn.toml");
    std::fs::write(
        &path,
        r#"
task = "pinn"
[problem]
pde = "poisson"
domain = "box:min=0,0;max=1,1"
source = "2*pi^2*sin(pi*x)*sin(pi*y)"
exact = "sin(pi*x)*sin(pi*y)"
[[problem.boundary]]
kind = "dirichlet"
value = "0"
[model]
hidden = [16, 16]
precision = "f64"
[sampling]
interior = 200
[loss]
hard_dirichlet = true
[train]
progress = false
[[train.optimizer]]
kind = "adam"
steps = 100
lr = 5e-3
[eval]
grid = 21
"#,
    )
    .unwrap();
    path
}

#[test]
fn a_new_checkpoint_alone_rebuilds_its_pinn_hard_constraint_derivatives_included() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_pinn_config(dir.path());
    let out = dir.path().join("run");
    let (config, run) = train(
        &cfg,
        &["train.seed=5".into()],
        &out,
        &TrainOptions::default(),
    )
    .unwrap();
    assert_eq!(config.task(), "pinn");
    assert!(out.join("summary.json").is_file() && out.join("config.toml").is_file());
    // Only the checkpoint, elsewhere: it describes itself.
    let lone = dir.path().join("model.safetensors");
    std::fs::copy(out.join("checkpoint.safetensors"), &lone).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    assert_eq!(
        describe(&lone).unwrap().source,
        DescriptionSource::Checkpoint
    );
    let LoadedModel::Pinn(pinn) = load(&lone).unwrap() else {
        panic!("not a PINN");
    };
    let pts = array![[0.3, 0.4], [0.7, 0.2], [0.5, 0.9]];
    let trained = match &run {
        nabla::run::TrainedRun::Pinn(r) => r.model.predict(pts.as_slice().unwrap()).unwrap(),
        _ => unreachable!(),
    };
    let u = pinn.u(pts.view()).unwrap();
    let v = pinn.evaluate(pts.view()).unwrap();
    for k in 0..3 {
        assert_eq!(u[k], trained[k], "the loaded model is the trained one");
        // The jet's value comes from another kernel: equal to round-off.
        assert!((v.u[k] - u[k]).abs() < 1e-12);
        // f64 network: the jets through u = g + φN agree with finite differences to O(h²).
        let p = [pts[[k, 0]], pts[[k, 1]]];
        let (fg, flap) = finite_differences(&pinn, p, 1e-3);
        for i in 0..2 {
            assert!((v.grad[[k, i]] - fg[i]).abs() < 1e-5, "∂{i}u at {p:?}");
        }
        assert!(
            (v.laplacian[k] - flap).abs() < 1e-3,
            "Δu at {p:?}: {} {flap}",
            v.laplacian[k]
        );
    }
    // Hard Dirichlet: u = 0 on the boundary whatever the weights.
    let u = pinn
        .u(array![[0.0, 0.3], [1.0, 0.5], [0.4, 1.0]].view())
        .unwrap();
    assert!(u.iter().all(|v| v.abs() < 1e-12), "{u}");
    // Bad points are one-line errors.
    let e = pinn
        .u(array![[0.1, 0.2, 0.3]].view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 columns") && e.contains("x, y"), "{e}");
    let e = pinn
        .u(array![[0.1, f64::NAN]].view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    let e = Operator::load(&lone).err().unwrap().to_string();
    assert!(
        e.contains("holds a pinn run; this loader reads operator runs"),
        "{e}"
    );
}

#[test]
fn a_new_operator_checkpoint_alone_predicts_like_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fno.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
task = "operator"
[data]
file = "{}"
layout = "darcy"
train = 3
test = 1
[model]
kind = "fno"
modes = [4]
width = 6
layers = 2
projection = 8
[train]
epochs = 2
batch_size = 3
progress = false
"#,
            repo("datasets/darcy32_eval.h5").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("run");
    let (_, run) = train(&cfg, &[], &out, &TrainOptions::default()).unwrap();
    let nabla::run::TrainedRun::Operator(run) = run else {
        panic!("not an operator run")
    };
    let lone = dir.path().join("fno.safetensors");
    std::fs::rename(out.join("checkpoint.safetensors"), &lone).unwrap();
    let op = Operator::load(&lone).unwrap();
    assert_eq!(op.kind(), "fno");
    let t = &run.test;
    let input = ArrayD::from_shape_vec(
        IxDyn(&[t.n, 32, 32]),
        t.input.iter().map(|&v| v as f64).collect(),
    )
    .unwrap();
    let u = op.predict(input.view()).unwrap();
    for (a, b) in u.iter().zip(&run.test_prediction) {
        assert_eq!(*a as f32, *b);
    }
    // The file path: predictions written in the Darcy layout.
    let pred = dir.path().join("pred.h5");
    let written = op
        .predict_file(&repo("datasets/darcy32_eval.h5"), &pred)
        .unwrap();
    assert_eq!((written.samples, written.dims.clone()), (4, vec![32, 32]));
    assert_eq!(nabla::data::read_darcy(&pred, None).unwrap().n, 4);
}

#[test]
fn wrong_paths_and_configs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (path, needle) in [
        (dir.path().join("missing"), "no such run directory"),
        (dir.path().to_path_buf(), "not a run directory"),
    ] {
        let e = load(&path).err().unwrap().to_string();
        assert!(e.contains(needle) && !e.contains('\n'), "{e}");
    }
    let not_st = dir.path().join("x.safetensors");
    std::fs::write(&not_st, b"not a checkpoint").unwrap();
    let e = load(&not_st).err().unwrap().to_string();
    assert!(e.contains("not a readable safetensors file"), "{e}");
    // Unknown task, unknown key, malformed override.
    let cfg = tiny_pinn_config(dir.path());
    for (sets, needle) in [
        (
            vec!["task=nope".to_string()],
            "is not a task nabla can train",
        ),
        (vec!["model.hiden=[8]".to_string()], "hiden"),
        (
            vec!["model".to_string()],
            "--set model: expected section.key=value",
        ),
    ] {
        let e = TaskConfig::load(&cfg, &sets).unwrap_err().to_string();
        assert!(e.contains(needle) && !e.contains('\n'), "{e}");
    }
}

#[test]
fn dcdm_runs_load_from_their_directory_or_their_checkpoint_alone() {
    let run = repo("datasets/runs/dcdm32");
    let LoadedModel::Dcdm(m) = load(&run).unwrap() else {
        panic!("not a DCDM model");
    };
    assert_eq!(m.train_grid(), &[32, 32]);
    // This checkpoint predates the self-description; away from its config.toml its own
    // architecture tensor still rebuilds it.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("dcdm.safetensors");
    std::fs::copy(run.join("checkpoint.safetensors"), &lone).unwrap();
    assert!(matches!(load(&lone).unwrap(), LoadedModel::Dcdm(_)));
}
