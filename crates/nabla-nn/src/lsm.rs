//! Latent Spectral Model (LSM; Wu et al., "Solving High-Dimensional PDEs with Latent Spectral
//! Models", ICML 2023), 2-D, as the paper defines it: a multiscale U-Net-shaped encoder–decoder
//! whose skip connections pass through *neural spectral blocks*.
//!
//! Layout: channels-last like [`crate::Fno`], `[B, H, W, C_in] → [B, H, W, C_out]` on a grid
//! with endpoints at 0 and 1 (the two grid coordinates are appended as input channels).
//!
//! Architecture, for `scales` = S levels and `width` = w:
//! - lift: pointwise linear `C_in + 2 → w`; zero padding at the high end of each axis by
//!   `padding` (a fraction of the axis) and then up to a multiple of `patch · 2^(S−1)` (so
//!   every level splits into whole patches; the output is cropped back — any grid size works);
//! - encoder: level 0 is a double convolution (3×3 conv, batch norm, ReLU, twice; no conv
//!   biases, as before a batch norm); each level k ≥ 1 is a 2×2 max pool and a double
//!   convolution to `c_k` channels, `c_k = w·2^k` for k ≤ S−2 and `c_{S−1} = c_{S−2}`;
//! - at every level the encoder output goes through a neural spectral block (below) before the
//!   decoder uses it;
//! - decoder: from the coarsest level up, bilinear ×2 upsampling (corners aligned), concatenated
//!   after the finer level's block output, and a double convolution `2c_k → c_k/2` (mid
//!   channels `c_k`; `w` at level 0);
//! - a pointwise linear `w → w`, the crop, and the projection `w → projection → C_out` with a
//!   GELU between.
//!
//! The neural spectral block on `[B, h, w, C]` features: cut into `patch × patch` patches
//! (`L = patch²` positions each), per patch
//! 1. *encode*: `heads` groups of `latent_tokens` learnable tokens `z` attend to the patch,
//!    `z ← softmax(z kᵀ) v + z` with keys and values a pointwise linear map of the features
//!    (no 1/√d scaling, as in the authors' code);
//! 2. *transition*: each latent value z gets a learnable operator in a trigonometric basis,
//!    `z ← Σ_m w_{c,m} sin(π m z / M) + w'_{c,m} cos(π m z / M) + z` over `m < M = basis`;
//! 3. *decode*: the patch attends to its tokens, `x ← softmax(q zᵀ) z + x` with queries a
//!    pointwise linear map of x;
//!
//! and the patches are put back together. Batch norm uses the batch's statistics in
//! [`Lsm::forward_train`] (updating running averages with momentum 0.1, stored as frozen
//! parameters so checkpoints carry them) and the running averages in [`Lsm::forward`].
//!
//! On the CPU every layer is a fused op with its own backward pass (candle's autograd gives
//! each graph node a zero-filled gradient buffer and an accumulation pass, so fewer, larger
//! nodes are faster): the 3×3 convolution [`crate::conv3x3::conv3x3`] (neighbourhoods gathered
//! block by block, never stored), batch norm + ReLU [`crate::batch_norm::batch_norm_relu`], the
//! whole neural spectral block [`crate::spectral_block::spectral_block`], 2×2 max pooling
//! [`crate::max_pool::max_pool2x2`], bilinear upsampling [`crate::upsample::upsample_bilinear2x`],
//! the pointwise maps [`crate::linear::linear`] and the projection head
//! [`crate::gelu_head::gelu_head`]. Each falls back to candle ops off the CPU.

