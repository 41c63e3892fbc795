//! Conjugate gradients, plain and preconditioned.

use super::stop::stop_requested;
use super::{check_inputs, overflow, Preconditioner, SolveOptions, SolveReport, Solver};
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::operator::LinearOperator;
use crate::vecops;
use std::time::Instant;

/// Per-solve bookkeeping shared by CG and PCG: history, monitor, stopping test.
struct Progress<'o, 'm> {
    opts: &'o SolveOptions<'m>,
    bnorm: f64,
    history: Vec<f64>,
}

impl<'o, 'm> Progress<'o, 'm> {
    fn new(opts: &'o SolveOptions<'m>, b: &[f64]) -> Self {
        let bn = vecops::norm2(b);
        Self {
            opts,
            bnorm: if bn > 0.0 { bn } else { 1.0 },
            history: Vec::new(),
        }
    }

    /// Records the residual norm of iteration `it`; returns its relative value.
    fn record(&mut self, it: usize, rnorm: f64) -> f64 {
        let rel = rnorm / self.bnorm;
        if self.opts.record_history {
            self.history.push(rel);
        }
        if let Some(m) = self.opts.monitor {
            m(it, rel);
        }
        rel
    }
}

/// Workspace vectors of CG, kept between solves.
#[derive(Default)]
struct Workspace {
    r: Vec<f64>,
    p: Vec<f64>,
    q: Vec<f64>,
    z: Vec<f64>,
}

impl Workspace {
    fn ensure(&mut self, n: usize, preconditioned: bool) {
        for v in [&mut self.r, &mut self.p, &mut self.q] {
            v.resize(n, 0.0);
        }
        if preconditioned {
            self.z.resize(n, 0.0);
        }
    }
}

/// Conjugate gradients for symmetric positive definite `A` (Hestenes–Stiefel).
///
/// Memory it keeps: it borrows the operator and, from the first solve on, three work vectors
/// of the operator's size `n` (residual, direction, product): `24·n` bytes, reused by every
/// later solve.
pub struct Cg<'a> {
    inner: Pcg<'a>,
}

impl<'a> Cg<'a> {
    /// CG on any linear operator (assembled or matrix-free).
    pub fn new(a: &'a dyn LinearOperator) -> Self {
        Self {
            inner: Pcg {
                a: Operand::Borrowed(a),
                precond: None,
                work: Workspace::default(),
            },
        }
    }
}

impl Solver for Cg<'_> {
    fn name(&self) -> String {
        "cg".into()
    }

    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport> {
        let mut rep = self.inner.solve(b, x, opts)?;
        rep.solver = self.name();
        Ok(rep)
    }
}

/// Preconditioned conjugate gradients with any SPD [`Preconditioner`].
///
/// Memory it keeps: it borrows the operator, owns the preconditioner (whatever that holds:
/// see [`crate::Jacobi`], [`crate::Ic0`], [`crate::SsorPreconditioner`],
/// [`crate::Multigrid`], [`crate::Amg`]) and, from the first solve on, four work vectors of
/// the operator's size `n` (residual, direction, product, preconditioned residual): `32·n`
/// bytes, reused by every later solve and across [`Pcg::update`].
pub struct Pcg<'a> {
    a: Operand<'a>,
    precond: Option<Box<dyn Preconditioner + 'a>>,
    work: Workspace,
}

/// The operator of a [`Pcg`]: borrowed ([`Pcg::new`]) or owned ([`Pcg::owning`]).
enum Operand<'a> {
    Borrowed(&'a dyn LinearOperator),
    Owned(SparseMatrix),
}

impl Operand<'_> {
    fn get(&self) -> &dyn LinearOperator {
        match self {
            Operand::Borrowed(a) => *a,
            Operand::Owned(a) => a,
        }
    }
}

impl<'a> Pcg<'a> {
    /// PCG with preconditioner `m`; the solver is named `<m>-pcg`.
    pub fn new(a: &'a dyn LinearOperator, m: Box<dyn Preconditioner + 'a>) -> Self {
        Self {
            a: Operand::Borrowed(a),
            precond: Some(m),
            work: Workspace::default(),
        }
    }

