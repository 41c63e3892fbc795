//! Kernels of the ball's Green's functions for Walk-on-Spheres: sampling the radius of the
//! source point, the screened survival weight and the screened/unscreened Green's ratio, and
//! the modified Bessel functions I₀, K₀ they need in 2-D.

/// e^{−x} I₀(x) for x ≥ 0 (Abramowitz & Stegun 9.8.1–9.8.2, relative error < 2e-7).
pub(crate) fn i0e(x: f64) -> f64 {
    if x <= 3.75 {
        let t = (x / 3.75).powi(2);
        let i0 = 1.0
            + t * (3.515_622_9
                + t * (3.089_942_4
                    + t * (1.206_749_2 + t * (0.265_973_2 + t * (0.036_076_8 + t * 0.004_581_3)))));
        i0 * (-x).exp()
    } else {
        let t = 3.75 / x;
        let p = 0.398_942_28
            + t * (0.013_285_92
                + t * (0.002_253_19
                    + t * (-0.001_575_65
                        + t * (0.009_162_81
                            + t * (-0.020_577_06
                                + t * (0.026_355_37 + t * (-0.016_476_33 + t * 0.003_923_77)))))));
        p / x.sqrt()
    }
}

/// e^{x} K₀(x) for x > 0 (Abramowitz & Stegun 9.8.5–9.8.6, relative error < 2e-7).
pub(crate) fn k0e(x: f64) -> f64 {
    if x <= 2.0 {
        let t = (x / 2.0).powi(2);
        let i0 = i0e(x) * x.exp();
        let k0 = -(x / 2.0).ln() * i0 - 0.577_215_66
            + t * (0.422_784_20
                + t * (0.230_697_56
                    + t * (0.034_885_90
                        + t * (0.002_626_98 + t * (0.000_107_50 + t * 0.000_007_4)))));
        k0 * x.exp()
    } else {
        let t = 2.0 / x;
        let p = 1.253_314_14
            + t * (-0.078_323_58
                + t * (0.021_895_68
                    + t * (-0.010_624_46
                        + t * (0.005_878_72 + t * (-0.002_515_40 + t * 0.000_532_08)))));
        p / x.sqrt()
    }
}

/// Probability that a walk survives one step of radius `radius` under screening σ = a²
/// (the total mass of the screened Poisson kernel): 1/I₀(aR) in 2-D, aR/sinh(aR) in 3-D.
#[inline]
pub(crate) fn survival(dim: usize, a: f64, radius: f64) -> f64 {
    let x = a * radius;
    if x == 0.0 {
        return 1.0;
    }
    match dim {
        2 => (-x).exp() / i0e(x),
        _ => {
            // x / sinh x = 2x e^{−x} / (1 − e^{−2x})
            if x < 1e-4 {
                1.0 - x * x / 6.0
            } else {
                2.0 * x * (-x).exp() / (-(-2.0 * x).exp_m1())
            }
        }
    }
}

/// G^σ(r)/G⁰(r): the screened over the unscreened Green's function of the ball of radius `radius`
/// centred at the walk point, at distance r = ρ·R (0 < ρ < 1).
#[inline]
pub(crate) fn screened_ratio(dim: usize, a: f64, radius: f64, rho: f64) -> f64 {
    let big = a * radius;
    if big == 0.0 {
        return 1.0;
    }
    let small = big * rho;
    match dim {
        2 => {
            let lnr = -rho.ln();
            if lnr < 1e-10 {
                return survival(2, a, radius);
            }
            // K₀(ar) − K₀(aR) I₀(ar)/I₀(aR), exponentially scaled.
            let k_small = k0e(small) * (-small).exp();
            let corr = k0e(big) / i0e(big) * i0e(small) * (small - 2.0 * big).exp();
            ((k_small - corr) / lnr).max(0.0)
        }
        _ => {
            // R sinh(a(R−r)) / ((R−r) sinh(aR))
            let rest = big - small;
            if rest < 1e-12 {
                return survival(3, a, radius);
            }
            let num = -(-2.0 * rest).exp_m1();
            let den = -(-2.0 * big).exp_m1();
            (big / rest) * (-small).exp() * num / den
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_values() {
        // Reference values: power series for I₀, quadrature of ∫ exp(−x cosh t) dt for K₀.
        for (x, i, k) in [
            (0.1, 0.907_100_925_8, 2.682_326_102_3),
            (1.0, 0.465_759_607_6, 1.144_463_079_8),
            (5.0, 0.183_540_812_6, 0.547_807_564_3),
            (50.0, 0.056_561_626_7, 0.176_807_155_9),
        ] {
            assert!((i0e(x) - i).abs() < 3e-7 * i, "i0e({x})");
            assert!((k0e(x) - k).abs() < 3e-7 * k, "k0e({x})");
        }
    }

    #[test]
    fn screened_green_integrates_to_one_minus_survival() {
        // ∫_B G^σ = (1 − survival)/σ, and ∫_B G⁰ = R²/(2d); so E_{G⁰}[ratio] = (1 − s)/(σ R²/(2d)).
        for dim in [2usize, 3] {
            for (a, r) in [(1.0, 0.5), (3.0, 1.0), (0.2, 2.0)] {
                // Radial density of G⁰: 2-D ρ ln(1/ρ)·4, 3-D 6ρ(1−ρ); midpoint rule.
                let n = 200_000;
                let mut acc = 0.0;
                for i in 0..n {
                    let rho = (i as f64 + 0.5) / n as f64;
                    let p = if dim == 2 {
                        4.0 * rho * (-rho.ln())
                    } else {
                        6.0 * rho * (1.0 - rho)
                    };
                    acc += p * screened_ratio(dim, a, r, rho) / n as f64;
                }
                let sigma = a * a;
                let want = (1.0 - survival(dim, a, r)) / (sigma * r * r / (2.0 * dim as f64));
                assert!(
                    (acc - want).abs() < 1e-5,
                    "dim {dim} a {a} R {r}: {acc} vs {want}"
                );
            }
        }
    }
}
