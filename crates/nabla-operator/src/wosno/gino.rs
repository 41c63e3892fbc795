//! A point-query neural operator in the manner of GINO (Li et al. 2023), as the WoS-NO
//! authors train it: inputs on a latent regular grid, an FNO on that grid, and a decoder that
//! evaluates u at any query point x with smooth second derivatives in x.
//!
//! - **Encoder.** GINO's input graph-kernel integral gathers the features of the input point
//!   cloud (source samples, boundary points with their data, the signed distance) onto the
//!   latent grid. Here the inputs are fields we can evaluate anywhere — f, the signed distance
//!   φ and g at the closest boundary point — so the encoder evaluates them *at the latent nodes*
//!   ([`super::features`]): the limit of that kernel integral as its radius shrinks and its
//!   samples grow dense, with no quadrature error and no neighbour search. A user with only a
//!   point cloud would add the kernel integral in front; nothing below depends on how the latent
//!   inputs were made.
//! - **Latent operator.** `nabla_nn::Fno` on the grid (plus coordinate channels), projecting
//!   to `latent_channels` feature channels per node instead of one value.
//! - **Decoder.** z(x) = Σ_k B_k(x) c_k, the uniform cubic B-spline whose coefficients are the
//!   latent features ([`super::spline`]): C² in x for any network output, with closed-form
//!   ∂z/∂xᵢ and ∂²z/∂xᵢ². Then u(x) = MLP([z(x), x]) — a pointwise network of the decoded
//!   features and the coordinates, as GINO's output kernel integral ends in a pointwise
//!   projection. Δu at query points comes from [`nabla_nn::Mlp::jet_from_input`]: Taylor-mode
//!   jets seeded with the spline's derivatives (no second-order autodiff).

use super::features::{EmbeddingGrid, CHANNELS};
use super::spline::{Interpolation, SplineStencil, D1, D2, ROWS, VALUE};
use candle_core::{Device, Tensor};
use nabla_nn::{Activation, Fno, FnoConfig, Mlp, MlpConfig, Model, ParamStore};

/// The architecture of a [`PointOperator`].
#[derive(Clone, Debug, PartialEq)]
pub struct PointOperatorConfig {
    /// The latent FNO; its `out_channels` is the number of latent feature channels C and its
    /// `in_channels` must be [`CHANNELS`].
    pub fno: FnoConfig,
    /// Hidden widths of the decoder MLP (input C + 2, output 1).
    pub decoder_hidden: Vec<usize>,
    /// Activation of the decoder (its second derivative enters the physics loss; tanh, sin,
    /// GELU or SiLU).
    pub decoder_activation: Activation,
    /// The latent grid.
    pub grid: EmbeddingGrid,
    /// How latent features are interpolated at query points (cubic: C²; bilinear only as a
    /// diagnostic, see [`Interpolation::Bilinear`]).
    pub interpolation: Interpolation,
}

/// The point-query operator: features on the latent grid → u at arbitrary points.
pub struct PointOperator {
    fno: Fno,
    decoder: Mlp,
    grid: EmbeddingGrid,
    interpolation: Interpolation,
    latent_channels: usize,
    params: ParamStore,
}

/// u at query points with its derivatives (from [`PointOperator::jet`]).
pub struct PointJet {
    /// u, `[M]`.
    pub value: Tensor,
    /// ∂u/∂x, ∂u/∂y, `[M, 2]`.
    pub gradient: Tensor,
    /// Δu, `[M]`.
    pub laplacian: Tensor,
}

