//! Layout detection and the description `nabla inspect` prints.

use std::fmt;
use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Group, LinkType, Location, LocationToken, LocationType};

use super::darcy_sample::read_darcy_sample;
use super::folder::InverseDataset;
use super::params::{scan_file_name, NameScan};
use super::perseed::{seed_groups, PerSeedFile};
use super::tensor::TensorFile;
use crate::{hdf5_reason, open_file, read_darcy, type_name, AttrValue, DataError, Result};

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
    detect(path).1
}

/// The layout the members of the file point to (if any, by name) and the result of checking
/// the file against it.
fn detect(path: &Path) -> (Option<&'static str>, Result<Layout>) {
    let file = match open_file(path) {
        Ok(f) => f,
        Err(e) => return (None, Err(e)),
    };
    let has = |name: &str| file.link_exists(name);
    if !seed_groups(&file).is_empty() {
        let layout = PerSeedFile::open(path).map(|f| Layout::PerSeed {
            seeds: f.seeds().len(),
            shape: f.shape().to_vec(),
            dtype: f.dtype().to_string(),
        });
        return (Some("PDEBench per-seed"), layout);
    }
    if has("tensor") && has("nu") {
        let layout = read_darcy(path, Some(0..0)).map(|d| {
            let n = file
                .dataset("tensor")
                .ok()
                .and_then(|ds| ds.shape().first().copied())
                .unwrap_or_default();
            Layout::PdebenchDarcy { n, s: d.s }
        });
        return (Some("PDEBench Darcy"), layout);
    }
    if has("tensor") {
        let layout = TensorFile::open(path).map(|f| Layout::Tensor {
            n: f.n(),
            nt: f.nt(),
            nx: f.nx(),
            dtype: f.dtype().to_string(),
        });
        return (Some("tensor [N, t, x]"), layout);
    }
    if has("coeff") || has("sol") {
        let layout = read_darcy_sample(path).map(|d| Layout::DarcySample { s: d.s });
        return (Some("PDEInvBench Darcy sample"), layout);
    }
    let err = DataError::UnknownLayout {
        path: path.to_path_buf(),
        found: crate::list_members(&file),
    };
    (None, Err(err))
}

