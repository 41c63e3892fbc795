//! Geometric multigrid across ranks for masked and variable-coefficient grids: the general
//! counterpart of the plain-grid hierarchy in [`super::multigrid`], with the serial
//! multigrid's method ([`crate::Multigrid`]) on a slab decomposition.
//!
//! - **Levels** keep their operator as an explicit stencil per point: the fine level its
//!   5-/7-point rows (face coefficients as the distributed operator applies them), every coarser
//!   level the 9-/27-point Galerkin product `A_c = Pᵀ A P` of bilinear/trilinear interpolation
//!   (coarse point `I` at fine `2I + 1`, a fine point beyond the grid dropped), computed row by
//!   row from the ≤ 3 fine points per axis under each coarse one.
//! - **Obstacles**: the hierarchy lives on the full grid, where solid cells are decoupled
//!   identity rows scaled by the largest fluid diagonal (a maximum, so the same on any rank
//!   count); the fluid cells' couplings to them are dropped, as the operator's are. The cycle's
//!   output is zeroed on solid cells, so `M⁻¹` is a principal submatrix of an SPD map.
//! - **Smoothing**: Gauss–Seidel, red–black on the fine level (colour = parity of the *global*
//!   `i + j + k`), by the `2^d` colours `(i mod 2, j mod 2, k mod 2)` on Galerkin levels, so a
//!   colour-wise sweep is a true Gauss–Seidel sweep. Each colour starts with a halo exchange.
//!   ν = 2 sweeps before (colours ascending) and after (descending): a symmetric V-cycle.
//! - **Storage**: every level vector and stencil is padded with one ghost layer per axis. Along
//!   the split axis the ghost planes next to another rank hold that rank's plane after an
//!   exchange (planes are contiguous, the split axis being the outermost one); elsewhere they are
//!   zero, the Dirichlet boundary. The Galerkin product reads the fine stencils one plane beyond
//!   this rank's, exchanged once at set-up.
//!
//! Levels stay distributed while every rank owns at least two planes and the level has more
//! than [`GATHER_SIZE`] points; the next one is gathered onto every rank and the rest runs
//! replicated, down to at most [`COARSE_DIRECT`] points solved by dense Cholesky. Every point's
//! arithmetic (stencils, sums in a fixed order) is the same on any rank, so the cycle — and PCG
//! with it — gives the same bits for every rank count.

// Stencil arithmetic indexes several per-axis arrays (offsets, extents, weights) by the same
// axis or offset; iterator chains over them would hide which axis is meant.
#![allow(clippy::needless_range_loop)]

use super::grid::DistGridPoisson;
use super::multigrid::{SharedMut, COARSE_DIRECT, GATHER_SIZE};
use crate::amg::dense::DenseCholesky;
use crate::amg::matrix::Csr;
use crate::error::{Result, SparseError};
use crate::multigrid::level::for_each_line;
use nabla_core::comm::{Communicator, SerialComm};
use nabla_core::GridShape;

/// Gauss–Seidel sweeps before and after each coarse correction.
const SWEEPS: usize = 2;

/// 1-D interpolation weights of the fine points `2I, 2I + 1, 2I + 2` under coarse point `I`.
const W: [f64; 3] = [0.5, 1.0, 0.5];

/// One rank's part of a level: global extents, the owned planes of the split axis and the
/// padded local layout.
#[derive(Clone, Debug)]
struct Part {
    /// Global extents (1 on axes the problem does not have).
    n: [usize; 3],
    nd: usize,
    /// The split axis: the outermost active one.
    split: usize,
    /// Owned planes `lo..hi` of the split axis (global indices).
    lo: usize,
    hi: usize,
    /// Ranks owning the planes below `lo` and from `hi` on.
    below: Option<usize>,
    above: Option<usize>,
    /// Padded local strides (x fastest).
    st: [usize; 3],
    /// Padded local length.
    len: usize,
}

impl Part {
    fn new(
        n: [usize; 3],
        nd: usize,
        lo: usize,
        hi: usize,
        below: Option<usize>,
        above: Option<usize>,
    ) -> Self {
        let split = nd - 1;
        let m: Vec<usize> = (0..3)
            .map(|a| {
                if a >= nd {
                    1
                } else if a == split {
                    hi - lo + 2
                } else {
                    n[a] + 2
                }
            })
            .collect();
        Self {
            n,
            nd,
            split,
            lo,
            hi,
            below,
            above,
            st: [1, m[0], m[0] * m[1]],
            len: m[0] * m[1] * m[2],
        }
    }

