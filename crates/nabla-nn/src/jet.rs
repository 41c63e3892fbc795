//! Taylor-mode derivative jets: u, ∇u and pure second derivatives (Laplacian) in one forward
//! pass, as ordinary candle ops.
//!
//! A jet carries, per point and per hidden unit, the value h, its first derivatives ∂ᵢh along a
//! set of input directions eᵢ and (for a subset) its second derivatives ∂ᵢ²h. Through an affine
//! layer z = Wx + b: ∂z = W∂x, ∂²z = W∂²x; through an activation a = σ(z): ∂a = σ'(z)∂z,
//! ∂²a = σ''(z)(∂z)² + σ'(z)∂²z. Everything is a tensor op, so one `backward()` of any loss
//! built from a [`Jet`] gives the parameter gradients (no second-order autodiff needed).
//!
//! Cost: about (1 + |first ∪ second| + |second|) forward passes, and memory grows with the
//! number of directions carried — for SDGD ([`JetSpec::sampled_laplacian`]) with the sampled
//! count, not with d.

use crate::{Mlp, NnError, Result};
use candle_core::Tensor;
use rand::seq::index::sample;
use rand::Rng;

/// Which derivatives a jet computes. Build one with the constructors, e.g.
/// [`JetSpec::laplacian`] for Poisson or [`JetSpec::sampled_laplacian`] for SDGD.
#[derive(Clone, Debug, PartialEq)]
pub struct JetSpec {
    /// Input dimension d.
    pub dim: usize,
    /// Input dimensions whose first derivatives are returned in [`Jet::grad`], in this order.
    pub first: Vec<usize>,
    /// Input dimensions whose pure second derivatives ∂²u/∂xᵢ² are returned in
    /// [`Jet::second`], in this order.
    pub second: Vec<usize>,
    /// [`Jet::laplacian`] is `laplacian_scale · Σᵢ∈second ∂²u/∂xᵢ²` (1 for an exact Laplacian,
    /// d/k for an unbiased SDGD estimate from k sampled dimensions).
    pub laplacian_scale: f64,
    /// Only the Laplacian is wanted, not the individual ∂²u/∂xᵢ² ([`Jet::second`] is then
    /// `None`): the fused CPU jet carries one summed second-order row instead of |second|,
    /// which is cheaper (at d = 2, 4 rows per point instead of 5). Set with
    /// [`JetSpec::laplacian_only`].
    pub sum_second: bool,
}

impl JetSpec {
    /// Value only (no derivatives).
    pub fn value(dim: usize) -> Self {
        JetSpec {
            dim,
            first: vec![],
            second: vec![],
            laplacian_scale: 1.0,
            sum_second: false,
        }
    }

    /// Value and full gradient.
    pub fn gradient(dim: usize) -> Self {
        JetSpec {
            first: (0..dim).collect(),
            ..Self::value(dim)
        }
    }

    /// Value, full gradient and the Laplacian over all d dimensions.
    pub fn laplacian(dim: usize) -> Self {
        JetSpec {
            first: (0..dim).collect(),
            second: (0..dim).collect(),
            ..Self::value(dim)
        }
    }

    /// Value, full gradient, and the Laplacian over `dims` only (e.g. the space dimensions of
    /// a space-time input (x, y, t): `laplacian_over(3, &[0, 1])`). Also returns the listed
    /// pure second derivatives (e.g. u_xx for Burgers).
    pub fn laplacian_over(dim: usize, dims: &[usize]) -> Self {
        JetSpec {
            first: (0..dim).collect(),
            second: dims.to_vec(),
            ..Self::value(dim)
        }
    }

    /// SDGD: value and an unbiased estimate of the full Laplacian from the sampled dimensions
    /// `dims` (k of them): (d/k)·Σᵢ∈dims ∂²u/∂xᵢ². No gradient, so the memory per step grows
    /// with k, not d. Sample `dims` with [`sample_dims`].
    pub fn sampled_laplacian(dim: usize, dims: &[usize]) -> Self {
        let k = dims.len().max(1);
        JetSpec {
            second: dims.to_vec(),
            laplacian_scale: dim as f64 / k as f64,
            ..Self::value(dim)
        }
    }

