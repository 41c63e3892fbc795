//! A PINN problem built from its config: the equation and its coefficients, the domain, and the
//! data (source, boundary and initial values, exact solution) as fields of a space–time point
//! `(x₁, …, x_d[, t])`.

use crate::config::{BoundaryKind, Builtin, PdeKind, PinnConfig};
use crate::reference::{burgers_cole_hopf, TwoBody};
use crate::{PinnError, Result};
use nabla_core::field::{Expr, ScalarField, Variables};
use nabla_core::geometry::{parse_domain, Domain};
use std::sync::Arc;

/// A scalar function of a space–time point, shared across threads.
pub type Field = Arc<dyn ScalarField>;

/// One boundary condition of a built problem.
#[derive(Clone)]
pub struct BoundaryCondition {
    /// Dirichlet (u = value) or Neumann (∂u/∂n = value, outward normal).
    pub kind: BoundaryKind,
    /// The prescribed value.
    pub value: Field,
    /// The value when it does not depend on the point (lets hard constraints skip derivatives).
    pub value_constant: Option<f64>,
    /// Where it applies (points where the field is > 0); `None` = everywhere left.
    pub region: Option<Field>,
}

/// The coefficients of the equation (those that do not apply are 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Coefficients {
    /// Helmholtz wave number k.
    pub k: f64,
    /// Heat diffusivity α.
    pub alpha: f64,
    /// Burgers viscosity ν.
    pub nu: f64,
    /// Advection speed β.
    pub velocity: f64,
}

/// A PINN problem: what the loss and the error measurement need.
#[derive(Clone)]
pub struct Problem {
    /// The equation.
    pub pde: PdeKind,
    /// Its coefficients.
    pub coefficients: Coefficients,
    /// The spatial domain Ω ⊂ ℝᵈ.
    pub domain: Arc<dyn Domain>,
    /// `[t0, t1]` for time-dependent problems.
    pub time: Option<(f64, f64)>,
    /// The source f.
    pub source: Field,
    /// u(x, t0).
    pub initial: Option<Field>,
    /// The initial value when it does not depend on the point.
    pub initial_constant: Option<f64>,
    /// Boundary conditions, first match wins.
    pub boundary: Vec<BoundaryCondition>,
    /// The exact (or reference) solution.
    pub exact: Option<Field>,
}

impl std::fmt::Debug for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Problem")
            .field("pde", &self.pde)
            .field("coefficients", &self.coefficients)
            .field("domain", &self.domain)
            .field("time", &self.time)
            .field("boundary_conditions", &self.boundary.len())
            .field("exact", &self.exact.is_some())
            .finish()
    }
}

/// The coordinate names of a space(–time) point: `x y z` up to 3-D, `x1 … xd` above, then `t`.
pub fn coordinate_names(space_dim: usize, time: bool) -> Vec<String> {
    let mut names: Vec<String> = if space_dim <= 3 {
        ["x", "y", "z"][..space_dim]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        (1..=space_dim).map(|i| format!("x{i}")).collect()
    };
    if time {
        names.push("t".into());
    }
    names
}

