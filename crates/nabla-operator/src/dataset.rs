//! Loading (input, target) pairs from PDEBench-layout files into channels-last arrays.

use crate::config::{DataConfig, Layout};
use crate::{OperatorError, Result};

/// Samples as flat channels-last arrays: `input` and `target` are `[n, dims…, 1]`, C order.
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
}

impl Samples {
    /// Points per sample.
    pub fn points(&self) -> usize {
        self.dims.iter().product()
    }

    /// The samples `range` (a copy).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Samples {
        let p = self.points();
        Samples {
            n: range.len(),
            dims: self.dims.clone(),
            input: self.input[range.start * p..range.end * p].to_vec(),
            target: self.target[range.start * p..range.end * p].to_vec(),
        }
    }
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
    })
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
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
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
