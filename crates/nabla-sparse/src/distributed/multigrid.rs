//! Geometric multigrid across ranks, as a PCG preconditioner. This module holds the plain-grid
//! hierarchy (a ≡ 1, no mask); masked and variable-coefficient grids use
//! [`super::stencil_mg`].
//!
//! Geometry as in the serial multigrid: vertex-centred coarsening (coarse points are the fine
//! points 1, 3, 5, …, `n_c = n/2`), bilinear/trilinear prolongation `P` (a fine point beyond the
//! grid is dropped), restriction `Pᵀ`. The coarse operators are the Galerkin products `PᵀAP`
//! with the transverse mass lumped: the h²-scaled Laplacian is the Kronecker sum
//! `A = Σ_a K_a ⊗ (⊗_{b≠a} M_b)` of 1-D factors (`K = tridiag(−1, 2, −1)`, `M = I` on the fine
//! level); the 1-D Galerkin products `PᵀKP`, `PᵀMP` are exact, and replacing each transverse
//! `M_b` by its row sums keeps a 5-/7-point stencil — so red–black Gauss–Seidel stays a true
//! Gauss–Seidel — while the boundary rows are exact whatever the parity of the extents (a plain
//! rediscretization is wrong next to the boundary when an extent is even, which measured 13
//! PCG iterations on 2048² against 6 for 2047²).
//!
//! Decomposition: slabs ([`Pencil::slab`]), so every transfer needs only face neighbours.
//! Levels stay distributed while every rank owns at least two lines of the split axis and the
//! level has more than [`GATHER_SIZE`] points; the next level is gathered onto every rank and
//! the rest of the cycle runs replicated (the same arithmetic on every rank, no messages),
//! down to a level of at most [`COARSE_DIRECT`] points solved by dense Cholesky. Every point's
//! arithmetic is the same on any rank, so the cycle — and PCG with it — is bit-identical for
//! every rank count. ν = 2 red–black sweeps before (red, black) and after (black, red) the
//! coarse correction: a symmetric V-cycle.

use super::grid::{DistGridPoisson, Halo};
use super::pencil::Pencil;
use super::stencil_mg::StencilMultigrid;
use crate::amg::dense::DenseCholesky;
use crate::amg::matrix::Csr;
use crate::error::{Result, SparseError};
use nabla_core::comm::{Communicator, SerialComm};
use nabla_core::GridShape;
use rayon::prelude::*;

/// Levels with at most this many points are gathered onto every rank.
pub const GATHER_SIZE: usize = 32_768;

/// The coarsest level has at most this many points (or cannot be coarsened further) and is
/// solved exactly.
pub const COARSE_DIRECT: usize = 1000;

/// Red–black Gauss–Seidel sweeps before and after each coarse correction.
const SWEEPS: usize = 2;

/// The 1-D factors of a level operator along one axis.
#[derive(Clone, Debug)]
struct Axis {
    /// Stiffness rows `[i−1, i, i+1]`.
    k: Vec<[f64; 3]>,
    /// Mass rows `[i−1, i, i+1]` (kept exact for the next Galerkin product).
    mass: Vec<[f64; 3]>,
    /// Row sums of `mass`: the lumped transverse weight.
    lumped: Vec<f64>,
}

impl Axis {
    /// The fine level: `K = tridiag(−1, 2, −1)`, `M = I`.
    fn fine(n: usize) -> Self {
        Self {
            k: (0..n)
                .map(|i| {
                    [
                        if i > 0 { -1.0 } else { 0.0 },
                        2.0,
                        if i + 1 < n { -1.0 } else { 0.0 },
                    ]
                })
                .collect(),
            mass: vec![[0.0, 1.0, 0.0]; n],
            lumped: vec![1.0; n],
        }
    }

    /// `PᵀKP`, `PᵀMP` on the coarse points of this axis.
    fn coarsened(&self) -> Self {
        let mass = galerkin_1d(&self.mass);
        let lumped = mass.iter().map(|r| (r[0] + r[1]) + r[2]).collect();
        Self {
            k: galerkin_1d(&self.k),
            mass,
            lumped,
        }
    }
}

