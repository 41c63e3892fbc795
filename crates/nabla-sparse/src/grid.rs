//! Grid Poisson problems: the 2-D 5-point and 3-D 7-point (h²-scaled) discretizations of
//! −∇·(a∇u) = f with homogeneous Dirichlet boundaries eliminated, optional variable
//! coefficient and obstacle mask; assembled as CSR or applied matrix-free.
//!
//! Conventions:
//! - Unknowns are the interior grid points; unknown `(i, j, k)` has index `i + NX*j + NX*NY*k`
//!   (x fastest). The boundary points at index −1 and NX (etc.) hold u = 0 and are eliminated.
//! - The matrix is scaled by h²: with a ≡ 1 the diagonal is 2·d (4 in 2-D, 6 in 3-D) and each
//!   neighbour coupling is −1. So `A u = h² f` discretizes −Δu = f.
//! - Variable coefficient: `a` is given at the nodes of the grid *including* the boundary layer,
//!   shape `(NX+2)(NY+2)(NZ+2)` with x fastest; the coefficient of the face between two nodes is
//!   the arithmetic mean of their nodal values. The diagonal of a row is the sum of its four
//!   (six) face coefficients, the coupling to a neighbour is minus the shared face coefficient.
//! - Mask: `true` = solid. Solid cells are fixed at u = 0 and removed from the system, so the
//!   system has one unknown per fluid cell, numbered in grid order.

use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use crate::operator::LinearOperator;
use crate::vecops::CHUNK;
use nabla_core::GridShape;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sprs::CsMatI;

/// A Poisson problem on a structured grid of interior unknowns.
#[derive(Clone, Debug)]
pub struct GridPoisson {
    shape: GridShape,
    /// Face coefficients per axis: `faces[axis][p]` couples grid point `p` with `p + e_axis`
    /// (for the last point on an axis it is the boundary face). `None` means a ≡ 1.
    faces: Option<Vec<Vec<f64>>>,
    /// Face coefficient on the low side of the first point of each line, per axis:
    /// `low_faces[axis][p]` for points `p` with index 0 on that axis (stored densely).
    low_faces: Option<Vec<Vec<f64>>>,
    mask: Option<Vec<bool>>,
    /// For each unknown, its grid point (only when masked).
    unknown_to_point: Option<Vec<usize>>,
    /// For each grid point, its unknown or `u32::MAX` when solid (only when masked).
    point_to_unknown: Option<Vec<u32>>,
}

/// Right-hand sides the CLI and benchmarks generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RhsKind {
    /// Independent uniform values in [−1, 1], from a seeded PCG64 stream.
    Random,
    /// All ones.
    Ones,
    /// A unit source at the grid point nearest the centre, zero elsewhere.
    Point,
}

impl std::str::FromStr for RhsKind {
    type Err = SparseError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "random" => Ok(Self::Random),
            "ones" => Ok(Self::Ones),
            "point" => Ok(Self::Point),
            _ => Err(SparseError::InvalidParameter(format!(
                "unknown rhs '{}' (expected random, ones or point)",
                nabla_core::text::one_line(s, 60)
            ))),
        }
    }
}

impl RhsKind {
    /// A right-hand side of length `n` for a system with no grid behind it (a MatrixMarket
    /// matrix): `Random` draws the same seeded PCG64 stream as [`GridPoisson::rhs`], `Ones` is
    /// all ones, `Point` is the unit vector at index `n / 2`.
    pub fn vector(self, n: usize, seed: u64) -> Vec<f64> {
        match self {
            Self::Ones => vec![1.0; n],
            Self::Random => {
                let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
                (0..n).map(|_| rng.gen_range(-1.0..=1.0)).collect()
            }
            Self::Point => {
                let mut b = vec![0.0; n];
                if n > 0 {
                    b[n / 2] = 1.0;
                }
                b
            }
        }
    }

    /// The CLI name (`random`, `ones`, `point`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Ones => "ones",
            Self::Point => "point",
        }
    }
}

