//! Truncated discrete Fourier transforms as matrices, for FNO layers (candle has no FFT).
//!
//! An FNO layer keeps only the lowest modes, so the transform is a product with a small
//! cosine/sine matrix per axis. Real and imaginary parts are stacked along the transformed
//! axis, so one real matrix product does a whole complex step.
//!
//! Conventions: the forward transform of v on N points is c_k = (1/N) Σ_n v_n e^{−2πikn/N}
//! (Fourier coefficients, independent of N for a resolved function), the inverse is plain
//! synthesis v_n = Σ_k c_k e^{+2πikn/N}. With the 1/N on the forward side, a layer's output is
//! the same function at any resolution that resolves the kept modes — what makes a model
//! trained at 64² evaluate at 128².

use crate::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::Mutex;

/// The frequencies kept on a full (two-sided) axis with `m` modes per side:
/// 0, 1, …, m−1, −m, …, −1 (numpy's `fftfreq` order restricted to |k| < m, plus −m).
pub fn two_sided_frequencies(m: usize) -> Vec<f64> {
    (0..m)
        .map(|k| k as f64)
        .chain((0..m).map(|k| k as f64 - m as f64))
        .collect()
}

/// The frequencies kept on a half (real-input) axis: 0, 1, …, m−1.
pub fn one_sided_frequencies(m: usize) -> Vec<f64> {
    (0..m).map(|k| k as f64).collect()
}

fn build(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push(f(r, c));
        }
    }
    out
}

/// Forward transform of a real axis of `n` points onto frequencies `k`, shape `[2K, n]`:
/// rows `[cos; −sin] / n`, so `M · v` is `[Re c; Im c]`.
pub fn real_forward(n: usize, k: &[f64]) -> Vec<f64> {
    let kk = k.len();
    build(2 * kk, n, |r, j| {
        let (freq, sign_sin) = if r < kk {
            (k[r], None)
        } else {
            (k[r - kk], Some(()))
        };
        let t = 2.0 * PI * freq * j as f64 / n as f64;
        match sign_sin {
            None => t.cos() / n as f64,
            Some(()) => -t.sin() / n as f64,
        }
    })
}

/// Forward transform of a complex axis (input stacked `[Re; Im]`, `2n` rows) onto frequencies
/// `k`, shape `[2K, 2n]` = `[[C, S], [−S, C]] / n`.
pub fn complex_forward(n: usize, k: &[f64]) -> Vec<f64> {
    let kk = k.len();
    build(2 * kk, 2 * n, |r, c| {
        let (freq, im_row) = if r < kk {
            (k[r], false)
        } else {
            (k[r - kk], true)
        };
        let (j, im_col) = if c < n { (c, false) } else { (c - n, true) };
        let t = 2.0 * PI * freq * j as f64 / n as f64;
        let v = match (im_row, im_col) {
            (false, false) | (true, true) => t.cos(),
            (false, true) => t.sin(),
            (true, false) => -t.sin(),
        };
        v / n as f64
    })
}

/// Inverse (synthesis) of a complex axis: from `[Re; Im]` coefficients at frequencies `k`
/// to `[Re; Im]` values at `n` points, shape `[2n, 2K]` = `[[C, −S], [S, C]]`.
pub fn complex_inverse(n: usize, k: &[f64]) -> Vec<f64> {
    let kk = k.len();
    build(2 * n, 2 * kk, |r, c| {
        let (j, im_row) = if r < n { (r, false) } else { (r - n, true) };
        let (freq, im_col) = if c < kk {
            (k[c], false)
        } else {
            (k[c - kk], true)
        };
        let t = 2.0 * PI * freq * j as f64 / n as f64;
        match (im_row, im_col) {
            (false, false) | (true, true) => t.cos(),
            (false, true) => -t.sin(),
            (true, false) => t.sin(),
        }
    })
}

/// Inverse of a real (Hermitian) axis: from `[Re; Im]` coefficients at one-sided frequencies
/// `k` to `n` real values, shape `[n, 2K]` = `[α cos | −α sin]` with α = 1 for k = 0 (and the
/// Nyquist mode), 2 otherwise — the negative frequencies are the conjugates. The imaginary
/// part of the zero mode is ignored, as numpy's `irfft` does.
pub fn real_inverse(n: usize, k: &[f64]) -> Vec<f64> {
    let kk = k.len();
    build(n, 2 * kk, |j, c| {
        let (freq, im) = if c < kk {
            (k[c], false)
        } else {
            (k[c - kk], true)
        };
        let alpha = if freq == 0.0 || 2.0 * freq == n as f64 {
            1.0
        } else {
            2.0
        };
        let t = 2.0 * PI * freq * j as f64 / n as f64;
        if im {
            -alpha * t.sin()
        } else {
            alpha * t.cos()
        }
    })
}