    /// The whole level on one rank.
    fn whole(n: [usize; 3], nd: usize) -> Self {
        Self::new(n, nd, 0, n[nd - 1], None, None)
    }

    fn points(&self) -> usize {
        self.n.iter().product()
    }

    /// Padded values per plane of the split axis.
    fn plane(&self) -> usize {
        self.st[self.split]
    }

    /// Padded local index of global point `g` (ghosts: −1 and `n` on each axis, `lo − 1` and
    /// `hi` on the split one).
    #[inline]
    fn index(&self, g: [isize; 3]) -> usize {
        let mut p = 0isize;
        for a in 0..self.nd {
            let base = if a == self.split { self.lo as isize } else { 0 };
            p += (g[a] - base + 1) * self.st[a] as isize;
        }
        p as usize
    }

    /// Owned x-lines as `(j, k)` global pairs, in storage order.
    fn line_count(&self) -> usize {
        match self.nd {
            1 => 1,
            2 => self.hi - self.lo,
            _ => self.n[1] * (self.hi - self.lo),
        }
    }

    #[inline]
    fn line_jk(&self, l: usize) -> (usize, usize) {
        match self.nd {
            1 => (0, 0),
            2 => (self.lo + l, 0),
            _ => (l % self.n[1], self.lo + l / self.n[1]),
        }
    }

    /// Padded index of point `i = 0` of owned line `l`.
    #[inline]
    fn line_base(&self, l: usize) -> usize {
        let (j, k) = self.line_jk(l);
        self.index([0, j as isize, k as isize])
    }

    /// Owned interior points' count along x (the line length).
    fn nx(&self) -> usize {
        if self.nd == 1 {
            self.hi - self.lo
        } else {
            self.n[0]
        }
    }

    /// Padded offset of a unit step along each axis.
    fn step(&self, d: [isize; 3]) -> isize {
        (0..3).map(|a| d[a] * self.st[a] as isize).sum()
    }

    /// Sends this rank's first and last owned planes (of `width` values per point) to the ranks
    /// below and above and receives theirs into the ghost planes.
    fn exchange(&self, comm: &dyn Communicator, v: &mut [f64], width: usize) {
        if self.below.is_none() && self.above.is_none() {
            return;
        }
        let pl = self.plane() * width;
        let owned = self.hi - self.lo;
        let (ghost_lo, rest) = v.split_at_mut(pl);
        let (inner, ghost_hi) = rest.split_at_mut(owned * pl);
        let first = &inner[..pl];
        let last = &inner[(owned - 1) * pl..];
        let mut sends: Vec<(usize, &[f64])> = Vec::with_capacity(2);
        let mut recvs: Vec<(usize, &mut [f64])> = Vec::with_capacity(2);
        if let Some(r) = self.below {
            sends.push((r, first));
            recvs.push((r, &mut ghost_lo[..pl]));
        }
        if let Some(r) = self.above {
            sends.push((r, last));
            recvs.push((r, &mut ghost_hi[..pl]));
        }
        comm.exchange(&sends, &mut recvs, &mut || {});
    }

    /// The owned planes of `v` (padded, `width` values per point) as one slice.
    fn owned_planes<'v>(&self, v: &'v [f64], width: usize) -> &'v [f64] {
        let pl = self.plane() * width;
        &v[pl..pl * (self.hi - self.lo + 1)]
    }
}

/// The stencil slots of a level: offsets and their padded linear form.
#[derive(Clone, Debug)]
struct Slots {
    delta: Vec<[isize; 3]>,
    offset: Vec<isize>,
    center: usize,
    /// 5-/7-point (red–black) or 9-/27-point (2^d colours).
    compact: bool,
}

impl Slots {
    fn compact(part: &Part) -> Self {
        let mut delta = vec![[0; 3]];
        for a in 0..part.nd {
            for s in [-1, 1] {
                let mut d = [0; 3];
                d[a] = s;
                delta.push(d);
            }
        }
        Self::from_delta(part, delta, 0, true)
    }

    fn full(part: &Part) -> Self {
        let span = |a: usize| if a < part.nd { -1..=1 } else { 0..=0 };
        let mut delta = Vec::new();
        for dz in span(2) {
            for dy in span(1) {
                for dx in span(0) {
                    delta.push([dx, dy, dz]);
                }
            }
        }
        let center = delta.len() / 2;
        Self::from_delta(part, delta, center, false)
    }

