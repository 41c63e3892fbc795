//! XDMF 3 sidecars: every HDF5 field file nabla writes gets a small XML file beside it that
//! tells ParaView where its grid and its fields are, so the pair opens in ParaView as is.
//!
//! # Opening nabla's files in ParaView
//!
//! Next to each field file `FILE.h5` nabla writes `FILE.xdmf` (XDMF 3): open **that** file in
//! ParaView and pick the *XDMF Reader*. The sidecar holds no numbers of its own (only grid
//! origins and spacings): every field is a `DataItem Format="HDF"` pointing at
//! `FILE.h5:/dataset`, by the file's name alone, so move or copy the two files together. Files
//! with a sample axis (Darcy `tensor` / `nu`, 1-D series `tensor`, DCDM `b`) become a
//! temporal collection with one grid per sample — ParaView's time slider steps through the
//! samples, the "time" being the sample index — each grid reading its sample out of the
//! shared datasets with a `HyperSlab`. Only the first [`MAX_FRAMES`] samples (time frames for
//! reaction–diffusion files) and [`MAX_SEEDS`] seed groups are listed, so a file of thousands
//! of samples keeps a sidecar of a few hundred KiB; an XML comment at the top of the sidecar
//! says when the list is cut.
//!
//! What each file becomes (`Dimensions` run slowest → fastest axis, as the datasets are
//! stored in C order):
//!
//! | file | grid | fields |
//! |---|---|---|
//! | `nabla poisson --grid … --out` | the grid in index units (origin 0, spacing 1: the solver is scale-free) | `u` at the nodes, and `b` when there is no mask (then it has one value per node) |
//! | `nabla wos --grid … --out F.h5` | the NX×NY(×NZ) cells over the domain's bounding box | `u`, `stderr`, `mean_steps` (gradient, `exact`, `error`) per cell, NaN outside Ω |
//! | PDEBench Darcy (`nabla datagen darcy`, `nabla eval` of a Darcy operator) | `y-coordinate` × `x-coordinate` | `tensor` and `nu` per sample |
//! | 1-D series (`nabla datagen burgers`, `nabla eval` of a 1-D operator, KdV sets) | space–time: `x-coordinate` × `t-coordinate` | `tensor` per sample |
//! | 2-D series (`nabla datagen navier-stokes`) | `y-coordinate` × `x-coordinate`, one grid per frame at `t-coordinate` | `sample_K` = `tensor[K, frame]` for the first [`MAX_SERIES_SAMPLES`] trajectories |
//! | reaction–diffusion per-seed sets | `grid/y` × `grid/x` of seed `0000`, one grid per time frame at `grid/t` | `SEED_cC` per listed seed and channel |
//! | PDEInvBench Darcy samples | the S×S vertex grid of [0, 1]² | `coeff`, `sol` |
//! | DCDM training sets | the grid in index units | `b` and its `mask` per sample |
//!
//! PDEBench stores x as the *slower* spatial axis (`tensor[n, 0, i, j]` = u(x_i, y_j)), and a
//! structured grid's fastest axis is the one ParaView draws as X: in those files ParaView's
//! X axis is the file's y and its Y axis the file's x (on the symmetric unit square this is
//! only a relabelling). nabla's own grid files store x fastest, so there the axes agree.
//!
//! Grids are written the way ParaView's *XDMF Reader* (VTK's `vtkXdmfReader`, also in the
//! `vtk` Python wheel) reads them: 2-D grids as `2DRectMesh` (a `2DCoRectMesh` lands in the
//! Y–Z plane there), 3-D grids as `3DCoRectMesh` with `ORIGIN_DXDYDZ` (origin and spacing in
//! z, y, x order) or `3DRectMesh`, 1-D grids as a 3-D grid one node thick; a field whose
//! dataset has another rank than the grid (a sample of `tensor`, `b` over the unknowns) is a
//! `HyperSlab` whose outer `Dimensions` are the grid's. `TopologyType` / `GeometryType` /
//! `NumberType` are the spellings both the XDMF 2 and XDMF 3 readers accept.
//!
//! **meshio** cannot read these sidecars, nor any XDMF that points into multi-dimensional
//! datasets: its XDMF reader takes one unstructured grid (a `Topology` with a connectivity
//! `DataItem`, `XY`/`XYZ` point coordinates), reads every HDF5 dataset whole (no
//! `HyperSlab`, no collections in `meshio.read`) and requires a field's first axis to have
//! one entry per point. Serving it would mean storing point coordinates, connectivity and a
//! flat copy of every field next to the data (several times the file); instead the Python
//! module's `nabla.to_meshio(path, frame)` reads a sidecar as ParaView does and builds the
//! `meshio.Mesh` in memory (points, quadrilateral/hexahedral cells, node and cell fields).
//!
//! Files without a grid get no sidecar: `nabla poisson --matrix … --out` (a MatrixMarket
//! system has no coordinates to place its values at), masks, Ritz values, point tables.
//!
//! ```
//! use nabla_core::GridShape;
//! use nabla_data::xdmf::{sidecar_path, solution_sidecar, write_sidecar};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let grid: GridShape = "4x3".parse().unwrap();
//! let h5 = dir.path().join("sol.h5");
//! let u = vec![0.0; grid.len()];
//! nabla_data::write_solution(&h5, &u, &u, Some(&grid), Some(&u), &[]).unwrap();
//! write_sidecar(&h5, &solution_sidecar(&grid, u.len())).unwrap();
//! let xml = std::fs::read_to_string(sidecar_path(&h5)).unwrap();
//! assert!(xml.contains(r#"TopologyType="2DRectMesh" Dimensions="3 4""#));
//! assert!(xml.contains(">sol.h5:/u</DataItem>"));
//! ```

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use nabla_core::GridShape;

