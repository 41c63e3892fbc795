//! The run config of a PINN (`nabla train configs/pinn_*.toml`): serde structs with
//! `deny_unknown_fields`, so a typo is an error naming the key, and [`PinnConfig::validate`]
//! checks ranges and consistency before any work starts.
//!
//! ```toml
//! task = "pinn"
//! device = "cpu"
//!
//! [problem]                      # −Δu = f on the unit square, u = 0 on the boundary
//! pde = "poisson"
//! domain = "box:min=0,0;max=1,1"
//! source = "2*pi^2*sin(pi*x)*sin(pi*y)"
//! exact = "sin(pi*x)*sin(pi*y)"
//! [[problem.boundary]]
//! kind = "dirichlet"
//! value = "0"
//!
//! [model]
//! hidden = [64, 64, 64]
//!
//! [sampling]
//! interior = 2000
//! boundary = 400
//!
//! [train]
//! [[train.optimizer]]
//! kind = "adam"
//! steps = 2000
//! lr = 1e-3
//! [[train.optimizer]]
//! kind = "lbfgs"
//! iterations = 5000
//! ```

use crate::{PinnError, Result};
use nabla_nn::{Activation, Precision, TrainConfig};
use serde::{Deserialize, Serialize};

/// A whole PINN run config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnConfig {
    /// Always `"pinn"` for these configs (other tasks have their own configs).
    #[serde(default = "default_task")]
    pub task: String,
    /// `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The PDE, domain, data and exact solution.
    pub problem: ProblemConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// Collocation points.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// Loss weights and constraints.
    #[serde(default)]
    pub loss: LossConfig,
    /// Seed, optimizer recipe, logging and checkpoint cadence (see `nabla_nn::TrainConfig`).
    pub train: TrainConfig,
    /// How the error against the exact solution is measured.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Multi-domain PINN: how the domain is split into pieces (one network each) and which
    /// interface conditions glue them (absent: one network on the whole domain).
    #[serde(default)]
    pub domains: Option<crate::multidomain::DomainsConfig>,
}

/// Most hidden layers a PINN may have: candle's backward pass recurses through the graph,
/// and tens of thousands of layers overflow the main thread's stack (measured: 60 000 crash,
/// 20 000 run); no PINN in the literature is deeper than a few dozen.
pub const MAX_HIDDEN_LAYERS: usize = 1000;

impl PinnConfig {
    /// A rough upper estimate of the peak memory of training and evaluating this config, in
    /// bytes: the network's parameters with their gradients and optimizer state (8 copies),
    /// the Taylor-mode jets of every hidden activation at every collocation point (value,
    /// gradient and second derivative per input direction, kept for the backward pass), and
    /// the evaluation grid or test points. Used to refuse absurd sizes before allocating.
    pub fn memory_estimate_bytes(&self) -> f64 {
        let space =
            nabla_core::geometry::spec::parse_domain(&self.problem.domain).map_or(1, |d| d.dim());
        let inputs = space + usize::from(self.problem.time.is_some());
        let bytes = self.model.precision.bytes() as f64;
        let first = if self.model.fourier_features > 0 {
            2 * self.model.fourier_features
        } else {
            inputs
        };
        let mut widths = vec![first as f64];
        widths.extend(self.model.hidden.iter().map(|&w| w as f64));
        widths.push(1.0);
        let params: f64 = widths.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum();
        // RAR evaluates the residual (with jets) at its candidates and keeps up to max_points.
        let rar = self
            .sampling
            .rar
            .as_ref()
            .map_or(0, |r| r.max_points.saturating_add(r.candidates));
        let points =
            (self.sampling.interior + self.sampling.boundary + self.sampling.initial + rar) as f64;
        let directions = if self.loss.sdgd_dims > 0 {
            self.loss.sdgd_dims.min(inputs)
        } else {
            inputs
        };
        let jet = 1.0 + 2.0 * directions as f64;
        let hidden: f64 = self.model.hidden.iter().map(|&w| w as f64).sum();
        let activations = 3.0 * points * hidden * jet * bytes;
        // The grid (1-D, 2-D) or the test points (higher): both counted, so an absurd value
        // of the one not used is refused too rather than silently ignored.
        let eval_points =
            (self.eval.grid as f64).powi(inputs.min(2) as i32) + self.eval.test_points as f64;
        let evaluation = eval_points * (8.0 * inputs as f64 + 40.0);
        8.0 * params * bytes + activations + evaluation
    }
}

fn default_task() -> String {
    "pinn".into()
}
fn default_device() -> String {
    "cpu".into()
}

