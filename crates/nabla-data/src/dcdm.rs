//! The DCDM training-set layout: right-hand sides built from Ritz vectors of grid Poisson
//! matrices (nabla-dcdm generates them), with the obstacle masks they belong to.
//!
//! Datasets (C order, x fastest in memory as everywhere in nabla):
//! - `b` (f32, `[N, (NZ,) NY, NX]`): the samples, unit 2-norm over the fluid cells, 0 on solid
//!   cells;
//! - `mask` (u8, `[M, (NZ,) NY, NX]`): the M obstacle masks (1 = solid; all zeros = no
//!   obstacle);
//! - `mask_index` (i64, `[N]`): the mask of each sample;
//! - `ritz_values` (f64, `[M, m]`): the Ritz values of each mask's matrix, ascending.
//!
//! Root attributes record how the set was made (grid, Lanczos steps, weighting, seed); the
//! caller chooses them and compares them to decide whether a cached file can be reused.

use crate::{
    check_attr_names, hdf5_reason, open_dataset, open_file, write_atomic_with_sidecar, write_attr,
    xdmf, AttrValue, DataError, Result, WriteResult,
};
use hdf5::File;
use std::path::Path;

/// A DCDM training set in memory (see the module docs for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct DcdmData {
    /// Grid sides in C order: `[NY, NX]` or `[NZ, NY, NX]`.
    pub sides: Vec<usize>,
    /// Number of samples N.
    pub n: usize,
    /// Samples, N × cells, f32.
    pub b: Vec<f32>,
    /// Masks, M × cells, 1 = solid.
    pub masks: Vec<u8>,
    /// Mask of each sample (length N, values < M).
    pub mask_index: Vec<i64>,
    /// Ritz values, M × m.
    pub ritz_values: Vec<f64>,
    /// Ritz values per mask (m).
    pub ritz_per_mask: usize,
}

impl DcdmData {
    /// Grid cells per sample.
    pub fn cells(&self) -> usize {
        self.sides.iter().product()
    }

    /// Number of masks M.
    pub fn mask_count(&self) -> usize {
        self.masks.len() / self.cells().max(1)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| DataError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        let cells = self.cells();
        if cells == 0 || !(2..=3).contains(&self.sides.len()) {
            return Err(bad(format!(
                "grid sides {:?} are not a 2-D or 3-D grid",
                self.sides
            )));
        }
        if self.b.len() != self.n * cells {
            return Err(bad(format!(
                "{} sample values for {} samples of {cells} cells",
                self.b.len(),
                self.n
            )));
        }
        if self.masks.is_empty() || !self.masks.len().is_multiple_of(cells) {
            return Err(bad(format!(
                "{} mask values are not a whole number of {cells}-cell masks",
                self.masks.len()
            )));
        }
        let m = self.mask_count();
        if self.mask_index.len() != self.n
            || self.mask_index.iter().any(|&i| i < 0 || i as usize >= m)
        {
            return Err(bad(format!(
                "mask_index must have {} entries in 0..{m}",
                self.n
            )));
        }
        if self.ritz_values.len() != m * self.ritz_per_mask {
            return Err(bad(format!(
                "{} Ritz values for {m} masks of {} each",
                self.ritz_values.len(),
                self.ritz_per_mask
            )));
        }
        Ok(())
    }
}

/// Writes a DCDM training set atomically, with `attrs` as root attributes, and its XDMF
/// sidecar ([`xdmf::dcdm_sidecar`]) beside it.
pub fn write_dcdm_data(path: &Path, data: &DcdmData, attrs: &[(&str, AttrValue)]) -> Result<()> {
    data.check(path)?;
    check_attr_names(path, attrs.iter().map(|(a, _)| *a))?;
    let with_n = |lead: usize| -> Vec<usize> {
        let mut d = vec![lead];
        d.extend_from_slice(&data.sides);
        d
    };
    let sidecar = xdmf::dcdm_sidecar(&data.sides, data.n, data.mask_count(), &data.mask_index);
    write_atomic_with_sidecar(path, &sidecar, |file: &File| -> WriteResult {
        file.new_dataset::<f32>()
            .shape(with_n(data.n))
            .create("b")?
            .write_raw(&data.b)?;
        file.new_dataset::<u8>()
            .shape(with_n(data.mask_count()))
            .create("mask")?
            .write_raw(&data.masks)?;
        file.new_dataset::<i64>()
            .shape([data.n])
            .create("mask_index")?
            .write_raw(&data.mask_index)?;
        file.new_dataset::<f64>()
            .shape([data.mask_count(), data.ritz_per_mask])
            .create("ritz_values")?
            .write_raw(&data.ritz_values)?;
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

/// Reads a DCDM training set written by [`write_dcdm_data`]. Errors name the file and the
/// dataset that is missing or malformed.
pub fn read_dcdm_data(path: &Path) -> Result<DcdmData> {
    let file = open_file(path)?;
    let read_err = |name: &str, e: hdf5::Error| DataError::Read {
        path: path.to_path_buf(),
        reason: format!("dataset '{name}': {}", hdf5_reason(&e)),
    };
    let layout = |name: &str, expected: &str, found: Vec<usize>| DataError::Layout {
        path: path.to_path_buf(),
        name: name.into(),
        expected: expected.into(),
        found,
    };
    let b_ds = open_dataset(path, &file, "b")?;
    let shape = b_ds.shape();
    if !(3..=4).contains(&shape.len()) {
        return Err(layout("b", "[N, (NZ,) NY, NX]", shape));
    }
    let sides = shape[1..].to_vec();
    let n = shape[0];
    let b = b_ds.read_raw::<f32>().map_err(|e| read_err("b", e))?;
    let m_ds = open_dataset(path, &file, "mask")?;
    let mshape = m_ds.shape();
    if mshape.len() != shape.len() || mshape[1..] != sides[..] {
        return Err(layout(
            "mask",
            "[M, (NZ,) NY, NX] on the grid of 'b'",
            mshape,
        ));
    }
    let masks = m_ds.read_raw::<u8>().map_err(|e| read_err("mask", e))?;
    let i_ds = open_dataset(path, &file, "mask_index")?;
    if i_ds.shape() != [n] {
        return Err(layout("mask_index", "[N]", i_ds.shape()));
    }
    let mask_index = i_ds
        .read_raw::<i64>()
        .map_err(|e| read_err("mask_index", e))?;
    let r_ds = open_dataset(path, &file, "ritz_values")?;
    let rshape = r_ds.shape();
    if rshape.len() != 2 || rshape[0] != mshape[0] {
        return Err(layout("ritz_values", "[M, m]", rshape));
    }
    let ritz_values = r_ds
        .read_raw::<f64>()
        .map_err(|e| read_err("ritz_values", e))?;
    let data = DcdmData {
        sides,
        n,
        b,
        masks,
        mask_index,
        ritz_values,
        ritz_per_mask: rshape[1],
    };
    data.check(path)?;
    Ok(data)
}
