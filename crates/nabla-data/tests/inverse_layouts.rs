//! Inverse-problem layouts: files written read back with exact names, shapes, types and
//! attributes; files written "by hand" (as h5py would) in these layouts load; bad files are
//! one-line errors naming the file and the problem.

use std::path::Path;

use hdf5::File;
use nabla_data::inverse::{
    detect_layout, inspect, read_darcy_sample, write_darcy_sample, write_per_seed,
    write_tensor_series, DarcySample, InverseDataset, Layout, PerSeedData, PerSeedFile, Split,
    TensorFile, TensorSeries,
};
use nabla_data::{read_attrs, AttrValue};

fn per_seed_2d(seeds: usize) -> PerSeedData {
    let shape = vec![3, 4, 5, 2];
    let len: usize = shape.iter().product();
    PerSeedData {
        shape,
        x: (0..4).map(|i| i as f32 * 0.5).collect(),
        y: Some((0..5).map(|i| i as f32 * 0.25).collect()),
        t: vec![0.0, 0.05, 0.1],
        trajectories: (0..seeds)
            .map(|s| (0..len).map(|p| (s * 1000 + p) as f32).collect())
            .collect(),
    }
}

fn ds_info(path: &Path, name: &str) -> (Vec<usize>, String) {
    let f = File::open(path).unwrap();
    let ds = f.dataset(name).unwrap();
    let d = ds.dtype().unwrap().to_descriptor().unwrap();
    (ds.shape(), format!("{d:?}"))
}

fn one_line_naming(e: &str, path: &Path) {
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn per_seed_round_trip_exact_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2D_diff-react_Du=0.1_Dv=0.2_k=0.05.h5");
    let data = per_seed_2d(3);
    write_per_seed(
        &path,
        &data,
        &[("k", 0.05.into()), ("Du", 0.1.into()), ("Dv", 0.2.into())],
    )
    .unwrap();
    let f = File::open(&path).unwrap();
    let mut members = f.member_names().unwrap();
    members.sort();
    assert_eq!(members, vec!["0000", "0001", "0002"]);
    let mut g = f.group("0001").unwrap().member_names().unwrap();
    g.sort();
    assert_eq!(g, vec!["data", "grid"]);
    let mut grid = f.group("0001/grid").unwrap().member_names().unwrap();
    grid.sort();
    assert_eq!(grid, vec!["t", "x", "y"]);
    drop(f);
    assert_eq!(
        ds_info(&path, "0002/data"),
        (vec![3, 4, 5, 2], "Float(U4)".into())
    );
    assert_eq!(ds_info(&path, "0000/grid/x").0, vec![4]);
    assert_eq!(ds_info(&path, "0000/grid/y").0, vec![5]);
    assert_eq!(ds_info(&path, "0000/grid/t").0, vec![3]);
    let attrs = read_attrs(&path).unwrap();
    assert_eq!(attrs[0], ("Du".into(), AttrValue::F64(0.1)));
    assert_eq!(attrs[2], ("k".into(), AttrValue::F64(0.05)));

    let r = PerSeedFile::open(&path).unwrap();
    assert_eq!(r.seeds(), ["0000", "0001", "0002"]);
    assert_eq!(r.shape(), [3, 4, 5, 2]);
    assert_eq!(r.dtype(), "f32");
    assert_eq!(r.x(), data.x.as_slice());
    assert_eq!(r.y().unwrap(), data.y.as_ref().unwrap().as_slice());
    assert_eq!(r.t(), data.t.as_slice());
    assert_eq!(r.read_trajectory(2).unwrap(), data.trajectories[2]);
    // A window of frames is a hyperslab of [frames, x, y, c].
    let frame = r.frame_len();
    assert_eq!(frame, 40);
    assert_eq!(
        r.read_frames(1, 1..3).unwrap(),
        data.trajectories[1][frame..3 * frame]
    );
    let e = r.read_frames(1, 2..4).unwrap_err().to_string();
    assert!(
        e.contains("frames 2..4 are not within the 3 frames of '0001/data'"),
        "{e}"
    );
    let e = r.read_trajectory(3).unwrap_err().to_string();
    assert!(
        e.contains("seed index 3 is not within the file's 3 seed groups"),
        "{e}"
    );
    assert_eq!(
        detect_layout(&path).unwrap(),
        Layout::PerSeed {
            seeds: 3,
            shape: vec![3, 4, 5, 2],
            dtype: "f32".into()
        }
    );
}