    /// Return the Laplacian but not the individual second derivatives (see
    /// [`JetSpec::sum_second`]).
    pub fn laplacian_only(mut self) -> Self {
        self.sum_second = true;
        self
    }

    /// Also return the first derivatives along `dims` (replaces [`JetSpec::first`]).
    pub fn with_first(mut self, dims: &[usize]) -> Self {
        self.first = dims.to_vec();
        self
    }

    /// Checks indices against `dim` and for repeats.
    pub fn validate(&self) -> Result<()> {
        for (what, list) in [("first", &self.first), ("second", &self.second)] {
            let mut seen = vec![false; self.dim];
            for &i in list.iter() {
                if i >= self.dim {
                    return Err(NnError::invalid(
                        format!("jet {what} dimensions"),
                        format!("index {i} is out of range for input dimension {}", self.dim),
                    ));
                }
                if std::mem::replace(&mut seen[i], true) {
                    return Err(NnError::invalid(
                        format!("jet {what} dimensions"),
                        format!("index {i} is listed twice"),
                    ));
                }
            }
        }
        if !self.laplacian_scale.is_finite() {
            return Err(NnError::invalid("jet laplacian_scale", "not finite"));
        }
        Ok(())
    }

    /// The directions carried through the network: the second-order ones first, then the
    /// remaining first-order ones.
    fn directions(&self) -> Vec<usize> {
        let mut dirs = self.second.clone();
        for &i in &self.first {
            if !dirs.contains(&i) {
                dirs.push(i);
            }
        }
        dirs
    }
}

/// Samples `k` distinct dimensions out of `d`, uniformly without replacement, sorted — the
/// SDGD subset for one step. With [`JetSpec::sampled_laplacian`] the Laplacian estimate is
/// unbiased.
pub fn sample_dims<R: Rng + ?Sized>(d: usize, k: usize, rng: &mut R) -> Vec<usize> {
    let k = k.min(d);
    let mut v = sample(rng, d, k).into_vec();
    v.sort_unstable();
    v
}

/// The result of a jet forward pass over `n` points (model output width `m`).
#[derive(Clone, Debug)]
pub struct Jet {
    /// u, shape `[n, m]`.
    pub value: Tensor,
    /// First derivatives ∂u/∂xᵢ for i in [`JetSpec::first`], shape `[n, |first|, m]`
    /// (`None` when `first` is empty).
    pub grad: Option<Tensor>,
    /// Pure second derivatives ∂²u/∂xᵢ² for i in [`JetSpec::second`], shape
    /// `[n, |second|, m]` (`None` when `second` is empty).
    pub second: Option<Tensor>,
    /// `laplacian_scale · Σ second`, shape `[n, m]` (`None` when `second` is empty).
    pub laplacian: Option<Tensor>,
}

impl Jet {
    /// ∂u/∂x_{first\[j\]} as `[n, m]`: column `j` of the gradient (an index into
    /// [`JetSpec::first`], which for full gradients is the input dimension).
    pub fn d1(&self, j: usize) -> Result<Tensor> {
        let g = self
            .grad
            .as_ref()
            .ok_or_else(|| NnError::invalid("jet", "no first derivatives were requested"))?;
        Ok(g.narrow(1, j, 1)?.squeeze(1)?)
    }

    /// ∂²u/∂x_{second\[j\]}² as `[n, m]` (an index into [`JetSpec::second`]).
    pub fn d2(&self, j: usize) -> Result<Tensor> {
        let g = self
            .second
            .as_ref()
            .ok_or_else(|| NnError::invalid("jet", "no second derivatives were requested"))?;
        Ok(g.narrow(1, j, 1)?.squeeze(1)?)
    }

    /// The Laplacian (or its SDGD estimate), `[n, m]`.
    pub fn lap(&self) -> Result<&Tensor> {
        self.laplacian
            .as_ref()
            .ok_or_else(|| NnError::invalid("jet", "no second derivatives were requested"))
    }
}

