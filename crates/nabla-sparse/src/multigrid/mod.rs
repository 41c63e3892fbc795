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
//! in the struct, so [`Preconditioner::apply`] allocates nothing. In a time loop whose
//! coefficients change, [`Multigrid::refactor`] (through [`Preconditioner::refactor`], so also
//! `Pcg::update`) recomputes the level operators and the coarse factor in that storage, bit
//! for bit what a new set-up computes.
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
pub(crate) mod level;
mod transfer;

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::grid::GridPoisson;
use crate::solvers::Preconditioner;
use coarse::BandCholesky;
use level::{for_each_line, BSrc, Geom, Op, Shared, SweepMode};
use nabla_core::GridShape;
use rayon::prelude::*;
use std::time::Instant;
use transfer::{
    galerkin, galerkin_into, prolong_add, rb_scratch_len, restrict, restrict_rb_residual,
    Coarsening,
};

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
///
/// For a sequence of systems on one grid (a time loop, a changing coefficient),
/// [`Multigrid::refactor`] (or [`crate::Pcg::update`]) takes the new matrix and redoes only
/// the numbers, in the kept storage.
///
/// Memory it keeps ([`Multigrid::memory_bytes`]), for `n` grid points in `d` dimensions
/// (all level vectors carry a ghost layer, so `n` means the padded count, `(NX+2)(NY+2)…`):
/// - fine level: iterate and right-hand side (`2n` values); with a variable coefficient, a
///   mask or a user's matrix also its stencil: diagonal, inverse diagonal and one coupling
///   per axis (`(2 + d)·n`); a few line buffers;
/// - each coarser level, with `2^-d` as many points: iterate, right-hand side and residual,
///   plus for a stored stencil its `3^d` Galerkin coefficients and inverse diagonal, so
///   `(3^d + 4)·n / (2^d − 1)` values over all of them (`13n/3` in 2-D, `31n/7` in 3-D).
///   For the plain Laplacian the coarse operators are 1-D factors (`O(n^(1/d))`), so only
///   `3n / (2^d − 1)`;
/// - the coarsest level's band Cholesky factor (`rows · (bandwidth + 1)` values, rows ≤
///   [`MultigridOptions::coarse_size`]);
/// - for a masked problem, the unknown → grid-point (`usize`) and grid-point → unknown
///   (`u32`) maps.
///
/// In all, about 10.5 values (84 bytes) per unknown in 2-D and 11.5–14 in 3-D with a stored
/// stencil (the ghost layers weigh more on small grids: 10.7 measured at 256², 13.9 at 48³),
/// about 3 for the plain Laplacian. It does not keep the matrix.
#[derive(Clone, Debug)]
pub struct Multigrid {
    levels: Vec<Level>,
    coarse: CoarseSolve,
    map: FineMap,
    unknowns: usize,
    /// The grid, for messages of [`Multigrid::refactor`].
    shape: GridShape,
    /// Whether a plain-Laplacian matrix is stored as the constant operator (unmasked problem
    /// with a ≡ 1), as [`Multigrid::new`] decided it.
    plain_allowed: bool,
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
        let plain_allowed = problem.mask().is_none() && problem.is_constant_coefficient();
        if a.is_none() && !plain_allowed {
            return Err(SparseError::InvalidParameter(
                "matrix-free multigrid needs an unmasked constant-coefficient grid; pass the \
                 assembled matrix"
                    .into(),
            ));
        }
        let map = fine_map(problem, &g0)?;
        let op0 = match a {
            None => Op::Const {
                diag: 2.0 * nd as f64,
                off: -1.0,
            },
            Some(a) => {
                let fine = FineGrid {
                    g: &g0,
                    shape,
                    map: &map,
                    unknowns: problem.unknowns(),
                };
                let infos = fine.check(a)?;
                fine.operator(a, &infos, plain_allowed, None)
            }
        };

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
            shape: shape.clone(),
            plain_allowed,
            options,
            setup_seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// Takes new values of the matrix on the same grid (a time step, a new coefficient) and
    /// redoes the numeric set-up in the kept storage: the fine-level stencil and its inverse
    /// diagonal, every Galerkin coarse operator `A_c = Pᵀ A P` and the banded Cholesky factor
    /// of the coarsest level. The grid, the level shapes, the transfers and every work vector
    /// are kept; nothing is allocated unless the matrix switches between the plain Laplacian
    /// and a general stencil (which an unmasked constant-coefficient problem's hierarchy
    /// stores differently).
    ///
    /// `a` must be a grid stencil matrix of the problem the hierarchy was built for (same
    /// grid, same mask; any positive symmetric neighbour couplings and positive diagonal, so
    /// shifted systems like `M/Δt + K` are fine). The result is bit for bit the hierarchy
    /// [`Multigrid::with_options`] builds from `a` with this problem and these options: the
    /// same code computes every value, in the same order, into storage that holds exactly
    /// what a fresh set-up allocates.
    ///
    /// Errors, with the hierarchy left unchanged (still usable for the old matrix):
    /// [`SparseError::NotAGrid`] when `a` has another size or couples points that are not grid
    /// neighbours, [`SparseError::NotSymmetric`] / [`SparseError::NotPositiveDefinite`] like
    /// [`Multigrid::new`]. Every check runs before anything is overwritten.
    pub fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        let t0 = Instant::now();
        let g0 = self.levels[0].g;
        let fine = FineGrid {
            g: &g0,
            shape: &self.shape,
            map: &self.map,
            unknowns: self.unknowns,
        };
        let infos = fine.check(a)?;
        let old = std::mem::replace(
            &mut self.levels[0].op,
            Op::Const {
                diag: 0.0,
                off: 0.0,
            },
        );
        let was_const = matches!(old, Op::Const { .. });
        let op0 = fine.operator(a, &infos, self.plain_allowed, Some(old));
        let now_const = matches!(op0, Op::Const { .. });
        self.levels[0].op = op0;
        // The plain Laplacian again: every level operator and the coarse factor are as they
        // were (they depend on nothing else).
        if !(was_const && now_const) {
            self.rebuild_coarse();
        }
        self.setup_seconds = t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Recomputes every coarse operator from the one above it, and the coarse factor.
    fn rebuild_coarse(&mut self) {
        for l in 1..self.levels.len() {
            let (fine, coarse) = self.levels.split_at_mut(l);
            let f = &fine[l - 1];
            let c = &mut coarse[0];
            galerkin_into(&f.op, &f.g, f.coarsen, &c.g, &mut c.op);
        }
        if let (CoarseSolve::Direct(ch), Some(last)) = (&mut self.coarse, self.levels.last()) {
            ch.refactor(&last.op, &last.g);
        }
    }

