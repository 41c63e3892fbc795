//! One rank's block of a grid Poisson problem: the same h²-scaled 5-/7-point operator as
//! [`GridPoisson`](crate::GridPoisson) (variable coefficient and obstacle mask included),
//! applied matrix-free with a halo exchange that overlaps the interior lines' work.
//!
//! Masked grids keep their solid cells as unknowns with a zero row and a zero right-hand side:
//! CG never moves them off 0, so its iterates on the fluid cells are those of the serial
//! system with the solid cells removed, and vectors keep the grid's layout on every rank.

use super::lines::{line_dot, LineSums};
use super::pencil::Pencil;
use crate::error::{Result, SparseError};
use crate::grid::{GridPoisson, RhsKind};
use nabla_core::comm::Communicator;
use nabla_core::GridShape;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// Face coefficients of a rank's block (variable coefficient only).
#[derive(Clone, Debug)]
struct Faces {
    /// `x[line * (nx + 1) + i]`: face between points i−1 and i of a line (i = 0 and nx are the
    /// boundary faces).
    x: Vec<f64>,
    /// `y[i + nx * (jl + (ny + 1) * kl)]`: face below point (i, jl, kl) along y, jl in 0..=ny.
    y: Vec<f64>,
    /// `z[i + nx * (jl + ny * kl)]`: face below point (i, jl, kl) along z, kl in 0..=nz.
    z: Vec<f64>,
}

/// One rank's part of a distributed grid Poisson problem.
#[derive(Clone, Debug)]
pub struct DistGridPoisson {
    shape: GridShape,
    pencil: Pencil,
    faces: Option<Faces>,
    /// Local solid flags (`true` = solid), grid order.
    solid: Option<Vec<bool>>,
    /// Local diagonal (1 on solid cells, so Jacobi leaves their zero residual alone).
    diag: Vec<f64>,
    /// Global unknown index of each local fluid point (masked grids): the serial numbering.
    unknown_index: Option<Vec<u64>>,
    /// Number of unknowns of the whole system (fluid cells).
    unknowns: usize,
    /// One line of zeros: the neighbour line beyond a Dirichlet boundary.
    zeros: Vec<f64>,
}

/// Halo buffers of one rank, reused by every product.
#[derive(Debug, Default)]
pub struct Halo {
    send: [Vec<f64>; 4],
    recv: [Vec<f64>; 4],
    line_dots: Vec<f64>,
}

impl Halo {
    /// The face received from neighbour `f` (south, north, bottom, top) by the last exchange.
    pub(crate) fn received(&self, f: usize) -> &[f64] {
        &self.recv[f]
    }
}

impl DistGridPoisson {
    /// The block of `rank` (of `size`) of `grid`, which every rank holds in full (its mask and
    /// coefficient). For grids too large to hold on one rank, build from functions with
    /// [`from_fn`](Self::from_fn).
    pub fn from_grid(grid: &GridPoisson, comm: &dyn Communicator) -> Result<Self> {
        let pencil = Pencil::new(grid.shape(), comm.rank(), comm.size())?;
        Self::from_grid_on(grid, comm, pencil)
    }

    /// [`from_grid`](Self::from_grid) on a given decomposition of this rank (e.g.
    /// [`Pencil::slab`], which the distributed multigrid needs).
    pub fn from_grid_on(
        grid: &GridPoisson,
        comm: &dyn Communicator,
        pencil: Pencil,
    ) -> Result<Self> {
        let shape = grid.shape().clone();
        let mask = grid.mask();
        let face = |axis: usize, p: usize, low: bool| grid.face_coefficient(axis, p, low);
        Self::from_fn_on(
            &shape,
            comm,
            pencil,
            (!grid.is_constant_coefficient())
                .then_some(&face as &dyn Fn(usize, usize, bool) -> f64),
            mask.map(|m| move |p: usize| m[p])
                .as_ref()
                .map(|f| f as &dyn Fn(usize) -> bool),
        )
    }

