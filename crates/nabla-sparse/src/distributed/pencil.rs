//! Pencil decomposition of a grid over ranks: the y (and, in 3-D, z) axes are split into a
//! `ranks_y × ranks_z` process grid; x-lines are never split.
//!
//! Keeping every x-line on one rank is what makes reductions reproducible: a dot product is a
//! sum of per-line partial sums, each computed in a fixed order by whichever rank owns the
//! line, and the line sums are combined exactly ([`nabla_core::comm::ExactSum`]). So iterates,
//! iteration counts and solutions are bit-identical for every rank count. The price is halo
//! surface: a pencil of a cube exchanges 4 faces of NX·(n/p)^{1/2} values instead of a cube's 6
//! faces of (n/p)^{2/3} — quantified in `docs/scaling.md`.

use crate::error::{Result, SparseError};
use nabla_core::comm::block_range;
use nabla_core::GridShape;
use std::ops::Range;

/// Which part of a grid one rank owns, and who its neighbours are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pencil {
    /// Global grid dims as `[NX, NY, NZ]` (NY = NZ = 1 for lower dimensions).
    pub global: [usize; 3],
    /// Dimensions of the problem (1, 2 or 3).
    pub ndim: usize,
    /// Process grid `[ranks_y, ranks_z]`.
    pub ranks: [usize; 2],
    /// This rank's coordinates in the process grid `[cy, cz]`.
    pub coords: [usize; 2],
    /// Owned global y range.
    pub y: Range<usize>,
    /// Owned global z range.
    pub z: Range<usize>,
    /// Neighbour ranks: `[south (−y), north (+y), bottom (−z), top (+z)]`; `None` at the global
    /// boundary.
    pub neighbours: [Option<usize>; 4],
}

/// `[NX, NY, NZ]` with 1 for the axes a lower-dimensional grid lacks, and the dimension.
fn padded_dims(shape: &GridShape) -> ([usize; 3], usize) {
    let d = shape.dims();
    let at = |a: usize| d.get(a).copied().unwrap_or(1);
    ([at(0), at(1), at(2)], d.len())
}

impl Pencil {
    /// The pencil of `rank` among `size` ranks. The process grid minimizes the halo volume
    /// (ties: more ranks along z, whose faces are contiguous in memory). Errors when the grid
    /// has fewer lines along the split axes than there are ranks, or is 1-D with several ranks.
    pub fn new(shape: &GridShape, rank: usize, size: usize) -> Result<Self> {
        let (global, ndim) = padded_dims(shape);
        let [nx, ny, nz] = global;
        let mut best: Option<([usize; 2], usize)> = None;
        for py in 1..=size {
            if !size.is_multiple_of(py) {
                continue;
            }
            let pz = size / py;
            if py > ny || pz > nz {
                continue;
            }
            // Halo values a rank exchanges, for the largest block.
            let lines_y = ny.div_ceil(py);
            let lines_z = nz.div_ceil(pz);
            let faces =
                usize::from(py > 1) * 2 * nx * lines_z + usize::from(pz > 1) * 2 * nx * lines_y;
            if best.is_none_or(|(_, f)| faces < f) {
                best = Some(([py, pz], faces));
            }
        }
        let Some((ranks, _)) = best else {
            return Err(SparseError::InvalidParameter(format!(
                "grid {shape} cannot be split over {size} ranks: x-lines are kept whole and \
                 there are only {} of them along y{} (use fewer ranks)",
                ny,
                if ndim == 3 {
                    format!(" and {nz} along z")
                } else {
                    String::new()
                }
            )));
        };
        Self::with_process_grid(shape, rank, size, ranks)
    }

    /// A slab decomposition: 2-D grids split along y, 3-D grids along z only (every rank owns
    /// whole xy-planes) — what the distributed multigrid needs, since its transfers reach
    /// diagonal neighbours, which slabs do not have.
    pub fn slab(shape: &GridShape, rank: usize, size: usize) -> Result<Self> {
        let d = shape.dims();
        let split = match d.len() {
            2 => [size, 1],
            3 => [1, size],
            _ => [1, 1],
        };
        let lines = match d.len() {
            2 => d[1],
            3 => d[2],
            _ => 1,
        };
        if size > lines || (d.len() == 1 && size > 1) {
            return Err(SparseError::InvalidParameter(format!(
                "grid {shape} cannot be split into {size} slabs: it has {lines} {} (use fewer ranks)",
                if d.len() == 3 { "xy-planes" } else { "x-lines" }
            )));
        }
        Self::with_process_grid(shape, rank, size, split)
    }

    /// The pencil of `rank` on a given process grid `[ranks_y, ranks_z]` (their product must be
    /// `size`).
    pub fn with_process_grid(
        shape: &GridShape,
        rank: usize,
        size: usize,
        ranks: [usize; 2],
    ) -> Result<Self> {
        let (global, ndim) = padded_dims(shape);
        if rank >= size || ranks[0] * ranks[1] != size {
            return Err(SparseError::InvalidParameter(format!(
                "rank {rank} out of range for {size} ranks"
            )));
        }
        let coords = [rank % ranks[0], rank / ranks[0]];
        let rank_of = |cy: usize, cz: usize| cy + ranks[0] * cz;
        let neighbours = [
            (coords[0] > 0).then(|| rank_of(coords[0] - 1, coords[1])),
            (coords[0] + 1 < ranks[0]).then(|| rank_of(coords[0] + 1, coords[1])),
            (coords[1] > 0).then(|| rank_of(coords[0], coords[1] - 1)),
            (coords[1] + 1 < ranks[1]).then(|| rank_of(coords[0], coords[1] + 1)),
        ];
        Ok(Self {
            global,
            ndim,
            ranks,
            coords,
            y: block_range(global[1], coords[0], ranks[0]),
            z: block_range(global[2], coords[1], ranks[1]),
            neighbours,
        })
    }

