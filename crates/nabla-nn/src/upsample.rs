//! Bilinear ×2 upsampling with aligned corners (PyTorch's `align_corners=True`) of
//! channels-last 2-D fields as one fused op.
//!
//! `upsample_bilinear2x(x)` maps `x` `[B, H, W, C]` to `[B, 2H, 2W, C]`: output row i samples
//! the input at `i·(H−1)/(2H−1)` (the first and last rows land on the first and last input
//! rows), linearly between the two neighbouring rows, and the same along the columns.
//! [`upsample_bilinear2x_periodic`] is the map for fields on a torus: cell-centred (output
//! cell i of 2n sits at input coordinate i/2 − 1/4, the centres of the two output cells that
//! 2×2 pooling merges straddle their input cell's centre), the neighbours taken mod n.
//!
//! Why fused: as candle ops (two batched products with interpolation matrices, [`composed`])
//! the map is five graph nodes at the output's size, and candle's backward gives each a
//! zero-filled gradient and an accumulation pass. Here forward reads four neighbours per output
//! pixel and backward adds each output gradient back to them, one image per task.
//! Off the CPU (or for other dtypes) it is [`composed`].

use crate::fused::Real;
use crate::op_util::{contiguous, dims4, nonempty};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Bilinear ×2 upsampling (corners aligned) of `x` `[B, H, W, C]` (module docs).
/// Differentiable.
pub fn upsample_bilinear2x(x: &Tensor) -> candle_core::Result<Tensor> {
    apply(x, false)
}

/// Periodic bilinear ×2 upsampling (cell-centred, indices mod H and mod W) of `x`
/// `[B, H, W, C]` (module docs). Differentiable.
pub fn upsample_bilinear2x_periodic(x: &Tensor) -> candle_core::Result<Tensor> {
    apply(x, true)
}

fn apply(x: &Tensor, periodic: bool) -> candle_core::Result<Tensor> {
    nonempty(x.dims(), "upsample_bilinear2x", "input")?;
    let _ = x.dims4()?;
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Upsample { periodic })
    } else {
        composed(x, periodic)
    }
}

/// Output index i of 2n samples input position `i·(n−1)/(2n−1)`: `(lo, hi, f)` with the value
/// `(1 − f)·x[lo] + f·x[hi]`.
fn taps(n: usize) -> Vec<(usize, usize, f64)> {
    let m = 2 * n;
    (0..m)
        .map(|i| {
            let pos = if m > 1 {
                i as f64 * (n - 1) as f64 / (m - 1) as f64
            } else {
                0.0
            };
            let lo = (pos.floor() as usize).min(n - 1);
            let hi = (lo + 1).min(n - 1);
            (lo, hi, pos - lo as f64)
        })
        .collect()
}

/// The periodic counterpart of [`taps`]: output index i of 2n samples input position
/// i/2 − 1/4, its neighbours taken mod n.
fn taps_periodic(n: usize) -> Vec<(usize, usize, f64)> {
    (0..2 * n)
        .map(|i| {
            let pos = i as f64 / 2.0 - 0.25;
            let below = pos.floor();
            let lo = (below as isize).rem_euclid(n as isize) as usize;
            (lo, (lo + 1) % n, pos - below)
        })
        .collect()
}

/// The row and column taps of an `h × w` input.
fn taps2(h: usize, w: usize, periodic: bool) -> [Vec<(usize, usize, f64)>; 2] {
    if periodic {
        [taps_periodic(h), taps_periodic(w)]
    } else {
        [taps(h), taps(w)]
    }
}

/// The `[2n, n]` interpolation matrix of a tap table ([`taps`], [`taps_periodic`]).
fn matrix(
    taps: Vec<(usize, usize, f64)>,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let n = taps.len() / 2;
    let mut u = vec![0f64; 2 * n * n];
    for (i, (lo, hi, f)) in taps.into_iter().enumerate() {
        u[i * n + lo] += 1.0 - f;
        u[i * n + hi] += f;
    }
    Tensor::from_vec(u, (2 * n, n), device)?.to_dtype(dtype)
}

