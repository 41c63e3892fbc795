//! Fourier neural operators (Li et al. 2021) in 1-D and 2-D, channels-last.
//!
//! `v₀ = P(a, x)` (pointwise lifting of the input channels and, optionally, the grid
//! coordinates), then `L` Fourier layers `v ← σ(K v + W v)` where `K` multiplies the lowest
//! Fourier modes by learned complex matrices and `W` is a pointwise linear map (no σ after the
//! last layer), then a pointwise projection MLP `Q` (width → `projection` → out, GELU).
//!
//! The Fourier transforms are truncated-DFT matrix products ([`crate::dft`]): candle has no
//! FFT, and for k kept modes the product costs O(N·k) per line, less than an FFT's O(N log N)
//! for the k ≤ 16 FNOs use. Tensors are channels-last (`[B, N, C]` in 1-D, `[B, H, W, C]` in
//! 2-D) so every pointwise layer is one matrix product over all points.
//!
//! Resolution: the weights act on Fourier coefficients normalised by 1/N, so a model trained
//! on one grid evaluates on any grid with at least 2·modes points per axis. Non-periodic
//! problems pad the domain with zeros by `padding` (a fraction of each axis) before the
//! Fourier layers and crop afterwards, as the FNO paper does for Darcy flow.

use crate::dft::{DftCache, DftKind};
use crate::mlp::Dense;
use crate::{Model, NnError, ParamStore, Precision, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The shape of an [`Fno`]; a serde struct for run configs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FnoConfig {
    /// Input channels per grid point (not counting the grid coordinates).
    pub in_channels: usize,
    /// Output channels per grid point.
    #[serde(default = "one")]
    pub out_channels: usize,
    /// Kept Fourier modes per axis (one entry per spatial dimension: 1 or 2 entries). On the
    /// last axis these are modes 0..m−1 of the real transform; on the first axis of a 2-D
    /// model, modes −m..m−1.
    pub modes: Vec<usize>,
    /// Channels inside the Fourier layers.
    #[serde(default = "default_width")]
    pub width: usize,
    /// Number of Fourier layers.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Hidden width of the projection MLP.
    #[serde(default = "default_projection")]
    pub projection: usize,
    /// Append the grid coordinates (in [0, 1], endpoints included) as input channels.
    #[serde(default = "yes")]
    pub grid_channels: bool,
    /// Zero padding added at the end of each axis before the Fourier layers, as a fraction of
    /// the axis length (0 for periodic problems).
    #[serde(default)]
    pub padding: f64,
    /// Parameter precision.
    #[serde(default)]
    pub precision: Precision,
    /// Seed of the initialization.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_width() -> usize {
    32
}
fn default_layers() -> usize {
    4
}
fn default_projection() -> usize {
    128
}

impl FnoConfig {
    /// A 2-D FNO with `modes` per axis, width 32, 4 layers, projection 128, grid channels.
    pub fn new_2d(in_channels: usize, modes: usize) -> Self {
        FnoConfig {
            in_channels,
            out_channels: 1,
            modes: vec![modes, modes],
            width: default_width(),
            layers: default_layers(),
            projection: default_projection(),
            grid_channels: true,
            padding: 0.0,
            precision: Precision::F32,
            seed: 0,
        }
    }

    /// A 1-D FNO with `modes`, width 32, 4 layers, projection 128, grid channel.
    pub fn new_1d(in_channels: usize, modes: usize) -> Self {
        FnoConfig {
            modes: vec![modes],
            ..Self::new_2d(in_channels, modes)
        }
    }

    /// Spatial dimension (1 or 2).
    pub fn dim(&self) -> usize {
        self.modes.len()
    }

    /// Checks the settings; errors name the key.
    pub fn validate(&self) -> Result<()> {
        if !(1..=2).contains(&self.modes.len()) {
            return Err(NnError::invalid(
                "modes",
                format!("needs 1 (1-D) or 2 (2-D) entries, got {}", self.modes.len()),
            ));
        }
        if self.modes.contains(&0) {
            return Err(NnError::invalid("modes", "every entry must be ≥ 1"));
        }
        for (key, v) in [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("width", self.width),
            ("layers", self.layers),
            ("projection", self.projection),
        ] {
            if v == 0 {
                return Err(NnError::invalid(key, "must be ≥ 1"));
            }
        }
        if !(0.0..=1.0).contains(&self.padding) {
            return Err(NnError::invalid("padding", "must be in [0, 1]"));
        }
        Ok(())
    }

    /// Number of trainable parameters the model will have.
    pub fn parameter_count(&self) -> usize {
        let lift_in = self.in_channels + if self.grid_channels { self.dim() } else { 0 };
        let w = self.width;
        let spectral_modes: usize = match self.modes.as_slice() {
            [m] => *m,
            [m1, m2] => 2 * m1 * m2,
            _ => 0,
        };
        (lift_in + 1) * w
            + self.layers * (2 * spectral_modes * w * w + (w + 1) * w)
            + (w + 1) * self.projection
            + (self.projection + 1) * self.out_channels
    }
}

/// One Fourier layer's spectral weights: real and imaginary parts, `[modes, C_in, C_out]`
/// (modes flattened in the order the layer transforms them).
#[derive(Clone, Debug)]
pub struct SpectralWeights {
    /// Real part.
    pub real: Var,
    /// Imaginary part.
    pub imag: Var,
}

/// A Fourier neural operator in 1-D or 2-D (see the module docs).
///
/// Parameters: `lift.{weight,bias}`, `layers.{l}.spectral.{real,imag}`,
/// `layers.{l}.pointwise.{weight,bias}`, `project.0.{weight,bias}`, `project.1.{weight,bias}`.
pub struct Fno {
    config: FnoConfig,
    params: ParamStore,
    lift: Dense,
    spectral: Vec<SpectralWeights>,
    pointwise: Vec<Dense>,
    project: [Dense; 2],
    dft: DftCache,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Fno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fno").field("config", &self.config).finish()
    }
}

