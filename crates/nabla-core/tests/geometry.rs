//! Domains: distances against brute force over densely sampled boundaries, closest points,
//! inside tests, sampling, the spec parser and its errors.

use nabla_core::geometry::{
    parse_domain, sample_boundary, sample_interior, Ball, BoxDomain, Domain, Mesh, Sampling, Star,
};

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Min distance from x to a dense boundary sample: an upper bound of the true distance.
fn sampled_distance(x: &[f64], boundary: &[f64], d: usize) -> f64 {
    boundary
        .chunks(d)
        .map(|p| dist(x, p))
        .fold(f64::INFINITY, f64::min)
}

/// Checks |φ| ≤ sampled distance (and within `tol` of it when exact), sign = inside, and that
/// the closest boundary point is on ∂Ω at distance |φ|.
fn check_domain(domain: &dyn Domain, n_boundary: usize, tol: f64) {
    let d = domain.dim();
    let bnd = sample_boundary(domain, n_boundary, Sampling::Halton { skip: 0 }).unwrap();
    for p in bnd.chunks(d).take(200) {
        assert!(
            domain.signed_distance(p).abs() < 1e-9,
            "{domain:?}: boundary point {p:?}"
        );
    }
    let b = domain.bounds();
    let mut closest = vec![0.0; d];
    let around = BoxDomain::new(
        b.min.iter().map(|v| v - 0.3).collect(),
        b.max.iter().map(|v| v + 0.3).collect(),
    )
    .unwrap();
    let pts = sample_interior(&around, 300, Sampling::Random { seed: 5 }).unwrap();
    for x in pts.chunks(d) {
        let phi = domain.signed_distance(x);
        let sampled = sampled_distance(x, &bnd, d);
        assert!(
            phi.abs() <= sampled + 1e-12,
            "{domain:?} at {x:?}: |φ| = {} > {sampled}",
            phi.abs()
        );
        if domain.is_exact() {
            assert!(
                sampled - phi.abs() <= tol,
                "{domain:?} at {x:?}: φ = {phi}, sampled {sampled}"
            );
        }
        assert_eq!(phi < 0.0, domain.contains(x), "{domain:?} sign at {x:?}");
        assert!((domain.distance_to_boundary(x) - phi.abs()).abs() < 1e-12);
        domain.closest_boundary_point(x, &mut closest);
        assert!(
            domain.signed_distance(&closest).abs() < 1e-7,
            "{domain:?}: closest {closest:?}"
        );
        if domain.is_exact() {
            assert!((dist(x, &closest) - phi.abs()).abs() < 1e-7);
        }
    }
}

#[test]
fn shapes_match_brute_force() {
    for spec in [
        "box:min=0,0;max=2,1",
        "box:min=0,0,0;max=1,2,1",
        "ball:center=0.5,-0.5;radius=2",
        "ball:center=0,0,0;radius=1",
        "lshape",
        "polygon:vertices=0,0,3,0,3,1,2,2,1,1,0,2",
        "star:c1=0.2;c2=-0.1",
        "star:r0=1;cos=3:0.2;sin=2:0.1;center=0.3,0",
    ] {
        let d = parse_domain(spec).unwrap();
        let n = if d.dim() == 2 { 40_000 } else { 150_000 };
        let tol = if d.dim() == 2 { 2e-3 } else { 2e-2 };
        check_domain(d.as_ref(), n, tol);
    }
}

#[test]
fn csg_distances_are_conservative() {
    for spec in [
        "union(ball:center=0,0;radius=1 | ball:center=1.2,0;radius=0.8)",
        "difference(box:min=-1,-1;max=1,1 | ball:center=0,0;radius=0.5)",
        "intersection(box:min=-1,-1,-1;max=1,1,1 | ball:center=0,0,0;radius=1.3)",
        "difference(union(ball:center=0,0 | ball:center=1,0) | box:min=0.4,-0.1;max=0.6,0.1)",
    ] {
        let d = parse_domain(spec).unwrap();
        assert!(!d.is_exact());
        check_domain(d.as_ref(), if d.dim() == 2 { 20_000 } else { 60_000 }, 0.0);
    }
    let d = parse_domain("difference(box:min=-1,-1;max=1,1 | ball:center=0,0;radius=0.5)").unwrap();
    assert!(d.contains(&[0.9, 0.9]) && !d.contains(&[0.1, 0.1]) && !d.contains(&[1.5, 0.0]));
    // Boundary measure: the sum of the parts' (4·2 + 2π·0.5).
    assert!((d.boundary_measure() - (8.0 + std::f64::consts::PI)).abs() < 1e-12);
}

