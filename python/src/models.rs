//! `nabla.load` (trained PINNs, neural operators and DCDM networks as Python objects) and
//! `nabla.train` (a run config into a run directory, stoppable by Ctrl-C with a checkpoint).

use crate::convert::{c_order, to_numpy};
use crate::errors::{nabla_error, value_error};
use crate::interrupt::run_interruptible;
use nabla::ndarray::{ArrayView2, ArrayViewD, IxDyn};
use nabla::nn::Outcome;
use nabla::run::{LoadedModel, TrainOptions};
use numpy::{AllowTypeChange, PyArrayDyn, PyArrayLikeDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Checks that `points` is 2-D (else a `ValueError` naming the coordinates expected).
fn check_2d(points: &PyArrayLikeDyn<'_, f64, AllowTypeChange>, names: &[String]) -> PyResult<()> {
    if points.ndim() != 2 {
        return Err(value_error(format!(
            "points must be a 2-D array [n, {}] ({}); got shape {:?}",
            names.len(),
            names.join(", "),
            points.shape()
        )));
    }
    Ok(())
}

/// Runs `f` on `points` as nabla's 2-D view, without the GIL.
fn with_points<T: Send>(
    py: Python<'_>,
    points: &PyArrayLikeDyn<'_, f64, AllowTypeChange>,
    names: &[String],
    f: impl FnOnce(ArrayView2<'_, f64>) -> T + Send,
) -> PyResult<T> {
    check_2d(points, names)?;
    let data = c_order(points);
    let shape = (points.shape()[0], points.shape()[1]);
    let view = ArrayView2::from_shape(shape, &data).map_err(|e| value_error(e.to_string()))?;
    Ok(py.detach(|| f(view)))
}

/// A trained physics-informed network: u, ∇u and Δu at points `[n, d]` (float64), exact
/// derivatives of the network (Taylor-mode jets).
#[pyclass(frozen, name = "Pinn", module = "nabla")]
pub struct PyPinn {
    inner: nabla::pinn::Pinn,
    path: String,
}

#[pymethods]
impl PyPinn {
    /// u at `points` [n, d] → [n].
    fn u<'py>(
        &self,
        py: Python<'py>,
        points: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let names = self.inner.coordinate_names();
        let u = with_points(py, &points, &names, |v| self.inner.u(v))?.map_err(nabla_error)?;
        to_numpy(py, u)
    }

    /// ∇u at `points` [n, d] → [n, d] (∂u/∂t last for time-dependent problems).
    fn grad<'py>(
        &self,
        py: Python<'py>,
        points: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let names = self.inner.coordinate_names();
        let g = with_points(py, &points, &names, |v| self.inner.grad(v))?.map_err(nabla_error)?;
        to_numpy(py, g)
    }

    /// The spatial Laplacian Δu at `points` [n, d] → [n].
    fn laplacian<'py>(
        &self,
        py: Python<'py>,
        points: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let names = self.inner.coordinate_names();
        let l =
            with_points(py, &points, &names, |v| self.inner.laplacian(v))?.map_err(nabla_error)?;
        to_numpy(py, l)
    }

    /// u, ∇u and Δu in one pass: a dict with keys "u", "grad", "laplacian".
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        points: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let names = self.inner.coordinate_names();
        let v =
            with_points(py, &points, &names, |v| self.inner.evaluate(v))?.map_err(nabla_error)?;
        let d = PyDict::new(py);
        d.set_item("u", to_numpy(py, v.u)?)?;
        d.set_item("grad", to_numpy(py, v.grad)?)?;
        d.set_item("laplacian", to_numpy(py, v.laplacian)?)?;
        Ok(d)
    }

    /// The input coordinates in column order (x, y[, z][, t]).
    #[getter]
    fn coordinate_names(&self) -> Vec<String> {
        self.inner.coordinate_names()
    }

    /// Number of input coordinates.
    #[getter]
    fn input_dim(&self) -> usize {
        self.inner.input_dim()
    }

    /// The run directory or checkpoint it was loaded from.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    fn __repr__(&self) -> String {
        format!(
            "nabla.Pinn('{}', inputs=({}))",
            self.path,
            self.inner.coordinate_names().join(", ")
        )
    }
}

/// A trained neural operator (FNO, DeepONet or LSM): predictions for inputs on uniform grids over
/// [0, 1]^d, `[batch, n1(, n2)]` in and out.
#[pyclass(frozen, name = "Operator", module = "nabla")]
pub struct PyOperator {
    inner: nabla::operator::Operator,
    path: String,
}

