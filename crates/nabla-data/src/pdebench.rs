//! Readers and writers for the PDEBench HDF5 layouts nabla's operators train on.
//!
//! **2-D Darcy** (PDEBench `2D_DarcyFlow_beta*.hdf5`):
//! - `tensor`, float32 `[N, 1, S, S]`: the solution u;
//! - `nu`, float32 `[N, S, S]`: the coefficient a;
//! - `x-coordinate`, `y-coordinate`, float32 `[S]`;
//! - file attribute `beta` (float): the constant source, −∇·(a∇u) = β.
//!
//! The two spatial axes are x then y, as PDEBench's loaders read them
//! (`meshgrid(x, y, indexing="ij")`): `tensor[n, 0, i, j]` = u(x_i, y_j) and
//! `nu[n, i, j]` = a(x_i, y_j). Note this is the transpose of the `[NY, NX]` order of nabla's
//! own grid files (see the crate docs); for the symmetric unit-square Darcy problem only the
//! labels differ.
//!
//! **1-D time series** (PDEBench `1D_Burgers_Sols_Nu*.hdf5`):
//! - `tensor`, float32 `[N, Nt, Nx]`: `tensor[n, k, i]` = u(x_i, t_k);
//! - `x-coordinate`, float32 `[Nx]`;
//! - `t-coordinate`, float32 `[Nt + 1]` as PDEBench writes it (`t_k = k·Δt_save` for
//!   `k = 0..=Nt`: one entry more than there are snapshots, the last one past the final
//!   snapshot); `[Nt]` is accepted too;
//! - file attribute `Nu` (float): the viscosity parameter.
//!
//! **2-D time series** (PDEBench's 2-D `tensor` convention extended by the time axis of the
//! 1-D series; `nabla datagen navier-stokes`):
//! - `tensor`, float32 `[N, Nt, Nx, Ny]`: `tensor[n, k, i, j]` = u(x_i, y_j, t_k), x the
//!   slower spatial axis as in the Darcy layout;
//! - `x-coordinate` float32 `[Nx]`, `y-coordinate` float32 `[Ny]`;
//! - `t-coordinate`, float32 `[Nt + 1]` (PDEBench's convention, as for the 1-D series: `t[k]`
//!   is the time of frame `k`, the extra last entry one interval past the last frame) or
//!   `[Nt]`;
//! - file attribute `Nu` (float), the viscosity, optional (a series of another equation may
//!   have none).
//!
//! Writers are atomic (temporary file + rename) like the rest of the crate. Readers accept
//! float32 or float64 on disk and return f32; a file with the wrong layout gives a one-line
//! [`DataError`] naming the file, the dataset, what was expected and what was found.

use std::ops::Range;
use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, File, Hyperslab, Selection, SliceOrIndex};

use crate::{
    check_attr_names, hdf5_reason, open_dataset, open_file, type_name, write_atomic_with_sidecar,
    write_attr, xdmf, AttrValue, DataError, Result, WriteResult,
};

/// Darcy flow samples in the PDEBench 2-D Darcy layout: `n` samples on an `s × s` grid.
///
/// Arrays are flat in C order with the x axis before the y axis (module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct DarcyData {
    /// Number of samples N.
    pub n: usize,
    /// Grid points per axis S.
    pub s: usize,
    /// The coefficient a (`nu` on disk), `[n, s, s]`: `coefficient[(k*s + i)*s + j]` =
    /// a_k(x_i, y_j).
    pub coefficient: Vec<f32>,
    /// The solution u (`tensor` on disk), `[n, 1, s, s]`, indexed like `coefficient`.
    pub solution: Vec<f32>,
    /// Grid coordinates x_i along the first spatial axis, length `s`.
    pub x: Vec<f32>,
    /// Grid coordinates y_j along the second spatial axis, length `s`.
    pub y: Vec<f32>,
    /// The constant source β of −∇·(a∇u) = β (file attribute `beta`; 1.0 for nabla's data).
    pub beta: f64,
}

/// A set of 1-D time series in the PDEBench 1-D layout (Burgers): `n` trajectories of `nt`
/// snapshots on `nx` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series1dData {
    /// Number of trajectories N.
    pub n: usize,
    /// Snapshots per trajectory Nt (the initial condition included).
    pub nt: usize,
    /// Grid points Nx.
    pub nx: usize,
    /// The solution, `[n, nt, nx]`: `tensor[(k*nt + m)*nx + i]` = u_k(x_i, t_m).
    pub tensor: Vec<f32>,
    /// Grid coordinates, length `nx`.
    pub x: Vec<f32>,
    /// Time coordinates as stored: `nt + 1` entries in PDEBench's convention (`t[m]` is the
    /// time of snapshot `m`, the extra last entry lies one save interval past the final
    /// snapshot), or `nt` entries.
    pub t: Vec<f32>,
    /// The viscosity parameter (file attribute `Nu`). nabla stores the ν of
    /// u_t + (u²/2)_x = ν u_xx; PDEBench's own Burgers files store ε with ν = ε/π.
    pub nu: f64,
}