fn dense(
    params: &mut ParamStore,
    name: &str,
    fan_in: usize,
    fan_out: usize,
    rng: &mut Pcg64,
    dtype: DType,
    device: &Device,
) -> Result<Dense> {
    // PyTorch's nn.Linear default (Kaiming-uniform with a = √5): U(−1/√fan_in, 1/√fan_in)
    // for weights and biases, which is what published FNO results were trained with.
    let bound = 1.0 / (fan_in as f64).sqrt();
    let w: Vec<f64> = (0..fan_in * fan_out)
        .map(|_| rng.gen_range(-bound..bound))
        .collect();
    let b: Vec<f64> = (0..fan_out).map(|_| rng.gen_range(-bound..bound)).collect();
    let weight = params.add(
        format!("{name}.weight"),
        &Tensor::from_vec(w, (fan_out, fan_in), device)?.to_dtype(dtype)?,
    )?;
    let bias = params.add(
        format!("{name}.bias"),
        &Tensor::from_vec(b, fan_out, device)?.to_dtype(dtype)?,
    )?;
    Ok(Dense { weight, bias })
}

impl Fno {
    /// Builds the model with seeded weights: linear layers as PyTorch initializes them,
    /// spectral weights U(0, 1/(C_in·C_out)) as in the FNO paper.
    pub fn new(config: &FnoConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let dtype = config.precision.dtype();
        let mut rng = Pcg64::seed_from_u64(config.seed);
        let mut params = ParamStore::new();
        let w = config.width;
        let lift_in = config.in_channels
            + if config.grid_channels {
                config.dim()
            } else {
                0
            };
        let lift = dense(&mut params, "lift", lift_in, w, &mut rng, dtype, device)?;
        let modes: usize = match config.modes.as_slice() {
            [m] => *m,
            [m1, m2] => 2 * m1 * m2,
            _ => unreachable!("validated"),
        };
        let scale = 1.0 / (w * w) as f64;
        let mut spectral = Vec::new();
        let mut pointwise = Vec::new();
        for l in 0..config.layers {
            let mut part = |name: &str| -> Result<Var> {
                let v: Vec<f64> = (0..modes * w * w)
                    .map(|_| scale * rng.gen::<f64>())
                    .collect();
                params.add(
                    format!("layers.{l}.spectral.{name}"),
                    &Tensor::from_vec(v, (modes, w, w), device)?.to_dtype(dtype)?,
                )
            };
            let real = part("real")?;
            let imag = part("imag")?;
            spectral.push(SpectralWeights { real, imag });
            pointwise.push(dense(
                &mut params,
                &format!("layers.{l}.pointwise"),
                w,
                w,
                &mut rng,
                dtype,
                device,
            )?);
        }
        let p0 = dense(
            &mut params,
            "project.0",
            w,
            config.projection,
            &mut rng,
            dtype,
            device,
        )?;
        let p1 = dense(
            &mut params,
            "project.1",
            config.projection,
            config.out_channels,
            &mut rng,
            dtype,
            device,
        )?;
        Ok(Fno {
            config: config.clone(),
            params,
            lift,
            spectral,
            pointwise,
            project: [p0, p1],
            dft: DftCache::new(device),
            dtype,
            device: device.clone(),
        })
    }

    /// The settings the model was built with.
    pub fn config(&self) -> &FnoConfig {
        &self.config
    }

