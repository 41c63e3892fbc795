//! Layout detection and the description `nabla inspect` prints.

use std::fmt;
use std::path::{Path, PathBuf};

use hdf5::Group;

use super::darcy_sample::read_darcy_sample;
use super::folder::InverseDataset;
use super::params::{parse_file_name, ParamFileName};
use super::perseed::{seed_groups, PerSeedFile};
use super::tensor::TensorFile;
use crate::{open_file, read_attrs, read_darcy, AttrValue, DataError, Result};

/// The HDF5 layouts nabla reads, with the sizes found.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// PDEBench per-seed groups `0000/data` `[t, x, (y,) c]` with `grid/*`.
    PerSeed {
        /// Number of seed groups (trajectories).
        seeds: usize,
        /// Shape of one trajectory.
        shape: Vec<usize>,
        /// Element type on disk.
        dtype: String,
    },
    /// `tensor` `[N, t, x]` (or `[t, x]`) with `x-coordinate`, `t-coordinate`.
    Tensor {
        /// Trajectories.
        n: usize,
        /// Frames.
        nt: usize,
        /// Grid points.
        nx: usize,
        /// Element type on disk.
        dtype: String,
    },
    /// PDEBench Darcy: `tensor` `[N, 1, S, S]`, `nu` `[N, S, S]`, attribute `beta`.
    PdebenchDarcy {
        /// Samples.
        n: usize,
        /// Grid points per axis.
        s: usize,
    },
    /// PDEInvBench Darcy sample: `coeff`, `sol` `[S, S, 1]`.
    DarcySample {
        /// Grid points per axis.
        s: usize,
    },
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PerSeed {
                seeds,
                shape,
                dtype,
            } => {
                let axes = if shape.len() == 4 {
                    "[t, x, y, c]"
                } else {
                    "[t, x, c]"
                };
                write!(
                    f,
                    "PDEBench per-seed: {seeds} seed groups, data {axes} = {shape:?} {dtype}"
                )
            }
            Self::Tensor { n, nt, nx, dtype } => write!(
                f,
                "tensor [N, t, x] = [{n}, {nt}, {nx}] {dtype} with x-coordinate, t-coordinate"
            ),
            Self::PdebenchDarcy { n, s } => write!(
                f,
                "PDEBench Darcy: tensor [N, 1, S, S] = [{n}, 1, {s}, {s}], nu [{n}, {s}, {s}]"
            ),
            Self::DarcySample { s } => {
                write!(f, "PDEInvBench Darcy sample: coeff and sol [{s}, {s}, 1]")
            }
        }
    }
}

/// Tells which layout the HDF5 file at `path` has and checks it fully (shapes, element types,
/// grids) without reading the solution data. An unrecognised file is an error naming the
/// layouts expected and the members found; a recognised one with a defect gets that layout's
/// error (missing dataset, wrong rank, non-float type, ...).
pub fn detect_layout(path: &Path) -> Result<Layout> {
    let file = open_file(path)?;
    let has = |name: &str| file.link_exists(name);
    if !seed_groups(&file).is_empty() {
        let f = PerSeedFile::open(path)?;
        return Ok(Layout::PerSeed {
            seeds: f.seeds().len(),
            shape: f.shape().to_vec(),
            dtype: f.dtype().to_string(),
        });
    }
    if has("tensor") && has("nu") {
        let d = read_darcy(path, Some(0..0))?;
        let n = file
            .dataset("tensor")
            .map(|ds| ds.shape()[0])
            .unwrap_or_default();
        return Ok(Layout::PdebenchDarcy { n, s: d.s });
    }
    if has("tensor") {
        let f = TensorFile::open(path)?;
        return Ok(Layout::Tensor {
            n: f.n(),
            nt: f.nt(),
            nx: f.nx(),
            dtype: f.dtype().to_string(),
        });
    }
    if has("coeff") || has("sol") {
        let d = read_darcy_sample(path)?;
        return Ok(Layout::DarcySample { s: d.s });
    }
    Err(DataError::UnknownLayout {
        path: path.to_path_buf(),
        found: crate::list_members(&file),
    })
}