use crate::{DataError, Result};

/// At most this many samples (or time frames) are listed in a sidecar's temporal collection.
pub const MAX_FRAMES: usize = 100;

/// At most this many seed groups of a per-seed file are listed (as fields of each frame).
pub const MAX_SEEDS: usize = 4;

/// Where a field's values sit on its grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Center {
    /// One value per grid node.
    Node,
    /// One value per grid cell (the grid then has one more node than values along each axis).
    Cell,
}

/// The element type of an HDF5 dataset, as XDMF names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberType {
    /// 32-bit float (`NumberType="Float" Precision="4"`).
    F32,
    /// 64-bit float (`NumberType="Float" Precision="8"`).
    F64,
    /// Unsigned byte (`NumberType="UChar" Precision="1"`), e.g. masks.
    U8,
}

impl NumberType {
    /// `(NumberType, Precision)` as written in the XML.
    pub fn xdmf(self) -> (&'static str, u8) {
        match self {
            NumberType::F32 => ("Float", 4),
            NumberType::F64 => ("Float", 8),
            NumberType::U8 => ("UChar", 1),
        }
    }
}

/// A dataset of the HDF5 file, whole or a block of it (a `HyperSlab`).
#[derive(Clone, Debug, PartialEq)]
pub struct DataRef {
    /// Path of the dataset inside the file, e.g. `tensor` or `0000/grid/x`.
    pub dataset: String,
    /// The dataset's shape, C order.
    pub shape: Vec<usize>,
    /// Its element type.
    pub number: NumberType,
    /// The block read, one range per axis; `None` for the whole dataset.
    pub block: Option<Vec<Range<usize>>>,
}

impl DataRef {
    /// The whole dataset `dataset` of shape `shape`.
    pub fn whole(dataset: &str, shape: &[usize], number: NumberType) -> Self {
        DataRef {
            dataset: dataset.to_string(),
            shape: shape.to_vec(),
            number,
            block: None,
        }
    }

    /// The block `ranges` (one per axis) of the dataset.
    pub fn block(
        dataset: &str,
        shape: &[usize],
        number: NumberType,
        ranges: &[Range<usize>],
    ) -> Self {
        DataRef {
            block: Some(ranges.to_vec()),
            ..Self::whole(dataset, shape, number)
        }
    }

    /// Index `k` of the first axis, all of the other axes.
    pub fn row(dataset: &str, shape: &[usize], number: NumberType, k: usize) -> Self {
        let mut ranges: Vec<Range<usize>> = shape.iter().map(|&n| 0..n).collect();
        if let Some(first) = ranges.first_mut() {
            *first = k..k + 1;
        }
        Self::block(dataset, shape, number, &ranges)
    }

    /// Number of values read.
    fn len(&self) -> usize {
        match &self.block {
            Some(b) => b.iter().map(|r| r.len()).product(),
            None => self.shape.iter().product(),
        }
    }
}

/// The coordinates of a grid's nodes along one axis.
#[derive(Clone, Debug, PartialEq)]
pub enum Axis {
    /// Node i at `origin + i·spacing`.
    Uniform {
        /// Coordinate of the first node.
        origin: f64,
        /// Distance between neighbouring nodes.
        spacing: f64,
    },
    /// Node coordinates read from a dataset (one value per node).
    Values(DataRef),
}

/// A structured grid: node counts and node coordinates per axis, slowest axis first (XDMF's
/// `[z,] y, x` order, the order of the C-order datasets on it).
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// Nodes along each axis, slowest first; 1 to 3 axes.
    pub nodes: Vec<usize>,
    /// Coordinates along each axis, same order as `nodes`.
    pub axes: Vec<Axis>,
}

/// A field on the grid: an XDMF `Attribute`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The name ParaView shows.
    pub name: String,
    /// Node or cell values.
    pub center: Center,
    /// Where its values are.
    pub data: DataRef,
}

/// One grid of the sidecar: a single uniform grid, or one member of a temporal collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The grid's name (`sample 12`, `t = 0.5`, ...).
    pub name: String,
    /// Its time in the collection (the sample index for sample files); `None` for a single
    /// grid.
    pub time: Option<f64>,
    /// Its fields.
    pub fields: Vec<Field>,
}

/// What a sidecar describes: one grid with the frames (fields) on it, and notes written as
/// XML comments.
#[derive(Clone, Debug, PartialEq)]
pub struct Sidecar {
    /// The grid every frame lives on.
    pub mesh: Mesh,
    /// One frame: a single `Uniform` grid; several (or any with a time): a temporal
    /// collection.
    pub frames: Vec<Frame>,
    /// Lines written as XML comments at the top (what the file is, what was left out).
    pub notes: Vec<String>,
}

