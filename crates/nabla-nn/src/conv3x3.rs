//! Zero-padded and periodic 3×3 convolution of channels-last 2-D fields as one fused op with
//! its own backward pass.
//!
//! `conv3x3(x, k)` maps `x` `[B, H, W, C]` and a kernel `k` `[9·C, C_out]` (row `t·C + c` for
//! tap `t = (dy + 1)·3 + (dx + 1)`, `dy, dx ∈ {−1, 0, 1}`) to
//! `y[b, i, j, o] = Σ_{t, c} x[b, i + dy, j + dx, c] · k[t·C + c, o]`, with 0 outside the grid
//! (correlation, as PyTorch's `conv2d` with padding 1 and no bias) — the same map as
//! [`crate::im2col::im2col3x3`] followed by a matrix product. [`conv3x3_periodic`] reads the
//! cells across the edge instead of 0 (indices mod H and mod W: the grid is a torus, PyTorch's
//! `padding_mode="circular"`), for fields on periodic domains.
//!
//! Why fused: as im2col + matmul, the `[B, H, W, 9·C]` neighbourhood tensor is a node of
//! candle's graph — kept alive for the backward pass (nine times the activation) and given a
//! zero-filled gradient buffer of that size plus an accumulation pass. Here the neighbourhoods
//! of a block of grid rows are gathered into a small buffer (cache-sized), multiplied, and
//! dropped; the backward pass gathers them again. Gradients:
//! - input: the adjoint of a zero-padded (periodic) correlation is the zero-padded (periodic)
//!   correlation of the output gradient with the kernel flipped in space and transposed in
//!   channels,
//!   `k'[t'·C_out + o, c] = k[(8 − t')·C + c, o]` — the same forward kernel;
//! - kernel: `Σ_blocks colsᵀ · ȳ`, the per-task partial sums added in task order (so a given
//!   thread count always gives the same bits).
//!
//! Off the CPU, or for dtypes other than f32/f64, the op is im2col + matmul from candle ops.

