//! A trained PINN as a function a simulation code calls: [`Pinn::load`] a run directory (or its
//! checkpoint file alone) and evaluate u, ∇u and Δu at your own points, f64 arrays in and out.
//!
//! Derivatives are exact derivatives of the network (Taylor-mode jets, the same ones training
//! used), with a hard-constraint transform u = g + Φ·N differentiated by the product rule.

use crate::config::PinnConfig;
use crate::run::{PinnModel, TASK};
use crate::{PinnError, Result};
use candle_core::{DType, Tensor};
use nabla_nn::run_dir::{describe, RunDescription};
use nabla_nn::JetSpec;
use ndarray::{Array1, Array2, ArrayView2};
use std::path::Path;

/// Points per forward pass: bounds the jet's memory (`points × inputs × width` values per
/// layer) whatever the caller hands in.
const BATCH: usize = 2048;

/// u, its gradient and its spatial Laplacian at a set of points.
#[derive(Clone, Debug, PartialEq)]
pub struct PinnValues {
    /// u, one value per point.
    pub u: Array1<f64>,
    /// ∂u/∂xᵢ for every input coordinate (time included, last), `[points, inputs]`.
    pub grad: Array2<f64>,
    /// Σᵢ ∂²u/∂xᵢ² over the space coordinates (not time), one value per point.
    pub laplacian: Array1<f64>,
}

/// A trained PINN loaded for evaluation.
///
/// ```no_run
/// use nabla_pinn::Pinn;
/// use ndarray::array;
/// let pinn = Pinn::load("runs/pinn_poisson2d")?;
/// assert_eq!(pinn.coordinate_names(), ["x", "y"]);
/// let v = pinn.evaluate(array![[0.5, 0.5], [0.25, 0.75]].view())?;
/// println!("u = {}, ∇u = {}, Δu = {}", v.u, v.grad, v.laplacian);
/// # Ok::<(), nabla_pinn::PinnError>(())
/// ```
pub struct Pinn {
    model: PinnModel,
    config: PinnConfig,
}

