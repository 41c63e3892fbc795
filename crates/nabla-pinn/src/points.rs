//! Collocation points: interior space–time points, boundary points (× time) and initial-slice
//! points, drawn from `nabla-core` geometry. Points are flat row-major `n × D` arrays of f64 with
//! D = d (+1 for time, the last coordinate).

use crate::config::SamplingMethod;
use crate::problem::Problem;
use crate::{PinnError, Result};
use nabla_core::geometry::{sample_boundary, sample_interior, Domain, Sampling, SplitMix64};

fn sampling(method: SamplingMethod, seed: u64) -> Sampling {
    match method {
        SamplingMethod::Random => Sampling::Random { seed },
        // Different seeds start the sequence at different places, so a resample draws new
        // points; seed 0 is the sequence from its start.
        SamplingMethod::Halton => Sampling::Halton {
            skip: seed % (1 << 24),
        },
    }
}

fn core(key: &str) -> impl Fn(nabla_core::CoreError) -> PinnError + '_ {
    move |source| PinnError::Core {
        key: key.into(),
        source,
    }
}

/// Appends a time coordinate to each space point: `t0` when `fixed`, else uniform in
/// [t0, t1] from a stream derived from `seed`.
fn with_time(
    space: Vec<f64>,
    d: usize,
    time: Option<(f64, f64)>,
    seed: u64,
    fixed: bool,
) -> Vec<f64> {
    let Some((t0, t1)) = time else {
        return space;
    };
    let mut rng = SplitMix64::new(SplitMix64::mix(seed ^ 0x7131_E000));
    let n = space.len() / d;
    let mut out = Vec::with_capacity(n * (d + 1));
    for p in space.chunks(d) {
        out.extend_from_slice(p);
        out.push(if fixed {
            t0
        } else {
            t0 + (t1 - t0) * rng.next_f64()
        });
    }
    out
}

/// `n` points in Ω × [t0, t1] (Ω alone for steady problems).
pub fn interior_points(
    problem: &Problem,
    n: usize,
    method: SamplingMethod,
    seed: u64,
) -> Result<Vec<f64>> {
    let d = problem.space_dim();
    let space = sample_interior(problem.domain.as_ref(), n, sampling(method, seed))
        .map_err(core("problem.domain"))?;
    Ok(with_time(space, d, problem.time, seed, false))
}

/// `n` points on ∂Ω × [t0, t1] (∂Ω alone for steady problems).
pub fn boundary_points(
    problem: &Problem,
    n: usize,
    method: SamplingMethod,
    seed: u64,
) -> Result<Vec<f64>> {
    let d = problem.space_dim();
    let space = sample_boundary(problem.domain.as_ref(), n, sampling(method, seed))
        .map_err(core("problem.domain"))?;
    Ok(with_time(space, d, problem.time, seed ^ 0xB0, false))
}

/// `n` points on Ω × {t0}.
pub fn initial_points(
    problem: &Problem,
    n: usize,
    method: SamplingMethod,
    seed: u64,
) -> Result<Vec<f64>> {
    let d = problem.space_dim();
    let space = sample_interior(problem.domain.as_ref(), n, sampling(method, seed))
        .map_err(core("problem.domain"))?;
    Ok(with_time(space, d, problem.time, seed, true))
}

/// The outward unit normal of ∂Ω at the boundary point `x` (space part), from central
/// differences of the signed distance (exact for boxes and balls away from edges; at a
/// corner it is the average direction).
pub fn outward_normal(domain: &dyn Domain, x: &[f64], out: &mut [f64]) {
    let d = domain.dim();
    let scale = domain
        .bounds()
        .min
        .iter()
        .zip(&domain.bounds().max)
        .map(|(a, b)| b - a)
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let h = 1e-6 * scale;
    let mut p = x[..d].to_vec();
    let mut len = 0.0;
    for k in 0..d {
        p[k] = x[k] + h;
        let fp = domain.signed_distance(&p);
        p[k] = x[k] - h;
        let fm = domain.signed_distance(&p);
        p[k] = x[k];
        out[k] = (fp - fm) / (2.0 * h);
        len += out[k] * out[k];
    }
    let len = len.sqrt();
    if len > 0.0 {
        out[..d].iter_mut().for_each(|v| *v /= len);
    }
}

/// A uniform grid of `m` points per axis over the bounding box of Ω (× [t0, t1]), keeping the
/// points inside Ω (on the boundary counts as inside); for 1-D and 2-D inputs. Returns the flat
/// points and, for each grid node in row-major order (last axis fastest), its index among the
/// kept points (`None` outside Ω).
pub fn grid_points(problem: &Problem, m: usize) -> (Vec<f64>, Vec<Option<usize>>, Vec<Vec<f64>>) {
    let d = problem.space_dim();
    let b = problem.domain.bounds();
    let mut axes: Vec<Vec<f64>> = (0..d).map(|k| linspace(b.min[k], b.max[k], m)).collect();
    if let Some((t0, t1)) = problem.time {
        axes.push(linspace(t0, t1, m));
    }
    let dim = axes.len();
    let total = m.pow(dim as u32);
    let mut pts = Vec::new();
    let mut index = Vec::with_capacity(total);
    let mut p = vec![0.0; dim];
    let tol = 1e-9
        * b.max
            .iter()
            .zip(&b.min)
            .map(|(a, c)| a - c)
            .fold(0.0, f64::max);
    for flat in 0..total {
        let mut r = flat;
        for k in (0..dim).rev() {
            p[k] = axes[k][r % m];
            r /= m;
        }
        if problem.domain.signed_distance(&p[..d]) <= tol {
            index.push(Some(pts.len() / dim));
            pts.extend_from_slice(&p);
        } else {
            index.push(None);
        }
    }
    (pts, index, axes)
}

/// `m` evenly spaced values from a to b inclusive.
pub fn linspace(a: f64, b: f64, m: usize) -> Vec<f64> {
    if m == 1 {
        return vec![a];
    }
    (0..m)
        .map(|i| a + (b - a) * i as f64 / (m - 1) as f64)
        .collect()
}
