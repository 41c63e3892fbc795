//! Fused batch norm + ReLU against the same function from candle ops, forward + backward on
//! `[N, C]` features (default: an LSM's finest level, 20·64² rows, 32 channels):
//! `cargo run --release -p nabla-nn --example bn_bench -- [ROWS] [CHANNELS]`
use candle_core::{Device, Tensor, Var};
use nabla_nn::batch_norm::{batch_norm_relu, composed, BatchStats};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, c) = (
        args.first().copied().unwrap_or(81920),
        args.get(1).copied().unwrap_or(32),
    );
    let d = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, c), &d)?)?;
    let g = Var::from_tensor(&Tensor::ones(c, candle_core::DType::F32, &d)?)?;
    let b = Var::from_tensor(&Tensor::zeros(c, candle_core::DType::F32, &d)?)?;
    let w = Tensor::randn(0f32, 1.0, (n, c), &d)?;
    let (mut fused, mut reference) = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        let t = Instant::now();
        let (y, _) = batch_norm_relu(
            x.as_tensor(),
            g.as_tensor(),
            b.as_tensor(),
            &BatchStats::Batch,
        )?;
        (y * &w)?.sum_all()?.backward()?;
        fused = fused.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (y, _) = composed(
            x.as_tensor(),
            g.as_tensor(),
            b.as_tensor(),
            &BatchStats::Batch,
        )?;
        (y * &w)?.sum_all()?.backward()?;
        reference = reference.min(t.elapsed().as_secs_f64());
    }
    println!(
        "[{n}, {c}] batch norm + ReLU, forward + backward (best of 7): fused {:.1} ms, candle ops {:.1} ms ({:.2}x)",
        fused * 1e3,
        reference * 1e3,
        reference / fused
    );
    Ok(())
}