impl GridPoisson {
    /// The constant-coefficient problem (a ≡ 1) with no obstacles.
    pub fn new(shape: GridShape) -> Self {
        Self {
            shape,
            faces: None,
            low_faces: None,
            mask: None,
            unknown_to_point: None,
            point_to_unknown: None,
        }
    }

    /// Sets a variable diffusion coefficient given at the nodes of the grid including its
    /// boundary layer (`(NX+2)(NY+2)(NZ+2)` values, x fastest). Values must be finite and > 0.
    pub fn with_coefficient(mut self, nodal: &[f64]) -> Result<Self> {
        let ext: Vec<usize> = self.shape.dims().iter().map(|n| n + 2).collect();
        let ext_len: usize = ext.iter().product();
        if nodal.len() != ext_len {
            return Err(SparseError::DimensionMismatch(format!(
                "coefficient has {} values, the grid {} with its boundary layer needs {}",
                nodal.len(),
                self.shape,
                ext_len
            )));
        }
        if let Some(p) = nodal.iter().position(|v| !v.is_finite() || *v <= 0.0) {
            return Err(SparseError::InvalidParameter(format!(
                "coefficient must be finite and positive, found {} at node {p}",
                nodal[p]
            )));
        }
        let dims = self.shape.dims().to_vec();
        let nd = dims.len();
        let ext_strides: Vec<usize> = (0..nd).map(|a| ext[..a].iter().product()).collect();
        let n = self.shape.len();
        let mut faces = vec![vec![0.0; n]; nd];
        let mut low = vec![vec![0.0; n]; nd];
        let mut idx = vec![0usize; nd];
        for p in 0..n {
            let e: usize = (0..nd).map(|a| (idx[a] + 1) * ext_strides[a]).sum();
            for a in 0..nd {
                faces[a][p] = 0.5 * (nodal[e] + nodal[e + ext_strides[a]]);
                low[a][p] = 0.5 * (nodal[e] + nodal[e - ext_strides[a]]);
            }
            for (a, i) in idx.iter_mut().enumerate() {
                *i += 1;
                if *i < dims[a] {
                    break;
                }
                *i = 0;
            }
        }
        self.faces = Some(faces);
        self.low_faces = Some(low);
        Ok(self)
    }

    /// Sets an obstacle mask over the grid points (`true` = solid, fixed at 0). At least one
    /// point must be fluid.
    pub fn with_mask(mut self, mask: Vec<bool>) -> Result<Self> {
        if mask.len() != self.shape.len() {
            return Err(SparseError::DimensionMismatch(format!(
                "mask has {} cells, the grid {} has {}",
                mask.len(),
                self.shape,
                self.shape.len()
            )));
        }
        let mut u2p = Vec::new();
        let mut p2u = vec![u32::MAX; mask.len()];
        for (p, solid) in mask.iter().enumerate() {
            if !solid {
                p2u[p] = u2p.len() as u32;
                u2p.push(p);
            }
        }
        if u2p.is_empty() {
            return Err(SparseError::InvalidParameter(
                "the mask marks every cell solid; nothing to solve".into(),
            ));
        }
        self.mask = Some(mask);
        self.unknown_to_point = Some(u2p);
        self.point_to_unknown = Some(p2u);
        Ok(self)
    }

    /// The grid shape.
    pub fn shape(&self) -> &GridShape {
        &self.shape
    }

    /// The obstacle mask, if any (`true` = solid).
    pub fn mask(&self) -> Option<&[bool]> {
        self.mask.as_deref()
    }

    /// Whether the coefficient is the constant a ≡ 1.
    pub fn is_constant_coefficient(&self) -> bool {
        self.faces.is_none()
    }

    /// Number of unknowns (fluid cells).
    pub fn unknowns(&self) -> usize {
        self.unknown_to_point
            .as_ref()
            .map_or(self.shape.len(), |u| u.len())
    }

    /// For each unknown, its grid point index; `None` when every point is an unknown.
    pub fn unknown_points(&self) -> Option<&[usize]> {
        self.unknown_to_point.as_deref()
    }

