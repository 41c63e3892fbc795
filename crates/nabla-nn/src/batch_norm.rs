//! Batch normalization followed by ReLU over channels-last features, as one fused op.
//!
//! `batch_norm_relu(x, gamma, beta, stats)` on `x` `[N, C]` (every leading axis flattened into
//! N) computes `y = max(0, γ·(x − μ)/√(σ² + ε) + β)` per channel with
//! - [`BatchStats::Batch`]: μ, σ² the batch's mean and (biased) variance — training; the
//!   gradient then flows through μ and σ² too (the usual batch-norm backward), and the statistics
//!   used are handed back for the running averages;
//! - [`BatchStats::Fixed`]: given μ, σ² (the running averages) — inference.
//!
//! Why fused: from candle ops this is a mean, a variance, a subtraction, a scale, a shift and a
//! ReLU forward, each a pass over the features with broadcasting, and twice as many backward; on
//! an LSM's finest level those passes took longer than the convolution's matrix product. Here
//! forward is two passes (statistics, output) and backward two (channel sums, input gradient),
//! parallel over chunks of rows. Off the CPU, or for dtypes other than f32/f64, the same
//! function is built from candle ops.

use crate::fused::Real;
use crate::op_util::{contiguous, operand};
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Batch-norm ε (PyTorch's default).
pub const EPS: f64 = 1e-5;

/// Per-channel mean and biased variance of a batch, `(mean, var)`.
pub type ChannelStats = (Vec<f64>, Vec<f64>);

/// Which statistics normalize the batch.
#[derive(Clone, Debug)]
pub enum BatchStats {
    /// The batch's own mean and biased variance (training).
    Batch,
    /// Given per-channel mean and variance (inference with running averages).
    Fixed {
        /// Mean per channel, `[C]`.
        mean: Tensor,
        /// Variance per channel, `[C]`.
        var: Tensor,
    },
}

/// `max(0, γ (x − μ)/√(σ² + ε) + β)` per channel of `x` `[…, C]` (module docs), and — for
/// [`BatchStats::Batch`] — the batch's mean and biased variance per channel (f64) for the
/// running averages. Differentiable in `x`, `gamma` and `beta`.
pub fn batch_norm_relu(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stats: &BatchStats,
) -> candle_core::Result<(Tensor, Option<ChannelStats>)> {
    let c = channels(x.dims())?;
    let fused = x.device().is_cpu()
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64);
    match stats {
        BatchStats::Batch if fused => {
            let seen = Arc::new(Mutex::new(None));
            let op = BnRelu {
                fixed: None,
                seen: seen.clone(),
            };
            let y = x
                .contiguous()?
                .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
            let stats = seen
                .lock()
                .map_err(|_| candle_core::Error::Msg("batch norm: poisoned statistics".into()))?
                .clone()
                .map(|s: Stats| (s.mean, s.var));
            Ok((y, stats))
        }
        BatchStats::Fixed { mean, var } if fused => {
            let mean: Vec<f64> = mean.to_dtype(candle_core::DType::F64)?.to_vec1()?;
            let var: Vec<f64> = var.to_dtype(candle_core::DType::F64)?.to_vec1()?;
            if mean.len() != c || var.len() != c {
                return Err(candle_core::Error::Msg(format!(
                    "batch norm: {c} channels but {} means and {} variances",
                    mean.len(),
                    var.len()
                )));
            }
            let op = BnRelu {
                fixed: Some(Stats { mean, var }),
                seen: Arc::new(Mutex::new(None)),
            };
            let y = x
                .contiguous()?
                .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
            Ok((y, None))
        }
        _ => {
            let (y, seen) = composed(&x.reshape(((), c))?, gamma, beta, stats)?;
            Ok((y.reshape(x.shape())?, seen))
        }
    }
}

/// The channel count (last axis) of features of rank ≥ 1.
fn channels(dims: &[usize]) -> candle_core::Result<usize> {
    match dims.last() {
        Some(&c) if c > 0 => Ok(c),
        _ => Err(candle_core::Error::Msg(format!(
            "batch norm: features {dims:?} have no channel axis"
        ))),
    }
}

