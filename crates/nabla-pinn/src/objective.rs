//! The PINN loss: the mean squared PDE residual at interior collocation points (derivatives
//! from Taylor-mode jets, `nabla_nn::Mlp::jet`), plus weighted mean squared boundary and
//! initial-condition misfits, with optional hard constraints ([`crate::hard`]), SDGD
//! (a sampled, rescaled Laplacian), resampling and residual-based adaptive refinement (RAR).

use crate::config::{BoundaryKind, PdeKind, PinnConfig};
use crate::hard::{HardTerms, HardTransform};
use crate::points::{
    boundary_points, grid_points, initial_points, interior_points, outward_normal,
};
use crate::problem::{Field, Problem};
use crate::{PinnError, Result};
use candle_core::{DType, Device, Tensor};
use nabla_nn::optim::Stage;
use nabla_nn::{sample_dims, JetSpec, Mlp, Objective, StepContext};
use rand::Rng;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Φ, g and their derivatives as tensors (`[n,1]` and `[n,D]`).
struct HardTensors {
    phi: Tensor,
    dphi: Option<Tensor>,
    d2phi: Option<Tensor>,
    g: Tensor,
    dg: Option<Tensor>,
    d2g: Option<Tensor>,
}

/// A set of points with one target value each (source, boundary or initial value).
pub(crate) struct PointSet {
    pts: Vec<f64>,
    x: Tensor,
    target: Tensor,
    hard: Option<HardTensors>,
    /// Outward normals `[n, d]` (Neumann sets).
    normals: Option<Tensor>,
}

impl PointSet {
    /// Rows `range` of the set as fresh tensors (a rank's share in data-parallel training).
    fn rows(&self, range: std::ops::Range<usize>) -> Result<PointSet> {
        let part =
            |t: &Tensor| -> Result<Tensor> { Ok(t.narrow(0, range.start, range.len())?.copy()?) };
        let opt =
            |t: &Option<Tensor>| -> Result<Option<Tensor>> { t.as_ref().map(part).transpose() };
        let dim = self.x.dim(1)?;
        Ok(PointSet {
            pts: self.pts[range.start * dim..range.end * dim].to_vec(),
            x: part(&self.x)?,
            target: part(&self.target)?,
            hard: match &self.hard {
                None => None,
                Some(h) => Some(HardTensors {
                    phi: part(&h.phi)?,
                    dphi: opt(&h.dphi)?,
                    d2phi: opt(&h.d2phi)?,
                    g: part(&h.g)?,
                    dg: opt(&h.dg)?,
                    d2g: opt(&h.d2g)?,
                }),
            },
            normals: opt(&self.normals)?,
        })
    }

    fn len(&self) -> Result<usize> {
        Ok(self.x.dim(0)?)
    }
}

/// A point set or this rank's rows of it.
enum Share<'s> {
    Whole(&'s PointSet),
    Part(PointSet),
}

impl std::ops::Deref for Share<'_> {
    type Target = PointSet;
    fn deref(&self) -> &PointSet {
        match self {
            Share::Whole(s) => s,
            Share::Part(s) => s,
        }
    }
}

/// u and the derivatives a loss term asked for, after the hard-constraint transform.
struct Derivs {
    u: Tensor,
    first: Vec<usize>,
    grad: Option<Tensor>,
    /// Σᵢ ∂ᵢ²u over the Laplacian's dimensions, unscaled, `[n, 1]`.
    d2: Option<Tensor>,
    scale: f64,
}

impl Derivs {
    fn d1(&self, dim: usize) -> Result<Tensor> {
        let pos = self
            .first
            .iter()
            .position(|&i| i == dim)
            .ok_or_else(|| PinnError::config("jet", "internal: derivative not requested"))?;
        let g = self
            .grad
            .as_ref()
            .ok_or_else(|| PinnError::config("jet", "internal: no gradient"))?;
        Ok(g.narrow(1, pos, 1)?)
    }

    fn lap(&self) -> Result<Tensor> {
        let d2 = self
            .d2
            .as_ref()
            .ok_or_else(|| PinnError::config("jet", "internal: no second derivatives"))?;
        Ok((d2.sum_keepdim(1)? * self.scale)?)
    }
}

