//! Shapes of structured grids of interior unknowns.

use crate::CoreError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The shape of a 1-, 2- or 3-D grid of interior unknowns, `[NX, NY, NZ]` with x fastest:
/// the unknown at `(i, j, k)` has flat index `i + NX*j + NX*NY*k`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GridShape {
    dims: Vec<usize>,
}

impl GridShape {
    /// A shape from its extents `[NX]`, `[NX, NY]` or `[NX, NY, NZ]`; each must be ≥ 1.
    pub fn new(dims: &[usize]) -> Result<Self, CoreError> {
        let spec = dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        if dims.is_empty() || dims.len() > 3 {
            return Err(CoreError::InvalidGrid {
                spec,
                reason: "a grid has 1, 2 or 3 dimensions".into(),
            });
        }
        if dims.contains(&0) {
            return Err(CoreError::InvalidGrid {
                spec,
                reason: "every extent must be at least 1".into(),
            });
        }
        if dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .is_none()
        {
            return Err(CoreError::InvalidGrid {
                spec,
                reason: "too many unknowns".into(),
            });
        }
        Ok(Self {
            dims: dims.to_vec(),
        })
    }

    /// Extents per axis, x first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Number of spatial dimensions (1, 2 or 3).
    pub fn ndim(&self) -> usize {
        self.dims.len()
    }

    /// Total number of grid points.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Always false: every extent is at least 1.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Flat index of a multi-index (x fastest). The multi-index must have `ndim()` entries.
    pub fn index(&self, idx: &[usize]) -> usize {
        let mut flat = 0;
        let mut stride = 1;
        for (i, n) in idx.iter().zip(&self.dims) {
            flat += i * stride;
            stride *= n;
        }
        flat
    }

    /// Strides of each axis in the flat index (x has stride 1).
    pub fn strides(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.dims.len());
        let mut stride = 1;
        for n in &self.dims {
            s.push(stride);
            stride *= n;
        }
        s
    }

    /// Extents in C (row-major) order, `[NZ, NY, NX]`: the shape an HDF5 or NumPy array of
    /// this grid has when its flat buffer uses our x-fastest indexing.
    pub fn c_order_dims(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
}

impl fmt::Display for GridShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        write!(f, "{}", parts.join("x"))
    }
}

impl FromStr for GridShape {
    type Err = CoreError;

    /// Parses `NX`, `NXxNY` or `NXxNYxNZ`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| CoreError::InvalidGrid {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let dims: Vec<usize> = s
            .split(['x', 'X'])
            .map(|p| p.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("expected NX, NXxNY or NXxNYxNZ with positive integers"))?;
        Self::new(&dims).map_err(|e| match e {
            CoreError::InvalidGrid { reason, .. } => bad(&reason),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_indexes() {
        let g: GridShape = "4x3x2".parse().unwrap();
        assert_eq!(g.len(), 24);
        assert_eq!(g.index(&[1, 2, 1]), 1 + 4 * 2 + 12);
        assert_eq!(g.strides(), vec![1, 4, 12]);
        assert_eq!(g.c_order_dims(), vec![2, 3, 4]);
        assert_eq!(g.to_string(), "4x3x2");
    }

    #[test]
    fn rejects_bad_specs() {
        for s in ["", "0x4", "4x", "axb", "1x2x3x4", "-3x4"] {
            assert!(s.parse::<GridShape>().is_err(), "{s}");
        }
    }
}