/// The same function from candle ops (any device, any float dtype): the reference the fused
/// op is tested and timed against.
pub fn composed(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    stats: &BatchStats,
) -> candle_core::Result<(Tensor, Option<ChannelStats>)> {
    let (mean, var, seen) = match stats {
        BatchStats::Batch => {
            let mean = x.mean(0)?;
            let var = x.broadcast_sub(&mean)?.sqr()?.mean(0)?;
            let to_vec = |t: &Tensor| -> candle_core::Result<Vec<f64>> {
                t.detach().to_dtype(candle_core::DType::F64)?.to_vec1()
            };
            let seen = (to_vec(&mean)?, to_vec(&var)?);
            (mean, var, Some(seen))
        }
        BatchStats::Fixed { mean, var } => {
            (mean.to_dtype(x.dtype())?, var.to_dtype(x.dtype())?, None)
        }
    };
    let scale = (var + EPS)?.sqrt()?.recip()?.mul(gamma)?;
    let shift = (beta - mean.mul(&scale)?)?;
    let y = x.broadcast_mul(&scale)?.broadcast_add(&shift)?.relu()?;
    Ok((y, seen))
}

#[derive(Clone, Debug)]
struct Stats {
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// Rows per parallel chunk.
const ROWS: usize = 256;

struct BnRelu {
    /// Inference statistics; `None` = the batch's.
    fixed: Option<Stats>,
    /// Where the forward pass leaves the statistics it used (read by the caller).
    seen: Arc<Mutex<Option<Stats>>>,
}

/// Per-channel mean and biased variance of `x` `[N, C]`, accumulated in f64.
fn batch_stats<T: Real>(x: &[T], c: usize) -> Stats {
    let n = x.len() / c;
    let (sum, sq) = x
        .par_chunks(ROWS * c)
        .map(|chunk| {
            let mut s = vec![0f64; c];
            let mut q = vec![0f64; c];
            for row in chunk.chunks_exact(c) {
                for (k, &v) in row.iter().enumerate() {
                    let v = v.to_f64();
                    s[k] += v;
                    q[k] += v * v;
                }
            }
            (s, q)
        })
        .reduce(
            || (vec![0f64; c], vec![0f64; c]),
            |(mut s1, mut q1), (s2, q2)| {
                s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                q1.iter_mut().zip(&q2).for_each(|(a, b)| *a += b);
                (s1, q1)
            },
        );
    let nf = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / nf).collect();
    let var = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / nf - m * m).max(0.0))
        .collect();
    Stats { mean, var }
}

/// `y = relu(x·scale + shift)` per channel, in the features' precision (vectorizes).
fn forward<T: Real + PartialOrd>(x: &[T], c: usize, scale: &[f64], shift: &[f64]) -> Vec<T> {
    let (sc, sh): (Vec<T>, Vec<T>) = (
        scale.iter().map(|&v| T::lit(v)).collect(),
        shift.iter().map(|&v| T::lit(v)).collect(),
    );
    let zero = T::default();
    let mut y = vec![zero; x.len()];
    y.par_chunks_mut(ROWS * c)
        .zip(x.par_chunks(ROWS * c))
        .for_each(|(yo, xi)| {
            for (yr, xr) in yo.chunks_exact_mut(c).zip(xi.chunks_exact(c)) {
                for k in 0..c {
                    let v = xr[k] * sc[k] + sh[k];
                    yr[k] = if v > zero { v } else { zero };
                }
            }
        });
    y
}

impl BnRelu {
    /// The statistics that normalize `x`: the fixed ones, else those the forward pass computed
    /// (kept in `seen`, so the backward pass does not recompute them), else the batch's.
    fn stats<T: Real>(&self, x: &[T], c: usize) -> Stats {
        if let Some(fixed) = &self.fixed {
            return fixed.clone();
        }
        if let Some(seen) = self.seen.lock().ok().and_then(|s| s.clone()) {
            return seen;
        }
        batch_stats(x, c)
    }

