//! Runs `kernels/wos.cu` on the host: compiled by g++ with stand-ins for the CUDA keywords
//! (tests/support/cuda_host_stub.h) and launched thread by thread from a small driver. The
//! kernel uses the CPU solver's random streams in the same order and the same block merge, so
//! its estimates must equal `WosSolver::solve` bit for bit. This checks the kernel's numerics
//! on machines without a GPU; skipped when g++ is missing.

use nabla_core::field::Expr;
use nabla_core::geometry::parse_domain;
use nabla_wos::{WosOptions, WosProblem, WosSolver};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const DRIVER: &str = r#"
#include <cstdio>
int main() {
  double pts[WOS_DIM]; for (int k = 0; k < WOS_DIM; ++k) pts[k] = PT[k];
  unsigned walks = 256, chunk = 64, nchunks = 4;
  double out[6 * 4];
  blockDim.x = 1;
  for (unsigned t = 0; t < nchunks; ++t) {
    blockIdx.x = t; threadIdx.x = 0;
    wos_kernel(pts, 1, walks, chunk, nchunks, 9ULL, DOM, 1e-4, 1024, 0, SQS, 0.1, out);
  }
  double n = 0, mean = 0, m2 = 0, steps = 0;
  for (unsigned c = 0; c < nchunks; ++c) {
    double* o = out + 6 * c;
    if (o[0] > 0) {
      if (n == 0) { n = o[0]; mean = o[1]; m2 = o[2]; }
      else { double tot = n + o[0]; double d = o[1] - mean; mean += d * o[0] / tot;
             m2 += o[2] + d * d * n * o[0] / tot; n = tot; }
    }
    steps += o[3];
  }
  printf("%a %a %a\n", mean, m2 / (n - 1), steps);
}
"#;

fn parse_hex(s: &str) -> f64 {
    // C's %a: [-]0xh.hhhhp±d
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

#[test]
fn kernel_on_host_equals_cpu_bitwise() {
    if Command::new("g++").arg("--version").output().is_err() {
        eprintln!("skipping: g++ not found");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kernel = root.join("../../kernels/wos.cu");
    let stub = root.join("tests/support/cuda_host_stub.h");
    let dir = tempfile::tempdir().unwrap();
    // (domain spec, kernel domain params, point, g in C, g, f in C, f, sigma)
    let cases = [
        (
            "ball:center=0,0;radius=1",
            "{0.0, 0.0, 1.0}",
            "{0.3, 0.4}",
            "nabla_sq(x) + nabla_sq(y)",
            "x^2 + y^2",
            "4.0 - 4.0*(nabla_sq(x) + nabla_sq(y))",
            "4 - 4*(x^2 + y^2)",
            4.0,
        ),
        (
            "box:min=0,0,0;max=1,2,1",
            "{0.0, 0.0, 0.0, 1.0, 2.0, 1.0}",
            "{0.3, 0.4, 0.6}",
            "exp(x)*sin(y) + z",
            "exp(x)*sin(y) + z",
            "6.0",
            "6",
            0.0,
        ),
        (
            "box:min=0,0;max=1,1",
            "{0.0, 0.0, 1.0, 1.0}",
            "{0.3, 0.7}",
            "exp(x)*cos(y)",
            "exp(x)*cos(y)",
            "0.0",
            "0",
            0.0,
        ),
    ];
    for (i, (spec, dom, pt, gc, g, fc, f, sigma)) in cases.into_iter().enumerate() {
        let d = pt.matches(',').count() + 1;
        let kind = if spec.starts_with("box") { 0 } else { 1 };
        let has_source = u8::from(f != "0");
        let src = format!(
            "#include \"{}\"\n#define WOS_DIM {d}\n#define WOS_DOMAIN {kind}\n\
             #define WOS_HAS_SOURCE {has_source}\n#define WOS_G(x, y, z, r, theta) ({gc})\n\
             #define WOS_F(x, y, z, r, theta) ({fc})\n#define SQS {}\n\
             static double PT[] = {pt};\nstatic double DOM[] = {dom};\n{}\n{DRIVER}",
            stub.display(),
            f64::sqrt(sigma),
            std::fs::read_to_string(&kernel).unwrap()
        );
        let cpp = dir.path().join(format!("k{i}.cpp"));
        let exe = dir.path().join(format!("k{i}"));
        std::fs::write(&cpp, src).unwrap();
        let out = Command::new("g++")
            .args(["-O1", "-std=c++14", "-D_GNU_SOURCE", "-o"])
            .arg(&exe)
            .arg(&cpp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "g++: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = Command::new(&exe).output().unwrap();
        let text = String::from_utf8(run.stdout).unwrap();
        let v: Vec<f64> = text.split_whitespace().map(parse_hex).collect();

        let mut problem = WosProblem::laplace(
            parse_domain(spec).unwrap(),
            Arc::new(g.parse::<Expr>().unwrap()),
        )
        .with_screening(sigma)
        .unwrap();
        if f != "0" {
            problem = problem.with_source(Arc::new(f.parse::<Expr>().unwrap()));
        }
        let opts = WosOptions {
            walks: 256,
            epsilon: 1e-4,
            seed: 9,
            ..Default::default()
        };
        let x: Vec<f64> = pt
            .trim_matches(['{', '}'])
            .split(',')
            .map(|s| s.trim().parse().unwrap())
            .collect();
        let cpu = WosSolver::new(problem, opts).unwrap().solve(&x).unwrap();
        let e = &cpu.estimates[0];
        assert_eq!(v[0], e.value, "case {i} ({spec}): mean");
        assert_eq!(v[1], e.variance, "case {i} ({spec}): variance");
        assert_eq!(v[2] as u64, cpu.total_steps, "case {i} ({spec}): steps");
    }
}
