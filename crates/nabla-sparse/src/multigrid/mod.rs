//! Geometric multigrid for grid Poisson problems ([`GridPoisson`]), used as a PCG
//! preconditioner: [`Multigrid`] applies one symmetric V-cycle per call, so `M⁻¹` is symmetric
//! positive definite and PCG converges in a number of iterations that hardly grows with the
//! grid size.
//!
//! The method:
//! - **Coarsening** is vertex-centred and works for any extent per axis: the coarse points of
//!   an axis with `n` points are the fine points `1, 3, 5, …` (0-based), `n_c = n / 2`; fine
//!   points in between interpolate linearly from their coarse neighbours (a neighbour beyond the
//!   boundary counts as 0). Prolongation `P` is the tensor product of these 1-D
//!   interpolations (bilinear / trilinear), restriction is `Pᵀ` (full weighting up to the
//!   factor 2^d) and the coarse operators are Galerkin products `A_c = Pᵀ A P`, computed row by
//!   row from the ≤ 3 fine points per axis of each column of `P`. So variable coefficients,
//!   obstacles and odd or even extents are all handled by the same formula. For the
//!   constant-coefficient Laplacian every `A_c` is a Kronecker sum of 1-D tridiagonal factors
//!   (`Pᵀ(K ⊗ M)P = PᵀKP ⊗ PᵀMP`), so the hierarchy costs only 1-D products and the coarse
//!   stencils are computed on the fly instead of stored. An axis stops being
//!   coarsened when it would drop below 2 points; the hierarchy stops when a level has at most
//!   [`MultigridOptions::coarse_size`] unknowns (or at [`MultigridOptions::max_levels`]), and
//!   the coarsest level is solved exactly by a banded Cholesky factorization.
//! - **Smoothing**: the fine level (5-point in 2-D, 7-point in 3-D) uses red–black
//!   Gauss–Seidel, colour = parity of `i + j (+ k)`. The Galerkin levels have 9-/27-point
//!   stencils; they use the 2^d colours `(i mod 2, j mod 2, k mod 2)`, for which a colour-wise
//!   sweep is a true Gauss–Seidel sweep. All points of one colour are updated in parallel
//!   (rayon). Pre-smoothing runs the colours in one order, post-smoothing runs them in the
//!   reverse order, so the V-cycle is symmetric. The two half-sweeps of a red–black sweep run
//!   as one wavefront over the grid (one pass over memory), the residual is computed only
//!   where it is nonzero (the colour not swept last) and restricted on the fly, and the fine
//!   level reads the PCG residual and writes the correction in place (no copies).
//! - **Obstacles** (masked problems): the hierarchy lives on the full grid, where solid cells
//!   are decoupled identity rows (scaled by the mean fluid diagonal). The residual is scattered
//!   onto the grid (0 at solid cells) and the correction gathered back, so `M⁻¹` is a principal
//!   submatrix of an SPD matrix: still SPD.
//!
//! All level vectors are padded with a ghost layer of zeros (the Dirichlet boundary) and kept
//! in the struct, so [`Preconditioner::apply`] allocates nothing.
//!
//! ```
//! use nabla_sparse::{GridPoisson, Multigrid, Pcg, RhsKind, SolveOptions, Solver};
//!
//! let problem = GridPoisson::new("100x37".parse().unwrap());
//! let a = problem.matrix();
//! let b = problem.rhs(RhsKind::Random, 1);
//! let mg = Multigrid::new(&problem, &a).unwrap();
//! let mut x = vec![0.0; b.len()];
//! let report = Pcg::new(&a, Box::new(mg))
//!     .solve(&b, &mut x, &SolveOptions { tol: 1e-10, ..Default::default() })
//!     .unwrap();
//! assert_eq!(report.solver, "mg-pcg");
//! assert!(report.converged && report.iterations <= 15);
//! ```

mod coarse;
mod kernels;
mod level;
mod transfer;

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::grid::GridPoisson;
use crate::solvers::Preconditioner;
use coarse::BandCholesky;
use level::{for_each_line, BSrc, Geom, Op, Shared, SweepMode};
use rayon::prelude::*;
use std::time::Instant;
use transfer::{galerkin, prolong_add, rb_scratch_len, restrict, restrict_rb_residual, Coarsening};

/// Settings of the multigrid hierarchy and cycle. The defaults are the fastest setting
/// measured for PCG on 2-D and 3-D Poisson problems (see `examples/mg_timing.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct MultigridOptions {
    /// Gauss–Seidel sweeps ν before and ν after the coarse-grid correction on each level: a
    /// V(ν, ν) cycle. Pre- and post-smoothing use the same count so the cycle is symmetric.
    /// Must be at least 1.
    pub smoothing_sweeps: usize,
    /// A level with at most this many unknowns is not coarsened further and is solved exactly
    /// (banded Cholesky; should the factorization cost `n·bw²` exceed 4·10⁸ flops, the level
    /// is smoothed with 10 symmetric Gauss–Seidel sweeps instead). Must be at least 1.
    pub coarse_size: usize,
    /// Maximum number of levels, the fine grid included. Must be at least 1. If the hierarchy
    /// ends on a level too large to factor, that level is smoothed instead of solved exactly.
    pub max_levels: usize,
}

