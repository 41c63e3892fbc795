//! Multi-domain PINNs (XPINN-style, METALIC's setting): the space–time domain is cut by
//! axis-aligned hyperplanes into boxes (intersected with Ω, so any geometry — CSG included —
//! can be split), one network per piece, trained jointly: each network carries the PDE
//! residual and the boundary/initial misfits of its own piece, and the pieces are glued by
//! switchable **interface conditions** at points sampled on every cut.
//!
//! Interface conditions ([`InterfaceCondition`]) are those of the METALIC authors' XPINN code
//! (`get_loss_xcgpinn`), written for any cut: at interface points between pieces a and b, with
//! n the cut's normal axis, τ the other input axes and r the PDE residual of a network,
//!
//! | name | term (means over the cut's points) | METALIC bit |
//! |---|---|---|
//! | `solution` | (u_a − u_b)² | 0 `w_i_u` |
//! | `average` | (u_a − ū)² + (u_b − ū)², ū = (u_a + u_b)/2 (gradients through ū, as the code: ½ of `solution` pointwise) | 1 `w_i_uavg` |
//! | `residual` | r_a² + r_b² (each network satisfies the PDE on the interface) | 2 `w_i_res` |
//! | `residual_continuity` | (r_a − r_b)² | 3 `w_i_res_continuity` |
//! | `flux` | (∂ₙu_a − ∂ₙu_b)² | 4 `w_i_flux` |
//! | `normal_second` | (∂ₙ²u_a − ∂ₙ²u_b)² | 5 `w_i_uyy` |
//! | `tangent` | Σ_τ (∂_τu_a − ∂_τu_b)² | 7 `w_i_ux` |
//! | `tangent_second` | (Σ_τ ∂_τ²u_a − Σ_τ ∂_τ²u_b)² | 8 `w_i_uxx` |
//!
//! (The authors' bits 4–8 name fixed axes; on their cuts — y = 0.5 for Poisson, t = 0.5 for
//! the time-split families — y or t is the normal, which is how they map here. Their bit 6,
//! the gradient of the residual, needs third derivatives, which Taylor-mode jets of order two
//! do not carry; it is left out. Their Burgers flux, u²/2 − νu_x, is `flux` on u_x here.)
//! Each selected term is summed over cuts and weighted by `domains.interface_weight` (the
//! authors: 5, with boundary weight 20 and residual weight 1).

use crate::config::PinnConfig;
use crate::objective::PinnObjective;
use crate::problem::Problem;
use crate::{PinnError, Result};
use candle_core::{DType, Tensor};
use nabla_core::geometry::SplitMix64;
use nabla_nn::{Mlp, Model, Objective, ParamStore, StepContext};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One interface condition (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceCondition {
    /// (u_a − u_b)².
    Solution,
    /// (u_a − ū)² + (u_b − ū)², ū = (u_a + u_b)/2.
    Average,
    /// r_a² + r_b².
    Residual,
    /// (r_a − r_b)².
    ResidualContinuity,
    /// (∂ₙu_a − ∂ₙu_b)².
    Flux,
    /// (∂ₙ²u_a − ∂ₙ²u_b)².
    NormalSecond,
    /// Σ_τ (∂_τu_a − ∂_τu_b)².
    Tangent,
    /// (Σ_τ ∂_τ²u_a − Σ_τ ∂_τ²u_b)².
    TangentSecond,
}

impl InterfaceCondition {
    /// Every condition, in a fixed order (the bit order of condition sets).
    pub const ALL: [InterfaceCondition; 8] = [
        InterfaceCondition::Solution,
        InterfaceCondition::Average,
        InterfaceCondition::Residual,
        InterfaceCondition::ResidualContinuity,
        InterfaceCondition::Flux,
        InterfaceCondition::NormalSecond,
        InterfaceCondition::Tangent,
        InterfaceCondition::TangentSecond,
    ];

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            InterfaceCondition::Solution => "solution",
            InterfaceCondition::Average => "average",
            InterfaceCondition::Residual => "residual",
            InterfaceCondition::ResidualContinuity => "residual_continuity",
            InterfaceCondition::Flux => "flux",
            InterfaceCondition::NormalSecond => "normal_second",
            InterfaceCondition::Tangent => "tangent",
            InterfaceCondition::TangentSecond => "tangent_second",
        }
    }
}