/// The running state of a jet inside a network: value `[n, w]`, first derivatives `[b, D, w]`
/// and second derivatives `[n, k, w]` (absent = identically zero), where `b` is 1 while the
/// derivatives are the same for every point (before the first nonlinearity) and `n` after.
pub(crate) struct JetState {
    pub value: Tensor,
    pub d1: Option<Tensor>,
    pub d2: Option<Tensor>,
    pub k: usize,
}

impl JetState {
    fn linear(self, layer: &crate::mlp::Dense) -> Result<Self> {
        Ok(JetState {
            value: layer.forward(&self.value)?,
            d1: self.d1.map(|t| layer.forward_linear3(&t)).transpose()?,
            d2: self.d2.map(|t| layer.forward_linear3(&t)).transpose()?,
            k: self.k,
        })
    }

    fn activate(
        self,
        f: impl Fn(&Tensor, bool) -> Result<(Tensor, Tensor, Option<Tensor>)>,
    ) -> Result<Self> {
        let need2 = self.k > 0;
        let (a, s1, s2) = f(&self.value, need2)?;
        let s1u = s1.unsqueeze(1)?;
        let d2 = if need2 {
            let d1 = self
                .d1
                .as_ref()
                .ok_or_else(|| NnError::invalid("jet", "internal: missing first derivatives"))?;
            let s2 = s2.ok_or_else(|| NnError::invalid("jet", "internal: missing σ''"))?;
            let dk = d1.narrow(1, 0, self.k)?.sqr()?;
            let mut t = s2.unsqueeze(1)?.broadcast_mul(&dk)?;
            if let Some(prev) = &self.d2 {
                t = (t + s1u.broadcast_mul(prev)?)?;
            }
            Some(t)
        } else {
            None
        };
        let d1 = self.d1.map(|t| s1u.broadcast_mul(&t)).transpose()?;
        Ok(JetState {
            value: a,
            d1,
            d2,
            k: self.k,
        })
    }
}

impl Mlp {
    /// Taylor-mode forward pass: u and the derivatives `spec` asks for at the points `x`
    /// (`[n, d]`, converted to the model dtype), differentiable with respect to the parameters.
    ///
    /// On the CPU, for tanh and sin networks with one output and no Fourier features, this
    /// runs as one fused operation with a hand-written backward pass (see the private `fused`
    /// module's docs: ~10× faster); otherwise, and in [`Mlp::jet_unfused`], as candle ops.
    pub fn jet(&self, x: &Tensor, spec: &JetSpec) -> Result<Jet> {
        let fusable = self.device().is_cpu()
            && self.fourier_b.is_none()
            && self.out_dim() == 1
            && crate::fused::supports(self.config().activation);
        if !fusable {
            return self.jet_unfused(x, spec);
        }
        self.check_jet_input(x, spec)?;
        let dirs = spec.directions();
        let k = spec.second.len();
        let first_pos: Vec<usize> = spec
            .first
            .iter()
            .map(|i| dirs.iter().position(|d| d == i).unwrap_or(0))
            .collect();
        let f = first_pos.len();
        let net = crate::fused::FusedJet {
            widths: self.config().widths.clone(),
            activation: self.config().activation,
            dirs,
            k,
            first_pos,
            sum_second: spec.sum_second,
        };
        let mut parts = Vec::with_capacity(2 * self.layers.len());
        for layer in &self.layers {
            parts.push(layer.weight.as_tensor().flatten_all()?);
            parts.push(layer.bias.as_tensor().flatten_all()?);
        }
        let theta = Tensor::cat(&parts, 0)?;
        let x = x.to_dtype(self.dtype())?;
        let out = net.apply(&x, &theta)?;
        let value = out.narrow(1, 0, 1)?;
        let grad = if f > 0 {
            Some(out.narrow(1, 1, f)?.unsqueeze(2)?)
        } else {
            None
        };
        let (second, laplacian) = if k > 0 && spec.sum_second {
            let s = out.narrow(1, 1 + f, 1)?;
            (None, Some((s * spec.laplacian_scale)?))
        } else if k > 0 {
            let s = out.narrow(1, 1 + f, k)?;
            let lap = (s.sum_keepdim(1)? * spec.laplacian_scale)?;
            (Some(s.unsqueeze(2)?), Some(lap))
        } else {
            (None, None)
        };
        Ok(Jet {
            value,
            grad,
            second,
            laplacian,
        })
    }

