//! Taylor-mode jets against central finite differences (f64, 1e-6 relative).

use candle_core::{Device, Tensor};
use nabla_nn::{Activation, Jet, JetSpec, Mlp, MlpConfig, Model, Precision};

fn points(n: usize, d: usize, seed: u64) -> Vec<f64> {
    // Deterministic points in [-1, 1]^d.
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n * d)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn eval(m: &Mlp, x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let t = Tensor::from_slice(x, (n, d), &Device::Cpu).unwrap();
    m.forward(&t)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// max |a − b| / max |b|
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max).max(1e-300);
    num / den
}

/// FD first and pure second derivatives for every dimension: ([n, d, m], [n, d, m]).
fn fd_derivs(m: &Mlp, x: &[f64], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let out = m.out_dim();
    let u0 = eval(m, x, n, d);
    let mut g = vec![0.0; n * d * out];
    let mut h2 = vec![0.0; n * d * out];
    for i in 0..d {
        let shifted = |h: f64| {
            let mut y = x.to_vec();
            for p in 0..n {
                y[p * d + i] += h;
            }
            eval(m, &y, n, d)
        };
        let h1 = 1e-5;
        let (up, um) = (shifted(h1), shifted(-h1));
        let h = 2e-3;
        let (up2, um2) = (shifted(h), shifted(-h));
        // Richardson-extrapolated second difference (O(h⁴)).
        let h4 = h / 2.0;
        let (up4, um4) = (shifted(h4), shifted(-h4));
        for p in 0..n {
            for o in 0..out {
                let a = p * out + o;
                g[(p * d + i) * out + o] = (up[a] - um[a]) / (2.0 * h1);
                let s_h = (up2[a] - 2.0 * u0[a] + um2[a]) / (h * h);
                let s_h2 = (up4[a] - 2.0 * u0[a] + um4[a]) / (h4 * h4);
                h2[(p * d + i) * out + o] = (4.0 * s_h2 - s_h) / 3.0;
            }
        }
    }
    (g, h2)
}

fn check_against_fd(cfg: &MlpConfig, n: usize) {
    let d = cfg.widths[0];
    let out = *cfg.widths.last().unwrap();
    let m = Mlp::new(cfg, &Device::Cpu).unwrap();
    let x = points(n, d, 7);
    let xt = Tensor::from_slice(&x, (n, d), &Device::Cpu).unwrap();
    let jet: Jet = m.jet(&xt, &JetSpec::laplacian(d)).unwrap();
    // The value equals the plain forward pass.
    assert!(rel_err(&to_vec(&jet.value), &eval(&m, &x, n, d)) < 1e-14);
    let (g_fd, h_fd) = fd_derivs(&m, &x, n, d);
    let g = to_vec(jet.grad.as_ref().unwrap());
    let h = to_vec(jet.second.as_ref().unwrap());
    let eg = rel_err(&g, &g_fd);
    let eh = rel_err(&h, &h_fd);
    assert!(eg < 1e-6, "{cfg:?}: gradient rel err {eg:e}");
    assert!(eh < 1e-6, "{cfg:?}: second-derivative rel err {eh:e}");
    // Laplacian = sum of the pure second derivatives.
    let lap = to_vec(jet.laplacian.as_ref().unwrap());
    for p in 0..n {
        for o in 0..out {
            let s: f64 = (0..d).map(|i| h_fd[(p * d + i) * out + o]).sum();
            let scale = h_fd.iter().map(|v| v.abs()).fold(0.0, f64::max) * d as f64;
            assert!((lap[p * out + o] - s).abs() < 1e-6 * scale, "laplacian");
        }
    }
}

#[test]
fn jet_matches_finite_differences_for_every_activation() {
    for act in [
        Activation::Tanh,
        Activation::Sin,
        Activation::Gelu,
        Activation::Silu,
    ] {
        let cfg = MlpConfig::new(&[3, 16, 16, 2])
            .activation(act)
            .precision(Precision::F64)
            .seed(3);
        check_against_fd(&cfg, 5);
    }
}

#[test]
fn jet_matches_finite_differences_with_fourier_features() {
    let cfg = MlpConfig::new(&[2, 12, 1])
        .precision(Precision::F64)
        .fourier(8, 1.0)
        .seed(11);
    check_against_fd(&cfg, 6);
    let cfg = cfg.activation(Activation::Sin);
    check_against_fd(&cfg, 4);
}

