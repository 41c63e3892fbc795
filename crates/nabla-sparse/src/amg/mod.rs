//! Smoothed-aggregation algebraic multigrid (Vaněk, Mandel & Brezina 1996) for the symmetric
//! positive definite matrices users bring: unstructured finite elements, jumping
//! coefficients, systems with a near-nullspace of their own.
//!
//! Set-up, level by level until a level has at most [`AmgOptions::coarse_size`] rows:
//! 1. **strength** `|a_ij| > θ √(|a_ii a_jj|)` (block norms for a block size > 1);
//! 2. **aggregation**, greedy in three passes (nodes with no strong neighbour stay out);
//! 3. **tentative prolongator** `T`: the near-nullspace (constant by default) restricted to each
//!    aggregate and orthonormalised (QR), its R factors the coarse near-nullspace;
//! 4. **smoothed prolongator** `P = (I − ω D_f⁻¹ A_f) T`, `ω = 4/(3 ρ)`, `ρ = ρ(D_f⁻¹ A_f)` from
//!    a few Lanczos steps, `A_f` the matrix with weak couplings lumped onto the diagonal;
//! 5. **Galerkin** coarse operator `A_c = Pᵀ (A P)` by two parallel sparse products.
//!
//! The coarsest level is solved by dense Cholesky. Every step runs on rayon threads but the
//! greedy aggregation (a linear pass). One application of the preconditioner is a symmetric
//! V(ν, ν)-cycle, so [`Amg`] serves PCG (`amg-pcg`) and, through its own [`Solver`] impl, is
//! also a stand-alone iteration `x ← x + V(b − A x)` (`amg`).
//!
//! [`Amg::refactor`] takes new values on the same sparsity pattern (a time step, a new
//! coefficient) and redoes only the numeric half: aggregates, tentative prolongator and every
//! sparsity pattern are kept, so its result equals a fresh set-up whenever the new values give
//! the same strength graph.
//!
//! ```
//! use nabla_sparse::{Amg, AmgOptions, GridPoisson, Pcg, RhsKind, SolveOptions, Solver};
//!
//! let problem = GridPoisson::new("60x50".parse().unwrap());
//! let a = problem.matrix();
//! let b = problem.rhs(RhsKind::Random, 3);
//! let amg = Amg::new(&a, AmgOptions::default()).unwrap();
//! assert!(amg.hierarchy().levels.len() >= 2);
//! let mut x = vec![0.0; b.len()];
//! let report = Pcg::new(&a, Box::new(amg))
//!     .solve(&b, &mut x, &SolveOptions { tol: 1e-10, ..Default::default() })
//!     .unwrap();
//! assert_eq!(report.solver, "amg-pcg");
//! assert!(report.converged && report.iterations <= 20);
//! ```

mod aggregate;
pub(crate) mod dense;
pub(crate) mod matrix;
mod prolong;
mod smoother;

pub use smoother::AmgSmoother;

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::solvers::{check_inputs, Preconditioner, SolveOptions, SolveReport, Solver};
use crate::vecops;
use dense::DenseCholesky;
use matrix::{spgemm, spgemm_values, Csr};
use serde::{Deserialize, Serialize};
use smoother::LevelSmoother;
use std::time::Instant;

/// Seed of the Lanczos start vectors (set-up is deterministic).
const LANCZOS_SEED: u64 = 0x5eed;

/// A coarsest level that could not be coarsened further yet has more rows than this (or than
/// [`AmgOptions::coarse_size`], when that is larger) is smoothed ([`COARSE_SMOOTHING_STEPS`]
/// steps) instead of factored.
const DIRECT_MAX: usize = 1500;

/// Largest [`AmgOptions::coarse_size`]: the coarsest level is factored densely (`rows²`
/// values, 200 MB and ~4·10¹⁰ flops at this size).
pub const MAX_COARSE_SIZE: usize = 5000;

/// Smoothing steps standing in for the exact solve on a large, uncoarsenable coarsest level.
const COARSE_SMOOTHING_STEPS: usize = 8;