use crate::batch_norm::{batch_norm_relu, BatchStats};
use crate::{Model, NnError, ParamStore, Precision, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The shape of an [`Lsm`]; a serde struct for run configs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsmConfig {
    /// Input channels (without the two grid coordinates).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Channels at the finest level, w (the paper: 64; a multiple of `heads`).
    pub width: usize,
    /// Levels of the encoder–decoder, S ≥ 1 (the paper: 5).
    pub scales: usize,
    /// Latent tokens per head in each spectral block (the paper: 4).
    pub latent_tokens: usize,
    /// Trigonometric basis size M (the paper: 12).
    pub basis: usize,
    /// Patch side in grid cells (the paper: 6 on Darcy 85², 4 on Navier–Stokes 64²).
    pub patch: usize,
    /// Attention heads (the paper: 8).
    pub heads: usize,
    /// Extra zero padding at the high end of each axis, as a fraction of it (non-periodic
    /// problems; the paper pads Darcy 85² by 11 cells).
    pub padding: f64,
    /// Hidden width of the projection (the paper: 128).
    pub projection: usize,
    /// Periodic domain (a torus, e.g. Navier–Stokes on the unit torus): the 3×3 convolutions
    /// read across the edges ([`crate::conv3x3::conv3x3_periodic`]) and the upsampling wraps
    /// ([`crate::upsample::upsample_bilinear2x_periodic`]) instead of zero padding and aligned
    /// corners. Needs `padding = 0` and sides that are whole multiples of
    /// `patch · 2^(scales−1)` (no padding to whole patches). Default false (the paper's zero
    /// padding).
    #[serde(default)]
    pub periodic: bool,
    /// A pointwise linear path from the input channels straight to the output, `y += a · K`
    /// with `K` `[C_in, C_out]` (not in the paper), starting as a copy of the last input
    /// channel into every output channel. For an autoregressive series (the last channel is
    /// the newest frame) the model then starts as "the next frame is the last one" and the
    /// network learns the increment, instead of carrying the last frame to within a percent
    /// through its batch norms and ReLUs; `K` stays trainable. Default false.
    #[serde(default)]
    pub linear_skip: bool,
    /// Parameter precision.
    pub precision: Precision,
    /// Seed of the initialization.
    pub seed: u64,
}

impl Default for LsmConfig {
    fn default() -> Self {
        LsmConfig {
            in_channels: 1,
            out_channels: 1,
            width: 32,
            scales: 5,
            latent_tokens: 4,
            basis: 12,
            patch: 4,
            heads: 8,
            padding: 0.0,
            projection: 128,
            periodic: false,
            linear_skip: false,
            precision: Precision::F32,
            seed: 0,
        }
    }
}

impl LsmConfig {
    /// Checks the shape; errors name the field.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("width", self.width),
            ("scales", self.scales),
            ("latent_tokens", self.latent_tokens),
            ("basis", self.basis),
            ("patch", self.patch),
            ("heads", self.heads),
            ("projection", self.projection),
        ] {
            if v == 0 {
                return Err(NnError::invalid(what, "must be ≥ 1"));
            }
        }
        if self.scales > 8 {
            return Err(NnError::invalid(
                "scales",
                format!("{} levels: at most 8 (each halves the grid)", self.scales),
            ));
        }
        if !self.width.is_multiple_of(self.heads) {
            return Err(NnError::invalid(
                "width",
                format!(
                    "{} is not a multiple of heads = {} (each head takes width/heads channels)",
                    self.width, self.heads
                ),
            ));
        }
        if !(self.padding.is_finite() && (0.0..=1.0).contains(&self.padding)) {
            return Err(NnError::invalid(
                "padding",
                format!("{} is not a fraction in [0, 1]", self.padding),
            ));
        }
        if self.periodic && self.padding > 0.0 {
            return Err(NnError::invalid(
                "periodic",
                format!(
                    "a periodic LSM takes no padding (padding = {}): the field wraps around",
                    self.padding
                ),
            ));
        }
        Ok(())
    }

    /// Channels at level k.
    pub fn channels(&self, k: usize) -> usize {
        if self.scales == 1 {
            return self.width;
        }
        self.width << k.min(self.scales - 2)
    }

    /// Grid sides must be (after padding) multiples of this: `patch · 2^(scales−1)`.
    pub fn multiple(&self) -> usize {
        self.patch << (self.scales - 1)
    }

    /// The padded side for an axis of `n` points.
    pub fn padded(&self, n: usize) -> usize {
        let extra = (self.padding * n as f64).round() as usize;
        (n + extra).div_ceil(self.multiple()) * self.multiple()
    }
}

/// Batch normalization of channels-last features: trainable scale and shift, running mean
/// and variance as frozen parameters.
struct BatchNorm {
    gamma: Var,
    beta: Var,
    mean: Var,
    var: Var,
}

/// A 3×3 convolution without bias followed by batch norm and ReLU.
struct ConvBnRelu {
    /// Kernel `[9·C_in, C_out]`, row `t·C_in + c` for tap t = (dy+1)·3 + (dx+1).
    weight: Var,
    norm: BatchNorm,
}

