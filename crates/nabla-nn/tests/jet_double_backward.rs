//! Jets against candle's own double backward. Lives in its own test binary with a single test,
//! because `CANDLE_GRAD_DO_NOT_DETACH` is read once per thread when candle first runs a backward
//! pass; the test sets it before any candle op and then checks that it took effect.

use candle_core::{Device, Tensor, Var};
use nabla_nn::{Activation, JetSpec, Mlp, MlpConfig, Precision};

#[test]
fn jet_matches_double_backward() {
    // SAFETY of intent: this is the only test in this binary, set before any candle call.
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    let (n, d) = (5, 3);
    let vals: Vec<f64> = (0..n * d)
        .map(|i| ((i as f64) * 0.37).sin() * 0.9)
        .collect();
    for (act, fourier) in [
        (Activation::Tanh, false),
        (Activation::Sin, false),
        (Activation::Silu, false),
        (Activation::Gelu, false),
        (Activation::Tanh, true),
    ] {
        let mut cfg = MlpConfig::new(&[d, 16, 16, 1])
            .activation(act)
            .precision(Precision::F64)
            .seed(9);
        if fourier {
            cfg = cfg.fourier(6, 1.0);
        }
        let m = Mlp::new(&cfg, &Device::Cpu).unwrap();
        let x =
            Var::from_tensor(&Tensor::from_slice(&vals, (n, d), &Device::Cpu).unwrap()).unwrap();
        let u = m.forward(x.as_tensor()).unwrap();
        let g = u.sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap().clone();
        // The variable is effective: the gradient keeps its graph (it is detached without it).
        assert!(
            gx.track_op(),
            "CANDLE_GRAD_DO_NOT_DETACH=1 did not take effect"
        );
        let mut second = vec![0.0; n * d];
        for i in 0..d {
            let gi = gx.narrow(1, i, 1).unwrap().sum_all().unwrap();
            let gg = gi.backward().unwrap();
            let hx = gg.get(x.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
            for p in 0..n {
                second[p * d + i] = hx[p][i];
            }
        }
        assert!(
            second.iter().any(|v| v.abs() > 1e-6),
            "second derivatives vanish"
        );
        let jet = m.jet(x.as_tensor(), &JetSpec::laplacian(d)).unwrap();
        let jg = jet
            .grad
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let jh = jet
            .second
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let bg = gx.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let rel = |a: &[f64], b: &[f64]| {
            let num = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            num / b.iter().map(|y| y.abs()).fold(0.0, f64::max)
        };
        let (eg, eh) = (rel(&jg, &bg), rel(&jh, &second));
        assert!(
            eg < 1e-6,
            "{act} fourier={fourier}: gradient rel err {eg:e}"
        );
        assert!(
            eh < 1e-6,
            "{act} fourier={fourier}: second-derivative rel err {eh:e}"
        );
    }
}