/// Why the file at `path` has none of the layouts nabla reads, in one line without the path.
fn layout_reason(path: &Path, candidate: Option<&str>, e: &DataError) -> String {
    if let DataError::UnknownLayout { found, .. } = e {
        return if found == "nothing" {
            "the file holds no groups or datasets".into()
        } else {
            "not PDEBench per-seed groups, a tensor [N, t, x] file, PDEBench Darcy or a \
             PDEInvBench Darcy sample"
                .into()
        };
    }
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    let reason = text.strip_prefix(&prefix).unwrap_or(&text);
    match candidate {
        Some(c) => format!("not a valid {c} file: {reason}"),
        None => reason.to_string(),
    }
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
    /// Its layout, or (`Err`) why it has none of the layouts nabla reads, in one line; such a
    /// file is described by its tree only.
    pub layout: std::result::Result<Layout, String>,
    /// What the file name says: the PDE, the parameters read, the tokens not parsed.
    pub name: NameScan,
    /// Every group (ending in `/`) and dataset (with shape and type), one per line, each
    /// followed by its attributes (`  @name = value`); for a per-seed file the seed groups
    /// after the first are summarised in one line. Soft and external links are not followed.
    pub tree: Vec<String>,
    /// Scalar root attributes (numbers and strings).
    pub attrs: Vec<(String, AttrValue)>,
    /// The other root attributes (arrays, other element types), one line each: the name, then
    /// the shape and type (and the values of a short numeric array).
    pub other_attrs: Vec<String>,
    /// Inconsistencies that do not stop the description: a file-name parameter that
    /// contradicts the file attribute of the same name, and, for a file with a known layout,
    /// parameters its PDE does not take or lacks.
    pub warnings: Vec<String>,
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
///
/// Any readable HDF5 file is described: one with none of the known layouts is listed as a
/// tree with the reason its layout is unknown, and a file name is read as far as it goes
/// (tokens it cannot read are listed, never an error). The only errors for a file are a
/// missing file and one that is not HDF5 or cannot be opened, each one line.
pub fn inspect(path: &Path) -> Result<Inspection> {
    if path.is_dir() {
        return inspect_folder(path).map(Inspection::Folder);
    }
    inspect_file(path).map(Inspection::File)
}

/// At most this many lines of contents are listed.
const MAX_TREE_LINES: usize = 2000;
/// Groups nested deeper than this are not listed.
const MAX_DEPTH: usize = 32;
/// Strings longer than this (in characters) are shortened in the description.
const MAX_STRING: usize = 120;
/// Fixed-length string attributes are read as strings of up to this many bytes.
const FIXED_STRING: usize = 1024;
/// Numeric array attributes with at most this many values are shown with their values.
const MAX_ARRAY_VALUES: usize = 8;

fn inspect_file(path: &Path) -> Result<FileReport> {
    let file = open_file(path)?;
    let (candidate, detected) = detect(path);
    let layout = detected.map_err(|e| layout_reason(path, candidate, &e));
    let name = scan_file_name(path);
    let mut walker = Walker {
        out: Vec::new(),
        seen: Vec::new(),
        left_out: 0,
        summarise_seeds: matches!(layout, Ok(Layout::PerSeed { .. })),
    };
    if let Ok(info) = file.loc_info() {
        walker.seen.push((info.fileno, info.token));
    }
    walker.group(&file, "", 0);
    if walker.left_out > 0 {
        walker.out.push(format!(
            "... {} more lines not listed (the listing stops at {MAX_TREE_LINES})",
            walker.left_out
        ));
    }
    let mut attrs = Vec::new();
    let mut other_attrs = Vec::new();
    for (attr, desc) in attributes(&file) {
        match desc {
            AttrDesc::Value(v) => attrs.push((attr, v)),
            AttrDesc::Other(d) => other_attrs.push(format!("{}  {d}", show_name(&attr))),
        }
    }
    let mut warnings = Vec::new();
    if layout.is_ok() {
        warnings.extend(name.notes());
    }
    for (p, named, found) in compare_parameters(&name, &attrs).1 {
        warnings.push(format!(
            "file attribute '{p}' is {found} but the file name says {p}={named}"
        ));
    }
    Ok(FileReport {
        path: path.to_path_buf(),
        layout,
        name,
        tree: walker.out,
        attrs,
        other_attrs,
        warnings,
    })
}

/// The file-name parameters that a numeric root attribute of the same name confirms, and
/// those it contradicts as `(name, value in the name, attribute value)` (to 1e-9 relative).
fn compare_parameters(
    name: &NameScan,
    attrs: &[(String, AttrValue)],
) -> (Vec<String>, Vec<(String, f64, f64)>) {
    let mut agree = Vec::new();
    let mut disagree = Vec::new();
    for (p, v) in &name.values {
        let a = match attrs.iter().find(|(a, _)| a == p).map(|(_, a)| a) {
            Some(AttrValue::F64(a)) => *a,
            Some(AttrValue::I64(a)) => *a as f64,
            _ => continue,
        };
        let close = (a - v).abs() <= 1e-9 * v.abs().max(a.abs()).max(1e-300);
        if close {
            agree.push(p.clone());
        } else {
            disagree.push((p.clone(), *v, a));
        }
    }
    (agree, disagree)
}

/// Lists groups, datasets and attributes (see [`FileReport::tree`]).
struct Walker {
    out: Vec<String>,
    /// Groups listed so far (file number and address), so that a hard link back up the tree
    /// is not followed round and round.
    seen: Vec<(u64, LocationToken)>,
    left_out: usize,
    summarise_seeds: bool,
}

impl Walker {
    fn push(&mut self, line: String) {
        if self.out.len() < MAX_TREE_LINES {
            self.out.push(line);
        } else {
            self.left_out += 1;
        }
    }

    fn attributes(&mut self, loc: &Location) {
        for (attr, desc) in attributes(loc) {
            let line = match desc {
                AttrDesc::Value(v) => format!("  @{} = {}", show_name(&attr), fmt_attr(&v)),
                AttrDesc::Other(d) => format!("  @{}  {d}", show_name(&attr)),
            };
            self.push(line);
        }
    }

    fn group(&mut self, group: &Group, prefix: &str, depth: usize) {
        let mut links: Vec<(String, LinkType)> = Vec::new();
        let listed = group.iter_visit_default(|name, info| {
            links.push((name.to_string(), info.link_type));
            Ok(())
        });
        if let Err(e) = listed {
            let at = if prefix.is_empty() { "/" } else { prefix };
            self.push(format!(
                "{at}  (members cannot be listed: {})",
                hdf5_reason(&e)
            ));
        }
        links.sort_by(|a, b| a.0.cmp(&b.0));
        let seeds: Vec<String> = if self.summarise_seeds && depth == 0 {
            seed_groups_of(group, &links)
        } else {
            Vec::new()
        };
        let mut skipped = 0;
        for (m, link) in &links {
            if seeds.len() > 1 && seeds[1..].contains(m) {
                skipped += 1;
                continue;
            }
            let full = format!("{prefix}{}", show_name(m));
            if *link == LinkType::External {
                self.push(format!("{full}  (external link, not followed)"));
                continue;
            }
            let soft = *link == LinkType::Soft;
            match group.loc_type_by_name(m) {
                Err(_) if soft => self.push(format!("{full}  (soft link to nothing)")),
                Err(e) => self.push(format!("{full}  (cannot be read: {})", hdf5_reason(&e))),
                Ok(LocationType::Group) if soft => {
                    self.push(format!("{full}/  (soft link to a group, not followed)"))
                }
                Ok(LocationType::Group) => match group.group(m) {
                    Err(e) => self.push(format!("{full}/  (cannot be read: {})", hdf5_reason(&e))),
                    Ok(sub) => self.subgroup(&sub, &full, depth),
                },
                Ok(LocationType::Dataset) => match group.dataset(m) {
                    Err(e) => self.push(format!("{full}  (cannot be read: {})", hdf5_reason(&e))),
                    Ok(ds) => {
                        self.push(format!(
                            "{full}  {:?} {}{}",
                            ds.shape(),
                            crate::dataset_type_name(&ds),
                            if soft { "  (soft link)" } else { "" }
                        ));
                        self.attributes(&ds);
                    }
                },
                Ok(LocationType::NamedDatatype) => self.push(format!("{full}  (named datatype)")),
            }
        }
        if skipped > 0 {
            self.push(format!(
                "... {skipped} more seed groups ({} to {}) with the same layout",
                seeds[1],
                seeds[seeds.len() - 1]
            ));
        }
    }

    /// Lists the group `sub` (reached by a hard link named `full`) unless it was listed
    /// already.
    fn subgroup(&mut self, sub: &Group, full: &str, depth: usize) {
        if let Ok(info) = sub.loc_info() {
            let id = (info.fileno, info.token);
            if self.seen.contains(&id) {
                self.push(format!("{full}/  (a group listed above, not followed)"));
                return;
            }
            self.seen.push(id);
        }
        self.push(format!("{full}/"));
        self.attributes(sub);
        if depth + 1 >= MAX_DEPTH {
            self.push(format!("{full}/...  (deeper levels not listed)"));
        } else {
            self.group(sub, &format!("{full}/"), depth + 1);
        }
    }
}

/// The seed groups among a group's hard links (all-digit names of groups), sorted.
fn seed_groups_of(group: &Group, links: &[(String, LinkType)]) -> Vec<String> {
    links
        .iter()
        .filter(|(m, l)| {
            *l == LinkType::Hard
                && !m.is_empty()
                && m.bytes().all(|b| b.is_ascii_digit())
                && matches!(group.loc_type_by_name(m), Ok(LocationType::Group))
        })
        .map(|(m, _)| m.clone())
        .collect()
}

/// An attribute as described: a scalar number or string, or a line for anything else.
enum AttrDesc {
    Value(AttrValue),
    Other(String),
}

/// Every attribute of `loc`, sorted by name; never fails (what cannot be read says so).
fn attributes(loc: &Location) -> Vec<(String, AttrDesc)> {
    let mut names = match loc.attr_names() {
        Ok(n) => n,
        Err(e) => {
            return vec![(
                "(attributes)".into(),
                AttrDesc::Other(format!("cannot be listed: {}", hdf5_reason(&e))),
            )]
        }
    };
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let d = describe_attr(loc, &n);
            (n, d)
        })
        .collect()
}

