//! Property tests for every parser a user reaches in `nabla-core`: grid shapes, domain specs,
//! Wavefront `.obj` meshes, expressions (and their evaluation at arbitrary points), and device
//! names. Each asserts that the parser never panics and that an error is one line of text;
//! what parses is then evaluated at arbitrary points, which must not panic either.

use nabla_core::device::DeviceKind;
use nabla_core::field::{Expr, ScalarField, Variables};
use nabla_core::geometry::{
    parse_domain, sample_boundary, sample_interior, Domain, Mesh, Sampling,
};
use nabla_core::GridShape;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Passes `Ok`, and an `Err` whose message is one non-empty line.
fn one_line<T, E: std::fmt::Display>(r: &Result<T, E>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(!msg.is_empty(), "empty error message");
        prop_assert!(
            !msg.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']),
            "multi-line error: {msg:?}"
        );
    }
    Ok(())
}

fn word(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

/// A coordinate: ordinary values, extremes, and the non-finite ones.
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -3.0f64..3.0,
        1 => prop::sample::select(&[
            0.0, -0.0, 1.0, -1.0, 1e-320, 1e-300, 1e154, -1e154, 1e300, 1e308, -1e308, f64::MAX,
            f64::MIN, f64::INFINITY, f64::NEG_INFINITY, f64::NAN,
        ][..]),
        1 => any::<f64>(),
    ]
}

/// A point of `d` coordinates.
fn point(d: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(coordinate(), d)
}

// ---------------------------------------------------------------------------------------------
// Grid shapes
// ---------------------------------------------------------------------------------------------

fn extent() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u64..2000).prop_map(|v| v.to_string()),
        1 => word(&[
            "0", "1", "-1", "+3", " 7 ", "3.0", "1e3", "", "x", "4294967296", "100000",
            "18446744073709551615", "18446744073709551616", "99999999999999999999999", "٣",
        ]),
    ]
}

fn grid_spec() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::collection::vec(extent(), 1..5), word(&["x", "x", "X", "*", ",", " x "]))
            .prop_map(|(parts, sep)| parts.join(&sep)),
        1 => any::<String>(),
        1 => "[0-9xX \\-+]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn grid_shapes_never_panic(s in grid_spec()) {
        let g = s.parse::<GridShape>();
        one_line(&g)?;
        if let Ok(g) = g {
            // What parses is a valid shape: 1–3 positive extents whose product fits.
            prop_assert!((1..=3).contains(&g.ndim()));
            prop_assert!(g.dims().iter().all(|&d| d >= 1));
            let _ = g.len();
            let _ = g.strides();
            prop_assert_eq!(g.to_string().parse::<GridShape>().ok(), Some(g));
        }
    }

    #[test]
    fn device_names_never_panic(s in prop_oneof![
        word(&["cpu", "CPU", " cpu ", "cuda", "cuda:0", "cuda:7", "CUDA:1", "cuda:-1", "cuda:",
               "cuda:18446744073709551616", "cuda:00", "gpu", "metal"]),
        "(cuda|cpu|CUDA)?:?[0-9+\\-\\n ]{0,22}",
        any::<String>(),
    ]) {
        let d = s.parse::<DeviceKind>();
        one_line(&d)?;
        if let Ok(d) = d {
            prop_assert_eq!(d.to_string().parse::<DeviceKind>().ok(), Some(d));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Domain specs
// ---------------------------------------------------------------------------------------------

/// A number as written in a spec.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-3.0f64..3.0).prop_map(|v| format!("{v:.3}")),
        1 => word(&[
            "0", "1", "-1", "0.5", "1e308", "-1e308", "1e309", "nan", "NaN", "inf", "-inf",
            "1e-320", "2", "4", "8", "1000", "", "x", "1,", " 3 ",
        ]),
    ]
}

fn numbers(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(number(), 0..max).prop_map(|v| v.join(","))
}

fn dim_value() -> impl Strategy<Value = String> {
    word(&[
        "1",
        "2",
        "3",
        "5",
        "0",
        "-1",
        "1000",
        "1000000",
        "1000001",
        "18446744073709551615",
        "18446744073709551616",
        "2.5",
        "",
    ])
}

/// A `cos=` / `sin=` mode list of a star.
fn modes() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![
                3 => (0u32..12).prop_map(|k| k.to_string()),
                1 => word(&["4294967295", "4294967296", "-1", "x", ""]),
            ],
            number(),
        )
            .prop_map(|(k, a)| format!("{k}:{a}")),
        0..4,
    )
    .prop_map(|v| v.join(","))
}

