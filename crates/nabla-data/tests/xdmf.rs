//! XDMF sidecars of every layout nabla writes: the XML parses; every HDF5 reference names the
//! file beside it and a dataset in it with its real shape, number type and precision;
//! hyperslabs stay inside their datasets; every field has the grid's node (or cell) count;
//! the geometry is the grid's; and each field, resolved through the XML as a reader would,
//! holds exactly the values that were written for it.
//!
//! Set `NABLA_XDMF_KEEP=DIR` to copy the files to DIR (for opening them in ParaView or VTK).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nabla_core::GridShape;
use nabla_data::inverse::{
    write_darcy_sample, write_per_seed, write_tensor_series, DarcySample, PerSeedData, TensorSeries,
};
use nabla_data::xdmf::{
    grid_fields_sidecar, sidecar_path, solution_sidecar, write_sidecar, Center, MAX_FRAMES,
    MAX_SEEDS,
};
use nabla_data::{
    write_darcy, write_dcdm_data, write_f64_datasets, write_series_1d, write_solution, DarcyData,
    DcdmData, Series1dData,
};

/// A dataset read whole: shape, values as f64, (NumberType, Precision) it must be given.
struct Ds {
    shape: Vec<usize>,
    values: Vec<f64>,
    number: (&'static str, &'static str),
}

fn read_ds(h5: &Path, name: &str) -> Ds {
    let f = hdf5::File::open(h5).unwrap();
    let ds = f
        .dataset(name)
        .unwrap_or_else(|e| panic!("{}: no dataset '{name}': {e}", h5.display()));
    let desc = ds.dtype().unwrap().to_descriptor().unwrap();
    use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T};
    let (values, number) = match desc {
        T::Float(FloatSize::U4) => (
            ds.read_raw::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect(),
            ("Float", "4"),
        ),
        T::Float(FloatSize::U8) => (ds.read_raw::<f64>().unwrap(), ("Float", "8")),
        T::Unsigned(IntSize::U1) => (
            ds.read_raw::<u8>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect(),
            ("UChar", "1"),
        ),
        other => panic!("dataset '{name}' of unexpected type {other:?}"),
    };
    Ds {
        shape: ds.shape(),
        values,
        number,
    }
}

fn dims(node: roxmltree::Node) -> Vec<usize> {
    node.attribute("Dimensions")
        .unwrap_or_else(|| panic!("no Dimensions on {node:?}"))
        .split_whitespace()
        .map(|d| d.parse().unwrap())
        .collect()
}

fn numbers(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn items<'a, 'i>(node: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(|c| c.has_tag_name("DataItem"))
        .collect()
}

/// Resolves a DataItem as a reader does: (Dimensions, values in C order). Checks every HDF
/// reference on the way.
fn resolve(item: roxmltree::Node, h5: &Path) -> (Vec<usize>, Vec<f64>) {
    let d = dims(item);
    if item.attribute("ItemType") == Some("HyperSlab") {
        let kids = items(item);
        assert_eq!(kids.len(), 2, "a HyperSlab has a selection and a source");
        let sel = numbers(kids[0].text().unwrap());
        let (src_dims, src) = resolve(kids[1], h5);
        let rank = src_dims.len();
        assert_eq!(dims(kids[0]), vec![3, rank]);
        assert_eq!(sel.len(), 3 * rank);
        let start: Vec<usize> = sel[..rank].iter().map(|&v| v as usize).collect();
        let stride: Vec<usize> = sel[rank..2 * rank].iter().map(|&v| v as usize).collect();
        let count: Vec<usize> = sel[2 * rank..].iter().map(|&v| v as usize).collect();
        for a in 0..rank {
            assert!(stride[a] >= 1);
            assert!(
                start[a] + (count[a] - 1) * stride[a] < src_dims[a],
                "hyperslab outside the dataset"
            );
        }
        assert_eq!(
            count.iter().product::<usize>(),
            d.iter().product::<usize>(),
            "a HyperSlab's Dimensions hold its selection"
        );
        let mut out = Vec::new();
        let total: usize = count.iter().product();
        for flat in 0..total {
            let mut rest = flat;
            let mut idx = vec![0; rank];
            for a in (0..rank).rev() {
                idx[a] = start[a] + (rest % count[a]) * stride[a];
                rest /= count[a];
            }
            let mut p = 0;
            for a in 0..rank {
                p = p * src_dims[a] + idx[a];
            }
            out.push(src[p]);
        }
        return (d, out);
    }
    match item.attribute("Format") {
        Some("XML") => {
            let v = numbers(item.text().unwrap_or(""));
            assert_eq!(v.len(), d.iter().product::<usize>());
            (d, v)
        }
        Some("HDF") => {
            let text = item.text().unwrap().trim();
            let (file, path) = text.split_once(':').unwrap();
            let want = h5.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                file, want,
                "the HDF reference names the file beside the sidecar"
            );
            assert!(path.starts_with('/'), "{text}");
            let ds = read_ds(h5, &path[1..]);
            assert_eq!(d, ds.shape, "Dimensions of {text} are the dataset's shape");
            assert_eq!(
                (
                    item.attribute("NumberType").unwrap(),
                    item.attribute("Precision").unwrap()
                ),
                ds.number,
                "{text}"
            );
            (d, ds.values)
        }
        other => panic!("unexpected Format {other:?}"),
    }
}

