//! Loading (input, target) pairs from PDEBench-layout files into channels-last arrays.

use crate::config::{DataConfig, Layout};
use crate::{OperatorError, Result};

/// Samples as flat channels-last arrays, C order: `input` is `[n, dims…, input_channels]` and
/// `target` `[n, dims…, target_channels]` — one channel each for Darcy and 1-D series; for a
/// 2-D series the `input_frames` frames that start a rollout and the `output_frames` frames
/// it should reproduce (channel m = frame m of each).
#[derive(Clone, Debug)]
pub struct Samples {
    /// Number of samples.
    pub n: usize,
    /// Grid points per spatial axis (1 or 2 entries).
    pub dims: Vec<usize>,
    /// Input function values.
    pub input: Vec<f32>,
    /// Target (solution) values.
    pub target: Vec<f32>,
    /// Channels per point of `input` (1, or the series' input frames).
    pub input_channels: usize,
    /// Channels per point of `target` (1, or the series' rollout frames).
    pub target_channels: usize,
}

impl Samples {
    /// Points per sample.
    pub fn points(&self) -> usize {
        self.dims.iter().product()
    }

    /// The samples `range` (a copy).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Samples {
        let (pi, pt) = (
            self.points() * self.input_channels,
            self.points() * self.target_channels,
        );
        Samples {
            n: range.len(),
            dims: self.dims.clone(),
            input: self.input[range.start * pi..range.end * pi].to_vec(),
            target: self.target[range.start * pt..range.end * pt].to_vec(),
            input_channels: self.input_channels,
            target_channels: self.target_channels,
        }
    }

    /// Channel `c` of the input of sample `k`, `[dims…]`.
    pub fn input_channel(&self, k: usize, c: usize) -> Vec<f32> {
        channel(&self.input, self.points(), self.input_channels, k, c)
    }

    /// Channel `c` of the target of sample `k`, `[dims…]`.
    pub fn target_channel(&self, k: usize, c: usize) -> Vec<f32> {
        channel(&self.target, self.points(), self.target_channels, k, c)
    }
}

/// Channel `c` of sample `k` of channels-last data with `p` points and `channels` channels
/// per sample.
pub fn channel(data: &[f32], p: usize, channels: usize, k: usize, c: usize) -> Vec<f32> {
    let base = k * p * channels;
    (0..p).map(|q| data[base + q * channels + c]).collect()
}

/// `[n, c, p]` (frame-major, as 2-D series files store frames) → `[n, p, c]` (channels-last).
pub fn frames_to_channels_last(data: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0; n * c * p];
    for k in 0..n {
        for m in 0..c {
            let src = &data[(k * c + m) * p..(k * c + m + 1) * p];
            for (q, &v) in src.iter().enumerate() {
                out[(k * p + q) * c + m] = v;
            }
        }
    }
    out
}

/// `[n, p, c]` (channels-last) → `[n, c, p]` (frame-major): the inverse of
/// [`frames_to_channels_last`].
pub fn channels_last_to_frames(data: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0; n * c * p];
    for k in 0..n {
        for q in 0..p {
            for m in 0..c {
                out[(k * c + m) * p + q] = data[(k * p + q) * c + m];
            }
        }
    }
    out
}

/// Keeps every `k`-th point of each axis of `[n, dims…]` data.
pub fn subsample(data: &[f32], n: usize, dims: &[usize], k: usize) -> (Vec<f32>, Vec<usize>) {
    if k == 1 {
        return (data.to_vec(), dims.to_vec());
    }
    let new: Vec<usize> = dims.iter().map(|&d| d.div_ceil(k)).collect();
    let mut out = Vec::with_capacity(n * new.iter().product::<usize>());
    match *dims {
        [nx] => {
            for s in 0..n {
                out.extend((0..nx).step_by(k).map(|i| data[s * nx + i]));
            }
        }
        [h, w] => {
            for s in 0..n {
                for i in (0..h).step_by(k) {
                    out.extend((0..w).step_by(k).map(|j| data[(s * h + i) * w + j]));
                }
            }
        }
        _ => unreachable!("1-D or 2-D data"),
    }
    (out, new)
}

