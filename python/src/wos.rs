//! `nabla.wos`: Walk-on-Spheres estimates at points, with boundary values and sources given as
//! nabla expressions (evaluated in Rust) or Python callables (each evaluation takes the GIL).

use crate::errors::{nabla_error, value_error};
use crate::interrupt::run_interruptible;
use crate::solve::{in_pool, thread_pool};
use nabla::core::field::{Expr, ScalarField};
use nabla::core::geometry::parse_domain;
use nabla::core::points::{first_non_finite, ProbeSample};
use nabla::wos::{PointEstimate, Unfinished, WosError, WosOptions, WosProblem, WosSolver};
use numpy::{AllowTypeChange, IntoPyArray, PyArray1, PyArrayLikeDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Most walks per point accepted (as `nabla wos --walks`).
const MAX_WALKS: usize = 1_000_000_000;

/// A Python callable `f(x, y[, z]) -> float` as a field. Evaluations from the walk threads
/// take the GIL one at a time. The first exception is kept (and raised after the run); it,
/// like Ctrl-C, raises `stop`, after which evaluations return NaN without calling Python.
struct PyField {
    f: Py<PyAny>,
    stop: Arc<AtomicBool>,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl ScalarField for PyField {
    fn eval(&self, x: &[f64]) -> f64 {
        if self.stop.load(Ordering::Relaxed) {
            return f64::NAN;
        }
        Python::attach(|py| {
            let value = PyTuple::new(py, x)
                .and_then(|args| self.f.bind(py).call1(args))
                .and_then(|v| v.extract::<f64>());
            match value {
                Ok(v) => v,
                Err(e) => {
                    self.stop.store(true, Ordering::SeqCst);
                    let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.is_none() {
                        *slot = Some(e);
                    }
                    f64::NAN
                }
            }
        })
    }
}

/// A field argument: an expression (string or number) or a callable.
enum FieldArg {
    Expr(String, Expr),
    Callable(String, Py<PyAny>),
}

impl FieldArg {
    fn extract(obj: &Bound<'_, PyAny>, what: &str, dim: usize) -> PyResult<Self> {
        if obj.is_callable() {
            let name = obj
                .getattr("__name__")
                .and_then(|n| n.extract::<String>())
                .unwrap_or_else(|_| "callable".into());
            return Ok(Self::Callable(name, obj.clone().unbind()));
        }
        let text = if let Ok(s) = obj.extract::<String>() {
            s
        } else if let Ok(v) = obj.extract::<f64>() {
            format!("{v:e}")
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{what} must be an expression string (e.g. 'x*y'), a number, or a callable \
                 f(x, y[, z]) -> float"
            )));
        };
        let e: Expr = text
            .parse()
            .map_err(|e| value_error(format!("{what}: {e}")))?;
        if e.min_dim() > dim {
            return Err(value_error(format!(
                "{what} '{text}' uses {} but the domain is {dim}-D",
                if e.min_dim() == 3 { "z" } else { "y or theta" }
            )));
        }
        Ok(Self::Expr(text, e))
    }

    fn label(&self) -> String {
        match self {
            Self::Expr(text, _) => format!("'{text}'"),
            Self::Callable(name, _) => format!("callable {name}"),
        }
    }

    fn field(
        &self,
        py: Python<'_>,
        stop: &Arc<AtomicBool>,
        error: &Arc<Mutex<Option<PyErr>>>,
    ) -> Arc<dyn ScalarField> {
        match self {
            Self::Expr(_, e) => Arc::new(e.clone()),
            Self::Callable(_, f) => Arc::new(PyField {
                f: f.clone_ref(py),
                stop: stop.clone(),
                error: error.clone(),
            }),
        }
    }
}

