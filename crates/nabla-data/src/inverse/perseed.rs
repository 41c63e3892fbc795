//! PDEBench's per-seed layout: groups `0000`, `0001`, … each holding one trajectory `data`
//! `[t, x, (y,) c]` and its grid `grid/x`, (`grid/y`,) `grid/t`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use hdf5::{Dataset, File};

use super::slab::{read_block, write_block};
use crate::pdebench::{float_dataset, layout, read_error};
use crate::{
    check_attr_names, open_file, write_atomic_with_sidecar, write_attr, xdmf, AttrValue, DataError,
    Result,
};

/// Trajectories to write in the per-seed layout: every one has shape `shape`
/// (`[t, x, c]` in 1-D or `[t, x, y, c]` in 2-D), flat in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct PerSeedData {
    /// Shape of one trajectory, `[t, x, c]` or `[t, x, y, c]`.
    pub shape: Vec<usize>,
    /// `grid/x`, length `shape[1]`.
    pub x: Vec<f32>,
    /// `grid/y`, length `shape[2]` (2-D only; `None` in 1-D).
    pub y: Option<Vec<f32>>,
    /// `grid/t`, length `shape[0]`: the time of each frame.
    pub t: Vec<f32>,
    /// One flat trajectory per seed group, written as `0000`, `0001`, ….
    pub trajectories: Vec<Vec<f32>>,
}

/// The name of seed group `i`: four digits, zero-padded (more when `i` ≥ 10000).
pub(crate) fn seed_name(i: usize) -> String {
    format!("{i:04}")
}

/// Writes `data` at `path` in the per-seed layout, atomically: for trajectory `i`, group
/// `seed_name(i)` with `data` float32 `shape` and `grid/x`, (`grid/y`,) `grid/t` float32;
/// `attrs` become scalar root attributes (PDE parameters and solver settings). Its XDMF
/// sidecar ([`xdmf::per_seed_sidecar`]) is written beside it.
pub fn write_per_seed(path: &Path, data: &PerSeedData, attrs: &[(&str, AttrValue)]) -> Result<()> {
    let invalid = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let rank = data.shape.len();
    if rank != 3 && rank != 4 {
        return Err(invalid(format!(
            "per-seed trajectories have shape [t, x, c] or [t, x, y, c], got {:?}",
            data.shape
        )));
    }
    let len: usize = data.shape.iter().product();
    if let Some((i, tr)) = data
        .trajectories
        .iter()
        .enumerate()
        .find(|(_, t)| t.len() != len)
    {
        return Err(invalid(format!(
            "trajectory {i} has {} values, expected {len} for shape {:?}",
            tr.len(),
            data.shape
        )));
    }
    let want_y = (rank == 4).then(|| data.shape[2]);
    let checks = [
        ("grid/x", data.x.len(), data.shape[1]),
        ("grid/t", data.t.len(), data.shape[0]),
        (
            "grid/y",
            data.y.as_ref().map_or(0, Vec::len),
            want_y.unwrap_or(0),
        ),
    ];
    for (name, got, want) in checks {
        if got != want {
            return Err(invalid(format!("{name} has {got} values, expected {want}")));
        }
    }
    check_attr_names(path, attrs.iter().map(|(n, _)| *n))?;
    let sidecar = xdmf::per_seed_sidecar(&data.shape, data.trajectories.len(), &data.t);
    write_atomic_with_sidecar(path, &sidecar, |file| {
        for (i, tr) in data.trajectories.iter().enumerate() {
            let g = seed_name(i);
            let ds = file
                .new_dataset::<f32>()
                .shape(data.shape.as_slice())
                .create(format!("{g}/data").as_str())?;
            let full: Vec<Range<usize>> = data.shape.iter().map(|&n| 0..n).collect();
            write_block(&ds, &full, tr)?;
            write_vec(file, &format!("{g}/grid/x"), &data.x)?;
            if let Some(y) = &data.y {
                write_vec(file, &format!("{g}/grid/y"), y)?;
            }
            write_vec(file, &format!("{g}/grid/t"), &data.t)?;
        }
        for (name, value) in attrs {
            write_attr(file, name, value)?;
        }
        Ok(())
    })
}

fn write_vec(file: &File, name: &str, v: &[f32]) -> hdf5::Result<()> {
    file.new_dataset::<f32>()
        .shape([v.len()])
        .create(name)?
        .write_raw(v)
}

/// An open per-seed file: the seed groups and their common trajectory shape are known, the
/// data is read on demand one trajectory (or window of frames) at a time.
pub struct PerSeedFile {
    path: PathBuf,
    file: File,
    seeds: Vec<String>,
    shape: Vec<usize>,
    dtype: String,
    x: Vec<f32>,
    y: Option<Vec<f32>>,
    t: Vec<f32>,
}

impl std::fmt::Debug for PerSeedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerSeedFile")
            .field("path", &self.path)
            .field("seeds", &self.seeds.len())
            .field("shape", &self.shape)
            .finish()
    }
}

/// The seed groups of a file: top-level groups whose names are all digits, sorted.
pub(crate) fn seed_groups(file: &File) -> Vec<String> {
    let mut names: Vec<String> = file
        .member_names()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .filter(|m| matches!(file.loc_type_by_name(m), Ok(hdf5::LocationType::Group)))
        .collect();
    names.sort();
    names
}