    /// The diffusion coefficient of the face between grid point `p` and its neighbour along
    /// `+axis` (`low = false`) or `−axis` (`low = true`), boundary faces included: the mean of
    /// the two nodal values, 1 for a ≡ 1.
    pub fn face_coefficient(&self, axis: usize, p: usize, low: bool) -> f64 {
        let dims = self.shape.dims();
        let stride: usize = dims[..axis].iter().product();
        let i = (p / stride) % dims[axis];
        self.face(axis, p, low, i == 0)
    }

    /// Face coefficient between grid point `p` and its neighbour in direction `+axis`
    /// (`low = false`) or `−axis` (`low = true`).
    fn face(&self, axis: usize, p: usize, low: bool, at_low_edge: bool) -> f64 {
        match (&self.faces, &self.low_faces) {
            (Some(f), Some(l)) => {
                if !low {
                    f[axis][p]
                } else if at_low_edge {
                    l[axis][p]
                } else {
                    let stride: usize = self.shape.dims()[..axis].iter().product();
                    f[axis][p - stride]
                }
            }
            _ => 1.0,
        }
    }

    /// Assembles the CSR matrix over the unknowns (columns sorted in each row).
    pub fn matrix(&self) -> SparseMatrix {
        let dims = self.shape.dims().to_vec();
        let strides = self.shape.strides();
        let nd = dims.len();
        let n_unknowns = self.unknowns();
        let point_of = |u: usize| self.unknown_to_point.as_ref().map_or(u, |m| m[u]);
        let unknown_of = |p: usize| -> Option<usize> {
            match &self.point_to_unknown {
                Some(m) => (m[p] != u32::MAX).then_some(m[p] as usize),
                None => Some(p),
            }
        };
        // Rows are independent, so blocks of rows are assembled in parallel, each into flat
        // buffers (one allocation per block, not per row), then concatenated in order.
        const BLOCK: usize = 1 << 14;
        let blocks: Vec<(Vec<u32>, Vec<u32>, Vec<f64>)> = (0..n_unknowns.div_ceil(BLOCK))
            .into_par_iter()
            .map(|blk| {
                let rows = blk * BLOCK..((blk + 1) * BLOCK).min(n_unknowns);
                let cap = rows.len() * (2 * nd + 1);
                let (mut lens, mut cols, mut vals) = (
                    Vec::with_capacity(rows.len()),
                    Vec::with_capacity(cap),
                    Vec::with_capacity(cap),
                );
                for u in rows {
                    let p = point_of(u);
                    let start = cols.len();
                    let mut diag = 0.0;
                    for a in (0..nd).rev() {
                        let i = (p / strides[a]) % dims[a];
                        let low = self.face(a, p, true, i == 0);
                        diag += low;
                        if i > 0 {
                            if let Some(q) = unknown_of(p - strides[a]) {
                                cols.push(q as u32);
                                vals.push(-low);
                            }
                        }
                    }
                    for a in 0..nd {
                        diag += self.face(a, p, false, false);
                    }
                    cols.push(u as u32);
                    vals.push(diag);
                    for a in 0..nd {
                        let i = (p / strides[a]) % dims[a];
                        if i + 1 < dims[a] {
                            if let Some(q) = unknown_of(p + strides[a]) {
                                cols.push(q as u32);
                                vals.push(-self.face(a, p, false, false));
                            }
                        }
                    }
                    lens.push((cols.len() - start) as u32);
                }
                (lens, cols, vals)
            })
            .collect();
        let nnz: usize = blocks.iter().map(|b| b.1.len()).sum();
        let mut indptr = Vec::with_capacity(n_unknowns + 1);
        let mut indices = Vec::with_capacity(nnz);
        let mut data = Vec::with_capacity(nnz);
        indptr.push(0usize);
        for (lens, cols, vals) in blocks {
            for len in lens {
                indptr.push(indptr[indptr.len() - 1] + len as usize);
            }
            indices.extend_from_slice(&cols);
            data.extend_from_slice(&vals);
        }
        let csr = CsMatI::new((n_unknowns, n_unknowns), indptr, indices, data);
        SparseMatrix::from_csr(csr)
            .expect("grid assembly produces a square finite matrix")
            .built_symmetric()
    }