impl Pinn {
    /// Loads the PINN of a run directory or checkpoint file: rebuilt from the checkpoint's
    /// self-description, or (checkpoints written before it) from the run's `config.toml`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let description = describe(path.as_ref())?;
        let config = Self::config_of(&description)?;
        Self::from_parts(config, &description.checkpoint)
    }

    /// Like [`Pinn::load`], on another device than the one it trained on (`"cpu"`,
    /// `"cuda:0"`).
    pub fn load_on(path: impl AsRef<Path>, device: &str) -> Result<Self> {
        let description = describe(path.as_ref())?;
        let mut config = Self::config_of(&description)?;
        config.device = device.to_string();
        Self::from_parts(config, &description.checkpoint)
    }

    /// The config a described run was trained with; an error when the run is not a PINN run.
    /// (With [`Pinn::from_parts`], lets a caller check the model's size before building it.)
    pub fn config_of(description: &RunDescription) -> Result<PinnConfig> {
        Ok(description.config(TASK)?)
    }

    /// The model of `config` with the weights of `checkpoint`.
    pub fn from_parts(config: PinnConfig, checkpoint: &Path) -> Result<Self> {
        let model = PinnModel::load(&config, checkpoint)?;
        Ok(Pinn { model, config })
    }

    /// The config it was trained with (problem, network, training).
    pub fn config(&self) -> &PinnConfig {
        &self.config
    }

    /// The underlying model (problem, network, hard-constraint transform).
    pub fn model(&self) -> &PinnModel {
        &self.model
    }

    /// The input coordinates in column order: `x, y[, z][, t]` or `x1, …, xd[, t]`.
    pub fn coordinate_names(&self) -> Vec<String> {
        self.model.problem.coordinate_names()
    }

    /// Number of input coordinates (space dimension, plus one with time).
    pub fn input_dim(&self) -> usize {
        self.model.problem.input_dim()
    }

    /// u at `points` (`[n, input_dim]`).
    pub fn u(&self, points: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        let flat = self.check_points(&points)?;
        Ok(Array1::from(self.model.predict(&flat)?))
    }

    /// ∇u at `points`: `[n, input_dim]` (∂u/∂t last for time-dependent problems).
    pub fn grad(&self, points: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Ok(self.evaluate(points)?.grad)
    }

    /// The spatial Laplacian Δu at `points`.
    pub fn laplacian(&self, points: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        Ok(self.evaluate(points)?.laplacian)
    }

    /// u, ∇u and Δu at `points` (`[n, input_dim]`) in one pass.
    pub fn evaluate(&self, points: ArrayView2<'_, f64>) -> Result<PinnValues> {
        let flat = self.check_points(&points)?;
        let n = points.nrows();
        let dim = self.input_dim();
        let space = self.model.problem.space_dim();
        let mut u = Vec::with_capacity(n);
        let mut grad = Vec::with_capacity(n * dim);
        let mut lap = Vec::with_capacity(n);
        for chunk in flat.chunks(BATCH * dim) {
            self.evaluate_batch(chunk, space, &mut u, &mut grad, &mut lap)?;
        }
        let grad = Array2::from_shape_vec((n, dim), grad)
            .map_err(|e| PinnError::Input(format!("internal: gradient shape: {e}")))?;
        Ok(PinnValues {
            u: Array1::from(u),
            grad,
            laplacian: Array1::from(lap),
        })
    }

    fn evaluate_batch(
        &self,
        pts: &[f64],
        space: usize,
        u: &mut Vec<f64>,
        grad: &mut Vec<f64>,
        lap: &mut Vec<f64>,
    ) -> Result<()> {
        let Some(split) = &self.model.split else {
            return self.evaluate_with(&self.model.mlp, pts, space, u, grad, lap);
        };
        // Each point by its piece's network, results back in the points' order: per point
        // u, ∇u (dim values) and Δu packed in one row.
        let dim = self.input_dim();
        let width = dim + 2;
        let rows = split.per_piece(pts, dim, width, |k, sub| {
            let (mut su, mut sg, mut sl) = (Vec::new(), Vec::new(), Vec::new());
            self.evaluate_with(&split.nets[k], sub, space, &mut su, &mut sg, &mut sl)?;
            let mut packed = Vec::with_capacity(su.len() * width);
            for j in 0..su.len() {
                packed.push(su[j]);
                packed.extend_from_slice(&sg[j * dim..(j + 1) * dim]);
                packed.push(sl[j]);
            }
            Ok(packed)
        })?;
        for row in rows.chunks(width) {
            u.push(row[0]);
            grad.extend_from_slice(&row[1..=dim]);
            lap.push(row[dim + 1]);
        }
        Ok(())
    }

    fn evaluate_with(
        &self,
        mlp: &nabla_nn::Mlp,
        pts: &[f64],
        space: usize,
        u: &mut Vec<f64>,
        grad: &mut Vec<f64>,
        lap: &mut Vec<f64>,
    ) -> Result<()> {
        let dim = self.input_dim();
        let n = pts.len() / dim;
        let x = Tensor::from_slice(pts, (n, dim), &candle_core::Device::Cpu)?
            .to_dtype(mlp.dtype())?
            .to_device(mlp.device())?;
        let space_dims: Vec<usize> = (0..space).collect();
        let jet = mlp.jet(&x, &JetSpec::laplacian_over(dim, &space_dims))?;
        let host = |t: &Tensor| -> Result<Vec<f64>> {
            Ok(t.detach()
                .to_dtype(DType::F64)?
                .flatten_all()?
                .to_vec1::<f64>()?)
        };
        let missing = || PinnError::Input("internal: the jet lacks derivatives".into());
        let nv = host(&jet.value)?;
        let mut ng = host(jet.grad.as_ref().ok_or_else(missing)?)?; // [n, dim]
        if ng.len() == dim && n > 1 {
            // A network without a nonlinearity has one gradient for every point.
            ng = ng.repeat(n);
        }
        let n2 = host(jet.second.as_ref().ok_or_else(missing)?)?; // [n, space]
        match &self.model.hard {
            None => {
                u.extend_from_slice(&nv);
                grad.extend_from_slice(&ng);
                lap.extend(n2.chunks(space.max(1)).map(|r| r.iter().sum::<f64>()));
            }
            Some(h) => {
                // u = g + ΦN: ∂ᵢu = ∂ᵢg + ∂ᵢΦ N + Φ ∂ᵢN, ∂ᵢ²u = ∂ᵢ²g + ∂ᵢ²Φ N + 2 ∂ᵢΦ ∂ᵢN + Φ ∂ᵢ²N.
                let t = h.terms(pts, true);
                for k in 0..n {
                    let (phi, nk) = (t.phi[k], nv[k]);
                    u.push(t.g[k] + phi * nk);
                    let row = k * dim;
                    let mut l = 0.0;
                    for i in 0..dim {
                        let dn = ng[row + i];
                        grad.push(t.dg[row + i] + t.dphi[row + i] * nk + phi * dn);
                        if i < space {
                            l += t.d2g[row + i]
                                + t.d2phi[row + i] * nk
                                + 2.0 * t.dphi[row + i] * dn
                                + phi * n2[k * space + i];
                        }
                    }
                    lap.push(l);
                }
            }
        }
        Ok(())
    }

    /// u at the points of a CSV file whose header names the coordinates (any order, see
    /// [`nabla_core::points::read_point_table`]), written atomically to `out` as the input
    /// columns plus `u` (`%e` format). Returns the number of points. (What `nabla eval
    /// RUN --points` does.)
    pub fn predict_csv(&self, points: &Path, out: &Path) -> Result<usize> {
        let table = nabla_core::points::read_point_table(points, &self.coordinate_names())?;
        let view = ArrayView2::from_shape((table.len(), self.input_dim()), &table.points)
            .map_err(|e| PinnError::Input(format!("{}: {e}", points.display())))?;
        let u = self.u(view)?;
        let mut text = String::with_capacity(table.len() * 32);
        text.push_str(&table.columns.join(","));
        text.push_str(",u\n");
        for (row, v) in table.rows.iter().zip(&u) {
            text.push_str(&format!("{row},{v:e}\n"));
        }
        nabla_core::atomic::write_atomic(out, |w| std::io::Write::write_all(w, text.as_bytes()))
            .map_err(|e| PinnError::file(out, e))?;
        Ok(u.len())
    }

    /// The points as a flat row-major vector, after checking their shape and values.
    fn check_points(&self, points: &ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let dim = self.input_dim();
        if points.ncols() != dim {
            return Err(PinnError::Input(format!(
                "points have {} columns; the model takes {dim} ({})",
                points.ncols(),
                self.coordinate_names().join(", ")
            )));
        }
        if let Some(((r, c), v)) = points.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(PinnError::Input(format!(
                "point {r} has the non-finite coordinate {v} in column {c}"
            )));
        }
        Ok(points.iter().copied().collect())
    }
}