/// A set of 2-D time series in the 2-D series layout (module docs): `n` trajectories of `nt`
/// frames on an `nx × ny` grid — e.g. the Navier–Stokes vorticity of `nabla datagen
/// navier-stokes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series2dData {
    /// Number of trajectories N.
    pub n: usize,
    /// Frames per trajectory Nt.
    pub nt: usize,
    /// Grid points along x (the slower spatial axis) Nx.
    pub nx: usize,
    /// Grid points along y (the faster spatial axis) Ny.
    pub ny: usize,
    /// The field, `[n, nt, nx, ny]`: `tensor[((k*nt + m)*nx + i)*ny + j]` = u_k(x_i, y_j, t_m).
    pub tensor: Vec<f32>,
    /// Grid coordinates along x, length `nx`.
    pub x: Vec<f32>,
    /// Grid coordinates along y, length `ny`.
    pub y: Vec<f32>,
    /// Time coordinates as stored: `nt + 1` entries in PDEBench's convention (`t[m]` is the
    /// time of frame `m`, the extra last entry one interval past the last frame), or `nt`.
    pub t: Vec<f32>,
    /// The viscosity (file attribute `Nu`), when the file has one.
    pub nu: Option<f64>,
}

const TENSOR: &str = "tensor";
const NU: &str = "nu";
const X: &str = "x-coordinate";
const Y: &str = "y-coordinate";
const T: &str = "t-coordinate";
const BETA: &str = "beta";
const NU_ATTR: &str = "Nu";

