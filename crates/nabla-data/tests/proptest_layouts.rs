//! Property tests for every HDF5 reader a user reaches: on generated files with random
//! groups, datasets (ranks 0–4, small shapes, f32/f64/i32/u8), attributes and file names
//! (with `=` tokens), `inspect` describes the file and never fails, and every layout reader
//! returns either a value or a one-line error; random bytes and truncated files named `.h5`
//! are one-line errors. A panic anywhere fails the property.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::{FixedAscii, VarLenUnicode};
use hdf5::{File, Group, Location};
use nabla_core::GridShape;
use nabla_data::inverse::{
    detect_layout, inspect, parse_file_name, scan_file_name, InverseDataset, PerSeedFile,
    TensorFile,
};
use nabla_data::{
    read_attrs, read_darcy, read_darcy_coefficients, read_dcdm_data, read_f64_dataset, read_mask,
    read_series_1d,
};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Dtype {
    F32,
    F64,
    I32,
    U8,
    /// Rarer types a user's file may hold: booleans, unsigned 64-bit integers beyond
    /// `i64::MAX`, variable-length strings.
    Bool,
    U64,
    Str,
}

#[derive(Debug, Clone)]
enum Attr {
    F64(f64),
    I64(i64),
    Str(String),
    FixedStr(String),
    F64s(Vec<f64>),
    I32s(Vec<i32>),
}

#[derive(Debug, Clone)]
enum Node {
    Group {
        name: String,
        attrs: Vec<(String, Attr)>,
        children: Vec<Node>,
    },
    Dataset {
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        seed: u32,
        attrs: Vec<(String, Attr)>,
    },
}

/// The names the layouts look for, so that random files often come close to a real layout,
/// and random names (no `/`, which HDF5 reads as a path separator).
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "tensor", "nu", "x-coordinate", "y-coordinate", "t-coordinate", "coeff", "sol",
            "0000", "0001", "0002", "7", "data", "grid", "x", "y", "t", "mask", "u", "b",
            "mask_index", "ritz_values",
        ])
        .prop_map(str::to_string),
        2 => "[A-Za-z0-9_=. +-]{1,8}".prop_filter("not . or ..", |s| s != "." && s != ".."),
        1 => "\\PC{1,6}".prop_filter("no separator", |s| !s.contains('/') && s != "." && s != ".."),
    ]
}

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec!["delta", "k", "Du", "Dv", "beta", "Nu", "ic", "title"])
            .prop_map(str::to_string),
        1 => "[A-Za-z0-9_= .-]{1,8}",
    ]
}

fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        any::<f64>().prop_map(Attr::F64),
        (-5.0f64..5.0).prop_map(Attr::F64),
        any::<i64>().prop_map(Attr::I64),
        "\\PC{0,20}".prop_map(Attr::Str),
        "[ -~]{0,10}".prop_map(Attr::FixedStr),
        prop::collection::vec(-1e3f64..1e3, 0..12).prop_map(Attr::F64s),
        prop::collection::vec(any::<i32>(), 0..12).prop_map(Attr::I32s),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<(String, Attr)>> {
    prop::collection::vec((attr_name(), attr()), 0..4)
}

fn dataset() -> impl Strategy<Value = Node> {
    (
        member_name(),
        prop_oneof![
            6 => prop::sample::select(vec![Dtype::F32, Dtype::F64, Dtype::I32, Dtype::U8]),
            1 => prop::sample::select(vec![Dtype::Bool, Dtype::U64, Dtype::Str]),
        ],
        prop::collection::vec(0usize..4, 0..=4),
        any::<u32>(),
        attrs(),
    )
        .prop_map(|(name, dtype, shape, seed, attrs)| Node::Dataset {
            name,
            dtype,
            shape,
            seed,
            attrs,
        })
}

fn tree() -> impl Strategy<Value = Vec<Node>> {
    let node = dataset().prop_recursive(3, 24, 5, |inner| {
        (member_name(), attrs(), prop::collection::vec(inner, 0..5)).prop_map(
            |(name, attrs, children)| Node::Group {
                name,
                attrs,
                children,
            },
        )
    });
    prop::collection::vec(node, 0..7)
}

/// How one member of a layout template is written: left out, with the shape the layout
/// wants, or with another shape; and its element type.
#[derive(Debug, Clone)]
struct Member {
    /// 0: left out, 1–6: the layout's shape, 7–9: `alt`.
    choice: u8,
    alt: Vec<usize>,
    dtype: Dtype,
}

fn member() -> impl Strategy<Value = Member> {
    (
        0u8..10,
        prop::collection::vec(0usize..5, 0..=4),
        prop_oneof![
            4 => Just(Dtype::F32),
            3 => Just(Dtype::F64),
            1 => Just(Dtype::I32),
            1 => Just(Dtype::U8),
        ],
    )
        .prop_map(|(choice, alt, dtype)| Member { choice, alt, dtype })
}

