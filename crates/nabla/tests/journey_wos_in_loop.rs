//! The journey of `examples/wos_in_loop.rs` at a small size: Walk-on-Spheres in a time loop
//! with closure boundary values and source agrees with the manufactured solution at every point
//! and every iteration.

#[path = "../../../examples/wos_in_loop.rs"]
#[allow(dead_code)]
mod journey;

#[test]
fn wos_in_a_time_loop_matches_the_exact_solution() {
    let opts = journey::Options::small();
    let report = journey::run(&opts).unwrap();
    assert_eq!(report.iterations.len(), opts.iterations);
    // 6×6 grid over the L-shape: 27 cell centres inside, plus the 5 user points.
    assert_eq!(report.points, 27 + 5);
    // The stopping shell ε = 1e-3 biases each estimate by at most about ε·|∇u| (|∇u| ≲ 5 here).
    let bias = 5e-3;
    for it in &report.iterations {
        assert_eq!(it.values.len(), report.points);
        for (i, ((v, s), u)) in it.values.iter().zip(&it.stderrs).zip(&it.exact).enumerate() {
            assert!(
                s.is_finite() && *s > 0.0,
                "t = {}, point {i}: stderr {s}",
                it.t
            );
            assert!(
                (v - u).abs() <= 4.0 * s + bias,
                "t = {}, point {i} ({:?}): estimate {v} ± {s}, exact {u}",
                it.t,
                &it.points[2 * i..2 * i + 2]
            );
        }
    }
    assert!(report.max_z.is_finite() && report.seconds_per_iteration > 0.0);
}
