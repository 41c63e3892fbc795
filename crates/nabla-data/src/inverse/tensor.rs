//! The `tensor` layout of PDEBench's 1-D files and PDEInvBench's KdV files: `tensor`
//! `[N, t, x]` (or one trajectory `[t, x]`), `x-coordinate` `[x]`, `t-coordinate` `[t]` (or
//! `[t + 1]`, PDEBench's convention), the PDE parameters as scalar file attributes.

use std::ops::Range;
use std::path::{Path, PathBuf};

use hdf5::{Dataset, File};

use super::slab::{read_block, write_block};
use crate::pdebench::{float_dataset, layout, read_error};
use crate::{
    check_attr_names, open_file, read_attrs, write_atomic_with_sidecar, write_attr, xdmf,
    AttrValue, DataError, Result,
};

const TENSOR: &str = "tensor";
const X: &str = "x-coordinate";
const T: &str = "t-coordinate";

/// `n` trajectories of `nt` frames on `nx` points, to write in the `tensor` layout.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSeries {
    /// Trajectories N.
    pub n: usize,
    /// Frames per trajectory.
    pub nt: usize,
    /// Grid points.
    pub nx: usize,
    /// `[n, nt, nx]` flat in C order: `tensor[(k*nt + m)*nx + i]` = u_k(x_i, t_m).
    pub tensor: Vec<f32>,
    /// `x-coordinate`, length `nx`.
    pub x: Vec<f32>,
    /// `t-coordinate`, length `nt` (or `nt + 1`, PDEBench's convention).
    pub t: Vec<f32>,
}

