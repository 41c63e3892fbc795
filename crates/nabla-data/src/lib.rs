//! HDF5 input and output for nabla: solution files, obstacle masks, a generic reader, the
//! PDEBench Darcy and 1-D layouts ([`read_darcy`], [`write_darcy`], [`read_series_1d`],
//! [`write_series_1d`]), and the generators of operator-learning data ([`datagen`]).
//!
//! Every file this crate writes opens in h5py unchanged, and every write is **atomic**: the
//! file is written under a temporary name in the destination directory and renamed into place
//! only once it is complete, so a failure (or Ctrl-C) never leaves a partial file at the
//! destination.
//!
//! Grid fields use nabla's flat index `i + NX*j + NX*NY*k` (x fastest). In HDF5 they are
//! stored in C (row-major) order with shape `[NZ,] NY, NX` — exactly
//! [`GridShape::c_order_dims`] — so `f["u"][j, i]` in NumPy is the value at `(i, j)`.
//!
//! # Example
//!
//! ```
//! use nabla_core::GridShape;
//! use nabla_data::{read_f64_dataset, read_mask, write_mask, write_solution, AttrValue};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let grid: GridShape = "4x3".parse().unwrap();
//!
//! // A solution file: x and b over the unknowns, u over the whole grid, attributes.
//! let u: Vec<f64> = (0..grid.len()).map(|p| p as f64).collect();
//! let path = dir.path().join("sol.h5");
//! write_solution(
//!     &path,
//!     &u,
//!     &vec![1.0; grid.len()],
//!     Some(&grid),
//!     Some(&u),
//!     &[("solver", AttrValue::from("cg")), ("tolerance", AttrValue::F64(1e-8))],
//! )
//! .unwrap();
//! let (shape, data) = read_f64_dataset(&path, "u").unwrap();
//! assert_eq!(shape, vec![3, 4]); // [NY, NX]
//! assert_eq!(data, u);
//!
//! // An obstacle mask: 1 = solid.
//! let mask = nabla_data::box_obstacle_mask(&grid, &[1, 1], &[3, 2]);
//! let mask_path = dir.path().join("mask.h5");
//! write_mask(&mask_path, &grid, &mask).unwrap();
//! assert_eq!(read_mask(&mask_path, &grid).unwrap(), mask);
//! ```

#![warn(missing_docs)]

pub mod datagen;
pub mod dcdm;
pub mod inverse;
mod pdebench;
pub mod xdmf;

pub use dcdm::{read_dcdm_data, write_dcdm_data, DcdmData};
pub use pdebench::{
    read_darcy, read_darcy_coefficients, read_series_1d, read_series_2d, write_darcy,
    write_series_1d, write_series_2d, DarcyData, Series1dData, Series2dData,
};

use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::File;
use nabla_core::GridShape;

/// Errors raised by `nabla-data`. Each message is one line naming the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file does not exist.
    #[error("{}: file not found", path.display())]
    NotFound {
        /// The file asked for.
        path: PathBuf,
    },
    /// The file exists but is not an HDF5 file.
    #[error("{}: not an HDF5 file (no HDF5 signature found)", path.display())]
    NotHdf5 {
        /// The file asked for.
        path: PathBuf,
    },
    /// The file looks like HDF5 but the library could not open or read it.
    #[error("{}: cannot read HDF5 file: {reason}", path.display())]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// What the HDF5 library reported.
        reason: String,
    },
    /// A required dataset is not in the file.
    #[error("{}: no dataset '{name}' in the file (it contains: {available})", path.display())]
    MissingDataset {
        /// The file asked for.
        path: PathBuf,
        /// The dataset that was looked for.
        name: String,
        /// The top-level members that are there, comma-separated (groups end in `/`).
        available: String,
    },
    /// A dataset has the wrong shape (or rank).
    #[error(
        "{}: dataset '{name}' has shape {found:?}, expected {expected:?}{hint}",
        path.display()
    )]
    Shape {
        /// The file asked for.
        path: PathBuf,
        /// The dataset.
        name: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
        /// Extra explanation (for instance that the shape is the transposed one), may be empty.
        hint: String,
    },
    /// A dataset does not have the rank or shape a file layout prescribes (e.g. PDEBench's
    /// `tensor` [N, 1, S, S]); `expected` spells the layout out.
    #[error("{}: dataset '{name}' has shape {found:?}, expected {expected}", path.display())]
    Layout {
        /// The file asked for.
        path: PathBuf,
        /// The dataset.
        name: String,
        /// The shape the layout requires, in words (`[N, 1, S, S]`, `[S] = [64]`, ...).
        expected: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A required file (root-group) attribute is missing or not a number.
    #[error("{}: file attribute '{name}' {problem}", path.display())]
    Attribute {
        /// The file asked for.
        path: PathBuf,
        /// The attribute.
        name: String,
        /// What is wrong (missing, not a number, ...) and what was expected.
        problem: String,
    },
    /// The file has none of the layouts nabla reads.
    #[error(
        "{}: unrecognised layout: expected PDEBench per-seed groups ('0000/data' [t, x, (y,) c] with 'grid/x', 'grid/t'), a 'tensor' [N, t, x] with 'x-coordinate' and 't-coordinate', a PDEBench Darcy 'tensor' [N, 1, S, S] with 'nu', or PDEInvBench Darcy 'coeff' and 'sol'; found: {found}",
        path.display()
    )]
    UnknownLayout {
        /// The file.
        path: PathBuf,
        /// Its top-level members, comma-separated (groups end in `/`).
        found: String,
    },
    /// A dataset has an element type that cannot be used.
    #[error("{}: dataset '{name}' has element type {found}, expected {expected}", path.display())]
    DataType {
        /// The file asked for.
        path: PathBuf,
        /// The dataset.
        name: String,
        /// The types accepted.
        expected: String,
        /// The type in the file.
        found: String,
    },
    /// A mask holds a value other than 0 or 1.
    #[error(
        "{}: dataset '{name}' holds {value} at grid point {at}; a mask holds only 0 (fluid) and 1 (solid)",
        path.display()
    )]
    MaskValue {
        /// The file asked for.
        path: PathBuf,
        /// The dataset.
        name: String,
        /// The offending value.
        value: i64,
        /// Its grid coordinates, e.g. `(i=3, j=7)`.
        at: String,
    },
    /// The arguments of a write or read are inconsistent (lengths, missing grid values, a
    /// sample range outside the file, ...).
    #[error("{}: {reason}", path.display())]
    InvalidInput {
        /// The file that was to be written.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Writing failed; no file was left at `path`.
    #[error("{}: cannot write: {reason}", path.display())]
    Write {
        /// The file that was to be written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Result type of `nabla-data`.
pub type Result<T> = std::result::Result<T, DataError>;

/// A scalar file attribute: a float, an integer or a (UTF-8) string.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A 64-bit float attribute (`float64` in h5py).
    F64(f64),
    /// A 64-bit signed integer attribute (`int64` in h5py).
    I64(i64),
    /// A variable-length UTF-8 string attribute (`str` in h5py).
    Str(String),
}

impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::F64(v)
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::I64(v)
    }
}

