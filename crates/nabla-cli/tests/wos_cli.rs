//! End-to-end tests of `nabla wos`: outputs checked against exact solutions, report contract,
//! determinism across --threads, and one-line errors (exit 1, nothing written) for bad input.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn nabla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .output()
        .expect("the nabla binary runs")
}

fn csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = fs::read_to_string(path).expect("csv written");
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(|v| v.parse().expect("number")).collect())
        .collect();
    (header, rows)
}

#[test]
fn poisson_on_points_matches_exact_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let pts = dir.path().join("pts.csv");
    fs::write(
        &pts,
        "x,y\n# interior points\n0.1,0.2\n-0.3,0.4\n0.5 -0.5\n0.05,0\n",
    )
    .unwrap();
    let out = dir.path().join("pred.csv");
    let rep = dir.path().join("r.json");
    // Δu = 4 (note the sign) with u = x² + y²; the source starts with '-' in the second run.
    let o = nabla(&[
        "wos",
        "--domain",
        "ball:center=0,0;radius=1",
        "--source",
        "4",
        "--boundary",
        "x^2 + y^2",
        "--points",
        pts.to_str().unwrap(),
        "--walks",
        "3000",
        "--epsilon",
        "1e-5",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--report",
        rep.to_str().unwrap(),
        "--exact",
        "x^2 + y^2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("Δu − σu = f") && stdout.contains("−Δu = f"),
        "{stdout}"
    );
    let (header, rows) = csv(&out);
    assert_eq!(
        header,
        ["x", "y", "u", "stderr", "mean_steps", "exact", "error"]
    );
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let exact = r[0] * r[0] + r[1] * r[1];
        assert!((r[2] - exact).abs() <= 4.0 * r[3], "row {r:?}");
        assert!(r[4] >= 1.0);
    }
    let j: serde_json::Value = serde_json::from_slice(&fs::read(&rep).unwrap()).unwrap();
    assert_eq!(j["total_walks"], 12000);
    assert!(j["total_steps"].as_u64().unwrap() > 12000);
    assert!(j["seconds"].as_f64().unwrap() > 0.0);
    assert!(j["steps_per_second"].as_f64().unwrap() > 0.0);
    assert!(j["sign_convention"].as_str().unwrap().contains("−Δu = f"));
    assert!(j["max_error_in_stderrs"].as_f64().unwrap() <= 4.0);

    // The same problem written with Δu − σu = f and a negative-leading expression.
    let o = nabla(&[
        "wos",
        "--domain",
        "box:min=-1,-1;max=1,1",
        "--source",
        "-2*pi^2*sin(pi*x)*sin(pi*y)",
        "--boundary",
        "0",
        "--points",
        pts.to_str().unwrap(),
        "--walks",
        "2000",
        "--epsilon",
        "1e-5",
        "--exact",
        "sin(pi*x)*sin(pi*y)",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for r in csv(&out).1 {
        assert!(r[6].abs() <= 4.0 * r[3], "row {r:?}");
    }
}

#[test]
fn grid_plot_and_thread_independence() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, name: &str| {
        let out = dir.path().join(name);
        let png = dir.path().join(format!("{name}.png"));
        let o = nabla(&[
            "wos",
            "--domain",
            "lshape",
            "--boundary",
            "exp(x)*cos(y)",
            "--grid",
            "12x12",
            "--walks",
            "64",
            "--sigma",
            "0",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
            "--plot",
            png.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(fs::metadata(&png).unwrap().len() > 1000);
        fs::read_to_string(out).unwrap()
    };
    let a = run("1", "a.csv");
    let b = run("2", "b.csv");
    assert_eq!(a, b, "results depend on --threads");
    // The L-shape keeps 3/4 of the 144 cell centres.
    assert_eq!(a.lines().count(), 1 + 108);
}

#[test]
fn grid_fields_as_hdf5_with_an_xdmf_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let o = nabla(&[
            "wos",
            "--domain",
            "ball:center=0,0;radius=1",
            "--boundary",
            "x*y",
            "--exact",
            "x*y",
            "--grid",
            "6x4",
            "--walks",
            "32",
            "--gradient",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (h5, c) = (dir.path().join("f.h5"), dir.path().join("f.csv"));
    run(&h5);
    run(&c);
    let (header, rows) = csv(&c);
    let read = |name: &str| {
        let (shape, v) = nabla::data::read_f64_dataset(&h5, name).unwrap();
        assert_eq!(shape, [4, 6], "{name}");
        v
    };
    let xs = nabla::data::read_f64_dataset(&h5, "x-coordinate")
        .unwrap()
        .1;
    let ys = nabla::data::read_f64_dataset(&h5, "y-coordinate")
        .unwrap()
        .1;
    assert_eq!(xs.len(), 6);
    assert!((xs[0] - (-1.0 + 1.0 / 6.0)).abs() < 1e-12 && (ys[3] - 0.75).abs() < 1e-12);
    // Every CSV column is a dataset over the grid (x fastest), NaN outside the unit disk.
    let mut inside = rows.iter();
    let cols: Vec<Vec<f64>> = header[2..].iter().map(|h| read(h)).collect();
    for (j, &y) in ys.iter().enumerate() {
        for (i, &x) in xs.iter().enumerate() {
            let p = i + 6 * j;
            if x * x + y * y < 1.0 {
                let r = inside.next().unwrap();
                assert_eq!((r[0], r[1]), (x, y));
                for (k, col) in cols.iter().enumerate() {
                    assert_eq!(col[p], r[k + 2], "{} at ({i}, {j})", header[k + 2]);
                }
            } else {
                assert!(cols.iter().all(|col| col[p].is_nan()));
            }
        }
    }
    assert!(inside.next().is_none());

    // The sidecar: cells over the bounding box [-1, 1]², one Attribute per dataset field.
    let xml = fs::read_to_string(dir.path().join("f.xdmf")).expect("sidecar");
    assert!(
        xml.contains(r#"TopologyType="2DRectMesh" Dimensions="5 7""#),
        "{xml}"
    );
    assert!(xml.contains(">-1.0 -0.6666666666666667 "), "{xml}");
    for h in &header[2..] {
        assert!(
            xml.contains(&format!(
                r#"Dimensions="4 6" NumberType="Float" Precision="8" Format="HDF">f.h5:/{h}<"#
            )),
            "{h}: {xml}"
        );
    }
    assert_eq!(xml.matches(r#"Center="Cell""#).count(), header.len() - 2);
    assert!(!xml.contains(".nabla-"), "{xml}");
    let mut files: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["f.csv", "f.h5", "f.xdmf"]);

    // HDF5 output needs a grid.
    let pts = dir.path().join("p.csv");
    fs::write(&pts, "0.1,0.2\n").unwrap();
    let o = nabla(&[
        "wos",
        "--domain",
        "ball:center=0,0;radius=1",
        "--boundary",
        "x",
        "--points",
        pts.to_str().unwrap(),
        "--out",
        dir.path().join("p.h5").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("use --grid"), "{err}");
    assert!(!dir.path().join("p.h5").exists());
}

#[test]
fn gradient_and_screened_3d() {
    let dir = tempfile::tempdir().unwrap();
    let pts = dir.path().join("p.csv");
    fs::write(&pts, "0.1,0.2,0.3\n-0.2,0.1,0\n").unwrap();
    let out = dir.path().join("g.csv");
    let o = nabla(&[
        "wos",
        "--domain",
        "ball:center=0,0,0;radius=1",
        "--boundary",
        "x*y + z",
        "--points",
        pts.to_str().unwrap(),
        "--walks",
        "500",
        "--gradient",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (header, _) = csv(&out);
    assert_eq!(header[6..], ["du_dx", "du_dy", "du_dz"]);
    // Screened: Δu − 6.25u = 0 with u = exp(1.5x + 2y).
    let o = nabla(&[
        "wos",
        "--domain",
        "ball:center=0,0,0;radius=1",
        "--boundary",
        "exp(1.5*x + 2*y)",
        "--sigma",
        "6.25",
        "--points",
        pts.to_str().unwrap(),
        "--walks",
        "3000",
        "--epsilon",
        "1e-5",
        "--exact",
        "exp(1.5*x + 2*y)",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for r in csv(&out).1 {
        assert!(r[7].abs() <= 4.0 * r[4], "row {r:?}");
    }
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pred.csv");
    let o_s = out.to_str().unwrap();
    let bad_pts = dir.path().join("bad.csv");
    fs::write(&bad_pts, "0.1,0.2\n0.1,zz\n").unwrap();
    let outside = dir.path().join("outside.csv");
    fs::write(&outside, "0.1,0.2\n3,3\n").unwrap();
    let wide = dir.path().join("wide.csv");
    fs::write(&wide, "0.1,0.2,0.3\n").unwrap();
    let empty = dir.path().join("empty.csv");
    fs::write(&empty, "# nothing\n").unwrap();
    let b = "ball:center=0,0;radius=1";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--domain", "ball:centre=0,0", "--grid", "4x4"],
            "unknown key 'centre'",
        ),
        (
            vec!["--domain", "blob:r=1", "--grid", "4x4"],
            "unknown domain kind 'blob'",
        ),
        (
            vec!["--domain", "box:min=0,0;max=0,1", "--grid", "4x4"],
            "min[0]",
        ),
        (vec!["--domain", "star:c1=2", "--grid", "4x4"], "positive"),
        (
            vec!["--domain", "union(ball:center=0,0 | ", "--grid", "4x4"],
            "closing",
        ),
        (
            vec!["--domain", "mesh:/nonexistent.obj", "--grid", "4x4x4"],
            "nonexistent.obj",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--source", "sin(x"],
            "--source",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--source", "foo(x)"],
            "unknown function 'foo'",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--source", "z"],
            "uses z",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--walks", "0"],
            "--walks",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--epsilon", "0"],
            "--epsilon",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--epsilon", "-1e-3"],
            "--epsilon",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--sigma", "-1"],
            "--sigma",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--max-steps", "0"],
            "--max-steps",
        ),
        (
            vec!["--domain", b, "--grid", "4x4x4"],
            "3-D but the domain is 2-D",
        ),
        (
            vec!["--domain", b, "--points", bad_pts.to_str().unwrap()],
            "line 2: 'zz'",
        ),
        (
            vec!["--domain", b, "--points", outside.to_str().unwrap()],
            "line 2: point",
        ),
        (
            vec!["--domain", b, "--points", wide.to_str().unwrap()],
            "expected 2 coordinates",
        ),
        (
            vec!["--domain", b, "--points", empty.to_str().unwrap()],
            "no points",
        ),
        (
            vec!["--domain", b, "--points", "/nonexistent/p.csv"],
            "/nonexistent/p.csv",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--sigma", "1", "--gradient"],
            "sigma = 0",
        ),
        (
            vec!["--domain", b, "--grid", "4x4", "--device", "gpu"],
            "--device",
        ),
        // Without the cuda feature, or without a GPU: a clear error either way.
        (
            vec!["--domain", b, "--grid", "4x4", "--device", "cuda:0"],
            "CUDA",
        ),
        (
            vec!["--domain", b, "--grid", "8x8", "--boundary", "ln(x - 2)"],
            "must be finite",
        ),
    ];
    for (mut args, want) in cases {
        let mut full = vec!["wos", "--out", o_s, "--quiet"];
        if !args.contains(&"--boundary") {
            args.extend(["--boundary", "x"]);
        }
        full.extend(args.iter());
        let o = nabla(&full);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: expected '{want}' in: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote output");
    }
}