/// Files close to one of the layouts (PDEBench per-seed, tensor, PDEBench Darcy, Darcy
/// sample, DCDM set, mask, solution), with members left out, reshaped or retyped, so that
/// the readers get past their first checks; and the root attributes such files carry.
fn template() -> impl Strategy<Value = (Vec<(String, Attr)>, Vec<Node>)> {
    (
        0u8..7,
        prop::collection::vec(0usize..4, 4),
        prop::collection::vec(member(), 12),
        any::<u32>(),
        prop::collection::vec(
            (
                prop::sample::select(vec!["beta", "Nu", "delta", "k"]),
                prop_oneof![
                    (0.0f64..3.0).prop_map(Attr::F64),
                    (0i64..3).prop_map(Attr::I64),
                    "[a-z]{0,3}".prop_map(Attr::Str),
                    prop::collection::vec(0.0f64..1.0, 0..3).prop_map(Attr::F64s),
                ],
            ),
            0..4,
        ),
    )
        .prop_map(|(kind, sizes, members, seed, root)| {
            let (n, t, x, m) = (sizes[0], sizes[1], sizes[2], sizes[3]);
            let mut it = members.into_iter();
            let mut next = |name: &str, shape: Vec<usize>| -> Option<Node> {
                let mb = it.next()?;
                let shape = match mb.choice {
                    0 => return None,
                    1..=6 => shape,
                    _ => mb.alt,
                };
                Some(Node::Dataset {
                    name: name.to_string(),
                    dtype: mb.dtype,
                    shape,
                    seed,
                    attrs: Vec::new(),
                })
            };
            let group = |name: &str, children: Vec<Node>| Node::Group {
                name: name.to_string(),
                attrs: Vec::new(),
                children,
            };
            let mut nodes: Vec<Node> = Vec::new();
            match kind {
                0 => {
                    // Per-seed: seeds 0000.. with data [t, x, (y,) c] and grid/x, grid/y, grid/t.
                    for s in 0..n.max(1) {
                        let mut children: Vec<Node> = Vec::new();
                        children.extend(next("data", vec![t, x, m, 2]));
                        let grid: Vec<Node> = [
                            next("x", vec![x]),
                            next("y", vec![m]),
                            next("t", vec![t + (s % 2)]),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        children.push(group("grid", grid));
                        nodes.push(group(&format!("{s:04}"), children));
                    }
                }
                1 | 2 => {
                    // Tensor [N, t, x] (1-D series) or PDEBench Darcy [N, 1, S, S] with nu.
                    if kind == 1 {
                        nodes.extend(next("tensor", vec![n, t, x]));
                        nodes.extend(next("t-coordinate", vec![t + 1]));
                    } else {
                        nodes.extend(next("tensor", vec![n, 1, x, x]));
                        nodes.extend(next("nu", vec![n, x, x]));
                        nodes.extend(next("y-coordinate", vec![x]));
                    }
                    nodes.extend(next("x-coordinate", vec![x]));
                }
                3 => {
                    nodes.extend(next("coeff", vec![x, x, 1]));
                    nodes.extend(next("sol", vec![x, x, 1]));
                }
                4 => {
                    // DCDM set: b [N, NY, NX], mask [M, NY, NX], mask_index [N], ritz [M, m].
                    nodes.extend(next("b", vec![n, t, x]));
                    nodes.extend(next("mask", vec![m, t, x]));
                    nodes.extend(next("mask_index", vec![n]));
                    nodes.extend(next("ritz_values", vec![m, 2]));
                }
                5 => nodes.extend(next("mask", vec![2, 3])),
                _ => {
                    nodes.extend(next("x", vec![n]));
                    nodes.extend(next("b", vec![n]));
                    nodes.extend(next("u", vec![t, x]));
                }
            }
            let root = root.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            (root, nodes)
        })
}

/// File names with PDE prefixes, `name=value` tokens (good and bad), PDEBench `Nu0.001`
/// tokens and random ones.
fn file_name() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        3 => prop::sample::select(vec![
            "1D", "KdV", "2D", "diff-react", "sample", "0012", "train", "100", "delta=2.5",
            "k=0.05", "Du=0.1", "Dv=0.2", "delta=abc", "=", "x=", "=3", "nu=inf", "Nu0.001",
            "M0.1", "ic=42", "delta=1e400", "Train",
        ])
        .prop_map(str::to_string),
        1 => "[A-Za-z0-9=.+-]{1,6}",
    ];
    (
        prop::collection::vec(token, 0..6),
        prop::sample::select(vec![".h5", ".hdf5", ".hdf", ".h5.h5", ""]),
    )
        .prop_map(|(tokens, ext)| {
            let stem = tokens.join("_");
            let name = format!("{stem}{ext}");
            if name.is_empty() || name.starts_with('.') {
                format!("f{name}.h5")
            } else {
                name
            }
        })
}

