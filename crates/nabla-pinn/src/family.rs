//! Parametric PDE families for METALIC sequences (issue 26): each instance is a multi-domain
//! PINN problem drawn from a family, trained with a given interface-condition set (one for the
//! Adam phase, possibly another for the L-BFGS phase), and scored by its relative L2 error.
//!
//! The families follow the METALIC authors' (`data/xpinn_*.py` of `shib0li/METALIC`):
//! - `heat`: u_t = u_xx on x ∈ [−1, 1], t ∈ [0, 1], exact u = a e^{−π²t} cos πx +
//!   b e^{−4π²t} cos 2πx + c e^{4t−4} cosh 2x + d e^{t−1} sinh x, (a, b, c, d) ~ U[−2, 2]⁴;
//!   Dirichlet data and the initial value from u; split in time at t = 0.5.
//! - `advection`: u_t + β u_x = 0 on x ∈ [0, 2π], t ∈ [0, 1], u = sin(x − βt), β ~ U[1, 30];
//!   split at t = 0.5.
//! - `burgers`: u_t + u u_x = ν u_xx on x ∈ [−1, 1], t ∈ [0, 1], u(x, 0) = −sin πx, u(±1) = 0,
//!   ν ~ U[0.001, 0.05] (log-uniform here: the hard small-ν end is otherwise rare; the
//!   authors draw uniformly); reference by Cole–Hopf quadrature; split at x = ±0.1 (three
//!   pieces; the authors give both outer pieces one network).
//! - `poisson`: −Δu = f on [0, 1]², u = 0 on ∂Ω, f = g(x)g(y)/max with
//!   g(x) = erf(s(x − ¼)) − erf(s(x − ¾)) and sharpness s ~ U[1, 50]; reference by a 5-point
//!   finite-difference solve on a 257² grid (multigrid-preconditioned CG to 1e-10), bilinear in
//!   between; split at y = 0.5. (The authors put u = f on the boundary; zero Dirichlet data is
//!   the problem a user would pose.)
//!
//! Budgets are the caller's ([`FamilyBudget`]); the authors train [2, 20, 20, 1] tanh networks
//! per piece with 1000 collocation and 100 boundary points per piece, 1000–2000 Adam steps and
//! up to 10⁴–5·10⁴ L-BFGS iterations.

use crate::config::PinnConfig;
use crate::metalic::conditions_of;
use crate::multidomain::MultiDomainObjective;
use crate::problem::Problem;
use crate::run::PinnModel;
use crate::{PinnError, Result};
use nabla_nn::optim::{AdamConfig, LbfgsConfig, Recipe, Stage};
use nabla_nn::{train, RunOptions};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// A METALIC family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyKind {
    /// −Δu = f with an erf-product source of sharpness s.
    Poisson,
    /// u_t = u_xx with four solution coefficients.
    Heat,
    /// Viscous Burgers with viscosity ν.
    Burgers,
    /// Linear advection with speed β.
    Advection,
}

impl std::str::FromStr for FamilyKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "poisson" => Ok(FamilyKind::Poisson),
            "heat" => Ok(FamilyKind::Heat),
            "burgers" => Ok(FamilyKind::Burgers),
            "advection" => Ok(FamilyKind::Advection),
            other => Err(format!(
                "unknown family '{other}' (expected poisson, heat, burgers or advection)"
            )),
        }
    }
}

/// Training budget and network of every instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyBudget {
    /// Hidden widths per piece.
    pub hidden: Vec<usize>,
    /// Interior collocation points (whole domain).
    pub interior: usize,
    /// Boundary points (whole domain).
    pub boundary: usize,
    /// Initial-slice points (time-dependent families).
    pub initial: usize,
    /// Interface points per cut.
    pub interface_points: usize,
    /// Adam steps and learning rate.
    pub adam_steps: usize,
    /// See `adam_steps`.
    pub adam_lr: f64,
    /// L-BFGS iterations.
    pub lbfgs_iterations: usize,
    /// Seed of points and initial weights (the same for every arm of an instance).
    pub seed: u64,
}

impl Default for FamilyBudget {
    /// [20, 20] per piece, 1000 interior / 200 boundary / 200 initial points, 128 per cut,
    /// 500 Adam steps at 1e-3 then 500 L-BFGS iterations.
    fn default() -> Self {
        FamilyBudget {
            hidden: vec![20, 20],
            interior: 1000,
            boundary: 200,
            initial: 200,
            interface_points: 128,
            adam_steps: 500,
            adam_lr: 1e-3,
            lbfgs_iterations: 500,
            seed: 0,
        }
    }
}