/// Settings of the AMG hierarchy and cycle. The defaults are those measured fastest for
/// PCG on unstructured finite-element Poisson matrices with 2 threads (`benches/amg_bench.sh`).
#[derive(Clone, Debug, PartialEq)]
pub struct AmgOptions {
    /// Strength threshold θ ≥ 0 of the fine level: couplings with `|a_ij| ≤ θ √(|a_ii a_jj|)`
    /// are weak, left out of aggregation and lumped onto the diagonal when smoothing the
    /// prolongator. It is halved on each coarser level (as AMGCL does): Galerkin operators
    /// spread small entries that a fixed θ would call weak, and the halving measured 1.5–2.5×
    /// fewer CG iterations on the 1:1000 checkerboard and on P1 tetrahedra.
    /// With a block size above 1 (and on the coarse levels of several near-nullspace vectors)
    /// the test is on block Frobenius norms and θ is halved once more.
    pub strength_threshold: f64,
    /// Relaxation on every level but the coarsest.
    pub smoother: AmgSmoother,
    /// Smoothing steps ν before and after the coarse correction (V(ν, ν)); at least 1.
    pub sweeps: usize,
    /// A level with at most this many rows is the coarsest and is solved by dense Cholesky;
    /// at least 1, at most [`MAX_COARSE_SIZE`].
    pub coarse_size: usize,
    /// Maximum number of levels, the fine one included; at least 1.
    pub max_levels: usize,
    /// Lanczos steps of each spectral-radius estimate `ρ(D⁻¹A)`; at least 1.
    pub spectral_steps: usize,
    /// Unknowns per node (e.g. 2 or 3 for displacement elasticity, interleaved: node `i` is rows
    /// `b·i .. b·i + b`); aggregation works on nodes. Must divide the row count.
    pub block_size: usize,
    /// Near-nullspace vectors (each of length n), e.g. rigid-body modes; `None` means the
    /// constant per component: `block_size` vectors, vector `c` = 1 on the rows `≡ c (mod b)`.
    pub near_nullspace: Option<Vec<Vec<f64>>>,
}

impl Default for AmgOptions {
    fn default() -> Self {
        Self {
            strength_threshold: 0.08,
            smoother: AmgSmoother::Spai0,
            sweeps: 1,
            coarse_size: 500,
            max_levels: 25,
            spectral_steps: 3,
            block_size: 1,
            near_nullspace: None,
        }
    }
}

