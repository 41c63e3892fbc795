//! The native part of the Python module `nabla` (`nabla._native`), built by maturin. The
//! Python package (`python/nabla/__init__.py`) wraps it: scipy conversion, keyword defaults,
//! documentation. One job per module:
//!
//! - [`solve`]: `solve_csr`, `poisson_grid_csr` (nabla-sparse);
//! - [`wos`]: Walk-on-Spheres with expression or callable fields (nabla-wos);
//! - [`models`]: `load` (PINN, operator, DCDM) and `train` (nabla::run);
//! - [`interrupt`]: work without the GIL on a worker thread, Ctrl-C polling;
//! - [`errors`]: `NablaError`; [`convert`]: JSON reports as dicts.

mod convert;
mod errors;
mod interrupt;
mod models;
mod solve;
mod wos;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NablaError", m.py().get_type::<errors::NablaError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(solve::solve_csr, m)?)?;
    m.add_function(wrap_pyfunction!(solve::poisson_grid_csr, m)?)?;
    m.add_function(wrap_pyfunction!(wos::wos, m)?)?;
    m.add_function(wrap_pyfunction!(models::load, m)?)?;
    m.add_function(wrap_pyfunction!(models::train, m)?)?;
    m.add_class::<models::PyPinn>()?;
    m.add_class::<models::PyOperator>()?;
    m.add_class::<models::PyDcdmModel>()?;
    Ok(())
}