/// `Pᵀ T P` of a tridiagonal `T` for the 1-D linear interpolation (coarse `I` at fine `2I+1`,
/// weights ½, 1, ½ at fine `2I, 2I+1, 2I+2`; fine points beyond `n` dropped).
fn galerkin_1d(t: &[[f64; 3]]) -> Vec<[f64; 3]> {
    let n = t.len();
    let nc = n / 2;
    let column = |c: usize| {
        [(2 * c, 0.5), (2 * c + 1, 1.0), (2 * c + 2, 0.5)]
            .into_iter()
            .filter(move |&(f, _)| f < n)
    };
    let entry = |f: usize, g: usize| -> f64 {
        match g as isize - f as isize {
            -1 => t[f][0],
            0 => t[f][1],
            1 => t[f][2],
            _ => 0.0,
        }
    };
    (0..nc)
        .map(|i| {
            let mut row = [0.0; 3];
            for (slot, j) in [
                (0usize, i as isize - 1),
                (1, i as isize),
                (2, i as isize + 1),
            ] {
                if j < 0 || j as usize >= nc {
                    continue;
                }
                let mut s = 0.0;
                for (f, wf) in column(i) {
                    for (g, wg) in column(j as usize) {
                        s += wf * entry(f, g) * wg;
                    }
                }
                row[slot] = s;
            }
            row
        })
        .collect()
}

/// The 5-/7-point stencil of a level at the points of one line: per point its neighbour
/// coefficients `[x−, x+, y−, y+, z−, z+]` and diagonal, computed from the 1-D factors.
struct LineStencil<'a> {
    axes: &'a [Axis],
    j: usize,
    k: usize,
}

impl LineStencil<'_> {
    #[inline]
    fn at(&self, i: usize) -> ([f64; 6], f64) {
        let a = self.axes;
        let ax = &a[0];
        let (my, ky) = match a.get(1) {
            Some(ay) => (ay.lumped[self.j], ay.k[self.j]),
            None => (1.0, [0.0; 3]),
        };
        let (mz, kz) = match a.get(2) {
            Some(az) => (az.lumped[self.k], az.k[self.k]),
            None => (1.0, [0.0; 3]),
        };
        let (mx, kx) = (ax.lumped[i], ax.k[i]);
        let myz = my * mz;
        let mxz = mx * mz;
        let mxy = mx * my;
        let c = [
            kx[0] * myz,
            kx[2] * myz,
            ky[0] * mxz,
            ky[2] * mxz,
            kz[0] * mxy,
            kz[2] * mxy,
        ];
        let d = (kx[1] * myz + ky[1] * mxz) + kz[1] * mxy;
        (c, d)
    }
}

/// One level of the hierarchy.
struct Level {
    /// Pencil, halo exchange and neighbour lines (its own unit stencil is not used).
    op: DistGridPoisson,
    axes: Vec<Axis>,
    /// The whole level on every rank (no messages); otherwise this rank's slab.
    replicated: bool,
    /// The fine level: the plain stencil (neighbours −1, diagonal 2d), no per-point factors.
    unit: bool,
    /// Distributed levels: every rank's part (to gather the level for the coarse solve).
    all: Vec<Pencil>,
    x: Vec<f64>,
    b: Vec<f64>,
    r: Vec<f64>,
    halo: Halo,
}

impl Level {
    fn new(pencil: Pencil, all: Vec<Pencil>, axes: Vec<Axis>, replicated: bool) -> Self {
        let n = pencil.len();
        Self {
            op: DistGridPoisson::unit(&pencil.shape(), pencil),
            unit: axes.iter().all(|a| a.lumped.iter().all(|&m| m == 1.0)),
            axes,
            replicated,
            all,
            x: vec![0.0; n],
            b: vec![0.0; n],
            r: vec![0.0; n],
            halo: Halo::default(),
        }
    }

    fn pencil(&self) -> &Pencil {
        self.op.pencil()
    }