    /// Taylor-mode forward pass from an input whose derivatives vary per point: the network
    /// is applied to inputs v(x) (`value`, `[n, d]`) given their first derivatives
    /// ∂v/∂xᵢ along D directions (`d1`, `[n, D, d]`) and, for the first k of those directions,
    /// their pure second derivatives ∂²v/∂xᵢ² (`d2`, `[n, k, d]`; `None` for first
    /// derivatives only). Returns u = net(v(x)) with ∂u/∂xᵢ for all D directions
    /// ([`Jet::grad`]) and, when `d2` is given, ∂²u/∂xᵢ² for the k directions and their sum
    /// ([`Jet::laplacian`]) — the chain rule for a network fed by a smooth feature map (e.g.
    /// interpolated latent features of a point-query operator). Candle ops on any device;
    /// differentiable in the parameters and in the inputs. Fourier-feature networks are
    /// rejected.
    pub fn jet_from_input(&self, value: &Tensor, d1: &Tensor, d2: Option<&Tensor>) -> Result<Jet> {
        self.check_input(value)?;
        if self.fourier_b.is_some() {
            return Err(NnError::invalid(
                "jet",
                "jet_from_input does not support Fourier-feature networks",
            ));
        }
        let dtype = self.dtype();
        let (n, d) = value.dims2()?;
        let (n1, dirs, d_1) = d1.dims3()?;
        if n1 != n || d_1 != d {
            return Err(NnError::invalid(
                "jet",
                format!(
                    "first derivatives are {:?}, expected [{n}, D, {d}]",
                    d1.dims()
                ),
            ));
        }
        let k = match d2 {
            Some(t) => {
                let (n2, k, d_2) = t.dims3()?;
                if n2 != n || d_2 != d || k > dirs {
                    return Err(NnError::invalid(
                        "jet",
                        format!(
                            "second derivatives are {:?}, expected [{n}, k ≤ {dirs}, {d}]",
                            t.dims()
                        ),
                    ));
                }
                k
            }
            None => 0,
        };
        let st = self.propagate(JetState {
            value: value.to_dtype(dtype)?,
            d1: Some(d1.to_dtype(dtype)?),
            d2: d2.map(|t| t.to_dtype(dtype)).transpose()?,
            k,
        })?;
        let (second, laplacian) = if k > 0 {
            let d2 = match st.d2 {
                Some(t) => t,
                None => Tensor::zeros((n, k, self.out_dim()), dtype, value.device())?,
            };
            let lap = d2.sum(1)?;
            (Some(d2), Some(lap))
        } else {
            (None, None)
        };
        Ok(Jet {
            value: st.value,
            grad: st.d1,
            second,
            laplacian,
        })
    }

    /// A jet through the affine layers and activations (none after the last layer).
    fn propagate(&self, mut st: JetState) -> Result<JetState> {
        let last = self.layers.len() - 1;
        let act = self.config().activation;
        for (i, layer) in self.layers.iter().enumerate() {
            st = st.linear(layer)?;
            if i < last {
                st = st.activate(|t, two| act.with_derivatives(t, two))?;
            }
        }
        Ok(st)
    }

    /// Checks the points against the network and the spec against the points.
    fn check_jet_input(&self, x: &Tensor, spec: &JetSpec) -> Result<()> {
        self.check_input(x)?;
        if spec.dim != self.in_dim() {
            return Err(NnError::invalid(
                "jet",
                format!(
                    "spec is for input dimension {}, the network has {}",
                    spec.dim,
                    self.in_dim()
                ),
            ));
        }
        spec.validate()
    }

