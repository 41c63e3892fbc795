//! The operator of a WoS-NO run — an FNO giving u on the embedding grid, or the point-query
//! operator of [`super::gino`] — built from its config, loaded back from a run directory or
//! checkpoint alone (checkpoints carry their config), and evaluated on the grid of held-out
//! instances or at any points of any instance.

use super::config::{OperatorKind, WosNoConfig};
use super::family::StarPoisson;
use super::features::{grid_features, EmbeddingGrid, GridFeatures, CHANNELS};
use super::gino::{PointOperator, PointOperatorConfig};
use super::interp::BilinearStencil;
use crate::{OperatorError, Result};
use candle_core::{DType, Device, Tensor};
use nabla_core::geometry::Domain;
use nabla_nn::{Fno, FnoConfig, Model, ParamStore};
use std::path::Path;

/// The task name WoS-NO checkpoints describe themselves with.
pub const TASK: &str = "wosno";

/// Which operator a WoS-NO run trained.
// One value per run, never in a collection: the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
pub enum WosNoOperator {
    /// `model.kind = "fno"`: u on the embedding grid.
    Grid(Fno),
    /// `model.kind = "gino"`: u at query points.
    Points(PointOperator),
}

/// A WoS-NO run's operator with its parameters; checkpoints written from it carry the run's
/// config, so [`WosNoNet::load`] rebuilds it from the checkpoint alone.
pub struct WosNoNet {
    /// The network.
    pub operator: WosNoOperator,
    params: ParamStore,
}

impl Model for WosNoNet {
    fn params(&self) -> &ParamStore {
        &self.params
    }
}

/// u (and, for a point-query operator, ∇u and Δu) at query points of one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct PointValues {
    /// u at each point.
    pub u: Vec<f64>,
    /// (∂u/∂x, ∂u/∂y) at each point (`None` for a grid operator, whose bilinear
    /// interpolation has no second derivatives worth reporting).
    pub gradient: Option<Vec<[f64; 2]>>,
    /// Δu at each point (`None` for a grid operator).
    pub laplacian: Option<Vec<f64>>,
}

/// The operator of a config: an FNO with 3 input channels (f, φ, g) plus the grid
/// coordinates and one output, or (`kind = "gino"`) the same FNO to `latent_channels`
/// features with the point decoder. Its checkpoints describe themselves (task `wosno` and the
/// resolved config).
pub fn build_model(config: &WosNoConfig) -> Result<WosNoNet> {
    let device = nabla_core::device::open_device(&config.device)
        .map_err(|e| OperatorError::config("device", e.to_string()))?;
    let m = &config.model;
    let gino = m.kind == OperatorKind::Gino;
    let c = FnoConfig {
        in_channels: CHANNELS,
        out_channels: if gino { m.latent_channels } else { 1 },
        modes: vec![m.modes, m.modes],
        width: m.width,
        layers: m.layers,
        projection: m.projection,
        grid_channels: true,
        padding: m.padding,
        precision: m.precision,
        seed: m.seed.unwrap_or(config.train.seed),
    };
    let err = |e| match e {
        nabla_nn::NnError::Invalid { what, reason } => {
            OperatorError::config(&format!("model.{what}"), reason)
        }
        other => OperatorError::Nn(other),
    };
    let operator = if gino {
        let pc = PointOperatorConfig {
            fno: c,
            decoder_hidden: m.decoder_hidden.clone(),
            decoder_activation: m.decoder_activation,
            interpolation: m.decoder_interpolation,
            grid: EmbeddingGrid {
                n: config.grid.points,
                half_width: config.grid.half_width,
            },
        };
        WosNoOperator::Points(PointOperator::new(&pc, &device).map_err(err)?)
    } else {
        WosNoOperator::Grid(Fno::new(&c, &device).map_err(err)?)
    };
    let mut params = match &operator {
        WosNoOperator::Grid(m) => m.params().clone(),
        WosNoOperator::Points(m) => m.params().clone(),
    };
    let resolved = nabla_core::config::to_toml(config).map_err(|e| {
        OperatorError::config("(top level)", format!("cannot be written as TOML: {e}"))
    })?;
    for (key, value) in nabla_nn::run_dir::self_description(TASK, &resolved) {
        params.set_metadata(key, value);
    }
    Ok(WosNoNet { operator, params })
}

