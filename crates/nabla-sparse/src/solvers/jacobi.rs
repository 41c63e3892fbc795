//! The Jacobi (diagonal) preconditioner.

use super::Preconditioner;
use crate::error::{Result, SparseError};
use crate::operator::LinearOperator;
use crate::vecops::CHUNK;
use rayon::prelude::*;

/// `M = diag(A)`: `z = r ./ diag(A)`.
///
/// Memory it keeps: the `n` inverse diagonal entries (`8·n` bytes); not the operator.
pub struct Jacobi {
    inv_diag: Vec<f64>,
}

impl Jacobi {
    /// Builds from the operator's diagonal; errors on a zero or missing diagonal entry.
    pub fn new(a: &dyn LinearOperator) -> Result<Self> {
        let d = a.diagonal().ok_or_else(|| {
            SparseError::InvalidParameter("the operator does not expose its diagonal".into())
        })?;
        if let Some(row) = d.iter().position(|v| *v == 0.0) {
            return Err(SparseError::ZeroDiagonal {
                row,
                method: "Jacobi".into(),
            });
        }
        if let Some(row) = d.iter().position(|v| *v < 0.0) {
            return Err(SparseError::NotPositiveDefinite {
                detail: format!("negative diagonal entry {} at row {}", d[row], row + 1),
            });
        }
        Ok(Self {
            inv_diag: d.iter().map(|v| 1.0 / v).collect(),
        })
    }
}

impl Preconditioner for Jacobi {
    fn name(&self) -> String {
        "jacobi".into()
    }

    fn apply(&mut self, r: &[f64], z: &mut [f64]) {
        z.par_chunks_mut(CHUNK)
            .zip(r.par_chunks(CHUNK).zip(self.inv_diag.par_chunks(CHUNK)))
            .for_each(|(zc, (rc, dc))| {
                for i in 0..zc.len() {
                    zc[i] = rc[i] * dc[i];
                }
            });
    }
}