/// What [`inspect`] found: one file or a data-set folder.
#[derive(Debug, Clone, PartialEq)]
pub enum Inspection {
    /// A single HDF5 file.
    File(FileReport),
    /// A data-set folder with splits.
    Folder(FolderReport),
}

/// The description of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Parameters from the file name, if it carries any.
    pub name: Option<ParamFileName>,
    /// Every group (ending in `/`) and dataset (with shape and type), one per line; the seed
    /// groups after the first are summarised in one line.
    pub tree: Vec<String>,
    /// Scalar root attributes.
    pub attrs: Vec<(String, AttrValue)>,
}

/// One split of a folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitReport {
    /// The split's directory name.
    pub split: String,
    /// Files in it.
    pub files: usize,
    /// Trajectories (seed groups, tensor rows or samples) over its files.
    pub trajectories: usize,
    /// Per parameter: (name, min, max) over its files.
    pub ranges: Vec<(String, f64, f64)>,
}

/// The description of a data-set folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderReport {
    /// The folder.
    pub root: PathBuf,
    /// The PDE family.
    pub family: String,
    /// The layout of the first file.
    pub layout: Layout,
    /// The splits.
    pub splits: Vec<SplitReport>,
    /// Entries that are not split directories.
    pub others: Vec<String>,
}

/// Describes the HDF5 file or data-set folder at `path` (what `nabla inspect` prints): the
/// layout, groups, datasets with shapes and types, attributes, parameters (from the file name,
/// checked against the attributes) and, for a folder, every split with its parameter ranges.
/// Every file of a folder is opened (metadata only) so that a bad file is reported.
pub fn inspect(path: &Path) -> Result<Inspection> {
    if path.is_dir() {
        return inspect_folder(path).map(Inspection::Folder);
    }
    inspect_file(path).map(Inspection::File)
}

fn inspect_file(path: &Path) -> Result<FileReport> {
    // The name first: a typo in a parameter name is reported whatever the contents.
    let stem_has_params = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains('='));
    let name = if stem_has_params {
        let parsed = parse_file_name(path)?;
        let pf = super::folder::ParamFile {
            path: path.to_path_buf(),
            name: parsed.clone(),
        };
        pf.checked_parameters()?;
        Some(parsed)
    } else {
        parse_file_name(path).ok()
    };
    let layout = detect_layout(path)?;
    let file = open_file(path)?;
    let mut tree = Vec::new();
    walk(&file, "", &mut tree, true).map_err(|e| DataError::Read {
        path: path.to_path_buf(),
        reason: crate::hdf5_reason(&e),
    })?;
    Ok(FileReport {
        path: path.to_path_buf(),
        layout,
        name,
        tree,
        attrs: read_attrs(path)?,
    })
}

