//! The fused per-mode complex channel mixing against the same product written with candle ops
//! (complex multiply as explicit real products), in f64: values and the gradients of y, R, I.

use candle_core::{DType, Device, Tensor, Var};
use nabla_nn::spectral_mix::spectral_mix;

/// out_re = y_re R − y_im I, out_im = y_re I + y_im R per mode, from broadcast matmuls.
fn reference(y: &Tensor, r: &Tensor, i: &Tensor) -> Tensor {
    // [B, 2, M, C] → per part [M, B, C].
    let part = |k: usize| {
        y.narrow(1, k, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .transpose(0, 1)
            .unwrap()
            .contiguous()
            .unwrap()
    };
    let (yr, yi) = (part(0), part(1));
    let mm = |a: &Tensor, w: &Tensor| a.matmul(w).unwrap();
    let or = (mm(&yr, r) - mm(&yi, i)).unwrap();
    let oi = (mm(&yr, i) + mm(&yi, r)).unwrap();
    // [M, B, Co] ×2 → [B, 2, M, Co].
    Tensor::stack(&[or, oi], 0)
        .unwrap()
        .permute((2, 0, 1, 3))
        .unwrap()
        .contiguous()
        .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn spectral_mix_matches_complex_products_and_their_gradients() {
    let dev = Device::Cpu;
    for (b, m, c, co) in [(3, 5, 4, 6), (1, 1, 1, 1), (7, 12, 8, 8)] {
        let y = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, 2, m, c), &dev).unwrap()).unwrap();
        let r = Var::from_tensor(&Tensor::randn(0f64, 1.0, (m, c, co), &dev).unwrap()).unwrap();
        let i = Var::from_tensor(&Tensor::randn(0f64, 1.0, (m, c, co), &dev).unwrap()).unwrap();
        let weights = Tensor::randn(0f64, 1.0, (b, 2, m, co), &dev).unwrap();
        let fused = spectral_mix(y.as_tensor(), r.as_tensor(), i.as_tensor()).unwrap();
        let refd = reference(y.as_tensor(), r.as_tensor(), i.as_tensor());
        assert_eq!(fused.dims(), &[b, 2, m, co]);
        assert!(max_abs_diff(&fused, &refd) < 1e-12);
        // A loss that weighs every output differently, so every adjoint path is exercised.
        let gf = (fused * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gr = (refd * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, v) in [("y", &y), ("R", &r), ("I", &i)] {
            let a = gf.get(v.as_tensor()).expect("fused gradient");
            let e = gr.get(v.as_tensor()).expect("reference gradient");
            let d = max_abs_diff(a, e);
            assert!(d < 1e-11, "∂{name}: {d:e} for {:?}", (b, m, c, co));
        }
    }
}

#[test]
fn spectral_mix_runs_in_f32_and_rejects_mismatched_shapes() {
    let dev = Device::Cpu;
    let y = Tensor::randn(0f32, 1.0, (2, 2, 3, 4), &dev).unwrap();
    let r = Tensor::randn(0f32, 1.0, (3, 4, 5), &dev).unwrap();
    let i = Tensor::randn(0f32, 1.0, (3, 4, 5), &dev).unwrap();
    let out = spectral_mix(&y, &r, &i).unwrap();
    assert_eq!(out.dtype(), DType::F32);
    let d = max_abs_diff(
        &out.to_dtype(DType::F64).unwrap(),
        &reference(&y, &r, &i).to_dtype(DType::F64).unwrap(),
    );
    assert!(d < 1e-5, "{d}");
    let wrong = Tensor::randn(0f32, 1.0, (3, 5, 5), &dev).unwrap();
    let err = spectral_mix(&y, &wrong, &wrong).unwrap_err().to_string();
    assert!(err.contains("does not fit"), "{err}");
}