impl PerSeedFile {
    /// Opens `path` and checks the layout without reading any trajectory: at least one seed
    /// group; in every one a float `data` of rank 3 (`[t, x, c]`) or 4 (`[t, x, y, c]`), all
    /// of the same shape; in the first one `grid/x` `[x]`, `grid/y` `[y]` (2-D) and `grid/t`
    /// `[t]`. Errors name the file, the dataset, and what was expected and found.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_file(path)?;
        let seeds = seed_groups(&file);
        if seeds.is_empty() {
            return Err(DataError::MissingDataset {
                path: path.to_path_buf(),
                name: "0000/data (per-seed groups '0000', '0001', ... each with 'data')".into(),
                available: crate::list_members(&file),
            });
        }
        let mut shape: Vec<usize> = Vec::new();
        let mut dtype = String::new();
        for (i, s) in seeds.iter().enumerate() {
            let name = format!("{s}/data");
            let ds = float_dataset(path, &file, &name)?;
            let found = ds.shape();
            if i == 0 {
                if found.len() != 3 && found.len() != 4 {
                    return Err(layout(
                        path,
                        &name,
                        "[t, x, c] (1-D) or [t, x, y, c] (2-D) for a per-seed trajectory",
                        found,
                    ));
                }
                dtype = crate::dataset_type_name(&ds);
                shape = found;
            } else if found != shape {
                return Err(layout(
                    path,
                    &name,
                    &format!("{shape:?}, the shape of {}/data", seeds[0]),
                    found,
                ));
            }
        }
        let g = &seeds[0];
        let x = read_grid(path, &file, &format!("{g}/grid/x"), &[shape[1]])?;
        let y = if shape.len() == 4 {
            Some(read_grid(path, &file, &format!("{g}/grid/y"), &[shape[2]])?)
        } else {
            None
        };
        let t = read_grid(
            path,
            &file,
            &format!("{g}/grid/t"),
            &[shape[0], shape[0] + 1],
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            seeds,
            shape,
            dtype,
            x,
            y,
            t,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seed group names, sorted (`0000`, `0001`, …).
    pub fn seeds(&self) -> &[String] {
        &self.seeds
    }

    /// Shape of one trajectory, `[t, x, c]` or `[t, x, y, c]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Element type of the first seed's `data` on disk (`f32` or `f64`).
    pub fn dtype(&self) -> &str {
        &self.dtype
    }

    /// `grid/x` of the first seed.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// `grid/y` of the first seed (2-D files only).
    pub fn y(&self) -> Option<&[f32]> {
        self.y.as_deref()
    }

    /// `grid/t` of the first seed (`t` or `t + 1` entries).
    pub fn t(&self) -> &[f32] {
        &self.t
    }

    /// Values in one frame, `x·(y·)c`.
    pub fn frame_len(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// Trajectory `seed` (an index into [`Self::seeds`]), whole, as f32 in C order.
    pub fn read_trajectory(&self, seed: usize) -> Result<Vec<f32>> {
        self.read_frames(seed, 0..self.shape[0])
    }

    /// Frames `frames` of trajectory `seed`: a hyperslab read of `[frames, x, (y,) c]`, so
    /// only that window is read from disk.
    pub fn read_frames(&self, seed: usize, frames: Range<usize>) -> Result<Vec<f32>> {
        let (ds, name) = self.data(seed)?;
        if frames.start > frames.end || frames.end > self.shape[0] {
            return Err(DataError::InvalidInput {
                path: self.path.clone(),
                reason: format!(
                    "frames {}..{} are not within the {} frames of '{name}'",
                    frames.start, frames.end, self.shape[0]
                ),
            });
        }
        let mut ranges = vec![frames];
        ranges.extend(self.shape[1..].iter().map(|&n| 0..n));
        read_block(&ds, &ranges).map_err(|e| read_error(&self.path, &name, &e))
    }

    fn data(&self, seed: usize) -> Result<(Dataset, String)> {
        let Some(g) = self.seeds.get(seed) else {
            return Err(DataError::InvalidInput {
                path: self.path.clone(),
                reason: format!(
                    "seed index {seed} is not within the file's {} seed groups",
                    self.seeds.len()
                ),
            });
        };
        let name = format!("{g}/data");
        let ds = float_dataset(&self.path, &self.file, &name)?;
        Ok((ds, name))
    }
}

/// A float 1-D grid dataset whose length is one of `lens`.
fn read_grid(path: &Path, file: &File, name: &str, lens: &[usize]) -> Result<Vec<f32>> {
    let ds = float_dataset(path, file, name)?;
    let shape = ds.shape();
    if shape.len() != 1 || !lens.contains(&shape[0]) {
        let want: Vec<String> = lens.iter().map(|n| format!("[{n}]")).collect();
        return Err(layout(
            path,
            name,
            &format!("{} (one entry per grid point of data)", want.join(" or ")),
            shape,
        ));
    }
    read_block(&ds, std::slice::from_ref(&(0..shape[0]))).map_err(|e| read_error(path, name, &e))
}
