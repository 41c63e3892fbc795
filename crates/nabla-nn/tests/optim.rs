//! Adam matches candle-nn's AdamW bit for bit; learning-rate schedules; recipes.

use candle_core::{Device, Tensor};
use candle_nn::Optimizer;
use nabla_nn::optim::{Adam, AdamConfig, LrSchedule, Recipe, Stage};
use nabla_nn::{Mlp, MlpConfig, Model};

#[test]
fn adam_and_adamw_match_candle_nn_bit_for_bit() {
    for wd in [0.0, 0.01] {
        let cfg = MlpConfig::new(&[2, 8, 1]).seed(5);
        let (a, b) = (
            Mlp::new(&cfg, &Device::Cpu).unwrap(),
            Mlp::new(&cfg, &Device::Cpu).unwrap(),
        );
        let mut ours = Adam::new(
            a.params().vars(),
            AdamConfig {
                weight_decay: wd,
                ..AdamConfig::new(10, 1e-2)
            },
        )
        .unwrap();
        let mut theirs = candle_nn::AdamW::new(
            b.params().vars(),
            candle_nn::ParamsAdamW {
                lr: 1e-2,
                weight_decay: wd,
                ..Default::default()
            },
        )
        .unwrap();
        let x = Tensor::new(&[[0.1f32, -0.3], [0.7, 0.2], [-0.5, 0.9]], &Device::Cpu).unwrap();
        for _ in 0..10 {
            let la = a.forward(&x).unwrap().sqr().unwrap().mean_all().unwrap();
            ours.step(&la.backward().unwrap(), 1e-2).unwrap();
            let lb = b.forward(&x).unwrap().sqr().unwrap().mean_all().unwrap();
            theirs.backward_step(&lb).unwrap();
        }
        assert_eq!(ours.steps_taken(), 10);
        assert_eq!(a.params().flatten().unwrap(), b.params().flatten().unwrap());
    }
}

#[test]
fn learning_rate_schedules() {
    let c = LrSchedule::Constant;
    assert_eq!(c.lr(0.1, 500, 1000), 0.1);
    let s = LrSchedule::Step {
        every: 100,
        gamma: 0.5,
    };
    assert_eq!(s.lr(0.1, 99, 1000), 0.1);
    assert_eq!(s.lr(0.1, 100, 1000), 0.05);
    assert_eq!(s.lr(0.1, 250, 1000), 0.025);
    let e = LrSchedule::Exponential {
        gamma: 0.5,
        every: 100,
    };
    assert!((e.lr(0.1, 50, 1000) - 0.1 * 0.5f64.sqrt()).abs() < 1e-15);
    assert!((e.lr(0.1, 200, 1000) - 0.025).abs() < 1e-15);
    let k = LrSchedule::Cosine { min_lr: 0.01 };
    assert_eq!(k.lr(0.1, 0, 1000), 0.1);
    assert!((k.lr(0.1, 500, 1000) - 0.055).abs() < 1e-15);
    assert!((k.lr(0.1, 1000, 1000) - 0.01).abs() < 1e-15);
    // One cycle over 100 steps with the peak at step 29 (0.3 · 100 − 1): the values PyTorch's
    // OneCycleLR gives for max_lr 0.1, total_steps 100 — start 0.004, peak 0.1 at step 29, the
    // fall half done at step 64, last step 4e-7.
    let o = LrSchedule::OneCycle {
        pct_start: 0.3,
        div_factor: 25.0,
        final_div_factor: 1e4,
    };
    assert!((o.lr(0.1, 0, 100) - 0.004).abs() < 1e-15);
    assert!((o.lr(0.1, 29, 100) - 0.1).abs() < 1e-15);
    let rise = 0.1 + (0.004 - 0.1) * 0.5 * (1.0 + (std::f64::consts::PI * 14.0 / 29.0).cos());
    assert!((o.lr(0.1, 14, 100) - rise).abs() < 1e-15);
    assert!((o.lr(0.1, 99, 100) - 4e-7).abs() < 1e-18);
    let mid_fall = o.lr(0.1, 64, 100);
    assert!(
        (mid_fall - (4e-7 + (0.1 - 4e-7) * 0.5)).abs() < 1e-12,
        "{mid_fall}"
    );
    let rates: Vec<f64> = (0..100).map(|t| o.lr(0.1, t, 100)).collect();
    assert!(rates[..30].windows(2).all(|w| w[1] > w[0]));
    assert!(rates[29..].windows(2).all(|w| w[1] < w[0]));
    let parsed: LrSchedule = serde_json::from_str(r#"{"kind": "one_cycle"}"#).unwrap();
    assert_eq!(parsed, o, "one_cycle's defaults are PyTorch's");
    for bad in [
        LrSchedule::OneCycle {
            pct_start: 1.0,
            div_factor: 25.0,
            final_div_factor: 1e4,
        },
        LrSchedule::OneCycle {
            pct_start: 0.3,
            div_factor: 0.5,
            final_div_factor: 1e4,
        },
        LrSchedule::OneCycle {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: f64::NAN,
        },
    ] {
        assert!(bad.validate("s").is_err());
    }
    assert!(LrSchedule::Step {
        every: 0,
        gamma: 0.5
    }
    .validate("s")
    .is_err());
    assert!(LrSchedule::Exponential {
        gamma: 0.0,
        every: 1
    }
    .validate("s")
    .is_err());
}

#[test]
fn recipes_locate_steps_across_stages() {
    let r = Recipe::adam_then_lbfgs(100, 1e-3, 50);
    assert_eq!(r.total_steps(), 150);
    assert_eq!(r.locate(0), Some((0, 0)));
    assert_eq!(r.locate(99), Some((0, 99)));
    assert_eq!(r.locate(100), Some((1, 0)));
    assert_eq!(r.locate(149), Some((1, 49)));
    assert_eq!(r.locate(150), None);
    assert_eq!(r.stage_start(1), 100);
    assert!(matches!(r.stages[1], Stage::Lbfgs(_)));
    r.validate().unwrap();
    let bad = Recipe::adam(10, -1.0);
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("optimizer[0].lr"));
    assert!(Recipe { stages: vec![] }.validate().is_err());
}
