//! The fno_inference journey at a small size, on the FNO and DeepONet runs shipped in
//! datasets/runs (written by the previous release): predictions against nabla's Darcy solver.

#[path = "../../../examples/fno_inference.rs"]
#[allow(dead_code)]
mod journey;

use std::path::Path;

fn shipped(run: &str) -> journey::Options {
    let mut o = journey::Options::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/runs")
            .join(run),
    );
    o.samples = 4;
    o
}

#[test]
fn the_shipped_fno_predicts_fields_made_in_rust_at_two_resolutions() {
    let r = journey::run(&shipped("fno_v0.1")).unwrap();
    assert_eq!(
        (r.kind.as_str(), r.train_grid.clone()),
        ("fno", vec![32, 32])
    );
    assert_eq!(r.grids.len(), 3);
    // summary.json of the run: test relative L2 0.061 on held-out samples of the same
    // distribution; a finer grid (63²) costs a little accuracy, never a failure.
    let (same, fine, discs) = (&r.grids[0], &r.grids[1], &r.grids[2]);
    assert_eq!((same.points, fine.points, same.samples), (32, 63, 4));
    assert!(same.mean_rel_l2 < 0.12, "{same:?}");
    assert!(fine.mean_rel_l2 < 0.25, "{fine:?}");
    // Out of distribution: worse, but still a field of the right size and sign.
    assert!(
        discs.mean_rel_l2.is_finite() && discs.mean_rel_l2 < 1.0,
        "{discs:?}"
    );
}

#[test]
fn the_shipped_deeponet_runs_the_same_journey_on_its_training_grid() {
    let r = journey::run(&shipped("deeponet_v0.1")).unwrap();
    assert_eq!(r.kind, "deeponet");
    assert_eq!(
        r.grids.len(),
        2,
        "no zero-shot resolution row for a DeepONet"
    );
    assert!(r.grids[0].mean_rel_l2 < 0.45, "{:?}", r.grids[0]);
}

#[test]
fn a_pinn_run_is_refused_with_a_clear_message() {
    let e = journey::run(&shipped("pinn_v0.1")).unwrap_err().to_string();
    assert!(
        e.contains("holds a pinn run; this loader reads operator runs"),
        "{e}"
    );
}