/// One key of a leaf spec.
fn key_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (word(&["min", "max", "center", "vertices"]), numbers(9))
            .prop_map(|(k, v)| format!("{k}={v}")),
        (word(&["radius", "r0", "c1", "c2"]), number()).prop_map(|(k, v)| format!("{k}={v}")),
        dim_value().prop_map(|v| format!("dim={v}")),
        (word(&["cos", "sin"]), modes()).prop_map(|(k, v)| format!("{k}={v}")),
        word(&["centre=0,0", "=1", "min", "min==1", ";;", "path=x.obj"]),
    ]
}

/// A shape spec that is mostly valid: boxes, balls, polygons and stars with plausible, but
/// sometimes extreme or degenerate, numbers.
fn plausible_leaf() -> impl Strategy<Value = String> {
    let width = prop_oneof![
        4 => 0.1f64..3.0,
        1 => prop::sample::select(&[0.0, 1e-300, 1e-12, 1e300, 1e308, -1.0][..]),
    ];
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:e}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    prop_oneof![
        prop::sample::select(&[2usize, 2, 2, 1, 3][..])
            .prop_flat_map(move |d| (
                prop::collection::vec(-3.0f64..3.0, d),
                prop::collection::vec(width.clone(), d)
            ))
            .prop_map(move |(min, w)| {
                let max: Vec<f64> = min.iter().zip(&w).map(|(a, b)| a + b).collect();
                format!("box:min={};max={}", fmt(&min), fmt(&max))
            }),
        (
            prop::collection::vec(-3.0f64..3.0, 2),
            prop_oneof![3 => (0.1f64..3.0).prop_map(|r| r.to_string()), 1 => number()]
        )
            .prop_map(move |(c, r)| format!("ball:center={};radius={r}", fmt(&c))),
        (1usize..40, number(), number())
            .prop_map(|(d, lo, hi)| { format!("box:dim={d};min={lo};max={hi}") }),
        (1usize..40, number()).prop_map(|(d, r)| format!("ball:dim={d};radius={r}")),
        prop::collection::vec((-3.0f64..3.0, -3.0f64..3.0), 3..7).prop_map(move |mut v| {
            // Sorted by angle about the origin, the polygon is usually simple.
            v.sort_by(|a, b| a.1.atan2(a.0).total_cmp(&b.1.atan2(b.0)));
            let flat: Vec<f64> = v.iter().flat_map(|&(x, y)| [x, y]).collect();
            format!("polygon:vertices={}", fmt(&flat))
        }),
        (
            0.5f64..2.0,
            -0.4f64..0.4,
            -0.4f64..0.4,
            modes(),
            -2.0f64..2.0
        )
            .prop_map(|(r0, c1, c2, m, cx)| format!(
                "star:r0={r0};c1={c1};c2={c2};cos={m};center={cx},0"
            )),
    ]
}

/// A leaf shape spec.
fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => plausible_leaf(),
        1 => (
            word(&["box", "ball", "polygon", "star", "lshape", "", "cube", "mesh"]),
            prop::collection::vec(key_value(), 0..4),
            word(&[":", ":", " : ", ""]),
        )
            .prop_map(|(kind, kvs, colon)| format!("{kind}{colon}{}", kvs.join(";"))),
        2 => word(&[
            "box:min=0,0;max=1,1",
            "ball:center=0,0;radius=1",
            "ball:dim=7",
            "box:dim=4",
            "polygon:vertices=0,0,2,0,2,1,0,1",
            "lshape",
            "star:c1=0.1;c2=-0.05",
            "star:r0=1;cos=3:0.2,5:0.05;sin=2:0.1;center=0,0",
            "box:min=0,0,0;max=1,1,1",
            "mesh:/nonexistent/bunny.obj",
        ]),
    ]
}

/// A spec: leaves combined by CSG operations, nested, sometimes with broken parentheses.
fn domain_spec() -> impl Strategy<Value = String> {
    let tree = leaf().prop_recursive(3, 12, 3, |inner| {
        (
            word(&[
                "union",
                "union",
                "intersection",
                "intersection",
                "difference",
                "difference",
                "union ",
                "unite",
            ]),
            prop::collection::vec(inner, 1..4),
            word(&["(", "(", "(", " ("]),
            word(&[")", ")", ")", ")", ")", "", "))"]),
            word(&["|", "|", "|", "|", " | ", "||", ","]),
        )
            .prop_map(|(op, parts, open, close, sep)| {
                format!("{op}{open}{}{close}", parts.join(&sep))
            })
    });
    prop_oneof![6 => tree, 1 => any::<String>(), 1 => "[a-z:=;,|()0-9. \\-]{0,40}"]
}