impl FamilyKind {
    /// Names of the instance parameters (the tuner's context), in order.
    pub fn parameter_names(self) -> &'static [&'static str] {
        match self {
            FamilyKind::Poisson => &["s"],
            FamilyKind::Heat => &["a", "b", "c", "d"],
            FamilyKind::Burgers => &["nu"],
            FamilyKind::Advection => &["beta"],
        }
    }

    /// Range of each parameter.
    pub fn ranges(self) -> Vec<(f64, f64)> {
        match self {
            FamilyKind::Poisson => vec![(1.0, 50.0)],
            FamilyKind::Heat => vec![(-2.0, 2.0); 4],
            FamilyKind::Burgers => vec![(0.001, 0.05)],
            FamilyKind::Advection => vec![(1.0, 30.0)],
        }
    }

    /// Draws an instance's parameters.
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> Vec<f64> {
        match self {
            FamilyKind::Burgers => {
                let (lo, hi): (f64, f64) = (0.001f64.ln(), 0.05f64.ln());
                vec![rng.gen_range(lo..hi).exp()]
            }
            _ => self
                .ranges()
                .iter()
                .map(|&(lo, hi)| rng.gen_range(lo..hi))
                .collect(),
        }
    }

    /// The PINN config of an instance (with its `[domains]` split; conditions are set per
    /// phase by [`train_instance`]).
    pub fn config(self, params: &[f64], budget: &FamilyBudget) -> Result<PinnConfig> {
        if params.len() != self.parameter_names().len() {
            return Err(PinnError::config(
                "family",
                format!(
                    "{} parameters given, {:?} expected",
                    params.len(),
                    self.parameter_names()
                ),
            ));
        }
        let problem = match self {
            FamilyKind::Heat => {
                let [a, b, c, d] = [params[0], params[1], params[2], params[3]];
                let u = format!(
                    "({a})*exp(-pi^2*t)*cos(pi*x) + ({b})*exp(-4*pi^2*t)*cos(2*pi*x) + ({c})*exp(4*t-4)*cosh(2*x) + ({d})*exp(t-1)*sinh(x)"
                );
                serde_json::json!({"pde": "heat", "domain": "box:min=-1;max=1", "time": [0.0, 1.0],
                    "alpha": 1.0, "exact": u, "initial": format!(
                        "({a})*cos(pi*x) + ({b})*cos(2*pi*x) + ({c})*exp(-4)*cosh(2*x) + ({d})*exp(-1)*sinh(x)"
                    ),
                    "boundary": [{"kind": "dirichlet", "value": u}]})
            }
            FamilyKind::Advection => {
                let beta = params[0];
                let u = format!("sin(x - ({beta})*t)");
                serde_json::json!({"pde": "advection", "domain": "box:min=0;max=6.283185307179586",
                    "time": [0.0, 1.0], "velocity": beta, "exact": u, "initial": "sin(x)",
                    "boundary": [{"kind": "dirichlet", "value": u}]})
            }
            FamilyKind::Burgers => {
                serde_json::json!({"pde": "burgers", "domain": "box:min=-1;max=1",
                "time": [0.0, 1.0], "nu": params[0], "initial": "-sin(pi*x)",
                "builtin": "burgers-cole-hopf",
                "boundary": [{"kind": "dirichlet", "value": "0"}]})
            }
            FamilyKind::Poisson => {
                serde_json::json!({"pde": "poisson", "domain": "box:min=0,0;max=1,1",
                "source": "0", "boundary": [{"kind": "dirichlet", "value": "0"}]})
            }
        };
        let cuts = match self {
            FamilyKind::Heat | FamilyKind::Advection => serde_json::json!([[], [0.5]]),
            FamilyKind::Burgers => serde_json::json!([[-0.1, 0.1], []]),
            FamilyKind::Poisson => serde_json::json!([[], [0.5]]),
        };
        let value = serde_json::json!({
            "problem": problem,
            "model": {"hidden": budget.hidden, "activation": "tanh", "seed": budget.seed},
            "sampling": {"interior": budget.interior, "boundary": budget.boundary,
                         "initial": budget.initial},
            "loss": {"boundary_weight": 20.0, "initial_weight": 20.0},
            "domains": {"cuts": cuts, "interface": [], "interface_points": budget.interface_points,
                        "interface_weight": 5.0},
            "train": {"seed": budget.seed, "progress": false, "log_every": 1_000_000,
                      "checkpoint_every": 0,
                      "optimizer": [{"kind": "adam", "steps": budget.adam_steps.max(1), "lr": budget.adam_lr},
                                    {"kind": "lbfgs", "iterations": budget.lbfgs_iterations.max(1)}]},
            "eval": {"grid": 101},
        });
        let config: PinnConfig = serde_json::from_value(value)
            .map_err(|e| PinnError::config("family", format!("internal config: {e}")))?;
        config.validate()?;
        Ok(config)
    }
}