    /// A matrix-free operator applying the same matrix with the stencil, or `None` when the
    /// problem has a mask (then use [`GridPoisson::matrix`]).
    pub fn stencil(&self) -> Option<StencilOperator> {
        if self.mask.is_some() {
            return None;
        }
        Some(StencilOperator {
            shape: self.shape.clone(),
            faces: self.faces.clone(),
            low_faces: self.low_faces.clone(),
        })
    }

    /// A right-hand side over the unknowns. `seed` drives `Random` (PCG64 stream).
    pub fn rhs(&self, kind: RhsKind, seed: u64) -> Vec<f64> {
        let n = self.unknowns();
        match kind {
            RhsKind::Ones | RhsKind::Random => kind.vector(n, seed),
            RhsKind::Point => {
                let centre: Vec<usize> = self.shape.dims().iter().map(|d| d / 2).collect();
                let target = self.shape.index(&centre);
                let mut b = vec![0.0; n];
                let u = match self.unknown_to_point.as_ref() {
                    None => target,
                    // Nearest fluid cell to the centre (in grid-index distance).
                    Some(u2p) => {
                        let dist = |p: usize| -> usize {
                            let s = self.shape.strides();
                            (0..self.shape.ndim())
                                .map(|a| {
                                    let i = (p / s[a]) % self.shape.dims()[a];
                                    i.abs_diff(centre[a]).pow(2)
                                })
                                .sum()
                        };
                        (0..u2p.len()).min_by_key(|&u| dist(u2p[u])).unwrap_or(0)
                    }
                };
                b[u] = 1.0;
                b
            }
        }
    }

    /// Scatters a vector over the unknowns onto the full grid (solid cells get 0).
    pub fn to_grid(&self, x: &[f64]) -> Vec<f64> {
        match &self.unknown_to_point {
            None => x.to_vec(),
            Some(u2p) => {
                let mut g = vec![0.0; self.shape.len()];
                for (u, &p) in u2p.iter().enumerate() {
                    g[p] = x[u];
                }
                g
            }
        }
    }
}

/// Matrix-free application of an unmasked [`GridPoisson`] operator: no index arrays, one pass
/// over the input and output vectors. Produces exactly the same numbers as the CSR matrix.
#[derive(Clone, Debug)]
pub struct StencilOperator {
    shape: GridShape,
    faces: Option<Vec<Vec<f64>>>,
    low_faces: Option<Vec<Vec<f64>>>,
}

