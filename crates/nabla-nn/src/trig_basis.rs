//! The latent transition of an LSM neural spectral block as one fused op: a learnable operator
//! in a trigonometric basis applied to every latent value, with a residual.
//!
//! `trig_transition(z, w)` on `z` `[R, C]` (channel last) and `w` `[C, 2M]` computes
//!
//! `y[r, c] = z[r, c] + Σ_{m<M} w[c, m] · sin(π m z[r, c] / M) + w[c, M + m] · cos(π m z[r, c] / M)`
//!
//! (sin weights first, then cos: the layout of the LSM authors' basis concatenation).
//!
//! Why fused: from candle ops the basis is a `[R, C, 2M]` tensor — 24× the latent tokens, made by
//! a broadcast product, a sine, a cosine and a concatenation, then multiplied and summed, with
//! as many passes again backward (the sines and cosines evaluated anew). Here each value needs
//! one sine and one cosine — the harmonics come from the angle-addition recurrence (in f64) —
//! and nothing of size `2M` per value is stored; the gradient recomputes them the same way.
//! Off the CPU, or for other dtypes, the same function is built from candle ops.

use crate::fused::Real;
use crate::op_util::contiguous;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// `y = z + Σ_m w_sin · sin(π m z / M) + w_cos · cos(π m z / M)` per channel (module docs),
/// `z` `[R, C]`, `w` `[C, 2M]`. Differentiable in both.
pub fn trig_transition(z: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (_, c) = z.dims2()?;
    let (cw, two_m) = w.dims2()?;
    if cw != c || two_m % 2 != 0 || two_m == 0 {
        return Err(candle_core::Error::Msg(format!(
            "trig_transition: values [R, {c}] need weights [{c}, 2M], got [{cw}, {two_m}]"
        )));
    }
    let fused = z.device().is_cpu()
        && z.dtype() == w.dtype()
        && matches!(z.dtype(), candle_core::DType::F32 | candle_core::DType::F64);
    if fused {
        z.contiguous()?.apply_op2(&w.contiguous()?, Transition)
    } else {
        composed(z, w)
    }
}

/// The same function from candle ops (any device): the reference the fused op is tested
/// against.
pub fn composed(z: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (r, c) = z.dims2()?;
    let m = w.dims2()?.1 / 2;
    let freq: Vec<f64> = (0..m)
        .map(|k| std::f64::consts::PI * k as f64 / m as f64)
        .collect();
    let freq = Tensor::from_vec(freq, (1, 1, m), z.device())?.to_dtype(z.dtype())?;
    let arg = z.reshape((r, c, 1))?.broadcast_mul(&freq)?;
    let basis = Tensor::cat(&[arg.sin()?, arg.cos()?], 2)?;
    let y = basis.broadcast_mul(&w.unsqueeze(0)?)?.sum(2)?;
    y + z
}

/// Rows per parallel task.
const ROWS: usize = 512;

/// Calls `f(m, sin(mθ), cos(mθ))` for m = 0..M with θ = π z / M (angle-addition recurrence).
#[inline]
pub(crate) fn harmonics(z: f64, m_count: usize, mut f: impl FnMut(usize, f64, f64)) {
    let theta = std::f64::consts::PI * z / m_count as f64;
    let (s1, c1) = theta.sin_cos();
    let (mut s, mut c) = (0.0f64, 1.0f64);
    for m in 0..m_count {
        f(m, s, c);
        let next = s * c1 + c * s1;
        c = c * c1 - s * s1;
        s = next;
    }
}

fn forward<T: Real>(z: &[T], w: &[T], c: usize, m: usize) -> Vec<T> {
    let mut y = vec![T::default(); z.len()];
    y.par_chunks_mut(ROWS * c)
        .zip(z.par_chunks(ROWS * c))
        .for_each(|(yo, zi)| {
            for (yr, zr) in yo.chunks_exact_mut(c).zip(zi.chunks_exact(c)) {
                for ch in 0..c {
                    let zv = zr[ch].to_f64();
                    let wc = &w[ch * 2 * m..(ch + 1) * 2 * m];
                    let mut acc = zv;
                    harmonics(zv, m, |k, s, co| {
                        acc += wc[k].to_f64() * s + wc[m + k].to_f64() * co;
                    });
                    yr[ch] = T::lit(acc);
                }
            }
        });
    y
}