    /// The communicator of this level's operations: nobody to talk to when replicated.
    fn comm<'c>(&self, comm: &'c dyn Communicator) -> &'c dyn Communicator {
        if self.replicated {
            &SerialComm
        } else {
            comm
        }
    }
}

/// One symmetric V-cycle across ranks: `z ← M⁻¹ r` on this rank's block. Plain grids run the
/// Kronecker-factored hierarchy of this module; masked and variable-coefficient grids the
/// stencil hierarchy of `distributed/stencil_mg.rs` (Galerkin levels, the serial multigrid's
/// method).
pub struct DistMultigrid {
    kind: Hierarchy,
}

enum Hierarchy {
    Plain(PlainMultigrid),
    Stencil(StencilMultigrid),
}

/// The plain-grid hierarchy (a ≡ 1, no mask).
struct PlainMultigrid {
    levels: Vec<Level>,
    /// Dense Cholesky of the coarsest level (the whole level, on every rank).
    direct: DenseCholesky,
    /// Scratch for the coarsest solve.
    coarse_x: Vec<f64>,
}

impl DistMultigrid {
    /// The hierarchy of `problem` on a slab decomposition ([`Pencil::slab`]). Every rank must
    /// call it: plain grids send no messages, masked and variable-coefficient ones exchange the
    /// fine stencil's halo and gather the coarse levels.
    pub fn new(problem: &DistGridPoisson, comm: &dyn Communicator) -> Result<Self> {
        if !problem.pencil().is_slab() {
            return Err(SparseError::InvalidParameter(
                "the distributed multigrid needs a slab decomposition (Pencil::slab)".into(),
            ));
        }
        let kind = if problem.is_plain() {
            Hierarchy::Plain(PlainMultigrid::new(problem)?)
        } else {
            Hierarchy::Stencil(StencilMultigrid::new(problem, comm)?)
        };
        Ok(Self { kind })
    }

    /// Number of levels kept distributed (the fine one included).
    pub fn distributed_levels(&self) -> usize {
        match &self.kind {
            Hierarchy::Plain(m) => m.distributed_levels(),
            Hierarchy::Stencil(m) => m.distributed_levels(),
        }
    }

    /// Number of levels in all.
    pub fn levels(&self) -> usize {
        match &self.kind {
            Hierarchy::Plain(m) => m.levels.len(),
            Hierarchy::Stencil(m) => m.levels(),
        }
    }

    /// The shape of the first level gathered onto every rank (the coarsest one if none is).
    pub fn coarse_shape(&self) -> GridShape {
        match &self.kind {
            Hierarchy::Plain(m) => m.coarse_shape(),
            Hierarchy::Stencil(m) => m.coarse_shape(),
        }
    }

    /// Whether the levels are Galerkin stencils (masked or variable-coefficient grids) rather
    /// than the plain grid's factored operators.
    pub fn is_galerkin(&self) -> bool {
        matches!(self.kind, Hierarchy::Stencil(_))
    }

    /// `z ← M⁻¹ r` (collective).
    pub fn apply(&mut self, comm: &dyn Communicator, r: &[f64], z: &mut [f64]) {
        match &mut self.kind {
            Hierarchy::Plain(m) => m.apply(comm, r, z),
            Hierarchy::Stencil(m) => m.apply(comm, r, z),
        }
    }
}