    fn from_delta(part: &Part, delta: Vec<[isize; 3]>, center: usize, compact: bool) -> Self {
        Self {
            offset: delta.iter().map(|&d| part.step(d)).collect(),
            delta,
            center,
            compact,
        }
    }

    fn len(&self) -> usize {
        self.delta.len()
    }

    /// Slot of offset `d` in a full stencil.
    fn full_slot(nd: usize, d: [isize; 3]) -> usize {
        let mut s = 0;
        let mut scale = 1;
        for &da in d.iter().take(nd) {
            s += (da + 1) as usize * scale;
            scale *= 3;
        }
        s
    }

    fn colours(&self, nd: usize) -> usize {
        if self.compact {
            2
        } else {
            1 << nd
        }
    }
}

/// One level of the general hierarchy.
struct Level {
    part: Part,
    slots: Slots,
    /// `coef[p * S + s]`: the coupling of padded point `p` to `p + offset[s]`.
    coef: Vec<f64>,
    /// The whole level on every rank (no messages).
    replicated: bool,
    /// Distributed levels: every rank's owned planes `(lo, hi)`, in rank order.
    all: Vec<(usize, usize)>,
    x: Vec<f64>,
    b: Vec<f64>,
    r: Vec<f64>,
}

impl Level {
    fn new(
        part: Part,
        slots: Slots,
        coef: Vec<f64>,
        replicated: bool,
        all: Vec<(usize, usize)>,
    ) -> Self {
        let len = part.len;
        Self {
            part,
            slots,
            coef,
            replicated,
            all,
            x: vec![0.0; len],
            b: vec![0.0; len],
            r: vec![0.0; len],
        }
    }

    fn comm<'c>(&self, comm: &'c dyn Communicator) -> &'c dyn Communicator {
        if self.replicated {
            &SerialComm
        } else {
            comm
        }
    }
}

/// The general V-cycle: `z ← M⁻¹ r` on this rank's block.
pub(crate) struct StencilMultigrid {
    levels: Vec<Level>,
    direct: DenseCholesky,
    /// The coarsest level's right-hand side and solution as dense vectors.
    coarse_b: Vec<f64>,
    coarse_x: Vec<f64>,
    /// Local solid flags of the fine level (grid order), if masked.
    solid: Option<Vec<bool>>,
}

impl StencilMultigrid {
    /// The hierarchy of a masked or variable-coefficient `problem` on a slab decomposition.
    /// Collective (halo exchanges of the fine stencil, one maximum, gathers of coarse levels).
    pub(crate) fn new(problem: &DistGridPoisson, comm: &dyn Communicator) -> Result<Self> {
        let pencil = problem.pencil();
        let nd = pencil.ndim;
        let n = pencil.global;
        let (lo, hi, below, above) = match nd {
            1 => (0, n[0], None, None),
            2 => (
                pencil.y.start,
                pencil.y.end,
                pencil.neighbours[0],
                pencil.neighbours[1],
            ),
            _ => (
                pencil.z.start,
                pencil.z.end,
                pencil.neighbours[2],
                pencil.neighbours[3],
            ),
        };
        if nd == 1 && comm.size() > 1 {
            return Err(SparseError::InvalidParameter(
                "the distributed multigrid needs a 2-D or 3-D grid".into(),
            ));
        }
        let fine = Part::new(n, nd, lo, hi, below, above);
        let all = ranges(comm, lo, hi);
        let mut levels = vec![fine_level(problem, comm, fine, all)?];
        loop {
            let last = levels.last().expect("at least the fine level");
            let p = &last.part;
            if p.points() <= COARSE_DIRECT || p.n[..nd].iter().any(|&m| m < 4) {
                break;
            }
            let mut nc = [1; 3];
            for a in 0..nd {
                nc[a] = p.n[a] / 2;
            }
            let coarse_points: usize = nc.iter().product();
            let coarse_all: Vec<(usize, usize)> =
                last.all.iter().map(|&(l, h)| (l / 2, h / 2)).collect();
            let distributed = !last.replicated
                && coarse_points > GATHER_SIZE
                && coarse_all.iter().all(|&(l, h)| h >= l + 2);
            let (clo, chi) = (p.lo / 2, p.hi / 2);
            let part = if distributed {
                Part::new(nc, nd, clo, chi, p.below, p.above)
            } else {
                Part::whole(nc, nd)
            };
            let slots = Slots::full(&part);
            let mut coef = vec![0.0; part.len * slots.len()];
            let own = if last.replicated {
                (0, nc[nd - 1])
            } else {
                (clo, chi)
            };
            galerkin(last, &part, &slots, own, &mut coef);
            if distributed {
                part.exchange(comm, &mut coef, slots.len());
            } else if !last.replicated {
                let s = slots.len();
                let pl = part.plane() * s;
                let mine = coef[pl * (clo + 1)..pl * (chi + 1)].to_vec();
                let gathered = comm.allgather_f64(&mine);
                coef[pl..pl * (nc[nd - 1] + 1)].copy_from_slice(&gathered);
            }
            levels.push(Level::new(part, slots, coef, !distributed, coarse_all));
        }
        let coarsest = levels.last().expect("levels");
        let whole_coef = if coarsest.replicated {
            coarsest.coef.clone()
        } else {
            gather_whole(comm, coarsest, &coarsest.coef, coarsest.slots.len())
        };
        let whole = Part::whole(coarsest.part.n, nd);
        let direct = DenseCholesky::new(&level_matrix(&whole, &coarsest.slots, &whole_coef));
        let m = whole.points();
        Ok(Self {
            levels,
            direct,
            coarse_b: vec![0.0; m],
            coarse_x: vec![0.0; m],
            solid: problem.solid().map(<[bool]>::to_vec),
        })
    }