/// Writes `data` at `path` in the PDEBench 2-D Darcy layout (module docs), atomically:
/// `tensor` float32 `[N,1,S,S]`, `nu` float32 `[N,S,S]`, `x-coordinate` / `y-coordinate`
/// float32 `[S]`, file attribute `beta` = `data.beta`, plus `attrs` as further scalar file
/// attributes (which must not repeat `beta`) — and its XDMF sidecar beside it
/// ([`xdmf::darcy_sidecar`], at [`xdmf::sidecar_path`]) for ParaView.
///
/// Errors (nothing written) when the array lengths do not match `n` and `s`.
pub fn write_darcy(path: &Path, data: &DarcyData, attrs: &[(&str, AttrValue)]) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let (n, s) = (data.n, data.s);
    let field = n
        .checked_mul(s)
        .and_then(|v| v.checked_mul(s))
        .ok_or_else(|| invalid(format!("{n} samples of {s}x{s} overflow")))?;
    for (what, len, want) in [
        ("coefficient", data.coefficient.len(), field),
        ("solution", data.solution.len(), field),
        ("x", data.x.len(), s),
        ("y", data.y.len(), s),
    ] {
        if len != want {
            return Err(invalid(format!(
                "Darcy {what} has {len} values, expected {want} for N = {n}, S = {s}"
            )));
        }
    }
    if !data.beta.is_finite() {
        return Err(invalid(format!("beta must be finite, got {}", data.beta)));
    }
    check_attr_names(
        path,
        std::iter::once(BETA).chain(attrs.iter().map(|(a, _)| *a)),
    )?;
    write_atomic_with_sidecar(path, &xdmf::darcy_sidecar(n, s), |file| {
        write_f32(file, TENSOR, &[n, 1, s, s], &data.solution)?;
        write_f32(file, NU, &[n, s, s], &data.coefficient)?;
        write_f32(file, X, &[s], &data.x)?;
        write_f32(file, Y, &[s], &data.y)?;
        write_attr(file, BETA, &AttrValue::F64(data.beta))?;
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a PDEBench 2-D Darcy file (module docs): all samples, or only those in `samples`
/// (a hyperslab read, so a range of a large file costs only its own size). Datasets may be
/// float32 or float64 on disk; values come back as f32, `n` = the number of samples read.
///
/// Errors name the file and dataset: missing dataset, non-float type, wrong rank or shape
/// (`tensor` must be `[N,1,S,S]`, `nu` `[N,S,S]` with the same N and S, the coordinates
/// `[S]`), a missing or non-numeric `beta`, or a range outside `0..N`.
pub fn read_darcy(path: &Path, samples: Option<Range<usize>>) -> Result<DarcyData> {
    let file = open_file(path)?;
    let tensor = float_dataset(path, &file, TENSOR)?;
    let tshape = tensor.shape();
    if tshape.len() != 4 || tshape[1] != 1 || tshape[2] != tshape[3] {
        return Err(layout(
            path,
            TENSOR,
            "[N, 1, S, S] (samples, one channel, x, y) for the PDEBench Darcy solution",
            tshape,
        ));
    }
    let (n_all, s) = (tshape[0], tshape[2]);
    let nu = float_dataset(path, &file, NU)?;
    check_shape(
        path,
        NU,
        &nu,
        &[n_all, s, s],
        "[N, S, S] like tensor's N and S",
    )?;
    let x = read_coordinate(path, &file, X, s)?;
    let y = read_coordinate(path, &file, Y, s)?;
    let beta = read_float_attr(path, &file, BETA, "(the Darcy source, 1.0 in nabla's data)")?;
    let range = sample_range(path, samples, n_all)?;
    let n = range.len();
    let read_err = |name: &str, e: hdf5::Error| read_error(path, name, &e);
    let solution = read_f32_rows(&tensor, range.clone()).map_err(|e| read_err(TENSOR, e))?;
    let coefficient = read_f32_rows(&nu, range).map_err(|e| read_err(NU, e))?;
    Ok(DarcyData {
        n,
        s,
        coefficient,
        solution,
        x,
        y,
        beta,
    })
}

/// Reads only the coefficients `nu` (float32 or float64, `[N, S, S]`) of a Darcy file — for
/// inputs that carry no solution, such as those `nabla eval` predicts on. Returns
/// `(N, S, nu)` with `nu` flat in C order (`[(k*S + i)*S + j]`).
pub fn read_darcy_coefficients(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let file = open_file(path)?;
    let nu = float_dataset(path, &file, NU)?;
    let shape = nu.shape();
    if shape.len() != 3 || shape[1] != shape[2] {
        return Err(layout(
            path,
            NU,
            "[N, S, S] (samples, x, y) for the PDEBench Darcy coefficient",
            shape,
        ));
    }
    let (n, s) = (shape[0], shape[1]);
    let values = read_f32_rows(&nu, 0..n).map_err(|e| read_error(path, NU, &e))?;
    Ok((n, s, values))
}

/// Writes `data` at `path` in the PDEBench 1-D layout (module docs), atomically: `tensor`
/// float32 `[N,Nt,Nx]`, `x-coordinate` float32 `[Nx]`, `t-coordinate` float32 with
/// `data.t.len()` entries (which must be `Nt + 1`, PDEBench's convention, or `Nt`), file
/// attribute `Nu` = `data.nu`, plus `attrs` (which must not repeat `Nu`) — and its XDMF
/// sidecar beside it ([`xdmf::series_sidecar`], at [`xdmf::sidecar_path`]) for ParaView.
pub fn write_series_1d(
    path: &Path,
    data: &Series1dData,
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let (n, nt, nx) = (data.n, data.nt, data.nx);
    let total = n
        .checked_mul(nt)
        .and_then(|v| v.checked_mul(nx))
        .ok_or_else(|| invalid(format!("{n} x {nt} x {nx} values overflow")))?;
    if data.tensor.len() != total {
        return Err(invalid(format!(
            "tensor has {} values, expected N·Nt·Nx = {n}·{nt}·{nx} = {total}",
            data.tensor.len()
        )));
    }
    if data.x.len() != nx {
        return Err(invalid(format!(
            "x has {} values, expected Nx = {nx}",
            data.x.len()
        )));
    }
    if data.t.len() != nt + 1 && data.t.len() != nt {
        return Err(invalid(format!(
            "t has {} values, expected Nt + 1 = {} (PDEBench) or Nt = {nt}",
            data.t.len(),
            nt + 1
        )));
    }
    if !data.nu.is_finite() {
        return Err(invalid(format!("Nu must be finite, got {}", data.nu)));
    }
    check_attr_names(
        path,
        std::iter::once(NU_ATTR).chain(attrs.iter().map(|(a, _)| *a)),
    )?;
    let sidecar = xdmf::series_sidecar(n, nt, nx, data.t.len());
    write_atomic_with_sidecar(path, &sidecar, |file| {
        write_f32(file, TENSOR, &[n, nt, nx], &data.tensor)?;
        write_f32(file, X, &[nx], &data.x)?;
        write_f32(file, T, &[data.t.len()], &data.t)?;
        write_attr(file, NU_ATTR, &AttrValue::F64(data.nu))?;
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a PDEBench 1-D file (module docs): all trajectories, or those in `samples` (a
/// hyperslab read). float32 or float64 on disk, f32 returned; `t` has the length on disk
/// (`Nt + 1` or `Nt`).
///
/// Errors name the file and dataset: missing dataset, non-float type, `tensor` not
/// `[N,Nt,Nx]`, `x-coordinate` not `[Nx]`, `t-coordinate` neither `[Nt+1]` nor `[Nt]`, a
/// missing or non-numeric `Nu`, or a range outside `0..N`.
pub fn read_series_1d(path: &Path, samples: Option<Range<usize>>) -> Result<Series1dData> {
    let file = open_file(path)?;
    let tensor = float_dataset(path, &file, TENSOR)?;
    let shape = tensor.shape();
    if shape.len() != 3 {
        return Err(layout(
            path,
            TENSOR,
            "[N, Nt, Nx] (samples, time, x) for a PDEBench 1-D series",
            shape,
        ));
    }
    let (n_all, nt, nx) = (shape[0], shape[1], shape[2]);
    let x = read_coordinate(path, &file, X, nx)?;
    let tds = float_dataset(path, &file, T)?;
    let tshape = tds.shape();
    if tshape != [nt + 1] && tshape != [nt] {
        return Err(layout(
            path,
            T,
            &format!(
                "[Nt + 1] = [{}] (PDEBench) or [Nt] = [{nt}] for tensor's Nt = {nt}",
                nt + 1
            ),
            tshape,
        ));
    }
    let t = read_f32_rows(&tds, 0..tshape[0]).map_err(|e| read_error(path, T, &e))?;
    let nu = read_float_attr(path, &file, NU_ATTR, "(the viscosity parameter)")?;
    let range = sample_range(path, samples, n_all)?;
    let n = range.len();
    let values = read_f32_rows(&tensor, range).map_err(|e| read_error(path, TENSOR, &e))?;
    Ok(Series1dData {
        n,
        nt,
        nx,
        tensor: values,
        x,
        t,
        nu,
    })
}

/// Writes `data` at `path` in the 2-D series layout (module docs), atomically: `tensor`
/// float32 `[N,Nt,Nx,Ny]`, `x-coordinate` float32 `[Nx]`, `y-coordinate` float32 `[Ny]`,
/// `t-coordinate` float32 with `data.t.len()` entries (`Nt + 1`, PDEBench's convention, or
/// `Nt`), file attribute `Nu` = `data.nu` when it is `Some`, plus `attrs` (which must not
/// repeat `Nu`) — and its XDMF sidecar beside it ([`xdmf::series_2d_sidecar`], at
/// [`xdmf::sidecar_path`]) for ParaView.
///
/// Errors (nothing written) when the array lengths do not match `n`, `nt`, `nx`, `ny`, or
/// `nu` is not finite.
pub fn write_series_2d(
    path: &Path,
    data: &Series2dData,
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let (n, nt, nx, ny) = (data.n, data.nt, data.nx, data.ny);
    let total = n
        .checked_mul(nt)
        .and_then(|v| v.checked_mul(nx))
        .and_then(|v| v.checked_mul(ny))
        .ok_or_else(|| invalid(format!("{n} x {nt} x {nx} x {ny} values overflow")))?;
    if data.tensor.len() != total {
        return Err(invalid(format!(
            "tensor has {} values, expected N·Nt·Nx·Ny = {n}·{nt}·{nx}·{ny} = {total}",
            data.tensor.len()
        )));
    }
    for (what, len, want) in [("x", data.x.len(), nx), ("y", data.y.len(), ny)] {
        if len != want {
            return Err(invalid(format!(
                "{what} has {len} values, expected N{what} = {want}"
            )));
        }
    }
    if data.t.len() != nt + 1 && data.t.len() != nt {
        return Err(invalid(format!(
            "t has {} values, expected Nt + 1 = {} (PDEBench) or Nt = {nt}",
            data.t.len(),
            nt + 1
        )));
    }
    if let Some(nu) = data.nu {
        if !nu.is_finite() {
            return Err(invalid(format!("Nu must be finite, got {nu}")));
        }
    }
    check_attr_names(
        path,
        data.nu
            .map(|_| NU_ATTR)
            .into_iter()
            .chain(attrs.iter().map(|(a, _)| *a)),
    )?;
    let sidecar = xdmf::series_2d_sidecar(n, nt, nx, ny, &data.t);
    write_atomic_with_sidecar(path, &sidecar, |file| {
        write_f32(file, TENSOR, &[n, nt, nx, ny], &data.tensor)?;
        write_f32(file, X, &[nx], &data.x)?;
        write_f32(file, Y, &[ny], &data.y)?;
        write_f32(file, T, &[data.t.len()], &data.t)?;
        if let Some(nu) = data.nu {
            write_attr(file, NU_ATTR, &AttrValue::F64(nu))?;
        }
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a 2-D series file (module docs): all trajectories, or those in `samples` (a
/// hyperslab read, so a range of a large file costs only its own size). float32 or float64
/// on disk, f32 returned; `t` has the length on disk (`Nt + 1` or `Nt`); `nu` is the `Nu`
/// attribute when there is one.
///
/// Errors name the file and dataset: missing dataset, non-float type, `tensor` not
/// `[N,Nt,Nx,Ny]`, a coordinate of the wrong length, `t-coordinate` neither `[Nt+1]` nor
/// `[Nt]`, a non-numeric `Nu`, or a range outside `0..N`.
pub fn read_series_2d(path: &Path, samples: Option<Range<usize>>) -> Result<Series2dData> {
    let file = open_file(path)?;
    let tensor = float_dataset(path, &file, TENSOR)?;
    let shape = tensor.shape();
    if shape.len() != 4 {
        return Err(layout(
            path,
            TENSOR,
            "[N, Nt, Nx, Ny] (samples, time, x, y) for a 2-D series",
            shape,
        ));
    }
    let (n_all, nt, nx, ny) = (shape[0], shape[1], shape[2], shape[3]);
    let x = read_coordinate(path, &file, X, nx)?;
    let y = read_coordinate(path, &file, Y, ny)?;
    let tds = float_dataset(path, &file, T)?;
    let tshape = tds.shape();
    if tshape != [nt + 1] && tshape != [nt] {
        return Err(layout(
            path,
            T,
            &format!(
                "[Nt + 1] = [{}] (PDEBench) or [Nt] = [{nt}] for tensor's Nt = {nt}",
                nt + 1
            ),
            tshape,
        ));
    }
    let t = read_f32_rows(&tds, 0..tshape[0]).map_err(|e| read_error(path, T, &e))?;
    let has_nu = file
        .attr_names()
        .map(|names| names.iter().any(|a| a == NU_ATTR))
        .unwrap_or(false);
    let nu = if has_nu {
        Some(read_float_attr(path, &file, NU_ATTR, "(the viscosity)")?)
    } else {
        None
    };
    let range = sample_range(path, samples, n_all)?;
    let n = range.len();
    let values = read_f32_rows(&tensor, range).map_err(|e| read_error(path, TENSOR, &e))?;
    Ok(Series2dData {
        n,
        nt,
        nx,
        ny,
        tensor: values,
        x,
        y,
        t,
        nu,
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn write_f32(file: &File, name: &str, dims: &[usize], values: &[f32]) -> WriteResult {
    file.new_dataset::<f32>()
        .shape(dims)
        .create(name)?
        .write_raw(values)
}

pub(crate) fn layout(path: &Path, name: &str, expected: &str, found: Vec<usize>) -> DataError {
    DataError::Layout {
        path: path.to_path_buf(),
        name: name.to_string(),
        expected: expected.to_string(),
        found,
    }
}

pub(crate) fn read_error(path: &Path, name: &str, e: &hdf5::Error) -> DataError {
    DataError::Read {
        path: path.to_path_buf(),
        reason: format!("dataset '{name}': {}", hdf5_reason(e)),
    }
}

/// Opens `name` and checks that it holds floats.
pub(crate) fn float_dataset(path: &Path, file: &File, name: &str) -> Result<Dataset> {
    let ds = open_dataset(path, file, name)?;
    let desc = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| read_error(path, name, &e))?;
    if !matches!(desc, TypeDescriptor::Float(_)) {
        return Err(DataError::DataType {
            path: path.to_path_buf(),
            name: name.into(),
            expected: "float32 or float64".into(),
            found: type_name(&desc),
        });
    }
    Ok(ds)
}

pub(crate) fn check_shape(
    path: &Path,
    name: &str,
    ds: &Dataset,
    want: &[usize],
    what: &str,
) -> Result<()> {
    let found = ds.shape();
    if found != want {
        return Err(layout(path, name, &format!("{want:?} ({what})"), found));
    }
    Ok(())
}

/// A float coordinate dataset of shape `[len]`, read whole.
pub(crate) fn read_coordinate(
    path: &Path,
    file: &File,
    name: &str,
    len: usize,
) -> Result<Vec<f32>> {
    let ds = float_dataset(path, file, name)?;
    check_shape(path, name, &ds, &[len], "one entry per grid point")?;
    read_f32_rows(&ds, 0..len).map_err(|e| read_error(path, name, &e))
}

/// A numeric scalar root attribute as f64.
pub(crate) fn read_float_attr(path: &Path, file: &File, name: &str, what: &str) -> Result<f64> {
    let problem = |problem: String| DataError::Attribute {
        path: path.to_path_buf(),
        name: name.to_string(),
        problem,
    };
    let names = file
        .attr_names()
        .map_err(|e| problem(format!("cannot be listed: {}", hdf5_reason(&e))))?;
    if !names.iter().any(|a| a == name) {
        return Err(problem(format!("is missing; expected a number {what}")));
    }
    let attr = file
        .attr(name)
        .map_err(|e| problem(format!("cannot be read: {}", hdf5_reason(&e))))?;
    let desc = attr
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| problem(format!("cannot be read: {}", hdf5_reason(&e))))?;
    let numeric = matches!(
        desc,
        TypeDescriptor::Float(_) | TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)
    );
    if !numeric || !attr.is_scalar() {
        return Err(problem(format!(
            "is a {}{}; expected a scalar number {what}",
            type_name(&desc),
            if attr.is_scalar() { "" } else { " array" }
        )));
    }
    attr.read_scalar::<f64>()
        .map_err(|e| problem(format!("cannot be read: {}", hdf5_reason(&e))))
}

pub(crate) fn sample_range(
    path: &Path,
    samples: Option<Range<usize>>,
    n: usize,
) -> Result<Range<usize>> {
    match samples {
        None => Ok(0..n),
        Some(r) if r.start <= r.end && r.end <= n => Ok(r),
        Some(r) => Err(DataError::InvalidInput {
            path: path.to_path_buf(),
            reason: format!(
                "sample range {}..{} is not within the file's {n} samples (0..{n})",
                r.start, r.end
            ),
        }),
    }
}

/// Reads the rows `range` of the first axis of a float dataset (all of its other axes) as
/// f32 in C order, converting from f64 if that is what is stored.
pub(crate) fn read_f32_rows(ds: &Dataset, range: Range<usize>) -> hdf5::Result<Vec<f32>> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let ndim = ds.ndim();
    let mut slab: Vec<SliceOrIndex> = Vec::with_capacity(ndim);
    slab.push(range.clone().into());
    slab.extend((1..ndim).map(|_| SliceOrIndex::from(..)));
    let selection = Selection::from(Hyperslab::from(slab));
    // hdf5-metno returns arrays of ndarray 0.17 while the workspace pins ndarray 0.16, so the
    // dimension type of the hyperslab read cannot be named here; the `read_dyn` branch (never
    // taken: the range is not empty) lets the compiler infer it.
    let array = if range.is_empty() {
        ds.read_dyn::<f32>()?
    } else {
        ds.read_slice(selection)?
    };
    Ok(array.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_attrs;

    fn darcy(n: usize, s: usize) -> DarcyData {
        let field = n * s * s;
        let coord: Vec<f32> = (0..s).map(|i| i as f32 / (s - 1) as f32).collect();
        DarcyData {
            n,
            s,
            coefficient: (0..field)
                .map(|p| if p % 3 == 0 { 12.0 } else { 3.0 })
                .collect(),
            solution: (0..field).map(|p| p as f32 * 0.25).collect(),
            x: coord.clone(),
            y: coord,
            beta: 1.0,
        }
    }

    fn series(n: usize, nt: usize, nx: usize) -> Series1dData {
        Series1dData {
            n,
            nt,
            nx,
            tensor: (0..n * nt * nx).map(|p| (p as f32).sin()).collect(),
            x: (0..nx).map(|i| (i as f32 + 0.5) / nx as f32).collect(),
            t: (0..=nt).map(|m| m as f32 * 0.1).collect(),
            nu: 0.1,
        }
    }

    /// Writes raw datasets (f64 or f32) to build deliberately bad layouts.
    fn raw_file(path: &Path, f: impl FnOnce(&File) -> WriteResult) {
        let file = File::create(path).unwrap();
        f(&file).unwrap();
        file.close().unwrap();
    }

    fn f64_ds(file: &File, name: &str, dims: &[usize]) -> WriteResult {
        let len: usize = dims.iter().product();
        let v: Vec<f64> = (0..len).map(|p| p as f64 * 0.5).collect();
        file.new_dataset::<f64>()
            .shape(dims)
            .create(name)?
            .write_raw(&v)
    }

    #[test]
    fn darcy_round_trip_with_attributes_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("darcy.h5");
        let data = darcy(5, 4);
        write_darcy(
            &path,
            &data,
            &[
                ("tolerance", AttrValue::F64(1e-10)),
                ("seed", 7usize.into()),
            ],
        )
        .unwrap();
        let back = read_darcy(&path, None).unwrap();
        assert_eq!(back, data);

        let part = read_darcy(&path, Some(1..3)).unwrap();
        assert_eq!((part.n, part.s), (2, 4));
        assert_eq!(part.solution, data.solution[16..48]);
        assert_eq!(part.coefficient, data.coefficient[16..48]);
        assert!(read_darcy(&path, Some(2..2)).unwrap().solution.is_empty());

        let (n, s, nu) = read_darcy_coefficients(&path).unwrap();
        assert_eq!((n, s), (5, 4));
        assert_eq!(nu, data.coefficient);

        let attrs = read_attrs(&path).unwrap();
        assert_eq!(
            attrs,
            vec![
                ("beta".to_string(), AttrValue::F64(1.0)),
                ("seed".to_string(), AttrValue::I64(7)),
                ("tolerance".to_string(), AttrValue::F64(1e-10)),
            ]
        );
        let (shape, _) = crate::read_f64_dataset(&path, "tensor").unwrap();
        assert_eq!(shape, vec![5, 1, 4, 4]);
        let (shape, _) = crate::read_f64_dataset(&path, "nu").unwrap();
        assert_eq!(shape, vec![5, 4, 4]);
    }

    #[test]
    fn darcy_reads_float64_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d64.h5");
        raw_file(&path, |f| {
            f64_ds(f, "tensor", &[3, 1, 2, 2])?;
            f64_ds(f, "nu", &[3, 2, 2])?;
            f64_ds(f, "x-coordinate", &[2])?;
            f64_ds(f, "y-coordinate", &[2])?;
            f.new_attr::<f32>()
                .shape(())
                .create("beta")?
                .write_scalar(&1.0f32)
        });
        let d = read_darcy(&path, Some(1..3)).unwrap();
        assert_eq!((d.n, d.s, d.beta), (2, 2, 1.0));
        assert_eq!(d.solution, vec![2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5]);
        assert_eq!(d.x, vec![0.0, 0.5]);
    }

    #[test]
    fn darcy_layout_errors_name_file_dataset_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let msg = |name: &str, f: &dyn Fn(&File) -> WriteResult| {
            let path = dir.path().join(name);
            raw_file(&path, |file| f(file));
            let e = read_darcy(&path, None).unwrap_err().to_string();
            assert!(e.starts_with(&path.display().to_string()), "{e}");
            assert!(!e.contains('\n'), "{e}");
            e
        };
        let ok_rest = |f: &File| -> WriteResult {
            f64_ds(f, "x-coordinate", &[4])?;
            f64_ds(f, "y-coordinate", &[4])?;
            f.new_attr::<f64>()
                .shape(())
                .create("beta")?
                .write_scalar(&1.0)
        };

        let e = msg("missing.h5", &|f| {
            f64_ds(f, "nu", &[2, 4, 4])?;
            ok_rest(f)
        });
        assert!(e.contains("no dataset 'tensor'") && e.contains("nu"), "{e}");

        let e = msg("rank.h5", &|f| {
            f64_ds(f, "tensor", &[2, 4, 4])?;
            f64_ds(f, "nu", &[2, 4, 4])?;
            ok_rest(f)
        });
        assert!(
            e.contains("'tensor' has shape [2, 4, 4], expected [N, 1, S, S]"),
            "{e}"
        );

        let e = msg("nu_shape.h5", &|f| {
            f64_ds(f, "tensor", &[2, 1, 4, 4])?;
            f64_ds(f, "nu", &[2, 4, 5])?;
            ok_rest(f)
        });
        assert!(
            e.contains("'nu' has shape [2, 4, 5], expected [2, 4, 4]"),
            "{e}"
        );

        let e = msg("coord.h5", &|f| {
            f64_ds(f, "tensor", &[2, 1, 4, 4])?;
            f64_ds(f, "nu", &[2, 4, 4])?;
            f64_ds(f, "x-coordinate", &[5])?;
            f64_ds(f, "y-coordinate", &[4])?;
            f.new_attr::<f64>()
                .shape(())
                .create("beta")?
                .write_scalar(&1.0)
        });
        assert!(
            e.contains("'x-coordinate' has shape [5], expected [4]"),
            "{e}"
        );

        let e = msg("beta.h5", &|f| {
            f64_ds(f, "tensor", &[2, 1, 4, 4])?;
            f64_ds(f, "nu", &[2, 4, 4])?;
            f64_ds(f, "x-coordinate", &[4])?;
            f64_ds(f, "y-coordinate", &[4])
        });
        assert!(e.contains("file attribute 'beta' is missing"), "{e}");

        let e = msg("int.h5", &|f| {
            f.new_dataset::<i32>()
                .shape([2, 1, 4, 4])
                .create("tensor")?
                .write_raw(&[0i32; 32])
        });
        assert!(e.contains("'tensor' has element type i32"), "{e}");

        let path = dir.path().join("ok.h5");
        write_darcy(&path, &darcy(2, 4), &[]).unwrap();
        let e = read_darcy(&path, Some(1..3)).unwrap_err().to_string();
        assert!(
            e.contains("sample range 1..3 is not within the file's 2 samples"),
            "{e}"
        );
        let e = read_darcy_coefficients(&dir.path().join("rank.h5"));
        assert!(e.is_ok(), "nu alone is enough for the coefficient reader");
        let e = read_darcy_coefficients(&dir.path().join("nu_shape.h5"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'nu' has shape [2, 4, 5], expected [N, S, S]"),
            "{e}"
        );
    }

    #[test]
    fn darcy_write_rejects_inconsistent_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.h5");
        let mut d = darcy(2, 3);
        d.solution.pop();
        let e = write_darcy(&path, &d, &[]).unwrap_err().to_string();
        assert!(e.contains("solution has 17 values, expected 18"), "{e}");
        let e = write_darcy(&path, &darcy(2, 3), &[("beta", AttrValue::F64(2.0))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'beta' is given twice"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn series_round_trip_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.h5");
        let data = series(4, 3, 8);
        write_series_1d(&path, &data, &[("scheme", "etdrk4".into())]).unwrap();
        let back = read_series_1d(&path, None).unwrap();
        assert_eq!(back, data);
        assert_eq!(back.t.len(), 4);
        let part = read_series_1d(&path, Some(3..4)).unwrap();
        assert_eq!((part.n, part.nt, part.nx), (1, 3, 8));
        assert_eq!(part.tensor, data.tensor[72..96]);
        let attrs = read_attrs(&path).unwrap();
        assert_eq!(attrs[0], ("Nu".to_string(), AttrValue::F64(0.1)));

        // Nt entries of t are accepted as well.
        let mut short = series(1, 3, 2);
        short.t.pop();
        let p2 = dir.path().join("short.h5");
        write_series_1d(&p2, &short, &[]).unwrap();
        assert_eq!(read_series_1d(&p2, None).unwrap().t.len(), 3);
        short.t.pop();
        let e = write_series_1d(&p2, &short, &[]).unwrap_err().to_string();
        assert!(e.contains("t has 2 values, expected Nt + 1 = 4"), "{e}");
    }

    #[test]
    fn series_layout_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.h5");
        raw_file(&path, |f| {
            f64_ds(f, "tensor", &[2, 5, 8])?;
            f64_ds(f, "x-coordinate", &[8])?;
            f64_ds(f, "t-coordinate", &[4])?;
            f.new_attr::<f64>()
                .shape(())
                .create("Nu")?
                .write_scalar(&0.1)
        });
        let e = read_series_1d(&path, None).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(
            e.contains("'t-coordinate' has shape [4], expected [Nt + 1] = [6]"),
            "{e}"
        );
        let p2 = dir.path().join("s2.h5");
        raw_file(&p2, |f| {
            f64_ds(f, "tensor", &[2, 5, 8, 1])?;
            f64_ds(f, "x-coordinate", &[8])
        });
        let e = read_series_1d(&p2, None).unwrap_err().to_string();
        assert!(
            e.contains("'tensor' has shape [2, 5, 8, 1], expected [N, Nt, Nx]"),
            "{e}"
        );
        let p3 = dir.path().join("s3.h5");
        raw_file(&p3, |f| {
            f64_ds(f, "tensor", &[2, 5, 8])?;
            f64_ds(f, "x-coordinate", &[8])?;
            f64_ds(f, "t-coordinate", &[6])?;
            f.new_attr::<i64>().shape(()).create("Nu")?.write_scalar(&1)
        });
        let d = read_series_1d(&p3, Some(0..1)).unwrap();
        assert_eq!((d.n, d.nu, d.t.len()), (1, 1.0, 6));
        let e = read_series_1d(&dir.path().join("none.h5"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("file not found"), "{e}");
    }
}
