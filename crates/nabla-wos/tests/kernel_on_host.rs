//! Runs `kernels/wos.cu` on the host: the very source `nabla_wos::gpu_source::kernel_source`
//! generates for NVRTC (problem `#define`s, the domain's distance and closest-point functions,
//! the kernel), compiled by g++ with stand-ins for the CUDA keywords
//! (tests/support/cuda_host_stub.h) and launched thread by thread from a small driver, then
//! merged by `gpu_source::merge_blocks`. The kernel uses the CPU solver's random streams in the
//! same order and its domain functions transcribe the CPU shapes' operation for operation, so
//! its estimates must equal `WosSolver::solve` bit for bit, for every domain kind the GPU takes.
//! This checks the GPU path's numerics on machines without a GPU; skipped when g++ is missing.

use nabla_core::field::Expr;
use nabla_core::geometry::parse_domain;
use nabla_wos::gpu_source::{kernel_source, launch_parameters, merge_blocks};
use nabla_wos::{WosError, WosOptions, WosProblem, WosSolver};
use std::fmt::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// Calls the kernel once per thread of the launch and prints every output number (C's %a).
const DRIVER: &str = r#"
#include <cstdio>
#include <vector>
int main() {
  std::vector<double> out(6 * (size_t)THREADS, 0.0);
  blockDim.x = 1;
  for (unsigned t = 0; t < THREADS; ++t) {
    blockIdx.x = t; threadIdx.x = 0;
    wos_kernel(PTS, NPOINTS, WALKS, CHUNK, NCHUNKS, SEED, DOM, EPS, MAXSTEPS, DISCARD, SQS,
               ROULETTE, out.data());
  }
  for (size_t i = 0; i < out.size(); ++i) printf("%a\n", out[i]);
}
"#;

fn parse_hex(s: &str) -> f64 {
    // C's %a: [-]0xh.hhhhp±d (also inf/nan never appear: the merge would reject them)
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-').trim_start_matches("0x");
    let (mant, exp) = s.split_once('p').expect("hex float");
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = u64::from_str_radix(int, 16).expect("hex") as f64;
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16).expect("hex digit") as f64 * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp.parse::<i32>().expect("exponent"));
    if neg {
        -v
    } else {
        v
    }
}

fn c_array(v: &[f64]) -> String {
    // Rust's `{:?}` is the shortest decimal that round-trips; g++ parses it correctly rounded.
    let mut s = String::from("{");
    for x in v {
        let _ = write!(s, "{x:?}, ");
    }
    s.push('}');
    s
}

fn solver(spec: &str, g: &str, f: Option<&str>, sigma: f64) -> WosSolver {
    let mut p = WosProblem::laplace(
        parse_domain(spec).unwrap(),
        Arc::new(g.parse::<Expr>().unwrap()),
    )
    .with_screening(sigma)
    .unwrap();
    if let Some(f) = f {
        p = p.with_source(Arc::new(f.parse::<Expr>().unwrap()));
    }
    let opts = WosOptions {
        walks: 256,
        epsilon: 1e-4,
        seed: 9,
        ..Default::default()
    };
    WosSolver::new(p, opts).unwrap()
}