impl From<usize> for AttrValue {
    /// Stored as `i64`, saturating at `i64::MAX`.
    fn from(v: usize) -> Self {
        AttrValue::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<bool> for AttrValue {
    /// Stored as the integer 0 or 1.
    fn from(v: bool) -> Self {
        AttrValue::I64(i64::from(v))
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::Str(v.to_string())
    }
}

impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(v)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Writes a solution file at `path`, atomically.
///
/// Datasets:
/// - `x` (f64, shape `[n]`): the solution over the unknowns;
/// - `b` (f64, shape `[n]`): the right-hand side (`b.len()` must equal `x.len()`);
/// - `u` (f64, shape `grid.c_order_dims()`, i.e. `[NZ,] NY, NX`), only when `grid` is given:
///   the field over the whole grid, `grid_values[i + NX*j + NX*NY*k]` (masked cells included),
///   so `grid_values.len()` must equal `grid.len()`.
///
/// `grid` and `grid_values` must be given together. `attrs` become scalar attributes of the
/// root group (names must be distinct and non-empty).
///
/// The file is written under a temporary name in the same directory and renamed onto `path`
/// when complete: on any error nothing is left at `path` (an existing file there is kept
/// unchanged) and the temporary file is removed.
pub fn write_solution(
    path: &Path,
    x: &[f64],
    b: &[f64],
    grid: Option<&GridShape>,
    grid_values: Option<&[f64]>,
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    if b.len() != x.len() {
        return Err(invalid(format!(
            "rhs b has {} entries but the solution x has {}",
            b.len(),
            x.len()
        )));
    }
    let grid_field = match (grid, grid_values) {
        (None, None) => None,
        (Some(g), Some(v)) => {
            if v.len() != g.len() {
                return Err(invalid(format!(
                    "grid field has {} values but the {} grid has {} points",
                    v.len(),
                    g,
                    g.len()
                )));
            }
            Some((g.c_order_dims(), v))
        }
        (Some(g), None) => {
            return Err(invalid(format!(
                "a {g} grid was given without its grid values"
            )))
        }
        (None, Some(_)) => return Err(invalid("grid values were given without a grid".into())),
    };
    check_attr_names(path, attrs.iter().map(|(n, _)| *n))?;

    write_atomic(path, |file| {
        write_f64(file, "x", &[x.len()], x)?;
        write_f64(file, "b", &[b.len()], b)?;
        if let Some((dims, values)) = &grid_field {
            write_f64(file, "u", dims, values)?;
        }
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Writes an obstacle mask for `grid` at `path`, atomically: dataset `mask`, `u8`, shape
/// `grid.c_order_dims()`, value 1 where `mask[i + NX*j + NX*NY*k]` is `true` (solid) and 0
/// elsewhere. This is the layout [`read_mask`] and `nabla poisson --mask` expect.
pub fn write_mask(path: &Path, grid: &GridShape, mask: &[bool]) -> Result<()> {
    if mask.len() != grid.len() {
        return Err(DataError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!(
                "mask has {} values but the {} grid has {} points",
                mask.len(),
                grid,
                grid.len()
            ),
        });
    }
    let data: Vec<u8> = mask.iter().map(|&s| u8::from(s)).collect();
    let dims = grid.c_order_dims();
    write_atomic(path, |file| {
        file.new_dataset::<u8>()
            .shape(dims.as_slice())
            .create("mask")?
            .write_raw(&data)?;
        Ok(())
    })
}

/// Writes a diffusion coefficient for `grid` as dataset `coefficient` (f64) of a new HDF5 file at
/// `path` (atomically): `nodal` holds the values at the grid's nodes *including its boundary
/// layer*, `(NX+2)(NY+2)(NZ+2)` values, x fastest — what
/// [`GridPoisson::with_coefficient`](../nabla_sparse/struct.GridPoisson.html) takes and
/// [`read_coefficient`] reads; the dataset's shape is `[NZ+2,] NY+2, NX+2`.
pub fn write_coefficient(path: &Path, grid: &GridShape, nodal: &[f64]) -> Result<()> {
    let dims: Vec<usize> = grid.c_order_dims().iter().map(|n| n + 2).collect();
    let len: usize = dims.iter().product();
    if nodal.len() != len {
        return Err(DataError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!(
                "coefficient has {} values but the {} grid with its boundary layer has {len} nodes",
                nodal.len(),
                grid
            ),
        });
    }
    write_atomic(path, |file| {
        file.new_dataset::<f64>()
            .shape(dims.as_slice())
            .create("coefficient")?
            .write_raw(nodal)?;
        Ok(())
    })
}

/// A mask for `grid` that is solid (`true`) on the box `lo[d] <= idx[d] < hi[d]` for every
/// axis `d` (x first) and fluid elsewhere; flat, x fastest.
///
/// Bounds are clamped to the grid; an axis missing from `lo` / `hi` spans the whole grid along
/// that axis, and entries beyond `grid.ndim()` are ignored.
pub fn box_obstacle_mask(grid: &GridShape, lo: &[usize], hi: &[usize]) -> Vec<bool> {
    let dims = grid.dims();
    let bounds: Vec<(usize, usize)> = dims
        .iter()
        .enumerate()
        .map(|(d, &n)| {
            let l = lo.get(d).copied().unwrap_or(0).min(n);
            let h = hi.get(d).copied().unwrap_or(n).min(n);
            (l, h)
        })
        .collect();
    let mut mask = vec![false; grid.len()];
    for (p, m) in mask.iter_mut().enumerate() {
        let mut rest = p;
        let mut inside = true;
        for (&n, &(l, h)) in dims.iter().zip(&bounds) {
            let c = rest % n;
            rest /= n;
            inside &= l <= c && c < h;
        }
        *m = inside;
    }
    mask
}

/// A write closure's error: the HDF5 error, or our own message.
type WriteResult = std::result::Result<(), hdf5::Error>;

fn write_f64(file: &File, name: &str, dims: &[usize], values: &[f64]) -> WriteResult {
    file.new_dataset::<f64>()
        .shape(dims)
        .create(name)?
        .write_raw(values)
}

fn write_attr(file: &hdf5::Location, name: &str, value: &AttrValue) -> WriteResult {
    match value {
        AttrValue::F64(v) => file
            .new_attr::<f64>()
            .shape(())
            .create(name)?
            .write_scalar(v),
        AttrValue::I64(v) => file
            .new_attr::<i64>()
            .shape(())
            .create(name)?
            .write_scalar(v),
        AttrValue::Str(s) => {
            let v = VarLenUnicode::from_str(s)
                .map_err(|e| hdf5::Error::from(format!("attribute '{name}': {e}").as_str()))?;
            file.new_attr::<VarLenUnicode>()
                .shape(())
                .create(name)?
                .write_scalar(&v)
        }
    }
}

fn check_attr_names<'a>(path: &Path, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        let bad = |reason: String| DataError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        if n.is_empty() || n.contains('\0') {
            return Err(bad(format!("invalid attribute name {n:?}")));
        }
        if seen.contains(&n) {
            return Err(bad(format!("attribute '{n}' is given twice")));
        }
        seen.push(n);
    }
    Ok(())
}

