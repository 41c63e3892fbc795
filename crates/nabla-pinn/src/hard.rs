//! Hard constraints: the network output N is transformed to u = g + Φ·N, where Φ vanishes
//! where the condition is imposed and g satisfies it there, so the condition holds exactly and
//! drops out of the loss.
//!
//! - Dirichlet on ∂Ω: Φ = φ(x), a smooth distance-like function, positive inside and zero on ∂Ω:
//!   for a box Π 4(xᵢ − aᵢ)(bᵢ − xᵢ)/(bᵢ − aᵢ)², for a ball (R² − ‖x − c‖²)/R² (exact
//!   derivatives); for other domains the signed distance −sd(x) with derivatives by central
//!   differences (it is not smooth on the medial axis, which collocation points almost surely
//!   miss). g is the Dirichlet value's expression, extended into Ω by itself.
//! - Initial value: Φ = (t − t₀)/(t₁ − t₀), g = u₀(x).
//! - Both: Φ = φ(x)(t − t₀)/(t₁ − t₀), g = u₀(x), which must satisfy the boundary condition
//!   (checked at boundary points when the transform is built).
//!
//! The jet of u follows from the product rule: ∂ᵢu = ∂ᵢg + ∂ᵢΦ·N + Φ·∂ᵢN and
//! ∂ᵢ²u = ∂ᵢ²g + ∂ᵢ²Φ·N + 2∂ᵢΦ·∂ᵢN + Φ·∂ᵢ²N.

use crate::config::{BoundaryKind, LossConfig, SamplingMethod};
use crate::points::boundary_points;
use crate::problem::{Field, Problem};
use crate::{PinnError, Result};
use nabla_core::geometry::{Ball, BoxDomain, Domain};
use rayon::prelude::*;
use std::sync::Arc;

/// The distance-like factor of a Dirichlet hard constraint.
#[derive(Clone, Debug)]
enum SpaceFactor {
    None,
    Box { min: Vec<f64>, max: Vec<f64> },
    Ball { center: Vec<f64>, radius: f64 },
    Distance(Arc<dyn Domain>),
}

/// A hard-constraint transform u = g + Φ·N (see the module docs).
#[derive(Clone)]
pub struct HardTransform {
    space: SpaceFactor,
    time: Option<(f64, f64)>,
    g: Field,
    g_constant: Option<f64>,
    dim: usize,
    space_dim: usize,
}

/// Φ, g and their first and pure second derivatives at a batch of points, each flat
/// row-major (`n` values for Φ and g, `n × D` for the derivatives).
#[derive(Clone, Debug, Default)]
pub struct HardTerms {
    /// Φ.
    pub phi: Vec<f64>,
    /// ∂Φ/∂xᵢ.
    pub dphi: Vec<f64>,
    /// ∂²Φ/∂xᵢ².
    pub d2phi: Vec<f64>,
    /// g.
    pub g: Vec<f64>,
    /// ∂g/∂xᵢ.
    pub dg: Vec<f64>,
    /// ∂²g/∂xᵢ².
    pub d2g: Vec<f64>,
}

impl HardTransform {
    /// The transform the loss config asks for (`None` when neither constraint is hard).
    pub fn from_config(problem: &Problem, loss: &LossConfig) -> Result<Option<Self>> {
        if !loss.hard_dirichlet && !loss.hard_initial {
            return Ok(None);
        }
        let mut space = SpaceFactor::None;
        let mut g: Option<(Field, Option<f64>)> = None;
        if loss.hard_dirichlet {
            let [bc] = problem.boundary.as_slice() else {
                return Err(PinnError::config(
                    "loss.hard_dirichlet",
                    "needs exactly one boundary condition, Dirichlet, on the whole boundary",
                ));
            };
            if bc.kind != BoundaryKind::Dirichlet || bc.region.is_some() {
                return Err(PinnError::config(
                    "loss.hard_dirichlet",
                    "the boundary condition must be Dirichlet on the whole boundary (no `where`)",
                ));
            }
            let dom = problem.domain.as_any();
            space = if let Some(b) = dom.downcast_ref::<BoxDomain>() {
                let bb = b.bounds();
                SpaceFactor::Box {
                    min: bb.min,
                    max: bb.max,
                }
            } else if let Some(b) = dom.downcast_ref::<Ball>() {
                SpaceFactor::Ball {
                    center: b.center().to_vec(),
                    radius: b.radius(),
                }
            } else {
                SpaceFactor::Distance(problem.domain.clone())
            };
            g = Some((bc.value.clone(), bc.value_constant));
        }
        if loss.hard_initial {
            g = problem
                .initial
                .clone()
                .map(|f| (f, problem.initial_constant));
        }
        let (g, g_constant) =
            g.ok_or_else(|| PinnError::config("problem.initial", "is required"))?;
        let t = HardTransform {
            space,
            time: if loss.hard_initial {
                problem.time
            } else {
                None
            },
            g_constant,
            g,
            dim: problem.input_dim(),
            space_dim: problem.space_dim(),
        };
        if loss.hard_dirichlet && loss.hard_initial {
            t.check_initial_matches_boundary(problem)?;
        }
        Ok(Some(t))
    }

    /// With both constraints hard, g = u₀ must meet the boundary value on ∂Ω × [t0, t1].
    fn check_initial_matches_boundary(&self, problem: &Problem) -> Result<()> {
        let pts = boundary_points(problem, 200, SamplingMethod::Random, 7)?;
        let bc = &problem.boundary[0].value;
        let dim = self.dim;
        let worst = pts
            .chunks(dim)
            .map(|p| (self.g.eval(p) - bc.eval(p)).abs())
            .fold(0.0, f64::max);
        if worst > 1e-6 {
            return Err(PinnError::config(
                "loss.hard_initial",
                format!(
                    "with hard_dirichlet too, the initial value must equal the boundary value \
                     on the boundary (they differ by up to {worst:.2e})"
                ),
            ));
        }
        Ok(())
    }