impl AmgOptions {
    /// Checks every field against the matrix size `n`.
    pub fn validate(&self, n: usize) -> Result<()> {
        let bad = |m: String| Err(SparseError::InvalidParameter(m));
        if !(self.strength_threshold.is_finite() && self.strength_threshold >= 0.0) {
            return bad(format!(
                "AMG strength threshold must be finite and ≥ 0, got {}",
                self.strength_threshold
            ));
        }
        if self.sweeps == 0 || self.coarse_size == 0 || self.max_levels == 0 {
            return bad("AMG sweeps, coarse_size and max_levels must be at least 1".into());
        }
        if self.coarse_size > MAX_COARSE_SIZE {
            return bad(format!(
                "AMG coarse size {} is above {MAX_COARSE_SIZE}: the coarsest level is factored \
                 densely (rows² values); coarsen further instead",
                self.coarse_size
            ));
        }
        if self.spectral_steps == 0 {
            return bad("AMG spectral_steps must be at least 1".into());
        }
        if self.block_size == 0 || !n.is_multiple_of(self.block_size) {
            return bad(format!(
                "AMG block size {} does not divide the {n} rows",
                self.block_size
            ));
        }
        if let Some(ns) = &self.near_nullspace {
            if ns.is_empty() {
                return bad("AMG near-nullspace is empty (give at least one vector)".into());
            }
            for (c, v) in ns.iter().enumerate() {
                if v.len() != n {
                    return Err(SparseError::DimensionMismatch(format!(
                        "near-nullspace vector {} has {} entries, the matrix has {n} rows",
                        c + 1,
                        v.len()
                    )));
                }
                if let Some(i) = vecops::first_non_finite(v) {
                    return Err(SparseError::NonFinite(format!(
                        "near-nullspace vector {} entry {} is {}",
                        c + 1,
                        i + 1,
                        v[i]
                    )));
                }
                if v.iter().all(|&x| x == 0.0) {
                    return bad(format!(
                        "near-nullspace vector {} is zero; every vector must be a nonzero \
                         mode (e.g. a constant or a rigid-body motion)",
                        c + 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// The near-nullspace as an `n × k` row-major array.
    fn nullspace_rows(&self, n: usize) -> (Vec<f64>, usize) {
        match &self.near_nullspace {
            Some(ns) => {
                let k = ns.len();
                let mut b = vec![0.0; n * k];
                for (c, v) in ns.iter().enumerate() {
                    for i in 0..n {
                        b[i * k + c] = v[i];
                    }
                }
                (b, k)
            }
            None => {
                let k = self.block_size;
                let mut b = vec![0.0; n * k];
                for i in 0..n {
                    b[i * k + i % k] = 1.0;
                }
                (b, k)
            }
        }
    }
}

/// Size of one level of the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmgLevelInfo {
    /// Rows (unknowns) of the level.
    pub rows: usize,
    /// Stored entries of the level matrix.
    pub nonzeros: usize,
}

/// Wall-clock seconds of each set-up phase, summed over the levels (what to attack when
/// set-up dominates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AmgSetupTimes {
    /// Diagonal and symmetry checks of the input, and its copy.
    pub check: f64,
    /// Strength of connection.
    pub strength: f64,
    /// Aggregation.
    pub aggregation: f64,
    /// Tentative prolongators.
    pub tentative: f64,
    /// `D_f⁻¹ A_f` and its spectral radius (Lanczos).
    pub spectral_radius: f64,
    /// `P = (I − ω D_f⁻¹ A_f) T` and `R = Pᵀ`.
    pub prolongator: f64,
    /// Galerkin products `A P` and `R (A P)`.
    pub galerkin: f64,
    /// Smoother set-up on every level.
    pub smoothers: f64,
    /// Dense Cholesky of the coarsest level.
    pub coarse_solver: f64,
}

/// The shape of an AMG hierarchy, as reported by `nabla poisson`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AmgHierarchy {
    /// Every level, finest first.
    pub levels: Vec<AmgLevelInfo>,
    /// Σ nonzeros over all levels / nonzeros of the fine matrix (memory and cost of a cycle
    /// relative to one product with A).
    pub operator_complexity: f64,
    /// Σ rows over all levels / rows of the fine matrix.
    pub grid_complexity: f64,
    /// Seconds per set-up phase (of the last `new` or `refactor`).
    pub setup_phases: AmgSetupTimes,
}

/// The AMG fields of a solve report (`nabla poisson --report`, `nabla.solve`'s report): one
/// definition, so the command line and the Python module write the same names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AmgReport {
    /// Number of levels, the fine one included.
    pub levels: usize,
    /// As [`AmgHierarchy::operator_complexity`].
    pub operator_complexity: f64,
    /// As [`AmgHierarchy::grid_complexity`].
    pub grid_complexity: f64,
    /// Every level's `{rows, nonzeros}`, finest first.
    pub amg_levels: Vec<AmgLevelInfo>,
    /// The settings the hierarchy was built with.
    pub amg_options: AmgOptionsReport,
    /// Seconds per set-up phase.
    pub amg_setup_phases: AmgSetupTimes,
}

/// The AMG settings recorded in a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AmgOptionsReport {
    /// [`AmgOptions::strength_threshold`] (θ of the fine level).
    pub strength_threshold: f64,
    /// The smoother's name, as `--amg-smoother` takes it.
    pub smoother: String,
    /// [`AmgOptions::sweeps`].
    pub sweeps: usize,
    /// [`AmgOptions::coarse_size`].
    pub coarse_size: usize,
    /// [`AmgOptions::block_size`].
    pub block_size: usize,
    /// Near-nullspace vectors: the user's, or one constant per component of a block.
    pub near_nullspace_vectors: usize,
}

impl AmgReport {
    /// The report fields of `hierarchy`, built with `options`.
    pub fn new(hierarchy: &AmgHierarchy, options: &AmgOptions) -> Self {
        Self {
            levels: hierarchy.levels.len(),
            operator_complexity: hierarchy.operator_complexity,
            grid_complexity: hierarchy.grid_complexity,
            amg_levels: hierarchy.levels.clone(),
            amg_options: AmgOptionsReport {
                strength_threshold: options.strength_threshold,
                smoother: options.smoother.name(),
                sweeps: options.sweeps,
                coarse_size: options.coarse_size,
                block_size: options.block_size,
                near_nullspace_vectors: options
                    .near_nullspace
                    .as_ref()
                    .map_or(options.block_size, Vec::len),
            },
            amg_setup_phases: hierarchy.setup_phases.clone(),
        }
    }
}

/// What is kept between a level and the next: the symbolic set-up (strength, tentative
/// prolongator, patterns) and the numeric operators built on it.
struct Transfer {
    /// Per stored entry of the level matrix: kept by the filtered matrix.
    keep: Vec<bool>,
    /// `I − ω D_f⁻¹ A_f`, stored only for the general product with `T` (several
    /// near-nullspace vectors or a block size > 1).
    jacobi: Option<Csr>,
    tentative: Csr,
    p: Csr,
    r: Csr,
    /// What only [`Amg::refactor`] reuses, built by its first call rather than by the set-up:
    /// a one-shot solve never pays for it (`A P` alone is as large as the fine matrix's
    /// values and indices, 350 MB on 2M-unknown P1 tetrahedra).
    refactor: Option<RefactorPatterns>,
}

/// The patterns [`Amg::refactor`] fills with new values instead of recomputing.
struct RefactorPatterns {
    /// Where each entry of `P` lands in `R = Pᵀ`.
    r_perm: Vec<usize>,
    /// `A P`, the first Galerkin product.
    ap: Csr,
}

struct Level {
    a: Csr,
    smoother: LevelSmoother,
    transfer: Option<Transfer>,
    /// Right-hand side, iterate and residual of the level (the finest uses the caller's
    /// vectors and keeps only its residual).
    b: Vec<f64>,
    x: Vec<f64>,
    res: Vec<f64>,
}

enum Coarsest {
    Direct(DenseCholesky),
    Smooth,
}

/// A smoothed-aggregation AMG hierarchy: a PCG preconditioner (one symmetric V-cycle per
/// application) and, as a [`Solver`], the stand-alone AMG iteration.
///
/// Memory it keeps ([`Amg::memory_bytes`] counts it), for a fine matrix with `n` rows and
/// `nnz` entries: its own copy of the fine matrix and every coarse operator, together
/// [`AmgHierarchy::operator_complexity`] × (`8` bytes per row + `12` per entry); per coarsened
/// level the prolongator `P`, its transpose `R`, the tentative prolongator (one entry per row)
/// and a strength mask (one byte per entry of the level matrix); two or three smoother
/// vectors and up to three work vectors per level; and the dense Cholesky factor of the
/// coarsest level (`rows²` values, at most [`AmgOptions::coarse_size`]²). With the default
/// options on the 2-D 5-point Laplacian (120 × 100) this is 4.0 times the fine matrix's CSR
/// storage. The first [`Amg::refactor`] adds what later ones reuse: per level the product
/// `A·P` and the position of each entry of `P` in `R` (one `usize` per entry) —
/// 5.4 times the fine matrix's storage in all on that Laplacian.
pub struct Amg {
    opts: AmgOptions,
    levels: Vec<Level>,
    coarsest: Coarsest,
    setup_seconds: f64,
    phases: AmgSetupTimes,
    /// Stand-alone iteration workspace (residual, correction).
    work: (Vec<f64>, Vec<f64>),
}

impl Amg {
    /// Builds the hierarchy for the symmetric positive definite `a`.
    ///
    /// Errors: an empty matrix, invalid options, a zero diagonal entry
    /// ([`SparseError::ZeroDiagonal`]), a negative one ([`SparseError::NotPositiveDefinite`]) or
    /// an asymmetric pair ([`SparseError::NotSymmetric`]).
    pub fn new(a: &SparseMatrix, opts: AmgOptions) -> Result<Self> {
        let t0 = Instant::now();
        let n = a.rows();
        if n == 0 {
            return Err(SparseError::InvalidParameter(
                "AMG needs a matrix with at least one row".into(),
            ));
        }
        opts.validate(n)?;
        let mut ph = AmgSetupTimes::default();
        let fine = timed(&mut ph.check, || {
            check_matrix(a).map(|()| Csr {
                rows: n,
                cols: n,
                indptr: a.indptr().to_vec(),
                indices: a.indices().to_vec(),
                values: a.values().to_vec(),
            })
        })?;
        let (mut nullspace, k) = opts.nullspace_rows(n);
        let mut bs = opts.block_size;
        let mut levels: Vec<Level> = Vec::new();
        let mut current = fine;
        loop {
            let rows = current.rows;
            let last = rows <= opts.coarse_size || levels.len() + 1 >= opts.max_levels;
            // One diagonal per level serves the strength test and the smoother.
            let diag = current.diagonal();
            let built = if last {
                None
            } else {
                // Block norms (systems) call fewer couplings strong at the same θ: halving it
                // there took 3-D elasticity with rigid-body modes from 41 to 30 iterations at
                // operator complexity 1.46 instead of 2.15 (`benches/amg_elasticity.py`).
                let block_factor = if bs > 1 { 0.5 } else { 1.0 };
                let theta =
                    opts.strength_threshold * block_factor * 0.5f64.powi(levels.len() as i32);
                new_transfer(&current, &diag, theta, &opts, bs, &nullspace, k, &mut ph)
            };
            let finest = levels.is_empty();
            let Some((transfer, coarse_ns, coarse)) = built else {
                let level = timed(&mut ph.smoothers, || {
                    new_level(current, diag, None, &opts, finest)
                });
                levels.push(level);
                break;
            };
            let level = timed(&mut ph.smoothers, || {
                new_level(current, diag, Some(transfer), &opts, finest)
            });
            levels.push(level);
            current = coarse;
            nullspace = coarse_ns;
            bs = k;
        }
        let coarsest = timed(&mut ph.coarse_solver, || {
            coarsest_solver(levels.last().map(|l| &l.a), opts.coarse_size)
        });
        Ok(Self {
            opts,
            levels,
            coarsest,
            setup_seconds: t0.elapsed().as_secs_f64(),
            phases: ph,
            work: (Vec::new(), Vec::new()),
        })
    }