/// The equations nabla's PINNs solve (u scalar, x ∈ Ω ⊂ ℝᵈ, t ∈ [t₀, t₁]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdeKind {
    /// −Δu = f.
    Poisson,
    /// Δu + k²u = f (key `k`).
    Helmholtz,
    /// u_t = αΔu + f (key `alpha`, interval `time`).
    Heat,
    /// u_t + u Σᵢ ∂u/∂xᵢ = νΔu + f (key `nu`, interval `time`); the classic 1-D viscous Burgers
    /// equation when d = 1.
    Burgers,
    /// u_t + β Σᵢ ∂u/∂xᵢ = f (key `velocity` = β, interval `time`): linear advection at
    /// speed β along every axis (METALIC's advection family in 1-D).
    Advection,
}

impl PdeKind {
    /// Whether the equation has a time variable.
    pub fn is_time_dependent(self) -> bool {
        matches!(self, PdeKind::Heat | PdeKind::Burgers | PdeKind::Advection)
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            PdeKind::Poisson => "poisson",
            PdeKind::Helmholtz => "helmholtz",
            PdeKind::Heat => "heat",
            PdeKind::Burgers => "burgers",
            PdeKind::Advection => "advection",
        }
    }
}

/// Built-in problems whose data cannot be written as a short expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// The SDGD paper's high-dimensional Poisson problem on the unit ball B^d: exact
    /// u = (1 − ‖x‖²) Σᵢ cᵢ sin(xᵢ + cos xᵢ₊₁ + xᵢ₊₁ cos xᵢ), cᵢ ~ N(0,1) from `builtin_seed`;
    /// sets `source`, `exact` and u = 0 on the sphere.
    TwoBody,
    /// The reference solution of the 1-D viscous Burgers problem with u(x,0) = −sin πx on
    /// [−1, 1], u(±1, t) = 0, by the Cole–Hopf transform and quadrature; sets `exact`.
    BurgersColeHopf,
}

/// The problem: equation, domain, data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemConfig {
    /// The equation.
    pub pde: PdeKind,
    /// The spatial domain, in nabla's domain spec syntax (`box:…`, `ball:…`, `star:…`,
    /// `polygon:…`, CSG; see `nabla_core::geometry::spec`).
    pub domain: String,
    /// `[t0, t1]` for heat and Burgers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<[f64; 2]>,
    /// Helmholtz wave number k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<f64>,
    /// Heat diffusivity α.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Burgers viscosity ν.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nu: Option<f64>,
    /// Advection speed β (any sign, finite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<f64>,
    /// Source f, an expression of the coordinates (`x y z` or `x1…xd`, and `t`). Default 0.
    #[serde(default = "zero")]
    pub source: String,
    /// Initial value u(x, t0) for time-dependent problems, an expression of x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    /// Boundary conditions, applied in order (a point takes the first whose `where` holds).
    #[serde(default)]
    pub boundary: Vec<BoundaryConfig>,
    /// The exact solution, an expression (for the error and the plots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// A built-in problem or reference solution (instead of `source`/`exact` expressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    /// Seed of the built-in problem's random coefficients.
    #[serde(default)]
    pub builtin_seed: u64,
}

fn zero() -> String {
    "0".into()
}

/// Kinds of boundary condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryKind {
    /// u = value.
    Dirichlet,
    /// ∂u/∂n = value (outward normal).
    Neumann,
}

/// One boundary condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundaryConfig {
    /// Dirichlet or Neumann.
    pub kind: BoundaryKind,
    /// The prescribed value (an expression of the coordinates and t). Default 0.
    #[serde(default = "zero")]
    pub value: String,
    /// Where on the boundary it applies: points where this expression is > 0 (default:
    /// everywhere not claimed by an earlier condition).
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The network: an MLP from the space(–time) coordinates to u.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden layer widths (default [64, 64, 64]).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// tanh (default), sin, gelu or silu.
    #[serde(default)]
    pub activation: Activation,
    /// f32 (default) or f64.
    #[serde(default)]
    pub precision: Precision,
    /// Fourier-feature input layer with this many frequencies (0 = none).
    #[serde(default)]
    pub fourier_features: usize,
    /// Standard deviation of the Fourier frequencies (default 1).
    #[serde(default = "one_f")]
    pub fourier_sigma: f64,
    /// Seed of the initial weights (default: `train.seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_hidden() -> Vec<usize> {
    vec![64, 64, 64]
}
fn one_f() -> f64 {
    1.0
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            hidden: default_hidden(),
            activation: Activation::Tanh,
            precision: Precision::F32,
            fourier_features: 0,
            fourier_sigma: 1.0,
            seed: None,
        }
    }
}

/// How collocation points are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingMethod {
    /// Independent uniform points (seeded).
    #[default]
    Random,
    /// The Halton low-discrepancy sequence for space coordinates (time stays random).
    Halton,
}

