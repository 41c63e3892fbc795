//! Incomplete Cholesky with zero fill-in, IC(0), as a PCG preconditioner.

use super::Preconditioner;
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use std::time::Instant;

/// `M = L Lᵀ` where `L` has the sparsity of the lower triangle of `A` and matches `A` on it.
/// The triangular solves are sequential (they are inherently recursive); the factor is
/// stored row-wise with the diagonal last in each row.
///
/// Memory it keeps ([`Ic0::memory_bytes`]), for `n` unknowns: one factor over the lower
/// triangle with the diagonal, `nnz_L = (nnz + n)/2` entries for a symmetric pattern of `nnz`
/// entries (a `u32` column index and an `f64` value each), `n + 1` row pointers and `n`
/// inverse pivots: `12·nnz_L + 16·n + 8` bytes. It does not keep `A`.
pub struct Ic0 {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f64>,
    /// 1 / L[i,i]: a multiply instead of a divide on the triangular solves' critical path.
    inv_diag: Vec<f64>,
    setup: f64,
}

impl Ic0 {
    /// Factorizes the lower triangle of `a` (assumed symmetric). Errors with
    /// `NotPositiveDefinite` at a non-positive pivot and `ZeroDiagonal` when a diagonal entry is
    /// missing.
    pub fn new(a: &SparseMatrix) -> Result<Self> {
        let t0 = Instant::now();
        let n = a.rows();
        let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
        // Lower-triangular pattern, columns ascending, diagonal last.
        let mut indptr = Vec::with_capacity(n + 1);
        // Exact for a symmetric pattern (the lower triangle and the diagonal).
        let lower = (a.nnz() + n) / 2;
        let mut indices = Vec::with_capacity(lower);
        let mut values = Vec::with_capacity(lower);
        indptr.push(0);
        for i in 0..n {
            let mut has_diag = false;
            for k in ip[i]..ip[i + 1] {
                let j = ix[k] as usize;
                if j < i {
                    indices.push(ix[k]);
                    values.push(vx[k]);
                } else if j == i {
                    has_diag = true;
                }
            }
            if !has_diag {
                return Err(SparseError::ZeroDiagonal {
                    row: i,
                    method: "IC(0)".into(),
                });
            }
            indices.push(i as u32);
            values.push(a.get(i, i));
            indptr.push(indices.len());
        }
        indices.shrink_to_fit();
        values.shrink_to_fit();
        let mut ic = Self {
            indptr,
            indices,
            values,
            inv_diag: Vec::new(),
            setup: 0.0,
        };
        ic.factor()?;
        ic.setup = t0.elapsed().as_secs_f64();
        Ok(ic)
    }

    /// Factorizes new values of a matrix with the same pattern as the one this factor was
    /// built from (a time loop whose coefficients change): copies the lower triangle of `a`
    /// into the stored pattern and factorizes again, with no allocation. Errors with
    /// `DimensionMismatch` when the pattern differs (nothing is changed then) and like
    /// [`Ic0::new`] at a non-positive pivot (the factor is then unusable until a successful
    /// `refactor`).
    pub fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        let t0 = Instant::now();
        let n = self.indptr.len() - 1;
        let mismatch = |row: usize| {
            SparseError::DimensionMismatch(format!(
                "IC(0) refactor: the matrix's lower-triangle pattern differs from the factor's \
                 at row {} (build a new Ic0 for a new pattern)",
                row + 1
            ))
        };
        if a.rows() != n {
            return Err(SparseError::DimensionMismatch(format!(
                "IC(0) refactor: the matrix has {} rows, the factor {n}",
                a.rows()
            )));
        }
        let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
        // Check the whole pattern first, so a mismatch leaves the factor intact.
        for i in 0..n {
            let lower = ix[ip[i]..ip[i + 1]].iter().filter(|&&j| (j as usize) < i);
            let stored = &self.indices[self.indptr[i]..self.indptr[i + 1] - 1];
            if !lower.copied().eq(stored.iter().copied()) {
                return Err(mismatch(i));
            }
        }
        for i in 0..n {
            let mut p = self.indptr[i];
            let mut diag = None;
            for k in ip[i]..ip[i + 1] {
                let j = ix[k] as usize;
                if j < i {
                    self.values[p] = vx[k];
                    p += 1;
                } else if j == i {
                    diag = Some(vx[k]);
                }
            }
            self.values[p] = diag.ok_or_else(|| mismatch(i))?;
        }
        self.factor()?;
        self.setup = t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Bytes of heap memory the factor holds (see [`Ic0`]): row pointers, column indices,
    /// values and inverse pivots.
    pub fn memory_bytes(&self) -> usize {
        self.indptr.capacity() * std::mem::size_of::<usize>()
            + self.indices.capacity() * std::mem::size_of::<u32>()
            + (self.values.capacity() + self.inv_diag.capacity()) * std::mem::size_of::<f64>()
    }