    /// Bytes of heap memory the hierarchy holds: per level its padded vectors (iterate,
    /// right-hand side, residual or line buffers) and stored operator, the coarsest level's
    /// band factor, and for a masked problem the two index maps. See [`Multigrid`] for these
    /// sizes in terms of the unknowns.
    pub fn memory_bytes(&self) -> usize {
        let f = std::mem::size_of::<f64>();
        let levels: usize = self
            .levels
            .iter()
            .map(|l| {
                (l.x.capacity() + l.b.capacity() + l.r.capacity() + l.scratch.capacity()) * f
                    + l.op.heap_bytes()
            })
            .sum();
        let coarse = match &self.coarse {
            CoarseSolve::Direct(ch) => ch.heap_bytes(),
            CoarseSolve::Smooth(_) => 0,
        };
        let map = match &self.map {
            FineMap::Full => 0,
            FineMap::Masked {
                padded_of_unknown,
                unknown_of_point,
            } => {
                padded_of_unknown.capacity() * std::mem::size_of::<usize>()
                    + unknown_of_point.capacity() * std::mem::size_of::<u32>()
            }
        };
        levels + coarse + map
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

    /// [`Multigrid::refactor`].
    fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        Multigrid::refactor(self, a)
    }
}

/// How the unknowns sit on the fine grid: every point in grid order, or (masked) the fluid
/// points only.
fn fine_map(problem: &GridPoisson, g: &Geom) -> Result<FineMap> {
    let Some(u2p) = problem.unknown_points() else {
        return Ok(FineMap::Full);
    };
    if u2p.len() >= u32::MAX as usize {
        return Err(SparseError::InvalidParameter(format!(
            "multigrid supports masked grids up to {} unknowns",
            u32::MAX - 1
        )));
    }
    let mut p2u = vec![u32::MAX; problem.shape().len()];
    for (u, &p) in u2p.iter().enumerate() {
        p2u[p] = u as u32;
    }
    Ok(FineMap::Masked {
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
    })
}

