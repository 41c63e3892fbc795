//! Successive over-relaxation: SOR and SSOR as stand-alone iterations, and SSOR as a PCG
//! preconditioner.
//!
//! With `A = D + L + U` (diagonal, strict lower, strict upper), SOR is
//! `x ← x + M⁻¹(b − A x)` with `M = D/ω + L`, i.e. one forward Gauss–Seidel-like sweep in row
//! order; ω = 1 is Gauss–Seidel. SSOR follows each forward sweep with a backward sweep
//! (`M = D/ω + U`). One iteration = one (forward, or forward+backward) sweep; the stopping
//! test ‖b − A x‖₂ ≤ tol·‖b‖₂ is evaluated after every iteration with a fresh product.

use super::{check_inputs, Preconditioner, SolveOptions, SolveReport, Solver};
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::vecops;
use std::time::Instant;

/// Checks ω ∈ (0, 2), the range where SOR converges for SPD matrices.
pub fn check_omega(omega: f64) -> Result<()> {
    if omega.is_finite() && omega > 0.0 && omega < 2.0 {
        Ok(())
    } else {
        Err(SparseError::InvalidParameter(format!(
            "relaxation factor omega must be in (0, 2), got {omega}"
        )))
    }
}

/// Row-access helper shared by the sweeps: position of each diagonal entry.
struct Sweeper<'a> {
    a: &'a SparseMatrix,
    diag_pos: Vec<usize>,
}

impl<'a> Sweeper<'a> {
    fn new(a: &'a SparseMatrix, method: &str) -> Result<Self> {
        let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
        let mut diag_pos = Vec::with_capacity(a.rows());
        for i in 0..a.rows() {
            match (ip[i]..ip[i + 1]).find(|&k| ix[k] as usize == i) {
                Some(k) if vx[k] != 0.0 => diag_pos.push(k),
                _ => {
                    return Err(SparseError::ZeroDiagonal {
                        row: i,
                        method: method.to_string(),
                    })
                }
            }
        }
        Ok(Self { a, diag_pos })
    }

    /// `x_i ← (1−ω) x_i + ω (b_i − Σ_{j≠i} a_ij x_j) / a_ii` for one row.
    #[inline(always)]
    fn relax_row(&self, i: usize, omega: f64, b: &[f64], x: &mut [f64]) {
        let (ip, ix, vx) = (self.a.indptr(), self.a.indices(), self.a.values());
        let mut s = b[i];
        for k in ip[i]..ip[i + 1] {
            s -= vx[k] * x[ix[k] as usize];
        }
        let d = vx[self.diag_pos[i]];
        // s = b_i − Σ_j a_ij x_j (diagonal included), so the update is x_i += ω s / a_ii.
        x[i] += omega * s / d;
    }

    fn forward(&self, omega: f64, b: &[f64], x: &mut [f64]) {
        for i in 0..b.len() {
            self.relax_row(i, omega, b, x);
        }
    }

    fn backward(&self, omega: f64, b: &[f64], x: &mut [f64]) {
        for i in (0..b.len()).rev() {
            self.relax_row(i, omega, b, x);
        }
    }
}

/// Which iteration [`iterate`] runs: its report name, whether each sweep is followed by a
/// backward sweep (SSOR), and ω.
struct Method<'n> {
    name: &'n str,
    symmetric: bool,
    omega: f64,
}

/// Runs sweeps until the relative residual reaches `tol`, shared by SOR and SSOR.
fn iterate(
    method: Method,
    sweeper: &Sweeper,
    work: &mut Vec<f64>,
    b: &[f64],
    x: &mut [f64],
    opts: &SolveOptions,
) -> Result<SolveReport> {
    opts.validate()?;
    let Method {
        name,
        symmetric,
        omega,
    } = method;
    let a = sweeper.a;
    check_inputs(a.rows(), b, x)?;
    let t0 = Instant::now();
    work.resize(b.len(), 0.0);
    let bn = vecops::norm2(b);
    let scale = if bn > 0.0 { bn } else { 1.0 };
    let mut history = Vec::new();
    let mut rel = crate::operator::residual(a, b, x, work) / scale;
    if !rel.is_finite() {
        return Err(super::overflow("the initial residual ‖b − A x₀‖", rel, 0));
    }
    let push = |it: usize, rel: f64, history: &mut Vec<f64>| {
        if opts.record_history {
            history.push(rel);
        }
        if let Some(m) = opts.monitor {
            m(it, rel);
        }
    };
    push(0, rel, &mut history);
    let mut iters = 0;
    while rel > opts.tol && iters < opts.max_iters && !super::stop::stop_requested() {
        sweeper.forward(omega, b, x);
        if symmetric {
            sweeper.backward(omega, b, x);
        }
        iters += 1;
        rel = crate::operator::residual(a, b, x, work) / scale;
        if !rel.is_finite() {
            return Err(SparseError::NonFinite(format!(
                "{name} diverged at iteration {iters} (residual {rel})"
            )));
        }
        push(iters, rel, &mut history);
    }
    Ok(SolveReport {
        solver: name.to_string(),
        iterations: iters,
        relative_residual: rel,
        converged: rel <= opts.tol,
        setup_seconds: 0.0,
        solve_seconds: t0.elapsed().as_secs_f64(),
        residual_history: history,
        amg: None,
    })
}

