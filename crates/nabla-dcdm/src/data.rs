//! The DCDM training set: right-hand sides spanned by Ritz vectors of the grid Poisson matrix.
//!
//! For each obstacle mask (or the empty one), `m` Lanczos steps with full reorthogonalization
//! on the masked matrix give Ritz pairs `(θ_j, y_j)`, ascending (`nabla_sparse::lanczos`).
//! Each sample is `b = Σ_j c_j y_j` with `c_j ~ N(0, 1)`, multiplied by `low_weight` (9 in the
//! paper) for the lowest `low_fraction·m` Ritz values, then normalized to ‖b‖₂ = 1. Weighting
//! the low end matters because the smooth (low-eigenvalue) components are the ones CG resolves
//! slowly and the ones the network must invert well.
//!
//! Cost per mask (n unknowns): `m` sparse products plus about `4·n·m²` flops of Gram–Schmidt
//! and `n·m²` for the Ritz vectors; memory `2·n·m` f64. At 64² (n = 4096) and m = 300 that is
//! ~1.5 GFLOP and ~20 MB, about a second on one core. The samples themselves cost `n·m` flops
//! each and `4n` bytes on disk (f32): 4000 samples at 64² are 66 MB.

use crate::{DcdmError, Result};
use nabla_core::GridShape;
use nabla_data::{AttrValue, DcdmData};
use nabla_sparse::lanczos::ritz_pairs;
use nabla_sparse::GridPoisson;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which obstacle masks the set is made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// No obstacles: the plain grid (one matrix).
    None,
    /// Random axis-aligned boxes (1–3 per mask, sides 1/8–1/3 of the grid), one matrix each.
    Boxes,
}

/// `[data]`: how the training set is made and where it is cached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The HDF5 file holding the set: generated when missing, reused when its attributes
    /// match this config, an error when they do not (delete it or choose another file).
    pub file: PathBuf,
    /// Lanczos steps m per matrix.
    #[serde(default = "default_steps")]
    pub lanczos_steps: usize,
    /// Samples in the set (spread evenly over the masks).
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Fraction of the Ritz values, from the low end, whose coefficients are weighted up.
    #[serde(default = "default_low_fraction")]
    pub low_fraction: f64,
    /// The weight of the low end (the paper: 9).
    #[serde(default = "default_low_weight")]
    pub low_weight: f64,
    /// Obstacle masks.
    #[serde(default = "default_masks")]
    pub masks: MaskKind,
    /// Number of random masks (`masks = "boxes"`).
    #[serde(default = "one")]
    pub mask_count: usize,
    /// Seed of the Lanczos start vectors, masks and coefficients.
    #[serde(default)]
    pub seed: u64,
}

fn default_steps() -> usize {
    300
}
fn default_samples() -> usize {
    2000
}
fn default_low_fraction() -> f64 {
    0.5
}
fn default_low_weight() -> f64 {
    9.0
}
fn default_masks() -> MaskKind {
    MaskKind::None
}
fn one() -> usize {
    1
}

impl DataConfig {
    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.lanczos_steps == 0 {
            return Err(DcdmError::config("data.lanczos_steps", "must be ≥ 1"));
        }
        if self.samples == 0 {
            return Err(DcdmError::config("data.samples", "must be ≥ 1"));
        }
        if !(0.0..=1.0).contains(&self.low_fraction) {
            return Err(DcdmError::config("data.low_fraction", "must be in [0, 1]"));
        }
        if !(self.low_weight.is_finite() && self.low_weight > 0.0) {
            return Err(DcdmError::config(
                "data.low_weight",
                "must be finite and > 0",
            ));
        }
        if self.mask_count == 0 || self.mask_count > self.samples {
            return Err(DcdmError::config(
                "data.mask_count",
                "must be in 1..=data.samples",
            ));
        }
        if self.masks == MaskKind::None && self.mask_count != 1 {
            return Err(DcdmError::config(
                "data.mask_count",
                "must be 1 when data.masks = \"none\"",
            ));
        }
        Ok(())
    }

    /// The attributes a cached file carries, to check it was made with this config.
    fn attrs(&self, grid: &GridShape) -> Vec<(&'static str, AttrValue)> {
        vec![
            ("grid", grid.to_string().into()),
            ("lanczos_steps", self.lanczos_steps.into()),
            ("samples", self.samples.into()),
            ("low_fraction", self.low_fraction.into()),
            ("low_weight", self.low_weight.into()),
            (
                "masks",
                match self.masks {
                    MaskKind::None => "none",
                    MaskKind::Boxes => "boxes",
                }
                .into(),
            ),
            ("mask_count", self.mask_count.into()),
            ("seed", (self.seed as i64).into()),
        ]
    }
}