/// Compiles and runs the generated kernel for `s` at `points` on the host.
fn run_on_host(dir: &Path, name: &str, s: &WosSolver, points: &[f64]) -> nabla_wos::WosSolution {
    let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/cuda_host_stub.h");
    let k = kernel_source(s).unwrap();
    let n = points.len() / s.dim();
    let l = launch_parameters(s, n).unwrap();
    let src = format!(
        "#include \"{}\"\n{}\nstatic const double PTS[] = {};\nstatic const double DOM[] = {};\n\
         #define THREADS {}u\n#define NPOINTS {}u\n#define WALKS {}u\n#define CHUNK {}u\n\
         #define NCHUNKS {}u\n#define SEED {}ULL\n#define EPS {:?}\n#define MAXSTEPS {}u\n\
         #define DISCARD {}\n#define SQS {:?}\n#define ROULETTE {:?}\n{DRIVER}",
        stub.display(),
        k.source,
        c_array(points),
        c_array(&k.domain),
        l.threads,
        l.n_points,
        l.walks,
        l.chunk,
        l.nchunks,
        l.seed,
        l.epsilon,
        l.max_steps,
        l.discard_unfinished,
        l.sqrt_sigma,
        l.roulette,
    );
    let cpp = dir.join(format!("{name}.cpp"));
    let exe = dir.join(name);
    std::fs::write(&cpp, src).unwrap();
    let out = Command::new("g++")
        .args([
            "-O1",
            "-std=c++14",
            "-D_GNU_SOURCE",
            "-ffp-contract=off",
            "-o",
        ])
        .arg(&exe)
        .arg(&cpp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "g++ on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success(), "{name} failed on the host");
    let v: Vec<f64> = String::from_utf8(run.stdout)
        .unwrap()
        .split_whitespace()
        .map(parse_hex)
        .collect();
    assert_eq!(v.len(), 6 * l.threads);
    merge_blocks(&v, points, s.dim(), l.nchunks as usize, 0.0).unwrap()
}

#[test]
fn kernel_on_host_equals_cpu_bitwise_on_every_gpu_domain() {
    if Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipping: g++ not found");
        return;
    }
    // A regular 40-gon: more than 32 edges, so the CPU answers with its BVH.
    let ngon: Vec<String> = (0..40)
        .map(|i| {
            let t = std::f64::consts::TAU * f64::from(i) / 40.0;
            format!("{},{}", 0.8 * t.cos(), 0.8 * t.sin())
        })
        .collect();
    let ngon = format!("polygon:vertices={}", ngon.join(","));
    let p2 = [0.3, 0.4, -0.2, 0.1, 0.05, -0.3];
    let p3 = [0.3, 0.4, 0.6, 0.5, 0.5, 0.5];
    let cases: Vec<(&str, WosSolver, &[f64])> = vec![
        (
            "ball",
            solver(
                "ball:center=0,0;radius=1",
                "x^2 + y^2",
                Some("4 - 4*(x^2 + y^2)"),
                4.0,
            ),
            &p2,
        ),
        (
            "box3",
            solver(
                "box:min=0,0,0;max=1,2,1",
                "exp(x)*sin(y) + z",
                Some("6"),
                0.0,
            ),
            &p3,
        ),
        (
            "lshape",
            solver("lshape", "exp(x)*cos(y)", None, 0.0),
            &[0.5, -0.5, -0.5, 0.5, -0.1, -0.1],
        ),
        ("ngon", solver(&ngon, "x*y", Some("1"), 0.0), &p2),
        (
            "star",
            solver("star:c1=0.1;c2=-0.05", "x^2 - y^2", Some("2"), 0.0),
            &p2,
        ),
        (
            "difference",
            solver(
                "difference(box:min=-1,-1;max=1,1 | ball:center=0,0;radius=0.25)",
                "x + 2*y",
                None,
                0.0,
            ),
            &[0.5, 0.5, -0.6, 0.2, 0.1, -0.7],
        ),
        (
            "union",
            solver(
                "union(ball:center=0,0;radius=0.6 | ball:center=0.5,0;radius=0.6 | lshape)",
                "x",
                Some("1"),
                1.0,
            ),
            &p2,
        ),
        (
            "intersection3",
            solver(
                "intersection(box:min=0,0,0;max=1,1,1 | ball:center=0.5,0.5,0.5;radius=0.6)",
                "x*y*z",
                None,
                2.0,
            ),
            &p3,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, s, pts) in &cases {
        let host = run_on_host(dir.path(), name, s, pts);
        let cpu = s.solve(pts).unwrap();
        assert_eq!(host.total_walks, cpu.total_walks, "{name}: walks");
        assert_eq!(host.total_steps, cpu.total_steps, "{name}: steps");
        for (i, (h, c)) in host.estimates.iter().zip(&cpu.estimates).enumerate() {
            assert_eq!(h.value, c.value, "{name} point {i}: mean");
            assert_eq!(h.variance, c.variance, "{name} point {i}: variance");
            assert_eq!(h.unfinished, c.unfinished, "{name} point {i}: unfinished");
        }
    }
}

#[test]
fn shapes_without_a_gpu_transcription_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("tet.obj");
    std::fs::write(
        &obj,
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n",
    )
    .unwrap();
    let mesh = solver(&format!("mesh:{}", obj.display()), "x", None, 0.0);
    let e = kernel_source(&mesh).unwrap_err();
    assert!(matches!(e, WosError::Unsupported(_)), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("mesh") && !msg.contains('\n'), "{msg}");
}

#[test]
fn the_domain_is_data_so_a_family_shares_one_source() {
    let a = kernel_source(&solver("star:c1=0.1;c2=-0.05", "x", None, 0.0)).unwrap();
    let b = kernel_source(&solver("star:c1=-0.2;c2=0.1", "x", None, 0.0)).unwrap();
    assert_eq!(a.source, b.source);
    assert_ne!(a.domain, b.domain);
    let c = kernel_source(&solver("box:min=0,0;max=1,1", "x", None, 0.0)).unwrap();
    let d = kernel_source(&solver("box:min=-1,0;max=3,2", "x", None, 0.0)).unwrap();
    assert_eq!(c.source, d.source);
    assert_eq!(d.domain, [-1.0, 0.0, 3.0, 2.0]);
}
