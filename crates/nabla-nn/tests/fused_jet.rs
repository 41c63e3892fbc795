//! The fused CPU jet (`Mlp::jet`) against the op-by-op jet (`Mlp::jet_unfused`): values,
//! derivatives and the parameter gradients of a residual-like loss, in f64.

use candle_core::{DType, Device, Tensor};
use nabla_nn::{Activation, JetSpec, Mlp, MlpConfig, Model, Precision};

#[path = "common/fused.rs"]
mod common;
use common::{loss, max_rel};

fn check(widths: &[usize], act: Activation, spec: JetSpec) {
    let dev = Device::Cpu;
    let m = Mlp::new(
        &MlpConfig::new(widths)
            .activation(act)
            .precision(Precision::F64)
            .seed(3),
        &dev,
    )
    .unwrap();
    let x = Tensor::rand(-1f64, 1f64, (37, widths[0]), &dev).unwrap();
    let a = m.jet(&x, &spec).unwrap();
    let b = m.jet_unfused(&x, &spec).unwrap();
    assert!(max_rel(&a.value, &b.value) < 1e-12);
    if let (Some(ga), Some(gb)) = (&a.grad, &b.grad) {
        assert_eq!(ga.dims(), gb.dims());
        assert!(max_rel(ga, gb) < 1e-12);
    }
    if let (Some(sa), Some(sb)) = (&a.second, &b.second) {
        assert_eq!(sa.dims(), sb.dims());
        assert!(max_rel(sa, sb) < 1e-12);
    }
    assert_eq!(a.laplacian.is_some(), !spec.second.is_empty());
    if let (Some(la), Some(lb)) = (&a.laplacian, &b.laplacian) {
        assert_eq!(la.dims(), lb.dims());
        assert!(max_rel(la, lb) < 1e-12);
    }
    if spec.sum_second {
        assert!(a.second.is_none() && b.second.is_none());
    }
    let ga = loss(&a).backward().unwrap();
    let gb = loss(&b).backward().unwrap();
    for (name, var) in m.params().trainable() {
        let da = ga.get(var.as_tensor()).expect("fused gradient");
        let db = gb.get(var.as_tensor()).expect("unfused gradient");
        let e = max_rel(da, db);
        assert!(e < 1e-10, "{name}: {e:e} ({act:?}, {widths:?})");
    }
}

#[test]
fn fused_jet_matches_unfused_values_and_gradients() {
    for act in [Activation::Tanh, Activation::Sin] {
        check(&[2, 16, 16, 1], act, JetSpec::laplacian(2));
        check(&[3, 8, 12, 9, 1], act, JetSpec::laplacian_over(3, &[0, 1]));
        check(&[5, 10, 1], act, JetSpec::sampled_laplacian(5, &[1, 3]));
        check(
            &[5, 10, 10, 1],
            act,
            JetSpec::sampled_laplacian(5, &[4, 0]).with_first(&[2, 4, 0]),
        );
        check(&[4, 7, 7, 1], act, JetSpec::gradient(4));
        check(&[4, 7, 1], act, JetSpec::value(4));
        check(&[3, 1], act, JetSpec::laplacian(3));
        // One summed second-order row instead of one per dimension.
        check(&[2, 16, 16, 1], act, JetSpec::laplacian(2).laplacian_only());
        check(
            &[3, 8, 12, 9, 1],
            act,
            JetSpec::laplacian_over(3, &[0, 1]).laplacian_only(),
        );
        check(
            &[5, 10, 10, 1],
            act,
            JetSpec::sampled_laplacian(5, &[4, 0])
                .with_first(&[2, 4, 0])
                .laplacian_only(),
        );
        check(&[3, 1], act, JetSpec::laplacian(3).laplacian_only());
    }
}

#[test]
fn fused_jet_runs_in_f32() {
    let dev = Device::Cpu;
    let m = Mlp::new(&MlpConfig::new(&[2, 32, 32, 1]).seed(1), &dev).unwrap();
    let x = Tensor::rand(0f32, 1f32, (100, 2), &dev).unwrap();
    let a = m.jet(&x, &JetSpec::laplacian(2)).unwrap();
    let b = m.jet_unfused(&x, &JetSpec::laplacian(2)).unwrap();
    assert_eq!(a.value.dtype(), DType::F32);
    let d = (a.laplacian.unwrap() - b.laplacian.unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-4, "{d}");
}

#[test]
fn fused_jet_in_f32_matches_the_f64_op_chain() {
    common::check_f32_shapes();
}