/// The first exception a callable raised, if any.
fn take_error(error: &Arc<Mutex<Option<PyErr>>>) -> Option<PyErr> {
    error.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The native half of `nabla.wos`: estimates of u at `points` ([n, d]) for Δu − σu = f in the
/// domain, u = g on its boundary; returns (values, standard errors).
#[pyfunction]
#[pyo3(signature = (
    domain, points, boundary, *, source=None, sigma=0.0, walks=128, epsilon=1e-3,
    max_steps=1024, seed=0, unfinished="stop", control_variates=false, threads=None
))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn wos<'py>(
    py: Python<'py>,
    domain: &str,
    points: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    boundary: &Bound<'py, PyAny>,
    source: Option<&Bound<'py, PyAny>>,
    sigma: f64,
    walks: usize,
    epsilon: f64,
    max_steps: usize,
    seed: u64,
    unfinished: &str,
    control_variates: bool,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    if walks == 0 {
        return Err(value_error("walks must be at least 1"));
    }
    if walks > MAX_WALKS {
        return Err(value_error(format!(
            "walks={walks}: at most {MAX_WALKS} walks per point (the standard error falls like \
             1/√walks; more is days of work per point)"
        )));
    }
    let unfinished = match unfinished {
        "stop" => Unfinished::ClosestBoundary,
        "discard" => Unfinished::Discard,
        other => {
            return Err(value_error(format!(
                "unfinished must be 'stop' or 'discard', got '{other}'"
            )))
        }
    };
    let domain = parse_domain(domain).map_err(nabla_error)?;
    let d = domain.dim();
    if points.ndim() != 2 {
        return Err(value_error(format!(
            "points must be a 2-D array [n, {d}]; got shape {:?}",
            points.shape()
        )));
    }
    if points.shape()[1] != d {
        return Err(nabla_error(WosError::DimensionMismatch(format!(
            "points have {} columns, the domain is {d}-D",
            points.shape()[1]
        ))));
    }
    let pts = crate::convert::c_order(&points);
    let boundary = FieldArg::extract(boundary, "boundary", d)?;
    let source = source
        .map(|s| FieldArg::extract(s, "source", d))
        .transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let error = Arc::new(Mutex::new(None));
    let g = boundary.field(py, &stop, &error);
    let f = source.as_ref().map(|s| s.field(py, &stop, &error));

    // A field that is not finite somewhere gives NaN estimates after a long run, not an
    // error: probe both first (as `nabla wos` does), callables included.
    let probe = ProbeSample::new(domain.as_ref());
    let mut checks = vec![("boundary", &boundary, &g, &probe.boundary)];
    if let (Some(s), Some(f)) = (&source, &f) {
        checks.push(("source", s, f, &probe.interior));
    }
    for (what, arg, field, sample) in checks {
        let bad = first_non_finite(sample, d, |p| field.eval(p));
        if let Some(e) = take_error(&error) {
            return Err(e);
        }
        if let Some(bad) = bad {
            return Err(value_error(format!(
                "{what} {} {bad}; it must be finite on the domain",
                arg.label()
            )));
        }
    }

    let mut problem = WosProblem::laplace(domain, g)
        .with_screening(sigma)
        .map_err(nabla_error)?;
    if let Some(f) = f {
        let zero = matches!(&source, Some(FieldArg::Expr(_, e)) if e.as_constant() == Some(0.0));
        if !zero {
            problem = problem.with_source(f);
        }
    }
    let opts = WosOptions {
        walks,
        epsilon,
        max_steps,
        seed,
        unfinished,
        control_variates,
        ..Default::default()
    };
    let solver = WosSolver::new(problem, opts).map_err(nabla_error)?;
    for (index, x) in pts.chunks(d).enumerate() {
        if x.iter().any(|v| !v.is_finite()) || !solver.problem().domain().contains(x) {
            return Err(nabla_error(WosError::PointOutside {
                index,
                point: x.to_vec(),
            }));
        }
    }
    let pool = thread_pool(threads)?;
    let worker_stop = stop.clone();
    let (solver_ref, pts_ref): (&WosSolver, &[f64]) = (&solver, &pts);
    // Point by point (the streams of point i are those `WosSolver::solve` gives it, so the
    // numbers are the CLI's), checking the stop flag before each point.
    let finished = run_interruptible(py, &stop, move || {
        in_pool(pool.as_ref(), move || {
            pts_ref
                .par_chunks(d)
                .enumerate()
                .map(|(i, x)| {
                    if worker_stop.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    solver_ref.estimate(x, i as u64).map(Some)
                })
                .collect::<Result<Vec<Option<PointEstimate>>, WosError>>()
                .map_err(|e| e.to_string())
        })
    })?;
    if let Some(e) = take_error(&error) {
        return Err(e);
    }
    if let Some(interrupt) = finished.interrupt {
        return Err(match &finished.value {
            Ok(estimates) => pyo3::exceptions::PyKeyboardInterrupt::new_err(format!(
                "Walk-on-Spheres stopped by Ctrl-C after {} of {} points",
                estimates.iter().filter(|e| e.is_some()).count(),
                estimates.len()
            )),
            Err(_) => interrupt,
        });
    }
    let estimates = finished.value.map_err(nabla_error)?;
    let mut values = Vec::with_capacity(estimates.len());
    let mut stderrs = Vec::with_capacity(estimates.len());
    for (index, e) in estimates.into_iter().enumerate() {
        let e = e.ok_or_else(|| nabla_error("Walk-on-Spheres stopped before every point"))?;
        if !e.value.is_finite() {
            return Err(nabla_error(WosError::NonFinite {
                index,
                point: pts[index * d..(index + 1) * d].to_vec(),
            }));
        }
        values.push(e.value);
        stderrs.push(e.stderr);
    }
    Ok((values.into_pyarray(py), stderrs.into_pyarray(py)))
}