/// [`write_atomic`], then the XDMF sidecar `sidecar` of the file, atomically too, at
/// [`xdmf::sidecar_path`]`(path)`. The sidecar is rendered and its destination checked before
/// the HDF5 file is written, so a malformed description leaves nothing behind; should the
/// sidecar alone fail to be written, the HDF5 file is in place and the error names the
/// sidecar. An empty file (no samples, or an axis of length 0) gets no sidecar, and a stale
/// one at that path is removed.
fn write_atomic_with_sidecar(
    path: &Path,
    sidecar: &xdmf::Sidecar,
    fill: impl FnOnce(&File) -> WriteResult,
) -> Result<()> {
    if sidecar.is_empty() {
        write_atomic(path, fill)?;
        let _ = fs::remove_file(xdmf::sidecar_path(path));
        return Ok(());
    }
    let xml = xdmf::sidecar_xml(path, sidecar)?;
    let xml_path = xdmf::sidecar_path(path);
    nabla_core::atomic::check_destination(&xml_path).map_err(|e| DataError::Write {
        path: xml_path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(path, fill)?;
    xdmf::write_xml(&xml_path, &xml)
}

/// Creates an HDF5 file under a temporary name next to `path`, lets `fill` write into it,
/// closes it and renames it onto `path`. On any failure the temporary file is removed.
fn write_atomic(path: &Path, fill: impl FnOnce(&File) -> WriteResult) -> Result<()> {
    let werr = |reason: String| DataError::Write {
        path: path.to_path_buf(),
        reason,
    };
    nabla_core::atomic::check_destination(path).map_err(|e| werr(e.to_string()))?;
    let tmp = nabla_core::atomic::temp_path(path).map_err(|e| werr(e.to_string()))?;
    let result = (|| -> std::result::Result<(), String> {
        let file = File::create(&tmp).map_err(|e| hdf5_reason(&e))?;
        let filled = fill(&file).map_err(|e| hdf5_reason(&e));
        let closed = file.close().map_err(|e| hdf5_reason(&e));
        filled?;
        closed?;
        fs::rename(&tmp, path).map_err(|e| e.to_string())
    })();
    match result {
        Ok(()) => Ok(()),
        Err(reason) => {
            let _ = fs::remove_file(&tmp);
            Err(werr(reason))
        }
    }
}

/// A short, one-line reason from an HDF5 error: the operation that failed and its cause, with
/// the operating system's message (`No space left on device`, `Permission denied`) when the
/// library reports one — never the library's internal error stack ([`hdf5_message_line`]).
fn hdf5_reason(e: &hdf5::Error) -> String {
    let frames: Vec<String> = match e.stack() {
        Some(stack) if !stack.is_empty() => {
            stack.iter().map(|f| f.description().to_string()).collect()
        }
        _ => vec![e.to_string()],
    };
    one_line_from_frames(&frames)
}

/// Turns the text of an HDF5 error into one line for a user: either the library's own
/// one-frame summary (`H5Fopen(): unable to open file: bad superblock version number`) or a
/// printed error stack (`HDF5-DIAG: Error detected in HDF5 ...` with `#000: ... in H5Fclose():
/// ...` frames and their `major:` / `minor:` lines).
///
/// When a frame carries the operating system's error (`error message = 'No space left on
/// device'`) the result is that frame's operation and that message (`file write failed: No
/// space left on device`); otherwise the outermost and innermost messages (`unable to open
/// file: bad superblock version number`). Function names (`H5Fopen()`), time stamps, file
/// descriptors, buffer addresses and other `key = value` details are dropped, and the result
/// holds no line break.
///
/// ```
/// let stack = "H5Dwrite(): can't write data: file write failed: time = Sun Dec  6 08:25:53 2026\n\
///     , filename = '/mnt/a.h5', file descriptor = 3, errno = 28, error message = 'No space left \
///     on device', buf = 0x7f48, total write size = 748800, offset = 0";
/// assert_eq!(
///     nabla_data::hdf5_message_line(stack),
///     "file write failed: No space left on device"
/// );
/// ```
pub fn hdf5_message_line(text: &str) -> String {
    one_line_from_frames(&split_frames(text))
}

/// The frame messages of an HDF5 error text, outermost first (see [`hdf5_message_line`]).
fn split_frames(text: &str) -> Vec<String> {
    let is_frame = |l: &str| {
        let l = l.trim_start();
        l.starts_with('#')
            && l[1..]
                .split(':')
                .next()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if !text.lines().any(is_frame) {
        return vec![text.to_string()];
    }
    let mut frames: Vec<String> = Vec::new();
    let mut in_frame = false;
    for line in text.lines() {
        let t = line.trim();
        if is_frame(line) {
            // `#003: ../src/H5F.c line 793 in H5Fclose(): message`
            let msg = match t.find("(): ") {
                Some(i) => &t[i + 4..],
                None => t.split_once(": ").map_or("", |(_, m)| m),
            };
            frames.push(msg.to_string());
            in_frame = true;
        } else if t.starts_with("major:") || t.starts_with("minor:") || t.starts_with("HDF5-DIAG") {
            in_frame = !t.starts_with("HDF5-DIAG") && in_frame;
        } else if in_frame && !t.is_empty() {
            // A message broken by the library's own line break (the time stamp ends in one).
            if let Some(last) = frames.last_mut() {
                last.push(' ');
                last.push_str(t);
            }
        }
    }
    if frames.is_empty() {
        vec![text.to_string()]
    } else {
        frames
    }
}

/// One line from the frame messages of an HDF5 error, outermost first.
fn one_line_from_frames(frames: &[String]) -> String {
    const OS_MESSAGE: &str = "error message = '";
    // The operating system's cause, from the innermost frame that has one.
    for frame in frames.iter().rev() {
        let Some(at) = frame.find(OS_MESSAGE) else {
            continue;
        };
        let rest = &frame[at + OS_MESSAGE.len()..];
        let os = rest.split('\'').next().unwrap_or(rest);
        let os = collapse_whitespace(os);
        let action = message_segments(&frame[..at]).pop().unwrap_or_default();
        let parts: Vec<String> = [action, os].into_iter().filter(|p| !p.is_empty()).collect();
        return if parts.is_empty() {
            "HDF5 error".into()
        } else {
            parts.join(": ")
        };
    }
    let mut parts: Vec<String> = Vec::new();
    let outer = frames
        .first()
        .map(|f| message_segments(f))
        .unwrap_or_default();
    let inner = if frames.len() > 1 {
        frames
            .last()
            .map(|f| message_segments(f))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    for seg in outer.into_iter().chain(inner) {
        if parts.last() != Some(&seg) {
            parts.push(seg);
        }
    }
    if parts.is_empty() {
        "HDF5 error".into()
    } else {
        parts.join(": ")
    }
}

/// The `": "`-separated parts of one frame message without function names (`H5Fopen()`),
/// stopping at the first `key = value` detail part (time stamps, names, addresses) — except
/// that a truncated file keeps its sizes.
fn message_segments(frame: &str) -> Vec<String> {
    let text = collapse_whitespace(frame);
    let mut out: Vec<String> = Vec::new();
    for seg in text.split(": ") {
        let seg = seg.trim().trim_start_matches(',').trim();
        if seg.is_empty() {
            continue;
        }
        let is_function = seg.ends_with("()") && !seg.contains(' ');
        if is_function {
            continue;
        }
        if seg.contains(" = ") || seg.starts_with("time =") {
            if out.last().is_some_and(|l| l == "truncated file") {
                let num = |key: &str| {
                    seg.split(", ")
                        .find_map(|kv| kv.trim().strip_prefix(key))
                        .map(str::trim)
                        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty())
                };
                if let (Some(eof), Some(stored)) = (num("eof = "), num("stored_eof = ")) {
                    out.pop();
                    out.push(format!(
                        "truncated file ({eof} bytes, its header says {stored})"
                    ));
                }
            }
            break;
        }
        out.push(seg.to_string());
    }
    out
}

/// `s` with every run of whitespace (line breaks included) replaced by one space, trimmed.
fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Reads the obstacle mask of `grid` from dataset `mask` of the HDF5 file at `path`.
///
/// The dataset must be of an integer (or boolean) type — `u8` is what [`write_mask`] writes —
/// hold only 0 and 1, and have shape `grid.c_order_dims()` (`[NZ,] NY, NX`). Returns the mask
/// flat, x fastest (`i + NX*j + NX*NY*k`), `true` = solid.
///
/// Errors name the file and say what is wrong: missing file, not an HDF5 file, no `mask`
/// dataset (listing what the file contains), wrong rank or shape (saying so when the shape
/// is the transposed one), non-integer element type, or a value other than 0/1.
pub fn read_mask(path: &Path, grid: &GridShape) -> Result<Vec<bool>> {
    let whole: Vec<std::ops::Range<usize>> = grid.dims().iter().map(|&n| 0..n).collect();
    read_mask_block(path, grid, &whole)
}

/// [`read_mask`] of one block of the grid: `block[a]` is the range of grid indices along axis
/// `a` (x first), one range per axis of `grid`. Only that block is read from disk (a
/// hyperslab); the checks are those of [`read_mask`], on the block's values (a bad value's
/// coordinates are the grid's). Returns the block flat, x fastest. What a rank of a distributed
/// solve reads of a mask.
pub fn read_mask_block(
    path: &Path,
    grid: &GridShape,
    block: &[std::ops::Range<usize>],
) -> Result<Vec<bool>> {
    const NAME: &str = "mask";
    check_block(path, grid.dims(), block)?;
    let file = open_file(path)?;
    let ds = open_dataset(path, &file, NAME)?;
    let read_err = |e: hdf5::Error| DataError::Read {
        path: path.to_path_buf(),
        reason: format!("dataset '{NAME}': {}", hdf5_reason(&e)),
    };
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(read_err)?;
    let is_bool = match desc {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => false,
        TypeDescriptor::Boolean => true,
        other => {
            return Err(DataError::DataType {
                path: path.to_path_buf(),
                name: NAME.into(),
                expected: "an integer type (u8, 0 = fluid, 1 = solid)".into(),
                found: type_name(&other),
            })
        }
    };

    let expected = grid.c_order_dims();
    let found = ds.shape();
    if found != expected {
        let mut hint = String::new();
        let mut transposed = expected.clone();
        transposed.reverse();
        if found.len() != expected.len() {
            let _ = write!(
                hint,
                " (rank {} instead of {} for the {} grid)",
                found.len(),
                expected.len(),
                grid
            );
        } else if found == transposed {
            let _ = write!(
                hint,
                " — this is the transposed shape: store the {} grid in C order as {:?} ([NZ,] NY, NX; x varies fastest)",
                grid, expected
            );
        } else {
            let _ = write!(hint, " for the {} grid ([NZ,] NY, NX in C order)", grid);
        }
        return Err(DataError::Shape {
            path: path.to_path_buf(),
            name: NAME.into(),
            expected,
            found,
            hint,
        });
    }

    let whole = block.iter().zip(grid.dims()).all(|(r, &n)| *r == (0..n));
    let count: usize = block.iter().map(|r| r.len()).product();
    let values: Vec<i64> = if count == 0 {
        Vec::new()
    } else if whole {
        if is_bool {
            ds.read_raw::<bool>()
                .map_err(read_err)?
                .into_iter()
                .map(i64::from)
                .collect()
        } else {
            ds.read_raw::<i64>().map_err(read_err)?
        }
    } else {
        // Booleans convert to integers on read like the integer types do.
        let _ = is_bool;
        read_int_block(&ds, block).map_err(read_err)?
    };
    if values.len() != count {
        return Err(DataError::Read {
            path: path.to_path_buf(),
            reason: format!(
                "dataset '{NAME}' returned {} values for a block of {count} grid points",
                values.len(),
            ),
        });
    }
    let block_dims: Vec<usize> = block.iter().map(|r| r.len()).collect();
    values
        .iter()
        .enumerate()
        .map(|(q, &v)| match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DataError::MaskValue {
                path: path.to_path_buf(),
                name: NAME.into(),
                value: v,
                at: grid_coords(grid, global_index(grid.dims(), block, &block_dims, q)),
            }),
        })
        .collect()
}

/// Errors unless `block` has one range per axis of `dims`, each within its axis.
fn check_block(path: &Path, dims: &[usize], block: &[std::ops::Range<usize>]) -> Result<()> {
    if block.len() != dims.len()
        || block
            .iter()
            .zip(dims)
            .any(|(r, &n)| r.start > r.end || r.end > n)
    {
        return Err(DataError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!("block {block:?} is not within a grid of extents {dims:?}"),
        });
    }
    Ok(())
}