    /// The smallest number of points per axis the model can evaluate on (2·modes for a
    /// two-sided axis, modes otherwise, before padding).
    pub fn min_points(&self) -> Vec<usize> {
        match self.config.modes.as_slice() {
            [m] => vec![2 * m],
            [m1, m2] => vec![2 * m1, 2 * m2],
            _ => Vec::new(),
        }
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let dims = x.dims();
        let d = self.config.dim();
        if dims.len() != d + 2 || dims[d + 1] != self.config.in_channels {
            return Err(NnError::invalid(
                "FNO input",
                format!(
                    "expected shape [batch, {}channels={}], got {:?}",
                    if d == 1 { "N, " } else { "H, W, " },
                    self.config.in_channels,
                    dims
                ),
            ));
        }
        for (axis, (&n, &min)) in dims[1..=d].iter().zip(self.min_points().iter()).enumerate() {
            if n < min {
                return Err(NnError::invalid(
                    "FNO input",
                    format!(
                        "axis {axis} has {n} points; this model keeps {} modes there and needs ≥ {min}",
                        self.config.modes[axis]
                    ),
                ));
            }
        }
        if x.dtype() != self.dtype {
            return Err(NnError::invalid(
                "FNO input",
                format!("dtype {:?}, the model is {:?}", x.dtype(), self.dtype),
            ));
        }
        Ok(())
    }

    /// Grid-coordinate channels for a grid of `dims` points per axis, `[1, dims…, d]`.
    fn grid(&self, dims: &[usize]) -> Result<Tensor> {
        let coord = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    if n > 1 {
                        i as f64 / (n - 1) as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let t = match dims {
            [n] => Tensor::from_vec(coord(*n), (1, *n, 1), &self.device)?,
            [h, w] => {
                let (cx, cy) = (coord(*h), coord(*w));
                let mut v = Vec::with_capacity(h * w * 2);
                for x in &cx {
                    for y in &cy {
                        v.push(*x);
                        v.push(*y);
                    }
                }
                Tensor::from_vec(v, (1, *h, *w, 2), &self.device)?
            }
            _ => unreachable!("checked"),
        };
        Ok(t.to_dtype(self.dtype)?)
    }

    /// Applies a pointwise linear layer to channels-last `x` (one fused op, no reshapes: every
    /// node of a large tensor costs a zero-fill and an add in candle's backward).
    fn pointwise(layer: &Dense, x: &Tensor) -> Result<Tensor> {
        Ok(crate::linear::linear(
            x,
            layer.weight.as_tensor(),
            layer.bias.as_tensor(),
        )?)
    }

    /// `mat [P, Q]` (a constant DFT matrix) times every trailing `[Q, R]` matrix of
    /// `x [B.., Q, R]`: `[B.., P, R]`, as one op whose backward skips the matrix.
    fn left_mul(mat: &Tensor, x: &Tensor) -> Result<Tensor> {
        Ok(crate::leftmul::const_left_mul(mat, x)?)
    }

    /// Mixes channels of the kept modes: `y [B, 2, M, C]` (Re, Im) to `[B, 2, M, C_out]`.
    fn mix(y: &Tensor, weights: &SpectralWeights) -> Result<Tensor> {
        Ok(crate::spectral_mix::spectral_mix(
            y,
            weights.real.as_tensor(),
            weights.imag.as_tensor(),
        )?)
    }

    /// The spectral convolution K v of one layer on channels-last `v`.
    fn spectral_conv(&self, v: &Tensor, weights: &SpectralWeights) -> Result<Tensor> {
        let dt = self.dtype;
        match *v.dims() {
            [b, n, c] => {
                let m = self.config.modes[0];
                let f = self.dft.get(DftKind::RealForward, n, m, dt)?;
                let y = Self::left_mul(&f, v)?.reshape((b, 2, m, c))?;
                let o = Self::mix(&y, weights)?;
                let g = self.dft.get(DftKind::RealInverse, n, m, dt)?;
                Self::left_mul(&g, &o.reshape((b, 2 * m, c))?)
            }
            [_, h, w, _] => {
                let (m1, m2) = (self.config.modes[0], self.config.modes[1]);
                let f1 = self.dft.get(DftKind::RealForward, w, m2, dt)?;
                let f2 = self.dft.get(DftKind::ComplexForward, h, m1, dt)?;
                let g2 = self.dft.get(DftKind::ComplexInverse, h, m1, dt)?;
                let g1 = self.dft.get(DftKind::RealInverse, w, m2, dt)?;
                Ok(crate::spectral_conv::spectral_conv2d(
                    v,
                    weights.real.as_tensor(),
                    weights.imag.as_tensor(),
                    [&f1, &f2, &g2, &g1],
                )?)
            }
            _ => Err(NnError::invalid("FNO hidden state", "unexpected rank")),
        }
    }

    /// The operator applied to `a`: `[B, N, C_in]` (1-D) or `[B, H, W, C_in]` (2-D) on a grid
    /// with endpoints at 0 and 1, giving `[B, N, C_out]` / `[B, H, W, C_out]` on the same grid.
    pub fn forward(&self, a: &Tensor) -> Result<Tensor> {
        self.check_input(a)?;
        let d = self.config.dim();
        let dims = a.dims()[1..=d].to_vec();
        let b = a.dims()[0];
        let mut x = a.clone();
        if self.config.grid_channels {
            let mut shape = vec![b];
            shape.extend(&dims);
            shape.push(d);
            let g = self.grid(&dims)?.broadcast_as(shape)?;
            x = Tensor::cat(&[&x, &g], d + 1)?;
        }
        let mut v = Self::pointwise(&self.lift, &x)?;
        let pads: Vec<usize> = dims
            .iter()
            .map(|&n| (self.config.padding * n as f64).round() as usize)
            .collect();
        for (axis, &p) in pads.iter().enumerate() {
            if p > 0 {
                v = v.pad_with_zeros(axis + 1, 0, p)?;
            }
        }
        let layers = self.config.layers;
        for l in 0..layers {
            let k = self.spectral_conv(&v, &self.spectral[l])?;
            let w = Self::pointwise(&self.pointwise[l], &v)?;
            v = if l + 1 < layers {
                crate::gelu::add_gelu(&k, &w)?
            } else {
                (k + w)?
            };
        }
        for (axis, (&p, &n)) in pads.iter().zip(dims.iter()).enumerate() {
            if p > 0 {
                v = v.narrow(axis + 1, 0, n)?;
            }
        }
        let v = crate::gelu::gelu(&Self::pointwise(&self.project[0], &v)?)?;
        Self::pointwise(&self.project[1], &v)
    }
}

impl Model for Fno {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_the_store() {
        for config in [FnoConfig::new_2d(1, 6), FnoConfig::new_1d(1, 8)] {
            let model = Fno::new(&config, &Device::Cpu).unwrap();
            let n: usize = model
                .params()
                .trainable()
                .iter()
                .map(|(_, v)| v.elem_count())
                .sum();
            assert_eq!(n, config.parameter_count());
        }
    }

