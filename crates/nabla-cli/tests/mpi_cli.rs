//! `mpirun -np N nabla ...` end to end (feature `mpi`; `scripts/mpi-tests.sh` runs these under
//! the test command): identical iteration counts and solutions for 1, 2 and 4 ranks, residuals
//! recomputed here from the written files, bit-identical Walk-on-Spheres estimates, and clear
//! errors for what is not distributed.
#![cfg(feature = "mpi")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary under `mpirun -np ranks` (as root too; ranks may exceed the cores).
fn mpirun(ranks: usize, args: &[&str]) -> Output {
    Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(ranks.to_string())
        .arg(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .output()
        .expect("mpirun runs (install openmpi-bin)")
}

/// What a `nabla poisson` run under mpirun wrote: its report and the datasets `x`, `b`, `u`.
struct Solved {
    report: serde_json::Value,
    x: Vec<f64>,
    b: Vec<f64>,
    u: Vec<f64>,
}

/// Runs `nabla poisson ARGS --out --report --quiet` on `ranks` ranks in `dir` (files tagged
/// `tag`), checks it succeeded and reads back what it wrote.
fn solve(ranks: usize, args: &[&str], dir: &Path, tag: &str) -> Solved {
    let out = dir.join(format!("{tag}{ranks}.h5"));
    let rep = dir.join(format!("{tag}{ranks}.json"));
    let mut all = vec!["poisson"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--out",
        out.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
    ]);
    all.push("--quiet");
    let o = mpirun(ranks, &all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |name: &str| nabla::data::read_f64_dataset(&out, name).map_or(Vec::new(), |d| d.1);
    Solved {
        report: report(&rep),
        x: read("x"),
        b: read("b"),
        u: read("u"),
    }
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).expect("report written")).expect("report is JSON")
}

/// ‖b − A x‖ / ‖b‖ of the h²-scaled 5-/7-point Laplacian with solid cells removed, written out
/// here so the check shares no code with the solver.
fn relres(dims: &[usize], solid: &[bool], u: &[f64], b_grid: &[f64]) -> f64 {
    let (nx, ny, nz) = (dims[0], dims[1], *dims.get(2).unwrap_or(&1));
    let at = |i: isize, j: isize, k: isize| -> f64 {
        if i < 0 || j < 0 || k < 0 || i >= nx as isize || j >= ny as isize || k >= nz as isize {
            return 0.0;
        }
        u[i as usize + nx * (j as usize + ny * k as usize)]
    };
    let (mut rr, mut bb) = (0.0, 0.0);
    for k in 0..nz as isize {
        for j in 0..ny as isize {
            for i in 0..nx as isize {
                let p = i as usize + nx * (j as usize + ny * k as usize);
                if solid[p] {
                    continue;
                }
                let mut ax = 2.0 * dims.len() as f64 * at(i, j, k)
                    - at(i - 1, j, k)
                    - at(i + 1, j, k)
                    - at(i, j - 1, k)
                    - at(i, j + 1, k);
                if dims.len() == 3 {
                    ax -= at(i, j, k - 1) + at(i, j, k + 1);
                }
                rr += (b_grid[p] - ax).powi(2);
                bb += b_grid[p].powi(2);
            }
        }
    }
    (rr / bb).sqrt()
}

#[test]
fn grid_cg_is_rank_count_independent_and_solves_the_system() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for ranks in [1, 2, 4] {
        let Solved {
            report: r, x, b, ..
        } = solve(
            ranks,
            &["--grid", "160x120", "--solver", "cg"],
            dir.path(),
            "s",
        );
        assert_eq!(r["ranks"], ranks);
        assert_eq!(r["transport"], "mpi");
        assert!(r["communication_seconds"].as_f64().unwrap() >= 0.0);
        let rel = relres(&[160, 120], &vec![false; x.len()], &x, &b);
        assert!(rel <= 1e-8, "{ranks} ranks: residual {rel:e}");
        runs.push((r["iterations"].as_u64().unwrap(), x));
    }
    assert!(
        runs.iter().all(|r| r.0 == runs[0].0),
        "iteration counts differ"
    );
    assert!(runs.iter().all(|r| r.1 == runs[0].1), "solutions differ");
}