/// The PINN objective for `nabla_nn::train` (see the module docs). Logs `rel_l2` (when an exact
/// solution is known) and the loss terms as metrics.
pub struct PinnObjective {
    problem: Arc<Problem>,
    config: PinnConfig,
    device: Device,
    dtype: DType,
    hard: Option<HardTransform>,
    interior: PointSet,
    /// Points added by RAR (kept across resampling).
    refined: Vec<f64>,
    boundary: Vec<(usize, PointSet)>,
    initial: Option<PointSet>,
    eval_pts: Vec<f64>,
    eval_exact: Option<Vec<f64>>,
    last_terms: Vec<(&'static str, Tensor)>,
    /// Keep only collocation points where this holds (one piece of a multi-domain PINN).
    region: Option<Region>,
    /// Data-parallel training: this rank's index and the rank count. Every rank draws the same
    /// point sets; each evaluates its block of every set and divides sums by the whole set's
    /// size, so the ranks' losses add up to the loss of one rank with all the points.
    shard: Option<(usize, usize)>,
}

/// A predicate on points (flat coordinates of one point): the piece of the domain an
/// objective samples.
pub type Region = Arc<dyn Fn(&[f64]) -> bool + Send + Sync>;

fn to_tensor(v: &[f64], n: usize, cols: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, (n, cols), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}

fn eval_field(f: &Field, pts: &[f64], dim: usize) -> Vec<f64> {
    pts.par_chunks(dim).map(|p| f.eval(p)).collect()
}

impl PinnObjective {
    /// Draws the initial collocation sets (seeded by `train.seed`) and the evaluation points.
    pub fn new(problem: Arc<Problem>, config: &PinnConfig, model: &Mlp) -> Result<Self> {
        let hard = HardTransform::from_config(&problem, &config.loss)?;
        let dim = problem.input_dim();
        let mut obj = PinnObjective {
            problem: problem.clone(),
            config: config.clone(),
            device: model.device().clone(),
            dtype: model.dtype(),
            hard,
            interior: PointSet {
                pts: vec![],
                x: Tensor::zeros((0, dim), model.dtype(), model.device())?,
                target: Tensor::zeros((0, 1), model.dtype(), model.device())?,
                hard: None,
                normals: None,
            },
            refined: Vec::new(),
            boundary: Vec::new(),
            initial: None,
            eval_pts: Vec::new(),
            eval_exact: None,
            last_terms: Vec::new(),
            region: None,
            shard: None,
        };
        obj.sample_all(config.train.seed)?;
        let (pts, _, _) = evaluation_points(&problem, config);
        obj.eval_exact = problem.exact.as_ref().map(|f| eval_field(f, &pts, dim));
        obj.eval_pts = pts;
        Ok(obj)
    }

    /// [`PinnObjective::new`] restricted to `region`: every collocation set (interior,
    /// boundary, initial, RAR candidates, resamples) keeps only its points inside the region.
    /// Evaluation points stay those of the whole domain.
    pub fn new_in_region(
        problem: Arc<Problem>,
        config: &PinnConfig,
        model: &Mlp,
        region: Region,
    ) -> Result<Self> {
        let mut obj = Self::new(problem, config, model)?;
        obj.region = Some(region);
        obj.sample_all(config.train.seed)?;
        Ok(obj)
    }

    fn keep(&self, pts: Vec<f64>) -> Vec<f64> {
        let Some(region) = &self.region else {
            return pts;
        };
        let dim = self.problem.input_dim();
        let mut out = Vec::with_capacity(pts.len());
        for p in pts.chunks(dim) {
            if region(p) {
                out.extend_from_slice(p);
            }
        }
        out
    }

    /// Points with the source as target and derivative data for residuals (interface
    /// points of a multi-domain PINN).
    pub(crate) fn source_set(&self, pts: Vec<f64>) -> Result<PointSet> {
        let f = eval_field(&self.problem.source, &pts, self.problem.input_dim());
        self.point_set(pts, f, None, true)
    }