    /// PCG that owns its matrix: the form for a time loop that assembles a new matrix every
    /// step, where a borrowed matrix would not outlive the step. Hand each step's matrix over
    /// with [`Pcg::replace_matrix`], which returns the previous one for re-assembly in place
    /// ([`SparseMatrix::values_mut`]), so the loop allocates nothing.
    ///
    /// ```
    /// use nabla_sparse::{Ic0, Pcg, SolveOptions, Solver, SparseMatrix};
    /// // tridiag(−1, 2 + c, −1) with a coefficient c that changes every step.
    /// let assemble = |c: f64| {
    ///     let n = 100;
    ///     let mut t = Vec::new();
    ///     for i in 0..n {
    ///         t.push((i, i, 2.0 + c));
    ///         if i + 1 < n {
    ///             t.push((i, i + 1, -1.0));
    ///             t.push((i + 1, i, -1.0));
    ///         }
    ///     }
    ///     SparseMatrix::from_triplets(n, &t)
    /// };
    /// let a = assemble(1.0)?;
    /// let ic0 = Ic0::new(&a)?;
    /// let mut pcg = Pcg::owning(a, Box::new(ic0));
    /// let (b, mut x) = (vec![1.0; 100], vec![0.0; 100]);
    /// let mut spare = assemble(1.0)?; // storage for the next step's values
    /// for step in 1..=5 {
    ///     let c = 1.0 / step as f64;
    ///     // Re-assemble in place: the diagonal entries take the new coefficient.
    ///     let (ip, ix) = (spare.indptr().to_vec(), spare.indices().to_vec());
    ///     let v = spare.values_mut();
    ///     for i in 0..100 {
    ///         for k in ip[i]..ip[i + 1] {
    ///             v[k] = if ix[k] as usize == i { 2.0 + c } else { -1.0 };
    ///         }
    ///     }
    ///     // Refactors IC(0) and hands back the previous matrix for the next step.
    ///     spare = pcg.replace_matrix(spare)?.expect("an owning solver returns its old matrix");
    ///     let report = pcg.solve(&b, &mut x, &SolveOptions { tol: 1e-10, ..Default::default() })?;
    ///     assert!(report.converged);
    /// }
    /// # Ok::<(), nabla_sparse::SparseError>(())
    /// ```
    pub fn owning(a: SparseMatrix, m: Box<dyn Preconditioner + 'a>) -> Self {
        Self {
            a: Operand::Owned(a),
            precond: Some(m),
            work: Workspace::default(),
        }
    }

    /// One step of a time loop: `a` (same size and pattern, new values) becomes the solver's
    /// own operator and the preconditioner is refactored for it ([`Pcg::update`] for a
    /// borrowed one). Returns the previous matrix if the solver owned it ([`Pcg::owning`]), for
    /// re-assembly in place; `None` if it was borrowed. On an error nothing changes.
    pub fn replace_matrix(&mut self, a: SparseMatrix) -> Result<Option<SparseMatrix>> {
        self.check_size(&a)?;
        if let Some(m) = self.precond.as_mut() {
            m.refactor(&a)?;
        }
        Ok(match std::mem::replace(&mut self.a, Operand::Owned(a)) {
            Operand::Owned(old) => Some(old),
            Operand::Borrowed(_) => None,
        })
    }

    fn check_size(&self, a: &SparseMatrix) -> Result<()> {
        let n = self.a.get().dim();
        if a.rows() != n {
            return Err(SparseError::DimensionMismatch(format!(
                "the new matrix has {} rows, the solver's {n}",
                a.rows()
            )));
        }
        Ok(())
    }

    /// Replaces the preconditioner (e.g. a new SSOR ω), keeping the workspace.
    pub fn set_preconditioner(&mut self, m: Box<dyn Preconditioner + 'a>) {
        self.precond = Some(m);
    }

    /// Solves with another operator of the same size from now on (new coefficients in a time
    /// loop), keeping the preconditioner and the work vectors; refactor the preconditioner
    /// (e.g. [`crate::Ic0::refactor`], [`crate::Amg::refactor`],
    /// [`crate::Multigrid::refactor`]) to match, or call [`Pcg::update`], which does both.
    pub fn set_operator(&mut self, a: &'a dyn LinearOperator) {
        self.a = Operand::Borrowed(a);
    }

    /// One step of a time loop: solves with `a` (same size and pattern, new values) from now
    /// on and refactors the preconditioner for it ([`Preconditioner::refactor`]: IC(0), AMG,
    /// geometric multigrid), keeping every pattern-only set-up and the work vectors.
    ///
    /// Errors: [`SparseError::DimensionMismatch`] when `a` has another size, and whatever the
    /// preconditioner's `refactor` reports (a foreign pattern; a preconditioner that cannot be
    /// refactored, like Jacobi or SSOR: build a new one and use
    /// [`Pcg::set_preconditioner`] and [`Pcg::set_operator`]). On an error the solver keeps
    /// its old operator, and the preconditioner is unchanged after a size or pattern error
    /// (an IC(0) factorization that fails on a pivot is not: see [`crate::Ic0::refactor`]).
    pub fn update(&mut self, a: &'a SparseMatrix) -> Result<()> {
        self.check_size(a)?;
        if let Some(m) = self.precond.as_mut() {
            m.refactor(a)?;
        }
        self.a = Operand::Borrowed(a);
        Ok(())
    }
}