/// One grid of a sidecar, resolved: node dims, node coordinates per axis (x first), fields by
/// name (center, values) and its time.
struct Grid {
    nodes: Vec<usize>,
    coords: Vec<Vec<f64>>,
    fields: HashMap<String, (String, Vec<f64>)>,
    time: Option<f64>,
}

/// Parses the sidecar of `h5` and checks it; returns its grids and its comments.
fn load(h5: &Path) -> (Vec<Grid>, String) {
    if let Ok(keep) = std::env::var("NABLA_XDMF_KEEP") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        for p in [h5.to_path_buf(), sidecar_path(h5)] {
            std::fs::copy(&p, keep.join(p.file_name().unwrap())).unwrap();
        }
    }
    let xml = std::fs::read_to_string(sidecar_path(h5)).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name("Xdmf"));
    assert_eq!(root.attribute("Version"), Some("3.0"));
    let comments: String = doc
        .descendants()
        .filter(|n| n.is_comment())
        .map(|n| n.text().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let domain = root.children().find(|c| c.has_tag_name("Domain")).unwrap();
    let top: Vec<_> = domain
        .children()
        .filter(|c| c.has_tag_name("Grid"))
        .collect();
    assert_eq!(top.len(), 1, "one grid (or one collection) per domain");
    let uniform: Vec<roxmltree::Node> = if top[0].attribute("GridType") == Some("Collection") {
        assert_eq!(top[0].attribute("CollectionType"), Some("Temporal"));
        top[0]
            .children()
            .filter(|c| c.has_tag_name("Grid"))
            .collect()
    } else {
        top.clone()
    };
    let grids = uniform
        .into_iter()
        .map(|g| {
            assert_eq!(g.attribute("GridType"), Some("Uniform"));
            let topo = g.children().find(|c| c.has_tag_name("Topology")).unwrap();
            let nodes = dims(topo);
            let geo = g.children().find(|c| c.has_tag_name("Geometry")).unwrap();
            let kind = topo.attribute("TopologyType").unwrap();
            let geo_items = items(geo);
            let coords: Vec<Vec<f64>> = match (kind, geo.attribute("GeometryType").unwrap()) {
                ("3DCoRectMesh", "ORIGIN_DXDYDZ") => {
                    assert_eq!(nodes.len(), 3);
                    let origin = resolve(geo_items[0], h5).1;
                    let spacing = resolve(geo_items[1], h5).1;
                    // z, y, x order in the file; x first here.
                    (0..3)
                        .rev()
                        .map(|a| {
                            (0..nodes[a])
                                .map(|i| origin[a] + i as f64 * spacing[a])
                                .collect()
                        })
                        .collect()
                }
                ("2DRectMesh", "VXVY") | ("3DRectMesh", "VXVYVZ") => {
                    assert_eq!(geo_items.len(), nodes.len());
                    geo_items
                        .iter()
                        .enumerate()
                        .map(|(k, it)| {
                            let (d, v) = resolve(*it, h5);
                            // VX is the fastest axis, the last Dimension.
                            assert_eq!(d, vec![nodes[nodes.len() - 1 - k]]);
                            v
                        })
                        .collect()
                }
                other => panic!("unexpected topology/geometry {other:?}"),
            };
            let mut fields = HashMap::new();
            for a in g.children().filter(|c| c.has_tag_name("Attribute")) {
                let center = a.attribute("Center").unwrap().to_string();
                let want: Vec<usize> = match center.as_str() {
                    "Node" => nodes.clone(),
                    "Cell" => nodes.iter().map(|n| n - 1).collect(),
                    c => panic!("center {c}"),
                };
                let it = items(a);
                assert_eq!(it.len(), 1);
                let (d, v) = resolve(it[0], h5);
                assert_eq!(d, want, "field dims are the grid's");
                fields.insert(a.attribute("Name").unwrap().to_string(), (center, v));
            }
            let time = g
                .children()
                .find(|c| c.has_tag_name("Time"))
                .map(|t| t.attribute("Value").unwrap().parse().unwrap());
            Grid {
                nodes,
                coords,
                fields,
                time,
            }
        })
        .collect();
    (grids, comments)
}