#[test]
fn jet_of_a_network_without_hidden_layers_is_affine() {
    let cfg = MlpConfig::new(&[2, 1]).precision(Precision::F64);
    let m = Mlp::new(&cfg, &Device::Cpu).unwrap();
    let x = Tensor::from_slice(&points(3, 2, 1), (3, 2), &Device::Cpu).unwrap();
    let jet = m.jet(&x, &JetSpec::laplacian(2)).unwrap();
    assert!(to_vec(jet.laplacian.as_ref().unwrap())
        .iter()
        .all(|v| *v == 0.0));
    let w = to_vec(m.layers()[0].weight.as_tensor());
    let g = to_vec(jet.grad.as_ref().unwrap());
    assert_eq!(&g[0..2], &w[..]);
}

#[test]
fn selected_dimensions_sampled_laplacian_and_gradient_order() {
    let d = 5;
    let cfg = MlpConfig::new(&[d, 16, 16, 1])
        .precision(Precision::F64)
        .seed(5);
    let m = Mlp::new(&cfg, &Device::Cpu).unwrap();
    let n = 4;
    let x = Tensor::from_slice(&points(n, d, 9), (n, d), &Device::Cpu).unwrap();
    let full = m.jet(&x, &JetSpec::laplacian(d)).unwrap();
    let full_h = to_vec(full.second.as_ref().unwrap()); // [n, d, 1]
    let full_g = to_vec(full.grad.as_ref().unwrap());

    // Second derivatives over a subset, in a chosen order; gradient reordered.
    let spec = JetSpec::laplacian_over(d, &[3, 1]).with_first(&[4, 0, 3]);
    let j = m.jet(&x, &spec).unwrap();
    let h = to_vec(j.second.as_ref().unwrap());
    let g = to_vec(j.grad.as_ref().unwrap());
    for p in 0..n {
        assert!((h[p * 2] - full_h[p * d + 3]).abs() < 1e-12);
        assert!((h[p * 2 + 1] - full_h[p * d + 1]).abs() < 1e-12);
        for (a, &i) in [4, 0, 3].iter().enumerate() {
            assert!((g[p * 3 + a] - full_g[p * d + i]).abs() < 1e-12);
        }
        let lap = to_vec(j.laplacian.as_ref().unwrap());
        assert!((lap[p] - (full_h[p * d + 3] + full_h[p * d + 1])).abs() < 1e-12);
    }

    // SDGD: (d/k)·Σ over the sample; no gradient carried; averaging over every k-subset
    // gives the exact Laplacian (unbiasedness).
    let j = m.jet(&x, &JetSpec::sampled_laplacian(d, &[0, 2])).unwrap();
    assert!(j.grad.is_none());
    let lap = to_vec(j.laplacian.as_ref().unwrap());
    for p in 0..n {
        let expect = d as f64 / 2.0 * (full_h[p * d] + full_h[p * d + 2]);
        assert!((lap[p] - expect).abs() < 1e-12);
    }
    let mut mean = vec![0.0; n];
    let mut count = 0.0;
    for a in 0..d {
        for b in a + 1..d {
            let j = m.jet(&x, &JetSpec::sampled_laplacian(d, &[a, b])).unwrap();
            for (mv, v) in mean.iter_mut().zip(to_vec(j.laplacian.as_ref().unwrap())) {
                *mv += v;
            }
            count += 1.0;
        }
    }
    let exact = to_vec(full.laplacian.as_ref().unwrap());
    for p in 0..n {
        assert!((mean[p] / count - exact[p]).abs() < 1e-10 * exact[p].abs().max(1.0));
    }
    let mut rng = rand::rngs::mock::StepRng::new(3, 7);
    let s = nabla_nn::sample_dims(100, 10, &mut rng);
    assert_eq!(s.len(), 10);
    assert!(s.windows(2).all(|w| w[0] < w[1]) && s.iter().all(|&i| i < 100));
}