    /// Takes new values for the fine matrix (same dimension and sparsity pattern) and redoes
    /// the numeric set-up on the kept aggregates and patterns. Errors when the pattern differs
    /// or the new matrix fails [`Amg::new`]'s checks; the hierarchy is unchanged then.
    pub fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        let t0 = Instant::now();
        let fine = &self.levels[0].a;
        if a.rows() != fine.rows
            || a.indptr() != fine.indptr.as_slice()
            || a.indices() != fine.indices.as_slice()
        {
            return Err(SparseError::DimensionMismatch(
                "refactor needs the sparsity pattern of the matrix the hierarchy was built for \
                 (build a new Amg for a new pattern)"
                    .into(),
            ));
        }
        let mut ph = AmgSetupTimes::default();
        timed(&mut ph.check, || check_matrix(a))?;
        self.levels[0].a.values.copy_from_slice(a.values());
        for l in 0..self.levels.len() {
            let (head, tail) = self.levels.split_at_mut(l + 1);
            let level = &mut head[l];
            if let (Some(tr), Some(next)) = (level.transfer.as_mut(), tail.first_mut()) {
                refactor_transfer(&level.a, tr, &mut next.a, &self.opts, &mut ph);
            }
            timed(&mut ph.smoothers, || {
                let diag = level.a.diagonal();
                let rho = smoother_rho(&level.a, &diag, &self.opts);
                level.smoother.refresh(&level.a, &diag, rho);
            });
        }
        self.coarsest = timed(&mut ph.coarse_solver, || {
            coarsest_solver(self.levels.last().map(|l| &l.a), self.opts.coarse_size)
        });
        self.phases = ph;
        self.setup_seconds = t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Rows and nonzeros per level, operator and grid complexity.
    pub fn hierarchy(&self) -> AmgHierarchy {
        let levels: Vec<AmgLevelInfo> = self
            .levels
            .iter()
            .map(|l| AmgLevelInfo {
                rows: l.a.rows,
                nonzeros: l.a.nnz(),
            })
            .collect();
        let (r0, z0) = (
            levels[0].rows.max(1) as f64,
            levels[0].nonzeros.max(1) as f64,
        );
        AmgHierarchy {
            operator_complexity: levels.iter().map(|l| l.nonzeros as f64).sum::<f64>() / z0,
            grid_complexity: levels.iter().map(|l| l.rows as f64).sum::<f64>() / r0,
            levels,
            setup_phases: self.phases.clone(),
        }
    }

