//! Per-line partial sums combined exactly: the reduction that makes distributed dot products
//! independent of the rank count.

use nabla_core::comm::{Communicator, ExactSum};

/// `xᵀy` over one line in a fixed order (four interleaved partial sums, then their pairwise
/// sum), so the same line gives the same bits on any rank.
#[inline]
pub fn line_dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.len() / 4;
    for c in 0..chunks {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += x[4 * c + l] * y[4 * c + l];
        }
    }
    let mut tail = 0.0;
    for i in 4 * chunks..x.len() {
        tail += x[i] * y[i];
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

/// `Σ r_i (r_i d_i)` over one line (rᵀD⁻¹r for Jacobi with `d` = 1/diagonal), in the fixed
/// order of [`line_dot`].
#[inline]
pub fn line_dot_scaled(r: &[f64], d: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = r.len() / 4;
    for c in 0..chunks {
        for (l, a) in acc.iter_mut().enumerate() {
            let k = 4 * c + l;
            *a += r[k] * (r[k] * d[k]);
        }
    }
    let mut tail = 0.0;
    for k in 4 * chunks..r.len() {
        tail += r[k] * (r[k] * d[k]);
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

/// Line sums of one rank, accumulated exactly.
#[derive(Clone, Debug, Default)]
pub struct LineSums {
    acc: ExactSum,
}

impl LineSums {
    /// Adds line sums (any order: the accumulator is exact).
    pub fn add_all(&mut self, sums: &[f64]) {
        for &s in sums {
            self.acc.add(s);
        }
    }

    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.acc.add(v);
    }

    /// The global total over all ranks (collective).
    pub fn total(mut self, comm: &dyn Communicator) -> f64 {
        comm.exact_sum(&mut self.acc)
    }

    /// The accumulator, for reducing several sums in one allreduce.
    pub fn into_inner(self) -> ExactSum {
        self.acc
    }
}

/// Exact global sums of several per-line sum vectors in one allreduce.
pub fn totals(comm: &dyn Communicator, per_line: &[&[f64]]) -> Vec<f64> {
    let mut accs: Vec<ExactSum> = per_line
        .iter()
        .map(|sums| {
            let mut a = ExactSum::new();
            sums.iter().for_each(|&s| a.add(s));
            a
        })
        .collect();
    comm.exact_sums(&mut accs)
}