fn as_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

fn index_coords(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

#[test]
fn poisson_solutions_in_2d_3d_1d_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    for (spec, masked) in [
        ("4x3", false),
        ("4x3x2", false),
        ("5", false),
        ("4x3", true),
    ] {
        let grid: GridShape = spec.parse().unwrap();
        let u: Vec<f64> = (0..grid.len()).map(|p| p as f64 * 0.5).collect();
        let n = if masked { grid.len() - 2 } else { grid.len() };
        let b: Vec<f64> = (0..n).map(|p| 100.0 + p as f64).collect();
        let name = format!("sol_{spec}{}.h5", if masked { "_mask" } else { "" });
        let h5 = dir.path().join(name);
        write_solution(&h5, &b, &b, Some(&grid), Some(&u), &[]).unwrap();
        write_sidecar(&h5, &solution_sidecar(&grid, n)).unwrap();
        let (grids, comments) = load(&h5);
        assert!(comments.contains("grid-index units"), "{comments}");
        assert_eq!(grids.len(), 1);
        let g = &grids[0];
        assert_eq!(g.time, None);
        let d = grid.dims();
        match d.len() {
            // 1-D grids are a 3-D grid one node thick.
            1 => assert_eq!(g.nodes, vec![1, 1, d[0]]),
            _ => assert_eq!(g.nodes, grid.c_order_dims()),
        }
        for (a, &n_a) in d.iter().enumerate() {
            assert_eq!(g.coords[a], index_coords(n_a), "{spec} axis {a}");
        }
        assert_eq!(g.fields["u"], ("Node".to_string(), u.clone()));
        if masked {
            assert!(!g.fields.contains_key("b"));
        } else {
            assert_eq!(g.fields["b"].1, b);
        }
    }
}

#[test]
fn cell_fields_on_a_bounding_box() {
    // What `nabla wos --grid 4x3 --out F.h5` writes: cell values over the domain's box.
    let dir = tempfile::tempdir().unwrap();
    for spec in ["4x3", "4x3x2"] {
        let grid: GridShape = spec.parse().unwrap();
        let dims = grid.c_order_dims();
        let u: Vec<f64> = (0..grid.len()).map(|p| p as f64).collect();
        let mut se = u.clone();
        se[1] = f64::NAN;
        let h5 = dir.path().join(format!("wos_{spec}.h5"));
        write_f64_datasets(&h5, &[("u", &dims, &u), ("stderr", &dims, &se)], &[]).unwrap();
        let (min, h) = ([-1.0, 0.5, 2.0], [0.5, 1.0 / 3.0, 0.25]);
        let s = grid_fields_sidecar(&grid, &min, &h, Center::Cell, &["u", "stderr"], "WoS");
        write_sidecar(&h5, &s).unwrap();
        let (grids, _) = load(&h5);
        let g = &grids[0];
        for (a, &n) in grid.dims().iter().enumerate() {
            assert_eq!(g.coords[a].len(), n + 1);
            for (i, c) in g.coords[a].iter().enumerate() {
                assert!((c - (min[a] + i as f64 * h[a])).abs() < 1e-12);
            }
        }
        assert_eq!(g.fields["u"], ("Cell".to_string(), u));
        assert!(g.fields["stderr"].1[1].is_nan());
    }
}

fn darcy(n: usize, s: usize) -> DarcyData {
    DarcyData {
        n,
        s,
        coefficient: (0..n * s * s).map(|p| (p % 7) as f32).collect(),
        solution: (0..n * s * s).map(|p| p as f32 * 0.25).collect(),
        x: (0..s).map(|i| i as f32 * 0.5).collect(),
        y: (0..s).map(|i| 10.0 + i as f32).collect(),
        beta: 1.0,
    }
}

