//! Round trips, atomicity and error messages of `nabla-data`.

use std::path::Path;

use nabla_core::GridShape;
use nabla_data::{
    box_obstacle_mask, read_attrs, read_f64_dataset, read_mask, write_mask, write_solution,
    AttrValue, DataError,
};

fn grid(s: &str) -> GridShape {
    s.parse().unwrap()
}

/// Names of the entries of a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Writes an arbitrary dataset with the raw hdf5 API, to make malformed mask files.
fn write_raw<T: hdf5::H5Type>(path: &Path, name: &str, shape: &[usize], data: &[T]) {
    let f = hdf5::File::create(path).unwrap();
    f.new_dataset::<T>()
        .shape(shape)
        .create(name)
        .unwrap()
        .write_raw(data)
        .unwrap();
}

#[test]
fn solution_round_trip_2d() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sol.h5");
    let g = grid("5x3");
    let x: Vec<f64> = (0..7)
        .map(|i| (i as f64).sin() * 1e-3 + 1.0 / 3.0)
        .collect();
    let b: Vec<f64> = (0..7).map(|i| -(i as f64) * 0.1).collect();
    let u: Vec<f64> = (0..g.len()).map(|p| p as f64 + 0.25).collect();
    write_solution(
        &path,
        &x,
        &b,
        Some(&g),
        Some(&u),
        &[
            ("solver", AttrValue::from("mg-pcg")),
            ("tolerance", AttrValue::F64(1e-8)),
            ("relative_residual", AttrValue::F64(3.5e-9)),
            ("iterations", AttrValue::I64(12)),
            ("unknowns", AttrValue::from(7usize)),
        ],
    )
    .unwrap();

    let (sx, dx) = read_f64_dataset(&path, "x").unwrap();
    assert_eq!(sx, vec![7]);
    assert_eq!(dx, x); // exact, bit for bit
    let (sb, db) = read_f64_dataset(&path, "b").unwrap();
    assert_eq!(sb, vec![7]);
    assert_eq!(db, b);
    let (su, du) = read_f64_dataset(&path, "u").unwrap();
    assert_eq!(su, vec![3, 5]); // [NY, NX]
    assert_eq!(du, u);
    // C order [NY, NX] with x fastest: element (j, i) sits at i + NX*j.
    let (i, j) = (2, 1);
    assert_eq!(du[i + 5 * j], u[g.index(&[i, j])]);

    let attrs = read_attrs(&path).unwrap();
    assert_eq!(
        attrs,
        vec![
            ("iterations".to_string(), AttrValue::I64(12)),
            ("relative_residual".to_string(), AttrValue::F64(3.5e-9)),
            ("solver".to_string(), AttrValue::Str("mg-pcg".into())),
            ("tolerance".to_string(), AttrValue::F64(1e-8)),
            ("unknowns".to_string(), AttrValue::I64(7)),
        ]
    );
    assert_eq!(entries(dir.path()), vec!["sol.h5"]);
}

#[test]
fn solution_round_trip_3d_and_no_grid() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("4x3x2");
    let u: Vec<f64> = (0..g.len()).map(|p| (p * p) as f64).collect();
    let p3 = dir.path().join("sol3.h5");
    write_solution(&p3, &u, &u, Some(&g), Some(&u), &[]).unwrap();
    let (su, du) = read_f64_dataset(&p3, "u").unwrap();
    assert_eq!(su, vec![2, 3, 4]); // [NZ, NY, NX]
    assert_eq!(du, u);
    assert!(read_attrs(&p3).unwrap().is_empty());

    // Matrix input: no grid, so no `u`.
    let pm = dir.path().join("solm.h5");
    write_solution(&pm, &[1.0, 2.0], &[3.0, 4.0], None, None, &[]).unwrap();
    assert_eq!(read_f64_dataset(&pm, "x").unwrap().1, vec![1.0, 2.0]);
    let err = read_f64_dataset(&pm, "u").unwrap_err().to_string();
    assert!(err.contains("no dataset 'u'"), "{err}");
    assert!(err.contains("b, x"), "{err}");
}

#[test]
fn overwrite_replaces_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sol.h5");
    write_solution(&path, &[1.0], &[1.0], None, None, &[]).unwrap();
    write_solution(&path, &[2.0, 3.0], &[1.0, 1.0], None, None, &[]).unwrap();
    assert_eq!(read_f64_dataset(&path, "x").unwrap().1, vec![2.0, 3.0]);
    assert_eq!(entries(dir.path()), vec!["sol.h5"]);
}