    /// The options the hierarchy was built with.
    pub fn options(&self) -> &AmgOptions {
        &self.opts
    }

    /// Bytes of heap memory the hierarchy holds: every level's matrix, smoother and vectors,
    /// every transfer (strength mask, tentative and smoothed prolongators, `R`, `A·P`) and the
    /// coarsest factor (see [`Amg`] for these in terms of `n` and `nnz`).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let f = size_of::<f64>();
        let levels: usize = self
            .levels
            .iter()
            .map(|l| {
                let transfer = l.transfer.as_ref().map_or(0, |t| {
                    t.keep.capacity() * size_of::<bool>()
                        + t.jacobi.as_ref().map_or(0, Csr::heap_bytes)
                        + t.tentative.heap_bytes()
                        + t.p.heap_bytes()
                        + t.r.heap_bytes()
                        + t.refactor.as_ref().map_or(0, |k| {
                            k.r_perm.capacity() * size_of::<usize>() + k.ap.heap_bytes()
                        })
                });
                l.a.heap_bytes()
                    + l.smoother.heap_bytes()
                    + (l.b.capacity() + l.x.capacity() + l.res.capacity()) * f
                    + transfer
            })
            .sum();
        let coarsest = match &self.coarsest {
            Coarsest::Direct(c) => c.heap_bytes(),
            Coarsest::Smooth => 0,
        };
        levels + coarsest + (self.work.0.capacity() + self.work.1.capacity()) * f
    }