    /// u `[n, 1]` and, with `gradient`, ∂u/∂xᵢ for every input axis `[n, D]`.
    pub(crate) fn value_and_gradient(
        &self,
        model: &Mlp,
        set: &PointSet,
        gradient: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let all: Vec<usize> = (0..self.problem.input_dim()).collect();
        let first: &[usize] = if gradient { &all } else { &[] };
        let j = self.derivs(model, set, &[], first, 1.0)?;
        let n = j.u.dims()[0];
        let grad = match j.grad {
            Some(g) if g.dims()[0] != n => Some(g.broadcast_as((n, all.len()))?.contiguous()?),
            other => other,
        };
        Ok((j.u, grad))
    }

    /// Σ over `dims` of ∂²u/∂xᵢ² `[n, 1]` (any input axes, time included).
    pub(crate) fn second_sum(&self, model: &Mlp, set: &PointSet, dims: &[usize]) -> Result<Tensor> {
        self.derivs(model, set, dims, &[], 1.0)?.lap()
    }

    /// The PDE residual at a point set with the full Laplacian (no SDGD sampling).
    pub(crate) fn residual_at(&self, model: &Mlp, set: &PointSet) -> Result<Tensor> {
        let all: Vec<usize> = (0..self.problem.space_dim()).collect();
        self.residual(model, set, &all, 1.0)
    }

    /// The evaluation points (flat) and the exact values there, if known.
    pub fn evaluation(&self) -> (&[f64], Option<&[f64]>) {
        (&self.eval_pts, self.eval_exact.as_deref())
    }

    /// Makes this objective rank `rank` of `size` in data-parallel training (see
    /// `RunOptions::comm`): it then evaluates only its block of each point set.
    pub fn set_shard(&mut self, rank: usize, size: usize) {
        self.shard = (size > 1).then_some((rank, size));
    }

    /// This rank's share of a set (the set itself on one rank) and the whole set's size.
    fn share<'s>(&self, set: &'s PointSet) -> Result<(Share<'s>, usize)> {
        let n = set.len()?;
        Ok(match self.shard {
            None => (Share::Whole(set), n),
            Some((rank, size)) => (
                Share::Part(set.rows(nabla_core::comm::block_range(n, rank, size))?),
                n,
            ),
        })
    }

    /// Mean of squares over a whole set from this rank's rows: Σ rᵢ² / n_whole.
    fn mean_sq_of_share(&self, r: &Tensor, whole: usize) -> Result<Tensor> {
        match self.shard {
            None => mean_sq(r),
            Some(_) => Ok((r.sqr()?.sum_all()? / whole.max(1) as f64)?),
        }
    }

    /// Number of interior collocation points in use (grows with RAR).
    pub fn interior_len(&self) -> usize {
        self.interior.pts.len() / self.problem.input_dim()
    }

    fn point_set(
        &self,
        pts: Vec<f64>,
        target: Vec<f64>,
        normals: Option<Vec<f64>>,
        derivs: bool,
    ) -> Result<PointSet> {
        let dim = self.problem.input_dim();
        let n = pts.len() / dim;
        let hard = match &self.hard {
            Some(h) => Some(self.hard_tensors(&h.terms(&pts, derivs), n, derivs)?),
            None => None,
        };
        Ok(PointSet {
            x: to_tensor(&pts, n, dim, self.dtype, &self.device)?,
            target: to_tensor(&target, n, 1, self.dtype, &self.device)?,
            normals: normals
                .map(|v| to_tensor(&v, n, self.problem.space_dim(), self.dtype, &self.device))
                .transpose()?,
            pts,
            hard,
        })
    }

    fn hard_tensors(&self, t: &HardTerms, n: usize, derivs: bool) -> Result<HardTensors> {
        let dim = self.problem.input_dim();
        let tt = |v: &[f64], c| to_tensor(v, n, c, self.dtype, &self.device);
        let opt = |v: &[f64]| -> Result<Option<Tensor>> {
            if derivs {
                Ok(Some(tt(v, dim)?))
            } else {
                Ok(None)
            }
        };
        Ok(HardTensors {
            phi: tt(&t.phi, 1)?,
            g: tt(&t.g, 1)?,
            dphi: opt(&t.dphi)?,
            d2phi: opt(&t.d2phi)?,
            dg: opt(&t.dg)?,
            d2g: opt(&t.d2g)?,
        })
    }

    fn interior_set(&self, mut pts: Vec<f64>) -> Result<PointSet> {
        pts.extend_from_slice(&self.refined);
        let f = eval_field(&self.problem.source, &pts, self.problem.input_dim());
        self.point_set(pts, f, None, true)
    }