impl Default for MultigridOptions {
    fn default() -> Self {
        Self {
            smoothing_sweeps: 2,
            coarse_size: 1000,
            max_levels: 25,
        }
    }
}

impl MultigridOptions {
    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("smoothing_sweeps", self.smoothing_sweeps),
            ("coarse_size", self.coarse_size),
            ("max_levels", self.max_levels),
        ] {
            if v == 0 {
                return Err(SparseError::InvalidParameter(format!(
                    "multigrid {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }
}

/// One level of the hierarchy with its work vectors (all padded).
#[derive(Clone, Debug)]
struct Level {
    g: Geom,
    op: Op,
    /// How the next coarser level is obtained from this one.
    coarsen: Coarsening,
    x: Vec<f64>,
    b: Vec<f64>,
    /// Residual (3^d-point levels that are not the coarsest).
    r: Vec<f64>,
    /// Line buffers of the fused residual–restriction (red–black levels but the coarsest).
    scratch: Vec<f64>,
}

impl Level {
    fn new(g: Geom, op: Op) -> Self {
        let len = g.padded_len();
        Self {
            g,
            op,
            coarsen: [false; 3],
            x: vec![0.0; len],
            b: vec![0.0; len],
            r: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// ν sweeps from x = 0, colours in forward order. `ext` is the right-hand side when it is
    /// the caller's vector (fine level, no mask) rather than `self.b`.
    fn presmooth(&mut self, sweeps: usize, ext: Option<&[f64]>) {
        let Self { g, op, x, b, .. } = self;
        let b = ext.map_or(BSrc::Padded(b), BSrc::Grid);
        if op.is_red_black() {
            // From zero: colour 0 needs no neighbours, and colour 1 overwrites every point
            // colour 0 did not write before anything reads it.
            for s in 0..sweeps {
                let first = if s == 0 {
                    SweepMode::FromZero
                } else {
                    SweepMode::InPlace
                };
                op.rb_sweep(g, 0, b, x, [first, SweepMode::InPlace]);
            }
            return;
        }
        // The 2^d-colour sweep reads not-yet-visited colours, so start from zeros.
        x.par_iter_mut()
            .with_min_len(1 << 14)
            .for_each(|v| *v = 0.0);
        for _ in 0..sweeps {
            for c in 0..op.colours(g) {
                op.smooth_colour(g, c, b, x, SweepMode::InPlace);
            }
        }
    }

    /// ν sweeps, colours in reverse order (the adjoint of [`Level::presmooth`]). With `out`
    /// (red–black levels only), the last half-sweep writes the result there, unpadded.
    fn postsmooth(&mut self, sweeps: usize, ext: Option<&[f64]>, mut out: Option<&mut [f64]>) {
        let Self { g, op, x, b, .. } = self;
        let b = ext.map_or(BSrc::Padded(b), BSrc::Grid);
        if op.is_red_black() {
            for s in 0..sweeps {
                let second = match out.as_deref_mut() {
                    Some(z) if s + 1 == sweeps => SweepMode::ToOutput(z),
                    _ => SweepMode::InPlace,
                };
                op.rb_sweep(g, 1, b, x, [SweepMode::InPlace, second]);
            }
            return;
        }
        for _ in 0..sweeps {
            for c in (0..op.colours(g)).rev() {
                op.smooth_colour(g, c, b, x, SweepMode::InPlace);
            }
        }
    }
}

/// How the coarsest level is handled.
#[derive(Clone, Debug)]
enum CoarseSolve {
    /// Exact banded Cholesky solve.
    Direct(BandCholesky),
    /// The level is too large to factor (only when `max_levels` stops the hierarchy early):
    /// this many symmetric Gauss–Seidel sweeps from zero.
    Smooth(usize),
}

/// How vectors over the unknowns map onto the fine grid.
#[derive(Clone, Debug)]
enum FineMap {
    /// Every grid point is an unknown, in grid order.
    Full,
    /// Masked: padded fine index of each unknown, and unknown of each grid point
    /// (`u32::MAX` at solid cells).
    Masked {
        padded_of_unknown: Vec<usize>,
        unknown_of_point: Vec<u32>,
    },
}

/// Geometric multigrid preconditioner for a [`GridPoisson`] problem: each
/// [`Preconditioner::apply`] is one symmetric V(ν, ν)-cycle started from zero, i.e.
/// `z = M⁻¹ r` with `M⁻¹` symmetric positive definite (see the module documentation for the
/// method and its conventions). Name: `mg`, so PCG with it reports `mg-pcg`.
#[derive(Clone, Debug)]
pub struct Multigrid {
    levels: Vec<Level>,
    coarse: CoarseSolve,
    map: FineMap,
    unknowns: usize,
    options: MultigridOptions,
    setup_seconds: f64,
}

/// Largest coarsest-level factorization cost (`n·bw²`) accepted for the exact solve.
const MAX_FACTOR_COST: f64 = 4e8;
/// Symmetric sweeps on a coarsest level too large to factor.
const FALLBACK_COARSE_SWEEPS: usize = 10;

impl Multigrid {
    /// Builds the hierarchy for `problem` with the default [`MultigridOptions`]. `a` must be
    /// `problem.matrix()` (the matrix PCG will solve with); its entries are what the fine level
    /// uses.
    ///
    /// Errors: [`SparseError::NotAGrid`] when `a` is not a grid stencil matrix of `problem`
    /// (wrong size, or an entry coupling points that are not grid neighbours),
    /// [`SparseError::NotSymmetric`] / [`SparseError::NotPositiveDefinite`] when its
    /// neighbour couplings are not symmetric or a diagonal entry is not positive.
    pub fn new(problem: &GridPoisson, a: &SparseMatrix) -> Result<Self> {
        Self::with_options(problem, a, MultigridOptions::default())
    }

    /// Builds the hierarchy of an unmasked constant-coefficient `problem` without an assembled
    /// matrix, for PCG on the matrix-free [`GridPoisson::stencil`]: the fine operator is the
    /// plain Laplacian, so no matrix needs to be assembled or scanned.
    ///
    /// Errors: [`SparseError::InvalidParameter`] when the problem has a mask or a variable
    /// coefficient (use [`Multigrid::new`] with its matrix).
    pub fn matrix_free(problem: &GridPoisson, options: MultigridOptions) -> Result<Self> {
        Self::build(problem, None, options)
    }

    /// Like [`Multigrid::new`], with explicit options (validated first).
    pub fn with_options(
        problem: &GridPoisson,
        a: &SparseMatrix,
        options: MultigridOptions,
    ) -> Result<Self> {
        Self::build(problem, Some(a), options)
    }

    fn build(
        problem: &GridPoisson,
        a: Option<&SparseMatrix>,
        options: MultigridOptions,
    ) -> Result<Self> {
        options.validate()?;
        let t0 = Instant::now();
        let shape = problem.shape();
        let nd = shape.ndim();
        let mut n = [1usize; 3];
        n[..nd].copy_from_slice(shape.dims());
        let g0 = Geom::new(n, nd);
        let (op0, map) = fine_operator(problem, a, &g0)?;

        let mut levels = vec![Level::new(g0, op0)];
        loop {
            let depth = levels.len();
            let Some(last) = levels.last_mut() else { break };
            let g = last.g;
            if depth >= options.max_levels || g.interior_len() <= options.coarse_size {
                break;
            }
            let mut cz = [false; 3];
            for (a, c) in cz.iter_mut().enumerate().take(nd) {
                *c = g.n[a] / 2 >= 2;
            }
            if !cz.iter().any(|&c| c) {
                break;
            }
            let mut nc = g.n;
            for a in 0..3 {
                if cz[a] {
                    nc[a] = g.n[a] / 2;
                }
            }
            let gc = Geom::new(nc, nd);
            last.coarsen = cz;
            let op = galerkin(&last.op, &g, cz, &gc);
            levels.push(Level::new(gc, op));
        }
        let coarsest = levels.len() - 1;
        // Work vectors of the transfer from each level to the next.
        for l in 0..coarsest {
            let gc = levels[l + 1].g;
            let lev = &mut levels[l];
            if lev.op.is_red_black() {
                lev.scratch = vec![0.0; rb_scratch_len(&lev.g, &gc)];
            } else {
                lev.r = vec![0.0; lev.g.padded_len()];
            }
        }
        let gc = levels[coarsest].g;
        let cost = gc.interior_len() as f64 * (BandCholesky::bandwidth(&gc) as f64).powi(2);
        let coarse = if cost <= MAX_FACTOR_COST {
            CoarseSolve::Direct(BandCholesky::new(&levels[coarsest].op, &gc))
        } else {
            CoarseSolve::Smooth(FALLBACK_COARSE_SWEEPS)
        };
        Ok(Self {
            levels,
            coarse,
            map,
            unknowns: problem.unknowns(),
            options,
            setup_seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// Number of levels, the fine grid included.
    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// Interior extents of each level, finest first (`[NX, NY(, NZ)]` like the grid shape).
    pub fn level_shapes(&self) -> Vec<Vec<usize>> {
        self.levels
            .iter()
            .map(|l| l.g.n[..l.g.nd].to_vec())
            .collect()
    }

    /// The options the hierarchy was built with.
    pub fn options(&self) -> &MultigridOptions {
        &self.options
    }

    /// Number of unknowns the preconditioner acts on (`problem.unknowns()`).
    pub fn unknowns(&self) -> usize {
        self.unknowns
    }

    /// The recursive V-cycle on level `l`: `x_l ≈ A_l⁻¹ b_l` from `x_l = 0`. On the fine
    /// level of an unmasked problem, `ext` is the right-hand side (the caller's vector) and the
    /// result goes to `out`; otherwise both live in the level's own vectors.
    fn cycle(&mut self, l: usize, ext: Option<&[f64]>, out: Option<&mut [f64]>) {
        let nu = self.options.smoothing_sweeps;
        if l + 1 == self.levels.len() {
            let lev = &mut self.levels[l];
            match &mut self.coarse {
                CoarseSolve::Direct(ch) => ch.solve(&lev.g, &lev.b, &mut lev.x),
                CoarseSolve::Smooth(k) => {
                    lev.presmooth(*k, None);
                    lev.postsmooth(*k, None, None);
                }
            }
            return;
        }
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&mut fine[l], &mut coarse[0]);
            f.presmooth(nu, ext);
            let b = ext.map_or(BSrc::Padded(&f.b), BSrc::Grid);
            let fused = restrict_rb_residual(
                &f.op,
                &f.g,
                &c.g,
                f.coarsen,
                b,
                &f.x,
                &mut c.b,
                &mut f.scratch,
            );
            if !fused {
                f.op.residual(&f.g, b, &f.x, &mut f.r);
                restrict(&f.g, &c.g, f.coarsen, &f.r, &mut c.b);
            }
        }
        self.cycle(l + 1, None, None);
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&mut fine[l], &coarse[0]);
            prolong_add(&c.g, &f.g, f.coarsen, &c.x, &mut f.x);
            f.postsmooth(nu, ext, out);
        }
    }

    /// Copies `r` onto the padded fine grid (0 at solid cells).
    fn scatter(&mut self, r: &[f64]) {
        let lev = &mut self.levels[0];
        let g = lev.g;
        let n0 = g.n[0];
        let bs = Shared::new(&mut lev.b);
        let map = &self.map;
        for_each_line(g.lines(), n0, |l| {
            let (j, k) = g.line_jk(l);
            // SAFETY: writes the interior of fine line l only.
            let out = unsafe { std::slice::from_raw_parts_mut(bs.ptr().add(g.base(j, k)), n0) };
            match map {
                FineMap::Full => out.copy_from_slice(&r[l * n0..(l + 1) * n0]),
                FineMap::Masked {
                    unknown_of_point, ..
                } => {
                    for (o, &u) in out.iter_mut().zip(&unknown_of_point[l * n0..(l + 1) * n0]) {
                        *o = if u == u32::MAX { 0.0 } else { r[u as usize] };
                    }
                }
            }
        });
    }

    /// Copies the fine-grid correction back onto the unknowns.
    fn gather(&self, z: &mut [f64]) {
        let lev = &self.levels[0];
        let g = lev.g;
        let n0 = g.n[0];
        let x = &lev.x;
        match &self.map {
            FineMap::Full => {
                let zs = Shared::new(z);
                for_each_line(g.lines(), n0, |l| {
                    let (j, k) = g.line_jk(l);
                    let base = g.base(j, k);
                    // SAFETY: writes entries l·n0 .. (l+1)·n0 of z only.
                    let out = unsafe { std::slice::from_raw_parts_mut(zs.ptr().add(l * n0), n0) };
                    out.copy_from_slice(&x[base..base + n0]);
                });
            }
            FineMap::Masked {
                padded_of_unknown, ..
            } => {
                z.par_iter_mut()
                    .with_min_len(1 << 13)
                    .zip(padded_of_unknown.par_iter())
                    .for_each(|(zi, &p)| *zi = x[p]);
            }
        }
    }
}

impl Preconditioner for Multigrid {
    fn name(&self) -> String {
        "mg".into()
    }

    /// One symmetric V-cycle: `z ← M⁻¹ r`. Panics if the lengths differ from
    /// [`Multigrid::unknowns`] (PCG always passes vectors of the matrix size).
    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        assert!(
            r.len() == self.unknowns && z.len() == self.unknowns,
            "multigrid built for {} unknowns applied to vectors of length {} and {}",
            self.unknowns,
            r.len(),
            z.len()
        );
        // Unmasked multilevel: the fine level reads r and writes z directly.
        if matches!(self.map, FineMap::Full) && self.levels.len() > 1 {
            self.cycle(0, Some(r), Some(z));
        } else {
            self.scatter(r);
            self.cycle(0, None, None);
            self.gather(z);
        }
    }

    fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }
}

/// Reads the fine-level stencil out of `a`, checking that it is a (2d+1)-point grid matrix of
/// `problem`; returns the constant operator when it is the plain Laplacian.
fn fine_operator(
    problem: &GridPoisson,
    a: Option<&SparseMatrix>,
    g: &Geom,
) -> Result<(Op, FineMap)> {
    let shape = problem.shape();
    let nd = g.nd;
    let plain = problem.mask().is_none() && problem.is_constant_coefficient();
    let Some(a) = a else {
        if !plain {
            return Err(SparseError::InvalidParameter(
                "matrix-free multigrid needs an unmasked constant-coefficient grid; pass the \
                 assembled matrix"
                    .into(),
            ));
        }
        let diag = 2.0 * nd as f64;
        return Ok((Op::Const { diag, off: -1.0 }, FineMap::Full));
    };
    let npts = shape.len();
    let unknowns = problem.unknowns();
    if a.rows() != unknowns {
        return Err(SparseError::NotAGrid(format!(
            "the matrix has {} rows but the grid {shape} has {unknowns} unknowns",
            a.rows()
        )));
    }
    let u2p = problem.unknown_points();
    let mut p2u: Vec<u32> = Vec::new();
    if let Some(u2p) = u2p {
        if unknowns >= u32::MAX as usize {
            return Err(SparseError::InvalidParameter(format!(
                "multigrid supports masked grids up to {} unknowns",
                u32::MAX - 1
            )));
        }
        p2u = vec![u32::MAX; npts];
        for (u, &p) in u2p.iter().enumerate() {
            p2u[p] = u as u32;
        }
    }
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let gstride = [1isize, g.n[0] as isize, (g.n[0] * g.n[1]) as isize];
    let len = g.padded_len();
    let masked = u2p.is_some();
    let two_d = 2.0 * nd as f64;

    // Per line: (is the plain Laplacian, sum of fluid diagonals, fluid count) or an error.
    type LineInfo = (bool, f64, usize);
    // Scans every row, checking the grid structure; with `store`, writes the diagonal and the
    // lower/upper couplings into padded arrays.
    let scan = |store: Option<(Shared, &[Shared], &[Shared])>| -> Result<Vec<LineInfo>> {
        let per_line = |l: usize| -> std::result::Result<LineInfo, SparseError> {
            let (j, k) = g.line_jk(l);
            let base = g.base(j, k);
            let mut plain = !masked;
            let mut dsum = 0.0;
            let mut count = 0;
            for i in 0..g.n[0] {
                let idx = [i, j, k];
                let p = i + g.n[0] * l;
                let pp = base + i;
                let u = if masked {
                    let u = p2u[p];
                    if u == u32::MAX {
                        continue; // solid: filled in by the caller
                    }
                    u as usize
                } else {
                    p
                };
                let mut d = 0.0;
                let mut nbrs = 0;
                for e in ip[u]..ip[u + 1] {
                    let c = ix[e] as usize;
                    let q = u2p.map_or(c, |m| m[c]);
                    let off = q as isize - p as isize;
                    let v = vx[e];
                    if off == 0 {
                        d += v;
                        continue;
                    }
                    // The axis whose neighbour this is (several axes may share a stride when
                    // an extent is 1; only one of them has the neighbour inside the grid).
                    let axis = (0..nd).find(|&ax| {
                        off.abs() == gstride[ax]
                            && if off < 0 {
                                idx[ax] > 0
                            } else {
                                idx[ax] + 1 < g.n[ax]
                            }
                    });
                    let Some(ax) = axis else {
                        return Err(SparseError::NotAGrid(format!(
                            "matrix entry ({u}, {c}) does not couple neighbouring points of the grid {shape}"
                        )));
                    };
                    nbrs += 1;
                    plain &= v == -1.0;
                    if let Some((_, ws, us)) = store {
                        // SAFETY: each padded point is written by the task of its own line.
                        unsafe {
                            if off < 0 {
                                *ws[ax].ptr().add(pp) += v;
                            } else {
                                *us[ax].ptr().add(pp) += v;
                            }
                        }
                    }
                }
                if !(d > 0.0 && d.is_finite()) {
                    return Err(SparseError::NotPositiveDefinite {
                        detail: format!(
                            "diagonal entry {d:e} in row {}; multigrid needs a positive diagonal",
                            u + 1
                        ),
                    });
                }
                let interior_nbrs: usize = (0..nd)
                    .map(|ax| usize::from(idx[ax] > 0) + usize::from(idx[ax] + 1 < g.n[ax]))
                    .sum();
                plain &= d == two_d && nbrs == interior_nbrs;
                dsum += d;
                count += 1;
                if let Some((ds, _, _)) = store {
                    // SAFETY: as above.
                    unsafe {
                        *ds.ptr().add(pp) = d;
                    }
                }
            }
            Ok((plain, dsum, count))
        };
        (0..g.lines())
            .into_par_iter()
            .with_min_len((4096 / g.n[0]).max(1))
            .map(per_line)
            .collect::<Result<Vec<_>>>()
    };
    // The plain Laplacian needs no coefficient arrays: check it first without storing.
    if !masked && problem.is_constant_coefficient() {
        let infos = scan(None)?;
        if infos.iter().all(|t| t.0) {
            return Ok((
                Op::Const {
                    diag: two_d,
                    off: -1.0,
                },
                FineMap::Full,
            ));
        }
    }
    let mut diag = vec![0.0; len];
    let mut w: Vec<Vec<f64>> = (0..nd).map(|_| vec![0.0; len]).collect();
    // Upper couplings A[p, p+e_a], kept to check symmetry.
    let mut up: Vec<Vec<f64>> = (0..nd).map(|_| vec![0.0; len]).collect();
    let ws: Vec<Shared> = w.iter_mut().map(|v| Shared::new(v)).collect();
    let us: Vec<Shared> = up.iter_mut().map(|v| Shared::new(v)).collect();
    let infos = scan(Some((Shared::new(&mut diag), &ws, &us)))?;
    let (dsum, count) = infos
        .iter()
        .fold((0.0, 0usize), |(s, c), t| (s + t.1, c + t.2));

    // Symmetry of the neighbour couplings: A[p, p+e_a] == A[p+e_a, p].
    for ax in 0..nd {
        let (wa, ua) = (&w[ax], &up[ax]);
        let st = g.st[ax];
        let bad = (0..len - st)
            .into_par_iter()
            .with_min_len(1 << 14)
            .find_any(|&p| {
                let (x, y) = (ua[p], wa[p + st]);
                (x - y).abs() > 1e-12 * x.abs().max(y.abs())
            });
        if let Some(p) = bad {
            return Err(SparseError::NotSymmetric {
                row: p,
                col: p + st,
                upper: ua[p],
                lower: wa[p + st],
                solver: "multigrid (padded grid indices)".into(),
            });
        }
    }
    drop(up);

    let map = match u2p {
        None => FineMap::Full,
        Some(u2p) => FineMap::Masked {
            padded_of_unknown: u2p
                .iter()
                .map(|&p| {
                    let i = p % g.n[0];
                    let j = (p / g.n[0]) % g.n[1];
                    let k = p / (g.n[0] * g.n[1]);
                    g.index([i, j, k])
                })
                .collect(),
            unknown_of_point: p2u,
        },
    };
    if let FineMap::Masked {
        unknown_of_point, ..
    } = &map
    {
        // Solid cells: decoupled identity rows scaled like a typical fluid row.
        let solid = if count > 0 { dsum / count as f64 } else { 1.0 };
        let ds = Shared::new(&mut diag);
        for_each_line(g.lines(), g.n[0], |l| {
            let (j, k) = g.line_jk(l);
            let base = g.base(j, k);
            for i in 0..g.n[0] {
                if unknown_of_point[i + g.n[0] * l] == u32::MAX {
                    // SAFETY: writes points of line l only.
                    unsafe { *ds.ptr().add(base + i) = solid };
                }
            }
        });
    }
    let inv_diag: Vec<f64> = diag
        .par_iter()
        .with_min_len(1 << 14)
        .map(|&d| if d > 0.0 { 1.0 / d } else { 0.0 })
        .collect();
    Ok((Op::Faces { diag, inv_diag, w }, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coarsening(g: &Geom) -> (Coarsening, Geom) {
        let mut cz = [false; 3];
        let mut nc = g.n;
        for a in 0..g.nd {
            cz[a] = g.n[a] / 2 >= 2;
            if cz[a] {
                nc[a] = g.n[a] / 2;
            }
        }
        (cz, Geom::new(nc, g.nd))
    }

    fn interior_index(g: &Geom, r: usize) -> usize {
        g.index([r % g.n[0], (r / g.n[0]) % g.n[1], r / (g.n[0] * g.n[1])])
    }

    /// Dense P (fine interior × coarse interior) from prolongating unit vectors.
    fn dense_p(gf: &Geom, gc: &Geom, cz: Coarsening) -> Vec<Vec<f64>> {
        let (nf, nc) = (gf.interior_len(), gc.interior_len());
        let mut p = vec![vec![0.0; nc]; nf];
        for col in 0..nc {
            let mut xc = vec![0.0; gc.padded_len()];
            xc[interior_index(gc, col)] = 1.0;
            let mut xf = vec![0.0; gf.padded_len()];
            prolong_add(gc, gf, cz, &xc, &mut xf);
            for (row, pr) in p.iter_mut().enumerate() {
                pr[col] = xf[interior_index(gf, row)];
            }
            assert!(xf.iter().sum::<f64>() > 0.0);
        }
        p
    }

    fn dense_op(op: &Op, g: &Geom) -> Vec<Vec<f64>> {
        let n = g.interior_len();
        let mut a = vec![vec![0.0; n]; n];
        let id = |i: [usize; 3]| i[0] + g.n[0] * (i[1] + g.n[1] * i[2]);
        for (r, ar) in a.iter_mut().enumerate() {
            let i = [r % g.n[0], (r / g.n[0]) % g.n[1], r / (g.n[0] * g.n[1])];
            op.visit_row(g, i, |o, v| {
                let c = id([0, 1, 2].map(|ax| (i[ax] as isize + o[ax]) as usize));
                ar[c] += v;
            });
        }
        a
    }

    fn ptap(p: &[Vec<f64>], a: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let (nf, nc) = (p.len(), p[0].len());
        let mut ap = vec![vec![0.0; nc]; nf];
        for r in 0..nf {
            for k in 0..nf {
                if a[r][k] != 0.0 {
                    for c in 0..nc {
                        ap[r][c] += a[r][k] * p[k][c];
                    }
                }
            }
        }
        let mut out = vec![vec![0.0; nc]; nc];
        for r in 0..nf {
            for i in 0..nc {
                if p[r][i] != 0.0 {
                    for j in 0..nc {
                        out[i][j] += p[r][i] * ap[r][j];
                    }
                }
            }
        }
        out
    }

    fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>], what: &str) {
        for (i, (ra, rb)) in a.iter().zip(b).enumerate() {
            for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
                assert!(
                    (x - y).abs() < 1e-12 * (1.0 + y.abs()),
                    "{what}[{i},{j}] = {x} vs {y}"
                );
            }
        }
    }

    /// A variable 5/7-point operator with lower couplings −(1 + hash) and a dominant diagonal.
    fn faces_op(g: &Geom) -> Op {
        let len = g.padded_len();
        let mut w: Vec<Vec<f64>> = (0..g.nd).map(|_| vec![0.0; len]).collect();
        let mut diag = vec![0.0; len];
        for r in 0..g.interior_len() {
            let i = [r % g.n[0], (r / g.n[0]) % g.n[1], r / (g.n[0] * g.n[1])];
            let p = g.index(i);
            for a in 0..g.nd {
                if i[a] > 0 {
                    w[a][p] = -(1.0 + ((p * 7 + a * 3) % 11) as f64);
                }
            }
        }
        for r in 0..g.interior_len() {
            let p = interior_index(g, r);
            diag[p] = 0.5 - (0..g.nd).map(|a| w[a][p] + w[a][p + g.st[a]]).sum::<f64>();
        }
        let inv_diag = diag
            .iter()
            .map(|d| if *d > 0.0 { 1.0 / d } else { 0.0 })
            .collect();
        Op::Faces { diag, inv_diag, w }
    }

    const SHAPES: [([usize; 3], usize); 6] = [
        ([7, 1, 1], 1),
        ([8, 1, 1], 1),
        ([7, 6, 1], 2),
        ([8, 3, 1], 2),
        ([5, 4, 6], 3),
        ([9, 8, 4], 3),
    ];

    #[test]
    fn restriction_is_the_transpose_of_prolongation() {
        for (n, nd) in SHAPES {
            let gf = Geom::new(n, nd);
            let (cz, gc) = coarsening(&gf);
            let p = dense_p(&gf, &gc, cz);
            for (row, pr) in p.iter().enumerate() {
                let mut rf = vec![0.0; gf.padded_len()];
                rf[interior_index(&gf, row)] = 1.0;
                let mut bc = vec![0.0; gc.padded_len()];
                restrict(&gf, &gc, cz, &rf, &mut bc);
                for (col, &pv) in pr.iter().enumerate() {
                    assert_eq!(
                        bc[interior_index(&gc, col)],
                        pv,
                        "{n:?}: R vs Pᵀ at {row},{col}"
                    );
                }
            }
        }
    }

    #[test]
    fn galerkin_matches_dense_triple_product_on_two_levels() {
        for (n, nd) in SHAPES {
            let gf = Geom::new(n, nd);
            let (cz, gc) = coarsening(&gf);
            let (cz2, gc2) = coarsening(&gc);
            let p = dense_p(&gf, &gc, cz);
            let p2 = dense_p(&gc, &gc2, cz2);
            let plain = Op::Const {
                diag: 2.0 * nd as f64,
                off: -1.0,
            };
            for fine in [plain, faces_op(&gf)] {
                let a = dense_op(&fine, &gf);
                let c1 = galerkin(&fine, &gf, cz, &gc);
                let ac = dense_op(&c1, &gc);
                assert_close(&ac, &ptap(&p, &a), "A_c");
                let c2 = galerkin(&c1, &gc, cz2, &gc2);
                assert_close(&dense_op(&c2, &gc2), &ptap(&p2, &ac), "A_cc");
            }
        }
    }

    #[test]
    fn cholesky_residual_and_smoother_agree_with_dense() {
        for (n, nd) in SHAPES {
            let gf = Geom::new(n, nd);
            let (cz, gc) = coarsening(&gf);
            let plain = Op::Const {
                diag: 2.0 * nd as f64,
                off: -1.0,
            };
            let faces = faces_op(&gf);
            let ops = vec![
                (galerkin(&plain, &gf, cz, &gc), gc),
                (galerkin(&faces, &gf, cz, &gc), gc),
                (plain, gf),
                (faces, gf),
            ];
            for (op, g) in ops {
                let a = dense_op(&op, &g);
                let mut b = vec![0.0; g.padded_len()];
                let mut x2 = vec![0.0; g.padded_len()];
                for r in 0..g.interior_len() {
                    b[interior_index(&g, r)] = ((r * 7) % 5) as f64 - 2.0;
                    x2[interior_index(&g, r)] = ((r * 3) % 4) as f64 - 1.5;
                }
                let apply = |x: &[f64]| -> Vec<f64> {
                    let mut y = vec![0.0; g.padded_len()];
                    for (r, ar) in a.iter().enumerate() {
                        y[interior_index(&g, r)] = ar
                            .iter()
                            .enumerate()
                            .map(|(c, v)| v * x[interior_index(&g, c)])
                            .sum();
                    }
                    y
                };
                let mut ch = BandCholesky::new(&op, &g);
                let mut x = vec![0.0; g.padded_len()];
                ch.solve(&g, &b, &mut x);
                let y = apply(&x);
                for p in 0..y.len() {
                    assert!(
                        (y[p] - b[p]).abs() < 1e-10,
                        "cholesky {p}: {} vs {}",
                        y[p],
                        b[p]
                    );
                }
                let mut r = vec![0.0; g.padded_len()];
                op.residual(&g, BSrc::Padded(&b), &x2, &mut r);
                let ax = apply(&x2);
                for p in 0..y.len() {
                    assert!((r[p] - (b[p] - ax[p])).abs() < 1e-10, "residual {p}");
                }
                // Gauss–Seidel converges to the exact solution.
                let mut lev = Level::new(g, op.clone());
                lev.b = b.clone();
                lev.presmooth(1, None);
                for _ in 0..300 {
                    lev.postsmooth(1, None, None);
                }
                for (p, (u, v)) in lev.x.iter().zip(&x).enumerate() {
                    assert!((u - v).abs() < 1e-6, "smooth {p}: {u} vs {v}");
                }
            }
        }
    }

    /// The wavefront sweep (several chunks in parallel) gives exactly the two half-sweeps.
    #[test]
    fn wavefront_sweep_equals_two_half_sweeps() {
        for (n, nd) in [([400, 300, 1], 2), ([64, 64, 40], 3), ([37, 1, 1], 1)] {
            let g = Geom::new(n, nd);
            let plain = Op::Const {
                diag: 2.0 * nd as f64,
                off: -1.0,
            };
            for op in [plain, faces_op(&g)] {
                let len = g.padded_len();
                let mut b = vec![0.0; len];
                let mut x0 = vec![0.0; len];
                for r in 0..g.interior_len() {
                    b[interior_index(&g, r)] = ((r * 7) % 5) as f64 - 2.0;
                    x0[interior_index(&g, r)] = ((r * 3) % 4) as f64 - 1.5;
                }
                let bs = BSrc::Padded(&b);
                for first in [0, 1] {
                    for zero in [false, true] {
                        let (mut x1, mut x2) = (x0.clone(), x0.clone());
                        let (mut z1, mut z2) =
                            (vec![0.0; g.interior_len()], vec![0.0; g.interior_len()]);
                        let m = |z: bool| {
                            if z {
                                SweepMode::FromZero
                            } else {
                                SweepMode::InPlace
                            }
                        };
                        op.smooth_colour(&g, first, bs, &mut x1, m(zero));
                        op.smooth_colour(&g, 1 - first, bs, &mut x1, SweepMode::InPlace);
                        op.rb_sweep(&g, first, bs, &mut x2, [m(zero), SweepMode::InPlace]);
                        assert_eq!(x1, x2, "{n:?} first {first} zero {zero}");
                        // Output variant.
                        let (mut x1, mut x2) = (x0.clone(), x0.clone());
                        op.smooth_colour(&g, first, bs, &mut x1, m(zero));
                        op.smooth_colour(&g, 1 - first, bs, &mut x1, SweepMode::ToOutput(&mut z1));
                        op.rb_sweep(
                            &g,
                            first,
                            bs,
                            &mut x2,
                            [m(zero), SweepMode::ToOutput(&mut z2)],
                        );
                        assert_eq!(z1, z2, "{n:?} output, first {first} zero {zero}");
                        let mut x3 = x0.clone();
                        op.smooth_colour(&g, first, bs, &mut x3, m(zero));
                        op.smooth_colour(&g, 1 - first, bs, &mut x3, SweepMode::InPlace);
                        for r in 0..g.interior_len() {
                            assert_eq!(z1[r], x3[interior_index(&g, r)]);
                        }
                    }
                }
            }
        }
    }
}
