//! embedding_forward(ids[...] int64, table[V,E]) -> y[..., E]
//! embedding_backward(ids, dy[..., E], vocab_size) -> dtable[V,E]

use super::activations::same_shape;
use super::util::{c_slice, slice, try_zeros, zeros};
use crate::error::KernelError;
use crate::kernels::embedding;
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

fn ids_slice<'a>(ids: &'a PyReadonlyArrayDyn<'_, i64>) -> PyResult<&'a [i64]> {
    c_slice("ids", "int64", ids.is_c_contiguous(), ids.as_slice().ok())
}

#[pyfunction]
fn embedding_forward<'py>(
    py: Python<'py>,
    ids: PyReadonlyArrayDyn<'py, i64>,
    table: PyReadonlyArrayDyn<'py, f32>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let ts = table.shape();
    if ts.len() != 2 {
        return Err(KernelError::Shape(format!("embedding: table must be [V, E], got shape {ts:?}")).into());
    }
    let (v, e) = (ts[0], ts[1]);
    let mut shape = ids.shape().to_vec();
    shape.push(e);
    let y = zeros(py, &shape);
    {
        let (is, tb) = (ids_slice(&ids)?, slice("table", &table)?);
        let mut w = y.readwrite();
        let ys = w.as_slice_mut().unwrap();
        py.detach(|| embedding::embedding_forward(is, tb, v, e, ys))?;
    }
    Ok(y)
}

#[pyfunction]
fn embedding_backward<'py>(
    py: Python<'py>,
    ids: PyReadonlyArrayDyn<'py, i64>,
    dy: PyReadonlyArrayDyn<'py, f32>,
    vocab_size: usize,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let ds = dy.shape();
    let Some(&e) = ds.last() else {
        return Err(KernelError::Shape("embedding_backward: dy must be ids.shape + [E], got a scalar".into()).into());
    };
    same_shape("embedding_backward", "dy[..., :-1]", &ds[..ds.len() - 1], "ids", ids.shape())?;
    let dt = try_zeros(py, &[vocab_size, e])?;
    {
        let (is, gs) = (ids_slice(&ids)?, slice("dy", &dy)?);
        let mut w = dt.readwrite();
        let dts = w.as_slice_mut().unwrap();
        py.detach(|| embedding::embedding_backward(is, gs, vocab_size, e, dts))?;
    }
    Ok(dt)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(embedding_forward, m)?)?;
    m.add_function(wrap_pyfunction!(embedding_backward, m)?)?;
    Ok(())
}