#[pymethods]
impl PyOperator {
    /// Predictions for `inputs` [batch, n1(, n2)] (any grid down to `min_grid`).
    fn predict<'py>(
        &self,
        py: Python<'py>,
        inputs: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let data = c_order(&inputs);
        let view = ArrayViewD::from_shape(IxDyn(inputs.shape()), &data)
            .map_err(|e| value_error(e.to_string()))?;
        let out = py
            .detach(|| self.inner.predict(view).map_err(|e| e.to_string()))
            .map_err(nabla_error)?;
        to_numpy(py, out)
    }

    /// "fno" or "deeponet".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// Grid points per axis of the training data.
    #[getter]
    fn train_grid(&self) -> PyResult<Vec<usize>> {
        self.inner.train_grid().map_err(nabla_error)
    }

    /// The smallest grid (points per axis) it evaluates on.
    #[getter]
    fn min_grid(&self) -> PyResult<Vec<usize>> {
        self.inner.min_grid().map_err(nabla_error)
    }

    /// The run directory or checkpoint it was loaded from.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    fn __repr__(&self) -> String {
        format!(
            "nabla.Operator('{}', kind='{}')",
            self.path,
            self.inner.kind()
        )
    }
}

/// A trained DCDM network: pass it as `model=` to `nabla.solve(..., solver="dcdm", grid=...)`.
#[pyclass(frozen, name = "DcdmModel", module = "nabla")]
pub struct PyDcdmModel {
    pub inner: Arc<nabla::dcdm::DcdmModel>,
    path: String,
}

#[pymethods]
impl PyDcdmModel {
    /// Grid dimension (2 or 3).
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// The grid it was trained on.
    #[getter]
    fn train_grid(&self) -> Vec<usize> {
        self.inner.train_grid().to_vec()
    }

    /// The run directory or checkpoint it was loaded from.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    fn __repr__(&self) -> String {
        format!("nabla.DcdmModel('{}', dim={})", self.path, self.inner.dim())
    }
}

/// `nabla.load(path)`: the model of a run directory or checkpoint file: `Pinn`, `Operator` or
/// `DcdmModel`.
#[pyfunction]
pub fn load(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    let label = path.display().to_string();
    let model = py
        .detach(|| nabla::run::load(&path).map_err(|e| e.to_string()))
        .map_err(nabla_error)?;
    Ok(match model {
        LoadedModel::Pinn(p) => Py::new(
            py,
            PyPinn {
                inner: *p,
                path: label,
            },
        )?
        .into_any(),
        LoadedModel::Operator(o) => Py::new(
            py,
            PyOperator {
                inner: *o,
                path: label,
            },
        )?
        .into_any(),
        LoadedModel::Dcdm(d) => Py::new(
            py,
            PyDcdmModel {
                inner: Arc::from(d),
                path: label,
            },
        )?
        .into_any(),
    })
}

/// The native half of `nabla.train`: trains `config` with `overrides` (`section.key=value`
/// strings) into `out` (default `runs/<config stem>`, as `nabla train`) and returns it.
#[pyfunction]
#[pyo3(signature = (config, overrides=Vec::new(), out=None, resume=false))]
pub fn train(
    py: Python<'_>,
    config: PathBuf,
    overrides: Vec<String>,
    out: Option<PathBuf>,
    resume: bool,
) -> PyResult<String> {
    let out = out.unwrap_or_else(|| {
        let stem = config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        PathBuf::from("runs").join(stem)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let options = TrainOptions {
        resume,
        stop: Some(stop.clone()),
        config_source: None,
    };
    let (config_ref, overrides_ref, out_ref, options_ref) = (&config, &overrides, &out, &options);
    let finished = run_interruptible(py, &stop, move || {
        nabla::run::train(config_ref, overrides_ref, out_ref, options_ref)
            .map(|(_, run)| run.outcome())
            .map_err(|e| e.to_string())
    })?;
    let outcome = finished.value.map_err(nabla_error);
    match (outcome, finished.interrupt) {
        (Ok(Outcome::Stopped), _) => Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(format!(
            "training stopped by Ctrl-C (checkpoint kept); continue with \
                 nabla.train({:?}, out={:?}, resume=True)",
            config.display().to_string(),
            out.display().to_string()
        ))),
        // Finished (or failed) before it saw the stop flag: the interrupt as Python raised it.
        (_, Some(interrupt)) => Err(interrupt),
        (Err(e), None) => Err(e),
        (Ok(_), None) => Ok(out.display().to_string()),
    }
}