use crate::fused::{gemm_product, Real};
use crate::im2col::gather_row;
use crate::op_util::contiguous;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Pixels whose neighbourhoods are gathered at once: the gathered block (`PIXELS · 9C`
/// values) stays within L2 for the channel counts of the LSM's levels.
const BLOCK_PIXELS: usize = 256;

/// The zero-padded 3×3 correlation of `x` `[B, H, W, C]` with `kernel` `[9·C, C_out]` (module
/// docs): `[B, H, W, C_out]`. Differentiable in both arguments.
pub fn conv3x3(x: &Tensor, kernel: &Tensor) -> candle_core::Result<Tensor> {
    apply(x, kernel, false)
}

/// The periodic 3×3 correlation of `x` `[B, H, W, C]` with `kernel` `[9·C, C_out]`: as
/// [`conv3x3`] with indices taken mod H and mod W (module docs). Differentiable in both
/// arguments.
pub fn conv3x3_periodic(x: &Tensor, kernel: &Tensor) -> candle_core::Result<Tensor> {
    apply(x, kernel, true)
}

fn apply(x: &Tensor, kernel: &Tensor, periodic: bool) -> candle_core::Result<Tensor> {
    let (_, _, _, c) = x.dims4()?;
    let (k9, _) = kernel.dims2()?;
    if k9 != 9 * c {
        return Err(candle_core::Error::Msg(format!(
            "conv3x3: kernel {:?} does not match {c} input channels (needs {} rows)",
            kernel.dims(),
            9 * c
        )));
    }
    let fused_dtype = matches!(x.dtype(), DType::F32 | DType::F64);
    if x.device().is_cpu() && fused_dtype && kernel.dtype() == x.dtype() {
        x.contiguous()?
            .apply_op2(&kernel.contiguous()?, Conv3x3 { periodic })
    } else if periodic {
        composed_periodic(x, kernel)
    } else {
        composed(x, kernel)
    }
}

/// The same map from candle ops (im2col + matmul; any device): the reference the fused op is
/// tested and timed against.
pub fn composed(x: &Tensor, kernel: &Tensor) -> candle_core::Result<Tensor> {
    let cols = crate::im2col::composed(x)?;
    let (b, h, w, c9) = cols.dims4()?;
    let cout = kernel.dim(1)?;
    cols.reshape((b * h * w, c9))?
        .matmul(kernel)?
        .reshape((b, h, w, cout))
}

/// [`conv3x3_periodic`] from candle ops (any device): the zero-padded map on the field
/// extended by one wrapped-around cell on every side, cropped back.
pub fn composed_periodic(x: &Tensor, kernel: &Tensor) -> candle_core::Result<Tensor> {
    let (_, h, w, _) = x.dims4()?;
    if h == 0 || w == 0 {
        // Nothing to wrap (and no last row or column to take): the empty result.
        return composed(x, kernel);
    }
    let rows = Tensor::cat(&[&x.narrow(1, h - 1, 1)?, x, &x.narrow(1, 0, 1)?], 1)?;
    let ext = Tensor::cat(
        &[&rows.narrow(2, w - 1, 1)?, &rows, &rows.narrow(2, 0, 1)?],
        2,
    )?;
    composed(&ext, kernel)?.narrow(1, 1, h)?.narrow(2, 1, w)
}

/// The kernel of the input gradient: flipped taps, transposed channels, `[9·C_out, C]`.
fn adjoint_kernel(kernel: &Tensor, c: usize) -> candle_core::Result<Tensor> {
    let cout = kernel.dim(1)?;
    let reversed = Tensor::new(&[8u32, 7, 6, 5, 4, 3, 2, 1, 0], kernel.device())?;
    kernel
        .reshape((9, c, cout))?
        .index_select(&reversed, 0)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((9 * cout, c))
}

fn shapes(l1: &Layout, l2: &Layout) -> candle_core::Result<([usize; 4], usize)> {
    match (l1.shape().dims(), l2.shape().dims()) {
        (&[b, h, w, c], &[k9, cout]) if k9 == 9 * c => Ok(([b, h, w, c], cout)),
        (a, k) => Err(candle_core::Error::Msg(format!(
            "conv3x3: expected x [B, H, W, C] and kernel [9·C, C_out], got {a:?} and {k:?}"
        ))),
    }
}

/// Grid rows per gathered block for rows of `w` pixels.
fn rows_per_block(w: usize) -> usize {
    (BLOCK_PIXELS / w.max(1)).max(1)
}

/// `y = conv(x, k)`, blocks of grid rows in parallel.
fn forward<T: Real>(x: &[T], d: [usize; 4], kernel: &[T], cout: usize, periodic: bool) -> Vec<T> {
    let [b, h, w, c] = d;
    let per = rows_per_block(w);
    let mut out = vec![T::default(); b * h * w * cout];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(per * w * cout)
        .enumerate()
        .for_each_init(Vec::new, |cols: &mut Vec<T>, (blk, o)| {
            let rows = o.len() / (w * cout);
            cols.resize(rows * w * 9 * c, T::default());
            for r in 0..rows {
                let row = &mut cols[r * w * 9 * c..(r + 1) * w * 9 * c];
                gather_row(x, d, blk * per + r, row, periodic);
            }
            // SAFETY: cols is (rows·w)×9C row-major, kernel 9C×cout row-major, o (rows·w)×cout.
            unsafe {
                gemm_product(
                    rows * w,
                    9 * c,
                    cout,
                    cols.as_ptr(),
                    (9 * c) as isize,
                    1,
                    kernel.as_ptr(),
                    cout as isize,
                    1,
                    o.as_mut_ptr(),
                    cout as isize,
                );
            }
        });
    out
}

/// `k̄ = Σ colsᵀ ȳ` `[9·C, C_out]`: one contiguous range of blocks per task, partial sums
/// added in task order.
fn kernel_grad<T: Real>(x: &[T], d: [usize; 4], g: &[T], cout: usize, periodic: bool) -> Vec<T> {
    let [b, h, w, c] = d;
    let per = rows_per_block(w);
    let blocks = (b * h).div_ceil(per);
    let tasks = rayon::current_num_threads().max(1).min(blocks.max(1));
    let blocks_per_task = blocks.div_ceil(tasks.max(1)).max(1);
    let len = 9 * c * cout;
    (0..blocks.div_ceil(blocks_per_task))
        .into_par_iter()
        .map(|t| {
            let mut acc = vec![T::default(); len];
            let mut cols = Vec::new();
            let first = t * blocks_per_task;
            for blk in first..(first + blocks_per_task).min(blocks) {
                let row0 = blk * per;
                let rows = per.min(b * h - row0);
                cols.resize(rows * w * 9 * c, T::default());
                for r in 0..rows {
                    let row = &mut cols[r * w * 9 * c..(r + 1) * w * 9 * c];
                    gather_row(x, d, row0 + r, row, periodic);
                }
                // SAFETY: colsᵀ is 9C×(rows·w) (row stride 1, column stride 9C), the gradient
                // block (rows·w)×cout row-major, acc 9C×cout row-major.
                unsafe {
                    T::gemm(
                        9 * c,
                        rows * w,
                        cout,
                        cols.as_ptr(),
                        1,
                        (9 * c) as isize,
                        g.as_ptr().add(row0 * w * cout),
                        cout as isize,
                        1,
                        T::lit(1.0),
                        acc.as_mut_ptr(),
                        cout as isize,
                        1,
                    );
                }
            }
            acc
        })
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|mut x, y| {
            x.iter_mut().zip(&y).for_each(|(p, q)| *p += *q);
            x
        })
        .unwrap_or_else(|| vec![T::default(); len])
}

