//! Values of grid outputs at off-grid points: bilinear interpolation, as one differentiable
//! gather (`index_select`) and a weighted sum, over a batch of instances at once.

use super::features::EmbeddingGrid;
use candle_core::{DType, Device, Tensor};

/// The four corner indices and weights of each point, into the flat batch `[B·n·n]` of grid
/// values (instance b, node (i, j) at b·n² + i·n + j).
#[derive(Clone, Debug, Default)]
pub struct BilinearStencil {
    index: Vec<u32>,
    weight: Vec<f32>,
}

impl BilinearStencil {
    /// An empty stencil.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds point `x` of instance `instance`. Points outside the grid's box use the nearest
    /// cell (the weights are clamped to [0, 1]); every point of the family lies inside.
    pub fn push(&mut self, grid: &EmbeddingGrid, instance: usize, x: &[f64; 2]) {
        let n = grid.n;
        let h = grid.spacing();
        let cell = |v: f64| -> (usize, f64) {
            let s = (v + grid.half_width) / h;
            let i = (s.floor().max(0.0) as usize).min(n - 2);
            (i, (s - i as f64).clamp(0.0, 1.0))
        };
        let (i, tx) = cell(x[0]);
        let (j, ty) = cell(x[1]);
        let base = (instance * n * n) as u32;
        let at = |i: usize, j: usize| base + (i * n + j) as u32;
        self.index
            .extend([at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1)]);
        self.weight.extend([
            ((1.0 - tx) * (1.0 - ty)) as f32,
            (tx * (1.0 - ty)) as f32,
            ((1.0 - tx) * ty) as f32,
            (tx * ty) as f32,
        ]);
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.index.len() / 4
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The interpolated values `[M]` of the flat grid values `u` (`[B·n·n]`); differentiable
    /// in `u`.
    pub fn apply(&self, u: &Tensor) -> candle_core::Result<Tensor> {
        let m = self.len();
        let dev: &Device = u.device();
        let idx = Tensor::from_slice(&self.index, self.index.len(), dev)?;
        let w = Tensor::from_slice(&self.weight, (m, 4), dev)?.to_dtype(u.dtype())?;
        u.index_select(&idx, 0)?.reshape((m, 4))?.mul(&w)?.sum(1)
    }

    /// [`BilinearStencil::apply`] on host values.
    pub fn apply_host(&self, u: &[f64]) -> Vec<f64> {
        self.index
            .chunks(4)
            .zip(self.weight.chunks(4))
            .map(|(i, w)| {
                i.iter()
                    .zip(w)
                    .map(|(&i, &w)| u[i as usize] * w as f64)
                    .sum()
            })
            .collect()
    }

    /// A host tensor of values, for targets aligned with the points.
    pub fn targets(values: &[f64], dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
        Tensor::from_slice(values, values.len(), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)
    }
}
