//! A trained PINN as a surrogate inside a mesh-based code: load its run directory, evaluate u,
//! ∇u and Δu at the nodes of a triangle mesh built here, and check them the ways a
//! finite-element user would.
//!
//! The mesh is the run's domain bounding box cut into `m × m` squares, each split into two
//! triangles, with interior nodes jittered (an unstructured-looking mesh, nodes the network was
//! never trained at); nodes outside the domain are dropped. At every node the program gets u,
//! ∇u and Δu from one call ([`nabla::pinn::Pinn::evaluate`], exact derivatives of the network)
//! and reports:
//! - the error against the run's exact solution (when its config has one);
//! - the PDE residual −Δu − f at the nodes (Poisson runs), from the network's own Laplacian;
//! - how the network's gradient at each triangle's centroid compares with the gradient of the
//!   P1 interpolant of its nodal values — the consistency a mesh code relies on when it mixes
//!   surrogate values and its own gradients (O(h) apart for a smooth u).
//!
//! With a third argument it writes the mesh with u and ∇u as a legacy VTK file for ParaView.
//!
//! Run: `nabla train configs/pinn_poisson2d.toml`, then
//! `cargo run --release -p nabla --example pinn_surrogate [RUN_DIR] [M] [OUT.vtk]`
//! (default `datasets/runs/pinn_v0.1`, M = 64).

use nabla::ndarray::Array2;
use nabla::pinn::config::PdeKind;
use nabla::pinn::Pinn;
use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The run directory (or checkpoint file) of a trained 2-D steady PINN.
    pub run: PathBuf,
    /// Squares per side of the mesh.
    pub m: usize,
    /// Write the mesh with u and ∇u here (legacy VTK), if set.
    pub vtk: Option<PathBuf>,
}

impl Options {
    /// The defaults for a run directory: a 64 × 64 mesh, no VTK output.
    pub fn new(run: impl Into<PathBuf>) -> Self {
        Options {
            run: run.into(),
            m: 64,
            vtk: None,
        }
    }
}

/// What the journey measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Mesh nodes inside the domain.
    pub nodes: usize,
    /// Triangles with all three nodes inside.
    pub triangles: usize,
    /// Seconds for u, ∇u and Δu at every node.
    pub seconds: f64,
    /// max |u − u_exact| over the nodes (runs with an exact solution).
    pub max_u_error: Option<f64>,
    /// max |∇u − ∇u_exact| (central differences of the exact solution, step 1e-5).
    pub max_grad_error: Option<f64>,
    /// max |−Δu − f| over the nodes (Poisson runs).
    pub max_residual: Option<f64>,
    /// max |∇u(centroid) − ∇(P1 interpolant)| over the triangles.
    pub max_p1_gradient_gap: f64,
    /// The mesh size h (square side).
    pub h: f64,
}

/// The mesh: nodes inside the domain and triangles over them.
struct Mesh {
    xy: Vec<[f64; 2]>,
    triangles: Vec<[usize; 3]>,
}

fn mesh(pinn: &Pinn, m: usize) -> Result<(Mesh, f64), Box<dyn Error>> {
    let problem = &pinn.model().problem;
    if problem.space_dim() != 2 || problem.time.is_some() {
        return Err("this journey needs a steady 2-D PINN run (inputs x, y)".into());
    }
    let b = problem.domain.bounds();
    let (x0, y0, lx, ly) = (b.min[0], b.min[1], b.max[0] - b.min[0], b.max[1] - b.min[1]);
    let h = lx.max(ly) / m as f64;
    let mut index = vec![None; (m + 1) * (m + 1)];
    let mut xy = Vec::new();
    for j in 0..=m {
        for i in 0..=m {
            // A fixed pseudo-random jitter of interior nodes, a quarter of a cell at most.
            let interior = i > 0 && i < m && j > 0 && j < m;
            let r = |k: usize| ((k as f64 * 0.754877666).fract() - 0.5) * 0.5;
            let (dx, dy) = if interior {
                (r(3 * (i + j * m)), r(7 * (i + j * m) + 1))
            } else {
                (0.0, 0.0)
            };
            let p = [
                x0 + lx * (i as f64 + dx) / m as f64,
                y0 + ly * (j as f64 + dy) / m as f64,
            ];
            if problem.domain.signed_distance(&p) <= 0.0 {
                index[i + (m + 1) * j] = Some(xy.len());
                xy.push(p);
            }
        }
    }
    let mut triangles = Vec::new();
    for j in 0..m {
        for i in 0..m {
            let v = |a: usize, b: usize| index[a + (m + 1) * b];
            let (p00, p10, p01, p11) = (v(i, j), v(i + 1, j), v(i, j + 1), v(i + 1, j + 1));
            for t in [[p00, p10, p11], [p00, p11, p01]] {
                if let [Some(a), Some(b), Some(c)] = t {
                    triangles.push([a, b, c]);
                }
            }
        }
    }
    Ok((Mesh { xy, triangles }, h))
}

/// The gradient of the linear interpolant of `u` on triangle `t`.
fn p1_gradient(xy: &[[f64; 2]], u: &[f64], t: &[usize; 3]) -> [f64; 2] {
    let [a, b, c] = *t;
    let (e1, e2) = (
        [xy[b][0] - xy[a][0], xy[b][1] - xy[a][1]],
        [xy[c][0] - xy[a][0], xy[c][1] - xy[a][1]],
    );
    let det = e1[0] * e2[1] - e1[1] * e2[0];
    let (d1, d2) = (u[b] - u[a], u[c] - u[a]);
    [
        (d1 * e2[1] - d2 * e1[1]) / det,
        (e1[0] * d2 - e2[0] * d1) / det,
    ]
}