/// The sidecar path of an HDF5 file: `FILE.xdmf` for `FILE.h5` (or any other extension);
/// `FILE.xdmf.xdmf` for a file that is itself named `*.xdmf`, so the two never coincide.
pub fn sidecar_path(h5: &Path) -> PathBuf {
    let is_xdmf = h5
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xdmf"));
    if is_xdmf {
        let mut name = h5.as_os_str().to_os_string();
        name.push(".xdmf");
        PathBuf::from(name)
    } else {
        h5.with_extension("xdmf")
    }
}

/// Writes `sidecar` for the HDF5 file `h5` at [`sidecar_path`]`(h5)`, atomically (temporary
/// file + rename). The XML names the HDF5 file by its file name alone.
pub fn write_sidecar(h5: &Path, sidecar: &Sidecar) -> Result<()> {
    write_xml(&sidecar_path(h5), &sidecar_xml(h5, sidecar)?)
}

/// The XML of `sidecar` for the HDF5 file `h5`, naming it by its file name alone — for a
/// caller that writes the pair under temporary names and renames them together (pass the
/// final name). Errors, naming `h5`, when a field does not fit the grid.
pub fn sidecar_xml(h5: &Path, sidecar: &Sidecar) -> Result<String> {
    sidecar
        .to_xml(&h5_name(h5)?)
        .map_err(|reason| DataError::InvalidInput {
            path: h5.to_path_buf(),
            reason: format!("XDMF sidecar: {reason}"),
        })
}

/// Writes XML text at `path`, atomically.
pub(crate) fn write_xml(path: &Path, xml: &str) -> Result<()> {
    nabla_core::atomic::write_atomic(path, |w| std::io::Write::write_all(w, xml.as_bytes()))
        .map_err(|e| DataError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// The file name of `h5`, as the sidecar refers to it.
fn h5_name(h5: &Path) -> Result<String> {
    h5.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| DataError::InvalidInput {
            path: h5.to_path_buf(),
            reason: "not a file path".into(),
        })
}

impl Sidecar {
    /// Whether there is nothing to show: no frame, or a grid with no nodes along an axis (an
    /// empty file). The library's writers write no sidecar for such a file.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty() || self.mesh.nodes.contains(&0)
    }

    /// The XDMF 3 document, with every `DataItem Format="HDF"` pointing into `h5_name` (a
    /// path relative to the sidecar: normally the HDF5 file's name). Errors (one line) when a
    /// field does not fit the grid or the grid is malformed.
    pub fn to_xml(&self, h5_name: &str) -> std::result::Result<String, String> {
        let (topology, nodes) = topology_geometry(&self.mesh, h5_name)?;
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        x.push_str("<Xdmf Version=\"3.0\">\n");
        for note in &self.notes {
            let _ = writeln!(x, "<!-- {} -->", comment(note));
        }
        x.push_str("  <Domain>\n");
        let collection = self.frames.len() != 1 || self.frames.iter().any(|f| f.time.is_some());
        let indent = if collection {
            x.push_str(
                "    <Grid Name=\"frames\" GridType=\"Collection\" CollectionType=\"Temporal\">\n",
            );
            "      "
        } else {
            "    "
        };
        for frame in &self.frames {
            let _ = writeln!(
                x,
                "{indent}<Grid Name=\"{}\" GridType=\"Uniform\">",
                escape(&frame.name)
            );
            if let Some(t) = frame.time {
                check_finite(t, "a frame time")?;
                let _ = writeln!(x, "{indent}  <Time Value=\"{}\"/>", num(t));
            }
            for line in topology.lines() {
                let _ = writeln!(x, "{indent}  {line}");
            }
            for field in &frame.fields {
                let want: Vec<usize> = match field.center {
                    Center::Node => nodes.clone(),
                    Center::Cell => {
                        if self.mesh.nodes.len() == 1 || nodes.iter().any(|&n| n < 2) {
                            return Err(format!(
                                "field '{}' is cell-centred on a grid with an axis of one node \
                                 (or a 1-D grid): it has no cells",
                                field.name
                            ));
                        }
                        nodes.iter().map(|&n| n - 1).collect()
                    }
                };
                let center = match field.center {
                    Center::Node => "Node",
                    Center::Cell => "Cell",
                };
                let _ = writeln!(
                    x,
                    "{indent}  <Attribute Name=\"{}\" AttributeType=\"Scalar\" Center=\"{center}\">",
                    escape(&field.name)
                );
                let item = data_item(&field.data, &want, h5_name)
                    .map_err(|e| format!("field '{}': {e}", field.name))?;
                for line in item.lines() {
                    let _ = writeln!(x, "{indent}    {line}");
                }
                let _ = writeln!(x, "{indent}  </Attribute>");
            }
            let _ = writeln!(x, "{indent}</Grid>");
        }
        if collection {
            x.push_str("    </Grid>\n");
        }
        x.push_str("  </Domain>\n</Xdmf>\n");
        Ok(x)
    }
}

