//! DeepONet with a convolutional branch: shapes, settings errors, and that it learns a map
//! whose answer is known (a field's weighted means times fixed modes).

use candle_core::{Device, Tensor};
use nabla_nn::optim::{Adam, AdamConfig};
use nabla_nn::{Activation, DeepONet, DeepONetConfig, Model};

const S: usize = 16;

fn conv_config() -> DeepONetConfig {
    DeepONetConfig {
        branch_conv: vec![4, 8],
        grid: vec![S, S],
        branch_hidden: vec![32],
        trunk_hidden: vec![32, 32],
        basis: 16,
        activation: Activation::Tanh,
        ..DeepONetConfig::new(S * S, 2)
    }
}

/// Inputs a (random per-quadrant constants, like a piecewise-constant coefficient) and the
/// target G(a)(x, y) = m_left(a)·sin πx sin πy + m_top(a)·sin 2πx sin πy on the S×S grid.
fn data(n: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (mut a, mut u) = (Vec::new(), Vec::new());
    let pi = std::f64::consts::PI;
    for _ in 0..n {
        let q: [f64; 4] = std::array::from_fn(|_| rng.gen_range(-1.0..1.0));
        let mut field = vec![0.0; S * S];
        for i in 0..S {
            for j in 0..S {
                field[i * S + j] = q[2 * usize::from(i >= S / 2) + usize::from(j >= S / 2)];
            }
        }
        let left = (q[0] + q[2]) / 2.0;
        let top = (q[0] + q[1]) / 2.0;
        for i in 0..S {
            for j in 0..S {
                let (y, x) = (i as f64 / (S - 1) as f64, j as f64 / (S - 1) as f64);
                let s = (pi * y).sin();
                u.push(left * (pi * x).sin() * s + top * (2.0 * pi * x).sin() * s);
            }
        }
        a.extend(field);
    }
    let pts: Vec<f64> = (0..S * S)
        .flat_map(|k| {
            let (i, j) = (k / S, k % S);
            [i as f64 / (S - 1) as f64, j as f64 / (S - 1) as f64]
        })
        .collect();
    let dev = Device::Cpu;
    (
        Tensor::from_vec(a, (n, S * S), &dev)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap(),
        Tensor::from_vec(u, (n, S * S), &dev)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap(),
        Tensor::from_vec(pts, (S * S, 2), &dev)
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap(),
    )
}

fn rel_l2(pred: &Tensor, truth: &Tensor) -> f32 {
    let e = (pred - truth).unwrap().sqr().unwrap().sum_all().unwrap();
    let t = truth.sqr().unwrap().sum_all().unwrap();
    (e / t).unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn conv_branch_learns_a_known_operator() {
    let model = DeepONet::new(&conv_config(), &Device::Cpu).unwrap();
    let names: Vec<String> = model
        .params()
        .trainable()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert!(
        names.contains(&"branch_conv.1.weight".to_string()),
        "{names:?}"
    );
    let (a, u, pts) = data(64, 1);
    let (a_test, u_test, _) = data(32, 2);
    let before = rel_l2(&model.forward(&a_test, &pts).unwrap(), &u_test);
    let vars = model.params().vars();
    let mut adam = Adam::new(vars, AdamConfig::new(400, 1e-2)).unwrap();
    for _ in 0..400 {
        let pred = model.forward(&a, &pts).unwrap();
        let loss = (pred - &u).unwrap().sqr().unwrap().mean_all().unwrap();
        adam.step(&loss.backward().unwrap(), 1e-2).unwrap();
    }
    let pred = model.forward(&a_test, &pts).unwrap();
    assert_eq!(pred.dims(), &[32, S * S]);
    let after = rel_l2(&pred, &u_test);
    assert!(
        after < 0.1 && after < 0.2 * before,
        "held-out rel L2 {before} -> {after}"
    );
}

#[test]
fn conv_branch_settings_are_checked() {
    let mut c = conv_config();
    c.grid = vec![S, S + 1];
    let e = DeepONet::new(&c, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("grid"), "{e}");
    let mut c = conv_config();
    c.branch_conv = vec![4, 4, 4, 4, 4];
    let e = DeepONet::new(&c, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("branch_conv"), "{e}");
    let mut c = conv_config();
    c.grid.clear();
    let e = DeepONet::new(&c, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("branch_conv"), "{e}");
}