/// The fused convolution; `periodic` wraps the taps across the edges.
struct Conv3x3 {
    periodic: bool,
}

impl CustomOp2 for Conv3x3 {
    fn name(&self) -> &'static str {
        "nabla-conv3x3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (d, cout) = shapes(l1, l2)?;
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(k)) => CpuStorage::F32(forward(
                contiguous(x, l1, "conv3x3", "input")?,
                d,
                contiguous(k, l2, "conv3x3", "kernel")?,
                cout,
                self.periodic,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(k)) => CpuStorage::F64(forward(
                contiguous(x, l1, "conv3x3", "input")?,
                d,
                contiguous(k, l2, "conv3x3", "kernel")?,
                cout,
                self.periodic,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "conv3x3: f32 or f64 input and kernel of the same dtype".into(),
                ))
            }
        };
        Ok((out, Shape::from((d[0], d[1], d[2], cout))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let c = x.dim(3)?;
        let periodic = self.periodic;
        let dx = grad.apply_op2_no_bwd(&adjoint_kernel(kernel, c)?, &Conv3x3 { periodic })?;
        let dk = x.apply_op2_no_bwd(&grad, &KernelGrad { periodic })?;
        Ok((Some(dx), Some(dk)))
    }
}

/// `(x, ȳ) ↦ k̄`, the kernel gradient (no backward of its own).
struct KernelGrad {
    periodic: bool,
}