/// Which matrix of an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DftKind {
    /// [`real_forward`] with one-sided frequencies.
    RealForward,
    /// [`real_inverse`] with one-sided frequencies.
    RealInverse,
    /// [`complex_forward`] with two-sided frequencies.
    ComplexForward,
    /// [`complex_inverse`] with two-sided frequencies.
    ComplexInverse,
}

/// A cache of DFT matrices as tensors, keyed by (kind, points, modes, dtype): each resolution's
/// matrices are built once, on first use.
#[derive(Debug)]
pub struct DftCache {
    device: Device,
    map: Mutex<HashMap<(DftKind, usize, usize, DType), Tensor>>,
}

impl DftCache {
    /// An empty cache for tensors on `device`.
    pub fn new(device: &Device) -> Self {
        DftCache {
            device: device.clone(),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The matrix of `kind` for `n` points and `m` modes (per side), in `dtype`.
    pub fn get(&self, kind: DftKind, n: usize, m: usize, dtype: DType) -> Result<Tensor> {
        let key = (kind, n, m, dtype);
        if let Ok(map) = self.map.lock() {
            if let Some(t) = map.get(&key) {
                return Ok(t.clone());
            }
        }
        let (data, shape) = match kind {
            DftKind::RealForward => (real_forward(n, &one_sided_frequencies(m)), (2 * m, n)),
            DftKind::RealInverse => (real_inverse(n, &one_sided_frequencies(m)), (n, 2 * m)),
            DftKind::ComplexForward => (
                complex_forward(n, &two_sided_frequencies(m)),
                (4 * m, 2 * n),
            ),
            DftKind::ComplexInverse => (
                complex_inverse(n, &two_sided_frequencies(m)),
                (2 * n, 4 * m),
            ),
        };
        let t = Tensor::from_vec(data, shape, &self.device)?.to_dtype(dtype)?;
        if let Ok(mut map) = self.map.lock() {
            map.insert(key, t.clone());
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct complex DFT of a real signal at frequency k.
    fn dft(v: &[f64], k: f64) -> (f64, f64) {
        let n = v.len() as f64;
        let mut re = 0.0;
        let mut im = 0.0;
        for (j, x) in v.iter().enumerate() {
            let t = 2.0 * PI * k * j as f64 / n;
            re += x * t.cos() / n;
            im -= x * t.sin() / n;
        }
        (re, im)
    }

    #[test]
    fn real_forward_then_inverse_reproduces_a_band_limited_signal() {
        let n = 16;
        let v: Vec<f64> = (0..n)
            .map(|j| {
                let x = j as f64 / n as f64;
                1.5 + (2.0 * PI * x).sin() - 0.5 * (2.0 * PI * 3.0 * x).cos()
            })
            .collect();
        let k = one_sided_frequencies(5);
        let f = real_forward(n, &k);
        let coeffs: Vec<f64> = (0..2 * k.len())
            .map(|r| (0..n).map(|j| f[r * n + j] * v[j]).sum())
            .collect();
        for (i, &kk) in k.iter().enumerate() {
            let (re, im) = dft(&v, kk);
            assert!((coeffs[i] - re).abs() < 1e-12);
            assert!((coeffs[k.len() + i] - im).abs() < 1e-12);
        }
        let g = real_inverse(n, &k);
        for j in 0..n {
            let back: f64 = (0..2 * k.len())
                .map(|c| g[j * 2 * k.len() + c] * coeffs[c])
                .sum();
            assert!((back - v[j]).abs() < 1e-12, "{j}: {back} vs {}", v[j]);
        }
    }

    #[test]
    fn complex_forward_then_inverse_is_identity_on_kept_modes() {
        let n = 12;
        let k = two_sided_frequencies(6);
        // A complex signal with energy only in kept modes.
        let re: Vec<f64> = (0..n)
            .map(|j| (2.0 * PI * 2.0 * j as f64 / 12.0).cos())
            .collect();
        let im: Vec<f64> = (0..n)
            .map(|j| (2.0 * PI * -3.0 * j as f64 / 12.0).sin())
            .collect();
        let stacked: Vec<f64> = re.iter().chain(im.iter()).copied().collect();
        let f = complex_forward(n, &k);
        let kk = k.len();
        let c: Vec<f64> = (0..2 * kk)
            .map(|r| (0..2 * n).map(|j| f[r * 2 * n + j] * stacked[j]).sum())
            .collect();
        let g = complex_inverse(n, &k);
        for r in 0..2 * n {
            let back: f64 = (0..2 * kk).map(|j| g[r * 2 * kk + j] * c[j]).sum();
            assert!((back - stacked[r]).abs() < 1e-12, "{r}");
        }
    }
}