/// The flat (x fastest) index in the whole grid of entry `q` of a block.
fn global_index(
    dims: &[usize],
    block: &[std::ops::Range<usize>],
    block_dims: &[usize],
    mut q: usize,
) -> usize {
    let mut p = 0;
    let mut stride = 1;
    for a in 0..dims.len() {
        p += (block[a].start + q % block_dims[a]) * stride;
        q /= block_dims[a];
        stride *= dims[a];
    }
    p
}

/// Reads the block (x-first ranges) of an integer dataset stored in C order as i64, x fastest.
fn read_int_block(ds: &hdf5::Dataset, block: &[std::ops::Range<usize>]) -> hdf5::Result<Vec<i64>> {
    let slab: Vec<hdf5::SliceOrIndex> = block.iter().rev().map(|r| r.clone().into()).collect();
    let selection = hdf5::Selection::from(hdf5::Hyperslab::from(slab));
    let array = ds.read_slice::<i64, _, nd17::IxDyn>(selection)?;
    Ok(array.iter().copied().collect())
}

/// Writes named f64 datasets `(name, shape in C order, values)` and scalar root attributes to
/// a new HDF5 file at `path`, atomically (as [`write_solution`]). Errors (nothing written)
/// when a dataset's value count does not match its shape or names repeat.
pub fn write_f64_datasets(
    path: &Path,
    datasets: &[(&str, &[usize], &[f64])],
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    for (name, dims, values) in datasets {
        let want: usize = dims.iter().product();
        if values.len() != want {
            return Err(DataError::InvalidInput {
                path: path.to_path_buf(),
                reason: format!(
                    "dataset '{name}' has {} values for shape {dims:?}",
                    values.len()
                ),
            });
        }
    }
    check_attr_names(path, datasets.iter().map(|d| d.0))?;
    check_attr_names(path, attrs.iter().map(|(n, _)| *n))?;
    write_atomic(path, |file| {
        for (name, dims, values) in datasets {
            write_f64(file, name, dims, values)?;
        }
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a floating-point dataset (`f32` or `f64`, any rank) from the HDF5 file at `path`:
/// returns its shape (C order, as h5py reports it) and its values in C order as `f64`.
/// `name` may be a path inside the file such as `"group/data"`.
pub fn read_f64_dataset(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f64>)> {
    let file = open_file(path)?;
    let ds = open_dataset(path, &file, name)?;
    let read_err = |e: hdf5::Error| DataError::Read {
        path: path.to_path_buf(),
        reason: format!("dataset '{name}': {}", hdf5_reason(&e)),
    };
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(read_err)?;
    if !matches!(desc, TypeDescriptor::Float(_)) {
        return Err(DataError::DataType {
            path: path.to_path_buf(),
            name: name.into(),
            expected: "f32 or f64".into(),
            found: type_name(&desc),
        });
    }
    let shape = ds.shape();
    let data = ds.read_raw::<f64>().map_err(read_err)?;
    Ok((shape, data))
}

/// Reads the diffusion coefficient of `grid` from dataset `coefficient` of the HDF5 file at
/// `path`: a float dataset of shape `[NZ+2,] NY+2, NX+2` — the grid's nodes with their boundary
/// layer, as [`write_coefficient`] writes it — returned flat, x fastest. Values must be finite
/// and positive; errors name the file, the expected shape and the first bad value.
pub fn read_coefficient(path: &Path, grid: &GridShape) -> Result<Vec<f64>> {
    let whole: Vec<std::ops::Range<usize>> = grid.dims().iter().map(|&n| 0..n + 2).collect();
    read_coefficient_block(path, grid, &whole)
}

/// [`read_coefficient`] of one block of the nodes: `block[a]` is the range of node indices
/// (0..NX+2 etc., the boundary layer included) along axis `a` (x first). Only that block is
/// read from disk; returned flat, x fastest. A rank of a distributed solve reads the nodes of
/// its points and one layer around them.
pub fn read_coefficient_block(
    path: &Path,
    grid: &GridShape,
    block: &[std::ops::Range<usize>],
) -> Result<Vec<f64>> {
    const NAME: &str = "coefficient";
    let nodes: Vec<usize> = grid.dims().iter().map(|n| n + 2).collect();
    check_block(path, &nodes, block)?;
    let expected: Vec<usize> = grid.c_order_dims().iter().map(|n| n + 2).collect();
    let found = dataset_shape(path, NAME)?;
    if found != expected {
        let hint = if found == grid.c_order_dims() {
            format!(
                " — that is the {grid} grid's own shape; the coefficient is given at the nodes \
                 including the boundary layer ([NZ+2,] NY+2, NX+2)"
            )
        } else {
            format!(" for the {grid} grid ([NZ+2,] NY+2, NX+2 in C order: nodes with the boundary layer)")
        };
        return Err(DataError::Shape {
            path: path.to_path_buf(),
            name: NAME.into(),
            expected,
            found,
            hint,
        });
    }
    let whole = block.iter().zip(&nodes).all(|(r, &n)| *r == (0..n));
    let values = if whole {
        read_f64_dataset(path, NAME)?.1
    } else {
        let file = open_file(path)?;
        let ds = open_dataset(path, &file, NAME)?;
        let desc = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| DataError::Read {
                path: path.to_path_buf(),
                reason: format!("dataset '{NAME}': {}", hdf5_reason(&e)),
            })?;
        if !matches!(desc, TypeDescriptor::Float(_)) {
            return Err(DataError::DataType {
                path: path.to_path_buf(),
                name: NAME.into(),
                expected: "f32 or f64".into(),
                found: type_name(&desc),
            });
        }
        if block.iter().any(|r| r.is_empty()) {
            Vec::new()
        } else {
            let slab: Vec<hdf5::SliceOrIndex> =
                block.iter().rev().map(|r| r.clone().into()).collect();
            let selection = hdf5::Selection::from(hdf5::Hyperslab::from(slab));
            ds.read_slice::<f64, _, nd17::IxDyn>(selection)
                .map_err(|e| DataError::Read {
                    path: path.to_path_buf(),
                    reason: format!("dataset '{NAME}': {}", hdf5_reason(&e)),
                })?
                .iter()
                .copied()
                .collect()
        }
    };
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        let block_dims: Vec<usize> = block.iter().map(|r| r.len()).collect();
        let node = global_index(&nodes, block, &block_dims, i);
        return Err(DataError::Read {
            path: path.to_path_buf(),
            reason: format!(
                "dataset '{NAME}' must be finite and positive; value {v} at node {node} \
                 (flat, x fastest, boundary layer included)"
            ),
        });
    }
    Ok(values)
}

/// The shape (C order) of dataset `name` in the HDF5 file at `path`, without reading its values
/// — for sizing a job before loading it.
pub fn dataset_shape(path: &Path, name: &str) -> Result<Vec<usize>> {
    let file = open_file(path)?;
    Ok(open_dataset(path, &file, name)?.shape())
}

/// Reads the scalar attributes of the root group of the HDF5 file at `path` — for instance
/// those [`write_solution`] wrote — sorted by name. Floats come back as [`AttrValue::F64`],
/// integers as [`AttrValue::I64`], strings as [`AttrValue::Str`]; attributes of other types
/// (including types the HDF5 bindings cannot describe) or shapes are skipped.
pub fn read_attrs(path: &Path) -> Result<Vec<(String, AttrValue)>> {
    let file = open_file(path)?;
    let read_err = |e: hdf5::Error| DataError::Read {
        path: path.to_path_buf(),
        reason: hdf5_reason(&e),
    };
    let mut names = file.attr_names().map_err(read_err)?;
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let attr = file.attr(&name).map_err(read_err)?;
        if !attr.is_scalar() {
            continue;
        }
        // An element type the library cannot describe is one of the "other types" skipped.
        let Ok(desc) = attr.dtype().and_then(|t| t.to_descriptor()) else {
            continue;
        };
        let value = match desc {
            TypeDescriptor::Float(_) => {
                AttrValue::F64(attr.read_scalar::<f64>().map_err(read_err)?)
            }
            TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
                AttrValue::I64(attr.read_scalar::<i64>().map_err(read_err)?)
            }
            TypeDescriptor::VarLenUnicode => AttrValue::Str(
                attr.read_scalar::<VarLenUnicode>()
                    .map_err(read_err)?
                    .as_str()
                    .to_string(),
            ),
            TypeDescriptor::VarLenAscii => AttrValue::Str(
                attr.read_scalar::<VarLenAscii>()
                    .map_err(read_err)?
                    .as_str()
                    .to_string(),
            ),
            _ => continue,
        };
        out.push((name, value));
    }
    Ok(out)
}