/// Writes `series` at `path` in the `tensor` layout, atomically: `tensor` float32
/// `[N, t, x]` stored in chunks of one trajectory (so a reader of one trajectory touches one
/// chunk), `x-coordinate`, `t-coordinate` float32, and `attrs` (the PDE parameters, e.g.
/// `delta`, and the solver settings) as scalar file attributes; and its XDMF sidecar
/// ([`xdmf::series_sidecar`]) beside it.
pub fn write_tensor_series(
    path: &Path,
    series: &TensorSeries,
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let (n, nt, nx) = (series.n, series.nt, series.nx);
    if n == 0 || nt == 0 || nx == 0 {
        return Err(invalid(format!("empty tensor [{n}, {nt}, {nx}]")));
    }
    if series.tensor.len() != n * nt * nx {
        return Err(invalid(format!(
            "tensor has {} values, expected N·t·x = {}",
            series.tensor.len(),
            n * nt * nx
        )));
    }
    if series.x.len() != nx {
        return Err(invalid(format!(
            "x has {} values, expected {nx}",
            series.x.len()
        )));
    }
    if series.t.len() != nt && series.t.len() != nt + 1 {
        return Err(invalid(format!(
            "t has {} values, expected {nt} (or {} in PDEBench's convention)",
            series.t.len(),
            nt + 1
        )));
    }
    check_attr_names(path, attrs.iter().map(|(a, _)| *a))?;
    let sidecar = xdmf::series_sidecar(n, nt, nx, series.t.len());
    write_atomic_with_sidecar(path, &sidecar, |file| {
        let ds = file
            .new_dataset::<f32>()
            .shape([n, nt, nx])
            .chunk([1, nt, nx])
            .create(TENSOR)?;
        for k in 0..n {
            let per = nt * nx;
            write_block(
                &ds,
                &[k..k + 1, 0..nt, 0..nx],
                &series.tensor[k * per..(k + 1) * per],
            )?;
        }
        file.new_dataset::<f32>()
            .shape([nx])
            .create(X)?
            .write_raw(&series.x)?;
        file.new_dataset::<f32>()
            .shape([series.t.len()])
            .create(T)?
            .write_raw(&series.t)?;
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// An open `tensor` file: shapes and coordinates are known, trajectories are read on demand.
pub struct TensorFile {
    path: PathBuf,
    file: File,
    n: usize,
    nt: usize,
    nx: usize,
    single: bool,
    dtype: String,
    x: Vec<f32>,
    t: Vec<f32>,
}

impl std::fmt::Debug for TensorFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorFile")
            .field("path", &self.path)
            .field("shape", &[self.n, self.nt, self.nx])
            .finish()
    }
}

impl TensorFile {
    /// Opens `path` and checks the layout without reading the tensor: `tensor` float of rank
    /// 3 (`[N, t, x]`) or 2 (`[t, x]`, one trajectory), `x-coordinate` `[x]`, `t-coordinate`
    /// `[t]` or `[t + 1]`. Errors name the file, the dataset, and what was expected and found.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let ds = float_dataset(path, &file, TENSOR)?;
        let shape = ds.shape();
        let (n, nt, nx, single) = match shape.as_slice() {
            [n, nt, nx] => (*n, *nt, *nx, false),
            [nt, nx] => (1, *nt, *nx, true),
            _ => {
                return Err(layout(
                    path,
                    TENSOR,
                    "[N, t, x] (trajectories, time, space) or [t, x] for a 1-D tensor file",
                    shape,
                ))
            }
        };
        let dtype = crate::dataset_type_name(&ds);
        let x = read_1d(path, &file, X, &[nx])?;
        let t = read_1d(path, &file, T, &[nt, nt + 1])?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            n,
            nt,
            nx,
            single,
            dtype,
            x,
            t,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Trajectories N (1 for a `[t, x]` file).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Frames per trajectory.
    pub fn nt(&self) -> usize {
        self.nt
    }

    /// Grid points.
    pub fn nx(&self) -> usize {
        self.nx
    }

    /// Whether `tensor` is a single `[t, x]` trajectory on disk.
    pub fn is_single(&self) -> bool {
        self.single
    }

    /// Element type of `tensor` on disk.
    pub fn dtype(&self) -> &str {
        &self.dtype
    }

    /// `x-coordinate`.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// `t-coordinate` (`nt` or `nt + 1` entries).
    pub fn t(&self) -> &[f32] {
        &self.t
    }

    /// The scalar numeric file attributes (PDE parameters such as `delta`, solver settings).
    pub fn numeric_attrs(&self) -> Result<Vec<(String, f64)>> {
        Ok(read_attrs(&self.path)?
            .into_iter()
            .filter_map(|(k, v)| match v {
                AttrValue::F64(x) => Some((k, x)),
                AttrValue::I64(i) => Some((k, i as f64)),
                AttrValue::Str(_) => None,
            })
            .collect())
    }

    /// Trajectories `range` (`[range, t, x]` flat), a hyperslab read.
    pub fn read_trajectories(&self, range: Range<usize>) -> Result<Vec<f32>> {
        if range.start > range.end || range.end > self.n {
            return Err(self.out_of_range(format!(
                "trajectories {}..{} are not within the file's {}",
                range.start, range.end, self.n
            )));
        }
        let ds = self.tensor()?;
        let ranges = if self.single {
            if range.is_empty() {
                return Ok(Vec::new());
            }
            vec![0..self.nt, 0..self.nx]
        } else {
            vec![range, 0..self.nt, 0..self.nx]
        };
        read_block(&ds, &ranges).map_err(|e| read_error(&self.path, TENSOR, &e))
    }

    /// Frames `frames` of trajectory `k` (`[frames, x]` flat), a hyperslab read.
    pub fn read_frames(&self, k: usize, frames: Range<usize>) -> Result<Vec<f32>> {
        if k >= self.n || frames.start > frames.end || frames.end > self.nt {
            return Err(self.out_of_range(format!(
                "trajectory {k}, frames {}..{} are not within the file's {} trajectories of {} frames",
                frames.start, frames.end, self.n, self.nt
            )));
        }
        let ds = self.tensor()?;
        let ranges = if self.single {
            vec![frames, 0..self.nx]
        } else {
            vec![k..k + 1, frames, 0..self.nx]
        };
        read_block(&ds, &ranges).map_err(|e| read_error(&self.path, TENSOR, &e))
    }

    fn tensor(&self) -> Result<Dataset> {
        float_dataset(&self.path, &self.file, TENSOR)
    }

    fn out_of_range(&self, reason: String) -> DataError {
        DataError::InvalidInput {
            path: self.path.clone(),
            reason,
        }
    }
}

/// A float 1-D dataset whose length is one of `lens`, read whole.
pub(crate) fn read_1d(path: &Path, file: &File, name: &str, lens: &[usize]) -> Result<Vec<f32>> {
    let ds = float_dataset(path, file, name)?;
    let shape = ds.shape();
    if shape.len() != 1 || !lens.contains(&shape[0]) {
        let want: Vec<String> = lens.iter().map(|n| format!("[{n}]")).collect();
        return Err(layout(
            path,
            name,
            &format!("{} to match 'tensor'", want.join(" or ")),
            shape,
        ));
    }
    read_block(&ds, std::slice::from_ref(&(0..shape[0]))).map_err(|e| read_error(path, name, &e))
}