/// Well-formed CSG over mostly valid 2-D shapes: what does parse is then exercised.
fn plausible_domain_spec() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => plausible_leaf(),
        1 => word(&["lshape", "star:c1=0.1;c2=-0.05", "box:min=-1,-1;max=1,1", "ball:center=0.5,0"]),
    ];
    leaf.prop_recursive(3, 10, 3, |inner| {
        (
            word(&["union", "intersection", "difference"]),
            prop::collection::vec(inner, 2..4),
        )
            .prop_map(|(op, parts)| format!("{op}({})", parts.join(" | ")))
    })
}

/// Evaluates every query of `d` at `points`, and samples a few interior and boundary points.
fn exercise(d: &dyn Domain, points: &[Vec<f64>]) {
    let n = d.dim();
    if n > 16 {
        return;
    }
    let mut out = vec![0.0; n];
    for p in points {
        let mut x = p.clone();
        x.resize(n, 0.5);
        let _ = d.signed_distance(&x);
        let _ = d.distance_to_boundary(&x);
        let _ = d.contains(&x);
        d.closest_boundary_point(&x, &mut out);
        let u: Vec<f64> = x.iter().map(|v| v.abs().fract()).collect();
        let _ = d.boundary_point_from_unit(&u, &mut out);
    }
    let _ = d.bounds();
    let _ = d.boundary_measure();
    let _ = d.is_exact();
    let _ = format!("{d:?}");
    for sampling in [Sampling::Random { seed: 1 }, Sampling::Halton { skip: 3 }] {
        if let Err(e) = sample_interior(d, 3, sampling) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        if let Err(e) = sample_boundary(d, 3, sampling) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn domain_specs_never_panic(
        spec in domain_spec(),
        points in prop::collection::vec(point(3), 0..4),
    ) {
        let d = parse_domain(&spec);
        one_line(&d)?;
        if let Ok(d) = d {
            exercise(d.as_ref(), &points);
        }
    }

    #[test]
    fn plausible_domain_specs_never_panic(
        spec in plausible_domain_spec(),
        points in prop::collection::vec(point(3), 0..4),
    ) {
        let d = parse_domain(&spec);
        one_line(&d)?;
        if let Ok(d) = d {
            exercise(d.as_ref(), &points);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wavefront .obj meshes
// ---------------------------------------------------------------------------------------------

/// A closed tetrahedron, the base of the mutations.
const TETRA: &[&str] = &[
    "v 0 0 0", "v 1 0 0", "v 0 1 0", "v 0 0 1", "f 1 3 2", "f 1 2 4", "f 1 4 3", "f 2 3 4",
];

fn face_index() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1u32..6).prop_map(|i| i.to_string()),
        1 => (1u32..5).prop_map(|i| format!("{i}/1/1")),
        1 => (1u32..5).prop_map(|i| format!("{i}//2")),
        1 => word(&[
            "0", "-1", "-4", "-5", "9", "4294967296", "-9223372036854775808",
            "9223372036854775807", "99999999999999999999", "x", "", "/", "1.5",
        ]),
    ]
}

fn obj_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(number(), 0..5).prop_map(|v| format!("v {}", v.join(" "))),
        3 => prop::collection::vec(face_index(), 0..6).prop_map(|v| format!("f {}", v.join(" "))),
        1 => word(&["vn 0 0 1", "vt 0 0", "# comment", "g group", "usemtl m", "", "f", "v"]),
        1 => "[ -~]{0,20}",
    ]
}

