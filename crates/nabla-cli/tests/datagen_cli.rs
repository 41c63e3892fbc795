//! End-to-end tests of `nabla datagen`: tiny Darcy and Burgers files read back through the
//! PDEBench readers (shapes, values, attributes), determinism across --threads, and one-line
//! errors (nothing written) for bad flags.

use nabla::data::datagen::darcy_residual;
use nabla::data::{read_attrs, read_darcy, read_series_1d, AttrValue};
use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn attr(path: &Path, name: &str) -> AttrValue {
    read_attrs(path)
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("attribute {name}"))
        .1
}

#[test]
fn darcy_file_reads_back_with_layout_and_solver_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("darcy.h5");
    let run = |threads: &str, path: &Path| {
        let o = nabla(&[
            "datagen",
            "darcy",
            "--resolution",
            "16",
            "--samples",
            "5",
            "--seed",
            "4",
            "--threads",
            threads,
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let stdout = run("2", &out);
    assert!(
        stdout.contains("5 samples on the 16x16 vertex grid"),
        "{stdout}"
    );
    assert!(stdout.contains("wrote"), "{stdout}");

    let d = read_darcy(&out, None).unwrap();
    assert_eq!((d.n, d.s, d.beta), (5, 16, 1.0));
    assert_eq!(d.solution.len(), 5 * 256);
    assert_eq!(d.x.first().copied(), Some(0.0));
    assert_eq!(d.y.last().copied(), Some(1.0));
    for k in 0..5 {
        let a: Vec<f64> = d.coefficient[k * 256..(k + 1) * 256]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let u: Vec<f64> = d.solution[k * 256..(k + 1) * 256]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        assert!(a.iter().all(|&v| v == 3.0 || v == 12.0));
        // f32 storage limits the residual of the stored field, not the solve.
        assert!(darcy_residual(&a, 16, &u) < 1e-4);
        assert!(u[..16].iter().all(|&v| v == 0.0));
    }
    assert_eq!(attr(&out, "tolerance"), AttrValue::F64(1e-10));
    assert_eq!(attr(&out, "tau"), AttrValue::F64(3.0));
    assert_eq!(attr(&out, "alpha"), AttrValue::F64(2.0));
    assert_eq!(attr(&out, "seed"), AttrValue::I64(4));
    assert_eq!(attr(&out, "solver"), AttrValue::Str("ic0-pcg".into()));

    // Same bytes of data with one thread.
    let out1 = dir.path().join("darcy1.h5");
    run("1", &out1);
    assert_eq!(read_darcy(&out1, None).unwrap(), d);

    // The XDMF sidecar: one grid per sample on y-coordinate x x-coordinate, naming darcy.h5.
    let xml = std::fs::read_to_string(dir.path().join("darcy.xdmf")).expect("sidecar");
    assert_eq!(xml.matches("<Time Value=").count(), 5, "{xml}");
    for item in [
        r#"Dimensions="5 1 16 16" NumberType="Float" Precision="4" Format="HDF">darcy.h5:/tensor<"#,
        r#"Dimensions="5 16 16" NumberType="Float" Precision="4" Format="HDF">darcy.h5:/nu<"#,
        r#"Format="HDF">darcy.h5:/y-coordinate<"#,
        r#"TopologyType="2DRectMesh" Dimensions="16 16""#,
    ] {
        assert!(xml.contains(item), "{item} not in {xml}");
    }
    assert!(!xml.contains(".nabla") && !xml.contains(".tmp"), "{xml}");
}

#[test]
fn burgers_file_reads_back_in_the_pdebench_1d_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("burgers.h5");
    let o = nabla(&[
        "datagen",
        "burgers",
        "--resolution",
        "64",
        "--samples",
        "3",
        "--seed",
        "1",
        "--steps",
        "6",
        "--t-final",
        "0.5",
        "--nu",
        "0.05",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = read_series_1d(&out, None).unwrap();
    assert_eq!((b.n, b.nt, b.nx, b.nu), (3, 6, 64, 0.05));
    assert_eq!(b.t.len(), 7);
    assert!((b.t[5] - 0.5).abs() < 1e-6);
    assert!((b.x[0] - 0.5 / 64.0).abs() < 1e-7);
    // Viscous decay: every trajectory loses energy between its first and last snapshot.
    for k in 0..3 {
        let traj = &b.tensor[k * 6 * 64..(k + 1) * 6 * 64];
        let e0: f32 = traj[..64].iter().map(|v| v * v).sum();
        let e5: f32 = traj[5 * 64..].iter().map(|v| v * v).sum();
        assert!(e5 < e0 && e0 > 0.0);
    }
    assert_eq!(attr(&out, "Nu"), AttrValue::F64(0.05));
    assert_eq!(attr(&out, "snapshots"), AttrValue::I64(6));
    assert!(matches!(attr(&out, "scheme"), AttrValue::Str(s) if s.contains("ETDRK4")));
    let part = read_series_1d(&out, Some(1..2)).unwrap();
    assert_eq!(part.tensor, b.tensor[6 * 64..12 * 64]);

    // The XDMF sidecar: each trajectory a space-time image (6 of the 7 t-coordinates).
    let xml = std::fs::read_to_string(dir.path().join("burgers.xdmf")).expect("sidecar");
    assert_eq!(xml.matches("<Time Value=").count(), 3, "{xml}");
    for item in [
        r#"Dimensions="3 6 64" NumberType="Float" Precision="4" Format="HDF">burgers.h5:/tensor<"#,
        r#"Dimensions="7" NumberType="Float" Precision="4" Format="HDF">burgers.h5:/t-coordinate<"#,
        r#"TopologyType="2DRectMesh" Dimensions="6 64""#,
    ] {
        assert!(xml.contains(item), "{item} not in {xml}");
    }
}

#[test]
fn bad_flags_are_one_line_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let o = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec![
                "datagen",
                "darcy",
                "--resolution",
                "2",
                "--samples",
                "3",
                "--out",
                o,
            ],
            "--resolution must be at least 3",
        ),
        (
            vec!["datagen", "darcy", "--samples", "0", "--out", o],
            "--samples must be at least 1",
        ),
        (
            vec![
                "datagen",
                "burgers",
                "--samples",
                "2",
                "--nu",
                "-1",
                "--out",
                o,
            ],
            "--nu must be positive",
        ),
        (
            vec![
                "datagen",
                "burgers",
                "--samples",
                "2",
                "--steps",
                "1",
                "--out",
                o,
            ],
            "--steps",
        ),
        (
            vec![
                "datagen",
                "darcy",
                "--samples",
                "2",
                "--out",
                "/nonexistent-dir/x.h5",
            ],
            "/nonexistent-dir/x.h5",
        ),
    ] {
        let r = nabla(&args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists());
        assert!(!dir.path().join("x.xdmf").exists());
    }
    // The sidecar path is checked like the output itself.
    std::fs::create_dir(dir.path().join("x.xdmf")).unwrap();
    let r = nabla(&["datagen", "darcy", "--samples", "2", "--out", o]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("x.xdmf"), "{err}");
    assert!(!out.exists());
}