impl PlainMultigrid {
    fn new(problem: &DistGridPoisson) -> Result<Self> {
        let fine = problem.pencil().clone();
        let ndim = fine.ndim;
        let axes: Vec<Axis> = (0..ndim).map(|a| Axis::fine(fine.global[a])).collect();
        let mut levels = vec![Level::new(
            fine.clone(),
            fine.all_on_same_grid(),
            axes,
            false,
        )];
        loop {
            let last = levels.last().expect("at least the fine level");
            let p = last.pencil();
            let points: usize = p.global.iter().product();
            if points <= COARSE_DIRECT || p.global[..ndim].iter().any(|&n| n < 4) {
                break;
            }
            let coarse_axes: Vec<Axis> = last.axes.iter().map(Axis::coarsened).collect();
            let coarse = p.coarsened();
            let coarse_all: Vec<Pencil> = last.all.iter().map(Pencil::coarsened).collect();
            let coarse_points: usize = coarse.global.iter().product();
            let split_lines = |q: &Pencil| if q.ranks[1] > 1 { q.nz() } else { q.ny() };
            let stays_distributed = !last.replicated
                && coarse_points > GATHER_SIZE
                && coarse_all.iter().all(|q| split_lines(q) >= 2);
            let level = if stays_distributed {
                Level::new(coarse, coarse_all, coarse_axes, false)
            } else {
                let shape = coarse.shape();
                let whole = Pencil::with_process_grid(&shape, 0, 1, [1, 1])?;
                Level::new(whole.clone(), vec![whole], coarse_axes, true)
            };
            levels.push(level);
        }
        let coarsest = levels.last().expect("at least the fine level");
        let direct = DenseCholesky::new(&level_matrix(coarsest));
        let n = coarsest.pencil().shape().len();
        Ok(Self {
            levels,
            direct,
            coarse_x: vec![0.0; n],
        })
    }

    fn distributed_levels(&self) -> usize {
        self.levels.iter().filter(|l| !l.replicated).count()
    }

    fn coarse_shape(&self) -> GridShape {
        self.levels
            .iter()
            .find(|l| l.replicated)
            .unwrap_or_else(|| self.levels.last().expect("levels"))
            .pencil()
            .shape()
    }

    fn apply(&mut self, comm: &dyn Communicator, r: &[f64], z: &mut [f64]) {
        self.levels[0].b.copy_from_slice(r);
        self.cycle(comm, 0);
        z.copy_from_slice(&self.levels[0].x);
    }

    fn cycle(&mut self, comm: &dyn Communicator, l: usize) {
        if l + 1 == self.levels.len() {
            self.solve_coarsest(comm);
            return;
        }
        {
            let lev = &mut self.levels[l];
            let c = lev.comm(comm);
            lev.x.iter_mut().for_each(|v| *v = 0.0);
            for _ in 0..SWEEPS {
                half_sweep(c, lev, 0);
                half_sweep(c, lev, 1);
            }
            residual(c, lev);
            lev.op.exchange(c, &lev.r, &mut lev.halo);
        }
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&fine[l], &mut coarse[0]);
            if c.replicated && !f.replicated {
                // This rank restricts onto the coarse points above its slab, then every rank
                // gathers the whole coarse right-hand side.
                let mine = f.pencil().coarsened();
                let mut part = vec![0.0; mine.len()];
                restrict(f, &mine, &mut part);
                let parts: Vec<Pencil> = f.all.iter().map(Pencil::coarsened).collect();
                c.b = assemble(comm, &parts, &part);
            } else {
                let target = c.pencil().clone();
                restrict(f, &target, &mut c.b);
            }
        }
        self.cycle(comm, l + 1);
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&mut fine[l], &mut coarse[0]);
            if c.replicated {
                let whole = c.pencil().clone();
                prolong_add(f, &whole, &CoarseSource::Whole(&c.x));
            } else {
                c.op.exchange(comm, &c.x, &mut c.halo);
                let cp = c.pencil().clone();
                let ghosts = [
                    c.halo.received(0),
                    c.halo.received(1),
                    c.halo.received(2),
                    c.halo.received(3),
                ];
                prolong_add(f, &cp, &CoarseSource::Slab { x: &c.x, ghosts });
            }
        }
        let lev = &mut self.levels[l];
        let c = lev.comm(comm);
        for _ in 0..SWEEPS {
            half_sweep(c, lev, 1);
            half_sweep(c, lev, 0);
        }
    }

    /// The coarsest level exactly (gathered first if it is still distributed: tiny grids).
    fn solve_coarsest(&mut self, comm: &dyn Communicator) {
        let lev = self.levels.last_mut().expect("levels");
        if lev.replicated {
            self.direct.solve(&lev.b, &mut lev.x);
        } else {
            let whole = assemble(comm, &lev.all, &lev.b);
            self.direct.solve(&whole, &mut self.coarse_x);
            let mine = lev.pencil().extract(&self.coarse_x);
            lev.x.copy_from_slice(&mine);
        }
    }
}