#[test]
fn bad_jet_specs_are_errors() {
    let m = Mlp::new(&MlpConfig::new(&[2, 4, 1]), &Device::Cpu).unwrap();
    let x = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(m.jet(&x, &JetSpec::laplacian_over(2, &[2])).is_err());
    assert!(m.jet(&x, &JetSpec::laplacian_over(2, &[1, 1])).is_err());
    assert!(m.jet(&x, &JetSpec::laplacian(3)).is_err());
    let x3 = Tensor::zeros((3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(m.forward(&x3).is_err());
}

/// Parameter gradients of a residual loss built from the jet (one backward) agree with finite
/// differences in the parameters.
#[test]
fn backward_through_the_jet_gives_parameter_gradients() {
    let d = 2;
    let cfg = MlpConfig::new(&[d, 8, 8, 1])
        .precision(Precision::F64)
        .fourier(4, 0.5)
        .seed(2);
    let m = Mlp::new(&cfg, &Device::Cpu).unwrap();
    let n = 6;
    let x = Tensor::from_slice(&points(n, d, 3), (n, d), &Device::Cpu).unwrap();
    let loss = |m: &Mlp| -> Tensor {
        let j = m.jet(&x, &JetSpec::laplacian(d)).unwrap();
        // A Poisson-like residual: mean((Δu + u + |∇u|²)²)
        let g2 = j.grad.as_ref().unwrap().sqr().unwrap().sum(1).unwrap();
        let r = ((j.laplacian.as_ref().unwrap() + &j.value).unwrap() + g2).unwrap();
        r.sqr().unwrap().mean_all().unwrap()
    };
    let l = loss(&m);
    let grads = l.backward().unwrap();
    let params = m.params();
    let analytic = params.flatten_grads(&grads).unwrap();
    let theta = params.flatten().unwrap();
    let l0 = l.to_scalar::<f64>().unwrap();
    assert!(l0 > 0.0);
    let mut checked = 0;
    for idx in (0..theta.len()).step_by(7) {
        let h = 1e-6;
        let mut tp = theta.clone();
        tp[idx] += h;
        params.set_flat(&tp).unwrap();
        let lp = loss(&m).to_scalar::<f64>().unwrap();
        tp[idx] -= 2.0 * h;
        params.set_flat(&tp).unwrap();
        let lm = loss(&m).to_scalar::<f64>().unwrap();
        params.set_flat(&theta).unwrap();
        let fd = (lp - lm) / (2.0 * h);
        let scale = analytic.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(
            (fd - analytic[idx]).abs() < 1e-6 * scale,
            "param {idx}: fd {fd} vs backward {}",
            analytic[idx]
        );
        checked += 1;
    }
    assert!(checked > 10);
}

#[test]
fn same_seed_same_weights_and_f32_default() {
    let cfg = MlpConfig::new(&[2, 32, 32, 1]).seed(42);
    let a = Mlp::new(&cfg, &Device::Cpu).unwrap();
    let b = Mlp::new(&cfg, &Device::Cpu).unwrap();
    let c = Mlp::new(&cfg.clone().seed(43), &Device::Cpu).unwrap();
    assert_eq!(a.dtype(), candle_core::DType::F32);
    let (fa, fb, fc) = (
        a.params().flatten().unwrap(),
        b.params().flatten().unwrap(),
        c.params().flatten().unwrap(),
    );
    assert_eq!(fa, fb);
    assert_ne!(fa, fc);
    assert_eq!(
        a.params().num_trainable(),
        2 * 32 + 32 + 32 * 32 + 32 + 32 + 1
    );
    // Glorot uniform bound for the first layer.
    let bound = (6.0f64 / 34.0).sqrt();
    let w = a.params().trainable()[0]
        .1
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(w.iter().all(|v| (*v as f64).abs() <= bound));
    // f32 jets run and are close to the f64 ones.
    let x = Tensor::from_slice(&points(4, 2, 5), (4, 2), &Device::Cpu).unwrap();
    let j32 = a.jet(&x, &JetSpec::laplacian(2)).unwrap();
    assert_eq!(j32.value.dtype(), candle_core::DType::F32);
    let a64 = Mlp::new(&cfg.clone().precision(Precision::F64), &Device::Cpu).unwrap();
    let j64 = a64.jet(&x, &JetSpec::laplacian(2)).unwrap();
    let l32: Vec<f64> = to_vec(
        &j32.laplacian
            .unwrap()
            .to_dtype(candle_core::DType::F64)
            .unwrap(),
    );
    let l64 = to_vec(&j64.laplacian.unwrap());
    assert!(rel_err(&l32, &l64) < 1e-4);
}

/// `jet_from_input` is the chain rule: fed v(x) = (sin x₀, x₀x₁, x₁²) with its exact
/// derivatives, the network's ∂u/∂xᵢ and ∂²u/∂xᵢ² match central differences of x ↦ net(v(x));
/// and fed the identity map it reproduces `jet` exactly.
#[test]
fn jet_from_input_applies_the_chain_rule() {
    let m = MlpConfig::new(&[3, 12, 12, 1])
        .activation(Activation::Gelu)
        .precision(Precision::F64)
        .seed(5)
        .build(&Device::Cpu)
        .unwrap();
    let n = 7;
    let x = points(n, 2, 9);
    let v = |p: &[f64]| [p[0].sin(), p[0] * p[1], p[1] * p[1]];
    let (mut val, mut d1, mut d2) = (vec![], vec![], vec![]);
    for p in x.chunks(2) {
        val.extend(v(p));
        // ∂v/∂x₀, ∂v/∂x₁
        d1.extend([p[0].cos(), p[1], 0.0, 0.0, p[0], 2.0 * p[1]]);
        // ∂²v/∂x₀², ∂²v/∂x₁²
        d2.extend([-p[0].sin(), 0.0, 0.0, 0.0, 0.0, 2.0]);
    }
    let t = |v: Vec<f64>, s: &[usize]| Tensor::from_vec(v, s, &Device::Cpu).unwrap();
    let jet = m
        .jet_from_input(
            &t(val, &[n, 3]),
            &t(d1, &[n, 2, 3]),
            Some(&t(d2, &[n, 2, 3])),
        )
        .unwrap();
    let g: Vec<Vec<f64>> = jet.grad.unwrap().squeeze(2).unwrap().to_vec2().unwrap();
    let s: Vec<Vec<f64>> = jet.second.unwrap().squeeze(2).unwrap().to_vec2().unwrap();
    let lap: Vec<f64> = jet
        .laplacian
        .unwrap()
        .squeeze(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    let f = |p: [f64; 2]| eval(&m, &v(&p), 1, 3)[0];
    let h = 1e-4;
    for (k, p) in x.chunks(2).enumerate() {
        for i in 0..2 {
            let mut a = [p[0], p[1]];
            let mut b = a;
            a[i] += h;
            b[i] -= h;
            let c = f([p[0], p[1]]);
            let fd1 = (f(a) - f(b)) / (2.0 * h);
            let fd2 = (f(a) - 2.0 * c + f(b)) / (h * h);
            assert!(
                (fd1 - g[k][i]).abs() < 1e-6 * (1.0 + fd1.abs()),
                "{fd1} {}",
                g[k][i]
            );
            assert!(
                (fd2 - s[k][i]).abs() < 1e-4 * (1.0 + fd2.abs()),
                "{fd2} {}",
                s[k][i]
            );
        }
        assert!((lap[k] - s[k][0] - s[k][1]).abs() < 1e-12);
    }
    // Identity input: the same as the ordinary jet.
    let m2 = MlpConfig::new(&[2, 10, 1])
        .activation(Activation::Tanh)
        .precision(Precision::F64)
        .seed(2)
        .build(&Device::Cpu)
        .unwrap();
    let xt = t(x.clone(), &[n, 2]);
    let eye = t(vec![1.0, 0.0, 0.0, 1.0], &[1, 2, 2])
        .broadcast_as((n, 2, 2))
        .unwrap()
        .contiguous()
        .unwrap();
    let zero = Tensor::zeros((n, 2, 2), candle_core::DType::F64, &Device::Cpu).unwrap();
    let a = m2.jet_from_input(&xt, &eye, Some(&zero)).unwrap();
    let b = m2.jet_unfused(&xt, &JetSpec::laplacian(2)).unwrap();
    let diff = |p: &Tensor, q: &Tensor| -> f64 {
        (p - q)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    assert!(diff(&a.value, &b.value) < 1e-14);
    assert!(diff(a.grad.as_ref().unwrap(), b.grad.as_ref().unwrap()) < 1e-14);
    assert!(diff(a.laplacian.as_ref().unwrap(), b.laplacian.as_ref().unwrap()) < 1e-14);
    // Shape errors are one-line errors, not panics.
    assert!(m2
        .jet_from_input(&xt, &zero.narrow(2, 0, 1).unwrap(), None)
        .is_err());
}
