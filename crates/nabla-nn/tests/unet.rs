//! The DCDM U-Net: the 3×3×3 convolution built from conv2d, 3-D pooling and upsampling against
//! a direct implementation; size independence (any grid size) and gradients.

use candle_core::{DType, Device, Tensor};
use nabla_nn::{Model, Precision, UNet, UNetConfig};
use rand::{Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn param(net: &UNet, name: &str) -> Vec<f64> {
    net.params()
        .get(name)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Direct zero-padded 3×3×3 convolution, 1 input channel, `c` outputs; weights as the net
/// stores them: `[27, c]`, row `9·tz + 3·ty + tx` for the offset `(tz − 1, ty − 1, tx − 1)`.
fn conv3d_direct(
    x: &[f64],
    (d, h, w): (usize, usize, usize),
    wt: &[f64],
    bias: &[f64],
) -> Vec<f64> {
    let c = bias.len();
    let mut out = vec![0.0; c * d * h * w];
    for o in 0..c {
        for z in 0..d {
            for y in 0..h {
                for xx in 0..w {
                    let mut s = bias[o];
                    for t in 0..3 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (zz, yy, xi) = (
                                    z as isize + t as isize - 1,
                                    y as isize + ky as isize - 1,
                                    xx as isize + kx as isize - 1,
                                );
                                if zz < 0
                                    || yy < 0
                                    || xi < 0
                                    || zz >= d as isize
                                    || yy >= h as isize
                                    || xi >= w as isize
                                {
                                    continue;
                                }
                                let k = (t * 9 + ky * 3 + kx) * c + o;
                                s += wt[k] * x[(zz as usize * h + yy as usize) * w + xi as usize];
                            }
                        }
                    }
                    out[((o * d + z) * h + y) * w + xx] = s;
                }
            }
        }
    }
    out
}

#[test]
fn three_d_net_matches_a_direct_conv3d_with_pool_and_upsample() {
    let (d, h, w) = (4, 6, 8);
    let dev = Device::Cpu;
    for levels in [0, 1] {
        let cfg = UNetConfig {
            dim: 3,
            channels: 3,
            levels,
            convs: 0,
            coarse_scale: 1.0,
            bias: true,
            precision: Precision::F64,
            seed: 5,
            ..Default::default()
        };
        let net = UNet::new(&cfg, &dev).unwrap();
        let x = random(d * h * w, 1);
        let y = net
            .forward(&Tensor::from_vec(x.clone(), (1, 1, d, h, w), &dev).unwrap())
            .unwrap();
        assert_eq!(y.dims(), &[1, 1, d, h, w]);
        let y = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let c = 3;
        let mut e = conv3d_direct(
            &x,
            (d, h, w),
            &param(&net, "input.weight"),
            &param(&net, "input.bias"),
        );
        if levels == 1 {
            // e + upsample(avgpool(e)), per channel, 2×2×2 blocks.
            let mut u = e.clone();
            for o in 0..c {
                for z in 0..d {
                    for yy in 0..h {
                        for xx in 0..w {
                            let (bz, by, bx) = (z / 2 * 2, yy / 2 * 2, xx / 2 * 2);
                            let mut s = 0.0;
                            for dz in 0..2 {
                                for dy in 0..2 {
                                    for dx in 0..2 {
                                        s += e[((o * d + bz + dz) * h + by + dy) * w + bx + dx];
                                    }
                                }
                            }
                            u[((o * d + z) * h + yy) * w + xx] += s / 8.0;
                        }
                    }
                }
            }
            e = u;
        }
        let ow = param(&net, "output.weight");
        let ob = param(&net, "output.bias")[0];
        for p in 0..d * h * w {
            let want: f64 = ob + (0..c).map(|o| ow[o] * e[o * d * h * w + p]).sum::<f64>();
            assert!(
                (y[p] - want).abs() < 1e-12,
                "levels {levels}, point {p}: {} vs {want}",
                y[p]
            );
        }
    }
}

#[test]
fn two_d_net_runs_on_any_size_and_has_gradients() {
    let dev = Device::Cpu;
    let cfg = UNetConfig {
        channels: 4,
        levels: 3,
        convs: 2,
        ..Default::default()
    };
    let net = UNet::new(&cfg, &dev).unwrap();
    assert_eq!(net.params().num_trainable(), cfg.parameter_count());
    for (h, w) in [(16, 16), (13, 21), (5, 3)] {
        let x = Tensor::from_vec(random(2 * h * w, 2), (2, 1, h, w), &dev)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let y = net.forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 1, h, w]);
        let loss = y.sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        for (name, v) in net.params().trainable() {
            assert!(grads.get(v.as_tensor()).is_some(), "no gradient for {name}");
        }
    }
    // Recursing nets get deeper on larger grids, with the same parameters.
    let rec = UNetConfig {
        recurse: true,
        coarsest: 4,
        levels: 1,
        ..cfg
    };
    assert_eq!(rec.depth_for(&[64, 64]), 4);
    assert_eq!(rec.depth_for(&[256, 256]), 6);
    let net = UNet::new(&rec, &dev).unwrap();
    assert_eq!(net.params().num_trainable(), rec.parameter_count());
    let y = net
        .forward(&Tensor::zeros((1, 1, 32, 32), DType::F32, &dev).unwrap())
        .unwrap();
    assert_eq!(y.dims(), &[1, 1, 32, 32]);
    assert!(UNet::new(
        &UNetConfig {
            dim: 4,
            ..Default::default()
        },
        &dev
    )
    .is_err());
}