impl Problem {
    /// Builds the problem of a config (validated first); errors name the key at fault.
    pub fn from_config(config: &PinnConfig) -> Result<Self> {
        config.validate()?;
        let p = &config.problem;
        let domain = parse_domain(&p.domain).map_err(|source| PinnError::Core {
            key: "problem.domain".into(),
            source,
        })?;
        let d = domain.dim();
        let time = p.time.map(|[a, b]| (a, b));
        let vars = Variables {
            space_dim: d,
            time: time.is_some(),
        };
        let parse = |key: &str, text: &str| -> Result<Expr> {
            Expr::parse_with(text, &vars).map_err(|source| PinnError::Core {
                key: key.into(),
                source,
            })
        };
        let expr = |key: &str, text: &str| -> Result<Field> { Ok(Arc::new(parse(key, text)?)) };
        let constant = |text: &Option<String>| -> Option<f64> {
            text.as_deref()
                .and_then(|t| Expr::parse_with(t, &vars).ok())
                .and_then(|e| e.as_constant())
        };
        let coefficients = Coefficients {
            k: p.k.unwrap_or(0.0),
            alpha: p.alpha.unwrap_or(0.0),
            nu: p.nu.unwrap_or(0.0),
            velocity: p.velocity.unwrap_or(0.0),
        };
        if matches!(p.pde, PdeKind::Burgers | PdeKind::Advection) && config.loss.sdgd_dims > 0 {
            return Err(PinnError::config(
                "loss.sdgd_dims",
                "SDGD samples the Laplacian of Poisson, Helmholtz and heat problems, not Burgers",
            ));
        }
        if config.loss.sdgd_dims > d {
            return Err(PinnError::config(
                "loss.sdgd_dims",
                format!(
                    "{} sampled dimensions but the domain is {d}-D",
                    config.loss.sdgd_dims
                ),
            ));
        }
        let mut source = expr("problem.source", &p.source)?;
        let mut exact = p
            .exact
            .as_deref()
            .map(|t| expr("problem.exact", t))
            .transpose()?;
        let initial = p
            .initial
            .as_deref()
            .map(|t| expr("problem.initial", t))
            .transpose()?;
        let mut boundary = p
            .boundary
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let value = parse(&format!("problem.boundary[{i}].value"), &b.value)?;
                Ok(BoundaryCondition {
                    kind: b.kind,
                    value_constant: value.as_constant(),
                    value: Arc::new(value),
                    region: b
                        .region
                        .as_deref()
                        .map(|t| expr(&format!("problem.boundary[{i}].where"), t))
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match p.builtin {
            None => {}
            Some(Builtin::TwoBody) => {
                let ball_ok = domain
                    .as_any()
                    .downcast_ref::<nabla_core::geometry::Ball>()
                    .is_some_and(|b| b.radius() == 1.0 && b.center().iter().all(|c| *c == 0.0));
                if p.pde != PdeKind::Poisson || !ball_ok || d < 2 {
                    return Err(PinnError::config(
                        "problem.builtin",
                        "two-body is −Δu = f on the unit ball (pde = \"poisson\", domain = \
                         \"ball:dim=D\", D ≥ 2)",
                    ));
                }
                if p.source != "0" || !boundary.is_empty() {
                    return Err(PinnError::config(
                        "problem.builtin",
                        "two-body sets the source and u = 0 on the sphere; remove `source` and \
                         [[problem.boundary]]",
                    ));
                }
                let tb = Arc::new(TwoBody::new(d, p.builtin_seed));
                let tb2 = tb.clone();
                source = Arc::new(move |x: &[f64]| tb.source(x));
                exact = Some(Arc::new(move |x: &[f64]| tb2.value(x)));
                boundary.push(BoundaryCondition {
                    kind: BoundaryKind::Dirichlet,
                    value: Arc::new(|_: &[f64]| 0.0),
                    value_constant: Some(0.0),
                    region: None,
                });
            }
            Some(Builtin::BurgersColeHopf) => {
                let nu = coefficients.nu;
                let ok = p.pde == PdeKind::Burgers
                    && d == 1
                    && domain.bounds().min[0] == -1.0
                    && domain.bounds().max[0] == 1.0;
                if !ok {
                    return Err(PinnError::config(
                        "problem.builtin",
                        "burgers-cole-hopf is the 1-D Burgers problem on [−1, 1] (pde = \
                         \"burgers\", domain = \"box:min=-1;max=1\", initial = \"-sin(pi*x)\")",
                    ));
                }
                exact = Some(Arc::new(move |x: &[f64]| burgers_cole_hopf(x[0], x[1], nu)));
            }
        }
        let problem = Problem {
            pde: p.pde,
            coefficients,
            domain,
            time,
            source,
            initial,
            initial_constant: constant(&p.initial),
            boundary,
            exact,
        };
        problem.check_finite_on_probe()?;
        Ok(problem)
    }

    /// Evaluates every expression of the problem at a fixed probe sample (interior points for
    /// the source and the exact solution, boundary points for boundary values, t0 for the
    /// initial value) and errors at the first value that is not finite, so that `exact =
    /// "1/0"` or `source = "log(x - 5)"` fails before training instead of after it.
    fn check_finite_on_probe(&self) -> Result<()> {
        let probe = nabla_core::points::ProbeSample::new(&*self.domain);
        let d = probe.dim.max(1);
        let (t0, t1) = self.time.unwrap_or((0.0, 0.0));
        // The probe's points as network inputs: with time, at five times across [t0, t1] in
        // turn (`at`), or all at t0 (for the initial value).
        let inputs = |points: &[f64], at: Option<f64>| -> Vec<f64> {
            let mut out = Vec::with_capacity(points.len() / d * (d + 1));
            for (k, x) in points.chunks(d).enumerate() {
                out.extend_from_slice(x);
                if self.time.is_some() {
                    out.push(at.unwrap_or(t0 + (t1 - t0) * (k % 5) as f64 / 4.0));
                }
            }
            out
        };
        let dim = self.input_dim();
        let check = |key: &str, field: &Field, points: &[f64]| -> Result<()> {
            match nabla_core::points::first_non_finite(points, dim, |q| field.eval(q)) {
                None => Ok(()),
                Some(bad) => Err(PinnError::config(
                    key,
                    format!("{bad}; every expression must be finite on the domain"),
                )),
            }
        };
        let interior = inputs(&probe.interior, None);
        check("problem.source", &self.source, &interior)?;
        if let Some(e) = &self.exact {
            check("problem.exact", e, &interior)?;
        }
        if let Some(u0) = &self.initial {
            check("problem.initial", u0, &inputs(&probe.interior, Some(t0)))?;
        }
        let boundary = inputs(&probe.boundary, None);
        for (i, b) in self.boundary.iter().enumerate() {
            check(&format!("problem.boundary[{i}].value"), &b.value, &boundary)?;
        }
        Ok(())
    }

    /// Space dimension d.
    pub fn space_dim(&self) -> usize {
        self.domain.dim()
    }

    /// Network input dimension: d, plus one for time.
    pub fn input_dim(&self) -> usize {
        self.space_dim() + usize::from(self.time.is_some())
    }

    /// The coordinate names (`x,y[,z][,t]` or `x1,…,xd[,t]`), the column names of
    /// `nabla eval` point files.
    pub fn coordinate_names(&self) -> Vec<String> {
        coordinate_names(self.space_dim(), self.time.is_some())
    }

    /// The boundary condition that applies at `p` (first match), if any.
    pub fn condition_at(&self, p: &[f64]) -> Option<usize> {
        self.boundary
            .iter()
            .position(|b| b.region.as_ref().is_none_or(|r| r.eval(p) > 0.0))
    }
}