/// What h5py writes for PDEBench 1-D per-seed files: float64 data [t, x, c], grid/x, grid/t.
#[test]
fn per_seed_1d_float64_written_by_hand_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1D_diff-react.h5");
    let f = File::create(&path).unwrap();
    for s in ["0000", "0001"] {
        let v: Vec<f64> = (0..4 * 6).map(|p| p as f64 / 3.0).collect();
        f.new_dataset::<f64>()
            .shape([4, 6, 1])
            .create(format!("{s}/data").as_str())
            .unwrap()
            .write_raw(&v)
            .unwrap();
        f.new_dataset::<f64>()
            .shape([6])
            .create(format!("{s}/grid/x").as_str())
            .unwrap()
            .write_raw(&[0.0f64; 6])
            .unwrap();
        // PDEBench-style grid/t with one entry more than the frames is accepted.
        f.new_dataset::<f64>()
            .shape([5])
            .create(format!("{s}/grid/t").as_str())
            .unwrap()
            .write_raw(&[0.0f64, 1.0, 2.0, 3.0, 4.0])
            .unwrap();
    }
    f.close().unwrap();
    let r = PerSeedFile::open(&path).unwrap();
    assert_eq!(
        (r.shape(), r.dtype(), r.y()),
        (&[4usize, 6, 1][..], "f64", None)
    );
    let w = r.read_frames(1, 3..4).unwrap();
    assert_eq!(
        w,
        (18..24)
            .map(|p| (p as f64 / 3.0) as f32)
            .collect::<Vec<_>>()
    );
}

