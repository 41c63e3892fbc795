//! A time loop with changing coefficients, the way a simulation code uses AMG: the code
//! assembles its own finite-element matrix every step and reuses one AMG hierarchy through
//! `Amg::refactor` (same sparsity, new values) instead of building a new one.
//!
//! Problem: backward-Euler heat equation u_t = div(k(x, y, t) ∇u) on the unit square with
//! u = 0 on the boundary, P1 triangles on a jittered (m+1)² mesh, lumped mass, and a travelling
//! conductivity k = 1 + 0.9 sin(2π(x − t)) cos(2πy). Each step solves
//! (M/Δt + K(t)) uⁿ⁺¹ = M uⁿ/Δt to 1e-8 with AMG-PCG, twice: with a fresh `Amg::new` and with
//! the refactored hierarchy, and prints set-up seconds and iterations of both. (The two
//! hierarchies differ slightly: a fresh set-up re-derives the strength graph from the new
//! values, `refactor` keeps the first one; both meet the tolerance.)
//!
//! Run: `cargo run --release --example amg_time_loop [M] [STEPS]` (default 384, 10).

use nabla_sparse::{Amg, AmgOptions, Pcg, SolveOptions, Solver, SparseMatrix};
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;
use std::time::Instant;

/// The mesh: node coordinates, triangles, interior-node numbering.
struct Mesh {
    xy: Vec<[f64; 2]>,
    triangles: Vec<[usize; 3]>,
    unknown: Vec<Option<usize>>,
    unknowns: usize,
}

fn mesh(m: usize) -> Mesh {
    let h = 1.0 / m as f64;
    let node = |i: usize, j: usize| i + (m + 1) * j;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let mut xy = Vec::with_capacity((m + 1) * (m + 1));
    let mut unknown = Vec::with_capacity(xy.capacity());
    let mut unknowns = 0;
    for j in 0..=m {
        for i in 0..=m {
            let interior = i > 0 && j > 0 && i < m && j < m;
            let jitter = |r: &mut rand_pcg::Pcg64| {
                if interior {
                    r.gen_range(-0.25..0.25) * h
                } else {
                    0.0
                }
            };
            xy.push([
                i as f64 * h + jitter(&mut rng),
                j as f64 * h + jitter(&mut rng),
            ]);
            unknown.push(interior.then(|| {
                unknowns += 1;
                unknowns - 1
            }));
        }
    }
    let mut triangles = Vec::with_capacity(2 * m * m);
    for j in 0..m {
        for i in 0..m {
            let (a, b, c, d) = (
                node(i, j),
                node(i + 1, j),
                node(i, j + 1),
                node(i + 1, j + 1),
            );
            triangles.push([a, b, d]);
            triangles.push([a, d, c]);
        }
    }
    Mesh {
        xy,
        triangles,
        unknown,
        unknowns,
    }
}

/// `M/Δt + K(t)` and the lumped mass diagonal `M` (interior rows only).
fn assemble(
    mesh: &Mesh,
    t: f64,
    dt: f64,
) -> Result<(SparseMatrix, Vec<f64>), nabla_sparse::SparseError> {
    let mut trip = Vec::with_capacity(9 * mesh.triangles.len());
    let mut mass = vec![0.0; mesh.unknowns];
    for tri in &mesh.triangles {
        let p = tri.map(|v| mesh.xy[v]);
        let area = 0.5
            * ((p[1][0] - p[0][0]) * (p[2][1] - p[0][1])
                - (p[2][0] - p[0][0]) * (p[1][1] - p[0][1]))
                .abs();
        let (cx, cy) = (
            (p[0][0] + p[1][0] + p[2][0]) / 3.0,
            (p[0][1] + p[1][1] + p[2][1]) / 3.0,
        );
        let k = 1.0 + 0.9 * (2.0 * PI * (cx - t)).sin() * (2.0 * PI * cy).cos();
        // ∇λ_v · 2·area: the rotated opposite edge.
        let g: Vec<[f64; 2]> = (0..3)
            .map(|v| {
                let (q, r) = (p[(v + 1) % 3], p[(v + 2) % 3]);
                [q[1] - r[1], r[0] - q[0]]
            })
            .collect();
        for u in 0..3 {
            let Some(ru) = mesh.unknown[tri[u]] else {
                continue;
            };
            mass[ru] += area / 3.0;
            trip.push((ru, ru, area / 3.0 / dt));
            for v in 0..3 {
                if let Some(rv) = mesh.unknown[tri[v]] {
                    let kuv = k * (g[u][0] * g[v][0] + g[u][1] * g[v][1]) / (4.0 * area);
                    trip.push((ru, rv, kuv));
                }
            }
        }
    }
    Ok((SparseMatrix::from_triplets(mesh.unknowns, &trip)?, mass))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let m: usize = args.next().map_or(Ok(384), |s| s.parse())?;
    let steps: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let dt = 1e-3;
    let mesh = mesh(m);
    println!(
        "P1 heat equation, {} unknowns, {steps} steps of Δt = {dt}",
        mesh.unknowns
    );
    let opts = SolveOptions {
        tol: 1e-8,
        record_history: false,
        ..Default::default()
    };
    // Initial condition: a bump.
    let mut u: Vec<f64> = mesh
        .unknown
        .iter()
        .zip(&mesh.xy)
        .filter(|(k, _)| k.is_some())
        .map(|(_, p)| (PI * p[0]).sin() * (PI * p[1]).sin())
        .collect();
    let (a0, _) = assemble(&mesh, 0.0, dt)?;
    let mut reused = Amg::new(&a0, AmgOptions::default())?;
    println!(
        "step | fresh set-up s | iterations | refactor s | iterations | max |x_refactor − x_fresh|"
    );
    let (mut fresh_total, mut refactor_total) = (0.0, 0.0);
    for step in 1..=steps {
        let t = step as f64 * dt;
        let (a, mass) = assemble(&mesh, t, dt)?;
        let b: Vec<f64> = u.iter().zip(&mass).map(|(ui, mi)| ui * mi / dt).collect();

        let t0 = Instant::now();
        let fresh = Amg::new(&a, AmgOptions::default())?;
        let fresh_setup = t0.elapsed().as_secs_f64();
        let mut x_fresh = u.clone();
        let rep_fresh = Pcg::new(&a, Box::new(fresh)).solve(&b, &mut x_fresh, &opts)?;

        let t0 = Instant::now();
        reused.refactor(&a)?;
        let refactor_setup = t0.elapsed().as_secs_f64();
        let mut x = u.clone();
        // `&mut Amg` is a preconditioner too: the hierarchy stays with the time loop.
        let rep = Pcg::new(&a, Box::new(&mut reused)).solve(&b, &mut x, &opts)?;
        fresh_total += fresh_setup;
        refactor_total += refactor_setup;
        println!(
            "{step:4} | {fresh_setup:14.4} | {:10} | {refactor_setup:10.4} | {:10} | {:.1e}",
            rep_fresh.iterations,
            rep.iterations,
            x.iter()
                .zip(&x_fresh)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max)
        );
        let r = nabla_sparse::relative_residual(&a, &b, &x);
        assert!(r <= 1e-8, "step {step}: residual {r}");
        u = x;
    }
    println!(
        "set-up over {steps} steps: fresh {fresh_total:.3} s, refactor {refactor_total:.3} s ({:.2}x)",
        refactor_total / fresh_total
    );
    Ok(())
}