    /// Draws every collocation set from `seed`.
    fn sample_all(&mut self, seed: u64) -> Result<()> {
        let s = &self.config.sampling;
        let (method, n_int, n_bd, n_init) = (s.method, s.interior, s.boundary, s.initial);
        let p = self.problem.clone();
        let ipts = self.keep(interior_points(&p, n_int, method, seed)?);
        self.interior = self.interior_set(ipts)?;
        let bpts = if self.needs_boundary_points() && n_bd > 0 {
            boundary_points(&p, n_bd, method, seed ^ 0xB)?
        } else {
            Vec::new()
        };
        self.set_boundary(self.keep(bpts))?;
        let ipts = if self.needs_initial_points() && n_init > 0 {
            initial_points(&p, n_init, method, seed ^ 0x1)?
        } else {
            Vec::new()
        };
        self.set_initial(self.keep(ipts))
    }

    fn needs_boundary_points(&self) -> bool {
        !self.config.loss.hard_dirichlet
    }

    fn needs_initial_points(&self) -> bool {
        self.problem.time.is_some() && !self.config.loss.hard_initial
    }

    fn set_boundary(&mut self, pts: Vec<f64>) -> Result<()> {
        let dim = self.problem.input_dim();
        let d = self.problem.space_dim();
        let nbc = self.problem.boundary.len();
        let mut groups: Vec<Vec<f64>> = vec![Vec::new(); nbc];
        for p in pts.chunks(dim) {
            if let Some(i) = self.problem.condition_at(p) {
                groups[i].extend_from_slice(p);
            }
        }
        let mut sets = Vec::new();
        for (i, g) in groups.into_iter().enumerate() {
            if g.is_empty() {
                continue;
            }
            let bc = &self.problem.boundary[i];
            let target = eval_field(&bc.value, &g, dim);
            let normals = (bc.kind == BoundaryKind::Neumann).then(|| {
                let mut nv = vec![0.0; g.len() / dim * d];
                for (p, o) in g.chunks(dim).zip(nv.chunks_mut(d)) {
                    outward_normal(self.problem.domain.as_ref(), p, o);
                }
                nv
            });
            sets.push((i, self.point_set(g, target, normals, false)?));
        }
        self.boundary = sets;
        Ok(())
    }

    fn set_initial(&mut self, pts: Vec<f64>) -> Result<()> {
        self.initial = match (&self.problem.initial, pts.is_empty()) {
            (Some(u0), false) => {
                let target = eval_field(u0, &pts, self.problem.input_dim());
                Some(self.point_set(pts, target, None, false)?)
            }
            _ => None,
        };
        Ok(())
    }

    /// u (and derivatives) at a point set: second derivatives along `second` (scaled by
    /// `scale` in the Laplacian), first derivatives along `second` then `extra_first`.
    fn derivs(
        &self,
        model: &Mlp,
        set: &PointSet,
        second: &[usize],
        extra_first: &[usize],
        scale: f64,
    ) -> Result<Derivs> {
        let dim = self.problem.input_dim();
        let mut first = second.to_vec();
        for &i in extra_first {
            if !first.contains(&i) {
                first.push(i);
            }
        }
        // Every residual needs only Σ∂ᵢ²u (scaled below, in Derivs::lap), so the jet carries
        // the sum, one row instead of one per dimension.
        let spec = JetSpec {
            dim,
            first: first.clone(),
            second: second.to_vec(),
            laplacian_scale: 1.0,
            sum_second: false,
        }
        .laplacian_only();
        let jet = model.jet(&set.x, &spec)?;
        let n_val = jet.value;
        let n_grad = jet.grad.map(|g| g.squeeze(2)).transpose()?;
        let n_d2 = jet.laplacian;
        let Some(h) = &set.hard else {
            return Ok(Derivs {
                u: n_val,
                first,
                grad: n_grad,
                d2: n_d2,
                scale,
            });
        };
        let u = (&h.g + h.phi.broadcast_mul(&n_val)?)?;
        let select = |t: &Option<Tensor>, dims: &[usize]| -> Result<Tensor> {
            let t = t
                .as_ref()
                .ok_or_else(|| PinnError::config("hard", "internal: derivatives missing"))?;
            let idx: Vec<u32> = dims.iter().map(|&i| i as u32).collect();
            let idx = Tensor::from_vec(idx, dims.len(), &self.device)?;
            Ok(t.index_select(&idx, 1)?)
        };
        let grad = match &n_grad {
            Some(ng) => {
                let dg = select(&h.dg, &first)?;
                let dphi = select(&h.dphi, &first)?;
                Some(((dg + dphi.broadcast_mul(&n_val)?)? + ng.broadcast_mul(&h.phi)?)?)
            }
            None => None,
        };
        let d2 = match (&n_d2, &n_grad) {
            (Some(n2), Some(ng)) => {
                let k = second.len();
                let d2g = select(&h.d2g, second)?;
                let d2phi = select(&h.d2phi, second)?;
                let dphi = select(&h.dphi, second)?;
                let ng_s = ng.narrow(1, 0, k)?;
                // Σᵢ ∂ᵢ²(g + φN) = Σᵢ (∂ᵢ²g + N ∂ᵢ²φ + 2 ∂ᵢφ ∂ᵢN) + φ Σᵢ ∂ᵢ²N.
                let t = ((d2g + d2phi.broadcast_mul(&n_val)?)? + ((dphi * ng_s)? * 2.0)?)?;
                Some((t.sum_keepdim(1)? + n2.broadcast_mul(&h.phi)?)?)
            }
            _ => None,
        };
        Ok(Derivs {
            u,
            first,
            grad,
            d2,
            scale,
        })
    }

