//! Hyperslab reads of float datasets as f32, whatever the float type on disk.

use std::ops::Range;

use hdf5::{Dataset, Hyperslab, Selection, SliceOrIndex};

/// Reads the block `ranges[d]` along every axis `d` of a float dataset (a hyperslab, so only
/// that block is read from disk) as f32 in C order, converting from f64 when that is what is
/// stored. `ranges` must have one entry per axis.
pub(crate) fn read_block(ds: &Dataset, ranges: &[Range<usize>]) -> hdf5::Result<Vec<f32>> {
    if ranges.iter().any(|r| r.is_empty()) {
        return Ok(Vec::new());
    }
    let slab: Vec<SliceOrIndex> = ranges.iter().map(|r| r.clone().into()).collect();
    let selection = Selection::from(Hyperslab::from(slab));
    let array = ds.read_slice::<f32, _, nd17::IxDyn>(selection)?;
    Ok(array.iter().copied().collect())
}

/// Writes `values` (C order) into the block `ranges` of a dataset created with the full shape.
pub(crate) fn write_block(
    ds: &Dataset,
    ranges: &[Range<usize>],
    values: &[f32],
) -> hdf5::Result<()> {
    let shape: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    let view = nd17::ArrayViewD::from_shape(nd17::IxDyn(&shape), values)
        .map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
    let slab: Vec<SliceOrIndex> = ranges.iter().map(|r| r.clone().into()).collect();
    ds.write_slice(view, Selection::from(Hyperslab::from(slab)))
}
