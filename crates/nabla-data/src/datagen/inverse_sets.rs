//! Inverse-problem data-set folders in the PDEInvBench layout, generated with nabla's
//! solvers: `train/`, `validation/`, `test/` (in-distribution parameters),
//! `out_of_distribution/` and `out_of_distribution_extreme/`, one file per parameter set.
//!
//! - [`generate_reaction_diffusion_set`]: per-seed files `2D_diff-react_Du=…_Dv=…_k=….h5`;
//! - [`generate_kdv_set`]: tensor files `1D_KdV_delta=….h5`;
//! - [`generate_darcy_inverse_set`]: per-sample files `sample_NNNN.h5` (`coeff`, `sol`),
//!   split by the fraction of the coefficient at its high value.
//!
//! Every file records its parameters as attributes and the solver settings; every trajectory
//! is verified (residual, invariants, step halving on a sample). The folder is written under a
//! temporary name next to the destination and renamed into place when complete. File f of a
//! split and its trajectories depend only on (seed, split, f, trajectory index), so the same
//! settings give the same files for any thread count.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::darcy::{generate_darcy, DarcySettings};
use super::kdv::run_kdv;
use super::reaction_diffusion::{push_frame, rd_residual, Boundary, RdParams, RdSolver, RdState};
use super::{sample_rng, splitmix64, DatagenError};
use crate::inverse::{
    format_file_name, kdv_ranges, reaction_diffusion_ranges, round_significant, write_darcy_sample,
    write_per_seed, write_tensor_series, DarcySample, ParamRanges, PdeFamily, PerSeedData, Split,
    TensorSeries,
};
use crate::AttrValue;

const STREAM_PARAMS: u64 = 0x1_9A7A;
const STREAM_IC: u64 = 0x1_1C00;
/// Start of the reaction–diffusion burn-in taken with a ten times smaller step.
const TRANSIENT: f64 = 0.1;

/// Parameter sets (files) per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitCounts {
    /// `train/`.
    pub train: usize,
    /// `validation/`.
    pub validation: usize,
    /// `test/` (in-distribution).
    pub test: usize,
    /// `out_of_distribution/`.
    pub ood: usize,
    /// `out_of_distribution_extreme/`.
    pub extreme: usize,
}

impl SplitCounts {
    /// The count of `split`.
    pub fn get(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
            Split::OutOfDistribution => self.ood,
            Split::OutOfDistributionExtreme => self.extreme,
        }
    }

    /// All files.
    pub fn total(&self) -> usize {
        Split::ALL.iter().map(|&s| self.get(s)).sum()
    }
}

/// One planned or written file: its split, its index (or name) and its parameters.
pub type FileEntry<T> = (Split, T, Vec<(String, f64)>);

/// What a generator wrote and how well its output verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetReport {
    /// Files written, `(split, file name, parameters)`, in split then file order.
    pub files: Vec<FileEntry<String>>,
    /// Trajectories (or samples) written.
    pub trajectories: usize,
    /// Largest verification figure of the solver's own check (relative residual for
    /// reaction–diffusion, relative energy drift for KdV, relative residual for Darcy).
    pub max_check: f64,
    /// Largest step-halving difference (relative to the trajectory's amplitude) over the
    /// trajectories checked that way.
    pub max_step_halving: f64,
    /// Trajectories checked by step halving.
    pub step_halving_checked: usize,
}

/// Settings of [`generate_reaction_diffusion_set`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReactionDiffusionSettings {
    /// Cells per axis S (≥ 8) on [−1, 1]².
    pub resolution: usize,
    /// Boundary condition (PDEBench: Neumann).
    pub boundary: Boundary,
    /// Saved time span T after the burn-in.
    pub t_final: f64,
    /// Saved frames per trajectory, t = 0 and t = T included.
    pub steps: usize,
    /// Time simulated and discarded before the first saved frame.
    pub burn_in: f64,
    /// Largest ETDRK4 step.
    pub max_dt: f64,
    /// Trajectories (initial conditions) per parameter set.
    pub trajectories: usize,
    /// Parameter sets per split.
    pub counts: SplitCounts,
    /// Which parameter defines the splits (`k`, `Du` or `Dv`; the others are drawn from
    /// their full range), or `None` for all three at once.
    pub split_by: Option<String>,
    /// Seed.
    pub seed: u64,
    /// Largest relative residual of the 5-point semi-discrete system allowed (checked at the
    /// first and last saved frame of every trajectory, at every cell).
    pub residual_tol: f64,
    /// Every `verify_every`-th trajectory (global count) is re-solved with half the step; 0
    /// checks none.
    pub verify_every: usize,
    /// Largest step-halving difference allowed, relative to max |u|, |v|.
    pub verify_tol: f64,
}

