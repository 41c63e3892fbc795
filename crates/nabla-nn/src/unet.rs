//! The fully convolutional U-Net of the deep conjugate direction method (DCDM, Kaneda et al.
//! 2023), in 2-D and 3-D, with a configurable number of average-pool levels.
//!
//! Layout: the net takes and returns one channel, `[B, 1, H, W]` (2-D) or `[B, 1, D, H, W]`
//! (3-D). On a nabla grid with `NX×NY(×NZ)` unknowns numbered `i + NX*j (+ NX*NY*k)`, `W = NX`,
//! `H = NY`, `D = NZ`, so a flat grid vector reshapes to the tensor without copying. Inside,
//! activations are channels-last (`[B, H, W, C]`, `[B, D, H, W, C]`).
//!
//! Architecture (the paper's, generalized to `levels` pool levels, with the pooled activation
//! scaled by `coarse_scale`, see [`UNetConfig::coarse_scale`]):
//! - a linear 3×3(×3) input convolution, 1 → `channels`;
//! - at each level an encoder stage of `convs` residual units `x ← ReLU(conv(x)) + x`;
//! - 2×2(×2) average pooling to the next level; at the coarsest level only the encoder stage;
//! - nearest-neighbour upsampling, plus the encoder output of the finer level (skip), then a
//!   decoder stage of `convs` residual units;
//! - a linear 1×1(×1) output convolution, `channels` → 1.
//!
//! All convolutions are zero-padded, which matches the homogeneous Dirichlet boundary of the
//! grid Poisson problems. Inputs whose sides are not multiples of `2^depth` are zero-padded at
//! the high end and the output cropped back, so the net applies to any grid size.
//!
//! With `recurse = true` the net descends as deep as the grid allows (until a side would fall
//! below `coarsest`), reusing the weights of level `levels` for every level below it, like a
//! multigrid V-cycle reuses its smoother: a net trained at 64² then has more levels at 256².
//!
//! Convolutions as one matrix product (im2col): the 3^d shifted copies of the activation
//! (zero-filled at the edges) are concatenated along the channels, `[B·cells, 3^d·C_in]`, and
//! multiplied by the kernel `[3^d·C_in, C_out]` — shifts, a concat and a matmul, all candle ops
//! with gradients. This is how the 3-D variant exists at all (candle has no conv3d; the same code
//! does 27 taps instead of 9), and it is faster on CPU than candle's conv2d for these shapes
//! (measured at 64², batch 8, 16 channels: about 2 s per training step with conv2d). Kernel
//! row `t·C_in + c` holds tap `t = Σ_a (o_a + 1)·3^(d−1−a)` for the offset `o ∈ {−1, 0, 1}^d`
//! over the spatial axes in tensor order (D, H, W), input channel `c`: the output at `p` is
//! `Σ_t Σ_c x[p + o_t, c] · K[t·C_in + c, ·]` (correlation, as in PyTorch).