impl StencilOperator {
    /// Row `p` of `A x`.
    #[inline(always)]
    fn row_constant(
        &self,
        x: &[f64],
        p: usize,
        idx: [usize; 3],
        dims: [usize; 3],
        strides: [usize; 3],
        nd: usize,
    ) -> f64 {
        let mut s = 2.0 * nd as f64 * x[p];
        for a in 0..nd {
            if idx[a] > 0 {
                s -= x[p - strides[a]];
            }
            if idx[a] + 1 < dims[a] {
                s -= x[p + strides[a]];
            }
        }
        s
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row_variable(
        &self,
        f: &[Vec<f64>],
        l: &[Vec<f64>],
        x: &[f64],
        p: usize,
        idx: [usize; 3],
        dims: [usize; 3],
        strides: [usize; 3],
        nd: usize,
    ) -> f64 {
        let mut diag = 0.0;
        let mut s = 0.0;
        for a in 0..nd {
            let up = f[a][p];
            diag += up;
            if idx[a] + 1 < dims[a] {
                s -= up * x[p + strides[a]];
            }
            if idx[a] > 0 {
                let lo = f[a][p - strides[a]];
                diag += lo;
                s -= lo * x[p - strides[a]];
            } else {
                diag += l[a][p];
            }
        }
        s + diag * x[p]
    }

    /// Applies rows `[start, start + y.len())`, returning `Σ x_p y_p` over them.
    fn apply_block(&self, x: &[f64], y: &mut [f64], start: usize) -> f64 {
        let nd = self.shape.ndim();
        let mut dims = [1usize; 3];
        let mut strides = [0usize; 3];
        dims[..nd].copy_from_slice(&self.shape.dims()[..nd]);
        let st = self.shape.strides();
        strides[..nd].copy_from_slice(&st);
        let mut dot = 0.0;
        let nx = dims[0];
        let first_line = start / nx;
        let last_line = (start + y.len()).div_ceil(nx);
        for line in first_line..last_line {
            let j = line % dims[1];
            let k = line / dims[1];
            let p0 = line * nx;
            let lo = p0.max(start);
            let hi = (p0 + nx).min(start + y.len());
            match (&self.faces, &self.low_faces) {
                (None, _) if nd == 2 => {
                    // Hot path: 2-D constant coefficient, branch-free interior.
                    let up = (j > 0).then(|| &x[p0 - nx..p0]);
                    let dn = (j + 1 < dims[1]).then(|| &x[p0 + nx..p0 + 2 * nx]);
                    let xl = &x[p0..p0 + nx];
                    for p in lo..hi {
                        let i = p - p0;
                        let mut s = 4.0 * xl[i];
                        if i > 0 {
                            s -= xl[i - 1];
                        }
                        if i + 1 < nx {
                            s -= xl[i + 1];
                        }
                        if let Some(u) = up {
                            s -= u[i];
                        }
                        if let Some(d) = dn {
                            s -= d[i];
                        }
                        y[p - start] = s;
                        dot += s * xl[i];
                    }
                }
                (None, _) => {
                    for p in lo..hi {
                        let s = self.row_constant(x, p, [p - p0, j, k], dims, strides, nd);
                        y[p - start] = s;
                        dot += s * x[p];
                    }
                }
                (Some(f), Some(l)) => {
                    for p in lo..hi {
                        let s = self.row_variable(f, l, x, p, [p - p0, j, k], dims, strides, nd);
                        y[p - start] = s;
                        dot += s * x[p];
                    }
                }
                (Some(_), None) => unreachable!("faces and low faces are set together"),
            }
        }
        dot
    }
}

impl LinearOperator for StencilOperator {
    fn dim(&self) -> usize {
        self.shape.len()
    }

    fn apply(&self, x: &[f64], y: &mut [f64]) {
        self.apply_dot(x, y);
    }

