//! dense_forward(x[N,D], w[D,U], b[U] | None, activation, alpha) -> y[N,U]
//! dense_backward(x, w, y, dy, activation, alpha, need_dx) -> (dx | None, dw, db)

use super::activations::same_shape;
use super::util::{empty, slice, try_empty};
use crate::error::KernelError;
use crate::kernels::activations::Act;
use crate::kernels::dense;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// (N, D, U) from x[N,D] and w[D,U], or a ValueError naming both shapes.
fn dims(x: &[usize], w: &[usize]) -> PyResult<(usize, usize, usize)> {
    if x.len() != 2 || w.len() != 2 || x[1] != w[0] {
        return Err(KernelError::Shape(format!(
            "dense: x must be [N, D] and kernel [D, U] with the same D; got x {x:?} and kernel {w:?}"
        ))
        .into());
    }
    Ok((x[0], x[1], w[1]))
}

#[pyfunction]
#[pyo3(signature = (x, w, b, activation="linear", alpha=0.0))]
fn dense_forward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    b: Option<PyReadonlyArrayDyn<'py, f32>>,
    activation: &str,
    alpha: f32,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let act = Act::parse(activation, alpha)?;
    let (n, d, u) = dims(x.shape(), w.shape())?;
    if let Some(b) = &b {
        same_shape("dense", "bias", b.shape(), "[U] from kernel", &[u])?;
    }
    let out = try_empty(py, &[n, u])?;
    {
        let (xs, ws) = (slice("x", &x)?, slice("kernel", &w)?);
        let bs = match &b {
            Some(b) => Some(slice("bias", b)?),
            None => None,
        };
        let mut wr = out.readwrite();
        let y = wr.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| dense::dense_forward(xs, ws, bs, y, n, d, u, act))?;
    }
    Ok(out)
}

type Grads<'py> = (Option<Bound<'py, PyArrayDyn<f32>>>, Bound<'py, PyArrayDyn<f32>>, Bound<'py, PyArrayDyn<f32>>);

#[pyfunction]
#[pyo3(signature = (x, w, y, dy, activation="linear", alpha=0.0, need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn dense_backward<'py>(
    py: Python<'py>,
    x: PyReadonlyArrayDyn<'py, f32>,
    w: PyReadonlyArrayDyn<'py, f32>,
    y: PyReadonlyArrayDyn<'py, f32>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    activation: &str,
    alpha: f32,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let act = Act::parse(activation, alpha)?;
    let (n, d, u) = dims(x.shape(), w.shape())?;
    same_shape("dense_backward", "y", y.shape(), "[N, U]", &[n, u])?;
    same_shape("dense_backward", "dy", dy.shape(), "[N, U]", &[n, u])?;
    let dx = if need_dx { Some(empty(py, &[n, d])) } else { None };
    let dw = empty(py, &[d, u]);
    let db = empty(py, &[u]);
    {
        let (xs, ws, ys, gs) = (slice("x", &x)?, slice("kernel", &w)?, slice("y", &y)?, slice("dy", &dy)?);
        let mut dx_w = dx.as_ref().map(|a| a.readwrite());
        let dx_s = dx_w.as_mut().map(|a| a.as_slice_mut().expect("fresh array is contiguous"));
        let (mut dw_w, mut db_w) = (dw.readwrite(), db.readwrite());
        let dw_s = dw_w.as_slice_mut().expect("fresh array is contiguous");
        let db_s = db_w.as_slice_mut().expect("fresh array is contiguous");
        py.detach(|| dense::dense_backward(xs, ws, ys, gs, dx_s, dw_s, db_s, n, d, u, act))?;
    }
    Ok((dx, dw, db))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dense_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    Ok(())
}