/// Random box obstacles on `grid`: 1–3 boxes per mask with sides between 1/8 and 1/3 of each
/// axis, kept one cell away from the boundary. Returns `true` = solid.
pub fn random_box_mask(grid: &GridShape, rng: &mut Pcg64) -> Vec<bool> {
    let dims = grid.dims();
    let boxes = rng.gen_range(1..=3);
    let mut mask = vec![false; grid.len()];
    for _ in 0..boxes {
        let mut lo = Vec::with_capacity(dims.len());
        let mut hi = Vec::with_capacity(dims.len());
        for &n in dims {
            let min_side = (n / 8).max(1);
            let max_side = (n / 3).max(min_side);
            let side = rng
                .gen_range(min_side..=max_side)
                .min(n.saturating_sub(2).max(1));
            let start_max = n.saturating_sub(side + 1).max(1);
            let start = rng.gen_range(1.min(start_max)..=start_max);
            lo.push(start);
            hi.push((start + side).min(n));
        }
        let b = nabla_data::box_obstacle_mask(grid, &lo, &hi);
        mask.iter_mut().zip(b).for_each(|(m, s)| *m |= s);
    }
    mask
}

/// What [`generate`] reports about the work it did.
#[derive(Clone, Debug, Serialize)]
pub struct DataStats {
    /// Masks (matrices) processed.
    pub masks: usize,
    /// Lanczos steps per matrix (capped at the unknowns).
    pub lanczos_steps: usize,
    /// Smallest and largest Ritz value of the first matrix.
    pub ritz_range: (f64, f64),
    /// Seconds spent in Lanczos and forming Ritz vectors.
    pub lanczos_seconds: f64,
    /// Seconds spent forming the samples.
    pub sample_seconds: f64,
    /// Whether the set was read from the cache file.
    pub cached: bool,
}

