//! Distributed CG and Jacobi-PCG on a [`DistGridPoisson`]: every rank runs the same iteration on
//! its block; products exchange halos, dot products are exact allreduces of line sums, so all
//! ranks take the same decisions and the iterates do not depend on the rank count.

use super::grid::{DistGridPoisson, Halo};
use super::lines::{line_dot, line_dot_scaled, totals};
use super::matrix::{DistCsr, GhostBuffers};
use super::multigrid::DistMultigrid;
use super::operator::DistOperator;
use crate::error::{Result, SparseError};
use crate::solvers::stop::stop_requested;
use crate::solvers::{SolveOptions, SolveReport};
use nabla_core::comm::Communicator;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Preconditioners of the distributed CG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistPreconditioner {
    /// None: plain CG (`cg`).
    None,
    /// The diagonal (`jacobi-pcg`).
    Jacobi,
    /// One symmetric V-cycle of the distributed geometric multigrid (`mg-pcg`; plain, masked
    /// and variable-coefficient grids on a slab decomposition, see [`DistMultigrid`]).
    Multigrid,
}

/// What a distributed solve did, beyond the serial [`SolveReport`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DistSolveReport {
    /// The serial report's fields (identical on every rank).
    pub report: SolveReport,
    /// Number of ranks.
    pub ranks: usize,
    /// Seconds this rank spent in communication during the solve (waits included, overlapped
    /// interior work excluded).
    pub communication_seconds: f64,
    /// The largest `communication_seconds` over the ranks.
    pub communication_seconds_max: f64,
}

/// CG / Jacobi-PCG / mg-pcg over ranks, on a grid ([`DistGridPoisson`]) or a matrix
/// ([`DistCsr`](super::DistCsr)). Holds its workspace between solves.
pub struct DistCg<'a, O: DistOperator = DistGridPoisson> {
    problem: &'a O,
    preconditioner: DistPreconditioner,
    halo: O::Workspace,
    inv_diag: Vec<f64>,
    multigrid: Option<DistMultigrid>,
}

impl<'a> DistCg<'a, DistGridPoisson> {
    /// A solver for `problem` with the given preconditioner. Building the multigrid hierarchy
    /// can fail (a decomposition that is not in slabs): that is the error. Every rank must call
    /// it.
    pub fn new(
        problem: &'a DistGridPoisson,
        preconditioner: DistPreconditioner,
        comm: &dyn Communicator,
    ) -> Result<Self> {
        let inv_diag = match preconditioner {
            DistPreconditioner::Jacobi => problem.diagonal().iter().map(|d| 1.0 / d).collect(),
            _ => Vec::new(),
        };
        let multigrid = match preconditioner {
            DistPreconditioner::Multigrid => Some(DistMultigrid::new(problem, comm)?),
            _ => None,
        };
        Ok(Self {
            problem,
            preconditioner,
            halo: Halo::default(),
            inv_diag,
            multigrid,
        })
    }
}

impl<'a> DistCg<'a, DistCsr> {
    /// CG or Jacobi-PCG on a distributed matrix (geometric multigrid needs a grid).
    pub fn for_matrix(problem: &'a DistCsr, preconditioner: DistPreconditioner) -> Result<Self> {
        let inv_diag = match preconditioner {
            DistPreconditioner::None => Vec::new(),
            DistPreconditioner::Jacobi => {
                if let Some(i) = problem
                    .diagonal()
                    .iter()
                    .position(|&d| d.is_nan() || d <= 0.0)
                {
                    return Err(SparseError::ZeroDiagonal {
                        row: problem.rows().start + i,
                        method: "jacobi-pcg".into(),
                    });
                }
                problem.diagonal().iter().map(|d| 1.0 / d).collect()
            }
            DistPreconditioner::Multigrid => {
                return Err(SparseError::NotAGrid(
                    "a matrix has no grid hierarchy; use jacobi-pcg or cg across ranks".into(),
                ))
            }
        };
        Ok(Self {
            problem,
            preconditioner,
            halo: GhostBuffers::default(),
            inv_diag,
            multigrid: None,
        })
    }
}