use crate::{Model, NnError, ParamStore, Precision, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The shape of a [`UNet`]; a serde struct for run configs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Spatial dimension: 2 or 3.
    #[serde(default = "two")]
    pub dim: usize,
    /// Channels of every hidden activation (the paper: 16).
    #[serde(default = "sixteen")]
    pub channels: usize,
    /// Average-pool levels with their own weights (the paper: 1).
    #[serde(default = "one")]
    pub levels: usize,
    /// Residual units per encoder/decoder stage (0 = none: the net is then linear).
    #[serde(default = "two")]
    pub convs: usize,
    /// Descend below `levels` (reusing the weights of level `levels`) until a side would fall
    /// below `coarsest`.
    #[serde(default)]
    pub recurse: bool,
    /// Smallest side length of the coarsest level when `recurse` is on.
    #[serde(default = "four")]
    pub coarsest: usize,
    /// Factor applied to the pooled activation on the way down a level. 4 = (H/h)² makes the
    /// coarse level see the residual in its own h²-scaled units (as a multigrid coarse-grid
    /// correction of the h²-scaled Laplacian does), so smooth components come back amplified
    /// like A⁻¹ amplifies them; with identity stages the net is then a BPX-like additive
    /// multilevel preconditioner from the start. 1 = the paper's plain average pooling.
    #[serde(default = "four_f")]
    pub coarse_scale: f64,
    /// Give every convolution a bias (the paper does). Off by default: without biases the
    /// ReLU net is positively homogeneous, `net(c·b) = c·net(b)` for c > 0, so the scale of the
    /// input (a unit-norm residual has entries ~1/√n) cannot let biases, amplified by
    /// `coarse_scale` per level, swamp the signal.
    #[serde(default)]
    pub bias: bool,
    /// Parameter precision (f32 by default).
    #[serde(default)]
    pub precision: Precision,
    /// Seed of the initialization.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn four() -> usize {
    4
}
fn four_f() -> f64 {
    4.0
}
fn sixteen() -> usize {
    16
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig {
            dim: 2,
            channels: 16,
            levels: 1,
            convs: 2,
            recurse: false,
            coarsest: 4,
            coarse_scale: 4.0,
            bias: false,
            precision: Precision::F32,
            seed: 0,
        }
    }
}

impl UNetConfig {
    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if !(2..=3).contains(&self.dim) {
            return Err(NnError::invalid(
                "dim",
                format!("must be 2 or 3, got {}", self.dim),
            ));
        }
        for (key, v) in [("channels", self.channels), ("coarsest", self.coarsest)] {
            if v == 0 {
                return Err(NnError::invalid(key, "must be ≥ 1"));
            }
        }
        if !(self.coarse_scale.is_finite() && self.coarse_scale > 0.0) {
            return Err(NnError::invalid("coarse_scale", "must be finite and > 0"));
        }
        if self.levels > 12 {
            return Err(NnError::invalid("levels", "must be ≤ 12"));
        }
        Ok(())
    }

    /// Number of pool levels used on a grid with these sides (`[H, W]` or `[D, H, W]`).
    pub fn depth_for(&self, sides: &[usize]) -> usize {
        if !self.recurse {
            return self.levels;
        }
        let min = sides.iter().copied().min().unwrap_or(1);
        let mut depth = 0;
        while depth < 30 && (min >> (depth + 1)) >= self.coarsest {
            depth += 1;
        }
        depth.max(self.levels)
    }

    /// Trainable parameters of the net.
    pub fn parameter_count(&self) -> usize {
        let taps = if self.dim == 3 { 27 } else { 9 };
        let c = self.channels;
        let conv = c * c * taps + c;
        let b = usize::from(self.bias);
        let conv = conv - c * (1 - b);
        let stages = (self.levels + 1) + self.levels + usize::from(self.recurse);
        (taps * c + c * b) + stages * self.convs * conv + (c + b)
    }
}

/// One convolution's weights: kernel `[taps·C_in, C_out]` and optional bias `[C_out]`.
#[derive(Clone, Debug)]
struct Conv {
    weight: Var,
    bias: Option<Var>,
}

/// The DCDM U-Net. See the module docs.
#[derive(Clone, Debug)]
pub struct UNet {
    config: UNetConfig,
    input: Conv,
    /// Encoder stages per level `0..=levels`.
    enc: Vec<Vec<Conv>>,
    /// Decoder stages per level `0..levels` (plus level `levels` when recursing).
    dec: Vec<Vec<Conv>>,
    output: Conv,
    params: ParamStore,
    device: Device,
}

