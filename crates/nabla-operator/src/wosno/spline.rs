//! C² evaluation of latent grid features at arbitrary points: uniform cubic B-splines whose
//! coefficients are the latent grid's feature vectors, with their first and pure second
//! derivatives, as one differentiable gather and a small batched product.
//!
//! A point x in cell i of an axis (x_i ≤ x < x_{i+1}, t = (x − x_i)/h) takes the nodes
//! i−1 … i+2 with weights B(t+1), B(t), B(t−1), B(t−2) of the cubic B-spline B (support
//! [−2, 2]); in 2-D the 4 × 4 tensor product. The map x ↦ Σ_k B_k(x) c_k is a C² piecewise
//! cubic for any coefficients, so ∂²/∂x² of the decoded value exists everywhere — which a
//! physics loss through the decoder needs (bilinear interpolation has no second derivative).
//! Nodes beyond the grid's edge are clamped to the edge node (the spline stays C² in the
//! interior of every cell; the family's domains end 2 cells inside the box anyway).

use super::features::EmbeddingGrid;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How latent features are interpolated at a query point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// The cubic B-spline: C², so the Laplacian through the decoder is the true one.
    #[default]
    Cubic,
    /// Bilinear: C⁰ only. Its second derivatives vanish inside every cell and the kinks along
    /// cell edges (where the true Laplacian has line masses) are invisible to pointwise
    /// derivatives — a diagnostic of what a physics loss through a non-smooth decoder (e.g. a
    /// graph kernel integral whose neighbour set jumps with x) optimises, not a method.
    Bilinear,
}

/// Weights of the 4 nodes i−1 … i+2 at offset t ∈ [0, 1) from node i with their first and
/// second derivatives in t, for `interp`.
pub fn axis_weights(interp: Interpolation, t: f64) -> ([f64; 4], [f64; 4], [f64; 4]) {
    match interp {
        Interpolation::Cubic => cubic_weights(t),
        Interpolation::Bilinear => ([0.0, 1.0 - t, t, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0; 4]),
    }
}

/// Rows of derivative weights per point, in this order.
pub const ROWS: usize = 5;
/// Row index of the value weights.
pub const VALUE: usize = 0;
/// Row indices of ∂/∂x and ∂/∂y.
pub const D1: [usize; 2] = [1, 2];
/// Row indices of ∂²/∂x² and ∂²/∂y².
pub const D2: [usize; 2] = [3, 4];
/// Nodes per point (4 × 4).
pub const TAPS: usize = 16;