/// The `Topology` and `Geometry` elements of `mesh` and the node counts of the topology
/// (slowest first; 1-D grids become a 3-D grid one node thick).
fn topology_geometry(mesh: &Mesh, h5: &str) -> std::result::Result<(String, Vec<usize>), String> {
    if mesh.nodes.is_empty() || mesh.nodes.len() > 3 || mesh.axes.len() != mesh.nodes.len() {
        return Err(format!(
            "a grid has 1 to 3 axes with coordinates for each; got {} node counts and {} axes",
            mesh.nodes.len(),
            mesh.axes.len()
        ));
    }
    if mesh.nodes.contains(&0) {
        return Err(format!(
            "grid with no nodes along an axis: {:?}",
            mesh.nodes
        ));
    }
    let unit = Axis::Uniform {
        origin: 0.0,
        spacing: 1.0,
    };
    let (nodes, axes): (Vec<usize>, Vec<Axis>) = match mesh.nodes.len() {
        1 if matches!(mesh.axes[0], Axis::Uniform { .. }) => (
            vec![1, 1, mesh.nodes[0]],
            vec![unit.clone(), unit, mesh.axes[0].clone()],
        ),
        1 => (vec![1, mesh.nodes[0]], vec![unit, mesh.axes[0].clone()]),
        _ => (mesh.nodes.clone(), mesh.axes.clone()),
    };
    let dims = dims_text(&nodes);
    let mut x = String::new();
    let all_uniform = axes.iter().all(|a| matches!(a, Axis::Uniform { .. }));
    if nodes.len() == 3 && all_uniform {
        let (mut origin, mut spacing) = (Vec::new(), Vec::new());
        for a in &axes {
            if let Axis::Uniform {
                origin: o,
                spacing: s,
            } = a
            {
                check_finite(*o, "a grid origin")?;
                check_finite(*s, "a grid spacing")?;
                origin.push(num(*o));
                spacing.push(num(*s));
            }
        }
        let _ = writeln!(
            x,
            "<Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{dims}\"/>"
        );
        x.push_str("<Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n");
        for values in [origin, spacing] {
            let _ = writeln!(
                x,
                "  <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">{}</DataItem>",
                values.join(" ")
            );
        }
        x.push_str("</Geometry>\n");
    } else {
        let (topology, geometry) = if nodes.len() == 3 {
            ("3DRectMesh", "VXVYVZ")
        } else {
            ("2DRectMesh", "VXVY")
        };
        let _ = writeln!(
            x,
            "<Topology TopologyType=\"{topology}\" Dimensions=\"{dims}\"/>"
        );
        let _ = writeln!(x, "<Geometry GeometryType=\"{geometry}\">");
        // VX first: the fastest axis, the last of `nodes`.
        for (a, &n) in axes.iter().zip(&nodes).rev() {
            let item = match a {
                Axis::Uniform { origin, spacing } => {
                    check_finite(*origin, "a grid origin")?;
                    check_finite(*spacing, "a grid spacing")?;
                    let values: Vec<String> =
                        (0..n).map(|i| num(origin + i as f64 * spacing)).collect();
                    format!(
                        "<DataItem Dimensions=\"{n}\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">{}</DataItem>\n",
                        values.join(" ")
                    )
                }
                Axis::Values(d) => data_item(d, &[n], h5)
                    .map_err(|e| format!("coordinates '{}': {e}", d.dataset))?,
            };
            for line in item.lines() {
                let _ = writeln!(x, "  {line}");
            }
        }
        x.push_str("</Geometry>\n");
    }
    Ok((x, nodes))
}

/// The `DataItem` reading `d` as an array of shape `want`: the dataset itself when it has that
/// shape, else a `HyperSlab` of it whose outer `Dimensions` are `want` (the same number of
/// values, in C order).
fn data_item(d: &DataRef, want: &[usize], h5: &str) -> std::result::Result<String, String> {
    let (number, precision) = d.number.xdmf();
    let rank = d.shape.len();
    if rank == 0 {
        return Err(format!("dataset '{}' is a scalar", d.dataset));
    }
    if let Some(block) = &d.block {
        if block.len() != rank {
            return Err(format!(
                "a block of {} ranges for the rank-{rank} dataset '{}'",
                block.len(),
                d.dataset
            ));
        }
        if let Some((axis, r)) = block
            .iter()
            .enumerate()
            .find(|(a, r)| r.start >= r.end || r.end > d.shape[*a])
        {
            return Err(format!(
                "block {}..{} of axis {axis} is empty or outside the dataset '{}' of shape {:?}",
                r.start, r.end, d.dataset, d.shape
            ));
        }
    }
    let wanted: usize = want.iter().product();
    if d.len() != wanted {
        return Err(format!(
            "{} values of dataset '{}' (shape {:?}) for a grid of {:?}",
            d.len(),
            d.dataset,
            d.shape,
            want
        ));
    }
    let hdf = format!(
        "<DataItem Dimensions=\"{}\" NumberType=\"{number}\" Precision=\"{precision}\" Format=\"HDF\">{}:/{}</DataItem>\n",
        dims_text(&d.shape),
        escape(h5),
        escape(d.dataset.trim_start_matches('/'))
    );
    if d.block.is_none() && d.shape == want {
        return Ok(hdf);
    }
    let full: Vec<Range<usize>> = d.shape.iter().map(|&n| 0..n).collect();
    let block = d.block.as_ref().unwrap_or(&full);
    let starts: Vec<String> = block.iter().map(|r| r.start.to_string()).collect();
    let strides = vec!["1"; rank].join(" ");
    let counts: Vec<String> = block.iter().map(|r| r.len().to_string()).collect();
    Ok(format!(
        "<DataItem ItemType=\"HyperSlab\" Dimensions=\"{}\" Type=\"HyperSlab\">\n  <DataItem Dimensions=\"3 {rank}\" Format=\"XML\">{}  {strides}  {}</DataItem>\n  {hdf}</DataItem>\n",
        dims_text(want),
        starts.join(" "),
        counts.join(" "),
    ))
}

fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A float as XML text: the shortest representation that reads back exactly.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:?}")
    }
}

fn check_finite(v: f64, what: &str) -> std::result::Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} is {v}; it must be finite"))
    }
}

/// `s` escaped for XML text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` safe inside an XML comment (no `--`, no line breaks).
fn comment(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "- -");
    }
    if out.ends_with('-') {
        out.push(' ');
    }
    out
}

/// The note saying which of `total` items are listed.
fn listed_note(what: &str, listed: usize, total: usize, limit_name: &str) -> Option<String> {
    (listed < total).then(|| {
        format!(
            "Lists {what} 0 to {} of {total} ({limit_name} = {listed}): the HDF5 file holds them all; \
             copy a Grid element and change the first start of its HyperSlabs to see another.",
            listed - 1
        )
    })
}

fn header(what: &str) -> String {
    format!(
        "{what}. Written by nabla {} beside the HDF5 file it names; open this file in ParaView (XDMF Reader).",
        env!("CARGO_PKG_VERSION")
    )
}

// ---------------------------------------------------------------------------------------------
// The sidecars of nabla's layouts
// ---------------------------------------------------------------------------------------------

/// A uniform grid in nabla's own axis order: `grid` (x first), node `i` along axis `a` at
/// `origin[a] + i·spacing[a]`; cell-centred grids get one more node than `grid` per axis.
fn uniform_mesh(grid: &GridShape, origin: &[f64], spacing: &[f64], center: Center) -> Mesh {
    let extra = usize::from(center == Center::Cell);
    let dims = grid.dims();
    // Slowest first: reverse nabla's x-first order.
    let nodes: Vec<usize> = dims.iter().rev().map(|&n| n + extra).collect();
    let axes: Vec<Axis> = (0..dims.len())
        .rev()
        .map(|a| Axis::Uniform {
            origin: origin.get(a).copied().unwrap_or(0.0),
            spacing: spacing.get(a).copied().unwrap_or(1.0),
        })
        .collect();
    Mesh { nodes, axes }
}

/// The sidecar of a `nabla poisson --grid` solution file ([`crate::write_solution`]): `u`
/// (f64, `grid.c_order_dims()`) at the nodes of the grid in index units (node `(i, j, k)` at
/// `(i, j, k)`), and the right-hand side `b` (f64 `[unknowns]`) on the same nodes when it has
/// one value per node (no mask).
pub fn solution_sidecar(grid: &GridShape, unknowns: usize) -> Sidecar {
    let dims = grid.c_order_dims();
    let mut fields = vec![Field {
        name: "u".into(),
        center: Center::Node,
        data: DataRef::whole("u", &dims, NumberType::F64),
    }];
    if unknowns == grid.len() {
        fields.push(Field {
            name: "b".into(),
            center: Center::Node,
            data: DataRef::whole("b", &[unknowns], NumberType::F64),
        });
    }
    Sidecar {
        mesh: uniform_mesh(grid, &[], &[], Center::Node),
        frames: vec![Frame {
            name: "solution".into(),
            time: None,
            fields,
        }],
        notes: vec![header(&format!(
            "nabla poisson solution on the {grid} grid, in grid-index units (node (i, j, k) at (i, j, k))"
        ))],
    }
}

/// The sidecar of f64 fields stored with shape `grid.c_order_dims()` (`[NZ,] NY, NX`) on a
/// uniform grid: `origin` and `spacing` per axis in nabla's order (x first) locate the first
/// node and the node distance (for [`Center::Cell`] fields: the cell corners, so the grid
/// has one more node than `grid` along each axis). `what` opens the XML comment.
pub fn grid_fields_sidecar(
    grid: &GridShape,
    origin: &[f64],
    spacing: &[f64],
    center: Center,
    fields: &[&str],
    what: &str,
) -> Sidecar {
    let dims = grid.c_order_dims();
    Sidecar {
        mesh: uniform_mesh(grid, origin, spacing, center),
        frames: vec![Frame {
            name: "fields".into(),
            time: None,
            fields: fields
                .iter()
                .map(|&f| Field {
                    name: f.into(),
                    center,
                    data: DataRef::whole(f, &dims, NumberType::F64),
                })
                .collect(),
        }],
        notes: vec![header(what)],
    }
}

