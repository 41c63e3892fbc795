//! The learning layer of nabla, shared by PINNs, neural operators and DCDM: candle models,
//! Taylor-mode derivative jets, optimizers and one training loop.
//!
//! - [`Mlp`]: widths, activation (tanh / sin / gelu / silu), Glorot init, seeded, optional
//!   Fourier-feature input layer; f32 by default, f64 supported ([`MlpConfig`]).
//! - [`Mlp::jet`]: u, ∇u and the Laplacian (or selected ∂²u/∂xᵢ², or an unbiased SDGD estimate
//!   from sampled dimensions) in one forward pass of ordinary candle ops ([`JetSpec`], [`Jet`]),
//!   so a single `backward()` of any residual loss gives the parameter gradients.
//! - [`optim`]: Adam/AdamW with learning-rate schedules, L-BFGS with a strong-Wolfe line
//!   search, and [`optim::Recipe`]s such as "Adam for N steps, then L-BFGS".
//! - [`train()`]: the training loop — seeded, progress bar, `metrics.csv`, atomic safetensors
//!   checkpoints with optimizer and RNG state, bit-for-bit resume, Ctrl-C stop, NaN guard.
//! - [`UNet`]: the fully convolutional U-Net of the deep conjugate direction method, 2-D and
//!   3-D (3×3×3 convolutions built from conv2d), with any number of average-pool levels.
//! - Devices: [`Device`] is candle's device, the one device type of every signature, opened
//!   from `cpu` / `cuda:N` by [`open_device`] or [`DeviceKind::open`] (CUDA needs the
//!   `candle-cuda` feature, which forwards candle's `cuda` feature and needs nvcc, so CI does not
//!   build it).
//!
//! Fitting a small network to sin(πx), Adam then L-BFGS, through the training loop:
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use nabla_nn::optim::Recipe;
//! use nabla_nn::{train, Mlp, MlpConfig, Precision, RunOptions, StepContext, TrainConfig};
//!
//! # fn main() -> nabla_nn::Result<()> {
//! let dev = Device::Cpu;
//! let model = Mlp::new(&MlpConfig::new(&[1, 16, 16, 1]).precision(Precision::F64).seed(1), &dev)?;
//! let xs: Vec<f64> = (0..50).map(|i| -1.0 + i as f64 / 24.5).collect();
//! let x = Tensor::from_slice(&xs, (50, 1), &dev)?;
//! let y = (&x * std::f64::consts::PI)?.sin()?;
//! let mut loss = |m: &Mlp, _: &mut StepContext<'_>| -> nabla_nn::Result<Tensor> {
//!     Ok((m.forward(&x)? - &y)?.sqr()?.mean_all()?)
//! };
//! let mut config = TrainConfig::new(Recipe::adam_then_lbfgs(200, 1e-2, 200));
//! config.progress = false;
//! let report = train(&model, &mut loss, &config, &RunOptions::default())?;
//! assert!(report.final_loss < 1e-4, "{}", report.final_loss);
//! # Ok(())
//! # }
//! ```
//!
//! A PINN residual for −Δu = f uses the jet (here with `x` the collocation points `[n, 2]` and
//! `f` the source values `[n, 1]`):
//!
//! ```
//! # use candle_core::{Device, Tensor};
//! # use nabla_nn::{JetSpec, Mlp, MlpConfig};
//! # let model = Mlp::new(&MlpConfig::new(&[2, 32, 32, 1]), &Device::Cpu).unwrap();
//! # let x = Tensor::rand(0f32, 1f32, (64, 2), &Device::Cpu).unwrap();
//! # let f = Tensor::ones((64, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let jet = model.jet(&x, &JetSpec::laplacian(2)).unwrap();
//! let residual = (jet.lap().unwrap() + &f).unwrap(); // Δu + f
//! let loss = residual.sqr().unwrap().mean_all().unwrap();
//! let grads = loss.backward().unwrap(); // parameter gradients, one backward pass
//! # assert!(grads.get(&model.layers()[0].weight).is_some());
//! ```

#![warn(missing_docs)]

pub mod activation;
pub mod alloc;
pub mod batch_norm;
pub mod conv3x3;
pub mod deeponet;
pub mod dft;
pub mod error;
pub mod fno;
mod fused;
pub mod gelu;
pub mod gelu_head;
pub mod im2col;
pub mod jet;
pub mod leftmul;
pub mod linear;
pub mod lsm;
pub mod max_pool;
pub mod mlp;
mod op_util;
pub mod optim;
pub mod params;
pub mod run_dir;
mod scratch;
mod skinny;
pub use skinny::DISABLE_ENV as DISABLE_AVX512_ENV;
pub mod spectral_block;
mod spectral_conv;
pub mod spectral_mix;
pub mod train;
pub mod trig_basis;
pub mod unet;
pub mod upsample;

pub use activation::Activation;
pub use alloc::tune_allocator;
pub use deeponet::{DeepONet, DeepONetConfig};
pub use error::{NnError, Result};
pub use fno::{Fno, FnoConfig};
pub use jet::{sample_dims, Jet, JetSpec};
pub use lsm::{Lsm, LsmConfig};
pub use mlp::{Dense, FourierConfig, Init, Mlp, MlpConfig, Precision};
pub use nabla_core::device::{open_device, Device, DeviceKind};
pub use params::ParamStore;
pub use scratch::{release_scratch, scratch_bytes};
pub use train::{
    ctrlc_stop_flag, train, Objective, Outcome, RunOptions, StepContext, TrainConfig, TrainReport,
};
pub use unet::{UNet, UNetConfig};

/// A trainable model: anything that owns a [`ParamStore`]. The training loop, optimizers and
/// checkpoints work through it, so new architectures (FNO, DeepONet, U-Net) plug in by
/// implementing it.
pub trait Model {
    /// The model's parameters.
    fn params(&self) -> &ParamStore;
}