/// Cubic B-spline weights of the 4 nodes i−1 … i+2 at offset t ∈ [0, 1) from node i, with
/// their first and second derivatives in t.
pub fn cubic_weights(t: f64) -> ([f64; 4], [f64; 4], [f64; 4]) {
    let s = 1.0 - t;
    let t2 = t * t;
    let t3 = t2 * t;
    let w = [
        s * s * s / 6.0,
        (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0,
        (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0,
        t3 / 6.0,
    ];
    let dw = [
        -0.5 * s * s,
        1.5 * t2 - 2.0 * t,
        -1.5 * t2 + t + 0.5,
        0.5 * t2,
    ];
    let d2w = [s, 3.0 * t - 2.0, 1.0 - 3.0 * t, t];
    (w, dw, d2w)
}

/// The 16 node indices and the [`ROWS`] × 16 weights of each point, into flat latent
/// features `[B·n·n, C]` (instance b, node (i, j) at row b·n² + i·n + j).
#[derive(Clone, Debug, Default)]
pub struct SplineStencil {
    interpolation: Interpolation,
    index: Vec<u32>,
    weight: Vec<f64>,
    points: Vec<f64>,
}

impl SplineStencil {
    /// An empty cubic-spline stencil.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty stencil with this interpolation.
    pub fn with(interpolation: Interpolation) -> Self {
        SplineStencil {
            interpolation,
            ..Self::default()
        }
    }

    /// Adds point `x` of instance `instance`.
    pub fn push(&mut self, grid: &EmbeddingGrid, instance: usize, x: &[f64; 2]) {
        let n = grid.n;
        let h = grid.spacing();
        let axis = |v: f64| -> (isize, f64) {
            let s = (v + grid.half_width) / h;
            let i = s.floor().clamp(0.0, (n - 2) as f64);
            (i as isize, (s - i).clamp(0.0, 1.0))
        };
        let (i, tx) = axis(x[0]);
        let (j, ty) = axis(x[1]);
        let (wx, dwx, d2wx) = axis_weights(self.interpolation, tx);
        let (wy, dwy, d2wy) = axis_weights(self.interpolation, ty);
        let clamp = |k: isize| k.clamp(0, n as isize - 1) as usize;
        let base = instance * n * n;
        for a in 0..4 {
            for b in 0..4 {
                let node = clamp(i - 1 + a as isize) * n + clamp(j - 1 + b as isize);
                self.index.push((base + node) as u32);
            }
        }
        let (ih, ih2) = (1.0 / h, 1.0 / (h * h));
        let rows: [[f64; 4]; ROWS] = [wx, dwx, wx, d2wx, wx];
        let cols: [[f64; 4]; ROWS] = [wy, wy, dwy, wy, d2wy];
        let scale = [1.0, ih, ih, ih2, ih2];
        for ((row, col), s) in rows.iter().zip(&cols).zip(scale) {
            for wa in row {
                for wb in col {
                    self.weight.push(s * wa * wb);
                }
            }
        }
        self.points.extend([x[0], x[1]]);
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.index.len() / TAPS
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The points as `[M, 2]` (f64), in the order they were pushed.
    pub fn points(&self, device: &Device) -> candle_core::Result<Tensor> {
        Tensor::from_slice(&self.points, (self.len(), 2), device)
    }

    /// The decoded features and their derivatives at every point, `[M, rows, C]`, for the
    /// first `rows` of [`ROWS`] (1: value only; 3: value and gradient; 5: also ∂²/∂x²,
    /// ∂²/∂y²) from flat latent features `[B·n·n, C]`; differentiable in `latent`.
    pub fn apply(&self, latent: &Tensor, rows: usize) -> candle_core::Result<Tensor> {
        let m = self.len();
        let c = latent.dims2()?.1;
        let dev = latent.device();
        let idx = Tensor::from_slice(&self.index, self.index.len(), dev)?;
        let taps = latent.index_select(&idx, 0)?.reshape((m, TAPS, c))?;
        let w = Tensor::from_slice(&self.weight, (m, ROWS, TAPS), dev)?
            .narrow(1, 0, rows)?
            .contiguous()?
            .to_dtype(latent.dtype())?;
        w.matmul(&taps)
    }

    /// [`SplineStencil::apply`] on host values of one channel (flat `[B·n·n]`): per point the
    /// value, ∂x, ∂y, ∂xx, ∂yy.
    pub fn apply_host(&self, u: &[f64]) -> Vec<[f64; ROWS]> {
        self.index
            .chunks(TAPS)
            .zip(self.weight.chunks(ROWS * TAPS))
            .map(|(idx, w)| {
                let mut out = [0.0; ROWS];
                for (r, o) in out.iter_mut().enumerate() {
                    *o = idx
                        .iter()
                        .zip(&w[r * TAPS..(r + 1) * TAPS])
                        .map(|(&i, &w)| u[i as usize] * w)
                        .sum();
                }
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_partition_unity_and_reproduce_quadratics() {
        for &t in &[0.0, 0.25, 0.5, 0.9] {
            let (w, dw, d2w) = cubic_weights(t);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-14);
            assert!(dw.iter().sum::<f64>().abs() < 1e-14);
            assert!(d2w.iter().sum::<f64>().abs() < 1e-14);
            // Linear functions: Σ w_k k = t + 0 at nodes −1…2 (k − 1 offsets).
            let lin: f64 = (0..4).map(|k| w[k] * (k as f64 - 1.0)).sum();
            assert!((lin - t).abs() < 1e-14);
        }
    }

    /// A spline reproducing a quadratic exactly: its value, gradient and second derivatives.
    #[test]
    fn derivatives_of_a_quadratic_are_exact() {
        let grid = EmbeddingGrid {
            n: 12,
            half_width: 1.0,
        };
        let h = grid.spacing();
        // For B-splines, Σ_k B(t − k) k² = t² + 1/3, so coefficients c_k = p(x_k) − h²/3 ·
        // (a + b) for p = a x² + b y² + e xy reproduce p exactly.
        let (a, b, e) = (1.0, 3.0, -1.0);
        let p = |x: f64, y: f64| a * x * x + b * y * y + e * x * y;
        let mut coef = vec![0.0; grid.len()];
        for i in 0..grid.n {
            for j in 0..grid.n {
                let [x, y] = grid.node(i, j);
                coef[i * grid.n + j] = p(x, y) - h * h / 3.0 * (a + b);
            }
        }
        let mut st = SplineStencil::new();
        let pts = [[0.1, -0.2], [0.33, 0.41], [-0.5, 0.05]];
        for x in &pts {
            st.push(&grid, 0, x);
        }
        for (x, v) in pts.iter().zip(st.apply_host(&coef)) {
            assert!((v[0] - p(x[0], x[1])).abs() < 1e-5, "{v:?}");
            assert!((v[1] - (2.0 * a * x[0] + e * x[1])).abs() < 1e-4);
            assert!((v[2] - (2.0 * b * x[1] + e * x[0])).abs() < 1e-4);
            assert!((v[3] - 2.0 * a).abs() < 1e-3);
            assert!((v[4] - 2.0 * b).abs() < 1e-3);
        }
    }

    #[test]
    fn bilinear_reproduces_bilinear_functions_with_zero_curvature() {
        let grid = EmbeddingGrid {
            n: 9,
            half_width: 1.0,
        };
        let p = |x: f64, y: f64| 1.0 + 2.0 * x - y + 0.5 * x * y;
        let mut coef = vec![0.0; grid.len()];
        for i in 0..grid.n {
            for j in 0..grid.n {
                let [x, y] = grid.node(i, j);
                coef[i * grid.n + j] = p(x, y);
            }
        }
        let mut st = SplineStencil::with(Interpolation::Bilinear);
        st.push(&grid, 0, &[0.3, -0.45]);
        let v = st.apply_host(&coef)[0];
        assert!((v[0] - p(0.3, -0.45)).abs() < 1e-12);
        assert!((v[1] - (2.0 + 0.5 * -0.45)).abs() < 1e-12);
        assert!((v[2] - (-1.0 + 0.5 * 0.3)).abs() < 1e-12);
        assert_eq!((v[3], v[4]), (0.0, 0.0));
    }

    #[test]
    fn tensor_apply_matches_host() {
        let grid = EmbeddingGrid {
            n: 8,
            half_width: 1.0,
        };
        let vals: Vec<f64> = (0..2 * grid.len())
            .map(|k| (k as f64 * 0.37).sin())
            .collect();
        let mut st = SplineStencil::new();
        st.push(&grid, 0, &[0.2, 0.3]);
        st.push(&grid, 1, &[-0.7, 0.9]);
        let lat = Tensor::from_slice(&vals, (vals.len(), 1), &Device::Cpu).unwrap();
        let out = st.apply(&lat, ROWS).unwrap();
        let out: Vec<Vec<Vec<f64>>> = out.to_vec3().unwrap();
        for (p, host) in st.apply_host(&vals).iter().enumerate() {
            for r in 0..ROWS {
                assert!((out[p][r][0] - host[r]).abs() < 1e-5 * (1.0 + host[r].abs()));
            }
        }
    }
}
