//! 2×2 max pooling (stride 2) of channels-last 2-D fields as one fused op.
//!
//! `max_pool2x2(x)` maps `x` `[B, H, W, C]` (H, W even) to `[B, H/2, W/2, C]`,
//! `y[b, i, j, c] = max over (di, dj) ∈ {0, 1}² of x[b, 2i + di, 2j + dj, c]`. The gradient goes
//! to the first maximal entry in row-major order of the window (PyTorch's convention; after a
//! ReLU, ties at 0 are common, and candle's reduction would send the full gradient to every
//! tied entry).
//!
//! Why fused: from candle ops the pool is two max reductions over reshaped axes, and their
//! backward passes broadcast, compare, convert and multiply at full size — about ten passes
//! over the input per pool in an LSM step. Here it is one pass each way.
//! Off the CPU (or for other dtypes) it is the composition of candle reductions.

use crate::fused::Real;
use crate::op_util::{contiguous, dims4, nonempty};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// 2×2 max pooling of `x` `[B, H, W, C]` with even H and W (module docs). Differentiable.
pub fn max_pool2x2(x: &Tensor) -> candle_core::Result<Tensor> {
    nonempty(x.dims(), "max_pool2x2", "input")?;
    let (b, h, w, c) = x.dims4()?;
    if h % 2 != 0 || w % 2 != 0 {
        return Err(candle_core::Error::Msg(format!(
            "max_pool2x2: grid {h}×{w} has an odd side"
        )));
    }
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(MaxPool)
    } else {
        x.reshape((b, h / 2, 2, w / 2, 2, c))?.max(4)?.max(2)
    }
}

/// Offsets (relative to the window's top-left entry) of a window's four entries, in order.
fn window(w: usize, c: usize) -> [usize; 4] {
    [0, c, w * c, w * c + c]
}

/// Forward: one output row `(b, i)` per task.
fn pool<T: Real + PartialOrd>(x: &[T], [_, _, w, c]: [usize; 4]) -> Vec<T> {
    let (wo, offsets) = (w / 2, window(w, c));
    let mut y = vec![T::default(); x.len() / 4];
    y.par_chunks_mut(wo * c).enumerate().for_each(|(row, yr)| {
        // Output row `row` = (b, i) reads input rows 2·row and 2·row + 1 (b·H/2 + i ↦ b·H + 2i).
        let base = 2 * row * w * c;
        for j in 0..wo {
            let at = base + 2 * j * c;
            for ch in 0..c {
                let mut best = x[at + ch];
                for &o in &offsets[1..] {
                    let v = x[at + o + ch];
                    if v > best {
                        best = v;
                    }
                }
                yr[j * c + ch] = best;
            }
        }
    });
    y
}

/// Backward: the output gradient to each window's first maximal entry; one input row pair
/// per task.
fn unpool<T: Real + PartialOrd>(x: &[T], g: &[T], [_, _, w, c]: [usize; 4]) -> Vec<T> {
    let (wo, offsets) = (w / 2, window(w, c));
    let mut dx = vec![T::default(); x.len()];
    dx.par_chunks_mut(2 * w * c)
        .enumerate()
        .for_each(|(row, dxr)| {
            let base = 2 * row * w * c;
            for j in 0..wo {
                let at = 2 * j * c;
                for ch in 0..c {
                    let mut arg = 0;
                    let mut best = x[base + at + ch];
                    for &o in &offsets[1..] {
                        let v = x[base + at + o + ch];
                        if v > best {
                            best = v;
                            arg = o;
                        }
                    }
                    dxr[at + arg + ch] = g[(row * wo + j) * c + ch];
                }
            }
        });
    dx
}

struct MaxPool;

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "nabla-max-pool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims4(l, "max_pool2x2")?;
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(pool(contiguous(v, l, "max_pool2x2", "input")?, d))
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(pool(contiguous(v, l, "max_pool2x2", "input")?, d))
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "max_pool2x2: f32 or f64 only".into(),
                ))
            }
        };
        Ok((out, Shape::from((d[0], d[1] / 2, d[2] / 2, d[3]))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &Unpool)?))
    }
}

/// `(x, ȳ) ↦ x̄`.
struct Unpool;

impl CustomOp2 for Unpool {
    fn name(&self) -> &'static str {
        "nabla-max-unpool2x2"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = dims4(l1, "max_pool2x2")?;
        if l2.shape().elem_count() * 4 != l1.shape().elem_count() {
            return Err(candle_core::Error::Msg(
                "max_pool2x2 backward: gradient shape".into(),
            ));
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(unpool(
                contiguous(x, l1, "max_pool2x2", "input")?,
                contiguous(g, l2, "max_pool2x2", "gradient")?,
                d,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(unpool(
                contiguous(x, l1, "max_pool2x2", "input")?,
                contiguous(g, l2, "max_pool2x2", "gradient")?,
                d,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "max_pool2x2 backward: f32 or f64".into(),
                ))
            }
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Without ties the fused pool equals candle's reductions in value and gradient.
    #[test]
    fn fused_matches_the_reductions_without_ties() {
        let d = Device::Cpu;
        for (b, h, w, c) in [(2, 4, 6, 3), (1, 2, 2, 1), (3, 8, 2, 5)] {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, h, w, c), &d).unwrap()).unwrap();
            let probe = Tensor::randn(0f64, 1.0, (b, h / 2, w / 2, c), &d).unwrap();
            let fused = max_pool2x2(x.as_tensor()).unwrap();
            let reference = x
                .as_tensor()
                .reshape((b, h / 2, 2, w / 2, 2, c))
                .unwrap()
                .max(4)
                .unwrap()
                .max(2)
                .unwrap();
            let diff = |a: &Tensor, r: &Tensor| {
                (a - r)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            assert_eq!(diff(&fused, &reference), 0.0);
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
            assert_eq!(diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()), 0.0);
        }
    }

    /// A tied window sends its gradient to the first maximal entry only.
    #[test]
    fn ties_go_to_the_first_maximal_entry() {
        let d = Device::Cpu;
        let x = Var::from_tensor(
            &Tensor::new(&[0f32, 0.0, 0.0, 0.0, 1.0, 3.0, 2.0, 3.0], &d)
                .unwrap()
                .reshape((2, 2, 2, 1))
                .unwrap(),
        )
        .unwrap();
        let y = max_pool2x2(x.as_tensor()).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 3.0]
        );
        let g = (y * 2.0).unwrap().sum_all().unwrap().backward().unwrap();
        let dx: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(dx, vec![2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn an_odd_side_is_an_error() {
        let x = Tensor::zeros((1, 3, 4, 2), DType::F32, &Device::Cpu).unwrap();
        let e = max_pool2x2(&x).unwrap_err().to_string();
        assert!(e.contains("odd side"), "{e}");
    }
}