impl<O: DistOperator> DistCg<'_, O> {
    /// The multigrid hierarchy, for `mg-pcg`.
    pub fn multigrid(&self) -> Option<&DistMultigrid> {
        self.multigrid.as_ref()
    }

    /// The CLI name: `cg` or `jacobi-pcg`.
    pub fn name(&self) -> &'static str {
        match self.preconditioner {
            DistPreconditioner::None => "cg",
            DistPreconditioner::Jacobi => "jacobi-pcg",
            DistPreconditioner::Multigrid => "mg-pcg",
        }
    }

    /// Solves `A x = b` on this rank's block (`b`, `x` local, grid order), from the given `x`.
    /// Collective: every rank calls it with its own block. Stops when ‖r‖ ≤ tol·‖b‖ with the
    /// norms taken over the whole system; `relative_residual` is recomputed from the final x.
    pub fn solve(
        &mut self,
        comm: &dyn Communicator,
        b: &[f64],
        x: &mut [f64],
        opts: &SolveOptions,
    ) -> Result<DistSolveReport> {
        opts.validate()?;
        let n = self.problem.local_len();
        if b.len() != n || x.len() != n {
            return Err(SparseError::DimensionMismatch(format!(
                "rank {} owns {n} points; b has {} and x {}",
                comm.rank(),
                b.len(),
                x.len()
            )));
        }
        let comm0 = comm.communication_seconds();
        let t0 = Instant::now();
        // Segments of reproducible partial sums (x-lines of a grid, row blocks of a matrix).
        let nx = self.problem.segment_len();
        self.problem.clear_fixed(x);
        let mut b = b.to_vec();
        self.problem.clear_fixed(&mut b);
        let mut r = vec![0.0; n];
        let mut p = vec![0.0; n];
        let mut q = vec![0.0; n];
        let jacobi = self.preconditioner == DistPreconditioner::Jacobi;
        let seg = |line: usize| line * nx..((line + 1) * nx).min(n);
        let uses_mg = self.multigrid.is_some();
        let uses_z = jacobi || uses_mg;
        let mut z = if uses_z { vec![0.0; n] } else { Vec::new() };
        let lines = n.div_ceil(nx.max(1));
        let mut dots_a = vec![0.0; lines];
        let mut dots_b = vec![0.0; lines];

        // r = b − A x; ‖b‖ and the first rᵀz in one reduction.
        self.problem.apply(comm, x, &mut q, &mut self.halo);
        r.par_chunks_mut(nx)
            .zip(q.par_chunks(nx))
            .zip(b.par_chunks(nx))
            .zip(dots_a.par_iter_mut().zip(dots_b.par_iter_mut()))
            .for_each(|(((rl, ql), bl), (da, db))| {
                for i in 0..rl.len() {
                    rl[i] = bl[i] - ql[i];
                }
                *da = line_dot(bl, bl);
                *db = line_dot(rl, rl);
            });
        let first = totals(comm, &[&dots_a, &dots_b]);
        let (bb, mut rr) = (first[0], first[1]);
        if !bb.is_finite() || !rr.is_finite() {
            return Err(SparseError::Overflow(
                "‖b‖² or the initial residual is not finite (entries too large, or NaN in b/x)"
                    .into(),
            ));
        }
        let bnorm = if bb > 0.0 { bb.sqrt() } else { 1.0 };
        let mut history = Vec::new();
        let mut record = |it: usize, rel: f64| {
            if opts.record_history {
                history.push(rel);
            }
            if let Some(m) = opts.monitor {
                m(it, rel);
            }
        };
        let mut rel = rr.sqrt() / bnorm;
        record(0, rel);
        let mut rz = if jacobi {
            self.precondition(&r, &mut z, &mut dots_a);
            totals(comm, &[&dots_a])[0]
        } else if let Some(mg) = &mut self.multigrid {
            mg.apply(comm, &r, &mut z);
            line_dots(&r, &z, nx, &mut dots_a);
            totals(comm, &[&dots_a])[0]
        } else {
            rr
        };
        p.copy_from_slice(if uses_z { &z } else { &r });
        let mut iterations = 0;
        while rel > opts.tol && iterations < opts.max_iters {
            // Every rank must leave together: a stop request on any rank stops all.
            let mut stop = [f64::from(u8::from(stop_requested()))];
            if iterations % 16 == 0 {
                comm.allreduce_max_f64(&mut stop);
                if stop[0] > 0.0 {
                    break;
                }
            }
            let pq = self.problem.apply_dot(comm, &p, &mut q, &mut self.halo);
            if !pq.is_finite() {
                return Err(SparseError::Overflow(format!(
                    "pᵀAp = {pq} at iteration {}",
                    iterations + 1
                )));
            }
            if pq <= 0.0 {
                return Err(SparseError::NotPositiveDefinite {
                    detail: format!("pᵀAp = {pq:e} at CG iteration {}", iterations + 1),
                });
            }
            let alpha = rz / pq;
            let inv = &self.inv_diag;
            x.par_chunks_mut(nx)
                .zip(r.par_chunks_mut(nx))
                .zip(p.par_chunks(nx).zip(q.par_chunks(nx)))
                .zip(dots_a.par_iter_mut().zip(dots_b.par_iter_mut()))
                .enumerate()
                .for_each(|(line, (((xl, rl), (pl, ql)), (da, db)))| {
                    for i in 0..xl.len() {
                        xl[i] += alpha * pl[i];
                        rl[i] -= alpha * ql[i];
                    }
                    *da = line_dot(rl, rl);
                    if jacobi {
                        let d = &inv[seg(line)];
                        *db = line_dot_scaled(rl, d);
                    }
                });
            iterations += 1;
            if let Some(mg) = &mut self.multigrid {
                mg.apply(comm, &r, &mut z);
                line_dots(&r, &z, nx, &mut dots_b);
            }
            let sums = if uses_z {
                totals(comm, &[&dots_a, &dots_b])
            } else {
                totals(comm, &[&dots_a])
            };
            rr = sums[0];
            if !rr.is_finite() {
                return Err(SparseError::Overflow(format!(
                    "residual norm not finite at iteration {iterations}"
                )));
            }
            rel = rr.sqrt() / bnorm;
            record(iterations, rel);
            if rel <= opts.tol {
                break;
            }
            let rz_new = if uses_z { sums[1] } else { rr };
            if uses_z && rz_new <= 0.0 {
                return Err(SparseError::PreconditionerBreakdown(format!(
                    "rᵀM⁻¹r = {rz_new:e} at iteration {iterations}"
                )));
            }
            let beta = rz_new / rz;
            rz = rz_new;
            let src: &[f64] = if uses_mg { &z } else { &r };
            p.par_chunks_mut(nx).enumerate().for_each(|(line, pl)| {
                let rl = &src[seg(line)];
                if jacobi {
                    let d = &inv[seg(line)];
                    for i in 0..pl.len() {
                        pl[i] = rl[i] * d[i] + beta * pl[i];
                    }
                } else {
                    for i in 0..pl.len() {
                        pl[i] = rl[i] + beta * pl[i];
                    }
                }
            });
        }
        // The reported residual is recomputed from x, never taken from the recurrence.
        self.problem.apply(comm, x, &mut q, &mut self.halo);
        q.par_chunks_mut(nx)
            .zip(b.par_chunks(nx))
            .zip(dots_a.par_iter_mut())
            .for_each(|((ql, bl), d)| {
                for i in 0..ql.len() {
                    ql[i] = bl[i] - ql[i];
                }
                *d = line_dot(ql, ql);
            });
        let true_rr = totals(comm, &[&dots_a])[0];
        let relative_residual = true_rr.sqrt() / bnorm;
        let solve_seconds = t0.elapsed().as_secs_f64();
        let communication_seconds = comm.communication_seconds() - comm0;
        let mut worst = [communication_seconds];
        comm.allreduce_max_f64(&mut worst);
        Ok(DistSolveReport {
            report: SolveReport {
                solver: self.name().to_string(),
                iterations,
                relative_residual,
                converged: relative_residual <= opts.tol,
                setup_seconds: 0.0,
                solve_seconds,
                residual_history: history,
                amg: None,
            },
            ranks: comm.size(),
            communication_seconds,
            communication_seconds_max: worst[0],
        })
    }

    /// z = D⁻¹ r, with the line sums of rᵀz.
    fn precondition(&self, r: &[f64], z: &mut [f64], dots: &mut [f64]) {
        let nx = self.problem.segment_len();
        let inv = &self.inv_diag;
        z.par_chunks_mut(nx)
            .zip(dots.par_iter_mut())
            .enumerate()
            .for_each(|(line, (zl, d))| {
                let range = line * nx..((line + 1) * nx).min(r.len());
                let rl = &r[range.clone()];
                let il = &inv[range];
                for i in 0..zl.len() {
                    zl[i] = rl[i] * il[i];
                }
                *d = line_dot(rl, zl);
            });
    }
}

/// Per-line `rᵀz` sums.
fn line_dots(r: &[f64], z: &[f64], nx: usize, dots: &mut [f64]) {
    dots.par_iter_mut()
        .zip(r.par_chunks(nx).zip(z.par_chunks(nx)))
        .for_each(|(d, (rl, zl))| *d = line_dot(rl, zl));
}