    /// The jet built from ordinary candle ops (any device, activation and output width): the
    /// reference the fused CPU path is tested against.
    pub fn jet_unfused(&self, x: &Tensor, spec: &JetSpec) -> Result<Jet> {
        self.check_jet_input(x, spec)?;
        let dtype = self.dtype();
        let dev = self.device().clone();
        let x = x.to_dtype(dtype)?;
        let n = x.dims()[0];
        let dirs = spec.directions();
        let k = spec.second.len();
        // Seed directions: one-hot rows e_i, shared by all points: [1, D, d].
        let d1 = if dirs.is_empty() {
            None
        } else {
            let mut onehot = vec![0f64; dirs.len() * spec.dim];
            for (j, &i) in dirs.iter().enumerate() {
                onehot[j * spec.dim + i] = 1.0;
            }
            Some(Tensor::from_vec(onehot, (1, dirs.len(), spec.dim), &dev)?.to_dtype(dtype)?)
        };
        let mut st = JetState {
            value: x,
            d1,
            d2: None,
            k,
        };
        if let Some(b) = &self.fourier_b {
            // z = (2πB) x, then [sin z, cos z]: both are activations with closed-form jets.
            let lin = crate::mlp::Dense {
                weight: b.clone(),
                bias: candle_core::Var::zeros(b.dims()[0], dtype, &dev)?,
            };
            let z = st.linear(&lin)?;
            let zc = JetState {
                value: z.value.clone(),
                d1: z.d1.clone(),
                d2: None,
                k,
            };
            let s = z.activate(|t, two| {
                let (s, c) = (t.sin()?, t.cos()?);
                let d2 = if two { Some(s.neg()?) } else { None };
                Ok((s, c, d2))
            })?;
            let c = zc.activate(|t, two| {
                let (s, c) = (t.sin()?, t.cos()?);
                let d2 = if two { Some(c.neg()?) } else { None };
                Ok((c, s.neg()?, d2))
            })?;
            let cat = |a: Option<Tensor>, b: Option<Tensor>| -> Result<Option<Tensor>> {
                match (a, b) {
                    (Some(a), Some(b)) => Ok(Some(Tensor::cat(&[a, b], 2)?)),
                    _ => Ok(None),
                }
            };
            st = JetState {
                value: Tensor::cat(&[s.value, c.value], 1)?,
                d1: cat(s.d1, c.d1)?,
                d2: cat(s.d2, c.d2)?,
                k,
            };
        }
        let st = self.propagate(st)?;
        let m = self.out_dim();
        let broadcast_n = |t: Tensor| -> Result<Tensor> {
            let (b, dd, w) = t.dims3()?;
            Ok(if b == n {
                t
            } else {
                t.broadcast_as((n, dd, w))?.contiguous()?
            })
        };
        // First derivatives in the order of spec.first.
        let grad = match (&st.d1, spec.first.is_empty()) {
            (Some(d1), false) => {
                let d1 = broadcast_n(d1.clone())?;
                let pos: Vec<u32> = spec
                    .first
                    .iter()
                    .map(|i| dirs.iter().position(|d| d == i).unwrap_or(0) as u32)
                    .collect();
                let identity =
                    pos.len() == dirs.len() && pos.iter().enumerate().all(|(a, &b)| a as u32 == b);
                Some(if identity {
                    d1
                } else {
                    let idx = Tensor::new(pos.as_slice(), &dev)?;
                    d1.index_select(&idx, 1)?
                })
            }
            _ => None,
        };
        let (second, laplacian) = if k > 0 {
            let d2 = match st.d2 {
                Some(t) => t,
                // A purely linear network (no hidden layer): second derivatives vanish.
                None => Tensor::zeros((n, k, m), dtype, &dev)?,
            };
            let lap = (d2.sum(1)? * spec.laplacian_scale)?;
            (Some(d2).filter(|_| !spec.sum_second), Some(lap))
        } else {
            (None, None)
        };
        Ok(Jet {
            value: st.value,
            grad,
            second,
            laplacian,
        })
    }
}