/// Generates the training set of `config` on `grid` (deterministic in `config.seed`).
pub fn generate(config: &DataConfig, grid: &GridShape) -> Result<(DcdmData, DataStats)> {
    config.validate()?;
    let mut rng = Pcg64::seed_from_u64(config.seed);
    let cells = grid.len();
    let m_masks = config.mask_count;
    let mut masks = Vec::with_capacity(m_masks * cells);
    let mut ritz_all = Vec::new();
    let mut b = Vec::with_capacity(config.samples * cells);
    let mut mask_index = Vec::with_capacity(config.samples);
    let (mut t_lanczos, mut t_samples) = (0.0, 0.0);
    let mut steps_used = 0;
    let mut ritz_range = (f64::NAN, f64::NAN);
    for k in 0..m_masks {
        let mask = match config.masks {
            MaskKind::None => vec![false; cells],
            MaskKind::Boxes => random_box_mask(grid, &mut rng),
        };
        let mut problem = GridPoisson::new(grid.clone());
        if mask.iter().any(|&s| s) {
            problem = problem.with_mask(mask.clone())?;
        }
        let a = problem.matrix();
        let t0 = std::time::Instant::now();
        let rp = ritz_pairs(&a, config.lanczos_steps, config.seed.wrapping_add(k as u64))?;
        t_lanczos += t0.elapsed().as_secs_f64();
        let m = rp.values.len();
        if k == 0 {
            steps_used = m;
            ritz_range = (rp.values[0], rp.values[m - 1]);
        }
        // Every mask keeps the same number of Ritz values in the file (pad with NaN-free
        // repeats would lie); a matrix whose Krylov space closed early is an error instead.
        if m != steps_used {
            return Err(DcdmError::config(
                "data.lanczos_steps",
                format!(
                    "mask {k} gave {m} Ritz values, mask 0 gave {steps_used} (an invariant \
                     Krylov space closed early); use fewer steps"
                ),
            ));
        }
        ritz_all.extend_from_slice(&rp.values);
        masks.extend(mask.iter().map(|&s| u8::from(s)));
        let t1 = std::time::Instant::now();
        let count = config.samples / m_masks + usize::from(k < config.samples % m_masks);
        let low = (config.low_fraction * m as f64).round() as usize;
        let n = a.rows();
        let mut v = vec![0.0f64; n];
        for _ in 0..count {
            v.iter_mut().for_each(|x| *x = 0.0);
            for (j, y) in rp.vectors.iter().enumerate() {
                let z: f64 = StandardNormal.sample(&mut rng);
                let c = if j < low { config.low_weight * z } else { z };
                v.iter_mut().zip(y).for_each(|(vi, yi)| *vi += c * yi);
            }
            let nrm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let g = problem.to_grid(&v);
            b.extend(g.iter().map(|x| (x / nrm) as f32));
            mask_index.push(k as i64);
        }
        t_samples += t1.elapsed().as_secs_f64();
    }
    let data = DcdmData {
        sides: grid.c_order_dims(),
        n: config.samples,
        b,
        masks,
        mask_index,
        ritz_values: ritz_all,
        ritz_per_mask: steps_used,
    };
    Ok((
        data,
        DataStats {
            masks: m_masks,
            lanczos_steps: steps_used,
            ritz_range,
            lanczos_seconds: t_lanczos,
            sample_seconds: t_samples,
            cached: false,
        },
    ))
}

/// Reads the set from `config.file` when it exists and was made with the same settings, else
/// generates it and writes it there (atomically).
pub fn load_or_generate(config: &DataConfig, grid: &GridShape) -> Result<(DcdmData, DataStats)> {
    let attrs = config.attrs(grid);
    if config.file.is_file() {
        check_cache(&config.file, &attrs)?;
        let data = nabla_data::read_dcdm_data(&config.file)?;
        let stats = DataStats {
            masks: data.mask_count(),
            lanczos_steps: data.ritz_per_mask,
            ritz_range: (
                data.ritz_values.first().copied().unwrap_or(f64::NAN),
                data.ritz_values
                    .get(data.ritz_per_mask.saturating_sub(1))
                    .copied()
                    .unwrap_or(f64::NAN),
            ),
            lanczos_seconds: 0.0,
            sample_seconds: 0.0,
            cached: true,
        };
        return Ok((data, stats));
    }
    let (data, stats) = generate(config, grid)?;
    if let Some(dir) = config.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DcdmError::config("data.file", format!("{}: {e}", dir.display())))?;
    }
    nabla_data::write_dcdm_data(&config.file, &data, &attrs)?;
    Ok((data, stats))
}

fn check_cache(path: &Path, want: &[(&str, AttrValue)]) -> Result<()> {
    let have = nabla_data::read_attrs(path)?;
    for (name, value) in want {
        let found = have.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if found != Some(value) {
            return Err(DcdmError::config(
                "data.file",
                format!(
                    "{} was made with {name} = {}, the config says {}; delete it or choose \
                     another data.file",
                    path.display(),
                    found.map_or("(missing)".to_string(), show),
                    show(value)
                ),
            ));
        }
    }
    Ok(())
}

fn show(v: &AttrValue) -> String {
    match v {
        AttrValue::F64(x) => x.to_string(),
        AttrValue::I64(x) => x.to_string(),
        AttrValue::Str(s) => s.clone(),
    }
}