/// Reads the first `train + test` samples of the configured file, subsampled.
pub fn load(config: &DataConfig) -> Result<Samples> {
    let want = config.train + config.test;
    let path = &config.file;
    if config.layout == Layout::Series2d {
        return load_series_2d(config);
    }
    let (n, dims, input, target) = match config.layout {
        Layout::Darcy => {
            let d = nabla_data::read_darcy(path, Some(0..want)).map_err(split_error)?;
            (d.n, vec![d.s, d.s], d.coefficient, d.solution)
        }
        Layout::Series1d => {
            let d = nabla_data::read_series_1d(path, Some(0..want)).map_err(split_error)?;
            let j = if config.target_step < 0 {
                d.nt as i64 + config.target_step
            } else {
                config.target_step
            };
            if j < 0 || j as usize >= d.nt || config.input_step >= d.nt {
                return Err(OperatorError::config(
                    "data.input_step/target_step",
                    format!("{} has {} time steps", path.display(), d.nt),
                ));
            }
            let (i, j) = (config.input_step, j as usize);
            let mut input = Vec::with_capacity(d.n * d.nx);
            let mut target = Vec::with_capacity(d.n * d.nx);
            for s in 0..d.n {
                let base = s * d.nt * d.nx;
                input.extend_from_slice(&d.tensor[base + i * d.nx..base + (i + 1) * d.nx]);
                target.extend_from_slice(&d.tensor[base + j * d.nx..base + (j + 1) * d.nx]);
            }
            (d.n, vec![d.nx], input, target)
        }
        Layout::Series2d => unreachable!("read by load_series_2d"),
    };
    if n < want {
        return Err(OperatorError::config(
            "data.train/test",
            format!(
                "{} holds {n} samples, the split needs {want}",
                path.display()
            ),
        ));
    }
    let (input, new_dims) = subsample(&input, n, &dims, config.subsample);
    let (target, _) = subsample(&target, n, &dims, config.subsample);
    if input.iter().chain(&target).any(|v| !v.is_finite()) {
        return Err(OperatorError::config(
            "data.file",
            format!("{} contains NaN or infinite values", path.display()),
        ));
    }
    Ok(Samples {
        n,
        dims: new_dims,
        input,
        target,
        input_channels: 1,
        target_channels: 1,
    })
}

/// The input and rollout frames of a 2-D series file, subsampled: `[n, S, S, input_frames]`
/// and `[n, S, S, output_frames]`.
fn load_series_2d(config: &DataConfig) -> Result<Samples> {
    let want = config.train + config.test;
    let path = &config.file;
    let d = nabla_data::read_series_2d(path, Some(0..want)).map_err(split_error)?;
    let (ti, to) = (config.input_frames, config.output_frames);
    check_frames(config, path, d.nt)?;
    if d.n < want {
        return Err(OperatorError::config(
            "data.train/test",
            format!(
                "{} holds {} samples, the split needs {want}",
                path.display(),
                d.n
            ),
        ));
    }
    // Frames 0..ti+to of every trajectory, every `subsample`-th point per axis, straight into
    // channels-last arrays (the file's tensor is the only other copy in memory).
    let k_sub = config.subsample;
    let (nx, ny, nt) = (d.nx, d.ny, d.nt);
    let dims = vec![nx.div_ceil(k_sub), ny.div_ceil(k_sub)];
    let p = dims[0] * dims[1];
    let mut input = vec![0f32; d.n * p * ti];
    let mut target = vec![0f32; d.n * p * to];
    for k in 0..d.n {
        for m in 0..ti + to {
            let frame = &d.tensor[(k * nt + m) * nx * ny..(k * nt + m + 1) * nx * ny];
            for (ii, i) in (0..nx).step_by(k_sub).enumerate() {
                for (jj, j) in (0..ny).step_by(k_sub).enumerate() {
                    let q = k * p + ii * dims[1] + jj;
                    let v = frame[i * ny + j];
                    if m < ti {
                        input[q * ti + m] = v;
                    } else {
                        target[q * to + m - ti] = v;
                    }
                }
            }
        }
    }
    if input.iter().chain(&target).any(|v| !v.is_finite()) {
        return Err(OperatorError::config(
            "data.file",
            format!("{} contains NaN or infinite values", path.display()),
        ));
    }
    Ok(Samples {
        n: d.n,
        dims,
        input,
        target,
        input_channels: ti,
        target_channels: to,
    })
}

