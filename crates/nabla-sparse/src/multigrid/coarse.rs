//! Exact solve on the coarsest level: banded Cholesky in the natural (x-fastest) ordering.
//!
//! A 3^d stencil on an `n0 × n1 × n2` grid has half-bandwidth `1 + n0 + n0·n1`, so the
//! factorization costs `O(n·bw²)` and a solve `O(n·bw)` — a few microseconds at the sizes the
//! hierarchy stops at.

use super::level::{Geom, Op};

/// Cholesky factor `L` of a symmetric positive (semi)definite band matrix, `A = L Lᵀ`.
#[derive(Clone, Debug)]
pub(crate) struct BandCholesky {
    n: usize,
    bw: usize,
    /// Row `i` holds `L[i, i−bw ..= i]` at `i·(bw+1) ..`; entries left of column 0 are 0.
    l: Vec<f64>,
    /// `1 / L[i,i]`, or 0 for a (numerically) zero pivot, which makes the solve a symmetric
    /// positive semidefinite pseudo-inverse instead of failing.
    inv_piv: Vec<f64>,
    work: Vec<f64>,
}

impl BandCholesky {
    /// Half-bandwidth of the level's matrix in the interior ordering.
    pub(crate) fn bandwidth(g: &Geom) -> usize {
        match g.nd {
            1 => 1,
            2 => g.n[0] + 1,
            _ => g.n[0] * g.n[1] + g.n[0] + 1,
        }
        .min(g.interior_len().saturating_sub(1))
    }

    /// Factors the level operator over its interior points.
    pub(crate) fn new(op: &Op, g: &Geom) -> Self {
        let n = g.interior_len();
        let bw = Self::bandwidth(g);
        let mut ch = Self {
            n,
            bw,
            l: vec![0.0; n * (bw + 1)],
            inv_piv: vec![0.0; n],
            work: vec![0.0; n],
        };
        ch.factor(op, g);
        ch
    }

    /// Factors new values of an operator on the same level `g` in the kept storage (the
    /// same arithmetic as [`BandCholesky::new`], so the same bits).
    pub(crate) fn refactor(&mut self, op: &Op, g: &Geom) {
        debug_assert!(self.n == g.interior_len() && self.bw == Self::bandwidth(g));
        self.factor(op, g);
    }

    /// Heap bytes held: the band `n·(bw+1)`, the inverse pivots and a work vector of `n`.
    pub(crate) fn heap_bytes(&self) -> usize {
        (self.l.capacity() + self.inv_piv.capacity() + self.work.capacity())
            * std::mem::size_of::<f64>()
    }

    /// The numeric factorization into `l` and `inv_piv` (`work` holds A's diagonal meanwhile).
    fn factor(&mut self, op: &Op, g: &Geom) {
        let (n, bw) = (self.n, self.bw);
        let w = bw + 1;
        let Self {
            l,
            inv_piv,
            work: diag0,
            ..
        } = self;
        l.iter_mut().for_each(|v| *v = 0.0);
        diag0.iter_mut().for_each(|v| *v = 0.0);
        // Lower triangle of A into the band.
        let interior = |i: [usize; 3]| i[0] + g.n[0] * (i[1] + g.n[1] * i[2]);
        for k in 0..g.n[2] {
            for j in 0..g.n[1] {
                for i in 0..g.n[0] {
                    let row = interior([i, j, k]);
                    op.visit_row(g, [i, j, k], |o, v| {
                        let col = interior([
                            (i as isize + o[0]) as usize,
                            (j as isize + o[1]) as usize,
                            (k as isize + o[2]) as usize,
                        ]);
                        if col <= row && row - col <= bw {
                            l[row * w + (col + bw - row)] += v;
                        }
                        if col == row {
                            diag0[row] += v;
                        }
                    });
                }
            }
        }
        for i in 0..n {
            let lo = i.saturating_sub(bw);
            for j in lo..=i {
                // s = A[i,j] − Σ_k L[i,k] L[j,k] over the common band.
                let klo = lo.max(j.saturating_sub(bw));
                let mut s = l[i * w + (j + bw - i)];
                for k in klo..j {
                    s -= l[i * w + (k + bw - i)] * l[j * w + (k + bw - j)];
                }
                if j < i {
                    l[i * w + (j + bw - i)] = s * inv_piv[j];
                } else if s > 1e-13 * diag0[i].abs() && s > 0.0 {
                    let d = s.sqrt();
                    l[i * w + bw] = d;
                    inv_piv[i] = 1.0 / d;
                } else {
                    l[i * w + bw] = 0.0;
                    inv_piv[i] = 0.0;
                }
            }
        }
    }

    /// Solves `A x = b` on the interior of padded level vectors (`x`'s ghosts stay zero).
    pub(crate) fn solve(&mut self, g: &Geom, b: &[f64], x: &mut [f64]) {
        let (n, bw, w) = (self.n, self.bw, self.bw + 1);
        let y = &mut self.work;
        let mut t = 0;
        for k in 0..g.n[2] {
            for j in 0..g.n[1] {
                let base = g.base(j, k);
                y[t..t + g.n[0]].copy_from_slice(&b[base..base + g.n[0]]);
                t += g.n[0];
            }
        }
        // Forward: L y = b.
        for i in 0..n {
            let lo = i.saturating_sub(bw);
            let row = &self.l[i * w..(i + 1) * w];
            let mut s = y[i];
            for k in lo..i {
                s -= row[k + bw - i] * y[k];
            }
            y[i] = s * self.inv_piv[i];
        }
        // Backward: Lᵀ x = y.
        for i in (0..n).rev() {
            let yi = y[i] * self.inv_piv[i];
            y[i] = yi;
            let lo = i.saturating_sub(bw);
            let row = &self.l[i * w..(i + 1) * w];
            for k in lo..i {
                y[k] -= row[k + bw - i] * yi;
            }
        }
        let mut t = 0;
        for k in 0..g.n[2] {
            for j in 0..g.n[1] {
                let base = g.base(j, k);
                x[base..base + g.n[0]].copy_from_slice(&y[t..t + g.n[0]]);
                t += g.n[0];
            }
        }
    }
}