    pub(crate) fn levels(&self) -> usize {
        self.levels.len()
    }

    pub(crate) fn distributed_levels(&self) -> usize {
        self.levels.iter().filter(|l| !l.replicated).count()
    }

    /// The first level gathered onto every rank (the coarsest if none is).
    pub(crate) fn coarse_shape(&self) -> GridShape {
        let l = self
            .levels
            .iter()
            .find(|l| l.replicated)
            .unwrap_or_else(|| self.levels.last().expect("levels"));
        GridShape::new(&l.part.n[..l.part.nd]).expect("positive extents")
    }

    /// `z ← M⁻¹ r` (collective; `r`, `z` in the distributed operator's local layout).
    pub(crate) fn apply(&mut self, comm: &dyn Communicator, r: &[f64], z: &mut [f64]) {
        {
            let f = &mut self.levels[0];
            let nx = f.part.nx();
            for l in 0..f.part.line_count() {
                let base = f.part.line_base(l);
                f.b[base..base + nx].copy_from_slice(&r[l * nx..(l + 1) * nx]);
            }
        }
        self.cycle(comm, 0);
        let f = &self.levels[0];
        let nx = f.part.nx();
        for l in 0..f.part.line_count() {
            let base = f.part.line_base(l);
            z[l * nx..(l + 1) * nx].copy_from_slice(&f.x[base..base + nx]);
        }
        if let Some(s) = &self.solid {
            z.iter_mut()
                .zip(s)
                .filter(|(_, &s)| s)
                .for_each(|(v, _)| *v = 0.0);
        }
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
            let colours = lev.slots.colours(lev.part.nd);
            for _ in 0..SWEEPS {
                for colour in 0..colours {
                    smooth_colour(c, lev, colour);
                }
            }
            residual(c, lev);
        }
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&fine[l], &mut coarse[0]);
            c.b.iter_mut().for_each(|v| *v = 0.0);
            let own = if f.replicated {
                (0, c.part.n[c.part.nd - 1])
            } else {
                (f.part.lo / 2, f.part.hi / 2)
            };
            restrict(f, &c.part, own, &mut c.b);
            if c.replicated && !f.replicated {
                let pl = c.part.plane();
                let mine = c.b[pl * (own.0 + 1)..pl * (own.1 + 1)].to_vec();
                let gathered = comm.allgather_f64(&mine);
                let nc = c.part.n[c.part.nd - 1];
                c.b[pl..pl * (nc + 1)].copy_from_slice(&gathered);
            }
        }
        self.cycle(comm, l + 1);
        {
            let (fine, coarse) = self.levels.split_at_mut(l + 1);
            let (f, c) = (&mut fine[l], &mut coarse[0]);
            if !c.replicated {
                c.part.exchange(comm, &mut c.x, 1);
            }
            prolong_add(&c.part, &c.x, f);
        }
        let lev = &mut self.levels[l];
        let c = lev.comm(comm);
        let colours = lev.slots.colours(lev.part.nd);
        for _ in 0..SWEEPS {
            for colour in (0..colours).rev() {
                smooth_colour(c, lev, colour);
            }
        }
    }

    /// The coarsest level exactly (gathered first if it is still distributed: tiny grids).
    fn solve_coarsest(&mut self, comm: &dyn Communicator) {
        let lev = self.levels.last_mut().expect("levels");
        let whole = Part::whole(lev.part.n, lev.part.nd);
        let b = if lev.replicated {
            lev.b.clone()
        } else {
            gather_whole(comm, lev, &lev.b, 1)
        };
        let nx = whole.nx();
        for l in 0..whole.line_count() {
            let base = whole.line_base(l);
            self.coarse_b[l * nx..(l + 1) * nx].copy_from_slice(&b[base..base + nx]);
        }
        self.direct.solve(&self.coarse_b, &mut self.coarse_x);
        let part = lev.part.clone();
        for l in 0..part.line_count() {
            let (j, k) = part.line_jk(l);
            let base = part.line_base(l);
            let dense = dense_line(&whole, j, k);
            lev.x[base..base + nx].copy_from_slice(&self.coarse_x[dense..dense + nx]);
        }
    }
}