/// A rollout needs `input_frames + output_frames` frames of the file's `nt`.
pub(crate) fn check_frames(config: &DataConfig, path: &std::path::Path, nt: usize) -> Result<()> {
    let (ti, to) = (config.input_frames, config.output_frames);
    if ti == 0 || to == 0 {
        let key = if ti == 0 {
            "data.input_frames"
        } else {
            "data.output_frames"
        };
        return Err(OperatorError::config(key, "must be ≥ 1"));
    }
    if ti + to > nt {
        return Err(OperatorError::config(
            "data.input_frames/output_frames",
            format!(
                "input_frames + output_frames = {ti} + {to} = {}, but {} has {nt} frames per trajectory",
                ti + to,
                path.display()
            ),
        ));
    }
    Ok(())
}

/// A sample range the file cannot serve is the split's fault: say which keys to change.
fn split_error(e: nabla_data::DataError) -> OperatorError {
    match e {
        nabla_data::DataError::InvalidInput { .. } => {
            OperatorError::config("data.train/test", e.to_string())
        }
        other => OperatorError::Data(other),
    }
}

/// Mean and standard deviation of `v` (a normaliser's statistics), in f64.
pub fn mean_std(v: &[f32]) -> (f64, f64) {
    mean_std_of(&[v])
}

/// Mean and standard deviation of all values of the slices `parts` together, in f64.
pub fn mean_std_of(parts: &[&[f32]]) -> (f64, f64) {
    let n = parts.iter().map(|p| p.len()).sum::<usize>().max(1) as f64;
    let values = || parts.iter().flat_map(|p| p.iter().map(|&x| x as f64));
    let mean = values().sum::<f64>() / n;
    let var = values().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt().max(1e-12))
}

/// Bilinear (2-D) or linear (1-D) resampling of `[n, dims…]` grid data with endpoints at 0
/// and 1 onto a grid of `to` points per axis: how a DeepONet trained on one grid reads an
/// input given on another.
pub fn resample(data: &[f32], n: usize, dims: &[usize], to: &[usize]) -> Vec<f32> {
    if dims == to {
        return data.to_vec();
    }
    let pos = |i: usize, m: usize, from: usize| -> (usize, usize, f32) {
        if m <= 1 || from <= 1 {
            return (0, 0, 0.0);
        }
        let x = i as f64 * (from - 1) as f64 / (m - 1) as f64;
        let lo = (x.floor() as usize).min(from - 1);
        let hi = (lo + 1).min(from - 1);
        (lo, hi, (x - lo as f64) as f32)
    };
    let mut out = Vec::with_capacity(n * to.iter().product::<usize>());
    match (dims, to) {
        ([nx], [mx]) => {
            for s in 0..n {
                let row = &data[s * nx..(s + 1) * nx];
                for i in 0..*mx {
                    let (a, b, t) = pos(i, *mx, *nx);
                    out.push(row[a] * (1.0 - t) + row[b] * t);
                }
            }
        }
        ([h, w], [mh, mw]) => {
            for s in 0..n {
                let f = &data[s * h * w..(s + 1) * h * w];
                for i in 0..*mh {
                    let (a, b, t) = pos(i, *mh, *h);
                    for j in 0..*mw {
                        let (c, d, u) = pos(j, *mw, *w);
                        let v0 = f[a * w + c] * (1.0 - u) + f[a * w + d] * u;
                        let v1 = f[b * w + c] * (1.0 - u) + f[b * w + d] * u;
                        out.push(v0 * (1.0 - t) + v1 * t);
                    }
                }
            }
        }
        _ => unreachable!("same dimension"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsample_and_resample_agree_on_linear_fields() {
        // A linear field is reproduced exactly by bilinear resampling.
        let (h, w) = (5, 9);
        let f: Vec<f32> = (0..h * w)
            .map(|p| {
                let (i, j) = (p / w, p % w);
                (i as f32 / (h - 1) as f32) * 2.0 + j as f32 / (w - 1) as f32
            })
            .collect();
        let r = resample(&f, 1, &[h, w], &[3, 5]);
        let (s, dims) = subsample(&f, 1, &[h, w], 2);
        assert_eq!(dims, vec![3, 5]);
        for (a, b) in r.iter().zip(&s) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
