//! End-to-end tests of `nabla datagen navier-stokes`: a tiny vorticity set read back through
//! the 2-D series reader (shapes, times, attributes, sidecar), the same bytes for any
//! --threads, and one-line errors (nothing written) for bad flags.

use nabla::data::{read_attrs, read_series_2d, AttrValue};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn generate(path: &Path, threads: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "datagen",
        "navier-stokes",
        "--resolution",
        "16",
        "--samples",
        "3",
        "--seed",
        "7",
        "--frames",
        "4",
        "--record-interval",
        "0.5",
        "--threads",
        threads,
        "--out",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = nabla(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn vorticity_file_reads_back_in_the_2d_series_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ns.h5");
    let stdout = generate(&out, "2", &["--viscosity", "1e-4"]);
    assert!(
        stdout.contains("3 samples on 16x16 (simulated on 16x16), nu = 0.0001, 4 frames"),
        "{stdout}"
    );
    assert!(
        stdout.contains("RK3/Crank-Nicolson") && stdout.contains("wrote"),
        "{stdout}"
    );

    let d = read_series_2d(&out, None).unwrap();
    assert_eq!((d.n, d.nt, d.nx, d.ny, d.nu), (3, 4, 16, 16, Some(1e-4)));
    assert_eq!(d.t, vec![0.5, 1.0, 1.5, 2.0, 2.5]);
    assert_eq!(d.x[4], 0.25);
    assert!(d.tensor.iter().all(|v| v.is_finite()));
    assert!(d.tensor.iter().any(|v| v.abs() > 0.1));

    let attrs: HashMap<String, AttrValue> = read_attrs(&out).unwrap().into_iter().collect();
    assert_eq!(attrs["viscosity"], AttrValue::F64(1e-4));
    assert_eq!(attrs["seed"], AttrValue::I64(7));
    assert_eq!(attrs["frames"], AttrValue::I64(4));
    assert_eq!(attrs["record_interval"], AttrValue::F64(0.5));
    assert!(matches!(&attrs["generator"], AttrValue::Str(s) if s == "nabla datagen navier-stokes"));
    assert!(matches!(&attrs["dt"], AttrValue::F64(dt) if *dt > 0.0 && *dt <= 0.05));

    // One thread: the same data; the initial frame on request.
    let one = dir.path().join("one.h5");
    generate(&one, "1", &["--viscosity", "1e-4"]);
    assert_eq!(read_series_2d(&one, None).unwrap(), d);
    let with0 = dir.path().join("with0.h5");
    generate(
        &with0,
        "2",
        &["--viscosity", "1e-4", "--include-initial", "--quiet"],
    );
    let w = read_series_2d(&with0, None).unwrap();
    assert_eq!((w.nt, w.t[0]), (5, 0.0));
    assert_eq!(w.tensor[256..5 * 256], d.tensor[..4 * 256]);

    // The XDMF sidecar: one grid per frame at its time, samples as fields.
    let xml = std::fs::read_to_string(dir.path().join("ns.xdmf")).expect("sidecar");
    assert_eq!(xml.matches("<Time Value=").count(), 4, "{xml}");
    for item in [
        r#"<Time Value="0.5"/>"#,
        r#"Dimensions="3 4 16 16" NumberType="Float" Precision="4" Format="HDF">ns.h5:/tensor<"#,
        r#"TopologyType="2DRectMesh" Dimensions="16 16""#,
        r#"Name="sample_2""#,
    ] {
        assert!(xml.contains(item), "{item} not in {xml}");
    }
}

#[test]
fn bad_flags_are_one_line_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h5");
    let o = out.to_str().unwrap();
    let base = ["datagen", "navier-stokes", "--samples", "2", "--out", o];
    for (extra, needle) in [
        (
            vec!["--resolution", "15"],
            "--resolution must be even and at least 8, got 15",
        ),
        (
            vec!["--resolution", "4"],
            "--resolution must be even and at least 8",
        ),
        (
            vec!["--sim-resolution", "32"],
            "--sim-resolution must be even and at least --resolution 64",
        ),
        (vec!["--viscosity", "0"], "--viscosity must be positive"),
        (
            vec!["--viscosity", "-0.001"],
            "--viscosity must be positive",
        ),
        (vec!["--viscosity", "nan"], "--viscosity must be positive"),
        (vec!["--frames", "0"], "--frames must be at least 1"),
        (
            vec!["--record-interval", "0"],
            "--record-interval must be positive",
        ),
        (vec!["--dt", "-0.1"], "--dt must be positive"),
        (vec!["--cfl", "2"], "--cfl must be in (0, 1]"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(&extra);
        let r = nabla(&args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists() && !dir.path().join("x.xdmf").exists());
    }
    // A blow-up exits with 3, names the sample, and writes nothing.
    let r = nabla(&[
        "datagen",
        "navier-stokes",
        "--resolution",
        "16",
        "--samples",
        "1",
        "--viscosity",
        "1e-5",
        "--dt",
        "2",
        "--record-interval",
        "2",
        "--frames",
        "40",
        "--out",
        o,
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("sample 0") && err.contains("blew up"), "{err}");
    assert!(!out.exists());
}