/// `(dz, dw)` for the output gradient `g`.
fn backward<T: Real>(z: &[T], w: &[T], g: &[T], c: usize, m: usize) -> (Vec<T>, Vec<f64>) {
    let step = std::f64::consts::PI / m as f64;
    let mut dz = vec![T::default(); z.len()];
    let dw = dz
        .par_chunks_mut(ROWS * c)
        .zip(z.par_chunks(ROWS * c).zip(g.par_chunks(ROWS * c)))
        .map(|(dzo, (zi, gi))| {
            let mut dw = vec![0f64; c * 2 * m];
            for ((dr, zr), gr) in dzo
                .chunks_exact_mut(c)
                .zip(zi.chunks_exact(c))
                .zip(gi.chunks_exact(c))
            {
                for ch in 0..c {
                    let (zv, gv) = (zr[ch].to_f64(), gr[ch].to_f64());
                    let wc = &w[ch * 2 * m..(ch + 1) * 2 * m];
                    let dwc = &mut dw[ch * 2 * m..(ch + 1) * 2 * m];
                    let mut slope = 1.0;
                    harmonics(zv, m, |k, s, co| {
                        let f = step * k as f64;
                        slope += f * (wc[k].to_f64() * co - wc[m + k].to_f64() * s);
                        dwc[k] += gv * s;
                        dwc[m + k] += gv * co;
                    });
                    dr[ch] = T::lit(gv * slope);
                }
            }
            dw
        })
        .reduce(
            || vec![0f64; c * 2 * m],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    (dz, dw)
}

struct Transition;

impl CustomOp2 for Transition {
    fn name(&self) -> &'static str {
        "nabla-trig-transition"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, c) = l1.shape().dims2()?;
        let m = l2.shape().dims2()?.1 / 2;
        let out = match (s1, s2) {
            (CpuStorage::F32(z), CpuStorage::F32(w)) => CpuStorage::F32(forward(
                contiguous(z, l1, "trig_transition", "input")?,
                contiguous(w, l2, "trig_transition", "weights")?,
                c,
                m,
            )),
            (CpuStorage::F64(z), CpuStorage::F64(w)) => CpuStorage::F64(forward(
                contiguous(z, l1, "trig_transition", "input")?,
                contiguous(w, l2, "trig_transition", "weights")?,
                c,
                m,
            )),
            _ => {
                return Err(candle_core::Error::Msg(
                    "trig_transition: f32 or f64, both the same".into(),
                ))
            }
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        z: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, c) = z.dims2()?;
        let m = w.dims2()?.1 / 2;
        let device = z.device();
        macro_rules! go {
            ($t:ty) => {{
                let zv: Vec<$t> = z.flatten_all()?.to_vec1()?;
                let wv: Vec<$t> = w.flatten_all()?.to_vec1()?;
                let gv: Vec<$t> = grad.contiguous()?.flatten_all()?.to_vec1()?;
                let (dz, dw) = backward(&zv, &wv, &gv, c, m);
                (
                    Tensor::from_vec(dz, z.shape(), device)?,
                    Tensor::from_vec(dw, (c, 2 * m), device)?.to_dtype(w.dtype())?,
                )
            }};
        }
        let (dz, dw) = match z.dtype() {
            candle_core::DType::F32 => go!(f32),
            candle_core::DType::F64 => go!(f64),
            d => {
                return Err(candle_core::Error::Msg(format!(
                    "trig_transition: f32 or f64, got {d:?}"
                )))
            }
        };
        Ok((Some(dz), Some(dw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn fused_matches_candle_ops_values_and_gradients() {
        let d = Device::Cpu;
        let z = Var::from_tensor(&Tensor::randn(0f64, 2.0, (900, 6), &d).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f64, 0.3, (6, 24), &d).unwrap()).unwrap();
        let g = Tensor::randn(0f64, 1.0, (900, 6), &d).unwrap();
        let ours = trig_transition(z.as_tensor(), w.as_tensor()).unwrap();
        let theirs = composed(z.as_tensor(), w.as_tensor()).unwrap();
        let diff = (&ours - &theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-12);
        let g1 = (ours * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&z, &w] {
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
    fn refuses_mismatched_weights() {
        let d = Device::Cpu;
        let z = Tensor::zeros((3, 4), candle_core::DType::F32, &d).unwrap();
        let w = Tensor::zeros((5, 8), candle_core::DType::F32, &d).unwrap();
        assert!(trig_transition(&z, &w)
            .unwrap_err()
            .to_string()
            .contains("[4, 2M]"));
    }
}