fn describe_attr(loc: &Location, name: &str) -> AttrDesc {
    let unreadable =
        |e: hdf5::Error| AttrDesc::Other(format!("(cannot be read: {})", hdf5_reason(&e)));
    let attr = match loc.attr(name) {
        Ok(a) => a,
        Err(e) => return unreadable(e),
    };
    let shape = attr.shape();
    let desc = match attr.dtype().and_then(|t| t.to_descriptor()) {
        Ok(d) => d,
        Err(_) => return AttrDesc::Other(format!("{shape:?} (element type not supported)")),
    };
    let ty = type_name(&desc);
    if attr.is_scalar() {
        let value = match desc {
            TypeDescriptor::Float(_) => attr.read_scalar::<f64>().map(AttrValue::F64),
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
                attr.read_scalar::<i64>().map(AttrValue::I64)
            }
            TypeDescriptor::Boolean => attr
                .read_scalar::<bool>()
                .map(|b| AttrValue::I64(i64::from(b))),
            TypeDescriptor::VarLenUnicode => attr
                .read_scalar::<VarLenUnicode>()
                .map(|s| AttrValue::Str(s.as_str().to_string())),
            TypeDescriptor::VarLenAscii => attr
                .read_scalar::<VarLenAscii>()
                .map(|s| AttrValue::Str(s.as_str().to_string())),
            // Read into a longer fixed-length string (longer ones are cut, shown cut anyway).
            TypeDescriptor::FixedAscii(_) => attr
                .read_scalar::<FixedAscii<FIXED_STRING>>()
                .map(|s| AttrValue::Str(s.as_str().to_string())),
            TypeDescriptor::FixedUnicode(_) => attr
                .read_scalar::<FixedUnicode<FIXED_STRING>>()
                .map(|s| AttrValue::Str(s.as_str().to_string())),
            _ => return AttrDesc::Other(ty),
        };
        return match value {
            Ok(v) => AttrDesc::Value(v),
            Err(e) => unreadable(e),
        };
    }
    let size: usize = shape.iter().product();
    if size <= MAX_ARRAY_VALUES {
        let values = match desc {
            TypeDescriptor::Float(_) => attr
                .read_raw::<f64>()
                .map(|v| v.iter().map(f64::to_string).collect::<Vec<_>>()),
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => attr
                .read_raw::<i64>()
                .map(|v| v.iter().map(i64::to_string).collect::<Vec<_>>()),
            _ => Err(hdf5::Error::from("not shown")),
        };
        if let Ok(values) = values {
            return AttrDesc::Other(format!("{shape:?} {ty} = [{}]", values.join(", ")));
        }
    }
    AttrDesc::Other(format!("{shape:?} {ty}"))
}

