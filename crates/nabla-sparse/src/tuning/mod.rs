//! Learning to relax: online tuning of the relaxation factor ω of SOR and of SSOR-preconditioned
//! CG across a *sequence* of related systems, from past iteration counts alone
//! (Khodak et al., "Learning to Relax", ICLR 2024).
//!
//! A simulation code wraps each solve in `choose` / `observe`:
//!
//! ```
//! use nabla_sparse::tuning::{solve_with_omega, Context, OmegaSolver, Tuner, TsallisInf};
//! use nabla_sparse::{GridPoisson, RhsKind, SolveOptions};
//!
//! let problem = GridPoisson::new("8x8".parse().unwrap());
//! let a = problem.matrix();
//! let mut tuner = TsallisInf::with_default_arms(42);
//! let opts = SolveOptions { tol: 1e-8, record_history: false, ..Default::default() };
//! for step in 0..20 {
//!     let b = problem.rhs(RhsKind::Random, step);
//!     let mut x = vec![0.0; b.len()];
//!     let omega = tuner.choose(&Context::none()).unwrap();
//!     let report = solve_with_omega(OmegaSolver::Sor, &a, &b, &mut x, omega, &opts).unwrap();
//!     tuner.observe(report.iterations as f64).unwrap();
//! }
//! // What it learned survives a restart:
//! let saved = serde_json::to_string(&tuner).unwrap();
//! let resumed: TsallisInf = serde_json::from_str(&saved).unwrap();
//! assert_eq!(resumed.rounds(), 20);
//! ```
//!
//! Tuners:
//! - [`TsallisInf`]: non-contextual bandit over a grid of ω (default `linspace(1, 1.95, 20)`);
//!   its total cost approaches that of the best fixed ω in hindsight.
//! - [`ChebCb`]: contextual bandit; each arm's (log) cost is a Chebyshev polynomial in a scalar
//!   context on a declared interval (a diagonal shift, κΔt/h², ...); approaches the
//!   instance-optimal ω. Its default arms ([`chebcb_default_arms`]) are finer near ω = 2.
//! - [`FixedOmega`] and [`InstanceOptimal`] (ω* from the Jacobi spectral radius, estimated by
//!   Lanczos): the baselines.
//!
//! Every tuner is seeded, reproducible, and serializes with serde (also as the tagged
//! [`TunerState`]), so a long simulation can stop and resume with what it learned.
//! [`sequences`] generates the benchmark sequences and [`runner`] runs tuners over them.

pub mod baselines;
pub mod chebcb;
pub mod runner;
pub mod sequences;
pub mod spectral;
pub mod tsallis_inf;

pub use baselines::{FixedOmega, InstanceOptimal, OmegaFormula};
pub use chebcb::{ChebCb, ChebCbOptions, ContextScale, OmegaScale};
pub use runner::{
    build_tuners, run_sequence, solve_with_omega, OmegaSolver, SequenceOptions, SequenceOutcome,
    SequenceRun, SequenceTuner, TunerChoice,
};
pub use sequences::{
    HeatConfig, HeatSequence, Instance, InstanceSource, ShiftDistribution, ShiftScaling,
    ShiftedLaplacianConfig, ShiftedLaplacianSequence,
};
pub use spectral::{
    jacobi_spectral_radius, optimal_sor_omega, optimal_ssor_omega, JacobiSpectrum, LanczosOptions,
};
pub use tsallis_inf::{TsallisInf, TsallisLoss};

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use serde::{Deserialize, Serialize};

/// What a tuner may look at before choosing ω for the next solve.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    /// A scalar describing the instance (diagonal shift, κ·Δt/h², ...); contextual tuners
    /// need it, the others ignore it.
    pub value: Option<f64>,
    /// The system matrix; only [`InstanceOptimal`] reads it (to estimate ω* per instance).
    pub matrix: Option<&'a SparseMatrix>,
}

impl<'a> Context<'a> {
    /// No information about the instance.
    pub fn none() -> Self {
        Self::default()
    }

    /// A scalar context.
    pub fn scalar(value: f64) -> Self {
        Self {
            value: Some(value),
            matrix: None,
        }
    }

    /// Adds the system matrix.
    pub fn with_matrix(mut self, matrix: &'a SparseMatrix) -> Self {
        self.matrix = Some(matrix);
        self
    }
}

/// An online ω tuner: call [`choose`](Tuner::choose) before each solve and
/// [`observe`](Tuner::observe) with its cost (the iteration count) after it, alternately.
pub trait Tuner {
    /// The name used in reports (`tsallis-inf`, `chebcb`, `instance-optimal`,
    /// `fixed omega=1.00`).
    fn name(&self) -> String;

    /// The ω to use for the next solve. Errors on a context the tuner cannot use (a contextual
    /// tuner without a value, or a value outside its declared interval), or when the previous
    /// choice has not been observed yet.
    fn choose(&mut self, context: &Context<'_>) -> Result<f64>;

    /// Reports the cost of the solve that used the last chosen ω: usually its iteration count
    /// (any finite, non-negative number works, e.g. seconds). Errors on a non-finite or
    /// negative cost, or when nothing was chosen.
    fn observe(&mut self, cost: f64) -> Result<()>;
}

/// Any tuner, tagged by kind: the serialized state of a simulation's tuner
/// (`{"kind": "tsallis-inf", ...}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)]
pub enum TunerState {
    /// A [`TsallisInf`] bandit.
    TsallisInf(TsallisInf),
    /// A [`ChebCb`] contextual bandit.
    Chebcb(ChebCb),
    /// A [`FixedOmega`] baseline.
    Fixed(FixedOmega),
    /// An [`InstanceOptimal`] baseline.
    InstanceOptimal(InstanceOptimal),
}

impl TunerState {
    /// Serializes to JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| SparseError::InvalidParameter(format!("cannot serialize tuner: {e}")))
    }

