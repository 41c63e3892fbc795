//! End-to-end: `nabla datagen navier-stokes` → `nabla train` (`layout = "series-2d"`, an FNO
//! rolled forward autoregressively) → `nabla eval` writing the rollout with its per-step
//! errors; bad series configs are one-line errors naming the key.

use nabla::data::read_series_2d;
use std::fs;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn config(data: &str, kind: &str, input_frames: usize) -> String {
    let model = match kind {
        "fno" => "kind = \"fno\"\nmodes = [4]\nwidth = 8\nlayers = 2\nprojection = 16",
        _ => "kind = \"deeponet\"\nbranch_hidden = [8]\ntrunk_hidden = [8]\nbasis = 8",
    };
    format!(
        r#"
task = "operator"
[data]
file = "{data}"
layout = "series-2d"
train = 8
test = 4
input_frames = {input_frames}
output_frames = 3
[model]
{model}
[train]
epochs = 3
batch_size = 4
lr = 3e-3
progress = false
"#
    )
}

#[test]
fn navier_stokes_rollouts_train_evaluate_and_report_per_step_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("ns16.h5");
    let out = nabla(&[
        "datagen",
        "navier-stokes",
        "--resolution",
        "16",
        "--samples",
        "12",
        "--seed",
        "3",
        "--frames",
        "5",
        "--record-interval",
        "0.5",
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
    fs::write(&cfg, config(data.to_str().unwrap(), "fno", 2)).unwrap();
    let run = d.join("run");
    let out = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("per rollout step"), "{err}");
    for f in [
        "checkpoint.safetensors",
        "metrics.csv",
        "summary.json",
        "samples.png",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let steps = summary["test_rel_l2_per_step"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    let full = summary["test_rel_l2"].as_f64().unwrap();
    assert!(full.is_finite() && full > 0.0, "{summary}");
    let header = fs::read_to_string(run.join("metrics.csv")).unwrap();
    let header = header.lines().next().unwrap().to_string();
    assert!(
        header.ends_with("test_rel_l2,test_rel_l2_step_1,test_rel_l2_step_2,test_rel_l2_step_3"),
        "{header}"
    );

    // nabla eval on the data file: the 3-frame rollouts of all 12 trajectories, with the
    // errors against the file's frames 2..5 printed.
    let pred = d.join("pred.h5");
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("12 rollouts of 3 frames on 16x16") && err.contains("per step"),
        "{err}"
    );
    let p = read_series_2d(&pred, None).unwrap();
    let truth = read_series_2d(&data, None).unwrap();
    assert_eq!((p.n, p.nt, p.nx, p.ny), (12, 3, 16, 16));
    assert_eq!(p.t, truth.t[2..6].to_vec());
    assert!(p.tensor.iter().all(|v| v.is_finite()));
    let xml = fs::read_to_string(d.join("pred.xdmf")).expect("sidecar of the rollouts");
    assert_eq!(xml.matches("<Time Value=").count(), 3, "{xml}");

    // Bad configs: more frames than the file has, and a DeepONet: one line naming the key.
    for (text, key) in [
        (
            config(data.to_str().unwrap(), "fno", 3),
            "data.input_frames/output_frames",
        ),
        (config(data.to_str().unwrap(), "deeponet", 2), "model.kind"),
    ] {
        fs::write(&cfg, text).unwrap();
        let out = nabla(&[
            "train",
            cfg.to_str().unwrap(),
            "--out",
            d.join("bad").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(key), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