/// A member or attribute name as printed: as it is, or quoted with escapes when it holds
/// control characters (a line break in a name would break the listing).
fn show_name(name: &str) -> String {
    if name.chars().any(char::is_control) {
        format!("{name:?}")
    } else {
        name.to_string()
    }
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
        // Exponent notation outside [1e-4, 1e15): `{}` alone writes 1e-16 as 0.000…0001.
        AttrValue::F64(x) if *x != 0.0 && !(1e-4..1e15).contains(&x.abs()) => format!("{x:e}"),
        AttrValue::F64(x) => format!("{x}"),
        AttrValue::I64(i) => format!("{i}"),
        AttrValue::Str(s) if s.chars().count() > MAX_STRING => {
            let head: String = s.chars().take(MAX_STRING).collect();
            format!("{head:?}... ({} characters)", s.chars().count())
        }
        AttrValue::Str(s) => format!("{s:?}"),
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(r) => {
                writeln!(f, "file        {}", r.path.display())?;
                match &r.layout {
                    Ok(l) => writeln!(f, "layout      {l}")?,
                    Err(why) => writeln!(f, "layout      unknown ({why})")?,
                }
                let n = &r.name;
                if !n.values.is_empty() || n.family.is_some() {
                    let params: Vec<String> =
                        n.values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    let (agree, disagree) = compare_parameters(n, &r.attrs);
                    writeln!(
                        f,
                        "parameters  {} ({}, from the file name{})",
                        if params.is_empty() {
                            "none".into()
                        } else {
                            params.join(", ")
                        },
                        n.family.map_or("PDE not recognised", |fam| fam.describe()),
                        if !agree.is_empty() && disagree.is_empty() {
                            "; attributes agree"
                        } else {
                            ""
                        }
                    )?;
                }
                if !n.not_parsed.is_empty() {
                    writeln!(
                        f,
                        "not parsed  {} (file name tokens)",
                        n.not_parsed.join(", ")
                    )?;
                }
                for w in &r.warnings {
                    writeln!(f, "warning     {w}")?;
                }
                writeln!(f, "contents")?;
                if r.tree.is_empty() {
                    writeln!(f, "  (no groups or datasets)")?;
                }
                for line in &r.tree {
                    writeln!(f, "  {line}")?;
                }
                if !r.attrs.is_empty() || !r.other_attrs.is_empty() {
                    writeln!(f, "attributes")?;
                    for (k, v) in &r.attrs {
                        writeln!(f, "  {} = {}", show_name(k), fmt_attr(v))?;
                    }
                    for line in &r.other_attrs {
                        writeln!(f, "  {line}")?;
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