#[test]
fn mesh_cube_equals_box() {
    let obj = "# unit cube\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\n\
               v 0 1 1\nvn 0 0 1\nf 1//1 3//1 2//1\nf 1 4 3\nf 5 6 7\nf 5 7 8\nf 1 2 6\n\
               f 1 6 5\nf 2 3 7\nf 2 7 6\nf 3 4 8\nf 3 8 7\nf -5 -8 -4 -1\n";
    let mesh = Mesh::parse_obj(obj).unwrap();
    assert_eq!(mesh.triangles(), 12);
    assert!((mesh.boundary_measure() - 6.0).abs() < 1e-12);
    let cube = BoxDomain::new(vec![0.0; 3], vec![1.0; 3]).unwrap();
    let around = BoxDomain::new(vec![-0.5; 3], vec![1.5; 3]).unwrap();
    let pts = sample_interior(&around, 2000, Sampling::Random { seed: 1 }).unwrap();
    for x in pts.chunks(3) {
        assert!(
            (mesh.signed_distance(x) - cube.signed_distance(x)).abs() < 1e-12,
            "{x:?}"
        );
    }
    check_domain(&mesh, 100_000, 2e-2);
    // Errors: an open mesh, a bad index, garbage, nothing.
    let open = obj.replace("f -5 -8 -4 -1\n", "");
    assert!(Mesh::parse_obj(&open)
        .unwrap_err()
        .to_string()
        .contains("not closed"));
    assert!(Mesh::parse_obj("v 0 0 0\nf 1 2 3\n")
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    assert!(Mesh::parse_obj("v 0 0 x\n")
        .unwrap_err()
        .to_string()
        .contains("line 1"));
    assert!(Mesh::parse_obj("")
        .unwrap_err()
        .to_string()
        .contains("no faces"));
}

#[test]
fn sampling_is_uniform_and_deterministic() {
    let ball = Ball::new(vec![0.0, 0.0, 0.0], 2.0).unwrap();
    assert!((ball.boundary_measure() - 16.0 * std::f64::consts::PI).abs() < 1e-12);
    let inside = sample_interior(&ball, 4000, Sampling::Random { seed: 2 }).unwrap();
    assert!(inside.chunks(3).all(|p| ball.contains(p)));
    // Mean of |x|² over the ball of radius 2 is 3/5·R² = 2.4; its standard deviation is
    // √(3/7·R⁴ − 2.4²) ≈ 1.07 (4 standard errors allowed).
    let m = inside
        .chunks(3)
        .map(|p| p.iter().map(|v| v * v).sum::<f64>())
        .sum::<f64>()
        / 4000.0;
    assert!((m - 2.4).abs() < 4.0 * 1.1 / 4000f64.sqrt(), "{m}");
    assert_eq!(
        inside,
        sample_interior(&ball, 4000, Sampling::Random { seed: 2 }).unwrap()
    );
    // Box boundary: the share of points on the faces x = const is their share of the area.
    let bx = BoxDomain::new(vec![0.0, 0.0], vec![3.0, 1.0]).unwrap();
    let b = sample_boundary(&bx, 8000, Sampling::Halton { skip: 0 }).unwrap();
    let on_x_faces = b.chunks(2).filter(|p| p[0] == 0.0 || p[0] == 3.0).count() as f64 / 8000.0;
    assert!((on_x_faces - 2.0 / 8.0).abs() < 0.01, "{on_x_faces}");
    // Star boundary by arc length: r(θ) = 1 + 0.2 cos 4θ is symmetric, so each quadrant holds
    // a quarter of the perimeter.
    let star = Star::wos_no(0.2, 0.0).unwrap();
    let b = sample_boundary(&star, 20_000, Sampling::Random { seed: 4 }).unwrap();
    let q1 = b.chunks(2).filter(|p| p[0] > 0.0 && p[1] > 0.0).count() as f64 / 20_000.0;
    assert!(
        (q1 - 0.25).abs() < 4.0 * (0.25f64 * 0.75 / 20_000.0).sqrt(),
        "{q1}"
    );
    // 4-D ball boundary through the inverse normal CDF.
    let b4 = parse_domain("ball:center=0,0,0,0;radius=1").unwrap();
    let s = sample_boundary(b4.as_ref(), 500, Sampling::Halton { skip: 7 }).unwrap();
    assert!(s
        .chunks(4)
        .all(|p| (dist(p, &[0.0; 4]) - 1.0).abs() < 1e-12));
}

#[test]
fn spec_errors_name_the_problem() {
    for (spec, want) in [
        ("", "empty"),
        ("cube:min=0", "unknown domain kind 'cube'"),
        ("ball:center=0,0;radius=-1", "radius"),
        ("ball:radius=1", "needs center"),
        ("ball:center=0,a", "'a' is not a number"),
        ("ball:center=0,0;center=1,1", "given twice"),
        ("ball:center=0,0;radius", "KEY=VALUE"),
        ("box:min=0,0;max=1", "must match"),
        ("box:min=0,0;max=1,0", "min[1]"),
        ("polygon:vertices=0,0,1,0,1", "pairs"),
        ("polygon:vertices=0,0,2,2,2,0,0,1", "cross"),
        ("polygon:vertices=0,0,1,0,2,0", "zero area"),
        ("star:c1=0.9;c2=-0.3", "positive"),
        ("star:cos=4", "K:AMPLITUDE"),
        ("star:center=1", "2 numbers"),
        ("mesh:", "needs a path"),
        ("mesh:/no/such.obj", "/no/such.obj"),
        ("union(ball:center=0,0)", "at least two"),
        ("union(ball:center=0,0 | ball:center=0,0,0)", "dimension"),
        (
            "difference(ball:center=0,0 | box:min=0,0;max=1,1",
            "closing",
        ),
        (
            "union(ball:center=0,0 | (box:min=0,0;max=1,1)",
            "unbalanced",
        ),
    ] {
        let e = parse_domain(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{spec}: {e}");
        assert!(!e.contains('\n'), "{spec}: {e}");
    }
}