/// The same map from candle ops (two batched matrix products; any device), corners aligned
/// or `periodic`: the reference the fused op is tested against.
pub fn composed(x: &Tensor, periodic: bool) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let [th, tw] = taps2(h, w, periodic);
    let uh = matrix(th, x.dtype(), x.device())?;
    let uw = matrix(tw, x.dtype(), x.device())?;
    let y = uh
        .unsqueeze(0)?
        .broadcast_as((b, 2 * h, h))?
        .contiguous()?
        .matmul(&x.reshape((b, h, w * c))?)?;
    let y = y.reshape((b * 2 * h, w, c))?;
    let y = uw
        .unsqueeze(0)?
        .broadcast_as((b * 2 * h, 2 * w, w))?
        .contiguous()?
        .matmul(&y)?;
    y.reshape((b, 2 * h, 2 * w, c))
}

/// Forward: one output row `(b, i)` per task.
fn forward<T: Real>(x: &[T], [_, h, w, c]: [usize; 4], periodic: bool) -> Vec<T> {
    let [rows, cols] = taps2(h, w, periodic);
    let mut y = vec![T::default(); x.len() * 4];
    y.par_chunks_mut(2 * w * c)
        .enumerate()
        .for_each(|(row, yr)| {
            let (b, i) = (row / (2 * h), row % (2 * h));
            let (lo, hi, fi) = rows[i];
            let (top, bottom) = (&x[(b * h + lo) * w * c..], &x[(b * h + hi) * w * c..]);
            for (j, &(l, r, fj)) in cols.iter().enumerate() {
                let wts = [
                    T::lit((1.0 - fi) * (1.0 - fj)),
                    T::lit((1.0 - fi) * fj),
                    T::lit(fi * (1.0 - fj)),
                    T::lit(fi * fj),
                ];
                let src = [
                    &top[l * c..(l + 1) * c],
                    &top[r * c..(r + 1) * c],
                    &bottom[l * c..(l + 1) * c],
                    &bottom[r * c..(r + 1) * c],
                ];
                let out = &mut yr[j * c..(j + 1) * c];
                for (k, o) in out.iter_mut().enumerate() {
                    *o = wts[0] * src[0][k]
                        + wts[1] * src[1][k]
                        + wts[2] * src[2][k]
                        + wts[3] * src[3][k];
                }
            }
        });
    y
}

/// Backward (the adjoint): one image per task, every output gradient added back to its four
/// neighbours.
fn backward<T: Real>(g: &[T], [_, h, w, c]: [usize; 4], periodic: bool) -> Vec<T> {
    let [rows, cols] = taps2(h, w, periodic);
    let mut dx = vec![T::default(); g.len() / 4];
    dx.par_chunks_mut(h * w * c)
        .enumerate()
        .for_each(|(b, dxb)| {
            for (i, &(lo, hi, fi)) in rows.iter().enumerate() {
                let gr = &g[(b * 2 * h + i) * 2 * w * c..][..2 * w * c];
                for (j, &(l, r, fj)) in cols.iter().enumerate() {
                    let gp = &gr[j * c..(j + 1) * c];
                    for (row, col, wt) in [
                        (lo, l, (1.0 - fi) * (1.0 - fj)),
                        (lo, r, (1.0 - fi) * fj),
                        (hi, l, fi * (1.0 - fj)),
                        (hi, r, fi * fj),
                    ] {
                        if wt == 0.0 {
                            continue;
                        }
                        let wt = T::lit(wt);
                        let d = &mut dxb[(row * w + col) * c..][..c];
                        d.iter_mut().zip(gp).for_each(|(o, &v)| *o += wt * v);
                    }
                }
            }
        });
    dx
}

/// The fused upsampling, corners aligned or `periodic`.
struct Upsample {
    periodic: bool,
}

impl CustomOp1 for Upsample {
    fn name(&self) -> &'static str {
        "nabla-upsample-bilinear2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims4(l, "upsample_bilinear2x")?;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(forward(
                contiguous(v, l, "upsample_bilinear2x", "input")?,
                d,
                self.periodic,
            )),
            CpuStorage::F64(v) => CpuStorage::F64(forward(
                contiguous(v, l, "upsample_bilinear2x", "input")?,
                d,
                self.periodic,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "upsample_bilinear2x: f32 or f64 only".into(),
                ))
            }
        };
        Ok((out, Shape::from((d[0], 2 * d[1], 2 * d[2], d[3]))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &Adjoint {
                periodic: self.periodic,
            },
        )?))
    }
}

/// `(x, ȳ) ↦ x̄` (x only gives the shape).
struct Adjoint {
    periodic: bool,
}

