//! Coefficients of the fourth-order exponential time-differencing Runge–Kutta scheme ETDRK4
//! (Cox & Matthews 2002) for a diagonal linear part, computed by the contour-integral means of
//! Kassam & Trefethen (2005) so that they stay accurate where hL is near 0.

use std::f64::consts::PI;

use rustfft::num_complex::Complex;

/// Points on the circle of radius 1 around hL over which the φ-functions are averaged.
const CONTOUR: usize = 64;

/// ETDRK4 coefficients of one mode with linear coefficient L and step h:
/// `e` = e^{hL}, `e2` = e^{hL/2}, and `q`, `f1`, `f2`, `f3` (each already multiplied by h).
/// One step of v' = Lv + N(v) is then
/// a = e2·v + q·N(v), b = e2·v + q·N(a), c = e2·a + q·(2N(b) − N(v)),
/// v ← e·v + f1·N(v) + 2 f2·(N(a) + N(b)) + f3·N(c).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EtdCoeffs {
    pub e: Complex<f64>,
    pub e2: Complex<f64>,
    pub q: Complex<f64>,
    pub f1: Complex<f64>,
    pub f2: Complex<f64>,
    pub f3: Complex<f64>,
}

impl EtdCoeffs {
    /// The coefficients for linear coefficient `l` (real for diffusion, imaginary for
    /// dispersion) and step `h`.
    pub fn new(l: Complex<f64>, h: f64) -> Self {
        let hl = l * h;
        let (mut q, mut f1, mut f2, mut f3) = (
            Complex::default(),
            Complex::default(),
            Complex::default(),
            Complex::default(),
        );
        for m in 0..CONTOUR {
            let theta = 2.0 * PI * (m as f64 + 0.5) / CONTOUR as f64;
            let r = hl + Complex::from_polar(1.0, theta);
            let er = r.exp();
            let r3 = r * r * r;
            q += ((r / 2.0).exp() - 1.0) / r;
            f1 += (-4.0 - r + er * (4.0 - 3.0 * r + r * r)) / r3;
            f2 += (2.0 + r + er * (r - 2.0)) / r3;
            f3 += (-4.0 - 3.0 * r - r * r + er * (4.0 - r)) / r3;
        }
        let w = h / CONTOUR as f64;
        Self {
            e: hl.exp(),
            e2: (hl / 2.0).exp(),
            q: q * w,
            f1: f1 * w,
            f2: f2 * w,
            f3: f3 * w,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For L = 0 the scheme is classical RK4: q = h/2, f1 = h/6, f2 = h/6, f3 = h/6.
    #[test]
    fn zero_linear_part_gives_rk4_weights() {
        let c = EtdCoeffs::new(Complex::new(0.0, 0.0), 0.1);
        for (v, want) in [
            (c.q, 0.05),
            (c.f1, 0.1 / 6.0),
            (c.f2, 0.1 / 6.0),
            (c.f3, 0.1 / 6.0),
        ] {
            assert!(
                (v - Complex::new(want, 0.0)).norm() < 1e-14,
                "{v} vs {want}"
            );
        }
    }

    /// For v' = Lv + c (constant forcing) ETDRK4 is exact: v(h) = e^{hL} v + c (e^{hL} − 1)/L.
    #[test]
    fn constant_forcing_is_integrated_exactly() {
        for l in [
            Complex::new(-50.0, 0.0),
            Complex::new(0.0, 300.0),
            Complex::new(-1e-3, 0.0),
        ] {
            let h = 0.02;
            let k = EtdCoeffs::new(l, h);
            let (v, c) = (Complex::new(0.7, 0.0), Complex::new(1.3, 0.0));
            let got = k.e * v + (k.f1 + 4.0 * k.f2 + k.f3) * c;
            let want = (l * h).exp() * v + c * ((l * h).exp() - 1.0) / l;
            assert!((got - want).norm() < 1e-12, "L = {l}: {got} vs {want}");
        }
    }
}