fn obj_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Arbitrary lines.
        2 => prop::collection::vec(obj_line(), 0..14).prop_map(|l| l.join("\n")),
        // The tetrahedron with one line replaced and one line added.
        3 => (any::<prop::sample::Index>(), obj_line(), obj_line(), word(&["\n", "\r\n"]))
            .prop_map(|(at, replace, add, eol)| {
                let mut l: Vec<String> = TETRA.iter().map(|s| s.to_string()).collect();
                let i = at.index(l.len());
                l[i] = replace;
                l.push(add);
                l.join(&eol)
            }),
        // The tetrahedron moved and scaled, with a harmless or harmful line added.
        3 => (-5.0f64..5.0, prop::sample::select(&[1e-300, 1e-6, 0.5, 1.0, 3.0, 1e150, 1e300][..]), obj_line(), any::<bool>())
            .prop_map(|(shift, scale, add, keep)| {
                let mut l: Vec<String> = TETRA
                    .iter()
                    .map(|l| match l.strip_prefix("v ") {
                        Some(c) => {
                            let c: Vec<String> = c
                                .split(' ')
                                .map(|x| format!("{:e}", x.parse::<f64>().unwrap_or(0.0) * scale + shift))
                                .collect();
                            format!("v {}", c.join(" "))
                        }
                        None => l.to_string(),
                    })
                    .collect();
                if !keep {
                    l.push(add);
                }
                l.join("\n")
            }),
        // The tetrahedron scaled to extreme coordinates.
        1 => prop::sample::select(&["1e308", "1e200", "1e-320", "1e154", "-1e308"][..]).prop_map(|s| {
            TETRA
                .iter()
                .map(|l| l.replace('1', s))
                .collect::<Vec<_>>()
                .join("\n")
        }),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn obj_meshes_never_panic(
        text in obj_text(),
        points in prop::collection::vec(point(3), 0..4),
    ) {
        let m = Mesh::parse_obj(&text);
        one_line(&m)?;
        if let Ok(m) = m {
            exercise(&m, &points);
        }
    }
}

/// The valid tetrahedron parses (so the mutations above start from a valid file).
#[test]
fn tetrahedron_parses() {
    let m = Mesh::parse_obj(&TETRA.join("\n")).unwrap();
    assert_eq!(m.triangles(), 4);
    assert!(m.contains(&[0.1, 0.1, 0.1]));
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/// An expression from the grammar (with names that exist and some that do not).
fn expr_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        word(&[
            "x",
            "y",
            "z",
            "r",
            "theta",
            "t",
            "x1",
            "x2",
            "x3",
            "x4",
            "x0",
            "x01",
            "pi",
            "e",
            "w",
            "_",
            "x99999999999999999999",
        ]),
        number(),
        word(&["1e308", "1e-308", "0", "2", "0.5", ".5", "1.", "1e", "1e+", "16", "17", "-16"]),
    ];
    atom.prop_recursive(6, 48, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                word(&["+", "-", "*", "/", "^", " ^ -"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (
                word(&[
                    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
                    "ln", "log", "log10", "sqrt", "abs", "floor", "ceil", "sign", "foo",
                ]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            (
                word(&["atan2", "pow", "min", "max", "sin"]),
                inner.clone(),
                inner
            )
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        ]
    })
}

/// A grammatical expression, a damaged one, or anything.
fn any_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => expr_text(),
        2 => (expr_text(), any::<prop::sample::Index>(), "[()+\\-*/^,.eE0-9a-z \\n\\x00]{1,3}")
            .prop_map(|(s, at, noise)| {
                let mut s = s;
                let at = at.index(s.len() + 1);
                // Insert at a character boundary.
                let at = (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                s.insert_str(at, &noise);
                s
            }),
        1 => any::<String>(),
    ]
}

fn variables() -> impl Strategy<Value = Variables> {
    (
        prop_oneof![4 => 0usize..5, 1 => Just(usize::MAX), 1 => Just(1000)],
        any::<bool>(),
    )
        .prop_map(|(space_dim, time)| Variables { space_dim, time })
}

/// Evaluates `e` at every point (and a few lengths of each), and translates it to C.
fn evaluate(e: &Expr, points: &[Vec<f64>]) {
    for p in points {
        for len in [0, 1, p.len()] {
            let _ = e.eval(&p[..len.min(p.len())]);
        }
    }
    let _ = e.to_c_source();
    let _ = e.as_constant();
    let _ = e.min_dim();
    let _ = e.to_string();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn expressions_never_panic(
        text in any_expr(),
        vars in variables(),
        points in prop::collection::vec(point(5), 0..4),
    ) {
        let e = Expr::parse(&text);
        one_line(&e)?;
        if let Ok(e) = &e {
            evaluate(e, &points);
            // Display gives text that parses to the same function.
            let again = Expr::parse(&e.to_string()).expect("Display output parses");
            for p in &points {
                let (a, b) = (e.eval(p), again.eval(p));
                prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
            }
        }
        let e = Expr::parse_with(&text, &vars);
        one_line(&e)?;
        if let Ok(e) = &e {
            evaluate(e, &points);
        }
    }
}

