//! The 3×3 neighbourhoods of a channels-last 2-D field as one fused op (im2col), so a zero-padded
//! 3×3 convolution is this op and one matrix product.
//!
//! `im2col3x3(x)` maps `x` `[B, H, W, C]` to `[B, H, W, 9·C]` with
//! `y[b, i, j, t·C + c] = x[b, i + dy, j + dx, c]` for the tap `t = (dy + 1)·3 + (dx + 1)`,
//! `dy, dx ∈ {−1, 0, 1}`, and 0 outside the grid (zero padding; correlation, as PyTorch's
//! `conv2d`). Its gradient is the adjoint, col2im: every tap's gradient added back to the pixel
//! it was read from.
//!
//! Why fused: as candle ops the same map is 9 narrows, 9 pads and a concatenation forward, and
//! their adjoints backward (each a zero-fill and a copy) — on a 64² LSM level with 32 channels
//! those passes cost several times the convolution's matrix product. Here each direction is one
//! pass, parallel over grid rows. Off the CPU (or for other dtypes) the op is the composition of
//! candle ops, with the same result.

use crate::op_util::contiguous;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

/// The 3×3 neighbourhoods of `x` `[B, H, W, C]` as `[B, H, W, 9·C]` (module docs).
/// Differentiable.
pub fn im2col3x3(x: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, _, _) = x.dims4()?;
    if x.device().is_cpu() && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
    {
        x.contiguous()?.apply_op1(Im2Col)
    } else {
        composed(x)
    }
}

/// The same map from candle ops (any device): the reference the fused op is tested and timed
/// against.
pub fn composed(x: &Tensor) -> candle_core::Result<Tensor> {
    let shift = |x: &Tensor, axis: usize, o: isize| -> candle_core::Result<Tensor> {
        let n = x.dim(axis)?;
        match o {
            0 => Ok(x.clone()),
            _ if n < 2 => x.zeros_like(),
            1 => x.narrow(axis, 1, n - 1)?.pad_with_zeros(axis, 0, 1),
            _ => x.narrow(axis, 0, n - 1)?.pad_with_zeros(axis, 1, 0),
        }
    };
    let mut taps = Vec::with_capacity(9);
    for dy in [-1isize, 0, 1] {
        let row = shift(x, 1, dy)?;
        for dx in [-1isize, 0, 1] {
            taps.push(shift(&row, 2, dx)?);
        }
    }
    Tensor::cat(&taps, 3)
}

fn dims(l: &Layout, channels_factor: usize, what: &str) -> candle_core::Result<[usize; 4]> {
    match *l.shape().dims() {
        [b, h, w, c] if c % channels_factor == 0 => Ok([b, h, w, c / channels_factor]),
        _ => Err(candle_core::Error::Msg(format!(
            "{what}: expected [B, H, W, C], got {:?}",
            l.shape()
        ))),
    }
}

/// Forward: one output row `(b, i)` of `W · 9C` values per task.
fn gather<T: WithDType>(x: &[T], d: [usize; 4]) -> Vec<T> {
    let row_out = d[2] * 9 * d[3];
    let mut out = vec![T::zero(); x.len() * 9];
    out.par_chunks_mut(row_out)
        .enumerate()
        .for_each(|(row, o)| gather_row(x, d, row, o, false));
    out
}

/// The 3×3 neighbourhoods of grid row `row` (= b·H + i) of `x` into `o` (`W · 9C` values,
/// pixel-major). Taps outside the grid are 0, or with `periodic` the cells on the other side
/// (the grid is a torus: row −1 is row H − 1, column W is column 0).
pub(crate) fn gather_row<T: WithDType>(
    x: &[T],
    [_, h, w, c]: [usize; 4],
    row: usize,
    o: &mut [T],
    periodic: bool,
) {
    let (b, i) = (row / h, row % h);
    for dy in -1isize..=1 {
        let mut si = i as isize + dy;
        let taps = (dy + 1) as usize * 3 * c;
        if periodic {
            si = si.rem_euclid(h as isize);
        } else if si < 0 || si >= h as isize {
            for j in 0..w {
                o[j * 9 * c + taps..][..3 * c].fill(T::zero());
            }
            continue;
        }
        let src_row = (b * h + si as usize) * w * c;
        // The taps dx = −1, 0, 1 of one row are adjacent in both `x` and `o`: one copy of the
        // pixels inside the grid (three at once away from the edges); at the edges zeros, or
        // with `periodic` the wrapped-around pixel.
        for j in 0..w {
            let (lo, hi) = (j.saturating_sub(1), (j + 1).min(w - 1));
            let dst = &mut o[j * 9 * c + taps..][..3 * c];
            let first = (lo + 1 - j) * c;
            let len = (hi - lo + 1) * c;
            dst[first..first + len].copy_from_slice(&x[src_row + lo * c..][..len]);
            if periodic {
                if first > 0 {
                    dst[..c].copy_from_slice(&x[src_row + (w - 1) * c..][..c]);
                }
                if first + len < 3 * c {
                    dst[2 * c..].copy_from_slice(&x[src_row..][..c]);
                }
            } else {
                dst[..first].fill(T::zero());
                dst[first + len..].fill(T::zero());
            }
        }
    }
}