impl Default for ReactionDiffusionSettings {
    /// PDEInvBench / PDEBench: 101 frames on [0, 5] after a burn-in of 1, Neumann boundaries,
    /// 5 trajectories per parameter set; S = 64 (PDEInvBench ships 128, `resolution = 128`
    /// is supported).
    fn default() -> Self {
        Self {
            resolution: 64,
            boundary: Boundary::Neumann,
            t_final: 5.0,
            steps: 101,
            burn_in: 1.0,
            max_dt: 0.01,
            trajectories: 5,
            counts: SplitCounts {
                train: 20,
                validation: 4,
                test: 4,
                ood: 4,
                extreme: 4,
            },
            split_by: None,
            seed: 0,
            residual_tol: 1e-5,
            verify_every: 10,
            // Measured 1.5e-6 to 9.2e-6 at 64², dt = 0.01 (white-noise start).
            verify_tol: 1e-4,
        }
    }
}

impl ReactionDiffusionSettings {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), DatagenError> {
        let bad = |m: String| Err(DatagenError::InvalidSettings(m));
        if !(8..=1024).contains(&self.resolution) {
            return bad(format!(
                "resolution must be in 8..=1024, got {}",
                self.resolution
            ));
        }
        if self.steps < 2 {
            return bad(format!("steps must be at least 2, got {}", self.steps));
        }
        if self.trajectories == 0 {
            return bad("trajectories must be at least 1".into());
        }
        if self.counts.total() == 0 {
            return bad("every split count is 0: nothing to generate".into());
        }
        for (name, v) in [
            ("t_final", self.t_final),
            ("max_dt", self.max_dt),
            ("residual_tol", self.residual_tol),
            ("verify_tol", self.verify_tol),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive and finite, got {v}"));
            }
        }
        if !(self.burn_in.is_finite() && self.burn_in >= 0.0) {
            return bad(format!(
                "burn_in must be ≥ 0 and finite, got {}",
                self.burn_in
            ));
        }
        if let Some(p) = &self.split_by {
            if !["k", "Du", "Dv"].contains(&p.as_str()) {
                return bad(format!("split_by must be k, Du or Dv (or all), got '{p}'"));
            }
        }
        if self.t_final / (self.steps - 1) as f64 / self.max_dt > 1e7
            || self.burn_in / self.max_dt > 1e9
        {
            return bad(format!(
                "max_dt {:e} is too small for the save interval or the burn-in (at most 1e7 \
                 internal steps per interval, 1e9 in the burn-in)",
                self.max_dt
            ));
        }
        Ok(())
    }

    fn interval(&self) -> f64 {
        self.t_final / (self.steps - 1) as f64
    }

    fn substeps(&self) -> usize {
        (self.interval() / self.max_dt).ceil().max(1.0) as usize
    }

    fn dt(&self) -> f64 {
        self.interval() / self.substeps() as f64
    }

    /// Burn-in steps: `(fine, coarse)` — the first min(burn_in, 0.1) time units at dt/10
    /// (the white-noise start is stiff in the cubic reaction until diffusion has smoothed it),
    /// the rest at dt.
    fn burn_steps(&self, dt: f64) -> (usize, usize) {
        let fine = (self.burn_in.min(TRANSIENT) / (dt / 10.0)).round() as usize;
        let rest = ((self.burn_in - fine as f64 * dt / 10.0) / dt)
            .round()
            .max(0.0) as usize;
        (fine, rest)
    }
}

/// Plans the parameter sets: `(split, index, parameters)` with each parameter drawn uniformly
/// from its split's range (or from its full range when another parameter defines the splits),
/// rounded to 6 significant digits.
fn plan(
    ranges: &[ParamRanges],
    counts: &SplitCounts,
    split_by: Option<&str>,
    seed: u64,
) -> Vec<FileEntry<usize>> {
    let mut out = Vec::new();
    for (si, split) in Split::ALL.into_iter().enumerate() {
        for f in 0..counts.get(split) {
            let mut rng = sample_rng(seed, (si << 32) | f, STREAM_PARAMS);
            let params = ranges
                .iter()
                .map(|r| {
                    let u: f64 = rng.gen();
                    let v = if split_by.is_none_or(|p| p == r.name) {
                        r.sample(split.range_kind(), u)
                    } else {
                        let (lo, hi) = r.full();
                        lo + u * (hi - lo)
                    };
                    (r.name.to_string(), round_significant(v, 6))
                })
                .collect();
            out.push((split, f, params));
        }
    }
    out
}