    /// The PDE residual at a point set, with the Laplacian over `lap_dims` (scaled by `scale`).
    fn residual(
        &self,
        model: &Mlp,
        set: &PointSet,
        lap_dims: &[usize],
        scale: f64,
    ) -> Result<Tensor> {
        let d = self.problem.space_dim();
        let c = self.problem.coefficients;
        let f = &set.target;
        Ok(match self.problem.pde {
            PdeKind::Poisson => {
                let j = self.derivs(model, set, lap_dims, &[], scale)?;
                (j.lap()?.neg()? - f)?
            }
            PdeKind::Helmholtz => {
                let j = self.derivs(model, set, lap_dims, &[], scale)?;
                ((j.lap()? + (&j.u * (c.k * c.k))?)? - f)?
            }
            PdeKind::Heat => {
                let j = self.derivs(model, set, lap_dims, &[d], scale)?;
                ((j.d1(d)? - (j.lap()? * c.alpha)?)? - f)?
            }
            PdeKind::Burgers => {
                let spatial: Vec<usize> = (0..d).collect();
                let j = self.derivs(model, set, lap_dims, &[&spatial[..], &[d]].concat(), scale)?;
                let mut adv = j.d1(0)?;
                for i in 1..d {
                    adv = (adv + j.d1(i)?)?;
                }
                (((j.d1(d)? + (&j.u * adv)?)? - (j.lap()? * c.nu)?)? - f)?
            }
            PdeKind::Advection => {
                let spatial: Vec<usize> = (0..d).collect();
                let j = self.derivs(model, set, &[], &[&spatial[..], &[d]].concat(), scale)?;
                let mut adv = j.d1(0)?;
                for i in 1..d {
                    adv = (adv + j.d1(i)?)?;
                }
                ((j.d1(d)? + (adv * c.velocity)?)? - f)?
            }
        })
    }

    /// The Laplacian dimensions of this step: all space dimensions, or an SDGD sample.
    fn lap_dims<R: Rng + ?Sized>(&self, rng: &mut R) -> (Vec<usize>, f64) {
        let d = self.problem.space_dim();
        let k = self.config.loss.sdgd_dims;
        if k == 0 || k >= d {
            ((0..d).collect(), 1.0)
        } else {
            (sample_dims(d, k, rng), d as f64 / k as f64)
        }
    }

    fn stage_is_adam(&self, stage: usize) -> bool {
        matches!(
            self.config.train.optimizer.stages.get(stage),
            Some(Stage::Adam(_))
        )
    }

