//! Times LSM training steps (forward + backward, batch-norm in training mode) at Darcy size:
//! `cargo run --release -p nabla-nn --example lsm_step -- [S] [BATCH] [WIDTH] [SCALES] [PATCH]
//! [TOKENS] [HEADS]` (defaults 64, 20, 32, 5, 4, 4, 8 — configs/lsm_darcy.toml). Compare with
//! `--example fno_step`.
use candle_core::{Device, Tensor};
use nabla_nn::{Lsm, LsmConfig, Model};
use std::time::Instant;

fn main() -> nabla_nn::Result<()> {
    nabla_nn::tune_allocator();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (s, batch) = (arg(0, 64), arg(1, 20));
    let config = LsmConfig {
        width: arg(2, 32),
        scales: arg(3, 5),
        patch: arg(4, 4),
        latent_tokens: arg(5, 4),
        heads: arg(6, 8),
        ..Default::default()
    };
    let model = Lsm::new(&config, &Device::Cpu)?;
    let a = Tensor::rand(0f32, 1f32, (batch, s, s, 1), &Device::Cpu)?;
    let (mut best, mut best_fwd) = (f64::MAX, f64::MAX);
    for _ in 0..4 {
        let t = Instant::now();
        let y = model.forward_train(&a)?;
        let loss = y.sqr()?.mean_all()?;
        best_fwd = best_fwd.min(t.elapsed().as_secs_f64());
        let g = loss.backward()?;
        let _ = g.get(&model.params().vars()[0]);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "S={s} batch={batch} width={} scales={} patch={} tokens={} heads={}: {:.1} ms/step (forward {:.1} ms), {:.1} samples/s, {} parameters",
        config.width,
        config.scales,
        config.patch,
        config.latent_tokens,
        config.heads,
        best * 1e3,
        best_fwd * 1e3,
        batch as f64 / best,
        model.parameter_count()
    );
    Ok(())
}