/// A pointwise affine map `[…, C_in] → […, C_out]`.
struct Dense {
    weight: Var,
    bias: Var,
}

/// One neural spectral block.
struct SpectralBlock {
    /// `heads × latent_tokens × C/heads` learnable latent tokens.
    latent: Var,
    /// Keys and values: `C → 2C`.
    encode: Dense,
    /// Queries: `C → C`.
    decode: Dense,
    /// Basis weights `[C, 2M]` (sin then cos).
    weights: Var,
}

/// Whether batch norm uses the batch's statistics (and updates the running ones).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Train,
    Eval,
}

/// A 2-D Latent Spectral Model (module docs).
pub struct Lsm {
    config: LsmConfig,
    lift: Dense,
    /// Encoder double convolutions per level.
    encoder: Vec<[ConvBnRelu; 2]>,
    /// Spectral blocks per level.
    blocks: Vec<SpectralBlock>,
    /// Decoder double convolutions per level `0..scales−1`.
    decoder: Vec<[ConvBnRelu; 2]>,
    out: Dense,
    project: [Dense; 2],
    /// The input-to-output linear path `[C_in, C_out]` (`LsmConfig::linear_skip`).
    skip: Option<Var>,
    params: ParamStore,
    device: Device,
}

/// Momentum of the running batch-norm statistics (PyTorch's default).
const BN_MOMENTUM: f64 = 0.1;

struct Init<'a> {
    rng: Pcg64,
    params: &'a mut ParamStore,
    dtype: DType,
    device: &'a Device,
}

impl Init<'_> {
    /// A trainable tensor of `shape` with entries uniform in `[lo, hi)`.
    fn uniform(&mut self, name: &str, shape: &[usize], lo: f64, hi: f64) -> Result<Var> {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| self.rng.gen_range(lo..hi)).collect();
        let t = Tensor::from_vec(v, shape, self.device)?.to_dtype(self.dtype)?;
        self.params.add(name, &t)
    }

    /// PyTorch's default init of a linear/conv layer with this fan-in: U(−1/√fan_in, 1/√fan_in).
    fn dense(&mut self, name: &str, cin: usize, cout: usize) -> Result<Dense> {
        let a = 1.0 / (cin as f64).sqrt();
        Ok(Dense {
            weight: self.uniform(&format!("{name}.weight"), &[cin, cout], -a, a)?,
            bias: self.uniform(&format!("{name}.bias"), &[cout], -a, a)?,
        })
    }

    fn conv(&mut self, name: &str, cin: usize, cout: usize) -> Result<ConvBnRelu> {
        let a = 1.0 / ((9 * cin) as f64).sqrt();
        let weight = self.uniform(&format!("{name}.weight"), &[9 * cin, cout], -a, a)?;
        let ones = Tensor::ones(cout, self.dtype, self.device)?;
        let zeros = Tensor::zeros(cout, self.dtype, self.device)?;
        let norm = BatchNorm {
            gamma: self.params.add(format!("{name}.bn.gamma"), &ones)?,
            beta: self.params.add(format!("{name}.bn.beta"), &zeros)?,
            mean: self
                .params
                .add_frozen(format!("{name}.bn.running_mean"), &zeros)?,
            var: self
                .params
                .add_frozen(format!("{name}.bn.running_var"), &ones)?,
        };
        Ok(ConvBnRelu { weight, norm })
    }

    fn double(
        &mut self,
        name: &str,
        cin: usize,
        mid: usize,
        cout: usize,
    ) -> Result<[ConvBnRelu; 2]> {
        Ok([
            self.conv(&format!("{name}.conv0"), cin, mid)?,
            self.conv(&format!("{name}.conv1"), mid, cout)?,
        ])
    }

    fn block(&mut self, name: &str, c: usize, config: &LsmConfig) -> Result<SpectralBlock> {
        let scale = 1.0 / c as f64;
        let (h, t, m) = (config.heads, config.latent_tokens, config.basis);
        Ok(SpectralBlock {
            latent: self.uniform(&format!("{name}.latent"), &[h, t, c / h], 0.0, scale)?,
            encode: self.dense(&format!("{name}.encode"), c, 2 * c)?,
            decode: self.dense(&format!("{name}.decode"), c, c)?,
            weights: self.uniform(&format!("{name}.weights"), &[c, 2 * m], 0.0, scale)?,
        })
    }
}