/// HDF5 file signature; it sits at byte 0, 512, 1024, 2048, ... (after a user block).
const HDF5_SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Whether the file carries the HDF5 signature at one of the offsets the format allows.
fn has_hdf5_signature(path: &Path) -> bool {
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::new();
    // A user block is at most a few KiB in practice; 64 KiB covers offsets up to 32 KiB.
    if f.by_ref().take(64 * 1024).read_to_end(&mut buf).is_err() {
        return false;
    }
    let mut off = 0usize;
    while off + 8 <= buf.len() {
        if buf[off..off + 8] == HDF5_SIGNATURE {
            return true;
        }
        off = if off == 0 { 512 } else { off * 2 };
    }
    false
}

fn open_file(path: &Path) -> Result<File> {
    if !path.exists() {
        return Err(DataError::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(DataError::Read {
            path: path.to_path_buf(),
            reason: "it is a directory".into(),
        });
    }
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) => {
            if has_hdf5_signature(path) {
                Err(DataError::Read {
                    path: path.to_path_buf(),
                    reason: hdf5_reason(&e),
                })
            } else {
                Err(DataError::NotHdf5 {
                    path: path.to_path_buf(),
                })
            }
        }
    }
}

fn open_dataset(path: &Path, file: &File, name: &str) -> Result<hdf5::Dataset> {
    let exists = !name.is_empty()
        && file.link_exists(name.trim_start_matches('/'))
        && matches!(file.loc_type_by_name(name), Ok(hdf5::LocationType::Dataset));
    if !exists {
        return Err(DataError::MissingDataset {
            path: path.to_path_buf(),
            name: name.to_string(),
            available: list_members(file),
        });
    }
    file.dataset(name).map_err(|e| DataError::Read {
        path: path.to_path_buf(),
        reason: format!("dataset '{name}': {}", hdf5_reason(&e)),
    })
}

