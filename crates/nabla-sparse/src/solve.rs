//! One entry point that builds any solver by name and runs it: what the CLI, benchmarks and
//! sequence runners call.

use crate::amg::{Amg, AmgOptions};
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::grid::GridPoisson;
use crate::multigrid::{Multigrid, MultigridOptions};
use crate::operator::LinearOperator;
use crate::solvers::{
    Cg, Ic0, Jacobi, Pcg, SolveOptions, SolveReport, Solver, Sor, Ssor, SsorPreconditioner,
};
use std::str::FromStr;
use std::time::Instant;

/// The solvers of `nabla poisson --solver`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolverKind {
    /// Conjugate gradients.
    Cg,
    /// PCG with the Jacobi (diagonal) preconditioner.
    JacobiPcg,
    /// PCG with incomplete Cholesky IC(0).
    Ic0Pcg,
    /// PCG with the SSOR(ω) preconditioner.
    SsorPcg,
    /// PCG with one geometric-multigrid V-cycle as preconditioner (grid problems only).
    MgPcg,
    /// Stand-alone SOR(ω) (ω = 1 is Gauss–Seidel).
    Sor,
    /// Stand-alone SSOR(ω).
    Ssor,
    /// PCG with one smoothed-aggregation AMG V-cycle as preconditioner (any SPD matrix).
    AmgPcg,
    /// The stand-alone smoothed-aggregation AMG iteration `x ← x + V(b − A x)`.
    Amg,
}

impl SolverKind {
    /// Every solver, in CLI order.
    pub const ALL: [SolverKind; 9] = [
        Self::Cg,
        Self::JacobiPcg,
        Self::Ic0Pcg,
        Self::SsorPcg,
        Self::MgPcg,
        Self::AmgPcg,
        Self::Amg,
        Self::Sor,
        Self::Ssor,
    ];

    /// The CLI name (`cg`, `jacobi-pcg`, `ic0-pcg`, `ssor-pcg`, `mg-pcg`, `amg-pcg`, `amg`,
    /// `sor`, `ssor`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cg => "cg",
            Self::JacobiPcg => "jacobi-pcg",
            Self::Ic0Pcg => "ic0-pcg",
            Self::SsorPcg => "ssor-pcg",
            Self::MgPcg => "mg-pcg",
            Self::Sor => "sor",
            Self::Ssor => "ssor",
            Self::AmgPcg => "amg-pcg",
            Self::Amg => "amg",
        }
    }

    /// What `--solver auto` runs on a problem, and why: geometric multigrid on grid problems
    /// (its matrix-free hierarchy is the fastest on a plain grid, and it was measured faster
    /// than AMG on a masked 512² grid too: 0.42 s vs 0.53 s in total), algebraic multigrid on
    /// an assembled matrix with no grid behind it.
    pub fn auto(grid: Option<&GridPoisson>) -> (SolverKind, &'static str) {
        match grid {
            Some(g) if g.mask().is_none() && g.is_constant_coefficient() => (
                Self::MgPcg,
                "plain grid: geometric multigrid runs matrix-free on its stencil",
            ),
            Some(_) => (
                Self::MgPcg,
                "grid with a mask or a variable coefficient: geometric multigrid on the grid's \
                 Galerkin hierarchy (measured faster than algebraic multigrid there)",
            ),
            None => (
                Self::AmgPcg,
                "assembled matrix with no grid behind it: algebraic multigrid",
            ),
        }
    }

    /// Whether the method needs a symmetric (positive definite) matrix.
    pub fn needs_symmetry(self) -> bool {
        !matches!(self, Self::Sor)
    }

    /// Whether the method uses ω.
    pub fn uses_omega(self) -> bool {
        matches!(self, Self::Sor | Self::Ssor | Self::SsorPcg)
    }

    /// Whether the method needs the assembled matrix (CG and Jacobi-PCG run matrix-free on a
    /// stencil).
    pub fn needs_matrix(self) -> bool {
        !matches!(self, Self::Cg | Self::JacobiPcg)
    }

    /// Whether the method needs the assembled matrix for this problem: always without a grid
    /// or with a mask (no stencil then); on unmasked grids CG and Jacobi-PCG run on the
    /// matrix-free stencil, and so does `mg-pcg` when the coefficient is constant.
    pub fn needs_matrix_on(self, grid: Option<&GridPoisson>) -> bool {
        match grid {
            Some(g) if g.mask().is_none() => match self {
                Self::Cg | Self::JacobiPcg => false,
                Self::MgPcg => !g.is_constant_coefficient(),
                _ => true,
            },
            _ => true,
        }
    }
}

impl FromStr for SolverKind {
    type Err = SparseError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                SparseError::InvalidParameter(format!(
                    "unknown solver '{}' (expected one of {})",
                    nabla_core::text::one_line(s, 60),
                    names.join(", ")
                ))
            })
    }
}