/// The outcome of one instance trained with one arm pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceOutcome {
    /// Relative L2 error after the Adam phase.
    pub error_adam: f64,
    /// Relative L2 error at the end.
    pub error: f64,
    /// Training seconds.
    pub seconds: f64,
}

/// Errors that are not finite or above 100 count as 100 (the authors' cap), so one diverged
/// run cannot dominate a median or a GP.
pub fn capped(error: f64) -> f64 {
    if error.is_finite() {
        error.min(100.0)
    } else {
        100.0
    }
}

/// The reward of an error: −log₁₀ of the capped error.
pub fn reward(error: f64) -> f64 {
    -capped(error).max(1e-12).log10()
}

/// Trains one instance: the Adam phase with condition set `arm_adam` (a mask), then
/// `next(error after Adam)` picks the L-BFGS phase's set (return `arm_adam` for a single-stage
/// choice).
pub fn train_instance(
    kind: FamilyKind,
    params: &[f64],
    budget: &FamilyBudget,
    arm_adam: u32,
    next: &mut dyn FnMut(f64) -> Result<u32>,
) -> Result<InstanceOutcome> {
    let t0 = Instant::now();
    let config = kind.config(params, budget)?;
    let model = PinnModel::new(&config)?;
    let problem = match kind {
        FamilyKind::Poisson => Arc::new(poisson_problem(&config, params[0])?),
        _ => model.problem.clone(),
    };
    let split = model
        .split
        .as_ref()
        .ok_or_else(|| PinnError::config("family", "internal: no split"))?;
    let phase = |stage: Stage| -> PinnConfig {
        let mut c = config.clone();
        c.train.optimizer = Recipe {
            stages: vec![stage],
        };
        c
    };
    let adam = phase(Stage::Adam(AdamConfig::new(
        budget.adam_steps.max(1),
        budget.adam_lr,
    )));
    let lbfgs = phase(Stage::Lbfgs(LbfgsConfig::new(
        budget.lbfgs_iterations.max(1),
    )));
    let opts = RunOptions::default();
    let mut obj = MultiDomainObjective::new(
        problem.clone(),
        &adam,
        split,
        Some(&conditions_of(arm_adam)),
    )?;
    train(split, &mut obj, &adam.train, &opts)?;
    let error_adam = capped(obj.rel_l2(split)?.unwrap_or(f64::NAN));
    let arm_lbfgs = next(error_adam)?;
    let mut obj =
        MultiDomainObjective::new(problem, &lbfgs, split, Some(&conditions_of(arm_lbfgs)))?;
    let error = match train(split, &mut obj, &lbfgs.train, &opts).map_err(crate::PinnError::from) {
        Ok(_) => capped(obj.rel_l2(split)?.unwrap_or(f64::NAN)),
        // A diverged L-BFGS phase (NaN guard) scores as the cap, like a diverged run.
        Err(crate::PinnError::Nn(nabla_nn::NnError::NonFiniteLoss { .. })) => 100.0,
        Err(e) => return Err(e),
    };
    Ok(InstanceOutcome {
        error_adam,
        error,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The Poisson instance: the erf-product source and the finite-difference reference as `exact`.
fn poisson_problem(config: &PinnConfig, s: f64) -> Result<Problem> {
    let mut problem = Problem::from_config(config)?;
    let g = move |x: f64| libm::erf(s * (x - 0.25)) - libm::erf(s * (x - 0.75));
    let gmax = g(0.5);
    let scale = 1.0 / (gmax * gmax);
    problem.source = Arc::new(move |p: &[f64]| g(p[0]) * g(p[1]) * scale);
    let reference = crate::reference::poisson_fd_reference(257, &*problem.source)?;
    problem.exact = Some(Arc::new(move |p: &[f64]| reference.value(p[0], p[1])));
    Ok(problem)
}