    /// Reads a state written by [`to_json`](Self::to_json) and checks it is consistent.
    pub fn from_json(s: &str) -> Result<Self> {
        let state: Self = serde_json::from_str(s)
            .map_err(|e| SparseError::InvalidParameter(format!("invalid tuner state: {e}")))?;
        state.validate()?;
        Ok(state)
    }

    /// Checks internal consistency (array lengths, finite values, ω ranges).
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::TsallisInf(t) => t.validate(),
            Self::Chebcb(t) => t.validate(),
            Self::Fixed(t) => check_arm(t.omega()),
            Self::InstanceOptimal(_) => Ok(()),
        }
    }

    fn inner(&mut self) -> &mut dyn Tuner {
        match self {
            Self::TsallisInf(t) => t,
            Self::Chebcb(t) => t,
            Self::Fixed(t) => t,
            Self::InstanceOptimal(t) => t,
        }
    }
}

impl Tuner for TunerState {
    fn name(&self) -> String {
        match self {
            Self::TsallisInf(t) => t.name(),
            Self::Chebcb(t) => t.name(),
            Self::Fixed(t) => t.name(),
            Self::InstanceOptimal(t) => t.name(),
        }
    }

    fn choose(&mut self, context: &Context<'_>) -> Result<f64> {
        self.inner().choose(context)
    }

    fn observe(&mut self, cost: f64) -> Result<()> {
        self.inner().observe(cost)
    }
}

/// The default arm grid of the paper: `linspace(1, 1.95, 20)`.
pub fn default_arms() -> Vec<f64> {
    linspace(1.0, 1.95, 20)
}

/// An ω grid from 1 whose step is `max_step`, or `relative`·(2 − ω) where that is smaller,
/// up to `top` (included when it falls on the grid; in (1, 2)): evenly spaced in ω far from 2
/// and evenly spaced in ln(2 − ω) near 2. Near the optimum SOR's iteration count scales like
/// 1/(2 − ω), so the second part bounds the *relative* excess cost of the nearest arm above
/// ω* by about `relative` wherever ω* lies. Values are rounded to 4 decimals.
pub fn gap_graded_arms(max_step: f64, relative: f64, top: f64) -> Vec<f64> {
    let mut arms = vec![1.0];
    if !(max_step > 0.0 && relative > 0.0 && top > 1.0 && top < 2.0) {
        return arms;
    }
    let mut w: f64 = 1.0;
    loop {
        w += max_step.min(relative * (2.0 - w));
        let r = (w * 1e4).round() / 1e4;
        if r > top + 1e-9 {
            break;
        }
        arms.push(r);
    }
    arms
}

/// ChebCB's default arms: [`gap_graded_arms`]`(0.05, 0.15, 1.98)`, 31 values: the
/// `linspace(1, 1.95, 20)` steps of 0.05 up to ω = 1.70, then steps of 15 % of 2 − ω
/// (1.745, 1.7833, ..., 1.9038, 1.9183, 1.9305, 1.9409, 1.9498, ..., 1.9777). Where ω* lies between 1.90 and 1.95 (a 32×32 grid)
/// the nearest arm costs at most ~15 % more than ω*, instead of up to ~2× on `linspace`.
pub fn chebcb_default_arms() -> Vec<f64> {
    gap_graded_arms(0.05, 0.15, 1.98)
}

/// `n` evenly spaced values from `lo` to `hi` inclusive (`[lo]` for `n = 1`).
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lo],
        _ => (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// Checks one relaxation factor: finite and in (0, 2).
pub(crate) fn check_arm(omega: f64) -> Result<()> {
    crate::solvers::sor::check_omega(omega)
}

/// Checks an arm grid: non-empty, every ω in (0, 2).
pub(crate) fn check_arms(arms: &[f64]) -> Result<()> {
    if arms.is_empty() {
        return Err(SparseError::InvalidParameter(
            "the omega grid (arms) is empty; give at least one omega in (0, 2)".into(),
        ));
    }
    for &w in arms {
        check_arm(w)?;
    }
    Ok(())
}

/// Checks an observed cost: finite and non-negative.
pub(crate) fn check_cost(cost: f64) -> Result<()> {
    if cost.is_finite() && cost >= 0.0 {
        Ok(())
    } else {
        Err(SparseError::NonFinite(format!(
            "observed cost must be finite and non-negative (an iteration count), got {cost}"
        )))
    }
}

/// The error for `observe` without a pending `choose`.
pub(crate) fn nothing_chosen(name: &str) -> SparseError {
    SparseError::InvalidParameter(format!(
        "{name}: observe() called with no pending choice; call choose() before each solve"
    ))
}

/// The error for `choose` twice without `observe`.
pub(crate) fn unobserved(name: &str) -> SparseError {
    SparseError::InvalidParameter(format!(
        "{name}: choose() called again before the previous choice was observed; call observe() \
         with its cost first"
    ))
}

/// Draws an index from a probability vector (sums to 1 up to rounding) with one uniform draw.
pub(crate) fn sample_index(probs: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    // Rounding left u ≥ Σp: take the last arm with positive probability.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}