/// `[domains]`: how the domain is split and glued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainsConfig {
    /// Equal pieces per input axis of the bounding box (space axes, then time), e.g. `[2, 1]`
    /// for two pieces along x; or give `cuts`.
    #[serde(default)]
    pub split: Option<Vec<usize>>,
    /// Cut positions per input axis (each list strictly increasing, inside the bounding box),
    /// e.g. `[[0.3], []]`; or give `split`.
    #[serde(default)]
    pub cuts: Option<Vec<Vec<f64>>>,
    /// The interface conditions (default solution + flux; names in the module docs).
    #[serde(default = "default_conditions")]
    pub interface: Vec<InterfaceCondition>,
    /// Points per cut (default 128).
    #[serde(default = "default_interface_points")]
    pub interface_points: usize,
    /// Weight of the interface terms (default 1).
    #[serde(default = "default_interface_weight")]
    pub interface_weight: f64,
}

fn default_conditions() -> Vec<InterfaceCondition> {
    vec![InterfaceCondition::Solution, InterfaceCondition::Flux]
}
fn default_interface_points() -> usize {
    128
}
fn default_interface_weight() -> f64 {
    1.0
}

/// The axis-aligned decomposition of the space–time bounding box.
#[derive(Clone, Debug, PartialEq)]
pub struct Decomposition {
    /// Cut positions per input axis, increasing.
    pub cuts: Vec<Vec<f64>>,
    /// Lower corner of the bounding box (space, then time).
    pub lower: Vec<f64>,
    /// Upper corner.
    pub upper: Vec<f64>,
}

impl Decomposition {
    /// The decomposition of `[domains]` for `problem`; errors name the key.
    pub fn new(config: &DomainsConfig, problem: &Problem) -> Result<Self> {
        let dim = problem.input_dim();
        let b = problem.domain.bounds();
        let mut lower = b.min.clone();
        let mut upper = b.max.clone();
        if let Some((t0, t1)) = problem.time {
            lower.push(t0);
            upper.push(t1);
        }
        let cuts = match (&config.split, &config.cuts) {
            (Some(_), Some(_)) => {
                return Err(PinnError::config(
                    "domains",
                    "give either split or cuts, not both",
                ))
            }
            (None, None) => {
                return Err(PinnError::config(
                    "domains",
                    "needs split (pieces per axis) or cuts (positions per axis)",
                ))
            }
            (Some(split), None) => {
                if split.len() != dim || split.contains(&0) {
                    return Err(PinnError::config(
                        "domains.split",
                        format!("needs {dim} entries ≥ 1 (one per input axis)"),
                    ));
                }
                split
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        (1..k)
                            .map(|j| lower[i] + (upper[i] - lower[i]) * j as f64 / k as f64)
                            .collect()
                    })
                    .collect()
            }
            (None, Some(cuts)) => {
                if cuts.len() != dim {
                    return Err(PinnError::config(
                        "domains.cuts",
                        format!("needs {dim} lists (one per input axis)"),
                    ));
                }
                for (i, c) in cuts.iter().enumerate() {
                    let ok = c
                        .iter()
                        .all(|v| v.is_finite() && *v > lower[i] && *v < upper[i])
                        && c.windows(2).all(|w| w[0] < w[1]);
                    if !ok {
                        return Err(PinnError::config(
                            "domains.cuts",
                            format!(
                                "axis {i}: cuts must increase strictly inside ({}, {})",
                                lower[i], upper[i]
                            ),
                        ));
                    }
                }
                cuts.clone()
            }
        };
        let d = Decomposition { cuts, lower, upper };
        if d.len() < 2 {
            return Err(PinnError::config(
                "domains",
                "the split makes one piece; use a single-domain PINN",
            ));
        }
        Ok(d)
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.cuts.iter().map(|c| c.len() + 1).product()
    }

    /// Whether there are no pieces (never: at least 2).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bin(&self, axis: usize, v: f64) -> usize {
        self.cuts[axis].iter().take_while(|&&c| v > c).count()
    }

    fn flat(&self, bins: &[usize]) -> usize {
        bins.iter()
            .zip(&self.cuts)
            .fold(0, |acc, (&b, c)| acc * (c.len() + 1) + b)
    }

    /// The piece of point `p` (a point on a cut belongs to the piece below it).
    pub fn piece(&self, p: &[f64]) -> usize {
        let bins: Vec<usize> = (0..self.cuts.len()).map(|i| self.bin(i, p[i])).collect();
        self.flat(&bins)
    }

    /// Points on every cut (uniform over the cut's face of the bounding box, kept where
    /// `inside`), grouped by the pair of pieces they join: `n` candidate points per cut.
    pub fn interface_points(
        &self,
        n: usize,
        seed: u64,
        inside: &dyn Fn(&[f64]) -> bool,
    ) -> Vec<Interface> {
        let dim = self.cuts.len();
        let mut groups: HashMap<(usize, usize, usize), Vec<f64>> = HashMap::new();
        let mut rng = SplitMix64::new(SplitMix64::mix(seed ^ 0x1F7E_2FAC));
        for (axis, cuts) in self.cuts.iter().enumerate() {
            for &c in cuts {
                for _ in 0..n {
                    let p: Vec<f64> = (0..dim)
                        .map(|i| {
                            if i == axis {
                                c
                            } else {
                                self.lower[i] + (self.upper[i] - self.lower[i]) * rng.next_f64()
                            }
                        })
                        .collect();
                    if !inside(&p) {
                        continue;
                    }
                    let mut bins: Vec<usize> = (0..dim).map(|i| self.bin(i, p[i])).collect();
                    bins[axis] = self.cuts[axis].iter().take_while(|&&v| v < c).count();
                    let a = self.flat(&bins);
                    bins[axis] += 1;
                    let b = self.flat(&bins);
                    groups.entry((a, b, axis)).or_default().extend(p);
                }
            }
        }
        let mut out: Vec<Interface> = groups
            .into_iter()
            .map(|((a, b, axis), points)| Interface { a, b, axis, points })
            .collect();
        out.sort_by_key(|i| (i.axis, i.a, i.b));
        out
    }
}

