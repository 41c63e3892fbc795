//! The least-squares start of an LSM's linear input-to-output path (`linear_skip`).

use crate::dataset::Samples;
use crate::model::Normalizer;
use crate::{OperatorError, Result};
use nalgebra::{DMatrix, DVector};

/// The linear map `K` (one weight per input channel) that best predicts each training
/// sample's first target channel from its input channels, point by point, in the normalised
/// variables the network sees: `K = argmin Σ_points (x̂ · K − ŷ)²` with `x̂ = (x − μ_in)/σ_in`
/// and `ŷ = (y − μ_out)/σ_out`. For an autoregressive series this is the best fixed linear
/// extrapolation of the next frame from the input window (on Navier–Stokes data about
/// 3ω₉ − 3ω₈ + ω₇), so training starts from it and the network learns the remainder — Adam
/// moves a weight by about the learning rate per step, too slowly to reach such coefficients
/// from zero in a few hundred steps. Normal equations in f64 with a 1e-10 relative ridge, so
/// a constant or repeated channel leaves the system solvable.
pub fn least_squares_map(train: &Samples, norm: &Normalizer) -> Result<Vec<f64>> {
    let c = train.input_channels;
    let t = train.target_channels;
    let points = train.n * train.points();
    if points == 0 || c == 0 || t == 0 {
        return Err(OperatorError::config(
            "model.linear_skip",
            "no training points to fit the linear path to",
        ));
    }
    let mut gram = DMatrix::<f64>::zeros(c, c);
    let mut rhs = DVector::<f64>::zeros(c);
    let mut x = vec![0.0; c];
    for p in 0..points {
        for (k, v) in x.iter_mut().enumerate() {
            *v = (train.input[p * c + k] as f64 - norm.input_mean) / norm.input_std;
        }
        let y = (train.target[p * t] as f64 - norm.target_mean) / norm.target_std;
        for i in 0..c {
            rhs[i] += x[i] * y;
            for j in 0..=i {
                gram[(i, j)] += x[i] * x[j];
            }
        }
    }
    for i in 0..c {
        for j in 0..i {
            gram[(j, i)] = gram[(i, j)];
        }
    }
    let ridge = 1e-10 * gram.trace() / c as f64 + f64::MIN_POSITIVE;
    for i in 0..c {
        gram[(i, i)] += ridge;
    }
    let k = gram
        .cholesky()
        .ok_or_else(|| {
            OperatorError::config(
                "model.linear_skip",
                "the training inputs are not finite; cannot fit the linear path",
            )
        })?
        .solve(&rhs);
    if k.iter().any(|v| !v.is_finite()) {
        return Err(OperatorError::config(
            "model.linear_skip",
            "the least-squares fit of the linear path is not finite",
        ));
    }
    Ok(k.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of a series that obey ω₃ = 3ω₂ − 3ω₁ + ω₀ exactly (quadratic in time at every
    /// point): the fit recovers (1, −3, 3) — in the normalised variables too, since the
    /// coefficients sum to one and input and target share one normaliser.
    #[test]
    fn recovers_an_exact_linear_extrapolation() {
        let (n, pts) = (3, 16);
        let mut input = Vec::new();
        let mut target = Vec::new();
        for s in 0..n {
            for p in 0..pts {
                let (a, b, c) = (s as f32 + 0.3 * p as f32, (p as f32).sin(), 0.1 * p as f32);
                let f = |t: f32| a + b * t + c * t * t;
                input.extend([f(0.0), f(1.0), f(2.0)]);
                target.push(f(3.0));
            }
        }
        let train = Samples {
            n,
            dims: vec![4, 4],
            input,
            target,
            input_channels: 3,
            target_channels: 1,
        };
        let norm = Normalizer {
            input_mean: 1.5,
            input_std: 2.0,
            target_mean: 1.5,
            target_std: 2.0,
        };
        let k = least_squares_map(&train, &norm).unwrap();
        for (got, want) in k.iter().zip([1.0, -3.0, 3.0]) {
            assert!((got - want).abs() < 1e-4, "{k:?}");
        }
    }
}