    /// RAR: adds the candidates with the largest |residual| to the interior set.
    fn refine(&mut self, model: &Mlp, seed: u64) -> Result<()> {
        let Some(rar) = self.config.sampling.rar.clone() else {
            return Ok(());
        };
        let dim = self.problem.input_dim();
        let room = rar.max_points.saturating_sub(self.interior_len());
        let add = rar.add.min(room);
        if add == 0 {
            return Ok(());
        }
        let cand = self.keep(interior_points(
            &self.problem,
            rar.candidates,
            crate::config::SamplingMethod::Random,
            seed,
        )?);
        let mut scores = Vec::with_capacity(rar.candidates);
        let all: Vec<usize> = (0..self.problem.space_dim()).collect();
        for chunk in cand.chunks(4096 * dim) {
            let f = eval_field(&self.problem.source, chunk, dim);
            let set = self.point_set(chunk.to_vec(), f, None, true)?;
            let r = self.residual(model, &set, &all, 1.0)?.detach();
            let r: Vec<f64> = r.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
            scores.extend(r.into_iter().map(f64::abs));
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        for &i in &order[..add] {
            self.refined
                .extend_from_slice(&cand[i * dim..(i + 1) * dim]);
        }
        let base_len = self.interior.pts.len() - (self.refined.len() - add * dim);
        let base = self.interior.pts[..base_len].to_vec();
        self.interior = self.interior_set(base)?;
        Ok(())
    }

    /// The network's prediction u at the evaluation points.
    pub fn predict(&self, model: &Mlp, pts: &[f64]) -> Result<Vec<f64>> {
        predict(model, self.hard.as_ref(), self.problem.input_dim(), pts)
    }

    /// Relative L2 error at the evaluation points (`None` without an exact solution).
    pub fn rel_l2(&self, model: &Mlp) -> Result<Option<f64>> {
        let Some(exact) = &self.eval_exact else {
            return Ok(None);
        };
        let pred = self.predict(model, &self.eval_pts)?;
        Ok(Some(relative_l2(&pred, exact)))
    }
}

/// ‖pred − exact‖₂ / ‖exact‖₂.
pub fn relative_l2(pred: &[f64], exact: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (p, e) in pred.iter().zip(exact) {
        num += (p - e) * (p - e);
        den += e * e;
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// u = g + Φ·N (or N without constraints) at flat points, in batches.
pub fn predict(
    model: &Mlp,
    hard: Option<&HardTransform>,
    dim: usize,
    pts: &[f64],
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(pts.len() / dim);
    for chunk in pts.chunks(8192 * dim) {
        let n = chunk.len() / dim;
        let x = to_tensor(chunk, n, dim, model.dtype(), model.device())?;
        let y: Vec<f64> = model
            .forward(&x)?
            .detach()
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1()?;
        match hard {
            Some(h) => out.extend(chunk.chunks(dim).zip(&y).map(|(p, &v)| h.apply(p, v))),
            None => out.extend(y),
        }
    }
    Ok(out)
}

/// The points the error is measured at: a uniform grid of `eval.grid` points per axis when the
/// input dimension is ≤ 2 (with its node index and axes, for plots), else `eval.test_points`
/// random points.
pub fn evaluation_points(
    problem: &Problem,
    config: &PinnConfig,
) -> (Vec<f64>, Vec<Option<usize>>, Vec<Vec<f64>>) {
    if problem.input_dim() <= 2 {
        grid_points(problem, config.eval.grid)
    } else {
        let pts = interior_points(
            problem,
            config.eval.test_points,
            crate::config::SamplingMethod::Random,
            config.eval.seed,
        )
        .unwrap_or_default();
        (pts, Vec::new(), Vec::new())
    }
}

fn mean_sq(t: &Tensor) -> Result<Tensor> {
    Ok(t.sqr()?.mean_all()?)
}

impl Objective<Mlp> for PinnObjective {
    fn loss(&mut self, model: &Mlp, ctx: &mut StepContext<'_>) -> nabla_nn::Result<Tensor> {
        let adam = self.stage_is_adam(ctx.stage);
        let every = self.config.sampling.resample_every;
        if adam && ctx.step > 0 && every > 0 && ctx.step.is_multiple_of(every) {
            let seed: u64 = ctx.rng.gen();
            self.sample_all(seed)?;
        }
        if let Some(rar) = self.config.sampling.rar.clone() {
            if adam && ctx.step > 0 && ctx.step.is_multiple_of(rar.every) {
                let seed: u64 = ctx.rng.gen();
                self.refine(model, seed)?;
            }
        }
        let (dims, scale) = self.lap_dims(ctx.rng);
        let (interior, n_interior) = self.share(&self.interior)?;
        let r = self.residual(model, &interior, &dims, scale)?;
        let res = self.mean_sq_of_share(&r, n_interior)?;
        let mut total = res.clone();
        let mut terms = vec![("loss_residual", res.detach())];
        let d = self.problem.space_dim();
        let spatial: Vec<usize> = (0..d).collect();
        let mut bsum: Option<Tensor> = None;
        for (i, whole_set) in &self.boundary {
            let (set, n_set) = self.share(whole_set)?;
            let set = &*set;
            let bc = &self.problem.boundary[*i];
            let mis = match bc.kind {
                BoundaryKind::Dirichlet => {
                    let j = self.derivs(model, set, &[], &[], 1.0)?;
                    (j.u - &set.target)?
                }
                BoundaryKind::Neumann => {
                    let j = self
                        .derivs(model, set, &[], &spatial, 1.0)
                        .map_err(nabla_nn::NnError::from)?;
                    let g = j
                        .grad
                        .as_ref()
                        .ok_or_else(|| nabla_nn::NnError::invalid("jet", "no gradient"))?
                        .narrow(1, 0, d)?;
                    let normals = set
                        .normals
                        .as_ref()
                        .ok_or_else(|| nabla_nn::NnError::invalid("Neumann", "no normals"))?;
                    ((g * normals)?.sum_keepdim(1)? - &set.target)?
                }
            };
            let m = self.mean_sq_of_share(&mis, n_set)?;
            bsum = Some(match bsum {
                Some(b) => (b + m)?,
                None => m,
            });
        }
        if let Some(b) = bsum {
            total = (total + (&b * self.config.loss.boundary_weight)?)?;
            terms.push(("loss_boundary", b.detach()));
        }
        if let Some(whole_set) = &self.initial {
            let (set, n_set) = self.share(whole_set)?;
            let j = self.derivs(model, &set, &[], &[], 1.0)?;
            let m = self.mean_sq_of_share(&(j.u - &set.target)?, n_set)?;
            total = (total + (&m * self.config.loss.initial_weight)?)?;
            terms.push(("loss_initial", m.detach()));
        }
        self.last_terms = terms;
        Ok(total)
    }

    fn metrics(&mut self, model: &Mlp) -> nabla_nn::Result<Vec<(String, f64)>> {
        let mut out = Vec::new();
        if let Some(e) = self.rel_l2(model)? {
            out.push(("rel_l2".to_string(), e));
        }
        for (name, t) in &self.last_terms {
            out.push((
                name.to_string(),
                t.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            ));
        }
        if self.config.sampling.rar.is_some() {
            out.push(("interior_points".to_string(), self.interior_len() as f64));
        }
        Ok(out)
    }

    fn state(&self) -> nabla_nn::Result<Vec<(String, Tensor)>> {
        let f = |v: &[f64]| Tensor::from_slice(v, v.len(), &Device::Cpu);
        let base_len = self.interior.pts.len() - self.refined.len();
        let mut out = vec![
            ("interior".to_string(), f(&self.interior.pts[..base_len])?),
            ("refined".to_string(), f(&self.refined)?),
        ];
        let mut b = Vec::new();
        for (_, s) in &self.boundary {
            b.extend_from_slice(&s.pts);
        }
        out.push(("boundary".to_string(), f(&b)?));
        if let Some(s) = &self.initial {
            out.push(("initial".to_string(), f(&s.pts)?));
        }
        Ok(out)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> nabla_nn::Result<()> {
        let get = |k: &str| -> nabla_nn::Result<Option<Vec<f64>>> {
            state
                .get(k)
                .map(|t| t.to_dtype(DType::F64)?.to_vec1::<f64>())
                .transpose()
                .map_err(Into::into)
        };
        if let Some(r) = get("refined")? {
            self.refined = r;
        }
        if let Some(i) = get("interior")? {
            self.interior = self.interior_set(i)?;
        }
        if let Some(b) = get("boundary")? {
            self.set_boundary(b)?;
        }
        if let Some(i) = get("initial")? {
            self.set_initial(i)?;
        }
        Ok(())
    }
}