/// The whole coarsest level as a CSR matrix (for the dense factorization).
fn level_matrix(lev: &Level) -> Csr {
    let shape = lev.pencil().shape();
    let d = shape.dims().to_vec();
    let (nx, ny, nz) = (d[0], *d.get(1).unwrap_or(&1), *d.get(2).unwrap_or(&1));
    let mut rows = Vec::with_capacity(nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            let st = LineStencil {
                axes: &lev.axes,
                j,
                k,
            };
            for i in 0..nx {
                let (c, diag) = st.at(i);
                let p = i + nx * (j + ny * k);
                let mut row = vec![(p as u32, diag)];
                let neighbours = [
                    (i > 0, p.wrapping_sub(1), c[0]),
                    (i + 1 < nx, p + 1, c[1]),
                    (j > 0, p.wrapping_sub(nx), c[2]),
                    (j + 1 < ny, p + nx, c[3]),
                    (k > 0, p.wrapping_sub(nx * ny), c[4]),
                    (k + 1 < nz, p + nx * ny, c[5]),
                ];
                row.extend(
                    neighbours
                        .iter()
                        .filter(|n| n.0)
                        .map(|&(_, q, v)| (q as u32, v)),
                );
                rows.push(row);
            }
        }
    }
    Csr::from_rows(nx * ny * nz, rows)
}

/// Gathers every rank's part of a level onto every rank, as a vector over the level's grid.
fn assemble(comm: &dyn Communicator, parts: &[Pencil], local: &[f64]) -> Vec<f64> {
    let all = comm.allgather_f64(local);
    let n: usize = parts[0].global.iter().product();
    let mut whole = vec![0.0; n];
    let mut offset = 0;
    for p in parts {
        p.place(&all[offset..offset + p.len()], &mut whole);
        offset += p.len();
    }
    whole
}

/// Raw access to a level vector from parallel line tasks that touch disjoint points.
#[derive(Clone, Copy)]
pub(super) struct SharedMut(*mut f64);
// SAFETY: used only by tasks that write disjoint points and read only points no task writes
// in the same loop (see each use).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// A pointer into `v` for tasks that write disjoint points of it.
    pub(super) fn new(v: &mut [f64]) -> Self {
        Self(v.as_mut_ptr())
    }

    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    pub(super) fn get(self) -> *mut f64 {
        self.0
    }
}

