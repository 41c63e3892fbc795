//! L-BFGS really converges: Rosenbrock in 2-D and 10-D to 1e-8 of the minimizer, and a small
//! least-squares network problem far below what Adam reaches in the same number of steps.

use candle_core::{Device, Tensor};
use nabla_nn::optim::{Adam, AdamConfig, Lbfgs, LbfgsConfig, LbfgsStop};
use nabla_nn::{Mlp, MlpConfig, Model, Precision, Result};

/// Extended Rosenbrock (independent pairs), minimum 0 at (1, …, 1).
fn rosenbrock(x: &[f64], g: &mut [f64]) -> Result<f64> {
    let mut f = 0.0;
    for i in (0..x.len()).step_by(2) {
        let (a, b) = (x[i], x[i + 1]);
        let t1 = b - a * a;
        let t2 = 1.0 - a;
        f += 100.0 * t1 * t1 + t2 * t2;
        g[i] = -400.0 * a * t1 - 2.0 * t2;
        g[i + 1] = 200.0 * t1;
    }
    Ok(f)
}

fn run_rosenbrock(n: usize, history: usize) {
    let mut x: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();
    let mut opt = Lbfgs::new(LbfgsConfig::new(1000).history(history).tol_grad(1e-12));
    let r = opt.minimize(&mut x, &mut rosenbrock).unwrap();
    let err = x.iter().map(|v| (v - 1.0).abs()).fold(0.0, f64::max);
    assert_eq!(r.stop, LbfgsStop::Gradient, "{r:?}");
    assert!(err < 1e-8, "n={n}: max |x − 1| = {err:e} ({r:?})");
    assert!(r.f < 1e-16, "{r:?}");
    assert!(r.iterations < 200, "{r:?}");
    eprintln!("rosenbrock n={n}: {r:?}, max |x-1| = {err:e}");
}

#[test]
fn rosenbrock_2d_converges_to_1e_8() {
    run_rosenbrock(2, 10);
}

#[test]
fn rosenbrock_10d_converges_to_1e_8() {
    run_rosenbrock(10, 5);
    run_rosenbrock(10, 50);
}

/// Fit y = sin(3x)·cos(2x) on 64 points with a 1-16-16-1 tanh network (f64): L-BFGS for N
/// iterations against Adam for N steps from the same initial weights.
#[test]
fn lbfgs_beats_adam_on_a_small_regression_network() {
    let dev = Device::Cpu;
    let n = 64;
    let xs: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| (3.0 * x).sin() * (2.0 * x).cos())
        .collect();
    let x = Tensor::from_slice(&xs, (n, 1), &dev).unwrap();
    let y = Tensor::from_slice(&ys, (n, 1), &dev).unwrap();
    let cfg = MlpConfig::new(&[1, 16, 16, 1])
        .precision(Precision::F64)
        .seed(1);
    let loss_of = |m: &Mlp| -> Tensor {
        (m.forward(&x).unwrap() - &y)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap()
    };
    let steps = 500;

    // Adam, same number of steps (a well-tuned rate for this problem).
    let adam_model = Mlp::new(&cfg, &dev).unwrap();
    let mut adam = Adam::new(adam_model.params().vars(), AdamConfig::new(steps, 1e-2)).unwrap();
    for _ in 0..steps {
        let l = loss_of(&adam_model);
        adam.step(&l.backward().unwrap(), 1e-2).unwrap();
    }
    let adam_loss = loss_of(&adam_model).to_scalar::<f64>().unwrap();

    // L-BFGS on the flattened parameters.
    let model = Mlp::new(&cfg, &dev).unwrap();
    let params = model.params().clone();
    let mut theta = params.flatten().unwrap();
    let mut obj = |th: &[f64], g: &mut [f64]| -> Result<f64> {
        params.set_flat(th)?;
        let l = loss_of(&model);
        let grads = l.backward()?;
        g.copy_from_slice(&params.flatten_grads(&grads)?);
        Ok(l.to_scalar::<f64>()?)
    };
    let mut opt = Lbfgs::new(LbfgsConfig::new(steps).tol_grad(0.0).tol_change(0.0));
    let r = opt.minimize(&mut theta, &mut obj).unwrap();
    eprintln!("adam {steps} steps: {adam_loss:e}; lbfgs: {r:?}");
    assert!(
        r.f < 1e-3 * adam_loss,
        "L-BFGS {} not far below Adam {adam_loss}",
        r.f
    );
    assert!(r.f < 1e-5, "{r:?}");
    // It did not stop early.
    assert!(r.iterations >= steps / 2, "{r:?}");
}
