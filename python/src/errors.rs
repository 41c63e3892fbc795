//! How errors reach Python: every error of the nabla libraries becomes `nabla.NablaError` with
//! the library's one-line message (exactly what the CLI prints after `error: `); arguments the
//! binding itself refuses (a wrong type, shape or keyword value) raise `ValueError` or
//! `TypeError`; Ctrl-C raises `KeyboardInterrupt`.

use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    nabla,
    NablaError,
    PyException,
    "An error of the nabla libraries; the message is the one line the `nabla` CLI prints."
);

/// A library error (any `Display`), as `NablaError`.
pub fn nabla_error(e: impl std::fmt::Display) -> PyErr {
    NablaError::new_err(e.to_string())
}

/// An argument the binding refuses, as `ValueError`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// A panic of the worker thread (a bug in nabla), as `RuntimeError`.
pub fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    PyRuntimeError::new_err(format!(
        "internal error in nabla (please report it): {message}"
    ))
}
