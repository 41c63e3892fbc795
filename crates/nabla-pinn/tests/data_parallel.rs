//! Data-parallel PINN training (ranks as threads, `LocalComm`): the ranks' shares of the loss
//! add up to the one-rank loss, so the loss curve on 2 and 3 ranks follows the one-rank curve.

use nabla_core::comm::{Communicator, LocalComm};
use nabla_nn::RunOptions;
use nabla_pinn::{train_pinn, PinnConfig};

fn poisson2d(optimizer: serde_json::Value) -> PinnConfig {
    serde_json::from_value(serde_json::json!({
        "problem": {"pde": "poisson", "domain": "box:min=0,0;max=1,1",
            "source": "2*pi^2*sin(pi*x)*sin(pi*y)", "exact": "sin(pi*x)*sin(pi*y)",
            "boundary": [{"kind": "dirichlet", "value": "0"}]},
        "model": {"hidden": [32, 32], "activation": "tanh"},
        "sampling": {"interior": 500, "boundary": 101},
        "train": {"optimizer": optimizer, "log_every": 10, "progress": false, "seed": 3},
        "eval": {"grid": 21},
    }))
    .unwrap()
}

fn curve(cfg: &PinnConfig, comm: Option<&dyn Communicator>) -> Vec<f64> {
    let run = train_pinn(
        cfg,
        &RunOptions {
            comm,
            ..Default::default()
        },
    )
    .unwrap();
    run.report.losses.iter().map(|(_, l)| *l).collect()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: curve lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let rel = (x - y).abs() / y.abs().max(1e-30);
        assert!(
            rel <= tol,
            "{what}: step {i}: {x} vs {y} (relative {rel:e})"
        );
    }
}

#[test]
fn adam_loss_curve_is_the_one_rank_curve() {
    let cfg = poisson2d(serde_json::json!([{"kind": "adam", "steps": 100, "lr": 1e-3}]));
    let serial = curve(&cfg, None);
    assert!(serial.last().unwrap() < &serial[0], "the loss went down");
    for ranks in [2, 3] {
        let curves = LocalComm::run(ranks, |c| curve(&cfg, Some(c)));
        for (r, c) in curves.iter().enumerate() {
            assert_close(c, &serial, 1e-5, &format!("{ranks} ranks, rank {r}"));
        }
        // Every rank took the same steps: identical curves, bit for bit.
        assert!(curves.iter().all(|c| c == &curves[0]));
    }
}

#[test]
fn lbfgs_loss_curve_is_the_one_rank_curve() {
    let cfg = poisson2d(serde_json::json!([
        {"kind": "adam", "steps": 20, "lr": 1e-3},
        {"kind": "lbfgs", "iterations": 30}
    ]));
    let serial = curve(&cfg, None);
    let curves = LocalComm::run(2, |c| curve(&cfg, Some(c)));
    assert_close(&curves[0], &serial, 1e-4, "L-BFGS on 2 ranks");
    assert_eq!(curves[0], curves[1]);
}

/// Stopped on 2 ranks part-way (Ctrl-C's flag, raised mid-run), resumed on 1 rank: the metrics
/// end where an uninterrupted one-rank run ends.
#[test]
fn a_run_stopped_on_two_ranks_resumes_on_one() {
    let cfg = poisson2d(serde_json::json!([{"kind": "adam", "steps": 400, "lr": 1e-3}]));
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = train_pinn(
        &cfg,
        &RunOptions {
            run_dir: Some(reference_dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let metrics = dir.path().join("metrics.csv");
    let watcher = {
        let (stop, metrics) = (stop.clone(), metrics.clone());
        std::thread::spawn(move || {
            for _ in 0..20_000 {
                let rows = std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count());
                if rows > 10 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let outcomes = LocalComm::run(2, |c| {
        train_pinn(
            &cfg,
            &RunOptions {
                run_dir: Some(dir.path().to_path_buf()),
                stop: Some(stop.clone()),
                comm: Some(c),
                ..Default::default()
            },
        )
        .unwrap()
        .report
    });
    watcher.join().unwrap();
    assert_eq!(
        outcomes[0].steps, outcomes[1].steps,
        "ranks stopped together"
    );
    assert!(
        outcomes[0].steps < 400,
        "stopped early ({} steps)",
        outcomes[0].steps
    );
    let resumed = train_pinn(
        &cfg,
        &RunOptions {
            run_dir: Some(dir.path().to_path_buf()),
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resumed.report.steps, 400);
    let last = |d: &std::path::Path| -> f64 {
        let text = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
        let line = text.lines().last().unwrap().to_string();
        line.split(',').nth(4).unwrap().parse().unwrap()
    };
    let (a, b) = (last(dir.path()), last(reference_dir.path()));
    assert!((a - b).abs() <= 1e-5 * b.abs(), "final loss {a} vs {b}");
    assert_eq!(reference.report.steps, 400);
}

/// A multi-domain PINN (two pieces, solution + flux continuity) on 2 and 3 ranks: each piece's
/// point sets are split over the ranks and rank 0 adds the interface terms, so the Adam loss
/// curve follows the one-rank curve to 1e-5; L-BFGS, whose line searches amplify f32 rounding
/// differences of the summed gradients, follows it to 1e-4 over its first iterations and ends
/// within 2 %.
#[test]
fn multi_domain_loss_curve_is_the_one_rank_curve() {
    let with_domains = |optimizer: serde_json::Value| {
        let mut cfg = poisson2d(optimizer);
        cfg.domains = Some(
            serde_json::from_value(serde_json::json!({
                "split": [2, 1], "interface": ["solution", "flux"],
                "interface_points": 48, "interface_weight": 5.0
            }))
            .unwrap(),
        );
        cfg
    };
    let adam = with_domains(serde_json::json!([{"kind": "adam", "steps": 60, "lr": 1e-3}]));
    let serial = curve(&adam, None);
    for ranks in [2, 3] {
        let curves = LocalComm::run(ranks, |c| curve(&adam, Some(c)));
        assert_close(&curves[0], &serial, 1e-5, &format!("Adam, {ranks} ranks"));
        assert!(curves.iter().all(|c| c == &curves[0]));
    }
    let lbfgs = with_domains(serde_json::json!([
        {"kind": "adam", "steps": 20, "lr": 1e-3},
        {"kind": "lbfgs", "iterations": 30}
    ]));
    let serial = curve(&lbfgs, None);
    let two = LocalComm::run(2, |c| curve(&lbfgs, Some(c)));
    assert_close(&two[0][..25], &serial[..25], 1e-4, "L-BFGS on 2 ranks");
    let (a, b) = (two[0].last().unwrap(), serial.last().unwrap());
    assert!((a - b).abs() <= 0.02 * b, "final loss {a} vs {b}");
    assert!(b < &serial[0], "the loss went down");
    assert_eq!(two[0], two[1]);
}