impl Solver for Pcg<'_> {
    fn name(&self) -> String {
        match &self.precond {
            Some(m) => format!("{}-pcg", m.name()),
            None => "cg".into(),
        }
    }

    fn setup_seconds(&self) -> f64 {
        self.precond.as_ref().map_or(0.0, |m| m.setup_seconds())
    }

    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport> {
        opts.validate()?;
        let a = self.a.get();
        let n = a.dim();
        check_inputs(n, b, x)?;
        let t0 = Instant::now();
        let preconditioned = self.precond.is_some();
        self.work.ensure(n, preconditioned);
        let Workspace { r, p, q, z } = &mut self.work;
        let mut prog = Progress::new(opts, b);

        let mut rr = operator_residual(a, b, x, r);
        if !rr.is_finite() {
            return Err(overflow("the initial residual ‖b − A x₀‖²", rr, 0));
        }
        let mut rel = prog.record(0, rr.sqrt());
        let mut iters = 0;
        // Outer loop: when the recurrence says converged, the true residual is recomputed and
        // CG restarts from it if the recurrence drifted (so the claim in the report holds).
        'outer: while rel > opts.tol && iters < opts.max_iters && !stop_requested() {
            let mut rz = match self.precond.as_mut() {
                Some(m) => {
                    m.apply(r, z);
                    vecops::copy(z, p);
                    vecops::dot(r, z)
                }
                None => {
                    vecops::copy(r, p);
                    rr
                }
            };
            if !rz.is_finite() {
                return Err(overflow("the preconditioned residual rᵀM⁻¹r", rz, iters));
            }
            while iters < opts.max_iters {
                if stop_requested() {
                    break 'outer;
                }
                let pap = a.apply_dot(p, q);
                // Overflow is not indefiniteness: a non-finite pᵀAp from finite inputs means
                // the products left the f64 range (e.g. entries near 1e308).
                if !pap.is_finite() {
                    return Err(overflow("p·Ap", pap, iters + 1));
                }
                if !is_positive(pap) {
                    if rr == 0.0 {
                        break 'outer;
                    }
                    return Err(SparseError::NotPositiveDefinite {
                        detail: format!("pᵀAp = {pap:e} at iteration {}", iters + 1),
                    });
                }
                let alpha = rz / pap;
                if !alpha.is_finite() {
                    return Err(overflow("the step length rᵀz / pᵀAp", alpha, iters + 1));
                }
                rr = vecops::cg_update(alpha, p, q, x, r);
                iters += 1;
                if !rr.is_finite() {
                    return Err(overflow("the residual norm ‖r‖²", rr, iters));
                }
                rel = prog.record(iters, rr.sqrt());
                if rel <= opts.tol {
                    // Verify with the true residual.
                    rr = operator_residual(a, b, x, r);
                    rel = rr.sqrt() / prog.bnorm;
                    if let Some(last) = prog.history.last_mut() {
                        *last = rel;
                    }
                    continue 'outer;
                }
                let rz_new = match self.precond.as_mut() {
                    Some(m) => {
                        m.apply(r, z);
                        vecops::dot(r, z)
                    }
                    None => rr,
                };
                if !rz_new.is_finite() {
                    return Err(overflow(
                        "the preconditioned residual rᵀM⁻¹r",
                        rz_new,
                        iters,
                    ));
                }
                if !is_positive(rz_new) && self.precond.is_some() {
                    return Err(SparseError::PreconditionerBreakdown(format!(
                        "the preconditioned residual rᵀM⁻¹r = {rz_new:e} at iteration {iters}: \
                         the preconditioner is not positive definite for this matrix, or the \
                         system is too badly scaled for it (rescale, or try --solver cg)"
                    )));
                }
                let beta = rz_new / rz;
                rz = rz_new;
                vecops::xpby(if preconditioned { z } else { r }, beta, p);
            }
        }
        let solve_seconds = t0.elapsed().as_secs_f64();
        let relative_residual = crate::operator::relative_residual(a, b, x);
        Ok(SolveReport {
            solver: self.name(),
            iterations: iters,
            relative_residual,
            converged: relative_residual <= opts.tol,
            setup_seconds: self.setup_seconds(),
            solve_seconds,
            residual_history: prog.history,
            amg: self.precond.as_ref().and_then(|m| m.hierarchy()),
        })
    }
}

fn operator_residual(a: &dyn LinearOperator, b: &[f64], x: &[f64], r: &mut [f64]) -> f64 {
    let rn = crate::operator::residual(a, b, x, r);
    rn * rn
}

/// `v > 0` and finite; false for NaN, so a NaN breakdown is caught by the same test.
pub(crate) fn is_positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}