/// Points on one interface between pieces `a` (below the cut) and `b` (above).
#[derive(Clone, Debug, PartialEq)]
pub struct Interface {
    /// Piece below the cut.
    pub a: usize,
    /// Piece above the cut.
    pub b: usize,
    /// The cut's normal axis.
    pub axis: usize,
    /// Flat points.
    pub points: Vec<f64>,
}

/// One network per piece, with their parameters as one store (`domain{k}.…`).
#[derive(Clone, Debug)]
pub struct SplitNets {
    /// The decomposition.
    pub decomposition: Decomposition,
    /// The networks, one per piece in [`Decomposition::piece`] order.
    pub nets: Vec<Mlp>,
    params: ParamStore,
}

impl SplitNets {
    /// Builds the store over `nets` (one per piece) with `metadata` on it.
    pub fn new(
        decomposition: Decomposition,
        nets: Vec<Mlp>,
        metadata: &[(&str, String)],
    ) -> Result<Self> {
        let mut params = ParamStore::new();
        for (k, net) in nets.iter().enumerate() {
            params.extend_prefixed(&format!("domain{k}"), net.params())?;
        }
        for (key, value) in metadata {
            params.set_metadata(*key, value.clone());
        }
        Ok(SplitNets {
            decomposition,
            nets,
            params,
        })
    }

    /// Indices of the points (flat, `dim` per point) of each piece.
    pub fn route(&self, pts: &[f64], dim: usize) -> Vec<Vec<usize>> {
        let mut groups = vec![Vec::new(); self.nets.len()];
        for (i, p) in pts.chunks(dim).enumerate() {
            groups[self.decomposition.piece(p)].push(i);
        }
        groups
    }
}