impl UNet {
    /// A freshly initialized net, seeded, biases zero, near the linear multilevel map
    /// `q = Σ_l up^l (coarse_scale^l · pool^l b)`: every kernel is PyTorch's U(−1/√fan_in,
    /// 1/√fan_in) scaled by 0.1, plus 1 on the centre tap of the input convolution (every
    /// channel) and 1/C on the output convolution. With PyTorch's plain init the ReLU branches
    /// dominate, amplified `coarse_scale`-fold per level, and the first directions are nearly
    /// orthogonal to b (loss ≈ 1); this start makes the net a useful preconditioner before any
    /// training, which training then improves.
    pub fn new(config: &UNetConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let mut params = ParamStore::new();
        let dtype = config.precision.dtype();
        let c = config.channels;
        let taps = 3usize.pow(config.dim as u32);
        let centre = taps / 2;
        let mut make =
            |name: &str, rows: usize, cout: usize, params: &mut ParamStore| -> Result<Conv> {
                let a = 0.1 / (rows as f64).sqrt();
                let mut w: Vec<f64> = (0..rows * cout).map(|_| rng.gen_range(-a..a)).collect();
                if name == "input" {
                    w[centre * cout..(centre + 1) * cout]
                        .iter_mut()
                        .for_each(|v| *v += 1.0);
                } else if name == "output" {
                    w.iter_mut().for_each(|v| *v += 1.0 / rows as f64);
                }
                let wt = Tensor::from_vec(w, (rows, cout), device)?.to_dtype(dtype)?;
                let weight = params.add(format!("{name}.weight"), &wt)?;
                let bias = if config.bias {
                    let bt = Tensor::zeros(cout, dtype, device)?;
                    Some(params.add(format!("{name}.bias"), &bt)?)
                } else {
                    None
                };
                Ok(Conv { weight, bias })
            };
        let input = make("input", taps, c, &mut params)?;
        let mut enc = Vec::new();
        let mut dec = Vec::new();
        for l in 0..=config.levels {
            let units = (0..config.convs)
                .map(|u| make(&format!("level{l}.enc{u}"), taps * c, c, &mut params))
                .collect::<Result<Vec<_>>>()?;
            enc.push(units);
            if l < config.levels || config.recurse {
                let units = (0..config.convs)
                    .map(|u| make(&format!("level{l}.dec{u}"), taps * c, c, &mut params))
                    .collect::<Result<Vec<_>>>()?;
                dec.push(units);
            }
        }
        let output = make("output", c, 1, &mut params)?;
        Ok(UNet {
            config: config.clone(),
            input,
            enc,
            dec,
            output,
            params,
            device: device.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// The device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameter dtype.
    pub fn dtype(&self) -> DType {
        self.config.precision.dtype()
    }

    /// Applies the net to `x`: `[B, 1, H, W]` (2-D) or `[B, 1, D, H, W]` (3-D), returning the same
    /// shape. Differentiable.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let nd = self.config.dim;
        if dims.len() != nd + 2 || dims[1] != 1 {
            return Err(NnError::invalid(
                "input",
                format!(
                    "a {nd}-D U-Net takes [B, 1, {}], got {dims:?}",
                    if nd == 3 { "D, H, W" } else { "H, W" }
                ),
            ));
        }
        let sides = &dims[2..];
        let depth = self.config.depth_for(sides);
        let m = 1usize << depth;
        // Channels-last with one channel: a free reshape.
        let mut cl: Vec<usize> = vec![dims[0]];
        cl.extend_from_slice(sides);
        cl.push(1);
        let mut h = x.reshape(cl)?;
        // Zero-pad each side up to a multiple of 2^depth (Dirichlet-consistent), crop after.
        for (a, &s) in sides.iter().enumerate() {
            let pad = s.div_ceil(m) * m - s;
            if pad > 0 {
                h = h.pad_with_zeros(1 + a, 0, pad)?;
            }
        }
        let h = self.conv3(&h, &self.input)?;
        let h = self.level(&h, 0, depth)?;
        let mut y = self.conv1(&h, &self.output)?;
        for (a, &s) in sides.iter().enumerate() {
            if y.dim(1 + a)? != s {
                y = y.narrow(1 + a, 0, s)?;
            }
        }
        Ok(y.contiguous()?.reshape(dims)?)
    }

    fn level(&self, x: &Tensor, l: usize, depth: usize) -> Result<Tensor> {
        let set = l.min(self.config.levels);
        let e = self.stage(x, &self.enc[set])?;
        if l == depth {
            return Ok(e);
        }
        let down = self.pool(&e)?.affine(self.config.coarse_scale, 0.0)?;
        let coarse = self.level(&down, l + 1, depth)?;
        let u = (self.upsample(&coarse)? + &e)?;
        self.stage(&u, &self.dec[set])
    }

    fn stage(&self, x: &Tensor, units: &[Conv]) -> Result<Tensor> {
        let mut h = x.clone();
        for c in units {
            h = (self.conv3(&h, c)?.relu()? + &h)?;
        }
        Ok(h)
    }

    /// `x` shifted by `o` ∈ {−1, 0, 1} along tensor dim `axis`: `y[i] = x[i + o]`, 0 outside.
    fn shift(x: &Tensor, axis: usize, o: isize) -> Result<Tensor> {
        let n = x.dim(axis)?;
        Ok(match o {
            0 => x.clone(),
            _ if n < 2 => x.zeros_like()?,
            1 => x.narrow(axis, 1, n - 1)?.pad_with_zeros(axis, 0, 1)?,
            _ => x.narrow(axis, 0, n - 1)?.pad_with_zeros(axis, 1, 0)?,
        })
    }

    /// Zero-padded 3^d-tap convolution on channels-last `x`, as one matmul (module docs).
    fn conv3(&self, x: &Tensor, c: &Conv) -> Result<Tensor> {
        let nd = self.config.dim;
        let mut taps = vec![x.clone()];
        for a in 0..nd {
            let mut next = Vec::with_capacity(taps.len() * 3);
            for t in &taps {
                for o in [-1isize, 0, 1] {
                    next.push(Self::shift(t, 1 + a, o)?);
                }
            }
            taps = next;
        }
        let cols = Tensor::cat(&taps, nd + 1)?;
        self.dense(&cols, c)
    }

    /// Pointwise affine map of the channels: `[…, C_in] → […, C_out]`.
    fn dense(&self, x: &Tensor, c: &Conv) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let cin = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let cout = c.weight.dims()[1];
        let mut y = x.reshape((rows, cin))?.matmul(c.weight.as_tensor())?;
        if let Some(b) = &c.bias {
            y = y.broadcast_add(b.as_tensor())?;
        }
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = cout;
        Ok(y.reshape(out)?)
    }

    /// 1×1(×1) convolution.
    fn conv1(&self, x: &Tensor, c: &Conv) -> Result<Tensor> {
        self.dense(x, c)
    }

    /// 2×2(×2) average pooling of channels-last `x` (even sides).
    fn pool(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let nd = self.config.dim;
        let mut split = vec![dims[0]];
        for &s in &dims[1..=nd] {
            split.push(s / 2);
            split.push(2);
        }
        split.push(dims[nd + 1]);
        let mut y = x.reshape(split)?;
        for a in (0..nd).rev() {
            y = y.sum(2 + 2 * a)?;
        }
        Ok(y.affine(1.0 / (1usize << nd) as f64, 0.0)?)
    }

    /// Nearest-neighbour ×2 upsampling of channels-last `x`.
    fn upsample(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let nd = self.config.dim;
        let (mut with_ones, mut doubled, mut out) = (vec![dims[0]], vec![dims[0]], vec![dims[0]]);
        for &s in &dims[1..=nd] {
            with_ones.extend([s, 1]);
            doubled.extend([s, 2]);
            out.push(2 * s);
        }
        let c = dims[nd + 1];
        with_ones.push(c);
        doubled.push(c);
        out.push(c);
        Ok(x.reshape(with_ones)?
            .broadcast_as(doubled)?
            .contiguous()?
            .reshape(out)?)
    }
}

impl Model for UNet {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
