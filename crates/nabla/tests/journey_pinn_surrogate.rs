//! The pinn_surrogate journey at a small size, on the PINN run shipped in datasets/runs
//! (written by the previous release): u, ∇u and Δu at the nodes of a jittered triangle mesh.

#[path = "../../../examples/pinn_surrogate.rs"]
#[allow(dead_code)]
mod journey;

use std::path::Path;

#[test]
fn the_shipped_pinn_serves_values_and_gradients_on_a_user_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = journey::Options::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/runs/pinn_v0.1"),
    );
    o.m = 24;
    o.vtk = Some(dir.path().join("mesh.vtk"));
    let r = journey::run(&o).unwrap();
    assert_eq!((r.nodes, r.triangles), (25 * 25, 2 * 24 * 24));
    // The run's relative L2 error is 1.5e-3 (summary.json); u ≤ 1.
    assert!(r.max_u_error.unwrap() < 1e-2, "{r:?}");
    assert!(r.max_grad_error.unwrap() < 0.15, "{r:?}");
    // −Δu − f with f up to 2π² ≈ 19.7.
    assert!(r.max_residual.unwrap() < 1.0, "{r:?}");
    // P1 gradients of a smooth u differ from the point gradient by O(h · |∇²u|) ≈ π²h.
    let h = r.h;
    assert!(
        r.max_p1_gradient_gap < 2.0 * std::f64::consts::PI.powi(2) * h,
        "{r:?}"
    );
    let vtk = std::fs::read_to_string(dir.path().join("mesh.vtk")).unwrap();
    assert!(vtk.contains("POINTS 625 double") && vtk.contains("VECTORS grad_u double"));
    assert!(vtk.contains(&format!("CELLS {} {}", r.triangles, 4 * r.triangles)));
}