impl WosNoNet {
    /// Loads a trained WoS-NO operator from a run directory or checkpoint file: the config
    /// from the checkpoint's self-description (or the run's `config.toml` for older
    /// checkpoints), the weights from the checkpoint. `device` overrides the training device.
    pub fn load(path: &Path, device: Option<&str>) -> Result<(WosNoConfig, WosNoNet)> {
        let description = nabla_nn::run_dir::describe(path)?;
        let mut config: WosNoConfig = description.config(TASK)?;
        if let Some(d) = device {
            config.device = d.to_string();
        }
        config.validate()?;
        let net = build_model(&config)?;
        let (_, device) = model_kind(&net);
        net.params.load(&description.checkpoint, &device)?;
        Ok((config, net))
    }

    /// The embedding (latent) grid of a model built from `config`.
    pub fn grid(config: &WosNoConfig) -> EmbeddingGrid {
        EmbeddingGrid {
            n: config.grid.points,
            half_width: config.grid.half_width,
        }
    }

    /// u at `points` of `instance` (and ∇u, Δu for a point-query operator): the instance's
    /// features on the grid of `config`, the operator, then the decoder at the points (a grid
    /// operator's output interpolated bilinearly). Points outside Ω get the operator's
    /// extension (check with the instance's domain); points outside the embedding box are
    /// refused.
    pub fn evaluate(
        &self,
        config: &WosNoConfig,
        instance: &StarPoisson,
        points: &[[f64; 2]],
    ) -> Result<PointValues> {
        let grid = Self::grid(config);
        if let Some(p) = points.iter().find(|p| {
            !p.iter()
                .all(|v| v.is_finite() && v.abs() <= grid.half_width)
        }) {
            return Err(OperatorError::config(
                "points",
                format!(
                    "({}, {}) lies outside the operator's box [−{L}, {L}]²",
                    p[0],
                    p[1],
                    L = grid.half_width
                ),
            ));
        }
        let domain = instance.domain()?;
        let features = grid_features(instance, &domain, &grid);
        let x = input_tensor(&[&features], grid.n, self)?;
        let to_f64 = |t: Tensor| -> Result<Vec<f64>> {
            Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
        };
        match &self.operator {
            WosNoOperator::Grid(fno) => {
                let u = fno.forward(&x)?.detach().flatten_all()?;
                let mut st = BilinearStencil::new();
                for p in points {
                    st.push(&grid, 0, p);
                }
                Ok(PointValues {
                    u: to_f64(st.apply(&u)?)?,
                    gradient: None,
                    laplacian: None,
                })
            }
            WosNoOperator::Points(op) => {
                let latent = op.latent(&x)?.detach();
                let mut u = Vec::with_capacity(points.len());
                let mut gradient = Vec::with_capacity(points.len());
                let mut laplacian = Vec::with_capacity(points.len());
                for chunk in points.chunks(8192) {
                    let mut st = op.stencil();
                    for p in chunk {
                        st.push(&grid, 0, p);
                    }
                    let jet = op.jet(&latent, &st)?;
                    u.extend(to_f64(jet.value)?);
                    let g = to_f64(jet.gradient)?;
                    gradient.extend(g.chunks(2).map(|g| [g[0], g[1]]));
                    laplacian.extend(to_f64(jet.laplacian)?);
                }
                Ok(PointValues {
                    u,
                    gradient: Some(gradient),
                    laplacian: Some(laplacian),
                })
            }
        }
    }