#[test]
fn per_seed_bad_files_name_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, f: &dyn Fn(&File)| {
        let p = dir.path().join(name);
        let file = File::create(&p).unwrap();
        f(&file);
        file.close().unwrap();
        p
    };
    let grid = |f: &File, s: &str, nx: usize, nt: usize| {
        f.new_dataset::<f32>()
            .shape([nx])
            .create(format!("{s}/grid/x").as_str())
            .unwrap()
            .write_raw(&vec![0.0f32; nx])
            .unwrap();
        f.new_dataset::<f32>()
            .shape([nx])
            .create(format!("{s}/grid/y").as_str())
            .unwrap()
            .write_raw(&vec![0.0f32; nx])
            .unwrap();
        f.new_dataset::<f32>()
            .shape([nt])
            .create(format!("{s}/grid/t").as_str())
            .unwrap()
            .write_raw(&vec![0.0f32; nt])
            .unwrap();
    };
    // Missing dataset: a seed group without data.
    let p = make("missing.h5", &|f| {
        f.new_dataset::<f32>()
            .shape([2, 3, 3, 2])
            .create("0000/data")
            .unwrap()
            .write_raw(&[0f32; 36])
            .unwrap();
        grid(f, "0000", 3, 2);
        f.create_group("0001")
            .unwrap()
            .new_dataset::<f32>()
            .shape([3])
            .create("grid")
            .unwrap();
    });
    let e = PerSeedFile::open(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(e.contains("no dataset '0001/data'"), "{e}");
    // Wrong rank.
    let p = make("rank.h5", &|f| {
        f.new_dataset::<f32>()
            .shape([2, 9])
            .create("0000/data")
            .unwrap()
            .write_raw(&[0f32; 18])
            .unwrap();
    });
    let e = detect_layout(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(
        e.contains("'0000/data' has shape [2, 9], expected [t, x, c] (1-D) or [t, x, y, c] (2-D)"),
        "{e}"
    );
    // Wrong dtype.
    let p = make("dtype.h5", &|f| {
        f.new_dataset::<i32>()
            .shape([2, 3, 3, 2])
            .create("0000/data")
            .unwrap()
            .write_raw(&[0i32; 36])
            .unwrap();
    });
    let e = PerSeedFile::open(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(
        e.contains("'0000/data' has element type i32, expected float32 or float64"),
        "{e}"
    );
    // Seeds of different shapes.
    let p = make("shapes.h5", &|f| {
        f.new_dataset::<f32>()
            .shape([2, 3, 3, 2])
            .create("0000/data")
            .unwrap()
            .write_raw(&[0f32; 36])
            .unwrap();
        f.new_dataset::<f32>()
            .shape([2, 3, 4, 2])
            .create("0001/data")
            .unwrap()
            .write_raw(&[0f32; 48])
            .unwrap();
        grid(f, "0000", 3, 2);
    });
    let e = PerSeedFile::open(&p).unwrap_err().to_string();
    assert!(
        e.contains(
            "'0001/data' has shape [2, 3, 4, 2], expected [2, 3, 3, 2], the shape of 0000/data"
        ),
        "{e}"
    );
    // Grid of the wrong length.
    let p = make("grid.h5", &|f| {
        f.new_dataset::<f32>()
            .shape([2, 3, 3, 2])
            .create("0000/data")
            .unwrap()
            .write_raw(&[0f32; 36])
            .unwrap();
        grid(f, "0000", 4, 2);
    });
    let e = PerSeedFile::open(&p).unwrap_err().to_string();
    assert!(
        e.contains("'0000/grid/x' has shape [4], expected [3]"),
        "{e}"
    );
    // Truncated file.
    let good = dir.path().join("good.h5");
    write_per_seed(&good, &per_seed_2d(2), &[]).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("truncated.h5");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = PerSeedFile::open(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(e.contains("cannot read HDF5 file"), "{e}");
    // Not HDF5 at all.
    let p = dir.path().join("text.h5");
    std::fs::write(&p, "hello").unwrap();
    let e = detect_layout(&p).unwrap_err().to_string();
    assert!(e.contains("not an HDF5 file"), "{e}");
    // No known layout.
    let p = make("other.h5", &|f| {
        f.new_dataset::<f32>()
            .shape([3])
            .create("velocity")
            .unwrap()
            .write_raw(&[0f32; 3])
            .unwrap();
    });
    let e = detect_layout(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(
        e.contains("unrecognised layout: expected PDEBench per-seed groups")
            && e.contains("found: velocity"),
        "{e}"
    );
}

#[test]
fn tensor_round_trip_chunks_and_single_trajectory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1D_KdV_delta=2.5.h5");
    let s = TensorSeries {
        n: 3,
        nt: 4,
        nx: 5,
        tensor: (0..60).map(|v| v as f32 * 0.5).collect(),
        x: (0..5).map(|v| v as f32).collect(),
        t: (0..4).map(|v| v as f32 * 0.7).collect(),
    };
    write_tensor_series(
        &path,
        &s,
        &[("delta", 2.5.into()), ("scheme", "etdrk4".into())],
    )
    .unwrap();
    assert_eq!(
        ds_info(&path, "tensor"),
        (vec![3, 4, 5], "Float(U4)".into())
    );
    assert_eq!(ds_info(&path, "x-coordinate").0, vec![5]);
    assert_eq!(ds_info(&path, "t-coordinate").0, vec![4]);
    {
        let f = File::open(&path).unwrap();
        assert_eq!(f.dataset("tensor").unwrap().chunk(), Some(vec![1, 4, 5]));
    }
    let f = TensorFile::open(&path).unwrap();
    assert_eq!(
        (f.n(), f.nt(), f.nx(), f.dtype(), f.is_single()),
        (3, 4, 5, "f32", false)
    );
    assert_eq!(f.read_trajectories(0..3).unwrap(), s.tensor);
    assert_eq!(f.read_trajectories(1..2).unwrap(), s.tensor[20..40]);
    assert_eq!(f.read_frames(2, 1..3).unwrap(), s.tensor[45..55]);
    assert_eq!(f.numeric_attrs().unwrap(), vec![("delta".to_string(), 2.5)]);
    assert_eq!(f.t(), s.t.as_slice());
    let e = f.read_frames(3, 0..1).unwrap_err().to_string();
    assert!(
        e.contains("trajectory 3, frames 0..1 are not within the file's 3 trajectories"),
        "{e}"
    );

    // PDEInvBench-style single trajectory [t, x], float64, t with t + 1 entries.
    let p = dir.path().join("delta=3.5_ic=42.h5");
    let file = File::create(&p).unwrap();
    let v: Vec<f64> = (0..12).map(|i| i as f64).collect();
    file.new_dataset::<f64>()
        .shape([3, 4])
        .create("tensor")
        .unwrap()
        .write_raw(&v)
        .unwrap();
    file.new_dataset::<f64>()
        .shape([4])
        .create("x-coordinate")
        .unwrap()
        .write_raw(&[0.0f64; 4])
        .unwrap();
    file.new_dataset::<f64>()
        .shape([4])
        .create("t-coordinate")
        .unwrap()
        .write_raw(&[0.0f64; 4])
        .unwrap();
    file.close().unwrap();
    let f = TensorFile::open(&p).unwrap();
    assert_eq!(
        (f.n(), f.nt(), f.nx(), f.is_single(), f.dtype()),
        (1, 3, 4, true, "f64")
    );
    assert_eq!(f.read_frames(0, 2..3).unwrap(), vec![8.0, 9.0, 10.0, 11.0]);
}

#[test]
fn tensor_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.h5");
    let file = File::create(&p).unwrap();
    file.new_dataset::<f32>()
        .shape([2, 3, 4, 1])
        .create("tensor")
        .unwrap()
        .write_raw(&[0f32; 24])
        .unwrap();
    file.close().unwrap();
    let e = TensorFile::open(&p).unwrap_err().to_string();
    one_line_naming(&e, &p);
    assert!(
        e.contains("'tensor' has shape [2, 3, 4, 1], expected [N, t, x]"),
        "{e}"
    );
    let p = dir.path().join("b.h5");
    let file = File::create(&p).unwrap();
    file.new_dataset::<f32>()
        .shape([2, 3, 4])
        .create("tensor")
        .unwrap()
        .write_raw(&[0f32; 24])
        .unwrap();
    file.new_dataset::<f32>()
        .shape([4])
        .create("x-coordinate")
        .unwrap()
        .write_raw(&[0f32; 4])
        .unwrap();
    file.close().unwrap();
    let e = detect_layout(&p).unwrap_err().to_string();
    assert!(
        e.contains("no dataset 't-coordinate'") && e.contains("tensor, x-coordinate"),
        "{e}"
    );
    let p = dir.path().join("c.h5");
    let file = File::create(&p).unwrap();
    file.new_dataset::<u8>()
        .shape([2, 3, 4])
        .create("tensor")
        .unwrap()
        .write_raw(&[0u8; 24])
        .unwrap();
    file.close().unwrap();
    let e = TensorFile::open(&p).unwrap_err().to_string();
    assert!(e.contains("'tensor' has element type u8"), "{e}");
}

#[test]
fn darcy_sample_round_trip_and_hand_written_2d() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sample_0003.h5");
    let s = DarcySample {
        s: 3,
        coeff: vec![3.0, 12.0, 3.0, 3.0, 12.0, 12.0, 3.0, 3.0, 3.0],
        sol: (0..9).map(|v| v as f32 * 1e-3).collect(),
    };
    write_darcy_sample(&p, &s, &[("r", 0.333.into())]).unwrap();
    assert_eq!(ds_info(&p, "coeff"), (vec![3, 3, 1], "Float(U4)".into()));
    assert_eq!(ds_info(&p, "sol"), (vec![3, 3, 1], "Float(U4)".into()));
    assert_eq!(read_darcy_sample(&p).unwrap(), s);
    assert_eq!(detect_layout(&p).unwrap(), Layout::DarcySample { s: 3 });
    let p = dir.path().join("sample_0004.h5");
    let f = File::create(&p).unwrap();
    f.new_dataset::<f64>()
        .shape([2, 2])
        .create("coeff")
        .unwrap()
        .write_raw(&[3.0f64; 4])
        .unwrap();
    f.new_dataset::<f64>()
        .shape([3, 3])
        .create("sol")
        .unwrap()
        .write_raw(&[0.0f64; 9])
        .unwrap();
    f.close().unwrap();
    let e = read_darcy_sample(&p).unwrap_err().to_string();
    assert!(
        e.contains("'sol' has shape [3, 3], expected [2, 2, 1] or [2, 2] like 'coeff'"),
        "{e}"
    );
}

fn folder(root: &Path) {
    for (split, k) in [
        (Split::Train, 0.02),
        (Split::Train, 0.085),
        (Split::OutOfDistribution, 0.06),
    ] {
        let d = root.join(split.dir_name());
        std::fs::create_dir_all(&d).unwrap();
        let name = format!("2D_diff-react_Du=0.1_Dv=0.2_k={k}.h5");
        write_per_seed(
            &d.join(name),
            &per_seed_2d(2),
            &[("k", k.into()), ("Du", 0.1.into()), ("Dv", 0.2.into())],
        )
        .unwrap();
    }
}

#[test]
fn folder_lists_splits_and_inspect_describes_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rd");
    folder(&root);
    std::fs::write(root.join("README.txt"), "x").unwrap();
    let ds = InverseDataset::open(&root).unwrap();
    assert_eq!(ds.splits().len(), 2);
    let train = ds.split(Split::Train).unwrap();
    assert_eq!(train.files.len(), 2);
    assert_eq!(
        train.files[1].checked_parameters().unwrap(),
        vec![("Du".into(), 0.1), ("Dv".into(), 0.2), ("k".into(), 0.085)]
    );
    assert_eq!(ds.other_entries(), ["README.txt"]);
    let text = inspect(&root).unwrap().to_string();
    assert!(text.contains("2-D reaction-diffusion"), "{text}");
    assert!(
        text.contains("train/") && text.contains("2 files") && text.contains("4 trajectories"),
        "{text}"
    );
    assert!(text.contains("k in [0.02, 0.085]"), "{text}");
    assert!(text.contains("out_of_distribution/"), "{text}");
    let file = root
        .join("train")
        .join("2D_diff-react_Du=0.1_Dv=0.2_k=0.02.h5");
    let text = inspect(&file).unwrap().to_string();
    assert!(
        text.contains("PDEBench per-seed: 2 seed groups, data [t, x, y, c] = [3, 4, 5, 2] f32"),
        "{text}"
    );
    assert!(text.contains("0000/data  [3, 4, 5, 2] f32"), "{text}");
    assert!(text.contains("0000/grid/t  [3] f32"), "{text}");
    assert!(
        text.contains("... 1 more seed groups (0001 to 0001)"),
        "{text}"
    );
    assert!(text.contains("Du = 0.1, Dv = 0.2, k = 0.02"), "{text}");
}

