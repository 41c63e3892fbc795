//! Times FNO forward+backward steps (Darcy size: S = 64, modes 12, width 32, 4 layers).
//! `cargo run --release -p nabla-nn --example fno_step -- [S] [BATCH]`
use candle_core::{Device, Tensor};
use nabla_nn::{Fno, FnoConfig, Model};
use std::time::Instant;

fn main() -> nabla_nn::Result<()> {
    nabla_nn::tune_allocator();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let s = args.first().copied().unwrap_or(64);
    let batch = args.get(1).copied().unwrap_or(20);
    let mut config = FnoConfig::new_2d(1, 12);
    config.padding = 0.125;
    let model = Fno::new(&config, &Device::Cpu)?;
    let a = Tensor::rand(0f32, 1f32, (batch, s, s, 1), &Device::Cpu)?;
    let mut best = f64::MAX;
    for _ in 0..6 {
        let t = Instant::now();
        let y = model.forward(&a)?;
        let loss = y.sqr()?.mean_all()?;
        let g = loss.backward()?;
        let _ = g.get(&model.params().vars()[0]);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "S={s} batch={batch}: {:.1} ms/step, {:.1} samples/s, {} parameters",
        best * 1e3,
        batch as f64 / best,
        config.parameter_count()
    );
    Ok(())
}
