//! End-to-end tests of `nabla train` and `nabla eval`: the run directory contract, `--set`,
//! `--resume`, predictions at user points, and one-line errors naming the key or column.

use std::fs;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

const CONFIG: &str = r#"
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
[sampling]
interior = 200
boundary = 80
[train]
log_every = 50
progress = false
[[train.optimizer]]
kind = "adam"
steps = 500
lr = 5e-3
[[train.optimizer]]
kind = "lbfgs"
iterations = 800
[eval]
grid = 41
"#;

#[test]
fn train_writes_the_run_directory_and_eval_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    fs::write(&cfg, CONFIG).unwrap();
    let run = dir.path().join("run");
    let out = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--set",
        "train.seed=2",
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
        "solution.png",
        "error.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let resolved = fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(resolved.contains("seed = 2"), "{resolved}");
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let rel = summary["rel_l2"].as_f64().unwrap();
    assert!(rel < 2e-2, "rel_l2 {rel}");
    for key in ["iterations", "seconds", "parameters"] {
        assert!(summary[key].as_f64().is_some(), "{key}");
    }
    let header = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(header.lines().next().unwrap().contains("rel_l2"));

    // eval: columns in any order, u added; compare with the exact solution.
    let pts = dir.path().join("pts.csv");
    fs::write(&pts, "y,x\n0.5,0.5\n0.25,0.75\n0.9,0.1\n").unwrap();
    let pred = dir.path().join("pred.csv");
    let out = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--points",
        pts.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&pred).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "y,x,u");
    for l in lines {
        let v: Vec<f64> = l.split(',').map(|s| s.parse().unwrap()).collect();
        let exact = (std::f64::consts::PI * v[1]).sin() * (std::f64::consts::PI * v[0]).sin();
        assert!((v[2] - exact).abs() < 0.05, "{l}: exact {exact}");
    }

    // A finished run refuses a fresh start; --resume with a different config is refused.
    let again = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let other = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(
        other.status.code(),
        Some(1),
        "seed differs from the run's config"
    );
    let same = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--resume",
        "--set",
        "train.seed=2",
    ]);
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );

    // eval errors: a missing column, a non-number.
    fs::write(&pts, "x,z\n0.5,0.5\n").unwrap();
    let bad = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--points",
        pts.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'y'"));
    fs::write(&pts, "x,y\n0.5,abc\n").unwrap();
    let bad = nabla(&[
        "eval",
        run.to_str().unwrap(),
        "--points",
        pts.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 2"));
}

#[test]
fn config_errors_are_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            CONFIG.replace("hidden = [16, 16]", "hiden = [16]"),
            "model.hiden",
        ),
        (
            CONFIG.replace("pde = \"poisson\"", "pde = \"poison\""),
            "problem.pde",
        ),
        (
            CONFIG.replace("sin(pi*x)*sin(pi*y)\"\n[[", "sin(pi*q)\"\n[["),
            "problem.exact",
        ),
        (CONFIG.replace("task = \"pinn\"", "task = \"fno\""), "task"),
        (
            CONFIG.replace("steps = 500", "steps = -1"),
            "train.optimizer",
        ),
        (CONFIG.replace("lr = 5e-3", "lr = 0"), "train.optimizer[0]"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("c{i}.toml"));
        fs::write(&cfg, text).unwrap();
        let run = dir.path().join(format!("r{i}"));
        let out = nabla(&[
            "train",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{key}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(key), "expected '{key}' in: {err}");
        assert!(!run.exists(), "nothing written for a bad config");
    }
    let bad_set = nabla(&["train", "configs/none.toml"]);
    assert_eq!(bad_set.status.code(), Some(1));
}

/// The shipped multi-domain config, shrunk: trains, resumes nothing, and `nabla eval`
/// answers at points on both sides of the cut from the right piece (values close to the exact
/// solution on each side).
#[test]
fn multi_domain_pinn_trains_and_evaluates_each_point_with_its_piece() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("xpinn");
    let cfg =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/xpinn_poisson2d.toml");
    let o = nabla(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "model.hidden=[16,16]",
        "--set",
        "sampling.interior=400",
        "--set",
        "train.progress=false",
        "--set",
        "train.optimizer=[{kind=\"adam\",steps=300,lr=5e-3},{kind=\"lbfgs\",iterations=600}]",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["parameters"], 2 * (2 * 16 + 16 + 16 * 16 + 16 + 17));
    assert!(s["rel_l2"].as_f64().unwrap() < 2e-2, "{}", s["rel_l2"]);
    let pts = dir.path().join("pts.csv");
    fs::write(&pts, "x,y\n0.25,0.5\n0.75,0.5\n0.5,0.3\n").unwrap();
    let pred = dir.path().join("pred.csv");
    let o = nabla(&[
        "eval",
        out.to_str().unwrap(),
        "--points",
        pts.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(&pred).unwrap();
    for line in text.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let exact = (std::f64::consts::PI * v[0]).sin() * (std::f64::consts::PI * v[1]).sin();
        assert!((v[2] - exact).abs() < 3e-2, "{line}: exact {exact}");
    }
}
