//! What the operator sees: on a fixed square embedding grid, per node, the source f, the
//! signed distance φ to ∂Ω (negative inside) and the boundary value g at the closest boundary
//! point — three channels, channels-last, the same grid for every instance.

use super::family::StarPoisson;
use nabla_core::geometry::{Domain, Star};

/// Input channels per node: f, φ, g(closest boundary point).
pub const CHANNELS: usize = 3;

/// The node-centred grid on [−L, L]²: node (i, j) is (−L + i·h, −L + j·h), h = 2L/(n − 1);
/// flat index i·n + j (x is the first axis, y the second, as in `tensor[b, i, j]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmbeddingGrid {
    /// Nodes per axis.
    pub n: usize,
    /// Half-width L of the box.
    pub half_width: f64,
}

impl EmbeddingGrid {
    /// Node spacing h.
    pub fn spacing(&self) -> f64 {
        2.0 * self.half_width / (self.n - 1) as f64
    }

    /// Coordinate of node index i along an axis.
    pub fn coord(&self, i: usize) -> f64 {
        -self.half_width + i as f64 * self.spacing()
    }

    /// Coordinates of node (i, j).
    pub fn node(&self, i: usize, j: usize) -> [f64; 2] {
        [self.coord(i), self.coord(j)]
    }

    /// Number of nodes n².
    pub fn len(&self) -> usize {
        self.n * self.n
    }

    /// Whether the grid has no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// The three input channels at one point x: (f(x), φ(x), g(closest boundary point to x)).
pub fn point_features(instance: &StarPoisson, domain: &Star, x: &[f64; 2]) -> [f64; CHANNELS] {
    let mut y = [0.0; 2];
    domain.closest_boundary_point(x, &mut y);
    [
        instance.source(x),
        domain.signed_distance(x),
        instance.boundary(&y),
    ]
}

/// One instance on the grid.
#[derive(Clone, Debug)]
pub struct GridFeatures {
    /// `[n, n, CHANNELS]` (flat, C order) as f32, the network's input.
    pub values: Vec<f32>,
    /// `[n, n]`: whether the node lies inside Ω.
    pub inside: Vec<bool>,
}

/// The features of `instance` at every node of `grid`.
pub fn grid_features(instance: &StarPoisson, domain: &Star, grid: &EmbeddingGrid) -> GridFeatures {
    let n = grid.n;
    let mut values = Vec::with_capacity(n * n * CHANNELS);
    let mut inside = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let x = grid.node(i, j);
            let f = point_features(instance, domain, &x);
            values.extend(f.iter().map(|&v| v as f32));
            inside.push(domain.contains(&x));
        }
    }
    GridFeatures { values, inside }
}
