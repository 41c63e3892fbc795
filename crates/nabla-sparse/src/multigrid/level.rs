//! Level geometry, level operators, and the two kernels every level runs: one colour of a
//! Gauss–Seidel sweep and the residual.
//!
//! Storage convention: every level vector is *padded* with one layer of ghost points on each
//! side of each active axis. Ghost entries are always zero (they are never written), so the
//! kernels need no bounds checks: the homogeneous Dirichlet boundary is the ghost layer.
//!
//! Parallelism: the kernels run over grid lines (fixed `j, k`, all `i`). A colour of a
//! Gauss–Seidel sweep only reads points of other colours, so all lines of one colour can be
//! updated concurrently; the in-place update goes through a raw pointer ([`Shared`]) because
//! the lines interleave in memory.

use super::kernels::{self, LineStencil, LineTensor, Sweep};
use rayon::prelude::*;

/// Levels with fewer points than this run their kernels serially (the rayon hand-off would
/// cost more than the work).
const PAR_MIN_POINTS: usize = 1 << 15;
/// Target number of points per rayon task.
const TASK_POINTS: usize = 1 << 13;

/// Runs `f(line)` for `line in 0..count`, in parallel when the work is large enough.
pub(crate) fn for_each_line<F: Fn(usize) + Sync + Send>(count: usize, per_line: usize, f: F) {
    if count < 2 || count * per_line < PAR_MIN_POINTS {
        (0..count).for_each(f)
    } else {
        let min = (TASK_POINTS / per_line.max(1)).max(1);
        (0..count).into_par_iter().with_min_len(min).for_each(f)
    }
}

/// A raw pointer to a vector shared by the tasks of one parallel loop. Each task writes a
/// disjoint set of points (its lines, its colour) and reads only points no task writes in the
/// same loop, which is what makes the sharing sound.
#[derive(Clone, Copy)]
pub(crate) struct Shared(*mut f64);

// SAFETY: see the type documentation; every use states which points it writes.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// A pointer to write through.
    pub(crate) fn new(v: &mut [f64]) -> Self {
        Self(v.as_mut_ptr())
    }
    /// The pointer (a method, so closures capture the whole `Shared`, not the raw field).
    #[inline(always)]
    pub(crate) fn ptr(self) -> *mut f64 {
        self.0
    }
}

/// Pointer to entry `k` of `v`, derived from the whole slice (so it may also be used to reach
/// entries before `k`, e.g. the previous grid line).
#[inline(always)]
pub(crate) fn at(v: &[f64], k: usize) -> *const f64 {
    debug_assert!(k <= v.len());
    v.as_ptr().wrapping_add(k)
}

/// A read-only raw pointer shared by the tasks of one parallel loop.
#[derive(Clone, Copy)]
pub(crate) struct Ro(*const f64);

// SAFETY: only read through, while no task writes the same entries.
unsafe impl Send for Ro {}
unsafe impl Sync for Ro {}

impl Ro {
    /// A pointer to read through (null for an empty slice is fine: it is never read).
    pub(crate) fn new(v: &[f64]) -> Self {
        Self(v.as_ptr())
    }
    /// The pointer.
    #[inline(always)]
    pub(crate) fn ptr(self) -> *const f64 {
        self.0
    }
}

/// Geometry of one level: interior extents `n` (1 on axes the problem does not have), padded
/// extents `m = n + 2` on active axes, strides of the padded layout (x fastest).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub n: [usize; 3],
    pub nd: usize,
    pub pad: [usize; 3],
    pub st: [usize; 3],
    m: [usize; 3],
}

impl Geom {
    pub(crate) fn new(n: [usize; 3], nd: usize) -> Self {
        let pad = [
            usize::from(nd > 0),
            usize::from(nd > 1),
            usize::from(nd > 2),
        ];
        let m = [n[0] + 2 * pad[0], n[1] + 2 * pad[1], n[2] + 2 * pad[2]];
        Self {
            n,
            nd,
            pad,
            m,
            st: [1, m[0], m[0] * m[1]],
        }
    }