/// Expressions nested or chained past the limits are refused with a one-line error, never a
/// stack overflow; the longest accepted expression evaluates on a thread with a small stack.
#[test]
fn deep_and_long_expressions_are_refused_not_overflowed() {
    let n = 100_000;
    let cases = [
        format!("{}x{}", "(".repeat(n), ")".repeat(n)),
        format!("{}x", "-".repeat(n)),
        format!("{}x", "sin(".repeat(n)),
        format!("{}x", "x^".repeat(n)),
        format!("{}x", "x+".repeat(n)),
        format!("{}x", "x*".repeat(n)),
        format!("{}1", "2^-".repeat(n)),
        format!("{}x", "atan2(x, ".repeat(n)),
    ];
    for text in &cases {
        let e = Expr::parse(text).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.len() < 1200, "message of {} bytes", e.len());
        assert!(
            e.contains("nested more than") || e.contains("too long"),
            "{}…: {e}",
            &text[..20]
        );
    }
    // Just inside the limits: 4096 operators, 256 levels of nesting.
    let long = format!("{}x", "x+".repeat(4096));
    let nested = format!("{}x{}", "(".repeat(255), ")".repeat(255));
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let e = Expr::parse(&long).unwrap();
            assert_eq!(e.eval(&[1.0]), 4097.0);
            let e = Expr::parse(&nested).unwrap();
            assert_eq!(e.eval(&[2.0]), 2.0);
            let _ = e.to_c_source();
            drop(e.clone());
        })
        .unwrap()
        .join()
        .unwrap();
}

/// CSG nested past its limit and absurd `dim=` values are refused at once.
#[test]
fn deep_csg_and_huge_dimensions_are_refused_fast() {
    let t0 = std::time::Instant::now();
    let n = 20_000;
    let spec = format!(
        "{}ball:center=0,0{}",
        "union(ball:center=1,0 | ".repeat(n),
        ")".repeat(n)
    );
    let e = parse_domain(&spec).unwrap_err().to_string();
    assert!(e.contains("nested more than"), "{e}");
    assert!(e.len() < 1200, "message of {} bytes", e.len());
    for spec in [
        "box:dim=18446744073709551615",
        "ball:dim=1000000000000",
        "box:dim=1000001",
    ] {
        let e = parse_domain(spec).unwrap_err().to_string();
        assert!(e.contains("too large"), "{spec}: {e}");
    }
    // The largest allowed box is built in linear time.
    let d = parse_domain("box:dim=1000000").unwrap();
    assert_eq!(d.dim(), 1_000_000);
    assert!(t0.elapsed().as_secs_f64() < 5.0, "{:?}", t0.elapsed());
    // A box whose width overflows is refused.
    let e = parse_domain("box:min=-1e308;max=1e308")
        .unwrap_err()
        .to_string();
    assert!(e.contains("overflows"), "{e}");
}

/// User text in every core error is quoted on one line.
#[test]
fn errors_quote_user_text_on_one_line() {
    let errors = [
        "6\n4x64".parse::<GridShape>().unwrap_err().to_string(),
        parse_domain("ball:center=0,\u{1b}0\n")
            .unwrap_err()
            .to_string(),
        parse_domain("bo\nx").unwrap_err().to_string(),
        Expr::parse("x +\n$").unwrap_err().to_string(),
        Expr::parse("x\r\n+ \u{1b}").unwrap_err().to_string(),
        "cu\nda:0".parse::<DeviceKind>().unwrap_err().to_string(),
        Mesh::parse_obj("v 0 0 0\nv 1 1 \u{1b}x\ry\nf 1 2 3")
            .unwrap_err()
            .to_string(),
    ];
    for e in errors {
        assert!(!e.contains(['\n', '\r', '\u{1b}']), "{e:?}");
    }
    let e = "6\n4x64".parse::<GridShape>().unwrap_err().to_string();
    assert!(e.contains("6\\n4x64"), "{e}");
}

/// A mesh path naming a directory or a device is refused at once, not read forever.
#[test]
fn mesh_paths_that_are_not_files_are_refused() {
    for spec in ["mesh:/dev/zero", "mesh:/", "mesh:path=/dev/zero"] {
        let e = parse_domain(spec).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{spec}: {e}");
    }
}
