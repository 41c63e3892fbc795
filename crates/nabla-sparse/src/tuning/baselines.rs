//! The baselines every tuner is compared with: a fixed ω, and the instance-optimal ω* computed
//! per system from its Jacobi spectral radius (work a real code would not want to pay: a few
//! dozen matrix–vector products per solve, not counted as iterations).

use super::spectral::{
    jacobi_spectral_radius, optimal_sor_omega, optimal_ssor_omega, LanczosOptions,
};
use super::{check_arm, check_cost, nothing_chosen, unobserved, Context, Tuner};
use crate::error::{Result, SparseError};
use serde::{Deserialize, Serialize};

/// Always the same ω.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FixedOmega {
    omega: f64,
    pending: bool,
}

impl FixedOmega {
    /// A fixed ω in (0, 2).
    pub fn new(omega: f64) -> Result<Self> {
        check_arm(omega)?;
        Ok(Self {
            omega,
            pending: false,
        })
    }

    /// The ω.
    pub fn omega(&self) -> f64 {
        self.omega
    }
}

impl Tuner for FixedOmega {
    /// `fixed omega=1.00` (ω to two decimals).
    fn name(&self) -> String {
        format!("fixed omega={:.2}", self.omega)
    }

    fn choose(&mut self, _context: &Context<'_>) -> Result<f64> {
        if self.pending {
            return Err(unobserved(&self.name()));
        }
        self.pending = true;
        Ok(self.omega)
    }

    fn observe(&mut self, cost: f64) -> Result<()> {
        check_cost(cost)?;
        if !self.pending {
            return Err(nothing_chosen(&self.name()));
        }
        self.pending = false;
        Ok(())
    }
}

/// Which closed-form optimum [`InstanceOptimal`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OmegaFormula {
    /// Young's SOR optimum ω* = 2 / (1 + √(1 − β²)).
    Sor,
    /// The SSOR(-PCG) value ω = 2 / (1 + √(2(1 − β))).
    Ssor,
}

/// ω* per instance from the Jacobi spectral radius β of the instance's matrix, estimated by
/// Lanczos (needs [`Context::matrix`]). The result is clamped to `[omega_min, omega_max]`
/// (default [1, 1.99]) so a rounding error never gives ω ≥ 2.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceOptimal {
    formula: OmegaFormula,
    omega_min: f64,
    omega_max: f64,
    lanczos_steps: usize,
    lanczos_tol: f64,
    pending: bool,
    /// β of the last instance, for reports.
    last_beta: Option<f64>,
}

impl InstanceOptimal {
    /// The baseline with the given formula (SOR for SOR, SSOR for SSOR-PCG).
    pub fn new(formula: OmegaFormula) -> Self {
        let d = LanczosOptions::default();
        Self {
            formula,
            omega_min: 1.0,
            omega_max: 1.99,
            lanczos_steps: d.max_steps,
            lanczos_tol: d.tol,
            pending: false,
            last_beta: None,
        }
    }

    /// The Jacobi spectral radius estimated for the last instance.
    pub fn last_beta(&self) -> Option<f64> {
        self.last_beta
    }

    /// ω* for one matrix (no bookkeeping).
    pub fn omega_for(&self, a: &crate::SparseMatrix) -> Result<(f64, f64)> {
        let spec = jacobi_spectral_radius(
            a,
            &LanczosOptions {
                max_steps: self.lanczos_steps,
                tol: self.lanczos_tol,
                ..LanczosOptions::default()
            },
        )?;
        let w = match self.formula {
            OmegaFormula::Sor => optimal_sor_omega(spec.beta)?,
            OmegaFormula::Ssor => optimal_ssor_omega(spec.beta)?,
        };
        Ok((w.clamp(self.omega_min, self.omega_max), spec.beta))
    }
}

impl Tuner for InstanceOptimal {
    fn name(&self) -> String {
        "instance-optimal".into()
    }

    /// Estimates β of `context.matrix` and returns ω*. Errors without a matrix.
    fn choose(&mut self, context: &Context<'_>) -> Result<f64> {
        if self.pending {
            return Err(unobserved("instance-optimal"));
        }
        let a = context.matrix.ok_or_else(|| {
            SparseError::InvalidParameter(
                "instance-optimal needs the instance's matrix in the context \
                 (Context::with_matrix)"
                    .into(),
            )
        })?;
        let (w, beta) = self.omega_for(a)?;
        self.last_beta = Some(beta);
        self.pending = true;
        Ok(w)
    }

    fn observe(&mut self, cost: f64) -> Result<()> {
        check_cost(cost)?;
        if !self.pending {
            return Err(nothing_chosen("instance-optimal"));
        }
        self.pending = false;
        Ok(())
    }
}