/// The system to solve: an assembled matrix, a matrix-free operator, or both, plus the grid
/// behind it when there is one.
pub struct System<'a> {
    /// Assembled matrix (required by IC(0), SSOR, SOR, multigrid).
    pub matrix: Option<&'a SparseMatrix>,
    /// Operator used for products in Krylov methods (e.g. a matrix-free stencil); defaults to
    /// the matrix.
    pub operator: Option<&'a dyn LinearOperator>,
    /// The grid problem, required by geometric multigrid.
    pub grid: Option<&'a GridPoisson>,
}

/// Parameters of the solvers that take any: ω for SOR/SSOR/SSOR-PCG, the AMG hierarchy's
/// options for `amg` and `amg-pcg`.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverSettings {
    /// Relaxation factor ω in (0, 2).
    pub omega: f64,
    /// Options of the AMG hierarchy.
    pub amg: AmgOptions,
}

impl Default for SolverSettings {
    fn default() -> Self {
        Self {
            omega: 1.0,
            amg: AmgOptions::default(),
        }
    }
}

/// Builds `kind` for `system` and solves `A x = b` from the given `x`. `omega` is used by SOR,
/// SSOR and SSOR-PCG; AMG uses its default options (see [`solve_with`]). The report's
/// `setup_seconds` covers building the solver (and, for a matrix with no grid behind it,
/// checking its symmetry when the method needs it).
///
/// Errors: [`SparseError::NotSymmetric`] for a nonsymmetric matrix given to a method that
/// needs symmetry (all but SOR), [`SparseError::NotAGrid`] for `mg-pcg` without a grid,
/// [`SparseError::ZeroDiagonal`] for SOR/SSOR/Jacobi/AMG on a zero diagonal,
/// [`SparseError::NotPositiveDefinite`] on a CG breakdown (pᵀAp ≤ 0 with finite values) or a
/// negative diagonal, [`SparseError::Overflow`] when ‖b‖², a residual or pᵀAp leaves the f64
/// range (entries near 1e308: rescale the system), and input-size or NaN errors.
pub fn solve(
    kind: SolverKind,
    system: &System,
    omega: f64,
    b: &[f64],
    x: &mut [f64],
    opts: &SolveOptions,
) -> Result<SolveReport> {
    let settings = SolverSettings {
        omega,
        ..Default::default()
    };
    solve_with(kind, system, &settings, b, x, opts)
}

/// [`solve`] with every solver parameter given.
pub fn solve_with(
    kind: SolverKind,
    system: &System,
    settings: &SolverSettings,
    b: &[f64],
    x: &mut [f64],
    opts: &SolveOptions,
) -> Result<SolveReport> {
    let omega = settings.omega;
    let op: &dyn LinearOperator = match (system.operator, system.matrix) {
        (Some(op), _) => op,
        (None, Some(m)) => m,
        (None, None) => {
            return Err(SparseError::InvalidParameter(
                "no operator or matrix given".into(),
            ))
        }
    };
    let need_matrix = || {
        system.matrix.ok_or_else(|| {
            SparseError::InvalidParameter(format!("{} needs an assembled matrix", kind.name()))
        })
    };
    let t0 = Instant::now();
    // Grid matrices are symmetric by construction; a user's matrix is checked, because CG on a
    // nonsymmetric matrix can "converge" to a wrong answer or stall without saying why.
    let checks_itself = matches!(kind, SolverKind::AmgPcg | SolverKind::Amg);
    if kind.needs_symmetry() && system.grid.is_none() && !checks_itself {
        if let Some(m) = system.matrix {
            m.check_symmetric(kind.name())?;
        }
    }
    let mut solver: Box<dyn Solver + '_> = match kind {
        SolverKind::Cg => Box::new(Cg::new(op)),
        SolverKind::JacobiPcg => Box::new(Pcg::new(op, Box::new(Jacobi::new(op)?))),
        SolverKind::Ic0Pcg => Box::new(Pcg::new(op, Box::new(Ic0::new(need_matrix()?)?))),
        SolverKind::SsorPcg => Box::new(Pcg::new(
            op,
            Box::new(SsorPreconditioner::new(need_matrix()?, omega)?),
        )),
        SolverKind::MgPcg => {
            let grid = system.grid.ok_or_else(|| {
                SparseError::NotAGrid(
                    "a MatrixMarket matrix has no grid hierarchy; use ic0-pcg or cg".into(),
                )
            })?;
            let mg = match system.matrix {
                Some(m) => Multigrid::new(grid, m)?,
                None => Multigrid::matrix_free(grid, MultigridOptions::default())?,
            };
            Box::new(Pcg::new(op, Box::new(mg)))
        }
        SolverKind::AmgPcg => Box::new(Pcg::new(
            op,
            Box::new(Amg::new(need_matrix()?, settings.amg.clone())?),
        )),
        SolverKind::Amg => Box::new(Amg::new(need_matrix()?, settings.amg.clone())?),
        SolverKind::Sor => Box::new(Sor::new(need_matrix()?, omega)?),
        SolverKind::Ssor => Box::new(Ssor::new(need_matrix()?, omega)?),
    };
    let setup_seconds = t0.elapsed().as_secs_f64();
    let mut report = solver.solve(b, x, opts)?;
    report.solver = kind.name().to_string();
    report.setup_seconds = setup_seconds;
    Ok(report)
}
