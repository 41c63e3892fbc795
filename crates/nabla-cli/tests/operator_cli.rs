//! End-to-end: `nabla datagen darcy` → `nabla train` (task = "operator") → `nabla eval` on
//! another resolution; the run-directory contract and one-line config errors.

use std::fs;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn config(data: &str) -> String {
    format!(
        r#"
task = "operator"
[data]
file = "{data}"
layout = "darcy"
train = 24
test = 8
[model]
kind = "fno"
modes = [4]
width = 8
layers = 2
projection = 16
padding = 0.125
[train]
epochs = 10
batch_size = 4
lr = 3e-3
progress = false
"#
    )
}

#[test]
fn fno_darcy_trains_writes_the_run_directory_and_evaluates_at_another_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("darcy16.h5");
    let out = nabla(&[
        "datagen",
        "darcy",
        "--resolution",
        "16",
        "--samples",
        "32",
        "--seed",
        "1",
        "--quiet",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = d.join("fno.toml");
    fs::write(&cfg, config(data.to_str().unwrap())).unwrap();
    let run = d.join("run");
    let out = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "config.toml",
        "checkpoint.safetensors",
        "metrics.csv",
        "summary.json",
        "loss.png",
        "samples.png",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let test = summary["test_rel_l2"].as_f64().unwrap();
    let train = summary["train_rel_l2"].as_f64().unwrap();
    // Ten epochs of a tiny model: far from converged, but well below predicting zero (1.0).
    assert!(test > 0.0 && test < 0.6, "{test}");
    assert!(train > 0.0 && train < 0.6, "{train}");
    assert_eq!(summary["iterations"].as_u64(), Some(60));

    // Evaluate on a finer grid: predictions in the Darcy layout, finite, near the truth.
    let fine = d.join("darcy24.h5");
    let out = nabla(&[
        "datagen",
        "darcy",
        "--resolution",
        "24",
        "--samples",
        "4",
        "--seed",
        "9",
        "--quiet",
        "--out",
        fine.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let pred = d.join("pred.h5");
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--input",
        fine.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = nabla::data::read_darcy(&pred, None).unwrap();
    let t = nabla::data::read_darcy(&fine, None).unwrap();
    assert_eq!((p.n, p.s), (4, 24));
    let num: f64 = p
        .solution
        .iter()
        .zip(&t.solution)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum();
    let den: f64 = t.solution.iter().map(|&b| (b as f64).powi(2)).sum();
    assert!((num / den).sqrt() < 0.8, "{}", (num / den).sqrt());
    // The predictions' XDMF sidecar: one grid per sample, naming pred.h5 (nu and tensor).
    let xml = fs::read_to_string(d.join("pred.xdmf")).expect("sidecar of the predictions");
    assert_eq!(xml.matches("<Time Value=").count(), 4, "{xml}");
    for item in [
        r#"Dimensions="4 1 24 24" NumberType="Float" Precision="4" Format="HDF">pred.h5:/tensor<"#,
        r#"Dimensions="4 24 24" NumberType="Float" Precision="4" Format="HDF">pred.h5:/nu<"#,
    ] {
        assert!(xml.contains(item), "{item} not in {xml}");
    }

    // A NaN in the inputs is refused (it would give a sample of NaN predictions), nothing
    // written; an output naming the input is refused before anything is read.
    let mut bad = t.clone();
    bad.coefficient[3 * 24 * 24 + 5] = f32::NAN;
    let nan_in = d.join("nan.h5");
    nabla::data::write_darcy(&nan_in, &bad, &[]).unwrap();
    let nan_pred = d.join("nan_pred.h5");
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--input",
        nan_in.to_str().unwrap(),
        "--out",
        nan_pred.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("sample 3") && err.contains("NaN"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!nan_pred.exists());
    assert!(!d.join("nan_pred.xdmf").exists());
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--input",
        nan_in.to_str().unwrap(),
        "--out",
        nan_in.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("overwritten"),
        "{err}"
    );
    assert!(
        nabla::data::read_darcy(&nan_in, None).is_ok(),
        "input intact"
    );

    // A PINN flag on an operator run, and an unknown config key: one-line errors.
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--input"), "{err}");
    fs::write(
        &cfg,
        config(data.to_str().unwrap()).replace("width = 8", "widht = 8"),
    )
    .unwrap();
    let out = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("r2").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("widht"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !d.join("r2").exists(),
        "a failed run leaves no run directory"
    );
}
