//! The held-out test set: instances seeded apart from training, their grid features, and the
//! ground truth — high-walk WoS estimates with standard errors at every embedding-grid node
//! inside Ω, by default with a control variate (the walks estimate only u − s for the smooth
//! approximation s of [`super::smooth`]; unbiased, with a far smaller standard error) —
//! cached in `RUN_DIR/truth.h5` so a run computes it once (also across `--resume`; a copy
//! from another run with the same `[grid]` and `[test]` is reused as is).

use super::config::WosNoConfig;
use super::family::{Family, StarPoisson, PARAMETERS};
use super::features::{grid_features, EmbeddingGrid, GridFeatures};
use super::smooth::{FitOptions, SmoothSolution};
use crate::Result;
use nabla_core::comm::{block_range, Communicator};
use nabla_data::AttrValue;
use nabla_wos::{WosOptions, WosProblem, WosSolver};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// File name of the cached ground truth inside a run directory.
pub const TRUTH_FILE: &str = "truth.h5";
/// File name of the cached out-of-distribution truth (`test.ood_instances`).
pub const TRUTH_OOD_FILE: &str = "truth_ood.h5";
const FORMAT: &str = "nabla-wosno-truth-1";

/// The held-out instances with features and ground truth.
#[derive(Clone, Debug)]
pub struct HeldOut {
    /// The embedding grid.
    pub grid: EmbeddingGrid,
    /// The instances.
    pub instances: Vec<StarPoisson>,
    /// Their features on the grid.
    pub features: Vec<GridFeatures>,
    /// WoS estimates of u, `[T, n, n]` flat, NaN at nodes outside Ω.
    pub truth: Vec<f64>,
    /// Their standard errors, `[T, n, n]`, NaN outside Ω.
    pub stderr: Vec<f64>,
    /// Seconds spent computing the truth (0 when read from the cache).
    pub seconds: f64,
    /// Whether the truth came from `truth.h5`.
    pub cached: bool,
}

impl HeldOut {
    /// Per instance, the relative standard error of the truth over the inside nodes:
    /// √(Σ se²) / √(Σ u²).
    pub fn relative_stderrs(&self) -> Vec<f64> {
        let p = self.grid.len();
        (0..self.instances.len())
            .map(|k| {
                let (mut se2, mut u2) = (0.0, 0.0);
                for q in k * p..(k + 1) * p {
                    if self.truth[q].is_finite() {
                        se2 += self.stderr[q] * self.stderr[q];
                        u2 += self.truth[q] * self.truth[q];
                    }
                }
                (se2 / u2.max(1e-300)).sqrt()
            })
            .collect()
    }

    /// Per instance, the relative L2 error ‖pred − u‖/‖u‖ over the inside nodes of a
    /// prediction `[T, n, n]`.
    pub fn relative_l2(&self, prediction: &[f32]) -> Vec<f64> {
        let p = self.grid.len();
        (0..self.instances.len())
            .map(|k| {
                let (mut e2, mut u2) = (0.0, 0.0);
                let range = k * p..(k + 1) * p;
                for (&u, &pred) in self.truth[range.clone()].iter().zip(&prediction[range]) {
                    if u.is_finite() {
                        let d = pred as f64 - u;
                        e2 += d * d;
                        u2 += u * u;
                    }
                }
                (e2 / u2.max(1e-300)).sqrt()
            })
            .collect()
    }
}

fn attrs(config: &WosNoConfig, family: &Family, count: usize) -> Vec<(&'static str, AttrValue)> {
    let t = &config.test;
    let mut a = vec![
        ("format", AttrValue::from(FORMAT)),
        ("test_seed", AttrValue::I64(t.seed as i64)),
        ("instances", AttrValue::I64(count as i64)),
        ("walks", AttrValue::I64(t.walks as i64)),
        ("epsilon", AttrValue::F64(t.epsilon)),
        ("max_steps", AttrValue::I64(t.max_steps as i64)),
        ("grid_points", AttrValue::I64(config.grid.points as i64)),
        ("half_width", AttrValue::F64(config.grid.half_width)),
        (
            "control_variate",
            AttrValue::I64(config.test.control_variate as i64),
        ),
    ];
    // Only for other families, so caches written before families existed stay valid.
    if *family != Family::IN_DISTRIBUTION {
        a.extend([
            ("harmonic_1", AttrValue::I64(family.harmonics[0] as i64)),
            ("harmonic_2", AttrValue::I64(family.harmonics[1] as i64)),
            ("shape_amplitude", AttrValue::F64(family.shape_amplitude)),
            ("center_std", AttrValue::F64(family.center_std)),
            ("amplitude_std", AttrValue::F64(family.amplitude_std)),
        ]);
    }
    a
}