impl PointOperator {
    /// Builds the operator; parameters are `fno.*` and `decoder.*`.
    pub fn new(config: &PointOperatorConfig, device: &Device) -> nabla_nn::Result<Self> {
        if config.fno.in_channels != CHANNELS {
            return Err(nabla_nn::NnError::invalid(
                "fno.in_channels",
                format!("must be {CHANNELS} (f, φ, g)"),
            ));
        }
        if config.fno.modes.len() != 2 {
            return Err(nabla_nn::NnError::invalid(
                "fno.modes",
                "the latent grid is 2-D: give modes for two axes",
            ));
        }
        let fno = Fno::new(&config.fno, device)?;
        let c = config.fno.out_channels;
        let mut widths = vec![c + 2];
        widths.extend(&config.decoder_hidden);
        widths.push(1);
        let decoder = MlpConfig::new(&widths)
            .activation(config.decoder_activation)
            .precision(config.fno.precision)
            .seed(config.fno.seed.wrapping_add(0x9e37_79b9))
            .build(device)?;
        let mut params = ParamStore::new();
        params.extend_prefixed("fno", fno.params())?;
        params.extend_prefixed("decoder", decoder.params())?;
        Ok(PointOperator {
            fno,
            decoder,
            grid: config.grid,
            interpolation: config.interpolation,
            latent_channels: c,
            params,
        })
    }

    /// The latent grid.
    pub fn grid(&self) -> EmbeddingGrid {
        self.grid
    }

    /// An empty stencil for query points, with this operator's interpolation.
    pub fn stencil(&self) -> SplineStencil {
        SplineStencil::with(self.interpolation)
    }

    /// Latent feature channels C.
    pub fn latent_channels(&self) -> usize {
        self.latent_channels
    }

    /// The latent features `[B·n·n, C]` (flat rows in node order) of grid inputs
    /// `[B, n, n, CHANNELS]`.
    pub fn latent(&self, inputs: &Tensor) -> nabla_nn::Result<Tensor> {
        let z = self.fno.forward(inputs)?;
        let c = self.latent_channels;
        Ok(z.reshape((z.elem_count() / c, c))?)
    }

    fn decoder_input(
        &self,
        decoded: &Tensor,
        stencil: &SplineStencil,
        row: usize,
    ) -> nabla_nn::Result<Tensor> {
        let z = decoded.narrow(1, row, 1)?.squeeze(1)?;
        let x = stencil
            .points(decoded.device())?
            .to_dtype(decoded.dtype())?;
        Ok(Tensor::cat(&[z, x], 1)?)
    }

    /// u `[M]` at the stencil's points from latent features.
    pub fn values(&self, latent: &Tensor, stencil: &SplineStencil) -> nabla_nn::Result<Tensor> {
        let decoded = stencil.apply(latent, 1)?;
        let input = self.decoder_input(&decoded, stencil, VALUE)?;
        Ok(self.decoder.forward(&input)?.squeeze(1)?)
    }

    /// u, ∇u and Δu at the stencil's points, in one Taylor-mode pass through the decoder.
    pub fn jet(&self, latent: &Tensor, stencil: &SplineStencil) -> nabla_nn::Result<PointJet> {
        let decoded = stencil.apply(latent, ROWS)?;
        let (m, dtype, dev) = (stencil.len(), decoded.dtype(), decoded.device().clone());
        let value = self.decoder_input(&decoded, stencil, VALUE)?;
        // Directions x and y: ∂[z, x, y]/∂x = [∂z/∂x, 1, 0], ∂²[z, x, y]/∂x² = [∂²z/∂x², 0, 0].
        let unit = |i: usize| -> nabla_nn::Result<Tensor> {
            let mut e = [0f32; 2];
            e[i] = 1.0;
            Ok(Tensor::from_slice(&e, (1, 2), &dev)?
                .to_dtype(dtype)?
                .broadcast_as((m, 2))?)
        };
        let zeros = Tensor::zeros((m, 2), dtype, &dev)?;
        let row = |r: usize| decoded.narrow(1, r, 1);
        let d1 = Tensor::cat(
            &[
                Tensor::cat(&[row(D1[0])?, unit(0)?.unsqueeze(1)?], 2)?,
                Tensor::cat(&[row(D1[1])?, unit(1)?.unsqueeze(1)?], 2)?,
            ],
            1,
        )?;
        let zeros3 = zeros.unsqueeze(1)?;
        let d2 = Tensor::cat(
            &[
                Tensor::cat(&[row(D2[0])?, zeros3.clone()], 2)?,
                Tensor::cat(&[row(D2[1])?, zeros3], 2)?,
            ],
            1,
        )?;
        let jet = self.decoder.jet_from_input(&value, &d1, Some(&d2))?;
        let laplacian = jet
            .laplacian
            .ok_or_else(|| nabla_nn::NnError::invalid("jet", "internal: no Laplacian"))?;
        let gradient = jet
            .grad
            .ok_or_else(|| nabla_nn::NnError::invalid("jet", "internal: no gradient"))?;
        Ok(PointJet {
            value: jet.value.squeeze(1)?,
            gradient: gradient.squeeze(2)?,
            laplacian: laplacian.squeeze(1)?,
        })
    }
}