/// The top-level members of `file`, sorted and comma-separated, groups ending in `/`
/// (`nothing` for an empty file).
fn list_members(file: &File) -> String {
    let mut members = file.member_names().unwrap_or_default();
    members.sort();
    let listed: Vec<String> = members
        .into_iter()
        .map(|m| match file.loc_type_by_name(&m) {
            Ok(hdf5::LocationType::Group) => format!("{m}/"),
            _ => m,
        })
        .collect();
    if listed.is_empty() {
        "nothing".into()
    } else {
        listed.join(", ")
    }
}

/// The NumPy-like element type name of a dataset (`f32`, `i64`, ...).
fn dataset_type_name(ds: &hdf5::Dataset) -> String {
    ds.dtype()
        .and_then(|t| t.to_descriptor())
        .map(|d| type_name(&d))
        .unwrap_or_else(|_| "unknown".into())
}

/// `(i=.., j=.., k=..)` for a flat index of `grid`.
fn grid_coords(grid: &GridShape, mut p: usize) -> String {
    let names = ["i", "j", "k"];
    let parts: Vec<String> = grid
        .dims()
        .iter()
        .zip(names)
        .map(|(&n, a)| {
            let c = p % n;
            p /= n;
            format!("{a}={c}")
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// A NumPy-like name of an HDF5 element type.
fn type_name(desc: &TypeDescriptor) -> String {
    use hdf5::types::IntSize;
    let bits = |s: &IntSize| match s {
        IntSize::U1 => 8,
        IntSize::U2 => 16,
        IntSize::U4 => 32,
        IntSize::U8 => 64,
    };
    match desc {
        TypeDescriptor::Integer(s) => format!("i{}", bits(s)),
        TypeDescriptor::Unsigned(s) => format!("u{}", bits(s)),
        TypeDescriptor::Float(s) => format!("f{}", *s as usize * 8),
        TypeDescriptor::Boolean => "bool".into(),
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => "string".into(),
        TypeDescriptor::Compound(_) => "compound".into(),
        TypeDescriptor::Enum(_) => "enum".into(),
        other => other.to_string(),
    }
}