    /// `x ← V(b)`: one V-cycle from a zero guess.
    pub fn vcycle(&mut self, b: &[f64], x: &mut [f64]) {
        cycle(&mut self.levels, &mut self.coarsest, self.opts.sweeps, b, x);
    }
}

/// Diagonal checks shared by `new` and `refactor` (symmetry too: CG needs it, and a
/// nonsymmetric matrix would give a nonsymmetric hierarchy).
fn check_matrix(a: &SparseMatrix) -> Result<()> {
    let d = a.diag();
    if let Some(row) = d.iter().position(|v| *v == 0.0) {
        return Err(SparseError::ZeroDiagonal {
            row,
            method: "AMG".into(),
        });
    }
    if let Some(row) = d.iter().position(|v| *v < 0.0) {
        return Err(SparseError::NotPositiveDefinite {
            detail: format!(
                "negative diagonal entry {:e} at row {}; AMG needs a symmetric positive definite matrix",
                d[row],
                row + 1
            ),
        });
    }
    a.check_symmetric("AMG")
}

/// A fresh transfer: strength, aggregates and tentative prolongator (the symbolic set-up
/// that [`Amg::refactor`] keeps), then `P`, `R = Pᵀ` and `A_c = R A P` with their patterns.
/// `None` when the level does not coarsen (no aggregate, or as many coarse rows as fine ones).
#[allow(clippy::too_many_arguments)]
fn new_transfer(
    a: &Csr,
    diag: &[f64],
    theta: f64,
    opts: &AmgOptions,
    bs: usize,
    nullspace: &[f64],
    k: usize,
    ph: &mut AmgSetupTimes,
) -> Option<(Transfer, Vec<f64>, Csr)> {
    let st = timed(&mut ph.strength, || aggregate::strength(a, diag, theta, bs));
    let (agg, count) = timed(&mut ph.aggregation, || aggregate::aggregate(&st.graph(a)));
    if count == 0 || count * k >= a.rows {
        return None;
    }
    let tent = timed(&mut ph.tentative, || {
        prolong::tentative(&agg, count, bs, nullspace, k)
    });
    let (dfilt, rho) = timed(&mut ph.spectral_radius, || filtered_rho(a, &st.keep, opts));
    let (p, jacobi, r) = timed(&mut ph.prolongator, || {
        let (p, jacobi) = if k == 1 && bs == 1 {
            let p = prolong::smoothed_prolongator_scalar(a, &st.keep, &dfilt, omega(rho), &tent.t);
            (p, None)
        } else {
            let mut jacobi = prolong::smoother_pattern(a, &st.keep);
            jacobi_values(a, &st.keep, &dfilt, rho, &mut jacobi);
            (spgemm(&jacobi, &tent.t), Some(jacobi))
        };
        let r = p.transpose();
        (p, jacobi, r)
    });
    // R (A P) rather than (R A) P: both products then scatter into an array indexed by
    // coarse columns, which stays in cache, where R A scatters over the fine columns (8 MB at
    // 2M unknowns). Measured 1.4–1.8× faster Galerkin set-up on the bench's FE matrices.
    let coarse = timed(&mut ph.galerkin, || spgemm(&r, &spgemm(a, &p)));
    Some((
        Transfer {
            keep: st.keep,
            jacobi,
            tentative: tent.t,
            p,
            r,
            refactor: None,
        },
        tent.coarse_nullspace,
        coarse,
    ))
}

/// The filtered diagonal `D_f` and `ρ(D_f⁻¹ A_f)`.
fn filtered_rho(a: &Csr, keep: &[bool], opts: &AmgOptions) -> (Vec<f64>, f64) {
    let dfilt = prolong::filtered_diagonal(a, keep);
    let rho = prolong::filtered_spectral_radius(a, keep, &dfilt, opts.spectral_steps, LANCZOS_SEED);
    (dfilt, rho)
}