/// One red–black half-sweep of colour `colour` (parity of the global i + j + k) on `A x = b`,
/// in place: a point of one colour reads only points of the other colour.
fn half_sweep(comm: &dyn Communicator, lev: &mut Level, colour: usize) {
    let Level {
        op,
        axes,
        x,
        b,
        halo,
        unit,
        ..
    } = lev;
    let unit = *unit;
    op.exchange(comm, x, halo);
    let p = op.pencil();
    let nx = p.nx();
    let (nyl, nzl) = (p.ny(), p.nz());
    let ghosts = [
        halo.received(0),
        halo.received(1),
        halo.received(2),
        halo.received(3),
    ];
    let zeros = vec![0.0; nx];
    let xp = SharedMut(x.as_mut_ptr());
    let ndim = p.ndim;
    (0..p.lines()).into_par_iter().for_each(|line| {
        let base = xp.get();
        let (jl, kl) = p.line_coords(line);
        let (j, k) = (p.y.start + jl, p.z.start + kl);
        // Neighbour lines as raw pointers: into x for local lines, into the received faces or
        // a zero line otherwise.
        let local = |l: usize| base.wrapping_add(l * nx) as *const f64;
        let s: *const f64 = if ndim < 2 {
            zeros.as_ptr()
        } else if jl > 0 {
            local(line - 1)
        } else if p.neighbours[0].is_some() {
            ghosts[0][kl * nx..].as_ptr()
        } else {
            zeros.as_ptr()
        };
        let n: *const f64 = if ndim < 2 {
            zeros.as_ptr()
        } else if jl + 1 < nyl {
            local(line + 1)
        } else if p.neighbours[1].is_some() {
            ghosts[1][kl * nx..].as_ptr()
        } else {
            zeros.as_ptr()
        };
        let bo: *const f64 = if ndim < 3 {
            zeros.as_ptr()
        } else if kl > 0 {
            local(line - nyl)
        } else if p.neighbours[2].is_some() {
            ghosts[2][jl * nx..].as_ptr()
        } else {
            zeros.as_ptr()
        };
        let t: *const f64 = if ndim < 3 {
            zeros.as_ptr()
        } else if kl + 1 < nzl {
            local(line + nyl)
        } else if p.neighbours[3].is_some() {
            ghosts[3][jl * nx..].as_ptr()
        } else {
            zeros.as_ptr()
        };
        let st = LineStencil { axes, j, k };
        let bl = &b[line * nx..(line + 1) * nx];
        let xl = base.wrapping_add(line * nx);
        let mut i = (j + k + colour) % 2;
        if unit {
            let d = 2.0 * ndim as f64;
            // SAFETY: as below.
            unsafe {
                while i < nx {
                    let w = if i > 0 { *xl.add(i - 1) } else { 0.0 };
                    let e = if i + 1 < nx { *xl.add(i + 1) } else { 0.0 };
                    let off = ((w + e) + (*s.add(i) + *n.add(i))) + (*bo.add(i) + *t.add(i));
                    *xl.add(i) = (bl[i] + off) / d;
                    i += 2;
                }
            }
            return;
        }
        // SAFETY: this task writes only the points of its own line with the current colour;
        // every read (i ± 1 on this line, the same i on the four neighbour lines) is of a point
        // of the other colour, which no task writes in this half-sweep, or of a received face
        // or the zero line; all indices are below nx.
        unsafe {
            while i < nx {
                let (c, d) = st.at(i);
                let w = if i > 0 { *xl.add(i - 1) } else { 0.0 };
                let e = if i + 1 < nx { *xl.add(i + 1) } else { 0.0 };
                let off = ((c[0] * w + c[1] * e) + (c[2] * *s.add(i) + c[3] * *n.add(i)))
                    + (c[4] * *bo.add(i) + c[5] * *t.add(i));
                *xl.add(i) = (bl[i] - off) / d;
                i += 2;
            }
        }
    });
}

/// `r ← b − A x` on a level (the halo of x is exchanged first).
fn residual(comm: &dyn Communicator, lev: &mut Level) {
    if lev.unit {
        // The plain stencil is the level operator's own product.
        let Level {
            op, x, b, r, halo, ..
        } = lev;
        op.apply(comm, x, r, halo);
        r.par_iter_mut()
            .zip(b.par_iter())
            .for_each(|(ri, bi)| *ri = bi - *ri);
        return;
    }
    let Level {
        op,
        axes,
        x,
        b,
        r,
        halo,
        ..
    } = lev;
    op.exchange(comm, x, halo);
    let p = op.pencil();
    let nx = p.nx();
    let ghosts = [
        halo.received(0),
        halo.received(1),
        halo.received(2),
        halo.received(3),
    ];
    let xs: &[f64] = x;
    r.par_chunks_mut(nx).enumerate().for_each(|(line, rl)| {
        let (jl, kl) = p.line_coords(line);
        let st = LineStencil {
            axes,
            j: p.y.start + jl,
            k: p.z.start + kl,
        };
        let [s, n, bo, t] = op.neighbour_lines(xs, &ghosts, line);
        let xl = &xs[line * nx..(line + 1) * nx];
        let bl = &b[line * nx..(line + 1) * nx];
        for i in 0..nx {
            let (c, d) = st.at(i);
            let w = if i > 0 { xl[i - 1] } else { 0.0 };
            let e = if i + 1 < nx { xl[i + 1] } else { 0.0 };
            let off = ((c[0] * w + c[1] * e) + (c[2] * s[i] + c[3] * n[i]))
                + (c[4] * bo[i] + c[5] * t[i]);
            rl[i] = bl[i] - (d * xl[i] + off);
        }
    });
}