    fn apply_dot(&self, x: &[f64], y: &mut [f64]) -> f64 {
        let parts: Vec<f64> = y
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, yc)| self.apply_block(x, yc, c * CHUNK))
            .collect();
        parts.into_iter().sum()
    }

    fn diagonal(&self) -> Option<Vec<f64>> {
        let nd = self.shape.ndim();
        match (&self.faces, &self.low_faces) {
            (Some(f), Some(l)) => {
                let st = self.shape.strides();
                let dims = self.shape.dims();
                Some(
                    (0..self.shape.len())
                        .map(|p| {
                            (0..nd)
                                .map(|a| {
                                    let i = (p / st[a]) % dims[a];
                                    f[a][p] + if i > 0 { f[a][p - st[a]] } else { l[a][p] }
                                })
                                .sum()
                        })
                        .collect(),
                )
            }
            _ => Some(vec![2.0 * nd as f64; self.shape.len()]),
        }
    }

    fn nonzeros(&self) -> usize {
        let dims = self.shape.dims();
        let n = self.shape.len();
        n + (0..dims.len())
            .map(|a| 2 * (dims[a] - 1) * (n / dims[a]))
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_same(problem: &GridPoisson) {
        let a = problem.matrix();
        let s = problem.stencil().unwrap();
        let n = a.rows();
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
        let d1 = a.apply_dot(&x, &mut y1);
        let d2 = s.apply_dot(&x, &mut y2);
        for i in 0..n {
            assert!(
                (y1[i] - y2[i]).abs() < 1e-12,
                "row {i}: {} vs {}",
                y1[i],
                y2[i]
            );
        }
        assert!((d1 - d2).abs() < 1e-9 * d1.abs().max(1.0));
        assert_eq!(a.nnz(), s.nonzeros());
        assert_eq!(a.diag(), s.diagonal().unwrap());
        assert!(a.is_symmetric());
    }

    #[test]
    fn constant_2d_matches_textbook_stencil() {
        let p = GridPoisson::new("3x2".parse().unwrap());
        let a = p.matrix();
        assert_eq!(a.get(0, 0), 4.0);
        assert_eq!(a.get(0, 1), -1.0);
        assert_eq!(a.get(0, 3), -1.0);
        assert_eq!(a.get(1, 4), -1.0);
        assert_eq!(a.get(2, 3), 0.0); // end of an x-line does not wrap
        assert_eq!(a.nnz(), 6 + 2 * (2 * 2 + 3));
        check_same(&p);
    }

    #[test]
    fn stencil_matches_matrix_in_all_cases() {
        check_same(&GridPoisson::new("37x5".parse().unwrap()));
        check_same(&GridPoisson::new("5x4x3".parse().unwrap()));
        check_same(&GridPoisson::new("7".parse().unwrap()));
        let shape: GridShape = "6x5x4".parse().unwrap();
        let ext = 8 * 7 * 6;
        let coef: Vec<f64> = (0..ext).map(|i| 1.0 + (i % 5) as f64).collect();
        check_same(&GridPoisson::new(shape).with_coefficient(&coef).unwrap());
        let shape: GridShape = "9x7".parse().unwrap();
        let coef: Vec<f64> = (0..11 * 9).map(|i| 0.5 + (i % 3) as f64).collect();
        check_same(&GridPoisson::new(shape).with_coefficient(&coef).unwrap());
    }

    #[test]
    fn variable_coefficient_faces_are_arithmetic_means() {
        // 2x1 interior grid, extended 4x3; coefficient = node x-index + 1.
        let coef: Vec<f64> = (0..12).map(|e| (e % 4) as f64 + 1.0).collect();
        let a = GridPoisson::new("2x1".parse().unwrap())
            .with_coefficient(&coef)
            .unwrap()
            .matrix();
        // Point (0,0) sits at extended x = 1 (a=2): faces left (1+2)/2, right (2+3)/2, up/down 2.
        assert_eq!(a.get(0, 0), 1.5 + 2.5 + 2.0 + 2.0);
        assert_eq!(a.get(0, 1), -2.5);
        assert_eq!(a.get(1, 1), 2.5 + 3.5 + 3.0 + 3.0);
    }

    #[test]
    fn mask_removes_cells_and_keeps_symmetry() {
        let shape: GridShape = "4x4".parse().unwrap();
        let mut mask = vec![false; 16];
        mask[5] = true;
        mask[6] = true;
        let p = GridPoisson::new(shape).with_mask(mask).unwrap();
        assert_eq!(p.unknowns(), 14);
        let a = p.matrix();
        assert_eq!(a.rows(), 14);
        // Point 1 (unknown 1) lost its neighbour 5 but keeps diagonal 4.
        assert_eq!(a.get(1, 1), 4.0);
        assert!(a.is_symmetric());
        let g = p.to_grid(&[1.0; 14]);
        assert_eq!(g[5], 0.0);
        assert_eq!(g[7], 1.0);
        assert!(p.stencil().is_none());
    }

    #[test]
    fn rhs_kinds() {
        let p = GridPoisson::new("5x5".parse().unwrap());
        let b = p.rhs(RhsKind::Random, 3);
        assert_eq!(b, p.rhs(RhsKind::Random, 3));
        assert!(b.iter().all(|v| (-1.0..=1.0).contains(v)));
        let pt = p.rhs(RhsKind::Point, 0);
        assert_eq!(pt[12], 1.0);
        assert_eq!(pt.iter().sum::<f64>(), 1.0);
    }
}