#[test]
fn multigrid_pcg_across_ranks_takes_the_same_iterations() {
    let dir = tempfile::tempdir().unwrap();
    for (grid, dims) in [
        ("300x200", vec![300usize, 200]),
        ("48x40x44", vec![48, 40, 44]),
    ] {
        let mut runs = Vec::new();
        for ranks in [1, 2, 4] {
            // The default solver under mpirun on a plain grid is mg-pcg.
            let Solved {
                report: r, x, b, ..
            } = solve(ranks, &["--grid", grid], dir.path(), "g");
            assert_eq!(r["solver"], "mg-pcg");
            assert!(r["decomposition"].as_str().unwrap().contains("slabs"));
            let rel = relres(&dims, &vec![false; x.len()], &x, &b);
            assert!(rel <= 1e-8, "{grid} on {ranks} ranks: residual {rel:e}");
            runs.push((r["iterations"].as_u64().unwrap(), x));
        }
        assert!(runs[0].0 <= 12, "{grid}: {} iterations", runs[0].0);
        assert!(
            runs.iter().all(|r| r.0 == runs[0].0),
            "{grid}: iteration counts differ"
        );
        assert!(
            runs.iter().all(|r| r.1 == runs[0].1),
            "{grid}: solutions differ"
        );
    }
}

/// A masked 3-D grid across ranks: Jacobi-PCG on pencils, and mg-pcg (the default, Galerkin
/// levels on slabs) with the same iterations and solution bits on 1, 2 and 3 ranks.
#[test]
fn masked_3d_grid_on_one_to_three_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let (nx, ny, nz) = (20usize, 18usize, 12usize);
    // A solid slab in the middle with a hole: cells with fluid on both sides.
    let solid: Vec<bool> = (0..nx * ny * nz)
        .map(|p| {
            let (i, j) = (p % nx, (p / nx) % ny);
            i == 10 && !(5..9).contains(&j)
        })
        .collect();
    let mask = dir.path().join("mask.h5");
    let shape: nabla::core::GridShape = "20x18x12".parse().unwrap();
    nabla::data::write_mask(&mask, &shape, &solid).unwrap();
    for solver in ["jacobi-pcg", "default"] {
        let mut runs = Vec::new();
        for ranks in [1, 2, 3] {
            let mut args = vec![
                "--grid",
                "20x18x12",
                "--mask",
                mask.to_str().unwrap(),
                "--rhs",
                "ones",
                "--tol",
                "1e-10",
            ];
            if solver != "default" {
                args.extend(["--solver", solver]);
            }
            let Solved { report: r, u, .. } = solve(ranks, &args, dir.path(), solver);
            assert_eq!(r["unknowns"], (solid.iter().filter(|s| !**s).count()));
            let expected = if solver == "default" {
                "mg-pcg"
            } else {
                solver
            };
            assert_eq!(r["solver"], expected);
            let b: Vec<f64> = solid.iter().map(|&s| if s { 0.0 } else { 1.0 }).collect();
            assert!(u.iter().zip(&solid).all(|(v, &s)| !s || *v == 0.0));
            let rel = relres(&[nx, ny, nz], &solid, &u, &b);
            assert!(rel <= 1e-10, "{solver}, {ranks} ranks: residual {rel:e}");
            runs.push((r["iterations"].as_u64().unwrap(), u));
        }
        if solver == "default" {
            assert!(runs[0].0 <= 12, "mg-pcg: {} iterations", runs[0].0);
        }
        for (ranks, run) in [2, 3].iter().zip(&runs[1..]) {
            assert_eq!(run.0, runs[0].0, "{solver}: iterations on {ranks} ranks");
            assert!(
                run.1
                    .iter()
                    .zip(&runs[0].1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{solver}: solution bits differ on {ranks} ranks"
            );
        }
    }
}