    fn run<T: Real + PartialOrd>(&self, x: &[T], g: &[T], b: &[T], c: usize) -> Vec<T> {
        let st = self.stats(x, c);
        let inv: Vec<f64> = st.var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
        let scale: Vec<f64> = (0..c).map(|k| g[k].to_f64() * inv[k]).collect();
        let shift: Vec<f64> = (0..c)
            .map(|k| b[k].to_f64() - st.mean[k] * scale[k])
            .collect();
        let y = forward(x, c, &scale, &shift);
        if self.fixed.is_none() {
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Some(st);
            }
        }
        y
    }

    /// Gradients `(dx, dγ, dβ)` from the output gradient `gy` and the output `y` (its sign
    /// gives the ReLU mask).
    fn grads<T: Real + PartialOrd>(
        &self,
        x: &[T],
        gamma: &[T],
        y: &[T],
        gy: &[T],
        c: usize,
    ) -> (Vec<T>, Vec<f64>, Vec<f64>) {
        let st = self.stats(x, c);
        let n = (x.len() / c).max(1) as f64;
        let inv: Vec<f64> = st.var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
        // Channel sums of g' = gy·[y > 0] and g'·x̂.
        let (sg, sgx) = x
            .par_chunks(ROWS * c)
            .zip(y.par_chunks(ROWS * c).zip(gy.par_chunks(ROWS * c)))
            .map(|(xc, (yc, gc))| {
                let mut s = vec![0f64; c];
                let mut sx = vec![0f64; c];
                for ((xr, yr), gr) in xc
                    .chunks_exact(c)
                    .zip(yc.chunks_exact(c))
                    .zip(gc.chunks_exact(c))
                {
                    for k in 0..c {
                        if yr[k].to_f64() > 0.0 {
                            let g = gr[k].to_f64();
                            s[k] += g;
                            sx[k] += g * (xr[k].to_f64() - st.mean[k]) * inv[k];
                        }
                    }
                }
                (s, sx)
            })
            .reduce(
                || (vec![0f64; c], vec![0f64; c]),
                |(mut a, mut b), (c2, d2)| {
                    a.iter_mut().zip(&c2).for_each(|(u, v)| *u += v);
                    b.iter_mut().zip(&d2).for_each(|(u, v)| *u += v);
                    (a, b)
                },
            );
        // dx = a·g' − a·(Σg')/n − x̂·a·(Σg'x̂)/n with x̂ = (x − μ)·inv and a = γ·inv, i.e.
        // dx = A·g' + B + C·x per channel (training; inference keeps A·g' only).
        let batch = self.fixed.is_none();
        let (mut ca, mut cb, mut cc) = (
            vec![T::default(); c],
            vec![T::default(); c],
            vec![T::default(); c],
        );
        for k in 0..c {
            let a = gamma[k].to_f64() * inv[k];
            ca[k] = T::lit(a);
            if batch {
                let slope = -a * inv[k] * sgx[k] / n;
                cc[k] = T::lit(slope);
                cb[k] = T::lit(-a * sg[k] / n - slope * st.mean[k]);
            }
        }
        let zero = T::default();
        let mut dx = vec![zero; x.len()];
        dx.par_chunks_mut(ROWS * c)
            .zip(
                x.par_chunks(ROWS * c)
                    .zip(y.par_chunks(ROWS * c).zip(gy.par_chunks(ROWS * c))),
            )
            .for_each(|(dc, (xc, (yc, gc)))| {
                for (((dr, xr), yr), gr) in dc
                    .chunks_exact_mut(c)
                    .zip(xc.chunks_exact(c))
                    .zip(yc.chunks_exact(c))
                    .zip(gc.chunks_exact(c))
                {
                    for k in 0..c {
                        let g = if yr[k] > zero { gr[k] } else { zero };
                        dr[k] = ca[k] * g + cb[k] + cc[k] * xr[k];
                    }
                }
            });
        (dx, sgx, sg)
    }
}

