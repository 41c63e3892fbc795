//! PDEInvBench's per-sample Darcy files (`sample_0012.h5`): `coeff` (the coefficient a, the
//! parameter to recover) and `sol` (u solving −∇·(a∇u) = 1, u = 0 on ∂Ω), each `[S, S, 1]`
//! (`[S, S]` is read too), `[i, j]` = value at (x_i, y_j).

use std::path::Path;

use super::slab::read_block;
use crate::pdebench::{float_dataset, layout, read_error};
use crate::{
    check_attr_names, open_file, write_atomic_with_sidecar, write_attr, xdmf, AttrValue, DataError,
    Result,
};

const COEFF: &str = "coeff";
const SOL: &str = "sol";

/// One Darcy sample on an `s × s` grid, flat in C order (`[i*s + j]` = value at (x_i, y_j)).
#[derive(Debug, Clone, PartialEq)]
pub struct DarcySample {
    /// Grid points per axis S.
    pub s: usize,
    /// The coefficient a (`coeff`).
    pub coeff: Vec<f32>,
    /// The solution u (`sol`).
    pub sol: Vec<f32>,
}

/// Writes one sample at `path`, atomically: `coeff` and `sol` float32 `[S, S, 1]`, `attrs` as
/// scalar file attributes; and its XDMF sidecar ([`xdmf::darcy_sample_sidecar`]) beside it.
pub fn write_darcy_sample(
    path: &Path,
    sample: &DarcySample,
    attrs: &[(&str, AttrValue)],
) -> Result<()> {
    let s = sample.s;
    for (what, len) in [("coeff", sample.coeff.len()), ("sol", sample.sol.len())] {
        if len != s * s || s == 0 {
            return Err(DataError::InvalidInput {
                path: path.to_path_buf(),
                reason: format!("{what} has {len} values, expected S² = {}", s * s),
            });
        }
    }
    check_attr_names(path, attrs.iter().map(|(a, _)| *a))?;
    write_atomic_with_sidecar(path, &xdmf::darcy_sample_sidecar(s), |file| {
        for (name, v) in [(COEFF, &sample.coeff), (SOL, &sample.sol)] {
            file.new_dataset::<f32>()
                .shape([s, s, 1])
                .create(name)?
                .write_raw(v)?;
        }
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a per-sample Darcy file: `coeff` and `sol`, float32 or float64, both `[S, S, 1]` or
/// `[S, S]` with the same S. Errors name the file, the dataset, and what was expected.
pub fn read_darcy_sample(path: &Path) -> Result<DarcySample> {
    let file = open_file(path)?;
    let mut s = 0;
    let mut out: Vec<Vec<f32>> = Vec::new();
    for name in [COEFF, SOL] {
        let ds = float_dataset(path, &file, name)?;
        let shape = ds.shape();
        let ok = match shape.as_slice() {
            &[a, b] | &[a, b, 1] => a == b && a > 0 && (s == 0 || a == s),
            _ => false,
        };
        if !ok {
            let want = if s == 0 {
                "[S, S, 1] or [S, S] (a square grid)".to_string()
            } else {
                format!("[{s}, {s}, 1] or [{s}, {s}] like 'coeff'")
            };
            return Err(layout(path, name, &want, shape));
        }
        s = shape[0];
        let ranges: Vec<_> = shape.iter().map(|&n| 0..n).collect();
        out.push(read_block(&ds, &ranges).map_err(|e| read_error(path, name, &e))?);
    }
    let sol = out.pop().unwrap_or_default();
    let coeff = out.pop().unwrap_or_default();
    Ok(DarcySample { s, coeff, sol })
}
