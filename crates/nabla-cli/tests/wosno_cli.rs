//! End-to-end: `nabla train` on shrunken copies of the shipped WoS-NO configs (FNO and GINO; the run
//! directory contract of WoS-NO runs) and one-line config errors that name the key.

use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

const SHRINK: &[&str] = &[
    "--set",
    "grid.points=16",
    "--set",
    "model.modes=4",
    "--set",
    "model.width=8",
    "--set",
    "model.layers=2",
    "--set",
    "model.projection=16",
    "--set",
    "train.steps=20",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.points=32",
    "--set",
    "train.log_every=10",
    "--set",
    "train.progress=false",
    "--set",
    "test.instances=4",
    "--set",
    "test.walks=64",
];

#[test]
fn shipped_configs_train_and_fill_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "wosno_poisson_star.toml",
        "pino_poisson_star.toml",
        "gino_wosno_poisson.toml",
        "gino_pino_poisson.toml",
    ] {
        let out_dir = dir.path().join(name);
        let cfg = shipped(name);
        let mut args = vec!["train", cfg.as_str(), "--out", out_dir.to_str().unwrap()];
        args.extend_from_slice(SHRINK);
        let gino = name.starts_with("gino");
        if gino {
            args.extend_from_slice(&["--set", "test.ood_instances=2"]);
        }
        let out = nabla(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        for f in [
            "config.toml",
            "checkpoint.safetensors",
            "metrics.csv",
            "summary.json",
            "loss.png",
            "samples.png",
            "truth.h5",
        ] {
            assert!(out_dir.join(f).is_file(), "{name}: {f} missing");
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
                .unwrap();
        for key in [
            "test_rel_l2",
            "truth_rel_stderr",
            "seconds_per_step",
            "peak_rss_mib",
            "steps",
        ] {
            assert!(s[key].is_number(), "{name}: {key} = {}", s[key]);
        }
        assert_eq!(s["steps"], 20);
        assert_eq!(s["test_instances"], 4);
        if gino {
            // u, ∇u, Δu and the PDE residual at a user's points of a new instance.
            let pts = out_dir.join("pts.csv");
            std::fs::write(&pts, "y,x\n0.1,0\n-0.3,0.4\n0,1.3\n").unwrap();
            let pred = out_dir.join("pred.csv");
            let out = nabla(&[
                "eval",
                out_dir.to_str().unwrap(),
                "--points",
                pts.to_str().unwrap(),
                "--instance",
                "-0.1,0.05,0.3,0.2,-0.5,0.1,1.0,-0.5,0.2,0.5,-0.3,0.1,0.4",
                "--harmonics",
                "3,6",
                "--out",
                pred.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = std::fs::read_to_string(&pred).unwrap();
            let mut lines = text.lines();
            assert_eq!(
                lines.next().unwrap(),
                "y,x,u,du_dx,du_dy,laplacian,f,residual,inside"
            );
            let rows: Vec<Vec<f64>> = lines
                .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
                .collect();
            assert_eq!(rows.len(), 3);
            for r in &rows {
                assert!(r.iter().all(|v| v.is_finite()));
                assert!((r[7] - (r[5] - r[6])).abs() < 1e-6 * (1.0 + r[7].abs()));
            }
            // f = Σ βᵢ exp(−|x − μᵢ|²) at (x, y) = (0, 0.1).
            let f = (-(0.3f64.powi(2) + 0.1f64.powi(2))).exp()
                - 0.5 * (-(0.5f64.powi(2) + 0.0f64.powi(2))).exp();
            assert!((rows[0][6] - f).abs() < 1e-12);
            assert_eq!((rows[0][8], rows[2][8]), (1.0, 0.0));
            // A wrong instance is a one-line error.
            let bad = nabla(&[
                "eval",
                out_dir.to_str().unwrap(),
                "--points",
                pts.to_str().unwrap(),
                "--instance",
                "1,2",
                "--out",
                out_dir.join("bad.csv").to_str().unwrap(),
            ]);
            assert!(!bad.status.success());
            let e = String::from_utf8_lossy(&bad.stderr);
            assert!(
                e.contains("expected 13") && e.trim().lines().count() == 1,
                "{e}"
            );
            assert_eq!(s["model_kind"], "gino");
            assert!(
                out_dir.join("truth_ood.h5").is_file(),
                "{name}: truth_ood.h5"
            );
            assert!(s["ood_test_rel_l2"].is_number() && s["ood_ratio"].is_number());
        } else {
            assert!(s["ood_test_rel_l2"].is_null());
        }
        let metrics = std::fs::read_to_string(out_dir.join("metrics.csv")).unwrap();
        assert!(metrics.lines().next().unwrap().contains("test_rel_l2"));
    }
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipped("wosno_poisson_star.toml");
    let out_dir = dir.path().join("run");
    let out = dir.path().join("run").to_string_lossy().into_owned();
    for (set, key) in [
        ("train.wlaks=10", "wlaks"),
        ("grid.half_width=1.0", "grid.half_width"),
        ("train.loss=\"pde\"", "train.loss"),
        ("train.walks=0", "train.walks"),
        ("test.walks=-3", "test.walks"),
    ] {
        let o = nabla(&["train", &cfg, "--out", &out, "--set", set]);
        assert!(!o.status.success(), "{set} was accepted");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(e.trim().lines().count(), 1, "{set}: {e}");
        assert!(e.contains(key), "{set}: {e}");
        assert!(!out_dir.join("checkpoint.safetensors").exists());
    }
}
