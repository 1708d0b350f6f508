//! activation_forward(x, name, alpha) -> y ; activation_backward(x, y, dy, name, alpha) -> dx
//! (any shape; softmax over the last axis). Also the small helpers the other elem bindings share.

use super::util::{empty, slice};
use crate::error::KernelError;
use crate::kernels::activations::{self as k, Act};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// ValueError unless `got` equals `want`, naming both shapes.
pub(super) fn same_shape(what: &str, name: &str, got: &[usize], want_name: &str, want: &[usize]) -> PyResult<()> {
    if got == want {
        Ok(())
    } else {
        Err(KernelError::Shape(format!(
            "{what}: {name} has shape {got:?} but {want_name} has shape {want:?}; they must match"
        ))
        .into())
    }
}

#[pyfunction]
#[pyo3(signature = (x, name, alpha=0.0))]
fn activation_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    name: &str,
    alpha: f32,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let act = Act::parse(name, alpha)?;
    let last = x.shape().last().copied().unwrap_or(1);
    let out = empty(py, x.shape());
    {
        let xs = slice("x", &x)?;
        let mut w = out.readwrite();
        let y = w.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| k::activation_forward(act, xs, y, last))?;
    }
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (x, y, dy, name, alpha=0.0))]
fn activation_backward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    y: PyReadonlyArrayDyn<'py, f32>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    name: &str,
    alpha: f32,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let act = Act::parse(name, alpha)?;
    same_shape("activation_backward", "y", y.shape(), "x", x.shape())?;
    same_shape("activation_backward", "dy", dy.shape(), "x", x.shape())?;
    let last = x.shape().last().copied().unwrap_or(1);
    let out = empty(py, x.shape());
    {
        let (xs, ys, gs) = (slice("x", &x)?, slice("y", &y)?, slice("dy", &dy)?);
        let mut w = out.readwrite();
        let dx = w.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| k::activation_backward(act, xs, ys, gs, dx, last))?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(activation_forward, m)?)?;
    m.add_function(wrap_pyfunction!(activation_backward, m)?)?;
    Ok(())
}