/// The sidecar of a PDEBench 2-D Darcy file ([`crate::write_darcy`]): `n` samples on `s × s`,
/// float32. Grid: `y-coordinate` (fastest axis, ParaView's X) × `x-coordinate`; per sample
/// `tensor` (u) and `nu` (a).
pub fn darcy_sidecar(n: usize, s: usize) -> Sidecar {
    let f = NumberType::F32;
    let listed = n.min(MAX_FRAMES);
    let frames = (0..listed)
        .map(|k| Frame {
            name: format!("sample {k}"),
            time: Some(k as f64),
            fields: vec![
                Field {
                    name: "tensor".into(),
                    center: Center::Node,
                    data: DataRef::row("tensor", &[n, 1, s, s], f, k),
                },
                Field {
                    name: "nu".into(),
                    center: Center::Node,
                    data: DataRef::row("nu", &[n, s, s], f, k),
                },
            ],
        })
        .collect();
    let mut notes = vec![
        header(&format!("PDEBench 2-D Darcy file, {n} samples on {s}x{s}")),
        "Time = sample index. PDEBench stores x as the slower axis (tensor[n, 0, i, j] = u(x_i, y_j)): ParaView's X axis is the file's y-coordinate, its Y axis the x-coordinate.".into(),
    ];
    notes.extend(listed_note("samples", listed, n, "MAX_FRAMES"));
    Sidecar {
        mesh: Mesh {
            nodes: vec![s, s],
            axes: vec![
                Axis::Values(DataRef::whole("x-coordinate", &[s], f)),
                Axis::Values(DataRef::whole("y-coordinate", &[s], f)),
            ],
        },
        frames,
        notes,
    }
}

/// The sidecar of a 1-D time-series file (`tensor` float32 `[n, nt, nx]`, `x-coordinate`
/// `[nx]`, `t-coordinate` `[t_len]` with `t_len` = `nt` or `nt + 1`): each sample is a
/// space–time image, x along ParaView's X axis and the first `nt` times along its Y axis.
/// Written by [`crate::write_series_1d`] and [`crate::inverse::write_tensor_series`].
pub fn series_sidecar(n: usize, nt: usize, nx: usize, t_len: usize) -> Sidecar {
    let f = NumberType::F32;
    let listed = n.min(MAX_FRAMES);
    let frames = (0..listed)
        .map(|k| Frame {
            name: format!("sample {k}"),
            time: Some(k as f64),
            fields: vec![Field {
                name: "tensor".into(),
                center: Center::Node,
                data: DataRef::row("tensor", &[n, nt, nx], f, k),
            }],
        })
        .collect();
    let mut notes = vec![
        header(&format!(
            "1-D time series, {n} samples of {nt} snapshots on {nx} points"
        )),
        "Time = sample index; each sample is a space-time image: X = x-coordinate, Y = t-coordinate (its first Nt entries).".into(),
    ];
    notes.extend(listed_note("samples", listed, n, "MAX_FRAMES"));
    Sidecar {
        mesh: Mesh {
            nodes: vec![nt, nx],
            axes: vec![
                Axis::Values(DataRef::block(
                    "t-coordinate",
                    &[t_len],
                    f,
                    std::slice::from_ref(&(0..nt)),
                )),
                Axis::Values(DataRef::whole("x-coordinate", &[nx], f)),
            ],
        },
        frames,
        notes,
    }
}

/// At most this many trajectories of a 2-D series file are listed (as fields of each frame)
/// by [`series_2d_sidecar`].
pub const MAX_SERIES_SAMPLES: usize = 4;

/// The sidecar of a 2-D time-series file ([`crate::write_series_2d`]: `tensor` float32
/// `[n, nt, nx, ny]`, `x-coordinate` `[nx]`, `y-coordinate` `[ny]`, frame times `t`, of
/// `nt` or `nt + 1` entries): a temporal collection with one grid per time frame (the first
/// [`MAX_FRAMES`]) at time `t[m]`, on `y-coordinate` (fastest axis, ParaView's X) ×
/// `x-coordinate`, with a field `sample_K` = `tensor[K, m, :, :]` for each of the first
/// [`MAX_SERIES_SAMPLES`] trajectories.
pub fn series_2d_sidecar(n: usize, nt: usize, nx: usize, ny: usize, t: &[f32]) -> Sidecar {
    let f = NumberType::F32;
    let shape = [n, nt, nx, ny];
    // No trajectory, no field to show: no frame either (the writer then writes no sidecar).
    let listed = if n == 0 { 0 } else { nt.min(MAX_FRAMES) };
    let listed_samples = n.min(MAX_SERIES_SAMPLES);
    let frames = (0..listed)
        .map(|m| Frame {
            name: format!("frame {m}"),
            time: Some(t.get(m).map_or(m as f64, |&v| f64::from(v))),
            fields: (0..listed_samples)
                .map(|k| Field {
                    name: format!("sample_{k}"),
                    center: Center::Node,
                    data: DataRef::block("tensor", &shape, f, &[k..k + 1, m..m + 1, 0..nx, 0..ny]),
                })
                .collect(),
        })
        .collect();
    let mut notes = vec![
        header(&format!(
            "2-D time series, {n} trajectories of {nt} frames on {nx}x{ny}"
        )),
        "Time = t-coordinate; field sample_K = tensor[K, frame, :, :]. The file stores x as the slower axis (tensor[n, m, i, j] = u(x_i, y_j, t_m)): ParaView's X axis is the file's y-coordinate, its Y axis the x-coordinate.".into(),
    ];
    if listed > 0 && listed < nt {
        notes.push(format!(
            "Lists frames 0 to {} of {nt} (MAX_FRAMES = {listed}): the HDF5 file holds them all; \
             copy a Grid element and change the second start of its HyperSlabs to see another.",
            listed - 1
        ));
    }
    notes.extend(listed_note(
        "trajectories",
        listed_samples,
        n,
        "MAX_SERIES_SAMPLES",
    ));
    Sidecar {
        mesh: Mesh {
            nodes: vec![nx, ny],
            axes: vec![
                Axis::Values(DataRef::whole("x-coordinate", &[nx], f)),
                Axis::Values(DataRef::whole("y-coordinate", &[ny], f)),
            ],
        },
        frames,
        notes,
    }
}

