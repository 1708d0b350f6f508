//! dropout_forward(x, rate, seed) -> (y, mask) ; dropout_backward(dy, mask) -> dx

use super::activations::same_shape;
use super::util::{empty, slice};
use crate::kernels::dropout;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

type Arr<'py> = Bound<'py, PyArrayDyn<f32>>;

/// `seed` is any Python int; only its low 64 bits matter (negative seeds are fine).
#[pyfunction]
fn dropout_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    rate: f64,
    seed: &Bound<'py, PyAny>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    // Python's `seed & (2**64 - 1)`: any int (negative, or wider than 64 bits) keeps its low bits.
    if !seed.is_instance_of::<pyo3::types::PyInt>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "dropout: seed must be an int, got {}",
            seed.get_type().name()?
        )));
    }
    let seed: u64 = seed.call_method1("__and__", (u64::MAX,))?.extract()?;
    let (y, mask) = (empty(py, x.shape()), empty(py, x.shape())); // written in full
    {
        let xs = slice("x", &x)?;
        let (mut yw, mut mw) = (y.readwrite(), mask.readwrite());
        let (ys, ms) = (yw.as_slice_mut().unwrap(), mw.as_slice_mut().unwrap());
        py.detach(|| dropout::dropout_forward(xs, rate, seed, ys, ms))?;
    }
    Ok((y, mask))
}

#[pyfunction]
fn dropout_backward<'py>(
    py: Python<'py>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    mask: PyReadonlyArrayDyn<'py, f32>,
) -> PyResult<Arr<'py>> {
    same_shape("dropout_backward", "mask", mask.shape(), "dy", dy.shape())?;
    let dx = empty(py, dy.shape()); // written in full
    {
        let (gs, ms) = (slice("dy", &dy)?, slice("mask", &mask)?);
        let mut w = dx.readwrite();
        let dxs = w.as_slice_mut().unwrap();
        py.detach(|| dropout::dropout_backward(gs, ms, dxs))?;
    }
    Ok(dx)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dropout_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dropout_backward, m)?)?;
    Ok(())
}