    /// Length of a padded level vector.
    pub(crate) fn padded_len(&self) -> usize {
        self.m[0] * self.m[1] * self.m[2]
    }

    /// Number of interior points (unknowns of the level).
    pub(crate) fn interior_len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }

    /// Number of interior lines (fixed `j, k`).
    pub(crate) fn lines(&self) -> usize {
        self.n[1] * self.n[2]
    }

    /// `(j, k)` of interior line `l`.
    #[inline(always)]
    pub(crate) fn line_jk(&self, l: usize) -> (usize, usize) {
        (l % self.n[1], l / self.n[1])
    }

    /// Padded index of the interior point `(0, j, k)`.
    #[inline(always)]
    pub(crate) fn base(&self, j: usize, k: usize) -> usize {
        self.pad[0] + (j + self.pad[1]) * self.st[1] + (k + self.pad[2]) * self.st[2]
    }

    /// Padded index of interior point `(0, jj − pad, kk − pad)` from *padded* line coordinates
    /// `jj, kk` (so ghost lines are addressable).
    #[inline(always)]
    pub(crate) fn padded_base(&self, jj: usize, kk: usize) -> usize {
        self.pad[0] + jj * self.st[1] + kk * self.st[2]
    }

    /// Padded index of interior point `i`.
    #[inline(always)]
    pub(crate) fn index(&self, i: [usize; 3]) -> usize {
        self.base(i[1], i[2]) + i[0]
    }

    /// Number of entries of a full stencil, 3^d.
    pub(crate) fn stencil_len(&self) -> usize {
        3usize.pow(self.nd as u32)
    }

    /// Position of the first active-layout stencil entry in the 27-entry layout
    /// `(dx+1) + 3(dy+1) + 9(dz+1)`: entry `t` of a 3^d stencil is entry `t + base27` there.
    pub(crate) fn base27(&self) -> usize {
        match self.nd {
            1 => 12,
            2 => 9,
            _ => 0,
        }
    }

    /// Padded-index offsets of the 3^d stencil entries (active layout).
    pub(crate) fn stencil_offsets(&self) -> [isize; 27] {
        let mut offs = [0isize; 27];
        let base = self.base27();
        for (t, o) in offs.iter_mut().enumerate().take(self.stencil_len()) {
            let u = t + base;
            let d = [
                (u % 3) as isize - 1,
                ((u / 3) % 3) as isize - 1,
                (u / 9) as isize - 1,
            ];
            *o = d[0] + d[1] * self.st[1] as isize + d[2] * self.st[2] as isize;
        }
        offs
    }

    /// Colour `c` of the 2^d-colour ordering as parities per axis (inactive axes: 0).
    pub(crate) fn parity_colour(&self, c: usize) -> [usize; 3] {
        [c & 1, (c >> 1) & 1, (c >> 2) & 1]
    }

    /// Number of interior indices in `0..n[a]` with parity `par`.
    pub(crate) fn count_parity(&self, a: usize, par: usize) -> usize {
        (self.n[a] + 1).saturating_sub(par) / 2
    }
}

/// Where the right-hand side of a level lives: its padded vector, or (fine level of an
/// unmasked problem) the caller's vector over the unknowns, in grid order without padding.
#[derive(Clone, Copy)]
pub(crate) enum BSrc<'a> {
    /// A padded level vector.
    Padded(&'a [f64]),
    /// An unpadded vector in grid order.
    Grid(&'a [f64]),
}

impl BSrc<'_> {
    /// Whether the vector has the length the level needs.
    pub(crate) fn fits(&self, g: &Geom) -> bool {
        match self {
            BSrc::Padded(v) => v.len() == g.padded_len(),
            BSrc::Grid(v) => v.len() == g.interior_len(),
        }
    }

    /// Pointer to interior point `(0, j, k)`.
    #[inline(always)]
    pub(crate) fn line(&self, g: &Geom, j: usize, k: usize) -> *const f64 {
        match self {
            BSrc::Padded(v) => at(v, g.base(j, k)),
            BSrc::Grid(v) => at(v, g.n[0] * (j + g.n[1] * k)),
        }
    }
}

