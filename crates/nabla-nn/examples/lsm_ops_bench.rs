//! The LSM's fused CPU ops against the same functions from candle ops, forward + backward,
//! best of 7 in one process, at the shapes of an LSM's finest level (batch 20 at 64², width
//! 32 or the first argument, 4×4 patches, 8 heads, 4 latent tokens, 12 basis functions):
//! `cargo run --release -p nabla-nn --example lsm_ops_bench [-- WIDTH]`
use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::batch_norm::{self, BatchStats};
use nabla_nn::spectral_block::{self, BlockParams, BlockShape};
use nabla_nn::{conv3x3, gelu_head, im2col, max_pool, trig_basis, upsample};
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
    let c: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(32);
    println!("width {c}");
    // Batch norm + ReLU after a convolution: [20·64², 32].
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (81920, c), &d)?)?;
    let g = Var::from_tensor(&Tensor::ones(c, DType::F32, &d)?)?;
    let b = Var::from_tensor(&Tensor::zeros(c, DType::F32, &d)?)?;
    let w = Tensor::randn(0f32, 1.0, (81920, c), &d)?;
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
        &format!("batch norm + ReLU [81920, {c}]"),
        best(|| bn(false))?,
        best(|| bn(true))?,
    );
    // The latent transition: 20·16² patches × 4 tokens, 32 channels, 12 basis functions.
    let z = Var::from_tensor(&Tensor::randn(0f32, 1.0, (20480, c), &d)?)?;
    let wt = Var::from_tensor(&Tensor::randn(0f32, 0.03, (c, 24), &d)?)?;
    let gz = Tensor::randn(0f32, 1.0, (20480, c), &d)?;
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
        &format!("sin/cos transition [20480, {c}], M = 12"),
        best(|| tr(false))?,
        best(|| tr(true))?,
    );
    // The 3×3 neighbourhood gather of a [20, 64, 64, 32] field.
    let f = Var::from_tensor(&Tensor::randn(0f32, 1.0, (20, 64, 64, c), &d)?)?;
    let gf = Tensor::randn(0f32, 1.0, (20, 64, 64, 9 * c), &d)?;
    let gather = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            im2col::composed(f.as_tensor())?
        } else {
            im2col::im2col3x3(f.as_tensor())?
        };
        (y * &gf)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("3×3 gather [20, 64, 64, {c}]"),
        best(|| gather(false))?,
        best(|| gather(true))?,
    );
    // The 3×3 convolution C → C, fused against the gather + one matmul.
    let k = Var::from_tensor(&Tensor::randn(0f32, 0.05, (9 * c, c), &d)?)?;
    let gy = Tensor::randn(0f32, 1.0, (20, 64, 64, c), &d)?;
    let conv = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            let cols = im2col::im2col3x3(f.as_tensor())?.reshape((81920, 9 * c))?;
            cols.matmul(k.as_tensor())?.reshape((20, 64, 64, c))?
        } else {
            conv3x3::conv3x3(f.as_tensor(), k.as_tensor())?
        };
        (y * &gy)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("3×3 convolution [20, 64, 64, {c}] (vs gather + matmul)"),
        best(|| conv(false))?,
        best(|| conv(true))?,
    );
    // The neural spectral block on the same field.
    let shape = BlockShape {
        patch: 4,
        heads: 8,
        tokens: 4,
        basis: 12,
    };
    let var = |dims: &[usize], s: f32| Var::from_tensor(&Tensor::randn(0f32, s, dims, &d)?);
    let vars = [
        var(&[c, 2 * c], 0.2)?,
        var(&[2 * c], 0.2)?,
        var(&[c, c], 0.2)?,
        var(&[c], 0.2)?,
        var(&[8, 4, c / 8], 0.1)?,
        var(&[c, 24], 0.03)?,
    ];
    let params = BlockParams {
        encode_weight: vars[0].as_tensor(),
        encode_bias: vars[1].as_tensor(),
        decode_weight: vars[2].as_tensor(),
        decode_bias: vars[3].as_tensor(),
        latent: vars[4].as_tensor(),
        basis: vars[5].as_tensor(),
    };
    let block = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            spectral_block::composed(f.as_tensor(), &params, shape)?
        } else {
            spectral_block::spectral_block(f.as_tensor(), &params, shape, true)?
        };
        (y * &gy)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("neural spectral block [20, 64, 64, {c}]"),
        best(|| block(false))?,
        best(|| block(true))?,
    );
    // 2×2 max pooling.
    let gp = Tensor::randn(0f32, 1.0, (20, 32, 32, c), &d)?;
    let pool = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            f.as_tensor()
                .reshape((20, 32, 2, 32, 2, c))?
                .max(4)?
                .max(2)?
        } else {
            max_pool::max_pool2x2(f.as_tensor())?
        };
        (y * &gp)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("2×2 max pool [20, 64, 64, {c}]"),
        best(|| pool(false))?,
        best(|| pool(true))?,
    );
    // Bilinear ×2 upsampling of the level below.
    let coarse = Var::from_tensor(&Tensor::randn(0f32, 1.0, (20, 32, 32, c), &d)?)?;
    let up = |composed: bool| -> candle_core::Result<()> {
        let y = if composed {
            upsample::composed(coarse.as_tensor(), false)?
        } else {
            upsample::upsample_bilinear2x(coarse.as_tensor())?
        };
        (y * &gy)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("bilinear ×2 upsampling [20, 32, 32, {c}]"),
        best(|| up(false))?,
        best(|| up(true))?,
    );
    // The projection head C → 128 → 1 with a GELU between.
    let heads = [
        var(&[c, 128], 0.2)?,
        var(&[128], 0.2)?,
        var(&[128, 1], 0.1)?,
        var(&[1], 0.1)?,
    ];
    let g1 = Tensor::randn(0f32, 1.0, (20, 64, 64, 1), &d)?;
    let head = |composed: bool| -> candle_core::Result<()> {
        let f2 = if composed {
            gelu_head::composed
        } else {
            gelu_head::gelu_head
        };
        let [w1, b1, w2, b2] = &heads;
        let y = f2(
            f.as_tensor(),
            w1.as_tensor(),
            b1.as_tensor(),
            w2.as_tensor(),
            b2.as_tensor(),
        )?;
        (y * &g1)?.sum_all()?.backward().map(|_| ())
    };
    report(
        &format!("projection head {c} → 128 → 1 at [20, 64, 64]"),
        best(|| head(false))?,
        best(|| head(true))?,
    );
    Ok(())
}
