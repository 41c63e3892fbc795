//! The LSM's fused CPU ops against the same functions from candle ops, forward + backward,
//! best of 7 in one process, at the shapes of an LSM's finest level (batch 20 at 64², width
//! 32, 4×4 patches, 4 latent tokens, 12 basis functions):
//! `cargo run --release -p nabla-nn --example lsm_ops_bench`
use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::batch_norm::{self, BatchStats};
use nabla_nn::{im2col, trig_basis};
use std::time::Instant;

fn best(mut f: impl FnMut() -> candle_core::Result<()>) -> candle_core::Result<f64> {
    let mut t = f64::MAX;
    for _ in 0..7 {
        let s = Instant::now();
        f()?;
        t = t.min(s.elapsed().as_secs_f64());
    }
    Ok(t)
}

fn report(name: &str, fused: f64, reference: f64) {
    println!(
        "{name}: fused {:.1} ms, candle ops {:.1} ms ({:.2}x)",
        fused * 1e3,
        reference * 1e3,
        reference / fused
    );
}

fn main() -> candle_core::Result<()> {
    let d = Device::Cpu;
    // Batch norm + ReLU after a convolution: [20·64², 32].
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (81920, 32), &d)?)?;
    let g = Var::from_tensor(&Tensor::ones(32, DType::F32, &d)?)?;
    let b = Var::from_tensor(&Tensor::zeros(32, DType::F32, &d)?)?;
    let w = Tensor::randn(0f32, 1.0, (81920, 32), &d)?;
    let bn = |composed: bool| -> candle_core::Result<()> {
        let f = if composed {
            batch_norm::composed
        } else {
            batch_norm::batch_norm_relu
        };
        let (y, _) = f(
            x.as_tensor(),
            g.as_tensor(),
            b.as_tensor(),
            &BatchStats::Batch,
        )?;
        (y * &w)?.sum_all()?.backward().map(|_| ())
    };
    report(
        "batch norm + ReLU [81920, 32]",
        best(|| bn(false))?,
        best(|| bn(true))?,
    );
    // The latent transition: 20·16² patches × 4 tokens, 32 channels, 12 basis functions.
    let z = Var::from_tensor(&Tensor::randn(0f32, 1.0, (20480, 32), &d)?)?;
    let wt = Var::from_tensor(&Tensor::randn(0f32, 0.03, (32, 24), &d)?)?;
    let gz = Tensor::randn(0f32, 1.0, (20480, 32), &d)?;
    let tr = |composed: bool| -> candle_core::Result<()> {
        let f = if composed {
            trig_basis::composed
        } else {
            trig_basis::trig_transition
        };
        (f(z.as_tensor(), wt.as_tensor())? * &gz)?
            .sum_all()?
            .backward()
            .map(|_| ())
    };
    report(
        "sin/cos transition [20480, 32], M = 12",
        best(|| tr(false))?,
        best(|| tr(true))?,
    );
    // The 3×3 neighbourhood gather of a [20, 64, 64, 32] field.
    let f = Var::from_tensor(&Tensor::randn(0f32, 1.0, (20, 64, 64, 32), &d)?)?;
    let gf = Tensor::randn(0f32, 1.0, (20, 64, 64, 288), &d)?;
    let gather = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            im2col::composed(f.as_tensor())?
        } else {
            im2col::im2col3x3(f.as_tensor())?
        };
        (y * &gf)?.sum_all()?.backward().map(|_| ())
    };
    report(
        "3×3 gather [20, 64, 64, 32]",
        best(|| gather(false))?,
        best(|| gather(true))?,
    );
    Ok(())
}
