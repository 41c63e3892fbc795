//! Benchmarks of the learning layer, printed as tables (not part of the test suite):
//! 1. Laplacian of an MLP by Taylor-mode jet vs candle's double backward
//!    (`CANDLE_GRAD_DO_NOT_DETACH=1`, set here before any candle op);
//! 2. L-BFGS vs Adam on a small least-squares network fit, same number of steps.
//!
//! `cargo run --release -p nabla-nn --example nn_bench`

use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::optim::{Adam, AdamConfig, Lbfgs, LbfgsConfig};
use nabla_nn::{JetSpec, Mlp, MlpConfig, Model, Precision, Result};
use std::time::Instant;

fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f(); // warm-up
    let t = Instant::now();
    for _ in 0..reps {
        out = f();
    }
    (t.elapsed().as_secs_f64() / reps as f64, out)
}

fn laplacian_double_backward(m: &Mlp, x: &Tensor, d: usize) -> Result<Tensor> {
    let xv = Var::from_tensor(x)?;
    let u = m.forward(xv.as_tensor())?;
    let gx = u
        .sum_all()?
        .backward()?
        .get(xv.as_tensor())
        .expect("grad")
        .clone();
    let mut lap: Option<Tensor> = None;
    for i in 0..d {
        let gg = gx.narrow(1, i, 1)?.sum_all()?.backward()?;
        let h = gg.get(xv.as_tensor()).expect("grad").narrow(1, i, 1)?;
        lap = Some(match lap {
            Some(l) => (l + h)?,
            None => h,
        });
    }
    Ok(lap.expect("d >= 1"))
}

fn main() -> Result<()> {
    nabla_nn::tune_allocator();
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let dev = Device::Cpu;
    println!("## Laplacian of an MLP (tanh, f32 unless noted), seconds per evaluation");
    println!("| d | widths | points | jet (u,∇u,Δu) | jet + backward to params | double backward (Δu only) | speed-up | max rel diff |");
    println!("|---|---|---|---|---|---|---|---|");
    for (d, widths, n) in [
        (2usize, vec![2usize, 64, 64, 64, 1], 2000usize),
        (10, vec![10, 64, 64, 64, 1], 1000),
        (100, vec![100, 128, 128, 128, 1], 100),
    ] {
        let m = Mlp::new(&MlpConfig::new(&widths).seed(1), &dev)?;
        let x = Tensor::rand(-1f32, 1f32, (n, d), &dev)?;
        let spec = JetSpec::laplacian(d).laplacian_only();
        let (t_jet, jet) = time(5, || m.jet(&x, &spec).expect("jet"));
        let (t_jet_bw, _) = time(5, || {
            let j = m.jet(&x, &spec).expect("jet");
            let l = j
                .lap()
                .expect("lap")
                .sqr()
                .and_then(|t| t.mean_all())
                .expect("loss");
            l.backward().expect("backward")
        });
        let (t_db, lap_db) = time(2, || laplacian_double_backward(&m, &x, d).expect("db"));
        let a = jet
            .lap()?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let b = lap_db
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let scale = b.iter().fold(0f64, |s, v| s.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0f64, |s, (p, q)| s.max((p - q).abs()))
            / scale;
        println!(
            "| {d} | {widths:?} | {n} | {t_jet:.4} | {t_jet_bw:.4} | {t_db:.4} | {:.1}× | {diff:.1e} |",
            t_db / t_jet
        );
    }
    // SDGD: memory/time grow with the sampled count k, not d.
    println!();
    println!("## SDGD jet at d = 1000 (widths [1000, 128, 128, 128, 1], 100 points)");
    println!("| sampled dims k | seconds per jet+backward |");
    println!("|---|---|");
    let d = 1000;
    let m = Mlp::new(&MlpConfig::new(&[d, 128, 128, 128, 1]).seed(1), &dev)?;
    let x = Tensor::rand(-1f32, 1f32, (100, d), &dev)?;
    for k in [10usize, 50, 100] {
        let dims: Vec<usize> = (0..k).map(|i| i * (d / k)).collect();
        let spec = JetSpec::sampled_laplacian(d, &dims).laplacian_only();
        let (t, _) = time(3, || {
            let j = m.jet(&x, &spec).expect("jet");
            j.lap()
                .expect("lap")
                .sqr()
                .and_then(|t| t.mean_all())
                .expect("l")
                .backward()
                .expect("bw")
        });
        println!("| {k} | {t:.4} |");
    }

    println!();
    println!("## L-BFGS vs Adam: fit sin(3x)cos(2x) on 64 points, MLP 1-16-16-1 tanh, f64");
    println!("| optimizer | steps | final loss | seconds |");
    println!("|---|---|---|---|");
    let n = 64;
    let xs: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| (3.0 * x).sin() * (2.0 * x).cos())
        .collect();
    let x = Tensor::from_slice(&xs, (n, 1), &dev)?;
    let y = Tensor::from_slice(&ys, (n, 1), &dev)?;
    let cfg = MlpConfig::new(&[1, 16, 16, 1])
        .precision(Precision::F64)
        .seed(1);
    let loss_of = |m: &Mlp| -> Result<Tensor> { Ok((m.forward(&x)? - &y)?.sqr()?.mean_all()?) };
    for steps in [500usize, 2000] {
        for lr in [1e-3, 1e-2] {
            let m = Mlp::new(&cfg, &dev)?;
            let mut adam = Adam::new(m.params().vars(), AdamConfig::new(steps, lr))?;
            let t = Instant::now();
            for _ in 0..steps {
                let l = loss_of(&m)?;
                adam.step(&l.backward()?, lr)?;
            }
            let f = loss_of(&m)?.to_scalar::<f64>()?;
            println!(
                "| Adam lr={lr:e} | {steps} | {f:.3e} | {:.3} |",
                t.elapsed().as_secs_f64()
            );
        }
        let m = Mlp::new(&cfg, &dev)?;
        let params = m.params().clone();
        let mut theta = params.flatten()?;
        let mut obj = |th: &[f64], g: &mut [f64]| -> Result<f64> {
            params.set_flat(th)?;
            let l = loss_of(&m)?;
            g.copy_from_slice(&params.flatten_grads(&l.backward()?)?);
            Ok(l.to_scalar::<f64>()?)
        };
        let t = Instant::now();
        let r = Lbfgs::new(LbfgsConfig::new(steps).tol_grad(0.0).tol_change(0.0))
            .minimize(&mut theta, &mut obj)?;
        println!(
            "| L-BFGS m=50 | {} ({} evals) | {:.3e} | {:.3} |",
            r.iterations,
            r.evaluations,
            r.f,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
