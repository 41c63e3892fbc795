//! FNO checks: translation equivariance (a Fourier layer is a convolution), resolution
//! independence, parameter gradients against finite differences, and DeepONet shapes.

use candle_core::{DType, Device, Tensor};
use nabla_nn::{DeepONet, DeepONetConfig, Fno, FnoConfig, Model, Precision};
use std::f64::consts::PI;

fn periodic_config(dim: usize, layers: usize) -> FnoConfig {
    let mut c = if dim == 1 {
        FnoConfig::new_1d(1, 5)
    } else {
        FnoConfig::new_2d(1, 4)
    };
    c.width = 6;
    c.layers = layers;
    c.projection = 8;
    c.grid_channels = false;
    c.precision = Precision::F64;
    c.seed = 3;
    c
}

/// A smooth periodic field with content in low modes on an h×w grid (endpoint excluded).
fn field(h: usize, w: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(h * w);
    for i in 0..h {
        for j in 0..w {
            let (x, y) = (i as f64 / h as f64, j as f64 / w as f64);
            v.push(
                0.3 + (2.0 * PI * x).sin() * (2.0 * PI * 2.0 * y).cos()
                    + 0.5 * (2.0 * PI * (3.0 * x - y)).cos(),
            );
        }
    }
    v
}

#[test]
fn fno_2d_commutes_with_cyclic_shifts() {
    let model = Fno::new(&periodic_config(2, 3), &Device::Cpu).unwrap();
    let (h, w) = (16, 12);
    let v = field(h, w);
    let (sx, sy) = (5, 7);
    let mut shifted = vec![0.0; h * w];
    for i in 0..h {
        for j in 0..w {
            shifted[((i + sx) % h) * w + (j + sy) % w] = v[i * w + j];
        }
    }
    let a = Tensor::from_vec(v, (1, h, w, 1), &Device::Cpu).unwrap();
    let b = Tensor::from_vec(shifted, (1, h, w, 1), &Device::Cpu).unwrap();
    let ya: Vec<f64> = model
        .forward(&a)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let yb: Vec<f64> = model
        .forward(&b)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = ya.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for i in 0..h {
        for j in 0..w {
            let p = ya[i * w + j];
            let q = yb[((i + sx) % h) * w + (j + sy) % w];
            assert!((p - q).abs() <= 1e-12 * scale, "({i},{j}): {p} vs {q}");
        }
    }
    // Not trivially constant.
    let spread =
        ya.iter().fold(f64::MIN, |m, &x| m.max(x)) - ya.iter().fold(f64::MAX, |m, &x| m.min(x));
    assert!(spread > 1e-3 * scale, "{spread}");
}

#[test]
fn one_layer_fno_is_resolution_independent_on_band_limited_input() {
    // With one Fourier layer (no activation before the pointwise projection) and a band-limited
    // input, the output at the coarse points must not depend on the grid it was computed on.
    for dim in [1, 2] {
        let model = Fno::new(&periodic_config(dim, 1), &Device::Cpu).unwrap();
        let (coarse, fine) = (12usize, 24usize);
        let run = |n: usize| -> Vec<f64> {
            let (h, w, shape): (usize, usize, Vec<usize>) = if dim == 1 {
                (n, 1, vec![1, n, 1])
            } else {
                (n, n, vec![1, n, n, 1])
            };
            let v = if dim == 1 {
                (0..n)
                    .map(|i| {
                        let x = i as f64 / n as f64;
                        0.2 + (2.0 * PI * x).sin() + 0.3 * (2.0 * PI * 4.0 * x).cos()
                    })
                    .collect()
            } else {
                field(h, w)
            };
            let a = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
            model
                .forward(&a)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let yc = run(coarse);
        let yf = run(fine);
        for (p, &c) in yc.iter().enumerate() {
            let f = if dim == 1 {
                yf[2 * p]
            } else {
                let (i, j) = (p / coarse, p % coarse);
                yf[(2 * i) * fine + 2 * j]
            };
            assert!((c - f).abs() < 1e-10, "dim {dim} point {p}: {c} vs {f}");
        }
    }
}

#[test]
fn fno_parameter_gradients_match_finite_differences() {
    let mut config = periodic_config(2, 2);
    config.grid_channels = true;
    config.padding = 0.25;
    let model = Fno::new(&config, &Device::Cpu).unwrap();
    let (h, w) = (10, 8);
    let a = Tensor::from_vec(field(h, w), (1, h, w, 1), &Device::Cpu).unwrap();
    let loss = |m: &Fno| -> Tensor { m.forward(&a).unwrap().sqr().unwrap().mean_all().unwrap() };
    let grads = loss(&model).backward().unwrap();
    for name in [
        "layers.0.spectral.real",
        "layers.1.spectral.imag",
        "layers.0.pointwise.weight",
        "lift.weight",
        "project.1.bias",
    ] {
        let var = model.params().get(name).unwrap().clone();
        let g: Vec<f64> = grads
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f64> = var.flatten_all().unwrap().to_vec1().unwrap();
        for idx in [0, base.len() / 2, base.len() - 1] {
            let eps = 1e-6;
            let mut plus = base.clone();
            plus[idx] += eps;
            var.set(&Tensor::from_vec(plus, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let lp: f64 = loss(&model).to_scalar().unwrap();
            let mut minus = base.clone();
            minus[idx] -= eps;
            var.set(&Tensor::from_vec(minus, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let lm: f64 = loss(&model).to_scalar().unwrap();
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let fd = (lp - lm) / (2.0 * eps);
            let tol = 1e-6 * fd.abs().max(1e-3);
            assert!(
                (fd - g[idx]).abs() < tol,
                "{name}[{idx}]: fd {fd} vs grad {}",
                g[idx]
            );
        }
    }
}

#[test]
fn deeponet_evaluates_on_any_point_set() {
    let config = DeepONetConfig::new(16, 2);
    let model = DeepONet::new(&config, &Device::Cpu).unwrap();
    let a = Tensor::rand(0f32, 1f32, (3, 16), &Device::Cpu).unwrap();
    let pts = Tensor::rand(0f32, 1f32, (7, 2), &Device::Cpu).unwrap();
    let y = model.forward(&a, &pts).unwrap();
    assert_eq!(y.dims(), &[3, 7]);
    assert_eq!(y.dtype(), DType::F32);
    assert!(model.params().get("branch.layers.0.weight").is_some());
    assert!(model.params().get("trunk.layers.3.bias").is_some());
    let bad = Tensor::rand(0f32, 1f32, (3, 15), &Device::Cpu).unwrap();
    let e = model.forward(&bad, &pts).unwrap_err().to_string();
    assert!(e.contains("expected [batch, 16]"), "{e}");
}