#[test]
fn darcy_files_list_one_grid_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("darcy.h5");
    let (n, s) = (3, 4);
    let data = darcy(n, s);
    write_darcy(&h5, &data, &[]).unwrap();
    let (grids, comments) = load(&h5);
    assert!(comments.contains("ParaView's X axis is the file's y-coordinate"));
    assert_eq!(grids.len(), n);
    for (k, g) in grids.iter().enumerate() {
        assert_eq!(g.time, Some(k as f64));
        assert_eq!(g.nodes, vec![s, s]);
        // The fastest axis (ParaView's X) is PDEBench's y.
        assert_eq!(g.coords[0], as_f64(&data.y));
        assert_eq!(g.coords[1], as_f64(&data.x));
        let block = k * s * s..(k + 1) * s * s;
        assert_eq!(g.fields["tensor"].1, as_f64(&data.solution[block.clone()]));
        assert_eq!(g.fields["nu"].1, as_f64(&data.coefficient[block]));
    }
}

#[test]
fn long_files_list_the_first_samples_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("many.h5");
    let n = MAX_FRAMES + 5;
    write_darcy(&h5, &darcy(n, 2), &[]).unwrap();
    let (grids, comments) = load(&h5);
    assert_eq!(grids.len(), MAX_FRAMES);
    assert!(
        comments.contains(&format!("samples 0 to {} of {n}", MAX_FRAMES - 1)),
        "{comments}"
    );
    let size = std::fs::metadata(sidecar_path(&h5)).unwrap().len();
    assert!(size < 200_000, "sidecar of {size} bytes");
}

#[test]
fn series_files_are_space_time_images() {
    let dir = tempfile::tempdir().unwrap();
    let (n, nt, nx) = (2, 3, 5);
    let tensor: Vec<f32> = (0..n * nt * nx).map(|p| p as f32).collect();
    let x: Vec<f32> = (0..nx).map(|i| i as f32 / nx as f32).collect();
    for t_len in [nt + 1, nt] {
        let t: Vec<f32> = (0..t_len).map(|m| m as f32 * 0.1).collect();
        let h5 = dir.path().join(format!("burgers_{t_len}.h5"));
        let data = Series1dData {
            n,
            nt,
            nx,
            tensor: tensor.clone(),
            x: x.clone(),
            t: t.clone(),
            nu: 0.1,
        };
        write_series_1d(&h5, &data, &[]).unwrap();
        let kdv = dir.path().join(format!("1D_KdV_delta=2.5_{t_len}.h5"));
        let series = TensorSeries {
            n,
            nt,
            nx,
            tensor: tensor.clone(),
            x: x.clone(),
            t: t.clone(),
        };
        write_tensor_series(&kdv, &series, &[]).unwrap();
        for file in [h5, kdv] {
            let (grids, _) = load(&file);
            assert_eq!(grids.len(), n);
            for (k, g) in grids.iter().enumerate() {
                assert_eq!(g.nodes, vec![nt, nx]);
                assert_eq!(g.coords[0], as_f64(&x));
                assert_eq!(g.coords[1], as_f64(&t[..nt]));
                let block = k * nt * nx..(k + 1) * nt * nx;
                assert_eq!(g.fields["tensor"].1, as_f64(&tensor[block]));
            }
        }
    }
}

