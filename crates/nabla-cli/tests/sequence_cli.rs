//! End-to-end tests of `nabla sequence`: the report contract, iteration counting shared with
//! `nabla poisson`, and bad input.

use nabla::sparse::tuning::{solve_with_omega, OmegaSolver};
use nabla::sparse::{GridPoisson, RhsKind, SolveOptions};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).expect("report written")).expect("report is JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn poisson_sor_and_the_sequence_runner_count_iterations_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    for omega in ["1.0", "1.6", "1.85"] {
        let path = dir.path().join(format!("p{omega}.json"));
        let out = nabla(&[
            "poisson",
            "--grid",
            "10x10",
            "--solver",
            "sor",
            "--omega",
            omega,
            "--seed",
            "3",
            "--quiet",
            "--report",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let cli_iters = report(&path)["iterations"].as_u64().unwrap();
        // The runner's solve call on the same system and right-hand side.
        let g = GridPoisson::new("10x10".parse().unwrap());
        let (a, b) = (g.matrix(), g.rhs(RhsKind::Random, 3));
        let mut x = vec![0.0; b.len()];
        let opts = SolveOptions {
            tol: 1e-8,
            record_history: false,
            ..Default::default()
        };
        let w: f64 = omega.parse().unwrap();
        let rep = solve_with_omega(OmegaSolver::Sor, &a, &b, &mut x, w, &opts).unwrap();
        assert_eq!(rep.iterations as u64, cli_iters, "omega {omega}");
    }
}

#[test]
fn all_writes_the_report_contract_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r.json");
    let png = dir.path().join("cum.png");
    let out = nabla(&[
        "sequence",
        "--problem",
        "shifted-laplacian",
        "--grid",
        "6x6",
        "--instances",
        "25",
        "--solver",
        "sor",
        "--tuner",
        "all",
        "--seed",
        "1",
        "--quiet",
        "--report",
        r.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fs::metadata(&png).unwrap().len() > 1000);
    let v = report(&r);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 23);
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for n in [
        "fixed omega=1.00",
        "fixed omega=1.95",
        "tsallis-inf",
        "chebcb",
        "instance-optimal",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    let mut best = (u64::MAX, 0.0);
    for run in runs {
        let iters = run["iterations"].as_array().unwrap();
        let omega = run["omega"].as_array().unwrap();
        assert_eq!(iters.len(), 25);
        assert_eq!(omega.len(), 25);
        let total: u64 = iters.iter().map(|i| i.as_u64().unwrap()).sum();
        assert_eq!(total, run["total_iterations"].as_u64().unwrap());
        if run["name"].as_str().unwrap().starts_with("fixed") && total < best.0 {
            best = (total, omega[0].as_f64().unwrap());
        }
    }
    assert_eq!(v["best_fixed_omega"].as_f64().unwrap(), best.1);
    // Same seed, same numbers.
    let r2 = dir.path().join("r2.json");
    let out = nabla(&[
        "sequence",
        "--grid",
        "6x6",
        "--instances",
        "25",
        "--tuner",
        "chebcb",
        "--seed",
        "1",
        "--quiet",
        "--report",
        r2.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cheb_all = runs.iter().find(|r| r["name"] == "chebcb").unwrap();
    assert_eq!(report(&r2)["runs"][0]["iterations"], cheb_all["iterations"]);
}

#[test]
fn heat_ssor_pcg_runs() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("h.json");
    let out = nabla(&[
        "sequence",
        "--problem",
        "heat",
        "--grid",
        "12x12",
        "--instances",
        "8",
        "--solver",
        "ssor-pcg",
        "--tuner",
        "tsallis-inf",
        "--compare-cg",
        "--quiet",
        "--report",
        r.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = report(&r);
    assert_eq!(v["runs"][0]["name"], "tsallis-inf");
    assert_eq!(v["context"], "kappa*dt/h^2");
    assert_eq!(v["cg_baseline"]["iterations"].as_array().unwrap().len(), 8);
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("bad.json");
    let rs = r.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tuner", "fixed", "--omega", "2.5"],
            "--omega must be in (0, 2)",
        ),
        (
            vec!["--tuner", "fixed", "--omega", "0"],
            "--omega must be in (0, 2)",
        ),
        (
            vec!["--tuner", "tsallis-inf", "--omega", "1.5"],
            "only used with --tuner fixed",
        ),
        (vec!["--grid", "8"], "2-D"),
        (vec!["--instances", "0"], "at least 1"),
        (vec!["--tol", "2"], "--tol must be in (0, 1)"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["sequence", "--quiet", "--report", rs];
        args.extend(flags.iter());
        let out = nabla(&args);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{flags:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!r.exists());
    }
}

/// `--problem pinn-family`: a two-instance METALIC sequence writes its report (every tuner,
/// per-instance picks, hindsight best) and plot; a bad tuner is a one-line usage error.
#[test]
fn pinn_family_sequence_writes_report_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let plot = dir.path().join("e.png");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args([
            "sequence",
            "--problem",
            "pinn-family",
            "--family",
            "advection",
            "--instances",
            "2",
            "--hindsight-arms",
            "1",
            "--adam-steps",
            "20",
            "--lbfgs-iterations",
            "10",
            "--quiet",
            "--report",
            report.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("metalic-2stage") && stdout.contains("best in hindsight"),
        "{stdout}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["family"], "advection");
    assert_eq!(r["instances"].as_array().unwrap().len(), 2);
    assert_eq!(r["tuners"].as_array().unwrap().len(), 4);
    assert_eq!(r["tuners"][3]["name"], "fixed:solution+flux");
    // METALIC plays UCB on the first half of the instances, then exploits (the default).
    assert_eq!(r["metalic_play"], 1);
    assert_eq!(r["metalic_initial"], serde_json::json!([]));
    assert!(plot.is_file());
    let e = pinn_family_error(&["--tuners", "metalic,oracle"]);
    assert!(e.contains("unknown tuner 'oracle'"), "{e}");
    let e = pinn_family_error(&["--metalic-initial", "solution+flux,solution+glue"]);
    assert!(
        e.contains("--metalic-initial") && e.contains("'glue'"),
        "{e}"
    );
}

/// The stderr of `nabla sequence --problem pinn-family ARGS`, asserted to fail with one line.
fn pinn_family_error(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(["sequence", "--problem", "pinn-family"])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    e
}