fn write_attrs(loc: &Location, attrs: &[(String, Attr)]) {
    for (name, a) in attrs {
        // A repeated name or one HDF5 refuses is simply left out of the file.
        let _ = match a {
            Attr::F64(v) => loc
                .new_attr::<f64>()
                .shape(())
                .create(name.as_str())
                .and_then(|at| at.write_scalar(v)),
            Attr::I64(v) => loc
                .new_attr::<i64>()
                .shape(())
                .create(name.as_str())
                .and_then(|at| at.write_scalar(v)),
            Attr::Str(s) => match s.parse::<VarLenUnicode>() {
                Ok(v) => loc
                    .new_attr::<VarLenUnicode>()
                    .shape(())
                    .create(name.as_str())
                    .and_then(|at| at.write_scalar(&v)),
                Err(_) => Ok(()),
            },
            Attr::FixedStr(s) => match FixedAscii::<16>::from_ascii(s) {
                Ok(v) => loc
                    .new_attr::<FixedAscii<16>>()
                    .shape(())
                    .create(name.as_str())
                    .and_then(|at| at.write_scalar(&v)),
                Err(_) => Ok(()),
            },
            Attr::F64s(v) => loc
                .new_attr::<f64>()
                .shape([v.len()])
                .create(name.as_str())
                .and_then(|at| at.write_raw(v)),
            Attr::I32s(v) => loc
                .new_attr::<i32>()
                .shape([v.len()])
                .create(name.as_str())
                .and_then(|at| at.write_raw(v)),
        };
    }
}

fn write_dataset(
    group: &Group,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    seed: u32,
) -> hdf5::Result<hdf5::Dataset> {
    let len: usize = shape.iter().product();
    // Small values, 0 and 1 most often (so that masks are sometimes valid).
    let v = |i: usize| ((i as u64 * 2_654_435_761 + u64::from(seed)) % 5) as u8 % 3;
    macro_rules! create {
        ($t:ty, $conv:expr) => {{
            let data: Vec<$t> = (0..len).map(|i| $conv(v(i))).collect();
            let b = group.new_dataset::<$t>();
            let ds = if shape.is_empty() {
                b.shape(()).create(name)?
            } else {
                b.shape(shape).create(name)?
            };
            ds.write_raw(&data)?;
            ds
        }};
    }
    Ok(match dtype {
        Dtype::F32 => create!(f32, f32::from),
        Dtype::F64 => create!(f64, f64::from),
        Dtype::I32 => create!(i32, i32::from),
        Dtype::U8 => create!(u8, |x| x),
        Dtype::Bool => create!(bool, |x| x == 1),
        Dtype::U64 => create!(u64, |x| u64::MAX - u64::from(x)),
        Dtype::Str => create!(VarLenUnicode, |x: u8| {
            VarLenUnicode::from_str(&"ab\nc"[..usize::from(x)]).unwrap_or_default()
        }),
    })
}

fn write_tree(group: &Group, nodes: &[Node]) {
    for node in nodes {
        match node {
            Node::Group {
                name,
                attrs,
                children,
            } => {
                if let Ok(g) = group.create_group(name) {
                    write_attrs(&g, attrs);
                    write_tree(&g, children);
                }
            }
            Node::Dataset {
                name,
                dtype,
                shape,
                seed,
                attrs,
            } => {
                if let Ok(ds) = write_dataset(group, name, *dtype, shape, *seed) {
                    write_attrs(&ds, attrs);
                }
            }
        }
    }
}

fn write_file(path: &Path, root_attrs: &[(String, Attr)], nodes: &[Node]) {
    let f = File::create(path).expect("create");
    write_attrs(&f, root_attrs);
    write_tree(&f, nodes);
    f.close().expect("close");
}

/// Every dataset path of a tree (for `read_f64_dataset`).
fn dataset_paths(nodes: &[Node], prefix: &str, out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Group { name, children, .. } => {
                dataset_paths(children, &format!("{prefix}{name}/"), out)
            }
            Node::Dataset { name, .. } => out.push(format!("{prefix}{name}")),
        }
    }
}

/// `Ok`, or an error whose message is one line and carries no HDF5 function name.
fn check<T>(what: &str, r: nabla_data::Result<T>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let m = e.to_string();
        prop_assert!(!m.is_empty(), "{what}: empty message");
        prop_assert!(
            !m.contains('\n') && !m.contains('\r'),
            "{what}: message over several lines: {m:?}"
        );
        prop_assert!(!m.contains("(): "), "{what}: HDF5 internals in {m:?}");
    }
    Ok(())
}