/// Builds the held-out set of `config`: reads `truth.h5` from `run_dir` when it was made
/// with the same `[grid]` and `[test]` settings, otherwise computes it (walks in parallel
/// over the nodes of each instance; `progress(done, total)` after each instance) and writes
/// it there atomically.
pub fn held_out(
    config: &WosNoConfig,
    run_dir: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<HeldOut> {
    held_out_of(
        config,
        &Family::IN_DISTRIBUTION,
        config.test.instances,
        TRUTH_FILE,
        run_dir,
        progress,
        None,
    )
}

/// The zero-shot set: `test.ood_instances` instances of [`Family::OUT_OF_DISTRIBUTION`]
/// with truth computed like [`held_out`]'s, cached in `RUN_DIR/truth_ood.h5`.
pub fn held_out_ood(
    config: &WosNoConfig,
    run_dir: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<HeldOut> {
    held_out_of(
        config,
        &Family::OUT_OF_DISTRIBUTION,
        config.test.ood_instances,
        TRUTH_OOD_FILE,
        run_dir,
        progress,
        None,
    )
}

/// [`held_out`] for `count` instances of `family`, cached in `RUN_DIR/file`.
///
/// With a communicator of several ranks (data-parallel training), rank 0 alone reads and
/// writes the cache and hands a cached set to the others; otherwise each rank computes the
/// truth of its block of instances (each instance's walks keyed by its global index, so the
/// values are those of one process) and the blocks are gathered onto every rank. `progress`
/// then counts this rank's instances scaled to the whole set.
pub fn held_out_of(
    config: &WosNoConfig,
    family: &Family,
    count: usize,
    file: &str,
    run_dir: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
    comm: Option<&dyn Communicator>,
) -> Result<HeldOut> {
    let comm = comm.filter(|c| c.size() > 1);
    let grid = EmbeddingGrid {
        n: config.grid.points,
        half_width: config.grid.half_width,
    };
    let instances = family.test_set(config.test.seed, count);
    let domains: Vec<_> = instances
        .iter()
        .map(|i| i.domain().map(Arc::new))
        .collect::<Result<_>>()?;
    let features: Vec<GridFeatures> = instances
        .par_iter()
        .zip(domains.par_iter())
        .map(|(i, d)| grid_features(i, d, &grid))
        .collect();
    let root = comm.is_none_or(|c| c.rank() == 0);
    let path = run_dir.filter(|_| root).map(|d| d.join(file));
    let my_attrs = attrs(config, family, count);
    let mut cached = path
        .as_ref()
        .filter(|p| p.is_file())
        .and_then(|p| read_cache(p, &my_attrs, &features, &instances));
    if let Some(c) = comm {
        // Rank 0's cache, if it has one, becomes everyone's.
        let mut found = [f64::from(u8::from(cached.is_some()))];
        c.allreduce_max_f64(&mut found);
        if found[0] > 0.0 {
            let mine: Vec<f64> = cached
                .as_ref()
                .map(|(t, e)| t.iter().chain(e).copied().collect())
                .unwrap_or_default();
            let all = c.allgather_f64(&mine);
            let half = all.len() / 2;
            cached = Some((all[..half].to_vec(), all[half..].to_vec()));
        }
    }
    if let Some((truth, stderr)) = cached {
        return Ok(HeldOut {
            grid,
            instances,
            features,
            truth,
            stderr,
            seconds: 0.0,
            cached: true,
        });
    }
    let t0 = Instant::now();
    let p = grid.len();
    let total = instances.len();
    let mine = comm.map_or(0..total, |c| block_range(total, c.rank(), c.size()));
    let scale = total as f64 / mine.len().max(1) as f64;
    let mut truth = vec![f64::NAN; total * p];
    let mut stderr = vec![f64::NAN; total * p];
    for (k, (inst, dom)) in instances
        .iter()
        .zip(&domains)
        .enumerate()
        .filter(|(k, _)| mine.contains(k))
    {
        let nodes: Vec<usize> = (0..p).filter(|&q| features[k].inside[q]).collect();
        let mut pts = Vec::with_capacity(2 * nodes.len());
        for &q in &nodes {
            pts.extend(grid.node(q / grid.n, q % grid.n));
        }
        let opts = WosOptions {
            walks: config.test.walks,
            epsilon: config.test.epsilon,
            max_steps: config.test.max_steps,
            seed: instance_seed(config.test.seed, k as u64),
            ..Default::default()
        };
        let smooth = if config.test.control_variate {
            Some(Arc::new(SmoothSolution::fit(inst, &FitOptions::default())?))
        } else {
            None
        };
        let problem = match &smooth {
            Some(s) => {
                let s = s.clone();
                WosProblem::laplace(dom.clone(), Arc::new(move |y: &[f64]| s.remainder(y)))
            }
            None => inst.problem(dom.clone()),
        };
        let sol = WosSolver::new(problem, opts)?.solve(&pts)?;
        for ((&q, e), x) in nodes.iter().zip(&sol.estimates).zip(pts.chunks(2)) {
            let base = smooth.as_ref().map_or(0.0, |s| s.value(x));
            truth[k * p + q] = base + e.value;
            stderr[k * p + q] = e.stderr;
        }
        let done = k + 1 - mine.start;
        progress(((done as f64 * scale).round() as usize).min(total), total);
    }
    if let Some(c) = comm {
        // Each rank's block of instances, in rank order, is the whole set in order.
        let block = |v: &[f64]| v[mine.start * p..mine.end * p].to_vec();
        let mut both = block(&truth);
        both.extend(block(&stderr));
        let all = c.allgather_f64(&both);
        let mut offset = 0;
        for r in 0..c.size() {
            let range = block_range(total, r, c.size());
            let len = range.len() * p;
            truth[range.start * p..range.end * p].copy_from_slice(&all[offset..offset + len]);
            stderr[range.start * p..range.end * p]
                .copy_from_slice(&all[offset + len..offset + 2 * len]);
            offset += 2 * len;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    if let Some(path) = &path {
        let params: Vec<f64> = instances.iter().flat_map(|i| i.to_vec()).collect();
        let dims = [total, grid.n, grid.n];
        let mut a = my_attrs;
        a.push(("seconds", AttrValue::F64(seconds)));
        a.push((
            "convention",
            AttrValue::from(
                "Laplacian u = f in the star domain, u = g on the boundary; NaN outside",
            ),
        ));
        nabla_data::write_f64_datasets(
            path,
            &[
                ("u", &dims[..], &truth[..]),
                ("stderr", &dims[..], &stderr[..]),
                ("parameters", &[total, PARAMETERS][..], &params[..]),
            ],
            &a,
        )?;
    }
    Ok(HeldOut {
        grid,
        instances,
        features,
        truth,
        stderr,
        seconds,
        cached: false,
    })
}

/// The walk seed of held-out instance k.
pub fn instance_seed(seed: u64, k: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5EED
}

/// The cached truth if `path` was written for exactly these settings and instances.
fn read_cache(
    path: &Path,
    attrs: &[(&'static str, AttrValue)],
    features: &[GridFeatures],
    instances: &[StarPoisson],
) -> Option<(Vec<f64>, Vec<f64>)> {
    let stored = nabla_data::read_attrs(path).ok()?;
    for (name, want) in attrs {
        let have = stored.iter().find(|(n, _)| n == name).map(|(_, v)| v)?;
        if have != want {
            return None;
        }
    }
    let (_, params) = nabla_data::read_f64_dataset(path, "parameters").ok()?;
    let mine: Vec<f64> = instances.iter().flat_map(|i| i.to_vec()).collect();
    if params != mine {
        return None;
    }
    let (_, truth) = nabla_data::read_f64_dataset(path, "u").ok()?;
    let (_, stderr) = nabla_data::read_f64_dataset(path, "stderr").ok()?;
    let p = features.first().map(|f| f.inside.len()).unwrap_or(0);
    if truth.len() != features.len() * p || stderr.len() != truth.len() {
        return None;
    }
    for (k, f) in features.iter().enumerate() {
        for (q, &inside) in f.inside.iter().enumerate() {
            if inside != truth[k * p + q].is_finite() || (inside && !stderr[k * p + q].is_finite())
            {
                return None;
            }
        }
    }
    Some((truth, stderr))
}
