//! Activation functions with the first and second derivatives the jets need.

use crate::Result;
use candle_core::Tensor;
use std::fmt;
use std::str::FromStr;

/// A pointwise activation σ. Each has closed-form σ' and σ'' built from candle ops, so jets
/// through it stay differentiable with respect to the parameters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// tanh(z).
    #[default]
    Tanh,
    /// sin(z).
    Sin,
    /// Exact GELU, z·Φ(z) with Φ the standard normal CDF (erf form).
    Gelu,
    /// SiLU (swish), z·sigmoid(z).
    Silu,
}

const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Activation {
    /// σ(z), elementwise.
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Tanh => z.tanh()?,
            Activation::Sin => z.sin()?,
            Activation::Gelu => (z * &normal_cdf(z)?)?,
            Activation::Silu => (z * &sigmoid(z)?)?,
        })
    }

    /// (σ(z), σ'(z), σ''(z)), elementwise; σ'' only when `second` is true.
    pub fn with_derivatives(
        &self,
        z: &Tensor,
        second: bool,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        Ok(match self {
            Activation::Tanh => {
                let t = z.tanh()?;
                let d1 = (1.0 - t.sqr()?)?;
                let d2 = if second {
                    Some(((&t * &d1)? * -2.0)?)
                } else {
                    None
                };
                (t, d1, d2)
            }
            Activation::Sin => {
                let s = z.sin()?;
                let c = z.cos()?;
                let d2 = if second { Some(s.neg()?) } else { None };
                (s, c, d2)
            }
            Activation::Gelu => {
                // g = zΦ, g' = Φ + zφ, g'' = φ(2 − z²)
                let cdf = normal_cdf(z)?;
                let pdf = normal_pdf(z)?;
                let g = (z * &cdf)?;
                let d1 = (&cdf + (z * &pdf)?)?;
                let d2 = if second {
                    Some((&pdf * (2.0 - z.sqr()?)?)?)
                } else {
                    None
                };
                (g, d1, d2)
            }
            Activation::Silu => {
                // s = sigmoid, f = zs, f' = s(1 + z(1−s)), f'' = s(1−s)(2 + z(1−2s))
                let s = sigmoid(z)?;
                let one_minus = (1.0 - &s)?;
                let f = (z * &s)?;
                let d1 = (&s * ((z * &one_minus)? + 1.0)?)?;
                let d2 = if second {
                    let s1s = (&s * &one_minus)?;
                    let inner = ((z * ((&s * -2.0)? + 1.0)?)? + 2.0)?;
                    Some((s1s * inner)?)
                } else {
                    None
                };
                (f, d1, d2)
            }
        })
    }
}

fn sigmoid(z: &Tensor) -> Result<Tensor> {
    Ok((z.neg()?.exp()? + 1.0)?.recip()?)
}

fn normal_cdf(z: &Tensor) -> Result<Tensor> {
    Ok((((z * INV_SQRT_2)?.erf()? + 1.0)? * 0.5)?)
}

fn normal_pdf(z: &Tensor) -> Result<Tensor> {
    Ok(((z.sqr()? * -0.5)?.exp()? * INV_SQRT_2PI)?)
}

impl FromStr for Activation {
    type Err = crate::NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tanh" => Ok(Activation::Tanh),
            "sin" => Ok(Activation::Sin),
            "gelu" => Ok(Activation::Gelu),
            "silu" | "swish" => Ok(Activation::Silu),
            _ => Err(crate::NnError::invalid(
                "activation",
                format!("'{s}' is not one of tanh, sin, gelu, silu"),
            )),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Tanh => "tanh",
            Activation::Sin => "sin",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        })
    }
}