/// Runs every reader a user reaches on `path`; `names` are dataset paths to try.
fn run_readers(path: &Path, names: &[String]) -> Result<(), TestCaseError> {
    check("detect_layout", detect_layout(path))?;
    match PerSeedFile::open(path) {
        Ok(f) => {
            check("per-seed read_trajectory", f.read_trajectory(0))?;
            check("per-seed read_frames", f.read_frames(0, 0..1))?;
        }
        Err(e) => check::<()>("PerSeedFile::open", Err(e))?,
    }
    match TensorFile::open(path) {
        Ok(f) => {
            check("tensor read_trajectories", f.read_trajectories(0..f.n()))?;
            check("tensor read_frames", f.read_frames(0, 0..f.nt()))?;
            check("tensor numeric_attrs", f.numeric_attrs())?;
        }
        Err(e) => check::<()>("TensorFile::open", Err(e))?,
    }
    check(
        "read_darcy_sample",
        nabla_data::inverse::read_darcy_sample(path),
    )?;
    check("read_darcy", read_darcy(path, None))?;
    check("read_darcy 0..1", read_darcy(path, Some(0..1)))?;
    check("read_darcy_coefficients", read_darcy_coefficients(path))?;
    check("read_series_1d", read_series_1d(path, None))?;
    check("read_dcdm_data", read_dcdm_data(path))?;
    for grid in ["3x2", "2x3", "1x2x3"] {
        let grid: GridShape = grid.parse().expect("grid");
        check("read_mask", read_mask(path, &grid))?;
    }
    check("read_attrs", read_attrs(path))?;
    for name in names {
        check("read_f64_dataset", read_f64_dataset(path, name))?;
    }
    check("parse_file_name", parse_file_name(path))?;
    let _ = scan_file_name(path);
    Ok(())
}

/// `cases` cases, or `PROPTEST_CASES` for a longer sweep.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Random readable files: `inspect` describes each one, every reader gives a value or a
    /// one-line error, and a folder holding the file is inspected or refused in one line.
    #[test]
    fn random_hdf5_files(
        name in file_name(),
        root_attrs in attrs(),
        nodes in tree(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(&name);
        write_file(&path, &root_attrs, &nodes);
        match inspect(&path) {
            Ok(report) => {
                let text = report.to_string();
                prop_assert!(text.starts_with("file        "), "{text}");
                prop_assert!(text.contains("\nlayout      "), "{text}");
            }
            Err(e) => prop_assert!(false, "inspect refused a readable file: {e}"),
        }
        let mut names: Vec<String> = ["tensor", "nu", "0000/data", "", "/", "missing", "a/../b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        dataset_paths(&nodes, "", &mut names);
        run_readers(&path, &names)?;

        // The same file inside a data-set folder.
        let root = dir.path().join("set");
        let train = root.join("train");
        std::fs::create_dir_all(&train).expect("mkdir");
        let in_set: PathBuf = train.join(&name);
        std::fs::copy(&path, &in_set).expect("copy");
        check("InverseDataset::open", InverseDataset::open(&root))?;
        check("inspect folder", inspect(&root))?;
    }

    /// Files close to the known layouts: `inspect` describes them, every reader gives a
    /// value or a one-line error.
    #[test]
    fn near_layout_files(
        name in file_name(),
        (root_attrs, nodes) in template(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(&name);
        write_file(&path, &root_attrs, &nodes);
        if let Err(e) = inspect(&path) {
            prop_assert!(false, "inspect refused a readable file: {e}");
        }
        let mut names = Vec::new();
        dataset_paths(&nodes, "", &mut names);
        run_readers(&path, &names)?;
    }

    /// Truncated copies of random files: a value or a one-line error from everything.
    #[test]
    fn truncated_hdf5_files(
        nodes in tree(),
        keep in 0.0f64..1.0,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let full = dir.path().join("full.h5");
        write_file(&full, &[], &nodes);
        let bytes = std::fs::read(&full).expect("read");
        let path = dir.path().join("cut.h5");
        let cut = ((bytes.len() as f64) * keep) as usize;
        std::fs::write(&path, &bytes[..cut]).expect("write");
        check("inspect", inspect(&path))?;
        run_readers(&path, &["tensor".to_string(), "x".to_string()])?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Random bytes named `.h5` (sometimes after an HDF5 signature): every reader and
    /// `inspect` refuse them with a one-line error.
    #[test]
    fn random_bytes_are_one_line_errors(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        signature in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("1D_KdV_delta=2.5_train_100.h5");
        let mut content = Vec::new();
        if signature {
            content.extend_from_slice(b"\x89HDF\r\n\x1a\n");
        }
        content.extend_from_slice(&bytes);
        std::fs::write(&path, &content).expect("write");
        let r = inspect(&path);
        prop_assert!(r.is_err(), "random bytes inspected as HDF5");
        check("inspect", r)?;
        run_readers(&path, &["tensor".to_string()])?;
    }
}