impl CustomOp2 for Adjoint {
    fn name(&self) -> &'static str {
        "nabla-upsample-bilinear2x-adjoint"
    }

    fn cpu_fwd(
        &self,
        _s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims4(l1, "upsample_bilinear2x")?;
        if l2.shape().elem_count() != 4 * l1.shape().elem_count() {
            return Err(candle_core::Error::Msg(
                "upsample_bilinear2x backward: gradient shape".into(),
            ));
        }
        let out = match s2 {
            CpuStorage::F32(g) => CpuStorage::F32(backward(
                contiguous(g, l2, "upsample_bilinear2x", "gradient")?,
                d,
                self.periodic,
            )),
            CpuStorage::F64(g) => CpuStorage::F64(backward(
                contiguous(g, l2, "upsample_bilinear2x", "gradient")?,
                d,
                self.periodic,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "upsample_bilinear2x backward: f32 or f64".into(),
                ))
            }
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op_util::max_diff;
    use candle_core::Var;

    /// The fused map equals the interpolation-matrix products in value and gradient, on
    /// one-pixel and rectangular grids, corners aligned and periodic.
    #[test]
    fn fused_matches_the_matrix_products() {
        let d = Device::Cpu;
        let shapes = [(2, 3, 5, 2), (1, 1, 1, 3), (3, 4, 1, 1), (2, 8, 8, 4)];
        for ((b, h, w, c), periodic) in shapes.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, h, w, c), &d).unwrap()).unwrap();
            let probe = Tensor::randn(0f64, 1.0, (b, 2 * h, 2 * w, c), &d).unwrap();
            let fused = if periodic {
                upsample_bilinear2x_periodic(x.as_tensor()).unwrap()
            } else {
                upsample_bilinear2x(x.as_tensor()).unwrap()
            };
            let reference = composed(x.as_tensor(), periodic).unwrap();
            let case = format!("({b},{h},{w},{c}) periodic {periodic}");
            assert!(max_diff(&fused, &reference) < 1e-13, "{case}");
            let g1 = (fused * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (reference * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(
                max_diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-12,
                "{case}"
            );
        }
    }

    /// Periodic upsampling by hand on a row of two cells (a, b): output cells at input
    /// coordinates −1/4, 1/4, 3/4, 5/4 read across the edge; every input cell's weights sum
    /// to 4 over the output, so the mean is kept.
    #[test]
    fn periodic_values_by_hand_and_the_mean_is_kept() {
        let d = Device::Cpu;
        let (a, b) = (1.0f64, 5.0f64);
        let x = Tensor::from_vec(vec![a, b], (1, 1, 2, 1), &d).unwrap();
        let y: Vec<f64> = upsample_bilinear2x_periodic(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let row = [
            0.75 * a + 0.25 * b,
            0.75 * a + 0.25 * b,
            0.25 * a + 0.75 * b,
            0.25 * a + 0.75 * b,
        ];
        // One input row: both output rows equal the interpolated row.
        let expected: Vec<f64> = row.iter().chain(row.iter()).copied().collect();
        for (got, want) in y.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-14, "{y:?} vs {expected:?}");
        }
        let x = Tensor::randn(0f64, 1.0, (2, 6, 10, 3), &d).unwrap();
        let y = upsample_bilinear2x_periodic(&x).unwrap();
        let (sx, sy) = (
            x.sum_all().unwrap().to_scalar::<f64>().unwrap(),
            y.sum_all().unwrap().to_scalar::<f64>().unwrap(),
        );
        assert!((sy - 4.0 * sx).abs() < 1e-10, "{sy} vs 4 × {sx}");
    }

    /// Linear functions are reproduced exactly; the corners are the input's corners.
    #[test]
    fn linear_fields_are_exact_and_corners_align() {
        let d = Device::Cpu;
        let (h, w) = (5, 7);
        let f = |y: f64, x: f64| 2.0 * y - 3.0 * x + 1.0;
        let mut v = Vec::new();
        for i in 0..h {
            for j in 0..w {
                v.push(f(i as f64 / (h - 1) as f64, j as f64 / (w - 1) as f64));
            }
        }
        let x = Tensor::from_vec(v, (1, h, w, 1), &d).unwrap();
        let y: Vec<f64> = upsample_bilinear2x(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for i in 0..2 * h {
            for j in 0..2 * w {
                let want = f(i as f64 / (2 * h - 1) as f64, j as f64 / (2 * w - 1) as f64);
                assert!((y[i * 2 * w + j] - want).abs() < 1e-12, "({i},{j})");
            }
        }
    }
}
