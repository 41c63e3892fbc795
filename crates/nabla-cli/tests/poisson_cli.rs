//! End-to-end tests of `nabla poisson`: every solver's output file is checked against a residual
//! computed here from scratch, and every kind of bad input must give one error line, a non-zero
//! exit and no output file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        // HDF5 opens files without close-on-exec: a child spawned by another test thread
        // while this process has an HDF5 file open inherits its lock, and the CLI's read then
        // fails with EAGAIN (seen once in CI). Locking guards nothing in these tests.
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
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

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).expect("report written")).expect("report is JSON")
}

/// ‖b − A x‖ / ‖b‖ for the h²-scaled 5-/7-point Laplacian on `dims`, written out here so the
/// check shares no code with the solver.
fn grid_relres(dims: &[usize], x: &[f64], b: &[f64]) -> f64 {
    let (nx, ny, nz) = (
        dims[0],
        *dims.get(1).unwrap_or(&1),
        *dims.get(2).unwrap_or(&1),
    );
    let diag = 2.0 * dims.len() as f64;
    let at = |i: isize, j: isize, k: isize| -> f64 {
        if i < 0 || j < 0 || k < 0 || i >= nx as isize || j >= ny as isize || k >= nz as isize {
            0.0
        } else {
            x[i as usize + nx * (j as usize + ny * k as usize)]
        }
    };
    let (mut rr, mut bb) = (0.0, 0.0);
    for k in 0..nz as isize {
        for j in 0..ny as isize {
            for i in 0..nx as isize {
                let mut ax = diag * at(i, j, k) - at(i - 1, j, k) - at(i + 1, j, k);
                if dims.len() > 1 {
                    ax -= at(i, j - 1, k) + at(i, j + 1, k);
                }
                if dims.len() > 2 {
                    ax -= at(i, j, k - 1) + at(i, j, k + 1);
                }
                let p = i as usize + nx * (j as usize + ny * k as usize);
                rr += (b[p] - ax).powi(2);
                bb += b[p] * b[p];
            }
        }
    }
    (rr / bb).sqrt()
}

/// Relative residual of a MatrixMarket `symmetric` file's matrix, parsed here by hand.
fn mtx_relres(path: &str, x: &[f64], b: &[f64]) -> f64 {
    let text = fs::read_to_string(path).unwrap();
    let mut ax = vec![0.0; x.len()];
    let mut lines = text.lines().filter(|l| !l.starts_with('%'));
    lines.next(); // size line
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (i, j, v): (usize, usize, f64) = (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        );
        ax[i - 1] += v * x[j - 1];
        if i != j {
            ax[j - 1] += v * x[i - 1];
        }
    }
    let rr: f64 = ax.iter().zip(b).map(|(p, q)| (q - p).powi(2)).sum();
    let bb: f64 = b.iter().map(|v| v * v).sum();
    (rr / bb).sqrt()
}