/// A fine line of `v` along the split axis as seen from this rank: local, a received face, or
/// beyond the boundary (`None`).
fn fine_line<'a>(lev: &'a Level, v: &'a [f64], j: isize, k: isize) -> Option<&'a [f64]> {
    let p = lev.pencil();
    let nx = p.nx();
    let [_, ny, nz] = p.global;
    if j < 0 || k < 0 || j as usize >= ny || k as usize >= nz {
        return None;
    }
    let jl = j - p.y.start as isize;
    let kl = k - p.z.start as isize;
    let (nyl, nzl) = (p.ny() as isize, p.nz() as isize);
    let halo = &lev.halo;
    let row = |f: usize, idx: isize| -> &'a [f64] {
        let idx = idx as usize;
        &halo.received(f)[idx * nx..(idx + 1) * nx]
    };
    if (0..nyl).contains(&jl) && (0..nzl).contains(&kl) {
        let l = p.line(jl as usize, kl as usize);
        Some(&v[l * nx..(l + 1) * nx])
    } else if jl == -1 {
        Some(row(0, kl))
    } else if jl == nyl {
        Some(row(1, kl))
    } else if kl == -1 {
        Some(row(2, jl))
    } else if kl == nzl {
        Some(row(3, jl))
    } else {
        panic!("multigrid restriction reached a line beyond the face halos")
    }
}

/// `b_c ← Pᵀ r` on the coarse lines of `coarse` (the fine level's residual and its halo are
/// current).
fn restrict(fine: &Level, coarse: &Pencil, bc: &mut [f64]) {
    let ncx = coarse.nx();
    let nfx = fine.pencil().nx();
    let ndim = coarse.ndim;
    const W: [f64; 3] = [0.5, 1.0, 0.5];
    let r = &fine.r;
    bc.par_chunks_mut(ncx.max(1))
        .enumerate()
        .for_each(|(cl, out)| {
            let (jc, kc) = coarse.line_coords(cl);
            let (gj, gk) = (
                (coarse.y.start + jc) as isize,
                (coarse.z.start + kc) as isize,
            );
            out.iter_mut().for_each(|v| *v = 0.0);
            // Fine lines 2J, 2J+1, 2J+2 (and 2K.. in 3-D) with weights ½, 1, ½; one line with
            // weight 1 along an axis the problem does not have.
            let taps = |present: bool, g: isize| -> Vec<(isize, f64)> {
                if present {
                    W.iter()
                        .enumerate()
                        .map(|(o, &w)| (2 * g + o as isize, w))
                        .collect()
                } else {
                    vec![(0, 1.0)]
                }
            };
            for (fk, wz) in taps(ndim == 3, gk) {
                for (fj, wy) in taps(ndim >= 2, gj) {
                    let weight = wy * wz;
                    let Some(line) = fine_line(fine, r, fj, fk) else {
                        continue;
                    };
                    for (ic, o) in out.iter_mut().enumerate() {
                        let f0 = line[2 * ic];
                        let f1 = line[2 * ic + 1];
                        let f2 = if 2 * ic + 2 < nfx {
                            line[2 * ic + 2]
                        } else {
                            0.0
                        };
                        *o += weight * ((0.5 * f0 + f1) + 0.5 * f2);
                    }
                }
            }
        });
}