/// The prolongator smoothing weight `ω = 4 / (3ρ)`.
fn omega(rho: f64) -> f64 {
    if rho > 0.0 {
        4.0 / (3.0 * rho)
    } else {
        0.0
    }
}

/// Fills `jacobi` (pattern from `smoother_pattern`) with `I − ω D_f⁻¹ A_f`.
fn jacobi_values(a: &Csr, keep: &[bool], dfilt: &[f64], rho: f64, jacobi: &mut Csr) {
    prolong::fill_scaled_filtered(a, keep, dfilt, jacobi);
    prolong::to_jacobi_smoother(jacobi, omega(rho));
}

/// The numeric half of a transfer on its kept aggregates and patterns (what [`new_transfer`]
/// computes, in the same order: the same bits for the same values).
fn refactor_transfer(
    a: &Csr,
    tr: &mut Transfer,
    coarse: &mut Csr,
    opts: &AmgOptions,
    ph: &mut AmgSetupTimes,
) {
    let (dfilt, rho) = timed(&mut ph.spectral_radius, || filtered_rho(a, &tr.keep, opts));
    let (r_perm, kept_ap) = timed(&mut ph.prolongator, || {
        match tr.jacobi.as_mut() {
            None => {
                tr.p = prolong::smoothed_prolongator_scalar(
                    a,
                    &tr.keep,
                    &dfilt,
                    omega(rho),
                    &tr.tentative,
                );
            }
            Some(jacobi) => {
                jacobi_values(a, &tr.keep, &dfilt, rho, jacobi);
                spgemm_values(jacobi, &tr.tentative, &mut tr.p);
            }
        }
        match tr.refactor.take() {
            Some(kept) => {
                tr.p.transpose_values(&kept.r_perm, &mut tr.r);
                (kept.r_perm, Some(kept.ap))
            }
            None => {
                let (r, r_perm) = tr.p.transpose_with_perm();
                tr.r = r;
                (r_perm, None)
            }
        }
    });
    timed(&mut ph.galerkin, || {
        // The first refactor builds `A P` with its pattern, later ones refill its values; both
        // sum in the same order, so the coarse operator has the same bits either way.
        let ap = match kept_ap {
            Some(mut ap) => {
                spgemm_values(a, &tr.p, &mut ap);
                ap
            }
            None => spgemm(a, &tr.p),
        };
        spgemm_values(&tr.r, &ap, coarse);
        tr.refactor = Some(RefactorPatterns { r_perm, ap });
    });
}

/// Runs `f`, adding its wall-clock seconds to `acc`.
fn timed<T>(acc: &mut f64, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    *acc += t0.elapsed().as_secs_f64();
    out
}

/// `ρ(D⁻¹A)` of a level (`diag` its diagonal) when the smoother needs it, else 0: its own
/// [`smoother::SMOOTHER_SPECTRAL_STEPS`]-step estimate (at least `spectral_steps`), not the
/// prolongator's, which may underestimate enough for Jacobi or Chebyshev to diverge.
fn smoother_rho(a: &Csr, diag: &[f64], opts: &AmgOptions) -> f64 {
    if !opts.smoother.needs_spectral_radius() {
        return 0.0;
    }
    let (_, isq) = prolong::sqrt_scalings(diag);
    let steps = opts.spectral_steps.max(smoother::SMOOTHER_SPECTRAL_STEPS);
    prolong::spectral_radius(a, &isq, &isq, steps, LANCZOS_SEED)
}

fn new_level(
    a: Csr,
    diag: Vec<f64>,
    transfer: Option<Transfer>,
    opts: &AmgOptions,
    finest: bool,
) -> Level {
    let rho = smoother_rho(&a, &diag, opts);
    // The coarsest level, when it is smoothed rather than factored, uses Jacobi-type
    // smoothing of the chosen kind like any other level.
    let smoother = LevelSmoother::new(opts.smoother, &a, &diag, rho);
    let n = a.rows;
    Level {
        smoother,
        transfer,
        b: if finest { Vec::new() } else { vec![0.0; n] },
        x: if finest { Vec::new() } else { vec![0.0; n] },
        res: vec![0.0; n],
        a,
    }
}

