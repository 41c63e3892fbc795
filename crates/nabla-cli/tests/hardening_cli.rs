//! One case per class of hostile input (issue 20): a closed or full stdout, absurd sizes,
//! absurd thread counts, partial outputs, outputs over inputs, ignored flags, the Ctrl-C exit
//! code and messages that must name the real cause. Every failure must be one line on stderr,
//! a non-zero exit and no output left behind.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

/// Asserts a failure with exit code 1 and one stderr line containing every needle.
fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
    err
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_a_one_line_error() {
    for args in [
        vec!["poisson", "--grid", "128x128", "--solver", "cg", "--quiet"],
        vec![
            "wos",
            "--domain",
            "ball:dim=2",
            "--grid",
            "16x16",
            "--boundary",
            "x",
            "--walks",
            "16",
            "--quiet",
        ],
    ] {
        // The reader closes the pipe before nabla writes its summary.
        let mut child = Command::new(env!("CARGO_BIN_EXE_nabla"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");

        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        assert_one_line_error(&out, &["stdout", "No space left"]);
    }
}

#[test]
fn absurd_sizes_are_refused_up_front_with_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let pinn = repo_file("configs/pinn_poisson2d.toml");
    let (huge_net, huge_eval, huge_set, huge_run) = (d("net"), d("eval"), d("set.h5"), d("run"));
    let cases: Vec<Vec<&str>> = vec![
        vec!["poisson", "--grid", "100000x100000"],
        vec!["poisson", "--grid", "3000x3000x3000", "--solver", "cg"],
        vec![
            "wos",
            "--domain",
            "box:dim=2",
            "--grid",
            "100000x100000",
            "--boundary",
            "x",
        ],
        vec!["sequence", "--grid", "100000x100000"],
        vec![
            "datagen",
            "darcy",
            "--samples",
            "1000000000000",
            "--out",
            &huge_set,
        ],
        vec![
            "train",
            &pinn,
            "--set",
            "model.hidden=[100000,100000]",
            "--out",
            &huge_net,
        ],
        vec![
            "train",
            &pinn,
            "--set",
            "eval.grid=100000",
            "--out",
            &huge_eval,
        ],
        // The limit can be lowered (and raised) on purpose.
        vec!["poisson", "--grid", "64x64", "--max-memory", "1K"],
    ];
    for args in &cases {
        let out = nabla(args);
        assert_one_line_error(&out, &["of memory needed", "--max-memory"]);
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    let _ = huge_run;

    let out = nabla(&["poisson", "--grid", "64x64", "--threads", "99999999999"]);
    assert_one_line_error(&out, &["--threads", "per core"]);
    let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(["poisson", "--grid", "64x64"])
        .env("NABLA_MAX_MEMORY", "lots")
        .output()
        .unwrap();
    assert_one_line_error(&out, &["NABLA_MAX_MEMORY", "'lots'"]);
}

#[test]
fn a_failing_output_leaves_no_output_and_inputs_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    // A zero right-hand side solves (x = 0) but its residual history has nothing to draw on
    // a log scale: the history plot fails, so the solution and report must not appear either.
    fs::write(
        p("zero.mtx"),
        "%%MatrixMarket matrix array real general\n4 1\n0\n0\n0\n0\n",
    )
    .unwrap();
    let s = |name: &str| p(name).display().to_string();
    let out = nabla(&[
        "poisson",
        "--grid",
        "2x2",
        "--solver",
        "cg",
        "--rhs-file",
        &s("zero.mtx"),
        "--quiet",
        "--out",
        &s("sol.h5"),
        "--report",
        &s("r.json"),
        "--history-plot",
        &s("h.png"),
    ]);
    assert_one_line_error(&out, &["h.png", "cannot plot"]);
    assert_eq!(entries(dir.path()), vec!["zero.mtx"]);

    // An output naming an input (here through ./) is refused; the input is untouched.
    let a = p("A.mtx");
    fs::copy(repo_file("datasets/fe_p1_lshape.mtx"), &a).unwrap();
    let before = fs::read(&a).unwrap();
    let via_dot: PathBuf = dir.path().join(".").join("A.mtx");
    let out = nabla(&[
        "poisson",
        "--matrix",
        a.to_str().unwrap(),
        "--report",
        via_dot.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["would be overwritten"]);
    assert_eq!(fs::read(&a).unwrap(), before);

    // Flags that would be ignored are errors.
    for (args, needle) in [
        (
            vec!["--matrix", a.to_str().unwrap(), "--mask", "m.h5"],
            "--mask",
        ),
        (
            vec!["--grid", "8x8", "--solver", "cg", "--omega", "1.5"],
            "--omega",
        ),
        (vec!["--grid", "8x8", "--directions", "4"], "--directions"),
        (
            vec!["--grid", "8x8", "--rhs", "ones", "--seed", "3"],
            "--seed",
        ),
    ] {
        let out = nabla(&[&["poisson"], args.as_slice()].concat());
        assert_one_line_error(&out, &[needle]);
    }
}

#[test]
fn a_pinn_with_a_non_finite_expression_fails_before_training_and_leaves_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let pinn = repo_file("configs/pinn_poisson2d.toml");
    let out = nabla(&[
        "train",
        &pinn,
        "--set",
        "problem.exact=\"1/0\"",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["problem.exact", "inf"]);
    assert!(!run.exists());

    // Walk-on-Spheres would average NaN boundary values into NaN estimates.
    let csv = dir.path().join("u.csv");
    let out = nabla(&[
        "wos",
        "--domain",
        "ball:dim=2",
        "--grid",
        "8x8",
        "--boundary",
        "log(x)",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["--boundary 'log(x)'", "NaN"]);
    assert!(!csv.exists());

    // `--set key=0x10` stays the string "0x10" (TOML would read a hex integer 16).
    let out = nabla(&[
        "train",
        &repo_file("configs/dcdm_poisson64.toml"),
        "--set",
        "grid=0x10",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["grid", "'0x10'"]);
    assert!(!run.exists());
}

#[test]
fn ctrl_c_during_training_keeps_the_checkpoint_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args([
            "train",
            &repo_file("configs/pinn_poisson2d.toml"),
            "--set",
            "train.checkpoint_every=10",
            "--out",
            run.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, so the interrupt lands inside the training loop.
    let ckpt = run.join("checkpoint.safetensors");
    let mut waited = 0;
    while !ckpt.exists() && waited < 600 {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    assert!(ckpt.exists(), "no checkpoint after 60 s");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(ckpt.exists() && run.join("config.toml").exists());
}

#[test]
fn dcdm_orthogonalizes_against_16_directions_by_default() {
    let out = nabla(&["poisson", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    let at = help.find("--directions").expect("--directions in help");
    assert!(help[at..].contains("[default: 16]"), "{}", &help[at..]);
}

#[test]
fn messages_name_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();

    // Overflow is not indefiniteness.
    fs::write(
        p("big.mtx"),
        "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n1 1 1e308\n2 2 1e308\n",
    )
    .unwrap();
    let out = nabla(&[
        "poisson",
        "--matrix",
        &p("big.mtx"),
        "--solver",
        "cg",
        "--quiet",
    ]);
    let err = assert_one_line_error(&out, &["overflow"]);
    assert!(!err.contains("positive definite"), "{err}");

    // A matrix where a vector belongs says so.
    let a = repo_file("datasets/fe_p1_lshape.mtx");
    let out = nabla(&["poisson", "--matrix", &a, "--rhs-file", &a, "--quiet"]);
    let err = assert_one_line_error(&out, &["matrix", "not a vector"]);
    assert!(!err.contains("must be stored as"), "{err}");

    // Row numbers count from 1, as in the file.
    fs::write(
        p("nodiag.mtx"),
        "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n2 1 1\n2 2 1\n",
    )
    .unwrap();
    let out = nabla(&["poisson", "--matrix", &p("nodiag.mtx"), "--quiet"]);
    assert_one_line_error(&out, &["row 1"]);

    // inspect describes a PDEBench-style file whose name has extra tokens, and says which
    // tokens it could not parse.
    let kdv = dir.path().join("1D_KdV_delta=2.5_train_100.h5");
    let out = nabla(&[
        "poisson",
        "--grid",
        "8x8",
        "--quiet",
        "--out",
        kdv.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = nabla(&["inspect", kdv.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("delta") && text.contains("not parsed"),
        "{text}"
    );
    assert!(text.contains("train") && text.contains("100"), "{text}");
    assert!(
        text.contains("unknown") && text.contains("[64] f64"),
        "{text}"
    );

    // A text file is still a one-line error.
    fs::write(p("x.h5"), "not hdf5").unwrap();
    let out = nabla(&["inspect", &p("x.h5")]);
    assert_one_line_error(&out, &["x.h5", "not an HDF5 file"]);
}

/// The classes the hostile-input sweep (`scripts/hostile_sweep.py`) found after the first
/// slice: limits that must hold under `ulimit -v`, work without an up-front bound, and settings
/// that were silently ignored or degenerate.
#[test]
fn limits_hold_under_ulimit_and_unbounded_work_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_nabla");
    // 81 M unknowns fit in 22 GiB of RAM but not in 6 GB of address space; --max-memory
    // cannot lift ulimit -v either.
    for extra in ["", " --max-memory 100T"] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 6000000; exec {bin} poisson --grid 9000x9000{extra}"
            ))
            .output()
            .unwrap();
        assert_one_line_error(&out, &["of memory needed"]);
    }

    let pinn = repo_file("configs/pinn_poisson2d.toml");
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let deep = format!("model.hidden=[{}]", vec!["4"; 1001].join(","));
    let dcdm = repo_file("configs/dcdm_poisson64.toml");
    let wosno = repo_file("configs/wosno_poisson_star.toml");
    let lshape = repo_file("datasets/fe_p1_lshape.mtx");
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec![
                "wos",
                "--domain",
                "ball:dim=2",
                "--grid",
                "3x3",
                "--boundary",
                "x",
                "--walks",
                "18446744073709551615",
            ],
            &["--walks", "at most"],
        ),
        (
            vec!["poisson", "--matrix", &lshape, "--amg-sweeps", "1000000000"],
            &["--amg-sweeps", "at most"],
        ),
        (
            vec![
                "datagen",
                "kdv",
                "--max-dt",
                "1e-300",
                "--train",
                "1",
                "--trajectories",
                "1",
                "--out",
                run_s,
            ],
            &["max_dt 1e-300", "too small"],
        ),
        (
            vec!["sequence", "--instances", "1000000000000"],
            &["--instances", "of memory needed"],
        ),
        (
            vec![
                "sequence",
                "--problem",
                "heat",
                "--shift-distribution",
                "low",
            ],
            &["--shift-distribution", "heat"],
        ),
        (
            vec!["train", &pinn, "--set", &deep, "--out", run_s],
            &["model.hidden", "1001"],
        ),
        (
            vec![
                "train",
                &pinn,
                "--set",
                "sampling.boundary=0",
                "--out",
                run_s,
            ],
            &["sampling.boundary", "not be"],
        ),
        (
            vec![
                "train",
                &dcdm,
                "--set",
                "model.channels=1000000",
                "--out",
                run_s,
            ],
            &["DCDM", "of memory needed"],
        ),
        (
            vec![
                "train",
                &wosno,
                "--set",
                "grid.points=100000",
                "--out",
                run_s,
            ],
            &["WoS-NO", "of memory needed"],
        ),
    ];
    for (args, needles) in cases {
        let out = nabla(&args);
        assert_one_line_error(&out, needles);
        assert!(!run.exists(), "{args:?} left {}", run.display());
    }

    // --help on a full stdout is an error too, not a silent exit 0.
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(bin)
        .arg("--help")
        .stdout(full)
        .output()
        .unwrap();
    assert_one_line_error(&out, &["stdout", "No space left"]);

    // An all-zero near-nullspace vector is no mode at all.
    let zeros = dir.path().join("ns.mtx");
    let a = repo_file("datasets/fe_p1_lshape.mtx");
    let rows: usize = fs::read_to_string(&a)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('%'))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap();
    let mut text = format!("%%MatrixMarket matrix array real general\n{rows} 1\n");
    text.push_str(&"0\n".repeat(rows));
    fs::write(&zeros, text).unwrap();
    let out = nabla(&[
        "poisson",
        "--matrix",
        &a,
        "--near-nullspace",
        zeros.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, &["near-nullspace vector 1 is zero"]);
}