impl CustomOp3 for BnRelu {
    fn name(&self) -> &'static str {
        "nabla-batch-norm-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let c = channels(l1.shape().dims())?;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                CpuStorage::F32(self.run(
                    contiguous(x, l1, "batch norm", "x")?,
                    contiguous(g, l2, "batch norm", "gamma")?,
                    contiguous(b, l3, "batch norm", "beta")?,
                    c,
                ))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                CpuStorage::F64(self.run(
                    contiguous(x, l1, "batch norm", "x")?,
                    contiguous(g, l2, "batch norm", "gamma")?,
                    contiguous(b, l3, "batch norm", "beta")?,
                    c,
                ))
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "batch norm: f32 or f64, all three the same".into(),
                ))
            }
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = channels(x.dims())?;
        let device = x.device();
        let grad = grad.contiguous()?;
        // Read the operands in place (no copies of the features).
        let (sx, lx) = x.storage_and_layout();
        let (sg, lg) = gamma.storage_and_layout();
        let (sy, ly) = res.storage_and_layout();
        let (sd, ld) = grad.storage_and_layout();
        let (Storage::Cpu(sx), Storage::Cpu(sg), Storage::Cpu(sy), Storage::Cpu(sd)) =
            (&*sx, &*sg, &*sy, &*sd)
        else {
            return Err(candle_core::Error::Msg(
                "batch norm: backward on the CPU only".into(),
            ));
        };
        macro_rules! go {
            ($t:ty) => {{
                let xv = operand::<$t>(sx, lx, "batch norm", "x")?;
                let gv = operand::<$t>(sg, lg, "batch norm", "gamma")?;
                let yv = operand::<$t>(sy, ly, "batch norm", "output")?;
                let gy = operand::<$t>(sd, ld, "batch norm", "grad")?;
                let (dx, dg, db) = self.grads(xv, gv, yv, gy, c);
                (
                    Tensor::from_vec(dx, x.shape(), device)?,
                    Tensor::from_vec(dg, c, device)?.to_dtype(x.dtype())?,
                    Tensor::from_vec(db, c, device)?.to_dtype(x.dtype())?,
                )
            }};
        }
        let (dx, dg, db) = match x.dtype() {
            candle_core::DType::F32 => go!(f32),
            candle_core::DType::F64 => go!(f64),
            d => {
                return Err(candle_core::Error::Msg(format!(
                    "batch norm: f32 or f64, got {d:?}"
                )))
            }
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn check(stats: BatchStats) {
        let d = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0.3f64, 1.2, (700, 5), &d).unwrap()).unwrap();
        let g = Var::from_tensor(&Tensor::randn(1f64, 0.3, 5, &d).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f64, 0.5, 5, &d).unwrap()).unwrap();
        let w = Tensor::randn(0f64, 1.0, (700, 5), &d).unwrap();
        let (y1, s1) =
            batch_norm_relu(x.as_tensor(), g.as_tensor(), b.as_tensor(), &stats).unwrap();
        let (y2, s2) = composed(x.as_tensor(), g.as_tensor(), b.as_tensor(), &stats).unwrap();
        let diff = (&y1 - &y2).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-12);
        match (s1, s2) {
            (Some((m1, v1)), Some((m2, v2))) => {
                for (a, b) in m1.iter().chain(&v1).zip(m2.iter().chain(&v2)) {
                    assert!((a - b).abs() < 1e-12);
                }
            }
            (None, None) => {}
            _ => panic!("statistics returned by one path only"),
        }
        let g1 = (y1 * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (y2 * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &g, &b] {
            let diff = (g1.get(v).unwrap() - g2.get(v).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert!(diff.to_scalar::<f64>().unwrap() < 1e-10);
        }
    }

    #[test]
    fn fused_matches_candle_ops_in_training() {
        check(BatchStats::Batch);
    }

    #[test]
    fn fused_matches_candle_ops_in_inference() {
        let d = Device::Cpu;
        check(BatchStats::Fixed {
            mean: Tensor::new(&[0.1f64, -0.2, 0.0, 0.5, 1.0], &d).unwrap(),
            var: Tensor::new(&[1.0f64, 2.0, 0.5, 0.3, 4.0], &d).unwrap(),
        });
    }
}