    /// [`WosNoNet::evaluate`] at the points of a CSV file with columns `x`, `y` (any order,
    /// other columns echoed), written atomically to `out` as the input columns plus `u`,
    /// `inside` (1 inside Ω, else 0) and, for a point-query operator, `du_dx`, `du_dy`,
    /// `laplacian`, `f` and `residual` = Δu − f (the PDE's own check of the prediction).
    /// Returns the number of points. What `nabla eval RUN --points … --instance …` does.
    pub fn predict_csv(
        &self,
        config: &WosNoConfig,
        instance: &StarPoisson,
        points: &Path,
        out: &Path,
    ) -> Result<usize> {
        let grid = Self::grid(config);
        if instance.max_radius() > grid.half_width {
            return Err(OperatorError::Input(format!(
                "the instance's domain reaches radius {:.3}, outside the operator's box [−{L}, {L}]²",
                instance.max_radius(),
                L = grid.half_width
            )));
        }
        let names = ["x".to_string(), "y".to_string()];
        let table = nabla_core::points::read_point_table(points, &names)
            .map_err(|e| OperatorError::Input(e.to_string()))?;
        let pts: Vec<[f64; 2]> = table.points.chunks(2).map(|p| [p[0], p[1]]).collect();
        let values = self.evaluate(config, instance, &pts)?;
        let inside = Self::inside(instance, &pts)?;
        let mut text = String::with_capacity(pts.len() * 96);
        text.push_str(&table.columns.join(","));
        let derivatives = values.gradient.is_some();
        text.push_str(if derivatives {
            ",u,du_dx,du_dy,laplacian,f,residual,inside\n"
        } else {
            ",u,inside\n"
        });
        for (k, row) in table.rows.iter().enumerate() {
            text.push_str(&format!("{row},{:e}", values.u[k]));
            if let (Some(g), Some(l)) = (&values.gradient, &values.laplacian) {
                let f = instance.source(&pts[k]);
                text.push_str(&format!(
                    ",{:e},{:e},{:e},{f:e},{:e}",
                    g[k][0],
                    g[k][1],
                    l[k],
                    l[k] - f
                ));
            }
            text.push_str(if inside[k] { ",1\n" } else { ",0\n" });
        }
        nabla_core::atomic::write_atomic(out, |w| std::io::Write::write_all(w, text.as_bytes()))
            .map_err(|e| OperatorError::Input(format!("{}: {e}", out.display())))?;
        Ok(pts.len())
    }

    /// Whether each point lies inside the instance's domain.
    pub fn inside(instance: &StarPoisson, points: &[[f64; 2]]) -> Result<Vec<bool>> {
        let domain = instance.domain()?;
        Ok(points.iter().map(|p| domain.contains(p)).collect())
    }
}

/// The network input `[B, n, n, CHANNELS]` of these instances' features.
pub(crate) fn input_tensor(
    features: &[&GridFeatures],
    n: usize,
    model: &WosNoNet,
) -> Result<Tensor> {
    let (dtype, device) = model_kind(model);
    let mut v = Vec::with_capacity(features.len() * n * n * CHANNELS);
    for f in features {
        v.extend_from_slice(&f.values);
    }
    Ok(Tensor::from_vec(v, (features.len(), n, n, CHANNELS), &device)?.to_dtype(dtype)?)
}

/// The parameters' dtype and device.
pub(crate) fn model_kind(model: &WosNoNet) -> (DType, Device) {
    model
        .params()
        .trainable()
        .first()
        .map(|(_, v)| (v.dtype(), v.device().clone()))
        .unwrap_or((DType::F32, Device::Cpu))
}

/// The model's values at the embedding-grid nodes `[T, n, n]` for instances with these
/// features, in chunks (a point-query operator is evaluated at the node coordinates).
pub fn predict(model: &WosNoNet, features: &[GridFeatures], n: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(features.len() * n * n);
    for chunk in features.chunks(25) {
        let refs: Vec<&GridFeatures> = chunk.iter().collect();
        let x = input_tensor(&refs, n, model)?;
        let y = match &model.operator {
            WosNoOperator::Grid(fno) => fno.forward(&x)?.detach(),
            WosNoOperator::Points(op) => {
                let grid = op.grid();
                let mut st = op.stencil();
                for k in 0..chunk.len() {
                    for i in 0..n {
                        for j in 0..n {
                            st.push(&grid, k, &grid.node(i, j));
                        }
                    }
                }
                let latent = op.latent(&x)?;
                op.values(&latent, &st)?.detach()
            }
        };
        out.extend(y.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}