impl SplitNets {
    /// Evaluates per piece: for each piece with points, `f(piece, its points flat)` returns
    /// `width` values per point, scattered back into the points' order.
    pub fn per_piece(
        &self,
        pts: &[f64],
        dim: usize,
        width: usize,
        mut f: impl FnMut(usize, &[f64]) -> Result<Vec<f64>>,
    ) -> Result<Vec<f64>> {
        let mut out = vec![0.0; pts.len() / dim * width];
        for (k, idx) in self.route(pts, dim).into_iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let sub: Vec<f64> = idx
                .iter()
                .flat_map(|&i| pts[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            let v = f(k, &sub)?;
            for (j, &i) in idx.iter().enumerate() {
                out[i * width..(i + 1) * width].copy_from_slice(&v[j * width..(j + 1) * width]);
            }
        }
        Ok(out)
    }
}

impl Model for SplitNets {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

/// The multi-domain objective: every piece's own PINN loss (its residual, boundary and
/// initial terms on its part of the collocation sets) plus the interface terms.
pub struct MultiDomainObjective {
    parts: Vec<PinnObjective>,
    interfaces: Vec<Interface>,
    /// The interface points as tensors with the source (fixed for the run: built once).
    interface_sets: Vec<crate::objective::PointSet>,
    conditions: Vec<InterfaceCondition>,
    weight: f64,
    problem: Arc<Problem>,
    eval_pts: Vec<f64>,
    eval_exact: Option<Vec<f64>>,
    last_interface: Option<Tensor>,
    /// Whether this rank adds the interface terms (all but rank 0 leave them out in
    /// data-parallel training: they are added once).
    interface_here: bool,
}

impl MultiDomainObjective {
    /// Makes this objective rank `rank` of `size` in data-parallel training: every piece
    /// evaluates its block of each of its point sets (as a single-domain PINN does), and rank 0
    /// alone adds the interface terms (a few hundred points), so the ranks' losses add up to the
    /// one-process loss.
    pub fn set_shard(&mut self, rank: usize, size: usize) {
        for part in &mut self.parts {
            part.set_shard(rank, size);
        }
        self.interface_here = rank == 0;
    }

    /// The objective of `config` (with `[domains]`) for these networks, conditions overriding
    /// `domains.interface` when given (what the METALIC tuner does per instance).
    pub fn new(
        problem: Arc<Problem>,
        config: &PinnConfig,
        nets: &SplitNets,
        conditions: Option<&[InterfaceCondition]>,
    ) -> Result<Self> {
        let dc = config
            .domains
            .as_ref()
            .ok_or_else(|| PinnError::config("domains", "missing"))?;
        let mut parts = Vec::with_capacity(nets.nets.len());
        for (k, net) in nets.nets.iter().enumerate() {
            let dec = nets.decomposition.clone();
            let region = Arc::new(move |p: &[f64]| dec.piece(p) == k);
            let part = PinnObjective::new_in_region(problem.clone(), config, net, region)?;
            if part.interior_len() == 0 {
                return Err(PinnError::config(
                    "domains",
                    format!("piece {k} received no interior collocation points; raise sampling.interior or cut elsewhere"),
                ));
            }
            parts.push(part);
        }
        let d = problem.space_dim();
        let inside = |p: &[f64]| problem.domain.contains(&p[..d]);
        let interfaces =
            nets.decomposition
                .interface_points(dc.interface_points, config.train.seed, &inside);
        let interface_sets = interfaces
            .iter()
            .map(|i| parts[i.a].source_set(i.points.clone()))
            .collect::<Result<_>>()?;
        let (eval_pts, eval_exact) = {
            let (pts, exact) = parts[0].evaluation();
            (pts.to_vec(), exact.map(<[f64]>::to_vec))
        };
        Ok(MultiDomainObjective {
            parts,
            interface_sets,
            interfaces,
            conditions: conditions.map_or_else(|| dc.interface.clone(), <[_]>::to_vec),
            weight: dc.interface_weight,
            problem,
            eval_pts,
            eval_exact,
            last_interface: None,
            interface_here: true,
        })
    }

    /// The interfaces with their points.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Interior collocation points over all pieces.
    pub fn interior_len(&self) -> usize {
        self.parts.iter().map(PinnObjective::interior_len).sum()
    }

    /// The evaluation points (flat) and the exact values there, if known.
    pub fn evaluation(&self) -> (&[f64], Option<&[f64]>) {
        (&self.eval_pts, self.eval_exact.as_deref())
    }