    /// Φ and g (and, when `derivatives`, their first and pure second derivatives) at the flat
    /// points `pts` (`n × D`).
    pub fn terms(&self, pts: &[f64], derivatives: bool) -> HardTerms {
        let dim = self.dim;
        let rows: Vec<(f64, f64, Vec<f64>)> = pts
            .par_chunks(dim)
            .map(|p| {
                let mut buf = if derivatives {
                    vec![0.0; 4 * dim]
                } else {
                    Vec::new()
                };
                let (dp, rest) = buf.split_at_mut(if derivatives { dim } else { 0 });
                let (d2p, rest) = rest.split_at_mut(if derivatives { dim } else { 0 });
                let (dg, d2g) = rest.split_at_mut(if derivatives { dim } else { 0 });
                let phi = self.phi(p, derivatives.then_some((dp, d2p)));
                let g = self.g_at(p, derivatives.then_some((dg, d2g)));
                (phi, g, buf)
            })
            .collect();
        let n = rows.len();
        let mut t = HardTerms {
            phi: Vec::with_capacity(n),
            g: Vec::with_capacity(n),
            ..Default::default()
        };
        for (phi, g, buf) in rows {
            t.phi.push(phi);
            t.g.push(g);
            if derivatives {
                t.dphi.extend_from_slice(&buf[..dim]);
                t.d2phi.extend_from_slice(&buf[dim..2 * dim]);
                t.dg.extend_from_slice(&buf[2 * dim..3 * dim]);
                t.d2g.extend_from_slice(&buf[3 * dim..]);
            }
        }
        t
    }

    /// u = g + Φ·N at one point, from the network output `n`.
    pub fn apply(&self, p: &[f64], n: f64) -> f64 {
        self.g_at(p, None) + self.phi(p, None) * n
    }

    fn phi(&self, p: &[f64], der: Option<(&mut [f64], &mut [f64])>) -> f64 {
        let d_space = self.space_dim;
        let mut d1 = vec![0.0; if der.is_some() { self.dim } else { 0 }];
        let mut d2 = d1.clone();
        let want = der.is_some();
        let s = match &self.space {
            SpaceFactor::None => 1.0,
            SpaceFactor::Box { min, max } => {
                let f: Vec<f64> = (0..d_space)
                    .map(|i| 4.0 * (p[i] - min[i]) * (max[i] - p[i]) / (max[i] - min[i]).powi(2))
                    .collect();
                let prod: f64 = f.iter().product();
                if want {
                    for i in 0..d_space {
                        let w2 = (max[i] - min[i]).powi(2);
                        let fi1 = 4.0 * (max[i] + min[i] - 2.0 * p[i]) / w2;
                        let fi2 = -8.0 / w2;
                        let others: f64 = (0..d_space).filter(|&j| j != i).map(|j| f[j]).product();
                        d1[i] = fi1 * others;
                        d2[i] = fi2 * others;
                    }
                }
                prod
            }
            SpaceFactor::Ball { center, radius } => {
                let r2 = radius * radius;
                let mut q = 0.0;
                for i in 0..d_space {
                    let y = p[i] - center[i];
                    q += y * y;
                    if want {
                        d1[i] = -2.0 * y / r2;
                        d2[i] = -2.0 / r2;
                    }
                }
                (r2 - q) / r2
            }
            SpaceFactor::Distance(dom) => {
                let f = |x: &[f64]| -dom.signed_distance(x);
                let v = f(&p[..d_space]);
                if want {
                    fd(&f, &p[..d_space], &mut d1[..d_space], &mut d2[..d_space], v);
                }
                v
            }
        };
        let (tau, dtau) = match self.time {
            Some((t0, t1)) => ((p[d_space] - t0) / (t1 - t0), 1.0 / (t1 - t0)),
            None => (1.0, 0.0),
        };
        if let Some((o1, o2)) = der {
            for i in 0..d_space {
                o1[i] = d1[i] * tau;
                o2[i] = d2[i] * tau;
            }
            if self.time.is_some() {
                o1[d_space] = s * dtau;
                o2[d_space] = 0.0;
            }
        }
        s * tau
    }

    fn g_at(&self, p: &[f64], der: Option<(&mut [f64], &mut [f64])>) -> f64 {
        if let Some(c) = self.g_constant {
            if let Some((o1, o2)) = der {
                o1.fill(0.0);
                o2.fill(0.0);
            }
            return c;
        }
        let v = self.g.eval(p);
        if let Some((o1, o2)) = der {
            fd(&|x: &[f64]| self.g.eval(x), p, o1, o2, v);
        }
        v
    }
}

/// Central differences: first and pure second derivatives of `f` at `p` (value `v`).
fn fd(f: &dyn Fn(&[f64]) -> f64, p: &[f64], d1: &mut [f64], d2: &mut [f64], v: f64) {
    let mut q = p.to_vec();
    for i in 0..p.len() {
        let h = 1e-4 * p[i].abs().max(1.0);
        q[i] = p[i] + h;
        let fp = f(&q);
        q[i] = p[i] - h;
        let fm = f(&q);
        q[i] = p[i];
        d1[i] = (fp - fm) / (2.0 * h);
        d2[i] = (fp - 2.0 * v + fm) / (h * h);
    }
}
