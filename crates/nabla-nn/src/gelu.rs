//! GELU (tanh form) as one fused CPU op with a hand-written derivative.
//!
//! candle's `gelu` runs as a chain of elementwise passes (with `powf` for the cube) forward
//! and more backward; in an FNO on a 64² grid those passes took more time than the matrix
//! products. Here the value is one pass and the gradient one more, both with the rational
//! tanh of the crate's (private) `fused` module (within 5e-7 of libm), parallel over chunks
//! with rayon. Off the CPU it falls back to candle's own `gelu`.

use crate::op_util::contiguous;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

const C: f64 = 0.797_884_560_802_865_4; // √(2/π)
const K: f64 = 0.044_715;
const CHUNK: usize = 1 << 14;

#[inline]
pub(crate) fn value_f32(x: f32) -> f32 {
    let u = C as f32 * (x + K as f32 * x * x * x);
    0.5 * x * (1.0 + crate::fused::fast_tanh_f32(u))
}

#[inline]
pub(crate) fn slope_f32(x: f32) -> f32 {
    let u = C as f32 * (x + K as f32 * x * x * x);
    let t = crate::fused::fast_tanh_f32(u);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C as f32 * (1.0 + 3.0 * K as f32 * x * x)
}

#[inline]
pub(crate) fn value_f64(x: f64) -> f64 {
    0.5 * x * (1.0 + (C * (x + K * x * x * x)).tanh())
}

#[inline]
pub(crate) fn slope_f64(x: f64) -> f64 {
    let t = (C * (x + K * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * K * x * x)
}

fn map<T: Copy + Send + Sync + Default>(x: &[T], f: impl Fn(T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &i)| *o = f(i)));
    out
}

fn map2<T: Copy + Send + Sync + Default>(x: &[T], g: &[T], f: impl Fn(T, T) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::default(); x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
        .for_each(|(o, (xi, gi))| {
            o.iter_mut()
                .zip(xi.iter().zip(gi))
                .for_each(|(o, (&x, &g))| *o = f(x, g))
        });
    out
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "nabla-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(map(contiguous(v, l, "gelu", "input")?, value_f32))
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(map(contiguous(v, l, "gelu", "input")?, value_f64))
            }
            _ => return Err(candle_core::Error::Msg("gelu: f32 or f64 only".into())),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?))
    }
}

struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "nabla-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(map2(
                contiguous(x, l1, "gelu", "input")?,
                contiguous(g, l2, "gelu", "gradient")?,
                |x, g| g * slope_f32(x),
            )),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(map2(
                contiguous(x, l1, "gelu", "input")?,
                contiguous(g, l2, "gelu", "gradient")?,
                |x, g| g * slope_f64(x),
            )),
            _ => return Err(candle_core::Error::Msg("gelu grad: f32 or f64 only".into())),
        };
        Ok((out, l1.shape().clone()))
    }
}

struct AddGelu;

impl CustomOp2 for AddGelu {
    fn name(&self) -> &'static str {
        "nabla-add-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            return Err(candle_core::Error::Msg("add_gelu: shapes differ".into()));
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(map2(
                contiguous(a, l1, "gelu", "a")?,
                contiguous(b, l2, "gelu", "b")?,
                |a, b| value_f32(a + b),
            )),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(map2(
                contiguous(a, l1, "gelu", "a")?,
                contiguous(b, l2, "gelu", "b")?,
                |a, b| value_f64(a + b),
            )),
            _ => return Err(candle_core::Error::Msg("add_gelu: f32 or f64 only".into())),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = (a + b)?.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?;
        Ok((Some(g.clone()), Some(g)))
    }
}

/// gelu(a + b) as one op (one graph node instead of two: candle's backward pays a zero-fill
/// and an add per node, which on FNO-sized tensors costs as much as the op).
pub fn add_gelu(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && matches!(a.dtype(), DType::F32 | DType::F64) {
        a.contiguous()?.apply_op2(&b.contiguous()?, AddGelu)
    } else {
        (a + b)?.gelu()
    }
}

/// GELU in its tanh form, ½x(1 + tanh(√(2/π)(x + 0.044715x³))) — the same function as
/// candle's `Tensor::gelu` — differentiable, fused into one pass on the CPU for f32/f64.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu()
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn matches_candle_gelu_and_its_gradient() {
        for dtype in [candle_core::DType::F32, candle_core::DType::F64] {
            let xs: Vec<f64> = (-400..=400).map(|i| i as f64 * 0.02).collect();
            let x = Var::from_tensor(
                &Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let ours = super::gelu(x.as_tensor()).unwrap();
            let theirs = x.as_tensor().gelu().unwrap();
            let d = (&ours - &theirs).unwrap().abs().unwrap().max(0).unwrap();
            let d: f64 = d
                .to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 5e-6, "{dtype:?} value {d}");
            let g1 = ours.sum_all().unwrap().backward().unwrap();
            let g2 = theirs.sum_all().unwrap().backward().unwrap();
            let d = (g1.get(&x).unwrap() - g2.get(&x).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max(0)
                .unwrap();
            let d: f64 = d
                .to_dtype(candle_core::DType::F64)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 5e-6, "{dtype:?} gradient {d}");
        }
    }
}