/// Collocation points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Interior (space–time) points (default 2000).
    #[serde(default = "default_interior")]
    pub interior: usize,
    /// Boundary points (default 400; unused when every boundary condition is hard).
    #[serde(default = "default_boundary")]
    pub boundary: usize,
    /// Initial-slice points for time-dependent problems (default 400).
    #[serde(default = "default_boundary")]
    pub initial: usize,
    /// Random (default) or Halton.
    #[serde(default)]
    pub method: SamplingMethod,
    /// Draw fresh points every this many Adam steps (0 = fixed points, the default).
    #[serde(default)]
    pub resample_every: usize,
    /// Residual-based adaptive refinement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rar: Option<RarConfig>,
}

fn default_interior() -> usize {
    2000
}
fn default_boundary() -> usize {
    400
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            interior: default_interior(),
            boundary: default_boundary(),
            initial: default_boundary(),
            method: SamplingMethod::Random,
            resample_every: 0,
            rar: None,
        }
    }
}

/// Residual-based adaptive refinement (Lu et al., DeepXDE): every `every` Adam steps, draw
/// `candidates` random interior points and add the `add` with the largest |residual| to the
/// interior set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RarConfig {
    /// Steps between refinements.
    pub every: usize,
    /// Candidate points per refinement (default 10 000).
    #[serde(default = "default_candidates")]
    pub candidates: usize,
    /// Points added per refinement (default 100).
    #[serde(default = "default_add")]
    pub add: usize,
    /// Stop adding once the interior set has this many points (default 20 000).
    #[serde(default = "default_max_points")]
    pub max_points: usize,
}

fn default_candidates() -> usize {
    10_000
}
fn default_add() -> usize {
    100
}
fn default_max_points() -> usize {
    20_000
}

/// Loss weights and constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Weight of the boundary-condition terms (default 1).
    #[serde(default = "one_f")]
    pub boundary_weight: f64,
    /// Weight of the initial-condition term (default 1).
    #[serde(default = "one_f")]
    pub initial_weight: f64,
    /// Impose the Dirichlet condition exactly: u = g + φ·N with φ a distance-like function
    /// vanishing on ∂Ω (needs one Dirichlet condition covering the whole boundary).
    #[serde(default)]
    pub hard_dirichlet: bool,
    /// Impose the initial value exactly: u = u₀ + (t − t₀)·N (with `hard_dirichlet` too,
    /// u = u₀ + φ·(t − t₀)·N, so u₀ must satisfy the boundary condition).
    #[serde(default)]
    pub hard_initial: bool,
    /// SDGD: sample this many dimensions of the Laplacian per step (0 = the exact Laplacian).
    #[serde(default)]
    pub sdgd_dims: usize,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            boundary_weight: 1.0,
            initial_weight: 1.0,
            hard_dirichlet: false,
            hard_initial: false,
            sdgd_dims: 0,
        }
    }
}

/// How the error is measured (relative L2 against `problem.exact` or a built-in reference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Points per axis of the uniform evaluation grid (including the ends) when the
    /// space(–time) dimension is 1 or 2 (default 101); grid points outside Ω are skipped.
    #[serde(default = "default_grid")]
    pub grid: usize,
    /// Random test points in Ω (× the time interval) in higher dimensions (default 10 000).
    #[serde(default = "default_test_points")]
    pub test_points: usize,
    /// Seed of the random test points.
    #[serde(default = "default_eval_seed")]
    pub seed: u64,
}

fn default_grid() -> usize {
    101
}
fn default_test_points() -> usize {
    10_000
}
fn default_eval_seed() -> u64 {
    12_345
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            grid: default_grid(),
            test_points: default_test_points(),
            seed: default_eval_seed(),
        }
    }
}

fn positive(key: &str, v: Option<f64>) -> Result<()> {
    match v {
        Some(x) if x.is_finite() && x > 0.0 => Ok(()),
        Some(x) => Err(PinnError::config(key, format!("must be positive, got {x}"))),
        None => Err(PinnError::config(key, "is required for this pde")),
    }
}

fn absent<T>(key: &str, v: &Option<T>, pde: PdeKind) -> Result<()> {
    if v.is_some() {
        return Err(PinnError::config(
            key,
            format!("does not apply to pde = \"{}\"", pde.name()),
        ));
    }
    Ok(())
}