    /// The fused CPU spectral convolution equals the op-by-op chain, values and gradients
    /// (v, R, I), on a non-square grid with different mode counts per axis.
    #[test]
    fn fused_spectral_conv_matches_the_op_chain() {
        let dev = Device::Cpu;
        let (b, h, w, c, co, m1, m2) = (3, 10, 14, 4, 5, 3, 4);
        let m = 2 * m1 * m2;
        let var = |shape: &[usize]| {
            Var::from_tensor(&Tensor::randn(0f64, 1.0, shape, &dev).unwrap()).unwrap()
        };
        let (v, r, i) = (var(&[b, h, w, c]), var(&[m, c, co]), var(&[m, c, co]));
        let cache = DftCache::new(&dev);
        let get = |k, n, mm| cache.get(k, n, mm, DType::F64).unwrap();
        let f1 = get(DftKind::RealForward, w, m2);
        let f2 = get(DftKind::ComplexForward, h, m1);
        let g2 = get(DftKind::ComplexInverse, h, m1);
        let g1 = get(DftKind::RealInverse, w, m2);
        let mats = [&f1, &f2, &g2, &g1];
        let fused = crate::spectral_conv::fused_spectral_conv2d(
            v.as_tensor(),
            r.as_tensor(),
            i.as_tensor(),
            mats,
        )
        .unwrap()
        .expect("CPU f64 is fused");
        let ops = crate::spectral_conv::spectral_conv2d_ops(
            v.as_tensor(),
            r.as_tensor(),
            i.as_tensor(),
            mats,
        )
        .unwrap();
        assert_eq!(fused.dims(), &[b, h, w, co]);
        let diff = |a: &Tensor, e: &Tensor| {
            let d: f64 = (a - e)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            let s: f64 = e.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            d / s
        };
        assert!(diff(&fused, &ops) < 1e-12);
        let probe = Tensor::randn(0f64, 1.0, (b, h, w, co), &dev).unwrap();
        let gf = (fused * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let go = (ops * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, x) in [("v", &v), ("R", &r), ("I", &i)] {
            let e = diff(
                gf.get(x.as_tensor()).unwrap(),
                go.get(x.as_tensor()).unwrap(),
            );
            assert!(e < 1e-11, "∂{name}: {e:e}");
        }
    }

    #[test]
    fn rejects_grids_coarser_than_the_modes() {
        let model = Fno::new(&FnoConfig::new_2d(1, 8), &Device::Cpu).unwrap();
        let a = Tensor::zeros((1, 8, 32, 1), DType::F32, &Device::Cpu).unwrap();
        let e = model.forward(&a).unwrap_err().to_string();
        assert!(e.contains("axis 0 has 8 points"), "{e}");
    }
}