/// ‖b − A x‖ / ‖b‖ of a MatrixMarket `symmetric` file's matrix, parsed here by hand.
fn mtx_relres(path: &str, x: &[f64], b: &[f64]) -> f64 {
    let text = fs::read_to_string(path).unwrap();
    let mut ax = vec![0.0; x.len()];
    let mut lines = text.lines().filter(|l| !l.starts_with('%'));
    lines.next();
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

#[test]
fn a_users_finite_element_matrix_across_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let mtx = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/fe_p1_lshape.mtx")
        .display()
        .to_string();
    let mut runs = Vec::new();
    for ranks in [1, 2, 3] {
        let Solved {
            report: r, x, b, ..
        } = solve(
            ranks,
            &["--matrix", &mtx, "--rhs", "random"],
            dir.path(),
            "a",
        );
        assert_eq!(r["solver"], "jacobi-pcg");
        assert_eq!(r["ranks"], ranks);
        let rel = mtx_relres(&mtx, &x, &b);
        assert!(rel <= 1e-8, "{ranks} ranks: residual {rel:e}");
        runs.push((r["iterations"].as_u64().unwrap(), x));
    }
    assert!(
        runs.iter().all(|r| r.0 == runs[0].0),
        "iteration counts differ"
    );
    assert!(runs.iter().all(|r| r.1 == runs[0].1), "solutions differ");
    // A malformed file: one error line from rank 0, exit 1, nothing written.
    let bad = dir.path().join("bad.mtx");
    fs::write(
        &bad,
        "%%MatrixMarket matrix coordinate real general\n3 3 1\n1 x 2.0\n",
    )
    .unwrap();
    let out = dir.path().join("bad.h5");
    let o = mpirun(
        2,
        &[
            "poisson",
            "--matrix",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.mtx: line 3"), "{err}");
    assert_eq!(err.matches("bad.mtx").count(), 1, "printed once: {err}");
    assert!(!out.exists());
}

#[test]
fn wos_estimates_are_bit_identical_on_one_and_two_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for ranks in [1, 2] {
        let out = dir.path().join(format!("w{ranks}.csv"));
        let o = mpirun(
            ranks,
            &[
                "wos",
                "--domain",
                "ball:center=0,0;radius=1",
                "--boundary",
                "x*x - y*y",
                "--grid",
                "9x9",
                "--walks",
                "200",
                "--seed",
                "3",
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outputs.push(fs::read_to_string(&out).unwrap());
    }
    assert!(outputs[0].lines().count() > 40);
    assert_eq!(outputs[0], outputs[1]);
}

/// Runs `nabla train CONFIG` in one process (into `dir/serial`) and under `mpirun -np 2`
/// (into `dir/two`), checking both succeed; returns the two run directories.
fn train_serial_and_on_two_ranks(config: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let (serial, two) = (dir.join("serial"), dir.join("two"));
    let args = |out: &Path| {
        [
            "train".to_string(),
            config.display().to_string(),
            "--out".to_string(),
            out.display().to_string(),
        ]
    };
    let o = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args(&serial))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = args(&two);
    let o = mpirun(2, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (serial, two)
}

/// The loss column of a run's metrics.csv.
fn losses(run: &Path) -> Vec<f64> {
    fs::read_to_string(run.join("metrics.csv"))
        .expect("metrics written")
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn pinn_training_on_two_ranks_follows_the_one_process_curve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pinn.toml");
    fs::write(
        &config,
        r#"task = "pinn"
[problem]
pde = "poisson"
domain = "box:min=0,0;max=1,1"
source = "2*pi^2*sin(pi*x)*sin(pi*y)"
exact = "sin(pi*x)*sin(pi*y)"
[[problem.boundary]]
kind = "dirichlet"
value = "0"
[model]
hidden = [32, 32]
[sampling]
interior = 800
boundary = 200
[train]
seed = 1
log_every = 10
[[train.optimizer]]
kind = "adam"
steps = 100
lr = 1e-3
[eval]
grid = 21
"#,
    )
    .unwrap();
    let (serial, two) = train_serial_and_on_two_ranks(&config, dir.path());
    let (a, b) = (losses(&two), losses(&serial));
    assert_eq!(a.len(), 10);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs(), "{x} vs {y}");
    }
    assert!(two.join("summary.json").exists() && two.join("checkpoint.safetensors").exists());
}

/// `mpirun -np 2 nabla train` of a WoS-NO config: each rank takes its block of every step's
/// instances (and of the held-out truth); the loss curve follows one process's and rank 0
/// writes the run directory.
#[test]
fn wosno_training_on_two_ranks_follows_the_one_process_curve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wosno.toml");
    fs::write(
        &config,
        r#"task = "wosno"
[grid]
points = 16
[model]
modes = 4
width = 12
layers = 2
projection = 16
[train]
loss = "wos"
seed = 1
steps = 20
batch_size = 4
points = 64
walks = 8
max_steps = 25
lr = 5e-3
log_every = 2
[test]
instances = 4
walks = 64
"#,
    )
    .unwrap();
    let (serial, two) = train_serial_and_on_two_ranks(&config, dir.path());
    let (a, b) = (losses(&two), losses(&serial));
    assert_eq!(a.len(), 10);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * y.abs(), "{x} vs {y}");
    }
    for file in ["summary.json", "checkpoint.safetensors", "truth.h5"] {
        assert!(two.join(file).exists(), "{file} missing");
    }
    let summary = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&fs::read(d.join("summary.json")).unwrap()).unwrap()
    };
    let (s2, s1) = (summary(&two), summary(&serial));
    let (e2, e1) = (
        s2["test_rel_l2"].as_f64().unwrap(),
        s1["test_rel_l2"].as_f64().unwrap(),
    );
    assert!((e2 - e1).abs() <= 1e-4 * e1, "{e2} vs {e1}");
    assert_eq!(s2["truth_nodes"], s1["truth_nodes"]);
}

