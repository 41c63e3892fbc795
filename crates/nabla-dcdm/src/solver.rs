//! The DCDM iteration as a `nabla_sparse::Solver`.
//!
//! From the given x (normally 0), with the true residual `r = b − A x`:
//! 1. `q = net(r / ‖r‖)` on the grid (solid cells dropped);
//! 2. A-orthogonalize `q` against the last `k` directions `p` ([`DEFAULT_DIRECTIONS`]):
//!    `q ← q − p (qᵀAp)/(pᵀAp)`, updating `Aq` the same way, so one product per iteration;
//! 3. `α = qᵀr / qᵀAq`, `x ← x + α q`;
//! 4. `r = b − A x` recomputed from x (a second product), stop at `‖r‖ ≤ tol·‖b‖`.
//!
//! `α` is the exact minimizer of the A-norm error along `q`, so ‖x − x*‖_A never increases,
//! whatever the network returns; a poor network only costs iterations. When the network's
//! direction is degenerate (`qᵀAq ≤ 0` after orthogonalization, or not finite) the iteration
//! falls back to the residual as direction for that step (counted in
//! [`Dcdm::fallback_steps`]).
//!
//! Where the vector work runs is the solver's [`Placement`]: by default ([`Placement::Auto`]) on
//! the host when the network is on the CPU, and on the network's device otherwise (the
//! [`crate::device`] iteration: every field stays there, two scalar reads per iteration instead
//! of two full-field copies). Either way the report's relative residual is recomputed on the
//! host from the final x with the operator given to [`Dcdm::new`], so what a report claims is
//! checked independently of the loop that produced it.

/// The number of previous directions each new one is A-orthogonalized against, unless told
/// otherwise: 16 (measured better than the paper's 2 at every size — with 2, 64² takes 17
/// iterations against CG's 165 but 256² grows 1.9×; with 16 the count stays nearly flat).
pub const DEFAULT_DIRECTIONS: usize = 16;

use crate::device::{self, GridTensorOperator};
use crate::model::DcdmModel;
use nabla_sparse::solvers::{SolveOptions, SolveReport, Solver};
use nabla_sparse::{vecops, GridPoisson, LinearOperator, SparseError};
use std::collections::VecDeque;
use std::time::Instant;

/// Where [`Dcdm`] runs its iteration's vector work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// On the network's device when that is not the CPU and the operator given to
    /// [`Dcdm::new`] is the grid's own (checked once on a probe vector); on the host otherwise.
    #[default]
    Auto,
    /// Always on the host: the residual goes to the network's device and the direction comes
    /// back every iteration.
    Host,
    /// Always on the network's device, even the CPU (candle tensors, see [`crate::device`]).
    /// A solve errors if the operator given to [`Dcdm::new`] is not the grid's own.
    Device,
}

/// The DCDM solver for one grid problem.
pub struct Dcdm<'a> {
    model: &'a DcdmModel,
    op: &'a dyn LinearOperator,
    grid: &'a GridPoisson,
    directions: usize,
    placement: Placement,
    /// The grid operator on the network's device, built on the first device solve and kept,
    /// so a time loop of solves builds it once.
    device_op: Option<GridTensorOperator>,
    /// Whether `op` matched `device_op` on the probe vector (checked once).
    same_operator: Option<bool>,
    on_device: bool,
    network_seconds: f64,
    fallback_steps: usize,
}

impl<'a> Dcdm<'a> {
    /// A solver for the grid problem `grid` with operator `op` (its matrix or stencil) and the
    /// network `model`, A-orthogonalizing against the last `directions` directions.
    ///
    /// Errors: a model of another dimension than the grid, an operator of another size than
    /// the grid's unknowns, `directions == 0`.
    pub fn new(
        model: &'a DcdmModel,
        op: &'a dyn LinearOperator,
        grid: &'a GridPoisson,
        directions: usize,
    ) -> crate::Result<Self> {
        let nd = grid.shape().ndim();
        if model.dim() != nd {
            return Err(crate::DcdmError::Mismatch(format!(
                "the model is {}-D (trained on {:?}), the grid {} is {nd}-D",
                model.dim(),
                model.train_grid(),
                grid.shape()
            )));
        }
        if op.dim() != grid.unknowns() {
            return Err(crate::DcdmError::Mismatch(format!(
                "the operator has {} rows, the grid {} has {} unknowns",
                op.dim(),
                grid.shape(),
                grid.unknowns()
            )));
        }
        if directions == 0 {
            return Err(crate::DcdmError::config(
                "directions",
                "must be ≥ 1 (the paper uses 2)",
            ));
        }
        Ok(Dcdm {
            model,
            op,
            grid,
            directions,
            placement: Placement::Auto,
            device_op: None,
            same_operator: None,
            on_device: false,
            network_seconds: 0.0,
            fallback_steps: 0,
        })
    }

