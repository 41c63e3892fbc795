//! Shared checks of the fused jet against the op-by-op jet (used by `fused_jet.rs` and
//! `fused_jet_portable.rs`).

use candle_core::{DType, Device, Tensor};
use nabla_nn::{Activation, JetSpec, Mlp, MlpConfig, Model, Precision};

/// A loss that uses every output of the jet, so every adjoint path is exercised.
pub fn loss(j: &nabla_nn::Jet) -> Tensor {
    // Uses every output so every adjoint path is exercised.
    let mut l = j.value.sqr().unwrap().sum_all().unwrap();
    if let Some(g) = &j.grad {
        l = (l + (g.sqr().unwrap() * 0.7).unwrap().sum_all().unwrap()).unwrap();
    }
    if let Some(lap) = &j.laplacian {
        let v = (lap * &j.value).unwrap();
        l = (l + v.sum_all().unwrap() + lap.sqr().unwrap().sum_all().unwrap()).unwrap();
    }
    l
}

/// max |a − b| / max |b|, in f64.
pub fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
    let a: Vec<f64> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.flatten_all().unwrap().to_vec1().unwrap();
    let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f64::max)
}

/// The fused jet in f32 (the packing-free AVX-512 products and the vectorized activation
/// rules where the CPU has them) against the op-by-op jet in f64 with the same weights.
pub fn check_f32(widths: &[usize], act: Activation, spec: JetSpec, n: usize) {
    let dev = Device::Cpu;
    let config = MlpConfig::new(widths).activation(act).seed(5);
    let m32 = Mlp::new(&config.clone().precision(Precision::F32), &dev).unwrap();
    let m64 = Mlp::new(&config.precision(Precision::F64), &dev).unwrap();
    for ((_, v32), (_, v64)) in m32
        .params()
        .trainable()
        .iter()
        .zip(m64.params().trainable())
    {
        v64.set(&v32.as_tensor().to_dtype(DType::F64).unwrap())
            .unwrap();
    }
    // Fixed inputs (a 64-bit LCG in [−1, 1)): `Tensor::rand` is unseeded, and some draws put
    // a parameter gradient's f32 cancellation above the tolerance — a flaky test, not a bug.
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (n as u64);
    let xs: Vec<f32> = (0..n * widths[0])
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let x32 = Tensor::from_vec(xs, (n, widths[0]), &dev).unwrap();
    let x64 = x32.to_dtype(DType::F64).unwrap();
    let a = m32.jet(&x32, &spec).unwrap();
    let b = m64.jet_unfused(&x64, &spec).unwrap();
    let f64_of = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
    let what = format!("{act:?}, {widths:?}, {n} points");
    assert!(max_rel(&f64_of(&a.value), &b.value) < 1e-5, "value: {what}");
    if let (Some(ga), Some(gb)) = (&a.grad, &b.grad) {
        assert!(max_rel(&f64_of(ga), gb) < 1e-5, "gradient: {what}");
    }
    if let (Some(la), Some(lb)) = (&a.laplacian, &b.laplacian) {
        assert!(max_rel(&f64_of(la), lb) < 1e-4, "Laplacian: {what}");
    }
    let ga = loss(&a).backward().unwrap();
    let gb = loss(&b).backward().unwrap();
    for ((name, v32), (_, v64)) in m32
        .params()
        .trainable()
        .iter()
        .zip(m64.params().trainable())
    {
        let da = f64_of(ga.get(v32.as_tensor()).expect("fused gradient"));
        let db = gb.get(v64.as_tensor()).expect("unfused gradient");
        let e = max_rel(&da, db);
        assert!(e < 1e-4, "{name}: {e:e} ({what})");
    }
}

/// [`check_f32`] over the shapes that cover the kernels' paths, for tanh and sin.
pub fn check_f32_shapes() {
    for act in [Activation::Tanh, Activation::Sin] {
        // 64-wide layers (the PINN shape), widths 32/48 (partial register panels), widths
        // that are not multiples of 16 (the general product), point counts that leave
        // partial row blocks.
        check_f32(
            &[2, 64, 64, 64, 1],
            act,
            JetSpec::laplacian(2).laplacian_only(),
            203,
        );
        check_f32(&[3, 32, 48, 1], act, JetSpec::laplacian(3), 37);
        check_f32(
            &[2, 20, 16, 1],
            act,
            JetSpec::laplacian(2).with_first(&[0, 1]),
            11,
        );
        check_f32(&[4, 64, 1], act, JetSpec::value(4), 1);
    }
}
