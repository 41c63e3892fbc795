//! Rayon-parallel dense vector kernels used by the iterative solvers.
//!
//! Vectors are split into fixed-size chunks so that reductions are summed in the same order
//! for any thread count: results are bit-for-bit reproducible.

use rayon::prelude::*;

/// Chunk length for parallel loops: large enough to amortize scheduling, small enough to
/// balance 2–64 threads on vectors of 10⁵–10⁷ entries.
pub const CHUNK: usize = 1 << 14;

/// Sums per-chunk partial results in chunk order (deterministic for any thread count).
fn ordered_sum(parts: Vec<f64>) -> f64 {
    parts.into_iter().sum()
}

/// Dot product `xᵀy`.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let parts: Vec<f64> = x
        .par_chunks(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>())
        .collect();
    ordered_sum(parts)
}

/// Euclidean norm `‖x‖₂`.
pub fn norm2(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// `y ← y + a·x`.
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| yc.iter_mut().zip(xc).for_each(|(yi, xi)| *yi += a * xi));
}

/// `y ← x + b·y`.
pub fn xpby(x: &[f64], b: f64, y: &mut [f64]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| {
            yc.iter_mut()
                .zip(xc)
                .for_each(|(yi, xi)| *yi = xi + b * *yi)
        });
}

/// `y ← x`, in parallel.
pub fn copy(x: &[f64], y: &mut [f64]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| yc.copy_from_slice(xc));
}

/// `r ← b − r` (turns `r = Ax` into the residual `b − Ax`), returning `‖r‖²`.
pub fn residual_from_product(b: &[f64], r: &mut [f64]) -> f64 {
    let parts: Vec<f64> = r
        .par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(rc, bc)| {
            let mut s = 0.0;
            for (ri, bi) in rc.iter_mut().zip(bc) {
                *ri = bi - *ri;
                s += *ri * *ri;
            }
            s
        })
        .collect();
    ordered_sum(parts)
}

/// The fused CG update `x ← x + α·p`, `r ← r − α·q`, returning the new `‖r‖²`.
pub fn cg_update(alpha: f64, p: &[f64], q: &[f64], x: &mut [f64], r: &mut [f64]) -> f64 {
    let parts: Vec<f64> = x
        .par_chunks_mut(CHUNK)
        .zip(r.par_chunks_mut(CHUNK))
        .zip(p.par_chunks(CHUNK).zip(q.par_chunks(CHUNK)))
        .map(|((xc, rc), (pc, qc))| {
            let mut s = 0.0;
            for i in 0..xc.len() {
                xc[i] += alpha * pc[i];
                rc[i] -= alpha * qc[i];
                s += rc[i] * rc[i];
            }
            s
        })
        .collect();
    ordered_sum(parts)
}

/// Whether every entry is finite; returns the index of the first that is not.
pub fn first_non_finite(x: &[f64]) -> Option<usize> {
    x.iter().position(|v| !v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_serial_formulas() {
        let n = 3 * CHUNK + 17;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let y: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
        let serial: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((dot(&x, &y) - serial).abs() < 1e-9 * serial.abs().max(1.0));
        let mut z = y.clone();
        axpy(2.0, &x, &mut z);
        assert!((z[5] - (y[5] + 2.0 * x[5])).abs() < 1e-15);
        let mut w = y.clone();
        xpby(&x, 0.5, &mut w);
        assert!((w[n - 1] - (x[n - 1] + 0.5 * y[n - 1])).abs() < 1e-15);
    }
}