    /// Whether this is a slab decomposition (no rank has neighbours along two axes).
    pub fn is_slab(&self) -> bool {
        self.ranks[0] == 1 || self.ranks[1] == 1
    }

    /// The pencil of the next coarser multigrid level: every axis halved (`n/2` points, the fine
    /// points 1, 3, 5, …), each rank keeping the coarse points that sit on its fine ones.
    pub fn coarsened(&self) -> Pencil {
        let half = |r: &Range<usize>| r.start / 2..r.end / 2;
        let ndim = self.ndim;
        Pencil {
            global: [
                self.global[0] / 2,
                if ndim >= 2 { self.global[1] / 2 } else { 1 },
                if ndim == 3 { self.global[2] / 2 } else { 1 },
            ],
            ndim,
            ranks: self.ranks,
            coords: self.coords,
            y: if ndim >= 2 {
                half(&self.y)
            } else {
                self.y.clone()
            },
            z: if ndim == 3 {
                half(&self.z)
            } else {
                self.z.clone()
            },
            neighbours: self.neighbours,
        }
    }

    /// The shape of this pencil's global grid.
    pub fn shape(&self) -> GridShape {
        GridShape::new(&self.global[..self.ndim]).expect("a pencil's grid has positive extents")
    }

    /// Every rank's pencil on this pencil's process grid, in rank order (what a root needs to
    /// reassemble gathered vectors).
    pub fn all_on_same_grid(&self) -> Vec<Pencil> {
        let shape = self.shape();
        let size = self.ranks[0] * self.ranks[1];
        (0..size)
            .map(|r| {
                Self::with_process_grid(&shape, r, size, self.ranks)
                    .expect("a valid process grid has a pencil for every rank")
            })
            .collect()
    }

    /// Points along x.
    pub fn nx(&self) -> usize {
        self.global[0]
    }

    /// Owned lines along y.
    pub fn ny(&self) -> usize {
        self.y.len()
    }

    /// Owned lines along z.
    pub fn nz(&self) -> usize {
        self.z.len()
    }

    /// Owned x-lines.
    pub fn lines(&self) -> usize {
        self.ny() * self.nz()
    }

    /// Owned points.
    pub fn len(&self) -> usize {
        self.nx() * self.lines()
    }

    /// Whether the rank owns no points (never, for a valid pencil).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Global grid index of the first point of local line `(jl, kl)`.
    pub fn global_line_start(&self, jl: usize, kl: usize) -> usize {
        let [nx, ny, _] = self.global;
        nx * ((self.y.start + jl) + ny * (self.z.start + kl))
    }

    /// Local line index of local line coordinates `(jl, kl)`.
    pub fn line(&self, jl: usize, kl: usize) -> usize {
        jl + self.ny() * kl
    }

    /// Local line coordinates `(jl, kl)` of a local line index.
    pub fn line_coords(&self, line: usize) -> (usize, usize) {
        (line % self.ny(), line / self.ny())
    }

    /// Scatters this rank's block (local order) into a vector over the whole grid.
    pub fn place(&self, local: &[f64], global: &mut [f64]) {
        let nx = self.nx();
        for line in 0..self.lines() {
            let (jl, kl) = self.line_coords(line);
            let g = self.global_line_start(jl, kl);
            global[g..g + nx].copy_from_slice(&local[line * nx..(line + 1) * nx]);
        }
    }

    /// Extracts this rank's block (local order) from a vector over the whole grid.
    pub fn extract(&self, global: &[f64]) -> Vec<f64> {
        let nx = self.nx();
        let mut out = Vec::with_capacity(self.len());
        for line in 0..self.lines() {
            let (jl, kl) = self.line_coords(line);
            let g = self.global_line_start(jl, kl);
            out.extend_from_slice(&global[g..g + nx]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pencils_tile_the_grid_and_pick_the_smaller_halo() {
        let shape: GridShape = "8x12x6".parse().unwrap();
        for size in 1..=6 {
            let all = Pencil::new(&shape, 0, size).unwrap().all_on_same_grid();
            let mut seen = vec![0u8; shape.len()];
            for p in &all {
                let ones = vec![1.0; p.len()];
                let mut g = vec![0.0; shape.len()];
                p.place(&ones, &mut g);
                for (s, v) in seen.iter_mut().zip(&g) {
                    *s += *v as u8;
                }
                assert_eq!(p.extract(&g), ones);
            }
            assert!(seen.iter().all(|&s| s == 1), "size {size}");
        }
        // 4 ranks on 8x12x6: 2x2 exchanges 2*8*3+2*8*6 = 144 per rank, 4x1 2*8*6 = 96 ... and 1x4
        // 2*8*12 = 192: the split along y wins.
        let p = Pencil::new(&shape, 0, 4).unwrap();
        assert_eq!(p.ranks, [4, 1]);
        assert!(Pencil::new(&"16x3".parse().unwrap(), 0, 4).is_err());
        let p2 = Pencil::new(&"16x3".parse().unwrap(), 2, 3).unwrap();
        assert_eq!(
            (p2.y.clone(), p2.neighbours),
            (2..3, [Some(1), None, None, None])
        );
    }
}