    /// The stitched prediction: each point by its piece's network.
    pub fn predict(&self, nets: &SplitNets, pts: &[f64]) -> Result<Vec<f64>> {
        let dim = self.problem.input_dim();
        nets.per_piece(pts, dim, 1, |k, sub| {
            self.parts[k].predict(&nets.nets[k], sub)
        })
    }

    /// The interface loss of the current networks: Σ over interfaces and conditions of the
    /// mean squared mismatch.
    fn interface_loss(&self, nets: &SplitNets) -> Result<Option<Tensor>> {
        let mut total: Option<Tensor> = None;
        for (_, t) in self.condition_terms(nets, &self.conditions)? {
            total = Some(match total {
                Some(s) => (s + t)?,
                None => t,
            });
        }
        Ok(total)
    }

    /// The value of each of `conditions` for the current networks, summed over the
    /// interfaces (a diagnostic: which conditions a solution violates, and by how much).
    pub fn interface_terms(
        &self,
        nets: &SplitNets,
        conditions: &[InterfaceCondition],
    ) -> Result<Vec<(InterfaceCondition, f64)>> {
        self.condition_terms(nets, conditions)?
            .into_iter()
            .map(|(c, t)| Ok((c, t.to_dtype(DType::F64)?.to_scalar::<f64>()?)))
            .collect()
    }

    fn condition_terms(
        &self,
        nets: &SplitNets,
        conditions: &[InterfaceCondition],
    ) -> Result<Vec<(InterfaceCondition, Tensor)>> {
        use InterfaceCondition as C;
        let dim = self.problem.input_dim();
        let has = |c: C| conditions.contains(&c);
        let need_grad = has(C::Flux) || has(C::Tangent);
        let need_res = has(C::Residual) || has(C::ResidualContinuity);
        let mut sums: Vec<(C, Option<Tensor>)> = conditions.iter().map(|&c| (c, None)).collect();
        let msq = |a: &Tensor, b: &Tensor| -> Result<Tensor> { Ok((a - b)?.sqr()?.mean_all()?) };
        for (k, iface) in self.interfaces.iter().enumerate() {
            let n = iface.axis;
            let tangential: Vec<usize> = (0..dim).filter(|&i| i != n).collect();
            let pa = &self.parts[iface.a];
            let pb = &self.parts[iface.b];
            let set = &self.interface_sets[k];
            let (na, nb) = (&nets.nets[iface.a], &nets.nets[iface.b]);
            let (ua, ga) = pa.value_and_gradient(na, set, need_grad)?;
            let (ub, gb) = pb.value_and_gradient(nb, set, need_grad)?;
            let res = if need_res {
                Some((pa.residual_at(na, set)?, pb.residual_at(nb, set)?))
            } else {
                None
            };
            for (c, slot) in sums.iter_mut() {
                let c = *c;
                let mut add = |term: Tensor| -> Result<()> {
                    *slot = Some(match slot.take() {
                        Some(t) => (t + term)?,
                        None => term,
                    });
                    Ok(())
                };
                match c {
                    C::Solution => add(msq(&ua, &ub)?)?,
                    C::Average => {
                        let avg = ((&ua + &ub)? * 0.5)?;
                        add((msq(&ua, &avg)? + msq(&ub, &avg)?)?)?
                    }
                    C::Residual => {
                        let (ra, rb) = res.as_ref().ok_or_else(internal)?;
                        add((ra.sqr()?.mean_all()? + rb.sqr()?.mean_all()?)?)?
                    }
                    C::ResidualContinuity => {
                        let (ra, rb) = res.as_ref().ok_or_else(internal)?;
                        add(msq(ra, rb)?)?
                    }
                    C::Flux => {
                        let (ga, gb) = grads(&ga, &gb)?;
                        add(msq(&ga.narrow(1, n, 1)?, &gb.narrow(1, n, 1)?)?)?
                    }
                    C::Tangent => {
                        let (ga, gb) = grads(&ga, &gb)?;
                        let mut t: Option<Tensor> = None;
                        for &i in &tangential {
                            let m = msq(&ga.narrow(1, i, 1)?, &gb.narrow(1, i, 1)?)?;
                            t = Some(match t {
                                Some(t) => (t + m)?,
                                None => m,
                            });
                        }
                        if let Some(t) = t {
                            add(t)?
                        }
                    }
                    C::NormalSecond => {
                        let a = pa.second_sum(na, set, &[n])?;
                        let b = pb.second_sum(nb, set, &[n])?;
                        add(msq(&a, &b)?)?
                    }
                    C::TangentSecond => {
                        if !tangential.is_empty() {
                            let a = pa.second_sum(na, set, &tangential)?;
                            let b = pb.second_sum(nb, set, &tangential)?;
                            add(msq(&a, &b)?)?
                        }
                    }
                }
            }
        }
        let dtype = nets.nets[0].dtype();
        let device = nets.nets[0].device().clone();
        sums.into_iter()
            .map(|(c, t)| {
                Ok((
                    c,
                    match t {
                        Some(t) => t,
                        None => Tensor::zeros((), dtype, &device)?,
                    },
                ))
            })
            .collect()
    }