/// How a smoothing colour treats `x` (see [`Op::smooth_colour`]).
pub(crate) enum SweepMode<'a> {
    /// Gauss–Seidel update in place.
    InPlace,
    /// `x` is taken as zero (first red–black half-sweep).
    FromZero,
    /// The result goes to this unpadded vector (last red–black half-sweep).
    ToOutput(&'a mut [f64]),
}

/// Per-axis offsets (0, 1, 2 for −1, 0, +1) of each entry of the 27 layout.
const D27: [[u8; 3]; 27] = {
    let mut d = [[0u8; 3]; 27];
    let mut t = 0;
    while t < 27 {
        d[t] = [(t % 3) as u8, ((t / 3) % 3) as u8, (t / 9) as u8];
        t += 1;
    }
    d
};

/// Zeroes the entries of a 27-layout stencil at interior point `i` of `g` that couple to
/// points outside the grid (cheap no-op away from the boundary).
#[inline]
pub(crate) fn zero_ghost_couplings(g: &Geom, i: [usize; 3], st: &mut [f64; 27]) {
    if (0..g.nd).all(|a| i[a] > 0 && i[a] + 1 < g.n[a]) {
        return;
    }
    for (v, d) in st.iter_mut().zip(&D27) {
        for a in 0..g.nd {
            if (d[a] == 0 && i[a] == 0) || (d[a] == 2 && i[a] + 1 == g.n[a]) {
                *v = 0.0;
            }
        }
    }
}

/// Rows of a 1-D tridiagonal matrix: `[T[i, i−1], T[i, i], T[i, i+1]]` (0 outside).
pub(crate) type Tri = Vec<[f64; 3]>;

/// The operator of a level.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// The constant-coefficient (2d+1)-point Laplacian: `diag` on the diagonal, `off` for each
    /// grid neighbour (the ghost layer supplies the Dirichlet boundary). Fine level only.
    Const { diag: f64, off: f64 },
    /// A Kronecker sum `Σ_a K_a ⊗ Π_{b≠a} M_b` of 1-D tridiagonal factors (one per axis,
    /// indexed by the axis coordinate; absent axes have `K = 0`, `M = 1`). The Galerkin
    /// operators of the constant-coefficient Laplacian have exactly this form at every level,
    /// so their 3^d stencils are computed on the fly instead of being stored.
    /// `xseg`: runs of x indices with equal factor rows ([`kernels::x_segments`]).
    Tensor {
        k: [Tri; 3],
        m: [Tri; 3],
        xseg: Vec<(usize, usize)>,
    },
    /// A variable (2d+1)-point stencil (fine level with variable coefficient or a mask):
    /// `w[a][p] = A[p, p − e_a]` (0 where there is no coupling), and by symmetry
    /// `A[p, p + e_a] = w[a][p + e_a]`. Padded arrays.
    Faces {
        diag: Vec<f64>,
        inv_diag: Vec<f64>,
        w: Vec<Vec<f64>>,
    },
    /// A full 3^d-point stencil (Galerkin levels of variable problems), `s` coefficients per
    /// padded point stored contiguously in the active layout (see [`Geom::base27`]).
    Full {
        s: usize,
        coef: Vec<f64>,
        inv_diag: Vec<f64>,
    },
}

impl Op {
    /// Whether the level is smoothed red–black (2 colours) rather than with 2^d colours.
    pub(crate) fn is_red_black(&self) -> bool {
        matches!(self, Op::Const { .. } | Op::Faces { .. })
    }

    /// Number of colours of one sweep.
    pub(crate) fn colours(&self, g: &Geom) -> usize {
        if self.is_red_black() {
            2
        } else {
            1 << g.nd
        }
    }