    /// The same solver with the iteration placed as `placement` says (default
    /// [`Placement::Auto`]).
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Whether the last solve ran its iteration on the network's device (the
    /// [`crate::device`] loop) rather than on the host.
    pub fn ran_on_device(&self) -> bool {
        self.on_device
    }

    /// Whether this solve takes the device loop: builds the device operator and compares it
    /// with `op` on a probe vector the first time. Errors: [`Placement::Device`] with an
    /// operator that is not the grid's own, or a device that cannot hold the operator.
    fn use_device(&mut self) -> Result<bool, SparseError> {
        let wanted = match self.placement {
            Placement::Host => false,
            Placement::Device => true,
            Placement::Auto => !self.model.net().device().is_cpu(),
        };
        if !wanted {
            return Ok(false);
        }
        if self.device_op.is_none() {
            let op = GridTensorOperator::new(self.grid, self.model.net().device())
                .map_err(|e| SparseError::InvalidParameter(format!("DCDM device operator: {e}")))?;
            self.device_op = Some(op);
        }
        let same = match (self.same_operator, &self.device_op) {
            (Some(same), _) => same,
            (None, Some(dop)) => {
                let same = same_operator(self.op, dop)?;
                self.same_operator = Some(same);
                same
            }
            (None, None) => false,
        };
        match (same, self.placement) {
            (true, _) => Ok(true),
            (false, Placement::Device) => Err(SparseError::InvalidParameter(format!(
                "the DCDM device iteration needs the grid's own operator (GridPoisson::matrix \
                 or ::stencil of the grid {}); the operator given differs from it",
                self.grid.shape()
            ))),
            (false, _) => Ok(false),
        }
    }

    /// Seconds spent evaluating the network in the last solve (included in its
    /// `solve_seconds`). For the device loop on an asynchronous device (CUDA) this is the host
    /// time of the network call (its kernel launches): timing the kernels would need a wait,
    /// a third sync per iteration (see [`crate::device`]).
    pub fn network_seconds(&self) -> f64 {
        self.network_seconds
    }

    /// Iterations of the last solve that fell back to the residual direction (either loop).
    pub fn fallback_steps(&self) -> usize {
        self.fallback_steps
    }

    /// `net(r/‖r‖)` over the unknowns.
    fn direction(&mut self, r: &[f64], rn: f64) -> Result<Vec<f64>, SparseError> {
        let t0 = Instant::now();
        let mut field = self.grid.to_grid(r);
        field.iter_mut().for_each(|v| *v /= rn);
        let out = self
            .model
            .apply_grid(&field, self.grid.shape().dims())
            .map_err(|e| SparseError::InvalidParameter(format!("DCDM network: {e}")))?;
        let q = match self.grid.unknown_points() {
            None => out,
            Some(points) => points.iter().map(|&p| out[p]).collect(),
        };
        self.network_seconds += t0.elapsed().as_secs_f64();
        Ok(q)
    }
}