#[test]
fn what_is_not_distributed_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.h5");
    let o = mpirun(
        2,
        &[
            "poisson",
            "--grid",
            "64x64",
            "--solver",
            "ic0-pcg",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not run across MPI ranks yet"), "{err}");
    assert!(!out.exists());
    let o = mpirun(2, &["poisson", "--grid", "3x1", "--solver", "cg"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be split over 2 ranks"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `--coefficient` with `--mask` across ranks: mg-pcg (Galerkin levels on slabs) takes the same
/// iterations and writes the same bits on 1, 2 and 3 ranks, and its residual, recomputed with
/// the serial library's matrix, meets the tolerance.
#[test]
fn variable_coefficient_and_mask_multigrid_across_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let shape: nabla::core::GridShape = "70x64".parse().unwrap();
    let (nx, ny) = (70usize, 64usize);
    let nodal: Vec<f64> = (0..(nx + 2) * (ny + 2))
        .map(|p| {
            let (i, j) = (p % (nx + 2), p / (nx + 2));
            if (i / 9 + j / 7) % 2 == 0 {
                100.0
            } else {
                1.0 + 0.01 * i as f64
            }
        })
        .collect();
    let solid: Vec<bool> = (0..nx * ny)
        .map(|p| {
            let (i, j) = ((p % nx) as f64 - 30.0, (p / nx) as f64 - 35.0);
            i * i + j * j < 80.0
        })
        .collect();
    let coef = dir.path().join("a.h5");
    let mask = dir.path().join("m.h5");
    nabla::data::write_coefficient(&coef, &shape, &nodal).unwrap();
    nabla::data::write_mask(&mask, &shape, &solid).unwrap();
    let serial = nabla::sparse::GridPoisson::new(shape.clone())
        .with_coefficient(&nodal)
        .unwrap()
        .with_mask(solid.clone())
        .unwrap();
    let a = serial.matrix();
    let mut runs = Vec::new();
    for ranks in [1, 2, 3] {
        let args = [
            "--grid",
            "70x64",
            "--coefficient",
            coef.to_str().unwrap(),
            "--mask",
            mask.to_str().unwrap(),
            "--tol",
            "1e-10",
        ];
        let Solved {
            report: r, x, b, ..
        } = solve(ranks, &args, dir.path(), "v");
        assert_eq!(r["solver"], "mg-pcg");
        assert_eq!(r["ranks"], ranks);
        let rel = nabla::sparse::relative_residual(&a, &b, &x);
        assert!(rel <= 1.01e-10, "{ranks} ranks: residual {rel:e}");
        runs.push((r["iterations"].as_u64().unwrap(), x));
    }
    assert!(runs[0].0 <= 20, "{} iterations", runs[0].0);
    for (ranks, run) in [2, 3].iter().zip(&runs[1..]) {
        assert_eq!(run.0, runs[0].0, "iterations on {ranks} ranks");
        assert!(
            run.1
                .iter()
                .zip(&runs[0].1)
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "solution bits differ on {ranks} ranks"
        );
    }
}

/// Each rank reads only its block of `--coefficient`: a bad value in the top half is found by
/// the rank that owns it, which names it, and every rank stops (no hang, non-zero exit).
#[test]
fn a_bad_value_in_one_ranks_block_stops_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let shape: nabla::core::GridShape = "20x16".parse().unwrap();
    let mut nodal = vec![1.0; 22 * 18];
    nodal[5 + 22 * 15] = 0.0; // node row 15: only the top rank's block reaches it
    let coef = dir.path().join("a.h5");
    nabla::data::write_coefficient(&coef, &shape, &nodal).unwrap();
    let o = mpirun(
        2,
        &[
            "poisson",
            "--grid",
            "20x16",
            "--coefficient",
            coef.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("finite and positive"), "{err}");
    assert!(err.contains("rank 1"), "{err}");
}

/// `mpirun -np 2 nabla train` of a DCDM config: rank 0 reads the training set (cached by the
/// one-process run) and sends it; the loss curve follows one process's and rank 0 writes the
/// run directory. (Rank 0 generating the set is tested in `nabla-dcdm`'s tests.)
#[test]
fn dcdm_training_on_two_ranks_follows_the_one_process_curve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dcdm.toml");
    let text = |set: &str| {
        format!(
            r#"task = "dcdm"
grid = "16x16"
[data]
file = "{set}"
lanczos_steps = 40
samples = 48
[model]
channels = 8
levels = 2
convs = 0
[train]
steps = 20
batch_size = 6
lr = 1e-3
validation = 6
log_every = 2
checkpoint_every = 0
[eval]
rhs = 1
"#
        )
    };
    let set = dir.path().join("set.h5");
    fs::write(&config, text(set.to_str().unwrap())).unwrap();
    let (serial, two) = train_serial_and_on_two_ranks(&config, dir.path());
    assert!(set.exists() && two.join("summary.json").exists());
    let curves = [losses(&serial), losses(&two)];
    assert_eq!(curves[0].len(), 10);
    for (x, y) in curves[1].iter().zip(&curves[0]) {
        assert!((x - y).abs() <= 1e-5 * y.abs(), "{x} vs {y}");
    }
}