    /// Heap bytes of the stored coefficients (none for [`Op::Const`]).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let f = size_of::<f64>();
        match self {
            Op::Const { .. } => 0,
            Op::Tensor { k, m, xseg } => {
                k.iter().chain(m).map(|t| t.capacity()).sum::<usize>() * size_of::<[f64; 3]>()
                    + xseg.capacity() * size_of::<(usize, usize)>()
            }
            Op::Faces { diag, inv_diag, w } => {
                (diag.capacity() + inv_diag.capacity() + w.iter().map(Vec::capacity).sum::<usize>())
                    * f
                    + w.capacity() * size_of::<Vec<f64>>()
            }
            Op::Full { coef, inv_diag, .. } => (coef.capacity() + inv_diag.capacity()) * f,
        }
    }

    /// A [`Op::Tensor`] operator from its factors.
    pub(crate) fn tensor(k: [Tri; 3], m: [Tri; 3]) -> Self {
        let xseg = kernels::x_segments(&k[0], &m[0]);
        Op::Tensor { k, m, xseg }
    }

    /// The Kronecker factors of the line `(j, k)` of a [`Op::Tensor`] operator.
    fn line_tensor(k: &[Tri; 3], m: &[Tri; 3], j: usize, kk: usize) -> LineTensor {
        LineTensor::new(&k[1][j], &m[1][j], &k[2][kk], &m[2][kk])
    }

    /// The entries of the row of interior point `i` in the 27 layout (couplings to points
    /// outside the grid are zero). Used in set-up only.
    pub(crate) fn row27(&self, g: &Geom, i: [usize; 3]) -> [f64; 27] {
        let p = g.index(i);
        let mut out = [0.0; 27];
        const UNIT: [usize; 3] = [1, 3, 9];
        match self {
            Op::Const { diag, off } => {
                out[13] = *diag;
                for a in 0..g.nd {
                    if i[a] > 0 {
                        out[13 - UNIT[a]] = *off;
                    }
                    if i[a] + 1 < g.n[a] {
                        out[13 + UNIT[a]] = *off;
                    }
                }
            }
            Op::Tensor { k, m, .. } => {
                let lt = Self::line_tensor(k, m, i[1], i[2]);
                lt.coefs27(&k[0][i[0]], &m[0][i[0]], &mut out);
            }
            Op::Faces { diag, w, .. } => {
                out[13] = diag[p];
                for (a, wa) in w.iter().enumerate() {
                    out[13 - UNIT[a]] = wa[p];
                    out[13 + UNIT[a]] = wa[p + g.st[a]];
                }
            }
            Op::Full { s, coef, .. } => {
                let b = g.base27();
                out[b..b + s].copy_from_slice(&coef[p * s..(p + 1) * s]);
            }
        }
        // Couplings to ghost points are zero by construction of every operator; make sure
        // (they would be out-of-range columns for the coarse factorization).
        zero_ghost_couplings(g, i, &mut out);
        out
    }

    /// Calls `f(offset, value)` for every nonzero entry of the row of interior point `i`
    /// whose column is an interior point (offsets per axis in −1..=1). Used in set-up only.
    pub(crate) fn visit_row(&self, g: &Geom, i: [usize; 3], mut f: impl FnMut([isize; 3], f64)) {
        for (t, &v) in self.row27(g, i).iter().enumerate() {
            if v != 0.0 {
                f(
                    [
                        (t % 3) as isize - 1,
                        ((t / 3) % 3) as isize - 1,
                        (t / 9) as isize - 1,
                    ],
                    v,
                );
            }
        }
    }

    /// The red–black line stencil of a (2d+1)-point operator, positioned at padded index
    /// `base` (`None` for 3^d-point operators).
    #[inline(always)]
    fn rb_stencil(&self, base: usize) -> Option<LineStencil> {
        match self {
            Op::Const { diag, off } => Some(LineStencil::Const {
                diag: *diag,
                off: *off,
            }),
            Op::Faces { diag, inv_diag, w } => Some(LineStencil::Faces {
                diag: at(diag, base),
                inv_diag: at(inv_diag, base),
                w: [0, 1, 2].map(|a| w.get(a).map_or(std::ptr::null(), |v| at(v, base))),
            }),
            _ => None,
        }
    }

    /// One colour of a Gauss–Seidel sweep: `x_p ← x_p + (b − A x)_p / A_pp` for every point of
    /// colour `c` (red–black: parity of `i+j+k`; 2^d colours: see [`Geom::parity_colour`]).
    ///
    /// `mode` (red–black only): [`SweepMode::FromZero`] takes x = 0 without reading it;
    /// [`SweepMode::ToOutput`] writes the swept vector to `out` (unpadded, grid order) instead
    /// of updating `x`.
    pub(crate) fn smooth_colour(
        &self,
        g: &Geom,
        c: usize,
        b: BSrc,
        x: &mut [f64],
        mode: SweepMode,
    ) {
        assert!(x.len() == g.padded_len() && b.fits(g));
        let n0 = g.n[0];
        let st = g.st.map(|s| s as isize);
        let xs = Shared::new(x);
        let from_zero = matches!(mode, SweepMode::FromZero);
        let in_place = matches!(mode, SweepMode::InPlace);
        let out = match mode {
            SweepMode::ToOutput(z) => {
                assert!(z.len() == g.interior_len());
                Some(Shared::new(z))
            }
            _ => None,
        };
        // SAFETY (all arms): a task writes only the points of colour c of its own lines (or
        // its own lines of `out`) and reads b, the coefficients and points of other colours,
        // which no task writes during this colour; every access is an interior point ± one
        // stride, inside the padded vectors.
        match self {
            Op::Const { .. } | Op::Faces { .. } => {
                for_each_line(g.lines(), n0 / 2, |l| {
                    let (j, k) = g.line_jk(l);
                    let base = g.base(j, k);
                    let Some(a) = self.rb_stencil(base) else {
                        return;
                    };
                    let i0 = (c + j + k) % 2;
                    let sweep = match (from_zero, out) {
                        (true, _) => Sweep::FromZero,
                        (false, Some(z)) => Sweep::ToOutput(unsafe { z.ptr().add(l * n0) }),
                        (false, None) => Sweep::InPlace,
                    };
                    unsafe {
                        let xl = xs.ptr().add(base);
                        kernels::rb_line(a, xl, b.line(g, j, k), g.nd, st, i0, n0, sweep)
                    }
                });
            }
            Op::Tensor { k, m, xseg } => {
                debug_assert!(in_place);
                let colour = g.parity_colour(c);
                let (nj, nk) = (g.count_parity(1, colour[1]), g.count_parity(2, colour[2]));
                let offs = g.stencil_offsets();
                let (kx, mx) = (&k[0][..], &m[0][..]);
                let b27 = g.base27();
                for_each_line(nj * nk, n0 / 2, |l| {
                    let j = colour[1] + 2 * (l % nj);
                    let kk = colour[2] + 2 * (l / nj);
                    let lt = Self::line_tensor(k, m, j, kk);
                    unsafe {
                        let (xl, bl) = (xs.ptr().add(g.base(j, kk)), b.line(g, j, kk));
                        match g.nd {
                            1 => lt.smooth::<3>(xl, bl, kx, mx, xseg, &offs, b27, colour[0]),
                            2 => lt.smooth::<9>(xl, bl, kx, mx, xseg, &offs, b27, colour[0]),
                            _ => lt.smooth::<27>(xl, bl, kx, mx, xseg, &offs, b27, colour[0]),
                        }
                    }
                });
            }
            Op::Full { s, coef, inv_diag } => {
                debug_assert!(in_place);
                let colour = g.parity_colour(c);
                let (nj, nk) = (g.count_parity(1, colour[1]), g.count_parity(2, colour[2]));
                let (cp, id) = (Ro::new(coef), Ro::new(inv_diag));
                let offs = g.stencil_offsets();
                for_each_line(nj * nk, n0 / 2, |l| {
                    let j = colour[1] + 2 * (l % nj);
                    let kk = colour[2] + 2 * (l / nj);
                    let base = g.base(j, kk);
                    unsafe {
                        let (xl, bl) = (xs.ptr().add(base), b.line(g, j, kk));
                        let (cl, dl) = (cp.ptr().add(base * s), id.ptr().add(base));
                        match s {
                            3 => kernels::full_colour::<3>(xl, bl, cl, dl, &offs, colour[0], n0),
                            9 => kernels::full_colour::<9>(xl, bl, cl, dl, &offs, colour[0], n0),
                            _ => kernels::full_colour::<27>(xl, bl, cl, dl, &offs, colour[0], n0),
                        }
                    }
                });
            }
        }
    }

    /// One full red–black sweep (red–black levels only): colour `first` on every point, then
    /// the other colour, with the given modes for the two half-sweeps (`ToOutput` only for the
    /// second). The two half-sweeps run as one wavefront over slabs (lines in 2-D, planes in
    /// 3-D): colour `first` on slab `s`, then the other colour on slab `s − 1`, so each slab is
    /// read from memory once per sweep. The result is exactly that of two separate half-sweeps.
    pub(crate) fn rb_sweep(
        &self,
        g: &Geom,
        first: usize,
        b: BSrc,
        x: &mut [f64],
        modes: [SweepMode; 2],
    ) {
        assert!(self.is_red_black() && x.len() == g.padded_len() && b.fits(g));
        let [m0, m1] = modes;
        assert!(!matches!(m0, SweepMode::ToOutput(_)) && !matches!(m1, SweepMode::FromZero));
        let from_zero = matches!(m0, SweepMode::FromZero);
        let out = match m1 {
            SweepMode::ToOutput(z) => {
                assert!(z.len() == g.interior_len());
                Some(Shared::new(z))
            }
            _ => None,
        };
        let n0 = g.n[0];
        let st = g.st.map(|v| v as isize);
        let xs = Shared::new(x);
        // Slabs along the outermost active axis; `lines_per_slab` lines each.
        let (slabs, lines_per_slab) = match g.nd {
            1 => (1, 1),
            2 => (g.n[1], 1),
            _ => (g.n[2], g.n[1]),
        };
        // One half-sweep of colour c on slab s.
        // SAFETY: a half-sweep on slab s writes the points of colour c of its lines (or those
        // lines of `out`) and reads the other colour on slabs s − 1 ..= s + 1; the schedule
        // below never runs two half-sweeps concurrently that write what the other reads.
        let half = |s: usize, c: usize, second: bool| {
            for jl in 0..lines_per_slab {
                let l = s * lines_per_slab + jl;
                let (j, k) = g.line_jk(l);
                let base = g.base(j, k);
                let Some(a) = self.rb_stencil(base) else {
                    return;
                };
                let sweep = match (second, from_zero, out) {
                    (false, true, _) => Sweep::FromZero,
                    (true, _, Some(z)) => Sweep::ToOutput(unsafe { z.ptr().add(l * n0) }),
                    _ => Sweep::InPlace,
                };
                unsafe {
                    let xl = xs.ptr().add(base);
                    kernels::rb_line(a, xl, b.line(g, j, k), g.nd, st, (c + j + k) % 2, n0, sweep);
                }
            }
        };
        let (c0, c1) = (first, 1 - first);
        let points = g.interior_len();
        // Chunks of slabs: phase A runs the wavefront inside each chunk, leaving the second
        // colour of its first and last slab (which need the first colour of the neighbouring
        // chunks); phase B does those.
        let chunks = if points < (1 << 15) || slabs < 8 {
            1
        } else {
            (points / (1 << 15))
                .clamp(1, 8 * rayon::current_num_threads())
                .min(slabs / 3)
        };
        let bounds = |c: usize| (c * slabs / chunks, (c + 1) * slabs / chunks);
        let phase_a = |c: usize| {
            let (s0, s1) = bounds(c);
            for s in s0..s1 {
                half(s, c0, false);
                if s >= s0 + 2 {
                    half(s - 1, c1, true);
                }
            }
        };
        let phase_b = |c: usize| {
            let (s0, s1) = bounds(c);
            half(s0, c1, true);
            if s1 - 1 > s0 {
                half(s1 - 1, c1, true);
            }
        };
        if chunks == 1 {
            phase_a(0);
            phase_b(0);
        } else {
            (0..chunks).into_par_iter().for_each(phase_a);
            (0..chunks).into_par_iter().for_each(phase_b);
        }
    }

    /// `r ← b − A x` on the interior points (ghosts of `r` are left untouched, i.e. zero).
    pub(crate) fn residual(&self, g: &Geom, b: BSrc, x: &[f64], r: &mut [f64]) {
        let len = g.padded_len();
        assert!(x.len() == len && r.len() == len && b.fits(g));
        let n0 = g.n[0];
        let st = g.st.map(|s| s as isize);
        let rs = Shared::new(r);
        let xp = Ro::new(x);
        let offs = g.stencil_offsets();
        let b27 = g.base27();
        for_each_line(g.lines(), n0, |l| {
            let (j, kk) = g.line_jk(l);
            let base = g.base(j, kk);
            // SAFETY: writes the interior points of line l of r only; reads b, x and the
            // coefficients at interior points ± one stride, inside the padded vectors.
            unsafe {
                let (rl, bl, xl) = (rs.ptr().add(base), b.line(g, j, kk), xp.ptr().add(base));
                match self {
                    Op::Const { .. } | Op::Faces { .. } => {
                        if let Some(a) = self.rb_stencil(base) {
                            kernels::residual_line(a, rl, bl, xl, g.nd, st, n0, None)
                        }
                    }
                    Op::Tensor { k, m, xseg } => {
                        let lt = Self::line_tensor(k, m, j, kk);
                        let (kx, mx) = (&k[0][..], &m[0][..]);
                        match g.nd {
                            1 => lt.residual::<3>(rl, bl, xl, kx, mx, xseg, &offs, b27),
                            2 => lt.residual::<9>(rl, bl, xl, kx, mx, xseg, &offs, b27),
                            _ => lt.residual::<27>(rl, bl, xl, kx, mx, xseg, &offs, b27),
                        }
                    }
                    Op::Full { s, coef, .. } => {
                        let cl = at(coef, base * s);
                        match s {
                            3 => kernels::full_residual::<3>(rl, bl, xl, cl, &offs, n0),
                            9 => kernels::full_residual::<9>(rl, bl, xl, cl, &offs, n0),
                            _ => kernels::full_residual::<27>(rl, bl, xl, cl, &offs, n0),
                        }
                    }
                }
            }
        });
    }

    /// For red–black levels after a half-sweep of colour 1: writes into `out[0..n0]` the
    /// residual of line `(j, k)` at its colour-0 points and 0 at its colour-1 points (where
    /// Gauss–Seidel just made it vanish), and `out[n0] = 0` (the ghost). Returns `false` (and
    /// writes nothing) for 3^d-point levels.
    pub(crate) fn rb_residual_line(
        &self,
        g: &Geom,
        b: BSrc,
        x: &[f64],
        j: usize,
        k: usize,
        out: &mut [f64],
    ) -> bool {
        let n0 = g.n[0];
        assert!(
            out.len() > n0 && x.len() == g.padded_len() && b.fits(g) && j < g.n[1] && k < g.n[2]
        );
        let base = g.base(j, k);
        let Some(a) = self.rb_stencil(base) else {
            return false;
        };
        let st = g.st.map(|s| s as isize);
        // SAFETY: (j, k) is an interior line, so every access is inside the padded vectors;
        // `out` has room for n0 values.
        unsafe {
            let xl = at(x, base);
            kernels::residual_line(
                a,
                out.as_mut_ptr(),
                b.line(g, j, k),
                xl,
                g.nd,
                st,
                n0,
                Some((j + k) % 2),
            );
        }
        out[n0] = 0.0;
        true
    }
}
