//! KernelError -> Python exception, in one place.

use crate::error::KernelError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

impl From<KernelError> for PyErr {
    fn from(e: KernelError) -> PyErr {
        match e {
            KernelError::Shape(m) | KernelError::Value(m) => PyValueError::new_err(m),
        }
    }
}