/// Loads the PINN, evaluates it on the mesh and checks the values.
pub fn run(opts: &Options) -> Result<Report, Box<dyn Error>> {
    let pinn = Pinn::load(&opts.run)?;
    let (mesh, h) = mesh(&pinn, opts.m.max(2))?;
    let n = mesh.xy.len();
    let nodes = Array2::from_shape_fn((n, 2), |(k, i)| mesh.xy[k][i]);
    let t = Instant::now();
    let v = pinn.evaluate(nodes.view())?;
    let seconds = t.elapsed().as_secs_f64();
    let problem = &pinn.model().problem;
    let u = v.u.to_vec();
    let (mut max_u_error, mut max_grad_error) = (None, None);
    if let Some(exact) = &problem.exact {
        let (mut eu, mut eg) = (0.0f64, 0.0f64);
        let d = 1e-5;
        for (k, p) in mesh.xy.iter().enumerate() {
            eu = eu.max((u[k] - exact.eval(p)).abs());
            for i in 0..2 {
                let (mut lo, mut hi) = (*p, *p);
                lo[i] -= d;
                hi[i] += d;
                let g = (exact.eval(&hi) - exact.eval(&lo)) / (2.0 * d);
                eg = eg.max((v.grad[[k, i]] - g).abs());
            }
        }
        max_u_error = Some(eu);
        max_grad_error = Some(eg);
    }
    let max_residual = (problem.pde == PdeKind::Poisson).then(|| {
        mesh.xy
            .iter()
            .enumerate()
            .map(|(k, p)| (-v.laplacian[k] - problem.source.eval(p)).abs())
            .fold(0.0, f64::max)
    });
    let centroids = Array2::from_shape_fn((mesh.triangles.len(), 2), |(t, i)| {
        mesh.triangles[t]
            .iter()
            .map(|&k| mesh.xy[k][i])
            .sum::<f64>()
            / 3.0
    });
    let at_centroids = pinn.grad(centroids.view())?;
    let max_p1_gradient_gap = mesh
        .triangles
        .iter()
        .enumerate()
        .map(|(t, tri)| {
            let g = p1_gradient(&mesh.xy, &u, tri);
            (0..2)
                .map(|i| (g[i] - at_centroids[[t, i]]).abs())
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    if let Some(path) = &opts.vtk {
        write_vtk(path, &mesh, &u, &v.grad)?;
    }
    Ok(Report {
        nodes: n,
        triangles: mesh.triangles.len(),
        seconds,
        max_u_error,
        max_grad_error,
        max_residual,
        max_p1_gradient_gap,
        h,
    })
}

/// The mesh with point data u and ∇u, legacy VTK (ASCII), written to a temporary name and
/// renamed so a reader never sees half a file.
fn write_vtk(
    path: &std::path::Path,
    mesh: &Mesh,
    u: &[f64],
    grad: &Array2<f64>,
) -> Result<(), Box<dyn Error>> {
    let mut s = String::from(
        "# vtk DataFile Version 3.0\nnabla PINN surrogate\nASCII\nDATASET UNSTRUCTURED_GRID\n",
    );
    let _ = writeln!(s, "POINTS {} double", mesh.xy.len());
    for p in &mesh.xy {
        let _ = writeln!(s, "{} {} 0", p[0], p[1]);
    }
    let nt = mesh.triangles.len();
    let _ = writeln!(s, "CELLS {nt} {}", 4 * nt);
    for t in &mesh.triangles {
        let _ = writeln!(s, "3 {} {} {}", t[0], t[1], t[2]);
    }
    let _ = writeln!(s, "CELL_TYPES {nt}");
    for _ in 0..nt {
        s.push_str("5\n");
    }
    let _ = writeln!(
        s,
        "POINT_DATA {}\nSCALARS u double 1\nLOOKUP_TABLE default",
        u.len()
    );
    for v in u {
        let _ = writeln!(s, "{v}");
    }
    s.push_str("VECTORS grad_u double\n");
    for row in grad.rows() {
        let _ = writeln!(s, "{} {} 0", row[0], row[1]);
    }
    nabla::core::atomic::write_atomic(path, |w| std::io::Write::write_all(w, s.as_bytes()))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options::new(
        args.next()
            .unwrap_or_else(|| "datasets/runs/pinn_v0.1".into()),
    );
    if let Some(m) = args.next() {
        opts.m = m
            .parse()
            .map_err(|_| format!("M must be a positive integer, got '{m}'"))?;
    }
    opts.vtk = args.next().map(PathBuf::from);
    let r = run(&opts)?;
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
    println!(
        "{} nodes, {} triangles (h = {:.3e}); u, ∇u, Δu at every node in {:.3} s",
        r.nodes, r.triangles, r.h, r.seconds
    );
    println!("max |u − exact|            {}", show(r.max_u_error));
    println!("max |∇u − ∇exact|          {}", show(r.max_grad_error));
    println!("max |−Δu − f| (Poisson)    {}", show(r.max_residual));
    println!(
        "max |∇u − ∇(P1 of u)|      {:.3e}  (O(h) for a smooth u)",
        r.max_p1_gradient_gap
    );
    if let Some(p) = &opts.vtk {
        println!("mesh with u and grad_u written to {}", p.display());
    }
    Ok(())
}