/// The exact solve of the coarsest level, up to the larger of [`DIRECT_MAX`] and the
/// requested coarse size (so a coarse size above `DIRECT_MAX` still gets the direct solve its
/// documentation promises).
fn coarsest_solver(a: Option<&Csr>, coarse_size: usize) -> Coarsest {
    match a {
        Some(a) if a.rows <= DIRECT_MAX.max(coarse_size) => Coarsest::Direct(DenseCholesky::new(a)),
        _ => Coarsest::Smooth,
    }
}

/// One V(ν, ν)-cycle on `levels` from a zero initial guess: `x ← V(b)`.
fn cycle(levels: &mut [Level], coarsest: &mut Coarsest, sweeps: usize, b: &[f64], x: &mut [f64]) {
    let Some((level, rest)) = levels.split_first_mut() else {
        return;
    };
    let Some(next) = rest.first_mut() else {
        match coarsest {
            Coarsest::Direct(chol) => chol.solve(b, x),
            Coarsest::Smooth => {
                for s in 0..COARSE_SMOOTHING_STEPS {
                    level.smoother.smooth(&level.a, b, x, s == 0);
                }
            }
        }
        return;
    };
    let Some(tr) = level.transfer.as_ref() else {
        return;
    };
    if sweeps == 1 {
        level
            .smoother
            .first_step_and_residual(&level.a, b, x, &mut level.res);
    } else {
        for s in 0..sweeps {
            level.smoother.smooth(&level.a, b, x, s == 0);
        }
        level.a.residual(b, x, &mut level.res);
    }
    let mut nb = std::mem::take(&mut next.b);
    let mut nx = std::mem::take(&mut next.x);
    tr.r.spmv(&level.res, &mut nb);
    cycle(rest, coarsest, sweeps, &nb, &mut nx);
    tr.p.spmv_add(&nx, x);
    rest[0].b = nb;
    rest[0].x = nx;
    for _ in 0..sweeps {
        level.smoother.smooth(&level.a, b, x, false);
    }
}

impl Preconditioner for Amg {
    fn name(&self) -> String {
        "amg".into()
    }

    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        self.vcycle(r, z);
    }

    fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }

    fn hierarchy(&self) -> Option<AmgHierarchy> {
        Some(Amg::hierarchy(self))
    }

    fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        Amg::refactor(self, a)
    }
}

impl Solver for Amg {
    fn name(&self) -> String {
        "amg".into()
    }

    fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }

    /// The stand-alone iteration `x ← x + V(b − A x)`, stopped on the recomputed residual.
    fn solve(&mut self, b: &[f64], x: &mut [f64], opts: &SolveOptions) -> Result<SolveReport> {
        opts.validate()?;
        let n = self.levels[0].a.rows;
        check_inputs(n, b, x)?;
        let t0 = Instant::now();
        let (mut r, mut z) = std::mem::take(&mut self.work);
        r.resize(n, 0.0);
        z.resize(n, 0.0);
        let bn = vecops::norm2(b);
        let scale = if bn > 0.0 { bn } else { 1.0 };
        let mut history = Vec::new();
        self.levels[0].a.residual(b, x, &mut r);
        let mut rel = vecops::norm2(&r) / scale;
        if !rel.is_finite() {
            return Err(crate::solvers::overflow(
                "the initial residual ‖b − A x₀‖",
                rel,
                0,
            ));
        }
        let mut record = |it: usize, rel: f64| {
            if opts.record_history {
                history.push(rel);
            }
            if let Some(m) = opts.monitor {
                m(it, rel);
            }
        };
        record(0, rel);
        let mut iters = 0;
        while rel > opts.tol && iters < opts.max_iters && !crate::solvers::stop::stop_requested() {
            self.vcycle(&r, &mut z);
            vecops::axpy(1.0, &z, x);
            self.levels[0].a.residual(b, x, &mut r);
            iters += 1;
            let new_rel = vecops::norm2(&r) / scale;
            if !new_rel.is_finite() {
                return Err(SparseError::NonFinite(format!(
                    "AMG iteration {iters} produced a non-finite residual"
                )));
            }
            rel = new_rel;
            record(iters, rel);
        }
        self.work = (r, z);
        Ok(SolveReport {
            solver: "amg".into(),
            iterations: iters,
            relative_residual: rel,
            converged: rel <= opts.tol,
            setup_seconds: self.setup_seconds,
            solve_seconds: t0.elapsed().as_secs_f64(),
            residual_history: history,
            amg: Some(Amg::hierarchy(self)),
        })
    }
}