impl PinnConfig {
    /// Checks ranges and consistency (expressions and the domain are checked when the problem
    /// is built, [`crate::Problem::from_config`]). Errors name the key.
    pub fn validate(&self) -> Result<()> {
        if self.task != "pinn" {
            return Err(PinnError::config(
                "task",
                format!("expected \"pinn\", got \"{}\"", self.task),
            ));
        }
        let p = &self.problem;
        match p.pde {
            PdeKind::Helmholtz => positive("problem.k", p.k)?,
            _ => absent("problem.k", &p.k, p.pde)?,
        }
        match p.pde {
            PdeKind::Heat => positive("problem.alpha", p.alpha)?,
            _ => absent("problem.alpha", &p.alpha, p.pde)?,
        }
        match p.pde {
            PdeKind::Burgers => positive("problem.nu", p.nu)?,
            _ => absent("problem.nu", &p.nu, p.pde)?,
        }
        match (p.pde, p.velocity) {
            (PdeKind::Advection, Some(v)) if v.is_finite() => {}
            (PdeKind::Advection, _) => {
                return Err(PinnError::config(
                    "problem.velocity",
                    "advection needs a finite velocity β",
                ))
            }
            _ => absent("problem.velocity", &p.velocity, p.pde)?,
        }
        if p.pde.is_time_dependent() {
            match p.time {
                Some([a, b]) if a.is_finite() && b.is_finite() && b > a => {}
                Some([a, b]) => {
                    return Err(PinnError::config(
                        "problem.time",
                        format!("needs t0 < t1, both finite; got [{a}, {b}]"),
                    ))
                }
                None => {
                    return Err(PinnError::config(
                        "problem.time",
                        format!("[t0, t1] is required for pde = \"{}\"", p.pde.name()),
                    ))
                }
            }
            if p.initial.is_none() {
                return Err(PinnError::config(
                    "problem.initial",
                    format!(
                        "the initial value is required for pde = \"{}\"",
                        p.pde.name()
                    ),
                ));
            }
        } else {
            absent("problem.time", &p.time, p.pde)?;
            absent("problem.initial", &p.initial, p.pde)?;
            if self.loss.hard_initial {
                return Err(PinnError::config(
                    "loss.hard_initial",
                    "there is no initial condition in a steady problem",
                ));
            }
        }
        if p.builtin.is_some() && p.exact.is_some() {
            return Err(PinnError::config(
                "problem.exact",
                "give either `exact` or `builtin`, not both",
            ));
        }
        if p.boundary.is_empty() && p.builtin != Some(Builtin::TwoBody) {
            return Err(PinnError::config(
                "problem.boundary",
                "at least one boundary condition ([[problem.boundary]]) is required",
            ));
        }
        let m = &self.model;
        if m.hidden.is_empty() || m.hidden.contains(&0) {
            return Err(PinnError::config(
                "model.hidden",
                "needs at least one hidden layer, all widths ≥ 1",
            ));
        }
        if m.hidden.len() > MAX_HIDDEN_LAYERS {
            return Err(PinnError::config(
                "model.hidden",
                format!(
                    "{} hidden layers; at most {MAX_HIDDEN_LAYERS} are supported (backpropagation \
                     through deeper networks overflows the stack)",
                    m.hidden.len()
                ),
            ));
        }
        if !(m.fourier_sigma.is_finite() && m.fourier_sigma > 0.0) {
            return Err(PinnError::config("model.fourier_sigma", "must be positive"));
        }
        let s = &self.sampling;
        if s.interior == 0 {
            return Err(PinnError::config("sampling.interior", "must be ≥ 1"));
        }
        let has_boundary = !p.boundary.is_empty() || p.builtin == Some(Builtin::TwoBody);
        let all_hard = self.loss.hard_dirichlet
            && p.boundary.iter().all(|b| b.kind == BoundaryKind::Dirichlet);
        if has_boundary && !all_hard && s.boundary == 0 {
            return Err(PinnError::config(
                "sampling.boundary",
                "is 0 but the boundary conditions are soft loss terms: they would not be \
                 enforced at all (sample boundary points, or set loss.hard_dirichlet)",
            ));
        }
        if p.initial.is_some() && !self.loss.hard_initial && s.initial == 0 {
            return Err(PinnError::config(
                "sampling.initial",
                "is 0 but the initial condition is a soft loss term: it would not be enforced \
                 (sample initial points, or set loss.hard_initial)",
            ));
        }
        if let Some(r) = &s.rar {
            if r.every == 0 || r.candidates == 0 || r.add == 0 || r.add > r.candidates {
                return Err(PinnError::config(
                    "sampling.rar",
                    "needs every ≥ 1, candidates ≥ 1 and 1 ≤ add ≤ candidates",
                ));
            }
        }
        let l = &self.loss;
        for (k, w) in [
            ("loss.boundary_weight", l.boundary_weight),
            ("loss.initial_weight", l.initial_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(PinnError::config(k, format!("must be ≥ 0, got {w}")));
            }
        }
        if self.eval.grid < 2 {
            return Err(PinnError::config("eval.grid", "must be ≥ 2"));
        }
        if self.eval.test_points == 0 {
            return Err(PinnError::config("eval.test_points", "must be ≥ 1"));
        }
        self.train.validate().map_err(|e| match e {
            nabla_nn::NnError::Invalid { what, reason } => {
                PinnError::config(format!("train.{what}"), reason)
            }
            other => PinnError::Nn(other),
        })
    }
}
