//! JSON values (the reports) as Python objects, and Python override values as TOML text.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// A JSON value as the Python object `json.loads` would give.
pub fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The data of a numpy array in C order: borrowed when it is C-contiguous, else copied.
/// (numpy's own ndarray is another major version than nabla's, so arrays cross as slices.)
pub fn c_order<'a>(a: &'a numpy::PyReadonlyArrayDyn<'_, f64>) -> std::borrow::Cow<'a, [f64]> {
    use numpy::PyUntypedArrayMethods;
    // `as_slice` also accepts Fortran-contiguous arrays, whose slice is not in C order.
    match a.as_slice() {
        Ok(s) if a.is_c_contiguous() => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// An array of nabla's as a numpy array of the same shape, without copying its data when it is
/// in standard (C) layout.
pub fn to_numpy<'py, D: nabla::ndarray::Dimension>(
    py: Python<'py>,
    a: nabla::ndarray::Array<f64, D>,
) -> PyResult<Bound<'py, numpy::PyArrayDyn<f64>>> {
    use numpy::PyArrayMethods;
    let shape = a.shape().to_vec();
    let data = if a.is_standard_layout() {
        let (v, offset) = a.into_raw_vec_and_offset();
        match offset {
            Some(0) | None => v,
            Some(o) => v[o..].to_vec(),
        }
    } else {
        a.iter().copied().collect()
    };
    numpy::PyArray1::from_vec(py, data).reshape(shape)
}