/// Per fine line: (the rows are the plain Laplacian's, sum of the fluid diagonals, fluid
/// count).
type LineInfo = (bool, f64, usize);

/// The fine grid as a matrix must match it, for reading the fine-level stencil out of a
/// matrix (set-up and [`Multigrid::refactor`]).
struct FineGrid<'a> {
    g: &'a Geom,
    shape: &'a GridShape,
    map: &'a FineMap,
    unknowns: usize,
}

impl FineGrid<'_> {
    /// The unknown at grid point `p`, `None` at a solid cell.
    #[inline(always)]
    fn unknown(&self, p: usize) -> Option<usize> {
        match self.map {
            FineMap::Full => Some(p),
            FineMap::Masked {
                unknown_of_point, ..
            } => {
                let u = unknown_of_point[p];
                (u != u32::MAX).then_some(u as usize)
            }
        }
    }

    /// What column `c` of the row of the unknown at grid point `idx` (flat `p`, padded `pp`)
    /// is: `Some(None)` the diagonal, `Some(Some((axis, lower)))` the neighbour along `axis`
    /// (below it when `lower`), `None` not a neighbour.
    #[inline(always)]
    fn classify(
        &self,
        idx: [usize; 3],
        p: usize,
        pp: usize,
        c: usize,
    ) -> Option<Option<(usize, bool)>> {
        let g = self.g;
        match self.map {
            FineMap::Full => {
                let off = c as isize - p as isize;
                if off == 0 {
                    return Some(None);
                }
                let gstride = [1isize, g.n[0] as isize, (g.n[0] * g.n[1]) as isize];
                // Several axes may share a stride when an extent is 1; only one of them has
                // the neighbour inside the grid.
                (0..g.nd)
                    .find(|&ax| {
                        off.abs() == gstride[ax]
                            && if off < 0 {
                                idx[ax] > 0
                            } else {
                                idx[ax] + 1 < g.n[ax]
                            }
                    })
                    .map(|ax| Some((ax, off < 0)))
            }
            FineMap::Masked {
                padded_of_unknown, ..
            } => {
                let off = padded_of_unknown[c] as isize - pp as isize;
                if off == 0 {
                    return Some(None);
                }
                // Padded strides differ per axis and ghost points are never unknowns, so a
                // padded offset of ±st[ax] is the neighbour along ax.
                (0..g.nd)
                    .find(|&ax| off.abs() == g.st[ax] as isize)
                    .map(|ax| Some((ax, off < 0)))
            }
        }
    }

    /// Checks that `a` is a (2d+1)-point grid matrix of this grid with a positive diagonal and
    /// symmetric couplings, writing nothing.
    fn check(&self, a: &SparseMatrix) -> Result<Vec<LineInfo>> {
        let g = self.g;
        let nd = g.nd;
        if a.rows() != self.unknowns {
            return Err(SparseError::NotAGrid(format!(
                "the matrix has {} rows but the grid {} has {} unknowns",
                a.rows(),
                self.shape,
                self.unknowns
            )));
        }
        let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
        let masked = matches!(self.map, FineMap::Masked { .. });
        let two_d = 2.0 * nd as f64;
        let per_line = |l: usize| -> Result<LineInfo> {
            let (j, k) = g.line_jk(l);
            let base = g.base(j, k);
            let mut plain = !masked;
            let mut dsum = 0.0;
            let mut count = 0;
            for i in 0..g.n[0] {
                let idx = [i, j, k];
                let p = i + g.n[0] * l;
                let Some(u) = self.unknown(p) else {
                    continue; // solid: an identity row of the caller's
                };
                let mut d = 0.0;
                let mut nbrs = 0;
                for e in ip[u]..ip[u + 1] {
                    let c = ix[e] as usize;
                    let v = vx[e];
                    match self.classify(idx, p, base + i, c) {
                        Some(None) => d += v,
                        Some(Some(_)) => {
                            nbrs += 1;
                            plain &= v == -1.0;
                        }
                        None => {
                            return Err(SparseError::NotAGrid(format!(
                                "matrix entry ({u}, {c}) does not couple neighbouring points \
                                 of the grid {}",
                                self.shape
                            )))
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
            }
            Ok((plain, dsum, count))
        };
        let infos = (0..g.lines())
            .into_par_iter()
            .with_min_len((4096 / g.n[0]).max(1))
            .map(per_line)
            .collect::<Result<Vec<_>>>()?;
        // Only neighbour couplings are left to compare (skipped for a matrix assembled
        // symmetric, like `GridPoisson::matrix`).
        a.check_symmetric("multigrid")?;
        Ok(infos)
    }

    /// The fine-level operator of `a`, which [`FineGrid::check`] accepted with `infos`: the
    /// constant Laplacian when `plain_allowed` and `a` is it, else the stored stencil, written
    /// into the arrays of `reuse` when it is a stored stencil of this grid.
    fn operator(
        &self,
        a: &SparseMatrix,
        infos: &[LineInfo],
        plain_allowed: bool,
        reuse: Option<Op>,
    ) -> Op {
        let g = self.g;
        let nd = g.nd;
        let len = g.padded_len();
        if plain_allowed && infos.iter().all(|t| t.0) {
            return Op::Const {
                diag: 2.0 * nd as f64,
                off: -1.0,
            };
        }
        let (mut diag, mut inv_diag, mut w) = match reuse {
            Some(Op::Faces {
                diag,
                inv_diag,
                mut w,
            }) if diag.len() == len
                && inv_diag.len() == len
                && w.len() == nd
                && w.iter().all(|v| v.len() == len) =>
            {
                // The couplings are accumulated; the diagonal is overwritten at every
                // interior point (ghosts stay 0).
                for v in &mut w {
                    v.par_iter_mut()
                        .with_min_len(1 << 14)
                        .for_each(|x| *x = 0.0);
                }
                (diag, inv_diag, w)
            }
            _ => (
                vec![0.0; len],
                vec![0.0; len],
                (0..nd).map(|_| vec![0.0; len]).collect::<Vec<_>>(),
            ),
        };
        self.store(a, &mut diag, &mut w);
        if let FineMap::Masked {
            unknown_of_point, ..
        } = self.map
        {
            // Solid cells: decoupled identity rows scaled like a typical fluid row.
            let (dsum, count) = infos
                .iter()
                .fold((0.0, 0usize), |(s, c), t| (s + t.1, c + t.2));
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
        inv_diag
            .par_iter_mut()
            .with_min_len(1 << 14)
            .zip(diag.par_iter())
            .for_each(|(v, &d)| *v = if d > 0.0 { 1.0 / d } else { 0.0 });
        Op::Faces { diag, inv_diag, w }
    }

    /// Writes the diagonal and the lower couplings of `a` (accepted by [`FineGrid::check`])
    /// into padded arrays: `diag[p] = A[p, p]`, `w[ax][p] += A[p, p − e_ax]` (`w` must hold
    /// zeros); the upper couplings are the neighbours' lower ones, by symmetry.
    fn store(&self, a: &SparseMatrix, diag: &mut [f64], w: &mut [Vec<f64>]) {
        let g = self.g;
        let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
        let ds = Shared::new(diag);
        let ws: Vec<Shared> = w.iter_mut().map(|v| Shared::new(v)).collect();
        for_each_line(g.lines(), g.n[0], |l| {
            let (j, k) = g.line_jk(l);
            let base = g.base(j, k);
            for i in 0..g.n[0] {
                let p = i + g.n[0] * l;
                let Some(u) = self.unknown(p) else { continue };
                let pp = base + i;
                let mut d = 0.0;
                for e in ip[u]..ip[u + 1] {
                    match self.classify([i, j, k], p, pp, ix[e] as usize) {
                        Some(None) => d += vx[e],
                        // SAFETY: each padded point is written by the task of its own line.
                        Some(Some((ax, true))) => unsafe { *ws[ax].ptr().add(pp) += vx[e] },
                        _ => {}
                    }
                }
                // SAFETY: as above.
                unsafe { *ds.ptr().add(pp) = d };
            }
        });
    }
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