/// Adjoint: one input row `(b, i)` of `W · C` values per task, summing the taps that read it.
fn scatter<T: WithDType + std::ops::AddAssign>(g: &[T], [_, h, w, c]: [usize; 4]) -> Vec<T> {
    let row_in = w * c;
    let mut out = vec![T::zero(); g.len() / 9];
    out.par_chunks_mut(row_in).enumerate().for_each(|(row, o)| {
        let (b, i) = (row / h, row % h);
        // Pixel (i, j) was read as tap (dy, dx) by the output pixel (i − dy, j − dx).
        for dy in -1isize..=1 {
            let oi = i as isize - dy;
            if oi < 0 || oi >= h as isize {
                continue;
            }
            let out_row = (b * h + oi as usize) * w * 9 * c;
            for dx in -1isize..=1 {
                let t = ((dy + 1) * 3 + dx + 1) as usize;
                for j in 0..w {
                    let oj = j as isize - dx;
                    if oj < 0 || oj >= w as isize {
                        continue;
                    }
                    let src = out_row + oj as usize * 9 * c + t * c;
                    for (acc, &v) in o[j * c..(j + 1) * c].iter_mut().zip(&g[src..src + c]) {
                        *acc += v;
                    }
                }
            }
        }
    });
    out
}

struct Im2Col;

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "nabla-im2col3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims(l, 1, "im2col3x3")?;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(gather(contiguous(v, l, "im2col", "input")?, d)),
            CpuStorage::F64(v) => CpuStorage::F64(gather(contiguous(v, l, "im2col", "input")?, d)),
            _ => return Err(candle_core::Error::Msg("im2col3x3: f32 or f64 only".into())),
        };
        Ok((out, Shape::from((d[0], d[1], d[2], 9 * d[3]))))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2Im)?))
    }
}

struct Col2Im;

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "nabla-col2im3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims(l, 9, "col2im3x3")?;
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(scatter(contiguous(v, l, "im2col", "gradient")?, d))
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(scatter(contiguous(v, l, "im2col", "gradient")?, d))
            }
            _ => return Err(candle_core::Error::Msg("col2im3x3: f32 or f64 only".into())),
        };
        Ok((out, Shape::from((d[0], d[1], d[2], d[3]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_the_composition_values_and_gradients() {
        let d = Device::Cpu;
        for (h, w, c) in [(5, 4, 3), (1, 3, 2), (6, 1, 1)] {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, h, w, c), &d).unwrap()).unwrap();
            let weights = Tensor::randn(0f64, 1.0, (2, h, w, 9 * c), &d).unwrap();
            let fused = im2col3x3(x.as_tensor()).unwrap();
            let reference = composed(x.as_tensor()).unwrap();
            let diff = (&fused - &reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert_eq!(diff.to_scalar::<f64>().unwrap(), 0.0);
            let g1 = (fused * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (reference * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (a, b) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f64>().unwrap() < 1e-12, "({h},{w},{c})");
        }
    }

    #[test]
    fn taps_read_the_neighbours_with_zero_padding() {
        let d = Device::Cpu;
        let x = Tensor::arange(1f32, 13.0, &d)
            .unwrap()
            .reshape((1, 3, 4, 1))
            .unwrap();
        let y: Vec<f32> = im2col3x3(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Pixel (0, 0): taps (dy, dx) row by row; only (0,0), (0,1), (1,0), (1,1) inside.
        assert_eq!(&y[..9], &[0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 5.0, 6.0]);
        // Pixel (1, 2): all inside.
        let p = (4 + 2) * 9;
        assert_eq!(
            &y[p..p + 9],
            &[2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 10.0, 11.0, 12.0]
        );
    }
}
