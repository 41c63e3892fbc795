//! The CUDA kernel (feature `cuda`): without a GPU every entry point is a clear error, never a
//! panic; with one, GPU and CPU estimates agree within 4 combined standard errors (they use the
//! same random streams, so they agree much more closely in practice).
#![cfg(feature = "cuda")]

use nabla_core::field::Expr;
use nabla_core::geometry::parse_domain;
use nabla_wos::{cuda, WosError, WosOptions, WosProblem, WosSolver};
use std::sync::Arc;

fn expr(s: &str) -> Arc<Expr> {
    Arc::new(s.parse().unwrap())
}

fn solver(spec: &str, g: &str, f: Option<&str>, sigma: f64) -> WosSolver {
    let mut p = WosProblem::laplace(parse_domain(spec).unwrap(), expr(g))
        .with_screening(sigma)
        .unwrap();
    if let Some(f) = f {
        p = p.with_source(expr(f));
    }
    let opts = WosOptions {
        walks: 4000,
        epsilon: 1e-4,
        seed: 9,
        ..Default::default()
    };
    WosSolver::new(p, opts).unwrap()
}

#[test]
fn kernel_source_is_generated_for_analytic_domains_only() {
    let s = solver("ball:center=0,0;radius=1", "x^2 - y^2", Some("4"), 0.0);
    let (src, params) = cuda::kernel_source(&s).unwrap();
    assert!(src.starts_with("#define WOS_DIM 2\n#define WOS_DOMAIN 1\n#define WOS_HAS_SOURCE 1"));
    assert!(src.contains("wos_kernel"));
    assert_eq!(params, [0.0, 0.0, 1.0]);
    let star = solver("star:c1=0.1", "x", None, 0.0);
    assert!(matches!(
        cuda::kernel_source(&star),
        Err(WosError::Unsupported(_))
    ));
    let closure = WosSolver::new(
        WosProblem::laplace(
            parse_domain("box:min=0,0;max=1,1").unwrap(),
            Arc::new(|p: &[f64]| p[0]),
        ),
        WosOptions::default(),
    )
    .unwrap();
    assert!(cuda::kernel_source(&closure)
        .unwrap_err()
        .to_string()
        .contains("expression"));
}

#[test]
fn gpu_matches_cpu_or_errors_cleanly() {
    let cases = [
        solver("box:min=0,0;max=1,1", "exp(x)*sin(y)", None, 0.0),
        solver("ball:center=0,0;radius=1", "x^2 + y^2", Some("4"), 0.0),
        solver("ball:center=0,0,0;radius=1", "exp(1.5*x + 2*y)", None, 6.25),
        solver(
            "box:min=0,0,0;max=1,1,1",
            "x^2 + y^2 + z^2",
            Some("6 - 2*(x^2+y^2+z^2)"),
            2.0,
        ),
    ];
    let pts2 = [0.3, 0.4, 0.6, 0.2, 0.5, 0.5];
    let pts3 = [0.3, 0.4, 0.2, 0.6, 0.2, 0.5];
    if !cuda::is_available() {
        let e = cuda::solve_cuda(&cases[0], &pts2, 0).unwrap_err();
        assert!(matches!(e, WosError::Cuda(_)), "{e}");
        eprintln!("skipping the GPU comparison: {e}");
        return;
    }
    for (i, s) in cases.iter().enumerate() {
        let pts: &[f64] = if s.dim() == 2 { &pts2 } else { &pts3 };
        let gpu = cuda::solve_cuda(s, pts, 0).unwrap();
        let cpu = s.solve(pts).unwrap();
        assert_eq!(gpu.total_walks, cpu.total_walks);
        for (g, c) in gpu.estimates.iter().zip(&cpu.estimates) {
            let tol = 4.0 * (g.stderr.powi(2) + c.stderr.powi(2)).sqrt();
            assert!(
                (g.value - c.value).abs() <= tol,
                "case {i}: gpu {} cpu {} (tol {tol})",
                g.value,
                c.value
            );
        }
        let out_of_range = cuda::solve_cuda(s, pts, 1000).unwrap_err();
        assert!(out_of_range.to_string().contains("does not exist"));
    }
}