/// Where prolongation reads the coarse correction.
enum CoarseSource<'a> {
    /// A distributed coarse level: this rank's slab and its received faces.
    Slab {
        x: &'a [f64],
        ghosts: [&'a [f64]; 4],
    },
    /// A replicated coarse level: all of it.
    Whole(&'a [f64]),
}

/// `x_f ← x_f + P x_c` on this rank's fine lines.
fn prolong_add(fine: &mut Level, coarse: &Pencil, src: &CoarseSource) {
    let fp = fine.op.pencil().clone();
    let nx = fp.nx();
    let ncx = coarse.nx();
    let ndim = fp.ndim;
    let [_, ncy, ncz] = coarse.global;
    fn row(g: &[f64], i: isize, ncx: usize) -> &[f64] {
        let i = i as usize;
        &g[i * ncx..(i + 1) * ncx]
    }
    let coarse_line = |j: isize, k: isize| -> Option<&[f64]> {
        if j < 0 || k < 0 || j as usize >= ncy || k as usize >= ncz {
            return None;
        }
        match src {
            CoarseSource::Whole(x) => {
                let start = ncx * (j as usize + ncy * k as usize);
                Some(&x[start..start + ncx])
            }
            CoarseSource::Slab { x, ghosts } => {
                let jl = j - coarse.y.start as isize;
                let kl = k - coarse.z.start as isize;
                let (ny, nz) = (coarse.ny() as isize, coarse.nz() as isize);
                if (0..ny).contains(&jl) && (0..nz).contains(&kl) {
                    let l = coarse.line(jl as usize, kl as usize);
                    Some(&x[l * ncx..(l + 1) * ncx])
                } else if jl == -1 {
                    Some(row(ghosts[0], kl, ncx))
                } else if jl == ny {
                    Some(row(ghosts[1], kl, ncx))
                } else if kl == -1 {
                    Some(row(ghosts[2], jl, ncx))
                } else if kl == nz {
                    Some(row(ghosts[3], jl, ncx))
                } else {
                    panic!("prolongation reached a coarse line beyond the face halos")
                }
            }
        }
    };
    // 1-D parents of fine index f: (coarse index, weight); weight 0 marks no second parent.
    let parents = |f: usize| -> [(isize, f64); 2] {
        if f % 2 == 1 {
            [(((f - 1) / 2) as isize, 1.0), (0, 0.0)]
        } else {
            [((f / 2) as isize - 1, 0.5), ((f / 2) as isize, 0.5)]
        }
    };
    fine.x
        .par_chunks_mut(nx)
        .enumerate()
        .for_each(|(line, out)| {
            let (jl, kl) = fp.line_coords(line);
            let (gj, gk) = (fp.y.start + jl, fp.z.start + kl);
            let py = if ndim >= 2 {
                parents(gj)
            } else {
                [(0, 1.0), (0, 0.0)]
            };
            let pz = if ndim == 3 {
                parents(gk)
            } else {
                [(0, 1.0), (0, 0.0)]
            };
            for &(ck, wz) in &pz {
                if wz == 0.0 {
                    continue;
                }
                for &(cj, wy) in &py {
                    if wy == 0.0 {
                        continue;
                    }
                    let Some(c) = coarse_line(cj, ck) else {
                        continue;
                    };
                    let w = wy * wz;
                    for (i, o) in out.iter_mut().enumerate() {
                        let v = if i % 2 == 1 {
                            c[(i - 1) / 2]
                        } else {
                            let left = if i >= 2 { c[i / 2 - 1] } else { 0.0 };
                            let right = if i / 2 < ncx { c[i / 2] } else { 0.0 };
                            0.5 * (left + right)
                        };
                        *o += w * v;
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lumped 1-D Galerkin factors: interior rows of PᵀKP are ½·(−1, 2, −1), the last row of
    /// an even extent carries the extra ½ the boundary at half a coarse cell gives, and PᵀP's row
    /// sums are 2 inside.
    #[test]
    fn one_dimensional_galerkin_factors() {
        let even = Axis::fine(8).coarsened();
        assert_eq!(even.k.len(), 4);
        assert_eq!(even.k[1], [-0.5, 1.0, -0.5]);
        assert_eq!(even.k[3], [-0.5, 1.5, 0.0]);
        assert_eq!(even.lumped[1], 2.0);
        assert_eq!(even.lumped[3], 1.5);
        let odd = Axis::fine(7).coarsened();
        assert_eq!(odd.k.len(), 3);
        assert_eq!(odd.k[2], [-0.5, 1.0, 0.0]);
        // Fine point 6 has coarse point 2 as its only parent: its mass is not shared.
        assert_eq!(odd.lumped[2], 1.75);
    }
}