impl CustomOp2 for KernelGrad {
    fn name(&self) -> &'static str {
        "nabla-conv3x3-kernel-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = match *l1.shape().dims() {
            [b, h, w, c] => [b, h, w, c],
            _ => {
                return Err(candle_core::Error::Msg(
                    "conv3x3 kernel grad: x shape".into(),
                ))
            }
        };
        let cout = match *l2.shape().dims() {
            [b, h, w, o] if [b, h, w] == [d[0], d[1], d[2]] => o,
            _ => {
                return Err(candle_core::Error::Msg(
                    "conv3x3 kernel grad: gradient shape".into(),
                ))
            }
        };
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(kernel_grad(
                contiguous(x, l1, "conv3x3", "input")?,
                d,
                contiguous(g, l2, "conv3x3", "gradient")?,
                cout,
                self.periodic,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(kernel_grad(
                contiguous(x, l1, "conv3x3", "input")?,
                d,
                contiguous(g, l2, "conv3x3", "gradient")?,
                cout,
                self.periodic,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "conv3x3 kernel grad: f32 or f64".into(),
                ))
            }
        };
        Ok((out, Shape::from((9 * d[3], cout))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op_util::max_diff;
    use candle_core::{Device, Var};

    /// Values and both gradients equal im2col + matmul's (periodic: on the field extended by
    /// wrapped-around cells), on shapes with one-pixel sides, blocks that split images (W = 3
    /// → 85 rows per block) and several images per block.
    #[test]
    fn fused_matches_im2col_and_matmul_values_and_gradients() {
        let d = Device::Cpu;
        let shapes = [
            (2, 5, 4, 3, 2),
            (1, 1, 3, 2, 5),
            (3, 6, 1, 1, 1),
            (2, 90, 3, 2, 3),
        ];
        for ((b, h, w, c, cout), periodic) in
            shapes.into_iter().flat_map(|s| [(s, false), (s, true)])
        {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, h, w, c), &d).unwrap()).unwrap();
            let k =
                Var::from_tensor(&Tensor::randn(0f64, 1.0, (9 * c, cout), &d).unwrap()).unwrap();
            let probe = Tensor::randn(0f64, 1.0, (b, h, w, cout), &d).unwrap();
            let (fused, reference) = if periodic {
                (
                    conv3x3_periodic(x.as_tensor(), k.as_tensor()).unwrap(),
                    composed_periodic(x.as_tensor(), k.as_tensor()).unwrap(),
                )
            } else {
                (
                    conv3x3(x.as_tensor(), k.as_tensor()).unwrap(),
                    composed(x.as_tensor(), k.as_tensor()).unwrap(),
                )
            };
            let case = format!("({b},{h},{w},{c}) periodic {periodic}");
            assert!(max_diff(&fused, &reference) < 1e-12, "values {case}");
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
            for v in [&x, &k] {
                let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(max_diff(a, r) < 1e-10, "gradient {case}");
            }
        }
    }

    /// The 3 × 4 field 1, 2, …, 12 (row-major) correlated with the kernel of the single tap
    /// `tap` (= (dy + 1)·3 + dx + 1), zero-padded or periodic.
    fn single_tap(tap: usize, periodic: bool) -> Vec<f64> {
        let d = Device::Cpu;
        let x = Tensor::arange(1f64, 13.0, &d)
            .unwrap()
            .reshape((1, 3, 4, 1))
            .unwrap();
        let mut k = vec![0f64; 9];
        k[tap] = 1.0;
        let k = Tensor::from_vec(k, (9, 1), &d).unwrap();
        let y = if periodic {
            conv3x3_periodic(&x, &k)
        } else {
            conv3x3(&x, &k)
        };
        y.unwrap().flatten_all().unwrap().to_vec1().unwrap()
    }

    /// f32 agrees with f64 to single precision, and a single tap reads the right neighbour.
    #[test]
    fn f32_agrees_and_a_single_tap_shifts_the_field() {
        let d = Device::Cpu;
        // Only tap (dy, dx) = (0, 1): y[i, j] = x[i, j + 1], 0 in the last column.
        assert_eq!(
            single_tap(5, false),
            vec![2.0, 3.0, 4.0, 0.0, 6.0, 7.0, 8.0, 0.0, 10.0, 11.0, 12.0, 0.0]
        );
        let x = Tensor::randn(0f32, 1.0, (2, 17, 19, 8), &d).unwrap();
        let k = Tensor::randn(0f32, 0.1, (72, 16), &d).unwrap();
        let single = conv3x3(&x, &k).unwrap().to_dtype(DType::F64).unwrap();
        let double = conv3x3(
            &x.to_dtype(DType::F64).unwrap(),
            &k.to_dtype(DType::F64).unwrap(),
        )
        .unwrap();
        assert!(max_diff(&single, &double) < 1e-5);
    }

    /// Periodic: a single tap reads across the edge, and the map commutes with circular
    /// shifts of the grid.
    #[test]
    fn periodic_taps_wrap_and_commute_with_shifts() {
        let d = Device::Cpu;
        // Tap (dy, dx) = (−1, 1): y[i, j] = x[i − 1 mod 3, j + 1 mod 4].
        assert_eq!(
            single_tap(2, true),
            vec![10.0, 11.0, 12.0, 9.0, 2.0, 3.0, 4.0, 1.0, 6.0, 7.0, 8.0, 5.0]
        );
        let roll = |t: &Tensor, dim: usize, by: usize| {
            let n = t.dim(dim).unwrap();
            Tensor::cat(
                &[
                    t.narrow(dim, n - by, by).unwrap(),
                    t.narrow(dim, 0, n - by).unwrap(),
                ],
                dim,
            )
            .unwrap()
        };
        let x = Tensor::randn(0f64, 1.0, (2, 7, 9, 3), &d).unwrap();
        let k = Tensor::randn(0f64, 1.0, (27, 4), &d).unwrap();
        let shifted_first = conv3x3_periodic(&roll(&roll(&x, 1, 2), 2, 5), &k).unwrap();
        let shifted_after = roll(&roll(&conv3x3_periodic(&x, &k).unwrap(), 1, 2), 2, 5);
        assert!(max_diff(&shifted_first, &shifted_after) < 1e-12);
    }

    /// An empty grid gives an empty result from the candle-op reference too (no wrap to take).
    #[test]
    fn periodic_reference_on_an_empty_grid_is_empty() {
        let d = Device::Cpu;
        let k = Tensor::zeros((18, 3), DType::F64, &d).unwrap();
        for dims in [(1, 0, 4, 2), (2, 3, 0, 2)] {
            let x = Tensor::zeros(dims, DType::F64, &d).unwrap();
            let y = composed_periodic(&x, &k).unwrap();
            assert_eq!(y.dims(), &[dims.0, dims.1, dims.2, 3]);
        }
    }

    #[test]
    fn a_kernel_of_the_wrong_size_is_an_error() {
        let d = Device::Cpu;
        let x = Tensor::zeros((1, 4, 4, 2), DType::F32, &d).unwrap();
        let k = Tensor::zeros((9, 3), DType::F32, &d).unwrap();
        let e = conv3x3(&x, &k).unwrap_err().to_string();
        assert!(e.contains("18 rows"), "{e}");
    }
}