#[test]
fn write_into_missing_directory_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_such_dir").join("sol.h5");
    let err = write_solution(&path, &[1.0], &[1.0], None, None, &[]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Write { .. }), "{msg}");
    assert!(
        msg.contains("sol.h5") && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert!(!path.exists());
    assert!(entries(dir.path()).is_empty());

    let err = write_mask(&path, &grid("2x2"), &[false; 4]).unwrap_err();
    assert!(matches!(err, DataError::Write { .. }));
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn failure_mid_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sol.h5");
    // A string attribute with an interior NUL cannot be stored: the failure happens after the
    // datasets were written into the temporary file.
    let err = write_solution(
        &path,
        &[1.0, 2.0],
        &[1.0, 1.0],
        None,
        None,
        &[
            ("tolerance", AttrValue::F64(1e-8)),
            ("note", AttrValue::from("a\0b")),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Write { .. }), "{err}");
    assert!(err.to_string().contains("note"), "{err}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));

    // An existing file is kept unchanged by a failed write.
    write_solution(&path, &[7.0], &[7.0], None, None, &[]).unwrap();
    write_solution(&path, &[1.0], &[1.0], None, None, &[("s", "a\0".into())]).unwrap_err();
    assert_eq!(read_f64_dataset(&path, "x").unwrap().1, vec![7.0]);
    assert_eq!(entries(dir.path()), vec!["sol.h5"]);
}

#[test]
fn inconsistent_arguments_are_rejected_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sol.h5");
    let g = grid("3x3");
    let cases: Vec<(Result<(), DataError>, &str)> = vec![
        (
            write_solution(&path, &[1.0], &[1.0, 2.0], None, None, &[]),
            "rhs b has 2 entries",
        ),
        (
            write_solution(&path, &[1.0], &[1.0], Some(&g), Some(&[0.0; 8]), &[]),
            "grid field has 8 values but the 3x3 grid has 9 points",
        ),
        (
            write_solution(&path, &[1.0], &[1.0], Some(&g), None, &[]),
            "without its grid values",
        ),
        (
            write_solution(
                &path,
                &[1.0],
                &[1.0],
                None,
                None,
                &[("a", 1.0.into()), ("a", 2.0.into())],
            ),
            "attribute 'a' is given twice",
        ),
        (write_mask(&path, &g, &[true; 4]), "mask has 4 values"),
    ];
    for (r, want) in cases {
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(want), "{msg} lacks {want}");
        assert!(msg.contains("sol.h5"), "{msg}");
    }
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn mask_round_trip_2d_and_3d() {
    let dir = tempfile::tempdir().unwrap();
    for spec in ["7x5", "4x3x2", "6"] {
        let g = grid(spec);
        let lo = vec![1; g.ndim()];
        let hi = vec![3; g.ndim()];
        let mask = box_obstacle_mask(&g, &lo, &hi);
        let expected: usize = g.dims().iter().map(|&n| n.min(3) - 1).product();
        assert_eq!(mask.iter().filter(|&&s| s).count(), expected);
        let path = dir.path().join(format!("mask_{spec}.h5"));
        write_mask(&path, &g, &mask).unwrap();
        assert_eq!(read_mask(&path, &g).unwrap(), mask);
    }
    // Layout: mask[j][i] in the file is the cell (i, j).
    let g = grid("7x5");
    let mask = box_obstacle_mask(&g, &[5, 0], &[7, 1]);
    assert!(mask[g.index(&[5, 0])] && mask[g.index(&[6, 0])]);
    assert_eq!(mask.iter().filter(|&&s| s).count(), 2);
}

#[test]
fn mask_accepts_other_integer_types() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("3x2");
    let path = dir.path().join("m.h5");
    write_raw::<i32>(&path, "mask", &[2, 3], &[0, 1, 0, 0, 0, 1]);
    let m = read_mask(&path, &g).unwrap();
    assert_eq!(m, vec![false, true, false, false, false, true]);
    let path = dir.path().join("m64.h5");
    write_raw::<u64>(&path, "mask", &[2, 3], &[1, 1, 0, 0, 0, 0]);
    assert_eq!(read_mask(&path, &g).unwrap()[..2], [true, true]);
}

#[test]
fn box_mask_clamps_and_defaults() {
    let g = grid("4x4");
    // hi beyond the grid is clamped; a missing axis spans everything.
    let m = box_obstacle_mask(&g, &[2], &[10]);
    assert_eq!(m.iter().filter(|&&s| s).count(), 8);
    assert!(box_obstacle_mask(&g, &[3, 3], &[1, 1]).iter().all(|&s| !s));
}

#[test]
fn mask_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("4x3"); // expects [3, 4]
    let path = dir.path().join("bad.h5");
    write_raw::<u8>(&path, "mask", &[5, 4], &[0; 20]);
    let msg = read_mask(&path, &g).unwrap_err().to_string();
    assert!(msg.contains("bad.h5"), "{msg}");
    assert!(msg.contains("shape [5, 4], expected [3, 4]"), "{msg}");
    assert!(!msg.contains("transposed"), "{msg}");

    let path = dir.path().join("rank.h5");
    write_raw::<u8>(&path, "mask", &[12], &[0; 12]);
    let msg = read_mask(&path, &g).unwrap_err().to_string();
    assert!(msg.contains("shape [12], expected [3, 4]"), "{msg}");
    assert!(msg.contains("rank 1 instead of 2"), "{msg}");
}