/// The sidecar of a per-seed file ([`crate::inverse::write_per_seed`]) of `seeds`
/// trajectories of shape `shape` (`[t, x, c]` or `[t, x, y, c]`, float32), with frame times
/// `t`. 2-D: one grid per time frame (the first [`MAX_FRAMES`]) on seed `0000`'s `grid/y` ×
/// `grid/x`, with a field `SEED_cC` per listed seed ([`MAX_SEEDS`]) and channel. 1-D: one
/// space–time grid per listed seed (`grid/x` × `grid/t`), a field `cC` per channel.
pub fn per_seed_sidecar(shape: &[usize], seeds: usize, t: &[f32]) -> Sidecar {
    let f = NumberType::F32;
    let seed_name = crate::inverse::seed_name;
    let listed_seeds = seeds.min(MAX_SEEDS);
    let mut notes = Vec::new();
    if let [nt, nx, ny, nc] = *shape {
        let listed = nt.min(MAX_FRAMES);
        notes.push(header(&format!(
            "Per-seed file, {seeds} trajectories of {nt} frames on {nx}x{ny} with {nc} channels"
        )));
        notes.push("Time = grid/t; fields SEED_cC = SEED/data[frame, :, :, C]. The file stores x as the slower axis: ParaView's X axis is grid/y, its Y axis grid/x.".into());
        notes.extend(listed_note("frames", listed, nt, "MAX_FRAMES"));
        notes.extend(listed_note("seeds", listed_seeds, seeds, "MAX_SEEDS"));
        let frames = (0..listed)
            .map(|m| Frame {
                name: format!("frame {m}"),
                time: Some(t.get(m).map_or(m as f64, |&v| f64::from(v))),
                fields: (0..listed_seeds)
                    .flat_map(|s| {
                        (0..nc).map(move |c| Field {
                            name: format!("{}_c{c}", seed_name(s)),
                            center: Center::Node,
                            data: DataRef::block(
                                &format!("{}/data", seed_name(s)),
                                shape,
                                f,
                                &[m..m + 1, 0..nx, 0..ny, c..c + 1],
                            ),
                        })
                    })
                    .collect(),
            })
            .collect();
        let g = seed_name(0);
        return Sidecar {
            mesh: Mesh {
                nodes: vec![nx, ny],
                axes: vec![
                    Axis::Values(DataRef::whole(&format!("{g}/grid/x"), &[nx], f)),
                    Axis::Values(DataRef::whole(&format!("{g}/grid/y"), &[ny], f)),
                ],
            },
            frames,
            notes,
        };
    }
    let (nt, nx, nc) = match *shape {
        [nt, nx, nc] => (nt, nx, nc),
        _ => (0, 0, 0),
    };
    notes.push(header(&format!(
        "Per-seed file, {seeds} trajectories of {nt} frames on {nx} points with {nc} channels"
    )));
    notes.push("Time = seed index; each seed is a space-time image: X = grid/x, Y = grid/t of seed 0000; fields cC = SEED/data[:, :, C].".into());
    let listed = seeds.min(MAX_FRAMES);
    notes.extend(listed_note("seeds", listed, seeds, "MAX_FRAMES"));
    let g = seed_name(0);
    Sidecar {
        mesh: Mesh {
            nodes: vec![nt, nx],
            axes: vec![
                Axis::Values(DataRef::whole(&format!("{g}/grid/t"), &[nt], f)),
                Axis::Values(DataRef::whole(&format!("{g}/grid/x"), &[nx], f)),
            ],
        },
        frames: (0..listed)
            .map(|s| Frame {
                name: format!("seed {}", seed_name(s)),
                time: Some(s as f64),
                fields: (0..nc)
                    .map(|c| Field {
                        name: format!("c{c}"),
                        center: Center::Node,
                        data: DataRef::block(
                            &format!("{}/data", seed_name(s)),
                            shape,
                            f,
                            &[0..nt, 0..nx, c..c + 1],
                        ),
                    })
                    .collect(),
            })
            .collect(),
        notes,
    }
}