/// Index of line `(j, k)` of a whole level.
fn whole_line(whole: &Part, j: usize, k: usize) -> usize {
    match whole.nd {
        1 => 0,
        2 => j,
        _ => j + whole.n[1] * k,
    }
}

/// Start of line `(j, k)` in the dense (unpadded, grid-order) vector of a whole level.
fn dense_line(whole: &Part, j: usize, k: usize) -> usize {
    whole_line(whole, j, k) * whole.nx()
}

/// Every rank's owned planes, in rank order.
fn ranges(comm: &dyn Communicator, lo: usize, hi: usize) -> Vec<(usize, usize)> {
    let mut v = vec![0i64; 2 * comm.size()];
    v[2 * comm.rank()] = lo as i64;
    v[2 * comm.rank() + 1] = hi as i64;
    comm.allreduce_sum_i64(&mut v);
    v.chunks(2)
        .map(|c| (c[0] as usize, c[1] as usize))
        .collect()
}

/// A distributed level's padded array (`width` values per point) gathered onto every rank in
/// the layout of the whole level.
fn gather_whole(comm: &dyn Communicator, lev: &Level, v: &[f64], width: usize) -> Vec<f64> {
    let whole = Part::whole(lev.part.n, lev.part.nd);
    let pl = whole.plane() * width;
    let mut out = vec![0.0; whole.len * width];
    let gathered = comm.allgather_f64(lev.part.owned_planes(v, width));
    let planes = whole.hi - whole.lo;
    out[pl..pl * (planes + 1)].copy_from_slice(&gathered);
    out
}

/// The fine level: the distributed operator's rows as 5-/7-point stencils, solid cells as
/// scaled identity rows, ghost planes exchanged.
fn fine_level(
    problem: &DistGridPoisson,
    comm: &dyn Communicator,
    part: Part,
    all: Vec<(usize, usize)>,
) -> Result<Level> {
    let slots = Slots::compact(&part);
    let s = slots.len();
    let nx = part.nx();
    let mut coef = vec![0.0; part.len * s];
    // Solid flags on the padded layout (1 = solid), ghost planes included.
    let mut solid = vec![0.0; part.len];
    if let Some(flags) = problem.solid() {
        for l in 0..part.line_count() {
            let base = part.line_base(l);
            for i in 0..nx {
                if flags[l * nx + i] {
                    solid[base + i] = 1.0;
                }
            }
        }
        part.exchange(comm, &mut solid, 1);
    }
    let mut scale = [0.0f64];
    for l in 0..part.line_count() {
        let base = part.line_base(l);
        for i in 0..nx {
            let row = problem.stencil_row(l, i);
            let p = base + i;
            if solid[p] != 0.0 {
                continue;
            }
            scale[0] = scale[0].max(row[0]);
            coef[p * s] = row[0];
            for slot in 1..s {
                let q = (p as isize + slots.offset[slot]) as usize;
                if solid[q] == 0.0 {
                    coef[p * s + slot] = row[slot];
                }
            }
        }
    }
    comm.allreduce_max_f64(&mut scale);
    if !(scale[0].is_finite() && scale[0] > 0.0) {
        return Err(SparseError::InvalidParameter(
            "the grid has no fluid cell with a positive diagonal".into(),
        ));
    }
    for l in 0..part.line_count() {
        let base = part.line_base(l);
        for i in 0..nx {
            let p = base + i;
            if solid[p] != 0.0 {
                coef[p * s] = scale[0];
            }
        }
    }
    part.exchange(comm, &mut coef, s);
    Ok(Level::new(part, slots, coef, false, all))
}