#[test]
fn folder_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rd");
    folder(&root);
    // Unknown parameter in a file name.
    let bad = root
        .join("train")
        .join("2D_diff-react_Du=0.1_Dv=0.2_kappa=0.05.h5");
    write_per_seed(&bad, &per_seed_2d(1), &[]).unwrap();
    let e = InverseDataset::open(&root).unwrap_err().to_string();
    one_line_naming(&e, &bad);
    assert!(e.contains("unknown parameter 'kappa' in the file name; 2-D reaction-diffusion (FitzHugh-Nagumo) files take Du, Dv, k"), "{e}");
    std::fs::remove_file(&bad).unwrap();
    // Attribute disagreeing with the name.
    let lie = root
        .join("test")
        .join("2D_diff-react_Du=0.1_Dv=0.2_k=0.03.h5");
    std::fs::create_dir_all(lie.parent().unwrap()).unwrap();
    write_per_seed(&lie, &per_seed_2d(1), &[("k", 0.04.into())]).unwrap();
    let e = inspect(&root).unwrap_err().to_string();
    one_line_naming(&e, &lie);
    assert!(
        e.contains("file attribute 'k' is 0.04 but the file name says k=0.03"),
        "{e}"
    );
    // No splits.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("junk")).unwrap();
    let e = InverseDataset::open(&empty).unwrap_err().to_string();
    assert!(e.contains("no split directories: expected at least one of train/, validation/, test/, out_of_distribution/, out_of_distribution_extreme/; found: junk"), "{e}");
}