/// Lists `group` recursively into `out`; at the top level, seed groups after the first are
/// summarised.
fn walk(group: &Group, prefix: &str, out: &mut Vec<String>, top: bool) -> hdf5::Result<()> {
    let mut names = group.member_names()?;
    names.sort();
    let seeds: Vec<&String> = names
        .iter()
        .filter(|m| top && !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let mut skipped = 0;
    for m in &names {
        let full = format!("{prefix}{m}");
        if seeds.len() > 1 && seeds[1..].contains(&m) {
            skipped += 1;
            continue;
        }
        match group.loc_type_by_name(m)? {
            hdf5::LocationType::Group => {
                out.push(format!("{full}/"));
                walk(&group.group(m)?, &format!("{full}/"), out, false)?;
            }
            hdf5::LocationType::Dataset => {
                let ds = group.dataset(m)?;
                out.push(format!(
                    "{full}  {:?} {}",
                    ds.shape(),
                    crate::dataset_type_name(&ds)
                ));
            }
            _ => out.push(format!("{full}  (named datatype)")),
        }
    }
    if skipped > 0 {
        out.push(format!(
            "... {skipped} more seed groups ({} to {}) with the same layout",
            seeds[1],
            seeds[seeds.len() - 1]
        ));
    }
    Ok(())
}

fn inspect_folder(root: &Path) -> Result<FolderReport> {
    let ds = InverseDataset::open(root)?;
    let mut layout = None;
    let mut splits = Vec::new();
    for sf in ds.splits() {
        let mut trajectories = 0;
        let mut ranges: Vec<(String, f64, f64)> = Vec::new();
        for f in &sf.files {
            let l = detect_layout(&f.path)?;
            trajectories += match &l {
                Layout::PerSeed { seeds, .. } => *seeds,
                Layout::Tensor { n, .. } | Layout::PdebenchDarcy { n, .. } => *n,
                Layout::DarcySample { .. } => 1,
            };
            if layout.is_none() {
                layout = Some(l);
            }
            for (p, v) in f.checked_parameters()? {
                match ranges.iter_mut().find(|(n, _, _)| *n == p) {
                    Some(r) => {
                        r.1 = r.1.min(v);
                        r.2 = r.2.max(v);
                    }
                    None => ranges.push((p, v, v)),
                }
            }
        }
        splits.push(SplitReport {
            split: sf.split.dir_name().to_string(),
            files: sf.files.len(),
            trajectories,
            ranges,
        });
    }
    let layout = layout.ok_or_else(|| DataError::InvalidInput {
        path: root.to_path_buf(),
        reason: "the split directories hold no .h5 files".into(),
    })?;
    Ok(FolderReport {
        root: root.to_path_buf(),
        family: ds.family().describe().to_string(),
        layout,
        splits,
        others: ds.other_entries().to_vec(),
    })
}

fn fmt_attr(v: &AttrValue) -> String {
    match v {
        AttrValue::F64(x) => format!("{x}"),
        AttrValue::I64(i) => format!("{i}"),
        AttrValue::Str(s) => format!("{s:?}"),
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(r) => {
                writeln!(f, "file        {}", r.path.display())?;
                writeln!(f, "layout      {}", r.layout)?;
                if let Some(n) = &r.name {
                    let params: Vec<String> =
                        n.values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    writeln!(
                        f,
                        "parameters  {} ({}, from the file name{})",
                        if params.is_empty() {
                            "none".into()
                        } else {
                            params.join(", ")
                        },
                        n.family.describe(),
                        if params.is_empty() {
                            ""
                        } else {
                            "; attributes agree"
                        }
                    )?;
                }
                writeln!(f, "contents")?;
                for line in &r.tree {
                    writeln!(f, "  {line}")?;
                }
                if !r.attrs.is_empty() {
                    writeln!(f, "attributes")?;
                    for (k, v) in &r.attrs {
                        writeln!(f, "  {k} = {}", fmt_attr(v))?;
                    }
                }
                Ok(())
            }
            Self::Folder(r) => {
                writeln!(f, "folder      {}", r.root.display())?;
                writeln!(f, "PDE         {}", r.family)?;
                writeln!(f, "layout      {} (first file)", r.layout)?;
                writeln!(f, "splits")?;
                for s in &r.splits {
                    let ranges: Vec<String> = s
                        .ranges
                        .iter()
                        .map(|(p, lo, hi)| format!("{p} in [{lo}, {hi}]"))
                        .collect();
                    writeln!(
                        f,
                        "  {:<28} {:>5} files {:>7} trajectories  {}",
                        format!("{}/", s.split),
                        s.files,
                        s.trajectories,
                        ranges.join(", ")
                    )?;
                }
                if !r.others.is_empty() {
                    writeln!(f, "other       {} (not read)", r.others.join(", "))?;
                }
                Ok(())
            }
        }
    }
}