    /// The numeric factorization in place over the stored pattern (values hold A's lower
    /// triangle on entry), then the inverse diagonal.
    fn factor(&mut self) -> Result<()> {
        let n = self.indptr.len() - 1;
        let (indptr, indices, values) = (&self.indptr, &self.indices, &mut self.values);
        // Row-oriented left-looking factorization: L[i,k] = (A[i,k] − Σ_m L[i,m] L[k,m]) / L[k,k]
        // over the common pattern m < k, then L[i,i] = sqrt(A[i,i] − Σ_m L[i,m]²).
        for i in 0..n {
            let (s, e) = (indptr[i], indptr[i + 1]);
            for p in s..e - 1 {
                let k = indices[p] as usize;
                let (ks, ke) = (indptr[k], indptr[k + 1]);
                // Sparse dot of row i (before p) and row k (before its diagonal).
                let mut sum = 0.0;
                let (mut a_i, mut a_k) = (s, ks);
                while a_i < p && a_k < ke - 1 {
                    let (ci, ck) = (indices[a_i], indices[a_k]);
                    if ci == ck {
                        sum += values[a_i] * values[a_k];
                        a_i += 1;
                        a_k += 1;
                    } else if ci < ck {
                        a_i += 1;
                    } else {
                        a_k += 1;
                    }
                }
                values[p] = (values[p] - sum) / values[ke - 1];
            }
            let sq: f64 = values[s..e - 1].iter().map(|v| v * v).sum();
            let pivot = values[e - 1] - sq;
            if !super::cg::is_positive(pivot) {
                return Err(SparseError::NotPositiveDefinite {
                    detail: format!("IC(0) pivot {pivot:e} at row {}", i + 1),
                });
            }
            values[e - 1] = pivot.sqrt();
        }
        self.inv_diag.clear();
        self.inv_diag
            .extend((0..n).map(|i| 1.0 / self.values[self.indptr[i + 1] - 1]));
        Ok(())
    }
}

impl Preconditioner for Ic0 {
    fn name(&self) -> String {
        "ic0".into()
    }

    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        let n = r.len();
        let (ip, ix, vx, inv) = (&self.indptr, &self.indices, &self.values, &self.inv_diag);
        // Forward: L y = r.
        for i in 0..n {
            let (s, e) = (ip[i], ip[i + 1]);
            let mut acc = r[i];
            for k in s..e - 1 {
                acc -= vx[k] * z[ix[k] as usize];
            }
            z[i] = acc * inv[i];
        }
        // Backward: Lᵀ z = y, column sweep over the rows of L.
        for i in (0..n).rev() {
            let (s, e) = (ip[i], ip[i + 1]);
            let zi = z[i] * inv[i];
            z[i] = zi;
            for k in s..e - 1 {
                z[ix[k] as usize] -= vx[k] * zi;
            }
        }
    }

    fn setup_seconds(&self) -> f64 {
        self.setup
    }

    fn refactor(&mut self, a: &SparseMatrix) -> Result<()> {
        Ic0::refactor(self, a)
    }
}