#[test]
fn mask_transposed_shape() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("4x3");
    let path = dir.path().join("t.h5");
    write_raw::<u8>(&path, "mask", &[4, 3], &[0; 12]);
    let err = read_mask(&path, &g).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Shape { .. }));
    assert!(msg.contains("shape [4, 3], expected [3, 4]"), "{msg}");
    assert!(msg.contains("transposed"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn mask_wrong_values() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("4x3");
    let path = dir.path().join("v.h5");
    let mut data = [0u8; 12];
    data[1 + 4 * 2] = 2;
    write_raw::<u8>(&path, "mask", &[3, 4], &data);
    let msg = read_mask(&path, &g).unwrap_err().to_string();
    assert!(msg.contains("v.h5"), "{msg}");
    assert!(msg.contains("holds 2 at grid point (i=1, j=2)"), "{msg}");
    assert!(msg.contains("only 0 (fluid) and 1 (solid)"), "{msg}");

    let path = dir.path().join("neg.h5");
    let mut data = [0i8; 12];
    data[0] = -1;
    write_raw::<i8>(&path, "mask", &[3, 4], &data);
    let msg = read_mask(&path, &g).unwrap_err().to_string();
    assert!(msg.contains("holds -1 at grid point (i=0, j=0)"), "{msg}");
}

#[test]
fn mask_wrong_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let g = grid("2x2");
    let path = dir.path().join("f.h5");
    write_raw::<f32>(&path, "mask", &[2, 2], &[0.0, 1.0, 0.0, 0.0]);
    let msg = read_mask(&path, &g).unwrap_err().to_string();
    assert!(msg.contains("element type f32"), "{msg}");
    assert!(msg.contains("integer"), "{msg}");

    // read_f64_dataset refuses integers.
    let path = dir.path().join("i.h5");
    write_raw::<u8>(&path, "mask", &[2, 2], &[0; 4]);
    let msg = read_f64_dataset(&path, "mask").unwrap_err().to_string();
    assert!(
        msg.contains("element type u8, expected f32 or f64"),
        "{msg}"
    );
}

#[test]
fn f32_datasets_read_as_f64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.h5");
    write_raw::<f32>(&path, "data", &[2, 1, 2], &[0.5, -1.25, 3.0, 1e-3]);
    let (shape, data) = read_f64_dataset(&path, "data").unwrap();
    assert_eq!(shape, vec![2, 1, 2]);
    assert_eq!(data, vec![0.5, -1.25, 3.0, 1e-3f32 as f64]);
}

#[test]
fn mask_missing_dataset_lists_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nomask.h5");
    {
        let f = hdf5::File::create(&path).unwrap();
        f.new_dataset::<u8>().shape([2, 2]).create("solid").unwrap();
        f.new_dataset::<f64>().shape([3]).create("x").unwrap();
        f.create_group("grid").unwrap();
    }
    let msg = read_mask(&path, &grid("2x2")).unwrap_err().to_string();
    assert!(msg.contains("nomask.h5"), "{msg}");
    assert!(msg.contains("no dataset 'mask'"), "{msg}");
    assert!(msg.contains("grid/, solid, x"), "{msg}");

    let path = dir.path().join("empty.h5");
    hdf5::File::create(&path).unwrap();
    let msg = read_mask(&path, &grid("2x2")).unwrap_err().to_string();
    assert!(msg.contains("(it contains: nothing)"), "{msg}");
}

#[test]
fn not_hdf5_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mask.h5");
    std::fs::write(&path, "this is a text file, not HDF5\n").unwrap();
    let err = read_mask(&path, &grid("2x2")).unwrap_err();
    assert!(matches!(err, DataError::NotHdf5 { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("mask.h5: not an HDF5 file"), "{msg}");

    let empty = dir.path().join("empty.h5");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        read_f64_dataset(&empty, "x").unwrap_err(),
        DataError::NotHdf5 { .. }
    ));

    let missing = dir.path().join("nope.h5");
    let msg = read_mask(&missing, &grid("2x2")).unwrap_err().to_string();
    assert!(msg.contains("nope.h5: file not found"), "{msg}");

    let msg = read_mask(dir.path(), &grid("2x2")).unwrap_err().to_string();
    assert!(msg.contains("directory"), "{msg}");
}

#[test]
fn truncated_hdf5_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trunc.h5");
    write_solution(&path, &[1.0; 100], &[1.0; 100], None, None, &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_f64_dataset(&path, "x").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("trunc.h5"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

/// Regenerates `datasets/mask_box_64x64.h5`: a 64×64 grid with a 16×16 solid box in the
/// middle (cells 24..40 on both axes). Run with `cargo test -p nabla-data -- --ignored`.
#[test]
#[ignore]
fn generate_mask_box_64x64() {
    let g = grid("64x64");
    let mask = box_obstacle_mask(&g, &[24, 24], &[40, 40]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mask_box_64x64.h5");
    write_mask(&path, &g, &mask).unwrap();
    assert_eq!(read_mask(&path, &g).unwrap(), mask);
}