/// Stand-alone SOR iteration (ω = 1: Gauss–Seidel), lexicographic row order.
///
/// Memory it keeps: it borrows the matrix, and holds the position of each of the `n` diagonal
/// entries (`usize`) and, after the first solve, an `n`-vector for the residual: `16·n`
/// bytes.
pub struct Sor<'a> {
    sweeper: Sweeper<'a>,
    omega: f64,
    work: Vec<f64>,
}

impl<'a> Sor<'a> {
    /// SOR on `a` with relaxation ω ∈ (0, 2); errors on a zero diagonal entry.
    pub fn new(a: &'a SparseMatrix, omega: f64) -> Result<Self> {
        check_omega(omega)?;
        Ok(Self {
            sweeper: Sweeper::new(a, "SOR")?,
            omega,
            work: Vec::new(),
        })
    }

    /// Changes ω for the next solve (what an ω tuner does between solves).
    pub fn set_omega(&mut self, omega: f64) -> Result<()> {
        check_omega(omega)?;
        self.omega = omega;
        Ok(())
    }

    /// The current ω.
    pub fn omega(&self) -> f64 {
        self.omega
    }
}

impl Solver for Sor<'_> {
    fn name(&self) -> String {
        "sor".into()
    }

    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport> {
        iterate(
            Method {
                name: "sor",
                symmetric: false,
                omega: self.omega,
            },
            &self.sweeper,
            &mut self.work,
            b,
            x,
            opts,
        )
    }
}

/// Stand-alone SSOR iteration: a forward then a backward SOR sweep per iteration.
///
/// Memory it keeps: like [`Sor`], the borrowed matrix's `n` diagonal positions and, after the
/// first solve, an `n`-vector for the residual: `16·n` bytes.
pub struct Ssor<'a> {
    sweeper: Sweeper<'a>,
    omega: f64,
    work: Vec<f64>,
}

impl<'a> Ssor<'a> {
    /// SSOR on `a` with relaxation ω ∈ (0, 2); errors on a zero diagonal entry.
    pub fn new(a: &'a SparseMatrix, omega: f64) -> Result<Self> {
        check_omega(omega)?;
        Ok(Self {
            sweeper: Sweeper::new(a, "SSOR")?,
            omega,
            work: Vec::new(),
        })
    }

    /// Changes ω for the next solve.
    pub fn set_omega(&mut self, omega: f64) -> Result<()> {
        check_omega(omega)?;
        self.omega = omega;
        Ok(())
    }
}

impl Solver for Ssor<'_> {
    fn name(&self) -> String {
        "ssor".into()
    }

    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport> {
        iterate(
            Method {
                name: "ssor",
                symmetric: true,
                omega: self.omega,
            },
            &self.sweeper,
            &mut self.work,
            b,
            x,
            opts,
        )
    }
}

/// SSOR preconditioner `M = ω/(2−ω) · (D/ω + L) (D/ω)⁻¹ (D/ω + U)` for symmetric `A`:
/// one forward and one backward sweep from z = 0. SPD for ω ∈ (0, 2) when A is SPD.
///
/// Memory it keeps: it borrows the matrix (no factor, no copy) and holds the position of each
/// of the `n` diagonal entries: `8·n` bytes.
pub struct SsorPreconditioner<'a> {
    sweeper: Sweeper<'a>,
    omega: f64,
}

impl<'a> SsorPreconditioner<'a> {
    /// Builds the preconditioner; errors on ω outside (0, 2) or a zero diagonal entry.
    pub fn new(a: &'a SparseMatrix, omega: f64) -> Result<Self> {
        check_omega(omega)?;
        Ok(Self {
            sweeper: Sweeper::new(a, "SSOR")?,
            omega,
        })
    }

    /// Changes ω (the preconditioner stays SPD for any ω in (0, 2)).
    pub fn set_omega(&mut self, omega: f64) -> Result<()> {
        check_omega(omega)?;
        self.omega = omega;
        Ok(())
    }
}

impl Preconditioner for SsorPreconditioner<'_> {
    fn name(&self) -> String {
        "ssor".into()
    }

    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        // Symmetric Gauss–Seidel from z = 0 applies exactly M⁻¹ above (with the ω/(2−ω) scale
        // included), so the preconditioner is the two sweeps.
        z.iter_mut().for_each(|v| *v = 0.0);
        self.sweeper.forward(self.omega, r, z);
        self.sweeper.backward(self.omega, r, z);
    }
}