    /// Relative L2 error of the stitched prediction (`None` without an exact solution).
    pub fn rel_l2(&self, nets: &SplitNets) -> Result<Option<f64>> {
        let Some(exact) = &self.eval_exact else {
            return Ok(None);
        };
        let pred = self.predict(nets, &self.eval_pts)?;
        Ok(Some(crate::objective::relative_l2(&pred, exact)))
    }
}

fn internal() -> PinnError {
    PinnError::config("domains", "internal: residuals missing")
}

fn grads<'a>(ga: &'a Option<Tensor>, gb: &'a Option<Tensor>) -> Result<(&'a Tensor, &'a Tensor)> {
    match (ga, gb) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(PinnError::config("jet", "internal: gradients missing")),
    }
}

impl Objective<SplitNets> for MultiDomainObjective {
    fn loss(&mut self, model: &SplitNets, ctx: &mut StepContext<'_>) -> nabla_nn::Result<Tensor> {
        // The pieces' losses are independent graphs: build them in parallel, each with its
        // own stream drawn from the run's (so a step stays a function of the run's seed).
        let seeds: Vec<u64> = (0..self.parts.len()).map(|_| ctx.rng.gen()).collect();
        let (step, stage) = (ctx.step, ctx.stage);
        let losses: Vec<Tensor> = self
            .parts
            .par_iter_mut()
            .zip(model.nets.par_iter())
            .zip(seeds.par_iter())
            .map(|((part, net), &seed)| {
                let mut rng = Pcg64::seed_from_u64(seed);
                let mut c = StepContext {
                    step,
                    stage,
                    rng: &mut rng,
                };
                part.loss(net, &mut c)
            })
            .collect::<nabla_nn::Result<_>>()?;
        let mut total: Option<Tensor> = None;
        for l in losses {
            total = Some(match total {
                Some(t) => (t + l)?,
                None => l,
            });
        }
        let mut total = total.ok_or_else(|| nabla_nn::NnError::invalid("domains", "no pieces"))?;
        self.last_interface = None;
        if !self.interface_here {
            return Ok(total);
        }
        if let Some(i) = self.interface_loss(model)? {
            total = (total + (&i * self.weight)?)?;
            self.last_interface = Some(i.detach());
        }
        Ok(total)
    }

    fn metrics(&mut self, model: &SplitNets) -> nabla_nn::Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        if let Some(e) = self.rel_l2(model)? {
            out.push(("rel_l2".to_string(), e));
        }
        if let Some(i) = &self.last_interface {
            out.push((
                "loss_interface".to_string(),
                i.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            ));
        }
        Ok(out)
    }

    fn state(&self) -> nabla_nn::Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (k, p) in self.parts.iter().enumerate() {
            for (name, t) in p.state()? {
                out.push((format!("domain{k}.{name}"), t));
            }
        }
        Ok(out)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> nabla_nn::Result<()> {
        for (k, p) in self.parts.iter_mut().enumerate() {
            let prefix = format!("domain{k}.");
            let mine: HashMap<String, Tensor> = state
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(&prefix).map(|s| (s.to_string(), t.clone())))
                .collect();
            p.load_state(&mine)?;
        }
        Ok(())
    }
}