impl Lsm {
    /// A freshly initialized model (PyTorch's default layer init, the paper's init of latent
    /// tokens and basis weights: U(0, 1/C)), seeded by `config.seed`.
    pub fn new(config: &LsmConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut params = ParamStore::new();
        let mut init = Init {
            rng: Pcg64::seed_from_u64(config.seed),
            params: &mut params,
            dtype: config.precision.dtype(),
            device,
        };
        let w = config.width;
        let s = config.scales;
        let lift = init.dense("lift", config.in_channels + 2, w)?;
        let mut encoder = Vec::with_capacity(s);
        let mut blocks = Vec::with_capacity(s);
        for k in 0..s {
            let cin = if k == 0 { w } else { config.channels(k - 1) };
            let c = config.channels(k);
            encoder.push(init.double(&format!("encoder{k}"), cin, c, c)?);
            blocks.push(init.block(&format!("block{k}"), c, config)?);
        }
        let mut decoder = Vec::with_capacity(s.saturating_sub(1));
        for k in 0..s.saturating_sub(1) {
            let c = config.channels(k);
            let cout = if k == 0 { w } else { c / 2 };
            decoder.push(init.double(&format!("decoder{k}"), 2 * c, c, cout)?);
        }
        let out = init.dense("out", w, w)?;
        let project = [
            init.dense("project0", w, config.projection)?,
            init.dense("project1", config.projection, config.out_channels)?,
        ];
        // Created last, so the other parameters are drawn exactly as without it. A copy of
        // the newest frame, not a fitted extrapolation: Σ|K| = 1 does not amplify the errors
        // of fed-back predictions (a least-squares fit on Navier–Stokes frames, weights up
        // to ±11.5, made the 10-step rollout error rise while training).
        let skip = if config.linear_skip {
            let (cin, cout) = (config.in_channels, config.out_channels);
            let mut k = vec![0.0f64; cin * cout];
            k[(cin - 1) * cout..].fill(1.0);
            let k = Tensor::from_vec(k, (cin, cout), device)?.to_dtype(config.precision.dtype())?;
            Some(params.add("skip.weight", &k)?)
        } else {
            None
        };
        Ok(Lsm {
            config: config.clone(),
            lift,
            encoder,
            blocks,
            decoder,
            out,
            project,
            skip,
            params,
            device: device.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LsmConfig {
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

    /// Trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.params
            .trainable()
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    /// The model applied to `a` `[B, H, W, C_in]` for inference (batch norm with the running
    /// statistics): `[B, H, W, C_out]`. Differentiable.
    pub fn forward(&self, a: &Tensor) -> Result<Tensor> {
        self.run(a, Mode::Eval)
    }

    /// The model applied to a training batch: batch norm with the batch's statistics, whose
    /// running averages are updated (momentum 0.1). Differentiable.
    pub fn forward_train(&self, a: &Tensor) -> Result<Tensor> {
        self.run(a, Mode::Train)
    }

    fn run(&self, a: &Tensor, mode: Mode) -> Result<Tensor> {
        let dims = a.dims().to_vec();
        if dims.len() != 4 || dims[3] != self.config.in_channels {
            return Err(NnError::invalid(
                "input",
                format!(
                    "the LSM takes 2-D data [B, H, W, {}], got {dims:?}",
                    self.config.in_channels
                ),
            ));
        }
        let (b, h, w) = (dims[0], dims[1], dims[2]);
        let grid = grid_channels(h, w, &self.device)?
            .to_dtype(a.dtype())?
            .broadcast_as((b, h, w, 2))?;
        let x = Tensor::cat(&[a, &grid], 3)?;
        let mut x = dense(&x, &self.lift)?;
        let (hp, wp) = (self.config.padded(h), self.config.padded(w));
        if self.config.periodic && (hp > h || wp > w) {
            return Err(NnError::invalid(
                "periodic",
                format!(
                    "a periodic LSM needs sides that are multiples of patch · 2^(scales−1) = {}; \
                     the grid is {h}×{w}",
                    self.config.multiple()
                ),
            ));
        }
        if hp > h {
            x = x.pad_with_zeros(1, 0, hp - h)?;
        }
        if wp > w {
            x = x.pad_with_zeros(2, 0, wp - w)?;
        }
        let s = self.config.scales;
        let mut skips = Vec::with_capacity(s);
        let mut e = x;
        for k in 0..s {
            if k > 0 {
                e = max_pool(&e)?;
            }
            e = self.double(&e, &self.encoder[k], mode)?;
            skips.push(e.clone());
        }
        let mut u = self.spectral(&skips[s - 1], &self.blocks[s - 1], mode)?;
        for k in (0..s - 1).rev() {
            let skip = self.spectral(&skips[k], &self.blocks[k], mode)?;
            let up = upsample_bilinear(&u, self.config.periodic)?;
            let cat = Tensor::cat(&[&skip, &up], 3)?;
            u = self.double(&cat, &self.decoder[k], mode)?;
        }
        let mut y = dense(&u, &self.out)?;
        if hp > h {
            y = y.narrow(1, 0, h)?;
        }
        if wp > w {
            y = y.narrow(2, 0, w)?;
        }
        let [p0, p1] = &self.project;
        let head = crate::gelu_head::gelu_head(
            &y,
            p0.weight.as_tensor(),
            p0.bias.as_tensor(),
            p1.weight.as_tensor(),
            p1.bias.as_tensor(),
        )?;
        match &self.skip {
            None => Ok(head),
            Some(k) => {
                let cin = self.config.in_channels;
                let linear = a
                    .reshape((b * h * w, cin))?
                    .matmul(k.as_tensor())?
                    .reshape((b, h, w, self.config.out_channels))?;
                Ok((head + linear)?)
            }
        }
    }

    fn double(&self, x: &Tensor, convs: &[ConvBnRelu; 2], mode: Mode) -> Result<Tensor> {
        let y = self.conv_bn_relu(x, &convs[0], mode)?;
        self.conv_bn_relu(&y, &convs[1], mode)
    }

    fn conv_bn_relu(&self, x: &Tensor, c: &ConvBnRelu, mode: Mode) -> Result<Tensor> {
        let y = conv3(x, &c.weight, self.config.periodic)?;
        let n = &c.norm;
        let dims = y.dims().to_vec();
        let ch = dims[3];
        let rows = dims[0] * dims[1] * dims[2];
        let stats = match mode {
            Mode::Train => BatchStats::Batch,
            Mode::Eval => BatchStats::Fixed {
                mean: n.mean.as_tensor().clone(),
                var: n.var.as_tensor().clone(),
            },
        };
        // Channels-last features go in whole (a reshape would be one more graph node, and in
        // candle's backward every node costs a zero-filled buffer and an accumulation pass).
        let (out, seen) = batch_norm_relu(&y, n.gamma.as_tensor(), n.beta.as_tensor(), &stats)?;
        if let Some((mean, var)) = seen {
            // Running averages use the unbiased variance, as PyTorch does.
            let unbiased = if rows > 1 {
                rows as f64 / (rows - 1) as f64
            } else {
                1.0
            };
            let m = BN_MOMENTUM;
            let update = |run: &Var, batch: Vec<f64>, factor: f64| -> Result<()> {
                let old: Vec<f64> = run.as_tensor().to_dtype(DType::F64)?.to_vec1()?;
                let new: Vec<f64> = old
                    .iter()
                    .zip(&batch)
                    .map(|(o, b)| (1.0 - m) * o + m * factor * b)
                    .collect();
                run.set(&Tensor::from_vec(new, ch, &self.device)?.to_dtype(run.dtype())?)?;
                Ok(())
            };
            update(&n.mean, mean, 1.0)?;
            update(&n.var, var, unbiased)?;
        }
        Ok(out)
    }

    /// The neural spectral block on channels-last `x` `[B, h, w, C]`
    /// ([`crate::spectral_block::spectral_block`]).
    fn spectral(&self, x: &Tensor, blk: &SpectralBlock, mode: Mode) -> Result<Tensor> {
        let params = crate::spectral_block::BlockParams {
            encode_weight: blk.encode.weight.as_tensor(),
            encode_bias: blk.encode.bias.as_tensor(),
            decode_weight: blk.decode.weight.as_tensor(),
            decode_bias: blk.decode.bias.as_tensor(),
            latent: blk.latent.as_tensor(),
            basis: blk.weights.as_tensor(),
        };
        let shape = crate::spectral_block::BlockShape {
            patch: self.config.patch,
            heads: self.config.heads,
            tokens: self.config.latent_tokens,
            basis: self.config.basis,
        };
        // Training keeps the attention for the backward pass; inference keeps nothing.
        let keep = mode == Mode::Train;
        Ok(crate::spectral_block::spectral_block(
            x, &params, shape, keep,
        )?)
    }
}

impl Model for Lsm {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

/// Pointwise affine map over the last axis ([`crate::linear::linear`], which takes the
/// weight as `[C_out, C_in]`).
fn dense(x: &Tensor, d: &Dense) -> Result<Tensor> {
    Ok(crate::linear::linear(
        x,
        &d.weight.as_tensor().t()?,
        d.bias.as_tensor(),
    )?)
}

/// Zero-padded or periodic 3×3 convolution (correlation, as PyTorch) of channels-last `x`
/// `[B, H, W, C]` with kernel `[9·C, C_out]` ([`crate::conv3x3::conv3x3`],
/// [`crate::conv3x3::conv3x3_periodic`]).
fn conv3(x: &Tensor, weight: &Var, periodic: bool) -> Result<Tensor> {
    Ok(if periodic {
        crate::conv3x3::conv3x3_periodic(x, weight.as_tensor())?
    } else {
        crate::conv3x3::conv3x3(x, weight.as_tensor())?
    })
}

/// 2×2 max pooling of channels-last `x` (even sides; [`crate::max_pool::max_pool2x2`]).
fn max_pool(x: &Tensor) -> Result<Tensor> {
    Ok(crate::max_pool::max_pool2x2(x)?)
}

/// Bilinear ×2 upsampling of channels-last `x` `[B, H, W, C]`: corners aligned, as PyTorch's
/// `align_corners=True` ([`crate::upsample::upsample_bilinear2x`]), or periodic
/// ([`crate::upsample::upsample_bilinear2x_periodic`]).
fn upsample_bilinear(x: &Tensor, periodic: bool) -> Result<Tensor> {
    Ok(if periodic {
        crate::upsample::upsample_bilinear2x_periodic(x)?
    } else {
        crate::upsample::upsample_bilinear2x(x)?
    })
}

/// Grid coordinates `[1, H, W, 2]`: (i/(H−1), j/(W−1)), endpoints included.
fn grid_channels(h: usize, w: usize, device: &Device) -> Result<Tensor> {
    let coord = |i: usize, n: usize| {
        if n > 1 {
            i as f32 / (n - 1) as f32
        } else {
            0.0
        }
    };
    let mut v = Vec::with_capacity(h * w * 2);
    for i in 0..h {
        for j in 0..w {
            v.push(coord(i, h));
            v.push(coord(j, w));
        }
    }
    Ok(Tensor::from_vec(v, (1, h, w, 2), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(precision: Precision) -> LsmConfig {
        LsmConfig {
            width: 8,
            scales: 3,
            latent_tokens: 2,
            basis: 4,
            patch: 2,
            heads: 2,
            projection: 16,
            precision,
            seed: 3,
            ..Default::default()
        }
    }

    #[test]
    fn convolution_is_a_correlation_with_zero_padding() {
        let d = Device::Cpu;
        let x = Tensor::arange(0f64, 12.0, &d)
            .unwrap()
            .reshape((1, 3, 4, 1))
            .unwrap();
        // Kernel with 1 at tap (dy, dx) = (1, −1): y[i, j] = x[i + 1, j − 1].
        let mut k = vec![0f64; 9];
        k[2 * 3] = 1.0;
        let w = Var::from_tensor(&Tensor::from_vec(k, (9, 1), &d).unwrap()).unwrap();
        let y: Vec<f64> = conv3(&x, &w, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for i in 0..3 {
            for j in 0..4 {
                let want = if i + 1 < 3 && j >= 1 {
                    ((i + 1) * 4 + j - 1) as f64
                } else {
                    0.0
                };
                assert_eq!(y[i * 4 + j], want, "({i},{j})");
            }
        }
    }

    #[test]
    fn shapes_any_grid_and_parameter_count() {
        let c = small(Precision::F32);
        let m = Lsm::new(&c, &Device::Cpu).unwrap();
        for (h, w) in [(8, 8), (13, 7), (16, 24)] {
            let x = Tensor::randn(0f32, 1.0, (2, h, w, 1), &Device::Cpu).unwrap();
            let y = m.forward(&x).unwrap();
            assert_eq!(y.dims(), &[2, h, w, 1]);
            let y = m.forward_train(&x).unwrap();
            assert_eq!(y.dims(), &[2, h, w, 1]);
        }
        // Lift, 3 encoder double convs (8, 16, 16 channels), 3 blocks, 2 decoder double convs,
        // out, projection.
        let conv = |cin: usize, cout: usize| 9 * cin * cout + 2 * cout;
        let dense = |cin: usize, cout: usize| cin * cout + cout;
        let block = |ch: usize| 2 * 2 * (ch / 2) + dense(ch, 2 * ch) + dense(ch, ch) + ch * 8;
        let want = dense(3, 8)
            + conv(8, 8) + conv(8, 8)
            + conv(8, 16) + conv(16, 16)
            + conv(16, 16) + conv(16, 16)
            + block(8) + block(16) + block(16)
            + conv(32, 16) + conv(16, 8) // decoder level 1: 2·16 → 16 → 8
            + conv(16, 8) + conv(8, 8) // decoder level 0: 2·8 → 8 → 8
            + dense(8, 8) + dense(8, 16) + dense(16, 1);
        assert_eq!(m.parameter_count(), want);
    }

    /// Autograd against central differences, zero-padded and periodic.
    #[test]
    fn gradients_match_finite_differences() {
        for periodic in [false, true] {
            gradients_match_finite_differences_with(periodic);
        }
    }

    fn gradients_match_finite_differences_with(periodic: bool) {
        let c = LsmConfig {
            periodic,
            // The skip path on in the periodic case: its gradient is checked there too.
            linear_skip: periodic,
            ..small(Precision::F64)
        };
        let m = Lsm::new(&c, &Device::Cpu).unwrap();
        let x = Tensor::randn(0f64, 1.0, (2, 8, 8, 1), &Device::Cpu).unwrap();
        let target = Tensor::randn(0f64, 1.0, (2, 8, 8, 1), &Device::Cpu).unwrap();
        // Eval mode: a fixed function of the parameters (no running-statistic updates).
        let loss = |m: &Lsm| -> Tensor {
            (m.forward(&x).unwrap() - &target)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let grads = loss(&m).backward().unwrap();
        for name in [
            "block1.latent",
            "block0.weights",
            "encoder1.conv0.weight",
            "decoder0.conv1.bn.gamma",
            "block2.decode.weight",
            "skip.weight",
        ] {
            if name == "skip.weight" && !periodic {
                continue;
            }
            let var = m.params().get(name).unwrap_or_else(|| panic!("{name}"));
            let g: Vec<f64> = grads
                .get(var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let base: Vec<f64> = var.flatten_all().unwrap().to_vec1().unwrap();
            for &i in &[0usize, base.len() / 2, base.len() - 1] {
                let h = 1e-6;
                let mut plus = base.clone();
                plus[i] += h;
                var.set(&Tensor::from_vec(plus, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let lp = loss(&m).to_scalar::<f64>().unwrap();
                let mut minus = base.clone();
                minus[i] -= h;
                var.set(&Tensor::from_vec(minus, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let lm = loss(&m).to_scalar::<f64>().unwrap();
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let fd = (lp - lm) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "{name}[{i}] (periodic {periodic}): autograd {} vs finite difference {fd}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn linear_skip_starts_as_the_last_channel_and_adds_a_pointwise_map() {
        let d = Device::Cpu;
        let base = LsmConfig {
            in_channels: 3,
            ..small(Precision::F64)
        };
        let plain = Lsm::new(&base, &d).unwrap();
        let skip = Lsm::new(
            &LsmConfig {
                linear_skip: true,
                ..base.clone()
            },
            &d,
        )
        .unwrap();
        assert_eq!(skip.parameter_count(), plain.parameter_count() + 3);
        let a = Tensor::randn(0f64, 1.0, (2, 8, 8, 3), &d).unwrap();
        let y0 = plain.forward(&a).unwrap();
        let y1 = skip.forward(&a).unwrap();
        // At the start: the paper's model plus the last input channel, exactly.
        let last = a.narrow(3, 2, 1).unwrap();
        let diff = ((&y1 - &y0).unwrap() - &last)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-14);
        let k = [0.5, -2.0, 0.25];
        skip.params()
            .get("skip.weight")
            .unwrap()
            .set(&Tensor::from_vec(k.to_vec(), (3, 1), &d).unwrap())
            .unwrap();
        let y2 = skip.forward(&a).unwrap();
        let added: Vec<f64> = (&y2 - &y0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let av: Vec<f64> = a.flatten_all().unwrap().to_vec1().unwrap();
        for (p, v) in added.iter().enumerate() {
            let want: f64 = (0..3).map(|c| k[c] * av[3 * p + c]).sum();
            assert!((v - want).abs() < 1e-12, "pixel {p}: {v} vs {want}");
        }
    }

    #[test]
    fn batch_norm_trains_on_batch_statistics_and_infers_on_running_ones() {
        let c = small(Precision::F64);
        let m = Lsm::new(&c, &Device::Cpu).unwrap();
        let x = Tensor::randn(0f64, 1.0, (3, 8, 8, 1), &Device::Cpu).unwrap();
        let rm = m
            .params()
            .get("encoder0.conv0.bn.running_mean")
            .unwrap()
            .clone();
        let before: Vec<f64> = rm.to_vec1().unwrap();
        assert!(before.iter().all(|&v| v == 0.0));
        // Inference leaves the running statistics alone.
        m.forward(&x).unwrap();
        assert_eq!(rm.to_vec1::<f64>().unwrap(), before);
        // Training moves them 10 % of the way to the batch mean of the first convolution.
        m.forward_train(&x).unwrap();
        let lifted = dense(
            &Tensor::cat(
                &[
                    &x,
                    &grid_channels(8, 8, &Device::Cpu)
                        .unwrap()
                        .to_dtype(DType::F64)
                        .unwrap()
                        .broadcast_as((3, 8, 8, 2))
                        .unwrap(),
                ],
                3,
            )
            .unwrap(),
            &m.lift,
        )
        .unwrap();
        let conv = conv3(&lifted, &m.encoder[0][0].weight, false).unwrap();
        let batch_mean: Vec<f64> = conv
            .reshape((3 * 64, 8))
            .unwrap()
            .mean(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        let after: Vec<f64> = rm.to_vec1().unwrap();
        for (a, bm) in after.iter().zip(&batch_mean) {
            assert!((a - 0.1 * bm).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = LsmConfig {
            width: 12,
            heads: 8,
            ..Default::default()
        };
        let e = Lsm::new(&c, &Device::Cpu).err().unwrap().to_string();
        assert!(e.contains("width") && e.contains("heads"), "{e}");
        c.width = 16;
        c.patch = 0;
        assert!(Lsm::new(&c, &Device::Cpu)
            .err()
            .unwrap()
            .to_string()
            .contains("patch"));
        let m = Lsm::new(&LsmConfig::default(), &Device::Cpu).unwrap();
        let x = Tensor::zeros((1, 8, 8, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(m
            .forward(&x)
            .err()
            .unwrap()
            .to_string()
            .contains("[B, H, W, 1]"));
        // Periodic: no padding, and sides that need none (16 = 4 · 2² for the default patch
        // and 3 scales; 12 is not).
        let periodic = LsmConfig {
            periodic: true,
            scales: 3,
            width: 16,
            ..Default::default()
        };
        let e = Lsm::new(
            &LsmConfig {
                padding: 0.1,
                ..periodic.clone()
            },
            &Device::Cpu,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("periodic") && e.contains("padding"), "{e}");
        let m = Lsm::new(&periodic, &Device::Cpu).unwrap();
        let ok = Tensor::zeros((1, 16, 32, 1), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(m.forward(&ok).unwrap().dims(), &[1, 16, 32, 1]);
        let bad = Tensor::zeros((1, 12, 16, 1), DType::F32, &Device::Cpu).unwrap();
        let e = m.forward(&bad).err().unwrap().to_string();
        assert!(e.contains("periodic") && e.contains("12×16"), "{e}");
    }
}