/// The random stream of trajectory `j` of file `f` of split `split`.
fn ic_rng(seed: u64, split: Split, f: usize, j: usize) -> rand_pcg::Pcg64 {
    let si = Split::ALL.iter().position(|&s| s == split).unwrap_or(0);
    sample_rng(
        seed ^ splitmix64(((si as u64) << 40) | f as u64),
        j,
        STREAM_IC,
    )
}

fn get(params: &[(String, f64)], name: &str) -> f64 {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| *v)
}

/// Generates a reaction–diffusion data set (module docs) into the folder `out`, which must not
/// exist yet (or be empty). `progress(done)` counts finished trajectories.
///
/// Each trajectory starts from u, v ~ N(0, 1) independently per cell (PDEBench's initial
/// condition), runs `burn_in`, then saves `steps` frames; every trajectory's residual
/// ([`rd_residual`]) is checked at its first and last frame, every `verify_every`-th against a
/// half-step run.
pub fn generate_reaction_diffusion_set(
    settings: &ReactionDiffusionSettings,
    out: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SetReport, DatagenError> {
    settings.validate()?;
    let s = settings.resolution;
    let planned = plan(
        &reaction_diffusion_ranges(),
        &settings.counts,
        settings.split_by.as_deref(),
        settings.seed,
    );
    let dt = settings.dt();
    let sub = settings.substeps();
    let burn = settings.burn_steps(dt);
    let cells: Vec<(usize, usize)> = (0..s).flat_map(|i| (0..s).map(move |j| (i, j))).collect();
    let coord: Vec<f32> = (0..s)
        .map(|i| (-1.0 + (i as f64 + 0.5) * 2.0 / s as f64) as f32)
        .collect();
    let times: Vec<f32> = (0..settings.steps)
        .map(|m| (m as f64 * settings.interval()) as f32)
        .collect();
    let done = AtomicUsize::new(0);
    let stats = Mutex::new((0.0f64, 0.0f64, 0usize));
    let base_attrs = rd_attrs(settings, dt, burn);
    write_folder(out, |tmp| {
        planned.par_iter().enumerate().try_for_each(|(fi, (split, f, params))| {
            let p = RdParams { k: get(params, "k"), du: get(params, "Du"), dv: get(params, "Dv") };
            let solver = RdSolver::new(s, settings.boundary, p, dt);
            let fine = RdSolver::new(s, settings.boundary, p, dt / 10.0);
            let half = (settings.verify_every > 0).then(|| {
                (
                    RdSolver::new(s, settings.boundary, p, dt / 20.0),
                    RdSolver::new(s, settings.boundary, p, dt / 2.0),
                )
            });
            let trajectories: Vec<Vec<f32>> = (0..settings.trajectories)
                .into_par_iter()
                .map(|j| {
                    let mut rng = ic_rng(settings.seed, *split, *f, j);
                    let mut st = RdState {
                        u: (0..s * s).map(|_| rng.sample(StandardNormal)).collect(),
                        v: (0..s * s).map(|_| rng.sample(StandardNormal)).collect(),
                    };
                    let start = st.clone();
                    let (run, first) = rd_run((&fine, &solver), &mut st, burn, sub, settings.steps);
                    let tag = |e: DatagenError| e.at_sample(fi * settings.trajectories + j);
                    check_finite(&run).map_err(tag)?;
                    let r = rd_residual(&solver, &first, &cells).max(rd_residual(&solver, &st, &cells));
                    if r.is_nan() || r > settings.residual_tol {
                        return Err(tag(DatagenError::Verification(format!(
                            "relative residual {r:.2e} of the 5-point system is above {:.0e} (k = {}, Du = {}, Dv = {}): lower max_dt",
                            settings.residual_tol, p.k, p.du, p.dv
                        ))));
                    }
                    let global = fi * settings.trajectories + j;
                    let mut sh = None;
                    if let Some(half) = &half {
                        if global.is_multiple_of(settings.verify_every) {
                            let mut st2 = start.clone();
                            let (hf, hm) = half;
                            let (fine_run, _) = rd_run((hf, hm), &mut st2, (2 * burn.0, 2 * burn.1), 2 * sub, settings.steps);
                            let d = rel_diff(&run, &fine_run);
                            if d.is_nan() || d > settings.verify_tol {
                                return Err(tag(DatagenError::Verification(format!(
                                    "the half-step run differs by {d:.2e} relative, above {:.0e}: lower max_dt",
                                    settings.verify_tol
                                ))));
                            }
                            sh = Some(d);
                        }
                    }
                    if let Ok(mut g) = stats.lock() {
                        g.0 = g.0.max(r);
                        if let Some(d) = sh {
                            g.1 = g.1.max(d);
                            g.2 += 1;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    Ok(run.iter().map(|&v| v as f32).collect())
                })
                .collect::<Result<_, DatagenError>>()?;
            let data = PerSeedData {
                shape: vec![settings.steps, s, s, 2],
                x: coord.clone(),
                y: Some(coord.clone()),
                t: times.clone(),
                trajectories,
            };
            let name = file_name(PdeFamily::ReactionDiffusion2d, params);
            let mut attrs: Vec<(&str, AttrValue)> = params.iter().map(|(n, v)| (n.as_str(), AttrValue::F64(*v))).collect();
            attrs.extend(base_attrs.iter().map(|(n, v)| (*n, v.clone())));
            write_per_seed(&tmp.join(split.dir_name()).join(&name), &data, &attrs)?;
            Ok(())
        })
    })?;
    let (max_check, max_sh, checked) = stats.into_inner().unwrap_or_default();
    Ok(SetReport {
        files: planned
            .iter()
            .map(|(sp, _, p)| (*sp, file_name(PdeFamily::ReactionDiffusion2d, p), p.clone()))
            .collect(),
        trajectories: planned.len() * settings.trajectories,
        max_check,
        max_step_halving: max_sh,
        step_halving_checked: checked,
    })
}

fn file_name(family: PdeFamily, params: &[(String, f64)]) -> String {
    let p: Vec<(&str, f64)> = params.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    format_file_name(family, &p)
}

/// Burn-in then `steps` frames `[t, x, y, 2]`; leaves `st` at the last frame and returns the
/// state at the first one too.
fn rd_run(
    (fine, solver): (&RdSolver, &RdSolver),
    st: &mut RdState,
    (burn_fine, burn): (usize, usize),
    sub: usize,
    steps: usize,
) -> (Vec<f64>, RdState) {
    fine.advance(st, burn_fine);
    solver.advance(st, burn);
    let first = st.clone();
    let mut out = Vec::new();
    push_frame(st, &mut out);
    for _ in 1..steps {
        solver.advance(st, sub);
        push_frame(st, &mut out);
    }
    (out, first)
}

fn check_finite(run: &[f64]) -> Result<(), DatagenError> {
    match run.iter().position(|v| !v.is_finite() || v.abs() > 1e6) {
        None => Ok(()),
        Some(p) => Err(DatagenError::Verification(format!(
            "value {} at flat index {p}: the solution blew up (lower max_dt)",
            run[p]
        ))),
    }
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn rd_attrs(
    s: &ReactionDiffusionSettings,
    dt: f64,
    burn: (usize, usize),
) -> Vec<(&'static str, AttrValue)> {
    vec![
        ("generator", "nabla datagen reaction-diffusion".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        ("equation", "u_t = Du (u_xx + u_yy) + u - u^3 - k - v, v_t = Dv (v_xx + v_yy) + u - v on [-1,1]^2".into()),
        ("boundary", s.boundary.name().into()),
        ("scheme", "cell-centred 5-point finite volumes; ETDRK4 (Kassam-Trefethen contour coefficients) with the diffusion exact in the eigenbasis of the discrete Laplacian (FFT; even reflection for Neumann)".into()),
        ("dt", dt.into()),
        ("burn_in", (burn.0 as f64 * dt / 10.0 + burn.1 as f64 * dt).into()),
        ("burn_in_fine_steps", format!("the first {} steps of the burn-in use dt/10", burn.0).into()),
        ("t_final", s.t_final.into()),
        ("frames", s.steps.into()),
        ("resolution", s.resolution.into()),
        ("initial_condition", "u, v ~ N(0, 1) independently per cell".into()),
        ("trajectories", s.trajectories.into()),
        ("seed", AttrValue::I64(s.seed as i64)),
        ("residual_check", "every trajectory: max relative residual of the 5-point system at the first and last frame, every cell, u_t from a 5-point central difference of solver states".into()),
        ("residual_tolerance", s.residual_tol.into()),
        ("step_halving_every", s.verify_every.into()),
        ("step_halving_tolerance", s.verify_tol.into()),
        ("split_by", s.split_by.clone().unwrap_or_else(|| "all".into()).into()),
        ("parameter_ranges_source", "PDEInvBench DATA_GUIDE.md section 4a (ID / OOD / extreme)".into()),
        ("channels", "data[..., 0] = u, data[..., 1] = v".into()),
    ]
}

/// Settings of [`generate_kdv_set`].
#[derive(Debug, Clone, PartialEq)]
pub struct KdvSettings {
    /// Grid points Nx on the periodic [0, L).
    pub resolution: usize,
    /// Domain length L.
    pub length: f64,
    /// Saved time span T after the burn-in.
    pub t_final: f64,
    /// Saved frames per trajectory, t = 0 and t = T included.
    pub steps: usize,
    /// Time simulated and discarded first.
    pub burn_in: f64,
    /// Largest ETDRK4 step.
    pub max_dt: f64,
    /// Trajectories (initial conditions) per δ.
    pub trajectories: usize,
    /// Sine modes K of the initial condition Σ A_k sin(2π l_k x/L + φ_k).
    pub modes: usize,
    /// Amplitude bound: A_k ~ U(−a, a).
    pub amplitude: f64,
    /// Parameter sets (δ values) per split.
    pub counts: SplitCounts,
    /// Seed.
    pub seed: u64,
    /// Largest relative drift of the energy ∫u² allowed over a trajectory.
    pub energy_tol: f64,
    /// Every `verify_every`-th trajectory is re-solved with half the step; 0 checks none.
    pub verify_every: usize,
    /// Largest step-halving difference allowed, relative to max |u|.
    pub verify_tol: f64,
}

impl Default for KdvSettings {
    /// PDEInvBench's KdV: Nx = 256, burn-in 40, 140 frames; L = 128 and the initial
    /// conditions (K = 10 modes, A ~ U(−½, ½), l ∈ {1, 2, 3}, φ ~ U(0, 2π)) of Brandstetter et
    /// al.'s KdV data, which PDEInvBench's guide describes; T = 100 (save interval 0.72).
    fn default() -> Self {
        Self {
            resolution: 256,
            length: 128.0,
            t_final: 100.0,
            steps: 140,
            burn_in: 40.0,
            max_dt: 0.01,
            trajectories: 10,
            modes: 10,
            amplitude: 0.5,
            counts: SplitCounts {
                train: 40,
                validation: 5,
                test: 10,
                ood: 10,
                extreme: 10,
            },
            seed: 0,
            energy_tol: 1e-6,
            verify_every: 20,
            verify_tol: 1e-6,
        }
    }
}

impl KdvSettings {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), DatagenError> {
        let bad = |m: String| Err(DatagenError::InvalidSettings(m));
        if !(16..=1 << 16).contains(&self.resolution) {
            return bad(format!(
                "resolution must be in 16..=65536, got {}",
                self.resolution
            ));
        }
        if self.steps < 2 || self.trajectories == 0 || self.modes == 0 {
            return bad("steps must be ≥ 2, trajectories and modes ≥ 1".into());
        }
        if self.counts.total() == 0 {
            return bad("every split count is 0: nothing to generate".into());
        }
        for (name, v) in [
            ("length", self.length),
            ("t_final", self.t_final),
            ("max_dt", self.max_dt),
            ("amplitude", self.amplitude),
            ("energy_tol", self.energy_tol),
            ("verify_tol", self.verify_tol),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be positive and finite, got {v}"));
            }
        }
        if !(self.burn_in.is_finite() && self.burn_in >= 0.0) {
            return bad(format!(
                "burn_in must be ≥ 0 and finite, got {}",
                self.burn_in
            ));
        }
        let interval = self.t_final / (self.steps - 1) as f64;
        if interval / self.max_dt > 1e7 || self.burn_in / self.max_dt > 1e9 {
            return bad(format!(
                "max_dt {:e} is too small: {:.1e} internal steps per save interval and {:.1e} in \
                 the burn-in (at most 1e7 and 1e9)",
                self.max_dt,
                interval / self.max_dt,
                self.burn_in / self.max_dt
            ));
        }
        Ok(())
    }

    fn dt(&self) -> f64 {
        let interval = self.t_final / (self.steps - 1) as f64;
        interval / (interval / self.max_dt).ceil().max(1.0)
    }
}

/// Generates a KdV data set (module docs) into the folder `out` (must not exist, or be empty):
/// one file per δ with `trajectories` rows of `tensor`. Every trajectory is checked for
/// resolution (spectral tail ≤ 1e-3), conservation of mass (to 1e-10) and of energy (to
/// `energy_tol`), every `verify_every`-th against a half-step run.
pub fn generate_kdv_set(
    settings: &KdvSettings,
    out: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SetReport, DatagenError> {
    settings.validate()?;
    let n = settings.resolution;
    let len = settings.length;
    let planned = plan(&kdv_ranges(), &settings.counts, None, settings.seed);
    let x: Vec<f32> = (0..n).map(|j| (j as f64 * len / n as f64) as f32).collect();
    let interval = settings.t_final / (settings.steps - 1) as f64;
    let t: Vec<f32> = (0..settings.steps)
        .map(|m| (m as f64 * interval) as f32)
        .collect();
    let done = AtomicUsize::new(0);
    let stats = Mutex::new((0.0f64, 0.0f64, 0usize));
    let base = kdv_attrs(settings);
    write_folder(out, |tmp| {
        planned.par_iter().enumerate().try_for_each(|(fi, (split, f, params))| {
            let delta = get(params, "delta");
            let rows: Vec<Vec<f32>> = (0..settings.trajectories)
                .into_par_iter()
                .map(|j| {
                    let global = fi * settings.trajectories + j;
                    let tag = |e: DatagenError| e.at_sample(global);
                    let mut rng = ic_rng(settings.seed, *split, *f, j);
                    let terms: Vec<(f64, f64, f64)> = (0..settings.modes)
                        .map(|_| {
                            let a = rng.gen_range(-settings.amplitude..settings.amplitude);
                            let l = rng.gen_range(1..=3) as f64;
                            let phi = rng.gen_range(0.0..2.0 * std::f64::consts::PI);
                            (a, l, phi)
                        })
                        .collect();
                    let u0: Vec<f64> = (0..n)
                        .map(|i| {
                            let xi = i as f64 * len / n as f64;
                            terms.iter().map(|(a, l, phi)| a * (2.0 * std::f64::consts::PI * l * xi / len + phi).sin()).sum()
                        })
                        .collect();
                    let run = run_kdv(&u0, len, delta, settings.burn_in, settings.t_final, settings.steps, settings.max_dt).map_err(tag)?;
                    if run.tail > 1e-3 {
                        return Err(tag(DatagenError::Verification(format!(
                            "{:.1}% of the norm lies in the top third of the resolved modes (δ = {delta}): raise the resolution",
                            100.0 * run.tail
                        ))));
                    }
                    if !(run.energy_drift <= settings.energy_tol && run.mass_drift <= 1e-10) {
                        return Err(tag(DatagenError::Verification(format!(
                            "energy drift {:.2e} (tolerance {:.0e}) or mass drift {:.2e} (1e-10) (δ = {delta}): lower max_dt",
                            run.energy_drift, settings.energy_tol, run.mass_drift
                        ))));
                    }
                    let mut sh = None;
                    if settings.verify_every > 0 && global.is_multiple_of(settings.verify_every) {
                        let fine = run_kdv(&u0, len, delta, settings.burn_in, settings.t_final, settings.steps, settings.max_dt / 2.0).map_err(tag)?;
                        let d = rel_diff(&run.u, &fine.u);
                        if d.is_nan() || d > settings.verify_tol {
                            return Err(tag(DatagenError::Verification(format!(
                                "the half-step run differs by {d:.2e} relative, above {:.0e} (δ = {delta}): lower max_dt",
                                settings.verify_tol
                            ))));
                        }
                        sh = Some(d);
                    }
                    if let Ok(mut g) = stats.lock() {
                        g.0 = g.0.max(run.energy_drift);
                        if let Some(d) = sh {
                            g.1 = g.1.max(d);
                            g.2 += 1;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                    Ok(run.u.iter().map(|&v| v as f32).collect())
                })
                .collect::<Result<_, DatagenError>>()?;
            let series = TensorSeries { n: settings.trajectories, nt: settings.steps, nx: n, tensor: rows.concat(), x: x.clone(), t: t.clone() };
            let name = file_name(PdeFamily::Kdv1d, params);
            let mut attrs: Vec<(&str, AttrValue)> = vec![("delta", AttrValue::F64(delta))];
            attrs.extend(base.iter().map(|(k, v)| (*k, v.clone())));
            write_tensor_series(&tmp.join(split.dir_name()).join(&name), &series, &attrs)?;
            Ok(())
        })
    })?;
    let (max_check, max_sh, checked) = stats.into_inner().unwrap_or_default();
    Ok(SetReport {
        files: planned
            .iter()
            .map(|(sp, _, p)| (*sp, file_name(PdeFamily::Kdv1d, p), p.clone()))
            .collect(),
        trajectories: planned.len() * settings.trajectories,
        max_check,
        max_step_halving: max_sh,
        step_halving_checked: checked,
    })
}

fn kdv_attrs(s: &KdvSettings) -> Vec<(&'static str, AttrValue)> {
    vec![
        ("generator", "nabla datagen kdv".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        ("equation", "u_t + u u_x + delta^2 u_xxx = 0 on the periodic [0, L)".into()),
        ("scheme", "Fourier pseudo-spectral, 2/3-rule dealiasing, ETDRK4 with the dispersion exact (Kassam-Trefethen contour coefficients)".into()),
        ("dt", s.dt().into()),
        ("length", s.length.into()),
        ("burn_in", s.burn_in.into()),
        ("t_final", s.t_final.into()),
        ("frames", s.steps.into()),
        ("resolution", s.resolution.into()),
        ("initial_condition", "u0 = sum_k A_k sin(2 pi l_k x / L + phi_k), A_k ~ U(-a, a), l_k ~ U{1,2,3}, phi_k ~ U(0, 2 pi)".into()),
        ("modes", s.modes.into()),
        ("amplitude", s.amplitude.into()),
        ("trajectories", s.trajectories.into()),
        ("seed", AttrValue::I64(s.seed as i64)),
        ("checks", "every trajectory: spectral tail <= 1e-3, mass drift <= 1e-10, energy drift <= energy_tolerance".into()),
        ("energy_tolerance", s.energy_tol.into()),
        ("step_halving_every", s.verify_every.into()),
        ("step_halving_tolerance", s.verify_tol.into()),
        ("parameter_ranges_source", "PDEInvBench DATA_GUIDE.md section 4d (ID / OOD / extreme)".into()),
    ]
}

/// Settings of [`generate_darcy_inverse_set`].
#[derive(Debug, Clone, PartialEq)]
pub struct DarcyInverseSettings {
    /// The Darcy samples to draw and solve (resolution, samples, seed, tolerance, field).
    pub darcy: DarcySettings,
    /// Fraction of the in-distribution samples put in `validation/`.
    pub validation_fraction: f64,
    /// Fraction of the in-distribution samples put in `test/`.
    pub test_fraction: f64,
    /// Samples whose high-coefficient fraction r(a) lies more than this many standard
    /// deviations from the mean go to `out_of_distribution_extreme/` (PDEInvBench: 1.5).
    pub extreme_sigma: f64,
}

impl Default for DarcyInverseSettings {
    fn default() -> Self {
        Self {
            darcy: DarcySettings {
                samples: 256,
                ..Default::default()
            },
            validation_fraction: 0.1,
            test_fraction: 0.1,
            extreme_sigma: 1.5,
        }
    }
}

/// Generates a Darcy inverse data set into the folder `out` (must not exist, or be empty):
/// the coefficient fields and solutions of [`generate_darcy`] (each solve's residual is
/// recomputed there), one file `sample_NNNN.h5` per sample with `coeff` and `sol` float32
/// `[S, S, 1]`. As in PDEInvBench the splits go by r(a), the fraction of grid points where a
/// takes its high value: |r − mean| > `extreme_sigma`·std → `out_of_distribution_extreme/`;
/// the others in index order to `train/`, `validation/`, `test/` by the fractions (there is
/// no non-extreme OOD split). `progress(done)` counts solved samples.
pub fn generate_darcy_inverse_set(
    settings: &DarcyInverseSettings,
    out: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SetReport, DatagenError> {
    settings.darcy.validate()?;
    let (fv, ft) = (settings.validation_fraction, settings.test_fraction);
    if !(fv >= 0.0 && ft >= 0.0 && fv + ft < 1.0) {
        return Err(DatagenError::InvalidSettings(format!(
            "validation and test fractions must be ≥ 0 with sum below 1, got {fv} and {ft}"
        )));
    }
    if !(settings.extreme_sigma.is_finite() && settings.extreme_sigma > 0.0) {
        return Err(DatagenError::InvalidSettings(format!(
            "extreme_sigma must be positive, got {}",
            settings.extreme_sigma
        )));
    }
    let data = generate_darcy(&settings.darcy, progress)?;
    let (n, s) = (data.n, data.s);
    let hi = settings.darcy.a_pos as f32;
    let r: Vec<f64> = (0..n)
        .map(|k| {
            data.coefficient[k * s * s..(k + 1) * s * s]
                .iter()
                .filter(|&&a| a == hi)
                .count() as f64
                / (s * s) as f64
        })
        .collect();
    let mean = r.iter().sum::<f64>() / n as f64;
    let std = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    let mut assign = Vec::with_capacity(n);
    let mut q = 0usize;
    for &rk in &r {
        if (rk - mean).abs() > settings.extreme_sigma * std {
            assign.push(Split::OutOfDistributionExtreme);
        } else {
            // Deterministic interleaving: of every 1000 in-distribution samples, the last
            // fractions go to validation and test.
            let pos = (q % 1000) as f64 / 1000.0;
            q += 1;
            assign.push(if pos >= 1.0 - ft {
                Split::Test
            } else if pos >= 1.0 - ft - fv {
                Split::Validation
            } else {
                Split::Train
            });
        }
    }
    let d = &settings.darcy;
    let base: Vec<(&str, AttrValue)> = vec![
        ("generator", "nabla datagen darcy-inverse".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        ("equation", "-div(a grad u) = 1 on [0,1]^2, u = 0 on the boundary".into()),
        ("scheme", "5-point finite differences on the S x S vertex grid (boundary included, h = 1/(S-1)), arithmetic-mean face coefficients; coeff[i, j, 0] = a(x_i, y_j)".into()),
        ("solver", "ic0-pcg".into()),
        ("tolerance", d.tol.into()),
        ("residual_check", "every sample's relative residual recomputed from the stencil".into()),
        ("tau", d.tau.into()),
        ("alpha", d.alpha.into()),
        ("a_pos", d.a_pos.into()),
        ("a_neg", d.a_neg.into()),
        ("resolution", d.resolution.into()),
        ("seed", AttrValue::I64(d.seed as i64)),
        ("split_rule", format!("r = fraction of points with a = a_pos; |r - {mean:.6}| > {} x {std:.6} -> out_of_distribution_extreme", settings.extreme_sigma).into()),
        ("r_mean", mean.into()),
        ("r_std", std.into()),
    ];
    let names: Vec<String> = (0..n).map(|k| format!("sample_{k:04}.h5")).collect();
    write_folder(out, |tmp| {
        (0..n).into_par_iter().try_for_each(|k| {
            let sample = DarcySample {
                s,
                coeff: data.coefficient[k * s * s..(k + 1) * s * s].to_vec(),
                sol: data.solution[k * s * s..(k + 1) * s * s].to_vec(),
            };
            let mut attrs: Vec<(&str, AttrValue)> = vec![("r", r[k].into()), ("index", k.into())];
            attrs.extend(base.iter().map(|(a, v)| (*a, v.clone())));
            write_darcy_sample(
                &tmp.join(assign[k].dir_name()).join(&names[k]),
                &sample,
                &attrs,
            )?;
            Ok(())
        })
    })?;
    Ok(SetReport {
        files: (0..n)
            .map(|k| (assign[k], names[k].clone(), vec![("r".to_string(), r[k])]))
            .collect(),
        trajectories: n,
        max_check: settings.darcy.tol,
        max_step_halving: 0.0,
        step_halving_checked: 0,
    })
}

/// Checks that `out` can become a data-set folder: its parent exists and it does not exist
/// or is an empty directory.
pub fn check_output_folder(out: &Path) -> Result<(), DatagenError> {
    let bad = |m: String| Err(DatagenError::Output(format!("{}: {m}", out.display())));
    let parent = nabla_core::atomic::parent_dir(out);
    if !parent.is_dir() {
        return bad(format!("directory {} does not exist", parent.display()));
    }
    if out.exists() {
        let empty = out.is_dir()
            && fs::read_dir(out)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !empty {
            return bad("already exists and is not an empty directory; choose a new folder".into());
        }
    }
    Ok(())
}

/// Writes a folder atomically: `fill` writes into a temporary directory `.NAME.PID.N.tmp`
/// next to `out` (with the five split subdirectories, empty ones removed afterwards), which
/// is renamed onto `out` when complete; on any error it is removed.
fn write_folder(
    out: &Path,
    fill: impl FnOnce(&Path) -> Result<(), DatagenError>,
) -> Result<(), DatagenError> {
    check_output_folder(out)?;
    let io = |e: std::io::Error| DatagenError::Output(format!("{}: {e}", out.display()));
    let tmp: PathBuf = nabla_core::atomic::temp_path(out).map_err(io)?;
    fs::create_dir(&tmp).map_err(io)?;
    let result = (|| {
        for s in Split::ALL {
            fs::create_dir(tmp.join(s.dir_name())).map_err(io)?;
        }
        fill(&tmp)?;
        for s in Split::ALL {
            let d = tmp.join(s.dir_name());
            if fs::read_dir(&d)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false)
            {
                fs::remove_dir(&d).map_err(io)?;
            }
        }
        if out.exists() {
            fs::remove_dir(out).map_err(io)?;
        }
        fs::rename(&tmp, out).map_err(io)
    })();
    result.map_err(|e| {
        let _ = fs::remove_dir_all(&tmp);
        // The user never sees the temporary folder: name the destination in its place.
        let (text, tmp_name) = (e.to_string(), tmp.display().to_string());
        if text.contains(&tmp_name) {
            DatagenError::Output(text.replace(&tmp_name, &out.display().to_string()))
        } else {
            e
        }
    })
}