impl Model for PointOperator {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use nabla_nn::Precision;

    fn tiny(precision: Precision) -> PointOperator {
        let grid = EmbeddingGrid {
            n: 12,
            half_width: 1.2,
        };
        let fno = FnoConfig {
            in_channels: CHANNELS,
            out_channels: 4,
            modes: vec![3, 3],
            width: 6,
            layers: 2,
            projection: 8,
            grid_channels: true,
            padding: 0.125,
            precision,
            seed: 3,
        };
        PointOperator::new(
            &PointOperatorConfig {
                fno,
                decoder_hidden: vec![10, 10],
                decoder_activation: Activation::Gelu,
                grid,
                interpolation: Interpolation::Cubic,
            },
            &Device::Cpu,
        )
        .unwrap()
    }

    /// The jet's gradient and Laplacian against central finite differences of `values`
    /// (f64, so the differences are accurate to ~1e-7).
    #[test]
    fn laplacian_through_the_decoder_matches_finite_differences() {
        let op = tiny(Precision::F64);
        let n = op.grid().n;
        let inputs: Vec<f64> = (0..n * n * CHANNELS)
            .map(|k| ((k as f64) * 0.61).sin())
            .collect();
        let x = Tensor::from_vec(inputs, (1, n, n, CHANNELS), &Device::Cpu).unwrap();
        let latent = op.latent(&x).unwrap();
        let pts = [[0.13, -0.27], [-0.48, 0.36], [0.71, 0.05]];
        let mut st = SplineStencil::new();
        for p in &pts {
            st.push(&op.grid(), 0, p);
        }
        let jet = op.jet(&latent, &st).unwrap();
        let u: Vec<f64> = jet.value.to_dtype(DType::F64).unwrap().to_vec1().unwrap();
        let g: Vec<Vec<f64>> = jet.gradient.to_vec2().unwrap();
        let lap: Vec<f64> = jet.laplacian.to_vec1().unwrap();
        let h = 1e-3;
        let at = |p: [f64; 2]| -> f64 {
            let mut s = SplineStencil::new();
            s.push(&op.grid(), 0, &p);
            op.values(&latent, &s).unwrap().to_vec1::<f64>().unwrap()[0]
        };
        for (k, p) in pts.iter().enumerate() {
            assert!((at(*p) - u[k]).abs() < 1e-6);
            let [x, y] = *p;
            let (xp, xm) = (at([x + h, y]), at([x - h, y]));
            let (yp, ym) = (at([x, y + h]), at([x, y - h]));
            let gx = (xp - xm) / (2.0 * h);
            let gy = (yp - ym) / (2.0 * h);
            let fd_lap = (xp + xm + yp + ym - 4.0 * u[k]) / (h * h);
            // f32 spline weights limit the agreement.
            assert!(
                (gx - g[k][0]).abs() < 1e-4 * (1.0 + gx.abs()),
                "{gx} {:?}",
                g[k]
            );
            assert!(
                (gy - g[k][1]).abs() < 1e-4 * (1.0 + gy.abs()),
                "{gy} {:?}",
                g[k]
            );
            assert!(
                (fd_lap - lap[k]).abs() < 2e-2 * (1.0 + lap[k].abs()),
                "{fd_lap} {}",
                lap[k]
            );
        }
    }
}