impl Solver for Dcdm<'_> {
    fn name(&self) -> String {
        "dcdm".into()
    }

    fn solve(
        &mut self,
        b: &[f64],
        x: &mut [f64],
        opts: &SolveOptions,
    ) -> nabla_sparse::Result<SolveReport> {
        opts.validate()?;
        let n = self.op.dim();
        check(n, b, x)?;
        self.network_seconds = 0.0;
        self.fallback_steps = 0;
        self.on_device = false;
        let t0 = Instant::now();
        if self.use_device()? {
            if let Some(dop) = &self.device_op {
                self.on_device = true;
                let run = device::iterate(self.model, dop, self.directions, b, x, opts)?;
                self.network_seconds = run.network_seconds;
                self.fallback_steps = run.fallback_steps;
                return Ok(self.report(b, x, run.iterations, run.history, t0, opts.tol));
            }
        }
        let bn = vecops::norm2(b);
        let scale = if bn > 0.0 { bn } else { 1.0 };
        let mut r = vec![0.0; n];
        let mut rn = nabla_sparse::operator::residual(self.op, b, x, &mut r);
        let mut history = Vec::new();
        if opts.record_history {
            history.push(rn / scale);
        }
        // (p, Ap, pᵀAp) of the last `directions` steps.
        let mut past: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
        let mut aq = vec![0.0; n];
        let mut iterations = 0;
        while rn > opts.tol * scale
            && iterations < opts.max_iters
            && !nabla_sparse::solvers::stop::stop_requested()
        {
            let mut q = self.direction(&r, rn)?;
            let mut qaq = self.orthogonalize(&mut q, &mut aq, &past);
            if !(qaq.is_finite() && qaq > 0.0 && vecops::dot(&q, &r).abs() > 0.0) {
                self.fallback_steps += 1;
                q.copy_from_slice(&r);
                qaq = self.orthogonalize(&mut q, &mut aq, &past);
                if !(qaq.is_finite() && qaq > 0.0) {
                    return Err(SparseError::NotPositiveDefinite {
                        detail: format!(
                            "DCDM iteration {iterations}: the residual direction has rᵀAr = {qaq:e}"
                        ),
                    });
                }
            }
            let alpha = vecops::dot(&q, &r) / qaq;
            vecops::axpy(alpha, &q, x);
            rn = nabla_sparse::operator::residual(self.op, b, x, &mut r);
            if !rn.is_finite() {
                return Err(SparseError::NonFinite(format!(
                    "DCDM iteration {iterations}: the residual is {rn}"
                )));
            }
            if past.len() == self.directions {
                past.pop_front();
            }
            past.push_back((q, aq.clone(), qaq));
            iterations += 1;
            if opts.record_history {
                history.push(rn / scale);
            }
            if let Some(m) = opts.monitor {
                m(iterations, rn / scale);
            }
        }
        Ok(self.report(b, x, iterations, history, t0, opts.tol))
    }
}

impl Dcdm<'_> {
    /// The report of a solve that ended at `x`, its relative residual recomputed on the host
    /// with the operator given to [`Dcdm::new`], whichever loop produced `x`.
    fn report(
        &self,
        b: &[f64],
        x: &[f64],
        iterations: usize,
        history: Vec<f64>,
        t0: Instant,
        tol: f64,
    ) -> SolveReport {
        let rel = nabla_sparse::relative_residual(self.op, b, x);
        SolveReport {
            solver: self.name(),
            iterations,
            relative_residual: rel,
            converged: rel <= tol,
            setup_seconds: 0.0,
            solve_seconds: t0.elapsed().as_secs_f64(),
            residual_history: history,
            amg: None,
        }
    }

    /// A-orthogonalizes `q` against `past` (modified Gram–Schmidt in the A-inner product),
    /// writes `A q` into `aq` and returns `qᵀAq`.
    fn orthogonalize(
        &self,
        q: &mut [f64],
        aq: &mut [f64],
        past: &VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    ) -> f64 {
        self.op.apply(q, aq);
        for (p, ap, pap) in past {
            let c = vecops::dot(q, ap) / pap;
            vecops::axpy(-c, p, q);
            vecops::axpy(-c, ap, aq);
        }
        vecops::dot(q, aq)
    }
}

/// Whether `op` is the operator `dop` holds: both applied to one seeded random vector agree
/// to rounding (1e-10 of the largest entry; a different operator of the same size differs
/// by O(1) almost surely). One host product and one round trip to the device, once per solver.
fn same_operator(op: &dyn LinearOperator, dop: &GridTensorOperator) -> Result<bool, SparseError> {
    let v = nabla_sparse::RhsKind::Random.vector(op.dim(), 0x5eed);
    let mut host = vec![0.0; op.dim()];
    op.apply(&v, &mut host);
    let dev = dop
        .upload(&v)
        .and_then(|t| dop.download(&dop.apply(&t)?))
        .map_err(|e| SparseError::InvalidParameter(format!("DCDM device operator: {e}")))?;
    let big = host.iter().fold(0.0f64, |m, y| m.max(y.abs()));
    Ok(host
        .iter()
        .zip(&dev)
        .all(|(h, d)| (h - d).abs() <= 1e-10 * big))
}

fn check(n: usize, b: &[f64], x: &[f64]) -> nabla_sparse::Result<()> {
    if b.len() != n || x.len() != n {
        return Err(SparseError::DimensionMismatch(format!(
            "right-hand side has {} and initial guess {} entries, the system has {n} unknowns",
            b.len(),
            x.len()
        )));
    }
    if let Some(i) = vecops::first_non_finite(b) {
        return Err(SparseError::NonFinite(format!(
            "right-hand side entry {i} is {}",
            b[i]
        )));
    }
    if let Some(i) = vecops::first_non_finite(x) {
        return Err(SparseError::NonFinite(format!(
            "initial guess entry {i} is {}",
            x[i]
        )));
    }
    Ok(())
}