#[test]
fn per_seed_files_in_2d_and_1d() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = MAX_SEEDS + 1;
    let (nt, nx, ny, nc) = (3, 4, 5, 2);
    let shape = vec![nt, nx, ny, nc];
    let len: usize = shape.iter().product();
    let data = PerSeedData {
        shape: shape.clone(),
        x: (0..nx).map(|i| i as f32 * 0.5).collect(),
        y: Some((0..ny).map(|i| i as f32 * 0.25).collect()),
        t: vec![0.0, 0.5, 1.0],
        trajectories: (0..seeds)
            .map(|s| (0..len).map(|p| (s * 1000 + p) as f32).collect())
            .collect(),
    };
    let h5 = dir.path().join("2D_rdb_k=0.01.h5");
    write_per_seed(&h5, &data, &[]).unwrap();
    let (grids, comments) = load(&h5);
    assert!(comments.contains(&format!("seeds 0 to {} of {seeds}", MAX_SEEDS - 1)));
    assert_eq!(grids.len(), nt);
    for (m, g) in grids.iter().enumerate() {
        assert_eq!(g.time, Some(f64::from(data.t[m])));
        assert_eq!(g.nodes, vec![nx, ny]);
        assert_eq!(g.coords[0], as_f64(data.y.as_ref().unwrap()));
        assert_eq!(g.coords[1], as_f64(&data.x));
        assert_eq!(g.fields.len(), MAX_SEEDS * nc);
        for s in 0..MAX_SEEDS {
            for c in 0..nc {
                let want: Vec<f64> = (0..nx * ny)
                    .map(|q| f64::from(data.trajectories[s][(m * nx * ny + q) * nc + c]))
                    .collect();
                assert_eq!(g.fields[&format!("{s:04}_c{c}")].1, want);
            }
        }
    }

    let shape1 = vec![nt, nx, 1];
    let len1: usize = shape1.iter().product();
    let one = PerSeedData {
        shape: shape1,
        x: data.x.clone(),
        y: None,
        t: data.t.clone(),
        trajectories: (0..2)
            .map(|s| (0..len1).map(|p| (s * 100 + p) as f32).collect())
            .collect(),
    };
    let h5 = dir.path().join("1D_rd.h5");
    write_per_seed(&h5, &one, &[]).unwrap();
    let (grids, _) = load(&h5);
    assert_eq!(grids.len(), 2);
    for (s, g) in grids.iter().enumerate() {
        assert_eq!(g.nodes, vec![nt, nx]);
        assert_eq!(g.coords[1], as_f64(&one.t));
        assert_eq!(g.fields["c0"].1, as_f64(&one.trajectories[s]));
    }
}

#[test]
fn darcy_samples_and_dcdm_sets() {
    let dir = tempfile::tempdir().unwrap();
    let s = 5;
    let sample = DarcySample {
        s,
        coeff: (0..s * s).map(|p| p as f32).collect(),
        sol: (0..s * s).map(|p| -(p as f32)).collect(),
    };
    let h5 = dir.path().join("sample_0003.h5");
    write_darcy_sample(&h5, &sample, &[]).unwrap();
    let (grids, _) = load(&h5);
    assert_eq!(grids[0].nodes, vec![s, s]);
    assert_eq!(grids[0].coords[0], vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(grids[0].fields["sol"].1, as_f64(&sample.sol));
    assert_eq!(grids[0].fields["coeff"].1, as_f64(&sample.coeff));

    for sides in [vec![3, 4], vec![2, 3, 4]] {
        let cells: usize = sides.iter().product();
        let n = 3;
        let data = DcdmData {
            sides: sides.clone(),
            n,
            b: (0..n * cells).map(|p| p as f32).collect(),
            masks: (0..2 * cells).map(|p| u8::from(p % 3 == 0)).collect(),
            mask_index: vec![1, 0, 1],
            ritz_values: vec![1.0, 2.0],
            ritz_per_mask: 1,
        };
        let h5 = dir.path().join(format!("dcdm_{}.h5", sides.len()));
        write_dcdm_data(&h5, &data, &[]).unwrap();
        let (grids, _) = load(&h5);
        assert_eq!(grids.len(), n);
        for (k, g) in grids.iter().enumerate() {
            assert_eq!(g.nodes, sides);
            assert_eq!(g.fields["b"].1, as_f64(&data.b[k * cells..(k + 1) * cells]));
            let m = data.mask_index[k] as usize;
            let mask: Vec<f64> = data.masks[m * cells..(m + 1) * cells]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            assert_eq!(g.fields["mask"].1, mask);
        }
    }
}

#[test]
fn an_empty_file_gets_no_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("empty.h5");
    std::fs::write(sidecar_path(&h5), "stale").unwrap();
    write_darcy(&h5, &darcy(0, 4), &[]).unwrap();
    assert!(h5.exists());
    assert!(!sidecar_path(&h5).exists(), "the stale sidecar is removed");
}

#[test]
fn a_failed_write_leaves_neither_file() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("d.h5");
    // The sidecar's destination is a directory: nothing is written.
    std::fs::create_dir(sidecar_path(&h5)).unwrap();
    let e = write_darcy(&h5, &darcy(1, 2), &[]).unwrap_err().to_string();
    assert!(e.contains("d.xdmf"), "{e}");
    assert!(!h5.exists());
}