    /// The block of this rank of a problem given by functions of the global grid index `p`:
    /// `face(axis, p, low)` is the coefficient of the face between `p` and its neighbour along
    /// `−axis` (`low`) or `+axis` (boundary faces included); `solid(p)` marks obstacle cells.
    /// Only this rank's points and their faces are evaluated. `None`: a ≡ 1, no mask.
    ///
    /// Collective: masked grids count fluid cells per line across ranks (one allreduce of
    /// NY·NZ integers) to number the unknowns as the serial problem does.
    pub fn from_fn(
        shape: &GridShape,
        comm: &dyn Communicator,
        face: Option<&dyn Fn(usize, usize, bool) -> f64>,
        solid: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Self> {
        let pencil = Pencil::new(shape, comm.rank(), comm.size())?;
        Self::from_fn_on(shape, comm, pencil, face, solid)
    }

    /// [`from_fn`](Self::from_fn) on a given decomposition of this rank.
    pub fn from_fn_on(
        shape: &GridShape,
        comm: &dyn Communicator,
        pencil: Pencil,
        face: Option<&dyn Fn(usize, usize, bool) -> f64>,
        solid: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Self> {
        let nx = pencil.nx();
        let (nyl, nzl) = (pencil.ny(), pencil.nz());
        let [_, ny, nz] = pencil.global;
        let ndim = pencil.ndim;
        let point = |i: usize, jl: usize, kl: usize| {
            i + nx * ((pencil.y.start + jl) + ny * (pencil.z.start + kl))
        };
        let faces = match face {
            None => None,
            Some(face) => {
                let mut fx = vec![0.0; (nx + 1) * pencil.lines()];
                let mut fy = vec![0.0; nx * (nyl + 1) * nzl];
                let mut fz = vec![0.0; nx * nyl * (nzl + 1)];
                for kl in 0..nzl {
                    for jl in 0..nyl {
                        let line = pencil.line(jl, kl);
                        for i in 0..nx {
                            fx[line * (nx + 1) + i] = face(0, point(i, jl, kl), true);
                        }
                        fx[line * (nx + 1) + nx] = face(0, point(nx - 1, jl, kl), false);
                    }
                }
                if ndim >= 2 {
                    for kl in 0..nzl {
                        for jl in 0..=nyl {
                            for i in 0..nx {
                                fy[i + nx * (jl + (nyl + 1) * kl)] = if jl < nyl {
                                    face(1, point(i, jl, kl), true)
                                } else {
                                    face(1, point(i, nyl - 1, kl), false)
                                };
                            }
                        }
                    }
                }
                if ndim == 3 {
                    for kl in 0..=nzl {
                        for jl in 0..nyl {
                            for i in 0..nx {
                                fz[i + nx * (jl + nyl * kl)] = if kl < nzl {
                                    face(2, point(i, jl, kl), true)
                                } else {
                                    face(2, point(i, jl, nzl - 1), false)
                                };
                            }
                        }
                    }
                }
                let filled: [&[f64]; 3] = [
                    &fx,
                    if ndim >= 2 { &fy } else { &[] },
                    if ndim == 3 { &fz } else { &[] },
                ];
                if let Some(v) = filled
                    .iter()
                    .flat_map(|f| f.iter())
                    .find(|v| !(v.is_finite() && **v > 0.0))
                {
                    return Err(SparseError::InvalidParameter(format!(
                        "face coefficient {v} is not finite and positive"
                    )));
                }
                Some(Faces {
                    x: fx,
                    y: fy,
                    z: fz,
                })
            }
        };
        let solid: Option<Vec<bool>> = solid.map(|s| {
            let mut v = Vec::with_capacity(pencil.len());
            for line in 0..pencil.lines() {
                let (jl, kl) = pencil.line_coords(line);
                for i in 0..nx {
                    v.push(s(point(i, jl, kl)));
                }
            }
            v
        });
        let mut diag = vec![2.0 * ndim as f64; pencil.len()];
        if let Some(f) = &faces {
            for line in 0..pencil.lines() {
                let (jl, kl) = pencil.line_coords(line);
                for i in 0..nx {
                    let mut d = f.x[line * (nx + 1) + i] + f.x[line * (nx + 1) + i + 1];
                    if ndim >= 2 {
                        d += f.y[i + nx * (jl + (nyl + 1) * kl)]
                            + f.y[i + nx * (jl + 1 + (nyl + 1) * kl)];
                    }
                    if ndim == 3 {
                        d += f.z[i + nx * (jl + nyl * kl)] + f.z[i + nx * (jl + nyl * (kl + 1))];
                    }
                    diag[line * nx + i] = d;
                }
            }
        }
        let (unknown_index, unknowns) = match &solid {
            None => (None, shape.len()),
            Some(s) => {
                // Fluid cells per global line, summed over ranks (each rank fills its own).
                let mut counts = vec![0i64; ny * nz];
                for line in 0..pencil.lines() {
                    let (jl, kl) = pencil.line_coords(line);
                    counts[(pencil.y.start + jl) + ny * (pencil.z.start + kl)] =
                        s[line * nx..(line + 1) * nx]
                            .iter()
                            .filter(|&&b| !b)
                            .count() as i64;
                }
                comm.allreduce_sum_i64(&mut counts);
                let total: i64 = counts.iter().sum();
                if total == 0 {
                    return Err(SparseError::InvalidParameter(
                        "the mask marks every cell solid; nothing to solve".into(),
                    ));
                }
                let mut before = vec![0u64; ny * nz];
                let mut acc = 0u64;
                for (b, c) in before.iter_mut().zip(&counts) {
                    *b = acc;
                    acc += *c as u64;
                }
                let mut index = vec![u64::MAX; pencil.len()];
                for line in 0..pencil.lines() {
                    let (jl, kl) = pencil.line_coords(line);
                    let mut next = before[(pencil.y.start + jl) + ny * (pencil.z.start + kl)];
                    for i in 0..nx {
                        if !s[line * nx + i] {
                            index[line * nx + i] = next;
                            next += 1;
                        } else {
                            diag[line * nx + i] = 1.0;
                        }
                    }
                }
                (Some(index), total as usize)
            }
        };
        Ok(Self {
            shape: shape.clone(),
            pencil,
            faces,
            solid,
            diag,
            unknown_index,
            unknowns,
            zeros: vec![0.0; nx],
        })
    }

    /// The global grid shape.
    pub fn shape(&self) -> &GridShape {
        &self.shape
    }

    /// This rank's pencil.
    pub fn pencil(&self) -> &Pencil {
        &self.pencil
    }

    /// Points this rank owns (solid ones included).
    pub fn local_len(&self) -> usize {
        self.pencil.len()
    }

    /// Unknowns of the whole system (fluid cells): the serial system's size.
    pub fn unknowns(&self) -> usize {
        self.unknowns
    }

    /// Stencil nonzeros of the whole system as the serial CSR matrix counts them (rows over
    /// fluid cells, couplings between fluid cells) — computed for unmasked grids only; masked
    /// grids report the local fluid rows' count summed by the caller if needed.
    pub fn nonzeros_unmasked(&self) -> usize {
        let d = self.shape.dims();
        let n: usize = d.iter().product();
        n + d
            .iter()
            .map(|&len| 2 * (len - 1) * (n / len))
            .sum::<usize>()
    }

    /// Whether the coefficient is a ≡ 1 and there is no mask (what the distributed multigrid
    /// handles).
    pub fn is_plain(&self) -> bool {
        self.faces.is_none() && self.solid.is_none()
    }

    /// The local diagonal (1 on solid cells).
    pub fn diagonal(&self) -> &[f64] {
        &self.diag
    }

    /// Local solid flags, if the grid is masked.
    pub fn solid(&self) -> Option<&[bool]> {
        self.solid.as_deref()
    }

    /// Zeroes the solid cells of a local vector (the invariant CG relies on).
    pub fn clear_solid(&self, v: &mut [f64]) {
        if let Some(s) = &self.solid {
            for (x, &solid) in v.iter_mut().zip(s) {
                if solid {
                    *x = 0.0;
                }
            }
        }
    }

    /// This rank's part of a generated right-hand side, equal to the corresponding entries of
    /// [`GridPoisson::rhs`] on the whole grid (same seed, same stream positions), zero on solid
    /// cells. `Random` jumps the PCG64 stream to each line's first unknown, so no rank generates
    /// values it does not own. Collective for `Point` on masked grids (the nearest fluid cell is
    /// agreed on by an allreduce).
    pub fn rhs(&self, comm: &dyn Communicator, kind: RhsKind, seed: u64) -> Vec<f64> {
        let nx = self.pencil.nx();
        let mut b = vec![0.0; self.local_len()];
        match kind {
            RhsKind::Ones => {
                b.iter_mut().for_each(|v| *v = 1.0);
                self.clear_solid(&mut b);
            }
            RhsKind::Random => {
                for line in 0..self.pencil.lines() {
                    let (jl, kl) = self.pencil.line_coords(line);
                    let first = match &self.unknown_index {
                        None => Some(self.pencil.global_line_start(jl, kl) as u64),
                        Some(idx) => idx[line * nx..(line + 1) * nx]
                            .iter()
                            .copied()
                            .find(|&u| u != u64::MAX),
                    };
                    let Some(first) = first else { continue };
                    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
                    // One u64 per value (tested against the serial stream).
                    rng.advance(first as u128);
                    for i in 0..nx {
                        if self.solid.as_ref().is_none_or(|s| !s[line * nx + i]) {
                            b[line * nx + i] = rng.gen_range(-1.0..=1.0);
                        }
                    }
                }
            }
            RhsKind::Point => {
                let dims = self.shape.dims();
                let centre: Vec<usize> = dims.iter().map(|d| d / 2).collect();
                // Nearest fluid cell to the centre in grid-index distance, ties to the lowest
                // unknown index — as the serial problem picks it.
                let mut best = (i64::MAX, i64::MAX, usize::MAX);
                for line in 0..self.pencil.lines() {
                    let (jl, kl) = self.pencil.line_coords(line);
                    let j = self.pencil.y.start + jl;
                    let k = self.pencil.z.start + kl;
                    for i in 0..nx {
                        let local = line * nx + i;
                        if self.solid.as_ref().is_some_and(|s| s[local]) {
                            continue;
                        }
                        let coords = [i, j, k];
                        let dist: usize = (0..dims.len())
                            .map(|a| coords[a].abs_diff(centre[a]).pow(2))
                            .sum();
                        let unknown = self
                            .unknown_index
                            .as_ref()
                            .map_or(self.pencil.global_line_start(jl, kl) + i, |u| {
                                u[local] as usize
                            });
                        let cand = (dist as i64, unknown as i64, local);
                        if (cand.0, cand.1) < (best.0, best.1) {
                            best = cand;
                        }
                    }
                }
                let mut all = vec![0i64; 2 * comm.size()];
                all[2 * comm.rank()] = best.0;
                all[2 * comm.rank() + 1] = best.1;
                comm.allreduce_sum_i64(&mut all);
                let winner = all
                    .chunks(2)
                    .min_by_key(|c| (c[0], c[1]))
                    .map(|c| (c[0], c[1]));
                if winner == Some((best.0, best.1)) && best.2 != usize::MAX {
                    b[best.2] = 1.0;
                }
            }
        }
        b
    }

    /// This rank's entries of a vector over the serial system's unknowns (fluid cells in grid
    /// order), zero on solid cells.
    pub fn scatter_unknowns(&self, global: &[f64]) -> Vec<f64> {
        let nx = self.pencil.nx();
        let mut out = vec![0.0; self.local_len()];
        for line in 0..self.pencil.lines() {
            let (jl, kl) = self.pencil.line_coords(line);
            for i in 0..nx {
                let local = line * nx + i;
                let u = match &self.unknown_index {
                    None => Some(self.pencil.global_line_start(jl, kl) + i),
                    Some(idx) => (idx[local] != u64::MAX).then_some(idx[local] as usize),
                };
                if let Some(u) = u {
                    out[local] = global[u];
                }
            }
        }
        out
    }

    /// Gathers a local vector onto `root`: `Some((unknowns, grid))` there — the values over the
    /// serial system's unknowns and over the whole grid (solid cells 0) — `None` elsewhere.
    pub fn gather(
        &self,
        comm: &dyn Communicator,
        local: &[f64],
        root: usize,
    ) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
        // MPI counts are 32-bit: past 2³¹ values a gather would wrap silently.
        if self.shape.len() > i32::MAX as usize {
            return Err(SparseError::InvalidParameter(format!(
                "grid {} has more than 2^31 points; gathering it onto one rank is not supported \
                 (write per-rank output instead)",
                self.shape
            )));
        }
        // Solid cells travel as NaN so the root can drop them from the unknowns without a
        // second gather (solution values are finite: the solvers check).
        let marked: Vec<f64> = match &self.solid {
            None => local.to_vec(),
            Some(s) => local
                .iter()
                .zip(s)
                .map(|(&v, &solid)| if solid { f64::NAN } else { v })
                .collect(),
        };
        let Some(all) = comm.gather_f64(&marked, root) else {
            return Ok(None);
        };
        let mut grid = vec![0.0; self.shape.len()];
        let mut offset = 0;
        for p in self.pencil.all_on_same_grid() {
            p.place(&all[offset..offset + p.len()], &mut grid);
            offset += p.len();
        }
        let unknowns: Vec<f64> = if self.solid.is_some() {
            let u: Vec<f64> = grid.iter().copied().filter(|v| !v.is_nan()).collect();
            grid.iter_mut()
                .filter(|v| v.is_nan())
                .for_each(|v| *v = 0.0);
            u
        } else {
            grid.clone()
        };
        Ok(Some((unknowns, grid)))
    }

    /// `y ← A x` on this rank's block and returns the global `xᵀ y` (exact, rank-count
    /// independent). Collective: exchanges halos with the neighbours, overlapping the lines
    /// that need none, and allreduces the dot product.
    pub fn apply_dot(
        &self,
        comm: &dyn Communicator,
        x: &[f64],
        y: &mut [f64],
        halo: &mut Halo,
    ) -> f64 {
        let mut sums = LineSums::default();
        self.apply_local(comm, x, y, halo, Some(&mut sums));
        sums.total(comm)
    }

    /// `y ← A x` on this rank's block (collective: halo exchange).
    pub fn apply(&self, comm: &dyn Communicator, x: &[f64], y: &mut [f64], halo: &mut Halo) {
        self.apply_local(comm, x, y, halo, None);
    }

    /// Sizes the halo buffers and copies this rank's boundary lines of `x` into the send faces.
    fn pack(&self, x: &[f64], halo: &mut Halo) {
        let p = &self.pencil;
        let nx = p.nx();
        let (nyl, nzl) = (p.ny(), p.nz());
        // Face sizes: south/north carry one line per kl, bottom/top one line per jl.
        let sizes = [nx * nzl, nx * nzl, nx * nyl, nx * nyl];
        for (f, &size) in sizes.iter().enumerate() {
            let len = if p.neighbours[f].is_some() { size } else { 0 };
            halo.send[f].resize(len, 0.0);
            halo.recv[f].resize(len, 0.0);
        }
        if p.neighbours[0].is_some() {
            for kl in 0..nzl {
                let l = p.line(0, kl);
                halo.send[0][kl * nx..(kl + 1) * nx].copy_from_slice(&x[l * nx..(l + 1) * nx]);
            }
        }
        if p.neighbours[1].is_some() {
            for kl in 0..nzl {
                let l = p.line(nyl - 1, kl);
                halo.send[1][kl * nx..(kl + 1) * nx].copy_from_slice(&x[l * nx..(l + 1) * nx]);
            }
        }
        if p.neighbours[2].is_some() {
            halo.send[2].copy_from_slice(&x[..nx * nyl]);
        }
        if p.neighbours[3].is_some() {
            let start = nx * nyl * (nzl - 1);
            halo.send[3].copy_from_slice(&x[start..start + nx * nyl]);
        }
    }

    /// Fills `halo` with the neighbours' boundary lines of `x` (collective, blocking).
    pub(crate) fn exchange(&self, comm: &dyn Communicator, x: &[f64], halo: &mut Halo) {
        self.pack(x, halo);
        let p = &self.pencil;
        let Halo { send, recv, .. } = halo;
        let sends: Vec<(usize, &[f64])> = (0..4)
            .filter_map(|f| p.neighbours[f].map(|r| (r, send[f].as_slice())))
            .collect();
        let mut recvs: Vec<(usize, &mut [f64])> = Vec::new();
        for (f, buf) in recv.iter_mut().enumerate() {
            if let Some(r) = p.neighbours[f] {
                recvs.push((r, buf.as_mut_slice()));
            }
        }
        comm.exchange(&sends, &mut recvs, &mut || {});
    }

    /// The neighbour lines (south, north, bottom, top) of local line `line` of `x`, from `x` or
    /// the halo received by [`exchange`](Self::exchange); a line of zeros beyond the Dirichlet
    /// boundary and along axes the problem does not have.
    pub(crate) fn neighbour_lines<'s>(
        &'s self,
        x: &'s [f64],
        ghosts: &[&'s [f64]; 4],
        line: usize,
    ) -> [&'s [f64]; 4] {
        let p = &self.pencil;
        let nx = p.nx();
        let (nyl, nzl) = (p.ny(), p.nz());
        let (jl, kl) = p.line_coords(line);
        let zeros = &self.zeros[..];
        let ndim = p.ndim;
        let s = if ndim < 2 {
            zeros
        } else if jl > 0 {
            &x[(line - 1) * nx..line * nx]
        } else if p.neighbours[0].is_some() {
            &ghosts[0][kl * nx..(kl + 1) * nx]
        } else {
            zeros
        };
        let n = if ndim < 2 {
            zeros
        } else if jl + 1 < nyl {
            &x[(line + 1) * nx..(line + 2) * nx]
        } else if p.neighbours[1].is_some() {
            &ghosts[1][kl * nx..(kl + 1) * nx]
        } else {
            zeros
        };
        let b = if ndim < 3 {
            zeros
        } else if kl > 0 {
            &x[(line - nyl) * nx..(line - nyl + 1) * nx]
        } else if p.neighbours[2].is_some() {
            &ghosts[2][jl * nx..(jl + 1) * nx]
        } else {
            zeros
        };
        let t = if ndim < 3 {
            zeros
        } else if kl + 1 < nzl {
            &x[(line + nyl) * nx..(line + nyl + 1) * nx]
        } else if p.neighbours[3].is_some() {
            &ghosts[3][jl * nx..(jl + 1) * nx]
        } else {
            zeros
        };
        [s, n, b, t]
    }

    /// The row of local point `i` of local line `line` as a compact stencil
    /// `[diagonal, x−, x+, y−, y+, z−, z+]` (the first `2·ndim + 1` entries meaningful): the
    /// operator's couplings (−face coefficient; 0 beyond the grid). Couplings to solid cells are
    /// included: the caller drops them (the operator never reads a solid cell, which is 0).
    pub(crate) fn stencil_row(&self, line: usize, i: usize) -> [f64; 7] {
        let p = &self.pencil;
        let nx = p.nx();
        let nyl = p.ny();
        let (jl, kl) = p.line_coords(line);
        let [_, ny, nz] = p.global;
        let (j, k) = (p.y.start + jl, p.z.start + kl);
        let ndim = p.ndim;
        let mut row = [0.0; 7];
        row[0] = self.diag[line * nx + i];
        let inside = [
            [i > 0, i + 1 < nx],
            [j > 0, j + 1 < ny],
            [k > 0, k + 1 < nz],
        ];
        let face = |axis: usize, high: bool| -> f64 {
            match &self.faces {
                None => 1.0,
                Some(f) => match axis {
                    0 => f.x[line * (nx + 1) + i + usize::from(high)],
                    1 => f.y[i + nx * (jl + usize::from(high) + (nyl + 1) * kl)],
                    _ => f.z[i + nx * (jl + nyl * (kl + usize::from(high)))],
                },
            }
        };
        for (axis, sides) in inside.iter().enumerate().take(ndim) {
            for (h, &present) in sides.iter().enumerate() {
                if present {
                    row[1 + 2 * axis + h] = -face(axis, h == 1);
                }
            }
        }
        row
    }

    /// The constant-coefficient (a ≡ 1), unmasked problem on a given pencil (multigrid levels).
    pub(crate) fn unit(shape: &GridShape, pencil: Pencil) -> Self {
        let nx = pencil.nx();
        let n = pencil.len();
        Self {
            shape: shape.clone(),
            diag: vec![2.0 * pencil.ndim as f64; n],
            pencil,
            faces: None,
            solid: None,
            unknown_index: None,
            unknowns: shape.len(),
            zeros: vec![0.0; nx],
        }
    }

    fn apply_local(
        &self,
        comm: &dyn Communicator,
        x: &[f64],
        y: &mut [f64],
        halo: &mut Halo,
        sums: Option<&mut LineSums>,
    ) {
        let p = &self.pencil;
        let (nyl, nzl) = (p.ny(), p.nz());
        let lines = p.lines();
        self.pack(x, halo);
        halo.line_dots.resize(lines, 0.0);
        let needs_halo = |line: usize| {
            let (jl, kl) = p.line_coords(line);
            (jl == 0 && p.neighbours[0].is_some())
                || (jl + 1 == nyl && p.neighbours[1].is_some())
                || (kl == 0 && p.neighbours[2].is_some())
                || (kl + 1 == nzl && p.neighbours[3].is_some())
        };
        let Halo {
            send,
            recv,
            line_dots,
        } = halo;
        let want_dots = sums.is_some();
        {
            let sends: Vec<(usize, &[f64])> = (0..4)
                .filter_map(|f| p.neighbours[f].map(|r| (r, send[f].as_slice())))
                .collect();
            // Receive from the south neighbour what it sent north, etc.: buffer f holds the
            // neighbour's face adjacent to ours.
            let mut recvs: Vec<(usize, &mut [f64])> = Vec::new();
            for (f, buf) in recv.iter_mut().enumerate() {
                if let Some(r) = p.neighbours[f] {
                    recvs.push((r, buf.as_mut_slice()));
                }
            }
            let ghosts_empty: [&[f64]; 4] = [&[], &[], &[], &[]];
            let y_ptr = &mut *y;
            let dots = &mut *line_dots;
            comm.exchange(&sends, &mut recvs, &mut || {
                self.lines_into(x, y_ptr, dots, &ghosts_empty, |l| !needs_halo(l), want_dots);
            });
        }
        let ghosts: [&[f64]; 4] = [&recv[0], &recv[1], &recv[2], &recv[3]];
        self.lines_into(x, y, line_dots, &ghosts, needs_halo, want_dots);
        if let Some(s) = sums {
            s.add_all(line_dots);
        }
    }

    /// Computes the rows of the lines selected by `pick` (and their `xᵀy` line sums).
    fn lines_into(
        &self,
        x: &[f64],
        y: &mut [f64],
        line_dots: &mut [f64],
        ghosts: &[&[f64]; 4],
        pick: impl Fn(usize) -> bool + Sync,
        want_dots: bool,
    ) {
        let nx = self.pencil.nx();
        y.par_chunks_mut(nx)
            .zip(line_dots.par_iter_mut())
            .enumerate()
            .filter(|(line, _)| pick(*line))
            .for_each(|(line, (yl, dot))| {
                self.line_rows(x, yl, line, ghosts);
                if want_dots {
                    *dot = line_dot(&x[line * nx..(line + 1) * nx], yl);
                }
            });
    }

    /// Rows of one x-line. Terms are added in a fixed order, so a point's row is the same bits
    /// whichever rank computes it.
    fn line_rows(&self, x: &[f64], yl: &mut [f64], line: usize, ghosts: &[&[f64]; 4]) {
        let p = &self.pencil;
        let nx = p.nx();
        let nyl = p.ny();
        let ndim = p.ndim;
        let (jl, kl) = p.line_coords(line);
        let xl = &x[line * nx..(line + 1) * nx];
        let zeros = &self.zeros[..];
        let [s, n, b, t] = self.neighbour_lines(x, ghosts, line);
        let (s, n, b, t) = (&s[..nx], &n[..nx], &b[..nx], &t[..nx]);
        let yl = &mut yl[..nx];
        match &self.faces {
            None => {
                let d = 2.0 * ndim as f64;
                let row = |i: usize, w: f64, e: f64| {
                    d * xl[i] - (((w + e) + (s[i] + n[i])) + (b[i] + t[i]))
                };
                if nx == 1 {
                    yl[0] = row(0, 0.0, 0.0);
                } else {
                    yl[0] = row(0, 0.0, xl[1]);
                    for i in 1..nx - 1 {
                        yl[i] = row(i, xl[i - 1], xl[i + 1]);
                    }
                    yl[nx - 1] = row(nx - 1, xl[nx - 2], 0.0);
                }
            }
            Some(f) => {
                let fx = &f.x[line * (nx + 1)..(line + 1) * (nx + 1)];
                let ys = nx * (jl + (nyl + 1) * kl);
                let yn = nx * (jl + 1 + (nyl + 1) * kl);
                let zb = nx * (jl + nyl * kl);
                let zt = nx * (jl + nyl * (kl + 1));
                let (cs, cn) = if ndim >= 2 {
                    (&f.y[ys..ys + nx], &f.y[yn..yn + nx])
                } else {
                    (zeros, zeros)
                };
                let (cb, ct) = if ndim == 3 {
                    (&f.z[zb..zb + nx], &f.z[zt..zt + nx])
                } else {
                    (zeros, zeros)
                };
                let diag = &self.diag[line * nx..(line + 1) * nx];
                for i in 0..nx {
                    let w = if i > 0 { fx[i] * xl[i - 1] } else { 0.0 };
                    let e = if i + 1 < nx {
                        fx[i + 1] * xl[i + 1]
                    } else {
                        0.0
                    };
                    let off =
                        ((w + e) + (cs[i] * s[i] + cn[i] * n[i])) + (cb[i] * b[i] + ct[i] * t[i]);
                    yl[i] = diag[i] * xl[i] - off;
                }
            }
        }
        if let Some(solid) = &self.solid {
            for (v, &s) in yl.iter_mut().zip(&solid[line * nx..(line + 1) * nx]) {
                if s {
                    *v = 0.0;
                }
            }
        }
    }
}

impl super::operator::DistOperator for DistGridPoisson {
    type Workspace = Halo;

    fn local_len(&self) -> usize {
        self.pencil.len()
    }

    fn segment_len(&self) -> usize {
        self.pencil.nx()
    }

    fn apply(&self, comm: &dyn Communicator, x: &[f64], y: &mut [f64], ws: &mut Halo) {
        DistGridPoisson::apply(self, comm, x, y, ws);
    }

    fn apply_dot(&self, comm: &dyn Communicator, x: &[f64], y: &mut [f64], ws: &mut Halo) -> f64 {
        DistGridPoisson::apply_dot(self, comm, x, y, ws)
    }

    fn diagonal(&self) -> &[f64] {
        &self.diag
    }

    fn clear_fixed(&self, v: &mut [f64]) {
        self.clear_solid(v);
    }
}