/// The sidecar of a PDEInvBench Darcy sample file ([`crate::inverse::write_darcy_sample`]):
/// `coeff` and `sol` (float32 `[s, s, 1]`) on the `s × s` vertex grid of [0, 1]²
/// (h = 1/(s − 1); x the slower axis, so ParaView's X axis is y).
pub fn darcy_sample_sidecar(s: usize) -> Sidecar {
    let h = if s > 1 { 1.0 / (s - 1) as f64 } else { 1.0 };
    let axis = Axis::Uniform {
        origin: 0.0,
        spacing: h,
    };
    let fields = ["coeff", "sol"]
        .into_iter()
        .map(|name| Field {
            name: name.into(),
            center: Center::Node,
            data: DataRef::whole(name, &[s, s, 1], NumberType::F32),
        })
        .collect();
    Sidecar {
        mesh: Mesh {
            nodes: vec![s, s],
            axes: vec![axis.clone(), axis],
        },
        frames: vec![Frame {
            name: "sample".into(),
            time: None,
            fields,
        }],
        notes: vec![
            header(&format!(
                "PDEInvBench Darcy sample on the {s}x{s} vertex grid of [0,1]^2"
            )),
            "coeff[i, j, 0] = a(x_i, y_j): ParaView's X axis is y, its Y axis x.".into(),
        ],
    }
}

/// The sidecar of a DCDM training set ([`crate::write_dcdm_data`]): per listed sample `k`,
/// `b` (float32 `[n, sides…]`) and its obstacle `mask` (u8 `[M, sides…]`, row
/// `mask_index[k]`), on the grid `sides` (C order) in index units.
pub fn dcdm_sidecar(sides: &[usize], n: usize, mask_count: usize, mask_index: &[i64]) -> Sidecar {
    let with = |lead: usize| -> Vec<usize> {
        let mut d = vec![lead];
        d.extend_from_slice(sides);
        d
    };
    let listed = n.min(MAX_FRAMES);
    let frames = (0..listed)
        .map(|k| {
            let mut fields = vec![Field {
                name: "b".into(),
                center: Center::Node,
                data: DataRef::row("b", &with(n), NumberType::F32, k),
            }];
            if let Some(&m) = mask_index.get(k) {
                if m >= 0 && (m as usize) < mask_count {
                    fields.push(Field {
                        name: "mask".into(),
                        center: Center::Node,
                        data: DataRef::row("mask", &with(mask_count), NumberType::U8, m as usize),
                    });
                }
            }
            Frame {
                name: format!("sample {k}"),
                time: Some(k as f64),
                fields,
            }
        })
        .collect();
    let grid = sides
        .iter()
        .rev()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let mut notes = vec![
        header(&format!(
            "DCDM training set, {n} right-hand sides on the {grid} grid in grid-index units"
        )),
        "Time = sample index; mask = the sample's obstacle mask (1 = solid).".into(),
    ];
    notes.extend(listed_note("samples", listed, n, "MAX_FRAMES"));
    Sidecar {
        mesh: Mesh {
            nodes: sides.to_vec(),
            axes: sides
                .iter()
                .map(|_| Axis::Uniform {
                    origin: 0.0,
                    spacing: 1.0,
                })
                .collect(),
        },
        frames,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_paths_never_name_the_file_itself() {
        assert_eq!(sidecar_path(Path::new("a/b.h5")), Path::new("a/b.xdmf"));
        assert_eq!(sidecar_path(Path::new("b.hdf5")), Path::new("b.xdmf"));
        assert_eq!(sidecar_path(Path::new("b")), Path::new("b.xdmf"));
        assert_eq!(sidecar_path(Path::new("b.XDMF")), Path::new("b.XDMF.xdmf"));
    }

    #[test]
    fn uniform_3d_grids_are_corect_meshes_in_zyx_order() {
        let grid: GridShape = "4x3x2".parse().unwrap();
        let s = grid_fields_sidecar(
            &grid,
            &[1.0, 2.0, 3.0],
            &[0.5, 0.25, 0.125],
            Center::Cell,
            &["u"],
            "test",
        );
        let xml = s.to_xml("f.h5").unwrap();
        assert!(
            xml.contains(r#"TopologyType="3DCoRectMesh" Dimensions="3 4 5""#),
            "{xml}"
        );
        assert!(xml.contains(">3.0 2.0 1.0<"), "{xml}");
        assert!(xml.contains(">0.125 0.25 0.5<"), "{xml}");
        assert!(xml.contains(r#"Center="Cell""#), "{xml}");
        assert!(
            xml.contains(
                r#"Dimensions="2 3 4" NumberType="Float" Precision="8" Format="HDF">f.h5:/u<"#
            ),
            "{xml}"
        );
    }

    #[test]
    fn fields_that_do_not_fit_the_grid_are_refused() {
        let grid: GridShape = "4x3".parse().unwrap();
        let mut s = solution_sidecar(&grid, 12);
        s.frames[0].fields[0].data.shape = vec![3, 5];
        let e = s.to_xml("f.h5").unwrap_err();
        assert!(e.contains("15 values of dataset 'u'"), "{e}");
        let one: GridShape = "5".parse().unwrap();
        let s = grid_fields_sidecar(&one, &[], &[], Center::Cell, &["u"], "t");
        assert!(s.to_xml("f.h5").is_err());
    }

    #[test]
    fn names_are_escaped_and_comments_are_safe() {
        let grid: GridShape = "2x2".parse().unwrap();
        let mut s = solution_sidecar(&grid, 4);
        s.notes.push("a -- b".into());
        let xml = s.to_xml("a&b<c>.h5").unwrap();
        assert!(xml.contains("a&amp;b&lt;c&gt;.h5:/u"), "{xml}");
        assert!(xml.contains("<!-- a - - b -->"), "{xml}");
    }
}