/// The HDF5 references of the XDMF sidecar `FILE.xdmf` beside `h5`: checks that it exists,
/// names `h5` by its final file name (never a temporary one) and that every dataset it names
/// is in `h5`; returns `(dataset, Dimensions)` per reference.
fn sidecar_refs(h5: &Path) -> Vec<(String, String)> {
    let xml = fs::read_to_string(h5.with_extension("xdmf")).expect("sidecar written");
    assert!(xml.starts_with("<?xml") && xml.contains("<Xdmf Version=\"3.0\">"));
    assert!(
        !xml.contains(".nabla-"),
        "a temporary name in the sidecar: {xml}"
    );
    let name = h5.file_name().unwrap().to_str().unwrap();
    let mut refs = Vec::new();
    for item in xml.split("<DataItem ").skip(1) {
        let Some((head, rest)) = item.split_once('>') else {
            continue;
        };
        if !head.contains("Format=\"HDF\"") {
            continue;
        }
        let text = rest.split('<').next().unwrap();
        let (file, dataset) = text.split_once(":/").expect("FILE:/dataset");
        assert_eq!(file, name, "{xml}");
        let (shape, _) = nabla::data::read_f64_dataset(h5, dataset).expect("dataset exists");
        let dims = head.split("Dimensions=\"").nth(1).unwrap();
        let dims = dims.split('"').next().unwrap().to_string();
        let want: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        assert_eq!(dims, want.join(" "), "Dimensions of {dataset}");
        refs.push((dataset.to_string(), dims));
    }
    refs
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Solves with `solver` and checks the output file against an independent residual.
fn check_solver(problem: &[&str], solver: &str, residual: &dyn Fn(&[f64], &[f64]) -> f64) {
    let run = Run::new();
    let (out, rep) = (run.path("sol.h5"), run.path("r.json"));
    let mut args = vec!["poisson", "--solver", solver, "--tol", "1e-9"];
    if matches!(solver, "sor" | "ssor" | "ssor-pcg") {
        args.extend_from_slice(&["--omega", "1.6"]);
    }
    args.extend_from_slice(problem);
    args.extend_from_slice(&[
        "--out",
        out.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
    ]);
    let o = nabla(&args);
    assert!(
        o.status.success(),
        "{solver}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = report(&rep);
    let (_, x) = nabla::data::read_f64_dataset(&out, "x").unwrap();
    let (_, b) = nabla::data::read_f64_dataset(&out, "b").unwrap();
    let independent = residual(&x, &b);
    let claimed = r["relative_residual"].as_f64().unwrap();
    assert!(r["converged"].as_bool().unwrap(), "{solver}");
    assert_eq!(r["solver"], solver);
    assert!(independent <= 1e-9, "{solver}: residual {independent}");
    assert!(
        (independent - claimed).abs() <= 1e-6 * independent + 1e-13,
        "{solver}: report says {claimed}, recomputed {independent}"
    );
    let iters = r["iterations"].as_u64().unwrap() as usize;
    assert_eq!(r["residual_history"].as_array().unwrap().len(), iters + 1);
    for key in ["unknowns", "nonzeros", "setup_seconds", "solve_seconds"] {
        assert!(r[key].is_number(), "{key} missing");
    }
}

const SOLVERS: [&str; 9] = [
    "cg",
    "jacobi-pcg",
    "ic0-pcg",
    "ssor-pcg",
    "mg-pcg",
    "amg-pcg",
    "amg",
    "sor",
    "ssor",
];

#[test]
fn every_solver_is_right_on_2d_and_3d_grids() {
    for (grid, dims) in [("23x17", vec![23, 17]), ("9x8x7", vec![9, 8, 7])] {
        for solver in SOLVERS {
            check_solver(
                &["--grid", grid, "--rhs", "random", "--seed", "3"],
                solver,
                &|x, b| grid_relres(&dims, x, b),
            );
        }
    }
}

#[test]
fn every_solver_but_multigrid_is_right_on_a_matrix_market_input() {
    let (a, b) = (
        repo_file("datasets/poisson2d_16x16.mtx"),
        repo_file("datasets/poisson2d_16x16_rhs.mtx"),
    );
    for solver in SOLVERS.iter().filter(|s| **s != "mg-pcg") {
        check_solver(&["--matrix", &a, "--rhs-file", &b], solver, &|x, bv| {
            mtx_relres(&a, x, bv)
        });
    }
}

#[test]
fn grid_field_and_mask_layout() {
    let run = Run::new();
    let out = run.path("sol.h5");
    let mask = repo_file("datasets/mask_box_64x64.h5");
    let o = nabla(&[
        "poisson",
        "--grid",
        "64x64",
        "--mask",
        &mask,
        "--rhs",
        "ones",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--plot",
        run.path("u.png").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (shape, u) = nabla::data::read_f64_dataset(&out, "u").unwrap();
    let (_, x) = nabla::data::read_f64_dataset(&out, "x").unwrap();
    assert_eq!(shape, vec![64, 64]);
    assert_eq!(x.len(), 64 * 64 - 256);
    // Solid box 24 ≤ i, j < 40 is 0; fluid cells carry x in grid order.
    let mut fluid = x.iter();
    for j in 0..64 {
        for i in 0..64 {
            let v = u[i + 64 * j];
            if (24..40).contains(&i) && (24..40).contains(&j) {
                assert_eq!(v, 0.0);
            } else {
                assert_eq!(v, *fluid.next().unwrap());
                assert!(v > 0.0, "−Δu = 1 with u = 0 on walls is positive");
            }
        }
    }
    assert!(fs::metadata(run.path("u.png")).unwrap().len() > 1000);
    // The XDMF sidecar: u on the 64x64 grid; no b (it lives on the fluid cells only).
    assert_eq!(run.files(), ["sol.h5", "sol.xdmf", "u.png"]);
    assert_eq!(sidecar_refs(&out), [("u".to_string(), "64 64".to_string())]);
    let xml = fs::read_to_string(run.path("sol.xdmf")).unwrap();
    assert!(
        xml.contains(r#"TopologyType="2DRectMesh" Dimensions="64 64""#),
        "{xml}"
    );
}

#[test]
fn the_sidecar_is_written_for_grids_only_and_checked_like_an_output() {
    let run = Run::new();
    let out = run.path("s.h5");
    let o = nabla(&[
        "poisson",
        "--grid",
        "6x5x4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        sidecar_refs(&out),
        [
            ("u".to_string(), "4 5 6".to_string()),
            ("b".to_string(), "120".to_string())
        ]
    );
    let xml = fs::read_to_string(run.path("s.xdmf")).unwrap();
    assert!(
        xml.contains(r#"TopologyType="3DCoRectMesh" Dimensions="4 5 6""#),
        "{xml}"
    );
    // b over the unknowns is read as the grid's 4x5x6 nodes through a HyperSlab.
    assert!(
        xml.contains(r#"ItemType="HyperSlab" Dimensions="4 5 6""#),
        "{xml}"
    );

    // A MatrixMarket system has no grid: no sidecar.
    let m = Run::new();
    let out = m.path("m.h5");
    let o = nabla(&[
        "poisson",
        "--matrix",
        &repo_file("datasets/poisson2d_16x16.mtx"),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(m.files(), ["m.h5"]);

    // The sidecar path is an output: it may not be an input or another output.
    let mask = run.path("mask.xdmf");
    fs::copy(repo_file("datasets/mask_box_64x64.h5"), &mask).unwrap();
    let mask_s = mask.to_str().unwrap().to_string();
    expect_error(
        &run,
        &[
            "--grid",
            "64x64",
            "--mask",
            &mask_s,
            "--out",
            run.path("mask.h5").to_str().unwrap(),
        ],
        "would be overwritten",
    );
    expect_error(
        &run,
        &[
            "--grid",
            "8x8",
            "--plot",
            run.path("sol.xdmf").to_str().unwrap(),
        ],
        "is given for two outputs",
    );
}

#[test]
fn default_problem_runs_and_threads_do_not_change_iterations() {
    let o = nabla(&["poisson", "--quiet"]);
    assert!(o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("grid 256x256") && stdout.contains("mg-pcg"),
        "{stdout}"
    );
    let run = Run::new();
    for solver in ["cg", "amg-pcg"] {
        let histories: Vec<serde_json::Value> = ["1", "2"]
            .iter()
            .map(|t| {
                let rep = run.path(&format!("r{t}.json"));
                let o = nabla(&[
                    "poisson",
                    "--grid",
                    "40x30x20",
                    "--solver",
                    solver,
                    "--threads",
                    t,
                    "--quiet",
                    "--report",
                    rep.to_str().unwrap(),
                ]);
                assert!(o.status.success());
                report(&rep)["residual_history"].clone()
            })
            .collect();
        assert_eq!(histories[0], histories[1], "{solver}");
    }
}

#[test]
fn stopping_at_max_iters_exits_3_with_the_report_written() {
    let run = Run::new();
    let rep = run.path("r.json");
    let o = nabla(&[
        "poisson",
        "--grid",
        "32x32",
        "--solver",
        "cg",
        "--max-iters",
        "3",
        "--quiet",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let r = report(&rep);
    assert_eq!(r["converged"], false);
    assert_eq!(r["iterations"], 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("did not converge"));
}

/// Runs nabla expecting failure: exit code 1, exactly one stderr line `error: ...` containing
/// `needle`, and nothing left in the output directory.
fn expect_error(run: &Run, args: &[&str], needle: &str) {
    let out = run.path("sol.h5");
    let rep = run.path("r.json");
    let mut all = vec!["poisson", "--quiet"];
    all.extend_from_slice(args);
    if !args.contains(&"--out") {
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    }
    all.extend_from_slice(&["--report", rep.to_str().unwrap()]);
    let before = run.files();
    let o = nabla(&all);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one error line, got {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected '{needle}' in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        run.files(),
        before,
        "{args:?}: no output (or temporary) file left"
    );
}

#[test]
fn bad_input_is_one_error_line_and_no_output() {
    let run = Run::new();
    let write = |name: &str, text: &str| {
        let p = run.path(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let banner = "%%MatrixMarket matrix coordinate real general\n";
    let sym = "%%MatrixMarket matrix coordinate real symmetric\n";
    let malformed = write(
        "malformed.mtx",
        "%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 abc\n2 2 1\n",
    );
    let truncated = write("truncated.mtx", &format!("{banner}3 3 3\n1 1 1\n2 2 1\n"));
    let nonsquare = write("nonsquare.mtx", &format!("{banner}2 3 2\n1 1 1\n2 2 1\n"));
    let nan = write("nan.mtx", &format!("{banner}2 2 2\n1 1 NaN\n2 2 1\n"));
    let nonsym = write(
        "nonsym.mtx",
        &format!("{banner}2 2 3\n1 1 2\n1 2 1\n2 2 2\n"),
    );
    let zero_diag = write("zerodiag.mtx", &format!("{sym}2 2 2\n2 1 1\n2 2 1\n"));
    let indefinite = write("indef.mtx", &format!("{sym}2 2 2\n1 1 1\n2 2 -1\n"));
    let good = write("good.mtx", &format!("{sym}2 2 3\n1 1 2\n2 1 -1\n2 2 2\n"));
    let rhs3 = write(
        "b3.mtx",
        "%%MatrixMarket matrix array real general\n3 1\n1\n2\n3\n",
    );
    let rhs_inf = write(
        "binf.mtx",
        "%%MatrixMarket matrix array real general\n2 1\n1\ninf\n",
    );
    let m = |p: &str| vec!["--matrix".to_string(), p.to_string()];
    let cases: Vec<(Vec<String>, &str)> = vec![
        (m(&malformed), "line 3"),
        (m(&truncated), "ended"),
        (m(&nonsquare), "not square"),
        (m(&nan), "non-finite"),
        (
            m(&run.path("missing.mtx").display().to_string()),
            "missing.mtx",
        ),
        (
            [m(&nonsym), vec!["--solver".into(), "cg".into()]].concat(),
            "not symmetric",
        ),
        (
            [m(&zero_diag), vec!["--solver".into(), "sor".into()]].concat(),
            "zero diagonal",
        ),
        (
            [m(&indefinite), vec!["--solver".into(), "cg".into()]].concat(),
            "not positive definite",
        ),
        (
            [m(&indefinite), vec!["--solver".into(), "ic0-pcg".into()]].concat(),
            "not positive definite",
        ),
        (m(&nonsym), "not symmetric"),
        (m(&zero_diag), "zero diagonal entry at row 1; AMG"),
        (m(&indefinite), "negative diagonal entry"),
        (
            [
                m(&good),
                vec![
                    "--solver".into(),
                    "cg".into(),
                    "--amg-theta".into(),
                    "0.1".into(),
                ],
            ]
            .concat(),
            "--amg-theta sets up algebraic multigrid",
        ),
        (
            vec![
                "--grid".into(),
                "8x8".into(),
                "--solver".into(),
                "auto".into(),
                "--amg-sweeps".into(),
                "2".into(),
            ],
            "--amg-sweeps sets up algebraic multigrid",
        ),
        (
            [m(&good), vec!["--amg-smoother".into(), "gs".into()]].concat(),
            "unknown AMG smoother 'gs'",
        ),
        (
            [m(&good), vec!["--amg-block-size".into(), "3".into()]].concat(),
            "block size 3 does not divide",
        ),
        (
            [m(&good), vec!["--rhs-file".into(), rhs3]].concat(),
            "dimension mismatch",
        ),
        (
            [m(&good), vec!["--rhs-file".into(), rhs_inf]].concat(),
            "inf",
        ),
        (
            [m(&good), vec!["--solver".into(), "mg-pcg".into()]].concat(),
            "multigrid needs a grid",
        ),
        (
            vec![
                "--grid".into(),
                "8x8".into(),
                "--solver".into(),
                "sor".into(),
                "--omega".into(),
                "2.5".into(),
            ],
            "omega",
        ),
        (
            vec!["--grid".into(), "8x8".into(), "--tol".into(), "0".into()],
            "--tol",
        ),
        (
            vec![
                "--grid".into(),
                "32x32".into(),
                "--mask".into(),
                repo_file("datasets/mask_box_64x64.h5"),
            ],
            "mask",
        ),
        (
            vec![
                "--grid".into(),
                "8x8".into(),
                "--out".into(),
                run.path("no/such/dir/sol.h5").display().to_string(),
            ],
            "does not exist",
        ),
    ];
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        expect_error(&run, &args, needle);
    }
}

#[test]
fn amg_is_the_matrix_default_and_reports_its_hierarchy() {
    let run = Run::new();
    let a = repo_file("datasets/fe_p1_lshape.mtx");
    let (out, rep) = (run.path("sol.h5"), run.path("r.json"));
    let o = nabla(&[
        "poisson",
        "--matrix",
        &a,
        "--rhs",
        "random",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("hierarchy") && stdout.contains("level 1"),
        "{stdout}"
    );
    let r = report(&rep);
    assert_eq!(r["solver"], "amg-pcg");
    let levels = r["amg_levels"].as_array().unwrap();
    assert_eq!(levels.len() as u64, r["levels"].as_u64().unwrap());
    assert!(levels.len() >= 2);
    assert_eq!(levels[0]["rows"], r["unknowns"]);
    assert_eq!(levels[0]["nonzeros"], r["nonzeros"]);
    let nnz: f64 = levels.iter().map(|l| l["nonzeros"].as_f64().unwrap()).sum();
    let oc = r["operator_complexity"].as_f64().unwrap();
    assert!((oc - nnz / r["nonzeros"].as_f64().unwrap()).abs() < 1e-12);
    assert!(r["grid_complexity"].as_f64().unwrap() > 1.0);
    assert!(r["read_seconds"].as_f64().unwrap() >= 0.0);
    let (_, x) = nabla::data::read_f64_dataset(&out, "x").unwrap();
    let (_, b) = nabla::data::read_f64_dataset(&out, "b").unwrap();
    assert!(mtx_relres(&a, &x, &b) <= 1e-8);
    // A near-nullspace file holding the constant vector reproduces the default hierarchy.
    let n = r["unknowns"].as_u64().unwrap() as usize;
    let ns = run.path("ones.mtx");
    fs::write(
        &ns,
        format!(
            "%%MatrixMarket matrix array real general\n{n} 1\n{}",
            "1\n".repeat(n)
        ),
    )
    .unwrap();
    let iterations = |extra: &[&str]| {
        let rep = run.path("ns.json");
        let mut args = vec!["poisson", "--matrix", a.as_str(), "--quiet", "--report"];
        args.push(rep.to_str().unwrap());
        args.extend_from_slice(extra);
        let o = nabla(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        report(&rep)["iterations"].as_u64().unwrap()
    };
    assert_eq!(
        iterations(&["--near-nullspace", ns.to_str().unwrap()]),
        iterations(&[])
    );
    // auto: mg-pcg on plain and masked grids, amg-pcg on a matrix, with the reason.
    let mask = repo_file("datasets/mask_box_64x64.h5");
    for (problem, want) in [
        (vec!["--grid", "48x40"], "mg-pcg"),
        (vec!["--matrix", a.as_str()], "amg-pcg"),
        (vec!["--grid", "64x64", "--mask", mask.as_str()], "mg-pcg"),
    ] {
        let rep = run.path("auto.json");
        let mut args = vec!["poisson", "--solver", "auto", "--quiet", "--report"];
        args.push(rep.to_str().unwrap());
        args.extend_from_slice(&problem);
        let o = nabla(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = report(&rep);
        assert_eq!(r["solver"], want, "{problem:?}");
        assert_eq!(r["requested_solver"], "auto");
        assert!(r["solver_reason"].as_str().unwrap().len() > 10);
        assert!(r["converged"].as_bool().unwrap());
    }
}

#[test]
fn clap_usage_errors_exit_nonzero() {
    for (args, needle) in [
        (
            vec!["poisson", "--solver", "gmres"],
            "unknown solver 'gmres'",
        ),
        (
            vec!["poisson", "--grid", "0x4"],
            "every extent must be at least 1",
        ),
        (
            vec!["poisson", "--grid", "8x8", "--matrix", "a.mtx"],
            "cannot be used with",
        ),
    ] {
        let o = nabla(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
    }
}

/// A build without MPI started by mpirun as several ranks refuses, naming the fix, instead of
/// running N copies of the same job (the launcher's environment is simulated here).
#[cfg(not(feature = "mpi"))]
#[test]
fn several_ranks_without_mpi_is_a_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(["poisson", "--grid", "16x16"])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("built without MPI") && err.contains("--features mpi"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `--coefficient`: −∇·(a∇u) = f with a 1:1000 jump, a from an HDF5 file at the nodes with the
/// boundary layer; the residual is recomputed here with faces = mean of their two nodes. mg-pcg
/// (the default) and cg agree; a file with the grid's own shape, a non-positive value and
/// `--solver dcdm` are one-line errors.
#[test]
fn variable_coefficient_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (nx, ny) = (48usize, 40usize);
    let (ex, ey) = (nx + 2, ny + 2);
    let nodal: Vec<f64> = (0..ex * ey)
        .map(|p| {
            let (i, j) = (p % ex, p / ex);
            if (i / 8 + j / 8) % 2 == 0 {
                1000.0
            } else {
                1.0
            }
        })
        .collect();
    let shape: nabla::core::GridShape = "48x40".parse().unwrap();
    let coef = dir.path().join("a.h5");
    nabla::data::write_coefficient(&coef, &shape, &nodal).unwrap();
    let a = |i: usize, j: usize| nodal[i + ex * j];
    let relres = |x: &[f64], b: &[f64]| {
        let mut rr = 0.0;
        let mut bb = 0.0;
        for j in 0..ny {
            for i in 0..nx {
                // Node (i+1, j+1) of the extended grid is unknown (i, j).
                let (ei, ej) = (i + 1, j + 1);
                let xv = |di: isize, dj: isize| -> f64 {
                    let (ii, jj) = (i as isize + di, j as isize + dj);
                    if ii < 0 || jj < 0 || ii >= nx as isize || jj >= ny as isize {
                        0.0
                    } else {
                        x[ii as usize + nx * jj as usize]
                    }
                };
                let faces = [
                    (0.5 * (a(ei, ej) + a(ei - 1, ej)), xv(-1, 0)),
                    (0.5 * (a(ei, ej) + a(ei + 1, ej)), xv(1, 0)),
                    (0.5 * (a(ei, ej) + a(ei, ej - 1)), xv(0, -1)),
                    (0.5 * (a(ei, ej) + a(ei, ej + 1)), xv(0, 1)),
                ];
                let ax: f64 = faces.iter().map(|(f, n)| f * (xv(0, 0) - n)).sum();
                let r = b[i + nx * j] - ax;
                rr += r * r;
                bb += b[i + nx * j] * b[i + nx * j];
            }
        }
        (rr / bb).sqrt()
    };
    let mut iterations = Vec::new();
    for solver in ["mg-pcg", "cg"] {
        let out = dir.path().join(format!("{solver}.h5"));
        let rep = dir.path().join(format!("{solver}.json"));
        let o = nabla(&[
            "poisson",
            "--grid",
            "48x40",
            "--coefficient",
            coef.to_str().unwrap(),
            "--solver",
            solver,
            "--tol",
            "1e-10",
            "--out",
            out.to_str().unwrap(),
            "--report",
            rep.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (_, x) = nabla::data::read_f64_dataset(&out, "x").unwrap();
        let (_, b) = nabla::data::read_f64_dataset(&out, "b").unwrap();
        let rel = relres(&x, &b);
        assert!(rel <= 1.01e-10, "{solver}: residual {rel:e}");
        let r = report(&rep);
        assert_eq!(r["coefficient"], coef.to_str().unwrap());
        iterations.push(r["iterations"].as_u64().unwrap());
    }
    assert!(
        iterations[0] * 5 < iterations[1],
        "multigrid should need far fewer iterations than CG: {iterations:?}"
    );
    // The grid's own shape instead of the nodes with the boundary layer.
    let wrong = dir.path().join("wrong.h5");
    // (written as the 46x38 grid's coefficient: 48x40 values, the 48x40 grid's own shape).
    let smaller: nabla::core::GridShape = "46x38".parse().unwrap();
    nabla::data::write_coefficient(&wrong, &smaller, &vec![1.0; nx * ny]).unwrap();
    let negative = dir.path().join("negative.h5");
    let mut bad = nodal.clone();
    bad[7] = -1.0;
    nabla::data::write_coefficient(&negative, &shape, &bad).unwrap();
    for (file, solver, needle) in [
        (&wrong, "mg-pcg", "boundary layer"),
        (&negative, "mg-pcg", "finite and positive"),
        (&coef, "dcdm", "constant-coefficient"),
    ] {
        let o = nabla(&[
            "poisson",
            "--grid",
            "48x40",
            "--coefficient",
            file.to_str().unwrap(),
            "--solver",
            solver,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
