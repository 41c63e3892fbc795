//! The exact solve on the coarsest AMG level: dense Cholesky.

use super::matrix::Csr;

/// Relative pivot size below which a pivot counts as zero: that unknown is decoupled (a zero
/// row and column of the Galerkin product, or a null direction), and the solve returns 0 for
/// it, which keeps the coarse solve a symmetric positive semidefinite map.
const PIVOT_TOL: f64 = 1e-13;

/// `A = L Lᵀ` of a small symmetric positive (semi)definite matrix, `L` row-major.
pub(crate) struct DenseCholesky {
    n: usize,
    l: Vec<f64>,
    inv_piv: Vec<f64>,
    y: Vec<f64>,
}

impl DenseCholesky {
    /// Factors `a` (n ≤ a few thousand: O(n³/3) flops, n² memory).
    pub fn new(a: &Csr) -> Self {
        let n = a.rows;
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for k in a.indptr[i]..a.indptr[i + 1] {
                l[i * n + a.indices[k] as usize] += a.values[k];
            }
        }
        let scale = (0..n).map(|i| l[i * n + i].abs()).fold(0.0, f64::max);
        let mut inv_piv = vec![0.0; n];
        for j in 0..n {
            let row_j = &mut l[j * n..j * n + n];
            let d = row_j[j] - row_j[..j].iter().map(|v| v * v).sum::<f64>();
            if d > PIVOT_TOL * scale && d > 0.0 {
                row_j[j] = d.sqrt();
                inv_piv[j] = 1.0 / row_j[j];
            } else {
                row_j[j] = 0.0;
            }
            let row_j: Vec<f64> = row_j[..j].to_vec();
            for i in j + 1..n {
                let row_i = &mut l[i * n..i * n + n];
                let s: f64 = row_i[..j].iter().zip(&row_j).map(|(p, q)| p * q).sum();
                row_i[j] = (row_i[j] - s) * inv_piv[j];
            }
        }
        // Clear the strict upper triangle (it held A's entries).
        for i in 0..n {
            l[i * n + i + 1..i * n + n]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
        Self {
            n,
            l,
            inv_piv,
            y: vec![0.0; n],
        }
    }

    /// Heap bytes held: the `n²` factor, `n` inverse pivots and an `n` work vector.
    pub fn heap_bytes(&self) -> usize {
        (self.l.capacity() + self.inv_piv.capacity() + self.y.capacity())
            * std::mem::size_of::<f64>()
    }

    /// `x ← A⁻¹ b` (0 in the decoupled directions).
    pub fn solve(&mut self, b: &[f64], x: &mut [f64]) {
        let (n, l) = (self.n, &self.l);
        let y = &mut self.y;
        for i in 0..n {
            let s: f64 = l[i * n..i * n + i]
                .iter()
                .zip(&y[..i])
                .map(|(p, q)| p * q)
                .sum();
            y[i] = (b[i] - s) * self.inv_piv[i];
        }
        for i in (0..n).rev() {
            let yi = y[i] * self.inv_piv[i];
            x[i] = yi;
            for (k, lv) in l[i * n..i * n + i].iter().enumerate() {
                y[k] -= lv * yi;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_spd_system_and_skips_a_decoupled_unknown() {
        // [[4, 1, 0], [1, 3, 0], [0, 0, 0]]: the third unknown is decoupled.
        let a = Csr {
            rows: 3,
            cols: 3,
            indptr: vec![0, 2, 4, 4],
            indices: vec![0, 1, 0, 1],
            values: vec![4.0, 1.0, 1.0, 3.0],
        };
        let mut c = DenseCholesky::new(&a);
        let mut x = vec![9.0; 3];
        c.solve(&[1.0, 2.0, 5.0], &mut x);
        // 4x + y = 1, x + 3y = 2 → x = 1/11, y = 7/11.
        assert!((x[0] - 1.0 / 11.0).abs() < 1e-15 && (x[1] - 7.0 / 11.0).abs() < 1e-15);
        assert_eq!(x[2], 0.0);
    }
}