/// `A_c = Pᵀ A P` on the coarse points whose split-axis index is in `own` (written into
/// `coef`, laid out by `coarse`). Reads the fine stencils one plane beyond the fine level's own.
fn galerkin(fine: &Level, coarse: &Part, slots: &Slots, own: (usize, usize), coef: &mut [f64]) {
    let fp = &fine.part;
    let nd = fp.nd;
    let s_f = fine.slots.len();
    let s_c = slots.len();
    let mut lines: Vec<[usize; 2]> = Vec::new();
    match nd {
        1 => lines.push([0, 0]),
        2 => (own.0..own.1).for_each(|j| lines.push([j, 0])),
        _ => {
            for k in own.0..own.1 {
                for j in 0..coarse.n[1] {
                    lines.push([j, k]);
                }
            }
        }
    }
    let ncx = if nd == 1 { own.1 - own.0 } else { coarse.n[0] };
    let x0 = if nd == 1 { own.0 } else { 0 };
    let out = SharedMut::new(coef);
    // Fine offsets 0..3 per active axis (one on the others).
    let span = |a: usize| if a < nd { 3 } else { 1 };
    for_each_line(lines.len(), ncx * 27 * s_f, |li| {
        let [jc, kc] = lines[li];
        for ic in x0..x0 + ncx {
            let c = [ic as isize, jc as isize, kc as isize];
            let mut row = [0.0f64; 27];
            for oz in 0..span(2) {
                for oy in 0..span(1) {
                    for ox in 0..span(0) {
                        let o = [ox, oy, oz];
                        let mut f = [0isize; 3];
                        let mut wf = 1.0;
                        let mut inside = true;
                        for a in 0..nd {
                            f[a] = 2 * c[a] + o[a] as isize;
                            wf *= W[o[a]];
                            inside &= (f[a] as usize) < fp.n[a];
                        }
                        if !inside {
                            continue;
                        }
                        let fpi = fp.index(f);
                        let stencil = &fine.coef[fpi * s_f..(fpi + 1) * s_f];
                        for (slot, &a_fg) in stencil.iter().enumerate() {
                            if a_fg == 0.0 {
                                continue;
                            }
                            let d = fine.slots.delta[slot];
                            let mut g = [0isize; 3];
                            for a in 0..3 {
                                g[a] = f[a] + d[a];
                            }
                            // Coarse parents of g per axis: (offset from c, weight).
                            let mut par: [[(isize, f64); 2]; 3] = [[(0, 1.0), (0, 0.0)]; 3];
                            for a in 0..nd {
                                let ga = g[a];
                                par[a] = if ga.rem_euclid(2) == 1 {
                                    [((ga - 1) / 2 - c[a], 1.0), (0, 0.0)]
                                } else {
                                    [(ga / 2 - 1 - c[a], 0.5), (ga / 2 - c[a], 0.5)]
                                };
                            }
                            for &(dz, wz) in &par[2] {
                                if wz == 0.0 || !in_grid(c[2] + dz, coarse.n[2]) {
                                    continue;
                                }
                                for &(dy, wy) in &par[1] {
                                    if wy == 0.0 || !in_grid(c[1] + dy, coarse.n[1]) {
                                        continue;
                                    }
                                    for &(dx, wx) in &par[0] {
                                        if wx == 0.0 || !in_grid(c[0] + dx, coarse.n[0]) {
                                            continue;
                                        }
                                        let slot_c = Slots::full_slot(nd, [dx, dy, dz]);
                                        row[slot_c] += wf * a_fg * ((wx * wy) * wz);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let p = coarse.index(c);
            // SAFETY: each task writes the rows of its own coarse line only.
            unsafe {
                let dst = out.get().add(p * s_c);
                for (slot, v) in row.iter().take(s_c).enumerate() {
                    *dst.add(slot) = *v;
                }
            }
        }
    });
}

#[inline]
fn in_grid(i: isize, n: usize) -> bool {
    i >= 0 && (i as usize) < n
}

/// One colour of a Gauss–Seidel sweep on `A x = b` (halo of x exchanged first). A point of one
/// colour reads only points of other colours.
fn smooth_colour(comm: &dyn Communicator, lev: &mut Level, colour: usize) {
    let Level {
        part,
        slots,
        coef,
        x,
        b,
        ..
    } = lev;
    part.exchange(comm, x, 1);
    let nd = part.nd;
    let nx = part.nx();
    let s = slots.len();
    let xp = SharedMut::new(x);
    let (b, coef): (&[f64], &[f64]) = (b, coef);
    let x0 = if nd == 1 { part.lo } else { 0 };
    for_each_line(part.line_count(), nx, |l| {
        let (j, k) = part.line_jk(l);
        let start = if slots.compact {
            (x0 + j + k + colour) % 2
        } else {
            let (cy, cz) = ((colour >> 1) & 1, (colour >> 2) & 1);
            if (nd >= 2 && j % 2 != cy) || (nd == 3 && k % 2 != cz) {
                return;
            }
            (x0 + (colour & 1)) % 2
        };
        let base = part.line_base(l);
        // SAFETY (all arms): this task writes only the points of its line with this colour and
        // reads points of other colours (or ghosts), which no task writes in this colour.
        unsafe {
            match s {
                3 => relax_line::<3>(xp, b, coef, slots, base, start, nx),
                5 => relax_line::<5>(xp, b, coef, slots, base, start, nx),
                7 => relax_line::<7>(xp, b, coef, slots, base, start, nx),
                9 => relax_line::<9>(xp, b, coef, slots, base, start, nx),
                _ => relax_line::<27>(xp, b, coef, slots, base, start, nx),
            }
        }
    });
}

/// Gauss–Seidel updates of the points `start, start + 2, …` of a line (padded index of its
/// point 0: `base`), for a stencil of `S` slots; the sum runs over the slots in order, the
/// centre skipped, so every rank computes the same bits.
///
/// # Safety
/// `xs` points to the level's padded x; no other task may write the points read here or the
/// points written here during the call.
#[inline(always)]
unsafe fn relax_line<const S: usize>(
    xs: SharedMut,
    b: &[f64],
    coef: &[f64],
    slots: &Slots,
    base: usize,
    start: usize,
    nx: usize,
) {
    let offsets: [isize; S] = slots.offset[..S].try_into().expect("S slots");
    let center = slots.center;
    let xs = xs.get();
    let mut i = start;
    while i < nx {
        let p = base + i;
        let row: &[f64; S] = coef[p * S..(p + 1) * S].try_into().expect("S coefficients");
        let mut sum = 0.0;
        for slot in 0..S {
            if slot != center {
                sum += row[slot] * *xs.offset(p as isize + offsets[slot]);
            }
        }
        *xs.add(p) = (b[p] - sum) / row[center];
        i += 2;
    }
}

/// `r ← b − A x` on the owned points, then the halo of r (for the restriction).
fn residual(comm: &dyn Communicator, lev: &mut Level) {
    let Level {
        part,
        slots,
        coef,
        x,
        b,
        r,
        ..
    } = lev;
    part.exchange(comm, x, 1);
    let nx = part.nx();
    let s = slots.len();
    let rp = SharedMut::new(r);
    let (x, b, coef): (&[f64], &[f64], &[f64]) = (x, b, coef);
    for_each_line(part.line_count(), nx, |l| {
        let base = part.line_base(l);
        let line = (base, nx);
        // SAFETY (all arms): each task writes its own line of r.
        unsafe {
            match s {
                3 => residual_line::<3>(rp, x, b, coef, slots, line),
                5 => residual_line::<5>(rp, x, b, coef, slots, line),
                7 => residual_line::<7>(rp, x, b, coef, slots, line),
                9 => residual_line::<9>(rp, x, b, coef, slots, line),
                _ => residual_line::<27>(rp, x, b, coef, slots, line),
            }
        }
    });
    part.exchange(comm, r, 1);
}

/// `r = b − A x` on the `len` points of a line from padded index `start`, `(start, len)`.
///
/// # Safety
/// `rp` points to the level's padded r; no other task writes this line of it.
#[inline(always)]
unsafe fn residual_line<const S: usize>(
    rp: SharedMut,
    x: &[f64],
    b: &[f64],
    coef: &[f64],
    slots: &Slots,
    (start, len): (usize, usize),
) {
    let offsets: [isize; S] = slots.offset[..S].try_into().expect("S slots");
    for p in start..start + len {
        let row: &[f64; S] = coef[p * S..(p + 1) * S].try_into().expect("S coefficients");
        let mut ax = 0.0;
        for slot in 0..S {
            ax += row[slot] * x[(p as isize + offsets[slot]) as usize];
        }
        *rp.get().add(p) = b[p] - ax;
    }
}

/// `b_c ← Pᵀ r` on the coarse points whose split-axis index is in `own`.
fn restrict(fine: &Level, coarse: &Part, own: (usize, usize), bc: &mut [f64]) {
    let fp = &fine.part;
    let nd = fp.nd;
    let r = &fine.r;
    let lines: Vec<[usize; 2]> = match nd {
        1 => vec![[0, 0]],
        2 => (own.0..own.1).map(|j| [j, 0]).collect(),
        _ => (own.0..own.1)
            .flat_map(|k| (0..coarse.n[1]).map(move |j| [j, k]))
            .collect(),
    };
    let (x0, ncx) = if nd == 1 {
        (own.0, own.1 - own.0)
    } else {
        (0, coarse.n[0])
    };
    let span = |a: usize| if a < nd { 3 } else { 1 };
    let out = SharedMut::new(bc);
    for_each_line(lines.len(), ncx * 9, |li| {
        let [jc, kc] = lines[li];
        for ic in x0..x0 + ncx {
            let c = [ic as isize, jc as isize, kc as isize];
            let mut acc = 0.0;
            for oz in 0..span(2) {
                for oy in 0..span(1) {
                    let mut line = 0.0;
                    for ox in 0..span(0) {
                        let o = [ox, oy, oz];
                        let mut f = [0isize; 3];
                        for a in 0..nd {
                            f[a] = 2 * c[a] + o[a] as isize;
                        }
                        line += W[ox] * r[fp.index(f)];
                    }
                    let w = if nd >= 2 { W[oy] } else { 1.0 } * if nd == 3 { W[oz] } else { 1.0 };
                    acc += w * line;
                }
            }
            // SAFETY: each task writes its own coarse line.
            unsafe {
                *out.get().add(coarse.index(c)) = acc;
            }
        }
    });
}

/// `x_f ← x_f + P x_c` on the fine level's owned points (`xc` padded on `coarse`, its ghost
/// planes current).
fn prolong_add(coarse: &Part, xc: &[f64], fine: &mut Level) {
    let fp = fine.part.clone();
    let nd = fp.nd;
    let nx = fp.nx();
    let x0 = if nd == 1 { fp.lo } else { 0 };
    let parents = |f: usize| -> [(isize, f64); 2] {
        if f % 2 == 1 {
            [(((f - 1) / 2) as isize, 1.0), (0, 0.0)]
        } else {
            [((f / 2) as isize - 1, 0.5), ((f / 2) as isize, 0.5)]
        }
    };
    let xp = SharedMut::new(&mut fine.x);
    for_each_line(fp.line_count(), nx, |l| {
        let (j, k) = fp.line_jk(l);
        let py = if nd >= 2 {
            parents(j)
        } else {
            [(0, 1.0), (0, 0.0)]
        };
        let pz = if nd == 3 {
            parents(k)
        } else {
            [(0, 1.0), (0, 0.0)]
        };
        let base = fp.line_base(l);
        for i in 0..nx {
            let px = parents(x0 + i);
            let mut v = 0.0;
            for &(cz, wz) in &pz {
                if wz == 0.0 {
                    continue;
                }
                for &(cy, wy) in &py {
                    if wy == 0.0 {
                        continue;
                    }
                    let mut line = 0.0;
                    for &(cx, wx) in &px {
                        if wx == 0.0 {
                            continue;
                        }
                        line += wx * xc[coarse.index([cx, cy, cz])];
                    }
                    v += (wy * wz) * line;
                }
            }
            // SAFETY: each task writes its own fine line.
            unsafe {
                *xp.get().add(base + i) += v;
            }
        }
    });
}

/// A whole level's stencils as a CSR matrix over its points in grid order.
fn level_matrix(whole: &Part, slots: &Slots, coef: &[f64]) -> Csr {
    let s = slots.len();
    let nd = whole.nd;
    let nx = whole.nx();
    let rows = (0..whole.line_count()).flat_map(|l| {
        let (j, k) = whole.line_jk(l);
        let base = whole.line_base(l);
        (0..nx).map(move |i| {
            let p = base + i;
            (0..s)
                .filter(|&slot| coef[p * s + slot] != 0.0)
                .filter_map(|slot| {
                    let d = slots.delta[slot];
                    let g = [i as isize + d[0], j as isize + d[1], k as isize + d[2]];
                    if (0..nd).any(|a| !in_grid(g[a], whole.n[a])) {
                        return None;
                    }
                    let col = g[0] as usize + nx * (g[1] as usize + whole.n[1] * g[2] as usize);
                    Some((col as u32, coef[p * s + slot]))
                })
                .collect()
        })
    });
    Csr::from_rows(whole.points(), rows)
}
